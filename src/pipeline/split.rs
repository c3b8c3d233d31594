//! Media-sized parts (`export_split:`): an exported ISO larger than the part size is cut
//! into `NAME.part001`, `NAME.part002`, … so that it fits FAT32 (no file over 4 GiB − 1
//! byte) or a series of DVDs, and can be joined back with nothing but `cat` or `copy /b`.
//!
//! Beside the parts the export folder gets `SHA256SUMS` (every file that is there: the
//! parts and the ISOs small enough to stay whole, so `sha256sum -c SHA256SUMS` checks the
//! folder as it is), `SHA256SUMS.wholes` (the sha256 of each ISO that is there only as
//! parts; it names files that appear only once joined, which is why it is a file of its
//! own) and `join.sh`, a POSIX script that rebuilds and checks each of them.
//!
//! Parts are written streaming: one read of the source, each part into a temporary name,
//! and only when the whole source hashed to its sealed sha256 are the parts renamed to
//! their final names. Runs of zeros (the holes of a sparse source) are skipped with
//! positioned writes, so they stay holes where the file system has them; the last block of
//! every part is always written, so its length needs no `ftruncate`, which FUSE file
//! systems of removable media do not all have.

use crate::hashing::hex;
use crate::pipeline::seal::SealError;
use crate::shell::quote;
use crate::util::temp_path_beside;
use serde::Serialize;
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Read as _};
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};

/// The sums of the files that are in the export folder only as parts.
pub const WHOLES: &str = "SHA256SUMS.wholes";
/// The script that joins them back.
pub const JOIN: &str = "join.sh";

/// A run of zeros at least this long, on this boundary, is skipped rather than written.
const BLOCK: usize = 64 << 10;
/// How much of the source is read at a time.
const CHUNK: usize = 1 << 20;

static ZEROS: [u8; BLOCK] = [0; BLOCK];

/// One part written into the export folder.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Part {
    /// The part.
    pub path: PathBuf,
    /// Its size.
    pub size: u64,
    /// Its sha256.
    pub sha256: String,
}

/// How many parts a file of `size` bytes becomes with parts of at most `part` bytes.
pub fn part_count(size: u64, part: u64) -> u64 {
    size.div_ceil(part.max(1)).max(1)
}

/// The name of part `index` (from 1) of `count`: `NAME.part001`; the number has at least
/// three digits and as many as `count` needs, so the parts sort in order by name.
pub fn part_name(name: &str, index: u64, count: u64) -> String {
    let width = count.to_string().len().max(3);
    format!("{name}.part{index:0width$}")
}

/// The parts of `name` in `dir` (`NAME.part` followed by digits), in numeric order.
pub fn parts_in(dir: &Path, name: &str) -> io::Result<Vec<(u64, String)>> {
    let prefix = format!("{name}.part");
    let mut found = Vec::new();
    for entry in fs::read_dir(dir)? {
        let file = entry?.file_name();
        let Some(file) = file.to_str() else { continue };
        if let Some(n) = file.strip_prefix(&prefix)
            && !n.is_empty()
            && n.bytes().all(|b| b.is_ascii_digit())
            && let Ok(index) = n.parse::<u64>()
        {
            found.push((index, file.to_string()));
        }
    }
    found.sort();
    Ok(found)
}

/// Cuts `src` into parts of at most `part` bytes in `dir` as `NAME.partNNN`, checking the
/// whole against `sha256`. A part already there with the same bytes is left alone; the
/// flag says whether any part was (re)written.
pub fn write_parts(
    src: &Path,
    dir: &Path,
    name: &str,
    part: u64,
    sha256: &str,
) -> Result<(Vec<Part>, bool), SealError> {
    let (file, meta) = crate::input::open_found(src).map_err(SealError::Input)?;
    let size = meta.len();
    let mut from = crate::util::SparseReader::new(file, size);
    let count = part_count(size, part);
    let mut temps: Vec<PathBuf> = Vec::new();
    let result = (|| {
        let mut whole = Sha256::new();
        let mut parts = Vec::new();
        let mut buf = vec![0u8; CHUNK];
        for index in 1..=count {
            let len = part.min(size - (index - 1) * part);
            let dest = dir.join(part_name(name, index, count));
            let tmp = temp_path_beside(&dest);
            let file = create_private(&tmp).map_err(|e| SealError::io(&tmp, e))?;
            temps.push(tmp.clone());
            let sha =
                copy_range(&mut from, &file, len, &mut whole, &mut buf).map_err(|e| match e {
                    crate::util::CopyError::Read(e) => SealError::io(src, e),
                    crate::util::CopyError::Write(e) => SealError::io(&tmp, e),
                })?;
            file.sync_all().map_err(|e| SealError::io(&tmp, e))?;
            parts.push(Part {
                path: dest,
                size: len,
                sha256: sha,
            });
        }
        let actual = hex(&whole.finalize());
        let mut rest = [0u8; 1];
        let grew = from.read(&mut rest).map_err(|e| SealError::io(src, e))? > 0;
        if actual != sha256 || grew {
            return Err(SealError::Incomplete {
                path: src.to_path_buf(),
                message: format!(
                    "changed while it was exported (sha256 {actual}, sealed as {sha256})"
                ),
            });
        }
        let mut wrote = false;
        for (tmp, p) in temps.iter().zip(&parts) {
            let same = fs::symlink_metadata(&p.path)
                .is_ok_and(|m| m.is_file() && m.len() == p.size)
                && crate::hashing::sha256_found(&p.path).is_ok_and(|h| h == p.sha256);
            if same {
                let _ = fs::remove_file(tmp);
            } else {
                // drvfs and FAT ignore or refuse chmod: not an error for a copy; a
                // refusal is recorded for the run's one warning.
                if let Err(e) = set_private(tmp) {
                    crate::modes::copy_mode_refused(&p.path, e);
                }
                fs::rename(tmp, &p.path).map_err(|e| SealError::io(&p.path, e))?;
                wrote = true;
            }
        }
        let _ = crate::util::sync_parent(&dir.join(name));
        Ok((parts, wrote))
    })();
    if result.is_err() {
        for tmp in &temps {
            let _ = fs::remove_file(tmp);
        }
    }
    result
}

/// Copies the next `len` bytes of `from` into `to` (from its start), hashing them into
/// `whole` and into the part's own digest, which it returns. All-zero blocks are not
/// written, except the last one, which sets the part's length.
fn copy_range(
    from: &mut crate::util::SparseReader,
    to: &File,
    len: u64,
    whole: &mut Sha256,
    buf: &mut [u8],
) -> Result<String, crate::util::CopyError> {
    use crate::util::CopyError;
    let mut own = Sha256::new();
    let mut at = 0u64;
    while at < len {
        let want = usize::try_from((len - at).min(buf.len() as u64)).unwrap_or(buf.len());
        let chunk = &mut buf[..want];
        from.read_exact(chunk).map_err(CopyError::Read)?;
        own.update(&*chunk);
        whole.update(&*chunk);
        for (i, block) in chunk.chunks(BLOCK).enumerate() {
            let offset = at + (i * BLOCK) as u64;
            let last = offset + block.len() as u64 == len;
            // A slice comparison is one memcmp, fast even in a debug build.
            if last || block != &ZEROS[..block.len()] {
                to.write_all_at(block, offset).map_err(CopyError::Write)?;
            }
        }
        at += want as u64;
    }
    Ok(hex(&own.finalize()))
}

/// `sha256sum` lines, `HEX  NAME`, sorted by name.
pub fn sums_text(entries: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = entries.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    sorted
        .iter()
        .map(|(name, sha)| format!("{sha}  {name}\n"))
        .collect()
}

/// One file the export has in parts: its name, sha256 and its parts' names in order.
#[derive(Debug, Clone)]
pub struct Whole {
    /// The file's name once joined.
    pub name: String,
    /// Its sha256.
    pub sha256: String,
    /// Its parts' file names, in order.
    pub parts: Vec<String>,
}

/// `join.sh`: rebuilds each whole from its parts with `cat` into a temporary file it makes
/// new (`mktemp` in the folder, else a name it creates with noclobber), checks its sha256
/// and only then renames it; a symbolic link or folder at the whole's name is refused,
/// never written through or into. Removes parts only with `--remove-parts`, and only
/// those of a whole that joined right. Exit 1 naming every file that did not join.
pub fn join_script(wholes: &[Whole]) -> Result<String, crate::shell::QuoteError> {
    let mut s = String::from(JOIN_HEAD);
    let mut sorted: Vec<&Whole> = wholes.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    for w in sorted {
        s.push_str("join_one ");
        s.push_str(&quote(&w.name)?);
        s.push(' ');
        s.push_str(&quote(&w.sha256)?);
        for p in &w.parts {
            s.push_str(" \\\n  ");
            s.push_str(&quote(p)?);
        }
        s.push('\n');
    }
    s.push_str(JOIN_TAIL);
    Ok(s)
}

const JOIN_HEAD: &str = r#"#!/bin/sh
# Rebuilds each file this folder holds in parts (NAME.part001, NAME.part002, ...):
# joins the parts in order into a temporary file, checks its sha256 against the one
# recorded here (and in SHA256SUMS.wholes), and only then gives it its name.
# Parts are removed only with --remove-parts, and only for a file that joined right.
# Exit 1, naming the file, when any file does not join to its recorded sha256.
# Usage: sh join.sh [--remove-parts]
set -eu
cd "$(dirname "$0")"
remove=
case "${1-}" in
  --remove-parts) remove=yes ;;
  '') ;;
  *) echo "usage: sh join.sh [--remove-parts]" >&2; exit 2 ;;
esac
if command -v sha256sum >/dev/null 2>&1; then
  sha256() { sha256sum | cut -d ' ' -f 1; }
elif command -v shasum >/dev/null 2>&1; then
  sha256() { shasum -a 256 | cut -d ' ' -f 1; }
else
  echo "join.sh: neither sha256sum nor shasum is installed" >&2
  exit 1
fi
failed=
tmp=
# Interrupted: no half-joined file left behind.
trap 'if [ -n "$tmp" ]; then rm -f "$tmp"; fi; exit 130' INT TERM HUP
# Prints the name of a new, empty file for NAME's joined bytes (NAME may be in a folder
# below this one), made beside it by this run:
# never a name that already exists, which could be a symbolic link planted to make the
# join write elsewhere.
new_tmp() {
  b=${1##*/}
  d=.
  case "$1" in */*) d=${1%/*} ;; esac
  if command -v mktemp >/dev/null 2>&1; then
    mktemp "$d/.$b.join-tmp.XXXXXX"
  else
    t="$d/.$b.join-tmp.$$"
    if [ -e "$t" ] || [ -L "$t" ]; then
      echo "join.sh: $1: FAILED: $t already exists; remove it and run again" >&2
      return 1
    fi
    (set -C; : >"$t") && printf '%s\n' "$t"
  fi
}
# A part missing or damaged, and recovery files beside it: where par2 is found.
par2_hint() {
  for set in export.par2 delta.par2; do
    if [ -f "$set" ]; then
      echo "join.sh: recovery files are here: rebuild the missing or damaged part with" \
        "'par2 repair $set' or 'seedforge verify --repair .', then run join.sh again." \
        "par2 is par2cmdline: 'apt-get install par2' (Debian, Ubuntu)," \
        "'dnf install par2cmdline' (Fedora), 'brew install par2' (macOS)," \
        "MultiPar or par2cmdline's release (github.com/Parchive/par2cmdline) on Windows" >&2
      return 0
    fi
  done
}
join_one() {
  name=$1
  want=$2
  shift 2
  for part in "$@"; do
    if [ ! -f "$part" ]; then
      echo "join.sh: $name: FAILED: part $part is missing" >&2
      par2_hint
      failed="$failed $name"
      return 0
    fi
  done
  # The joined file is renamed to NAME: a link there would be followed into a folder.
  if [ -L "$name" ] || [ -d "$name" ]; then
    echo "join.sh: $name: FAILED: $name is a symbolic link or a folder; move it away and run again" >&2
    failed="$failed $name"
    return 0
  fi
  if ! tmp=$(new_tmp "$name"); then
    tmp=
    echo "join.sh: $name: FAILED: could not make a temporary file" >&2
    failed="$failed $name"
    return 0
  fi
  if ! cat "$@" >"$tmp"; then
    rm -f "$tmp"
    echo "join.sh: $name: FAILED: could not write the joined file" >&2
    failed="$failed $name"
    return 0
  fi
  got=$(sha256 <"$tmp")
  if [ "$got" != "$want" ]; then
    rm -f "$tmp"
    echo "join.sh: $name: FAILED: the joined parts have sha256 $got, expected $want" >&2
    par2_hint
    failed="$failed $name"
    return 0
  fi
  mv -f "$tmp" "$name"
  tmp=
  echo "$name: OK ($# parts joined)"
  if [ -n "$remove" ]; then
    rm -f "$@"
  fi
}
"#;

const JOIN_TAIL: &str = r#"if [ -n "$failed" ]; then
  echo "join.sh: FAILED:$failed (their parts were kept)" >&2
  exit 1
fi
"#;

/// What `verify` found of one whole: its parts streamed through one hash.
#[derive(Debug, Clone, Serialize)]
pub struct WholeCheck {
    /// The file's name once joined.
    pub name: String,
    /// Parts found.
    pub parts: usize,
    /// Bytes hashed.
    pub bytes: u64,
    /// What is wrong, if anything.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// `verify`'s check of an export folder's `SHA256SUMS.wholes`.
#[derive(Debug, Clone, Serialize)]
pub struct WholesReport {
    /// The file.
    pub file: PathBuf,
    /// One entry per line.
    pub wholes: Vec<WholeCheck>,
    /// The sha256 of each part read whole on the way, so that checking `SHA256SUMS`
    /// need not read it again.
    #[serde(skip)]
    pub part_sha256: BTreeMap<PathBuf, String>,
}

impl WholesReport {
    /// The checks that failed.
    pub fn failed(&self) -> impl Iterator<Item = &WholeCheck> {
        self.wholes.iter().filter(|w| w.problem.is_some())
    }
}

/// Checks every whole `dir/SHA256SUMS.wholes` lists: its parts, numbered 1 to N, hashed
/// in order as one stream (no joined file is written). `None` when there is no such file.
pub fn verify_wholes(dir: &Path) -> Result<Option<WholesReport>, SealError> {
    let file = dir.join(WHOLES);
    if fs::symlink_metadata(&file).is_err() {
        return Ok(None);
    }
    let text = crate::input::read_found_to_string(&file, crate::input::Kind::Sums)?;
    // The parts the folder's SHA256SUMS lists, by whole: how many each should have.
    let sums = dir.join(crate::pipeline::seal::SUMS);
    let sums = crate::input::read_found_to_string(&sums, crate::input::Kind::Sums)
        .map(|t| {
            t.lines()
                .filter_map(|l| crate::pipeline::seal::sums_line(l).map(|(_, n)| n.to_string()))
                .collect::<Vec<_>>()
        })
        .ok();
    let mut wholes = Vec::new();
    let mut part_sha256 = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let parsed = line.split_once("  ").filter(|(h, n)| {
            h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()) && plain_name(n)
        });
        let Some((sha, name)) = parsed else {
            wholes.push(WholeCheck {
                name: format!("{WHOLES}:{}", i + 1),
                parts: 0,
                bytes: 0,
                problem: Some(format!(
                    "malformed line {:?}",
                    line.chars().take(120).collect::<String>()
                )),
            });
            continue;
        };
        let listed = sums.as_ref().map(|names| {
            (names.iter())
                .filter(|n| is_part_of(n, name))
                .cloned()
                .collect::<Vec<_>>()
        });
        wholes.push(check_whole(dir, name, sha, listed, &mut part_sha256));
    }
    Ok(Some(WholesReport {
        file,
        wholes,
        part_sha256,
    }))
}

/// A file name with no folder in it.
fn plain_name(name: &str) -> bool {
    !name.is_empty() && !name.contains('/') && name != "." && name != ".."
}

/// True when `file` is a part of `name` (`NAME.part` followed by digits).
fn is_part_of(file: &str, name: &str) -> bool {
    (file.strip_prefix(name))
        .and_then(|rest| rest.strip_prefix(".part"))
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Checks the whole `name` over its parts in `dir`; `listed`: the parts the folder's
/// `SHA256SUMS` lists of it, when there is one (how many there should be).
fn check_whole(
    dir: &Path,
    name: &str,
    want: &str,
    listed: Option<Vec<String>>,
    part_sha256: &mut BTreeMap<PathBuf, String>,
) -> WholeCheck {
    let mut check = WholeCheck {
        name: name.to_string(),
        parts: 0,
        bytes: 0,
        problem: None,
    };
    let parts = match parts_in(dir, name) {
        Ok(p) => p,
        Err(e) => {
            check.problem = Some(format!("cannot list its parts: {e}"));
            return check;
        }
    };
    check.parts = parts.len();
    let found = parts.len() as u64;
    // The parts SHA256SUMS lists that are not in the folder.
    let missing: Vec<String> = (listed.iter().flatten())
        .filter(|l| !parts.iter().any(|(_, f)| f == *l))
        .cloned()
        .collect();
    let count = found + missing.len() as u64;
    let numbered = if missing.is_empty() {
        (parts.iter().enumerate())
            .all(|(i, (n, file))| *n == i as u64 + 1 && *file == part_name(name, *n, count))
    } else {
        (parts.iter())
            .all(|(n, file)| (1..=count).contains(n) && *file == part_name(name, *n, count))
    };
    if parts.is_empty() {
        check.problem = Some(match count {
            0 => "no parts (NAME.part001 …) in the folder".into(),
            n => format!(
                "none of its {n} part(s) in the folder: {}",
                missing.join(", ")
            ),
        });
        return check;
    }
    if !numbered {
        check.problem = Some(format!(
            "its parts are not numbered 1 to {count} without a gap: {}",
            parts
                .iter()
                .map(|p| p.1.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
        return check;
    }
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; CHUNK];
    for (_, file) in &parts {
        let path = dir.join(file);
        let mut f = match crate::input::open_found(&path) {
            Ok((f, meta)) => crate::util::SparseReader::new(f, meta.len()),
            Err(e) => {
                check.problem = Some(e.to_string());
                return check;
            }
        };
        let mut own = Sha256::new();
        loop {
            match f.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    hasher.update(&buf[..n]);
                    own.update(&buf[..n]);
                    check.bytes += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    check.problem = Some(format!("{}: {e}", path.display()));
                    return check;
                }
            }
        }
        part_sha256.insert(path, hex(&own.finalize()));
    }
    let got = hex(&hasher.finalize());
    if !missing.is_empty() {
        check.problem = Some(format!(
            "found {found} of its {count} parts ({} missing), so it cannot be joined",
            missing.join(", ")
        ));
    } else if got != want {
        check.problem = Some(format!(
            "its {found} part(s) joined have sha256 {got}, {WHOLES} says {want}"
        ));
    }
    check
}

/// Creates `path` with mode 0600 where the filesystem honours modes.
pub(super) fn create_private(path: &Path) -> io::Result<fs::File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

/// Sets mode 0600, for the caller to ignore where the file system refuses it.
pub(super) fn set_private(path: &Path) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    fs::set_permissions(path, fs::Permissions::from_mode(0o600))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_numbered_to_sort_by_name() {
        assert_eq!(part_name("seed-a.iso", 1, 2), "seed-a.iso.part001");
        assert_eq!(part_name("seed-a.iso", 12, 999), "seed-a.iso.part012");
        assert_eq!(part_name("seed-a.iso", 7, 1000), "seed-a.iso.part0007");
        assert_eq!(part_name("x", 1000, 1000), "x.part1000");
    }

    #[test]
    fn part_counts_round_up() {
        let g = 4_000_000_000;
        assert_eq!(part_count(5 << 30, g), 2);
        assert_eq!(part_count(g, g), 1);
        assert_eq!(part_count(g + 1, g), 2);
        assert_eq!(part_count(0, g), 1);
        assert_eq!(part_count(3 * g, g), 3);
    }

    #[test]
    fn sums_are_sorted_sha256sum_lines() {
        let text = sums_text(&[
            ("b.iso".into(), "b".repeat(64)),
            ("a.iso.part001".into(), "a".repeat(64)),
        ]);
        let a = "a".repeat(64);
        let b = "b".repeat(64);
        assert_eq!(text, format!("{a}  a.iso.part001\n{b}  b.iso\n"));
    }

    #[test]
    fn the_join_script_quotes_every_value() {
        let script = join_script(&[Whole {
            name: "it's.iso".into(),
            sha256: "0".repeat(64),
            parts: vec!["it's.iso.part001".into()],
        }])
        .unwrap();
        assert!(script.contains(r"join_one 'it'\''s.iso' "), "{script}");
        assert!(script.starts_with("#!/bin/sh\n"));
    }

    /// 3.5 MiB: a pattern, a MiB of zeros, a pattern.
    fn source(dir: &Path) -> (PathBuf, Vec<u8>) {
        let mut bytes: Vec<u8> = (0..(3 << 19)).map(|i: u32| (i % 251) as u8).collect();
        bytes.extend(std::iter::repeat_n(0u8, 1 << 20));
        bytes.extend((0..(1 << 20)).map(|i: u32| (i % 13) as u8));
        let path = dir.join("src.iso");
        fs::write(&path, &bytes).unwrap();
        (path, bytes)
    }

    fn listing(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn parts_join_to_the_source_and_verify() {
        let tmp = tempfile::tempdir().unwrap();
        let (src, bytes) = source(tmp.path());
        let out = tmp.path().join("out");
        fs::create_dir(&out).unwrap();
        let sha = crate::hashing::sha256_hex(&bytes);
        let (parts, wrote) = write_parts(&src, &out, "a.iso", 1 << 20, &sha).unwrap();
        assert!(wrote);
        assert_eq!(parts.len(), 4);
        let mut joined = Vec::new();
        for p in &parts {
            let part = fs::read(&p.path).unwrap();
            assert_eq!(crate::hashing::sha256_hex(&part), p.sha256);
            joined.extend(part);
        }
        assert_eq!(joined, bytes);
        fs::write(out.join(WHOLES), format!("{sha}  a.iso\n")).unwrap();
        let report = verify_wholes(&out).unwrap().unwrap();
        assert_eq!(report.failed().count(), 0, "{report:?}");
        // The same again: nothing rewritten.
        let (_, wrote) = write_parts(&src, &out, "a.iso", 1 << 20, &sha).unwrap();
        assert!(!wrote);
        // A part missing in the middle is named, not hashed as if whole.
        fs::remove_file(out.join("a.iso.part002")).unwrap();
        let report = verify_wholes(&out).unwrap().unwrap();
        let problem = report.wholes[0].problem.clone().unwrap();
        assert!(problem.contains("not numbered 1 to 3"), "{problem}");
    }

    #[test]
    fn a_source_that_does_not_hash_to_its_seal_leaves_no_part() {
        let tmp = tempfile::tempdir().unwrap();
        let (src, _) = source(tmp.path());
        let out = tmp.path().join("out");
        fs::create_dir(&out).unwrap();
        let e = write_parts(&src, &out, "a.iso", 1 << 20, &"0".repeat(64)).unwrap_err();
        assert!(
            e.to_string().contains("changed while it was exported"),
            "{e}"
        );
        assert!(listing(&out).is_empty(), "{:?}", listing(&out));
    }

    #[test]
    fn parts_are_found_in_numeric_order() {
        let dir = tempfile::tempdir().unwrap();
        for n in [
            "a.iso.part010",
            "a.iso.part002",
            "a.iso.part001",
            "a.iso.partx",
            "a.iso",
        ] {
            fs::write(dir.path().join(n), n).unwrap();
        }
        let found: Vec<u64> = parts_in(dir.path(), "a.iso")
            .unwrap()
            .iter()
            .map(|p| p.0)
            .collect();
        assert_eq!(found, [1, 2, 10]);
    }
}
