//! Reading and writing a powered-off node's disk with debugfs.

use super::*;

/// One read-only debugfs request on the powered-off disk: its output, or `None` when the
/// path it names does not exist.
pub(crate) fn debugfs(disk: &Path, request: &str) -> Option<String> {
    let out = Cmd::new("debugfs")
        .arg("-R")
        .arg(request)
        .arg(disk)
        .any_status()
        .run();
    if out.stderr.contains("not found") {
        return None;
    }
    // Anything but the version banner means debugfs could not read the disk: an empty
    // answer must not pass for an empty file.
    let trouble: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with("debugfs "))
        .collect();
    assert!(
        trouble.is_empty() && out.code == Some(0),
        "debugfs -R {request:?} {}: {:?}\n{}",
        disk.display(),
        out.code,
        out.stderr
    );
    Some(out.stdout)
}

/// A file of the powered-off disk, or `None` if it does not exist.
pub(crate) fn read(disk: &Path, path: &str) -> Option<String> {
    debugfs(disk, &format!("cat {path}"))
}

pub(crate) fn exists(disk: &Path, path: &str) -> bool {
    debugfs(disk, &format!("stat {path}")).is_some()
}

/// The names in a folder of the powered-off disk (`.` and `..` left out), sorted; empty
/// when it does not exist.
pub(crate) fn list(disk: &Path, dir: &str) -> Vec<String> {
    let mut names: Vec<String> = debugfs(disk, &format!("ls -l {dir}"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_whitespace().last())
        .filter(|n| *n != "." && *n != "..")
        .map(str::to_string)
        .collect();
    names.sort();
    names
}

/// Where k3s imports airgap archives from at start.
pub(crate) const K3S_IMAGES: &str = "/var/lib/rancher/k3s/agent/images";

/// The airgap archives in k3s's images folder of the powered-off disk (k3s's own
/// `.cache.json` left out), sorted.
pub(crate) fn archives(disk: &Path) -> Vec<String> {
    list(disk, K3S_IMAGES)
        .into_iter()
        .filter(|n| !n.starts_with('.'))
        .collect()
}

/// The modification time of a file of the powered-off disk, in seconds since the epoch.
pub(crate) fn mtime(disk: &Path, path: &str) -> i64 {
    let stat = debugfs(disk, &format!("stat {path}")).unwrap_or_else(|| panic!("no {path}"));
    let hex = stat
        .split("mtime: 0x")
        .nth(1)
        .and_then(|rest| rest.get(..8))
        .unwrap_or_else(|| panic!("no mtime in the stat of {path}: {stat}"));
    i64::from_str_radix(hex, 16).unwrap()
}

/// The seconds since the epoch now, on this machine (whose clock the VMs' clocks start
/// from).
pub(crate) fn now() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

/// Writes `content` to `dir/name` on the disk, making `dir` (one level) if needed and
/// replacing a file already there (debugfs's `write` refuses an existing name).
pub(crate) fn put(disk: &Path, dir: &str, name: &str, content: &str, scratch: &Path) {
    let local = scratch.join(name);
    fs::write(&local, content).unwrap();
    let script = scratch.join("debugfs.cmd");
    fs::write(
        &script,
        format!(
            "mkdir {dir}\ncd {dir}\nrm {name}\nwrite {} {name}\n",
            local.display()
        ),
    )
    .unwrap();
    Cmd::new("debugfs")
        .arg("-w")
        .arg("-f")
        .arg(&script)
        .arg(disk)
        .run();
}

pub(crate) fn status(disk: &Path) -> serde_json::Value {
    let text = read(disk, "/var/lib/seedforge/status.json").expect("status.json");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("status.json: {e}: {text}"))
}

/// What a boot left for the reader of a failed assertion.
pub(crate) fn diagnostics(disk: &Path, console: &Path) -> String {
    let mut s = String::new();
    for p in [
        "/var/log/boot-diag/summary.txt",
        "/var/log/k3s-bootstrap.log",
        "/var/log/seedforge-packages.log",
        "/var/lib/seedforge/status.json",
    ] {
        s.push_str(&format!("== {p}\n{}\n", read(disk, p).unwrap_or_default()));
    }
    let console = fs::read_to_string(console).unwrap_or_default();
    let tail: Vec<&str> = console.lines().rev().take(40).collect();
    s.push_str("== console (last lines)\n");
    for l in tail.iter().rev() {
        s.push_str(l);
        s.push('\n');
    }
    s
}
