//! The StudioDomain controller: verify the KMS key, create exactly once, update in place, correct
//! drift, recreate without data loss, and delete in order.

pub mod plan;
mod recreate;
pub mod reporter;

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::jiff::Timestamp;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::{Api, ResourceExt};
use tracing::{info, instrument, warn};

use self::plan::{KeyProblem, RecreationDecision};
use crate::api::condition_type::{KMS_KEY_VALID, RECREATING, SYNCED, UPDATE_BLOCKED};
use crate::api::{DeletionPolicy, Guardrail, StudioDomain, StudioDomainStatus};
use crate::aws::AwsError;
use crate::aws::clients::AwsSession;
use crate::aws::model::{AppSummary, DomainCreate, KeyInfo, ObservedDomain};
use crate::controller::ownership::{self, Owner};
use crate::controller::sweeper;
use crate::controller::{
    Context, ReconcileError, Steps, apply_status, drive, has_finalizer, remove_finalizer, run_controller,
};
use crate::guardrail::{self, Verdict};
use crate::status::{self, Readiness, Want};

const KIND: &str = "StudioDomain";

/// Runs the StudioDomain controller for one scope (a namespace, or `None` for all) until
/// `shutdown` resolves.
pub async fn run(
    ctx: Arc<Context>,
    scope: Option<String>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    run_controller::<StudioDomain, _, _>(ctx, scope, shutdown, significant_change, None, reconcile).await;
}

/// A hash of what should trigger a reconcile: the spec generation, deletion and approval.
fn significant_change(domain: &StudioDomain) -> Option<u64> {
    use std::hash::{DefaultHasher, Hash, Hasher};
    let mut hasher = DefaultHasher::new();
    domain.metadata.generation.hash(&mut hasher);
    domain.metadata.deletion_timestamp.is_some().hash(&mut hasher);
    domain.annotations().get(plan::APPROVE_RECREATION).hash(&mut hasher);
    Some(hasher.finish())
}

#[instrument(skip_all, fields(namespace = %domain.namespace().unwrap_or_default(), name = %domain.name_any()))]
async fn reconcile(domain: Arc<StudioDomain>, ctx: Arc<Context>) -> Result<Action, ReconcileError> {
    let namespace = domain
        .namespace()
        .ok_or(ReconcileError::MissingField("metadata.namespace"))?;
    let api: Api<StudioDomain> = Api::namespaced(ctx.client.clone(), &namespace);
    let pass = Pass::new(&domain, &ctx, api.clone());
    drive(domain.as_ref(), &ctx, &api, pass).await
}

/// One reconcile of one domain: what was observed, what was decided, what to report.
struct Pass<'a> {
    domain: &'a StudioDomain,
    ctx: &'a Context,
    api: Api<StudioDomain>,
    status: StudioDomainStatus,
    wanted: Vec<Want>,
    readiness: Option<Readiness>,
    deleted: bool,
    /// The Guardrails that cover this domain.
    guardrails: Vec<Arc<Guardrail>>,
}

impl<'a> Pass<'a> {
    fn new(domain: &'a StudioDomain, ctx: &'a Context, api: Api<StudioDomain>) -> Self {
        Self {
            domain,
            ctx,
            api,
            status: domain.status.clone().unwrap_or_default(),
            wanted: Vec::new(),
            readiness: None,
            deleted: false,
            guardrails: Vec::new(),
        }
    }

    fn spec(&self) -> &crate::api::StudioDomainSpec {
        &self.domain.spec
    }

    fn owner(&self) -> Owner {
        Owner {
            cluster: self.ctx.config.cluster_id.clone(),
            namespace: self.domain.namespace().unwrap_or_default(),
            name: self.domain.name_any(),
            uid: self.domain.uid().unwrap_or_default(),
        }
    }

    fn generation(&self) -> i64 {
        self.domain.metadata.generation.unwrap_or_default()
    }

    fn name(&self) -> String {
        plan::domain_name(self.spec(), &self.domain.name_any())
    }

    fn progressing(&mut self, reason: &str, message: impl Into<String>) {
        self.readiness = Some(Readiness::Progressing {
            reason: reason.into(),
            message: message.into(),
        });
    }

    fn stalled(&mut self, reason: &str, message: impl Into<String>) {
        self.readiness = Some(Readiness::Stalled {
            reason: reason.into(),
            message: message.into(),
        });
    }

    fn poll(&self) -> Action {
        // Polls back off while nothing changes; new progress starts them again.
        let phase = self.readiness.as_ref().map(|r| r.phase()).unwrap_or_default();
        self.ctx.poll_after(&self.domain.uid().unwrap_or_default(), &phase)
    }

    fn resync(&self) -> Action {
        self.resync_every(self.ctx.config.resync_interval)
    }

    fn resync_every(&self, period: std::time::Duration) -> Action {
        self.ctx.resync_after(&self.domain.uid().unwrap_or_default(), period)
    }

    async fn session(&self) -> Result<Arc<AwsSession>, ReconcileError> {
        let aws = &self.spec().aws;
        Ok(self.ctx.aws.session(&aws.region, aws.role_arn.as_deref()).await?)
    }

    /// Resolves and checks the key. AWS errors other than "not found" propagate (retry).
    async fn verify_key(&mut self, session: &AwsSession) -> Result<Result<KeyInfo, KeyProblem>, ReconcileError> {
        let key_id = self.spec().encryption.kms_key_id.clone();
        let verdict = match plan::check_key_reference(&key_id) {
            Err(problem) => Err(problem),
            Ok(()) => match session.describe_key(&key_id).await {
                Ok(key) => plan::evaluate_key(&key).map(|()| key),
                Err(AwsError::NotFound { message }) => Err(KeyProblem::NotFound(message)),
                Err(error) => return Err(error.into()),
            },
        };
        match &verdict {
            Ok(key) => {
                self.status.kms_key_arn = Some(key.arn.clone());
                self.wanted.push(Want::true_(
                    KMS_KEY_VALID,
                    "KmsKeyVerified",
                    format!("{} is a customer managed, enabled, symmetric key", key.arn),
                ));
            }
            Err(problem) => {
                self.wanted
                    .push(Want::false_(KMS_KEY_VALID, problem.reason(), problem.message(&key_id)));
            }
        }
        Ok(verdict)
    }

    /// The domain id of this resource: from status, from `adopt`, or found by ownership tags
    /// (a crash between CreateDomain and the status write must not create a second domain).
    async fn locate(&self, session: &AwsSession) -> Result<Option<String>, ReconcileError> {
        if let Some(id) = &self.status.domain_id {
            return Ok(Some(id.clone()));
        }
        if let Some(adopt) = &self.spec().adopt {
            return Ok(Some(adopt.domain_id.clone()));
        }
        let old = self.status.recreation.as_ref().map(|r| r.old_domain_id.clone());
        let owner = self.owner();
        for summary in session.list_domains().await? {
            if Some(&summary.id) == old.as_ref() || summary.status == "Deleting" {
                continue;
            }
            if owner.owns(&session.list_tags(&summary.arn).await?) {
                return Ok(Some(summary.id));
            }
        }
        Ok(None)
    }

    fn record_observed(&mut self, observed: &ObservedDomain) {
        self.status.domain_id = Some(observed.id.clone());
        self.status.domain_arn = Some(observed.arn.clone());
        self.status.url = observed.url.clone();
        self.status.home_efs_file_system_id = observed.home_efs_file_system_id.clone();
        self.status.aws_status = Some(observed.status.clone());
    }

    async fn create(
        &mut self,
        session: &AwsSession,
        key: Result<KeyInfo, KeyProblem>,
    ) -> Result<Action, ReconcileError> {
        if self.spec().adopt.is_some() && self.status.recreation.is_none() {
            let id = self
                .spec()
                .adopt
                .as_ref()
                .map(|a| a.domain_id.clone())
                .unwrap_or_default();
            self.stalled(
                "AdoptedDomainNotFound",
                format!(
                    "domain {id} named in spec.adopt.domainId does not exist in {}; fix the id or remove spec.adopt",
                    self.spec().aws.region
                ),
            );
            return Ok(self.resync());
        }
        let key = match key {
            Ok(key) => key,
            Err(problem) => {
                let message = format!(
                    "{}; no domain was created",
                    problem.message(&self.spec().encryption.kms_key_id)
                );
                self.stalled(problem.reason(), message);
                return Ok(self.resync());
            }
        };
        let name = self.name();
        let conflicting = session
            .list_domains()
            .await?
            .into_iter()
            .find(|d| d.name == name && d.status != "Deleting");
        if let Some(other) = conflicting {
            self.stalled("NameConflict", format!("a domain named {name} ({}) already exists and is not managed by this resource; choose another spec.domainName or adopt it with spec.adopt.domainId", other.id));
            return Ok(self.resync());
        }
        let tags = plan::desired_tags(self.spec(), self.owner().tags());
        let mut desired = plan::desired_domain(self.spec(), name.clone(), key.arn.clone(), tags);
        self.attach_reporter(session, &mut desired).await?;
        let created = session.create_domain(&desired).await?;
        info!(domain_id = %created.id, "created domain");
        // Record the id at once: the next pass must find this domain, not create another.
        self.status.domain_id = Some(created.id.clone());
        self.status.domain_arn = Some(created.arn.clone());
        self.status.url = Some(created.url.clone());
        self.status.aws_status = Some("Pending".into());
        self.progressing("Creating", format!("domain {} is being created", created.id));
        self.ctx
            .event(
                self.domain,
                EventType::Normal,
                "Created",
                format!("created domain {name} ({}) encrypted with {}", created.id, key.arn),
            )
            .await;
        Ok(self.poll())
    }

    async fn in_service(
        &mut self,
        session: &AwsSession,
        observed: &ObservedDomain,
        key: &KeyInfo,
    ) -> Result<Action, ReconcileError> {
        let owner = self.owner();
        let desired_tags = plan::desired_tags(self.spec(), owner.tags());
        let mut desired = plan::desired_domain(self.spec(), self.name(), key.arn.clone(), desired_tags.clone());
        self.attach_reporter(session, &mut desired).await?;
        let immutable = plan::immutable_changes(&desired, observed);
        if !immutable.is_empty() {
            return self.recreate_or_wait(session, observed, immutable).await;
        }
        self.wanted
            .push(Want::false_(RECREATING, "NoRecreation", "no immutable setting changed"));
        // Listed now (updates and the sweeper decide on it) and shared with the members' passes.
        let apps = self
            .ctx
            .listings
            .apps(session, &observed.id, std::time::Duration::ZERO)
            .await?;
        let apps = apps.items.as_slice();
        let diff = plan::mutable_diff(&desired, observed);
        let mut changed_fields: Vec<&str> = Vec::new();
        if !diff.fields.is_empty() {
            let blocking = plan::blocking_apps(apps);
            if !diff.needs_stopped_apps.is_empty() && !blocking.is_empty() {
                return self
                    .blocked_update(session, observed, &diff.needs_stopped_apps, &blocking)
                    .await;
            }
            session.update_domain(&observed.id, &diff.update).await?;
            changed_fields.extend(diff.fields.iter());
        }
        self.wanted
            .push(Want::false_(UPDATE_BLOCKED, "NotBlocked", "no update waits for apps"));
        let (add, remove) = ownership::tag_changes(&desired_tags, &session.list_tags(&observed.arn).await?);
        if !add.is_empty() {
            session.add_tags(&observed.arn, &add).await?;
            changed_fields.push("tags");
        }
        if !remove.is_empty() {
            session.delete_tags(&observed.arn, &remove).await?;
            if !changed_fields.contains(&"tags") {
                changed_fields.push("tags");
            }
        }
        self.count_members(session, observed, apps).await?;
        if !changed_fields.is_empty() {
            self.ctx
                .report_correction(
                    self.domain,
                    KIND,
                    self.status.observed_generation != Some(self.generation()),
                    &changed_fields,
                )
                .await;
            self.wanted.push(Want::false_(
                SYNCED,
                "Updating",
                format!("updating {}", changed_fields.join(", ")),
            ));
            self.progressing("Updating", format!("updating {}", changed_fields.join(", ")));
            return Ok(self.poll());
        }
        self.retire_reporter_configs(session).await?;
        self.wanted.push(Want::true_(SYNCED, "InSync", "AWS matches the spec"));
        self.readiness = Some(Readiness::Ready {
            reason: "InService".into(),
            message: format!("domain {} is InService and matches the spec", observed.id),
        });
        if sweeper::due(self.ctx, &self.domain.uid().unwrap_or_default()) {
            // A failed sweep must not make the domain look broken: it is retried next time.
            if let Err(error) =
                sweeper::sweep(self.ctx, self.domain, session, &observed.id, apps, &self.guardrails).await
            {
                warn!(%error, category = %error.category(), "sweeping apps failed");
            }
        }
        let config = &self.ctx.config;
        Ok(self.resync_every(config.resync_interval.min(config.sweep_interval)))
    }

    /// With `idleShutdown.activityReporter`, makes sure the reporter's lifecycle configurations
    /// exist and attaches them to the domain defaults.
    async fn attach_reporter(
        &mut self,
        session: &AwsSession,
        desired: &mut DomainCreate,
    ) -> Result<(), ReconcileError> {
        if !self.spec().idle_shutdown.as_ref().is_some_and(|i| i.activity_reporter) {
            return Ok(());
        }
        let uid = self.domain.uid().unwrap_or_default();
        // Recorded before they are created: a configuration whose creation succeeds in a pass
        // that then fails must still be found when the reporter or the domain goes away.
        for name in reporter::names(&uid).into_values() {
            if !self.status.activity_reporter_configs.contains(&name) {
                self.status.activity_reporter_configs.push(name);
            }
        }
        let arns = reporter::ensure(session, &uid, &self.owner().tags()).await?;
        reporter::attach(desired, &arns);
        Ok(())
    }

    /// Once the domain no longer refers to them, deletes the reporter configurations of older
    /// script versions (or all of them when the reporter was turned off).
    async fn retire_reporter_configs(&mut self, session: &AwsSession) -> Result<(), ReconcileError> {
        let wanted: Vec<String> = if self.spec().idle_shutdown.as_ref().is_some_and(|i| i.activity_reporter) {
            reporter::names(&self.domain.uid().unwrap_or_default())
                .into_values()
                .collect()
        } else {
            Vec::new()
        };
        let stale: Vec<String> = self
            .status
            .activity_reporter_configs
            .iter()
            .filter(|name| !wanted.contains(name))
            .cloned()
            .collect();
        if stale.is_empty() {
            return Ok(());
        }
        let left = reporter::delete(session, &stale).await?;
        self.status
            .activity_reporter_configs
            .retain(|name| wanted.contains(name) || left.contains(name));
        Ok(())
    }

    /// Checks the spec against the covering guardrails. Returns false when an enforcing one is
    /// broken: then nothing is created or changed in AWS.
    async fn check_guardrails(&mut self) -> Result<bool, ReconcileError> {
        let namespace = self.domain.namespace().unwrap_or_default();
        self.guardrails = self.ctx.guardrails_for(&namespace, self.domain.labels()).await?;
        let verdict = Verdict::of(&self.guardrails.iter().map(Arc::as_ref).collect::<Vec<_>>(), |rules| {
            guardrail::rules::check_domain(rules, self.spec())
        });
        let (want, allowed) = guardrail::condition(&verdict);
        self.wanted.push(want);
        if !allowed {
            self.stalled(
                "GuardrailViolation",
                format!(
                    "{}; nothing is changed in AWS until the spec complies",
                    verdict.message()
                ),
            );
        }
        Ok(allowed)
    }

    async fn blocked_update(
        &mut self,
        session: &AwsSession,
        observed: &ObservedDomain,
        fields: &[&str],
        blocking: &[&AppSummary],
    ) -> Result<Action, ReconcileError> {
        let names: Vec<String> = blocking.iter().map(|a| plan::app_label(a)).collect();
        let stop_apps = self.spec().update_policy.as_ref().is_some_and(|p| p.stop_apps);
        if stop_apps {
            for app in blocking.iter().filter(|a| a.is_running()) {
                session.delete_app(&observed.id, app).await?;
            }
            let message = format!(
                "stopping apps {} so that {} can change",
                names.join(", "),
                fields.join(", ")
            );
            self.ctx
                .event(self.domain, EventType::Normal, "StoppingApps", message.clone())
                .await;
            self.wanted
                .push(Want::true_(UPDATE_BLOCKED, "StoppingApps", message.clone()));
            self.progressing("StoppingApps", message);
        } else {
            let message = format!(
                "{} can change only while no app runs; running: {}. Stop them, or set spec.updatePolicy.stopApps: true",
                fields.join(", "),
                names.join(", ")
            );
            if !status::is_true(&self.status.conditions, UPDATE_BLOCKED) {
                self.ctx
                    .event(self.domain, EventType::Warning, "UpdateBlocked", message.clone())
                    .await;
            }
            self.wanted
                .push(Want::true_(UPDATE_BLOCKED, "AppsRunning", message.clone()));
            self.progressing("UpdateBlocked", message);
        }
        self.wanted.push(Want::false_(
            SYNCED,
            "UpdateBlocked",
            format!("{} differ", fields.join(", ")),
        ));
        Ok(self.poll())
    }

    async fn count_members(
        &mut self,
        session: &AwsSession,
        observed: &ObservedDomain,
        apps: &[AppSummary],
    ) -> Result<(), ReconcileError> {
        // Shared with the members' passes of the same resync.
        let ttl = self.ctx.list_age(true);
        let profiles = self.ctx.listings.profiles(session, &observed.id, ttl).await?;
        let spaces = self.ctx.listings.spaces(session, &observed.id, ttl).await?;
        self.status.user_profiles = Some(profiles.items.len() as i32);
        self.status.spaces = Some(spaces.items.len() as i32);
        self.status.running_apps = Some(apps.iter().filter(|a| a.is_running()).count() as i32);
        Ok(())
    }

    async fn recreate_or_wait(
        &mut self,
        session: &AwsSession,
        observed: &ObservedDomain,
        changes: Vec<&'static str>,
    ) -> Result<Action, ReconcileError> {
        let approved = plan::is_approved(self.domain.annotations(), self.generation());
        let adopted = self.spec().adopt.is_some();
        let what = changes.join(", ");
        match plan::recreation_decision(self.spec().recreation_policy, adopted, approved) {
            RecreationDecision::Refuse => {
                let message = format!(
                    "{what} cannot change in AWS and recreationPolicy is Never; revert the change or allow recreation"
                );
                self.wanted
                    .push(Want::false_(SYNCED, "ImmutableChange", message.clone()));
                self.stalled("RecreationRefused", message);
                Ok(self.resync())
            }
            RecreationDecision::AwaitApproval => {
                let message = format!(
                    "{what} cannot change in AWS: the domain must be recreated (EFS retained). Approve with: kubectl annotate studiodomain {} {}={} --overwrite",
                    self.domain.name_any(),
                    plan::APPROVE_RECREATION,
                    self.generation()
                );
                self.wanted
                    .push(Want::false_(SYNCED, "ImmutableChange", message.clone()));
                self.wanted
                    .push(Want::false_(RECREATING, "AwaitingApproval", message.clone()));
                self.stalled("AwaitingApproval", message);
                Ok(self.resync())
            }
            RecreationDecision::Proceed => self.start_recreation(session, observed, changes, approved).await,
        }
    }

    /// Writes the status now (a step that must survive a crash before the next one).
    async fn checkpoint(&mut self) -> Result<(), ReconcileError> {
        self.write_status().await
    }

    async fn release(&mut self) -> Result<Action, ReconcileError> {
        remove_finalizer(&self.api, self.domain).await?;
        self.deleted = true;
        Ok(Action::await_change())
    }
}

/// Ownership tags of a member (profile or space) decide whether the operator may delete it.
pub(crate) fn is_managed(tags: &BTreeMap<String, String>) -> bool {
    ownership::is_managed(tags)
}

impl Steps for Pass<'_> {
    async fn apply(&mut self) -> Result<Action, ReconcileError> {
        if !self.check_guardrails().await? {
            return Ok(self.resync());
        }
        let session = self.session().await?;
        let key = self.verify_key(&session).await?;
        if self
            .status
            .recreation
            .as_ref()
            .is_some_and(|r| r.phase == recreate::PHASE_DELETING_OLD)
        {
            return self.continue_recreation(&session).await;
        }
        let observed = match self.locate(&session).await? {
            Some(id) => session.describe_domain(&id).await?,
            None => None,
        };
        let Some(observed) = observed else {
            return self.create(&session, key).await;
        };
        self.record_observed(&observed);
        if observed.status == "Failed" {
            let reason = observed
                .failure_reason
                .clone()
                .unwrap_or_else(|| "no reason given".into());
            self.stalled(
                "DomainFailed",
                format!(
                    "AWS reports the domain Failed: {reason}. Fix the cause and delete the StudioDomain to start over"
                ),
            );
            return Ok(self.resync());
        }
        if let Err(problem) = &key {
            let message = problem.message(&self.spec().encryption.kms_key_id);
            self.stalled(problem.reason(), message);
            return Ok(self.resync());
        }
        match observed.status.as_str() {
            "InService" => {}
            status if plan::is_transitional(status) => {
                self.progressing("AwsTransition", format!("domain {} is {status}", observed.id));
                return Ok(self.poll());
            }
            other => {
                self.progressing(
                    "AwsTransition",
                    format!("domain {} is {other}; retrying the update", observed.id),
                );
                return Ok(self.poll());
            }
        }
        let key = key.expect("key checked above");
        self.finish_recreation(&session, &observed).await?;
        self.in_service(&session, &observed, &key).await
    }

    /// Deletion: `Retain` removes the ownership tags; `Delete` removes apps, spaces, profiles and
    /// then the domain, waiting for each, with the EFS retention the spec asks for.
    async fn cleanup(&mut self) -> Result<Action, ReconcileError> {
        if !has_finalizer(self.domain) {
            self.deleted = true;
            return Ok(Action::await_change());
        }
        let session = self.session().await?;
        let observed = match self.locate(&session).await? {
            Some(id) => session.describe_domain(&id).await?,
            None => None,
        };
        let Some(observed) = observed else {
            // The list stays in status until every deletion succeeded (a failed pass writes
            // status too), and includes the current names even if status never got them.
            let mut configs = self.status.activity_reporter_configs.clone();
            if self.spec().idle_shutdown.as_ref().is_some_and(|i| i.activity_reporter) {
                for name in reporter::names(&self.domain.uid().unwrap_or_default()).into_values() {
                    if !configs.contains(&name) {
                        configs.push(name);
                    }
                }
            }
            let left = reporter::delete(&session, &configs).await?;
            self.status.activity_reporter_configs = left.clone();
            if !left.is_empty() {
                self.progressing(
                    "Deleting",
                    "waiting to delete the activity reporter's lifecycle configurations",
                );
                return Ok(self.poll());
            }
            return self.release().await;
        };
        if self.spec().deletion_policy == DeletionPolicy::Retain {
            let keys: Vec<String> = ownership::KEYS.map(String::from).to_vec();
            session.delete_tags(&observed.arn, &keys).await?;
            self.ctx
                .event(
                    self.domain,
                    EventType::Normal,
                    "Retained",
                    format!("domain {} left in AWS (deletionPolicy Retain)", observed.id),
                )
                .await;
            return self.release().await;
        }
        if let Some(message) = recreate::unmanaged_members(&session, &observed.id).await? {
            let message = format!("deletion blocked: {message}; delete them or set deletionPolicy: Retain");
            self.stalled("DeletionBlocked", message);
            return Ok(self.poll());
        }
        if let Some(progress) = recreate::empty_domain(&session, &observed.id).await? {
            self.progressing("Deleting", progress);
            return Ok(self.poll());
        }
        if observed.status != "Deleting" {
            let retain = plan::retain_efs(self.spec());
            session.delete_domain(&observed.id, retain).await?;
            let efs = if retain {
                "EFS volume retained"
            } else {
                "EFS volume deleted"
            };
            self.ctx
                .event(
                    self.domain,
                    EventType::Normal,
                    "Deleting",
                    format!("deleting domain {} ({efs})", observed.id),
                )
                .await;
        }
        self.status.aws_status = Some("Deleting".into());
        self.progressing("Deleting", format!("domain {} is being deleted", observed.id));
        Ok(self.poll())
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
        let mut wanted = self.wanted.clone();
        let readiness = self.readiness.clone().unwrap_or(Readiness::Progressing {
            reason: "Reconciling".into(),
            message: "reconciling".into(),
        });
        wanted.extend(readiness.conditions());
        let before = self
            .domain
            .status
            .as_ref()
            .map(|s| s.conditions.clone())
            .unwrap_or_default();
        let conditions = status::merge_conditions(
            &self.status.conditions,
            &wanted,
            Some(self.generation()),
            Timestamp::now(),
        );
        self.status.conditions = conditions;
        self.status.observed_generation = Some(self.generation());
        for transition in status::transitions(&before, &self.status.conditions) {
            if transition.type_ == crate::api::condition_type::STALLED && transition.status == "True" {
                self.ctx
                    .event(
                        self.domain,
                        EventType::Warning,
                        &transition.reason,
                        transition.message.clone(),
                    )
                    .await;
            }
            if transition.type_ == KMS_KEY_VALID && transition.status == "False" && !before.is_empty() {
                self.ctx
                    .event(
                        self.domain,
                        EventType::Warning,
                        "KmsKeyInvalid",
                        transition.message.clone(),
                    )
                    .await;
            }
            if transition.type_ == crate::api::condition_type::READY && transition.status == "True" {
                self.ctx
                    .event(self.domain, EventType::Normal, "Ready", transition.message.clone())
                    .await;
            }
        }
        if self.domain.status.as_ref() != Some(&self.status) {
            apply_status(&self.api, &self.domain.name_any(), &self.status).await?;
        }
        Ok(())
    }

    fn report_error(&mut self, error: &ReconcileError) {
        self.readiness = Some(Readiness::Progressing {
            reason: "AwsError".into(),
            message: format!("{error} (retrying with backoff)"),
        });
    }
}
