//! The network's time limits and retries from the environment, for every command that
//! downloads: `SEEDFORGE_CONNECT_TIMEOUT`, `SEEDFORGE_READ_TIMEOUT`, `SEEDFORGE_DEADLINE`,
//! `SEEDFORGE_RETRY_AFTER_MAX` (seconds, fractions allowed) and `SEEDFORGE_RETRIES`
//! (attempts per request). A bad value is a usage error naming the variable.

use seedforge::Error;
use seedforge::net::{Limits, NetSettings, RetryPolicy};
use std::path::PathBuf;
use std::time::Duration;

fn seconds(name: &str, default: Duration) -> Result<Duration, Error> {
    let Ok(raw) = std::env::var(name) else {
        return Ok(default);
    };
    raw.trim()
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s > 0.0 && *s <= 86_400.0)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| {
            Error::Usage(format!(
                "{name}={raw:?}: expected a number of seconds between 0 and 86400"
            ))
        })
}

/// The network settings for this run: limits and retries from the environment, CA files
/// trusted for every host from `ca_files` (`--ca-file`), each checked to exist.
pub(crate) fn settings(ca_files: &[PathBuf]) -> Result<NetSettings, Error> {
    let limits = Limits::default();
    let retry = RetryPolicy::default();
    let attempts = match std::env::var("SEEDFORGE_RETRIES") {
        Err(_) => retry.attempts,
        Ok(raw) => raw
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=100).contains(n))
            .ok_or_else(|| {
                Error::Usage(format!(
                    "SEEDFORGE_RETRIES={raw:?}: expected attempts per request, 1 to 100"
                ))
            })?,
    };
    for file in ca_files {
        if !file.is_file() {
            return Err(Error::Usage(format!(
                "--ca-file {}: no such file",
                file.display()
            )));
        }
    }
    Ok(NetSettings {
        limits: Limits {
            connect: seconds("SEEDFORGE_CONNECT_TIMEOUT", limits.connect)?,
            idle: seconds("SEEDFORGE_READ_TIMEOUT", limits.idle)?,
            deadline: seconds("SEEDFORGE_DEADLINE", limits.deadline)?,
        },
        retry: RetryPolicy {
            attempts,
            max_retry_after: seconds("SEEDFORGE_RETRY_AFTER_MAX", retry.max_retry_after)?,
            ..retry
        },
        ca_files: ca_files.to_vec(),
        ..NetSettings::default()
    })
}
