//! SageMaker AI Studio calls and the mapping between SDK shapes and [`super::model`].
//!
//! The mapping is symmetric so that settings read back from the API compare equal to the
//! settings that were sent: absent lists read as empty, and structures whose members are all
//! empty read as `None`.

use std::collections::BTreeMap;

use aws_sdk_sagemaker::types as sm;
use aws_smithy_types::DateTime;

use super::clients::AwsSession;
use super::error::AwsError;
use super::model::{
    AppDetails, AppSettings, AppSummary, CreatedDomain, DomainCreate, DomainSummary, DomainUpdate, IdleSettings,
    LifecycleConfigCreate, LifecycleConfigSummary, MemberDetails, MemberSummary, ObservedDomain, ObservedProfile,
    ObservedSpace, ProfileCreate, ResourceSpec, Sharing, SpaceCreate, SpaceDefaults, SpaceSettings, StorageDefaults,
    UserSettings,
};

/// Page size of the List calls (the API maximum).
const PAGE_SIZE: i32 = 100;
/// AddTags and DeleteTags take at most 50 tags per call.
const TAG_CHUNK: usize = 50;

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

    /// ListTags of any SageMaker resource, all pages.
    pub async fn list_tags(&self, arn: &str) -> Result<BTreeMap<String, String>, AwsError> {
        let mut tags = BTreeMap::new();
        let mut token = None;
        loop {
            let request = self
                .sagemaker
                .list_tags()
                .resource_arn(arn)
                .max_results(PAGE_SIZE)
                .set_next_token(token);
            let out = self.call("ListTags", || request.clone().send()).await?;
            tags.extend(tags_from_sdk(out.tags.unwrap_or_default()));
            token = out.next_token;
            if token.is_none() {
                return Ok(tags);
            }
        }
    }

    /// AddTags (adds or overwrites), in chunks the API accepts.
    pub async fn add_tags(&self, arn: &str, tags: &BTreeMap<String, String>) -> Result<(), AwsError> {
        for chunk in tags_to_sdk(tags).chunks(TAG_CHUNK) {
            let request = self
                .sagemaker
                .add_tags()
                .resource_arn(arn)
                .set_tags(Some(chunk.to_vec()));
            self.call("AddTags", || request.clone().send()).await?;
        }
        Ok(())
    }

    /// DeleteTags, in chunks the API accepts.
    pub async fn delete_tags(&self, arn: &str, keys: &[String]) -> Result<(), AwsError> {
        for chunk in keys.chunks(TAG_CHUNK) {
            let request = self
                .sagemaker
                .delete_tags()
                .resource_arn(arn)
                .set_tag_keys(Some(chunk.to_vec()));
            self.call("DeleteTags", || request.clone().send()).await?;
        }
        Ok(())
    }

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
        let settings = out.user_settings.map(user_settings_from_sdk).unwrap_or_default();
        Ok(Some(ObservedProfile {
            details: MemberDetails {
                name: out.user_profile_name.unwrap_or_default(),
                arn: out.user_profile_arn.unwrap_or_default(),
                status: out.status.map(|s| s.as_str().to_string()).unwrap_or_default(),
                home_efs_uid: out.home_efs_file_system_uid,
                execution_role: settings.execution_role.clone(),
                last_modified: out.last_modified_time.as_ref().map(DateTime::as_secs_f64),
            },
            failure_reason: out.failure_reason.filter(|r| !r.is_empty()),
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
            .user_settings(user_settings_to_sdk(&profile.settings))
            .set_tags(non_empty(&tags_to_sdk(&profile.tags)));
        let out = self.call("CreateUserProfile", || request.clone().send()).await?;
        Ok(out.user_profile_arn.unwrap_or_default())
    }

    /// UpdateUserProfile with complete `UserSettings`.
    pub async fn update_user_profile(
        &self,
        domain_id: &str,
        name: &str,
        settings: &UserSettings,
    ) -> Result<(), AwsError> {
        let request = self
            .sagemaker
            .update_user_profile()
            .domain_id(domain_id)
            .user_profile_name(name)
            .user_settings(user_settings_to_sdk(settings));
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
            },
            failure_reason: out.failure_reason.filter(|r| !r.is_empty()),
            display_name: out.space_display_name,
            owner: out.ownership_settings.and_then(|o| o.owner_user_profile_name),
            sharing_type: out
                .space_sharing_settings
                .and_then(|s| s.sharing_type)
                .map(|t| t.as_str().to_string()),
            settings: out.space_settings.map(space_settings_from_sdk).unwrap_or_default(),
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
            .space_settings(space_settings_to_sdk(&space.settings, true))
            .set_tags(non_empty(&tags_to_sdk(&space.tags)));
        let out = self.call("CreateSpace", || request.clone().send()).await?;
        Ok(out.space_arn.unwrap_or_default())
    }

    /// UpdateSpace: settings (without the immutable app type) and display name.
    pub async fn update_space(
        &self,
        domain_id: &str,
        name: &str,
        display_name: Option<&str>,
        settings: &SpaceSettings,
    ) -> Result<(), AwsError> {
        let request = self
            .sagemaker
            .update_space()
            .domain_id(domain_id)
            .space_name(name)
            .set_space_display_name(display_name.map(str::to_string))
            .space_settings(space_settings_to_sdk(settings, false));
        self.call("UpdateSpace", || request.clone().send()).await?;
        Ok(())
    }

    /// DeleteSpace.
    pub async fn delete_space(&self, domain_id: &str, name: &str) -> Result<(), AwsError> {
        let request = self.sagemaker.delete_space().domain_id(domain_id).space_name(name);
        self.call("DeleteSpace", || request.clone().send()).await?;
        Ok(())
    }

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
}

impl AwsSession {
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

/// Turns NotFound into `Ok(None)` for Describe calls.
fn found<T>(result: Result<T, AwsError>) -> Result<Option<T>, AwsError> {
    match result {
        Ok(out) => Ok(Some(out)),
        Err(AwsError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

fn non_blank(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}

fn non_empty<T: Clone>(items: &[T]) -> Option<Vec<T>> {
    (!items.is_empty()).then(|| items.to_vec())
}

fn tag_propagation_to_sdk(enabled: bool) -> sm::TagPropagation {
    if enabled {
        sm::TagPropagation::Enabled
    } else {
        sm::TagPropagation::Disabled
    }
}

fn tags_to_sdk(tags: &BTreeMap<String, String>) -> Vec<sm::Tag> {
    tags.iter()
        .map(|(k, v)| sm::Tag::builder().key(k).value(v).build())
        .collect()
}

fn tags_from_sdk(tags: Vec<sm::Tag>) -> impl Iterator<Item = (String, String)> {
    tags.into_iter()
        .filter_map(|t| Some((t.key?, t.value.unwrap_or_default())))
}

fn resource_spec_to_sdk(spec: &ResourceSpec) -> sm::ResourceSpec {
    sm::ResourceSpec::builder()
        .set_instance_type(spec.instance_type.as_deref().map(sm::AppInstanceType::from))
        .set_sage_maker_image_arn(spec.image_arn.clone())
        .set_sage_maker_image_version_arn(spec.image_version_arn.clone())
        .set_lifecycle_config_arn(spec.lifecycle_config_arn.clone())
        .build()
}

fn resource_spec_from_sdk(spec: sm::ResourceSpec) -> Option<ResourceSpec> {
    let spec = ResourceSpec {
        instance_type: spec.instance_type.map(|t| t.as_str().to_string()),
        image_arn: spec.sage_maker_image_arn,
        image_version_arn: spec.sage_maker_image_version_arn,
        lifecycle_config_arn: spec.lifecycle_config_arn,
    };
    (spec != ResourceSpec::default()).then_some(spec)
}

fn idle_to_sdk(idle: &IdleSettings) -> sm::AppLifecycleManagement {
    let lifecycle = idle.enabled.map(|on| {
        if on {
            sm::LifecycleManagement::Enabled
        } else {
            sm::LifecycleManagement::Disabled
        }
    });
    let settings = sm::IdleSettings::builder()
        .set_lifecycle_management(lifecycle)
        .set_idle_timeout_in_minutes(idle.timeout_minutes)
        .set_min_idle_timeout_in_minutes(idle.min_minutes)
        .set_max_idle_timeout_in_minutes(idle.max_minutes)
        .build();
    sm::AppLifecycleManagement::builder().idle_settings(settings).build()
}

fn idle_from_sdk(alm: sm::AppLifecycleManagement) -> Option<IdleSettings> {
    let s = alm.idle_settings?;
    let idle = IdleSettings {
        enabled: s.lifecycle_management.map(|m| m == sm::LifecycleManagement::Enabled),
        timeout_minutes: s.idle_timeout_in_minutes,
        min_minutes: s.min_idle_timeout_in_minutes,
        max_minutes: s.max_idle_timeout_in_minutes,
    };
    (idle != IdleSettings::default()).then_some(idle)
}

/// `None` for app settings with nothing in them, so they compare equal to "not configured".
fn app_settings(settings: AppSettings) -> Option<AppSettings> {
    (settings != AppSettings::default()).then_some(settings)
}

fn jupyter_lab_to_sdk(a: &AppSettings) -> sm::JupyterLabAppSettings {
    let repositories = a
        .code_repositories
        .iter()
        .map(|url| sm::CodeRepository::builder().repository_url(url).build())
        .collect();
    sm::JupyterLabAppSettings::builder()
        .set_default_resource_spec(a.default_resource_spec.as_ref().map(resource_spec_to_sdk))
        .set_lifecycle_config_arns(Some(a.lifecycle_config_arns.clone()))
        .set_code_repositories(Some(repositories))
        .set_app_lifecycle_management(a.idle.as_ref().map(idle_to_sdk))
        .build()
}

fn jupyter_lab_from_sdk(a: sm::JupyterLabAppSettings) -> Option<AppSettings> {
    app_settings(AppSettings {
        default_resource_spec: a.default_resource_spec.and_then(resource_spec_from_sdk),
        lifecycle_config_arns: a.lifecycle_config_arns.unwrap_or_default(),
        code_repositories: a
            .code_repositories
            .unwrap_or_default()
            .into_iter()
            .filter_map(|r| r.repository_url)
            .collect(),
        idle: a.app_lifecycle_management.and_then(idle_from_sdk),
    })
}

fn code_editor_to_sdk(a: &AppSettings) -> sm::CodeEditorAppSettings {
    sm::CodeEditorAppSettings::builder()
        .set_default_resource_spec(a.default_resource_spec.as_ref().map(resource_spec_to_sdk))
        .set_lifecycle_config_arns(Some(a.lifecycle_config_arns.clone()))
        .set_app_lifecycle_management(a.idle.as_ref().map(idle_to_sdk))
        .build()
}

fn code_editor_from_sdk(a: sm::CodeEditorAppSettings) -> Option<AppSettings> {
    app_settings(AppSettings {
        default_resource_spec: a.default_resource_spec.and_then(resource_spec_from_sdk),
        lifecycle_config_arns: a.lifecycle_config_arns.unwrap_or_default(),
        code_repositories: Vec::new(),
        idle: a.app_lifecycle_management.and_then(idle_from_sdk),
    })
}

fn kernel_gateway_to_sdk(a: &AppSettings) -> sm::KernelGatewayAppSettings {
    sm::KernelGatewayAppSettings::builder()
        .set_default_resource_spec(a.default_resource_spec.as_ref().map(resource_spec_to_sdk))
        .set_lifecycle_config_arns(Some(a.lifecycle_config_arns.clone()))
        .build()
}

fn kernel_gateway_from_sdk(a: sm::KernelGatewayAppSettings) -> Option<AppSettings> {
    app_settings(AppSettings {
        default_resource_spec: a.default_resource_spec.and_then(resource_spec_from_sdk),
        lifecycle_config_arns: a.lifecycle_config_arns.unwrap_or_default(),
        code_repositories: Vec::new(),
        idle: None,
    })
}

fn sharing_to_sdk(s: &Sharing) -> sm::SharingSettings {
    sm::SharingSettings::builder()
        .set_notebook_output_option(s.notebook_output_option.as_deref().map(sm::NotebookOutputOption::from))
        .set_s3_output_path(s.s3_output_path.clone())
        .set_s3_kms_key_id(s.s3_kms_key_id.clone())
        .build()
}

fn sharing_from_sdk(s: sm::SharingSettings) -> Option<Sharing> {
    let sharing = Sharing {
        notebook_output_option: s.notebook_output_option.map(|o| o.as_str().to_string()),
        s3_output_path: s.s3_output_path,
        s3_kms_key_id: s.s3_kms_key_id,
    };
    (sharing != Sharing::default()).then_some(sharing)
}

fn storage_to_sdk(s: &StorageDefaults) -> sm::DefaultSpaceStorageSettings {
    let ebs = sm::DefaultEbsStorageSettings::builder()
        .default_ebs_volume_size_in_gb(s.default_ebs_gb)
        .maximum_ebs_volume_size_in_gb(s.maximum_ebs_gb)
        .build();
    sm::DefaultSpaceStorageSettings::builder()
        .default_ebs_storage_settings(ebs)
        .build()
}

fn storage_from_sdk(s: sm::DefaultSpaceStorageSettings) -> Option<StorageDefaults> {
    let ebs = s.default_ebs_storage_settings?;
    Some(StorageDefaults {
        default_ebs_gb: ebs.default_ebs_volume_size_in_gb.unwrap_or_default(),
        maximum_ebs_gb: ebs.maximum_ebs_volume_size_in_gb.unwrap_or_default(),
    })
}

/// Sent complete: lists always go out (possibly empty) so an update can clear them.
fn user_settings_to_sdk(u: &UserSettings) -> sm::UserSettings {
    sm::UserSettings::builder()
        .set_execution_role(u.execution_role.clone())
        .set_security_groups(Some(u.security_groups.clone()))
        .set_sharing_settings(u.sharing.as_ref().map(sharing_to_sdk))
        .set_jupyter_lab_app_settings(u.jupyter_lab.as_ref().map(jupyter_lab_to_sdk))
        .set_code_editor_app_settings(u.code_editor.as_ref().map(code_editor_to_sdk))
        .set_kernel_gateway_app_settings(u.kernel_gateway.as_ref().map(kernel_gateway_to_sdk))
        .set_space_storage_settings(u.space_storage.as_ref().map(storage_to_sdk))
        .build()
}

fn user_settings_from_sdk(u: sm::UserSettings) -> UserSettings {
    UserSettings {
        execution_role: u.execution_role,
        security_groups: u.security_groups.unwrap_or_default(),
        sharing: u.sharing_settings.and_then(sharing_from_sdk),
        jupyter_lab: u.jupyter_lab_app_settings.and_then(jupyter_lab_from_sdk),
        code_editor: u.code_editor_app_settings.and_then(code_editor_from_sdk),
        kernel_gateway: u.kernel_gateway_app_settings.and_then(kernel_gateway_from_sdk),
        space_storage: u.space_storage_settings.and_then(storage_from_sdk),
    }
}

fn space_defaults_to_sdk(s: &SpaceDefaults) -> sm::DefaultSpaceSettings {
    sm::DefaultSpaceSettings::builder()
        .set_execution_role(s.execution_role.clone())
        .set_security_groups(Some(s.security_groups.clone()))
        .set_jupyter_lab_app_settings(s.jupyter_lab.as_ref().map(jupyter_lab_to_sdk))
        .set_kernel_gateway_app_settings(s.kernel_gateway.as_ref().map(kernel_gateway_to_sdk))
        .set_space_storage_settings(s.space_storage.as_ref().map(storage_to_sdk))
        .build()
}

fn space_defaults_from_sdk(s: sm::DefaultSpaceSettings) -> Option<SpaceDefaults> {
    let defaults = SpaceDefaults {
        execution_role: s.execution_role,
        security_groups: s.security_groups.unwrap_or_default(),
        jupyter_lab: s.jupyter_lab_app_settings.and_then(jupyter_lab_from_sdk),
        kernel_gateway: s.kernel_gateway_app_settings.and_then(kernel_gateway_from_sdk),
        space_storage: s.space_storage_settings.and_then(storage_from_sdk),
    };
    (defaults != SpaceDefaults::default()).then_some(defaults)
}

/// `SpaceSettings` for Create (`with_app_type`) or Update (AppType cannot be sent). Only the
/// settings of the space's own app type are sent; members are always complete.
fn space_settings_to_sdk(s: &SpaceSettings, with_app_type: bool) -> sm::SpaceSettings {
    let lifecycle = s.idle_timeout_minutes.map(|minutes| {
        sm::SpaceAppLifecycleManagement::builder()
            .idle_settings(
                sm::SpaceIdleSettings::builder()
                    .idle_timeout_in_minutes(minutes)
                    .build(),
            )
            .build()
    });
    let resource_spec = s.default_resource_spec.as_ref().map(resource_spec_to_sdk);
    let mut builder = sm::SpaceSettings::builder()
        .set_app_type(with_app_type.then(|| sm::AppType::from(s.app_type.as_str())))
        .set_space_storage_settings(s.ebs_volume_size_gb.map(|gb| {
            sm::SpaceStorageSettings::builder()
                .ebs_storage_settings(sm::EbsStorageSettings::builder().ebs_volume_size_in_gb(gb).build())
                .build()
        }))
        .set_custom_file_systems(Some(
            s.efs_file_system_ids
                .iter()
                .map(|id| sm::CustomFileSystem::EfsFileSystem(sm::EfsFileSystem::builder().file_system_id(id).build()))
                .collect(),
        ));
    builder = if s.app_type == "CodeEditor" {
        builder.code_editor_app_settings(
            sm::SpaceCodeEditorAppSettings::builder()
                .set_default_resource_spec(resource_spec)
                .set_app_lifecycle_management(lifecycle)
                .build(),
        )
    } else {
        builder.jupyter_lab_app_settings(
            sm::SpaceJupyterLabAppSettings::builder()
                .set_default_resource_spec(resource_spec)
                .set_app_lifecycle_management(lifecycle)
                .build(),
        )
    };
    builder.build()
}

fn space_settings_from_sdk(s: sm::SpaceSettings) -> SpaceSettings {
    let (resource_spec, lifecycle) = match (s.jupyter_lab_app_settings, s.code_editor_app_settings) {
        (Some(lab), _) => (lab.default_resource_spec, lab.app_lifecycle_management),
        (None, Some(editor)) => (editor.default_resource_spec, editor.app_lifecycle_management),
        (None, None) => (None, None),
    };
    SpaceSettings {
        app_type: s.app_type.map(|t| t.as_str().to_string()).unwrap_or_default(),
        default_resource_spec: resource_spec.and_then(resource_spec_from_sdk),
        idle_timeout_minutes: lifecycle
            .and_then(|l| l.idle_settings)
            .and_then(|i| i.idle_timeout_in_minutes),
        ebs_volume_size_gb: s
            .space_storage_settings
            .and_then(|st| st.ebs_storage_settings)
            .and_then(|e| e.ebs_volume_size_in_gb),
        efs_file_system_ids: s
            .custom_file_systems
            .unwrap_or_default()
            .into_iter()
            .filter_map(|fs| match fs {
                sm::CustomFileSystem::EfsFileSystem(efs) => efs.file_system_id,
                _ => None,
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full_app(code_repositories: bool, idle: bool) -> AppSettings {
        AppSettings {
            default_resource_spec: Some(ResourceSpec {
                instance_type: Some("ml.t3.medium".into()),
                image_arn: Some("arn:aws:sagemaker:us-east-1:081325390199:image/jupyter-server-3".into()),
                image_version_arn: None,
                lifecycle_config_arn: Some("arn:aws:sagemaker:us-east-1:123456789012:studio-lifecycle-config/x".into()),
            }),
            lifecycle_config_arns: vec!["arn:aws:sagemaker:us-east-1:123456789012:studio-lifecycle-config/x".into()],
            code_repositories: if code_repositories {
                vec!["https://github.com/example/repo.git".into()]
            } else {
                Vec::new()
            },
            idle: idle.then_some(IdleSettings {
                enabled: Some(true),
                timeout_minutes: Some(120),
                min_minutes: Some(60),
                max_minutes: None,
            }),
        }
    }

    fn full_user_settings() -> UserSettings {
        UserSettings {
            execution_role: Some("arn:aws:iam::123456789012:role/Exec".into()),
            security_groups: vec!["sg-1".into(), "sg-2".into()],
            sharing: Some(Sharing {
                notebook_output_option: Some("Allowed".into()),
                s3_output_path: Some("s3://bucket/out".into()),
                s3_kms_key_id: None,
            }),
            jupyter_lab: Some(full_app(true, true)),
            code_editor: Some(full_app(false, true)),
            kernel_gateway: Some(full_app(false, false)),
            space_storage: Some(StorageDefaults {
                default_ebs_gb: 5,
                maximum_ebs_gb: 100,
            }),
        }
    }

    #[test]
    fn user_settings_round_trip() {
        let desired = full_user_settings();
        assert_eq!(user_settings_from_sdk(user_settings_to_sdk(&desired)), desired);
        let minimal = UserSettings {
            execution_role: Some("arn:aws:iam::123456789012:role/Exec".into()),
            ..UserSettings::default()
        };
        assert_eq!(user_settings_from_sdk(user_settings_to_sdk(&minimal)), minimal);
    }

    #[test]
    fn space_defaults_round_trip() {
        let desired = SpaceDefaults {
            execution_role: Some("arn:aws:iam::123456789012:role/Space".into()),
            security_groups: vec!["sg-3".into()],
            jupyter_lab: Some(full_app(true, true)),
            kernel_gateway: Some(full_app(false, false)),
            space_storage: Some(StorageDefaults {
                default_ebs_gb: 10,
                maximum_ebs_gb: 20,
            }),
        };
        assert_eq!(space_defaults_from_sdk(space_defaults_to_sdk(&desired)), Some(desired));
        assert_eq!(
            space_defaults_from_sdk(sm::DefaultSpaceSettings::builder().build()),
            None
        );
    }

    #[test]
    fn empty_structures_read_as_none() {
        let empty = sm::UserSettings::builder()
            .sharing_settings(sm::SharingSettings::builder().build())
            .jupyter_lab_app_settings(
                sm::JupyterLabAppSettings::builder()
                    .set_lifecycle_config_arns(Some(Vec::new()))
                    .default_resource_spec(sm::ResourceSpec::builder().build())
                    .app_lifecycle_management(
                        sm::AppLifecycleManagement::builder()
                            .idle_settings(sm::IdleSettings::builder().build())
                            .build(),
                    )
                    .build(),
            )
            .code_editor_app_settings(sm::CodeEditorAppSettings::builder().build())
            .kernel_gateway_app_settings(sm::KernelGatewayAppSettings::builder().build())
            .space_storage_settings(sm::DefaultSpaceStorageSettings::builder().build())
            .build();
        assert_eq!(user_settings_from_sdk(empty), UserSettings::default());
    }

    #[test]
    fn lists_are_sent_even_when_empty() {
        let sent = user_settings_to_sdk(&UserSettings {
            jupyter_lab: Some(AppSettings {
                idle: Some(IdleSettings {
                    enabled: Some(false),
                    ..IdleSettings::default()
                }),
                ..AppSettings::default()
            }),
            ..UserSettings::default()
        });
        assert_eq!(sent.security_groups, Some(Vec::new()));
        let lab = sent.jupyter_lab_app_settings.unwrap();
        assert_eq!(lab.lifecycle_config_arns, Some(Vec::new()));
        assert_eq!(lab.code_repositories, Some(Vec::new()));
        assert_eq!(
            lab.app_lifecycle_management
                .unwrap()
                .idle_settings
                .unwrap()
                .lifecycle_management,
            Some(sm::LifecycleManagement::Disabled)
        );
    }

    #[test]
    fn tags_map_both_ways() {
        let tags = BTreeMap::from([("a".to_string(), "1".to_string()), ("b".to_string(), String::new())]);
        let back: BTreeMap<_, _> = tags_from_sdk(tags_to_sdk(&tags)).collect();
        assert_eq!(back, tags);
    }

    #[test]
    fn space_settings_round_trip_for_both_app_types() {
        for app_type in ["JupyterLab", "CodeEditor"] {
            let desired = SpaceSettings {
                app_type: app_type.into(),
                default_resource_spec: full_app(false, false).default_resource_spec,
                idle_timeout_minutes: Some(120),
                ebs_volume_size_gb: Some(20),
                efs_file_system_ids: vec!["fs-0123456789abcdef0".into()],
            };
            assert_eq!(space_settings_from_sdk(space_settings_to_sdk(&desired, true)), desired);
            assert_eq!(
                space_settings_to_sdk(&desired, false).app_type,
                None,
                "AppType is never updated"
            );
        }
    }

    #[test]
    fn not_found_is_none_for_describe() {
        let nf: Result<(), _> = Err(AwsError::NotFound { message: "gone".into() });
        assert_eq!(found(nf), Ok(None));
        let other: Result<(), _> = Err(AwsError::Validation { message: "bad".into() });
        assert!(found(other).is_err());
    }
}
