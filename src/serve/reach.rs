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

#[cfg(test)]
mod tests {
    use super::*;

    const IMAGE: &str = "application/vnd.oci.image.manifest.v1+json";
    const INDEX: &str = "application/vnd.oci.image.index.v1+json";

    fn image(config: &Digest, layers: &[&Digest]) -> Vec<u8> {
        let layers: Vec<serde_json::Value> = layers
            .iter()
            .map(|d| {
                serde_json::json!({"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": d.to_string(), "size": 1})
            })
            .collect();
        serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2, "mediaType": IMAGE,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config.to_string(), "size": 1},
            "layers": layers,
        }))
        .unwrap()
    }

    fn index(children: &[&Digest]) -> Vec<u8> {
        let manifests: Vec<serde_json::Value> = children
            .iter()
            .map(|d| serde_json::json!({"mediaType": IMAGE, "digest": d.to_string(), "size": 1}))
            .collect();
        serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2, "mediaType": INDEX, "manifests": manifests,
        }))
        .unwrap()
    }

    #[test]
    fn the_walk_reaches_what_the_roots_name_and_nothing_else() {
        let (config, layer, other) = (Digest::of(b"c"), Digest::of(b"l"), Digest::of(b"o"));
        let amd64 = image(&config, &[&layer]);
        let missing = Digest::of(b"a manifest that is not there");
        let damaged = Digest::of(b"not json");
        let (amd64_d, lone) = (Digest::of(&amd64), image(&other, &[]));
        let lone_d = Digest::of(&lone);
        let top = index(&[&amd64_d, &missing, &damaged]);
        let top_d = Digest::of(&top);
        let docs: HashMap<String, Vec<u8>> = [
            (top_d.to_string(), top),
            (amd64_d.to_string(), amd64),
            (lone_d.to_string(), lone),
            (damaged.to_string(), b"not json".to_vec()),
        ]
        .into_iter()
        .collect();
        let reads = std::cell::Cell::new(0);
        let reach = Reach::walk([(top_d.clone(), Arc::from(INDEX))], |d| {
            reads.set(reads.get() + 1);
            Ok(docs.get(&d.to_string()).cloned())
        });
        // Every manifest reached is read once; the lone image no root names is not.
        assert_eq!(reads.get(), 4);
        assert_eq!(reach.get(&top_d).unwrap().manifest.as_deref(), Some(INDEX));
        assert_eq!(
            reach.get(&amd64_d).unwrap().manifest.as_deref(),
            Some(IMAGE)
        );
        // A missing or damaged manifest is reached (refused when asked for), no further.
        assert!(reach.get(&missing).unwrap().manifest.is_some());
        assert!(reach.get(&damaged).unwrap().manifest.is_some());
        assert!(reach.get(&config).unwrap().manifest.is_none());
        assert!(reach.get(&layer).unwrap().manifest.is_none());
        assert!(reach.get(&lone_d).is_none());
        assert!(reach.get(&other).is_none());
    }

    #[test]
    fn a_digest_reached_as_a_blob_and_then_as_a_manifest_is_kept_and_walked_as_the_manifest() {
        let inner = image(&Digest::of(b"c"), &[]);
        let inner_d = Digest::of(&inner);
        // One image names the other image manifest as a layer; a second index names it as
        // a manifest, and is walked after that image (the walk takes the last root first).
        let outer = image(&Digest::of(b"c2"), &[&inner_d]);
        let outer_d = Digest::of(&outer);
        let (first, second) = (index(&[&outer_d]), index(&[&inner_d]));
        let (first_d, second_d) = (Digest::of(&first), Digest::of(&second));
        let docs: HashMap<String, Vec<u8>> = [
            (first_d.to_string(), first),
            (second_d.to_string(), second),
            (outer_d.to_string(), outer),
            (inner_d.to_string(), inner),
        ]
        .into_iter()
        .collect();
        let order = std::cell::RefCell::new(Vec::new());
        let reach = Reach::walk(
            [(second_d, Arc::from(INDEX)), (first_d, Arc::from(INDEX))],
            |d| {
                order.borrow_mut().push(d.clone());
                Ok(docs.get(&d.to_string()).cloned())
            },
        );
        let order = order.into_inner();
        let at = |d: &Digest| order.iter().position(|x| x == d).unwrap();
        assert!(at(&outer_d) < at(&inner_d), "{order:?}");
        assert_eq!(
            reach.get(&inner_d).unwrap().manifest.as_deref(),
            Some(IMAGE)
        );
        // Walked as a manifest: its config is reached.
        assert!(reach.get(&Digest::of(b"c")).is_some());
    }
}
