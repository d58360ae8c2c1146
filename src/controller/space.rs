//! The SharedSpace controller: a shared or private space in its domain, created once its owner
//! profile is InService, updated in place where AWS allows it, recreated when its owner,
//! sharing or app type changes, and deleted after its apps. The pipeline is the members'
//! ([`super::member`]); this module says what is particular to spaces.

use std::collections::BTreeMap;
use std::sync::Arc;

use kube::ResourceExt;

use super::catalog::Resolution;
use super::context::Context;
use super::driver::{run_controller, spec_or_deletion};
use super::error::ReconcileError;
use super::member::decide::{Blocker, Problem};
use super::member::{self, MemberKind, member_kind};
use super::memory::Memory;
use super::profile::profile_name;
use super::reference::DomainTarget;
use super::report::reported;
use super::teardown::OwnedSpace;
use crate::api::{GuardrailRules, SharedSpace, SharedSpaceSpec, SharedSpaceStatus, SharingType};
use crate::aws::AwsError;
use crate::aws::clients::AwsSession;
use crate::aws::model::{Document, MemberType, ObservedSpace, SpaceCreate, space_app_type};
use crate::compliance::{Finding, UiRestrictions, rules};
use crate::controller::desired;
use crate::controller::settings::{self, Rules};

/// Runs the SharedSpace controller for one scope (a namespace, or `None` for all) until
/// `shutdown` resolves.
pub async fn run(
    ctx: Arc<Context>,
    scope: Option<String>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    run_controller::<SharedSpace>(
        ctx,
        scope,
        shutdown,
        spec_or_deletion,
        Some(member::domain_of::<SharedSpace>),
        true,
    )
    .await;
}

/// `SpaceName`: `spec.spaceName`, or the resource's name.
pub fn space_name(spec: &SharedSpaceSpec, metadata_name: &str) -> String {
    spec.space_name.clone().unwrap_or_else(|| metadata_name.to_string())
}

fn sharing_type(spec: &SharedSpaceSpec) -> &'static str {
    match spec.sharing.sharing_type {
        SharingType::Shared => "Shared",
        SharingType::Private => "Private",
    }
}

/// Why nothing can be created: AWS wants an owner profile for every JupyterLab and Code Editor
/// space, and shared spaces run as the domain's default space execution role.
pub fn creation_problem(spec: &SharedSpaceSpec, space_execution_role: Option<&str>) -> Option<Problem> {
    if spec.sharing.owner_profile.is_none() {
        return Some(Problem::new(
            "OwnerProfileRequired",
            "AWS requires an owner for every JupyterLab and Code Editor space: set spec.sharing.ownerProfile to a user profile of the domain",
        ));
    }
    if spec.sharing.sharing_type == SharingType::Shared && space_execution_role.is_none() {
        return Some(Problem::new(
            "SpaceExecutionRoleMissing",
            "a shared space runs as the domain's default space execution role, and the domain has none: set spec.defaultSpaceSettings.executionRole on the StudioDomain",
        ));
    }
    None
}

/// What the creation of a space waits for: its owner profile InService in the domain (`listed`
/// is the owner's status in the domain's listing). An owner that does not exist is waited for
/// only while a UserProfile resource (`expected`) is on its way to create it; otherwise only a
/// person can help.
pub fn owner_blocker(owner: &str, domain_id: &str, listed: Option<&str>, expected: bool) -> Option<Blocker> {
    match listed {
        Some("InService") => None,
        Some(status) => Some(Blocker::Waiting(Problem::new(
            "WaitingForOwner",
            format!("user profile {owner} (sharing.ownerProfile) is {status} in domain {domain_id}"),
        ))),
        None if expected => Some(Blocker::Waiting(Problem::new(
            "WaitingForOwner",
            format!(
                "user profile {owner} (sharing.ownerProfile) does not exist in domain {domain_id} yet; its UserProfile is on its way"
            ),
        ))),
        None => Some(Blocker::Stalled(Problem::new(
            "OwnerProfileNotFound",
            format!(
                "user profile {owner} named in spec.sharing.ownerProfile does not exist in domain {domain_id}, and no UserProfile resource creates it: create it, or fix spec.sharing.ownerProfile"
            ),
        ))),
    }
}

/// A space may be owned only by a profile its own tenant manages: a space owned by another
/// namespace's profile would keep that profile (and so that namespace) from ever being deleted.
/// `managers` are the namespaces of the UserProfile resources that manage `owner`; a profile no
/// resource manages (made in the console) may be named.
pub fn owner_of_another_tenant(owner: &str, namespace: &str, managers: &[String]) -> Option<Problem> {
    if managers.is_empty() || managers.iter().any(|m| m == namespace) {
        return None;
    }
    Some(Problem::new(
        "OwnerProfileOfAnotherNamespace",
        format!(
            "user profile {owner} (sharing.ownerProfile) is managed by a UserProfile in another namespace: a space may only be owned by a profile of its own namespace"
        ),
    ))
}

/// User tags and the ownership tags.
pub fn desired_tags(spec: &SharedSpaceSpec, ownership: BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut tags = spec.tags.clone();
    tags.extend(ownership);
    tags
}

/// What CreateSpace sends.
pub fn desired_space(
    spec: &SharedSpaceSpec,
    name: String,
    tags: BTreeMap<String, String>,
    resolved: &Resolution,
) -> SpaceCreate {
    SpaceCreate {
        name,
        display_name: spec.display_name.clone(),
        owner: spec.sharing.owner_profile.clone().unwrap_or_default(),
        sharing_type: sharing_type(spec).into(),
        settings: desired::space_settings(spec.app_type, spec.settings.as_ref(), resolved),
        tags,
    }
}

/// What AWS cannot update: owner, sharing type and app type. A change recreates the space.
pub fn immutable_changes(desired: &SpaceCreate, observed: &ObservedSpace) -> Vec<&'static str> {
    let mut changes = Vec::new();
    if observed.owner.as_deref() != Some(desired.owner.as_str()) {
        changes.push("sharing.ownerProfile");
    }
    if observed.sharing_type.as_deref() != Some(desired.sharing_type.as_str()) {
        changes.push("sharing.type");
    }
    if space_app_type(&observed.settings) != space_app_type(&desired.settings) {
        changes.push("appType");
    }
    changes
}

/// The request member that holds a space's settings.
const SPACE_SETTINGS: &str = "SpaceSettings";

/// Space settings without the app type, which never changes in place.
fn without_app_type(settings: &Document) -> Document {
    let mut settings = settings.clone();
    settings.remove("AppType");
    settings
}

/// What the operator does about the space's `SpaceSettings`: members the spec leaves out (an EBS
/// size AWS set, remote access turned on in the console) are carried over as they are.
pub fn settings_plan(desired: &SpaceCreate, observed: &ObservedSpace, managed: &[String]) -> settings::Plan {
    settings::plan(
        SPACE_SETTINGS,
        &without_app_type(&desired.settings),
        &without_app_type(&observed.settings),
        managed,
        Rules::default(),
    )
}

/// What UpdateSpace must change: the settings paths, and the display name (not managed when
/// the spec leaves it out).
pub fn mutable_changes(desired: &SpaceCreate, observed: &ObservedSpace, managed: &[String]) -> Vec<String> {
    let mut changes: Vec<String> = settings_plan(desired, observed, managed)
        .changes()
        .iter()
        .map(|path| settings::spec_path(path))
        .collect();
    if desired.display_name.is_some() && desired.display_name != observed.display_name {
        changes.push("displayName".into());
    }
    changes
}

reported!(SharedSpace, SharedSpaceStatus);

member_kind!(
    SharedSpace,
    SharedSpaceStatus,
    noun: "space",
    name_field: "spec.spaceName",
    aws_type: Space,
    status_name: space_name,
    status_arn: space_arn,
);

impl MemberKind for SharedSpace {
    type Observed = ObservedSpace;
    type Desired = SpaceCreate;

    fn aws_name(&self) -> String {
        space_name(&self.spec, &self.name_any())
    }

    fn check(&self, rules: &GuardrailRules) -> Vec<Finding> {
        rules::check_space(rules, &self.spec)
    }

    fn precondition(&self, domain: &DomainTarget) -> Option<Problem> {
        creation_problem(&self.spec, domain.space_execution_role.as_deref())
    }

    fn desired(
        &self,
        name: String,
        ownership: BTreeMap<String, String>,
        _ui: &UiRestrictions,
        resolved: &Resolution,
    ) -> SpaceCreate {
        desired_space(&self.spec, name, desired_tags(&self.spec, ownership), resolved)
    }

    fn desired_tags(desired: &SpaceCreate) -> &BTreeMap<String, String> {
        &desired.tags
    }

    fn desired_tags_mut(desired: &mut SpaceCreate) -> &mut BTreeMap<String, String> {
        &mut desired.tags
    }

    fn recreation_reasons(desired: &SpaceCreate, observed: &ObservedSpace) -> Vec<&'static str> {
        immutable_changes(desired, observed)
    }

    fn settings(desired: &SpaceCreate, observed: &ObservedSpace, managed: &[String]) -> settings::Plan {
        settings_plan(desired, observed, managed)
    }

    fn managed_paths(desired: &SpaceCreate) -> Vec<String> {
        settings::managed(SPACE_SETTINGS, &without_app_type(&desired.settings))
    }

    fn updates(desired: &SpaceCreate, observed: &ObservedSpace, managed: &[String]) -> Vec<String> {
        mutable_changes(desired, observed, managed)
    }

    fn memory(ctx: &Context) -> &Memory<ObservedSpace> {
        &ctx.spaces_seen
    }

    async fn describe(session: &AwsSession, domain_id: &str, name: &str) -> Result<Option<ObservedSpace>, AwsError> {
        session.observe_space(domain_id, name).await
    }

    async fn create(session: &AwsSession, domain_id: &str, desired: &SpaceCreate) -> Result<String, AwsError> {
        session.create_space(domain_id, desired).await
    }

    async fn update(
        session: &AwsSession,
        domain_id: &str,
        name: &str,
        desired: &SpaceCreate,
        settings: Option<&Document>,
    ) -> Result<(), AwsError> {
        session
            .update_space(domain_id, name, desired.display_name.as_deref(), settings)
            .await
    }

    /// The owner's status comes from the domain's shared profile listing (no call of its own).
    async fn creation_blocker(
        &self,
        ctx: &Context,
        session: &AwsSession,
        domain_id: &str,
        desired: &SpaceCreate,
    ) -> Result<Option<Blocker>, ReconcileError> {
        let listing = ctx
            .listings
            .members(session, domain_id, MemberType::UserProfile, ctx.list_age(false))
            .await?;
        let listed = listing.get(&desired.owner).map(|p| p.status.as_str());
        let domain = member::domain_of(self);
        let managers: Vec<String> = ctx
            .stores
            .profiles
            .all()
            .iter()
            .filter(|profile| {
                member::domain_of(profile.as_ref()) == domain
                    && profile_name(&profile.spec, &profile.name_any()) == desired.owner
            })
            .map(|profile| profile.namespace().unwrap_or_default())
            .collect();
        let namespace = self.namespace().unwrap_or_default();
        if let Some(problem) = owner_of_another_tenant(&desired.owner, &namespace, &managers) {
            return Ok(Some(Blocker::Stalled(problem)));
        }
        let expected = listed.is_none() && !managers.is_empty();
        Ok(owner_blocker(&desired.owner, domain_id, listed, expected))
    }

    /// A space owns nothing that must go before it.
    async fn owned_spaces(
        _ctx: &Context,
        _session: &AwsSession,
        _domain_id: &str,
        _name: &str,
    ) -> Result<Vec<OwnedSpace>, ReconcileError> {
        Ok(Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    use crate::api::DomainRef;
    use crate::api::{SpaceAppType, SpaceSharing};

    fn spec(sharing_type: SharingType, owner: Option<&str>) -> SharedSpaceSpec {
        SharedSpaceSpec {
            domain_ref: DomainRef {
                name: "platform".into(),
                namespace: None,
            },
            space_name: None,
            display_name: Some("Team".into()),
            sharing: SpaceSharing {
                sharing_type,
                owner_profile: owner.map(String::from),
            },
            app_type: SpaceAppType::JupyterLab,
            settings: Some(serde_json::from_value(json!({"ebsVolumeSizeGb": 20})).unwrap()),
            tags: BTreeMap::new(),
            deletion_policy: Default::default(),
            adopt: false,
        }
    }

    fn observed_as(desired: &SpaceCreate) -> ObservedSpace {
        ObservedSpace {
            display_name: desired.display_name.clone(),
            owner: Some(desired.owner.clone()),
            sharing_type: Some(desired.sharing_type.clone()),
            settings: desired.settings.clone(),
            ..Default::default()
        }
    }

    #[test]
    fn shared_spaces_need_the_domains_space_role_and_every_space_an_owner() {
        let shared = spec(SharingType::Shared, Some("alice"));
        assert_eq!(
            creation_problem(&shared, None).unwrap().reason,
            "SpaceExecutionRoleMissing"
        );
        assert!(creation_problem(&shared, Some("arn:aws:iam::123456789012:role/S")).is_none());
        let private = spec(SharingType::Private, Some("alice"));
        assert!(
            creation_problem(&private, None).is_none(),
            "private spaces run as their owner's role"
        );
        let ownerless = spec(SharingType::Shared, None);
        assert_eq!(
            creation_problem(&ownerless, Some("arn:aws:iam::123456789012:role/S"))
                .unwrap()
                .reason,
            "OwnerProfileRequired"
        );
    }

    #[test]
    fn creation_waits_for_an_owner_that_is_coming_and_stalls_on_one_that_is_not() {
        assert_eq!(owner_of_another_tenant("alice", "team-a", &[]), None);
        assert_eq!(owner_of_another_tenant("alice", "team-a", &["team-a".into()]), None);
        let Some(foreign) = owner_of_another_tenant("alice", "team-b", &["team-a".into()]) else {
            panic!("another tenant's profile accepted as owner");
        };
        assert_eq!(foreign.reason, "OwnerProfileOfAnotherNamespace");
        assert!(
            !foreign.message.contains("team-a"),
            "no other tenant's namespace disclosed"
        );
        assert_eq!(owner_blocker("alice", "d-1", Some("InService"), false), None);
        let Some(Blocker::Waiting(pending)) = owner_blocker("alice", "d-1", Some("Pending"), false) else {
            panic!()
        };
        assert_eq!(pending.reason, "WaitingForOwner");
        assert!(pending.message.contains("is Pending in domain d-1"));
        assert!(matches!(
            owner_blocker("alice", "d-1", None, true),
            Some(Blocker::Waiting(_))
        ));
        let Some(Blocker::Stalled(typo)) = owner_blocker("alcie", "d-1", None, false) else {
            panic!()
        };
        assert_eq!(typo.reason, "OwnerProfileNotFound");
        assert!(typo.message.contains("fix spec.sharing.ownerProfile"));
    }

    #[test]
    fn owner_sharing_and_app_type_force_recreation() {
        let desired = desired_space(
            &spec(SharingType::Private, Some("alice")),
            "s".into(),
            BTreeMap::new(),
            &Resolution::default(),
        );
        let same = observed_as(&desired);
        assert!(immutable_changes(&desired, &same).is_empty());
        let mut settings = desired.settings.clone();
        settings.insert("AppType".into(), "CodeEditor".into());
        let other = ObservedSpace {
            owner: Some("bob".into()),
            sharing_type: Some("Shared".into()),
            settings,
            ..same
        };
        assert_eq!(
            immutable_changes(&desired, &other),
            vec!["sharing.ownerProfile", "sharing.type", "appType"]
        );
    }

    #[test]
    fn settings_and_display_name_update_in_place() {
        let desired = desired_space(
            &spec(SharingType::Shared, Some("alice")),
            "s".into(),
            BTreeMap::new(),
            &Resolution::default(),
        );
        let mut observed = observed_as(&desired);
        assert!(mutable_changes(&desired, &observed, &[]).is_empty());
        observed.display_name = Some("Old".into());
        observed.settings.insert(
            "SpaceStorageSettings".into(),
            json!({"EbsStorageSettings": {"EbsVolumeSizeInGb": 10}}),
        );
        assert_eq!(
            mutable_changes(&desired, &observed, &[]),
            [
                "settings.spaceStorageSettings.ebsStorageSettings.ebsVolumeSizeInGb",
                "displayName"
            ]
        );
    }

    #[test]
    fn what_the_spec_leaves_out_is_kept_and_the_app_type_never_sent() {
        let mut without = spec(SharingType::Shared, Some("alice"));
        without.settings = Some(serde_json::from_value(json!({"idleTimeoutMinutes": 120})).unwrap());
        without.display_name = None;
        let desired = desired_space(&without, "s".into(), BTreeMap::new(), &Resolution::default());
        let mut observed = observed_as(&desired);
        observed.settings.insert(
            "SpaceStorageSettings".into(),
            json!({"EbsStorageSettings": {"EbsVolumeSizeInGb": 50}}),
        );
        observed.settings.insert("RemoteAccess".into(), "ENABLED".into());
        observed.display_name = Some("Named in Studio".into());
        assert!(mutable_changes(&desired, &observed, &[]).is_empty());
        let plan = settings_plan(&desired, &observed, &[]);
        assert_eq!(
            plan.unmanaged,
            [
                "SpaceSettings.RemoteAccess",
                "SpaceSettings.SpaceStorageSettings.EbsStorageSettings.EbsVolumeSizeInGb"
            ]
        );
        observed.settings.insert(
            "JupyterLabAppSettings".into(),
            json!({"AppLifecycleManagement": {"IdleSettings": {"IdleTimeoutInMinutes": 60}}}),
        );
        let body = settings_plan(&desired, &observed, &[]).body.unwrap();
        assert!(!body.contains_key("AppType"));
        assert_eq!(body["RemoteAccess"], "ENABLED");
        assert_eq!(
            body["JupyterLabAppSettings"]["AppLifecycleManagement"]["IdleSettings"]["IdleTimeoutInMinutes"],
            120
        );
        assert_eq!(
            SharedSpace::managed_paths(&desired),
            ["SpaceSettings.JupyterLabAppSettings.AppLifecycleManagement.IdleSettings.IdleTimeoutInMinutes"]
        );
    }
}
