//! Copying a whole image list into one layout, many blobs at a time.
//!
//! Every source is opened (registry tags resolved to digests, root manifests read and
//! platforms chosen) before anything is written, so a list naming a missing file, tag or
//! platform, or a registry refusing access, fails with nothing changed.
//!
//! Registry images are opened against the layout: a tag is resolved with a HEAD, and a
//! manifest, index or config the layout already holds is read from it, not fetched.
//!
//! Then the layers of every selected manifest are gathered and deduplicated across the
//! whole list: a layer shared by twenty images is fetched once, and layers already in the
//! store are not fetched at all. The unique layers are fetched by a bounded pool of
//! threads, largest first so the long downloads start early. Finally each image is copied
//! as before (configs, manifests, index, then its `index.json` entry), finding its layers
//! already in place. A layer whose content does not match its digest is fetched again a
//! few times before it counts as failed.

use super::attached::{self, AttachedKind};
use super::copy::{CopyOutcome, Selection, copy_image_blobs, select, selected_children};
use super::descriptor::{Descriptor, ManifestDoc};
use super::digest::Digest;
use super::layout::{Layout, Presence};
use super::platform::Platform;
use super::registry::Registries;
use super::registry::reader::ResolvedTag;
use super::source::ImageReader;
use super::{OciError, Result, local};
use fetch::{FetchQueue, Fetched};

mod fetch;
pub mod policy;
mod select;
use crate::image::{ImageSource, ListEntry};
use crate::report::Reporter;
use crate::util::human_bytes;
use select::{at_line, selected_layers};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

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
    /// A layout (the one the images will be copied into) whose manifests, indexes and
    /// configs [`prepare`] takes instead of fetching them again. [`mirror`] always uses
    /// its own layout.
    pub known_layout: Option<PathBuf>,
    /// The archives this run has scanned (each once, whatever number of entries name it).
    pub opened: Arc<local::Opened>,
    /// Look for the artifacts kept beside each registry image (cosign's signature,
    /// attestation and SBOM tags, OCI 1.1 referrers) and store them with it.
    pub attached: bool,
    /// The signature policy each image is checked against before it is stored.
    pub policy: policy::SignaturePolicy,
}

impl Default for MirrorOptions {
    fn default() -> Self {
        MirrorOptions {
            platforms: vec![Platform::linux_amd64()],
            concurrency: 4,
            registries: Arc::new(Registries::default()),
            keep_going: false,
            known_layout: None,
            opened: Arc::default(),
            attached: true,
            policy: policy::SignaturePolicy::default(),
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

/// An image whose source is open and whose platforms are chosen, ready to copy.
pub struct PreparedImage {
    reader: Box<dyn ImageReader>,
    selection: Selection,
    resolved: Option<ResolvedTag>,
    attached: Vec<PreparedAttachment>,
    verified: Vec<policy::VerifiedSignature>,
}

/// An artifact found beside an image (a signature, an attestation, an SBOM, a referrer:
/// see [`crate::oci::attached`]), opened, to be stored with it.
pub struct PreparedAttachment {
    /// What it is.
    pub kind: AttachedKind,
    /// The digest it refers to: the image's root as its source serves it, or one of the
    /// platform manifests kept.
    pub subject: Digest,
    /// The name it is stored under in `index.json`.
    pub name: String,
    reader: Box<dyn ImageReader>,
    selection: Selection,
    listing: Option<(Digest, Vec<u8>)>,
}

impl PreparedAttachment {
    /// The artifact's manifest.
    pub fn root(&self) -> &Descriptor {
        self.reader.root()
    }

    /// The artifact's reader (its manifest, config and layers; small documents are kept).
    pub fn reader(&self) -> &dyn ImageReader {
        self.reader.as_ref()
    }
}

/// One attached artifact as stored.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StoredAttachment {
    /// What it is.
    pub kind: AttachedKind,
    /// The digest it refers to.
    pub subject: String,
    /// Its name in `index.json`.
    pub name: String,
    /// Its manifest's digest.
    pub digest: String,
}

impl PreparedImage {
    /// Whether it is an image a container runtime runs, not another artifact (see
    /// [`Selection::is_image`]).
    pub fn is_image(&self) -> bool {
        self.selection.is_image()
    }

    /// The artifacts found beside the image, stored with it.
    pub fn attached(&self) -> &[PreparedAttachment] {
        &self.attached
    }

    /// The signatures the policy verified.
    pub fn verified(&self) -> &[policy::VerifiedSignature] {
        &self.verified
    }

    /// The tag → digest resolution, for registry images named by tag.
    pub fn resolved(&self) -> Option<&ResolvedTag> {
        self.resolved.as_ref()
    }

    /// The root manifest or index of the image in its source (before platform selection).
    pub fn source_root(&self) -> &Descriptor {
        self.reader.root()
    }

    /// The layers of the manifests `platforms` selects, read from the source's manifests
    /// (small documents, kept for the copy); no layer is fetched.
    pub fn selected_layers(&self, platforms: &[Platform]) -> Result<Vec<Descriptor>> {
        selected_layers(self.reader.as_ref(), &effective_platforms(platforms))
    }
}

/// Opens an entry's image some other way than from its source: `Some` takes over the
/// entry (`build --offline` reads registry images from the layout), `None` leaves it to
/// its source.
pub type OpenOverride<'a> = dyn Fn(&ListEntry) -> Option<Result<Box<dyn ImageReader>>> + Sync + 'a;

/// Opens every source in `entries` and chooses the platforms to copy, so that a missing
/// file, tag or platform is reported (with the list's file:line) before anything is written.
pub fn prepare(entries: &[ListEntry], options: &MirrorOptions) -> Result<Vec<PreparedImage>> {
    prepare_with(entries, options, &|_| None)
}

/// [`prepare`], with `open_override` given the first say on how each entry is opened.
pub fn prepare_with(
    entries: &[ListEntry],
    options: &MirrorOptions,
    open_override: &OpenOverride<'_>,
) -> Result<Vec<PreparedImage>> {
    let platforms = effective_platforms(&options.platforms);
    let next = AtomicUsize::new(0);
    let done = Mutex::new(Vec::with_capacity(entries.len()));
    std::thread::scope(|scope| {
        for _ in 0..opener_count(options, entries.len()) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(e) = entries.get(i) else { break };
                    let known = options.known_layout.as_deref();
                    let result = prepare_one(e, options, &platforms, open_override, known)
                        .map_err(|err| at_line(err, e));
                    if let Ok(mut d) = done.lock() {
                        d.push((i, result));
                    }
                }
            });
        }
    });
    let mut done = done.into_inner().unwrap_or_default();
    done.sort_by_key(|(i, _)| *i);
    // Every entry that cannot be used is named, in list order, not only the first.
    let mut prepared = Vec::with_capacity(done.len());
    let mut failed = Vec::new();
    for (_, r) in done {
        match r {
            Ok(p) => prepared.push(p),
            Err(e) => failed.push(e),
        }
    }
    if failed.is_empty() {
        Ok(prepared)
    } else {
        Err(entries_failed(failed))
    }
}

/// The error for the entries that could not be opened (in list order): the one error, or
/// all of them.
fn entries_failed(mut failed: Vec<OciError>) -> OciError {
    if failed.len() == 1 {
        failed.remove(0)
    } else {
        OciError::Entries(failed)
    }
}

/// Opens one source and chooses its platforms.
fn prepare_one(
    e: &ListEntry,
    options: &MirrorOptions,
    platforms: &[Platform],
    open_override: &OpenOverride<'_>,
    known: Option<&Path>,
) -> Result<PreparedImage> {
    let overridden = open_override(e);
    let from_files = overridden.is_some() || e.source.is_local();
    let (reader, resolved, local) = match overridden {
        Some(reader) => (reader?, None, false),
        None => {
            let (reader, resolved) = open(&e.source, options, known)?;
            (reader, resolved, e.source.is_local())
        }
    };
    let mut selection = select(reader.as_ref(), &e.destination.to_string(), platforms)?;
    // A local source is checked whole now, with the reader just opened: a blob missing,
    // not a regular file or of the wrong size is refused before anything is written (the
    // manifests were read whole and checked against their digests while selecting).
    if local {
        for blob in selection
            .manifests()
            .iter()
            .flat_map(ManifestDoc::image_blobs)
        {
            reader.check_blob(blob)?;
        }
    }
    let attached = if options.attached || options.policy.is_active() {
        prepare_attached(reader.as_ref(), &selection, e)?
    } else {
        Vec::new()
    };
    // A signature over the whole index names bytes the stored subset no longer is: they
    // are kept beside it, so that it can still be checked (see `copy`).
    if attached.iter().any(|a| a.subject == reader.root().digest) {
        selection.keep_original();
    }
    // Read back from a layout or an archive, an index cut from another comes with it.
    if from_files {
        selection.carry_named_original();
    }
    let children: Vec<Digest> = selection
        .kept_children()
        .map(|c| c.digest.clone())
        .collect();
    // A signature over the index a stored subset was cut from is one over the subset.
    let mut roots = vec![reader.root().digest.clone()];
    if from_files && options.policy.is_active() {
        roots.extend(original_of(reader.as_ref(), &selection));
    }
    let verified = options
        .policy
        .check(&e.source.to_string(), &roots, &children, &attached)?;
    Ok(PreparedImage {
        reader,
        selection,
        resolved,
        attached,
        verified,
    })
}

/// The index the image's root names as the one it was cut from, when the source (a layout
/// on disk) holds it and the root is a subset of it.
fn original_of(reader: &dyn ImageReader, selection: &Selection) -> Option<Digest> {
    use std::io::Read as _;
    let digest = selection.named_original()?;
    let descriptor = Descriptor::new(&reader.root().media_type, digest.clone(), 0);
    let mut bytes = Vec::new();
    reader
        .open_blob(&descriptor)
        .ok()?
        .take(super::layout::MAX_DOCUMENT_SIZE + 1)
        .read_to_end(&mut bytes)
        .ok()?;
    (Digest::of(&bytes) == digest && selection.is_cut_from(&bytes)).then_some(digest)
}

/// The digests signatures and referrers may name for an image: its root as the source
/// serves it and each platform manifest kept.
fn subjects_of(root: &Descriptor, selection: &Selection) -> Vec<Digest> {
    let mut subjects = vec![root.digest.clone()];
    for child in selection.kept_children() {
        if !subjects.contains(&child.digest) {
            subjects.push(child.digest.clone());
        }
    }
    subjects
}

/// Finds and opens the artifacts kept beside the image in its source.
fn prepare_attached(
    reader: &dyn ImageReader,
    selection: &Selection,
    e: &ListEntry,
) -> Result<Vec<PreparedAttachment>> {
    let subjects = subjects_of(reader.root(), selection);
    let repository = format!(
        "{}/{}",
        e.destination.registry(),
        e.destination.repository()
    );
    let mut out = Vec::new();
    for a in reader.attached(&subjects)? {
        let name = attached::stored_name(&repository, a.kind, &a.subject, &a.descriptor.digest);
        // An artifact is carried whole, whatever platforms the images are kept for.
        let selection = select(a.reader.as_ref(), &name, &[Platform::all()])?;
        out.push(PreparedAttachment {
            kind: a.kind,
            subject: a.subject,
            name,
            reader: a.reader,
            selection,
            listing: a.listing,
        });
    }
    Ok(out)
}

/// Opens a source; a registry image takes what the layout at `known` holds from there.
fn open(
    source: &ImageSource,
    options: &MirrorOptions,
    known: Option<&Path>,
) -> Result<(Box<dyn ImageReader>, Option<ResolvedTag>)> {
    let registries = &options.registries;
    if let ImageSource::Registry(reference) = source {
        let name = source.to_string();
        let reader = super::registry::RegistryReader::open_in(registries, reference, name, known)?;
        let resolved = reader.resolved().cloned();
        return Ok((Box::new(reader), resolved));
    }
    Ok((local::open_in(source, registries, &options.opened)?, None))
}

fn effective_platforms(platforms: &[Platform]) -> Vec<Platform> {
    if platforms.is_empty() {
        vec![Platform::linux_amd64()]
    } else {
        platforms.to_vec()
    }
}

/// Mirrors every entry into the layout at `layout_dir` (created if needed). Returns one
/// result per entry, in list order.
///
/// Local sources (`oci:`, `oci-archive:`, `docker-archive:`) are opened first, and every
/// blob they need is checked to be in place, before the layout is created or touched.
/// Images are opened several at a time, and the layers of each opened image are fetched
/// while the others are still being opened. If any image cannot be opened, the run fails
/// with the first such error in list order and names nothing in `index.json`; a layout
/// directory this run created is removed again.
pub fn mirror(
    entries: &[ListEntry],
    layout_dir: &Path,
    options: &MirrorOptions,
    reporter: &dyn Reporter,
) -> Result<MirrorRun> {
    let started = Instant::now();
    let platforms = effective_platforms(&options.platforms);
    // Local sources are opened and checked whole before the layout is touched: a list
    // line naming a broken one is refused with nothing written.
    let local: Vec<usize> = (0..entries.len())
        .filter(|&i| entries[i].source.is_local())
        .collect();
    let local_entries: Vec<ListEntry> = local.iter().map(|&i| entries[i].clone()).collect();
    let local_prepared = prepare(&local_entries, options)?;
    let created = first_missing_ancestor(layout_dir);
    let layout = Layout::create(layout_dir)?;
    let present = layout.presence();
    let destinations: Vec<String> = entries.iter().map(|e| e.destination.to_string()).collect();
    let slots: Vec<OnceLock<PreparedImage>> = entries.iter().map(|_| OnceLock::new()).collect();
    let errors = Mutex::new(Vec::new());
    let queue = FetchQueue::default();
    for (i, p) in local.into_iter().zip(local_prepared) {
        queue.add_image(i, slots[i].get_or_init(|| p).selection.layers(), &present);
    }
    let fetched = Mutex::new(Fetched::default());
    let next = AtomicUsize::new(0);
    let reader_of = |i: usize| slots.get(i)?.get().map(|p| p.reader.as_ref());
    std::thread::scope(|scope| {
        for _ in 0..options.concurrency.max(1) {
            scope.spawn(|| {
                let keep_going = options.keep_going;
                queue.work(
                    &reader_of,
                    &layout,
                    &destinations,
                    keep_going,
                    reporter,
                    &fetched,
                )
            });
        }
        let openers: Vec<_> = (0..opener_count(options, entries.len()))
            .map(|_| {
                scope.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(e) = entries.get(i) else { break };
                        if slots[i].get().is_some() {
                            continue;
                        }
                        let known = Some(layout.root());
                        match prepare_one(e, options, &platforms, &|_| None, known) {
                            Ok(found) => {
                                // The reader must be in place before its layers are queued.
                                let p = slots[i].get_or_init(|| found);
                                queue.add_image(i, p.selection.layers(), &present);
                            }
                            Err(err) => {
                                if let Ok(mut v) = errors.lock() {
                                    v.push((i, at_line(err, e)));
                                }
                            }
                        }
                    }
                })
            })
            .collect();
        for h in openers {
            let _ = h.join();
        }
        let failed = errors.lock().map(|v| !v.is_empty()).unwrap_or(true);
        if failed { queue.stop() } else { queue.close() }
    });
    tracing::debug!("opened and fetched in {:?}", started.elapsed());
    let mut errors = errors.into_inner().unwrap_or_default();
    if !errors.is_empty() {
        errors.sort_by_key(|(i, _)| *i);
        let others_writing = layout.has_live_writers().unwrap_or(true);
        drop(layout);
        if let Some(dir) = created.filter(|_| !others_writing) {
            let _ = std::fs::remove_dir_all(dir);
        }
        return Err(entries_failed(errors.into_iter().map(|(_, e)| e).collect()));
    }
    let opened: Option<Vec<_>> = slots.iter().map(OnceLock::get).collect();
    let Some(prepared) = opened else {
        return Err(OciError::Unsupported(
            "an image could not be opened (a worker thread failed)".into(),
        ));
    };
    let run = Run {
        entries,
        layout: &layout,
        present: &present,
        options,
        reporter,
        started,
    };
    run.complete(&prepared, &queue, fetched.into_inner().unwrap_or_default())
}

/// Threads opening images: round trips cost latency, not bandwidth, so twice the
/// copy concurrency.
fn opener_count(options: &MirrorOptions, images: usize) -> usize {
    (2 * options.concurrency).clamp(1, images.max(1))
}

/// The outermost directory of `path` that does not exist yet (what creating it adds).
fn first_missing_ancestor(path: &Path) -> Option<std::path::PathBuf> {
    let mut missing = None;
    for p in path.ancestors() {
        if p.as_os_str().is_empty() || p.exists() {
            break;
        }
        missing = Some(p.to_path_buf());
    }
    missing
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
    let present = layout.presence();
    let queue = FetchQueue::default();
    for (i, p) in prepared.iter().enumerate() {
        queue.add_image(i, p.selection.layers(), &present);
    }
    queue.close();
    let destinations: Vec<String> = entries.iter().map(|e| e.destination.to_string()).collect();
    let fetched = Mutex::new(Fetched::default());
    let reader_of = |i: usize| prepared.get(i).map(|p| p.reader.as_ref());
    std::thread::scope(|scope| {
        for _ in 0..options.concurrency.max(1) {
            scope.spawn(|| {
                let keep_going = options.keep_going;
                queue.work(
                    &reader_of,
                    &layout,
                    &destinations,
                    keep_going,
                    reporter,
                    &fetched,
                )
            });
        }
    });
    let prepared: Vec<&PreparedImage> = prepared.iter().collect();
    let run = Run {
        entries,
        layout: &layout,
        present: &present,
        options,
        reporter,
        started,
    };
    run.complete(&prepared, &queue, fetched.into_inner().unwrap_or_default())
}

/// What every step after fetching needs.
struct Run<'a> {
    entries: &'a [ListEntry],
    layout: &'a Layout,
    present: &'a Presence,
    options: &'a MirrorOptions,
    reporter: &'a dyn Reporter,
    started: Instant,
}

impl Run<'_> {
    /// Copies the images (their layers now fetched), credits each fetched layer to the
    /// first image in list order that needs it, and totals the run.
    fn complete(
        &self,
        prepared: &[&PreparedImage],
        queue: &FetchQueue,
        fetched: Fetched,
    ) -> Result<MirrorRun> {
        tracing::debug!("layers fetched at {:?}", self.started.elapsed());
        let Fetched {
            written,
            mut failed,
        } = fetched;
        let stop = !self.options.keep_going && !failed.is_empty();
        // Each fetched layer is counted for the first image that has it, before that
        // image's copy reports what it wrote (the layers are most of it).
        let mut first_owner: HashMap<&Digest, usize> = HashMap::new();
        for (i, p) in prepared.iter().enumerate() {
            for l in p.selection.layers() {
                first_owner.entry(&l.digest).or_insert(i);
            }
        }
        let mut fetched_for = vec![(0usize, 0u64); prepared.len()];
        for (digest, size) in &written {
            if let Some(credit) = (first_owner.get(digest)).and_then(|&i| fetched_for.get_mut(i)) {
                credit.0 += 1;
                credit.1 += size;
            }
        }
        let mut outcomes = self.copy_all(prepared, &mut failed, stop, &fetched_for);
        tracing::debug!("images copied at {:?}", self.started.elapsed());
        let (mut attached, attached_entries) = self.copy_attached(prepared, &mut outcomes);
        self.name_copied(&mut outcomes, &mut attached, attached_entries);
        let extras: Vec<Extras> = attached
            .into_iter()
            .zip(prepared.iter().map(|p| p.verified.clone()))
            .collect();
        let (referenced, present) = queue.totals();
        let fetched_bytes: u64 = written.iter().map(|(_, size)| size).sum();
        let saved = referenced.saturating_sub(fetched_bytes);
        finish(
            self.entries,
            outcomes,
            extras,
            saved,
            present,
            self.started,
            self.options,
        )
    }
}

/// What an image carries besides itself: the artifacts stored with it, the signatures the
/// policy verified.
type Extras = (Vec<StoredAttachment>, Vec<policy::VerifiedSignature>);

fn finish(
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

impl Run<'_> {
    /// Copies every image (its layers now in place), `concurrency` at a time; none is
    /// named yet ([`Run::name_copied`] names them). An image whose layer failed to fetch fails with
    /// that error; with `stop`, nothing is copied. `None` marks an image not copied because
    /// the run stopped after a failure.
    fn copy_all(
        &self,
        prepared: &[&PreparedImage],
        failed_blobs: &mut HashMap<Digest, OciError>,
        stop: bool,
        fetched_for: &[(usize, u64)],
    ) -> Vec<Option<Result<CopyOutcome>>> {
        let mut slots = self.assign_fetch_failures(prepared, failed_blobs);
        if stop {
            return slots;
        }
        let todo: Vec<usize> = (0..self.entries.len())
            .filter(|&i| slots[i].is_none())
            .collect();
        let next = AtomicUsize::new(0);
        let results = Mutex::new(Vec::new());
        let halt = AtomicBool::new(false);
        std::thread::scope(|scope| {
            for _ in 0..self.options.concurrency.clamp(1, todo.len().max(1)) {
                scope.spawn(|| {
                    while !halt.load(Ordering::Relaxed) {
                        let Some(&i) = todo.get(next.fetch_add(1, Ordering::Relaxed)) else {
                            break;
                        };
                        let fetched = fetched_for.get(i).copied().unwrap_or_default();
                        let result = self.copy_one(prepared[i], i, fetched);
                        if result.is_err() && !self.options.keep_going {
                            halt.store(true, Ordering::Relaxed);
                        }
                        if let Ok(mut r) = results.lock() {
                            r.push((i, result));
                        }
                    }
                });
            }
        });
        for (i, r) in results.into_inner().unwrap_or_default() {
            slots[i] = Some(r);
        }
        slots
    }

    /// Hands each layer that failed to fetch to the first image (in list order) that
    /// needed it; the other images needing it get an error pointing there.
    fn assign_fetch_failures(
        &self,
        prepared: &[&PreparedImage],
        failed_blobs: &mut HashMap<Digest, OciError>,
    ) -> Vec<Option<Result<CopyOutcome>>> {
        let failed: Vec<Digest> = failed_blobs.keys().cloned().collect();
        let mut slots: Vec<Option<Result<CopyOutcome>>> =
            (0..self.entries.len()).map(|_| None).collect();
        for (i, p) in prepared.iter().enumerate() {
            let Some(layer) = p.selection.layers().find(|l| failed.contains(&l.digest)) else {
                continue;
            };
            let entry = &self.entries[i];
            let e = failed_blobs
                .remove(&layer.digest)
                .unwrap_or_else(|| OciError::Read {
                    context: format!("{} (from {})", entry.destination, entry.source),
                    source: std::io::Error::other(format!(
                        "blob {} could not be fetched (see the image listed before)",
                        layer.digest
                    )),
                });
            slots[i] = Some(Err(e));
        }
        slots
    }

    /// Copies image `i`; `fetched` are the layers (count, bytes) fetched for it, which its
    /// outcome and the finished item's summary include.
    fn copy_one(
        &self,
        prepared: &PreparedImage,
        i: usize,
        fetched: (usize, u64),
    ) -> Result<CopyOutcome> {
        let destination = self.entries[i].destination.to_string();
        let reporter = self.reporter;
        reporter.item_started(&destination, i, self.entries.len());
        let result = copy_image_blobs(
            prepared.reader.as_ref(),
            &prepared.selection,
            self.layout,
            self.present,
            &destination,
            &mut |n| reporter.item_progress(&destination, n),
        )
        .map(|mut o| {
            o.blobs_written += fetched.0;
            o.bytes_written += fetched.1;
            o.blobs_present = o.blobs_present.saturating_sub(fetched.0);
            o
        });
        if let Ok(o) = &result {
            self.keep_source_index(prepared, o, i);
        }
        // An image that carries artifacts is finished once they are stored too
        // ([`Run::copy_attached`]): one that cannot be stored fails the image.
        match &result {
            Ok(_) if !prepared.attached.is_empty() => {}
            Ok(o) => reporter.item_finished(&destination, &summary(o)),
            Err(e) => reporter.item_finished(&destination, &format!("failed: {e}")),
        }
        result
    }
}

impl Run<'_> {
    /// Stores the artifacts found beside each image copied (small documents, a few blobs
    /// each), `concurrency` at a time. An image whose artifact cannot be stored fails with
    /// that error. Returns what each image (by position) had stored, and the entries that
    /// name them ([`Run::name_copied`] names them with their image).
    fn copy_attached(
        &self,
        prepared: &[&PreparedImage],
        outcomes: &mut [Option<Result<CopyOutcome>>],
    ) -> (Vec<Vec<StoredAttachment>>, Vec<Vec<Descriptor>>) {
        let todo: Vec<(usize, &PreparedAttachment)> = (0..prepared.len())
            .filter(|&i| matches!(outcomes.get(i), Some(Some(Ok(_)))))
            .flat_map(|i| prepared[i].attached.iter().map(move |a| (i, a)))
            .collect();
        let mut stored = vec![Vec::new(); prepared.len()];
        if todo.is_empty() {
            return (stored, vec![Vec::new(); prepared.len()]);
        }
        let next = AtomicUsize::new(0);
        let results = Mutex::new(Vec::with_capacity(todo.len()));
        std::thread::scope(|scope| {
            // Small documents: round trips cost latency, not bandwidth (as for opening).
            for _ in 0..opener_count(self.options, todo.len()) {
                scope.spawn(|| {
                    while let Some(&(i, a)) = todo.get(next.fetch_add(1, Ordering::Relaxed)) {
                        let to = self.entries[i].destination.to_string();
                        let copied = copy_image_blobs(
                            a.reader.as_ref(),
                            &a.selection,
                            self.layout,
                            self.present,
                            &a.name,
                            &mut |_| {},
                        )
                        .map(|o| attached::annotate(o.entry, &to, a.kind, &a.subject));
                        // The fallback tag's index, so that a warm run finds it here.
                        if let Some((digest, bytes)) = &a.listing
                            && let Err(e) = self.layout.keep_source_index(digest, bytes)
                        {
                            tracing::debug!("{}: referrers index not kept: {e}", a.name);
                        }
                        if let Ok(mut r) = results.lock() {
                            r.push((i, a, copied));
                        }
                    }
                });
            }
        });
        let mut results = results.into_inner().unwrap_or_default();
        results.sort_by(|x, y| (x.0, &x.1.name).cmp(&(y.0, &y.1.name)));
        let mut entries = vec![Vec::new(); prepared.len()];
        let mut carrying = Vec::new();
        for (i, a, copied) in results {
            if carrying.last() != Some(&i) {
                carrying.push(i);
            }
            match copied {
                Ok(entry) => {
                    stored[i].push(StoredAttachment {
                        kind: a.kind,
                        subject: a.subject.to_string(),
                        name: a.name.clone(),
                        digest: entry.digest.to_string(),
                    });
                    entries[i].push(entry);
                }
                Err(e) => {
                    if let Some(slot) = outcomes.get_mut(i) {
                        *slot = Some(Err(e));
                    }
                }
            }
        }
        // The images whose finish waited for their artifacts (see `copy_one`).
        for i in carrying {
            let destination = self.entries[i].destination.to_string();
            match outcomes.get(i) {
                Some(Some(Ok(o))) => self.reporter.item_finished(&destination, &summary(o)),
                Some(Some(Err(e))) => {
                    (self.reporter).item_finished(&destination, &format!("failed: {e}"));
                }
                _ => {}
            }
        }
        (stored, entries)
    }

    /// Names in one `index.json` update every image copied whole (itself and every artifact
    /// it carries), and nothing of an image that failed, its artifacts included: an image
    /// is named only once all of it is stored. If the update fails, nothing is named: the
    /// first copied image carries the error, the rest count as not copied.
    fn name_copied(
        &self,
        outcomes: &mut [Option<Result<CopyOutcome>>],
        stored: &mut [Vec<StoredAttachment>],
        attached: Vec<Vec<Descriptor>>,
    ) {
        let mut named = Vec::new();
        for ((outcome, stored), entries) in outcomes.iter().zip(stored.iter_mut()).zip(attached) {
            match outcome {
                Some(Ok(o)) => {
                    named.push(o.entry.clone());
                    named.extend(entries);
                }
                _ => stored.clear(),
            }
        }
        if named.is_empty() {
            return;
        }
        if let Err(e) = self.layout.add_to_index(named) {
            let mut e = Some(e);
            for (outcome, stored) in outcomes.iter_mut().zip(stored.iter_mut()) {
                stored.clear();
                if matches!(outcome, Some(Ok(_))) {
                    *outcome = e.take().map(Err);
                }
            }
        }
    }

    /// A registry index stored with platforms dropped is kept as the registry sent it too
    /// (not as a blob), so the next mirror of its tag finds it instead of fetching it. A
    /// failure to keep it costs that fetch, nothing more.
    fn keep_source_index(&self, prepared: &PreparedImage, o: &CopyOutcome, i: usize) {
        let root = prepared.reader.root();
        if o.kept_original_index
            || o.entry.digest == root.digest
            || self.layout.has_blob(&root.digest, root.size)
        {
            // Stored whole, or as the blob a subset names: found there next time.
            return;
        }
        if !matches!(self.entries[i].source, ImageSource::Registry(_)) {
            return;
        }
        // The reader holds the index it opened with: no request.
        let kept = prepared
            .reader
            .read_document(root)
            .and_then(|bytes| self.layout.keep_source_index(&root.digest, &bytes));
        if let Err(e) = kept {
            tracing::debug!(
                "{}: source index not kept: {e}",
                self.entries[i].destination
            );
        }
    }
}

fn summary(o: &CopyOutcome) -> String {
    format!(
        "{} new blob(s), {}, {} reused: stored before or shared with another image",
        o.blobs_written,
        human_bytes(o.bytes_written),
        o.blobs_present
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::descriptor::{ANNOTATION_REF_NAME, OCI_CONFIG, OCI_LAYER_TAR, OCI_MANIFEST};

    #[test]
    fn an_images_summary_counts_the_layers_fetched_for_it() {
        let dir = tempfile::tempdir().unwrap();
        let source = Layout::create(&dir.path().join("src")).unwrap();
        let config =
            br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
        let layer = vec![7u8; 300 * 1024];
        let config_digest = source.write_blob_bytes(config, None, "t").unwrap();
        let layer_digest = source.write_blob_bytes(&layer, None, "t").unwrap();
        let manifest = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"{OCI_CONFIG}","digest":"{config_digest}","size":{}}},"layers":[{{"mediaType":"{OCI_LAYER_TAR}","digest":"{layer_digest}","size":{}}}]}}"#,
            config.len(),
            layer.len()
        );
        let digest = source
            .write_blob_bytes(manifest.as_bytes(), None, "t")
            .unwrap();
        let mut entry = Descriptor::new(OCI_MANIFEST, digest, manifest.len() as u64);
        entry
            .annotations
            .insert(ANNOTATION_REF_NAME.to_string(), "app:1".to_string());
        source.add_to_index(vec![entry]).unwrap();
        let list = crate::image::ImageList::parse(
            "oci:src:app:1 example.com/app:1\n",
            &dir.path().join("images.txt"),
        )
        .unwrap();
        let tally = crate::report::Tally::default();
        let run = mirror(
            &list.entries,
            &dir.path().join("out"),
            &MirrorOptions::default(),
            &tally,
        )
        .unwrap();
        let outcome = &run.images[0].outcome;
        assert!(outcome.bytes_written > layer.len() as u64, "{outcome:?}");
        tally.assert_counts();
        let finished = tally.finished.lock().unwrap();
        assert_eq!(finished.len(), 1);
        assert_eq!(finished[0].1, summary(outcome), "what the item told");
    }
}
