//! `StudioDomain`: one SageMaker AI Studio domain, its network, encryption and defaults.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, LabelSelector};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{ApprovalRequest, AwsTarget, DeletionPolicy, SettingsStatus, SpaceDataStatus, conditions_schema};
use super::settings::{
    AppSecurityGroupManagement, DefaultSpaceSettings, DomainSettings, HomeEfsFileSystemCreation, UserSettings,
};

/// A SageMaker AI Studio domain: one home file system (EFS), the network it runs in, the KMS key
/// that encrypts it, and the defaults its users and spaces inherit.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "studio-operator.io",
    version = "v1alpha1",
    kind = "StudioDomain",
    namespaced,
    shortname = "sd",
    category = "studio",
    status = "StudioDomainStatus",
    doc = "A SageMaker AI Studio domain, reconciled continuously against AWS with its KMS key verified.",
    printcolumn(name = "Domain ID", type_ = "string", json_path = ".status.domainId"),
    printcolumn(name = "Status", type_ = "string", json_path = ".status.awsStatus"),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Message",
        type_ = "string",
        priority = "1",
        json_path = ".status.conditions[?(@.type==\"Ready\")].message"
    ),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(self.idleShutdown) || !has(self.defaultUserSettings.jupyterLab) || !has(self.defaultUserSettings.jupyterLab.idle)").message("set the domain's idle timeout in spec.idleShutdown, not in defaultUserSettings.jupyterLab.idle"))]
#[x_kube(validation = Rule::new("!has(self.idleShutdown) || ((!has(self.defaultUserSettings.codeEditor) || !has(self.defaultUserSettings.codeEditor.idle)) && (!has(self.defaultUserSettings.jupyterLabAppSettings) || !has(self.defaultUserSettings.jupyterLabAppSettings.appLifecycleManagement)) && (!has(self.defaultUserSettings.codeEditorAppSettings) || !has(self.defaultUserSettings.codeEditorAppSettings.appLifecycleManagement)))").message("set the domain's idle timeouts in spec.idleShutdown, not in the app settings of defaultUserSettings"))]
#[x_kube(validation = Rule::new("!has(self.idleShutdown) || !has(self.defaultSpaceSettings) || ((!has(self.defaultSpaceSettings.jupyterLab) || !has(self.defaultSpaceSettings.jupyterLab.idle)) && (!has(self.defaultSpaceSettings.jupyterLabAppSettings) || !has(self.defaultSpaceSettings.jupyterLabAppSettings.appLifecycleManagement)))").message("set the domain's idle timeouts in spec.idleShutdown, not in the app settings of defaultSpaceSettings"))]
pub struct StudioDomainSpec {
    /// Name of the domain in AWS (`DomainName`); defaults to metadata.name. Changing it recreates
    /// the domain (see `recreationPolicy`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self.matches('^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$')").message("must be 1-63 letters, digits and '-', starting and ending with a letter or digit"))]
    #[schemars(length(max = 63))]
    pub domain_name: Option<String>,
    /// AWS region and optional role to assume. Fixed at creation: a domain never moves to another
    /// region or account (it would be left behind unmanaged).
    #[x_kube(validation = Rule::new("self == oldSelf").message("spec.aws cannot change after creation: create a new StudioDomain for another region or account (and delete this one)"))]
    pub aws: AwsTarget,
    /// How users sign in (`AuthMode`). Changing it recreates the domain.
    #[serde(default)]
    pub auth_mode: AuthMode,
    /// The VPC the domain runs in.
    pub network: NetworkSpec,
    /// Encryption of the domain's storage with a customer managed KMS key.
    pub encryption: EncryptionSpec,
    /// Defaults for every user profile (`DefaultUserSettings`). `executionRole` is required.
    #[x_kube(validation = Rule::new("has(self.executionRole)").message("defaultUserSettings.executionRole is required: the IAM role users' apps run as"))]
    pub default_user_settings: UserSettings,
    /// Defaults for shared spaces (`DefaultSpaceSettings`); shared spaces need its `executionRole`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_space_settings: Option<DefaultSpaceSettings>,
    /// Settings of the domain itself (`DomainSettings`): RStudio, trusted identity propagation,
    /// Docker, Amazon Q, Unified Studio, IP address type. Its `SecurityGroupIds` are
    /// `network.securityGroupIds`, its `ExecutionRoleIdentityConfig` is `executionRoleIdentity`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain_settings: Option<DomainSettings>,
    /// Identity recorded in CloudTrail for calls made by a shared execution role
    /// (`DomainSettings.ExecutionRoleIdentityConfig`).
    #[serde(default)]
    pub execution_role_identity: ExecutionRoleIdentity,
    /// Who manages the security groups of RStudio apps in a VpcOnly domain
    /// (`AppSecurityGroupManagement`; only for domains with RStudio).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_security_group_management: Option<AppSecurityGroupManagement>,
    /// Whether the domain has a home EFS volume (`HomeEfsFileSystemCreation`, default Enabled).
    /// AWS allows a change from Disabled to Enabled only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("oldSelf != 'Enabled' || self == 'Enabled'").message("homeEfsFileSystemCreation can change from Disabled to Enabled only"))]
    pub home_efs_file_system_creation: Option<HomeEfsFileSystemCreation>,
    /// Propagate the domain's tags to resources created in Studio (`TagPropagation`).
    #[serde(default)]
    pub tag_propagation: bool,
    /// Tags on the domain (at most 40: the operator adds its own ownership tags).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[x_kube(validation = Rule::new("self.all(k, !k.startsWith('aws:') && !k.startsWith('sagemaker:') && !k.startsWith('studio-operator.io/'))").message("tag keys starting with aws:, sagemaker: or studio-operator.io/ are reserved"))]
    #[x_kube(validation = Rule::new("self.all(k, size(k) <= 128 && size(self[k]) <= 256)").message("tag keys must be at most 128 and tag values at most 256 characters"))]
    #[schemars(extend("maxProperties" = 40))]
    pub tags: BTreeMap<String, String>,
    /// What happens in AWS when this resource is deleted.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,
    /// Whether the home EFS volume survives the deletion of the domain
    /// (`RetentionPolicy.HomeEfsFileSystem`). Recreation always retains it.
    #[serde(default)]
    pub efs_retention: EfsRetention,
    /// What to do when an immutable setting (domainName, authMode, network.vpcId,
    /// encryption.kmsKeyId) changes.
    #[serde(default)]
    pub recreation_policy: RecreationPolicy,
    /// How updates that AWS allows only while no app runs are carried out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_policy: Option<UpdatePolicy>,
    /// Take over an existing domain instead of creating one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adopt: Option<AdoptDomain>,
    /// Which other namespaces may create profiles and spaces in this domain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenancy: Option<Tenancy>,
    /// Automatic shutdown of idle apps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_shutdown: Option<IdleShutdown>,
    /// Backup of the spaces' home directories (the per-space EBS volumes of JupyterLab and Code
    /// Editor, which DeleteSpace destroys) to S3, and their restore after a recreation. Without
    /// it, deleting or recreating such a space needs an explicit data-loss approval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub space_backup: Option<SpaceBackup>,
}

/// Backup and restore of space storage by an in-app agent (the whitepaper's backup option 2),
/// and the gate that holds every deletion of a space until its backup is current.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SpaceBackup {
    /// Where backups go, `s3://bucket/prefix` (no trailing `/`). A space's backup lives under
    /// `<s3Uri>/<cluster id>/<namespace>/<StudioDomain name>/<space name>/`, a key that stays the
    /// same across a recreation so that the new space finds its predecessor's data.
    /// The prefix takes letters, digits and `_.-/` only: a space's backup location is also the
    /// value of its `restore-from` tag, which SageMaker holds to fewer characters than S3 keys.
    #[x_kube(validation = Rule::new("self.matches('^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/[A-Za-z0-9_./-]*[A-Za-z0-9_.-])?$')").message("must be s3://bucket or s3://bucket/prefix without a trailing '/' (prefix: letters, digits and _.-/, which both S3 keys and SageMaker tag values take)"))]
    #[schemars(length(max = 256))]
    pub s3_uri: String,
    /// The customer managed KMS key for SSE-KMS (key ARN, key id, alias name or alias ARN),
    /// verified like the domain's key: enabled, symmetric, customer managed.
    #[x_kube(validation = Rule::new("self.matches('^(arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:(key|alias)/[A-Za-z0-9/_-]+|alias/[A-Za-z0-9/_-]+|[0-9a-f-]{36}|mrk-[0-9a-f]{32})$')").message("must be a KMS key ARN, key id, alias/NAME or alias ARN"))]
    #[schemars(length(max = 2048))]
    pub kms_key_id: String,
    /// How often a running app's home is backed up when it changed, 1 to 1440 minutes.
    #[serde(default = "default_backup_minutes")]
    #[schemars(range(min = 1, max = 1440))]
    pub interval_minutes: i32,
    /// How long the operator waits for the final backup it asked a running app for before a
    /// space is deleted (then the space needs the data-loss approval), 1 to 120 minutes.
    #[serde(default = "default_backup_minutes")]
    #[schemars(range(min = 1, max = 120))]
    pub final_backup_timeout_minutes: i32,
    /// What happens to the backup of a space that is gone for good (deleted, and no space of
    /// that name exists in the domain or is declared for it): `Retain` keeps it in S3; `<N>d`
    /// (1 to 9999 days) has the operator delete it N days after it first saw the space gone.
    /// Backups that a recreation restores from are never retired.
    #[serde(default)]
    pub retention: BackupRetention,
}

fn default_backup_minutes() -> i32 {
    15
}

/// What happens to a deleted space's backup; spelled `Retain` or `<days>d` in the spec.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BackupRetention {
    /// Kept in S3.
    #[default]
    Retain,
    /// Deleted this many days after the space is gone for good.
    Days(u16),
}

impl BackupRetention {
    /// The most days `<N>d` may say (four digits, as the schema's pattern allows).
    pub const MAX_DAYS: u16 = 9999;
}

impl std::fmt::Display for BackupRetention {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BackupRetention::Retain => f.write_str("Retain"),
            BackupRetention::Days(days) => write!(f, "{days}d"),
        }
    }
}

impl std::str::FromStr for BackupRetention {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text == "Retain" {
            return Ok(BackupRetention::Retain);
        }
        text.strip_suffix('d')
            .filter(|days| !days.starts_with('0'))
            .and_then(|days| days.parse::<u16>().ok())
            .filter(|days| (1..=Self::MAX_DAYS).contains(days))
            .map(BackupRetention::Days)
            .ok_or_else(|| format!("retention must be Retain or 1d to {}d, not {text:?}", Self::MAX_DAYS))
    }
}

impl Serialize for BackupRetention {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for BackupRetention {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for BackupRetention {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "BackupRetention".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^(Retain|[1-9][0-9]{0,3}d)$",
        })
    }
}

/// `AuthMode` of a domain.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum AuthMode {
    /// Users open Studio through a presigned URL (IAM).
    #[default]
    #[serde(rename = "IAM")]
    Iam,
    /// Users sign in with IAM Identity Center.
    #[serde(rename = "SSO")]
    Sso,
}

impl AuthMode {
    /// As the spec spells it (`IAM`, `SSO`), for messages.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMode::Iam => "IAM",
            AuthMode::Sso => "SSO",
        }
    }
}

/// The domain's network.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct NetworkSpec {
    /// VPC of the domain (`VpcId`). Changing it recreates the domain.
    #[x_kube(validation = Rule::new("self.matches('^vpc-[0-9a-f]{8,17}$')").message("must be a VPC id such as vpc-0123456789abcdef0"))]
    #[schemars(length(max = 32))]
    pub vpc_id: String,
    /// Subnets of the domain (`SubnetIds`, 1 to 16). Subnets can be added at any time; removing
    /// one waits until no app runs.
    #[x_kube(validation = Rule::new("self.all(s, s.matches('^subnet-[0-9a-f]{8,17}$'))").message("each entry must be a subnet id such as subnet-0123456789abcdef0"))]
    #[schemars(length(min = 1, max = 16), inner(length(max = 64)), extend("x-kubernetes-list-type" = "set"))]
    pub subnet_ids: Vec<String>,
    /// Whether apps reach the internet directly or only through the VPC (`AppNetworkAccessType`).
    #[serde(default)]
    pub access_type: AccessType,
    /// Security groups of the domain boundary (`DomainSettings.SecurityGroupIds`, at most 3).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(validation = Rule::new("self.all(g, g.matches('^sg-[0-9a-f]{8,17}$'))").message("each entry must be a security group id such as sg-0123456789abcdef0"))]
    #[schemars(length(max = 3), inner(length(max = 64)), extend("x-kubernetes-list-type" = "set"))]
    pub security_group_ids: Vec<String>,
}

/// `AppNetworkAccessType`.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum AccessType {
    /// Apps reach the internet through SageMaker's network.
    #[default]
    PublicInternetOnly,
    /// All traffic goes through the domain's VPC.
    VpcOnly,
}

/// Encryption at rest.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct EncryptionSpec {
    /// Customer managed KMS key for the domain's EFS and the apps' EBS volumes (`KmsKeyId`): key
    /// id, key ARN, alias (`alias/name`) or alias ARN. The operator verifies it is enabled,
    /// symmetric and customer managed before it creates anything. Changing it recreates the domain.
    #[x_kube(validation = Rule::new("!self.startsWith('alias/aws/') && !self.matches('^arn:aws[a-z-]*:kms:[^:]*:[0-9]*:alias/aws/.*$')").message("AWS managed keys (alias/aws/...) are not allowed: create a customer managed KMS key and name it here"))]
    #[x_kube(validation = Rule::new("self.matches('^[a-zA-Z0-9:/_-]+$')").message("must be a KMS key id, key ARN, alias/NAME or alias ARN"))]
    #[schemars(length(min = 1, max = 2048))]
    pub kms_key_id: String,
}

/// `DomainSettings.ExecutionRoleIdentityConfig`.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ExecutionRoleIdentity {
    /// CloudTrail records the user profile name as source identity (`USER_PROFILE_NAME`).
    UserProfileName,
    /// No source identity (`DISABLED`).
    #[default]
    Disabled,
}

/// `RetentionPolicy.HomeEfsFileSystem` on deletion.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EfsRetention {
    /// Keep the home EFS volume (users' files survive).
    #[default]
    Retain,
    /// Delete the home EFS volume with the domain.
    Delete,
}

/// What a change of an immutable setting does.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RecreationPolicy {
    /// Recreate the domain at once, keeping the old EFS volume and recording a migration plan.
    #[default]
    Recreate,
    /// Wait for the annotation `studio-operator.io/approve-recreation: "<generation>"`.
    Manual,
    /// Never recreate; report Stalled.
    Never,
}

/// Updates that need stopped apps.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct UpdatePolicy {
    /// Delete running apps so that a change of access type or a subnet removal can proceed;
    /// otherwise the update waits with condition UpdateBlocked.
    #[serde(default)]
    pub stop_apps: bool,
}

/// Adoption of an existing domain.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct AdoptDomain {
    /// Id of the existing domain (`d-…`). The operator tags it as its own and reconciles it to the
    /// spec, but never recreates an adopted domain without the approval annotation.
    #[x_kube(validation = Rule::new("self.matches('^d-[a-z0-9]{1,61}$')").message("must be a domain id such as d-abcdef123456"))]
    #[schemars(length(max = 63))]
    pub domain_id: String,
}

/// Cross-namespace use of the domain.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Tenancy {
    /// Namespaces (by label) whose UserProfiles and SharedSpaces may reference this domain. The
    /// domain's own namespace is always allowed; an empty selector allows every namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_namespaces: Option<LabelSelector>,
    /// Which AWS names members from other namespaces may claim. Profile and space names are
    /// first come, first served in a domain: `NamespacePrefix` keeps one tenant from claiming
    /// the name another tenant's user will open (`alice`), by requiring the `<namespace>-`
    /// prefix (and not the longer prefix of another existing namespace: `team` may not claim
    /// `team-a-alice`). Members of the domain's own namespace are not restricted.
    #[serde(default)]
    pub name_policy: NamePolicy,
}

/// The AWS names tenants may give their profiles and spaces.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum NamePolicy {
    /// Any name not taken yet.
    #[default]
    Any,
    /// Names that start with the member's namespace and a dash (`team-a-alice`).
    NamespacePrefix,
}

/// Idle shutdown of apps: native settings, the activity reporter and the operator's sweeper.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(self.minIdleTimeoutMinutes) || !has(self.maxIdleTimeoutMinutes) || self.minIdleTimeoutMinutes <= self.maxIdleTimeoutMinutes").message("minIdleTimeoutMinutes must not exceed maxIdleTimeoutMinutes"))]
#[x_kube(validation = Rule::new("!has(self.minIdleTimeoutMinutes) || self.idleTimeoutMinutes >= self.minIdleTimeoutMinutes").message("idleTimeoutMinutes must be at least minIdleTimeoutMinutes"))]
#[x_kube(validation = Rule::new("!has(self.maxIdleTimeoutMinutes) || self.idleTimeoutMinutes <= self.maxIdleTimeoutMinutes").message("idleTimeoutMinutes must be at most maxIdleTimeoutMinutes"))]
pub struct IdleShutdown {
    /// Turn idle shutdown on (`LifecycleManagement: ENABLED`).
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Default idle timeout, 60 to 525600 minutes (`IdleTimeoutInMinutes`).
    #[schemars(range(min = 60, max = 525600))]
    pub idle_timeout_minutes: i32,
    /// Lowest timeout a profile or space may choose (`MinIdleTimeoutInMinutes`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 60, max = 525600))]
    pub min_idle_timeout_minutes: Option<i32>,
    /// Highest timeout a profile or space may choose (`MaxIdleTimeoutInMinutes`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 60, max = 525600))]
    pub max_idle_timeout_minutes: Option<i32>,
    /// Install the operator's activity reporter as a lifecycle configuration on the domain
    /// defaults, so that idle kernels and terminals are seen.
    #[serde(default)]
    pub activity_reporter: bool,
    /// Whether the operator's sweeper stops idle apps (`Enforce`) or only reports them (`DryRun`).
    #[serde(default)]
    pub mode: SweepMode,
    /// Hard caps on app uptime, whatever their activity.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20))]
    pub max_lifetime: Vec<MaxLifetime>,
}

fn default_true() -> bool {
    true
}

/// What the sweeper does with an app it finds idle.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SweepMode {
    /// Stop (delete) the app.
    #[default]
    Enforce,
    /// Report what would be stopped; stop nothing.
    DryRun,
}

/// A hard cap on the uptime of matching apps.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.appType) || has(self.instanceTypePattern)").message("a maxLifetime entry needs appType or instanceTypePattern"))]
pub struct MaxLifetime {
    /// App type it applies to (e.g. `JupyterLab`, `KernelGateway`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 32))]
    pub app_type: Option<String>,
    /// Instance-type glob it applies to, e.g. `ml.g*` or `ml.p4d.*`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    pub instance_type_pattern: Option<String>,
    /// Maximum uptime in hours.
    #[schemars(range(min = 1, max = 8760))]
    pub hours: i32,
}

/// Observed state of a StudioDomain.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
// Defaulted to generation 0, so kstatus (Flux) and Argo CD see a new resource InProgress until
// the operator has reconciled it, instead of Current for lack of a status.
#[schemars(extend("default" = {"observedGeneration": 0}))]
pub struct StudioDomainStatus {
    /// The metadata.generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Ready, Reconciling, Stalled, Synced, KmsKeyValid, UpdateBlocked, Recreating.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "conditions_schema")]
    pub conditions: Vec<Condition>,
    /// Id of the domain in AWS (`d-…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain_id: Option<String>,
    /// ARN of the domain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain_arn: Option<String>,
    /// Studio URL of the domain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Id of the domain's home EFS volume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub home_efs_file_system_id: Option<String>,
    /// Status of the domain in AWS (Pending, InService, Updating, Failed, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_status: Option<String>,
    /// ARN of the verified KMS key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_key_arn: Option<String>,
    /// Number of user profiles in the domain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_profiles: Option<i32>,
    /// Number of spaces in the domain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spaces: Option<i32>,
    /// Number of apps InService or Pending in the domain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub running_apps: Option<i32>,
    /// Progress and backup of a recreation under way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recreation: Option<RecreationStatus>,
    /// The last completed recreation: what to copy from the old EFS volume to the new one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub migration_plan: Option<MigrationPlan>,
    /// Names of the Studio lifecycle configurations that install the activity reporter, so that
    /// replaced and no longer wanted ones are deleted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub activity_reporter_configs: Vec<String>,
    /// What the operator manages of the domain's settings, and what it leaves alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings: Option<SettingsStatus>,
    /// The settings that cannot change in AWS, as the spec had them when the domain was created:
    /// only a change of the spec against these (never a change seen in AWS) starts a recreation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_with: Option<ImmutableSettings>,
    /// A destructive action that waits for approval: what it deletes, and the token to approve
    /// it with (`kubectl annotate studiodomain NAME studio-operator.io/approve-recreation=TOKEN`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_approval: Option<ApprovalRequest>,
    /// The spaces a deletion or recreation waits for (their backups) and the data loss approved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub space_data: Option<SpaceDataStatus>,
}

/// The settings of a domain AWS cannot change, as the spec gives them.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ImmutableSettings {
    /// The domain's name in AWS.
    pub domain_name: String,
    /// `IAM` or `SSO`.
    pub auth_mode: String,
    /// The VPC.
    pub vpc_id: String,
    /// `spec.encryption.kmsKeyId` as written (an alias stays an alias).
    pub kms_key_id: String,
    /// The region.
    pub region: String,
    /// The role assumed, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
}

/// A recreation under way; every step is recorded so a restart resumes it.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RecreationStatus {
    /// The generation whose spec asked for the recreation.
    pub generation: i64,
    /// The immutable fields that changed.
    pub reasons: Vec<String>,
    /// The step reached: BackedUp, DeletingOld, CreatingNew, RestoringMembers.
    pub phase: String,
    /// Domain id being replaced.
    pub old_domain_id: String,
    /// EFS volume of the domain being replaced (retained).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_efs_id: Option<String>,
    /// Every profile and space of the old domain with its EFS UID and execution role.
    #[serde(default)]
    pub backup: Vec<MemberBackup>,
    /// The members not managed by studio-operator whose deletion the approval covered; any other
    /// found while the old domain is emptied stops the recreation.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approved_deletions: Vec<String>,
}

/// A profile or space as it was in the old domain.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct MemberBackup {
    /// `UserProfile` or `Space`.
    pub kind: String,
    /// Name in AWS.
    pub name: String,
    /// POSIX UID of its home directory on the old EFS volume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub efs_uid: Option<String>,
    /// Execution role it ran with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_role: Option<String>,
    /// For a JupyterLab or Code Editor space: where its EBS home directory is kept (the S3
    /// prefix of its backup), or why it is not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub space_data: Option<String>,
    /// A backed-up space made outside the operator (in the Studio UI): what it takes to make
    /// it again in the new domain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unmanaged_space: Option<UnmanagedSpace>,
}

/// A space made outside the operator, as the operator makes it again in the new domain of a
/// recreation so that its backup is restored: same name, owner, sharing, app type and EBS size,
/// tagged `restore-from`, and left unmanaged (only the cluster tag that IAM asks for on create).
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct UnmanagedSpace {
    /// `OwnershipSettings.OwnerUserProfileName`.
    pub owner: String,
    /// `SpaceSharingSettings.SharingType`: `Private` or `Shared`.
    pub sharing_type: String,
    /// `SpaceSettings.AppType`: `JupyterLab` or `CodeEditor`.
    pub app_type: String,
    /// `EbsVolumeSizeInGb`, if it was set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ebs_gb: Option<i64>,
    /// `SpaceDisplayName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
}

/// What to copy after a recreation (the whitepaper's backup-and-restore appendix).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct MigrationPlan {
    /// Domain id before the recreation.
    pub old_domain_id: String,
    /// Domain id after the recreation.
    pub new_domain_id: String,
    /// EFS volume before (retained).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_efs_id: Option<String>,
    /// EFS volume after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_efs_id: Option<String>,
    /// One entry per profile and space: copy old UID directory to new UID directory.
    #[serde(default)]
    pub entries: Vec<MigrationEntry>,
}

/// One home directory to copy.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct MigrationEntry {
    /// `UserProfile` or `Space`.
    pub kind: String,
    /// Name in AWS.
    pub name: String,
    /// UID on the old EFS volume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_uid: Option<String>,
    /// UID on the new EFS volume, once the member exists in the new domain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_uid: Option<String>,
    /// For a JupyterLab or Code Editor space: the S3 prefix its EBS home directory was backed
    /// up to, which the new space of the same name is restored from (its `restore-from` tag).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_location: Option<String>,
    /// What became of a space's home directory: `WaitingForSpace` (the new space is not created
    /// yet), `Pending` (the new space carries `restore-from`), `Restored <time>` (the agent's
    /// `restored` tag), or `Lost (approved)` (deleted without a backup, as approved).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore: Option<String>,
    /// A space made outside the operator: the operator makes it again in the new domain (once
    /// its owner is there and no SharedSpace resource declares the name) to restore it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unmanaged_space: Option<UnmanagedSpace>,
}
