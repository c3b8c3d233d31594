//! Finding the artifacts a registry keeps beside an image: cosign's tags, asked for with a
//! HEAD each (absent is the usual answer, and costs one round trip), and OCI 1.1 referrers,
//! from the referrers API or, where the registry has none (Debian's distribution), from the
//! fallback tag's index. Every artifact manifest found is then read as any manifest is: from
//! the layout when it holds it (a warm run sends no GET for it), else by digest.

use super::{RegistryReader, stored_root};
use crate::oci::Result;
use crate::oci::attached::{Attached, AttachedKind, fallback_tag};
use crate::oci::descriptor::{Descriptor, ManifestDoc, ManifestKind};
use crate::oci::digest::Digest;
use crate::oci::source::ImageReader;
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
        let tags = AttachedKind::TAGS.map(|kind| self.find_tag(kind, subject));
        let (tags, referrers) = futures_util::future::join(
            futures_util::future::try_join_all(tags),
            self.find_referrers(subject),
        )
        .await;
        let mut found: Vec<Found> = tags?.into_iter().flatten().collect();
        found.extend(referrers?);
        Ok(found)
    }

    /// cosign's `kind` tag for `subject`, when the registry has it: a HEAD, and the
    /// manifest from the layout when it holds it.
    async fn find_tag(&self, kind: AttachedKind, subject: &Digest) -> Result<Option<Found>> {
        let Some(tag) = kind.tag_for(subject) else {
            return Ok(None);
        };
        let Some(descriptor) = self.head_tag(&tag).await? else {
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
    /// for the copy.
    async fn head_tag(&self, tag: &str) -> Result<Option<Descriptor>> {
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
        let descriptor = Descriptor::new(&media_type, digest.clone(), bytes.len() as u64);
        if let Ok(mut docs) = self.docs.lock() {
            docs.insert(digest, Arc::new(bytes));
        }
        Ok(Some(descriptor))
    }

    /// The referrers of `subject`: the referrers API's index, else the fallback tag's.
    async fn find_referrers(&self, subject: &Digest) -> Result<Vec<Found>> {
        let mut listing = None;
        let index = match self.client.referrers(&self.repo, subject, &self.name).await {
            Some(bytes) => Some(bytes),
            None => match self.head_tag(&fallback_tag(subject)).await? {
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
