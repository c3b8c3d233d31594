//! `verify` of a sealed output names what its seal does not cover. A seed ISO or a node's
//! NoCloud file planted beside the sealed ones fails (exit 1), with `--key` as without;
//! other files kept in the output (notes) are named and pass without `--key`, and fail
//! with it (a signed output's statement lists every file). A symbolic link under the
//! output fails, as an `oci/`, `iso/` or `nodes/` pointing at a copy elsewhere does.

use crate::common::{self, Cmd, Lab};
use std::fs;
use std::path::Path;

/// The `unsealed.unlisted` entries of a `verify --json` document, as (path, fails).
fn unlisted(doc: &serde_json::Value) -> Vec<(String, bool)> {
    doc["unsealed"]["unlisted"]
        .as_array()
        .unwrap_or_else(|| panic!("no unsealed.unlisted: {doc}"))
        .iter()
        .map(|u| {
            (
                u["path"].as_str().unwrap().to_string(),
                u["fails"].as_bool().unwrap(),
            )
        })
        .collect()
}

#[test]
fn verify_key_fails_on_a_seed_planted_beside_the_sealed_ones_and_names_other_unlisted_files() {
    if !common::require_tool("openssl") {
        return;
    }
    let lab = Lab::new();
    let key = lab.root().join("seal.pem");
    Cmd::new("openssl")
        .args(["genpkey", "-algorithm", "ed25519", "-out"])
        .arg(&key)
        .run();
    let public = lab.root().join("seal.pub");
    Cmd::new("openssl")
        .args(["pkey", "-pubout", "-in"])
        .arg(&key)
        .arg("-out")
        .arg(&public)
        .run();
    lab.seedforge()
        .args(["build", "--config", lab.config_arg(), "--signing-key"])
        .arg(&key)
        .run();
    let out = lab.out_dir();
    let verify_with = |key: bool, code: i32, json: bool| {
        let mut cmd = lab.seedforge();
        if json {
            cmd = cmd.arg("--json");
        }
        cmd = cmd.arg("verify");
        if key {
            cmd = cmd.arg("--key").arg(&public);
        }
        cmd.arg(&out).expect(code).run()
    };
    let verify = |code: i32, json: bool| verify_with(true, code, json);
    let clean = verify(0, false);
    assert!(!clean.stderr.contains("SHA256SUMS"), "{}", clean.stderr);
    assert_eq!(unlisted(&verify(0, true).json()), []);
    // Notes kept in the output: with --key, refused by name (the signed statement lists
    // every file of a signed output); without, named, not a failure.
    fs::write(out.join("notes.txt"), "mine\n").unwrap();
    fs::write(out.join("nodes/lab-agent1/notes.txt"), "mine\n").unwrap();
    let r = verify(1, false);
    assert!(
        r.stderr.contains(
            "nodes/lab-agent1/notes.txt: on the medium, and not listed in its signed statement.json"
        ),
        "{}",
        r.stderr
    );
    let verify = |code: i32, json: bool| verify_with(false, code, json);
    let r = verify(0, false);
    for name in ["notes.txt", "nodes/lab-agent1/notes.txt"] {
        assert!(
            r.stderr
                .contains(&format!("warning: {name}: not listed in SHA256SUMS")),
            "{name}: {}",
            r.stderr
        );
    }
    // The JSON document carries the same warnings.
    let r = verify(0, true);
    let said = common::json_schema::stderr_warnings(&r.stderr);
    assert_eq!(said.len(), 2, "{}", r.stderr);
    assert_eq!(
        r.json()["warnings"],
        serde_json::json!(said),
        "{}",
        r.stdout
    );
    // A seed planted beside the sealed ones (a copy of one, under another node's name):
    // the signature does not cover it, verify --key fails naming it, and so does verify.
    let planted = out.join("iso/seed-lab-agent9.iso");
    fs::copy(out.join("iso/seed-lab-agent1.iso"), &planted).unwrap();
    let r = verify_with(true, 1, false);
    assert!(r.stderr.contains("iso/seed-lab-agent9.iso"), "{}", r.stderr);
    let r = verify(1, false);
    assert!(
        r.stderr
            .contains("BAD  iso/seed-lab-agent9.iso: not listed in SHA256SUMS"),
        "{}",
        r.stderr
    );
    let doc = verify(1, true).json();
    assert_eq!(
        unlisted(&doc),
        [
            ("iso/seed-lab-agent9.iso".to_string(), true),
            ("nodes/lab-agent1/notes.txt".to_string(), false),
            ("notes.txt".to_string(), false),
        ]
    );
    fs::remove_file(&planted).unwrap();
    // A node's NoCloud files for a node the seal does not know: the same.
    fs::create_dir_all(out.join("nodes/lab-agent9")).unwrap();
    fs::copy(
        out.join("nodes/lab-agent1/user-data"),
        out.join("nodes/lab-agent9/user-data"),
    )
    .unwrap();
    let r = verify(1, false);
    assert!(
        r.stderr.contains("BAD  nodes/lab-agent9/user-data"),
        "{}",
        r.stderr
    );
    // Without --key, the same verdicts.
    let r = lab.seedforge().arg("verify").arg(&out).expect(1).run();
    assert!(
        r.stderr.contains("BAD  nodes/lab-agent9/user-data"),
        "{}",
        r.stderr
    );
    fs::remove_dir_all(out.join("nodes/lab-agent9")).unwrap();
    verify(0, false);
    for notes in ["notes.txt", "nodes/lab-agent1/notes.txt"] {
        fs::remove_file(out.join(notes)).unwrap();
    }
    verify_with(true, 0, false);
}

#[test]
fn verify_fails_on_an_output_whose_oci_iso_or_nodes_is_a_link_to_a_copy() {
    let lab = Lab::new();
    lab.build();
    let out = lab.out_dir();
    let verify = |code: i32| lab.seedforge().arg("verify").arg(&out).expect(code).run();
    for dir in ["oci", "iso", "nodes", "iso/seed-lab-agent1.iso"] {
        let copy = lab.root().join(format!("copy-{}", dir.replace('/', "-")));
        fs::rename(out.join(dir), &copy).unwrap();
        std::os::unix::fs::symlink(&copy, out.join(dir)).unwrap();
        let r = verify(1);
        assert!(
            r.stderr.contains(&format!("BAD  {dir}: a symbolic link")),
            "{dir}: {}",
            r.stderr
        );
        let doc = lab
            .seedforge()
            .args(["--json", "verify"])
            .arg(&out)
            .expect(1)
            .run()
            .json();
        assert_eq!(doc["unsealed"]["links"][0]["path"], dir, "{doc}");
        assert_eq!(
            Path::new(doc["unsealed"]["links"][0]["target"].as_str().unwrap()),
            copy
        );
        fs::remove_file(out.join(dir)).unwrap();
        fs::rename(&copy, out.join(dir)).unwrap();
    }
    verify(0);
}

/// An output a first build left before it sealed (killed, or out of space: no
/// `SHA256SUMS`, no `manifest.json`, a seed not written) fails `verify` (exit 1) naming
/// what is missing, `"sealed": false` in `--json`, though all that is there checks out: a
/// job that gates publication on `verify` publishes nothing unsealed. A sealed output says
/// `"sealed": true`.
#[test]
fn verify_fails_an_output_no_seal_covers_naming_what_is_missing() {
    let lab = Lab::new();
    lab.build();
    let out = lab.out_dir();
    let sealed = lab
        .seedforge()
        .args(["--json", "verify"])
        .arg(&out)
        .run()
        .json();
    assert_eq!(sealed["sealed"], true, "{sealed}");
    // What a first build killed before its seal leaves: its state, no seal, a seed short.
    for f in ["SHA256SUMS", "manifest.json", "iso/seed-lab-agent2.iso"] {
        fs::remove_file(out.join(f)).unwrap();
    }
    assert!(out.join(".seedforge/state.json").is_file());
    let r = lab.seedforge().arg("verify").arg(&out).expect(1).run();
    assert!(
        r.stderr
            .contains("a build output with no seal (SHA256SUMS and manifest.json missing)"),
        "{}",
        r.stderr
    );
    let doc = lab
        .seedforge()
        .args(["--json", "verify"])
        .arg(&out)
        .expect(1)
        .run()
        .json();
    assert_eq!(doc["sealed"], false, "{doc}");
    assert_eq!(
        doc["missing"],
        serde_json::json!(["SHA256SUMS", "manifest.json"]),
        "{doc}"
    );
    assert!(
        doc["error"].is_object() || doc["error"].is_string(),
        "{doc}"
    );
    // The next build finishes it, and it verifies sealed.
    lab.build();
    lab.seedforge().arg("verify").arg(&out).run();
    // Unsealed again: `clean` removes what the build state says the build wrote (the seeds
    // with the join token among it), and nothing else.
    for f in ["SHA256SUMS", "manifest.json"] {
        fs::remove_file(out.join(f)).unwrap();
    }
    fs::write(out.join("notes.txt"), "mine\n").unwrap();
    let seed = out.join("iso/seed-lab-agent1.iso");
    assert!(seed.is_file());
    lab.seedforge().arg("clean").arg(&out).run();
    assert!(!seed.exists(), "the seed stayed");
    assert!(!out.join(".seedforge").exists(), "the build state stayed");
    assert_eq!(fs::read_to_string(out.join("notes.txt")).unwrap(), "mine\n");
    // And the next build starts over and seals.
    lab.build();
    lab.seedforge().arg("verify").arg(&out).run();
}
