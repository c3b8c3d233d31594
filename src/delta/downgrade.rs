//! A k3s downgrade across the gap: `delta` and `apply` refuse one (exit 2, naming both
//! releases) unless it is asked for, with `--allow-downgrade` or the config's
//! `cluster.allow_downgrade: true` (the setting that also makes the nodes take such a
//! payload). k3s does not support downgrading its datastore: a downgrade that crossed
//! unnoticed would leave every node refusing the new seeds.

use super::DeltaError;
use super::upgrade::newer;
use std::path::{Path, PathBuf};

/// True when the config file at `path` sets `cluster.allow_downgrade: true`; a config
/// that cannot be read or parsed does not.
pub(crate) fn config_allows(path: &Path) -> bool {
    let Ok(text) = crate::input::read_to_string(path, crate::input::Kind::Config) else {
        return false;
    };
    crate::config::Config::parse(&text, path).is_ok_and(|c| c.cluster.allow_downgrade)
}

/// Refuses the move of `out` from the k3s release `from` (`from_what`: whose it is) to
/// `to` (`to_what`) when it is a downgrade and not `allowed`.
pub(crate) fn check(
    out: &Path,
    (from, from_what): (Option<&str>, &str),
    (to, to_what): (Option<&str>, &str),
    allowed: bool,
) -> Result<(), DeltaError> {
    let (Some(from), Some(to)) = (from, to) else {
        return Ok(());
    };
    if allowed || !newer(from, to) {
        return Ok(());
    }
    Err(DeltaError::Downgrade {
        out: PathBuf::from(out),
        message: format!(
            "k3s {from} ({from_what}) -> {to} ({to_what}) is a downgrade: k3s does not support downgrading its datastore, and the nodes refuse such a payload; build {from} or a newer release, or, to re-seed the nodes with {to} anyway, set cluster.allow_downgrade: true in the config or pass --allow-downgrade"
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_downgrade_not_allowed_is_refused_naming_both_releases() {
        let out = Path::new("out");
        let at = |v: &'static str| (Some(v), "x");
        assert!(check(out, at("v1.33.1+k3s1"), at("v1.33.2+k3s1"), false).is_ok());
        assert!(check(out, at("v1.33.1+k3s1"), at("v1.33.1+k3s1"), false).is_ok());
        assert!(check(out, at("v1.33.2+k3s1"), at("v1.33.1+k3s1"), true).is_ok());
        assert!(check(out, (None, "x"), at("v1.33.1+k3s1"), false).is_ok());
        let e = check(out, at("v1.33.1+k3s2"), at("v1.33.1+k3s1"), false).unwrap_err();
        assert!(e.is_invalid_input());
        let text = e.to_string();
        assert!(text.contains("v1.33.1+k3s2 (x) -> v1.33.1+k3s1"), "{text}");
        assert!(text.contains("--allow-downgrade"), "{text}");
    }
}
