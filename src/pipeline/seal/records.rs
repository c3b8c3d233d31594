//! What the seal records: `manifest.json`'s types, as the seal writes them and as
//! readers take them back (`ManifestView`).

use super::*;

/// `manifest.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Manifest {
    /// Format version ([`MANIFEST_VERSION`]).
    pub manifest_version: u32,
    /// The seedforge that wrote it.
    pub seedforge_version: String,
    /// The commit that seedforge was built from (12 hex digits, or "unknown").
    pub seedforge_commit: String,
    /// The source date every artifact carries, if one was given, and where it came from
    /// (an offline build keeps it, [`SourceDate`]).
    #[serde(flatten)]
    pub source_date: SourceDate,
    /// The cluster.
    pub cluster: ClusterRecord,
    /// The output's site identity (`site.json`, [`super::site`]); absent in an output
    /// that has none yet.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
    /// What went in.
    pub inputs: Inputs,
    /// The registry the nodes pull from, and the names its certificate must cover; absent
    /// when the cluster has none (k3s's embedded registry mirror alone).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registry: Option<RegistryRecord>,
    /// Every image, with the digest it resolved to.
    pub images: Vec<ImageRecord>,
    /// The package bundles.
    pub packages: Vec<PackageRecord>,
    /// The `files:` payload.
    pub files: Vec<FileRecord>,
    /// The tools that made the artifacts.
    pub tools: Vec<Tool>,
    /// The public keys the images' signatures were checked against (`images.verify`), as
    /// recorded under `keys/images/`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub image_keys: Vec<KeyRecord>,
    /// The trusted root and identities the images' keyless signatures were checked with
    /// (`images.verify.trusted_root` and `identities`), the root recorded under
    /// `keys/images/`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_keyless: Option<KeylessRecord>,
    /// The key that signs this output (its hint: the base64 SHA-256 of its public key), when
    /// it is signed ([`MANIFEST_BUNDLE`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signed_by: Option<String>,
    /// Every artifact, sorted by path.
    pub artifacts: Vec<Artifact>,
}

/// A public key recorded in the output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    /// Its path in the output.
    pub path: String,
    /// As the config names it.
    pub name: String,
    /// The base64 SHA-256 of its DER form (cosign's key hint).
    pub hint: String,
}

/// The keyless trust recorded in the output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeylessRecord {
    /// The trusted root's path in the output.
    pub trusted_root: String,
    /// The trusted root as the config names it.
    pub name: String,
    /// The identities a keyless signature must name, as the config gives them.
    pub identities: Vec<IdentityRecord>,
}

/// One identity of [`KeylessRecord`]: the config's `images.verify.identities` entry
/// ([`crate::config::IdentityConfig`]), written with the same fields but read leniently:
/// a field a newer seedforge adds is ignored, so an older one still reads the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityRecord {
    /// The OIDC issuer, exactly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// A regular expression found in the issuer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer_regexp: Option<String>,
    /// The subject, exactly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// A regular expression found in the subject.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_regexp: Option<String>,
    /// The certificate names no issuer.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub no_issuer: bool,
}

impl From<&crate::config::IdentityConfig> for IdentityRecord {
    fn from(c: &crate::config::IdentityConfig) -> IdentityRecord {
        IdentityRecord {
            issuer: c.issuer.clone(),
            issuer_regexp: c.issuer_regexp.clone(),
            subject: c.subject.clone(),
            subject_regexp: c.subject_regexp.clone(),
            no_issuer: c.no_issuer,
        }
    }
}

impl IdentityRecord {
    /// The identity the entry describes, as the config's entry gives it.
    pub fn to_identity(
        &self,
    ) -> Result<crate::trust::keyless::Identity, crate::trust::keyless::KeylessError> {
        crate::config::IdentityConfig {
            issuer: self.issuer.clone(),
            issuer_regexp: self.issuer_regexp.clone(),
            subject: self.subject.clone(),
            subject_regexp: self.subject_regexp.clone(),
            no_issuer: self.no_issuer,
        }
        .to_identity()
    }
}

/// The cluster, as configured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterRecord {
    /// `cluster.name`.
    pub name: String,
    /// `cluster.k3s_version`.
    pub k3s_version: String,
    /// `cluster.embedded_registry` (absent when false).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub embedded_registry: bool,
}

/// The inputs of a build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inputs {
    /// The config file (its name).
    pub config: Input,
    /// The image lists.
    pub image_lists: Vec<Input>,
    /// Template files overriding the embedded ones.
    pub templates: Vec<Input>,
    /// The other files of the config's folder the build reads (chart values,
    /// `cluster.release_images`, `manifests:` files, package base lists, `images.verify`'s
    /// keys and trusted root): path as the config names it, relative to its folder (`../`
    /// included), and the sha256 the build read; absent when there are none, and in the
    /// manifest of an older seedforge. `delta` refuses an output whose folder holds
    /// another version of one now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub other: Option<Vec<Input>>,
}

/// One input file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Input {
    /// Path relative to the config's directory, `/`-separated.
    pub path: String,
    /// sha256 (hex).
    pub sha256: String,
}

/// The registry the nodes pull from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistryRecord {
    /// `registry.host`.
    pub host: String,
    /// `registry.port`.
    pub port: u16,
    /// `https://HOST:PORT` or `http://`.
    pub endpoint: String,
    /// Plain HTTP: no certificate.
    pub plain_http: bool,
    /// The names the registry certificate covers (none with plain HTTP).
    pub sans: Vec<String>,
}

/// One mirrored image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRecord {
    /// The source as listed (local paths relative to the config's directory).
    pub source: String,
    /// The destination reference.
    pub destination: String,
    /// The digest of the stored manifest or index.
    pub digest: String,
}

/// One package bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageRecord {
    /// Bundle name.
    pub name: String,
    /// The tarball, relative to the output.
    pub path: String,
    /// Its sha256.
    pub sha256: String,
    /// .debs inside.
    pub debs: usize,
}

/// One `files:` payload file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRecord {
    /// Path under `payload/`.
    pub name: String,
    /// The source as written, without credentials.
    pub source: String,
    /// Its sha256.
    pub sha256: String,
    /// Mode 0755.
    pub executable: bool,
}

/// A tool that made artifacts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tool {
    /// Its name.
    pub name: String,
    /// Its version.
    pub version: String,
}

/// One artifact of the output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Artifact {
    /// Path relative to the output, `/`-separated.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// sha256 (hex).
    pub sha256: String,
    /// Permission bits, octal (`0644`): the artifact's [`Kind`](crate::pipeline::modes::Kind), not what the file system
    /// reports.
    pub mode: String,
}

/// What `clean` and `verify` read back from `manifest.json` (other fields are ignored, so
/// an older or newer manifest still reads).
#[derive(Debug, Clone, Deserialize)]
pub struct ManifestView {
    /// The artifacts.
    pub artifacts: Vec<Artifact>,
    /// The keys the images' signatures were checked against.
    #[serde(default)]
    pub image_keys: Vec<KeyRecord>,
    /// The keyless trust the images' signatures were checked with.
    #[serde(default)]
    pub image_keyless: Option<KeylessRecord>,
    /// The registry.
    #[serde(default)]
    pub registry: Option<RegistryRecord>,
    /// The inputs, when recorded.
    #[serde(default)]
    pub inputs: Option<Inputs>,
    /// The key id of the key that signed the output, if any.
    #[serde(default)]
    pub signed_by: Option<String>,
    /// The output's site identity; absent in an output that has none.
    #[serde(default)]
    pub site: Option<String>,
    /// The source date every artifact carries.
    #[serde(default)]
    pub source_date_epoch: Option<u64>,
    /// Where it came from (`environment`, `config`, `none`); absent in an older
    /// seedforge's output.
    #[serde(default)]
    pub source_date_from: Option<String>,
}

impl ManifestView {
    /// Reads `out/manifest.json`; [`SealError::NotSealed`] when there is none.
    pub fn load(out: &Path) -> Result<ManifestView, SealError> {
        let path = out.join(MANIFEST);
        let bytes = match crate::input::read_found(&path, crate::input::Kind::Manifest) {
            Ok(b) => b,
            Err(crate::input::InputError::Io { source, .. })
                if source.kind() == io::ErrorKind::NotFound =>
            {
                return Err(SealError::NotSealed {
                    dir: out.to_path_buf(),
                });
            }
            Err(e) => return Err(e.into()),
        };
        let view: ManifestView =
            serde_json::from_slice(&bytes).map_err(|e| SealError::BadManifest {
                path: path.clone(),
                message: format!("not a seedforge manifest: {e}"),
            })?;
        for a in &view.artifacts {
            if safe_relative(&a.path).is_none() {
                return Err(SealError::BadManifest {
                    path: path.clone(),
                    message: format!(
                        "artifact path {:?} is not a plain relative path inside the output",
                        a.path
                    ),
                });
            }
        }
        Ok(view)
    }
}

/// `rel` as a path if it is relative and made only of normal components.
pub fn safe_relative(rel: &str) -> Option<PathBuf> {
    let path = Path::new(rel);
    if rel.is_empty() || !path.components().all(|c| matches!(c, Component::Normal(_))) {
        return None;
    }
    Some(path.to_path_buf())
}
