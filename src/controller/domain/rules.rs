//! The domain's rules, as pure functions: is the key usable, what CreateDomain sends, what
//! differs between spec and AWS, what can be updated in place and what forces a recreation.

use std::collections::BTreeMap;

use crate::api::condition_type::TENANCY_SELECTOR;
use crate::api::{self, AccessType, ApprovalRequest, AuthMode, ImmutableSettings, RecreationPolicy, StudioDomainSpec};
use crate::aws::model::{AppSummary, Document, DomainCreate, DomainUpdate, KeyInfo, ObservedDomain};
use crate::compliance::UiRestrictions;
use crate::controller::catalog::Resolution;
use crate::controller::desired;
use crate::controller::settings::{self, Rules};
use crate::status::Want;

/// Why a KMS key cannot encrypt a domain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyProblem {
    /// `alias/aws/...`: an AWS managed key (DescribeKey would even create it).
    AwsManagedAlias,
    /// DescribeKey found no such key.
    NotFound(String),
    /// KeyManager is AWS.
    NotCustomerManaged,
    /// KeyState is not Enabled.
    NotEnabled(String),
    /// KeySpec is not SYMMETRIC_DEFAULT.
    NotSymmetric(String),
    /// KeyUsage is not ENCRYPT_DECRYPT.
    WrongUsage(String),
}

impl KeyProblem {
    /// Condition reason.
    pub fn reason(&self) -> &'static str {
        match self {
            KeyProblem::AwsManagedAlias | KeyProblem::NotCustomerManaged => "KmsKeyNotCustomerManaged",
            KeyProblem::NotFound(_) => "KmsKeyNotFound",
            KeyProblem::NotEnabled(_) => "KmsKeyNotEnabled",
            KeyProblem::NotSymmetric(_) => "KmsKeyNotSymmetric",
            KeyProblem::WrongUsage(_) => "KmsKeyWrongUsage",
        }
    }

    /// A message that says what to change.
    pub fn message(&self, key: &str) -> String {
        match self {
            KeyProblem::AwsManagedAlias => format!(
                "KMS key {key} is an AWS managed key; the domain's storage must be encrypted with a customer managed key: create one and set spec.encryption.kmsKeyId"
            ),
            KeyProblem::NotFound(detail) => {
                format!(
                    "KMS key {key} does not exist or is not visible to the operator ({detail}); check spec.encryption.kmsKeyId and the region/account"
                )
            }
            KeyProblem::NotCustomerManaged => format!(
                "KMS key {key} is managed by AWS (KeyManager=AWS); use a customer managed key in spec.encryption.kmsKeyId"
            ),
            KeyProblem::NotEnabled(state) => format!(
                "KMS key {key} is in state {state}, not Enabled; enable it (or cancel its deletion) or name another key"
            ),
            KeyProblem::NotSymmetric(spec) => {
                format!("KMS key {key} has KeySpec {spec}; EFS and EBS need a SYMMETRIC_DEFAULT key")
            }
            KeyProblem::WrongUsage(usage) => {
                format!("KMS key {key} has KeyUsage {usage}; the domain needs an ENCRYPT_DECRYPT key")
            }
        }
    }
}

/// Rejects AWS managed aliases before any call (DescribeKey on `alias/aws/x` creates that key).
pub fn check_key_reference(kms_key_id: &str) -> Result<(), KeyProblem> {
    let alias = kms_key_id.rsplit_once(":alias/").map(|(_, a)| format!("alias/{a}"));
    let alias = alias.as_deref().unwrap_or(kms_key_id);
    if alias.starts_with("alias/aws/") {
        Err(KeyProblem::AwsManagedAlias)
    } else {
        Ok(())
    }
}

/// Requires a customer managed, enabled, symmetric encryption key.
pub fn evaluate_key(key: &KeyInfo) -> Result<(), KeyProblem> {
    if key.key_manager != "CUSTOMER" {
        return Err(KeyProblem::NotCustomerManaged);
    }
    if key.key_state != "Enabled" || !key.enabled {
        return Err(KeyProblem::NotEnabled(key.key_state.clone()));
    }
    if key.key_spec != "SYMMETRIC_DEFAULT" {
        return Err(KeyProblem::NotSymmetric(key.key_spec.clone()));
    }
    if key.key_usage != "ENCRYPT_DECRYPT" {
        return Err(KeyProblem::WrongUsage(key.key_usage.clone()));
    }
    Ok(())
}

/// The key id inside a key ARN (`arn:...:key/<id>`), or the text itself.
fn key_id_of(key: &str) -> &str {
    key.rsplit_once(":key/").map(|(_, id)| id).unwrap_or(key)
}

/// The longest space name SageMaker takes.
const MAX_SPACE_NAME: usize = 63;
/// The longest tag value SageMaker takes; a space's backup location is its `restore-from` tag.
const MAX_TAG_VALUE: usize = 256;

/// Why the backup prefix `<s3Uri>/<cluster>/<namespace>/<name>/` cannot name every space's
/// backup in a `restore-from` tag, if it cannot: found before anything is backed up there, not
/// when a recreation fails to create a space.
pub fn backup_prefix_problem(prefix: &str) -> Option<String> {
    let longest = prefix.len() + MAX_SPACE_NAME + 1;
    (longest > MAX_TAG_VALUE).then(|| {
        format!(
            "spec.spaceBackup.s3Uri: a space's backup location {prefix}<space name>/ is a tag value of at most {MAX_TAG_VALUE} characters (the restore after a recreation reads it); shorten s3Uri by {} characters",
            longest - MAX_TAG_VALUE
        )
    })
}

/// The domain's name in AWS.
pub fn domain_name(spec: &StudioDomainSpec, metadata_name: &str) -> String {
    spec.domain_name.clone().unwrap_or_else(|| metadata_name.to_string())
}

fn auth_mode(mode: AuthMode) -> &'static str {
    match mode {
        AuthMode::Iam => "IAM",
        AuthMode::Sso => "SSO",
    }
}

fn access_type(access: AccessType) -> &'static str {
    match access {
        AccessType::PublicInternetOnly => "PublicInternetOnly",
        AccessType::VpcOnly => "VpcOnly",
    }
}

/// What CreateDomain sends for this spec. `key_arn` is the verified key; `tags` are the user's tags
/// plus the ownership tags; `ui` what the guardrails hide in the Studio UI.
pub fn desired_domain(
    spec: &StudioDomainSpec,
    name: String,
    key_arn: String,
    tags: BTreeMap<String, String>,
    ui: &UiRestrictions,
    resolved: &Resolution,
) -> DomainCreate {
    DomainCreate {
        name,
        auth_mode: auth_mode(spec.auth_mode).into(),
        vpc_id: spec.network.vpc_id.clone(),
        subnet_ids: spec.network.subnet_ids.clone(),
        access_type: access_type(spec.network.access_type).into(),
        kms_key_id: key_arn,
        app_security_group_management: spec.app_security_group_management.map(|m| m.as_str().into()),
        home_efs_file_system_creation: spec.home_efs_file_system_creation.map(|h| h.as_str().into()),
        tag_propagation: spec.tag_propagation,
        default_user_settings: desired::default_user_settings(spec, ui, resolved),
        default_space_settings: desired::default_space_settings(spec, resolved),
        domain_settings: desired::domain_settings(spec),
        tags,
    }
}

/// The immutable settings the spec asks for now.
pub fn immutable_settings(spec: &StudioDomainSpec, name: &str) -> ImmutableSettings {
    ImmutableSettings {
        domain_name: name.to_string(),
        auth_mode: auth_mode(spec.auth_mode).into(),
        vpc_id: spec.network.vpc_id.clone(),
        kms_key_id: spec.encryption.kms_key_id.clone(),
        region: spec.aws.region.clone(),
        role_arn: spec.aws.role_arn.clone(),
    }
}

/// The immutable spec fields that changed since the domain was created: each forces a
/// recreation. Only a change of the spec counts, never what AWS reports.
pub fn spec_changes(now: &ImmutableSettings, created_with: &ImmutableSettings) -> Vec<&'static str> {
    let mut changes = Vec::new();
    if now.domain_name != created_with.domain_name {
        changes.push("domainName");
    }
    if now.auth_mode != created_with.auth_mode {
        changes.push("authMode");
    }
    if now.vpc_id != created_with.vpc_id {
        changes.push("network.vpcId");
    }
    if now.kms_key_id != created_with.kms_key_id {
        changes.push("encryption.kmsKeyId");
    }
    changes
}

/// Where AWS holds other immutable settings than the spec asks for, without a spec change: a
/// KMS alias pointed at another key, or a domain changed behind the operator's back. A member
/// AWS does not report (empty or absent) is unknown, not different.
pub fn aws_differences(desired: &DomainCreate, observed: &ObservedDomain) -> Vec<&'static str> {
    let differs = |observed: Option<&str>, desired: &str| observed.is_some_and(|o| !o.is_empty() && o != desired);
    let mut changes = Vec::new();
    if differs(Some(&observed.name), &desired.name) {
        changes.push("domainName");
    }
    if differs(Some(&observed.auth_mode), &desired.auth_mode) {
        changes.push("authMode");
    }
    if differs(observed.vpc_id.as_deref(), &desired.vpc_id) {
        changes.push("network.vpcId");
    }
    if differs(
        observed.kms_key_id.as_deref().map(key_id_of),
        key_id_of(&desired.kms_key_id),
    ) {
        changes.push("encryption.kmsKeyId");
    }
    changes
}

/// An in-place update: what to send, which spec fields it corrects, which of them AWS accepts
/// only while no app runs, and what the operator manages of the settings afterwards.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MutableDiff {
    /// The UpdateDomain call.
    pub update: DomainUpdate,
    /// Spec fields that differ (settings by their path in the spec).
    pub fields: Vec<String>,
    /// Fields that need all apps stopped (access type change, subnet removal, execution role
    /// identity).
    pub needs_stopped_apps: Vec<String>,
    /// The settings paths the spec manages.
    pub managed: Vec<String>,
    /// Settings paths AWS holds that the spec does not manage.
    pub unmanaged: Vec<String>,
}

/// The settings paths a domain created from `desired` is managed for.
pub fn managed_paths(desired: &DomainCreate) -> Vec<String> {
    [
        ("DefaultUserSettings", &desired.default_user_settings),
        ("DefaultSpaceSettings", &desired.default_space_settings),
        ("DomainSettings", &desired.domain_settings),
    ]
    .into_iter()
    .flat_map(|(root, document)| settings::managed(root, document))
    .collect()
}

/// AWS refuses a change of the execution role identity while apps run, and of the RStudio
/// settings with InService apps, even when the value sent is the one it holds: they are sent
/// only when they change. A domain that never set the identity has it `DISABLED`.
const DOMAIN_SETTINGS_RULES: Rules = Rules {
    send_only_changed: &["ExecutionRoleIdentityConfig", "RStudioServerProDomainSettings"],
    defaults: &[("ExecutionRoleIdentityConfig", "DISABLED")],
};

/// Compares the settings structures: what changes, and what the operator manages afterwards.
fn settings_diff(desired: &DomainCreate, observed: &ObservedDomain, managed_before: &[String], diff: &mut MutableDiff) {
    let structures: [(&str, &Document, &Document, Rules, &mut Option<Document>); 3] = [
        (
            "DefaultUserSettings",
            &desired.default_user_settings,
            &observed.default_user_settings,
            Rules::default(),
            &mut diff.update.default_user_settings,
        ),
        (
            "DefaultSpaceSettings",
            &desired.default_space_settings,
            &observed.default_space_settings,
            Rules::default(),
            &mut diff.update.default_space_settings,
        ),
        (
            "DomainSettings",
            &desired.domain_settings,
            &observed.domain_settings,
            DOMAIN_SETTINGS_RULES,
            &mut diff.update.domain_settings,
        ),
    ];
    for (root, wanted, held, rules, update) in structures {
        let plan = settings::plan(root, wanted, held, managed_before, rules);
        for path in plan.changes() {
            let field = settings::spec_path(&path);
            if path == "DomainSettings.ExecutionRoleIdentityConfig" {
                diff.needs_stopped_apps.push(field.clone());
            }
            diff.fields.push(field);
        }
        *update = plan.body;
        diff.managed.extend(plan.managed);
        diff.unmanaged.extend(plan.unmanaged);
    }
    diff.unmanaged.truncate(settings::UNMANAGED_LIMIT);
}

/// Compares the updatable settings. `managed_before` are the settings paths status recorded.
pub fn mutable_diff(desired: &DomainCreate, observed: &ObservedDomain, managed_before: &[String]) -> MutableDiff {
    let mut diff = MutableDiff::default();
    settings_diff(desired, observed, managed_before, &mut diff);
    let mut desired_subnets = desired.subnet_ids.clone();
    let mut observed_subnets = observed.subnet_ids.clone();
    desired_subnets.sort();
    observed_subnets.sort();
    if desired_subnets != observed_subnets {
        diff.update.subnet_ids = Some(desired.subnet_ids.clone());
        diff.fields.push("network.subnetIds".into());
        if observed_subnets.iter().any(|s| !desired_subnets.contains(s)) {
            diff.needs_stopped_apps.push("network.subnetIds".into());
        }
    }
    if observed.access_type.as_deref() != Some(desired.access_type.as_str()) {
        diff.update.access_type = Some(desired.access_type.clone());
        if desired.access_type == "VpcOnly" {
            // AWS requires VpcId and SubnetIds with a change to VpcOnly.
            diff.update.vpc_id = Some(desired.vpc_id.clone());
            diff.update.subnet_ids = Some(desired.subnet_ids.clone());
        }
        diff.fields.push("network.accessType".into());
        diff.needs_stopped_apps.push("network.accessType".into());
    }
    if observed.tag_propagation != desired.tag_propagation {
        diff.update.tag_propagation = Some(desired.tag_propagation);
        diff.fields.push("tagPropagation".into());
    }
    let optional = [
        (
            "appSecurityGroupManagement",
            &desired.app_security_group_management,
            &observed.app_security_group_management,
            &mut diff.update.app_security_group_management,
        ),
        (
            "homeEfsFileSystemCreation",
            &desired.home_efs_file_system_creation,
            &observed.home_efs_file_system_creation,
            &mut diff.update.home_efs_file_system_creation,
        ),
    ];
    for (field, wanted, held, update) in optional {
        if wanted.is_some() && wanted != held {
            update.clone_from(wanted);
            diff.fields.push(field.into());
        }
    }
    diff
}

/// What to do about an immutable change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecreationDecision {
    /// Recreate now.
    Proceed,
    /// Wait for the approval annotation for this generation.
    AwaitApproval,
    /// The policy forbids it.
    Refuse,
}

/// Annotation that approves a pending recreation: its value must be the token of
/// `status.pendingApproval`.
pub const APPROVE_RECREATION: &str = "studio-operator.io/approve-recreation";

/// Decides whether an immutable change may recreate the domain now. An adopted domain (or one
/// whose creation settings are unknown) is never recreated without approval, whatever the policy.
pub fn recreation_decision(policy: RecreationPolicy, adopted: bool, approved: bool) -> RecreationDecision {
    match policy {
        RecreationPolicy::Never => RecreationDecision::Refuse,
        _ if approved => RecreationDecision::Proceed,
        RecreationPolicy::Recreate if !adopted => RecreationDecision::Proceed,
        _ => RecreationDecision::AwaitApproval,
    }
}

/// Whether `annotation` approves `request`: the pending request (with its token) is exactly the
/// one asked for now, and the annotation carries its token.
pub fn approves(annotation: Option<&str>, pending: Option<&ApprovalRequest>, request: &ApprovalRequest) -> bool {
    match (annotation, pending) {
        (Some(token), Some(pending)) => {
            pending.action == request.action && pending.deletes == request.deletes && token.trim() == pending.token
        }
        _ => false,
    }
}

/// Apps that block an update needing stopped apps: InService, Pending or Deleting ones.
pub fn blocking_apps(apps: &[AppSummary]) -> Vec<&AppSummary> {
    apps.iter()
        .filter(|a| matches!(a.status.as_str(), "InService" | "Pending" | "Deleting"))
        .collect()
}

/// The user's tags plus the ownership tags.
pub fn desired_tags(spec: &StudioDomainSpec, ownership: BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut tags = spec.tags.clone();
    tags.extend(ownership);
    tags
}

/// Whether the domain is Deleting/Pending/Updating: AWS refuses changes until it settles.
pub fn is_transitional(status: &str) -> bool {
    matches!(status, "Pending" | "Updating" | "Deleting")
}

/// The label Kubernetes sets on every namespace to its name, which nobody can change.
const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// Whether the tenancy selector can be satisfied by a label someone could set on a namespace:
/// anyone who may create or label namespaces (self-service namespaces, Capsule, HNC) would join.
pub fn tenancy_condition(spec: &StudioDomainSpec) -> Want {
    let Some(selector) = spec.tenancy.as_ref().and_then(|t| t.allowed_namespaces.as_ref()) else {
        return Want::true_(
            TENANCY_SELECTOR,
            "OwnNamespaceOnly",
            "only the domain's own namespace may use it",
        );
    };
    let mut keys: Vec<&str> = selector
        .match_labels
        .iter()
        .flat_map(|labels| labels.keys().map(String::as_str))
        .chain(selector.match_expressions.iter().flatten().map(|e| e.key.as_str()))
        .filter(|key| *key != NAMESPACE_NAME_LABEL)
        .collect();
    keys.sort_unstable();
    keys.dedup();
    let names_only = selector.match_labels.is_some() || selector.match_expressions.is_some();
    match (keys.is_empty(), names_only) {
        (true, true) => Want::true_(
            TENANCY_SELECTOR,
            "NamespaceNames",
            "tenants are selected by namespace name",
        ),
        (true, false) => Want::false_(
            TENANCY_SELECTOR,
            "EveryNamespace",
            format!(
                "spec.tenancy.allowedNamespaces is empty: every namespace may use the domain; select tenants by {NAMESPACE_NAME_LABEL}"
            ),
        ),
        (false, _) => Want::false_(
            TENANCY_SELECTOR,
            "MutableLabels",
            format!(
                "spec.tenancy.allowedNamespaces selects by {}: whoever may label a namespace can join the domain; select tenants by {NAMESPACE_NAME_LABEL}",
                keys.join(", ")
            ),
        ),
    }
}

/// What a deletion leaves of the EFS volume.
pub fn retain_efs(spec: &StudioDomainSpec) -> bool {
    spec.efs_retention == api::EfsRetention::Retain
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_backup_prefix_leaves_room_for_the_longest_space_name_in_a_tag() {
        let fits = format!("s3://b/{}/", "p".repeat(256 - 64 - 8));
        assert_eq!(fits.len() + 64, 256);
        assert_eq!(backup_prefix_problem(&fits), None);
        let long = format!("s3://b/{}/", "p".repeat(256 - 64 - 7));
        let problem = backup_prefix_problem(&long).unwrap();
        assert!(problem.ends_with("shorten s3Uri by 1 characters"), "{problem}");
    }

    #[test]
    fn a_tenancy_selector_on_labels_anyone_may_set_is_flagged() {
        let spec = |tenancy: serde_json::Value| -> StudioDomainSpec {
            let mut spec: StudioDomainSpec = serde_json::from_value(json!({
                "aws": {"region": "us-east-1"},
                "network": {"vpcId": "vpc-1", "subnetIds": ["subnet-1"]},
                "encryption": {"kmsKeyId": "alias/k"},
                "defaultUserSettings": {"executionRole": "arn:aws:iam::123456789012:role/R"},
            }))
            .unwrap();
            spec.tenancy = serde_json::from_value(tenancy).unwrap();
            spec
        };
        let by_name = tenancy_condition(&spec(json!({"allowedNamespaces": {"matchExpressions": [
            {"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["team-a"]}]}})));
        assert_eq!((by_name.status, by_name.reason.as_str()), ("True", "NamespaceNames"));
        let by_label = tenancy_condition(&spec(
            json!({"allowedNamespaces": {"matchLabels": {"studio-operator.io/tenant": "true"}}}),
        ));
        assert_eq!((by_label.status, by_label.reason.as_str()), ("False", "MutableLabels"));
        assert!(
            by_label.message.contains("studio-operator.io/tenant"),
            "{}",
            by_label.message
        );
        let everyone = tenancy_condition(&spec(json!({"allowedNamespaces": {}})));
        assert_eq!(everyone.reason, "EveryNamespace");
        assert_eq!(tenancy_condition(&spec(json!(null))).reason, "OwnNamespaceOnly");
    }
    use crate::api::{EncryptionSpec, NetworkSpec, UserSettings};

    fn desired(spec: &StudioDomainSpec) -> DomainCreate {
        desired_domain(
            spec,
            "d".into(),
            key().arn,
            BTreeMap::new(),
            &UiRestrictions::default(),
            &Resolution::default(),
        )
    }

    fn spec() -> StudioDomainSpec {
        serde_json::from_value(serde_json::json!({
            "aws": {"region": "us-east-1"},
            "network": {"vpcId": "vpc-0a1b2c3d", "subnetIds": ["subnet-1111aaaa", "subnet-2222bbbb"]},
            "encryption": {"kmsKeyId": "alias/studio"},
            "defaultUserSettings": {"executionRole": "arn:aws:iam::123456789012:role/x"}
        }))
        .unwrap()
    }

    fn key() -> KeyInfo {
        KeyInfo {
            key_id: "k1".into(),
            arn: "arn:aws:kms:us-east-1:123456789012:key/k1".into(),
            key_state: "Enabled".into(),
            enabled: true,
            key_manager: "CUSTOMER".into(),
            key_spec: "SYMMETRIC_DEFAULT".into(),
            key_usage: "ENCRYPT_DECRYPT".into(),
        }
    }

    fn observed_from(desired: &DomainCreate) -> ObservedDomain {
        ObservedDomain {
            id: "d-1".into(),
            name: desired.name.clone(),
            status: "InService".into(),
            auth_mode: desired.auth_mode.clone(),
            vpc_id: Some(desired.vpc_id.clone()),
            subnet_ids: desired.subnet_ids.clone(),
            access_type: Some(desired.access_type.clone()),
            kms_key_id: Some(desired.kms_key_id.clone()),
            tag_propagation: desired.tag_propagation,
            default_user_settings: desired.default_user_settings.clone(),
            default_space_settings: desired.default_space_settings.clone(),
            domain_settings: desired.domain_settings.clone(),
            ..Default::default()
        }
    }

    #[test]
    fn settings_removed_from_the_spec_are_cleared_only_if_they_were_managed() {
        let desired = desired(&spec());
        let mut observed = observed_from(&desired);
        observed.default_user_settings.insert(
            "KernelGatewayAppSettings".into(),
            json!({"LifecycleConfigArns": ["arn:lcc"], "CustomImages": [{"ImageName": "i", "AppImageConfigName": "c"}]}),
        );
        let untouched = mutable_diff(&desired, &observed, &[]);
        assert!(untouched.update.is_empty(), "{untouched:?}");
        assert_eq!(
            untouched.unmanaged,
            [
                "DefaultUserSettings.KernelGatewayAppSettings.CustomImages",
                "DefaultUserSettings.KernelGatewayAppSettings.LifecycleConfigArns"
            ]
        );
        let managed = ["DefaultUserSettings.KernelGatewayAppSettings.LifecycleConfigArns".to_string()];
        let diff = mutable_diff(&desired, &observed, &managed);
        assert_eq!(
            diff.fields,
            ["defaultUserSettings.kernelGatewayAppSettings.lifecycleConfigArns"]
        );
        assert_eq!(
            diff.update.default_user_settings.unwrap()["KernelGatewayAppSettings"],
            json!({"LifecycleConfigArns": [], "CustomImages": [{"ImageName": "i", "AppImageConfigName": "c"}]})
        );
        assert!(diff.managed.contains(&"DefaultUserSettings.ExecutionRole".to_string()));
    }

    #[test]
    fn a_changed_execution_role_identity_needs_stopped_apps_and_is_sent_alone() {
        let mut changed = spec();
        changed.execution_role_identity = crate::api::ExecutionRoleIdentity::UserProfileName;
        let mut observed = observed_from(&desired(&spec()));
        observed.domain_settings.remove("ExecutionRoleIdentityConfig");
        assert!(
            mutable_diff(&desired(&spec()), &observed, &[]).update.is_empty(),
            "an absent identity is AWS's DISABLED"
        );
        observed
            .domain_settings
            .insert("DockerSettings".into(), json!({"EnableDockerAccess": "ENABLED"}));
        let diff = mutable_diff(&desired(&changed), &observed, &[]);
        assert_eq!(diff.needs_stopped_apps, ["executionRoleIdentity"]);
        assert_eq!(
            serde_json::Value::Object(diff.update.domain_settings.unwrap()),
            json!({"ExecutionRoleIdentityConfig": "USER_PROFILE_NAME", "DockerSettings": {"EnableDockerAccess": "ENABLED"}})
        );
    }

    #[test]
    fn aws_managed_aliases_are_rejected_without_a_call() {
        assert_eq!(
            check_key_reference("alias/aws/sagemaker"),
            Err(KeyProblem::AwsManagedAlias)
        );
        assert_eq!(
            check_key_reference("arn:aws:kms:us-east-1:123456789012:alias/aws/ebs"),
            Err(KeyProblem::AwsManagedAlias)
        );
        assert!(check_key_reference("alias/studio").is_ok());
        assert!(check_key_reference("1234abcd-12ab-34cd-56ef-1234567890ab").is_ok());
    }

    #[test]
    fn key_evaluation_names_the_exact_problem() {
        assert!(evaluate_key(&key()).is_ok());
        assert_eq!(
            evaluate_key(&KeyInfo {
                key_manager: "AWS".into(),
                ..key()
            }),
            Err(KeyProblem::NotCustomerManaged)
        );
        assert_eq!(
            evaluate_key(&KeyInfo {
                key_state: "Disabled".into(),
                enabled: false,
                ..key()
            }),
            Err(KeyProblem::NotEnabled("Disabled".into()))
        );
        assert_eq!(
            evaluate_key(&KeyInfo {
                key_state: "PendingDeletion".into(),
                enabled: false,
                ..key()
            }),
            Err(KeyProblem::NotEnabled("PendingDeletion".into()))
        );
        assert_eq!(
            evaluate_key(&KeyInfo {
                key_spec: "RSA_2048".into(),
                ..key()
            }),
            Err(KeyProblem::NotSymmetric("RSA_2048".into()))
        );
        assert_eq!(
            evaluate_key(&KeyInfo {
                key_usage: "SIGN_VERIFY".into(),
                ..key()
            }),
            Err(KeyProblem::WrongUsage("SIGN_VERIFY".into()))
        );
        assert!(
            KeyProblem::NotEnabled("Disabled".into())
                .message("alias/x")
                .contains("enable it")
        );
    }

    #[test]
    fn no_drift_means_no_update_and_no_recreation() {
        let desired = desired(&spec());
        let observed = observed_from(&desired);
        assert!(aws_differences(&desired, &observed).is_empty());
        let diff = mutable_diff(&desired, &observed, &[]);
        assert!(diff.update.is_empty(), "{diff:?}");
        assert!(diff.fields.is_empty());
    }

    #[test]
    fn key_given_as_id_matches_stored_arn() {
        let desired = desired(&spec());
        let observed = ObservedDomain {
            kms_key_id: Some("k1".into()),
            ..observed_from(&desired)
        };
        assert!(aws_differences(&desired, &observed).is_empty());
    }

    #[test]
    fn only_a_spec_change_is_a_recreation_reason() {
        let created = immutable_settings(&spec(), "d");
        assert!(spec_changes(&immutable_settings(&spec(), "d"), &created).is_empty());
        let mut changed = spec();
        changed.network.vpc_id = "vpc-other".into();
        changed.encryption.kms_key_id = "alias/other".into();
        assert_eq!(
            spec_changes(&immutable_settings(&changed, "renamed"), &created),
            vec!["domainName", "network.vpcId", "encryption.kmsKeyId"]
        );
    }

    #[test]
    fn aws_differences_are_named_and_absent_fields_are_unknown() {
        let desired = desired(&spec());
        let observed = ObservedDomain {
            name: "old".into(),
            vpc_id: Some("vpc-other".into()),
            kms_key_id: Some("arn:aws:kms:us-east-1:123456789012:key/k2".into()),
            auth_mode: "SSO".into(),
            ..observed_from(&desired)
        };
        assert_eq!(
            aws_differences(&desired, &observed),
            vec!["domainName", "authMode", "network.vpcId", "encryption.kmsKeyId"]
        );
        let silent = ObservedDomain {
            name: String::new(),
            auth_mode: String::new(),
            vpc_id: None,
            kms_key_id: None,
            ..observed_from(&desired)
        };
        assert!(
            aws_differences(&desired, &silent).is_empty(),
            "nothing reported is nothing changed"
        );
    }

    #[test]
    fn an_approval_matches_only_its_own_request_and_token() {
        let request = ApprovalRequest {
            token: String::new(),
            action: "recreate domain d-1".into(),
            deletes: vec!["user profile alice".into()],
        };
        let pending = ApprovalRequest {
            token: "t0k3n".into(),
            ..request.clone()
        };
        assert!(approves(Some("t0k3n"), Some(&pending), &request));
        assert!(
            !approves(Some("3"), Some(&pending), &request),
            "a generation is no token"
        );
        assert!(!approves(Some("t0k3n"), None, &request), "no request was made");
        let grown = ApprovalRequest {
            deletes: vec!["user profile alice".into(), "user profile bob".into()],
            ..request.clone()
        };
        assert!(!approves(Some("t0k3n"), Some(&pending), &grown), "the request changed");
    }

    #[test]
    fn settings_and_subnets_are_updated_in_place() {
        let mut changed = spec();
        changed.default_user_settings = UserSettings {
            execution_role: Some("arn:aws:iam::123456789012:role/y".into()),
            ..Default::default()
        };
        changed.network = NetworkSpec {
            subnet_ids: vec![
                "subnet-1111aaaa".into(),
                "subnet-2222bbbb".into(),
                "subnet-3333cccc".into(),
            ],
            ..changed.network
        };
        let before = desired(&spec());
        let after = desired(&changed);
        let diff = mutable_diff(&after, &observed_from(&before), &[]);
        assert_eq!(
            diff.fields,
            vec!["defaultUserSettings.executionRole", "network.subnetIds"]
        );
        assert!(
            diff.needs_stopped_apps.is_empty(),
            "adding a subnet needs no stopped apps"
        );
        assert_eq!(
            diff.update.default_user_settings.unwrap()["ExecutionRole"],
            "arn:aws:iam::123456789012:role/y"
        );
    }

    #[test]
    fn access_type_change_needs_stopped_apps_and_sends_vpc_and_subnets() {
        let mut changed = spec();
        changed.network.access_type = AccessType::VpcOnly;
        let before = desired(&spec());
        let after = desired(&changed);
        let diff = mutable_diff(&after, &observed_from(&before), &[]);
        assert_eq!(diff.needs_stopped_apps, vec!["network.accessType"]);
        assert_eq!(diff.update.vpc_id.as_deref(), Some("vpc-0a1b2c3d"));
        assert!(diff.update.subnet_ids.is_some());
    }

    #[test]
    fn subnet_removal_needs_stopped_apps() {
        let mut changed = spec();
        changed.network.subnet_ids.truncate(1);
        let before = desired(&spec());
        let after = desired(&changed);
        assert_eq!(
            mutable_diff(&after, &observed_from(&before), &[]).needs_stopped_apps,
            vec!["network.subnetIds"]
        );
    }

    #[test]
    fn recreation_policy_and_adoption() {
        use RecreationDecision::*;
        assert_eq!(recreation_decision(RecreationPolicy::Recreate, false, false), Proceed);
        assert_eq!(
            recreation_decision(RecreationPolicy::Recreate, true, false),
            AwaitApproval
        );
        assert_eq!(
            recreation_decision(RecreationPolicy::Manual, false, false),
            AwaitApproval
        );
        assert_eq!(recreation_decision(RecreationPolicy::Manual, false, true), Proceed);
        assert_eq!(recreation_decision(RecreationPolicy::Never, false, true), Refuse);
    }

    #[test]
    fn encryption_spec_is_required_text() {
        let spec = EncryptionSpec {
            kms_key_id: "alias/aws/sagemaker".into(),
        };
        assert!(check_key_reference(&spec.kms_key_id).is_err());
    }
}
