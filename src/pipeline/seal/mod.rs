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
    /// What the build wrote is not signed by any signature the output holds, and only
    /// the public key is here to check one (the far side of the gap never signs).
    #[error("{}: {message}", path.display())]
    Unsigned {
        /// The signature that should sign it.
        path: PathBuf,
        /// What is wrong.
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

mod check;
mod records;
mod sign;
mod sums;

pub use check::*;
pub use records::*;
use sign::signed_once;
pub use sign::{SEAL_KEY, Signer, recorded_key};
pub use sums::*;

/// Everything the seal records about the inputs, gathered while planning.
#[derive(Debug, Clone)]
pub struct SealPlan {
    source_date_epoch: Option<u64>,
    cluster: ClusterRecord,
    inputs: Inputs,
    registry: Option<RegistryRecord>,
    /// (source as listed, destination) of every image.
    images: Vec<(String, String)>,
    /// The key that signs `manifest.json` and the provenance, or the public key that
    /// checks the signatures kept.
    signing: Option<Signer>,
    /// The public keys of `images.verify` (file name as the config names it, PEM).
    image_keys: Vec<(String, String)>,
}

impl SealPlan {
    /// Signs the seal with `key`.
    pub fn sign_with(&mut self, key: crate::trust::keys::SigningKey) {
        self.signing = Some(Signer::Key(std::sync::Arc::new(key)));
    }

    /// Keeps the signatures the output holds, checked with `key` (`name`: where it came
    /// from): the side that holds only the public key never signs.
    pub fn keep_signed_with(&mut self, key: crate::trust::keys::PublicKey, name: String) {
        self.signing = Some(Signer::Check { key, name });
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
        // The signer's public key, recorded so that the far side knows which key the
        // next delta must be signed with, and can keep the signatures it carries.
        let pem = key.public_key().to_pem();
        write_artifact(&output.join(SEAL_KEY), pem.as_bytes())?;
        record_artifact(
            output,
            SEAL_KEY,
            pem.as_bytes(),
            &mut artifacts,
            &mut hashes,
        );
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
            source: f.source.recorded(),
            sha256: f.sha256.clone(),
            executable: f.executable,
        })
        .collect();
    records.sort_by(|a, b| a.name.cmp(&b.name));
    records
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
