//! The referrers API (`GET /v2/NAME/referrers/DIGEST`, distribution spec 1.1): the
//! artifacts the layout stores as referrers of `DIGEST` (Sigstore bundles, attestations,
//! SBOMs), each described by its manifest's `artifactType` (else its config's media type)
//! and annotations, filtered by `?artifactType=` when asked. An unknown subject has an
//! empty list, as the spec says, and so has a subject digest of an algorithm other than
//! sha256 (`None`), under which the layout stores nothing.

use super::body::Body;
use super::catalog::{Repo, Snapshot};
use super::routes::{Request, document, query_values};
use crate::oci::Digest;
use crate::oci::descriptor::OCI_INDEX;
use hyper::Response;
use hyper::header::HeaderValue;
use serde_json::{Value, json};

/// Answers the referrers of `subject` in `repo`.
pub(super) fn answer(
    snapshot: &Snapshot,
    repo: &Repo<'_>,
    subject: Option<&Digest>,
    request: &Request,
) -> Response<Body> {
    let wanted: Vec<String> = query_values(&request.query, "artifactType").collect();
    let mut manifests = Vec::new();
    for entry in subject.into_iter().flat_map(|s| repo.referrers(s)) {
        let doc: Value = match snapshot.document(&entry.digest()) {
            Ok(Some(bytes)) => serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            _ => continue,
        };
        let artifact_type = doc
            .get("artifactType")
            .or_else(|| doc.get("config").and_then(|c| c.get("mediaType")))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if !wanted.is_empty() && !wanted.contains(&artifact_type) {
            continue;
        }
        let mut d = json!({
            "mediaType": &*entry.media_type,
            "digest": entry.digest().to_string(),
            "size": entry.size,
        });
        if !artifact_type.is_empty() {
            d["artifactType"] = artifact_type.into();
        }
        if let Some(a) = doc.get("annotations").filter(|a| a.is_object()) {
            d["annotations"] = a.clone();
        }
        manifests.push(d);
    }
    let index = json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": manifests,
    });
    let mut r = document(
        OCI_INDEX,
        serde_json::to_vec(&index).unwrap_or_default(),
        request.head,
    );
    if !wanted.is_empty() {
        r.headers_mut().insert(
            "oci-filters-applied",
            HeaderValue::from_static("artifactType"),
        );
    }
    r
}
