//! The request as the distribution spec has it: the target checked against the spec's
//! grammar and split into a route, the `Host` fields, what a handler needs of the rest
//! ([`Request`]), and the spec's answers: its error body and a JSON document.
//!
//! Nothing a client sends becomes a path: a name must match the spec's grammar (no `..`,
//! no `%`, nothing decoded), a digest must be `sha256:<64 lowercase hex>`, and files are
//! opened only as `blobs/sha256/<hex>` beneath the layout ([`super::catalog::Snapshot`]).

use super::body::Body;
use crate::oci::Digest;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Response, StatusCode, Version};

/// What a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Route<'a> {
    /// `/v2/`.
    Base,
    /// `/v2/_catalog`.
    Catalog,
    /// `/v2/NAME/manifests/REFERENCE`.
    Manifest(&'a str, &'a str),
    /// `/v2/NAME/blobs/DIGEST`.
    Blob(&'a str, &'a str),
    /// `/v2/NAME/tags/list`.
    Tags(&'a str),
    /// `/v2/NAME/referrers/DIGEST`.
    Referrers(&'a str, &'a str),
}

/// What a handler needs of the request.
pub(super) struct Request {
    /// HEAD: headers only.
    pub head: bool,
    /// The query string.
    pub query: String,
    /// The media types `Accept` lists.
    pub accept: Vec<String>,
    /// The `Range` header.
    pub range: Option<String>,
    /// The entity tags `If-None-Match` lists (`*` for any).
    pub if_none_match: Vec<String>,
}

impl Request {
    /// The registry containerd's `?ns=` names.
    pub(super) fn ns(&self) -> Option<String> {
        query_values(&self.query, "ns").next()
    }
}

/// Splits a request path into its route; `None` for anything else.
pub(super) fn route(path: &str) -> Option<Route<'_>> {
    if path == "/v2" || path == "/v2/" {
        return Some(Route::Base);
    }
    let rest = path.strip_prefix("/v2/")?;
    if rest == "_catalog" {
        return Some(Route::Catalog);
    }
    if let Some(name) = rest.strip_suffix("/tags/list") {
        return Some(Route::Tags(name));
    }
    let (at, marker) = ["/manifests/", "/blobs/", "/referrers/"]
        .into_iter()
        .filter_map(|m| rest.rfind(m).map(|at| (at, m)))
        .max()?;
    let (name, last) = (&rest[..at], &rest[at + marker.len()..]);
    if last.is_empty() || last.contains('/') {
        return None;
    }
    Some(match marker {
        "/manifests/" => Route::Manifest(name, last),
        "/blobs/" => Route::Blob(name, last),
        _ => Route::Referrers(name, last),
    })
}

/// Whether `name` is a repository name as the distribution spec's grammar has it:
/// components of `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*` separated by `/`, at most 255
/// bytes. A registry host with a port (`HOST:PORT/…`) is not a name.
pub(super) fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && name
            .split('/')
            .all(|c| !c.is_empty() && crate::image::reference::validate_path_component(c).is_ok())
}

/// Whether `tag` is a tag: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`, as image references
/// have it.
pub(super) fn valid_tag(tag: &str) -> bool {
    crate::image::reference::validate_tag(tag).is_ok()
}

/// A digest as this registry takes it: `sha256:` and 64 lowercase hex digits.
pub(super) fn parse_digest(s: &str) -> Option<Digest> {
    s.parse().ok()
}

/// What a `<digest>` in a request path is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum DigestRef {
    /// `sha256:<64 lowercase hex>`: what the layout stores its content under.
    Sha256(Digest),
    /// A well-formed digest of another algorithm (the image spec's grammar: `sha512:` and
    /// 128 lowercase hex digits, or an algorithm it does not register). The layout stores
    /// nothing under it: a manifest or blob by it is not found (404) and a subject by it
    /// has no referrers.
    Other,
    /// Not a digest: outside the grammar, or a `sha256`/`sha512` encoding of the wrong
    /// form.
    Invalid,
}

/// Reads `s` as a digest, as the image spec's grammar has it (`algorithm ":" encoded`:
/// components of `[a-z0-9]+` joined by one of `+._-`, then `[a-zA-Z0-9=_-]+`), with the
/// encodings it fixes for the algorithms it registers (`sha256`, `sha512`: lowercase hex
/// of 64 and 128 digits).
pub(super) fn digest_ref(s: &str) -> DigestRef {
    if let Some(digest) = parse_digest(s) {
        return DigestRef::Sha256(digest);
    }
    let Some((algorithm, encoded)) = s.split_once(':') else {
        return DigestRef::Invalid;
    };
    let well_formed = algorithm.split(['+', '.', '_', '-']).all(|c| {
        !c.is_empty()
            && c.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    }) && !encoded.is_empty()
        && encoded
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'=' | b'_' | b'-'));
    let lower_hex = |len: usize| {
        encoded.len() == len
            && encoded
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    match algorithm {
        _ if !well_formed => DigestRef::Invalid,
        "sha256" => DigestRef::Invalid,
        "sha512" if !lower_hex(128) => DigestRef::Invalid,
        _ => DigestRef::Other,
    }
}

/// The values of `key` in a query string, percent-decoded (`+` is kept: media types hold it).
pub(super) fn query_values<'a>(query: &'a str, key: &'a str) -> impl Iterator<Item = String> + 'a {
    query.split('&').filter_map(move |pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == key).then(|| crate::util::percent_decode(v))
    })
}

/// Why a request's `Host` fields are refused (RFC 9112 3.2: a 400 for an HTTP/1.1 request
/// without one, for any request with two, or with one that is not `host[:port]`), `None`
/// when they are fine.
pub(super) fn bad_host(version: Version, headers: &HeaderMap) -> Option<&'static str> {
    let mut hosts = headers.get_all(header::HOST).iter();
    let Some(host) = hosts.next() else {
        return (version >= Version::HTTP_11).then_some("an HTTP/1.1 request needs a Host field");
    };
    if hosts.next().is_some() {
        return Some("a request has one Host field, not several");
    }
    // Empty is what a client sends for a target without an authority.
    let valid = host.is_empty()
        || host.to_str().ok().is_some_and(|h| {
            let after_ipv6 = h.rsplit_once(']').map_or(h, |(_, rest)| rest);
            !h.contains('@')
                && h.parse::<hyper::http::uri::Authority>()
                    .is_ok_and(|a| !after_ipv6.contains(':') || a.port_u16().is_some())
        });
    (!valid).then_some("the Host field is not host[:port]")
}

/// An answer with the distribution spec's error body.
pub(super) fn error(status: StatusCode, code: &str, message: &str) -> Response<Body> {
    let body = serde_json::json!({
        "errors": [{ "code": code, "message": message }]
    });
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    let mut r = Response::new(Body::bytes(bytes));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// A JSON document answer.
pub(super) fn document(content_type: &str, bytes: Vec<u8>, head: bool) -> Response<Body> {
    let len = bytes.len();
    let mut r = Response::new(if head {
        Body::empty()
    } else {
        Body::bytes(bytes)
    });
    let h = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(content_type) {
        h.insert(header::CONTENT_TYPE, v);
    }
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_split_at_the_last_marker_and_refuse_the_rest() {
        assert_eq!(route("/v2/"), Some(Route::Base));
        assert_eq!(route("/v2/_catalog"), Some(Route::Catalog));
        assert_eq!(
            route("/v2/rancher/pause/manifests/3.6"),
            Some(Route::Manifest("rancher/pause", "3.6"))
        );
        assert_eq!(
            route("/v2/a/blobs/b/blobs/sha256:x"),
            Some(Route::Blob("a/blobs/b", "sha256:x"))
        );
        assert_eq!(route("/v2/a/tags/list"), Some(Route::Tags("a")));
        assert_eq!(route("/v2/a/blobs/uploads/"), None);
        assert_eq!(route("/v3/a/blobs/x"), None);
    }

    #[test]
    fn one_host_field_is_required_of_http_1_1_and_two_are_refused() {
        let headers = |hosts: &[&str]| {
            let mut h = HeaderMap::new();
            for v in hosts {
                h.append(header::HOST, HeaderValue::from_str(v).unwrap());
            }
            h
        };
        for ok in [&["x"][..], &["127.0.0.1:5000"], &["[::1]:5000"], &[""]] {
            assert_eq!(bad_host(Version::HTTP_11, &headers(ok)), None, "{ok:?}");
        }
        assert_eq!(bad_host(Version::HTTP_10, &headers(&[])), None);
        for bad in [
            &[][..],
            &["a", "a"],
            &["a", "b"],
            &["u@h"],
            &["a b"],
            &["h:port"],
        ] {
            assert!(
                bad_host(Version::HTTP_11, &headers(bad)).is_some(),
                "{bad:?}"
            );
        }
        assert!(bad_host(Version::HTTP_10, &headers(&["a", "b"])).is_some());
    }

    #[test]
    fn names_follow_the_spec_grammar() {
        for good in [
            "a",
            "rancher/mirrored-pause",
            "a__b/c.d",
            "x--y",
            "docker.io/library/nginx",
        ] {
            assert!(valid_name(good), "{good}");
        }
        for bad in [
            "", "..", "a/../b", "/a", "a/", "A", "a%2e%2e", "a:5000/b", "a..b", "-a", "a_", "a___b",
        ] {
            assert!(!valid_name(bad), "{bad}");
        }
        assert!(valid_tag("v1.2_3-x") && !valid_tag(".x") && !valid_tag("a/b"));
        assert!(parse_digest(&format!("sha256:{}", "a".repeat(64))).is_some());
        for bad in [
            "sha256:..",
            "sha512:aa",
            &format!("sha256:{}", "A".repeat(64)),
        ] {
            assert!(parse_digest(bad).is_none(), "{bad}");
        }
        // Other algorithms, well formed, are digests the layout stores nothing under.
        let sha256 = format!("sha256:{}", "a".repeat(64));
        assert_eq!(
            digest_ref(&sha256),
            DigestRef::Sha256(parse_digest(&sha256).unwrap())
        );
        for other in [
            format!("sha512:{}", "0f".repeat(64)),
            "multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8".into(),
            "x.y_z-1:A=b_c-D".into(),
        ] {
            assert_eq!(digest_ref(&other), DigestRef::Other, "{other}");
        }
        for bad in [
            "sha256:totallywrong".to_string(),
            format!("sha256:{}", "A".repeat(64)),
            format!("sha512:{}", "0".repeat(64)),
            format!("sha512:{}", "F".repeat(128)),
            "Sha1:abc".into(),
            "a..b:abc".into(),
            "+a:abc".into(),
            ":abc".into(),
            "sha1:".into(),
            "sha1:a/b".into(),
            "sha1:a.b".into(),
            "sha1:a:b".into(),
            "sha1:%2e".into(),
            "nocolon".into(),
        ] {
            assert_eq!(digest_ref(&bad), DigestRef::Invalid, "{bad}");
        }
        let q = "artifactType=application%2Fvnd.x%2Bjson&ns=docker.io";
        assert_eq!(
            query_values(q, "artifactType").collect::<Vec<_>>(),
            ["application/vnd.x+json"]
        );
    }
}
