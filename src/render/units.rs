//! The systemd units a node's user-data writes, checked at build time by the real
//! `systemd-analyze verify` against a model of the node's boot: Debian's systemd targets
//! and cloud-init's units with the ordering they have on the node. The field lost nodes to
//! a unit that never ran again: ordered after `cloud-final.service` (which comes after
//! `multi-user.target`) yet wanted by `multi-user.target`, its job was dropped to break
//! the ordering cycle on every boot but the first. `systemd-analyze` finds such cycles,
//! unknown directives and missing executables; a node would only log them.
//!
//! Where `systemd-analyze` is not installed the check is skipped with a warning.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// The boot of a Debian node with cloud-init, as unit files (name, content): the targets a
/// service's default dependencies name, and cloud-init's stages with their ordering
/// (cloud-init 22.4 on Debian 12). cloud-init's generator links `cloud-init.target` into
/// `multi-user.target`, and its stages into `cloud-init.target`.
const NODE_UNITS: &[(&str, &str)] = &[
    ("-.slice", "[Unit]\nDefaultDependencies=no\n"),
    ("system.slice", "[Unit]\nDefaultDependencies=no\n"),
    ("sysinit.target", "[Unit]\nDefaultDependencies=no\n"),
    ("shutdown.target", "[Unit]\nDefaultDependencies=no\n"),
    (
        "basic.target",
        "[Unit]\nRequires=sysinit.target\nAfter=sysinit.target\n",
    ),
    (
        "multi-user.target",
        "[Unit]\nRequires=basic.target\nAfter=basic.target\n",
    ),
    (
        "default.target",
        "[Unit]\nRequires=multi-user.target\nAfter=multi-user.target\n",
    ),
    ("network.target", "[Unit]\n"),
    ("network-online.target", "[Unit]\nAfter=network.target\n"),
    (
        "cloud-init-local.service",
        "[Unit]\nDefaultDependencies=no\nBefore=network.target sysinit.target\n[Service]\nType=oneshot\nExecStart=/bin/true\n",
    ),
    (
        "cloud-init.service",
        "[Unit]\nDefaultDependencies=no\nAfter=cloud-init-local.service\nBefore=network-online.target sysinit.target\n[Service]\nType=oneshot\nExecStart=/bin/true\n",
    ),
    (
        "cloud-config.target",
        "[Unit]\nWants=cloud-init-local.service cloud-init.service\nAfter=cloud-init-local.service cloud-init.service\n",
    ),
    (
        "cloud-config.service",
        "[Unit]\nAfter=network-online.target cloud-config.target\nWants=network-online.target cloud-config.target\n[Service]\nType=oneshot\nExecStart=/bin/true\n",
    ),
    (
        "cloud-final.service",
        "[Unit]\nAfter=network-online.target cloud-config.service multi-user.target\nWants=network-online.target cloud-config.service\n[Service]\nType=oneshot\nExecStart=/bin/true\n",
    ),
    ("cloud-init.target", "[Unit]\nAfter=multi-user.target\n"),
];

/// Links the generator makes: (wanting unit, wanted unit).
const NODE_WANTS: &[(&str, &str)] = &[
    ("multi-user.target", "cloud-init.target"),
    ("cloud-init.target", "cloud-init-local.service"),
    ("cloud-init.target", "cloud-init.service"),
    ("cloud-init.target", "cloud-config.service"),
    ("cloud-init.target", "cloud-final.service"),
];

/// The digests of the unit sets already verified in this process (every node of a role
/// writes the same units). Process-wide on purpose: it memoises a check whose answer
/// depends only on the units' bytes (the digest is the key) and the node model embedded
/// here, never on a run's settings, so two runs may share it; only a success is kept.
static VERIFIED: Mutex<Option<HashSet<String>>> = Mutex::new(None);

/// Verifies `units` (unit name, file content) as the node would load them, each enabled
/// as its `[Install]` section says. On failure: the unit the first problem names and
/// `systemd-analyze`'s lines about it.
pub fn verify(units: &[(String, String)]) -> Result<(), (String, String)> {
    if units.is_empty() {
        return Ok(());
    }
    let key = {
        let mut all = Vec::new();
        for (name, content) in units {
            all.extend_from_slice(name.as_bytes());
            all.push(0);
            all.extend_from_slice(content.as_bytes());
            all.push(0);
        }
        crate::oci::Digest::of(&all).hex().to_string()
    };
    if VERIFIED
        .lock()
        .ok()
        .and_then(|v| v.as_ref().map(|s| s.contains(&key)))
        .unwrap_or(false)
    {
        return Ok(());
    }
    sweep_scratch(&std::env::temp_dir());
    let root = scratch_dir();
    // The name is this process's (its pid and a counter of its own): a folder there is
    // one a killed process of the same pid left, never another run's.
    let _ = fs::remove_dir_all(&root);
    // Removed if a SIGINT or SIGTERM ends the run while it exists (a SIGKILL's is swept
    // by the next run, above).
    let staging = crate::leftovers::Staging::of_process();
    let _on_signal = staging.remove_on_signal(&root);
    let result = model(&root, units)
        .map_err(|e| {
            let name = units[0].0.clone();
            (name, format!("cannot model the node's boot: {e}"))
        })
        .and_then(|()| run(&root, units));
    let _ = fs::remove_dir_all(&root);
    if result.is_ok()
        && let Ok(mut v) = VERIFIED.lock()
    {
        v.get_or_insert_with(HashSet::new).insert(key);
    }
    result
}

/// The name of a scratch folder: this prefix, the process id, a dash and a counter.
const SCRATCH_PREFIX: &str = ".seedforge-units-";

fn scratch_dir() -> PathBuf {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    std::env::temp_dir().join(format!("{SCRATCH_PREFIX}{}-{n}", std::process::id()))
}

/// Removes from `tmp` the scratch folders of processes that are gone (killed while they
/// verified units); those of running processes are left alone.
fn sweep_scratch(tmp: &Path) {
    let Ok(entries) = fs::read_dir(tmp) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let owner = (name.to_str())
            .and_then(|n| n.strip_prefix(SCRATCH_PREFIX))
            .and_then(|rest| rest.split_once('-'))
            .filter(|(_, n)| n.parse::<u64>().is_ok())
            .and_then(|(pid, _)| pid.parse::<u32>().ok());
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        if let Some(pid) = owner
            && is_dir
            && !crate::leftovers::alive(pid)
        {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

/// Writes the node model and `units` under `root`, with a stub for every executable the
/// units start (they arrive with the payload, not at build time).
fn model(root: &Path, units: &[(String, String)]) -> std::io::Result<()> {
    let lib = root.join("lib/systemd/system");
    let etc = root.join("etc/systemd/system");
    fs::create_dir_all(&lib)?;
    fs::create_dir_all(&etc)?;
    for (name, content) in NODE_UNITS {
        fs::write(lib.join(name), content)?;
    }
    for (by, unit) in NODE_WANTS {
        want(&etc, by, &format!("/lib/systemd/system/{unit}"))?;
    }
    let mut programs = vec!["/bin/true".to_string()];
    for (name, content) in units {
        fs::write(etc.join(name), content)?;
        for by in install_wanted_by(content) {
            want(&etc, &by, &format!("/etc/systemd/system/{name}"))?;
        }
        programs.extend(executables(content));
    }
    for program in programs {
        let path = root.join(program.trim_start_matches('/'));
        if path.exists() {
            continue;
        }
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir)?;
        }
        fs::write(&path, "#!/bin/sh\n")?;
        use std::os::unix::fs::PermissionsExt as _;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755))?;
    }
    Ok(())
}

fn want(etc: &Path, by: &str, target: &str) -> std::io::Result<()> {
    let dir = etc.join(format!("{by}.wants"));
    fs::create_dir_all(&dir)?;
    let name = target.rsplit('/').next().unwrap_or(target);
    std::os::unix::fs::symlink(target, dir.join(name))
}

/// The values of `key=` lines in `section` of a unit file, split on whitespace.
fn values<'a>(content: &'a str, section: &str, key: &str) -> Vec<&'a str> {
    let mut current = "";
    let mut out = Vec::new();
    for line in content.lines().map(str::trim) {
        if line.starts_with('[') && line.ends_with(']') {
            current = line;
        } else if current == section
            && let Some((k, v)) = line.split_once('=')
            && k.trim() == key
        {
            out.extend(v.split_whitespace());
        }
    }
    out
}

fn install_wanted_by(content: &str) -> Vec<String> {
    let mut by: Vec<String> = values(content, "[Install]", "WantedBy")
        .into_iter()
        .chain(values(content, "[Install]", "RequiredBy"))
        .map(str::to_string)
        .collect();
    by.dedup();
    by
}

/// The absolute programs of a unit's `Exec*=` lines, without their `-@:+!` prefixes.
fn executables(content: &str) -> Vec<String> {
    const KEYS: &[&str] = &[
        "ExecStart",
        "ExecStartPre",
        "ExecStartPost",
        "ExecStop",
        "ExecStopPost",
        "ExecReload",
        "ExecCondition",
    ];
    KEYS.iter()
        .flat_map(|k| {
            content.lines().filter_map(move |l| {
                let (key, value) = l.trim().split_once('=')?;
                (key.trim() == *k).then_some(value)
            })
        })
        .filter_map(|v| {
            let program = v.split_whitespace().next()?;
            let program = program.trim_start_matches(['-', '@', ':', '+', '!']);
            program.starts_with('/').then(|| program.to_string())
        })
        .collect()
}

/// Runs `systemd-analyze verify` on the boot transaction (`default.target`) and on each
/// unit; any diagnostic about one of `units`, or an ordering cycle, is a failure.
fn run(root: &Path, units: &[(String, String)]) -> Result<(), (String, String)> {
    let mut cmd = Command::new("systemd-analyze");
    cmd.arg("verify")
        .arg(format!("--root={}", root.display()))
        .arg("default.target")
        .args(units.iter().map(|(n, _)| n))
        .env("SYSTEMD_LOG_COLOR", "0")
        .env("LC_ALL", "C");
    let output = match cmd.output() {
        Ok(o) => o,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            tracing::warn!(
                "systemd-analyze not found: the node's systemd units are not verified (install systemd)"
            );
            return Ok(());
        }
        Err(e) => {
            return Err((
                units[0].0.clone(),
                format!("cannot run systemd-analyze: {e}"),
            ));
        }
    };
    let text = String::from_utf8_lossy(&output.stderr).replace(&root.display().to_string(), "");
    let relevant: Vec<&str> = text
        .lines()
        .filter(|l| {
            l.contains("ordering cycle")
                || l.contains("cyclic")
                || units.iter().any(|(n, _)| l.contains(n.as_str()))
        })
        .collect();
    if output.status.success() && relevant.is_empty() {
        return Ok(());
    }
    let lines = if relevant.is_empty() {
        text.lines().collect()
    } else {
        relevant
    };
    let unit = units
        .iter()
        .find(|(n, _)| lines.iter().any(|l| l.contains(n.as_str())))
        .unwrap_or(&units[0])
        .0
        .clone();
    let mut message = lines.iter().take(6).copied().collect::<Vec<_>>().join("; ");
    if message.is_empty() {
        message = format!("exit status {}", output.status);
    }
    Err((unit, format!("systemd-analyze verify: {message}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn have_tool() -> bool {
        Command::new("systemd-analyze")
            .arg("--version")
            .output()
            .is_ok()
    }

    const BOOTSTRAP: &str = "[Unit]\nAfter=network-online.target cloud-final.service\nWants=network-online.target\n[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/usr/local/sbin/seedforge-bootstrap\n[Install]\n";

    fn unit(wanted_by: &str) -> Vec<(String, String)> {
        vec![(
            "seedforge-bootstrap.service".into(),
            format!("{BOOTSTRAP}WantedBy={wanted_by}\n"),
        )]
    }

    #[test]
    fn after_cloud_final_and_wanted_by_cloud_init_target_passes() {
        if !have_tool() {
            return;
        }
        assert_eq!(verify(&unit("cloud-init.target")), Ok(()));
    }

    #[test]
    fn a_scratch_folder_a_killed_process_of_the_same_pid_left_is_no_error() {
        if !have_tool() {
            return;
        }
        // The next scratch name, planted as a killed process would have left it.
        let next = {
            let probe = scratch_dir();
            let (stem, n) = probe
                .to_string_lossy()
                .rsplit_once('-')
                .map(|(a, b)| (a.to_string(), b.parse::<u64>().unwrap()))
                .unwrap();
            PathBuf::from(format!("{stem}-{}", n + 1))
        };
        let etc = next.join("etc/systemd/system/multi-user.target.wants");
        fs::create_dir_all(&etc).unwrap();
        std::os::unix::fs::symlink(
            "/lib/systemd/system/cloud-init.target",
            etc.join("cloud-init.target"),
        )
        .unwrap();
        let mut units = unit("cloud-init.target");
        // Not memoised: other units' bytes.
        units[0].1.push_str("# stale scratch\n");
        let result = verify(&units);
        let _ = fs::remove_dir_all(&next);
        assert_eq!(result, Ok(()));
    }

    #[test]
    fn scratch_folders_of_dead_processes_are_swept_and_nothing_else() {
        let tmp = tempfile::tempdir().unwrap();
        // No process has an id this large (Linux's pid_max is at most 2^22).
        let dead = tmp.path().join(format!("{SCRATCH_PREFIX}999999999-3"));
        fs::create_dir_all(dead.join("etc/systemd/system")).unwrap();
        let live = tmp
            .path()
            .join(format!("{SCRATCH_PREFIX}{}-7", std::process::id()));
        fs::create_dir_all(&live).unwrap();
        let others = [
            format!("{SCRATCH_PREFIX}999999999-x"),
            format!("{SCRATCH_PREFIX}999999999"),
            "seedforge-units-999999999-1".to_string(),
        ];
        for o in &others {
            fs::create_dir_all(tmp.path().join(o)).unwrap();
        }
        let file = tmp.path().join(format!("{SCRATCH_PREFIX}999999999-4"));
        fs::write(&file, "a file, not a scratch folder").unwrap();
        sweep_scratch(tmp.path());
        assert!(!dead.exists());
        assert!(live.is_dir() && file.is_file());
        for o in &others {
            assert!(tmp.path().join(o).is_dir(), "{o}");
        }
    }

    #[test]
    fn after_cloud_final_and_wanted_by_multi_user_is_an_ordering_cycle() {
        if !have_tool() {
            return;
        }
        let (name, message) = verify(&unit("multi-user.target")).unwrap_err();
        assert_eq!(name, "seedforge-bootstrap.service");
        assert!(message.contains("ordering cycle"), "{message}");
    }

    #[test]
    fn an_unknown_directive_is_named() {
        if !have_tool() {
            return;
        }
        let units = vec![(
            "x.service".to_string(),
            "[Service]\nExecStart=/usr/bin/x\nRestartt=always\n[Install]\nWantedBy=multi-user.target\n"
                .to_string(),
        )];
        let (name, message) = verify(&units).unwrap_err();
        assert_eq!(name, "x.service");
        assert!(message.contains("Restartt"), "{message}");
    }

    #[test]
    fn exec_programs_lose_their_prefixes() {
        let c = "[Service]\nExecStartPre=-/sbin/modprobe overlay\nExecStart=/usr/local/bin/k3s server\nExecStop=kill\n";
        assert_eq!(executables(c), ["/usr/local/bin/k3s", "/sbin/modprobe"]);
    }
}
