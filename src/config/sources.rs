//! Checks of where the build reads from, made once the config is deserialized but reported
//! at the line of the value they are about: the `registries:` entries (one per host, a
//! password only with a user name, a host an image reference could name) and the URLs of
//! the package repositories (a scheme the repository reader speaks, a host, a real port).

use super::positions::Positions;
use crate::debs::config::BundleConfig;
use crate::debs::repo::PackageSource;
use crate::oci::registry::RegistrySettings;
use crate::oci::registry::credentials::normalize_host;

/// A problem at a line and column.
pub(super) type Found = ((u64, u64), String);

/// `registries:`: each host once, a valid `HOST[:PORT]`, and no password without a user
/// name (it would be silently dropped: credentials need both).
pub(super) fn check_registries(entries: &[RegistrySettings], pos: &Positions) -> Result<(), Found> {
    let mut seen: Vec<(String, u64)> = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        let at = |key: &str| pos.at(&format!("registries[{i}].{key}"));
        let host = normalize_host(&e.host);
        crate::image::reference::check_registry_host(&host)
            .map_err(|why| (at("host"), format!("registries[{i}].host: {why}")))?;
        // Host names are case-insensitive: `Registry.example` is `registry.example`.
        if let Some((_, line)) = seen.iter().find(|(h, _)| h.eq_ignore_ascii_case(&host)) {
            return Err((
                at("host"),
                format!(
                    "registries: host {host:?} is listed twice (first at line {line}); give each host one entry"
                ),
            ));
        }
        seen.push((host, at("host").0));
        if e.password.is_some() && e.username.is_none() {
            return Err((
                at("password"),
                format!(
                    "registries[{i}].password without a username: add `username:` to the entry of {}",
                    e.host
                ),
            ));
        }
        if e.username.as_deref().is_some_and(str::is_empty) {
            return Err((at("username"), format!("registries[{i}].username is empty")));
        }
    }
    Ok(())
}

/// The URL of every package repository: `file:`, `http://` or `https://`, with a host and
/// a port in 1-65535.
pub(super) fn check_repo_urls(bundles: &[BundleConfig], pos: &Positions) -> Result<(), Found> {
    for (i, bundle) in bundles.iter().enumerate() {
        // The repositories in the order the bundle keeps them: `repo`, then `repos`.
        let places = pos
            .get(&format!("packages[{i}].repo"))
            .map(|_| format!("packages[{i}].repo.url"))
            .into_iter()
            .chain((0..).map_while(|j| {
                let path = format!("packages[{i}].repos[{j}]");
                pos.get(&path).map(|_| format!("{path}.url"))
            }));
        let urls = bundle.sources.iter().filter_map(|s| match s {
            PackageSource::Repo(r) => Some(&r.url),
            PackageSource::Debs(_) => None,
        });
        for (url, path) in urls.zip(places) {
            check_url(url, true).map_err(|why| (pos.at(&path), format!("{path}: {why}")))?;
        }
    }
    Ok(())
}

/// Checks a URL's scheme, host and port; `file:` URLs only where `file` allows them.
pub(super) fn check_url(url: &str, file: bool) -> Result<(), String> {
    if url.is_empty() {
        return Err("the URL is empty".into());
    }
    if file && let Some(path) = url.strip_prefix("file:") {
        return if path.trim_start_matches('/').is_empty() {
            Err(format!("{url:?} names no folder"))
        } else {
            Ok(())
        };
    }
    let Some(rest) = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
    else {
        let schemes = if file {
            "file:, http:// and https://"
        } else {
            "http:// and https://"
        };
        return Err(format!(
            "{url:?}: only {schemes} URLs are supported (write the scheme in lowercase)"
        ));
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    // Credentials are never quoted back: they may be a password.
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    crate::net::check_host_port(host_port)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_need_a_known_scheme_a_host_and_a_real_port() {
        for good in [
            "http://deb.debian.org/debian",
            "https://user:pw@mirror:8443/debian",
            "http://[fd00::1]:80/d",
            "file:///srv/mirror",
            "file:mirror",
        ] {
            check_url(good, true).unwrap();
        }
        for (bad, why) in [
            ("", "empty"),
            ("ftp://x/debian", "only file:, http:// and https://"),
            ("HTTP://x/debian", "lowercase"),
            ("deb.debian.org/debian", "only file:"),
            ("http:///debian", "no host"),
            ("http://x:0/debian", "port \"0\""),
            ("http://x:99999/debian", "port \"99999\""),
            ("http://[::1]:0/", "port \"0\""),
            ("file://", "names no folder"),
        ] {
            let err = check_url(bad, true).unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
        assert!(check_url("file:///x", false).is_err());
        let err = check_url("http://user:s3cret@x:0/", true).unwrap_err();
        assert!(!err.contains("s3cret"), "{err}");
    }
}
