//! containerd `hosts.toml` files (the `certs.d` layout that containerd, and kubeadm nodes
//! using it, read from `/etc/containerd/certs.d/<registry>/hosts.toml`): one per upstream
//! registry, sending pulls to the cluster's registry, and one for the registry itself.
//! containerd has no rewrites and no credentials in this format; the k3s path
//! (registries.yaml) has both.

use super::PkiSettings;
use super::registries_yaml::quote;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The first line of every hosts.toml seedforge writes; it marks the file as seedforge's
/// so that a stale one can be removed.
pub const HEADER: &str = "# containerd registry host configuration written by seedforge.\n";

/// `(directory name under certs.d, hosts.toml text)` for every mirrored registry.
pub fn render_all(settings: &PkiSettings) -> Vec<(String, String)> {
    settings
        .mirror_hosts()
        .into_iter()
        .map(|host| {
            let text = render(settings, &host);
            (host, text)
        })
        .collect()
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
    let _ = writeln!(
        out,
        "# Install as /etc/containerd/certs.d/{registry}/hosts.toml."
    );
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
            let only_ours = std::fs::read_dir(dir).is_ok_and(|d| {
                d.filter_map(Result::ok)
                    .map(|e| e.file_name())
                    .eq(std::iter::once(std::ffi::OsString::from("hosts.toml")))
            }) && std::fs::read_to_string(dir.join("hosts.toml"))
                .is_ok_and(|t| t.starts_with(HEADER));
            only_ours && !name.is_some_and(|n| keep.contains(&n))
        })
        .collect();
    out.sort();
    out
}
