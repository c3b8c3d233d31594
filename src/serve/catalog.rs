//! What a request sees of `OUT`: the folder opened once ([`Snapshot`]), and the layout's
//! `index.json` parsed into names ([`Catalog`]), kept while `index.json` is the same file.
//!
//! Names: an image stored as `REGISTRY/REPOSITORY:TAG` is served as `REPOSITORY:TAG` (what
//! `seedforge push` makes of it, and what k3s and containerd ask a mirror for) and as
//! `REGISTRY/REPOSITORY:TAG`. When two registries' images share a repository path,
//! containerd's `?ns=REGISTRY` (the registry the image is named under) decides; without
//! it, the first in `index.json` order wins. With mirror rewrites ([`Cache::rewrites`],
//! the output's `registries.yaml`), REPOSITORY is the path the rules make of it, the path
//! a node's containerd asks for, and only that.

use super::reach::Reach;
use super::verified::{Identity, Verified};
use crate::image::Reference;
use crate::input::InputError;
use crate::oci::Digest;
use crate::oci::attached::{ATTACHED_KIND, ATTACHED_SUBJECT, ATTACHED_TO, AttachedKind};
use crate::oci::digest::BlobKey;
use serde::Deserialize;
use serde::de::{SeqAccess, Visitor};
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::os::fd::AsFd as _;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

/// One named manifest of the layout, in a few dozen bytes: a layout of 30,000 images is
/// served from a catalog of a few MiB (its registry and media type shared with every entry
/// that has the same, its digests as their 32 bytes).
#[derive(Debug)]
pub(super) struct Entry {
    /// The registry it is named under (`docker.io`).
    pub registry: Arc<str>,
    /// Its tag, if it is named by one.
    pub tag: Option<Box<str>>,
    /// The digest of its manifest or index.
    key: BlobKey,
    /// Its media type as `index.json` gives it.
    pub media_type: Arc<str>,
    /// Its size.
    pub size: u64,
    /// For a referrer stored beside an image: the digest it refers to.
    referrer_of: Option<BlobKey>,
    /// Whether it is an image (not a signature or another attached artifact).
    pub image: bool,
}

impl Entry {
    /// The digest of its manifest or index.
    pub fn digest(&self) -> Digest {
        self.key.digest()
    }
}

/// The layout's names, parsed from one `index.json`.
#[derive(Debug, Default)]
pub(super) struct Catalog {
    entries: Vec<Entry>,
    /// The repository names (without their registry), sorted, each once: `/v2/_catalog`.
    names: Vec<Box<str>>,
    /// The entries of `names[r]` are `members[starts[r]..starts[r + 1]]`, in `index.json`
    /// order.
    starts: Vec<u32>,
    members: Vec<u32>,
    /// What each repository (as its entries' positions name it) reaches, walked when first
    /// asked for.
    reaches: Mutex<HashMap<Box<[u32]>, Arc<Reach>>>,
}

/// The fields of an `index.json` entry the catalog keeps; the rest is skipped unread.
#[derive(Deserialize)]
struct Listed {
    #[serde(rename = "mediaType")]
    media_type: String,
    digest: Digest,
    size: u64,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

/// The catalog as `index.json`'s `manifests` array is read, one entry at a time: no entry
/// is held whole beyond its own turn.
#[derive(Default)]
struct Builder {
    entries: Vec<Entry>,
    repos: HashMap<Box<str>, Vec<u32>>,
    /// The registries and media types seen, each kept once.
    shared: Vec<Arc<str>>,
}

impl Builder {
    fn shared(&mut self, text: &str) -> Arc<str> {
        if let Some(s) = self.shared.iter().find(|s| &***s == text) {
            return s.clone();
        }
        let s: Arc<str> = Arc::from(text);
        self.shared.push(s.clone());
        s
    }

    fn add(&mut self, d: Listed) {
        let annotation = |k: &str| d.annotations.get(k).map(String::as_str);
        let Some(name) = annotation(crate::oci::descriptor::ANNOTATION_REF_NAME)
            .or_else(|| annotation(crate::oci::descriptor::ANNOTATION_CONTAINERD_NAME))
        else {
            return;
        };
        let Ok(reference) = Reference::parse(name) else {
            tracing::debug!("index.json: {name:?} is not a reference; not served");
            return;
        };
        // An artifact stored beside its image, as `oci::attached::of_entry` reads it.
        let kind = annotation(ATTACHED_KIND).and_then(AttachedKind::parse);
        let subject = annotation(ATTACHED_SUBJECT).and_then(|s| s.parse::<Digest>().ok());
        let attached = match (annotation(ATTACHED_TO), kind, subject) {
            (Some(_), Some(kind), Some(subject)) => Some((kind, subject.key())),
            _ => None,
        };
        let referrer_of = attached
            .filter(|(kind, _)| *kind == AttachedKind::Referrer)
            .map(|(_, subject)| subject);
        let i = u32::try_from(self.entries.len()).unwrap_or(u32::MAX);
        let repository = reference.repository();
        match self.repos.get_mut(repository) {
            Some(ids) => ids.push(i),
            None => {
                self.repos.insert(repository.into(), vec![i]);
            }
        }
        let entry = Entry {
            registry: self.shared(reference.registry()),
            tag: reference.tag().map(Box::from),
            key: d.digest.key(),
            media_type: self.shared(&d.media_type),
            size: d.size,
            referrer_of,
            image: attached.is_none(),
        };
        self.entries.push(entry);
    }

    /// The catalog, each repository named as the nodes ask for it: its own name, or as
    /// `rewrites` make it for its registry's mirror.
    fn finish(self, rewrites: &crate::image::Rewrites) -> Catalog {
        let mut named: HashMap<Box<str>, Vec<u32>> = HashMap::new();
        for (name, ids) in self.repos {
            for i in ids {
                let registry = &self.entries[i as usize].registry;
                let served = match rewrites.path(registry, &name) {
                    Ok(Some(path)) => path.into_boxed_str(),
                    Ok(None) => name.clone(),
                    Err(e) => {
                        tracing::warn!("{registry}/{name}: {e}; served as {name}");
                        name.clone()
                    }
                };
                named.entry(served).or_default().push(i);
            }
        }
        let mut repos: Vec<(Box<str>, Vec<u32>)> = named.into_iter().collect();
        for (_, ids) in &mut repos {
            ids.sort_unstable();
        }
        repos.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let mut catalog = Catalog {
            entries: self.entries,
            names: Vec::with_capacity(repos.len()),
            starts: Vec::with_capacity(repos.len() + 1),
            members: Vec::new(),
            reaches: Mutex::default(),
        };
        catalog.entries.shrink_to_fit();
        for (name, ids) in repos {
            catalog
                .starts
                .push(u32::try_from(catalog.members.len()).unwrap_or(u32::MAX));
            catalog.members.extend(ids);
            catalog.names.push(name);
        }
        catalog
            .starts
            .push(u32::try_from(catalog.members.len()).unwrap_or(u32::MAX));
        catalog
    }
}

impl<'de> Deserialize<'de> for Builder {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Builder, D::Error> {
        struct Entries;
        impl<'de> Visitor<'de> for Entries {
            type Value = Builder;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("the manifests array")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Builder, A::Error> {
                let mut builder = Builder::default();
                while let Some(listed) = seq.next_element::<Listed>()? {
                    builder.add(listed);
                }
                Ok(builder)
            }
        }
        deserializer.deserialize_seq(Entries)
    }
}

/// `index.json` as the catalog reads it: an OCI index (`schemaVersion: 2`, a `manifests`
/// array, as [`crate::oci::index::IndexDoc::parse`] requires), its other fields skipped.
#[derive(Deserialize)]
struct Top {
    #[serde(rename = "schemaVersion")]
    schema_version: Option<serde_json::Value>,
    manifests: Option<Builder>,
}

impl Catalog {
    fn parse(bytes: &[u8], rewrites: &crate::image::Rewrites) -> Result<Catalog, String> {
        let top: Top = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        match top.schema_version {
            Some(v) if v.as_u64() == Some(2) => {}
            Some(v) => return Err(format!("not an OCI index: schemaVersion is {v}, not 2")),
            None => return Err("not an OCI index: no schemaVersion".into()),
        }
        let builder = top
            .manifests
            .ok_or_else(|| "not an OCI index: no manifests array".to_string())?;
        Ok(builder.finish(rewrites))
    }

    /// How many images (attached artifacts not counted).
    pub fn images(&self) -> usize {
        self.entries.iter().filter(|e| e.image).count()
    }

    /// The entries of the repository `name` (without its registry), in `index.json` order.
    fn members(&self, name: &str) -> &[u32] {
        let Ok(r) = self.names.binary_search_by(|n| (**n).cmp(name)) else {
            return &[];
        };
        let (a, b) = (self.starts[r] as usize, self.starts[r + 1] as usize);
        &self.members[a..b]
    }

    /// The repository `name` as `ns` sees it: its entries, or `None` when no image has
    /// that name. `name` is a repository (`rancher/mirrored-pause`) or one with its
    /// registry (`docker.io/rancher/mirrored-pause`); `ns`, when given, is the registry the
    /// client asks for (containerd's `?ns=`): only that registry's images answer, never
    /// another's of the same path.
    pub fn repo(&self, name: &str, ns: Option<&str>) -> Option<Repo<'_>> {
        let mut ids: Vec<u32> = self.members(name).to_vec();
        if let Some((registry, rest)) = name.split_once('/') {
            ids.extend(
                (self.members(rest).iter())
                    .filter(|&&i| &*self.entries[i as usize].registry == registry),
            );
            ids.sort_unstable();
            ids.dedup();
        }
        if let Some(ns) = ns {
            ids.retain(|&i| self.entries[i as usize].registry.eq_ignore_ascii_case(ns));
        }
        if ids.is_empty() {
            return None;
        }
        Some(Repo {
            entries: ids.iter().map(|&i| &self.entries[i as usize]).collect(),
            ids: ids.into_boxed_slice(),
        })
    }

    /// What `repo` reaches in `snapshot` (walked once per repository, then kept with this
    /// catalog).
    pub fn reach(&self, snapshot: &Snapshot, repo: &Repo<'_>) -> Arc<Reach> {
        let mut reaches = self.reaches.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(reach) = reaches.get(&repo.ids) {
            return reach.clone();
        }
        // Walked under the lock: a hundred requests for a repository not walked yet wait
        // for one walk instead of making a hundred.
        let roots = (repo.entries.iter()).map(|e| (e.digest(), e.media_type.clone()));
        let reach = Arc::new(Reach::walk(roots, |d| snapshot.document(d)));
        reaches.insert(repo.ids.clone(), reach.clone());
        reach
    }

    /// The repository names (without their registry), sorted.
    pub fn names(&self) -> &[Box<str>] {
        &self.names
    }
}

/// The entries of one repository.
pub(super) struct Repo<'a> {
    pub entries: Vec<&'a Entry>,
    /// The entries' positions in the catalog.
    ids: Box<[u32]>,
}

impl<'a> Repo<'a> {
    /// The entry tagged `tag`.
    pub fn tagged(&self, tag: &str) -> Option<&'a Entry> {
        self.entries
            .iter()
            .copied()
            .find(|e| e.tag.as_deref() == Some(tag))
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
        let key = subject.key();
        self.entries
            .iter()
            .copied()
            .filter(|e| e.referrer_of == Some(key))
            .collect()
    }
}

/// The last catalog parsed, by the identity of its `index.json`.
#[derive(Default)]
pub(crate) struct Cache {
    last: Mutex<Option<(Identity, Arc<Catalog>)>>,
    /// Where the nodes ask for each image (the output's mirror rewrites).
    pub rewrites: crate::image::Rewrites,
    /// The blobs checked whole, kept across snapshots (a blob's identity is its file's).
    verified: Arc<Verified>,
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
    /// The blobs checked whole.
    pub verified: Arc<Verified>,
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
                verified: cache.verified.clone(),
            });
        }
        let cap = crate::input::Kind::Manifest.cap();
        let (bytes, _) = crate::input::read_opened(file, meta, cap, "index.json", &path)
            .map_err(OpenError::Index)?;
        let catalog =
            Arc::new(Catalog::parse(&bytes, &cache.rewrites).map_err(OpenError::BadIndex)?);
        *cache.last.lock().unwrap_or_else(PoisonError::into_inner) =
            Some((identity, catalog.clone()));
        Ok(Snapshot {
            out: out_dir,
            oci,
            catalog,
            verified: cache.verified.clone(),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// An image's name, the bytes its digest is of, and its other annotations.
    type Listing<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)]);

    fn index(entries: &[Listing<'_>]) -> Vec<u8> {
        let manifests: Vec<serde_json::Value> = entries
            .iter()
            .map(|(name, content, extra)| {
                let mut annotations =
                    serde_json::json!({ crate::oci::descriptor::ANNOTATION_REF_NAME: name });
                for (k, v) in *extra {
                    annotations[*k] = (*v).into();
                }
                serde_json::json!({
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "digest": Digest::of(content.as_bytes()).to_string(),
                    "size": content.len(),
                    "annotations": annotations,
                })
            })
            .collect();
        serde_json::to_vec(&serde_json::json!({"schemaVersion": 2, "manifests": manifests}))
            .unwrap()
    }

    #[test]
    fn a_mirrors_rewrite_serves_its_registrys_images_at_the_rewritten_path_only() {
        let bytes = index(&[
            ("docker.io/rancher/pause:3.6", "a", &[]),
            ("ghcr.io/rancher/pause:3.6", "b", &[]),
        ]);
        let rules: std::collections::BTreeMap<String, String> =
            [("^rancher/(.*)".to_string(), "mirror/rancher/$1".to_string())].into();
        let rewrites = crate::image::Rewrites::new([("docker.io", &rules)]).unwrap();
        let catalog = Catalog::parse(&bytes, &rewrites).unwrap();
        assert_eq!(
            catalog.names(),
            [
                Box::from("mirror/rancher/pause"),
                Box::from("rancher/pause")
            ]
        );
        let moved = catalog
            .repo("mirror/rancher/pause", Some("docker.io"))
            .unwrap();
        assert_eq!(
            moved.tagged("3.6").map(Entry::digest),
            Some(Digest::of(b"a"))
        );
        assert!(
            catalog
                .repo("docker.io/mirror/rancher/pause", None)
                .is_some()
        );
        // The docker.io image is no longer at its own path; ghcr.io's has no rule.
        assert!(catalog.repo("rancher/pause", Some("docker.io")).is_none());
        let ghcr = catalog.repo("rancher/pause", Some("ghcr.io")).unwrap();
        assert_eq!(
            ghcr.tagged("3.6").map(Entry::digest),
            Some(Digest::of(b"b"))
        );
    }

    #[test]
    fn names_are_found_with_and_without_their_registry_and_ns_chooses_between_registries() {
        let subject = Digest::of(b"a").to_string();
        let bytes = index(&[
            ("docker.io/rancher/pause:3.6", "a", &[]),
            ("ghcr.io/rancher/pause:3.6", "b", &[]),
            ("docker.io/rancher/pause:3.10", "c", &[]),
            (
                "docker.io/rancher/pause:sha256-x",
                "r",
                &[
                    (ATTACHED_TO, "docker.io/rancher/pause:3.6"),
                    (ATTACHED_KIND, "referrer"),
                    (ATTACHED_SUBJECT, &subject),
                ],
            ),
        ]);
        let catalog = Catalog::parse(&bytes, &Default::default()).unwrap();
        assert_eq!(catalog.images(), 3);
        assert_eq!(catalog.names(), [Box::from("rancher/pause")]);
        let digest = |e: Option<&Entry>| e.map(Entry::digest);
        let any = catalog.repo("rancher/pause", None).unwrap();
        // Without ns, the first in index.json order.
        assert_eq!(digest(any.tagged("3.6")), Some(Digest::of(b"a")));
        assert_eq!(any.tags(), ["3.10", "3.6", "sha256-x"]);
        let ghcr = catalog.repo("rancher/pause", Some("ghcr.io")).unwrap();
        assert_eq!(digest(ghcr.tagged("3.6")), Some(Digest::of(b"b")));
        let full = catalog.repo("ghcr.io/rancher/pause", None).unwrap();
        assert_eq!(full.tags(), ["3.6"]);
        assert!(catalog.repo("quay.io/rancher/pause", None).is_none());
        // An ns that names no registry of the repository answers nothing, never another
        // registry's image of the same path.
        assert!(catalog.repo("rancher/pause", Some("quay.io")).is_none());
        assert!(
            catalog
                .repo("docker.io/rancher/pause", Some("ghcr.io"))
                .is_none()
        );
        let docker = catalog.repo("rancher/pause", Some("docker.io")).unwrap();
        assert_eq!(docker.tags(), ["3.10", "3.6", "sha256-x"]);
        assert!(catalog.repo("rancher/other", None).is_none());
        assert!(catalog.repo("rancher", None).is_none());
        let referrers = any.referrers(&Digest::of(b"a"));
        assert_eq!(referrers.len(), 1);
        assert_eq!(referrers[0].digest(), Digest::of(b"r"));
        assert!(!referrers[0].image);
    }

    #[test]
    fn what_is_not_an_oci_index_is_refused_as_the_layout_reader_refuses_it() {
        for (bytes, says) in [
            (&br#"{"manifests": []}"#[..], "no schemaVersion"),
            (
                br#"{"schemaVersion": 1, "manifests": []}"#,
                "schemaVersion is 1",
            ),
            (br#"{"schemaVersion": 2}"#, "no manifests array"),
            (
                br#"{"schemaVersion": 2, "manifests": {}}"#,
                "manifests array",
            ),
        ] {
            let e = Catalog::parse(bytes, &Default::default()).unwrap_err();
            assert!(e.contains(says), "{e}");
        }
    }
}
