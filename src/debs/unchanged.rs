//! A bundle that would be written again with the same bytes is kept as it is.
//!
//! The bytes of a bundle are a function of what goes into it: each .deb (named by the
//! SHA-256 its signed index entry records, or its own for a local file, with the package,
//! version and architecture the entry gives), the options ([`BundleOptions`]: name,
//! install list, architecture, timestamp) and the writer itself (this seedforge's version
//! and commit, the install.sh template, the tar and gzip settings). After writing a bundle,
//! `seedforge debs` records a fingerprint of all of that beside it, in
//! `.NAME.tar.gz.seedforge.json`, with the bundle's SHA-256, size and stat (as a build
//! records a step: `src/pipeline/state.rs`). A later run with the same fingerprint keeps
//! the bundle, unread and unwritten, when the file still has the recorded stat (size,
//! mtime, ctime, inode, device), or, if the stat differs (a copy, a `touch`), when it still
//! hashes to the recorded SHA-256. Anything else (another fingerprint, a missing, damaged or
//! foreign record, a bundle that changed) writes the bundle again.
//!
//! The record also holds a second fingerprint, of what the closure is resolved from (the
//! spec, the requests, the base file's bytes, the timestamp, the writer, and what pins every
//! candidate: each repository's Release text by its SHA-256, which lists the SHA-256 of
//! every index, and each local .deb by its own), with the closure itself. A run whose
//! Release files (fetched and checked anew every time) and other inputs give that
//! fingerprint keeps the bundle as soon as the Release files are in, without reading an
//! index or resolving: the closure is the recorded one. A run where only a Release file
//! changed (a new package elsewhere in the archive) resolves, and keeps the bundle if the
//! closure is the same.
//!
//! The limit is the stat cache's: a bundle edited in a way that keeps its size, mtime,
//! ctime, inode and device is not noticed; `debs --force` writes it regardless.

use super::bundle::{self, BundleOptions, BundleReport};
use super::resolve::Closure;
use super::universe::Candidate;
use crate::leftovers::Staging;
use crate::util::FileStat;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Format version of the record; a record of another version is ignored.
const FORMAT: u32 = 2;

/// The largest record read: its closure takes a few hundred bytes a package.
const MAX_RECORD: u64 = 4 << 20;

/// What the record beside a bundle holds.
#[derive(Debug, Serialize, Deserialize)]
struct Record {
    format: u32,
    /// What the bundle was written from ([`fingerprint`]).
    fingerprint: String,
    /// What its closure was resolved from ([`inputs`]).
    inputs: String,
    /// That closure.
    closure: Closure,
    /// The bundle's SHA-256.
    sha256: String,
    /// Its size.
    file_bytes: u64,
    /// The number of .debs inside.
    debs: usize,
    /// The bundle's stat when it was written (or last found whole).
    stat: FileStat,
}

/// The record of the bundle `out`: `DIR/.FILE.seedforge.json`.
pub fn record_path(out: &Path) -> PathBuf {
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    out.with_file_name(format!(".{name}.seedforge.json"))
}

/// The fingerprint of a bundle of `debs` written with `options`: the SHA-256 of a JSON
/// document naming every input of the bundle's bytes.
pub fn fingerprint(debs: &[&Candidate], options: &BundleOptions) -> String {
    let mut packages: Vec<(&str, String, &str, &str, u64)> = debs
        .iter()
        .map(|c| {
            let sha256 = c.sha256.as_str();
            (
                c.name.as_str(),
                c.version.to_string(),
                c.arch.as_str(),
                sha256,
                c.size,
            )
        })
        .collect();
    packages.sort();
    let requested: Vec<String> = options.requested.iter().map(ToString::to_string).collect();
    let doc = serde_json::json!({
        "writer": writer(),
        "name": options.name,
        "arch": options.arch,
        "mtime": options.mtime,
        "requested": requested,
        "debs": packages,
    });
    crate::hashing::sha256_hex(doc.to_string().as_bytes())
}

/// What writes a bundle, beyond its inputs: this seedforge and its bundle writer.
pub(super) fn writer() -> serde_json::Value {
    serde_json::json!({
        "format": FORMAT,
        "seedforge": env!("CARGO_PKG_VERSION"),
        "commit": env!("SEEDFORGE_COMMIT"),
        "bundle": bundle::writer_id(),
    })
}

/// The fingerprint of what a closure is resolved from and its bundle written with:
/// `spec` (the bundle's definition, as JSON), `requests` (sets expanded), the base file's
/// SHA-256, the timestamp, and `pins` (what pins every candidate, from
/// [`super::Universe::load_reachable_unless`]).
pub fn inputs(
    spec: &serde_json::Value,
    requests: &[String],
    base_sha256: Option<&str>,
    mtime: u64,
    pins: &[String],
) -> String {
    let doc = serde_json::json!({
        "writer": writer(),
        "spec": spec,
        "requests": requests,
        "base": base_sha256,
        "mtime": mtime,
        "pins": pins,
    });
    crate::hashing::sha256_hex(doc.to_string().as_bytes())
}

/// The record beside `out`, if it is one of this format.
fn load(out: &Path) -> Option<Record> {
    let path = record_path(out);
    let bytes = crate::input::read_capped(&path, MAX_RECORD, "bundle record").ok()?;
    serde_json::from_slice::<Record>(&bytes)
        .ok()
        .filter(|r| r.format == FORMAT)
}

/// The report of the bundle at `out` if `record` describes it and it is whole: its stat
/// is the recorded one, or its bytes hash to the recorded SHA-256 (the record then takes
/// the new stat).
fn whole(out: &Path, mut record: Record, staging: &Staging) -> Option<(BundleReport, Closure)> {
    let stat = FileStat::read(out)?;
    if stat != record.stat {
        if stat.size != record.file_bytes {
            return None;
        }
        // Taken before hashing: a change while it is read shows as another stat next time.
        let sha256 = crate::hashing::sha256_file(out).ok()?;
        if sha256 != record.sha256 {
            tracing::debug!("{}: changed since it was written", out.display());
            return None;
        }
        record.stat = stat;
        save(out, &record, staging);
    }
    let report = BundleReport {
        path: out.to_path_buf(),
        sha256: record.sha256,
        file_bytes: record.file_bytes,
        debs: record.debs,
    };
    Some((report, record.closure))
}

/// The report and closure of the bundle at `out` if its closure was resolved from
/// `inputs` ([`inputs`]) and it is whole. `None` means the closure must be resolved.
pub fn kept_as_resolved(
    out: &Path,
    inputs: &str,
    staging: &Staging,
) -> Option<(BundleReport, Closure)> {
    let record = load(out).filter(|r| r.inputs == inputs)?;
    whole(out, record, staging)
}

/// The report of the bundle at `out` if it was written with `fingerprint` and is whole;
/// the record then names `inputs` and `closure` as what it was resolved from. `None` means
/// it must be written.
pub fn kept(
    out: &Path,
    fingerprint: &str,
    inputs: &str,
    closure: &Closure,
    staging: &Staging,
) -> Option<BundleReport> {
    let record = load(out).filter(|r| r.fingerprint == fingerprint)?;
    let recorded = record.inputs.clone();
    let (report, _) = whole(out, record, staging)?;
    // Found whole just now: the record takes what this closure was resolved from.
    if let (true, Some(mut record)) = (recorded != inputs, load(out)) {
        record.inputs = inputs.to_string();
        record.closure = closure.clone();
        save(out, &record, staging);
    }
    Some(report)
}

/// Records that the bundle `report` describes (just written, durable, with the stat
/// `written` once in place) was written with `fingerprint`, its closure resolved from
/// `inputs`. A record that cannot be written only means the next run writes the bundle
/// again: the failure is logged, not raised.
pub fn remember(
    out: &Path,
    fingerprint: &str,
    (inputs, closure): (&str, &Closure),
    (report, written): (&BundleReport, &FileStat),
    staging: &Staging,
) {
    // Only what is at `out` now is recorded: another run may have replaced the bundle
    // since this one renamed it into place. The file this run wrote, unchanged, still has
    // the stat it had then; any other is hashed, the stat taken before and checked after,
    // so a change meanwhile is not recorded either.
    let Some(stat) = FileStat::read(out) else {
        return;
    };
    let ours = stat == *written
        || (crate::hashing::sha256_file(out).is_ok_and(|h| h == report.sha256)
            && FileStat::read(out) == Some(stat));
    if !ours {
        tracing::debug!("{}: replaced meanwhile; not recorded", out.display());
        return;
    }
    let record = Record {
        format: FORMAT,
        fingerprint: fingerprint.to_string(),
        inputs: inputs.to_string(),
        closure: closure.clone(),
        sha256: report.sha256.clone(),
        file_bytes: report.file_bytes,
        debs: report.debs,
        stat,
    };
    save(out, &record, staging);
}

/// Writes `record` beside `out`: under a temporary name removed on SIGINT or SIGTERM, then
/// renamed. Not synced: a record a crash leaves short is not JSON, and the bundle is then
/// written again.
fn save(out: &Path, record: &Record, staging: &Staging) {
    let path = record_path(out);
    let tmp = crate::util::temp_path_beside(&path);
    let result = (|| {
        let (mut file, _staged) = staging.create_file(&tmp)?;
        // Made whole first: one write, not one for each token.
        let bytes = serde_json::to_vec_pretty(record).map_err(std::io::Error::other)?;
        std::io::Write::write_all(&mut file, &bytes)?;
        drop(file);
        staging.unless_stopping(|| std::fs::rename(&tmp, &path))
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        tracing::debug!("{}: not recorded: {e}", path.display());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_record_is_a_hidden_file_beside_the_bundle() {
        assert_eq!(
            record_path(Path::new("out/ops.tar.gz")),
            Path::new("out/.ops.tar.gz.seedforge.json")
        );
        // Never taken for a dead run's temporary file.
        let name = ".ops.tar.gz.seedforge.json";
        assert_eq!(crate::leftovers::temp_owner(name), None);
    }

    fn report(out: &Path, bytes: &[u8]) -> BundleReport {
        BundleReport {
            path: out.to_path_buf(),
            sha256: crate::hashing::sha256_hex(bytes),
            file_bytes: bytes.len() as u64,
            debs: 1,
        }
    }

    #[test]
    fn only_the_bundle_a_run_wrote_is_recorded_and_kept() {
        let t = tempfile::tempdir().unwrap();
        let out = t.path().join("ops.tar.gz");
        let closure = Closure::default();
        // Another run replaced the bundle after this one wrote it: nothing is recorded.
        let mine = t.path().join("mine");
        std::fs::write(&mine, b"this run's bundle").unwrap();
        let written = FileStat::read(&mine).unwrap();
        std::fs::write(&out, b"another run's bundle").unwrap();
        let this = report(&out, b"this run's bundle");
        remember(
            &out,
            "fp",
            ("in", &closure),
            (&this, &written),
            &Staging::new(),
        );
        assert!(!record_path(&out).exists());
        assert!(kept(&out, "fp", "in", &closure, &Staging::new()).is_none());
        // Its own bundle, found by its bytes (another stat: a copy) or by the stat it had
        // when written (not hashed again), is recorded, and kept for the same fingerprints
        // only.
        std::fs::write(&out, b"this run's bundle").unwrap();
        remember(
            &out,
            "fp",
            ("in", &closure),
            (&this, &written),
            &Staging::new(),
        );
        assert!(record_path(&out).exists());
        std::fs::remove_file(record_path(&out)).unwrap();
        let written = FileStat::read(&out).unwrap();
        let unhashed = BundleReport {
            sha256: "not hashed again".into(),
            ..this.clone()
        };
        remember(
            &out,
            "fp",
            ("in", &closure),
            (&unhashed, &written),
            &Staging::new(),
        );
        assert!(record_path(&out).exists());
        remember(
            &out,
            "fp",
            ("in", &closure),
            (&this, &written),
            &Staging::new(),
        );
        assert!(kept_as_resolved(&out, "in", &Staging::new()).is_some());
        assert!(kept_as_resolved(&out, "other", &Staging::new()).is_none());
        assert!(kept(&out, "other", "in", &closure, &Staging::new()).is_none());
        assert!(kept(&out, "fp", "new", &closure, &Staging::new()).is_some());
        // The record took the new inputs.
        assert!(kept_as_resolved(&out, "new", &Staging::new()).is_some());
        // Rewritten with other bytes of the same size: hashed, refused.
        std::fs::write(&out, b"this run's bundlE").unwrap();
        assert!(kept_as_resolved(&out, "new", &Staging::new()).is_none());
    }
}
