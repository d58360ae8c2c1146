//! The SharedSpace controller: a shared or private space in its domain, updated in place where
//! AWS allows it, recreated when its owner, sharing or app type changes, and deleted after its
//! apps.

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
use crate::api::{DeletionPolicy, SharedSpace, SharedSpaceStatus};
use crate::aws::AwsError;
use crate::aws::clients::AwsSession;
use crate::aws::model::ObservedSpace;
use crate::controller::ownership::{self, Claim, Owner};
use crate::controller::{
    Context, ReconcileError, Steps, apply_status, drive, has_finalizer, remove_finalizer, run_controller,
};
use crate::guardrail;
use crate::status::{self, Want};

const KIND: &str = "SharedSpace";

/// Runs the SharedSpace controller for one scope (a namespace, or `None` for all) until
/// `shutdown` resolves.
pub async fn run(
    ctx: Arc<Context>,
    scope: Option<String>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    run_controller::<SharedSpace, _, _>(
        ctx,
        scope,
        shutdown,
        members::spec_or_deletion,
        Some(domain_of),
        reconcile,
    )
    .await;
}

/// The StudioDomain (namespace, name) a space refers to.
fn domain_of(space: &SharedSpace) -> (String, String) {
    let namespace = space.namespace().unwrap_or_default();
    let domain = &space.spec.domain_ref;
    (domain.namespace.clone().unwrap_or(namespace), domain.name.clone())
}

#[instrument(skip_all, fields(namespace = %space.namespace().unwrap_or_default(), name = %space.name_any()))]
async fn reconcile(space: Arc<SharedSpace>, ctx: Arc<Context>) -> Result<Action, ReconcileError> {
    let namespace = space
        .namespace()
        .ok_or(ReconcileError::MissingField("metadata.namespace"))?;
    let api: Api<SharedSpace> = Api::namespaced(ctx.client.clone(), &namespace);
    let pass = Pass {
        space: &space,
        ctx: &ctx,
        api: api.clone(),
        namespace,
        status: space.status.clone().unwrap_or_default(),
        report: Report::default(),
        deleted: false,
    };
    drive(space.as_ref(), &ctx, &api, pass).await
}

/// One reconcile of one space.
struct Pass<'a> {
    space: &'a SharedSpace,
    ctx: &'a Context,
    api: Api<SharedSpace>,
    namespace: String,
    status: SharedSpaceStatus,
    report: Report,
    deleted: bool,
}

impl Pass<'_> {
    fn owner(&self) -> Owner {
        Owner {
            cluster: self.ctx.config.cluster_id.clone(),
            namespace: self.namespace.clone(),
            name: self.space.name_any(),
            uid: self.space.uid().unwrap_or_default(),
        }
    }

    fn name(&self) -> String {
        plan::space_name(&self.space.spec, &self.space.name_any())
    }

    fn generation(&self) -> i64 {
        self.space.metadata.generation.unwrap_or_default()
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
        self.space.uid().unwrap_or_default()
    }

    /// Describes the space, and lists its tags unless `tags` are still good; remembers both.
    /// `None` when the space does not exist.
    async fn describe(
        &self,
        session: &AwsSession,
        domain_id: &str,
        name: &str,
        tags: Option<Tags>,
    ) -> Result<Option<(ObservedSpace, BTreeMap<String, String>)>, ReconcileError> {
        let at = Instant::now();
        let Some(observed) = session.observe_space(domain_id, name).await? else {
            self.ctx.spaces_seen.forget(&self.uid());
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
        self.ctx.spaces_seen.remember(&self.uid(), entry);
        Ok(Some((observed, tags.tags)))
    }

    async fn session(&self, target: &DomainTarget) -> Result<Arc<AwsSession>, ReconcileError> {
        Ok(self
            .ctx
            .aws
            .session(&target.aws.region, target.aws.role_arn.as_deref())
            .await?)
    }

    /// The name of a space this resource created under another name in the same domain.
    fn renamed_from(&self, domain_id: &str, name: &str) -> Option<String> {
        match (&self.status.space_name, &self.status.domain_id) {
            (Some(old), Some(id)) if id == domain_id && old != name => Some(old.clone()),
            _ => None,
        }
    }

    fn record(&mut self, domain_id: &str, observed: &ObservedSpace) {
        self.status.domain_id = Some(domain_id.into());
        self.status.space_name = Some(observed.details.name.clone());
        self.status.space_arn = Some(observed.details.arn.clone());
        self.status.home_efs_file_system_uid = observed.details.home_efs_uid.clone();
        self.status.aws_status = Some(observed.details.status.clone());
    }

    /// Creates the space once its owner profile is InService; in a new domain (the old one was
    /// recreated) this is a recreation. `None` when AWS says a space of that name exists.
    async fn create(&mut self, session: &AwsSession, domain_id: &str) -> Result<Option<Action>, ReconcileError> {
        let name = self.name();
        let tags = plan::desired_tags(&self.space.spec, self.owner().tags());
        let desired = plan::desired_space(&self.space.spec, name.clone(), tags.clone());
        // The domain's shared listing of profiles says whether the owner is InService; a stale
        // listing only makes this pass wait.
        let owner_ready = self
            .ctx
            .listings
            .profiles(session, domain_id, self.ctx.list_age(false))
            .await?
            .get(&desired.owner)
            .is_some_and(|p| p.status == "InService");
        if !owner_ready {
            self.report.progressing(
                "WaitingForOwner",
                format!(
                    "user profile {} (sharing.ownerProfile) is not InService in domain {domain_id} yet",
                    desired.owner
                ),
            );
            // The owner's readiness is read from the domain's shared profile listing (no AWS
            // call of its own), so the space looks again as often as that listing refreshes.
            return Ok(Some(Action::requeue(self.ctx.list_age(false))));
        }
        let arn = match session.create_space(domain_id, &desired).await {
            Ok(arn) => arn,
            Err(AwsError::InUse { message }) if message.contains("already exists") => return Ok(None),
            Err(error) => return Err(error.into()),
        };
        // Only a List that starts after this answer is sure to show it.
        let at = Instant::now();
        info!(%arn, "created space");
        let entry = Entry {
            domain_id: domain_id.into(),
            name: name.clone(),
            generation: self.generation(),
            seen: Seen::Created {
                at,
                tags: Tags { tags, checked: at },
            },
        };
        self.ctx.spaces_seen.remember(&self.uid(), entry);
        let previous_domain = self.status.domain_id.replace(domain_id.into());
        let old_uid = self.status.home_efs_file_system_uid.take();
        self.status.space_name = Some(name.clone());
        self.status.space_arn = Some(arn);
        self.status.aws_status = Some("Pending".into());
        self.status.running_apps.clear();
        let (reason, note) = match previous_domain {
            Some(old) if old != domain_id => (
                "Recreated",
                format!(
                    "recreated space {name} in domain {domain_id} (was in {old}, UID {}); the domain's migration plan lists the directory to copy",
                    old_uid.as_deref().unwrap_or("-")
                ),
            ),
            _ => ("Created", format!("created space {name} in domain {domain_id}")),
        };
        self.ctx.event(self.space, EventType::Normal, reason, note).await;
        self.report
            .progressing("Creating", format!("space {name} is being created"));
        Ok(Some(self.poll()))
    }

    /// Deletes the space `old` (apps first) so that the next pass creates the one the spec asks for.
    async fn replace(
        &mut self,
        session: &AwsSession,
        domain_id: &str,
        old: &str,
        reason: &str,
    ) -> Result<Action, ReconcileError> {
        self.ctx.spaces_seen.forget(&self.uid());
        let already_recreating =
            status::find(&self.status.conditions, SYNCED).is_some_and(|c| c.reason == "Recreating");
        if !already_recreating {
            self.ctx
                .event(
                    self.space,
                    EventType::Normal,
                    "Recreating",
                    format!("recreating space {old} because {reason} cannot change in AWS; its apps are deleted first"),
                )
                .await;
        }
        let apps = session.list_apps(domain_id).await?;
        match members::delete_space(session, domain_id, old, &apps).await? {
            None => {
                self.status.space_name = None;
                self.status.space_arn = None;
                self.status.aws_status = None;
                Ok(Action::requeue(std::time::Duration::from_millis(100)))
            }
            Some(progress) => {
                let message = format!("recreating because {reason} changed: {progress}");
                self.report.want(Want::false_(SYNCED, "Recreating", message.clone()));
                self.report.progressing("Recreating", message);
                Ok(self.poll())
            }
        }
    }

    async fn report_deleted(&self, name: &str, domain_id: &str) {
        self.ctx
            .event(
                self.space,
                EventType::Normal,
                "Deleted",
                format!("deleted space {name} from domain {domain_id}"),
            )
            .await;
    }

    async fn release(&mut self) -> Result<Action, ReconcileError> {
        remove_finalizer(&self.api, self.space).await?;
        self.deleted = true;
        Ok(Action::await_change())
    }
}

impl Steps for Pass<'_> {
    async fn apply(&mut self) -> Result<Action, ReconcileError> {
        let target = match reference::resolve(&self.ctx.client, &self.namespace, &self.space.spec.domain_ref).await? {
            Resolved::NotFound(message) => {
                self.report
                    .want(Want::false_(DOMAIN_READY, "DomainNotFound", message.clone()));
                self.report.progressing("WaitingForDomain", message);
                return Ok(self.poll());
            }
            Resolved::Denied(message) => {
                self.report
                    .want(Want::false_(DOMAIN_READY, "ReferenceDenied", message.clone()));
                self.report.stalled("ReferenceDenied", message);
                return Ok(self.poll());
            }
            Resolved::Found(target) => target,
        };
        let spec = &self.space.spec;
        if !self
            .report
            .guardrails(self.ctx, &target, |rules| guardrail::rules::check_space(rules, spec))
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
        if let Some((reason, message)) =
            plan::creation_problem(&self.space.spec, target.space_execution_role.as_deref())
        {
            self.report.stalled(reason, message);
            return Ok(self.resync());
        }
        let session = self.session(&target).await?;
        let name = self.name();
        if let Some(old) = self.renamed_from(&domain_id, &name) {
            return self.replace(&session, &domain_id, &old, "spaceName").await;
        }
        let uid = self.uid();
        let settled = self.ctx.spaces_seen.settled(&uid, self.generation());
        let listing = self
            .ctx
            .listings
            .spaces(&session, &domain_id, self.ctx.list_age(settled))
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
                && self.status.space_name.as_deref() == Some(name.as_str()),
            audit_interval: self.ctx.config.tag_audit_interval,
            tag_index: tag_index.as_ref(),
            now: Instant::now(),
        };
        let (observed, tags) = match self.ctx.spaces_seen.plan(&situation) {
            Plan::WaitCreating => {
                self.report
                    .progressing("Creating", format!("space {name} is being created"));
                return Ok(self.poll());
            }
            Plan::Reuse { observed, tags, .. } => (observed, tags),
            Plan::Tags { observed } => {
                let tags = session.list_tags(&observed.details.arn).await?;
                self.ctx.spaces_seen.tags_checked(
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
            noun: "space",
            name: &name,
            kind: "SharedSpace",
            name_field: "spec.spaceName",
        };
        let claim = ownership::claim(&self.owner(), &tags, self.space.spec.adopt);
        if let Some(message) = members::conflict(&claim, &member, &domain_id) {
            self.report.stalled("Conflict", message);
            return Ok(self.resync());
        }
        if claim == Claim::Adopt {
            let message = format!("adopting space {name} (spec.adopt)");
            self.ctx.event(self.space, EventType::Normal, "Adopted", message).await;
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
        let desired_tags = plan::desired_tags(&self.space.spec, self.owner().tags());
        let desired = plan::desired_space(&self.space.spec, name.clone(), desired_tags.clone());
        let immutable = plan::immutable_changes(&desired, &observed);
        if !immutable.is_empty() {
            return self.replace(&session, &domain_id, &name, &immutable.join(", ")).await;
        }
        let apps = self
            .ctx
            .listings
            .apps(&session, &domain_id, self.ctx.list_age(settled))
            .await?;
        self.status.running_apps = members::running_apps(plan::apps_of(&apps.items, &name));
        let mut changed = plan::mutable_changes(&desired, &observed);
        let (add, remove) = ownership::tag_changes(&desired_tags, &tags);
        if !changed.is_empty() || !add.is_empty() || !remove.is_empty() {
            // What the next pass sees must come from AWS, not from before this change.
            self.ctx.spaces_seen.forget(&uid);
        }
        if !changed.is_empty() {
            session
                .update_space(&domain_id, &name, desired.display_name.as_deref(), &desired.settings)
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
                    self.space,
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
        self.report
            .ready("InService", format!("space {name} is InService in domain {domain_id}"));
        Ok(self.resync())
    }

    /// Deletion: nothing is touched that this resource does not own; `Retain` removes only the
    /// ownership tags; `Delete` deletes the apps, then the space.
    async fn cleanup(&mut self) -> Result<Action, ReconcileError> {
        if !has_finalizer(self.space) {
            self.deleted = true;
            return Ok(Action::await_change());
        }
        let Some(domain_id) = self.status.domain_id.clone() else {
            return self.release().await;
        };
        // A missing domain took its members with it; a denied reference never created any.
        let Resolved::Found(target) =
            reference::resolve(&self.ctx.client, &self.namespace, &self.space.spec.domain_ref).await?
        else {
            return self.release().await;
        };
        let session = self.session(&target).await?;
        self.ctx.spaces_seen.forget(&self.uid());
        let name = self.status.space_name.clone().unwrap_or_else(|| self.name());
        let Some(observed) = session.describe_space(&domain_id, &name).await? else {
            if self.status.aws_status.as_deref() == Some("Deleting") {
                self.report_deleted(&name, &domain_id).await;
            }
            return self.release().await;
        };
        let tags = session.list_tags(&observed.arn).await?;
        if ownership::claim(&self.owner(), &tags, false) != Claim::Ours {
            return self.release().await;
        }
        if self.space.spec.deletion_policy == DeletionPolicy::Retain {
            let member = members::Member {
                noun: "space",
                name: &name,
                kind: "SharedSpace",
                name_field: "spec.spaceName",
            };
            members::retain(self.ctx, self.space, &session, &observed.arn, &member, &domain_id).await?;
            return self.release().await;
        }
        let apps = session.list_apps(&domain_id).await?;
        match members::delete_space(&session, &domain_id, &name, &apps).await? {
            None => {
                self.report_deleted(&name, &domain_id).await;
                self.release().await
            }
            Some(progress) => {
                // Remembered so that the pass which finds the space gone reports it.
                self.status.aws_status = Some("Deleting".into());
                self.report.progressing("Deleting", progress);
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
            .space
            .status
            .as_ref()
            .map(|s| s.conditions.clone())
            .unwrap_or_default();
        self.status.conditions = self.report.conditions(&self.status.conditions, self.generation());
        self.status.observed_generation = Some(self.generation());
        members::publish_transitions(self.ctx, self.space, &before, &self.status.conditions).await;
        if self.space.status.as_ref() != Some(&self.status) {
            apply_status(&self.api, &self.space.name_any(), &self.status).await?;
        }
        Ok(())
    }

    fn report_error(&mut self, error: &ReconcileError) {
        self.report
            .progressing("AwsError", format!("{error} (retrying with backoff)"));
    }
}
