//! Test-controlled misbehaviour: per-operation latency, token-bucket rate
//! limits and injected faults (by count or seeded probability).

use std::collections::BTreeMap;
use std::time::Instant;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;

/// What an injected fault does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// 500 InternalFailure.
    InternalFailure,
    /// 503 ServiceUnavailable.
    ServiceUnavailable,
    /// 400 ThrottlingException "Rate exceeded".
    Throttling,
    /// Close the connection without answering.
    DropConnection,
    /// Answer normally after `delay_ms` extra milliseconds.
    Slow,
}

/// One fault rule. `target` is an operation name (`CreateDomain`), a family
/// (`mutating`, `read`), a service (`sagemaker`, `kms`, `sts`, `tagging`, `s3`) or `*`.
/// With `count` the rule fires on the next `count` matching calls (then is
/// removed); with `probability` each matching call fires with that chance;
/// with both, it fires by chance at most `count` times; with neither, always.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultRule {
    pub target: String,
    pub kind: FaultKind,
    #[serde(default)]
    pub probability: Option<f64>,
    #[serde(default)]
    pub count: Option<u32>,
    #[serde(default)]
    pub delay_ms: Option<u64>,
}

/// A token bucket for calls matching `target` (same forms as [`FaultRule`]):
/// `burst` tokens, refilled at `rate_per_sec` in real time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RateLimit {
    pub target: String,
    pub rate_per_sec: f64,
    pub burst: f64,
}

#[derive(Debug)]
struct Bucket {
    limit: RateLimit,
    tokens: f64,
    refilled: Instant,
}

/// What to do with a call before it reaches the service logic.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// Real-time delay before answering (latency plus slow faults).
    pub delay_ms: u64,
    pub action: Action,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Proceed,
    Fail(ApiError),
    Drop,
}

/// Operation family used by rate limits and faults: mutating calls vs reads.
pub fn family(operation: &str) -> &'static str {
    const READ_PREFIXES: &[&str] = &["Describe", "List", "Get", "Head"];
    if READ_PREFIXES.iter().any(|p| operation.starts_with(p)) {
        "read"
    } else {
        "mutating"
    }
}

fn matches(target: &str, service: &str, operation: &str) -> bool {
    target == "*" || target == operation || target == family(operation) || target == service
}

#[derive(Debug)]
pub struct Faults {
    latency: BTreeMap<String, u64>,
    rules: Vec<FaultRule>,
    buckets: Vec<Bucket>,
    rng: StdRng,
}

impl Faults {
    pub fn new(seed: u64) -> Self {
        Self {
            latency: BTreeMap::new(),
            rules: Vec::new(),
            buckets: Vec::new(),
            rng: StdRng::seed_from_u64(seed),
        }
    }

    /// Restarts the random sequence so probabilistic faults are reproducible.
    pub fn reseed(&mut self, seed: u64) {
        self.rng = StdRng::seed_from_u64(seed);
    }

    /// Fixed extra latency for calls matching `target`; 0 removes it.
    pub fn set_latency(&mut self, target: &str, ms: u64) {
        if ms == 0 {
            self.latency.remove(target);
        } else {
            self.latency.insert(target.into(), ms);
        }
    }

    pub fn add_rule(&mut self, rule: FaultRule) {
        self.rules.push(rule);
    }

    pub fn rules(&self) -> Vec<FaultRule> {
        self.rules.clone()
    }

    pub fn clear_rules(&mut self) {
        self.rules.clear();
    }

    pub fn add_rate_limit(&mut self, limit: RateLimit) {
        self.buckets.push(Bucket {
            tokens: limit.burst,
            limit,
            refilled: Instant::now(),
        });
    }

    pub fn clear_rate_limits(&mut self) {
        self.buckets.clear();
    }

    /// Everything currently configured, for the admin API.
    pub fn describe(&self) -> serde_json::Value {
        serde_json::json!({
            "latency_ms": self.latency,
            "faults": self.rules,
            "rate_limits": self.buckets.iter().map(|b| &b.limit).collect::<Vec<_>>(),
        })
    }

    /// Decides the fate of one call.
    pub fn decide(&mut self, service: &str, operation: &str) -> Decision {
        let mut delay_ms: u64 = self
            .latency
            .iter()
            .filter(|(t, _)| matches(t, service, operation))
            .map(|(_, ms)| *ms)
            .sum();
        let now = Instant::now();
        for bucket in self
            .buckets
            .iter_mut()
            .filter(|b| matches(&b.limit.target, service, operation))
        {
            let elapsed = now.duration_since(bucket.refilled).as_secs_f64();
            bucket.tokens = (bucket.tokens + elapsed * bucket.limit.rate_per_sec).min(bucket.limit.burst);
            bucket.refilled = now;
            if bucket.tokens < 1.0 {
                return Decision {
                    delay_ms,
                    action: Action::Fail(ApiError::throttling()),
                };
            }
            bucket.tokens -= 1.0;
        }
        let mut action = Action::Proceed;
        let mut i = 0;
        while i < self.rules.len() {
            let rule = &self.rules[i];
            let fires = matches(&rule.target, service, operation)
                && rule.probability.is_none_or(|p| self.rng.random_bool(p.clamp(0.0, 1.0)));
            if !fires {
                i += 1;
                continue;
            }
            let kind = rule.kind;
            let extra = rule.delay_ms.unwrap_or(0);
            match &mut self.rules[i].count {
                Some(n) if *n <= 1 => {
                    self.rules.remove(i);
                }
                Some(n) => {
                    *n -= 1;
                    i += 1;
                }
                None => i += 1,
            }
            action = match kind {
                FaultKind::Slow => {
                    delay_ms += extra;
                    continue;
                }
                FaultKind::InternalFailure => Action::Fail(ApiError::internal_failure()),
                FaultKind::ServiceUnavailable => Action::Fail(ApiError::service_unavailable()),
                FaultKind::Throttling => Action::Fail(ApiError::throttling()),
                FaultKind::DropConnection => Action::Drop,
            };
            break;
        }
        Decision { delay_ms, action }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(target: &str, kind: FaultKind, count: Option<u32>, probability: Option<f64>) -> FaultRule {
        FaultRule {
            target: target.into(),
            kind,
            probability,
            count,
            delay_ms: None,
        }
    }

    #[test]
    fn count_rules_fire_then_vanish() {
        let mut f = Faults::new(0);
        f.add_rule(rule("DescribeDomain", FaultKind::Throttling, Some(2), None));
        assert!(
            matches!(f.decide("sagemaker", "DescribeDomain").action, Action::Fail(ref e) if e.code == "ThrottlingException")
        );
        assert_eq!(f.decide("sagemaker", "ListDomains").action, Action::Proceed);
        assert!(matches!(
            f.decide("sagemaker", "DescribeDomain").action,
            Action::Fail(_)
        ));
        assert_eq!(f.decide("sagemaker", "DescribeDomain").action, Action::Proceed);
        assert!(f.rules().is_empty());
    }

    #[test]
    fn families_and_wildcards() {
        assert_eq!(family("CreateDomain"), "mutating");
        assert_eq!(family("AddTags"), "mutating");
        assert_eq!(family("ListTags"), "read");
        assert_eq!(family("HeadObject"), "read");
        assert!(matches("*", "kms", "DescribeKey"));
        assert!(matches("kms", "kms", "DescribeKey"));
        assert!(!matches("mutating", "kms", "DescribeKey"));
    }

    #[test]
    fn probability_is_deterministic_with_a_seed() {
        let run = |seed| {
            let mut f = Faults::new(seed);
            f.add_rule(rule("*", FaultKind::InternalFailure, None, Some(0.5)));
            (0..32)
                .map(|_| f.decide("sagemaker", "ListApps").action == Action::Proceed)
                .collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert!(run(7).iter().any(|ok| *ok) && run(7).iter().any(|ok| !*ok));
    }

    #[test]
    fn rate_limit_buckets() {
        let mut f = Faults::new(0);
        f.add_rate_limit(RateLimit {
            target: "mutating".into(),
            rate_per_sec: 0.001,
            burst: 2.0,
        });
        assert_eq!(f.decide("sagemaker", "CreateApp").action, Action::Proceed);
        assert_eq!(f.decide("sagemaker", "DeleteApp").action, Action::Proceed);
        assert!(matches!(f.decide("sagemaker", "CreateApp").action, Action::Fail(_)));
        assert_eq!(f.decide("sagemaker", "ListApps").action, Action::Proceed);
    }

    #[test]
    fn slow_adds_delay_and_latency_applies() {
        let mut f = Faults::new(0);
        f.set_latency("read", 5);
        f.add_rule(FaultRule {
            delay_ms: Some(20),
            ..rule("ListApps", FaultKind::Slow, Some(1), None)
        });
        let d = f.decide("sagemaker", "ListApps");
        assert_eq!((d.delay_ms, d.action), (25, Action::Proceed));
    }
}
