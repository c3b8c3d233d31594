//! Applying a delta on the far side: `seedforge apply DELTA --to OUT`.
//!
//! 0. **Its signatures**: the new seal's, the statement's (every file on the medium) and
//!    the record's, with the key trusted here ([`super::signed`]); then the folder against
//!    the signed statement ([`super::statement`]): a file it does not list is refused.
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
//!    base's; a different base is never patched (exit 2), nor is a delta `OUT`'s history
//!    records as applied before replayed (exit 2; `--allow-replay`). An `OUT` that already is the
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
//!    --offline` runs there (the caller's `build`), dated as the delta's `manifest.json`
//!    records ([`crate::pipeline::seal::SourceDate`]), whatever `SOURCE_DATE_EPOCH` says
//!    here. Its `SHA256SUMS` must equal the delta's,
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

mod check;
mod removed;
mod stage;

use super::DeltaError;
use super::carry::{DELTA_FORMAT, DELTA_JSON, DELTA_VERSION, Tally};
use crate::leftovers::Staging;
use crate::pipeline::build_lock::BuildLock;
use crate::pipeline::seal;
use crate::pipeline::seal::parse_sums;
use check::{CheckedDelta, check_delta, hash_file};

pub use check::{DeltaCheck, verify, verify_signature};
use serde::{Deserialize, Serialize};
use stage::{commit, compare, damaged_derived, stage};
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The suffix of the old output's name while it is moved aside on a file system that
/// cannot exchange two folders in one rename.
const OLD_SUFFIX: &str = ".seedforge-apply-old";

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
    /// The source date of the delta's output, which the offline rebuild keeps (none: every
    /// date 0), as its `delta.json` says.
    pub source_date_epoch: Option<u64>,
    /// Where it came from (`environment`, `config`, `none`); absent for a delta of an older
    /// seedforge, whose rebuild is dated as before (`SOURCE_DATE_EPOCH` here first).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_date_from: Option<String>,
    /// Who signed the delta, checked before anything else of it was read.
    pub signature: Option<super::signed::SignedBy>,
    /// What the delta changes, by name: computed from this output and the delta's signed
    /// content (a `delta.json` that says otherwise is refused); as `delta.json` says
    /// where the output already was the delta's.
    pub changes: Option<super::changes::Changes>,
    /// The files the receipt recorded missing or damaged here, made whole.
    pub repaired: Vec<String>,
    /// The sealed files of the output the new seal no longer lists, removed (a node taken
    /// out of the config: its files first, each holding the join token), relative to it.
    pub removed: Vec<String>,
    /// The layout's blobs the new seal no longer lists (those of images no longer listed),
    /// removed.
    pub blobs_removed: usize,
    /// Files of the delta lost or damaged on the way and rebuilt from its recovery files
    /// (in a staging copy of it: the delta folder is not written), by their paths in it.
    pub delta_rebuilt: Vec<String>,
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
    /// Apply a delta made for another cluster than the output's.
    pub allow_other_cluster: bool,
    /// Apply a delta this output's history records as applied before (a replay: after a
    /// rollback, it would bring back what the rollback undid); recorded as replayed.
    pub allow_replay: bool,
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
        allow_other_cluster,
        allow_replay,
    } = options;
    let started = Instant::now();
    let out_abs = crate::outpath::resolve(out);
    // Who signed the delta, and whether that is the key trusted here, before anything
    // else of it is read (a folder that is not a delta is refused as one by its check).
    // A signature or trust failure is final: the recovery files of a delta not trusted
    // are neither read nor used.
    let signed = |dir: &Path| -> Result<_, DeltaError> {
        if dir.join(DELTA_JSON).is_file() || dir.join("out").join(seal::MANIFEST).is_file() {
            let base = out_abs.join(seal::MANIFEST);
            let base = base.is_file().then_some(out_abs.as_path());
            Ok(Some(super::signed::check(dir, base, trust)?))
        } else {
            Ok(None)
        }
    };
    // Damage on the way to the delta's seal (a truncated delta.json, a changed
    // manifest.json) is named as such, not as the signature failure it leads to.
    let signature = signed(delta_dir).map_err(|e| match e {
        DeltaError::Untrusted { .. } => check::seal_damage(delta_dir).unwrap_or(e),
        e => e,
    })?;
    // A part lost or damaged on the way, with recovery files: rebuilt in a staging copy
    // of the delta, which is then what is checked and applied (the delta folder is never
    // written). Only files the delta's SHA256SUMS lists are rebuilt, and the copy is then
    // checked whole against the signed seal. A sound delta is read once.
    let statement_of =
        |s: &Option<super::signed::SignedBy>| s.as_ref().and_then(|s| s.statement.clone());
    let (repaired, signature, delta) =
        match check_delta(delta_dir, statement_of(&signature).as_ref()) {
            Ok(delta) => (None, signature, delta),
            // A file lost or damaged (delta.json among them), of a delta whose signature was
            // checked: the recovery files may rebuild it.
            Err(e @ (DeltaError::Damaged { .. } | DeltaError::BadDelta { .. }))
                if signature.is_some() =>
            {
                match super::parity::repaired_copy(delta_dir, &out_abs, staging)? {
                    Some(copy) => {
                        let signature = signed(&copy.dir)?;
                        let delta = check_delta(&copy.dir, statement_of(&signature).as_ref())?;
                        (Some(copy), signature, delta)
                    }
                    None => return Err(e.into()),
                }
            }
            Err(e) => return Err(e.into()),
        };
    // The delta as the operator named it, for the report, whichever copy is applied.
    let given = delta_dir;
    let delta_rebuilt = repaired
        .as_ref()
        .map(|r| r.rebuilt.clone())
        .unwrap_or_default();
    let delta_dir = repaired.as_ref().map_or(delta_dir, |r| r.dir.as_path());
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
        delta: given.to_path_buf(),
        config_dir: config_dir.clone(),
        files_applied: 0,
        blobs_added: 0,
        bytes: 0,
        config_files: Vec::new(),
        rebuilt_damaged: Vec::new(),
        manifest_sha256: sealed.manifest_sha256.clone(),
        source_date_epoch: delta.facts.source_date_epoch,
        source_date_from: delta.facts.source_date_from.clone(),
        signature,
        changes: delta.facts.changes.clone(),
        repaired: delta.facts.repairs.clone(),
        removed: Vec::new(),
        blobs_removed: 0,
        delta_rebuilt,
        seconds: 0.0,
    };
    // The site the medium is for, before anything is judged or written: another far side
    // of a cluster with this name (a cloned lab) refuses it by name.
    check_site(out, &sealed, &delta)?;
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
    // A medium applied here before is never applied again unasked: after a rollback, an
    // old delta whose base this output is again would bring back what was rolled back.
    let history = super::record::history(&out_abs);
    if let Some(before) = (history.iter()).find(|e| e.delta_sha256 == delta.json_sha256)
        && !allow_replay
    {
        return Err(DeltaError::WrongBase {
            out: out.to_path_buf(),
            message: format!(
                "this delta (delta.json sha256 {}) was applied here before, on {}, and the output has moved on since: applied again, it would bring back what came after it undone (a rollback is a new delta, made against this side's receipt); --allow-replay applies it all the same, recorded as replayed; nothing was changed",
                delta.json_sha256,
                super::record::date(before.applied_at)
            ),
        }
        .into());
    }
    // The cluster the delta is for, as its signed manifest.json names it, before anything
    // else of it is judged: a medium made for another cluster is refused by name.
    let here_cluster = (sealed.facts.cluster.as_ref()).map(|c| c.name.as_str());
    if let (Some(here), Some(there)) = (here_cluster, delta.target_cluster.as_deref())
        && here != there
        && !allow_other_cluster
    {
        return Err(DeltaError::OtherCluster {
            path: out.to_path_buf(),
            message: format!(
                "the delta is for cluster {there:?} (its signed manifest.json), and this is cluster {here:?}'s output: a medium applies to the far side of the cluster it was made for. Carry cluster {here:?}'s delta here; --allow-other-cluster applies it all the same (this far side becomes cluster {there:?}); nothing was changed"
            ),
        }
        .into());
    }
    // What the delta changes, computed here from this output and the delta's signed
    // content, never taken from delta.json: a delta.json that says otherwise is refused.
    report.changes = Some(check::changes_here(delta_dir, &delta, &sealed)?);
    // A delta that replaces the registry CA the nodes trust without naming the rotation
    // (one of a seedforge that did not check it) is refused: applied, the registry would
    // present a certificate no running node trusts.
    let ca = "pki/ca.crt";
    if let (Some(here), Some(there)) = (sealed.sums.get(ca), delta.target_sums.get(ca))
        && here != there
        && (delta.facts.changes.as_ref()).is_none_or(|c| c.ca.is_none())
    {
        return Err(DeltaError::CaChanged {
            out: out.to_path_buf(),
            message: format!(
                "the delta replaces its registry CA (pki/ca.crt sha256 {here} here, {there} in the delta) without a rotation on purpose (its delta.json names no changes.ca): no running node would trust the registry's new certificate. Make the delta again with this seedforge, from an output that keeps this CA or rotates from it (seedforge build --rotate-ca)"
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
    super::skew::check_step(
        out,
        (
            (sealed.facts.cluster.as_ref()).map(|c| c.k3s_version.as_str()),
            "this output's",
        ),
        (delta.target_k3s.as_deref(), "the delta's"),
        &super::skew::carried_hops(delta.target_sums.keys()),
        allow_downgrade,
        Some(&new_config),
        super::downgrade::Side::Far,
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
    // Files the near side's build stopped reading (taken out of a `manifests:` folder):
    // left out of the staging copy, removed here once the delta is applied.
    let removed_inputs = match &delta.target_other {
        Some(target_other) => removed::removed_inputs(
            &new_config,
            (&config_abs, &config_name),
            target_other,
            (sealed.facts.inputs.as_ref())
                .and_then(|i| i.other.as_deref())
                .unwrap_or_default(),
        )?,
        None => Vec::new(),
    };

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
        (&sources, &deb_folders, &removed_inputs),
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
    // Every delta applied here, in order: this one added.
    super::record::write_history(
        &out_abs,
        &stage_out,
        super::record::AppliedEntry {
            delta_sha256: delta.json_sha256.clone(),
            target_manifest_sha256: delta.facts.target_manifest_sha256.clone(),
            applied_at: super::record::now(),
            replayed: (history.iter()).any(|e| e.delta_sha256 == delta.json_sha256),
        },
    );
    // Which delta the output is made from, for its next receipt to say.
    super::record::write_applied(
        &stage_out,
        &super::record::Applied {
            delta_sha256: delta.json_sha256.clone(),
            base_receipt: delta.facts.base_receipt.clone(),
            applied_at: super::record::now(),
        },
        &delta.facts.target_manifest_sha256,
    );

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
        (&delta, &removed_inputs),
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

/// A medium made for another site than the output's (another far side of a cluster with
/// this name: a lab cloned with its CA, keys and token) is refused, naming both: the site
/// its signed `manifest.json` records, or, failing that, the one its record says its
/// receipt was of. An output or a medium without a site (a seedforge without sites made
/// it) is not refused: the output takes the medium's site.
fn check_site(
    out: &Path,
    sealed: &super::Sealed,
    delta: &check::CheckedDelta,
) -> Result<(), DeltaError> {
    let Some(here) = sealed.facts.site.as_deref() else {
        return Ok(());
    };
    let (there, said) = match (&delta.target_site, &delta.facts.base_site) {
        (Some(t), _) if t != here => (t, "its signed manifest.json"),
        (_, Some(b)) if b != here => (b, "its record's base"),
        _ => return Ok(()),
    };
    Err(DeltaError::OtherSite {
        path: out.to_path_buf(),
        message: format!(
            "the medium is for site {there} ({said}), and this output is site {here} (its site.json): two far sides share the cluster name, and a medium applies only to the site it was made for. Carry the delta made against this side's receipt (seedforge receipt OUT -o FILE here, the delta made of site {here}'s output on the near side); nothing was changed"
        ),
    })
}
