//! `SharedSpace`: a space in a Studio domain, shared by a team or private to one profile.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{DeletionPolicy, DomainRef, SettingsStatus, SpaceDataStatus, conditions_schema};
use super::profile::RunningApp;
use super::settings::SpaceSettings;

/// A SageMaker AI Studio space.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "studio-operator.io",
    version = "v1alpha1",
    kind = "SharedSpace",
    namespaced,
    shortname = "ssp",
    category = "studio",
    status = "SharedSpaceStatus",
    doc = "A SageMaker AI Studio space in a StudioDomain.",
    printcolumn(name = "Domain", type_ = "string", json_path = ".spec.domainRef.name"),
    printcolumn(name = "Sharing", type_ = "string", json_path = ".spec.sharing.type"),
    printcolumn(name = "App", type_ = "string", json_path = ".spec.appType"),
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
pub struct SharedSpaceSpec {
    /// The StudioDomain this space belongs to.
    pub domain_ref: DomainRef,
    /// Name of the space in AWS (`SpaceName`); defaults to metadata.name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self.matches('^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$')").message("must be 1-63 letters, digits and '-', starting and ending with a letter or digit"))]
    #[schemars(length(max = 63))]
    pub space_name: Option<String>,
    /// Name shown in Studio (`SpaceDisplayName`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    pub display_name: Option<String>,
    /// Who may use the space. Cannot be updated in AWS: a change recreates the space.
    pub sharing: SpaceSharing,
    /// The app the space runs (`SpaceSettings.AppType`). A change recreates the space.
    pub app_type: SpaceAppType,
    /// Settings of the space (`SpaceSettings`, without `AppType`, which is `appType`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings: Option<SpaceSettings>,
    /// Tags on the space.
    /// `studio-operator.io/keep-alive: "true"` exempts its apps from idle shutdown and lifetime
    /// caps, where the guardrails allow keep-alive.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[x_kube(validation = Rule::new("self.all(k, !k.startsWith('aws:') && !k.startsWith('sagemaker:') && (!k.startsWith('studio-operator.io/') || k == 'studio-operator.io/keep-alive'))").message("tag keys starting with aws:, sagemaker: or studio-operator.io/ are reserved (except studio-operator.io/keep-alive)"))]
    #[x_kube(validation = Rule::new("self.all(k, size(k) <= 128 && size(self[k]) <= 256)").message("tag keys must be at most 128 and tag values at most 256 characters"))]
    #[schemars(extend("maxProperties" = 40))]
    pub tags: BTreeMap<String, String>,
    /// What happens in AWS when this resource is deleted.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,
    /// Take over a space of that name that exists in AWS without the operator's ownership tags.
    #[serde(default)]
    pub adopt: bool,
}

/// Sharing of a space (`SpaceSharingSettings` and `OwnershipSettings`).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.type != 'Private' || has(self.ownerProfile)").message("a Private space needs sharing.ownerProfile: the user profile that owns it"))]
pub struct SpaceSharing {
    /// `Shared` (every user of the domain) or `Private` (only the owner).
    #[serde(rename = "type")]
    pub sharing_type: SharingType,
    /// The user profile (its name in AWS) that owns the space (`OwnerUserProfileName`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self.matches('^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$')").message("must be a user profile name"))]
    #[schemars(length(max = 63))]
    pub owner_profile: Option<String>,
}

/// `SharingType`.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SharingType {
    /// Every user of the domain may use the space.
    #[default]
    Shared,
    /// Only the owner may use the space.
    Private,
}

/// `SpaceSettings.AppType`.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SpaceAppType {
    /// JupyterLab.
    #[default]
    JupyterLab,
    /// Code Editor, based on Code-OSS.
    CodeEditor,
}

/// Observed state of a SharedSpace.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
// Defaulted to generation 0, so kstatus (Flux) and Argo CD see a new resource InProgress until
// the operator has reconciled it, instead of Current for lack of a status.
#[schemars(extend("default" = {"observedGeneration": 0}))]
pub struct SharedSpaceStatus {
    /// The metadata.generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Ready, Reconciling, Stalled, Synced, DomainReady, and problem conditions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "conditions_schema")]
    pub conditions: Vec<Condition>,
    /// Id of the domain the space lives in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain_id: Option<String>,
    /// Name of the space in AWS, as created (a rename recreates it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub space_name: Option<String>,
    /// ARN of the space.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub space_arn: Option<String>,
    /// POSIX UID of the space's directory on the domain's EFS volume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub home_efs_file_system_uid: Option<String>,
    /// Status of the space in AWS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_status: Option<String>,
    /// Apps of this space that are running.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub running_apps: Vec<RunningApp>,
    /// What the operator manages of the settings, and what it leaves alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings: Option<SettingsStatus>,
    /// The spaces a deletion or recreation waits for (their backups) and the data loss approved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub space_data: Option<SpaceDataStatus>,
}
