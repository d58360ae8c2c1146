//! The decisions of a StudioDomain's pass, as data: [`decide`] takes what was observed and
//! returns the [`Plan`] (the conditions, the AWS steps in order, and how the pass ends), or asks
//! for one more observation ([`End::Need`]) when a decision needs something costly to read.
//! Pure; the decision table is unit-tested from fixtures.

use std::collections::BTreeMap;

use super::reporter;
use super::rules::{self, KeyProblem, RecreationDecision};
use crate::api::condition_type::{ACTIVITY_REPORTER, AWS_DRIFT, KMS_KEY_VALID, RECREATING, SYNCED, UPDATE_BLOCKED};
use crate::api::{
    ApprovalRequest, ImmutableSettings, MemberBackup, RecreationPolicy, RecreationStatus, SettingsStatus,
    StudioDomainSpec,
};
use crate::aws::model::{AppSummary, DomainCreate, DomainUpdate, KeyInfo, ObservedDomain};
use crate::controller::catalog::Resolution;
use crate::controller::member::decide::{Blocker, GuardrailFacts};
use crate::ownership::{self, Claim};
use crate::status::Want;

/// The activity reporter's lifecycle configurations: the ones the spec wants (app type ->
/// name), and the ones that exist (name -> ARN).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReporterFacts {
    /// Wanted configurations, per app type (empty when the reporter is off).
    pub wanted: BTreeMap<&'static str, String>,
    /// Existing configurations of the reporter's name prefix, by name.
    pub existing: BTreeMap<String, String>,
    /// Configurations status remembers creating (all versions).
    pub recorded: Vec<String>,
    /// Wanted names that exist but are not this domain's (name -> why): never attached.
    pub foreign: BTreeMap<String, String>,
    /// The script of each wanted configuration, per app type.
    pub scripts: reporter::Scripts,
}

impl ReporterFacts {
    /// The wanted configurations that do not exist yet.
    fn missing(&self) -> Vec<(&'static str, String)> {
        self.wanted
            .iter()
            .filter(|(_, name)| !self.existing.contains_key(*name))
            .map(|(app_type, name)| (*app_type, name.clone()))
            .collect()
    }

    /// The ARNs of the wanted configurations, per app type (all exist).
    fn arns(&self) -> reporter::ReporterArns {
        self.wanted
            .iter()
            .filter(|(_, name)| !self.foreign.contains_key(*name))
            .filter_map(|(app_type, name)| self.existing.get(name).map(|arn| (*app_type, arn.clone())))
            .collect()
    }

    /// Whether the reporter is attached, off, on its way, or blocked by a squatted name.
    fn condition(&self) -> Want {
        if self.wanted.is_empty() {
            return Want::false_(
                ACTIVITY_REPORTER,
                "Off",
                "spec.idleShutdown.activityReporter is off and spec.spaceBackup is not set",
            );
        }
        if !self.foreign.is_empty() {
            let which: Vec<String> = self
                .foreign
                .iter()
                .map(|(name, why)| format!("{name} ({why})"))
                .collect();
            return Want::false_(
                ACTIVITY_REPORTER,
                "ReporterConfigConflict",
                format!(
                    "lifecycle configuration {} has the reporter's name but is not this domain's: nothing is attached; delete it in AWS (check who created it) and the reporter is created and attached",
                    which.join(", ")
                ),
            );
        }
        if !self.missing().is_empty() {
            return Want::false_(
                ACTIVITY_REPORTER,
                "Preparing",
                "creating the reporter's lifecycle configurations",
            );
        }
        let what: Vec<String> = self
            .wanted
            .iter()
            .map(|(app_type, name)| format!("{app_type}: {name}"))
            .collect();
        Want::true_(
            ACTIVITY_REPORTER,
            "Attached",
            format!(
                "the in-app agents are attached to the domain's defaults ({})",
                what.join(", ")
            ),
        )
    }

    /// Recorded configurations of other versions, which can go once the domain no longer uses
    /// them.
    fn stale(&self) -> Vec<String> {
        self.recorded
            .iter()
            .filter(|name| !self.wanted.values().any(|w| w == *name))
            .cloned()
            .collect()
    }
}

/// Everything a domain's pass decides from.
#[derive(Clone, Debug)]
pub struct Facts {
    /// The guardrails' verdict on the spec.
    pub guardrails: GuardrailFacts,
    /// The key named in the spec, verified (or why not).
    pub key: Result<KeyInfo, KeyProblem>,
    /// The key of `spec.spaceBackup`, verified like the domain's (when it backs spaces up).
    pub backup_key: Option<Result<KeyInfo, KeyProblem>>,
    /// `<s3Uri>/<cluster>/<namespace>/<name>/` of `spec.spaceBackup`.
    pub backup_prefix: Option<String>,
    /// The recreation status records as in progress.
    pub recreation: Option<RecreationStatus>,
    /// The domain found in AWS (by status, by `spec.adopt` or by ownership tags).
    pub domain: Option<ObservedDomain>,
    /// Its tags.
    pub tags: BTreeMap<String, String>,
    /// Who may manage the domain found, as its ownership tags say.
    pub claim: Option<Claim>,
    /// The immutable settings the spec had when the domain was created (status).
    pub created_with: Option<ImmutableSettings>,
    /// The ownership tags this resource puts on its domain.
    pub ownership: BTreeMap<String, String>,
    /// The activity reporter's configurations.
    pub reporter: ReporterFacts,
    /// The domain's apps (listed when it is InService).
    pub apps: Vec<AppSummary>,
    /// The approval request status holds, with its token.
    pub pending_approval: Option<ApprovalRequest>,
    /// The approval annotation's value.
    pub approval: Option<String>,
    /// Another domain of the wanted name (`Some(None)`: none), once looked for.
    pub name_taken: Option<Option<String>>,
    /// The domain's members, once surveyed (before a recreation).
    pub survey: Option<Survey>,
    /// The settings paths status records as managed.
    pub managed: Vec<String>,
    /// The spec's references to StudioLifecycleConfigs and StudioImages, resolved (or why not).
    pub references: Result<Resolution, Blocker>,
}

/// The members of a domain about to be recreated.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Survey {
    /// Every profile and space with its EFS UID and role.
    pub backup: Vec<MemberBackup>,
    /// Those no studio-operator manages, named for a message.
    pub unmanaged: Vec<String>,
    /// Spaces whose EBS home directory has no current backup: deleting them loses data.
    pub data_loss: Vec<String>,
}

impl Facts {
    /// What is known before any AWS call: only the guardrails' verdict (an enforcing guardrail
    /// that is broken stops the pass there).
    pub fn before_aws(guardrails: GuardrailFacts, created_with: Option<ImmutableSettings>) -> Self {
        Self {
            guardrails,
            key: Err(KeyProblem::NotFound("not checked".into())),
            backup_key: None,
            backup_prefix: None,
            recreation: None,
            domain: None,
            tags: BTreeMap::new(),
            ownership: BTreeMap::new(),
            reporter: ReporterFacts::default(),
            apps: Vec::new(),
            claim: None,
            created_with,
            pending_approval: None,
            approval: None,
            name_taken: None,
            survey: None,
            managed: Vec::new(),
            references: Ok(Resolution::default()),
        }
    }
}

/// Something costly to read that a decision needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// Whether another domain has the name (ListDomains).
    NameConflict,
    /// The members with their EFS UIDs, and which of them no operator manages (Describe and
    /// ListTags per member).
    Survey,
}

/// One step in AWS.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// Create the reporter's missing lifecycle configurations (app type, name).
    CreateReporterConfigs(Vec<(&'static str, String)>),
    /// CreateDomain, and record the immutable settings it was created with.
    Create(Box<DomainCreate>, ImmutableSettings),
    /// The domain found is adopted (spec.adopt names it and no operator manages it).
    Adopt,
    /// Record the immutable settings a domain that matches the spec has (an adopted one, or one
    /// created before they were recorded).
    RecordCreatedWith(ImmutableSettings),
    /// Ask a person to approve a destructive action (the token is made when acting).
    RequestApproval(ApprovalRequest),
    /// Empty and delete the old domain of a recreation (EFS retained).
    ContinueRecreation,
    /// Record the members' backup and start the recreation because these fields changed.
    StartRecreation {
        reasons: Vec<&'static str>,
        backup: Vec<MemberBackup>,
        approved_deletions: Vec<String>,
        approved_loss: Vec<String>,
    },
    /// The new domain of a recreation is InService: record the migration plan.
    FinishRecreation,
    /// Stop these apps so that an update can proceed (`updatePolicy.stopApps`).
    StopApps(Vec<AppSummary>),
    /// UpdateDomain, correcting these spec fields.
    Update {
        update: Box<DomainUpdate>,
        fields: Vec<String>,
    },
    /// Change the tags.
    Tag {
        add: BTreeMap<String, String>,
        remove: Vec<String>,
    },
    /// Delete reporter configurations the domain no longer uses.
    DeleteReporterConfigs(Vec<String>),
}

/// How a pass ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum End {
    /// Read this, then decide again.
    Need(Need),
    /// AWS matches the spec.
    Ready { message: String },
    /// Work is under way in AWS: poll.
    Progress { reason: &'static str, message: String },
    /// Waiting for something else to change (running apps): back off up to the resync.
    Blocked { reason: &'static str, message: String },
    /// Only a person can move this on.
    Stalled { reason: &'static str, message: String },
}

/// The decision of one pass.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// Conditions besides the kstatus trio.
    pub conditions: Vec<Want>,
    /// What to do in AWS, in order.
    pub steps: Vec<Step>,
    /// How the pass ends (a recreation step reports its own progress).
    pub end: End,
    /// What the operator manages of the settings once the steps succeeded (recorded in status).
    pub settings: Option<SettingsStatus>,
}

/// What the pass decided so far.
#[derive(Default)]
pub struct Decided {
    conditions: Vec<Want>,
    steps: Vec<Step>,
    settings: Option<SettingsStatus>,
}

impl Decided {
    fn want(&mut self, want: Want) {
        self.conditions.push(want);
    }

    fn end(self, end: End) -> Plan {
        Plan {
            conditions: self.conditions,
            steps: self.steps,
            end,
            settings: self.settings,
        }
    }
}

/// The `KmsKeyValid` condition for a key check.
fn key_condition(key: &Result<KeyInfo, KeyProblem>, key_id: &str) -> Want {
    match key {
        Ok(key) => Want::true_(
            KMS_KEY_VALID,
            "KmsKeyVerified",
            format!("{} is a customer managed, enabled, symmetric key", key.arn),
        ),
        Err(problem) => Want::false_(KMS_KEY_VALID, problem.reason(), problem.message(key_id)),
    }
}

/// What CreateDomain (and UpdateDomain) should send: the spec with the verified key, the tags,
/// and the activity reporter attached.
pub fn desired(spec: &StudioDomainSpec, name: String, key: &KeyInfo, facts: &Facts) -> DomainCreate {
    let mut tags = spec.tags.clone();
    tags.extend(facts.ownership.clone());
    let resolved = facts.references.clone().unwrap_or_default();
    let mut desired = rules::desired_domain(spec, name, key.arn.clone(), tags, &facts.guardrails.ui, &resolved);
    reporter::attach(&mut desired, &facts.reporter.arns(), facts.domain.as_ref());
    desired
}

/// How a pass ends for a domain found in AWS that is not this resource's to manage.
fn claim_end(id: &str, claim: &Claim) -> Option<End> {
    match claim {
        Claim::Ours | Claim::Adopt => None,
        Claim::TakenBy(other) => Some(End::Stalled {
            reason: "Conflict",
            message: format!(
                "domain {id} belongs to StudioDomain {other}: nothing is changed, adopted or deleted; remove spec.adopt or name another domain"
            ),
        }),
        Claim::Unmanaged => Some(End::Stalled {
            reason: "Conflict",
            message: format!(
                "domain {id} has no ownership tags of this resource; to take it over set spec.adopt.domainId: {id}"
            ),
        }),
    }
}

/// The placeholder the act step replaces with the approval token in a message.
pub const TOKEN: &str = "<TOKEN>";

/// Decides a domain's pass (pure). `name` is the domain's name in AWS, `object` the
/// StudioDomain's name (for the approval command).
pub fn decide(spec: &StudioDomainSpec, name: &str, object: &str, facts: &Facts) -> Plan {
    let mut decided = match gates(spec, facts) {
        Ok(decided) => decided,
        Err(plan) => return *plan,
    };
    let key_id = &spec.encryption.kms_key_id;
    decided.want(key_condition(&facts.key, key_id));
    decided.want(facts.reporter.condition());
    if let (Some(observed), Some(claim)) = (&facts.domain, &facts.claim) {
        match claim_end(&observed.id, claim) {
            Some(end) => return decided.end(end),
            None if *claim == Claim::Adopt => decided.steps.push(Step::Adopt),
            None => {}
        }
    }
    if facts
        .recreation
        .as_ref()
        .is_some_and(|r| r.phase == super::recreate::PHASE_DELETING_OLD)
    {
        decided.steps.push(Step::ContinueRecreation);
        return decided.end(End::Progress {
            reason: "Recreating",
            message: "recreating the domain".into(),
        });
    }
    if let Some(problem) = facts.backup_prefix.as_deref().and_then(rules::backup_prefix_problem) {
        return decided.end(End::Stalled {
            reason: "InvalidBackupLocation",
            message: problem,
        });
    }
    if let (Some(Err(problem)), Some(backup)) = (&facts.backup_key, &spec.space_backup) {
        return decided.end(End::Stalled {
            reason: "InvalidBackupKey",
            message: format!("spec.spaceBackup.kmsKeyId: {}", problem.message(&backup.kms_key_id)),
        });
    }
    let missing = facts.reporter.missing();
    if !missing.is_empty() && facts.key.is_ok() {
        decided.steps.push(Step::CreateReporterConfigs(missing));
        return decided.end(End::Progress {
            reason: "PreparingReporter",
            message: "creating the activity reporter's lifecycle configurations".into(),
        });
    }
    let Some(observed) = &facts.domain else {
        return decide_creation(decided, spec, name, facts);
    };
    let key = match (&facts.key, standing(observed)) {
        (_, Some(end @ End::Stalled { .. })) => return decided.end(end),
        (Err(problem), _) => {
            return decided.end(End::Stalled {
                reason: problem.reason(),
                message: problem.message(key_id),
            });
        }
        (_, Some(end)) => return decided.end(end),
        (Ok(key), None) => key,
    };
    if facts
        .recreation
        .as_ref()
        .is_some_and(|r| r.phase == super::recreate::PHASE_CREATING_NEW && r.old_domain_id != observed.id)
    {
        decided.steps.push(Step::FinishRecreation);
    }
    let desired = desired(spec, name.to_string(), key, facts);
    decide_immutable(decided, spec, name, object, facts, &desired, observed)
}

/// What must hold before any AWS call: the guardrails allow the spec, and `spec.aws` is where
/// the domain was created. Returns the conditions so far, or the plan that ends the pass (boxed:
/// a plan is large and the gates pass far more often than not).
pub fn gates(spec: &StudioDomainSpec, facts: &Facts) -> Result<Decided, Box<Plan>> {
    let mut decided = Decided::default();
    decided.want(facts.guardrails.condition.clone());
    decided.want(rules::tenancy_condition(spec));
    if !facts.guardrails.allowed {
        let message = format!(
            "{}; nothing is changed in AWS until the spec complies",
            facts.guardrails.condition.message
        );
        return Err(Box::new(decided.end(End::Stalled {
            reason: "GuardrailViolation",
            message,
        })));
    }
    match &facts.references {
        Err(Blocker::Waiting(problem)) => {
            return Err(Box::new(decided.end(End::Blocked {
                reason: problem.reason,
                message: problem.message.clone(),
            })));
        }
        Err(Blocker::Stalled(problem)) => {
            return Err(Box::new(decided.end(End::Stalled {
                reason: problem.reason,
                message: problem.message.clone(),
            })));
        }
        Ok(_) => {}
    }
    if let Some(created) = &facts.created_with
        && (created.region != spec.aws.region || created.role_arn != spec.aws.role_arn)
    {
        return Err(Box::new(decided.end(End::Stalled {
            reason: "AwsTargetChanged",
            message: format!(
                "the domain lives in {} (role {}); spec.aws cannot change after creation: restore it, or create a new StudioDomain",
                created.region,
                created.role_arn.as_deref().unwrap_or("none")
            ),
        })));
    }
    Ok(decided)
}

/// Whether the immutable settings call for a recreation: only a change of the spec since the
/// domain was created does. What AWS holds differently without a spec change (a KMS alias
/// pointed at another key) is reported, never acted on.
fn decide_immutable(
    mut decided: Decided,
    spec: &StudioDomainSpec,
    name: &str,
    object: &str,
    facts: &Facts,
    desired: &DomainCreate,
    observed: &ObservedDomain,
) -> Plan {
    let now = rules::immutable_settings(spec, name);
    let in_aws = rules::aws_differences(desired, observed);
    match &facts.created_with {
        Some(created) => {
            let changes = rules::spec_changes(&now, created);
            if !changes.is_empty() {
                return decide_recreation(decided, spec, object, facts, observed, changes, false);
            }
        }
        // Adopted, or created before the settings were recorded: known only from AWS. A
        // difference there needs an approval, whatever the policy.
        None if !in_aws.is_empty() => {
            return decide_recreation(decided, spec, object, facts, observed, in_aws, true);
        }
        None => decided.steps.push(Step::RecordCreatedWith(now)),
    }
    if facts.created_with.is_some() && !in_aws.is_empty() {
        let reason = if in_aws == ["encryption.kmsKeyId"] {
            "KmsKeyChanged"
        } else {
            "ImmutableDrift"
        };
        decided.want(Want::true_(
            AWS_DRIFT,
            reason,
            format!(
                "AWS holds other {} than the domain was created with, without a spec change (for a KMS alias: it points at another key now): nothing is recreated; recreate the domain by changing the spec, or restore the previous value in AWS",
                in_aws.join(", ")
            ),
        ));
    } else {
        decided.want(Want::false_(
            AWS_DRIFT,
            "NoDrift",
            "AWS holds the immutable settings the domain was created with",
        ));
    }
    decided.want(Want::false_(RECREATING, "NoRecreation", "no immutable setting changed"));
    decide_update(decided, spec, desired, observed, facts)
}

/// How a pass over a domain that is not InService ends: Failed stalls, anything else is polled.
fn standing(observed: &ObservedDomain) -> Option<End> {
    match observed.status.as_str() {
        "InService" => None,
        "Failed" => {
            let reason = observed.failure_reason.as_deref().unwrap_or("no reason given");
            Some(End::Stalled {
                reason: "DomainFailed",
                message: format!(
                    "AWS reports the domain Failed: {reason}. Fix the cause and delete the StudioDomain to start over"
                ),
            })
        }
        status => Some(End::Progress {
            reason: "AwsTransition",
            message: if rules::is_transitional(status) {
                format!("domain {} is {status}", observed.id)
            } else {
                format!("domain {} is {status}; retrying the update", observed.id)
            },
        }),
    }
}

/// No domain in AWS: create it, unless something forbids it.
fn decide_creation(mut decided: Decided, spec: &StudioDomainSpec, name: &str, facts: &Facts) -> Plan {
    if let Some(adopt) = &spec.adopt
        && facts.recreation.is_none()
    {
        return decided.end(End::Stalled {
            reason: "AdoptedDomainNotFound",
            message: format!(
                "domain {} named in spec.adopt.domainId does not exist in {}; fix the id or remove spec.adopt",
                adopt.domain_id, spec.aws.region
            ),
        });
    }
    let key = match &facts.key {
        Ok(key) => key,
        Err(problem) => {
            return decided.end(End::Stalled {
                reason: problem.reason(),
                message: format!(
                    "{}; no domain was created",
                    problem.message(&spec.encryption.kms_key_id)
                ),
            });
        }
    };
    match &facts.name_taken {
        None => decided.end(End::Need(Need::NameConflict)),
        Some(Some(other)) => decided.end(End::Stalled {
            reason: "NameConflict",
            message: format!(
                "a domain named {name} ({other}) already exists and is not managed by this resource; choose another spec.domainName or adopt it with spec.adopt.domainId"
            ),
        }),
        Some(None) => {
            let desired = desired(spec, name.to_string(), key, facts);
            decided.settings = Some(SettingsStatus {
                managed_paths: rules::managed_paths(&desired),
                unmanaged_paths: Vec::new(),
            });
            decided
                .steps
                .push(Step::Create(Box::new(desired), rules::immutable_settings(spec, name)));
            decided.end(End::Progress {
                reason: "Creating",
                message: format!("domain {name} is being created"),
            })
        }
    }
}

/// An immutable setting changed: recreate, wait for approval, or refuse, as the policy says.
/// The approval is bound to what the recreation deletes (the survey): every member, marked when
/// no studio-operator manages it.
fn decide_recreation(
    mut decided: Decided,
    spec: &StudioDomainSpec,
    object: &str,
    facts: &Facts,
    observed: &ObservedDomain,
    changes: Vec<&'static str>,
    adopted: bool,
) -> Plan {
    let what = changes.join(", ");
    if spec.recreation_policy == RecreationPolicy::Never {
        let message =
            format!("{what} cannot change in AWS and recreationPolicy is Never; revert the change or allow recreation");
        decided.want(Want::false_(SYNCED, "ImmutableChange", message.clone()));
        return decided.end(End::Stalled {
            reason: "RecreationRefused",
            message,
        });
    }
    let Some(survey) = &facts.survey else {
        return decided.end(End::Need(Need::Survey));
    };
    let request = recreation_request(observed, &what, survey);
    let approved = rules::approves(facts.approval.as_deref(), facts.pending_approval.as_ref(), &request);
    let adopted = adopted || spec.adopt.is_some();
    let proceed = match rules::recreation_decision(spec.recreation_policy, adopted, approved) {
        RecreationDecision::Proceed => approved || (survey.unmanaged.is_empty() && survey.data_loss.is_empty()),
        _ => false,
    };
    if proceed {
        decided.steps.push(Step::StartRecreation {
            reasons: changes,
            backup: survey.backup.clone(),
            approved_deletions: survey.unmanaged.clone(),
            approved_loss: survey.data_loss.clone(),
        });
        return decided.end(End::Progress {
            reason: "Recreating",
            message: format!("recreating the domain because {what} changed"),
        });
    }
    let approve = format!(
        "kubectl annotate studiodomain {object} {}={TOKEN} --overwrite",
        rules::APPROVE_RECREATION
    );
    let (reason, why) = if survey.unmanaged.is_empty() && survey.data_loss.is_empty() {
        (
            "AwaitingApproval",
            format!("{what} cannot change in AWS: the domain must be recreated (EFS retained)"),
        )
    } else if survey.unmanaged.is_empty() {
        (
            "BackupPending",
            format!(
                "recreation needed for {what} but spaces {} have no current backup of their EBS home directories (start them so the space-backup agent backs them up, or approve the loss)",
                survey.data_loss.join(", ")
            ),
        )
    } else {
        (
            "RecreationBlocked",
            format!(
                "recreation needed for {what} but the domain holds {} not managed by studio-operator",
                survey.unmanaged.join(", ")
            ),
        )
    };
    let message = format!(
        "{why}; it deletes {}. Approve exactly this with: {approve}",
        request.deletes.join(", ")
    );
    decided.steps.push(Step::RequestApproval(request));
    decided.want(Want::false_(SYNCED, "ImmutableChange", message.clone()));
    decided.want(Want::false_(RECREATING, reason, message.clone()));
    decided.end(End::Stalled { reason, message })
}

/// What a recreation asks approval for: its action and every member it deletes.
fn recreation_request(observed: &ObservedDomain, what: &str, survey: &Survey) -> ApprovalRequest {
    let mut deletes: Vec<String> = survey
        .backup
        .iter()
        .map(|m| {
            let noun = if m.kind == super::recreate::KIND_PROFILE {
                "user profile"
            } else {
                "space"
            };
            let member = format!("{noun} {}", m.name);
            let mut notes = Vec::new();
            if survey.unmanaged.contains(&member) {
                notes.push("not managed by studio-operator".to_string());
            }
            notes.extend(m.space_data.clone());
            if notes.is_empty() {
                member
            } else {
                format!("{member} ({})", notes.join("; "))
            }
        })
        .collect();
    deletes.push(format!(
        "domain {} (EFS {} retained)",
        observed.id,
        observed.home_efs_file_system_id.as_deref().unwrap_or("-")
    ));
    ApprovalRequest {
        token: String::new(),
        action: format!("recreate domain {} because {what} changed", observed.id),
        deletes,
    }
}

/// Only mutable settings may differ: update them in place, correct the tags, and retire old
/// reporter configurations.
fn decide_update(
    mut decided: Decided,
    spec: &StudioDomainSpec,
    desired: &DomainCreate,
    observed: &ObservedDomain,
    facts: &Facts,
) -> Plan {
    let diff = rules::mutable_diff(desired, observed, &facts.managed);
    let mut changed: Vec<String> = Vec::new();
    if !diff.fields.is_empty() {
        let blocking = rules::blocking_apps(&facts.apps);
        if !diff.needs_stopped_apps.is_empty() && !blocking.is_empty() {
            return decide_blocked_update(decided, spec, &diff.needs_stopped_apps, &blocking);
        }
        changed.extend(diff.fields.iter().cloned());
        decided.steps.push(Step::Update {
            update: Box::new(diff.update),
            fields: diff.fields,
        });
    }
    decided.settings = Some(SettingsStatus {
        managed_paths: diff.managed,
        unmanaged_paths: diff.unmanaged,
    });
    decided.want(Want::false_(UPDATE_BLOCKED, "NotBlocked", "no update waits for apps"));
    let (add, remove) = ownership::tag_changes(&desired.tags, &facts.tags);
    if !add.is_empty() || !remove.is_empty() {
        changed.push("tags".into());
        decided.steps.push(Step::Tag { add, remove });
    }
    if !changed.is_empty() {
        let message = format!("updating {}", changed.join(", "));
        decided.want(Want::false_(SYNCED, "Updating", message.clone()));
        return decided.end(End::Progress {
            reason: "Updating",
            message,
        });
    }
    let stale = facts.reporter.stale();
    if !stale.is_empty() {
        decided.steps.push(Step::DeleteReporterConfigs(stale));
    }
    decided.want(Want::true_(SYNCED, "InSync", "AWS matches the spec"));
    decided.end(End::Ready {
        message: format!("domain {} is InService and matches the spec", observed.id),
    })
}

/// An update AWS accepts only while no app runs, and apps run.
fn decide_blocked_update(
    mut decided: Decided,
    spec: &StudioDomainSpec,
    fields: &[String],
    blocking: &[&AppSummary],
) -> Plan {
    let names: Vec<String> = blocking.iter().map(|a| a.path()).collect();
    decided.want(Want::false_(
        SYNCED,
        "UpdateBlocked",
        format!("{} differ", fields.join(", ")),
    ));
    if spec.update_policy.as_ref().is_some_and(|p| p.stop_apps) {
        let message = format!(
            "stopping apps {} so that {} can change",
            names.join(", "),
            fields.join(", ")
        );
        decided.want(Want::true_(UPDATE_BLOCKED, "StoppingApps", message.clone()));
        let running = blocking
            .iter()
            .filter(|a| a.is_running())
            .map(|a| (*a).clone())
            .collect();
        decided.steps.push(Step::StopApps(running));
        decided.end(End::Progress {
            reason: "StoppingApps",
            message,
        })
    } else {
        let message = format!(
            "{} can change only while no app runs; running: {}. Stop them, or set spec.updatePolicy.stopApps: true",
            fields.join(", "),
            names.join(", ")
        );
        decided.want(Want::true_(UPDATE_BLOCKED, "AppsRunning", message.clone()));
        decided.end(End::Blocked {
            reason: "UpdateBlocked",
            message,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;
    use crate::api::RecreationPolicy;

    /// One row of `tests/fixtures/decisions/domains.yaml`.
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    struct Row {
        row: String,
        #[serde(default)]
        guardrails: Option<String>,
        #[serde(default)]
        references: Option<String>,
        #[serde(default)]
        key: Option<String>,
        #[serde(default)]
        recreation: Option<String>,
        #[serde(default)]
        domain: Option<String>,
        #[serde(default)]
        adopt: bool,
        #[serde(default)]
        reporter: Option<String>,
        #[serde(default)]
        name: Option<String>,
        #[serde(default)]
        differs: Vec<String>,
        #[serde(default)]
        policy: Option<String>,
        #[serde(default)]
        approved: bool,
        #[serde(default)]
        claim: Option<String>,
        #[serde(default)]
        created_with: Option<String>,
        #[serde(default)]
        survey: Option<String>,
        #[serde(default)]
        apps: Option<String>,
        #[serde(default)]
        stop_apps: bool,
        expect: Expect,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Expect {
        end: String,
        #[serde(default)]
        reason: Option<String>,
        #[serde(default)]
        steps: Vec<String>,
    }

    fn spec(row: &Row) -> StudioDomainSpec {
        let mut spec: StudioDomainSpec = serde_json::from_value(serde_json::json!({
            "aws": {"region": "us-east-1"},
            "network": {"vpcId": "vpc-0a1b2c3d", "subnetIds": ["subnet-1111aaaa", "subnet-2222bbbb"]},
            "encryption": {"kmsKeyId": "alias/studio"},
            "defaultUserSettings": {"executionRole": "arn:aws:iam::123456789012:role/Studio"},
            "tags": {"team": "platform"},
            "idleShutdown": {"idleTimeoutMinutes": 120, "activityReporter": row.reporter.as_deref().is_some_and(|r| r == "missing" || r == "ready")},
        }))
        .unwrap();
        spec.recreation_policy = match row.policy.as_deref().unwrap_or("Recreate") {
            "Recreate" => RecreationPolicy::Recreate,
            "Manual" => RecreationPolicy::Manual,
            "Never" => RecreationPolicy::Never,
            other => panic!("unknown policy {other}"),
        };
        if row.adopt {
            spec.adopt = serde_json::from_value(serde_json::json!({"domainId": "d-1"})).unwrap();
        }
        if row.stop_apps {
            spec.update_policy = serde_json::from_value(serde_json::json!({"stopApps": true})).unwrap();
        }
        spec
    }

    fn key(row: &Row) -> Result<KeyInfo, KeyProblem> {
        match row.key.as_deref().unwrap_or("ok") {
            "ok" => Ok(KeyInfo {
                key_id: "k1".into(),
                arn: "arn:aws:kms:us-east-1:123456789012:key/k1".into(),
                key_state: "Enabled".into(),
                enabled: true,
                key_manager: "CUSTOMER".into(),
                key_spec: "SYMMETRIC_DEFAULT".into(),
                key_usage: "ENCRYPT_DECRYPT".into(),
            }),
            "NotFound" => Err(KeyProblem::NotFound("no such key".into())),
            "NotCustomerManaged" => Err(KeyProblem::NotCustomerManaged),
            "NotEnabled" => Err(KeyProblem::NotEnabled("Disabled".into())),
            "AwsManagedAlias" => Err(KeyProblem::AwsManagedAlias),
            other => panic!("unknown key {other}"),
        }
    }

    fn reporter(row: &Row) -> ReporterFacts {
        let wanted = BTreeMap::from([
            ("JupyterLab", "studio-operator-activity-jupyterlab-new".to_string()),
            (
                "KernelGateway",
                "studio-operator-activity-kernelgateway-new".to_string(),
            ),
        ]);
        let arns = wanted
            .values()
            .map(|name| {
                (
                    name.clone(),
                    format!("arn:aws:sagemaker:us-east-1:123456789012:studio-lifecycle-config/{name}"),
                )
            })
            .collect();
        match row.reporter.as_deref().unwrap_or("off") {
            "off" => ReporterFacts::default(),
            "missing" => ReporterFacts {
                wanted,
                ..Default::default()
            },
            "ready" => ReporterFacts {
                recorded: wanted.values().cloned().collect(),
                wanted,
                existing: arns,
                ..Default::default()
            },
            "stale" => ReporterFacts {
                recorded: vec!["studio-operator-activity-jupyterlab-old".into()],
                ..Default::default()
            },
            "squatted" => ReporterFacts {
                foreign: wanted
                    .values()
                    .map(|name| (name.clone(), "its script is not the activity reporter's".into()))
                    .collect(),
                wanted,
                existing: arns,
                ..Default::default()
            },
            other => panic!("unknown reporter {other}"),
        }
    }

    /// The domain AWS would hold for `desired`, with the row's differences.
    fn observed(row: &Row, desired: &DomainCreate, status: &str) -> ObservedDomain {
        let mut observed = ObservedDomain {
            id: "d-1".into(),
            arn: "arn:aws:sagemaker:us-east-1:123456789012:domain/d-1".into(),
            name: desired.name.clone(),
            status: status.into(),
            auth_mode: desired.auth_mode.clone(),
            vpc_id: Some(desired.vpc_id.clone()),
            subnet_ids: desired.subnet_ids.clone(),
            access_type: Some(desired.access_type.clone()),
            kms_key_id: Some(desired.kms_key_id.clone()),
            tag_propagation: desired.tag_propagation,
            default_user_settings: desired.default_user_settings.clone(),
            default_space_settings: desired.default_space_settings.clone(),
            domain_settings: desired.domain_settings.clone(),
            ..Default::default()
        };
        for differs in &row.differs {
            match differs.as_str() {
                "domainName" => observed.name = "old-name".into(),
                "authMode" => observed.auth_mode = "SSO".into(),
                "vpc" => observed.vpc_id = Some("vpc-other".into()),
                "kmsKey" | "awsKms" => observed.kms_key_id = Some("arn:aws:kms:us-east-1:123456789012:key/k2".into()),
                "region" | "awsSilent" => {
                    if differs == "awsSilent" {
                        observed.vpc_id = None;
                        observed.kms_key_id = None;
                    }
                }
                "userSettings" => {
                    observed
                        .default_user_settings
                        .insert("ExecutionRole".into(), "arn:aws:iam::123456789012:role/Console".into());
                }
                "unmanagedSettings" => {
                    observed.default_user_settings.insert(
                        "KernelGatewayAppSettings".into(),
                        serde_json::json!({"CustomImages": [{"ImageName": "console", "AppImageConfigName": "c"}]}),
                    );
                }
                "roleIdentity" => {
                    observed
                        .domain_settings
                        .insert("ExecutionRoleIdentityConfig".into(), "USER_PROFILE_NAME".into());
                }
                "subnetAdded" => observed.subnet_ids.truncate(1),
                "subnetRemoved" => observed.subnet_ids.push("subnet-3333cccc".into()),
                "accessType" => observed.access_type = Some("VpcOnly".into()),
                "tags" => {}
                other => panic!("{}: unknown difference {other}", row.row),
            }
        }
        observed
    }

    /// The spec's immutable settings before the row's spec changes (what status records).
    fn created_with(row: &Row, spec: &StudioDomainSpec) -> Option<ImmutableSettings> {
        let mut created = rules::immutable_settings(spec, "studio");
        for differs in &row.differs {
            match differs.as_str() {
                "domainName" => created.domain_name = "old-name".into(),
                "authMode" => created.auth_mode = "SSO".into(),
                "vpc" => created.vpc_id = "vpc-other".into(),
                "kmsKey" => created.kms_key_id = "alias/previous".into(),
                "region" => created.region = "eu-west-1".into(),
                _ => {}
            }
        }
        match row.created_with.as_deref().unwrap_or("recorded") {
            "recorded" => Some(created),
            "unknown" => None,
            other => panic!("unknown created_with {other}"),
        }
    }

    fn plan(row: &Row) -> Plan {
        let spec = spec(row);
        let allowed = row.guardrails.as_deref() != Some("enforced");
        let guardrails = GuardrailFacts {
            condition: if allowed {
                Want::false_("GuardrailViolation", "Compliant", "complies")
            } else {
                Want::true_("GuardrailViolation", "Enforced", "requireVpcOnly: PublicInternetOnly")
            },
            allowed,
            ui: Default::default(),
        };
        let ownership = BTreeMap::from([(ownership::TAG_UID.to_string(), "uid-1".to_string())]);
        let mut facts = Facts {
            guardrails,
            key: key(row),
            backup_key: None,
            backup_prefix: None,
            recreation: row.recreation.as_ref().map(|phase| RecreationStatus {
                phase: phase.clone(),
                old_domain_id: "d-old".into(),
                ..Default::default()
            }),
            domain: None,
            tags: BTreeMap::new(),
            claim: None,
            created_with: created_with(row, &spec),
            ownership,
            reporter: reporter(row),
            apps: Vec::new(),
            pending_approval: None,
            approval: None,
            references: match row.references.as_deref() {
                None | Some("resolved") => Ok(Resolution::default()),
                Some("not-ready") => Err(Blocker::Waiting(crate::controller::member::decide::Problem::new(
                    "WaitingForReference",
                    "not Ready",
                ))),
                Some("missing") => Err(Blocker::Stalled(crate::controller::member::decide::Problem::new(
                    "ReferenceNotFound",
                    "no such",
                ))),
                Some(other) => panic!("unknown references {other}"),
            },
            name_taken: match row.name.as_deref().unwrap_or("free") {
                "unknown" => None,
                "free" => Some(None),
                "taken" => Some(Some("d-other".into())),
                other => panic!("unknown name {other}"),
            },
            survey: match row.survey.as_deref().unwrap_or("unknown") {
                "unknown" => None,
                "clean" => Some(Survey::default()),
                "unmanaged" => Some(Survey {
                    unmanaged: vec!["user profile console-user".into()],
                    backup: vec![MemberBackup {
                        kind: super::super::recreate::KIND_PROFILE.into(),
                        name: "console-user".into(),
                        ..Default::default()
                    }],
                    ..Default::default()
                }),
                "dataloss" => Some(Survey {
                    data_loss: vec!["lab".into()],
                    backup: vec![MemberBackup {
                        kind: super::super::recreate::KIND_SPACE.into(),
                        name: "lab".into(),
                        space_data: Some("EBS 20 GB, DATA LOST: never backed up".into()),
                        ..Default::default()
                    }],
                    ..Default::default()
                }),
                other => panic!("unknown survey {other}"),
            },
            managed: Vec::new(),
        };
        if row.apps.as_deref() == Some("running") {
            facts.apps = vec![AppSummary {
                app_type: "JupyterLab".into(),
                app_name: "default".into(),
                user_profile: Some("alice".into()),
                status: "InService".into(),
                ..Default::default()
            }];
        }
        let status = row.domain.as_deref().unwrap_or("InService");
        if status != "absent" {
            facts.claim = Some(match row.claim.as_deref().unwrap_or("ours") {
                "ours" => Claim::Ours,
                "adopt" => Claim::Adopt,
                "other" => Claim::TakenBy("platform/shared".into()),
                "unmanaged" => Claim::Unmanaged,
                other => panic!("unknown claim {other}"),
            });
        }
        if status != "absent"
            && let Ok(key) = &facts.key
        {
            let desired = desired(&spec, "studio".into(), key, &facts);
            facts.tags = desired.tags.clone();
            if row.differs.iter().any(|d| d == "tags") {
                facts.tags.remove("team");
            }
            facts.domain = Some(observed(row, &desired, status));
        } else if status != "absent" {
            facts.domain = Some(ObservedDomain {
                id: "d-1".into(),
                status: status.into(),
                ..Default::default()
            });
        }
        let plan = decide(&spec, "studio", "studio", &facts);
        if !row.approved {
            return plan;
        }
        // Approved: the request the operator made, with its token, and the annotation carrying
        // that token.
        let request = plan
            .steps
            .iter()
            .find_map(|step| match step {
                Step::RequestApproval(request) => Some(request.clone()),
                _ => None,
            })
            .unwrap_or_default();
        facts.pending_approval = Some(ApprovalRequest {
            token: "t0k3n".into(),
            ..request
        });
        facts.approval = Some("t0k3n".into());
        decide(&spec, "studio", "studio", &facts)
    }

    fn summary(plan: &Plan) -> (String, Option<String>, Vec<String>) {
        let (end, reason) = match &plan.end {
            End::Need(Need::NameConflict) => ("Need", Some("NameConflict")),
            End::Need(Need::Survey) => ("Need", Some("Survey")),
            End::Ready { .. } => ("Ready", Some("InService")),
            End::Progress { reason, .. } => ("Progress", Some(*reason)),
            End::Blocked { reason, .. } => ("Blocked", Some(*reason)),
            End::Stalled { reason, .. } => ("Stalled", Some(*reason)),
        };
        let steps = plan
            .steps
            .iter()
            .map(|s| match s {
                Step::CreateReporterConfigs(_) => "CreateReporterConfigs",
                Step::Create(..) => "Create",
                Step::Adopt => "Adopt",
                Step::RecordCreatedWith(_) => "RecordCreatedWith",
                Step::RequestApproval(_) => "RequestApproval",
                Step::ContinueRecreation => "ContinueRecreation",
                Step::StartRecreation { .. } => "StartRecreation",
                Step::FinishRecreation => "FinishRecreation",
                Step::StopApps(_) => "StopApps",
                Step::Update { .. } => "Update",
                Step::Tag { .. } => "Tag",
                Step::DeleteReporterConfigs(_) => "DeleteReporterConfigs",
            })
            .map(String::from)
            .collect();
        (end.into(), reason.map(String::from), steps)
    }

    #[test]
    fn decision_table() {
        let rows: Vec<Row> =
            serde_norway::from_str(include_str!("../../../tests/fixtures/decisions/domains.yaml")).unwrap();
        assert!(rows.len() >= 30, "the table covers every reason");
        for row in &rows {
            let plan = plan(row);
            let (end, reason, steps) = summary(&plan);
            assert_eq!(
                (end.as_str(), reason.as_deref(), steps),
                (
                    row.expect.end.as_str(),
                    row.expect.reason.as_deref(),
                    row.expect.steps.clone()
                ),
                "row: {}\nplan: {plan:#?}",
                row.row
            );
        }
    }

    #[test]
    fn an_approval_request_lists_what_goes_and_takes_no_generation() {
        let row: Row = serde_norway::from_str(
            "{row: r, differs: [vpc], survey: unmanaged, expect: {end: Stalled, reason: RecreationBlocked}}",
        )
        .unwrap();
        let plan = plan(&row);
        let Some(Step::RequestApproval(request)) = plan.steps.first() else {
            panic!("{plan:#?}")
        };
        assert!(request.action.contains("network.vpcId"), "{request:?}");
        assert_eq!(
            request.deletes,
            [
                "user profile console-user (not managed by studio-operator)",
                "domain d-1 (EFS - retained)"
            ]
        );
        let data_loss: Row =
            serde_norway::from_str("{row: r, differs: [vpc], survey: dataloss, expect: {end: Stalled}}").unwrap();
        let Some(Step::RequestApproval(request)) = super::tests::plan(&data_loss).steps.first().cloned() else {
            panic!("no approval request for a data loss")
        };
        assert_eq!(request.deletes[0], "space lab (EBS 20 GB, DATA LOST: never backed up)");
        let End::Stalled { message, .. } = &plan.end else {
            panic!()
        };
        assert!(message.contains(&format!("approve-recreation={TOKEN}")), "{message}");
    }

    #[test]
    fn messages_say_what_to_do() {
        let row: Row = serde_norway::from_str(
            "{row: r, differs: [vpc], policy: Manual, survey: clean, expect: {end: Stalled, reason: AwaitingApproval}}",
        )
        .unwrap();
        let End::Stalled { message, .. } = plan(&row).end else {
            panic!()
        };
        assert!(
            message.contains("network.vpcId cannot change in AWS")
                && message.contains(&format!(
                    "kubectl annotate studiodomain studio studio-operator.io/approve-recreation={TOKEN}"
                )),
            "{message}"
        );
        let blocked: Row = serde_norway::from_str(
            "{row: r, differs: [accessType], apps: running, expect: {end: Blocked, reason: UpdateBlocked}}",
        )
        .unwrap();
        let End::Blocked { message, .. } = plan(&blocked).end else {
            panic!()
        };
        assert!(
            message.contains("running: alice/JupyterLab/default") && message.contains("updatePolicy.stopApps"),
            "{message}"
        );
    }
}
