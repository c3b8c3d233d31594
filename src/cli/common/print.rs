//! The report lines more than one command prints: the images a mirror wrote (`mirror`,
//! `build`), a layout's verification (`verify`, `build`) and what the PKI step did (`pki`,
//! `build`).

use seedforge::oci::verify::VerifyReport;
use seedforge::pipeline::run::MirroredImageReport;
use seedforge::pki::{self, Outcome};

pub(crate) fn print_images(images: &[MirroredImageReport]) {
    for i in images {
        let platforms = if i.platforms.is_empty() {
            String::new()
        } else {
            format!(" [{}]", i.platforms.join(", "))
        };
        let mut extra = String::new();
        if !i.attached.is_empty() {
            extra.push_str(&format!(
                " +{} signature/attestation/SBOM/referrer artifact(s)",
                i.attached.len()
            ));
        }
        if let Some(v) = i.verified.first() {
            extra.push_str(&format!(", signature verified with {}", v.key));
        }
        outln!("{}  {}{platforms}{extra}", i.destination, i.digest);
    }
}

pub(crate) fn print_verify(report: &VerifyReport) {
    for f in &report.problems {
        let what = match &f.problem {
            seedforge::oci::verify::BlobProblem::Missing => "missing".to_string(),
            seedforge::oci::verify::BlobProblem::SizeMismatch { expected, actual } => {
                format!("size {actual}, expected {expected}")
            }
            seedforge::oci::verify::BlobProblem::DigestMismatch { actual } => {
                format!("content hashes to {actual}")
            }
            seedforge::oci::verify::BlobProblem::Unreadable { error } => {
                format!("unreadable: {error}")
            }
            seedforge::oci::verify::BlobProblem::BadDocument { error } => {
                format!("not a valid manifest: {error}")
            }
        };
        errln!(
            "BAD  blob {} ({}): {what}; used by {}",
            f.digest,
            f.path.display(),
            f.images.join(", ")
        );
    }
    for s in &report.strays {
        errln!(
            "stray  {} (not referenced; `seedforge gc` removes it)",
            s.display()
        );
    }
    if let Some(why) = &report.strays_unknown {
        errln!("note  strays not checked: {why}");
    }
    for s in &report.stale_temp {
        errln!(
            "stale  {} (left by an interrupted run; `seedforge gc` removes it)",
            s.display()
        );
    }
    outln!(
        "verify {}: {} image(s), {} blob(s), {} checked, {} problem(s), {} stray(s)",
        report.layout.display(),
        report.images.len(),
        report.blobs_checked,
        seedforge::util::human_bytes(report.bytes_checked),
        report.problems.len(),
        report.strays.len()
    );
}

/// What a build's PKI step did, in one line (`seedforge pki` prints every file).
pub(crate) fn print_pki_summary(report: &pki::PkiReport) {
    let Some(dir) = &report.dir else { return };
    let sans = report
        .registry_cert
        .as_ref()
        .map(|info| {
            let sans: Vec<String> = info.sans.iter().map(ToString::to_string).collect();
            format!(" (SANs {})", sans.join(", "))
        })
        .unwrap_or_default();
    let mut changed = format!("{} file(s) written", report.written.len());
    if !report.removed.is_empty() {
        changed.push_str(&format!(", {} removed", report.removed.len()));
    }
    outln!(
        "{}  CA {}, certificate {}{sans}; {changed}",
        dir.display(),
        outcome(report.ca.as_ref()),
        outcome(report.certificate.as_ref()),
    );
}

pub(crate) fn outcome(o: Option<&Outcome>) -> String {
    match o {
        None => "-".into(),
        Some(Outcome::Kept) => "kept".into(),
        Some(Outcome::Imported) => "imported".into(),
        Some(Outcome::Created) => "created".into(),
        Some(Outcome::Reissued(why)) => format!("reissued: {why}"),
    }
}
