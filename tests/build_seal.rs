//! The build's seal (OUT/SHA256SUMS, OUT/manifest.json) and what rests on it: `verify`
//! re-hashing every artifact, `clean` removing only what seedforge wrote, `export_dir`,
//! and byte-reproducible output across output folders.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use crate::common;

use common::{
    Cmd, Lab, assert_same_tree, files_under, flip_byte, read_json, require_tool, sha256_file,
    snapshot,
};
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

const NODES: [&str; 3] = ["lab-agent1", "lab-agent2", "lab-server1"];

fn built() -> Lab {
    let lab = Lab::new();
    lab.build();
    lab
}

/// `SHA256SUMS` as (path, sha256) pairs, in file order.
fn sums(out: &Path) -> Vec<(String, String)> {
    fs::read_to_string(out.join("SHA256SUMS"))
        .unwrap()
        .lines()
        .map(|l| {
            let (sha, path) = l.split_once("  ").expect("`HEX  PATH` lines");
            (path.to_string(), sha.to_string())
        })
        .collect()
}

fn verify(lab: &Lab, out: &Path) -> Cmd {
    lab.seedforge().arg("verify").arg(out)
}

#[test]
fn sha256sum_checks_every_artifact_the_demo_build_wrote() {
    let lab = built();
    let out = lab.out_dir();
    let listed = sums(&out);
    let paths: Vec<&str> = listed.iter().map(|(p, _)| p.as_str()).collect();
    let mut sorted = paths.clone();
    sorted.sort_unstable();
    assert_eq!(paths, sorted, "SHA256SUMS is not sorted");
    assert!(!paths.contains(&"SHA256SUMS"));
    for expected in [
        "manifest.json",
        "oci/oci-layout",
        "oci/index.json",
        "pki/ca.crt",
        "pki/ca.key",
        "pki/registry.crt",
        "pki/registry.key",
        "registries.yaml",
        "registry/config.yml",
        "certs.d/docker.io/hosts.toml",
        "certs.d/192.168.6.1_5000_/hosts.toml",
        "airgap/k3s-airgap-images-amd64.tar.zst",
        "nodes/lab-agent1/user-data",
        "nodes/lab-agent1/meta-data",
        "nodes/lab-agent1/network-config",
        "iso/seed-lab-server1.iso",
    ] {
        assert!(paths.contains(&expected), "SHA256SUMS lacks {expected}");
    }
    // Every file of the output is listed: blobs included, nothing forgotten. Not artifacts:
    // the sums themselves, the build lock, the build state and the layout's temporary files.
    let on_disk: Vec<String> = files_under(&out)
        .iter()
        .map(|p| p.strip_prefix(&out).unwrap().to_string_lossy().into_owned())
        .filter(|p| {
            p != "SHA256SUMS"
                && p != ".seedforge-build.lock"
                && p != ".seedforge/state.json"
                && !p.starts_with("oci/.seedforge")
        })
        .collect();
    let mut listed_sorted: Vec<String> = paths.iter().map(|p| p.to_string()).collect();
    listed_sorted.sort();
    let mut on_disk_sorted = on_disk.clone();
    on_disk_sorted.sort();
    assert_eq!(listed_sorted, on_disk_sorted);
    if require_tool("sha256sum") {
        Cmd::new("sha256sum")
            .args(["-c", "--strict", "SHA256SUMS"])
            .cwd(&out)
            .run();
    }
    verify(&lab, &out).run();
}

#[test]
fn the_manifest_records_inputs_digests_and_artifacts_without_secrets_or_host_paths() {
    let lab = built();
    let out = lab.out_dir();
    let text = fs::read_to_string(out.join("manifest.json")).unwrap();
    let m: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(m["seedforge_version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(m["source_date_epoch"], 1_700_000_000);
    assert_eq!(m["inputs"]["config"]["path"], "seedforge.yaml");
    assert_eq!(
        m["inputs"]["config"]["sha256"],
        sha256_file(&lab.lab_dir().join("seedforge.yaml"))
    );
    assert_eq!(m["inputs"]["image_lists"][0]["path"], "images.txt");
    assert_eq!(m["tools"][0]["name"], "seedforge");
    assert_eq!(m["registry"]["host"], "192.168.6.1");
    let images = m["images"].as_array().unwrap();
    assert_eq!(images.len(), 8);
    let pause = images
        .iter()
        .find(|i| i["destination"] == "docker.io/rancher/mirrored-pause:3.6")
        .unwrap();
    assert_eq!(pause["source"], "oci:../images/oci:mirrored-pause:3.6");
    let index = read_json(&out.join("oci/index.json"));
    let entry = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| {
            e["annotations"]["org.opencontainers.image.ref.name"]
                == "docker.io/rancher/mirrored-pause:3.6"
        })
        .unwrap();
    assert_eq!(pause["digest"], entry["digest"]);
    // Every artifact: size, sha256 and mode as on disk.
    let artifacts = m["artifacts"].as_array().unwrap();
    assert!(artifacts.len() > 30);
    for a in artifacts {
        let path = out.join(a["path"].as_str().unwrap());
        let meta = fs::metadata(&path).unwrap();
        assert_eq!(a["size"], meta.len(), "{a}");
        assert_eq!(a["sha256"], sha256_file(&path), "{a}");
        assert_eq!(
            a["mode"],
            format!("{:04o}", meta.permissions().mode() & 0o7777),
            "{a}"
        );
    }
    let iso = artifacts
        .iter()
        .find(|a| a["path"] == "iso/seed-lab-agent1.iso")
        .unwrap();
    assert_eq!(iso["mode"], "0600");
    // No secret, no absolute path, no host name.
    let token = fs::read_to_string(lab.lab_dir().join("token")).unwrap();
    assert!(
        !text.contains(token.trim()),
        "the join token is in the manifest"
    );
    assert!(!text.contains(&lab.root().display().to_string()));
    assert!(!text.contains("\"/"), "an absolute path in the manifest");
    if let Ok(host) = fs::read_to_string("/etc/hostname") {
        let host = host.trim();
        if host.len() > 3 {
            assert!(
                !text.contains(host),
                "the host name {host} is in the manifest"
            );
        }
    }
}

#[test]
fn build_reports_the_seal_in_text_and_json() {
    let lab = Lab::new();
    let text = lab.build();
    assert!(
        text.stdout.lines().any(|l| l.starts_with("sealed ")
            && l.contains("SHA256SUMS")
            && l.contains("artifact(s)")),
        "{}",
        text.stdout
    );
    let json = lab
        .seedforge()
        .args(["--json", "build", "--config", lab.config_arg()])
        .run()
        .json();
    let listed = sums(&lab.out_dir()).len();
    assert_eq!(json["seal"]["artifacts"], listed - 1, "{}", json["seal"]);
    assert!(json["seal"]["bytes"].as_u64().unwrap() > 0);
}

#[test]
fn a_corrupted_artifact_fails_verify_naming_it() {
    let lab = built();
    let out = lab.out_dir();
    let airgap = out.join("airgap/k3s-airgap-images-amd64.tar.zst");
    let meta_data = out.join("nodes/lab-agent1/meta-data");
    for (file, name) in [
        (&airgap, "airgap/k3s-airgap-images-amd64.tar.zst"),
        (&meta_data, "nodes/lab-agent1/meta-data"),
    ] {
        let offset = fs::metadata(file).unwrap().len() as usize / 2;
        flip_byte(file, offset);
        let bad = verify(&lab, &out).expect(1).run();
        assert!(
            bad.stderr.contains(name),
            "verify does not name {name}:\n{}",
            bad.stderr
        );
        let doc = lab
            .seedforge()
            .args(["--json", "verify"])
            .arg(&out)
            .expect(1)
            .run()
            .json();
        let problems = doc["sums"]["problems"].as_array().unwrap();
        assert_eq!(problems.len(), 1, "{doc}");
        assert_eq!(problems[0]["path"], name);
        assert_eq!(problems[0]["problem"], "differs");
        assert_eq!(doc["iso"].as_array().unwrap().len(), 3, "one JSON document");
        if require_tool("sha256sum") {
            let judge = Cmd::new("sha256sum")
                .args(["-c", "--quiet", "SHA256SUMS"])
                .cwd(&out)
                .any_status()
                .run();
            assert_ne!(judge.code, Some(0));
            assert!(judge.stdout.contains(name), "{}", judge.stdout);
        }
        flip_byte(file, offset);
        verify(&lab, &out).run();
    }
    // A missing artifact is named too.
    fs::remove_file(&meta_data).unwrap();
    let bad = verify(&lab, &out).expect(1).run();
    assert!(
        bad.stderr.contains("nodes/lab-agent1/meta-data: missing"),
        "{}",
        bad.stderr
    );
}

#[test]
fn verify_rechecks_the_registry_certificate_against_the_manifest() {
    let lab = built();
    let out = lab.out_dir();
    // A manifest claiming the registry lives at another address (sums kept consistent,
    // so only the certificate check can object).
    let path = out.join("manifest.json");
    let text = fs::read_to_string(&path).unwrap().replacen(
        "\"host\": \"192.168.6.1\"",
        "\"host\": \"10.9.9.9\"",
        1,
    );
    fs::write(&path, &text).unwrap();
    let old = sums(&out);
    let new: String = old
        .iter()
        .map(|(p, s)| {
            let s = if p == "manifest.json" {
                sha256_file(&path)
            } else {
                s.clone()
            };
            format!("{s}  {p}\n")
        })
        .collect();
    fs::write(out.join("SHA256SUMS"), new).unwrap();
    let bad = verify(&lab, &out).expect(1).run();
    assert!(
        bad.stderr.contains("registry.crt") && bad.stderr.contains("10.9.9.9"),
        "{}",
        bad.stderr
    );
    let doc = lab
        .seedforge()
        .args(["--json", "verify"])
        .arg(&out)
        .expect(1)
        .run()
        .json();
    assert_eq!(doc["sums"]["problems"].as_array().unwrap().len(), 0);
    assert_eq!(
        doc["registry_certificate"]["problems"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

/// Puts the files a user keeps next to the outputs into `dir`.
fn user_files(dir: &Path) -> Vec<PathBuf> {
    let mut made = Vec::new();
    for name in ["ubuntu-24.04-live-server-amd64.iso", "notes.txt"] {
        let p = dir.join(name);
        fs::write(&p, format!("the user's {name}\n")).unwrap();
        made.push(p);
    }
    made
}

#[test]
fn clean_removes_only_what_seedforge_wrote() {
    let lab = built();
    let out = lab.out_dir();
    let mut keep = user_files(&out);
    keep.extend(user_files(&out.join("iso")));
    // Leftovers of an interrupted run.
    fs::create_dir_all(out.join("iso/.stage-lab-agent1/payload")).unwrap();
    fs::write(out.join("iso/.stage-lab-agent1/user-data"), "x").unwrap();
    fs::write(out.join("airgap/.k3s.tar.zst.seedforge-99999-0.tmp"), "x").unwrap();
    let before = snapshot(&out);
    let dry = lab
        .seedforge()
        .args(["--json", "clean", "--dry-run"])
        .arg(&out)
        .run()
        .json();
    assert_same_tree(&before, &snapshot(&out), "clean --dry-run");
    let listed: Vec<&str> = dry["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert!(listed.contains(&"iso/seed-lab-agent1.iso"), "{dry}");
    assert!(listed.contains(&"manifest.json") && listed.contains(&"SHA256SUMS"));
    for k in &keep {
        let rel = k.strip_prefix(&out).unwrap().to_string_lossy().into_owned();
        assert!(!listed.contains(&rel.as_str()), "would remove {rel}");
    }
    let text = lab
        .seedforge()
        .args(["clean", "--remove-pki"])
        .arg(&out)
        .run();
    assert!(text.stdout.contains("removed"), "{}", text.stdout);
    // Exactly the user's files remain, byte for byte, and the folders that hold them.
    let after = snapshot(&out);
    let remaining: Vec<PathBuf> = after.keys().cloned().collect();
    let mut expected: Vec<PathBuf> = keep
        .iter()
        .map(|k| k.strip_prefix(&out).unwrap().to_path_buf())
        .collect();
    expected.push(PathBuf::from("iso"));
    expected.sort();
    assert_eq!(remaining, expected);
    for k in &keep {
        let rel = k.strip_prefix(&out).unwrap();
        assert_eq!(after[rel], before[rel], "{} changed", rel.display());
    }
    // Without a manifest there is nothing clean may remove.
    let refused = lab.seedforge().arg("clean").arg(&out).expect(2).run();
    assert!(
        refused.stderr.contains("manifest.json"),
        "{}",
        refused.stderr
    );
    assert_same_tree(&after, &snapshot(&out), "clean without a manifest");
}

#[test]
fn a_node_taken_out_of_the_config_loses_its_seed_and_files() {
    let lab = built();
    let out = lab.out_dir();
    let config = lab.lab_dir().join("seedforge.yaml");
    let text = fs::read_to_string(&config).unwrap();
    let node = "  - name: lab-agent2\n    role: agent\n    address: 192.168.6.12/24\n";
    assert!(text.contains(node), "{text}");
    fs::write(&config, text.replace(node, "")).unwrap();
    // A file of the user's in the node's folder keeps the folder.
    fs::write(out.join("nodes/lab-agent1/notes.txt"), "mine").unwrap();
    lab.build();
    // Its user-data and seed held the join token: nothing of it may linger unlisted.
    assert!(!out.join("iso/seed-lab-agent2.iso").exists());
    assert!(!out.join("nodes/lab-agent2").exists());
    assert!(out.join("nodes/lab-agent1/notes.txt").exists());
    assert!(out.join("iso/seed-lab-agent1.iso").exists());
    assert!(sums(&out).iter().all(|(p, _)| !p.contains("lab-agent2")));
    verify(&lab, &out).run();
}

#[test]
fn clean_keeps_the_ca_unless_told() {
    let lab = built();
    let out = lab.out_dir();
    let ca = fs::read(out.join("pki/ca.key")).unwrap();
    let site = fs::read(out.join("site.json")).unwrap();
    lab.seedforge().arg("clean").arg(&out).run();
    assert_eq!(fs::read(out.join("pki/ca.key")).unwrap(), ca);
    // The site identity is kept with the PKI.
    assert_eq!(fs::read(out.join("site.json")).unwrap(), site);
    let left: Vec<PathBuf> = files_under(&out);
    assert_eq!(left.len(), 5, "{left:?}");
    // A build of the cleaned output keeps both.
    lab.build();
    assert_eq!(fs::read(out.join("site.json")).unwrap(), site);
}

#[test]
fn export_dir_gets_the_seed_isos_and_nothing_else_changes_there() {
    let lab = Lab::new();
    let export = lab.root().join("Windows Desktop/seeds for lab");
    fs::create_dir_all(&export).unwrap();
    let mut keep = user_files(&export);
    let old_seed = export.join("seed-old-node.iso");
    fs::write(&old_seed, "an ISO of a node that is gone").unwrap();
    keep.push(old_seed);
    let config = lab.lab_dir().join("seedforge.yaml");
    let mut text = fs::read_to_string(&config).unwrap();
    text.push_str("export_dir: \"../../Windows Desktop/seeds for lab\"\n");
    fs::write(&config, text).unwrap();
    let out = lab.root().join("build output/lab out");
    let before: BTreeMap<PathBuf, Vec<u8>> = keep
        .iter()
        .map(|k| (k.clone(), fs::read(k).unwrap()))
        .collect();
    let build = |json: bool| {
        let mut cmd = lab.seedforge();
        if json {
            cmd = cmd.arg("--json");
        }
        cmd.args(["build", "--config", lab.config_arg(), "--out"])
            .arg(&out)
            .run()
    };
    let first = build(true).json();
    for node in NODES {
        let name = format!("seed-{node}.iso");
        assert_eq!(
            fs::read(export.join(&name)).unwrap(),
            fs::read(out.join("iso").join(&name)).unwrap(),
            "{name}"
        );
    }
    let outcomes: Vec<&str> = first["export"]["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["written"; 3]);
    for (k, bytes) in &before {
        assert_eq!(&fs::read(k).unwrap(), bytes, "{} changed", k.display());
    }
    let mut names: Vec<String> = fs::read_dir(&export)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "notes.txt",
            "seed-lab-agent1.iso",
            "seed-lab-agent2.iso",
            "seed-lab-server1.iso",
            "seed-old-node.iso",
            "ubuntu-24.04-live-server-amd64.iso"
        ],
        "no temporary files left"
    );
    // Unchanged ISOs are not rewritten.
    let second = build(true).json();
    let outcomes: Vec<&str> = second["export"]["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["unchanged"; 3]);
    // A damaged copy is replaced.
    flip_byte(&export.join("seed-lab-agent2.iso"), 40_000);
    let text = build(false);
    assert!(text.stdout.contains("exported"), "{}", text.stdout);
    assert_eq!(
        fs::read(export.join("seed-lab-agent2.iso")).unwrap(),
        fs::read(out.join("iso/seed-lab-agent2.iso")).unwrap()
    );
    // The output folder with spaces verifies and cleans like any other.
    verify(&lab, &out).run();
    lab.seedforge()
        .args(["clean", "--remove-pki"])
        .arg(&out)
        .run();
    assert!(files_under(&out).is_empty());
    assert!(
        export.join("seed-lab-agent1.iso").is_file(),
        "clean reached the export"
    );
}

/// The two builds are of an upgrade through a hop (`cluster.upgrade_path`), so its
/// archive and binary are held to the same bytes, sealed and verified as any artifact.
#[test]
fn two_builds_into_different_folders_give_identical_artifacts_sums_and_manifest() {
    // Two copies of the fixtures, so even the absolute input paths differ.
    let one = Lab::new();
    let two = Lab::new();
    common::hop_upgrade(&one, common::HOP);
    common::hop_upgrade(&two, common::HOP);
    let out_one = one.root().join("first/out");
    let out_two = two.root().join("second folder/elsewhere");
    let build = |lab: &Lab, out: &Path| {
        lab.seedforge()
            .args(["build", "--config", lab.config_arg(), "--out"])
            .arg(out)
            .env("SOURCE_DATE_EPOCH", "1700000000")
            .run();
    };
    build(&one, &out_one);
    // The PKI and the site identity are kept between builds (made at random once).
    common::copy_kept_state(&out_one, &out_two);
    build(&two, &out_two);
    let a = sums(&out_one);
    assert!(a.len() > 30);
    assert_eq!(
        fs::read(out_one.join("SHA256SUMS")).unwrap(),
        fs::read(out_two.join("SHA256SUMS")).unwrap(),
        "SHA256SUMS differ"
    );
    assert_eq!(
        fs::read(out_one.join("manifest.json")).unwrap(),
        fs::read(out_two.join("manifest.json")).unwrap(),
        "manifest.json differ"
    );
    for (path, _) in &a {
        assert_eq!(
            fs::read(out_one.join(path)).unwrap(),
            fs::read(out_two.join(path)).unwrap(),
            "{path} differs"
        );
    }
    hops_are_carried(&one, &out_one, &a);
}

/// The hop's archive holds what the hop needs (the images only it needs are in no other
/// archive), is sealed, verified and in the SBOM, and every seed carries it under its
/// content name beside the hop's binary.
fn hops_are_carried(lab: &Lab, out: &Path, sealed: &[(String, String)]) {
    let hop = common::HOP;
    let archive = format!("airgap/hops/{hop}/k3s-airgap-images-amd64.tar.zst");
    let (_, sha) = sealed.iter().find(|(p, _)| *p == archive).expect("sealed");
    verify(lab, out).run();
    let sbom = fs::read_to_string(out.join("sbom/sbom.spdx.json")).unwrap();
    assert!(sbom.contains(&archive), "{archive} not in the SBOM");
    // What each archive holds, by the build's report of its run.
    let report = lab
        .seedforge()
        .args(["build", "--json", "--config", lab.config_arg(), "--out"])
        .arg(out)
        .run()
        .json();
    let holds = |name: &str| -> Vec<String> {
        let archives = report["airgap"].as_array().expect("airgap");
        let a = archives
            .iter()
            .find(|a| a["path"].as_str().unwrap().ends_with(name))
            .unwrap_or_else(|| panic!("{name}: {report}"));
        serde_json::from_value(a["images"].clone()).unwrap()
    };
    let target = holds("airgap/k3s-airgap-images-amd64.tar.zst");
    let hop_images = holds(&archive);
    for line in common::HOP_IMAGES {
        let image = line.split_whitespace().last().unwrap().to_string();
        assert!(hop_images.contains(&image), "{image}: {hop_images:?}");
        assert!(!target.contains(&image), "{image}: {target:?}");
    }
    assert!(target.contains(&"docker.io/rancher/mirrored-coredns-coredns:1.12.1".to_string()));
    if !require_tool("isoinfo") {
        return;
    }
    let sums = std::process::Command::new("isoinfo")
        .args(["-R", "-x", "/payload/SHA256SUMS", "-i"])
        .arg(out.join("iso/seed-lab-agent1.iso"))
        .output()
        .unwrap();
    assert!(sums.status.success());
    let sums = String::from_utf8(sums.stdout).unwrap();
    let carried = format!(
        "{sha}  hops/{hop}/images/k3s-airgap-images-amd64-{}.tar.zst",
        &sha[..12]
    );
    assert!(sums.contains(&carried), "{carried}: {sums}");
    assert!(sums.contains(&format!("  hops/{hop}/k3s\n")), "{sums}");
}

#[test]
fn the_manifest_records_package_bundles_and_template_overrides() {
    let lab = Lab::new();
    let debs = lab.lab_dir().join("debs");
    fs::create_dir_all(&debs).unwrap();
    for d in common::debs::fixture_debs() {
        fs::copy(&d, debs.join(d.file_name().unwrap())).unwrap();
    }
    fs::write(
        lab.lab_dir().join("base.txt"),
        "libc6:amd64\t2.36-9+deb12u10\n",
    )
    .unwrap();
    let templates = lab.lab_dir().join("my templates");
    fs::create_dir_all(&templates).unwrap();
    fs::copy(
        common::repo_root().join("templates/cloud-init/network-config.tera"),
        templates.join("network-config.tera"),
    )
    .unwrap();
    let config = lab.lab_dir().join("seedforge.yaml");
    let mut text = fs::read_to_string(&config).unwrap();
    text.push_str(
        "templates: my templates\npackages:\n  - name: ops\n    packages: [jq]\n    base: base.txt\n    debs: [debs]\n",
    );
    fs::write(&config, text).unwrap();
    lab.build();
    let out = lab.out_dir();
    let m = read_json(&out.join("manifest.json"));
    let bundle = out.join("packages/ops.tar.gz");
    assert_eq!(m["packages"][0]["name"], "ops");
    assert_eq!(m["packages"][0]["path"], "packages/ops.tar.gz");
    assert_eq!(m["packages"][0]["sha256"], sha256_file(&bundle));
    assert_eq!(m["packages"][0]["debs"], 3);
    assert_eq!(
        m["inputs"]["templates"],
        serde_json::json!([{
            "path": "my templates/network-config.tera",
            "sha256": sha256_file(&templates.join("network-config.tera")),
        }])
    );
    assert!(
        sums(&out)
            .iter()
            .any(|(p, s)| p == "packages/ops.tar.gz" && *s == sha256_file(&bundle))
    );
    if require_tool("sha256sum") {
        Cmd::new("sha256sum")
            .args(["-c", "--strict", "SHA256SUMS"])
            .cwd(&out)
            .run();
    }
}

/// A FAT file system mounted with fusefat (the kernel here has no vfat; FAT is what a USB
/// stick or a `/mnt/c`-like Windows folder gives): no chmod, no symbolic links, names
/// that ignore case. The seed ISOs are exported whole, a second build leaves them, and a
/// damaged one is replaced.
#[test]
fn export_dir_on_a_fat_file_system() {
    if !common::debs::require_root("mounting a FAT image")
        || !common::require_tool("mkfs.vfat")
        || !common::require_tool("fusefat")
        || !common::require_tool("fusermount")
    {
        return;
    }
    let lab = Lab::new();
    let image = lab.root().join("stick.img");
    fs::File::create(&image).unwrap().set_len(96 << 20).unwrap();
    Cmd::new("mkfs.vfat").arg(&image).run();
    let mount = lab.root().join("stick");
    fs::create_dir_all(&mount).unwrap();
    let mounted = Cmd::new("fusefat")
        .args(["-o", "rw+"])
        .arg(&image)
        .arg(&mount)
        .any_status()
        .run();
    if mounted.code != Some(0) {
        // The tools are there (scripts/test.sh checks them); the kernel's FUSE is not.
        eprintln!("SKIP: fusefat cannot mount here: {}", mounted.stderr.trim());
        return;
    }
    // Unmounted however the test ends.
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("fusermount")
                .arg("-u")
                .arg(&self.0)
                .status();
        }
    }
    let _unmount = Unmount(mount.clone());
    let config = lab.lab_dir().join("seedforge.yaml");
    let mut text = fs::read_to_string(&config).unwrap();
    text.push_str(&format!(
        "export_dir: \"{}\"\n",
        mount.join("Seeds").display()
    ));
    fs::write(&config, text).unwrap();
    fs::create_dir_all(mount.join("Seeds")).unwrap();
    let outcomes = |v: &serde_json::Value| -> Vec<String> {
        v["export"]["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["outcome"].as_str().unwrap().to_string())
            .collect()
    };
    let first = lab
        .seedforge()
        .args(["--json", "build", "--config", lab.config_arg()])
        .run()
        .json();
    assert_eq!(outcomes(&first), ["written"; 3]);
    for node in NODES {
        let name = format!("seed-{node}.iso");
        assert_eq!(
            common::sha256_file(&mount.join("SEEDS").join(name.to_uppercase())),
            common::sha256_file(&lab.out_dir().join("iso").join(&name)),
            "{name}, read back under another case"
        );
    }
    let second = lab
        .seedforge()
        .args(["--json", "build", "--config", lab.config_arg()])
        .run()
        .json();
    assert_eq!(outcomes(&second), ["unchanged"; 3]);
    // A damaged copy (written anew: fusefat does not truncate a file in place).
    let damaged = mount.join("Seeds/seed-lab-agent1.iso");
    let mut bytes = fs::read(&damaged).unwrap();
    bytes[40_000] ^= 1;
    fs::remove_file(&damaged).unwrap();
    fs::write(&damaged, &bytes).unwrap();
    let third = lab
        .seedforge()
        .args(["--json", "build", "--config", lab.config_arg()])
        .run()
        .json();
    let mut got = outcomes(&third);
    got.sort();
    assert_eq!(got, ["unchanged", "unchanged", "written"]);
    let names: Vec<String> = fs::read_dir(mount.join("Seeds"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_lowercase())
        .collect();
    assert_eq!(names.len(), 3, "no temporary files left: {names:?}");
}

/// The seal says which media this build changed: all new at first, none after a build with
/// nothing changed, and only the one node's seed after that node's address changed.
#[test]
fn the_seal_names_the_media_to_carry_again() {
    let lab = Lab::new();
    let build = || {
        lab.seedforge()
            .args(["--json", "build", "--config", lab.config_arg()])
            .run()
            .json()
    };
    let changes = |report: &serde_json::Value| -> Vec<(String, String)> {
        report["seal"]["media"]
            .as_array()
            .unwrap_or_else(|| panic!("no seal.media: {report}"))
            .iter()
            .map(|m| {
                (
                    m["path"].as_str().unwrap().to_string(),
                    m["change"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let first = changes(&build());
    assert_eq!(first.len(), 3, "{first:?}");
    assert!(first.iter().all(|(_, c)| c == "new"), "{first:?}");
    let again = changes(&build());
    assert!(again.iter().all(|(_, c)| c == "unchanged"), "{again:?}");
    let config = lab.lab_dir().join("seedforge.yaml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, text.replace("192.168.6.12/24", "192.168.6.22/24")).unwrap();
    let changed: Vec<String> = changes(&build())
        .into_iter()
        .filter(|(_, c)| c != "unchanged")
        .map(|(p, c)| format!("{p} {c}"))
        .collect();
    assert_eq!(changed, ["iso/seed-lab-agent2.iso changed"]);
    // Without --json the build says it in a line.
    std::fs::write(&config, text.replace("192.168.6.12/24", "192.168.6.32/24")).unwrap();
    let out = lab
        .seedforge()
        .args(["build", "--config", lab.config_arg()])
        .run();
    assert!(
        out.stdout.contains(
            "media to carry to the nodes: iso/seed-lab-agent2.iso (new or changed; 2 unchanged)"
        ),
        "{}",
        out.stdout
    );
}

/// A hop taken out of the path (here the whole upgrade: the config no longer names
/// `cluster.upgrade_from` nor `cluster.upgrade_path`) leaves nothing of it in the output:
/// its archive and its folder `airgap/hops/<RELEASE>/` go with the seal that no longer lists
/// them, and no seed's payload carries `hops/` any more.
#[test]
fn a_hop_taken_out_of_the_path_leaves_no_folder_behind() {
    let lab = Lab::new();
    let out = lab.out_dir();
    let dir = lab.lab_dir();
    let config = fs::read_to_string(dir.join("seedforge.yaml")).unwrap();
    let list = fs::read_to_string(dir.join("images.txt")).unwrap();
    common::hop_upgrade(&lab, common::HOP);
    lab.build();
    let hop_dir = out.join(format!("airgap/hops/{}", common::HOP));
    assert!(hop_dir.is_dir(), "{}", hop_dir.display());
    assert!(
        sums(&out)
            .iter()
            .any(|(p, _)| p.starts_with("airgap/hops/")),
        "the hop's archive is sealed"
    );
    fs::write(dir.join("seedforge.yaml"), &config).unwrap();
    fs::write(dir.join("images.txt"), &list).unwrap();
    lab.build();
    assert!(
        !out.join("airgap/hops").exists(),
        "{:?}",
        files_under(&out.join("airgap"))
    );
    let left: Vec<PathBuf> = (files_under(&out).into_iter())
        .filter(|p| p.to_string_lossy().contains("hops"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    assert!(sums(&out).iter().all(|(p, _)| !p.contains("hops/")));
    verify(&lab, &out).run();
    if !require_tool("isoinfo") {
        return;
    }
    let carried = std::process::Command::new("isoinfo")
        .args(["-R", "-x", "/payload/SHA256SUMS", "-i"])
        .arg(out.join("iso/seed-lab-agent1.iso"))
        .output()
        .unwrap();
    assert!(carried.status.success());
    let carried = String::from_utf8(carried.stdout).unwrap();
    assert!(!carried.contains("hops/"), "{carried}");
}
