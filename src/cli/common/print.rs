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
        "verify {}: {} image(s), {}, {} problem(s), {} stray(s)",
        report.layout.display(),
        report.images.len(),
        blobs_line(report),
        report.problems.len(),
        report.strays.len()
    );
}

/// How many blobs a verify checked and how many of them it re-hashed: every blob
/// reachable is checked, those unchanged since they last hashed right are not read again.
fn blobs_line(report: &VerifyReport) -> String {
    let (hashed, all) = (report.blobs_hashed, report.blobs_checked);
    let bytes = seedforge::util::human_bytes(report.bytes_checked);
    if hashed >= all {
        format!("{all} blob(s) re-hashed ({bytes})")
    } else if hashed == 0 {
        format!("{all} blob(s), none re-hashed: each unchanged since it was last hashed")
    } else {
        format!(
            "{hashed} of {all} blob(s) re-hashed ({bytes}), the rest unchanged since they were last hashed"
        )
    }
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
    if let Some(ca) = &report.changes.ca {
        outln!(
            "registry CA rotated: {} -> {}; the seeds carry pki/ca-bundle.crt (both CAs) until the next build drops the old one",
            ca.old,
            ca.new
        );
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_verify_says_how_many_blobs_it_re_hashed_of_how_many() {
        let report = |hashed, all, bytes| VerifyReport {
            blobs_checked: all,
            blobs_hashed: hashed,
            bytes_checked: bytes,
            ..VerifyReport::default()
        };
        assert_eq!(
            blobs_line(&report(39, 120, 407_142)),
            "39 of 120 blob(s) re-hashed (397.6 KiB), the rest unchanged since they were last hashed"
        );
        assert_eq!(
            blobs_line(&report(120, 120, 407_142)),
            "120 blob(s) re-hashed (397.6 KiB)"
        );
        assert_eq!(
            blobs_line(&report(0, 120, 0)),
            "120 blob(s), none re-hashed: each unchanged since it was last hashed"
        );
    }
}
