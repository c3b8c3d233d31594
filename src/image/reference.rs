//! Docker image references, normalised the way the Docker CLI and containerd normalise them.
//!
//! Users write `nginx`, registries and k3s look for `docker.io/library/nginx:latest`. Mirroring
//! only works if both spellings end up as the same key, so every reference is brought into its
//! fully qualified form as soon as it is parsed. The grammar follows the one used by the
//! `distribution/reference` Go package; it is scanned by hand because no regex engine is
//! available, which also lets every rejection say precisely what is wrong.

use std::fmt;
use std::str::FromStr;

use super::ImageError;

/// The registry that unqualified names belong to.
const DEFAULT_REGISTRY: &str = "docker.io";
/// Docker Hub's historical host name; it names the same registry as [`DEFAULT_REGISTRY`].
const LEGACY_DEFAULT_REGISTRY: &str = "index.docker.io";
/// Docker Hub keeps official single-name images under this namespace.
const OFFICIAL_NAMESPACE: &str = "library/";
/// The tag implied when neither a tag nor a digest is given.
const DEFAULT_TAG: &str = "latest";
/// Longest `registry/repository` accepted, matching the Docker limit.
const NAME_MAX: usize = 255;
/// Longest tag accepted, matching the Docker limit.
const TAG_MAX: usize = 128;

/// A fully qualified image reference: registry, repository and a tag, a digest or both.
///
/// Construction always goes through the parser, so a value always holds the normalised form
/// (`docker.io/library/nginx:latest` for `nginx`) and two spellings of the same image compare
/// equal.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reference {
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<String>,
}

impl Reference {
    /// Parses and normalises `input`, e.g. `nginx` into `docker.io/library/nginx:latest`.
    pub fn parse(input: &str) -> Result<Reference, ImageError> {
        parse_reference(input).map_err(|reason| ImageError::InvalidReference {
            input: input.to_owned(),
            reason,
        })
    }

    /// The registry host, possibly with a port (`docker.io`, `localhost:5000`, `[::1]:5000`).
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The repository path inside the registry (`library/nginx`, `rancher/mirrored-pause`).
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// The tag, if the reference has one. Parsed references without a digest always have one.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest (`sha256:…`), if the reference pins one.
    pub fn digest(&self) -> Option<&str> {
        self.digest.as_deref()
    }

    /// The same image name with `tag` as its tag.
    ///
    /// A digest is kept, as `distribution/reference`'s `WithTag` does: the tag then only
    /// labels the pinned content rather than replacing the pin.
    pub fn with_tag(&self, tag: &str) -> Result<Reference, ImageError> {
        validate_tag(tag).map_err(|reason| ImageError::InvalidReference {
            input: tag.to_owned(),
            reason,
        })?;
        Ok(Reference {
            tag: Some(tag.to_owned()),
            ..self.clone()
        })
    }

    /// `registry/repository`, without tag or digest.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// What a registry's manifest endpoint takes after the name: the digest when there is one
    /// (it is the immutable pin and wins over a tag), otherwise the tag.
    pub fn tag_or_digest(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(digest), _) => digest.clone(),
            (None, Some(tag)) => tag.clone(),
            // Unreachable for parsed references; an empty string beats a panic.
            (None, None) => String::new(),
        }
    }

    /// True when the reference has a digest but no tag (`nginx@sha256:…`).
    pub fn is_digest_only(&self) -> bool {
        self.digest.is_some() && self.tag.is_none()
    }
}

/// Serialised as its normalised text (`docker.io/library/nginx:1.27`).
impl serde::Serialize for Reference {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl FromStr for Reference {
    type Err = ImageError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Reference::parse(s)
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

/// Parses into the normalised form, returning only the reason on failure so the caller can
/// attach the input once.
fn parse_reference(input: &str) -> Result<Reference, String> {
    if input.is_empty() {
        return Err("the reference is empty".to_owned());
    }
    if let Some(rest) = input.strip_prefix("docker://") {
        return Err(format!(
            "\"docker://\" is a transport prefix, not part of an image reference; write {rest:?} instead"
        ));
    }
    if let Some(pos) = input.find("://") {
        return Err(format!(
            "{:?} is a URL scheme, not part of an image reference",
            &input[..pos + 3]
        ));
    }
    if input.chars().any(char::is_whitespace) {
        return Err("the reference contains whitespace".to_owned());
    }

    let (rest, digest) = match input.split_once('@') {
        Some((_, digest)) if digest.contains('@') => {
            return Err("the reference contains more than one '@'".to_owned());
        }
        Some((_, "")) => return Err("the digest after '@' is empty".to_owned()),
        Some((rest, digest)) => {
            validate_digest(digest)?;
            (rest, Some(digest))
        }
        None => (input, None),
    };

    // A ':' before the last '/' belongs to a registry port, not to a tag.
    let last_slash = rest.rfind('/');
    let (name, tag) = match rest.rfind(':') {
        Some(colon) if last_slash.is_none_or(|slash| colon > slash) => {
            let tag = &rest[colon + 1..];
            if tag.is_empty() {
                return Err("the tag after ':' is empty".to_owned());
            }
            validate_tag(tag)?;
            (&rest[..colon], Some(tag))
        }
        _ => (rest, None),
    };

    if name.is_empty() {
        return Err("the repository name is empty".to_owned());
    }
    if name.starts_with('/') {
        return Err("the name must not start with '/'".to_owned());
    }
    if name.ends_with('/') {
        return Err("the name must not end with '/'".to_owned());
    }
    if name.contains("//") {
        return Err("the name contains an empty path component (\"//\")".to_owned());
    }

    let (registry, remainder) = match name.split_once('/') {
        Some((first, rest)) if looks_like_registry(first) => {
            validate_registry(first)?;
            (first, rest)
        }
        _ => (DEFAULT_REGISTRY, name),
    };
    // Hub's names are compared case-insensitively because host names are; other hosts keep
    // the user's spelling, as Docker does.
    let registry = if registry.eq_ignore_ascii_case(DEFAULT_REGISTRY)
        || registry.eq_ignore_ascii_case(LEGACY_DEFAULT_REGISTRY)
    {
        DEFAULT_REGISTRY
    } else {
        registry
    };

    if remainder.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(format!(
            "repository name must be lowercase (found {remainder:?})"
        ));
    }
    for component in remainder.split('/') {
        validate_path_component(component)?;
    }

    let repository = if registry == DEFAULT_REGISTRY && !remainder.contains('/') {
        format!("{OFFICIAL_NAMESPACE}{remainder}")
    } else {
        remainder.to_owned()
    };

    let name_len = registry.len() + 1 + repository.len();
    if name_len > NAME_MAX {
        return Err(format!(
            "the name {registry}/{repository} is {name_len} characters long; the limit is {NAME_MAX}"
        ));
    }

    let tag = match (tag, digest) {
        (None, None) => Some(DEFAULT_TAG),
        (tag, _) => tag,
    };
    Ok(Reference {
        registry: registry.to_owned(),
        repository,
        tag: tag.map(str::to_owned),
        digest: digest.map(str::to_owned),
    })
}

/// Docker's rule for telling `host/repo` from `namespace/repo`: only a component that could
/// not be a repository path segment (a dot, a port, a bracketed IPv6 address) or the literal
/// `localhost` is a host.
fn looks_like_registry(first: &str) -> bool {
    first.contains(['.', ':']) || first == "localhost" || first.starts_with('[')
}

/// Checks a registry as an image reference names it, `host[:port]` (host a DNS name, an
/// IPv4 address or `[IPv6]`, port 1-65535), for settings given per registry.
pub fn check_registry_host(registry: &str) -> Result<(), String> {
    if registry.is_empty() {
        return Err("the registry host is empty".into());
    }
    if registry.contains('/') {
        return Err(format!(
            "{registry:?} is not a registry host: give HOST or HOST:PORT, without a path"
        ));
    }
    validate_registry(registry)
}

/// Checks `host[:port]`, where host is a DNS name, an IPv4 address or `[IPv6]`.
fn validate_registry(registry: &str) -> Result<(), String> {
    let port = if let Some(rest) = registry.strip_prefix('[') {
        let Some(close) = rest.find(']') else {
            return Err(format!(
                "registry host {registry:?} is missing the closing ']' of its IPv6 address"
            ));
        };
        let address = &rest[..close];
        if !address.contains(':') || !address.chars().all(|c| c.is_ascii_hexdigit() || c == ':') {
            return Err(format!(
                "registry host {registry:?} does not hold a valid IPv6 address in brackets"
            ));
        }
        match &rest[close + 1..] {
            "" => None,
            after => match after.strip_prefix(':') {
                Some(port) => Some(port),
                None => {
                    return Err(format!(
                        "registry host {registry:?} has {after:?} after the IPv6 address; expected ':PORT'"
                    ));
                }
            },
        }
    } else {
        let (host, port) = match registry.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (registry, None),
        };
        validate_host_name(registry, host)?;
        port
    };

    if let Some(port) = port {
        if port.is_empty() {
            return Err(format!(
                "registry host {registry:?} has an empty port after ':'"
            ));
        }
        if !port.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!(
                "registry host {registry:?} has port {port:?}, which is not a number"
            ));
        }
        // Port 0 parses as a u16 but is no port anything listens on.
        if !port.parse::<u16>().is_ok_and(|p| p != 0) {
            return Err(format!(
                "registry host {registry:?} has port {port}, which is out of range (1-65535)"
            ));
        }
    }
    Ok(())
}

/// Checks dot-separated DNS labels (IPv4 addresses fit the same shape). Letters may be
/// uppercase: host names are case-insensitive, unlike repository paths.
fn validate_host_name(registry: &str, host: &str) -> Result<(), String> {
    for label in host.split('.') {
        if label.is_empty() {
            return Err(format!(
                "registry host {registry:?} has an empty label between dots"
            ));
        }
        if let Some(bad) = label
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
        {
            return Err(format!(
                "registry host {registry:?} contains invalid character {bad:?}"
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(format!(
                "registry host {registry:?} has label {label:?}, which starts or ends with '-'"
            ));
        }
    }
    Ok(())
}

/// Checks one repository path segment against
/// `[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*`.
pub(crate) fn validate_path_component(component: &str) -> Result<(), String> {
    let is_separator = |c: char| matches!(c, '.' | '_' | '-');
    let mut chars = component.char_indices().peekable();
    while let Some((start, c)) = chars.next() {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            continue;
        }
        if !is_separator(c) {
            return Err(format!(
                "path component {component:?} contains invalid character {c:?}"
            ));
        }
        let mut end = start + c.len_utf8();
        while let Some(&(i, next)) = chars.peek() {
            if !is_separator(next) {
                break;
            }
            end = i + next.len_utf8();
            chars.next();
        }
        let separator = &component[start..end];
        if start == 0 {
            return Err(format!(
                "path component {component:?} must start with a lowercase letter or digit"
            ));
        }
        if end == component.len() {
            return Err(format!(
                "path component {component:?} must end with a lowercase letter or digit"
            ));
        }
        let allowed = matches!(separator, "." | "_" | "__") || separator.bytes().all(|b| b == b'-');
        if !allowed {
            return Err(format!(
                "path component {component:?} has separator {separator:?}; only '.', '_', '__' or a run of '-' may join letters and digits"
            ));
        }
    }
    Ok(())
}

/// A word character in the regex sense (`\w`), which is what Docker tags are made of.
fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Checks a tag against `[\w][\w.-]{0,127}`.
pub(crate) fn validate_tag(tag: &str) -> Result<(), String> {
    let Some(first) = tag.chars().next() else {
        return Err("the tag is empty".to_owned());
    };
    if !is_word_char(first) {
        return Err(format!(
            "tag {tag:?} must start with a letter, digit or '_'"
        ));
    }
    if let Some(bad) = tag
        .chars()
        .find(|&c| !(is_word_char(c) || c == '.' || c == '-'))
    {
        return Err(format!("tag {tag:?} contains invalid character {bad:?}"));
    }
    if tag.len() > TAG_MAX {
        return Err(format!(
            "tag is {} characters long; the limit is {TAG_MAX}",
            tag.len()
        ));
    }
    Ok(())
}

/// Checks `algorithm:encoded`. The two registered algorithms get exact length and lowercase hex
/// checks, because a registry will never match anything else; unknown algorithms only get the
/// generic shape check.
fn validate_digest(digest: &str) -> Result<(), String> {
    let Some((algorithm, encoded)) = digest.split_once(':') else {
        return Err(format!(
            "digest {digest:?} must have the form ALGORITHM:HEX (e.g. sha256:…)"
        ));
    };
    if algorithm.is_empty() {
        return Err(format!("digest {digest:?} has no algorithm before ':'"));
    }
    if encoded.is_empty() {
        return Err(format!("digest {digest:?} has nothing after ':'"));
    }
    match algorithm {
        "sha256" => validate_hex(algorithm, encoded, 64),
        "sha512" => validate_hex(algorithm, encoded, 128),
        _ => {
            validate_algorithm(algorithm)?;
            if let Some(bad) = encoded
                .chars()
                .find(|&c| !(c.is_ascii_alphanumeric() || matches!(c, '=' | '_' | '-')))
            {
                return Err(format!(
                    "digest {digest:?} contains invalid character {bad:?}"
                ));
            }
            if encoded.len() < 32 {
                return Err(format!(
                    "digest {digest:?} is too short: the part after ':' needs at least 32 characters, found {}",
                    encoded.len()
                ));
            }
            Ok(())
        }
    }
}

/// Checks the encoded part of a registered digest: exactly `len` lowercase hex characters.
fn validate_hex(algorithm: &str, encoded: &str, len: usize) -> Result<(), String> {
    if let Some(bad) = encoded
        .chars()
        .find(|&c| !(c.is_ascii_digit() || ('a'..='f').contains(&c)))
    {
        if bad.is_ascii_hexdigit() {
            return Err(format!(
                "{algorithm} digest must use lowercase hex, found {bad:?}"
            ));
        }
        return Err(format!(
            "{algorithm} digest contains non-hex character {bad:?}"
        ));
    }
    if encoded.len() != len {
        return Err(format!(
            "{algorithm} digest must have {len} hex characters, found {}",
            encoded.len()
        ));
    }
    Ok(())
}

/// Checks an unregistered algorithm name against `[a-z0-9]+(?:[.+_-][a-z0-9]+)*`.
fn validate_algorithm(algorithm: &str) -> Result<(), String> {
    let mut previous_was_separator = true;
    for c in algorithm.chars() {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            previous_was_separator = false;
        } else if matches!(c, '.' | '+' | '_' | '-') && !previous_was_separator {
            previous_was_separator = true;
        } else {
            return Err(format!(
                "digest algorithm {algorithm:?} is invalid at {c:?}; use lowercase letters and digits joined by single '.', '+', '_' or '-'"
            ));
        }
    }
    if previous_was_separator {
        return Err(format!(
            "digest algorithm {algorithm:?} must end with a lowercase letter or digit"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX64: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn norm(input: &str) -> String {
        Reference::parse(input).unwrap().to_string()
    }

    fn reason(input: &str) -> String {
        match Reference::parse(input) {
            Err(ImageError::InvalidReference { input: got, reason }) => {
                assert_eq!(got, input);
                reason
            }
            other => panic!("expected InvalidReference for {input:?}, got {other:?}"),
        }
    }

    #[test]
    fn bare_name_gets_hub_library_and_latest() {
        assert_eq!(norm("nginx"), "docker.io/library/nginx:latest");
    }

    #[test]
    fn bare_name_with_tag() {
        assert_eq!(norm("nginx:1.25"), "docker.io/library/nginx:1.25");
    }

    #[test]
    fn explicit_library_namespace() {
        assert_eq!(norm("library/nginx"), "docker.io/library/nginx:latest");
    }

    #[test]
    fn hub_host_single_component_gets_library() {
        assert_eq!(norm("docker.io/nginx"), "docker.io/library/nginx:latest");
    }

    #[test]
    fn legacy_hub_host_is_normalised() {
        assert_eq!(
            norm("index.docker.io/library/nginx"),
            "docker.io/library/nginx:latest"
        );
        assert_eq!(
            norm("index.docker.io/nginx"),
            "docker.io/library/nginx:latest"
        );
    }

    #[test]
    fn hub_host_in_other_case_is_normalised() {
        assert_eq!(norm("Docker.IO/nginx"), "docker.io/library/nginx:latest");
    }

    #[test]
    fn hub_namespace_is_kept() {
        let r = Reference::parse("rancher/mirrored-pause:3.6").unwrap();
        assert_eq!(r.registry(), "docker.io");
        assert_eq!(r.repository(), "rancher/mirrored-pause");
        assert_eq!(r.tag(), Some("3.6"));
        assert_eq!(r.digest(), None);
    }

    #[test]
    fn other_registry() {
        let r = Reference::parse("quay.io/coreos/etcd:v3.5").unwrap();
        assert_eq!(r.registry(), "quay.io");
        assert_eq!(r.repository(), "coreos/etcd");
        assert_eq!(r.tag(), Some("v3.5"));
    }

    #[test]
    fn localhost_is_a_registry() {
        let r = Reference::parse("localhost/foo").unwrap();
        assert_eq!(r.registry(), "localhost");
        assert_eq!(r.repository(), "foo");
        assert_eq!(r.to_string(), "localhost/foo:latest");
    }

    #[test]
    fn localhost_with_port_and_tag() {
        let r = Reference::parse("localhost:5000/foo:bar").unwrap();
        assert_eq!(r.registry(), "localhost:5000");
        assert_eq!(r.repository(), "foo");
        assert_eq!(r.tag(), Some("bar"));
    }

    #[test]
    fn ipv4_registry_with_port() {
        let r = Reference::parse("192.168.6.1:5000/rancher/mirrored-pause:3.6").unwrap();
        assert_eq!(r.registry(), "192.168.6.1:5000");
        assert_eq!(r.repository(), "rancher/mirrored-pause");
        assert_eq!(r.tag(), Some("3.6"));
    }

    #[test]
    fn ipv6_registry_with_port() {
        let r = Reference::parse("[::1]:5000/foo").unwrap();
        assert_eq!(r.registry(), "[::1]:5000");
        assert_eq!(r.repository(), "foo");
        assert_eq!(r.tag(), Some("latest"));
    }

    #[test]
    fn ipv6_registry_without_port() {
        let r = Reference::parse("[fe80::1]/a").unwrap();
        assert_eq!(r.registry(), "[fe80::1]");
        assert_eq!(r.repository(), "a");
    }

    #[test]
    fn deep_repository_path() {
        let r = Reference::parse("registry.example.com/a/b/c:1").unwrap();
        assert_eq!(r.registry(), "registry.example.com");
        assert_eq!(r.repository(), "a/b/c");
        assert_eq!(r.tag(), Some("1"));
    }

    #[test]
    fn registry_host_may_be_uppercase() {
        let r = Reference::parse("Host.Example.com/foo").unwrap();
        assert_eq!(r.registry(), "Host.Example.com");
        assert_eq!(r.repository(), "foo");
    }

    #[test]
    fn uppercase_first_component_is_not_a_host() {
        assert!(reason("Foo/bar").contains("repository name must be lowercase"));
    }

    #[test]
    fn uppercase_repository_is_rejected() {
        assert!(reason("quay.io/Coreos/etcd").contains("repository name must be lowercase"));
        assert!(reason("Nginx").contains("repository name must be lowercase"));
    }

    #[test]
    fn digest_only() {
        let input = format!("nginx@sha256:{HEX64}");
        let r = Reference::parse(&input).unwrap();
        assert_eq!(r.tag(), None);
        assert_eq!(r.digest(), Some(format!("sha256:{HEX64}").as_str()));
        assert!(r.is_digest_only());
        assert_eq!(r.tag_or_digest(), format!("sha256:{HEX64}"));
        assert_eq!(
            r.to_string(),
            format!("docker.io/library/nginx@sha256:{HEX64}")
        );
    }

    #[test]
    fn tag_and_digest_are_both_kept() {
        let r = Reference::parse(&format!("nginx:1.25@sha256:{HEX64}")).unwrap();
        assert_eq!(r.tag(), Some("1.25"));
        assert_eq!(r.digest(), Some(format!("sha256:{HEX64}").as_str()));
        assert!(!r.is_digest_only());
        assert_eq!(r.tag_or_digest(), format!("sha256:{HEX64}"));
        assert_eq!(
            r.to_string(),
            format!("docker.io/library/nginx:1.25@sha256:{HEX64}")
        );
    }

    #[test]
    fn registry_port_and_digest() {
        let r = Reference::parse(&format!("localhost:5000/foo@sha256:{HEX64}")).unwrap();
        assert_eq!(r.registry(), "localhost:5000");
        assert_eq!(r.repository(), "foo");
        assert!(r.is_digest_only());
    }

    #[test]
    fn sha512_digest() {
        let hex128 = HEX64.repeat(2);
        assert!(Reference::parse(&format!("nginx@sha512:{hex128}")).is_ok());
        assert!(reason(&format!("nginx@sha512:{HEX64}")).contains("128 hex characters"));
    }

    #[test]
    fn other_digest_algorithm() {
        let r =
            Reference::parse("foo@multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8")
                .unwrap();
        assert_eq!(
            r.digest(),
            Some("multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8")
        );
        assert!(reason("foo@md5:0123456789abcdef").contains("at least 32"));
        assert!(reason(&format!("foo@Sha1:{HEX64}")).contains("algorithm"));
        assert!(reason(&format!("foo@a..b:{HEX64}")).contains("algorithm"));
    }

    #[test]
    fn accessors_and_name() {
        let r = Reference::parse("quay.io/coreos/etcd:v3.5").unwrap();
        assert_eq!(r.name(), "quay.io/coreos/etcd");
        assert_eq!(r.tag_or_digest(), "v3.5");
        assert!(!r.is_digest_only());
    }

    #[test]
    fn with_tag_replaces_tag() {
        let r = Reference::parse("nginx:1.25").unwrap();
        let t = r.with_tag("1.26").unwrap();
        assert_eq!(t.to_string(), "docker.io/library/nginx:1.26");
        assert!(r.with_tag("-bad").is_err());
        assert!(r.with_tag("").is_err());
    }

    #[test]
    fn with_tag_keeps_digest() {
        let r = Reference::parse(&format!("nginx@sha256:{HEX64}")).unwrap();
        let t = r.with_tag("1.25").unwrap();
        assert_eq!(t.tag(), Some("1.25"));
        assert_eq!(t.digest(), r.digest());
    }

    #[test]
    fn from_str_matches_parse() {
        let r: Reference = "nginx".parse().unwrap();
        assert_eq!(
            r,
            Reference::parse("docker.io/library/nginx:latest").unwrap()
        );
    }

    #[test]
    fn empty_is_rejected() {
        assert!(reason("").contains("empty"));
    }

    #[test]
    fn empty_tag_is_rejected() {
        assert_eq!(reason("foo:"), "the tag after ':' is empty");
    }

    #[test]
    fn missing_name_is_rejected() {
        assert_eq!(reason(":tag"), "the repository name is empty");
        assert_eq!(
            reason(&format!("@sha256:{HEX64}")),
            "the repository name is empty"
        );
    }

    #[test]
    fn empty_digest_is_rejected() {
        assert_eq!(reason("foo@"), "the digest after '@' is empty");
        assert!(reason("foo@a@b").contains("more than one '@'"));
    }

    #[test]
    fn empty_path_component_is_rejected() {
        assert!(reason("a//b").contains("empty path component"));
    }

    #[test]
    fn leading_and_trailing_slash_are_rejected() {
        assert!(reason("/foo").contains("must not start with '/'"));
        assert!(reason("foo/").contains("must not end with '/'"));
    }

    #[test]
    fn component_must_start_and_end_alphanumeric() {
        assert!(reason("-foo").contains("must start with a lowercase letter or digit"));
        assert!(reason("foo-").contains("must end with a lowercase letter or digit"));
        assert!(reason("foo/.bar").contains("must start"));
    }

    #[test]
    fn separators() {
        assert!(Reference::parse("a__b").is_ok());
        assert!(Reference::parse("a--b").is_ok());
        assert!(Reference::parse("a---b").is_ok());
        assert!(Reference::parse("a.b_c-d").is_ok());
        assert!(reason("a___b").contains("\"___\""));
        assert!(reason("a..b").contains("\"..\""));
        assert!(reason("a._b").contains("\"._\""));
        assert!(reason("a-_b").contains("\"-_\""));
    }

    #[test]
    fn invalid_character_in_repository() {
        assert!(reason("foo$bar").contains("invalid character '$'"));
        assert!(reason("quay.io/foo+bar").contains("invalid character '+'"));
    }

    #[test]
    fn whitespace_is_rejected() {
        assert!(reason("ngi nx").contains("whitespace"));
        assert!(reason(" nginx").contains("whitespace"));
    }

    #[test]
    fn tag_length_limit() {
        let ok = format!("nginx:{}", "a".repeat(128));
        assert!(Reference::parse(&ok).is_ok());
        let long = format!("nginx:{}", "a".repeat(129));
        assert_eq!(
            reason(&long),
            "tag is 129 characters long; the limit is 128"
        );
    }

    #[test]
    fn tag_characters() {
        assert!(Reference::parse("nginx:_x.Y-1").is_ok());
        assert!(reason("nginx:.x").contains("must start with a letter, digit or '_'"));
        assert!(reason("nginx:-x").contains("must start"));
        assert!(reason("nginx:a+b").contains("invalid character '+'"));
    }

    #[test]
    fn bad_digest_length() {
        let short = &HEX64[..63];
        assert_eq!(
            reason(&format!("foo@sha256:{short}")),
            "sha256 digest must have 64 hex characters, found 63"
        );
        assert!(reason(&format!("foo@sha256:{HEX64}0")).contains("found 65"));
    }

    #[test]
    fn uppercase_hex_digest_is_rejected() {
        let upper = HEX64.to_ascii_uppercase();
        assert!(reason(&format!("foo@sha256:{upper}")).contains("lowercase hex"));
        let bad = format!("{}g", &HEX64[..63]);
        assert!(reason(&format!("foo@sha256:{bad}")).contains("non-hex character 'g'"));
    }

    #[test]
    fn digest_without_algorithm() {
        assert!(reason(&format!("foo@{HEX64}")).contains("ALGORITHM:HEX"));
        assert!(reason(&format!("foo@:{HEX64}")).contains("no algorithm"));
        assert!(reason("foo@sha256:").contains("nothing after ':'"));
    }

    #[test]
    fn transport_prefix_is_rejected() {
        let r = reason("docker://nginx");
        assert!(r.contains("transport"), "{r}");
        assert!(r.contains("\"nginx\""), "{r}");
        assert!(reason("https://example.com/foo").contains("URL scheme"));
    }

    #[test]
    fn name_length_limit() {
        // docker.io/library/ is 18 characters, leaving 237 for the name.
        let ok = "a".repeat(237);
        assert!(Reference::parse(&ok).is_ok());
        let long = "a".repeat(238);
        assert!(reason(&long).contains("256 characters long; the limit is 255"));
    }

    #[test]
    fn bad_registry_hosts() {
        assert!(reason("foo..com/bar").contains("empty label"));
        assert!(reason("-foo.com/bar").contains("starts or ends with '-'"));
        assert!(reason("foo.com:/bar").contains("empty port"));
        assert!(reason("foo.com:abc/bar").contains("not a number"));
        assert!(reason("foo.com:99999/bar").contains("out of range"));
        assert!(
            reason("registry.example:0/bar").contains("port 0, which is out of range (1-65535)")
        );
        assert!(reason("[::1]:0/bar").contains("out of range"));
        assert!(reason("localhost:00/bar").contains("out of range"));
        assert!(Reference::parse("registry.example:1/bar").is_ok());
        assert!(Reference::parse("registry.example:65535/bar").is_ok());
        assert!(reason("foo_x.com/bar").contains("invalid character '_'"));
        assert!(reason("[::1/foo").contains("closing ']'"));
        assert!(reason("[zz::1]/foo").contains("IPv6"));
        assert!(reason("[::1]x/foo").contains("expected ':PORT'"));
    }

    #[test]
    fn colon_in_first_component_is_a_host() {
        // Docker reads `foo:bar/baz` as host `foo` port `bar`, so this must fail on the port.
        assert!(reason("foo:bar/baz").contains("not a number"));
    }

    #[test]
    fn display_round_trips() {
        let inputs = [
            "nginx".to_owned(),
            "nginx:1.25".to_owned(),
            "rancher/mirrored-pause:3.6".to_owned(),
            "quay.io/coreos/etcd:v3.5".to_owned(),
            "localhost/foo".to_owned(),
            "localhost:5000/foo:bar".to_owned(),
            "192.168.6.1:5000/rancher/mirrored-pause:3.6".to_owned(),
            "[::1]:5000/foo".to_owned(),
            "[fe80::1]/a".to_owned(),
            "Host.Example.com/foo".to_owned(),
            format!("nginx@sha256:{HEX64}"),
            format!("nginx:1.25@sha256:{HEX64}"),
            format!("[::1]:5000/a/b:c@sha256:{HEX64}"),
        ];
        for input in inputs {
            let first = Reference::parse(&input).unwrap();
            let again = Reference::parse(&first.to_string()).unwrap();
            assert_eq!(first, again, "round trip of {input:?}");
            assert_eq!(first.to_string(), again.to_string());
        }
    }

    #[test]
    fn spellings_of_one_image_are_equal() {
        let a = Reference::parse("nginx").unwrap();
        let b = Reference::parse("docker.io/nginx:latest").unwrap();
        let c = Reference::parse("index.docker.io/library/nginx:latest").unwrap();
        assert_eq!(a, b);
        assert_eq!(b, c);
    }

    #[test]
    fn error_message_names_input_and_reason() {
        let err = Reference::parse("foo:").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid image reference \"foo:\": the tag after ':' is empty"
        );
    }
}
