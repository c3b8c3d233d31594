//! Mirroring through a fault-injecting proxy in front of a real registry: connections cut
//! midway through blobs, 500s and 429s with Retry-After still end with correct digests
//! (the cut downloads resume with Range requests); a proxy that flips one byte of every
//! blob makes the run fail clearly, with nothing corrupt in the layout (exit 1, and an
//! image the registry lacks exit 2: neither is the 75 of a registry out of reach); a large
//! layer from a sound registry is mirrored under the default time limits.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use common::proxy::{Fault, FaultProxy};
use common::registry::{Registry, fixture_layout, skopeo_push, skopeo_raw_digest};
use common::{Cmd, require_tool};
use std::fs;
use std::sync::atomic::Ordering;

const IMAGES: [&str; 3] = [
    "mirrored-pause:3.6",
    "klipper-lb:v0.4.13",
    "local-path-provisioner:v0.0.31",
];

fn filled_registry() -> Option<Registry> {
    if !require_tool("docker-registry") || !require_tool("skopeo") {
        return None;
    }
    let registry = Registry::start_plain();
    for name in IMAGES {
        let source = format!("oci:{}:{name}", fixture_layout().display());
        skopeo_push(&source, &registry, &format!("rancher/{name}"), true);
    }
    Some(registry)
}

fn mirror(proxy: &FaultProxy, work: &std::path::Path, code: i32) -> common::Output {
    mirror_with(proxy, work, code, &[])
}

fn mirror_with(
    proxy: &FaultProxy,
    work: &std::path::Path,
    code: i32,
    extra: &[&str],
) -> common::Output {
    let list = work.join("images.txt");
    let text: String = IMAGES
        .iter()
        .map(|n| format!("docker://{}/rancher/{n}\n", proxy.host()))
        .collect();
    fs::write(&list, text).unwrap();
    Cmd::seedforge()
        .args(["mirror", "--concurrency", "2", "--images"])
        .arg(&list)
        .arg("--layout")
        .arg(work.join("oci"))
        .args(["--platform", "linux/amd64", "--platform", "linux/arm64"])
        .args(["--plain-http", &proxy.host()])
        .args(extra)
        .expect(code)
        .run()
}

#[test]
fn resets_500s_and_429s_are_retried_and_resumed() {
    let Some(registry) = filled_registry() else {
        return;
    };
    let faults = vec![
        Fault::ResetMidway,
        Fault::ServerError,
        Fault::TooManyRequests(1),
        Fault::ResetMidway,
        Fault::ResetMidway,
        Fault::ServerError,
        Fault::ResetMidway,
    ];
    let proxy = FaultProxy::start(&registry.host(), faults, None);
    let work = tempfile::tempdir().unwrap();
    mirror(&proxy, work.path(), 0);
    assert_eq!(proxy.stats.faults.load(Ordering::Relaxed), 7);
    assert!(proxy.stats.range_requests.load(Ordering::Relaxed) >= 1);
    let layout = work.path().join("oci");
    let index: serde_json::Value =
        serde_json::from_slice(&fs::read(layout.join("index.json")).unwrap()).unwrap();
    for name in IMAGES {
        let dest = format!("{}/rancher/{name}", proxy.host());
        let entry = index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == dest.as_str())
            .unwrap_or_else(|| panic!("{dest} missing: {index}"));
        assert_eq!(
            entry["digest"],
            skopeo_raw_digest(&registry, &format!("rancher/{name}")).as_str()
        );
    }
    Cmd::seedforge().arg("verify").arg(&layout).run();
}

#[test]
fn a_flipped_byte_is_refused_and_nothing_corrupt_is_kept() {
    let Some(registry) = filled_registry() else {
        return;
    };
    // The fixture layers are under 512 bytes and their configs over 800: flipping only the
    // layers lets the run get as far as fetching them.
    let proxy = FaultProxy::start(&registry.host(), Vec::new(), Some(1..512));
    let work = tempfile::tempdir().unwrap();
    let out = mirror(&proxy, work.path(), 1);
    assert!(out.stderr.contains("failed verification"), "{}", out.stderr);
    assert!(
        out.stderr.contains("refused after 3 attempts"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains(&proxy.host()), "{}", out.stderr);
    let layout = work.path().join("oci");
    let index: serde_json::Value =
        serde_json::from_slice(&fs::read(layout.join("index.json")).unwrap()).unwrap();
    assert_eq!(index["manifests"].as_array().unwrap().len(), 0, "{index}");
    // Every blob that made it into the store hashes to its name.
    for entry in fs::read_dir(layout.join("blobs/sha256")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        assert_eq!(common::sha256_file(&path), name, "{}", path.display());
    }
}

#[test]
fn keep_going_copies_the_other_images_and_lists_the_failure() {
    let Some(registry) = filled_registry() else {
        return;
    };
    // Only local-path-provisioner's own layer is 237 bytes long.
    let proxy = FaultProxy::start(&registry.host(), Vec::new(), Some(237..238));
    let work = tempfile::tempdir().unwrap();
    let out = mirror_with(&proxy, work.path(), 1, &["--keep-going"]);
    assert!(
        out.stderr.contains("1 of 3 image(s) failed"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("local-path-provisioner"),
        "{}",
        out.stderr
    );
    let index: serde_json::Value =
        serde_json::from_slice(&fs::read(work.path().join("oci/index.json")).unwrap()).unwrap();
    let names: Vec<&str> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            m["annotations"]["org.opencontainers.image.ref.name"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(names.len(), 2, "{index}");
    assert!(names.iter().all(|n| !n.contains("local-path")), "{names:?}");
    // An image the registry does not have is no failure to try again (75): the registry
    // answered, and will answer the same. It stays what it was, bad input (2).
    let list = work.path().join("absent.txt");
    fs::write(
        &list,
        format!("docker://{}/rancher/absent:1\n", registry.host()),
    )
    .unwrap();
    let out = Cmd::seedforge()
        .args(["--json", "mirror", "--images"])
        .arg(&list)
        .arg("--layout")
        .arg(work.path().join("oci"))
        .args(["--plain-http", &registry.host()])
        .expect(2)
        .run();
    let doc: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(doc["error"]["code"], 2, "{doc}");
    assert!(
        out.stderr.contains("has no image rancher/absent:1"),
        "{}",
        out.stderr
    );
}

/// The speed rule, the document deadline and the budget leave a sound transfer alone: a
/// 64 MiB layer from a real registry on 127.0.0.1 is mirrored under the default limits.
#[test]
fn a_large_layer_from_a_sound_registry_is_mirrored_under_the_default_limits() {
    if !require_tool("docker-registry") || !require_tool("skopeo") {
        return;
    }
    let registry = Registry::start_plain();
    let src = tempfile::tempdir().unwrap();
    let image = common::write_oci_image(src.path(), "big:1", &[64 << 20], 5);
    let source = format!("oci:{}:big:1", src.path().display());
    skopeo_push(&source, &registry, "lib/big:1", false);
    let work = tempfile::tempdir().unwrap();
    let list = work.path().join("images.txt");
    fs::write(&list, format!("docker://{}/lib/big:1\n", registry.host())).unwrap();
    let layout = work.path().join("oci");
    Cmd::seedforge()
        .args(["mirror", "--images"])
        .arg(&list)
        .arg("--layout")
        .arg(&layout)
        .args(["--plain-http", &registry.host()])
        .run();
    // skopeo gzips the tar layer on its way to the registry: the largest blob is that.
    let largest = fs::read_dir(layout.join("blobs/sha256"))
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .max()
        .unwrap();
    assert!(largest >= image.layers[0].size - (1 << 20), "{largest}");
    Cmd::seedforge().arg("verify").arg(&layout).run();
}
