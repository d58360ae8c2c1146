//! `UserProfile`: one person's profile in a Studio domain.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::common::{DeletionPolicy, DomainRef, SettingsStatus, SpaceDataStatus, conditions_schema};
use super::settings::UserSettings;

/// A SageMaker AI Studio user profile: one per physical user, as the whitepaper recommends.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "studio-operator.io",
    version = "v1alpha1",
    kind = "UserProfile",
    namespaced,
    shortname = "sup",
    category = "studio",
    status = "UserProfileStatus",
    doc = "A SageMaker AI Studio user profile in a StudioDomain.",
    printcolumn(name = "Domain", type_ = "string", json_path = ".spec.domainRef.name"),
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
pub struct UserProfileSpec {
    /// The StudioDomain this profile belongs to.
    pub domain_ref: DomainRef,
    /// Name of the profile in AWS (`UserProfileName`); defaults to metadata.name. Changing it
    /// recreates the profile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self.matches('^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$')").message("must be 1-63 letters, digits and '-', starting and ending with a letter or digit"))]
    #[schemars(length(max = 63))]
    pub user_profile_name: Option<String>,
    /// IAM Identity Center user; required in SSO domains, refused in IAM domains. Changing it
    /// recreates the profile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sso: Option<SsoIdentity>,
    /// Settings that override the domain defaults for this user (`UserSettings`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_settings: Option<UserSettings>,
    /// Tags on the profile (passed on to the apps it launches).
    /// `studio-operator.io/keep-alive: "true"` exempts its apps from idle shutdown and lifetime
    /// caps, where the guardrails allow keep-alive.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[x_kube(validation = Rule::new("self.all(k, !k.startsWith('aws:') && !k.startsWith('sagemaker:') && (!k.startsWith('studio-operator.io/') || k == 'studio-operator.io/keep-alive'))").message("tag keys starting with aws:, sagemaker: or studio-operator.io/ are reserved (except studio-operator.io/keep-alive)"))]
    #[x_kube(validation = Rule::new("!('studiouserid' in self)").message("the tag studiouserid is reserved: it names whose profile this is (IAM policies trust it), and the operator sets it from userProfileName (tagUserId)"))]
    #[x_kube(validation = Rule::new("self.all(k, size(k) <= 128 && size(self[k]) <= 256)").message("tag keys must be at most 128 and tag values at most 256 characters"))]
    #[schemars(extend("maxProperties" = 40))]
    pub tags: BTreeMap<String, String>,
    /// Tag the profile `studiouserid=<userProfileName>`, so IAM policies can stop users from
    /// opening each other's profiles.
    #[serde(default = "default_true")]
    pub tag_user_id: bool,
    /// What happens in AWS when this resource is deleted.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,
    /// Take over a profile of that name that exists in AWS without the operator's ownership tags.
    #[serde(default)]
    pub adopt: bool,
}

fn default_true() -> bool {
    true
}

/// The IAM Identity Center user a profile belongs to.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SsoIdentity {
    /// Identifier kind (`SingleSignOnUserIdentifier`); only `UserName` exists.
    #[serde(default = "default_user_identifier")]
    #[x_kube(validation = Rule::new("self == 'UserName'").message("only UserName is supported"))]
    #[schemars(length(max = 16))]
    pub user_identifier: String,
    /// The user name in IAM Identity Center (`SingleSignOnUserValue`).
    #[schemars(length(min = 1, max = 256))]
    pub user_value: String,
}

fn default_user_identifier() -> String {
    "UserName".into()
}

/// Observed state of a UserProfile.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
// Defaulted to generation 0, so kstatus (Flux) and Argo CD see a new resource InProgress until
// the operator has reconciled it, instead of Current for lack of a status.
#[schemars(extend("default" = {"observedGeneration": 0}))]
pub struct UserProfileStatus {
    /// The metadata.generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Ready, Reconciling, Stalled, Synced, DomainReady, and problem conditions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "conditions_schema")]
    pub conditions: Vec<Condition>,
    /// Id of the domain the profile lives in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain_id: Option<String>,
    /// Name of the profile in AWS, as created (a rename recreates it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_profile_name: Option<String>,
    /// ARN of the profile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_profile_arn: Option<String>,
    /// POSIX UID of the profile's home directory on the domain's EFS volume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub home_efs_file_system_uid: Option<String>,
    /// Status of the profile in AWS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_status: Option<String>,
    /// Apps of this profile that are running.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub running_apps: Vec<RunningApp>,
    /// What the operator manages of the settings, and what it leaves alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings: Option<SettingsStatus>,
    /// The spaces a deletion or recreation waits for (their backups) and the data loss approved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub space_data: Option<SpaceDataStatus>,
}

/// An app that is running (InService or Pending).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RunningApp {
    /// App type (JupyterLab, KernelGateway, ...).
    pub app_type: String,
    /// App name.
    pub app_name: String,
    /// Instance type it runs on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_type: Option<String>,
    /// When it was created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<Time>,
}
