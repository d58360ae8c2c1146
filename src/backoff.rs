//! The one exponential backoff of the operator: AWS call retries, reconcile failures, polls of
//! resources in transition and blocked states all wait `initial × 2^attempt`, capped at `max`
//! (the schedule comes from `backon`, the backoff crate kube-runtime itself uses).

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};

/// Delays that double from `initial` up to `max`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// The first delay.
    pub initial: Duration,
    /// The longest delay.
    pub max: Duration,
}

impl Backoff {
    /// Delays from `initial` doubling up to `max` (at least `initial`).
    pub const fn new(initial: Duration, max: Duration) -> Self {
        Self { initial, max }
    }

    /// The delay before retry number `attempt` (0 for the first retry).
    pub fn delay(&self, attempt: u32) -> Duration {
        let max = self.max.max(self.initial);
        ExponentialBuilder::new()
            .with_min_delay(self.initial)
            .with_max_delay(max)
            .with_factor(2.0)
            .without_max_times()
            .build()
            .nth(attempt.min(64) as usize)
            .unwrap_or(max)
    }

    /// A random delay between zero and [`Backoff::delay`] ("full jitter"), so that many clients
    /// retrying at once spread out.
    pub fn jittered(&self, attempt: u32) -> Duration {
        self.delay(attempt).mul_f64(rand::random::<f64>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_cap() {
        let backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(10));
        let delays: Vec<u64> = (0..6).map(|a| backoff.delay(a).as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 10, 10]);
        assert_eq!(backoff.delay(u32::MAX), Duration::from_secs(10));
    }

    #[test]
    fn a_cap_below_the_first_delay_is_the_first_delay() {
        let backoff = Backoff::new(Duration::from_secs(5), Duration::from_secs(1));
        assert_eq!(backoff.delay(0), Duration::from_secs(5));
        assert_eq!(backoff.delay(3), Duration::from_secs(5));
    }

    #[test]
    fn jitter_stays_below_the_delay() {
        let backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        for attempt in 0..8 {
            assert!(backoff.jittered(attempt) <= backoff.delay(attempt));
        }
    }
}
