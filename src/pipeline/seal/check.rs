//! Checking a sealed output's signature (`verify --key`): the bundle over
//! `manifest.json`, `SHA256SUMS` against the signed record, the provenance's own bundle,
//! and the image signatures carried in the layout against the keys the build recorded.

use super::*;

/// Checks again the signatures carried in the output's layout against the keys, and the
/// trusted root and identities, the build recorded (`keys/images/`, listed in
/// `manifest.json`); `None` when it recorded none.
pub fn recheck_image_signatures(
    out: &Path,
) -> Result<Option<crate::oci::mirror::policy::Recheck>, SealError> {
    let view = match ManifestView::load(out) {
        Ok(view) => view,
        // An unsigned export folder: its ISOs' sums only.
        Err(SealError::NotSealed { .. }) => return Ok(None),
        Err(e) => return Err(e),
    };
    // An export folder holds neither the layout nor the recorded keys: its ISOs are bound
    // by the signed manifest.json beside them, not by the signatures a layout carries.
    let export_folder = [Path::new("oci"), Path::new(IMAGE_KEYS_DIR)]
        .iter()
        .all(|p| fs::symlink_metadata(out.join(p)).is_err());
    if (view.image_keys.is_empty() && view.image_keyless.is_none()) || export_folder {
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
    let (root, identities) = match &view.image_keyless {
        Some(record) => {
            let bad = |path: &Path, message: String| SealError::BadManifest {
                path: path.to_path_buf(),
                message,
            };
            let path = safe_relative(&record.trusted_root)
                .map(|p| out.join(p))
                .ok_or_else(|| {
                    bad(
                        &out.join(MANIFEST),
                        format!(
                            "trusted root path {:?} leaves the output",
                            record.trusted_root
                        ),
                    )
                })?;
            let bytes = crate::input::read_found(&path, crate::input::Kind::Manifest)?;
            // A carried root that no longer parses fails the check (exit 1), as a changed
            // key or signature does.
            let root = crate::trust::keyless::TrustedRoot::from_json(&bytes).map_err(|e| {
                bad_signature(
                    &path,
                    format!("the recorded trusted root no longer reads, so no keyless signature can be checked: {e}"),
                )
            })?;
            let identities = record
                .identities
                .iter()
                .map(|i| {
                    i.to_identity()
                        .map_err(|e| bad(&out.join(MANIFEST), e.to_string()))
                })
                .collect::<Result<Vec<_>, _>>()?;
            (Some(root), identities)
        }
        None => (None, Vec::new()),
    };
    let trust = crate::trust::cosign::Trust {
        keys: &keys,
        keyless: root
            .as_ref()
            .map(|root| crate::trust::cosign::KeylessTrust {
                root,
                identities: &identities,
            }),
    };
    let layout = crate::oci::Layout::open(&out.join("oci")).map_err(|e| SealError::Incomplete {
        path: out.join("oci"),
        message: e.to_string(),
    })?;
    crate::oci::mirror::policy::recheck(&layout, &trust)
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
    /// That key's id ([`crate::trust::keys::PublicKey::hint`]).
    key_id: String,
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
        key_id: public.get(which).map(|k| k.hint()).unwrap_or_default(),
    })
}

/// What checking an output's signature found.
#[derive(Debug, Clone, Serialize)]
pub struct SignatureCheck {
    /// The bundle checked.
    pub bundle: PathBuf,
    /// The key that verified it (as given).
    pub key: String,
    /// That key's id: the standard base64 of the SHA-256 of its DER SubjectPublicKeyInfo
    /// ([`crate::trust::keys::PublicKey::hint`]).
    pub key_id: String,
    /// Whether the provenance's signed form verified too.
    pub provenance: bool,
    /// Files `SHA256SUMS` lists, each matched to `manifest.json`'s signed record.
    pub files: usize,
}

/// The seal's own part of [`verify_signature`], for a folder that holds the seal but not
/// every file it lists (a delta's `out/`): the bundle over `manifest.json` verifies with one
/// of `keys`, and `SHA256SUMS` says of every file exactly what the signed `manifest.json`
/// says. Returns the check and the signed record (path to sha256).
pub fn verify_signature_of(
    out: &Path,
    keys: &[(String, crate::trust::keys::PublicKey)],
) -> Result<(SignatureCheck, BTreeMap<String, String>), SealError> {
    let bad = bad_signature;
    let SignedManifest {
        bundle_path,
        bundle_bytes,
        manifest,
        view,
        key,
        key_id,
    } = signed_manifest(out, keys)?;
    // SHA256SUMS must say what the signed manifest says, file for file.
    let sums_path = out.join(SUMS);
    let sums = crate::input::read_found_to_string(&sums_path, crate::input::Kind::Sums)?;
    let signed: BTreeMap<String, String> = view
        .artifacts
        .iter()
        .map(|a| (a.path.clone(), a.sha256.clone()))
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
                Some(s) => s.clone(),
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
    for path in signed.keys().filter(|p| !seen.contains(p.as_str())) {
        problems.push(format!("{path} is signed but missing from SHA256SUMS"));
    }
    if !problems.is_empty() {
        return Err(bad(&sums_path, problems.join("; ")));
    }
    Ok((
        SignatureCheck {
            bundle: bundle_path,
            key,
            key_id,
            provenance: false,
            files: listed,
        },
        signed,
    ))
}

/// The key id a Sigstore bundle at `path` names (`publicKey.hint`), if it can be read.
pub fn bundle_key_hint(path: &Path) -> Option<String> {
    let bytes = crate::input::read_found(path, crate::input::Kind::Manifest).ok()?;
    let bundle = crate::trust::bundle::Bundle::from_json(&bytes).ok()?;
    bundle.key_hint().map(str::to_string)
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
    let (check, signed) = verify_signature_of(out, keys)?;
    let public: Vec<crate::trust::keys::PublicKey> = keys.iter().map(|(_, k)| k.clone()).collect();
    let SignatureCheck {
        bundle: bundle_path,
        key,
        key_id,
        files: listed,
        ..
    } = check;
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
        key_id,
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
        key_id: signed.key_id,
        provenance: false,
        files: isos.len(),
    })
}
