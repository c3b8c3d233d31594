//! Hostile input that the bad-input table cannot express: a damaged `index.json` under
//! `gc` and `verify` (nothing may be deleted), secrets quoted by mistake (no message may
//! show them), the home folder as output, FIFOs where seedforge's own files belong (no
//! hang), and modes that must not follow the umask.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use crate::common;

use common::{Cmd, Lab, files_under, snapshot};
use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::time::Duration;

/// `index.json` documents that are valid JSON but no OCI index.
const NOT_AN_INDEX: &[&str] = &[
    "{}",
    r#"{"schemaVersion":2}"#,
    r#"{"schemaVersion":2,"manifest":[]}"#,
    r#"{"schemaVersion":2,"Manifests":[]}"#,
    r#"{"schemaVersion":2,"manifests":{}}"#,
    r#"{"manifests":[]}"#,
];

#[test]
fn gc_deletes_nothing_and_verify_fails_when_index_json_is_no_oci_index() {
    let lab = Lab::new();
    lab.build();
    let layout = lab.out_layout();
    let blobs = files_under(&layout.join("blobs"));
    assert!(blobs.len() > 10, "{blobs:?}");
    for doc in NOT_AN_INDEX {
        fs::write(layout.join("index.json"), doc).unwrap();
        let gc = lab
            .seedforge()
            .args(["gc"])
            .arg(lab.out_dir())
            .any_status()
            .run();
        assert_eq!(gc.code, Some(1), "gc with index.json {doc}: {}", gc.stderr);
        assert!(gc.stderr.contains("not an OCI index"), "{}", gc.stderr);
        assert_eq!(
            files_under(&layout.join("blobs")),
            blobs,
            "gc removed blobs ({doc})"
        );
        let verify = lab
            .seedforge()
            .args(["verify"])
            .arg(lab.out_dir())
            .any_status()
            .run();
        assert_eq!(
            verify.code,
            Some(1),
            "verify with index.json {doc}: {}",
            verify.stderr
        );
        assert!(verify.stderr.contains("index.json"), "{}", verify.stderr);
    }
}

/// The lab's token, which must never appear in any message.
fn token(lab: &Lab) -> String {
    fs::read_to_string(lab.lab_dir().join("token"))
        .unwrap()
        .trim()
        .to_string()
}

#[test]
fn a_token_file_listed_as_an_image_list_is_not_quoted() {
    let lab = Lab::new();
    let config = lab.lab_dir().join("seedforge.yaml");
    let text = fs::read_to_string(&config).unwrap();
    fs::write(
        &config,
        text.replace("- images.txt", "- images.txt\n    - token"),
    )
    .unwrap();
    for cmd in ["build", "plan"] {
        let out = lab
            .seedforge()
            .args([cmd, "--config", lab.config_arg(), "-vv"])
            .expect(2)
            .run();
        assert!(out.stderr.contains("token:1"), "{}", out.stderr);
        assert!(out.stderr.contains("<redacted>"), "{}", out.stderr);
        assert!(
            !out.stderr.contains(&token(&lab)),
            "{cmd} shows the token:\n{}",
            out.stderr
        );
    }
}

#[test]
fn a_template_that_puts_the_token_where_validation_quotes_it_does_not_show_it() {
    let lab = Lab::new();
    let tpl = lab.lab_dir().join("tpl");
    common::copy_tree(
        &common::repo_root().join("templates/cloud-init"),
        &tpl,
        &|_| false,
    );
    let user_data = tpl.join("user-data.tera");
    let text = fs::read_to_string(&user_data).unwrap();
    let (first, rest) = text.split_once('\n').unwrap();
    fs::write(&user_data, format!("{first}\n{{{{ token }}}}: 1\n{rest}")).unwrap();
    let config = lab.lab_dir().join("seedforge.yaml");
    let mut text = fs::read_to_string(&config).unwrap();
    text.push_str("templates: tpl\n");
    fs::write(&config, text).unwrap();
    let out = lab
        .seedforge()
        .args(["build", "--config", lab.config_arg()])
        .expect(2)
        .run();
    assert!(
        out.stderr.contains("unknown cloud-config key"),
        "{}",
        out.stderr
    );
    assert!(
        !out.stderr.contains(&token(&lab)),
        "the token is shown:\n{}",
        out.stderr
    );
    assert!(!lab.out_dir().exists());
}

#[test]
fn the_home_folder_is_refused_as_output() {
    let lab = Lab::new();
    let home = lab.root().join("home");
    fs::create_dir(&home).unwrap();
    fs::write(home.join("notes.txt"), "mine\n").unwrap();
    let config = lab.lab_dir().join("seedforge.yaml");
    let before = snapshot(&home);
    let out = lab
        .seedforge()
        .env("HOME", home.to_str().unwrap())
        .args(["build", "--config", lab.config_arg(), "--out"])
        .arg(&home)
        .expect(2)
        .run();
    assert!(
        out.stderr
            .contains("refusing to write into the home folder"),
        "{}",
        out.stderr
    );
    common::assert_same_tree(&before, &snapshot(&home), "the home folder");
    // The same folder under another HOME is just a folder.
    assert!(config.exists());
    // The commands that write a folder of their own refuse it too.
    let images = lab.lab_dir().join("images.txt");
    let cases: [(&str, Vec<std::ffi::OsString>); 3] = [
        (
            "pki",
            vec![
                "pki".into(),
                "--host".into(),
                "10.0.0.1".into(),
                "--out".into(),
            ],
        ),
        (
            "render",
            vec![
                "render".into(),
                "--config".into(),
                config.clone().into(),
                "--out".into(),
            ],
        ),
        (
            "mirror",
            vec![
                "mirror".into(),
                "--images".into(),
                images.into(),
                "--layout".into(),
            ],
        ),
    ];
    for (what, args) in cases {
        let out = lab
            .seedforge()
            .env("HOME", home.to_str().unwrap())
            .args(args)
            .arg(&home)
            .expect(2)
            .run();
        assert!(
            out.stderr
                .contains("refusing to write into the home folder"),
            "{what}: {}",
            out.stderr
        );
        common::assert_same_tree(&before, &snapshot(&home), what);
    }
}

#[test]
fn fifos_where_seedforge_expects_its_own_files_do_not_hang() {
    let lab = Lab::new();
    lab.build();
    let out = lab.out_dir();
    for name in ["manifest.json", "SHA256SUMS"] {
        let path = out.join(name);
        let saved = fs::read(&path).unwrap();
        fs::remove_file(&path).unwrap();
        let made = Cmd::new("mkfifo").arg(&path).run();
        assert_eq!(made.code, Some(0));
        let verify = lab
            .seedforge()
            .arg("verify")
            .arg(&out)
            .timeout(Duration::from_secs(60))
            .any_status()
            .run();
        // Refused at once (not read, so no hang), named, and the output is not sound.
        assert!(
            matches!(verify.code, Some(1 | 2)),
            "verify with {name} a FIFO: {:?} {}",
            verify.code,
            verify.stderr
        );
        assert!(
            verify
                .stderr
                .contains(&format!("{name}: is a FIFO, not a regular file")),
            "{}",
            verify.stderr
        );
        fs::remove_file(&path).unwrap();
        fs::write(&path, saved).unwrap();
    }
    // A FIFO as the build state is not read (the state is rebuilt) and the build finishes.
    let state = out.join(".seedforge/state.json");
    fs::remove_file(&state).unwrap();
    assert_eq!(Cmd::new("mkfifo").arg(&state).run().code, Some(0));
    lab.seedforge()
        .args(["build", "--config", lab.config_arg()])
        .timeout(Duration::from_secs(120))
        .run();
    assert!(fs::symlink_metadata(&state).unwrap().is_file());
}

#[test]
fn modes_do_not_follow_the_umask() {
    if !common::require_tool("bash") {
        return;
    }
    let modes = |umask: &str| {
        let lab = Lab::new();
        let bin = common::seedforge_bin();
        Cmd::new("bash")
            .arg("-c")
            .arg(format!(
                "umask {umask} && exec '{}' build --config {}",
                bin.display(),
                lab.config_arg()
            ))
            .cwd(lab.root())
            .run();
        // The modes manifest.json records (keys are made anew by each build, so the
        // digests of the PKI and the seeds differ; the modes must not).
        let manifest = common::read_json(&lab.out_dir().join("manifest.json"));
        let manifest: Vec<(String, String)> = manifest["artifacts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                (
                    a["path"].as_str().unwrap().to_string(),
                    a["mode"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        let mut modes = Vec::new();
        for path in files_under(&lab.out_dir()) {
            let meta = fs::symlink_metadata(&path).unwrap();
            let rel = path.strip_prefix(lab.out_dir()).unwrap().to_path_buf();
            modes.push((rel, meta.permissions().mode() & 0o7777));
        }
        (manifest, modes)
    };
    let (manifest_022, modes_022) = modes("022");
    let (manifest_077, modes_077) = modes("077");
    assert_eq!(
        modes_022, modes_077,
        "modes differ between umask 022 and 077"
    );
    assert_eq!(
        manifest_022, manifest_077,
        "manifest.json records other modes"
    );
    assert!(manifest_022.iter().any(|(_, m)| m == "0644"));
    assert!(manifest_022.iter().any(|(_, m)| m == "0600"));
    for (rel, mode) in &modes_022 {
        assert!(
            *mode == 0o644 || *mode == 0o600 || *mode == 0o755,
            "{}: mode {mode:o}",
            rel.display()
        );
    }
}
