//! Domains: CreateDomain, DescribeDomain, UpdateDomain, DeleteDomain, ListDomains.

use aws_sdk_sagemaker::types as sm;
use aws_smithy_types::DateTime;

use super::shapes::{default_space_settings, domain_settings, domain_settings_for_update, observed, user_settings};
use super::{PAGE_SIZE, found, non_blank, non_empty, tag_propagation_to_sdk, tags_to_sdk};
use crate::aws::clients::AwsSession;
use crate::aws::error::AwsError;
use crate::aws::model::{CreatedDomain, DomainCreate, DomainSummary, DomainUpdate, ObservedDomain};

impl AwsSession {
    /// CreateDomain. The domain starts `Pending`; poll [`AwsSession::describe_domain`].
    pub async fn create_domain(&self, domain: &DomainCreate) -> Result<CreatedDomain, AwsError> {
        let request = self
            .sagemaker
            .create_domain()
            .domain_name(&domain.name)
            .auth_mode(sm::AuthMode::from(domain.auth_mode.as_str()))
            .vpc_id(&domain.vpc_id)
            .set_subnet_ids(Some(domain.subnet_ids.clone()))
            .set_app_network_access_type(non_blank(&domain.access_type).map(sm::AppNetworkAccessType::from))
            .set_kms_key_id(non_blank(&domain.kms_key_id).map(str::to_string))
            .set_app_security_group_management(
                domain
                    .app_security_group_management
                    .as_deref()
                    .map(sm::AppSecurityGroupManagement::from),
            )
            .set_home_efs_file_system_creation(
                domain
                    .home_efs_file_system_creation
                    .as_deref()
                    .map(sm::HomeEfsFileSystemCreation::from),
            )
            .set_domain_settings(domain_settings(&domain.domain_settings)?)
            .tag_propagation(tag_propagation_to_sdk(domain.tag_propagation))
            .default_user_settings(user_settings(&domain.default_user_settings)?)
            .set_default_space_settings(default_space_settings(&domain.default_space_settings)?)
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
        Ok(Some(ObservedDomain {
            default_user_settings: observed(out.default_user_settings.as_ref())?,
            default_space_settings: observed(out.default_space_settings.as_ref())?,
            domain_settings: observed(out.domain_settings.as_ref())?,
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
            app_security_group_management: out.app_security_group_management.map(|a| a.as_str().to_string()),
            home_efs_file_system_creation: out.home_efs_file_system_creation.map(|h| h.as_str().to_string()),
            tag_propagation: out.tag_propagation == Some(sm::TagPropagation::Enabled),
            last_modified: out.last_modified_time.as_ref().map(DateTime::as_secs_f64),
        }))
    }

    /// UpdateDomain with the `Some` members of `update`; an empty update makes no call.
    pub async fn update_domain(&self, domain_id: &str, update: &DomainUpdate) -> Result<(), AwsError> {
        if update.is_empty() {
            return Ok(());
        }
        let vpc_only = update.access_type.as_deref() == Some("VpcOnly");
        let request = self
            .sagemaker
            .update_domain()
            .domain_id(domain_id)
            .set_default_user_settings(update.default_user_settings.as_ref().map(user_settings).transpose()?)
            .set_default_space_settings(
                update
                    .default_space_settings
                    .as_ref()
                    .map(default_space_settings)
                    .transpose()?
                    .flatten(),
            )
            .set_domain_settings_for_update(
                update
                    .domain_settings
                    .as_ref()
                    .map(domain_settings_for_update)
                    .transpose()?,
            )
            .set_subnet_ids(update.subnet_ids.clone())
            .set_app_network_access_type(update.access_type.as_deref().map(sm::AppNetworkAccessType::from))
            // The API wants VpcId exactly when switching to VpcOnly.
            .set_vpc_id(update.vpc_id.clone().filter(|_| vpc_only))
            .set_tag_propagation(update.tag_propagation.map(tag_propagation_to_sdk))
            .set_app_security_group_management(
                update
                    .app_security_group_management
                    .as_deref()
                    .map(sm::AppSecurityGroupManagement::from),
            )
            .set_home_efs_file_system_creation(
                update
                    .home_efs_file_system_creation
                    .as_deref()
                    .map(sm::HomeEfsFileSystemCreation::from),
            );
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
