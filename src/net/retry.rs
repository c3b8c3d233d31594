//! When and how long to wait before trying a request again: one policy for registries,
//! apt repositories and `files:` URLs.
//!
//! Transient means: the connection failed, was reset or went idle, or the server answered
//! 408, 429 or 5xx. Waits grow exponentially with random jitter so that parallel downloads
//! hitting the same overloaded registry do not retry in lockstep; a `Retry-After` header
//! (seconds) replaces the computed wait, within a cap.

use std::cell::Cell;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The retry schedule for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// How many times a request is sent in all (at least 1).
    pub attempts: u32,
    /// The wait before the first retry; doubled for each further one.
    pub base: Duration,
    /// The longest computed wait.
    pub max: Duration,
    /// The longest wait a `Retry-After` header may ask for.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 6,
            base: Duration::from_millis(250),
            max: Duration::from_secs(8),
            max_retry_after: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// True if another attempt follows attempt number `attempt` (1-based).
    pub fn should_retry(&self, attempt: u32) -> bool {
        attempt < self.attempts
    }

    /// The wait after failed attempt `attempt` (1-based): `retry_after` when the server gave
    /// one (capped), else `base * 2^(attempt-1)` (capped) scaled by a jitter of 50-100 %.
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(wait) = retry_after {
            return wait.min(self.max_retry_after);
        }
        self.longest_delay(attempt).mul_f64(0.5 + 0.5 * jitter())
    }

    /// The computed wait after failed attempt `attempt` before jitter: `base *
    /// 2^(attempt-1)`, capped at `max`.
    pub fn longest_delay(&self, attempt: u32) -> Duration {
        let exp = self
            .base
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
        exp.min(self.max)
    }
}

/// True for HTTP statuses worth retrying.
pub fn retryable_status(status: u16) -> bool {
    status == 408 || status == 429 || (500..=599).contains(&status)
}

/// Parses a `Retry-After` value given in seconds. The HTTP-date form is rare from
/// registries and falls back to the computed backoff.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

thread_local! {
    static STATE: Cell<u64> = const { Cell::new(0) };
}

/// A number in [0, 1) from a per-thread xorshift generator seeded from the clock; good
/// enough to spread retries, and no dependency for it.
fn jitter() -> f64 {
    STATE.with(|s| {
        let mut x = s.get();
        if x == 0 {
            let nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0x9e37_79b9_7f4a_7c15);
            x = nanos | 1;
        }
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s.set(x);
        (x >> 11) as f64 / (1u64 << 53) as f64
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_within_jitter_and_cap() {
        let p = RetryPolicy::default();
        for attempt in 1..=10 {
            let full = p.base.saturating_mul(1 << (attempt - 1)).min(p.max);
            let d = p.delay(attempt, None);
            assert!(d >= full / 2 && d <= full, "attempt {attempt}: {d:?}");
        }
    }

    #[test]
    fn retry_after_wins_and_is_capped() {
        let p = RetryPolicy::default();
        assert_eq!(
            p.delay(1, Some(Duration::from_secs(2))),
            Duration::from_secs(2)
        );
        assert_eq!(
            p.delay(1, Some(Duration::from_secs(3600))),
            p.max_retry_after
        );
        assert_eq!(parse_retry_after(" 7 "), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }

    #[test]
    fn transient_statuses() {
        for s in [408, 429, 500, 502, 503, 504] {
            assert!(retryable_status(s), "{s}");
        }
        for s in [200, 206, 400, 401, 403, 404, 416] {
            assert!(!retryable_status(s), "{s}");
        }
        let p = RetryPolicy::default();
        assert!(p.should_retry(1) && !p.should_retry(p.attempts));
    }
}
