//! Prometheus metrics of the operator, served on `/metrics`.

use std::collections::HashMap;
use std::sync::Mutex;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels of a reconcile outcome.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    /// Resource kind.
    pub kind: String,
}

/// Labels of a reconcile error.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    /// Resource kind.
    pub kind: String,
    /// Stable error category.
    pub reason: String,
}

/// Labels of an AWS call.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AwsCallLabels {
    /// API operation, e.g. `CreateDomain`.
    pub operation: String,
    /// `ok`, `throttled`, `not_found`, `failed`, ...
    pub outcome: String,
}

/// Labels of a rate-limited family of AWS calls.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FamilyLabels {
    /// `sagemaker:mutating`, `sagemaker:read`, `kms` or `sts`.
    pub family: String,
}

/// Labels of an app the sweeper stopped or flagged.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SweepLabels {
    /// `idle`, `max_lifetime` or `guardrail`.
    pub reason: String,
}

/// Every metric the operator exports.
pub struct Metrics {
    /// The registry `/metrics` encodes.
    pub registry: Registry,
    /// Reconciles started, per kind.
    pub reconciles: Family<KindLabels, Counter>,
    /// Reconcile errors, per kind and category.
    pub reconcile_errors: Family<ErrorLabels, Counter>,
    /// Reconciles that panicked (a bug, contained to the object), per kind.
    pub reconcile_panics: Family<KindLabels, Counter>,
    /// Reconcile duration, per kind.
    pub reconcile_duration: Family<KindLabels, Histogram>,
    /// AWS API calls, per operation and outcome.
    pub aws_calls: Family<AwsCallLabels, Counter>,
    /// Time AWS calls waited for the client-side rate limiter, per family.
    pub aws_rate_limit_wait: Family<FamilyLabels, Histogram>,
    /// Current adaptive rate of each family, calls per second.
    pub aws_rate_limit: Family<FamilyLabels, Gauge<f64, std::sync::atomic::AtomicU64>>,
    /// Drift corrections, per kind.
    pub drift_corrections: Family<KindLabels, Counter>,
    /// Domain recreations.
    pub recreations: Counter,
    /// Apps the sweeper stopped, per reason.
    pub apps_stopped: Family<SweepLabels, Counter>,
    /// Apps the sweeper would stop but only reported (DryRun, Audit), per reason.
    pub apps_flagged: Family<SweepLabels, Counter>,
    /// 1 while this process runs the controllers (holds the leader lease, or runs without leader
    /// election), else 0.
    pub leader: Gauge,
    /// StudioDomains, UserProfiles and SharedSpaces by kind and Ready status.
    pub resources: Family<ReadyLabels, Gauge>,
    /// The Ready status last counted per object UID, so a change moves one count.
    ready_states: Mutex<HashMap<String, ReadyLabels>>,
}

/// Labels of resources by Ready status.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReadyLabels {
    /// Resource kind.
    pub kind: String,
    /// `True`, `False` or `Unknown`.
    pub ready: String,
}

/// Buckets of reconcile durations: 5 ms to 41 s.
fn duration_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.005, 2.0, 14))
}

/// Buckets of rate limiter waits.
fn wait_histogram() -> Histogram {
    Histogram::new([0.0, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0])
}

/// Registers a clone of `metric` under `name` and returns the metric.
fn registered<M>(registry: &mut Registry, name: &str, help: &str, metric: M) -> M
where
    M: prometheus_client::registry::Metric + Clone,
{
    registry.register(name, help, metric.clone());
    metric
}

impl Default for Metrics {
    fn default() -> Self {
        let mut r = Registry::with_prefix("studio_operator");
        Self {
            resources: registered(
                &mut r,
                "resources",
                "StudioDomains, UserProfiles and SharedSpaces by kind and Ready status",
                Family::default(),
            ),
            reconciles: registered(&mut r, "reconciles", "Reconciles started", Family::default()),
            reconcile_panics: registered(
                &mut r,
                "reconcile_panics",
                "Reconciles that panicked; the controller went on with the other objects",
                Family::default(),
            ),
            reconcile_errors: registered(
                &mut r,
                "reconcile_errors",
                "Reconciles that failed, by error category",
                Family::default(),
            ),
            reconcile_duration: registered(
                &mut r,
                "reconcile_duration_seconds",
                "Time spent in one reconcile",
                Family::new_with_constructor(duration_histogram),
            ),
            aws_calls: registered(
                &mut r,
                "aws_calls",
                "AWS API calls by operation and outcome",
                Family::default(),
            ),
            aws_rate_limit_wait: registered(
                &mut r,
                "aws_rate_limit_wait_seconds",
                "Time AWS calls waited for the client-side rate limiter, by operation family",
                Family::new_with_constructor(wait_histogram),
            ),
            aws_rate_limit: registered(
                &mut r,
                "aws_rate_limit",
                "Current adaptive client-side rate limit, calls per second, by operation family",
                Family::default(),
            ),
            drift_corrections: registered(
                &mut r,
                "drift_corrections",
                "Fields corrected after out-of-band changes in AWS",
                Family::default(),
            ),
            recreations: registered(
                &mut r,
                "domain_recreations",
                "Domains recreated because an immutable setting changed",
                Counter::default(),
            ),
            apps_stopped: registered(
                &mut r,
                "apps_stopped",
                "Apps the sweeper stopped: idle, over their lifetime cap, or breaking a guardrail",
                Family::default(),
            ),
            apps_flagged: registered(
                &mut r,
                "apps_flagged",
                "Apps the sweeper would stop but only reported (DryRun or Audit)",
                Family::default(),
            ),
            leader: registered(
                &mut r,
                "leader",
                "1 while this process runs the controllers (holds the leader lease, or runs without leader election), else 0",
                Gauge::default(),
            ),
            registry: r,
            ready_states: Mutex::default(),
        }
    }
}

impl Metrics {
    /// Counts an object under its current Ready status (`None` once it is gone).
    pub fn record_ready(&self, kind: &str, uid: &str, ready: Option<&str>) {
        let mut states = self.ready_states.lock().expect("ready states lock");
        let now = ready.map(|ready| ReadyLabels {
            kind: kind.into(),
            ready: ready.into(),
        });
        let before = match &now {
            Some(labels) => states.insert(uid.to_string(), labels.clone()),
            None => states.remove(uid),
        };
        if before == now {
            return;
        }
        if let Some(labels) = before {
            self.resources.get_or_create(&labels).dec();
        }
        if let Some(labels) = now {
            self.resources.get_or_create(&labels).inc();
        }
    }

    /// Records what the AWS rate limiters report.
    pub fn observe_limiter(&self, event: crate::aws::limiter::LimiterEvent) {
        use crate::aws::limiter::LimiterEvent;
        match event {
            LimiterEvent::Waited { family, seconds } => self
                .aws_rate_limit_wait
                .get_or_create(&FamilyLabels { family: family.into() })
                .observe(seconds),
            LimiterEvent::Rate { family, rate } => {
                self.aws_rate_limit
                    .get_or_create(&FamilyLabels { family: family.into() })
                    .set(rate);
            }
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_counts_move_with_each_object() {
        let metrics = Metrics::default();
        metrics.record_ready("UserProfile", "a", Some("False"));
        metrics.record_ready("UserProfile", "b", Some("False"));
        metrics.record_ready("UserProfile", "a", Some("True"));
        metrics.record_ready("UserProfile", "a", Some("True"));
        let text = metrics.encode();
        assert!(
            text.contains("studio_operator_resources{kind=\"UserProfile\",ready=\"True\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("studio_operator_resources{kind=\"UserProfile\",ready=\"False\"} 1"),
            "{text}"
        );
        metrics.record_ready("UserProfile", "b", None);
        assert!(
            metrics
                .encode()
                .contains("studio_operator_resources{kind=\"UserProfile\",ready=\"False\"} 0")
        );
    }

    #[test]
    fn encodes_registered_families() {
        let metrics = Metrics::default();
        metrics
            .reconciles
            .get_or_create(&KindLabels {
                kind: "StudioDomain".into(),
            })
            .inc();
        metrics
            .reconcile_duration
            .get_or_create(&KindLabels {
                kind: "StudioDomain".into(),
            })
            .observe(0.02);
        let text = metrics.encode();
        assert!(
            text.contains("studio_operator_reconciles_total{kind=\"StudioDomain\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("# TYPE studio_operator_reconcile_duration_seconds histogram"),
            "{text}"
        );
    }
}
