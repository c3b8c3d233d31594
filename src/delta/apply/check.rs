//! Checking a delta folder before anything else is done with it: its own seal, what
//! `delta.json` says it carries, and what its new seal says of each file (`apply`, and
//! `verify DELTA`).

use super::*;

/// What `apply` reads of `delta.json` (other fields are ignored).
#[derive(Debug, Deserialize)]
pub(super) struct DeltaFacts {
    #[serde(default)]
    pub(super) changes: Option<crate::delta::changes::Changes>,
    /// The cluster whose far side the receipt was of, and why the delta was made.
    #[serde(default)]
    pub(super) base_cluster: Option<String>,
    /// The far side's site the receipt was of, as the record says.
    #[serde(default)]
    pub(super) base_site: Option<String>,
    #[serde(default)]
    pub(super) reason: Option<String>,
    #[serde(default)]
    pub(super) repairs: Vec<String>,
    pub(super) format: String,
    pub(super) delta_version: u64,
    pub(super) base_receipt: String,
    pub(super) base_manifest_sha256: String,
    pub(super) target_manifest_sha256: String,
    pub(super) blobs: Tally,
    pub(super) artifacts: Tally,
    pub(super) seal: Tally,
    pub(super) config: Tally,
    #[serde(default)]
    pub(super) other_inputs: Vec<String>,
    #[serde(default)]
    pub(super) other_inputs_sha256: BTreeMap<String, String>,
    #[serde(default)]
    pub(super) source_date_epoch: Option<u64>,
    #[serde(default)]
    pub(super) source_date_from: Option<String>,
    /// The record's facts beyond what changes (who made it, the base, why), read
    /// leniently: a delta of an older seedforge has none, and one whose shape this
    /// seedforge does not know is shown without them.
    #[serde(default)]
    pub(super) made_by: Option<serde_json::Value>,
    #[serde(default)]
    pub(super) base: Option<serde_json::Value>,
    #[serde(default)]
    pub(super) why: Option<serde_json::Value>,
}

impl DeltaFacts {
    fn lenient<T: serde::de::DeserializeOwned>(v: &Option<serde_json::Value>) -> Option<T> {
        v.clone().and_then(|v| serde_json::from_value(v).ok())
    }
}

/// The delta checked: its facts, the files of `out/` and `config/` (relative paths with
/// their sha256), the new seal's lines.
pub(super) struct CheckedDelta {
    pub(super) facts: DeltaFacts,
    pub(super) out_files: BTreeMap<String, String>,
    pub(super) config_files: BTreeMap<String, String>,
    pub(super) target_sums: BTreeMap<String, String>,
    pub(super) target_sums_text: String,
    /// The config file the new manifest.json records.
    pub(super) target_config: Option<seal::Input>,
    /// The other files of the config folder the new manifest.json records its build read
    /// (`inputs.other`; none from a seedforge that did not record them).
    pub(super) target_other: Option<Vec<seal::Input>>,
    /// `cluster.k3s_version` the new manifest.json records.
    pub(super) target_k3s: Option<String>,
    /// `cluster.name` the new manifest.json records: the cluster the delta is for.
    pub(super) target_cluster: Option<String>,
    /// `site` the new manifest.json records: the site the delta is for.
    pub(super) target_site: Option<String>,
    /// The images the new manifest.json records (destination, digest), and its
    /// artifacts (path, sha256): what the delta changes is computed from these.
    pub(super) target_images: BTreeMap<String, String>,
    pub(super) target_artifacts: BTreeMap<String, String>,
    /// The files of the delta that are there in parts, by path.
    pub(super) joined: BTreeMap<String, crate::delta::parts::Joined>,
    /// `delta.json`'s SHA-256, as the delta's `SHA256SUMS` lists it (checked): what names
    /// the delta in the far side's `applied.json` and its next receipt.
    pub(super) json_sha256: String,
}

/// Checks the delta folder `dir`: against its signed statement first, when there is one
/// (every file there listed, every file listed there, `SHA256SUMS` the one it lists), then
/// its seal, `delta.json`, and that what it carries is what its new seal and manifest.json
/// name.
pub(super) fn check_delta(
    dir: &Path,
    statement: Option<&crate::delta::statement::Statement>,
) -> Result<CheckedDelta, DeltaError> {
    let not_delta = |message: String| DeltaError::BadDelta {
        path: dir.to_path_buf(),
        message,
    };
    let sums_path = dir.join(seal::SUMS);
    let json_path = dir.join(DELTA_JSON);
    if !dir.is_dir() || !sums_path.is_file() || !json_path.is_file() {
        return Err(not_delta(format!(
            "not a seedforge delta (no {DELTA_JSON} and {} in a folder); seedforge delta OUT --since RECEIPT -o DIR writes one",
            seal::SUMS
        )));
    }
    if let Some(statement) = statement {
        crate::delta::statement::check_files(dir, statement)?;
    }
    let text = crate::input::read_found_to_string(&sums_path, crate::input::Kind::Sums)?;
    let mut listed: BTreeMap<String, String> = BTreeMap::new();
    for line in text.lines() {
        let Some((hex, rel)) = seal::sums_line(line) else {
            return Err(not_delta(format!(
                "{}: a malformed line {line:?}",
                seal::SUMS
            )));
        };
        listed.insert(rel.to_string(), hex.to_string());
    }
    // Every file of the folder listed, every listed file there and hashing right.
    let mut present: BTreeSet<String> = BTreeSet::new();
    walk_files(dir, "", &mut present)?;
    present.remove(seal::SUMS);
    // The statement and its signature, checked by their signature (the statement lists
    // SHA256SUMS, not the other way round).
    present.retain(|rel| !crate::delta::statement::is_statement(rel));
    // The recovery files serve repair only (crate::delta::parity), checked by their own
    // packets' MD5s when used.
    present.retain(|rel| !crate::delta::parity::is_set_file(rel));
    listed.retain(|rel, _| !crate::delta::parity::is_set_file(rel));
    // A delta in parts: each file in parts checked over its parts and listed whole.
    let joined = crate::delta::parts::fold(dir, &mut listed, &mut present)?;
    for rel in &present {
        if !listed.contains_key(rel) {
            return Err(DeltaError::Damaged {
                path: dir.join(rel),
                message: format!("not listed in the delta's {}", seal::SUMS),
            });
        }
    }
    for (rel, hex) in &listed {
        let path = dir.join(rel);
        if !present.contains(rel) {
            return Err(DeltaError::Damaged {
                path,
                message: format!(
                    "missing: the delta's {} lists it; carry the whole delta folder again",
                    seal::SUMS
                ),
            });
        }
        if joined.contains_key(rel) {
            continue;
        }
        let got = hash_file(&path)?;
        if &got != hex {
            return Err(DeltaError::Damaged {
                path,
                message: format!(
                    "hashes to {got}, not the {hex} the delta's {} lists: damaged on the way; carry it again",
                    seal::SUMS
                ),
            });
        }
    }
    let bytes = crate::input::read_found(&json_path, crate::input::Kind::Manifest)?;
    let value: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| not_delta(format!("{DELTA_JSON} is not JSON: {e}")))?;
    if value.get("format").and_then(|f| f.as_str()) != Some(DELTA_FORMAT) {
        return Err(not_delta(format!(
            "not a seedforge delta ({DELTA_JSON} has no \"format\": \"{DELTA_FORMAT}\")"
        )));
    }
    let facts: DeltaFacts =
        serde_json::from_value(value).map_err(|e| not_delta(format!("{DELTA_JSON}: {e}")))?;
    if facts.format != DELTA_FORMAT {
        return Err(not_delta("not a seedforge delta".into()));
    }
    if facts.delta_version > u64::from(DELTA_VERSION) {
        return Err(not_delta(format!(
            "a delta of format {}, newer than this seedforge reads ({DELTA_VERSION}): use a seedforge at least as new as the one that wrote it",
            facts.delta_version
        )));
    }
    let mut out_files = BTreeMap::new();
    let mut config_files = BTreeMap::new();
    for (rel, hex) in &listed {
        if let Some(r) = rel.strip_prefix("out/") {
            out_files.insert(r.to_string(), hex.clone());
        } else if let Some(r) = rel.strip_prefix("config/") {
            // No input of a config is a dotfile or under a dot folder: a `.git/config`
            // written there would run its commands at the next `git status`.
            if r.split('/').any(|c| c.starts_with('.')) {
                return Err(not_delta(format!(
                    "{rel}: a dotfile, or a file under a dot folder (.git/): apply writes into the config folder only the inputs the config names, and none is one"
                )));
            }
            config_files.insert(r.to_string(), hex.clone());
        } else if ![
            DELTA_JSON,
            crate::delta::signed::RECORD_BUNDLE,
            crate::delta::page::REVIEW_PAGE,
        ]
        .contains(&rel.as_str())
        {
            return Err(not_delta(format!(
                "{rel}: a delta holds out/, config/, {DELTA_JSON}, its signature and {} only",
                crate::delta::page::REVIEW_PAGE
            )));
        }
    }
    // What delta.json says is carried, and what is.
    let (mut blobs, mut artifacts, mut seal_files, mut config) = Default::default();
    for rel in listed.keys() {
        let size = match joined.get(rel) {
            Some(j) => j.size,
            None => fs::metadata(dir.join(rel))
                .map_err(io_err(&dir.join(rel)))?
                .len(),
        };
        let tally: &mut Tally = match rel.strip_prefix("out/") {
            Some(r) if r.starts_with(crate::delta::BLOBS) => &mut blobs,
            Some(r) if crate::delta::carry::is_seal_file(r) => &mut seal_files,
            Some(_) => &mut artifacts,
            None if rel.starts_with("config/") => &mut config,
            None => continue,
        };
        tally.add(size);
    }
    for (what, said, found) in [
        ("blob(s)", facts.blobs, blobs),
        ("sealed file(s)", facts.artifacts, artifacts),
        ("seal file(s)", facts.seal, seal_files),
        ("config file(s)", facts.config, config),
    ] {
        if said != found {
            return Err(DeltaError::Damaged {
                path: json_path.clone(),
                message: format!(
                    "says it carries {} {what} ({} bytes), the folder and its {} hold {} ({} bytes): files are missing or added; carry the whole delta folder again",
                    said.count,
                    said.bytes,
                    seal::SUMS,
                    found.count,
                    found.bytes
                ),
            });
        }
    }
    // The new seal, and what it says of each carried file.
    if out_files.get(seal::MANIFEST) != Some(&facts.target_manifest_sha256) {
        return Err(DeltaError::Damaged {
            path: dir.join("out").join(seal::MANIFEST),
            message: format!(
                "missing or not the manifest.json {DELTA_JSON} names ({})",
                facts.target_manifest_sha256
            ),
        });
    }
    let target_sums_text = crate::input::read_found_to_string(
        &dir.join("out").join(seal::SUMS),
        crate::input::Kind::Sums,
    )?;
    let target_sums = parse_sums(&target_sums_text);
    for (rel, hex) in &out_files {
        if rel == seal::SUMS
            || rel == seal::MANIFEST_BUNDLE
            || rel == seal::statement::STATEMENT_BUNDLE
        {
            continue;
        }
        if target_sums.get(rel) != Some(hex) {
            return Err(DeltaError::Damaged {
                path: dir.join("out").join(rel),
                message: format!("not the file the delta's out/{} lists", seal::SUMS),
            });
        }
    }
    // Blobs the new layout reaches that the delta does not carry must be the far side's:
    // checked when the output is (every blob sealed there is re-hashed), and by the
    // offline build. Config files: only the inputs the new manifest.json records.
    let manifest = crate::input::read_found(
        &dir.join("out").join(seal::MANIFEST),
        crate::input::Kind::Manifest,
    )?;
    let manifest: Option<serde_json::Value> = serde_json::from_slice(&manifest).ok();
    let inputs: Option<seal::Inputs> = (manifest.as_ref())
        .and_then(|v| v.get("inputs").cloned())
        .and_then(|v| serde_json::from_value(v).ok());
    let target_k3s = (manifest.as_ref())
        .and_then(|v| v.pointer("/cluster/k3s_version"))
        .and_then(|v| v.as_str())
        .map(str::to_string);
    let target_cluster = (manifest.as_ref())
        .and_then(|v| v.pointer("/cluster/name"))
        .and_then(|v| v.as_str())
        .map(str::to_string);
    let target_site = (manifest.as_ref())
        .and_then(|v| v.get("site"))
        .and_then(|v| v.as_str())
        .map(str::to_string);
    let pairs = |list: &str, key: &str, value: &str| -> BTreeMap<String, String> {
        (manifest.as_ref())
            .and_then(|v| v.get(list))
            .and_then(|v| v.as_array())
            .into_iter()
            .flatten()
            .filter_map(|e| {
                Some((
                    e.get(key)?.as_str()?.to_string(),
                    e.get(value)?.as_str()?.to_string(),
                ))
            })
            .collect()
    };
    let target_images = pairs("images", "destination", "digest");
    let target_artifacts = pairs("artifacts", "path", "sha256");
    let mut allowed: BTreeSet<String> =
        BTreeSet::from([crate::oci::registry::lockfile::LOCK_FILE_NAME.to_string()]);
    if let Some(i) = &inputs {
        for input in std::iter::once(&i.config)
            .chain(&i.image_lists)
            .chain(&i.templates)
        {
            allowed.insert(input.path.clone());
        }
    }
    // The other files the config names, that the delta says it carries: inside the
    // config folder only.
    allowed.extend(
        (facts.other_inputs.iter())
            .filter(|p| seal::safe_relative(p).is_some())
            .cloned(),
    );
    for rel in config_files.keys() {
        if !allowed.contains(rel) {
            return Err(not_delta(format!(
                "config/{rel}: not an input the new manifest.json records, nor one {DELTA_JSON} lists as carried, nor seedforge.lock"
            )));
        }
    }
    // Each carried config file is the one the signed record says the near side's build
    // read: the new manifest.json's inputs, and delta.json's digests of the other files.
    let mut recorded: BTreeMap<&str, (&str, &str)> = BTreeMap::new();
    if let Some(i) = &inputs {
        for input in std::iter::once(&i.config)
            .chain(&i.image_lists)
            .chain(&i.templates)
            .chain(i.other.iter().flatten())
        {
            recorded.insert(&input.path, (&input.sha256, seal::MANIFEST));
        }
    }
    for (rel, sha256) in &facts.other_inputs_sha256 {
        recorded.entry(rel).or_insert((sha256, DELTA_JSON));
    }
    for (rel, got) in &config_files {
        if let Some((want, record)) = recorded.get(rel.as_str())
            && got != want
        {
            return Err(not_delta(format!(
                "config/{rel}: sha256 {got}, but the delta's {record} records sha256 {want} for it: not the file the near side's build read"
            )));
        }
    }
    let target_other = inputs.as_ref().and_then(|i| i.other.clone());
    let target_config = inputs.map(|i| i.config);
    let json_sha256 = listed.get(DELTA_JSON).cloned().unwrap_or_default();
    Ok(CheckedDelta {
        json_sha256,
        facts,
        out_files,
        config_files,
        target_sums,
        target_sums_text,
        target_config,
        target_other,
        target_k3s,
        target_cluster,
        target_site,
        target_images,
        target_artifacts,
        joined,
    })
}

/// The regular files under `dir` (relative, `/`-separated) into `into`; a symbolic link or
/// anything else is refused.
pub(super) fn walk_files(
    dir: &Path,
    prefix: &str,
    into: &mut BTreeSet<String>,
) -> Result<(), DeltaError> {
    for entry in fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let rel = format!("{prefix}{name}");
        let path = entry.path();
        let ft = entry.file_type().map_err(io_err(&path))?;
        if ft.is_dir() {
            walk_files(&path, &format!("{rel}/"), into)?;
        } else if ft.is_file() {
            into.insert(rel);
        } else {
            return Err(DeltaError::Damaged {
                path,
                message: "not a regular file or folder: a delta holds neither links nor devices"
                    .into(),
            });
        }
    }
    Ok(())
}

pub(super) fn hash_file(path: &Path) -> Result<String, DeltaError> {
    let (mut f, _) = crate::input::open_found(path)?;
    let (hex, _) = crate::hashing::sha256_reader(&mut f).map_err(io_err(path))?;
    Ok(hex)
}

/// What [`verify`] found in a delta folder.
#[derive(Debug, Clone, Serialize)]
pub struct DeltaCheck {
    /// The delta folder.
    pub delta: PathBuf,
    /// Files it holds, each hashed against its `SHA256SUMS` (parts counted as their whole).
    pub files: usize,
    /// Blobs it carries.
    pub blobs: usize,
    /// Who signed it, when a key was given to check it with.
    pub signature: Option<crate::delta::signed::SignedBy>,
    /// What `delta.json` says the delta is for and changes: the cluster its signed
    /// `manifest.json` names, the far side's (as its receipt said), the base receipt, the
    /// k3s release it brings, and the changes. Signed with the output's key when
    /// `signature.record_signed`; apply computes the changes itself all the same.
    pub record: Record,
}

/// What a delta is for and what it changes, as its `delta.json` says (the cluster and the
/// k3s release as its signed `manifest.json` names them).
#[derive(Debug, Clone, Serialize)]
pub struct Record {
    /// `cluster.name` of the new output: the cluster the delta is for.
    pub cluster: Option<String>,
    /// The cluster whose far side the receipt was of (absent: a receipt of format 3 or
    /// older).
    pub base_cluster: Option<String>,
    /// The receipt the delta was made against (its digest).
    pub base_receipt: String,
    /// The far side's `manifest.json` (sha256).
    pub base_manifest_sha256: String,
    /// `cluster.k3s_version` of the new output.
    pub k3s_version: Option<String>,
    /// What it changes, by name.
    pub changes: Option<crate::delta::changes::Changes>,
    /// Why it was made, as the operator gave it (`delta --reason`).
    pub reason: Option<String>,
    /// Who made it: the config's digest and its folder's commit (none: a delta of an
    /// older seedforge).
    pub made_by: Option<crate::delta::record::MadeBy>,
    /// The base beyond its digest: the receipt's time, what the far side last applied,
    /// whether the receipt was stale.
    pub base: Option<crate::delta::record::Base>,
    /// Why: the config inputs' diff since the far side's.
    pub why: Option<crate::delta::why::Why>,
    /// `delta.json`'s SHA-256.
    pub record_sha256: String,
}

/// Checks the delta folder `dir` as `apply` does before it touches an output: its
/// signature with `trust` (when a key is given: one of them must verify it) and every file
/// against its own seal and the new seal's records.
pub fn verify(
    dir: &Path,
    keys: &[(String, crate::trust::keys::PublicKey)],
) -> Result<DeltaCheck, DeltaError> {
    // Damage to the delta's seal is named as such, not as a signature that fails over it.
    let signature = verify_signature(dir, keys).map_err(|e| match e {
        DeltaError::Untrusted { .. } => seal_damage(dir).unwrap_or(e),
        e => e,
    })?;
    let delta = check_delta(dir, signature.as_ref().and_then(|s| s.statement.as_ref()))?;
    let record = Record {
        cluster: delta.target_cluster.clone(),
        base_cluster: delta.facts.base_cluster.clone(),
        base_receipt: delta.facts.base_receipt.clone(),
        base_manifest_sha256: delta.facts.base_manifest_sha256.clone(),
        k3s_version: delta.target_k3s.clone(),
        changes: delta.facts.changes.clone(),
        reason: delta.facts.reason.clone(),
        made_by: DeltaFacts::lenient(&delta.facts.made_by),
        base: DeltaFacts::lenient(&delta.facts.base),
        why: DeltaFacts::lenient(&delta.facts.why),
        record_sha256: delta.json_sha256.clone(),
    };
    Ok(DeltaCheck {
        record,
        delta: dir.to_path_buf(),
        files: delta.out_files.len() + delta.config_files.len() + 1,
        blobs: (delta.out_files.keys())
            .filter(|p| p.starts_with(crate::delta::BLOBS))
            .count(),
        signature,
    })
}

/// The signature of the delta folder `dir` with `keys` (one of them must verify it;
/// `None` without keys), as [`verify`] checks it first: before any other file of the
/// delta, its recovery files included, is read.
pub fn verify_signature(
    dir: &Path,
    keys: &[(String, crate::trust::keys::PublicKey)],
) -> Result<Option<crate::delta::signed::SignedBy>, DeltaError> {
    let mut signature = None;
    let mut last = None;
    for (name, key) in keys {
        let trust = crate::delta::signed::Trust {
            key: Some((name.clone(), key.clone())),
            ..Default::default()
        };
        match crate::delta::signed::check(dir, None, &trust) {
            Ok(s) => {
                signature = Some(s);
                break;
            }
            Err(e) => last = Some(e),
        }
    }
    if let (None, Some(e)) = (&signature, last) {
        return Err(e);
    }
    Ok(signature)
}

/// What the delta changes on the output `sealed`, computed from that output and the
/// delta's signed content (its `manifest.json`'s images and artifacts), the far side's
/// files the delta repairs counted as absent, as its receipt listed them. `delta.json`'s
/// `changes` must say the same (a delta made against a receipt of format 2 or older names
/// no images: those are taken as computed here); else the delta is refused, naming both.
pub(super) fn changes_here(
    dir: &Path,
    delta: &CheckedDelta,
    sealed: &crate::delta::Sealed,
) -> Result<crate::delta::changes::Changes, DeltaError> {
    use crate::delta::changes::Changes;
    let repairs: BTreeSet<&str> = delta.facts.repairs.iter().map(String::as_str).collect();
    let images_before: BTreeMap<String, String> = (sealed.facts.images.iter())
        .map(|i| (i.destination.clone(), i.digest.clone()))
        .collect();
    let files_before: BTreeMap<String, String> = (sealed.facts.artifacts.iter())
        .filter(|a| !repairs.contains(a.path.as_str()))
        .map(|a| (a.path.clone(), a.sha256.clone()))
        .collect();
    let computed = Changes {
        ca: (delta.facts.changes.as_ref()).and_then(|c| c.ca.clone()),
        ..Changes::of(
            Some(&images_before),
            &delta.target_images,
            &files_before,
            &delta.target_artifacts,
        )
    };
    let Some(said) = &delta.facts.changes else {
        return Ok(computed);
    };
    let as_said = Changes {
        images: said.images.clone().or_else(|| computed.images.clone()),
        ..said.clone()
    };
    if as_said != computed {
        let words = |c: &Changes| {
            let lines = c.lines();
            if lines.is_empty() {
                "nothing".to_string()
            } else {
                lines.join("; ")
            }
        };
        return Err(DeltaError::ChangesDisagree {
            path: dir.join(DELTA_JSON),
            message: format!(
                "says the delta changes {}; its signed content changes this output's {}: {DELTA_JSON} was edited, or made against another output; nothing was changed",
                words(said),
                words(&computed)
            ),
        });
    }
    Ok(computed)
}

/// The first file of the delta's seal (`delta.json`, `out/manifest.json`, its signature,
/// `out/SHA256SUMS`) that does not hash to what the delta's own `SHA256SUMS` lists, named as
/// damage: told before a signature that cannot verify over it, or a config file that the
/// `delta.json` it lies beside cannot name (a truncated `delta.json` is not the values
/// file's fault). `None` when each hashes right, is not listed, or is there in parts.
pub(super) fn seal_damage(dir: &Path) -> Option<DeltaError> {
    let text =
        crate::input::read_found_to_string(&dir.join(seal::SUMS), crate::input::Kind::Sums).ok()?;
    let listed: BTreeMap<&str, &str> = (text.lines().filter_map(seal::sums_line))
        .map(|(hex, rel)| (rel, hex))
        .collect();
    let seal_files = [
        DELTA_JSON.to_string(),
        format!("out/{}", seal::MANIFEST),
        format!("out/{}", seal::MANIFEST_BUNDLE),
        format!("out/{}", seal::SUMS),
    ];
    for rel in &seal_files {
        let Some(want) = listed.get(rel.as_str()) else {
            continue;
        };
        let path = dir.join(rel);
        let Ok(got) = hash_file(&path) else {
            continue;
        };
        if got == *want {
            continue;
        }
        let how = if rel == DELTA_JSON {
            match crate::input::read_found(&path, crate::input::Kind::Manifest)
                .ok()
                .map(|b| serde_json::from_slice::<serde_json::Value>(&b))
            {
                Some(Err(e)) if e.is_eof() => {
                    format!(
                        " (truncated: its JSON ends at line {}, unfinished)",
                        e.line()
                    )
                }
                Some(Err(e)) => format!(" (not JSON: {e})"),
                _ => String::new(),
            }
        } else if rel.ends_with(seal::MANIFEST) {
            " (the delta's signature cannot verify over it)".to_string()
        } else {
            String::new()
        };
        return Some(DeltaError::Damaged {
            path,
            message: format!(
                "hashes to {got}, not the {want} the delta's {} lists: damaged on the way{how}; carry it again",
                seal::SUMS
            ),
        });
    }
    None
}
