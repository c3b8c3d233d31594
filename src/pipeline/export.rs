//! `export_dir:`: after the seal, the seed ISOs are copied into a folder of the user's
//! choosing (for example a Windows folder under `/mnt/c` from WSL) and nothing else there
//! is touched but, for a signed output, `manifest.json` and its bundle ([`SIGNED_SEAL`]),
//! which let the folder be checked with the public key alone.
//!
//! Each ISO is copied into a temporary name inside the destination folder with a plain
//! read/write loop (no `copy_file_range`, no rename across filesystems, both of which fail
//! between ext4 and drvfs), hashed on the way, synced, and renamed to its final name in
//! that same folder. A copy whose digest differs from the source's is removed, never
//! renamed. Failing to set mode 0600 is not an error there (drvfs ignores chmod). An ISO
//! already there with the same size and sha256 is not rewritten.
//!
//! With `export_split:` an ISO larger than the part size is exported as numbered parts
//! instead, and the folder gets `SHA256SUMS`, `SHA256SUMS.wholes` and `join.sh`
//! ([`super::split`]). Whichever form an ISO is exported in, the other form of the same
//! name left by an earlier export (the whole file, or parts) is removed once the new one
//! is in place, so the folder never holds two versions of one ISO.

use crate::hashing::HashingWriter;
use crate::pipeline::seal::SUMS;
use crate::pipeline::seal::statement;
use crate::pipeline::seal::{SealError, Signer};
use crate::pipeline::split::{self, Part, Whole};
use crate::util::temp_path_beside;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// What the export did with one ISO.
#[derive(Debug, Clone, Serialize)]
pub struct Exported {
    /// The copy.
    pub path: PathBuf,
    /// Its size.
    pub size: u64,
    /// `written` or `unchanged`.
    pub outcome: &'static str,
    /// With `export_split:`, the parts it was cut into (then `path` itself is not written).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<Part>,
}

/// What the export did.
#[derive(Debug, Clone, Serialize)]
pub struct ExportReport {
    /// The destination folder.
    pub dir: PathBuf,
    /// One entry per ISO.
    pub files: Vec<Exported>,
    /// With `export_parity:`, the PAR 2.0 set's files (`export.par2`, its volumes).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub parity: Vec<PathBuf>,
}

/// The files of a signed output's seal that go with its ISOs, so that the export folder
/// can be checked with the public key alone (`seedforge verify --key`, or `cosign
/// verify-blob` and `sha256sum`): `manifest.json` and its Sigstore bundle.
pub const SIGNED_SEAL: [&str; 2] = [
    crate::pipeline::seal::MANIFEST,
    crate::pipeline::seal::MANIFEST_BUNDLE,
];

/// Copies each `(iso, sha256)` into `dir` (created if missing); with `split`, an ISO larger
/// than it goes as parts of at most `split` bytes, with the sums files and `join.sh`, and
/// with `parity` too, PAR 2.0 recovery files of that percentage ([`super::parity`]).
/// `signed`: the output folder when it is signed: its [`SIGNED_SEAL`] files are copied
/// too (listed in `SHA256SUMS` with the ISOs); when it is not, those an earlier export of
/// a signed output left are removed (they would name other ISOs).
///
/// Last, with `signer` (the seal's), the folder's `statement.json`: every file the export
/// wrote there, each part, `join.sh` and the wholes included, signed as the seal signs
/// ([`statement::write`]); and what an earlier export wrote there for an ISO no longer
/// exported (a node taken out of the config: its seed holds the join token) is removed.
pub fn export(
    isos: &[(PathBuf, String)],
    dir: &Path,
    split: Option<u64>,
    parity: Option<u32>,
    signed: Option<&Path>,
    signer: Option<&Signer>,
) -> Result<ExportReport, SealError> {
    fs::create_dir_all(dir).map_err(|e| SealError::io(dir, e))?;
    let earlier = earlier_export(dir);
    let mut files = Vec::new();
    let mut sums: Vec<(String, String)> = Vec::new();
    match signed {
        Some(out) => {
            for name in SIGNED_SEAL {
                let from = out.join(name);
                let bytes = crate::input::read_found(&from, crate::input::Kind::Manifest)
                    .map_err(SealError::Input)?;
                write_bytes(&dir.join(name), &bytes, 0o644)?;
                sums.push((name.to_string(), crate::hashing::sha256_hex(&bytes)));
            }
        }
        None => {
            // Only as the pair seedforge writes: a lone manifest.json is someone else's.
            let bundle = dir.join(SIGNED_SEAL[1]);
            if fs::symlink_metadata(&bundle).is_ok_and(|m| m.is_file()) {
                for name in SIGNED_SEAL.iter().rev() {
                    let path = dir.join(name);
                    if fs::symlink_metadata(&path).is_ok_and(|m| m.is_file()) {
                        fs::remove_file(&path).map_err(|e| SealError::io(&path, e))?;
                    }
                }
            }
        }
    }
    let mut wholes: Vec<Whole> = Vec::new();
    for (iso, sha256) in isos {
        let Some(name) = iso.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let dest = dir.join(name);
        let size = fs::metadata(iso).map_err(|e| SealError::io(iso, e))?.len();
        if let Some(part) = split.filter(|p| size > *p) {
            let (parts, wrote) = split::write_parts(iso, dir, name, part, sha256)?;
            let kept: Vec<String> = parts.iter().map(|p| file_name(&p.path)).collect();
            remove_other_forms(dir, name, &kept, true)?;
            sums.extend(
                kept.iter()
                    .cloned()
                    .zip(parts.iter().map(|p| p.sha256.clone())),
            );
            wholes.push(Whole {
                name: name.to_string(),
                sha256: sha256.clone(),
                parts: kept,
            });
            files.push(Exported {
                path: dest,
                size,
                outcome: if wrote { "written" } else { "unchanged" },
                parts,
            });
            continue;
        }
        let unchanged = fs::metadata(&dest).is_ok_and(|m| m.is_file() && m.len() == size)
            && crate::hashing::sha256_found(&dest).is_ok_and(|h| &h == sha256);
        if !unchanged {
            copy_into(iso, &dest, sha256)?;
        }
        remove_other_forms(dir, name, &[], false)?;
        sums.push((name.to_string(), sha256.clone()));
        files.push(Exported {
            path: dest,
            size,
            outcome: if unchanged { "unchanged" } else { "written" },
            parts: Vec::new(),
        });
    }
    let listed_wholes: BTreeMap<String, statement::Whole> = (wholes.iter())
        .map(|w| {
            let size = (files.iter())
                .filter(|f| f.path == dir.join(&w.name))
                .map(|f| f.size)
                .sum();
            let whole = statement::Whole {
                size,
                sha256: w.sha256.clone(),
                parts: w.parts.clone(),
            };
            (w.name.clone(), whole)
        })
        .collect();
    if split.is_some() {
        let script = split::join_script(&wholes).map_err(|e| SealError::Incomplete {
            path: dir.join(split::JOIN),
            message: e.to_string(),
        })?;
        let wholes: Vec<(String, String)> =
            (wholes.into_iter()).map(|w| (w.name, w.sha256)).collect();
        let wholes_text = split::sums_text(&wholes);
        write_small(&dir.join(split::WHOLES), &wholes_text, 0o644)?;
        write_small(&dir.join(split::JOIN), &script, 0o755)?;
        // Listed like the parts, so that what vouches for them is SHA256SUMS (a repair
        // from the recovery files rebuilds only what it lists).
        sums.push((
            split::WHOLES.to_string(),
            crate::hashing::sha256_hex(wholes_text.as_bytes()),
        ));
        sums.push((
            split::JOIN.to_string(),
            crate::hashing::sha256_hex(script.as_bytes()),
        ));
    }
    let mut parity_files = Vec::new();
    match (split, parity) {
        (Some(part), Some(percent)) => {
            let mut names: Vec<String> = sums.iter().map(|(n, _)| n.clone()).collect();
            names.sort();
            let set =
                super::parity::write_set(dir, super::parity::EXPORT_SET, &names, percent, part)?;
            parity_files.extend(set.iter().map(|(n, _)| dir.join(n)));
            sums.extend(set);
        }
        _ => super::parity::remove_set(dir, super::parity::EXPORT_SET, &[])?,
    }
    let mut known: BTreeMap<String, String> = sums.iter().cloned().collect();
    if split.is_some() {
        // Last: the folder's SHA256SUMS names what is there once everything else is.
        let text = split::sums_text(&sums);
        write_small(&dir.join(SUMS), &text, 0o644)?;
        known.insert(
            SUMS.to_string(),
            crate::hashing::sha256_hex(text.as_bytes()),
        );
    }
    remove_earlier(dir, &earlier, &known)?;
    match signer {
        Some(signer) => {
            let present = known.keys().cloned().collect();
            let listed = statement::listing(dir, present, &known)?;
            let made = statement::Statement::new("export", listed, listed_wholes);
            statement::write(dir, &made, Some(signer))?;
        }
        // Only a statement seedforge wrote (an earlier signed export's): it would name
        // other files.
        None if earlier_statement(dir).is_some() => statement::remove(dir)?,
        None => {}
    }
    Ok(ExportReport {
        dir: dir.to_path_buf(),
        files,
        parity: parity_files,
    })
}

/// The statement an earlier export wrote into `dir`, if one is there.
fn earlier_statement(dir: &Path) -> Option<statement::Statement> {
    let path = dir.join(statement::STATEMENT);
    let bytes = crate::input::read_found(&path, crate::input::Kind::Manifest).ok()?;
    let s: statement::Statement = serde_json::from_slice(&bytes).ok()?;
    (s.format == statement::STATEMENT_FORMAT && s.medium == "export").then_some(s)
}

/// What an earlier export wrote into `dir`, as its statement and its `SHA256SUMS` list it
/// (plain names only).
fn earlier_export(dir: &Path) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    if let Some(s) = earlier_statement(dir) {
        names.extend(s.files.into_keys());
    }
    if let Ok(text) = crate::input::read_found_to_string(&dir.join(SUMS), crate::input::Kind::Sums)
    {
        names.extend(crate::pipeline::seal::parse_sums(&text).into_keys());
    }
    names.retain(|n| !n.contains('/') && !n.starts_with('.'));
    names
}

/// Removes what an earlier export wrote for an ISO this one no longer exports (`NAME.iso`,
/// its parts): a node taken out of the config leaves no seed, whole or in parts, behind
/// it. Only regular files of those names are touched.
fn remove_earlier(
    dir: &Path,
    earlier: &BTreeSet<String>,
    now: &BTreeMap<String, String>,
) -> Result<(), SealError> {
    for name in earlier {
        let an_iso = name.ends_with(".iso")
            || name
                .rsplit_once(".iso.part")
                .is_some_and(|(_, n)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
        if !an_iso || now.contains_key(name) {
            continue;
        }
        let path = dir.join(name);
        if fs::symlink_metadata(&path).is_ok_and(|m| m.is_file()) {
            fs::remove_file(&path).map_err(|e| SealError::io(&path, e))?;
        }
    }
    Ok(())
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Removes what an earlier export left of `name` in the other form, or with other part
/// numbers: the whole file when it is now in parts (`split`), and every `NAME.partNNN`
/// not in `kept`. Only regular files of exactly those names are touched.
fn remove_other_forms(
    dir: &Path,
    name: &str,
    kept: &[String],
    split: bool,
) -> Result<(), SealError> {
    let found = split::parts_in(dir, name).map_err(|e| SealError::io(dir, e))?;
    let mut stale: Vec<PathBuf> = (found.into_iter())
        .filter(|(_, file)| !kept.contains(file))
        .map(|(_, file)| dir.join(file))
        .collect();
    if split {
        stale.push(dir.join(name));
    }
    for path in stale {
        if fs::symlink_metadata(&path).is_ok_and(|m| m.is_file()) {
            fs::remove_file(&path).map_err(|e| SealError::io(&path, e))?;
        }
    }
    Ok(())
}

/// Writes a small file of the export folder through a temporary name; a chmod the file
/// system refuses is not an error (drvfs, FAT).
fn write_small(path: &Path, text: &str, mode: u32) -> Result<(), SealError> {
    write_bytes(path, text.as_bytes(), mode)
}

/// [`write_small`] for bytes.
fn write_bytes(path: &Path, text: &[u8], mode: u32) -> Result<(), SealError> {
    use std::io::Write as _;
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
    if crate::input::holds(path, text) {
        return Ok(());
    }
    let tmp = temp_path_beside(path);
    let result = (|| {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        f.write_all(text)?;
        f.sync_all()?;
        drop(f);
        let _ = fs::set_permissions(&tmp, fs::Permissions::from_mode(mode));
        fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(SealError::io(path, e));
    }
    let _ = crate::util::sync_parent(path);
    Ok(())
}

/// Copies `src` to a temporary file beside `dest`, checks its digest and renames it.
fn copy_into(src: &Path, dest: &Path, sha256: &str) -> Result<(), SealError> {
    let tmp = temp_path_beside(dest);
    let result = (|| {
        let (from, meta) =
            crate::input::open_found(src).map_err(|e| SealError::io(src, e.into_io()))?;
        let mut from = crate::util::SparseReader::new(from, meta.len());
        let file = split::create_private(&tmp).map_err(|e| SealError::io(&tmp, e))?;
        let mut to = HashingWriter::new(io::BufWriter::with_capacity(1 << 20, file));
        crate::util::copy_split(&mut from, &mut to).map_err(|e| match e {
            crate::util::CopyError::Read(e) => SealError::io(src, e),
            crate::util::CopyError::Write(e) => SealError::io(&tmp, e),
        })?;
        let (buf, actual, _) = to.finish();
        let file = buf
            .into_inner()
            .map_err(|e| SealError::io(&tmp, e.into_error()))?;
        if actual != sha256 {
            return Err(SealError::Incomplete {
                path: src.to_path_buf(),
                message: format!(
                    "changed while it was exported (sha256 {actual}, sealed as {sha256})"
                ),
            });
        }
        file.sync_all().map_err(|e| SealError::io(&tmp, e))?;
        drop(file);
        // drvfs and other foreign filesystems ignore or refuse chmod: not an error (an
        // exported copy's mode on a stick says nothing to its reader); a refusal is
        // recorded for the run's one warning.
        if let Err(e) = split::set_private(&tmp) {
            crate::modes::copy_mode_refused(dest, e);
        }
        fs::rename(&tmp, dest).map_err(|e| SealError::io(dest, e))?;
        // Some filesystems cannot fsync a directory; the rename is done either way.
        let _ = crate::util::sync_parent(dest);
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}
