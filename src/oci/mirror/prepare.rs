//! Opening an image list: every source opened (registry tags resolved to digests, root
//! manifests read, platforms chosen, the artifacts beside each image found and the
//! signature policy applied) before anything is written.

use super::attachments::{PreparedAttachment, prepare_attached};
use super::options::{MirrorOptions, effective_platforms, opener_count};
use super::policy;
use super::select::{at_line, selected_layers};
use crate::image::{ImageSource, ListEntry};
use crate::oci::copy::{Selection, select};
use crate::oci::descriptor::{Descriptor, ManifestDoc};
use crate::oci::digest::Digest;
use crate::oci::platform::Platform;
use crate::oci::registry::reader::ResolvedTag;
use crate::oci::source::ImageReader;
use crate::oci::{OciError, Result, local};
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// An image whose source is open and whose platforms are chosen, ready to copy.
pub struct PreparedImage {
    pub(super) reader: Box<dyn ImageReader>,
    pub(super) selection: Selection,
    resolved: Option<ResolvedTag>,
    pub(super) attached: Vec<PreparedAttachment>,
    pub(super) verified: Vec<policy::VerifiedSignature>,
    pinned_whole: bool,
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

    /// The root the layout stores for it once copied (see [`Selection::stored_root`]).
    pub fn stored_root(&self) -> Result<Descriptor> {
        self.selection.stored_root()
    }

    /// The layers of the manifests `platforms` selects, read from the source's manifests
    /// (small documents, kept for the copy); no layer is fetched. An index kept whole
    /// ([`PreparedImage::pinned_whole`]) gives every platform's.
    pub fn selected_layers(&self, platforms: &[Platform]) -> Result<Vec<Descriptor>> {
        if self.pinned_whole {
            return Ok(self.selection.layers().cloned().collect());
        }
        selected_layers(self.reader.as_ref(), &effective_platforms(platforms))
    }

    /// Whether the entry names the image by the digest of its index, which is then kept
    /// whole (every platform and attestation manifest), whatever the platforms: a platform
    /// subset would be another index under another digest, and the nodes ask for this one.
    pub fn pinned_whole(&self) -> bool {
        self.pinned_whole
    }

    /// What keeping a pinned index whole adds to the platforms `platforms` selects: the
    /// manifests added (platform, or `attestation` for an attestation manifest) and the
    /// bytes of their configs and layers that the selected ones do not share.
    pub fn whole_cost(&self, platforms: &[Platform]) -> (Vec<String>, u64) {
        if !self.pinned_whole {
            return (Vec::new(), 0);
        }
        let platforms = effective_platforms(platforms);
        let children: Vec<&Descriptor> = self.selection.kept_children().collect();
        let chosen = crate::oci::copy::selected_children(
            &children.iter().map(|d| (*d).clone()).collect::<Vec<_>>(),
            &platforms,
        );
        let mut selected = std::collections::HashSet::new();
        for &i in &chosen {
            if let Some(m) = self.selection.manifests().get(i) {
                selected.extend(m.image_blobs().into_iter().map(|b| b.digest.clone()));
            }
        }
        let mut added = Vec::new();
        let mut counted = std::collections::HashSet::new();
        let mut bytes = 0;
        for (i, (child, doc)) in children.iter().zip(self.selection.manifests()).enumerate() {
            if chosen.contains(&i) {
                continue;
            }
            let attestation = child
                .annotations
                .get("vnd.docker.reference.type")
                .is_some_and(|t| t == "attestation-manifest");
            added.push(match (&child.platform, attestation) {
                (_, true) => "attestation".to_string(),
                (Some(p), false) => p.to_string(),
                (None, false) => child.digest.to_string(),
            });
            bytes += child.size;
            for blob in doc.image_blobs() {
                if !selected.contains(&blob.digest) && counted.insert(blob.digest.clone()) {
                    bytes += blob.size;
                }
            }
        }
        (added, bytes)
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
pub(super) fn entries_failed(mut failed: Vec<OciError>) -> OciError {
    if failed.len() == 1 {
        failed.remove(0)
    } else {
        OciError::Entries(failed)
    }
}

/// Opens one source and chooses its platforms.
pub(super) fn prepare_one(
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
    // A local source names no digest of its own: the destination's must be its root's.
    if e.source.is_local()
        && let Some(d) = e.destination.digest()
        && d != reader.root().digest.to_string()
    {
        return Err(OciError::Source {
            source_name: e.source.to_string(),
            message: format!(
                "destination {} carries digest {d}, which is not the source's ({}); name the destination by tag alone, or by the digest of the image the source holds",
                e.destination,
                reader.root().digest
            ),
        });
    }
    // An entry naming the image by its index digest keeps the index whole: the nodes ask
    // the registry and their image store for that digest, which no platform subset has.
    let pinned_whole = pins_index(e, reader.as_ref());
    let all = [Platform::all()];
    let chosen = if pinned_whole { &all[..] } else { platforms };
    let mut selection = select(reader.as_ref(), &e.destination.to_string(), chosen)?;
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
        pinned_whole,
    })
}

/// Whether the entry's destination carries the digest of the source's root and that root
/// is an index (a manifest pinned by its digest is stored as it is anyway).
fn pins_index(e: &ListEntry, reader: &dyn ImageReader) -> bool {
    let root = reader.root();
    if e.destination.digest() != Some(root.digest.to_string().as_str()) {
        return false;
    }
    // The root's bytes are at hand (the reader opened with them): no request.
    reader
        .read_document(root)
        .ok()
        .and_then(|bytes| ManifestDoc::parse(&bytes).ok())
        .is_some_and(|doc| {
            doc.kind(Some(&root.media_type)) == Some(crate::oci::descriptor::ManifestKind::Index)
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
        .take(crate::oci::layout::MAX_DOCUMENT_SIZE + 1)
        .read_to_end(&mut bytes)
        .ok()?;
    (Digest::of(&bytes) == digest && selection.is_cut_from(&bytes)).then_some(digest)
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
        let reader =
            crate::oci::registry::RegistryReader::open_in(registries, reference, name, known)?;
        let resolved = reader.resolved().cloned();
        return Ok((Box::new(reader), resolved));
    }
    Ok((local::open_in(source, registries, &options.opened)?, None))
}
