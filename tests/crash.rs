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
//! hit must be every step `seedforge plan` lists: with the lab's config plus a `files:`
//! payload and an `export_dir`, mirror, verify, airgap, pki, files, render, iso, seal
//! and export. The export folder is held to the same rules as the output folder.
//!
//! Two starting states: a folder that holds only the PKI of an earlier build (so the
//! build writes every blob, archive, node file and ISO anew and the results are
//! reproducible), and a complete earlier build rebuilt unchanged (outputs that were
//! complete before the crash must stay byte-identical).
//!
//! Temporary files (what a killed run may leave, never under a final name):
//! `.NAME.seedforge-PID-N.tmp` (atomic writes, archives), `.NAME.PID.iso-tmp` (ISO
//! images), `.stage-NODE.PID/` (a seed ISO's staging folder) and anything under
//! `oci/.seedforge/tmp/` (the layout's blob sessions), and the undo set of a build over a
//! sealed output (`.seedforge/undo/`: links to the files it held, which the next build puts
//! back before anything else).
//!
//! `seedforge clean` is killed the same way at six of its removals; run again, it must
//! leave what an uninterrupted clean leaves.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use crate::common;

use common::{Cmd, Lab, copy_tree, sha256_bytes, strace_usable};
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

/// The incremental build's state (a stat cache, not an artifact): it must stay valid
/// JSON, but its bytes differ from build to build.
const STATE: &str = ".seedforge/state.json";

fn tree(root: &Path) -> Tree {
    let mut out = Tree::new();
    if !root.exists() {
        return out;
    }
    common::walk(root, root, &mut |rel, meta, path| {
        let mode = meta.mode() & 0o7777;
        let what = if meta.is_dir() {
            format!("dir {mode:o}")
        } else if meta.is_file() && rel == Path::new(STATE) {
            let valid =
                serde_json::from_slice::<serde_json::Value>(&fs::read(path).unwrap()).is_ok();
            format!("state {mode:o} valid JSON: {valid}")
        } else if meta.is_file() {
            format!("file {mode:o} {}", sha256_bytes(&fs::read(path).unwrap()))
        } else {
            "other".to_string()
        };
        out.insert(rel.to_path_buf(), what);
    });
    out
}

/// True if `rel` (relative to the output folder) is one of the temporary files a killed
/// run may leave (see the module documentation).
fn is_temp(rel: &Path) -> bool {
    let under_layout_tmp =
        rel.starts_with("oci/.seedforge/tmp") && rel != Path::new("oci/.seedforge/tmp");
    // The undo set of a killed build, which the next one rolls back.
    under_layout_tmp
        || rel.starts_with(".seedforge/undo")
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

/// The lab with every kind of step: a `files:` payload (a stand-in k3s binary) and an
/// `export_dir` (so the build ends with `seal` and `export`).
fn full_lab() -> Lab {
    let lab = Lab::new();
    let mut k3s = vec![0u8; 256 * 1024];
    common::XorShift::new(3).fill(&mut k3s);
    fs::write(lab.lab_dir().join("k3s"), &k3s).unwrap();
    let config = lab.lab_dir().join("seedforge.yaml");
    let mut text = fs::read_to_string(&config).unwrap();
    text.push_str(&format!(
        "files:\n  - name: bin/k3s\n    source: k3s\n    sha256: \"{}\"\n    executable: true\n\
         export_dir: ../../export\n",
        sha256_bytes(&k3s)
    ));
    fs::write(&config, text).unwrap();
    lab
}

/// The export folder of [`full_lab`].
fn export_dir(lab: &Lab) -> PathBuf {
    lab.root().join("export")
}

/// Puts the output and export folders in the starting state; `baseline` holds a clean
/// build's `out/` and `export/`.
fn reset(lab: &Lab, baseline: &Path, start: Start) {
    for dir in [lab.out_dir(), export_dir(lab)] {
        if dir.exists() {
            fs::remove_dir_all(&dir).unwrap();
        }
    }
    let (out, export) = (lab.out_dir(), export_dir(lab));
    match start {
        Start::Complete => {
            copy_tree(&baseline.join("out"), &out, &|_| false);
            copy_tree(&baseline.join("export"), &export, &|_| false);
        }
        Start::PkiOnly => common::copy_kept_state(&baseline.join("out"), &out),
    }
}

/// Both folders a build writes, as one tree (`out/…`, `export/…`).
fn outputs(lab: &Lab) -> Tree {
    let mut all = Tree::new();
    for (name, dir) in [("out", lab.out_dir()), ("export", export_dir(lab))] {
        for (rel, value) in tree(&dir) {
            all.insert(Path::new(name).join(rel), value);
        }
    }
    all
}

/// Names what differs between two trees.
fn differences(after: &Tree, want: &Tree) -> String {
    let extra: Vec<_> = after.keys().filter(|k| !want.contains_key(*k)).collect();
    let missing: Vec<_> = want.keys().filter(|k| !after.contains_key(*k)).collect();
    let changed: Vec<_> = after
        .iter()
        .filter(|(k, v)| want.get(*k).is_some_and(|b| b != *v))
        .map(|(k, _)| k)
        .collect();
    format!("left over {extra:?}, missing {missing:?}, changed {changed:?}")
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
fn check_after_kill(
    out: &Path,
    prefix: &str,
    baseline: &Tree,
    base_dir: &Path,
) -> Result<(), String> {
    let baseline: Tree = baseline
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix(prefix).ok()?.to_path_buf(), v.clone())))
        .collect();
    let base_dir = base_dir.join(prefix);
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
    if !strace_usable() {
        return;
    }
    let lab = full_lab();
    let steps = plan_steps(&lab);
    // The clean build every recovery must reproduce.
    lab.build();
    let base_dir = lab.root().join("baseline");
    copy_tree(&lab.out_dir(), &base_dir.join("out"), &|_| false);
    copy_tree(&export_dir(&lab), &base_dir.join("export"), &|_| false);
    let baseline = outputs(&lab);
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
            for (dir, prefix) in [(out.clone(), "out"), (export_dir(&lab), "export")] {
                if let Err(e) = check_after_kill(&dir, prefix, &baseline, &base_dir) {
                    failures.push(format!("{what}\n  right after the kill, {prefix}/: {e}"));
                }
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
            let after = outputs(&lab);
            if after != baseline {
                failures.push(format!(
                    "{what}\n  after the rerun the output differs from a clean build: {}",
                    differences(&after, &baseline)
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

/// `seedforge clean` killed part-way: running it again finishes the job, leaving what a
/// clean run leaves (`pki/`, which is state), and the next build gives the clean build's
/// bytes again.
#[test]
fn clean_killed_part_way_finishes_when_run_again() {
    if !strace_usable() {
        return;
    }
    let lab = full_lab();
    lab.build();
    let base_dir = lab.root().join("baseline");
    copy_tree(&lab.out_dir(), &base_dir.join("out"), &|_| false);
    copy_tree(&export_dir(&lab), &base_dir.join("export"), &|_| false);
    let built = outputs(&lab);
    // What an uninterrupted clean leaves.
    let clean = |extra: &[String]| {
        Cmd::new("strace")
            .args(["-qq", "-o", "/dev/null", "--trace=unlink,unlinkat,rmdir"])
            .args(extra)
            .arg("--")
            .arg(common::seedforge_bin())
            .args(["clean", "fixtures/lab/out"])
            .cwd(lab.root())
            .any_status()
            .run()
    };
    assert_eq!(clean(&[]).code, Some(0));
    let cleaned = tree(&lab.out_dir());
    // The PKI and the site identity are kept.
    assert!(
        cleaned
            .keys()
            .all(|k| k.starts_with("pki") || k.as_os_str() == "site.json"),
        "{cleaned:?}"
    );

    // The removals clean makes, from a traced run.
    reset(&lab, &base_dir, Start::Complete);
    let trace = lab.root().join("trace-clean.txt");
    let out = Cmd::new("strace")
        .args(["-qq", "-o"])
        .arg(&trace)
        .arg("--trace=unlink,unlinkat,rmdir")
        .arg("--")
        .arg(common::seedforge_bin())
        .args(["clean", "fixtures/lab/out"])
        .cwd(lab.root())
        .run();
    assert_eq!(out.code, Some(0));
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    let mut removals = Vec::new();
    for line in fs::read_to_string(&trace).unwrap().lines() {
        let Some((name, _)) = line.split_once('(') else {
            continue;
        };
        if !name.bytes().all(|b| b.is_ascii_alphanumeric()) {
            continue;
        }
        let n = counts.entry(name.to_string()).or_default();
        *n += 1;
        removals.push((name.to_string(), *n, line.to_string()));
    }
    assert!(removals.len() >= 6, "{removals:?}");
    // Six points spread over the removals, the last one included.
    let picks: BTreeSet<usize> = (1..=6).map(|i| i * (removals.len() - 1) / 6).collect();
    let mut failures = Vec::new();
    for i in picks {
        let (syscall, nth, call) = &removals[i];
        reset(&lab, &base_dir, Start::Complete);
        let killed = clean(&[format!("--inject={syscall}:signal=KILL:when={nth}")]);
        let what = format!("clean killed at {syscall} #{nth}: {call}");
        eprintln!("{what}");
        if killed.code == Some(0) {
            failures.push(format!("{what}: the kill did not land"));
            continue;
        }
        let again = lab
            .seedforge()
            .args(["clean", "fixtures/lab/out"])
            .any_status()
            .run();
        if again.code != Some(0) {
            failures.push(format!(
                "{what}\n  clean run again: exit {:?}\n{}",
                again.code, again.stderr
            ));
            continue;
        }
        let now = tree(&lab.out_dir());
        if now != cleaned {
            failures.push(format!(
                "{what}\n  after clean ran again: {}",
                differences(&now, &cleaned)
            ));
        }
        lab.build();
        if outputs(&lab) != built {
            failures.push(format!(
                "{what}\n  a build after it: {}",
                differences(&outputs(&lab), &built)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
