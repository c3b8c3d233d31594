//! `build --offline` and `plan --offline`: build from what an earlier online build left,
//! never touching the network.
//!
//! The air-gap workflow is: build once with network access (that pins every registry tag in
//! `seedforge.lock` and fills `OUT/oci` and `OUT/packages`), carry the config folder and
//! `OUT` across, and build again there with `--offline` (to change nodes, templates or
//! certificates, say). Offline:
//!
//! - a registry image (`docker://…`) is read from `OUT/oci` at the digest the lock pins
//!   (or the reference pins); its manifest or index and every blob of the selected platforms
//!   must be there. The mirror step then finds everything in place and only re-names the
//!   images in `index.json`; the verify step re-hashes the layout as usual.
//! - a package bundle from an `http(s)://` repository is kept as it is when
//!   `OUT/packages/<name>.tar.gz` is the tarball the lock records for the same inputs
//!   (repository, suite, components, architecture, sets, packages, base list, source
//!   date); a bundle cannot be resolved again without its repository.
//! - local sources (`oci:`, `oci-archive:`, `docker-archive:`, `.deb` files, `file://`
//!   repositories) work as usual; a local image source that is not here is read from
//!   `OUT/oci` at the digest `OUT/manifest.json` records for its destination
//!   ([`super::offline_images`]: the far side lacks a folder the near side added).
//!
//! Everything missing is found while planning and reported at once (exit 2, nothing
//! written). Reaching the network is also made impossible rather than just avoided: the
//! plan's [`Net`](crate::net::Net) is offline, and every registry client, package index,
//! .deb and `files:` download goes through it, so none can open a connection.

use crate::config::Config;
use crate::debs::config::BundleConfig;
use crate::debs::repo::PackageSource;
use crate::debs::{BundleReport, DebsError};
use crate::image::{ImageSource, ListEntry, Reference};
use crate::oci::copy::selected_children;
use crate::oci::descriptor::{Descriptor, ManifestDoc, ManifestKind, OCI_INDEX, OCI_MANIFEST};
use crate::oci::digest::digest_reader;
use crate::oci::layout::{BlobDir, Layout};
use crate::oci::mirror::{MirroredImage, PreparedImage};
use crate::oci::registry::lockfile::{BundlePin, LockFile, VerifiedPin};
use crate::oci::source::ImageReader;
use crate::oci::{Digest, OciError, Platform};
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The manifests and indexes the offline check read and checked against their digests,
/// kept for the images' readers: selection and the mirror step then read each from memory
/// instead of opening it twice more. Bounded: past [`KEPT_DOCUMENT_BYTES`] in all, further
/// documents are read from the layout as before.
type KeptDocuments = HashMap<Digest, Arc<[u8]>>;
const KEPT_DOCUMENT_BYTES: usize = 64 << 20;

/// One input an offline build cannot get, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    /// `image DEST (from SOURCE)` or `bundle NAME (from URL SUITE)`.
    pub what: String,
    /// What is missing.
    pub reason: String,
}

/// `--offline` was asked for, but the lock and the output folder do not hold everything.
#[derive(Debug, thiserror::Error)]
pub struct OfflineError {
    /// The lock file.
    pub lock: PathBuf,
    /// True when there is no lock file at all.
    pub no_lock: bool,
    /// The output folder.
    pub output: PathBuf,
    /// Everything missing, in config order (images first).
    pub missing: Vec<Missing>,
}

impl fmt::Display for OfflineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.no_lock {
            writeln!(
                f,
                "--offline: there is no lock file at {}, and {} input(s) need the network:",
                self.lock.display(),
                self.missing.len()
            )?;
        } else {
            writeln!(
                f,
                "--offline: {} input(s) are not available without the network:",
                self.missing.len()
            )?;
        }
        for m in &self.missing {
            writeln!(f, "  {}: {}", m.what, m.reason)?;
        }
        write!(
            f,
            "To fix it, run the same build once with network access (without --offline): it pins every registry image in {} and fills {} with the images and package bundles; then carry the config folder (with seedforge.lock) and {} across together.",
            self.lock.display(),
            self.output.display(),
            self.output.display()
        )
    }
}

/// Why [`Offline::check`] failed. Its own type, not the crate's `Error`: the crate root
/// gathers this module's errors, so this module does not use the root's.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// The lock file could not be read.
    #[error(transparent)]
    Lock(#[from] OciError),
    /// A bundle's inputs (its base list, its local .debs) could not be read.
    #[error(transparent)]
    Inputs(#[from] DebsError),
    /// The lock or the output folder lacks something.
    #[error(transparent)]
    Missing(#[from] OfflineError),
}

/// A bundle kept from an earlier build because its repository cannot be reached.
#[derive(Debug, Clone)]
pub struct KeptBundle {
    /// Bundle name.
    pub name: String,
    /// `URL SUITE`.
    pub origin: String,
    /// Packages requested (sets expanded).
    pub requested: usize,
    /// `.deb`s inside, as the lock records.
    pub debs: usize,
    /// The tarball's sha256 (hex), checked while planning.
    pub sha256: String,
    /// Its size.
    pub file_bytes: u64,
}

impl KeptBundle {
    /// The bundle `b` of the config, kept as the tarball with `sha256` and `file_bytes`
    /// that holds `debs` .debs.
    fn of(b: &BundleConfig, origin: String, debs: usize, sha256: &str, file_bytes: u64) -> Self {
        KeptBundle {
            name: b.name.clone(),
            origin,
            requested: crate::debs::sets::expand(&b.sets, &b.packages).map_or(0, |r| r.len()),
            debs,
            sha256: sha256.to_string(),
            file_bytes,
        }
    }

    /// The report of a packages step that kept this bundle.
    pub fn report(&self, out: &Path) -> BundleReport {
        BundleReport {
            path: out.to_path_buf(),
            sha256: self.sha256.clone(),
            file_bytes: self.file_bytes,
            debs: self.debs,
        }
    }
}

/// What an offline plan found in the lock and the output folder: where each registry
/// image is in the layout, and the bundles kept.
#[derive(Debug)]
pub struct Offline {
    layout: PathBuf,
    /// By destination: the source as listed and the root the layout stores.
    roots: BTreeMap<String, (String, Descriptor)>,
    /// The artifacts stored with each image (by destination): its `index.json` entries.
    attached: Arc<BTreeMap<String, Vec<Descriptor>>>,
    kept: Vec<KeptBundle>,
    notes: Vec<String>,
    documents: Arc<KeptDocuments>,
}

impl Offline {
    /// Checks that the lock and `output` hold every registry image of `entries` for
    /// `platforms` and every remote bundle of `config`; fails naming everything missing.
    pub fn check(
        config: &Config,
        output: &Path,
        entries: &[ListEntry],
        platforms: &[Platform],
        source_date_epoch: u64,
        carried: &BTreeMap<String, String>,
        sha256: &dyn Fn(&Path) -> std::io::Result<String>,
    ) -> Result<Offline, CheckError> {
        let lock_path = LockFile::path_for(&config.path);
        let lock = LockFile::load(&lock_path).map_err(OciError::from)?;
        let no_lock = lock.is_none();
        let lock = lock.unwrap_or_default();
        let pinned_in = |what: &str| {
            if no_lock {
                format!("{what} (no lock file)")
            } else {
                format!("{what} in {}", lock_path.display())
            }
        };
        let layout_dir = output.join("oci");
        let store = Store::open(&layout_dir);
        let platforms = if platforms.is_empty() {
            vec![Platform::linux_amd64()]
        } else {
            platforms.to_vec()
        };
        let mut missing = Vec::new();
        let mut roots = BTreeMap::new();
        for e in entries {
            let ImageSource::Registry(reference) = &e.source else {
                continue;
            };
            let source = e.source.to_string();
            let destination = e.destination.to_string();
            let found = pinned_digest(reference, &source, &lock)
                .ok_or_else(|| pinned_in("not pinned"))
                .and_then(|pinned| {
                    let root = lock.stored.get(&source).unwrap_or(&pinned);
                    store.find(root, &destination, &platforms)
                });
            match found {
                Ok(root) => {
                    roots.insert(destination, (source, root));
                }
                Err(reason) => missing.push(Missing {
                    what: format!("image {destination} (from {source})"),
                    reason,
                }),
            }
        }
        // A local source not here whose image the output seals: taken from its layout.
        let mut taken = Vec::new();
        for (e, root) in super::offline_images::sealed_roots(output, entries) {
            let destination = e.destination.to_string();
            if let Ok(found) = store.find(&root, &destination, &platforms) {
                taken.push(super::offline_images::note(e, output, &root));
                roots.insert(destination, (e.source.to_string(), found));
            }
        }
        let mut kept = Vec::new();
        // Bundles a delta carried: the near side's, whatever the far side's inputs say.
        for b in &config.packages {
            let Some(sha256) = carried.get(&b.name) else {
                continue;
            };
            let out = bundle_path(output, &b.name);
            let found = tarball(&out, sha256).and_then(|file_bytes| {
                let debs = count_debs(&out).map_err(|e| format!("{}: {e}", out.display()))?;
                Ok(KeptBundle::of(
                    b,
                    "the delta".into(),
                    debs,
                    sha256,
                    file_bytes,
                ))
            });
            match found {
                Ok(k) => kept.push(k),
                Err(reason) => missing.push(Missing {
                    what: format!("bundle {} (carried by the delta)", b.name),
                    reason,
                }),
            }
        }
        let mut notes = taken;
        for b in
            (config.packages.iter()).filter(|b| !is_remote(b) && !carried.contains_key(&b.name))
        {
            // Built again from its .debs, unless they are not the ones the lock pins while
            // the config and the base list say what the pin says: then the pinned bundle
            // (the near side's, from a delta) is kept as the output holds it.
            let Some(pin) = lock.packages.get(&b.name) else {
                continue;
            };
            let out = bundle_path(output, &b.name);
            let mtime = source_date_epoch;
            if pin.spec.as_deref() != Some(bundle_spec(b, &config.dir, mtime)?.as_str())
                || inputs_digest(b, &config.dir, mtime, Some(sha256))
                    .ok()
                    .as_deref()
                    == Some(&pin.inputs)
            {
                continue;
            }
            if let Ok(file_bytes) = tarball(&out, &pin.sha256) {
                notes.push(kept_note(b, &config.dir, &lock_path, &out));
                kept.push(KeptBundle::of(
                    b,
                    origin(b),
                    pin.debs,
                    &pin.sha256,
                    file_bytes,
                ));
            }
        }
        for b in (config.packages.iter()).filter(|b| is_remote(b) && !carried.contains_key(&b.name))
        {
            let origin = origin(b);
            let out = bundle_path(output, &b.name);
            let result = match lock.packages.get(&b.name) {
                None => Err(pinned_in("not recorded")),
                Some(pin) => {
                    let inputs = inputs_digest(b, &config.dir, source_date_epoch, Some(sha256))?;
                    let spec = bundle_spec(b, &config.dir, source_date_epoch)?;
                    if pin.inputs != inputs && pin.spec.as_deref() == Some(spec.as_str()) {
                        // Only its local .debs differ from the pinned ones.
                        tarball(&out, &pin.sha256).map(|file_bytes| {
                            notes.push(kept_note(b, &config.dir, &lock_path, &out));
                            KeptBundle::of(b, origin.clone(), pin.debs, &pin.sha256, file_bytes)
                        })
                    } else if pin.inputs != inputs {
                        Err(format!(
                            "its inputs (repository, suite, components, arch, sets, packages, base list or source date) changed since {} recorded it",
                            lock_path.display()
                        ))
                    } else {
                        tarball(&out, &pin.sha256).map(|file_bytes| {
                            KeptBundle::of(b, origin.clone(), pin.debs, &pin.sha256, file_bytes)
                        })
                    }
                }
            };
            match result {
                Ok(k) => kept.push(k),
                Err(reason) => missing.push(Missing {
                    what: format!("bundle {} (from {origin})", b.name),
                    reason,
                }),
            }
        }
        // Payload files from a URL must already be in OUT/files with the config's digest.
        for f in &config.files {
            let crate::files::FileSource::Url(_) = &f.source else {
                continue;
            };
            let path = output.join("files").join(&f.name);
            let reason = match crate::hashing::sha256_found(&path) {
                Ok(h) if h == f.sha256 => continue,
                Ok(h) => format!("{} holds sha256 {h}, not the config's", path.display()),
                Err(_) => format!("{} is not there yet", path.display()),
            };
            missing.push(Missing {
                what: format!("payload file {} (from {})", f.name, f.source.display()),
                reason,
            });
        }
        if !missing.is_empty() {
            return Err(OfflineError {
                lock: lock_path,
                no_lock,
                output: output.to_path_buf(),
                missing,
            }
            .into());
        }
        Ok(Offline {
            layout: layout_dir,
            roots,
            attached: Arc::new(store.attached),
            kept,
            notes,
            documents: Arc::new(store.documents.into_inner().0),
        })
    }

    /// What the build should be told: bundles kept although their local .debs differ.
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// Opens a registry entry from the layout (for [`crate::oci::mirror::prepare_with`]);
    /// `None` for local sources, which open as usual.
    pub fn open(&self, entry: &ListEntry) -> Option<crate::oci::Result<Box<dyn ImageReader>>> {
        let destination = entry.destination.to_string();
        if entry.source.is_local() && !self.roots.contains_key(&destination) {
            return None;
        }
        Some(match self.roots.get(&destination) {
            Some((source, root)) => Ok(Box::new(PinnedReader {
                dir: self.layout.clone(),
                name: source.clone(),
                root: root.clone(),
                documents: Arc::clone(&self.documents),
                attached: self.attached.get(&destination).cloned().unwrap_or_default(),
            }) as Box<dyn ImageReader>),
            None => Err(OciError::Source {
                source_name: entry.source.to_string(),
                message: "not available offline".into(),
            }),
        })
    }

    /// The bundle kept under `name`, if it is one.
    pub fn kept(&self, name: &str) -> Option<&KeptBundle> {
        self.kept.iter().find(|k| k.name == name)
    }
}

/// The digest a registry source stands for: the one its reference pins, else the lock's.
fn pinned_digest(reference: &Reference, source: &str, lock: &LockFile) -> Option<Digest> {
    match reference.digest() {
        Some(d) => d.parse().ok(),
        None => lock.images.get(source).cloned(),
    }
}

/// The output layout, read-only, for the offline checks.
struct Store {
    dir: PathBuf,
    /// The layout's blob folder, held open (each blob looked up by its name in it), or why
    /// the layout cannot be read.
    blobs: Result<BlobDir, String>,
    /// The media type `index.json` names each image's root with, by name and digest: one
    /// look-up per image, whatever the number of images.
    named: HashMap<(String, Digest), String>,
    /// The blobs found stored so far (the ten images sharing a base ask for it once).
    present: RefCell<HashSet<(Digest, u64)>>,
    /// The documents read so far, and their bytes in all.
    documents: RefCell<(KeptDocuments, usize)>,
    /// The artifacts stored with each image (by destination).
    attached: BTreeMap<String, Vec<Descriptor>>,
}

impl Store {
    fn open(dir: &Path) -> Store {
        let layout = if dir.exists() {
            Layout::open(dir).map_err(|e| e.to_string())
        } else {
            Err(format!("{} does not exist", dir.display()))
        };
        let index = layout.as_ref().ok().and_then(|l| l.read_index().ok());
        let named = index.as_ref().map_or_else(HashMap::new, |i| {
            (i.by_name().into_iter())
                .map(|(n, d)| ((n.to_owned(), d.digest.clone()), d.media_type.clone()))
                .collect()
        });
        let mut attached: BTreeMap<String, Vec<Descriptor>> = BTreeMap::new();
        for e in index.iter().flat_map(|i| i.manifests.iter()) {
            if let Some((to, _, _)) = crate::oci::attached::of_entry(e) {
                attached.entry(to.to_string()).or_default().push(e.clone());
            }
        }
        Store {
            dir: dir.to_path_buf(),
            blobs: layout.as_ref().map(Layout::blob_dir).map_err(Clone::clone),
            named,
            attached,
            present: RefCell::new(HashSet::new()),
            documents: RefCell::new((HashMap::new(), 0)),
        }
    }

    /// Finds the image whose root is `root` in the layout and checks that every blob of
    /// the `platforms` it needs is stored; returns the root's descriptor.
    fn find(
        &self,
        root: &Digest,
        destination: &str,
        platforms: &[Platform],
    ) -> Result<Descriptor, String> {
        let blobs = self.blobs.as_ref().map_err(Clone::clone)?;
        let at = self.dir.display();
        let (bytes, doc) = self
            .document(blobs, root)
            .map_err(|what| format!("its manifest {root} {what}"))?;
        // The media type the layout already names it with, else the document's own.
        let named = (self.named)
            .get(&(destination.to_owned(), root.clone()))
            .cloned();
        let kind = doc.kind(named.as_deref());
        let media_type = named
            .or_else(|| doc.media_type.clone())
            .unwrap_or_else(|| match kind {
                Some(ManifestKind::Index) => OCI_INDEX.to_string(),
                _ => OCI_MANIFEST.to_string(),
            });
        let mut lacking = Vec::new();
        match kind {
            Some(ManifestKind::Index) => {
                let children = doc.manifests.clone().unwrap_or_default();
                let keep = selected_children(&children, platforms);
                if keep.is_empty() {
                    return Err(format!(
                        "its index {root} in {at} has no manifest for {}",
                        platforms
                            .iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                }
                for i in keep {
                    let child = &children[i];
                    match self.document(blobs, &child.digest) {
                        Ok((_, child_doc)) => self.image_blobs(blobs, &child_doc, &mut lacking),
                        Err(what) => return Err(format!("manifest {} {what}", child.digest)),
                    }
                }
            }
            Some(ManifestKind::Image) => self.image_blobs(blobs, &doc, &mut lacking),
            None => {
                return Err(format!(
                    "{root} in {at} is neither an image manifest nor an index"
                ));
            }
        }
        if !lacking.is_empty() {
            let shown = lacking
                .iter()
                .take(3)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ");
            let more = lacking.len().saturating_sub(3);
            let more = if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            };
            return Err(format!("{shown}{more} not in {at}"));
        }
        Ok(Descriptor::new(
            &media_type,
            root.clone(),
            bytes.len() as u64,
        ))
    }

    /// A stored manifest or index, read whole and checked against its digest; the error
    /// says what is wrong with it.
    fn document(&self, blobs: &BlobDir, digest: &Digest) -> Result<(Vec<u8>, ManifestDoc), String> {
        let at = self.dir.display();
        let damaged =
            |why: String| format!("is damaged in {at} ({why}); `seedforge verify` names it");
        let bytes = match blobs.read_document(&digest.key()) {
            Ok((bytes, _)) => bytes,
            Err(OciError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                return Err(format!("is not in {at}"));
            }
            Err(e) => return Err(damaged(e.to_string())),
        };
        let actual = Digest::of(&bytes);
        if &actual != digest {
            return Err(damaged(format!("its content hashes to {actual}")));
        }
        let doc = ManifestDoc::parse(&bytes).map_err(|e| damaged(e.to_string()))?;
        let (kept, total) = &mut *self.documents.borrow_mut();
        if *total + bytes.len() <= KEPT_DOCUMENT_BYTES && !kept.contains_key(digest) {
            *total += bytes.len();
            kept.insert(digest.clone(), Arc::from(bytes.as_slice()));
        }
        Ok((bytes, doc))
    }

    /// Records the config and layers of an image manifest that the layout lacks.
    fn image_blobs(&self, blobs: &BlobDir, doc: &ManifestDoc, lacking: &mut Vec<String>) {
        let config = doc.config.iter().map(|c| ("config", c));
        let layers = doc.layers.iter().flatten().map(|l| ("layer", l));
        for (what, d) in config.chain(layers) {
            let key = (d.digest.clone(), d.size);
            if self.present.borrow().contains(&key) {
                continue;
            }
            if blobs.has(&d.digest.key(), d.size) {
                self.present.borrow_mut().insert(key);
            } else {
                lacking.push(format!("{what} {}", d.digest));
            }
        }
    }
}

/// A registry image read from the output layout at its pinned root.
struct PinnedReader {
    dir: PathBuf,
    name: String,
    root: Descriptor,
    documents: Arc<KeptDocuments>,
    /// The artifacts the layout stores with it (their `index.json` entries).
    attached: Vec<Descriptor>,
}

impl ImageReader for PinnedReader {
    fn describe(&self) -> String {
        self.name.clone()
    }

    fn root(&self) -> &Descriptor {
        &self.root
    }

    /// Offline, the artifacts are those an earlier build stored with the image.
    fn attached(
        &self,
        _subjects: &[crate::oci::Digest],
    ) -> crate::oci::Result<Vec<crate::oci::source::Attached>> {
        let mut out = Vec::new();
        for e in &self.attached {
            let Some((_, kind, subject)) = crate::oci::attached::of_entry(e) else {
                continue;
            };
            let descriptor = Descriptor::new(&e.media_type, e.digest.clone(), e.size);
            out.push(crate::oci::source::Attached {
                kind,
                subject,
                reader: Box::new(PinnedReader {
                    dir: self.dir.clone(),
                    name: format!("{} ({} of {})", self.name, kind.as_str(), e.digest),
                    root: descriptor.clone(),
                    documents: Arc::clone(&self.documents),
                    attached: Vec::new(),
                }),
                descriptor,
                listing: None,
            });
        }
        Ok(out)
    }

    fn open_blob(&self, descriptor: &Descriptor) -> crate::oci::Result<Box<dyn Read + Send + '_>> {
        // Checked against its digest by the offline check, moments ago.
        if let Some(bytes) = self.documents.get(&descriptor.digest) {
            return Ok(Box::new(Cursor::new(Arc::clone(bytes))));
        }
        let path = self
            .dir
            .join("blobs")
            .join("sha256")
            .join(descriptor.digest.hex());
        let file = crate::input::open_regular(&path).map_err(|e| OciError::Source {
            source_name: self.name.clone(),
            message: format!(
                "blob {} is not in {} ({}); offline, registry images are read only from there",
                descriptor.digest,
                self.dir.display(),
                e.reason()
            ),
        })?;
        Ok(Box::new(file))
    }
}

/// True for a bundle with packages from an `http://` or `https://` repository.
pub fn is_remote(b: &BundleConfig) -> bool {
    b.sources.iter().any(|s| {
        matches!(s, PackageSource::Repo(r)
            if r.url.starts_with("http://") || r.url.starts_with("https://"))
    })
}

fn origin(b: &BundleConfig) -> String {
    b.sources
        .iter()
        .map(|s| match s {
            PackageSource::Repo(r) => format!("{} {}", crate::redact::url(&r.url), r.suite),
            PackageSource::Debs(_) => "local .deb files".to_string(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The note of a bundle kept offline whose local .debs are not the pinned ones.
fn kept_note(b: &BundleConfig, config_dir: &Path, lock: &Path, out: &Path) -> String {
    let folders: Vec<String> = (b.sources.iter())
        .filter_map(|s| match s {
            PackageSource::Debs(paths) => Some(paths),
            PackageSource::Repo(_) => None,
        })
        .flatten()
        .map(|p| config_dir.join(p).display().to_string())
        .collect();
    format!(
        "bundle {}: the .debs in {} are not those {} pins for it; offline, {} is kept as pinned (to make it from these .debs, build without --offline)",
        b.name,
        folders.join(", "),
        lock.display(),
        out.display()
    )
}

/// `OUT/packages/<name>.tar.gz`.
pub fn bundle_path(output: &Path, name: &str) -> PathBuf {
    output.join("packages").join(format!("{name}.tar.gz"))
}

/// A bundle's two digests the lock records: [`bundle_inputs`] and [`bundle_spec`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleInputs {
    /// [`bundle_inputs`].
    pub inputs: String,
    /// [`bundle_spec`].
    pub spec: String,
}

/// A digest of everything that decides what a bundle holds, as the lock records it:
/// paths are not part of it (the folder may move), the base list's content and the local
/// .debs' are.
pub fn bundle_inputs(b: &BundleConfig, config_dir: &Path, mtime: u64) -> Result<String, DebsError> {
    inputs_digest(b, config_dir, mtime, Some(&crate::hashing::sha256_file))
}

/// [`bundle_inputs`] with the local .debs left out (each folder of them counts as one
/// source, whatever it holds): what the config and the base list say of the bundle.
pub fn bundle_spec(b: &BundleConfig, config_dir: &Path, mtime: u64) -> Result<String, DebsError> {
    inputs_digest(b, config_dir, mtime, None)
}

/// Hashes a file (hex sha256): `hashing::sha256_file`, or a build's stat cache.
type Hasher<'a> = &'a dyn Fn(&Path) -> std::io::Result<String>;

/// The digest of `b`'s inputs, with its local .debs hashed by `local_debs` (a build's stat
/// cache, say), or left out when `None`.
fn inputs_digest(
    b: &BundleConfig,
    config_dir: &Path,
    mtime: u64,
    local_debs: Option<Hasher<'_>>,
) -> Result<String, DebsError> {
    let base = match &b.base {
        Some(p) => {
            let path = config_dir.join(p);
            let bytes = crate::input::read(&path, crate::input::Kind::Text)
                .map_err(|e| DebsError::io(&path, e.into_io()))?;
            Some(Digest::of(&bytes).to_string())
        }
        None => None,
    };
    let mut doc = serde_json::json!({
        "name": b.name,
        "arch": b.arch,
        "sets": b.sets,
        "packages": b.packages.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "base": base,
        "mtime": mtime,
    });
    match &b.sources[..] {
        // One repository: the form locks have recorded from the start.
        [PackageSource::Repo(r)] => {
            doc["url"] = r.url.clone().into();
            doc["suite"] = r.suite.clone().into();
            doc["components"] = r.components.clone().into();
        }
        sources => {
            let mut list = Vec::new();
            for s in sources {
                list.push(match s {
                    PackageSource::Repo(r) => serde_json::json!({
                        "url": r.url, "suite": r.suite, "components": r.components,
                    }),
                    PackageSource::Debs(_) if local_debs.is_none() => {
                        serde_json::json!({ "debs": "local" })
                    }
                    // Local .debs by content, not by where they are.
                    PackageSource::Debs(paths) => {
                        let paths: Vec<PathBuf> =
                            paths.iter().map(|p| config_dir.join(p)).collect();
                        let hash = local_debs.unwrap_or(&crate::hashing::sha256_file);
                        let mut sums = Vec::new();
                        for f in crate::debs::repo::deb_files(&paths)? {
                            sums.push(hash(&f).map_err(|e| DebsError::io(&f, e))?);
                        }
                        serde_json::json!({ "debs": sums })
                    }
                });
            }
            doc["sources"] = list.into();
        }
    }
    Ok(Digest::of(doc.to_string().as_bytes()).to_string())
}

/// [`BundleInputs`] of every bundle of `config`, by name: what the lock records of each
/// once it is written. Local bundles are pinned too: an offline build that cannot make
/// the pinned bundle from its own .debs keeps it (see [`Offline::check`]).
pub fn pinned_bundle_inputs(
    config: &Config,
    mtime: u64,
    sha256: &dyn Fn(&Path) -> std::io::Result<String>,
) -> Result<BTreeMap<String, BundleInputs>, DebsError> {
    config
        .packages
        .iter()
        .map(|b| {
            let inputs = BundleInputs {
                inputs: inputs_digest(b, &config.dir, mtime, Some(sha256))?,
                spec: bundle_spec(b, &config.dir, mtime)?,
            };
            Ok((b.name.clone(), inputs))
        })
        .collect()
}

/// Records in `lock` the bundle an online build just wrote.
pub fn pin_bundle(lock: &mut LockFile, name: &str, inputs: &BundleInputs, report: &BundleReport) {
    lock.packages.insert(
        name.to_string(),
        BundlePin {
            inputs: inputs.inputs.clone(),
            spec: Some(inputs.spec.clone()),
            sha256: report.sha256.clone(),
            debs: report.debs,
        },
    );
}

/// The .debs a bundle holds: the paragraphs of its `Packages` index.
fn count_debs(path: &Path) -> std::io::Result<usize> {
    Ok(crate::debs::bundle::read_packages(path)?.len())
}

/// Checks that `path` is the tarball with sha256 `want`; returns its size.
fn tarball(path: &Path, want: &str) -> Result<u64, String> {
    let mut file = match crate::input::open_found(path) {
        Ok((f, _)) => f,
        Err(crate::input::InputError::Io { source, .. })
            if source.kind() == std::io::ErrorKind::NotFound =>
        {
            return Err(format!("{} is missing", path.display()));
        }
        Err(e) => return Err(e.to_string()),
    };
    let (digest, size) =
        digest_reader(&mut file).map_err(|e| format!("{}: {e}", path.display()))?;
    if digest.hex() != want {
        return Err(format!(
            "{} is not the tarball seedforge.lock records (sha256 {want}, found {})",
            path.display(),
            digest.hex()
        ));
    }
    Ok(size)
}

/// After an online mirror, records in `lock` the root stored for every registry image
/// whose index platform selection rewrote, so an offline build finds it.
pub fn record_stored(
    lock: &mut LockFile,
    entries: &[ListEntry],
    prepared: &[PreparedImage],
    mirrored: &[MirroredImage],
) {
    for ((e, p), m) in entries.iter().zip(prepared).zip(mirrored) {
        if matches!(e.source, ImageSource::Registry(_))
            && m.outcome.entry.digest != p.source_root().digest
        {
            lock.stored
                .insert(e.source.to_string(), m.outcome.entry.digest.clone());
        }
    }
}

/// Records in `lock` what an online mirror of the prepared images would
/// ([`record_stored`], [`record_verified`]), without mirroring: the root each registry image
/// is stored as is known once its platforms are chosen (`seedforge lock`).
pub fn record_planned(
    lock: &mut LockFile,
    entries: &[ListEntry],
    prepared: &[PreparedImage],
) -> Result<(), crate::oci::OciError> {
    for (e, p) in entries.iter().zip(prepared) {
        if !matches!(e.source, ImageSource::Registry(_)) {
            continue;
        }
        let stored = p.stored_root()?.digest;
        if stored != p.source_root().digest {
            lock.stored.insert(e.source.to_string(), stored);
        }
        if let Some(pin) = verified_pin(p) {
            lock.verified.insert(e.source.to_string(), pin);
        }
    }
    Ok(())
}

/// What the signature policy verified of a prepared image, as the lock pins it: its root
/// as its source serves it and the keys of the signatures that verified (`None` when none
/// did).
pub fn verified_pin(prepared: &PreparedImage) -> Option<VerifiedPin> {
    let mut keys: Vec<String> = prepared.verified().iter().map(|v| v.key.clone()).collect();
    if keys.is_empty() {
        return None;
    }
    keys.sort();
    keys.dedup();
    Some(VerifiedPin {
        digest: prepared.source_root().digest.clone(),
        keys,
    })
}

/// What the signature policy verified of each registry image of `entries` (by source),
/// for [`LockFile::check_verified`].
pub fn verified_now(
    entries: &[ListEntry],
    prepared: &[PreparedImage],
) -> Vec<(String, Option<VerifiedPin>)> {
    entries
        .iter()
        .zip(prepared)
        .filter(|(e, _)| matches!(e.source, ImageSource::Registry(_)))
        .map(|(e, p)| (e.source.to_string(), verified_pin(p)))
        .collect()
}

/// After an online mirror, records in `lock` which digest of every registry image the
/// signature policy verified, and by which keys.
pub fn record_verified(
    lock: &mut LockFile,
    entries: &[ListEntry],
    prepared: &[PreparedImage],
    mirrored: &[MirroredImage],
) {
    for ((e, p), _) in entries.iter().zip(prepared).zip(mirrored) {
        if let (ImageSource::Registry(_), Some(pin)) = (&e.source, verified_pin(p)) {
            lock.verified.insert(e.source.to_string(), pin);
        }
    }
}

#[cfg(test)]
#[path = "offline_tests.rs"]
mod tests;
