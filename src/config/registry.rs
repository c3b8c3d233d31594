//! `registry:` — the registry the nodes pull from and the PKI that secures it: extra
//! certificate names, the CA (made, kept or imported), validities, where the CA goes on
//! the nodes, pull credentials and k3s rewrites. Values are checked while parsing, so a
//! bad one is an error at its own line.

use super::{Host, Secret};
use crate::winpath::LinuxPath;
use serde::Deserialize;
use serde::de;

/// `registry:` — the registry the nodes pull from, and the PKI that secures it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Registry {
    /// IP address or DNS name the nodes reach the registry at.
    pub host: Host,
    /// TCP port.
    #[serde(default = "default_registry_port")]
    pub port: u16,
    /// Extra names or addresses the registry certificate is valid for (besides `host`,
    /// `127.0.0.1` and `localhost`).
    #[serde(default, deserialize_with = "sans")]
    pub sans: Vec<Host>,
    /// Serve plain HTTP instead of TLS (no certificate is issued).
    #[serde(default)]
    pub plain_http: bool,
    /// The certificate authority the nodes trust.
    #[serde(default)]
    pub ca: RegistryCa,
    /// The registry's own certificate.
    #[serde(default)]
    pub certificate: RegistryCertificate,
    /// Where the CA certificate is installed on the nodes (`registries.yaml` and
    /// `hosts.toml` point there).
    #[serde(default = "default_node_ca_path")]
    pub node_ca_path: NodePath,
    /// Where the registry stores images on its own host (`registry/config.yml`'s
    /// storage), outside the build's output.
    #[serde(default = "default_storage")]
    pub storage: NodePath,
    /// Basic auth the nodes use to pull.
    #[serde(default)]
    pub auth: Option<RegistryAuth>,
    /// k3s mirror rewrites (regular expression to replacement), applied to every mirror.
    #[serde(default)]
    pub rewrite: std::collections::BTreeMap<String, String>,
}

fn default_registry_port() -> u16 {
    5000
}

fn default_storage() -> NodePath {
    NodePath(crate::pki::DEFAULT_REGISTRY_STORAGE.to_string())
}

fn default_node_ca_path() -> NodePath {
    NodePath(DEFAULT_NODE_CA_PATH.to_string())
}

/// Where the registry CA goes on a node unless `registry.node_ca_path` says otherwise.
pub const DEFAULT_NODE_CA_PATH: &str = "/etc/rancher/k3s/seedforge-registry-ca.crt";

/// `registry.ca:`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryCa {
    /// The CA's subject common name (default `seedforge registry CA <cluster>`).
    #[serde(default)]
    pub common_name: Option<SubjectText>,
    /// The CA's subject organisation.
    #[serde(default)]
    pub organization: Option<SubjectText>,
    /// How long a new CA is valid (days).
    #[serde(default)]
    pub validity_days: Option<ValidityDays>,
    /// Use this existing CA instead of creating one.
    #[serde(default)]
    pub import: Option<CaImport>,
}

/// `registry.ca.import:` — an existing CA (PEM files, the key unencrypted PKCS#8).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaImport {
    /// The CA certificate (relative to the config's directory).
    pub cert: LinuxPath,
    /// The CA private key (relative to the config's directory).
    pub key: LinuxPath,
}

/// `registry.certificate:`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryCertificate {
    /// How long the registry certificate is valid (days).
    #[serde(default)]
    pub validity_days: Option<ValidityDays>,
}

/// `registry.auth:` — basic auth for pulls.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryAuth {
    /// The user name.
    pub username: SubjectText,
    /// The password.
    pub password: Secret,
}

/// A validity in days: 1 to 36500.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValidityDays(pub u32);

impl<'de> Deserialize<'de> for ValidityDays {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let days = u32::deserialize(d)?;
        if (1..=36_500).contains(&days) {
            Ok(ValidityDays(days))
        } else {
            Err(de::Error::custom(format!(
                "validity_days must be between 1 and 36500, not {days}"
            )))
        }
    }
}

/// A short single-line text (a certificate subject field, a user name): 1-64 printable
/// characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectText(pub String);

impl<'de> Deserialize<'de> for SubjectText {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s.trim().is_empty() || s.chars().count() > 64 || s.chars().any(char::is_control) {
            return Err(de::Error::custom(format!(
                "{s:?} must be 1-64 characters on one line"
            )));
        }
        Ok(SubjectText(s))
    }
}

/// An absolute path on a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodePath(pub String);

impl<'de> Deserialize<'de> for NodePath {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let ok = s.starts_with('/')
            && !s.ends_with('/')
            && !s.split('/').any(|c| c == "..")
            && !s.chars().any(|c| c.is_control() || c == '"' || c == '\\');
        if ok {
            Ok(NodePath(s))
        } else {
            Err(de::Error::custom(format!(
                "{s:?} is not an absolute file path on the node"
            )))
        }
    }
}

/// `registry.sans`: hosts, or wildcard names as Go's verifier accepts them
/// ([`Host::parse_san`]).
fn sans<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<Host>, D::Error> {
    use serde::Deserialize as _;
    Vec::<String>::deserialize(d)?
        .iter()
        .map(|s| Host::parse_san(s).map_err(serde::de::Error::custom))
        .collect()
}
