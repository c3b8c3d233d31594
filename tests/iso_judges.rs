//! The seed ISO judged by the real readers: blkid, isoinfo, osirrox, 7z and pycdlib each
//! open an image `seedforge iso` wrote from a tree with every awkward kind of name, and
//! must see exactly the files, bytes and modes that went in.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use crate::common;

use common::iso::{
    expected_joliet_path, isoinfo_paths, pycdlib_files, pycdlib_python, seed_tree,
    sevenzip_listing, tree_modes,
};
use common::{Cmd, assert_same_tree, require_tool, sha256_bytes, snapshot};
use seedforge::iso::{IsoImage, Namespace};
use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;

/// A temp dir holding the source tree `src/` and the image `seed.iso` made from it.
struct Seed {
    tmp: tempfile::TempDir,
}

impl Seed {
    fn new() -> Seed {
        let tmp = tempfile::tempdir().unwrap();
        seed_tree(&tmp.path().join("src"));
        let seed = Seed { tmp };
        Cmd::seedforge()
            .args(["iso", "--source-date-epoch", "1700000000", "--out"])
            .arg(seed.iso())
            .arg(seed.src())
            .run();
        seed
    }
    fn src(&self) -> PathBuf {
        self.tmp.path().join("src")
    }
    fn iso(&self) -> PathBuf {
        self.tmp.path().join("seed.iso")
    }
    /// Source files: relative path -> bytes.
    fn files(&self) -> BTreeMap<String, Vec<u8>> {
        let src = self.src();
        walkdir::WalkDir::new(&src)
            .into_iter()
            .map(Result::unwrap)
            .filter(|e| e.file_type().is_file())
            .map(|e| {
                let rel = e
                    .path()
                    .strip_prefix(&src)
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .to_string();
                (rel, fs::read(e.path()).unwrap())
            })
            .collect()
    }
    fn paths(&self) -> Vec<String> {
        tree_modes(&self.src()).into_keys().collect()
    }
}

#[test]
fn blkid_sees_label_cidata_and_type_iso9660() {
    if !require_tool("blkid") {
        return;
    }
    let seed = Seed::new();
    let out = Cmd::new("blkid").arg("-p").arg(seed.iso()).run();
    assert!(out.stdout.contains(r#"LABEL="cidata""#), "{}", out.stdout);
    assert!(out.stdout.contains(r#"TYPE="iso9660""#), "{}", out.stdout);
}

#[test]
fn isoinfo_finds_rock_ridge_and_joliet_and_lists_the_exact_names() {
    if !require_tool("isoinfo") {
        return;
    }
    let seed = Seed::new();
    let d = Cmd::new("isoinfo")
        .arg("-d")
        .arg("-i")
        .arg(seed.iso())
        .run()
        .stdout;
    assert!(d.contains("Volume id: CIDATA"), "{d}");
    assert!(d.contains("Joliet with UCS level 3 found"), "{d}");
    assert!(d.contains("Rock Ridge signatures version 1 found"), "{d}");

    assert_eq!(isoinfo_paths(&seed.iso(), &["-R"]), seed.paths());

    // isoinfo converts Joliet names to a single-byte charset: each UCS-2 unit outside
    // Latin-1 shows as '_' (7z and pycdlib below check those names in full).
    let latin1 = |p: &str| -> String {
        p.encode_utf16()
            .map(|u| if u < 0x100 { char::from(u as u8) } else { '_' })
            .collect()
    };
    let mut expected: Vec<String> = seed
        .paths()
        .iter()
        .map(|p| latin1(&expected_joliet_path(p)))
        .collect();
    expected.sort();
    assert_eq!(
        isoinfo_paths(&seed.iso(), &["-J", "-j", "iso8859-1"]),
        expected
    );

    let plain = isoinfo_paths(&seed.iso(), &[]);
    for name in [
        "USER_DAT.;1",
        "META_DAT.;1",
        "NETWORK_.;1",
        "VENDOR_D.;1",
        "USER_DA1.;1",
    ] {
        assert!(
            plain.contains(&name.to_string()),
            "{name} missing from {plain:?}"
        );
    }
}

#[test]
fn osirrox_extracts_the_tree_byte_for_byte_with_its_modes() {
    if !require_tool("osirrox") {
        return;
    }
    let seed = Seed::new();
    let dest = seed.tmp.path().join("extracted");
    Cmd::new("osirrox")
        .arg("-indev")
        .arg(seed.iso())
        .arg("-extract")
        .arg("/")
        .arg(&dest)
        .run();
    assert_same_tree(
        &snapshot(&seed.src()),
        &snapshot(&dest),
        "osirrox extraction",
    );
    assert_eq!(tree_modes(&seed.src()), tree_modes(&dest));
}

#[test]
fn sevenzip_lists_every_file_under_its_joliet_name() {
    if !require_tool("7z") {
        return;
    }
    let seed = Seed::new();
    let listed = sevenzip_listing(&seed.iso());
    for (path, bytes) in seed.files() {
        let name = expected_joliet_path(&path);
        assert_eq!(
            listed.get(&name),
            Some(&Some(bytes.len() as u64)),
            "{name} in {listed:?}"
        );
    }
}

#[test]
fn pycdlib_reads_every_file_through_joliet_and_rock_ridge() {
    let Some(python) = pycdlib_python() else {
        return;
    };
    let seed = Seed::new();
    let read = pycdlib_files(&python, &seed.iso(), &[]);
    let files = seed.files();
    assert_eq!(read.len(), 2 * files.len(), "{read:?}");
    for (path, bytes) in files {
        let want = (bytes.len() as u64, sha256_bytes(&bytes));
        assert_eq!(
            read.get(&("rr".into(), path.clone())),
            Some(&want),
            "rr {path}"
        );
        let joliet = expected_joliet_path(&path);
        assert_eq!(
            read.get(&("joliet".into(), joliet.clone())),
            Some(&want),
            "joliet {joliet}"
        );
    }
}

#[test]
fn our_reader_and_verify_agree_with_the_source() {
    let seed = Seed::new();
    let mut img = IsoImage::open(&seed.iso()).unwrap();
    assert_eq!(img.volume_id, "CIDATA");
    assert_eq!(img.joliet_volume_id.as_deref(), Some("cidata"));
    assert!(img.rock_ridge);
    let rr: Vec<String> = img
        .entries(Namespace::RockRidge)
        .unwrap()
        .into_iter()
        .map(|e| e.path)
        .collect();
    let mut sorted = rr.clone();
    sorted.sort();
    assert_eq!(sorted, seed.paths());
    let dest = seed.tmp.path().join("ours");
    img.extract(Namespace::RockRidge, &dest).unwrap();
    assert_same_tree(&snapshot(&seed.src()), &snapshot(&dest), "our extraction");
    assert_eq!(tree_modes(&seed.src()), tree_modes(&dest));

    // Every file reads back whole; the one problem is the tree's own: it has files under
    // `payload/` and no `payload/SHA256SUMS`, which a node's bootstrap would refuse.
    let out = Cmd::seedforge()
        .arg("verify")
        .arg(seed.iso())
        .expect(1)
        .run();
    assert!(out.stdout.contains("1 problem(s)"), "{}", out.stdout);
    assert!(
        out.stderr.contains("no payload/SHA256SUMS"),
        "{}",
        out.stderr
    );
}
