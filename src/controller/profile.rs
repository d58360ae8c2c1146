//! The UserProfile controller: one profile per person in its domain, tagged with the user id,
//! updated in place, recreated when its identity or name changes, and deleted in order (apps,
//! then the private spaces nobody else manages, then the profile). The pipeline is the
//! members' ([`super::member`]); this module says what is particular to profiles.

use std::collections::BTreeMap;
use std::sync::Arc;

use kube::{Api, ResourceExt};

use super::catalog::Resolution;
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
use crate::aws::model::{Document, ObservedProfile, ProfileCreate, SsoUser};
use crate::compliance::{Finding, UiRestrictions, rules};
use crate::controller::desired;
use crate::controller::settings::{self, Rules};
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
        true,
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

/// Why a profile cannot exist in its domain as specified: a VpcOnly domain whose defaults name
/// no security groups needs them on every profile (AWS refuses the profile otherwise).
pub fn security_group_problem(domain_needs_them: bool, spec: &UserProfileSpec) -> Option<Problem> {
    let own = spec
        .user_settings
        .as_ref()
        .and_then(|s| s.security_groups.as_ref())
        .is_some_and(|groups| !groups.is_empty());
    (domain_needs_them && !own).then(|| {
        Problem::new(
            "SecurityGroupsRequired",
            "the domain is VpcOnly and its defaultUserSettings name no security groups: set spec.userSettings.securityGroups (or the domain's defaultUserSettings.securityGroups)",
        )
    })
}

/// An idle timeout of the profile outside the bounds its domain's `idleShutdown` sets: AWS
/// refuses it, and the sweeper would otherwise apply a timeout the platform did not allow.
pub fn idle_problem(bounds: (Option<i32>, Option<i32>), spec: &UserProfileSpec) -> Option<Problem> {
    let settings = spec.user_settings.as_ref()?.effective();
    let (min, max) = bounds;
    settings.idle_timeouts().into_iter().find_map(|(field, minutes)| {
        let bound = match (min, max) {
            (_, Some(max)) if minutes > max => format!("above the domain's idleShutdown.maxIdleTimeoutMinutes {max}"),
            (Some(min), _) if minutes < min => format!("below the domain's idleShutdown.minIdleTimeoutMinutes {min}"),
            _ => return None,
        };
        Some(Problem::new(
            "IdleTimeoutOutOfBounds",
            format!("userSettings.{field} is {minutes} minutes, {bound}: choose a timeout inside the domain's bounds"),
        ))
    })
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

/// What CreateUserProfile sends; `ui` is what the guardrails hide in the Studio UI.
pub fn desired_profile(
    spec: &UserProfileSpec,
    name: String,
    tags: BTreeMap<String, String>,
    ui: &UiRestrictions,
    resolved: &Resolution,
) -> ProfileCreate {
    ProfileCreate {
        name,
        sso: spec.sso.as_ref().map(|sso| SsoUser {
            identifier: sso.user_identifier.clone(),
            value: sso.user_value.clone(),
        }),
        settings: desired::user_settings(spec.user_settings.as_ref(), ui, resolved),
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

/// What the operator does about the profile's `UserSettings`: members the spec leaves out
/// inherit the domain defaults and are carried over as they are.
pub fn settings_plan(desired: &ProfileCreate, observed: &ObservedProfile, managed: &[String]) -> settings::Plan {
    settings::plan(
        USER_SETTINGS,
        &desired.settings,
        &observed.settings,
        managed,
        Rules::default(),
    )
}

/// The request member that holds a profile's settings.
const USER_SETTINGS: &str = "UserSettings";

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
    if !ctx.config.watches(namespace) {
        return Ok(Some(format!(
            "{namespace}/{name}, in a namespace this installation does not watch"
        )));
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
            .or_else(|| security_group_problem(domain.profiles_need_security_groups, &self.spec))
            .or_else(|| idle_problem(domain.idle_bounds, &self.spec))
    }

    fn desired(
        &self,
        name: String,
        ownership: BTreeMap<String, String>,
        ui: &UiRestrictions,
        resolved: &Resolution,
    ) -> ProfileCreate {
        let tags = desired_tags(&self.spec, &name, ownership);
        desired_profile(&self.spec, name, tags, ui, resolved)
    }

    fn desired_tags(desired: &ProfileCreate) -> &BTreeMap<String, String> {
        &desired.tags
    }

    fn desired_tags_mut(desired: &mut ProfileCreate) -> &mut BTreeMap<String, String> {
        &mut desired.tags
    }

    fn recreation_reasons(desired: &ProfileCreate, observed: &ObservedProfile) -> Vec<&'static str> {
        recreation_reasons(desired, observed)
    }

    fn settings(desired: &ProfileCreate, observed: &ObservedProfile, managed: &[String]) -> settings::Plan {
        settings_plan(desired, observed, managed)
    }

    fn managed_paths(desired: &ProfileCreate) -> Vec<String> {
        settings::managed(USER_SETTINGS, &desired.settings)
    }

    fn updates(desired: &ProfileCreate, observed: &ObservedProfile, managed: &[String]) -> Vec<String> {
        let changes = settings_plan(desired, observed, managed).changes();
        changes.iter().map(|path| settings::spec_path(path)).collect()
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
        _desired: &ProfileCreate,
        settings: Option<&Document>,
    ) -> Result<(), AwsError> {
        match settings {
            Some(settings) => session.update_user_profile(domain_id, name, settings).await,
            None => Ok(()),
        }
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
    use serde_json::json;

    use crate::api::DomainRef;

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
    fn an_idle_timeout_outside_the_domains_bounds_is_a_problem() {
        let with_idle: UserProfileSpec = serde_json::from_value(serde_json::json!({
            "domainRef": {"name": "platform"},
            "userSettings": {"jupyterLab": {"idle": {"idleTimeoutMinutes": 600}}},
        }))
        .unwrap();
        let problem = idle_problem((None, Some(480)), &with_idle).expect("above the maximum");
        assert_eq!(problem.reason, "IdleTimeoutOutOfBounds");
        assert!(
            problem.message.contains("maxIdleTimeoutMinutes 480"),
            "{}",
            problem.message
        );
        assert!(
            idle_problem((Some(700), None), &with_idle).is_some(),
            "below the minimum"
        );
        assert_eq!(idle_problem((Some(60), Some(720)), &with_idle), None);
        assert_eq!(idle_problem((None, Some(480)), &spec()), None);
    }

    #[test]
    fn a_changed_sso_identity_forces_recreation() {
        let with = |value: &str| UserProfileSpec {
            sso: Some(sso(value)),
            ..spec()
        };
        let desired = desired_profile(
            &with("alice@new"),
            "alice".into(),
            BTreeMap::new(),
            &UiRestrictions::default(),
            &Resolution::default(),
        );
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
    fn only_members_the_spec_sets_are_compared_and_the_rest_is_carried() {
        let with_lab = UserProfileSpec {
            user_settings: Some(
                serde_json::from_value(json!({"jupyterLab": {"defaultResourceSpec": {"instanceType": "ml.m5.large"}}}))
                    .unwrap(),
            ),
            ..spec()
        };
        let desired = desired_profile(
            &with_lab,
            "alice".into(),
            BTreeMap::new(),
            &UiRestrictions::default(),
            &Resolution::default(),
        );
        let observed = ObservedProfile {
            settings: json!({
                "ExecutionRole": "arn:aws:iam::123456789012:role/Other",
                "JupyterLabAppSettings": {"DefaultResourceSpec": {"InstanceType": "ml.t3.medium"},
                    "CustomImages": [{"ImageName": "console", "AppImageConfigName": "c"}]},
            })
            .as_object()
            .unwrap()
            .clone(),
            ..Default::default()
        };
        let updates = UserProfile::updates(&desired, &observed, &[]);
        assert_eq!(
            updates,
            ["userSettings.jupyterLabAppSettings.defaultResourceSpec.instanceType"]
        );
        let body = settings_plan(&desired, &observed, &[]).body.unwrap();
        assert_eq!(body["ExecutionRole"], "arn:aws:iam::123456789012:role/Other");
        assert_eq!(
            body["JupyterLabAppSettings"],
            json!({"DefaultResourceSpec": {"InstanceType": "ml.m5.large"},
                "CustomImages": [{"ImageName": "console", "AppImageConfigName": "c"}]})
        );
        let in_sync = ObservedProfile {
            settings: desired.settings.clone(),
            ..Default::default()
        };
        assert!(UserProfile::updates(&desired, &in_sync, &[]).is_empty());
    }

    #[test]
    fn a_vpc_only_domain_without_default_groups_needs_them_on_the_profile() {
        assert!(security_group_problem(false, &spec()).is_none());
        assert_eq!(
            security_group_problem(true, &spec()).unwrap().reason,
            "SecurityGroupsRequired"
        );
        let with_groups = UserProfileSpec {
            user_settings: Some(serde_json::from_value(json!({"securityGroups": ["sg-0123456789abcdef0"]})).unwrap()),
            ..spec()
        };
        assert!(security_group_problem(true, &with_groups).is_none());
    }
}
