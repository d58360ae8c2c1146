//! What breaks a guardrail rule: pure checks of specs and running apps.
//!
//! The same rule is checked at every level a setting can appear (domain defaults, profile,
//! space, running app), so moving a forbidden value to another level does not bypass it.

use serde_json::Value;
use wildmatch::WildMatch;

use crate::api::settings::{ResourceSpec, ToDoc, UserSettings};
use crate::api::{AccessType, GuardrailRules, SharedSpaceSpec, SpaceAppType, StudioDomainSpec, UserProfileSpec};
use crate::aws::model::AppSummary;
use crate::controller::settings::lower_camel;

/// The tag `UserProfile.spec.tagUserId` adds.
pub const USER_ID_TAG: &str = "studiouserid";

/// One broken rule: which rule, and the offending value (with where it was set).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// The rule's field name in `Guardrail.spec.rules`.
    pub rule: &'static str,
    /// The value that breaks it, e.g. `ml.p4d.24xlarge (defaultUserSettings.jupyterLab)`.
    pub value: String,
}

impl Finding {
    fn new(rule: &'static str, value: impl Into<String>) -> Self {
        Self {
            rule,
            value: value.into(),
        }
    }
}

/// Whether a value matches one of the glob patterns (`*`, `?`); an empty list allows everything.
pub fn allowed(patterns: &[String], value: &str) -> bool {
    patterns.is_empty() || patterns.iter().any(|p| WildMatch::new(p).matches(value))
}

/// A StudioImage's image ARN against `allowedImages`, so an image no domain may use is never
/// created.
pub fn check_image(rules: &GuardrailRules, image_arn: &str) -> Vec<Finding> {
    if allowed(&rules.allowed_images, image_arn) {
        Vec::new()
    } else {
        vec![Finding::new("allowedImages", image_arn)]
    }
}

/// Whether an instance type is allowed; `system` (the JupyterServer UI app) always is.
pub fn instance_type_allowed(rules: &GuardrailRules, instance_type: &str) -> bool {
    instance_type == "system" || allowed(&rules.allowed_instance_types, instance_type)
}

/// Whether an app type is allowed; `JupyterServer` (the Studio Classic UI) always is.
pub fn app_type_allowed(rules: &GuardrailRules, app_type: &str) -> bool {
    app_type == "JupyterServer"
        || rules.allowed_app_types.is_empty()
        || rules.allowed_app_types.iter().any(|t| t.as_str() == app_type)
}

/// Where a domain acts and where its users' data goes: the AWS role it assumes and the bucket
/// its spaces are backed up to.
fn check_destinations(rules: &GuardrailRules, spec: &StudioDomainSpec, findings: &mut Vec<Finding>) {
    if let Some(role) = &spec.aws.role_arn
        && !allowed(&rules.allowed_aws_roles, role)
    {
        findings.push(Finding::new("allowedAwsRoles", format!("{role} (aws.roleArn)")));
    }
    if let Some(backup) = &spec.space_backup
        && !allowed(&rules.allowed_backup_locations, &backup.s3_uri)
    {
        findings.push(Finding::new(
            "allowedBackupLocations",
            format!("{} (spaceBackup.s3Uri)", backup.s3_uri),
        ));
    }
}

/// Checks a StudioDomain spec.
pub fn check_domain(rules: &GuardrailRules, spec: &StudioDomainSpec) -> Vec<Finding> {
    let mut findings = Vec::new();
    if rules.require_vpc_only && spec.network.access_type != AccessType::VpcOnly {
        findings.push(Finding::new(
            "requireVpcOnly",
            "network.accessType PublicInternetOnly (set VpcOnly)",
        ));
    }
    check_destinations(rules, spec, &mut findings);
    if let Some(space) = &spec.default_space_settings {
        check_roles(rules, &space.effective(), "defaultSpaceSettings", &mut findings);
    }
    if let Some(domain) = &spec.domain_settings {
        check_roles(rules, domain, "domainSettings", &mut findings);
    }
    if !rules.allowed_auth_modes.is_empty() && !rules.allowed_auth_modes.contains(&spec.auth_mode) {
        findings.push(Finding::new(
            "allowedAuthModes",
            format!("authMode {}", spec.auth_mode.as_str()),
        ));
    }
    // The rendered SCP denies CreateDomain without a sharing key (IAM cannot tell "no sharing"
    // from "sharing without a key"), so the reconcile-time check asks for the same.
    let defaults = spec.default_user_settings.effective();
    if rules.require_customer_managed_key && defaults.sharing_settings.is_none() {
        findings.push(Finding::new(
            "requireCustomerManagedKey",
            "defaultUserSettings.sharingSettings.s3KmsKeyId is unset (set a customer managed key for shared notebooks)",
        ));
    }
    check_user_settings(rules, &defaults, "defaultUserSettings", &mut findings);
    if let Some(space) = &spec.default_space_settings {
        for (path, resource) in space.effective().resource_specs() {
            check_resource(rules, resource, &format!("defaultSpaceSettings.{path}"), &mut findings);
        }
    }
    let rstudio = spec
        .domain_settings
        .as_ref()
        .and_then(|s| s.r_studio_server_pro_domain_settings.as_ref())
        .and_then(|s| s.default_resource_spec.as_ref());
    if let Some(resource) = rstudio {
        check_resource(
            rules,
            resource,
            "domainSettings.rStudioServerProDomainSettings",
            &mut findings,
        );
    }
    check_tags(
        rules.required_tags.as_ref().map(|t| &t.domain),
        spec.tags.keys(),
        &mut findings,
    );
    if let Some(rule) = &rules.idle_shutdown {
        let idle = spec.idle_shutdown.as_ref().filter(|i| i.enabled);
        if rule.required && idle.is_none() {
            findings.push(Finding::new(
                "idleShutdown.required",
                "spec.idleShutdown is not enabled",
            ));
        }
        if let (Some(max), Some(idle)) = (rule.max_idle_timeout_minutes, idle) {
            for (field, minutes) in [
                ("idleShutdown.idleTimeoutMinutes", Some(idle.idle_timeout_minutes)),
                ("idleShutdown.maxIdleTimeoutMinutes", idle.max_idle_timeout_minutes),
            ] {
                check_timeout(max, field, minutes, &mut findings);
            }
        }
    }
    findings
}

/// Checks a UserProfile spec.
pub fn check_profile(rules: &GuardrailRules, spec: &UserProfileSpec) -> Vec<Finding> {
    let mut findings = Vec::new();
    if let Some(settings) = &spec.user_settings {
        check_user_settings(rules, &settings.effective(), "userSettings", &mut findings);
    }
    let user_id = spec.tag_user_id.then_some(USER_ID_TAG.to_string());
    let keys: Vec<&String> = spec.tags.keys().chain(user_id.as_ref()).collect();
    check_tags(
        rules.required_tags.as_ref().map(|t| &t.user_profile),
        keys.into_iter(),
        &mut findings,
    );
    findings
}

/// Checks a SharedSpace spec.
pub fn check_space(rules: &GuardrailRules, spec: &SharedSpaceSpec) -> Vec<Finding> {
    let mut findings = Vec::new();
    let app_type = match spec.app_type {
        SpaceAppType::JupyterLab => "JupyterLab",
        SpaceAppType::CodeEditor => "CodeEditor",
    };
    if !app_type_allowed(rules, app_type) {
        findings.push(Finding::new("allowedAppTypes", format!("appType {app_type}")));
    }
    if let Some(settings) = &spec.settings {
        let settings = settings.effective(spec.app_type);
        for (path, resource) in settings.resource_specs() {
            check_resource(rules, resource, &format!("settings.{path}"), &mut findings);
        }
        if let (Some(max), Some((field, minutes))) = (
            rules.idle_shutdown.as_ref().and_then(|r| r.max_idle_timeout_minutes),
            settings.idle_timeout(),
        ) {
            check_timeout(max, &format!("settings.{field}"), Some(minutes), &mut findings);
        }
    }
    check_tags(
        rules.required_tags.as_ref().map(|t| &t.shared_space),
        spec.tags.keys(),
        &mut findings,
    );
    findings
}

/// Checks a running app, however it was launched (API, Studio UI): instance type and image.
pub fn check_app(rules: &GuardrailRules, app: &AppSummary) -> Vec<Finding> {
    let mut findings = Vec::new();
    if !app_type_allowed(rules, &app.app_type) {
        findings.push(Finding::new("allowedAppTypes", app.app_type.clone()));
    }
    if let Some(instance_type) = &app.instance_type
        && !instance_type_allowed(rules, instance_type)
    {
        findings.push(Finding::new("allowedInstanceTypes", instance_type.clone()));
    }
    if let Some(image) = &app.image_arn
        && !allowed(&rules.allowed_images, image)
    {
        findings.push(Finding::new("allowedImages", image.clone()));
    }
    findings
}

fn check_user_settings(rules: &GuardrailRules, settings: &UserSettings, at: &str, findings: &mut Vec<Finding>) {
    check_roles(rules, settings, at, findings);
    if rules.require_customer_managed_key
        && let Some(sharing) = &settings.sharing_settings
    {
        match sharing.s3_kms_key_id.as_deref() {
            None => findings.push(Finding::new(
                "requireCustomerManagedKey",
                format!("{at}.sharingSettings.s3KmsKeyId is unset (set a customer managed key for shared notebooks)"),
            )),
            Some(key) if is_aws_managed_key(key) => findings.push(Finding::new(
                "requireCustomerManagedKey",
                format!("{key} ({at}.sharingSettings.s3KmsKeyId is an AWS managed key)"),
            )),
            Some(_) => {}
        }
    }
    for (path, resource) in settings.resource_specs() {
        check_resource(rules, resource, &format!("{at}.{path}"), findings);
    }
    if let Some(max) = rules.idle_shutdown.as_ref().and_then(|r| r.max_idle_timeout_minutes) {
        for (field, minutes) in settings.idle_timeouts() {
            check_timeout(max, &format!("{at}.{field}"), Some(minutes), findings);
        }
    }
}

/// `alias/aws/...` (or its ARN form): a key AWS manages, never a customer managed one.
fn is_aws_managed_key(key: &str) -> bool {
    key.starts_with("alias/aws/") || key.contains(":alias/aws/")
}

/// Holds every IAM role a settings structure hands to SageMaker to `allowedExecutionRoles`: the
/// execution role, and the roles of EMR, Canvas (Forecast, model registry, Bedrock, EMR
/// Serverless) and RStudio. Apps and jobs of the tenant run as each of them, so any one left
/// unchecked would let a tenant escalate to another tenant's role.
fn check_roles(rules: &GuardrailRules, settings: &impl ToDoc, at: &str, findings: &mut Vec<Finding>) {
    let mut roles = Vec::new();
    role_members(&settings.to_doc(), at, &mut roles);
    for (path, role) in roles {
        if !allowed(&rules.allowed_execution_roles, &role) {
            findings.push(Finding::new("allowedExecutionRoles", format!("{role} ({path})")));
        }
    }
}

/// The role ARNs of a settings document (API member names) with their spec paths: members named
/// `ExecutionRole`, `...RoleArn` or `...RoleArns`, at any depth.
fn role_members(value: &Value, at: &str, out: &mut Vec<(String, String)>) {
    match value {
        Value::Object(members) => {
            for (member, value) in members {
                let path = format!("{at}.{}", lower_camel(member));
                let is_role = member == "ExecutionRole" || member.ends_with("RoleArn") || member.ends_with("RoleArns");
                match value {
                    Value::String(role) if is_role => out.push((path, role.clone())),
                    Value::Array(items) if is_role => {
                        out.extend(
                            items
                                .iter()
                                .filter_map(Value::as_str)
                                .map(|r| (path.clone(), r.to_string())),
                        );
                    }
                    _ => role_members(value, &path, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| role_members(item, at, out)),
        _ => {}
    }
}

/// The image ARN of an image version ARN (`…:image-version/NAME/N` → `…:image/NAME`).
fn image_of_version(version_arn: &str) -> Option<String> {
    let (prefix, rest) = version_arn.split_once(":image-version/")?;
    let name = rest.split('/').next()?;
    Some(format!("{prefix}:image/{name}"))
}

fn check_resource(rules: &GuardrailRules, resource: &ResourceSpec, at: &str, findings: &mut Vec<Finding>) {
    if let Some(instance_type) = resource.instance_type.map(|t| t.as_str())
        && !instance_type_allowed(rules, instance_type)
    {
        findings.push(Finding::new("allowedInstanceTypes", format!("{instance_type} ({at})")));
    }
    if let Some(image) = &resource.sage_maker_image_arn
        && !allowed(&rules.allowed_images, image)
    {
        findings.push(Finding::new("allowedImages", format!("{image} ({at})")));
    }
    // A version is allowed when its own ARN or its image's ARN is.
    if let Some(version) = &resource.sage_maker_image_version_arn
        && !allowed(&rules.allowed_images, version)
        && !image_of_version(version).is_some_and(|image| allowed(&rules.allowed_images, &image))
    {
        findings.push(Finding::new("allowedImages", format!("{version} ({at})")));
    }
}

fn check_tags<'a>(
    required: Option<&Vec<String>>,
    present: impl Iterator<Item = &'a String>,
    findings: &mut Vec<Finding>,
) {
    let present: Vec<&String> = present.collect();
    for key in required.into_iter().flatten() {
        if !present.contains(&key) {
            findings.push(Finding::new("requiredTags", format!("tag {key} is missing")));
        }
    }
}

fn check_timeout(max: i32, field: &str, minutes: Option<i32>, findings: &mut Vec<Finding>) {
    if let Some(minutes) = minutes.filter(|m| *m > max) {
        findings.push(Finding::new(
            "idleShutdown.maxIdleTimeoutMinutes",
            format!("{field} {minutes} exceeds {max}"),
        ));
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn rules(value: serde_json::Value) -> GuardrailRules {
        serde_json::from_value(value).unwrap()
    }

    fn domain(extra: serde_json::Value) -> StudioDomainSpec {
        let mut spec = json!({
            "aws": {"region": "us-east-1"},
            "authMode": "IAM",
            "network": {"vpcId": "vpc-0123456789abcdef0", "subnetIds": ["subnet-0123456789abcdef0"]},
            "encryption": {"kmsKeyId": "alias/studio"},
            "defaultUserSettings": {"executionRole": "arn:aws:iam::123456789012:role/Exec"},
        });
        merge(&mut spec, extra);
        serde_json::from_value(spec).unwrap()
    }

    fn merge(into: &mut serde_json::Value, from: serde_json::Value) {
        if let (Some(into), serde_json::Value::Object(from)) = (into.as_object_mut(), from) {
            for (k, v) in from {
                into.insert(k, v);
            }
        }
    }

    fn rule_names(findings: &[Finding]) -> Vec<&str> {
        findings.iter().map(|f| f.rule).collect()
    }

    #[test]
    fn globs_match_instance_families_and_system_is_always_allowed() {
        let r = rules(json!({"allowedInstanceTypes": ["ml.t3.*", "ml.m5.?large"]}));
        assert!(instance_type_allowed(&r, "ml.t3.medium"));
        assert!(instance_type_allowed(&r, "ml.m5.xlarge"));
        assert!(!instance_type_allowed(&r, "ml.m5.2xlarge"));
        assert!(!instance_type_allowed(&r, "ml.p4d.24xlarge"));
        assert!(instance_type_allowed(&r, "system"));
        assert!(instance_type_allowed(&GuardrailRules::default(), "ml.p4d.24xlarge"));
    }

    #[test]
    fn a_backup_location_outside_the_allowed_ones_is_a_finding_and_no_backup_is_none() {
        let r = rules(json!({"allowedBackupLocations": ["s3://ml-backups/team-a/*"]}));
        let elsewhere = domain(json!({"spaceBackup": {"s3Uri": "s3://team-b-backups/team-a", "kmsKeyId": "alias/b"}}));
        let findings = check_domain(&r, &elsewhere);
        assert_eq!(rule_names(&findings), ["allowedBackupLocations"]);
        assert_eq!(findings[0].value, "s3://team-b-backups/team-a (spaceBackup.s3Uri)");
        let inside = domain(json!({"spaceBackup": {"s3Uri": "s3://ml-backups/team-a/lab", "kmsKeyId": "alias/b"}}));
        assert!(check_domain(&r, &inside).is_empty());
        assert!(check_domain(&r, &domain(json!({}))).is_empty());
    }

    #[test]
    fn roles_are_checked_wherever_they_are_set() {
        let r = rules(json!({
            "allowedExecutionRoles": ["arn:aws:iam::123456789012:role/studio-*"],
            "allowedAwsRoles": ["arn:aws:iam::210987654321:role/studio-operator-dev"],
        }));
        let spec = domain(json!({
            "aws": {"region": "us-east-1", "roleArn": "arn:aws:iam::999999999999:role/studio-operator-prod"},
            "defaultSpaceSettings": {"executionRole": "arn:aws:iam::123456789012:role/studio-spaces"},
        }));
        let findings = check_domain(&r, &spec);
        assert_eq!(rule_names(&findings), ["allowedAwsRoles", "allowedExecutionRoles"]);
        assert!(
            findings[1]
                .value
                .contains("role/Exec (defaultUserSettings.executionRole)")
        );
        let profile: UserProfileSpec = serde_json::from_value(json!({
            "domainRef": {"name": "d"},
            "userSettings": {"executionRole": "arn:aws:iam::123456789012:role/SageMakerPipelinesAdmin"},
        }))
        .unwrap();
        assert_eq!(rule_names(&check_profile(&r, &profile)), ["allowedExecutionRoles"]);
        let own_account =
            domain(json!({"defaultUserSettings": {"executionRole": "arn:aws:iam::123456789012:role/studio-users"}}));
        assert!(
            check_domain(&r, &own_account).is_empty(),
            "no roleArn: the operator's own account"
        );
    }

    #[test]
    fn every_role_handed_to_sagemaker_is_checked() {
        let r = rules(json!({"allowedExecutionRoles": ["arn:aws:iam::123456789012:role/studio-*"]}));
        let ok = "arn:aws:iam::123456789012:role/studio-users";
        let other = |name: &str| format!("arn:aws:iam::123456789012:role/{name}");
        let profile: UserProfileSpec = serde_json::from_value(json!({
            "domainRef": {"name": "d"},
            "userSettings": {
                "executionRole": ok,
                "jupyterLabAppSettings": {"emrSettings": {"assumableRoleArns": [ok, other("emr-admin")], "executionRoleArns": [ok]}},
                "canvasAppSettings": {
                    "generativeAiSettings": {"amazonBedrockRoleArn": other("bedrock")},
                    "emrServerlessSettings": {"executionRoleArn": ok},
                },
            },
        }))
        .unwrap();
        let values: Vec<String> = check_profile(&r, &profile).into_iter().map(|f| f.value).collect();
        assert_eq!(
            values,
            [
                format!(
                    "{} (userSettings.canvasAppSettings.generativeAiSettings.amazonBedrockRoleArn)",
                    other("bedrock")
                ),
                format!(
                    "{} (userSettings.jupyterLabAppSettings.emrSettings.assumableRoleArns)",
                    other("emr-admin")
                ),
            ]
        );
        let spec = domain(json!({
            "defaultSpaceSettings": {"jupyterLabAppSettings": {"emrSettings": {"executionRoleArns": [other("spaces-emr")]}}},
            "domainSettings": {"rStudioServerProDomainSettings": {"domainExecutionRoleArn": other("rstudio")}},
        }));
        let values: Vec<String> = check_domain(&r, &spec).into_iter().map(|f| f.value).collect();
        assert!(
            values.iter().any(|v| v.contains(
                "role/spaces-emr (defaultSpaceSettings.jupyterLabAppSettings.emrSettings.executionRoleArns)"
            )),
            "{values:?}"
        );
        assert!(
            values
                .iter()
                .any(|v| v
                    .contains("role/rstudio (domainSettings.rStudioServerProDomainSettings.domainExecutionRoleArn)")),
            "{values:?}"
        );
    }

    #[test]
    fn image_versions_are_checked_by_their_image() {
        let r = rules(json!({"allowedImages": ["arn:aws:sagemaker:*:*:image/approved-*"]}));
        let space = |version: &str| -> SharedSpaceSpec {
            serde_json::from_value(json!({
                "domainRef": {"name": "d"},
                "appType": "JupyterLab",
                "sharing": {"type": "Shared", "ownerProfile": "alice"},
                "settings": {"defaultResourceSpec": {"imageVersionArn": version}},
            }))
            .unwrap()
        };
        let ok = space("arn:aws:sagemaker:us-east-1:123456789012:image-version/approved-base/3");
        assert!(check_space(&r, &ok).is_empty());
        let rogue = space("arn:aws:sagemaker:us-east-1:123456789012:image-version/unapproved/1");
        let findings = check_space(&r, &rogue);
        assert_eq!(rule_names(&findings), ["allowedImages"]);
        assert!(findings[0].value.contains("image-version/unapproved"));
    }

    #[test]
    fn sharing_needs_a_customer_managed_key_at_every_level() {
        let r = rules(json!({"requireCustomerManagedKey": true}));
        let profile = |key: serde_json::Value| -> UserProfileSpec {
            serde_json::from_value(json!({
                "domainRef": {"name": "d"},
                "userSettings": {"sharing": {"notebookOutput": "Allowed", "s3OutputPath": "s3://b/", "s3KmsKeyId": key}},
            }))
            .unwrap()
        };
        assert_eq!(
            rule_names(&check_profile(&r, &profile(json!("alias/aws/s3")))),
            ["requireCustomerManagedKey"]
        );
        assert!(check_profile(&r, &profile(json!("alias/notebooks"))).is_empty());
    }

    #[test]
    fn empty_rules_find_nothing() {
        let spec = domain(
            json!({"network": {"vpcId": "vpc-0123456789abcdef0", "subnetIds": ["subnet-0123456789abcdef0"], "accessType": "PublicInternetOnly"}}),
        );
        assert!(check_domain(&GuardrailRules::default(), &spec).is_empty());
    }

    #[test]
    fn domain_network_auth_tags_and_idle_rules() {
        let r = rules(json!({
            "requireVpcOnly": true,
            "allowedAuthModes": ["SSO"],
            "requiredTags": {"domain": ["cost-center"]},
            "idleShutdown": {"required": true, "maxIdleTimeoutMinutes": 120},
        }));
        let findings = check_domain(&r, &domain(json!({})));
        assert_eq!(
            rule_names(&findings),
            [
                "requireVpcOnly",
                "allowedAuthModes",
                "requiredTags",
                "idleShutdown.required"
            ]
        );
        assert_eq!(findings[1].value, "authMode IAM", "as the spec spells it");
        assert!(findings[2].value.contains("cost-center"), "{findings:?}");
        let compliant = domain(json!({
            "authMode": "SSO",
            "network": {"vpcId": "vpc-0123456789abcdef0", "subnetIds": ["subnet-0123456789abcdef0"], "accessType": "VpcOnly"},
            "tags": {"cost-center": "ml"},
            "idleShutdown": {"idleTimeoutMinutes": 60, "maxIdleTimeoutMinutes": 240},
        }));
        let findings = check_domain(&r, &compliant);
        assert_eq!(rule_names(&findings), ["idleShutdown.maxIdleTimeoutMinutes"]);
        assert_eq!(findings[0].value, "idleShutdown.maxIdleTimeoutMinutes 240 exceeds 120");
    }

    #[test]
    fn forbidden_instance_types_and_images_are_found_at_every_level() {
        let r = rules(json!({
            "allowedInstanceTypes": ["ml.t3.*"],
            "allowedImages": ["arn:aws:sagemaker:*:*:image/approved-*"],
        }));
        let spec = domain(json!({
            "defaultUserSettings": {
                "executionRole": "arn:aws:iam::123456789012:role/Exec",
                "kernelGateway": {"defaultResourceSpec": {"instanceType": "ml.g5.xlarge"}},
            },
            "defaultSpaceSettings": {"jupyterLab": {"defaultResourceSpec": {"imageArn": "arn:aws:sagemaker:us-east-1:123456789012:image/other"}}},
        }));
        let findings = check_domain(&r, &spec);
        assert_eq!(
            findings,
            [
                Finding::new(
                    "allowedInstanceTypes",
                    "ml.g5.xlarge (defaultUserSettings.kernelGatewayAppSettings)"
                ),
                Finding::new(
                    "allowedImages",
                    "arn:aws:sagemaker:us-east-1:123456789012:image/other (defaultSpaceSettings.jupyterLabAppSettings)"
                ),
            ]
        );
        let profile: UserProfileSpec = serde_json::from_value(json!({
            "domainRef": {"name": "d"},
            "userSettings": {"jupyterLab": {"defaultResourceSpec": {"instanceType": "ml.p4d.24xlarge"}}},
        }))
        .unwrap();
        assert_eq!(
            check_profile(&r, &profile),
            [Finding::new(
                "allowedInstanceTypes",
                "ml.p4d.24xlarge (userSettings.jupyterLabAppSettings)"
            )]
        );
        let space: SharedSpaceSpec = serde_json::from_value(json!({
            "domainRef": {"name": "d"},
            "sharing": {"type": "Shared", "ownerProfile": "alice"}, "appType": "JupyterLab",
            "settings": {"defaultResourceSpec": {"instanceType": "ml.t3.large"}},
        }))
        .unwrap();
        assert!(check_space(&r, &space).is_empty());
    }

    #[test]
    fn profile_tags_count_the_user_id_tag() {
        let r = rules(json!({"requiredTags": {"userProfile": ["studiouserid", "team"]}}));
        let mut profile: UserProfileSpec =
            serde_json::from_value(json!({"domainRef": {"name": "d"}, "tags": {"team": "a"}})).unwrap();
        assert!(check_profile(&r, &profile).is_empty());
        profile.tag_user_id = false;
        assert_eq!(
            check_profile(&r, &profile),
            [Finding::new("requiredTags", "tag studiouserid is missing")]
        );
    }

    #[test]
    fn idle_timeouts_above_the_cap_are_found_on_profiles_and_spaces() {
        let r = rules(json!({"idleShutdown": {"maxIdleTimeoutMinutes": 120}}));
        let profile: UserProfileSpec = serde_json::from_value(json!({
            "domainRef": {"name": "d"},
            "userSettings": {"codeEditor": {"idle": {"idleTimeoutMinutes": 600}}},
        }))
        .unwrap();
        assert_eq!(
            check_profile(&r, &profile),
            [Finding::new(
                "idleShutdown.maxIdleTimeoutMinutes",
                "userSettings.codeEditorAppSettings.appLifecycleManagement.idleSettings.idleTimeoutInMinutes 600 exceeds 120"
            )]
        );
        let space: SharedSpaceSpec = serde_json::from_value(json!({
            "domainRef": {"name": "d"},
            "sharing": {"type": "Shared", "ownerProfile": "alice"}, "appType": "JupyterLab",
            "settings": {"idleTimeoutMinutes": 90},
        }))
        .unwrap();
        assert!(check_space(&r, &space).is_empty());
    }

    #[test]
    fn a_missing_sharing_key_breaks_require_customer_managed_key() {
        let r = rules(json!({"requireCustomerManagedKey": true}));
        let without = domain(json!({"defaultUserSettings": {
            "executionRole": "arn:aws:iam::123456789012:role/Exec",
            "sharing": {"notebookOutput": "Allowed", "s3OutputPath": "s3://b/p/"},
        }}));
        assert_eq!(rule_names(&check_domain(&r, &without)), ["requireCustomerManagedKey"]);
        assert_eq!(
            rule_names(&check_domain(&r, &domain(json!({})))),
            ["requireCustomerManagedKey"]
        );
        let with = domain(json!({"defaultUserSettings": {
            "executionRole": "arn:aws:iam::123456789012:role/Exec",
            "sharing": {"s3KmsKeyId": "alias/sharing"},
        }}));
        assert!(check_domain(&r, &with).is_empty());
    }

    #[test]
    fn apps_break_instance_type_and_image_rules() {
        let r = rules(json!({"allowedInstanceTypes": ["ml.t3.*"], "allowedImages": ["*:image/approved"]}));
        let app = AppSummary {
            app_type: "JupyterLab".into(),
            app_name: "default".into(),
            user_profile: None,
            space: Some("s".into()),
            status: "InService".into(),
            instance_type: Some("ml.g5.2xlarge".into()),
            image_arn: Some("arn:aws:sagemaker:us-east-1:081325390199:image/sagemaker-distribution-cpu".into()),
            created: None,
        };
        assert_eq!(
            rule_names(&check_app(&r, &app)),
            ["allowedInstanceTypes", "allowedImages"]
        );
        let ui = AppSummary {
            instance_type: Some("system".into()),
            image_arn: None,
            ..app
        };
        assert!(check_app(&r, &ui).is_empty());
    }
}
