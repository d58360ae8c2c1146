//! The domain's rules, as pure functions: is the key usable, what CreateDomain sends, what
//! differs between spec and AWS, what can be updated in place and what forces a recreation.

use std::collections::BTreeMap;

use crate::api::{
    self, AccessType, ApprovalRequest, AuthMode, ExecutionRoleIdentity, ImmutableSettings, RecreationPolicy,
    StudioDomainSpec,
};
use crate::aws::model::{AppSettings, AppSummary, DomainCreate, DomainUpdate, KeyInfo, ObservedDomain};
use crate::controller::desired;

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

fn role_identity(identity: ExecutionRoleIdentity) -> &'static str {
    match identity {
        ExecutionRoleIdentity::UserProfileName => "USER_PROFILE_NAME",
        ExecutionRoleIdentity::Disabled => "DISABLED",
    }
}

/// What CreateDomain sends for this spec. `key_arn` is the verified key; `tags` are the user's tags
/// plus the ownership tags.
pub fn desired_domain(
    spec: &StudioDomainSpec,
    name: String,
    key_arn: String,
    tags: BTreeMap<String, String>,
) -> DomainCreate {
    let idle = desired::domain_idle(spec.idle_shutdown.as_ref());
    DomainCreate {
        name,
        auth_mode: auth_mode(spec.auth_mode).into(),
        vpc_id: spec.network.vpc_id.clone(),
        subnet_ids: spec.network.subnet_ids.clone(),
        access_type: access_type(spec.network.access_type).into(),
        kms_key_id: key_arn,
        security_group_ids: spec.network.security_group_ids.clone(),
        execution_role_identity: role_identity(spec.execution_role_identity).into(),
        tag_propagation: spec.tag_propagation,
        default_user_settings: desired::user_settings(&spec.default_user_settings, idle.clone()),
        default_space_settings: desired::space_defaults(spec.default_space_settings.as_ref(), idle),
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

/// An in-place update: what to send, which spec fields it corrects, and which of them AWS
/// accepts only while no app runs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MutableDiff {
    /// The UpdateDomain call.
    pub update: DomainUpdate,
    /// Spec fields that differ.
    pub fields: Vec<&'static str>,
    /// Fields that need all apps stopped (access type change, subnet removal).
    pub needs_stopped_apps: Vec<&'static str>,
}

/// Compares the updatable settings.
pub fn mutable_diff(desired: &DomainCreate, observed: &ObservedDomain) -> MutableDiff {
    let mut diff = MutableDiff::default();
    if desired.default_user_settings != observed.default_user_settings {
        let mut update = desired.default_user_settings.clone();
        let was = &observed.default_user_settings;
        clear_removed(&mut update.jupyter_lab, &was.jupyter_lab);
        clear_removed(&mut update.code_editor, &was.code_editor);
        clear_removed(&mut update.kernel_gateway, &was.kernel_gateway);
        diff.update.default_user_settings = Some(update);
        diff.fields.push("defaultUserSettings");
    }
    if desired.default_space_settings != observed.default_space_settings {
        let mut update = desired.default_space_settings.clone().unwrap_or_default();
        if let Some(was) = &observed.default_space_settings {
            clear_removed(&mut update.jupyter_lab, &was.jupyter_lab);
            clear_removed(&mut update.kernel_gateway, &was.kernel_gateway);
        }
        diff.update.default_space_settings = Some(update);
        diff.fields.push("defaultSpaceSettings");
    }
    let mut desired_subnets = desired.subnet_ids.clone();
    let mut observed_subnets = observed.subnet_ids.clone();
    desired_subnets.sort();
    observed_subnets.sort();
    if desired_subnets != observed_subnets {
        diff.update.subnet_ids = Some(desired.subnet_ids.clone());
        diff.fields.push("network.subnetIds");
        if observed_subnets.iter().any(|s| !desired_subnets.contains(s)) {
            diff.needs_stopped_apps.push("network.subnetIds");
        }
    }
    if observed.access_type.as_deref() != Some(desired.access_type.as_str()) {
        diff.update.access_type = Some(desired.access_type.clone());
        if desired.access_type == "VpcOnly" {
            // AWS requires VpcId and SubnetIds with a change to VpcOnly.
            diff.update.vpc_id = Some(desired.vpc_id.clone());
            diff.update.subnet_ids = Some(desired.subnet_ids.clone());
        }
        diff.fields.push("network.accessType");
        diff.needs_stopped_apps.push("network.accessType");
    }
    let mut desired_groups = desired.security_group_ids.clone();
    let mut observed_groups = observed.security_group_ids.clone();
    desired_groups.sort();
    observed_groups.sort();
    if desired_groups != observed_groups {
        diff.update.security_group_ids = Some(desired.security_group_ids.clone());
        diff.fields.push("network.securityGroupIds");
    }
    if observed.execution_role_identity.as_deref().unwrap_or("DISABLED") != desired.execution_role_identity {
        diff.update.execution_role_identity = Some(desired.execution_role_identity.clone());
        diff.fields.push("executionRoleIdentity");
    }
    if observed.tag_propagation != desired.tag_propagation {
        diff.update.tag_propagation = Some(desired.tag_propagation);
        diff.fields.push("tagPropagation");
    }
    diff
}

/// UpdateDomain leaves omitted members unchanged, so app settings removed from the spec are sent
/// as an explicit empty structure (empty lists clear, per the API docs).
fn clear_removed(update: &mut Option<AppSettings>, observed: &Option<AppSettings>) {
    if update.is_none() && observed.is_some() {
        *update = Some(AppSettings::default());
    }
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

/// What a deletion leaves of the EFS volume.
pub fn retain_efs(spec: &StudioDomainSpec) -> bool {
    spec.efs_retention == api::EfsRetention::Retain
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{EncryptionSpec, NetworkSpec, UserSettings};

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
            security_group_ids: desired.security_group_ids.clone(),
            execution_role_identity: Some(desired.execution_role_identity.clone()),
            tag_propagation: desired.tag_propagation,
            default_user_settings: desired.default_user_settings.clone(),
            default_space_settings: desired.default_space_settings.clone(),
            ..Default::default()
        }
    }

    #[test]
    fn app_settings_removed_from_the_spec_are_cleared_explicitly() {
        let desired = desired_domain(&spec(), "d".into(), key().arn, BTreeMap::new());
        let mut observed = observed_from(&desired);
        observed.default_user_settings.kernel_gateway = Some(AppSettings {
            lifecycle_config_arns: vec!["arn:lcc".into()],
            ..Default::default()
        });
        let diff = mutable_diff(&desired, &observed);
        let update = diff.update.default_user_settings.unwrap();
        assert_eq!(update.kernel_gateway, Some(AppSettings::default()));
        assert_eq!(update.jupyter_lab, None);
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
        let desired = desired_domain(&spec(), "d".into(), key().arn, BTreeMap::new());
        let observed = observed_from(&desired);
        assert!(aws_differences(&desired, &observed).is_empty());
        let diff = mutable_diff(&desired, &observed);
        assert!(diff.update.is_empty(), "{diff:?}");
        assert!(diff.fields.is_empty());
    }

    #[test]
    fn key_given_as_id_matches_stored_arn() {
        let desired = desired_domain(&spec(), "d".into(), key().arn, BTreeMap::new());
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
        let desired = desired_domain(&spec(), "d".into(), key().arn, BTreeMap::new());
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
        let before = desired_domain(&spec(), "d".into(), key().arn, BTreeMap::new());
        let after = desired_domain(&changed, "d".into(), key().arn, BTreeMap::new());
        let diff = mutable_diff(&after, &observed_from(&before));
        assert_eq!(diff.fields, vec!["defaultUserSettings", "network.subnetIds"]);
        assert!(
            diff.needs_stopped_apps.is_empty(),
            "adding a subnet needs no stopped apps"
        );
        assert_eq!(
            diff.update.default_user_settings.unwrap().execution_role.as_deref(),
            Some("arn:aws:iam::123456789012:role/y")
        );
    }

    #[test]
    fn access_type_change_needs_stopped_apps_and_sends_vpc_and_subnets() {
        let mut changed = spec();
        changed.network.access_type = AccessType::VpcOnly;
        let before = desired_domain(&spec(), "d".into(), key().arn, BTreeMap::new());
        let after = desired_domain(&changed, "d".into(), key().arn, BTreeMap::new());
        let diff = mutable_diff(&after, &observed_from(&before));
        assert_eq!(diff.needs_stopped_apps, vec!["network.accessType"]);
        assert_eq!(diff.update.vpc_id.as_deref(), Some("vpc-0a1b2c3d"));
        assert!(diff.update.subnet_ids.is_some());
    }

    #[test]
    fn subnet_removal_needs_stopped_apps() {
        let mut changed = spec();
        changed.network.subnet_ids.truncate(1);
        let before = desired_domain(&spec(), "d".into(), key().arn, BTreeMap::new());
        let after = desired_domain(&changed, "d".into(), key().arn, BTreeMap::new());
        assert_eq!(
            mutable_diff(&after, &observed_from(&before)).needs_stopped_apps,
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
