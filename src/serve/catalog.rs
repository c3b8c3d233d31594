//! What a request sees of `OUT`: the folder opened once ([`Snapshot`]), and the layout's
//! `index.json` parsed into names ([`Catalog`]), kept while `index.json` is the same file.
//!
//! Names: an image stored as `REGISTRY/REPOSITORY:TAG` is served as `REPOSITORY:TAG` (what
//! `seedforge push` makes of it, and what k3s and containerd ask a mirror for) and as
//! `REGISTRY/REPOSITORY:TAG`. When two registries' images share a repository path,
//! containerd's `?ns=REGISTRY` (the registry the image is named under) decides; without
//! it, the first in `index.json` order wins.

use crate::image::Reference;
use crate::input::InputError;
use crate::oci::Digest;
use crate::oci::attached::{AttachedKind, of_entry};
use crate::oci::index::IndexDoc;
use std::collections::HashMap;
use std::fs::File;
use std::os::fd::AsFd as _;
use std::os::unix::fs::MetadataExt as _;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

/// One named manifest of the layout.
#[derive(Debug)]
pub(super) struct Entry {
    /// The registry it is named under (`docker.io`).
    pub registry: String,
    /// Its tag, if it is named by one.
    pub tag: Option<String>,
    /// The digest of its manifest or index.
    pub digest: Digest,
    /// Its media type as `index.json` gives it.
    pub media_type: String,
    /// Its size.
    pub size: u64,
    /// For a referrer stored beside an image: the digest it refers to.
    pub referrer_of: Option<Digest>,
    /// Whether it is an image (not a signature or another attached artifact).
    pub image: bool,
}

/// The layout's names, parsed from one `index.json`.
#[derive(Debug, Default)]
pub(super) struct Catalog {
    entries: Vec<Entry>,
    /// Repository name (short and full) to entries, in `index.json` order.
    repos: HashMap<String, Vec<u32>>,
    /// The short names, sorted, for `/v2/_catalog`.
    names: Vec<String>,
}

impl Catalog {
    fn parse(bytes: &[u8]) -> Result<Catalog, String> {
        let index = IndexDoc::parse(bytes).map_err(|e| e.to_string())?;
        let mut catalog = Catalog::default();
        for d in index.manifests {
            let Some(name) = d.ref_name() else { continue };
            let Ok(reference) = Reference::parse(name) else {
                tracing::debug!("index.json: {name:?} is not a reference; not served");
                continue;
            };
            let attached = of_entry(&d);
            let referrer_of = attached
                .as_ref()
                .filter(|(_, kind, _)| *kind == AttachedKind::Referrer)
                .map(|(_, _, subject)| subject.clone());
            let i = u32::try_from(catalog.entries.len()).unwrap_or(u32::MAX);
            let repository = reference.repository().to_string();
            let full = format!("{}/{repository}", reference.registry());
            for key in [repository.clone(), full] {
                catalog.repos.entry(key).or_default().push(i);
            }
            catalog.entries.push(Entry {
                registry: reference.registry().to_string(),
                tag: reference.tag().map(str::to_string),
                digest: d.digest.clone(),
                media_type: d.media_type.clone(),
                size: d.size,
                referrer_of,
                image: attached.is_none(),
            });
            catalog.names.push(repository);
        }
        catalog.names.sort();
        catalog.names.dedup();
        Ok(catalog)
    }

    /// How many images (attached artifacts not counted).
    pub fn images(&self) -> usize {
        self.entries.iter().filter(|e| e.image).count()
    }

    /// The repository `name` as `ns` sees it: its entries, or `None` when no image has
    /// that name.
    pub fn repo(&self, name: &str, ns: Option<&str>) -> Option<Repo<'_>> {
        let ids = self.repos.get(name)?;
        let all: Vec<&Entry> = ids.iter().map(|&i| &self.entries[i as usize]).collect();
        let of_ns: Vec<&Entry> = match ns {
            Some(ns) => all.iter().copied().filter(|e| e.registry == ns).collect(),
            None => Vec::new(),
        };
        Some(Repo {
            entries: if of_ns.is_empty() { all } else { of_ns },
        })
    }

    /// The short repository names, sorted.
    pub fn names(&self) -> &[String] {
        &self.names
    }
}

/// The entries of one repository.
pub(super) struct Repo<'a> {
    pub entries: Vec<&'a Entry>,
}

impl<'a> Repo<'a> {
    /// The entry tagged `tag`.
    pub fn tagged(&self, tag: &str) -> Option<&'a Entry> {
        self.entries
            .iter()
            .copied()
            .find(|e| e.tag.as_deref() == Some(tag))
    }

    /// The entry whose root is `digest`.
    pub fn by_digest(&self, digest: &Digest) -> Option<&'a Entry> {
        self.entries.iter().copied().find(|e| &e.digest == digest)
    }

    /// Its tags, sorted, each once.
    pub fn tags(&self) -> Vec<&'a str> {
        let mut tags: Vec<&str> = self
            .entries
            .iter()
            .filter_map(|e| e.tag.as_deref())
            .collect();
        tags.sort_unstable();
        tags.dedup();
        tags
    }

    /// The referrers stored for `subject`.
    pub fn referrers(&self, subject: &Digest) -> Vec<&'a Entry> {
        self.entries
            .iter()
            .copied()
            .filter(|e| e.referrer_of.as_ref() == Some(subject))
            .collect()
    }
}

/// Which `index.json` a catalog was parsed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Identity {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Identity {
    fn of(meta: &std::fs::Metadata) -> Identity {
        Identity {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.len(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        }
    }
}

/// The last catalog parsed, by the identity of its `index.json`.
#[derive(Default)]
pub(crate) struct Cache {
    last: Mutex<Option<(Identity, Arc<Catalog>)>>,
}

/// Why a request cannot see `OUT`.
#[derive(Debug)]
pub(super) enum OpenError {
    /// `OUT` or `OUT/oci` cannot be opened.
    Folder(&'static str, std::io::Error),
    /// `index.json` cannot be read.
    Index(InputError),
    /// `index.json` is not an OCI index.
    BadIndex(String),
}

impl OpenError {
    pub fn into_serve(self, out: &Path) -> super::ServeError {
        let (path, message) = match self {
            OpenError::Folder(name, e) => (
                out.join(name),
                format!("{e}: not a build output with an OCI layout in oci/"),
            ),
            OpenError::Index(e) => (out.join("oci/index.json"), e.reason()),
            OpenError::BadIndex(m) => (out.join("oci/index.json"), m),
        };
        super::ServeError::BadOutput { path, message }
    }
}

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OpenError::Folder(name, e) => write!(f, "{name}: {e}"),
            OpenError::Index(e) => write!(f, "{e}"),
            OpenError::BadIndex(m) => write!(f, "oci/index.json: {m}"),
        }
    }
}

/// `OUT` as one request sees it: the folder, its layout folder and the catalog of its
/// `index.json`, all from the one `OUT` opened.
pub(super) struct Snapshot {
    /// `OUT`.
    pub out: File,
    /// `OUT/oci`.
    pub oci: File,
    /// Its names.
    pub catalog: Arc<Catalog>,
}

impl Snapshot {
    /// Opens `out` and its layout; parses `index.json` unless `cache` has it.
    pub fn open(out: &Path, cache: &Cache) -> Result<Snapshot, OpenError> {
        let out_dir = crate::input::open_dir(out).map_err(|e| OpenError::Folder("", e))?;
        let oci = crate::input::open_dir_beneath(out_dir.as_fd(), "oci")
            .map_err(|e| OpenError::Folder("oci", e))?;
        let path = || out.join("oci/index.json");
        let (file, meta) = crate::input::open_found_beneath(oci.as_fd(), "index.json", &path)
            .map_err(OpenError::Index)?;
        let identity = Identity::of(&meta);
        if let Some((id, catalog)) = &*cache.last.lock().unwrap_or_else(PoisonError::into_inner)
            && *id == identity
        {
            return Ok(Snapshot {
                out: out_dir,
                oci,
                catalog: catalog.clone(),
            });
        }
        let cap = crate::input::Kind::Manifest.cap();
        let (bytes, _) = crate::input::read_opened(file, meta, cap, "index.json", &path)
            .map_err(OpenError::Index)?;
        let catalog = Arc::new(Catalog::parse(&bytes).map_err(OpenError::BadIndex)?);
        *cache.last.lock().unwrap_or_else(PoisonError::into_inner) =
            Some((identity, catalog.clone()));
        Ok(Snapshot {
            out: out_dir,
            oci,
            catalog,
        })
    }

    /// Opens the blob `digest` beneath `OUT/oci`: `None` when there is none.
    pub fn blob(&self, digest: &Digest) -> Result<Option<(File, std::fs::Metadata)>, InputError> {
        let name = format!("blobs/sha256/{}", digest.hex());
        match crate::input::open_found_beneath(self.oci.as_fd(), &name, &|| name.clone().into()) {
            Ok(found) => Ok(Some(found)),
            Err(InputError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Reads a small blob (a manifest) whole, checked against its digest: `None` when
    /// there is none, it is larger than an OCI document may be, or its bytes do not match.
    pub fn document(&self, digest: &Digest) -> Result<Option<Vec<u8>>, InputError> {
        let Some((file, meta)) = self.blob(digest)? else {
            return Ok(None);
        };
        let cap = crate::input::Kind::OciDocument.cap();
        if meta.len() > cap {
            return Ok(None);
        }
        let name = format!("blobs/sha256/{}", digest.hex());
        let (bytes, _) =
            crate::input::read_opened(file, meta, cap, "manifest", &|| name.clone().into())?;
        if Digest::of(&bytes) != *digest {
            tracing::warn!("oci/{name}: its bytes do not match its digest; not served");
            return Ok(None);
        }
        Ok(Some(bytes))
    }
}
