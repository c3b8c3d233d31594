//! Build-time checks for the failures that broke real clusters, run while planning so that
//! a build that would produce a broken cluster stops before it writes anything.
//!
//! The airgap image set: a pause image version missing from it left every pod in
//! ContainerCreating ("failed to get sandbox image"), and k3s's packaged components
//! (coredns, local-path-provisioner, metrics-server, the helm controller, servicelb,
//! traefik) each need their image on a node with no network.
//!
//! The k3s release: what this build knows of each release ([`RELEASES`], [`PAUSE_LINES`],
//! each fact with its source); k3s releases with a known defect that breaks the cluster's
//! configuration ([`KNOWN_DEFECTS`], one row per defect) are refused, and so is a k3s
//! binary given through `files:` whose own version is not `cluster.k3s_version`. Such a
//! binary is believed over the tables: the images it defaults to ([`BinaryFacts`]) are
//! the ones required.

use crate::image::{ImageList, ListEntry, Reference};
use crate::input::Location;
use std::path::{Path, PathBuf};

mod binary;
mod path;
mod releases;

pub use binary::{
    BinaryFacts, K3S_BINARY_SCAN_LIMIT, check_k3s_binary, check_k3s_releases, k3s_binary_facts,
    k3s_versions_in,
};
pub use path::{
    HopNeeds, PathRefusal, UpgradePath, hop_binary_name, hop_of_binary, nearest_known,
    release_order, resolve_hops, skip_fix,
};
pub use releases::{
    CONTAINERD_LINES, ContainerdLine, NEWEST_PAUSE, PAUSE_LINES, PAUSE_REPOSITORY, PauseFact,
    PauseLine, RELEASES, Release, SkippedMinor, first_hop, release, release_containerd,
    release_pause, skipped_minors, skipped_minors_message, whole_releases,
};

/// A failed preflight check.
#[derive(Debug, thiserror::Error)]
pub enum PreflightError {
    /// Images the cluster needs are not in the airgap set.
    #[error("{}", missing_message(.k3s_version, .missing))]
    MissingImages {
        /// The k3s release checked against.
        k3s_version: String,
        /// What is missing and why it is needed.
        missing: Vec<Requirement>,
    },
    /// The k3s version in the config cannot be read.
    #[error("cluster.k3s_version {0:?} is not a k3s release like v1.33.1+k3s1")]
    BadVersion(String),
    /// Images tagged `latest` in a cluster whose agents can only get them from the
    /// embedded registry mirror, which does not share `latest` tags.
    #[error("{}", latest_message(.images))]
    LatestNotShared {
        /// `(list file, line, destination)` of each such image.
        images: Vec<(std::path::PathBuf, usize, String)>,
    },
    /// The k3s release is older than the first one with a GA embedded registry mirror.
    #[error("{}", too_old_message(.version, *.minor, .minimum))]
    EmbeddedRegistryTooOld {
        /// The configured release.
        version: String,
        /// Its minor version (the line).
        minor: u32,
        /// The first release of that line (or of the first GA line) that is new enough.
        minimum: String,
    },
    /// The k3s binary given through `files:` is another release than `cluster.k3s_version`.
    #[error("{0}")]
    K3sBinaryVersion(Box<K3sBinaryMismatch>),
    /// The k3s release has a known defect that breaks this cluster's configuration.
    #[error(
        "k3s {version} has a known defect with {}: {} ({}); use k3s {fixed} or newer on the 1.{minor} line{}",
        .defect.setting.describe(),
        .defect.why,
        .defect.source,
        .defect.setting.workaround()
    )]
    KnownDefect {
        /// The configured release.
        version: String,
        /// Its minor version (the line).
        minor: u32,
        /// The first release of the line with the fix.
        fixed: String,
        /// The defect.
        defect: &'static KnownDefect,
    },
}

/// A k3s binary given through `files:` that is another release than the config's.
#[derive(Debug)]
pub struct K3sBinaryMismatch {
    /// The config file.
    pub config: PathBuf,
    /// Where the `files:` entry is in it.
    pub at: Location,
    /// The entry's name (`bin/k3s`).
    pub name: String,
    /// The binary.
    pub path: PathBuf,
    /// The releases the binary names.
    pub found: Vec<String>,
    /// `cluster.k3s_version`, or the hop's release.
    pub expected: String,
    /// The binary is a hop's (`hops/<RELEASE>/k3s`), not the target's.
    pub hop: bool,
}

impl std::fmt::Display for K3sBinaryMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.hop {
            return write!(
                f,
                "{}:{}:{}: files entry {:?} is k3s {}, not the hop's release ({}); give the k3s binary of {}",
                self.config.display(),
                self.at.line,
                self.at.column,
                self.name,
                self.found.join(" and "),
                self.path.display(),
                self.expected
            );
        }
        write!(
            f,
            "{}:{}:{}: files entry {:?}: {} is k3s {}, but cluster.k3s_version is {}; give the k3s binary of {}, or set cluster.k3s_version to the binary's release",
            self.config.display(),
            self.at.line,
            self.at.column,
            self.name,
            self.path.display(),
            self.found.join(" and "),
            self.expected,
            self.expected
        )
    }
}

fn missing_message(version: &str, missing: &[Requirement]) -> String {
    let lines: Vec<String> = missing
        .iter()
        .map(|r| format!("  - {} ({})", r.image, r.why))
        .collect();
    format!(
        "the airgap images lack what k3s {version} needs on a node with no network; add to an image list:\n{}",
        lines.join("\n")
    )
}

fn latest_message(images: &[(std::path::PathBuf, usize, String)]) -> String {
    let lines: Vec<String> = images
        .iter()
        .map(|(path, line, image)| format!("  {}:{line}: {image}", path.display()))
        .collect();
    format!(
        "k3s's embedded registry mirror does not share `latest` tags between nodes, and the cluster has no registry to pull them from, so agents could never get these images; give them a version tag (or configure a registry:):\n{}",
        lines.join("\n")
    )
}

fn too_old_message(version: &str, minor: u32, minimum: &str) -> String {
    let line = if minimum.starts_with(&format!("v1.{minor}.")) {
        format!("on the 1.{minor} line")
    } else {
        format!("(the 1.{minor} line has no GA embedded registry mirror)")
    };
    let ga: Vec<String> = EMBEDDED_REGISTRY_GA
        .iter()
        .map(|(m, p)| format!("v1.{m}.{p}+k3s1"))
        .collect();
    format!(
        "cluster.embedded_registry needs k3s {minimum} or newer {line}; cluster.k3s_version is {version} (the embedded registry mirror is GA from {}, and in every v1.{}+)",
        ga.join(", "),
        EMBEDDED_REGISTRY_GA.last().map_or(0, |(m, _)| m + 1)
    )
}

/// A k3s component that can be switched off with `--disable` (cluster.disable).
pub const DISABLEABLE: &[&str] = &[
    "coredns",
    "servicelb",
    "traefik",
    "local-storage",
    "metrics-server",
];

/// An image the cluster needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    /// The image (exact when the release's list is known, else any tag of the repository).
    pub image: String,
    /// Why it is needed.
    pub why: String,
    /// Repository (`docker.io/rancher/mirrored-pause`).
    repository: String,
    /// The exact reference, when only that one will do.
    exact: Option<Reference>,
}

impl Requirement {
    /// Whether `image` meets this requirement: the exact image, or any tag of the
    /// repository when the release's list is not known.
    pub fn is_met_by(&self, image: &Reference) -> bool {
        match &self.exact {
            Some(exact) => image == exact,
            None => image.name() == self.repository,
        }
    }
}

/// The newest k3s release whose whole image list this build carries (`init`'s default).
pub fn newest_known_release() -> &'static str {
    whole_releases().last().map_or("", |r| r.version)
}

/// Every k3s release whose whole image list this build carries, oldest first (the
/// releases `init --k3s-version` takes).
pub fn known_releases() -> Vec<&'static str> {
    whole_releases().map(|r| r.version).collect()
}

/// The whole image list (`images.txt` form) of a k3s release this build carries, if it does.
pub fn release_image_list(version: &str) -> Option<&'static str> {
    release(version).filter(|r| r.whole).map(|r| r.images)
}

/// The warnings for what this build does not know exactly of k3s `version`: the images of
/// a release it has no whole list of, when the config gives none (`cluster.release_images`),
/// are checked by repository only; a release whose default pause image is not known, when
/// neither the config (`cluster.pause_image`) nor the k3s binary names one, is configured
/// with the newest pause image.
pub fn release_warnings(version: &str, has_list: bool, pause_given: bool) -> Vec<String> {
    let mut out = Vec::new();
    if !has_list {
        match release(version) {
            None => out.push(format!(
                "k3s {version} is not a release this seedforge knows the images of (it knows the whole image sets of {}; the newest is {}): its packaged component images are checked by repository only, so any tag passes; set cluster.release_images to that release's k3s-images.txt for an exact check",
                known_releases().join(", "),
                newest_known_release()
            )),
            Some(r) if !r.whole => {
                let known = ImageList::parse(r.images, Path::new(r.version))
                    .map(|l| l.entries)
                    .unwrap_or_default();
                let unknown: Vec<&str> = COMPONENTS
                    .iter()
                    .filter(|(repo, _, _)| !repo.ends_with("/mirrored-pause"))
                    .filter(|(repo, _, _)| !known.iter().any(|e| e.destination.name() == *repo))
                    .map(|(repo, _, _)| repo.rsplit('/').next().unwrap_or(repo))
                    .collect();
                out.push(format!(
                    "k3s {version}: this seedforge knows the tags of only some of its images (from {}); {} are checked by repository only, so any tag passes; set cluster.release_images to that release's k3s-images.txt for an exact check",
                    r.source,
                    unknown.join(", ")
                ));
            }
            Some(_) => {}
        }
    }
    if !pause_given && matches!(release_pause(version), Ok(PauseFact::Unknown)) {
        out.push(format!(
            "k3s {version}'s default pause image is not known to this seedforge: its nodes are configured with pause-image {PAUSE_REPOSITORY}:{NEWEST_PAUSE} (the newest k3s default), which the airgap set must carry; set cluster.pause_image, or carry the release's k3s binary in files:, to choose"
        ));
    }
    out
}

/// What the k3s binary carried in `files:` defaults to (`bin/k3s` at `path`) that the
/// table gives `version` otherwise: one warning per image, naming both. The binary's is
/// the one required, as it is what the nodes run.
pub fn binary_disagreements(
    version: &str,
    defaults: &[Reference],
    name: &str,
    path: &Path,
) -> Vec<String> {
    let listed =
        release(version).and_then(|r| ImageList::parse(r.images, Path::new(r.version)).ok());
    let mut out = Vec::new();
    for image in defaults {
        let table = if image.name() == PAUSE_REPOSITORY {
            match release_pause(version) {
                Ok(PauseFact::Known { tag, source }) => {
                    Some((format!("{PAUSE_REPOSITORY}:{tag}"), source))
                }
                _ => None,
            }
        } else {
            listed.as_ref().and_then(|l| {
                l.entries
                    .iter()
                    .find(|e| e.destination.name() == image.name())
                    .map(|e| {
                        (
                            e.destination.to_string(),
                            release(version).map_or("", |r| r.source),
                        )
                    })
            })
        };
        if let Some((table, source)) = table
            && table != image.to_string()
        {
            out.push(format!(
                "files entry {name:?} ({}) defaults to {image}, but this seedforge's table has {table} for k3s {version} ({source}): {image} is required, as the binary is what the nodes run",
                path.display()
            ));
        }
    }
    out
}

/// Which component each packaged repository belongs to; `None` means always needed.
const COMPONENTS: &[(&str, Option<&str>, &str)] = &[
    (
        "docker.io/rancher/mirrored-pause",
        None,
        "the pod sandbox (pause) image",
    ),
    (
        "docker.io/rancher/mirrored-coredns-coredns",
        Some("coredns"),
        "coredns",
    ),
    (
        "docker.io/rancher/local-path-provisioner",
        Some("local-storage"),
        "local-path-provisioner",
    ),
    (
        "docker.io/rancher/mirrored-library-busybox",
        Some("local-storage"),
        "local-path-provisioner's helper pods",
    ),
    (
        "docker.io/rancher/mirrored-metrics-server",
        Some("metrics-server"),
        "metrics-server",
    ),
    (
        "docker.io/rancher/klipper-helm",
        None,
        "the helm controller that installs packaged charts",
    ),
    (
        "docker.io/rancher/klipper-lb",
        Some("servicelb"),
        "servicelb",
    ),
    (
        "docker.io/rancher/mirrored-library-traefik",
        Some("traefik"),
        "traefik",
    ),
];

/// `(minor, patch)` of a `v1.MINOR.PATCH+k3sN` version.
fn minor_patch(version: &str) -> Option<(u32, u32)> {
    match version_core(version)? {
        (1, minor, patch) => Some((minor, patch)),
        _ => None,
    }
}

/// `(major, minor, patch)` of a k3s version's `[v]MAJOR.MINOR.PATCH` core, before any `-`
/// or `+` part; the one reading of a k3s version's numbers.
pub fn version_core(version: &str) -> Option<(u32, u32, u32)> {
    let core = version.strip_prefix('v').unwrap_or(version);
    let mut parts = core.split(['+', '-']).next()?.split('.');
    let mut number = || -> Option<u32> { parts.next()?.parse().ok() };
    let numbers = (number()?, number()?, number()?);
    parts.next().is_none().then_some(numbers)
}

/// The first release of each k3s line whose embedded registry mirror (Spegel) is GA, as
/// `(minor, patch)`; every line after the last one has it from its first release. It was
/// experimental from January 2024 and `"*"` mirror entries came in March 2024, both before
/// these releases.
const EMBEDDED_REGISTRY_GA: &[(u32, u32)] = &[(29, 12), (30, 8), (31, 4)];

/// Checks that k3s `version` has a GA embedded registry mirror (`embedded-registry: true`):
/// v1.29.12, v1.30.8, v1.31.4 or newer on their lines, any v1.32+. An older release of a
/// line, or any line before 1.29, is refused naming the minimum of its line (v1.29.12 for
/// the lines before).
pub fn check_embedded_registry(version: &str) -> Result<(), PreflightError> {
    let (minor, patch) =
        minor_patch(version).ok_or_else(|| PreflightError::BadVersion(version.into()))?;
    let (first_minor, first_patch) = EMBEDDED_REGISTRY_GA[0];
    let last_minor = EMBEDDED_REGISTRY_GA.last().map_or(first_minor, |(m, _)| *m);
    let minimum = match EMBEDDED_REGISTRY_GA.iter().find(|(m, _)| *m == minor) {
        Some((_, p)) if patch >= *p => return Ok(()),
        Some((m, p)) => (*m, *p),
        None if minor > last_minor => return Ok(()),
        None => (first_minor, first_patch),
    };
    Err(PreflightError::EmbeddedRegistryTooOld {
        version: version.to_string(),
        minor,
        minimum: format!("v1.{}.{}+k3s1", minimum.0, minimum.1),
    })
}

/// A cluster configuration a known k3s defect breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setting {
    /// `cluster.embedded_registry` without a `registry:` section: agents import no
    /// airgap archives and pull every image from the servers through the embedded registry
    /// mirror (Spegel), with nowhere else to fall back to.
    EmbeddedRegistryOnly,
}

impl Setting {
    /// The configuration, as the config says it.
    pub fn describe(self) -> &'static str {
        match self {
            Setting::EmbeddedRegistryOnly => {
                "cluster.embedded_registry without a registry: section (agents pull every image from the servers)"
            }
        }
    }

    /// What else avoids the defect, for the message (starts with `, ` or is empty).
    fn workaround(self) -> &'static str {
        match self {
            Setting::EmbeddedRegistryOnly => {
                ", or add a registry: section the agents can fall back to"
            }
        }
    }
}

/// A k3s defect that breaks a cluster of one configuration on the releases it hits.
#[derive(Debug, PartialEq, Eq)]
pub struct KnownDefect {
    /// The configuration it breaks.
    pub setting: Setting,
    /// The releases it hits, per line: `(minor, first affected patch, first fixed patch)`;
    /// a line not listed is not affected.
    pub lines: &'static [(u32, u32, u32)],
    /// What goes wrong on the nodes.
    pub why: &'static str,
    /// Where the defect and its fix are described upstream.
    pub source: &'static str,
}

/// The known k3s defects that break a configuration seedforge builds; a new one is a row.
///
/// Spegel v0.4.0 (k3s-io/k3s#12943 on main, backported as "Bump spegel to v0.4.0",
/// #12951/#12953) stopped sharing images that were imported rather than pulled through
/// the CRI: images from the airgap archives get no digest and no distribution-source
/// labels, so a peer resolves the tag and then every layer is "not found"
/// (k3s-io/k3s#13222, fixed by #13221, backports #13230 for 1.34, #13231 for 1.33 and
/// #13232 for 1.32). From the k3s release notes: the update shipped in the "Backports
/// for 2025-10" of v1.34.2+k3s1 (#13057), v1.33.6+k3s1 (#13058) and v1.32.10+k3s1
/// (#13059), all of November 20 2025; the fix in the December 2025 releases v1.34.3,
/// v1.33.7 (its notes list "Fix spegel sharing of imported images") and v1.32.11 (#13232
/// was validated on v1.32.11-rc1); v1.35.0+k3s1 was the first 1.35 release and already
/// carried the fix (#13221). The 1.31 line's last release, v1.31.14+k3s1 (November 20
/// 2025), took the same component updates and a 1.31 backport of the fix was opened
/// (#13233), but no 1.31 release note listing the Spegel update or the fix could be
/// found, so that line is not listed.
pub const KNOWN_DEFECTS: &[KnownDefect] = &[KnownDefect {
    setting: Setting::EmbeddedRegistryOnly,
    lines: &[(32, 10, 11), (33, 6, 7), (34, 2, 3)],
    why: "its embedded registry mirror (Spegel) shares no image imported from the airgap archives, so every agent's pull fails",
    source: "k3s-io/k3s#13222",
}];

/// Refuses k3s `version` when a [`KNOWN_DEFECTS`] row breaks one of `settings` on it,
/// naming the release, the configuration, the defect and the first fixed release of
/// its line.
pub fn check_known_defects(version: &str, settings: &[Setting]) -> Result<(), PreflightError> {
    let (minor, patch) =
        minor_patch(version).ok_or_else(|| PreflightError::BadVersion(version.into()))?;
    for defect in KNOWN_DEFECTS {
        if !settings.contains(&defect.setting) {
            continue;
        }
        for &(line, first, fixed) in defect.lines {
            if line == minor && (first..fixed).contains(&patch) {
                return Err(PreflightError::KnownDefect {
                    version: version.to_string(),
                    minor,
                    fixed: format!("v1.{minor}.{fixed}+k3s1"),
                    defect,
                });
            }
        }
    }
    Ok(())
}

/// With the embedded registry mirror and no registry, agents get every image from the
/// other nodes, and the mirror never resolves a `latest` tag (k3s's choice: what `latest`
/// means is the upstream's to say). Refuses every entry whose destination is tagged
/// `latest`, naming its list file and line.
pub fn check_embedded_shareable(entries: &[ListEntry]) -> Result<(), PreflightError> {
    let images: Vec<_> = entries
        .iter()
        .filter(|e| e.destination.tag() == Some("latest"))
        .map(|e| (e.path.clone(), e.line, e.destination.to_string()))
        .collect();
    if images.is_empty() {
        Ok(())
    } else {
        Err(PreflightError::LatestNotShared { images })
    }
}

/// The pause image the nodes of k3s `version` are configured with by default: the
/// release's default when it is known ([`release_pause`]), else the newest one
/// ([`NEWEST_PAUSE`]; [`release_warnings`] says so).
pub fn default_pause_image(version: &str) -> Result<Reference, PreflightError> {
    let tag = match release_pause(version)? {
        PauseFact::Known { tag, .. } => tag,
        PauseFact::Unknown => NEWEST_PAUSE,
    };
    Reference::parse(&format!("{PAUSE_REPOSITORY}:{tag}"))
        .map_err(|_| PreflightError::BadVersion(version.into()))
}

/// The images a cluster of `version` needs with the components in `disabled` switched off.
/// `pause` overrides the release's default pause image. `release` is the release's own
/// image list (`cluster.release_images`); without it, the images this build knows of
/// `version`, if any. `embedded` are the images the k3s binary carried in `files:` defaults
/// to: each is required over any list's. A component whose image no list names may be any
/// tag of its repository.
pub fn required_images(
    version: &str,
    pause: Option<&Reference>,
    disabled: &[String],
    release: Option<&ImageList>,
    embedded: &[Reference],
) -> Result<Vec<Requirement>, PreflightError> {
    let pause = match pause {
        Some(p) => p.clone(),
        None => default_pause_image(version)?,
    };
    let known = match release {
        Some(list) => Some(list.clone()),
        None => self::release(version)
            .and_then(|r| ImageList::parse(r.images, Path::new(r.version)).ok()),
    };
    let mut out = Vec::new();
    for (repository, component, why) in COMPONENTS {
        if component.is_some_and(|c| disabled.iter().any(|d| d == c)) {
            continue;
        }
        let exact = if repository.ends_with("/mirrored-pause") {
            Some(pause.clone())
        } else if let Some(image) = embedded.iter().find(|i| i.name() == *repository) {
            Some(image.clone())
        } else {
            known.as_ref().and_then(|list| {
                list.entries
                    .iter()
                    .map(|e| &e.destination)
                    .find(|d| d.name() == *repository)
                    .cloned()
            })
        };
        out.push(Requirement {
            image: exact
                .as_ref()
                .map_or_else(|| format!("{repository}:<any tag>"), ToString::to_string),
            why: match component {
                Some(c) => format!("{why}; needed unless cluster.disable lists {c}"),
                None => (*why).to_string(),
            },
            repository: (*repository).to_string(),
            exact,
        });
    }
    Ok(out)
}

/// Checks that every required image is among `available` (the images going into the
/// airgap archives).
pub fn check_airgap_images(
    version: &str,
    required: &[Requirement],
    available: &[Reference],
) -> Result<(), PreflightError> {
    let missing: Vec<Requirement> = required
        .iter()
        .filter(|r| !available.iter().any(|a| r.is_met_by(a)))
        .cloned()
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(PreflightError::MissingImages {
            k3s_version: version.to_string(),
            missing,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refs(list: &str) -> Vec<Reference> {
        ImageList::parse(list, Path::new("x.txt"))
            .unwrap()
            .entries
            .into_iter()
            .map(|e| e.destination)
            .collect()
    }

    const V133: &str = include_str!("../../images/k3s-v1.33.1+k3s1.txt");

    #[test]
    fn pause_defaults_follow_the_release() {
        for (version, tag) in [
            ("v1.32.5+k3s1", "3.6"),
            ("v1.33.12+k3s1", "3.6"),
            ("v1.33.13+k3s1", "3.6"),
            ("v1.34.0+k3s1", "3.6"),
            ("v1.34.5+k3s1", "3.6"),
            ("v1.34.10+k3s1", "3.10.2"),
            ("v1.37.1+k3s1", "3.10.2"),
            // Not known: the newest default, with a warning.
            ("v1.38.0+k3s1", "3.10.2"),
        ] {
            assert_eq!(
                default_pause_image(version).unwrap().tag(),
                Some(tag),
                "{version}"
            );
        }
        assert!(
            release_warnings("v1.38.0+k3s1", true, false)[0]
                .contains("pause-image docker.io/rancher/mirrored-pause:3.10.2")
        );
        assert!(release_warnings("v1.38.0+k3s1", true, true).is_empty());
        assert!(release_warnings("v1.37.1+k3s1", false, false).is_empty());
        assert!(default_pause_image("latest").is_err());
        assert!(default_pause_image("v2.0.0").is_err());
    }

    #[test]
    fn the_embedded_registry_gate_follows_each_lines_ga_release() {
        for ok in [
            "v1.29.12+k3s1",
            "v1.29.15+k3s2",
            "v1.30.8+k3s1",
            "v1.31.4+k3s1",
            "v1.31.10+k3s1",
            "v1.32.0+k3s1",
            "v1.33.1+k3s1",
            "v1.40.0+k3s1",
        ] {
            check_embedded_registry(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for (old, minimum) in [
            ("v1.29.11+k3s1", "v1.29.12+k3s1"),
            ("v1.29.1+k3s1", "v1.29.12+k3s1"),
            ("v1.30.7+k3s1", "v1.30.8+k3s1"),
            ("v1.30.0+k3s1", "v1.30.8+k3s1"),
            ("v1.31.3+k3s1", "v1.31.4+k3s1"),
            ("v1.28.15+k3s1", "v1.29.12+k3s1"),
            ("v1.26.13+k3s1", "v1.29.12+k3s1"),
        ] {
            match check_embedded_registry(old) {
                Err(e @ PreflightError::EmbeddedRegistryTooOld { .. }) => {
                    let text = e.to_string();
                    assert!(text.contains(old), "{text}");
                    assert!(
                        text.contains(&format!("needs k3s {minimum} or newer")),
                        "{text}"
                    );
                }
                other => panic!("{old}: {other:?}"),
            }
        }
        assert!(matches!(
            check_embedded_registry("latest"),
            Err(PreflightError::BadVersion(_))
        ));
    }

    #[test]
    fn a_release_list_from_the_config_makes_the_check_exact_for_any_release() {
        let own = V133.replace("coredns-coredns:1.12.1", "coredns-coredns:1.13.1");
        let list = ImageList::parse(&own, Path::new("k3s-images.txt")).unwrap();
        let req = required_images("v1.33.5+k3s1", None, &[], Some(&list), &[]).unwrap();
        let coredns = req.iter().find(|r| r.image.contains("coredns")).unwrap();
        assert_eq!(
            coredns.image,
            "docker.io/rancher/mirrored-coredns-coredns:1.13.1"
        );
        check_airgap_images("v1.33.5+k3s1", &req, &refs(&own)).unwrap();
        // The tag the built-in list of another release has is not enough.
        let err = check_airgap_images("v1.33.5+k3s1", &req, &refs(V133))
            .unwrap_err()
            .to_string();
        assert!(err.contains("mirrored-coredns-coredns:1.13.1"), "{err}");
        // It also replaces the built-in list of a known release.
        let req = required_images("v1.33.1+k3s1", None, &[], Some(&list), &[]).unwrap();
        assert!(check_airgap_images("v1.33.1+k3s1", &req, &refs(V133)).is_err());
    }

    #[test]
    fn an_unknown_release_without_a_list_is_warned_about() {
        let warnings = release_warnings("v1.34.4+k3s1", false, false);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        let warning = &warnings[0];
        assert!(
            warning.contains("k3s v1.34.4+k3s1 is not a release"),
            "{warning}"
        );
        assert!(warning.contains(newest_known_release()), "{warning}");
        assert!(warning.contains("cluster.release_images"), "{warning}");
        assert!(release_warnings("v1.34.4+k3s1", true, false).is_empty());
        assert!(release_warnings(newest_known_release(), false, false).is_empty());
        assert_eq!(known_releases().last(), Some(&newest_known_release()));
        assert_eq!(newest_known_release(), "v1.37.1+k3s1");
        // A release known from its notes only: what is not known is named.
        let partial = &release_warnings("v1.35.2+k3s1", false, false)[0];
        assert!(partial.contains("klipper-helm, klipper-lb"), "{partial}");
        assert!(partial.contains("mirrored-library-busybox"), "{partial}");
        assert!(!partial.contains("traefik"), "{partial}");
        assert!(
            partial.contains("docs/release-notes/v1.35.X.md"),
            "{partial}"
        );
    }

    #[test]
    fn a_k3s_binarys_defaults_are_required_over_the_tables() {
        let pause = Reference::parse("rancher/mirrored-pause:3.10.2").unwrap();
        let helm = Reference::parse("rancher/klipper-helm:v0.9.99-build20260101").unwrap();
        let req = required_images(
            "v1.34.5+k3s1",
            Some(&pause),
            &[],
            None,
            std::slice::from_ref(&helm),
        )
        .unwrap();
        let images: Vec<&str> = req.iter().map(|r| r.image.as_str()).collect();
        assert!(
            images.contains(&"docker.io/rancher/mirrored-pause:3.10.2"),
            "{images:?}"
        );
        assert!(
            images.contains(&"docker.io/rancher/klipper-helm:v0.9.99-build20260101"),
            "{images:?}"
        );
        assert!(
            images.contains(&"docker.io/rancher/klipper-lb:v0.4.14"),
            "{images:?}"
        );
        let warnings = binary_disagreements(
            "v1.34.5+k3s1",
            &[pause, helm],
            "bin/k3s",
            Path::new("lab/k3s"),
        );
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(warnings[0].contains("defaults to docker.io/rancher/mirrored-pause:3.10.2, but this seedforge's table has docker.io/rancher/mirrored-pause:3.6 for k3s v1.34.5+k3s1"), "{}", warnings[0]);
        assert!(
            warnings[1].contains("klipper-helm:v0.9.14-build20260210"),
            "{}",
            warnings[1]
        );
        // A binary that agrees: nothing to say.
        let agrees = Reference::parse("rancher/mirrored-pause:3.6").unwrap();
        assert!(
            binary_disagreements("v1.34.5+k3s1", &[agrees], "bin/k3s", Path::new("k3s")).is_empty()
        );
    }

    #[test]
    fn releases_whose_mirror_does_not_share_imported_images_are_refused_for_the_mirror_alone() {
        let only = [Setting::EmbeddedRegistryOnly];
        for (bad, fixed) in [
            ("v1.32.10+k3s1", "v1.32.11+k3s1"),
            ("v1.33.6+k3s1", "v1.33.7+k3s1"),
            ("v1.34.2+k3s1", "v1.34.3+k3s1"),
        ] {
            match check_known_defects(bad, &only) {
                Err(e @ PreflightError::KnownDefect { .. }) => {
                    let text = e.to_string();
                    assert!(
                        text.contains(&format!("k3s {bad} has a known defect")),
                        "{text}"
                    );
                    assert!(
                        text.contains(&format!("use k3s {fixed} or newer")),
                        "{text}"
                    );
                    assert!(text.contains("cluster.embedded_registry"), "{text}");
                    assert!(text.contains("k3s-io/k3s#13222"), "{text}");
                }
                other => panic!("{bad}: {other:?}"),
            }
            // Another configuration is not hit.
            check_known_defects(bad, &[]).unwrap();
        }
        for ok in [
            "v1.32.9+k3s1",
            "v1.32.11+k3s1",
            "v1.33.1+k3s1",
            "v1.33.5+k3s1",
            "v1.33.7+k3s1",
            "v1.34.1+k3s1",
            "v1.34.3+k3s1",
            "v1.35.0+k3s1",
            "v1.31.14+k3s1",
        ] {
            check_known_defects(ok, &only).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        assert!(matches!(
            check_known_defects("latest", &only),
            Err(PreflightError::BadVersion(_))
        ));
    }

    #[test]
    fn latest_tags_are_refused_for_the_embedded_mirror_alone() {
        let list = ImageList::parse(
            "docker.io/rancher/mirrored-pause:3.6\nbusybox\n# note\nexample.com/app:latest\nexample.com/app:v1\n",
            Path::new("lab.txt"),
        )
        .unwrap();
        let err = check_embedded_shareable(&list.entries)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("lab.txt:2: docker.io/library/busybox:latest"),
            "{err}"
        );
        assert!(err.contains("lab.txt:4: example.com/app:latest"), "{err}");
        assert!(!err.contains("app:v1") && !err.contains("pause"), "{err}");
        check_embedded_shareable(&list.entries[..1]).unwrap();
    }

    #[test]
    fn the_full_release_list_passes() {
        let req = required_images("v1.33.1+k3s1", None, &[], None, &[]).unwrap();
        assert_eq!(req.len(), 8);
        check_airgap_images("v1.33.1+k3s1", &req, &refs(V133)).unwrap();
    }

    #[test]
    fn a_different_pause_version_is_caught() {
        // The field failure: k3s asked for pause:3.6, the set carried only 3.10.
        let list = V133.replace("mirrored-pause:3.6", "mirrored-pause:3.10");
        let req = required_images("v1.33.1+k3s1", None, &[], None, &[]).unwrap();
        let err = check_airgap_images("v1.33.1+k3s1", &req, &refs(&list))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("docker.io/rancher/mirrored-pause:3.6"),
            "{err}"
        );
        assert!(err.contains("pause"), "{err}");
        // Pinning the pause image the set carries fixes it.
        let pause = Reference::parse("docker.io/rancher/mirrored-pause:3.10").unwrap();
        let req = required_images("v1.33.1+k3s1", Some(&pause), &[], None, &[]).unwrap();
        check_airgap_images("v1.33.1+k3s1", &req, &refs(&list)).unwrap();
    }

    #[test]
    fn disabled_components_are_not_required() {
        let list: String = V133
            .lines()
            .filter(|l| !l.contains("traefik") && !l.contains("klipper-lb"))
            .collect::<Vec<_>>()
            .join("\n");
        let req = required_images("v1.33.1+k3s1", None, &[], None, &[]).unwrap();
        let err = check_airgap_images("v1.33.1+k3s1", &req, &refs(&list))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("traefik") && err.contains("klipper-lb"),
            "{err}"
        );
        let disabled = vec!["traefik".to_string(), "servicelb".to_string()];
        let req = required_images("v1.33.1+k3s1", None, &disabled, None, &[]).unwrap();
        check_airgap_images("v1.33.1+k3s1", &req, &refs(&list)).unwrap();
    }

    #[test]
    fn unknown_patch_releases_check_repositories() {
        let req = required_images("v1.33.8+k3s1", None, &[], None, &[]).unwrap();
        let coredns = req.iter().find(|r| r.image.contains("coredns")).unwrap();
        assert!(coredns.image.ends_with(":<any tag>"));
        let list = V133.replace("coredns-coredns:1.12.1", "coredns-coredns:1.12.3");
        check_airgap_images("v1.33.8+k3s1", &req, &refs(&list)).unwrap();
        let without: String = V133
            .lines()
            .filter(|l| !l.contains("coredns"))
            .collect::<Vec<_>>()
            .join("\n");
        assert!(check_airgap_images("v1.33.8+k3s1", &req, &refs(&without)).is_err());
        // A release known from its notes: their components exact, the others by repository.
        let req = required_images("v1.33.5+k3s1", None, &[], None, &[]).unwrap();
        let coredns = req.iter().find(|r| r.image.contains("coredns")).unwrap();
        assert_eq!(
            coredns.image,
            "docker.io/rancher/mirrored-coredns-coredns:1.12.3"
        );
        let lb = req.iter().find(|r| r.image.contains("klipper-lb")).unwrap();
        assert!(lb.image.ends_with(":<any tag>"));
    }
}
