//! A k3s upgrade that skips a minor: `plan --upgrade-from`, `delta` and `apply` refuse one
//! (exit 2, nothing written) whose release is more than one minor ahead of the far side's.
//! k3s nodes upgrade one minor at a time (the Kubernetes version skew policy), so such a
//! medium could not be taken by the nodes in one step; the refusal names both releases,
//! every skipped minor with its newest release this build knows, and the first release of
//! an upgrade one minor at a time. A patch upgrade, one minor ahead, the same release and
//! a downgrade (refused on its own, [`super::downgrade`]) pass.
//!
//! An output built with `cluster.upgrade_path` carries its hops (`files/hops/<RELEASE>/k3s`):
//! the far side's nodes take each hop newer than the release they run, in order, then the
//! output's. Such a far side passes when none of those steps skips a minor: when the path
//! starts within one minor of the release it runs.

use super::DeltaError;
use super::downgrade::Side;
use std::path::Path;

/// The hops an output carries, oldest first: the releases of its sealed
/// `files/hops/<RELEASE>/k3s` among the sealed paths `sealed`.
pub(crate) fn carried_hops<'a>(sealed: impl IntoIterator<Item = &'a String>) -> Vec<String> {
    let mut hops: Vec<String> = (sealed.into_iter())
        .filter_map(|p| crate::preflight::hop_of_binary(p.strip_prefix("files/")?))
        .filter(|r| crate::preflight::release_order(r).is_some())
        .map(str::to_string)
        .collect();
    hops.sort_by_key(|h| crate::preflight::release_order(h));
    hops.dedup();
    hops
}

/// The hops of `hops` the nodes of a far side at `from` take: those newer than `from`
/// (every one when `from` is not known).
pub fn taken_hops(from: Option<&str>, hops: &[String]) -> Vec<String> {
    let at = from.and_then(crate::preflight::release_order);
    (hops.iter())
        .filter(|h| at.is_none() || crate::preflight::release_order(h) > at)
        .cloned()
        .collect()
}

/// Refuses the move from the k3s release `from` (`from_what`: whose it is) to `to`
/// (`to_what`) through the `hops` newer than `from` when a step skips a minor, advising
/// what `side` can do. When `config` says `cluster.k3s_version: TO`, the refusal names
/// that line (`FILE:LINE:COLUMN`), else `out`.
pub(crate) fn check(
    out: &Path,
    (from, from_what): (Option<&str>, &str),
    (to, to_what): (Option<&str>, &str),
    hops: &[String],
    config: Option<&Path>,
    side: Side,
) -> Result<(), DeltaError> {
    let (Some(from), Some(to)) = (from, to) else {
        return Ok(());
    };
    let taken = taken_hops(Some(from), hops);
    let next = taken.first().map_or(to, String::as_str);
    let next_what = if taken.is_empty() {
        to_what.to_string()
    } else {
        format!("the first hop of cluster.upgrade_path newer than it, up to {to}")
    };
    let Some((what, skipped)) =
        crate::preflight::skipped_minors_message((from, from_what), (next, &next_what))
    else {
        return Ok(());
    };
    let hop = crate::preflight::first_hop(&skipped);
    let path = if hops.is_empty() {
        String::new()
    } else {
        format!(
            "; this output's upgrade path ({}) starts more than one minor ahead of {from}",
            hops.join(", ")
        )
    };
    let advice = match side {
        Side::Near => format!(
            "carry the releases between in this medium: cluster.upgrade_from: {from} with cluster.upgrade_path: auto (or a list from {hop}), each hop's k3s binary a files entry hops/<RELEASE>/k3s, then build; or upgrade one minor at a time: build and carry a medium per minor, first with cluster.k3s_version: {hop} (build, delta, apply, every node upgraded to it), then the next minor, up to {to}; nothing was written"
        ),
        Side::Far => format!(
            "ask the near side for a medium whose cluster.upgrade_path starts from {from} (cluster.upgrade_from: {from}, cluster.upgrade_path: auto), or for a medium per minor, first a delta of {hop}, applied and every node upgraded to it before the next; nothing was applied"
        ),
    };
    let message = format!("{what}{path}; {advice}");
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

/// The far side's move from the release `from` to `to` (through `hops`), both checks a
/// delta and `apply` make of it: a downgrade, refused unless `allow_downgrade` or `config`
/// allows it ([`super::downgrade`]), and a skipped minor ([`check`]), named at `config`'s
/// line.
pub(crate) fn check_step(
    out: &Path,
    from: (Option<&str>, &str),
    to: (Option<&str>, &str),
    hops: &[String],
    allow_downgrade: bool,
    config: Option<&Path>,
    side: Side,
) -> Result<(), DeltaError> {
    let allowed = allow_downgrade || config.is_some_and(super::downgrade::config_allows);
    super::downgrade::check(out, from, to, allowed, side)?;
    check(out, from, to, hops, config, side)
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
            assert!(check(out, at(from), at(to), &[], None, Side::Near).is_ok());
        }
        assert!(check(out, (None, "x"), at("v1.35.1+k3s1"), &[], None, Side::Near).is_ok());
        let e = check(
            out,
            at("v1.33.1+k3s1"),
            at("v1.35.1+k3s1"),
            &[],
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
            &[],
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
            &[],
            Some(&config),
            Side::Near,
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("out: k3s"), "{e}");
        assert!(e.to_string().contains("1.34 (newest"), "{e}");
        assert!(e.to_string().contains("1.35 (newest"), "{e}");
    }

    /// An output upgraded through hops: a far side within one minor of the path's start
    /// (or past some hops) passes; one further behind is refused at the first hop.
    #[test]
    fn a_far_side_within_one_minor_of_the_paths_start_passes() {
        let out = Path::new("out");
        let sealed: Vec<String> = [
            "files/hops/v1.35.1+k3s1/k3s",
            "files/bin/k3s",
            "files/hops/v1.34.2+k3s1/k3s",
            "files/hops/junk/k3s",
        ]
        .map(String::from)
        .to_vec();
        let hops = carried_hops(&sealed);
        assert_eq!(hops, ["v1.34.2+k3s1", "v1.35.1+k3s1"]);
        let to = (Some("v1.36.2+k3s1"), "this output's");
        for from in [
            "v1.33.1+k3s1",
            "v1.33.7+k3s1",
            "v1.34.2+k3s1",
            "v1.34.5+k3s1",
            "v1.35.3+k3s1",
        ] {
            assert!(
                check(out, (Some(from), "far"), to, &hops, None, Side::Near).is_ok(),
                "{from}"
            );
            // Without the hops: refused but one minor behind.
            let direct = check(out, (Some(from), "far"), to, &[], None, Side::Near);
            assert_eq!(direct.is_err(), !from.starts_with("v1.35"), "{from}");
        }
        let e = check(
            out,
            (Some("v1.32.10+k3s1"), "far"),
            to,
            &hops,
            None,
            Side::Far,
        )
        .unwrap_err()
        .to_string();
        for said in [
            "v1.32.10+k3s1 (far) -> v1.34.2+k3s1 (the first hop of cluster.upgrade_path newer than it, up to v1.36.2+k3s1) skips the minor 1.33",
            "this output's upgrade path (v1.34.2+k3s1, v1.35.1+k3s1) starts more than one minor ahead of v1.32.10+k3s1",
            "cluster.upgrade_path starts from v1.32.10+k3s1",
        ] {
            assert!(e.contains(said), "{said}: {e}");
        }
    }
}
