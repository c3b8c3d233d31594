//! The build's seed ISOs: one per node, found by cloud-init (blkid label `cidata`, the
//! NoCloud names visible through Rock Ridge and Joliet), holding exactly the node's rendered
//! files and a payload whose SHA256SUMS `sha256sum -c` accepts.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use common::{Cmd, Lab, require_tool};
use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

const NODES: [&str; 3] = ["lab-agent1", "lab-agent2", "lab-server1"];

fn built() -> Lab {
    let lab = Lab::new();
    lab.build();
    lab
}

fn iso(lab: &Lab, node: &str) -> std::path::PathBuf {
    lab.out_dir().join("iso").join(format!("seed-{node}.iso"))
}

#[test]
fn every_node_gets_a_private_seed_iso_that_blkid_calls_cidata() {
    let lab = built();
    for node in NODES {
        let path = iso(&lab, node);
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{node}: the seed carries the join token");
        if require_tool("blkid") {
            let out = Cmd::new("blkid").arg("-p").arg(&path).run();
            assert!(
                out.stdout.contains("LABEL=\"cidata\"") && out.stdout.contains("TYPE=\"iso9660\""),
                "{node}: {}",
                out.stdout
            );
        }
    }
    let mut names: Vec<String> = fs::read_dir(lab.out_dir().join("iso"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        NODES.map(|n| format!("seed-{n}.iso")),
        "only the seeds: staging trees are removed"
    );
}

fn extract(path: &Path, to: &Path) {
    Cmd::new("osirrox")
        .args(["-indev"])
        .arg(path)
        .args(["-extract", "/"])
        .arg(to)
        .run();
}

#[test]
fn the_seed_holds_the_node_files_and_a_payload_that_checks() {
    if !require_tool("osirrox") || !require_tool("sha256sum") {
        return;
    }
    let lab = built();
    for node in NODES {
        let dir = lab.root().join(format!("x-{node}"));
        extract(&iso(&lab, node), &dir);
        for file in ["user-data", "meta-data", "network-config"] {
            assert_eq!(
                fs::read(dir.join(file)).unwrap(),
                fs::read(lab.out_dir().join("nodes").join(node).join(file)).unwrap(),
                "{node}/{file}"
            );
        }
        let payload = dir.join("payload");
        for expected in [
            "SHA256SUMS",
            &lab.carried_archive(),
            "pki/ca.crt",
            "registries.yaml",
        ] {
            assert!(
                payload.join(expected).is_file(),
                "{node}: payload/{expected}"
            );
        }
        Cmd::new("sha256sum")
            .args(["--strict", "-c", "SHA256SUMS"])
            .cwd(&payload)
            .run();
        // The bootstrap's own check refuses a damaged payload.
        common::flip_byte(&payload.join("registries.yaml"), 3);
        let out = Cmd::new("sha256sum")
            .args(["--quiet", "--strict", "-c", "SHA256SUMS"])
            .cwd(&payload)
            .any_status()
            .run();
        assert_ne!(
            out.code,
            Some(0),
            "{node}: a damaged payload must not check"
        );
    }
}

#[test]
fn isoinfo_lists_the_nocloud_names_through_rock_ridge_and_joliet() {
    if !require_tool("isoinfo") {
        return;
    }
    let lab = built();
    let path = iso(&lab, "lab-server1");
    for flag in ["-R", "-J"] {
        let out = Cmd::new("isoinfo")
            .args([flag, "-f", "-i"])
            .arg(&path)
            .run();
        for name in [
            "/user-data",
            "/meta-data",
            "/network-config",
            "/payload/SHA256SUMS",
        ] {
            assert!(
                out.stdout.lines().any(|l| l == name),
                "isoinfo {flag}: {name} missing:\n{}",
                out.stdout
            );
        }
    }
}

/// Every node's files go after the directories, so the seeds of one build share every
/// byte before them, the payload included (the build hashes that prefix once); blkid,
/// isoinfo, 7-Zip and pycdlib read that layout, and the digests the build recorded are
/// the ones `sha256sum` computes.
#[test]
fn seeds_share_their_payload_prefix_and_the_judges_read_them() {
    let lab = built();
    let images: Vec<Vec<u8>> = NODES
        .iter()
        .map(|n| fs::read(iso(&lab, n)).unwrap())
        .collect();
    // The larger part of every payload: the airgap archives.
    let payload_bytes = walk_sizes(&lab.out_dir().join("airgap"));
    assert!(payload_bytes > 4096, "airgap/ holds {payload_bytes} bytes");
    for pair in images.windows(2) {
        let common = pair[0]
            .iter()
            .zip(&pair[1])
            .take_while(|(a, b)| a == b)
            .count() as u64;
        assert!(
            common > payload_bytes && common < pair[0].len() as u64,
            "the seeds share {common} bytes; the payload is {payload_bytes}"
        );
        assert_eq!(pair[0].len(), pair[1].len(), "padded to the same size");
    }
    let sums = fs::read_to_string(lab.out_dir().join("SHA256SUMS")).unwrap();
    for node in NODES {
        let path = iso(&lab, node);
        let rendered = lab.out_dir().join("nodes").join(node);
        if require_tool("sha256sum") {
            let out = Cmd::new("sha256sum").arg(&path).run();
            let line = format!(
                "{}  iso/seed-{node}.iso",
                out.stdout.split_whitespace().next().unwrap()
            );
            assert!(sums.lines().any(|l| l == line), "{node}: {line} not sealed");
        }
        if require_tool("blkid") {
            let out = Cmd::new("blkid").arg("-p").arg(&path).run();
            assert!(out.stdout.contains("LABEL=\"cidata\""), "{}", out.stdout);
        }
        if require_tool("isoinfo") {
            for flags in [&["-R"][..], &["-J"]] {
                let listed = common::iso::isoinfo_paths(&path, flags);
                assert!(
                    [
                        "user-data",
                        "meta-data",
                        "network-config",
                        "payload/SHA256SUMS"
                    ]
                    .iter()
                    .all(|n| listed.iter().any(|l| l == n)),
                    "isoinfo {flags:?}: {listed:?}"
                );
            }
        }
        if require_tool("7z") {
            let listed = common::iso::sevenzip_listing(&path);
            let size = fs::metadata(rendered.join("user-data")).unwrap().len();
            assert_eq!(listed.get("user-data"), Some(&Some(size)), "7z: {listed:?}");
        }
        if let Some(python) = common::iso::pycdlib_python() {
            let files = common::iso::pycdlib_files(&python, &path, &[]);
            for tree in ["rr", "joliet"] {
                for name in ["user-data", "meta-data", "network-config"] {
                    let want = fs::read(rendered.join(name)).unwrap();
                    let got = &files[&(tree.to_string(), name.to_string())];
                    assert_eq!(
                        (got.0, got.1.as_str()),
                        (want.len() as u64, common::sha256_bytes(&want).as_str()),
                        "pycdlib {tree} {node}/{name}"
                    );
                }
            }
        }
    }
}

fn walk_sizes(dir: &Path) -> u64 {
    let Ok(read) = fs::read_dir(dir) else {
        return 0;
    };
    read.map(|e| {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            walk_sizes(&e.path())
        } else {
            e.metadata().unwrap().len()
        }
    })
    .sum()
}

#[test]
fn a_rebuild_gives_byte_identical_seeds() {
    let lab = built();
    let first: Vec<Vec<u8>> = NODES
        .iter()
        .map(|n| fs::read(iso(&lab, n)).unwrap())
        .collect();
    lab.build();
    for (node, bytes) in NODES.iter().zip(first) {
        assert!(
            fs::read(iso(&lab, node)).unwrap() == bytes,
            "{node}: seed changed"
        );
    }
}

#[test]
fn verify_json_is_one_document_with_the_layout_and_every_seed() {
    let lab = built();
    let doc = lab
        .seedforge()
        .arg("--json")
        .arg("verify")
        .arg(lab.out_dir())
        .run()
        .json();
    assert_eq!(doc["problems"].as_array().unwrap().len(), 0, "{doc}");
    assert_eq!(doc["iso"].as_array().unwrap().len(), NODES.len(), "{doc}");
}
