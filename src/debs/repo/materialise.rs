//! The chosen candidates' .debs brought to disk: downloaded a few at a time (or taken from
//! the package cache), each checked against its index entry's size, hash and names, and
//! read.

use super::super::cache::DebCache;
use super::super::deb::{DebFile, read_deb};
use super::super::error::DebsError;
use super::super::universe::{Candidate, Location};
use super::super::version::Version;
use super::fetch::{Fetcher, join};
use crate::leftovers::Staging;
use crate::net::Net;
use crate::report::Reporter;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// How many .debs download at once.
const PARALLEL_DOWNLOADS: usize = 4;

/// Brings every candidate to disk (downloading the remote ones into `dir`, several at a
/// time, each checked against its index entry's size, hash and names) and reads each; the
/// result is in the order of `candidates`. After the first failure no new download starts.
/// A .deb `cache` holds with the entry's hash is copied from it instead of downloaded.
/// `dir` is a staging folder registered with `staging`: each file is made in it under
/// that set's lock.
pub fn materialise(
    candidates: &[&Candidate],
    dir: &Path,
    (net, cache): (&Net, Option<&DebCache>),
    reporter: &dyn Reporter,
    staging: &Staging,
) -> Result<Vec<DebFile>, DebsError> {
    let fetcher = Fetcher::new(net, Some(reporter))
        .with_cache(cache)
        .with_staging(staging);
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let results: Mutex<Vec<Option<Result<DebFile, DebsError>>>> =
        Mutex::new((0..candidates.len()).map(|_| None).collect());
    let workers = PARALLEL_DOWNLOADS.min(candidates.len()).max(1);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                while !failed.load(Ordering::Relaxed) {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(c) = candidates.get(i) else { break };
                    let r = materialise_one(c, (i, candidates.len()), dir, &fetcher, reporter);
                    if r.is_err() {
                        failed.store(true, Ordering::Relaxed);
                    }
                    if let Ok(mut all) = results.lock() {
                        all[i] = Some(r);
                    }
                }
            });
        }
    });
    // In closure order: the first failure is the one reported.
    let mut debs = Vec::with_capacity(candidates.len());
    for r in results.into_inner().unwrap_or_default() {
        match r {
            Some(Ok(deb)) => debs.push(deb),
            Some(Err(e)) => return Err(e),
            // Not started because an earlier one failed: that failure is further on.
            None => {}
        }
    }
    if debs.len() != candidates.len() {
        return Err(DebsError::Unsatisfiable(format!(
            "{} of {} packages were not fetched",
            candidates.len() - debs.len(),
            candidates.len()
        )));
    }
    Ok(debs)
}

/// One candidate of [`materialise`]: `at` is its place and the count, for progress.
fn materialise_one(
    c: &Candidate,
    at: (usize, usize),
    dir: &Path,
    fetcher: &Fetcher,
    reporter: &dyn Reporter,
) -> Result<DebFile, DebsError> {
    let label = format!("{} {}", c.name, c.version);
    reporter.item_started(&label, at.0, at.1);
    let deb = match &c.location {
        Location::Local(p) => read_deb(p)?,
        Location::Remote { base, path } => {
            let url = join(base, path);
            let dest = dir.join(format!(
                "{}_{}_{}.deb",
                c.name,
                c.version.without_epoch(),
                c.arch
            ));
            // A cache entry at the stat its facts were recorded at is not read again (the
            // bundle writer hashes what it packs). Any other is hashed once, by read_deb,
            // as every .deb is: one that does not hash to its name (or is no .deb) is
            // removed and the file downloaded.
            let known = fetcher.from_cache_known(&dest, c.size, &c.sha256);
            let cached = known.map(Ok).or_else(|| {
                (fetcher.from_cache_unchecked(&dest, c.size, &c.sha256)).then(|| read_deb(&dest))
            });
            let cached = cached.and_then(|read| match read {
                Ok(deb) if deb.sha256 == c.sha256 => Some(deb),
                _ => {
                    fetcher.discard_cached(&c.sha256);
                    let _ = std::fs::remove_file(&dest);
                    None
                }
            });
            match cached {
                Some(deb) => deb,
                None => {
                    fetcher.download_to_cache(&url, &dest, c.size, &c.sha256)?;
                    read_deb(&dest)?
                }
            }
        }
    };
    if deb.sha256 != c.sha256 {
        return Err(DebsError::HashMismatch {
            what: deb.path.display().to_string(),
            expected: format!("sha256:{}", c.sha256),
            actual: format!("sha256:{}", deb.sha256),
        });
    }
    if let Location::Remote { base, path } = &c.location {
        check_entry(c, &deb, &join(base, path))?;
    }
    reporter.item_finished(&label, &crate::util::human_bytes(deb.size));
    Ok(deb)
}

/// A .deb must be the package its index entry names: its control file's Package,
/// Version and Architecture against the entry's (a repository whose hashes match but whose
/// names do not would otherwise install another package under the requested name).
fn check_entry(c: &Candidate, deb: &DebFile, url: &str) -> Result<(), DebsError> {
    let control = &deb.control;
    let package = control.get("Package").unwrap_or_default();
    let version = control.get("Version").unwrap_or_default();
    let arch = control.get("Architecture").unwrap_or_default();
    let same_version = Version::parse(version).is_ok_and(|v| v == c.version);
    if package == c.name && same_version && arch == c.arch {
        return Ok(());
    }
    Err(DebsError::NotTheEntry {
        url: url.to_string(),
        expected: format!("{} {} {}", c.name, c.version, c.arch),
        actual: format!("{package} {version} {arch}"),
    })
}
