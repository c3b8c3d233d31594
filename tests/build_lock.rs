//! One build at a time per output folder: a second `seedforge build` on the same folder
//! waits for the first (saying so once, with the holder's pid), or with `--no-wait` fails
//! at once (exit 75: try again later) naming the folder and the pid. The lock is an
//! exclusive flock on `OUT/.seedforge-build.lock`; the tests take it themselves where they
//! need it held. `verify` (like `receipt`, `delta`, `push` and `airgap`, the commands that
//! only read an output) takes it shared: it waits for a build instead of reading a half-written output,
//! or with `--no-wait` fails at once with 75.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use common::{Lab, assert_same_tree, snapshot};
use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const LOCK_FILE: &str = ".seedforge-build.lock";
const WAITING: &str = "waiting for another seedforge build on";

/// Takes the build lock of `out` the way a build does (flock, exclusive).
pub(crate) fn hold(out: &Path) -> File {
    fs::create_dir_all(out).unwrap();
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(out.join(LOCK_FILE))
        .unwrap();
    file.lock().unwrap();
    file
}

/// True once some process is blocked waiting for the flock on `file` (a `->` line for its
/// inode in /proc/locks).
pub(crate) fn has_waiter(file: &File) -> bool {
    let ino = format!(":{} ", file.metadata().unwrap().ino());
    fs::read_to_string("/proc/locks")
        .unwrap()
        .lines()
        .any(|l| l.contains("->") && l.contains("FLOCK") && l.contains(&ino))
}

/// Waits (at most `limit`) until `running` blocks on the lock `held` holds; fails if it
/// ends first or never does. `what` names it in the failure.
fn until_it_waits(held: &File, running: &mut common::Running, limit: Duration, what: &str) {
    let deadline = Instant::now() + limit;
    while !has_waiter(held) {
        assert!(
            running.guard.child().try_wait().unwrap().is_none(),
            "{what} ended instead of waiting for the lock"
        );
        assert!(Instant::now() < deadline, "{what} never waited on the lock");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Files and directories a run leaves only while it runs (temporary names).
fn leftovers(out: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = Vec::new();
    let mut stack = vec![out.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in fs::read_dir(&dir).unwrap() {
            let path = e.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if name.ends_with(".tmp") || name.ends_with(".partial") || name.starts_with(".stage-") {
                found.push(path.clone());
            }
            if path.is_dir() {
                stack.push(path);
            }
        }
    }
    let sessions = out.join("oci/.seedforge/tmp");
    if sessions.exists() {
        found.extend(fs::read_dir(&sessions).unwrap().map(|e| e.unwrap().path()));
    }
    found
}

#[test]
fn two_builds_on_one_folder_both_succeed_one_after_the_other() {
    let lab = Lab::new();
    for round in 0..2 {
        let build = || {
            lab.seedforge()
                .args(["build", "--config", lab.config_arg()])
                .spawn()
        };
        let (one, two) = (build(), build());
        let (one, two) = (one.wait(), two.wait());
        let waits = [&one, &two]
            .iter()
            .map(|o| o.stderr.matches(WAITING).count())
            .sum::<usize>();
        assert!(
            waits <= 1,
            "round {round}: both builds waited:\n{}\n{}",
            one.stderr,
            two.stderr
        );
        lab.seedforge().arg("verify").arg(lab.out_dir()).run();
        assert_eq!(
            leftovers(&lab.out_dir()),
            Vec::<PathBuf>::new(),
            "round {round}"
        );
        assert!(lab.out_dir().join(LOCK_FILE).is_file());
    }
}

#[test]
fn a_build_waits_for_the_holder_and_says_so_once() {
    let lab = Lab::new();
    let out = lab.out_dir();
    let held = hold(&out);
    let running = lab
        .seedforge()
        .args(["build", "--config", lab.config_arg()])
        .spawn();
    // Bounded: the build plans (no lock needed), then blocks on the flock.
    let mut running = running;
    until_it_waits(&held, &mut running, Duration::from_secs(120), "the build");
    drop(held);
    let done = running.wait();
    let expected = format!("{WAITING} fixtures/lab/out (pid {})…", std::process::id());
    assert_eq!(
        done.stderr.matches(&expected).count(),
        1,
        "{expected:?} not said exactly once:\n{}",
        done.stderr
    );
    lab.seedforge().arg("verify").arg(&out).run();
    assert!(leftovers(&out).is_empty());
}

#[test]
fn no_wait_fails_at_once_naming_the_folder_and_the_holder() {
    let lab = Lab::new();
    let out = lab.out_dir();
    let held = hold(&out);
    let before = snapshot(lab.root());
    let failed = lab
        .seedforge()
        .args(["build", "--no-wait", "--config", lab.config_arg()])
        .expect(75)
        .run();
    assert_same_tree(
        &before,
        &snapshot(lab.root()),
        "a build refused by --no-wait",
    );
    for needle in [
        "fixtures/lab/out".to_string(),
        format!("pid {}", std::process::id()),
        "--no-wait".to_string(),
    ] {
        assert!(
            failed.stderr.contains(&needle),
            "{needle}:\n{}",
            failed.stderr
        );
    }
    assert!(!failed.stderr.contains(WAITING), "{}", failed.stderr);
    drop(held);
    lab.seedforge()
        .args(["build", "--no-wait", "--config", lab.config_arg()])
        .run();

    // The readers of an output: with --no-wait, 75 at once while a build holds it, the
    // JSON error document saying so.
    let held = hold(&out);
    let busy = lab
        .seedforge()
        .args(["--json", "verify", "--no-wait"])
        .arg(&out)
        .expect(75)
        .run();
    let doc: serde_json::Value = serde_json::from_str(&busy.stdout).unwrap();
    assert_eq!(
        (&doc["error"]["code"], &doc["error"]["kind"]),
        (&75.into(), &"busy".into()),
        "{doc}"
    );
    let receipt = lab.root().join("receipt.json");
    lab.seedforge()
        .args(["receipt", "--no-wait", "--out"])
        .arg(&receipt)
        .arg(&out)
        .expect(75)
        .run();
    assert!(!receipt.exists());
    // The output's layout is read under the output's lock too, by verify, push and airgap.
    let archive = lab.root().join("images.tar");
    for args in [
        vec!["verify", "--no-wait", "fixtures/lab/out/oci"],
        vec!["push", "--no-wait", "--layout", "fixtures/lab/out"],
        vec![
            "airgap",
            "--no-wait",
            "--layout",
            "fixtures/lab/out/oci",
            "--out",
        ],
    ] {
        let mut cmd = lab.seedforge().args(&args);
        if args[0] == "push" {
            cmd = cmd.args(["--registry", "127.0.0.1:9"]);
        }
        if args[0] == "airgap" {
            cmd = cmd.arg(&archive);
        }
        let busy = cmd.expect(75).run();
        assert!(
            busy.stderr.contains("another seedforge build"),
            "{args:?}: {}",
            busy.stderr
        );
    }
    assert!(!archive.exists());
    // Without it, verify waits for the build (bounded), then checks the output it left.
    let mut waiting = lab.seedforge().arg("verify").arg(&out).spawn();
    until_it_waits(&held, &mut waiting, Duration::from_secs(60), "verify");
    drop(held);
    let done = waiting.wait();
    assert_eq!(done.stderr.matches(WAITING).count(), 1, "{}", done.stderr);
    // `seedforge lock` waits the same way: a build writes seedforge.lock once it is sealed.
    let held = hold(&out);
    let mut locking = lab
        .seedforge()
        .args(["lock", "--config", lab.config_arg()])
        .spawn();
    until_it_waits(&held, &mut locking, Duration::from_secs(60), "lock");
    drop(held);
    let done = locking.wait();
    assert_eq!(done.stderr.matches(WAITING).count(), 1, "{}", done.stderr);
}

/// `seedforge lock` that waited for a build (or an apply, which writes the config's files)
/// reads its config once it holds the lock: a config changed meanwhile is the one it plans
/// from (here broken, so refused naming the field), not the one read before waiting.
#[test]
fn a_lock_that_waited_reads_the_config_after_it() {
    let lab = Lab::new();
    let out = lab.out_dir();
    let held = hold(&out);
    let mut locking = lab
        .seedforge()
        .args(["lock", "--config", lab.config_arg()])
        .expect(2)
        .spawn();
    until_it_waits(&held, &mut locking, Duration::from_secs(60), "lock");
    let config = lab.lab_dir().join("seedforge.yaml");
    let text = fs::read_to_string(&config).unwrap();
    fs::write(&config, format!("{text}\nchanged_while_waiting: 1\n")).unwrap();
    drop(held);
    let done = locking.wait();
    assert_eq!(done.code, Some(2), "{}", done.stderr);
    assert!(
        done.stderr.contains("changed_while_waiting"),
        "{}",
        done.stderr
    );
}
