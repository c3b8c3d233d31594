//! Every file seedforge opens without having been given it — what an earlier run left in
//! the output folder, in `export_dir`, in the package cache and in the build state — is
//! found by tracing a real run (`strace`), then replaced, one at a time, by each thing a
//! careless user or an attacker could leave there: a FIFO, a symbolic link to `/dev/zero`,
//! and a symbolic link to a good copy of the file elsewhere. Each run must end by itself
//! (no hang), in bounded memory, either refusing with a message naming the file or
//! replacing the planted entry with a regular file of its own, and never writing through
//! the link.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use common::Cmd;
use common::charts::{VALUES, chart_tgz};
use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What is planted in a file's place.
#[derive(Debug, Clone, Copy)]
enum Planted {
    Fifo,
    LinkToZero,
    LinkElsewhere,
}

/// The regular files `cmd` opened for reading under any of `roots`, found by running it
/// under `strace -f -y` (the descriptor each `open` returns is shown with its path).
fn files_read(cmd: &Cmd, roots: &[PathBuf], scratch: &Path) -> BTreeSet<PathBuf> {
    let log = scratch.join("strace.log");
    let log_arg = log.to_str().unwrap();
    cmd.under(
        "strace",
        &[
            "-f",
            "-qq",
            "-y",
            "-e",
            "trace=open,openat,openat2",
            "-o",
            log_arg,
        ],
    )
    .timeout(Duration::from_secs(300))
    .run();
    let roots: Vec<PathBuf> = roots.iter().map(|r| r.canonicalize().unwrap()).collect();
    let text = fs::read_to_string(&log).unwrap();
    let mut found = BTreeSet::new();
    for line in text.lines() {
        let Some((call, ret)) = line.rsplit_once(" = ") else {
            continue;
        };
        if ["O_WRONLY", "O_RDWR", "O_CREAT", "O_DIRECTORY"]
            .iter()
            .any(|f| call.contains(f))
        {
            continue;
        }
        // `= 5</abs/path>`
        let Some(path) = ret
            .split_once('<')
            .and_then(|(_, p)| p.strip_suffix('>'))
            .map(PathBuf::from)
        else {
            continue;
        };
        if roots.iter().any(|r| path.starts_with(r))
            && fs::symlink_metadata(&path).is_ok_and(|m| m.is_file())
        {
            found.insert(path);
        }
    }
    found
}

/// Files that are alike stand for each other: two blobs of an OCI layout for all of them,
/// and one node's file for the same file of every node (`nodes/lab-agent2/user-data` is
/// read by the same code as `nodes/lab-server1/user-data`), one part of an export for
/// every part.
fn sample(files: BTreeSet<PathBuf>) -> Vec<PathBuf> {
    let node = regex::Regex::new(r"lab-(server|agent)[0-9]+").unwrap();
    let digits = regex::Regex::new(r"[0-9]+").unwrap();
    let mut blobs = 0;
    let mut kinds = BTreeSet::new();
    files
        .into_iter()
        .filter(|p| {
            if p.components().any(|c| c.as_os_str() == "blobs") {
                blobs += 1;
                return blobs <= 2;
            }
            let text = p.to_string_lossy();
            let kind = digits
                .replace_all(&node.replace_all(&text, "NODE"), "#")
                .into_owned();
            kinds.insert(kind)
        })
        .collect()
}

/// Copies `from` to `to` (made anew) keeping modes and times, so that a restored tree is
/// the tree the build state recorded.
fn restore(from: &Path, to: &Path) {
    if to.exists() {
        fs::remove_dir_all(to).unwrap();
    }
    Cmd::new("cp").arg("-a").arg(from).arg(to).run();
}

/// Runs `cmd` with `path` replaced by `planted`; checks the rules in the module's head.
/// `elsewhere` holds the good copy a link may point at. Returns the exit code.
fn hostile_run(cmd: &Cmd, path: &Path, planted: Planted, elsewhere: &Path) -> i32 {
    let copy = elsewhere.join(path.file_name().unwrap());
    fs::copy(path, &copy).unwrap();
    let copy_before = fs::read(&copy).unwrap();
    fs::remove_file(path).unwrap();
    match planted {
        Planted::Fifo => assert_eq!(Cmd::new("mkfifo").arg(path).run().code, Some(0)),
        Planted::LinkToZero => std::os::unix::fs::symlink("/dev/zero", path).unwrap(),
        Planted::LinkElsewhere => std::os::unix::fs::symlink(&copy, path).unwrap(),
    }
    // Address space capped: a file read without bound fails the allocation long before
    // the machine swaps, and the run then dies of a signal, which fails the check below.
    let what = format!("{} as {planted:?}", path.display());
    let out = cmd
        .under("prlimit", &["--as=8589934592", "--"])
        .timeout(Duration::from_secs(120))
        .any_status()
        .run();
    let code = out
        .code
        .unwrap_or_else(|| panic!("{what}: ended by a signal or the timeout: {}", out.stderr));
    assert!(matches!(code, 0..=2), "{what}: exit {code}: {}", out.stderr);
    assert!(!out.stderr.contains("panicked"), "{what}: {}", out.stderr);
    assert_eq!(
        fs::read(&copy).unwrap(),
        copy_before,
        "{what}: written through the link"
    );
    if code == 0 {
        // Accepted only by putting a file of its own in the planted entry's place (or
        // leaving the name empty).
        if let Ok(meta) = fs::symlink_metadata(path) {
            assert!(
                meta.is_file(),
                "{what}: exit 0 with {:?} still in place: {}",
                meta.file_type(),
                out.stderr
            );
        }
    } else {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            out.stderr.contains(&name),
            "{what}: exit {code} without naming the file: {}",
            out.stderr
        );
    }
    fs::remove_file(&copy).unwrap();
    code
}

/// Plants each kind of entry in turn at every file the `discover` commands read under
/// `roots` and runs `cmd` (each root restored from its pristine copy before every run).
fn walk(discover: &[&Cmd], cmd: &Cmd, roots: &[PathBuf], scratch: &Path) -> usize {
    let mut found = BTreeSet::new();
    for traced in discover {
        found.extend(files_read(traced, roots, scratch));
    }
    let found = sample(found);
    assert!(
        !found.is_empty(),
        "the traced run read nothing under {roots:?}"
    );
    let pristine: Vec<(PathBuf, PathBuf)> = roots
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let keep = scratch.join(format!("pristine-{i}"));
            restore(r, &keep);
            (keep, r.clone())
        })
        .collect();
    let elsewhere = scratch.join("elsewhere");
    fs::create_dir_all(&elsewhere).unwrap();
    let mut runs = 0;
    for path in &found {
        for planted in [Planted::Fifo, Planted::LinkToZero, Planted::LinkElsewhere] {
            for (keep, root) in &pristine {
                restore(keep, root);
            }
            // The traced path is canonical; plant it where the run looks.
            let code = hostile_run(cmd, path, planted, &elsewhere);
            eprintln!("{} as {planted:?}: exit {code}", path.display());
            runs += 1;
        }
    }
    for (keep, root) in &pristine {
        restore(keep, root);
    }
    runs
}

/// The lab with a chart from a repository on 127.0.0.1 and its seeds exported as parts of
/// 1 MiB (with `SHA256SUMS`, `SHA256SUMS.wholes` and `join.sh` beside them), built once.
fn lab_with_chart_and_export() -> (common::Lab, crate::charts::Repo, PathBuf) {
    let tgz = chart_tgz("demo-app", "1.2.3", VALUES);
    let repo = crate::charts::Repo::start(&tgz, tgz.clone());
    let lab = common::Lab::new();
    let config = lab.lab_dir().join("seedforge.yaml");
    let mut text = fs::read_to_string(&config).unwrap();
    text.push_str(&format!(
        "\nexport_dir: exported\nexport_split: 1MiB\ncharts:\n  - name: demo\n    repo: {}\n    chart: demo-app\n    version: 1.2.3\n    namespace: apps\n",
        repo.server.url("")
    ));
    fs::write(&config, text).unwrap();
    lab.build();
    let exported = lab.lab_dir().join("exported");
    assert!(exported.join("join.sh").is_file(), "the seeds were split");
    (lab, repo, exported)
}

#[test]
fn every_file_an_offline_rebuild_and_verify_read_is_bounded_regular_and_not_a_link() {
    if !common::require_tool("strace") || !common::require_tool("prlimit") {
        return;
    }
    let (lab, _repo, exported) = lab_with_chart_and_export();
    let scratch = tempfile::tempdir().unwrap();
    let roots = [lab.out_dir(), exported.clone()];
    let build = lab
        .seedforge()
        .args(["build", "--offline", "--config", lab.config_arg()]);
    // A build that skips nothing reads what every step finds (the export folder's files
    // included); the planted entry makes the usual build run the step that reads it.
    let forced = lab.seedforge().args([
        "build",
        "--offline",
        "--force",
        "--config",
        lab.config_arg(),
    ]);
    let runs = walk(&[&build, &forced], &build, &roots, scratch.path());
    let verify = lab.seedforge().arg("verify").arg(lab.out_dir());
    let verify_scratch = tempfile::tempdir().unwrap();
    let runs = runs + walk(&[&verify], &verify, &roots[..1], verify_scratch.path());
    assert!(runs >= 100, "{runs} hostile runs");
}

#[test]
fn a_fifo_or_link_in_out_charts_is_refused_offline_and_never_read() {
    let (lab, _repo, _) = lab_with_chart_and_export();
    let chart = lab.out_dir().join("charts/demo.tgz");
    let chart = if chart.exists() {
        chart
    } else {
        fs::read_dir(lab.out_dir().join("charts"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|x| x == "tgz"))
            .unwrap()
    };
    let good = fs::read(&chart).unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let copy = elsewhere.path().join("chart.tgz");
    fs::write(&copy, &good).unwrap();
    for target in [Path::new("/dev/zero"), copy.as_path()] {
        fs::remove_file(&chart).unwrap();
        std::os::unix::fs::symlink(target, &chart).unwrap();
        let before = common::snapshot(&lab.out_dir());
        let out = lab
            .seedforge()
            .args(["build", "--offline", "--config", lab.config_arg()])
            .timeout(Duration::from_secs(120))
            .any_status()
            .run();
        assert_eq!(
            out.code,
            Some(2),
            "a link to {}: {}",
            target.display(),
            out.stderr
        );
        assert!(
            out.stderr.contains("charts") && out.stderr.contains("symbolic link"),
            "{}",
            out.stderr
        );
        common::assert_same_tree(&before, &common::snapshot(&lab.out_dir()), "refused");
        fs::remove_file(&chart).unwrap();
        fs::write(&chart, &good).unwrap();
    }
    fs::remove_file(&chart).unwrap();
    assert_eq!(Cmd::new("mkfifo").arg(&chart).run().code, Some(0));
    let out = lab
        .seedforge()
        .args(["build", "--offline", "--config", lab.config_arg()])
        .timeout(Duration::from_secs(120))
        .any_status()
        .run();
    assert!(matches!(out.code, Some(1 | 2)), "{}", out.stderr);
    assert!(out.stderr.contains("is a FIFO"), "{}", out.stderr);
}

#[test]
fn every_file_debs_reads_from_its_download_cache_is_bounded_regular_and_not_a_link() {
    if !common::require_tool("strace")
        || !common::require_tool("prlimit")
        || !common::require_tool("apt-ftparchive")
        || !common::require_tool("python3")
    {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("repo");
    common::debs::make_repo(&root, &common::debs::fixture_debs());
    let server = common::debs::HttpServer::start(&root);
    let cache = tmp.path().join("cache");
    let base = tmp.path().join("base.txt");
    fs::write(&base, "libc6:amd64\t2.36-9+deb12u10\n").unwrap();
    let debs = Cmd::seedforge()
        .args(["debs", "--repo", &server.url, "--suite", "bookworm"])
        .args(["--package", "jq", "--name", "ops", "--force"])
        .arg("--base")
        .arg(&base)
        .arg("--out")
        .arg(tmp.path().join("ops.tar.gz"))
        .arg("--cache-dir")
        .arg(&cache)
        .env("SEEDFORGE_NO_CACHE", "0")
        .env("SOURCE_DATE_EPOCH", "1700000000");
    debs.clone().run();
    let scratch = tempfile::tempdir().unwrap();
    let runs = walk(&[&debs], &debs, &[cache], scratch.path());
    assert!(runs >= 9, "{runs} hostile runs");
}
