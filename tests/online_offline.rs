//! Online = offline for every input kind: one config takes images from a real
//! distribution registry (filled by skopeo), a chart from a Helm HTTP repository and one
//! from the registry as an OCI artifact, a `files:` entry from a URL and one from a local
//! path, a bundle from an apt repository (written by apt-ftparchive) and one from local
//! .debs; the HTTP sources are served by `python3 -m http.server` on 127.0.0.1. Built
//! online unsigned, signed with an Ed25519 PKCS#8 key and signed with an ECDSA P-256 one
//! (`seal.key`, keys made by openssl), each output is rebuilt online unchanged, then the
//! servers are stopped and `build --offline` runs in a copy of the config folder and
//! output, as the far side holds them (with the build state, and without it): every
//! sealed file, `SHA256SUMS` first and the signatures beside it, and the export folder
//! must be byte-identical to the online build's. A chart from a Helm HTTP repository also
//! crosses by receipt, delta and apply, the far side's offline rebuild giving the near
//! side's seal.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use common::charts::{VALUES, chart_tgz, push_chart};
use common::debs::{HttpServer, fixture_debs, make_repo};
use common::registry::{Registry, fixture_layout, skopeo_push};
use common::{Cmd, Lab, assert_same_seal, assert_same_tree, require_tool, sha256_bytes, snapshot};
use std::fs;

/// Fixture images served by the registry (the rest of the lab list stays local).
const FROM_REGISTRY: [&str; 3] = [
    "mirrored-pause:3.6",
    "mirrored-coredns-coredns:1.12.1",
    "klipper-lb:v0.4.13",
];

/// The signature files a signed seal writes beside what it signs.
const SIGNATURES: [&str; 2] = [
    "manifest.json.sigstore.json",
    "sbom/provenance.sigstore.json",
];

/// A payload file served over HTTP.
const TOOL: &[u8] = b"#!/bin/sh\necho served over http\n";
/// A payload file beside the config.
const NOTE: &[u8] = b"a local payload file\n";

/// The servers every online source lives on.
struct Sources {
    registry: Registry,
    web: HttpServer,
    _root: tempfile::TempDir,
}

/// The registry (three lab images and a chart as an OCI artifact) and one HTTP server
/// for a Helm repository (`/charts/`), an apt repository (`/apt/`) and a file (`/files/`).
fn start_sources() -> Sources {
    let registry = Registry::start_plain();
    for name in FROM_REGISTRY {
        let source = format!("oci:{}:{name}", fixture_layout().display());
        skopeo_push(&source, &registry, &format!("rancher/{name}"), true);
    }
    push_chart(
        &registry,
        "charts/demo-app",
        "2.0.0",
        &chart_tgz("demo-app", "2.0.0", VALUES),
    );
    let root = tempfile::tempdir().unwrap();
    let web = root.path();
    let charts = web.join("charts");
    fs::create_dir_all(&charts).unwrap();
    let tgz = chart_tgz("demo-app", "1.2.3", VALUES);
    fs::write(charts.join("demo-app-1.2.3.tgz"), &tgz).unwrap();
    fs::write(
        charts.join("index.yaml"),
        format!(
            "apiVersion: v1\nentries:\n  demo-app:\n    - apiVersion: v2\n      name: demo-app\n      version: 1.2.3\n      digest: {}\n      urls:\n        - demo-app-1.2.3.tgz\n",
            sha256_bytes(&tgz)
        ),
    )
    .unwrap();
    make_repo(&web.join("apt"), &fixture_debs());
    fs::create_dir_all(web.join("files")).unwrap();
    fs::write(web.join("files/tool.sh"), TOOL).unwrap();
    Sources {
        web: HttpServer::start(web),
        registry,
        _root: root,
    }
}

/// The lab with every input kind from `sources` (and beside the config), sealed by
/// `key` (a file in the config folder) when given.
fn configure(lab: &Lab, sources: &Sources, key: Option<&str>) {
    let dir = lab.lab_dir();
    let host = sources.registry.host();
    let list = dir.join("images.txt");
    let mut text = fs::read_to_string(&list).unwrap();
    for name in FROM_REGISTRY {
        let local = format!("oci:../images/oci:{name} ");
        assert!(text.contains(&local), "{local} not in the lab list");
        text = text.replace(&local, &format!("docker://{host}/rancher/{name} "));
    }
    fs::write(&list, text).unwrap();
    // What the node image has (dpkg-query -W): jq's libc6 comes from there.
    fs::write(dir.join("base.txt"), "libc6:amd64\t2.36-9+deb12u10\n").unwrap();
    fs::create_dir_all(dir.join("debs")).unwrap();
    for deb in fixture_debs() {
        fs::copy(&deb, dir.join("debs").join(deb.file_name().unwrap())).unwrap();
    }
    fs::write(dir.join("note.txt"), NOTE).unwrap();
    let web = &sources.web.url;
    let config = dir.join("seedforge.yaml");
    let mut text = fs::read_to_string(&config).unwrap().replace(
        "\nimages:\n",
        &format!(
            "\nregistries:\n  - host: \"{host}\"\n    insecure: true\n\npackages:\n  - name: ops\n    packages: [jq]\n    base: base.txt\n    repo: {{url: \"{web}/apt\", suite: bookworm}}\n  - name: local\n    packages: [jq]\n    base: base.txt\n    debs: [debs]\n    nodes: false\n\nimages:\n"
        ),
    );
    text.push_str(&format!(
        "\nfiles:\n  - name: tools/tool.sh\n    source: {web}/files/tool.sh\n    sha256: \"{}\"\n    executable: true\n  - name: notes/note.txt\n    source: note.txt\n    sha256: \"{}\"\n",
        sha256_bytes(TOOL),
        sha256_bytes(NOTE)
    ));
    fs::write(dir.join("web-values.yaml"), "replicaCount: 2\n").unwrap();
    fs::create_dir_all(dir.join("manifests")).unwrap();
    fs::write(
        dir.join("manifests/apps.yaml"),
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: apps\n",
    )
    .unwrap();
    text.push_str(&format!(
        "\ncharts:\n  - name: web\n    repo: {web}/charts\n    chart: demo-app\n    version: 1.2.3\n    values: web-values.yaml\n  - name: oci\n    repo: oci://{host}/charts\n    chart: demo-app\n    version: 2.0.0\nmanifests:\n  - manifests\nexport_dir: export\n"
    ));
    if let Some(key) = key {
        text.push_str(&format!("\nseal:\n  key: {key}\n"));
    }
    fs::write(&config, text).unwrap();
}

/// A private key made by openssl into the lab's config folder.
fn make_key(lab: &Lab, name: &str, algorithm: &[&str]) {
    Cmd::new("openssl")
        .arg("genpkey")
        .args(algorithm)
        .arg("-out")
        .arg(lab.lab_dir().join(name))
        .run();
}

#[test]
fn every_input_kind_rebuilds_offline_and_online_to_the_same_seal() {
    for tool in [
        "docker-registry",
        "skopeo",
        "apt-ftparchive",
        "python3",
        "curl",
        "openssl",
    ] {
        if !require_tool(tool) {
            return;
        }
    }
    let mut sources = start_sources();
    let lab = Lab::new();
    make_key(&lab, "ed25519.pem", &["-algorithm", "ed25519"]);
    make_key(
        &lab,
        "ecdsa.pem",
        &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
    );
    let config = lab.lab_dir().join("seedforge.yaml");
    let original = fs::read_to_string(&config).unwrap();
    let list = lab.lab_dir().join("images.txt");
    let original_list = fs::read_to_string(&list).unwrap();
    let cases = [
        ("unsigned", None),
        ("ed25519", Some("ed25519.pem")),
        ("ecdsa", Some("ecdsa.pem")),
    ];
    let out = lab.out_dir();
    let mut exports = Vec::new();
    for (case, key) in cases {
        fs::write(&config, &original).unwrap();
        fs::write(&list, &original_list).unwrap();
        configure(&lab, &sources, key);
        lab.build();
        for kind in [
            "charts/web-1.2.3.tgz",
            "charts/oci-2.0.0.tgz",
            "files/tools/tool.sh",
            "files/notes/note.txt",
            "packages/ops.tar.gz",
            "packages/local.tar.gz",
        ] {
            assert!(out.join(kind).is_file(), "{case}: no {kind}");
        }
        for signature in SIGNATURES {
            assert_eq!(
                out.join(signature).is_file(),
                key.is_some(),
                "{case}: {signature}"
            );
        }
        let built = lab.root().join(format!("built-{case}"));
        common::copy_tree(&out, &built, &|_| false);
        let export = snapshot(&lab.lab_dir().join("export"));
        lab.build();
        assert_same_seal(&built, &out, &format!("{case}: an online rebuild"));
        exports.push(export);
        lab.far_copy(case);
        // The build state stays behind, as it does when an output is carried or staged.
        let bare = lab.far_copy(&format!("{case}-bare"));
        fs::remove_dir_all(bare.join("fixtures/lab/out/.seedforge")).unwrap();
    }

    // Nothing to reach from here on.
    sources.registry.stop();
    sources.web.child.kill();
    for ((case, _), export) in cases.iter().zip(&exports) {
        for far in [case.to_string(), format!("{case}-bare")] {
            let far = lab.root().join(far);
            Cmd::seedforge()
                .cwd(&far)
                .args(["build", "--offline", "--config", lab.config_arg()])
                .run();
            assert_same_seal(
                &lab.root().join(format!("built-{case}")),
                &far.join("fixtures/lab/out"),
                &format!("{}: build --offline in a copy", far.display()),
            );
            let exported = snapshot(&far.join("fixtures/lab/export"));
            assert_same_tree(export, &exported, &format!("{}: export_dir", far.display()));
        }
    }
}

/// A chart from a Helm HTTP repository crosses the gap on day two: the far side's receipt,
/// the near side's delta carrying a new version of the chart, and `apply`, whose offline
/// rebuild must give the near side's seal; the far side's `build --offline` afterwards
/// gives it again. Before, an offline rebuild recorded such a chart otherwise than the
/// online build, and every apply failed.
#[test]
fn a_chart_from_a_helm_repository_crosses_by_delta_and_apply() {
    if !require_tool("python3") {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let mut index = String::from("apiVersion: v1\nentries:\n  demo-app:\n");
    for version in ["1.2.3", "1.2.4"] {
        let tgz = chart_tgz("demo-app", version, VALUES);
        fs::write(root.path().join(format!("demo-app-{version}.tgz")), &tgz).unwrap();
        index.push_str(&format!(
            "    - version: {version}\n      digest: {}\n      urls: [demo-app-{version}.tgz]\n",
            sha256_bytes(&tgz)
        ));
    }
    fs::write(root.path().join("index.yaml"), index).unwrap();
    let mut web = HttpServer::start(root.path());
    let lab = Lab::new();
    let config = lab.lab_dir().join("seedforge.yaml");
    let text = fs::read_to_string(&config).unwrap();
    let with_chart = |version: &str| {
        format!(
            "{text}\ncharts:\n  - name: demo\n    repo: {}\n    chart: demo-app\n    version: {version}\n",
            web.url
        )
    };
    fs::write(&config, with_chart("1.2.3")).unwrap();
    lab.build();
    let far = lab.far_copy("far");
    Cmd::seedforge()
        .cwd(&far)
        .args(["receipt", "fixtures/lab/out", "-o", "../receipt.json"])
        .run();
    fs::write(&config, with_chart("1.2.4")).unwrap();
    lab.build();
    web.child.kill();
    lab.delta("receipt.json", "delta").run();
    Cmd::seedforge()
        .cwd(&far)
        .args(["apply", "../delta", "--to", "fixtures/lab/out"])
        .run();
    let far_out = far.join("fixtures/lab/out");
    assert!(far_out.join("charts/demo-1.2.4.tgz").is_file());
    assert_same_seal(&lab.out_dir(), &far_out, "apply");
    Cmd::seedforge()
        .cwd(&far)
        .args(["build", "--offline", "--config", lab.config_arg()])
        .run();
    assert_same_seal(&lab.out_dir(), &far_out, "the far side's build --offline");
}
