//! Writing the delta folder: each carried file copied and hashed on its way, `delta.json`
//! and its signature, the reviewer's page, and the delta's `SHA256SUMS` from those hashes.

use super::{Carry, DELTA_JSON, DeltaDoc, DeltaError, doc_bytes};
use crate::pipeline::seal;
use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::Path;

/// Writes the files of `plan`, `delta.json` and `SHA256SUMS` into the new folder `dir`;
/// the number of files written.
pub(super) fn write_into(
    dir: &Path,
    plan: &[Carry],
    doc: &DeltaDoc,
    signer: Option<&crate::trust::keys::SigningKey>,
    page: &crate::delta::page::PageFacts<'_>,
) -> Result<usize, DeltaError> {
    create_dir(dir)?;
    let mut sums: BTreeMap<String, String> = BTreeMap::new();
    for c in plan {
        let hex = copy_checked(c, dir)?;
        sums.insert(c.to.clone(), hex);
    }
    let json = doc_bytes(doc);
    write_new(&dir.join(DELTA_JSON), &json, 0o644)?;
    sums.insert(DELTA_JSON.into(), crate::hashing::sha256_hex(&json));
    if let Some(key) = signer {
        let bundle = crate::delta::signed::sign_record(&json, key)?;
        let name = crate::delta::signed::RECORD_BUNDLE;
        write_new(&dir.join(name), &bundle, 0o644)?;
        sums.insert(name.into(), crate::hashing::sha256_hex(&bundle));
    }
    // The page a reviewer reads: every file above, with its size.
    let mut files = BTreeMap::new();
    for (rel, hex) in &sums {
        let size = std::fs::metadata(dir.join(rel))
            .map_err(|e| DeltaError::io(&dir.join(rel), e))?
            .len();
        files.insert(rel.clone(), (hex.clone(), size));
    }
    let html = crate::delta::page::render(doc, page, &files);
    write_new(&dir.join(crate::delta::page::REVIEW_PAGE), &html, 0o644)?;
    sums.insert(
        crate::delta::page::REVIEW_PAGE.into(),
        crate::hashing::sha256_hex(&html),
    );
    let text: String = (sums.iter()).map(|(p, h)| format!("{h}  {p}\n")).collect();
    write_new(&dir.join(seal::SUMS), text.as_bytes(), 0o644)?;
    crate::util::sync_dir(dir).map_err(|e| DeltaError::io(dir, e))?;
    Ok(sums.len() + 1)
}

/// `dir` must be new or an empty folder, outside `out` (and `out` outside it).
pub(super) fn check_target(out: &Path, dir: &Path) -> Result<(), DeltaError> {
    crate::outpath::refuse_dangerous(dir)?;
    let (o, d) = (crate::outpath::resolve(out), crate::outpath::resolve(dir));
    if crate::outpath::is_within(&d, &o) || crate::outpath::is_within(&o, &d) {
        return Err(DeltaError::BadTarget {
            path: dir.to_path_buf(),
            message: format!(
                "the delta folder and the output {} must be apart, neither inside the other",
                out.display()
            ),
        });
    }
    match std::fs::symlink_metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(DeltaError::io(dir, e)),
        Ok(m) if m.is_dir() => {
            let mut entries = std::fs::read_dir(dir).map_err(|e| DeltaError::io(dir, e))?;
            if entries.next().is_some() {
                return Err(DeltaError::BadTarget {
                    path: dir.to_path_buf(),
                    message: "not empty: a delta is written into a new or empty folder".into(),
                });
            }
            Ok(())
        }
        Ok(_) => Err(DeltaError::BadTarget {
            path: dir.to_path_buf(),
            message: "not a folder".into(),
        }),
    }
}

pub(super) fn create_dir(dir: &Path) -> Result<(), DeltaError> {
    std::fs::create_dir_all(dir).map_err(|e| DeltaError::io(dir, e))
}

fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), DeltaError> {
    let mut f = crate::util::create_new_mode(path, mode).map_err(|e| DeltaError::io(path, e))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(|e| DeltaError::io(path, e))
}

/// Copies `c` into `dir`, hashing it; fails when it does not hash to its digest.
fn copy_checked(c: &Carry, dir: &Path) -> Result<String, DeltaError> {
    let to = dir.join(&c.to);
    if let Some(parent) = to.parent() {
        create_dir(parent)?;
    }
    let (mut src, _) = if c.given {
        crate::input::open_regular_with_metadata(&c.from)?
    } else {
        crate::input::open_found(&c.from)?
    };
    let file = crate::util::create_new_mode(&to, c.mode).map_err(|e| DeltaError::io(&to, e))?;
    let mut writer = crate::hashing::HashingWriter::new(file);
    crate::util::copy_split(&mut src, &mut writer).map_err(|e| match e {
        crate::util::CopyError::Read(e) => DeltaError::io(&c.from, e),
        crate::util::CopyError::Write(e) => DeltaError::io(&to, e),
    })?;
    let (file, hex, _) = writer.finish();
    file.sync_all().map_err(|e| DeltaError::io(&to, e))?;
    if let Some(expected) = &c.sha256
        && &hex != expected
    {
        return Err(DeltaError::Changed {
            path: c.from.clone(),
            message: format!(
                "hashes to {hex}, not the {expected} it was sealed with: it changed since the build; build again"
            ),
        });
    }
    Ok(hex)
}
