//! The download cache of .debs and package indexes that `debs`, `build`, `apply` and `gc`
//! share: where it is, whether it is on, its size cap.

use super::CliError;
use seedforge::debs::cache::{self, DebCache};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The environment variable that turns the download cache off (`1`; `0` or empty leaves
/// it on).
const NO_CACHE_ENV: &str = "SEEDFORGE_NO_CACHE";

/// The environment variable capping the download cache's size (bytes, or with a K, M, G
/// or T suffix, powers of 1024).
const CACHE_MAX_ENV: &str = "SEEDFORGE_CACHE_MAX";

/// The cache's size cap: `SEEDFORGE_CACHE_MAX`, else [`cache::DEFAULT_CACHE_MAX`].
fn cache_max() -> Result<u64, CliError> {
    let Ok(raw) = std::env::var(CACHE_MAX_ENV) else {
        return Ok(cache::DEFAULT_CACHE_MAX);
    };
    let t = raw.trim();
    let (digits, shift) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let shift = match c.to_ascii_uppercase() {
                'K' => 10,
                'M' => 20,
                'G' => 30,
                'T' => 40,
                _ => 64,
            };
            (&t[..i], shift)
        }
        _ => (t, 0),
    };
    digits
        .parse::<u64>()
        .ok()
        .filter(|_| shift < 64)
        .and_then(|n| n.checked_mul(1u64 << shift))
        .ok_or_else(|| {
            CliError::Usage(format!(
                "{CACHE_MAX_ENV}={raw:?}: expected a size in bytes, or with a K, M, G or T suffix"
            ))
        })
}

/// The cache root `dir` (`--cache-dir`) or the default one; `None` without a home folder.
pub(crate) fn cache_root(dir: Option<&Path>) -> Option<PathBuf> {
    dir.map(Path::to_path_buf).or_else(cache::default_root)
}

/// The download cache for this run: off with `no_cache` (`--no-cache`) or
/// `SEEDFORGE_NO_CACHE=1`; at `dir` (`--cache-dir`) or the default root. A default cache
/// that cannot be opened only makes the run download everything (a warning says why); one
/// named with `--cache-dir` fails the run.
pub(crate) fn open_cache(
    no_cache: bool,
    dir: Option<&Path>,
) -> Result<Option<Arc<DebCache>>, CliError> {
    let off = std::env::var(NO_CACHE_ENV).is_ok_and(|v| !matches!(v.trim(), "" | "0"));
    let max = cache_max()?;
    if no_cache || off {
        return Ok(None);
    }
    let Some(root) = cache_root(dir) else {
        tracing::debug!(
            "no home folder and no {}: no download cache",
            cache::CACHE_DIR_ENV
        );
        return Ok(None);
    };
    match DebCache::open(&root, max) {
        Ok(c) => Ok(Some(Arc::new(c))),
        Err(e) if dir.is_some() => Err(CliError::Usage(format!(
            "--cache-dir {}: {e}",
            root.display()
        ))),
        Err(e) => {
            tracing::warn!(
                "{}: download cache not used: {e}",
                root.join("debs").display()
            );
            Ok(None)
        }
    }
}
