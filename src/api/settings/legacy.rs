//! The settings structures under the names earlier versions of the CRDs used (`jupyterLab`,
//! `sharing`, `spaceStorage`, `imageArn`, `url`, ...), kept so that manifests written for them
//! still apply, and their conversion to the API structures ([`super::generated`]). New members
//! are added to the generated types only.

use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::generated as api;

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
    pub instance_type: Option<api::AppInstanceType>,
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

fn non_empty<T: Clone>(items: &[T]) -> Option<Vec<T>> {
    (!items.is_empty()).then(|| items.to_vec())
}

impl SharingSettings {
    /// As `sharingSettings`.
    pub fn to_api(&self) -> api::SharingSettings {
        api::SharingSettings {
            notebook_output_option: Some(match self.notebook_output {
                NotebookOutput::Allowed => api::NotebookOutputOption::Allowed,
                NotebookOutput::Disabled => api::NotebookOutputOption::Disabled,
            }),
            s3_output_path: self.s3_output_path.clone(),
            s3_kms_key_id: self.s3_kms_key_id.clone(),
        }
    }
}

impl ResourceSpec {
    /// As `defaultResourceSpec` of the API.
    pub fn to_api(&self) -> api::ResourceSpec {
        api::ResourceSpec {
            instance_type: self.instance_type,
            sage_maker_image_arn: self.image_arn.clone(),
            sage_maker_image_version_arn: self.image_version_arn.clone(),
            lifecycle_config_arn: self.lifecycle_config_arn.clone(),
            ..Default::default()
        }
    }
}

impl AppIdleTimeout {
    /// As `appLifecycleManagement`: idle shutdown on, with this timeout.
    pub fn to_api(&self) -> api::AppLifecycleManagement {
        api::AppLifecycleManagement {
            idle_settings: Some(api::IdleSettings {
                lifecycle_management: Some(api::LifecycleManagement::Enabled),
                idle_timeout_in_minutes: Some(self.idle_timeout_minutes),
                ..Default::default()
            }),
        }
    }
}

impl JupyterLabSettings {
    /// As `jupyterLabAppSettings`.
    pub fn to_api(&self) -> api::JupyterLabAppSettings {
        let repositories: Vec<api::CodeRepository> = self
            .code_repositories
            .iter()
            .map(|r| api::CodeRepository {
                repository_url: r.url.clone(),
            })
            .collect();
        api::JupyterLabAppSettings {
            default_resource_spec: self.default_resource_spec.as_ref().map(ResourceSpec::to_api),
            lifecycle_config_arns: non_empty(&self.lifecycle_config_arns),
            code_repositories: non_empty(&repositories),
            app_lifecycle_management: self.idle.as_ref().map(AppIdleTimeout::to_api),
            ..Default::default()
        }
    }
}

impl CodeEditorSettings {
    /// As `codeEditorAppSettings`.
    pub fn to_api(&self) -> api::CodeEditorAppSettings {
        api::CodeEditorAppSettings {
            default_resource_spec: self.default_resource_spec.as_ref().map(ResourceSpec::to_api),
            lifecycle_config_arns: non_empty(&self.lifecycle_config_arns),
            app_lifecycle_management: self.idle.as_ref().map(AppIdleTimeout::to_api),
            ..Default::default()
        }
    }
}

impl KernelGatewaySettings {
    /// As `kernelGatewayAppSettings`.
    pub fn to_api(&self) -> api::KernelGatewayAppSettings {
        api::KernelGatewayAppSettings {
            default_resource_spec: self.default_resource_spec.as_ref().map(ResourceSpec::to_api),
            lifecycle_config_arns: non_empty(&self.lifecycle_config_arns),
            ..Default::default()
        }
    }
}

impl SpaceStorageSettings {
    /// As `spaceStorageSettings`.
    pub fn to_api(&self) -> api::DefaultSpaceStorageSettings {
        api::DefaultSpaceStorageSettings {
            default_ebs_storage_settings: Some(api::DefaultEbsStorageSettings {
                default_ebs_volume_size_in_gb: self.default_ebs_volume_size_gb,
                maximum_ebs_volume_size_in_gb: self.maximum_ebs_volume_size_gb,
            }),
        }
    }
}
