//! A k3s downgrade across the gap: `delta` and `apply` refuse one (exit 2, naming both
//! releases) unless it is asked for, with `--allow-downgrade` or the config's
//! `cluster.allow_downgrade: true` (the setting that also makes the nodes take such a
//! payload). k3s does not support downgrading its datastore: a downgrade that crossed
//! unnoticed would leave every node refusing the new seeds.

use super::DeltaError;
use std::path::{Path, PathBuf};

/// True when the config file at `path` sets `cluster.allow_downgrade: true`; a config
/// that cannot be read or parsed does not.
pub(crate) fn config_allows(path: &Path) -> bool {
    let Ok(text) = crate::input::read_to_string(path, crate::input::Kind::Config) else {
        return false;
    };
    crate::config::Config::parse(&text, path).is_ok_and(|c| c.cluster.allow_downgrade)
}

/// Which side of the gap refuses a downgrade: what it can do about it differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    /// `delta`, on the near side: the config and the build are there.
    Near,
    /// `apply`, on the far side: the delta is what it is; the config comes with it.
    Far,
}

/// Refuses the move of `out` from the k3s release `from` (`from_what`: whose it is) to
/// `to` (`to_what`) when it is a downgrade and not `allowed`, advising what `side` can do.
pub(crate) fn check(
    out: &Path,
    (from, from_what): (Option<&str>, &str),
    (to, to_what): (Option<&str>, &str),
    allowed: bool,
    side: Side,
) -> Result<(), DeltaError> {
    let (Some(from), Some(to)) = (from, to) else {
        return Ok(());
    };
    if allowed || !newer(from, to) {
        return Ok(());
    }
    let advice = match side {
        Side::Near => format!(
            "build {from} or a newer release, or, to re-seed the nodes with {to} anyway, set cluster.allow_downgrade: true in the config or pass --allow-downgrade"
        ),
        Side::Far => format!(
            "ask the near side for a delta of {from} or a newer release, or, to re-seed the nodes with {to} anyway, for one whose config sets cluster.allow_downgrade: true; apply --allow-downgrade applies this one as it is (its nodes still refuse the payload)"
        ),
    };
    Err(DeltaError::Downgrade {
        out: PathBuf::from(out),
        message: format!(
            "k3s {from} ({from_what}) -> {to} ({to_what}) is a downgrade: k3s does not support downgrading its datastore, and the nodes refuse such a payload; {advice}"
        ),
    })
}

/// True when the k3s release `a` is newer than `b` (`v1.33.2+k3s1` > `v1.33.1+k3s2`); two
/// releases that do not both read as `v1.MINOR.PATCH+k3sN` are not ordered.
pub fn newer(a: &str, b: &str) -> bool {
    match (release(a), release(b)) {
        (Some(a), Some(b)) => a > b,
        _ => false,
    }
}

/// `(major, minor, patch, N)` of `vMAJOR.MINOR.PATCH[+k3sN]` (no pre-release part).
fn release(v: &str) -> Option<(u32, u32, u32, u32)> {
    let rest = v.strip_prefix('v')?;
    let (core, build) = rest.split_once('+').unwrap_or((rest, "k3s0"));
    if core.contains('-') {
        return None;
    }
    let (major, minor, patch) = crate::preflight::version_core(core)?;
    let n = build.strip_prefix("k3s")?.parse().ok()?;
    Some((major, minor, patch, n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn k3s_releases_are_ordered_by_minor_patch_and_build() {
        assert!(newer("v1.33.2+k3s1", "v1.33.1+k3s1"));
        assert!(newer("v1.33.1+k3s2", "v1.33.1+k3s1"));
        assert!(newer("v1.34.0+k3s1", "v1.33.9+k3s3"));
        assert!(!newer("v1.33.1+k3s1", "v1.33.1+k3s1"));
        assert!(!newer("v1.33.1+k3s1", "v1.33.2+k3s1"));
        assert!(!newer("latest", "v1.33.1+k3s1"));
    }

    #[test]
    fn only_a_downgrade_not_allowed_is_refused_naming_both_releases() {
        let out = Path::new("out");
        let at = |v: &'static str| (Some(v), "x");
        let near = Side::Near;
        assert!(check(out, at("v1.33.1+k3s1"), at("v1.33.2+k3s1"), false, near).is_ok());
        assert!(check(out, at("v1.33.1+k3s1"), at("v1.33.1+k3s1"), false, near).is_ok());
        assert!(check(out, at("v1.33.2+k3s1"), at("v1.33.1+k3s1"), true, near).is_ok());
        assert!(check(out, (None, "x"), at("v1.33.1+k3s1"), false, near).is_ok());
        let e = check(out, at("v1.33.1+k3s2"), at("v1.33.1+k3s1"), false, near).unwrap_err();
        assert!(e.is_invalid_input());
        let text = e.to_string();
        assert!(text.contains("v1.33.1+k3s2 (x) -> v1.33.1+k3s1"), "{text}");
        assert!(text.contains("--allow-downgrade"), "{text}");
        assert!(
            text.contains("build v1.33.1+k3s2 or a newer release"),
            "{text}"
        );
    }

    #[test]
    fn the_far_side_is_told_what_it_can_do() {
        let at = |v: &'static str| (Some(v), "x");
        let e = check(
            Path::new("out"),
            at("v1.33.1+k3s2"),
            at("v1.33.1+k3s1"),
            false,
            Side::Far,
        )
        .unwrap_err();
        let text = e.to_string();
        assert!(text.contains("v1.33.1+k3s2 (x) -> v1.33.1+k3s1"), "{text}");
        // Nothing it cannot do here: build, or edit the config the delta seals.
        assert!(!text.contains("build v1.33.1+k3s2"), "{text}");
        assert!(!text.contains("in the config"), "{text}");
        for said in [
            "ask the near side for a delta of v1.33.1+k3s2 or a newer release",
            "apply --allow-downgrade applies this one as it is",
        ] {
            assert!(text.contains(said), "{said}: {text}");
        }
    }
}
