//! Manifests, blobs, tags lists and the catalog, answered from one [`Snapshot`] of `OUT`.

use super::body::Body;
use super::catalog::{Repo, Snapshot};
use super::routes::{
    DigestRef, Request, Route, digest_ref, document, error, query_values, valid_name, valid_tag,
};
use super::verified::Identity;
use crate::oci::Digest;
use hyper::header::{self, HeaderValue};
use hyper::{Response, StatusCode};

/// Answers `route` from `snapshot`.
pub(super) fn answer(snapshot: &Snapshot, route: Route<'_>, request: &Request) -> Response<Body> {
    let (name, rest) = match route {
        Route::Base => return document("application/json", b"{}".to_vec(), request.head),
        Route::Catalog => return catalog(snapshot, request),
        Route::Manifest(name, r) | Route::Blob(name, r) | Route::Referrers(name, r) => {
            (name, Some(r))
        }
        Route::Tags(name) => (name, None),
    };
    if !valid_name(name) {
        return error(
            StatusCode::BAD_REQUEST,
            "NAME_INVALID",
            "invalid repository name",
        );
    }
    let ns = request.ns();
    let Some(repo) = snapshot.catalog.repo(name, ns.as_deref()) else {
        return error(
            StatusCode::NOT_FOUND,
            "NAME_UNKNOWN",
            &format!("repository {name} is not in this registry"),
        );
    };
    match (route, rest) {
        (Route::Manifest(..), Some(reference)) => manifest(snapshot, &repo, reference, request),
        (Route::Blob(..), Some(digest)) => match digest_ref(digest) {
            DigestRef::Sha256(digest) => blob(snapshot, &repo, &digest, request),
            DigestRef::Other => blob_unknown(digest),
            DigestRef::Invalid => bad_digest(),
        },
        // The spec's referrers API never answers 404, and 400 only for a digest of invalid
        // syntax: a subject of another algorithm has an empty list.
        (Route::Referrers(..), Some(digest)) => match digest_ref(digest) {
            DigestRef::Sha256(digest) => {
                super::referrers::answer(snapshot, &repo, Some(&digest), request)
            }
            DigestRef::Other => super::referrers::answer(snapshot, &repo, None, request),
            DigestRef::Invalid => bad_digest(),
        },
        _ => tags(name, &repo, request),
    }
}

fn bad_digest() -> Response<Body> {
    error(
        StatusCode::BAD_REQUEST,
        "DIGEST_INVALID",
        "a digest here is sha256:<64 lowercase hex digits>",
    )
}

fn blob_unknown(what: &str) -> Response<Body> {
    error(
        StatusCode::NOT_FOUND,
        "BLOB_UNKNOWN",
        &format!("blob {what} is not in this repository"),
    )
}

fn manifest_unknown(what: &str) -> Response<Body> {
    error(
        StatusCode::NOT_FOUND,
        "MANIFEST_UNKNOWN",
        &format!("manifest {what} is not in this repository"),
    )
}

/// A manifest or index by tag or digest, with its stored media type. By digest, only one
/// the repository reaches ([`super::reach`]): anything else is refused before its blob is
/// opened.
fn manifest(
    snapshot: &Snapshot,
    repo: &Repo<'_>,
    reference: &str,
    request: &Request,
) -> Response<Body> {
    let (digest, media_type) = if reference.contains(':') {
        // A well-formed digest of another algorithm names nothing stored here: 404, as the
        // spec has it for a manifest not in the repository.
        let digest = match digest_ref(reference) {
            DigestRef::Sha256(digest) => digest,
            DigestRef::Other => return manifest_unknown(reference),
            DigestRef::Invalid => return bad_digest(),
        };
        let reach = snapshot.catalog.reach(snapshot, repo);
        match reach.get(&digest).and_then(|r| r.manifest.clone()) {
            Some(media_type) => (digest, media_type.to_string()),
            None => return manifest_unknown(reference),
        }
    } else if valid_tag(reference) {
        match repo.tagged(reference) {
            Some(e) => (e.digest(), e.media_type.to_string()),
            None => return manifest_unknown(reference),
        }
    } else {
        // Not a tag nor a digest: no manifest has that name. The distribution spec's
        // endpoint table answers a manifest GET or HEAD with 200 or 404 only, and its
        // conformance suite asks for 404 here.
        return error(
            StatusCode::NOT_FOUND,
            "MANIFEST_UNKNOWN",
            &format!(
                "manifest {reference:?} is not in this repository: it is not a valid tag or digest"
            ),
        );
    };
    if !accepts(&request.accept, &media_type) {
        return error(
            StatusCode::NOT_FOUND,
            "MANIFEST_UNKNOWN",
            &format!(
                "manifest {reference} is stored as {media_type}, which the request's Accept does not list"
            ),
        );
    }
    if none_match(&request.if_none_match, &digest) {
        return not_modified(&digest);
    }
    let bytes = match snapshot.document(&digest) {
        Ok(Some(bytes)) => bytes,
        Ok(None) => return manifest_unknown(reference),
        Err(e) => {
            tracing::warn!("{e}");
            return manifest_unknown(reference);
        }
    };
    let mut r = document(&media_type, bytes, request.head);
    with_digest(&mut r, &digest);
    r
}

/// Whether an `Accept` list takes `media_type` (no list takes everything). Media types
/// are compared without regard to case (RFC 9110, 8.3.1).
fn accepts(accept: &[String], media_type: &str) -> bool {
    accept.is_empty()
        || accept.iter().any(|a| {
            a.eq_ignore_ascii_case(media_type)
                || a == "*/*"
                || a.eq_ignore_ascii_case("application/*")
        })
}

/// Whether `If-None-Match` lists the entity tag of `digest` (its digest, quoted, as
/// distribution gives it; weak or strong alike, as RFC 9110 13.1.2 compares them), or `*`.
fn none_match(tags: &[String], digest: &Digest) -> bool {
    let digest = digest.to_string();
    tags.iter().flat_map(|v| v.split(',')).any(|tag| {
        let tag = tag.trim();
        let tag = tag.strip_prefix("W/").unwrap_or(tag);
        let bare = tag
            .strip_prefix('"')
            .and_then(|t| t.strip_suffix('"'))
            .unwrap_or(tag);
        tag == "*" || bare == digest
    })
}

fn with_digest(r: &mut Response<Body>, digest: &Digest) {
    if let Ok(v) = HeaderValue::from_str(&digest.to_string()) {
        r.headers_mut().insert("docker-content-digest", v.clone());
    }
    if let Ok(v) = HeaderValue::from_str(&format!("\"{digest}\"")) {
        r.headers_mut().insert(header::ETAG, v);
    }
}

/// `304 Not Modified`: the client's copy is this digest.
fn not_modified(digest: &Digest) -> Response<Body> {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::NOT_MODIFIED;
    with_digest(&mut r, digest);
    r
}

/// A blob the repository reaches, whole or one range of it. The whole blob is hashed as it
/// is sent ([`Body::checked_file`]) unless it was checked whole before and its file is
/// still the same ([`super::verified`]); a range is not (its client checks the whole it
/// puts together).
fn blob(
    snapshot: &Snapshot,
    repo: &Repo<'_>,
    digest: &Digest,
    request: &Request,
) -> Response<Body> {
    if snapshot.catalog.reach(snapshot, repo).get(digest).is_none() {
        return blob_unknown(&digest.to_string());
    }
    if none_match(&request.if_none_match, digest) {
        return not_modified(digest);
    }
    let (file, meta) = match snapshot.blob(digest) {
        Ok(Some(found)) => found,
        Ok(None) => {
            return error(
                StatusCode::NOT_FOUND,
                "BLOB_UNKNOWN",
                &format!("blob {digest} is not in this registry"),
            );
        }
        Err(e) => {
            tracing::warn!("{e}");
            return error(
                StatusCode::NOT_FOUND,
                "BLOB_UNKNOWN",
                &format!("blob {digest} cannot be read"),
            );
        }
    };
    let size = meta.len();
    let identity = Identity::of(&meta);
    let (status, start, end) = match request.range.as_deref().map(|r| range(r, size)) {
        None | Some(Range::Ignore) => (StatusCode::OK, 0, size),
        Some(Range::Part(start, end)) => (StatusCode::PARTIAL_CONTENT, start, end),
        Some(Range::Unsatisfiable) => {
            let mut r = error(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "BLOB_UNKNOWN",
                "the requested range is not within the blob (one range of bytes, as bytes=START-END)",
            );
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                r.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            return r;
        }
    };
    if size == 0 && *digest != Digest::of(b"") {
        tracing::warn!(
            "oci/blobs/sha256/{}: empty, which is not its digest; not served",
            digest.hex()
        );
        return error(
            StatusCode::NOT_FOUND,
            "BLOB_UNKNOWN",
            &format!("blob {digest} cannot be read"),
        );
    }
    let body = if request.head || start == end {
        Body::empty()
    } else if status != StatusCode::OK {
        Body::file(file, start, end)
    } else if snapshot.verified.holds(digest.key(), &identity) {
        Body::remembered_file(file, size, digest.clone(), identity)
    } else {
        let verified = snapshot.verified.clone();
        Body::checked_file(file, size, digest.clone(), verified, identity)
    };
    let mut r = Response::new(body);
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(end - start));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if status == StatusCode::PARTIAL_CONTENT
        && let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{}/{size}", end - 1))
    {
        h.insert(header::CONTENT_RANGE, v);
    }
    with_digest(&mut r, digest);
    r
}

/// What a `Range` header asks of a blob of `size` bytes.
#[derive(Debug, PartialEq, Eq)]
enum Range {
    /// Not a byte range, or several (which RFC 9110 14.2 lets a server ignore): the
    /// whole blob.
    Ignore,
    /// Bytes `start..end`.
    Part(u64, u64),
    /// A byte range that cannot be served (out of the blob, malformed).
    Unsatisfiable,
}

fn range(header: &str, size: u64) -> Range {
    let Some(spec) = header.trim().strip_prefix("bytes=") else {
        return Range::Ignore;
    };
    if spec.contains(',') {
        return Range::Ignore;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return Range::Unsatisfiable;
    };
    let num = |s: &str| {
        (!s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()))
            .then(|| s.parse::<u64>().ok())
            .flatten()
    };
    match (a.is_empty(), num(a), num(b)) {
        // bytes=-N: the last N bytes.
        (true, _, Some(n)) if n > 0 && size > 0 => Range::Part(size - n.min(size), size),
        (false, Some(start), None) if b.is_empty() && start < size => Range::Part(start, size),
        (false, Some(start), Some(last)) if start <= last && start < size => {
            Range::Part(start, last.min(size - 1) + 1)
        }
        _ => Range::Unsatisfiable,
    }
}

/// Bounds a listing with `n` and `last`; the `Link` to the next page when there is one.
fn page<'a>(items: Vec<&'a str>, query: &str, path: &str) -> (Vec<&'a str>, Option<String>) {
    let last = query_values(query, "last").next();
    let n = query_values(query, "n")
        .next()
        .and_then(|n| n.parse::<usize>().ok());
    let after: Vec<&str> = match &last {
        Some(last) => items.into_iter().filter(|t| *t > last.as_str()).collect(),
        None => items,
    };
    match n {
        Some(n) if after.len() > n => {
            let shown = after[..n].to_vec();
            let link = shown
                .last()
                .map(|l| format!("<{path}?n={n}&last={l}>; rel=\"next\""));
            (shown, link)
        }
        _ => (after, None),
    }
}

fn listing(
    key: &str,
    name: Option<&str>,
    items: Vec<&str>,
    link: Option<String>,
    head: bool,
) -> Response<Body> {
    let mut doc = serde_json::Map::new();
    if let Some(name) = name {
        doc.insert("name".into(), name.into());
    }
    doc.insert(key.into(), items.into());
    let bytes = serde_json::to_vec(&doc).unwrap_or_default();
    let mut r = document("application/json", bytes, head);
    if let Some(link) = link.and_then(|l| HeaderValue::from_str(&l).ok()) {
        r.headers_mut().insert(header::LINK, link);
    }
    r
}

fn tags(name: &str, repo: &Repo<'_>, request: &Request) -> Response<Body> {
    let path = format!("/v2/{name}/tags/list");
    let (tags, link) = page(repo.tags(), &request.query, &path);
    listing("tags", Some(name), tags, link, request.head)
}

fn catalog(snapshot: &Snapshot, request: &Request) -> Response<Body> {
    let names = snapshot.catalog.names().iter().map(|n| &**n).collect();
    let (names, link) = page(names, &request.query, "/v2/_catalog");
    listing("repositories", None, names, link, request.head)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_one_byte_range_within_the_blob() {
        assert_eq!(range("bytes=0-9", 100), Range::Part(0, 10));
        assert_eq!(range("bytes=90-", 100), Range::Part(90, 100));
        assert_eq!(range("bytes=-10", 100), Range::Part(90, 100));
        assert_eq!(range("bytes=50-500", 100), Range::Part(50, 100));
        assert_eq!(range("items=0-1", 100), Range::Ignore);
        // Several ranges: the whole blob (200), not a multipart answer.
        assert_eq!(range("bytes=0-1,3-4", 100), Range::Ignore);
        assert_eq!(range("bytes=0-1, 500-600", 100), Range::Ignore);
        for bad in ["bytes=100-", "bytes=5-2", "bytes=x-1", "bytes=-0", "bytes="] {
            assert_eq!(range(bad, 100), Range::Unsatisfiable, "{bad}");
        }
    }

    #[test]
    fn media_types_match_whatever_their_case_and_etags_as_distribution_gives_them() {
        let accept = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let oci = "application/vnd.oci.image.manifest.v1+json";
        assert!(accepts(
            &accept(&["APPLICATION/VND.OCI.IMAGE.MANIFEST.V1+JSON"]),
            oci
        ));
        assert!(accepts(&accept(&["Application/*"]), oci));
        assert!(!accepts(
            &accept(&["application/vnd.oci.image.index.v1+json"]),
            oci
        ));
        let d = Digest::of(b"x");
        for tag in [
            format!("\"{d}\""),
            format!("W/\"{d}\""),
            d.to_string(),
            format!("\"sha256:{}\", \"{d}\"", "0".repeat(64)),
            "*".to_string(),
        ] {
            assert!(none_match(std::slice::from_ref(&tag), &d), "{tag}");
        }
        assert!(!none_match(&[], &d));
        assert!(!none_match(&[format!("\"{}\"", Digest::of(b"y"))], &d));
    }

    #[test]
    fn pages_follow_last_and_n() {
        let (items, link) = page(vec!["a", "b", "c"], "n=2", "/v2/x/tags/list");
        assert_eq!(items, ["a", "b"]);
        assert_eq!(
            link.as_deref(),
            Some("</v2/x/tags/list?n=2&last=b>; rel=\"next\"")
        );
        let (items, link) = page(vec!["a", "b", "c"], "n=2&last=b", "/p");
        assert_eq!((items, link), (vec!["c"], None));
    }
}
