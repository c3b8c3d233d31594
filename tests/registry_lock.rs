//! `seedforge.lock`: a build pins every registry tag to the digest it resolved to; with
//! `--locked`, a tag that moved is an error naming the image and both digests, and the
//! output is left alone.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use common::registry::{Registry, fixture_layout, skopeo_push, skopeo_raw_digest};
use common::{Lab, require_tool};
use std::fs;

#[test]
fn build_writes_the_lock_and_locked_refuses_a_moved_tag() {
    if !require_tool("docker-registry") || !require_tool("skopeo") {
        return;
    }
    let registry = Registry::start_plain();
    let fixtures = fixture_layout();
    let push = |name: &str, tag: &str| {
        skopeo_push(
            &format!("oci:{}:{name}", fixtures.display()),
            &registry,
            &format!("rancher/mirrored-pause:{tag}"),
            true,
        )
    };
    push("mirrored-pause:3.6", "3.6");
    let lab = Lab::new();
    lab.pull_pause_from(&registry.host());
    let dir = lab.lab_dir();

    lab.build();
    let lock_path = dir.join("seedforge.lock");
    let lock: serde_json::Value = serde_json::from_slice(&fs::read(&lock_path).unwrap()).unwrap();
    let source = format!("docker://{}/rancher/mirrored-pause:3.6", registry.host());
    let pinned = skopeo_raw_digest(&registry, "rancher/mirrored-pause:3.6");
    assert_eq!(lock["images"][&source], pinned.as_str(), "{lock}");
    let lock_bytes = fs::read(&lock_path).unwrap();

    // Unchanged tags pass --locked and leave the lock as it was.
    lab.seedforge()
        .args(["build", "--locked", "--config", lab.config_arg()])
        .run();
    assert_eq!(fs::read(&lock_path).unwrap(), lock_bytes);
    // `seedforge lock` right after a build finds the lock current (the pause index stored
    // with platforms dropped included): --check passes and writes nothing.
    let lock_cmd = |extra: &[&str]| {
        (lab.seedforge())
            .args(["lock", "--json", "--config", lab.config_arg()])
            .args(extra)
    };
    let fresh = lock_cmd(&["--check"]).run().json();
    assert_eq!(fresh["current"], true, "{fresh}");
    assert_eq!(fs::read(&lock_path).unwrap(), lock_bytes);

    // Move the tag to other content.
    skopeo_push(
        &format!("oci:{}:klipper-lb:v0.4.13", fixtures.display()),
        &registry,
        "rancher/mirrored-pause:3.6",
        true,
    );
    let moved = skopeo_raw_digest(&registry, "rancher/mirrored-pause:3.6");
    assert_ne!(moved, pinned);
    let index = lab.out_layout().join("index.json");
    let before = fs::read(&index).unwrap();
    let out = lab
        .seedforge()
        .args(["build", "--locked", "--config", lab.config_arg()])
        .expect(2)
        .run();
    for needle in [source.as_str(), pinned.as_str(), moved.as_str()] {
        assert!(out.stderr.contains(needle), "{needle}: {}", out.stderr);
    }
    assert_eq!(fs::read(&index).unwrap(), before);
    assert_eq!(fs::read(&lock_path).unwrap(), lock_bytes);

    // `lock --check` names the moved pin and exits 1, writing nothing.
    let stale = lock_cmd(&["--check"]).expect(1).run().json();
    assert_eq!(stale["updated"][0]["key"], source.as_str(), "{stale}");
    assert_eq!(stale["updated"][0]["before"], pinned.as_str(), "{stale}");
    assert_eq!(stale["updated"][0]["after"], moved.as_str(), "{stale}");
    assert_eq!(stale["written"], false);
    assert_eq!(fs::read(&lock_path).unwrap(), lock_bytes);
    // A list naming a tag the registry lacks: the refresh fails, the lock stays as it was.
    let list = dir.join("images.txt");
    let listed = fs::read_to_string(&list).unwrap();
    let host = registry.host();
    fs::write(
        &list,
        format!("{listed}docker://{host}/rancher/none:1 docker.io/rancher/none:1\n"),
    )
    .unwrap();
    let failed = lock_cmd(&[]).any_status().run();
    assert_ne!(failed.code, Some(0), "{}", failed.stderr);
    assert!(failed.stderr.contains("rancher/none"), "{}", failed.stderr);
    assert_eq!(fs::read(&lock_path).unwrap(), lock_bytes);
    // An image the list now takes from the registry: `lock` adds its pin and updates the
    // moved one, writing no output (the folder stays byte for byte) ...
    push("klipper-lb:v0.4.13", "klipper-lb-v0.4.13");
    let klipper = format!("docker://{host}/rancher/mirrored-pause:klipper-lb-v0.4.13");
    fs::write(
        &list,
        format!("{listed}{klipper} docker.io/rancher/klipper-lb-copy:v0.4.13\n"),
    )
    .unwrap();
    let output = common::snapshot(&lab.out_dir());
    let refreshed = lock_cmd(&[]).run().json();
    assert_eq!(refreshed["written"], true, "{refreshed}");
    assert_eq!(refreshed["added"][0]["section"], "images", "{refreshed}");
    assert_eq!(
        refreshed["added"][0]["key"],
        klipper.as_str(),
        "{refreshed}"
    );
    assert_eq!(
        refreshed["updated"][0]["key"],
        source.as_str(),
        "{refreshed}"
    );
    // The moved tag names one manifest now: no index is cut to the config's platforms.
    assert_eq!(refreshed["removed"][0]["section"], "stored", "{refreshed}");
    assert_eq!(
        refreshed["removed"][0]["key"],
        source.as_str(),
        "{refreshed}"
    );
    common::assert_same_tree(&output, &common::snapshot(&lab.out_dir()), "the output");
    let written = fs::read(&lock_path).unwrap();
    let lock: serde_json::Value = serde_json::from_slice(&written).unwrap();
    // What only a build makes, the registry CA, is kept as it was.
    let old: serde_json::Value = serde_json::from_slice(&lock_bytes).unwrap();
    assert_eq!(lock["registry_ca"], old["registry_ca"]);
    assert!(lock["registry_ca"].is_object(), "{lock}");
    // ... then build --locked passes and leaves it byte for byte, and so does a build,
    // which writes the very same lock.
    lab.seedforge()
        .args(["build", "--locked", "--config", lab.config_arg()])
        .run();
    assert_eq!(fs::read(&lock_path).unwrap(), written);
    lab.build();
    assert_eq!(fs::read(&lock_path).unwrap(), written);
    assert_eq!(lock_cmd(&["--check"]).run().json()["current"], true);
    // A build after the list dropped an image writes the lock without its pin, though no
    // step pins anything anew (no index is cut now: both tags name one manifest).
    fs::write(&list, &listed).unwrap();
    lab.build();
    let after: serde_json::Value = serde_json::from_slice(&fs::read(&lock_path).unwrap()).unwrap();
    assert!(after["images"].get(&klipper).is_none(), "{after}");
    assert_eq!(lock_cmd(&["--check"]).run().json()["current"], true);
}
