//! Client-side rate limiting of AWS calls.
//!
//! One [`Limiter`] per account and region, shared by every session (and so every controller)
//! that acts in that account and region. It keeps one adaptive token bucket per operation
//! family ([`family`]): `sagemaker:mutating`, `sagemaker:read`, `kms` and `sts`.
//!
//! The rate of a bucket is adapted with AIMD ([`Aimd`]): a `ThrottlingException` cuts it
//! multiplicatively (to `decrease` × the rate actually sent, the "ceiling"), and while callers
//! queue it grows back additively: quickly to `knee` × the ceiling, then slowly, probing for
//! more. The slow probe lets the service's own token bucket refill below its limit and drain
//! slowly above it, so that a throttled response comes only every few hundred calls once the
//! limit is known. A bucket starts at `initial_rate` (by default `max_rate`: nothing is known).
//!
//! Waiting callers are served by [`Priority`], then in arrival order: when both wait for the same
//! family, mutating calls go before reads (polls). With the default families SageMaker reads and
//! writes have buckets of their own, so mutating calls never queue behind polls at all.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

/// Who goes first when several calls wait for the same family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Priority {
    /// Create, Update, Delete, tags: the work a reconcile exists for.
    Mutating = 0,
    /// Describe, List, Get: observation and polling.
    Read = 1,
}

/// Whether an operation only reads (`Describe*`, `List*`, `Get*`).
pub fn is_read(operation: &str) -> bool {
    ["Describe", "List", "Get"].iter().any(|p| operation.starts_with(p))
}

/// The family an operation is limited in, and its priority there.
pub fn family(operation: &str) -> (&'static str, Priority) {
    const KMS: &[&str] = &[
        "DescribeKey",
        "ListKeys",
        "ListAliases",
        "CreateKey",
        "CreateAlias",
        "EnableKey",
        "DisableKey",
        "ScheduleKeyDeletion",
    ];
    let priority = if is_read(operation) {
        Priority::Read
    } else {
        Priority::Mutating
    };
    let family = if KMS.contains(&operation) {
        "kms"
    } else if matches!(operation, "GetCallerIdentity" | "AssumeRole") {
        "sts"
    } else if operation == "GetResources" {
        "tagging"
    } else if matches!(operation, "ListObjectsV2" | "PutObject" | "DeleteObjects") {
        "s3"
    } else if priority == Priority::Read {
        "sagemaker:read"
    } else {
        "sagemaker:mutating"
    };
    (family, priority)
}

/// Tuning of every bucket of a limiter.
#[derive(Clone, Debug, PartialEq)]
pub struct LimiterConfig {
    /// Rate (calls per second) a bucket starts at; `None` starts at `max_rate`.
    pub initial_rate: Option<f64>,
    /// The rate never grows beyond this.
    pub max_rate: f64,
    /// Nor falls below this.
    pub min_rate: f64,
    /// Factor applied on a throttle (multiplicative decrease).
    pub decrease: f64,
    /// Fast growth after a throttle, as a fraction of the ceiling per second of queueing.
    pub recover: f64,
    /// Fast growth stops at this fraction of the ceiling (the rate sent at the last throttle).
    pub knee: f64,
    /// Slow growth beyond the knee (probing for more), as a fraction of the ceiling per second.
    pub probe: f64,
    /// Tokens a bucket can hold: how many calls may leave at once after a quiet period.
    pub burst: f64,
}

impl Default for LimiterConfig {
    fn default() -> Self {
        Self {
            initial_rate: None,
            max_rate: 50.0,
            min_rate: 1.0,
            decrease: 0.7,
            recover: 0.2,
            knee: 0.85,
            probe: 0.01,
            burst: 1.0,
        }
    }
}

/// Something the limiter reports, for metrics.
#[derive(Clone, Debug, PartialEq)]
pub enum LimiterEvent {
    /// A call waited this long for its token (also reported when it did not wait: 0).
    Waited { family: &'static str, seconds: f64 },
    /// The rate of a family changed.
    Rate { family: &'static str, rate: f64 },
}

/// Receives [`LimiterEvent`]s.
pub type LimiterObserver = Arc<dyn Fn(LimiterEvent) + Send + Sync>;

/// The adaptive rate of one family (pure: time is passed in).
#[derive(Clone, Debug)]
pub struct Aimd {
    config: LimiterConfig,
    rate: f64,
    /// The rate actually sent when the last throttle was taken into account.
    ceiling: Option<f64>,
    /// Incremented on every decrease; a throttle of a call let out before the last decrease
    /// carries no news and is ignored.
    epoch: u64,
    /// Last time the rate grew (or could have).
    grown: Instant,
    /// Departure times of the last second, for the rate actually sent.
    sent: VecDeque<Instant>,
}

impl Aimd {
    /// A rate at `config.initial_rate` (or the maximum).
    pub fn new(config: LimiterConfig, now: Instant) -> Self {
        let rate = config
            .initial_rate
            .unwrap_or(config.max_rate)
            .clamp(config.min_rate, config.max_rate);
        Self {
            config,
            rate,
            ceiling: None,
            epoch: 0,
            grown: now,
            sent: VecDeque::new(),
        }
    }

    /// Current rate, calls per second.
    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// Current epoch (see [`Aimd::throttled`]).
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Records that a call left now.
    pub fn sent(&mut self, now: Instant) {
        self.sent.push_back(now);
        self.forget(now);
    }

    fn forget(&mut self, now: Instant) {
        while self
            .sent
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) > Duration::from_secs(1))
        {
            self.sent.pop_front();
        }
    }

    /// Calls sent during the last second.
    pub fn measured(&mut self, now: Instant) -> f64 {
        self.forget(now);
        self.sent.len() as f64
    }

    /// A call let out in `epoch` was throttled. Returns whether the rate went down.
    pub fn throttled(&mut self, epoch: u64, now: Instant) -> bool {
        if epoch != self.epoch {
            return false;
        }
        let measured = self.measured(now).max(self.config.min_rate);
        let ceiling = self.rate.min(measured);
        self.ceiling = Some(ceiling);
        self.rate = (ceiling * self.config.decrease).clamp(self.config.min_rate, self.config.max_rate);
        self.epoch += 1;
        self.grown = now;
        true
    }

    /// A call completed without being throttled. The rate grows only while callers queue for
    /// it (`saturated`): an idle family learns nothing about the service's limit.
    pub fn succeeded(&mut self, saturated: bool, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.grown).as_secs_f64().min(1.0);
        self.grown = now;
        if !saturated || self.rate >= self.config.max_rate {
            return false;
        }
        let ceiling = self.ceiling.unwrap_or(self.rate);
        let knee = ceiling * self.config.knee;
        let rate = if self.rate < knee {
            // Fast recovery, up to the knee.
            (self.rate + self.config.recover * ceiling * elapsed).min(knee)
        } else {
            self.rate + self.config.probe * ceiling * elapsed
        };
        let rate = rate.min(self.config.max_rate);
        let changed = rate != self.rate;
        self.rate = rate;
        changed
    }
}

/// What a caller holds while its call is in flight.
#[derive(Debug)]
pub struct Permit {
    family: &'static str,
    epoch: u64,
    /// How long the caller waited for it.
    pub waited: Duration,
}

/// The waiting list and bucket of one family.
struct FamilyState {
    aimd: Aimd,
    tokens: f64,
    refilled: Instant,
    /// Waiting callers by (priority, arrival).
    waiters: BTreeSet<(Priority, u64)>,
    next_seq: u64,
    /// Last time a caller had to wait: the family is saturated.
    last_wait: Option<Instant>,
}

impl FamilyState {
    fn refill(&mut self, now: Instant, burst: f64) {
        let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.aimd.rate()).min(burst.max(1.0));
        self.refilled = now;
    }

    fn saturated(&self, now: Instant) -> bool {
        self.last_wait
            .is_some_and(|t| now.saturating_duration_since(t) < Duration::from_secs(1))
    }
}

struct FamilyCell {
    state: Mutex<FamilyState>,
    notify: Notify,
}

/// Removes a waiter that gave up (its future was dropped) and lets the next one in.
struct Waiting<'a> {
    cell: &'a FamilyCell,
    key: (Priority, u64),
    done: bool,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.cell.state.lock().expect("limiter lock").waiters.remove(&self.key);
            self.cell.notify.notify_waiters();
        }
    }
}

/// The limiter of one account and region.
pub struct Limiter {
    config: LimiterConfig,
    families: Mutex<HashMap<&'static str, Arc<FamilyCell>>>,
    observer: Option<LimiterObserver>,
}

impl Limiter {
    /// A limiter whose families start from `config`.
    pub fn new(config: LimiterConfig, observer: Option<LimiterObserver>) -> Self {
        Self {
            config,
            families: Mutex::new(HashMap::new()),
            observer,
        }
    }

    fn cell(&self, family: &'static str) -> Arc<FamilyCell> {
        let mut families = self.families.lock().expect("limiter lock");
        families
            .entry(family)
            .or_insert_with(|| {
                let now = Instant::now();
                Arc::new(FamilyCell {
                    state: Mutex::new(FamilyState {
                        aimd: Aimd::new(self.config.clone(), now),
                        tokens: self.config.burst.max(1.0),
                        refilled: now,
                        waiters: BTreeSet::new(),
                        next_seq: 0,
                        last_wait: None,
                    }),
                    notify: Notify::new(),
                })
            })
            .clone()
    }

    fn emit(&self, event: LimiterEvent) {
        if let Some(observe) = &self.observer {
            observe(event);
        }
    }

    /// The current rate of a family.
    pub fn rate(&self, family: &'static str) -> f64 {
        self.cell(family).state.lock().expect("limiter lock").aimd.rate()
    }

    /// Waits for a token of `family`; callers of a better priority, then earlier callers, go
    /// first.
    pub async fn acquire(&self, family: &'static str, priority: Priority) -> Permit {
        let cell = self.cell(family);
        let started = Instant::now();
        let key = {
            let mut state = cell.state.lock().expect("limiter lock");
            let key = (priority, state.next_seq);
            state.next_seq += 1;
            state.waiters.insert(key);
            key
        };
        let mut waiting = Waiting {
            cell: &cell,
            key,
            done: false,
        };
        loop {
            let notified = cell.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let wait = {
                let now = Instant::now();
                let mut state = cell.state.lock().expect("limiter lock");
                state.refill(now, self.config.burst);
                let first = state.waiters.first() == Some(&key);
                if first && state.tokens >= 1.0 {
                    state.tokens -= 1.0;
                    state.waiters.remove(&key);
                    state.aimd.sent(now);
                    let waited = now.saturating_duration_since(started);
                    if waited > Duration::from_millis(1) {
                        state.last_wait = Some(now);
                    }
                    let epoch = state.aimd.epoch();
                    drop(state);
                    waiting.done = true;
                    cell.notify.notify_waiters();
                    self.emit(LimiterEvent::Waited {
                        family,
                        seconds: waited.as_secs_f64(),
                    });
                    return Permit { family, epoch, waited };
                }
                if first {
                    Some(Duration::from_secs_f64((1.0 - state.tokens) / state.aimd.rate()))
                } else {
                    None
                }
            };
            match wait {
                Some(wait) => {
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = &mut notified => {}
                    }
                }
                // Not first: wait for the queue to move (or re-check now and then).
                None => {
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                        _ = &mut notified => {}
                    }
                }
            }
        }
    }

    /// Reports how the call of `permit` ended: throttled or not.
    pub fn complete(&self, permit: Permit, throttled: bool) {
        let cell = self.cell(permit.family);
        let now = Instant::now();
        let changed = {
            let mut state = cell.state.lock().expect("limiter lock");
            let changed = if throttled {
                let decreased = state.aimd.throttled(permit.epoch, now);
                if decreased {
                    state.tokens = state.tokens.min(0.0);
                }
                decreased
            } else {
                let saturated = state.saturated(now);
                state.aimd.succeeded(saturated, now)
            };
            changed.then(|| state.aimd.rate())
        };
        if let Some(rate) = changed {
            if throttled {
                tracing::info!(family = permit.family, rate, "AWS throttled: slowing down");
            }
            self.emit(LimiterEvent::Rate {
                family: permit.family,
                rate,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> LimiterConfig {
        LimiterConfig {
            initial_rate: Some(20.0),
            ..LimiterConfig::default()
        }
    }

    fn at(start: Instant, ms: u64) -> Instant {
        start + Duration::from_millis(ms)
    }

    #[test]
    fn families_split_reads_and_writes_per_service() {
        assert_eq!(family("CreateUserProfile"), ("sagemaker:mutating", Priority::Mutating));
        assert_eq!(family("AddTags"), ("sagemaker:mutating", Priority::Mutating));
        assert_eq!(family("ListTags"), ("sagemaker:read", Priority::Read));
        assert_eq!(family("DescribeSpace"), ("sagemaker:read", Priority::Read));
        assert_eq!(family("DescribeKey"), ("kms", Priority::Read));
        assert_eq!(family("GetCallerIdentity"), ("sts", Priority::Read));
        assert_eq!(family("ListObjectsV2"), ("s3", Priority::Read));
        assert_eq!(family("DeleteObjects"), ("s3", Priority::Mutating));
    }

    #[test]
    fn a_throttle_cuts_the_rate_to_a_fraction_of_what_was_sent() {
        let t0 = Instant::now();
        let mut aimd = Aimd::new(config(), t0);
        // 12 calls in the last second, although 20 were allowed.
        for i in 0..12 {
            aimd.sent(at(t0, i * 80));
        }
        assert!(aimd.throttled(0, at(t0, 950)));
        assert!((aimd.rate() - 12.0 * 0.7).abs() < 1e-9, "{}", aimd.rate());
        assert_eq!(aimd.epoch(), 1);
    }

    #[test]
    fn throttles_of_calls_sent_before_the_last_decrease_are_ignored() {
        let t0 = Instant::now();
        let mut aimd = Aimd::new(config(), t0);
        for i in 0..20 {
            aimd.sent(at(t0, i * 50));
        }
        assert!(aimd.throttled(0, at(t0, 1000)));
        let rate = aimd.rate();
        // Three more answers to calls of epoch 0 arrive: no further cut.
        for ms in [1010, 1020, 1030] {
            assert!(!aimd.throttled(0, at(t0, ms)));
        }
        assert_eq!(aimd.rate(), rate);
        assert!(aimd.throttled(1, at(t0, 1500)), "a call of the new epoch counts");
        assert!(aimd.rate() < rate);
    }

    #[test]
    fn the_rate_never_leaves_its_bounds() {
        let t0 = Instant::now();
        let mut aimd = Aimd::new(config(), t0);
        for epoch in 0..50 {
            aimd.throttled(epoch, at(t0, epoch * 10));
        }
        assert_eq!(aimd.rate(), 1.0, "min_rate");
        let mut now = at(t0, 1000);
        for _ in 0..20_000 {
            now += Duration::from_millis(500);
            aimd.succeeded(true, now);
        }
        assert_eq!(aimd.rate(), 50.0, "max_rate");
    }

    #[test]
    fn recovery_is_fast_up_to_the_knee_and_slow_beyond() {
        let t0 = Instant::now();
        let mut aimd = Aimd::new(config(), t0);
        for i in 0..10 {
            aimd.sent(at(t0, i * 100));
        }
        aimd.throttled(0, at(t0, 1000));
        assert!((aimd.rate() - 7.0).abs() < 1e-9);
        // 0.8 s of queueing at 20% of the ceiling of 10 per second: at the knee of 8.5.
        let mut now = at(t0, 1000);
        for _ in 0..8 {
            now += Duration::from_millis(100);
            aimd.succeeded(true, now);
        }
        assert!((aimd.rate() - 8.5).abs() < 1e-6, "{}", aimd.rate());
        // Beyond the knee it probes at 1% of the ceiling per second: 10 s for one more call per s.
        for _ in 0..100 {
            now += Duration::from_millis(100);
            aimd.succeeded(true, now);
        }
        assert!((aimd.rate() - 9.5).abs() < 0.05, "{}", aimd.rate());
    }

    #[test]
    fn an_idle_family_does_not_grow() {
        let t0 = Instant::now();
        let mut aimd = Aimd::new(config(), t0);
        aimd.sent(t0);
        aimd.throttled(0, t0);
        let rate = aimd.rate();
        assert!(!aimd.succeeded(false, at(t0, 5000)));
        assert_eq!(aimd.rate(), rate);
    }

    /// Paces `calls` at the AIMD rate in virtual time against a service that allows `limit`
    /// per second with a burst of `limit` (the emulator's token bucket); returns (throttled,
    /// seconds, final rate).
    fn against_service(config: LimiterConfig, calls: usize, limit: f64) -> (usize, f64, f64) {
        let t0 = Instant::now();
        let mut aimd = Aimd::new(config, t0);
        let (mut now, mut tokens, mut throttled) = (0.0f64, limit, 0);
        for _ in 0..calls {
            now += 1.0 / aimd.rate();
            let at = t0 + Duration::from_secs_f64(now);
            tokens = (tokens + limit / aimd.rate()).min(limit);
            aimd.sent(at);
            let epoch = aimd.epoch();
            if tokens < 1.0 {
                throttled += 1;
                aimd.throttled(epoch, at);
            } else {
                tokens -= 1.0;
                aimd.succeeded(true, at);
            }
        }
        (throttled, now, aimd.rate())
    }

    #[test]
    fn finds_the_services_limit_with_few_throttles() {
        // Unknown limits of 10/s and 20/s, starting at the maximum of 50/s: under 1% of the
        // calls throttled, at least 85% of the limit used.
        for limit in [10.0, 20.0] {
            let calls = (limit * 100.0) as usize;
            let (throttled, seconds, rate) = against_service(LimiterConfig::default(), calls, limit);
            assert!(throttled * 100 <= calls, "{throttled} throttled in {seconds} s");
            let useful = (calls - throttled) as f64;
            assert!(useful / seconds > 0.85 * limit, "{seconds} s, {throttled} throttled");
            assert!(rate > 0.6 * limit && rate < 1.2 * limit, "{rate}");
        }
    }

    #[tokio::test]
    async fn mutating_calls_go_before_waiting_reads() {
        let limiter = Arc::new(Limiter::new(
            LimiterConfig {
                initial_rate: Some(20.0),
                max_rate: 20.0,
                ..LimiterConfig::default()
            },
            None,
        ));
        // Use up the token, then queue three reads and, later, one mutating call.
        limiter.complete(limiter.acquire("kms", Priority::Read).await, false);
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for (i, priority) in [Priority::Read, Priority::Read, Priority::Read, Priority::Mutating]
            .into_iter()
            .enumerate()
        {
            let limiter = limiter.clone();
            let order = order.clone();
            tasks.push(tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(i as u64 * 2)).await;
                let permit = limiter.acquire("kms", priority).await;
                order.lock().unwrap().push(priority);
                limiter.complete(permit, false);
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        let order = order.lock().unwrap().clone();
        assert_eq!(order[0], Priority::Mutating, "{order:?}");
    }

    #[tokio::test]
    async fn a_caller_that_gives_up_leaves_the_queue() {
        let limiter = Limiter::new(
            LimiterConfig {
                initial_rate: Some(2.0),
                max_rate: 2.0,
                ..LimiterConfig::default()
            },
            None,
        );
        limiter.complete(limiter.acquire("sts", Priority::Read).await, false);
        let gave_up = tokio::time::timeout(Duration::from_millis(50), limiter.acquire("sts", Priority::Mutating)).await;
        assert!(gave_up.is_err());
        // The next caller is not stuck behind the abandoned one.
        let permit = tokio::time::timeout(Duration::from_secs(2), limiter.acquire("sts", Priority::Read))
            .await
            .expect("served");
        assert!(permit.waited < Duration::from_secs(1));
    }

    #[tokio::test]
    async fn waits_are_reported() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        let limiter = Limiter::new(
            LimiterConfig {
                initial_rate: Some(10.0),
                max_rate: 10.0,
                ..LimiterConfig::default()
            },
            Some(Arc::new(move |event| sink.lock().unwrap().push(event))),
        );
        for _ in 0..3 {
            limiter.complete(limiter.acquire("sagemaker:read", Priority::Read).await, false);
        }
        let waits: Vec<f64> = seen
            .lock()
            .unwrap()
            .iter()
            .filter_map(|e| match e {
                LimiterEvent::Waited { seconds, .. } => Some(*seconds),
                _ => None,
            })
            .collect();
        assert_eq!(waits.len(), 3);
        assert!(waits[2] > 0.05, "the third call waited for its token: {waits:?}");
    }
}
