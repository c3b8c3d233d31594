//! Property test: random trees (names with every awkward character class, 8.3 collisions,
//! deep nesting, empty and executable files) always give unique, valid ISO and Joliet
//! names and round-trip through our reader; a few also go through pycdlib.
//!
//! The generator is a small seeded xorshift, so a failure names the seed that reproduces
//! it and the test needs no extra dependency.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use crate::common;

use common::iso::{pycdlib_files, pycdlib_python};
use common::sha256_bytes;
use seedforge::iso::{
    DigestCache, Entry, IsoImage, IsoOptions, Namespace, write_iso, write_iso_with_mode,
};
use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// Pieces names are built from: common prefixes (8.3 collisions), cases, separators,
/// characters Joliet forbids, Latin-1, CJK and astral-plane Unicode.
const PIECES: &[&str] = &[
    "user-data",
    "meta-data",
    "network-config",
    "a",
    "B",
    "Readme",
    "README",
    "x.y",
    ".",
    "-",
    "_",
    " ",
    "  ",
    ":",
    "*",
    "?",
    ";",
    "\\",
    "é",
    "ß",
    "Ä",
    "設定",
    "😀",
    "1",
    "07",
    ".tar.gz",
    ".YAML",
    "long-long-long-",
    "~",
    "%",
    "'",
    "\"",
    "#",
];

fn random_name(rng: &mut Rng) -> String {
    loop {
        let most = if rng.below(5) == 0 { 30 } else { 5 };
        let parts = 1 + rng.below(most);
        let name: String = (0..parts).map(|_| *rng.pick(PIECES)).collect();
        if name.len() <= 200 && name != "." && name != ".." {
            return name;
        }
    }
}

/// Writes a random tree under `root`; returns relative path -> (bytes, executable).
fn random_tree(rng: &mut Rng, root: &Path) -> BTreeMap<String, (Vec<u8>, bool)> {
    let mut files = BTreeMap::new();
    let mut dirs = vec![(String::new(), 1usize)];
    let entries = 5 + rng.below(60);
    for _ in 0..entries {
        let (parent, level) = rng.pick(&dirs).clone();
        let name = random_name(rng);
        let rel = if parent.is_empty() {
            name
        } else {
            format!("{parent}/{name}")
        };
        if files.contains_key(&rel) || dirs.iter().any(|(d, _)| *d == rel) {
            continue;
        }
        if level < 8 && rng.below(4) == 0 {
            fs::create_dir(root.join(&rel)).unwrap();
            dirs.push((rel, level + 1));
            continue;
        }
        let len = match rng.below(4) {
            0 => 0,
            1 => rng.below(100),
            _ => rng.below(9000),
        } as usize;
        let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        let exe = rng.below(3) == 0;
        let path = root.join(&rel);
        fs::write(&path, &bytes).unwrap();
        let mode = if exe { 0o755 } else { 0o644 };
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
        files.insert(rel, (bytes, exe));
    }
    for (d, _) in dirs.into_iter().skip(1) {
        files.insert(format!("{d}/"), (Vec::new(), false));
    }
    files
}

fn valid_iso_id(id: &str, is_dir: bool) -> bool {
    let d = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
    };
    if is_dir {
        return (1..=8).contains(&id.len()) && d(id);
    }
    let Some((rest, "1")) = id.rsplit_once(';') else {
        return false;
    };
    let Some((name, ext)) = rest.split_once('.') else {
        return false;
    };
    name.len() <= 8 && ext.len() <= 3 && !(name.is_empty() && ext.is_empty()) && d(name) && d(ext)
}

/// Round-trips one random tree; returns (entries, deepest level, names over 64 units).
fn round_trip(seed: u64, pycdlib: Option<&Path>) -> (usize, usize, usize) {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    fs::create_dir(&src).unwrap();
    let files = random_tree(&mut rng, &src);
    let out = tmp.path().join("r.iso");
    // Odd seeds put some files last (the seeds' layout) and ask for the image's digest.
    let last: Vec<std::path::PathBuf> = if seed % 2 == 1 {
        files
            .keys()
            .filter(|p| !p.ends_with('/') && rng.below(3) == 0)
            .map(Into::into)
            .collect()
    } else {
        Vec::new()
    };
    let opts = IsoOptions {
        label: "cidata".into(),
        source_date_epoch: seed,
        application_id: "TEST".into(),
        last,
        executable: None,
    };
    if opts.last.is_empty() {
        write_iso(&src, &out, &opts).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    } else {
        let cache = DigestCache::default();
        let summary = write_iso_with_mode(&src, &out, &opts, 0o600, Some(&cache))
            .unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        let sha = sha256_bytes(&fs::read(&out).unwrap());
        assert_eq!(summary.sha256.as_deref(), Some(sha.as_str()), "seed {seed}");
        // Again, from the cache's prefix: the same digest, no shared data read again.
        let read = cache.prefix_bytes();
        let again = write_iso_with_mode(&src, &out, &opts, 0o600, Some(&cache)).unwrap();
        assert_eq!(again.sha256, summary.sha256, "seed {seed}");
        assert_eq!(cache.prefix_bytes(), read, "seed {seed}");
    }
    let mut img = IsoImage::open(&out).unwrap();

    let rr = img.entries(Namespace::RockRidge).unwrap();
    let mut got = BTreeMap::new();
    for e in &rr {
        if e.is_dir {
            assert_eq!(e.mode, Some(0o040_755), "seed {seed}: {}", e.path);
            got.insert(format!("{}/", e.path), (Vec::new(), false));
        } else {
            let mut bytes = Vec::new();
            img.copy_to(e, &mut bytes).unwrap();
            let exe = e.mode == Some(0o100_755);
            assert!(
                exe || e.mode == Some(0o100_644),
                "seed {seed}: mode {:?}",
                e.mode
            );
            got.insert(e.path.clone(), (bytes, exe));
        }
    }
    assert!(
        got == files,
        "seed {seed}: the Rock Ridge tree differs from the source"
    );

    let iso = img.entries(Namespace::Iso).unwrap();
    assert_eq!(iso.len(), rr.len(), "seed {seed}");
    for e in &iso {
        let id = e.path.rsplit('/').next().unwrap();
        assert!(
            valid_iso_id(id, e.is_dir),
            "seed {seed}: invalid ISO identifier {id:?}"
        );
        assert!(
            e.path.split('/').count() <= 8,
            "seed {seed}: {} too deep",
            e.path
        );
    }
    let joliet = img.entries(Namespace::Joliet).unwrap();
    assert_eq!(joliet.len(), rr.len(), "seed {seed}");
    let mut joliet_paths = HashSet::new();
    for e in &joliet {
        let name = e.path.rsplit('/').next().unwrap();
        assert!(
            name.encode_utf16().count() <= 64,
            "seed {seed}: {name:?} longer than 64"
        );
        assert!(
            !name.contains(['*', ':', ';', '?', '\\', '\u{FFFD}']),
            "seed {seed}: {name:?}"
        );
        assert!(
            joliet_paths.insert(e.path.clone()),
            "seed {seed}: Joliet {} twice",
            e.path
        );
    }
    let extents = |v: &[Entry]| {
        let mut x: Vec<_> = v
            .iter()
            .filter(|e| !e.is_dir)
            .map(|e| (e.extents.clone(), e.size))
            .collect();
        x.sort();
        x
    };
    assert_eq!(
        extents(&joliet),
        extents(&rr),
        "seed {seed}: Joliet and Rock Ridge files differ"
    );
    let mut iso_paths = HashSet::new();
    for e in &iso {
        assert!(
            iso_paths.insert(e.path.clone()),
            "seed {seed}: ISO {} twice",
            e.path
        );
    }

    if let Some(python) = pycdlib {
        let read = pycdlib_files(python, &out, &[]);
        for (path, (bytes, _)) in files.iter().filter(|(p, _)| !p.ends_with('/')) {
            let want = (bytes.len() as u64, sha256_bytes(bytes));
            assert_eq!(
                read.get(&("rr".into(), path.clone())),
                Some(&want),
                "seed {seed}: pycdlib {path}"
            );
        }
    }
    let depth = rr
        .iter()
        .map(|e| e.path.split('/').count())
        .max()
        .unwrap_or(0);
    let name_units = |e: &Entry| e.path.rsplit('/').next().unwrap().encode_utf16().count();
    let long = rr.iter().filter(|e| name_units(e) > 64).count();
    (rr.len(), depth, long)
}

#[test]
fn random_trees_get_unique_valid_names_and_round_trip() {
    let (mut entries, mut deepest, mut long) = (0, 0, 0);
    for seed in 1..=40 {
        let (n, d, l) = round_trip(seed, None);
        entries += n;
        deepest = deepest.max(d);
        long += l;
    }
    // The generator must actually reach the interesting cases.
    assert!(entries > 500, "{entries} entries");
    assert!(deepest >= 6, "deepest path has {deepest} components");
    assert!(long > 10, "{long} names over 64 UTF-16 units");
}

#[test]
fn random_trees_read_back_through_pycdlib() {
    let Some(python) = pycdlib_python() else {
        return;
    };
    for seed in 100..=104 {
        round_trip(seed, Some(&python));
    }
}
