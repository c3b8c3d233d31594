//! What a repository reaches: the manifests and blobs a request by digest may have under
//! its name. The roots are the repository's entries in `index.json` (its images, the
//! cosign `.sig`/`.att` tags and the referrers stored beside them); from each, an index's
//! manifests and an image manifest's config and layers, as their descriptors give them.
//!
//! A digest outside it is refused at once (the spec's "not in the repository"), without
//! opening its blob: a request for a 4 MiB layer as a manifest, or for another repository's
//! manifest, costs a lookup. The walk reads only the manifests it reaches (each checked
//! against its digest, at most an OCI document's cap) and is made once per repository and
//! `index.json`: the catalog keeps each repository's walk. The walk knows neither the
//! catalog nor the folder: it is given the roots and a reader of documents.

use crate::input::InputError;
use crate::oci::Digest;
use crate::oci::descriptor::{ManifestDoc, ManifestKind};
use crate::oci::digest::BlobKey;
use std::collections::HashMap;
use std::sync::Arc;

/// One digest a repository reaches.
#[derive(Debug, Clone)]
pub(super) struct Reached {
    /// A manifest or index: the media type its descriptor gives. `None` for a blob
    /// (a config or a layer).
    pub manifest: Option<Arc<str>>,
}

/// The digests a repository reaches.
#[derive(Debug, Default)]
pub(super) struct Reach {
    items: HashMap<BlobKey, Reached>,
}

impl Reach {
    /// What `digest` is in this repository, `None` when it does not reach it.
    pub fn get(&self, digest: &Digest) -> Option<&Reached> {
        self.items.get(&digest.key())
    }

    /// Walks from `roots` (each a manifest's digest and the media type its entry gives)
    /// through the manifests `document` reads (a digest's bytes, checked against it;
    /// `None` when there are none to use). A manifest that is missing, damaged or not a
    /// manifest reaches nothing further (it is refused when asked for, as any damaged blob
    /// is).
    pub fn walk(
        roots: impl IntoIterator<Item = (Digest, Arc<str>)>,
        document: impl Fn(&Digest) -> Result<Option<Vec<u8>>, InputError>,
    ) -> Reach {
        let mut reach = Reach::default();
        let mut queue: Vec<BlobKey> = Vec::new();
        for (digest, media_type) in roots {
            let key = digest.key();
            if reach.add(key, Some(media_type)) {
                queue.push(key);
            }
        }
        // Media types are few: each is kept once.
        let mut types: Vec<Arc<str>> = Vec::new();
        let mut shared = |t: &str| -> Arc<str> {
            if let Some(s) = types.iter().find(|s| &***s == t) {
                return s.clone();
            }
            let s: Arc<str> = Arc::from(t);
            types.push(s.clone());
            s
        };
        while let Some(key) = queue.pop() {
            let digest = key.digest();
            let bytes = match document(&digest) {
                Ok(Some(bytes)) => bytes,
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!("{e}");
                    continue;
                }
            };
            let Ok(doc) = ManifestDoc::parse(&bytes) else {
                continue;
            };
            let declared = reach
                .items
                .get(&key)
                .and_then(|r| r.manifest.clone())
                .map(|t| t.to_string());
            match doc.kind(declared.as_deref()) {
                Some(ManifestKind::Index) => {
                    for child in doc.manifests.iter().flatten() {
                        let k = child.digest.key();
                        if reach.add(k, Some(shared(&child.media_type))) {
                            queue.push(k);
                        }
                    }
                }
                Some(ManifestKind::Image) => {
                    for blob in doc.image_blobs() {
                        reach.add(blob.digest.key(), None);
                    }
                }
                None => {}
            }
        }
        reach.items.shrink_to_fit();
        reach
    }

    /// Adds `key`; true when it is a manifest seen for the first time (to be walked). A
    /// digest seen as a blob and as a manifest is kept as the manifest.
    fn add(&mut self, key: BlobKey, manifest: Option<Arc<str>>) -> bool {
        match self.items.get_mut(&key) {
            Some(r) => {
                if r.manifest.is_none() && manifest.is_some() {
                    r.manifest = manifest;
                    return true;
                }
                false
            }
            None => {
                let walk = manifest.is_some();
                self.items.insert(key, Reached { manifest });
                walk
            }
        }
    }
}
