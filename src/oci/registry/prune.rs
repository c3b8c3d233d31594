//! `push --prune`: what a push leaves in the registry to remember what it pushed, and the
//! removal of what an earlier push of the same output pushed and this one no longer does.
//!
//! Each push writes a record (`seedforge/push-record:<NAME>`, an OCI artifact whose one
//! layer is a JSON list of every manifest it pushed by repository, tag and digest, the
//! signatures and other artifacts stored with the images included). With `--prune`, the
//! record the last push of that name left is read first; every manifest it lists that the
//! new push does not (by repository and tag, or digest for one pushed by digest) is deleted
//! by digest, unless a manifest the new push keeps in that repository has that digest (a
//! registry deletes a manifest with every tag on it). Nothing the record does not list is
//! touched: images pushed by other means stay. The blobs are the registry's own garbage
//! collection's (`registry garbage-collect`).

use super::RegistryError;
use super::client::{Get, RegistryClient};
use crate::net::{Budget, Transfer};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// The repository the records live in.
pub const RECORD_REPOSITORY: &str = "seedforge/push-record";
/// The media type of a record's layer (and the artifact's type).
pub const RECORD_MEDIA_TYPE: &str = "application/vnd.seedforge.push-record.v1+json";
/// The format of a record.
const RECORD_FORMAT: &str = "seedforge-push-record";
/// The empty config every artifact of OCI 1.1 may use.
const EMPTY_MEDIA_TYPE: &str = "application/vnd.oci.empty.v1+json";
/// A record is read whole up to this size (30,000 images are a few MiB).
const MAX_RECORD: u64 = 64 << 20;

/// One manifest a push put in the registry.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Pushed {
    /// The repository in the registry (`rancher/mirrored-pause`).
    pub repository: String,
    /// The tag it was pushed under; `None` for one pushed by digest (a referrer).
    pub tag: Option<String>,
    /// The digest of the manifest or index.
    pub digest: String,
}

/// What a push pushed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushRecord {
    /// [`RECORD_FORMAT`].
    pub format: String,
    /// Every manifest pushed, sorted.
    pub pushed: Vec<Pushed>,
}

impl PushRecord {
    /// A record of `pushed`.
    pub fn new(mut pushed: Vec<Pushed>) -> PushRecord {
        pushed.sort();
        pushed.dedup();
        PushRecord {
            format: RECORD_FORMAT.into(),
            pushed,
        }
    }

    /// What `self` (the earlier push) has that `now` does not, and may be deleted: each
    /// manifest whose digest the new push does not put in its repository (an image dropped,
    /// or the old version of one pushed again under its tag); a digest the new push keeps
    /// there is never deleted (a registry deletes a manifest with every tag on it).
    pub fn dropped_since(&self, now: &PushRecord) -> Vec<Pushed> {
        let kept: BTreeSet<(&str, &str)> = (now.pushed.iter())
            .map(|p| (p.repository.as_str(), p.digest.as_str()))
            .collect();
        let mut dropped: Vec<Pushed> = (self.pushed.iter())
            .filter(|p| !kept.contains(&(p.repository.as_str(), p.digest.as_str())))
            .cloned()
            .collect();
        // One delete per manifest: two tags on one digest go together.
        dropped.sort_by(|a, b| (&a.repository, &a.digest).cmp(&(&b.repository, &b.digest)));
        dropped.dedup_by(|a, b| a.repository == b.repository && a.digest == b.digest);
        dropped
    }
}

/// What a prune removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PruneReport {
    /// Whether an earlier record was found (without one, nothing is removed).
    pub record_found: bool,
    /// The manifests deleted (`REPO:TAG@DIGEST`, or `REPO@DIGEST`).
    pub removed: Vec<String>,
    /// Listed by the record but already gone from the registry.
    pub already_gone: Vec<String>,
}

/// `REPO:TAG@DIGEST`, or `REPO@DIGEST` for a manifest pushed by digest.
fn named(p: &Pushed) -> String {
    match &p.tag {
        Some(tag) => format!("{}:{tag}@{}", p.repository, p.digest),
        None => format!("{}@{}", p.repository, p.digest),
    }
}

/// A record's tag for `name` (the cluster's name): a valid tag made of it.
pub fn record_tag(name: &str) -> String {
    let tag: String = (name.chars())
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .take(128)
        .collect();
    if tag.is_empty() || !tag.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_') {
        format!("_{tag}").chars().take(128).collect()
    } else {
        tag
    }
}

impl RegistryClient {
    /// The record the last push under `tag` left, if there is one.
    pub async fn push_record(&self, tag: &str) -> Result<Option<PushRecord>, RegistryError> {
        let image = format!("{}/{RECORD_REPOSITORY}:{tag}", self.host());
        let (bytes, _, _) = match self.manifest(RECORD_REPOSITORY, tag, &image).await {
            Ok(found) => found,
            Err(RegistryError::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        let bad = |message: String| RegistryError::Protocol {
            registry: self.host().to_string(),
            image: image.clone(),
            message,
        };
        let manifest: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|e| bad(format!("the push record is not JSON: {e}")))?;
        let layer = manifest["layers"][0]["digest"]
            .as_str()
            .ok_or_else(|| bad("the push record has no layer".into()))?
            .to_string();
        let get = Get {
            repo: RECORD_REPOSITORY,
            path: format!("blobs/{layer}"),
            accept: &[RECORD_MEDIA_TYPE],
            offset: 0,
            image: &image,
            kind: Transfer::Document,
        };
        let mut budget = Budget::new(&self.limits());
        let (mut resp, mut watch) = self.get(&get, &mut budget).await?;
        let body = crate::net::fetch::read_bounded(&mut resp, MAX_RECORD, &mut watch, &mut budget)
            .await
            .map_err(|p| bad(format!("the push record's layer: {}", p.message)))?;
        if crate::oci::Digest::of(&body).to_string() != layer {
            return Err(bad(format!(
                "the push record's layer does not hash to {layer}"
            )));
        }
        let record: PushRecord = serde_json::from_slice(&body)
            .map_err(|e| bad(format!("the push record does not parse: {e}")))?;
        if record.format != RECORD_FORMAT {
            return Err(bad(format!("not a push record ({:?})", record.format)));
        }
        Ok(Some(record))
    }

    /// Writes `record` as the record of the pushes under `tag`.
    pub async fn write_push_record(
        &self,
        tag: &str,
        record: &PushRecord,
    ) -> Result<(), RegistryError> {
        let image = format!("{}/{RECORD_REPOSITORY}:{tag}", self.host());
        let mut body = serde_json::to_vec(record).unwrap_or_default();
        body.push(b'\n');
        let layer = crate::oci::Digest::of(&body).to_string();
        let empty = b"{}".to_vec();
        let empty_digest = crate::oci::Digest::of(&empty).to_string();
        let reference = self.reference(RECORD_REPOSITORY, tag);
        for (bytes, digest) in [(empty.clone(), &empty_digest), (body.clone(), &layer)] {
            let bytes = bytes::Bytes::from(bytes);
            self.retry_oci(&image, &format!("upload of blob {digest}"), || {
                self.oci().push_blob(&reference, bytes.clone(), digest)
            })
            .await?;
        }
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "artifactType": RECORD_MEDIA_TYPE,
            "config": {"mediaType": EMPTY_MEDIA_TYPE, "digest": empty_digest, "size": 2},
            "layers": [{"mediaType": RECORD_MEDIA_TYPE, "digest": layer, "size": body.len()}],
        });
        let manifest = bytes::Bytes::from(serde_json::to_vec(&manifest).unwrap_or_default());
        let content_type =
            reqwest::header::HeaderValue::from_static("application/vnd.oci.image.manifest.v1+json");
        self.retry_oci(&image, "PUT the push record", || {
            self.oci()
                .push_manifest_raw(&reference, manifest.clone(), content_type.clone())
        })
        .await?;
        Ok(())
    }

    /// Deletes each of `dropped` by digest; one the registry no longer has is noted, not a
    /// failure. A registry that refuses deletes (distribution without
    /// `storage.delete.enabled`: 405) fails with what to set.
    pub async fn prune(&self, dropped: &[Pushed]) -> Result<PruneReport, RegistryError> {
        let mut report = PruneReport {
            record_found: true,
            ..PruneReport::default()
        };
        for p in dropped {
            let image = format!("{}/{}", self.host(), named(p));
            let named = named(p);
            let get = Get {
                repo: &p.repository,
                path: format!("manifests/{}", p.digest),
                accept: &[],
                offset: 0,
                image: &image,
                kind: Transfer::Document,
            };
            let mut budget = Budget::new(&self.limits());
            match self.delete(&get, &mut budget).await {
                Ok(_) => report.removed.push(named),
                Err(RegistryError::NotFound { .. }) => report.already_gone.push(named),
                Err(RegistryError::Transfer { message, .. }) if message.contains("HTTP 405") => {
                    return Err(RegistryError::Protocol {
                        registry: self.host().to_string(),
                        image,
                        message: "the registry does not delete manifests (HTTP 405): a distribution registry needs storage.delete.enabled: true in its config (seedforge's registry/config.yml sets it)".into(),
                    });
                }
                Err(e) => return Err(e),
            }
        }
        Ok(report)
    }
}

/// A record of what a push put into `registry`: each `HOST/REPO:TAG` or `HOST/REPO@DIGEST`
/// target with the digest of its manifest.
pub fn record_of<'a>(
    registry: &str,
    pushed: impl Iterator<Item = (&'a str, String)>,
) -> PushRecord {
    let prefix = format!("{registry}/");
    PushRecord::new(
        pushed
            .filter_map(|(target, digest)| {
                let rest = target.strip_prefix(&prefix)?;
                let (repository, tag) = match rest.split_once('@') {
                    Some((repo, _)) => (repo.to_string(), None),
                    None => {
                        let (repo, tag) = rest.rsplit_once(':')?;
                        (repo.to_string(), Some(tag.to_string()))
                    }
                };
                Some(Pushed {
                    repository,
                    tag,
                    digest,
                })
            })
            .collect(),
    )
}

/// The record the last `push --prune` under `tag` left in `registry`, if any.
pub fn read_record(
    registries: &super::registries::Registries,
    registry: &str,
    tag: &str,
) -> Result<Option<PushRecord>, RegistryError> {
    let image = format!("{registry}/{RECORD_REPOSITORY}:{tag}");
    let client = registries.client(registry, &image)?;
    registries.runtime()?.block_on(client.push_record(tag))
}

/// Deletes from `registry` what `previous` (the last record) lists and `now` does not,
/// then writes `now` as the record under `tag`. Without a previous record nothing is
/// deleted.
pub fn prune_and_record(
    registries: &super::registries::Registries,
    registry: &str,
    tag: &str,
    previous: Option<&PushRecord>,
    now: &PushRecord,
) -> Result<PruneReport, RegistryError> {
    let image = format!("{registry}/{RECORD_REPOSITORY}:{tag}");
    let client = registries.client(registry, &image)?;
    registries.runtime()?.block_on(async {
        let report = match previous {
            Some(previous) => client.prune(&previous.dropped_since(now)).await?,
            None => PruneReport::default(),
        };
        client.write_push_record(tag, now).await?;
        Ok(report)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(repo: &str, tag: Option<&str>, digest: &str) -> Pushed {
        Pushed {
            repository: repo.into(),
            tag: tag.map(Into::into),
            digest: digest.into(),
        }
    }

    #[test]
    fn what_was_dropped_is_what_the_new_push_no_longer_has_and_no_kept_digest() {
        let before = PushRecord::new(vec![
            p("acme/cron", Some("1.0"), "sha256:c"),
            p("acme/cron", Some("sha256-c.sig"), "sha256:cs"),
            p("acme/web", Some("1.0"), "sha256:w"),
            p("acme/web", Some("old"), "sha256:w"),
            p("acme/api", Some("1.0"), "sha256:a1"),
        ]);
        let now = PushRecord::new(vec![
            p("acme/web", Some("1.0"), "sha256:w"),
            p("acme/api", Some("1.0"), "sha256:a2"),
        ]);
        let dropped: Vec<String> = before.dropped_since(&now).iter().map(named).collect();
        // acme/web:old shares the kept digest: deleting it would delete acme/web:1.0. The
        // old acme/api:1.0 goes (its tag now names another manifest).
        assert_eq!(
            dropped,
            [
                "acme/api:1.0@sha256:a1",
                "acme/cron:1.0@sha256:c",
                "acme/cron:sha256-c.sig@sha256:cs"
            ]
        );
        assert!(now.dropped_since(&now).is_empty());
    }

    #[test]
    fn a_record_tag_is_a_valid_tag() {
        assert_eq!(record_tag("lab"), "lab");
        assert_eq!(record_tag("my cluster/1"), "my-cluster-1");
        assert_eq!(record_tag("-x"), "_-x");
        assert_eq!(record_tag(""), "_");
    }
}
