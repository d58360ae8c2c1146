//! Prometheus metrics of the operator, served on `/metrics`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
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
    /// Reconcile duration, per kind.
    pub reconcile_duration: Family<KindLabels, Histogram>,
    /// AWS API calls, per operation and outcome.
    pub aws_calls: Family<AwsCallLabels, Counter>,
    /// Drift corrections, per kind.
    pub drift_corrections: Family<KindLabels, Counter>,
    /// Domain recreations.
    pub recreations: Counter,
    /// Apps the sweeper stopped, per reason.
    pub apps_stopped: Family<SweepLabels, Counter>,
    /// Apps the sweeper would stop but only reported (DryRun, Audit), per reason.
    pub apps_flagged: Family<SweepLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("studio_operator");
        let reconciles = Family::<KindLabels, Counter>::default();
        let reconcile_errors = Family::<ErrorLabels, Counter>::default();
        let reconcile_duration = Family::<KindLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.005, 2.0, 14))
        });
        let aws_calls = Family::<AwsCallLabels, Counter>::default();
        let drift_corrections = Family::<KindLabels, Counter>::default();
        let recreations = Counter::default();
        let apps_stopped = Family::<SweepLabels, Counter>::default();
        let apps_flagged = Family::<SweepLabels, Counter>::default();
        registry.register("reconciles", "Reconciles started", reconciles.clone());
        registry.register(
            "reconcile_errors",
            "Reconciles that failed, by error category",
            reconcile_errors.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "Time spent in one reconcile",
            reconcile_duration.clone(),
        );
        registry.register("aws_calls", "AWS API calls by operation and outcome", aws_calls.clone());
        registry.register(
            "drift_corrections",
            "Corrections of out-of-band changes in AWS",
            drift_corrections.clone(),
        );
        registry.register(
            "domain_recreations",
            "Domains recreated because an immutable setting changed",
            recreations.clone(),
        );
        registry.register(
            "apps_stopped",
            "Apps the sweeper stopped: idle, over their lifetime cap, or breaking a guardrail",
            apps_stopped.clone(),
        );
        registry.register(
            "apps_flagged",
            "Apps the sweeper would stop but only reported (DryRun or Audit)",
            apps_flagged.clone(),
        );
        Self {
            registry,
            reconciles,
            reconcile_errors,
            reconcile_duration,
            aws_calls,
            drift_corrections,
            recreations,
            apps_stopped,
            apps_flagged,
        }
    }
}

impl Metrics {
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
