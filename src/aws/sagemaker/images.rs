//! Custom images: Image, ImageVersion (with aliases) and AppImageConfig.

use std::collections::BTreeMap;

use aws_sdk_sagemaker::types as sm;

use super::{PAGE_SIZE, found, non_empty, tags_to_sdk};
use crate::aws::clients::AwsSession;
use crate::aws::error::AwsError;
use crate::aws::model::{
    ImageContainer, ImageFileSystem, ImageRunConfig, ImageSettings, ObservedAppImageConfig, ObservedImage,
    ObservedImageVersion,
};

impl AwsSession {
    /// CreateImage; returns the ARN.
    pub async fn create_image(
        &self,
        name: &str,
        settings: &ImageSettings,
        tags: &BTreeMap<String, String>,
    ) -> Result<String, AwsError> {
        let request = self
            .sagemaker
            .create_image()
            .image_name(name)
            .role_arn(&settings.role)
            .set_display_name(settings.display_name.clone())
            .set_description(settings.description.clone())
            .set_tags(non_empty(&tags_to_sdk(tags)));
        let out = self.call("CreateImage", || request.clone().send()).await?;
        Ok(out.image_arn.unwrap_or_default())
    }

    /// DescribeImage, or `None` when there is no such image.
    pub async fn describe_image(&self, name: &str) -> Result<Option<ObservedImage>, AwsError> {
        let request = self.sagemaker.describe_image().image_name(name);
        let Some(out) = found(self.call("DescribeImage", || request.clone().send()).await)? else {
            return Ok(None);
        };
        Ok(Some(ObservedImage {
            arn: out.image_arn.unwrap_or_default(),
            status: out.image_status.map(|s| s.as_str().to_string()).unwrap_or_default(),
            settings: ImageSettings {
                role: out.role_arn.unwrap_or_default(),
                display_name: out.display_name,
                description: out.description,
            },
            failure_reason: out.failure_reason,
        }))
    }

    /// UpdateImage to `settings`; a display name or description it leaves out is deleted
    /// (`DeleteProperties`), so the image holds exactly these.
    pub async fn update_image(&self, name: &str, settings: &ImageSettings) -> Result<(), AwsError> {
        let cleared: Vec<String> = [
            ("DisplayName", &settings.display_name),
            ("Description", &settings.description),
        ]
        .into_iter()
        .filter(|(_, value)| value.is_none())
        .map(|(property, _)| property.to_string())
        .collect();
        let request = self
            .sagemaker
            .update_image()
            .image_name(name)
            .role_arn(&settings.role)
            .set_display_name(settings.display_name.clone())
            .set_description(settings.description.clone())
            .set_delete_properties(non_empty(&cleared));
        self.call("UpdateImage", || request.clone().send()).await?;
        Ok(())
    }

    /// DeleteImage (and with it every version); an image already gone counts as deleted.
    pub async fn delete_image(&self, name: &str) -> Result<(), AwsError> {
        let request = self.sagemaker.delete_image().image_name(name);
        found(self.call("DeleteImage", || request.clone().send()).await)?;
        Ok(())
    }

    /// CreateImageVersion. `token` makes a retry (after a crash) answer the version it made.
    pub async fn create_image_version(
        &self,
        image: &str,
        base_image: &str,
        aliases: &[String],
        token: &str,
    ) -> Result<String, AwsError> {
        let request = self
            .sagemaker
            .create_image_version()
            .image_name(image)
            .base_image(base_image)
            .client_token(token)
            .set_aliases(non_empty(aliases));
        let out = self.call("CreateImageVersion", || request.clone().send()).await?;
        Ok(out.image_version_arn.unwrap_or_default())
    }

    /// Every version of an image, oldest first, with its base image (DescribeImageVersion) and
    /// aliases (ListAliases): ListImageVersions returns neither.
    pub async fn list_image_versions(&self, image: &str) -> Result<Vec<ObservedImageVersion>, AwsError> {
        let mut versions = Vec::new();
        let mut token = None;
        loop {
            let request = self
                .sagemaker
                .list_image_versions()
                .image_name(image)
                .max_results(PAGE_SIZE)
                .set_next_token(token);
            let out = self.call("ListImageVersions", || request.clone().send()).await?;
            versions.extend(out.image_versions.unwrap_or_default().into_iter().map(|v| {
                ObservedImageVersion {
                    version: v.version.unwrap_or_default(),
                    arn: v.image_version_arn.unwrap_or_default(),
                    status: v
                        .image_version_status
                        .map(|s| s.as_str().to_string())
                        .unwrap_or_default(),
                    failure_reason: v.failure_reason,
                    ..Default::default()
                }
            }));
            token = out.next_token;
            if token.is_none() {
                break;
            }
        }
        versions.sort_by_key(|v| v.version);
        for version in &mut versions {
            let request = self
                .sagemaker
                .describe_image_version()
                .image_name(image)
                .version(version.version);
            if let Some(out) = found(self.call("DescribeImageVersion", || request.clone().send()).await)? {
                version.base_image = out.base_image.unwrap_or_default();
            }
            version.aliases = self.list_aliases(image, version.version).await?;
        }
        Ok(versions)
    }

    /// ListAliases of one version, all pages; none when the version is gone.
    async fn list_aliases(&self, image: &str, version: i32) -> Result<Vec<String>, AwsError> {
        let mut aliases = Vec::new();
        let mut token = None;
        loop {
            let request = self
                .sagemaker
                .list_aliases()
                .image_name(image)
                .version(version)
                .max_results(PAGE_SIZE)
                .set_next_token(token);
            let Some(out) = found(self.call("ListAliases", || request.clone().send()).await)? else {
                return Ok(aliases);
            };
            aliases.extend(out.sage_maker_image_version_aliases.unwrap_or_default());
            token = out.next_token;
            if token.is_none() {
                return Ok(aliases);
            }
        }
    }

    /// UpdateImageVersion: adds and removes aliases of one version.
    pub async fn update_image_version_aliases(
        &self,
        image: &str,
        version: i32,
        add: &[String],
        delete: &[String],
    ) -> Result<(), AwsError> {
        let request = self
            .sagemaker
            .update_image_version()
            .image_name(image)
            .version(version)
            .set_aliases_to_add(non_empty(add))
            .set_aliases_to_delete(non_empty(delete));
        self.call("UpdateImageVersion", || request.clone().send()).await?;
        Ok(())
    }

    /// CreateAppImageConfig; returns the ARN.
    pub async fn create_app_image_config(
        &self,
        name: &str,
        config: &ImageRunConfig,
        tags: &BTreeMap<String, String>,
    ) -> Result<String, AwsError> {
        let (jupyter_lab, code_editor, kernel_gateway) = run_config_to_sdk(config);
        let request = self
            .sagemaker
            .create_app_image_config()
            .app_image_config_name(name)
            .set_jupyter_lab_app_image_config(jupyter_lab)
            .set_code_editor_app_image_config(code_editor)
            .set_kernel_gateway_image_config(kernel_gateway)
            .set_tags(non_empty(&tags_to_sdk(tags)));
        let out = self.call("CreateAppImageConfig", || request.clone().send()).await?;
        Ok(out.app_image_config_arn.unwrap_or_default())
    }

    /// DescribeAppImageConfig, or `None` when there is no such config.
    pub async fn describe_app_image_config(&self, name: &str) -> Result<Option<ObservedAppImageConfig>, AwsError> {
        let request = self.sagemaker.describe_app_image_config().app_image_config_name(name);
        let Some(out) = found(self.call("DescribeAppImageConfig", || request.clone().send()).await)? else {
            return Ok(None);
        };
        let config = if let Some(c) = out.jupyter_lab_app_image_config {
            run_config("JupyterLab", c.file_system_config, c.container_config, None)
        } else if let Some(c) = out.code_editor_app_image_config {
            run_config("CodeEditor", c.file_system_config, c.container_config, None)
        } else if let Some(c) = out.kernel_gateway_image_config {
            run_config("KernelGateway", c.file_system_config, None, c.kernel_specs)
        } else {
            ImageRunConfig::default()
        };
        Ok(Some(ObservedAppImageConfig {
            arn: out.app_image_config_arn.unwrap_or_default(),
            config,
        }))
    }

    /// UpdateAppImageConfig: the config's app-kind member becomes `config`.
    pub async fn update_app_image_config(&self, name: &str, config: &ImageRunConfig) -> Result<(), AwsError> {
        let (jupyter_lab, code_editor, kernel_gateway) = run_config_to_sdk(config);
        let request = self
            .sagemaker
            .update_app_image_config()
            .app_image_config_name(name)
            .set_jupyter_lab_app_image_config(jupyter_lab)
            .set_code_editor_app_image_config(code_editor)
            .set_kernel_gateway_image_config(kernel_gateway);
        self.call("UpdateAppImageConfig", || request.clone().send()).await?;
        Ok(())
    }

    /// DeleteAppImageConfig; a config already gone counts as deleted.
    pub async fn delete_app_image_config(&self, name: &str) -> Result<(), AwsError> {
        let request = self.sagemaker.delete_app_image_config().app_image_config_name(name);
        found(self.call("DeleteAppImageConfig", || request.clone().send()).await)?;
        Ok(())
    }
}

/// The three app-kind members of a request; only the one of `config.app_type` is set.
fn run_config_to_sdk(
    config: &ImageRunConfig,
) -> (
    Option<sm::JupyterLabAppImageConfig>,
    Option<sm::CodeEditorAppImageConfig>,
    Option<sm::KernelGatewayImageConfig>,
) {
    let file_system = config.file_system.as_ref().map(|f| {
        sm::FileSystemConfig::builder()
            .set_mount_path(f.mount_path.clone())
            .set_default_uid(f.uid)
            .set_default_gid(f.gid)
            .build()
    });
    let container = config.container.as_ref().map(|c| {
        sm::ContainerConfig::builder()
            .set_container_entrypoint(non_empty(&c.entrypoint))
            .set_container_arguments(non_empty(&c.arguments))
            .set_container_environment_variables(
                (!c.environment.is_empty()).then(|| c.environment.clone().into_iter().collect()),
            )
            .build()
    });
    match config.app_type.as_str() {
        "KernelGateway" => {
            let kernels = config
                .kernels
                .iter()
                .map(|(name, display)| {
                    sm::KernelSpec::builder()
                        .name(name)
                        .set_display_name(display.clone())
                        .build()
                })
                .collect();
            let kernel_gateway = sm::KernelGatewayImageConfig::builder()
                .set_kernel_specs(Some(kernels))
                .set_file_system_config(file_system)
                .build();
            (None, None, Some(kernel_gateway))
        }
        "CodeEditor" => {
            let code_editor = sm::CodeEditorAppImageConfig::builder()
                .set_file_system_config(file_system)
                .set_container_config(container)
                .build();
            (None, Some(code_editor), None)
        }
        _ => {
            let jupyter_lab = sm::JupyterLabAppImageConfig::builder()
                .set_file_system_config(file_system)
                .set_container_config(container)
                .build();
            (Some(jupyter_lab), None, None)
        }
    }
}

/// Our model of an app-kind member as Describe returns it.
fn run_config(
    app_type: &str,
    file_system: Option<sm::FileSystemConfig>,
    container: Option<sm::ContainerConfig>,
    kernels: Option<Vec<sm::KernelSpec>>,
) -> ImageRunConfig {
    ImageRunConfig {
        app_type: app_type.into(),
        file_system: file_system.map(|f| ImageFileSystem {
            mount_path: f.mount_path,
            uid: f.default_uid,
            gid: f.default_gid,
        }),
        container: container.map(|c| ImageContainer {
            entrypoint: c.container_entrypoint.unwrap_or_default(),
            arguments: c.container_arguments.unwrap_or_default(),
            environment: c
                .container_environment_variables
                .unwrap_or_default()
                .into_iter()
                .collect(),
        }),
        kernels: kernels
            .unwrap_or_default()
            .into_iter()
            .map(|k| (k.name.unwrap_or_default(), k.display_name))
            .collect(),
    }
}
