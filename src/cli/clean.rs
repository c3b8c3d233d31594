//! `seedforge clean`, and the seal's parts of `build` and `verify` output.

use super::{CliError, ExitCode};
use super::{Global, print_json};
use clap::Args;
use seedforge::Error;
use seedforge::pipeline::clean::{CleanOptions, clean};
use seedforge::pipeline::run::BuildReport;
use seedforge::pipeline::seal::{CertCheck, SumsReport};
use seedforge::util::human_bytes;
use std::path::{Path, PathBuf};

#[derive(Debug, Args)]
pub(crate) struct CleanArgs {
    /// The build output directory (it must hold the manifest.json a build wrote).
    #[arg(value_name = "DIR")]
    dir: PathBuf,
    /// List what would be removed; remove nothing.
    #[arg(long)]
    dry_run: bool,
    /// Also remove pki/: the CA that installed nodes trust and the registry's key pair.
    /// Kept by default, since a new CA means new seeds for every node.
    #[arg(long)]
    remove_pki: bool,
}

pub(crate) fn clean_cmd(g: &Global, a: &CleanArgs) -> Result<ExitCode, CliError> {
    // Never while a build writes there. Without a manifest, clean refuses without
    // touching the folder, so the lock (a file) is taken only when there is one.
    // A lock file without a manifest is what a clean killed after its last removal
    // leaves; it is removed like any other time.
    let lock = if !a.dry_run
        && (a.dir.join(seedforge::pipeline::seal::MANIFEST).is_file()
            || a.dir
                .join(seedforge::pipeline::build_lock::LOCK_FILE_NAME)
                .is_file())
    {
        Some(super::lock_output(g, &a.dir, true)?)
    } else {
        None
    };
    let report = clean(
        &a.dir,
        CleanOptions {
            dry_run: a.dry_run,
            keep_pki: !a.remove_pki,
        },
    )?;
    if let Some(lock) = lock {
        // The lock file is seedforge's too; a build waiting on it locks a new one.
        let path = lock.path().to_path_buf();
        lock.remove()
            .map_err(|e| Error::Oci(seedforge::oci::OciError::io(&path, e)))?;
    }
    if g.json {
        print_json(&report);
        return Ok(ExitCode::Ok);
    }
    if g.quiet {
        return Ok(ExitCode::Ok);
    }
    let verb = if report.dry_run {
        "would remove"
    } else {
        "removed"
    };
    for f in report.files.iter().chain(&report.leftovers) {
        outln!("{verb}  {f}");
    }
    for d in &report.dirs {
        outln!("{verb}  {d}/");
    }
    for k in &report.kept {
        outln!("kept  {k}");
    }
    outln!(
        "{}: {verb} {} file(s) ({}), {} leftover(s), {} empty dir(s); everything else is untouched",
        report.output.display(),
        report.files.len(),
        human_bytes(report.bytes),
        report.leftovers.len(),
        report.dirs.len()
    );
    Ok(ExitCode::Ok)
}

/// The build's closing lines for `files:`, the seal and the export.
pub(crate) fn print_build(report: &BuildReport) {
    for f in &report.files {
        outln!(
            "{}  {}, sha256:{} ({} from {})",
            f.path.display(),
            human_bytes(f.size),
            f.sha256,
            f.outcome,
            f.source
        );
    }
    if let Some(s) = &report.seal {
        outln!(
            "sealed {}  {} artifact(s), {} in all ({} hashed now, the rest by earlier steps); {}",
            s.sums.display(),
            s.artifacts,
            human_bytes(s.bytes),
            s.hashed,
            s.manifest.display()
        );
        let carry: Vec<&str> = (s.media.iter())
            .filter(|m| m.change != "unchanged")
            .map(|m| m.path.as_str())
            .collect();
        if !carry.is_empty() {
            outln!(
                "media to carry to the nodes: {} (new or changed; {} unchanged)",
                carry.join(", "),
                s.media.len() - carry.len()
            );
        }
        if let Some(saved) = s.shared_payload_would_save {
            outln!(
                "note: every seed carries the same payload; seeds: {{payload: shared}} would carry it once, {} less",
                human_bytes(saved)
            );
        }
    }
    if let Some(e) = &report.export {
        for f in &e.files {
            if f.parts.is_empty() {
                outln!(
                    "exported {}  {} ({})",
                    f.path.display(),
                    human_bytes(f.size),
                    f.outcome
                );
            } else {
                outln!(
                    "exported {}  {} in {} parts, {} to {} ({}); join.sh joins them",
                    f.path.display(),
                    human_bytes(f.size),
                    f.parts.len(),
                    f.parts
                        .first()
                        .map(|p| p.path.display().to_string())
                        .unwrap_or_default(),
                    f.parts
                        .last()
                        .map(|p| p.path.display().to_string())
                        .unwrap_or_default(),
                    f.outcome
                );
            }
        }
    }
}

/// What [`verify_sealed`] found: the sums, the certificate check and the verdict.
pub(crate) type Sealed = (SumsReport, Option<CertCheck>, Result<ExitCode, CliError>);

/// `verify`'s checks of a sealed output: `SHA256SUMS` re-hashed and the registry
/// certificate re-checked against `manifest.json`. `None` when `dir` has no SHA256SUMS.
/// A file's sha256 from `known` where it has one is taken rather than computed again.
pub(crate) fn verify_sealed(
    g: &Global,
    dir: &Path,
    known: &dyn Fn(&Path, &str) -> Option<String>,
) -> Result<Option<Sealed>, Error> {
    // Anything at SHA256SUMS (a FIFO, a folder) makes the output a sealed one whose seal
    // is then refused, rather than an unsealed one that passes.
    if std::fs::symlink_metadata(dir.join(seedforge::pipeline::seal::SUMS)).is_err() {
        return Ok(None);
    }
    let sums = seedforge::pipeline::seal::verify_sums_with(dir, known)?;
    let cert = match seedforge::pipeline::seal::check_certificate(dir) {
        Ok(c) => c,
        Err(e) => Some(CertCheck {
            certificate: dir.join("pki").join("registry.crt"),
            hosts: Vec::new(),
            problems: vec![e.to_string()],
        }),
    };
    for p in &sums.problems {
        let what = match p.problem {
            "missing" => format!("missing ({})", p.actual),
            "differs" => format!(
                "content differs: sha256 {}, SHA256SUMS says {}",
                p.actual, p.expected
            ),
            "malformed" => format!("malformed line {:?}", p.actual),
            _ => format!("{}: {}", p.problem, p.actual),
        };
        errln!("BAD  {}: {what}", p.path);
    }
    if let Some(c) = &cert {
        for p in &c.problems {
            errln!("BAD  {}: {p}", c.certificate.display());
        }
    }
    if !g.json && (!g.quiet || !sums.problems.is_empty()) {
        outln!(
            "verify {}: {} file(s), {} re-hashed, {} problem(s)",
            sums.file.display(),
            sums.entries,
            human_bytes(sums.bytes),
            sums.problems.len()
        );
        if let Some(c) = &cert {
            outln!(
                "verify {}: covers {}; {} problem(s)",
                c.certificate.display(),
                c.hosts.join(", "),
                c.problems.len()
            );
        }
    }
    let mut failures: Vec<String> = Vec::new();
    if !sums.problems.is_empty() {
        failures.push(format!(
            "{}: {} file(s) missing or changed: {}",
            sums.file.display(),
            sums.problems.len(),
            sums.problems
                .iter()
                .map(|p| p.path.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if let Some(c) = &cert
        && !c.problems.is_empty()
    {
        failures.push(format!(
            "{}: {}",
            c.certificate.display(),
            c.problems.join("; ")
        ));
    }
    let result = if failures.is_empty() {
        Ok(ExitCode::Ok)
    } else {
        Err(Error::VerifyFailed(failures.join("; ")).into())
    };
    Ok(Some((sums, cert, result)))
}
