//! Emulated clock: real time plus an offset that tests can only move forward.
//!
//! Status transitions are computed from this clock, so advancing it makes
//! pending work complete without sleeping, while an untouched clock still
//! progresses in real time (useful for the standalone binary).

use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch in emulated time.
pub type Millis = i64;

#[derive(Debug, Default)]
pub struct Clock {
    offset_ms: Mutex<Millis>,
}

impl Clock {
    /// Current emulated time.
    pub fn now(&self) -> Millis {
        real_now() + *self.offset_ms.lock().expect("clock lock")
    }

    /// Moves emulated time forward; negative values are ignored so time never runs backwards.
    pub fn advance(&self, seconds: f64) {
        if seconds > 0.0 {
            *self.offset_ms.lock().expect("clock lock") += secs_to_ms(seconds);
        }
    }

    /// Returns to real time.
    pub fn reset(&self) {
        *self.offset_ms.lock().expect("clock lock") = 0;
    }
}

fn real_now() -> Millis {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as Millis)
        .unwrap_or(0)
}

/// Converts seconds (as configured) to clock milliseconds.
pub fn secs_to_ms(seconds: f64) -> Millis {
    (seconds * 1000.0).round() as Millis
}

/// HTTP `Date` header text (RFC 7231 IMF-fixdate), e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
pub fn http_date(ms: Millis) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string()
}

/// Converts clock milliseconds to the epoch-seconds numbers of the JSON protocol.
pub fn to_epoch_secs(ms: Millis) -> f64 {
    ms as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates_use_the_imf_fixdate_format() {
        assert_eq!(http_date(784_111_777_000), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
    }

    #[test]
    fn advance_moves_forward_only() {
        let c = Clock::default();
        let before = c.now();
        c.advance(3600.0);
        assert!(c.now() - before >= 3_600_000);
        let after = c.now();
        c.advance(-10.0);
        assert!(c.now() >= after);
        c.reset();
        assert!(c.now() < after);
    }
}
