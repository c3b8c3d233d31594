//! `verify` never skips a check because a file is large: a payload ISO whose
//! `payload/SHA256SUMS` is big (thousands of files) is still checked line by line, and a
//! file beyond the reader's cap fails the check, naming the file and the limit.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use crate::common;

use common::{Lab, sha256_bytes};
use std::fs;
use std::path::{Path, PathBuf};

/// The label of a shared payload ISO.
const PAYLOAD_LABEL: &str = "SEEDPAYLOAD";

/// Writes `iso` from `dir` with `seedforge iso`.
fn write_iso(lab: &Lab, dir: &Path, label: &str, iso: &Path) {
    lab.seedforge()
        .args(["iso", "--label", label, "--out"])
        .arg(iso)
        .arg(dir)
        .run();
}

/// A payload tree of `files` files with long names, listed in a `SHA256SUMS` of more than
/// 1 MiB; the digest of the file `wrong` names is not its own. Returns the tree.
fn big_payload(lab: &Lab, files: usize, wrong: usize) -> PathBuf {
    let tree = lab.root().join("tree");
    let payload = tree.join("payload");
    fs::create_dir_all(&payload).unwrap();
    let mut sums = String::new();
    for i in 0..files {
        let name = format!("{i:05}-{}", "x".repeat(200));
        let body = format!("file {i}\n");
        fs::write(payload.join(&name), &body).unwrap();
        let hex = if i == wrong {
            sha256_bytes(b"other bytes")
        } else {
            sha256_bytes(body.as_bytes())
        };
        sums.push_str(&format!("{hex}  {name}\n"));
    }
    assert!(sums.len() > 1 << 20, "the list must pass 1 MiB");
    fs::write(payload.join("SHA256SUMS"), sums).unwrap();
    tree
}

/// Runs `seedforge verify TARGET`, expecting a failure; returns stderr.
fn verify_fails(lab: &Lab, target: &Path) -> String {
    let out = lab.seedforge().arg("verify").arg(target).any_status().run();
    assert_eq!(out.code, Some(1), "verify must fail:\n{}", out.stderr);
    out.stderr
}

#[test]
fn a_wrong_digest_in_a_payload_sums_file_over_1_mib_fails_verify() {
    let lab = Lab::new();
    let tree = big_payload(&lab, 4_400, 4_321);
    let wrong = format!("payload/04321-{}", "x".repeat(200));
    // Alone, and in an output folder's iso/ (how `verify OUT` finds it).
    let out_dir = lab.root().join("out");
    fs::create_dir_all(out_dir.join("iso")).unwrap();
    let iso = out_dir.join("iso/payload.iso");
    write_iso(&lab, &tree, PAYLOAD_LABEL, &iso);
    for target in [&iso, &out_dir] {
        let stderr = verify_fails(&lab, target);
        assert!(
            stderr.contains(&wrong) && stderr.contains("SHA256SUMS says"),
            "verify {}: the wrong digest is named\n{stderr}",
            target.display()
        );
    }
    // The same list with every digest right passes: the size itself is no problem.
    let sums = tree.join("payload/SHA256SUMS");
    let text = fs::read_to_string(&sums).unwrap();
    let right = sha256_bytes(b"file 4321\n");
    fs::write(&sums, text.replace(&sha256_bytes(b"other bytes"), &right)).unwrap();
    write_iso(&lab, &tree, PAYLOAD_LABEL, &iso);
    lab.seedforge().arg("verify").arg(&iso).run();
}

#[test]
fn a_payload_sums_file_over_the_cap_fails_verify_naming_file_and_limit() {
    let lab = Lab::new();
    let tree = lab.root().join("tree");
    fs::create_dir_all(tree.join("payload")).unwrap();
    fs::write(tree.join("payload/a"), "a\n").unwrap();
    // 64 MiB and one byte: zeros, written sparse.
    let sums = fs::File::create(tree.join("payload/SHA256SUMS")).unwrap();
    sums.set_len((64 << 20) + 1).unwrap();
    drop(sums);
    let iso = lab.root().join("p.iso");
    write_iso(&lab, &tree, PAYLOAD_LABEL, &iso);
    let stderr = verify_fails(&lab, &iso);
    assert!(
        stderr.contains("payload/SHA256SUMS: 67108865 bytes, larger than the 67108864-byte limit"),
        "{stderr}"
    );
}

#[test]
fn a_seed_payload_reference_over_its_cap_fails_verify() {
    let lab = Lab::new();
    let tree = lab.root().join("tree");
    fs::create_dir_all(&tree).unwrap();
    fs::write(tree.join("user-data"), "#cloud-config\n").unwrap();
    fs::write(tree.join("meta-data"), "instance-id: a\n").unwrap();
    let line = format!("{}  payload/SHA256SUMS\n", sha256_bytes(b"x"));
    fs::write(tree.join("payload.sha256"), line.repeat(64)).unwrap();
    let iso = lab.root().join("seed.iso");
    write_iso(&lab, &tree, "cidata", &iso);
    let stderr = verify_fails(&lab, &iso);
    assert!(
        stderr.contains("payload.sha256:") && stderr.contains("4096-byte limit"),
        "{stderr}"
    );
}

#[test]
fn a_payload_iso_without_its_sums_file_fails_verify() {
    let lab = Lab::new();
    let tree = lab.root().join("tree");
    fs::create_dir_all(tree.join("payload")).unwrap();
    fs::write(tree.join("payload/a"), "a\n").unwrap();
    let iso = lab.root().join("p.iso");
    write_iso(&lab, &tree, PAYLOAD_LABEL, &iso);
    let stderr = verify_fails(&lab, &iso);
    assert!(stderr.contains("no payload/SHA256SUMS"), "{stderr}");
}

#[test]
fn a_manifest_over_the_document_cap_fails_verify_of_a_layout() {
    let lab = Lab::new();
    let layout = lab.root().join("layout");
    let blobs = layout.join("blobs/sha256");
    fs::create_dir_all(&blobs).unwrap();
    fs::write(
        layout.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    // A manifest of 17 MiB whose config is missing: its bytes hash right, so only walking
    // it finds the missing config.
    let config = format!("sha256:{}", sha256_bytes(b"{}"));
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config}","size":2}},"layers":[],"annotations":{{"pad":"{}"}}}}"#,
        "x".repeat(17 << 20)
    );
    let hex = sha256_bytes(manifest.as_bytes());
    fs::write(blobs.join(&hex), &manifest).unwrap();
    fs::write(
        layout.join("index.json"),
        format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:{hex}","size":{},"annotations":{{"org.opencontainers.image.ref.name":"big:1"}}}}]}}"#,
            manifest.len()
        ),
    )
    .unwrap();
    let stderr = verify_fails(&lab, &layout);
    assert!(
        stderr.contains(&hex) && stderr.contains("byte limit"),
        "the manifest and the limit are named\n{stderr}"
    );
}

#[test]
fn a_previous_manifest_over_its_cap_fails_the_seal_instead_of_keeping_orphans() {
    let lab = Lab::new();
    lab.build();
    let out = lab.out_dir();
    assert!(out.join("nodes/lab-agent2/user-data").is_file());
    // 64 MiB and one byte: the seal cannot tell which earlier files to remove.
    let manifest = fs::File::create(out.join("manifest.json")).unwrap();
    manifest.set_len((64 << 20) + 1).unwrap();
    drop(manifest);
    let config = lab.lab_dir().join("seedforge.yaml");
    let text = fs::read_to_string(&config).unwrap();
    let without = text.replace(
        "  - name: lab-agent2\n    role: agent\n    address: 192.168.6.12/24\n",
        "",
    );
    assert_ne!(text, without);
    fs::write(&config, without).unwrap();
    let run = lab
        .seedforge()
        .args(["build", "--config", lab.config_arg()])
        .any_status()
        .run();
    assert_ne!(run.code, Some(0), "the seal must fail:\n{}", run.stderr);
    assert!(
        run.stderr.contains("manifest.json") && run.stderr.contains("67108864-byte limit"),
        "{}",
        run.stderr
    );
}

#[test]
fn an_iso_folder_that_cannot_be_listed_fails_verify_of_a_layout() {
    let lab = Lab::new();
    let out = lab.root().join("out");
    lab.seedforge()
        .args(["mirror", "--layout"])
        .arg(out.join("oci"))
        .arg("--images")
        .arg(lab.lab_dir().join("images.txt"))
        .run();
    lab.seedforge().arg("verify").arg(&out).run();
    // `iso` that is not a folder: its images cannot be seen, so they cannot pass.
    fs::write(out.join("iso"), "not a folder").unwrap();
    let stderr = verify_fails(&lab, &out);
    assert!(
        stderr.contains("iso") && stderr.contains("cannot list"),
        "the unreadable iso/ is named\n{stderr}"
    );
}
