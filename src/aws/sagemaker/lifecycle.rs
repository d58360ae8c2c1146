//! Studio lifecycle configurations: Create, List, Delete.

use aws_sdk_sagemaker::types as sm;

use super::{PAGE_SIZE, found, non_empty, tags_to_sdk};
use crate::aws::clients::AwsSession;
use crate::aws::error::AwsError;
use crate::aws::model::{LifecycleConfigCreate, LifecycleConfigSummary};

impl AwsSession {
    /// CreateStudioLifecycleConfig; returns the ARN.
    pub async fn create_lifecycle_config(&self, config: &LifecycleConfigCreate) -> Result<String, AwsError> {
        let request = self
            .sagemaker
            .create_studio_lifecycle_config()
            .studio_lifecycle_config_name(&config.name)
            .studio_lifecycle_config_app_type(sm::StudioLifecycleConfigAppType::from(config.app_type.as_str()))
            .studio_lifecycle_config_content(aws_smithy_types::base64::encode(&config.content))
            .set_tags(non_empty(&tags_to_sdk(&config.tags)));
        let out = self
            .call("CreateStudioLifecycleConfig", || request.clone().send())
            .await?;
        Ok(out.studio_lifecycle_config_arn.unwrap_or_default())
    }

    /// ListStudioLifecycleConfigs whose name contains `name_part`, all pages.
    pub async fn list_lifecycle_configs(&self, name_part: &str) -> Result<Vec<LifecycleConfigSummary>, AwsError> {
        let mut configs = Vec::new();
        let mut token = None;
        loop {
            let request = self
                .sagemaker
                .list_studio_lifecycle_configs()
                .name_contains(name_part)
                .max_results(PAGE_SIZE)
                .set_next_token(token);
            let out = self
                .call("ListStudioLifecycleConfigs", || request.clone().send())
                .await?;
            configs.extend(out.studio_lifecycle_configs.unwrap_or_default().into_iter().map(|c| {
                LifecycleConfigSummary {
                    name: c.studio_lifecycle_config_name.unwrap_or_default(),
                    arn: c.studio_lifecycle_config_arn.unwrap_or_default(),
                    app_type: c
                        .studio_lifecycle_config_app_type
                        .map(|t| t.as_str().to_string())
                        .unwrap_or_default(),
                }
            }));
            token = out.next_token;
            if token.is_none() {
                return Ok(configs);
            }
        }
    }

    /// DescribeStudioLifecycleConfig: the script (decoded), or `None` when there is no such
    /// configuration.
    pub async fn describe_lifecycle_config(&self, name: &str) -> Result<Option<String>, AwsError> {
        let request = self
            .sagemaker
            .describe_studio_lifecycle_config()
            .studio_lifecycle_config_name(name);
        let Some(out) = found(
            self.call("DescribeStudioLifecycleConfig", || request.clone().send())
                .await,
        )?
        else {
            return Ok(None);
        };
        let encoded = out.studio_lifecycle_config_content.unwrap_or_default();
        let decoded = aws_smithy_types::base64::decode(&encoded).unwrap_or_default();
        Ok(Some(String::from_utf8_lossy(&decoded).into_owned()))
    }

    /// DeleteStudioLifecycleConfig; a config that is already gone counts as deleted.
    pub async fn delete_lifecycle_config(&self, name: &str) -> Result<(), AwsError> {
        let request = self
            .sagemaker
            .delete_studio_lifecycle_config()
            .studio_lifecycle_config_name(name);
        found(
            self.call("DeleteStudioLifecycleConfig", || request.clone().send())
                .await,
        )?;
        Ok(())
    }
}
