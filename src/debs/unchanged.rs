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
//! The limit is the stat cache's: a bundle edited in a way that keeps its size, mtime,
//! ctime, inode and device is not noticed; `debs --force` writes it regardless.

use super::bundle::{self, BundleOptions, BundleReport};
use super::repo::Candidate;
use crate::util::FileStat;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Format version of the record; a record of another version is ignored.
const FORMAT: u32 = 1;

/// The largest record read: a few hundred bytes in practice.
const MAX_RECORD: u64 = 64 * 1024;

/// What the record beside a bundle holds.
#[derive(Debug, Serialize, Deserialize)]
struct Record {
    format: u32,
    /// What the bundle was written from ([`fingerprint`]).
    fingerprint: String,
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
        "format": FORMAT,
        "seedforge": env!("CARGO_PKG_VERSION"),
        "commit": env!("SEEDFORGE_COMMIT"),
        "writer": bundle::writer_id(),
        "name": options.name,
        "arch": options.arch,
        "mtime": options.mtime,
        "requested": requested,
        "debs": packages,
    });
    crate::hashing::sha256_hex(doc.to_string().as_bytes())
}

/// The report of the bundle at `out` if it was written with `fingerprint` and is whole:
/// its stat is the recorded one, or its bytes hash to the recorded SHA-256 (the record then
/// takes the new stat). `None` means it must be written.
pub fn kept(out: &Path, fingerprint: &str) -> Option<BundleReport> {
    let path = record_path(out);
    let bytes = crate::input::read_capped(&path, MAX_RECORD, "bundle record").ok()?;
    let record: Record = serde_json::from_slice(&bytes).ok()?;
    if record.format != FORMAT || record.fingerprint != fingerprint {
        return None;
    }
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
        save(
            out,
            fingerprint,
            &BundleReport {
                path: out.to_path_buf(),
                sha256,
                file_bytes: record.file_bytes,
                debs: record.debs,
            },
            stat,
        );
    }
    Some(BundleReport {
        path: out.to_path_buf(),
        sha256: record.sha256,
        file_bytes: record.file_bytes,
        debs: record.debs,
    })
}

/// Records that the bundle `report` describes (just written, durable) was written with
/// `fingerprint`. A record that cannot be written only means the next run writes the
/// bundle again: the failure is logged, not raised.
pub fn remember(out: &Path, fingerprint: &str, report: &BundleReport) {
    // A record never vouches for another bundle: one replaced after it was written has
    // another inode (so another stat) and another hash.
    if let Some(stat) = FileStat::read(out) {
        save(out, fingerprint, report, stat);
    }
}

fn save(out: &Path, fingerprint: &str, report: &BundleReport, stat: FileStat) {
    let record = Record {
        format: FORMAT,
        fingerprint: fingerprint.to_string(),
        sha256: report.sha256.clone(),
        file_bytes: report.file_bytes,
        debs: report.debs,
        stat,
    };
    let path = record_path(out);
    let bytes = serde_json::to_vec_pretty(&record).unwrap_or_default();
    if let Err(e) = crate::util::atomic_write(&path, &bytes) {
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
}
