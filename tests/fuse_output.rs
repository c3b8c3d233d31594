//! Builds onto FUSE file systems (no kernel driver needed): the output lock of the layout's
//! temporary folder on disorderfs, and chmod refused by FAT (fusefat).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use crate::common;

use common::Lab;
use common::fusemount::FuseMount;
use std::fs;
use std::path::Path;

/// Points the lab's `output:` at `out` (an absolute path).
fn set_output(lab: &Lab, out: &Path) {
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
