//! Referrers on a registry without the referrers API: after the referrers of a subject are
//! pushed (by digest), a registry that lists them through `GET /v2/<name>/referrers/<digest>`
//! needs nothing more; one that does not (Debian's distribution answers 404 there) gets the
//! OCI distribution spec 1.1 fallback: an image index under the tag `sha256-<hex>` listing
//! every referrer of the subject, merged with what that tag already lists (no duplicates),
//! so cosign and oras find them on the far side as they would on the near one.

use super::RegistryError;
use super::client::{Get, RegistryClient};
use super::manifest::MAX_MANIFEST_SIZE;
use crate::net::fetch::read_bounded;
use crate::net::{Budget, Transfer};
use crate::oci::attached::{REFERRERS_INDEX, fallback_tag};
use crate::oci::descriptor::OCI_INDEX;
use crate::oci::{Descriptor, Digest};
use bytes::Bytes;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// Writes (or extends) the fallback tag of every subject of `referrers` (repository,
/// subject, the referrer's manifest descriptor and bytes) where the registry does not list
/// the referrers through its API.
pub(super) async fn write_fallback_tags<'a>(
    client: &RegistryClient,
    referrers: impl Iterator<Item = (&'a str, &'a Digest, &'a Descriptor, &'a [u8])>,
) -> Result<(), RegistryError> {
    let mut by_subject: BTreeMap<(&str, &Digest), Vec<Value>> = BTreeMap::new();
    for (repo, subject, root, bytes) in referrers {
        by_subject
            .entry((repo, subject))
            .or_default()
            .push(listing_entry(root, bytes));
    }
    for ((repo, subject), entries) in by_subject {
        // A registry with the API keeps the list itself.
        if client.referrers(repo, subject, repo).await.is_some() {
            continue;
        }
        let tag = fallback_tag(subject);
        let image = format!("{}/{repo}:{tag}", client.host());
        let current = match client.manifest(repo, &tag, &image).await {
            Ok((bytes, _, _)) => Some(bytes),
            Err(RegistryError::NotFound { .. }) => None,
            Err(e) => return Err(e),
        };
        let Some(merged) = merged(current.as_deref(), entries) else {
            continue;
        };
        let reference = client.reference(repo, &tag);
        let content_type = reqwest::header::HeaderValue::from_static(OCI_INDEX);
        let body = Bytes::from(merged);
        client
            .retry_oci(&image, "PUT referrers fallback index", || {
                client
                    .oci()
                    .push_manifest_raw(&reference, body.clone(), content_type.clone())
            })
            .await?;
    }
    Ok(())
}

impl RegistryClient {
    /// The referrers API's answer for `subject` in `repo` (an image index), `None` when the
    /// registry has no such API: it answers with an error (distribution 2.x: 404) or with
    /// something else than an index. A registry has the API or not, so once it has said it
    /// has none, it is not asked again in this run.
    pub async fn referrers(&self, repo: &str, subject: &Digest, image: &str) -> Option<Vec<u8>> {
        if self.has_referrers_api() == Some(false) {
            return None;
        }
        let get = Get {
            repo,
            path: format!("referrers/{subject}"),
            accept: &[REFERRERS_INDEX],
            offset: 0,
            image,
            kind: Transfer::Document,
        };
        let mut budget = Budget::new(&self.limits());
        let (mut resp, mut watch) = match self.get(&get, &mut budget).await {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!("{image}: no referrers API: {e}");
                self.set_referrers_api(false);
                return None;
            }
        };
        let is_index = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with(REFERRERS_INDEX));
        let bytes = read_bounded(&mut resp, MAX_MANIFEST_SIZE, &mut watch, &mut budget)
            .await
            .ok()?;
        self.set_referrers_api(is_index);
        is_index.then_some(bytes)
    }
}

/// The fallback index's entry for a referrer: its descriptor with the `artifactType` (the
/// manifest's, else its config's media type) and the manifest's annotations.
fn listing_entry(root: &Descriptor, bytes: &[u8]) -> Value {
    let doc: Map<String, Value> = serde_json::from_slice(bytes).unwrap_or_default();
    let artifact_type = doc
        .get("artifactType")
        .cloned()
        .or_else(|| doc.get("config").and_then(|c| c.get("mediaType")).cloned());
    let mut entry = Map::new();
    entry.insert("mediaType".into(), json!(root.media_type));
    entry.insert("digest".into(), json!(root.digest.to_string()));
    entry.insert("size".into(), json!(root.size));
    if let Some(t) = artifact_type {
        entry.insert("artifactType".into(), t);
    }
    if let Some(a) = doc
        .get("annotations")
        .filter(|a| a.as_object().is_some_and(|m| !m.is_empty()))
    {
        entry.insert("annotations".into(), a.clone());
    }
    Value::Object(entry)
}

/// `current` (the fallback index the registry has, if any) with `entries` added where
/// their digest is not listed yet; `None` when nothing is added.
fn merged(current: Option<&[u8]>, entries: Vec<Value>) -> Option<Vec<u8>> {
    let mut index: Map<String, Value> = current
        .and_then(|b| serde_json::from_slice(b).ok())
        .unwrap_or_default();
    index.insert("schemaVersion".into(), json!(2));
    index.insert("mediaType".into(), json!(OCI_INDEX));
    let manifests = index
        .entry("manifests")
        .or_insert_with(|| Value::Array(Vec::new()));
    if !manifests.is_array() {
        *manifests = Value::Array(Vec::new());
    }
    let list = manifests.as_array_mut()?;
    let mut added = false;
    for e in entries {
        if !list.iter().any(|m| m.get("digest") == e.get("digest")) {
            list.push(e);
            added = true;
        }
    }
    added.then(|| serde_json::to_vec(&Value::Object(index)).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fallback_index_gains_each_referrer_once() {
        let a = json!({"mediaType": "m", "digest": "sha256:aa", "size": 1});
        let b = json!({"mediaType": "m", "digest": "sha256:bb", "size": 2});
        let first = merged(None, vec![a.clone()]).unwrap();
        let v: Value = serde_json::from_slice(&first).unwrap();
        assert_eq!(v["mediaType"], OCI_INDEX);
        assert_eq!(v["manifests"].as_array().unwrap().len(), 1);
        assert_eq!(merged(Some(&first), vec![a.clone()]), None, "nothing new");
        let second = merged(Some(&first), vec![a, b]).unwrap();
        let v: Value = serde_json::from_slice(&second).unwrap();
        assert_eq!(v["manifests"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn a_listing_entry_carries_the_artifact_type_and_annotations() {
        let bytes = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/vnd.dev.sigstore.bundle.v0.3+json","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44","size":2},"layers":[],"annotations":{"dev.sigstore.bundle.predicateType":"https://sigstore.dev/cosign/sign/v1"}}"#;
        let d = Descriptor::new(
            "application/vnd.oci.image.manifest.v1+json",
            Digest::of(bytes),
            bytes.len() as u64,
        );
        let e = listing_entry(&d, bytes);
        assert_eq!(
            e["artifactType"],
            "application/vnd.dev.sigstore.bundle.v0.3+json"
        );
        assert_eq!(
            e["annotations"]["dev.sigstore.bundle.predicateType"],
            "https://sigstore.dev/cosign/sign/v1"
        );
        assert_eq!(e["size"], bytes.len());
    }
}
