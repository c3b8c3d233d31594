//! Ctrl-C and SIGTERM during `seedforge debs`: wherever the signal lands (while the
//! staging folder is made, while .debs are copied into it on several threads, while the
//! tarball is written, around the rename that publishes it), the run ends with the status
//! a shell gives (130, 143), leaves no staging folder and no partial bundle, and the
//! previous bundle is unchanged unless the new one had already replaced it whole.
//!
//! Signal points are chosen without hooks in the product: strace delivers the signal on
//! entry to the N-th file operation of a thread (`-f -e inject=SYSCALLS:signal=INT:when=N`),
//! with N spread over the calls a dry run makes, alternately SIGINT and SIGTERM.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use common::Cmd;
use common::debs::{fixture_debs, make_repo};
use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

/// The file operations a signal can land on.
const SYSCALLS: &str = "openat,read,write,fsync,rename,renameat,renameat2,mkdir,mkdirat,\
                        unlink,unlinkat,copy_file_range,fchmod,getdents64";

/// Signal points in total.
const POINTS: usize = 24;

/// `strace [extra] seedforge debs ...` building `out` from the repository at `url`.
fn traced_debs(url: &str, base: &Path, out: &Path, extra: &[String]) -> common::Output {
    Cmd::new("strace")
        .args(["-f", "-qq", "-o", "/dev/null"])
        .args(extra)
        .arg(common::seedforge_bin())
        .args(["debs", "--repo", url, "--suite", "bookworm"])
        .args(["--package", "jq", "--base"])
        .arg(base)
        .arg("--out")
        .arg(out)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .any_status()
        .run()
}

/// The folder's entries with the SHA-256 of each file (a folder shows as `dir`).
fn listing(dir: &Path) -> BTreeMap<String, String> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let name = e.file_name().to_string_lossy().into_owned();
            let what = if e.file_type().unwrap().is_dir() {
                "dir".to_string()
            } else {
                common::sha256_bytes(&fs::read(e.path()).unwrap())
            };
            (name, what)
        })
        .collect()
}

#[test]
fn a_signal_at_any_point_leaves_no_staging_and_the_previous_bundle_whole() {
    if !common::require_tool("strace")
        || !common::require_tool("apt-ftparchive")
        || !common::require_tool("xz")
    {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    make_repo(&repo, &fixture_debs());
    let url = format!("file://{}", repo.display());
    let base = tmp.path().join("base.txt");
    fs::write(&base, "libc6:amd64\t2.36-9+deb12u10\n").unwrap();
    let out_dir = tmp.path().join("out");
    fs::create_dir_all(&out_dir).unwrap();
    let out = out_dir.join("ops.tar.gz");

    // The bundle an uninterrupted run writes, counting its file operations per thread.
    let trace = tmp.path().join("trace");
    let dry = Cmd::new("strace")
        .args(["-f", "-qq", "-e"])
        .arg(format!("trace={SYSCALLS}"))
        .arg("-o")
        .arg(&trace)
        .arg(common::seedforge_bin())
        .args(["debs", "--repo", &url, "--suite", "bookworm"])
        .args(["--package", "jq", "--base"])
        .arg(&base)
        .arg("--out")
        .arg(&out)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .run();
    assert_eq!(dry.code, Some(0));
    let new = fs::read(&out).unwrap();
    // The points are spread over the main thread's calls (the trace's first line is
    // its): it makes the same calls in every run, so each point is reached, whereas how
    // the copying threads share their work (and so how far each gets) varies with the
    // machine's load. A copying thread reaching its own N-th call first is a signal too.
    let text = fs::read_to_string(&trace).unwrap();
    let main = text.split_whitespace().next().unwrap().to_string();
    let most = text
        .lines()
        .filter(|l| l.split_whitespace().next() == Some(main.as_str()))
        .count();
    assert!(
        most > POINTS,
        "only {most} file operations traced on the main thread"
    );

    // The previous bundle (another content) and a neighbour the run must not touch.
    let old = b"the previous bundle".to_vec();
    fs::write(out_dir.join("other.tar.gz"), b"another bundle").unwrap();
    let mut interrupted = 0;
    for i in 0..POINTS {
        fs::write(&out, &old).unwrap();
        let before = listing(&out_dir);
        let nth = 1 + i * (most - 1) / (POINTS - 1);
        let (signal, status) = if i % 2 == 0 {
            ("INT", 130)
        } else {
            ("TERM", 143)
        };
        let inject = format!("--inject={SYSCALLS}:signal={signal}:when={nth}");
        let run = traced_debs(&url, &base, &out, &[inject]);
        let what = format!("SIG{signal} at call {nth} of a thread");
        let after = listing(&out_dir);
        match run.code {
            Some(0) => assert_eq!(fs::read(&out).unwrap(), new, "{what}"),
            Some(code) if code == status => interrupted += 1,
            // Before the handler is installed the signal's default action ends the run,
            // and nothing has been made yet.
            None => interrupted += 1,
            other => panic!("{what}: exit {other:?}\n{}", run.stderr),
        }
        let names: Vec<&String> = after.keys().collect();
        // The record of what the bundle was written from stays whole: the uninterrupted
        // run wrote it, and a run replaces it by a rename.
        assert_eq!(
            names,
            [".ops.tar.gz.seedforge.json", "ops.tar.gz", "other.tar.gz"],
            "{what}: left {after:?}\n{}",
            run.stderr
        );
        assert_eq!(after["other.tar.gz"], before["other.tar.gz"], "{what}");
        let bundle = fs::read(&out).unwrap();
        assert!(
            bundle == old || bundle == new,
            "{what}: ops.tar.gz is neither the previous bundle nor the new one"
        );
    }
    assert!(
        interrupted >= POINTS / 2,
        "only {interrupted} of {POINTS} runs were interrupted"
    );
}
