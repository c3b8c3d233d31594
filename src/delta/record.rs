//! The crossing record's facts besides what changes: who made the medium (the config's
//! digest and, when its folder is a git checkout, the commit), and the base it is made
//! against (the receipt's time, the medium the far side last applied, and whether the
//! receipt is stale by what this side knows it sent since).
//!
//! Two small files in an output's state folder (`OUT/.seedforge/`, never sealed, never
//! carried) make that possible:
//!
//! - on the far side, `applied.json`: the delta `apply` last made the output from (its
//!   `delta.json`'s SHA-256, the receipt it was made against, when it was applied), written
//!   into the staging copy before it becomes the output; `receipt` reports it while the
//!   output is still that delta's target;
//! - on the near side, `sent/<delta.json sha256>.json`: each delta `delta` made (for which
//!   cluster, from which receipt and seal to which seal and k3s release, when), read to
//!   tell a stale receipt.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The far side's record of the delta its output was last made from.
pub const APPLIED_FILE: &str = "applied.json";
/// The near side's folder of the deltas it made.
pub const SENT_DIR: &str = "sent";
/// A receipt written longer ago than this is said to be stale.
pub const STALE_AFTER_DAYS: u64 = 30;

/// Now, in seconds since 1970.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A date for a person: `2026-11-29T01:57:37Z`.
pub fn date(epoch: u64) -> String {
    crate::sbom::rfc3339(epoch)
}

fn state(out: &Path) -> PathBuf {
    out.join(crate::pipeline::state::STATE_DIR)
}

/// The commit a config folder is checked out at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GitCommit {
    /// The commit `HEAD` names (hex).
    pub commit: String,
    /// Whether the config folder holds changes the commit does not (tracked files changed,
    /// files not tracked; the output folder aside); `null` when that could not be told
    /// (read without the `git` binary).
    pub dirty: Option<bool>,
    /// How it was read: `git` (the binary) or `.git` (its `HEAD` and refs read directly).
    pub read_with: String,
}

/// Who made a medium, beyond seedforge's version and the signing key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MadeBy {
    /// The config file's SHA-256, as the new `manifest.json` records it.
    pub config_sha256: Option<String>,
    /// The config folder's commit, when it is a git checkout; `null` otherwise (or when
    /// the config folder is not known).
    pub git: Option<GitCommit>,
}

/// Who made the delta of `out`, whose config folder is `config_dir` and whose config file
/// the new `manifest.json` records with `config_sha256`.
pub fn made_by(out: &Path, config_dir: Option<&Path>, config_sha256: Option<String>) -> MadeBy {
    MadeBy {
        config_sha256,
        git: config_dir.and_then(|d| git_commit(d, out)),
    }
}

/// The folder holding `.git` at or above `dir`, and that `.git`.
fn find_git(dir: &Path) -> Option<PathBuf> {
    let abs = crate::outpath::resolve(dir);
    abs.ancestors()
        .map(|d| d.join(".git"))
        .find(|g| std::fs::symlink_metadata(g).is_ok())
}

/// The commit the git checkout holding `dir` is at: with the `git` binary when there is
/// one (and whether the folder is dirty, `out` aside), else from `.git`'s `HEAD` and refs.
/// `None` outside a checkout, or before its first commit.
pub fn git_commit(dir: &Path, out: &Path) -> Option<GitCommit> {
    let dot_git = find_git(dir)?;
    with_binary(dir, out).or_else(|| from_files(&dot_git))
}

/// `git` run in `dir`, with nothing of the environment pointing it elsewhere and no
/// command of the repository's own configuration run (`core.fsmonitor`): its output, when
/// it succeeds.
pub(super) fn git_bytes(dir: &Path, args: &[&str]) -> Option<Vec<u8>> {
    let mut cmd = Command::new("git");
    cmd.arg("-C")
        .arg(dir)
        .args(["-c", "core.fsmonitor=false", "--no-optional-locks"])
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::null());
    for var in [
        "GIT_DIR",
        "GIT_WORK_TREE",
        "GIT_INDEX_FILE",
        "GIT_COMMON_DIR",
        "GIT_NAMESPACE",
        "GIT_OBJECT_DIRECTORY",
    ] {
        cmd.env_remove(var);
    }
    let out = cmd.output().ok()?;
    out.status.success().then_some(out.stdout)
}

/// [`git_bytes`] as text.
fn git(dir: &Path, args: &[&str]) -> Option<String> {
    git_bytes(dir, args).map(|b| String::from_utf8_lossy(&b).into_owned())
}

/// The content `path` (relative to `dir`) had in the git checkout holding `dir` in one of
/// the last [`GIT_HISTORY`] commits that changed it, whichever hashes to `sha256`; `None`
/// outside a checkout, without the `git` binary, or when none does.
pub(super) fn from_history(dir: &Path, path: &str, sha256: &str) -> Option<Vec<u8>> {
    crate::pipeline::seal::safe_relative(path)?;
    find_git(dir)?;
    let limit = GIT_HISTORY.to_string();
    let log = git(dir, &["log", "--format=%H", "-n", &limit, "--", path])?;
    log.lines().filter(|c| is_hex(c)).find_map(|commit| {
        let bytes = git_bytes(dir, &["cat-file", "blob", &format!("{commit}:./{path}")])?;
        (crate::hashing::sha256_hex(&bytes) == sha256).then_some(bytes)
    })
}

/// Commits of a config input's history searched for the far side's version of it.
pub const GIT_HISTORY: usize = 100;

fn with_binary(dir: &Path, out: &Path) -> Option<GitCommit> {
    let commit = git(dir, &["rev-parse", "--verify", "--quiet", "HEAD"])?
        .trim()
        .to_string();
    if !is_hex(&commit) {
        return None;
    }
    // The output folder is the build's, not the config's: left out when it lies inside.
    let mut args = vec![
        "status",
        "--porcelain",
        "--untracked-files=normal",
        "--",
        ".",
    ];
    let (d, o) = (crate::outpath::resolve(dir), crate::outpath::resolve(out));
    let exclude = o
        .strip_prefix(&d)
        .ok()
        .filter(|r| !r.as_os_str().is_empty())
        .map(|r| format!(":(exclude){}", r.display()));
    if let Some(e) = &exclude {
        args.push(e);
    }
    let dirty = git(dir, &args).map(|s| !s.trim().is_empty());
    Some(GitCommit {
        commit,
        dirty,
        read_with: "git".into(),
    })
}

fn is_hex(s: &str) -> bool {
    (s.len() == 40 || s.len() == 64) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The commit `.git`'s `HEAD` names, read from its files: `HEAD` (a ref, or a detached
/// commit), the ref's file, or `packed-refs`; a `.git` file (`gitdir: …`, a worktree or
/// a submodule) and a worktree's `commondir` followed.
fn from_files(dot_git: &Path) -> Option<GitCommit> {
    let read = |p: &Path| {
        crate::input::read_found_to_string(p, crate::input::Kind::Text)
            .ok()
            .map(|s| s.trim().to_string())
    };
    let git_dir = if dot_git.is_dir() {
        dot_git.to_path_buf()
    } else {
        let text = read(dot_git)?;
        let target = PathBuf::from(text.strip_prefix("gitdir:")?.trim());
        if target.is_absolute() {
            target
        } else {
            dot_git.parent()?.join(target)
        }
    };
    let common = match read(&git_dir.join("commondir")) {
        Some(c) if Path::new(&c).is_absolute() => PathBuf::from(c),
        Some(c) => git_dir.join(c),
        None => git_dir.clone(),
    };
    let head = read(&git_dir.join("HEAD"))?;
    let commit = match head.strip_prefix("ref:") {
        None => head,
        Some(name) => {
            let name = name.trim();
            crate::pipeline::seal::safe_relative(name)?;
            [git_dir.join(name), common.join(name)]
                .iter()
                .find_map(|p| read(p))
                .or_else(|| {
                    let packed = read(&common.join("packed-refs"))?;
                    packed.lines().find_map(|l| {
                        let (sha, r) = l.split_once(' ')?;
                        (r.trim() == name).then(|| sha.to_string())
                    })
                })?
        }
    };
    is_hex(&commit).then(|| GitCommit {
        commit,
        dirty: None,
        read_with: ".git".into(),
    })
}

/// What the far side's output was last made from, by `apply`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Applied {
    /// The SHA-256 of the applied delta's `delta.json` (what its `SHA256SUMS` lists).
    pub delta_sha256: String,
    /// The receipt it was made against (its digest).
    pub base_receipt: String,
    /// When it was applied (seconds since 1970, the far side's clock).
    pub applied_at: u64,
}

/// `applied.json`: [`Applied`] and the `manifest.json` it made.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct AppliedFile {
    #[serde(flatten)]
    applied: Applied,
    manifest_sha256: String,
}

/// Writes what `apply` made the staging copy `stage_out` from (its state folder), so that
/// the output's next receipt names it. Best effort: an output without it is one that came
/// whole.
pub(super) fn write_applied(stage_out: &Path, applied: &Applied, manifest_sha256: &str) {
    let file = AppliedFile {
        applied: applied.clone(),
        manifest_sha256: manifest_sha256.to_string(),
    };
    let path = state(stage_out).join(APPLIED_FILE);
    let written = serde_json::to_vec_pretty(&file)
        .map_err(std::io::Error::other)
        .and_then(|bytes| {
            std::fs::create_dir_all(state(stage_out))?;
            crate::util::atomic_write(&path, &bytes)
        });
    if let Err(e) = written {
        tracing::debug!("{}: not written ({e})", path.display());
    }
}

/// The far side's record of every delta applied to an output, oldest first, in its state
/// folder: carried from the output to the staging copy of each apply, one entry added.
pub const HISTORY_FILE: &str = "applied-history.json";

/// A delta applied, as the far side's history records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppliedEntry {
    /// Its `delta.json`'s SHA-256: what names the medium.
    pub delta_sha256: String,
    /// The `manifest.json` it made (sha256).
    pub target_manifest_sha256: String,
    /// When it was applied (seconds since 1970, the far side's clock).
    pub applied_at: u64,
    /// Applied again on purpose (`apply --allow-replay`), although the history held it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub replayed: bool,
}

/// The deltas applied to the output `out`, oldest first (none when it records none).
pub(super) fn history(out: &Path) -> Vec<AppliedEntry> {
    crate::input::read_found(&state(out).join(HISTORY_FILE), crate::input::Kind::State)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// Writes `out`'s history with `entry` added into the staging copy `stage_out`. Best
/// effort, as [`write_applied`].
pub(super) fn write_history(out: &Path, stage_out: &Path, entry: AppliedEntry) {
    let mut entries = history(out);
    entries.push(entry);
    let path = state(stage_out).join(HISTORY_FILE);
    let written = serde_json::to_vec_pretty(&entries)
        .map_err(std::io::Error::other)
        .and_then(|bytes| {
            std::fs::create_dir_all(state(stage_out))?;
            crate::util::atomic_write(&path, &bytes)
        });
    if let Err(e) = written {
        tracing::warn!("{}: not written ({e})", path.display());
    }
}

/// The delta the output `out` was last made from, while its `manifest.json` (hashing to
/// `manifest_sha256`) is still that delta's.
pub(super) fn read_applied(out: &Path, manifest_sha256: &str) -> Option<Applied> {
    let bytes =
        crate::input::read_found(&state(out).join(APPLIED_FILE), crate::input::Kind::State).ok()?;
    let file: AppliedFile = serde_json::from_slice(&bytes).ok()?;
    (file.manifest_sha256 == manifest_sha256).then_some(file.applied)
}

/// A delta the near side made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sent {
    /// Its `delta.json`'s SHA-256.
    pub delta_sha256: String,
    /// The cluster it is for.
    pub cluster: Option<String>,
    /// The receipt it was made against (its digest).
    pub base_receipt: String,
    /// That receipt's `manifest.json` (sha256).
    pub base_manifest_sha256: String,
    /// The seal it brings (its `manifest.json`'s sha256).
    pub target_manifest_sha256: String,
    /// The k3s release it brings.
    pub k3s_version: Option<String>,
    /// When it was made (seconds since 1970).
    pub made_at: u64,
}

/// Records the delta `sent` in the output `out`'s state. Best effort.
pub(super) fn record_sent(out: &Path, sent: &Sent) {
    let dir = state(out).join(SENT_DIR);
    let path = dir.join(format!("{}.json", sent.delta_sha256));
    let written = serde_json::to_vec_pretty(sent)
        .map_err(std::io::Error::other)
        .and_then(|bytes| {
            std::fs::create_dir_all(&dir)?;
            crate::util::replace_unsynced(&path, &bytes)
        });
    if let Err(e) = written {
        tracing::debug!("{}: not written ({e})", path.display());
    }
}

/// Every delta the near side recorded in `out`'s state, oldest first.
pub(super) fn sent(out: &Path) -> Vec<Sent> {
    let Ok(entries) = std::fs::read_dir(state(out).join(SENT_DIR)) else {
        return Vec::new();
    };
    let mut all: Vec<Sent> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
        .filter_map(|e| {
            let bytes = crate::input::read_found(&e.path(), crate::input::Kind::State).ok()?;
            serde_json::from_slice(&bytes).ok()
        })
        .collect();
    all.sort_by(|a, b| (a.made_at, &a.delta_sha256).cmp(&(b.made_at, &b.delta_sha256)));
    all
}

/// The base a delta is made against, as its record says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Base {
    /// When the far side wrote the receipt (its clock; receipt format 5 on).
    pub receipt_written_at: Option<u64>,
    /// The delta the far side last applied, as its receipt says; `null` when its output
    /// came whole (or the receipt is of an older format).
    pub last_applied: Option<Applied>,
    /// Why the receipt is stale, by what this side knows it sent that far side since;
    /// empty when it is current as far as this side knows.
    pub stale: Vec<String>,
}

fn short(hex: &str) -> &str {
    let hex = hex.strip_prefix("sha256:").unwrap_or(hex);
    &hex[..hex.len().min(12)]
}

/// What a receipt says of the far side that tells whether it is stale.
#[derive(Debug, Clone, Copy)]
pub struct Described<'a> {
    /// The cluster it names.
    pub cluster: Option<&'a str>,
    /// The `manifest.json` it describes (sha256).
    pub manifest_sha256: &'a str,
    /// The k3s release it records.
    pub k3s_version: Option<&'a str>,
    /// When it was written.
    pub written_at: Option<u64>,
}

/// Why `receipt` is stale, by the deltas this side made (`sent`): it describes a seal this
/// side has since made a delta from, to another seal, for the same cluster (the far side
/// may have applied it), or a k3s release older than the one last sent there. A delta
/// made again from the same receipt to the same seal (`target`), and one to `target`
/// itself, are not news. Empty when current as far as this side knows.
pub(super) fn stale(
    receipt: Described<'_>,
    cluster: Option<&str>,
    target: &str,
    sent: &[Sent],
) -> Vec<String> {
    let cluster = receipt.cluster.or(cluster);
    let others: Vec<&Sent> = (sent.iter())
        .filter(|s| s.cluster.as_deref() == cluster)
        .filter(|s| s.target_manifest_sha256 != target)
        .collect();
    let Some(last) = others.last() else {
        return Vec::new();
    };
    if last.target_manifest_sha256 == receipt.manifest_sha256 {
        return Vec::new();
    }
    let name = cluster.map_or_else(|| "this far side".to_string(), |c| format!("cluster {c}"));
    let release = |v: Option<&str>| v.unwrap_or("not recorded").to_string();
    let known = others.iter().any(|s| {
        s.base_manifest_sha256 == receipt.manifest_sha256
            || s.target_manifest_sha256 == receipt.manifest_sha256
    });
    let mut said = Vec::new();
    if known {
        said.push(format!(
            "stale receipt: it describes seal {} (k3s {}), and this side has since made a delta for {name} to seal {} (k3s {}; delta.json sha256 {}, made {}): if the far side applied it, it no longer holds what this receipt says, and a delta against the receipt is refused there; ask the far side for a new receipt",
            short(receipt.manifest_sha256),
            release(receipt.k3s_version),
            short(&last.target_manifest_sha256),
            release(last.k3s_version.as_deref()),
            short(&last.delta_sha256),
            date(last.made_at)
        ));
    } else if let (Some(here), Some(sent)) = (receipt.k3s_version, &last.k3s_version)
        && super::downgrade::newer(sent, here)
    {
        said.push(format!(
            "stale receipt: its k3s release {here} is older than {sent}, which this side last sent to {name} (delta.json sha256 {}, made {}); ask the far side for a new receipt",
            short(&last.delta_sha256),
            date(last.made_at)
        ));
    }
    said
}

/// Said of a receipt written more than [`STALE_AFTER_DAYS`] before `now`.
pub(super) fn aged(receipt: Described<'_>, now: u64) -> Option<String> {
    let written = receipt.written_at?;
    let days = now.saturating_sub(written) / 86_400;
    (days > STALE_AFTER_DAYS).then(|| {
        format!(
            "stale receipt: written {days} days ago ({}), more than {STALE_AFTER_DAYS}: the far side may have changed since; ask it for a new receipt (seedforge receipt OUT -o FILE there)",
            date(written)
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_commit_is_read_from_head_and_refs_without_git() {
        let tmp = tempfile::tempdir().unwrap();
        let g = tmp.path().join(".git");
        std::fs::create_dir_all(g.join("refs/heads")).unwrap();
        std::fs::write(g.join("HEAD"), "ref: refs/heads/main\n").unwrap();
        let sha = "0123456789abcdef0123456789abcdef01234567";
        std::fs::write(
            g.join("packed-refs"),
            format!("# pack-refs\n{sha} refs/heads/main\n"),
        )
        .unwrap();
        let c = from_files(&g).unwrap();
        assert_eq!(
            (c.commit.as_str(), c.dirty, c.read_with.as_str()),
            (sha, None, ".git")
        );
        let loose = "89abcdef0123456789abcdef0123456789abcdef";
        std::fs::write(g.join("refs/heads/main"), format!("{loose}\n")).unwrap();
        assert_eq!(from_files(&g).unwrap().commit, loose);
        std::fs::write(g.join("HEAD"), format!("{sha}\n")).unwrap();
        assert_eq!(from_files(&g).unwrap().commit, sha);
        std::fs::write(g.join("HEAD"), "ref: ../../etc/passwd\n").unwrap();
        assert!(from_files(&g).is_none());
    }
}
