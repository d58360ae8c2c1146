//! The StudioDomain controller: verify the KMS key, create exactly once, update in place, correct
//! drift, recreate without data loss, and delete in order. Each pass observes (the key, the
//! domain, its tags, apps and the reporter's configurations), decides ([`decide::decide`],
//! pure), and acts on the plan.

pub mod decide;
mod recreate;
pub mod reporter;
pub mod rules;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use kube::runtime::controller::Action;
use kube::{Api, Client, ResourceExt};
use tracing::{info, warn};

use self::decide::{End, Facts, Need, Plan, ReporterFacts, Step, Survey};
use self::rules::KeyProblem;
use super::context::Context;
use super::driver::{Pass, Reconcile, change_hash, run_controller};
use super::error::ReconcileError;
use super::member::decide::GuardrailFacts;
use super::report::{Happening, reported};
use super::sweeper;
use super::teardown::{self, TeardownState};
use crate::api::condition_type::{KMS_KEY_VALID, UPDATE_BLOCKED};
use crate::api::{DeletionPolicy, Guardrail, MemberBackup, StudioDomain, StudioDomainStatus};
use crate::aws::AwsError;
use crate::aws::clients::AwsSession;
use crate::aws::model::{KeyInfo, ObservedDomain};
use crate::compliance::{self, UiRestrictions, Verdict};
use crate::ownership::{self, Owner};
use crate::status;

/// Runs the StudioDomain controller for one scope (a namespace, or `None` for all) until
/// `shutdown` resolves.
pub async fn run(
    ctx: Arc<Context>,
    scope: Option<String>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    run_controller::<StudioDomain>(ctx, scope, shutdown, significant_change, None).await;
}

/// A hash of what should trigger a reconcile: the spec generation, deletion and approval.
fn significant_change(domain: &StudioDomain) -> Option<u64> {
    Some(change_hash(&(
        domain.metadata.generation,
        domain.metadata.deletion_timestamp.is_some(),
        domain.annotations().get(rules::APPROVE_RECREATION),
    )))
}

reported!(
    StudioDomain,
    StudioDomainStatus,
    warn_on = &[(KMS_KEY_VALID, "False", "KmsKeyInvalid")]
);

impl Reconcile for StudioDomain {
    fn api(client: &Client, obj: &Self) -> Api<Self> {
        Api::namespaced(client.clone(), &obj.namespace().unwrap_or_default())
    }

    async fn apply(pass: &mut Pass<'_, Self>) -> Result<Action, ReconcileError> {
        apply(pass).await
    }

    async fn cleanup(pass: &mut Pass<'_, Self>) -> Result<Action, ReconcileError> {
        cleanup(pass).await
    }
}

fn owner(pass: &Pass<'_, StudioDomain>) -> Owner {
    Owner {
        cluster: pass.ctx.config.cluster_id.clone(),
        namespace: pass.namespace(),
        name: pass.obj.name_any(),
        uid: pass.uid(),
    }
}

async fn session(pass: &Pass<'_, StudioDomain>) -> Result<Arc<AwsSession>, ReconcileError> {
    let aws = &pass.obj.spec.aws;
    Ok(pass.ctx.aws.session(&aws.region, aws.role_arn.as_deref()).await?)
}

/// The Guardrails that cover the domain, and their verdict on its spec.
async fn guardrails(pass: &Pass<'_, StudioDomain>) -> Result<(Vec<Arc<Guardrail>>, GuardrailFacts), ReconcileError> {
    let covering = pass.ctx.guardrails_for(&pass.namespace(), pass.obj.labels()).await?;
    let verdict = Verdict::of(&covering.iter().map(Arc::as_ref).collect::<Vec<_>>(), |rules| {
        compliance::rules::check_domain(rules, &pass.obj.spec)
    });
    let (condition, allowed) = compliance::condition(&verdict);
    let ui = UiRestrictions::of(&covering.iter().map(Arc::as_ref).collect::<Vec<_>>());
    Ok((covering, GuardrailFacts { condition, allowed, ui }))
}

/// Resolves and checks the key. AWS errors other than "not found" propagate (retry).
async fn verify_key(session: &AwsSession, key_id: &str) -> Result<Result<KeyInfo, KeyProblem>, ReconcileError> {
    if let Err(problem) = rules::check_key_reference(key_id) {
        return Ok(Err(problem));
    }
    match session.describe_key(key_id).await {
        Ok(key) => Ok(rules::evaluate_key(&key).map(|()| key)),
        Err(AwsError::NotFound { message }) => Ok(Err(KeyProblem::NotFound(message))),
        Err(error) => Err(error.into()),
    }
}

/// The domain id of this resource: from status, from `adopt`, or found by ownership tags
/// (a crash between CreateDomain and the status write must not create a second domain).
async fn locate(pass: &Pass<'_, StudioDomain>, session: &AwsSession) -> Result<Option<String>, ReconcileError> {
    if let Some(id) = &pass.status.domain_id {
        return Ok(Some(id.clone()));
    }
    if let Some(adopt) = &pass.obj.spec.adopt {
        return Ok(Some(adopt.domain_id.clone()));
    }
    let old = pass.status.recreation.as_ref().map(|r| r.old_domain_id.clone());
    let owner = owner(pass);
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

/// The domain this resource manages, described; `None` when there is none.
async fn observe_domain(
    pass: &Pass<'_, StudioDomain>,
    session: &AwsSession,
) -> Result<Option<ObservedDomain>, ReconcileError> {
    Ok(match locate(pass, session).await? {
        Some(id) => session.describe_domain(&id).await?,
        None => None,
    })
}

/// The reporter's configurations: wanted by the spec, existing in AWS, recorded in status.
async fn observe_reporter(
    pass: &Pass<'_, StudioDomain>,
    session: &AwsSession,
) -> Result<ReporterFacts, ReconcileError> {
    let enabled = pass
        .obj
        .spec
        .idle_shutdown
        .as_ref()
        .is_some_and(|i| i.activity_reporter);
    let wanted = if enabled {
        reporter::names(&pass.uid())
    } else {
        BTreeMap::new()
    };
    let existing = if enabled || !pass.status.activity_reporter_configs.is_empty() {
        reporter::existing(session).await?
    } else {
        BTreeMap::new()
    };
    Ok(ReporterFacts {
        wanted,
        existing,
        recorded: pass.status.activity_reporter_configs.clone(),
    })
}

/// Whether a domain of `name` exists that is not this resource's: its id.
async fn name_taken(session: &AwsSession, name: &str) -> Result<Option<String>, ReconcileError> {
    Ok(session
        .list_domains()
        .await?
        .into_iter()
        .find(|d| d.name == name && d.status != "Deleting")
        .map(|d| d.id))
}

/// Every profile and space with its EFS UID and execution role, and those the operator does not
/// manage: one Describe and one ListTags per member.
async fn survey(session: &AwsSession, domain_id: &str) -> Result<Survey, ReconcileError> {
    let mut survey = Survey::default();
    for profile in session.list_user_profiles(domain_id).await? {
        if let Some(details) = session.describe_user_profile(domain_id, &profile.name).await? {
            if !ownership::is_managed(&session.list_tags(&details.arn).await?) {
                survey.unmanaged.push(format!("user profile {}", profile.name));
            }
            survey.backup.push(MemberBackup {
                kind: recreate::KIND_PROFILE.into(),
                name: details.name,
                efs_uid: details.home_efs_uid,
                execution_role: details.execution_role,
            });
        }
    }
    for space in session.list_spaces(domain_id).await? {
        if let Some(details) = session.describe_space(domain_id, &space.name).await? {
            if !ownership::is_managed(&session.list_tags(&details.arn).await?) {
                survey.unmanaged.push(format!("space {}", space.name));
            }
            survey.backup.push(MemberBackup {
                kind: recreate::KIND_SPACE.into(),
                name: details.name,
                efs_uid: details.home_efs_uid,
                execution_role: details.execution_role,
            });
        }
    }
    Ok(survey)
}

fn record_observed(status: &mut StudioDomainStatus, observed: &ObservedDomain) {
    status.domain_id = Some(observed.id.clone());
    status.domain_arn = Some(observed.arn.clone());
    status.url = observed.url.clone();
    status.home_efs_file_system_id = observed.home_efs_file_system_id.clone();
    status.aws_status = Some(observed.status.clone());
}

/// A domain's reconcile: observe, decide (reading more when a decision needs it), act.
async fn apply(pass: &mut Pass<'_, StudioDomain>) -> Result<Action, ReconcileError> {
    let (covering, guardrail_facts) = guardrails(pass).await?;
    if !guardrail_facts.allowed {
        // No AWS call at all for a spec an enforcing guardrail forbids.
        let facts = Facts::before_aws(guardrail_facts);
        let plan = decide_pass(pass, &facts);
        return act(pass, None, &facts, plan, &covering).await;
    }
    let session = session(pass).await?;
    let key = verify_key(&session, &pass.obj.spec.encryption.kms_key_id).await?;
    if let Ok(key) = &key {
        pass.status.kms_key_arn = Some(key.arn.clone());
    }
    let recreating_old = pass
        .status
        .recreation
        .as_ref()
        .is_some_and(|r| r.phase == recreate::PHASE_DELETING_OLD);
    let domain = if recreating_old {
        None
    } else {
        observe_domain(pass, &session).await?
    };
    if let Some(observed) = &domain {
        record_observed(&mut pass.status, observed);
    }
    let in_service = domain.as_ref().is_some_and(|d| d.status == "InService");
    if let (Some(observed), true) = (&domain, in_service) {
        recreate::fill_new_uids(pass, &session, &observed.id).await?;
    }
    let tags = match &domain {
        Some(observed) if in_service => session.list_tags(&observed.arn).await?,
        _ => BTreeMap::new(),
    };
    let apps = match &domain {
        // Listed now (updates and the sweeper decide on it) and shared with the members' passes.
        Some(observed) if in_service => session_apps(pass.ctx, &session, &observed.id).await?,
        _ => Vec::new(),
    };
    let mut facts = Facts {
        guardrails: guardrail_facts,
        key,
        recreation: pass.status.recreation.clone(),
        domain,
        tags,
        ownership: owner(pass).tags(),
        reporter: observe_reporter(pass, &session).await?,
        apps,
        approved: rules::is_approved(pass.obj.annotations(), pass.generation()),
        name_taken: None,
        survey: None,
        managed: pass
            .status
            .settings
            .as_ref()
            .map(|s| s.managed_paths.clone())
            .unwrap_or_default(),
    };
    let mut plan = decide_pass(pass, &facts);
    while let End::Need(need) = plan.end {
        match need {
            Need::NameConflict => {
                let name = rules::domain_name(&pass.obj.spec, &pass.obj.name_any());
                facts.name_taken = Some(name_taken(&session, &name).await?);
            }
            Need::Survey => {
                let id = facts.domain.as_ref().map(|d| d.id.clone()).unwrap_or_default();
                facts.survey = Some(survey(&session, &id).await?);
            }
        }
        plan = decide_pass(pass, &facts);
    }
    act(pass, Some(&session), &facts, plan, &covering).await
}

async fn session_apps(
    ctx: &Context,
    session: &AwsSession,
    domain_id: &str,
) -> Result<Vec<crate::aws::model::AppSummary>, ReconcileError> {
    Ok(ctx
        .listings
        .apps(session, domain_id, Duration::ZERO)
        .await?
        .items
        .to_vec())
}

fn decide_pass(pass: &Pass<'_, StudioDomain>, facts: &Facts) -> Plan {
    let name = rules::domain_name(&pass.obj.spec, &pass.obj.name_any());
    decide::decide(&pass.obj.spec, &name, &pass.obj.name_any(), pass.generation(), facts)
}

/// Carries out a plan: its steps in order, then its conditions and end in the report.
async fn act(
    pass: &mut Pass<'_, StudioDomain>,
    session: Option<&AwsSession>,
    facts: &Facts,
    plan: Plan,
    guardrails: &[Arc<Guardrail>],
) -> Result<Action, ReconcileError> {
    for condition in plan.conditions {
        pass.report.want(condition);
    }
    let mut done = Done {
        end: plan.end,
        corrected: Vec::new(),
    };
    let domain_id = facts.domain.as_ref().map(|d| d.id.clone()).unwrap_or_default();
    for step in plan.steps {
        let session = session.expect("a plan with AWS steps has a session");
        act_step(pass, session, facts, step, guardrails, &mut done).await?;
    }
    // Recorded once every step succeeded: a failed update keeps the paths it had to reset.
    if plan.settings.is_some() {
        pass.status.settings = plan.settings;
    }
    if !done.corrected.is_empty() {
        let spec_changed = pass.obj.status.as_ref().and_then(|s| s.observed_generation) != Some(pass.generation());
        pass.ctx
            .report_corrections(pass.obj, spec_changed, &done.corrected)
            .await;
    }
    // Warned once, when the update becomes blocked.
    if let End::Blocked { message, .. } = &done.end
        && !status::is_true(&pass.status.conditions, UPDATE_BLOCKED)
    {
        pass.event(Happening::warning("UpdateBlocked", message.clone())).await;
    }
    if facts.domain.is_some() {
        count_members(pass, session, &domain_id, &facts.apps).await?;
    }
    Ok(finish(pass, done.end))
}

/// What the steps of a plan have done so far.
struct Done {
    /// How the pass ends (a recreation step reports its own progress).
    end: End,
    /// The spec fields corrected in AWS.
    corrected: Vec<String>,
}

/// Carries out one step of a plan.
async fn act_step(
    pass: &mut Pass<'_, StudioDomain>,
    session: &AwsSession,
    facts: &Facts,
    step: Step,
    guardrails: &[Arc<Guardrail>],
    done: &mut Done,
) -> Result<(), ReconcileError> {
    let domain_id = facts.domain.as_ref().map(|d| d.id.clone()).unwrap_or_default();
    match step {
        Step::CreateReporterConfigs(missing) => {
            // Recorded before they are created: a configuration whose creation succeeds in a
            // pass that then fails must still be found when it is no longer wanted.
            for (_, name) in &missing {
                if !pass.status.activity_reporter_configs.contains(name) {
                    pass.status.activity_reporter_configs.push(name.clone());
                }
            }
            pass.checkpoint().await?;
            reporter::create(session, &missing, &owner(pass).tags()).await?;
        }
        Step::Create(desired) => create(pass, session, &desired).await?,
        Step::ContinueRecreation => done.end = recreate::continue_recreation(pass, session).await?,
        Step::StartRecreation { reasons, backup } => {
            let observed = facts.domain.as_ref().expect("a recreation starts from a domain");
            recreate::start(pass, observed, &reasons, backup).await?;
            done.end = recreate::continue_recreation(pass, session).await?;
        }
        Step::FinishRecreation => {
            let observed = facts.domain.as_ref().expect("a recreation finishes on a domain");
            recreate::finish(pass, observed).await;
        }
        Step::StopApps(apps) => {
            for app in &apps {
                let deletion = teardown::Deletion::App(app.clone());
                teardown::execute(session, &domain_id, std::slice::from_ref(&deletion)).await?;
                let note = format!("stopping app {} so that the domain's settings can change", app.path());
                pass.event(Happening::normal("StoppingApps", note).about(app.path()))
                    .await;
            }
        }
        Step::Update { update, fields } => {
            session.update_domain(&domain_id, &update).await?;
            done.corrected.extend(fields);
        }
        Step::Tag { add, remove } => {
            let arn = facts.domain.as_ref().map(|d| d.arn.clone()).unwrap_or_default();
            if !add.is_empty() {
                session.add_tags(&arn, &add).await?;
            }
            if !remove.is_empty() {
                session.delete_tags(&arn, &remove).await?;
            }
            done.corrected.push("tags".into());
        }
        Step::DeleteReporterConfigs(stale) => {
            let left = reporter::delete(session, &stale).await?;
            pass.status
                .activity_reporter_configs
                .retain(|name| !stale.contains(name) || left.contains(name));
        }
        Step::Sweep => sweep(pass, session, &domain_id, &facts.apps, guardrails).await,
    }
    Ok(())
}

/// Puts the end of a pass into the report, and says when to come back.
fn finish(pass: &mut Pass<'_, StudioDomain>, end: End) -> Action {
    match end {
        End::Ready { message } => {
            pass.report.ready("InService", message);
            let config = &pass.ctx.config;
            pass.resync_every(config.resync_interval.min(config.sweep_interval))
        }
        End::Progress { reason, message } => {
            pass.report.progressing(reason, message);
            pass.poll()
        }
        End::Blocked { reason, message } => {
            pass.report.progressing(reason, message);
            pass.blocked()
        }
        End::Stalled { reason, message } => {
            pass.report.stalled(reason, message);
            pass.resync()
        }
        End::Need(_) => unreachable!("every need is read before acting"),
    }
}

/// CreateDomain, recording the id at once: the next pass must find this domain, not create
/// another.
async fn create(
    pass: &mut Pass<'_, StudioDomain>,
    session: &AwsSession,
    desired: &crate::aws::model::DomainCreate,
) -> Result<(), ReconcileError> {
    let created = session.create_domain(desired).await?;
    info!(domain_id = %created.id, "created domain");
    pass.status.domain_id = Some(created.id.clone());
    pass.status.domain_arn = Some(created.arn.clone());
    pass.status.url = Some(created.url.clone());
    pass.status.aws_status = Some("Pending".into());
    let note = format!(
        "created domain {} ({}) encrypted with {}",
        desired.name, created.id, desired.kms_key_id
    );
    pass.event(Happening::normal("Created", note)).await;
    Ok(())
}

/// Sweeps the apps when the domain is due. A failed sweep must not make the domain look
/// broken: it is retried next time.
async fn sweep(
    pass: &Pass<'_, StudioDomain>,
    session: &AwsSession,
    domain_id: &str,
    apps: &[crate::aws::model::AppSummary],
    guardrails: &[Arc<Guardrail>],
) {
    if !sweeper::due(pass.ctx, &pass.uid()) {
        return;
    }
    if let Err(error) = sweeper::sweep(pass.ctx, pass.obj, session, domain_id, apps, guardrails).await {
        warn!(%error, category = error.category().label(), "sweeping apps failed");
    }
}

/// Counts the domain's profiles, spaces and running apps for status, from the listings the
/// members' passes of the same resync share.
async fn count_members(
    pass: &mut Pass<'_, StudioDomain>,
    session: Option<&AwsSession>,
    domain_id: &str,
    apps: &[crate::aws::model::AppSummary],
) -> Result<(), ReconcileError> {
    let (Some(session), true) = (session, pass.status.aws_status.as_deref() == Some("InService")) else {
        return Ok(());
    };
    let ttl = pass.ctx.list_age(true);
    let profiles = pass.ctx.listings.profiles(session, domain_id, ttl).await?;
    let spaces = pass.ctx.listings.spaces(session, domain_id, ttl).await?;
    pass.status.user_profiles = Some(profiles.items.len() as i32);
    pass.status.spaces = Some(spaces.items.len() as i32);
    pass.status.running_apps = Some(apps.iter().filter(|a| a.is_running()).count() as i32);
    Ok(())
}

/// Deletion: `Retain` removes the ownership tags; `Delete` removes apps, spaces, profiles and
/// then the domain, waiting for each, with the EFS retention the spec asks for.
async fn cleanup(pass: &mut Pass<'_, StudioDomain>) -> Result<Action, ReconcileError> {
    let session = session(pass).await?;
    let Some(observed) = observe_domain(pass, &session).await? else {
        return release_reporter(pass, &session).await;
    };
    if pass.obj.spec.deletion_policy == DeletionPolicy::Retain {
        let keys: Vec<String> = ownership::KEYS.map(String::from).to_vec();
        session.delete_tags(&observed.arn, &keys).await?;
        let note = format!("domain {} left in AWS (deletionPolicy Retain)", observed.id);
        pass.event(Happening::normal("Retained", note)).await;
        return pass.release().await;
    }
    let unmanaged = survey(&session, &observed.id).await?.unmanaged;
    if !unmanaged.is_empty() {
        let message = format!(
            "deletion blocked: the domain holds {} not managed by studio-operator; delete them or set deletionPolicy: Retain",
            unmanaged.join(", ")
        );
        pass.report.stalled("DeletionBlocked", message);
        return Ok(pass.blocked());
    }
    match empty_domain(&session, &observed.id).await? {
        TeardownState::Done => {}
        TeardownState::Waiting(progress) | TeardownState::Blocked(progress) => {
            pass.report.progressing("Deleting", progress);
            return Ok(pass.poll());
        }
    }
    if observed.status != "Deleting" {
        let retain = rules::retain_efs(&pass.obj.spec);
        session.delete_domain(&observed.id, retain).await?;
        let efs = if retain {
            "EFS volume retained"
        } else {
            "EFS volume deleted"
        };
        let note = format!("deleting domain {} ({efs})", observed.id);
        pass.event(Happening::normal("Deleting", note)).await;
    }
    pass.status.aws_status = Some("Deleting".into());
    pass.report
        .progressing("Deleting", format!("domain {} is being deleted", observed.id));
    Ok(pass.poll())
}

/// Deletes what blocks the deletion of a domain, one layer at a time: apps, then spaces, then
/// profiles.
async fn empty_domain(session: &AwsSession, domain_id: &str) -> Result<TeardownState, ReconcileError> {
    let apps = session.list_apps(domain_id).await?;
    let spaces = session.list_spaces(domain_id).await?;
    let profiles = session.list_user_profiles(domain_id).await?;
    let teardown = teardown::emptying(&apps, &spaces, &profiles);
    teardown::execute(session, domain_id, &teardown.deletions).await?;
    Ok(teardown.state)
}

/// The domain is gone: delete the reporter's configurations, then release the finalizer. The
/// list stays in status until every deletion succeeded (a failed pass writes status too), and
/// includes the current names even if status never got them.
async fn release_reporter(pass: &mut Pass<'_, StudioDomain>, session: &AwsSession) -> Result<Action, ReconcileError> {
    let mut configs = pass.status.activity_reporter_configs.clone();
    if pass
        .obj
        .spec
        .idle_shutdown
        .as_ref()
        .is_some_and(|i| i.activity_reporter)
    {
        for name in reporter::names(&pass.uid()).into_values() {
            if !configs.contains(&name) {
                configs.push(name);
            }
        }
    }
    let left = reporter::delete(session, &configs).await?;
    pass.status.activity_reporter_configs = left.clone();
    if !left.is_empty() {
        pass.report.progressing(
            "Deleting",
            "waiting to delete the activity reporter's lifecycle configurations",
        );
        return Ok(pass.poll());
    }
    pass.release().await
}
