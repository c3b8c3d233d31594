//! Copying one image from an [`ImageReader`] into the store, keeping only the selected
//! platforms.
//!
//! Order matters for crash safety: layers and configs first, then each manifest, then the
//! index, and only then the `index.json` entry. A run killed at any point leaves
//! `index.json` naming only complete images; the blobs already copied are reused next time.
//!
//! When every platform of an index is kept, the index is stored byte for byte as received,
//! so its digest (and any signature over it) survives. When some are dropped, a new index
//! is written that differs from the original only in its `manifests` array. When a
//! signature or another artifact names the original index ([`Selection::keep_original`]),
//! the original's bytes are stored too, as a plain blob, and the new index names it in
//! [`INDEX_ORIGINAL`]: a signature over the whole index can then be checked against bytes
//! in the layout, and the subset shown to come from it ([`check_subset`]). That blob is
//! not walked for children (the other platforms' manifests are deliberately absent).

use super::descriptor::{Descriptor, ManifestDoc, ManifestKind};
use super::digest::Digest;
use super::index::named;
use super::layout::{Layout, Presence};
use super::platform::{Platform, PlatformSpec};
use super::source::ImageReader;
use super::{OciError, Result};
use serde_json::{Map, Value};

/// The annotation of an index stored with platforms dropped that names the index it was
/// cut from (`sha256:<hex>`), itself stored as a plain blob.
pub const INDEX_ORIGINAL: &str = "dev.seedforge.index.original";

/// What one image copy did.
#[derive(Debug, Clone, PartialEq)]
pub struct CopyOutcome {
    /// The `index.json` entry that now names the image.
    pub entry: Descriptor,
    /// Blobs written by this copy.
    pub blobs_written: usize,
    /// Blobs that were already present (shared layers, reruns).
    pub blobs_present: usize,
    /// Bytes written by this copy.
    pub bytes_written: u64,
    /// True when the source's index was kept byte for byte.
    pub kept_original_index: bool,
    /// The platforms stored (`linux/amd64`, …); empty when the image states none.
    pub platforms: Vec<String>,
}

/// An image with its platforms chosen: everything about a copy that can be decided (and
/// refused) before anything is written.
#[derive(Debug, Clone)]
pub struct Selection {
    root: Descriptor,
    root_bytes: Vec<u8>,
    kind: Selected,
    keep_original: bool,
    carry_named_original: bool,
}

#[derive(Debug, Clone)]
enum Selected {
    /// An index, the positions of the manifests kept and those manifests, read and parsed
    /// (in the order of `keep`).
    Index {
        children: Vec<Descriptor>,
        keep: Vec<usize>,
        manifests: Vec<ManifestDoc>,
    },
    /// A single image manifest whose config matched the selection.
    Image {
        doc: Box<ManifestDoc>,
        platform: Option<PlatformSpec>,
    },
}

impl Selection {
    /// Keeps the source's index (when platforms are dropped) as a blob that the stored
    /// index names in [`INDEX_ORIGINAL`]: for an image whose signatures or other artifacts
    /// name that index.
    pub fn keep_original(&mut self) {
        self.keep_original = true;
    }

    /// The index this one names as the one it was cut from ([`INDEX_ORIGINAL`]): an image
    /// read back from a layout that stores a platform subset.
    pub fn named_original(&self) -> Option<Digest> {
        let Selected::Index { .. } = &self.kind else {
            return None;
        };
        named_original(&self.root_bytes)
    }

    /// Copies the index [`Selection::named_original`] names along with the image, when the
    /// source holds it (a layout or archive on disk, whose blobs are read by digest alone).
    pub fn carry_named_original(&mut self) {
        self.carry_named_original = true;
    }

    /// Whether the root is a subset of the index `original` ([`check_subset`]).
    pub fn is_cut_from(&self, original: &[u8]) -> bool {
        check_subset(&self.root_bytes, original).is_ok()
    }

    /// Whether some platforms of an index are left out.
    pub fn drops_platforms(&self) -> bool {
        match &self.kind {
            Selected::Index { children, keep, .. } => keep.len() != children.len(),
            Selected::Image { .. } => false,
        }
    }

    /// The image manifests selected: the root itself, or the index's kept children.
    pub fn manifests(&self) -> &[ManifestDoc] {
        match &self.kind {
            Selected::Index { manifests, .. } => manifests,
            Selected::Image { doc, .. } => std::slice::from_ref(doc),
        }
    }

    /// Whether this is an image a container runtime runs (an index, or a manifest whose
    /// config is an image config naming a platform), rather than another artifact a list
    /// names (a signature, an SBOM, a chart), which is carried as it is, for the registry.
    pub fn is_image(&self) -> bool {
        const IMAGE_CONFIGS: &[&str] = &[
            "application/vnd.oci.image.config.v1+json",
            "application/vnd.docker.container.image.v1+json",
        ];
        match &self.kind {
            Selected::Index { .. } => true,
            Selected::Image { doc, platform } => {
                platform.is_some()
                    && doc
                        .config
                        .as_ref()
                        .is_some_and(|c| IMAGE_CONFIGS.contains(&c.media_type.as_str()))
            }
        }
    }

    /// The platform manifests kept of an index (none for a single manifest).
    pub fn kept_children(&self) -> impl Iterator<Item = &Descriptor> {
        let kept: &[usize] = match &self.kind {
            Selected::Index { keep, .. } => keep,
            Selected::Image { .. } => &[],
        };
        let children: &[Descriptor] = match &self.kind {
            Selected::Index { children, .. } => children,
            Selected::Image { .. } => &[],
        };
        kept.iter().filter_map(|&i| children.get(i))
    }

    /// The root the layout stores for this selection, as [`copy_image_blobs`] names it:
    /// the source's own, or, when platforms are dropped, the index cut to those kept
    /// (naming the source's index when [`Selection::keep_original`] was asked). Computed
    /// without writing: what `seedforge lock` pins as `stored`.
    pub fn stored_root(&self) -> Result<Descriptor> {
        match &self.kind {
            Selected::Index { children, keep, .. } if keep.len() != children.len() => {
                let original = self.keep_original.then_some(&self.root.digest);
                let filtered =
                    subset_index(&self.root_bytes, keep, original).map_err(|source| {
                        OciError::Json {
                            context: format!("index {}", self.root.digest),
                            source,
                        }
                    })?;
                Ok(Descriptor::new(
                    &self.root.media_type,
                    Digest::of(&filtered),
                    filtered.len() as u64,
                ))
            }
            _ => Ok(self.root.clone()),
        }
    }

    /// The layers of the selected manifests, base first, manifest after manifest.
    pub fn layers(&self) -> impl Iterator<Item = &Descriptor> {
        self.manifests()
            .iter()
            .flat_map(|m| m.layers.iter().flatten())
    }
}

fn context(destination: &str, reader: &dyn ImageReader) -> String {
    format!("{destination} (from {})", reader.describe())
}

fn parse_document(descriptor: &Descriptor, bytes: &[u8], context: &str) -> Result<ManifestDoc> {
    ManifestDoc::parse(bytes).map_err(|source| OciError::Json {
        context: format!("{context}: manifest {}", descriptor.digest),
        source,
    })
}

fn unsupported(descriptor: &Descriptor, context: &str) -> OciError {
    OciError::Unsupported(format!(
        "{context}: {} has media type {:?}, which is neither an image manifest nor an index (Docker schema 1 images are not supported)",
        descriptor.digest, descriptor.media_type
    ))
}

fn no_platform(
    context: &str,
    wanted: &[Platform],
    available: impl Iterator<Item = PlatformSpec>,
) -> OciError {
    let available: Vec<String> = available.map(|p| p.to_string()).collect();
    OciError::NoMatchingPlatform {
        image: context.to_string(),
        wanted: wanted
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        available: if available.is_empty() {
            "no platform information".to_string()
        } else {
            available.join(", ")
        },
    }
}

/// Reads the image's root manifest or index and decides which platforms to copy. Fails
/// (with nothing written) when none of `platforms` is available. `platforms` must not be
/// empty.
pub fn select(
    reader: &dyn ImageReader,
    destination: &str,
    platforms: &[Platform],
) -> Result<Selection> {
    let context = context(destination, reader);
    let root = reader.root().clone();
    let root_bytes = reader.read_document(&root)?;
    let doc = parse_document(&root, &root_bytes, &context)?;
    let kind = match doc.kind(Some(&root.media_type)) {
        Some(ManifestKind::Index) => {
            let children = doc.manifests.unwrap_or_default();
            let keep = selected_children(&children, platforms);
            if keep.is_empty() {
                return Err(no_platform(
                    &context,
                    platforms,
                    children
                        .iter()
                        .filter_map(|c| c.platform.as_deref().cloned()),
                ));
            }
            let manifests = keep
                .iter()
                .map(|&i| child_manifest(reader, &children[i], &context))
                .collect::<Result<Vec<_>>>()?;
            Selected::Index {
                children,
                keep,
                manifests,
            }
        }
        Some(ManifestKind::Image) => {
            let config = doc
                .config
                .as_ref()
                .ok_or_else(|| unsupported(&root, &context))?;
            let config_bytes = reader.read_document(config)?;
            let platform = config_platform(&config_bytes);
            if let Some(p) = &platform
                && !platforms.iter().any(|sel| sel.matches_spec(p))
            {
                return Err(no_platform(&context, platforms, std::iter::once(p.clone())));
            }
            Selected::Image {
                doc: Box::new(doc),
                platform,
            }
        }
        None => return Err(unsupported(&root, &context)),
    };
    Ok(Selection {
        root,
        root_bytes,
        kind,
        keep_original: false,
        carry_named_original: false,
    })
}

/// An index's child, read and parsed: an image manifest (a nested index is refused).
fn child_manifest(
    reader: &dyn ImageReader,
    child: &Descriptor,
    context: &str,
) -> Result<ManifestDoc> {
    let bytes = reader.read_document(child)?;
    let doc = parse_document(child, &bytes, context)?;
    match doc.kind(Some(&child.media_type)) {
        Some(ManifestKind::Image) if doc.config.is_some() => Ok(doc),
        Some(ManifestKind::Image) => Err(unsupported(child, context)),
        Some(ManifestKind::Index) => Err(OciError::Unsupported(format!(
            "{context}: nested image indexes are not supported ({})",
            child.digest
        ))),
        None => Err(unsupported(child, context)),
    }
}

/// Copies a selected image from `reader` into `layout` and names it `destination` in
/// `index.json`. `progress` receives byte counts.
pub fn copy_image(
    reader: &dyn ImageReader,
    selection: &Selection,
    layout: &Layout,
    destination: &str,
    progress: &mut dyn FnMut(u64),
) -> Result<CopyOutcome> {
    let present = layout.presence();
    let outcome = copy_image_blobs(reader, selection, layout, &present, destination, progress)?;
    layout.add_to_index(vec![outcome.entry.clone()])?;
    Ok(outcome)
}

/// [`copy_image`] without the `index.json` step: every blob of the image is stored and
/// `entry` of the outcome is the named entry to add, so a caller copying many images can
/// name them all in one `index.json` update. `present` answers for `layout`'s blobs.
pub fn copy_image_blobs(
    reader: &dyn ImageReader,
    selection: &Selection,
    layout: &Layout,
    present: &Presence,
    destination: &str,
    progress: &mut dyn FnMut(u64),
) -> Result<CopyOutcome> {
    let mut copier = Copier {
        reader,
        layout,
        present,
        context: context(destination, reader),
        progress,
        outcome: CopyOutcome {
            entry: selection.root.clone(),
            blobs_written: 0,
            blobs_present: 0,
            bytes_written: 0,
            kept_original_index: false,
            platforms: Vec::new(),
        },
    };
    let root = &selection.root;
    let stored_root = match &selection.kind {
        Selected::Index {
            children,
            keep,
            manifests,
        } => {
            // The original the source's index names stays named unless this copy keeps
            // its own source's index as the original instead.
            let replaced = selection.keep_original && keep.len() != children.len();
            if selection.carry_named_original
                && !replaced
                && let Some(original) = selection.named_original()
            {
                copier.carry_original(&original)?;
            }
            copier.copy_index(
                root,
                &selection.root_bytes,
                children,
                keep,
                manifests,
                selection.keep_original,
            )?
        }
        Selected::Image { doc, platform } => {
            copier.copy_manifest(root, Some(&selection.root_bytes), doc)?;
            copier
                .outcome
                .platforms
                .extend(platform.iter().map(ToString::to_string));
            root.clone()
        }
    };
    let entry = named(
        Descriptor::new(
            &stored_root.media_type,
            stored_root.digest,
            stored_root.size,
        ),
        destination,
    );
    copier.outcome.entry = entry;
    Ok(copier.outcome)
}

struct Copier<'a> {
    reader: &'a dyn ImageReader,
    layout: &'a Layout,
    present: &'a Presence,
    context: String,
    progress: &'a mut dyn FnMut(u64),
    outcome: CopyOutcome,
}

impl Copier<'_> {
    fn copy_index(
        &mut self,
        root: &Descriptor,
        bytes: &[u8],
        children: &[Descriptor],
        keep: &[usize],
        manifests: &[ManifestDoc],
        keep_original: bool,
    ) -> Result<Descriptor> {
        for (&i, doc) in keep.iter().zip(manifests) {
            let child = &children[i];
            self.copy_manifest(child, None, doc)?;
            if let Some(p) = &child.platform {
                self.outcome.platforms.push(p.to_string());
            }
        }
        if keep.len() == children.len() {
            self.outcome.kept_original_index = true;
            self.store_document(root, Some(bytes))?;
            return Ok(root.clone());
        }
        // The original first: the index naming it is never stored without it.
        let original = keep_original.then_some(&root.digest);
        if keep_original {
            self.store_document(root, Some(bytes))?;
        }
        let filtered = subset_index(bytes, keep, original).map_err(|source| OciError::Json {
            context: format!("{}: index {}", self.context, root.digest),
            source,
        })?;
        let descriptor = Descriptor::new(
            &root.media_type,
            Digest::of(&filtered),
            filtered.len() as u64,
        );
        self.store_document(&descriptor, Some(&filtered))?;
        Ok(descriptor)
    }

    /// Copies `original`, the index the source's index was cut from, as a plain blob, when
    /// the source holds it whole; when it does not, the stored index names a blob the
    /// layout lacks, and `seedforge verify` says so.
    fn carry_original(&mut self, original: &Digest) -> Result<()> {
        use std::io::Read as _;
        if self.layout.blob_path(original).is_file() {
            self.outcome.blobs_present += 1;
            return Ok(());
        }
        let descriptor = Descriptor::new("application/octet-stream", original.clone(), 0);
        let mut bytes = Vec::new();
        let read = self.reader.open_blob(&descriptor).and_then(|r| {
            r.take(super::layout::MAX_DOCUMENT_SIZE + 1)
                .read_to_end(&mut bytes)
                .map_err(|source| OciError::Read {
                    context: self.context.clone(),
                    source,
                })
        });
        let why = match read {
            Err(e) => Some(e.to_string()),
            Ok(_) if Digest::of(&bytes) != *original => {
                Some("its content hashes to another digest".to_string())
            }
            Ok(_) => None,
        };
        if let Some(why) = why {
            tracing::debug!(
                "{}: the index {original} it was cut from is not copied: {why}",
                self.context
            );
            return Ok(());
        }
        self.layout.write_blob_bytes(
            &bytes,
            Some((original, bytes.len() as u64)),
            &self.context,
        )?;
        self.outcome.blobs_written += 1;
        self.outcome.bytes_written += bytes.len() as u64;
        Ok(())
    }

    /// Copies layers, then the config, then the manifest (`bytes`, when they are at hand).
    /// A config or manifest the store holds already is not read from the source again.
    fn copy_manifest(
        &mut self,
        descriptor: &Descriptor,
        bytes: Option<&[u8]>,
        doc: &ManifestDoc,
    ) -> Result<()> {
        let config = doc
            .config
            .as_ref()
            .ok_or_else(|| unsupported(descriptor, &self.context))?;
        for layer in doc.layers.iter().flatten() {
            self.copy_blob(layer)?;
        }
        self.store_document(config, None)?;
        self.store_document(descriptor, bytes)
    }

    fn copy_blob(&mut self, descriptor: &Descriptor) -> Result<()> {
        if self.present.has(&descriptor.digest, descriptor.size) {
            self.outcome.blobs_present += 1;
            return Ok(());
        }
        let mut reader = self.reader.open_blob(descriptor)?;
        let (_, size) = self.layout.write_blob(
            &mut reader,
            Some((&descriptor.digest, descriptor.size)),
            &self.context,
            self.progress,
        )?;
        self.outcome.blobs_written += 1;
        self.outcome.bytes_written += size;
        Ok(())
    }

    /// Stores a manifest, index or config: `bytes`, or when they are not at hand what the
    /// source gives (read only when the store lacks it).
    fn store_document(&mut self, descriptor: &Descriptor, bytes: Option<&[u8]>) -> Result<()> {
        if self.present.has(&descriptor.digest, descriptor.size) {
            self.outcome.blobs_present += 1;
            return Ok(());
        }
        let read;
        let bytes = match bytes {
            Some(b) => b,
            None => {
                read = self.reader.read_document(descriptor)?;
                &read
            }
        };
        self.layout.write_blob_bytes(
            bytes,
            Some((&descriptor.digest, descriptor.size)),
            &self.context,
        )?;
        (self.progress)(bytes.len() as u64);
        self.outcome.blobs_written += 1;
        self.outcome.bytes_written += bytes.len() as u64;
        Ok(())
    }
}

/// Positions of the index entries whose platform one of `platforms` selects; every entry
/// (with a platform or not) for [`Platform::all`].
pub fn selected_children(children: &[Descriptor], platforms: &[Platform]) -> Vec<usize> {
    if platforms.iter().any(Platform::is_all) {
        return (0..children.len()).collect();
    }
    (0..children.len())
        .filter(|&i| {
            children[i]
                .platform
                .as_ref()
                .is_some_and(|p| platforms.iter().any(|sel| sel.matches_spec(p)))
        })
        .collect()
}

/// The platform an image config declares, if it declares one.
pub fn config_platform(config: &[u8]) -> Option<PlatformSpec> {
    let value: Value = serde_json::from_slice(config).ok()?;
    let os = value.get("os")?.as_str()?.to_string();
    let architecture = value.get("architecture")?.as_str()?.to_string();
    // A signature's or another artifact's config may carry the fields empty: no platform.
    if os.is_empty() || architecture.is_empty() {
        return None;
    }
    Some(PlatformSpec {
        architecture,
        os,
        os_version: None,
        os_features: None,
        variant: value
            .get("variant")
            .and_then(Value::as_str)
            .map(str::to_string),
        features: None,
    })
}

/// The index `bytes` with its `manifests` array reduced to the entries at `keep`; every
/// other field, and each kept entry, is carried over as received.
pub fn filtered_index(bytes: &[u8], keep: &[usize]) -> Result<Vec<u8>, serde_json::Error> {
    subset_index(bytes, keep, None)
}

/// [`filtered_index`], naming `original` (the digest of `bytes`, stored beside it) in the
/// index's [`INDEX_ORIGINAL`] annotation when given: added last to its annotations, or as
/// its last field when it has none.
pub fn subset_index(
    bytes: &[u8],
    keep: &[usize],
    original: Option<&Digest>,
) -> Result<Vec<u8>, serde_json::Error> {
    let mut map: Map<String, Value> = serde_json::from_slice(bytes)?;
    if let Some(Value::Array(entries)) = map.get_mut("manifests") {
        let kept: Vec<Value> = keep
            .iter()
            .filter_map(|&i| entries.get(i).cloned())
            .collect();
        *entries = kept;
    }
    if let Some(original) = original {
        let annotations = map
            .entry("annotations")
            .or_insert_with(|| Value::Object(Map::new()));
        let Value::Object(annotations) = annotations else {
            return Err(serde::de::Error::custom(
                "its annotations are not an object",
            ));
        };
        annotations.insert(INDEX_ORIGINAL.to_string(), original.to_string().into());
    }
    serde_json::to_vec(&Value::Object(map))
}

/// The digest an index's [`INDEX_ORIGINAL`] annotation names, if it names one.
pub fn named_original(bytes: &[u8]) -> Option<Digest> {
    let doc: Value = serde_json::from_slice(bytes).ok()?;
    doc.get("annotations")?
        .get(INDEX_ORIGINAL)?
        .as_str()?
        .parse()
        .ok()
}

/// The index `bytes` without its [`INDEX_ORIGINAL`] annotation (and without its
/// annotations when that was the only one), as [`filtered_index`] would have written it;
/// `None` when it names no original. For copies that do not carry the original (airgap
/// archives), so that they name no blob they lack.
pub fn without_original(bytes: &[u8]) -> Result<Option<Vec<u8>>, serde_json::Error> {
    let mut map: Map<String, Value> = serde_json::from_slice(bytes)?;
    let Some(Value::Object(annotations)) = map.get_mut("annotations") else {
        return Ok(None);
    };
    if annotations.shift_remove(INDEX_ORIGINAL).is_none() {
        return Ok(None);
    }
    if annotations.is_empty() {
        map.shift_remove("annotations");
    }
    serde_json::to_vec(&Value::Object(map)).map(Some)
}

/// Checks that the index `subset` was cut from the index `original` (the blob its
/// [`INDEX_ORIGINAL`] annotation names): every manifest it lists is listed by the original
/// with the same descriptor, and it differs from the original in nothing else but that
/// annotation. The error says what differs.
pub fn check_subset(subset: &[u8], original: &[u8]) -> std::result::Result<(), String> {
    let parse = |bytes: &[u8], what: &str| {
        serde_json::from_slice::<Map<String, Value>>(bytes)
            .map_err(|e| format!("the {what} index does not parse: {e}"))
    };
    let mut subset = parse(subset, "stored")?;
    let mut original = parse(original, "original")?;
    let entries = |map: &mut Map<String, Value>, what: &str| match map.remove("manifests") {
        Some(Value::Array(entries)) => Ok(entries),
        _ => Err(format!("the {what} index has no manifests array")),
    };
    let kept = entries(&mut subset, "stored")?;
    let all = entries(&mut original, "original")?;
    for entry in &kept {
        if !all.contains(entry) {
            let digest = entry.get("digest").and_then(Value::as_str).unwrap_or("?");
            return Err(format!(
                "it lists manifest {digest}, which the original does not list with the same descriptor"
            ));
        }
    }
    // What the annotation adds aside, the rest is the original's, as received.
    for map in [&mut subset, &mut original] {
        if let Some(Value::Object(annotations)) = map.get_mut("annotations") {
            annotations.remove(INDEX_ORIGINAL);
            if annotations.is_empty() {
                map.remove("annotations");
            }
        }
    }
    if subset != original {
        return Err(
            "it differs from the original in more than its manifests and the annotation naming it"
                .into(),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::ImageSource;
    use crate::oci::descriptor::OCI_INDEX;
    use crate::oci::local;
    use std::path::Path;

    const PAUSE_INDEX: &str =
        "sha256:b28e2f8f190c5e8f7ca8ab6e2e93b27aa4907795fce001f18c12f653f83ecd87";

    fn pause() -> Box<dyn ImageReader> {
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/images");
        let source = ImageSource::parse("oci:oci:mirrored-pause:3.6", &fixtures).unwrap();
        // A layout on disk: no registry is reached.
        local::open(&source, &crate::oci::registry::Registries::offline()).unwrap()
    }

    fn copy(platforms: &[&str]) -> (tempfile::TempDir, Result<CopyOutcome>) {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::create(&dir.path().join("oci")).unwrap();
        let platforms: Vec<Platform> = platforms.iter().map(|p| p.parse().unwrap()).collect();
        let reader = pause();
        let dest = "docker.io/rancher/mirrored-pause:3.6";
        let result = select(reader.as_ref(), dest, &platforms)
            .and_then(|sel| copy_image(reader.as_ref(), &sel, &layout, dest, &mut |_| {}));
        (dir, result)
    }

    #[test]
    fn all_platforms_keep_the_original_index_bytes() {
        let (_dir, outcome) = copy(&["linux/amd64", "linux/arm64"]);
        let outcome = outcome.unwrap();
        assert!(outcome.kept_original_index);
        assert_eq!(outcome.entry.digest.to_string(), PAUSE_INDEX);
        assert_eq!(outcome.entry.media_type, OCI_INDEX);
        assert_eq!(outcome.platforms, ["linux/amd64", "linux/arm64/v8"]);
    }

    #[test]
    fn one_platform_writes_a_reduced_index_with_every_blob_present() {
        let (dir, outcome) = copy(&["linux/arm64"]);
        let outcome = outcome.unwrap();
        assert!(!outcome.kept_original_index);
        assert_ne!(outcome.entry.digest.to_string(), PAUSE_INDEX);
        let layout = Layout::open(&dir.path().join("oci")).unwrap();
        let bytes = layout.read_blob(&outcome.entry.digest).unwrap();
        let doc = ManifestDoc::parse(&bytes).unwrap();
        let children = doc.manifests.unwrap();
        assert_eq!(children.len(), 1);
        assert_eq!(children[0].platform.as_ref().unwrap().architecture, "arm64");
        let manifest = ManifestDoc::parse(&layout.read_blob(&children[0].digest).unwrap()).unwrap();
        for blob in manifest.image_blobs() {
            assert!(
                layout.has_blob(&blob.digest, blob.size),
                "{} missing",
                blob.digest
            );
        }
        // The amd64 manifest was not copied.
        let index = ManifestDoc::parse(&pause().read_document(pause().root()).unwrap()).unwrap();
        let amd64 = &index.manifests.unwrap()[0];
        assert!(!layout.has_blob(&amd64.digest, amd64.size));
    }

    #[test]
    fn a_subset_kept_with_its_original_names_the_original_blob() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::create(dir.path()).unwrap();
        let reader = pause();
        let dest = "docker.io/rancher/mirrored-pause:3.6";
        let arm64: [Platform; 1] = ["linux/arm64".parse().unwrap()];
        let plain = select(reader.as_ref(), dest, &arm64).unwrap();
        assert!(plain.drops_platforms());
        let mut sel = plain.clone();
        sel.keep_original();
        let outcome = copy_image(reader.as_ref(), &sel, &layout, dest, &mut |_| {}).unwrap();
        let original: Digest = PAUSE_INDEX.parse().unwrap();
        // What the copy stores is known before it: `seedforge lock` pins it so.
        assert_eq!(sel.stored_root().unwrap().digest, outcome.entry.digest);
        let original_bytes = layout.read_blob(&original).unwrap();
        assert_eq!(Digest::of(&original_bytes), original);
        let stored = layout.read_blob(&outcome.entry.digest).unwrap();
        let doc: Value = serde_json::from_slice(&stored).unwrap();
        assert_eq!(doc["annotations"][INDEX_ORIGINAL], PAUSE_INDEX);
        assert_eq!(doc["manifests"].as_array().unwrap().len(), 1);
        check_subset(&stored, &original_bytes).unwrap();
        // The same subset without the original: no annotation, the digest it always had.
        let other = tempfile::tempdir().unwrap();
        let bare = Layout::create(other.path()).unwrap();
        let without = copy_image(reader.as_ref(), &plain, &bare, dest, &mut |_| {}).unwrap();
        assert_ne!(without.entry.digest, outcome.entry.digest);
        assert_eq!(plain.stored_root().unwrap().digest, without.entry.digest);
        assert!(!bare.has_blob(&original, original_bytes.len() as u64));
        let bare_bytes = bare.read_blob(&without.entry.digest).unwrap();
        assert!(!String::from_utf8_lossy(&bare_bytes).contains(INDEX_ORIGINAL));
        assert_eq!(bare_bytes, filtered_index(&original_bytes, &[1]).unwrap());
        // Every platform kept: the original is the index itself, nothing is added.
        let mut all = select(reader.as_ref(), dest, &[Platform::all()]).unwrap();
        assert!(!all.drops_platforms());
        all.keep_original();
        let whole = copy_image(reader.as_ref(), &all, &bare, dest, &mut |_| {}).unwrap();
        assert_eq!(whole.entry.digest, original);
        assert_eq!(all.stored_root().unwrap().digest, whole.entry.digest);
    }

    #[test]
    fn an_index_read_back_from_a_layout_brings_its_original_along() {
        let dir = tempfile::tempdir().unwrap();
        let first = Layout::create(&dir.path().join("first")).unwrap();
        let reader = pause();
        let dest = "docker.io/rancher/mirrored-pause:3.6";
        let amd64 = [Platform::linux_amd64()];
        let mut sel = select(reader.as_ref(), dest, &amd64).unwrap();
        sel.keep_original();
        let stored = copy_image(reader.as_ref(), &sel, &first, dest, &mut |_| {}).unwrap();
        let source = ImageSource::parse(&format!("oci:first:{dest}"), dir.path()).unwrap();
        let registries = crate::oci::registry::Registries::offline();
        let original: Digest = PAUSE_INDEX.parse().unwrap();
        for carry in [true, false] {
            let again = local::open(&source, &registries).unwrap();
            assert_eq!(again.root().digest, stored.entry.digest);
            let mut sel = select(again.as_ref(), dest, &amd64).unwrap();
            assert_eq!(sel.named_original(), Some(original.clone()));
            if carry {
                sel.carry_named_original();
            }
            let out = tempfile::tempdir().unwrap();
            let second = Layout::create(out.path()).unwrap();
            let copied = copy_image(again.as_ref(), &sel, &second, dest, &mut |_| {}).unwrap();
            assert_eq!(copied.entry.digest, stored.entry.digest);
            let tally = crate::report::Tally::default();
            let report = crate::oci::verify::verify(&second, &tally).unwrap();
            if carry {
                assert!(report.is_sound(), "{report:?}");
                assert_eq!(Digest::of(&second.read_blob(&original).unwrap()), original);
            } else {
                assert!(
                    matches!(&report.problems[..], [f] if f.digest == PAUSE_INDEX),
                    "{report:?}"
                );
            }
        }
    }

    #[test]
    fn a_subset_is_checked_against_its_original() {
        let original = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"digest":"sha256:aa","size":1,"platform":{"os":"linux","architecture":"amd64"}},{"digest":"sha256:bb","size":2}]}"#;
        let digest = Digest::of(original);
        let subset = subset_index(original, &[1], Some(&digest)).unwrap();
        let text = String::from_utf8(subset.clone()).unwrap();
        assert!(
            text.ends_with(&format!(
                r#""annotations":{{"{INDEX_ORIGINAL}":"{digest}"}}}}"#
            )),
            "{text}"
        );
        check_subset(&subset, original).unwrap();
        check_subset(
            &subset_index(original, &[0, 1], Some(&digest)).unwrap(),
            original,
        )
        .unwrap();
        // A manifest the original lists otherwise (its size), or not at all.
        let changed = text.replace(r#""size":2"#, r#""size":3"#);
        let e = check_subset(changed.as_bytes(), original).unwrap_err();
        assert!(e.contains("sha256:bb"), "{e}");
        let foreign = text.replace("sha256:bb", "sha256:cc");
        assert!(check_subset(foreign.as_bytes(), original).is_err());
        // Anything else changed: refused too.
        let other_type = text.replace("image.index.v1", "image.manifest.v1");
        let e = check_subset(other_type.as_bytes(), original).unwrap_err();
        assert!(e.contains("more than its manifests"), "{e}");
        let annotated = text.replace(r#""annotations":{"#, r#""annotations":{"x":"y","#);
        assert!(check_subset(annotated.as_bytes(), original).is_err());
        // An original with annotations of its own keeps them, the new one added last.
        let with = br#"{"manifests":[{"digest":"sha256:aa","size":1}],"annotations":{"x":"y"}}"#;
        let subset = subset_index(with, &[], Some(&digest)).unwrap();
        assert_eq!(
            String::from_utf8(subset.clone()).unwrap(),
            format!(
                r#"{{"manifests":[],"annotations":{{"x":"y","{INDEX_ORIGINAL}":"{digest}"}}}}"#
            )
        );
        check_subset(&subset, with).unwrap();
        assert!(check_subset(&subset, original).is_err());
        // Without the annotation: what the filter alone writes.
        for (bytes, keep) in [(&with[..], &[][..]), (&original[..], &[1][..])] {
            let named = subset_index(bytes, keep, Some(&digest)).unwrap();
            assert_eq!(
                without_original(&named).unwrap(),
                Some(filtered_index(bytes, keep).unwrap())
            );
        }
        assert_eq!(without_original(original).unwrap(), None);
        assert_eq!(without_original(with).unwrap(), None);
    }

    #[test]
    fn missing_platform_is_an_input_error_naming_what_exists() {
        let (dir, outcome) = copy(&["linux/s390x"]);
        let err = outcome.unwrap_err();
        assert!(err.is_invalid_input());
        let text = err.to_string();
        assert!(text.contains("linux/amd64, linux/arm64/v8"), "{text}");
        let layout = Layout::open(&dir.path().join("oci")).unwrap();
        assert!(layout.read_index().unwrap().manifests.is_empty());
    }

    #[test]
    fn rerun_writes_nothing_new() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::create(dir.path()).unwrap();
        let amd64 = [Platform::linux_amd64()];
        let reader = pause();
        let sel = select(reader.as_ref(), "x/p:1", &amd64).unwrap();
        let first = copy_image(reader.as_ref(), &sel, &layout, "x/p:1", &mut |_| {}).unwrap();
        let second = copy_image(reader.as_ref(), &sel, &layout, "x/p:1", &mut |_| {}).unwrap();
        assert!(first.blobs_written > 0);
        assert_eq!(second.blobs_written, 0);
        assert_eq!(first.entry, second.entry);
    }

    #[test]
    fn filtered_index_keeps_everything_else() {
        let raw = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"a":1,"z":0},{"b":2}],"annotations":{"x":"y"}}"#;
        let out = filtered_index(raw, &[1]).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"b":2}],"annotations":{"x":"y"}}"#
        );
        let out = filtered_index(raw, &[0]).unwrap();
        assert!(
            String::from_utf8(out)
                .unwrap()
                .contains(r#"[{"a":1,"z":0}]"#)
        );
    }

    #[test]
    fn config_platform_reads_os_arch_variant() {
        let p = config_platform(br#"{"architecture":"arm","os":"linux","variant":"v7"}"#).unwrap();
        assert_eq!(p.to_string(), "linux/arm/v7");
        assert!(config_platform(br#"{"rootfs":{}}"#).is_none());
        // A cosign signature's config: the fields there, empty.
        assert!(config_platform(br#"{"architecture":"","os":"","rootfs":{}}"#).is_none());
    }
}
