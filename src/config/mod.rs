//! `seedforge.yaml`: the one file that describes a cluster's first boot.
//!
//! Parsing is strict because a config that means something other than what its author
//! intended breaks clusters far from the desk it was written at: unknown keys, duplicate
//! keys, YAML 1.1 booleans (`yes`, `on`) and unquoted strings that look like numbers
//! (`1.10`) are all errors. Every error names the file, line and column.
//!
//! Secrets (the k3s join token, registry passwords) can only be given indirectly, as
//! `{env: NAME}` or `{file: PATH}`, so the config itself can be committed and logged.

use crate::oci::Platform;
use crate::oci::archive::{ArchiveFormat, CompressionSetting};
use serde::Deserialize;
use serde::de;
use serde_saphyr::Spanned;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

mod autoinstall;
mod line_endings;
mod positions;
mod registry;
mod seal;
mod settings;
pub mod size;
mod sources;
mod strict;

pub use autoinstall::{Autoinstall, SshKey, StorageLayout, Username, check_password_hash};
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
            ConfigError::Read { path, .. } | ConfigError::Secret { path, .. } => Place::file(path),
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

/// `cluster:`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cluster {
    /// Cluster name: a DNS label, used in artifact names.
    pub name: DnsLabel,
    /// The k3s release the cluster runs (`v1.33.1+k3s1`).
    #[serde(deserialize_with = "k3s_release")]
    pub k3s_version: String,
    /// The join token nodes share.
    #[serde(default)]
    pub token: Option<Secret>,
    /// The pause (pod sandbox) image the nodes use; default: the release's own.
    #[serde(default)]
    pub pause_image: Option<ImageRef>,
    /// Packaged components switched off (k3s `--disable`): their images are not required.
    #[serde(default)]
    pub disable: Vec<Component>,
    /// k3s's embedded registry mirror (`embedded-registry: true` on the servers): only the
    /// servers' seeds carry the airgap archives, and every node pulls what it lacks from
    /// the others.
    #[serde(default)]
    pub embedded_registry: bool,
    /// A node's bootstrap applies a payload whose k3s is older than the k3s the node runs
    /// (otherwise it refuses it, with nothing installed).
    #[serde(default)]
    pub allow_downgrade: bool,
    /// The k3s release's own image list (`k3s-images.txt`), as written: the exact image
    /// check uses it instead of the list this build carries (resolved in
    /// [`Config::release_images`]).
    #[serde(default)]
    pub release_images: Option<Spanned<LinuxPath>>,
}

/// A k3s release name, checked while parsing so a bad one is reported at its line.
fn k3s_release<'de, D: de::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = String::deserialize(d)?;
    crate::preflight::default_pause_image(&s).map_err(de::Error::custom)?;
    Ok(s)
}

/// An image reference in the config, normalised as Docker does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef(pub crate::image::Reference);

impl<'de> Deserialize<'de> for ImageRef {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        crate::image::Reference::parse(&s)
            .map(ImageRef)
            .map_err(de::Error::custom)
    }
}

/// A k3s packaged component that can be disabled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Component(pub String);

impl<'de> Deserialize<'de> for Component {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if crate::preflight::DISABLEABLE.contains(&s.as_str()) {
            Ok(Component(s))
        } else {
            Err(de::Error::custom(format!(
                "unknown component {s:?}; one of {}",
                crate::preflight::DISABLEABLE.join(", ")
            )))
        }
    }
}

/// `airgap:` — the k3s airgap image archives.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Airgap {
    /// `oci` or `docker`.
    #[serde(default = "default_airgap_format")]
    pub format: ArchiveFormat,
    /// `auto` (the default: plain `.tar` when every layer is compressed already, else
    /// `.tar.zst`), `none`, `gzip` or `zstd`.
    #[serde(default = "default_airgap_compression")]
    pub compression: CompressionSetting,
    /// Compression level: zstd 1-19 (default 3), gzip 1-9 (default 6).
    #[serde(default)]
    pub level: Option<Spanned<i32>>,
    /// Which images the archives (and so every seed) carry.
    #[serde(default)]
    pub images: AirgapImages,
    /// Which images the agents' seeds carry: `system` gives them an archive of their own
    /// with only what k3s needs itself (the servers keep the whole set).
    #[serde(default)]
    pub agents: AirgapImages,
}

/// `airgap.images`: which listed images go into the airgap archives.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AirgapImages {
    /// Every listed image (the default).
    #[default]
    All,
    /// Only the images k3s needs itself (its packaged components and the pause image);
    /// the others are in the registry alone, pulled by the nodes when a pod needs them.
    System,
}

impl Default for Airgap {
    fn default() -> Self {
        Airgap {
            format: default_airgap_format(),
            compression: default_airgap_compression(),
            level: None,
            images: AirgapImages::All,
            agents: AirgapImages::All,
        }
    }
}

fn default_airgap_format() -> ArchiveFormat {
    ArchiveFormat::Oci
}

fn default_airgap_compression() -> CompressionSetting {
    CompressionSetting::Auto
}

/// `images:`
#[derive(Debug, Clone)]
pub struct Images {
    /// Image list files, resolved against the config's directory, with where they were named.
    pub lists: Vec<(PathBuf, Location)>,
    /// Platforms to keep.
    pub platforms: Vec<Platform>,
    /// Images copied at the same time.
    pub concurrency: usize,
    /// Whether the signatures, attestations, SBOMs and referrers kept beside each registry
    /// image are carried with it (`images.signatures`, default `carry`).
    pub signatures: Signatures,
    /// The signature policy (`images.verify`).
    pub verify: Option<Verify>,
}

/// `images.signatures:`
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Signatures {
    /// Look for them and store them with the image (the default).
    #[default]
    Carry,
    /// Copy the images only.
    Drop,
}

/// `images.verify:` which keys an image's signatures are checked against, and when a
/// signature is required.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Verify {
    /// Public keys (PEM: cosign.pub), relative to the config's directory.
    pub keys: Vec<Spanned<LinuxPath>>,
    /// `always`, `if-present` or `never` (the default).
    #[serde(default)]
    pub require: Require,
}

impl Config {
    /// The signature policy of `images.verify` with its keys read (each as the config
    /// names it); the default policy (nothing checked) without one.
    pub fn signature_policy(
        &self,
    ) -> Result<crate::oci::mirror::policy::SignaturePolicy, ConfigError> {
        use crate::oci::mirror::policy::{PolicyKey, RequireSignature, SignaturePolicy};
        let Some(v) = &self.images.verify else {
            return Ok(SignaturePolicy::default());
        };
        let mut keys = Vec::new();
        for k in &v.keys {
            let key =
                crate::trust::keys::PublicKey::read(&self.dir.join(&*k.value)).map_err(|e| {
                    ConfigError::Invalid {
                        path: self.path.clone(),
                        line: k.referenced.line(),
                        column: k.referenced.column(),
                        message: format!("images.verify.keys: {e}"),
                    }
                })?;
            keys.push(PolicyKey {
                name: k.value.display().to_string(),
                key,
            });
        }
        Ok(SignaturePolicy {
            keys: std::sync::Arc::new(keys),
            require: match v.require {
                Require::Always => RequireSignature::Always,
                Require::IfPresent => RequireSignature::IfPresent,
                Require::Never => RequireSignature::Never,
            },
        })
    }
}

/// When an image must carry a signature verified by one of the keys.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Require {
    /// Every image: one without a signature verified by a key is refused.
    Always,
    /// An image with signatures: one of them must verify; an image without any passes.
    IfPresent,
    /// Signatures are carried, not checked.
    #[default]
    Never,
}

pub use crate::input::Location;
use crate::vocab::unusable_host;
pub use crate::vocab::{Cidr, DnsLabel, Host, InstallMode, Role, Secret, SecretError, SecretValue};
use crate::winpath::LinuxPath;

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
}

/// `network:`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Network {
    /// Default gateway for the nodes.
    #[serde(default, deserialize_with = "crate::vocab::ip_field::optional")]
    pub gateway: Option<IpAddr>,
    /// DNS servers for the nodes.
    #[serde(default, deserialize_with = "crate::vocab::ip_field::list")]
    pub nameservers: Vec<IpAddr>,
    /// The interface the static address goes on, as a netplan name match (glob allowed).
    #[serde(default = "default_interface")]
    pub interface: String,
}

impl Default for Network {
    fn default() -> Self {
        Network {
            gateway: None,
            nameservers: Vec::new(),
            interface: default_interface(),
        }
    }
}

fn default_interface() -> String {
    "e*".to_string()
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
    verify: Option<Verify>,
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

    /// Checks that the files and folders the config names exist, pointing at the line
    /// that names a missing one (parsing alone does not touch the filesystem). Every
    /// missing input is named in one run, each at its own line: the first is the error's
    /// place, the others follow on lines of their own.
    fn check_paths(&self, text: &str) -> Result<(), ConfigError> {
        let positions = positions::Positions::of(text);
        let mut problems: Vec<(u64, u64, String)> = Vec::new();
        fn at_key(
            problems: &mut Vec<(u64, u64, String)>,
            positions: &positions::Positions,
            key: &str,
            message: String,
        ) {
            let (line, column) = positions.at(key);
            problems.push((line, column, message));
        }
        let exists = |path: &Path| std::fs::metadata(path).map(drop);
        for (list, loc) in &self.images.lists {
            if let Err(e) = exists(list) {
                problems.push((
                    loc.line,
                    loc.column,
                    format!("image list {}: {e}", list.display()),
                ));
            }
        }
        if let Some(seal) = &self.seal {
            // The private key may be absent where the public key keeps the signatures.
            let key = (seal.public_key.is_none() || self.dir.join(&*seal.key.value).exists())
                .then_some(&seal.key);
            for (field, path) in [
                ("seal.key", key),
                ("seal.password_file", key.and(seal.password_file.as_ref())),
                ("seal.public_key", seal.public_key.as_ref()),
            ] {
                if let Some(p) = path
                    && let Err(e) = crate::input::check_regular(&self.dir.join(&*p.value))
                {
                    problems.push((
                        p.referenced.line(),
                        p.referenced.column(),
                        format!("{field}: {e}"),
                    ));
                }
            }
        }
        // The signature policy's keys: each a public key seedforge can read.
        for key in self.images.verify.iter().flat_map(|v| v.keys.iter()) {
            if let Err(e) = crate::trust::keys::PublicKey::read(&self.dir.join(&*key.value)) {
                problems.push((
                    key.referenced.line(),
                    key.referenced.column(),
                    format!("images.verify.keys: {e}"),
                ));
            }
        }
        if let Some((list, loc)) = &self.release_images
            && let Err(e) = crate::input::check_regular(list)
        {
            problems.push((loc.line, loc.column, format!("cluster.release_images: {e}")));
        }
        // A folder or a FIFO given as a certificate or key passes `metadata` and fails
        // only when a step reads it: refused here, at the line that names it.
        let regular = |problems: &mut Vec<(u64, u64, String)>, path: &Path, key: &str| {
            if let Err(e) = crate::input::check_regular(path) {
                at_key(problems, &positions, key, format!("{key}: {e}"));
            }
        };
        if let Some(import) = self.registry.as_ref().and_then(|r| r.ca.import.as_ref()) {
            regular(
                &mut problems,
                &self.dir.join(&import.cert),
                "registry.ca.import.cert",
            );
            regular(
                &mut problems,
                &self.dir.join(&import.key),
                "registry.ca.import.key",
            );
        }
        for (i, r) in self.registries.iter().enumerate() {
            if let Some(ca) = &r.ca_file {
                regular(
                    &mut problems,
                    &self.dir.join(ca),
                    &format!("registries[{i}].ca_file"),
                );
            }
        }
        for (i, chart) in self.charts.iter().enumerate() {
            if let Some(values) = &chart.values {
                regular(&mut problems, values, &format!("charts[{i}].values"));
            }
        }
        // Secrets read from files: read only when a step needs them, so a missing one
        // would otherwise fail late and without its line.
        let secrets = [
            ("cluster.token", self.cluster.token.as_ref()),
            (
                "registry.auth.password",
                self.registry
                    .as_ref()
                    .and_then(|r| r.auth.as_ref())
                    .map(|a| &a.password),
            ),
        ];
        for (key, secret) in secrets {
            if let Some(Secret::File(file)) = secret {
                regular(&mut problems, &self.dir.join(file), &format!("{key}.file"));
            }
        }
        // Local package sources and base lists are read again by every build, `--offline`
        // included (the bundle is made from them): they travel with the config.
        const TRAVELS: &str =
            "every build, --offline too, reads it again: carry it with the config";
        for (i, b) in self.packages.iter().enumerate() {
            if let Some(base) = &b.base
                && let Err(e) = crate::input::check_regular(&self.dir.join(base))
            {
                at_key(
                    &mut problems,
                    &positions,
                    &format!("packages[{i}].base"),
                    format!("packages[{i}].base: {e}; {TRAVELS}"),
                );
            }
            for source in &b.sources {
                let crate::debs::PackageSource::Debs(paths) = source else {
                    continue;
                };
                for (j, p) in paths.iter().enumerate() {
                    let path = self.dir.join(p);
                    if let Err(e) = exists(&path) {
                        at_key(
                            &mut problems,
                            &positions,
                            &format!("packages[{i}].debs[{j}]"),
                            format!(
                                "packages[{i}].debs[{j}]: {}: {e}; {TRAVELS}",
                                path.display()
                            ),
                        );
                    }
                }
            }
        }
        for f in &self.files {
            if let crate::files::FileSource::Local(src) = &f.source {
                let path = self.dir.join(src);
                // A stat, not an open: an unchanged payload file is not even opened.
                if let Err(e) = exists(&path) {
                    problems.push((
                        f.location.line,
                        f.location.column,
                        format!("files: {}: source {}: {e}", f.name, path.display()),
                    ));
                }
            }
        }
        for (m, loc) in &self.manifests {
            if let Err(e) = exists(m) {
                problems.push((
                    loc.line,
                    loc.column,
                    format!("manifests: {}: {e}", m.display()),
                ));
            }
        }
        if let Some(dir) = &self.templates
            && !dir.is_dir()
        {
            // `templates` is a top-level key, so it starts a line.
            let line = text
                .lines()
                .position(|l| l.starts_with("templates:"))
                .map_or(1, |i| i as u64 + 1);
            problems.push((
                line,
                1,
                format!("templates: {} is not a directory", dir.display()),
            ));
        }
        let mut problems = problems.into_iter();
        let Some((line, column, mut message)) = problems.next() else {
            return Ok(());
        };
        for (l, c, m) in problems {
            message.push_str(&format!("\n{}:{l}:{c}: {m}", self.path.display()));
        }
        Err(ConfigError::Invalid {
            path: self.path.clone(),
            line,
            column,
            message,
        })
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
            nodes.push(node.value.clone());
        }
        check_registry(&raw.cluster, raw.registry.as_ref(), text, path)?;
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
        let charts: Vec<crate::charts::ChartConfig> = raw
            .charts
            .into_iter()
            .map(|c| {
                let at = Location {
                    line: c.referenced.line(),
                    column: c.referenced.column(),
                };
                crate::charts::ChartConfig::from_raw(c.value, &dir, at)
            })
            .collect();
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
            seeds: raw.seeds,
            packages: packages.map(|(_, b)| b).unwrap_or_default(),
            airgap: raw.airgap,
            airgap_level,
            path: path.to_path_buf(),
            output: dir.join(raw.output.as_deref().unwrap_or(Path::new("out"))),
            templates: raw.templates.as_deref().map(|t| dir.join(t)),
            dir,
            cluster: raw.cluster,
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
                verify: raw.images.verify,
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
    Ok(())
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
mod tests {
    use super::*;

    const GOOD: &str = "\
version: 1
cluster:
  name: lab
  k3s_version: v1.33.1+k3s1
  token: {env: LAB_TOKEN}
registry:
  host: 192.168.6.1
  port: 5000
images:
  lists: [images.txt]
  platforms: [linux/amd64, linux/arm64]
nodes:
  - name: s1
    role: server
    address: 192.168.6.10/24
  - name: a1
    role: agent
    address: 192.168.6.11/24
network:
  gateway: 192.168.6.1
  nameservers:
    - 192.168.6.1
";

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("conf/seedforge.yaml"))
    }

    fn error_at(text: &str) -> (u64, u64, String) {
        match parse(text) {
            Err(ConfigError::Invalid {
                line,
                column,
                message,
                ..
            }) => (line, column, message),
            other => panic!("expected an Invalid error, got {other:?}"),
        }
    }

    #[test]
    fn good_config_parses_with_defaults_resolved() {
        let c = parse(GOOD).unwrap();
        assert_eq!(c.cluster.name.as_str(), "lab");
        assert_eq!(
            c.registry.unwrap().host,
            Host::Ip("192.168.6.1".parse().unwrap())
        );
        assert!(!c.cluster.embedded_registry);
        assert_eq!(c.images.lists[0].0, Path::new("conf/images.txt"));
        assert_eq!(c.images.platforms.len(), 2);
        assert_eq!(c.images.concurrency, 4);
        assert_eq!(c.nodes[1].role, Role::Agent);
        assert_eq!(c.nodes[0].address.to_string(), "192.168.6.10/24");
        assert_eq!(c.output, Path::new("conf/out"));
        assert_eq!(c.cluster.token, Some(Secret::Env("LAB_TOKEN".into())));
    }

    #[test]
    fn unknown_key_names_line_and_column() {
        let text = GOOD.replace("  port: 5000\n", "  port: 5000\n  bogus: 1\n");
        let (line, column, message) = error_at(&text);
        assert_eq!((line, column), (9, 3), "{message}");
        assert!(message.contains("bogus"), "{message}");
        let rendered = parse(&text).unwrap_err().to_string();
        assert!(
            rendered.starts_with("conf/seedforge.yaml:9:3: "),
            "{rendered}"
        );
    }

    #[test]
    fn unsupported_version_points_at_it() {
        let (line, column, message) = error_at(&GOOD.replace("version: 1", "version: 2"));
        assert_eq!((line, column), (1, 10));
        assert!(message.contains("version 2"), "{message}");
    }

    #[test]
    fn yaml_1_1_booleans_and_unquoted_number_strings_are_rejected() {
        // `k3s_version: 1.33` would silently become the string "1.33" in lax parsers.
        let (line, _, message) = error_at(&GOOD.replace("v1.33.1+k3s1", "1.33"));
        assert_eq!(line, 4, "{message}");
        let text = GOOD.replace("  port: 5000\n", "  port: yes\n");
        assert_eq!(error_at(&text).0, 8);
    }

    #[test]
    fn duplicate_keys_are_errors() {
        let text = GOOD.replace("  port: 5000\n", "  port: 5000\n  port: 5001\n");
        let (line, _, message) = error_at(&text);
        assert_eq!(line, 9);
        assert!(message.contains("duplicate"), "{message}");
    }

    #[test]
    fn bad_values_name_their_position() {
        let cases = [
            ("192.168.6.10/24", "192.168.6.10/40", 15),
            ("192.168.6.10/24", "192.168.6.300/24", 15),
            ("host: 192.168.6.1", "host: https://x:5000", 7),
            ("linux/arm64", "linux", 11),
            ("name: s1", "name: S_1", 13),
            ("role: agent", "role: worker", 17),
            ("  gateway: 192.168.6.1", "  gateway: 192.168.6", 20),
        ];
        for (from, to, want_line) in cases {
            let (line, _, message) = error_at(&GOOD.replacen(from, to, 1));
            assert_eq!(line, want_line, "{from} -> {to}: {message}");
        }
    }

    #[test]
    fn duplicate_node_names_and_addresses_are_errors() {
        let text = GOOD.replace("name: a1", "name: s1");
        let (line, _, message) = error_at(&text);
        assert_eq!(line, 16);
        assert!(message.contains("used twice"), "{message}");
        let text = GOOD.replace("192.168.6.11/24", "192.168.6.10/16");
        assert!(error_at(&text).2.contains("same address"));
    }

    #[test]
    fn nodes_need_a_server() {
        let text = GOOD.replace("role: server", "role: agent");
        assert!(error_at(&text).2.contains("role: server"));
    }

    #[test]
    fn empty_lists_and_bad_concurrency_are_errors() {
        assert!(
            error_at(&GOOD.replace("[images.txt]", "[]"))
                .2
                .contains("at least one")
        );
        let text = GOOD.replace("  platforms:", "  concurrency: 0\n  platforms:");
        assert!(error_at(&text).2.contains("between 1 and 64"));
    }

    #[test]
    fn secrets_must_be_indirect() {
        let (line, _, message) = error_at(&GOOD.replace("{env: LAB_TOKEN}", "K10abc::server:def"));
        assert_eq!(line, 5);
        assert!(message.contains("inline"), "{message}");
        assert!(!message.contains("K10abc"), "the secret leaked: {message}");
        for bad in ["{}", "{env: A, file: b}", "{vault: x}", "{env: ''}"] {
            let text = GOOD.replace("{env: LAB_TOKEN}", bad);
            assert!(parse(&text).is_err(), "{bad} accepted");
        }
        let c = parse(&GOOD.replace("{env: LAB_TOKEN}", "{file: token.txt}")).unwrap();
        assert_eq!(c.cluster.token, Some(Secret::File("token.txt".into())));
    }

    #[test]
    fn secrets_resolve_without_leaking() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("seedforge.yaml");
        std::fs::write(dir.path().join("token"), "s3cret\n").unwrap();
        let value = Secret::File("token".into())
            .resolve("cluster.token", &config)
            .unwrap();
        assert_eq!(value.expose(), "s3cret");
        assert!(!format!("{value:?}").contains("s3cret"));
        let missing = Secret::Env("SEEDFORGE_TEST_SURELY_UNSET".into())
            .resolve("cluster.token", &config)
            .unwrap_err()
            .to_string();
        assert!(missing.contains("SEEDFORGE_TEST_SURELY_UNSET"), "{missing}");
        let empty_file = dir.path().join("empty");
        std::fs::write(&empty_file, "\n").unwrap();
        assert!(Secret::File("empty".into()).resolve("t", &config).is_err());
    }

    #[test]
    fn registry_pki_keys_parse_and_bad_values_name_their_line() {
        let text = GOOD.replace(
            "  port: 5000\n",
            "  port: 5000\n  sans: [registry.lab, 10.0.0.5]\n  ca:\n    common_name: Lab CA\n    validity_days: 7300\n    import: {cert: ca.crt, key: ca.key}\n  certificate:\n    validity_days: 400\n  node_ca_path: /usr/local/share/ca-certificates/lab.crt\n  auth:\n    username: puller\n    password: {env: LAB_PULL}\n  rewrite:\n    \"^rancher/(.*)\": \"lab/rancher/$1\"\n",
        );
        let c = parse(&text).unwrap();
        let r = c.registry.as_ref().unwrap();
        assert_eq!(r.sans.len(), 2);
        assert_eq!(r.ca.validity_days, Some(ValidityDays(7300)));
        assert_eq!(r.certificate.validity_days, Some(ValidityDays(400)));
        assert_eq!(
            r.ca.import.as_ref().unwrap().key.as_path(),
            Path::new("ca.key")
        );
        assert_eq!(r.node_ca_path.0, "/usr/local/share/ca-certificates/lab.crt");
        assert_eq!(
            r.auth.as_ref().unwrap().password,
            Secret::Env("LAB_PULL".into())
        );
        assert_eq!(r.rewrite["^rancher/(.*)"], "lab/rancher/$1");
        assert!(!r.plain_http);
        let d = parse(GOOD).unwrap().registry.unwrap();
        assert_eq!(d.node_ca_path.0, DEFAULT_NODE_CA_PATH);
        for (from, to, want) in [
            ("validity_days: 400", "validity_days: 0", 15),
            ("node_ca_path: /usr", "node_ca_path: usr", 16),
            ("[registry.lab, 10.0.0.5]", "[\"http://x\"]", 9),
            ("    password: {env: LAB_PULL}", "    password: hunter2", 19),
            ("common_name: Lab CA", "common_name: \"\"", 11),
        ] {
            let (line, _, message) = error_at(&text.replace(from, to));
            assert_eq!(line, want, "{from} -> {to}: {message}");
        }
        let (_, _, message) = error_at(&text.replace("  certificate:", "  certificat:"));
        assert!(message.contains("certificat"), "{message}");
    }

    #[test]
    fn ipv6_and_dns_registry_hosts() {
        let c = parse(&GOOD.replace("host: 192.168.6.1", "host: \"fd00::1\"")).unwrap();
        assert_eq!(c.registry.unwrap().host.to_string(), "[fd00::1]");
        let c = parse(&GOOD.replace("host: 192.168.6.1", "host: Registry.Lab")).unwrap();
        assert_eq!(c.registry.unwrap().host.to_string(), "registry.lab");
    }

    /// GOOD without its `registry:` section (lines 6-8).
    fn without_registry(text: &str) -> String {
        text.replace("registry:\n  host: 192.168.6.1\n  port: 5000\n", "")
    }

    #[test]
    fn embedded_registry_parses_and_makes_the_registry_optional() {
        let with = GOOD.replace("  token:", "  embedded_registry: true\n  token:");
        let c = parse(&with).unwrap();
        assert!(c.cluster.embedded_registry);
        assert!(c.registry.is_some(), "a registry section stays usable");
        let c = parse(&without_registry(&with)).unwrap();
        assert!(c.cluster.embedded_registry);
        assert!(c.registry.is_none());
        let c = parse(&GOOD.replace("  token:", "  embedded_registry: false\n  token:")).unwrap();
        assert!(!c.cluster.embedded_registry);
        // Strict as every boolean: YAML 1.1's `yes` is refused at its line.
        let (line, _, message) =
            error_at(&GOOD.replace("  token:", "  embedded_registry: yes\n  token:"));
        assert_eq!(line, 5, "{message}");
    }

    #[test]
    fn allow_downgrade_is_off_unless_set_and_strict() {
        assert!(!parse(GOOD).unwrap().cluster.allow_downgrade);
        let with = GOOD.replace("  token:", "  allow_downgrade: true\n  token:");
        assert!(parse(&with).unwrap().cluster.allow_downgrade);
        let (line, _, message) =
            error_at(&GOOD.replace("  token:", "  allow_downgrade: \"true\"\n  token:"));
        assert_eq!(line, 5, "{message}");
        // A misspelt key stays an error, naming the one meant.
        let (line, _, message) =
            error_at(&GOOD.replace("  token:", "  allow_downgrades: true\n  token:"));
        assert_eq!(line, 5, "{message}");
        assert!(message.contains("allow_downgrade"), "{message}");
    }

    #[test]
    fn without_embedded_registry_the_registry_section_is_required() {
        let (line, _, message) = error_at(&without_registry(GOOD));
        assert_eq!(line, 1, "{message}");
        assert!(message.contains("missing field `registry`"), "{message}");
        assert!(message.contains("embedded_registry"), "{message}");
    }

    #[test]
    fn embedded_registry_on_a_release_before_its_ga_names_the_version_line() {
        let text = GOOD
            .replace("v1.33.1+k3s1", "v1.30.7+k3s1")
            .replace("  token:", "  embedded_registry: true\n  token:");
        let (line, column, message) = error_at(&text);
        assert_eq!((line, column), (4, 3), "{message}");
        assert!(message.contains("v1.30.7+k3s1"), "{message}");
        assert!(message.contains("needs k3s v1.30.8+k3s1"), "{message}");
        let rendered = parse(&text).unwrap_err().to_string();
        assert!(
            rendered.starts_with("conf/seedforge.yaml:4:3: "),
            "{rendered}"
        );
        // The same release without the mirror is fine; the line's first GA release too.
        parse(&GOOD.replace("v1.33.1+k3s1", "v1.30.7+k3s1")).unwrap();
        parse(&text.replace("v1.30.7+k3s1", "v1.30.8+k3s1")).unwrap();
    }

    #[test]
    fn quoted_booleans_and_numbers_are_refused_at_their_position() {
        let text = GOOD.replace("  token:", "  embedded_registry: \"true\"\n  token:");
        let (line, column, message) = error_at(&text);
        assert_eq!((line, column), (5, 22), "{message}");
        assert_eq!(
            message,
            "expected a boolean, found the string \"true\" (remove the quotes)"
        );
        let text = GOOD.replace("  port: 5000", "  port: '5000'");
        let (line, column, message) = error_at(&text);
        assert_eq!((line, column), (8, 9), "{message}");
        assert!(
            message.contains("expected an integer, found the string \"5000\" (remove the quotes)"),
            "{message}"
        );
        for (key, value) in [
            ("version", "\"1\""),
            ("source_date_epoch", "\"1700000000\""),
        ] {
            let text = if key == "version" {
                GOOD.replace("version: 1", &format!("version: {value}"))
            } else {
                format!("{GOOD}{key}: {value}\n")
            };
            let (_, _, message) = error_at(&text);
            assert!(message.contains("(remove the quotes)"), "{key}: {message}");
        }
        let text = format!("{GOOD}airgap:\n  compression: zstd\n  level: \"3\"\n");
        let (line, column, message) = error_at(&text);
        assert_eq!((line, column), (25, 10), "{message}");
        assert!(message.contains("expected an integer"), "{message}");
        let text = GOOD.replace("  platforms:", "  concurrency: \"8\"\n  platforms:");
        assert!(error_at(&text).2.contains("(remove the quotes)"));
        let text = GOOD.replace("  port: 5000", "  port: 5000\n  plain_http: 'false'");
        assert!(error_at(&text).2.contains("found the string \"false\""));
        // Unquoted, the same values are read.
        let c = parse(&format!("{GOOD}airgap:\n  compression: zstd\n  level: 3\n")).unwrap();
        assert_eq!(c.airgap_level, 3);
        // Strings stay strings when quoted: a name that looks like a number.
        parse(&GOOD.replace("name: s1", "name: \"s1\"")).unwrap();
    }

    #[test]
    fn registries_entries_are_checked_at_their_line() {
        let with = |entries: &str| format!("{GOOD}registries:\n{entries}");
        // Lines: GOOD is 22 lines, `registries:` the 23rd.
        let twice = with(
            "  - host: registry.example:5000\n    insecure: true\n  - host: Registry.example:5000\n",
        );
        let (line, column, message) = error_at(&twice);
        assert_eq!((line, column), (26, 11), "{message}");
        assert!(
            message.contains("listed twice (first at line 24)"),
            "{message}"
        );
        let (line, _, message) = error_at(&with(
            "  - host: registry.example\n    password: {env: PULL}\n",
        ));
        assert_eq!(line, 25, "{message}");
        assert!(message.contains("password without a username"), "{message}");
        for (host, why) in [
            ("registry.example:0", "port 0"),
            ("\"\"", "empty"),
            ("registry.example/path", "without a path"),
        ] {
            let (line, _, message) = error_at(&with(&format!("  - host: {host}\n")));
            assert_eq!(line, 24, "{host}: {message}");
            assert!(message.contains(why), "{host}: {message}");
        }
        let c = parse(&with(
            "  - host: a.example:5000\n    username: u\n    password: {env: P}\n  - host: https://b.example/v2/\n",
        ))
        .unwrap();
        assert_eq!(c.registries.len(), 2);
    }

    #[test]
    fn package_repository_urls_are_checked_at_their_line() {
        let with = |repos: &str| {
            format!(
                "{GOOD}packages:\n  - name: ops\n    packages: [jq]\n    repo: {{url: http://a/debian, suite: bookworm}}\n    repos:\n{repos}"
            )
        };
        for (url, why) in [
            ("ftp://a/debian", "only file:, http:// and https://"),
            ("\"\"", "empty"),
            ("http://a:0/debian", "port"),
        ] {
            let text = with(&format!(
                "      - {{url: http://b/debian, suite: bookworm}}\n      - url: {url}\n        suite: bookworm\n"
            ));
            let (line, column, message) = error_at(&text);
            assert_eq!((line, column), (29, 14), "{url}: {message}");
            assert!(
                message.starts_with("packages[0].repos[1].url: "),
                "{message}"
            );
            assert!(message.contains(why), "{url}: {message}");
        }
        let text = with("      - {url: http://b/debian, suite: bookworm}\n")
            .replace("url: http://a/debian", "url: ftp://a/debian");
        let (line, column, message) = error_at(&text);
        assert_eq!((line, column), (26, 17), "{message}");
        assert!(message.starts_with("packages[0].repo.url: "), "{message}");
        parse(&with(
            "      - {url: \"file:///srv/mirror\", suite: bookworm}\n",
        ))
        .unwrap();
    }

    #[test]
    fn numbers_of_the_wrong_kind_or_range_are_refused_at_the_value() {
        for (value, want) in [
            ("70000", "70000 is out of range: expected u16 (0..=65535)"),
            ("-1", "-1 is out of range"),
            ("1.5", "expected an integer, found the number 1.5"),
            ("true", "expected an integer, found the boolean true"),
            ("[1]", "expected an integer, found a list"),
            ("five", "expected an integer, found \"five\""),
        ] {
            let (line, column, message) =
                error_at(&GOOD.replace("port: 5000", &format!("port: {value}")));
            assert_eq!((line, column), (8, 9), "{value}: {message}");
            assert!(message.contains(want), "{value}: {message}");
        }
        let (_, _, message) =
            error_at(&GOOD.replace("  port: 5000", "  port: 5000\n  plain_http: 1"));
        assert!(
            message.contains("expected a boolean, found the number 1"),
            "{message}"
        );
    }

    #[test]
    fn a_payload_url_with_port_0_is_refused_at_its_line() {
        let text = format!(
            "{GOOD}files:\n  - name: bin/k3s\n    source: http://mirror.example:0/k3s\n    sha256: \"{}\"\n",
            "0".repeat(64)
        );
        let (line, column, message) = error_at(&text);
        assert_eq!((line, column), (25, 13), "{message}");
        assert!(
            message.contains("files[0].source: the URL's port \"0\""),
            "{message}"
        );
        parse(&text.replace(":0/", ":8080/")).unwrap();
    }

    #[test]
    fn charts_and_manifests_parse_with_defaults_and_bad_ones_name_their_position() {
        let with = |charts: &str| format!("{GOOD}charts:\n{charts}");
        // GOOD is 22 lines: `charts:` is line 23, the first entry line 24.
        let c = parse(&format!(
            "{}manifests:\n  - manifests/\n  - extra.yaml\n",
            with("  - name: demo\n    repo: https://charts.example.com/\n    version: 1.2.3\n  - name: cni\n    repo: oci://registry.example:5000/charts\n    chart: cilium\n    version: v1.16.0\n    namespace: kube-system\n    values: cni/values.yaml\n")
        ))
        .unwrap();
        let (demo, cni) = (&c.charts[0], &c.charts[1]);
        assert_eq!(demo.chart, "demo");
        assert_eq!(demo.namespace, "default");
        assert_eq!(demo.values, None);
        assert_eq!(
            demo.repo,
            crate::charts::ChartRepo::Http("https://charts.example.com".into())
        );
        assert_eq!(demo.file_name(), "demo-1.2.3.tgz");
        assert_eq!(cni.chart, "cilium");
        assert_eq!(cni.namespace, "kube-system");
        assert_eq!(
            cni.values.as_deref(),
            Some(Path::new("conf/cni/values.yaml"))
        );
        assert_eq!(c.manifests[0].0, Path::new("conf/manifests/"));
        assert_eq!(c.manifests[1].1.line, 35);
        let entry = "  - name: demo\n    repo: https://charts.example.com\n    version: 1.2.3\n";
        for (from, to, want, why) in [
            ("version: 1.2.3", "version: ^1.2.0", (26, 14), "is a range"),
            (
                "version: 1.2.3",
                "version: latest",
                (26, 14),
                "not a version",
            ),
            ("version: 1.2.3", "version: \"\"", (26, 14), "is empty"),
            ("version: 1.2.3", "version: 1.2.x", (26, 14), "is a range"),
            ("name: demo", "name: Demo_App", (24, 11), "not a valid name"),
            (
                "https://charts.example.com",
                "ftp://charts",
                (25, 11),
                "https://",
            ),
        ] {
            let (line, column, message) = error_at(&with(&entry.replace(from, to)));
            assert_eq!((line, column), want, "{to}: {message}");
            assert!(message.contains(why), "{to}: {message}");
        }
        let (line, _, message) = error_at(&with(&format!("{entry}{entry}")));
        assert_eq!(line, 27, "{message}");
        assert!(
            message.contains("used twice (first at line 24)"),
            "{message}"
        );
        let (line, _, message) = error_at(&with(
            &entry.replace("    version:", "    versoin: x\n    version:"),
        ));
        assert_eq!(line, 26, "{message}");
        let (_, _, message) = error_at(&with(entry.strip_suffix("    version: 1.2.3\n").unwrap()));
        assert!(message.contains("version"), "{message}");
    }

    #[test]
    fn every_path_field_refuses_a_windows_path_naming_the_field_at_its_value() {
        let registry = "registry:\n  host: 192.168.6.1\n  port: 5000\n";
        let chart =
            "charts:\n  - name: demo\n    repo: https://charts.example\n    version: 1.2.3\n";
        for (from, to, field, at) in [
            (
                registry,
                "registry:\n  host: 192.168.6.1\n  port: 5000\n  ca:\n    import: {cert: ca.crt, key: 'C:\\ca.key'}\n",
                "registry.ca.import.key",
                (10, 33),
            ),
            (
                "  token: {env: LAB_TOKEN}",
                "  token: {file: 'lab\\token'}",
                "cluster.token.file",
                (5, 17),
            ),
        ] {
            let (line, column, message) = error_at(&GOOD.replace(from, to));
            assert_eq!((line, column), at, "{field}: {message}");
            assert!(message.starts_with(&format!("{field}: '")), "{message}");
            assert!(message.contains("Windows"), "{message}");
        }
        for (extra, field, at) in [
            (
                format!("{chart}    values: 'C:\\demo\\values.yaml'\n"),
                "charts[0].values",
                (27, 13),
            ),
            (
                "manifests:\n  - ok.yaml\n  - '\\\\server\\share\\m.yaml'\n".to_string(),
                "manifests[1]",
                (25, 5),
            ),
            ("output: 'c:out'\n".to_string(), "output", (23, 9)),
        ] {
            let (line, column, message) = error_at(&format!("{GOOD}{extra}"));
            assert_eq!((line, column), at, "{field}: {message}");
            assert!(message.starts_with(&format!("{field}: '")), "{message}");
        }
        // A Linux path with a colon is no Windows path.
        parse(&format!("{GOOD}{chart}    values: ./c:values.yaml\n")).unwrap();
    }

    #[test]
    fn missing_chart_values_and_manifests_are_refused_at_their_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("images.txt"), "").unwrap();
        let config = dir.path().join("seedforge.yaml");
        let base = format!(
            "{GOOD}charts:\n  - name: demo\n    repo: https://charts.example.com\n    version: 1.2.3\n    values: demo.yaml\nmanifests:\n  - manifests\n"
        );
        std::fs::write(&config, &base).unwrap();
        let err = Config::load(&config).unwrap_err().to_string();
        assert!(err.contains("seedforge.yaml:27:"), "{err}");
        assert!(err.contains("charts[0].values"), "{err}");
        std::fs::write(dir.path().join("demo.yaml"), "replicaCount: 2\n").unwrap();
        let err = Config::load(&config).unwrap_err().to_string();
        assert!(err.contains("seedforge.yaml:29:5: manifests: "), "{err}");
        std::fs::create_dir(dir.path().join("manifests")).unwrap();
        let c = Config::load(&config).unwrap();
        assert_eq!(c.charts.len(), 1);
    }
}
