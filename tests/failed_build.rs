//! A build that fails leaves the output as the last good build sealed it: every file
//! byte for byte, nothing added, and `seedforge verify` passes.
//!
//! The lab is built, then its config changed (a fourth node, `lab-agent3`) and built again
//! with `--force`, so that every step runs and writes. That build is made to fail in each
//! step in turn, without hooks in the product: strace (a real tool) makes the N-th call of
//! one file operation on the build's main thread fail with ENOSPC, as a full disk would
//! (`-e inject=SYSCALL:error=ENOSPC:when=N`), at a point in the middle of each step's
//! calls as a dry run listed them. After each failure the output's tree is compared with
//! the one before, byte for byte (the build state, a stat cache, aside), and `seedforge
//! verify` must pass.
//!
//! A build killed (SIGKILL, or SIGTERM caught by the signal watcher) leaves its undo set
//! (`.seedforge/undo/`) instead: the next build, here with the config put back as it was,
//! rolls it back before anything else and gives the same tree again.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use crate::common;

use common::{Cmd, Entry, Lab, copy_tree, snapshot, strace_usable};
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The file operations a failure or a kill is injected into.
const SYSCALLS: &[&str] = &[
    "openat",
    "write",
    "fsync",
    "rename",
    "renameat",
    "renameat2",
    "mkdir",
    "unlink",
    "unlinkat",
    "linkat",
];

/// One point of the dry run: the `nth` call of `syscall`, in `step`.
#[derive(Debug, Clone)]
struct Point {
    step: String,
    syscall: String,
    nth: usize,
    call: String,
}

/// Names what differs between two trees.
fn differences(after: &BTreeMap<PathBuf, Entry>, want: &BTreeMap<PathBuf, Entry>) -> String {
    let extra: Vec<_> = after.keys().filter(|k| !want.contains_key(*k)).collect();
    let missing: Vec<_> = want.keys().filter(|k| !after.contains_key(*k)).collect();
    let changed: Vec<_> = (after.iter())
        .filter(|(k, v)| want.get(*k).is_some_and(|b| b != *v))
        .map(|(k, _)| k)
        .collect();
    format!("added {extra:?}, missing {missing:?}, changed {changed:?}")
}

/// What a killed build left: an undo set that puts back every file of `before` (each
/// one either kept in the set or never replaced); without one (killed before it was
/// made), every file of `before` as it was; or, where the kill came after the seal and
/// the undo set was already discarded, the new seal whole.
fn check_undo_set(out: &Path, before: &BTreeMap<PathBuf, Entry>) -> Result<(), String> {
    let undo = out.join(".seedforge/undo");
    let made = undo.join("before.json").is_file();
    if !made
        && fs::read_to_string(out.join("SHA256SUMS"))
            .unwrap()
            .contains("lab-agent3")
    {
        return Ok(());
    }
    // Without an undo set (killed before it was made), nothing may have changed yet.
    for (rel, entry) in before {
        let Entry::File(bytes) = entry else { continue };
        if rel.starts_with(".seedforge") || rel.starts_with("oci/blobs") {
            continue;
        }
        if rel == Path::new(".seedforge-build.lock") {
            continue;
        }
        let kept = undo.join("files").join(rel);
        let put_back = if made && kept.is_file() {
            fs::read(&kept).unwrap()
        } else {
            fs::read(out.join(rel)).unwrap_or_default()
        };
        if &put_back != bytes {
            return Err(format!("the undo set would not put back {}", rel.display()));
        }
    }
    Ok(())
}

/// The output's tree without the build state (a stat cache, rewritten by every build).
fn tree(out: &Path) -> BTreeMap<PathBuf, Entry> {
    let mut t = snapshot(out);
    t.remove(Path::new(".seedforge/state.json"));
    t
}

fn add_node(lab: &Lab) -> (PathBuf, String) {
    let config = lab.lab_dir().join("seedforge.yaml");
    let old = fs::read_to_string(&config).unwrap();
    let anchor = "    address: 192.168.6.12/24\n";
    assert!(old.contains(anchor));
    let new = old.replace(
        anchor,
        &format!("{anchor}  - name: lab-agent3\n    role: agent\n    address: 192.168.6.13/24\n"),
    );
    fs::write(&config, new).unwrap();
    (config, old)
}

/// `strace … seedforge -v build --force` in the lab.
fn traced(lab: &Lab, trace: Option<&Path>, extra: &[String]) -> common::Output {
    // On one CPU the seed ISOs are all written on the main thread, so the count of its
    // calls is the same from run to run.
    let mut cmd = Cmd::new("taskset").args(["-c", "0", "strace", "-qq", "-s", "120", "-o"]);
    cmd = match trace {
        Some(t) => cmd.arg(t),
        None => cmd.arg("/dev/null"),
    };
    cmd.arg(format!("--trace={}", SYSCALLS.join(",")))
        .args(extra)
        .arg("--")
        .arg(common::seedforge_bin())
        .args(["-v", "build", "--force", "--config", lab.config_arg()])
        .cwd(lab.root())
        .timeout(Duration::from_secs(180))
        .any_status()
        .run()
}

fn started_step(line: &str) -> Option<&str> {
    let rest = line.split("step ").nth(1)?;
    rest.split_once(" started").map(|(step, _)| step)
}

/// The step a build's log says it was in last.
fn landed(stderr: &str) -> String {
    (stderr.lines().rev().find_map(started_step))
        .unwrap_or("plan")
        .to_string()
}

/// The main thread's file operations in each step, from a traced build that succeeds.
fn dry_run(lab: &Lab, reset: &dyn Fn()) -> Vec<Point> {
    reset();
    let trace = lab.root().join("trace.txt");
    let out = traced(lab, Some(&trace), &[]);
    assert_eq!(out.code, Some(0), "the dry run failed:\n{}", out.stderr);
    let text = fs::read_to_string(&trace).unwrap();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    let mut step: Option<String> = None;
    let mut points = Vec::new();
    for line in text.lines() {
        let Some((name, _)) = line.split_once('(') else {
            continue;
        };
        if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            continue;
        }
        let n = counts.entry(name.to_string()).or_default();
        *n += 1;
        if line.starts_with("write(2,")
            && let Some(s) = line.split('"').nth(1).and_then(started_step)
        {
            step = Some(s.to_string());
        }
        let boring = line.starts_with("write(1,")
            || line.starts_with("write(2,")
            || line.contains("\"/proc/")
            || line.contains("\"/sys/");
        if let Some(step) = &step
            && !boring
        {
            points.push(Point {
                step: step.clone(),
                syscall: name.to_string(),
                nth: *n,
                call: line.chars().take(140).collect(),
            });
        }
    }
    points
}

/// The steps `seedforge plan` lists, in order, without repeats.
fn plan_steps(lab: &Lab) -> Vec<String> {
    let plan = lab
        .seedforge()
        .args(["--json", "plan", "--config", lab.config_arg()])
        .run()
        .json();
    let mut steps: Vec<String> = Vec::new();
    for s in plan["steps"].as_array().unwrap() {
        let name = s["step"].as_str().unwrap().to_string();
        if !steps.contains(&name) {
            steps.push(name);
        }
    }
    steps
}

/// Each step's points, the one a quarter in first, then outwards.
fn by_step(points: &[Point], steps: &[String]) -> Vec<(String, Vec<Point>)> {
    steps
        .iter()
        .map(|s| {
            let mine: Vec<Point> = points.iter().filter(|p| &p.step == s).cloned().collect();
            // A quarter in: the end of the last step holds the removal of the undo set.
            let mid = mine.len() / 4;
            let mut order: Vec<usize> = (0..mine.len()).collect();
            order.sort_by_key(|i| i.abs_diff(mid));
            (
                s.clone(),
                order.into_iter().map(|i| mine[i].clone()).collect(),
            )
        })
        .collect()
}

/// The lab built, its tree kept in `baseline/`, and the config given a fourth node.
struct Setup {
    lab: Lab,
    before: BTreeMap<PathBuf, Entry>,
    baseline: PathBuf,
    config: PathBuf,
    old_config: String,
    steps: Vec<String>,
}

fn setup() -> Setup {
    let lab = Lab::new();
    lab.build();
    let baseline = lab.root().join("baseline");
    copy_tree(&lab.out_dir(), &baseline, &|_| false);
    let before = tree(&lab.out_dir());
    let (config, old_config) = add_node(&lab);
    let steps = plan_steps(&lab);
    Setup {
        lab,
        before,
        baseline,
        config,
        old_config,
        steps,
    }
}

impl Setup {
    fn reset(&self) {
        let out = self.lab.out_dir();
        fs::remove_dir_all(&out).unwrap();
        copy_tree(&self.baseline, &out, &|_| false);
    }

    fn verify(&self) -> Result<(), String> {
        let v = self
            .lab
            .seedforge()
            .arg("verify")
            .arg(self.lab.out_dir())
            .any_status()
            .run();
        if v.code == Some(0) {
            Ok(())
        } else {
            Err(format!(
                "verify: exit {:?}\n{}{}",
                v.code, v.stdout, v.stderr
            ))
        }
    }
}

#[test]
fn a_build_failing_in_any_step_leaves_every_sealed_file_as_it_was() {
    if !strace_usable() {
        return;
    }
    let s = setup();
    let points = dry_run(&s.lab, &|| s.reset());
    let mut failures = Vec::new();
    let mut failed_in = BTreeSet::new();
    for (step, candidates) in by_step(&points, &s.steps) {
        for point in candidates.iter().take(12) {
            s.reset();
            let inject = format!("--inject={}:error=ENOSPC:when={}", point.syscall, point.nth);
            let out = traced(&s.lab, None, &[inject]);
            // An error the build may ignore (a removal, a sync of a cache) lets it finish,
            // or one on stdout fails the report of a build that is done.
            if out.code == Some(0)
                || out.stderr.contains("cannot write to stdout")
                || landed(&out.stderr) != step
            {
                continue;
            }
            let what = format!(
                "failed in step {step} at {} #{}: {}",
                point.syscall, point.nth, point.call
            );
            eprintln!("{what}");
            assert_eq!(out.code, Some(1), "{what}\n{}", out.stderr);
            let after = tree(&s.lab.out_dir());
            if after != s.before {
                let d = differences(&after, &s.before);
                failures.push(format!("{what}\n  the tree changed: {d}\n{}", out.stderr));
            }
            if let Err(e) = s.verify() {
                failures.push(format!("{what}\n  {e}"));
            }
            failed_in.insert(step.clone());
            break;
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    for step in &s.steps {
        assert!(
            failed_in.contains(step),
            "no failure landed in step {step}; failed in {failed_in:?}"
        );
    }
}

#[test]
fn a_build_killed_in_any_step_is_rolled_back_by_the_next_one() {
    if !strace_usable() {
        return;
    }
    let s = setup();
    let points = dry_run(&s.lab, &|| s.reset());
    let mut failures = Vec::new();
    let mut killed_in = BTreeSet::new();
    for (i, (step, candidates)) in by_step(&points, &s.steps).into_iter().enumerate() {
        let signal = if i % 2 == 0 { "KILL" } else { "TERM" };
        for point in candidates.iter().take(12) {
            s.reset();
            let inject = format!(
                "--inject={}:signal={signal}:when={}",
                point.syscall, point.nth
            );
            let out = traced(&s.lab, None, &[inject]);
            if out.code == Some(0) || landed(&out.stderr) != step {
                continue;
            }
            let what = format!(
                "SIG{signal} in step {step} at {} #{}: {}",
                point.syscall, point.nth, point.call
            );
            eprintln!("{what}");
            if let Err(e) = check_undo_set(&s.lab.out_dir(), &s.before) {
                failures.push(format!("{what}\n  right after: {e}"));
            }
            // The next build, of the config as it was, puts everything back first.
            let new_config = fs::read_to_string(&s.config).unwrap();
            fs::write(&s.config, &s.old_config).unwrap();
            let again = s
                .lab
                .seedforge()
                .args(["build", "--config", s.lab.config_arg()])
                .any_status()
                .run();
            fs::write(&s.config, new_config).unwrap();
            if again.code != Some(0) {
                failures.push(format!(
                    "{what}\n  the next build failed:\n{}",
                    again.stderr
                ));
            } else {
                let after = tree(&s.lab.out_dir());
                if after != s.before {
                    let d = differences(&after, &s.before);
                    failures.push(format!(
                        "{what}\n  the tree differs after the next build: {d}"
                    ));
                }
                if let Err(e) = s.verify() {
                    failures.push(format!("{what}\n  {e}"));
                }
            }
            killed_in.insert(step.clone());
            break;
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    for step in &s.steps {
        assert!(
            killed_in.contains(step),
            "no kill landed in step {step}; killed in {killed_in:?}"
        );
    }
}

/// The pins a build makes reach `seedforge.lock` only once its output is sealed: a build
/// killed after its PKI step made a new CA (`--rotate-ca`, which the lock records) leaves
/// the lock as it was, as it leaves the output; the next build finishes from there.
#[test]
fn a_build_killed_after_it_pinned_something_leaves_seedforge_lock_as_it_was() {
    use std::io::BufRead as _;
    let lab = Lab::new();
    lab.build();
    let lock = lab.lab_dir().join("seedforge.lock");
    let before = fs::read(&lock).unwrap();
    let mut guard = common::ChildGuard(Some(
        std::process::Command::new(common::seedforge_bin())
            .args(["-v", "build", "--rotate-ca", "--config", lab.config_arg()])
            .current_dir(lab.root())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    ));
    let stderr = std::io::BufReader::new(guard.child().stderr.take().unwrap());
    let mut seen = Vec::new();
    let mut killed = false;
    for line in stderr.lines() {
        let line = line.unwrap();
        let step = started_step(&line).map(str::to_string);
        seen.push(line);
        // The first step started after the PKI step: the CA is made, and pinned.
        if let Some(step) = step
            && step != "pki"
            && seen.iter().any(|l| started_step(l) == Some("pki"))
        {
            guard.kill();
            killed = true;
            break;
        }
    }
    drop(guard);
    assert!(killed, "no step after pki started:\n{}", seen.join("\n"));
    assert!(
        fs::read(&lock).unwrap() == before,
        "seedforge.lock changed by a killed build:\n{}",
        seen.join("\n")
    );
    // The next build puts the output back and builds it as before the kill.
    lab.build();
    assert!(fs::read(&lock).unwrap() == before);
}
