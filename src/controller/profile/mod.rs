//! The UserProfile controller: one profile per person in its domain, tagged with the user id,
//! updated in place, recreated when its identity, name or domain changes, and deleted in order
//! (apps, then the private spaces nobody else manages, then the profile).

pub mod plan;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::{Api, ResourceExt};
use tracing::{info, instrument};

use super::members::{self, Report};
use super::observe::{self, Entry, Plan, Seen, Tags};
use super::reference::{self, DomainTarget, Resolved};
use crate::api::condition_type::{DOMAIN_READY, SYNCED};
use crate::api::{DeletionPolicy, SharedSpace, UserProfile, UserProfileStatus};
use crate::aws::AwsError;
use crate::aws::clients::AwsSession;
use crate::aws::model::ObservedProfile;
use crate::controller::ownership::{self, Claim, Owner};
use crate::controller::{
    Context, ReconcileError, Steps, apply_status, drive, has_finalizer, remove_finalizer, run_controller,
};
use crate::guardrail;
use crate::status::{self, Want};

const KIND: &str = "UserProfile";

/// Runs the UserProfile controller for one scope (a namespace, or `None` for all) until
/// `shutdown` resolves.
pub async fn run(
    ctx: Arc<Context>,
    scope: Option<String>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    run_controller::<UserProfile, _, _>(
        ctx,
        scope,
        shutdown,
        members::spec_or_deletion,
        Some(domain_of),
        reconcile,
    )
    .await;
}

/// The StudioDomain (namespace, name) a profile refers to.
fn domain_of(profile: &UserProfile) -> (String, String) {
    let namespace = profile.namespace().unwrap_or_default();
    let domain = &profile.spec.domain_ref;
    (domain.namespace.clone().unwrap_or(namespace), domain.name.clone())
}

#[instrument(skip_all, fields(namespace = %profile.namespace().unwrap_or_default(), name = %profile.name_any()))]
async fn reconcile(profile: Arc<UserProfile>, ctx: Arc<Context>) -> Result<Action, ReconcileError> {
    let namespace = profile
        .namespace()
        .ok_or(ReconcileError::MissingField("metadata.namespace"))?;
    let api: Api<UserProfile> = Api::namespaced(ctx.client.clone(), &namespace);
    let pass = Pass {
        profile: &profile,
        ctx: &ctx,
        api: api.clone(),
        namespace,
        status: profile.status.clone().unwrap_or_default(),
        report: Report::default(),
        deleted: false,
    };
    drive(profile.as_ref(), &ctx, &api, pass).await
}

/// Where the ordered deletion of a profile stands.
enum Retirement {
    /// The profile is gone.
    Gone,
    /// Apps, spaces or the profile are being deleted.
    Waiting(String),
    /// A SharedSpace resource still manages a space the profile owns.
    Blocked(String),
}

/// One reconcile of one profile.
struct Pass<'a> {
    profile: &'a UserProfile,
    ctx: &'a Context,
    api: Api<UserProfile>,
    namespace: String,
    status: UserProfileStatus,
    report: Report,
    deleted: bool,
}

impl Pass<'_> {
    fn owner(&self) -> Owner {
        Owner {
            cluster: self.ctx.config.cluster_id.clone(),
            namespace: self.namespace.clone(),
            name: self.profile.name_any(),
            uid: self.profile.uid().unwrap_or_default(),
        }
    }

    fn name(&self) -> String {
        plan::profile_name(&self.profile.spec, &self.profile.name_any())
    }

    fn generation(&self) -> i64 {
        self.profile.metadata.generation.unwrap_or_default()
    }

    fn poll(&self) -> Action {
        // Polls back off while nothing changes; new progress starts them again.
        let phase = self.report.readiness.as_ref().map(|r| r.phase()).unwrap_or_default();
        self.ctx.poll_after(&self.uid(), &phase)
    }

    fn resync(&self) -> Action {
        self.ctx.resync_after(&self.uid(), self.ctx.config.resync_interval)
    }

    fn uid(&self) -> String {
        self.profile.uid().unwrap_or_default()
    }

    /// Describes the profile, and lists its tags unless `tags` are still good; remembers both.
    /// `None` when the profile does not exist.
    async fn describe(
        &self,
        session: &AwsSession,
        domain_id: &str,
        name: &str,
        tags: Option<Tags>,
    ) -> Result<Option<(ObservedProfile, BTreeMap<String, String>)>, ReconcileError> {
        let at = Instant::now();
        let Some(observed) = session.observe_user_profile(domain_id, name).await? else {
            self.ctx.profiles_seen.forget(&self.uid());
            return Ok(None);
        };
        let tags = match tags {
            Some(tags) => tags,
            None => Tags {
                tags: session.list_tags(&observed.details.arn).await?,
                checked: Instant::now(),
            },
        };
        let entry = Entry {
            domain_id: domain_id.into(),
            name: name.into(),
            generation: self.generation(),
            seen: Seen::Described {
                at,
                observed: observed.clone(),
                tags: Some(tags.clone()),
            },
        };
        self.ctx.profiles_seen.remember(&self.uid(), entry);
        Ok(Some((observed, tags.tags)))
    }

    async fn session(&self, target: &DomainTarget) -> Result<Arc<AwsSession>, ReconcileError> {
        Ok(self
            .ctx
            .aws
            .session(&target.aws.region, target.aws.role_arn.as_deref())
            .await?)
    }

    /// The domain, if the reference may be followed; reports why not otherwise.
    async fn domain(&mut self) -> Result<Option<DomainTarget>, ReconcileError> {
        match reference::resolve(&self.ctx.client, &self.namespace, &self.profile.spec.domain_ref).await? {
            Resolved::NotFound(message) => {
                self.report
                    .want(Want::false_(DOMAIN_READY, "DomainNotFound", message.clone()));
                self.report.progressing("WaitingForDomain", message);
                Ok(None)
            }
            Resolved::Denied(message) => {
                self.report
                    .want(Want::false_(DOMAIN_READY, "ReferenceDenied", message.clone()));
                self.report.stalled("ReferenceDenied", message);
                Ok(None)
            }
            Resolved::Found(target) => Ok(Some(target)),
        }
    }

    fn record(&mut self, domain_id: &str, observed: &ObservedProfile) {
        self.status.domain_id = Some(domain_id.into());
        self.status.user_profile_name = Some(observed.details.name.clone());
        self.status.user_profile_arn = Some(observed.details.arn.clone());
        self.status.home_efs_file_system_uid = observed.details.home_efs_uid.clone();
        self.status.aws_status = Some(observed.details.status.clone());
    }

    /// Creates the profile; in a new domain (the old one was recreated) this is a recreation.
    /// `None` when AWS says a profile of that name exists already.
    async fn create(&mut self, session: &AwsSession, domain_id: &str) -> Result<Option<Action>, ReconcileError> {
        let name = self.name();
        let tags = plan::desired_tags(&self.profile.spec, &name, self.owner().tags());
        let desired = plan::desired_profile(&self.profile.spec, name.clone(), tags.clone());
        let arn = match session.create_user_profile(domain_id, &desired).await {
            Ok(arn) => arn,
            Err(AwsError::InUse { message }) if message.contains("already exists") => return Ok(None),
            Err(error) => return Err(error.into()),
        };
        // Only a List that starts after this answer is sure to show it.
        let at = Instant::now();
        info!(%arn, "created user profile");
        let entry = Entry {
            domain_id: domain_id.into(),
            name: name.clone(),
            generation: self.generation(),
            seen: Seen::Created {
                at,
                tags: Tags { tags, checked: at },
            },
        };
        self.ctx.profiles_seen.remember(&self.uid(), entry);
        let previous_domain = self.status.domain_id.replace(domain_id.into());
        let old_uid = self.status.home_efs_file_system_uid.take();
        self.status.user_profile_name = Some(name.clone());
        self.status.user_profile_arn = Some(arn);
        self.status.aws_status = Some("Pending".into());
        self.status.running_apps.clear();
        let (reason, note) = match previous_domain {
            Some(old) if old != domain_id => (
                "Recreated",
                format!(
                    "recreated user profile {name} in domain {domain_id} (was in {old}, home UID {}); the domain's migration plan lists the home directory to copy",
                    old_uid.as_deref().unwrap_or("-")
                ),
            ),
            _ => ("Created", format!("created user profile {name} in domain {domain_id}")),
        };
        self.ctx.event(self.profile, EventType::Normal, reason, note).await;
        self.report
            .progressing("Creating", format!("user profile {name} is being created"));
        Ok(Some(self.poll()))
    }

    /// Retires the profile `old` (apps, spaces, profile) so that the next pass creates the
    /// profile the spec asks for.
    async fn replace(
        &mut self,
        session: &AwsSession,
        domain_id: &str,
        old: &str,
        reason: &str,
    ) -> Result<Action, ReconcileError> {
        self.ctx.profiles_seen.forget(&self.uid());
        let already_recreating =
            status::find(&self.status.conditions, SYNCED).is_some_and(|c| c.reason == "Recreating");
        if !already_recreating {
            self.ctx
                .event(
                    self.profile,
                    EventType::Normal,
                    "Recreating",
                    format!("recreating user profile {old} because {reason} changed: apps, spaces and profile are deleted first"),
                )
                .await;
        }
        let message = match self.retire(session, domain_id, old).await? {
            Retirement::Gone => {
                self.status.user_profile_name = None;
                self.status.user_profile_arn = None;
                self.status.aws_status = None;
                return Ok(Action::requeue(std::time::Duration::from_millis(100)));
            }
            Retirement::Waiting(progress) => format!("recreating because {reason} changed: {progress}"),
            Retirement::Blocked(blocker) => format!("recreation because {reason} changed is blocked: {blocker}"),
        };
        self.report.want(Want::false_(SYNCED, "Recreating", message.clone()));
        self.report.progressing("Recreating", message);
        Ok(self.poll())
    }

    /// Ordered deletion: the profile's apps, then the spaces it owns that no SharedSpace
    /// resource manages (their apps first), then the profile.
    async fn retire(&self, session: &AwsSession, domain_id: &str, name: &str) -> Result<Retirement, ReconcileError> {
        let apps = session.list_apps(domain_id).await?;
        if let Some(progress) = members::delete_apps(session, domain_id, plan::apps_of(&apps, name)).await? {
            return Ok(Retirement::Waiting(progress));
        }
        let owned: Vec<String> = session
            .list_spaces(domain_id)
            .await?
            .into_iter()
            .filter(|s| s.owner.as_deref() == Some(name))
            .map(|s| s.name)
            .collect();
        let mut progress = Vec::new();
        for space in &owned {
            if let Some(manager) = self.space_manager(session, domain_id, space).await? {
                return Ok(Retirement::Blocked(format!(
                    "SharedSpace {manager} still manages space {space} owned by user profile {name}; delete it first"
                )));
            }
            if let Some(step) = members::delete_space(session, domain_id, space, &apps).await? {
                progress.push(step);
            }
        }
        if !progress.is_empty() {
            return Ok(Retirement::Waiting(progress.join("; ")));
        }
        match session.describe_user_profile(domain_id, name).await? {
            None => Ok(Retirement::Gone),
            Some(details) => {
                if details.status != "Deleting" {
                    session.delete_user_profile(domain_id, name).await?;
                }
                Ok(Retirement::Waiting(format!("deleting user profile {name}")))
            }
        }
    }

    /// The SharedSpace resource (`namespace/name`) that manages a space, if one still exists.
    async fn space_manager(
        &self,
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
        if tags.get(ownership::TAG_CLUSTER) != Some(&self.ctx.config.cluster_id) {
            return Ok(Some(format!("{namespace}/{name} of another cluster")));
        }
        let spaces: Api<SharedSpace> = Api::namespaced(self.ctx.client.clone(), namespace);
        let manager = spaces.get_opt(name).await?;
        Ok(manager
            .filter(|s| s.uid().as_ref() == Some(uid))
            .map(|_| format!("{namespace}/{name}")))
    }

    async fn report_deleted(&self, name: &str, domain_id: &str) {
        self.ctx
            .event(
                self.profile,
                EventType::Normal,
                "Deleted",
                format!("deleted user profile {name} from domain {domain_id}"),
            )
            .await;
    }

    async fn release(&mut self) -> Result<Action, ReconcileError> {
        remove_finalizer(&self.api, self.profile).await?;
        self.deleted = true;
        Ok(Action::await_change())
    }
}

impl Steps for Pass<'_> {
    async fn apply(&mut self) -> Result<Action, ReconcileError> {
        let Some(target) = self.domain().await? else {
            return Ok(self.poll());
        };
        let spec = &self.profile.spec;
        if !self
            .report
            .guardrails(self.ctx, &target, |rules| guardrail::rules::check_profile(rules, spec))
            .await?
        {
            return Ok(self.resync());
        }
        let domain_id = match target.ready.clone() {
            Ok(id) => id,
            Err(message) => {
                self.report
                    .want(Want::false_(DOMAIN_READY, "DomainNotReady", message.clone()));
                self.report.progressing("WaitingForDomain", message);
                return Ok(self.poll());
            }
        };
        self.report.want(Want::true_(
            DOMAIN_READY,
            "DomainReady",
            format!("StudioDomain {} ({domain_id}) is Ready", target.key),
        ));
        if let Some((reason, message)) = plan::identity_problem(target.auth_mode, self.profile.spec.sso.as_ref()) {
            self.report.stalled(reason, message);
            return Ok(self.resync());
        }
        let session = self.session(&target).await?;
        let name = self.name();
        if let Some(old) = plan::renamed_from(&self.status, &domain_id, &name) {
            return self.replace(&session, &domain_id, &old, "userProfileName").await;
        }
        let uid = self.uid();
        let settled = self.ctx.profiles_seen.settled(&uid, self.generation());
        let listing = self
            .ctx
            .listings
            .profiles(&session, &domain_id, self.ctx.list_age(settled))
            .await?;
        // Resyncs also read the account's tag index of the same round.
        let tag_index = if settled {
            Some(self.ctx.listings.tag_index(&session, self.ctx.list_age(true)).await)
        } else {
            None
        };
        let situation = observe::Situation {
            uid: &uid,
            domain_id: &domain_id,
            name: &name,
            generation: self.generation(),
            listing: &listing,
            created_here: self.status.domain_id.as_deref() == Some(domain_id.as_str())
                && self.status.user_profile_name.as_deref() == Some(name.as_str()),
            audit_interval: self.ctx.config.tag_audit_interval,
            tag_index: tag_index.as_ref(),
            now: Instant::now(),
        };
        let (observed, tags) = match self.ctx.profiles_seen.plan(&situation) {
            Plan::WaitCreating => {
                self.report
                    .progressing("Creating", format!("user profile {name} is being created"));
                return Ok(self.poll());
            }
            Plan::Reuse { observed, tags, .. } => (observed, tags),
            Plan::Tags { observed } => {
                let tags = session.list_tags(&observed.details.arn).await?;
                self.ctx.profiles_seen.tags_checked(
                    &uid,
                    Tags {
                        tags: tags.clone(),
                        checked: Instant::now(),
                    },
                );
                (observed, tags)
            }
            Plan::Create => match self.create(&session, &domain_id).await? {
                Some(action) => return Ok(action),
                None => match self.describe(&session, &domain_id, &name, None).await? {
                    Some(found) => found,
                    None => return Ok(self.poll()),
                },
            },
            Plan::Describe { tags } => match self.describe(&session, &domain_id, &name, tags).await? {
                Some(found) => found,
                None => return Ok(self.create(&session, &domain_id).await?.unwrap_or_else(|| self.poll())),
            },
        };
        let member = members::Member {
            noun: "user profile",
            name: &name,
            kind: "UserProfile",
            name_field: "spec.userProfileName",
        };
        let claim = ownership::claim(&self.owner(), &tags, self.profile.spec.adopt);
        if let Some(message) = members::conflict(&claim, &member, &domain_id) {
            self.report.stalled("Conflict", message);
            return Ok(self.resync());
        }
        if claim == Claim::Adopt {
            let message = format!("adopting user profile {name} (spec.adopt)");
            self.ctx
                .event(self.profile, EventType::Normal, "Adopted", message)
                .await;
        }
        self.record(&domain_id, &observed);
        match members::standing(&observed.details.status, observed.failure_reason.as_deref(), &member) {
            members::Standing::InService => {}
            members::Standing::Failed(reason, message) => {
                self.report.stalled(&reason, message);
                return Ok(self.resync());
            }
            members::Standing::Transitioning(message) => {
                self.report.progressing("AwsTransition", message);
                return Ok(self.poll());
            }
        }
        let desired_tags = plan::desired_tags(&self.profile.spec, &name, self.owner().tags());
        let desired = plan::desired_profile(&self.profile.spec, name.clone(), desired_tags.clone());
        if let Some(reason) = plan::recreation_reasons(&desired, &observed).first() {
            return self.replace(&session, &domain_id, &name, reason).await;
        }
        let apps = self
            .ctx
            .listings
            .apps(&session, &domain_id, self.ctx.list_age(settled))
            .await?;
        self.status.running_apps = members::running_apps(plan::apps_of(&apps.items, &name));
        let mut changed = plan::settings_changes(&desired.settings, &observed.settings);
        let (add, remove) = ownership::tag_changes(&desired_tags, &tags);
        if !changed.is_empty() || !add.is_empty() || !remove.is_empty() {
            // What the next pass sees must come from AWS, not from before this change.
            self.ctx.profiles_seen.forget(&uid);
        }
        if !changed.is_empty() {
            session
                .update_user_profile(&domain_id, &name, &desired.settings)
                .await?;
        }
        if !add.is_empty() {
            session.add_tags(&observed.details.arn, &add).await?;
        }
        if !remove.is_empty() {
            session.delete_tags(&observed.details.arn, &remove).await?;
        }
        if !add.is_empty() || !remove.is_empty() {
            changed.push("tags");
        }
        if !changed.is_empty() {
            self.ctx
                .report_correction(
                    self.profile,
                    KIND,
                    self.status.observed_generation != Some(self.generation()),
                    &changed,
                )
                .await;
            let message = format!("updating {}", changed.join(", "));
            self.report.want(Want::false_(SYNCED, "Updating", message.clone()));
            self.report.progressing("Updating", message);
            return Ok(self.poll());
        }
        self.report.want(Want::true_(SYNCED, "InSync", "AWS matches the spec"));
        self.report.ready(
            "InService",
            format!("user profile {name} is InService in domain {domain_id}"),
        );
        Ok(self.resync())
    }

    /// Deletion: nothing is touched that this resource does not own; `Retain` removes only the
    /// ownership tags; `Delete` retires apps, spaces and the profile in order.
    async fn cleanup(&mut self) -> Result<Action, ReconcileError> {
        if !has_finalizer(self.profile) {
            self.deleted = true;
            return Ok(Action::await_change());
        }
        let Some(domain_id) = self.status.domain_id.clone() else {
            return self.release().await;
        };
        // A missing domain took its members with it; a denied reference never created any.
        let Resolved::Found(target) =
            reference::resolve(&self.ctx.client, &self.namespace, &self.profile.spec.domain_ref).await?
        else {
            return self.release().await;
        };
        let session = self.session(&target).await?;
        self.ctx.profiles_seen.forget(&self.uid());
        let name = self.status.user_profile_name.clone().unwrap_or_else(|| self.name());
        let Some(observed) = session.describe_user_profile(&domain_id, &name).await? else {
            if self.status.aws_status.as_deref() == Some("Deleting") {
                self.report_deleted(&name, &domain_id).await;
            }
            return self.release().await;
        };
        let tags = session.list_tags(&observed.arn).await?;
        if ownership::claim(&self.owner(), &tags, false) != Claim::Ours {
            return self.release().await;
        }
        if self.profile.spec.deletion_policy == DeletionPolicy::Retain {
            let member = members::Member {
                noun: "user profile",
                name: &name,
                kind: "UserProfile",
                name_field: "spec.userProfileName",
            };
            members::retain(self.ctx, self.profile, &session, &observed.arn, &member, &domain_id).await?;
            return self.release().await;
        }
        match self.retire(&session, &domain_id, &name).await? {
            Retirement::Gone => {
                self.report_deleted(&name, &domain_id).await;
                self.release().await
            }
            Retirement::Waiting(progress) => {
                // Remembered so that the pass which finds the profile gone reports it.
                self.status.aws_status = Some("Deleting".into());
                self.report.progressing("Deleting", progress);
                Ok(self.poll())
            }
            Retirement::Blocked(blocker) => {
                self.report
                    .stalled("DeletionBlocked", format!("deletion blocked: {blocker}"));
                Ok(self.poll())
            }
        }
    }

    fn ready(&self) -> Option<String> {
        (!self.deleted).then(|| {
            status::find(&self.status.conditions, crate::api::condition_type::READY)
                .map_or_else(|| "Unknown".to_string(), |c| c.status.clone())
        })
    }

    async fn write_status(&mut self) -> Result<(), ReconcileError> {
        if self.deleted {
            return Ok(());
        }
        let before = self
            .profile
            .status
            .as_ref()
            .map(|s| s.conditions.clone())
            .unwrap_or_default();
        self.status.conditions = self.report.conditions(&self.status.conditions, self.generation());
        self.status.observed_generation = Some(self.generation());
        members::publish_transitions(self.ctx, self.profile, &before, &self.status.conditions).await;
        if self.profile.status.as_ref() != Some(&self.status) {
            apply_status(&self.api, &self.profile.name_any(), &self.status).await?;
        }
        Ok(())
    }

    fn report_error(&mut self, error: &ReconcileError) {
        self.report
            .progressing("AwsError", format!("{error} (retrying with backoff)"));
    }
}
