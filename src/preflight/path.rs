//! An upgrade across several k3s minors in one medium: the releases the nodes step through
//! ("hops") between the release they run and the target, each step at most one minor ahead
//! (the Kubernetes version skew policy), every release newer than the one before it.
//!
//! The hops are given (`cluster.upgrade_path: [RELEASE, …]`: each one a release this build
//! knows, [`super::RELEASES`]) or chosen (`auto`: the newest known release of each skipped
//! minor, [`super::skipped_minors`]).

use super::{first_hop, release, skipped_minors, skipped_minors_message};

/// What `cluster.upgrade_path` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpgradePath {
    /// `auto`: the newest release this build knows of each skipped minor.
    Auto,
    /// The releases to step through, oldest first.
    Releases(Vec<String>),
}

/// What a hop of an upgrade needs of the airgap set.
#[derive(Debug, Clone)]
pub struct HopNeeds {
    /// The hop's release.
    pub release: String,
    /// The images it needs.
    pub required: Vec<super::Requirement>,
}

/// Why an upgrade's path is refused, and which key the refusal belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathRefusal {
    /// The refusal is `cluster.upgrade_path`'s (else `cluster.k3s_version`'s: a skipped
    /// minor without a path).
    pub at_path: bool,
    /// What is wrong and what to do.
    pub message: String,
}

/// `(major, minor, patch, N)` of a strict `vMAJOR.MINOR.PATCH+k3sN` release.
pub fn release_order(v: &str) -> Option<(u32, u32, u32, u32)> {
    let (core, n) = v.strip_prefix('v')?.split_once("+k3s")?;
    if core.contains('-') {
        return None;
    }
    let (major, minor, patch) = super::version_core(core)?;
    Some((major, minor, patch, n.parse().ok()?))
}

/// The known releases nearest `version`: the last one before it and the first after it.
pub fn nearest_known(version: &str) -> Vec<&'static str> {
    let Some(at) = release_order(version) else {
        return Vec::new();
    };
    let ordered = || {
        super::RELEASES
            .iter()
            .filter_map(|r| Some((release_order(r.version)?, r.version)))
    };
    let before = ordered().rev().find(|(o, _)| *o < at).map(|(_, v)| v);
    let after = ordered().find(|(o, _)| *o > at).map(|(_, v)| v);
    before.into_iter().chain(after).collect()
}

/// The hops of an upgrade from `from` (the far side's release) to `to` (the target), oldest
/// first: none for an upgrade of at most one minor without a path; with `path`, its
/// releases (`auto`: the newest known release of each skipped minor), each known here,
/// each newer than the one before and at most one minor ahead of it, up to `to`.
pub fn resolve_hops(
    from: &str,
    to: &str,
    path: Option<&UpgradePath>,
) -> Result<Vec<String>, PathRefusal> {
    let refuse = |message: String| PathRefusal {
        at_path: true,
        message,
    };
    let hops = match path {
        None => {
            let Some((what, skipped)) = skipped_minors_message(
                (from, "cluster.upgrade_from, the far side's"),
                (to, "cluster.k3s_version"),
            ) else {
                return Ok(Vec::new());
            };
            return Err(PathRefusal {
                at_path: false,
                message: format!("{what}; {}", skip_fix(None, to, &skipped)),
            });
        }
        Some(UpgradePath::Auto) => {
            let mut hops = Vec::new();
            for s in skipped_minors(from, to) {
                match s.newest_known {
                    Some(v) => hops.push(v.to_string()),
                    None => {
                        return Err(refuse(format!(
                            "auto: no release of the minor 1.{m} (between {from} and {to}) is known to this seedforge; list the releases to step through (cluster.upgrade_path: [v1.{m}.N+k3sM, …])",
                            m = s.minor
                        )));
                    }
                }
            }
            hops
        }
        Some(UpgradePath::Releases(hops)) => {
            for hop in hops {
                if release(hop).is_none() {
                    let near = nearest_known(hop);
                    return Err(refuse(format!(
                        "{hop} is not a k3s release this seedforge knows the images of (the nearest known: {}); give known releases",
                        if near.is_empty() {
                            "none".to_string()
                        } else {
                            near.join(", ")
                        }
                    )));
                }
            }
            hops.clone()
        }
    };
    let chain: Vec<(&str, &str)> = std::iter::once((from, "cluster.upgrade_from"))
        .chain(hops.iter().map(|h| (h.as_str(), "a hop")))
        .chain(std::iter::once((to, "cluster.k3s_version")))
        .collect();
    for pair in chain.windows(2) {
        let ((a, a_what), (b, b_what)) = (pair[0], pair[1]);
        if release_order(b) <= release_order(a) {
            return Err(refuse(format!(
                "{b} ({b_what}) is not newer than {a} ({a_what}), the release before it: the path goes from cluster.upgrade_from {from} to cluster.k3s_version {to}, every release newer than the one before (no downgrade, no repeat)"
            )));
        }
    }
    for pair in chain.windows(2) {
        let ((a, a_what), (b, b_what)) = (pair[0], pair[1]);
        let skipped = skipped_minors(a, b);
        if !skipped.is_empty() {
            let minors: Vec<String> = (skipped.iter())
                .map(|s| match s.newest_known {
                    Some(v) => format!("1.{} (newest release known here: {v})", s.minor),
                    None => format!("1.{} (no release of it known here)", s.minor),
                })
                .collect();
            return Err(refuse(format!(
                "{a} ({a_what}) -> {b} ({b_what}) skips the minor{} {}: k3s nodes take one minor per upgrade, so every step of the path is at most one minor ahead; add a release of each",
                if skipped.len() == 1 { "" } else { "s" },
                minors.join(", ")
            )));
        }
    }
    Ok(hops)
}

/// What to do about an upgrade to `to` that skips the minors `skipped`: carry the releases
/// between in one medium (`cluster.upgrade_path`, with `cluster.upgrade_from: FROM` when
/// `from` is given: the config does not say it yet) or build a medium per minor.
pub fn skip_fix(from: Option<&str>, to: &str, skipped: &[super::SkippedMinor]) -> String {
    let newest: Option<Vec<&str>> = skipped.iter().map(|s| s.newest_known).collect();
    let from = from.map_or(String::new(), |f| {
        format!("set cluster.upgrade_from: {f} (the release the far side's nodes run) and ")
    });
    let fix = match newest {
        Some(hops) => format!(
            "{from}set cluster.upgrade_path: auto (the hops {}) or list the releases to step through (cluster.upgrade_path: [{}]), each hop's k3s binary a files entry hops/<RELEASE>/k3s",
            hops.join(", "),
            hops.join(", ")
        ),
        None => format!(
            "{from}list the releases to step through (cluster.upgrade_path: [RELEASE, …], one per skipped minor), each hop's k3s binary a files entry hops/<RELEASE>/k3s"
        ),
    };
    format!(
        "carry the releases between in one medium: {fix}; or upgrade one minor at a time: build and carry a medium per minor, first with cluster.k3s_version: {} (then cluster.upgrade_from: that release once every node runs it), up to {to}",
        first_hop(skipped)
    )
}

/// The payload name of a hop's k3s binary: `hops/<RELEASE>/k3s`.
pub fn hop_binary_name(release: &str) -> String {
    format!("hops/{release}/k3s")
}

/// The hop whose binary the `files:` entry `name` is (`hops/<RELEASE>/k3s`), if it is one.
pub fn hop_of_binary(name: &str) -> Option<&str> {
    name.strip_prefix("hops/")?
        .strip_suffix("/k3s")
        .filter(|r| !r.contains('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(hops: &[&str]) -> UpgradePath {
        UpgradePath::Releases(hops.iter().map(|h| h.to_string()).collect())
    }

    /// Every pair of known releases one, two and three minors apart: refused without a
    /// path (at `cluster.k3s_version`), carried with `auto` (known hops, one minor per
    /// step), never a skip.
    #[test]
    fn every_pair_one_two_and_three_minors_apart() {
        let minor = |v: &str| release_order(v).unwrap().1;
        let mut seen = [0; 4];
        for from in super::super::RELEASES {
            for to in super::super::RELEASES {
                let gap = minor(to.version).wrapping_sub(minor(from.version));
                if !(1..=3).contains(&gap) {
                    continue;
                }
                seen[gap as usize] += 1;
                let (from, to) = (from.version, to.version);
                let direct = resolve_hops(from, to, None);
                if gap == 1 {
                    assert_eq!(direct, Ok(Vec::new()), "{from} -> {to}");
                } else {
                    let e = direct.unwrap_err();
                    assert!(!e.at_path, "{from} -> {to}");
                    assert!(
                        e.message.contains("cluster.upgrade_path: auto"),
                        "{}",
                        e.message
                    );
                }
                let hops = resolve_hops(from, to, Some(&UpgradePath::Auto)).unwrap();
                assert_eq!(hops.len() as u32, gap - 1, "{from} -> {to}");
                let mut at = from;
                for hop in hops.iter().map(String::as_str).chain([to]) {
                    assert!(release(hop).is_some());
                    assert!(release_order(hop) > release_order(at), "{at} -> {hop}");
                    assert_eq!(minor(hop), minor(at) + 1, "{at} -> {hop}");
                    at = hop;
                }
                // The same hops, listed, are the same path.
                let listed = list(&hops.iter().map(String::as_str).collect::<Vec<_>>());
                assert_eq!(resolve_hops(from, to, Some(&listed)).unwrap(), hops);
            }
        }
        assert!(seen[1] > 0 && seen[2] > 0 && seen[3] > 0, "{seen:?}");
    }

    #[test]
    fn a_path_is_known_newer_at_every_step_and_skips_no_minor() {
        let (from, to) = ("v1.33.1+k3s1", "v1.36.2+k3s1");
        let ok = list(&["v1.34.2+k3s1", "v1.35.1+k3s1"]);
        assert_eq!(
            resolve_hops(from, to, Some(&ok)).unwrap(),
            ["v1.34.2+k3s1", "v1.35.1+k3s1"]
        );
        assert_eq!(
            resolve_hops(from, to, Some(&UpgradePath::Auto)).unwrap(),
            ["v1.34.5+k3s1", "v1.35.4+k3s1"]
        );
        let refused = |hops: &[&str]| {
            let e = resolve_hops(from, to, Some(&list(hops))).unwrap_err();
            assert!(e.at_path, "{hops:?}");
            e.message
        };
        // Unknown: named with the nearest known.
        let m = refused(&["v1.34.3+k3s1", "v1.35.1+k3s1"]);
        assert!(m.starts_with("v1.34.3+k3s1 is not a k3s release"), "{m}");
        assert!(
            m.contains("(the nearest known: v1.34.2+k3s1, v1.34.5+k3s1)"),
            "{m}"
        );
        // A downgrade or a repeat anywhere.
        for hops in [
            &["v1.35.1+k3s1", "v1.34.2+k3s1"][..],
            &["v1.34.2+k3s1", "v1.34.2+k3s1", "v1.35.1+k3s1"],
            &["v1.33.1+k3s1", "v1.34.2+k3s1", "v1.35.1+k3s1"],
            &["v1.34.2+k3s1", "v1.35.1+k3s1", "v1.36.2+k3s1"],
            &["v1.32.10+k3s1", "v1.34.2+k3s1", "v1.35.1+k3s1"],
        ] {
            let m = refused(hops);
            assert!(m.contains("is not newer than"), "{hops:?}: {m}");
        }
        // A skipped minor: named with its newest known release.
        let m = refused(&["v1.34.2+k3s1"]);
        assert!(
            m.contains("v1.34.2+k3s1 (a hop) -> v1.36.2+k3s1 (cluster.k3s_version) skips the minor 1.35 (newest release known here: v1.35.4+k3s1)"),
            "{m}"
        );
        let m = refused(&["v1.35.1+k3s1"]);
        assert!(m.contains("skips the minor 1.34"), "{m}");
        // Auto over a minor not known here.
        let e = resolve_hops("v1.30.7+k3s1", "v1.32.5+k3s1", Some(&UpgradePath::Auto)).unwrap_err();
        assert!(e.at_path && e.message.contains("minor 1.31"), "{e:?}");
        // Within one minor: no hop needed, none added.
        assert_eq!(
            resolve_hops("v1.35.1+k3s1", to, Some(&UpgradePath::Auto)).unwrap(),
            Vec::<String>::new()
        );
        assert_eq!(
            resolve_hops("v1.35.1+k3s1", to, None).unwrap(),
            Vec::<String>::new()
        );
    }
}
