//! Types shared by every kind: where in AWS, which domain, what deletion means, and status.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Where in AWS a domain lives: the region, and optionally a role to assume for another account.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, Hash)]
#[serde(rename_all = "camelCase")]
pub struct AwsTarget {
    /// AWS region of the domain, for example `eu-central-1`.
    #[x_kube(validation = Rule::new("self.matches('^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]{1,2}$')").message("must be an AWS region name such as us-east-1 or eu-central-1"))]
    #[schemars(length(max = 32))]
    pub region: String,
    /// IAM role to assume (through STS) for every call about this domain, so one operator can
    /// manage domains in several accounts. Without it the operator's own credentials are used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self.matches('^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}$')").message("must be an IAM role ARN such as arn:aws:iam::123456789012:role/studio-admin"))]
    #[schemars(length(max = 2048))]
    pub role_arn: Option<String>,
}

/// A reference to a StudioDomain resource.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, Hash)]
#[serde(rename_all = "camelCase")]
pub struct DomainRef {
    /// Name of the StudioDomain resource.
    #[x_kube(validation = Rule::new("self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')").message("must be the name of a StudioDomain resource (lower case letters, digits and '-')"))]
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Namespace of the StudioDomain; defaults to the referring resource's namespace. A domain in
    /// another namespace must allow the referring namespace in `spec.tenancy.allowedNamespaces`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63))]
    pub namespace: Option<String>,
}

impl DomainRef {
    /// `namespace/name` of the referenced StudioDomain, seen from `referrer_namespace`.
    pub fn key(&self, referrer_namespace: &str) -> String {
        format!(
            "{}/{}",
            self.namespace.as_deref().unwrap_or(referrer_namespace),
            self.name
        )
    }
}

/// What happens in AWS when the Kubernetes resource is deleted.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum DeletionPolicy {
    /// Delete the AWS resource (and, in order, what blocks its deletion).
    #[default]
    Delete,
    /// Leave the AWS resource as it is; only the operator's ownership tags are removed.
    Retain,
}

/// The settings paths the operator manages (what the spec sets) and the ones AWS holds that it
/// does not manage. Paths use the API's member names (`DefaultUserSettings.JupyterLabAppSettings.CustomImages`).
/// An update changes managed paths only and carries every other member over unchanged; a path
/// that leaves the spec is reset in AWS only if it was managed; drift is corrected on managed
/// paths only.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SettingsStatus {
    /// The paths the spec sets, as last applied.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub managed_paths: Vec<String>,
    /// Paths AWS holds a value for that the spec does not manage (set in the console, by
    /// another tool, or by AWS's defaults): carried over by updates, never corrected. At most 100.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 100))]
    pub unmanaged_paths: Vec<String>,
}

/// A destructive action that waits for a person: what it would delete, and the token the
/// approval annotation must carry. The token is bound to exactly this request (it changes when
/// the request does) and is used once; an approval written in advance cannot match it.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalRequest {
    /// The token to approve with.
    pub token: String,
    /// What the approval lets the operator do.
    pub action: String,
    /// Everything it deletes in AWS.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deletes: Vec<String>,
}

/// The data of spaces (their EBS home directories) that a deletion or recreation would destroy:
/// what the gate before every DeleteSpace waits for, and what a person approved to lose.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SpaceDataStatus {
    /// The data-loss approval that waits, with its token
    /// (`kubectl annotate KIND NAME studio-operator.io/approve-data-loss=TOKEN`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_approval: Option<ApprovalRequest>,
    /// Spaces whose data loss was approved: they are deleted without a current backup.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approved_loss: Vec<String>,
    /// Spaces deleted with a backup, name -> the S3 prefix it is restored from when the space is
    /// created again (its `restore-from` tag).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub backups: BTreeMap<String, String>,
    /// Of those, the spaces made outside the operator (in the Studio UI) that a profile's
    /// recreation deleted: made again as they were for the new profile, restored from `backups`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub unmanaged_spaces: BTreeMap<String, super::UnmanagedSpace>,
}

/// Condition types, shared by every kind so GitOps tools (kstatus, Argo CD) read them alike.
pub mod condition_type {
    /// The resource is what its spec asks for, in AWS and in the cluster.
    pub const READY: &str = "Ready";
    /// The operator is working towards the spec (kstatus: InProgress).
    pub const RECONCILING: &str = "Reconciling";
    /// The operator cannot make progress without a change by a person (kstatus: Failed).
    pub const STALLED: &str = "Stalled";
    /// AWS matches the spec.
    pub const SYNCED: &str = "Synced";
    /// The KMS key of the domain is usable: customer managed, enabled, symmetric.
    pub const KMS_KEY_VALID: &str = "KmsKeyValid";
    /// An update waits because apps are running.
    pub const UPDATE_BLOCKED: &str = "UpdateBlocked";
    /// The domain is being recreated because an immutable setting changed.
    pub const RECREATING: &str = "Recreating";
    /// AWS holds other immutable settings than the domain was created with, without a spec
    /// change (a KMS alias pointed at another key): reported, never acted on.
    pub const AWS_DRIFT: &str = "AwsDrift";
    /// The activity reporter's lifecycle configurations are attached to the domain.
    pub const ACTIVITY_REPORTER: &str = "ActivityReporter";
    /// The referenced domain is Ready.
    pub const DOMAIN_READY: &str = "DomainReady";
    /// The spec breaks a Guardrail rule.
    pub const GUARDRAIL_VIOLATION: &str = "GuardrailViolation";
    /// A deletion of spaces waits for their backups, or for a data-loss approval.
    pub const BACKUP_PENDING: &str = "BackupPending";
    /// A deletion waits: settings still refer to the resource, or AWS reports it in use.
    pub const DELETION_BLOCKED: &str = "DeletionBlocked";
    /// The domain's tenancy selector names namespaces only by what nobody can change
    /// (`kubernetes.io/metadata.name`): False when another label could let a namespace join.
    pub const TENANCY_SELECTOR: &str = "TenancySelector";
}

/// The JSON schema override for a condition list: a list-map keyed by `type`, so server-side
/// apply merges conditions by type.
pub fn conditions_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let mut schema = generator.subschema_for::<Vec<Condition>>();
    schema.insert("x-kubernetes-list-type".into(), "map".into());
    schema.insert("x-kubernetes-list-map-keys".into(), serde_json::json!(["type"]));
    schema
}
