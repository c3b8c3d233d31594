//! The network's time limits and retries from the environment, for every command that
//! downloads: `SEEDFORGE_CONNECT_TIMEOUT`, `SEEDFORGE_READ_TIMEOUT`, `SEEDFORGE_DEADLINE`,
//! `SEEDFORGE_DOCUMENT_DEADLINE`, `SEEDFORGE_SPEED_TIME`, `SEEDFORGE_BUDGET`,
//! `SEEDFORGE_RETRY_AFTER_MAX` (seconds, fractions allowed), `SEEDFORGE_SPEED_LIMIT`
//! (bytes a second, 0 for no speed rule) and `SEEDFORGE_RETRIES` (attempts per request).
//! A bad value is a usage error naming the variable.

use super::CliError;
use seedforge::net::{Limits, NetSettings, RetryPolicy};
use std::path::PathBuf;
use std::time::Duration;

fn seconds(name: &str, default: Duration) -> Result<Duration, CliError> {
    seedforge::util::env_seconds(name, default).map_err(CliError::Usage)
}

/// A whole number from the environment variable `name`, within `range`.
fn number(
    name: &str,
    what: &str,
    range: std::ops::RangeInclusive<u64>,
    default: u64,
) -> Result<u64, CliError> {
    let Ok(raw) = std::env::var(name) else {
        return Ok(default);
    };
    raw.trim()
        .parse::<u64>()
        .ok()
        .filter(|n| range.contains(n))
        .ok_or_else(|| {
            CliError::Usage(format!(
                "{name}={raw:?}: expected {what}, {} to {}",
                range.start(),
                range.end()
            ))
        })
}

/// The network settings for this run: limits and retries from the environment, CA files
/// trusted for every host from `ca_files` (`--ca-file`), each checked to exist.
pub(crate) fn settings(ca_files: &[PathBuf]) -> Result<NetSettings, CliError> {
    let limits = Limits::default();
    let retry = RetryPolicy::default();
    let attempts = number(
        "SEEDFORGE_RETRIES",
        "attempts per request",
        1..=100,
        u64::from(retry.attempts),
    )?;
    let speed_limit = number(
        "SEEDFORGE_SPEED_LIMIT",
        "bytes a second (0: no speed rule)",
        0..=1 << 40,
        limits.speed_limit,
    )?;
    for file in ca_files {
        if !file.is_file() {
            return Err(CliError::Usage(format!(
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
            document_deadline: seconds("SEEDFORGE_DOCUMENT_DEADLINE", limits.document_deadline)?,
            speed_limit,
            speed_time: seconds("SEEDFORGE_SPEED_TIME", limits.speed_time)?,
            budget: seconds("SEEDFORGE_BUDGET", limits.budget)?,
        },
        retry: RetryPolicy {
            attempts: u32::try_from(attempts).unwrap_or(retry.attempts),
            max_retry_after: seconds("SEEDFORGE_RETRY_AFTER_MAX", retry.max_retry_after)?,
            ..retry
        },
        ca_files: ca_files.to_vec(),
        ..NetSettings::default()
    })
}
