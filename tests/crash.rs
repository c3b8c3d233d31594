//! Crash safety of `seedforge build`: killed with SIGKILL at 20 points spread over every
//! step, the build leaves no half-written file under a final name, the next run completes,
//! `seedforge verify` passes, no temporary file remains, and every output is
//! byte-identical (content and mode) to a clean build's.
//!
//! Kill points are chosen without hooks in the product: strace (a real tool) delivers
//! SIGKILL on entry to the N-th call of one system call (`-e inject=SYSCALL:signal=KILL:
//! when=N`), counted on the build's main thread (strace without `-f` traces that thread
//! only; its file operations are deterministic). A dry run under strace with `-v` lists
//! the main thread's file operations (openat, write, fsync, rename, mkdir, linkat,
//! unlinkat, copy_file_range, ftruncate, fchmod...) between the `step X started` lines,
//! and the points are spread evenly over the steps. The step a kill landed in is read
//! from the killed run's own log (the last `step X started` line) and the set of steps
//! hit must be every step `seedforge plan` lists.
//!
//! Two starting states: a folder that holds only the PKI of an earlier build (so the
//! build writes every blob, archive, node file and ISO anew and the results are
//! reproducible), and a complete earlier build rebuilt unchanged (outputs that were
//! complete before the crash must stay byte-identical).
//!
//! Temporary files (what a killed run may leave, never under a final name):
//! `.NAME.seedforge-PID-N.tmp` (atomic writes, archives), `.NAME.PID.iso-tmp` (ISO
//! images), `.stage-NODE.PID/` (a seed ISO's staging folder) and anything under
//! `oci/.seedforge/tmp/` (the layout's blob sessions).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod common;

use common::{Cmd, Lab, copy_tree, require_tool, sha256_bytes};
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The system calls whose N-th call on the main thread can be a kill point.
const SYSCALLS: &str = "openat,write,fsync,fdatasync,rename,renameat,renameat2,mkdir,mkdirat,\
                        unlink,unlinkat,linkat,copy_file_range,ftruncate,fchmod,chmod";

/// Kill points in total.
const POINTS: usize = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Start {
    /// The output folder holds only an earlier build's `pki/`.
    PkiOnly,
    /// The output folder holds a complete earlier build (rebuilt unchanged).
    Complete,
}

/// One place a kill can land: the `nth` call of `syscall` on the main thread.
#[derive(Debug, Clone)]
struct Point {
    start: Start,
    step: String,
    syscall: String,
    nth: usize,
    /// The call as the dry run saw it.
    call: String,
}

/// What a tree holds: relative path -> kind, mode and (for files) sha256.
type Tree = BTreeMap<PathBuf, String>;

fn tree(root: &Path) -> Tree {
    fn walk(root: &Path, dir: &Path, out: &mut Tree) {
        let mut entries: Vec<PathBuf> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for path in entries {
            let meta = fs::symlink_metadata(&path).unwrap();
            let rel = path.strip_prefix(root).unwrap().to_path_buf();
            let mode = meta.mode() & 0o7777;
            if meta.is_dir() {
                out.insert(rel, format!("dir {mode:o}"));
                walk(root, &path, out);
            } else if meta.is_file() {
                let sum = sha256_bytes(&fs::read(&path).unwrap());
                out.insert(rel, format!("file {mode:o} {sum}"));
            } else {
                out.insert(rel, "other".to_string());
            }
        }
    }
    let mut out = Tree::new();
    if root.exists() {
        walk(root, root, &mut out);
    }
    out
}

/// True if `rel` (relative to the output folder) is one of the temporary files a killed
/// run may leave (see the module documentation).
fn is_temp(rel: &Path) -> bool {
    let under_layout_tmp =
        rel.starts_with("oci/.seedforge/tmp") && rel != Path::new("oci/.seedforge/tmp");
    under_layout_tmp
        || rel.components().any(|c| {
            let name = c.as_os_str().to_string_lossy();
            seedforge::leftovers::temp_owner(&name).is_some()
                || (name.starts_with('.') && (name.ends_with(".tmp") || name.ends_with(".iso-tmp")))
                || name.starts_with(".stage-")
        })
}

/// The names of the steps `seedforge plan` lists, in order, without repeats.
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

/// Puts the output folder in the starting state.
fn reset(lab: &Lab, baseline: &Path, start: Start) {
    let out = lab.out_dir();
    if out.exists() {
        fs::remove_dir_all(&out).unwrap();
    }
    match start {
        Start::Complete => copy_tree(baseline, &out, &|_| false),
        Start::PkiOnly => copy_tree(&baseline.join("pki"), &out.join("pki"), &|_| false),
    }
}

/// `strace -qq [-o TRACE] -e trace=SYSCALLS [extra] seedforge -v build` in the lab.
fn traced_build(lab: &Lab, trace: Option<&Path>, extra: &[String]) -> common::Output {
    let mut cmd = Cmd::new("strace").args(["-qq", "-s", "160", "-o"]);
    cmd = match trace {
        Some(t) => cmd.arg(t),
        None => cmd.arg("/dev/null"),
    };
    cmd.arg(format!("--trace={SYSCALLS}"))
        .args(extra)
        .arg("--")
        .arg(common::seedforge_bin())
        .args(["-v", "build", "--config", lab.config_arg()])
        .cwd(lab.root())
        .timeout(Duration::from_secs(120))
        .any_status()
        .run()
}

/// The step a `step X started` log line names.
fn started_step(line: &str) -> Option<&str> {
    let rest = line.split("step ").nth(1)?;
    rest.split_once(" started").map(|(step, _)| step)
}

/// Runs a build under strace from `start` and lists the main thread's kill points.
fn dry_run(lab: &Lab, baseline: &Path, start: Start) -> Vec<Point> {
    reset(lab, baseline, start);
    let trace = lab.root().join(format!("trace-{start:?}.txt"));
    let out = traced_build(lab, Some(&trace), &[]);
    assert_eq!(out.code, Some(0), "the dry run failed:\n{}", out.stderr);
    let text = fs::read_to_string(&trace).unwrap();
    fs::remove_file(&trace).unwrap();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    let mut step: Option<String> = None;
    let mut points = Vec::new();
    for line in text.lines() {
        let Some((name, _)) = line.split_once('(') else {
            continue;
        };
        if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            continue; // signals, exit lines
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
                start,
                step: step.clone(),
                syscall: name.to_string(),
                nth: *n,
                call: line.chars().take(150).collect(),
            });
        }
    }
    points
}

/// Spreads `total` picks over the steps (round robin), evenly within each step; returns
/// for each step the candidates in pick order, then the rest as spares.
fn spread(candidates: &[Point], steps: &[String], total: usize) -> Vec<Vec<Point>> {
    let by_step: Vec<Vec<Point>> = steps
        .iter()
        .map(|s| {
            candidates
                .iter()
                .filter(|p| &p.step == s)
                .cloned()
                .collect()
        })
        .collect();
    let mut share = vec![0usize; steps.len()];
    let mut left = total;
    while left > 0 {
        let before = left;
        for (i, c) in by_step.iter().enumerate() {
            if left > 0 && share[i] < c.len() {
                share[i] += 1;
                left -= 1;
            }
        }
        if left == before {
            break;
        }
    }
    by_step
        .into_iter()
        .zip(share)
        .map(|(c, m)| {
            let mut picked: Vec<usize> = (0..m).map(|i| (2 * i + 1) * c.len() / (2 * m)).collect();
            picked.dedup();
            let spares = (0..c.len())
                .filter(|i| !picked.contains(i))
                .collect::<Vec<_>>();
            picked
                .into_iter()
                .chain(spares)
                .map(|i| c[i].clone())
                .collect()
        })
        .collect()
}

/// What must hold right after a kill: every file under a final name is the baseline's,
/// byte for byte and mode for mode (`oci/index.json` may also be an earlier, smaller
/// index); temporary files that may hold the join token are not readable by others.
fn check_after_kill(out: &Path, baseline: &Tree, base_dir: &Path) -> Result<(), String> {
    for (rel, value) in tree(out) {
        let full = out.join(&rel);
        if is_temp(&rel) {
            // A staging folder keeps others out (what it holds may be 0644); a temporary
            // node file or image must be private itself.
            let name = rel.file_name().unwrap().to_string_lossy();
            let inside_stage = rel.parent().is_some_and(|p| {
                p.components()
                    .any(|c| c.as_os_str().to_string_lossy().starts_with(".stage-"))
            });
            let secret = !inside_stage
                && (name.contains("user-data")
                    || name.contains("seed-")
                    || name.starts_with(".stage-"));
            let mode = fs::symlink_metadata(&full).unwrap().mode();
            if secret && mode & 0o007 != 0 {
                return Err(format!(
                    "{} (may hold the token) is mode {:o}",
                    rel.display(),
                    mode & 0o777
                ));
            }
            continue;
        }
        if value.starts_with("dir") {
            continue;
        }
        if baseline.get(&rel) == Some(&value) {
            continue;
        }
        if rel == Path::new("oci/index.json") {
            let killed: serde_json::Value = serde_json::from_slice(&fs::read(&full).unwrap())
                .map_err(|e| format!("oci/index.json is not JSON after the kill: {e}"))?;
            let good: serde_json::Value =
                serde_json::from_slice(&fs::read(base_dir.join(&rel)).unwrap()).unwrap();
            let good = good["manifests"].as_array().unwrap();
            let named = killed["manifests"]
                .as_array()
                .ok_or("index.json has no manifests")?;
            if named.iter().all(|m| good.contains(m)) {
                continue;
            }
            return Err("oci/index.json names an image the clean build does not".into());
        }
        return Err(format!(
            "{} differs from the clean build's under its final name ({value} vs {:?})",
            rel.display(),
            baseline.get(&rel)
        ));
    }
    Ok(())
}

/// Kills a build at `point`; returns the step the kill landed in, or `None` if the build
/// finished before the point was reached.
fn kill_at(lab: &Lab, baseline: &Path, point: &Point) -> Option<String> {
    reset(lab, baseline, point.start);
    let inject = format!("--inject={}:signal=KILL:when={}", point.syscall, point.nth);
    let out = traced_build(lab, None, &[inject]);
    if out.code == Some(0) {
        return None;
    }
    assert_ne!(
        out.code,
        Some(2),
        "the killed build reported bad input:\n{}",
        out.stderr
    );
    let step = out
        .stderr
        .lines()
        .rev()
        .find_map(started_step)
        .unwrap_or("plan")
        .to_string();
    Some(step)
}

#[test]
fn build_killed_at_20_points_over_every_step_recovers_byte_identically() {
    if !require_tool("strace") {
        return;
    }
    let probe = Cmd::new("strace")
        .args(["-qq", "-o", "/dev/null", "true"])
        .any_status()
        .run();
    if probe.code != Some(0) {
        assert!(
            std::env::var("CI").map_or(true, |v| v != "true"),
            "strace cannot trace here (ptrace not permitted?): {}",
            probe.stderr
        );
        eprintln!("SKIP: strace cannot trace here: {}", probe.stderr);
        return;
    }
    let lab = Lab::new();
    let steps = plan_steps(&lab);
    // The clean build every recovery must reproduce.
    lab.build();
    let base_dir = lab.root().join("baseline");
    copy_tree(&lab.out_dir(), &base_dir, &|_| false);
    let baseline = tree(&base_dir);
    let lab_entries: BTreeSet<_> = fs::read_dir(lab.lab_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();

    let mut candidates = dry_run(&lab, &base_dir, Start::PkiOnly);
    candidates.extend(dry_run(&lab, &base_dir, Start::Complete));
    let found: BTreeSet<&str> = candidates.iter().map(|p| p.step.as_str()).collect();
    for s in &steps {
        assert!(
            found.contains(s.as_str()),
            "no kill point in step {s} (found {found:?})"
        );
    }
    let mut queues = spread(&candidates, &steps, POINTS);

    let mut landed: Vec<(Point, String)> = Vec::new();
    let mut failures = Vec::new();
    // Take the picks round robin over the steps; a point the build did not reach (it
    // finished first) is replaced by the next candidate of the same step.
    while landed.len() < POINTS && queues.iter().any(|q| !q.is_empty()) {
        for q in &mut queues {
            if landed.len() >= POINTS || q.is_empty() {
                continue;
            }
            let point = q.remove(0);
            let Some(step) = kill_at(&lab, &base_dir, &point) else {
                continue;
            };
            let what = format!(
                "kill {} ({:?} start) at {} #{} in step {step}: {}",
                landed.len() + 1,
                point.start,
                point.syscall,
                point.nth,
                point.call
            );
            eprintln!("{what}");
            let out = lab.out_dir();
            if let Err(e) = check_after_kill(&out, &baseline, &base_dir) {
                failures.push(format!("{what}\n  right after the kill: {e}"));
            }
            let rerun = lab
                .seedforge()
                .args(["build", "--config", lab.config_arg()])
                .any_status()
                .run();
            if rerun.code != Some(0) {
                failures.push(format!("{what}\n  the rerun failed:\n{}", rerun.stderr));
                landed.push((point, step));
                continue;
            }
            let after = tree(&out);
            if after != baseline {
                let extra: Vec<_> = after
                    .keys()
                    .filter(|k| !baseline.contains_key(*k))
                    .collect();
                let missing: Vec<_> = baseline
                    .keys()
                    .filter(|k| !after.contains_key(*k))
                    .collect();
                let changed: Vec<_> = after
                    .iter()
                    .filter(|(k, v)| baseline.get(*k).is_some_and(|b| b != *v))
                    .map(|(k, _)| k)
                    .collect();
                failures.push(format!(
                    "{what}\n  after the rerun the output differs from a clean build: \
                     left over {extra:?}, missing {missing:?}, changed {changed:?}"
                ));
            }
            let now: BTreeSet<_> = fs::read_dir(lab.lab_dir())
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            if now != lab_entries {
                failures.push(format!("{what}\n  the config folder now holds {now:?}"));
            }
            let verify = lab.seedforge().arg("verify").arg(&out).any_status().run();
            if verify.code != Some(0) || verify.stderr.contains("stale") {
                failures.push(format!(
                    "{what}\n  verify after the rerun: exit {:?}\n{}\n{}",
                    verify.code, verify.stdout, verify.stderr
                ));
            }
            landed.push((point, step));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert_eq!(
        landed.len(),
        POINTS,
        "only {} kill points landed",
        landed.len()
    );
    let distinct: BTreeSet<(Start, &str, usize)> = landed
        .iter()
        .map(|(p, _)| (p.start, p.syscall.as_str(), p.nth))
        .collect();
    assert_eq!(distinct.len(), POINTS, "kill points repeat");
    let hit: BTreeSet<&str> = landed.iter().map(|(_, s)| s.as_str()).collect();
    for s in &steps {
        assert!(
            hit.contains(s.as_str()),
            "no kill landed in step {s}; steps hit: {hit:?}"
        );
    }
}
