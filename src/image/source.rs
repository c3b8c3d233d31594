//! Where an image comes from: a registry, or a file already on disk.
//!
//! Air-gapped builds often start from images someone exported elsewhere (`docker save`,
//! `skopeo copy … oci-archive:`), so sources use skopeo's transport syntax, which users of
//! those tools already know. Only the transports seedforge can read are accepted; the other
//! common skopeo transports are recognised so the error can say "not supported" instead of
//! a confusing reference error.

use std::fmt;
use std::path::{Path, PathBuf};

use super::{ImageError, Reference};

/// Transport prefix for registry images.
const DOCKER_PREFIX: &str = "docker://";
/// The transports seedforge reads, as they appear in error messages.
const SUPPORTED: &str = "docker://, oci:, oci-archive:, docker-archive:";
/// skopeo transports that exist but that seedforge cannot read. Matching exact names (rather
/// than "anything before a ':'") keeps `localhost:5000/foo` and `docker:27` registry images.
const UNSUPPORTED: [&str; 6] = [
    "containers-storage",
    "dir",
    "docker-daemon",
    "ostree",
    "sif",
    "tarball",
];

/// The local transports, each with the prefix that selects it.
#[derive(Clone, Copy)]
enum LocalKind {
    OciDir,
    OciArchive,
    DockerArchive,
}

impl LocalKind {
    /// The transport name without the trailing ':'.
    fn transport(self) -> &'static str {
        match self {
            LocalKind::OciDir => "oci",
            LocalKind::OciArchive => "oci-archive",
            LocalKind::DockerArchive => "docker-archive",
        }
    }
}

/// An image to copy, in skopeo's `TRANSPORT:LOCATION` notation.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ImageSource {
    /// A registry image (`docker://REF` or a bare reference).
    Registry(Reference),
    /// An OCI image layout directory; `reference` selects a manifest by its ref name.
    OciDir {
        /// The layout directory, resolved against the base directory.
        path: PathBuf,
        /// The `org.opencontainers.image.ref.name` to pick, if the layout holds several.
        reference: Option<String>,
    },
    /// A tar file holding an OCI image layout.
    OciArchive {
        /// The archive, resolved against the base directory.
        path: PathBuf,
        /// The `org.opencontainers.image.ref.name` to pick, if the layout holds several.
        reference: Option<String>,
    },
    /// A `docker save` tar file; `reference` selects by RepoTags entry (or `@N` index).
    DockerArchive {
        /// The archive, resolved against the base directory.
        path: PathBuf,
        /// A `RepoTags` entry such as `nginx:1.25`, or `@N` for the N-th image in the archive.
        reference: Option<String>,
    },
}

impl ImageSource {
    /// Parses `input` in transport notation; relative local paths are resolved against
    /// `base_dir` (usually the directory of the file that mentioned them).
    pub fn parse(input: &str, base_dir: &Path) -> Result<ImageSource, ImageError> {
        parse_source(input, base_dir).map_err(|reason| ImageError::InvalidSource {
            input: input.to_owned(),
            reason,
        })
    }

    /// The destination an image list uses when a line names none: the registry reference
    /// itself, or a local source's reference part when it names a full image.
    ///
    /// A bare word such as `latest` or `3.6` (a typical OCI ref name) would parse as
    /// `docker.io/library/latest:latest`, which is never what was meant, so only a reference
    /// part containing a '/' or ':' counts.
    pub fn default_destination(&self) -> Option<Reference> {
        match self {
            ImageSource::Registry(reference) => Some(reference.clone()),
            ImageSource::OciDir { reference, .. }
            | ImageSource::OciArchive { reference, .. }
            | ImageSource::DockerArchive { reference, .. } => reference
                .as_deref()
                .filter(|r| r.contains(['/', ':']))
                .and_then(|r| Reference::parse(r).ok()),
        }
    }

    /// True for sources read from the local file system rather than a registry.
    pub fn is_local(&self) -> bool {
        !matches!(self, ImageSource::Registry(_))
    }
}

impl fmt::Display for ImageSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (kind, path, reference) = match self {
            ImageSource::Registry(reference) => return write!(f, "{DOCKER_PREFIX}{reference}"),
            ImageSource::OciDir { path, reference } => (LocalKind::OciDir, path, reference),
            ImageSource::OciArchive { path, reference } => (LocalKind::OciArchive, path, reference),
            ImageSource::DockerArchive { path, reference } => {
                (LocalKind::DockerArchive, path, reference)
            }
        };
        write!(f, "{}:{}", kind.transport(), path.display())?;
        if let Some(reference) = reference {
            write!(f, ":{reference}")?;
        }
        Ok(())
    }
}

/// Parses a source, returning only the reason on failure so the caller attaches the input once.
fn parse_source(input: &str, base_dir: &Path) -> Result<ImageSource, String> {
    if input.is_empty() {
        return Err("the source is empty".to_owned());
    }
    if let Some(rest) = input.strip_prefix(DOCKER_PREFIX) {
        if rest.is_empty() {
            return Err("nothing follows \"docker://\"; expected an image reference".to_owned());
        }
        return Reference::parse(rest)
            .map(ImageSource::Registry)
            .map_err(|err| {
                format!(
                    "\"docker://\" must be followed by an image reference: {}",
                    reference_reason(err)
                )
            });
    }

    for kind in [
        LocalKind::OciArchive,
        LocalKind::OciDir,
        LocalKind::DockerArchive,
    ] {
        let rest = input
            .strip_prefix(kind.transport())
            .and_then(|r| r.strip_prefix(':'));
        if let Some(rest) = rest {
            return parse_local(kind, rest, base_dir);
        }
    }

    if let Some((transport, _)) = input.split_once(':')
        && UNSUPPORTED.contains(&transport)
    {
        return Err(format!(
            "transport {transport}: is not supported; use one of {SUPPORTED}"
        ));
    }

    Reference::parse(input)
        .map(ImageSource::Registry)
        .map_err(reference_reason)
}

/// Parses the `PATH[:REFERENCE]` part of a local transport.
fn parse_local(kind: LocalKind, rest: &str, base_dir: &Path) -> Result<ImageSource, String> {
    let transport = kind.transport();
    // A Windows path's drive colon is not the reference separator: the path is named whole
    // in the refusal.
    // (A one-letter layout before a reference, `oci:a:app/a:1`, is not a drive: a
    // reference never starts with a slash.)
    let bytes = rest.as_bytes();
    let drive = bytes.len() >= 3
        && bytes[0].is_ascii_alphabetic()
        && bytes[1] == b':'
        && matches!(bytes[2], b'\\' | b'/');
    let windows = if drive {
        rest[2..].find(':').map_or(rest, |i| &rest[..i + 2])
    } else {
        rest.split_once(':').map_or(rest, |(path, _)| path)
    };
    if crate::winpath::refusal(windows, None).is_some() {
        let wsl = crate::winpath::wsl_mount_root();
        return Err(format!(
            "{transport}: {}",
            crate::winpath::refusal(windows, wsl.as_deref()).unwrap_or_default()
        ));
    }
    let (path, reference) = match rest.split_once(':') {
        Some((path, reference)) => (path, Some(reference)),
        None => (rest, None),
    };
    if path.is_empty() {
        return Err(format!("the path after \"{transport}:\" is empty"));
    }
    if let Some(reference) = reference {
        if reference.is_empty() {
            return Err(format!(
                "the reference after \"{transport}:{path}:\" is empty; drop the trailing ':' or name an image"
            ));
        }
        if let LocalKind::DockerArchive = kind {
            validate_archive_selector(reference)?;
        }
    }

    let path = base_dir.join(path);
    let reference = reference.map(str::to_owned);
    Ok(match kind {
        LocalKind::OciDir => ImageSource::OciDir { path, reference },
        LocalKind::OciArchive => ImageSource::OciArchive { path, reference },
        LocalKind::DockerArchive => ImageSource::DockerArchive { path, reference },
    })
}

/// A `docker save` archive is indexed by `RepoTags` entries, which are tagged references, or
/// by position; checking here turns a typo into an error before any archive is opened.
fn validate_archive_selector(selector: &str) -> Result<(), String> {
    if let Some(index) = selector.strip_prefix('@') {
        if index.is_empty() || !index.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!(
                "docker-archive index {selector:?} must be '@' followed by a number, e.g. @0"
            ));
        }
        return Ok(());
    }
    let reference = Reference::parse(selector).map_err(|err| {
        format!(
            "docker-archive selector {selector:?} is neither @N nor an image reference: {}",
            reference_reason(err)
        )
    })?;
    if reference.digest().is_some() {
        return Err(format!(
            "docker-archive selector {selector:?} has a digest; archives are indexed by tag (RepoTags)"
        ));
    }
    Ok(())
}

/// The reason inside a reference error, so it can be re-wrapped as a source error without
/// repeating the input.
fn reference_reason(err: ImageError) -> String {
    match err {
        ImageError::InvalidReference { reason, .. } => reason,
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> PathBuf {
        PathBuf::from("/lists")
    }

    fn parse(input: &str) -> ImageSource {
        ImageSource::parse(input, &base()).unwrap()
    }

    fn reason(input: &str) -> String {
        match ImageSource::parse(input, &base()) {
            Err(ImageError::InvalidSource { input: got, reason }) => {
                assert_eq!(got, input);
                reason
            }
            other => panic!("expected InvalidSource for {input:?}, got {other:?}"),
        }
    }

    fn reference(s: &str) -> Reference {
        Reference::parse(s).unwrap()
    }

    #[test]
    fn bare_reference_is_registry() {
        assert_eq!(
            parse("nginx"),
            ImageSource::Registry(reference("nginx:latest"))
        );
    }

    #[test]
    fn docker_transport_is_registry() {
        assert_eq!(
            parse("docker://quay.io/coreos/etcd:v3.5"),
            ImageSource::Registry(reference("quay.io/coreos/etcd:v3.5"))
        );
    }

    #[test]
    fn registry_with_port_is_not_a_transport() {
        assert_eq!(
            parse("localhost:5000/foo"),
            ImageSource::Registry(reference("localhost:5000/foo:latest"))
        );
        assert_eq!(
            parse("registry:5000/foo"),
            ImageSource::Registry(reference("registry:5000/foo"))
        );
    }

    #[test]
    fn docker_image_with_tag_is_not_a_transport() {
        // The official `docker` image (Docker-in-Docker) looks like a transport named docker.
        assert_eq!(
            parse("docker:27-dind"),
            ImageSource::Registry(reference("docker.io/library/docker:27-dind"))
        );
    }

    #[test]
    fn docker_transport_errors() {
        assert!(reason("docker://").contains("nothing follows"));
        assert!(reason("docker:///nginx").contains("must not start with '/'"));
        assert!(reason("docker://docker://nginx").contains("transport prefix"));
        assert!(reason("docker://Nginx").contains("lowercase"));
    }

    #[test]
    fn bare_reference_error_keeps_reason() {
        assert_eq!(reason("foo:"), "the tag after ':' is empty");
    }

    #[test]
    fn oci_dir_relative_path() {
        assert_eq!(
            parse("oci:images/layout"),
            ImageSource::OciDir {
                path: PathBuf::from("/lists/images/layout"),
                reference: None
            }
        );
    }

    #[test]
    fn oci_dir_with_ref_name() {
        assert_eq!(
            parse("oci:layout:v1"),
            ImageSource::OciDir {
                path: PathBuf::from("/lists/layout"),
                reference: Some("v1".to_owned())
            }
        );
    }

    #[test]
    fn absolute_path_is_kept() {
        assert_eq!(
            parse("oci-archive:/data/pause.tar"),
            ImageSource::OciArchive {
                path: PathBuf::from("/data/pause.tar"),
                reference: None
            }
        );
    }

    #[test]
    fn reference_part_splits_at_first_colon() {
        let source = parse("oci-archive:x.tar:docker.io/rancher/pause:3.6");
        assert_eq!(
            source,
            ImageSource::OciArchive {
                path: PathBuf::from("/lists/x.tar"),
                reference: Some("docker.io/rancher/pause:3.6".to_owned())
            }
        );
        assert_eq!(
            source.default_destination(),
            Some(reference("rancher/pause:3.6"))
        );
    }

    #[test]
    fn docker_archive_selectors() {
        assert_eq!(
            parse("docker-archive:save.tar:@2"),
            ImageSource::DockerArchive {
                path: PathBuf::from("/lists/save.tar"),
                reference: Some("@2".to_owned())
            }
        );
        assert_eq!(
            parse("docker-archive:save.tar:nginx:1.25"),
            ImageSource::DockerArchive {
                path: PathBuf::from("/lists/save.tar"),
                reference: Some("nginx:1.25".to_owned())
            }
        );
        assert!(reason("docker-archive:save.tar:@").contains("must be '@' followed by a number"));
        assert!(reason("docker-archive:save.tar:@x").contains("must be '@' followed by a number"));
        assert!(reason("docker-archive:save.tar:Nginx").contains("neither @N"));
        let hex = "a".repeat(64);
        assert!(
            reason(&format!("docker-archive:save.tar:nginx@sha256:{hex}")).contains("has a digest")
        );
    }

    #[test]
    fn local_transport_errors() {
        assert!(reason("oci:").contains("path after \"oci:\" is empty"));
        for (source, named) in [
            (
                "oci-archive:C:\\images\\pause.tar:app/p:1",
                "'C:\\images\\pause.tar'",
            ),
            ("oci:D:/layouts/a", "'D:/layouts/a'"),
            (
                "docker-archive:\\\\srv\\share\\s.tar:@0",
                "'\\\\srv\\share\\s.tar'",
            ),
            ("oci:layouts\\a:app/a:1", "'layouts\\a'"),
        ] {
            let why = reason(source);
            assert!(
                why.contains(named) && why.contains("Windows"),
                "{source}: {why}"
            );
        }
        assert!(parse("oci:a:app/a:1").is_local());
        assert!(reason("oci::v1").contains("path after \"oci:\" is empty"));
        assert!(reason("oci-archive:x.tar:").contains("reference after"));
        assert!(reason("docker-archive:").contains("empty"));
    }

    #[test]
    fn unsupported_transports() {
        for input in [
            "dir:/tmp/x",
            "containers-storage:nginx",
            "docker-daemon:nginx:latest",
        ] {
            let r = reason(input);
            assert!(r.starts_with("transport "), "{r}");
            assert!(
                r.ends_with(
                    "is not supported; use one of docker://, oci:, oci-archive:, docker-archive:"
                ),
                "{r}"
            );
        }
        assert!(reason("dir:/tmp/x").starts_with("transport dir: is not supported"));
    }

    #[test]
    fn default_destination() {
        assert_eq!(
            parse("nginx").default_destination(),
            Some(reference("nginx"))
        );
        assert_eq!(parse("oci:layout").default_destination(), None);
        // A bare OCI ref name is a tag-like label, not an image name.
        assert_eq!(parse("oci:layout:latest").default_destination(), None);
        assert_eq!(parse("oci:layout:3.6").default_destination(), None);
        assert_eq!(parse("docker-archive:s.tar:@0").default_destination(), None);
        assert_eq!(
            parse("docker-archive:s.tar:nginx:1.25").default_destination(),
            Some(reference("nginx:1.25"))
        );
        assert_eq!(parse("oci:layout:Bad/Name").default_destination(), None);
    }

    #[test]
    fn is_local() {
        assert!(!parse("nginx").is_local());
        assert!(parse("oci:x").is_local());
        assert!(parse("oci-archive:x.tar").is_local());
        assert!(parse("docker-archive:x.tar").is_local());
    }

    #[test]
    fn display_gives_transport_form() {
        assert_eq!(
            parse("nginx").to_string(),
            "docker://docker.io/library/nginx:latest"
        );
        assert_eq!(parse("oci:layout").to_string(), "oci:/lists/layout");
        assert_eq!(
            parse("oci-archive:x.tar:rancher/pause:3.6").to_string(),
            "oci-archive:/lists/x.tar:rancher/pause:3.6"
        );
        assert_eq!(
            parse("docker-archive:/abs/s.tar:@1").to_string(),
            "docker-archive:/abs/s.tar:@1"
        );
    }

    #[test]
    fn display_round_trips() {
        for input in [
            "nginx:1.25",
            "oci:layout:v1",
            "oci-archive:x.tar",
            "docker-archive:s.tar:nginx:1.25",
        ] {
            let source = parse(input);
            assert_eq!(parse(&source.to_string()), source, "{input}");
        }
    }
}
