//! `StudioImage`: a custom Studio image (SageMaker Image, its ImageVersions and the
//! AppImageConfig that tells Studio how to run it), referred to by name from settings
//! (`customImages: [{imageRef}]`).

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{AwsTarget, DeletionPolicy, conditions_schema};

/// A custom image for Studio apps, built from ECR images.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "studio-operator.io",
    version = "v1alpha1",
    kind = "StudioImage",
    namespaced,
    shortname = "simg",
    category = "studio",
    status = "StudioImageStatus",
    doc = "A custom SageMaker AI Studio image: Image, ImageVersions and AppImageConfig, referred to by name from settings (`customImages: [{imageRef}]`).",
    printcolumn(name = "AWS name", type_ = "string", json_path = ".status.imageName"),
    printcolumn(name = "Version", type_ = "integer", json_path = ".status.latestVersion"),
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
#[x_kube(validation = Rule::new("self.appType != 'KernelGateway' || (has(self.kernelSpecs) && size(self.kernelSpecs) > 0)").message("a KernelGateway image needs at least one kernelSpec"))]
#[x_kube(validation = Rule::new("self.appType == 'KernelGateway' || !has(self.kernelSpecs) || size(self.kernelSpecs) == 0").message("kernelSpecs apply to KernelGateway images only"))]
#[x_kube(validation = Rule::new("self.appType == 'KernelGateway' || !has(self.fileSystemConfig) || (self.fileSystemConfig.defaultUid == 0 && self.fileSystemConfig.defaultGid == 0) || (self.fileSystemConfig.defaultUid == 1000 && self.fileSystemConfig.defaultGid == 100)").message("JupyterLab and Code Editor images run as UID/GID 0/0 (root) or 1000/100 (sagemaker-user)"))]
#[serde(rename_all = "camelCase")]
pub struct StudioImageSpec {
    /// Where in AWS the image lives: the region and account of the domains that use it.
    #[x_kube(validation = Rule::new("self == oldSelf").message("spec.aws cannot change after creation: create a new StudioImage for another region or account"))]
    pub aws: AwsTarget,
    /// Name of the image in AWS (`ImageName`, unique in the account and region); defaults to
    /// `<namespace>-<metadata.name>`. Cannot change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self.matches('^[a-zA-Z0-9]([-.]?[a-zA-Z0-9]){0,62}$')").message("must be 1-63 letters, digits, '-' and '.', starting and ending with a letter or digit"))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("imageName cannot change: create a new StudioImage"))]
    #[schemars(length(max = 63))]
    pub image_name: Option<String>,
    /// Name shown in Studio (`DisplayName`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128))]
    pub display_name: Option<String>,
    /// Description (`Description`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 512))]
    pub description: Option<String>,
    /// The role SageMaker assumes to pull the images from ECR (`RoleArn`).
    #[x_kube(validation = Rule::new("self.matches('^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}$')").message("must be an IAM role ARN such as arn:aws:iam::123456789012:role/SageMakerImagePull"))]
    #[schemars(length(max = 2048))]
    pub role_arn: String,
    /// The app type the image serves; it decides which AppImageConfig member is written
    /// (`JupyterLabAppImageConfig`, `CodeEditorAppImageConfig` or `KernelGatewayImageConfig`).
    #[x_kube(validation = Rule::new("self == oldSelf").message("appType cannot change: create a new StudioImage"))]
    pub app_type: ImageAppType,
    /// The image's versions, oldest first. AWS numbers them 1, 2, ... in this order; versions
    /// are only ever appended (an ImageVersion's base image cannot change).
    #[schemars(length(min = 1, max = 50))]
    #[x_kube(validation = Rule::new("size(self) >= size(oldSelf) && oldSelf.all(v, self.exists(n, n.baseImage == v.baseImage))").message("versions can only be added: an earlier version's baseImage cannot change or be removed"))]
    pub versions: Vec<ImageVersionSpec>,
    /// Kernels of a KernelGateway image (`KernelSpecs`, 1 to 5).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 5))]
    pub kernel_specs: Vec<KernelSpec>,
    /// Where the home directory is mounted and who runs the app (`FileSystemConfig`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_system_config: Option<FileSystemConfig>,
    /// Entry point, arguments and environment of a JupyterLab or Code Editor container
    /// (`ContainerConfig`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_config: Option<ContainerConfig>,
    /// What happens to the image, its versions and its AppImageConfig in AWS when this resource
    /// is deleted.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,
}

/// The app types a custom image can serve.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ImageAppType {
    /// JupyterLab spaces.
    JupyterLab,
    /// Code Editor spaces.
    CodeEditor,
    /// Studio Classic kernels.
    KernelGateway,
}

impl ImageAppType {
    /// The value as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            ImageAppType::JupyterLab => "JupyterLab",
            ImageAppType::CodeEditor => "CodeEditor",
            ImageAppType::KernelGateway => "KernelGateway",
        }
    }
}

/// One version of the image.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ImageVersionSpec {
    /// The ECR image URI (`BaseImage`), e.g.
    /// `123456789012.dkr.ecr.us-east-1.amazonaws.com/team/pytorch:2.3`.
    #[x_kube(validation = Rule::new("self.matches('^[0-9]{12}\\\\.dkr\\\\.ecr\\\\.[a-z0-9-]+\\\\.amazonaws\\\\.com(\\\\.cn)?/[a-z0-9._/-]+(:[A-Za-z0-9._-]{1,128}|@sha256:[0-9a-f]{64})$')").message("must be an ECR image URI such as 123456789012.dkr.ecr.us-east-1.amazonaws.com/team/image:tag"))]
    #[schemars(length(min = 1, max = 255))]
    pub base_image: String,
    /// Aliases of this version (`Aliases`), e.g. `latest-stable`; an alias names one version.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(inner(length(min = 1, max = 128), pattern(r"^[a-zA-Z0-9_][a-zA-Z0-9_.-]*$")))]
    #[schemars(length(max = 20))]
    pub aliases: Vec<String>,
}

/// A kernel of a KernelGateway image (`KernelSpec`).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct KernelSpec {
    /// The kernel's name as Jupyter knows it (`Name`).
    #[schemars(length(min = 1, max = 1024))]
    pub name: String,
    /// Name shown in Studio (`DisplayName`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1024))]
    pub display_name: Option<String>,
}

/// Home directory mount and identity of the app (`FileSystemConfig`).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct FileSystemConfig {
    /// Where the home directory is mounted (`MountPath`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self.startsWith('/home/') || self == '/root'").message("must be a path under /home, or /root"))]
    #[schemars(length(max = 1024))]
    pub mount_path: Option<String>,
    /// UID the app runs as: 0 or 1000 (`DefaultUid`).
    #[x_kube(validation = Rule::new("self == 0 || self == 1000").message("Studio supports UID 0 (root) or 1000 (sagemaker-user)"))]
    pub default_uid: i32,
    /// GID the app runs as: 0 or 100 (`DefaultGid`).
    #[x_kube(validation = Rule::new("self == 0 || self == 100").message("Studio supports GID 0 (root) or 100 (users)"))]
    pub default_gid: i32,
}

/// Container overrides of a JupyterLab or Code Editor image (`ContainerConfig`).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ContainerConfig {
    /// `ContainerEntrypoint` (at most 1 element).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 1), inner(length(max = 256)))]
    pub container_entrypoint: Vec<String>,
    /// `ContainerArguments` (at most 50).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 50), inner(length(max = 64)))]
    pub container_arguments: Vec<String>,
    /// `ContainerEnvironmentVariables` (at most 25).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(length(max = 25))]
    pub container_environment_variables: BTreeMap<String, String>,
}

/// What the operator last saw of the image.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("default" = {"observedGeneration": 0}))]
pub struct StudioImageStatus {
    /// The metadata.generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Ready, Reconciling, Stalled, DeletionBlocked, GuardrailViolation.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "conditions_schema")]
    pub conditions: Vec<Condition>,
    /// The image's name in AWS (`ImageName` of `customImages`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_name: Option<String>,
    /// The image's ARN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_arn: Option<String>,
    /// The AppImageConfig's name (`AppImageConfigName` of `customImages`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_image_config_name: Option<String>,
    /// The app type the image serves (what references are checked against).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_type: Option<ImageAppType>,
    /// The newest version number in AWS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_version: Option<i32>,
    /// The versions in AWS, in the order of `spec.versions`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub versions: Vec<ImageVersionStatus>,
}

/// One version as AWS holds it.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ImageVersionStatus {
    /// The version number AWS gave it.
    pub version: i32,
    /// Its ECR image.
    pub base_image: String,
    /// Its ARN.
    pub arn: String,
    /// Its aliases in AWS.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
}
