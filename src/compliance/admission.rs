//! An Enforce Guardrail as CEL for a ValidatingAdmissionPolicy: what its rules can judge from
//! one object alone (instance types, images, execution and AWS roles, VpcOnly, auth modes,
//! required tags, idle bounds) is refused at `kubectl apply`, with the reconcile-time wording.
//! The reconcile check stays: admission sees neither a member's domain nor objects made before
//! the policy, and the API server reports only the first broken rule. Each check is a few
//! `has()` tests and a regex match per value set (role lists hold at most 5), well inside the API
//! server's cost limits for realistic allow lists.

use crate::api::{GuardrailRules, IdleShutdownRule};

/// One CEL check: an expression that must hold for the object, and the message when it does not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    /// CEL over `object` (and `request`), true when the object complies.
    pub expression: String,
    /// CEL string expression for the refusal.
    pub message_expression: String,
}

/// The app settings blocks with a default resource spec of a user's settings (as
/// `UserSettings::resource_specs` lists them), by API name, with the earlier short name a
/// manifest may use instead.
const USER_BLOCKS: [(&str, Option<&str>); 6] = [
    ("jupyterLabAppSettings", Some("jupyterLab")),
    ("kernelGatewayAppSettings", Some("kernelGateway")),
    ("codeEditorAppSettings", Some("codeEditor")),
    ("jupyterServerAppSettings", None),
    ("rSessionAppSettings", None),
    ("tensorBoardAppSettings", None),
];
/// The same for the domain's space defaults (`DefaultSpaceSettings::resource_specs`).
const DEFAULT_SPACE_BLOCKS: [(&str, Option<&str>); 3] = [
    ("jupyterLabAppSettings", Some("jupyterLab")),
    ("kernelGatewayAppSettings", Some("kernelGateway")),
    ("jupyterServerAppSettings", None),
];
/// A SharedSpace's own blocks (its settings have no short names).
const SPACE_BLOCKS: [&str; 4] = [
    "jupyterLabAppSettings",
    "kernelGatewayAppSettings",
    "codeEditorAppSettings",
    "jupyterServerAppSettings",
];
/// Where reconcile-time findings place a SharedSpace's shortcuts (`settings.defaultResourceSpec`,
/// `settings.idleTimeoutMinutes`): in the block of its app type. Text of a CEL string literal,
/// closed and reopened around the choice.
const SPACE_SHORTCUT_BLOCK: &str =
    "settings.' + (object.spec.appType == 'CodeEditor' ? 'codeEditorAppSettings' : 'jupyterLabAppSettings') + '";

/// The role fields of a space's defaults: the execution role and EMR's.
const SPACE_ROLES: [&str; 3] = [
    "executionRole",
    "jupyterLabAppSettings.emrSettings.assumableRoleArns",
    "jupyterLabAppSettings.emrSettings.executionRoleArns",
];
/// The role fields of a user's settings: a space's, and Canvas's (EMR Serverless, Bedrock, model
/// registry, Forecast).
const USER_ROLES: [&str; 7] = [
    SPACE_ROLES[0],
    SPACE_ROLES[1],
    SPACE_ROLES[2],
    "canvasAppSettings.emrServerlessSettings.executionRoleArn",
    "canvasAppSettings.generativeAiSettings.amazonBedrockRoleArn",
    "canvasAppSettings.modelRegisterSettings.crossAccountModelRegisterRoleArn",
    "canvasAppSettings.timeSeriesForecastingSettings.amazonForecastRoleArn",
];
/// Every role field the reconcile-time `allowedExecutionRoles` check reads (`rules::check_roles`:
/// members named `ExecutionRole`, `...RoleArn` or `...RoleArns`), by kind and settings under
/// `spec`. A space's own settings have none. A unit test holds this list to the CRD schemas.
const ROLE_FIELDS: [(&str, &str, &[&str]); 4] = [
    ("StudioDomain", "defaultUserSettings", &USER_ROLES),
    ("StudioDomain", "defaultSpaceSettings", &SPACE_ROLES),
    (
        "StudioDomain",
        "domainSettings",
        &["rStudioServerProDomainSettings.domainExecutionRoleArn"],
    ),
    ("UserProfile", "userSettings", &USER_ROLES),
];

/// The rule every idle timeout finding names.
const MAX_IDLE: &str = "idleShutdown.maxIdleTimeoutMinutes";
/// Where the idle timeouts of an app settings block are (`appLifecycleManagement`).
const IDLE_SETTINGS: &str = "appLifecycleManagement.idleSettings";

/// The reconcile-time wording of a finding, `rule: value (Guardrail name, Enforce)`, as CEL.
#[derive(Clone, Copy)]
struct Wording<'a>(&'a str);

impl Wording<'_> {
    /// The line for `value`, a CEL string expression.
    fn line(self, rule: &str, value: &str) -> String {
        format!("'{rule}: ' + {value} + ' (Guardrail {}, Enforce)'", self.0)
    }

    /// The line for a value set at `at` (text of a CEL string literal): `value (at)`.
    fn at(self, rule: &str, value: &str, at: &str) -> String {
        self.line(rule, &format!("{value} + ' ({at})'"))
    }
}

/// The checks for a Guardrail named `guardrail`; empty when no rule can be judged at admission.
pub fn checks(guardrail: &str, rules: &GuardrailRules) -> Vec<Check> {
    let wording = Wording(guardrail);
    let mut checks = resource_checks(rules, wording);
    if !rules.allowed_execution_roles.is_empty() {
        checks.extend(role_checks(&rules.allowed_execution_roles, wording));
    }
    if !rules.allowed_aws_roles.is_empty() {
        let path = "aws.roleArn";
        let value = object(path);
        let allowed = matches(&value, &glob_regex(&rules.allowed_aws_roles));
        // Every kind that assumes a role of its own (members use their domain's).
        checks.extend(
            ["StudioDomain", "StudioLifecycleConfig", "StudioImage"].map(|kind| Check {
                expression: when_set(kind, path, &allowed),
                message_expression: wording.at("allowedAwsRoles", &value, path),
            }),
        );
    }
    if !rules.allowed_backup_locations.is_empty() {
        let path = "spaceBackup.s3Uri";
        let value = object(path);
        let allowed = matches(&value, &glob_regex(&rules.allowed_backup_locations));
        checks.push(Check {
            expression: when_set("StudioDomain", path, &allowed),
            message_expression: wording.at("allowedBackupLocations", &value, path),
        });
    }
    checks.extend(domain_checks(rules, wording));
    if let Some(idle) = &rules.idle_shutdown {
        checks.extend(idle_checks(idle, wording));
    }
    if let Some(tags) = &rules.required_tags {
        for (kind, keys) in [
            ("StudioDomain", &tags.domain),
            ("UserProfile", &tags.user_profile),
            ("SharedSpace", &tags.shared_space),
        ] {
            checks.extend(keys.iter().map(|key| tag_check(kind, key, wording)));
        }
    }
    checks
}

/// A settings block with a default resource spec.
struct Block {
    kind: &'static str,
    /// Path under `spec`.
    path: String,
    /// Where reconcile-time findings place it (text of a CEL string literal).
    label: String,
    /// Whether its resource spec has the earlier field names (`imageArn`, `imageVersionArn`)
    /// instead of the API's (`sageMakerImageArn`, `sageMakerImageVersionArn`).
    legacy: bool,
}

impl Block {
    /// A block under its API name.
    fn api(kind: &'static str, path: String) -> Self {
        Self {
            kind,
            label: path.clone(),
            path,
            legacy: false,
        }
    }

    /// The fields of the image ARN and the image version ARN.
    fn image_fields(&self) -> (&'static str, &'static str) {
        if self.legacy {
            ("imageArn", "imageVersionArn")
        } else {
            ("sageMakerImageArn", "sageMakerImageVersionArn")
        }
    }

    /// The check that `test` (CEL of the field's value) holds for a field of the block's default
    /// resource spec, when set.
    fn check(&self, field: &str, rule: &str, test: impl Fn(&str) -> String, wording: Wording) -> Check {
        let path = format!("{}.defaultResourceSpec.{field}", self.path);
        let value = object(&path);
        Check {
            expression: when_set(self.kind, &path, &test(&value)),
            message_expression: wording.at(rule, &value, &self.label),
        }
    }
}

/// Every settings block with a default resource spec, each level the reconcile check reads.
fn blocks() -> Vec<Block> {
    let mut blocks = Vec::new();
    for (kind, settings, names) in [
        ("StudioDomain", "defaultUserSettings", &USER_BLOCKS[..]),
        ("StudioDomain", "defaultSpaceSettings", &DEFAULT_SPACE_BLOCKS[..]),
        ("UserProfile", "userSettings", &USER_BLOCKS[..]),
    ] {
        for (name, short) in names {
            let block = Block::api(kind, format!("{settings}.{name}"));
            if let Some(short) = short {
                blocks.push(Block {
                    kind,
                    path: format!("{settings}.{short}"),
                    label: block.label.clone(),
                    legacy: true,
                });
            }
            blocks.push(block);
        }
    }
    blocks.push(Block::api(
        "StudioDomain",
        "domainSettings.rStudioServerProDomainSettings".into(),
    ));
    blocks.push(Block {
        kind: "SharedSpace",
        path: "settings".into(),
        label: SPACE_SHORTCUT_BLOCK.into(),
        legacy: true,
    });
    blocks.extend(SPACE_BLOCKS.map(|name| Block::api("SharedSpace", format!("settings.{name}"))));
    blocks
}

/// Instance types (`system` always allowed) and images (an image version also by its image) of
/// every block.
fn resource_checks(rules: &GuardrailRules, wording: Wording) -> Vec<Check> {
    let blocks = blocks();
    let mut checks = Vec::new();
    if !rules.allowed_instance_types.is_empty() {
        let regex = glob_regex(&[&rules.allowed_instance_types[..], &["system".to_string()]].concat());
        checks.extend(
            blocks
                .iter()
                .map(|b| b.check("instanceType", "allowedInstanceTypes", |v| matches(v, &regex), wording)),
        );
    }
    if !rules.allowed_images.is_empty() {
        let regex = glob_regex(&rules.allowed_images);
        for block in &blocks {
            let (image, version) = block.image_fields();
            checks.push(block.check(image, "allowedImages", |v| matches(v, &regex), wording));
            checks.push(block.check(version, "allowedImages", |v| version_allowed(v, &regex), wording));
        }
    }
    checks
}

/// `allowedExecutionRoles` at every role field; a list names each role it refuses, as the
/// reconcile check does.
fn role_checks(globs: &[String], wording: Wording) -> Vec<Check> {
    let regex = glob_regex(globs);
    let rule = "allowedExecutionRoles";
    let mut checks = Vec::new();
    for (kind, settings, fields) in ROLE_FIELDS {
        for field in fields {
            let path = format!("{settings}.{field}");
            let value = object(&path);
            checks.push(if field.ends_with("Arns") {
                let refused = format!("{value}.filter(r, !{})", matches("r", &regex));
                Check {
                    expression: when_set(kind, &path, &format!("{value}.all(r, {})", matches("r", &regex))),
                    message_expression: format!("{refused}.map(r, {}).join('; ')", wording.at(rule, "r", &path)),
                }
            } else {
                Check {
                    expression: when_set(kind, &path, &matches(&value, &regex)),
                    message_expression: wording.at(rule, &value, &path),
                }
            });
        }
    }
    checks
}

/// The domain-wide rules: VpcOnly and the auth modes.
fn domain_checks(rules: &GuardrailRules, wording: Wording) -> Vec<Check> {
    let mut checks = Vec::new();
    if rules.require_vpc_only {
        checks.push(Check {
            expression: for_kind(
                "StudioDomain",
                "has(object.spec.network.accessType) && object.spec.network.accessType == 'VpcOnly'",
            ),
            // The only other access type.
            message_expression: wording.line(
                "requireVpcOnly",
                "'network.accessType PublicInternetOnly (set VpcOnly)'",
            ),
        });
    }
    if !rules.allowed_auth_modes.is_empty() {
        let modes: Vec<String> = rules
            .allowed_auth_modes
            .iter()
            .map(|m| cel_string(m.as_str()))
            .collect();
        // IAM when unset, as the CRD defaults it.
        let mode = "(has(object.spec.authMode) ? object.spec.authMode : 'IAM')";
        checks.push(Check {
            expression: for_kind("StudioDomain", &format!("{mode} in [{}]", modes.join(", "))),
            message_expression: wording.line("allowedAuthModes", &format!("'authMode ' + {mode}")),
        });
    }
    checks
}

/// `idleShutdown`: a domain enables idle shutdown when required, and no idle timeout of a
/// domain, its user defaults, a profile or a space exceeds the maximum. Bounds across objects
/// (a profile's or space's timeout inside its domain's minimum and maximum) need the domain,
/// which a policy without params does not see: the reconcile check judges those.
fn idle_checks(rule: &IdleShutdownRule, wording: Wording) -> Vec<Check> {
    let mut checks = Vec::new();
    if rule.required {
        let enabled = "has(object.spec.idleShutdown) && (!has(object.spec.idleShutdown.enabled) || object.spec.idleShutdown.enabled)";
        checks.push(Check {
            expression: for_kind("StudioDomain", enabled),
            message_expression: wording.line("idleShutdown.required", "'spec.idleShutdown is not enabled'"),
        });
    }
    let Some(max) = rule.max_idle_timeout_minutes else {
        return checks;
    };
    // A disabled idle shutdown's timeouts are not judged.
    let disabled = "(has(object.spec.idleShutdown.enabled) && !object.spec.idleShutdown.enabled)";
    for field in ["idleShutdown.idleTimeoutMinutes", "idleShutdown.maxIdleTimeoutMinutes"] {
        checks.push(timeout_check(
            "StudioDomain",
            field,
            field,
            max,
            Some(disabled),
            wording,
        ));
    }
    for (kind, settings) in [("StudioDomain", "defaultUserSettings"), ("UserProfile", "userSettings")] {
        for (name, short) in [
            ("jupyterLabAppSettings", "jupyterLab"),
            ("codeEditorAppSettings", "codeEditor"),
        ] {
            let idle = format!("{settings}.{name}.{IDLE_SETTINGS}");
            for field in ["idleTimeoutInMinutes", "maxIdleTimeoutInMinutes"] {
                let path = format!("{idle}.{field}");
                checks.push(timeout_check(kind, &path, &path, max, None, wording));
            }
            let path = format!("{settings}.{short}.idle.idleTimeoutMinutes");
            let label = format!("{idle}.idleTimeoutInMinutes");
            checks.push(timeout_check(kind, &path, &label, max, None, wording));
        }
    }
    checks.extend(space_idle_checks(max, wording));
    checks
}

/// A SharedSpace's idle timeout, where the reconcile check reads it: the `idleTimeoutMinutes`
/// shortcut (the CRD allows it only when no block sets its own), JupyterLab's, or Code Editor's
/// when JupyterLab has no lifecycle management.
fn space_idle_checks(max: i32, wording: Wording) -> Vec<Check> {
    let lab = format!("settings.jupyterLabAppSettings.{IDLE_SETTINGS}.idleTimeoutInMinutes");
    let editor = format!("settings.codeEditorAppSettings.{IDLE_SETTINGS}.idleTimeoutInMinutes");
    let lab_managed = "(has(object.spec.settings.jupyterLabAppSettings) && has(object.spec.settings.jupyterLabAppSettings.appLifecycleManagement))";
    let shortcut = format!("{SPACE_SHORTCUT_BLOCK}.{IDLE_SETTINGS}.idleTimeoutInMinutes");
    vec![
        timeout_check(
            "SharedSpace",
            "settings.idleTimeoutMinutes",
            &shortcut,
            max,
            None,
            wording,
        ),
        timeout_check("SharedSpace", &lab, &lab, max, None, wording),
        timeout_check("SharedSpace", &editor, &editor, max, Some(lab_managed), wording),
    ]
}

/// The check that the timeout at `path`, when set and not `exempt` (CEL), is at most `max`;
/// `label` is where findings place it (text of a CEL string literal).
fn timeout_check(kind: &str, path: &str, label: &str, max: i32, exempt: Option<&str>, wording: Wording) -> Check {
    let value = object(path);
    let within = format!("{value} <= {max}");
    let test = exempt.map_or(within.clone(), |exempt| format!("{exempt} || {within}"));
    Check {
        expression: when_set(kind, path, &test),
        message_expression: wording.line(MAX_IDLE, &format!("'{label} ' + string({value}) + ' exceeds {max}'")),
    }
}

/// The check that a required tag key is present. A profile's `studiouserid` is there unless
/// `tagUserId: false` (the operator adds it), as the reconcile-time check counts it.
fn tag_check(kind: &str, key: &str, wording: Wording) -> Check {
    let present = format!("has(object.spec.tags) && {} in object.spec.tags", cel_string(key));
    let present = if kind == "UserProfile" && key == super::rules::USER_ID_TAG {
        format!("!has(object.spec.tagUserId) || object.spec.tagUserId || ({present})")
    } else {
        present
    };
    Check {
        expression: for_kind(kind, &present),
        message_expression: wording.line("requiredTags", &cel_string(&format!("tag {key} is missing"))),
    }
}

/// `object.spec.<path>`.
fn object(path: &str) -> String {
    format!("object.spec.{path}")
}

/// `test` for objects of `kind` whose optional field at `path` (under `spec`) is set, true for
/// the others.
fn when_set(kind: &str, path: &str, test: &str) -> String {
    let parts: Vec<&str> = path.split('.').collect();
    let unset: Vec<String> = (1..=parts.len())
        .map(|end| format!("!has({})", object(&parts[..end].join("."))))
        .collect();
    for_kind(kind, &format!("{} || {test}", unset.join(" || ")))
}

/// `expression` for objects of `kind`, true for the other kinds.
fn for_kind(kind: &str, expression: &str) -> String {
    format!("request.kind.kind != '{kind}' || ({expression})")
}

/// Whether the CEL string `value` matches `regex` (from [`glob_regex`]).
fn matches(value: &str, regex: &str) -> String {
    format!("{value}.matches('{regex}')")
}

/// Whether the image version ARN `value` is allowed: by its own ARN, or by its image's
/// (`…:image-version/NAME/N` → `…:image/NAME`), like the reconcile-time check.
fn version_allowed(value: &str, regex: &str) -> String {
    let parts = format!("{value}.split(':image-version/', 2)");
    let image = format!("{parts}[0] + ':image/' + {parts}[1].split('/')[0]");
    format!(
        "{} || ({value}.contains(':image-version/') && ({image}).matches('{regex}'))",
        matches(value, regex)
    )
}

/// A CEL string literal.
fn cel_string(text: &str) -> String {
    format!("'{}'", text.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// An RE2 expression (escaped for a single-quoted CEL string) matching any of the globs (`*`
/// any run, `?` one character), like the reconcile-time check.
fn glob_regex(globs: &[String]) -> String {
    let alternatives: Vec<String> = globs
        .iter()
        .map(|glob| {
            glob.chars()
                .map(|c| match c {
                    '*' => ".*".to_string(),
                    '?' => ".".to_string(),
                    c if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == ':' || c == '/' => c.to_string(),
                    c => format!("\\\\{c}"),
                })
                .collect()
        })
        .collect();
    format!("^({})$", alternatives.join("|"))
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::api::{AuthMode, Guardrail, GuardrailSpec, StudioDomainSpec};
    use crate::compliance::Verdict;
    use crate::compliance::rules::check_domain;

    fn rules(value: Value) -> GuardrailRules {
        serde_json::from_value(value).unwrap()
    }

    /// The one check that judges the field at `path` (under `spec`).
    fn reading<'a>(checks: &'a [Check], path: &str) -> &'a Check {
        let guard = format!("!has({})", object(path));
        let found: Vec<&Check> = checks.iter().filter(|c| c.expression.contains(&guard)).collect();
        assert_eq!(found.len(), 1, "{path}: {found:#?}");
        found[0]
    }

    /// The CRD schema of `spec` of each kind.
    fn spec_schemas() -> Vec<(String, Value)> {
        crate::api::all_crds()
            .into_iter()
            .map(|crd| {
                let schema = serde_json::to_value(&crd.spec.versions[0].schema).unwrap();
                let spec = schema["openAPIV3Schema"]["properties"]["spec"].clone();
                (crd.spec.names.kind, spec)
            })
            .collect()
    }

    /// The `object.spec` paths a CEL expression reads, without the methods called on them.
    fn paths_read(cel: &str) -> Vec<String> {
        cel.match_indices("object.spec.")
            .map(|(at, prefix)| {
                let rest = &cel[at + prefix.len()..];
                let end = rest
                    .find(|c: char| !c.is_ascii_alphanumeric() && c != '.')
                    .unwrap_or(rest.len());
                let path = &rest[..end];
                match rest[end..].starts_with('(') {
                    true => path.rsplit_once('.').map_or(path, |(field, _method)| field),
                    false => path,
                }
                .to_string()
            })
            .collect()
    }

    /// The text of a CEL expression that only concatenates string literals.
    fn literal(cel: &str) -> String {
        let inner = cel.strip_prefix('\'').and_then(|c| c.strip_suffix('\'')).unwrap();
        inner.replace("' + '", "")
    }

    fn every_rule() -> GuardrailRules {
        rules(json!({
            "requireVpcOnly": true,
            "allowedAuthModes": ["SSO"],
            "allowedInstanceTypes": ["ml.t3.*"],
            "allowedImages": ["arn:aws:sagemaker:*:*:image/approved-*"],
            "allowedExecutionRoles": ["arn:aws:iam::123456789012:role/studio-*"],
            "allowedAwsRoles": ["arn:aws:iam::*:role/studio-*"],
            "allowedBackupLocations": ["s3://ml-backups/team-a/*"],
            "requiredTags": {"domain": ["cost-center"], "userProfile": ["studiouserid"], "sharedSpace": ["team"]},
            "idleShutdown": {"required": true, "maxIdleTimeoutMinutes": 120},
        }))
    }

    #[test]
    fn a_domain_backs_up_only_to_an_allowed_location_or_not_at_all() {
        let checks = checks(
            "prod",
            &rules(json!({"allowedBackupLocations": ["s3://ml-backups/team-a", "s3://ml-backups/team-a/*"]})),
        );
        let check = reading(&checks, "spaceBackup.s3Uri");
        let uri = "object.spec.spaceBackup.s3Uri";
        let regex = "^(s3://ml-backups/team-a|s3://ml-backups/team-a/.*)$";
        assert_eq!(
            check.expression,
            format!(
                "request.kind.kind != 'StudioDomain' || (!has(object.spec.spaceBackup) || !has({uri}) || {uri}.matches('{regex}'))"
            )
        );
        assert_eq!(
            check.message_expression,
            format!("'allowedBackupLocations: ' + {uri} + ' (spaceBackup.s3Uri)' + ' (Guardrail prod, Enforce)'")
        );
    }

    #[test]
    fn globs_become_anchored_expressions_with_literal_dots() {
        assert_eq!(
            glob_regex(&["ml.t3.*".into(), "ml.g5.?xlarge".into()]),
            "^(ml\\\\.t3\\\\..*|ml\\\\.g5\\\\..xlarge)$"
        );
    }

    /// A misspelt field is no error in CEL, it is never set: every field read must be in the
    /// schema of the kind the check judges.
    #[test]
    fn every_field_the_policy_reads_is_in_the_crd_of_the_kind_it_judges() {
        let schemas = spec_schemas();
        for check in checks("prod", &every_rule()) {
            let kind = check.expression.split('\'').nth(1).unwrap();
            let spec = &schemas.iter().find(|(k, _)| k == kind).unwrap().1;
            for path in paths_read(&check.expression)
                .into_iter()
                .chain(paths_read(&check.message_expression))
            {
                let found = path
                    .split('.')
                    .try_fold(spec, |node, field| node["properties"].get(field));
                assert!(found.is_some(), "{kind}.spec.{path} is not in the CRD: {check:#?}");
            }
        }
    }

    /// The role fields are exactly the members the reconcile check treats as roles
    /// (`ExecutionRole`, `...RoleArn`, `...RoleArns`) in the CRDs of the kinds it checks.
    #[test]
    fn the_role_fields_are_every_role_member_of_the_crds() {
        fn walk(node: &Value, at: &str, out: &mut Vec<String>) {
            for (name, member) in node["properties"].as_object().into_iter().flatten() {
                let path = format!("{at}.{name}");
                if name == "executionRole" || name.ends_with("RoleArn") || name.ends_with("RoleArns") {
                    out.push(path);
                } else {
                    walk(member, &path, out);
                }
            }
        }
        let mut in_crds = Vec::new();
        for (kind, spec) in spec_schemas() {
            if ["StudioDomain", "UserProfile", "SharedSpace"].contains(&kind.as_str()) {
                walk(&spec, &kind, &mut in_crds);
            }
        }
        let mut listed: Vec<String> = ROLE_FIELDS
            .iter()
            .flat_map(|(kind, settings, fields)| fields.iter().map(move |f| format!("{kind}.{settings}.{f}")))
            .collect();
        in_crds.sort();
        listed.sort();
        assert_eq!(listed, in_crds);
    }

    #[test]
    fn every_role_field_is_held_to_allowed_execution_roles() {
        let checks = checks(
            "prod",
            &rules(json!({"allowedExecutionRoles": ["arn:aws:iam::123456789012:role/studio-*"]})),
        );
        assert_eq!(checks.len(), 7 + 3 + 1 + 7);
        let regex = "^(arn:aws:iam::123456789012:role/studio-.*)$";
        let emr = reading(
            &checks,
            "userSettings.jupyterLabAppSettings.emrSettings.assumableRoleArns",
        );
        let roles = "object.spec.userSettings.jupyterLabAppSettings.emrSettings.assumableRoleArns";
        assert_eq!(
            emr.expression,
            format!(
                "request.kind.kind != 'UserProfile' || (!has(object.spec.userSettings) || !has(object.spec.userSettings.jupyterLabAppSettings) || !has(object.spec.userSettings.jupyterLabAppSettings.emrSettings) || !has({roles}) || {roles}.all(r, r.matches('{regex}')))"
            )
        );
        assert_eq!(
            emr.message_expression,
            format!(
                "{roles}.filter(r, !r.matches('{regex}')).map(r, 'allowedExecutionRoles: ' + r + ' (userSettings.jupyterLabAppSettings.emrSettings.assumableRoleArns)' + ' (Guardrail prod, Enforce)').join('; ')"
            )
        );
        let bedrock = reading(
            &checks,
            "defaultUserSettings.canvasAppSettings.generativeAiSettings.amazonBedrockRoleArn",
        );
        assert!(bedrock.expression.starts_with("request.kind.kind != 'StudioDomain'"));
        assert!(
            bedrock.expression.ends_with(&format!(
                "object.spec.defaultUserSettings.canvasAppSettings.generativeAiSettings.amazonBedrockRoleArn.matches('{regex}'))"
            )),
            "{}",
            bedrock.expression
        );
        assert_eq!(
            bedrock.message_expression,
            "'allowedExecutionRoles: ' + object.spec.defaultUserSettings.canvasAppSettings.generativeAiSettings.amazonBedrockRoleArn + ' (defaultUserSettings.canvasAppSettings.generativeAiSettings.amazonBedrockRoleArn)' + ' (Guardrail prod, Enforce)'"
        );
        reading(
            &checks,
            "domainSettings.rStudioServerProDomainSettings.domainExecutionRoleArn",
        );
        reading(
            &checks,
            "defaultSpaceSettings.jupyterLabAppSettings.emrSettings.executionRoleArns",
        );
    }

    #[test]
    fn idle_timeouts_above_the_maximum_are_refused_at_every_level() {
        let checks = checks(
            "prod",
            &rules(json!({"idleShutdown": {"required": true, "maxIdleTimeoutMinutes": 120}})),
        );
        // Required, the domain's two, 2 settings x 2 blocks x 3 fields, the space's three.
        assert_eq!(checks.len(), 1 + 2 + 12 + 3);
        assert_eq!(
            checks[0].expression,
            "request.kind.kind != 'StudioDomain' || (has(object.spec.idleShutdown) && (!has(object.spec.idleShutdown.enabled) || object.spec.idleShutdown.enabled))"
        );
        assert_eq!(
            literal(&checks[0].message_expression),
            "idleShutdown.required: spec.idleShutdown is not enabled (Guardrail prod, Enforce)"
        );
        let domain = reading(&checks, "idleShutdown.maxIdleTimeoutMinutes");
        assert_eq!(
            domain.expression,
            "request.kind.kind != 'StudioDomain' || (!has(object.spec.idleShutdown) || !has(object.spec.idleShutdown.maxIdleTimeoutMinutes) || (has(object.spec.idleShutdown.enabled) && !object.spec.idleShutdown.enabled) || object.spec.idleShutdown.maxIdleTimeoutMinutes <= 120)"
        );
        let legacy = reading(&checks, "userSettings.codeEditor.idle.idleTimeoutMinutes");
        assert_eq!(
            legacy.message_expression,
            "'idleShutdown.maxIdleTimeoutMinutes: ' + 'userSettings.codeEditorAppSettings.appLifecycleManagement.idleSettings.idleTimeoutInMinutes ' + string(object.spec.userSettings.codeEditor.idle.idleTimeoutMinutes) + ' exceeds 120' + ' (Guardrail prod, Enforce)'"
        );
        reading(
            &checks,
            "defaultUserSettings.jupyterLabAppSettings.appLifecycleManagement.idleSettings.maxIdleTimeoutInMinutes",
        );
        let shortcut = reading(&checks, "settings.idleTimeoutMinutes");
        assert!(
            shortcut
                .expression
                .ends_with("object.spec.settings.idleTimeoutMinutes <= 120)")
        );
        assert!(
            shortcut.message_expression.starts_with("'idleShutdown.maxIdleTimeoutMinutes: ' + 'settings.' + (object.spec.appType == 'CodeEditor' ? 'codeEditorAppSettings' : 'jupyterLabAppSettings') + '.appLifecycleManagement.idleSettings.idleTimeoutInMinutes ' + string(object.spec.settings.idleTimeoutMinutes)"),
            "{}",
            shortcut.message_expression
        );
        let editor = reading(
            &checks,
            "settings.codeEditorAppSettings.appLifecycleManagement.idleSettings.idleTimeoutInMinutes",
        );
        assert!(
            editor.expression.contains("|| (has(object.spec.settings.jupyterLabAppSettings) && has(object.spec.settings.jupyterLabAppSettings.appLifecycleManagement)) || "),
            "JupyterLab's timeout wins, as at reconcile: {}",
            editor.expression
        );
        let bounds_only = rules(json!({"idleShutdown": {"required": false}}));
        assert!(super::checks("x", &bounds_only).is_empty());
    }

    #[test]
    fn images_are_read_under_the_names_of_each_block_and_versions_by_their_image() {
        let checks = checks(
            "prod",
            &rules(json!({"allowedImages": ["arn:aws:sagemaker:*:*:image/approved-*"]})),
        );
        let regex = "^(arn:aws:sagemaker:.*:.*:image/approved-.*)$";
        let api = reading(
            &checks,
            "userSettings.jupyterLabAppSettings.defaultResourceSpec.sageMakerImageArn",
        );
        let legacy = reading(&checks, "userSettings.jupyterLab.defaultResourceSpec.imageArn");
        assert_eq!(
            api.message_expression
                .replace("jupyterLabAppSettings.defaultResourceSpec.sageMakerImageArn", ""),
            legacy
                .message_expression
                .replace("jupyterLab.defaultResourceSpec.imageArn", ""),
            "both named as the reconcile check names them"
        );
        let version = "object.spec.settings.jupyterLabAppSettings.defaultResourceSpec.sageMakerImageVersionArn";
        let check = reading(
            &checks,
            "settings.jupyterLabAppSettings.defaultResourceSpec.sageMakerImageVersionArn",
        );
        assert!(
            check.expression.ends_with(&format!(
                "{version}.matches('{regex}') || ({version}.contains(':image-version/') && ({version}.split(':image-version/', 2)[0] + ':image/' + {version}.split(':image-version/', 2)[1].split('/')[0]).matches('{regex}')))"
            )),
            "{}",
            check.expression
        );
        reading(
            &checks,
            "domainSettings.rStudioServerProDomainSettings.defaultResourceSpec.sageMakerImageArn",
        );
        let shortcut = reading(&checks, "settings.defaultResourceSpec.imageVersionArn");
        assert!(
            shortcut
                .message_expression
                .contains(&format!(" + ' ({SPACE_SHORTCUT_BLOCK})'"))
        );
    }

    /// The messages without a value from the object are the reconcile-time ones, to the letter.
    #[test]
    fn domain_wide_messages_are_the_reconcile_time_ones() {
        let rules = rules(json!({
            "requireVpcOnly": true,
            "requiredTags": {"domain": ["cost-center"]},
            "idleShutdown": {"required": true},
        }));
        let spec: StudioDomainSpec = serde_json::from_value(json!({
            "aws": {"region": "us-east-1"},
            "network": {"vpcId": "vpc-0123456789abcdef0", "subnetIds": ["subnet-0123456789abcdef0"]},
            "encryption": {"kmsKeyId": "alias/studio"},
            "defaultUserSettings": {},
        }))
        .unwrap();
        let guardrail = Guardrail::new(
            "prod",
            GuardrailSpec {
                selector: Default::default(),
                enforcement: Default::default(),
                rules: rules.clone(),
            },
        );
        let reconcile: Vec<String> = check_domain(&rules, &spec)
            .into_iter()
            .map(|finding| Verdict::of(&[&guardrail], |_| vec![finding.clone()]).message())
            .collect();
        let mut admission: Vec<String> = checks("prod", &rules)
            .iter()
            .map(|c| literal(&c.message_expression))
            .collect();
        admission.sort();
        let mut reconcile = reconcile;
        reconcile.sort();
        assert_eq!(admission, reconcile);
    }

    #[test]
    fn every_rule_admission_can_judge_becomes_checks_and_the_rest_none() {
        let rules = GuardrailRules {
            allowed_instance_types: vec!["ml.t3.*".into()],
            allowed_aws_roles: vec!["arn:aws:iam::*:role/studio-*".into()],
            require_vpc_only: true,
            allowed_auth_modes: vec![AuthMode::Sso],
            required_tags: Some(crate::api::RequiredTags {
                user_profile: vec!["cost-center".into()],
                ..Default::default()
            }),
            ..Default::default()
        };
        let checks = checks("prod", &rules);
        // Blocks: 2 user settings x (6 + 3 short names), the space defaults' 3 + 2 short names,
        // RStudio's, a space's 4 and its shortcut; then the role (of a domain, a lifecycle
        // configuration and an image), VpcOnly, auth modes, one tag.
        assert_eq!(checks.len(), 2 * 9 + 5 + 1 + 5 + 3 + 3);
        let roles: Vec<&Check> = checks.iter().filter(|c| c.expression.contains("aws.roleArn")).collect();
        for (check, kind) in roles
            .iter()
            .zip(["StudioDomain", "StudioLifecycleConfig", "StudioImage"])
        {
            assert!(
                check.expression.starts_with(&format!("request.kind.kind != '{kind}'")),
                "{check:?}"
            );
        }
        let space = reading(&checks, "settings.defaultResourceSpec.instanceType");
        assert_eq!(
            space.expression,
            "request.kind.kind != 'SharedSpace' || (!has(object.spec.settings) || !has(object.spec.settings.defaultResourceSpec) || !has(object.spec.settings.defaultResourceSpec.instanceType) || object.spec.settings.defaultResourceSpec.instanceType.matches('^(ml\\\\.t3\\\\..*|system)$'))"
        );
        assert!(space.message_expression.starts_with("'allowedInstanceTypes: ' + object.spec.settings.defaultResourceSpec.instanceType + ' (settings.' + (object.spec.appType"));
        assert!(space.message_expression.ends_with(" + ' (Guardrail prod, Enforce)'"));
        let auth = checks.iter().find(|c| c.expression.contains("authMode")).unwrap();
        assert!(auth.expression.contains(": 'IAM') in ['SSO']"), "{}", auth.expression);
        let tag = checks.last().unwrap();
        assert!(tag.expression.starts_with("request.kind.kind != 'UserProfile'"));
        assert!(tag.expression.contains("'cost-center' in object.spec.tags"));
        let user_id = tag_check("UserProfile", "studiouserid", Wording("prod"));
        assert!(
            user_id
                .expression
                .contains("!has(object.spec.tagUserId) || object.spec.tagUserId")
        );
        let runtime_only = GuardrailRules {
            max_app_lifetime_hours: Some(8),
            allow_keep_alive: true,
            ..Default::default()
        };
        assert!(super::checks("x", &runtime_only).is_empty());
    }
}
