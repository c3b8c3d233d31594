//! The k3s releases this seedforge knows, and where each fact about them was read.
//!
//! Two tables. [`RELEASES`]: per patch release, the images of its airgap set that are known
//! exactly: every one (`whole`, from the release's own `k3s-images.txt` or a copy of it), or
//! the components its release notes name (Traefik, CoreDNS, metrics-server,
//! local-path-provisioner, and busybox where a note says). [`PAUSE_LINES`]: per k3s line,
//! the default pause image of its releases. The pause image moved from 3.6 to 3.10.2 in
//! patch releases, not at a minor: k3s#14339 on main (v1.37.0+k3s1) and its July 2026
//! backports to the 1.33-1.36 branches.
//!
//! A fact that could not be found is not claimed: a release missing from [`RELEASES`] has
//! its components checked by repository only, and a release whose line's pause image is not
//! known ([`PauseFact::Unknown`]) is configured with the newest pause image, with a warning.

use super::PreflightError;

/// A k3s release whose images this build knows, wholly or in part.
#[derive(Debug)]
pub struct Release {
    /// `v1.33.1+k3s1`.
    pub version: &'static str,
    /// The images known exactly, in the image-list format.
    pub images: &'static str,
    /// Whether `images` is the release's whole airgap set (its `k3s-images.txt`), pause
    /// image included; otherwise the components it names are exact and the others are not
    /// known.
    pub whole: bool,
    /// Where the images were read.
    pub source: &'static str,
}

/// A release of which only the components of the release notes' table are known: Traefik,
/// CoreDNS, metrics-server and local-path-provisioner (then any further images a note of the
/// release names).
macro_rules! noted {
    ($version:literal, $notes:literal, $traefik:literal, $coredns:literal, $metrics:literal, $lpp:literal $(, $more:literal)*) => {
        Release {
            version: $version,
            images: concat!(
                "docker.io/rancher/mirrored-library-traefik:", $traefik, "\n",
                "docker.io/rancher/mirrored-coredns-coredns:", $coredns, "\n",
                "docker.io/rancher/mirrored-metrics-server:", $metrics, "\n",
                "docker.io/rancher/local-path-provisioner:", $lpp, "\n",
                $($more, "\n",)*
            ),
            whole: false,
            source: concat!(
                "the component table of k3s-io/docs docs/release-notes/",
                $notes,
                " for ",
                $version
            ),
        }
    };
}

/// A release whose whole airgap set is known, from `images/k3s-<version>.txt` (whose header
/// says where the list was read).
macro_rules! whole {
    ($version:literal, $source:literal) => {
        Release {
            version: $version,
            images: include_str!(concat!("../../images/k3s-", $version, ".txt")),
            whole: true,
            source: $source,
        }
    };
}

/// The releases this build knows the images of, oldest first; the newest whole one is
/// `seedforge init`'s default. Keeping it current: docs/config.md ("Keeping the known
/// releases current").
pub const RELEASES: &[Release] = &[
    noted!(
        "v1.32.0+k3s1",
        "v1.32.X.md",
        "2.11.10",
        "1.12.0",
        "v0.7.2",
        "v0.0.30"
    ),
    noted!(
        "v1.32.1+k3s1",
        "v1.32.X.md",
        "2.11.18",
        "1.12.0",
        "v0.7.2",
        "v0.0.30"
    ),
    noted!(
        "v1.32.2+k3s1",
        "v1.32.X.md",
        "3.3.2",
        "1.12.0",
        "v0.7.2",
        "v0.0.31"
    ),
    noted!(
        "v1.32.3+k3s1",
        "v1.32.X.md",
        "3.3.2",
        "1.12.0",
        "v0.7.2",
        "v0.0.31"
    ),
    noted!(
        "v1.32.4+k3s1",
        "v1.32.X.md",
        "3.3.6",
        "1.12.1",
        "v0.7.2",
        "v0.0.31"
    ),
    whole!(
        "v1.32.5+k3s1",
        "the release's k3s-images.txt (github.com/k3s-io/k3s/releases/tag/v1.32.5%2Bk3s1)"
    ),
    noted!(
        "v1.32.6+k3s1",
        "v1.32.X.md",
        "3.3.6",
        "1.12.1",
        "v0.7.2",
        "v0.0.31"
    ),
    noted!(
        "v1.32.7+k3s1",
        "v1.32.X.md",
        "3.3.6",
        "1.12.1",
        "v0.7.2",
        "v0.0.31"
    ),
    noted!(
        "v1.32.8+k3s1",
        "v1.32.X.md",
        "3.3.6",
        "1.12.3",
        "v0.8.0",
        "v0.0.31"
    ),
    noted!(
        "v1.32.9+k3s1",
        "v1.32.X.md",
        "3.3.6",
        "1.12.3",
        "v0.8.0",
        "v0.0.31"
    ),
    noted!(
        "v1.32.10+k3s1",
        "v1.32.X.md",
        "3.5.1",
        "1.13.1",
        "v0.8.0",
        "v0.0.32"
    ),
    noted!(
        "v1.33.0+k3s1",
        "v1.33.X.md",
        "3.3.6",
        "1.12.1",
        "v0.7.2",
        "v0.0.31"
    ),
    whole!(
        "v1.33.1+k3s1",
        "the release's k3s-images.txt (github.com/k3s-io/k3s/releases/tag/v1.33.1%2Bk3s1)"
    ),
    noted!(
        "v1.33.2+k3s1",
        "v1.33.X.md",
        "3.3.6",
        "1.12.1",
        "v0.7.2",
        "v0.0.31"
    ),
    noted!(
        "v1.33.3+k3s1",
        "v1.33.X.md",
        "3.3.6",
        "1.12.1",
        "v0.7.2",
        "v0.0.31"
    ),
    noted!(
        "v1.33.4+k3s1",
        "v1.33.X.md",
        "3.3.6",
        "1.12.3",
        "v0.8.0",
        "v0.0.31"
    ),
    noted!(
        "v1.33.5+k3s1",
        "v1.33.X.md",
        "3.3.6",
        "1.12.3",
        "v0.8.0",
        "v0.0.31"
    ),
    noted!(
        "v1.33.6+k3s1",
        "v1.33.X.md",
        "3.5.1",
        "1.13.1",
        "v0.8.0",
        "v0.0.32"
    ),
    // "Update busybox to 1.37.0 (#13240)" in its notes.
    noted!(
        "v1.33.7+k3s1",
        "v1.33.X.md",
        "3.5.1",
        "1.13.1",
        "v0.8.0",
        "v0.0.32",
        "docker.io/rancher/mirrored-library-busybox:1.37.0"
    ),
    noted!(
        "v1.34.1+k3s1",
        "v1.34.X.md",
        "3.3.6",
        "1.12.3",
        "v0.8.0",
        "v0.0.32"
    ),
    noted!(
        "v1.34.2+k3s1",
        "v1.34.X.md",
        "3.5.1",
        "1.13.1",
        "v0.8.0",
        "v0.0.32"
    ),
    whole!(
        "v1.34.5+k3s1",
        "a hauler manifest of the release's images (harvester/tests#2554); Traefik 3.6.9 by k3s#13697"
    ),
    // "Update busybox image version to 1.37.0 (#13237)" in its notes.
    noted!(
        "v1.35.0+k3s1",
        "v1.35.X.md",
        "3.5.1",
        "1.13.1",
        "v0.8.0",
        "v0.0.32",
        "docker.io/rancher/mirrored-library-busybox:1.37.0"
    ),
    noted!(
        "v1.35.0+k3s3",
        "v1.35.X.md",
        "3.6.7",
        "1.14.0",
        "v0.8.0",
        "v0.0.34"
    ),
    noted!(
        "v1.35.1+k3s1",
        "v1.35.X.md",
        "3.6.7",
        "1.14.1",
        "v0.8.1",
        "v0.0.34"
    ),
    noted!(
        "v1.35.2+k3s1",
        "v1.35.X.md",
        "3.6.9",
        "1.14.1",
        "v0.8.1",
        "v0.0.34"
    ),
    noted!(
        "v1.35.3+k3s1",
        "v1.35.X.md",
        "3.6.10",
        "1.14.2",
        "v0.8.1",
        "v0.0.35"
    ),
    noted!(
        "v1.35.4+k3s1",
        "v1.35.X.md",
        "3.6.13",
        "1.14.2",
        "v0.8.1",
        "v0.0.35"
    ),
    noted!(
        "v1.36.0+k3s1",
        "v1.36.X.md",
        "3.6.13",
        "1.14.2",
        "v0.8.1",
        "v0.0.35"
    ),
    noted!(
        "v1.36.1+k3s1",
        "v1.36.X.md",
        "3.6.13",
        "1.14.3",
        "v0.8.1",
        "v0.0.36"
    ),
    noted!(
        "v1.36.2+k3s1",
        "v1.36.X.md",
        "3.7.4",
        "1.14.4",
        "v0.8.1",
        "v0.0.36"
    ),
    noted!(
        "v1.37.0+k3s1",
        "v1.37.X.md",
        "3.7.13",
        "1.14.7",
        "v0.9.0",
        "v0.0.37"
    ),
    whole!(
        "v1.37.1+k3s1",
        "the release's k3s-images.txt (github.com/k3s-io/k3s/releases/download/v1.37.1%2Bk3s1/k3s-images.txt, a copy checked by its SHA-256); component versions as k3s-io/docs docs/release-notes/v1.37.X.md lists them"
    ),
];

/// The pause image repository.
pub const PAUSE_REPOSITORY: &str = "docker.io/rancher/mirrored-pause";

/// The newest default pause tag: the one a release whose default is not known is
/// configured with.
pub const NEWEST_PAUSE: &str = "3.10.2";

/// The default pause image of one k3s line's releases.
#[derive(Debug)]
pub struct PauseLine {
    /// The line (`34` for 1.34).
    pub minor: u32,
    /// The releases that run 3.6: up to and including this `(patch, k3s revision)`.
    pub old_until: Option<(u32, u32)>,
    /// The releases that run 3.10.2: from this `(patch, k3s revision)` on.
    pub new_from: Option<(u32, u32)>,
    /// Where this was read.
    pub source: &'static str,
}

/// The pause image of each line; a line below the first runs 3.6 in every release, a line
/// above the last is not known. A release between `old_until` and `new_from` is not known
/// either.
///
/// Before July 2026 every k3s release defaulted to `rancher/mirrored-pause:3.6` (k3s#14384:
/// "still using pause image 3.6"; the flag's default in k3s#14339's diff). The June 2026
/// releases were the last with 3.6: their release candidates v1.36.2-rc1, v1.35.6-rc1,
/// v1.34.9-rc1 and v1.33.13-rc1 were validated on 2026-06-17 (k3s#14197-#14200). The
/// backports (k3s#14389 to 1.36, #14390 to 1.35, #14391 to 1.34, #14392 to 1.33) were
/// validated on 2026-07-22 on the branches at v1.36.2, v1.35.6, v1.34.9 and v1.33.13 plus
/// commits (k3s#14384), so the next release of each line carries 3.10.2: v1.36.3+k3s1
/// (named in v1.37.0's notes), v1.35.7+k3s1, v1.34.10+k3s1 (the August release is v1.34.11,
/// k3s#14543). Kubernetes 1.33 had no patch after June 2026, and no 1.33 release after
/// v1.33.13+k3s1 could be found: its name is not claimed.
pub const PAUSE_LINES: &[PauseLine] = &[
    PauseLine {
        minor: 32,
        old_until: Some((u32::MAX, u32::MAX)),
        new_from: None,
        source: "k3s#14384: every release before July 2026 runs 3.6; the 1.32 line ended before it (v1.32.12+k3s1, February 2026, k3s#13642)",
    },
    PauseLine {
        minor: 33,
        old_until: Some((13, 1)),
        new_from: None,
        source: "k3s#14200 (v1.33.13-rc1, June 2026) and k3s#14392/#14384 (3.10.2 on release-1.33 after v1.33.13, in a release not found)",
    },
    PauseLine {
        minor: 34,
        old_until: Some((9, u32::MAX)),
        new_from: Some((10, 1)),
        source: "k3s#14391 validated on release-1.34 after v1.34.9 (k3s#14384); v1.34.11 is the August release (k3s#14543)",
    },
    PauseLine {
        minor: 35,
        old_until: Some((6, u32::MAX)),
        new_from: Some((7, 1)),
        source: "k3s#14390 validated on release-1.35 after v1.35.6 (k3s#14384)",
    },
    PauseLine {
        minor: 36,
        old_until: Some((2, u32::MAX)),
        new_from: Some((3, 1)),
        source: "k3s#14389 validated on release-1.36 after v1.36.2 (k3s#14384); v1.36.3+k3s1 precedes v1.37.0 (k3s-io/docs v1.37.X.md)",
    },
    PauseLine {
        minor: 37,
        old_until: None,
        new_from: Some((0, 1)),
        source: "k3s#14339 in v1.37.0+k3s1 (k3s-io/docs docs/release-notes/v1.37.X.md)",
    },
];

/// The containerd a k3s line runs: 1.7 (1.6 on lines before 1.27) until `v2_from`, 2.x
/// from it. k3s moved to containerd 2.0 in the February 2025 releases of its 1.31 and 1.32
/// lines; the lines before 1.31 stayed on 1.7 to their end, every line after 1.32 runs 2.x
/// from its first release.
#[derive(Debug)]
pub struct ContainerdLine {
    /// The line (`32` for 1.32).
    pub minor: u32,
    /// The first `(patch, k3s revision)` of the line that runs containerd 2.x.
    pub v2_from: (u32, u32),
    /// The first such release, as written.
    pub first_v2: &'static str,
    /// Where this was read.
    pub source: &'static str,
}

/// The lines that moved to containerd 2.x within the line; a line before the first runs
/// 1.x in every release, a line after the last runs 2.x in every release.
pub const CONTAINERD_LINES: &[ContainerdLine] = &[
    ContainerdLine {
        minor: 31,
        v2_from: (6, 1),
        first_v2: "v1.31.6+k3s1",
        source: "the component table of k3s-io/docs docs/release-notes/v1.31.X.md: containerd v1.7.20-k3s1 (v1.31.0+k3s1) to v1.7.23-k3s2 (v1.31.4+k3s1), 1.7 through v1.31.5+k3s1, 2.0 from v1.31.6+k3s1",
    },
    ContainerdLine {
        minor: 32,
        v2_from: (2, 1),
        first_v2: "v1.32.2+k3s1",
        source: "the component table of k3s-io/docs docs/release-notes/v1.32.X.md: containerd v1.7.23-k3s2 in v1.32.0+k3s1 and v1.32.1+k3s1, v2.0.2-k3s2 in v1.32.2+k3s1, v2.1.5-k3s1.32 in v1.32.10+k3s1",
    },
];

/// The containerd of a k3s release: its major version (1 or 2), the first release of its
/// line that runs 2.x (`None` for a line that never does, or one that always did), and
/// where that was read.
pub fn release_containerd(
    version: &str,
) -> Result<(u32, Option<&'static str>, &'static str), PreflightError> {
    let (major, minor, patch) =
        super::version_core(version).ok_or_else(|| PreflightError::BadVersion(version.into()))?;
    if major != 1 {
        return Err(PreflightError::BadVersion(version.into()));
    }
    let first = &CONTAINERD_LINES[0];
    let last = &CONTAINERD_LINES[CONTAINERD_LINES.len() - 1];
    if minor < first.minor {
        return Ok((
            1,
            None,
            "the component tables of k3s-io/docs docs/release-notes (v1.24.X.md to v1.30.X.md): containerd 1.6 and 1.7 in every release",
        ));
    }
    if minor > last.minor {
        return Ok((
            2,
            None,
            "the component tables of k3s-io/docs docs/release-notes (v1.33.X.md on): containerd 2.x from each line's first release",
        ));
    }
    let Some(line) = CONTAINERD_LINES.iter().find(|l| l.minor == minor) else {
        return Ok((2, None, last.source));
    };
    let at = (patch, k3s_revision(version));
    let major = if at >= line.v2_from { 2 } else { 1 };
    Ok((major, Some(line.first_v2), line.source))
}

/// What is known of a release's default pause image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PauseFact {
    /// Its tag, and where that was read.
    Known {
        /// `3.6`.
        tag: &'static str,
        /// Where it was read.
        source: &'static str,
    },
    /// Not known: a line after the last one known, or a release of a line past the last
    /// release known to run 3.6 and before the first known to run 3.10.2.
    Unknown,
}

/// The default pause image of k3s `version`.
pub fn release_pause(version: &str) -> Result<PauseFact, PreflightError> {
    let (major, minor, patch) =
        super::version_core(version).ok_or_else(|| PreflightError::BadVersion(version.into()))?;
    if major != 1 {
        return Err(PreflightError::BadVersion(version.into()));
    }
    let at = (patch, k3s_revision(version));
    let first = PAUSE_LINES[0].minor;
    let line = match PAUSE_LINES.iter().find(|l| l.minor == minor) {
        Some(line) => line,
        None if minor < first => &PAUSE_LINES[0],
        None => return Ok(PauseFact::Unknown),
    };
    Ok(
        if line.old_until.is_some_and(|u| at <= u) || minor < first {
            PauseFact::Known {
                tag: "3.6",
                source: line.source,
            }
        } else if line.new_from.is_some_and(|f| at >= f) {
            PauseFact::Known {
                tag: "3.10.2",
                source: line.source,
            }
        } else {
            PauseFact::Unknown
        },
    )
}

/// The `N` of a `+k3sN` suffix (1 without one).
fn k3s_revision(version: &str) -> u32 {
    version
        .split_once("+k3s")
        .and_then(|(_, n)| n.parse().ok())
        .unwrap_or(1)
}

/// The row of `version`, if this build knows it.
pub fn release(version: &str) -> Option<&'static Release> {
    RELEASES.iter().find(|r| r.version == version)
}

/// A k3s minor an upgrade would skip, with the newest release of it [`RELEASES`] knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedMinor {
    /// The minor (`34` of 1.34).
    pub minor: u32,
    /// Its newest release this build knows, if it knows one.
    pub newest_known: Option<&'static str>,
}

/// The k3s minors an upgrade from `from` (the release the nodes run) to `to` skips, oldest
/// first: every minor between the two when `to` is more than one minor ahead. k3s upgrades
/// one minor at a time (Kubernetes' version skew policy), so a non-empty answer is an
/// upgrade the nodes cannot take in one step. Empty for one minor ahead, a patch upgrade,
/// the same release, a downgrade, or a release that does not read as `v1.MINOR.PATCH`.
pub fn skipped_minors(from: &str, to: &str) -> Vec<SkippedMinor> {
    let (Some((from, _)), Some((to, _))) = (super::minor_patch(from), super::minor_patch(to))
    else {
        return Vec::new();
    };
    (from.saturating_add(1)..to)
        .map(|minor| SkippedMinor {
            minor,
            // RELEASES is oldest first: the last row of the minor is its newest.
            newest_known: (RELEASES.iter().rev())
                .find(|r| super::minor_patch(r.version).is_some_and(|(m, _)| m == minor))
                .map(|r| r.version),
        })
        .collect()
}

/// What an upgrade from `from` (`from_what`: whose it is) to `to` (`to_what`) skips, for a
/// refusal: both releases, every skipped minor and its newest known release, and why; the
/// caller adds the fix. `None` when it skips no minor ([`skipped_minors`]).
pub fn skipped_minors_message(
    (from, from_what): (&str, &str),
    (to, to_what): (&str, &str),
) -> Option<(String, Vec<SkippedMinor>)> {
    let skipped = skipped_minors(from, to);
    if skipped.is_empty() {
        return None;
    }
    let minors = (skipped.iter())
        .map(|s| match s.newest_known {
            Some(v) => format!("1.{} (newest release known here: {v})", s.minor),
            None => format!("1.{} (no release of it known here)", s.minor),
        })
        .collect::<Vec<_>>()
        .join(", ");
    Some((
        format!(
            "k3s {from} ({from_what}) -> {to} ({to_what}) skips {} {minors}: k3s nodes take one minor per upgrade (the Kubernetes version skew policy), so they cannot take {to} in one step",
            if skipped.len() == 1 {
                "the minor"
            } else {
                "the minors"
            }
        ),
        skipped,
    ))
}

/// The first release of an upgrade one minor at a time past `skipped`: the newest release
/// of its first minor this build knows, or that minor's name.
pub fn first_hop(skipped: &[SkippedMinor]) -> String {
    match skipped.first() {
        Some(SkippedMinor {
            newest_known: Some(v),
            ..
        }) => (*v).to_string(),
        Some(s) => format!("a 1.{} release (v1.{}.N+k3sM)", s.minor, s.minor),
        None => String::new(),
    }
}

/// The releases whose whole airgap set this build carries, oldest first.
pub fn whole_releases() -> impl Iterator<Item = &'static Release> {
    RELEASES.iter().filter(|r| r.whole)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::ImageList;
    use std::path::Path;

    fn pause(version: &str) -> Option<&'static str> {
        match release_pause(version).unwrap() {
            PauseFact::Known { tag, .. } => Some(tag),
            PauseFact::Unknown => None,
        }
    }

    #[test]
    fn every_entry_names_its_source_and_parses() {
        let mut seen = std::collections::BTreeSet::new();
        let mut last = (0, 0, 0, 0);
        for r in RELEASES {
            assert!(seen.insert(r.version), "{} twice", r.version);
            let core = super::super::version_core(r.version).unwrap();
            let order = (core.0, core.1, core.2, k3s_revision(r.version));
            assert!(order > last, "{} out of order", r.version);
            last = order;
            assert!(
                r.source.contains("k3s-images.txt")
                    || r.source.contains("k3s-io/docs docs/release-notes/")
                    || r.source.contains("hauler manifest"),
                "{}: {}",
                r.version,
                r.source
            );
            let list = ImageList::parse(r.images, Path::new(r.version)).unwrap();
            let pauses: Vec<_> = list
                .entries
                .iter()
                .filter(|e| e.destination.name() == PAUSE_REPOSITORY)
                .collect();
            if r.whole {
                // A whole list names every component once, and its pause image is the one
                // the pause table gives the release.
                assert_eq!(list.entries.len(), 8, "{}", r.version);
                assert!(
                    r.images
                        .starts_with(&format!("# k3s {} airgap images", r.version))
                );
                assert_eq!(pauses.len(), 1, "{}", r.version);
                assert_eq!(
                    pauses[0].destination.tag(),
                    pause(r.version),
                    "{}",
                    r.version
                );
            } else {
                assert!(pauses.is_empty(), "{}", r.version);
                assert!(list.entries.len() >= 4, "{}", r.version);
            }
        }
        for line in PAUSE_LINES {
            assert!(line.source.contains("k3s#"), "1.{}", line.minor);
        }
        assert!(RELEASES.last().unwrap().whole);
    }

    #[test]
    fn an_upgrade_skipping_a_minor_names_each_with_its_newest_known_release() {
        let minors = |from, to| -> Vec<(u32, Option<&str>)> {
            (skipped_minors(from, to).into_iter())
                .map(|s| (s.minor, s.newest_known))
                .collect()
        };
        // One minor ahead, a patch, the same release, a downgrade, unreadable: nothing.
        for (from, to) in [
            ("v1.33.1+k3s1", "v1.34.5+k3s1"),
            ("v1.33.1+k3s1", "v1.33.7+k3s1"),
            ("v1.33.1+k3s1", "v1.33.1+k3s2"),
            ("v1.33.1+k3s1", "v1.33.1+k3s1"),
            ("v1.35.1+k3s1", "v1.33.1+k3s1"),
            ("latest", "v1.35.1+k3s1"),
        ] {
            assert_eq!(minors(from, to), [], "{from} -> {to}");
            assert!(skipped_minors_message((from, "a"), (to, "b")).is_none());
        }
        assert_eq!(
            minors("v1.33.1+k3s1", "v1.35.1+k3s1"),
            [(34, Some("v1.34.5+k3s1"))]
        );
        assert_eq!(
            minors("v1.32.10+k3s1", "v1.36.0+k3s1"),
            [
                (33, Some("v1.33.7+k3s1")),
                (34, Some("v1.34.5+k3s1")),
                (35, Some("v1.35.4+k3s1"))
            ]
        );
        // A minor the table does not know.
        assert_eq!(minors("v1.30.7+k3s1", "v1.32.0+k3s1"), [(31, None)]);
        let (text, skipped) =
            skipped_minors_message(("v1.30.7+k3s1", "a"), ("v1.32.0+k3s1", "b")).unwrap();
        assert!(
            text.contains("1.31 (no release of it known here)"),
            "{text}"
        );
        assert_eq!(first_hop(&skipped), "a 1.31 release (v1.31.N+k3sM)");
        let (text, skipped) =
            skipped_minors_message(("v1.33.1+k3s1", "theirs"), ("v1.35.1+k3s1", "ours")).unwrap();
        for said in [
            "k3s v1.33.1+k3s1 (theirs) -> v1.35.1+k3s1 (ours) skips the minor 1.34 (newest release known here: v1.34.5+k3s1)",
            "one minor per upgrade (the Kubernetes version skew policy)",
        ] {
            assert!(text.contains(said), "{said}: {text}");
        }
        assert_eq!(first_hop(&skipped), "v1.34.5+k3s1");
    }

    /// The move from 3.6 to 3.10.2 came in patch releases: the last release of each line
    /// with 3.6 and the first with 3.10.2 (sources in `PAUSE_LINES`).
    #[test]
    fn the_pause_image_moved_in_patch_releases() {
        for (old, new) in [
            ("v1.34.9+k3s1", "v1.34.10+k3s1"),
            ("v1.35.6+k3s1", "v1.35.7+k3s1"),
            ("v1.36.2+k3s1", "v1.36.3+k3s1"),
        ] {
            assert_eq!(pause(old), Some("3.6"), "{old}");
            assert_eq!(pause(new), Some("3.10.2"), "{new}");
        }
        for v in [
            "v1.28.15+k3s1",
            "v1.32.12+k3s1",
            "v1.33.1+k3s1",
            "v1.33.13+k3s1",
            "v1.34.0+k3s1",
            "v1.34.5+k3s1",
            "v1.35.0+k3s3",
            "v1.36.0+k3s1",
        ] {
            assert_eq!(pause(v), Some("3.6"), "{v}");
        }
        for v in [
            "v1.34.11+k3s1",
            "v1.37.0+k3s1",
            "v1.37.1+k3s1",
            "v1.36.4+k3s1",
        ] {
            assert_eq!(pause(v), Some("3.10.2"), "{v}");
        }
        // Not claimed: a 1.33 release after v1.33.13+k3s1, a line after 1.37.
        for v in ["v1.33.13+k3s2", "v1.33.14+k3s1", "v1.38.0+k3s1"] {
            assert_eq!(pause(v), None, "{v}");
        }
        assert!(release_pause("v2.0.0+k3s1").is_err());
        assert!(release_pause("latest").is_err());
    }

    #[test]
    fn each_release_runs_the_containerd_its_notes_name() {
        for (version, major) in [
            ("v1.30.14+k3s1", 1),
            ("v1.31.0+k3s1", 1),
            ("v1.31.5+k3s1", 1),
            ("v1.31.6+k3s1", 2),
            ("v1.32.0+k3s1", 1),
            ("v1.32.1+k3s1", 1),
            ("v1.32.2+k3s1", 2),
            ("v1.33.1+k3s1", 2),
            ("v1.37.1+k3s1", 2),
        ] {
            assert_eq!(release_containerd(version).unwrap().0, major, "{version}");
        }
        assert_eq!(
            release_containerd("v1.32.1+k3s1").unwrap().1,
            Some("v1.32.2+k3s1")
        );
        assert_eq!(release_containerd("v1.29.3+k3s1").unwrap().1, None);
    }
}
