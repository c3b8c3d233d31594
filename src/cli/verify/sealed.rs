//! `verify`'s checks of a sealed output: its `SHA256SUMS` and registry certificate.

use crate::cli::common::{CliError, ExitCode, Global};
use seedforge::Error;
use seedforge::pipeline::seal::{CertCheck, SumsReport};
use seedforge::util::human_bytes;
use std::path::Path;

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
