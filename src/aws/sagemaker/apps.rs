//! Apps: ListApps, DescribeApp, DeleteApp.

use aws_sdk_sagemaker::types as sm;
use aws_smithy_types::DateTime;

use super::{PAGE_SIZE, found};
use crate::aws::clients::AwsSession;
use crate::aws::error::AwsError;
use crate::aws::model::{AppDetails, AppSummary};

impl AwsSession {
    /// ListApps of a domain (profiles' and spaces' apps), all pages.
    pub async fn list_apps(&self, domain_id: &str) -> Result<Vec<AppSummary>, AwsError> {
        let mut apps = Vec::new();
        let mut token = None;
        loop {
            let request = self
                .sagemaker
                .list_apps()
                .domain_id_equals(domain_id)
                .max_results(PAGE_SIZE)
                .set_next_token(token);
            let out = self.call("ListApps", || request.clone().send()).await?;
            apps.extend(out.apps.unwrap_or_default().into_iter().map(|a| {
                let (instance_type, image_arn) = a
                    .resource_spec
                    .map(|spec| (spec.instance_type, spec.sage_maker_image_arn))
                    .unwrap_or_default();
                AppSummary {
                    app_type: a.app_type.map(|t| t.as_str().to_string()).unwrap_or_default(),
                    app_name: a.app_name.unwrap_or_default(),
                    user_profile: a.user_profile_name,
                    space: a.space_name,
                    status: a.status.map(|s| s.as_str().to_string()).unwrap_or_default(),
                    instance_type: instance_type.map(|t| t.as_str().to_string()),
                    image_arn,
                    created: a.creation_time.as_ref().map(DateTime::as_secs_f64),
                }
            }));
            token = out.next_token;
            if token.is_none() {
                return Ok(apps);
            }
        }
    }

    /// DeleteApp of an app as ListApps reported it.
    pub async fn delete_app(&self, domain_id: &str, app: &AppSummary) -> Result<(), AwsError> {
        let request = self
            .sagemaker
            .delete_app()
            .domain_id(domain_id)
            .app_type(sm::AppType::from(app.app_type.as_str()))
            .app_name(&app.app_name)
            .set_user_profile_name(app.user_profile.clone())
            .set_space_name(app.space.clone());
        self.call("DeleteApp", || request.clone().send()).await?;
        Ok(())
    }

    /// DescribeApp of an app as ListApps reported it; `None` once it is gone.
    pub async fn describe_app(&self, domain_id: &str, app: &AppSummary) -> Result<Option<AppDetails>, AwsError> {
        let request = self
            .sagemaker
            .describe_app()
            .domain_id(domain_id)
            .app_type(sm::AppType::from(app.app_type.as_str()))
            .app_name(&app.app_name)
            .set_user_profile_name(app.user_profile.clone())
            .set_space_name(app.space.clone());
        let out = found(self.call("DescribeApp", || request.clone().send()).await)?;
        Ok(out.map(|out| AppDetails {
            arn: out.app_arn.unwrap_or_default(),
            last_health_check: out.last_health_check_timestamp.as_ref().map(DateTime::as_secs_f64),
            last_user_activity: out.last_user_activity_timestamp.as_ref().map(DateTime::as_secs_f64),
        }))
    }
}
