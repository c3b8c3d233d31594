//! `cluster.embedded_registry`: k3s's embedded registry mirror. Only the servers' seeds
//! carry the airgap archives; every seed carries a `registries.yaml` that enables the
//! mirror for each registry the images come from; the servers' k3s config turns it on.
//! Judges: osirrox (extracts each seed) and pycdlib (lists it independently),
//! `sha256sum -c` on each payload, `cloud-init schema` on each user-data, Debian's
//! python3 YAML parser on `registries.yaml` and k3s's `config.yaml`, and `seedforge
//! verify`/`clean` on the sealed output. A k3s release before the mirror's GA, one whose
//! mirror does not share imported images, and a missing registry without the mirror, are
//! exit 2 naming the config's line.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use common::iso::{pycdlib_files, pycdlib_python};
use common::{Cmd, Lab, read_json, require_tool, snapshot};
use serde_json::Value;
use std::fs;
use std::path::{Path, PathBuf};

const SERVER: &str = "lab-server1";
const AGENTS: [&str; 2] = ["lab-agent1", "lab-agent2"];
const REGISTRY: &str = "registry:\n  host: 192.168.6.1\n  port: 5000\n";

/// The lab with `embedded_registry: true`, and without its `registry:` section unless
/// `keep_registry`.
fn lab(keep_registry: bool) -> Lab {
    let lab = Lab::new();
    let path = lab.lab_dir().join("seedforge.yaml");
    let mut text = fs::read_to_string(&path).unwrap();
    assert!(text.contains(REGISTRY), "the lab config changed");
    if !keep_registry {
        text = text.replace(REGISTRY, "");
    }
    text = text.replace(
        "  k3s_version: v1.33.1+k3s1\n",
        "  k3s_version: v1.33.1+k3s1\n  embedded_registry: true\n",
    );
    fs::write(&path, text).unwrap();
    lab
}

fn iso(lab: &Lab, node: &str) -> PathBuf {
    lab.out_dir().join("iso").join(format!("seed-{node}.iso"))
}

/// Extracts `node`'s seed with osirrox into a folder of its own.
fn extract(lab: &Lab, node: &str) -> PathBuf {
    let dir = lab.root().join(format!("x-{node}"));
    Cmd::new("osirrox")
        .arg("-indev")
        .arg(iso(lab, node))
        .args(["-extract", "/"])
        .arg(&dir)
        .run();
    dir
}

/// Runs Debian's python3 (where PyYAML and cloud-init live) on `script` with `args`,
/// returning what it prints as JSON.
fn python_json(script: &str, args: &[&Path]) -> Value {
    let out = Cmd::new("/usr/bin/python3")
        .args(["-c", script])
        .args(args)
        .run();
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.stdout))
}

/// `registries.yaml` as PyYAML reads it.
fn registries_yaml(path: &Path) -> Value {
    python_json(
        "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))",
        &[path],
    )
}

/// The k3s `config.yaml` a user-data writes, as PyYAML reads it.
fn k3s_config(user_data: &Path) -> Value {
    python_json(
        r#"
import json, sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
[f] = [f for f in doc["write_files"] if f["path"] == "/etc/rancher/k3s/config.yaml"]
print(json.dumps(yaml.safe_load(f["content"])))
"#,
        &[user_data],
    )
}

fn schema_ok(user_data: &Path) {
    if require_tool("cloud-init") {
        common::cloud_init::assert_valid(&[user_data]);
    }
}

/// The payload of an extracted seed passes `sha256sum -c` and lists exactly its files.
fn payload_checks(dir: &Path) -> Vec<String> {
    let payload = dir.join("payload");
    Cmd::new("sha256sum")
        .args(["--strict", "-c", "SHA256SUMS"])
        .cwd(&payload)
        .run();
    let mut names: Vec<String> = fs::read_to_string(payload.join("SHA256SUMS"))
        .unwrap()
        .lines()
        .map(|l| l.split_once("  ").unwrap().1.to_string())
        .collect();
    names.sort();
    names
}

/// pycdlib's Rock Ridge listing of a seed (paths only).
fn pycdlib_paths(iso: &Path) -> Option<Vec<String>> {
    let python = pycdlib_python()?;
    Some(
        pycdlib_files(&python, iso, &[])
            .into_keys()
            .filter(|(tree, _)| tree == "rr")
            .map(|(_, path)| path)
            .collect(),
    )
}

/// What every seed of an embedded-mirror build must hold: the servers the airgap archive,
/// the agents none; each payload checks; user-data passes cloud-init's schema and only the
/// servers' k3s config turns the mirror on. Returns the registries.yaml every seed carries.
fn check_seeds(lab: &Lab) -> String {
    let registries = fs::read_to_string(lab.out_dir().join("registries.yaml")).unwrap();
    for node in std::iter::once(SERVER).chain(AGENTS) {
        let server = node == SERVER;
        let dir = extract(lab, node);
        let names = payload_checks(&dir);
        let archive = lab.carried_archive();
        assert_eq!(
            names.contains(&archive),
            server,
            "{node}: payload {names:?}"
        );
        assert_eq!(
            dir.join("payload").join(&archive).exists(),
            server,
            "{node}: the archive on the seed"
        );
        assert_eq!(
            fs::read_to_string(dir.join("payload/registries.yaml")).unwrap(),
            registries,
            "{node}: every node gets the same registries.yaml"
        );
        if let Some(paths) = pycdlib_paths(&iso(lab, node)) {
            assert_eq!(
                paths.iter().any(|p| p.starts_with("payload/images/")),
                server,
                "{node}: pycdlib lists {paths:?}"
            );
        }
        let user_data = dir.join("user-data");
        schema_ok(&user_data);
        let k3s = k3s_config(&user_data);
        if server {
            assert_eq!(k3s["embedded-registry"], Value::Bool(true), "{node}: {k3s}");
        } else {
            assert!(k3s.get("embedded-registry").is_none(), "{node}: {k3s}");
            assert_eq!(k3s["server"], "https://192.168.6.10:6443");
        }
    }
    registries
}

/// The upstream registries of the lab's images, as registries.yaml names them.
fn lab_upstreams(lab: &Lab) -> Vec<String> {
    let mut hosts: Vec<String> = lab
        .lab_destinations()
        .iter()
        .map(|d| d.split('/').next().unwrap().to_string())
        .collect();
    hosts.sort();
    hosts.dedup();
    hosts
}

#[test]
fn without_a_registry_only_servers_carry_the_archives_and_every_node_mirrors_the_upstreams() {
    if !require_tool("osirrox") || !require_tool("sha256sum") {
        return;
    }
    let lab = lab(false);
    let plan = lab
        .seedforge()
        .args(["plan", "--config", lab.config_arg()])
        .run();
    assert!(
        plan.stdout.contains("embedded registry mirror")
            && plan
                .stdout
                .contains("no registry CA or certificate, registry/config.yml or certs.d"),
        "{}",
        plan.stdout
    );
    // Each seed's line says whether it carries image archives.
    for (node, what) in [
        ("lab-server1", "(1 image archive(s))"),
        ("lab-agent1", "(no image archive)"),
        ("lab-agent2", "(no image archive)"),
    ] {
        assert!(
            plan.stdout
                .lines()
                .any(|l| l.contains(&format!("seed-{node}.iso")) && l.contains(what)),
            "{node}: {what}\n{}",
            plan.stdout
        );
    }
    lab.build();
    let out = lab.out_dir();
    let registries = check_seeds(&lab);
    // k3s's form: each upstream listed under `mirrors` with no endpoint, nothing else.
    let parsed = registries_yaml(&out.join("registries.yaml"));
    let mirrors = parsed["mirrors"].as_object().unwrap();
    let listed: Vec<&String> = mirrors.keys().collect();
    assert_eq!(listed, lab_upstreams(&lab).iter().collect::<Vec<_>>());
    assert!(mirrors.values().all(Value::is_null), "{registries}");
    assert!(parsed.get("configs").is_none(), "{registries}");
    // No registry host: no PKI, no registry config, no containerd hosts files.
    for absent in ["pki", "registry", "certs.d"] {
        assert!(!out.join(absent).exists(), "{absent} was written");
    }
    let manifest = read_json(&out.join("manifest.json"));
    assert!(manifest.get("registry").is_none(), "{manifest}");
    assert_eq!(manifest["cluster"]["embedded_registry"], Value::Bool(true));
    lab.seedforge().arg("verify").arg(&out).run();
    // A second build changes nothing: each node's seed is skipped as unchanged.
    let again = lab
        .seedforge()
        .args(["--json", "build", "--config", lab.config_arg()])
        .run()
        .json();
    for step in again["steps"].as_array().unwrap() {
        if step["step"] == "iso" {
            assert_eq!(step["status"], "skipped", "{step}");
        }
    }
    lab.seedforge().arg("clean").arg(&out).run();
    assert!(!out.join("iso").exists() && !out.join("registries.yaml").exists());
}

#[test]
fn with_a_registry_the_mirror_entries_keep_its_endpoint_and_agents_still_carry_no_archives() {
    if !require_tool("osirrox") || !require_tool("sha256sum") {
        return;
    }
    let lab = lab(true);
    lab.build();
    let out = lab.out_dir();
    check_seeds(&lab);
    let parsed = registries_yaml(&out.join("registries.yaml"));
    let mirrors = parsed["mirrors"].as_object().unwrap();
    let mut want = lab_upstreams(&lab);
    want.push("192.168.6.1:5000".into());
    want.sort();
    assert_eq!(
        mirrors.keys().collect::<Vec<_>>(),
        want.iter().collect::<Vec<_>>()
    );
    for (name, mirror) in mirrors {
        assert_eq!(
            mirror["endpoint"],
            serde_json::json!(["https://192.168.6.1:5000"]),
            "{name}"
        );
    }
    assert!(out.join("pki/ca.crt").is_file() && out.join("registry/config.yml").is_file());
    for node in AGENTS {
        let dir = lab.root().join(format!("x-{node}"));
        assert!(
            dir.join("payload/pki/ca.crt").is_file(),
            "{node}: the registry CA"
        );
    }
    let manifest = read_json(&out.join("manifest.json"));
    assert_eq!(manifest["registry"]["endpoint"], "https://192.168.6.1:5000");
    lab.seedforge().arg("verify").arg(&out).run();
}

#[test]
fn an_embedded_mirror_build_is_byte_reproducible() {
    let lab = lab(false);
    lab.build();
    // The site identity is made at random once, and kept: the second output starts with it.
    let second = lab.root().join("second");
    fs::create_dir_all(&second).unwrap();
    fs::copy(lab.out_dir().join("site.json"), second.join("site.json")).unwrap();
    lab.seedforge()
        .args(["build", "--config", lab.config_arg(), "--out", "second"])
        .run();
    for path in ["registries.yaml", "manifest.json", "SHA256SUMS"] {
        assert_eq!(
            fs::read(lab.out_dir().join(path)).unwrap(),
            fs::read(second.join(path)).unwrap(),
            "{path}"
        );
    }
    let a = snapshot(&lab.out_dir().join("iso"));
    let b = snapshot(&second.join("iso"));
    common::assert_same_tree(&a, &b, "seed ISOs");
}

/// `seedforge plan` of the lab with its config edited by `edit`: exit 2, nothing written;
/// returns stderr.
fn refused(lab: &Lab, edit: &dyn Fn(String) -> String) -> String {
    let path = lab.lab_dir().join("seedforge.yaml");
    fs::write(&path, edit(fs::read_to_string(&path).unwrap())).unwrap();
    let out = lab
        .seedforge()
        .args(["plan", "--config", lab.config_arg()])
        .expect(2)
        .run();
    assert!(
        !lab.out_dir().exists(),
        "plan wrote {}",
        lab.out_dir().display()
    );
    out.stderr
}

#[test]
fn a_k3s_release_before_the_mirrors_ga_is_exit_2_naming_the_line_version_and_minimum() {
    for (version, minimum) in [
        ("v1.31.3+k3s1", "v1.31.4+k3s1"),
        ("v1.29.11+k3s1", "v1.29.12+k3s1"),
        ("v1.28.15+k3s1", "v1.29.12+k3s1"),
    ] {
        let lab = lab(false);
        let err = refused(&lab, &|t| t.replace("v1.33.1+k3s1", version));
        assert!(
            err.contains("fixtures/lab/seedforge.yaml:8:3:"),
            "{version}: {err}"
        );
        assert!(err.contains(version), "{version}: {err}");
        assert!(
            err.contains(&format!("needs k3s {minimum}")),
            "{version}: {err}"
        );
    }
    // The first GA release of a line is accepted.
    let lab = lab(false);
    let path = lab.lab_dir().join("seedforge.yaml");
    let text = fs::read_to_string(&path).unwrap();
    fs::write(&path, text.replace("v1.33.1+k3s1", "v1.31.4+k3s1")).unwrap();
    lab.seedforge()
        .args(["plan", "--config", lab.config_arg()])
        .run();
}

#[test]
fn a_release_whose_mirror_does_not_share_imported_images_is_exit_2_naming_the_fixed_one() {
    for (version, fixed) in [
        ("v1.33.6+k3s1", "v1.33.7+k3s1"),
        ("v1.32.10+k3s1", "v1.32.11+k3s1"),
        ("v1.34.2+k3s1", "v1.34.3+k3s1"),
    ] {
        let lab = lab(false);
        let err = refused(&lab, &|t| t.replace("v1.33.1+k3s1", version));
        assert!(
            err.contains("fixtures/lab/seedforge.yaml:8:3:"),
            "{version}: {err}"
        );
        assert!(
            err.contains(&format!("k3s {version} has a known defect")),
            "{version}: {err}"
        );
        assert!(
            err.contains(&format!("use k3s {fixed} or newer")),
            "{version}: {err}"
        );
    }
    // With a registry, agents fall back to it; the fixed release needs none. (The lab's
    // own images stand for the release's list: these releases' notes name other tags.)
    for (keep_registry, version) in [(true, "v1.33.6+k3s1"), (false, "v1.33.7+k3s1")] {
        let lab = lab(keep_registry);
        let path = lab.lab_dir().join("seedforge.yaml");
        let text = fs::read_to_string(&path).unwrap();
        let release = format!("{version}\n  release_images: k3s-images.txt");
        fs::write(&path, text.replace("v1.33.1+k3s1", &release)).unwrap();
        let images = fs::read_to_string(lab.lab_dir().join("images.txt")).unwrap();
        let list: String = images
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .map(|l| format!("{}\n", l.split_whitespace().last().unwrap()))
            .collect();
        fs::write(lab.lab_dir().join("k3s-images.txt"), list).unwrap();
        lab.seedforge()
            .args(["plan", "--config", lab.config_arg()])
            .run();
    }
}

#[test]
fn without_the_mirror_a_missing_registry_stays_exit_2() {
    let lab = Lab::new();
    let err = refused(&lab, &|t| t.replace(REGISTRY, ""));
    assert!(err.contains("fixtures/lab/seedforge.yaml:1:1:"), "{err}");
    assert!(err.contains("missing field `registry`"), "{err}");
}

#[test]
fn a_latest_tag_only_the_mirror_could_serve_is_exit_2_naming_the_list_line() {
    let lab = lab(false);
    let list = lab.lab_dir().join("images.txt");
    let mut text = fs::read_to_string(&list).unwrap();
    text.push_str("oci:../images/oci:mirrored-pause:3.6  example.com/lab/app:latest\n");
    fs::write(&list, &text).unwrap();
    let line = text.lines().count();
    let err = refused(&lab, &|t| t);
    assert!(
        err.contains(&format!("images.txt:{line}: example.com/lab/app:latest")),
        "{err}"
    );
    // With a registry to fall back to, agents can pull it from there.
    let lab = self::lab(true);
    fs::write(lab.lab_dir().join("images.txt"), &text).unwrap();
    lab.seedforge()
        .args(["plan", "--config", lab.config_arg()])
        .run();
}

#[test]
fn an_autoinstall_server_hands_the_mirror_setting_to_its_first_boot() {
    let lab = lab(false);
    let path = lab.lab_dir().join("seedforge.yaml");
    let text = fs::read_to_string(&path).unwrap();
    let server = "    role: server\n    address: 192.168.6.10/24\n";
    assert!(text.contains(server), "the lab config changed");
    let key =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ05tBoRROahVHU1N7SljcfotznSRRkV+5ORnYz38/N4 ops@lab";
    let text = text.replace(server, &format!("{server}    install: autoinstall\n"))
        + &format!("autoinstall:\n  ssh_authorized_keys:\n    - {key}\n");
    fs::write(&path, text).unwrap();
    lab.seedforge()
        .args(["render", "--config", lab.config_arg(), "--out", "nodes"])
        .run();
    let user_data = lab.root().join("nodes").join(SERVER).join("user-data");
    schema_ok(&user_data);
    // The installer's config nests the very first-boot config a cloud-init server gets.
    let k3s = python_json(
        r#"
import json, sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))["autoinstall"]["user-data"]
[f] = [f for f in doc["write_files"] if f["path"] == "/etc/rancher/k3s/config.yaml"]
print(json.dumps(yaml.safe_load(f["content"])))
"#,
        &[&user_data],
    );
    assert_eq!(k3s["embedded-registry"], Value::Bool(true), "{k3s}");
}
