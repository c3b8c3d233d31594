//! Software bills of materials and build provenance, from what a build already knows.
//!
//! The build lists what it put into the output (images with their digests, the .debs of
//! every package bundle, the Helm charts, the `files:` payload, and which archive or ISO
//! carries what) in an [`Inventory`]; the writers turn it into SPDX 2.3 JSON ([`spdx`]) and
//! CycloneDX 1.6 JSON ([`cyclonedx`]). [`provenance`] builds an in-toto Statement v1 with an
//! SLSA provenance v1 predicate over the sealed files. Nothing here scans an image or reads
//! a file: every fact comes in through the neutral types below.
//!
//! Every document is reproducible: its identifier (SPDX `documentNamespace`, CycloneDX
//! `serialNumber`) is derived from the SHA-256 of the inventory, its time is the build's
//! source date, every list is sorted, and nothing in it is a secret, an absolute path or
//! a host name of the machine that built it (sources are written as the config wrote them,
//! with any `user:password@` of a URL removed, [`without_credentials`]).

pub mod cyclonedx;
pub mod provenance;
pub mod spdx;

use serde::Serialize;

/// What a build put into its output, as the SBOMs list it. Paths are relative to the
/// output, `/`-separated; digests are hex SHA-256 unless said otherwise.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Inventory {
    /// The cluster's name (the documents' name).
    pub name: String,
    /// The seedforge version that wrote it.
    pub tool_version: String,
    /// The build's source date (seconds since 1970); 0 when it has none.
    pub created: u64,
    /// Every image of the OCI layout.
    pub images: Vec<Image>,
    /// Every package bundle, with its .debs.
    pub debs: Vec<Bundle>,
    /// Every Helm chart archive.
    pub charts: Vec<Chart>,
    /// The `files:` payload.
    pub files: Vec<FileEntry>,
    /// The other files an archive or ISO carries (the registry CA, `registries.yaml`, …).
    pub others: Vec<OutFile>,
    /// What carries what: airgap archives (their images) and ISOs (their payload files).
    pub containers: Vec<Container>,
}

/// One image of the layout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Image {
    /// Its name as the layout and the nodes name it (`docker.io/rancher/pause:3.6`).
    pub name: String,
    /// `registry/repository` (`docker.io/rancher/pause`).
    pub repository: String,
    /// Its tag, if it has one.
    pub tag: Option<String>,
    /// The digest of the stored index or manifest (`sha256:<hex>`).
    pub digest: String,
    /// Where it was copied from, as the image list names it (without credentials).
    pub source: String,
    /// The image manifests the index lists, one per platform (the root itself for a
    /// single manifest).
    pub manifests: Vec<PlatformManifest>,
}

/// One platform's manifest of an image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlatformManifest {
    /// Its digest (`sha256:<hex>`).
    pub digest: String,
    /// Operating system (`linux`), when the index says.
    pub os: Option<String>,
    /// Architecture (`amd64`), when the index says.
    pub architecture: Option<String>,
    /// Variant (`v8`), when the index says.
    pub variant: Option<String>,
}

/// One package bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Bundle {
    /// Its name (`packages[].name`).
    pub name: String,
    /// The tarball (`packages/<name>.tar.gz`).
    pub path: String,
    /// Its SHA-256.
    pub sha256: String,
    /// Its .debs.
    pub debs: Vec<Deb>,
}

/// One .deb of a bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Deb {
    /// Package name.
    pub name: String,
    /// Version (with its epoch, if any).
    pub version: String,
    /// Architecture (`amd64`, `all`).
    pub arch: String,
    /// SHA-256 of the .deb.
    pub sha256: String,
    /// Its name in the bundle (`pool/…`).
    pub filename: String,
}

/// One Helm chart archive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Chart {
    /// The entry's name (`charts[].name`).
    pub name: String,
    /// The chart's name in its repository.
    pub chart: String,
    /// Its version.
    pub version: String,
    /// The archive (`charts/<name>-<version>.tgz`).
    pub path: String,
    /// Its SHA-256.
    pub sha256: String,
    /// The repository it came from, as the config names it (`https://…` or
    /// `oci://HOST/PATH`, without credentials).
    pub origin: String,
}

/// One `files:` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileEntry {
    /// Its name under the payload (`bin/k3s`).
    pub name: String,
    /// The file (`files/<name>`).
    pub path: String,
    /// Its SHA-256.
    pub sha256: String,
    /// Where it came from, as the config wrote it (without credentials).
    pub source: String,
    /// Installed with mode 0755.
    pub executable: bool,
}

/// Any other file of the output an archive or ISO carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutFile {
    /// The file.
    pub path: String,
    /// Its SHA-256.
    pub sha256: String,
}

/// What a container is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ContainerKind {
    /// A k3s airgap image archive: it carries images.
    Airgap,
    /// A seed ISO or the shared payload ISO: it carries payload files.
    Iso,
}

/// A file of the output that carries others.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Container {
    /// The file (`airgap/…`, `iso/…`).
    pub path: String,
    /// Its SHA-256.
    pub sha256: String,
    /// What it is.
    pub kind: ContainerKind,
    /// What it carries: image names ([`Image::name`]) for an archive, paths of files of
    /// the output (bundles, charts, `files:`, others, archives) for an ISO.
    pub contains: Vec<String>,
}

impl Inventory {
    /// The inventory with every list sorted, so that the documents do not depend on the
    /// order the build found things in.
    pub fn sorted(mut self) -> Inventory {
        self.images.sort_by(|a, b| a.name.cmp(&b.name));
        for i in &mut self.images {
            i.manifests.sort_by(|a, b| a.digest.cmp(&b.digest));
            i.manifests.dedup();
        }
        self.debs.sort_by(|a, b| a.path.cmp(&b.path));
        for b in &mut self.debs {
            b.debs.sort_by(|x, y| x.filename.cmp(&y.filename));
        }
        self.charts.sort_by(|a, b| a.path.cmp(&b.path));
        self.files.sort_by(|a, b| a.path.cmp(&b.path));
        self.others.sort_by(|a, b| a.path.cmp(&b.path));
        self.others.dedup();
        self.containers.sort_by(|a, b| a.path.cmp(&b.path));
        for c in &mut self.containers {
            c.contains.sort();
            c.contains.dedup();
        }
        self
    }

    /// The SHA-256 of the inventory's canonical JSON, with `salt` (one per document kind,
    /// so that the SPDX and CycloneDX documents of one build have identifiers of their own).
    pub fn digest(&self, salt: &str) -> [u8; 32] {
        let mut bytes = salt.as_bytes().to_vec();
        bytes.push(0);
        bytes.extend(serde_json::to_vec(self).unwrap_or_default());
        crate::hashing::sha256_bytes(&bytes)
    }

    /// Every path of the output the inventory names as an element (what a container's
    /// `contains` may name besides images).
    pub fn paths(&self) -> Vec<&str> {
        let mut paths: Vec<&str> = Vec::new();
        paths.extend(self.debs.iter().map(|b| b.path.as_str()));
        paths.extend(self.charts.iter().map(|c| c.path.as_str()));
        paths.extend(self.files.iter().map(|f| f.path.as_str()));
        paths.extend(self.others.iter().map(|o| o.path.as_str()));
        paths.extend(self.containers.iter().map(|c| c.path.as_str()));
        paths
    }
}

/// A UUID made from the first 16 bytes of `digest`, with the version (5, name-based) and
/// variant bits set, as CycloneDX's `serialNumber` requires: `xxxxxxxx-xxxx-5xxx-yxxx-…`.
pub fn uuid_from(digest: &[u8; 32]) -> String {
    let mut b = [0u8; 16];
    b.copy_from_slice(&digest[..16]);
    b[6] = (b[6] & 0x0f) | 0x50;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = crate::hashing::hex(&b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// `epoch` as an RFC 3339 UTC time to the second (`2023-11-14T22:13:20Z`).
pub fn rfc3339(epoch: u64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(i64::try_from(epoch).unwrap_or(i64::MAX))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// `text` with the user information (`user:password@`, or a token as the user) of every
/// `scheme://` URL in it removed, and anything a registered pattern of [`crate::redact`]
/// masks masked: what an SBOM may say of where something came from.
pub fn without_credentials(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(found) = rest.find("://") {
        let start = found + 3;
        out.push_str(&rest[..start]);
        let after = &rest[start..];
        let authority_end = after
            .find(|c: char| matches!(c, '/' | '?' | '#') || c.is_whitespace())
            .unwrap_or(after.len());
        let authority = &after[..authority_end];
        match authority.rfind('@') {
            Some(at) => out.push_str(&authority[at + 1..]),
            None => out.push_str(authority),
        }
        rest = &after[authority_end..];
    }
    out.push_str(rest);
    // An image reference may carry `user:password@` before its first `/` with no scheme.
    crate::redact::reference(&out).into_owned()
}

/// Percent-encodes `s` as the package URL spec's canonical form does: unreserved
/// characters and those of `keep` stay, every other byte becomes `%XX`.
fn purl_encode(s: &str, keep: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) || keep.as_bytes().contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The package URL of an image or one of its manifests:
/// `pkg:oci/<name>@sha256:<hex>?arch=…&repository_url=<registry/repository>&tag=…`, the
/// name being the repository's last segment, lower case, and qualifiers sorted by key.
pub fn oci_purl(repository: &str, digest: &str, tag: Option<&str>, arch: Option<&str>) -> String {
    let name = repository
        .rsplit('/')
        .next()
        .unwrap_or(repository)
        .to_lowercase();
    let mut qualifiers: Vec<(&str, &str)> = Vec::new();
    if let Some(a) = arch {
        qualifiers.push(("arch", a));
    }
    qualifiers.push(("repository_url", repository));
    if let Some(t) = tag {
        qualifiers.push(("tag", t));
    }
    format!(
        "pkg:oci/{}@{}?{}",
        purl_encode(&name, ":"),
        purl_encode(digest, ":"),
        qualifiers_text(&qualifiers)
    )
}

/// The package URL of a .deb: `pkg:deb/debian/<name>@<version>?arch=<arch>`.
pub fn deb_purl(name: &str, version: &str, arch: &str) -> String {
    format!(
        "pkg:deb/debian/{}@{}?{}",
        purl_encode(&name.to_lowercase(), ":"),
        purl_encode(version, ":"),
        qualifiers_text(&[("arch", arch)])
    )
}

fn qualifiers_text(qualifiers: &[(&str, &str)]) -> String {
    qualifiers
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}={}", purl_encode(v, ":/")))
        .collect::<Vec<_>>()
        .join("&")
}

/// A URL a document may give as where something can be downloaded: an `http(s)://` one,
/// without credentials; `None` for anything else (a local path, `HOST/REPO:TAG`).
pub fn download_url(source: &str) -> Option<String> {
    let clean = without_credentials(source);
    let lower = clean.to_ascii_lowercase();
    ((lower.starts_with("https://") || lower.starts_with("http://"))
        && !clean.contains(char::is_whitespace))
    .then_some(clean)
}

/// The JSON bytes of a document: pretty, newline-terminated.
pub(crate) fn to_bytes(value: &serde_json::Value) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(value).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

#[cfg(test)]
pub(crate) mod tests;
