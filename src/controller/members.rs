//! What the profile and space controllers share: the conditions of one pass, the trigger
//! filter, the apps a member runs, and deleting apps and spaces before their owner.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;
use kube::Resource;
use kube::runtime::events::EventType;

use super::ownership::Claim;
use super::reference::DomainTarget;
use super::{Context, ReconcileError};
use crate::api::condition_type::{READY, STALLED};
use crate::api::{GuardrailRules, RunningApp};
use crate::aws::model::AppSummary;
use crate::aws::{AwsError, AwsSession};
use crate::guardrail::{self, Finding, Verdict};
use crate::status::{self, Readiness, Want};

/// The conditions one pass wants to report.
#[derive(Default)]
pub struct Report {
    /// Conditions besides the kstatus trio.
    pub wanted: Vec<Want>,
    /// Ready / Reconciling / Stalled.
    pub readiness: Option<Readiness>,
}

impl Report {
    pub fn want(&mut self, want: Want) {
        self.wanted.push(want);
    }

    pub fn progressing(&mut self, reason: &str, message: impl Into<String>) {
        self.readiness = Some(Readiness::Progressing {
            reason: reason.into(),
            message: message.into(),
        });
    }

    pub fn stalled(&mut self, reason: &str, message: impl Into<String>) {
        self.readiness = Some(Readiness::Stalled {
            reason: reason.into(),
            message: message.into(),
        });
    }

    pub fn ready(&mut self, reason: &str, message: impl Into<String>) {
        self.readiness = Some(Readiness::Ready {
            reason: reason.into(),
            message: message.into(),
        });
    }

    /// The merged condition list for `generation`.
    pub fn conditions(&self, existing: &[Condition], generation: i64) -> Vec<Condition> {
        let mut wanted = self.wanted.clone();
        let readiness = self.readiness.clone().unwrap_or(Readiness::Progressing {
            reason: "Reconciling".into(),
            message: "reconciling".into(),
        });
        wanted.extend(readiness.conditions());
        status::merge_conditions(existing, &wanted, Some(generation), Timestamp::now())
    }
}

impl Report {
    /// Checks a member's spec against the guardrails that cover its domain and reports the
    /// `GuardrailViolation` condition. False when an enforcing guardrail is broken: then nothing
    /// may be created or changed in AWS.
    pub async fn guardrails(
        &mut self,
        ctx: &Context,
        domain: &DomainTarget,
        check: impl Fn(&GuardrailRules) -> Vec<Finding>,
    ) -> Result<bool, ReconcileError> {
        let guardrails = ctx.guardrails_for(&domain.namespace, &domain.labels).await?;
        let verdict = Verdict::of(&guardrails.iter().map(Arc::as_ref).collect::<Vec<_>>(), check);
        let (want, allowed) = guardrail::condition(&verdict);
        self.want(want);
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
}

/// A profile or space, as messages name it.
pub struct Member<'a> {
    /// "user profile" or "space".
    pub noun: &'a str,
    /// Its name in AWS.
    pub name: &'a str,
    /// The Kubernetes kind that manages it, e.g. `UserProfile`.
    pub kind: &'a str,
    /// The spec field that names it in AWS, e.g. `spec.userProfileName`.
    pub name_field: &'a str,
}

/// Why this resource must not manage an existing member, or `None` when it may.
pub fn conflict(claim: &Claim, member: &Member, domain_id: &str) -> Option<String> {
    let Member {
        noun,
        name,
        kind,
        name_field,
    } = member;
    match claim {
        Claim::Ours | Claim::Adopt => None,
        Claim::TakenBy(other) => Some(format!(
            "{noun} {name} in domain {domain_id} belongs to {kind} {other}; choose another {name_field}"
        )),
        Claim::Unmanaged => Some(format!(
            "{noun} {name} exists in domain {domain_id} and is not managed by studio-operator; set adopt: true to take it over"
        )),
    }
}

/// What a member's status in AWS means for this pass.
#[derive(Debug, PartialEq, Eq)]
pub enum Standing {
    /// InService: compare and update.
    InService,
    /// Failed: nothing but deleting the resource helps (reason, message).
    Failed(String, String),
    /// In transition: poll again.
    Transitioning(String),
}

/// Judges a member's AWS status.
pub fn standing(status: &str, failure_reason: Option<&str>, member: &Member) -> Standing {
    let Member { noun, name, kind, .. } = member;
    match status {
        "InService" => Standing::InService,
        "Failed" => Standing::Failed(
            format!("{kind}Failed"),
            format!(
                "AWS reports {noun} {name} Failed: {}; delete the {kind} to start over",
                failure_reason.unwrap_or("no reason given")
            ),
        ),
        other => Standing::Transitioning(format!("{noun} {name} is {other}")),
    }
}

/// `deletionPolicy: Retain`: removes only the ownership tags, so the member stays in AWS unmanaged.
pub async fn retain<K>(
    ctx: &Context,
    obj: &K,
    session: &AwsSession,
    arn: &str,
    member: &Member<'_>,
    domain_id: &str,
) -> Result<(), AwsError>
where
    K: Resource<DynamicType = ()>,
{
    session
        .delete_tags(arn, &super::ownership::KEYS.map(String::from))
        .await?;
    let message = format!(
        "{} {} left in domain {domain_id} (deletionPolicy Retain)",
        member.noun, member.name
    );
    ctx.event(obj, EventType::Normal, "Retained", message).await;
    Ok(())
}

/// Events on transitions only: a Warning named after the reason when the resource stalls
/// (Conflict, ReferenceDenied, ...), a Normal one when it becomes Ready.
pub async fn publish_transitions<K>(ctx: &Context, obj: &K, before: &[Condition], after: &[Condition])
where
    K: Resource<DynamicType = ()>,
{
    for transition in status::transitions(before, after) {
        if transition.type_ == STALLED && transition.status == "True" {
            ctx.event(obj, EventType::Warning, &transition.reason, transition.message.clone())
                .await;
        }
        if transition.type_ == READY && transition.status == "True" {
            ctx.event(obj, EventType::Normal, "Ready", transition.message.clone())
                .await;
        }
    }
}

/// A hash of what should trigger a reconcile: a spec change or deletion, not status writes.
pub fn spec_or_deletion<K: Resource>(obj: &K) -> Option<u64> {
    let mut hasher = DefaultHasher::new();
    obj.meta().generation.hash(&mut hasher);
    obj.meta().deletion_timestamp.is_some().hash(&mut hasher);
    Some(hasher.finish())
}

/// The running apps, for status.
pub fn running_apps<'a>(apps: impl IntoIterator<Item = &'a AppSummary>) -> Vec<RunningApp> {
    apps.into_iter()
        .filter(|a| a.is_running())
        .map(|a| RunningApp {
            app_type: a.app_type.clone(),
            app_name: a.app_name.clone(),
            instance_type: a.instance_type.clone(),
            since: a
                .created
                .and_then(|secs| Timestamp::from_millisecond((secs * 1000.0) as i64).ok())
                .map(Time),
        })
        .collect()
}

/// Deletes the apps that are still alive; returns what it waits for, or `None` when all are
/// gone (Deleted or Failed).
pub async fn delete_apps<'a>(
    session: &AwsSession,
    domain_id: &str,
    apps: impl IntoIterator<Item = &'a AppSummary>,
) -> Result<Option<String>, AwsError> {
    let alive: Vec<&AppSummary> = apps.into_iter().filter(|a| a.is_alive()).collect();
    if alive.is_empty() {
        return Ok(None);
    }
    for app in alive.iter().filter(|a| a.status != "Deleting") {
        session.delete_app(domain_id, app).await?;
    }
    Ok(Some(format!("deleting {} app(s)", alive.len())))
}

/// Deletes a space after its apps; returns what it waits for, or `None` once it is gone.
pub async fn delete_space(
    session: &AwsSession,
    domain_id: &str,
    space: &str,
    apps: &[AppSummary],
) -> Result<Option<String>, AwsError> {
    let its_apps = apps.iter().filter(|a| a.space.as_deref() == Some(space));
    if let Some(progress) = delete_apps(session, domain_id, its_apps).await? {
        return Ok(Some(format!("space {space}: {progress}")));
    }
    match session.describe_space(domain_id, space).await? {
        None => Ok(None),
        Some(details) => {
            if details.status != "Deleting" {
                session.delete_space(domain_id, space).await?;
            }
            Ok(Some(format!("deleting space {space}")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALICE: Member = Member {
        noun: "user profile",
        name: "alice",
        kind: "UserProfile",
        name_field: "spec.userProfileName",
    };

    #[test]
    fn conflicts_name_the_owner_or_the_way_to_adopt() {
        assert_eq!(conflict(&Claim::Ours, &ALICE, "d-1"), None);
        assert_eq!(conflict(&Claim::Adopt, &ALICE, "d-1"), None);
        let taken = conflict(&Claim::TakenBy("team-a/alice".into()), &ALICE, "d-1").unwrap();
        assert!(taken.contains("belongs to UserProfile team-a/alice") && taken.contains("spec.userProfileName"));
        assert!(
            conflict(&Claim::Unmanaged, &ALICE, "d-1")
                .unwrap()
                .contains("set adopt: true")
        );
    }

    #[test]
    fn standing_follows_the_aws_status() {
        assert_eq!(standing("InService", None, &ALICE), Standing::InService);
        let Standing::Failed(reason, message) = standing("Failed", Some("quota"), &ALICE) else {
            panic!()
        };
        assert_eq!(reason, "UserProfileFailed");
        assert!(message.contains("Failed: quota; delete the UserProfile"));
        assert_eq!(
            standing("Pending", None, &ALICE),
            Standing::Transitioning("user profile alice is Pending".into())
        );
    }
}
