//! The UserProfile controller: one profile per person in its domain, tagged with the user id,
//! updated in place, recreated when its identity or name changes, and deleted in order (apps,
//! then the private spaces nobody else manages, then the profile). The pipeline is the
//! members' ([`super::member`]); this module says what is particular to profiles.

use std::collections::BTreeMap;
use std::sync::Arc;

use kube::{Api, ResourceExt};

use super::context::Context;
use super::driver::{run_controller, spec_or_deletion};
use super::error::ReconcileError;
use super::member::decide::{Blocker, Problem};
use super::member::{self, MemberKind, member_kind};
use super::memory::Memory;
use super::reference::DomainTarget;
use super::report::reported;
use super::teardown::OwnedSpace;
use crate::api::{AuthMode, GuardrailRules, SharedSpace, SsoIdentity, UserProfile};
use crate::api::{UserProfileSpec, UserProfileStatus};
use crate::aws::AwsError;
use crate::aws::clients::AwsSession;
use crate::aws::model::{ObservedProfile, ProfileCreate, SsoUser, UserSettings};
use crate::compliance::{Finding, rules};
use crate::controller::desired;
use crate::ownership;

/// Tag that lets IAM policies stop users from opening each other's profiles (whitepaper).
pub const USER_ID_TAG: &str = "studiouserid";

/// Runs the UserProfile controller for one scope (a namespace, or `None` for all) until
/// `shutdown` resolves.
pub async fn run(
    ctx: Arc<Context>,
    scope: Option<String>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    run_controller::<UserProfile>(
        ctx,
        scope,
        shutdown,
        spec_or_deletion,
        Some(member::domain_of::<UserProfile>),
    )
    .await;
}

/// `UserProfileName`: `spec.userProfileName`, or the resource's name.
pub fn profile_name(spec: &UserProfileSpec, metadata_name: &str) -> String {
    spec.user_profile_name
        .clone()
        .unwrap_or_else(|| metadata_name.to_string())
}

/// Why the spec's identity does not fit the domain, if it does not.
pub fn identity_problem(auth_mode: AuthMode, sso: Option<&SsoIdentity>) -> Option<Problem> {
    match (auth_mode, sso) {
        (AuthMode::Sso, None) => Some(Problem::new(
            "SsoIdentityRequired",
            "the domain signs users in with IAM Identity Center (authMode SSO): set spec.sso.userValue to the user's IAM Identity Center user name",
        )),
        (AuthMode::Iam, Some(_)) => Some(Problem::new(
            "SsoNotAllowed",
            "the domain uses IAM authentication: remove spec.sso (it applies to SSO domains only)",
        )),
        _ => None,
    }
}

/// User tags, `studiouserid` unless turned off, and the ownership tags.
pub fn desired_tags(
    spec: &UserProfileSpec,
    name: &str,
    ownership: BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut tags = spec.tags.clone();
    if spec.tag_user_id {
        tags.insert(USER_ID_TAG.into(), name.into());
    }
    tags.extend(ownership);
    tags
}

/// What CreateUserProfile sends.
pub fn desired_profile(spec: &UserProfileSpec, name: String, tags: BTreeMap<String, String>) -> ProfileCreate {
    ProfileCreate {
        name,
        sso: spec.sso.as_ref().map(|sso| SsoUser {
            identifier: sso.user_identifier.clone(),
            value: sso.user_value.clone(),
        }),
        settings: desired::user_settings(&spec.user_settings.clone().unwrap_or_default(), None),
        tags,
    }
}

/// What cannot change in place: the SSO identity (a rename is a recreation too, decided by the
/// member pipeline).
pub fn recreation_reasons(desired: &ProfileCreate, observed: &ObservedProfile) -> Vec<&'static str> {
    let wanted = desired.sso.as_ref().map(|s| s.value.as_str());
    if wanted != observed.sso_user_value.as_deref() {
        vec!["sso.userValue"]
    } else {
        Vec::new()
    }
}

/// The settings members UpdateUserProfile must change. Members the spec leaves out inherit the
/// domain defaults and are not compared (AWS cannot unset them by omission).
pub fn settings_changes(desired: &UserSettings, observed: &UserSettings) -> Vec<&'static str> {
    let mut changes = Vec::new();
    let mut differs = |name, set: bool, same: bool| {
        if set && !same {
            changes.push(name);
        }
    };
    differs(
        "executionRole",
        desired.execution_role.is_some(),
        desired.execution_role == observed.execution_role,
    );
    differs(
        "securityGroups",
        true,
        desired.security_groups == observed.security_groups,
    );
    differs(
        "sharing",
        desired.sharing.is_some(),
        desired.sharing == observed.sharing,
    );
    differs(
        "jupyterLab",
        desired.jupyter_lab.is_some(),
        desired.jupyter_lab == observed.jupyter_lab,
    );
    differs(
        "codeEditor",
        desired.code_editor.is_some(),
        desired.code_editor == observed.code_editor,
    );
    differs(
        "kernelGateway",
        desired.kernel_gateway.is_some(),
        desired.kernel_gateway == observed.kernel_gateway,
    );
    differs(
        "spaceStorage",
        desired.space_storage.is_some(),
        desired.space_storage == observed.space_storage,
    );
    changes
}

/// The SharedSpace resource (`namespace/name`) that manages a space, if one still exists.
async fn space_manager(
    ctx: &Context,
    session: &AwsSession,
    domain_id: &str,
    space: &str,
) -> Result<Option<String>, ReconcileError> {
    let Some(details) = session.describe_space(domain_id, space).await? else {
        return Ok(None);
    };
    let tags = session.list_tags(&details.arn).await?;
    let (Some(namespace), Some(name), Some(uid)) = (
        tags.get(ownership::TAG_NAMESPACE),
        tags.get(ownership::TAG_NAME),
        tags.get(ownership::TAG_UID),
    ) else {
        return Ok(None);
    };
    if tags.get(ownership::TAG_CLUSTER) != Some(&ctx.config.cluster_id) {
        return Ok(Some(format!("{namespace}/{name} of another cluster")));
    }
    let spaces: Api<SharedSpace> = Api::namespaced(ctx.client.clone(), namespace);
    let manager = spaces.get_opt(name).await?;
    Ok(manager
        .filter(|s| s.uid().as_ref() == Some(uid))
        .map(|_| format!("{namespace}/{name}")))
}

reported!(UserProfile, UserProfileStatus);

member_kind!(
    UserProfile,
    UserProfileStatus,
    noun: "user profile",
    name_field: "spec.userProfileName",
    aws_type: UserProfile,
    status_name: user_profile_name,
    status_arn: user_profile_arn,
);

impl MemberKind for UserProfile {
    const IDENTITY_TAGS: &'static [&'static str] = &[USER_ID_TAG];
    type Observed = ObservedProfile;
    type Desired = ProfileCreate;

    fn aws_name(&self) -> String {
        profile_name(&self.spec, &self.name_any())
    }

    fn check(&self, rules: &GuardrailRules) -> Vec<Finding> {
        rules::check_profile(rules, &self.spec)
    }

    fn precondition(&self, domain: &DomainTarget) -> Option<Problem> {
        identity_problem(domain.auth_mode, self.spec.sso.as_ref())
    }

    fn desired(&self, name: String, ownership: BTreeMap<String, String>) -> ProfileCreate {
        let tags = desired_tags(&self.spec, &name, ownership);
        desired_profile(&self.spec, name, tags)
    }

    fn desired_tags(desired: &ProfileCreate) -> &BTreeMap<String, String> {
        &desired.tags
    }

    fn recreation_reasons(desired: &ProfileCreate, observed: &ObservedProfile) -> Vec<&'static str> {
        recreation_reasons(desired, observed)
    }

    fn updates(desired: &ProfileCreate, observed: &ObservedProfile) -> Vec<&'static str> {
        settings_changes(&desired.settings, &observed.settings)
    }

    fn memory(ctx: &Context) -> &Memory<ObservedProfile> {
        &ctx.profiles_seen
    }

    async fn describe(session: &AwsSession, domain_id: &str, name: &str) -> Result<Option<ObservedProfile>, AwsError> {
        session.observe_user_profile(domain_id, name).await
    }

    async fn create(session: &AwsSession, domain_id: &str, desired: &ProfileCreate) -> Result<String, AwsError> {
        session.create_user_profile(domain_id, desired).await
    }

    async fn update(
        session: &AwsSession,
        domain_id: &str,
        name: &str,
        desired: &ProfileCreate,
    ) -> Result<(), AwsError> {
        session.update_user_profile(domain_id, name, &desired.settings).await
    }

    async fn creation_blocker(
        &self,
        _ctx: &Context,
        _session: &AwsSession,
        _domain_id: &str,
        _desired: &ProfileCreate,
    ) -> Result<Option<Blocker>, ReconcileError> {
        Ok(None)
    }

    async fn owned_spaces(
        ctx: &Context,
        session: &AwsSession,
        domain_id: &str,
        name: &str,
    ) -> Result<Vec<OwnedSpace>, ReconcileError> {
        let mut owned = Vec::new();
        for space in session.list_spaces(domain_id).await? {
            if space.owner.as_deref() != Some(name) {
                continue;
            }
            let manager = space_manager(ctx, session, domain_id, &space.name).await?;
            owned.push(OwnedSpace {
                name: space.name,
                status: space.status,
                manager,
            });
        }
        Ok(owned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::DomainRef;
    use crate::api::{JupyterLabSettings, ResourceSpec};

    fn spec() -> UserProfileSpec {
        UserProfileSpec {
            domain_ref: DomainRef {
                name: "platform".into(),
                namespace: None,
            },
            user_profile_name: None,
            sso: None,
            user_settings: None,
            tags: BTreeMap::from([("team".to_string(), "a".to_string())]),
            tag_user_id: true,
            deletion_policy: Default::default(),
            adopt: false,
        }
    }

    fn sso(value: &str) -> SsoIdentity {
        SsoIdentity {
            user_identifier: "UserName".into(),
            user_value: value.into(),
        }
    }

    #[test]
    fn name_defaults_to_the_resource_name() {
        assert_eq!(profile_name(&spec(), "alice"), "alice");
        let renamed = UserProfileSpec {
            user_profile_name: Some("alice-2".into()),
            ..spec()
        };
        assert_eq!(profile_name(&renamed, "alice"), "alice-2");
    }

    #[test]
    fn sso_identity_must_match_the_domains_auth_mode() {
        assert_eq!(
            identity_problem(AuthMode::Sso, None).unwrap().reason,
            "SsoIdentityRequired"
        );
        assert_eq!(
            identity_problem(AuthMode::Iam, Some(&sso("alice"))).unwrap().reason,
            "SsoNotAllowed"
        );
        assert!(identity_problem(AuthMode::Sso, Some(&sso("alice"))).is_none());
        assert!(identity_problem(AuthMode::Iam, None).is_none());
    }

    #[test]
    fn user_id_tag_is_on_by_default_and_can_be_turned_off() {
        let owner = BTreeMap::from([("studio-operator.io/uid".to_string(), "u".to_string())]);
        let tags = desired_tags(&spec(), "alice", owner.clone());
        assert_eq!(tags.get(USER_ID_TAG).map(String::as_str), Some("alice"));
        assert_eq!(tags.get("team").map(String::as_str), Some("a"));
        assert!(tags.contains_key("studio-operator.io/uid"));
        let off = UserProfileSpec {
            tag_user_id: false,
            ..spec()
        };
        assert!(!desired_tags(&off, "alice", owner).contains_key(USER_ID_TAG));
    }

    #[test]
    fn a_changed_sso_identity_forces_recreation() {
        let with = |value: &str| UserProfileSpec {
            sso: Some(sso(value)),
            ..spec()
        };
        let desired = desired_profile(&with("alice@new"), "alice".into(), BTreeMap::new());
        let observed = ObservedProfile {
            sso_user_value: Some("alice@old".into()),
            ..Default::default()
        };
        assert_eq!(recreation_reasons(&desired, &observed), vec!["sso.userValue"]);
        let same = ObservedProfile {
            sso_user_value: Some("alice@new".into()),
            ..Default::default()
        };
        assert!(recreation_reasons(&desired, &same).is_empty());
    }

    #[test]
    fn only_members_the_spec_sets_are_compared() {
        let with_lab = UserProfileSpec {
            user_settings: Some(crate::api::UserSettings {
                jupyter_lab: Some(JupyterLabSettings {
                    default_resource_spec: Some(ResourceSpec {
                        instance_type: Some("ml.m5.large".into()),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..spec()
        };
        let desired = desired_profile(&with_lab, "alice".into(), BTreeMap::new()).settings;
        let drifted = UserSettings {
            execution_role: Some("arn:aws:iam::123456789012:role/Other".into()),
            ..Default::default()
        };
        assert_eq!(settings_changes(&desired, &drifted), vec!["jupyterLab"]);
        assert!(settings_changes(&desired, &desired).is_empty());
        let role = UserSettings {
            execution_role: Some("arn:aws:iam::123456789012:role/Mine".into()),
            ..Default::default()
        };
        assert_eq!(settings_changes(&role, &drifted), vec!["executionRole"]);
    }
}
