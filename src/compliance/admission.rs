//! An Enforce Guardrail as CEL for a ValidatingAdmissionPolicy: what its rules can judge from
//! one object alone (instance types, images, execution and AWS roles, VpcOnly, auth modes,
//! required tags) is refused at `kubectl apply`, with the reconcile-time wording. The reconcile
//! check stays: admission sees neither a member's domain nor objects made before the policy.

use crate::api::{AuthMode, GuardrailRules};

/// One CEL check: an expression that must hold for the object, and the message when it does not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    /// CEL over `object` (and `request`), true when the object complies.
    pub expression: String,
    /// CEL string expression for the refusal.
    pub message_expression: String,
}

/// The settings blocks with a default resource spec (instance type, image), by the name the
/// reconcile-time findings use, and the older short name a manifest may use instead.
const APP_BLOCKS: [(&str, Option<&str>); 6] = [
    ("jupyterLabAppSettings", Some("jupyterLab")),
    ("kernelGatewayAppSettings", Some("kernelGateway")),
    ("codeEditorAppSettings", Some("codeEditor")),
    ("jupyterServerAppSettings", None),
    ("rSessionAppSettings", None),
    ("tensorBoardAppSettings", None),
];
/// The settings that hold those blocks, per kind.
const SETTINGS: [(&str, &str); 3] = [
    ("StudioDomain", "defaultUserSettings"),
    ("StudioDomain", "defaultSpaceSettings"),
    ("UserProfile", "userSettings"),
];
/// A SharedSpace's own blocks (its settings have no short names).
const SPACE_BLOCKS: [&str; 4] = [
    "jupyterLabAppSettings",
    "kernelGatewayAppSettings",
    "codeEditorAppSettings",
    "jupyterServerAppSettings",
];

/// The checks for a Guardrail named `guardrail`; empty when no rule can be judged at admission.
pub fn checks(guardrail: &str, rules: &GuardrailRules) -> Vec<Check> {
    let breach = |rule: &str, value: &str, at: &str| {
        format!("'{rule}: ' + {value} + ' ({at}) (Guardrail {guardrail}, Enforce)'")
    };
    let mut checks = Vec::new();
    if !rules.allowed_instance_types.is_empty() {
        let mut patterns = rules.allowed_instance_types.clone();
        patterns.push("system".into());
        checks.extend(resource_checks(
            "instanceType",
            "allowedInstanceTypes",
            &patterns,
            &breach,
        ));
    }
    if !rules.allowed_images.is_empty() {
        checks.extend(resource_checks(
            "imageArn",
            "allowedImages",
            &rules.allowed_images,
            &breach,
        ));
    }
    if !rules.allowed_execution_roles.is_empty() {
        let regex = glob_regex(&rules.allowed_execution_roles);
        for (kind, path) in [
            ("StudioDomain", "defaultUserSettings.executionRole"),
            ("StudioDomain", "defaultSpaceSettings.executionRole"),
            ("UserProfile", "userSettings.executionRole"),
        ] {
            let message = breach("allowedExecutionRoles", &object(path), path);
            checks.push(field_check(kind, path, &regex, &message));
        }
    }
    if !rules.allowed_aws_roles.is_empty() {
        let path = "aws.roleArn";
        let message = breach("allowedAwsRoles", &object(path), path);
        checks.push(field_check(
            "StudioDomain",
            path,
            &glob_regex(&rules.allowed_aws_roles),
            &message,
        ));
    }
    checks.extend(domain_checks(rules, &breach));
    if let Some(tags) = &rules.required_tags {
        for (kind, keys) in [
            ("StudioDomain", &tags.domain),
            ("UserProfile", &tags.user_profile),
            ("SharedSpace", &tags.shared_space),
        ] {
            checks.extend(keys.iter().map(|key| tag_check(kind, key, guardrail)));
        }
    }
    checks
}

/// One check per settings block for a field of its default resource spec.
fn resource_checks(
    field: &str,
    rule: &str,
    globs: &[String],
    breach: &dyn Fn(&str, &str, &str) -> String,
) -> Vec<Check> {
    let regex = glob_regex(globs);
    app_settings()
        .into_iter()
        .map(|(kind, at, label)| {
            let path = format!("{at}.defaultResourceSpec.{field}");
            field_check(kind, &path, &regex, &breach(rule, &object(&path), &label))
        })
        .collect()
}

/// The domain-wide rules: VpcOnly and the auth modes.
fn domain_checks(rules: &GuardrailRules, breach: &dyn Fn(&str, &str, &str) -> String) -> Vec<Check> {
    let mut checks = Vec::new();
    if rules.require_vpc_only {
        checks.push(Check {
            expression: for_kind(
                "StudioDomain",
                "has(object.spec.network.accessType) && object.spec.network.accessType == 'VpcOnly'",
            ),
            message_expression: breach("requireVpcOnly", "'network.accessType is not VpcOnly'", "set VpcOnly"),
        });
    }
    if !rules.allowed_auth_modes.is_empty() {
        let modes: Vec<&str> = rules
            .allowed_auth_modes
            .iter()
            .map(|m| match m {
                AuthMode::Iam => "'IAM'",
                AuthMode::Sso => "'SSO'",
            })
            .collect();
        // IAM when unset, as the CRD defaults it.
        let mode = "(has(object.spec.authMode) ? object.spec.authMode : 'IAM')";
        checks.push(Check {
            expression: for_kind("StudioDomain", &format!("{mode} in [{}]", modes.join(", "))),
            message_expression: breach("allowedAuthModes", &format!("'authMode ' + {mode}"), "authMode"),
        });
    }
    checks
}

/// `(kind, path in the object, path as findings name it)` of every settings block with a
/// default resource spec.
fn app_settings() -> Vec<(&'static str, String, String)> {
    let mut blocks = Vec::new();
    for (kind, settings) in SETTINGS {
        for (name, short) in APP_BLOCKS {
            let label = format!("{settings}.{name}");
            blocks.push((kind, label.clone(), label.clone()));
            if let Some(short) = short {
                blocks.push((kind, format!("{settings}.{short}"), label));
            }
        }
    }
    blocks.push(("SharedSpace", "settings".into(), "settings".into()));
    for name in SPACE_BLOCKS {
        let path = format!("settings.{name}");
        blocks.push(("SharedSpace", path.clone(), path));
    }
    blocks
}

/// `object.spec.<path>`.
fn object(path: &str) -> String {
    format!("object.spec.{path}")
}

/// The check that the optional field at `path` (under `spec`), when set, matches `regex`.
fn field_check(kind: &str, path: &str, regex: &str, message_expression: &str) -> Check {
    let mut guards = Vec::new();
    let parts: Vec<&str> = path.split('.').collect();
    for end in 1..=parts.len() {
        guards.push(format!("!has(object.spec.{})", parts[..end].join(".")));
    }
    let test = format!("{}.matches('{regex}')", object(path));
    Check {
        expression: for_kind(kind, &format!("{} || {test}", guards.join(" || "))),
        message_expression: message_expression.to_string(),
    }
}

/// The check that a required tag key is present. A profile's `studiouserid` is there unless
/// `tagUserId: false` (the operator adds it), as the reconcile-time check counts it.
fn tag_check(kind: &str, key: &str, guardrail: &str) -> Check {
    let present = format!("has(object.spec.tags) && {} in object.spec.tags", cel_string(key));
    let present = if kind == "UserProfile" && key == super::rules::USER_ID_TAG {
        format!("!has(object.spec.tagUserId) || object.spec.tagUserId || ({present})")
    } else {
        present
    };
    let key = cel_string(key);
    Check {
        expression: for_kind(kind, &present),
        message_expression: format!("'requiredTags: ' + {key} + ' is missing (tags) (Guardrail {guardrail}, Enforce)'"),
    }
}

/// `expression` for objects of `kind`, true for the other kinds.
fn for_kind(kind: &str, expression: &str) -> String {
    format!("request.kind.kind != '{kind}' || ({expression})")
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
    use super::*;

    #[test]
    fn globs_become_anchored_expressions_with_literal_dots() {
        assert_eq!(
            glob_regex(&["ml.t3.*".into(), "ml.g5.?xlarge".into()]),
            "^(ml\\\\.t3\\\\..*|ml\\\\.g5\\\\..xlarge)$"
        );
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
        // 3 settings x (6 blocks + 3 short names) + 5 space blocks, the role, VpcOnly, auth
        // modes, one tag.
        assert_eq!(checks.len(), 3 * 9 + 5 + 4);
        let space = checks
            .iter()
            .find(|c| {
                c.expression
                    .contains("object.spec.settings.defaultResourceSpec.instanceType")
            })
            .unwrap();
        assert_eq!(
            space.expression,
            "request.kind.kind != 'SharedSpace' || (!has(object.spec.settings) || !has(object.spec.settings.defaultResourceSpec) || !has(object.spec.settings.defaultResourceSpec.instanceType) || object.spec.settings.defaultResourceSpec.instanceType.matches('^(ml\\\\.t3\\\\..*|system)$'))"
        );
        assert!(space.message_expression.contains("allowedInstanceTypes"));
        assert!(space.message_expression.contains("(Guardrail prod, Enforce)"));
        let auth = checks.iter().find(|c| c.expression.contains("authMode")).unwrap();
        assert!(auth.expression.contains(": 'IAM') in ['SSO']"), "{}", auth.expression);
        let tag = checks.last().unwrap();
        assert!(tag.expression.starts_with("request.kind.kind != 'UserProfile'"));
        assert!(tag.expression.contains("'cost-center' in object.spec.tags"));
        let user_id = tag_check("UserProfile", "studiouserid", "prod");
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
