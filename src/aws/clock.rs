//! The time AWS reports in the `Date` header of its answers, so that decisions measured against
//! AWS's timestamps (the sweeper's idle and uptime checks) can refuse to act when the local
//! clock disagrees with AWS's.

use std::sync::{Arc, Mutex};
use std::time::{Instant, UNIX_EPOCH};

use aws_sdk_sagemaker::config::interceptors::BeforeDeserializationInterceptorContextRef;
use aws_sdk_sagemaker::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_sagemaker::error::BoxError;

/// AWS's time as of its last answer, and when that answer arrived.
#[derive(Debug, Default)]
pub struct AwsClock {
    last: Mutex<Option<(f64, Instant)>>,
}

impl AwsClock {
    /// AWS's time now (epoch seconds), from the last `Date` header and the time since; `None`
    /// before the first answer.
    pub fn now(&self) -> Option<f64> {
        let last = *self.last.lock().expect("aws clock lock");
        last.map(|(date, at)| date + at.elapsed().as_secs_f64())
    }

    fn record(&self, date: f64) {
        *self.last.lock().expect("aws clock lock") = Some((date, Instant::now()));
    }
}

/// Records the `Date` header of every answer of a client into an [`AwsClock`].
#[derive(Debug)]
pub(super) struct DateRecorder(pub(super) Arc<AwsClock>);

impl Intercept for DateRecorder {
    fn name(&self) -> &'static str {
        "studio-operator-date-recorder"
    }

    fn read_before_deserialization(
        &self,
        context: &BeforeDeserializationInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(date) = context.response().headers().get("date")
            && let Some(epoch) = parse_date(date)
        {
            self.0.record(epoch);
        }
        Ok(())
    }
}

/// Epoch seconds of an HTTP date (`Wed, 02 Dec 2026 13:29:44 GMT`).
fn parse_date(value: &str) -> Option<f64> {
    let time = httpdate::parse_http_date(value).ok()?;
    Some(time.duration_since(UNIX_EPOCH).ok()?.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates_parse_and_the_clock_runs_on() {
        assert_eq!(parse_date("Wed, 02 Dec 2026 13:29:44 GMT"), Some(1_796_218_184.0));
        assert_eq!(parse_date("yesterday"), None);
        let clock = AwsClock::default();
        assert_eq!(clock.now(), None);
        clock.record(1000.0);
        let now = clock.now().unwrap();
        assert!((1000.0..1001.0).contains(&now), "{now}");
    }
}
