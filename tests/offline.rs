//! `build --offline`: after an online build from a real registry (filled by skopeo) and a
//! real apt repository over HTTP (written by apt-ftparchive), both servers are stopped and
//! the offline build gives the same bytes. With an image or a bundle missing it fails
//! while planning (exit 2), naming each one and what is missing, and changes nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use common::debs::{HttpServer, fixture_debs, make_repo};
use common::registry::{Registry, fixture_layout, skopeo_push};
use common::{Lab, Output, assert_same_tree, require_tool, sha256_file, snapshot};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// Fixture images served by the registry (the rest of the lab list stays local).
const FROM_REGISTRY: [&str; 3] = [
    "mirrored-pause:3.6",
    "mirrored-coredns-coredns:1.12.1",
    "klipper-lb:v0.4.13",
];

/// sha256 of every artifact an offline build must reproduce.
fn artifacts(out: &Path) -> BTreeMap<PathBuf, String> {
    let mut files: Vec<PathBuf> = ["airgap", "iso", "nodes", "packages"]
        .iter()
        .flat_map(|d| common::files_under(&out.join(d)))
        .collect();
    files.push(out.join("oci/index.json"));
    files
        .into_iter()
        .map(|f| {
            let hash = sha256_file(&f);
            (f.strip_prefix(out).unwrap().to_path_buf(), hash)
        })
        .collect()
}

/// The lab with three images from `registry` and an `ops` bundle (jq) from `repo_url`.
fn lab_with_network_sources(registry: &Registry, repo_url: &str) -> Lab {
    let lab = Lab::new();
    let dir = lab.lab_dir();
    let list = dir.join("images.txt");
    let mut text = fs::read_to_string(&list).unwrap();
    for name in FROM_REGISTRY {
        let local = format!("oci:../images/oci:{name} ");
        assert!(text.contains(&local), "{local} not in the lab list");
        text = text.replace(
            &local,
            &format!("docker://{}/rancher/{name} ", registry.host()),
        );
    }
    fs::write(&list, text).unwrap();
    // What the node image has (dpkg-query -W): jq's libc6 comes from there.
    fs::write(dir.join("base.txt"), "libc6:amd64\t2.36-9+deb12u10\n").unwrap();
    let config = dir.join("seedforge.yaml");
    let text = fs::read_to_string(&config).unwrap().replace(
        "\nimages:\n",
        &format!(
            "\nregistries:\n  - host: \"{}\"\n    insecure: true\n\npackages:\n  - name: ops\n    packages: [jq]\n    base: base.txt\n    repo: {{url: \"{repo_url}\", suite: bookworm}}\n\nimages:\n",
            registry.host()
        ),
    );
    fs::write(&config, text).unwrap();
    lab
}

fn build_offline(lab: &Lab, expect: i32) -> Output {
    lab.seedforge()
        .args(["build", "--offline", "--config", lab.config_arg()])
        .expect(expect)
        .run()
}

fn assert_names(out: &Output, needles: &[&str]) {
    for n in needles {
        assert!(out.stderr.contains(n), "{n:?} not named:\n{}", out.stderr);
    }
}

#[test]
fn offline_rebuild_gives_the_same_bytes_and_names_whatever_is_missing() {
    if !require_tool("docker-registry")
        || !require_tool("skopeo")
        || !require_tool("apt-ftparchive")
        || !require_tool("python3")
    {
        return;
    }
    let mut registry = Registry::start_plain();
    for name in FROM_REGISTRY {
        let source = format!("oci:{}:{name}", fixture_layout().display());
        skopeo_push(&source, &registry, &format!("rancher/{name}"), true);
    }
    let repo = tempfile::tempdir().unwrap();
    make_repo(repo.path(), &fixture_debs());
    let mut server = HttpServer::start(repo.path());
    let lab = lab_with_network_sources(&registry, &server.url);
    let out = lab.out_dir();

    lab.build();
    let lock_path = lab.lab_dir().join("seedforge.lock");
    let lock_bytes = fs::read(&lock_path).unwrap();
    let lock: serde_json::Value = serde_json::from_slice(&lock_bytes).unwrap();
    let host = registry.host();
    let source = |name: &str| format!("docker://{host}/rancher/{name}");
    for name in FROM_REGISTRY {
        assert!(lock["images"][source(name)].is_string(), "{lock}");
    }
    // The pause index has two platforms and the lab keeps one: the rewritten index the
    // layout holds is recorded, so an offline build can find it.
    assert!(
        lock["stored"][source("mirrored-pause:3.6")].is_string(),
        "{lock}"
    );
    assert_eq!(
        lock["packages"]["ops"]["sha256"].as_str().unwrap(),
        sha256_file(&out.join("packages/ops.tar.gz")),
        "{lock}"
    );
    let online = artifacts(&out);
    assert!(online.keys().any(|p| p.starts_with("iso")), "{online:?}");
    // `seedforge lock` pins the bundle a build writes: with its pin damaged, --check names
    // it (exit 1) with the digest of the tarball, taken from the build state, or, the state
    // gone, from the bundle made once in a scratch folder (removed after); the output is
    // untouched.
    let real = lock["packages"]["ops"]["sha256"]
        .as_str()
        .unwrap()
        .to_string();
    let damaged = String::from_utf8(lock_bytes.clone()).unwrap();
    fs::write(&lock_path, damaged.replace(&real, &"0".repeat(64))).unwrap();
    let tmp = lab.root().join("tmp");
    fs::create_dir(&tmp).unwrap();
    let check = || {
        let stale = (lab.seedforge())
            .args(["lock", "--check", "--json", "--config", lab.config_arg()])
            .env("TMPDIR", tmp.to_str().unwrap())
            .expect(1)
            .run()
            .json();
        assert_eq!(stale["updated"].as_array().unwrap().len(), 1, "{stale}");
        assert_eq!(stale["updated"][0]["key"], "ops", "{stale}");
        assert_eq!(
            stale["updated"][0]["after"]["sha256"],
            real.as_str(),
            "{stale}"
        );
    };
    check();
    let state = out.join(".seedforge/state.json");
    let state_aside = lab.root().join("state.json");
    fs::rename(&state, &state_aside).unwrap();
    let before = snapshot(&out);
    check();
    assert_same_tree(&before, &snapshot(&out), "the output");
    assert_eq!(fs::read_dir(&tmp).unwrap().count(), 0);
    fs::rename(&state_aside, &state).unwrap();
    fs::write(&lock_path, &lock_bytes).unwrap();

    // A build that fails after the mirror wrote the lock, before the packages step ran,
    // keeps the bundle's pin: the lock is byte-identical, so offline still works.
    let airgap = out.join("airgap");
    let saved = lab.root().join("airgap-saved");
    fs::rename(&airgap, &saved).unwrap();
    fs::write(&airgap, "not a folder").unwrap();
    lab.seedforge()
        .args(["build", "--config", lab.config_arg()])
        .expect(1)
        .run();
    assert_eq!(
        fs::read(&lock_path).unwrap(),
        lock_bytes,
        "the lock lost a pin"
    );
    fs::remove_file(&airgap).unwrap();
    fs::rename(&saved, &airgap).unwrap();

    // Nothing to reach from here on.
    registry.stop();
    server.child.kill();

    let plan = lab
        .seedforge()
        .args(["plan", "--offline", "--config", lab.config_arg()])
        .run();
    assert!(plan.stdout.contains("offline"), "{}", plan.stdout);
    build_offline(&lab, 0);
    assert_eq!(
        artifacts(&out),
        online,
        "the offline build changed an artifact"
    );
    assert_eq!(fs::read(&lock_path).unwrap(), lock_bytes);
    lab.seedforge().arg("verify").arg(&out).run();

    // Unchanged, offline again: each pinned manifest is read from the layout once (by the
    // offline check, which keeps it for selection and the mirror step).
    if require_tool("strace") {
        let root = lock["images"][source("mirrored-coredns-coredns:1.12.1")]
            .as_str()
            .unwrap()
            .strip_prefix("sha256:")
            .unwrap()
            .to_string();
        let trace = lab.root().join("offline-opens.txt");
        common::Cmd::new("strace")
            .args(["-f", "-qq", "-e", "trace=openat,open", "-o"])
            .arg(&trace)
            .arg("--")
            .arg(common::seedforge_bin())
            .args(["-q", "build", "--offline", "--config", lab.config_arg()])
            .cwd(lab.root())
            .run();
        let text = fs::read_to_string(&trace).unwrap();
        let opens = text.lines().filter(|l| l.contains(&root)).count();
        assert_eq!(opens, 1, "opens of the pinned manifest {root}:\n{text}");
        fs::remove_file(&trace).unwrap();
    }

    // A manifest gone from the layout, an image the lock does not know, and a bundle that
    // is not the one recorded: each is named, with what is missing; nothing changes.
    let coredns = lock["images"][source("mirrored-coredns-coredns:1.12.1")]
        .as_str()
        .unwrap()
        .strip_prefix("sha256:")
        .unwrap()
        .to_string();
    let manifest = out.join("oci/blobs/sha256").join(&coredns);
    let kept = lab.root().join("kept-manifest");
    fs::rename(&manifest, &kept).unwrap();
    let list = lab.lab_dir().join("images.txt");
    let list_text = fs::read_to_string(&list).unwrap();
    let new_source = source("not-pinned:1");
    fs::write(
        &list,
        format!("{list_text}{new_source} docker.io/rancher/not-pinned:1\n"),
    )
    .unwrap();
    let bundle = out.join("packages/ops.tar.gz");
    let bundle_bytes = fs::read(&bundle).unwrap();
    fs::write(&bundle, b"not the bundle").unwrap();
    let before = snapshot(lab.root());
    let failed = build_offline(&lab, 2);
    assert_same_tree(&before, &snapshot(lab.root()), "a refused offline build");
    assert_names(
        &failed,
        &[
            "docker.io/rancher/mirrored-coredns-coredns:1.12.1",
            &source("mirrored-coredns-coredns:1.12.1"),
            &coredns,
            "docker.io/rancher/not-pinned:1",
            &new_source,
            "not pinned",
            "bundle ops",
            "ops.tar.gz",
            "without --offline",
        ],
    );
    assert!(
        !failed.stderr.contains("klipper-lb"),
        "an image that is there is named:\n{}",
        failed.stderr
    );
    let planned = lab
        .seedforge()
        .args(["plan", "--offline", "--config", lab.config_arg()])
        .expect(2)
        .run();
    assert_eq!(planned.stderr, failed.stderr);

    // Put everything back: offline works again, same bytes.
    fs::rename(&kept, &manifest).unwrap();
    fs::write(&list, list_text).unwrap();
    fs::write(&bundle, bundle_bytes).unwrap();
    build_offline(&lab, 0);
    assert_eq!(artifacts(&out), online);

    // No lock at all: the error names it.
    fs::remove_file(&lock_path).unwrap();
    let before = snapshot(lab.root());
    let failed = build_offline(&lab, 2);
    assert_same_tree(&before, &snapshot(lab.root()), "offline without a lock");
    assert_names(
        &failed,
        &[
            "fixtures/lab/seedforge.lock",
            "no lock file",
            "docker.io/rancher/klipper-lb:v0.4.13",
        ],
    );
}

#[test]
fn the_demo_builds_offline_from_its_local_sources() {
    let lab = Lab::new();
    let out = build_offline(&lab, 0);
    assert!(out.stdout.contains("built"), "{}", out.stdout);
    lab.seedforge().arg("verify").arg(lab.out_dir()).run();
    assert!(lab.out_dir().join("oci/index.json").is_file());
    assert!(
        !lab.lab_dir().join("seedforge.lock").exists(),
        "a build with no registry image wrote a lock"
    );
    // The same bytes as an online build of the same inputs (PKI aside, which is kept
    // state): the images and their archive.
    let online = lab.root().join("online");
    lab.seedforge()
        .args(["build", "--config", lab.config_arg(), "--out"])
        .arg(&online)
        .run();
    for f in ["oci/index.json", "airgap/k3s-airgap-images-amd64.tar.zst"] {
        assert_eq!(
            sha256_file(&lab.out_dir().join(f)),
            sha256_file(&online.join(f)),
            "{f}"
        );
    }
}
