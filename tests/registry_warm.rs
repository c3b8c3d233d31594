//! A warm `seedforge mirror` (into a layout that already holds the images) against a real
//! distribution registry, with a recording proxy in front to count what it asks: tags are
//! resolved with HEAD, and no manifest, index, config or layer the layout holds is fetched
//! again; an image pinned by a digest the layout holds costs no request. A re-pushed tag is
//! picked up with one GET of its new manifest and GETs of its new blobs only. A registry
//! that refuses HEAD, or leaves `Docker-Content-Digest` out, gets GETs of its tags instead,
//! as containerd and skopeo fall back. A second `build` likewise asks only for its tags.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use common::proxy::FaultProxy;
use common::registry::{Registry, fixture_layout, skopeo_push, skopeo_raw_digest};
use common::{Cmd, Lab, blob_names, require_tool};
use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use std::sync::atomic::Ordering;

/// The fixture images, pushed as `rancher/<name>` (the first is a two-platform index).
const TAGS: [&str; 6] = [
    "mirrored-pause:3.6",
    "mirrored-coredns-coredns:1.12.1",
    "local-path-provisioner:v0.0.31",
    "mirrored-metrics-server:v0.7.2",
    "klipper-helm:v0.9.5-build20250306",
    "klipper-lb:v0.4.13",
];

fn registry_with(images: &[(&str, &str)]) -> Option<Registry> {
    if !require_tool("docker-registry") || !require_tool("skopeo") {
        return None;
    }
    let registry = Registry::start_plain();
    for (fixture, repo_tag) in images {
        let source = format!("oci:{}:{fixture}", fixture_layout().display());
        skopeo_push(&source, &registry, &format!("rancher/{repo_tag}"), true);
    }
    Some(registry)
}

fn mirror(proxy: &FaultProxy, work: &Path, entries: &[String]) -> serde_json::Value {
    mirror_for(proxy, work, entries, &["linux/amd64", "linux/arm64"])
}

fn mirror_for(
    proxy: &FaultProxy,
    work: &Path,
    entries: &[String],
    platforms: &[&str],
) -> serde_json::Value {
    let list = work.join("images.txt");
    let text: String = entries
        .iter()
        .map(|e| format!("docker://{}/rancher/{e}\n", proxy.host()))
        .collect();
    fs::write(&list, text).unwrap();
    Cmd::seedforge()
        .args(["--json", "mirror", "--images"])
        .arg(&list)
        .arg("--layout")
        .arg(work.join("oci"))
        .args(platforms.iter().flat_map(|p| ["--platform", p]))
        .args(["--plain-http", &proxy.host()])
        // What a warm run asks for signatures is tested in tests/signatures.rs.
        .arg("--no-signatures")
        .run()
        .json()
}

/// The requests that are not the `/v2/` probe authentication starts with.
fn image_requests(proxy: &FaultProxy) -> Vec<String> {
    let mut r: Vec<String> = proxy
        .stats
        .take_requests()
        .into_iter()
        .filter(|r| !r.ends_with(" /v2/"))
        .collect();
    r.sort();
    r
}

fn heads_of_tags(tags: &[&str]) -> Vec<String> {
    let mut want: Vec<String> = tags
        .iter()
        .map(|t| {
            let (repo, tag) = t.split_once(':').unwrap();
            format!("HEAD /v2/rancher/{repo}/manifests/{tag}")
        })
        .collect();
    want.sort();
    want
}

#[test]
fn a_warm_mirror_asks_only_heads_of_tags_and_nothing_for_pinned_digests() {
    let images: Vec<(&str, &str)> = TAGS.iter().map(|t| (*t, *t)).collect();
    let Some(registry) = registry_with(&images) else {
        return;
    };
    let proxy = FaultProxy::start(&registry.host(), Vec::new(), None);
    let work = tempfile::tempdir().unwrap();
    let pause = skopeo_raw_digest(&registry, "rancher/mirrored-pause:3.6");
    let coredns = skopeo_raw_digest(&registry, "rancher/mirrored-coredns-coredns:1.12.1");
    let mut entries: Vec<String> = TAGS.iter().map(|t| t.to_string()).collect();
    entries.push(format!(
        "mirrored-pause@{pause} pinned.example/pause:pinned"
    ));
    entries.push(format!(
        "mirrored-coredns-coredns@{coredns} pinned.example/coredns:pinned"
    ));
    let cold = mirror(&proxy, work.path(), &entries);
    assert!(cold["summary"]["bytes_transferred"].as_u64().unwrap() > 0);
    let cold_requests = image_requests(&proxy);
    assert!(
        cold_requests
            .iter()
            .any(|r| r.starts_with("GET ") && r.contains("/blobs/")),
        "{cold_requests:#?}"
    );
    let layout = work.path().join("oci");
    let index = fs::read(layout.join("index.json")).unwrap();

    let warm = mirror(&proxy, work.path(), &entries);
    let requests = image_requests(&proxy);
    // One HEAD per tag; no manifest or blob GET, nothing at all for the pinned digests.
    assert_eq!(requests, heads_of_tags(&TAGS), "{requests:#?}");
    assert_eq!(warm["summary"]["bytes_transferred"], 0, "{warm}");
    assert_eq!(fs::read(layout.join("index.json")).unwrap(), index);

    // A registry that refuses HEAD: each tag is fetched with a GET instead, still no blob.
    proxy.stats.refuse_head.store(true, Ordering::Relaxed);
    mirror(&proxy, work.path(), &entries);
    let requests = image_requests(&proxy);
    let gets: Vec<&String> = requests.iter().filter(|r| r.starts_with("GET ")).collect();
    assert_eq!(gets.len(), TAGS.len(), "{requests:#?}");
    for tag in TAGS {
        let (repo, tag) = tag.split_once(':').unwrap();
        let get = format!("GET /v2/rancher/{repo}/manifests/{tag}");
        assert!(requests.contains(&get), "{get} not in {requests:#?}");
    }
    assert_eq!(fs::read(layout.join("index.json")).unwrap(), index);

    // A HEAD answered without Docker-Content-Digest: the same, a GET of each tag.
    proxy.stats.refuse_head.store(false, Ordering::Relaxed);
    proxy.stats.strip_head_digest.store(true, Ordering::Relaxed);
    mirror(&proxy, work.path(), &entries);
    let requests = image_requests(&proxy);
    let mut want = heads_of_tags(&TAGS);
    want.extend(
        heads_of_tags(&TAGS)
            .iter()
            .map(|h| h.replacen("HEAD", "GET", 1)),
    );
    want.sort();
    assert_eq!(requests, want, "{requests:#?}");
    assert_eq!(fs::read(layout.join("index.json")).unwrap(), index);
}

#[test]
fn a_re_pushed_tag_is_fetched_with_its_new_manifest_and_new_blobs_only() {
    let Some(registry) = registry_with(&[
        ("klipper-lb:v0.4.13", "app:1"),
        ("mirrored-pause:3.6", "mirrored-pause:3.6"),
    ]) else {
        return;
    };
    let proxy = FaultProxy::start(&registry.host(), Vec::new(), None);
    let work = tempfile::tempdir().unwrap();
    let entries = ["app:1".to_string(), "mirrored-pause:3.6".to_string()];
    mirror(&proxy, work.path(), &entries);
    proxy.stats.take_requests();
    let layout = work.path().join("oci");
    let before = blob_names(&layout);

    // The tag now names another image, sharing the base layer with the old one.
    let source = format!(
        "oci:{}:local-path-provisioner:v0.0.31",
        fixture_layout().display()
    );
    skopeo_push(&source, &registry, "rancher/app:1", true);
    let new_digest = skopeo_raw_digest(&registry, "rancher/app:1");
    assert!(!before.contains(new_digest.trim_start_matches("sha256:")));

    mirror(&proxy, work.path(), &entries);
    let requests = image_requests(&proxy);
    let new_blobs: BTreeSet<String> = blob_names(&layout).difference(&before).cloned().collect();
    // The new manifest, its config and its top layer; the shared base layer is kept.
    assert!(new_blobs.contains(new_digest.trim_start_matches("sha256:")));
    assert_eq!(new_blobs.len(), 3, "{new_blobs:?}");
    let mut want = heads_of_tags(&["app:1", "mirrored-pause:3.6"]);
    want.push(format!("GET /v2/rancher/app/manifests/{new_digest}"));
    for hex in &new_blobs {
        if format!("sha256:{hex}") != new_digest {
            want.push(format!("GET /v2/rancher/app/blobs/sha256:{hex}"));
        }
    }
    want.sort();
    assert_eq!(requests, want, "{requests:#?}");
    let index: serde_json::Value =
        serde_json::from_slice(&fs::read(layout.join("index.json")).unwrap()).unwrap();
    let app = format!("{}/rancher/app:1", proxy.host());
    let entry = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == app.as_str())
        .unwrap();
    assert_eq!(entry["digest"], new_digest.as_str());
}

#[test]
fn an_index_stored_with_platforms_dropped_is_not_fetched_again() {
    let Some(registry) = registry_with(&[("mirrored-pause:3.6", "mirrored-pause:3.6")]) else {
        return;
    };
    let proxy = FaultProxy::start(&registry.host(), Vec::new(), None);
    let work = tempfile::tempdir().unwrap();
    let entries = ["mirrored-pause:3.6".to_string()];
    let cold = mirror_for(&proxy, work.path(), &entries, &["linux/amd64"]);
    let original = skopeo_raw_digest(&registry, "rancher/mirrored-pause:3.6");
    assert_eq!(
        cold["images"][0]["platforms"],
        serde_json::json!(["linux/amd64"])
    );
    assert_ne!(cold["images"][0]["digest"], original.as_str(), "{cold}");
    proxy.stats.take_requests();
    let layout = work.path().join("oci");
    let index = fs::read(layout.join("index.json")).unwrap();
    let blobs = blob_names(&layout);
    mirror_for(&proxy, work.path(), &entries, &["linux/amd64"]);
    let requests = image_requests(&proxy);
    assert_eq!(
        requests,
        heads_of_tags(&["mirrored-pause:3.6"]),
        "{requests:#?}"
    );
    assert_eq!(fs::read(layout.join("index.json")).unwrap(), index);
    // The registry's index is kept beside the layout's blobs, not among them.
    assert_eq!(blob_names(&layout), blobs);
    // The other platform, asked for later, is fetched: the kept index serves it too.
    mirror_for(
        &proxy,
        work.path(),
        &entries,
        &["linux/amd64", "linux/arm64"],
    );
    let requests = image_requests(&proxy);
    let manifest_gets: Vec<&String> = requests
        .iter()
        .filter(|r| r.starts_with("GET ") && r.contains("/manifests/"))
        .collect();
    // Only the arm64 manifest, by digest: neither the tag nor the index again.
    assert_eq!(manifest_gets.len(), 1, "{requests:#?}");
    assert!(!manifest_gets[0].contains(&original), "{requests:#?}");
    assert!(
        manifest_gets[0].contains("/manifests/sha256:"),
        "{requests:#?}"
    );
    assert!(
        requests
            .iter()
            .any(|r| r.starts_with("GET ") && r.contains("/blobs/")),
        "{requests:#?}"
    );
}

#[test]
fn a_second_build_asks_the_registry_only_for_its_tags() {
    let Some(registry) = registry_with(&[("mirrored-pause:3.6", "mirrored-pause:3.6")]) else {
        return;
    };
    let proxy = FaultProxy::start(&registry.host(), Vec::new(), None);
    let lab = Lab::new();
    lab.pull_pause_from(&proxy.host());
    lab.build();
    let cold = image_requests(&proxy);
    assert!(
        cold.iter()
            .any(|r| r.starts_with("GET ") && r.contains("/manifests/")),
        "{cold:#?}"
    );
    lab.build();
    let requests = image_requests(&proxy);
    // The image's tag, and where its signatures and referrers would be: HEADs of cosign's
    // tags and the referrers fallback tag, and the referrers API (which this registry
    // lacks): nothing is fetched.
    let (artifacts, images): (Vec<String>, Vec<String>) = requests
        .into_iter()
        .partition(|r| r.contains("/manifests/sha256-") || r.contains("/referrers/"));
    assert_eq!(
        images,
        heads_of_tags(&["mirrored-pause:3.6"]),
        "{images:#?}"
    );
    assert!(
        artifacts
            .iter()
            .all(|r| r.starts_with("HEAD ") || r.contains("/referrers/")),
        "{artifacts:#?}"
    );
    // The root and one platform: 3 cosign tags and the fallback tag each; the referrers
    // API asked until the registry has said it has none (both may ask at once).
    let heads = artifacts.iter().filter(|r| r.starts_with("HEAD ")).count();
    assert_eq!(heads, 2 * 4, "{artifacts:#?}");
    assert!(
        (1..=2).contains(&(artifacts.len() - heads)),
        "{artifacts:#?}"
    );
}
