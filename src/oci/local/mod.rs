//! Image sources, named with skopeo's transports. Registry images (`docker://`) are
//! handed to [`RegistryReader`]; the rest live on local disk:
//!
//! - `oci:DIR[:ref]` — an OCI image layout directory;
//! - `oci-archive:FILE[:ref]` — a tar of an OCI image layout;
//! - `docker-archive:FILE[:ref]` — the `docker save` format, converted on the fly into an
//!   OCI image manifest whose config and layers are the archive's bytes, unchanged.
//!
//! Archives are never unpacked: one pass over the tar headers records where each member's
//! data starts, and blobs are then streamed straight out of the file with a seek.

use super::descriptor::{Descriptor, OCI_CONFIG, OCI_LAYER_GZIP, OCI_LAYER_TAR, OCI_MANIFEST};
use super::digest::{BlobKey, Digest};
use super::index::IndexDoc;
use super::layout::{BlobDir, MAX_DOCUMENT_SIZE, read_limited};
use super::registry::{Registries, RegistryReader};
use super::source::ImageReader;
use super::{OciError, Result};
use crate::image::ImageSource;
use serde::Deserialize;
use std::collections::{HashMap, HashSet};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

mod catalog;
mod tar_index;
use catalog::{DockerCatalog, DockerManifestEntry, OciCatalog};
pub use tar_index::TarIndex;

/// Opens the image a source names, reaching registries through `registries` (the
/// caller's: its credentials, trust and network limits; files are opened directly).
pub fn open(source: &ImageSource, registries: &Registries) -> Result<Box<dyn ImageReader>> {
    open_in(source, registries, &Opened::default())
}

/// The archives a run has scanned and the layouts whose `index.json` it has read, each
/// once, whichever of the run's entries names it: a list of a thousand images from one
/// `oci-archive:` reads its tar headers once, not a thousand times. What is kept is each
/// archive's member table (name, offset, size of each member) and each layout's index
/// (at most 16 MiB of JSON), so it is bounded by the sources the lists name. Only archives that
/// scanned cleanly are kept; a bad one is reported at each entry that names it.
#[derive(Debug, Default)]
pub struct Opened {
    tars: Slots<TarIndex>,
    dirs: Slots<OciDir>,
    oci_archives: Slots<OciCatalog>,
    docker_archives: Slots<DockerCatalog>,
    scans: std::sync::atomic::AtomicUsize,
}

/// What a run keeps of one source (an archive's member table, a layout's index), once
/// read; its lock is held while it is read.
type Slot<T> = std::sync::Mutex<Option<Arc<T>>>;
type Slots<T> = std::sync::Mutex<HashMap<PathBuf, Arc<Slot<T>>>>;

impl Opened {
    /// The member table of the archive at `path`, scanned on first use.
    fn tar(&self, path: &Path, source_name: &str) -> Result<Arc<TarIndex>> {
        self.once(&self.tars, path, || {
            self.scanned();
            TarIndex::scan(path, source_name)
        })
    }

    /// The images of the OCI layout `dir` by name, its `index.json` read on first use.
    fn dir(&self, dir: &Path, source_name: &str) -> Result<Arc<OciDir>> {
        self.once(&self.dirs, dir, || {
            self.scanned();
            let catalog = read_dir_index(dir, source_name).map(OciCatalog::new)?;
            Ok(OciDir {
                catalog,
                path: dir.to_path_buf(),
                blobs: BlobDir::open_folder(dir.join("blobs").join("sha256")),
                checked: Mutex::default(),
            })
        })
    }

    /// The images of the OCI archive at `path` by name, its `index.json` parsed on first use.
    fn oci_archive(
        &self,
        path: &Path,
        source_name: &str,
    ) -> Result<(Arc<TarIndex>, Arc<OciCatalog>)> {
        let tar = self.tar(path, source_name)?;
        let catalog = self.once(&self.oci_archives, path, || {
            if tar.size("oci-layout").is_none() {
                return Err(source_error(
                    source_name,
                    "not an OCI archive (no oci-layout member)",
                ));
            }
            let bytes = tar.read_small("index.json", source_name)?;
            let index = IndexDoc::parse(&bytes)
                .map_err(|e| source_error(source_name, format!("index.json: {e}")))?;
            Ok(OciCatalog::new(index))
        })?;
        Ok((tar, catalog))
    }

    /// The images of the docker-archive at `path` by tag, its `manifest.json` parsed on
    /// first use.
    fn docker_archive(
        &self,
        path: &Path,
        source_name: &str,
    ) -> Result<(Arc<TarIndex>, Arc<DockerCatalog>)> {
        let tar = self.tar(path, source_name)?;
        let catalog = self.once(&self.docker_archives, path, || {
            let bytes = tar.read_small("manifest.json", source_name)?;
            let entries: Vec<DockerManifestEntry> =
                serde_json::from_slice(&bytes).map_err(|source| OciError::Json {
                    context: format!("{source_name}: manifest.json"),
                    source,
                })?;
            Ok(DockerCatalog::new(entries))
        })?;
        Ok((tar, catalog))
    }

    fn scanned(&self) {
        self.scans
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// What `read` gives for `path`, kept in `slots`: read once per source, even when
    /// several entries open it at once (the slot's lock is held while it is read); a
    /// failure is not kept.
    fn once<T>(
        &self,
        slots: &Slots<T>,
        path: &Path,
        read: impl FnOnce() -> Result<T>,
    ) -> Result<Arc<T>> {
        let slot = {
            let mut slots = slots
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            slots.entry(path.to_path_buf()).or_default().clone()
        };
        let mut slot = slot
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(kept) = slot.as_ref() {
            return Ok(kept.clone());
        }
        let kept = Arc::new(read()?);
        *slot = Some(kept.clone());
        Ok(kept)
    }

    /// How many archives were scanned and layouts' indexes read.
    pub fn scans(&self) -> usize {
        self.scans.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// [`open`], taking archives a run has already scanned from `opened`.
pub fn open_in(
    source: &ImageSource,
    registries: &Registries,
    opened: &Opened,
) -> Result<Box<dyn ImageReader>> {
    let name = source.to_string();
    match source {
        ImageSource::OciDir { path, reference } => {
            let dir = opened.dir(path, &name)?;
            let root = dir.catalog.select(reference.as_deref(), &name)?;
            Ok(Box::new(OciDirReader { dir, name, root }))
        }
        ImageSource::OciArchive { path, reference } => {
            let (tar, catalog) = opened.oci_archive(path, &name)?;
            let root = catalog.select(reference.as_deref(), &name)?;
            Ok(Box::new(OciArchiveReader { tar, name, root }))
        }
        ImageSource::DockerArchive { path, reference } => {
            let (tar, catalog) = opened.docker_archive(path, &name)?;
            let entry = catalog.select(reference.as_deref(), &name)?;
            Ok(Box::new(DockerArchiveReader::open(tar, entry, name)?))
        }
        ImageSource::Registry(reference) => {
            Ok(Box::new(RegistryReader::open(registries, reference, name)?))
        }
    }
}

fn source_error(source_name: &str, message: impl Into<String>) -> OciError {
    OciError::Source {
        source_name: source_name.to_string(),
        message: message.into(),
    }
}

/// An image in an OCI layout directory.
pub struct OciDirReader {
    dir: Arc<OciDir>,
    name: String,
    root: Descriptor,
}

/// What a run keeps of one OCI layout directory it reads images from: its images by name,
/// its blob folder held open (each blob looked up by name in it), and the blobs already
/// found in place, so a base layer that a thousand images share is checked once.
#[derive(Debug)]
struct OciDir {
    catalog: OciCatalog,
    path: PathBuf,
    blobs: BlobDir,
    checked: Mutex<HashSet<(BlobKey, u64)>>,
}

/// The parsed `index.json` of the OCI layout `dir` (`name` is the source, for messages).
fn read_dir_index(dir: &Path, name: &str) -> Result<IndexDoc> {
    if !dir.join("oci-layout").is_file() {
        return Err(source_error(
            name,
            format!(
                "{} is not an OCI image layout (no oci-layout file)",
                dir.display()
            ),
        ));
    }
    let index_path = dir.join("index.json");
    // Refused or missing, index.json is bad input told at the list's line; a failing
    // read of a good file stays an I/O error.
    let bytes = read_limited(&index_path, MAX_DOCUMENT_SIZE).map_err(|e| match e {
        OciError::Input(refused) => source_error(
            name,
            format!("{}: {}", index_path.display(), refused.reason()),
        ),
        OciError::Io { path, source } if source.kind() == io::ErrorKind::NotFound => {
            source_error(name, format!("{}: {source}", path.display()))
        }
        other => other,
    })?;
    // A source that is not what it claims is bad input (exit 2), not a failure.
    IndexDoc::parse(&bytes)
        .map_err(|e| source_error(name, format!("{}: {e}", dir.join("index.json").display())))
}

impl ImageReader for OciDirReader {
    fn describe(&self) -> String {
        self.name.clone()
    }

    fn root(&self) -> &Descriptor {
        &self.root
    }

    fn open_blob(&self, descriptor: &Descriptor) -> Result<Box<dyn Read + Send + '_>> {
        let (file, _) = self.dir.blobs.open(&descriptor.digest.key()).map_err(|e| {
            source_error(
                &self.name,
                format!("blob {}: {}", descriptor.digest, e.reason()),
            )
        })?;
        Ok(Box::new(file))
    }

    fn check_blob(&self, descriptor: &Descriptor) -> Result<()> {
        let key = (descriptor.digest.key(), descriptor.size);
        let checked = || {
            self.dir
                .checked
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        };
        if checked().contains(&key) {
            return Ok(());
        }
        // A blob in place is looked up by name, one system call; anything else is opened
        // as before, to say exactly what is wrong with it.
        if !self.dir.blobs.has(&key.0, key.1) {
            check_blob_at(&self.dir.path, &self.name, descriptor)?;
        }
        checked().insert(key);
        Ok(())
    }
}

/// Why the blob `descriptor` of the layout `dir` cannot be read as the image says, if it
/// cannot: missing, not a regular file, or of another size.
fn check_blob_at(dir: &Path, name: &str, descriptor: &Descriptor) -> Result<()> {
    let path = dir
        .join("blobs")
        .join("sha256")
        .join(descriptor.digest.hex());
    let blob = |why: String| {
        source_error(
            name,
            format!("blob {} ({}): {why}", descriptor.digest, path.display()),
        )
    };
    let file = crate::input::open_regular(&path).map_err(|e| match &e {
        crate::input::InputError::Io { source, .. } if source.kind() == io::ErrorKind::NotFound => {
            blob("missing".into())
        }
        _ => blob(e.reason()),
    })?;
    let size = file.metadata().map_err(|e| OciError::io(&path, e))?.len();
    if size != descriptor.size {
        return Err(blob(format!(
            "holds {size} bytes, but the image's descriptor says {}",
            descriptor.size
        )));
    }
    Ok(())
}

/// An image in an OCI archive (a tar holding an OCI layout).
pub struct OciArchiveReader {
    tar: Arc<TarIndex>,
    name: String,
    root: Descriptor,
}

impl ImageReader for OciArchiveReader {
    fn describe(&self) -> String {
        self.name.clone()
    }

    fn root(&self) -> &Descriptor {
        &self.root
    }

    fn open_blob(&self, descriptor: &Descriptor) -> Result<Box<dyn Read + Send + '_>> {
        let member = format!("blobs/sha256/{}", descriptor.digest.hex());
        match self.tar.open(&member) {
            Some(Ok(r)) => Ok(Box::new(r)),
            Some(Err(e)) => Err(OciError::io(&self.tar.path, e)),
            None => Err(source_error(
                &self.name,
                self.tar
                    .regular(&member)
                    .err()
                    .unwrap_or_else(|| format!("{member} cannot be read")),
            )),
        }
    }

    fn check_blob(&self, descriptor: &Descriptor) -> Result<()> {
        let member = format!("blobs/sha256/{}", descriptor.digest.hex());
        self.tar.check(&member, descriptor.size, &self.name)
    }
}

/// The few fields of an image config needed to name layers.
#[derive(Debug, Deserialize)]
struct ConfigRootfs {
    rootfs: Rootfs,
}

#[derive(Debug, Deserialize)]
struct Rootfs {
    diff_ids: Vec<Digest>,
}

/// An image in a docker-archive, presented as an OCI image manifest.
pub struct DockerArchiveReader {
    tar: Arc<TarIndex>,
    name: String,
    root: Descriptor,
    manifest: Vec<u8>,
    /// Blob digest -> archive member.
    members: HashMap<Digest, String>,
}

impl DockerArchiveReader {
    fn open(
        tar: Arc<TarIndex>,
        entry: &DockerManifestEntry,
        name: String,
    ) -> Result<DockerArchiveReader> {
        let config_bytes = tar.read_small(&entry.config, &name)?;
        let config_digest = Digest::of(&config_bytes);
        let rootfs: ConfigRootfs =
            serde_json::from_slice(&config_bytes).map_err(|source| OciError::Json {
                context: format!("{name}: {}", entry.config),
                source,
            })?;
        if rootfs.rootfs.diff_ids.len() != entry.layers.len() {
            return Err(source_error(
                &name,
                format!(
                    "manifest.json lists {} layers but the config has {} diff_ids",
                    entry.layers.len(),
                    rootfs.rootfs.diff_ids.len()
                ),
            ));
        }
        let mut members = HashMap::new();
        members.insert(config_digest.clone(), entry.config.clone());
        let mut layers = Vec::new();
        for (member, diff_id) in entry.layers.iter().zip(&rootfs.rootfs.diff_ids) {
            let size = tar
                .regular(member)
                .map_err(|why| source_error(&name, format!("layer {why}")))?;
            let (digest, media_type) = layer_identity(&tar, member, diff_id, &name)?;
            members.insert(digest.clone(), member.clone());
            layers.push(Descriptor::new(media_type, digest, size));
        }
        let manifest = oci_manifest_bytes(
            &Descriptor::new(OCI_CONFIG, config_digest, config_bytes.len() as u64),
            &layers,
        );
        let root = Descriptor::new(OCI_MANIFEST, Digest::of(&manifest), manifest.len() as u64);
        Ok(DockerArchiveReader {
            tar,
            name,
            root,
            manifest,
            members,
        })
    }
}

/// A layer's digest and media type. Classic `docker save` layers are uncompressed tars whose
/// digest is the diff_id; newer archives store them under `blobs/sha256/<digest>`, possibly
/// compressed, in which case the file name is the digest.
fn layer_identity(
    tar: &TarIndex,
    member: &str,
    diff_id: &Digest,
    name: &str,
) -> Result<(Digest, &'static str)> {
    let mut magic = [0u8; 2];
    let compressed = match tar.open(member) {
        Some(Ok(mut r)) => r.read_exact(&mut magic).is_ok() && magic == [0x1f, 0x8b],
        _ => false,
    };
    if !compressed {
        return Ok((diff_id.clone(), OCI_LAYER_TAR));
    }
    let hex = member.strip_prefix("blobs/sha256/").unwrap_or_default();
    let digest = Digest::from_hex(hex).map_err(|_| {
        source_error(
            name,
            format!("layer {member} is compressed but not named by its digest"),
        )
    })?;
    Ok((digest, OCI_LAYER_GZIP))
}

/// Serialises an OCI image manifest with a fixed field order, so the same archive always
/// converts to the same manifest digest.
fn oci_manifest_bytes(config: &Descriptor, layers: &[Descriptor]) -> Vec<u8> {
    #[derive(serde::Serialize)]
    struct Manifest<'a> {
        #[serde(rename = "schemaVersion")]
        schema_version: u32,
        #[serde(rename = "mediaType")]
        media_type: &'a str,
        config: &'a Descriptor,
        layers: &'a [Descriptor],
    }
    serde_json::to_vec(&Manifest {
        schema_version: 2,
        media_type: OCI_MANIFEST,
        config,
        layers,
    })
    .unwrap_or_default()
}

impl ImageReader for DockerArchiveReader {
    fn describe(&self) -> String {
        self.name.clone()
    }

    fn root(&self) -> &Descriptor {
        &self.root
    }

    fn open_blob(&self, descriptor: &Descriptor) -> Result<Box<dyn Read + Send + '_>> {
        if descriptor.digest == self.root.digest {
            return Ok(Box::new(io::Cursor::new(self.manifest.as_slice())));
        }
        let member = self.members.get(&descriptor.digest).ok_or_else(|| {
            source_error(
                &self.name,
                format!("blob {} is not part of this image", descriptor.digest),
            )
        })?;
        match self.tar.open(member) {
            Some(Ok(r)) => Ok(Box::new(r)),
            Some(Err(e)) => Err(OciError::io(&self.tar.path, e)),
            None => Err(source_error(
                &self.name,
                self.tar
                    .regular(member)
                    .err()
                    .unwrap_or_else(|| format!("{member} cannot be read")),
            )),
        }
    }

    fn check_blob(&self, descriptor: &Descriptor) -> Result<()> {
        // The manifest is made here, from members already read or sized at open.
        if descriptor.digest == self.root.digest {
            return Ok(());
        }
        let member = self.members.get(&descriptor.digest).ok_or_else(|| {
            source_error(
                &self.name,
                format!("blob {} is not part of this image", descriptor.digest),
            )
        })?;
        self.tar.check(member, descriptor.size, &self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_naming_one_archive_scan_it_once() {
        let images = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/images");
        let sources = [
            ImageSource::OciArchive {
                path: images.join("traefik.oci.tar"),
                reference: None,
            },
            ImageSource::DockerArchive {
                path: images.join("busybox.docker.tar"),
                reference: Some("rancher/mirrored-library-busybox:1.36.1".into()),
            },
        ];
        let (registries, opened) = (Registries::offline(), Opened::default());
        let mut roots = Vec::new();
        for _ in 0..3 {
            for source in &sources {
                let reader = open_in(source, &registries, &opened).unwrap();
                roots.push(reader.root().digest.clone());
            }
        }
        assert_eq!(opened.scans(), 2, "each archive is scanned once");
        // A layout's index.json is read once for all the entries that name it.
        let layout = images.join("oci");
        for reference in [
            "mirrored-pause:3.6",
            "klipper-lb:v0.4.13",
            "mirrored-pause:3.6",
        ] {
            let source = ImageSource::OciDir {
                path: layout.clone(),
                reference: Some(reference.into()),
            };
            let reader = open_in(&source, &registries, &opened).unwrap();
            assert_eq!(
                reader.root().digest,
                open(&source, &registries).unwrap().root().digest
            );
        }
        assert_eq!(opened.scans(), 3);
        // Each entry's image is the one a fresh open gives.
        for (source, root) in sources.iter().cycle().zip(&roots) {
            let fresh = open(source, &registries).unwrap();
            assert_eq!(&fresh.root().digest, root);
        }
        // A missing archive is an error at every entry that names it, and is not kept.
        let missing = ImageSource::OciArchive {
            path: images.join("missing.oci.tar"),
            reference: None,
        };
        assert!(open_in(&missing, &registries, &opened).is_err());
        assert!(open_in(&missing, &registries, &opened).is_err());
    }
}
