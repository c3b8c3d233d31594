//! A delta medium's statement: every file on it by path, size and SHA-256 (`delta.json`,
//! its signature, `review.html`, `SHA256SUMS`, `SHA256SUMS.wholes`, `join.sh`, each part
//! and each recovery file included), written last by `delta` and signed with the seal's
//! key. The format, its signature and the walk are every medium's
//! ([`crate::pipeline::seal::statement`]); what is a delta's is here.
//!
//! The far side checks the statement's signature first, then the folder against it: a
//! file it does not list is refused (an addition), one it lists that is missing or of
//! another size is damage, and the delta's `SHA256SUMS` must be the one it lists, line for
//! line; every other file is then hashed once, against that `SHA256SUMS` (so a file is
//! read once, and bound to the signature through it). A file that `join.sh` joined from
//! its parts is listed among the statement's wholes, and its parts may then be gone
//! (`join.sh --remove-parts`). The recovery files are checked by name and size only:
//! they serve repair, and what a repair gives is checked against the signed hashes. The
//! unsigned `SHA256SUMS` stays for `sha256sum -c`; nothing trusts it on its own.

use super::DeltaError;
use crate::pipeline::seal::SealError;
use crate::pipeline::{seal, split};
use crate::trust::keys::{PublicKey, SigningKey};
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

pub use crate::pipeline::seal::statement::{
    Listed, STATEMENT, STATEMENT_BUNDLE, STATEMENT_FORMAT, STATEMENT_VERSION, Statement, Whole,
    is_statement,
};

/// A refusal of the shared statement check, as the delta's own kind: untrusted.
fn from_seal(e: SealError) -> DeltaError {
    match e {
        SealError::BadSignature { path, message } | SealError::Sign { path, message } => {
            DeltaError::Untrusted { path, message }
        }
        other => other.into(),
    }
}

fn untrusted(path: &Path, message: String) -> DeltaError {
    DeltaError::Untrusted {
        path: path.to_path_buf(),
        message,
    }
}

fn damaged(path: &Path, message: String) -> DeltaError {
    DeltaError::Damaged {
        path: path.to_path_buf(),
        message,
    }
}

/// Every regular file under `dir`, relative (`/`-separated); a link or device refused.
fn walk(dir: &Path, _prefix: &str, into: &mut BTreeSet<String>) -> Result<(), DeltaError> {
    into.extend(seal::statement::walk(dir, &|_| false).map_err(from_seal)?);
    Ok(())
}

/// `SHA256SUMS` (or `SHA256SUMS.wholes`) of `dir` as path to sha256; empty when absent.
fn sums_of(dir: &Path, name: &str) -> Result<BTreeMap<String, String>, DeltaError> {
    let path = dir.join(name);
    if fs::symlink_metadata(&path).is_err() {
        return Ok(BTreeMap::new());
    }
    let text = crate::input::read_found_to_string(&path, crate::input::Kind::Sums)?;
    Ok(seal::parse_sums(&text))
}

/// The parts of `rel` among `files` (`REL.partNNN`), in order.
fn parts_of(files: &BTreeMap<String, Listed>, rel: &str) -> Vec<String> {
    super::parts::numbered_parts(files.keys(), rel)
        .into_iter()
        .map(|(_, k)| k)
        .collect()
}

/// Writes the statement of the medium `dir` (every file there, as the near side just wrote
/// them) and, with `key`, its signature. Each file's SHA-256 is the one `dir`'s own
/// `SHA256SUMS` gives it (made from the bytes as they were written); the files it does not
/// list (itself, the recovery files) are hashed here. Returns the files written.
pub(super) fn write(
    dir: &Path,
    medium: &str,
    key: Option<&SigningKey>,
) -> Result<usize, DeltaError> {
    let mut present = BTreeSet::new();
    walk(dir, "", &mut present)?;
    present.retain(|rel| !is_statement(rel));
    let known = sums_of(dir, seal::SUMS)?;
    let mut files = BTreeMap::new();
    for rel in present {
        let path = dir.join(&rel);
        let size = fs::metadata(&path)
            .map_err(|e| DeltaError::io(&path, e))?
            .len();
        let sha256 = match known.get(&rel) {
            Some(hex) => hex.clone(),
            None => crate::hashing::sha256_found(&path).map_err(|e| DeltaError::io(&path, e))?,
        };
        files.insert(rel, Listed { size, sha256 });
    }
    let mut wholes = BTreeMap::new();
    for (rel, sha256) in sums_of(dir, split::WHOLES)? {
        let parts = parts_of(&files, &rel);
        let size = parts
            .iter()
            .filter_map(|p| files.get(p))
            .map(|l| l.size)
            .sum();
        wholes.insert(
            rel,
            Whole {
                size,
                sha256,
                parts,
            },
        );
    }
    let statement = Statement::new(medium, files, wholes);
    let json = statement.to_bytes();
    let path = dir.join(STATEMENT);
    crate::util::atomic_write_mode(&path, &json, 0o644).map_err(|e| DeltaError::io(&path, e))?;
    let Some(key) = key else {
        return Ok(1);
    };
    let path = dir.join(STATEMENT_BUNDLE);
    let bundle = seal::statement::sign(&json, key, &path).map_err(|e| DeltaError::BadTarget {
        path: path.clone(),
        message: e.to_string(),
    })?;
    crate::util::atomic_write_mode(&path, &bundle, 0o644).map_err(|e| DeltaError::io(&path, e))?;
    Ok(2)
}

/// The statement of the medium `dir`, its signature checked with `key` (named `name`):
/// `Ok(None)` when the medium has no signature over a statement (none made, or stripped:
/// the caller decides); refused when the signature or the statement does not hold.
pub(super) fn verify(
    dir: &Path,
    name: &str,
    key: &PublicKey,
) -> Result<Option<Statement>, DeltaError> {
    seal::statement::verify(dir, name, key).map_err(from_seal)
}

/// Refuses a file of the medium `dir` that its signed `statement` does not list (nor as a
/// whole joined from its parts), and a line of its `SHA256SUMS` for a file the statement
/// does not list: added since the medium was signed. Checked right after the statement's
/// signature, before anything else of the medium is read. Gives the files there.
pub(super) fn refuse_additions(
    dir: &Path,
    statement: &Statement,
) -> Result<BTreeSet<String>, DeltaError> {
    let mut present = BTreeSet::new();
    walk(dir, "", &mut present)?;
    present.retain(|rel| !is_statement(rel));
    let added = |rel: &str, message: String| Err(untrusted(&dir.join(rel), message));
    for rel in &present {
        if !statement.files.contains_key(rel) && !statement.wholes.contains_key(rel) {
            return added(
                rel,
                format!(
                    "on the medium, and not listed in its signed {STATEMENT}: added since the medium was signed; nothing of it is used (remove it, or carry the medium again)"
                ),
            );
        }
    }
    for rel in sums_of(dir, seal::SUMS)?.keys() {
        if !statement.files.contains_key(rel) {
            return added(
                rel,
                format!(
                    "the medium's {} lists it, and its signed {STATEMENT} does not: added since the medium was signed",
                    seal::SUMS
                ),
            );
        }
    }
    Ok(present)
}

/// Checks the medium `dir` against its signed `statement`: every file there is one it
/// lists (or a whole it lists, joined from its parts), of the size it lists; every file it
/// lists is there (a part may be gone once its whole is joined); and `SHA256SUMS` is the
/// one it lists, each of its lines the statement's. Hashing every other file against
/// `SHA256SUMS` (the delta's own check, which follows) then binds each to the signature.
pub(super) fn check_files(dir: &Path, statement: &Statement) -> Result<(), DeltaError> {
    let present = refuse_additions(dir, statement)?;
    // Every file it lists is there (a part may be gone once its whole is joined).
    for rel in statement.files.keys() {
        if present.contains(rel) {
            continue;
        }
        let joined = (statement.wholes.iter())
            .any(|(whole, w)| w.parts.contains(rel) && present.contains(whole));
        if !joined {
            return Err(damaged(
                &dir.join(rel),
                format!(
                    "missing: the medium's signed {STATEMENT} lists it; carry the whole medium again"
                ),
            ));
        }
    }
    // SHA256SUMS lists every other file as the statement does (a file whose line was made
    // to agree with new bytes, or removed with it, is named).
    let sums = sums_of(dir, seal::SUMS)?;
    for (rel, listed) in &statement.files {
        if rel == seal::SUMS {
            continue;
        }
        match sums.get(rel) {
            Some(hex) if *hex == listed.sha256 => {}
            said => {
                return Err(untrusted(
                    &dir.join(rel),
                    format!(
                        "the medium's signed {STATEMENT} lists sha256 {} for it, its {} {}: changed since the medium was signed; nothing of the medium is used",
                        listed.sha256,
                        seal::SUMS,
                        said.map_or_else(
                            || "does not list it".to_string(),
                            |h| format!("lists {h}")
                        )
                    ),
                ));
            }
        }
    }
    // Each file of the size it lists.
    for rel in &present {
        let path = dir.join(rel);
        let want = match (statement.files.get(rel), statement.wholes.get(rel)) {
            (Some(l), _) => l.size,
            (None, Some(w)) => w.size,
            (None, None) => continue,
        };
        let got = fs::metadata(&path)
            .map_err(|e| DeltaError::io(&path, e))?
            .len();
        if got != want {
            return Err(damaged(
                &path,
                format!(
                    "{got} bytes, not the {want} the medium's signed {STATEMENT} lists: damaged or changed on the way; carry it again"
                ),
            ));
        }
    }
    // And SHA256SUMS is the one it lists.
    let sums_path = dir.join(seal::SUMS);
    let Some(listed) = statement.files.get(seal::SUMS) else {
        return Err(untrusted(
            &dir.join(STATEMENT),
            format!("lists no {}: not a delta's statement", seal::SUMS),
        ));
    };
    let got =
        crate::hashing::sha256_found(&sums_path).map_err(|e| DeltaError::io(&sums_path, e))?;
    if got != listed.sha256 {
        return Err(untrusted(
            &sums_path,
            format!(
                "hashes to {got}, not the {} the medium's signed {STATEMENT} lists: changed since the medium was signed",
                listed.sha256
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> std::path::PathBuf {
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/trust")
            .join(name)
    }

    /// A medium of two files, one of them in two parts with its whole listed.
    fn medium(dir: &Path) {
        fs::create_dir_all(dir.join("out")).unwrap();
        fs::write(dir.join("delta.json"), b"{}\n").unwrap();
        fs::write(dir.join("out/big.part001"), b"aaaa").unwrap();
        fs::write(dir.join("out/big.part002"), b"bb").unwrap();
        let whole = crate::hashing::sha256_hex(b"aaaabb");
        fs::write(dir.join(split::WHOLES), format!("{whole}  out/big\n")).unwrap();
        let mut sums = String::new();
        for rel in [
            "delta.json",
            "out/big.part001",
            "out/big.part002",
            split::WHOLES,
        ] {
            let hex = crate::hashing::sha256_hex(&fs::read(dir.join(rel)).unwrap());
            sums.push_str(&format!("{hex}  {rel}\n"));
        }
        fs::write(dir.join(seal::SUMS), sums).unwrap();
    }

    fn signed(dir: &Path) -> Statement {
        let signer = SigningKey::read(&key("ed25519.pem"), None).unwrap();
        write(dir, "delta", Some(&signer)).unwrap();
        let public = signer.public_key().clone();
        verify(dir, "ed25519.pub", &public).unwrap().unwrap()
    }

    #[test]
    fn a_medium_checks_against_its_signed_statement_and_its_wholes() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        medium(dir);
        let statement = signed(dir);
        assert_eq!(statement.files.len(), 5, "{statement:?}");
        assert_eq!(statement.wholes["out/big"].parts.len(), 2);
        assert_eq!(statement.wholes["out/big"].size, 6);
        check_files(dir, &statement).unwrap();
        // Joined, its parts removed: still the medium it signs.
        fs::write(dir.join("out/big"), b"aaaabb").unwrap();
        fs::remove_file(dir.join("out/big.part001")).unwrap();
        fs::remove_file(dir.join("out/big.part002")).unwrap();
        check_files(dir, &statement).unwrap();
    }

    #[test]
    fn an_addition_a_loss_and_an_agreeing_sums_line_are_each_named() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        medium(dir);
        let statement = signed(dir);
        fs::write(dir.join("out/planted"), b"x").unwrap();
        let e = check_files(dir, &statement).unwrap_err();
        assert!(
            matches!(&e, DeltaError::Untrusted { path, .. } if path.ends_with("out/planted")),
            "{e}"
        );
        fs::remove_file(dir.join("out/planted")).unwrap();
        fs::remove_file(dir.join("out/big.part002")).unwrap();
        let e = check_files(dir, &statement).unwrap_err();
        assert!(
            matches!(&e, DeltaError::Damaged { path, .. } if path.ends_with("out/big.part002")),
            "{e}"
        );
        fs::write(dir.join("out/big.part002"), b"cc").unwrap();
        let sums = fs::read_to_string(dir.join(seal::SUMS)).unwrap();
        let old = crate::hashing::sha256_hex(b"bb");
        let new = crate::hashing::sha256_hex(b"cc");
        fs::write(dir.join(seal::SUMS), sums.replace(&old, &new)).unwrap();
        let e = check_files(dir, &statement).unwrap_err();
        assert!(
            matches!(&e, DeltaError::Untrusted { path, .. } if path.ends_with("out/big.part002")),
            "{e}"
        );
    }

    #[test]
    fn a_statement_edited_or_signed_by_another_key_is_refused_and_a_stripped_one_is_none() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        medium(dir);
        signed(dir);
        let other = SigningKey::read(&key("p256.pem"), None).unwrap();
        let e = verify(dir, "p256.pub", other.public_key()).unwrap_err();
        assert!(e.to_string().contains("does not verify"), "{e}");
        let signer = SigningKey::read(&key("ed25519.pem"), None).unwrap();
        let text = fs::read_to_string(dir.join(STATEMENT)).unwrap();
        fs::write(dir.join(STATEMENT), text.replace("\"delta\"", "\"other\"")).unwrap();
        let e = verify(dir, "ed25519.pub", signer.public_key()).unwrap_err();
        assert!(
            matches!(&e, DeltaError::Untrusted { path, .. } if path.ends_with(STATEMENT_BUNDLE)),
            "{e}"
        );
        fs::remove_file(dir.join(STATEMENT_BUNDLE)).unwrap();
        assert!(
            verify(dir, "ed25519.pub", signer.public_key())
                .unwrap()
                .is_none()
        );
    }
}
