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
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};
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
    /// With only the public key here, the build would change what the output's signature
    /// signs: refused before any step (nothing written).
    #[error("{}: {message}", path.display())]
    NotSignable {
        /// The signature that would no longer sign the output.
        path: PathBuf,
        /// What changed, and the ways on.
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
    /// The build's source date is not the one a signed output records, and only the
    /// public key is here: every dated file would change.
    #[error("{}: {message}", path.display())]
    SourceDate {
        /// The output's `manifest.json`.
        path: PathBuf,
        /// Both dates.
        message: String,
    },
    /// `SOURCE_DATE_EPOCH` is set to something that is not a date.
    #[error(
        "SOURCE_DATE_EPOCH={value:?} is not a date: it is a number of seconds since 1970-01-01T00:00:00Z, digits only (SOURCE_DATE_EPOCH=1700000000); set it so, or unset it to date the build from the config's source_date_epoch"
    )]
    EnvDate {
        /// The value as the environment has it.
        value: String,
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
            SealError::NotSealed { .. }
                | SealError::BadManifest { .. }
                | SealError::SourceDate { .. }
                | SealError::EnvDate { .. }
                | SealError::NotSignable { .. }
                | SealError::Input(_)
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
mod date;
mod other;
pub(crate) use other::other_inputs_of;
mod records;
mod sign;
pub mod site;
pub mod statement;
mod sums;
mod write;

pub use check::*;
pub use date::{DateFrom, Recorded, SourceDate, date_text};
pub use records::*;
pub use sign::{SEAL_KEY, Signer, recorded_key};
pub use sums::*;
pub use write::*;

/// Everything the seal records about the inputs, gathered while planning.
#[derive(Debug, Clone)]
pub struct SealPlan {
    source_date: SourceDate,
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
    /// The trusted root of `images.verify` (file name as the config names it, bytes) and
    /// its identities.
    image_keyless: Option<(String, Vec<u8>, Vec<crate::config::IdentityConfig>)>,
    /// The output's site identity ([`site`]), once [`SealPlan::take_site`] has read or
    /// made it.
    site: Option<String>,
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

    /// With the public key only (no private key here), a build whose inputs differ from
    /// those the output's signed `manifest.json` records would write bytes no signature
    /// here signs, and could only be refused at its end: refused before any step instead.
    pub fn check_signable(&self, output: &Path) -> Result<(), SealError> {
        let Some(Signer::Check { key, name }) = &self.signing else {
            return Ok(());
        };
        let Ok(previous) = ManifestView::load(output) else {
            return Ok(());
        };
        let Some(recorded) = &previous.inputs else {
            return Ok(());
        };
        let changed = changed_inputs(recorded, &self.inputs);
        if changed.is_empty() {
            return self.source_date.check_signable(output, &key.hint());
        }
        Err(SealError::NotSignable {
            path: output.join(MANIFEST_BUNDLE),
            message: format!(
                "the output is signed (key id {}) and {} changed since it was signed, but only the public key {name} is here: nothing was built. Sign on the side that holds the private key (build --signing-key KEY, or seal.key) and carry its output or a delta; to stop signing this output, remove {} first",
                key.hint(),
                changed.join(", "),
                output.join(SEAL_KEY).display()
            ),
        })
    }

    /// The site identity the seal records: the one `output/site.json` holds, else a new
    /// one, unless the build is `offline` or holds only the public key (a far side's
    /// build never makes a site of its own). A `site.json` that is not one is refused.
    pub fn take_site(&mut self, output: &Path, offline: bool) -> Result<(), SealError> {
        self.site = site::for_build(output, self.signing.as_ref(), offline)?;
        Ok(())
    }

    /// The site identity the seal records, if any.
    pub fn site(&self) -> Option<&str> {
        self.site.as_deref()
    }

    /// Records the public keys the images' signatures were checked against.
    pub fn record_image_keys(&mut self, keys: &[crate::oci::mirror::policy::PolicyKey]) {
        self.image_keys = keys
            .iter()
            .map(|k| (k.name.clone(), k.key.to_pem()))
            .collect();
    }

    /// Records the trusted root (`name` as the config names it, its bytes as read) and the
    /// identities the images' keyless signatures were checked with.
    pub fn record_image_keyless(
        &mut self,
        name: String,
        trusted_root: Vec<u8>,
        identities: Vec<crate::config::IdentityConfig>,
    ) {
        self.image_keyless = Some((name, trusted_root, identities));
    }

    /// Hashes the inputs of `config` (config file, image lists, template overrides) and
    /// records the registry's names from the plan's `Pki` step.
    pub fn new(
        config: &Config,
        images: &ImageList,
        sans: Vec<String>,
        source_date: SourceDate,
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
        // What else the build reads of the config's folder, as it reads it now (paths
        // relative to the folder only: no absolute path is recorded).
        let other: Vec<Input> = (other_inputs_of(config).into_iter())
            .filter(|(rel, _)| !Path::new(rel).is_absolute())
            .filter_map(|(path, file)| {
                Some(Input {
                    path,
                    sha256: hash(&file).ok()?,
                })
            })
            .collect();
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
                    source_text(&e.source, (!e.absolute_path).then_some(&*config.dir)),
                    e.destination.to_string(),
                )
            })
            .collect();
        Ok(SealPlan {
            source_date,
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
                other: (!other.is_empty()).then_some(other),
            },
            registry,
            images,
            signing: None,
            image_keys: Vec::new(),
            image_keyless: None,
            site: None,
        })
    }
}

impl SealPlan {
    /// Who signs the seal (and the export's statement), if anyone.
    pub fn signer(&self) -> Option<&Signer> {
        self.signing.as_ref()
    }

    /// The build's source date.
    pub fn source_date(&self) -> SourceDate {
        self.source_date
    }

    /// (source as listed, destination) of every image: local paths relative to the
    /// config's directory.
    pub fn image_sources(&self) -> &[(String, String)] {
        &self.images
    }
}

/// The input files (config, image lists, templates) that are not in `now` as `recorded`
/// has them, by their paths.
fn changed_inputs(recorded: &Inputs, now: &Inputs) -> Vec<String> {
    let all = |i: &Inputs| -> BTreeMap<String, String> {
        std::iter::once(&i.config)
            .chain(&i.image_lists)
            .chain(&i.templates)
            .map(|f| (f.path.clone(), f.sha256.clone()))
            .collect()
    };
    let (before, after) = (all(recorded), all(now));
    let mut changed: Vec<String> = after
        .iter()
        .filter(|(path, sha)| before.get(*path) != Some(sha))
        .map(|(path, _)| path.clone())
        .collect();
    changed.extend(
        before
            .keys()
            .filter(|p| !after.contains_key(*p))
            .map(|p| format!("{p} (no longer an input)")),
    );
    changed
}

/// An image source as listed, with a local path made relative to `base` (none: a path
/// written absolute, kept as it is).
fn source_text(source: &ImageSource, base: Option<&Path>) -> String {
    let (transport, path, reference) = match source {
        ImageSource::Registry(r) => return format!("docker://{r}"),
        ImageSource::OciDir { path, reference } => ("oci", path, reference),
        ImageSource::OciArchive { path, reference } => ("oci-archive", path, reference),
        ImageSource::DockerArchive { path, reference } => ("docker-archive", path, reference),
    };
    let path = match base {
        Some(base) => relative_to(path, base),
        None => path.to_string_lossy().into_owned(),
    };
    let mut s = format!("{transport}:{path}");
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
    /// Whether the seal is signed, and with which key.
    pub signature: SealSignature,
}

/// Whether a seal is signed, and with which key (`build --json`'s `seal.signature`).
#[derive(Debug, Clone, Serialize)]
pub struct SealSignature {
    /// `manifest.json.sigstore.json` signs the seal (made now, or kept).
    pub signed: bool,
    /// The key id of the key that signs it: the standard base64 of the SHA-256 of its DER
    /// SubjectPublicKeyInfo, as cosign writes it into a bundle's `publicKey.hint`
    /// ([`crate::trust::keys::PublicKey::hint`]; `manifest.json`'s `signed_by`). `null`
    /// unsigned.
    pub key_id: Option<String>,
    /// `private_key`: signed here with the private key (a signature that still signs the
    /// bytes is kept as it is); `public_key`: only the public key is here, and the
    /// signatures the output held, checked with it, are kept. `null` unsigned.
    pub signer: Option<&'static str>,
}

impl SealSignature {
    /// What a seal signed by `signer` (none: unsigned) says of its signature.
    pub fn of(signer: Option<&Signer>) -> SealSignature {
        SealSignature {
            signed: signer.is_some(),
            key_id: signer.map(|s| s.public_key().hint()),
            signer: signer.map(|s| match s {
                Signer::Key(_) => "private_key",
                Signer::Check { .. } => "public_key",
            }),
        }
    }
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
    fn a_local_source_written_absolute_is_recorded_as_written_wherever_the_config_is() {
        let source = ImageSource::OciDir {
            path: PathBuf::from("/srv/images/oci"),
            reference: Some("pause:3.6".into()),
        };
        // Made relative, the same path reads differently from each checkout.
        let relative = |base: &str| source_text(&source, Some(Path::new(base)));
        assert_eq!(
            relative("/home/ci/runs/3"),
            "oci:../../../../srv/images/oci:pause:3.6"
        );
        assert_eq!(relative("/srv/far"), "oci:../images/oci:pause:3.6");
        assert_eq!(source_text(&source, None), "oci:/srv/images/oci:pause:3.6");
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

    #[test]
    fn a_manifest_identity_with_a_field_this_seedforge_does_not_know_still_reads() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(MANIFEST),
            r#"{"artifacts": [], "image_keyless": {"trusted_root": "keys/images/trusted_root-0.json",
                "name": "root.json", "identities": [{"issuer": "https://token.actions.githubusercontent.com",
                "subject_regexp": "^https://github.com/acme/", "added_later": {"x": 1}}]}}"#,
        )
        .unwrap();
        let view = ManifestView::load(dir.path()).unwrap();
        let identities = &view.image_keyless.unwrap().identities;
        assert_eq!(identities.len(), 1);
        assert_eq!(
            identities[0].issuer.as_deref(),
            Some("https://token.actions.githubusercontent.com")
        );
        identities[0].to_identity().unwrap();
        // The config's own entry stays strict.
        let strict: Result<crate::config::IdentityConfig, _> =
            serde_json::from_str(r#"{"issuer": "i", "subject": "s", "added_later": 1}"#);
        assert!(strict.is_err());
        // Written as the config's entry is.
        let config: crate::config::IdentityConfig =
            serde_json::from_str(r#"{"subject": "s", "no_issuer": true}"#).unwrap();
        assert_eq!(
            serde_json::to_string(&IdentityRecord::from(&config)).unwrap(),
            serde_json::to_string(&config).unwrap()
        );
    }
}
