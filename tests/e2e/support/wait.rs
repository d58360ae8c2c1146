//! Waiting for conditions on live objects, with a deadline and a useful failure message.

use std::fmt::Debug;
use std::future::Future;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;

/// Polls `probe` until it returns `Some`, or panics after `timeout` with the last observation.
pub async fn until<T, O: Debug, F, Fut>(what: &str, timeout: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, O>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        match probe().await {
            Ok(value) => return value,
            Err(last) => {
                if tokio::time::Instant::now() > deadline {
                    panic!("timed out after {timeout:?} waiting for {what}; last seen: {last:#?}");
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

/// Polls `probe` until it returns `Ok`, or returns its last error after `timeout` (for checks
/// that collect violations instead of failing at once).
pub async fn try_until<T, F, Fut>(timeout: Duration, mut probe: F) -> Result<T, String>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        match probe().await {
            Ok(value) => return Ok(value),
            Err(last) if tokio::time::Instant::now() > deadline => {
                return Err(format!("timed out after {timeout:?}: {last}"));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(150)).await,
        }
    }
}

/// The condition of a type.
pub fn condition<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// Whether a condition has the given status.
pub fn has(conditions: &[Condition], type_: &str, status: &str) -> bool {
    condition(conditions, type_).is_some_and(|c| c.status == status)
}
