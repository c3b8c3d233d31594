//! A k3s upgrade that skips a minor: `plan --upgrade-from`, `delta` and `apply` refuse one
//! (exit 2, nothing written) whose release is more than one minor ahead of the far side's.
//! k3s nodes upgrade one minor at a time (the Kubernetes version skew policy), so such a
//! medium could not be taken by the nodes in one step; the refusal names both releases,
//! every skipped minor with its newest release this build knows, and the first release of
//! an upgrade one minor at a time. A patch upgrade, one minor ahead, the same release and
//! a downgrade (refused on its own, [`super::downgrade`]) pass.

use super::DeltaError;
use super::downgrade::Side;
use std::path::Path;

/// Refuses the move from the k3s release `from` (`from_what`: whose it is) to `to`
/// (`to_what`) when it skips a minor, advising what `side` can do. When `config` says
/// `cluster.k3s_version: TO`, the refusal names that line (`FILE:LINE:COLUMN`), else `out`.
pub(crate) fn check(
    out: &Path,
    (from, from_what): (Option<&str>, &str),
    (to, to_what): (Option<&str>, &str),
    config: Option<&Path>,
    side: Side,
) -> Result<(), DeltaError> {
    let (Some(from), Some(to)) = (from, to) else {
        return Ok(());
    };
    let Some((what, skipped)) =
        crate::preflight::skipped_minors_message((from, from_what), (to, to_what))
    else {
        return Ok(());
    };
    let hop = crate::preflight::first_hop(&skipped);
    let advice = match side {
        Side::Near => format!(
            "upgrade one minor at a time: build and carry a medium per minor, first with cluster.k3s_version: {hop} (build, delta, apply, every node upgraded to it), then the next minor, up to {to}; nothing was written"
        ),
        Side::Far => format!(
            "upgrade one minor at a time: ask the near side for a medium per minor, first a delta of {hop}, applied and every node upgraded to it before the next; nothing was applied"
        ),
    };
    let message = format!("{what}; {advice}");
    let line = config.and_then(|c| Some((c, crate::config::k3s_version_at(c)?)));
    Err(match line {
        Some((config, (line, column, value))) if value == to => DeltaError::SkipsMinors {
            at: format!("{}:{line}:{column}", config.display()),
            message: format!("cluster.k3s_version: {message}"),
        },
        _ => DeltaError::SkipsMinors {
            at: out.display().to_string(),
            message,
        },
    })
}

/// The far side's move from the release `from` to `to`, both checks a delta and `apply`
/// make of it: a downgrade, refused unless `allow_downgrade` or `config` allows it
/// ([`super::downgrade`]), and a skipped minor ([`check`]), named at `config`'s line.
pub(crate) fn check_step(
    out: &Path,
    from: (Option<&str>, &str),
    to: (Option<&str>, &str),
    allow_downgrade: bool,
    config: Option<&Path>,
    side: Side,
) -> Result<(), DeltaError> {
    let allowed = allow_downgrade || config.is_some_and(super::downgrade::config_allows);
    super::downgrade::check(out, from, to, allowed, side)?;
    check(out, from, to, config, side)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_upgrade_skipping_a_minor_is_refused_at_the_config_line() {
        let out = Path::new("out");
        let at = |v: &'static str| (Some(v), "x");
        for (from, to) in [
            ("v1.33.1+k3s1", "v1.34.5+k3s1"),
            ("v1.33.1+k3s1", "v1.33.2+k3s1"),
            ("v1.33.1+k3s1", "v1.33.1+k3s1"),
            ("v1.35.1+k3s1", "v1.33.1+k3s1"),
        ] {
            assert!(check(out, at(from), at(to), None, Side::Near).is_ok());
        }
        assert!(check(out, (None, "x"), at("v1.35.1+k3s1"), None, Side::Near).is_ok());
        let e = check(
            out,
            at("v1.33.1+k3s1"),
            at("v1.35.1+k3s1"),
            None,
            Side::Near,
        )
        .unwrap_err();
        assert!(e.is_invalid_input());
        let text = e.to_string();
        for said in [
            "out: k3s v1.33.1+k3s1 (x) -> v1.35.1+k3s1 (x) skips the minor 1.34 (newest release known here: v1.34.5+k3s1)",
            "first with cluster.k3s_version: v1.34.5+k3s1",
        ] {
            assert!(text.contains(said), "{said}: {text}");
        }
        // The config that says the release: its line.
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("seedforge.yaml");
        std::fs::write(
            &config,
            "version: 1\ncluster:\n  name: demo\n  k3s_version: v1.35.1+k3s1\n",
        )
        .unwrap();
        let e = check(
            out,
            at("v1.33.1+k3s1"),
            at("v1.35.1+k3s1"),
            Some(&config),
            Side::Far,
        )
        .unwrap_err();
        let text = e.to_string();
        let line = format!("{}:4:3: cluster.k3s_version: k3s", config.display());
        assert!(text.starts_with(&line), "{text}");
        assert!(text.contains("first a delta of v1.34.5+k3s1"), "{text}");
        // Another release there: the output is named.
        let e = check(
            out,
            at("v1.33.1+k3s1"),
            at("v1.36.0+k3s1"),
            Some(&config),
            Side::Near,
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("out: k3s"), "{e}");
        assert!(e.to_string().contains("1.34 (newest"), "{e}");
        assert!(e.to_string().contains("1.35 (newest"), "{e}");
    }
}
