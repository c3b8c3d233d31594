//! `seeds: {payload: shared}`: one payload ISO (label `SEEDPAYLOAD`) carrying the payload
//! once, and per-node seeds of a few KiB that name it by the digest of its `SHA256SUMS`.
//! Judged by blkid, isoinfo, osirrox, pycdlib and sha256sum; rebuilt only when the payload
//! changes; byte-identical when built again; known to the seal, verify, clean, export and
//! plan; the autoinstall late-commands install it from the payload medium and refuse a
//! stale one.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use common::{Cmd, Lab, require_tool};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

const NODES: [&str; 3] = ["lab-agent1", "lab-agent2", "lab-server1"];
const LABEL: &str = "SEEDPAYLOAD";

/// The demo lab with `extra` appended to its config.
fn lab_with(extra: &str) -> Lab {
    let lab = Lab::new();
    let config = lab.lab_dir().join("seedforge.yaml");
    let text = fs::read_to_string(&config).unwrap();
    fs::write(&config, format!("{text}{extra}")).unwrap();
    lab
}

fn shared_lab() -> Lab {
    lab_with("\nseeds:\n  payload: shared\n")
}

fn build_json(lab: &Lab) -> Value {
    lab.seedforge()
        .args(["--json", "build", "--config", lab.config_arg()])
        .run()
        .json()
}

fn payload_iso(lab: &Lab) -> PathBuf {
    lab.out_dir().join("iso/payload.iso")
}

fn seed(lab: &Lab, node: &str) -> PathBuf {
    lab.out_dir().join("iso").join(format!("seed-{node}.iso"))
}

fn extract(iso: &Path, to: &Path) {
    Cmd::new("osirrox")
        .arg("-indev")
        .arg(iso)
        .args(["-extract", "/"])
        .arg(to)
        .run();
}

/// Step key → `ran` or `skipped`.
fn statuses(report: &Value) -> BTreeMap<String, String> {
    report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["key"].as_str().unwrap().to_string(),
                s["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Every file under `root`, relative, sorted.
fn relative_files(root: &Path) -> Vec<String> {
    let mut v: Vec<String> = common::files_under(root)
        .iter()
        .map(|p| p.strip_prefix(root).unwrap().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn one_payload_iso_and_small_private_seeds_that_blkid_tells_apart() {
    let lab = shared_lab();
    lab.build();
    let mut names: Vec<String> = fs::read_dir(lab.out_dir().join("iso"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut expected: Vec<String> = NODES.iter().map(|n| format!("seed-{n}.iso")).collect();
    expected.insert(0, "payload.iso".into());
    assert_eq!(
        names, expected,
        "one payload ISO and the seeds, no staging trees"
    );
    for path in NODES
        .map(|n| seed(&lab, n))
        .iter()
        .chain([&payload_iso(&lab)])
    {
        let mode = fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", path.display());
    }
    for node in NODES {
        // The ISO 9660 floor (32 KiB of system area, the descriptors, three trees) and
        // the NoCloud files, whatever the payload's size.
        let size = fs::metadata(seed(&lab, node)).unwrap().len();
        assert!(size < 128 * 1024, "{node}: a shared seed of {size} bytes");
    }
    if require_tool("blkid") {
        let out = Cmd::new("blkid").arg("-p").arg(payload_iso(&lab)).run();
        assert!(
            out.stdout.contains(&format!("LABEL=\"{LABEL}\""))
                && out.stdout.contains("TYPE=\"iso9660\""),
            "{}",
            out.stdout
        );
        for node in NODES {
            let out = Cmd::new("blkid").arg("-p").arg(seed(&lab, node)).run();
            assert!(
                out.stdout.contains("LABEL=\"cidata\"") && out.stdout.contains("TYPE=\"iso9660\""),
                "{node}: {}",
                out.stdout
            );
        }
    }
}

#[test]
fn the_seed_names_the_payload_that_the_payload_iso_carries_whole() {
    if !require_tool("osirrox") || !require_tool("sha256sum") {
        return;
    }
    // The same lab built all-in-one first: the same payload (the PKI is kept).
    let lab = Lab::new();
    lab.build();
    let whole_seed = lab.root().join("whole");
    extract(&seed(&lab, "lab-server1"), &whole_seed);
    let whole_nodes = lab.root().join("whole-nodes");
    common::copy_tree(&lab.out_dir().join("nodes"), &whole_nodes, &|_| false);
    let config = lab.lab_dir().join("seedforge.yaml");
    let text = fs::read_to_string(&config).unwrap();
    fs::write(&config, format!("{text}\nseeds:\n  payload: shared\n")).unwrap();
    lab.build();
    let payload = lab.root().join("payload");
    extract(&payload_iso(&lab), &payload);
    let files = relative_files(&payload);
    assert!(
        files.iter().all(|f| f.starts_with("payload/")),
        "only payload/ on the payload ISO: {files:?}"
    );
    assert_eq!(
        fs::read(payload.join("payload/SHA256SUMS")).unwrap(),
        fs::read(whole_seed.join("payload/SHA256SUMS")).unwrap(),
        "the payload is the one an all-in-one seed carries"
    );
    Cmd::new("sha256sum")
        .args(["--quiet", "--strict", "-c", "SHA256SUMS"])
        .cwd(payload.join("payload"))
        .run();
    for node in NODES {
        let dir = lab.root().join(format!("x-{node}"));
        extract(&seed(&lab, node), &dir);
        assert_eq!(
            relative_files(&dir),
            ["meta-data", "network-config", "payload.sha256", "user-data"],
            "{node}: the NoCloud files and the payload's name, no payload"
        );
        for file in ["user-data", "meta-data", "network-config"] {
            assert_eq!(
                fs::read(dir.join(file)).unwrap(),
                fs::read(lab.out_dir().join("nodes").join(node).join(file)).unwrap(),
                "{node}/{file}"
            );
        }
        // payload.sha256 checks from the payload medium's root, as the node checks it.
        fs::copy(dir.join("payload.sha256"), payload.join("payload.sha256")).unwrap();
        Cmd::new("sha256sum")
            .args(["--strict", "-c", "payload.sha256"])
            .cwd(&payload)
            .run();
        // The instance-id covers the payload, as in all-in-one mode.
        assert_eq!(
            fs::read(dir.join("meta-data")).unwrap(),
            fs::read(whole_nodes.join(node).join("meta-data")).unwrap(),
            "{node}: same payload, same instance"
        );
    }
    // A payload that no longer matches the name is refused by the same check.
    common::flip_byte(&payload.join("payload/SHA256SUMS"), 5);
    let out = Cmd::new("sha256sum")
        .args(["--quiet", "--strict", "-c", "payload.sha256"])
        .cwd(&payload)
        .any_status()
        .run();
    assert_ne!(out.code, Some(0));
}

#[test]
fn isoinfo_and_pycdlib_read_both_kinds() {
    let lab = shared_lab();
    lab.build();
    let seed = seed(&lab, "lab-agent1");
    let payload = payload_iso(&lab);
    if require_tool("isoinfo") {
        for flag in ["-R", "-J"] {
            let seed_paths = common::iso::isoinfo_paths(&seed, &[flag]);
            for name in ["user-data", "meta-data", "network-config", "payload.sha256"] {
                assert!(
                    seed_paths.iter().any(|p| p == name),
                    "seed, isoinfo {flag}: {name}\n{seed_paths:?}"
                );
            }
            assert!(
                !seed_paths.iter().any(|p| p.starts_with("payload/")),
                "seed, isoinfo {flag}: no payload\n{seed_paths:?}"
            );
            let payload_paths = common::iso::isoinfo_paths(&payload, &[flag]);
            for name in [
                "payload/SHA256SUMS".to_string(),
                format!("payload/{}", lab.carried_archive()),
                "payload/registries.yaml".to_string(),
            ] {
                assert!(
                    payload_paths.contains(&name),
                    "payload, isoinfo {flag}: {name}\n{payload_paths:?}"
                );
            }
        }
        let out = Cmd::new("isoinfo").arg("-d").arg("-i").arg(&payload).run();
        assert!(
            out.stdout.contains(&format!("Volume id: {LABEL}")),
            "{}",
            out.stdout
        );
    }
    let Some(python) = common::iso::pycdlib_python() else {
        return;
    };
    let files = common::iso::pycdlib_files(&python, &payload, &[]);
    let sums = files
        .get(&("rr".to_string(), "payload/SHA256SUMS".to_string()))
        .expect("pycdlib reads payload/SHA256SUMS through Rock Ridge");
    assert_eq!(
        files.get(&("joliet".to_string(), "payload/SHA256SUMS".to_string())),
        Some(sums)
    );
    let archive = lab.out_dir().join("airgap/k3s-airgap-images-amd64.tar.zst");
    assert_eq!(
        files
            .get(&(
                "rr".to_string(),
                format!("payload/{}", lab.carried_archive())
            ))
            .map(|(_, sha)| sha.clone()),
        Some(common::sha256_file(&archive)),
        "the archive is stored whole"
    );
    let files = common::iso::pycdlib_files(&python, &seed, &[]);
    for tree in ["rr", "joliet"] {
        for name in ["user-data", "meta-data", "network-config", "payload.sha256"] {
            assert!(
                files.contains_key(&(tree.to_string(), name.to_string())),
                "{tree}: {name} in {files:?}"
            );
        }
    }
}

#[test]
fn built_again_the_isos_are_byte_identical() {
    let lab = shared_lab();
    lab.build();
    let read_all = || -> Vec<Vec<u8>> {
        std::iter::once(payload_iso(&lab))
            .chain(NODES.map(|n| seed(&lab, n)))
            .map(|p| fs::read(p).unwrap())
            .collect()
    };
    let first = read_all();
    // Every step runs again, every file is hashed again.
    lab.seedforge()
        .args(["build", "--force", "--config", lab.config_arg()])
        .run();
    assert!(read_all() == first, "a forced rebuild changed an ISO");
    // And from nothing: the ISOs and the build state gone (the PKI, state the nodes
    // trust, stays).
    fs::remove_dir_all(lab.out_dir().join("iso")).unwrap();
    fs::remove_dir_all(lab.out_dir().join(".seedforge")).unwrap();
    lab.build();
    let again = read_all();
    assert!(again == first, "the ISOs built again from nothing differ");
}

#[test]
fn the_payload_iso_is_rebuilt_only_when_the_payload_changes() {
    let lab = shared_lab();
    let first = build_json(&lab);
    assert_eq!(statuses(&first)["payload"], "ran");
    let payload_inode = fs::metadata(payload_iso(&lab)).unwrap();
    // Nothing changed: nothing runs.
    let second = build_json(&lab);
    let st = statuses(&second);
    assert_eq!(st["payload"], "skipped", "{st:?}");
    for node in NODES {
        assert_eq!(st[&format!("iso {node}")], "skipped", "{st:?}");
    }
    // One node's address: its seed only.
    let config = lab.lab_dir().join("seedforge.yaml");
    let text = fs::read_to_string(&config).unwrap();
    fs::write(&config, text.replace("192.168.6.12/24", "192.168.6.22/24")).unwrap();
    let st = statuses(&build_json(&lab));
    assert_eq!(st["payload"], "skipped", "{st:?}");
    assert_eq!(st["iso lab-agent2"], "ran", "{st:?}");
    assert_eq!(st["iso lab-agent1"], "skipped", "{st:?}");
    let after = fs::metadata(payload_iso(&lab)).unwrap();
    {
        use std::os::unix::fs::MetadataExt as _;
        assert_eq!(
            (after.ino(), after.mtime(), after.mtime_nsec()),
            (
                payload_inode.ino(),
                payload_inode.mtime(),
                payload_inode.mtime_nsec()
            ),
            "the payload ISO was not rewritten"
        );
    }
    // A changed payload (another registry port: another registries.yaml): the payload ISO
    // and every seed, which name it.
    let before_ref = fs::read(seed(&lab, "lab-agent1")).unwrap();
    let text = fs::read_to_string(&config).unwrap();
    fs::write(&config, text.replace("port: 5000", "port: 5443")).unwrap();
    let st = statuses(&build_json(&lab));
    assert_eq!(st["payload"], "ran", "{st:?}");
    for node in NODES {
        assert_eq!(st[&format!("iso {node}")], "ran", "{st:?}");
    }
    assert_ne!(fs::read(seed(&lab, "lab-agent1")).unwrap(), before_ref);
}

#[test]
fn seal_verify_export_and_clean_know_the_payload_iso() {
    let lab = lab_with("\nseeds:\n  payload: shared\nexport_dir: export\n");
    lab.build();
    let sums = fs::read_to_string(lab.out_dir().join("SHA256SUMS")).unwrap();
    assert!(
        sums.lines().any(|l| l.ends_with("  iso/payload.iso")),
        "{sums}"
    );
    let manifest = common::read_json(&lab.out_dir().join("manifest.json"));
    assert!(
        manifest.to_string().contains("iso/payload.iso"),
        "manifest.json lists the payload ISO"
    );
    Cmd::new("sha256sum")
        .args(["--quiet", "--strict", "-c", "SHA256SUMS"])
        .cwd(lab.out_dir())
        .run();
    let exported = lab.lab_dir().join("export/payload.iso");
    assert_eq!(
        fs::read(&exported).unwrap(),
        fs::read(payload_iso(&lab)).unwrap(),
        "export_dir gets the payload ISO"
    );
    for node in NODES {
        assert!(
            lab.lab_dir()
                .join(format!("export/seed-{node}.iso"))
                .is_file()
        );
    }
    // verify reads the payload ISO back like a seed: both trees, its SHA256SUMS.
    let doc = lab
        .seedforge()
        .arg("--json")
        .arg("verify")
        .arg(lab.out_dir())
        .run()
        .json();
    let checked: Vec<&str> = doc["iso"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["path"].as_str().unwrap())
        .collect();
    assert_eq!(checked.len(), NODES.len() + 1, "{doc}");
    assert!(
        checked.iter().any(|p| p.ends_with("iso/payload.iso")),
        "{doc}"
    );
    let damaged = lab.root().join("damaged.iso");
    fs::copy(payload_iso(&lab), &damaged).unwrap();
    let bytes = fs::read(&damaged).unwrap();
    let archive = fs::read(lab.out_dir().join("registries.yaml")).unwrap();
    let at = bytes
        .windows(archive.len())
        .position(|w| w == archive.as_slice())
        .expect("registries.yaml is stored whole");
    common::flip_byte(&damaged, at + 2);
    let out = lab.seedforge().arg("verify").arg(&damaged).expect(1).run();
    assert!(out.stdout.contains("registries.yaml") || out.stderr.contains("registries.yaml"));
    // plan names the step.
    let plan = lab
        .seedforge()
        .args(["plan", "--config", lab.config_arg()])
        .run();
    assert!(
        plan.stdout.contains("payload.iso") && plan.stdout.contains(LABEL),
        "{}",
        plan.stdout
    );
    // clean removes it with the rest.
    lab.seedforge().arg("clean").arg(lab.out_dir()).run();
    assert!(!payload_iso(&lab).exists());
    assert!(!lab.out_dir().join("iso").exists());
}

#[test]
fn switching_modes_leaves_no_stale_payload_iso() {
    let lab = shared_lab();
    lab.build();
    assert!(payload_iso(&lab).is_file());
    let config = lab.lab_dir().join("seedforge.yaml");
    let text = fs::read_to_string(&config).unwrap();
    fs::write(
        &config,
        text.replace("payload: shared", "payload: all-in-one"),
    )
    .unwrap();
    lab.build();
    assert!(
        !payload_iso(&lab).exists(),
        "an all-in-one build removes the payload ISO it no longer writes"
    );
    if require_tool("isoinfo") {
        let paths = common::iso::isoinfo_paths(&seed(&lab, "lab-agent1"), &["-R"]);
        assert!(paths.iter().any(|p| p == "payload/SHA256SUMS"));
    }
}

#[test]
fn a_bad_seeds_key_is_refused_at_its_line() {
    for (extra, needle) in [
        ("\nseeds:\n  payload: half\n", "half"),
        ("\nseeds:\n  payload: shared\n  label: X\n", "label"),
    ] {
        let lab = lab_with(extra);
        let config = lab.lab_dir().join("seedforge.yaml");
        let text = fs::read_to_string(&config).unwrap();
        let line = text
            .lines()
            .position(|l| l.contains(needle))
            .map(|i| i + 1)
            .unwrap();
        let out = lab
            .seedforge()
            .args(["build", "--config", lab.config_arg()])
            .expect(2)
            .run();
        assert!(
            out.stderr.contains(&format!("seedforge.yaml:{line}:")),
            "{extra:?}: {}",
            out.stderr
        );
        assert!(!lab.out_dir().exists(), "nothing written");
    }
}

/// The autoinstall late-commands of a server installed by autoinstall, shared mode: the
/// payload comes from the payload medium the seed names, and a stale one is refused.
#[test]
fn the_late_commands_install_the_named_payload_and_refuse_a_stale_medium() {
    if !require_tool("osirrox") || !require_tool("sha256sum") {
        return;
    }
    let lab = shared_lab();
    let dir = lab.lab_dir();
    fs::write(
        dir.join("password.hash"),
        "$6$seedforgetest$J12fuPAbiw26MKxWFyKr9DOLtdftSq..WuzqB9icuGsoanYJJ0kUllO6LJTh68ZTtYSNuMwSGnqO8QG4/XRcL/\n",
    )
    .unwrap();
    let config = dir.join("seedforge.yaml");
    let text = fs::read_to_string(&config).unwrap();
    let server = "  - name: lab-server1\n    role: server\n    address: 192.168.6.10/24\n";
    assert!(text.contains(server));
    fs::write(
        &config,
        format!(
            "{}autoinstall:\n  username: ops\n  password: {{file: password.hash}}\n",
            text.replace(server, &format!("{server}    install: autoinstall\n"))
        ),
    )
    .unwrap();
    lab.build();
    let seed_dir = lab.root().join("seed");
    extract(&seed(&lab, "lab-server1"), &seed_dir);
    let payload = lab.root().join("payload");
    extract(&payload_iso(&lab), &payload);
    let user_data: serde_json::Value =
        serde_saphyr::from_str(&fs::read_to_string(seed_dir.join("user-data")).unwrap()).unwrap();
    let script = user_data["autoinstall"]["late-commands"][0][2]
        .as_str()
        .unwrap()
        .to_string();
    let run = |target: &Path, payload: &Path| {
        fs::create_dir_all(target).unwrap();
        Cmd::new("bash")
            .args(["-c", &script, "seedforge-late-commands"])
            .env("SEEDFORGE_TARGET", target.to_str().unwrap())
            .env("SEEDFORGE_SEED_MOUNT", seed_dir.to_str().unwrap())
            .env("SEEDFORGE_PAYLOAD_MOUNT", payload.to_str().unwrap())
            .any_status()
            .run()
    };
    let target = lab.root().join("target");
    let o = run(&target, &payload);
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    assert!(target.join("var/lib/iso-copy-complete").is_file());
    common::assert_same_tree(
        &common::snapshot(&payload.join("payload")),
        &common::snapshot(&target.join("usr/local/seed/payload")),
        "the payload medium's payload copied into /target",
    );
    // A payload medium of another build: refused, nothing installed.
    let stale = lab.root().join("stale");
    common::copy_tree(&payload, &stale, &|_| false);
    let sums = stale.join("payload/SHA256SUMS");
    let mut text = fs::read_to_string(&sums).unwrap();
    text.push_str(&format!("{}  extra\n", "0".repeat(64)));
    fs::write(&sums, text).unwrap();
    let fresh = lab.root().join("fresh");
    let o = run(&fresh, &stale);
    assert_eq!(o.code, Some(1), "{}", o.stderr);
    assert!(
        o.stderr.contains("stale or wrong payload ISO"),
        "{}",
        o.stderr
    );
    assert!(!fresh.join("var/lib/iso-copy-complete").exists());
    assert!(!fresh.join("usr/local/seed/payload").exists());
    // No payload medium at all: refused, naming the label.
    let o = run(&lab.root().join("none"), &lab.root().join("missing"));
    assert_eq!(o.code, Some(1), "{}", o.stderr);
    assert!(o.stderr.contains(LABEL), "{}", o.stderr);
}

/// Shared mode with k3s's embedded registry mirror: the payload ISO carries the airgap
/// archives once and every seed names that whole payload; the agents' bootstrap places no
/// archive (they pull from the servers), the server's does.
#[test]
fn with_the_embedded_registry_the_agents_import_nothing_from_the_one_payload() {
    let lab = shared_lab();
    let config = lab.lab_dir().join("seedforge.yaml");
    let text = fs::read_to_string(&config).unwrap();
    let version = "  k3s_version: v1.33.1+k3s1\n";
    assert!(text.contains(version));
    fs::write(
        &config,
        text.replace(version, &format!("{version}  embedded_registry: true\n")),
    )
    .unwrap();
    lab.build();
    let bootstrap = |node: &str| {
        let user_data: Value = serde_saphyr::from_str(
            &fs::read_to_string(lab.out_dir().join("nodes").join(node).join("user-data")).unwrap(),
        )
        .unwrap();
        user_data["write_files"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["path"] == "/usr/local/sbin/seedforge-bootstrap")
            .unwrap()["content"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let server = bootstrap("lab-server1");
    assert!(server.contains(r#"place_images "$PAYLOAD""#));
    assert!(!server.contains("none imported on this node"));
    for agent in ["lab-agent1", "lab-agent2"] {
        let script = bootstrap(agent);
        assert!(
            !script.contains(r#"place_images "$"#),
            "{agent}: places no archive, neither applying nor with --images-only"
        );
        assert!(script.contains("none imported on this node"), "{agent}");
    }
    if require_tool("osirrox") {
        let payload = lab.root().join("payload");
        extract(&payload_iso(&lab), &payload);
        assert!(
            payload
                .join("payload")
                .join(lab.carried_archive())
                .is_file(),
            "the payload ISO carries the archives for the servers"
        );
        let mut refs = Vec::new();
        for node in NODES {
            let dir = lab.root().join(format!("x-{node}"));
            extract(&seed(&lab, node), &dir);
            refs.push(fs::read(dir.join("payload.sha256")).unwrap());
        }
        assert!(
            refs.windows(2).all(|w| w[0] == w[1]),
            "every seed names the one payload"
        );
    }
}

/// `verify OUT` checks each seed against the payload ISO beside it: a payload ISO of
/// another build (the pair a node's bootstrap refuses) is named, seed by seed.
#[test]
fn verify_names_a_seed_whose_payload_iso_is_another_builds() {
    let lab = shared_lab();
    lab.build();
    lab.seedforge().arg("verify").arg(lab.out_dir()).run();
    let old = lab.root().join("old-payload.iso");
    fs::copy(payload_iso(&lab), &old).unwrap();
    let config = lab.lab_dir().join("seedforge.yaml");
    let text = fs::read_to_string(&config).unwrap();
    fs::write(&config, text.replace("port: 5000", "port: 5443")).unwrap();
    lab.build();
    lab.seedforge().arg("verify").arg(lab.out_dir()).run();
    // The old payload medium beside the new seeds.
    fs::copy(&old, payload_iso(&lab)).unwrap();
    let out = lab
        .seedforge()
        .arg("verify")
        .arg(lab.out_dir())
        .expect(1)
        .run();
    for node in NODES {
        assert!(
            out.stderr
                .lines()
                .any(|l| l.contains(&format!("seed-{node}.iso"))
                    && l.contains("payload.sha256 names payload")
                    && l.contains("payload.iso holds")),
            "{node}:\n{}",
            out.stderr
        );
    }
}
