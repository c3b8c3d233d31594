//! Copying a whole image list into one layout, several images at a time.
//!
//! Every source is opened (and its root manifest located) before anything is written, so a
//! list naming a missing file or tag fails with nothing changed. Copies then run on a small
//! pool of threads; shared layers are written once because the store is content-addressed.

use super::copy::{CopyOutcome, Selection, copy_image, select};
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

/// An image whose source is open and whose platforms are chosen, ready to copy.
pub struct PreparedImage {
    reader: Box<dyn ImageReader>,
    selection: Selection,
}

/// Opens every source in `entries` and chooses the platforms to copy, so that a missing
/// file, tag or platform is reported (with the list's file:line) before anything is written.
pub fn prepare(entries: &[ListEntry], platforms: &[Platform]) -> Result<Vec<PreparedImage>> {
    let platforms = effective_platforms(platforms);
    entries
        .iter()
        .map(|e| {
            let reader = local::open(&e.source)?;
            let selection = select(reader.as_ref(), &e.destination.to_string(), &platforms)?;
            Ok(PreparedImage { reader, selection })
        })
        .enumerate()
        .map(|(i, r)| r.map_err(|err| at_line(err, &entries[i])))
        .collect()
}

fn effective_platforms(platforms: &[Platform]) -> Vec<Platform> {
    if platforms.is_empty() {
        vec![Platform::linux_amd64()]
    } else {
        platforms.to_vec()
    }
}

/// Prefixes an input error with the list file and line it came from.
fn at_line(err: OciError, entry: &ListEntry) -> OciError {
    let at = format!("{}:{}", entry.path.display(), entry.line);
    match err {
        OciError::Source {
            source_name,
            message,
        } => OciError::Source {
            source_name: format!("{at}: {source_name}"),
            message,
        },
        OciError::Unsupported(msg) => OciError::Unsupported(format!("{at}: {msg}")),
        OciError::NoMatchingPlatform {
            image,
            wanted,
            available,
        } => OciError::NoMatchingPlatform {
            image: format!("{at}: {image}"),
            wanted,
            available,
        },
        other => other,
    }
}

/// Mirrors every entry into the layout at `layout_dir` (created if needed). Returns one
/// result per entry, in list order.
pub fn mirror(
    entries: &[ListEntry],
    layout_dir: &Path,
    options: &MirrorOptions,
    reporter: &dyn Reporter,
) -> Result<Vec<MirroredImage>> {
    let prepared = prepare(entries, &options.platforms)?;
    mirror_prepared(entries, &prepared, layout_dir, options, reporter)
}

/// [`mirror`] with the images already prepared by [`prepare`] (`prepared[i]` belongs to
/// `entries[i]`).
pub fn mirror_prepared(
    entries: &[ListEntry],
    prepared: &[PreparedImage],
    layout_dir: &Path,
    options: &MirrorOptions,
    reporter: &dyn Reporter,
) -> Result<Vec<MirroredImage>> {
    let layout = Layout::create(layout_dir)?;
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
                        prepared[i].reader.as_ref(),
                        &prepared[i].selection,
                        &layout,
                        &destination,
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
