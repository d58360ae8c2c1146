//! `Guardrail`: the whitepaper's guardrails as cluster policy, enforced at reconcile, at runtime
//! and rendered as IAM / SCP policies.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, LabelSelector};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::conditions_schema;
use super::domain::AuthMode;
use super::settings::AppType;

/// Rules for the Studio domains, profiles and spaces it selects.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "studio-operator.io",
    version = "v1alpha1",
    kind = "Guardrail",
    shortname = "gr",
    // The name becomes a label value (at most 63 characters) on the rendered policy ConfigMap.
    validation = Rule::new("size(self.metadata.name) <= 63").message("metadata.name must be at most 63 characters"),
    category = "studio",
    status = "GuardrailStatus",
    doc = "Guardrails from the Studio administration whitepaper, enforced by the operator.",
    printcolumn(name = "Enforcement", type_ = "string", json_path = ".spec.enforcement"),
    printcolumn(name = "Violations", type_ = "integer", json_path = ".status.violationCount"),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
pub struct GuardrailSpec {
    /// Which resources the rules apply to; empty selects every StudioDomain in every namespace.
    #[serde(default)]
    pub selector: GuardrailSelector,
    /// `Enforce` blocks and stops what breaks a rule; `Audit` only reports it.
    #[serde(default)]
    pub enforcement: Enforcement,
    /// The rules.
    #[serde(default)]
    pub rules: GuardrailRules,
}

/// Selects namespaces and StudioDomains.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct GuardrailSelector {
    /// Namespaces whose resources the guardrail covers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("!has(self.matchExpressions) || self.matchExpressions.all(e, e.operator in ['In', 'NotIn', 'Exists', 'DoesNotExist'] && ((e.operator == 'In' || e.operator == 'NotIn') == (has(e.values) && size(e.values) > 0)))").message("selector operator must be In, NotIn, Exists or DoesNotExist; In and NotIn need values, Exists and DoesNotExist take none"))]
    pub namespace_selector: Option<LabelSelector>,
    /// StudioDomains (by label) the guardrail covers, with their profiles and spaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("!has(self.matchExpressions) || self.matchExpressions.all(e, e.operator in ['In', 'NotIn', 'Exists', 'DoesNotExist'] && ((e.operator == 'In' || e.operator == 'NotIn') == (has(e.values) && size(e.values) > 0)))").message("selector operator must be In, NotIn, Exists or DoesNotExist; In and NotIn need values, Exists and DoesNotExist take none"))]
    pub domain_selector: Option<LabelSelector>,
}

/// `Enforce` or `Audit`.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Enforcement {
    /// Nothing that breaks a rule is created or changed in AWS; offending apps are stopped.
    #[default]
    Enforce,
    /// Violations are reported only.
    Audit,
}

/// The guardrail rules of the whitepaper.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct GuardrailRules {
    /// Domains must use a customer managed KMS key (always true for this operator's domains; also
    /// rendered into the IAM policy as `sagemaker:VolumeKmsKey`).
    #[serde(default)]
    pub require_customer_managed_key: bool,
    /// Domains must use `VpcOnly` network access.
    #[serde(default)]
    pub require_vpc_only: bool,
    /// Allowed authentication modes; empty allows both.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_auth_modes: Vec<AuthMode>,
    /// Allowed instance types as globs (e.g. `ml.t3.*`); `system` is always allowed. Empty allows all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 100))]
    pub allowed_instance_types: Vec<String>,
    /// Allowed SageMaker image ARNs as globs. Empty allows all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 100))]
    pub allowed_images: Vec<String>,
    /// Allowed execution roles as ARN globs (e.g. `arn:aws:iam::123456789012:role/studio-*`):
    /// checked where a role is set (the domain's user and space defaults, profiles). Empty
    /// allows all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 100))]
    pub allowed_execution_roles: Vec<String>,
    /// Allowed `spec.aws.roleArn` of StudioDomains as ARN globs: the accounts a covered domain
    /// may act in. A domain without a role (the operator's own account) is allowed. Empty allows
    /// all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 100))]
    pub allowed_aws_roles: Vec<String>,
    /// Allowed `spec.spaceBackup.s3Uri` of StudioDomains as globs (`*` matches any characters,
    /// `/` included), e.g. `s3://ml-backups/team-a` and `s3://ml-backups/team-a/*`: where the
    /// space-backup agent may send users' home directories. A domain without `spaceBackup` is
    /// allowed. Under Enforce no agent is installed for, and no backup is expired under, a
    /// location not allowed. Empty allows all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 100))]
    #[x_kube(validation = Rule::new("self.all(l, l.startsWith('s3://'))").message("allowedBackupLocations must be s3:// URIs such as s3://ml-backups/team-a/*"))]
    pub allowed_backup_locations: Vec<String>,
    /// Tag keys that must be present, per kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required_tags: Option<RequiredTags>,
    /// Idle shutdown requirements for domains.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_shutdown: Option<IdleShutdownRule>,
    /// Maximum uptime of any app in hours, whatever its activity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 8760))]
    pub max_app_lifetime_hours: Option<i32>,
    /// Whether the `studio-operator.io/keep-alive=true` tag may exempt apps from idle shutdown.
    #[serde(default)]
    pub allow_keep_alive: bool,
    /// For the rendered IAM policies only: networks (CIDRs) allowed to open Studio. Public ranges
    /// are matched against `aws:SourceIp`, private ones (RFC 1918, RFC 6598, IPv6 ULA) against
    /// `aws:VpcSourceIp`, the address a request made through a VPC endpoint comes from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64), inner(length(max = 43)))]
    #[x_kube(validation = Rule::new("self.all(c, isCIDR(c))").message("allowedSourceCidrs must be CIDRs such as 203.0.113.0/24 or 10.0.0.0/8"))]
    pub allowed_source_cidrs: Vec<String>,
    /// For the rendered IAM policies only: VPC endpoints allowed to open Studio.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_vpc_endpoints: Vec<String>,
    /// Allowed app types; empty allows all. `JupyterServer` (the Studio Classic UI) always is.
    /// Spaces of other types are refused, running apps of other types stopped (Enforce), and
    /// the types are hidden in the Studio UI of the domains covered.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_app_types: Vec<AppType>,
}

/// Required tag keys per kind.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RequiredTags {
    /// Keys every StudioDomain must carry.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub domain: Vec<String>,
    /// Keys every UserProfile must carry (e.g. `studiouserid`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub user_profile: Vec<String>,
    /// Keys every SharedSpace must carry.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shared_space: Vec<String>,
}

/// Idle shutdown requirements.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct IdleShutdownRule {
    /// Domains must enable idle shutdown.
    #[serde(default)]
    pub required: bool,
    /// Highest idle timeout allowed at any level, in minutes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 60, max = 525600))]
    pub max_idle_timeout_minutes: Option<i32>,
}

/// Observed state of a Guardrail.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
// Defaulted to generation 0, so kstatus (Flux) and Argo CD see a new resource InProgress until
// the operator has reconciled it, instead of Current for lack of a status.
#[schemars(extend("default" = {"observedGeneration": 0}))]
pub struct GuardrailStatus {
    /// The metadata.generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Ready, Reconciling, Stalled.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "conditions_schema")]
    pub conditions: Vec<Condition>,
    /// StudioDomains (namespace/name) the guardrail selects.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub matched_domains: Vec<String>,
    /// Number of current violations (the list below is capped at 50).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub violation_count: Option<i32>,
    /// Current violations, at most 50.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 50))]
    pub violations: Vec<Violation>,
    /// Apps stopped because of this guardrail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apps_stopped: Option<i64>,
}

/// A resource that breaks a rule.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Violation {
    /// Kind of the resource (or `App`).
    pub kind: String,
    /// namespace/name of the resource, or the app's ARN.
    pub name: String,
    /// The rule broken.
    pub rule: String,
    /// The offending value.
    pub value: String,
}
