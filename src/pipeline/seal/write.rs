//! Sealing a finished build: the provenance, the recorded keys, the signatures,
//! `manifest.json` and `SHA256SUMS`, computed whole and checked before any is written.

use super::*;
use crate::pipeline::modes::Kind;
use crate::util::atomic_write;
use sign::signed_once;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

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
    // What the seal makes itself is written only once every signature is known: a
    // refusal (the public key only, and bytes no signature here signs) leaves the
    // provenance, the recorded keys, the manifest and SHA256SUMS as they were.
    let mut pending = Pending::default();
    let key_records = image_keys(plan, output, &mut pending, &mut artifacts, &mut hashes);
    let keyless_record = plan
        .image_keyless
        .as_ref()
        .map(|(name, bytes, identities)| {
            let rel = format!(
                "{IMAGE_KEYS_DIR}/trusted_root-{}.json",
                &crate::hashing::sha256_hex(bytes)[..16]
            );
            if !artifacts.iter().any(|a| a.path == rel) {
                pending.add(output, &rel, bytes.clone(), &mut artifacts, &mut hashes);
            }
            KeylessRecord {
                trusted_root: rel,
                name: name.clone(),
                identities: identities.iter().map(IdentityRecord::from).collect(),
            }
        });
    if let Some(key) = &plan.signing {
        // The signer's public key, recorded so that the far side knows which key the
        // next delta must be signed with, and can keep the signatures it carries.
        let pem = key.public_key().to_pem();
        pending.add(
            output,
            SEAL_KEY,
            pem.into_bytes(),
            &mut artifacts,
            &mut hashes,
        );
    }
    if let Some(site) = &plan.site {
        let bytes = site::site_bytes(site);
        pending.add(output, site::SITE_FILE, bytes, &mut artifacts, &mut hashes);
    }
    artifacts.sort_by(|a, b| a.path.cmp(&b.path));
    // The provenance covers every artifact but itself and its signature (the recorded
    // keys included), and is one of the artifacts manifest.json lists.
    let statement = crate::sbom::provenance::statement(&provenance(
        plan, contents, &artifacts, &images, &files,
    ));
    pending.add(
        output,
        PROVENANCE,
        statement.clone(),
        &mut artifacts,
        &mut hashes,
    );
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
        )
        .map_err(|e| first_difference(output, &artifacts, e))?;
        pending.add(
            output,
            PROVENANCE_BUNDLE,
            bundle,
            &mut artifacts,
            &mut hashes,
        );
    }
    artifacts.sort_by(|a, b| a.path.cmp(&b.path));
    let previous = previous_seal(output)?;
    let media = media(&artifacts, previous.as_ref());
    let shared_payload_would_save = shared_payload_saving(&artifacts);
    let by_path: BTreeMap<&str, &Artifact> =
        artifacts.iter().map(|a| (a.path.as_str(), a)).collect();
    let manifest = Manifest {
        manifest_version: MANIFEST_VERSION,
        seedforge_version: env!("CARGO_PKG_VERSION").to_string(),
        seedforge_commit: crate::COMMIT.to_string(),
        source_date: plan.source_date,
        cluster: plan.cluster.clone(),
        site: plan.site.clone(),
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
        image_keyless: keyless_record,
        signed_by: plan.signing.as_ref().map(|k| k.public_key().hint()),
        artifacts,
    };
    let mut json = serde_json::to_vec_pretty(&manifest).map_err(|e| SealError::BadManifest {
        path: output.join(MANIFEST),
        message: e.to_string(),
    })?;
    json.push(b'\n');
    let manifest_path = output.join(MANIFEST);
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
    let manifest_bundle = match &plan.signing {
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
            )
            .map_err(|e| first_difference(output, &manifest.artifacts, e))?;
            lines.push((
                MANIFEST_BUNDLE.to_string(),
                crate::hashing::sha256_hex(&bundle),
            ));
            Some(bundle)
        }
        None => None,
    };
    // Every signature is known: now the output changes.
    remove_orphans(output, &manifest.artifacts, previous.as_ref())?;
    for (path, bytes) in &pending.files {
        write_artifact(path, bytes)?;
    }
    write_if_changed(&manifest_path, &json)?;
    match &manifest_bundle {
        Some(bytes) => write_artifact(&bundle_path, bytes)?,
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
    // Last: every file of the output, SHA256SUMS and the signatures included, in one
    // signed statement (its hashes the ones just computed).
    statement::write_output(output, &lines, sums.as_bytes(), plan.signing.as_ref())?;
    Ok(SealReport {
        sums: sums_path,
        manifest: manifest_path,
        artifacts: manifest.artifacts.len(),
        bytes: manifest.artifacts.iter().map(|a| a.size).sum(),
        hashed: read,
        hashes,
        media,
        shared_payload_would_save,
        signature: SealSignature::of(plan.signing.as_ref()),
    })
}

/// The public keys of `images.verify`, to be written under [`IMAGE_KEYS_DIR`] (each once,
/// named by its hint's hex so two keys with one file name stay apart) and listed as
/// artifacts.
fn image_keys(
    plan: &SealPlan,
    output: &Path,
    pending: &mut Pending,
    artifacts: &mut Vec<Artifact>,
    hashes: &mut HashMap<PathBuf, String>,
) -> Vec<KeyRecord> {
    let mut records = Vec::new();
    for (name, pem) in &plan.image_keys {
        let sha256 = crate::hashing::sha256_hex(pem.as_bytes());
        let rel = format!("{IMAGE_KEYS_DIR}/{}.pub", &sha256[..16]);
        let hint = crate::trust::keys::PublicKey::from_pem(pem.as_bytes(), name)
            .map(|k| k.hint())
            .unwrap_or_default();
        if !artifacts.iter().any(|a| a.path == rel) {
            pending.add(output, &rel, pem.as_bytes().to_vec(), artifacts, hashes);
        }
        records.push(KeyRecord {
            path: rel,
            name: name.clone(),
            hint,
        });
    }
    records
}

/// The small files the seal makes itself (provenance, recorded keys, bundles), each
/// written once the seal knows it can finish.
#[derive(Default)]
struct Pending {
    files: Vec<(PathBuf, Vec<u8>)>,
}

impl Pending {
    /// `bytes`, to be `output/rel`, listed among the sealed artifacts now.
    fn add(
        &mut self,
        output: &Path,
        rel: &str,
        bytes: Vec<u8>,
        artifacts: &mut Vec<Artifact>,
        hashes: &mut HashMap<PathBuf, String>,
    ) {
        record_artifact(output, rel, &bytes, artifacts, hashes);
        self.files.push((output.join(rel), bytes));
    }
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

/// A build refused for bytes no signature here signs (the public key only: [`signed_once`])
/// is named by the first file that differs from what the output's `manifest.json` (the
/// one its signature signs) records, before anything is said of signatures: an input here
/// differs from the signing side's (a local image source, say). The provenance and the
/// signatures, which differ whenever anything else does, are named only when nothing else
/// differs.
fn first_difference(output: &Path, artifacts: &[Artifact], e: SealError) -> SealError {
    let SealError::Unsigned { message, .. } = &e else {
        return e;
    };
    let Ok(previous) = ManifestView::load(output) else {
        return e;
    };
    let before: BTreeMap<&str, &str> = (previous.artifacts.iter())
        .map(|a| (a.path.as_str(), a.sha256.as_str()))
        .collect();
    let now: BTreeMap<&str, &str> = (artifacts.iter())
        .map(|a| (a.path.as_str(), a.sha256.as_str()))
        .collect();
    let all: BTreeSet<&str> = before.keys().chain(now.keys()).copied().collect();
    let differs = |p: &&str| before.get(p) != now.get(p);
    let last = |p: &&str| [PROVENANCE, PROVENANCE_BUNDLE, MANIFEST_BUNDLE].contains(p);
    let first = (all.iter().filter(|p| !last(p)).find(|p| differs(p)))
        .or_else(|| all.iter().find(|p| differs(p)));
    let Some(first) = first else {
        return e;
    };
    let what = match (now.get(first), before.get(first)) {
        (Some(n), Some(b)) => format!(
            "this build wrote sha256 {n}, the output's signed manifest.json records sha256 {b}"
        ),
        (Some(_), None) => {
            "this build wrote it, the output's signed manifest.json does not list it".into()
        }
        _ => "the output's signed manifest.json lists it, this build did not write it".into(),
    };
    SealError::Unsigned {
        path: output.join(first),
        message: format!(
            "{what}: the first file that differs from what was signed (an input here is not the signing side's: a local image source, a file the config names); so {message}"
        ),
    }
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
        source_date_epoch: plan.source_date.source_date_epoch,
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
