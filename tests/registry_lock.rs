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
}
