//! One pipeline for the members of a domain, UserProfile and SharedSpace: observe (the cluster,
//! then AWS) -> decide (pure, [`decide::decide`]) -> act -> report. A kind says only what truly
//! differs ([`MemberKind`]): its names, identity, settings mapping, what forces a recreation,
//! what creation waits for and what it owns.

pub mod decide;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};
use tracing::info;

use self::decide::{Blocker, End, Facts, GuardrailFacts, InAws, Plan, Problem, Step};
use super::catalog::{self, Resolution};
use super::context::Context;
use super::driver::{Pass, Reconcile};
use super::error::ReconcileError;
use super::holdings::{self, Standing};
use super::memory::{Entry, Memory, Observed, ReadPlan, Seen, Situation, Tags};
use super::reference::{self, DomainTarget, Resolved};
use super::report::{Happening, Reported};
use super::stores::Cached;
use super::teardown::{self, OwnedSpace, TeardownState};
use crate::api::condition_type::BACKUP_PENDING;
use crate::api::condition_type::SYNCED;
use crate::api::{DeletionPolicy, DomainRef, GuardrailRules, RunningApp, SettingsStatus, SpaceDataStatus};
use crate::aws::AwsError;
use crate::aws::clients::AwsSession;
use crate::aws::model::{AppSummary, Document, MemberDetails, MemberType};
use crate::compliance::{self, Finding, UiRestrictions, Verdict};
use crate::controller::settings;
use crate::controller::space_data::gate::BackupTarget;
use crate::controller::space_data::{self, Approver, Passage};
use crate::ownership::{self, Claim, Holder, Owner};
use crate::status::{self, Want};

/// Where status says a member lives in AWS.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MemberRecord {
    /// Id of the domain it lives in.
    pub domain_id: Option<String>,
    /// Its name in AWS, as created.
    pub name: Option<String>,
    /// Its ARN.
    pub arn: Option<String>,
    /// POSIX UID of its home on the domain's EFS volume.
    pub efs_uid: Option<String>,
    /// Its status in AWS.
    pub aws_status: Option<String>,
    /// Its running apps.
    pub running_apps: Vec<RunningApp>,
    /// What the operator manages of its settings.
    pub settings: Option<SettingsStatus>,
    /// What the gate before deleting its spaces waits for, and the data loss approved.
    pub space_data: Option<SpaceDataStatus>,
}

/// What differs between the members of a domain.
pub trait MemberKind:
    Reconcile + MemberSpec + Cached + serde::Serialize + Resource<Scope = k8s_openapi::NamespaceResourceScope>
{
    /// What Describe reports.
    type Observed: Observed + Send + Sync + 'static;
    /// Tags that say whose the member is (never changed by an adoption).
    const IDENTITY_TAGS: &'static [&'static str] = &[];
    /// What Create sends and the comparisons read.
    type Desired: Clone + std::fmt::Debug + Send + Sync;

    /// Its name in AWS, as the spec asks.
    fn aws_name(&self) -> String;
    /// What its spec breaks of one guardrail's rules.
    fn check(&self, rules: &GuardrailRules) -> Vec<Finding>;
    /// What the spec lacks for its domain before anything can exist in AWS.
    fn precondition(&self, domain: &DomainTarget) -> Option<Problem>;
    /// What Create sends: `ownership` are the ownership tags, `ui` what the guardrails hide in
    /// the Studio UI.
    fn desired(
        &self,
        name: String,
        ownership: BTreeMap<String, String>,
        ui: &UiRestrictions,
        resolved: &Resolution,
    ) -> Self::Desired;
    /// The tags it should carry.
    fn desired_tags(desired: &Self::Desired) -> &BTreeMap<String, String>;
    /// The same, to add the tags only a creation carries (`restore-from`).
    fn desired_tags_mut(desired: &mut Self::Desired) -> &mut BTreeMap<String, String>;
    /// The spec fields whose change AWS cannot apply in place.
    fn recreation_reasons(desired: &Self::Desired, observed: &Self::Observed) -> Vec<&'static str>;
    /// What the operator does about the settings, given the paths it managed before.
    fn settings(desired: &Self::Desired, observed: &Self::Observed, managed: &[String]) -> settings::Plan;
    /// The settings paths a member created from `desired` is managed for.
    fn managed_paths(desired: &Self::Desired) -> Vec<String>;
    /// The spec fields an update must correct, given the settings paths managed before.
    fn updates(desired: &Self::Desired, observed: &Self::Observed, managed: &[String]) -> Vec<String>;
    /// What each resource of this kind last saw in AWS.
    fn memory(ctx: &Context) -> &Memory<Self::Observed>;

    /// Describe; `None` when it does not exist.
    fn describe(
        session: &AwsSession,
        domain_id: &str,
        name: &str,
    ) -> impl Future<Output = Result<Option<Self::Observed>, AwsError>> + Send;
    /// Create; returns the ARN.
    fn create(
        session: &AwsSession,
        domain_id: &str,
        desired: &Self::Desired,
    ) -> impl Future<Output = Result<String, AwsError>> + Send;
    /// Update what the spec manages: `settings` is the settings structure to send (the one AWS
    /// holds with the managed paths changed), if it changes.
    fn update(
        session: &AwsSession,
        domain_id: &str,
        name: &str,
        desired: &Self::Desired,
        settings: Option<&Document>,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// What creation waits for, from what AWS and the cluster show.
    fn creation_blocker(
        &self,
        ctx: &Context,
        session: &AwsSession,
        domain_id: &str,
        desired: &Self::Desired,
    ) -> impl Future<Output = Result<Option<Blocker>, ReconcileError>> + Send;
    /// The spaces it owns, which go before it in a retirement.
    fn owned_spaces(
        ctx: &Context,
        session: &AwsSession,
        domain_id: &str,
        name: &str,
    ) -> impl Future<Output = Result<Vec<OwnedSpace>, ReconcileError>> + Send;
}

/// Implements [`Reconcile`] for a member kind through the members' pipeline, and [`MemberKind`]'s
/// accessors of the spec fields every member has (`domainRef`, `adopt`, `deletionPolicy`) and
/// of its place in status (`domainId`, the name and ARN fields given, the EFS UID, the AWS
/// status and the running apps).
macro_rules! member_kind {
    (
        $kind:ty,
        $status:ty,
        noun: $noun:literal,
        name_field: $name_field:literal,
        aws_type: $type:ident,
        status_name: $name:ident,
        status_arn: $arn:ident $(,)?
    ) => {
        impl $crate::controller::driver::Reconcile for $kind {
            fn api(client: &kube::Client, obj: &Self) -> kube::Api<Self> {
                kube::Api::namespaced(
                    client.clone(),
                    &kube::ResourceExt::namespace(obj).unwrap_or_default(),
                )
            }

            async fn apply(
                pass: &mut $crate::controller::driver::Pass<'_, Self>,
            ) -> Result<kube::runtime::controller::Action, $crate::controller::error::ReconcileError> {
                $crate::controller::member::apply(pass).await
            }

            async fn cleanup(
                pass: &mut $crate::controller::driver::Pass<'_, Self>,
            ) -> Result<kube::runtime::controller::Action, $crate::controller::error::ReconcileError> {
                $crate::controller::member::cleanup(pass).await
            }
        }

        impl $crate::controller::member::MemberSpec for $kind {
            const NOUN: &'static str = $noun;
            const NAME_FIELD: &'static str = $name_field;
            const FAILED_REASON: &'static str = concat!(stringify!($kind), "Failed");
            const TYPE: $crate::aws::model::MemberType = $crate::aws::model::MemberType::$type;

            fn domain_ref(&self) -> &$crate::api::DomainRef {
                &self.spec.domain_ref
            }

            fn adopt(&self) -> bool {
                self.spec.adopt
            }

            fn deletion_policy(&self) -> $crate::api::DeletionPolicy {
                self.spec.deletion_policy
            }

            fn record(status: &$status) -> $crate::controller::member::MemberRecord {
                $crate::controller::member::MemberRecord {
                    domain_id: status.domain_id.clone(),
                    name: status.$name.clone(),
                    arn: status.$arn.clone(),
                    efs_uid: status.home_efs_file_system_uid.clone(),
                    aws_status: status.aws_status.clone(),
                    running_apps: status.running_apps.clone(),
                    settings: status.settings.clone(),
                    space_data: status.space_data.clone(),
                }
            }

            fn set_record(status: &mut $status, record: $crate::controller::member::MemberRecord) {
                status.domain_id = record.domain_id;
                status.$name = record.name;
                status.$arn = record.arn;
                status.home_efs_file_system_uid = record.efs_uid;
                status.aws_status = record.aws_status;
                status.running_apps = record.running_apps;
                status.settings = record.settings;
                status.space_data = record.space_data;
            }
        }
    };
}
pub(crate) use member_kind;

/// The fields every member has, in its spec and in its status.
pub trait MemberSpec: Reported {
    /// How messages name it, e.g. "user profile".
    const NOUN: &'static str;
    /// The spec field that names it in AWS, e.g. `spec.userProfileName`.
    const NAME_FIELD: &'static str;
    /// The condition reason when AWS reports it Failed.
    const FAILED_REASON: &'static str;
    /// Its type in AWS.
    const TYPE: MemberType;
    /// The StudioDomain it belongs to.
    fn domain_ref(&self) -> &DomainRef;
    /// Whether the spec asks to adopt an unmanaged member of that name.
    fn adopt(&self) -> bool;
    /// What its deletion does in AWS.
    fn deletion_policy(&self) -> DeletionPolicy;
    /// Where status says it lives.
    fn record(status: &Self::Status) -> MemberRecord;
    /// Records where it lives.
    fn set_record(status: &mut Self::Status, record: MemberRecord);
}

/// The StudioDomain (namespace, name) a member refers to.
pub fn domain_of<K: MemberKind>(member: &K) -> (String, String) {
    let namespace = member.namespace().unwrap_or_default();
    let domain = member.domain_ref();
    (domain.namespace.clone().unwrap_or(namespace), domain.name.clone())
}

fn owner<K: MemberKind>(pass: &Pass<'_, K>) -> Owner {
    Owner {
        cluster: pass.ctx.config.cluster_id.clone(),
        namespace: pass.namespace(),
        name: pass.obj.name_any(),
        uid: pass.uid(),
    }
}

async fn session(ctx: &Context, target: &DomainTarget) -> Result<Arc<AwsSession>, ReconcileError> {
    Ok(ctx.session(&target.aws, &target.namespace, &target.name).await?)
}

/// The guardrails' verdict on a member of `domain`.
async fn guardrails<K: MemberKind>(
    ctx: &Context,
    member: &K,
    domain: &DomainTarget,
) -> Result<GuardrailFacts, ReconcileError> {
    let namespace = member.namespace().unwrap_or_default();
    let covering = ctx
        .guardrails_for(&domain.namespace, &domain.labels, Some(&namespace))
        .await?;
    let verdict = Verdict::of(&covering.iter().map(Arc::as_ref).collect::<Vec<_>>(), |rules| {
        member.check(rules)
    });
    let (condition, allowed) = compliance::condition(&verdict);
    let ui = UiRestrictions::of(&covering.iter().map(Arc::as_ref).collect::<Vec<_>>());
    Ok(GuardrailFacts { condition, allowed, ui })
}

/// What AWS holds of the member, and the domain's apps when it exists (for status).
struct Looked<O> {
    aws: InAws<O>,
    apps: Option<Arc<Vec<AppSummary>>>,
}

/// Reads what the pass needs from AWS, as [`Memory::read_plan`] says: usually nothing but the
/// domain's shared listings.
async fn look<K: MemberKind>(
    pass: &Pass<'_, K>,
    session: &AwsSession,
    domain_id: &str,
    name: &str,
    desired: &K::Desired,
) -> Result<Looked<K::Observed>, ReconcileError> {
    let ctx = pass.ctx;
    let uid = pass.uid();
    let memory = K::memory(ctx);
    let settled = memory.settled(&uid, pass.generation());
    let listing = ctx
        .listings
        .members(session, domain_id, K::TYPE, ctx.list_age(settled))
        .await?;
    // Resyncs also read the account's tag index of the same round.
    let tag_index = if settled {
        Some(ctx.listings.tag_index(session, ctx.list_age(true)).await)
    } else {
        None
    };
    let record = K::record(&pass.status);
    let situation = Situation {
        uid: &uid,
        domain_id,
        name,
        generation: pass.generation(),
        listing: &listing,
        created_here: record.domain_id.as_deref() == Some(domain_id) && record.name.as_deref() == Some(name),
        audit_interval: ctx.config.tag_audit_interval,
        tag_index: tag_index.as_ref(),
        now: Instant::now(),
    };
    let present = match memory.read_plan(&situation) {
        ReadPlan::WaitCreating => {
            return Ok(Looked {
                aws: InAws::BeingCreated,
                apps: None,
            });
        }
        ReadPlan::Reuse { observed, tags, .. } => Some((observed, tags)),
        ReadPlan::Tags { observed } => {
            let tags = session.list_tags(&observed.details().arn).await?;
            memory.tags_checked(
                &uid,
                Tags {
                    tags: tags.clone(),
                    checked: Instant::now(),
                },
            );
            Some((observed, tags))
        }
        ReadPlan::Create => None,
        ReadPlan::Describe { tags } => describe::<K>(pass, session, domain_id, name, tags).await?,
    };
    match present {
        Some((observed, tags)) => {
            let apps = ctx.listings.apps(session, domain_id, ctx.list_age(settled)).await?;
            Ok(Looked {
                aws: InAws::Present { observed, tags },
                apps: Some(apps.items),
            })
        }
        None => Ok(Looked {
            aws: InAws::Absent {
                blocker: pass.obj.creation_blocker(ctx, session, domain_id, desired).await?,
            },
            apps: None,
        }),
    }
}

/// Describes the member, and lists its tags unless `tags` are still good; remembers both.
async fn describe<K: MemberKind>(
    pass: &Pass<'_, K>,
    session: &AwsSession,
    domain_id: &str,
    name: &str,
    tags: Option<Tags>,
) -> Result<Option<(K::Observed, BTreeMap<String, String>)>, ReconcileError> {
    let memory = K::memory(pass.ctx);
    let at = Instant::now();
    let Some(observed) = K::describe(session, domain_id, name).await? else {
        memory.forget(&pass.uid());
        return Ok(None);
    };
    let tags = match tags {
        Some(tags) => tags,
        None => Tags {
            tags: session.list_tags(&observed.details().arn).await?,
            checked: Instant::now(),
        },
    };
    let entry = Entry {
        domain_id: domain_id.into(),
        name: name.into(),
        generation: pass.generation(),
        seen: Seen::Described {
            at,
            observed: observed.clone(),
            tags: Some(tags.clone()),
        },
    };
    memory.remember(&pass.uid(), entry);
    Ok(Some((observed, tags.tags)))
}

/// The running apps, for status.
fn running_apps<'a>(apps: impl IntoIterator<Item = &'a AppSummary>) -> Vec<RunningApp> {
    apps.into_iter()
        .filter(|a| a.is_running())
        .map(|a| RunningApp {
            app_type: a.app_type.clone(),
            app_name: a.app_name.clone(),
            instance_type: a.instance_type.clone(),
            since: a
                .created
                .and_then(|secs| k8s_openapi::jiff::Timestamp::from_millisecond((secs * 1000.0) as i64).ok())
                .map(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time),
        })
        .collect()
}

/// Whether the domain's name policy refuses the AWS name this member is about to claim. A name
/// the member already holds is not judged again: a policy added later never strands it.
async fn name_problem<K: MemberKind>(
    ctx: &Context,
    domain: &DomainTarget,
    namespace: &str,
    name: &str,
    held: &Option<String>,
) -> Result<Option<Problem>, kube::Error> {
    if held.as_deref() == Some(name) || !domain.restricts_names_of(namespace) {
        return Ok(None);
    }
    let namespaces = reference::namespace_names(&ctx.client).await?;
    Ok(domain
        .name_allowed(namespace, name, &namespaces)
        .err()
        .map(|message| Problem::new("NameNotAllowed", format!("{message} ({})", K::NAME_FIELD))))
}

/// A member's reconcile: observe the cluster, decide; if the gates pass, observe AWS and decide
/// again; then act on the plan.
pub async fn apply<K: MemberKind>(pass: &mut Pass<'_, K>) -> Result<Action, ReconcileError> {
    let obj = pass.obj;
    let ctx = pass.ctx;
    let watched = |namespace: &str| ctx.config.watches(namespace);
    let domain = reference::resolve(&ctx.client, watched, &pass.namespace(), obj.domain_ref()).await?;
    let record = K::record(&pass.status);
    let owner = owner(pass);
    let mut facts = Facts {
        guardrails: None,
        precondition: None,
        references: None,
        name: obj.aws_name(),
        recorded: (record.domain_id.clone(), record.name.clone()),
        owner: owner.clone(),
        adopt: obj.adopt(),
        aws: None,
        domain,
        managed: record.settings.map(|s| s.managed_paths).unwrap_or_default(),
    };
    let target = match &facts.domain {
        Resolved::Found(target) => Some(target.clone()),
        _ => None,
    };
    if let Some(target) = &target {
        facts.guardrails = Some(guardrails(ctx, obj, target).await?);
        let name = name_problem::<K>(ctx, target, &pass.namespace(), &facts.name, &facts.recorded.1).await?;
        facts.precondition = name.or_else(|| obj.precondition(target));
    }
    let references = target
        .as_ref()
        .map(|target| catalog::resolve_spec(&ctx.stores, &pass.namespace(), obj, &target.aws));
    let resolved = match references {
        Some(Ok(resolved)) => resolved,
        Some(Err(blocker)) => {
            facts.references = Some(blocker);
            Resolution::default()
        }
        None => Resolution::default(),
    };
    let ui = facts.guardrails.as_ref().map(|g| g.ui.clone()).unwrap_or_default();
    let desired = obj.desired(facts.name.clone(), owner.tags(), &ui, &resolved);
    let plan = decide::decide::<K>(&desired, &facts);
    let needs_aws = !plan.steps.is_empty() || matches!(plan.end, End::LookInAws { .. });
    let session = match (&target, needs_aws) {
        (Some(target), true) => Some(session(ctx, target).await?),
        _ => None,
    };
    let (plan, apps) = match (&plan.end, &session) {
        (End::LookInAws { domain_id }, Some(session)) => {
            let looked = look::<K>(pass, session, domain_id, &facts.name, &desired).await?;
            facts.aws = Some(looked.aws);
            (decide::decide::<K>(&desired, &facts), looked.apps)
        }
        _ => (plan, None),
    };
    act(pass, session.as_deref(), &desired, &facts, plan, apps).await
}

/// Carries out a plan: its steps in order, then its conditions and end in the report.
async fn act<K: MemberKind>(
    pass: &mut Pass<'_, K>,
    session: Option<&AwsSession>,
    desired: &K::Desired,
    facts: &Facts<K::Observed>,
    plan: Plan,
    apps: Option<Arc<Vec<AppSummary>>>,
) -> Result<Action, ReconcileError> {
    for condition in plan.conditions {
        pass.report.want(condition);
    }
    let mut end = plan.end;
    let domain_id = match &facts.domain {
        Resolved::Found(target) => target.ready.clone().unwrap_or_default(),
        _ => String::new(),
    };
    if let Some(InAws::Present { observed, .. }) = &facts.aws
        && plan.record
    {
        record_observed(pass, &domain_id, observed.details(), apps.as_deref().map(Vec::as_slice));
    }
    let mut corrected: Vec<String> = Vec::new();
    for step in plan.steps {
        let session = session.expect("a plan with AWS steps has a session");
        match step {
            Step::Create => {
                if let Some(refined) = create(pass, session, &domain_id, desired, &facts.domain).await? {
                    end = refined;
                }
            }
            Step::Retire { name, reason } => {
                let Resolved::Found(target) = &facts.domain else {
                    unreachable!("a retirement is planned only in a domain found")
                };
                end = replace(pass, session, target, &name, &reason).await?;
            }
            Step::Adopt => {
                let note = format!("adopting {} {} (spec.adopt)", K::NOUN, facts.name);
                pass.event(Happening::normal("Adopted", note)).await;
            }
            Step::Update { fields } => {
                K::memory(pass.ctx).forget(&pass.uid());
                let body = match &facts.aws {
                    Some(InAws::Present { observed, .. }) => K::settings(desired, observed, &facts.managed).body,
                    _ => None,
                };
                K::update(session, &domain_id, &facts.name, desired, body.as_ref()).await?;
                corrected.extend(fields);
            }
            Step::Tag { add, remove } => {
                K::memory(pass.ctx).forget(&pass.uid());
                let arn = K::record(&pass.status).arn.unwrap_or_default();
                if !add.is_empty() {
                    session.add_tags(&arn, &add).await?;
                }
                if !remove.is_empty() {
                    session.delete_tags(&arn, &remove).await?;
                }
                corrected.push("tags".into());
            }
        }
    }
    remake_unmanaged_spaces(pass, session, facts, &domain_id).await?;
    // Recorded once every step succeeded: a failed update keeps the paths it had to reset.
    if let Some(settings) = plan.settings {
        let mut record = K::record(&pass.status);
        record.settings = Some(settings);
        K::set_record(&mut pass.status, record);
    }
    if !corrected.is_empty() {
        let spec_changed = pass
            .obj
            .status()
            .is_none_or(|s| observed_generation::<K>(s) != Some(pass.generation()));
        pass.ctx.report_corrections(pass.obj, spec_changed, &corrected).await;
    }
    Ok(finish(pass, end))
}

/// The generation the object's status last described.
fn observed_generation<K: MemberKind>(status: &K::Status) -> Option<i64> {
    K::conditions(status)
        .iter()
        .find(|c| c.type_ == crate::api::condition_type::READY)
        .and_then(|c| c.observed_generation)
}

/// Puts the end of a pass into the report, and says when to come back.
fn finish<K: MemberKind>(pass: &mut Pass<'_, K>, end: End) -> Action {
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
        End::LookInAws { .. } => unreachable!("AWS is looked at before acting"),
    }
}

fn record_observed<K: MemberKind>(
    pass: &mut Pass<'_, K>,
    domain_id: &str,
    details: &MemberDetails,
    apps: Option<&[AppSummary]>,
) {
    let mut record = K::record(&pass.status);
    record.domain_id = Some(domain_id.to_string());
    record.name = Some(details.name.clone());
    record.arn = Some(details.arn.clone());
    record.efs_uid = details.home_efs_uid.clone();
    record.aws_status = Some(details.status.clone());
    if let Some(apps) = apps {
        record.running_apps = running_apps(K::TYPE.apps_of(apps, &details.name));
    }
    K::set_record(&mut pass.status, record);
}

/// Creates the member; in a new domain (the old one was recreated) this is a recreation.
/// Returns how the pass ends instead of the plan's end, when AWS says it exists already.
async fn create<K: MemberKind>(
    pass: &mut Pass<'_, K>,
    session: &AwsSession,
    domain_id: &str,
    desired: &K::Desired,
    domain: &Resolved,
) -> Result<Option<End>, ReconcileError> {
    let name = pass.obj.aws_name();
    let restore_from = restore_source::<K>(&pass.status, domain, &name);
    let mut desired = desired.clone();
    if let Some(location) = &restore_from {
        K::desired_tags_mut(&mut desired).insert(ownership::RESTORE_FROM.into(), location.clone());
    }
    let arn = match K::create(session, domain_id, &desired).await {
        Ok(arn) => arn,
        Err(AwsError::InUse { message }) if message.contains("already exists") => {
            // The listing was older than the member: describe it at the next pass.
            K::memory(pass.ctx).forget(&pass.uid());
            return Ok(Some(End::Progress {
                reason: "Creating",
                message: format!("{} {name} exists already in domain {domain_id}; looking at it", K::NOUN),
            }));
        }
        Err(error) => return Err(error.into()),
    };
    // Only a List that starts after this answer is sure to show it.
    let at = Instant::now();
    info!(%arn, kind = K::NOUN, "created");
    let entry = Entry {
        domain_id: domain_id.into(),
        name: name.clone(),
        generation: pass.generation(),
        seen: Seen::Created {
            at,
            tags: Tags {
                tags: K::desired_tags(&desired).clone(),
                checked: at,
            },
        },
    };
    K::memory(pass.ctx).remember(&pass.uid(), entry);
    let mut record = K::record(&pass.status);
    let previous_domain = record.domain_id.replace(domain_id.into());
    let old_uid = record.efs_uid.take();
    record.name = Some(name.clone());
    record.arn = Some(arn);
    record.aws_status = Some("Pending".into());
    record.running_apps.clear();
    if let Some(data) = record.space_data.as_mut() {
        data.backups.remove(&name);
    }
    K::set_record(&mut pass.status, record);
    let restoring = restore_from
        .map(|location| format!("; its home directory is restored from {location}"))
        .unwrap_or_default();
    let happening = match previous_domain {
        Some(old) if old != domain_id => Happening::normal(
            "Recreated",
            format!(
                "recreated {} {name} in domain {domain_id} (was in {old}, home UID {}); the domain's migration plan lists what to copy{restoring}",
                K::NOUN,
                old_uid.as_deref().unwrap_or("-")
            ),
        ),
        _ => Happening::normal(
            "Created",
            format!("created {} {name} in domain {domain_id}{restoring}", K::NOUN),
        ),
    };
    pass.event(happening).await;
    Ok(None)
}

/// The backup a new space of this name is restored from: its own (it was recreated), or its
/// predecessor's in a recreated domain (the domain's migration plan).
fn restore_source<K: MemberKind>(status: &K::Status, domain: &Resolved, name: &str) -> Option<String> {
    if K::TYPE != MemberType::Space {
        return None;
    }
    let own = K::record(status)
        .space_data
        .and_then(|data| data.backups.get(name).cloned());
    own.or_else(|| match domain {
        Resolved::Found(target) => target.restore_from.get(name).cloned(),
        _ => None,
    })
}

/// Retires the member `old` (apps, what it owns, itself) so that a later pass creates the one
/// the spec asks for.
async fn replace<K: MemberKind>(
    pass: &mut Pass<'_, K>,
    session: &AwsSession,
    domain: &DomainTarget,
    old: &str,
    reason: &str,
) -> Result<End, ReconcileError> {
    let domain_id = domain.ready.clone().unwrap_or_default();
    K::memory(pass.ctx).forget(&pass.uid());
    let already_recreating =
        status::find(K::conditions(&pass.status), SYNCED).is_some_and(|c| c.reason == "Recreating");
    let owner = owner(pass);
    let mut gate = MemberGate::take(pass, domain);
    let retirement = retire::<K>(pass.ctx, &owner, session, &domain_id, old, &mut gate).await;
    gate.restore(pass);
    let retirement = retirement?;
    if let Some((message, needs_person)) = report_gate(pass, &retirement) {
        let message = format!("recreating {} {old} because {reason}: {message}", K::NOUN);
        pass.report.want(Want::false_(SYNCED, "Recreating", message.clone()));
        return Ok(held_end(message, needs_person));
    }
    let Retirement::Teardown(state) = retirement else {
        unreachable!("report_gate returns the held retirement")
    };
    if !already_recreating && !matches!(state, TeardownState::Foreign(_)) {
        let note = format!(
            "recreating {} {old} because {reason} (AWS cannot change it in place): its apps and what it owns are deleted first",
            K::NOUN
        );
        pass.event(Happening::normal("Recreating", note)).await;
    }
    let (message, end) = match state {
        TeardownState::Done | TeardownState::Foreign(_) => {
            // A member that is no longer this resource's (someone else took the name) is left
            // alone: only this resource's record of it goes.
            let mut record = K::record(&pass.status);
            record.name = None;
            record.arn = None;
            record.aws_status = None;
            // An approved loss was of the spaces just deleted, never of their successors.
            if let Some(data) = record.space_data.as_mut() {
                data.approved_loss.clear();
            }
            K::set_record(&mut pass.status, record);
            let message = format!("{} {old} is gone or not this resource's; creating the new one", K::NOUN);
            (
                message.clone(),
                End::Progress {
                    reason: "Recreating",
                    message,
                },
            )
        }
        TeardownState::Waiting(progress) => {
            let message = format!("recreating because {reason}: {progress}");
            (
                message.clone(),
                End::Progress {
                    reason: "Recreating",
                    message,
                },
            )
        }
        TeardownState::Blocked(blocker) => {
            let message = format!("recreation because {reason} is blocked: {blocker}");
            (
                message.clone(),
                End::Blocked {
                    reason: "Recreating",
                    message,
                },
            )
        }
    };
    pass.report.want(Want::false_(SYNCED, "Recreating", message));
    Ok(end)
}

/// Where a retirement stands: the teardown's state, or held by the gate before its spaces.
enum Retirement {
    /// The teardown ran (or found nothing to do).
    Teardown(TeardownState),
    /// Spaces it would delete wait for their backups, or for a data-loss approval.
    BackupPending { message: String, needs_person: bool },
}

/// What the gate before a member's spaces are deleted needs from the member's resource.
struct MemberGate {
    /// The domain's backup, if it backs spaces up.
    backup: Option<BackupTarget>,
    /// The resource's `status.spaceData`.
    status: SpaceDataStatus,
    /// The resource, for the approval.
    approver: Approver,
}

impl MemberGate {
    /// Takes `status.spaceData` out of the pass until [`MemberGate::restore`].
    fn take<K: MemberKind>(pass: &mut Pass<'_, K>, domain: &DomainTarget) -> Self {
        let cluster_id = &pass.ctx.config.cluster_id;
        let backup = domain
            .space_backup
            .as_ref()
            .map(|backup| space_data::target(backup, cluster_id, &domain.namespace, &domain.name));
        let mut record = K::record(&pass.status);
        let status = record.space_data.take().unwrap_or_default();
        K::set_record(&mut pass.status, record);
        MemberGate {
            backup,
            status,
            approver: Approver::of(pass.obj),
        }
    }

    /// Puts `status.spaceData` back (dropped when empty).
    fn restore<K: MemberKind>(self, pass: &mut Pass<'_, K>) {
        let mut record = K::record(&pass.status);
        record.space_data = (self.status != SpaceDataStatus::default()).then_some(self.status);
        K::set_record(&mut pass.status, record);
    }
}

/// Ordered deletion of the member `name`: checks it is this resource's (before anything is
/// deleted), observes what the teardown needs, holds it while a space it deletes has no current
/// backup, plans it (pure) and makes this pass's deletions, each re-checked right before.
async fn retire<K: MemberKind>(
    ctx: &Context,
    owner: &Owner,
    session: &AwsSession,
    domain_id: &str,
    name: &str,
    gate: &mut MemberGate,
) -> Result<Retirement, ReconcileError> {
    let Some(observed) = K::describe(session, domain_id, name).await? else {
        return Ok(Retirement::Teardown(TeardownState::Done));
    };
    let arn = observed.details().arn.clone();
    if !owner.owns(&session.list_tags(&arn).await?) {
        return Ok(Retirement::Teardown(TeardownState::Foreign(format!(
            "{} {name} does not carry this resource's ownership tags",
            K::NOUN
        ))));
    }
    let apps = session.list_apps(domain_id).await?;
    let owned = K::owned_spaces(ctx, session, domain_id, name).await?;
    let mut spaces: Vec<String> = owned
        .iter()
        .filter(|s| s.manager.is_none())
        .map(|s| s.name.clone())
        .collect();
    if K::TYPE == MemberType::Space {
        spaces.push(name.to_string());
    }
    let action = format!("delete {} {name}", K::NOUN);
    let passage = space_data::pass(
        session,
        domain_id,
        &spaces,
        &apps,
        gate.backup.as_ref(),
        &mut gate.status,
        &gate.approver,
        action,
    )
    .await?;
    if let Passage::Held { message, needs_person } = passage {
        return Ok(Retirement::BackupPending { message, needs_person });
    }
    if K::TYPE == MemberType::UserProfile {
        record_unmanaged_spaces(session, domain_id, &spaces, &mut gate.status).await?;
    }
    let status = Some(observed.details().status.as_str());
    let teardown = teardown::retirement(K::TYPE, K::NOUN, name, &owned, &apps, status);
    let may_delete = |kind: MemberType, member: &str, tags: &BTreeMap<String, String>| {
        if kind == K::TYPE && member == name {
            return owner.owns(tags);
        }
        // A space the member owns goes with it only while no resource manages it.
        let standing = holdings::standing(tags, &ctx.config.cluster_id, |uid| ctx.stores.member_resource(uid));
        match standing {
            Standing::Managed { .. } => false,
            Standing::Foreign(_) => !matches!(
                ownership::holder(tags, &ctx.config.cluster_id),
                Holder::OtherCluster { .. }
            ),
        }
    };
    let guard = teardown::Guard {
        arn_prefix: teardown::arn_prefix(&arn).unwrap_or_default(),
        domain_id: domain_id.to_string(),
        may_delete: &may_delete,
    };
    let refused = teardown::execute(session, &guard, &teardown.deletions).await?;
    if !refused.is_empty() {
        return Ok(Retirement::Teardown(TeardownState::Blocked(format!(
            "{} changed hands since they were checked: not deleted",
            refused.join(", ")
        ))));
    }
    Ok(Retirement::Teardown(teardown.state))
}

/// Records how the spaces made outside the operator that a profile's retirement deletes with
/// a backup were made, so that a recreated profile gets them again.
async fn record_unmanaged_spaces(
    session: &AwsSession,
    domain_id: &str,
    spaces: &[String],
    status: &mut SpaceDataStatus,
) -> Result<(), AwsError> {
    for name in spaces {
        if !status.backups.contains_key(name) || status.unmanaged_spaces.contains_key(name) {
            continue;
        }
        let space = session.observe_space(domain_id, name).await?;
        if let Some(shape) = space.as_ref().and_then(space_data::shape) {
            status.unmanaged_spaces.insert(name.clone(), shape);
        }
    }
    Ok(())
}

/// Makes again, for a recreated profile once it is InService, the spaces made outside the
/// operator that its retirement deleted with a backup, tagged `restore-from`; a name taken
/// meanwhile is left alone, and the Event says where its backup stays.
async fn remake_unmanaged_spaces<K: MemberKind>(
    pass: &mut Pass<'_, K>,
    session: Option<&AwsSession>,
    facts: &Facts<K::Observed>,
    domain_id: &str,
) -> Result<(), ReconcileError> {
    let (Some(session), Some(InAws::Present { observed, .. })) = (session, &facts.aws) else {
        return Ok(());
    };
    if K::TYPE != MemberType::UserProfile || observed.details().status != "InService" {
        return Ok(());
    }
    let owner = observed.details().name.as_str();
    let mut record = K::record(&pass.status);
    let Some(data) = record.space_data.as_mut() else {
        return Ok(());
    };
    let mut notes = Vec::new();
    let mut failed = None;
    for (name, space) in std::mem::take(&mut data.unmanaged_spaces) {
        let Some(location) = data.backups.get(&name).cloned() else {
            continue;
        };
        if failed.is_some() {
            data.unmanaged_spaces.insert(name, space);
            continue;
        }
        let create = space_data::remake(&name, &space, owner, &location, &pass.ctx.config.cluster_id);
        notes.push(match session.create_space(domain_id, &create).await {
            Ok(_) => format!(
                "space {name} ({} {} space, made outside the operator) made again for user profile {owner} to restore its home from {location}; it stays unmanaged",
                space.sharing_type, space.app_type
            ),
            Err(AwsError::InUse { .. }) => {
                format!("space {name} exists already in domain {domain_id}: not made again; its backup stays at {location}")
            }
            Err(error) => {
                failed = Some(error);
                data.unmanaged_spaces.insert(name, space);
                continue;
            }
        });
        data.backups.remove(&name);
    }
    if record
        .space_data
        .as_ref()
        .is_some_and(|d| *d == SpaceDataStatus::default())
    {
        record.space_data = None;
    }
    K::set_record(&mut pass.status, record);
    for note in notes {
        pass.event(Happening::normal("UnmanagedSpaceRecreated", note)).await;
    }
    failed.map_or(Ok(()), |error| Err(error.into()))
}

/// How a pass held by the gate ends: stalled while only a person can release it.
fn held_end(message: String, needs_person: bool) -> End {
    let reason = "BackupPending";
    if needs_person {
        End::Stalled { reason, message }
    } else {
        End::Progress { reason, message }
    }
}

/// Reports the gate's verdict as the `BackupPending` condition; `Some` while it holds.
fn report_gate<K: MemberKind>(pass: &mut Pass<'_, K>, retirement: &Retirement) -> Option<(String, bool)> {
    match retirement {
        Retirement::BackupPending { message, needs_person } => {
            let reason = if *needs_person {
                "AwaitingApproval"
            } else {
                "WaitingForBackup"
            };
            pass.report.want(Want::true_(BACKUP_PENDING, reason, message.clone()));
            Some((message.clone(), *needs_person))
        }
        Retirement::Teardown(_) => {
            pass.report.want(Want::false_(
                BACKUP_PENDING,
                "NoBackupPending",
                "no space waits for its backup",
            ));
            None
        }
    }
}

/// What a deleted member's resource does in AWS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cleanup {
    /// Nothing to do in AWS (never created, gone, or not ours): release the finalizer;
    /// `deleted` when the member was seen being deleted before.
    Release { deleted: bool },
    /// `deletionPolicy: Retain`: remove the ownership tags, then release.
    Retain,
    /// `deletionPolicy: Delete`: retire it in order.
    Retire,
}

/// Decides a deleted member's cleanup (pure): `exists` is the claim on the member found in AWS,
/// `was_deleting` whether an earlier pass started its deletion.
pub fn decide_cleanup(exists: Option<&Claim>, was_deleting: bool, policy: DeletionPolicy) -> Cleanup {
    match exists {
        None => Cleanup::Release { deleted: was_deleting },
        Some(Claim::Ours) if policy == DeletionPolicy::Retain => Cleanup::Retain,
        Some(Claim::Ours) => Cleanup::Retire,
        // Someone else's (or nobody's): never touched.
        Some(_) => Cleanup::Release { deleted: false },
    }
}

/// Deletion: nothing is touched that this resource does not own; `Retain` removes only the
/// ownership tags; `Delete` retires the member in order.
pub async fn cleanup<K: MemberKind>(pass: &mut Pass<'_, K>) -> Result<Action, ReconcileError> {
    let record = K::record(&pass.status);
    let watched = |namespace: &str| pass.ctx.config.watches(namespace);
    let resolved = reference::resolve(&pass.ctx.client, watched, &pass.namespace(), pass.obj.domain_ref()).await?;
    // Never created, or its domain is gone (it took its members along). A domain that no longer
    // allows this namespace still holds what was created before: it is deleted or retained as
    // the policy says (only what carries this resource's ownership tags), never left orphaned.
    let target = match resolved {
        Resolved::Found(target) | Resolved::Denied(_, target) => target,
        Resolved::NotFound(_) => return pass.release().await,
    };
    let Some(domain_id) = record.domain_id.clone() else {
        return pass.release().await;
    };
    let session = session(pass.ctx, &target).await?;
    K::memory(pass.ctx).forget(&pass.uid());
    let name = record.name.clone().unwrap_or_else(|| pass.obj.aws_name());
    let observed = K::describe(&session, &domain_id, &name).await?;
    let claim = match &observed {
        Some(observed) => Some(ownership::claim(
            &owner(pass),
            &session.list_tags(&observed.details().arn).await?,
            false,
        )),
        None => None,
    };
    let was_deleting = record.aws_status.as_deref() == Some("Deleting");
    let deleted_note = format!("deleted {} {name} from domain {domain_id}", K::NOUN);
    match decide_cleanup(claim.as_ref(), was_deleting, pass.obj.deletion_policy()) {
        Cleanup::Release { deleted } => {
            if deleted {
                pass.event(Happening::normal("Deleted", deleted_note)).await;
            }
            pass.release().await
        }
        Cleanup::Retain => {
            let arn = observed.map(|o| o.details().arn.clone()).unwrap_or_default();
            session.delete_tags(&arn, &ownership::KEYS.map(String::from)).await?;
            let note = format!("{} {name} left in domain {domain_id} (deletionPolicy Retain)", K::NOUN);
            pass.event(Happening::normal("Retained", note)).await;
            pass.release().await
        }
        Cleanup::Retire => {
            let owner = owner(pass);
            let mut gate = MemberGate::take(pass, &target);
            let retirement = retire::<K>(pass.ctx, &owner, &session, &domain_id, &name, &mut gate).await;
            gate.restore(pass);
            let retirement = retirement?;
            if let Some((message, needs_person)) = report_gate(pass, &retirement) {
                let message = format!("deleting {} {name}: {message}", K::NOUN);
                if needs_person {
                    pass.report.stalled("BackupPending", message);
                    return Ok(pass.blocked());
                }
                pass.report.progressing("BackupPending", message);
                return Ok(pass.poll());
            }
            let Retirement::Teardown(state) = retirement else {
                unreachable!("report_gate returns the held retirement")
            };
            finish_retirement(pass, state, record, deleted_note).await
        }
    }
}

/// Ends a deleted member's pass by where its retirement stands.
async fn finish_retirement<K: MemberKind>(
    pass: &mut Pass<'_, K>,
    state: TeardownState,
    record: MemberRecord,
    deleted_note: String,
) -> Result<Action, ReconcileError> {
    match state {
        TeardownState::Done => {
            pass.event(Happening::normal("Deleted", deleted_note)).await;
            pass.release().await
        }
        TeardownState::Foreign(why) => {
            let note = format!("{why}: left in AWS");
            pass.event(Happening::warning("Released", note)).await;
            pass.release().await
        }
        TeardownState::Waiting(progress) => {
            // Remembered so that the pass which finds it gone reports it.
            let mut record = record;
            record.aws_status = Some("Deleting".into());
            record.space_data = K::record(&pass.status).space_data;
            K::set_record(&mut pass.status, record);
            pass.report.progressing("Deleting", progress);
            Ok(pass.poll())
        }
        TeardownState::Blocked(blocker) => {
            pass.report
                .stalled("DeletionBlocked", format!("deletion blocked: {blocker}"));
            Ok(pass.blocked())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_what_this_resource_owns_is_deleted() {
        let ours = Claim::Ours;
        let delete = DeletionPolicy::Delete;
        assert_eq!(decide_cleanup(Some(&ours), false, delete), Cleanup::Retire);
        assert_eq!(
            decide_cleanup(Some(&ours), false, DeletionPolicy::Retain),
            Cleanup::Retain
        );
        for someone_elses in [Claim::TakenBy("other/alice".into()), Claim::Unmanaged, Claim::Adopt] {
            assert_eq!(
                decide_cleanup(Some(&someone_elses), false, delete),
                Cleanup::Release { deleted: false }
            );
        }
        assert_eq!(
            decide_cleanup(None, true, delete),
            Cleanup::Release { deleted: true },
            "found gone after its deletion started: Deleted"
        );
        assert_eq!(decide_cleanup(None, false, delete), Cleanup::Release { deleted: false });
    }
}
