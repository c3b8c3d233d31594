//! An image a list names by the digest of its index (`NAME:TAG@sha256:<index>`, as charts
//! and release manifests pin images), from a multi-platform index carrying buildx's
//! attestation manifests, built for linux/amd64 alone: the index is kept whole, so every
//! client that asks by that digest finds it. One build, judged by Debian's docker-registry
//! (`push`, then `GET manifests/<pinned>`), `seedforge serve` itself, and containerd 2.x
//! and 1.6 (the airgap archive imported under the pinned digest, then the image pulled by
//! it from `serve` through the `certs.d/hosts.toml` the build wrote).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use common::registry::{Registry, free_port};
use common::serve::Serve;
use common::{Cmd, ContainerdBin, Lab, require_tool, sha256_bytes};
use serde_json::{Value, json};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

const INDEX_ACCEPT: &str = "Accept: application/vnd.oci.image.index.v1+json";

/// The digests of the index written by [`write_pinned_source`].
struct Source {
    index: String,
    amd64: String,
    arm64: String,
    attestations: Vec<String>,
}

/// Writes `bytes` as a blob of the layout at `dir`: (digest, size).
fn blob(dir: &Path, bytes: &[u8]) -> (String, usize) {
    let hex = sha256_bytes(bytes);
    fs::write(dir.join("blobs/sha256").join(&hex), bytes).unwrap();
    (format!("sha256:{hex}"), bytes.len())
}

/// A tar holding one file `name` with `content`.
fn tar_of(name: &str, content: &[u8]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_ustar();
    h.set_path(name).unwrap();
    h.set_size(content.len() as u64);
    h.set_mode(0o644);
    h.set_mtime(1_700_000_000);
    h.set_cksum();
    b.append(&h, content).unwrap();
    b.into_inner().unwrap()
}

fn manifest(config: &(String, usize), layer: &(String, usize), layer_type: &str) -> Value {
    json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config.0, "size": config.1},
        "layers": [{"mediaType": layer_type, "digest": layer.0, "size": layer.1}],
    })
}

/// An OCI layout at `dir` naming `web:1.0` an index as `docker buildx build --platform
/// linux/amd64,linux/arm64` pushes it: two platform images, each followed by its
/// attestation manifest (platform `unknown/unknown`, an in-toto SBOM statement as its
/// layer, annotated with the image it describes).
fn write_pinned_source(dir: &Path) -> Source {
    fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
    fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let mut entries = Vec::new();
    let mut digests = Vec::new();
    let mut attestations = Vec::new();
    for arch in ["amd64", "arm64"] {
        let layer = tar_of("etc/web-arch", format!("web 1.0 for {arch}\n").as_bytes());
        let layer = blob(dir, &layer);
        let config = json!({
            "architecture": arch, "os": "linux",
            "config": {"Cmd": ["/bin/web"]},
            "rootfs": {"type": "layers", "diff_ids": [layer.0]},
        });
        let config = blob(dir, &serde_json::to_vec(&config).unwrap());
        let image = manifest(&config, &layer, "application/vnd.oci.image.layer.v1.tar");
        let image = blob(dir, &serde_json::to_vec(&image).unwrap());
        entries.push(json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": image.0, "size": image.1,
            "platform": {"architecture": arch, "os": "linux"},
        }));
        let statement = json!({
            "_type": "https://in-toto.io/Statement/v0.1",
            "predicateType": "https://spdx.dev/Document",
            "subject": [{"name": format!("pkg:docker/acme/web@1.0?platform=linux%2F{arch}"),
                         "digest": {"sha256": image.0.trim_start_matches("sha256:")}}],
            "predicate": {"spdxVersion": "SPDX-2.3", "name": format!("web-{arch}")},
        });
        let statement = blob(dir, &serde_json::to_vec(&statement).unwrap());
        let config = json!({
            "architecture": "unknown", "os": "unknown", "config": {},
            "rootfs": {"type": "layers", "diff_ids": [statement.0]},
        });
        let config = blob(dir, &serde_json::to_vec(&config).unwrap());
        let mut attestation = manifest(&config, &statement, "application/vnd.in-toto+json");
        attestation["layers"][0]["annotations"] =
            json!({"in-toto.io/predicate-type": "https://spdx.dev/Document"});
        let attestation = blob(dir, &serde_json::to_vec(&attestation).unwrap());
        entries.push(json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": attestation.0, "size": attestation.1,
            "annotations": {
                "vnd.docker.reference.digest": image.0,
                "vnd.docker.reference.type": "attestation-manifest",
            },
            "platform": {"architecture": "unknown", "os": "unknown"},
        }));
        digests.push(image.0);
        attestations.push(attestation.0);
    }
    let index = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": entries,
    });
    let index = blob(dir, &serde_json::to_vec(&index).unwrap());
    let top = json!({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "digest": index.0, "size": index.1,
        "annotations": {"org.opencontainers.image.ref.name": "web:1.0"},
    }]});
    fs::write(dir.join("index.json"), serde_json::to_vec(&top).unwrap()).unwrap();
    Source {
        index: index.0,
        amd64: digests[0].clone(),
        arm64: digests[1].clone(),
        attestations,
    }
}

/// The lab with its registry at 127.0.0.1:`port` (so the build's own certs.d/hosts.toml
/// works here), the source registry `source` reachable over plain HTTP, and `line` added to
/// its image list.
fn lab_with(port: u16, source: &str, line: &str) -> Lab {
    let lab = Lab::new();
    let config = lab.lab_dir().join("seedforge.yaml");
    let text = fs::read_to_string(&config).unwrap();
    let ca = lab.out_dir().join("pki/ca.crt");
    let new = text.replace(
        "registry:\n  host: 192.168.6.1\n  port: 5000\n",
        &format!(
            "registry:\n  host: 127.0.0.1\n  port: {port}\n  node_ca_path: {}\n\nregistries:\n  - host: \"{source}\"\n    insecure: true\n",
            ca.display()
        ),
    );
    assert_ne!(new, text);
    fs::write(&config, new).unwrap();
    let list = lab.lab_dir().join("images.txt");
    let mut text = fs::read_to_string(&list).unwrap();
    text.push_str(line);
    text.push('\n');
    fs::write(&list, text).unwrap();
    lab
}

/// The OCI airgap archive of amd64 the build wrote.
fn amd64_archive(out: &Path) -> PathBuf {
    fs::read_dir(out.join("airgap"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("k3s-airgap-images-amd64."))
        })
        .expect("no amd64 airgap archive")
}

/// Imports `archive` into a fresh containerd of release `bin` (1.x is handed the tar
/// decompressed, as k3s decompresses it itself), checks the image is named with the pinned
/// digest as its target, then pulls it by that digest from `serve` in another fresh one,
/// through the hosts tree `hosts`.
fn import_and_pull(
    bin: &'static ContainerdBin,
    archive: &Path,
    hosts: &Path,
    name: &str,
    pinned: &str,
    work: &Path,
    serve: &Serve,
) {
    let containerd = common::Containerd::start_bin(bin);
    let tar = if bin.major >= 2 {
        archive.to_path_buf()
    } else {
        let plain = work.join(format!("airgap-{}.tar", bin.major));
        let text = archive.display().to_string();
        let decompress = if text.ends_with(".zst") {
            Some("zstd")
        } else if text.ends_with(".gz") {
            Some("gzip")
        } else {
            None
        };
        match decompress {
            Some(tool) => {
                let out = std::process::Command::new(tool)
                    .args(["-dc"])
                    .arg(archive)
                    .output()
                    .unwrap();
                assert!(out.status.success());
                fs::write(&plain, out.stdout).unwrap();
            }
            None => {
                fs::copy(archive, &plain).unwrap();
            }
        }
        plain
    };
    let imported = containerd
        .ctr("k8s.io")
        .args(["images", "import"])
        .arg(&tar)
        .timeout(Duration::from_secs(300))
        .any_status()
        .run();
    assert_eq!(
        imported.code,
        Some(0),
        "containerd {}: {}\n{}\n{}",
        bin.version,
        imported.stdout,
        imported.stderr,
        containerd.log_text()
    );
    let listed = containerd.ctr("k8s.io").args(["images", "ls"]).run();
    let row = (listed.stdout.lines())
        .find(|l| l.split_whitespace().next() == Some(name))
        .unwrap_or_else(|| {
            panic!(
                "containerd {}: {name} not imported:\n{}",
                bin.version, listed.stdout
            )
        });
    assert!(
        row.split_whitespace().any(|f| f == pinned),
        "containerd {}: {name} imported, but not as {pinned}:\n{row}",
        bin.version
    );
    let checked = containerd.ctr("k8s.io").args(["images", "check"]).run();
    let row = (checked.stdout.lines())
        .find(|l| l.split_whitespace().next() == Some(name))
        .unwrap();
    assert!(
        row.contains("complete"),
        "containerd {}: {row}",
        bin.version
    );
    drop(containerd);
    // By the pinned digest, from the registry alone, as a node asks for it.
    let fresh = common::Containerd::start_bin(bin);
    let by_digest = format!("docker.io/acme/web@{pinned}");
    let pulled = fresh
        .ctr("k8s.io")
        .args(["images", "pull", "--platform", "linux/amd64", "--hosts-dir"])
        .arg(hosts)
        .arg(&by_digest)
        .timeout(Duration::from_secs(180))
        .any_status()
        .run();
    assert_eq!(
        pulled.code,
        Some(0),
        "containerd {}: {}\n{}\n{}",
        bin.version,
        pulled.stdout,
        pulled.stderr,
        serve.log()
    );
    let listed = fresh.ctr("k8s.io").args(["images", "ls"]).run();
    assert!(
        listed
            .stdout
            .lines()
            .any(|l| l.starts_with(&by_digest) && l.contains(pinned)),
        "{}",
        listed.stdout
    );
    eprintln!("judged by containerd {}", bin.version);
}

#[test]
fn an_index_pinned_by_digest_is_pushed_served_archived_and_pulled_under_that_digest() {
    if !require_tool("docker-registry")
        || !require_tool("skopeo")
        || !require_tool("curl")
        || !common::require_containerd()
    {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let src_layout = work.path().join("src");
    let src = write_pinned_source(&src_layout);
    // The upstream registry the pin is read from, filled byte for byte.
    let upstream = Registry::start_plain();
    Cmd::new("skopeo")
        .args([
            "copy",
            "--quiet",
            "--all",
            "--preserve-digests",
            "--dest-tls-verify=false",
        ])
        .arg(format!("oci:{}:web:1.0", src_layout.display()))
        .arg(format!("docker://{}/acme/web:1.0", upstream.host()))
        .timeout(Duration::from_secs(120))
        .run();
    let port = free_port();
    let pinned = &src.index;
    let name = format!("docker.io/acme/web:1.0@{pinned}");
    let lab = lab_with(
        port,
        &upstream.host(),
        &format!("{}/acme/web:1.0@{pinned}  {name}", upstream.host()),
    );
    // The plan names what keeping it whole adds to linux/amd64.
    let plan = lab
        .seedforge()
        .args(["plan", "--config", lab.config_arg()])
        .run();
    assert!(
        plan.stdout.contains("kept whole") && plan.stdout.contains(&name),
        "{}",
        plan.stdout
    );
    assert!(
        plan.stdout
            .contains("adds linux/arm64, 2 attestation manifest(s)"),
        "{}",
        plan.stdout
    );
    lab.build();
    let out = lab.out_dir();
    let layout = out.join("oci");
    let entry = common::index_entry(&layout, &name);
    assert_eq!(entry["digest"], pinned.as_str(), "{entry}");
    for d in [&src.amd64, &src.arm64]
        .into_iter()
        .chain(&src.attestations)
    {
        assert!(
            common::blob_path(&layout, d).is_file(),
            "{d} not in the layout"
        );
    }

    // (a) Debian's docker-registry after `push`: the pinned digest is there.
    let far = Registry::start_plain();
    lab.seedforge()
        .args(["push", "--layout"])
        .arg(&out)
        .args(["--registry", &far.host(), "--plain-http", &far.host()])
        .run();
    let got = Cmd::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-H",
            INDEX_ACCEPT,
        ])
        .arg(format!("{}/v2/acme/web/manifests/{pinned}", far.url()))
        .run();
    assert_eq!(got.stdout.trim(), "200", "{}", far.log_text());
    let raw = Cmd::new("skopeo")
        .args(["inspect", "--raw", "--tls-verify=false"])
        .arg(format!("docker://{}/acme/web@{pinned}", far.host()))
        .run();
    assert_eq!(
        format!("sha256:{}", sha256_bytes(raw.stdout.as_bytes())),
        *pinned
    );

    // (b) `serve` answers for it.
    let serve = Serve::start_with(&out, &[]);
    assert_eq!(serve.addr.port(), port);
    let (code, body) = serve.curl(
        &["-H", INDEX_ACCEPT],
        &format!("/v2/acme/web/manifests/{pinned}"),
    );
    assert_eq!(code, 200, "{body}\n{}", serve.log());
    assert_eq!(format!("sha256:{}", sha256_bytes(body.as_bytes())), *pinned);

    // (c) containerd 2.x, then Debian's 1.6 (the line of older k3s releases): the archive
    // imported under the pinned digest, and the image pulled by it through hosts.toml.
    let archive = amd64_archive(&out);
    let hosts = out.join("certs.d");
    import_and_pull(
        common::containerd_bin().unwrap(),
        &archive,
        &hosts,
        &name,
        pinned,
        work.path(),
        &serve,
    );
    match common::debian_containerd() {
        Some(old) if old.containerd != common::containerd_bin().unwrap().containerd => {
            import_and_pull(old, &archive, &hosts, &name, pinned, work.path(), &serve);
        }
        _ => eprintln!("NOTE: no second containerd (Debian's 1.6) to judge with"),
    }
}

/// A local source (an `oci:` layout) may carry its own index digest on the destination:
/// it is pinned as one from a registry is, kept whole under that digest; any other digest
/// is refused at its line with both named.
#[test]
fn a_local_source_carries_its_own_digest_and_no_other() {
    let lab = Lab::new();
    let index = common::read_json(&lab.root().join("fixtures/images/oci/index.json"));
    let pause = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == "mirrored-pause:3.6")
        .unwrap()["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let name = format!("docker.io/rancher/mirrored-pause:3.6@{pause}");
    let list = lab.root().join("pinned.txt");
    common::write_list(
        &list,
        &[format!("oci:fixtures/images/oci:mirrored-pause:3.6 {name}")],
    );
    let layout = lab.root().join("pinned-oci");
    lab.seedforge()
        .args(["mirror", "--images"])
        .arg(&list)
        .arg("--layout")
        .arg(&layout)
        .run();
    let entry = common::index_entry(&layout, &name);
    assert_eq!(entry["digest"], pause.as_str(), "{entry}");
    // Both platforms' manifests are there: the index is whole.
    let stored = common::read_json(&common::blob_path(&layout, &pause));
    for child in stored["manifests"].as_array().unwrap() {
        let d = child["digest"].as_str().unwrap();
        assert!(common::blob_path(&layout, d).is_file(), "{d}");
    }
    let other = format!("sha256:{}", "0".repeat(64));
    common::write_list(
        &list,
        &[format!(
            "oci:fixtures/images/oci:mirrored-pause:3.6 docker.io/rancher/mirrored-pause:3.6@{other}"
        )],
    );
    let refused = lab
        .seedforge()
        .args(["mirror", "--images"])
        .arg(&list)
        .arg("--layout")
        .arg(lab.root().join("other-oci"))
        .expect(2)
        .run();
    for says in [
        "pinned.txt:",
        "which is not the source's",
        pause.as_str(),
        other.as_str(),
    ] {
        assert!(
            refused.stderr.contains(says),
            "{says:?} not in:\n{}",
            refused.stderr
        );
    }
    assert!(!lab.root().join("other-oci").exists());
}
