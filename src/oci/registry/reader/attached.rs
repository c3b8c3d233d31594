//! Finding the artifacts a registry keeps beside an image: cosign's tags and OCI 1.1
//! referrers, from the referrers API or, where the registry has none (Debian's
//! distribution), from the fallback tag's index. Absent is the usual answer, and costs one
//! round trip. For an image the layout already holds, each tag is asked for with a HEAD and
//! the manifest it names read from the layout (a warm run sends no GET for what it holds);
//! for an image new to the layout, whose artifacts are new too, with a GET straight away
//! (one request for a tag found, where a HEAD and a GET would be two).

use super::{RegistryReader, stored_root};
use crate::oci::Result;
use crate::oci::attached::{AttachedKind, fallback_tag};
use crate::oci::descriptor::{Descriptor, ManifestDoc, ManifestKind};
use crate::oci::digest::Digest;
use crate::oci::layout::holds_document;
use crate::oci::registry::RegistryError;
use crate::oci::source::{Attached, ImageReader};
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

/// The most referrers carried for one subject: a listing of more is refused rather than
/// fetched (each is a manifest and its blobs).
pub const MAX_REFERRERS: usize = 256;

/// One artifact manifest found for a subject, not read yet.
struct Found {
    kind: AttachedKind,
    subject: Digest,
    descriptor: Descriptor,
    listing: Option<(Digest, Vec<u8>)>,
}

impl RegistryReader {
    /// The artifacts the registry keeps for each of `subjects` (see [`crate::oci::attached`]).
    pub(crate) fn find_attached(&self, subjects: &[Digest]) -> Result<Vec<Attached>> {
        let found = self.handle.block_on(async {
            let asks = subjects.iter().map(|s| self.find_for(s));
            futures_util::future::try_join_all(asks).await
        })?;
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        for f in found.into_iter().flatten() {
            // A referrer that is also tagged (cosign's own tags are not referrers, but a
            // registry may list anything) is kept once, by the first way it was found.
            if !seen.insert((f.subject.clone(), f.descriptor.digest.clone())) {
                continue;
            }
            // A registry that answers every tag with the image itself has no artifact.
            if subjects.contains(&f.descriptor.digest) {
                continue;
            }
            let bytes = self.read_document(&f.descriptor)?;
            let name = format!("{} ({} of {})", self.name, f.kind.as_str(), f.subject);
            out.push(Attached {
                kind: f.kind,
                subject: f.subject,
                reader: Box::new(self.sibling(f.descriptor.clone(), bytes, name)),
                descriptor: f.descriptor,
                listing: f.listing,
            });
        }
        Ok(out)
    }

    /// A reader of another manifest of this repository, `bytes` being its content.
    fn sibling(&self, root: Descriptor, bytes: Vec<u8>, name: String) -> RegistryReader {
        let mut docs = HashMap::new();
        if let Some((digest, config)) = cosign_config(&bytes) {
            docs.insert(digest, Arc::new(config));
        }
        docs.insert(root.digest.clone(), Arc::new(bytes));
        RegistryReader {
            client: Arc::clone(&self.client),
            handle: self.handle.clone(),
            repo: self.repo.clone(),
            name,
            root,
            resolved: None,
            known: self.known.clone(),
            docs: Mutex::new(docs),
        }
    }

    /// The tags and referrers of one subject.
    async fn find_for(&self, subject: &Digest) -> Result<Vec<Found>> {
        let held = self
            .known
            .as_deref()
            .is_some_and(|root| holds_document(root, subject));
        let tags = AttachedKind::TAGS.map(|kind| self.find_tag(kind, subject, held));
        let (tags, referrers) = futures_util::future::join(
            futures_util::future::try_join_all(tags),
            self.find_referrers(subject, held),
        )
        .await;
        let mut found: Vec<Found> = tags?.into_iter().flatten().collect();
        found.extend(referrers?);
        Ok(found)
    }

    /// cosign's `kind` tag for `subject`, when the registry has it (see [`Self::tagged`]).
    async fn find_tag(
        &self,
        kind: AttachedKind,
        subject: &Digest,
        held: bool,
    ) -> Result<Option<Found>> {
        let Some(tag) = kind.tag_for(subject) else {
            return Ok(None);
        };
        let Some(descriptor) = self.tagged(&tag, held).await? else {
            return Ok(None);
        };
        Ok(Some(Found {
            kind,
            subject: subject.clone(),
            descriptor,
            listing: None,
        }))
    }

    /// What `tag` stands for, when the registry has it: its descriptor, the manifest kept
    /// for the copy. `held`: the layout holds the image the tag is of, so its artifacts
    /// are likely there too: a HEAD, then the manifest from the layout when it holds it;
    /// else a GET of the tag (absent: 404, as a HEAD would be).
    async fn tagged(&self, tag: &str, held: bool) -> Result<Option<Descriptor>> {
        if !held {
            let (bytes, media_type, digest) =
                match self.client.manifest(&self.repo, tag, &self.name).await {
                    Ok(found) => found,
                    Err(RegistryError::NotFound { .. }) => return Ok(None),
                    Err(e) => return Err(e.into()),
                };
            return Ok(Some(self.keep(bytes, &media_type, digest)));
        }
        let Some(head) = self
            .client
            .head_manifest(&self.repo, tag, &self.name)
            .await?
        else {
            // No HEAD answer: a missing tag (the usual case) or a registry without HEAD.
            // Absent tags are the common case; a registry refusing HEAD is not, and asking
            // it with a GET would turn every absent tag into an error to tell apart.
            return Ok(None);
        };
        // The manifest from the layout when it holds it, else by the digest the HEAD gave.
        let stored = self
            .known
            .as_deref()
            .and_then(|root| stored_root(root, &head.digest, head.size, head.media_type.clone()));
        let (bytes, media_type, digest) = match stored {
            Some(found) => found,
            None => {
                self.client
                    .manifest(&self.repo, &head.digest.to_string(), &self.name)
                    .await?
            }
        };
        Ok(Some(self.keep(bytes, &media_type, digest)))
    }

    /// Keeps an artifact manifest read for the copy; its descriptor.
    fn keep(&self, bytes: Vec<u8>, media_type: &str, digest: Digest) -> Descriptor {
        let descriptor = Descriptor::new(media_type, digest.clone(), bytes.len() as u64);
        if let Ok(mut docs) = self.docs.lock() {
            docs.insert(digest, Arc::new(bytes));
        }
        descriptor
    }

    /// The referrers of `subject`: the referrers API's index, else the fallback tag's.
    async fn find_referrers(&self, subject: &Digest, held: bool) -> Result<Vec<Found>> {
        let mut listing = None;
        let index = match self.client.referrers(&self.repo, subject, &self.name).await {
            Some(bytes) => Some(bytes),
            None => match self.tagged(&fallback_tag(subject), held).await? {
                Some(d) => {
                    let bytes = (self.docs.lock().ok())
                        .and_then(|docs| docs.get(&d.digest).map(|b| b.as_ref().clone()));
                    listing = bytes.clone().map(|b| (d.digest, b));
                    bytes
                }
                None => None,
            },
        };
        let Some(index) = index else {
            return Ok(Vec::new());
        };
        // What is not an index lists no referrers (a registry answering every tag with
        // the same manifest, say).
        let doc = match ManifestDoc::parse(&index) {
            Ok(doc) if doc.kind(None) == Some(ManifestKind::Index) => doc,
            _ => {
                tracing::debug!(
                    "{}: the referrers of {subject} are not an image index",
                    self.name
                );
                return Ok(Vec::new());
            }
        };
        let listed = doc.manifests.unwrap_or_default();
        if listed.len() > MAX_REFERRERS {
            return Err(crate::oci::OciError::Source {
                source_name: self.name.clone(),
                message: format!(
                    "the registry lists {} referrers of {subject}, more than the {MAX_REFERRERS} seedforge carries for one image; leave signatures out with images.signatures: drop (mirror --no-signatures)",
                    listed.len()
                ),
            });
        }
        Ok(listed
            .into_iter()
            .map(|mut descriptor| {
                // The listing's annotations and artifactType describe the referrer; the
                // stored entry gets its own.
                descriptor.annotations = Default::default();
                descriptor.extra = None;
                Found {
                    kind: AttachedKind::Referrer,
                    subject: subject.clone(),
                    descriptor,
                    listing: listing.clone(),
                }
            })
            .collect())
    }
}

/// The config of a cosign signature manifest (`.sig`), when it is the one cosign writes:
/// an empty image config whose layers are the signatures, each with one history entry,
/// each its own diff ID (a simple-signing payload is stored uncompressed). Its bytes
/// follow from the manifest's layers, so it is not fetched when they hash to the digest
/// the manifest names (any other config is fetched as usual).
fn cosign_config(manifest: &[u8]) -> Option<(Digest, Vec<u8>)> {
    let doc = ManifestDoc::parse(manifest).ok()?;
    let config = doc.config.as_ref()?;
    let layers = doc.layers.as_ref()?;
    if config.media_type != crate::oci::descriptor::OCI_CONFIG
        || layers.is_empty()
        || layers
            .iter()
            .any(|l| l.media_type != crate::trust::cosign::SIMPLE_SIGNING_MEDIA_TYPE)
    {
        return None;
    }
    let history = vec![r#"{"created":"0001-01-01T00:00:00Z"}"#; layers.len()].join(",");
    let diff_ids: Vec<String> = layers.iter().map(|l| format!("\"{}\"", l.digest)).collect();
    let bytes = format!(
        r#"{{"architecture":"","created":"0001-01-01T00:00:00Z","history":[{history}],"os":"","rootfs":{{"type":"layers","diff_ids":[{}]}},"config":{{}}}}"#,
        diff_ids.join(",")
    )
    .into_bytes();
    (bytes.len() as u64 == config.size && Digest::of(&bytes) == config.digest)
        .then(|| (config.digest.clone(), bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cosign_signature_config_is_derived_from_its_layers_and_checked() {
        // As cosign 3.1 writes it for one signature (bytes taken from a registry).
        let layer = "sha256:af8cd0421e6f9a82a71f35a90d23099c9a0b1e015fbd766c1f2f4fd9e5c4eba9";
        let config = format!(
            r#"{{"architecture":"","created":"0001-01-01T00:00:00Z","history":[{{"created":"0001-01-01T00:00:00Z"}}],"os":"","rootfs":{{"type":"layers","diff_ids":["{layer}"]}},"config":{{}}}}"#
        );
        assert_eq!(
            Digest::of(config.as_bytes()).to_string(),
            "sha256:202e5a31917684e3b6a4ba494d5ed2f3c6ae39573c2f78c8d5ea32e3eac8e027"
        );
        let manifest = |config_digest: &str, size: usize, layer_type: &str| {
            format!(
                r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","size":{size},"digest":"{config_digest}"}},"layers":[{{"mediaType":"{layer_type}","size":235,"digest":"{layer}"}}]}}"#
            )
        };
        let simple = crate::trust::cosign::SIMPLE_SIGNING_MEDIA_TYPE;
        let digest = Digest::of(config.as_bytes()).to_string();
        let (d, bytes) = cosign_config(manifest(&digest, config.len(), simple).as_bytes()).unwrap();
        assert_eq!(
            (d.to_string(), bytes),
            (digest.clone(), config.into_bytes())
        );
        // Another config (a digest the derived bytes do not have), or layers of another
        // kind: fetched as usual.
        let other = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
        assert!(cosign_config(manifest(other, 233, simple).as_bytes()).is_none());
        assert!(
            cosign_config(
                manifest(&digest, 233, "application/vnd.oci.image.layer.v1.tar").as_bytes()
            )
            .is_none()
        );
    }
}
