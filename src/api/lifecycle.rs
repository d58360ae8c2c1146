//! `StudioLifecycleConfig`: a Studio lifecycle configuration (a script an app runs when it
//! starts) that settings refer to by name instead of by ARN.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{AwsTarget, DeletionPolicy, conditions_schema};

/// Most bytes a script may have: AWS takes at most 16384 characters of base64
/// (`StudioLifecycleConfigContent`), which is 12288 bytes of script.
pub const MAX_SCRIPT_BYTES: usize = 12288;

/// A Studio lifecycle configuration managed by the operator. AWS configurations cannot be
/// changed, so each version of the script is its own configuration, named after the script's
/// content; the previous one is deleted once no domain, profile or space uses it.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "studio-operator.io",
    version = "v1alpha1",
    kind = "StudioLifecycleConfig",
    namespaced,
    shortname = "slc",
    category = "studio",
    status = "StudioLifecycleConfigStatus",
    doc = "A SageMaker AI Studio lifecycle configuration, referred to by name from settings (`lifecycleConfigs`).",
    printcolumn(name = "App", type_ = "string", json_path = ".spec.appType"),
    printcolumn(name = "AWS name", type_ = "string", json_path = ".status.configName"),
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
#[x_kube(validation = Rule::new("has(self.script) != has(self.scriptFrom)").message("set exactly one of script and scriptFrom"))]
#[serde(rename_all = "camelCase")]
pub struct StudioLifecycleConfigSpec {
    /// Where in AWS the configuration lives: the region and account of the domains that use it.
    #[x_kube(validation = Rule::new("self == oldSelf").message("spec.aws cannot change after creation: create a new StudioLifecycleConfig for another region or account"))]
    pub aws: AwsTarget,
    /// The app type that runs the script (`StudioLifecycleConfigAppType`).
    pub app_type: LifecycleAppType,
    /// The script, inline (at most 12288 bytes: AWS takes 16 KB of base64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 12288))]
    pub script: Option<String>,
    /// The script, from a key of a ConfigMap in the same namespace (checked for the same limit
    /// when it is read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script_from: Option<ScriptSource>,
    /// What happens to the configurations in AWS when this resource is deleted.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,
}

/// A ConfigMap key holding a script.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ScriptSource {
    /// The ConfigMap (in the resource's namespace) and key.
    pub config_map_key_ref: ConfigMapKey,
}

/// A key of a ConfigMap in the same namespace.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ConfigMapKey {
    /// Name of the ConfigMap.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// The key whose value is the script.
    #[schemars(length(min = 1, max = 253))]
    pub key: String,
}

/// The app types a lifecycle configuration can be for (`StudioLifecycleConfigAppType`).
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LifecycleAppType {
    /// JupyterLab (spaces).
    JupyterLab,
    /// Code Editor, based on Code-OSS (spaces).
    CodeEditor,
    /// Studio Classic's kernel gateway.
    KernelGateway,
    /// Studio Classic's Jupyter server.
    JupyterServer,
}

impl LifecycleAppType {
    /// The value as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            LifecycleAppType::JupyterLab => "JupyterLab",
            LifecycleAppType::CodeEditor => "CodeEditor",
            LifecycleAppType::KernelGateway => "KernelGateway",
            LifecycleAppType::JupyterServer => "JupyterServer",
        }
    }
}

/// What the operator last saw of the configuration.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("default" = {"observedGeneration": 0}))]
pub struct StudioLifecycleConfigStatus {
    /// The metadata.generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Ready, Reconciling, Stalled, DeletionBlocked.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "conditions_schema")]
    pub conditions: Vec<Condition>,
    /// The name of the current configuration in AWS (`<name>-<content hash>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_name: Option<String>,
    /// The ARN settings receive for references to this resource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    /// The app type of the current configuration (what references are checked against).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_type: Option<LifecycleAppType>,
    /// Earlier versions still in AWS: in use by a running app or by settings not yet updated.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub previous_versions: Vec<String>,
}
