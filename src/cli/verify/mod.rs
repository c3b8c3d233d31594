//! `seedforge verify`: a build output, layout, export folder, delta or ISO, with its
//! signature when `--key` is given.

mod iso;
mod parity;
mod sealed;
mod statement;
mod unsealed;

use super::common::print::print_verify;
use super::common::{
    CliError, ExitCode, Global, Kind, document, json_report, layout_dir, print_json, progress,
    read_lock_output,
};
use clap::Args;
use seedforge::Error;
use seedforge::oci::Layout;
use seedforge::oci::stamps::BlobStamps;
use seedforge::oci::verify::VerifyReport;
use seedforge::redact::inert;
use std::path::{Path, PathBuf};

#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    /// The build output, OCI layout, export folder or .iso image.
    #[arg(value_name = "DIR")]
    pub(crate) dir: PathBuf,
    /// A public key (PEM: cosign.pub) the output's signature must verify with (repeat for
    /// several): manifest.json.sigstore.json over manifest.json, SHA256SUMS matching the
    /// signed manifest file for file, the provenance's signature; on an export folder or a
    /// lone ISO, the manifest.json and bundle beside it and each ISO's SHA-256 in it.
    #[arg(long, value_name = "FILE")]
    pub(crate) key: Vec<PathBuf>,
    /// An export folder or delta with PAR 2.0 recovery files (export.par2, delta.par2):
    /// rebuild the files found lost or damaged, each checked against SHA256SUMS before it
    /// takes its name; nothing else is written. A loss beyond the recovery data is exit 1
    /// with nothing written.
    #[arg(long)]
    pub(crate) repair: bool,
    /// Fail at once (exit 75) if a build is writing to DIR, instead of waiting for it
    /// (DIR is read under its build lock, shared: other readers do not wait).
    #[arg(long)]
    pub(crate) no_wait: bool,
}

/// `seedforge verify [--repair] [--key KEY] DIR`.
pub(crate) fn run(g: &Global, a: &VerifyArgs) -> Result<ExitCode, CliError> {
    let keys = read_keys(&a.key)?;
    // A build output is read as a build left it, never while one writes it.
    let _lock = if a.dir.is_dir() {
        read_lock_output(g, &a.dir, !a.no_wait)?
    } else {
        None
    };
    let mut recovery = parity::Parity::Sound;
    if !iso::is_image(&a.dir) {
        recovery = parity::check_or_repair(g, &a.dir, a.repair, &keys)?;
    } else if a.repair {
        return Err(CliError::Usage(format!(
            "--repair: {} is an ISO; --repair takes an export folder or delta with recovery files",
            a.dir.display()
        )));
    }
    let result = verify_cmd(g, &a.dir, &keys);
    if matches!(recovery, parity::Parity::Repairable(_))
        && a.dir.join(seedforge::delta::carry::DELTA_JSON).is_file()
        && let Err(CliError::Lib(Error::Delta(e))) = &result
        && let seedforge::delta::DeltaError::Damaged { path, .. } = &**e
    {
        // What the delta's own check found is what the recovery files rebuild: the
        // way on is a repair, not another crossing.
        return Err(Error::VerifyFailed(format!(
            "{}: lost or damaged, and the delta's recovery files rebuild it: seedforge verify --repair {} rebuilds it in the folder, or seedforge apply rebuilds it in a staging copy (the delta folder is not written)",
            path.display(),
            a.dir.display()
        ))
        .into());
    }
    // A file the recovery set finds lost or damaged fails the verify, though the folder's
    // other checks pass (a file SHA256SUMS does not list).
    match (result, recovery) {
        (Ok(_), parity::Parity::Repairable(lost) | parity::Parity::Beyond(lost)) => {
            Err(Error::VerifyFailed(lost).into())
        }
        (result, _) => result,
    }
}

/// The public keys of `--key`, each with its name as given.
pub(crate) fn read_keys(
    paths: &[PathBuf],
) -> Result<Vec<(String, seedforge::trust::keys::PublicKey)>, CliError> {
    paths
        .iter()
        .map(|p| {
            seedforge::trust::keys::PublicKey::read(p)
                .map(|k| (p.display().to_string(), k))
                .map_err(|e| CliError::Usage(format!("--key {}: {e}", p.display())))
        })
        .collect()
}

/// With `--key`: the signature of the output at `dir` (a sealed output: the bundle beside
/// manifest.json, SHA256SUMS against the signed manifest), or of the ISOs `isos` (the
/// manifest.json and bundle beside them, each ISO's SHA-256 in it). Returns what the
/// JSON document says of it (`signature`): verified, with the key and its id; or, without
/// `--key`, that it was not checked, and whether the output holds a signature.
pub(crate) fn check_signature(
    g: &Global,
    dir: &Path,
    isos: &[PathBuf],
    keys: &[(String, seedforge::trust::keys::PublicKey)],
) -> Result<serde_json::Value, CliError> {
    if keys.is_empty() {
        let (doc, signed) = unchecked_signature(dir);
        if !g.json && !g.quiet {
            if signed {
                outln!(
                    "signature: not checked ({} is signed; seedforge verify --key KEY.pub checks the signature)",
                    dir.display()
                );
            } else {
                outln!(
                    "signature: not checked (no --key), and {} is not signed",
                    dir.display()
                );
            }
        }
        return Ok(doc);
    }
    let check = if isos.is_empty() && is_export_folder(dir) {
        seedforge::pipeline::seal::verify_signed_hashes(dir, &export_isos(dir)?, keys)
    } else if isos.is_empty() {
        seedforge::pipeline::seal::verify_signature(dir, keys)
    } else {
        seedforge::pipeline::seal::verify_signed_isos(dir, isos, keys)
    }
    .map_err(Error::from)?;
    if !g.json && !g.quiet {
        outln!(
            "signature {}: verified with {} (key id {}; {} file(s) bound to it{})",
            check.bundle.display(),
            check.key,
            check.key_id,
            check.files,
            if check.provenance {
                ", provenance signed"
            } else {
                ""
            }
        );
    }
    Ok(serde_json::json!({
        "checked": true,
        "verified": true,
        "signed": true,
        "key_id": check.key_id,
        "key": check.key,
        "bundle": check.bundle,
        "files": check.files,
        "provenance": check.provenance,
    }))
}

/// What the JSON document says of a signature not checked (no `--key`): whether `dir`
/// holds one (the bundle beside manifest.json); printed by nobody here.
pub(crate) fn unchecked_signature(dir: &Path) -> (serde_json::Value, bool) {
    let signed =
        std::fs::symlink_metadata(dir.join(seedforge::pipeline::seal::MANIFEST_BUNDLE)).is_ok();
    let doc = serde_json::json!({
        "checked": false,
        "verified": false,
        "signed": signed,
        "key_id": null,
    });
    (doc, signed)
}

/// An export folder (`export_dir:`) with a signed output's seal: `manifest.json` and its
/// bundle beside the ISOs, and no `iso/` or `oci/` of a build output.
pub(crate) fn is_export_folder(dir: &Path) -> bool {
    use seedforge::pipeline::seal::{MANIFEST, MANIFEST_BUNDLE};
    dir.join(MANIFEST).is_file()
        && dir.join(MANIFEST_BUNDLE).is_file()
        && !dir.join("iso").exists()
        && !dir.join("oci").exists()
}

/// The ISOs of an export folder with their SHA-256: each whole `*.iso` hashed, each ISO in
/// parts as `SHA256SUMS.wholes` records it (its parts are checked against that by
/// [`seedforge::pipeline::split::verify_wholes`]). At least one, else the folder is not
/// an export.
pub(crate) fn export_isos(dir: &Path) -> Result<Vec<(PathBuf, String)>, CliError> {
    let whole = iso::images_at(dir)?;
    let hashes = seedforge::pipeline::seal::hash_many(&whole).map_err(Error::from)?;
    let mut found: Vec<(PathBuf, String)> = whole.into_iter().zip(hashes).collect();
    let wholes = dir.join(seedforge::pipeline::split::WHOLES);
    if std::fs::symlink_metadata(&wholes).is_ok() {
        let text = seedforge::input::read_found_to_string(&wholes, seedforge::input::Kind::Sums)
            .map_err(|e| Error::from(seedforge::pipeline::seal::SealError::Input(e)))?;
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            if let Some((sha, name)) = seedforge::pipeline::seal::sums_line(line) {
                found.push((dir.join(name), sha.to_string()));
            }
        }
    }
    if found.is_empty() {
        return Err(CliError::Usage(format!(
            "--key: {} holds a signed manifest.json but no ISO (whole or in parts) to check against it",
            dir.display()
        )));
    }
    Ok(found)
}

pub(crate) fn verify_cmd(
    g: &Global,
    dir: &Path,
    keys: &[(String, seedforge::trust::keys::PublicKey)],
) -> Result<ExitCode, CliError> {
    for warning in seedforge::pki::expiry_warnings(dir, seedforge::pki::now())? {
        document::warn(g, &warning);
    }
    if iso::is_image(dir) {
        // The signed manifest.json beside the ISO (an export folder), or in the output
        // whose iso/ holds it.
        let beside = dir
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let signed = [beside, beside.parent().unwrap_or(beside)]
            .into_iter()
            .find(|d| d.join(seedforge::pipeline::seal::MANIFEST_BUNDLE).exists())
            .unwrap_or(beside);
        let signature = if keys.is_empty() {
            unchecked_signature(signed).0
        } else {
            check_signature(g, signed, &[dir.to_path_buf()], keys)?
        };
        return iso::verify_images(g, &[dir.to_path_buf()], signature);
    }
    if dir.join(seedforge::delta::carry::DELTA_JSON).is_file() {
        return verify_delta(g, dir, keys);
    }
    // With a key, a sealed output or an export folder is a signed medium: its signed
    // statement first, and every file there against it, before anything else is read.
    let sealed_output = std::fs::symlink_metadata(dir.join(seedforge::pipeline::seal::SUMS))
        .is_ok()
        && !is_export_folder(dir);
    if !keys.is_empty() && (sealed_output || is_export_folder(dir)) {
        statement::check(g, dir, !sealed_output, keys)?;
    }
    // An export folder with ISOs in parts: each whole is hashed over its parts first, and
    // the parts' own digests, taken on the way, spare SHA256SUMS a second read of them.
    let wholes = if std::fs::symlink_metadata(dir.join(seedforge::pipeline::seal::SUMS)).is_ok() {
        seedforge::pipeline::split::verify_wholes(dir)
    } else {
        Ok(None)
    };
    let known = |p: &Path, _: &str| {
        (wholes.as_ref().ok().and_then(Option::as_ref)).and_then(|w| w.part_sha256.get(p).cloned())
    };
    if let Some(sealed) = sealed::verify_sealed(g, dir, &known)? {
        let signature = check_signature(g, dir, &[], keys)?;
        return verify_sealed_output(g, dir, sealed, wholes, signature);
    }
    // An export folder of whole ISOs (no SHA256SUMS): each checked against the signed
    // manifest.json beside them (with --key), then read as an ISO.
    if is_export_folder(dir) || (keys.is_empty() && iso::is_unsigned_export(dir)?) {
        let isos = iso::images_at(dir)?;
        let signature = check_signature(g, dir, &[], keys)?;
        return iso::verify_images(g, &isos, signature);
    }
    if let Some(missing) = unsealed_build_output(dir) {
        return verify_unsealed_output(g, dir, &missing);
    }
    if !keys.is_empty() {
        return Err(CliError::Usage(format!(
            "--key: {} is not a sealed build output (no SHA256SUMS) or an ISO",
            dir.display()
        )));
    }
    let images = iso::images_in(dir)?;
    if images.is_empty() {
        return verify_layout(g, dir);
    }
    if !layout_dir(dir).exists() {
        return iso::verify_images(g, &images, unchecked_signature(dir).0);
    }
    // One JSON document: the layout's report with the seed ISOs' checks under "iso".
    let (report, layout) = layout_report(g, dir)?;
    let (checks, isos) = iso::check_images(g, &images);
    let mut doc = serde_json::to_value(&report).unwrap_or_default();
    doc["iso"] = serde_json::to_value(&checks).unwrap_or_default();
    let result = layout.and(isos);
    json_report::print_report(g, Kind::Verify, doc, &result);
    result
}

/// The seal's files missing from `dir` when it is a seedforge build output (its build
/// state, `.seedforge/state.json`, is there) that holds no `SHA256SUMS`: a first build
/// killed or out of space before it sealed. None for anything else.
fn unsealed_build_output(dir: &Path) -> Option<Vec<&'static str>> {
    use seedforge::pipeline::{seal, state};
    let state = dir.join(state::STATE_DIR).join(state::STATE_FILE);
    if !state.is_file() || std::fs::symlink_metadata(dir.join(seal::SUMS)).is_ok() {
        return None;
    }
    Some(
        [seal::SUMS, seal::MANIFEST]
            .into_iter()
            .filter(|f| std::fs::symlink_metadata(dir.join(f)).is_err())
            .collect(),
    )
}

/// A build output with no seal: what is there is checked as usual (the layout, the seed
/// ISOs), and the verdict is a failure (exit 1) naming what is missing, `"sealed": false`
/// in the JSON document: nothing vouches for such an output, and a job gating publication
/// on `verify` must not publish it.
fn verify_unsealed_output(g: &Global, dir: &Path, missing: &[&str]) -> Result<ExitCode, CliError> {
    let (mut doc, failures) = layout_and_isos(g, dir)?;
    doc["sealed"] = serde_json::Value::Bool(false);
    doc["missing"] = serde_json::to_value(missing).unwrap_or_default();
    let unsealed = Error::VerifyFailed(format!(
        "{}: a build output with no seal ({} missing): a build that did not finish; \
         `seedforge build` finishes it, `seedforge clean` removes what it wrote",
        dir.display(),
        missing.join(" and ")
    ));
    let result = Err(if failures.is_empty() {
        unsealed.into()
    } else {
        let found: Vec<String> = failures.iter().map(ToString::to_string).collect();
        Error::VerifyFailed(format!("{unsealed}; {}", found.join("; "))).into()
    });
    json_report::print_report(g, Kind::Verify, doc, &result);
    result
}

/// What a build output's layout and seed ISOs say, sealed or not: the layout's report as
/// the document (with the ISOs' checks under `iso`), and the failures found.
fn layout_and_isos(g: &Global, dir: &Path) -> Result<(serde_json::Value, Vec<CliError>), CliError> {
    let mut failures = Vec::new();
    let mut doc = serde_json::json!({});
    if layout_dir(dir).exists() {
        let (report, result) = layout_report(g, dir)?;
        doc = serde_json::to_value(&report).unwrap_or_default();
        failures.extend(result.err());
    }
    let images = iso::images_in(dir).unwrap_or_else(|e| {
        failures.push(e.into());
        Vec::new()
    });
    if !images.is_empty() {
        let (checks, result) = iso::check_images(g, &images);
        doc["iso"] = serde_json::to_value(&checks).unwrap_or_default();
        failures.extend(result.err());
    }
    Ok((doc, failures))
}

/// A sealed build output: the layout, the seed ISOs, SHA256SUMS and the registry
/// certificate, in one JSON document.
pub(crate) fn verify_sealed_output(
    g: &Global,
    dir: &Path,
    (sums, cert, sums_result): sealed::Sealed,
    wholes: Result<
        Option<seedforge::pipeline::split::WholesReport>,
        seedforge::pipeline::seal::SealError,
    >,
    signature: serde_json::Value,
) -> Result<ExitCode, CliError> {
    let (mut doc, mut failures) = layout_and_isos(g, dir)?;
    doc["signature"] = signature;
    match seedforge::pipeline::seal::recheck_image_signatures(dir) {
        Ok(Some(recheck)) => {
            for (image, why) in &recheck.failed {
                errln!(
                    "BAD  {image}: its signatures no longer verify with the recorded keys or identities: {why}"
                );
            }
            if !g.json && !g.quiet {
                outln!(
                    "signatures {}: {} image(s) with a signature verifying with the recorded keys or identities, {} problem(s)",
                    dir.join("oci").display(),
                    recheck.verified.len(),
                    recheck.failed.len()
                );
                for (image, signers) in &recheck.identities {
                    outln!("  {image}: signed keyless by {}", signers.join(", "));
                }
            }
            if !recheck.failed.is_empty() {
                failures.push(
                    Error::VerifyFailed(format!(
                        "{} image(s) whose carried signatures do not verify: {}",
                        recheck.failed.len(),
                        recheck
                            .failed
                            .iter()
                            .map(|(i, _)| i.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                    .into(),
                );
            }
            doc["signatures"] = serde_json::to_value(&recheck).unwrap_or_default();
        }
        Ok(None) => {}
        Err(e) => failures.push(Error::from(e).into()),
    }
    doc["sealed"] = serde_json::Value::Bool(true);
    doc["sums"] = serde_json::to_value(&sums).unwrap_or_default();
    doc["registry_certificate"] = serde_json::to_value(&cert).unwrap_or_default();
    failures.extend(sums_result.err());
    // A build output (an export in parts holds other files by design): links and
    // unlisted files.
    if matches!(wholes, Ok(None)) {
        failures.extend(unsealed::check(g, dir, &mut doc).err());
    }
    match wholes {
        Ok(Some(wholes)) => {
            doc["wholes"] = serde_json::to_value(&wholes).unwrap_or_default();
            failures.extend(wholes_result(g, &wholes).err());
        }
        Ok(None) => {}
        Err(e) => failures.push(Error::from(e).into()),
    }
    let result = match failures.len() {
        0 => Ok(ExitCode::Ok),
        1 => Err(failures.remove(0)),
        _ => Err(Error::VerifyFailed(
            failures
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; "),
        )
        .into()),
    };
    json_report::print_report(g, Kind::Verify, doc, &result);
    result
}

/// Prints what [`seedforge::pipeline::split::verify_wholes`] found; fails naming every
/// file whose parts do not join to its recorded sha256.
pub(crate) fn wholes_result(
    g: &Global,
    wholes: &seedforge::pipeline::split::WholesReport,
) -> Result<ExitCode, CliError> {
    let failed: Vec<_> = wholes.failed().collect();
    for w in &failed {
        errln!(
            "BAD  {}: {}",
            w.name,
            w.problem.as_deref().unwrap_or_default()
        );
    }
    if !g.json && (!g.quiet || !failed.is_empty()) {
        outln!(
            "verify {}: {} file(s) in parts, {} joined and hashed, {} problem(s)",
            wholes.file.display(),
            wholes.wholes.len(),
            seedforge::util::human_bytes(wholes.wholes.iter().map(|w| w.bytes).sum()),
            failed.len()
        );
    }
    if failed.is_empty() {
        return Ok(ExitCode::Ok);
    }
    Err(Error::VerifyFailed(format!(
        "{}: {} file(s) do not join to their sha256: {}",
        wholes.file.display(),
        failed.len(),
        failed
            .iter()
            .map(|w| w.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    ))
    .into())
}

pub(crate) fn verify_layout(g: &Global, dir: &Path) -> Result<ExitCode, CliError> {
    let (report, result) = layout_report(g, dir)?;
    json_report::print_report(
        g,
        Kind::Verify,
        serde_json::to_value(&report).unwrap_or_default(),
        &result,
    );
    result
}

/// Verifies the layout, printing text unless `--json`; the caller prints the JSON.
pub(crate) fn layout_report(
    g: &Global,
    dir: &Path,
) -> Result<(VerifyReport, Result<ExitCode, CliError>), Error> {
    let layout = Layout::open(&layout_dir(dir))?;
    let reporter = progress::CliReporter::new(g, 0);
    seedforge::Reporter::step_started(&reporter, "verify");
    // Every blob is re-hashed; those found right get fresh stamps for `airgap`.
    let stamps = BlobStamps::recording(&layout);
    let report = seedforge::oci::verify::verify_with(&layout, &reporter, Some(&stamps));
    reporter.finish();
    let report = report?;
    if let Err(e) = stamps.save() {
        tracing::warn!(
            "cannot save the blob stamps of {}: {e}",
            layout.root().display()
        );
    }
    if !g.json && (!g.quiet || !report.is_sound()) {
        print_verify(&report);
    }
    let result = if report.is_sound() {
        Ok(ExitCode::Ok)
    } else {
        Err(Error::VerifyFailed(format!(
            "{}: {} blob problem(s)",
            layout.root().display(),
            report.problems.len()
        ))
        .into())
    };
    Ok((report, result))
}

/// `seedforge verify [--key PUB] DELTA`: a delta folder checked as `apply` checks it before
/// it touches an output: with a key, its signature over the new manifest.json and every
/// file bound to it; every file against the delta's own SHA256SUMS.
pub(crate) fn verify_delta(
    g: &Global,
    dir: &Path,
    keys: &[(String, seedforge::trust::keys::PublicKey)],
) -> Result<ExitCode, CliError> {
    let check = seedforge::delta::apply::verify(dir, keys)?;
    if g.json {
        // Checked (a signature that does not verify is refused before this): verified,
        // with its key id; without --key, said not checked.
        let mut doc = serde_json::to_value(&check).unwrap_or_default();
        doc["signature"] = match &check.signature {
            Some(s) => {
                let mut v = serde_json::to_value(s).unwrap_or_default();
                v["checked"] = true.into();
                v["verified"] = s.signed.into();
                v
            }
            None => serde_json::json!({
                "checked": false,
                "verified": false,
                "signed": std::fs::symlink_metadata(
                    dir.join("out").join(seedforge::pipeline::seal::MANIFEST_BUNDLE)
                )
                .is_ok(),
                "key_id": null,
            }),
        };
        print_json(g, Kind::VerifyDelta, &doc);
        return Ok(ExitCode::Ok);
    }
    if !g.quiet {
        let signed = match &check.signature {
            Some(s) if s.signed => format!(
                "signed, verified with {} (key id {})",
                s.key.as_deref().unwrap_or_default(),
                s.key_id.as_deref().unwrap_or_default()
            ),
            Some(_) => "not signed".into(),
            None => "signature not checked (no --key)".into(),
        };
        outln!(
            "verify {}: a delta, {} file(s) ({} blob(s)) match its SHA256SUMS and the new seal; {signed}",
            dir.display(),
            check.files,
            check.blobs
        );
        // What the delta is for and changes, as its delta.json says: signed with the
        // output's key, or not (apply computes the changes itself either way).
        let r = &check.record;
        let trust = match &check.signature {
            Some(s) if s.record_signed && s.statement.is_some() => {
                "delta.json signed with the same key, and every file on the medium is one its signed statement.json lists"
            }
            Some(s) if s.record_signed => "delta.json signed with the same key",
            Some(s) if s.signed => {
                "delta.json NOT signed (made without the private key): apply checks its changes against the content"
            }
            _ => "delta.json not checked against a key",
        };
        outln!(
            "   for cluster {} (the far side's receipt: cluster {}, {}), k3s {}; {trust}",
            inert(r.cluster.as_deref().unwrap_or("unnamed")),
            inert(r.base_cluster.as_deref().unwrap_or("not named")),
            r.base_receipt,
            r.k3s_version.as_deref().unwrap_or("not recorded"),
        );
        if let Some(m) = &r.made_by {
            outln!("   made by: {}", inert(&made_by_text(m)));
        }
        if let Some(b) = &r.base {
            for line in base_lines(b) {
                outln!("   {}", inert(&line));
            }
        }
        if let Some(why) = &r.reason {
            outln!("   why: {}", inert(why));
        }
        if let Some(w) = &r.why {
            print_why(w);
        }
        match &r.changes {
            Some(c) if !c.lines().is_empty() => {
                for line in c.lines() {
                    outln!("   changes {}", inert(&line));
                }
            }
            Some(_) => outln!("   changes nothing by name"),
            None => outln!("   changes: not recorded"),
        }
        if let Some(s) = check
            .signature
            .as_ref()
            .filter(|s| !s.bound_by_rebuild.is_empty())
        {
            outln!(
                "   not recorded in the signed manifest, checked by apply's rebuild (its output must be the signed one): {}",
                s.bound_by_rebuild.join(", ")
            );
        }
    }
    Ok(ExitCode::Ok)
}

/// Who made a delta, in words: the config's digest, and its folder's commit.
fn made_by_text(m: &seedforge::delta::record::MadeBy) -> String {
    let config = match &m.config_sha256 {
        Some(sha) => format!("the config sha256 {sha}"),
        None => "a config not recorded".into(),
    };
    let git = match &m.git {
        Some(g) => format!(
            "git commit {}{}",
            g.commit,
            match g.dirty {
                Some(true) => " with changes not committed (dirty)",
                Some(false) => ", clean",
                None => " (read from .git: whether it was dirty is not known)",
            }
        ),
        None => "not a git checkout (or no config folder known)".into(),
    };
    format!("{config}; {git}")
}

/// The base beyond its digest, a line each: the receipt's time, what the far side last
/// applied, each reason the receipt was stale.
fn base_lines(b: &seedforge::delta::record::Base) -> Vec<String> {
    use seedforge::delta::record::date;
    let mut lines = vec![format!(
        "base: the receipt written {}; the far side last applied {}",
        b.receipt_written_at
            .map_or_else(|| "at a time not recorded (an older receipt)".into(), date),
        match &b.last_applied {
            Some(a) => format!(
                "the delta whose delta.json hashes to {} ({}, made against {})",
                a.delta_sha256,
                date(a.applied_at),
                a.base_receipt
            ),
            None => "no delta: its output came whole".into(),
        }
    )];
    lines.extend(b.stale.iter().map(|s| format!("STALE: {s}")));
    lines
}

/// The config inputs' diff since the far side's, secrets masked.
fn print_why(w: &seedforge::delta::why::Why) {
    if w.files.is_empty() {
        outln!("   config since the far side's: no input changed");
    }
    for f in &w.files {
        let counts = match (f.added, f.removed) {
            (Some(a), Some(r)) => format!(", +{a} -{r}"),
            _ => String::new(),
        };
        outln!(
            "   config since the far side's: {} {}{counts}{}",
            inert(&f.path),
            inert(&f.change),
            f.note
                .as_deref()
                .map(|n| format!(" ({})", inert(n)))
                .unwrap_or_default()
        );
        for l in &f.lines {
            outln!("      {}{:>5}  {}", inert(&l.op), l.line, inert(&l.text));
        }
        if f.more > 0 {
            outln!("      … {} more line(s)", f.more);
        }
    }
    if let Some(n) = &w.note {
        outln!("   {}", inert(n));
    }
}
