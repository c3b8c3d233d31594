//! The build's seal: `OUT/SHA256SUMS` and `OUT/manifest.json`, and checking an output
//! against them. Before them it writes `OUT/sbom/provenance.json`, the build's provenance
//! over every artifact ([`crate::sbom::provenance::statement`]), which they list in turn.
//!
//! `SHA256SUMS` lists every artifact the build wrote (paths relative to `OUT`, sorted, in
//! the format `sha256sum -c` reads) plus `manifest.json`. `manifest.json` records what went
//! in (the config, image lists and templates with their digests, paths relative to the
//! config's directory), what was resolved (image digests), what came out (every artifact
//! with size, sha256 and the mode of its kind, [`crate::pipeline::modes`], never the file
//! system's) and the seedforge version. It holds no secrets, no absolute
//! paths, no host names and no timestamp except the source date, so two builds of the same
//! inputs into different folders, on any file system, give byte-identical files.
//!
//! Digests the earlier steps already computed in this run (airgap archives, package
//! bundles, the payload, `files:`, blobs the verify step has just re-hashed) are reused;
//! everything else is hashed here, streaming, on a few threads.

use crate::config::{Config, Host};
use crate::image::{ImageList, ImageSource};
use crate::pipeline::modes::Kind;
use crate::util::atomic_write;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};

/// The checksum file the seal writes (`sha256sum -c` format).
pub const SUMS: &str = "SHA256SUMS";
/// The manifest the seal writes.
pub const MANIFEST: &str = "manifest.json";
/// The format version of `manifest.json`.
pub const MANIFEST_VERSION: u32 = 1;
/// The build's provenance (an in-toto statement, [`crate::sbom::provenance`]), a sealed
/// artifact the seal writes itself.
pub const PROVENANCE: &str = "sbom/provenance.json";
/// The provenance, signed: a Sigstore bundle of a DSSE envelope over [`PROVENANCE`]'s
/// statement (written only with a signing key).
pub const PROVENANCE_BUNDLE: &str = "sbom/provenance.sigstore.json";
/// The signature of the output: a Sigstore bundle (v0.3) over `manifest.json`'s bytes,
/// which name every artifact's SHA-256 (written only with a signing key).
pub const MANIFEST_BUNDLE: &str = "manifest.json.sigstore.json";
/// Where the public keys of `images.verify` are recorded in the output, so that
/// `seedforge verify` checks the carried signatures again with them.
pub const IMAGE_KEYS_DIR: &str = "keys/images";

/// Errors sealing, checking, cleaning or exporting a build output.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// A file of the output is not a regular file, or larger than its kind may be.
    #[error(transparent)]
    Input(crate::input::InputError),
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The directory has no `manifest.json`, so what seedforge wrote there is unknown.
    #[error(
        "{}: no manifest.json here, so what seedforge wrote is unknown; nothing was removed",
        dir.display()
    )]
    NotSealed {
        /// The directory.
        dir: PathBuf,
    },
    /// `manifest.json` or `SHA256SUMS` does not parse or names a path outside the output.
    #[error("{}: {message}", path.display())]
    BadManifest {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Signing with the seal's key failed.
    #[error("{}: signing failed: {message}", path.display())]
    Sign {
        /// The file being signed.
        path: PathBuf,
        /// What failed.
        message: String,
    },
    /// The output's signature does not verify, or is missing, with the keys given.
    #[error("{}: {message}", path.display())]
    BadSignature {
        /// The bundle (or the file it should sign).
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// An artifact the seal needs is not where the build put it.
    #[error("{}: {message}", path.display())]
    Incomplete {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

impl From<crate::input::InputError> for SealError {
    fn from(e: crate::input::InputError) -> SealError {
        match e {
            crate::input::InputError::Io { path, source } => SealError::Io { path, source },
            refused => SealError::Input(refused),
        }
    }
}

impl SealError {
    /// True if the error is about the input (exit code 2).
    pub fn is_invalid_input(&self) -> bool {
        matches!(
            self,
            SealError::NotSealed { .. } | SealError::BadManifest { .. } | SealError::Input(_)
        )
    }

    /// An I/O error on `path`.
    pub fn io(path: &Path, source: io::Error) -> SealError {
        SealError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// `manifest.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Manifest {
    /// Format version ([`MANIFEST_VERSION`]).
    pub manifest_version: u32,
    /// The seedforge that wrote it.
    pub seedforge_version: String,
    /// The commit that seedforge was built from (12 hex digits, or "unknown").
    pub seedforge_commit: String,
    /// The source date every artifact carries, if one was given.
    pub source_date_epoch: Option<u64>,
    /// The cluster.
    pub cluster: ClusterRecord,
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
    /// Permission bits, octal (`0644`): the artifact's [`Kind`], not what the file system
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
    /// The registry.
    #[serde(default)]
    pub registry: Option<RegistryRecord>,
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

/// Everything the seal records about the inputs, gathered while planning.
#[derive(Debug, Clone)]
pub struct SealPlan {
    source_date_epoch: Option<u64>,
    cluster: ClusterRecord,
    inputs: Inputs,
    registry: Option<RegistryRecord>,
    /// (source as listed, destination) of every image.
    images: Vec<(String, String)>,
    /// The key that signs `manifest.json` and the provenance.
    signing: Option<std::sync::Arc<crate::trust::keys::SigningKey>>,
    /// The public keys of `images.verify` (file name as the config names it, PEM).
    image_keys: Vec<(String, String)>,
}

impl SealPlan {
    /// Signs the seal with `key`.
    pub fn sign_with(&mut self, key: crate::trust::keys::SigningKey) {
        self.signing = Some(std::sync::Arc::new(key));
    }

    /// Records the public keys the images' signatures were checked against.
    pub fn record_image_keys(&mut self, keys: &[crate::oci::mirror::policy::PolicyKey]) {
        self.image_keys = keys
            .iter()
            .map(|k| (k.name.clone(), k.key.to_pem()))
            .collect();
    }

    /// Hashes the inputs of `config` (config file, image lists, template overrides) and
    /// records the registry's names from the plan's `Pki` step.
    pub fn new(
        config: &Config,
        images: &ImageList,
        sans: Vec<String>,
        source_date_epoch: Option<u64>,
    ) -> Result<SealPlan, SealError> {
        let input = |path: &Path| -> Result<Input, SealError> {
            Ok(Input {
                path: relative_to(path, &config.dir),
                sha256: hash(path)?,
            })
        };
        let mut image_lists: Vec<Input> = config
            .images
            .lists
            .iter()
            .map(|(p, _)| input(p))
            .collect::<Result<_, _>>()?;
        image_lists.sort_by(|a, b| a.path.cmp(&b.path));
        image_lists.dedup();
        let mut templates = Vec::new();
        if let Some(dir) = &config.templates {
            for name in crate::render::template_files() {
                let path = dir.join(name);
                if path.is_file() {
                    templates.push(input(&path)?);
                }
            }
        }
        templates.sort_by(|a, b| a.path.cmp(&b.path));
        let registry = config.registry.as_ref().map(|r| RegistryRecord {
            host: r.host.bare(),
            port: r.port,
            endpoint: format!(
                "{}://{}:{}",
                if r.plain_http { "http" } else { "https" },
                r.host,
                r.port
            ),
            plain_http: r.plain_http,
            sans,
        });
        let images = images
            .entries
            .iter()
            .map(|e| {
                (
                    source_text(&e.source, &config.dir),
                    e.destination.to_string(),
                )
            })
            .collect();
        Ok(SealPlan {
            source_date_epoch,
            cluster: ClusterRecord {
                name: config.cluster.name.as_str().to_string(),
                k3s_version: config.cluster.k3s_version.clone(),
                embedded_registry: config.cluster.embedded_registry,
            },
            inputs: Inputs {
                config: Input {
                    path: config
                        .path
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                    sha256: hash(&config.path)?,
                },
                image_lists,
                templates,
            },
            registry,
            images,
            signing: None,
            image_keys: Vec::new(),
        })
    }
}

impl SealPlan {
    /// (source as listed, destination) of every image: local paths relative to the
    /// config's directory.
    pub fn image_sources(&self) -> &[(String, String)] {
        &self.images
    }
}

/// An image source as listed, with a local path made relative to `base`.
fn source_text(source: &ImageSource, base: &Path) -> String {
    let (transport, path, reference) = match source {
        ImageSource::Registry(r) => return format!("docker://{r}"),
        ImageSource::OciDir { path, reference } => ("oci", path, reference),
        ImageSource::OciArchive { path, reference } => ("oci-archive", path, reference),
        ImageSource::DockerArchive { path, reference } => ("docker-archive", path, reference),
    };
    let mut s = format!("{transport}:{}", relative_to(path, base));
    if let Some(r) = reference {
        s.push(':');
        s.push_str(r);
    }
    s
}

/// `path` relative to `base` (both made absolute against the working directory and
/// normalised lexically), `/`-separated.
pub fn relative_to(path: &Path, base: &Path) -> String {
    let cwd = std::env::current_dir().unwrap_or_default();
    let abs = |p: &Path| -> Vec<String> {
        let full = if p.is_absolute() {
            p.to_path_buf()
        } else {
            cwd.join(p)
        };
        let mut parts: Vec<String> = Vec::new();
        for c in full.components() {
            match c {
                Component::Normal(n) => parts.push(n.to_string_lossy().into_owned()),
                Component::ParentDir => {
                    parts.pop();
                }
                _ => {}
            }
        }
        parts
    };
    let (p, b) = (abs(path), abs(base));
    let common = p.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let mut out: Vec<String> = vec!["..".to_string(); b.len() - common];
    out.extend(p[common..].iter().cloned());
    if out.is_empty() {
        ".".to_string()
    } else {
        out.join("/")
    }
}

/// Digests the earlier steps of this run computed, so the seal does not hash them again.
#[derive(Debug, Default)]
pub struct Known {
    /// sha256 (hex) by file, as the steps named it.
    pub hashes: HashMap<PathBuf, String>,
    /// Set when this run's verify step re-hashed the layout: the blobs it did not reach
    /// (strays). Every other blob's name is its verified digest.
    pub blob_strays: Option<HashSet<PathBuf>>,
}

/// What the seal wrote.
#[derive(Debug, Clone, Serialize)]
pub struct SealReport {
    /// `OUT/SHA256SUMS`.
    pub sums: PathBuf,
    /// `OUT/manifest.json`.
    pub manifest: PathBuf,
    /// Artifacts listed (manifest.json excluded).
    pub artifacts: usize,
    /// Their total size.
    pub bytes: u64,
    /// Artifacts the seal read to hash them (the others' digests came from earlier steps or
    /// from the stat cache of unchanged files, [`crate::pipeline::state`]).
    pub hashed: usize,
    /// sha256 of every artifact by its path in the output (for the export).
    #[serde(skip)]
    pub hashes: HashMap<PathBuf, String>,
    /// Each medium (`iso/*.iso`) and whether this build changed it since the last seal:
    /// the media to carry to the nodes again.
    pub media: Vec<Medium>,
    /// With every seed carrying the whole payload, the bytes `seeds: {payload: shared}`
    /// would not carry again (the payload once instead of once per node), when that is
    /// worth saying (at least 256 MiB).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shared_payload_would_save: Option<u64>,
}

/// A medium of the output and what this build did to it.
#[derive(Debug, Clone, Serialize)]
pub struct Medium {
    /// Its path in the output (`iso/seed-NODE.iso`, `iso/payload.iso`).
    pub path: String,
    /// `new`, `changed` or `unchanged` since the previous seal.
    pub change: &'static str,
}

/// What the media of `artifacts` are, against the `previous` seal's.
fn media(artifacts: &[Artifact], previous: Option<&ManifestView>) -> Vec<Medium> {
    let before: BTreeMap<&str, &str> = previous
        .map(|p| {
            p.artifacts
                .iter()
                .map(|a| (a.path.as_str(), a.sha256.as_str()))
                .collect()
        })
        .unwrap_or_default();
    artifacts
        .iter()
        .filter(|a| a.path.starts_with("iso/") && a.path.ends_with(".iso"))
        .map(|a| Medium {
            path: a.path.clone(),
            change: match before.get(a.path.as_str()) {
                None => "new",
                Some(old) if *old == a.sha256 => "unchanged",
                Some(_) => "changed",
            },
        })
        .collect()
}

/// The smallest seed ISO is about the payload every seed carries: with N seeds and no
/// shared payload ISO, N - 1 copies of it would not be carried in shared mode.
fn shared_payload_saving(artifacts: &[Artifact]) -> Option<u64> {
    const WORTH_SAYING: u64 = 256 << 20;
    let iso = |a: &&Artifact| a.path.starts_with("iso/") && a.path.ends_with(".iso");
    if artifacts.iter().any(|a| a.path == "iso/payload.iso") {
        return None;
    }
    let seeds: Vec<u64> = artifacts.iter().filter(iso).map(|a| a.size).collect();
    let smallest = *seeds.iter().min()?;
    let saved = smallest.saturating_mul(seeds.len().saturating_sub(1) as u64);
    (saved >= WORTH_SAYING).then_some(saved)
}

/// True for 64 lowercase hex digits (a sha256 blob's file name).
pub(crate) fn is_hex64(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The entries of `dir`, sorted; none when it does not exist.
pub(crate) fn list_dir(dir: &Path) -> Result<Vec<PathBuf>, SealError> {
    match fs::read_dir(dir) {
        Ok(read) => {
            let mut v = Vec::new();
            for e in read {
                v.push(e.map_err(|e| SealError::io(dir, e))?.path());
            }
            v.sort();
            Ok(v)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(SealError::io(dir, e)),
    }
}

/// `path` relative to `output`, `/`-separated.
/// `path` relative to `output`, `/`-separated (as the manifest and SHA256SUMS name it).
pub(crate) fn rel(path: &Path, output: &Path) -> String {
    let r = path.strip_prefix(output).unwrap_or(path);
    r.components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

/// What the steps of a finished build wrote, as the seal covers it.
#[derive(Debug, Default)]
pub struct Contents<'a> {
    /// Every artifact under the output, sorted, with what it is and its size.
    pub artifacts: Vec<(PathBuf, Kind, u64)>,
    /// The OCI layout, when the build mirrors images.
    pub layout: Option<&'a Path>,
    /// Each package bundle: its name, file and number of .debs.
    pub packages: Vec<(&'a str, &'a Path, usize)>,
    /// The `files:` payload.
    pub files: Vec<&'a crate::files::PlannedFile>,
    /// What else the build resolved, for the provenance (the .debs of the bundles, the
    /// charts); the images and the `files:` payload are added by the seal.
    pub resolved: Vec<crate::sbom::provenance::Dependency>,
}

/// Writes `OUT/manifest.json` and `OUT/SHA256SUMS` for the steps of a finished build.
pub fn seal(
    plan: &SealPlan,
    contents: &Contents<'_>,
    output: &Path,
    known: &Known,
) -> Result<SealReport, SealError> {
    seal_with(plan, contents, output, known, &|paths| {
        let n = paths.len();
        (hash_many(paths), n)
    })
}

/// Hashes files for the seal: one digest per path, in order, and how many files it
/// actually read.
pub type HashMany<'a> = dyn Fn(&[PathBuf]) -> (Result<Vec<String>, SealError>, usize) + 'a;

/// [`seal`], hashing what the steps did not with `hash_many` (a build's stat cache, so
/// unchanged artifacts are not read again). A `manifest.json` or `SHA256SUMS` that already
/// holds exactly what it would say is not rewritten.
pub fn seal_with(
    plan: &SealPlan,
    contents: &Contents<'_>,
    output: &Path,
    known: &Known,
    hash_many: &HashMany<'_>,
) -> Result<SealReport, SealError> {
    let paths: Vec<PathBuf> = contents.artifacts.iter().map(|(p, ..)| p.clone()).collect();
    let mut sha: Vec<Option<String>> = paths
        .iter()
        .map(|p| {
            known.hashes.get(p).cloned().or_else(|| {
                let strays = known.blob_strays.as_ref()?;
                let parent = p.parent()?;
                let is_blob = parent.ends_with("blobs/sha256") && !strays.contains(p);
                is_blob.then(|| p.file_name()?.to_str().map(str::to_string))?
            })
        })
        .collect();
    let todo: Vec<usize> = (0..paths.len()).filter(|&i| sha[i].is_none()).collect();
    let (hashed, read) = hash_many(&todo.iter().map(|&i| paths[i].clone()).collect::<Vec<_>>());
    for (i, h) in todo.iter().zip(hashed?) {
        sha[*i] = Some(h);
    }
    let mut artifacts = Vec::with_capacity(paths.len());
    let mut hashes = HashMap::with_capacity(paths.len());
    for ((path, kind, size), sha256) in contents.artifacts.iter().zip(sha) {
        let sha256 = sha256.unwrap_or_default();
        hashes.insert(path.clone(), sha256.clone());
        artifacts.push(Artifact {
            path: rel(path, output),
            size: *size,
            sha256,
            mode: format!("{:04o}", kind.mode()),
        });
    }
    artifacts.sort_by(|a, b| a.path.cmp(&b.path));
    let images = image_records(plan, contents.layout)?;
    let files = file_records(&contents.files);
    // The provenance covers every artifact but itself, and is one of the artifacts
    // manifest.json lists.
    let statement = crate::sbom::provenance::statement(&provenance(
        plan, contents, &artifacts, &images, &files,
    ));
    write_artifact(&output.join(PROVENANCE), &statement)?;
    record_artifact(output, PROVENANCE, &statement, &mut artifacts, &mut hashes);
    let key_records = write_image_keys(plan, output, &mut artifacts, &mut hashes)?;
    if let Some(key) = &plan.signing {
        let path = output.join(PROVENANCE_BUNDLE);
        let bundle = signed_once(
            &path,
            key,
            |k| {
                crate::trust::bundle::Bundle::sign_dsse(
                    crate::sbom::provenance::PAYLOAD_TYPE,
                    &statement,
                    k,
                )
            },
            // Kept only while it signs this very statement.
            |b, keys| match b.verify_dsse(keys) {
                Ok((_, envelope)) if envelope.payload == statement => Ok(()),
                Ok(_) => Err("signs an earlier statement".into()),
                Err(e) => Err(e.to_string()),
            },
        )?;
        record_artifact(
            output,
            PROVENANCE_BUNDLE,
            &bundle,
            &mut artifacts,
            &mut hashes,
        );
    }
    artifacts.sort_by(|a, b| a.path.cmp(&b.path));
    let previous = previous_seal(output)?;
    remove_orphans(output, &artifacts, previous.as_ref())?;
    let media = media(&artifacts, previous.as_ref());
    let shared_payload_would_save = shared_payload_saving(&artifacts);
    let by_path: BTreeMap<&str, &Artifact> =
        artifacts.iter().map(|a| (a.path.as_str(), a)).collect();
    let manifest = Manifest {
        manifest_version: MANIFEST_VERSION,
        seedforge_version: env!("CARGO_PKG_VERSION").to_string(),
        seedforge_commit: crate::COMMIT.to_string(),
        source_date_epoch: plan.source_date_epoch,
        cluster: plan.cluster.clone(),
        inputs: plan.inputs.clone(),
        registry: plan.registry.clone(),
        images,
        packages: package_records(&contents.packages, output, &by_path),
        files,
        tools: vec![Tool {
            name: "seedforge".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        }],
        image_keys: key_records,
        signed_by: plan.signing.as_ref().map(|k| k.public_key().hint()),
        artifacts,
    };
    let mut json = serde_json::to_vec_pretty(&manifest).map_err(|e| SealError::BadManifest {
        path: output.join(MANIFEST),
        message: e.to_string(),
    })?;
    json.push(b'\n');
    let manifest_path = output.join(MANIFEST);
    write_if_changed(&manifest_path, &json)?;
    let mut lines: Vec<(String, String)> = manifest
        .artifacts
        .iter()
        .map(|a| (a.path.clone(), a.sha256.clone()))
        .collect();
    lines.push((
        MANIFEST.to_string(),
        crate::oci::Digest::of(&json).hex().to_string(),
    ));
    let bundle_path = output.join(MANIFEST_BUNDLE);
    match &plan.signing {
        Some(key) => {
            let bundle = signed_once(
                &bundle_path,
                key,
                |k| crate::trust::bundle::Bundle::sign_blob(&json, k),
                |b, keys| {
                    b.verify_blob(&json, keys)
                        .map(drop)
                        .map_err(|e| e.to_string())
                },
            )?;
            lines.push((
                MANIFEST_BUNDLE.to_string(),
                crate::hashing::sha256_hex(&bundle),
            ));
        }
        // An output no longer signed carries no signature of an earlier manifest.
        None if fs::symlink_metadata(&bundle_path).is_ok() => match fs::remove_file(&bundle_path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                return Err(SealError::io(&bundle_path, e));
            }
            _ => {}
        },
        None => {}
    }
    lines.sort();
    let sums: String = lines
        .iter()
        .map(|(path, sha)| format!("{sha}  {path}\n"))
        .collect();
    let sums_path = output.join(SUMS);
    write_if_changed(&sums_path, sums.as_bytes())?;
    Ok(SealReport {
        sums: sums_path,
        manifest: manifest_path,
        artifacts: manifest.artifacts.len(),
        bytes: manifest.artifacts.iter().map(|a| a.size).sum(),
        hashed: read,
        hashes,
        media,
        shared_payload_would_save,
    })
}

/// Writes the public keys of `images.verify` under [`IMAGE_KEYS_DIR`] (each once, named
/// by its hint's hex so two keys with one file name stay apart) and lists them as artifacts.
fn write_image_keys(
    plan: &SealPlan,
    output: &Path,
    artifacts: &mut Vec<Artifact>,
    hashes: &mut HashMap<PathBuf, String>,
) -> Result<Vec<KeyRecord>, SealError> {
    let mut records = Vec::new();
    for (name, pem) in &plan.image_keys {
        let sha256 = crate::hashing::sha256_hex(pem.as_bytes());
        let rel = format!("{IMAGE_KEYS_DIR}/{}.pub", &sha256[..16]);
        write_artifact(&output.join(&rel), pem.as_bytes())?;
        let hint = crate::trust::keys::PublicKey::from_pem(pem.as_bytes(), name)
            .map(|k| k.hint())
            .unwrap_or_default();
        if !artifacts.iter().any(|a| a.path == rel) {
            record_artifact(output, &rel, pem.as_bytes(), artifacts, hashes);
        }
        records.push(KeyRecord {
            path: rel,
            name: name.clone(),
            hint,
        });
    }
    Ok(records)
}

/// The bundle at `path` that `sign` makes with `key`: the one already there when it still
/// passes `check` with the key, over the bytes it signs (so an unchanged output keeps its bytes, although
/// an ECDSA signature differs each time it is made), else a new one, written atomically.
fn signed_once(
    path: &Path,
    key: &crate::trust::keys::SigningKey,
    sign: impl Fn(
        &crate::trust::keys::SigningKey,
    ) -> Result<crate::trust::bundle::Bundle, crate::trust::keys::KeyError>,
    check: impl Fn(
        &crate::trust::bundle::Bundle,
        &[crate::trust::keys::PublicKey],
    ) -> Result<(), String>,
) -> Result<Vec<u8>, SealError> {
    let keys = [key.public_key().clone()];
    if let Ok(old) = crate::input::read_found(path, crate::input::Kind::Manifest)
        && let Ok(bundle) = crate::trust::bundle::Bundle::from_json(&old)
        && check(&bundle, &keys).is_ok()
    {
        return Ok(old);
    }
    let bundle = sign(key).map_err(|e| SealError::Sign {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let bytes = bundle.to_json();
    write_artifact(path, &bytes)?;
    Ok(bytes)
}

/// Writes a small file the seal makes itself (provenance, recorded keys, bundles), in its
/// folder, atomically and as an ordinary artifact; a file that already holds the bytes is
/// left as it is.
fn write_artifact(path: &Path, bytes: &[u8]) -> Result<(), SealError> {
    if crate::input::holds(path, bytes) {
        return Ok(());
    }
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(|e| SealError::io(dir, e))?;
    }
    crate::util::atomic_write_mode(path, bytes, Kind::Plain.mode())
        .map_err(|e| SealError::io(path, e))
}

/// Lists `bytes`, the content of `output/rel`, among the sealed artifacts.
fn record_artifact(
    output: &Path,
    rel: &str,
    bytes: &[u8],
    artifacts: &mut Vec<Artifact>,
    hashes: &mut HashMap<PathBuf, String>,
) {
    let sha256 = crate::hashing::sha256_hex(bytes);
    hashes.insert(output.join(rel), sha256.clone());
    artifacts.push(Artifact {
        path: rel.to_string(),
        size: bytes.len() as u64,
        sha256,
        mode: format!("{:04o}", Kind::Plain.mode()),
    });
}

/// The previous seal's manifest, if there is one that can be read. Past its cap it is an
/// error, not a skip: the files it lists (an old node's user-data holds the join token)
/// would otherwise stay.
fn previous_seal(output: &Path) -> Result<Option<ManifestView>, SealError> {
    match ManifestView::load(output) {
        Ok(previous) => Ok(Some(previous)),
        Err(e @ SealError::Input(crate::input::InputError::TooLarge { .. })) => Err(e),
        Err(_) => Ok(None),
    }
}

/// What the provenance says of a build: its inputs as `manifest.json` records them, what
/// it resolved (each image with the digest the layout stores, each `files:` entry, and
/// what `contents` adds: the .debs and charts), and every artifact as its subject.
fn provenance(
    plan: &SealPlan,
    contents: &Contents<'_>,
    artifacts: &[Artifact],
    images: &[ImageRecord],
    files: &[FileRecord],
) -> crate::sbom::provenance::Provenance {
    use crate::sbom::provenance::{Dependency, Param, Provenance, Subject};
    use crate::sbom::without_credentials;
    let param = |i: &Input| Param {
        path: i.path.clone(),
        sha256: i.sha256.clone(),
    };
    let sha = |hex: &str| {
        BTreeMap::from([(
            "sha256".to_string(),
            hex.strip_prefix("sha256:").unwrap_or(hex).to_string(),
        )])
    };
    let mut dependencies: Vec<Dependency> = Vec::new();
    for i in images {
        let source = without_credentials(&i.source);
        dependencies.push(Dependency {
            name: i.destination.clone(),
            uri: source.starts_with("docker://").then(|| source.clone()),
            digest: sha(&i.digest),
            annotations: BTreeMap::from([
                ("kind".to_string(), "image".to_string()),
                ("source".to_string(), source),
            ]),
        });
    }
    for f in files {
        let source = without_credentials(&f.source);
        let url = source.starts_with("https://") || source.starts_with("http://");
        dependencies.push(Dependency {
            name: f.name.clone(),
            uri: url.then(|| source.clone()),
            digest: sha(&f.sha256),
            annotations: BTreeMap::from([
                ("kind".to_string(), "file".to_string()),
                ("source".to_string(), source),
            ]),
        });
    }
    dependencies.extend(contents.resolved.iter().cloned());
    Provenance {
        version: env!("CARGO_PKG_VERSION").to_string(),
        commit: crate::COMMIT.to_string(),
        source_date_epoch: plan.source_date_epoch,
        cluster: (plan.cluster.name.clone(), plan.cluster.k3s_version.clone()),
        config: param(&plan.inputs.config),
        image_lists: plan.inputs.image_lists.iter().map(param).collect(),
        templates: plan.inputs.templates.iter().map(param).collect(),
        dependencies,
        subjects: artifacts
            .iter()
            .map(|a| Subject {
                path: a.path.clone(),
                sha256: a.sha256.clone(),
            })
            .collect(),
    }
}

/// Removes what the previous seal listed and this build no longer writes (a node or a
/// `files:` entry taken out of the config), before the new manifest forgets it: an old
/// node's user-data and seed ISO hold the join token, and nothing else would ever remove
/// them. The layout (`oci/`, whose unreferenced blobs are `gc`'s business) and the PKI
/// state (`pki/`) are left alone, and so is anything a manifest does not list.
fn remove_orphans(
    output: &Path,
    artifacts: &[Artifact],
    previous: Option<&ManifestView>,
) -> Result<(), SealError> {
    let Some(previous) = previous else {
        return Ok(());
    };
    let now: BTreeSet<&str> = artifacts.iter().map(|a| a.path.as_str()).collect();
    for old in &previous.artifacts {
        let Some(relative) = safe_relative(&old.path) else {
            continue;
        };
        if now.contains(old.path.as_str())
            || relative.starts_with("oci")
            || relative.starts_with("pki")
        {
            continue;
        }
        let path = output.join(&relative);
        match fs::symlink_metadata(&path) {
            Ok(meta) if meta.is_file() => {
                fs::remove_file(&path).map_err(|e| SealError::io(&path, e))?;
            }
            _ => continue,
        }
        // Folders it leaves empty (nodes/<node>/) go too; OUT itself stays.
        let mut dir = path.parent();
        while let Some(d) = dir {
            if d == output || !d.starts_with(output) || fs::remove_dir(d).is_err() {
                break;
            }
            dir = d.parent();
        }
    }
    Ok(())
}

/// Writes `bytes` to `path` atomically unless the file holds exactly them already.
fn write_if_changed(path: &Path, bytes: &[u8]) -> Result<(), SealError> {
    if crate::input::holds(path, bytes) {
        return Ok(());
    }
    atomic_write(path, bytes).map_err(|e| SealError::io(path, e))
}

/// Every listed image with the digest its destination names in the layout.
fn image_records(plan: &SealPlan, layout: Option<&Path>) -> Result<Vec<ImageRecord>, SealError> {
    let Some(layout) = layout else {
        return Ok(Vec::new());
    };
    let index_path = layout.join("index.json");
    let index = crate::oci::Layout::open(layout)
        .and_then(|l| l.read_index())
        .map_err(|e| SealError::Incomplete {
            path: index_path.clone(),
            message: e.to_string(),
        })?;
    let by_name = index.by_name();
    let mut records = Vec::new();
    for (source, destination) in &plan.images {
        let entry = (by_name.get(destination.as_str())).ok_or_else(|| SealError::Incomplete {
            path: index_path.clone(),
            message: format!("names no {destination}"),
        })?;
        records.push(ImageRecord {
            source: source.clone(),
            destination: destination.clone(),
            digest: entry.digest.to_string(),
        });
    }
    records.sort_by(|a, b| a.destination.cmp(&b.destination));
    Ok(records)
}

fn package_records(
    packages: &[(&str, &Path, usize)],
    output: &Path,
    artifacts: &BTreeMap<&str, &Artifact>,
) -> Vec<PackageRecord> {
    let mut records: Vec<PackageRecord> = packages
        .iter()
        .map(|(name, out, debs)| {
            let path = rel(out, output);
            PackageRecord {
                name: name.to_string(),
                sha256: artifacts
                    .get(path.as_str())
                    .map(|a| a.sha256.clone())
                    .unwrap_or_default(),
                path,
                debs: *debs,
            }
        })
        .collect();
    records.sort_by(|a, b| a.name.cmp(&b.name));
    records
}

fn file_records(files: &[&crate::files::PlannedFile]) -> Vec<FileRecord> {
    let mut records: Vec<FileRecord> = files
        .iter()
        .map(|f| FileRecord {
            name: f.name.clone(),
            source: f.source.display(),
            sha256: f.sha256.clone(),
            executable: f.executable,
        })
        .collect();
    records.sort_by(|a, b| a.name.cmp(&b.name));
    records
}

/// Hex sha256 of a file, streamed; an error names the file.
fn hash(path: &Path) -> Result<String, SealError> {
    crate::hashing::sha256_file(path).map_err(|e| SealError::io(path, e))
}

/// Hashes `paths` on up to four threads; the results are in the order of `paths`.
pub fn hash_many(paths: &[PathBuf]) -> Result<Vec<String>, SealError> {
    hash_each(paths).into_iter().collect()
}

/// [`crate::hashing::sha256_files`], each error naming its file.
fn hash_each(paths: &[PathBuf]) -> Vec<Result<String, SealError>> {
    crate::hashing::sha256_files(paths)
        .into_iter()
        .zip(paths)
        .map(|(r, p)| r.map_err(|e| SealError::io(p, e)))
        .collect()
}

/// One problem `verify` found against `SHA256SUMS`.
#[derive(Debug, Clone, Serialize)]
pub struct SumProblem {
    /// The path as `SHA256SUMS` names it.
    pub path: String,
    /// `missing`, `differs`, `unreadable` or `malformed`.
    pub problem: &'static str,
    /// The listed sha256.
    pub expected: String,
    /// The sha256 of the file, or the error.
    pub actual: String,
}

/// `verify`'s check of `OUT/SHA256SUMS`.
#[derive(Debug, Clone, Serialize)]
pub struct SumsReport {
    /// The sums file.
    pub file: PathBuf,
    /// Entries listed.
    pub entries: usize,
    /// Bytes re-hashed.
    pub bytes: u64,
    /// Everything wrong; empty means every file matches.
    pub problems: Vec<SumProblem>,
}

/// One line of a `SHA256SUMS` (`HEX  PATH`, or `HEX *PATH` as `sha256sum -b` writes it):
/// the hex and the path, when the hex is a SHA-256 and the path stays inside the folder.
pub fn sums_line(line: &str) -> Option<(&str, &str)> {
    line.split_once("  ")
        .or_else(|| line.split_once(" *"))
        .filter(|(h, p)| is_hex64(h) && safe_relative(p).is_some())
}

/// Re-hashes every entry of `out/SHA256SUMS`.
pub fn verify_sums(out: &Path) -> Result<SumsReport, SealError> {
    verify_sums_with(out, &|_, _| None)
}

/// [`verify_sums`], taking the digest of a file from `known` where it has one (a file the
/// caller has just hashed, such as a part it streamed through its whole's hash, or one it
/// takes as listed: `known` is given the file's path and the sha256 its line lists).
pub fn verify_sums_with(
    out: &Path,
    known: &dyn Fn(&Path, &str) -> Option<String>,
) -> Result<SumsReport, SealError> {
    let file = out.join(SUMS);
    let text = crate::input::read_found_to_string(&file, crate::input::Kind::Sums)?;
    let mut problems = Vec::new();
    let mut listed: Vec<(String, String, PathBuf)> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let parsed = sums_line(line).and_then(|(h, p)| safe_relative(p).map(|rel| (h, p, rel)));
        match parsed {
            Some((h, p, rel)) => listed.push((p.to_string(), h.to_string(), out.join(rel))),
            None => problems.push(SumProblem {
                path: format!("{SUMS}:{}", i + 1),
                problem: "malformed",
                expected: "HEX  RELATIVE-PATH".into(),
                actual: line.chars().take(120).collect(),
            }),
        }
    }
    let mut present = Vec::new();
    for (i, (name, expected, path)) in listed.iter().enumerate() {
        match fs::symlink_metadata(path) {
            Ok(m) if m.is_file() => present.push(i),
            Ok(_) => problems.push(SumProblem {
                path: name.clone(),
                problem: "missing",
                expected: expected.clone(),
                actual: "not a regular file".into(),
            }),
            Err(e) => problems.push(SumProblem {
                path: name.clone(),
                problem: "missing",
                expected: expected.clone(),
                actual: e.to_string(),
            }),
        }
    }
    let digests: Vec<Option<String>> = (present.iter())
        .map(|&i| known(&listed[i].2, &listed[i].1))
        .collect();
    let paths: Vec<PathBuf> = (present.iter().zip(&digests))
        .filter(|(_, d)| d.is_none())
        .map(|(&i, _)| listed[i].2.clone())
        .collect();
    let mut hashed = hash_each(&paths).into_iter();
    let mut bytes = 0;
    for (&i, digest) in present.iter().zip(digests) {
        let (name, expected, path) = &listed[i];
        let result = match digest {
            Some(d) => Ok(d),
            // hash_each gives one result per path, in order.
            None => (hashed.next())
                .unwrap_or_else(|| Err(SealError::io(path, io::Error::other("not hashed")))),
        };
        match result {
            Ok(actual) if &actual == expected => {
                bytes += fs::metadata(path).map_or(0, |m| m.len());
            }
            Ok(actual) => problems.push(SumProblem {
                path: name.clone(),
                problem: "differs",
                expected: expected.clone(),
                actual,
            }),
            Err(e) => problems.push(SumProblem {
                path: name.clone(),
                problem: "unreadable",
                expected: expected.clone(),
                actual: e.to_string(),
            }),
        }
    }
    problems.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(SumsReport {
        file,
        entries: listed.len(),
        bytes,
        problems,
    })
}

/// `verify`'s check of the registry certificate against `manifest.json`.
#[derive(Debug, Clone, Serialize)]
pub struct CertCheck {
    /// The certificate.
    pub certificate: PathBuf,
    /// The names it must cover (from manifest.json).
    pub hosts: Vec<String>,
    /// Everything wrong; empty means it chains to the CA and covers every name.
    pub problems: Vec<String>,
}

/// Re-checks `out/pki/registry.crt` against the registry host and SANs `manifest.json`
/// records; `None` when there is no manifest or the registry is plain HTTP.
pub fn check_certificate(out: &Path) -> Result<Option<CertCheck>, SealError> {
    // Only the certificate the seal lists: an export folder carries a signed output's
    // manifest.json (naming the registry) beside its ISOs, and no pki/.
    let sums = crate::input::read_found_to_string(&out.join(SUMS), crate::input::Kind::Sums)
        .unwrap_or_default();
    if !sums
        .lines()
        .filter_map(sums_line)
        .any(|(_, path)| path == "pki/registry.crt")
    {
        return Ok(None);
    }
    let view = match ManifestView::load(out) {
        Ok(v) => v,
        Err(SealError::NotSealed { .. }) => return Ok(None),
        Err(e) => return Err(e),
    };
    let Some(registry) = view.registry.filter(|r| !r.plain_http) else {
        return Ok(None);
    };
    let mut names: Vec<String> = vec![registry.host.clone()];
    for s in &registry.sans {
        if !names.contains(s) {
            names.push(s.clone());
        }
    }
    let mut check = CertCheck {
        certificate: out.join("pki").join("registry.crt"),
        hosts: names.clone(),
        problems: Vec::new(),
    };
    let mut hosts = Vec::new();
    for n in &names {
        match n.parse::<Host>() {
            Ok(h) => hosts.push(h),
            Err(e) => check
                .problems
                .push(format!("manifest.json names {n:?} for the registry: {e}")),
        }
    }
    if let Err(e) = crate::pki::check_registry_certificate(out, &hosts) {
        check.problems.push(e.to_string());
    }
    Ok(Some(check))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn artifact(path: &str, size: u64) -> Artifact {
        Artifact {
            path: path.into(),
            size,
            sha256: String::new(),
            mode: "0644".into(),
        }
    }

    #[test]
    fn shared_payload_is_suggested_when_seeds_repeat_a_large_payload() {
        let mib = 1 << 20;
        let seeds = |size: u64| -> Vec<Artifact> {
            (0..4)
                .map(|i| artifact(&format!("iso/seed-n{i}.iso"), size + i))
                .chain([artifact("airgap/a.tar", size)])
                .collect()
        };
        assert_eq!(
            shared_payload_saving(&seeds(433 * mib)),
            Some(3 * 433 * mib)
        );
        assert_eq!(shared_payload_saving(&seeds(50 * mib)), None);
        let mut shared = seeds(433 * mib);
        shared.push(artifact("iso/payload.iso", 433 * mib));
        assert_eq!(shared_payload_saving(&shared), None);
        assert_eq!(shared_payload_saving(&seeds(433 * mib)[..1]), None);
    }

    #[test]
    fn relative_paths_are_lexical_and_slash_separated() {
        assert_eq!(
            relative_to(Path::new("/a/b/../c/d"), Path::new("/a/x")),
            "../c/d"
        );
        assert_eq!(relative_to(Path::new("/a/b"), Path::new("/a/b")), ".");
        assert_eq!(
            relative_to(Path::new("conf/lists/i.txt"), Path::new("conf")),
            "lists/i.txt"
        );
    }

    #[test]
    fn only_plain_relative_paths_are_safe() {
        assert!(safe_relative("iso/seed-a.iso").is_some());
        assert!(safe_relative("a b/c").is_some());
        for bad in ["", "/etc/passwd", "../x", "a/../../x", "./a"] {
            assert!(safe_relative(bad).is_none(), "{bad}");
        }
    }
}

/// Checks again the signatures carried in the output's layout against the keys the build
/// recorded (`keys/images/`, listed in `manifest.json`); `None` when it recorded none.
pub fn recheck_image_signatures(
    out: &Path,
) -> Result<Option<crate::oci::mirror::policy::Recheck>, SealError> {
    let view = match ManifestView::load(out) {
        Ok(view) => view,
        // An export folder: its ISOs' sums only.
        Err(SealError::NotSealed { .. }) => return Ok(None),
        Err(e) => return Err(e),
    };
    if view.image_keys.is_empty() {
        return Ok(None);
    }
    let mut keys = Vec::new();
    for k in &view.image_keys {
        let path =
            safe_relative(&k.path)
                .map(|p| out.join(p))
                .ok_or_else(|| SealError::BadManifest {
                    path: out.join(MANIFEST),
                    message: format!("key path {:?} leaves the output", k.path),
                })?;
        let pem = crate::input::read_found(&path, crate::input::Kind::Manifest)?;
        let key = crate::trust::keys::PublicKey::from_pem(&pem, &k.path).map_err(|e| {
            SealError::BadManifest {
                path: path.clone(),
                message: e.to_string(),
            }
        })?;
        keys.push(key);
    }
    let layout = crate::oci::Layout::open(&out.join("oci")).map_err(|e| SealError::Incomplete {
        path: out.join("oci"),
        message: e.to_string(),
    })?;
    crate::oci::mirror::policy::recheck(&layout, &keys)
        .map(Some)
        .map_err(|e| SealError::Incomplete {
            path: out.join("oci"),
            message: e.to_string(),
        })
}

/// A `manifest.json` in `dir` whose bundle verifies with one of `keys`.
struct SignedManifest {
    bundle_path: PathBuf,
    bundle_bytes: Vec<u8>,
    manifest: Vec<u8>,
    view: ManifestView,
    /// The name of the key that verified it, as given.
    key: String,
}

fn bad_signature(path: &Path, message: String) -> SealError {
    SealError::BadSignature {
        path: path.to_path_buf(),
        message,
    }
}

/// Reads `manifest.json` and its bundle in `dir` and checks the signature with `keys`.
fn signed_manifest(
    dir: &Path,
    keys: &[(String, crate::trust::keys::PublicKey)],
) -> Result<SignedManifest, SealError> {
    let bundle_path = dir.join(MANIFEST_BUNDLE);
    let manifest_path = dir.join(MANIFEST);
    let bundle_bytes = crate::input::read_found(&bundle_path, crate::input::Kind::Manifest)
        .map_err(|e| {
            bad_signature(
                &bundle_path,
                format!(
                    "no signature to check: the output is not signed ({}); a build signs it with seal.key or --signing-key",
                    e.reason()
                ),
            )
        })?;
    let manifest = crate::input::read_found(&manifest_path, crate::input::Kind::Manifest)?;
    let bundle = crate::trust::bundle::Bundle::from_json(&bundle_bytes)
        .map_err(|e| bad_signature(&bundle_path, format!("not a Sigstore bundle: {e}")))?;
    let public: Vec<crate::trust::keys::PublicKey> = keys.iter().map(|(_, k)| k.clone()).collect();
    let names: Vec<&str> = keys.iter().map(|(n, _)| n.as_str()).collect();
    let which = bundle.verify_blob(&manifest, &public).map_err(|e| {
        bad_signature(
            &bundle_path,
            format!(
                "manifest.json's signature does not verify with {}: {e}",
                names.join(", ")
            ),
        )
    })?;
    let view: ManifestView = serde_json::from_slice(&manifest)
        .map_err(|e| bad_signature(&manifest_path, format!("does not parse: {e}")))?;
    Ok(SignedManifest {
        bundle_path,
        bundle_bytes,
        manifest,
        view,
        key: names.get(which).map(|s| s.to_string()).unwrap_or_default(),
    })
}

/// What checking an output's signature found.
#[derive(Debug, Clone, Serialize)]
pub struct SignatureCheck {
    /// The bundle checked.
    pub bundle: PathBuf,
    /// The key that verified it (as given).
    pub key: String,
    /// Whether the provenance's signed form verified too.
    pub provenance: bool,
    /// Files `SHA256SUMS` lists, each matched to `manifest.json`'s signed record.
    pub files: usize,
}

/// Checks the signature of the sealed output at `out` with `keys` (name as given, key):
/// the bundle over `manifest.json` verifies with one of them, `SHA256SUMS` says of every
/// file exactly what the signed `manifest.json` says (so re-hashing against `SHA256SUMS`
/// authenticates every byte), and the provenance's bundle, when there is one, signs the
/// provenance statement with the same key.
pub fn verify_signature(
    out: &Path,
    keys: &[(String, crate::trust::keys::PublicKey)],
) -> Result<SignatureCheck, SealError> {
    let bad = bad_signature;
    let SignedManifest {
        bundle_path,
        bundle_bytes,
        manifest,
        view,
        key,
    } = signed_manifest(out, keys)?;
    let public: Vec<crate::trust::keys::PublicKey> = keys.iter().map(|(_, k)| k.clone()).collect();
    // SHA256SUMS must say what the signed manifest says, file for file.
    let sums_path = out.join(SUMS);
    let sums = crate::input::read_found_to_string(&sums_path, crate::input::Kind::Sums)?;
    let signed: BTreeMap<&str, &str> = view
        .artifacts
        .iter()
        .map(|a| (a.path.as_str(), a.sha256.as_str()))
        .collect();
    let mut listed = 0;
    let mut problems = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for line in sums.lines().filter(|l| !l.trim().is_empty()) {
        let Some((sha, path)) = sums_line(line) else {
            problems.push(format!("malformed line {line:?}"));
            continue;
        };
        listed += 1;
        seen.insert(path);
        let expected = match path {
            MANIFEST => crate::hashing::sha256_hex(&manifest),
            MANIFEST_BUNDLE => crate::hashing::sha256_hex(&bundle_bytes),
            other => match signed.get(other) {
                Some(s) => (*s).to_string(),
                None => {
                    problems.push(format!("{other} is not in the signed manifest.json"));
                    continue;
                }
            },
        };
        if expected != sha {
            problems.push(format!(
                "{path}: SHA256SUMS says {sha}, the signed manifest.json {expected}"
            ));
        }
    }
    for path in signed.keys().filter(|p| !seen.contains(*p)) {
        problems.push(format!("{path} is signed but missing from SHA256SUMS"));
    }
    if !problems.is_empty() {
        return Err(bad(&sums_path, problems.join("; ")));
    }
    // The provenance's own signature, when the output carries one.
    let provenance_bundle = out.join(PROVENANCE_BUNDLE);
    let provenance = if signed.contains_key(PROVENANCE_BUNDLE) {
        let b = crate::input::read_found(&provenance_bundle, crate::input::Kind::Manifest)?;
        let statement =
            crate::input::read_found(&out.join(PROVENANCE), crate::input::Kind::Manifest)?;
        let bundle = crate::trust::bundle::Bundle::from_json(&b)
            .map_err(|e| bad(&provenance_bundle, format!("not a Sigstore bundle: {e}")))?;
        let (_, envelope) = bundle
            .verify_dsse(&public)
            .map_err(|e| bad(&provenance_bundle, format!("does not verify: {e}")))?;
        if envelope.payload != statement {
            return Err(bad(
                &provenance_bundle,
                format!("signs another statement than {PROVENANCE}"),
            ));
        }
        true
    } else {
        false
    };
    Ok(SignatureCheck {
        bundle: bundle_path,
        key,
        provenance,
        files: listed,
    })
}

/// Checks ISOs against a signed manifest: the bundle in `dir` over the `manifest.json`
/// beside it verifies with one of `keys`, and each of `isos` hashes to what that manifest
/// records for `iso/<its name>`.
pub fn verify_signed_isos(
    dir: &Path,
    isos: &[PathBuf],
    keys: &[(String, crate::trust::keys::PublicKey)],
) -> Result<SignatureCheck, SealError> {
    let hashes = hash_many(isos)?;
    let hashed: Vec<(PathBuf, String)> = isos.iter().cloned().zip(hashes).collect();
    verify_signed_hashes(dir, &hashed, keys)
}

/// [`verify_signed_isos`] for ISOs whose SHA-256 is known (an export folder's ISOs in
/// parts, each hashed over its parts): `(path, sha256)`, named by the path's file name.
pub fn verify_signed_hashes(
    dir: &Path,
    isos: &[(PathBuf, String)],
    keys: &[(String, crate::trust::keys::PublicKey)],
) -> Result<SignatureCheck, SealError> {
    let bad = bad_signature;
    let signed = signed_manifest(dir, keys)?;
    let view = &signed.view;
    for (iso, sha) in isos {
        let sha = sha.clone();
        let name = iso
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let rel = format!("iso/{name}");
        match view.artifacts.iter().find(|a| a.path == rel) {
            Some(a) if a.sha256 == sha => {}
            Some(a) => {
                return Err(bad(
                    iso,
                    format!(
                        "sha256 {sha}, the signed manifest.json records {}",
                        a.sha256
                    ),
                ));
            }
            None => {
                return Err(bad(
                    iso,
                    format!("{rel} is not in the signed manifest.json"),
                ));
            }
        }
    }
    Ok(SignatureCheck {
        bundle: signed.bundle_path,
        key: signed.key,
        provenance: false,
        files: isos.len(),
    })
}
