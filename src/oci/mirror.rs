//! Copying a whole image list into one layout, several images at a time.
//!
//! Every source is opened (and its root manifest located) before anything is written, so a
//! list naming a missing file or tag fails with nothing changed. Copies then run on a small
//! pool of threads; shared layers are written once because the store is content-addressed.

use super::copy::{CopyOutcome, copy_image};
use super::layout::Layout;
use super::platform::Platform;
use super::source::ImageReader;
use super::{OciError, Result, local};
use crate::image::ListEntry;
use crate::report::Reporter;
use crate::util::human_bytes;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// How to mirror.
#[derive(Debug, Clone)]
pub struct MirrorOptions {
    /// Platforms to keep; empty means linux/amd64.
    pub platforms: Vec<Platform>,
    /// Images copied at the same time (at least 1).
    pub concurrency: usize,
}

impl Default for MirrorOptions {
    fn default() -> Self {
        MirrorOptions {
            platforms: vec![Platform::linux_amd64()],
            concurrency: 4,
        }
    }
}

/// The result for one image.
#[derive(Debug, Clone)]
pub struct MirroredImage {
    /// The destination reference (its name in `index.json`).
    pub destination: String,
    /// The source as written in the list.
    pub source: String,
    /// What the copy did.
    pub outcome: CopyOutcome,
}

/// Opens every source in `entries`, checking that each one exists and names an image.
pub fn open_sources(entries: &[ListEntry]) -> Result<Vec<Box<dyn ImageReader>>> {
    entries
        .iter()
        .map(|e| {
            local::open(&e.source).map_err(|err| match err {
                OciError::Source {
                    source_name,
                    message,
                } => OciError::Source {
                    source_name: format!("{}:{}: {source_name}", e.path.display(), e.line),
                    message,
                },
                OciError::Unsupported(msg) => {
                    OciError::Unsupported(format!("{}:{}: {msg}", e.path.display(), e.line))
                }
                other => other,
            })
        })
        .collect()
}

/// Mirrors every entry into the layout at `layout_dir` (created if needed). Returns one
/// result per entry, in list order.
pub fn mirror(
    entries: &[ListEntry],
    layout_dir: &Path,
    options: &MirrorOptions,
    reporter: &dyn Reporter,
) -> Result<Vec<MirroredImage>> {
    let readers = open_sources(entries)?;
    mirror_opened(entries, &readers, layout_dir, options, reporter)
}

/// [`mirror`] with the sources already opened by [`open_sources`] (`readers[i]` belongs
/// to `entries[i]`).
pub fn mirror_opened(
    entries: &[ListEntry],
    readers: &[Box<dyn ImageReader>],
    layout_dir: &Path,
    options: &MirrorOptions,
    reporter: &dyn Reporter,
) -> Result<Vec<MirroredImage>> {
    let layout = Layout::create(layout_dir)?;
    let platforms = if options.platforms.is_empty() {
        vec![Platform::linux_amd64()]
    } else {
        options.platforms.clone()
    };
    let total = entries.len();
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let results: Mutex<Vec<(usize, Result<CopyOutcome>)>> = Mutex::new(Vec::new());
    let workers = options.concurrency.clamp(1, total.max(1));
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    if failed.load(Ordering::Relaxed) {
                        break;
                    }
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= total {
                        break;
                    }
                    let destination = entries[i].destination.to_string();
                    reporter.item_started(&destination, i, total);
                    let result = copy_image(
                        readers[i].as_ref(),
                        &layout,
                        &destination,
                        &platforms,
                        &mut |n| reporter.item_progress(&destination, n),
                    );
                    match &result {
                        Ok(o) => reporter.item_finished(&destination, &summary(o)),
                        Err(e) => {
                            failed.store(true, Ordering::Relaxed);
                            reporter.item_finished(&destination, &format!("failed: {e}"));
                        }
                    }
                    if let Ok(mut r) = results.lock() {
                        r.push((i, result));
                    }
                }
            });
        }
    });
    let mut results = results.into_inner().unwrap_or_default();
    results.sort_by_key(|(i, _)| *i);
    let mut mirrored = Vec::with_capacity(total);
    for (i, result) in results {
        mirrored.push(MirroredImage {
            destination: entries[i].destination.to_string(),
            source: entries[i].source.to_string(),
            outcome: result?,
        });
    }
    Ok(mirrored)
}

fn summary(o: &CopyOutcome) -> String {
    format!(
        "{} ({} new blobs, {}, {} already present)",
        o.entry.digest.short(),
        o.blobs_written,
        human_bytes(o.bytes_written),
        o.blobs_present
    )
}
