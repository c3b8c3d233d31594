//! Registry images as an [`ImageReader`]: the tag is resolved to a digest once, when the
//! image is opened, and everything after that is fetched by digest, so an image cannot
//! change under a running mirror. Opened against a layout, the reader takes the manifests,
//! indexes and configs the layout holds from there (each re-hashed), so a warm mirror asks
//! the registry for a tag's digest (a HEAD) and for nothing it already has.
//!
//! The store is synchronous and threaded; network I/O is async. [`BlobStream`] bridges the
//! two: it implements `Read` by pulling the response body chunk by chunk on the shared
//! runtime, so memory stays at one chunk per download. When a download breaks off (reset,
//! timeout, truncated body, 5xx), it re-requests the rest with `Range: bytes=N-` and carries
//! on; a registry that answers the range with the whole blob has the first N bytes skipped.
//! The store hashes every byte it receives, so the full sha256 is checked across resumes.

use super::client::{Get, RegistryClient};
use super::manifest::document_media_type;
use super::registries::Registries;
use crate::image::Reference;
use crate::net::fetch::{Watch, next_chunk};
use crate::net::{Budget, Transfer};
use crate::oci::descriptor::{Descriptor, is_manifest_type};
use crate::oci::digest::Digest;
use crate::oci::layout::{MAX_DOCUMENT_SIZE, stored_document};
use crate::oci::source::ImageReader;
use crate::oci::{OciError, Result};
use bytes::Bytes;
use std::collections::HashMap;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio::runtime::Handle;

mod attached;

/// How many times a manifest or config whose content fails verification is fetched.
pub const DOCUMENT_ATTEMPTS: u32 = 3;

/// What a tag resolved to when the image was opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedTag {
    /// The image as written (`docker://…`).
    pub source: String,
    /// The tag.
    pub tag: String,
    /// The digest it resolved to.
    pub digest: Digest,
}

/// One registry image, opened.
pub struct RegistryReader {
    client: Arc<RegistryClient>,
    handle: Handle,
    repo: String,
    name: String,
    root: Descriptor,
    resolved: Option<ResolvedTag>,
    /// A layout whose documents are taken instead of fetched.
    known: Option<PathBuf>,
    docs: Mutex<HashMap<Digest, Arc<Vec<u8>>>>,
}

impl RegistryReader {
    /// Resolves `reference` (its digest if it pins one, else its tag) and opens the image.
    /// `name` is the source as the user wrote it.
    pub fn open(
        registries: &Registries,
        reference: &Reference,
        name: String,
    ) -> Result<RegistryReader> {
        RegistryReader::open_in(registries, reference, name, None)
    }

    /// [`RegistryReader::open`], taking the manifests, indexes and configs the layout at
    /// `known` already holds from there instead of the registry (each re-hashed first).
    /// A tag is resolved with a HEAD and its manifest fetched only when the layout lacks
    /// it; an image pinned by a digest the layout holds costs no request at all.
    pub fn open_in(
        registries: &Registries,
        reference: &Reference,
        name: String,
        known: Option<&Path>,
    ) -> Result<RegistryReader> {
        let repo = reference.repository().to_string();
        let client = registries.repository_client(reference.registry(), &repo, &name)?;
        let handle = registries.runtime()?.handle().clone();
        let t0 = std::time::Instant::now();
        let (bytes, media_type, digest) = match reference.digest() {
            Some(pinned) => {
                let stored = known
                    .zip(pinned.parse::<Digest>().ok())
                    .and_then(|(root, d)| stored_root(root, &d, None, None));
                match stored {
                    Some(found) => found,
                    None => handle.block_on(client.manifest(&repo, pinned, &name))?,
                }
            }
            None => handle.block_on(resolve_tag(
                &client,
                &repo,
                &reference.tag_or_digest(),
                &name,
                known,
            ))?,
        };
        tracing::debug!("{name}: manifest in {:?}", t0.elapsed());
        let root = Descriptor::new(&media_type, digest.clone(), bytes.len() as u64);
        let resolved = match (reference.digest(), reference.tag()) {
            (None, Some(tag)) => Some(ResolvedTag {
                source: name.clone(),
                tag: tag.to_string(),
                digest: digest.clone(),
            }),
            _ => None,
        };
        let mut docs = HashMap::new();
        docs.insert(digest, Arc::new(bytes));
        Ok(RegistryReader {
            client,
            handle,
            repo,
            name,
            root,
            resolved,
            known: known.map(Path::to_path_buf),
            docs: Mutex::new(docs),
        })
    }

    /// The tag and the digest it resolved to, when the image was named by tag.
    pub fn resolved(&self) -> Option<&ResolvedTag> {
        self.resolved.as_ref()
    }

    fn cached(&self, digest: &Digest) -> Option<Arc<Vec<u8>>> {
        self.docs.lock().ok()?.get(digest).cloned()
    }

    fn fetch_document(&self, descriptor: &Descriptor) -> Result<Vec<u8>> {
        if is_manifest_type(&descriptor.media_type) {
            let digest = descriptor.digest.to_string();
            let (bytes, _, _) = self
                .handle
                .block_on(self.client.manifest(&self.repo, &digest, &self.name))?;
            return Ok(bytes);
        }
        let mut bytes = Vec::with_capacity(descriptor.size as usize);
        self.stream(descriptor)
            .take(descriptor.size + 1)
            .read_to_end(&mut bytes)
            .map_err(|source| OciError::Read {
                context: format!("{} ({})", self.name, descriptor.digest),
                source,
            })?;
        Ok(bytes)
    }

    fn stream(&self, descriptor: &Descriptor) -> BlobStream<'_> {
        BlobStream {
            reader: self,
            digest: descriptor.digest.clone(),
            size: descriptor.size,
            offset: 0,
            skip: 0,
            response: None,
            chunk: Bytes::new(),
            failures: 0,
            failures_since_progress: 0,
            watch: None,
            budget: Budget::new(&self.client.limits()),
        }
    }
}

impl ImageReader for RegistryReader {
    fn describe(&self) -> String {
        self.name.clone()
    }

    fn root(&self) -> &Descriptor {
        &self.root
    }

    fn attached(&self, subjects: &[Digest]) -> Result<Vec<crate::oci::source::Attached>> {
        self.find_attached(subjects)
    }

    fn open_blob(&self, descriptor: &Descriptor) -> Result<Box<dyn Read + Send + '_>> {
        if let Some(doc) = self.cached(&descriptor.digest) {
            return Ok(Box::new(io::Cursor::new(doc.as_ref().clone())));
        }
        if let Some(bytes) = descriptor.inline_data() {
            return Ok(Box::new(io::Cursor::new(bytes)));
        }
        if is_manifest_type(&descriptor.media_type) {
            return Ok(Box::new(io::Cursor::new(self.read_document(descriptor)?)));
        }
        Ok(Box::new(self.stream(descriptor)))
    }

    /// Manifests, indexes and configs are fetched once, checked, and kept for the copy.
    fn read_document(&self, descriptor: &Descriptor) -> Result<Vec<u8>> {
        if let Some(doc) = self.cached(&descriptor.digest) {
            return Ok(doc.as_ref().clone());
        }
        if let Some(bytes) = descriptor.inline_data() {
            return Ok(bytes);
        }
        if descriptor.size > MAX_DOCUMENT_SIZE {
            return Err(OciError::Source {
                source_name: self.name.clone(),
                message: format!(
                    "{} claims {} bytes, more than any manifest or config should be",
                    descriptor.digest, descriptor.size
                ),
            });
        }
        if let Some(bytes) = self
            .known
            .as_deref()
            .and_then(|root| stored_document(root, &descriptor.digest, Some(descriptor.size)))
        {
            return Ok(bytes);
        }
        let mut attempt = 1;
        let bytes = loop {
            let bytes = self.fetch_document(descriptor)?;
            let actual = Digest::of(&bytes);
            if actual == descriptor.digest && bytes.len() as u64 == descriptor.size {
                break bytes;
            }
            let mismatch = OciError::DigestMismatch {
                context: self.name.clone(),
                expected: descriptor.digest.clone(),
                expected_size: descriptor.size,
                actual_digest: actual,
                actual_size: bytes.len() as u64,
            };
            if attempt >= DOCUMENT_ATTEMPTS {
                return Err(OciError::Read {
                    context: format!(
                        "{}: blob {} refused after {attempt} attempts",
                        self.name, descriptor.digest
                    ),
                    source: io::Error::other(mismatch.to_string()),
                });
            }
            tracing::warn!("{mismatch}; fetching it again");
            attempt += 1;
        };
        if let Ok(mut docs) = self.docs.lock() {
            docs.insert(descriptor.digest.clone(), Arc::new(bytes.clone()));
        }
        Ok(bytes)
    }
}

/// The root manifest or index `digest` from the layout at `root`, with its media type:
/// the one the registry gave, else the one the document states.
fn stored_root(
    root: &Path,
    digest: &Digest,
    size: Option<u64>,
    media_type: Option<String>,
) -> Option<(Vec<u8>, String, Digest)> {
    let bytes = stored_document(root, digest, size)?;
    let media_type = media_type.or_else(|| document_media_type(&bytes))?;
    Some((bytes, media_type, digest.clone()))
}

/// Resolves a tag: a HEAD for its digest, then the manifest from the layout at `known` if
/// it holds it, else a GET by that digest. A registry that refuses the HEAD or leaves out
/// `Docker-Content-Digest` gets a GET of the tag, as containerd and skopeo fall back.
async fn resolve_tag(
    client: &RegistryClient,
    repo: &str,
    tag: &str,
    name: &str,
    known: Option<&Path>,
) -> Result<(Vec<u8>, String, Digest)> {
    let Some(head) = client.head_manifest(repo, tag, name).await? else {
        return Ok(client.manifest(repo, tag, name).await?);
    };
    if let Some(found) =
        known.and_then(|root| stored_root(root, &head.digest, head.size, head.media_type))
    {
        return Ok(found);
    }
    Ok(client
        .manifest(repo, &head.digest.to_string(), name)
        .await?)
}

/// A blob download as a `Read`, resumed with Range requests after transient failures.
pub struct BlobStream<'a> {
    reader: &'a RegistryReader,
    digest: Digest,
    size: u64,
    offset: u64,
    skip: u64,
    response: Option<reqwest::Response>,
    chunk: Bytes,
    failures: u32,
    failures_since_progress: u32,
    /// How the open response's body is watched (the speed rule, its deadline).
    watch: Option<Watch>,
    /// The time this download may go without healthy progress, across its resumes.
    budget: Budget,
}

impl BlobStream<'_> {
    /// Total failures allowed in one download, however much progress each attempt made.
    fn failure_budget(&self) -> u32 {
        self.reader.client.policy().attempts * 4
    }

    fn open(&mut self) -> io::Result<()> {
        let get = Get {
            repo: &self.reader.repo,
            path: format!("blobs/{}", self.digest),
            accept: &["*/*"],
            offset: self.offset,
            image: &self.reader.name,
            kind: Transfer::Bulk,
        };
        let (resp, watch) = self
            .reader
            .handle
            .block_on(self.reader.client.get(&get, &mut self.budget))
            .map_err(io::Error::other)?;
        self.watch = Some(watch);
        // 200 to a range request: the registry sent everything; skip what we have.
        self.skip = if resp.status().as_u16() == 206 {
            0
        } else {
            self.offset
        };
        self.response = Some(resp);
        Ok(())
    }

    /// Records a broken transfer and waits before resuming; fails once the budget is spent.
    fn broken(&mut self, problem: String) -> io::Result<()> {
        self.response = None;
        self.failures += 1;
        self.failures_since_progress += 1;
        let policy = self.reader.client.policy();
        if self.failures_since_progress >= policy.attempts || self.failures >= self.failure_budget()
        {
            return Err(io::Error::other(self.reader.client.gave_up(
                &self.reader.name,
                format!(
                    "GET {}: transfer broke off {} times (at byte {} of {}); last: {problem}",
                    self.url(),
                    self.failures,
                    self.offset,
                    self.size
                ),
            )));
        }
        let wait = self
            .budget
            .retry(&policy, self.failures_since_progress, None, &problem)
            .map_err(|m| self.spent(&m))?;
        tracing::debug!(
            "{}: blob {} broke off at byte {}: {problem}; resuming in {wait:?}",
            self.reader.name,
            self.digest,
            self.offset
        );
        std::thread::sleep(wait);
        Ok(())
    }

    /// The download is given up on: its budget is spent (`message` says how).
    fn spent(&self, message: &str) -> io::Error {
        io::Error::other(self.reader.client.gave_up(
            &self.reader.name,
            format!(
                "GET {} (at byte {} of {}): {message}",
                self.url(),
                self.offset,
                self.size
            ),
        ))
    }

    /// The blob's URL, which every failure of its download names.
    fn url(&self) -> String {
        (self.reader.client).url(&self.reader.repo, &format!("blobs/{}", self.digest))
    }

    /// The registry sent more than the descriptor's size: not the blob it names.
    fn too_long(&self) -> io::Error {
        io::Error::other(self.reader.client.transfer(
            &self.reader.name,
            format!(
                "GET {}: the registry sent more than the {} bytes its descriptor gives",
                self.url(),
                self.size
            ),
        ))
    }

    /// At the descriptor's size: a body of unknown length must end here. One that goes on
    /// is refused (it is not the blob the descriptor names); one that breaks off or goes
    /// quiet is let be, since every byte of the blob is in (its digest decides).
    fn at_end(&mut self) -> io::Result<()> {
        let Some(mut resp) = self.response.take() else {
            return Ok(());
        };
        if resp.content_length().is_some() {
            return Ok(());
        }
        loop {
            match self.reader.handle.block_on(resp.chunk()) {
                Ok(Some(bytes)) if bytes.is_empty() => {}
                Ok(Some(_)) => return Err(self.too_long()),
                Ok(None) | Err(_) => return Ok(()),
            }
        }
    }

    /// Fills `self.chunk` with the next bytes; false at the end of the blob.
    fn next_chunk(&mut self) -> io::Result<bool> {
        loop {
            if self.offset >= self.size {
                return self.at_end().map(|()| false);
            }
            if self.response.is_none() {
                match self.open() {
                    Ok(()) => {}
                    Err(e) => return Err(e),
                }
            }
            let (Some(resp), Some(watch)) = (self.response.as_mut(), self.watch.as_mut()) else {
                self.response = None;
                continue;
            };
            match (self.reader.handle).block_on(next_chunk(resp, watch, &mut self.budget)) {
                Ok(Some(mut bytes)) => {
                    if self.skip > 0 {
                        let n = (self.skip as usize).min(bytes.len());
                        let _ = bytes.split_to(n);
                        self.skip -= n as u64;
                    }
                    if self.offset + bytes.len() as u64 > self.size {
                        // Never more than the descriptor says: an endless body ends here.
                        return Err(self.too_long());
                    }
                    if !bytes.is_empty() {
                        self.chunk = bytes;
                        return Ok(true);
                    }
                }
                Ok(None) => self.broken(format!(
                    "the body ended after {} of {} bytes",
                    self.offset, self.size
                ))?,
                Err(p) if p.budget => {
                    let message = p.final_message(&self.budget);
                    return Err(self.spent(&message));
                }
                Err(p) => self.broken(p.message)?,
            }
        }
    }
}

impl Read for BlobStream<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.chunk.is_empty() && !self.next_chunk()? {
            return Ok(0);
        }
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk.split_to(n));
        self.offset += n as u64;
        self.failures_since_progress = 0;
        Ok(n)
    }
}
