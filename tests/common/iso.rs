//! Helpers for the ISO tests: the seed tree every judge looks at, the pycdlib runner, and
//! parsers for the listings of isoinfo and 7z.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stderr
)]

use super::{Cmd, repo_root};
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

/// A 100-character file name (an extension kept at the end).
pub fn long_name(fill: char) -> String {
    format!("{}.yaml", fill.to_string().repeat(95))
}

/// Writes the seed tree the judge tests use under `root`: the four NoCloud files, long
/// names, spaces, Unicode, capitals, 8.3 collisions, seven nested directories (the deepest
/// ECMA-119 allows), empty files, an executable and a file of several sectors.
pub fn seed_tree(root: &Path) {
    let files: Vec<(String, Vec<u8>)> = vec![
        (
            "user-data".into(),
            b"#cloud-config\nhostname: node1\n".to_vec(),
        ),
        ("meta-data".into(), b"instance-id: node1\n".to_vec()),
        ("network-config".into(), b"version: 2\n".to_vec()),
        ("vendor-data".into(), Vec::new()),
        ("user-data.bak".into(), b"old".to_vec()),
        ("user-data-2".into(), b"two".to_vec()),
        ("README.MD".into(), b"upper".to_vec()),
        ("readme.md".into(), b"lower".to_vec()),
        ("CamelCase.Yaml".into(), b"camel".to_vec()),
        ("with space.txt".into(), b"space".to_vec()),
        ("My Documents/notes file.txt".into(), b"notes".to_vec()),
        ("Ünïcode-ÄÖÜ.txt".into(), "umlauts".into()),
        ("設定/構成.yaml".into(), "cjk".into()),
        ("emoji-😀.txt".into(), "emoji".into()),
        (long_name('a'), b"long a".to_vec()),
        (format!("{}b.yaml", "a".repeat(94)), b"long a, b".to_vec()),
        (
            format!("{}/inner.txt", "d".repeat(100)),
            b"in a long dir".to_vec(),
        ),
        (
            "a/b/c/d/e/f/g/deep.txt".into(),
            b"seven levels down".to_vec(),
        ),
        ("empty.bin".into(), Vec::new()),
        (
            "payload/blob.bin".into(),
            (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect(),
        ),
        (
            "scripts/bootstrap.sh".into(),
            b"#!/bin/sh\necho ok\n".to_vec(),
        ),
    ];
    for (rel, bytes) in &files {
        let path = root.join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, bytes).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    }
    let exe = root.join("scripts/bootstrap.sh");
    fs::set_permissions(&exe, fs::Permissions::from_mode(0o755)).unwrap();
}

/// The Joliet name the writer gives `name`: the same unless it exceeds 64 UCS-2 units.
pub fn expected_joliet_path(path: &str) -> String {
    let long_a = long_name('a');
    let long_ab = format!("{}b.yaml", "a".repeat(94));
    path.split('/')
        .map(|c| {
            if c == long_a {
                format!("{}.yaml", "a".repeat(59))
            } else if c == long_ab {
                format!("{}~1.yaml", "a".repeat(57))
            } else if c.encode_utf16().count() > 64 {
                String::from_utf16(&c.encode_utf16().take(64).collect::<Vec<_>>()).unwrap()
            } else {
                c.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Every path under `root`, relative, `/`-separated, with its mode bits (0o777) and
/// whether it is a directory.
pub fn tree_modes(root: &Path) -> BTreeMap<String, (u32, bool)> {
    let mut out = BTreeMap::new();
    for entry in walkdir::WalkDir::new(root).min_depth(1) {
        let entry = entry.unwrap();
        let rel = entry.path().strip_prefix(root).unwrap();
        let meta = entry.metadata().unwrap();
        out.insert(
            rel.to_str().unwrap().to_string(),
            (meta.permissions().mode() & 0o777, meta.is_dir()),
        );
    }
    out
}

/// The python interpreter that has pycdlib (`$SEEDFORGE_PYCDLIB_PYTHON`, the venv that
/// scripts/test.sh makes in target/pyvenv, or python3). Missing: fails under `CI=true`,
/// otherwise prints a skip note and returns None.
pub fn pycdlib_python() -> Option<PathBuf> {
    let mut candidates = Vec::new();
    if let Some(p) = std::env::var_os("SEEDFORGE_PYCDLIB_PYTHON") {
        candidates.push(PathBuf::from(p));
    }
    candidates.push(repo_root().join("target/pyvenv/bin/python"));
    candidates.push(PathBuf::from("python3"));
    for python in candidates {
        let ok = std::process::Command::new(&python)
            .args(["-c", "import pycdlib"])
            .output()
            .is_ok_and(|o| o.status.success());
        if ok {
            return Some(python);
        }
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("python module pycdlib is not installed (CI=true, so this is a failure)");
    }
    eprintln!("SKIP: python module pycdlib is not installed; run scripts/test.sh to get it");
    None
}

/// pycdlib reads every file of `iso` through the Joliet and the Rock Ridge tree and prints
/// `tree<TAB>path<TAB>size<TAB>sha256` lines; parsed into `(tree, path) -> (size, sha256)`.
/// Files in `iso_paths_for` are read through their ISO 9660 path instead of the Rock
/// Ridge one (see the sparse test).
pub fn pycdlib_files(
    python: &Path,
    iso: &Path,
    iso_paths_for: &[&str],
) -> BTreeMap<(String, String), (u64, String)> {
    const SCRIPT: &str = r#"
import hashlib, json, sys, pycdlib
class Sink:
    def __init__(self): self.h = hashlib.sha256(); self.n = 0
    def write(self, b): self.h.update(b); self.n += len(b); return len(b)
iso = pycdlib.PyCdlib(); iso.open(sys.argv[1])
via_iso = json.loads(sys.argv[2])
for tree in ("joliet", "rr"):
    key = tree + "_path"
    for d, dirs, files in iso.walk(**{key: "/"}):
        for f in files:
            p = d.rstrip("/") + "/" + f
            s = Sink()
            if tree == "rr" and p in via_iso:
                iso.get_file_from_iso_fp(s, iso_path=via_iso[p])
            else:
                iso.get_file_from_iso_fp(s, **{key: p})
            print("%s\t%s\t%d\t%s" % (tree, p[1:], s.n, s.h.hexdigest()))
iso.close()
"#;
    let map: BTreeMap<String, String> = iso_paths_for
        .iter()
        .map(|p| (format!("/{p}"), format!("/{};1", p.to_ascii_uppercase())))
        .collect();
    let out = Cmd::new(python)
        .args(["-c", SCRIPT])
        .arg(iso)
        .arg(serde_json::to_string(&map).unwrap())
        .run();
    out.stdout
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (
                (f[0].to_string(), f[1].to_string()),
                (f[2].parse().unwrap(), f[3].to_string()),
            )
        })
        .collect()
}

/// Paths (relative, `/`-separated) that `isoinfo -l` with `flags` lists, without `.`/`..`.
/// isoinfo prints Joliet names in a single-byte charset: Latin-1 is asked for and decoded.
pub fn isoinfo_paths(iso: &Path, flags: &[&str]) -> Vec<String> {
    let out = Cmd::new("isoinfo")
        .args(flags)
        .arg("-l")
        .arg("-i")
        .arg(iso)
        .command()
        .output()
        .unwrap();
    assert!(out.status.success(), "isoinfo {flags:?} failed");
    let text: String = out.stdout.iter().map(|&b| char::from(b)).collect();
    let text = if flags.contains(&"-J") {
        text
    } else {
        String::from_utf8(out.stdout).unwrap()
    };
    let mut dir = String::new();
    let mut paths = Vec::new();
    for line in text.lines() {
        if let Some(d) = line.strip_prefix("Directory listing of /") {
            dir = d.trim_end_matches('/').to_string();
            continue;
        }
        let Some((_, name)) = line.split_once("]  ") else {
            continue;
        };
        let name = name.strip_suffix(' ').unwrap_or(name);
        if name == "." || name == ".." || name.is_empty() {
            continue;
        }
        paths.push(if dir.is_empty() {
            name.to_string()
        } else {
            format!("{dir}/{name}")
        });
    }
    paths.sort();
    paths.dedup();
    paths
}

/// Paths and sizes `7z l -slt` lists.
pub fn sevenzip_listing(iso: &Path) -> BTreeMap<String, Option<u64>> {
    let out = Cmd::new("7z")
        .args(["l", "-slt", "-sccUTF-8"])
        .arg(iso)
        .run();
    let mut map = BTreeMap::new();
    let mut path: Option<String> = None;
    let mut in_entries = false;
    for line in out.stdout.lines() {
        if line.starts_with("----------") {
            in_entries = true;
            continue;
        }
        if !in_entries {
            continue;
        }
        if let Some(p) = line.strip_prefix("Path = ") {
            path = Some(p.to_string());
        } else if let Some(s) = line.strip_prefix("Size = ") {
            if let Some(p) = path.take() {
                map.insert(p, s.parse().ok());
            }
        } else if line.starts_with("Folder = +")
            && let Some(p) = path.take()
        {
            map.insert(p, None);
        }
    }
    map
}
