//! Our own model of the AWS side. The adapter maps SDK types to and from these; everything else
//! in the operator speaks only this model.
//!
//! Settings structures are [`Document`]s keyed by the API's member names, so every member AWS
//! holds is carried, including those the spec does not manage.

use std::collections::BTreeMap;

/// A KMS key as DescribeKey reports it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyInfo {
    /// Key id (uuid).
    pub key_id: String,
    /// Key ARN.
    pub arn: String,
    /// `Enabled`, `Disabled`, `PendingDeletion`, ...
    pub key_state: String,
    /// `Enabled` flag.
    pub enabled: bool,
    /// `CUSTOMER` or `AWS`.
    pub key_manager: String,
    /// e.g. `SYMMETRIC_DEFAULT`.
    pub key_spec: String,
    /// e.g. `ENCRYPT_DECRYPT`.
    pub key_usage: String,
}

/// A settings structure (`UserSettings`, `DefaultSpaceSettings`, `SpaceSettings`,
/// `DomainSettings`) as JSON keyed by the API's member names, exactly as on the wire. Desired
/// settings are built from the spec, observed ones read from Describe; comparisons, managed
/// paths and updates work on any member alike ([`crate::controller::settings`]).
pub type Document = serde_json::Map<String, serde_json::Value>;

/// Everything CreateDomain needs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DomainCreate {
    /// `DomainName`.
    pub name: String,
    /// `AuthMode`: `IAM` or `SSO`.
    pub auth_mode: String,
    /// `VpcId`.
    pub vpc_id: String,
    /// `SubnetIds`.
    pub subnet_ids: Vec<String>,
    /// `AppNetworkAccessType`.
    pub access_type: String,
    /// `KmsKeyId` (the resolved key ARN).
    pub kms_key_id: String,
    /// `AppSecurityGroupManagement`: `Service` or `Customer`.
    pub app_security_group_management: Option<String>,
    /// `HomeEfsFileSystemCreation`: `Enabled` or `Disabled`.
    pub home_efs_file_system_creation: Option<String>,
    /// `TagPropagation`: ENABLED when true.
    pub tag_propagation: bool,
    /// `DefaultUserSettings`.
    pub default_user_settings: Document,
    /// `DefaultSpaceSettings` (not sent when empty).
    pub default_space_settings: Document,
    /// `DomainSettings` (with `SecurityGroupIds` and `ExecutionRoleIdentityConfig`; not sent when
    /// empty).
    pub domain_settings: Document,
    /// `Tags` (user tags plus ownership tags).
    pub tags: BTreeMap<String, String>,
}

/// The mutable part of a domain, as UpdateDomain takes it. `None` leaves a member out of the call.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DomainUpdate {
    /// `DefaultUserSettings`: the current structure with the managed paths changed.
    pub default_user_settings: Option<Document>,
    /// `DefaultSpaceSettings`: the current structure with the managed paths changed.
    pub default_space_settings: Option<Document>,
    /// `DomainSettingsForUpdate`, in DescribeDomain's member names (the adapter renames
    /// `RStudioServerProDomainSettings`).
    pub domain_settings: Option<Document>,
    /// `SubnetIds`.
    pub subnet_ids: Option<Vec<String>>,
    /// `AppNetworkAccessType` (sent with VpcId and SubnetIds when VpcOnly).
    pub access_type: Option<String>,
    /// `VpcId`, only sent together with a VpcOnly access type.
    pub vpc_id: Option<String>,
    /// `TagPropagation`.
    pub tag_propagation: Option<bool>,
    /// `AppSecurityGroupManagement`.
    pub app_security_group_management: Option<String>,
    /// `HomeEfsFileSystemCreation`.
    pub home_efs_file_system_creation: Option<String>,
}

impl DomainUpdate {
    /// Whether the update would send nothing.
    pub fn is_empty(&self) -> bool {
        self == &DomainUpdate::default()
    }
}

/// What CreateDomain returns.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CreatedDomain {
    /// `DomainId`.
    pub id: String,
    /// `DomainArn`.
    pub arn: String,
    /// `Url`.
    pub url: String,
}

/// A domain as DescribeDomain reports it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ObservedDomain {
    /// `DomainId`.
    pub id: String,
    /// `DomainArn`.
    pub arn: String,
    /// `DomainName`.
    pub name: String,
    /// `Status`.
    pub status: String,
    /// `FailureReason`.
    pub failure_reason: Option<String>,
    /// `Url`.
    pub url: Option<String>,
    /// `HomeEfsFileSystemId`.
    pub home_efs_file_system_id: Option<String>,
    /// `AuthMode`.
    pub auth_mode: String,
    /// `VpcId`.
    pub vpc_id: Option<String>,
    /// `SubnetIds`.
    pub subnet_ids: Vec<String>,
    /// `AppNetworkAccessType`.
    pub access_type: Option<String>,
    /// `KmsKeyId` as stored.
    pub kms_key_id: Option<String>,
    /// `AppSecurityGroupManagement`.
    pub app_security_group_management: Option<String>,
    /// `HomeEfsFileSystemCreation`.
    pub home_efs_file_system_creation: Option<String>,
    /// `TagPropagation` == ENABLED.
    pub tag_propagation: bool,
    /// `DefaultUserSettings`.
    pub default_user_settings: Document,
    /// `DefaultSpaceSettings`.
    pub default_space_settings: Document,
    /// `DomainSettings`.
    pub domain_settings: Document,
    /// `LastModifiedTime`, epoch seconds.
    pub last_modified: Option<f64>,
}

/// A domain as ListDomains reports it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DomainSummary {
    /// `DomainId`.
    pub id: String,
    /// `DomainArn`.
    pub arn: String,
    /// `DomainName`.
    pub name: String,
    /// `Status`.
    pub status: String,
}

/// A user profile or space as the List calls report it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MemberSummary {
    /// `UserProfileName` or `SpaceName`.
    pub name: String,
    /// `Status`.
    pub status: String,
    /// `LastModifiedTime`, epoch seconds.
    pub last_modified: Option<f64>,
    /// For spaces: `OwnershipSettingsSummary.OwnerUserProfileName`.
    pub owner: Option<String>,
}

/// A resource and its tags, as the Resource Groups Tagging API reports them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TaggedResource {
    /// `ResourceARN`.
    pub arn: String,
    /// `Tags`.
    pub tags: BTreeMap<String, String>,
}

/// A user profile or space as Describe reports it (the fields recreation needs).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MemberDetails {
    /// `UserProfileName` or `SpaceName`.
    pub name: String,
    /// ARN.
    pub arn: String,
    /// `Status`.
    pub status: String,
    /// `HomeEfsFileSystemUid`.
    pub home_efs_uid: Option<String>,
    /// Execution role from its settings.
    pub execution_role: Option<String>,
    /// `LastModifiedTime`, epoch seconds (the same number the List calls report).
    pub last_modified: Option<f64>,
    /// `FailureReason`, when Failed.
    pub failure_reason: Option<String>,
}

/// The two kinds of members of a domain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MemberType {
    /// A user profile.
    UserProfile,
    /// A space.
    Space,
}

impl MemberType {
    /// The apps of the member `name` among a domain's apps (a profile's own apps only: its
    /// spaces' apps are the spaces').
    pub fn apps_of<'a>(self, apps: &'a [AppSummary], name: &str) -> Vec<&'a AppSummary> {
        apps.iter()
            .filter(|a| match self {
                MemberType::UserProfile => a.user_profile.as_deref() == Some(name) && a.space.is_none(),
                MemberType::Space => a.space.as_deref() == Some(name),
            })
            .collect()
    }
}

/// An app as ListApps reports it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AppSummary {
    /// `AppType`.
    pub app_type: String,
    /// `AppName`.
    pub app_name: String,
    /// `UserProfileName`, for profile apps.
    pub user_profile: Option<String>,
    /// `SpaceName`, for space apps.
    pub space: Option<String>,
    /// `Status`.
    pub status: String,
    /// `ResourceSpec.InstanceType`.
    pub instance_type: Option<String>,
    /// `ResourceSpec.SageMakerImageArn`.
    pub image_arn: Option<String>,
    /// `CreationTime`, epoch seconds.
    pub created: Option<f64>,
}

impl AppSummary {
    /// InService or Pending: costs money and blocks some updates.
    pub fn is_running(&self) -> bool {
        matches!(self.status.as_str(), "InService" | "Pending")
    }
    /// Not yet gone: blocks deletion of its owner.
    pub fn is_alive(&self) -> bool {
        !matches!(self.status.as_str(), "Deleted" | "Failed")
    }

    /// `owner/type/name`: short, unique in its domain (messages, Event subjects).
    pub fn path(&self) -> String {
        let owner = self.user_profile.as_deref().or(self.space.as_deref()).unwrap_or("-");
        format!("{owner}/{}/{}", self.app_type, self.app_name)
    }

    /// `JupyterLab app default (ml.t3.medium) of user profile alice`, for people.
    pub fn label(&self) -> String {
        let owner = match (&self.user_profile, &self.space) {
            (Some(profile), _) => format!("user profile {profile}"),
            (None, Some(space)) => format!("space {space}"),
            _ => "an unknown owner".into(),
        };
        format!(
            "{} app {} ({}) of {owner}",
            self.app_type,
            self.app_name,
            self.instance_type.as_deref().unwrap_or("default instance")
        )
    }
}

/// What DescribeApp adds to a ListApps entry: the ARN (for tags) and the activity timestamps.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AppDetails {
    /// `AppArn`.
    pub arn: String,
    /// `LastHealthCheckTimestamp`, epoch seconds.
    pub last_health_check: Option<f64>,
    /// `LastUserActivityTimestamp`, epoch seconds (refreshed by health checks too).
    pub last_user_activity: Option<f64>,
}

/// A Studio lifecycle configuration as ListStudioLifecycleConfigs reports it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LifecycleConfigSummary {
    /// `StudioLifecycleConfigName`.
    pub name: String,
    /// `StudioLifecycleConfigArn`.
    pub arn: String,
    /// `StudioLifecycleConfigAppType`.
    pub app_type: String,
}

/// Everything CreateStudioLifecycleConfig needs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LifecycleConfigCreate {
    /// `StudioLifecycleConfigName`.
    pub name: String,
    /// `StudioLifecycleConfigAppType`, e.g. `JupyterLab`.
    pub app_type: String,
    /// The script (sent base64-encoded as `StudioLifecycleConfigContent`).
    pub content: String,
    /// `Tags`.
    pub tags: BTreeMap<String, String>,
}

/// The IAM Identity Center user of a profile (`SingleSignOnUserIdentifier` / `Value`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SsoUser {
    /// `SingleSignOnUserIdentifier` (only `UserName` exists).
    pub identifier: String,
    /// `SingleSignOnUserValue`.
    pub value: String,
}

/// Everything CreateUserProfile needs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProfileCreate {
    /// `UserProfileName`.
    pub name: String,
    /// SSO identity, in SSO domains only.
    pub sso: Option<SsoUser>,
    /// `UserSettings`.
    pub settings: Document,
    /// `Tags` (user tags, ownership tags, `studiouserid`).
    pub tags: BTreeMap<String, String>,
}

/// A user profile as DescribeUserProfile reports it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ObservedProfile {
    /// Name, ARN, status, EFS UID, failure reason.
    pub details: MemberDetails,
    /// `SingleSignOnUserValue`.
    pub sso_user_value: Option<String>,
    /// `UserSettings`.
    pub settings: Document,
}

/// Everything CreateSpace needs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SpaceCreate {
    /// `SpaceName`.
    pub name: String,
    /// `SpaceDisplayName`.
    pub display_name: Option<String>,
    /// `OwnershipSettings.OwnerUserProfileName`.
    pub owner: String,
    /// `SpaceSharingSettings.SharingType`: `Shared` or `Private`.
    pub sharing_type: String,
    /// `SpaceSettings`, with its `AppType` (fixed at creation).
    pub settings: Document,
    /// `Tags`.
    pub tags: BTreeMap<String, String>,
}

/// A space as DescribeSpace reports it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ObservedSpace {
    /// Name, ARN, status, EFS UID, failure reason.
    pub details: MemberDetails,
    /// `SpaceDisplayName`.
    pub display_name: Option<String>,
    /// `OwnershipSettings.OwnerUserProfileName`.
    pub owner: Option<String>,
    /// `SpaceSharingSettings.SharingType`.
    pub sharing_type: Option<String>,
    /// `SpaceSettings`, with its `AppType`.
    pub settings: Document,
}

/// The `AppType` of space settings.
pub fn space_app_type(settings: &Document) -> Option<&str> {
    settings.get("AppType").and_then(serde_json::Value::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_profiles_apps_exclude_its_spaces_apps() {
        let app = |profile: Option<&str>, space: Option<&str>| AppSummary {
            user_profile: profile.map(String::from),
            space: space.map(String::from),
            ..Default::default()
        };
        let apps = vec![
            app(Some("alice"), None),
            app(Some("alice"), Some("s")),
            app(Some("bob"), None),
            app(None, Some("t")),
        ];
        assert_eq!(MemberType::UserProfile.apps_of(&apps, "alice").len(), 1);
        assert_eq!(MemberType::Space.apps_of(&apps, "s").len(), 1);
        assert_eq!(MemberType::Space.apps_of(&apps, "t").len(), 1);
        let path = app(Some("alice"), None);
        assert_eq!(
            AppSummary {
                app_type: "KernelGateway".into(),
                app_name: "ds".into(),
                ..path
            }
            .path(),
            "alice/KernelGateway/ds"
        );
    }
}

/// What CreateImage and UpdateImage set on an image.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImageSettings {
    /// `RoleArn`.
    pub role: String,
    /// `DisplayName`.
    pub display_name: Option<String>,
    /// `Description`.
    pub description: Option<String>,
}

/// An image as DescribeImage reports it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObservedImage {
    /// `ImageArn`.
    pub arn: String,
    /// `ImageStatus`: `CREATING`, `CREATED`, `UPDATING`, `DELETING`, `CREATE_FAILED`, ...
    pub status: String,
    /// `RoleArn`, `DisplayName`, `Description`.
    pub settings: ImageSettings,
    /// `FailureReason`.
    pub failure_reason: Option<String>,
}

/// One version of an image, with its aliases.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObservedImageVersion {
    /// `Version`.
    pub version: i32,
    /// `ImageVersionArn`.
    pub arn: String,
    /// `BaseImage`.
    pub base_image: String,
    /// `ImageVersionStatus`: `CREATING`, `CREATED`, `CREATE_FAILED`, `DELETING`, ...
    pub status: String,
    /// The version's aliases (ListAliases).
    pub aliases: Vec<String>,
    /// `FailureReason`.
    pub failure_reason: Option<String>,
}

/// How Studio runs an image: the one app-kind member of an AppImageConfig.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImageRunConfig {
    /// `JupyterLab`, `CodeEditor` or `KernelGateway`: which member holds the config.
    pub app_type: String,
    /// `FileSystemConfig`.
    pub file_system: Option<ImageFileSystem>,
    /// `ContainerConfig` (JupyterLab and Code Editor).
    pub container: Option<ImageContainer>,
    /// `KernelSpecs` (KernelGateway), as (name, display name).
    pub kernels: Vec<(String, Option<String>)>,
}

/// `FileSystemConfig`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImageFileSystem {
    /// `MountPath`.
    pub mount_path: Option<String>,
    /// `DefaultUid`.
    pub uid: Option<i32>,
    /// `DefaultGid`.
    pub gid: Option<i32>,
}

/// `ContainerConfig`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImageContainer {
    /// `ContainerEntrypoint`.
    pub entrypoint: Vec<String>,
    /// `ContainerArguments`.
    pub arguments: Vec<String>,
    /// `ContainerEnvironmentVariables`.
    pub environment: BTreeMap<String, String>,
}

/// An AppImageConfig as DescribeAppImageConfig reports it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObservedAppImageConfig {
    /// `AppImageConfigArn`.
    pub arn: String,
    /// The app-kind member it holds.
    pub config: ImageRunConfig,
}
