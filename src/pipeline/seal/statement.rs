//! A medium's statement: every file on it by path, size and SHA-256, in `statement.json`,
//! signed with the seal's key (`statement.json.sigstore.json`, a Sigstore bundle over the
//! statement's bytes, as `cosign sign-blob --bundle` makes one, so that `cosign
//! verify-blob --bundle B --key PUB statement.json` checks it with the public key alone).
//! One format for every medium: a sealed build output (written by the seal, last), an
//! export folder (written by the export, last) and a delta (written by `delta`, last).
//!
//! The checker takes the signature first, then the folder against it: a file the statement
//! does not list is refused (an addition), one it lists that is missing or of another size
//! is damage, and the medium's `SHA256SUMS`, when the statement lists it, must be the one
//! it lists, line for line; every file it lists and `SHA256SUMS` does not is hashed here.
//! The files `SHA256SUMS` lists are hashed once, against it, by the medium's own check that
//! follows (so a file is read once, and bound to the signature through `SHA256SUMS`).

use super::{SUMS, SealError, Signer, parse_sums};
use crate::trust::keys::{PublicKey, SigningKey};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

/// The statement, at the top of the medium.
pub const STATEMENT: &str = "statement.json";
/// Its signature (a Sigstore bundle), beside it.
pub const STATEMENT_BUNDLE: &str = "statement.json.sigstore.json";
/// The statement's `format`.
pub const STATEMENT_FORMAT: &str = "seedforge-medium";
/// The statement's `version`.
pub const STATEMENT_VERSION: u32 = 1;

/// Whether `rel` (relative to the medium) is the statement or its signature: the two files
/// the statement does not list.
pub fn is_statement(rel: &str) -> bool {
    rel == STATEMENT || rel == STATEMENT_BUNDLE
}

/// A file on the medium: its size and SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Listed {
    /// Bytes.
    pub size: u64,
    /// SHA-256, hex.
    pub sha256: String,
}

/// A file on the medium in parts, as `join.sh` joins it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Whole {
    /// Bytes of the joined file.
    pub size: u64,
    /// SHA-256 of the joined file, hex.
    pub sha256: String,
    /// Its parts, in order (each listed among the files).
    pub parts: Vec<String>,
}

/// `statement.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Statement {
    /// [`STATEMENT_FORMAT`].
    pub format: String,
    /// [`STATEMENT_VERSION`].
    pub version: u32,
    /// What the medium is: `output`, `export` or `delta`.
    pub medium: String,
    /// Every file on the medium but the statement and its signature, by path.
    pub files: BTreeMap<String, Listed>,
    /// The files on the medium in parts, by the path `join.sh` gives each joined.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub wholes: BTreeMap<String, Whole>,
}

impl Statement {
    /// A statement of `medium` over `files` and `wholes`.
    pub fn new(
        medium: &str,
        files: BTreeMap<String, Listed>,
        wholes: BTreeMap<String, Whole>,
    ) -> Statement {
        Statement {
            format: STATEMENT_FORMAT.into(),
            version: STATEMENT_VERSION,
            medium: medium.into(),
            files,
            wholes,
        }
    }

    /// Its bytes, as written (pretty JSON and a newline: the same files give the same
    /// bytes).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut json = serde_json::to_vec_pretty(self).unwrap_or_default();
        json.push(b'\n');
        json
    }
}

fn refused(path: &Path, message: String) -> SealError {
    SealError::BadSignature {
        path: path.to_path_buf(),
        message,
    }
}

/// Every regular file under `dir`, relative (`/`-separated), but those `skip` names (a
/// folder skipped whole when `skip` names it); a link or device refused.
pub fn walk(dir: &Path, skip: &dyn Fn(&str) -> bool) -> Result<BTreeSet<String>, SealError> {
    let mut into = BTreeSet::new();
    walk_into(dir, "", skip, &mut into)?;
    Ok(into)
}

fn walk_into(
    dir: &Path,
    prefix: &str,
    skip: &dyn Fn(&str) -> bool,
    into: &mut BTreeSet<String>,
) -> Result<(), SealError> {
    for entry in fs::read_dir(dir).map_err(|e| SealError::io(dir, e))? {
        let entry = entry.map_err(|e| SealError::io(dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let rel = format!("{prefix}{name}");
        if skip(&rel) || is_statement(&rel) {
            continue;
        }
        let path = entry.path();
        let ft = entry.file_type().map_err(|e| SealError::io(&path, e))?;
        if ft.is_dir() {
            walk_into(&path, &format!("{rel}/"), skip, into)?;
        } else if ft.is_file() {
            into.insert(rel);
        } else {
            return Err(refused(
                &path,
                "not a regular file or folder: a medium holds neither links nor devices".into(),
            ));
        }
    }
    Ok(())
}

/// The files `present` under `dir` with their sizes and SHA-256: from `known` (path to
/// hex, as the writer made them) where it has one, else hashed here.
pub fn listing(
    dir: &Path,
    present: BTreeSet<String>,
    known: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, Listed>, SealError> {
    let mut files = BTreeMap::new();
    for rel in present {
        let path = dir.join(&rel);
        let size = fs::metadata(&path)
            .map_err(|e| SealError::io(&path, e))?
            .len();
        let sha256 = match known.get(&rel) {
            Some(hex) => hex.clone(),
            None => crate::hashing::sha256_found(&path).map_err(|e| SealError::io(&path, e))?,
        };
        files.insert(rel, Listed { size, sha256 });
    }
    Ok(files)
}

/// The signature of `json` (the statement's bytes) to be `bundle` with `key`.
pub fn sign(json: &[u8], key: &SigningKey, bundle: &Path) -> Result<Vec<u8>, SealError> {
    crate::trust::bundle::Bundle::sign_blob(json, key)
        .map(|b| b.to_json())
        .map_err(|e| SealError::Sign {
            path: bundle.to_path_buf(),
            message: format!("cannot sign {STATEMENT}: {e}"),
        })
}

/// Writes `statement` into `dir` and, by `signer`, its signature: with the private key a
/// signature already there that signs these very bytes is kept (an ECDSA signature differs
/// each time it is made), else a new one is made; with the public key only the one there
/// is kept while it signs them, and otherwise removed (this side cannot sign: the
/// statement stays unsigned, and `verify --key` says so). Without a signer no signature
/// stays. Returns whether the statement is signed.
pub fn write(
    dir: &Path,
    statement: &Statement,
    signer: Option<&Signer>,
) -> Result<bool, SealError> {
    let json = statement.to_bytes();
    let path = dir.join(STATEMENT);
    let bundle_path = dir.join(STATEMENT_BUNDLE);
    let kept = signer.and_then(|s| {
        let old = crate::input::read_found(&bundle_path, crate::input::Kind::Manifest).ok()?;
        let bundle = crate::trust::bundle::Bundle::from_json(&old).ok()?;
        (bundle
            .verify_blob(&json, std::slice::from_ref(s.public_key()))
            .ok())
        .map(|_| old)
    });
    let bundle = match (kept, signer) {
        (Some(old), _) => Some(old),
        (None, Some(Signer::Key(key))) => Some(sign(&json, key, &bundle_path)?),
        (None, _) => None,
    };
    if !crate::input::holds(&path, &json) {
        crate::util::atomic_write_mode(&path, &json, 0o644).map_err(|e| SealError::io(&path, e))?;
    }
    match &bundle {
        Some(bytes) if crate::input::holds(&bundle_path, bytes) => {}
        Some(bytes) => crate::util::atomic_write_mode(&bundle_path, bytes, 0o644)
            .map_err(|e| SealError::io(&bundle_path, e))?,
        None => remove_if_file(&bundle_path)?,
    }
    Ok(bundle.is_some())
}

/// Removes the statement and its signature from `dir`, where a medium is no longer signed.
pub fn remove(dir: &Path) -> Result<(), SealError> {
    remove_if_file(&dir.join(STATEMENT_BUNDLE))?;
    remove_if_file(&dir.join(STATEMENT))
}

fn remove_if_file(path: &Path) -> Result<(), SealError> {
    if fs::symlink_metadata(path).is_ok_and(|m| m.is_file()) {
        fs::remove_file(path).map_err(|e| SealError::io(path, e))?;
    }
    Ok(())
}

/// The statement of the medium `dir`, its signature checked with `key` (named `name`):
/// `Ok(None)` when the medium has no signature over a statement (none made, or stripped:
/// the caller decides); refused when the signature or the statement does not hold.
pub fn verify(dir: &Path, name: &str, key: &PublicKey) -> Result<Option<Statement>, SealError> {
    let bundle_path = dir.join(STATEMENT_BUNDLE);
    if fs::symlink_metadata(&bundle_path).is_err() {
        return Ok(None);
    }
    let path = dir.join(STATEMENT);
    let bundle_bytes = crate::input::read_found(&bundle_path, crate::input::Kind::Manifest)?;
    let json = crate::input::read_found(&path, crate::input::Kind::Manifest).map_err(|e| {
        refused(
            &path,
            format!(
                "{}: its signature {STATEMENT_BUNDLE} is here and the statement it signs is not readable: the medium is not what was signed",
                e.reason()
            ),
        )
    })?;
    let bundle = crate::trust::bundle::Bundle::from_json(&bundle_bytes)
        .map_err(|e| refused(&bundle_path, format!("not a signature of {STATEMENT}: {e}")))?;
    bundle.verify_blob(&json, std::slice::from_ref(key)).map_err(|e| {
        refused(
            &bundle_path,
            format!(
                "the signature over {STATEMENT} (every file on the medium) does not verify with {name} (key id {}): {e}; {STATEMENT} was changed since it was signed, or another key signed it",
                key.hint()
            ),
        )
    })?;
    let statement: Statement = serde_json::from_slice(&json).map_err(|e| {
        refused(
            &path,
            format!("signed, and not a statement this seedforge reads: {e}"),
        )
    })?;
    if statement.format != STATEMENT_FORMAT || statement.version > STATEMENT_VERSION {
        return Err(refused(
            &path,
            format!(
                "a statement of format {:?} version {}; this seedforge reads {STATEMENT_FORMAT:?} up to version {STATEMENT_VERSION}",
                statement.format, statement.version
            ),
        ));
    }
    Ok(Some(statement))
}

/// The statement of the medium `dir` with `keys` (name, key), any of which may sign it:
/// refused when none is there (a signed medium is expected: stripped, or made where only
/// the public key is) or when it does not verify with any. Gives the statement and the
/// key's name that verified it.
pub fn verify_any(
    dir: &Path,
    keys: &[(String, PublicKey)],
) -> Result<(Statement, String), SealError> {
    let mut last = None;
    for (name, key) in keys {
        match verify(dir, name, key) {
            Ok(Some(s)) => return Ok((s, name.clone())),
            Ok(None) => {
                return Err(refused(
                    &dir.join(STATEMENT_BUNDLE),
                    format!(
                        "missing: a signed medium holds {STATEMENT} (every file on it by path, size and SHA-256) and its signature; without it nothing vouches that the medium holds only what was signed (stripped on the way, or made where only the public key is: make it again where the private key is)"
                    ),
                ));
            }
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| refused(&dir.join(STATEMENT_BUNDLE), "no key given".into())))
}

/// Checks the medium `dir` against its signed `statement`, before anything else of the
/// medium is read or run: every file there (but those `skip` names, and in an output a
/// blob of the layout the statement does not list, [`write_output`]) is one it lists (or a
/// whole it lists, joined from its parts), of the size it lists; every file it lists is
/// there (a part may be gone once its whole is joined); `SHA256SUMS`, when listed, is the
/// one it lists and each of its lines the statement's; every listed file `SHA256SUMS`
/// does not list is hashed here. Gives the files `SHA256SUMS` binds, for the medium's own
/// check (which hashes them) to follow.
pub fn check(
    dir: &Path,
    statement: &Statement,
    skip: &dyn Fn(&str) -> bool,
) -> Result<BTreeMap<String, String>, SealError> {
    let present = walk(dir, skip)?;
    for rel in &present {
        let stray = statement.medium == "output" && is_blob(rel);
        if !(statement.files.contains_key(rel) || statement.wholes.contains_key(rel) || stray) {
            return Err(refused(
                &dir.join(rel),
                format!(
                    "on the medium, and not listed in its signed {STATEMENT}: added since the medium was signed; remove it, or carry the medium again (nothing of the medium should be used until it checks)"
                ),
            ));
        }
    }
    for rel in statement.files.keys() {
        if present.contains(rel) {
            continue;
        }
        let joined = (statement.wholes.iter())
            .any(|(whole, w)| w.parts.contains(rel) && present.contains(whole));
        if !joined {
            return Err(refused(
                &dir.join(rel),
                format!("missing: the medium's signed {STATEMENT} lists it; carry it again"),
            ));
        }
    }
    for rel in &present {
        let path = dir.join(rel);
        let want = match (statement.files.get(rel), statement.wholes.get(rel)) {
            (Some(l), _) => l.size,
            (None, Some(w)) => w.size,
            (None, None) => continue,
        };
        let got = fs::metadata(&path)
            .map_err(|e| SealError::io(&path, e))?
            .len();
        if got != want {
            return Err(refused(
                &path,
                format!(
                    "{got} bytes, not the {want} the medium's signed {STATEMENT} lists: changed or damaged since it was signed"
                ),
            ));
        }
    }
    let mut sums = BTreeMap::new();
    if let Some(listed) = statement.files.get(SUMS) {
        let path = dir.join(SUMS);
        let text = crate::input::read_found_to_string(&path, crate::input::Kind::Sums)?;
        let got = crate::hashing::sha256_hex(text.as_bytes());
        if got != listed.sha256 {
            return Err(refused(
                &path,
                format!(
                    "hashes to {got}, not the {} the medium's signed {STATEMENT} lists: changed since the medium was signed",
                    listed.sha256
                ),
            ));
        }
        sums = parse_sums(&text);
        for (rel, hex) in &sums {
            if statement.files.get(rel).map(|l| &l.sha256) != Some(hex) {
                return Err(refused(
                    &dir.join(rel),
                    format!(
                        "the medium's {SUMS} lists sha256 {hex} for it, its signed {STATEMENT} does not: not what was signed"
                    ),
                ));
            }
        }
    }
    // What SHA256SUMS does not bind is hashed here.
    for (rel, listed) in &statement.files {
        if rel == SUMS || sums.contains_key(rel) || !present.contains(rel) {
            continue;
        }
        let path = dir.join(rel);
        let got = crate::hashing::sha256_found(&path).map_err(|e| SealError::io(&path, e))?;
        if got != listed.sha256 {
            return Err(refused(
                &path,
                format!(
                    "hashes to {got}, not the {} the medium's signed {STATEMENT} lists: changed since the medium was signed",
                    listed.sha256
                ),
            ));
        }
    }
    Ok(sums)
}

/// The build state folder (`.seedforge/`, [`crate::pipeline::state::STATE_DIR`]), the
/// build lock (`.seedforge-build.lock`) and the layout's private folder (`oci/.seedforge/`,
/// blob stamps): seedforge's own files of an output, which change with every run (a
/// `verify` stamps the blobs it hashed) and are no part of what was built. A sealed
/// output's statement lists every other file but the layout's stray blobs (those its
/// `SHA256SUMS` does not list: `gc` removes them, and nothing signed reaches them).
pub fn output_own(rel: &str) -> bool {
    rel == OUTPUT_STATE || rel == OUTPUT_LOCK || rel == "oci/.seedforge"
}

/// A blob of an output's layout (`oci/blobs/sha256/HEX`).
fn is_blob(rel: &str) -> bool {
    rel.strip_prefix("oci/blobs/sha256/")
        .is_some_and(super::is_hex64)
}

const OUTPUT_STATE: &str = ".seedforge";
const OUTPUT_LOCK: &str = ".seedforge-build.lock";

/// Writes the statement of the sealed output `output` (every file there but its own,
/// [`output_own`]) with `sums`, its `SHA256SUMS` as just written (path to hex, and its own
/// bytes), so that nothing the seal hashed is read again; signed as [`write`] says.
/// Without a signer, a statement an earlier signed seal left is removed. Returns whether
/// it is signed.
pub fn write_output(
    output: &Path,
    sums: &[(String, String)],
    sums_bytes: &[u8],
    signer: Option<&Signer>,
) -> Result<bool, SealError> {
    if signer.is_none() {
        remove(output)?;
        return Ok(false);
    }
    let mut known: BTreeMap<String, String> = sums.iter().cloned().collect();
    known.insert(SUMS.to_string(), crate::hashing::sha256_hex(sums_bytes));
    // A blob the seal does not list (a stray: an image's blob the index no longer reaches,
    // which `gc` removes) is left out: named by its content, reached from nothing signed.
    let mut present = walk(output, &output_own)?;
    present.retain(|rel| !is_blob(rel) || known.contains_key(rel));
    let files = listing(output, present, &known)?;
    write(
        output,
        &Statement::new("output", files, BTreeMap::new()),
        signer,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outputs_own_files_are_the_state_and_lock_the_build_names() {
        assert_eq!(OUTPUT_STATE, crate::pipeline::state::STATE_DIR);
        assert_eq!(OUTPUT_LOCK, crate::pipeline::build_lock::LOCK_FILE_NAME);
        assert!(output_own(".seedforge") && output_own("oci/.seedforge"));
        assert!(!output_own("oci/blobs") && !output_own(".git"));
    }

    fn signer() -> Signer {
        let key =
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/trust/ed25519.pem");
        Signer::Key(std::sync::Arc::new(SigningKey::read(&key, None).unwrap()))
    }

    #[test]
    fn an_outputs_statement_lists_every_file_but_its_own_and_refuses_an_addition() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path();
        fs::create_dir_all(out.join(".seedforge")).unwrap();
        fs::create_dir_all(out.join("oci/blobs/sha256")).unwrap();
        fs::write(out.join(".seedforge/state.json"), b"{}").unwrap();
        fs::write(out.join("oci/blobs/sha256/ab"), b"blob").unwrap();
        fs::write(out.join("notes.txt"), b"kept here").unwrap();
        let stray = format!("oci/blobs/sha256/{}", crate::hashing::sha256_hex(b"stray"));
        fs::write(out.join(&stray), b"stray").unwrap();
        let hex = crate::hashing::sha256_hex(b"blob");
        let sums = format!("{hex}  oci/blobs/sha256/ab\n");
        fs::write(out.join(SUMS), &sums).unwrap();
        let lines = vec![("oci/blobs/sha256/ab".to_string(), hex)];
        let s = signer();
        assert!(write_output(out, &lines, sums.as_bytes(), Some(&s)).unwrap());
        let keys = [("k".to_string(), s.public_key().clone())];
        let (statement, _) = verify_any(out, &keys).unwrap();
        let listed: Vec<&str> = statement.files.keys().map(String::as_str).collect();
        assert_eq!(listed, ["SHA256SUMS", "notes.txt", "oci/blobs/sha256/ab"]);
        check(out, &statement, &output_own).unwrap();
        // A stray blob removed (`gc`): still the output signed.
        fs::remove_file(out.join(&stray)).unwrap();
        check(out, &statement, &output_own).unwrap();
        // Written again over the same files: the same bytes, the signature kept.
        let before = fs::read(out.join(STATEMENT_BUNDLE)).unwrap();
        write_output(out, &lines, sums.as_bytes(), Some(&s)).unwrap();
        assert_eq!(fs::read(out.join(STATEMENT_BUNDLE)).unwrap(), before);
        fs::create_dir_all(out.join(".git")).unwrap();
        fs::write(out.join(".git/config"), b"[core]").unwrap();
        let e = check(out, &statement, &output_own).unwrap_err();
        assert!(e.to_string().contains(".git/config"), "{e}");
        fs::remove_dir_all(out.join(".git")).unwrap();
        fs::write(out.join("notes.txt"), b"kept HERE").unwrap();
        let e = check(out, &statement, &output_own).unwrap_err();
        assert!(e.to_string().contains("notes.txt"), "{e}");
        // Stripped: refused by name.
        fs::remove_file(out.join(STATEMENT_BUNDLE)).unwrap();
        let e = verify_any(out, &keys).unwrap_err();
        assert!(e.to_string().contains(STATEMENT_BUNDLE), "{e}");
    }
}
