//! containerd `hosts.toml` files (the `certs.d` layout that containerd, and kubeadm nodes
//! using it, read from `/etc/containerd/certs.d/<registry>/hosts.toml`): one per upstream
//! registry, sending pulls to the cluster's registry, and one for the registry itself.
//! containerd has no rewrites and no credentials in this format; the k3s path
//! (registries.yaml) has both.
//!
//! A registry with a port is written under containerd's own name for it, `HOST_PORT_`
//! (containerd looks for that directory first, then `HOST:PORT`, on every platform), not
//! `HOST:PORT`: a `:` cannot be held by NTFS, exFAT or FAT, where the output often lands
//! (WSL's `/mnt/c`, a USB stick). What is left that such a file system cannot hold (the
//! colons of an IPv6 address) is stored under its [`portable`] name, and the file's first
//! lines name the directory to install it as.

use super::PkiSettings;
use super::registries_yaml::quote;
use crate::outpath::portable;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The first line of every hosts.toml seedforge writes; it marks the file as seedforge's
/// so that a stale one can be removed.
pub const HEADER: &str = "# containerd registry host configuration written by seedforge.\n";

/// `(directory name under the output's certs.d, hosts.toml text)` for every mirrored
/// registry: the [`stored_dir`] of each.
pub fn render_all(settings: &PkiSettings) -> Vec<(String, String)> {
    settings
        .mirror_hosts()
        .into_iter()
        .map(|host| {
            let text = render(settings, &host);
            (stored_dir(&host), text)
        })
        .collect()
}

/// The directory under a node's `certs.d` for `registry` (`host[:port]`): containerd's
/// `hostDirectory`, `HOST_PORT_` for a registry with a port (the name containerd tries
/// first), the host itself without one. Unambiguous: a registry host holds no `_`.
pub fn node_dir(registry: &str) -> String {
    let port_at = match registry.rfind(']') {
        Some(close) => registry[close..].find(':').map(|i| close + i),
        None => registry.rfind(':'),
    };
    match port_at {
        Some(at) => format!("{}_{}_", &registry[..at], &registry[at + 1..]),
        None => registry.to_string(),
    }
}

/// The directory under the output's `certs.d` for `registry`: its [`node_dir`] as a
/// [`portable`] name, the same but for the colons of an IPv6 address (`%3A`).
pub fn stored_dir(registry: &str) -> String {
    portable(&node_dir(registry))
}

/// The hosts.toml for pulls of images named under `registry`.
///
/// Every file has a `[host."..."]` table: containerd 1.6 and 1.7 refuse a hosts.toml
/// without one ("invalid `host` tree") and then pull from nowhere. The registry's own
/// file also names it as `server` with the same `ca`, so the fallback containerd tries
/// after the host table is the same registry, verified the same way, rather than its
/// default (plain HTTP for a loopback address).
pub fn render(settings: &PkiSettings, registry: &str) -> String {
    let endpoint = settings.endpoint();
    let mut out = String::from(HEADER);
    let dir = node_dir(registry);
    let _ = write!(out, "# Install as /etc/containerd/certs.d/{dir}/hosts.toml");
    if dir != registry {
        let _ = write!(out, " (containerd's name for {registry})");
    }
    out.push_str(".\n");
    let ca = (!settings.plain_http).then(|| quote(&settings.node_ca_path));
    if registry == settings.address() {
        let _ = writeln!(out, "server = {}", quote(&endpoint));
        if let Some(ca) = &ca {
            let _ = writeln!(out, "ca = {ca}");
        }
    }
    let _ = writeln!(out, "\n[host.{}]", quote(&endpoint));
    out.push_str("  capabilities = [\"pull\", \"resolve\"]\n");
    if let Some(ca) = &ca {
        let _ = writeln!(out, "  ca = {ca}");
    }
    out
}

/// Directories under `certs_d` holding only a seedforge hosts.toml for a registry that is
/// no longer mirrored (not in `keep`).
pub fn stale(certs_d: &Path, keep: &[String]) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(certs_d) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|dir| {
            let name = dir.file_name().map(|n| n.to_string_lossy().into_owned());
            let only_ours =
                std::fs::read_dir(dir).is_ok_and(|d| {
                    d.filter_map(Result::ok)
                        .map(|e| e.file_name())
                        .eq(std::iter::once(std::ffi::OsString::from("hosts.toml")))
                }) && crate::input::read_found(&dir.join("hosts.toml"), crate::input::Kind::Text)
                    .is_ok_and(|t| t.starts_with(HEADER.as_bytes()));
            only_ours && !name.is_some_and(|n| keep.contains(&n))
        })
        .collect();
    out.sort();
    out
}
