//! `seedforge mirror` from a real distribution registry (plain HTTP, TLS with a test CA,
//! TLS with htpasswd basic auth) filled by skopeo, checked against skopeo; `seedforge
//! push` into a second registry with identical digests; failures that must name the
//! registry and image and commit nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use common::registry::{
    Registry, RegistryOptions, TestCa, fixture_layout, skopeo_push, skopeo_raw_digest,
};
use common::{Cmd, require_tool};
use std::fs::{self, File};
use std::path::Path;
use std::process::Stdio;

/// The fixture images, pushed as `rancher/<name>`.
const FIXTURES: [&str; 6] = [
    "mirrored-pause:3.6",
    "mirrored-coredns-coredns:1.12.1",
    "local-path-provisioner:v0.0.31",
    "mirrored-metrics-server:v0.7.2",
    "klipper-helm:v0.9.5-build20250306",
    "klipper-lb:v0.4.13",
];

fn tools() -> bool {
    require_tool("docker-registry") && require_tool("skopeo") && require_tool("openssl")
}

fn fill(registry: &Registry) {
    let layout = fixture_layout();
    for name in FIXTURES {
        let source = format!("oci:{}:{name}", layout.display());
        skopeo_push(&source, registry, &format!("rancher/{name}"), true);
    }
}

fn write_list(dir: &Path, host: &str, names: &[&str]) -> std::path::PathBuf {
    let list = dir.join("images.txt");
    let text: String = names
        .iter()
        .map(|n| format!("docker://{host}/rancher/{n}\n"))
        .collect();
    fs::write(&list, text).unwrap();
    list
}

fn index_digest(layout: &Path, name: &str) -> String {
    let index: serde_json::Value =
        serde_json::from_slice(&fs::read(layout.join("index.json")).unwrap()).unwrap();
    index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == name)
        .unwrap_or_else(|| panic!("{name} not in {index}"))["digest"]
        .as_str()
        .unwrap()
        .to_string()
}

fn mirror_cmd(list: &Path, layout: &Path) -> Cmd {
    Cmd::seedforge()
        .args([
            "--json",
            "mirror",
            "--platform",
            "linux/amd64",
            "--platform",
            "linux/arm64",
        ])
        .arg("--images")
        .arg(list)
        .arg("--layout")
        .arg(layout)
}

#[test]
fn plain_registry_mirror_matches_skopeo_push_keeps_digests() {
    if !tools() {
        return;
    }
    let source = Registry::start_plain();
    fill(&source);
    let work = tempfile::tempdir().unwrap();
    let list = write_list(work.path(), &source.host(), &FIXTURES);
    let layout = work.path().join("oci");
    let out = mirror_cmd(&list, &layout)
        .args(["--plain-http", &source.host()])
        .run();
    let first = out.json();
    assert!(first["summary"]["bytes_transferred"].as_u64().unwrap() > 0);
    // Every fixture image shares one 346-byte base layer: fetched once, saved six times
    // over (seven manifests reference it).
    assert_eq!(first["summary"]["bytes_saved"], 6 * 346, "{first}");
    for name in FIXTURES {
        let dest = format!("{}/rancher/{name}", source.host());
        let want = skopeo_raw_digest(&source, &format!("rancher/{name}"));
        assert_eq!(index_digest(&layout, &dest), want, "{dest}");
        // skopeo reads every image back from our layout.
        Cmd::new("skopeo")
            .args(["inspect", "--raw"])
            .arg(format!("oci:{}:{dest}", layout.display()))
            .run();
        Cmd::new("skopeo")
            .args(["copy", "--quiet", "--all"])
            .arg(format!("oci:{}:{dest}", layout.display()))
            .arg(format!("oci:{}:x", work.path().join("readback").display()))
            .run();
    }
    // HTTPS to a plain-HTTP registry: refused at once with the flag to use, nothing written.
    let https = work.path().join("https");
    let out = mirror_cmd(&list, &https).expect(2).run();
    assert!(out.stderr.contains("does not speak TLS"), "{}", out.stderr);
    assert!(out.stderr.contains("--plain-http"), "{}", out.stderr);
    assert!(!https.exists());
    // A second mirror of the same list moves no blob bytes.
    let again = mirror_cmd(&list, &layout)
        .args(["--plain-http", &source.host()])
        .run()
        .json();
    assert_eq!(again["summary"]["bytes_transferred"], 0, "{again}");
    assert_eq!(again["summary"]["blobs_written"], 0, "{again}");

    // Variants are honoured: arm64/v8 alone gives a one-entry index; arm/v7 is not there.
    let pause_list = write_list(work.path(), &source.host(), &["mirrored-pause:3.6"]);
    let arm = work.path().join("arm64");
    Cmd::seedforge()
        .args(["mirror", "--platform", "linux/arm64/v8", "--images"])
        .arg(&pause_list)
        .arg("--layout")
        .arg(&arm)
        .args(["--plain-http", &source.host()])
        .run();
    let dest = format!("{}/rancher/mirrored-pause:3.6", source.host());
    let out = Cmd::new("skopeo")
        .args(["inspect", "--raw"])
        .arg(format!("oci:{}:{dest}", arm.display()))
        .run();
    let index: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let children = index["manifests"].as_array().unwrap();
    assert_eq!(children.len(), 1, "{index}");
    assert_eq!(children[0]["platform"]["variant"], "v8", "{index}");
    let out = Cmd::seedforge()
        .args(["mirror", "--platform", "linux/arm/v7", "--images"])
        .arg(&pause_list)
        .arg("--layout")
        .arg(work.path().join("armv7"))
        .args(["--plain-http", &source.host()])
        .expect(2)
        .run();
    assert!(out.stderr.contains("linux/arm64/v8"), "{}", out.stderr);
    assert!(!work.path().join("armv7").exists());

    // Push into a second registry: same digests, and skopeo can copy from it.
    let target = Registry::start_plain();
    let pushed = Cmd::seedforge()
        .args(["--json", "push", "--layout"])
        .arg(&layout)
        .args(["--registry", &target.host(), "--plain-http", &target.host()])
        .run()
        .json();
    // The shared base layer goes up once and is mounted into the other repositories.
    assert!(pushed["blobs_mounted"].as_u64().unwrap() >= 5, "{pushed}");
    for name in FIXTURES {
        let dest = format!("{}/rancher/{name}", source.host());
        assert_eq!(
            skopeo_raw_digest(&target, &format!("rancher/{name}")),
            index_digest(&layout, &dest),
            "{name}"
        );
    }
    Cmd::new("skopeo")
        .args(["copy", "--quiet", "--all", "--src-tls-verify=false"])
        .arg(format!(
            "docker://{}/rancher/mirrored-pause:3.6",
            target.host()
        ))
        .arg(format!("oci:{}:p", work.path().join("from-push").display()))
        .run();
    // Pushing again finds every blob in place.
    let report = Cmd::seedforge()
        .args(["--json", "push", "--layout"])
        .arg(&layout)
        .args(["--registry", &target.host(), "--plain-http", &target.host()])
        .run()
        .json();
    assert_eq!(report["blobs_uploaded"], 0, "{report}");
}

#[test]
fn tls_and_basic_auth_registries_and_their_failures() {
    if !tools() {
        return;
    }
    let ca = TestCa::new();
    let tls_only = Registry::start(&RegistryOptions {
        tls: Some((ca.server_cert.clone(), ca.server_key.clone())),
        basic_auth: None,
        token: None,
    });
    let auth = Registry::start(&RegistryOptions {
        tls: Some((ca.server_cert.clone(), ca.server_key.clone())),
        basic_auth: Some(("tester".into(), "s3cret-pw".into())),
        token: None,
    });
    let pause = format!("oci:{}:mirrored-pause:3.6", fixture_layout().display());
    skopeo_push(&pause, &tls_only, "rancher/mirrored-pause:3.6", true);
    Cmd::new("skopeo")
        .args([
            "copy",
            "--quiet",
            "--all",
            "--dest-creds",
            "tester:s3cret-pw",
        ])
        .arg("--dest-cert-dir")
        .arg(ca.cert_dir())
        .arg(&pause)
        .arg(format!(
            "docker://{}/rancher/mirrored-pause:3.6",
            auth.host()
        ))
        .run();
    let want = skopeo_raw_digest(&tls_only, "rancher/mirrored-pause:3.6");
    let work = tempfile::tempdir().unwrap();
    let pw = work.path().join("pw");
    fs::write(&pw, "s3cret-pw\n").unwrap();
    let wrong = work.path().join("wrong");
    fs::write(&wrong, "nope\n").unwrap();

    // TLS with the test CA.
    let list = write_list(work.path(), &tls_only.host(), &["mirrored-pause:3.6"]);
    let layout = work.path().join("tls");
    mirror_cmd(&list, &layout)
        .arg("--ca-file")
        .arg(&ca.ca_cert)
        .run();
    let dest = format!("{}/rancher/mirrored-pause:3.6", tls_only.host());
    assert_eq!(index_digest(&layout, &dest), want);

    // Untrusted CA: clear message, nothing written.
    let layout = work.path().join("untrusted");
    let out = mirror_cmd(&list, &layout).expect(2).run();
    assert!(out.stderr.contains("not trusted"), "{}", out.stderr);
    assert!(out.stderr.contains(&tls_only.host()), "{}", out.stderr);
    assert!(
        out.stderr.contains("rancher/mirrored-pause:3.6"),
        "{}",
        out.stderr
    );
    assert!(!layout.exists());

    // TLS + htpasswd: right password works, wrong one is refused with nothing written.
    let list = write_list(work.path(), &auth.host(), &["mirrored-pause:3.6"]);
    let layout = work.path().join("auth");
    let with_password = |layout: &Path, file: &Path, code: i32| {
        mirror_cmd(&list, layout)
            .arg("--ca-file")
            .arg(&ca.ca_cert)
            .args(["--username", "tester", "--password-stdin"])
            .expect(code)
            .spawn_with_stdin(Stdio::from(File::open(file).unwrap()))
            .wait()
    };
    with_password(&layout, &pw, 0);
    let dest = format!("{}/rancher/mirrored-pause:3.6", auth.host());
    assert_eq!(index_digest(&layout, &dest), want);
    let refused = work.path().join("refused");
    let out = with_password(&refused, &wrong, 2);
    assert!(out.stderr.contains("refused access"), "{}", out.stderr);
    assert!(out.stderr.contains(&auth.host()), "{}", out.stderr);
    assert!(out.stderr.contains("tester"), "{}", out.stderr);
    assert!(!out.stderr.contains("nope"), "{}", out.stderr);
    assert!(!refused.exists());

    // Push over TLS with the CA and credentials; a wrong password is refused as mirror
    // refuses it (exit 2, the registry and user named, the password not shown).
    let tls_layout = work.path().join("tls");
    let out = Cmd::seedforge()
        .args(["push", "--layout"])
        .arg(&tls_layout)
        .args(["--registry", &auth.host(), "--ca-file"])
        .arg(&ca.ca_cert)
        .args(["--username", "tester", "--password-stdin"])
        .expect(2)
        .spawn_with_stdin(Stdio::from(File::open(&wrong).unwrap()))
        .wait();
    assert!(out.stderr.contains("refused access"), "{}", out.stderr);
    assert!(out.stderr.contains(&auth.host()), "{}", out.stderr);
    assert!(out.stderr.contains("tester"), "{}", out.stderr);
    assert!(!out.stderr.contains("nope"), "{}", out.stderr);
    Cmd::seedforge()
        .args(["push", "--layout"])
        .arg(&tls_layout)
        .args(["--registry", &auth.host(), "--ca-file"])
        .arg(&ca.ca_cert)
        .args(["--username", "tester", "--password-stdin"])
        .spawn_with_stdin(Stdio::from(File::open(&pw).unwrap()))
        .wait();
    let raw = Cmd::new("skopeo")
        .args([
            "inspect",
            "--raw",
            "--creds",
            "tester:s3cret-pw",
            "--cert-dir",
        ])
        .arg(ca.cert_dir())
        .arg(format!(
            "docker://{}/rancher/mirrored-pause:3.6",
            auth.host()
        ))
        .run()
        .stdout;
    assert_eq!(
        format!("sha256:{}", common::sha256_bytes(raw.as_bytes())),
        want
    );

    // Credentials from the Docker config file.
    let docker = work.path().join("docker");
    fs::create_dir_all(&docker).unwrap();
    fs::write(
        docker.join("config.json"),
        format!(
            r#"{{"auths":{{"{}":{{"auth":"dGVzdGVyOnMzY3JldC1wdw=="}}}}}}"#,
            auth.host()
        ),
    )
    .unwrap();
    let from_config = work.path().join("docker-config");
    mirror_cmd(&list, &from_config)
        .arg("--ca-file")
        .arg(&ca.ca_cert)
        .env("DOCKER_CONFIG", docker.to_str().unwrap())
        .run();
    assert_eq!(index_digest(&from_config, &dest), want);

    // Unknown image: named with its registry; an existing layout is left as it was.
    let list = write_list(work.path(), &tls_only.host(), &["no-such-image:1"]);
    let layout = work.path().join("tls");
    let before = fs::read(layout.join("index.json")).unwrap();
    let out = mirror_cmd(&list, &layout)
        .arg("--ca-file")
        .arg(&ca.ca_cert)
        .expect(2)
        .run();
    assert!(
        out.stderr.contains("rancher/no-such-image:1"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains(&tls_only.host()), "{}", out.stderr);
    assert_eq!(fs::read(layout.join("index.json")).unwrap(), before);
}

/// Two tags the registry lacks are both reported, each at its `LIST:LINE`, with the tags
/// the registry has (the nearest first), before anything is written.
#[test]
fn every_wrong_tag_is_named_at_its_line_with_the_tags_the_registry_has() {
    if !tools() {
        return;
    }
    let registry = Registry::start_plain();
    let layout = fixture_layout();
    skopeo_push(
        &format!("oci:{}:mirrored-pause:3.6", layout.display()),
        &registry,
        "rancher/mirrored-pause:3.6",
        true,
    );
    let host = registry.host();
    let dir = tempfile::tempdir().unwrap();
    let list = write_list(
        dir.path(),
        &host,
        &[
            "mirrored-pause:3.6",
            "mirrored-pause:3.7",
            "mirrored-pause:9.9",
        ],
    );
    let out_layout = dir.path().join("layout");
    let out = Cmd::seedforge()
        .args(["mirror", "--images"])
        .arg(&list)
        .arg("--layout")
        .arg(&out_layout)
        .args(["--plain-http", &host])
        .any_status()
        .run();
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    for needle in [
        "2 image(s) of the lists cannot be used",
        "images.txt:2: ",
        "mirrored-pause:3.7 (unknown tag; the registry has 3.6)",
        "images.txt:3: ",
        "mirrored-pause:9.9 (unknown tag; the registry has 3.6)",
    ] {
        assert!(out.stderr.contains(needle), "{needle}:\n{}", out.stderr);
    }
    assert!(!out.stderr.contains("images.txt:1:"), "{}", out.stderr);
    assert!(!out_layout.join("index.json").exists());
}
