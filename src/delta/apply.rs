//! Applying a delta on the far side: `seedforge apply DELTA --to OUT`.
//!
//! 1. **The delta's own seal**: every file of `DELTA/SHA256SUMS` hashes right and every
//!    file of the folder is listed (a mismatch is exit 1, naming the file); `delta.json`
//!    must be a delta of a format this seedforge reads (else exit 2); every file under
//!    `out/` is the one the delta's new `SHA256SUMS` lists, and `config/` holds only the
//!    inputs the new `manifest.json` records and `seedforge.lock`.
//! 2. **The base**: the receipt of `OUT` now (its files re-hashed against its
//!    `SHA256SUMS`, but for the derived files the offline build writes again and the
//!    layout's blobs, which its verify step re-hashes, both only checked present: each
//!    file is read once; when the build fails, `OUT` is re-hashed whole to name a damaged
//!    file) has the digest `delta.json` names, or `OUT`'s `manifest.json` is the
//!    base's; a different base is never patched (exit 2). An `OUT` that already is the
//!    delta's target is left alone (outcome `unchanged`). Then the derived files are
//!    checked against `OUT`'s `SHA256SUMS` (hashed only when their stat is not the one
//!    `OUT`'s build state recorded): each that does not match is damage found here,
//!    named in the report (`rebuilt_damaged`) and written anew by the offline build.
//! 3. **Staging**: `OUT` is copied beside itself under a temporary name (hard links: every
//!    writer of seedforge replaces a file by renaming a new one over it, never writes into
//!    one), without its build state and without the blobs the delta's new `SHA256SUMS`
//!    does not list (those of images the new build no longer lists); the config folder is mirrored beside itself (each entry
//!    a symbolic link to the original, the delta's config files as real files). The delta's
//!    `out/` files are laid over the staging copy (each by a rename), then `build
//!    --offline` runs there (the caller's `build`). Its `SHA256SUMS` must equal the delta's,
//!    line for line (else exit 1, naming the first file that differs). The staging
//!    build's state, which names the staging copy's paths, is removed.
//! 4. **Commit**, holding the build lock of `OUT` (and of the staging copy, which becomes
//!    `OUT`'s): the changed config files are written into the config folder (each
//!    atomically), then the staging copy and `OUT` are exchanged by one `renameat2
//!    (RENAME_EXCHANGE)`, and the old output is removed. On a file system without the
//!    exchange, `OUT` is renamed to `.OUT.seedforge-apply-old` and the staging copy to
//!    `OUT`: between those two renames `OUT` is missing, and the next `apply` renames the
//!    old one back first.
//!
//! A refused apply leaves nothing in `OUT`: a build lock file it made there is removed.
//! Every path of the staging copies in a message is shown as the path it stands for
//! ([`crate::leftovers::as_meant`]).
//!
//! A kill before the exchange leaves `OUT` as it was (the config folder may hold the new
//! config files already, when the kill came after they were written: a rerun of the same
//! apply finds the config folder by the delta's config file, checks `OUT` against the
//! base by its `manifest.json`, and finishes). A kill after
//! it leaves the new `OUT` and a leftover old copy under a temporary name, which the next
//! run removes. SIGINT and SIGTERM remove the staging folders.

use super::carry::{DELTA_FORMAT, DELTA_JSON, DELTA_VERSION, Tally};
use super::{DeltaError, parse_sums};
use crate::leftovers::Staging;
use crate::pipeline::build_lock::BuildLock;
use crate::pipeline::seal;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The suffix of the old output's name while it is moved aside on a file system that
/// cannot exchange two folders in one rename.
const OLD_SUFFIX: &str = ".seedforge-apply-old";

/// What `apply` reads of `delta.json` (other fields are ignored).
#[derive(Debug, Deserialize)]
struct DeltaFacts {
    #[serde(default)]
    changes: Option<super::changes::Changes>,
    #[serde(default)]
    repairs: Vec<String>,
    format: String,
    delta_version: u64,
    base_receipt: String,
    base_manifest_sha256: String,
    target_manifest_sha256: String,
    blobs: Tally,
    artifacts: Tally,
    seal: Tally,
    config: Tally,
    #[serde(default)]
    other_inputs: Vec<String>,
    #[serde(default)]
    other_inputs_sha256: BTreeMap<String, String>,
}

/// What [`apply`] did.
#[derive(Debug, Clone, Serialize)]
pub struct ApplyReport {
    /// `applied`, or `unchanged` (the output already was the delta's target).
    pub outcome: &'static str,
    /// The output.
    pub output: PathBuf,
    /// The delta folder.
    pub delta: PathBuf,
    /// The config folder written into.
    pub config_dir: Option<PathBuf>,
    /// Files of the delta laid over the output and the config folder.
    pub files_applied: usize,
    /// Blobs added to the layout.
    pub blobs_added: usize,
    /// Bytes of the files applied.
    pub bytes: u64,
    /// Config folder files written.
    pub config_files: Vec<String>,
    /// Derived files of the output (seeds, node files, registry configs, SBOMs, airgap
    /// archives) that did not match its `SHA256SUMS`: damaged on this side, written anew
    /// by the offline build.
    pub rebuilt_damaged: Vec<String>,
    /// The output's manifest.json sha256 now.
    pub manifest_sha256: String,
    /// Who signed the delta, checked before anything else of it was read.
    pub signature: Option<super::signed::SignedBy>,
    /// What the delta changes, by name, as its `delta.json` says.
    pub changes: Option<super::changes::Changes>,
    /// The files the receipt recorded missing or damaged here, made whole.
    pub repaired: Vec<String>,
    /// Wall time.
    pub seconds: f64,
}

/// A failure of [`apply`]: the delta's, the output's, or the offline build's.
#[derive(Debug)]
pub enum ApplyError<E> {
    /// The delta, the output or the staging.
    Delta(DeltaError),
    /// The offline build into the staging copy.
    Build(E),
}

impl<E> From<DeltaError> for ApplyError<E> {
    fn from(e: DeltaError) -> Self {
        ApplyError::Delta(e)
    }
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> DeltaError + '_ {
    move |e| DeltaError::io(path, e)
}

/// The delta checked: its facts, the files of `out/` and `config/` (relative paths with
/// their sha256), the new seal's lines.
struct CheckedDelta {
    facts: DeltaFacts,
    out_files: BTreeMap<String, String>,
    config_files: BTreeMap<String, String>,
    target_sums: BTreeMap<String, String>,
    target_sums_text: String,
    /// The config file the new manifest.json records.
    target_config: Option<seal::Input>,
    /// `cluster.k3s_version` the new manifest.json records.
    target_k3s: Option<String>,
    /// The files of the delta that are there in parts, by path.
    joined: BTreeMap<String, super::parts::Joined>,
}

/// Checks the delta folder `dir`: its seal, `delta.json`, and that what it carries is
/// what its new seal and manifest.json name.
fn check_delta(dir: &Path) -> Result<CheckedDelta, DeltaError> {
    let not_delta = |message: String| DeltaError::BadDelta {
        path: dir.to_path_buf(),
        message,
    };
    let sums_path = dir.join(seal::SUMS);
    let json_path = dir.join(DELTA_JSON);
    if !dir.is_dir() || !sums_path.is_file() || !json_path.is_file() {
        return Err(not_delta(format!(
            "not a seedforge delta (no {DELTA_JSON} and {} in a folder); seedforge delta OUT --since RECEIPT -o DIR writes one",
            seal::SUMS
        )));
    }
    let text = crate::input::read_found_to_string(&sums_path, crate::input::Kind::Sums)?;
    let mut listed: BTreeMap<String, String> = BTreeMap::new();
    for line in text.lines() {
        let Some((hex, rel)) = seal::sums_line(line) else {
            return Err(not_delta(format!(
                "{}: a malformed line {line:?}",
                seal::SUMS
            )));
        };
        listed.insert(rel.to_string(), hex.to_string());
    }
    // Every file of the folder listed, every listed file there and hashing right.
    let mut present: BTreeSet<String> = BTreeSet::new();
    walk_files(dir, "", &mut present)?;
    present.remove(seal::SUMS);
    // A delta in parts: each file in parts checked over its parts and listed whole.
    let joined = super::parts::fold(dir, &mut listed, &mut present)?;
    for rel in &present {
        if !listed.contains_key(rel) {
            return Err(DeltaError::Damaged {
                path: dir.join(rel),
                message: format!("not listed in the delta's {}", seal::SUMS),
            });
        }
    }
    for (rel, hex) in &listed {
        let path = dir.join(rel);
        if !present.contains(rel) {
            return Err(DeltaError::Damaged {
                path,
                message: format!(
                    "missing: the delta's {} lists it; carry the whole delta folder again",
                    seal::SUMS
                ),
            });
        }
        if joined.contains_key(rel) {
            continue;
        }
        let got = hash_file(&path)?;
        if &got != hex {
            return Err(DeltaError::Damaged {
                path,
                message: format!(
                    "hashes to {got}, not the {hex} the delta's {} lists: damaged on the way; carry it again",
                    seal::SUMS
                ),
            });
        }
    }
    let bytes = crate::input::read_found(&json_path, crate::input::Kind::Manifest)?;
    let value: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| not_delta(format!("{DELTA_JSON} is not JSON: {e}")))?;
    if value.get("format").and_then(|f| f.as_str()) != Some(DELTA_FORMAT) {
        return Err(not_delta(format!(
            "not a seedforge delta ({DELTA_JSON} has no \"format\": \"{DELTA_FORMAT}\")"
        )));
    }
    let facts: DeltaFacts =
        serde_json::from_value(value).map_err(|e| not_delta(format!("{DELTA_JSON}: {e}")))?;
    if facts.format != DELTA_FORMAT {
        return Err(not_delta("not a seedforge delta".into()));
    }
    if facts.delta_version > u64::from(DELTA_VERSION) {
        return Err(not_delta(format!(
            "a delta of format {}, newer than this seedforge reads ({DELTA_VERSION}): use a seedforge at least as new as the one that wrote it",
            facts.delta_version
        )));
    }
    let mut out_files = BTreeMap::new();
    let mut config_files = BTreeMap::new();
    for (rel, hex) in &listed {
        if let Some(r) = rel.strip_prefix("out/") {
            out_files.insert(r.to_string(), hex.clone());
        } else if let Some(r) = rel.strip_prefix("config/") {
            config_files.insert(r.to_string(), hex.clone());
        } else if rel != DELTA_JSON {
            return Err(not_delta(format!(
                "{rel}: a delta holds out/, config/ and {DELTA_JSON} only"
            )));
        }
    }
    // What delta.json says is carried, and what is.
    let (mut blobs, mut artifacts, mut seal_files, mut config) = Default::default();
    for rel in listed.keys() {
        let size = match joined.get(rel) {
            Some(j) => j.size,
            None => fs::metadata(dir.join(rel))
                .map_err(io_err(&dir.join(rel)))?
                .len(),
        };
        let tally: &mut Tally = match rel.strip_prefix("out/") {
            Some(r) if r.starts_with(super::BLOBS) => &mut blobs,
            Some(r) if [seal::MANIFEST, seal::SUMS, seal::MANIFEST_BUNDLE].contains(&r) => {
                &mut seal_files
            }
            Some(_) => &mut artifacts,
            None if rel.starts_with("config/") => &mut config,
            None => continue,
        };
        tally.add(size);
    }
    for (what, said, found) in [
        ("blob(s)", facts.blobs, blobs),
        ("sealed file(s)", facts.artifacts, artifacts),
        ("seal file(s)", facts.seal, seal_files),
        ("config file(s)", facts.config, config),
    ] {
        if said != found {
            return Err(DeltaError::Damaged {
                path: json_path.clone(),
                message: format!(
                    "says it carries {} {what} ({} bytes), the folder and its {} hold {} ({} bytes): files are missing or added; carry the whole delta folder again",
                    said.count,
                    said.bytes,
                    seal::SUMS,
                    found.count,
                    found.bytes
                ),
            });
        }
    }
    // The new seal, and what it says of each carried file.
    if out_files.get(seal::MANIFEST) != Some(&facts.target_manifest_sha256) {
        return Err(DeltaError::Damaged {
            path: dir.join("out").join(seal::MANIFEST),
            message: format!(
                "missing or not the manifest.json {DELTA_JSON} names ({})",
                facts.target_manifest_sha256
            ),
        });
    }
    let target_sums_text = crate::input::read_found_to_string(
        &dir.join("out").join(seal::SUMS),
        crate::input::Kind::Sums,
    )?;
    let target_sums = parse_sums(&target_sums_text);
    for (rel, hex) in &out_files {
        if rel == seal::SUMS || rel == seal::MANIFEST_BUNDLE {
            continue;
        }
        if target_sums.get(rel) != Some(hex) {
            return Err(DeltaError::Damaged {
                path: dir.join("out").join(rel),
                message: format!("not the file the delta's out/{} lists", seal::SUMS),
            });
        }
    }
    // Blobs the new layout reaches that the delta does not carry must be the far side's:
    // checked when the output is (every blob sealed there is re-hashed), and by the
    // offline build. Config files: only the inputs the new manifest.json records.
    let manifest = crate::input::read_found(
        &dir.join("out").join(seal::MANIFEST),
        crate::input::Kind::Manifest,
    )?;
    let manifest: Option<serde_json::Value> = serde_json::from_slice(&manifest).ok();
    let inputs: Option<seal::Inputs> = (manifest.as_ref())
        .and_then(|v| v.get("inputs").cloned())
        .and_then(|v| serde_json::from_value(v).ok());
    let target_k3s = (manifest.as_ref())
        .and_then(|v| v.pointer("/cluster/k3s_version"))
        .and_then(|v| v.as_str())
        .map(str::to_string);
    let mut allowed: BTreeSet<String> =
        BTreeSet::from([crate::oci::registry::lockfile::LOCK_FILE_NAME.to_string()]);
    if let Some(i) = &inputs {
        for input in std::iter::once(&i.config)
            .chain(&i.image_lists)
            .chain(&i.templates)
        {
            allowed.insert(input.path.clone());
        }
    }
    // The other files the config names, that the delta says it carries: inside the
    // config folder only.
    allowed.extend(
        (facts.other_inputs.iter())
            .filter(|p| seal::safe_relative(p).is_some())
            .cloned(),
    );
    for rel in config_files.keys() {
        if !allowed.contains(rel) {
            return Err(not_delta(format!(
                "config/{rel}: not an input the new manifest.json records, nor one {DELTA_JSON} lists as carried, nor seedforge.lock"
            )));
        }
    }
    let target_config = inputs.map(|i| i.config);
    Ok(CheckedDelta {
        facts,
        out_files,
        config_files,
        target_sums,
        target_sums_text,
        target_config,
        target_k3s,
        joined,
    })
}

/// The regular files under `dir` (relative, `/`-separated) into `into`; a symbolic link or
/// anything else is refused.
pub(super) fn walk_files(
    dir: &Path,
    prefix: &str,
    into: &mut BTreeSet<String>,
) -> Result<(), DeltaError> {
    for entry in fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let rel = format!("{prefix}{name}");
        let path = entry.path();
        let ft = entry.file_type().map_err(io_err(&path))?;
        if ft.is_dir() {
            walk_files(&path, &format!("{rel}/"), into)?;
        } else if ft.is_file() {
            into.insert(rel);
        } else {
            return Err(DeltaError::Damaged {
                path,
                message: "not a regular file or folder: a delta holds neither links nor devices"
                    .into(),
            });
        }
    }
    Ok(())
}

fn hash_file(path: &Path) -> Result<String, DeltaError> {
    let (mut f, _) = crate::input::open_found(path)?;
    let (hex, _) = crate::hashing::sha256_reader(&mut f).map_err(io_err(path))?;
    Ok(hex)
}

/// The old output moved aside by the two-rename commit.
fn old_path(out: &Path) -> PathBuf {
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    out.with_file_name(format!(".{name}{OLD_SUFFIX}"))
}

/// The build lock of the output being applied to. A lock file this apply made (the
/// output had none) is removed again unless the apply commits: a refused apply leaves
/// nothing behind.
struct OutLock {
    lock: Option<BuildLock>,
    made: bool,
    committed: bool,
}

impl OutLock {
    fn acquire(
        out: &Path,
        wait: bool,
        on_wait: &mut dyn FnMut(Option<u32>),
    ) -> Result<OutLock, DeltaError> {
        let file = out.join(crate::pipeline::build_lock::LOCK_FILE_NAME);
        let made = fs::symlink_metadata(&file).is_err();
        let lock = BuildLock::acquire(out, wait, on_wait)?;
        Ok(OutLock {
            lock: Some(lock),
            made,
            committed: false,
        })
    }
}

impl Drop for OutLock {
    fn drop(&mut self) {
        if let Some(lock) = self.lock.take()
            && self.made
            && !self.committed
        {
            // Removed while held; a build waiting for it locks the file at the path anew.
            let _ = lock.remove();
        }
    }
}

/// Finishes or rolls back what a killed apply left at `out`: the old output moved aside
/// with `out` missing is renamed back; moved aside with a new `out` in place, it is
/// removed; staging folders of dead processes beside `out` are removed.
fn recover(out: &Path) -> Result<(), DeltaError> {
    let old = old_path(out);
    if old.is_dir() {
        if fs::symlink_metadata(out).is_err() {
            fs::rename(&old, out).map_err(io_err(out))?;
            crate::util::sync_parent(out).map_err(io_err(out))?;
        } else {
            fs::remove_dir_all(&old).map_err(io_err(&old))?;
        }
    }
    crate::leftovers::sweep_beside(out).map_err(io_err(out))?;
    Ok(())
}

/// How [`apply`] applies, besides the delta and the output.
#[derive(Debug, Clone, Copy)]
pub struct ApplyOptions<'a> {
    /// The config the output was built from (default: the one found beside it).
    pub config: Option<&'a Path>,
    /// The keys the delta's signature is checked against.
    pub trust: &'a super::signed::Trust,
    /// Wait for a build holding the output (else fail at once).
    pub wait: bool,
    /// Apply a delta whose k3s release is older than the output's.
    pub allow_downgrade: bool,
}

/// Applies the delta `delta_dir` to the output `out`, with the config folder of
/// `options.config` (or the one found beside `out`, as for a receipt).
/// `build(config_file, output)` runs `build --offline` of that config into that output;
/// `on_wait` is told once when another build holds `out` and `apply` waits for it
/// (without `options.wait`, that fails at once).
pub fn apply<E>(
    delta_dir: &Path,
    out: &Path,
    options: ApplyOptions<'_>,
    staging: &Staging,
    on_wait: &mut dyn FnMut(Option<u32>),
    build: &mut dyn FnMut(&Path, &Path) -> Result<(), E>,
) -> Result<ApplyReport, ApplyError<E>> {
    let ApplyOptions {
        config,
        trust,
        wait,
        allow_downgrade,
    } = options;
    let started = Instant::now();
    let out_abs = crate::outpath::resolve(out);
    // Who signed the delta, and whether that is the key trusted here, before anything
    // else of it is read (a folder that is not a delta is refused as one below).
    let signature = if delta_dir.join(DELTA_JSON).is_file() {
        let base = out_abs.join(seal::MANIFEST);
        let base = base.is_file().then_some(out_abs.as_path());
        Some(super::signed::check(delta_dir, base, trust)?)
    } else {
        None
    };
    let delta = check_delta(delta_dir)?;
    let (d, o) = (crate::outpath::resolve(delta_dir), &out_abs);
    if crate::outpath::is_within(&d, o) || crate::outpath::is_within(o, &d) {
        return Err(DeltaError::BadTarget {
            path: delta_dir.to_path_buf(),
            message: format!(
                "the delta folder and the output {} must be apart, neither inside the other",
                out.display()
            ),
        }
        .into());
    }
    recover(&out_abs)?;
    super::output_folder(out)?;
    if !out_abs.join(seal::MANIFEST).is_file() {
        return Err(DeltaError::BadTarget {
            path: out.to_path_buf(),
            message: format!(
                "not a sealed build output (no {}): apply updates the output a receipt was made of; the first output crosses whole (or is built here with build --offline)",
                seal::MANIFEST
            ),
        }
        .into());
    }
    let mut lock = OutLock::acquire(&out_abs, wait, on_wait)?;

    // The base: the receipt of OUT now.
    // Each file is read once. The files the offline build derives again are not read
    // here (only for the damage named before staging): whatever they hold, the staging
    // build writes them anew and the new seal judges what it wrote. Nor are the layout's
    // blobs: the staging build's verify step re-hashes every blob it keeps (links of
    // OUT's), and when it fails, OUT is checked whole to name the file.
    // The files the delta repairs (its receipt recorded them damaged here) are replaced.
    let repairs: BTreeSet<&str> = delta.facts.repairs.iter().map(String::as_str).collect();
    let sealed = super::check_sealed_with(
        &out_abs,
        &|p| super::carry::is_derived(p) || p.starts_with(super::BLOBS),
        &|p| repairs.contains(p),
    )?;
    // The config folder: given, or above OUT holding the config OUT was built from, or
    // the delta's (a killed apply wrote the config files, not yet the output).
    let config_dir = super::config_dir(&out_abs, config, &sealed).or_else(|| {
        let target = delta.target_config.as_ref()?;
        let parent = out_abs.parent()?.to_path_buf();
        let file = parent.join(seal::safe_relative(&target.path)?);
        (hash_file(&file).ok()? == target.sha256).then_some(parent)
    });
    let mut report = ApplyReport {
        outcome: "unchanged",
        output: out.to_path_buf(),
        delta: delta_dir.to_path_buf(),
        config_dir: config_dir.clone(),
        files_applied: 0,
        blobs_added: 0,
        bytes: 0,
        config_files: Vec::new(),
        rebuilt_damaged: Vec::new(),
        manifest_sha256: sealed.manifest_sha256.clone(),
        signature,
        changes: delta.facts.changes.clone(),
        repaired: delta.facts.repairs.clone(),
        seconds: 0.0,
    };
    // A killed apply's mirror of the config folder, beside it.
    if let Some(dir) = &config_dir {
        let dir = crate::outpath::resolve(dir);
        crate::leftovers::sweep_beside(&dir).map_err(io_err(&dir))?;
    }
    if sealed.manifest_sha256 == delta.facts.target_manifest_sha256 && repairs.is_empty() {
        // Nothing to apply, nothing rebuilt: damage found here is still named.
        for rel in damaged_derived(&out_abs, &sealed.sums) {
            tracing::warn!(
                "{}: damaged here (it does not match SHA256SUMS); not rebuilt, the output already is the delta's: seedforge build --offline writes it anew",
                out.join(rel).display()
            );
        }
        report.seconds = started.elapsed().as_secs_f64();
        return Ok(report);
    }
    let (receipt, _) = super::receipt::of_sealed(&out_abs, config, &sealed)?;
    let same_receipt = receipt.compute_digest() == delta.facts.base_receipt;
    if !same_receipt && sealed.manifest_sha256 != delta.facts.base_manifest_sha256 {
        return Err(DeltaError::WrongBase {
            out: out.to_path_buf(),
            message: format!(
                "not the output the delta was made against: its manifest.json hashes to {}, the delta's base to {} (receipt {}), and the delta's target is {}; a different base is never patched: make a receipt of this output and a delta against it",
                sealed.manifest_sha256,
                delta.facts.base_manifest_sha256,
                delta.facts.base_receipt,
                delta.facts.target_manifest_sha256
            ),
        }
        .into());
    }
    let Some(config_dir) = config_dir else {
        if let Some(edited) = super::far_side::edited_config(out, &out_abs, &sealed) {
            return Err(edited.into());
        }
        return Err(DeltaError::BadTarget {
            path: out.to_path_buf(),
            message: "no config folder given or found above it: name the config it was built from with --config FILE".into(),
        }
        .into());
    };
    let config_name = match config {
        Some(c) => c.file_name().map(PathBuf::from),
        None => sealed
            .facts
            .inputs
            .as_ref()
            .map(|i| PathBuf::from(&i.config.path)),
    }
    .ok_or_else(|| DeltaError::BadTarget {
        path: out.to_path_buf(),
        message: "manifest.json names no config file: give it with --config FILE".into(),
    })?;
    let config_abs = crate::outpath::resolve(&config_dir);
    // A config file is written into the config folder, never into the output.
    if let Some(rel) = (delta.config_files.keys())
        .find(|rel| crate::outpath::is_within(&config_abs.join(rel), &out_abs))
    {
        return Err(DeltaError::BadDelta {
            path: delta_dir.to_path_buf(),
            message: format!(
                "config/{rel}: a config file inside the output {}",
                out.display()
            ),
        }
        .into());
    }
    // Damage found here, named before the offline build writes those files anew.
    report.rebuilt_damaged = damaged_derived(&out_abs, &sealed.sums);
    for rel in &report.rebuilt_damaged {
        tracing::warn!(
            "{}: damaged here (it does not match SHA256SUMS); the offline build writes it anew",
            out.join(rel).display()
        );
    }
    // The far side's own inputs, before anything is staged.
    super::far_side::check_other_inputs(
        out,
        &config_dir,
        &delta.facts.other_inputs_sha256,
        &delta.config_files,
    )?;
    if super::far_side::check_inputs(out, &config_dir, &sealed, &delta.config_files)? {
        super::far_side::check_token(out, &config_dir.join(&config_name), &sealed)?;
    }
    // A downgrade is refused before anything is staged: the new config (the delta's, or
    // the far side's when the delta carries none) may allow it.
    let new_config = match delta
        .config_files
        .get(&config_name.to_string_lossy().into_owned())
    {
        Some(_) => delta_dir.join("config").join(&config_name),
        None => config_dir.join(&config_name),
    };
    super::downgrade::check(
        out,
        (
            (sealed.facts.cluster.as_ref()).map(|c| c.k3s_version.as_str()),
            "this output's",
        ),
        (delta.target_k3s.as_deref(), "the delta's"),
        allow_downgrade || super::downgrade::config_allows(&new_config),
    )?;
    // `files:` sources this side lacks or holds in another version, whose file the new
    // output seals with the config's digest: written from that copy.
    let sources: Vec<_> = super::sources::stale(&new_config, &config_abs, &config_name)
        .into_iter()
        .filter(|s| delta.target_sums.get(&s.copy) == Some(&s.sha256))
        .collect();
    let carried = |name: &str| (delta.out_files).contains_key(&format!("packages/{name}.tar.gz"));
    let deb_folders =
        super::sources::missing_deb_folders(&new_config, &config_abs, &config_name, &carried);

    // Staging: the config folder mirrored beside itself, OUT copied beside itself.
    let stage_cfg = crate::util::temp_path_beside(&config_abs);
    let stage_out = crate::util::temp_path_beside(&out_abs);
    let cfg_guard = staging.create_dir(&stage_cfg).map_err(io_err(&stage_cfg))?;
    let out_guard = staging.create_dir(&stage_out).map_err(io_err(&stage_out))?;
    let cleanup = |_: ()| {
        let _ = fs::remove_dir_all(&stage_cfg);
        let _ = fs::remove_dir_all(&stage_out);
    };
    let staged = stage(
        delta_dir,
        &delta,
        (&config_abs, &stage_cfg),
        &out_abs,
        &stage_out,
        (&sources, &deb_folders),
        &mut report,
    );
    if let Err(e) = staged {
        cleanup(());
        return Err(e.into());
    }
    if let Err(e) = build(&stage_cfg.join(&config_name), &stage_out) {
        cleanup(());
        // A blob of OUT that does not hash right fails the staging build: named in OUT,
        // as the check of the base would name it.
        if let Err(unsound) = super::check_sealed(&out_abs) {
            return Err(unsound.into());
        }
        return Err(ApplyError::Build(e));
    }
    if let Err(e) = compare(&stage_out, &delta) {
        cleanup(());
        return Err(e.into());
    }
    // The staging build's state names the staging copy's paths, which are gone once it is
    // the output: the next build of OUT starts without it.
    let state = stage_out
        .join(crate::pipeline::state::STATE_DIR)
        .join(crate::pipeline::state::STATE_FILE);
    if let Err(e) = fs::remove_file(&state)
        && e.kind() != io::ErrorKind::NotFound
    {
        cleanup(());
        return Err(DeltaError::io(&state, e).into());
    }

    // Commit: the `files:` sources and the config files, then the exchange.
    let written =
        super::sources::write(&config_abs, &stage_out, &sources, staging).and_then(|mut w| {
            w.extend(super::sources::make_folders(&config_abs, &deb_folders)?);
            Ok(w)
        });
    match written {
        Ok(written) => report.config_files.extend(written),
        Err(e) => {
            cleanup(());
            return Err(e.into());
        }
    }
    let committed = commit(
        delta_dir,
        &delta,
        &config_abs,
        &out_abs,
        &stage_out,
        staging,
        &mut report,
    );
    cleanup(());
    drop(cfg_guard);
    drop(out_guard);
    committed?;
    lock.committed = true;
    report.outcome = "applied";
    report.manifest_sha256 = delta.facts.target_manifest_sha256.clone();
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// The derived files of `out` ([`super::carry::is_derived`]) that its `SHA256SUMS`
/// (`sums`) lists and that do not hash to what it lists. A file whose stat is the one the
/// output's build state recorded with the listed sha256 is not read (as a build trusts
/// it); the others are hashed, on a few threads.
fn damaged_derived(out: &Path, sums: &BTreeMap<String, String>) -> Vec<String> {
    let state = crate::pipeline::state::BuildState::load(out, false);
    let mut damaged = Vec::new();
    let mut todo: Vec<(&String, &String)> = Vec::new();
    for (rel, hex) in sums.iter().filter(|(r, _)| super::carry::is_derived(r)) {
        let path = out.join(rel);
        match fs::symlink_metadata(&path) {
            Ok(m) if m.is_file() && state.holds(&path, hex) => {}
            Ok(m) if m.is_file() => todo.push((rel, hex)),
            _ => damaged.push(rel.clone()),
        }
    }
    let paths: Vec<PathBuf> = todo.iter().map(|(rel, _)| out.join(rel)).collect();
    for ((rel, hex), got) in todo.iter().zip(crate::hashing::sha256_files(&paths)) {
        if got.ok().as_ref() != Some(*hex) {
            damaged.push((*rel).clone());
        }
    }
    damaged.sort();
    damaged
}

/// Mirrors the config folder into `stage_cfg` with the delta's config files, copies `out`
/// into `stage_out` and lays the delta's `out/` files over it.
fn stage(
    delta_dir: &Path,
    delta: &CheckedDelta,
    (config_dir, stage_cfg): (&Path, &Path),
    out: &Path,
    stage_out: &Path,
    (sources, deb_folders): (&[super::sources::SourceCopy], &[PathBuf]),
    report: &mut ApplyReport,
) -> Result<(), DeltaError> {
    let mut changed: BTreeSet<PathBuf> = delta.config_files.keys().map(PathBuf::from).collect();
    changed.extend(sources.iter().map(|s| s.rel.clone()));
    changed.extend(deb_folders.iter().cloned());
    mirror(
        config_dir,
        stage_cfg,
        Path::new(""),
        &changed,
        &[stage_cfg, stage_out],
    )?;
    for rel in delta.config_files.keys() {
        let from = super::parts::sources(delta_dir, &format!("config/{rel}"), &delta.joined);
        let to = stage_cfg.join(rel);
        place(&from, &to, 0o644)?;
    }
    link_tree(out, stage_out, true)?;
    drop_unsealed_blobs(stage_out, &delta.target_sums)?;
    let modes: BTreeMap<String, u32> = read_modes(&delta_dir.join("out").join(seal::MANIFEST));
    for rel in delta.out_files.keys() {
        let from = super::parts::sources(delta_dir, &format!("out/{rel}"), &delta.joined);
        let to = stage_out.join(rel);
        let mode = modes.get(rel).copied().unwrap_or(0o644);
        let size = place(&from, &to, mode)?;
        report.files_applied += 1;
        report.bytes += size;
        if rel.starts_with(super::BLOBS) {
            report.blobs_added += 1;
        }
    }
    for (s, copy) in super::sources::held(stage_out, sources) {
        place(&[copy], &stage_cfg.join(&s.rel), s.mode())?;
    }
    super::sources::make_folders(stage_cfg, deb_folders)?;
    report.files_applied += delta.config_files.len();
    for rel in delta.config_files.keys() {
        if let Ok(m) = fs::metadata(delta_dir.join("config").join(rel)) {
            report.bytes += m.len();
        }
    }
    Ok(())
}

/// Removes from the staging copy's layout every blob the new seal does not list: the
/// blobs of images the new build no longer lists. The offline build removes unlisted
/// images' blobs only when it removes their entries from `index.json`, and the delta's
/// `index.json` has none left to remove: kept, they would be sealed again and the rebuilt
/// output would not be the near side's. (The staging copy's blobs are links of the
/// output's: removing one leaves the output as it is.)
fn drop_unsealed_blobs(
    stage_out: &Path,
    target_sums: &BTreeMap<String, String>,
) -> Result<(), DeltaError> {
    let dir = stage_out.join(super::BLOBS);
    let entries = match fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(DeltaError::io(&dir, e)),
    };
    for entry in entries {
        let entry = entry.map_err(io_err(&dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !target_sums.contains_key(&format!("{}{name}", super::BLOBS)) {
            let path = entry.path();
            fs::remove_file(&path).map_err(io_err(&path))?;
        }
    }
    Ok(())
}

/// The mode of each artifact manifest.json records.
fn read_modes(manifest: &Path) -> BTreeMap<String, u32> {
    let Ok(bytes) = crate::input::read_found(manifest, crate::input::Kind::Manifest) else {
        return BTreeMap::new();
    };
    #[derive(Deserialize)]
    struct Facts {
        artifacts: Vec<seal::Artifact>,
    }
    serde_json::from_slice::<Facts>(&bytes)
        .map(|f| {
            f.artifacts
                .into_iter()
                .filter_map(|a| Some((a.path, u32::from_str_radix(&a.mode, 8).ok()?)))
                .collect()
        })
        .unwrap_or_default()
}

/// `src` mirrored into the new folder `dst` by symbolic links, but for the paths of
/// `changed` (relative to the mirror's root) and the folders leading to them, which are
/// made as real folders; `skip` are left out.
fn mirror(
    src: &Path,
    dst: &Path,
    prefix: &Path,
    changed: &BTreeSet<PathBuf>,
    skip: &[&Path],
) -> Result<(), DeltaError> {
    fs::create_dir_all(dst).map_err(io_err(dst))?;
    for entry in fs::read_dir(src).map_err(io_err(src))? {
        let entry = entry.map_err(io_err(src))?;
        let path = entry.path();
        if skip.iter().any(|s| *s == path) {
            continue;
        }
        let name = entry.file_name();
        let rel = prefix.join(&name);
        if changed.contains(&rel) {
            continue;
        }
        let target = dst.join(&name);
        let leads = changed.iter().any(|c| c.starts_with(&rel));
        let is_dir = entry.file_type().map(|t| t.is_dir()).unwrap_or(false);
        if leads && is_dir {
            mirror(&path, &target, &rel, changed, skip)?;
        } else {
            std::os::unix::fs::symlink(&path, &target).map_err(io_err(&target))?;
        }
    }
    Ok(())
}

/// Copies `from` (one file, or the parts of one in order) to `to` through a temporary
/// name beside it and a rename (the staging copy's files may be links of the output's:
/// never written in place); its size.
pub(super) fn place(from: &[PathBuf], to: &Path, mode: u32) -> Result<u64, DeltaError> {
    if let Some(parent) = to.parent() {
        fs::create_dir_all(parent).map_err(io_err(parent))?;
    }
    let tmp = crate::util::temp_path_beside(to);
    let result = (|| {
        let mut file = crate::util::create_new_mode(&tmp, mode).map_err(io_err(&tmp))?;
        let mut size = 0;
        for part in from {
            let (mut src, meta) = crate::input::open_found(part)?;
            crate::util::copy_split(&mut src, &mut file).map_err(|e| match e {
                crate::util::CopyError::Read(e) => DeltaError::io(part, e),
                crate::util::CopyError::Write(e) => DeltaError::io(&tmp, e),
            })?;
            size += meta.len();
        }
        file.sync_all().map_err(io_err(&tmp))?;
        fs::rename(&tmp, to).map_err(io_err(to))?;
        Ok(size)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Copies the tree `src` into the new folder `dst`: folders made with their modes, files
/// hard-linked (copied where the file system has no hard links). At the top, the build
/// state and the build lock are left out; temporary files of other writers and the
/// layout's private folder everywhere.
fn link_tree(src: &Path, dst: &Path, top: bool) -> Result<(), DeltaError> {
    use std::os::unix::fs::PermissionsExt as _;
    let meta = fs::symlink_metadata(src).map_err(io_err(src))?;
    fs::create_dir_all(dst).map_err(io_err(dst))?;
    fs::set_permissions(
        dst,
        fs::Permissions::from_mode(meta.permissions().mode() & 0o7777),
    )
    .map_err(io_err(dst))?;
    let in_layout = src.join("oci-layout").is_file();
    for entry in fs::read_dir(src).map_err(io_err(src))? {
        let entry = entry.map_err(io_err(src))?;
        let name = entry.file_name();
        let name_text = name.to_string_lossy();
        if top && name_text == crate::pipeline::state::STATE_DIR {
            // The folder marks the output as seedforge's; its state is left behind (the
            // build runs every step, and the state names OUT's own paths).
            let target = dst.join(&name);
            fs::create_dir(&target).map_err(io_err(&target))?;
            continue;
        }
        if (top && name_text == crate::pipeline::build_lock::LOCK_FILE_NAME)
            || (in_layout && name_text == ".seedforge")
            || crate::leftovers::temp_owner(&name_text).is_some()
        {
            continue;
        }
        let path = entry.path();
        let target = dst.join(&name);
        let ft = entry.file_type().map_err(io_err(&path))?;
        if ft.is_dir() {
            link_tree(&path, &target, false)?;
        } else if ft.is_file() {
            if fs::hard_link(&path, &target).is_err() {
                let mode = entry
                    .metadata()
                    .map(|m| m.permissions().mode() & 0o7777)
                    .unwrap_or(0o644);
                place(std::slice::from_ref(&path), &target, mode)?;
            }
        } else {
            return Err(DeltaError::Unsound {
                out: src.to_path_buf(),
                message: format!(
                    "{}: not a regular file or folder; an output holds neither links nor devices",
                    path.display()
                ),
            });
        }
    }
    Ok(())
}

/// The staging build's `SHA256SUMS` against the delta's, line for line.
fn compare(stage_out: &Path, delta: &CheckedDelta) -> Result<(), DeltaError> {
    let path = stage_out.join(seal::SUMS);
    let text = crate::input::read_found_to_string(&path, crate::input::Kind::Sums)?;
    if text == delta.target_sums_text {
        return Ok(());
    }
    let built = parse_sums(&text);
    let first = built
        .keys()
        .chain(delta.target_sums.keys())
        .filter(|p| built.get(*p) != delta.target_sums.get(*p))
        .min()
        .cloned()
        .unwrap_or_else(|| seal::SUMS.to_string());
    let what = match (built.get(&first), delta.target_sums.get(&first)) {
        (Some(b), Some(t)) => {
            format!("the offline build wrote sha256 {b}, the delta's seal says {t}")
        }
        (Some(_), None) => "the offline build wrote it, the delta's seal does not list it".into(),
        (None, Some(_)) => "the delta's seal lists it, the offline build did not write it".into(),
        (None, None) => "the two seals differ in their form".into(),
    };
    Err(DeltaError::Mismatch {
        // The staging copy's file, shown as the output's it stands for.
        path: stage_out.join(first),
        message: format!(
            "{what}: the delta does not rebuild the near side's output here (a config input or file the delta does not carry differs?); nothing was changed"
        ),
    })
}

/// Writes the config files, then makes the staging copy the output.
fn commit(
    delta_dir: &Path,
    delta: &CheckedDelta,
    config_dir: &Path,
    out: &Path,
    stage_out: &Path,
    staging: &Staging,
    report: &mut ApplyReport,
) -> Result<(), DeltaError> {
    for rel in delta.config_files.keys() {
        let to = config_dir.join(rel);
        let from = super::parts::sources(delta_dir, &format!("config/{rel}"), &delta.joined);
        if to.is_file() && hash_file(&to).ok().as_ref() == delta.config_files.get(rel) {
            continue;
        }
        // A file replaced keeps its mode. A signal waits for the rename: no temporary
        // file is left in the config folder.
        let mode = fs::metadata(&to)
            .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o7777)
            .unwrap_or(0o644);
        staging.unless_stopping(|| place(&from, &to, mode))?;
        crate::util::sync_parent(&to).map_err(io_err(&to))?;
        report.config_files.push(rel.clone());
    }
    // The staging copy's own lock, which becomes the output's: held across the exchange.
    let _new_lock = BuildLock::acquire(stage_out, false, &mut |_| {}).map_err(DeltaError::from)?;
    crate::util::sync_dir(stage_out).map_err(io_err(stage_out))?;
    let swapped = staging.unless_stopping(|| {
        match rustix::fs::renameat_with(
            rustix::fs::CWD,
            stage_out,
            rustix::fs::CWD,
            out,
            rustix::fs::RenameFlags::EXCHANGE,
        ) {
            Ok(()) => Ok(()),
            Err(e)
                if e == rustix::io::Errno::INVAL
                    || e == rustix::io::Errno::NOSYS
                    || e == rustix::io::Errno::NOTSUP =>
            {
                // No exchange here: two renames, the old one named for the next run.
                let old = old_path(out);
                fs::rename(out, &old)?;
                fs::rename(stage_out, out)?;
                fs::rename(&old, stage_out)
            }
            Err(e) => Err(io::Error::from(e)),
        }
    });
    swapped.map_err(io_err(out))?;
    crate::util::sync_parent(out).map_err(io_err(out))?;
    Ok(())
}

/// What [`verify`] found in a delta folder.
#[derive(Debug, Clone, Serialize)]
pub struct DeltaCheck {
    /// The delta folder.
    pub delta: PathBuf,
    /// Files it holds, each hashed against its `SHA256SUMS` (parts counted as their whole).
    pub files: usize,
    /// Blobs it carries.
    pub blobs: usize,
    /// Who signed it, when a key was given to check it with.
    pub signature: Option<super::signed::SignedBy>,
}

/// Checks the delta folder `dir` as `apply` does before it touches an output: its
/// signature with `trust` (when a key is given: one of them must verify it) and every file
/// against its own seal and the new seal's records.
pub fn verify(
    dir: &Path,
    keys: &[(String, crate::trust::keys::PublicKey)],
) -> Result<DeltaCheck, DeltaError> {
    let mut signature = None;
    let mut last = None;
    for (name, key) in keys {
        let trust = super::signed::Trust {
            key: Some((name.clone(), key.clone())),
            ..Default::default()
        };
        match super::signed::check(dir, None, &trust) {
            Ok(s) => {
                signature = Some(s);
                break;
            }
            Err(e) => last = Some(e),
        }
    }
    if let (None, Some(e)) = (&signature, last) {
        return Err(e);
    }
    let delta = check_delta(dir)?;
    Ok(DeltaCheck {
        delta: dir.to_path_buf(),
        files: delta.out_files.len() + delta.config_files.len() + 1,
        blobs: (delta.out_files.keys())
            .filter(|p| p.starts_with(super::BLOBS))
            .count(),
        signature,
    })
}
