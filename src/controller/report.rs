//! The one status and reporting path of every controller: a pass collects the conditions it
//! wants in a [`Report`]; [`publish_status`] merges them into the status (so
//! `lastTransitionTime` moves only on real transitions), publishes an Event per transition that
//! deserves one, and writes the status with server-side apply only when it changed.
//!
//! Events: a Warning when a resource stalls (reason = the condition's reason) or first fails
//! with a new error category (not on every retry), a Normal `Ready` when it becomes Ready, and
//! one Event per distinct happening ([`Happening`]: each app stopped, each correction), which
//! never fold into another happening's Event.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use k8s_openapi::jiff::Timestamp;
use kube::Resource;
use kube::runtime::events::{Event, EventType};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tracing::warn;

use super::context::{Context, FIELD_MANAGER};
use super::error::ReconcileError;
use crate::api::condition_type::{READY, RECONCILING, STALLED};
use crate::metrics::KindLabels;
use crate::status::{self, Readiness, Want};

/// Event notes longer than this (bytes) are cut: the API server refuses notes above 1 kB.
const MAX_NOTE_BYTES: usize = 1024;
/// Event actions longer than this (bytes) are cut (API server limit 128).
const MAX_ACTION_BYTES: usize = 128;

/// The conditions one pass wants to report.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Conditions besides the kstatus trio.
    wanted: Vec<Want>,
    /// Ready / Reconciling / Stalled.
    readiness: Option<Readiness>,
    /// The category reason of the failure this pass ended with, if it failed.
    failure: Option<String>,
}

impl Report {
    /// Reports a condition besides the kstatus trio (the last one of a type wins).
    pub fn want(&mut self, want: Want) {
        self.wanted.retain(|w| w.type_ != want.type_);
        self.wanted.push(want);
    }

    /// Work is under way.
    pub fn progressing(&mut self, reason: &str, message: impl Into<String>) {
        self.readiness = Some(Readiness::Progressing {
            reason: reason.into(),
            message: message.into(),
        });
    }

    /// Nothing moves until a person changes something.
    pub fn stalled(&mut self, reason: &str, message: impl Into<String>) {
        self.readiness = Some(Readiness::Stalled {
            reason: reason.into(),
            message: message.into(),
        });
    }

    /// Everything matches the spec.
    pub fn ready(&mut self, reason: &str, message: impl Into<String>) {
        self.readiness = Some(Readiness::Ready {
            reason: reason.into(),
            message: message.into(),
        });
    }

    /// The pass failed: the error's category is the reason; errors only a person can resolve
    /// stall the resource, the others leave it progressing (retried with backoff).
    pub fn failed(&mut self, error: &ReconcileError) {
        let category = error.category();
        let reason = category.reason();
        if category.stalls() {
            self.stalled(reason, error.condition_message());
        } else {
            self.progressing(reason, error.condition_message());
        }
        self.failure = Some(reason.to_string());
    }

    /// Where the pass stands, as reason and message: polls back off while it does not change.
    pub fn phase(&self) -> String {
        self.readiness.as_ref().map(Readiness::phase).unwrap_or_default()
    }

    /// Whether the pass ended Stalled.
    pub fn is_stalled(&self) -> bool {
        matches!(self.readiness, Some(Readiness::Stalled { .. }))
    }

    /// The merged condition list for `generation`.
    pub fn conditions(&self, existing: &[Condition], generation: i64, now: Timestamp) -> Vec<Condition> {
        let mut wanted = self.wanted.clone();
        let readiness = self.readiness.clone().unwrap_or(Readiness::Progressing {
            reason: "Reconciling".into(),
            message: "reconciling".into(),
        });
        wanted.extend(readiness.conditions());
        status::merge_conditions(existing, &wanted, Some(generation), now)
    }
}

/// A kind the controllers reconcile and report on: where its status keeps the conditions.
pub trait Reported:
    Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug + Send + Sync + 'static
{
    /// The status subresource.
    type Status: Serialize + Clone + PartialEq + Default + std::fmt::Debug + Send + Sync;

    /// Transitions that deserve a Warning Event besides Stalled, as (condition type, new status,
    /// Event reason, or `None` for the condition's own reason); published only when the
    /// condition existed before.
    const WARN_ON: &'static [(&'static str, &'static str, Option<&'static str>)] = &[];

    /// The status, if any.
    fn status(&self) -> Option<&Self::Status>;
    /// The conditions of a status.
    fn conditions(status: &Self::Status) -> &[Condition];
    /// Sets the conditions and the generation they describe.
    fn set_conditions(status: &mut Self::Status, conditions: Vec<Condition>, generation: i64);
}

/// Implements [`Reported`] for a kind whose status keeps `conditions` and
/// `observed_generation` (every kind of this operator), with optional `WARN_ON` transitions.
macro_rules! reported {
    ($kind:ty, $status:ty $(, warn_on = $warn:expr)?) => {
        impl $crate::controller::report::Reported for $kind {
            type Status = $status;
            $(const WARN_ON: &'static [(&'static str, &'static str, Option<&'static str>)] = $warn;)?

            fn status(&self) -> Option<&$status> {
                self.status.as_ref()
            }

            fn conditions(status: &$status) -> &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition] {
                &status.conditions
            }

            fn set_conditions(
                status: &mut $status,
                conditions: Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition>,
                generation: i64,
            ) {
                status.conditions = conditions;
                status.observed_generation = Some(generation);
            }
        }
    };
}
pub(crate) use reported;

/// One thing that happened to an object, published as its own Event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Happening {
    /// Normal or Warning.
    pub type_: EventType,
    /// CamelCase reason, e.g. `AppStopped`.
    pub reason: String,
    /// What it happened to, when one object sees several happenings of the same reason (an app,
    /// a field): part of the Event's action, so that each stays its own Event.
    pub subject: Option<String>,
    /// What a person reads.
    pub note: String,
}

impl Happening {
    /// A Normal happening.
    pub fn normal(reason: &str, note: impl Into<String>) -> Self {
        Self {
            type_: EventType::Normal,
            reason: reason.into(),
            subject: None,
            note: note.into(),
        }
    }

    /// A Warning happening.
    pub fn warning(reason: &str, note: impl Into<String>) -> Self {
        Self {
            type_: EventType::Warning,
            ..Self::normal(reason, note)
        }
    }

    /// The same happening, about `subject`.
    pub fn about(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }

    /// The Event the recorder publishes. The recorder folds Events with the same reason and
    /// action on the same object into one series (keeping the first note), so the subject goes
    /// into the action.
    pub fn event(&self) -> Event {
        let action = match &self.subject {
            Some(subject) => format!("{}/{subject}", self.reason),
            None => self.reason.clone(),
        };
        Event {
            type_: self.type_,
            reason: clip(&self.reason, MAX_ACTION_BYTES),
            note: Some(clip(&self.note, MAX_NOTE_BYTES)),
            action: clip(&action, MAX_ACTION_BYTES),
            secondary: None,
        }
    }
}

/// `text` cut to at most `max` bytes, at a character boundary (never panics on multi-byte text).
pub fn clip(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_string()
}

impl Context {
    /// Publishes an Event about `obj`; failures to publish are logged, never fatal.
    pub async fn publish<K: Resource<DynamicType = ()>>(&self, obj: &K, happening: Happening) {
        let event = happening.event();
        if let Err(error) = self.recorder.publish(&event, &obj.object_ref(&())).await {
            warn!(%error, reason = %happening.reason, "cannot publish event");
        }
    }

    /// Reports corrected fields, one Event per field: after a spec change `Updated`; otherwise
    /// AWS drifted, so `DriftCorrected` and the drift metric.
    pub async fn report_corrections<K: Resource<DynamicType = ()>>(
        &self,
        obj: &K,
        spec_changed: bool,
        fields: &[String],
    ) {
        let (reason, what) = if spec_changed {
            ("Updated", "applied spec change to")
        } else {
            self.metrics
                .drift_corrections
                .get_or_create(&KindLabels {
                    kind: K::kind(&()).into(),
                })
                .inc_by(fields.len() as u64);
            ("DriftCorrected", "corrected drift in")
        };
        for field in fields {
            self.publish(
                obj,
                Happening::normal(reason, format!("{what} {field}")).about(field.as_str()),
            )
            .await;
        }
    }
}

/// The Events a status change deserves: Stalled and the kind's warnings, a new failure
/// category, and Ready.
pub fn transition_events<K: Reported>(before: &[Condition], after: &[Condition], report: &Report) -> Vec<Happening> {
    let mut events = Vec::new();
    for transition in status::transitions(before, after) {
        if transition.type_ == STALLED && transition.status == "True" {
            events.push(Happening::warning(&transition.reason, transition.message.clone()));
        }
        for (type_, value, reason) in K::WARN_ON {
            if transition.type_ == *type_ && transition.status == *value && status::find(before, type_).is_some() {
                let reason = reason.unwrap_or(&transition.reason);
                events.push(Happening::warning(reason, transition.message.clone()));
            }
        }
        if transition.type_ == READY && transition.status == "True" {
            events.push(Happening::normal("Ready", transition.message.clone()));
        }
    }
    // A failure that does not stall is reported once per category, not on every retry.
    if let Some(reason) = &report.failure
        && !report.is_stalled()
        && status::find(before, RECONCILING).is_none_or(|c| &c.reason != reason)
        && let Some(now) = status::find(after, RECONCILING)
    {
        events.push(Happening::warning(reason, now.message.clone()));
    }
    events
}

/// Merges the report into `status`, publishes the transition Events, and writes the status when
/// it differs from the last one written (`written`, else the object's).
pub async fn publish_status<K: Reported>(
    ctx: &Context,
    api: &kube::Api<K>,
    obj: &K,
    status: &mut K::Status,
    report: &Report,
    written: &mut Option<K::Status>,
) -> Result<(), kube::Error> {
    let last = written.as_ref().or(obj.status());
    let before = last.map(|s| K::conditions(s).to_vec()).unwrap_or_default();
    let generation = obj.meta().generation.unwrap_or_default();
    let conditions = report.conditions(K::conditions(status), generation, Timestamp::now());
    K::set_conditions(status, conditions, generation);
    for happening in transition_events::<K>(&before, K::conditions(status), report) {
        ctx.publish(obj, happening).await;
    }
    if last != Some(status) {
        apply_status(api, obj, status).await?;
        *written = Some(status.clone());
    }
    Ok(())
}

/// Writes the status with server-side apply (field manager `studio-operator`).
pub async fn apply_status<K, S>(api: &kube::Api<K>, obj: &K, status: &S) -> Result<(), kube::Error>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug,
    S: Serialize,
{
    let patch = serde_json::json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "status": status,
    });
    let name = obj.meta().name.clone().unwrap_or_default();
    api.patch_status(
        &name,
        &kube::api::PatchParams::apply(FIELD_MANAGER).force(),
        &kube::api::Patch::Apply(&patch),
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::UserProfile;
    use crate::aws::AwsError;

    #[test]
    fn clipping_never_splits_a_character() {
        let text = "é".repeat(600);
        let clipped = clip(&text, 1001);
        assert_eq!(clipped.len(), 1000);
        assert!(clipped.chars().all(|c| c == 'é'));
        assert_eq!(clip("short", 10), "short");
    }

    #[test]
    fn each_subject_is_its_own_event() {
        let a = Happening::normal("AppStopped", "stopped a").about("alice/JupyterLab/a");
        let b = Happening::normal("AppStopped", "stopped b").about("alice/JupyterLab/b");
        assert_ne!(a.event().action, b.event().action);
        assert_eq!(a.event().reason, "AppStopped");
        let long = Happening::normal("AppStopped", "x".repeat(5000)).about("é".repeat(100));
        let event = long.event();
        assert!(event.action.len() <= MAX_ACTION_BYTES && event.note.unwrap().len() <= MAX_NOTE_BYTES);
    }

    fn merged(before: &[Condition], report: &Report) -> Vec<Condition> {
        report.conditions(before, 1, Timestamp::UNIX_EPOCH)
    }

    #[test]
    fn a_failure_is_an_event_once_per_category() {
        let mut report = Report::default();
        report.failed(&ReconcileError::Aws(AwsError::Throttled { message: "slow".into() }));
        let first = merged(&[], &report);
        let events = transition_events::<UserProfile>(&[], &first, &report);
        assert_eq!(
            events.iter().map(|e| e.reason.as_str()).collect::<Vec<_>>(),
            ["AwsThrottled"]
        );
        assert!(events[0].type_ == EventType::Warning);
        // The same category again: no new Event.
        let again = merged(&first, &report);
        assert!(transition_events::<UserProfile>(&first, &again, &report).is_empty());
        // Another category: one more.
        let mut other = Report::default();
        other.failed(&ReconcileError::Aws(AwsError::Transient { message: "503".into() }));
        let next = merged(&again, &other);
        let events = transition_events::<UserProfile>(&again, &next, &other);
        assert_eq!(
            events.iter().map(|e| e.reason.as_str()).collect::<Vec<_>>(),
            ["AwsTransient"]
        );
    }

    #[test]
    fn a_validation_error_stalls_with_its_category_and_the_aws_message() {
        let mut report = Report::default();
        report.failed(&ReconcileError::Aws(AwsError::Validation {
            message: "1 validation error detected".into(),
        }));
        let after = merged(&[], &report);
        let stalled = status::find(&after, STALLED).unwrap();
        assert_eq!(
            (stalled.status.as_str(), stalled.reason.as_str()),
            ("True", "AwsValidation")
        );
        assert!(stalled.message.contains("1 validation error detected"));
        let events = transition_events::<UserProfile>(&[], &after, &report);
        assert_eq!(events.len(), 1, "one Warning for the stall, none besides: {events:?}");
    }

    #[test]
    fn becoming_ready_is_a_normal_event() {
        let mut report = Report::default();
        report.ready("InService", "ok");
        let after = merged(&[], &report);
        let events = transition_events::<UserProfile>(&[], &after, &report);
        assert_eq!(events, [Happening::normal("Ready", "ok")]);
        assert!(transition_events::<UserProfile>(&after, &merged(&after, &report), &report).is_empty());
    }
}
