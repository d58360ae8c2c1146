//! Domains: CreateDomain, DescribeDomain, UpdateDomain, DeleteDomain, ListDomains.

use aws_sdk_sagemaker::types as sm;
use aws_smithy_types::DateTime;

use super::shapes::{space_defaults_from_sdk, space_defaults_to_sdk, user_settings_from_sdk, user_settings_to_sdk};
use super::{PAGE_SIZE, found, non_blank, non_empty, tag_propagation_to_sdk, tags_to_sdk};
use crate::aws::clients::AwsSession;
use crate::aws::error::AwsError;
use crate::aws::model::{CreatedDomain, DomainCreate, DomainSummary, DomainUpdate, ObservedDomain};

impl AwsSession {
    /// CreateDomain. The domain starts `Pending`; poll [`AwsSession::describe_domain`].
    pub async fn create_domain(&self, domain: &DomainCreate) -> Result<CreatedDomain, AwsError> {
        let domain_settings = (!domain.security_group_ids.is_empty() || !domain.execution_role_identity.is_empty())
            .then(|| {
                sm::DomainSettings::builder()
                    .set_security_group_ids(non_empty(&domain.security_group_ids))
                    .set_execution_role_identity_config(
                        non_blank(&domain.execution_role_identity).map(sm::ExecutionRoleIdentityConfig::from),
                    )
                    .build()
            });
        let request = self
            .sagemaker
            .create_domain()
            .domain_name(&domain.name)
            .auth_mode(sm::AuthMode::from(domain.auth_mode.as_str()))
            .vpc_id(&domain.vpc_id)
            .set_subnet_ids(Some(domain.subnet_ids.clone()))
            .set_app_network_access_type(non_blank(&domain.access_type).map(sm::AppNetworkAccessType::from))
            .set_kms_key_id(non_blank(&domain.kms_key_id).map(str::to_string))
            .set_domain_settings(domain_settings)
            .tag_propagation(tag_propagation_to_sdk(domain.tag_propagation))
            .default_user_settings(user_settings_to_sdk(&domain.default_user_settings))
            .set_default_space_settings(domain.default_space_settings.as_ref().map(space_defaults_to_sdk))
            .set_tags(non_empty(&tags_to_sdk(&domain.tags)));
        let out = self.call("CreateDomain", || request.clone().send()).await?;
        Ok(CreatedDomain {
            id: out.domain_id.unwrap_or_default(),
            arn: out.domain_arn.unwrap_or_default(),
            url: out.url.unwrap_or_default(),
        })
    }

    /// DescribeDomain; `None` when the domain does not exist (any more).
    pub async fn describe_domain(&self, domain_id: &str) -> Result<Option<ObservedDomain>, AwsError> {
        let result = self
            .call("DescribeDomain", || {
                self.sagemaker.describe_domain().domain_id(domain_id).send()
            })
            .await;
        let Some(out) = found(result)? else {
            return Ok(None);
        };
        let (security_group_ids, execution_role_identity) = match out.domain_settings {
            Some(ds) => (
                ds.security_group_ids.unwrap_or_default(),
                ds.execution_role_identity_config.map(|c| c.as_str().to_string()),
            ),
            None => (Vec::new(), None),
        };
        Ok(Some(ObservedDomain {
            id: out.domain_id.unwrap_or_default(),
            arn: out.domain_arn.unwrap_or_default(),
            name: out.domain_name.unwrap_or_default(),
            status: out.status.map(|s| s.as_str().to_string()).unwrap_or_default(),
            failure_reason: out.failure_reason.filter(|r| !r.is_empty()),
            url: out.url,
            home_efs_file_system_id: out.home_efs_file_system_id,
            auth_mode: out.auth_mode.map(|a| a.as_str().to_string()).unwrap_or_default(),
            vpc_id: out.vpc_id,
            subnet_ids: out.subnet_ids.unwrap_or_default(),
            access_type: out.app_network_access_type.map(|a| a.as_str().to_string()),
            kms_key_id: out.kms_key_id,
            security_group_ids,
            execution_role_identity,
            tag_propagation: out.tag_propagation == Some(sm::TagPropagation::Enabled),
            default_user_settings: out
                .default_user_settings
                .map(user_settings_from_sdk)
                .unwrap_or_default(),
            default_space_settings: out.default_space_settings.and_then(space_defaults_from_sdk),
            last_modified: out.last_modified_time.as_ref().map(DateTime::as_secs_f64),
        }))
    }

    /// UpdateDomain with the `Some` members of `update`; an empty update makes no call.
    pub async fn update_domain(&self, domain_id: &str, update: &DomainUpdate) -> Result<(), AwsError> {
        if update.is_empty() {
            return Ok(());
        }
        let vpc_only = update.access_type.as_deref() == Some("VpcOnly");
        let domain_settings =
            (update.security_group_ids.is_some() || update.execution_role_identity.is_some()).then(|| {
                sm::DomainSettingsForUpdate::builder()
                    .set_security_group_ids(update.security_group_ids.clone())
                    .set_execution_role_identity_config(
                        update
                            .execution_role_identity
                            .as_deref()
                            .map(sm::ExecutionRoleIdentityConfig::from),
                    )
                    .build()
            });
        let request = self
            .sagemaker
            .update_domain()
            .domain_id(domain_id)
            .set_default_user_settings(update.default_user_settings.as_ref().map(user_settings_to_sdk))
            .set_default_space_settings(update.default_space_settings.as_ref().map(space_defaults_to_sdk))
            .set_subnet_ids(update.subnet_ids.clone())
            .set_app_network_access_type(update.access_type.as_deref().map(sm::AppNetworkAccessType::from))
            // The API wants VpcId exactly when switching to VpcOnly.
            .set_vpc_id(update.vpc_id.clone().filter(|_| vpc_only))
            .set_domain_settings_for_update(domain_settings)
            .set_tag_propagation(update.tag_propagation.map(tag_propagation_to_sdk));
        self.call("UpdateDomain", || request.clone().send()).await?;
        Ok(())
    }

    /// DeleteDomain, keeping or deleting the home EFS volume. A missing domain is
    /// [`AwsError::NotFound`]; the caller decides whether that means success.
    pub async fn delete_domain(&self, domain_id: &str, retain_efs: bool) -> Result<(), AwsError> {
        let retention = if retain_efs {
            sm::RetentionType::Retain
        } else {
            sm::RetentionType::Delete
        };
        let request = self
            .sagemaker
            .delete_domain()
            .domain_id(domain_id)
            .retention_policy(sm::RetentionPolicy::builder().home_efs_file_system(retention).build());
        self.call("DeleteDomain", || request.clone().send()).await?;
        Ok(())
    }

    /// ListDomains, all pages.
    pub async fn list_domains(&self) -> Result<Vec<DomainSummary>, AwsError> {
        let mut domains = Vec::new();
        let mut token = None;
        loop {
            let request = self
                .sagemaker
                .list_domains()
                .max_results(PAGE_SIZE)
                .set_next_token(token);
            let out = self.call("ListDomains", || request.clone().send()).await?;
            domains.extend(out.domains.unwrap_or_default().into_iter().map(|d| DomainSummary {
                id: d.domain_id.unwrap_or_default(),
                arn: d.domain_arn.unwrap_or_default(),
                name: d.domain_name.unwrap_or_default(),
                status: d.status.map(|s| s.as_str().to_string()).unwrap_or_default(),
            }));
            token = out.next_token;
            if token.is_none() {
                return Ok(domains);
            }
        }
    }
}
