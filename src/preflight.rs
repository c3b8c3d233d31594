//! Build-time checks for the failures that broke real clusters, run while planning so that
//! a build that would produce a broken cluster stops before it writes anything.
//!
//! Today: the airgap image set. A pause image version missing from it left every pod in
//! ContainerCreating ("failed to get sandbox image"), and k3s's packaged components
//! (coredns, local-path-provisioner, metrics-server, the helm controller, servicelb,
//! traefik) each need their image on a node with no network.

use crate::image::{ImageList, Reference};
use std::path::Path;

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

/// Image lists of the k3s releases this build knows exactly: (release, list text).
const KNOWN_RELEASES: &[(&str, &str)] = &[
    ("v1.32.5+k3s1", include_str!("../images/k3s-v1.32.txt")),
    ("v1.33.1+k3s1", include_str!("../images/k3s-v1.33.txt")),
];

/// The newest k3s release whose image list this build carries.
pub fn newest_known_release() -> &'static str {
    KNOWN_RELEASES.last().map_or("", |(v, _)| v)
}

/// The image list (`images.txt` form) of a k3s release this build knows, if it knows it.
pub fn release_image_list(version: &str) -> Option<&'static str> {
    KNOWN_RELEASES
        .iter()
        .find(|(v, _)| *v == version)
        .map(|(_, list)| *list)
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
    let core = version.strip_prefix('v').unwrap_or(version);
    let core = core.split(['+', '-']).next()?;
    let mut parts = core.split('.');
    let (major, minor, patch) = (parts.next()?, parts.next()?, parts.next()?);
    if major != "1" || parts.next().is_some() {
        return None;
    }
    Some((minor.parse().ok()?, patch.parse().ok()?))
}

/// The pause image k3s uses by default for a release.
pub fn default_pause_image(version: &str) -> Result<Reference, PreflightError> {
    let (minor, patch) =
        minor_patch(version).ok_or_else(|| PreflightError::BadVersion(version.into()))?;
    let tag = if minor < 33 || (minor == 33 && patch < 13) {
        "3.6"
    } else {
        "3.10.2"
    };
    Reference::parse(&format!("docker.io/rancher/mirrored-pause:{tag}"))
        .map_err(|_| PreflightError::BadVersion(version.into()))
}

/// The images a cluster of `version` needs with the components in `disabled` switched off.
/// `pause` overrides the release's default pause image.
pub fn required_images(
    version: &str,
    pause: Option<&Reference>,
    disabled: &[String],
) -> Result<Vec<Requirement>, PreflightError> {
    let pause = match pause {
        Some(p) => p.clone(),
        None => default_pause_image(version)?,
    };
    let known = KNOWN_RELEASES
        .iter()
        .find(|(release, _)| *release == version)
        .and_then(|(release, text)| ImageList::parse(text, Path::new(release)).ok());
    let mut out = Vec::new();
    for (repository, component, why) in COMPONENTS {
        if component.is_some_and(|c| disabled.iter().any(|d| d == c)) {
            continue;
        }
        let exact = if repository.ends_with("/mirrored-pause") {
            Some(pause.clone())
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
        .filter(|r| match &r.exact {
            Some(exact) => !available.iter().any(|a| a == exact),
            None => !available.iter().any(|a| a.name() == r.repository),
        })
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

    const V133: &str = include_str!("../images/k3s-v1.33.txt");

    #[test]
    fn pause_defaults_follow_the_release() {
        assert_eq!(
            default_pause_image("v1.32.5+k3s1").unwrap().tag(),
            Some("3.6")
        );
        assert_eq!(
            default_pause_image("v1.33.12+k3s1").unwrap().tag(),
            Some("3.6")
        );
        assert_eq!(
            default_pause_image("v1.33.13+k3s1").unwrap().tag(),
            Some("3.10.2")
        );
        assert_eq!(
            default_pause_image("v1.34.0+k3s1").unwrap().tag(),
            Some("3.10.2")
        );
        assert!(default_pause_image("latest").is_err());
        assert!(default_pause_image("v2.0.0").is_err());
    }

    #[test]
    fn the_full_release_list_passes() {
        let req = required_images("v1.33.1+k3s1", None, &[]).unwrap();
        assert_eq!(req.len(), 8);
        check_airgap_images("v1.33.1+k3s1", &req, &refs(V133)).unwrap();
    }

    #[test]
    fn a_different_pause_version_is_caught() {
        // The field failure: k3s asked for pause:3.6, the set carried only 3.10.
        let list = V133.replace("mirrored-pause:3.6", "mirrored-pause:3.10");
        let req = required_images("v1.33.1+k3s1", None, &[]).unwrap();
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
        let req = required_images("v1.33.1+k3s1", Some(&pause), &[]).unwrap();
        check_airgap_images("v1.33.1+k3s1", &req, &refs(&list)).unwrap();
    }

    #[test]
    fn disabled_components_are_not_required() {
        let list: String = V133
            .lines()
            .filter(|l| !l.contains("traefik") && !l.contains("klipper-lb"))
            .collect::<Vec<_>>()
            .join("\n");
        let req = required_images("v1.33.1+k3s1", None, &[]).unwrap();
        let err = check_airgap_images("v1.33.1+k3s1", &req, &refs(&list))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("traefik") && err.contains("klipper-lb"),
            "{err}"
        );
        let disabled = vec!["traefik".to_string(), "servicelb".to_string()];
        let req = required_images("v1.33.1+k3s1", None, &disabled).unwrap();
        check_airgap_images("v1.33.1+k3s1", &req, &refs(&list)).unwrap();
    }

    #[test]
    fn unknown_patch_releases_check_repositories() {
        let req = required_images("v1.33.5+k3s1", None, &[]).unwrap();
        let coredns = req.iter().find(|r| r.image.contains("coredns")).unwrap();
        assert!(coredns.image.ends_with(":<any tag>"));
        let list = V133.replace("coredns-coredns:1.12.1", "coredns-coredns:1.12.3");
        check_airgap_images("v1.33.5+k3s1", &req, &refs(&list)).unwrap();
        let without: String = V133
            .lines()
            .filter(|l| !l.contains("coredns"))
            .collect::<Vec<_>>()
            .join("\n");
        assert!(check_airgap_images("v1.33.5+k3s1", &req, &refs(&without)).is_err());
    }
}
