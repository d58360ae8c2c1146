//! Conditions and the kstatus trio (Ready / Reconciling / Stalled), shared by every kind.
//!
//! Pure functions: a controller computes the conditions it wants and merges them into the
//! existing list; `lastTransitionTime` moves only when a condition's status really changes, so a
//! resync that changes nothing writes an identical status.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;

use crate::api::condition_type::{READY, RECONCILING, STALLED};

/// A condition a controller wants, without bookkeeping fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Want {
    /// Condition type.
    pub type_: &'static str,
    /// "True", "False" or "Unknown".
    pub status: &'static str,
    /// CamelCase reason.
    pub reason: String,
    /// Human-readable message that says what to do.
    pub message: String,
}

impl Want {
    /// A condition with status True.
    pub fn true_(type_: &'static str, reason: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            type_,
            status: "True",
            reason: reason.into(),
            message: message.into(),
        }
    }
    /// A condition with status False.
    pub fn false_(type_: &'static str, reason: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            type_,
            status: "False",
            reason: reason.into(),
            message: message.into(),
        }
    }
    /// A condition with status Unknown.
    pub fn unknown(type_: &'static str, reason: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            type_,
            status: "Unknown",
            reason: reason.into(),
            message: message.into(),
        }
    }
}

/// Where a resource stands, as GitOps tools judge it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Readiness {
    /// Everything matches the spec (kstatus Current).
    Ready { reason: String, message: String },
    /// Work is under way (kstatus InProgress).
    Progressing { reason: String, message: String },
    /// No progress without a person's change (kstatus Failed).
    Stalled { reason: String, message: String },
}

impl Readiness {
    /// The reason and message of this state, which say where progress stands.
    pub fn phase(&self) -> String {
        match self {
            Readiness::Ready { reason, message }
            | Readiness::Progressing { reason, message }
            | Readiness::Stalled { reason, message } => format!("{reason}: {message}"),
        }
    }

    /// The Ready, Reconciling and Stalled conditions for this state.
    pub fn conditions(&self) -> [Want; 3] {
        match self {
            Readiness::Ready { reason, message } => [
                Want::true_(READY, reason.clone(), message.clone()),
                Want::false_(RECONCILING, reason.clone(), "Reconciliation finished"),
                Want::false_(STALLED, reason.clone(), "Not stalled"),
            ],
            Readiness::Progressing { reason, message } => [
                Want::false_(READY, reason.clone(), message.clone()),
                Want::true_(RECONCILING, reason.clone(), message.clone()),
                Want::false_(STALLED, reason.clone(), "Not stalled"),
            ],
            Readiness::Stalled { reason, message } => [
                Want::false_(READY, reason.clone(), message.clone()),
                Want::false_(RECONCILING, reason.clone(), "Waiting for a change to the spec"),
                Want::true_(STALLED, reason.clone(), message.clone()),
            ],
        }
    }
}

/// Merges `wanted` into `existing` and returns the new list, sorted by type.
///
/// A condition whose status did not change keeps its `lastTransitionTime`; reason, message and
/// observedGeneration are updated in place. Conditions not named in `wanted` are kept as they are.
pub fn merge_conditions(
    existing: &[Condition],
    wanted: &[Want],
    generation: Option<i64>,
    now: Timestamp,
) -> Vec<Condition> {
    let mut merged: Vec<Condition> = existing.to_vec();
    for want in wanted {
        let transition_time = match merged.iter().find(|c| c.type_ == want.type_) {
            Some(old) if old.status == want.status => old.last_transition_time.clone(),
            _ => Time(now),
        };
        let condition = Condition {
            type_: want.type_.to_string(),
            status: want.status.to_string(),
            reason: want.reason.clone(),
            message: want.message.clone(),
            observed_generation: generation,
            last_transition_time: transition_time,
        };
        match merged.iter_mut().find(|c| c.type_ == want.type_) {
            Some(slot) => *slot = condition,
            None => merged.push(condition),
        }
    }
    merged.sort_by(|a, b| a.type_.cmp(&b.type_));
    merged
}

/// The condition of a type, if present.
pub fn find<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// Whether the condition of a type has status True.
pub fn is_true(conditions: &[Condition], type_: &str) -> bool {
    find(conditions, type_).is_some_and(|c| c.status == "True")
}

/// The conditions whose status changed between two lists (type, new status): the transitions
/// that deserve an Event.
pub fn transitions<'a>(before: &[Condition], after: &'a [Condition]) -> Vec<&'a Condition> {
    after
        .iter()
        .filter(|new| find(before, &new.type_).is_none_or(|old| old.status != new.status))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(secs).unwrap()
    }

    #[test]
    fn first_merge_sets_transition_time_and_generation() {
        let merged = merge_conditions(&[], &[Want::false_(READY, "Creating", "creating")], Some(3), at(100));
        assert_eq!(merged.len(), 1);
        assert_eq!(merged[0].last_transition_time, Time(at(100)));
        assert_eq!(merged[0].observed_generation, Some(3));
    }

    #[test]
    fn unchanged_status_keeps_transition_time_but_updates_message() {
        let first = merge_conditions(&[], &[Want::false_(READY, "Creating", "pending")], Some(1), at(100));
        let second = merge_conditions(
            &first,
            &[Want::false_(READY, "Creating", "still pending")],
            Some(1),
            at(200),
        );
        assert_eq!(second[0].last_transition_time, Time(at(100)));
        assert_eq!(second[0].message, "still pending");
    }

    #[test]
    fn changed_status_moves_transition_time() {
        let first = merge_conditions(&[], &[Want::false_(READY, "Creating", "pending")], Some(1), at(100));
        let second = merge_conditions(&first, &[Want::true_(READY, "InService", "ready")], Some(1), at(200));
        assert_eq!(second[0].last_transition_time, Time(at(200)));
        assert_eq!(transitions(&first, &second).len(), 1);
    }

    #[test]
    fn identical_merge_is_identical() {
        let wanted = Readiness::Ready {
            reason: "InService".into(),
            message: "ok".into(),
        }
        .conditions();
        let first = merge_conditions(&[], &wanted, Some(2), at(100));
        let second = merge_conditions(&first, &wanted, Some(2), at(999));
        assert_eq!(first, second);
        assert!(transitions(&first, &second).is_empty());
    }

    #[test]
    fn kstatus_trio_is_consistent() {
        let stalled = Readiness::Stalled {
            reason: "KmsKeyInvalid".into(),
            message: "key disabled".into(),
        }
        .conditions();
        let merged = merge_conditions(&[], &stalled, None, at(1));
        assert!(is_true(&merged, STALLED));
        assert!(!is_true(&merged, READY));
        assert!(!is_true(&merged, RECONCILING));
        let progressing = Readiness::Progressing {
            reason: "Creating".into(),
            message: "m".into(),
        }
        .conditions();
        let merged = merge_conditions(&merged, &progressing, None, at(2));
        assert!(is_true(&merged, RECONCILING));
        assert!(!is_true(&merged, STALLED));
        // sorted by type for a stable status
        let types: Vec<_> = merged.iter().map(|c| c.type_.as_str()).collect();
        assert_eq!(types, vec!["Ready", "Reconciling", "Stalled"]);
    }
}
