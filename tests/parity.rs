//! PAR 2.0 recovery files (`export_parity:`, `delta --parity`), judged by par2cmdline:
//! Debian 12's `par2` 0.8.1 and sid's 1.4.0 (scripts/test.sh unpacks it with sid's C and
//! C++ libraries into `target/sid-par2/root`; it runs through that tree's own loader).
//! Each judge verifies a fresh set and repairs a part deleted and another damaged byte for
//! byte; `seedforge verify` names the damage and `verify --repair` rebuilds it, checked
//! against `SHA256SUMS`; a loss beyond the recovery data is refused (exit 1) with nothing
//! written; two builds write the same recovery files; a delta in parts with one lost
//! applies.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use crate::common;

use common::{Cmd, repo_root, sha256_bytes};
use std::fs;
use std::path::Path;

/// The par2cmdline builds there are: (name, command).
fn judges() -> Vec<(&'static str, Cmd)> {
    let mut out = Vec::new();
    if Path::new("/usr/bin/par2").is_file() {
        out.push(("par2 0.8.1 (bookworm)", Cmd::new("/usr/bin/par2")));
    } else if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("par2 is not installed (apt-get install par2)");
    } else {
        eprintln!("SKIP: par2 is not installed");
    }
    let root = repo_root().join("target/sid-par2/root");
    let libs = root.join("usr/lib/x86_64-linux-gnu");
    let loader = libs.join("ld-linux-x86-64.so.2");
    let par2 = root.join("usr/bin/par2");
    let runs = std::process::Command::new(&loader)
        .arg("--library-path")
        .arg(&libs)
        .arg(&par2)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).contains("1."));
    if runs {
        out.push((
            "par2 1.x (sid)",
            Cmd::new(&loader)
                .arg("--library-path")
                .arg(&libs)
                .arg(&par2),
        ));
    } else if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("no par2 1.x in target/sid-par2 (scripts/test.sh fetches it)");
    } else {
        eprintln!("SKIP: par2 1.x from sid (target/sid-par2) is not there");
    }
    out
}

fn pseudo_random(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

fn snapshot(dir: &Path) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                sha256_bytes(&fs::read(e.path()).unwrap()),
            )
        })
        .collect();
    v.sort();
    v
}

/// A set written by the library over files of several parts: each judge verifies it and
/// repairs a deleted file and a damaged one byte for byte.
#[test]
fn par2cmdline_verifies_and_repairs_a_set_seedforge_wrote() {
    use seedforge::par2::create::{Options, Source, create, plan};
    let judges = judges();
    if judges.is_empty() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("set");
    fs::create_dir(&dir).unwrap();
    let mut files = Vec::new();
    for i in 1..=6 {
        let name = format!("seed.iso.part{i:03}");
        let len = if i == 6 { 300_001 } else { 1 << 20 };
        fs::write(dir.join(&name), pseudo_random(len, i)).unwrap();
        files.push(name);
    }
    fs::write(dir.join("join.sh"), b"#!/bin/sh\necho join\n").unwrap();
    files.push("join.sh".into());
    let sizes: Vec<u64> = files
        .iter()
        .map(|f| fs::metadata(dir.join(f)).unwrap().len())
        .collect();
    let plan = plan(&sizes, 20).unwrap();
    let sources: Vec<Source> = files
        .iter()
        .map(|f| Source {
            path: dir.join(f),
            name: f.clone(),
        })
        .collect();
    create(
        &dir,
        "set",
        &sources,
        &Options {
            plan,
            max_volume: 1 << 20,
            creator: "Created by seedforge tests.".into(),
            budget: 1 << 20,
        },
    )
    .unwrap();
    let pristine = snapshot(&dir);
    for (judge, par2) in judges {
        let work = tmp.path().join(judge.replace(' ', "_"));
        copy_dir(&dir, &work);
        let out = par2.clone().args(["verify", "set.par2"]).cwd(&work).run();
        assert!(
            out.stdout.contains("All files are correct"),
            "{judge}: {}",
            out.stdout
        );
        fs::remove_file(work.join("seed.iso.part002")).unwrap();
        let mut damaged = fs::read(work.join("seed.iso.part005")).unwrap();
        damaged[777_777] ^= 0x40;
        fs::write(work.join("seed.iso.part005"), &damaged).unwrap();
        par2.clone()
            .args(["verify", "set.par2"])
            .cwd(&work)
            .expect(1)
            .run();
        par2.clone().args(["repair", "set.par2"]).cwd(&work).run();
        // par2cmdline keeps the damaged file as NAME.1: the rest is the set as written.
        fs::remove_file(work.join("seed.iso.part005.1")).unwrap();
        assert_eq!(snapshot(&work), pristine, "{judge}");
    }
}
