//! k3s's `/etc/rancher/k3s/registries.yaml`: a mirror for every registry the images come
//! from (and for the registry itself), all pointing at the one registry the cluster pulls
//! from, plus its TLS and auth settings under `configs."HOST:PORT"`.
//!
//! A cluster without a registry, whose nodes share images through k3s's embedded registry
//! mirror alone, gets [`render_embedded`]: the same registries under `mirrors`, each with
//! no endpoint. That is how k3s documents enabling the embedded mirror for a registry: the
//! entry only has to be present, and a registry not listed is neither shared nor pulled
//! from peers. (A `"*"` entry would enable every registry, but also registries no image of
//! the build comes from; seedforge lists the ones it mirrors.) With a registry, the entries
//! keep its endpoint: the embedded mirror is tried first, then the registry.
//!
//! The format is k3s's: `mirrors.<registry>.endpoint` (a list of URLs) and optional
//! `rewrite` (regular expression to replacement), `configs.<HOST:PORT>.tls.ca_file` and
//! `configs.<HOST:PORT>.auth.{username,password}` (k3s has no `token` key). The file is
//! written by hand in block style with every scalar double-quoted, so a registry name such
//! as `192.168.6.1:5000` or a password with `#` in it can never change meaning; a test
//! parses it back.

use super::PkiSettings;
use crate::vocab::Host;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

/// A YAML (and TOML, and JSON) double-quoted string.
pub(super) fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("{s:?}"))
}

/// Renders registries.yaml for `settings`.
pub fn render(settings: &PkiSettings) -> String {
    let own = settings.address();
    let mut out = String::from(
        "# k3s registry configuration written by seedforge.\n\
         # Install as /etc/rancher/k3s/registries.yaml on every node.\n",
    );
    out.push_str("mirrors:\n");
    for host in settings.mirror_hosts() {
        let _ = writeln!(out, "  {}:", quote(&host));
        out.push_str("    endpoint:\n");
        let _ = writeln!(out, "      - {}", quote(&settings.endpoint()));
        if host != own && !settings.rewrite.is_empty() {
            out.push_str("    rewrite:\n");
            for (from, to) in &settings.rewrite {
                let _ = writeln!(out, "      {}: {}", quote(from), quote(to));
            }
        }
    }
    if settings.plain_http && settings.auth.is_none() {
        return out;
    }
    out.push_str("configs:\n");
    let _ = writeln!(out, "  {}:", quote(&own));
    if let Some((user, password)) = &settings.auth {
        out.push_str("    auth:\n");
        let _ = writeln!(out, "      username: {}", quote(user));
        let _ = writeln!(out, "      password: {}", quote(password.expose()));
    }
    if !settings.plain_http {
        out.push_str("    tls:\n");
        let _ = writeln!(out, "      ca_file: {}", quote(&settings.node_ca_path));
    }
    out
}

/// registries.yaml for a cluster without a registry: every registry in `mirrors` (the
/// registries the images come from) listed with no endpoint, so that k3s's embedded
/// registry mirror shares its images between the nodes.
pub fn render_embedded(mirrors: &BTreeSet<String>) -> String {
    let mut out = String::from(
        "# k3s registry configuration written by seedforge.\n\
         # Install as /etc/rancher/k3s/registries.yaml on every node.\n\
         # No registry: k3s's embedded registry mirror shares these registries' images\n\
         # between the nodes (an entry without endpoints enables it for that registry).\n",
    );
    out.push_str("mirrors:\n");
    for host in mirrors {
        let _ = writeln!(out, "  {}:", quote(host));
    }
    out
}

/// registries.yaml as k3s reads it (the parts seedforge writes).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistriesFile {
    /// Mirrors by registry name; an entry without a value (`"docker.io":`) is a mirror
    /// with no endpoint.
    #[serde(default, deserialize_with = "mirrors_allowing_empty")]
    pub mirrors: BTreeMap<String, Mirror>,
    /// TLS and auth settings by registry `HOST:PORT`.
    #[serde(default)]
    pub configs: BTreeMap<String, RegistryConfig>,
}

/// `mirrors.<name>`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mirror {
    /// Endpoint URLs, tried in order (none: only the embedded mirror, then the registry
    /// itself).
    #[serde(default)]
    pub endpoint: Vec<String>,
    /// Repository rewrites.
    #[serde(default)]
    pub rewrite: BTreeMap<String, String>,
}

/// `configs.<HOST:PORT>`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryConfig {
    /// TLS settings.
    #[serde(default)]
    pub tls: Option<Tls>,
    /// Credentials.
    #[serde(default)]
    pub auth: Option<Auth>,
}

/// `configs.<HOST:PORT>.tls`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tls {
    /// The CA file on the node.
    pub ca_file: Option<String>,
}

/// `configs.<HOST:PORT>.auth`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Auth {
    /// User name.
    pub username: Option<String>,
    /// Password.
    pub password: Option<String>,
    /// base64 of `user:password`.
    pub auth: Option<String>,
}

/// `mirrors:` whose entries may be empty (YAML null), as k3s's embedded mirror wants them.
fn mirrors_allowing_empty<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, Mirror>, D::Error> {
    let raw = Option::<BTreeMap<String, Option<Mirror>>>::deserialize(d)?;
    Ok(raw
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.unwrap_or_default()))
        .collect())
}

/// Parses registries.yaml text.
pub fn parse(text: &str) -> Result<RegistriesFile, String> {
    serde_saphyr::from_str(text).map_err(|e| e.to_string())
}

/// The hosts of every `https://` endpoint in registries.yaml text.
pub fn tls_hosts(text: &str) -> Result<Vec<Host>, String> {
    let file = parse(text)?;
    let mut hosts = Vec::new();
    for mirror in file.mirrors.values() {
        for url in &mirror.endpoint {
            let Some(rest) = url.strip_prefix("https://") else {
                continue;
            };
            let authority = rest.split('/').next().unwrap_or(rest);
            let host = split_port(authority);
            let host: Host = host.parse().map_err(|e| format!("endpoint {url:?}: {e}"))?;
            if !hosts.contains(&host) {
                hosts.push(host);
            }
        }
    }
    Ok(hosts)
}

/// `HOST` of `HOST[:PORT]`, with IPv6 brackets removed.
fn split_port(authority: &str) -> &str {
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match authority.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => authority,
    }
}
