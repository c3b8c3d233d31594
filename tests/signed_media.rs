//! The courier as attacker on the other media: a signed build's output and its export
//! folder in 1 MiB parts (`join.sh` beside them) each carry a `statement.json` of every
//! file there, signed with the seal's key. `verify --key` checks it first: its signature
//! stripped, the statement edited, another key's signature, a file added (one under
//! `.git/`, one among the nodes' files), a file or `join.sh` or a part edited with
//! `SHA256SUMS` made to agree: each refused with exit != 0 naming what is wrong. cosign's
//! `verify-blob --bundle --key` checks the output's statement with the public key alone.
//! Two builds of the same inputs write the same statement, byte for byte; a node taken out
//! of the config leaves none of its seed's parts in the export folder.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::{self, Cmd, Lab};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// An Ed25519 key pair made by openssl: `NAME.key` and `NAME.pub` in `dir`.
fn key_pair(dir: &Path, name: &str) {
    Cmd::new("openssl")
        .args(["genpkey", "-algorithm", "ed25519", "-out"])
        .arg(dir.join(format!("{name}.key")))
        .run();
    Cmd::new("openssl")
        .args(["pkey", "-pubout", "-in"])
        .arg(dir.join(format!("{name}.key")))
        .arg("-out")
        .arg(dir.join(format!("{name}.pub")))
        .run();
}

/// The lab signed with `seal.key` (its public half `seal.pub` beside it), a `files:` entry
/// of 2,500,000 bytes in every seed, exported to `export` in 1 MiB parts; built.
fn signed_lab() -> Lab {
    let lab = Lab::new();
    let dir = lab.lab_dir();
    key_pair(&dir, "seal");
    let motd: Vec<u8> = (0..2_500_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    fs::write(dir.join("motd.txt"), &motd).unwrap();
    let config = dir.join("seedforge.yaml");
    let text = fs::read_to_string(&config).unwrap();
    fs::write(
        &config,
        format!(
            "{text}\nfiles:\n  - name: etc/motd.txt\n    source: motd.txt\n    sha256: \"{}\"\nseal:\n  key: seal.key\n  public_key: seal.pub\nexport_dir: export\nexport_split: 1MiB\n",
            common::sha256_bytes(&motd)
        ),
    )
    .unwrap();
    lab.build();
    lab
}

/// `SHA256SUMS` of `dir` made to agree with the files `rels` as they are now, as an editor
/// of the medium would.
fn agree(dir: &Path, rels: &[&str]) {
    let path = dir.join("SHA256SUMS");
    let mut lines: Vec<(String, String)> = fs::read_to_string(&path)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once("  "))
        .map(|(h, p)| (p.to_string(), h.to_string()))
        .filter(|(p, _)| !rels.contains(&p.as_str()))
        .collect();
    for rel in rels {
        if let Ok(bytes) = fs::read(dir.join(rel)) {
            lines.push((rel.to_string(), common::sha256_bytes(&bytes)));
        }
    }
    lines.sort();
    let text: String = lines.iter().map(|(p, h)| format!("{h}  {p}\n")).collect();
    fs::write(path, text).unwrap();
}

type Edit = Box<dyn Fn(&Path)>;

/// `verify --key PUB` of a fresh copy of `medium` edited by each attack: refused (exit
/// != 0), naming each of the attack's words.
fn each_refused(lab: &Lab, public: &Path, medium: &Path, attacks: Vec<(&str, Edit, Vec<&str>)>) {
    for (i, (what, edit, named)) in attacks.into_iter().enumerate() {
        let copy = lab.root().join(format!("attacked-{i}"));
        common::copy_tree(medium, &copy, &|p| p.ends_with(".seedforge-build.lock"));
        edit(&copy);
        let out = lab
            .seedforge()
            .args(["verify", "--key"])
            .arg(public)
            .arg(&copy)
            .any_status()
            .run();
        assert!(
            out.code.is_some_and(|c| c != 0),
            "{what}: verify --key passed:\n{}\n{}",
            out.stdout,
            out.stderr
        );
        for word in named {
            assert!(
                out.stderr.contains(word),
                "{what}: the refusal does not name {word:?}:\n{}",
                out.stderr
            );
        }
        fs::remove_dir_all(&copy).unwrap();
    }
}

fn statement_of(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&fs::read(dir.join("statement.json")).unwrap()).unwrap()
}

#[test]
fn a_signed_output_and_its_export_are_signed_whole_and_refuse_every_edit_by_name() {
    let lab = signed_lab();
    let out = lab.out_dir();
    let export = lab.lab_dir().join("export");
    let public = lab.lab_dir().join("seal.pub");

    // The output's statement lists every file of it but its own state.
    let statement = statement_of(&out);
    assert_eq!(statement["medium"], "output");
    let files = statement["files"].as_object().unwrap();
    for rel in [
        "manifest.json",
        "manifest.json.sigstore.json",
        "SHA256SUMS",
        "keys/seal.pub",
        "sbom/provenance.json",
    ] {
        assert!(files.contains_key(rel), "{rel} not in the statement");
    }
    assert!(files.keys().any(|k| k.starts_with("oci/blobs/sha256/")));
    assert!(!files.keys().any(|k| k.starts_with(".seedforge")));
    // The export's: every part, join.sh, the wholes.
    let exported = statement_of(&export);
    assert_eq!(exported["medium"], "export");
    let files = exported["files"].as_object().unwrap();
    assert!(files.contains_key("join.sh") && files.contains_key("manifest.json.sigstore.json"));
    assert!(files.keys().any(|k| k.contains(".iso.part")));
    assert!(!exported["wholes"].as_object().unwrap().is_empty());

    // Honest: both verify with the public key.
    for medium in [&out, &export] {
        let ok = lab
            .seedforge()
            .args(["verify", "--key"])
            .arg(&public)
            .arg(medium)
            .run();
        assert!(
            ok.stdout.contains("statement.json: verified"),
            "{}",
            ok.stdout
        );
    }
    // cosign checks the output's statement with the public key alone.
    if let Some(cosign) = common::sigstore::cosign() {
        common::sigstore::cosign_cmd(&cosign, &lab.root().join("cosign-home"))
            .args(["verify-blob", "--key"])
            .arg(&public)
            .arg("--bundle")
            .arg(out.join("statement.json.sigstore.json"))
            .arg("--insecure-ignore-tlog")
            .arg(out.join("statement.json"))
            .timeout(Duration::from_secs(60))
            .run();
    }

    // The same inputs built again in another folder (with the same CA, `pki/`, and site): the same
    // statement, byte for byte. Then built there with another key: its signature is
    // another key's.
    let other = lab.far_copy("other");
    let other_lab = other.join("fixtures/lab");
    let afresh = || {
        fs::remove_dir_all(other_lab.join("export")).unwrap();
        for entry in fs::read_dir(other_lab.join("out")).unwrap() {
            let path = entry.unwrap().path();
            // The CA and the site, which an output keeps across rebuilds.
            if path.ends_with("pki") || path.ends_with("site.json") {
                continue;
            }
            match path.is_dir() {
                true => fs::remove_dir_all(&path).unwrap(),
                false => fs::remove_file(&path).unwrap(),
            }
        }
    };
    afresh();
    let build = |cwd: &Path| {
        Cmd::seedforge()
            .cwd(cwd)
            .args(["build", "--config", "fixtures/lab/seedforge.yaml"])
            .run()
    };
    build(&other);
    assert_eq!(
        fs::read(other_lab.join("out/statement.json")).unwrap(),
        fs::read(out.join("statement.json")).unwrap()
    );
    assert_eq!(
        fs::read(other_lab.join("export/statement.json")).unwrap(),
        fs::read(export.join("statement.json")).unwrap()
    );
    afresh();
    key_pair(&other_lab, "seal");
    build(&other);
    let foreign: PathBuf = other_lab.join("out/statement.json.sigstore.json");
    let foreign_export: PathBuf = other_lab.join("export/statement.json.sigstore.json");

    let output_attacks: Vec<(&str, Edit, Vec<&str>)> = vec![
        (
            "statement's signature stripped",
            Box::new(|d: &Path| fs::remove_file(d.join("statement.json.sigstore.json")).unwrap()),
            vec!["statement.json.sigstore.json", "missing"],
        ),
        (
            "statement edited to list a planted file",
            Box::new(|d: &Path| {
                let mut s = statement_of(d);
                fs::write(d.join("planted.txt"), "x").unwrap();
                s["files"]["planted.txt"] =
                    serde_json::json!({"size": 1, "sha256": common::sha256_bytes(b"x")});
                fs::write(
                    d.join("statement.json"),
                    serde_json::to_vec_pretty(&s).unwrap(),
                )
                .unwrap();
            }),
            vec!["statement.json.sigstore.json", "does not verify"],
        ),
        (
            "another key's signature",
            Box::new(move |d: &Path| {
                fs::copy(&foreign, d.join("statement.json.sigstore.json")).unwrap();
            }),
            vec!["statement.json.sigstore.json", "does not verify"],
        ),
        (
            "the manifest's signature in the statement's place",
            Box::new(|d: &Path| {
                fs::copy(
                    d.join("manifest.json.sigstore.json"),
                    d.join("statement.json.sigstore.json"),
                )
                .unwrap();
            }),
            vec!["statement.json.sigstore.json", "does not verify"],
        ),
        (
            ".git/config planted",
            Box::new(|d: &Path| {
                fs::create_dir_all(d.join(".git")).unwrap();
                fs::write(
                    d.join(".git/config"),
                    "[core]\n\tfsmonitor = touch /tmp/x\n",
                )
                .unwrap();
            }),
            vec![".git/config", "not listed"],
        ),
        (
            "a file planted among a node's files, SHA256SUMS agreeing",
            Box::new(|d: &Path| {
                fs::write(d.join("nodes/lab-agent1/extra.sh"), "#!/bin/sh\n").unwrap();
                agree(d, &["nodes/lab-agent1/extra.sh"]);
            }),
            vec!["nodes/lab-agent1/extra.sh"],
        ),
        (
            "a node's user-data edited, SHA256SUMS agreeing",
            Box::new(|d: &Path| {
                let path = d.join("nodes/lab-agent1/user-data");
                let mut text = fs::read_to_string(&path).unwrap();
                text.push_str("# edited\n");
                fs::write(&path, text).unwrap();
                agree(d, &["nodes/lab-agent1/user-data"]);
            }),
            vec!["nodes/lab-agent1/user-data", "statement.json"],
        ),
        (
            "a byte of a node's user-data flipped, SHA256SUMS agreeing",
            Box::new(|d: &Path| {
                common::flip_byte(&d.join("nodes/lab-agent1/user-data"), 10);
                agree(d, &["nodes/lab-agent1/user-data"]);
            }),
            vec!["SHA256SUMS", "statement.json"],
        ),
    ];
    each_refused(&lab, &public, &out, output_attacks);

    let part = (exported["files"].as_object().unwrap().keys())
        .find(|k| k.contains(".iso.part"))
        .unwrap()
        .clone();
    let export_attacks: Vec<(&str, Edit, Vec<&str>)> = vec![
        (
            "join.sh edited, SHA256SUMS agreeing",
            Box::new(|d: &Path| {
                let path = d.join("join.sh");
                let text = fs::read_to_string(&path).unwrap();
                fs::write(&path, text.replacen('\n', "\ntouch /tmp/owned\n", 1)).unwrap();
                agree(d, &["join.sh"]);
            }),
            vec!["join.sh"],
        ),
        (
            "join.sh edited and the statement's signature stripped",
            Box::new(|d: &Path| {
                let path = d.join("join.sh");
                let text = fs::read_to_string(&path).unwrap();
                fs::write(&path, text.replacen('\n', "\ntouch /tmp/owned\n", 1)).unwrap();
                agree(d, &["join.sh"]);
                fs::remove_file(d.join("statement.json.sigstore.json")).unwrap();
            }),
            vec!["join.sh"],
        ),
        (
            "a part edited, SHA256SUMS agreeing",
            Box::new(move |d: &Path| {
                common::flip_byte(&d.join(&part), 100);
                agree(d, &[part.as_str()]);
            }),
            vec!["SHA256SUMS"],
        ),
        (
            "another key's signature",
            Box::new(move |d: &Path| {
                fs::copy(&foreign_export, d.join("statement.json.sigstore.json")).unwrap();
            }),
            vec!["statement.json.sigstore.json", "does not verify"],
        ),
        (
            "a file added",
            Box::new(|d: &Path| fs::write(d.join("autorun.sh"), "#!/bin/sh\n").unwrap()),
            vec!["autorun.sh", "not listed"],
        ),
    ];
    each_refused(&lab, &public, &export, export_attacks);

    // A node taken out of the config, rebuilt: none of its seed's parts stays behind.
    assert!(fs::read_dir(&export).unwrap().any(|e| {
        (e.unwrap().file_name().to_string_lossy()).starts_with("seed-lab-agent2.iso")
    }));
    let config = lab.lab_dir().join("seedforge.yaml");
    let text = fs::read_to_string(&config).unwrap();
    let dropped = text.replace(
        "  - name: lab-agent2\n    role: agent\n    address: 192.168.6.12/24\n",
        "",
    );
    assert_ne!(dropped, text);
    fs::write(&config, dropped).unwrap();
    lab.build();
    let left: Vec<String> = (fs::read_dir(&export).unwrap())
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("lab-agent2"))
        .collect();
    assert!(left.is_empty(), "left in the export folder: {left:?}");
    lab.seedforge()
        .args(["verify", "--key"])
        .arg(&public)
        .arg(&export)
        .run();
}
