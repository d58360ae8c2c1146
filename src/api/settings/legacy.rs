//! Studio app settings shared by domain defaults, profiles and spaces.
//!
//! Curated from the SageMaker `UserSettings` / `DefaultSpaceSettings` shapes: the fields a
//! platform team sets, named for people, each mapped one-to-one to the API member in its doc.

use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

const ROLE_ARN_RULE: &str = "self.matches('^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}$')";
const ROLE_ARN_MESSAGE: &str = "must be an IAM role ARN such as arn:aws:iam::123456789012:role/SageMakerExecution";

/// Settings for the apps of users: domain defaults (`defaultUserSettings`) or one profile.
/// Maps to the SageMaker `UserSettings` structure.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct UserSettings {
    /// IAM role the apps run as (`ExecutionRole`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new(ROLE_ARN_RULE).message(ROLE_ARN_MESSAGE))]
    #[schemars(length(max = 2048))]
    pub execution_role: Option<String>,
    /// Security groups for the apps' network interfaces in VpcOnly mode (`SecurityGroups`, at most 5).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(validation = Rule::new("self.all(g, g.matches('^sg-[0-9a-f]{8,17}$'))").message("each entry must be a security group id such as sg-0123456789abcdef0"))]
    #[schemars(length(max = 5), inner(length(max = 64)))]
    pub security_groups: Vec<SecurityGroupId>,
    /// Notebook sharing (`SharingSettings`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sharing: Option<SharingSettings>,
    /// JupyterLab apps (`JupyterLabAppSettings`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jupyter_lab: Option<JupyterLabSettings>,
    /// Code Editor apps (`CodeEditorAppSettings`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_editor: Option<CodeEditorSettings>,
    /// KernelGateway apps (`KernelGatewayAppSettings`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel_gateway: Option<KernelGatewaySettings>,
    /// EBS storage of private spaces (`SpaceStorageSettings.DefaultEbsStorageSettings`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub space_storage: Option<SpaceStorageSettings>,
}

/// A security group id (`sg-…`).
pub type SecurityGroupId = String;

/// Settings for the apps of shared spaces (`DefaultSpaceSettings`).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SpaceDefaults {
    /// IAM role the apps of shared spaces run as (`ExecutionRole`); required for shared spaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new(ROLE_ARN_RULE).message(ROLE_ARN_MESSAGE))]
    #[schemars(length(max = 2048))]
    pub execution_role: Option<String>,
    /// Security groups for shared spaces in VpcOnly mode (`SecurityGroups`, at most 5).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(validation = Rule::new("self.all(g, g.matches('^sg-[0-9a-f]{8,17}$'))").message("each entry must be a security group id such as sg-0123456789abcdef0"))]
    #[schemars(length(max = 5), inner(length(max = 64)))]
    pub security_groups: Vec<SecurityGroupId>,
    /// JupyterLab apps of shared spaces (`JupyterLabAppSettings`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jupyter_lab: Option<JupyterLabSettings>,
    /// KernelGateway apps of shared spaces (`KernelGatewayAppSettings`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel_gateway: Option<KernelGatewaySettings>,
    /// EBS storage of shared spaces (`SpaceStorageSettings.DefaultEbsStorageSettings`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub space_storage: Option<SpaceStorageSettings>,
}

/// Who may share notebooks, and where (`SharingSettings`).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.notebookOutput != 'Allowed' || has(self.s3OutputPath)").message("sharing.s3OutputPath is required when notebookOutput is Allowed"))]
pub struct SharingSettings {
    /// Whether notebook cells' output may be shared (`NotebookOutputOption`).
    #[serde(default)]
    pub notebook_output: NotebookOutput,
    /// S3 location for shared notebooks (`S3OutputPath`), e.g. `s3://bucket/sharing/`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self.startsWith('s3://')").message("must be an S3 URI such as s3://my-bucket/sharing/"))]
    #[schemars(length(max = 1024))]
    pub s3_output_path: Option<String>,
    /// KMS key that encrypts shared notebooks in S3 (`S3KmsKeyId`): key id, key ARN or alias.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048))]
    pub s3_kms_key_id: Option<String>,
}

/// `NotebookOutputOption`.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum NotebookOutput {
    /// Output may be shared.
    Allowed,
    /// Output is never shared.
    #[default]
    Disabled,
}

/// The image and instance an app starts with (`DefaultResourceSpec`).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ResourceSpec {
    /// Instance type, e.g. `ml.t3.medium` (`InstanceType`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self == 'system' || self.matches('^ml\\\\.[a-z0-9]+\\\\.[a-z0-9]+$')").message("must be a SageMaker instance type such as ml.t3.medium"))]
    #[schemars(length(max = 64))]
    pub instance_type: Option<String>,
    /// SageMaker image ARN (`SageMakerImageArn`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self.matches('^arn:aws[a-z-]*:sagemaker:[a-z0-9-]+:[0-9]{12}:image/[a-z0-9-.]+$')").message("must be a SageMaker image ARN such as arn:aws:sagemaker:us-east-1:123456789012:image/my-image"))]
    #[schemars(length(max = 256))]
    pub image_arn: Option<String>,
    /// SageMaker image version ARN (`SageMakerImageVersionArn`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256))]
    pub image_version_arn: Option<String>,
    /// Lifecycle configuration that runs when the app starts (`LifecycleConfigArn`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256))]
    pub lifecycle_config_arn: Option<String>,
}

/// A Git repository suggested in JupyterLab and Code Editor (`CodeRepository`).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct CodeRepository {
    /// HTTPS URL of the repository (`RepositoryUrl`).
    #[x_kube(validation = Rule::new("self.startsWith('https://')").message("must be an https:// URL"))]
    #[schemars(length(max = 1024))]
    pub url: String,
}

/// An idle timeout that applies to one app type.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct AppIdleTimeout {
    /// Minutes of idleness before SageMaker shuts the app down, 60 to 525600
    /// (`AppLifecycleManagement.IdleSettings.IdleTimeoutInMinutes`). Must lie inside the domain's
    /// `idleShutdown` bounds.
    #[schemars(range(min = 60, max = 525600))]
    pub idle_timeout_minutes: i32,
}

/// JupyterLab app settings (`JupyterLabAppSettings`).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct JupyterLabSettings {
    /// Default image and instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_resource_spec: Option<ResourceSpec>,
    /// Lifecycle configurations users may choose (`LifecycleConfigArns`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 30))]
    pub lifecycle_config_arns: Vec<String>,
    /// Suggested Git repositories (`CodeRepositories`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 10))]
    pub code_repositories: Vec<CodeRepository>,
    /// Native idle shutdown for this level (profile or space), inside the domain's bounds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle: Option<AppIdleTimeout>,
}

/// Code Editor app settings (`CodeEditorAppSettings`).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct CodeEditorSettings {
    /// Default image and instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_resource_spec: Option<ResourceSpec>,
    /// Lifecycle configurations users may choose (`LifecycleConfigArns`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 30))]
    pub lifecycle_config_arns: Vec<String>,
    /// Native idle shutdown for this level (profile or space), inside the domain's bounds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle: Option<AppIdleTimeout>,
}

/// KernelGateway app settings (`KernelGatewayAppSettings`).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct KernelGatewaySettings {
    /// Default image and instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_resource_spec: Option<ResourceSpec>,
    /// Lifecycle configurations users may choose (`LifecycleConfigArns`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 30))]
    pub lifecycle_config_arns: Vec<String>,
}

/// EBS volume sizes of spaces (`SpaceStorageSettings.DefaultEbsStorageSettings`).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.defaultEbsVolumeSizeGb <= self.maximumEbsVolumeSizeGb").message("defaultEbsVolumeSizeGb must not exceed maximumEbsVolumeSizeGb"))]
pub struct SpaceStorageSettings {
    /// Size a new space's volume gets, 5 to 16384 GiB (`DefaultEbsVolumeSizeInGb`).
    #[schemars(range(min = 5, max = 16384))]
    pub default_ebs_volume_size_gb: i32,
    /// Largest size a user may choose, 5 to 16384 GiB (`MaximumEbsVolumeSizeInGb`).
    #[schemars(range(min = 5, max = 16384))]
    pub maximum_ebs_volume_size_gb: i32,
}
