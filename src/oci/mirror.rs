//! Copying a whole image list into one layout, many blobs at a time.
//!
//! Every source is opened (registry tags resolved to digests, root manifests read and
//! platforms chosen) before anything is written, so a list naming a missing file, tag or
//! platform, or a registry refusing access, fails with nothing changed.
//!
//! Then the layers of every selected manifest are gathered and deduplicated across the
//! whole list: a layer shared by twenty images is fetched once, and layers already in the
//! store are not fetched at all. The unique layers are fetched by a bounded pool of
//! threads, largest first so the long downloads start early. Finally each image is copied
//! as before (configs, manifests, index, then its `index.json` entry), finding its layers
//! already in place. A layer whose content does not match its digest is fetched again a
//! few times before it counts as failed.

use super::copy::{CopyOutcome, Selection, copy_image_blobs, select, selected_children};
use super::descriptor::{Descriptor, ManifestDoc, ManifestKind};
use super::digest::Digest;
use super::layout::Layout;
use super::platform::Platform;
use super::registry::Registries;
use super::registry::reader::ResolvedTag;
use super::source::ImageReader;
use super::{OciError, Result, local};
use crate::image::{ImageSource, ListEntry};
use crate::report::Reporter;
use crate::util::human_bytes;
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How many times a blob whose content fails verification is fetched in all.
pub const BLOB_ATTEMPTS: u32 = 3;

/// How to mirror.
#[derive(Debug, Clone)]
pub struct MirrorOptions {
    /// Platforms to keep; empty means linux/amd64.
    pub platforms: Vec<Platform>,
    /// Blobs (and images) copied at the same time (at least 1).
    pub concurrency: usize,
    /// How to reach registries.
    pub registries: Arc<Registries>,
    /// Copy the other images when one fails (the run still fails, listing the failures).
    pub keep_going: bool,
}

impl Default for MirrorOptions {
    fn default() -> Self {
        MirrorOptions {
            platforms: vec![Platform::linux_amd64()],
            concurrency: 4,
            registries: Arc::new(Registries::default()),
            keep_going: false,
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
    /// What the copy did (layers fetched for it included).
    pub outcome: CopyOutcome,
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

/// An image whose source is open and whose platforms are chosen, ready to copy.
pub struct PreparedImage {
    reader: Box<dyn ImageReader>,
    selection: Selection,
    resolved: Option<ResolvedTag>,
}

impl PreparedImage {
    /// The tag → digest resolution, for registry images named by tag.
    pub fn resolved(&self) -> Option<&ResolvedTag> {
        self.resolved.as_ref()
    }
}

/// Opens every source in `entries` and chooses the platforms to copy, so that a missing
/// file, tag or platform is reported (with the list's file:line) before anything is written.
pub fn prepare(entries: &[ListEntry], options: &MirrorOptions) -> Result<Vec<PreparedImage>> {
    let platforms = effective_platforms(&options.platforms);
    let prepare_one = |e: &ListEntry| -> Result<PreparedImage> {
        let (reader, resolved) = open(&e.source, &options.registries)?;
        let selection = select(reader.as_ref(), &e.destination.to_string(), &platforms)?;
        Ok(PreparedImage {
            reader,
            selection,
            resolved,
        })
    };
    // Opening a registry image costs round trips and little else: open twice as many at
    // once as blobs are copied. The first error in list order is the one reported.
    let next = AtomicUsize::new(0);
    let done = Mutex::new(Vec::with_capacity(entries.len()));
    std::thread::scope(|scope| {
        for _ in 0..(2 * options.concurrency).clamp(1, entries.len().max(1)) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(e) = entries.get(i) else { break };
                    let result = prepare_one(e).map_err(|err| at_line(err, e));
                    if let Ok(mut d) = done.lock() {
                        d.push((i, result));
                    }
                }
            });
        }
    });
    let mut done = done.into_inner().unwrap_or_default();
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, r)| r).collect()
}

fn open(
    source: &ImageSource,
    registries: &Registries,
) -> Result<(Box<dyn ImageReader>, Option<ResolvedTag>)> {
    if let ImageSource::Registry(reference) = source {
        let reader =
            super::registry::RegistryReader::open(registries, reference, source.to_string())?;
        let resolved = reader.resolved().cloned();
        return Ok((Box::new(reader), resolved));
    }
    Ok((local::open_with(source, registries)?, None))
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
) -> Result<MirrorRun> {
    let started = Instant::now();
    let prepared = prepare(entries, options)?;
    tracing::debug!(
        "opened {} image(s) in {:?}",
        prepared.len(),
        started.elapsed()
    );
    mirror_prepared(entries, &prepared, layout_dir, options, reporter)
}

/// A layer to fetch, with the first image (in list order) that needs it.
struct Wanted {
    owner: usize,
    descriptor: Descriptor,
}

/// [`mirror`] with the images already prepared by [`prepare`] (`prepared[i]` belongs to
/// `entries[i]`).
pub fn mirror_prepared(
    entries: &[ListEntry],
    prepared: &[PreparedImage],
    layout_dir: &Path,
    options: &MirrorOptions,
    reporter: &dyn Reporter,
) -> Result<MirrorRun> {
    let started = Instant::now();
    let layout = Layout::create(layout_dir)?;
    let platforms = effective_platforms(&options.platforms);
    let mut image_layers = Vec::with_capacity(prepared.len());
    for p in prepared {
        image_layers.push(selected_layers(p.reader.as_ref(), &platforms)?);
    }
    let (wanted, referenced_bytes, present) = unique_layers(&image_layers, &layout);
    let destinations: Vec<String> = entries.iter().map(|e| e.destination.to_string()).collect();
    tracing::debug!(
        "{} layer(s) to fetch, planned in {:?}",
        wanted.len(),
        started.elapsed()
    );
    let fetched = fetch_layers(&wanted, prepared, &layout, &destinations, options, reporter);
    tracing::debug!("layers fetched at {:?}", started.elapsed());
    let mut failed_blobs = fetched.failed;
    let mut outcomes: Vec<Option<Result<CopyOutcome>>> = Vec::with_capacity(prepared.len());
    let stop = !options.keep_going && !failed_blobs.is_empty();
    let results = copy_all(
        entries,
        prepared,
        &layout,
        &image_layers,
        &mut failed_blobs,
        stop,
        options,
        reporter,
    );
    outcomes.extend(results);
    tracing::debug!("images copied at {:?}", started.elapsed());
    // Credit each fetched layer to the first image that needed it.
    for (_, owner, size) in &fetched.written {
        if let Some(Some(Ok(o))) = outcomes.get_mut(*owner) {
            o.blobs_written += 1;
            o.bytes_written += size;
            o.blobs_present = o.blobs_present.saturating_sub(1);
        }
    }
    let fetched_bytes: u64 = fetched.written.iter().map(|(_, _, size)| size).sum();
    let saved = referenced_bytes.saturating_sub(fetched_bytes);
    finish(entries, outcomes, saved, present, started, options)
}

fn finish(
    entries: &[ListEntry],
    outcomes: Vec<Option<Result<CopyOutcome>>>,
    bytes_saved: u64,
    present: usize,
    started: Instant,
    options: &MirrorOptions,
) -> Result<MirrorRun> {
    let total = entries.len();
    let mut images = Vec::with_capacity(total);
    let mut failures = Vec::new();
    let mut first_error = None;
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
            }),
            Some(Err(e)) => {
                failures.push(format!("  {}: {e}", entries[i].destination));
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
            });
        }
        return Err(e);
    }
    if !failures.is_empty() {
        return Err(OciError::Incomplete {
            failed: failures.len(),
            total,
            failures,
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

/// The layers of the manifests `platforms` selects from an image.
fn selected_layers(reader: &dyn ImageReader, platforms: &[Platform]) -> Result<Vec<Descriptor>> {
    let root = reader.root().clone();
    let parse = |d: &Descriptor, bytes: &[u8]| {
        ManifestDoc::parse(bytes).map_err(|source| OciError::Json {
            context: format!("{}: manifest {}", reader.describe(), d.digest),
            source,
        })
    };
    let doc = parse(&root, &reader.read_document(&root)?)?;
    let manifests = match doc.kind(Some(&root.media_type)) {
        Some(ManifestKind::Index) => {
            let children = doc.manifests.unwrap_or_default();
            let mut docs = Vec::new();
            for i in selected_children(&children, platforms) {
                let child = &children[i];
                docs.push(parse(child, &reader.read_document(child)?)?);
            }
            docs
        }
        _ => vec![doc],
    };
    Ok(manifests
        .into_iter()
        .flat_map(|m| m.layers.unwrap_or_default())
        .collect())
}

/// Layers to fetch (deduplicated, largest first), the layer bytes all images reference,
/// and how many distinct layers the store already holds.
fn unique_layers(image_layers: &[Vec<Descriptor>], layout: &Layout) -> (Vec<Wanted>, u64, usize) {
    let mut seen: HashMap<&Digest, ()> = HashMap::new();
    let mut wanted = Vec::new();
    let mut referenced = 0;
    let mut present = 0;
    for (owner, layers) in image_layers.iter().enumerate() {
        for layer in layers {
            referenced += layer.size;
            if seen.insert(&layer.digest, ()).is_some() {
                continue;
            }
            if layout.has_blob(&layer.digest, layer.size) {
                present += 1;
                continue;
            }
            wanted.push(Wanted {
                owner,
                descriptor: layer.clone(),
            });
        }
    }
    wanted.sort_by_key(|w| std::cmp::Reverse(w.descriptor.size));
    (wanted, referenced, present)
}

struct Fetched {
    /// (digest, owner image, size) of every layer written.
    written: Vec<(Digest, usize, u64)>,
    /// Layers that could not be fetched.
    failed: HashMap<Digest, OciError>,
}

/// Fetches `wanted` with `options.concurrency` threads.
fn fetch_layers(
    wanted: &[Wanted],
    prepared: &[PreparedImage],
    layout: &Layout,
    destinations: &[String],
    options: &MirrorOptions,
    reporter: &dyn Reporter,
) -> Fetched {
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let written = Mutex::new(Vec::new());
    let failed = Mutex::new(HashMap::new());
    let workers = options.concurrency.clamp(1, wanted.len().max(1));
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(w) = wanted.get(i) else { break };
                    let reader = prepared[w.owner].reader.as_ref();
                    let dest = &destinations[w.owner];
                    match fetch_layer(reader, &w.descriptor, layout, dest, reporter) {
                        Ok(size) => {
                            if let Ok(mut v) = written.lock() {
                                v.push((w.descriptor.digest.clone(), w.owner, size));
                            }
                        }
                        Err(e) => {
                            if !options.keep_going {
                                stop.store(true, Ordering::Relaxed);
                            }
                            if let Ok(mut f) = failed.lock() {
                                f.insert(w.descriptor.digest.clone(), e);
                            }
                        }
                    }
                }
            });
        }
    });
    Fetched {
        written: written.into_inner().unwrap_or_default(),
        failed: failed.into_inner().unwrap_or_default(),
    }
}

/// Fetches one layer into the store, fetching it again when its content fails
/// verification or the transfer breaks beyond what the source's own retries absorb.
fn fetch_layer(
    reader: &dyn ImageReader,
    layer: &Descriptor,
    layout: &Layout,
    destination: &str,
    reporter: &dyn Reporter,
) -> Result<u64> {
    let context = format!("{destination} (from {})", reader.describe());
    let mut attempt = 1;
    loop {
        let result = reader.open_blob(layer).and_then(|mut r| {
            layout.write_blob(
                &mut r,
                Some((&layer.digest, layer.size)),
                &context,
                &mut |n| reporter.item_progress(destination, n),
            )
        });
        match result {
            Ok((_, size)) => return Ok(size),
            Err(e @ OciError::DigestMismatch { .. }) if attempt < BLOB_ATTEMPTS => {
                reporter.warning(&format!("{e}; fetching it again"));
            }
            Err(e) => {
                return Err(match e {
                    OciError::DigestMismatch { .. } => OciError::Read {
                        context: format!(
                            "{context}: blob {} refused after {attempt} attempts",
                            layer.digest
                        ),
                        source: std::io::Error::other(e.to_string()),
                    },
                    other => other,
                });
            }
        }
        std::thread::sleep(Duration::from_millis(200 * u64::from(attempt)));
        attempt += 1;
    }
}

/// Copies every image (its layers now in place), `concurrency` at a time. An image whose
/// layer failed to fetch fails with that error; with `stop`, nothing is copied. `None`
/// marks an image not copied because the run stopped after a failure.
#[allow(clippy::too_many_arguments)]
fn copy_all(
    entries: &[ListEntry],
    prepared: &[PreparedImage],
    layout: &Layout,
    image_layers: &[Vec<Descriptor>],
    failed_blobs: &mut HashMap<Digest, OciError>,
    stop: bool,
    options: &MirrorOptions,
    reporter: &dyn Reporter,
) -> Vec<Option<Result<CopyOutcome>>> {
    let mut slots = assign_fetch_failures(entries, image_layers, failed_blobs);
    if stop {
        return slots;
    }
    let todo: Vec<usize> = (0..entries.len()).filter(|&i| slots[i].is_none()).collect();
    let next = AtomicUsize::new(0);
    let results = Mutex::new(Vec::new());
    let halt = AtomicBool::new(false);
    std::thread::scope(|scope| {
        for _ in 0..options.concurrency.clamp(1, todo.len().max(1)) {
            scope.spawn(|| {
                while !halt.load(Ordering::Relaxed) {
                    let Some(&i) = todo.get(next.fetch_add(1, Ordering::Relaxed)) else {
                        break;
                    };
                    let result = copy_one(entries, prepared, layout, i, reporter);
                    if result.is_err() && !options.keep_going {
                        halt.store(true, Ordering::Relaxed);
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
    // Name every copied image in one index.json update, in list order.
    let entries_done: Vec<Descriptor> = results
        .iter()
        .filter_map(|(_, r)| r.as_ref().ok().map(|o| o.entry.clone()))
        .collect();
    if let Err(e) = layout.add_to_index(entries_done) {
        // Nothing was named: the first copied image carries the error, the rest count as
        // not copied.
        let mut e = Some(e);
        for (i, r) in results {
            slots[i] = match r {
                Ok(_) => e.take().map(Err),
                Err(err) => Some(Err(err)),
            };
        }
        return slots;
    }
    for (i, r) in results {
        slots[i] = Some(r);
    }
    slots
}

/// Hands each layer that failed to fetch to the first image that needed it; the other
/// images needing it get an error pointing there.
fn assign_fetch_failures(
    entries: &[ListEntry],
    image_layers: &[Vec<Descriptor>],
    failed_blobs: &mut HashMap<Digest, OciError>,
) -> Vec<Option<Result<CopyOutcome>>> {
    let failed: Vec<Digest> = failed_blobs.keys().cloned().collect();
    let mut slots: Vec<Option<Result<CopyOutcome>>> = (0..entries.len()).map(|_| None).collect();
    for (i, layers) in image_layers.iter().enumerate() {
        let Some(layer) = layers.iter().find(|l| failed.contains(&l.digest)) else {
            continue;
        };
        let e = failed_blobs
            .remove(&layer.digest)
            .unwrap_or_else(|| OciError::Read {
                context: format!("{} (from {})", entries[i].destination, entries[i].source),
                source: std::io::Error::other(format!(
                    "blob {} could not be fetched (see the image listed before)",
                    layer.digest
                )),
            });
        slots[i] = Some(Err(e));
    }
    slots
}

fn copy_one(
    entries: &[ListEntry],
    prepared: &[PreparedImage],
    layout: &Layout,
    i: usize,
    reporter: &dyn Reporter,
) -> Result<CopyOutcome> {
    let destination = entries[i].destination.to_string();
    reporter.item_started(&destination, i, entries.len());
    let result = copy_image_blobs(
        prepared[i].reader.as_ref(),
        &prepared[i].selection,
        layout,
        &destination,
        &mut |n| reporter.item_progress(&destination, n),
    );
    match &result {
        Ok(o) => reporter.item_finished(&destination, &summary(o)),
        Err(e) => reporter.item_finished(&destination, &format!("failed: {e}")),
    }
    result
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
