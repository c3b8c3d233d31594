//! What a mirror run tells: each image's outcome and the run's totals.

use super::attachments::StoredAttachment;
use super::options::MirrorOptions;
use super::policy;
use crate::image::ListEntry;
use crate::oci::copy::CopyOutcome;
use crate::oci::{OciError, Result};
use crate::util::human_bytes;
use std::time::Instant;

/// The result for one image.
#[derive(Debug, Clone)]
pub struct MirroredImage {
    /// The destination reference (its name in `index.json`).
    pub destination: String,
    /// The source as written in the list.
    pub source: String,
    /// What the copy did (layers fetched for it included).
    pub outcome: CopyOutcome,
    /// The artifacts stored with it.
    pub attached: Vec<StoredAttachment>,
    /// The signatures the policy verified.
    pub verified: Vec<policy::VerifiedSignature>,
}

/// Totals of one mirror run.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct MirrorSummary {
    /// Images copied.
    pub images: usize,
    /// Blobs written to the store (layers, configs, manifests).
    pub blobs_written: usize,
    /// Bytes written to the store (what crossed the link).
    pub bytes_transferred: u64,
    /// Layers that were already in the store.
    pub blobs_present: usize,
    /// Layer bytes not transferred because another image of the list, or the store
    /// already, had them.
    pub bytes_saved: u64,
    /// Wall-clock time of the copy.
    pub seconds: f64,
}

/// A mirror run's per-image results and totals.
#[derive(Debug, Clone)]
pub struct MirrorRun {
    /// One entry per list entry, in list order.
    pub images: Vec<MirroredImage>,
    /// Totals.
    pub summary: MirrorSummary,
}

/// What an image carries besides itself: the artifacts stored with it, the signatures the
/// policy verified.
pub(super) type Extras = (Vec<StoredAttachment>, Vec<policy::VerifiedSignature>);

/// The run's result from each image's outcome (`None`: not copied, the run stopped):
/// its images and totals, or the error that fails it.
pub(super) fn finish(
    entries: &[ListEntry],
    outcomes: Vec<Option<Result<CopyOutcome>>>,
    mut extras: Vec<Extras>,
    bytes_saved: u64,
    present: usize,
    started: Instant,
    options: &MirrorOptions,
) -> Result<MirrorRun> {
    let total = entries.len();
    let mut images = Vec::with_capacity(total);
    let mut failures = Vec::new();
    let mut first_error = None;
    let mut transient = true;
    for (i, result) in outcomes.into_iter().enumerate() {
        match result {
            None => failures.push(format!(
                "  {}: not copied (stopped after a failure)",
                entries[i].destination
            )),
            Some(Ok(outcome)) => images.push(MirroredImage {
                destination: entries[i].destination.to_string(),
                source: entries[i].source.to_string(),
                outcome,
                attached: extras
                    .get_mut(i)
                    .map(|e| std::mem::take(&mut e.0))
                    .unwrap_or_default(),
                verified: extras
                    .get_mut(i)
                    .map(|e| std::mem::take(&mut e.1))
                    .unwrap_or_default(),
            }),
            Some(Err(e)) => {
                failures.push(format!("  {}: {e}", entries[i].destination));
                transient &= e.is_transient();
                first_error.get_or_insert(e);
            }
        }
    }
    if let Some(e) = first_error {
        if options.keep_going && total > 1 {
            return Err(OciError::Incomplete {
                failed: failures.len(),
                total,
                failures,
                transient,
            });
        }
        return Err(e);
    }
    if !failures.is_empty() {
        return Err(OciError::Incomplete {
            failed: failures.len(),
            total,
            failures,
            transient: false,
        });
    }
    let summary = MirrorSummary {
        images: images.len(),
        blobs_written: images.iter().map(|i| i.outcome.blobs_written).sum(),
        bytes_transferred: images.iter().map(|i| i.outcome.bytes_written).sum(),
        blobs_present: present,
        bytes_saved,
        seconds: started.elapsed().as_secs_f64(),
    };
    Ok(MirrorRun { images, summary })
}

/// The line an image's finish reports: what its copy wrote and reused.
pub(super) fn summary(o: &CopyOutcome) -> String {
    format!(
        "{} new blob(s), {}, {} reused: stored before or shared with another image",
        o.blobs_written,
        human_bytes(o.bytes_written),
        o.blobs_present
    )
}
