//! Builds onto FUSE file systems (no kernel driver needed): the output lock of the layout's
//! temporary folder on disorderfs, and chmod refused by FAT (fusefat).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use crate::common;

use common::Lab;
use common::fusemount::FuseMount;
use std::fs;
use std::path::Path;

/// Points the lab's `output:` at `out` (an absolute path).
pub(crate) fn set_output(lab: &Lab, out: &Path) {
    let config = lab.lab_dir().join("seedforge.yaml");
    let text = fs::read_to_string(&config).unwrap();
    assert!(
        text.contains("\noutput: out\n"),
        "the lab config names its output"
    );
    fs::write(
        &config,
        text.replace(
            "\noutput: out\n",
            &format!("\noutput: \"{}\"\n", out.display()),
        ),
    )
    .unwrap();
}

/// What is left in the layout's folder of write sessions.
fn sessions(out: &Path) -> Vec<String> {
    match fs::read_dir(out.join("oci/.seedforge/tmp")) {
        Ok(entries) => entries
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// A FUSE file system keeps a removed file that is still open under a hidden name, so a
/// session folder removed before its lock file is closed stays behind, and the next
/// `verify` (or a build's verify step) calls it an interrupted run's.
#[test]
fn builds_on_disorderfs_leave_no_session_folder_and_no_interrupted_run() {
    let lab = Lab::new();
    let Some(mount) = FuseMount::disorderfs(&lab.root().join("backing"), &lab.root().join("fuse"))
    else {
        return;
    };
    let out = mount.path().join("out");
    set_output(&lab, &out);
    for run in 1..=2 {
        let built = lab.build();
        let all = format!("{}{}", built.stdout, built.stderr);
        assert!(!all.contains("interrupted"), "build {run}:\n{all}");
        assert_eq!(sessions(&out), Vec::<String>::new(), "after build {run}");
    }
    let verified = lab.seedforge().arg("verify").arg(&out).run();
    let all = format!("{}{}", verified.stdout, verified.stderr);
    assert!(!all.contains("interrupted"), "verify:\n{all}");
    assert!(!all.contains("stale"), "verify:\n{all}");
}

/// FAT keeps no unix modes (fusefat's `fchmod` is `ENOSYS`): rendering onto it succeeds
/// with one warning for the file system, whatever the number of files, and one naming the
/// private files (each node's `user-data` holds the join token).
#[test]
fn render_onto_fat_warns_once_instead_of_failing_on_chmod() {
    if !common::debs::require_root("mounting a FAT image") {
        return;
    }
    let lab = Lab::new();
    let Some(mount) = FuseMount::fat(&lab.root().join("stick.img"), 64, &lab.root().join("stick"))
    else {
        return;
    };
    let out = mount.path().join("nodes");
    let rendered = lab
        .seedforge()
        .args(["render", "--config", lab.config_arg(), "--out"])
        .arg(&out)
        .run();
    let warnings: Vec<&str> = rendered
        .stderr
        .lines()
        .filter(|l| l.starts_with("warning: "))
        .collect();
    assert_eq!(warnings.len(), 2, "{}", rendered.stderr);
    assert!(
        warnings[0].contains("fusefat") && warnings[0].contains("keeps no unix modes"),
        "{}",
        warnings[0]
    );
    for node in ["lab-server1", "lab-agent1", "lab-agent2"] {
        let user_data = out.join(node).join("user-data");
        assert!(user_data.is_file(), "{}", user_data.display());
        assert!(
            warnings[1].contains(&user_data.display().to_string()),
            "{}",
            warnings[1]
        );
        assert!(out.join(node).join("meta-data").is_file());
    }
    // The same command again: still one warning per kind, and nothing else left beside.
    let again = lab
        .seedforge()
        .args(["render", "--config", lab.config_arg(), "--out"])
        .arg(&out)
        .run();
    assert!(
        again
            .stderr
            .lines()
            .filter(|l| l.starts_with("warning: "))
            .count()
            <= 2
    );
    let mut names: Vec<String> = fs::read_dir(out.join("lab-server1"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_lowercase())
        .collect();
    names.sort();
    assert!(
        names.iter().all(|n| !n.contains("seedforge")),
        "no temporary files: {names:?}"
    );
}

/// A file system that refuses every chmod with `EPERM` (bindfs `--chmod-deny`; FAT and
/// exFAT do the same) but is otherwise whole: the demo builds, twice, with one warning for
/// the file system, and verifies; the private files, created 0600, stay so.
#[test]
fn the_demo_builds_where_every_chmod_is_refused() {
    let lab = Lab::new();
    let Some(mount) = FuseMount::bindfs(
        &lab.root().join("backing"),
        &lab.root().join("nomodes"),
        &["--chmod-deny"],
    ) else {
        return;
    };
    let out = mount.path().join("out");
    set_output(&lab, &out);
    let first = lab.build();
    let warnings: Vec<&str> = first
        .stderr
        .lines()
        .filter(|l| l.starts_with("warning: "))
        .collect();
    assert_eq!(warnings.len(), 1, "{}", first.stderr);
    assert!(
        warnings[0].contains(&format!("{} (", mount.path().display()))
            && warnings[0].contains("keeps no unix modes")
            && warnings[0].contains("Operation not permitted"),
        "{}",
        warnings[0]
    );
    // The private files were created 0600, so the refused chmod after it changed nothing:
    // the seal reads each one's mode back, finds it kept, and says nothing of them.
    for private in [
        "pki/ca.key",
        "pki/registry.key",
        "nodes/lab-server1/user-data",
    ] {
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(out.join(private)).unwrap().permissions(),
        );
        assert_eq!(mode & 0o777, 0o600, "{private}");
    }
    let second = lab.build();
    let all = format!("{}{}", second.stdout, second.stderr);
    assert!(!all.contains("interrupted"), "{all}");
    lab.seedforge().arg("verify").arg(&out).run();
}
