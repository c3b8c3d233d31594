//! Manifests and indexes, fetched whole by tag or digest, with their media type, and
//! checked: against the digest asked for, and against the registry's own
//! `Docker-Content-Digest`. A mismatch is fetched again before it is refused.

use super::RegistryError;
use super::client::{Get, RegistryClient};
use crate::net::fetch::read_bounded;
use crate::net::{Budget, Transfer};
use crate::oci::Digest;
use crate::oci::descriptor::{DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX, OCI_MANIFEST};
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE};

/// The largest manifest or index accepted from a registry (containerd's limit too).
pub const MAX_MANIFEST_SIZE: u64 = 4 << 20;

/// The manifest media types asked for, most preferred first.
pub const MANIFEST_ACCEPT: [&str; 4] = [
    OCI_INDEX,
    OCI_MANIFEST,
    DOCKER_MANIFEST_LIST,
    DOCKER_MANIFEST,
];

impl RegistryClient {
    /// Fetches a manifest or index by tag or digest, whole: its bytes, media type and
    /// digest. The digest is checked against the one asked for, and against the
    /// registry's `Docker-Content-Digest`; a mismatch is retried, then refused.
    pub async fn manifest(
        &self,
        repo: &str,
        reference: &str,
        image: &str,
    ) -> Result<(Vec<u8>, String, Digest), RegistryError> {
        let get = manifest_get(repo, reference, image);
        // One budget for every attempt at this manifest, authentication included.
        let mut budget = Budget::new(&self.limits());
        let mut attempt = 1;
        loop {
            // A body broken off or too slow is worth another run later; a manifest that
            // is not the one asked for is not.
            let (problem, broken) = match self.manifest_once(&get, &mut budget).await {
                Ok(Ok(found)) => match check_manifest_digest(reference, &found) {
                    Ok(()) => return Ok((found.bytes, found.media_type, found.digest)),
                    Err(message) => (message, false),
                },
                Ok(Err(problem)) => problem,
                Err(e) => return Err(e),
            };
            let wait = budget
                .retry(&self.policy(), attempt, None, &problem)
                .map_err(|m| {
                    let message = format!("manifest {reference}: {m}");
                    if broken {
                        return self.gave_up(image, message);
                    }
                    RegistryError::Protocol {
                        registry: self.host().to_string(),
                        image: image.to_string(),
                        message,
                    }
                })?;
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    /// Asks, with a HEAD, what `reference` (a tag) stands for: its digest (the registry's
    /// `Docker-Content-Digest`), media type and size, as containerd resolves tags. `None`
    /// when the registry does not answer the HEAD or leaves the digest out: the caller
    /// then GETs the manifest, as before.
    pub async fn head_manifest(
        &self,
        repo: &str,
        reference: &str,
        image: &str,
    ) -> Result<Option<ManifestHead>, RegistryError> {
        let get = manifest_get(repo, reference, image);
        // A HEAD is a document request with a budget of its own.
        let mut budget = Budget::new(&self.limits());
        let Some(resp) = self.head(&get, &mut budget).await? else {
            return Ok(None);
        };
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let Some(digest) = header("docker-content-digest").and_then(|d| d.parse::<Digest>().ok())
        else {
            return Ok(None);
        };
        let media_type = header(CONTENT_TYPE.as_str())
            .map(|v| v.split(';').next().unwrap_or(&v).trim().to_string())
            .filter(|t| MANIFEST_ACCEPT.contains(&t.as_str()));
        // No manifest is empty: a length of 0 says nothing (HEAD answers often carry it).
        let size = header(CONTENT_LENGTH.as_str())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .filter(|&n| n > 0);
        Ok(Some(ManifestHead {
            digest,
            media_type,
            size,
        }))
    }

    /// One manifest fetch; the inner error is a retryable problem with the body, and
    /// whether the body broke off or came too slowly (not: it is another manifest).
    async fn manifest_once(
        &self,
        get: &Get<'_>,
        budget: &mut Budget,
    ) -> Result<Result<Fetched, (String, bool)>, RegistryError> {
        let (mut resp, mut watch) = self.get(get, budget).await?;
        let header_digest = resp
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let content_type = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or(v).trim().to_string());
        // Bounded as containerd bounds it: an endless body costs 4 MiB, not all memory.
        let read = read_bounded(&mut resp, MAX_MANIFEST_SIZE, &mut watch, budget).await;
        let bytes = match read {
            Ok(b) => b,
            // Named by its URL either way: a budget spent after this attempt ends the
            // fetch with this message.
            Err(p) if p.transient => {
                let message = format!("{}: reading the body failed: {}", resp.url(), p.message);
                return Ok(Err((message, true)));
            }
            Err(p) => {
                let message = format!("{}: {}", resp.url(), p.final_message(budget));
                // The budget spent on a slow body is worth another run; a body past its
                // bound is not.
                return Err(self.transfer_as(get.image, message, p.budget));
            }
        };
        let digest = Digest::of(&bytes);
        if let Some(h) = header_digest
            && h != digest.to_string()
        {
            let message = format!("content hashes to {digest}, the registry says {h}");
            return Ok(Err((message, false)));
        }
        let media_type = content_type
            .filter(|t| MANIFEST_ACCEPT.contains(&t.as_str()))
            .or_else(|| document_media_type(&bytes))
            .ok_or_else(|| RegistryError::Protocol {
                registry: self.host().to_string(),
                image: get.image.to_string(),
                message: format!(
                    "{} is neither an image manifest nor an index (Docker schema 1 images are not supported)",
                    get.path
                ),
            })?;
        Ok(Ok(Fetched {
            bytes,
            media_type,
            digest,
        }))
    }
}

/// The request for the manifest or index `reference` (a tag or digest) of `repo`.
fn manifest_get<'a>(repo: &'a str, reference: &str, image: &'a str) -> Get<'a> {
    Get {
        repo,
        path: format!("manifests/{reference}"),
        accept: &MANIFEST_ACCEPT,
        offset: 0,
        image,
        kind: Transfer::Document,
    }
}

/// What a HEAD of a tag told.
#[derive(Debug, Clone)]
pub struct ManifestHead {
    /// The digest the tag points at.
    pub digest: Digest,
    /// The media type, when the registry gave a manifest type.
    pub media_type: Option<String>,
    /// The size, when the registry gave one.
    pub size: Option<u64>,
}

struct Fetched {
    bytes: Vec<u8>,
    media_type: String,
    digest: Digest,
}

fn check_manifest_digest(reference: &str, found: &Fetched) -> Result<(), String> {
    if reference.starts_with("sha256:") && found.digest.to_string() != reference {
        return Err(format!("content hashes to {}", found.digest));
    }
    Ok(())
}

/// The `mediaType` a manifest states about itself.
pub fn document_media_type(bytes: &[u8]) -> Option<String> {
    let doc = crate::oci::descriptor::ManifestDoc::parse(bytes).ok()?;
    match doc.kind(None)? {
        crate::oci::descriptor::ManifestKind::Index => {
            Some(doc.media_type.unwrap_or(OCI_INDEX.into()))
        }
        crate::oci::descriptor::ManifestKind::Image => {
            Some(doc.media_type.unwrap_or(OCI_MANIFEST.into()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_type_from_document_shape() {
        assert_eq!(
            document_media_type(br#"{"schemaVersion":2,"manifests":[]}"#).as_deref(),
            Some(OCI_INDEX)
        );
        assert_eq!(document_media_type(br#"{"schemaVersion":1}"#), None);
    }
}
