//! The decisions of a member's pass, as data: [`decide`] takes what was observed and returns the
//! [`Plan`] (the conditions, the AWS steps in order, and how the pass ends). Pure; the decision
//! table is unit-tested below, row by row.

use std::collections::BTreeMap;

use super::MemberKind;
use crate::api::SettingsStatus;
use crate::api::condition_type::{DOMAIN_READY, SYNCED};
use crate::compliance::UiRestrictions;
use crate::controller::memory::Observed;
use crate::controller::reference::Resolved;
use crate::ownership::{self, Claim, Owner};
use crate::status::Want;

/// A reason and a message for a condition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// CamelCase reason.
    pub reason: &'static str,
    /// What is wrong and what to do.
    pub message: String,
}

impl Problem {
    /// A problem with this reason and message.
    pub fn new(reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
        }
    }
}

/// What the covering guardrails say about the spec.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GuardrailFacts {
    /// The `GuardrailViolation` condition.
    pub condition: Want,
    /// False when an enforcing guardrail is broken: nothing may change in AWS.
    pub allowed: bool,
    /// What the enforcing guardrails hide in the Studio UI.
    pub ui: UiRestrictions,
}

/// What the member holds in AWS.
#[derive(Clone, Debug, PartialEq)]
pub enum InAws<O> {
    /// The operator just created it; the domain's listing cannot tell more yet.
    BeingCreated,
    /// It does not exist; creation must wait for `blocker` if given.
    Absent { blocker: Option<Blocker> },
    /// It exists, with these tags.
    Present {
        observed: O,
        tags: BTreeMap<String, String>,
    },
}

/// Why a creation cannot start yet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Blocker {
    /// Something else must happen first (another resource becomes ready): wait.
    Waiting(Problem),
    /// Nothing will happen by itself: a person must change the spec.
    Stalled(Problem),
}

/// Everything a member's pass decides from.
#[derive(Clone, Debug)]
pub struct Facts<O> {
    /// The referenced StudioDomain.
    pub domain: Resolved,
    /// The guardrails' verdict, once the domain is known.
    pub guardrails: Option<GuardrailFacts>,
    /// What the spec lacks for its domain (an SSO identity, an owner, a role).
    pub precondition: Option<Problem>,
    /// Why the spec's references to StudioLifecycleConfigs and StudioImages do not resolve.
    pub references: Option<Blocker>,
    /// The name the spec asks for in AWS.
    pub name: String,
    /// The domain id and name status recorded (where the member was created).
    pub recorded: (Option<String>, Option<String>),
    /// The object that manages the member (its ownership tags).
    pub owner: Owner,
    /// Whether the spec asks to adopt an unmanaged member of that name.
    pub adopt: bool,
    /// What AWS holds; `None` until the gates passed and AWS was asked.
    pub aws: Option<InAws<O>>,
    /// The settings paths status records as managed.
    pub managed: Vec<String>,
}

/// One step in AWS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Create the member the spec asks for.
    Create,
    /// Delete the member `name` (in order: apps, what it owns, itself), because `reason`; the
    /// member the spec asks for is created once it is gone.
    Retire { name: String, reason: String },
    /// The member is adopted (announced once per pass that adopts).
    Adopt,
    /// Update these settings (the spec field names).
    Update { fields: Vec<String> },
    /// Change the tags.
    Tag {
        add: BTreeMap<String, String>,
        remove: Vec<String>,
    },
}

/// How a pass ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum End {
    /// The gates passed: look in AWS, then decide again.
    LookInAws { domain_id: String },
    /// AWS matches the spec.
    Ready { message: String },
    /// Work is under way in AWS: poll.
    Progress { reason: &'static str, message: String },
    /// Waiting for something else to change: back off up to the resync.
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
    /// How the pass ends (the steps may refine it: a retirement reports its own progress).
    pub end: End,
    /// The member found in AWS is this resource's: record it in status.
    pub record: bool,
    /// What the operator manages of the settings once the steps succeeded (recorded in status).
    pub settings: Option<SettingsStatus>,
}

impl Plan {
    fn new(end: End) -> Self {
        Self {
            conditions: Vec::new(),
            steps: Vec::new(),
            end,
            record: false,
            settings: None,
        }
    }

    fn with(mut self, condition: Want) -> Self {
        self.conditions.push(condition);
        self
    }
}

/// The conditions reported so far, which every later row keeps.
struct Decided(Vec<Want>);

impl Decided {
    fn end(self, end: End) -> Plan {
        self.steps(Vec::new(), end)
    }

    fn steps(self, steps: Vec<Step>, end: End) -> Plan {
        Plan {
            conditions: self.0,
            steps,
            end,
            record: false,
            settings: None,
        }
    }

    /// Ends a pass over a member that is this resource's (so status records it).
    fn ours(self, steps: Vec<Step>, end: End) -> Plan {
        Plan {
            record: true,
            ..self.steps(steps, end)
        }
    }
}

/// Decides a member's pass (pure). `desired` is what the spec asks for in AWS.
pub fn decide<K: MemberKind>(desired: &K::Desired, facts: &Facts<K::Observed>) -> Plan {
    let (decided, domain_id) = match gates::<K>(facts) {
        Ok(passed) => passed,
        Err(plan) => return *plan,
    };
    let name = &facts.name;
    if let (Some(id), Some(old)) = &facts.recorded
        && *id == domain_id
        && old != name
    {
        return decided.steps(
            vec![Step::Retire {
                name: old.clone(),
                reason: format!("{} changed", K::NAME_FIELD),
            }],
            End::Progress {
                reason: "Recreating",
                message: format!("recreating {} {old} as {name}", K::NOUN),
            },
        );
    }
    match &facts.aws {
        None => decided.end(End::LookInAws { domain_id }),
        Some(InAws::Present { observed, tags }) => {
            decide_present::<K>(decided, desired, facts, &domain_id, observed, tags)
        }
        Some(absent) => {
            let creating = || End::Progress {
                reason: "Creating",
                message: format!("{} {name} is being created", K::NOUN),
            };
            match absent {
                InAws::Absent {
                    blocker: Some(Blocker::Waiting(problem)),
                } => decided.end(End::Blocked {
                    reason: problem.reason,
                    message: problem.message.clone(),
                }),
                InAws::Absent {
                    blocker: Some(Blocker::Stalled(problem)),
                } => decided.end(End::Stalled {
                    reason: problem.reason,
                    message: problem.message.clone(),
                }),
                InAws::Absent { blocker: None } => Plan {
                    settings: Some(SettingsStatus {
                        managed_paths: K::managed_paths(desired),
                        unmanaged_paths: Vec::new(),
                    }),
                    ..decided.steps(vec![Step::Create], creating())
                },
                _ => decided.end(creating()),
            }
        }
    }
}

/// What must hold before AWS is asked anything: the domain exists, admits the namespace and is
/// Ready, the guardrails allow the spec, and the spec has what its domain needs. Returns the
/// conditions so far and the domain id, or the plan that ends the pass (boxed: a plan is large
/// and the gates pass far more often than not).
fn gates<K: MemberKind>(facts: &Facts<K::Observed>) -> Result<(Decided, String), Box<Plan>> {
    let target = match &facts.domain {
        Resolved::NotFound(message) => {
            return Err(Box::new(
                Plan::new(End::Blocked {
                    reason: "WaitingForDomain",
                    message: message.clone(),
                })
                .with(Want::false_(DOMAIN_READY, "DomainNotFound", message.clone())),
            ));
        }
        Resolved::Denied(message, _) => {
            return Err(Box::new(
                Plan::new(End::Stalled {
                    reason: "ReferenceDenied",
                    message: message.clone(),
                })
                .with(Want::false_(DOMAIN_READY, "ReferenceDenied", message.clone())),
            ));
        }
        Resolved::Found(target) => target,
    };
    let mut decided = Decided(Vec::new());
    if let Some(guardrails) = &facts.guardrails {
        decided.0.push(guardrails.condition.clone());
        if !guardrails.allowed {
            let message = format!(
                "{}; nothing is changed in AWS until the spec complies",
                guardrails.condition.message
            );
            return Err(Box::new(decided.end(End::Stalled {
                reason: "GuardrailViolation",
                message,
            })));
        }
    }
    let domain_id = match &target.ready {
        Ok(id) => id.clone(),
        Err(message) => {
            decided
                .0
                .push(Want::false_(DOMAIN_READY, "DomainNotReady", message.clone()));
            return Err(Box::new(decided.end(End::Blocked {
                reason: "WaitingForDomain",
                message: message.clone(),
            })));
        }
    };
    decided.0.push(Want::true_(
        DOMAIN_READY,
        "DomainReady",
        format!("StudioDomain {} ({domain_id}) is Ready", target.key),
    ));
    if let Some(problem) = &facts.precondition {
        return Err(Box::new(decided.end(End::Stalled {
            reason: problem.reason,
            message: problem.message.clone(),
        })));
    }
    match &facts.references {
        Some(Blocker::Stalled(problem)) => Err(Box::new(decided.end(End::Stalled {
            reason: problem.reason,
            message: problem.message.clone(),
        }))),
        Some(Blocker::Waiting(problem)) => Err(Box::new(decided.end(End::Blocked {
            reason: problem.reason,
            message: problem.message.clone(),
        }))),
        None => Ok((decided, domain_id)),
    }
}

/// The member exists: whose it is, where it stands, and what must change.
fn decide_present<K: MemberKind>(
    decided: Decided,
    desired: &K::Desired,
    facts: &Facts<K::Observed>,
    domain_id: &str,
    observed: &K::Observed,
    tags: &BTreeMap<String, String>,
) -> Plan {
    let name = &facts.name;
    let mut steps = Vec::new();
    match ownership::claim(&facts.owner, tags, facts.adopt) {
        Claim::Ours => {}
        Claim::Adopt => {
            let differences = adoption_differences::<K>(desired, observed, tags);
            if !differences.is_empty() {
                return decided.end(End::Stalled {
                    reason: "AdoptionWouldRecreate",
                    message: format!(
                        "adopting {} {name} would need it recreated or re-identified, which adoption never does: {}; change the spec to match it, or leave it unadopted",
                        K::NOUN,
                        differences.join("; ")
                    ),
                });
            }
            steps.push(Step::Adopt);
        }
        claim => return decided.end(conflict::<K>(&claim, name, domain_id, &facts.owner.namespace)),
    }
    let details = observed.details();
    match details.status.as_str() {
        "InService" => {}
        "Failed" => {
            let why = details.failure_reason.as_deref().unwrap_or("no reason given");
            let kind = K::kind(&());
            let message = format!(
                "AWS reports {} {name} Failed: {why}; delete the {kind} to start over",
                K::NOUN
            );
            return decided.ours(
                steps,
                End::Stalled {
                    reason: K::FAILED_REASON,
                    message,
                },
            );
        }
        other => {
            let message = format!("{} {name} is {other}", K::NOUN);
            return decided.ours(
                steps,
                End::Progress {
                    reason: "AwsTransition",
                    message,
                },
            );
        }
    }
    let recreation = K::recreation_reasons(desired, observed);
    if !recreation.is_empty() {
        let what = recreation.join(", ");
        steps.push(Step::Retire {
            name: name.clone(),
            reason: format!("{what} changed"),
        });
        let message = format!("recreating {} {name} because {what} changed", K::NOUN);
        return decided.ours(
            steps,
            End::Progress {
                reason: "Recreating",
                message,
            },
        );
    }
    decide_changes::<K>(decided, steps, desired, facts, observed, tags, domain_id)
}

/// What adopting a member would have to change about it. Adoption takes a member as it is: it
/// never recreates (deletes) it to make it fit, and never hands it to another identity.
fn adoption_differences<K: MemberKind>(
    desired: &K::Desired,
    observed: &K::Observed,
    tags: &BTreeMap<String, String>,
) -> Vec<String> {
    let mut differences: Vec<String> = K::recreation_reasons(desired, observed)
        .into_iter()
        .map(|field| format!("{field} differs from the existing {}", K::NOUN))
        .collect();
    for key in K::IDENTITY_TAGS {
        if let (Some(existing), Some(wanted)) = (tags.get(*key), K::desired_tags(desired).get(*key))
            && existing != wanted
        {
            differences.push(format!("its {key} tag is {existing}, the spec would make it {wanted}"));
        }
    }
    differences
}

/// Why this resource must not manage a member another object (or nobody) owns.
/// The other owner is named only when it is in this resource's own namespace of this cluster:
/// another tenant's namespace and names are not disclosed.
fn conflict<K: MemberKind>(claim: &Claim, name: &str, domain_id: &str, own_namespace: &str) -> End {
    let message = match claim {
        Claim::TakenBy(other) => {
            let same_namespace = !other.contains(" of cluster ")
                && other
                    .split_once('/')
                    .is_some_and(|(namespace, _)| namespace == own_namespace);
            let holder = if same_namespace {
                format!("{} {other}", K::kind(&()))
            } else {
                "a resource of another namespace or cluster (ask the platform team which)".to_string()
            };
            format!(
                "{} {name} in domain {domain_id} belongs to {holder}; choose another {}",
                K::NOUN,
                K::NAME_FIELD
            )
        }
        _ => format!(
            "{} {name} exists in domain {domain_id} and is not managed by studio-operator; set adopt: true to take it over",
            K::NOUN
        ),
    };
    End::Stalled {
        reason: "Conflict",
        message,
    }
}

/// The member is ours and InService: update what differs, or report it Ready.
fn decide_changes<K: MemberKind>(
    mut decided: Decided,
    mut steps: Vec<Step>,
    desired: &K::Desired,
    facts: &Facts<K::Observed>,
    observed: &K::Observed,
    tags: &BTreeMap<String, String>,
    domain_id: &str,
) -> Plan {
    let fields = K::updates(desired, observed, &facts.managed);
    let settings = K::settings(desired, observed, &facts.managed);
    let settings = Some(SettingsStatus {
        managed_paths: settings.managed,
        unmanaged_paths: settings.unmanaged,
    });
    let (add, remove) = ownership::tag_changes(K::desired_tags(desired), tags);
    let mut changed = fields.clone();
    if !fields.is_empty() {
        steps.push(Step::Update { fields });
    }
    if !add.is_empty() || !remove.is_empty() {
        changed.push("tags".into());
        steps.push(Step::Tag { add, remove });
    }
    if !changed.is_empty() {
        let message = format!("updating {}", changed.join(", "));
        decided.0.push(Want::false_(SYNCED, "Updating", message.clone()));
        let end = End::Progress {
            reason: "Updating",
            message,
        };
        return Plan {
            settings,
            ..decided.ours(steps, end)
        };
    }
    decided.0.push(Want::true_(SYNCED, "InSync", "AWS matches the spec"));
    let end = End::Ready {
        message: format!("{} {} is InService in domain {domain_id}", K::NOUN, facts.name),
    };
    Plan {
        settings,
        ..decided.ours(steps, end)
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;
    use crate::api::{AuthMode, AwsTarget, SharedSpace, UserProfile};
    use crate::aws::model::{ObservedProfile, ObservedSpace};
    use crate::controller::reference::DomainTarget;

    /// One row of `tests/fixtures/decisions/members.yaml`.
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Row {
        row: String,
        kind: String,
        #[serde(default)]
        domain: Option<String>,
        #[serde(default)]
        guardrails: Option<String>,
        #[serde(default)]
        precondition: Option<String>,
        #[serde(default)]
        references: Option<String>,
        #[serde(default)]
        recorded: Option<String>,
        #[serde(default)]
        aws: Option<String>,
        #[serde(default)]
        claim: Option<String>,
        #[serde(default)]
        status: Option<String>,
        #[serde(default)]
        differs: Vec<String>,
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

    fn owner() -> Owner {
        Owner {
            cluster: "c1".into(),
            namespace: "team".into(),
            name: "alice".into(),
            uid: "uid-alice".into(),
        }
    }

    fn target(ready: Result<String, String>) -> DomainTarget {
        DomainTarget {
            key: "platform/studio".into(),
            namespace: "platform".into(),
            name: "studio".into(),
            labels: BTreeMap::new(),
            aws: AwsTarget {
                region: "us-east-1".into(),
                role_arn: None,
            },
            auth_mode: AuthMode::Iam,
            space_execution_role: Some("arn:aws:iam::123456789012:role/Space".into()),
            profiles_need_security_groups: false,
            ready,
            space_backup: None,
            restore_from: BTreeMap::new(),
            idle_bounds: (None, None),
            name_policy: Default::default(),
        }
    }

    fn guardrails(verdict: &str) -> GuardrailFacts {
        match verdict {
            "compliant" => GuardrailFacts {
                condition: Want::false_("GuardrailViolation", "Compliant", "complies"),
                allowed: true,
                ui: UiRestrictions::default(),
            },
            "audited" => GuardrailFacts {
                condition: Want::true_("GuardrailViolation", "Audited", "allowedInstanceTypes: ml.p4d"),
                allowed: true,
                ui: UiRestrictions::default(),
            },
            "enforced" => GuardrailFacts {
                condition: Want::true_("GuardrailViolation", "Enforced", "allowedInstanceTypes: ml.p4d"),
                allowed: false,
                ui: UiRestrictions::default(),
            },
            other => panic!("unknown guardrails {other}"),
        }
    }

    /// The tags AWS shows for a claim, from the tags the spec wants.
    fn tags_for(claim: &str, desired: &BTreeMap<String, String>, differs: &[String]) -> BTreeMap<String, String> {
        let mut tags = desired.clone();
        match claim {
            "ours" => {}
            "adopt" | "unmanaged" => tags.retain(|k, _| !ownership::KEYS.contains(&k.as_str())),
            "other" => {
                tags.insert(ownership::TAG_UID.into(), "uid-other".into());
                tags.insert(ownership::TAG_NAME.into(), "bob".into());
            }
            other => panic!("unknown claim {other}"),
        }
        if differs.iter().any(|d| d == "tags") {
            tags.remove("team");
        }
        if differs.iter().any(|d| d == "userId") {
            tags.insert("studiouserid".into(), "bob".into());
        }
        tags
    }

    fn facts<O>(row: &Row, aws: Option<InAws<O>>) -> Facts<O> {
        let domain = match row.domain.as_deref().unwrap_or("ready") {
            "missing" => Resolved::NotFound("StudioDomain platform/studio does not exist".into()),
            "denied" => Resolved::Denied(
                "StudioDomain platform/studio does not allow namespace team".into(),
                Box::new(target(Ok("d-1".into()))),
            ),
            "not-ready" => Resolved::Found(Box::new(target(
                Err("StudioDomain platform/studio is not ready".into()),
            ))),
            "ready" => Resolved::Found(Box::new(target(Ok("d-1".into())))),
            other => panic!("unknown domain {other}"),
        };
        Facts {
            domain,
            guardrails: Some(guardrails(row.guardrails.as_deref().unwrap_or("compliant"))),
            precondition: row
                .precondition
                .clone()
                .map(|reason| Problem::new(Box::leak(reason.into_boxed_str()), "the spec lacks something")),
            references: match row.references.as_deref() {
                None | Some("resolved") => None,
                Some("not-ready") => Some(Blocker::Waiting(Problem::new("WaitingForReference", "not Ready"))),
                Some("missing") => Some(Blocker::Stalled(Problem::new("ReferenceNotFound", "no such"))),
                Some(other) => panic!("unknown references {other}"),
            },
            name: "alice".into(),
            recorded: (
                Some("d-1".into()),
                Some(row.recorded.clone().unwrap_or_else(|| "alice".into())),
            ),
            owner: owner(),
            adopt: row.claim.as_deref() == Some("adopt"),
            aws,
            managed: Vec::new(),
        }
    }

    fn in_aws<O>(row: &Row, observed: O, tags: BTreeMap<String, String>) -> Option<InAws<O>> {
        let waiting = Problem::new("WaitingForOwner", "user profile alice is Pending");
        let stalled = Problem::new("OwnerProfileNotFound", "user profile alcie does not exist");
        match row.aws.as_deref().unwrap_or("present") {
            "unknown" => None,
            "being-created" => Some(InAws::BeingCreated),
            "absent" => Some(InAws::Absent { blocker: None }),
            "absent-waiting" => Some(InAws::Absent {
                blocker: Some(Blocker::Waiting(waiting)),
            }),
            "absent-stalled" => Some(InAws::Absent {
                blocker: Some(Blocker::Stalled(stalled)),
            }),
            "present" => Some(InAws::Present { observed, tags }),
            other => panic!("unknown aws {other}"),
        }
    }

    fn profile_plan(row: &Row) -> Plan {
        let profile: UserProfile = serde_json::from_value(serde_json::json!({
            "apiVersion": "studio-operator.io/v1alpha1", "kind": "UserProfile",
            "metadata": {"name": "alice", "namespace": "team"},
            "spec": {
                "domainRef": {"name": "studio", "namespace": "platform"},
                "sso": {"userValue": "alice@corp"},
                "userSettings": {"executionRole": "arn:aws:iam::123456789012:role/Alice"},
                "tags": {"team": "a"},
            },
        }))
        .unwrap();
        let desired = profile.desired(
            "alice".into(),
            owner().tags(),
            &UiRestrictions::default(),
            &Default::default(),
        );
        let mut observed = ObservedProfile {
            details: crate::aws::model::MemberDetails {
                name: "alice".into(),
                arn: "arn:aws:sagemaker:us-east-1:123456789012:user-profile/d-1/alice".into(),
                status: row.status.clone().unwrap_or_else(|| "InService".into()),
                ..Default::default()
            },
            sso_user_value: Some("alice@corp".into()),
            settings: desired.settings.clone(),
        };
        for differs in &row.differs {
            match differs.as_str() {
                "sso" => observed.sso_user_value = Some("alice@old".into()),
                "settings" => {
                    observed
                        .settings
                        .insert("ExecutionRole".into(), "arn:aws:iam::123456789012:role/Intruder".into());
                }
                "unmanagedSettings" => {
                    observed.settings.insert(
                        "JupyterLabAppSettings".into(),
                        serde_json::json!({"CustomImages": [{"ImageName": "console", "AppImageConfigName": "c"}]}),
                    );
                }
                "tags" | "userId" => {}
                other => panic!("{}: a profile cannot differ in {other}", row.row),
            }
        }
        let tags = tags_for(row.claim.as_deref().unwrap_or("ours"), &desired.tags, &row.differs);
        decide::<UserProfile>(&desired, &facts(row, in_aws(row, observed, tags)))
    }

    fn space_plan(row: &Row) -> Plan {
        let space: SharedSpace = serde_json::from_value(serde_json::json!({
            "apiVersion": "studio-operator.io/v1alpha1", "kind": "SharedSpace",
            "metadata": {"name": "alice", "namespace": "team"},
            "spec": {
                "domainRef": {"name": "studio", "namespace": "platform"},
                "displayName": "Lab",
                "appType": "JupyterLab",
                "sharing": {"type": "Shared", "ownerProfile": "alice"},
                "settings": {"idleTimeoutMinutes": 120},
                "tags": {"team": "a"},
            },
        }))
        .unwrap();
        let desired = space.desired(
            "alice".into(),
            owner().tags(),
            &UiRestrictions::default(),
            &Default::default(),
        );
        let mut observed = ObservedSpace {
            details: crate::aws::model::MemberDetails {
                name: "alice".into(),
                arn: "arn:aws:sagemaker:us-east-1:123456789012:space/d-1/alice".into(),
                status: row.status.clone().unwrap_or_else(|| "InService".into()),
                ..Default::default()
            },
            display_name: desired.display_name.clone(),
            owner: Some(desired.owner.clone()),
            sharing_type: Some(desired.sharing_type.clone()),
            settings: desired.settings.clone(),
        };
        for differs in &row.differs {
            match differs.as_str() {
                "owner" => observed.owner = Some("bob".into()),
                "sharing" => observed.sharing_type = Some("Private".into()),
                "appType" => {
                    observed.settings.insert("AppType".into(), "CodeEditor".into());
                }
                "settings" => {
                    observed.settings.insert(
                        "JupyterLabAppSettings".into(),
                        serde_json::json!({"AppLifecycleManagement": {"IdleSettings": {"IdleTimeoutInMinutes": 60}}}),
                    );
                }
                "unmanagedSettings" => {
                    observed.settings.insert("RemoteAccess".into(), "ENABLED".into());
                }
                "displayName" => observed.display_name = Some("Old".into()),
                "tags" => {}
                other => panic!("{}: a space cannot differ in {other}", row.row),
            }
        }
        let tags = tags_for(row.claim.as_deref().unwrap_or("ours"), &desired.tags, &row.differs);
        decide::<SharedSpace>(&desired, &facts(row, in_aws(row, observed, tags)))
    }

    fn summary(plan: &Plan) -> (String, Option<String>, Vec<String>) {
        let (end, reason) = match &plan.end {
            End::LookInAws { .. } => ("LookInAws", None),
            End::Ready { .. } => ("Ready", Some("InService")),
            End::Progress { reason, .. } => ("Progress", Some(*reason)),
            End::Blocked { reason, .. } => ("Blocked", Some(*reason)),
            End::Stalled { reason, .. } => ("Stalled", Some(*reason)),
        };
        let steps = plan
            .steps
            .iter()
            .map(|s| match s {
                Step::Create => "Create",
                Step::Retire { .. } => "Retire",
                Step::Adopt => "Adopt",
                Step::Update { .. } => "Update",
                Step::Tag { .. } => "Tag",
            })
            .map(String::from)
            .collect();
        (end.into(), reason.map(String::from), steps)
    }

    #[test]
    fn decision_table() {
        let rows: Vec<Row> =
            serde_norway::from_str(include_str!("../../../tests/fixtures/decisions/members.yaml")).unwrap();
        assert!(rows.len() >= 25, "the table covers every reason");
        for row in &rows {
            let plan = match row.kind.as_str() {
                "UserProfile" => profile_plan(row),
                "SharedSpace" => space_plan(row),
                other => panic!("unknown kind {other}"),
            };
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
    fn a_conflict_names_the_owner_and_the_way_out() {
        let row: Row = serde_norway::from_str(
            "{row: conflict, kind: UserProfile, claim: other, expect: {end: Stalled, reason: Conflict}}",
        )
        .unwrap();
        let End::Stalled { message, .. } = profile_plan(&row).end else {
            panic!()
        };
        assert!(
            message.contains("belongs to UserProfile team/bob")
                && message.contains("choose another spec.userProfileName"),
            "{message}"
        );
        let unmanaged: Row = serde_norway::from_str(
            "{row: unmanaged, kind: SharedSpace, claim: unmanaged, expect: {end: Stalled, reason: Conflict}}",
        )
        .unwrap();
        let End::Stalled { message, .. } = space_plan(&unmanaged).end else {
            panic!()
        };
        assert!(message.contains("set adopt: true"), "{message}");
        // Another tenant's namespace and name are not disclosed.
        let elsewhere = Claim::TakenBy("team-b/carol".into());
        let End::Stalled { message, .. } = conflict::<UserProfile>(&elsewhere, "carol", "d-1", "team") else {
            panic!()
        };
        assert!(
            !message.contains("team-b") && message.contains("another namespace"),
            "{message}"
        );
        let other_cluster = Claim::TakenBy("team/bob of cluster c2".into());
        let End::Stalled { message, .. } = conflict::<UserProfile>(&other_cluster, "bob", "d-1", "team") else {
            panic!()
        };
        assert!(!message.contains("c2"), "{message}");
    }

    #[test]
    fn only_a_member_that_is_ours_is_recorded_in_status() {
        let row = |claim: &str| -> Row {
            serde_norway::from_str(&format!(
                "{{row: r, kind: UserProfile, claim: {claim}, expect: {{end: Ready}}}}"
            ))
            .unwrap()
        };
        assert!(profile_plan(&row("ours")).record);
        assert!(profile_plan(&row("adopt")).record);
        assert!(
            !profile_plan(&row("other")).record,
            "another object's ARN is not copied"
        );
        assert!(!profile_plan(&row("unmanaged")).record);
    }
}
