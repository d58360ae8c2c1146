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

use chrono::Utc;
use kube::runtime::controller::Action;
use kube::{Api, Client, ResourceExt};
use tracing::info;

use self::decide::{End, Facts, Need, Plan, ReporterFacts, Step, Survey};
use self::rules::KeyProblem;
use super::catalog;
use super::context::Context;
use super::driver::{Pass, Reconcile, change_hash, run_controller};
use super::error::ReconcileError;
use super::holdings::{self, Held, Standing};
use super::member::decide::GuardrailFacts;
use super::report::{Happening, reported};
use super::space_data::{self, Approver, Passage, gate::BackupTarget};
use super::teardown::{self, TeardownState};
use crate::api::condition_type::{ACTIVITY_REPORTER, AWS_DRIFT, BACKUP_PENDING, KMS_KEY_VALID, UPDATE_BLOCKED};
use crate::api::{DeletionPolicy, MemberBackup, StudioDomain, StudioDomainStatus};
use crate::aws::AwsError;
use crate::aws::clients::AwsSession;
use crate::aws::model::{AppSummary, KeyInfo, MemberSummary, MemberType, ObservedDomain};
use crate::compliance::{self, UiRestrictions, Verdict};
use crate::ownership::{self, Claim, Owner};
use crate::status::{self, Want};

/// Runs the StudioDomain controller for one scope (a namespace, or `None` for all) until
/// `shutdown` resolves.
pub async fn run(
    ctx: Arc<Context>,
    scope: Option<String>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    run_controller::<StudioDomain>(ctx, scope, shutdown, significant_change, None, true).await;
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
    warn_on = &[
        (KMS_KEY_VALID, "False", Some("KmsKeyInvalid")),
        (AWS_DRIFT, "True", None),
        (ACTIVITY_REPORTER, "False", Some("ReporterConfigConflict"))
    ]
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

pub(super) fn owner(pass: &Pass<'_, StudioDomain>) -> Owner {
    Owner {
        cluster: pass.ctx.config.cluster_id.clone(),
        namespace: pass.namespace(),
        name: pass.obj.name_any(),
        uid: pass.uid(),
    }
}

/// The Guardrails that cover the domain, and their verdict on its spec.
async fn guardrails(pass: &Pass<'_, StudioDomain>) -> Result<GuardrailFacts, ReconcileError> {
    let covering = pass
        .ctx
        .guardrails_for(&pass.namespace(), pass.obj.labels(), None)
        .await?;
    let verdict = Verdict::of(&covering.iter().map(Arc::as_ref).collect::<Vec<_>>(), |rules| {
        compliance::rules::check_domain(rules, &pass.obj.spec)
    });
    let (condition, allowed) = compliance::condition(&verdict);
    let ui = UiRestrictions::of(&covering.iter().map(Arc::as_ref).collect::<Vec<_>>());
    Ok(GuardrailFacts { condition, allowed, ui })
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

/// The in-app agents' configurations: wanted by the spec, existing in AWS, recorded in status.
async fn observe_reporter(
    pass: &Pass<'_, StudioDomain>,
    session: &AwsSession,
    backup_key: Option<&KeyInfo>,
) -> Result<ReporterFacts, ReconcileError> {
    let scripts = agent_scripts(pass, backup_key);
    let wanted = reporter::names(&pass.uid(), &scripts);
    let existing = if !wanted.is_empty() || !pass.status.activity_reporter_configs.is_empty() {
        reporter::existing(session).await?
    } else {
        BTreeMap::new()
    };
    let foreign = reporter::foreign(session, &owner(pass), &wanted, &scripts, &existing).await?;
    Ok(ReporterFacts {
        wanted,
        existing,
        recorded: pass.status.activity_reporter_configs.clone(),
        foreign,
        scripts,
    })
}

/// The scripts the spec asks for: the activity reporter, and the space-backup agent once its
/// key is verified.
fn agent_scripts(pass: &Pass<'_, StudioDomain>, backup_key: Option<&KeyInfo>) -> reporter::Scripts {
    let spec = &pass.obj.spec;
    let reporter_on = spec.idle_shutdown.as_ref().is_some_and(|i| i.activity_reporter);
    let agent = match (&spec.space_backup, backup_target(pass), backup_key) {
        (Some(backup), Some(target), Some(key)) => Some(reporter::AgentSettings {
            prefix: target.prefix,
            key_arn: key.arn.clone(),
            interval_seconds: i64::from(backup.interval_minutes) * 60,
        }),
        _ => None,
    };
    reporter::scripts(reporter_on, agent.as_ref())
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

/// Every profile and space with its EFS UID and execution role, those not managed here (named
/// for the approval request), and what becomes of each space's EBS home directory: one Describe
/// per member, before a recreation starts.
async fn survey(
    pass: &Pass<'_, StudioDomain>,
    session: &AwsSession,
    domain: &ObservedDomain,
) -> Result<Survey, ReconcileError> {
    let backup = backup_target(pass);
    let apps = session.list_apps(&domain.id).await?;
    let mut survey = Survey::default();
    for held in holdings::classify(pass.ctx, session, domain).await? {
        let (details, kind) = match held.kind {
            MemberType::UserProfile => (
                session.describe_user_profile(&domain.id, &held.name).await?,
                recreate::KIND_PROFILE,
            ),
            MemberType::Space => (
                session.describe_space(&domain.id, &held.name).await?,
                recreate::KIND_SPACE,
            ),
        };
        let Some(details) = details else { continue };
        let unmanaged = matches!(held.standing, Standing::Foreign(_));
        if unmanaged {
            survey.unmanaged.push(held.label());
        }
        let (mut space_data, mut unmanaged_space) = (None, None);
        if held.kind == MemberType::Space {
            let observed = space_data::observe(session, &domain.id, std::slice::from_ref(&held.name), &apps).await?;
            if let Some((facts, space)) = observed.first() {
                let (fate, lost) = space_data::fate(facts, backup.as_ref(), Utc::now());
                if lost {
                    survey.data_loss.push(held.name.clone());
                } else if unmanaged && fate.is_some() {
                    unmanaged_space = space_data::shape(space);
                }
                space_data = fate;
            }
        }
        survey.backup.push(MemberBackup {
            kind: kind.into(),
            name: details.name,
            efs_uid: details.home_efs_uid,
            execution_role: details.execution_role,
            space_data,
            unmanaged_space,
        });
    }
    Ok(survey)
}

/// Where this domain's spaces are backed up, if it backs them up.
pub(super) fn backup_target(pass: &Pass<'_, StudioDomain>) -> Option<BackupTarget> {
    pass.obj.spec.space_backup.as_ref().map(|backup| {
        space_data::target(
            backup,
            &pass.ctx.config.cluster_id,
            &pass.namespace(),
            &pass.obj.name_any(),
        )
    })
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
    let guardrail_facts = guardrails(pass).await?;
    let mut before_aws = Facts::before_aws(guardrail_facts.clone(), pass.status.created_with.clone());
    before_aws.references =
        catalog::resolve_spec(&pass.ctx.stores, &pass.namespace(), &pass.obj.spec, &pass.obj.spec.aws);
    if let Err(plan) = decide::gates(&pass.obj.spec, &before_aws) {
        // No AWS call at all (no AssumeRole either) for a spec that may not reach AWS.
        return act(pass, None, &before_aws, *plan).await;
    }
    let session = pass
        .ctx
        .session(&pass.obj.spec.aws, &pass.namespace(), &pass.obj.name_any())
        .await?;
    let mut facts = observe(pass, &session, guardrail_facts).await?;
    facts.references = before_aws.references.clone();
    let mut plan = decide_pass(pass, &facts);
    while let End::Need(need) = plan.end {
        match need {
            Need::NameConflict => {
                let name = rules::domain_name(&pass.obj.spec, &pass.obj.name_any());
                facts.name_taken = Some(name_taken(&session, &name).await?);
            }
            Need::Survey => {
                let domain = facts.domain.clone().expect("a survey is of a domain found");
                facts.survey = Some(survey(pass, &session, &domain).await?);
            }
        }
        plan = decide_pass(pass, &facts);
    }
    act(pass, Some(&session), &facts, plan).await
}

/// What a pass decides from: the key, the domain this resource manages (or claims), its tags
/// and apps, and the reporter's configurations. Nothing of a domain that is not this
/// resource's is recorded in status.
async fn observe(
    pass: &mut Pass<'_, StudioDomain>,
    session: &AwsSession,
    guardrails: GuardrailFacts,
) -> Result<Facts, ReconcileError> {
    let key = verify_key(session, &pass.obj.spec.encryption.kms_key_id).await?;
    let backup_key = match &pass.obj.spec.space_backup {
        Some(backup) => Some(verify_key(session, &backup.kms_key_id).await?),
        None => None,
    };
    let recreating_old = pass
        .status
        .recreation
        .as_ref()
        .is_some_and(|r| r.phase == recreate::PHASE_DELETING_OLD);
    let domain = if recreating_old {
        None
    } else {
        observe_domain(pass, session).await?
    };
    let tags = match &domain {
        Some(observed) => session.list_tags(&observed.arn).await?,
        None => BTreeMap::new(),
    };
    let claim = domain.as_ref().map(|d| claim_on(pass, &d.id, &tags));
    let ours = matches!(claim, Some(Claim::Ours | Claim::Adopt));
    if let (Some(observed), true) = (&domain, ours) {
        record_observed(&mut pass.status, observed);
    }
    if let Ok(key) = &key {
        pass.status.kms_key_arn = Some(key.arn.clone());
    }
    let in_service = ours && domain.as_ref().is_some_and(|d| d.status == "InService");
    let apps = match &domain {
        Some(observed) if in_service => {
            recreate::make_unmanaged_spaces(pass, session, &observed.id).await?;
            recreate::fill_new_uids(pass, session, &observed.id).await?;
            // Listed now (updates decide on it) and shared with the members' passes.
            session_apps(pass.ctx, session, &observed.id).await?
        }
        _ => Vec::new(),
    };
    let reporter = observe_reporter(pass, session, backup_key.as_ref().and_then(|k| k.as_ref().ok())).await?;
    Ok(Facts {
        guardrails,
        key,
        backup_key,
        backup_prefix: backup_target(pass).map(|target| target.prefix),
        recreation: pass.status.recreation.clone(),
        domain,
        tags,
        claim,
        created_with: pass.status.created_with.clone(),
        ownership: owner(pass).tags(),
        reporter,
        apps,
        pending_approval: pass.status.pending_approval.clone(),
        approval: pass.obj.annotations().get(rules::APPROVE_RECREATION).cloned(),
        name_taken: None,
        survey: None,
        references: Ok(Default::default()),
        managed: pass
            .status
            .settings
            .as_ref()
            .map(|s| s.managed_paths.clone())
            .unwrap_or_default(),
    })
}

/// Who may manage the domain `id` with these tags: this resource, by its ownership tags; an
/// untagged domain only when `spec.adopt` names it.
fn claim_on(pass: &Pass<'_, StudioDomain>, id: &str, tags: &BTreeMap<String, String>) -> Claim {
    let adopt = pass.obj.spec.adopt.as_ref().is_some_and(|a| a.domain_id == id);
    ownership::claim(&owner(pass), tags, adopt)
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
    decide::decide(&pass.obj.spec, &name, &pass.obj.name_any(), facts)
}

/// Carries out a plan: its steps in order, then its conditions and end in the report.
async fn act(
    pass: &mut Pass<'_, StudioDomain>,
    session: Option<&AwsSession>,
    facts: &Facts,
    plan: Plan,
) -> Result<Action, ReconcileError> {
    let mut plan = plan;
    let request = plan.steps.iter().find_map(|step| match step {
        Step::RequestApproval(request) => Some(request.clone()),
        _ => None,
    });
    pass.status.pending_approval =
        request.map(|request| crate::controller::space_data::token(pass.status.pending_approval.take(), request));
    if let Some(pending) = &pass.status.pending_approval {
        fill_token(&mut plan, &pending.token);
    }
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
        act_step(pass, session, facts, step, &mut done).await?;
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

/// Puts the approval token into the messages that tell how to approve.
fn fill_token(plan: &mut Plan, token: &str) {
    for condition in &mut plan.conditions {
        condition.message = condition.message.replace(decide::TOKEN, token);
    }
    if let End::Stalled { message, .. } | End::Progress { message, .. } | End::Blocked { message, .. } = &mut plan.end {
        *message = message.replace(decide::TOKEN, token);
    }
}

/// Whether the domain still carries this resource's ownership tags (or none, while it is being
/// adopted), read again right before a change that could destroy something.
async fn still_ours(
    pass: &Pass<'_, StudioDomain>,
    session: &AwsSession,
    domain: &ObservedDomain,
) -> Result<bool, ReconcileError> {
    let tags = session.list_tags(&domain.arn).await?;
    Ok(matches!(claim_on(pass, &domain.id, &tags), Claim::Ours | Claim::Adopt))
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
    done: &mut Done,
) -> Result<(), ReconcileError> {
    let domain_id = facts.domain.as_ref().map(|d| d.id.clone()).unwrap_or_default();
    match step {
        Step::CreateReporterConfigs(missing) => {
            create_reporter_configs(pass, session, &missing, &facts.reporter.scripts).await?
        }
        Step::Create(desired, created_with) => {
            create(pass, session, &desired).await?;
            pass.status.created_with = Some(created_with);
        }
        Step::Adopt => {
            let note = format!("adopting domain {domain_id} (spec.adopt): its ownership tags are added");
            pass.event(Happening::normal("Adopted", note)).await;
        }
        Step::RecordCreatedWith(settings) => pass.status.created_with = Some(settings),
        Step::RequestApproval(_) => {}
        Step::ContinueRecreation => done.end = recreate::continue_recreation(pass, session).await?,
        Step::StartRecreation {
            reasons,
            backup,
            approved_deletions,
            approved_loss,
        } => {
            let observed = facts.domain.as_ref().expect("a recreation starts from a domain");
            recreate::start(pass, observed, &reasons, backup, approved_deletions, approved_loss).await?;
            done.end = recreate::continue_recreation(pass, session).await?;
        }
        Step::FinishRecreation => {
            let observed = facts.domain.as_ref().expect("a recreation finishes on a domain");
            recreate::finish(pass, observed).await;
        }
        Step::StopApps(apps) => {
            let domain = facts.domain.as_ref().expect("apps are stopped in a domain");
            stop_apps(pass, session, domain, &apps).await?;
        }
        Step::Update { update, fields } => {
            let domain = facts.domain.as_ref().expect("a domain is updated");
            if !still_ours(pass, session, domain).await? {
                return Ok(());
            }
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
    }
    Ok(())
}

/// Creates the reporter's configurations, recorded first: a configuration whose creation
/// succeeds in a pass that then fails must still be found when it is no longer wanted.
async fn create_reporter_configs(
    pass: &mut Pass<'_, StudioDomain>,
    session: &AwsSession,
    missing: &[(&'static str, String)],
    scripts: &reporter::Scripts,
) -> Result<(), ReconcileError> {
    for (_, name) in missing {
        if !pass.status.activity_reporter_configs.contains(name) {
            pass.status.activity_reporter_configs.push(name.clone());
        }
    }
    pass.checkpoint().await?;
    reporter::create(session, missing, scripts, &owner(pass).tags()).await?;
    Ok(())
}

/// Stops the apps that keep a change from being made, if the domain is still this resource's.
async fn stop_apps(
    pass: &mut Pass<'_, StudioDomain>,
    session: &AwsSession,
    domain: &ObservedDomain,
    apps: &[AppSummary],
) -> Result<(), ReconcileError> {
    if !still_ours(pass, session, domain).await? {
        return Ok(());
    }
    for app in apps {
        match session.delete_app(&domain.id, app).await {
            Ok(()) | Err(AwsError::NotFound { .. }) => {}
            Err(error) => return Err(error.into()),
        }
        let note = format!("stopping app {} so that the domain's settings can change", app.path());
        pass.event(Happening::normal("StoppingApps", note).about(app.path()))
            .await;
    }
    Ok(())
}

/// Puts the end of a pass into the report, and says when to come back.
fn finish(pass: &mut Pass<'_, StudioDomain>, end: End) -> Action {
    match end {
        End::Ready { message } => {
            pass.report.ready("InService", message);
            pass.resync()
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
    let profiles = pass
        .ctx
        .listings
        .members(session, domain_id, MemberType::UserProfile, ttl)
        .await?;
    let spaces = pass
        .ctx
        .listings
        .members(session, domain_id, MemberType::Space, ttl)
        .await?;
    pass.status.user_profiles = Some(profiles.items.len() as i32);
    pass.status.spaces = Some(spaces.items.len() as i32);
    pass.status.running_apps = Some(apps.iter().filter(|a| a.is_running()).count() as i32);
    Ok(())
}

/// Deletion: only this resource's domain is touched. `Retain` removes the ownership tags;
/// `Delete` removes apps, spaces, profiles and then the domain, waiting for each, with the EFS
/// retention the spec asks for, and never a member that is not managed here or whose own
/// resource says `Retain`.
async fn cleanup(pass: &mut Pass<'_, StudioDomain>) -> Result<Action, ReconcileError> {
    let session = pass
        .ctx
        .session(&pass.obj.spec.aws, &pass.namespace(), &pass.obj.name_any())
        .await?;
    let Some(observed) = observe_domain(pass, &session).await? else {
        return release_reporter(pass, &session).await;
    };
    let tags = session.list_tags(&observed.arn).await?;
    if claim_on(pass, &observed.id, &tags) != Claim::Ours {
        let note = format!(
            "domain {} is not this resource's (its ownership tags say otherwise): left untouched",
            observed.id
        );
        pass.event(Happening::warning("Released", note)).await;
        return pass.release().await;
    }
    if pass.obj.spec.deletion_policy == DeletionPolicy::Retain {
        let keys: Vec<String> = ownership::KEYS.map(String::from).to_vec();
        session.delete_tags(&observed.arn, &keys).await?;
        let note = format!("domain {} left in AWS (deletionPolicy Retain)", observed.id);
        pass.event(Happening::normal("Retained", note)).await;
        return pass.release().await;
    }
    let held = holdings::classify(pass.ctx, &session, &observed).await?;
    if let Some(blockers) = deletion_blockers(&held) {
        let message = format!("deletion blocked: {blockers}");
        pass.report.stalled("DeletionBlocked", message);
        return Ok(pass.blocked());
    }
    let action = format!("delete domain {}", observed.id);
    let contents = Contents::list(&session, &observed).await?;
    if let Some(held) = space_gate(pass, &session, &observed, &contents, action).await? {
        return Ok(hold_deletion(pass, held));
    }
    let ctx = pass.ctx;
    let may_delete = |_: MemberType, _: &str, tags: &BTreeMap<String, String>| {
        let standing = holdings::standing(tags, &ctx.config.cluster_id, |uid| ctx.stores.member_resource(uid));
        matches!(
            standing,
            Standing::Managed {
                policy: DeletionPolicy::Delete,
                ..
            }
        )
    };
    match empty_domain(&session, &observed, &contents, &may_delete).await? {
        TeardownState::Done => {}
        TeardownState::Waiting(progress) => {
            pass.report.progressing("Deleting", progress);
            return Ok(pass.poll());
        }
        TeardownState::Blocked(blocker) | TeardownState::Foreign(blocker) => {
            pass.report
                .stalled("DeletionBlocked", format!("deletion blocked: {blocker}"));
            return Ok(pass.blocked());
        }
    }
    delete_emptied_domain(pass, &session, &observed).await
}

/// DeleteDomain for an emptied domain, once: ownership is checked again right before it.
async fn delete_emptied_domain(
    pass: &mut Pass<'_, StudioDomain>,
    session: &AwsSession,
    observed: &ObservedDomain,
) -> Result<Action, ReconcileError> {
    if observed.status != "Deleting" {
        if !owner(pass).owns(&session.list_tags(&observed.arn).await?) {
            pass.report.stalled(
                "Conflict",
                format!("domain {} changed hands before its deletion: not deleted", observed.id),
            );
            return Ok(pass.blocked());
        }
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

/// A domain's apps and spaces, listed once per pass for the gate and the teardown after it.
pub(super) struct Contents {
    apps: Vec<AppSummary>,
    spaces: Vec<MemberSummary>,
}

impl Contents {
    pub(super) async fn list(session: &AwsSession, domain: &ObservedDomain) -> Result<Self, ReconcileError> {
        Ok(Self {
            apps: session.list_apps(&domain.id).await?,
            spaces: session.list_spaces(&domain.id).await?,
        })
    }
}

/// The gate before the spaces of `domain` are deleted (a recreation or a deletion): `Some` ends
/// the pass while it holds, with the `BackupPending` condition saying why.
pub(super) async fn space_gate(
    pass: &mut Pass<'_, StudioDomain>,
    session: &AwsSession,
    domain: &ObservedDomain,
    contents: &Contents,
    action: String,
) -> Result<Option<End>, ReconcileError> {
    let apps = &contents.apps;
    let spaces: Vec<String> = contents.spaces.iter().map(|s| s.name.clone()).collect();
    let backup = backup_target(pass);
    let approver = Approver::of(pass.obj);
    let mut status = pass.status.space_data.take().unwrap_or_default();
    let passage = space_data::pass(
        session,
        &domain.id,
        &spaces,
        apps,
        backup.as_ref(),
        &mut status,
        &approver,
        action,
    )
    .await;
    pass.status.space_data = Some(status);
    Ok(match passage? {
        Passage::Open => {
            pass.report.want(Want::false_(
                BACKUP_PENDING,
                "NoBackupPending",
                "no space waits for its backup",
            ));
            None
        }
        Passage::Held { message, needs_person } => {
            let reason = if needs_person {
                "AwaitingApproval"
            } else {
                "WaitingForBackup"
            };
            pass.report.want(Want::true_(BACKUP_PENDING, reason, message.clone()));
            Some(if needs_person {
                End::Stalled {
                    reason: "BackupPending",
                    message,
                }
            } else {
                End::Progress {
                    reason: "BackupPending",
                    message,
                }
            })
        }
    })
}

/// Ends a deletion's pass that the gate before its spaces holds: stalled while only a person
/// can release it, polled while it waits for backups.
fn hold_deletion(pass: &mut Pass<'_, StudioDomain>, held: End) -> Action {
    match held {
        End::Stalled { reason, message } => {
            pass.report.stalled(reason, message);
            pass.blocked()
        }
        End::Progress { reason, message } | End::Blocked { reason, message } => {
            pass.report.progressing(reason, message);
            pass.poll()
        }
        End::Ready { .. } | End::Need(_) => pass.poll(),
    }
}

/// Why a domain may not be deleted yet: members not managed here, and members whose own
/// resource says `Retain`.
fn deletion_blockers(held: &[Held]) -> Option<String> {
    let mut blockers = Vec::new();
    for member in held {
        match &member.standing {
            Standing::Foreign(why) => blockers.push(format!("{} ({why})", member.label())),
            Standing::Managed {
                resource,
                policy: DeletionPolicy::Retain,
            } => blockers.push(format!(
                "{} (its {resource} says deletionPolicy Retain)",
                member.label()
            )),
            Standing::Managed { .. } => {}
        }
    }
    (!blockers.is_empty()).then(|| {
        format!(
            "the domain holds {}; delete or release them, or set deletionPolicy: Retain on the StudioDomain",
            blockers.join(", ")
        )
    })
}

/// Deletes what blocks the deletion of a domain, one layer at a time: apps, then spaces, then
/// profiles; a member that `may_delete` refuses (read again right before) blocks the teardown.
pub(super) async fn empty_domain(
    session: &AwsSession,
    domain: &ObservedDomain,
    contents: &Contents,
    may_delete: &teardown::MayDelete<'_>,
) -> Result<TeardownState, ReconcileError> {
    let profiles = session.list_user_profiles(&domain.id).await?;
    let teardown = teardown::emptying(&contents.apps, &contents.spaces, &profiles);
    let guard = teardown::Guard {
        arn_prefix: teardown::arn_prefix(&domain.arn).unwrap_or_default(),
        domain_id: domain.id.clone(),
        may_delete,
    };
    let refused = teardown::execute(session, &guard, &teardown.deletions).await?;
    if !refused.is_empty() {
        return Ok(TeardownState::Blocked(format!(
            "{} changed hands since they were checked: not deleted",
            refused.join(", ")
        )));
    }
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
        for name in reporter::names(&pass.uid(), &reporter::scripts(true, None)).into_values() {
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
