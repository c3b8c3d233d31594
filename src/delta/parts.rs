//! Media-sized parts of a delta (`seedforge delta --split SIZE`): every file of the delta
//! folder larger than the part size (a large layer, a large bundle) is cut into
//! `NAME.part001`, `NAME.part002`, … beside where it would be, as `export_split:` cuts an
//! ISO ([`crate::pipeline::split`]), so that no file is larger than a medium or than FAT32
//! holds. The delta's `SHA256SUMS` then lists the parts (and `SHA256SUMS.wholes` and
//! `join.sh`), `SHA256SUMS.wholes` the sha256 of each file in parts by its path, and
//! `join.sh` joins them back with nothing but `cat` and `sha256sum`.
//!
//! `apply` takes a delta in parts as it is: each file in parts is hashed over its parts in
//! order (each part also against its own line) and joined straight into the staging copy;
//! a file already joined by `join.sh` is taken whole (its parts, if still there, are then
//! ignored once they are checked).

use super::DeltaError;
use crate::pipeline::seal;
use crate::pipeline::split::{self, Whole};
use sha2::{Digest as _, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Read as _;
use std::path::{Path, PathBuf};

/// Copies `from` (one file, or the parts of one in order) to `to` through a temporary
/// name beside it and a rename (the staging copy's files may be links of the output's:
/// never written in place); its size. With `want`, the bytes are hashed as they are read
/// and the file takes its name only when they hash to it: what was checked is what is
/// written, whatever the medium holds by then.
pub(crate) fn place(
    from: &[PathBuf],
    to: &Path,
    mode: u32,
    want: Option<&str>,
) -> Result<u64, DeltaError> {
    if let Some(parent) = to.parent() {
        fs::create_dir_all(parent).map_err(|e| DeltaError::io(parent, e))?;
    }
    let tmp = crate::util::temp_path_beside(to);
    let result = (|| {
        let file = crate::util::create_new_mode(&tmp, mode).map_err(|e| DeltaError::io(&tmp, e))?;
        let mut writer = crate::hashing::HashingWriter::new(file);
        for part in from {
            let (mut src, _) = crate::input::open_found(part)?;
            crate::util::copy_split(&mut src, &mut writer).map_err(|e| match e {
                crate::util::CopyError::Read(e) => DeltaError::io(part, e),
                crate::util::CopyError::Write(e) => DeltaError::io(&tmp, e),
            })?;
        }
        let (file, hex, size) = writer.finish();
        if let Some(want) = want
            && hex != want
        {
            return Err(DeltaError::Damaged {
                path: from.first().cloned().unwrap_or_else(|| to.to_path_buf()),
                message: format!(
                    "read as {hex}, not the {want} checked a moment ago: the medium changed while it was applied; nothing of it was written"
                ),
            });
        }
        file.sync_all().map_err(|e| DeltaError::io(&tmp, e))?;
        fs::rename(&tmp, to).map_err(|e| DeltaError::io(to, e))?;
        Ok(size)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// A file of the delta that is there in parts: its parts' paths (relative to the delta
/// folder, in order) and its size.
#[derive(Debug, Clone)]
pub(super) struct Joined {
    /// The parts, relative, in order; empty when the file itself is there (joined).
    pub parts: Vec<String>,
    /// The whole file's size.
    pub size: u64,
}

/// Cuts every file the delta folder `dir`'s `SHA256SUMS` lists that is larger than `part`
/// bytes into parts, and rewrites `SHA256SUMS` to list the parts, `SHA256SUMS.wholes` and
/// `join.sh`. Returns the files cut.
pub(super) fn split_files(dir: &Path, part: u64) -> Result<Vec<Whole>, DeltaError> {
    let sums_path = dir.join(seal::SUMS);
    let text = crate::input::read_found_to_string(&sums_path, crate::input::Kind::Sums)?;
    let mut lines: Vec<(String, String)> = Vec::new();
    let mut wholes = Vec::new();
    for line in text.lines() {
        let Some((hex, rel)) = seal::sums_line(line) else {
            continue;
        };
        let path = dir.join(rel);
        let size = fs::metadata(&path)
            .map_err(|e| DeltaError::io(&path, e))?
            .len();
        if size <= part {
            lines.push((rel.to_string(), hex.to_string()));
            continue;
        }
        let (parent, name) = match rel.rsplit_once('/') {
            Some((p, n)) => (dir.join(p), n),
            None => (dir.to_path_buf(), rel),
        };
        let (parts, _) = split::write_parts(&path, &parent, name, part, hex)?;
        fs::remove_file(&path).map_err(|e| DeltaError::io(&path, e))?;
        let prefix = rel.strip_suffix(name).unwrap_or("");
        let mut names = Vec::new();
        for p in parts {
            let file = p.path.file_name().map(|n| n.to_string_lossy().into_owned());
            let rel_part = format!("{prefix}{}", file.unwrap_or_default());
            lines.push((rel_part.clone(), p.sha256));
            names.push(rel_part);
        }
        wholes.push(Whole {
            name: rel.to_string(),
            sha256: hex.to_string(),
            parts: names,
        });
    }
    if wholes.is_empty() {
        return Ok(wholes);
    }
    let script = split::join_script(&wholes).map_err(|e| DeltaError::BadTarget {
        path: dir.join(split::JOIN),
        message: e.to_string(),
    })?;
    let listed: Vec<(String, String)> = wholes
        .iter()
        .map(|w| (w.name.clone(), w.sha256.clone()))
        .collect();
    let wholes_text = split::sums_text(&listed);
    write_file(&dir.join(split::WHOLES), wholes_text.as_bytes(), 0o644)?;
    write_file(&dir.join(split::JOIN), script.as_bytes(), 0o755)?;
    lines.push((
        split::WHOLES.to_string(),
        crate::hashing::sha256_hex(wholes_text.as_bytes()),
    ));
    lines.push((
        split::JOIN.to_string(),
        crate::hashing::sha256_hex(script.as_bytes()),
    ));
    // Last: the delta's list of what is there.
    write_file(&sums_path, split::sums_text(&lines).as_bytes(), 0o644)?;
    Ok(wholes)
}

/// Writes a small file of the delta at `mode`, through a temporary name.
fn write_file(path: &Path, bytes: &[u8], mode: u32) -> Result<(), DeltaError> {
    crate::util::atomic_write_mode(path, bytes, mode).map_err(|e| DeltaError::io(path, e))
}

/// Folds the parts of a delta in parts into the files they make: `listed` (the delta's
/// `SHA256SUMS`, path to sha256) and `present` (the files in the folder) lose the parts,
/// `SHA256SUMS.wholes` and `join.sh` (each checked against its line first) and gain each
/// file in parts, listed with its whole sha256, once its parts hash right in order (or it
/// is there joined and hashes right). Returns the files so folded. Nothing when the delta
/// is not in parts.
pub(super) fn fold(
    dir: &Path,
    listed: &mut BTreeMap<String, String>,
    present: &mut BTreeSet<String>,
) -> Result<BTreeMap<String, Joined>, DeltaError> {
    let mut joined = BTreeMap::new();
    if !listed.contains_key(split::WHOLES) {
        return Ok(joined);
    }
    for name in [split::WHOLES, split::JOIN] {
        let want = listed.get(name).cloned().unwrap_or_default();
        check_file(dir, name, &want, present)?;
        listed.remove(name);
        present.remove(name);
    }
    let wholes_path = dir.join(split::WHOLES);
    let text = crate::input::read_found_to_string(&wholes_path, crate::input::Kind::Sums)?;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let Some((want, rel)) = seal::sums_line(line) else {
            return Err(damaged(&wholes_path, format!("a malformed line {line:?}")));
        };
        let parts = parts_listed(listed, rel);
        if parts.is_empty() {
            return Err(damaged(
                &wholes_path,
                format!("{rel}: the delta's SHA256SUMS lists no part of it"),
            ));
        }
        // Each part against its own line (missing parts named), then the whole over them.
        let mut whole = Sha256::new();
        let mut size = 0u64;
        let all_there = parts.iter().all(|p| present.contains(p));
        if present.contains(rel) {
            // Joined by join.sh: the file itself is what counts.
            let path = dir.join(rel);
            let got = crate::hashing::sha256_found(&path).map_err(|e| DeltaError::io(&path, e))?;
            if got != want {
                return Err(damaged(
                    &path,
                    format!(
                        "hashes to {got}, not the {want} the delta's {} lists: damaged on the way; carry it again",
                        split::WHOLES
                    ),
                ));
            }
            size = fs::metadata(&path)
                .map_err(|e| DeltaError::io(&path, e))?
                .len();
            for p in &parts {
                listed.remove(p);
                present.remove(p);
            }
            listed.insert(rel.to_string(), want.to_string());
            joined.insert(
                rel.to_string(),
                Joined {
                    parts: Vec::new(),
                    size,
                },
            );
            continue;
        }
        if !all_there {
            let missing: Vec<&str> = (parts.iter())
                .filter(|p| !present.contains(*p))
                .map(String::as_str)
                .collect();
            return Err(damaged(
                &dir.join(missing[0]),
                format!(
                    "missing: part of {rel}, which the delta's {} lists ({} part(s) missing); carry every part of the delta again",
                    seal::SUMS,
                    missing.len()
                ),
            ));
        }
        let mut buf = vec![0u8; 1 << 20];
        for p in &parts {
            let path = dir.join(p);
            let (mut f, _) = crate::input::open_found(&path)?;
            let mut own = Sha256::new();
            loop {
                let n = f.read(&mut buf).map_err(|e| DeltaError::io(&path, e))?;
                if n == 0 {
                    break;
                }
                own.update(&buf[..n]);
                whole.update(&buf[..n]);
                size += n as u64;
            }
            let got = crate::hashing::hex(&own.finalize());
            if Some(&got) != listed.get(p) {
                return Err(damaged(
                    &path,
                    format!(
                        "hashes to {got}, not what the delta's {} lists: damaged on the way; carry it again",
                        seal::SUMS
                    ),
                ));
            }
        }
        let got = crate::hashing::hex(&whole.finalize());
        if got != want {
            return Err(damaged(
                &wholes_path,
                format!("{rel}: its parts join to sha256 {got}, not {want}"),
            ));
        }
        for p in &parts {
            listed.remove(p);
            present.remove(p);
        }
        listed.insert(rel.to_string(), want.to_string());
        present.insert(rel.to_string());
        joined.insert(rel.to_string(), Joined { parts, size });
    }
    Ok(joined)
}

/// The parts of `rel` the delta lists (`REL.partNNN`), in order: numbered 1 to N.
fn parts_listed(listed: &BTreeMap<String, String>, rel: &str) -> Vec<String> {
    let found = numbered_parts(listed.keys(), rel);
    // Numbered 1..=N without a gap; anything else is not this file's parts.
    if found
        .iter()
        .enumerate()
        .any(|(i, (n, _))| *n != i as u64 + 1)
    {
        return Vec::new();
    }
    found.into_iter().map(|(_, k)| k).collect()
}

/// Among `names`, those of the parts of `rel` (`REL.partNNN`), with their numbers, in
/// order.
pub(super) fn numbered_parts<'a>(
    names: impl IntoIterator<Item = &'a String>,
    rel: &str,
) -> Vec<(u64, String)> {
    let prefix = format!("{rel}.part");
    let mut found: Vec<(u64, String)> = names
        .into_iter()
        .filter_map(|k| {
            let n = k.strip_prefix(&prefix)?;
            (!n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
                .then(|| n.parse::<u64>().ok().map(|i| (i, k.clone())))
                .flatten()
        })
        .collect();
    found.sort();
    found
}

fn check_file(
    dir: &Path,
    rel: &str,
    want: &str,
    present: &BTreeSet<String>,
) -> Result<(), DeltaError> {
    let path = dir.join(rel);
    if !present.contains(rel) {
        return Err(damaged(
            &path,
            format!("missing: the delta's {} lists it", seal::SUMS),
        ));
    }
    let got = crate::hashing::sha256_found(&path).map_err(|e| DeltaError::io(&path, e))?;
    if got != want {
        return Err(damaged(
            &path,
            format!("hashes to {got}, not what the delta's {} lists", seal::SUMS),
        ));
    }
    Ok(())
}

fn damaged(path: &Path, message: String) -> DeltaError {
    DeltaError::Damaged {
        path: path.to_path_buf(),
        message,
    }
}

/// The files to read, in order, for the delta's file `rel` (relative to the delta
/// folder): its parts when it is there in parts, else itself.
pub(super) fn sources(dir: &Path, rel: &str, joined: &BTreeMap<String, Joined>) -> Vec<PathBuf> {
    match joined.get(rel) {
        Some(j) if !j.parts.is_empty() => j.parts.iter().map(|p| dir.join(p)).collect(),
        _ => vec![dir.join(rel)],
    }
}
