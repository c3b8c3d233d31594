//! Upgrades across the gap. The far side writes a **receipt** of a sealed output
//! ([`receipt`]): which blobs its layout reaches and which sealed files it holds, by
//! digest, checked against its `SHA256SUMS` first. The near side, after a new build,
//! writes a **delta** folder against that receipt ([`carry`]): the blobs the far side
//! lacks, the sealed files it cannot derive from the layout and the config (bundles,
//! charts, `files:`, `pki/`, manifests, the layout's `index.json`), the config folder's
//! changed inputs and `seedforge.lock`, and the new seal, all sealed again by the delta's
//! own `SHA256SUMS`. The far side applies it ([`apply`]): checked, rebuilt offline in a
//! staging copy of its output, compared with the new seal, then made current. What the far side derives (airgap archives, seeds, node files,
//! SBOMs, registry configs) is rebuilt there by `build --offline`.
//!
//! Both read a build output only through its seal: nothing is described or carried from
//! an output whose files do not match its `SHA256SUMS`.

pub mod apply;
mod ca;
pub mod carry;
pub mod changes;
mod downgrade;
mod far_side;
pub(crate) mod inputs;
pub mod kept;
mod local_charts;
pub mod page;
mod parity;
mod parts;
pub mod receipt;
pub mod record;
pub mod signed;
mod skew;
mod sources;
pub mod statement;
pub mod upgrade;
pub mod why;

use crate::input::InputError;
use crate::oci::OciError;
use crate::outpath::OutPathError;
use crate::pipeline::seal::{self, Artifact, Input, SealError};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};

/// Errors writing a receipt or a delta.
#[derive(Debug, thiserror::Error)]
pub enum DeltaError {
    /// The output's seal could not be read, or is malformed.
    #[error(transparent)]
    Seal(#[from] SealError),
    /// The output's layout could not be read.
    #[error(transparent)]
    Oci(#[from] OciError),
    /// A file is not a regular file, or larger than its kind may be.
    #[error(transparent)]
    Input(InputError),
    /// The folder to write is one seedforge must not write into.
    #[error(transparent)]
    OutPath(#[from] OutPathError),
    /// The output does not match its seal: nothing is described or carried from it.
    #[error("{}: {message}", out.display())]
    Unsound {
        /// The output folder.
        out: PathBuf,
        /// What does not match.
        message: String,
    },
    /// The receipt given is not one, is damaged, or is of a newer format.
    #[error("{}: {message}", path.display())]
    BadReceipt {
        /// The receipt file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The folder or file to write cannot be written there.
    #[error("{}: {message}", path.display())]
    BadTarget {
        /// The path.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A file changed between the check of the seal and its copy.
    #[error("{}: {message}", path.display())]
    Changed {
        /// The file.
        path: PathBuf,
        /// What changed.
        message: String,
    },
    /// The folder given is not a delta, or one of a newer format.
    #[error("{}: {message}", path.display())]
    BadDelta {
        /// The delta folder.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A file of the delta does not match the delta's own seal.
    #[error("{}: {message}", path.display())]
    Damaged {
        /// The file.
        path: PathBuf,
        /// What does not match.
        message: String,
    },
    /// The output is not the one the delta was made against.
    #[error("{}: {message}", out.display())]
    WrongBase {
        /// The output folder.
        out: PathBuf,
        /// What differs.
        message: String,
    },
    /// The delta's signature is missing, or not by the key the far side trusts.
    #[error("{}: {message}", path.display())]
    Untrusted {
        /// The delta folder or its signature.
        path: PathBuf,
        /// What is wrong, with the key ids.
        message: String,
    },
    /// The output rebuilt from the delta does not match the delta's seal.
    #[error("{}: {message}", path.display())]
    Mismatch {
        /// The first file that differs.
        path: PathBuf,
        /// How.
        message: String,
    },
    /// The output named is a file (or anything but a folder).
    #[error(
        "{}: is {found}, not a build output folder; name the folder seedforge build wrote (the one holding manifest.json and SHA256SUMS)",
        path.display()
    )]
    NotAFolder {
        /// The path as given.
        path: PathBuf,
        /// What is there: `a file`, `a symbolic link` ...
        found: &'static str,
    },
    /// The output's build lock could not be taken.
    #[error(transparent)]
    Lock(#[from] crate::pipeline::build_lock::BuildLockError),
    /// The output must be signed (`delta --require-signature`, the config's
    /// `seal.require_signature`) and is not.
    #[error("{}: {message}", path.display())]
    Unsigned {
        /// The output's signature file, missing.
        path: PathBuf,
        /// The setting, and what is missing.
        message: String,
    },
    /// The output is not the build of its config's inputs as they are now.
    #[error("{}: {message}", out.display())]
    OutOfDate {
        /// The output.
        out: PathBuf,
        /// The inputs that changed.
        message: String,
    },
    /// An input the far side's build reads changed and is not the config folder's to carry.
    #[error("{}: {message}", out.display())]
    Uncarried {
        /// The output.
        out: PathBuf,
        /// The files.
        message: String,
    },
    /// The delta is for another cluster than the far side it would be applied to (or the
    /// receipt is of another cluster's far side than the output's).
    #[error("{}: {message}", path.display())]
    OtherCluster {
        /// The receipt, or the output.
        path: PathBuf,
        /// Both clusters, and what to do.
        message: String,
    },
    /// A receipt or a medium of another site (another far side of the same cluster).
    #[error("{}: {message}", path.display())]
    OtherSite {
        /// The receipt, or the output.
        path: PathBuf,
        /// Both sites, and what to do.
        message: String,
    },
    /// What `delta.json` says the delta changes is not what its signed content changes.
    #[error("{}: {message}", path.display())]
    ChangesDisagree {
        /// `delta.json`.
        path: PathBuf,
        /// What it says, and what the content changes.
        message: String,
    },
    /// The output's registry CA is not the far side's, and was not rotated on purpose.
    #[error("{}: {message}", out.display())]
    CaChanged {
        /// The output.
        out: PathBuf,
        /// Both CAs, and how to go on.
        message: String,
    },
    /// The k3s release would move back, and that was not asked for.
    #[error("{}: {message}", out.display())]
    Downgrade {
        /// The output.
        out: PathBuf,
        /// Both releases, and how to allow it.
        message: String,
    },
    /// The k3s release would skip a minor: more than one minor ahead of the far side's.
    #[error("{at}: {message}")]
    SkipsMinors {
        /// The config line that says the release (`FILE:LINE:COLUMN`), else the output.
        at: String,
        /// Both releases, the minors skipped and how to upgrade one minor at a time.
        message: String,
    },
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
}

impl From<InputError> for DeltaError {
    fn from(e: InputError) -> DeltaError {
        match e {
            InputError::Io { path, source } => DeltaError::Io { path, source },
            refused => DeltaError::Input(refused),
        }
    }
}

impl DeltaError {
    /// True if the error is about the input (exit code 2).
    pub fn is_invalid_input(&self) -> bool {
        match self {
            DeltaError::BadReceipt { .. }
            | DeltaError::BadTarget { .. }
            | DeltaError::BadDelta { .. }
            | DeltaError::WrongBase { .. }
            | DeltaError::NotAFolder { .. }
            | DeltaError::Downgrade { .. }
            | DeltaError::SkipsMinors { .. }
            | DeltaError::CaChanged { .. }
            | DeltaError::OutOfDate { .. }
            | DeltaError::Unsigned { .. }
            | DeltaError::Uncarried { .. }
            | DeltaError::OtherCluster { .. }
            | DeltaError::OtherSite { .. } => true,
            DeltaError::Seal(e) => e.is_invalid_input(),
            DeltaError::Oci(e) => e.is_invalid_input(),
            DeltaError::Input(e) => e.is_invalid_input(),
            DeltaError::OutPath(e) => e.is_invalid_input(),
            DeltaError::Unsound { .. }
            | DeltaError::Changed { .. }
            | DeltaError::Damaged { .. }
            | DeltaError::Mismatch { .. }
            | DeltaError::ChangesDisagree { .. }
            | DeltaError::Untrusted { .. }
            | DeltaError::Lock(_)
            | DeltaError::Io { .. } => false,
        }
    }

    /// True when another build holds the output (exit 75).
    pub fn is_transient(&self) -> bool {
        matches!(self, DeltaError::Lock(e) if e.is_transient())
    }

    fn io(path: &Path, source: io::Error) -> DeltaError {
        DeltaError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// What a receipt and a delta read of `manifest.json` (other fields are ignored).
#[derive(Debug, Deserialize)]
struct ManifestFacts {
    #[serde(default)]
    seedforge_version: Option<String>,
    #[serde(default)]
    seedforge_commit: Option<String>,
    #[serde(default)]
    source_date_epoch: Option<u64>,
    #[serde(default)]
    source_date_from: Option<String>,
    #[serde(default)]
    inputs: Option<seal::Inputs>,
    #[serde(default)]
    cluster: Option<seal::ClusterRecord>,
    #[serde(default)]
    images: Vec<seal::ImageRecord>,
    /// The key id that signs the output, when it is signed.
    #[serde(default)]
    signed_by: Option<String>,
    /// The output's site identity; absent in an output that has none.
    #[serde(default)]
    site: Option<String>,
    artifacts: Vec<Artifact>,
}

/// A sealed output, checked: every file of its `SHA256SUMS` hashed right.
struct Sealed {
    /// `SHA256SUMS`: path → hex sha256 (`manifest.json` included).
    sums: BTreeMap<String, String>,
    /// manifest.json's sha256.
    manifest_sha256: String,
    facts: ManifestFacts,
    /// The blobs `oci/index.json` reaches (digest, size), sorted; empty without a layout.
    blobs: Vec<(String, u64)>,
    /// Sealed files found missing or damaged (only when asked to record them).
    damaged: BTreeSet<String>,
}

impl Sealed {
    /// The config folder's inputs manifest.json records: config, image lists, templates.
    fn inputs(&self) -> Vec<Input> {
        let Some(i) = &self.facts.inputs else {
            return Vec::new();
        };
        let mut all: Vec<Input> = std::iter::once(&i.config)
            .chain(&i.image_lists)
            .chain(&i.templates)
            .cloned()
            .collect();
        all.sort_by(|a, b| a.path.cmp(&b.path));
        all.dedup_by(|a, b| a.path == b.path);
        all
    }
}

/// The path of a blob in the output.
const BLOBS: &str = "oci/blobs/sha256/";

/// Reads and checks the sealed output `out`: `SHA256SUMS` re-hashed (any problem refuses
/// it), `manifest.json` listed there and every artifact it names agreeing with it, and
/// every blob the layout reaches sealed.
fn check_sealed(out: &Path) -> Result<Sealed, DeltaError> {
    check_sealed_but(out, &|_| false)
}

/// [`check_sealed`], with the sealed files `unread` names taken as `SHA256SUMS` lists them
/// (present, not read): the files an apply derives again rather than keeps.
fn check_sealed_but(out: &Path, unread: &dyn Fn(&str) -> bool) -> Result<Sealed, DeltaError> {
    check_sealed_with(out, unread, &|_| false)
}

/// [`check_sealed_but`]; a file that is missing or does not hash as `SHA256SUMS` lists
/// and that `tolerated` names is recorded in [`Sealed::damaged`] instead of refusing the
/// output (a receipt of a damaged output, which a delta then repairs; its apply).
fn check_sealed_with(
    out: &Path,
    unread: &dyn Fn(&str) -> bool,
    tolerated: &dyn Fn(&str) -> bool,
) -> Result<Sealed, DeltaError> {
    // NotSealed (exit 2) when there is no manifest.json.
    let manifest_bytes = read_manifest(out)?;
    refuse_links(out)?;
    let report = seal::verify_sums_with(out, &|path, listed| {
        let rel = path.strip_prefix(out).ok()?.to_str()?;
        unread(rel).then(|| listed.to_string())
    })?;
    let damaged: BTreeSet<String> = (report.problems.iter())
        .filter(|p| p.problem != "malformed" && tolerated(&p.path))
        .map(|p| p.path.clone())
        .collect();
    if report.problems.iter().any(|p| !damaged.contains(&p.path)) {
        let names: Vec<String> = (report.problems.iter())
            .map(|p| format!("{} ({})", p.path, p.problem))
            .collect();
        return Err(DeltaError::Unsound {
            out: out.to_path_buf(),
            message: format!(
                "{} file(s) do not match {}: {}; seedforge verify names them, a new build makes the output whole again",
                names.len(),
                seal::SUMS,
                names.join(", ")
            ),
        });
    }
    let sums_path = out.join(seal::SUMS);
    let text = crate::input::read_found_to_string(&sums_path, crate::input::Kind::Sums)?;
    let sums = seal::parse_sums(&text);
    let unsound = |message: String| DeltaError::Unsound {
        out: out.to_path_buf(),
        message,
    };
    let manifest_sha256 = crate::hashing::sha256_hex(&manifest_bytes);
    if sums.get(seal::MANIFEST) != Some(&manifest_sha256) {
        return Err(unsound(format!(
            "{} does not list manifest.json as it is",
            seal::SUMS
        )));
    }
    let facts: ManifestFacts =
        serde_json::from_slice(&manifest_bytes).map_err(|e| SealError::BadManifest {
            path: out.join(seal::MANIFEST),
            message: format!("not a seedforge manifest: {e}"),
        })?;
    for a in &facts.artifacts {
        if seal::safe_relative(&a.path).is_none() || sums.get(&a.path) != Some(&a.sha256) {
            return Err(unsound(format!(
                "manifest.json's {} is not what {} lists",
                a.path,
                seal::SUMS
            )));
        }
    }
    let layout = out.join("oci");
    let blobs = if layout.join("index.json").exists() {
        let layout = crate::oci::Layout::open(&layout)?;
        let blobs = crate::oci::verify::reachable(&layout)?
            .map_err(|why| unsound(format!("its layout: {why}")))?;
        for (digest, _) in &blobs {
            let hex = digest.trim_start_matches("sha256:");
            if !sums.contains_key(&format!("{BLOBS}{hex}")) {
                return Err(unsound(format!(
                    "the layout reaches {digest}, which {} does not list",
                    seal::SUMS
                )));
            }
        }
        blobs
    } else {
        Vec::new()
    };
    Ok(Sealed {
        sums,
        manifest_sha256,
        facts,
        blobs,
        damaged,
    })
}

fn read_manifest(out: &Path) -> Result<Vec<u8>, DeltaError> {
    output_folder(out)?;
    let path = out.join(seal::MANIFEST);
    match crate::input::read_found(&path, crate::input::Kind::Manifest) {
        Ok(b) => Ok(b),
        Err(InputError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
            Err(SealError::NotSealed {
                dir: out.to_path_buf(),
            }
            .into())
        }
        Err(e) => Err(e.into()),
    }
}

/// Refuses an output path that is there but is not a folder (a file given for `OUT`):
/// bad input, as a missing `manifest.json` is. A folder, or nothing there, passes.
fn output_folder(out: &Path) -> Result<(), DeltaError> {
    let found = match std::fs::metadata(out) {
        Ok(m) if m.is_dir() => return Ok(()),
        Err(_) => return Ok(()),
        Ok(m) if m.is_file() => "a file",
        Ok(_) => "not a folder",
    };
    Err(DeltaError::NotAFolder {
        path: out.to_path_buf(),
        found,
    })
}

/// Refuses an output with a symbolic link under it (an `oci/` pointing at a copy
/// elsewhere): what would be described or carried is another folder's.
fn refuse_links(out: &Path) -> Result<(), DeltaError> {
    let found = crate::pipeline::unsealed::find(out).map_err(|e| DeltaError::io(out, e))?;
    match found.links.first() {
        None => Ok(()),
        Some(link) => Err(DeltaError::Unsound {
            out: out.to_path_buf(),
            message: format!(
                "{}: a symbolic link (to {}); an output holds none: seedforge verify names each",
                link.path, link.target
            ),
        }),
    }
}

/// The config folder of the output `out`: the folder of `config` when given, else the
/// output's parent when it holds the config file manifest.json names, with the content
/// manifest.json records (`lab/out` is the output of `lab/seedforge.yaml`).
fn config_dir(out: &Path, config: Option<&Path>, sealed: &Sealed) -> Option<PathBuf> {
    if let Some(config) = config {
        return Some(match config.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        });
    }
    let recorded = &sealed.facts.inputs.as_ref()?.config;
    // Named as the output was: `fixtures/lab` for `fixtures/lab/out`.
    let parent = crate::outpath::parent_as_given(out)?;
    let file = parent.join(seal::safe_relative(&recorded.path)?);
    let bytes = crate::input::read_found(&file, crate::input::Kind::Config).ok()?;
    (crate::hashing::sha256_hex(&bytes) == recorded.sha256).then_some(parent)
}

/// The sha256 of `dir/seedforge.lock`, if there is one.
fn lock_sha256(dir: &Path) -> Result<Option<String>, DeltaError> {
    let path = dir.join(crate::oci::registry::lockfile::LOCK_FILE_NAME);
    match crate::input::read_found(&path, crate::input::Kind::Lock) {
        Ok(bytes) => Ok(Some(crate::hashing::sha256_hex(&bytes))),
        Err(InputError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// `value` with every object's keys sorted, at every depth: the canonical form a digest
/// is taken over (`jq -S` sorts the same way).
fn sorted(value: serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(map) => {
            let mut entries: Vec<(String, serde_json::Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            serde_json::Value::Object(entries.into_iter().map(|(k, v)| (k, sorted(v))).collect())
        }
        serde_json::Value::Array(items) => {
            serde_json::Value::Array(items.into_iter().map(sorted).collect())
        }
        other => other,
    }
}

/// The package bundles the delta folder `dir` carries (`out/packages/NAME.tar.gz`), by
/// bundle name, with the sha256 its `SHA256SUMS` lists: the far side's offline build keeps
/// them as the near side built them (see `PlanOptions::carried_bundles`). Read after
/// [`apply`] checked the delta; an unreadable list carries none.
pub fn carried_bundles(dir: &Path) -> BTreeMap<String, String> {
    carried(dir, |rel| {
        let name = rel.strip_prefix("out/packages/")?.strip_suffix(".tar.gz")?;
        (!name.contains('/')).then(|| name.to_string())
    })
}

/// The `files:` entries the delta folder `dir` carries (`out/files/NAME`), by payload
/// name, with their sha256 (see `PlanOptions::carried_files`).
pub fn carried_files(dir: &Path) -> BTreeMap<String, String> {
    carried(dir, |rel| {
        rel.strip_prefix("out/files/").map(str::to_string)
    })
}

/// True when the seal the delta folder `dir` carries (`out/SHA256SUMS`) lists the node
/// trust bundle of a build that rotated the registry CA (`pki/ca-bundle.crt`): the far
/// side's offline build keeps it as it is (see `PlanOptions::keep_ca_bundle`).
pub fn seals_ca_bundle(dir: &Path) -> bool {
    let Ok(text) = crate::input::read_found_to_string(
        &dir.join("out").join(seal::SUMS),
        crate::input::Kind::Sums,
    ) else {
        return false;
    };
    let bundle = format!("pki/{}", crate::pki::continuity::BUNDLE);
    text.lines()
        .filter_map(seal::sums_line)
        .any(|(_, rel)| rel == bundle)
}

/// The files of the delta's `SHA256SUMS` that `name` names, by that name.
fn carried(dir: &Path, name: impl Fn(&str) -> Option<String>) -> BTreeMap<String, String> {
    let Ok(text) =
        crate::input::read_found_to_string(&dir.join(seal::SUMS), crate::input::Kind::Sums)
    else {
        return BTreeMap::new();
    };
    text.lines()
        .filter_map(seal::sums_line)
        .filter_map(|(hex, rel)| Some((name(rel)?, hex.to_string())))
        .collect()
}

/// The config file the sealed output `out` was built from: `config` when given, else the
/// one its `manifest.json` names, in the folder above `out` (as `delta` and `receipt`
/// find it); `None` when neither names one.
pub fn config_file_of(out: &Path, config: Option<&Path>) -> Option<PathBuf> {
    if let Some(c) = config {
        return Some(c.to_path_buf());
    }
    let recorded = seal::ManifestView::load(out).ok()?.inputs?.config;
    let parent = crate::outpath::parent_as_given(out)?;
    Some(parent.join(seal::safe_relative(&recorded.path)?))
}
