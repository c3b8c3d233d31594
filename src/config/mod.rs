//! `seedforge.yaml`: the one file that describes a cluster's first boot.
//!
//! Parsing is strict because a config that means something other than what its author
//! intended breaks clusters far from the desk it was written at: unknown keys, duplicate
//! keys, YAML 1.1 booleans (`yes`, `on`) and unquoted strings that look like numbers
//! (`1.10`) are all errors. Every error names the file, line and column.
//!
//! Secrets (the k3s join token, registry passwords) can only be given indirectly, as
//! `{env: NAME}` or `{file: PATH}`, so the config itself can be committed and logged.

pub use crate::input::Location;
use crate::oci::Platform;
use crate::oci::archive::{ArchiveFormat, CompressionSetting};
use crate::vocab::unusable_host;
pub use crate::vocab::{Cidr, DnsLabel, Host, InstallMode, Role, Secret, SecretError, SecretValue};
use crate::winpath::LinuxPath;
use serde::Deserialize;
use serde::de;
use serde_saphyr::Spanned;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

mod autoinstall;
mod cluster;
mod images;
mod line_endings;
mod network;
pub mod parity;
mod paths;
mod positions;
mod registry;
mod seal;
mod settings;
pub mod size;
mod sources;
mod strict;

pub use autoinstall::{Autoinstall, SshKey, StorageLayout, Username, check_password_hash};
pub use cluster::*;
pub use images::*;
pub use network::{DEFAULT_INTERFACE, GLOB_FALLBACK, Interface, MacAddress, Network, is_glob};
pub use registry::{
    CaImport, DEFAULT_NODE_CA_PATH, NodePath, Registry, RegistryAuth, RegistryCa,
    RegistryCertificate, SubjectText, ValidityDays,
};
pub use seal::{SealConfig, SealSigner};

/// The config format version this build reads.
pub const CONFIG_VERSION: u32 = 1;

/// Errors reading or validating the config.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{}: cannot read config: {source}{}", path.display(), init_hint(source))]
    Read {
        /// The config path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid: bad YAML, an unknown key, a wrong type or a bad value.
    #[error("{}:{line}:{column}: {message}", path.display())]
    Invalid {
        /// The config path.
        path: PathBuf,
        /// 1-based line.
        line: u64,
        /// 1-based column.
        column: u64,
        /// What is wrong.
        message: String,
    },
    /// A secret could not be resolved.
    #[error("{}: secret {what}: {message}", path.display())]
    Secret {
        /// The config path.
        path: PathBuf,
        /// Which secret (`cluster.token`).
        what: String,
        /// What is wrong (never the secret's value).
        message: String,
    },
    /// The output must be signed (`build --require-signature`), and nothing here signs it.
    #[error("{}: {message}", path.display())]
    Unsigned {
        /// The config path.
        path: PathBuf,
        /// What is missing.
        message: String,
    },
}

/// A missing config: how to start one.
fn init_hint(e: &std::io::Error) -> &'static str {
    if e.kind() == std::io::ErrorKind::NotFound {
        " (`seedforge init` writes a starter config here)"
    } else {
        ""
    }
}

impl ConfigError {
    /// The file, line and column the error is at, as its message names them.
    pub fn place(&self) -> Option<crate::input::Place> {
        use crate::input::Place;
        Some(match self {
            ConfigError::Read { path, .. }
            | ConfigError::Secret { path, .. }
            | ConfigError::Unsigned { path, .. } => Place::file(path),
            ConfigError::Invalid {
                path, line, column, ..
            } => Place {
                column: Some(*column),
                ..Place::line(path, *line)
            },
        })
    }
}

impl From<SecretError> for ConfigError {
    fn from(e: SecretError) -> ConfigError {
        ConfigError::Secret {
            path: e.path,
            what: e.what,
            message: e.message,
        }
    }
}

/// A validated config.
#[derive(Debug, Clone)]
pub struct Config {
    /// The config file.
    pub path: PathBuf,
    /// The directory relative paths in the config resolve against.
    pub dir: PathBuf,
    /// The cluster.
    pub cluster: Cluster,
    /// The registry the nodes pull from; optional with `cluster.embedded_registry`, where
    /// the nodes share the servers' airgap images among themselves.
    pub registry: Option<Registry>,
    /// How to reach the registries images are mirrored from (`registries:`).
    pub registries: Vec<crate::oci::registry::RegistrySettings>,
    /// The images to mirror.
    pub images: Images,
    /// The cluster's nodes.
    pub nodes: Vec<Node>,
    /// Network settings shared by the nodes.
    pub network: Network,
    /// The airgap archives.
    pub airgap: Airgap,
    /// The resolved compression level of the airgap archives.
    pub airgap_level: i32,
    /// Where `build` writes (resolved against the config's directory).
    pub output: PathBuf,
    /// Timestamp for every artifact (seconds since the epoch); `SOURCE_DATE_EPOCH`
    /// overrides it.
    pub source_date_epoch: Option<u64>,
    /// A folder of templates overriding the embedded ones (resolved against the config).
    pub templates: Option<PathBuf>,
    /// The offline package bundles (`packages:`).
    pub packages: Vec<crate::debs::config::BundleConfig>,
    /// The installer settings of `install: autoinstall` nodes (`autoinstall:`).
    pub autoinstall: Autoinstall,
    /// Payload files every seed carries (`files:`).
    pub files: Vec<crate::files::FileConfig>,
    /// Where `build` copies the seed ISOs after sealing (resolved against the config),
    /// with where it was named.
    pub export_dir: Option<(PathBuf, Location)>,
    /// `seal:` how the seal signs the output (none: unsigned).
    pub seal: Option<SealConfig>,
    /// The largest part an exported file may be (`export_split:`); larger ISOs are cut
    /// into numbered parts. Only with `export_dir`.
    pub export_split: Option<u64>,
    /// PAR 2.0 recovery data beside the parts, in percent of their size
    /// (`export_parity:`). Only with `export_split`.
    pub export_parity: Option<u32>,
    /// How the seeds carry the payload (`seeds:`).
    pub seeds: Seeds,
    /// Helm charts installed by k3s on the servers (`charts:`).
    pub charts: Vec<crate::charts::ChartConfig>,
    /// Manifest files or folders k3s applies at start (`manifests:`), resolved against
    /// the config, with where each was named.
    pub manifests: Vec<(PathBuf, Location)>,
    /// The k3s release's image list (`cluster.release_images`), resolved against the
    /// config, with where it was named.
    pub release_images: Option<(PathBuf, Location)>,
}

/// `seeds:` — how the payload reaches the nodes.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Seeds {
    /// `all-in-one` (every seed carries the payload) or `shared` (one `payload.iso`).
    #[serde(default)]
    pub payload: crate::seed::PayloadMode,
}

/// `nodes:` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Node {
    /// Host name: a DNS label, unique in the cluster.
    pub name: DnsLabel,
    /// `server` or `agent`.
    pub role: Role,
    /// Address with prefix length (`192.168.6.10/24`).
    pub address: Cidr,
    /// `cloud-init` (an installed image) or `autoinstall` (Ubuntu's installer).
    #[serde(default)]
    pub install: InstallMode,
    /// The MAC address of its NIC: its network-config matches the NIC by it and names it
    /// (`set-name`), which every renderer of cloud-init reads.
    #[serde(default)]
    pub mac: Option<MacAddress>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    version: Spanned<u32>,
    cluster: Cluster,
    #[serde(default)]
    registry: Option<Registry>,
    #[serde(default)]
    registries: Vec<crate::oci::registry::RegistrySettings>,
    images: RawImages,
    #[serde(default)]
    nodes: Vec<Spanned<Node>>,
    #[serde(default)]
    network: Network,
    #[serde(default)]
    airgap: Airgap,
    #[serde(default)]
    output: Option<LinuxPath>,
    #[serde(default)]
    source_date_epoch: Option<u64>,
    #[serde(default)]
    templates: Option<LinuxPath>,
    #[serde(default)]
    packages: Option<Spanned<Vec<crate::debs::config::BundleConfig>>>,
    #[serde(default)]
    autoinstall: Autoinstall,
    #[serde(default)]
    files: Vec<Spanned<crate::files::RawFile>>,
    #[serde(default)]
    seal: Option<SealConfig>,
    #[serde(default)]
    export_dir: Option<Spanned<LinuxPath>>,
    #[serde(default)]
    export_split: Option<Spanned<size::PartSize>>,
    #[serde(default)]
    export_parity: Option<Spanned<parity::Percent>>,
    #[serde(default)]
    seeds: Seeds,
    #[serde(default)]
    charts: Vec<Spanned<crate::charts::RawChart>>,
    #[serde(default)]
    manifests: Vec<Spanned<LinuxPath>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawImages {
    lists: Spanned<Vec<Spanned<LinuxPath>>>,
    #[serde(default)]
    platforms: Vec<Platform>,
    #[serde(default)]
    concurrency: Option<Spanned<usize>>,
    #[serde(default)]
    signatures: Signatures,
    #[serde(default)]
    verify: Option<Spanned<Verify>>,
    #[serde(default)]
    from_charts: crate::charts::ImagesMode,
}

impl Config {
    /// Reads and validates the config at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = crate::input::read_to_string(path, crate::input::Kind::Config).map_err(|e| {
            ConfigError::Read {
                path: path.to_path_buf(),
                source: e.into_io(),
            }
        })?;
        let config = Config::parse(&text, path)?;
        config.check_paths(&text)?;
        Ok(config)
    }

    /// Reads every secret the config names and registers its value in `secrets` (the
    /// run's), so that no message scrubbed with it from here on can show it, whichever
    /// input it ends up quoted from. A value is registered before it is judged (even a
    /// rejected one is somebody's secret); secrets that cannot be read are skipped: the
    /// step that needs one reports why.
    pub fn register_secrets(&self, secrets: &crate::redact::Secrets) {
        let found = self
            .cluster
            .token
            .iter()
            .chain(
                self.registry
                    .iter()
                    .filter_map(|r| r.auth.as_ref())
                    .map(|a| &a.password),
            )
            .chain(self.registries.iter().filter_map(|r| r.password.as_ref()))
            .chain(self.autoinstall.password.iter());
        for secret in found {
            if let Ok(value) = secret.read_raw("secret", &self.path) {
                secrets.register(&value);
            }
        }
    }

    /// Parses and validates config text; `path` is used in errors and to resolve relative
    /// paths.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        line_endings::check(text, path)?;
        check_yaml_shape(text, path)?;
        // Every path field is a `LinuxPath`, whose deserializing refuses a Windows path
        // (`C:\...`, `\\server\share`); the refusal is named after its field here.
        let raw: RawConfig = serde_saphyr::with_deserializer_from_str_with_options(
            text,
            crate::input::yaml_options(),
            |d| RawConfig::deserialize(strict::Strict(d)),
        )
        .map_err(|e| {
            let mut error = yaml_error(path, &e);
            if let ConfigError::Invalid {
                line,
                column,
                message,
                ..
            } = &mut error
                && let Some(field) = windows_path_field(text, *line, *column)
            {
                *message = format!("{field}: {message}");
            }
            error
        })?;
        let invalid = |loc: &serde_saphyr::Location, message: String| ConfigError::Invalid {
            path: path.to_path_buf(),
            line: loc.line(),
            column: loc.column(),
            message,
        };
        if raw.version.value != CONFIG_VERSION {
            return Err(invalid(
                &raw.version.referenced,
                format!(
                    "unsupported config version {}; this seedforge reads version {CONFIG_VERSION}",
                    raw.version.value
                ),
            ));
        }
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf();
        if raw.images.lists.value.is_empty() {
            return Err(invalid(
                &raw.images.lists.referenced,
                "images.lists needs at least one image list file".into(),
            ));
        }
        let lists = raw
            .images
            .lists
            .value
            .iter()
            .map(|l| {
                let loc = Location {
                    line: l.referenced.line(),
                    column: l.referenced.column(),
                };
                (dir.join(&l.value), loc)
            })
            .collect();
        if let Some(v) = &raw.images.verify {
            images::check_verify(v).map_err(|(at, message)| ConfigError::Invalid {
                path: path.to_path_buf(),
                line: at.line,
                column: at.column,
                message,
            })?;
        }
        let concurrency = match raw.images.concurrency {
            None => 4,
            Some(c) if (1..=64).contains(&c.value) => c.value,
            Some(c) => {
                return Err(invalid(
                    &c.referenced,
                    format!(
                        "images.concurrency must be between 1 and 64, not {}",
                        c.value
                    ),
                ));
            }
        };
        let mut nodes: Vec<Node> = Vec::new();
        for node in &raw.nodes {
            if let Some(first) = nodes.iter().find(|n| n.name == node.value.name) {
                return Err(invalid(
                    &node.referenced,
                    format!("node name {:?} is used twice", first.name.as_str()),
                ));
            }
            if let Some(first) = nodes.iter().find(|n| n.address.ip == node.value.address.ip) {
                return Err(invalid(
                    &node.referenced,
                    format!(
                        "node {:?} has the same address as node {:?}",
                        node.value.name.as_str(),
                        first.name.as_str()
                    ),
                ));
            }
            if let Some(mac) = &node.value.mac
                && let Some(first) = nodes.iter().find(|n| n.mac.as_ref() == Some(mac))
            {
                return Err(invalid(
                    &node.referenced,
                    format!(
                        "node {:?} has the same mac ({}) as node {:?}",
                        node.value.name.as_str(),
                        mac.0,
                        first.name.as_str()
                    ),
                ));
            }
            nodes.push(node.value.clone());
        }
        check_registry(&raw.cluster, raw.registry.as_ref(), text, path)?;
        let hops = cluster::check_upgrade_from(&raw.cluster, text, path)?;
        check_addresses(raw.registry.as_ref(), &raw.network, &raw.nodes, text, path)?;
        autoinstall::check_logins(&raw.nodes, &raw.autoinstall).map_err(|(l, m)| invalid(&l, m))?;
        if !nodes.is_empty() && !nodes.iter().any(|n| n.role == Role::Server) {
            return Err(invalid(
                &raw.nodes[0].referenced,
                "the nodes need at least one with role: server".into(),
            ));
        }
        let airgap_level = match &raw.airgap.level {
            Some(l) => {
                raw.airgap
                    .compression
                    .level_kind()
                    .check_level(l.value)
                    .map_err(|message| {
                        invalid(&l.referenced, format!("airgap.level: {message}"))
                    })?;
                l.value
            }
            None => raw.airgap.compression.level_kind().default_level(),
        };
        if raw.airgap.agents == AirgapImages::System && raw.registry.is_none() {
            return Err(invalid_at(
                path,
                key_location(text, "airgap", "agents"),
                "airgap.agents: system leaves the agents' other images to the registry, and the config has none (with the embedded mirror alone the agents carry no archive anyway): leave airgap.agents out, or configure a registry".into(),
            ));
        }
        if raw.airgap.images == AirgapImages::System && raw.registry.is_none() {
            return Err(invalid_at(
                path,
                key_location(text, "airgap", "images"),
                "airgap.images: system leaves the other images to the registry, and the config has none: without registry:, the airgap archives are the nodes' only source of images (leave airgap.images out, or configure a registry)".into(),
            ));
        }
        let packages = raw.packages.map(|p| (p.referenced, p.value));
        let positions = positions::Positions::of(text);
        let found = |((line, column), message): sources::Found| ConfigError::Invalid {
            path: path.to_path_buf(),
            line,
            column,
            message,
        };
        if let Some((loc, bundles)) = &packages {
            crate::debs::config::check_unique(bundles).map_err(|m| invalid(loc, m))?;
            sources::check_repo_urls(bundles, &positions).map_err(found)?;
        }
        sources::check_registries(&raw.registries, &positions).map_err(found)?;
        let files: Vec<crate::files::FileConfig> = raw
            .files
            .into_iter()
            .map(|f| {
                let at = Location {
                    line: f.referenced.line(),
                    column: f.referenced.column(),
                };
                crate::files::FileConfig::from_raw(f.value, at)
            })
            .collect();
        crate::files::check_names(&files).map_err(|(at, message)| ConfigError::Invalid {
            path: path.to_path_buf(),
            line: at.line,
            column: at.column,
            message,
        })?;
        cluster::check_hop_files(&hops, &files, text, path)?;
        for (i, f) in files.iter().enumerate() {
            if let crate::files::FileSource::Url(url) = &f.source {
                let at = format!("files[{i}].source");
                sources::check_url(url, false)
                    .map_err(|why| found((positions.at(&at), format!("{at}: {why}"))))?;
            }
        }
        let export_dir = match raw.export_dir {
            Some(d) if d.value.as_os_str().is_empty() => {
                return Err(invalid(&d.referenced, "export_dir is empty".into()));
            }
            Some(d) => Some((
                dir.join(d.value),
                Location {
                    line: d.referenced.line(),
                    column: d.referenced.column(),
                },
            )),
            None => None,
        };
        let export_split = match raw.export_split {
            Some(s) if export_dir.is_none() => {
                return Err(invalid(
                    &s.referenced,
                    "export_split needs export_dir: it says how the exported ISOs are cut".into(),
                ));
            }
            s => s.map(|s| s.value.0),
        };
        let export_parity = parity::resolve(raw.export_parity, export_split.is_some())
            .map_err(|(at, message)| invalid(&at, message))?;
        let charts: Vec<crate::charts::ChartConfig> = raw
            .charts
            .into_iter()
            .map(|c| {
                let at = Location {
                    line: c.referenced.line(),
                    column: c.referenced.column(),
                };
                crate::charts::ChartConfig::from_raw(c.value, &dir, at).map_err(|message| {
                    ConfigError::Invalid {
                        path: path.to_path_buf(),
                        line: at.line,
                        column: at.column,
                        message,
                    }
                })
            })
            .collect::<Result<_, _>>()?;
        crate::charts::check_unique(&charts).map_err(|(at, message)| ConfigError::Invalid {
            path: path.to_path_buf(),
            line: at.line,
            column: at.column,
            message,
        })?;
        let release_images = match &raw.cluster.release_images {
            Some(r) if r.value.as_os_str().is_empty() => {
                return Err(invalid(
                    &r.referenced,
                    "cluster.release_images is empty; give the release's k3s-images.txt".into(),
                ));
            }
            Some(r) => Some((
                dir.join(&*r.value),
                Location {
                    line: r.referenced.line(),
                    column: r.referenced.column(),
                },
            )),
            None => None,
        };
        let mut manifests = Vec::new();
        for m in raw.manifests {
            if m.value.as_os_str().is_empty() {
                return Err(invalid(
                    &m.referenced,
                    "manifests: an entry is empty".into(),
                ));
            }
            let at = Location {
                line: m.referenced.line(),
                column: m.referenced.column(),
            };
            manifests.push((dir.join(m.value), at));
        }
        Ok(Config {
            charts,
            manifests,
            release_images,
            files,
            export_dir,
            seal: raw.seal,
            export_split,
            export_parity,
            seeds: raw.seeds,
            packages: packages.map(|(_, b)| b).unwrap_or_default(),
            airgap: raw.airgap,
            airgap_level,
            path: path.to_path_buf(),
            output: dir.join(raw.output.as_deref().unwrap_or(Path::new("out"))),
            templates: raw.templates.as_deref().map(|t| dir.join(t)),
            dir,
            cluster: Cluster {
                hops,
                ..raw.cluster
            },
            registry: raw.registry,
            registries: raw.registries,
            images: Images {
                lists,
                platforms: if raw.images.platforms.is_empty() {
                    vec![Platform::linux_amd64()]
                } else {
                    raw.images.platforms
                },
                concurrency,
                signatures: raw.images.signatures,
                verify: raw.images.verify.map(|v| v.value),
                from_charts: raw.images.from_charts,
            },
            nodes,
            network: raw.network,
            source_date_epoch: raw.source_date_epoch,
            autoinstall: raw.autoinstall,
        })
    }
}

/// The field whose value at `(line, column)` is a Windows path, for the message of a path
/// field refusing it ([`LinuxPath`]: the deserializer's error is at the value, and does not
/// know the field's name).
fn windows_path_field(text: &str, line: u64, column: u64) -> Option<String> {
    positions::Positions::of(text)
        .iter()
        .find(|(_, place)| {
            place.line == line
                && place.column == column
                && (place.scalar.as_deref())
                    .is_some_and(|v| crate::winpath::refusal(v, None).is_some())
        })
        .map(|(field, _)| field.to_string())
}

/// The line (1-based) and column of `key:` inside the top-level `section:` of `text`, or of
/// the section itself when the key is not written there.
fn key_location(text: &str, section: &str, key: &str) -> (u64, u64) {
    let mut in_section = None;
    for (i, line) in text.lines().enumerate() {
        let n = i as u64 + 1;
        if !line.starts_with([' ', '\t', '#']) && !line.is_empty() {
            in_section = line.starts_with(&format!("{section}:")).then_some(n);
            continue;
        }
        let trimmed = line.trim_start();
        if in_section.is_some() && trimmed.starts_with(&format!("{key}:")) {
            return (n, (line.len() - trimmed.len()) as u64 + 1);
        }
    }
    (in_section.unwrap_or(1), 1)
}

/// A config error at `(line, column)` of `path`.
fn invalid_at(path: &Path, (line, column): (u64, u64), message: String) -> ConfigError {
    ConfigError::Invalid {
        path: path.to_path_buf(),
        line,
        column,
        message,
    }
}

/// The `registry:` section is required unless the cluster runs k3s's embedded registry
/// mirror, which needs a k3s release where it is GA.
fn check_registry(
    cluster: &Cluster,
    registry: Option<&Registry>,
    text: &str,
    path: &Path,
) -> Result<(), ConfigError> {
    let at = |location, message| invalid_at(path, location, message);
    if cluster.embedded_registry {
        let version = || key_location(text, "cluster", "k3s_version");
        crate::preflight::check_embedded_registry(&cluster.k3s_version)
            .map_err(|e| at(version(), e.to_string()))?;
        if registry.is_none() {
            crate::preflight::check_known_defects(
                &cluster.k3s_version,
                &[crate::preflight::Setting::EmbeddedRegistryOnly],
            )
            .map_err(|e| at(version(), e.to_string()))?;
        }
    } else if registry.is_none() {
        return Err(at(
            (1, 1),
            "missing field `registry`: the nodes need a registry to pull from (or set cluster.embedded_registry: true to share the servers' airgap images between the nodes)".into(),
        ));
    }
    if let Some(r) = registry
        && let crate::vocab::Host::Ip(std::net::IpAddr::V6(_)) = &r.host
        && let Some(message) = ipv6_registry_refusal(&r.host.to_string(), &cluster.k3s_version)
    {
        return Err(at(key_location(text, "registry", "host"), message));
    }
    Ok(())
}

/// Why a registry on the IPv6 literal `host` cannot serve the nodes of k3s `version`: its
/// containerd (1.x) cannot read the `hosts.toml` key k3s writes for such an endpoint
/// (k3s-io/k3s#9897), so every pull through the registry fails. `None` when it can, or
/// when the release is not one this check reads (the release's own check says so).
fn ipv6_registry_refusal(host: &str, version: &str) -> Option<String> {
    let (major, first_v2, source) = crate::preflight::release_containerd(version).ok()?;
    if major >= 2 {
        return None;
    }
    let newer = match first_v2 {
        Some(first) => format!("k3s {first} or newer on its line (containerd 2.x)"),
        None => "a k3s release of the 1.31 line from v1.31.6+k3s1, of the 1.32 line from v1.32.2+k3s1, or any later line (containerd 2.x)".to_string(),
    };
    Some(format!(
        "registry.host {host} is an IPv6 address, and k3s {version} runs containerd 1.x ({source}), which cannot read the hosts.toml key k3s writes for an IPv6 endpoint (k3s-io/k3s#9897): every pull through the registry would fail. Use {newer}, or give the registry a DNS name the nodes resolve to that address (registry.host: registry.example, with registry.sans listing the address)"
    ))
}

/// Why a node cannot be the registry, and the ways out.
const REGISTRY_ELSEWHERE: &str = "a node cannot also be the cluster's registry: the registry must already serve every image when the nodes first boot, and nothing on a node installs or starts one before k3s. Run the registry on another machine the nodes reach (registry.host its address), or leave out registry: and set cluster.embedded_registry: true, so the servers carry the images and the nodes share them";

/// Addresses that each look fine alone but do not fit together: the gateway must be in
/// every node's subnet and of its family, and no node may have the gateway's or the
/// registry's address; the registry needs a real port.
fn check_addresses(
    registry: Option<&Registry>,
    network: &Network,
    nodes: &[Spanned<Node>],
    text: &str,
    path: &Path,
) -> Result<(), ConfigError> {
    let at = |location, message| invalid_at(path, location, message);
    if registry.is_some_and(|r| r.port == 0) {
        return Err(at(
            key_location(text, "registry", "port"),
            "registry.port 0 is no port a node can connect to; give 1-65535".into(),
        ));
    }
    let registry_ip = match registry.map(|r| &r.host) {
        Some(Host::Ip(ip)) => Some(*ip),
        _ => None,
    };
    for node in nodes {
        let (n, loc) = (&node.value, &node.referenced);
        let here = (loc.line(), loc.column());
        let name = n.name.as_str();
        if let Some(gw) = network.gateway {
            let family = |ip: IpAddr| if ip.is_ipv4() { "IPv4" } else { "IPv6" };
            if gw.is_ipv4() != n.address.ip.is_ipv4() {
                return Err(at(
                    here,
                    format!(
                        "node {name:?} has an {} address ({}) but network.gateway {gw} is {}",
                        family(n.address.ip),
                        n.address,
                        family(gw)
                    ),
                ));
            }
            if gw == n.address.ip {
                return Err(at(
                    here,
                    format!("node {name:?} has the gateway's address {gw}"),
                ));
            }
            if !n.address.contains(gw) {
                return Err(at(
                    here,
                    format!(
                        "network.gateway {gw} is outside node {name:?}'s subnet {}; the node could not reach it",
                        n.address
                    ),
                ));
            }
        }
        if registry_ip == Some(n.address.ip) {
            return Err(at(
                here,
                format!(
                    "node {name:?} has the registry's address {}; {}",
                    n.address.ip, REGISTRY_ELSEWHERE
                ),
            ));
        }
        // By name too: the node's host name, or a name under it (`server1.lab.example`).
        if let Some(Host::Name(host)) = registry.map(|r| &r.host) {
            let host = host.to_ascii_lowercase();
            let node = name.to_ascii_lowercase();
            if host == node || host.starts_with(&format!("{node}.")) {
                return Err(at(
                    key_location(text, "registry", "host"),
                    format!(
                        "registry.host {host} names node {name:?}; {}",
                        REGISTRY_ELSEWHERE
                    ),
                ));
            }
        }
    }
    if let Some(gw) = network.gateway
        && let Some(why) = unusable_host(gw)
    {
        return Err(at(
            key_location(text, "network", "gateway"),
            format!("network.gateway {gw} is {why}"),
        ));
    }
    Ok(())
}

/// Refuses what the YAML reader would otherwise accept or describe poorly: a second
/// document (a `---` line part-way), and tags (`!!binary`, `!custom`), which a seedforge
/// config never needs and which change how a value is read (or are silently dropped).
fn check_yaml_shape(text: &str, path: &Path) -> Result<(), ConfigError> {
    use serde_saphyr::granit_parser::{Event, Parser};
    let at = |span: &serde_saphyr::granit_parser::Span, message: String| ConfigError::Invalid {
        path: path.to_path_buf(),
        line: span.start.line() as u64,
        column: span.start.col() as u64 + 1,
        message,
    };
    let mut documents = 0;
    for event in Parser::new_from_str(text) {
        // Syntax errors are the YAML reader's to report, with its own words.
        let Ok((event, span)) = event else { break };
        let tag = match &event {
            Event::DocumentStart(..) => {
                documents += 1;
                if documents > 1 {
                    return Err(at(
                        &span,
                        "a second YAML document starts here; a seedforge config is one document (remove the `---` line, or keep each config in its own file)".into(),
                    ));
                }
                None
            }
            Event::Scalar(_, _, _, tag)
            | Event::SequenceStart(_, _, tag)
            | Event::MappingStart(_, _, tag) => tag.as_ref(),
            _ => None,
        };
        if let Some(tag) = tag {
            return Err(at(
                &span,
                format!(
                    "YAML tag `{tag}`: tags are not part of a seedforge config; write the plain value"
                ),
            ));
        }
    }
    Ok(())
}

/// Turns a YAML error into `file:line:column: message`, with the parser's own
/// "at line L, column C" suffix removed since the prefix says it.
fn yaml_error(path: &Path, e: &serde_saphyr::Error) -> ConfigError {
    let text = e.to_string();
    let message = match text.rfind(" at line ") {
        Some(i) => text[..i].to_string(),
        None => text,
    };
    let (line, column) = e.location().map_or((1, 1), |l| (l.line(), l.column()));
    ConfigError::Invalid {
        path: path.to_path_buf(),
        line,
        column,
        message,
    }
}

#[cfg(test)]
mod tests;
