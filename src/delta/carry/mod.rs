//! The delta folder: what a far side that sent a receipt lacks of a new build.
//!
//! ```text
//! DELTA/delta.json                   what the delta is: the base receipt's digest, the target manifest's sha256, counts and sizes
//! DELTA/SHA256SUMS                   every other file of DELTA (delta.json included), for `sha256sum -c` run in DELTA
//! DELTA/out/oci/blobs/sha256/<hex>   each blob the new layout reaches and the receipt does not list
//! DELTA/out/<path>                   each sealed file the far side cannot derive, new or changed since the receipt:
//!                                    oci/index.json, oci/oci-layout, packages/*, charts/*, manifests/*, files/*,
//!                                    pki/*, keys/* (anything sealed that is not derived, below)
//! DELTA/out/manifest.json, DELTA/out/SHA256SUMS, DELTA/out/manifest.json.sigstore.json (when signed): the new seal
//! DELTA/config/<path>                each input manifest.json records (config file, image lists, template
//!                                    overrides), new or changed since the receipt
//! DELTA/config/seedforge.lock        the new lock, when the config folder holds one and it changed
//! ```
//!
//! Derived files are never carried: `airgap/*`, `iso/*`, `nodes/*`, `sbom/*`,
//! `registries.yaml`, `registry/*`, `certs.d/*`: the far side's `build --offline` writes
//! them again from the layout, the config and the carried files. Every file is copied
//! hashed, against the digest the seal or manifest.json gives it.

use super::receipt::Receipt;
use super::{BLOBS, DeltaError, check_sealed, config_dir};
use crate::pipeline::seal;
use crossing::{check_site, crossing_record};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use write::{check_target, create_dir, write_into};

mod crossing;
mod write;

/// The `format` of `delta.json`.
pub const DELTA_FORMAT: &str = "seedforge-delta";
/// The format version of `delta.json`.
pub const DELTA_VERSION: u32 = 1;
/// The delta's description, named where its signature is checked.
pub use super::signed::DELTA_JSON;

/// Sealed paths the far side's `build --offline` writes again: never carried.
pub const DERIVED: &[&str] = &[
    "airgap/",
    "iso/",
    "nodes/",
    "sbom/",
    "registries.yaml",
    "registry/",
    "certs.d/",
];

/// Whether the sealed path `rel` is rebuilt by the far side. A signature never is, where
/// it lies (`sbom/provenance.sigstore.json`): only the side that holds the private key
/// makes one, and the far side's rebuild keeps the one carried to it.
pub fn is_derived(rel: &str) -> bool {
    if rel.ends_with(".sigstore.json") {
        return false;
    }
    DERIVED.iter().any(|d| {
        if d.ends_with('/') {
            rel.starts_with(d)
        } else {
            rel == *d
        }
    })
}

/// A count of files and their bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Tally {
    /// Files.
    pub count: usize,
    /// Their bytes.
    pub bytes: u64,
}

impl Tally {
    pub(super) fn add(&mut self, bytes: u64) {
        self.count += 1;
        self.bytes += bytes;
    }
}

/// `delta.json`.
#[derive(Debug, Clone, Serialize)]
pub struct DeltaDoc {
    /// [`DELTA_FORMAT`].
    pub format: &'static str,
    /// [`DELTA_VERSION`].
    pub delta_version: u32,
    /// The seedforge that wrote it.
    pub seedforge_version: String,
    /// The receipt it is made against (its `digest`).
    pub base_receipt: String,
    /// The far side's manifest.json, as the receipt gives it.
    pub base_manifest_sha256: String,
    /// The new manifest.json, carried in `out/`.
    pub target_manifest_sha256: String,
    /// The cluster the delta is for: `cluster.name` of the new output.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    /// The cluster whose far side the receipt is of (absent for a receipt of format 3 or
    /// older, which does not say).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_cluster: Option<String>,
    /// The site the delta is for: the new output's site identity (its `manifest.json`'s
    /// `site`); absent when the output has none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
    /// The site of the far side the receipt is of (absent for a receipt that names none:
    /// of format 5 or older, or of an output without a site).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_site: Option<String>,
    /// Why the delta is made, as the operator gave it (`delta --reason`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The new output's source date: apply's offline rebuild keeps it, whatever
    /// `SOURCE_DATE_EPOCH` says on the far side.
    pub source_date_epoch: Option<u64>,
    /// Where it came from (`environment`, `config`, `none`), as the new manifest.json
    /// records it; absent when an older seedforge built it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_date_from: Option<String>,
    /// Blobs carried.
    pub blobs: Tally,
    /// Sealed files carried (blobs and the seal aside).
    pub artifacts: Tally,
    /// The seal: manifest.json, SHA256SUMS and, when signed, its bundle.
    pub seal: Tally,
    /// Config folder files carried (seedforge.lock included).
    pub config: Tally,
    /// Every file of the delta but `delta.json` and `SHA256SUMS`.
    pub bytes: u64,
    /// The whole new output as sealed (every artifact, manifest.json and SHA256SUMS).
    pub full_output_bytes: u64,
    /// Sealed files of the new build that are derived and left for the far side to write.
    pub derived_not_carried: usize,
    /// What changes, by name: images, charts, package bundles, `files:` entries.
    pub changes: super::changes::Changes,
    /// The far side's files its receipt records missing or damaged: the delta carries
    /// those it cannot derive, and `apply` takes the output with them and makes it whole.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub repairs: Vec<String>,
    /// The config folder's files carried that manifest.json does not record (chart
    /// values, `cluster.release_images`, `manifests:` files, base lists): apply writes
    /// these too.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub other_inputs: Vec<String>,
    /// Every such file the new config names, carried or not, with its sha256 here (path
    /// as the config names it, `../` included): apply names one the far side holds
    /// otherwise before it rebuilds anything.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub other_inputs_sha256: BTreeMap<String, String>,
    /// Who made it: the config's digest and, when its folder is a git checkout, the
    /// commit (written by [`delta`]; absent in `plan --upgrade-from`'s preview).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub made_by: Option<super::record::MadeBy>,
    /// The base beyond its digest: the receipt's time, the delta the far side last
    /// applied, and whether the receipt is stale by what this side sent since.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base: Option<super::record::Base>,
    /// Why: the diff of the config inputs since the far side's, secrets masked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why: Option<super::why::Why>,
}

/// What [`delta`] wrote.
#[derive(Debug, Clone, Serialize)]
pub struct DeltaReport {
    /// The delta folder.
    pub dir: PathBuf,
    /// The config folder the config files came from, when known.
    pub config_dir: Option<PathBuf>,
    /// What `delta.json` says.
    #[serde(flatten)]
    pub doc: DeltaDoc,
    /// Files written (delta.json and SHA256SUMS included).
    pub files: usize,
    /// The sealed files carried, blobs and the seal aside (relative to the output).
    pub carried_artifacts: Vec<String>,
    /// The config folder's files carried (relative to it).
    pub carried_config: Vec<String>,
    /// Whether the delta is signed (the output's signature over its `manifest.json`,
    /// carried), and with which key.
    pub signature: super::signed::OutputSignature,
    /// Whether `delta.json` is signed with that key too ([`super::signed::RECORD_BUNDLE`]).
    pub record_signed: bool,
}

/// How `delta` writes.
#[derive(Debug, Clone, Copy, Default)]
pub struct DeltaOptions<'a> {
    /// Every file larger than that many bytes as numbered parts.
    pub split: Option<u64>,
    /// With `split`: PAR 2.0 recovery files, this percent of the delta's size.
    pub parity: Option<u32>,
    /// A k3s downgrade since the receipt is made all the same.
    pub allow_downgrade: bool,
    /// An unsigned output is refused (also when its config sets
    /// `seal.require_signature: true`).
    pub require_signature: bool,
    /// A receipt of another cluster's far side is taken (the far side is renamed).
    pub allow_other_cluster: bool,
    /// An unsigned output is made into a delta for a far side whose output is signed (its
    /// receipt's `signed_by`); its apply then needs `--allow-unsigned` too.
    pub allow_unsigned: bool,
    /// The private key that signed the output: `delta.json` (what the delta is for and
    /// what it changes) is signed with it too ([`super::signed::RECORD_BUNDLE`]).
    pub signer: Option<&'a crate::trust::keys::SigningKey>,
    /// Why the delta is made (`delta --reason`), recorded in `delta.json`.
    pub reason: Option<&'a str>,
    /// The run's secrets: masked in the diff of the config inputs `delta.json` records
    /// (values that look like secrets are masked whatever this holds).
    pub secrets: Option<&'a crate::redact::Secrets>,
}

/// One file to carry: from, to (relative to the delta), its sha256, mode, size.
struct Carry {
    from: PathBuf,
    /// A file of the config folder (given: may be a link), not one found in the output.
    given: bool,
    to: String,
    sha256: Option<String>,
    mode: u32,
    size: u64,
}

/// Writes into `dir` (new, or an empty folder) what the sealed output `out` holds that the
/// far side of `receipt` lacks, with the config folder of `config` (or the one found
/// beside `out`). With `split`, every file larger than that many bytes is written as
/// numbered parts ([`super::parts`]).
/// A k3s downgrade since the receipt is refused unless `allow_downgrade` or the config
/// sets `cluster.allow_downgrade: true`; an output older than its config's inputs (the
/// config, image lists, templates manifest.json records) is refused: build first.
pub fn delta(
    out: &Path,
    receipt_path: &Path,
    dir: &Path,
    config: Option<&Path>,
    options: &DeltaOptions<'_>,
) -> Result<DeltaReport, DeltaError> {
    let DeltaOptions {
        split,
        parity,
        allow_downgrade,
        require_signature,
        allow_other_cluster,
        allow_unsigned,
        signer,
        reason,
        secrets,
    } = *options;
    let receipt = Receipt::load(receipt_path)?;
    check_target(out, dir)?;
    let (plan, mut doc, config_dir, sealed) = plan_carry(out, &receipt, config)?;
    doc.reason = reason.map(str::to_string);
    if let (Some(far), Some(near)) = (&doc.base_cluster, &doc.cluster)
        && far != near
        && !allow_other_cluster
    {
        return Err(DeltaError::OtherCluster {
            path: receipt_path.to_path_buf(),
            message: format!(
                "the receipt is of cluster {far:?}'s far side, and {} is cluster {near:?}'s output: a delta applies to the far side of the cluster it is made for. Make the delta of cluster {far:?}'s output, or against a receipt of cluster {near:?}'s far side; --allow-other-cluster makes it all the same (the far side becomes cluster {near:?}); nothing was written",
                out.display()
            ),
        });
    }
    check_site(out, receipt_path, &doc)?;
    let (carried_artifacts, carried_config) = carried_lists(&plan);
    if let Some(cdir) = &config_dir {
        let inputs: Vec<(String, String)> = (sealed.inputs().into_iter())
            .map(|i| (i.path, i.sha256))
            .collect();
        let changed = changed_inputs(cdir, &inputs);
        if !changed.is_empty() {
            return Err(DeltaError::OutOfDate {
                out: out.to_path_buf(),
                message: format!(
                    "not the build of its config as it is now: {} changed since (manifest.json records other content); build first, then make the delta",
                    (changed.iter())
                        .map(|p| cdir.join(p).display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            });
        }
    }
    let config_file = config.map(Path::to_path_buf).or_else(|| {
        let recorded = &sealed.facts.inputs.as_ref()?.config;
        Some(
            config_dir
                .as_ref()?
                .join(seal::safe_relative(&recorded.path)?),
        )
    });
    // The other files the build read (values, `manifests:`, base lists, release images),
    // as manifest.json records them: one edited since would cross beside the old seal.
    // And the charts kept beside the config, packed again: the far side takes each from
    // the output, so an edited one would never cross.
    if let (Some(cdir), Some(file)) = (&config_dir, &config_file) {
        let recorded = (sealed.facts.inputs.as_ref()).and_then(|i| i.other.as_ref());
        let mut changed = recorded
            .map(|recorded| super::inputs::changed_since_build(file, cdir, recorded))
            .unwrap_or_default();
        changed.extend(super::local_charts::changed_since_build(
            file,
            out,
            &sealed.sums,
        ));
        if !changed.is_empty() {
            return Err(DeltaError::OutOfDate {
                out: out.to_path_buf(),
                message: format!(
                    "not the build of its config's inputs as they are now: {}; the delta would carry them beside a seal of what the build read, and the far side's apply would fail; build first, then make the delta",
                    changed.join("; ")
                ),
            });
        }
    }
    super::skew::check_step(
        out,
        (
            receipt.k3s_version.as_deref(),
            "the far side's, as its receipt records",
        ),
        (
            (sealed.facts.cluster.as_ref()).map(|c| c.k3s_version.as_str()),
            "this output's",
        ),
        &super::skew::carried_hops(sealed.sums.keys()),
        allow_downgrade,
        config_file.as_deref(),
        super::downgrade::Side::Near,
    )?;
    // The record beyond what changes: who made it, the base, why.
    let record_sent = crossing_record(
        &mut doc,
        out,
        (receipt_path, &receipt),
        (config_dir.as_deref(), &sealed),
        secrets,
    );
    // Signed or not, checked with the key the output records; required, before anything
    // is written.
    let signature = super::signed::of_output(out)?;
    // The record is signed with the key that signed the output, or not at all.
    let signer = signer.filter(|_| signature.signed);
    if let Some(key) = signer
        && signature.key_id.as_deref() != Some(key.public_key().hint().as_str())
    {
        return Err(DeltaError::Untrusted {
            path: out.join(seal::MANIFEST_BUNDLE),
            message: format!(
                "the private key given to sign {DELTA_JSON} is key id {}, and the output is signed by key id {}: the delta's record is signed with the key that signed the output; nothing was written",
                key.public_key().hint(),
                signature.key_id.as_deref().unwrap_or("none")
            ),
        });
    }
    // A signed output's medium is signed whole, or made unsigned on purpose: a signed far
    // side refuses a medium signed in part.
    if signature.signed && signer.is_none() {
        if !allow_unsigned {
            return Err(DeltaError::Unsigned {
                path: out.join(seal::MANIFEST_BUNDLE),
                message: format!(
                    "{} is signed (key id {}), and no private key is here to sign the delta's record ({DELTA_JSON}) and its statement (every file on the medium): a far side that trusts that key refuses a medium signed in part. Make the delta where the private key is (the config's seal.key, or delta --signing-key FILE); or pass --allow-unsigned to make an unsigned medium (its apply then needs --allow-unsigned too); nothing was written",
                    out.display(),
                    signature.key_id.as_deref().unwrap_or("none"),
                ),
            });
        }
        tracing::warn!(
            "{DELTA_JSON} and {} are not signed (--allow-unsigned): a far side that trusts the output's key refuses the medium unless its apply is given --allow-unsigned",
            super::statement::STATEMENT
        );
    }
    let required = if require_signature {
        Some("--require-signature".to_string())
    } else {
        (config_file.as_ref())
            .filter(|f| super::signed::config_requires(f))
            .map(|f| format!("seal.require_signature ({})", f.display()))
    };
    // The far side's output is signed: its apply refuses an unsigned delta, so it is
    // refused here, before it crosses.
    if let Some(far) = &receipt.signed_by
        && !signature.signed
        && !allow_unsigned
    {
        return Err(DeltaError::Unsigned {
            path: out.join(seal::MANIFEST_BUNDLE),
            message: format!(
                "the far side's output is signed (key id {far}, as its receipt {} records), and {} is not (no signature over its manifest.json): its apply would refuse the delta. Build it with the private key (seal.key, or build --signing-key FILE), then make the delta; or pass --allow-unsigned to make it all the same (apply then needs --allow-unsigned too); nothing was written",
                receipt_path.display(),
                out.display()
            ),
        });
    }
    if let Some(setting) = required
        && !signature.signed
    {
        return Err(DeltaError::Unsigned {
            path: out.join(seal::MANIFEST_BUNDLE),
            message: format!(
                "{setting}: the delta must be signed, and {} is not signed (no signature over its manifest.json); build it with the private key (seal.key, or build --signing-key FILE), then make the delta; nothing was written",
                out.display()
            ),
        });
    }

    // Written: each file hashed on its way, the sums of the delta from those hashes.
    // Written into a staging folder beside `dir`, renamed into place once whole: a delta
    // that failed half-way leaves nothing under its name.
    let target = crate::outpath::resolve(dir);
    if let Some(parent) = target.parent() {
        create_dir(parent)?;
    }
    let staging = crate::util::temp_path_beside(&target);
    let k3s_to = (sealed.facts.cluster.as_ref()).map(|c| c.k3s_version.clone());
    let hops = super::skew::taken_hops(
        receipt.k3s_version.as_deref(),
        &super::skew::carried_hops(sealed.sums.keys()),
    );
    // The carried config files in which something is masked, and the manifests made of
    // them: named on the page.
    let masked = crate::redact::files_holding_secrets(
        (plan.iter())
            .filter(|c| c.to.starts_with("config/") || c.to.starts_with("out/manifests/"))
            .map(|c| (c.to.as_str(), c.from.as_path())),
    );
    let page = super::page::PageFacts {
        signed_by: signature.key_id.as_deref().filter(|_| signature.signed),
        record_signed: signer.is_some(),
        k3s_from: receipt.k3s_version.as_deref(),
        k3s_to: k3s_to.as_deref(),
        hops: &hops,
        masked: &masked,
    };
    let written = write_into(&staging, &plan, &doc, signer, &page).and_then(|n| {
        let n = match split {
            Some(part) => {
                let wholes = super::parts::split_files(&staging, part)?;
                let parts: usize = wholes.iter().map(|w| w.parts.len()).sum();
                let recovery = match parity {
                    Some(percent) => super::parity::write(&staging, part, percent)?,
                    None => 0,
                };
                // The parts, SHA256SUMS.wholes and join.sh in place of the wholes.
                n - wholes.len() + parts + usize::from(!wholes.is_empty()) * 2 + recovery
            }
            None => n,
        };
        // Last: the statement of every file on the medium, signed with the seal's key.
        let n = n + super::statement::write(&staging, "delta", signer)?;
        if target.is_dir() {
            // Checked empty above.
            std::fs::remove_dir(&target).map_err(|e| DeltaError::io(&target, e))?;
        }
        std::fs::rename(&staging, &target).map_err(|e| DeltaError::io(&target, e))?;
        crate::util::sync_parent(&target).map_err(|e| DeltaError::io(&target, e))?;
        Ok(n)
    });
    let files = match written {
        Ok(n) => n,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(e);
        }
    };
    // What was sent, for the next delta to tell a stale receipt, and the config inputs
    // its output was built from, kept for the next delta to say why.
    super::record::record_sent(out, &record_sent(&doc));
    if let (Some(cdir), Some(inputs)) = (&config_dir, &sealed.facts.inputs) {
        super::kept::keep(out, cdir, inputs, &sealed.manifest_sha256);
    }
    Ok(DeltaReport {
        dir: dir.to_path_buf(),
        config_dir,
        files,
        doc,
        carried_artifacts,
        carried_config,
        signature,
        record_signed: signer.is_some(),
    })
}

/// The bytes of `delta.json` for `doc`, as [`write_into`] writes them.
fn doc_bytes(doc: &DeltaDoc) -> Vec<u8> {
    let mut json = serde_json::to_vec_pretty(doc).unwrap_or_default();
    json.push(b'\n');
    json
}

/// The seal's own files a delta carries under `out/`: `manifest.json`, `SHA256SUMS`, and
/// the signatures over the manifest and over the output's statement, when there.
pub const SEAL_FILES: [&str; 4] = [
    seal::MANIFEST,
    seal::SUMS,
    seal::MANIFEST_BUNDLE,
    seal::statement::STATEMENT_BUNDLE,
];

/// Whether `rel` (relative to the output) is one of [`SEAL_FILES`].
pub fn is_seal_file(rel: &str) -> bool {
    SEAL_FILES.contains(&rel)
}

/// The sealed files (blobs and the seal aside, relative to the output) and the config
/// folder's files (relative to it) of `plan`.
fn carried_lists(plan: &[Carry]) -> (Vec<String>, Vec<String>) {
    let mut artifacts = Vec::new();
    let mut config_files = Vec::new();
    for c in plan {
        if let Some(rel) = c.to.strip_prefix("config/") {
            config_files.push(rel.to_string());
        } else if let Some(rel) = c.to.strip_prefix("out/")
            && !rel.starts_with(BLOBS)
            && !is_seal_file(rel)
        {
            artifacts.push(rel.to_string());
        }
    }
    (artifacts, config_files)
}

/// What a delta of the sealed output `out` since `receipt` would carry, written nowhere:
/// `delta.json` as [`delta`] would write it, the sealed files and the config folder's
/// files it would carry (relative paths), and the new output's k3s release.
#[derive(Debug, Clone, Serialize)]
pub struct CarryPreview {
    /// What `delta.json` would say.
    pub doc: DeltaDoc,
    /// The sealed files carried, blobs and the seal aside (relative to the output).
    pub artifacts: Vec<String>,
    /// The config folder's files carried (relative to it).
    pub config_files: Vec<String>,
    /// The config folder, when known.
    pub config_dir: Option<PathBuf>,
    /// `cluster.k3s_version` of the new output, as its manifest.json records it.
    pub k3s_version: Option<String>,
    /// The config inputs manifest.json records: path, sha256.
    pub inputs: Vec<(String, String)>,
    /// The output's `SHA256SUMS` (path to sha256), as checked.
    pub sums: BTreeMap<String, String>,
}

/// [`CarryPreview`] of `out` since the receipt `receipt` (its output checked against its
/// seal first, as [`delta`] checks it).
pub fn preview(
    out: &Path,
    receipt: &Receipt,
    config: Option<&Path>,
) -> Result<CarryPreview, DeltaError> {
    let (plan, doc, config_dir, sealed) = plan_carry(out, receipt, config)?;
    let (artifacts, config_files) = carried_lists(&plan);
    Ok(CarryPreview {
        doc,
        artifacts,
        config_files,
        config_dir,
        k3s_version: (sealed.facts.cluster.as_ref()).map(|c| c.k3s_version.clone()),
        inputs: (sealed.inputs().into_iter())
            .map(|i| (i.path, i.sha256))
            .collect(),
        sums: sealed.sums,
    })
}

/// What changes from the output `receipt` describes to `sealed`, by name.
fn changes_since(receipt: &Receipt, sealed: &super::Sealed) -> super::changes::Changes {
    let images_before = receipt.images.as_ref().map(|images| {
        (images.iter())
            .map(|i| (i.destination.clone(), i.digest.clone()))
            .collect::<BTreeMap<_, _>>()
    });
    let images_after = (sealed.facts.images.iter())
        .map(|i| (i.destination.clone(), i.digest.clone()))
        .collect();
    let files_before = (receipt.artifacts.iter())
        .map(|a| (a.path.clone(), a.sha256.clone()))
        .collect();
    let files_after = (sealed.facts.artifacts.iter())
        .map(|a| (a.path.clone(), a.sha256.clone()))
        .collect();
    super::changes::Changes::of(
        images_before.as_ref(),
        &images_after,
        &files_before,
        &files_after,
    )
}

/// The files a delta of `out` since `receipt` carries, what its `delta.json` says, the
/// config folder they are taken from, and the output as checked.
fn plan_carry(
    out: &Path,
    receipt: &Receipt,
    config: Option<&Path>,
) -> Result<(Vec<Carry>, DeltaDoc, Option<PathBuf>, super::Sealed), DeltaError> {
    let sealed = check_sealed(out)?;

    let mut doc = DeltaDoc {
        format: DELTA_FORMAT,
        delta_version: DELTA_VERSION,
        seedforge_version: crate::VERSION.into(),
        base_receipt: receipt.stated_digest(),
        base_manifest_sha256: receipt.manifest_sha256.clone(),
        target_manifest_sha256: sealed.manifest_sha256.clone(),
        cluster: (sealed.facts.cluster.as_ref()).map(|c| c.name.clone()),
        base_cluster: receipt.cluster.clone(),
        site: sealed.facts.site.clone(),
        base_site: receipt.site.clone(),
        reason: None,
        source_date_epoch: sealed.facts.source_date_epoch,
        source_date_from: sealed.facts.source_date_from.clone(),
        blobs: Tally::default(),
        artifacts: Tally::default(),
        seal: Tally::default(),
        config: Tally::default(),
        bytes: 0,
        full_output_bytes: 0,
        derived_not_carried: 0,
        changes: super::changes::Changes {
            ca: super::ca::change(out, receipt, &sealed)?,
            ..changes_since(receipt, &sealed)
        },
        repairs: receipt.damaged.clone(),
        other_inputs: Vec::new(),
        other_inputs_sha256: BTreeMap::new(),
        made_by: None,
        base: None,
        why: None,
    };
    // After the CA's check: an output the far side's nodes cannot trust is refused first.
    let config_dir = carried_config_dir(out, config, &sealed)?;
    let mut plan: Vec<Carry> = Vec::new();

    let had: BTreeSet<&str> = receipt.blobs.iter().map(|b| b.digest.as_str()).collect();
    for (digest, size) in &sealed.blobs {
        if had.contains(digest.as_str()) {
            continue;
        }
        let rel = format!("{BLOBS}{}", digest.trim_start_matches("sha256:"));
        plan.push(Carry {
            from: out.join(&rel),
            given: false,
            to: format!("out/{rel}"),
            sha256: sealed.sums.get(&rel).cloned(),
            mode: 0o644,
            size: *size,
        });
        doc.blobs.add(*size);
    }

    let had: BTreeMap<&str, &str> = (receipt.artifacts.iter())
        .map(|a| (a.path.as_str(), a.sha256.as_str()))
        .collect();
    for a in &sealed.facts.artifacts {
        doc.full_output_bytes += a.size;
        if a.path.starts_with(BLOBS) {
            continue;
        }
        if is_derived(&a.path) {
            doc.derived_not_carried += 1;
            continue;
        }
        if had.get(a.path.as_str()) == Some(&a.sha256.as_str()) {
            continue;
        }
        plan.push(Carry {
            from: out.join(&a.path),
            given: false,
            to: format!("out/{}", a.path),
            sha256: Some(a.sha256.clone()),
            mode: u32::from_str_radix(&a.mode, 8).unwrap_or(0o644),
            size: a.size,
        });
        doc.artifacts.add(a.size);
    }

    // The output statement's signature goes too: the far side's rebuild writes the same
    // statement, which it then keeps signed (it cannot sign one itself).
    for name in SEAL_FILES {
        let from = out.join(name);
        let optional = name == seal::MANIFEST_BUNDLE || name == seal::statement::STATEMENT_BUNDLE;
        let size = match std::fs::symlink_metadata(&from) {
            Ok(m) => m.len(),
            Err(_) if optional => continue,
            Err(e) => return Err(DeltaError::io(&from, e)),
        };
        if !optional {
            doc.full_output_bytes += size;
        }
        plan.push(Carry {
            from,
            given: false,
            to: format!("out/{name}"),
            sha256: (name == seal::MANIFEST).then(|| sealed.manifest_sha256.clone()),
            mode: 0o644,
            size,
        });
        doc.seal.add(size);
    }

    if let Some(cdir) = &config_dir {
        let had: BTreeMap<&str, &str> = (receipt.inputs.iter())
            .map(|a| (a.path.as_str(), a.sha256.as_str()))
            .collect();
        for input in sealed.inputs() {
            if had.get(input.path.as_str()) == Some(&input.sha256.as_str()) {
                continue;
            }
            // An input outside the config's folder (`../lists/x.txt`) is not the folder's
            // to carry.
            let Some(rel) = seal::safe_relative(&input.path) else {
                continue;
            };
            let from = cdir.join(&rel);
            let size = std::fs::metadata(&from)
                .map_err(|e| DeltaError::io(&from, e))?
                .len();
            plan.push(Carry {
                from,
                given: true,
                to: format!("config/{}", input.path),
                sha256: Some(input.sha256.clone()),
                mode: 0o644,
                size,
            });
            doc.config.add(size);
        }
        // The other files the config names: carried when changed since the receipt (or
        // all, against a receipt that records none); one outside the folder cannot be.
        let recorded = sealed.facts.inputs.as_ref().map(|i| &i.config.path);
        let config_file = match (config, recorded) {
            (Some(c), _) => Some(c.to_path_buf()),
            (None, Some(p)) => Some(cdir.join(p)),
            (None, None) => None,
        };
        let had: BTreeMap<&str, &str> = (receipt.other_inputs.iter())
            .map(|a| (a.path.as_str(), a.sha256.as_str()))
            .collect();
        let known = receipt.receipt_version >= 3;
        let mut outside = Vec::new();
        let others = config_file.map_or_else(Vec::new, |f| super::inputs::other_inputs(&f));
        for (rel, from) in others {
            let sha256 =
                crate::hashing::sha256_file(&from).map_err(|e| DeltaError::io(&from, e))?;
            doc.other_inputs_sha256.insert(rel.clone(), sha256.clone());
            if known && had.get(rel.as_str()) == Some(&sha256.as_str()) {
                continue;
            }
            if seal::safe_relative(&rel).is_none() {
                if known {
                    outside.push(from.display().to_string());
                }
                continue;
            }
            let size = std::fs::metadata(&from)
                .map_err(|e| DeltaError::io(&from, e))?
                .len();
            plan.push(Carry {
                from,
                given: true,
                to: format!("config/{rel}"),
                sha256: Some(sha256),
                mode: 0o644,
                size,
            });
            doc.config.add(size);
            doc.other_inputs.push(rel);
        }
        if !outside.is_empty() {
            return Err(DeltaError::Uncarried {
                out: out.to_path_buf(),
                message: format!(
                    "{} changed since the receipt and cannot cross: outside the config's folder, which is all a delta carries of it; move it into the folder (and name it so in the config), or copy it to the far side by hand and make a new receipt there",
                    outside.join(", ")
                ),
            });
        }
        let lock_name = crate::oci::registry::lockfile::LOCK_FILE_NAME;
        if let Some(lock) = super::lock_sha256(cdir)?
            && receipt.lock_sha256.as_deref() != Some(lock.as_str())
        {
            let from = cdir.join(lock_name);
            let size = std::fs::metadata(&from)
                .map_err(|e| DeltaError::io(&from, e))?
                .len();
            plan.push(Carry {
                from,
                given: true,
                to: format!("config/{lock_name}"),
                sha256: Some(lock),
                mode: 0o644,
                size,
            });
            doc.config.add(size);
        }
    }
    doc.bytes = plan.iter().map(|c| c.size).sum();
    Ok((plan, doc, config_dir, sealed))
}

/// The config folder a delta carries the changed inputs and `seedforge.lock` of: the
/// folder of `config`, else the one beside `out` holding the config manifest.json records,
/// with the content it records. Without `config`, an output that records its config and
/// does not find it so beside itself (edited since the build, moved, or never there) is
/// refused: the delta would carry none of the folder's files, and the far side's rebuild
/// would lack them.
fn carried_config_dir(
    out: &Path,
    config: Option<&Path>,
    sealed: &super::Sealed,
) -> Result<Option<PathBuf>, DeltaError> {
    if let Some(dir) = config_dir(out, config, sealed) {
        return Ok(Some(dir));
    }
    // An output that records no config inputs (made before they were recorded).
    let Some(recorded) = sealed.facts.inputs.as_ref().map(|i| &i.config) else {
        return Ok(None);
    };
    let beside = crate::outpath::parent_as_given(out)
        .zip(seal::safe_relative(&recorded.path))
        .map(|(dir, rel)| dir.join(rel));
    let how = "build again from the config as it is now, then make the delta; or pass --config FILE naming the config";
    match beside {
        Some(file) => match crate::input::read_found(&file, crate::input::Kind::Config) {
            Ok(bytes) => Err(DeltaError::OutOfDate {
                out: out.to_path_buf(),
                message: format!(
                    "{} changed since this output was built (sha256 {}, manifest.json records {}): without --config, the delta would carry none of the config folder's changed inputs nor seedforge.lock; {how} it was built from",
                    file.display(),
                    crate::hashing::sha256_hex(&bytes),
                    recorded.sha256
                ),
            }),
            Err(e) => Err(DeltaError::Uncarried {
                out: out.to_path_buf(),
                message: format!(
                    "its config {} is not beside it ({}): without --config, the delta would carry none of the config folder's changed inputs nor seedforge.lock; pass --config FILE naming the config it was built from",
                    file.display(),
                    e.reason()
                ),
            }),
        },
        None => Err(DeltaError::Uncarried {
            out: out.to_path_buf(),
            message: format!(
                "manifest.json records its config as {}, which is not a path inside a folder beside the output: pass --config FILE naming the config it was built from",
                recorded.path
            ),
        }),
    }
}

/// The inputs of `inputs` (path relative to `config_dir`, the sha256 manifest.json
/// records) that are missing from `config_dir` or hold other content, in order.
pub(crate) fn changed_inputs(config_dir: &Path, inputs: &[(String, String)]) -> Vec<String> {
    (inputs.iter())
        .filter(|(path, sha)| {
            let file = config_dir.join(path);
            !crate::input::read(&file, crate::input::Kind::Config)
                .is_ok_and(|b| crate::hashing::sha256_hex(&b) == *sha)
        })
        .map(|(path, _)| path.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_files_are_those_the_far_side_writes_again() {
        for p in [
            "airgap/k3s-airgap-images-amd64.tar.zst",
            "iso/seed-n1.iso",
            "nodes/n1/user-data",
            "sbom/sbom.spdx.json",
            "registries.yaml",
            "registry/config.yml",
            "certs.d/docker.io/hosts.toml",
        ] {
            assert!(is_derived(p), "{p}");
        }
        for p in [
            "oci/index.json",
            "packages/tools.tar.gz",
            "charts/x-1.0.0.tgz",
            "files/bin/k3s",
            "pki/ca.crt",
            "manifests/a.yaml",
            "registries.yaml.bak",
            "sbom/provenance.sigstore.json",
            "keys/seal.pub",
        ] {
            assert!(!is_derived(p), "{p}");
        }
    }
}
