//! Bad input to `seedforge iso` exits 2 naming the offending file and writes nothing;
//! `seedforge verify` fails on a damaged or incomplete image; and the reader survives
//! thousands of damaged images without a panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use crate::common;

use common::{Cmd, XorShift, require_tool};
use seedforge::iso::{IsoImage, IsoOptions, Namespace, write_iso};
use std::fs;
use std::io::Cursor;
use std::path::{Path, PathBuf};

struct Case {
    tmp: tempfile::TempDir,
}

impl Case {
    fn new() -> Case {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("src");
        fs::create_dir(&src).unwrap();
        fs::write(src.join("user-data"), "#cloud-config\n").unwrap();
        fs::write(src.join("meta-data"), "instance-id: x\n").unwrap();
        // An earlier, good image that a failed run must leave alone.
        fs::write(tmp.path().join("seed.iso"), "previous image").unwrap();
        Case { tmp }
    }
    fn src(&self) -> PathBuf {
        self.tmp.path().join("src")
    }
    fn out(&self) -> PathBuf {
        self.tmp.path().join("seed.iso")
    }
    /// Runs `seedforge iso` expecting exit 2; checks the message names `culprit` and that
    /// the previous image and the directory are untouched.
    fn refuses(&self, extra: &[&str], culprit: &str, why: &str) {
        let out = Cmd::seedforge()
            .args(["iso", "--out"])
            .arg(self.out())
            .args(extra)
            .arg(self.src())
            .expect(2)
            .run();
        assert!(
            out.stderr.contains(culprit),
            "{culprit} not named: {}",
            out.stderr
        );
        assert!(out.stderr.contains(why), "{why:?} not said: {}", out.stderr);
        assert_eq!(fs::read(self.out()).unwrap(), b"previous image");
        let names: Vec<_> = fs::read_dir(self.tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 2, "temporary files left behind: {names:?}");
    }
}

#[test]
fn a_symlink_is_refused() {
    let case = Case::new();
    std::os::unix::fs::symlink("user-data", case.src().join("link")).unwrap();
    case.refuses(&[], "src/link", "symbolic link");
}

#[test]
fn a_fifo_is_refused() {
    if !require_tool("mkfifo") {
        return;
    }
    let case = Case::new();
    Cmd::new("mkfifo").arg(case.src().join("pipe")).run();
    case.refuses(&[], "src/pipe", "FIFO");
}

#[test]
fn nesting_deeper_than_eight_levels_is_refused_and_eight_is_fine() {
    let case = Case::new();
    let seven = case.src().join("1/2/3/4/5/6/7");
    fs::create_dir_all(&seven).unwrap();
    fs::write(seven.join("f"), "deepest allowed").unwrap();
    let ok = case.tmp.path().join("ok.iso");
    Cmd::seedforge()
        .args(["iso", "--out"])
        .arg(&ok)
        .arg(case.src())
        .run();
    fs::remove_file(ok).unwrap();
    fs::create_dir(seven.join("8")).unwrap();
    case.refuses(&[], "1/2/3/4/5/6/7/8", "deeper than the 8 levels");
}

#[test]
fn a_non_utf8_name_is_refused() {
    use std::os::unix::ffi::OsStrExt as _;
    let case = Case::new();
    let name = std::ffi::OsStr::from_bytes(b"bad-\xff-name");
    fs::write(case.src().join(name), "x").unwrap();
    case.refuses(&[], "bad-", "not valid UTF-8");
}

#[test]
fn bad_options_and_paths_are_refused() {
    let case = Case::new();
    case.refuses(
        &["--label", "a-label-that-is-far-too-long"],
        "a-label-that-is-far-too-long",
        "1 to 16",
    );
    case.refuses(&["--label", "a/b"], "a/b", "one of");
    case.refuses(
        &["--source-date-epoch", "99999999999"],
        "99999999999",
        "2155",
    );
    let out = Cmd::seedforge()
        .args(["iso", "--out"])
        .arg(case.out())
        .arg(case.tmp.path().join("missing"))
        .expect(2)
        .run();
    assert!(out.stderr.contains("missing"), "{}", out.stderr);
    let inside = case.src().join("seed.iso");
    let out = Cmd::seedforge()
        .args(["iso", "--out"])
        .arg(&inside)
        .arg(case.src())
        .expect(2)
        .run();
    assert!(
        out.stderr.contains("inside the source directory"),
        "{}",
        out.stderr
    );
    assert!(!inside.exists());
}

fn good_image(dir: &Path) -> PathBuf {
    let src = dir.join("good-src");
    fs::create_dir_all(src.join("sub")).unwrap();
    fs::write(src.join("user-data"), "#cloud-config\n").unwrap();
    fs::write(src.join("meta-data"), "instance-id: x\n").unwrap();
    fs::write(
        src.join("sub").join(format!("{}.txt", "long".repeat(40))),
        "y",
    )
    .unwrap();
    let iso = dir.join("good.iso");
    let opts = IsoOptions {
        label: "cidata".into(),
        source_date_epoch: 0,
        application_id: "T".into(),
        last: Vec::new(),
        executable: None,
    };
    write_iso(&src, &iso, &opts).unwrap();
    iso
}

#[test]
fn verify_passes_a_good_image_and_fails_a_damaged_or_incomplete_one() {
    let tmp = tempfile::tempdir().unwrap();
    let iso = good_image(tmp.path());
    Cmd::seedforge().arg("verify").arg(&iso).run();
    // A build output directory with only iso/ is checked too.
    fs::create_dir(tmp.path().join("out")).unwrap();
    fs::create_dir(tmp.path().join("out/iso")).unwrap();
    fs::copy(&iso, tmp.path().join("out/iso/seed-n1.iso")).unwrap();
    Cmd::seedforge()
        .arg("verify")
        .arg(tmp.path().join("out"))
        .run();

    let mut bytes = fs::read(&iso).unwrap();
    bytes.truncate(bytes.len() - 2048);
    let cut = tmp.path().join("cut.iso");
    fs::write(&cut, &bytes).unwrap();
    let out = Cmd::seedforge().arg("verify").arg(&cut).expect(1).run();
    assert!(out.stderr.contains("cut.iso"), "{}", out.stderr);

    let src = tmp.path().join("no-meta");
    fs::create_dir(&src).unwrap();
    fs::write(src.join("user-data"), "#cloud-config\n").unwrap();
    let incomplete = tmp.path().join("incomplete.iso");
    Cmd::seedforge()
        .args(["iso", "--out"])
        .arg(&incomplete)
        .arg(&src)
        .run();
    let out = Cmd::seedforge()
        .arg("verify")
        .arg(&incomplete)
        .expect(1)
        .run();
    assert!(
        out.stderr.contains("no meta-data at the root"),
        "{}",
        out.stderr
    );
}

/// Reads everything an image offers; errors are fine, panics are not.
fn read_everything(bytes: &[u8]) {
    let Ok(mut img) = IsoImage::from_reader(
        Cursor::new(bytes),
        bytes.len() as u64,
        Path::new("fuzz.iso"),
    ) else {
        return;
    };
    for ns in [Namespace::Iso, Namespace::RockRidge, Namespace::Joliet] {
        if let Ok(entries) = img.entries(ns) {
            for e in entries.iter().filter(|e| !e.is_dir) {
                let _ = img.copy_to(e, &mut std::io::sink());
            }
        }
    }
}

#[test]
fn the_reader_never_panics_on_damaged_images() {
    let tmp = tempfile::tempdir().unwrap();
    let good = fs::read(good_image(tmp.path())).unwrap();
    read_everything(&good);
    let mut rng = XorShift::new(7);
    let mut r = [0u8; 8];
    let mut next = |n: usize| {
        rng.fill(&mut r);
        (u64::from_le_bytes(r) % n as u64) as usize
    };
    // Mostly metadata: descriptors, path tables, directories, SUSP (the image is small).
    let meta_end = good.len();
    for round in 0..20_000 {
        let mut bytes = good.clone();
        for _ in 0..1 + next(8) {
            let at = 16 * 2048 + next(meta_end - 16 * 2048);
            bytes[at] = match next(4) {
                0 => 0,
                1 => 0xFF,
                _ => next(256) as u8,
            };
        }
        if round % 10 == 0 {
            bytes.truncate(next(bytes.len()));
        }
        read_everything(&bytes);
    }
    for len in (0..good.len()).step_by(997) {
        read_everything(&good[..len]);
    }
}
