//! Who signed a delta, and whether the far side trusts it: checked before anything else of
//! the delta is read. The far side holds public keys only: the key given (`apply --key`,
//! `verify --key`) or, without one, the key its own output records it was signed with
//! (`OUT/keys/seal.pub`). Once an output is signed, a delta that is unsigned or signed by
//! another key is refused unless the operator says so (`--allow-unsigned`,
//! `--allow-new-key`).

use super::DeltaError;
use crate::pipeline::seal;
use crate::trust::keys::PublicKey;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The delta's description: what it is for and changes, the file whose signature is
/// checked here with the output's.
pub const DELTA_JSON: &str = "delta.json";

/// What the far side trusts.
#[derive(Debug, Clone, Default)]
pub struct Trust {
    /// The public key given (`--key`): its name as given, and the key.
    pub key: Option<(String, PublicKey)>,
    /// A delta without a signature is taken over a signed output.
    pub allow_unsigned: bool,
    /// A delta signed by another key than the one that signed the output is taken (it
    /// must still verify with the key given).
    pub allow_new_key: bool,
}

impl Trust {
    /// Reads the key at `path` (PEM), if any, into a trust with the two allowances.
    pub fn read(
        key: Option<&Path>,
        allow_unsigned: bool,
        allow_new_key: bool,
    ) -> Result<Trust, DeltaError> {
        let key = match key {
            Some(p) => Some((
                p.display().to_string(),
                PublicKey::read(p).map_err(|e| DeltaError::BadTarget {
                    path: p.to_path_buf(),
                    message: format!("--key: {e}"),
                })?,
            )),
            None => None,
        };
        Ok(Trust {
            key,
            allow_unsigned,
            allow_new_key,
        })
    }
}

/// What the signature check of a delta found.
#[derive(Debug, Clone, Serialize)]
pub struct SignedBy {
    /// Whether the delta is signed.
    pub signed: bool,
    /// The key id of the key that verified its signature (`null` unsigned).
    pub key_id: Option<String>,
    /// Where that key came from (`--key FILE`, `OUT/keys/seal.pub`).
    pub key: Option<String>,
    /// The key id the base output was signed with, if it was.
    pub base_key_id: Option<String>,
    /// Config files the delta carries that the signed manifest does not record (the
    /// config's other inputs): bound by `apply`'s rebuild, whose output must be the signed
    /// one, not by the signature itself.
    pub bound_by_rebuild: Vec<String>,
    /// `delta.json` (the cluster and base the delta is for, what it changes) is signed
    /// with the same key ([`RECORD_BUNDLE`]) and verifies.
    pub record_signed: bool,
    /// The medium's statement (every file on it), its signature verified with the same
    /// key: what the folder is checked against before any other file of it is used.
    #[serde(skip)]
    pub statement: Option<super::statement::Statement>,
}

/// Whether a sealed output (and so a delta of it) is signed, and with which key.
#[derive(Debug, Clone, Serialize)]
pub struct OutputSignature {
    /// Its `manifest.json.sigstore.json` signs its `manifest.json`.
    pub signed: bool,
    /// The key id of the key that verified it ([`PublicKey::hint`]; `null` unsigned).
    pub key_id: Option<String>,
    /// That key: the one the output records it was signed with (`OUT/keys/seal.pub`).
    pub key: Option<String>,
}

/// Whether the sealed output `out` is signed: its bundle over `manifest.json` checked
/// with the key it records it was signed with, and `SHA256SUMS` against the signed
/// manifest. A signature that does not verify is refused: a delta of it would be.
pub fn of_output(out: &Path) -> Result<OutputSignature, DeltaError> {
    let bundle = out.join(seal::MANIFEST_BUNDLE);
    if std::fs::symlink_metadata(&bundle).is_err() {
        return Ok(OutputSignature {
            signed: false,
            key_id: None,
            key: None,
        });
    }
    let Some((name, key)) = seal::recorded_key(out) else {
        return Err(DeltaError::Untrusted {
            path: out.join(seal::SEAL_KEY),
            message: format!(
                "{} is signed, and records no key it was signed with: build it again with the private key",
                out.display()
            ),
        });
    };
    seal::verify_signature_of(out, &[(name.clone(), key.clone())]).map_err(|e| {
        DeltaError::Untrusted {
            path: bundle.clone(),
            message: format!(
                "does not verify with the key the output records ({name}, key id {}): {e}",
                key.hint()
            ),
        }
    })?;
    Ok(OutputSignature {
        signed: true,
        key_id: Some(key.hint()),
        key: Some(name),
    })
}

/// Whether the config at `path` sets `seal.require_signature: true` (false where it does
/// not parse: the delta's other checks read it too).
pub(crate) fn config_requires(path: &Path) -> bool {
    let Ok(text) = crate::input::read_to_string(path, crate::input::Kind::Config) else {
        return false;
    };
    crate::config::Config::parse(&text, path)
        .is_ok_and(|c| c.seal.as_ref().is_some_and(|s| s.required().is_some()))
}

/// The key a sealed output records it was signed with, and the key id its manifest names.
fn base_signer(out: &Path) -> (Option<(String, PublicKey)>, Option<String>) {
    let key = seal::recorded_key(out);
    let hint = seal::ManifestView::load(out).ok().and_then(|v| v.signed_by);
    let hint = hint.or_else(|| key.as_ref().map(|(_, k)| k.hint()));
    (key, hint)
}

/// Checks the signature of the delta in `dir` against `trust` and, when `base` is given,
/// the output it is applied to: the bundle over `out/manifest.json` verifies with the
/// trusted key, and its `out/SHA256SUMS` says of every file exactly what the signed
/// manifest says, and every config file the delta carries is the one it records; so
/// every file of the delta is bound to the signature once it hashes to its line.
pub fn check(dir: &Path, base: Option<&Path>, trust: &Trust) -> Result<SignedBy, DeltaError> {
    let out = dir.join("out");
    let bundle_path = out.join(seal::MANIFEST_BUNDLE);
    let signed = std::fs::symlink_metadata(&bundle_path).is_ok();
    let (base_key, base_hint) = match base {
        Some(b) => base_signer(b),
        None => (None, None),
    };
    let untrusted = |path: &Path, message: String| DeltaError::Untrusted {
        path: path.to_path_buf(),
        message,
    };
    if !signed {
        if let Some(hint) = &base_hint
            && !trust.allow_unsigned
        {
            return Err(untrusted(
                dir,
                format!(
                    "the delta is not signed, and the output it would replace is (key id {hint}): a delta of a signed output is signed with the same key; --allow-unsigned takes it all the same"
                ),
            ));
        }
        if let Some((name, key)) = &trust.key
            && !trust.allow_unsigned
        {
            return Err(untrusted(
                dir,
                format!(
                    "the delta is not signed, and --key {name} (key id {}) was given to check it; --allow-unsigned takes it all the same",
                    key.hint()
                ),
            ));
        }
        return Ok(SignedBy {
            signed: false,
            key_id: None,
            key: None,
            base_key_id: base_hint,
            bound_by_rebuild: Vec::new(),
            record_signed: false,
            statement: None,
        });
    }
    let Some((name, key)) = trust.key.clone().or(base_key) else {
        return Err(DeltaError::BadDelta {
            path: dir.to_path_buf(),
            message: format!(
                "the delta is signed, and nothing here says which key to trust{}: give the public key with --key PUB",
                base.map(|b| format!(" ({} is not signed)", b.display()))
                    .unwrap_or_default()
            ),
        });
    };
    let keys = [(name.clone(), key.clone())];
    seal::verify_signature_of(&out, &keys).map_err(|e| {
        let found = seal::bundle_key_hint(&bundle_path).unwrap_or_else(|| "none named".into());
        let why = match e {
            seal::SealError::BadSignature { path, message } if path == bundle_path => message,
            e => e.to_string(),
        };
        untrusted(
            &bundle_path,
            format!(
                "the delta's signature (key id {found}) is not one of {name} (key id {}): {why}",
                key.hint()
            ),
        )
    })?;
    if let Some(hint) = &base_hint
        && *hint != key.hint()
        && !trust.allow_new_key
    {
        return Err(untrusted(
            &bundle_path,
            format!(
                "the delta is signed by key id {}, the output it would replace by key id {hint}: --allow-new-key takes the new key (the delta must still verify with --key)",
                key.hint()
            ),
        ));
    }
    // The medium signed whole (every file on it), and its record, with the same key:
    // both before anything the record says is read. A medium signed in part (its seal
    // carried, its statement or record stripped, or made without the private key) is
    // refused unless taken unsigned on purpose.
    let statement = super::statement::verify(dir, &name, &key)?;
    let record_signed = check_record(dir, &name, &key)?;
    if !trust.allow_unsigned {
        let stripped = |file: &str, what: &str| {
            untrusted(
                &dir.join(file),
                format!(
                    "missing: {what} is not signed, and its manifest.json is (key id {}), so the far side trusts that key: a medium is signed whole by the side that holds the private key (seedforge delta --signing-key FILE, or seal.key, there); stripped on the way, or made without the key; refused, nothing written; --allow-unsigned takes it all the same",
                    key.hint()
                ),
            )
        };
        if statement.is_none() {
            return Err(stripped(
                super::statement::STATEMENT_BUNDLE,
                "the medium's statement (every file on it)",
            ));
        }
        if !record_signed {
            return Err(stripped(
                RECORD_BUNDLE,
                "the delta's record (delta.json: what it is for and changes)",
            ));
        }
    }
    if let Some(statement) = &statement {
        super::statement::refuse_additions(dir, statement)?;
    }
    let bound_by_rebuild = bind_config(dir)?;
    Ok(SignedBy {
        signed: true,
        key_id: Some(key.hint()),
        key: Some(name),
        base_key_id: base_hint,
        bound_by_rebuild,
        record_signed,
        statement,
    })
}

/// Every config file the delta carries (but `seedforge.lock`, which the rebuild checks
/// against the image digests the signed manifest records) is the one the new
/// `manifest.json` records, by sha256. The config's other inputs the delta lists in
/// `delta.json` (chart values, `manifests:` files, `release_images`, base lists) are not
/// recorded there: they are bound by `apply`'s rebuild, whose output must be the signed
/// one; they are returned.
fn bind_config(dir: &Path) -> Result<Vec<String>, DeltaError> {
    let view = seal::ManifestView::load(&dir.join("out"))?;
    let recorded: BTreeMap<&str, &str> = (view.inputs.iter())
        .flat_map(|i| {
            std::iter::once(&i.config)
                .chain(&i.image_lists)
                .chain(&i.templates)
        })
        .map(|i| (i.path.as_str(), i.sha256.as_str()))
        .collect();
    let others: Vec<String> =
        crate::input::read_found(&dir.join(DELTA_JSON), crate::input::Kind::Manifest)
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .and_then(|v| v.get("other_inputs").cloned())
            .and_then(|v| serde_json::from_value(v).ok())
            .unwrap_or_default();
    // Each config file by the sha256 the delta lists for it (whole, or over its parts in
    // SHA256SUMS.wholes): the check of the delta's own seal, which follows before anything
    // is used, hashes every file against that line, so each is hashed once.
    let config_lines = |name: &str| -> BTreeMap<String, String> {
        crate::input::read_found_to_string(&dir.join(name), crate::input::Kind::Sums)
            .map(|text| {
                (text.lines().filter_map(seal::sums_line))
                    .filter_map(|(hex, path)| {
                        Some((path.strip_prefix("config/")?.to_string(), hex.to_string()))
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut listed = config_lines(seal::SUMS);
    // A file in parts is listed by its parts there, and whole in SHA256SUMS.wholes.
    for (rel, hex) in config_lines(crate::pipeline::split::WHOLES) {
        let prefix = format!("{rel}.part");
        listed.retain(|k, _| {
            k.strip_prefix(&prefix)
                .is_none_or(|n| n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()))
        });
        listed.insert(rel, hex);
    }
    let mut by_rebuild = Vec::new();
    for (rel, got) in listed {
        if rel == crate::oci::registry::lockfile::LOCK_FILE_NAME {
            continue;
        }
        let path: PathBuf = dir.join("config").join(&rel);
        match recorded.get(rel.as_str()) {
            Some(want) if **want == got => {}
            Some(want) => {
                return Err(DeltaError::Untrusted {
                    path,
                    message: format!(
                        "the delta lists sha256 {got}; the signed manifest.json records {want}"
                    ),
                });
            }
            None if others.contains(&rel) => by_rebuild.push(rel),
            None => {
                return Err(DeltaError::Untrusted {
                    path,
                    message: "not an input the signed manifest.json records, nor one of the config's other inputs delta.json lists".into(),
                });
            }
        }
    }
    Ok(by_rebuild)
}

/// The signature over a delta's `delta.json` (what the delta is for and what it changes),
/// made by `delta` with the key that signed the output, beside `delta.json`.
pub const RECORD_BUNDLE: &str = "delta.json.sigstore.json";

/// The bundle (JSON) of `key`'s signature over `json`, the bytes of a `delta.json`.
pub(crate) fn sign_record(
    json: &[u8],
    key: &crate::trust::keys::SigningKey,
) -> Result<Vec<u8>, DeltaError> {
    crate::trust::bundle::Bundle::sign_blob(json, key)
        .map(|b| b.to_json())
        .map_err(|e| DeltaError::BadTarget {
            path: PathBuf::from(RECORD_BUNDLE),
            message: format!("cannot sign {DELTA_JSON}: {e}"),
        })
}

/// Checks the signature over the delta's `delta.json` in `dir` with `key` (named `name`):
/// `Ok(false)` when there is none, `Ok(true)` when it verifies; refused when it does not.
pub(crate) fn check_record(dir: &Path, name: &str, key: &PublicKey) -> Result<bool, DeltaError> {
    let path = dir.join(RECORD_BUNDLE);
    if std::fs::symlink_metadata(&path).is_err() {
        return Ok(false);
    }
    let untrusted = |message: String| DeltaError::Untrusted {
        path: path.clone(),
        message,
    };
    let bundle_bytes = crate::input::read_found(&path, crate::input::Kind::Manifest)?;
    let json = crate::input::read_found(&dir.join(DELTA_JSON), crate::input::Kind::Manifest)?;
    let bundle = crate::trust::bundle::Bundle::from_json(&bundle_bytes)
        .map_err(|e| untrusted(format!("not a signature of {DELTA_JSON}: {e}")))?;
    bundle.verify_blob(&json, std::slice::from_ref(key)).map_err(|e| {
        untrusted(format!(
            "the signature over {DELTA_JSON} (what the delta is for and what it changes) does not verify with {name} (key id {}): {e}; {DELTA_JSON} was changed since it was signed",
            key.hint(),
        ))
    })?;
    Ok(true)
}
