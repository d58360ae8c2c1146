//! The members of a domain: user profiles and spaces (Create, Describe, Update, Delete, List).

use aws_sdk_sagemaker::types as sm;
use aws_smithy_types::DateTime;

use super::shapes::{observed, space_settings, user_settings};
use super::{PAGE_SIZE, found, non_empty, tags_to_sdk};
use crate::aws::clients::AwsSession;
use crate::aws::error::AwsError;
use crate::aws::model::{
    Document, MemberDetails, MemberSummary, ObservedProfile, ObservedSpace, ProfileCreate, SpaceCreate,
};

impl AwsSession {
    /// ListUserProfiles of a domain, all pages.
    pub async fn list_user_profiles(&self, domain_id: &str) -> Result<Vec<MemberSummary>, AwsError> {
        let mut profiles = Vec::new();
        let mut token = None;
        loop {
            let request = self
                .sagemaker
                .list_user_profiles()
                .domain_id_equals(domain_id)
                .max_results(PAGE_SIZE)
                .set_next_token(token);
            let out = self.call("ListUserProfiles", || request.clone().send()).await?;
            profiles.extend(
                out.user_profiles
                    .unwrap_or_default()
                    .into_iter()
                    .map(|p| MemberSummary {
                        name: p.user_profile_name.unwrap_or_default(),
                        status: p.status.map(|s| s.as_str().to_string()).unwrap_or_default(),
                        last_modified: p.last_modified_time.as_ref().map(DateTime::as_secs_f64),
                        owner: None,
                    }),
            );
            token = out.next_token;
            if token.is_none() {
                return Ok(profiles);
            }
        }
    }

    /// DescribeUserProfile; `None` when it does not exist.
    pub async fn describe_user_profile(&self, domain_id: &str, name: &str) -> Result<Option<MemberDetails>, AwsError> {
        Ok(self.observe_user_profile(domain_id, name).await?.map(|p| p.details))
    }

    /// DescribeUserProfile with its settings and identity; `None` when it does not exist.
    pub async fn observe_user_profile(&self, domain_id: &str, name: &str) -> Result<Option<ObservedProfile>, AwsError> {
        let request = self
            .sagemaker
            .describe_user_profile()
            .domain_id(domain_id)
            .user_profile_name(name);
        let Some(out) = found(self.call("DescribeUserProfile", || request.clone().send()).await)? else {
            return Ok(None);
        };
        let settings = observed(out.user_settings.as_ref())?;
        Ok(Some(ObservedProfile {
            details: MemberDetails {
                name: out.user_profile_name.unwrap_or_default(),
                arn: out.user_profile_arn.unwrap_or_default(),
                status: out.status.map(|s| s.as_str().to_string()).unwrap_or_default(),
                home_efs_uid: out.home_efs_file_system_uid,
                execution_role: settings
                    .get("ExecutionRole")
                    .and_then(serde_json::Value::as_str)
                    .map(str::to_string),
                last_modified: out.last_modified_time.as_ref().map(DateTime::as_secs_f64),
                failure_reason: out.failure_reason.filter(|r| !r.is_empty()),
            },
            sso_user_value: out.single_sign_on_user_value,
            settings,
        }))
    }

    /// CreateUserProfile; returns its ARN. The profile starts `Pending`.
    pub async fn create_user_profile(&self, domain_id: &str, profile: &ProfileCreate) -> Result<String, AwsError> {
        let request = self
            .sagemaker
            .create_user_profile()
            .domain_id(domain_id)
            .user_profile_name(&profile.name)
            .set_single_sign_on_user_identifier(profile.sso.as_ref().map(|s| s.identifier.clone()))
            .set_single_sign_on_user_value(profile.sso.as_ref().map(|s| s.value.clone()))
            .user_settings(user_settings(&profile.settings)?)
            .set_tags(non_empty(&tags_to_sdk(&profile.tags)));
        let out = self.call("CreateUserProfile", || request.clone().send()).await?;
        Ok(out.user_profile_arn.unwrap_or_default())
    }

    /// UpdateUserProfile with `UserSettings` (the complete structure: the current one with the
    /// managed paths changed).
    pub async fn update_user_profile(&self, domain_id: &str, name: &str, settings: &Document) -> Result<(), AwsError> {
        let request = self
            .sagemaker
            .update_user_profile()
            .domain_id(domain_id)
            .user_profile_name(name)
            .user_settings(user_settings(settings)?);
        self.call("UpdateUserProfile", || request.clone().send()).await?;
        Ok(())
    }

    /// DeleteUserProfile.
    pub async fn delete_user_profile(&self, domain_id: &str, name: &str) -> Result<(), AwsError> {
        let request = self
            .sagemaker
            .delete_user_profile()
            .domain_id(domain_id)
            .user_profile_name(name);
        self.call("DeleteUserProfile", || request.clone().send()).await?;
        Ok(())
    }

    /// ListSpaces of a domain, all pages, with each space's owner.
    pub async fn list_spaces(&self, domain_id: &str) -> Result<Vec<MemberSummary>, AwsError> {
        let mut spaces = Vec::new();
        let mut token = None;
        loop {
            let request = self
                .sagemaker
                .list_spaces()
                .domain_id_equals(domain_id)
                .max_results(PAGE_SIZE)
                .set_next_token(token);
            let out = self.call("ListSpaces", || request.clone().send()).await?;
            spaces.extend(out.spaces.unwrap_or_default().into_iter().map(|s| MemberSummary {
                name: s.space_name.unwrap_or_default(),
                status: s.status.map(|s| s.as_str().to_string()).unwrap_or_default(),
                last_modified: s.last_modified_time.as_ref().map(DateTime::as_secs_f64),
                owner: s.ownership_settings_summary.and_then(|o| o.owner_user_profile_name),
            }));
            token = out.next_token;
            if token.is_none() {
                return Ok(spaces);
            }
        }
    }

    /// DescribeSpace; `None` when it does not exist. Spaces carry no execution role.
    pub async fn describe_space(&self, domain_id: &str, name: &str) -> Result<Option<MemberDetails>, AwsError> {
        Ok(self.observe_space(domain_id, name).await?.map(|s| s.details))
    }

    /// DescribeSpace with its sharing and settings; `None` when it does not exist.
    pub async fn observe_space(&self, domain_id: &str, name: &str) -> Result<Option<ObservedSpace>, AwsError> {
        let request = self.sagemaker.describe_space().domain_id(domain_id).space_name(name);
        let Some(out) = found(self.call("DescribeSpace", || request.clone().send()).await)? else {
            return Ok(None);
        };
        Ok(Some(ObservedSpace {
            details: MemberDetails {
                name: out.space_name.unwrap_or_default(),
                arn: out.space_arn.unwrap_or_default(),
                status: out.status.map(|s| s.as_str().to_string()).unwrap_or_default(),
                home_efs_uid: out.home_efs_file_system_uid,
                execution_role: None,
                last_modified: out.last_modified_time.as_ref().map(DateTime::as_secs_f64),
                failure_reason: out.failure_reason.filter(|r| !r.is_empty()),
            },
            display_name: out.space_display_name,
            owner: out.ownership_settings.and_then(|o| o.owner_user_profile_name),
            sharing_type: out
                .space_sharing_settings
                .and_then(|s| s.sharing_type)
                .map(|t| t.as_str().to_string()),
            settings: observed(out.space_settings.as_ref())?,
        }))
    }

    /// CreateSpace; returns its ARN. The space starts `Pending`.
    pub async fn create_space(&self, domain_id: &str, space: &SpaceCreate) -> Result<String, AwsError> {
        let request = self
            .sagemaker
            .create_space()
            .domain_id(domain_id)
            .space_name(&space.name)
            .set_space_display_name(space.display_name.clone())
            .ownership_settings(
                sm::OwnershipSettings::builder()
                    .owner_user_profile_name(&space.owner)
                    .build(),
            )
            .space_sharing_settings(
                sm::SpaceSharingSettings::builder()
                    .sharing_type(sm::SharingType::from(space.sharing_type.as_str()))
                    .build(),
            )
            .space_settings(space_settings(&space.settings, true)?)
            .set_tags(non_empty(&tags_to_sdk(&space.tags)));
        let out = self.call("CreateSpace", || request.clone().send()).await?;
        Ok(out.space_arn.unwrap_or_default())
    }

    /// UpdateSpace: settings (the complete structure without the immutable app type; `None`
    /// leaves them out) and display name.
    pub async fn update_space(
        &self,
        domain_id: &str,
        name: &str,
        display_name: Option<&str>,
        settings: Option<&Document>,
    ) -> Result<(), AwsError> {
        let request = self
            .sagemaker
            .update_space()
            .domain_id(domain_id)
            .space_name(name)
            .set_space_display_name(display_name.map(str::to_string))
            .set_space_settings(settings.map(|s| space_settings(s, false)).transpose()?);
        self.call("UpdateSpace", || request.clone().send()).await?;
        Ok(())
    }

    /// DeleteSpace.
    pub async fn delete_space(&self, domain_id: &str, name: &str) -> Result<(), AwsError> {
        let request = self.sagemaker.delete_space().domain_id(domain_id).space_name(name);
        self.call("DeleteSpace", || request.clone().send()).await?;
        Ok(())
    }
}
