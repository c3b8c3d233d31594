//! Signatures and other artifacts carried with their images, judged by the tools that made
//! them. A real distribution registry on 127.0.0.1 holds the fixture images; cosign 3
//! (Debian sid) signs them there with a key pair it made itself: the two-platform pause
//! index as a classic `.sig` tag, klipper-lb both ways (`.sig`, and cosign 3's default
//! Sigstore bundle, a referrer kept under the fallback tag since this registry has no
//! referrers API) plus an attestation. `seedforge mirror` stores them in the layout
//! (linux/amd64 only: the pause index is stored with platforms dropped), `seedforge push`
//! writes them into a second registry, and there `cosign verify` and `cosign
//! verify-attestation` accept the images and refuse another key;
//! `oras` finds the referrers in the layout. A warm mirror asks for the artifacts with
//! HEAD only, and an image no longer listed leaves with its artifacts.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use common::proxy::FaultProxy;
use common::registry::{Registry, fixture_layout, skopeo_push, skopeo_raw_digest};
use common::sigstore::{PASSWORD, Signer};
use common::{Cmd, require_tool};
use std::fs;
use std::path::{Path, PathBuf};

use std::time::Duration;

mod export;
mod sealed;

fn mirror(list: &[String], host: &str, layout: &Path) -> serde_json::Value {
    let work = layout.parent().unwrap();
    let file = work.join("images.txt");
    fs::write(&file, list.join("\n") + "\n").unwrap();
    Cmd::seedforge()
        .args(["--json", "mirror", "--images"])
        .arg(&file)
        .arg("--layout")
        .arg(layout)
        .args(["--plain-http", host])
        .run()
        .json()
}

fn index(layout: &Path) -> serde_json::Value {
    serde_json::from_slice(&fs::read(layout.join("index.json")).unwrap()).unwrap()
}

/// The index.json entries stored with an image: (kind, subject, name).
fn attached(layout: &Path) -> Vec<(String, String, String)> {
    let mut out: Vec<_> = index(layout)["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| {
            let a = &e["annotations"];
            Some((
                a["dev.seedforge.attached.kind"].as_str()?.to_string(),
                a["dev.seedforge.attached.subject"].as_str()?.to_string(),
                a["org.opencontainers.image.ref.name"].as_str()?.to_string(),
            ))
        })
        .collect();
    out.sort();
    out
}

/// The SHA-256 of the OCI empty JSON blob `{}`, an artifact's config.
const EMPTY_JSON_SHA256: &str = "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";

#[test]
fn signed_images_cross_with_their_signatures_and_verify_on_the_far_side() {
    if !require_tool("docker-registry") || !require_tool("skopeo") {
        return;
    }
    let (Some(cosign), Some(oras)) = (common::sigstore::cosign(), common::sigstore::oras()) else {
        return;
    };
    let near = Registry::start_plain();
    let fixtures = fixture_layout();
    skopeo_push(
        &format!("oci:{}:mirrored-pause:3.6", fixtures.display()),
        &near,
        "rancher/mirrored-pause:3.6",
        true,
    );
    skopeo_push(
        &format!("oci:{}:klipper-lb:v0.4.13", fixtures.display()),
        &near,
        "rancher/klipper-lb:v0.4.13",
        false,
    );
    let pause = skopeo_raw_digest(&near, "rancher/mirrored-pause:3.6");
    let lb = skopeo_raw_digest(&near, "rancher/klipper-lb:v0.4.13");
    let signer = Signer::new(cosign);
    let at = |repo: &str, digest: &str| format!("{}/rancher/{repo}@{digest}", near.host());
    signer.sign(&at("mirrored-pause", &pause), true);
    signer.sign(&at("klipper-lb", &lb), true);
    signer.sign(&at("klipper-lb", &lb), false);
    signer.attest(&at("klipper-lb", &lb));

    // Mirrored through a recording proxy, to count what a warm run asks.
    let proxy = FaultProxy::start(&near.host(), Vec::new(), None);
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("oci");
    let list: Vec<String> = ["mirrored-pause:3.6", "klipper-lb:v0.4.13"]
        .iter()
        .map(|t| format!("docker://{}/rancher/{t}", proxy.host()))
        .collect();
    mirror(&list, &proxy.host(), &layout);
    // Cold: each artifact tag asked for with a GET alone (no HEAD first, no tag listing
    // for an absent one), and the OCI empty config of cosign's bundles never fetched.
    let requests = proxy.stats.take_requests();
    let wasted: Vec<&String> = requests
        .iter()
        .filter(|r| {
            (r.starts_with("HEAD ") && r.contains("/manifests/sha256-"))
                || r.contains("/tags/list")
                || r.contains(EMPTY_JSON_SHA256)
        })
        .collect();
    assert!(wasted.is_empty(), "{wasted:#?}\n{requests:#?}");
    assert!(
        requests
            .iter()
            .any(|r| r.starts_with("GET ") && r.contains("/manifests/sha256-")),
        "{requests:#?}"
    );
    let stored = attached(&layout);
    let kinds: Vec<(&str, &str)> = stored
        .iter()
        .map(|(k, s, _)| (k.as_str(), s.as_str()))
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("referrer", lb.as_str()),
            ("referrer", lb.as_str()),
            ("signature", lb.as_str()),
            ("signature", pause.as_str()),
        ],
        "{stored:#?}"
    );
    let hex = |d: &str| d.trim_start_matches("sha256:").to_string();
    assert!(
        stored
            .iter()
            .any(|(_, _, n)| n.ends_with(&format!("mirrored-pause:sha256-{}.sig", hex(&pause)))),
        "{stored:#?}"
    );
    // The layout is whole (every artifact's blobs are in it).
    Cmd::seedforge().arg("verify").arg(&layout).run();

    // The pause index is stored for linux/amd64 only, under another digest; the index its
    // signature names is kept as a blob, which the stored index names.
    let original_blob = layout.join("blobs/sha256").join(hex(&pause));
    let original = fs::read(&original_blob).unwrap();
    assert_eq!(format!("sha256:{}", common::sha256_bytes(&original)), pause);
    let stored_pause = index(&layout)["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| {
            e["annotations"]["org.opencontainers.image.ref.name"]
                .as_str()
                .is_some_and(|n| n.ends_with("/rancher/mirrored-pause:3.6"))
        })
        .unwrap()["digest"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(stored_pause, pause);
    let subset: serde_json::Value = serde_json::from_slice(
        &fs::read(layout.join("blobs/sha256").join(hex(&stored_pause))).unwrap(),
    )
    .unwrap();
    assert_eq!(
        subset["annotations"]["dev.seedforge.index.original"],
        pause.as_str(),
        "{subset}"
    );
    let original_doc: serde_json::Value = serde_json::from_slice(&original).unwrap();
    let kept = subset["manifests"].as_array().unwrap();
    assert_eq!(kept.len(), 1, "{subset}");
    assert_eq!(kept[0]["platform"]["architecture"], "amd64");
    assert!(
        original_doc["manifests"]
            .as_array()
            .unwrap()
            .contains(&kept[0]),
        "{original_doc}"
    );

    // oras finds the referrers of klipper-lb in the layout.
    let discovered = Cmd::new(&oras)
        .args(["discover", "--format", "json", "--oci-layout"])
        .arg(format!("{}@{lb}", layout.display()))
        .timeout(Duration::from_secs(60))
        .run()
        .json();
    let found = discovered["referrers"].as_array().map_or(0, Vec::len);
    assert_eq!(found, 2, "{discovered}");

    // Warm: HEADs for the tags (images and artifact tags) and the fallback tags, the
    // referrers API asked (it has none here), and no GET of anything the layout holds.
    proxy.stats.take_requests();
    mirror(&list, &proxy.host(), &layout);
    let requests = proxy.stats.take_requests();
    let gets: Vec<&String> = requests
        .iter()
        .filter(|r| r.starts_with("GET ") && !r.ends_with(" /v2/") && !r.contains("/referrers/"))
        .collect();
    assert!(gets.is_empty(), "{requests:#?}");

    // The far side: pushed into a second registry, checked by cosign and skopeo there.
    let far = Registry::start_plain();
    Cmd::seedforge()
        .args(["push", "--layout"])
        .arg(&layout)
        .args(["--registry", &far.host(), "--plain-http", &far.host()])
        .run();
    let far_image = |repo: &str, at: &str| format!("{}/rancher/{repo}{at}", far.host());
    for (what, image) in [
        ("verify", far_image("klipper-lb", ":v0.4.13")),
        ("verify-attestation", far_image("klipper-lb", ":v0.4.13")),
        // The pause index is stored for linux/amd64 only, under another digest; its
        // signature names the index the near registry serves, and verifies by that digest.
        ("verify", far_image("mirrored-pause", &format!("@{pause}"))),
    ] {
        let out = signer.verify(what, &image);
        assert_eq!(out.code, Some(0), "cosign {what} {image}: {out:?}");
    }
    // A key that did not sign fails there.
    let other = Signer::new(signer.cosign.clone());
    let out = other.verify("verify", &far_image("klipper-lb", ":v0.4.13"));
    assert_ne!(out.code, Some(0), "{out:?}");

    // The original index altered in the layout: verify names it.
    common::flip_byte(&original_blob, original.len() / 2);
    let out = Cmd::seedforge().arg("verify").arg(&layout).expect(1).run();
    assert!(
        out.stdout.contains(&hex(&pause)) || out.stderr.contains(&hex(&pause)),
        "{}{}",
        out.stdout,
        out.stderr
    );
    fs::write(&original_blob, &original).unwrap();

    // skopeo judges the `.sig` itself: a `sigstoreSigned` rule with cosign's public key,
    // the signature looked up as cosign's tag (`use-sigstore-attachments`). The signature
    // names the near registry's repository, which the far side's policy names as the one
    // its copy must have been signed for (`exactRepository`).
    if let Some(skopeo) = common::sigstore::skopeo_sigstore() {
        let lb_far = far_image("klipper-lb", &format!("@{lb}"));
        let judge = |key: &Path, name: &str| {
            let dir = work.path().join(name);
            fs::create_dir_all(dir.join("registries.d")).unwrap();
            let policy = serde_json::json!({
                "default": [{"type": "reject"}],
                "transports": {"docker": {
                    format!("{}/rancher/klipper-lb", far.host()): [{
                        "type": "sigstoreSigned",
                        "keyPath": key,
                        "signedIdentity": {
                            "type": "exactRepository",
                            "dockerRepository": format!("{}/rancher/klipper-lb", near.host()),
                        },
                    }],
                }},
            });
            fs::write(dir.join("policy.json"), policy.to_string()).unwrap();
            fs::write(
                dir.join("registries.d/far.yaml"),
                format!(
                    "docker:\n  {}:\n    use-sigstore-attachments: true\n",
                    far.host()
                ),
            )
            .unwrap();
            skopeo
                .clone()
                .arg("--policy")
                .arg(dir.join("policy.json"))
                .arg("--registries.d")
                .arg(dir.join("registries.d"))
                .args(["copy", "--src-tls-verify=false", "--remove-signatures"])
                .arg(format!("docker://{lb_far}"))
                .arg(format!("oci:{}:lb", dir.join("copy").display()))
                .timeout(Duration::from_secs(120))
        };
        judge(&signer.public_key(), "skopeo-signer").run();
        let refused = judge(&other.public_key(), "skopeo-other")
            .any_status()
            .run();
        assert_ne!(refused.code, Some(0), "{refused:?}");
        assert!(
            refused.stderr.to_lowercase().contains("signature"),
            "{refused:?}"
        );
    }
}

fn mirror_checked(
    list: &[String],
    host: &str,
    layout: &Path,
    key: &Path,
    require: &str,
    code: i32,
) -> common::Output {
    let work = layout.parent().unwrap();
    let file = work.join("checked.txt");
    fs::write(&file, list.join("\n") + "\n").unwrap();
    Cmd::seedforge()
        .args(["mirror", "--images"])
        .arg(&file)
        .arg("--layout")
        .arg(layout)
        .args(["--plain-http", host, "--verify-key"])
        .arg(key)
        .args(["--require-signature", require])
        .expect(code)
        .run()
}

/// The names `index.json` of `layout` holds (none when there is no layout).
fn names(layout: &Path) -> Vec<String> {
    if !layout.join("index.json").exists() {
        return Vec::new();
    }
    index(layout)["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["annotations"]["org.opencontainers.image.ref.name"].as_str())
        .map(str::to_string)
        .collect()
}

#[test]
fn the_policy_refuses_an_image_whose_signatures_do_not_verify_and_stores_nothing_of_it() {
    if !require_tool("docker-registry") || !require_tool("skopeo") || !require_tool("curl") {
        return;
    }
    let Some(cosign) = common::sigstore::cosign() else {
        return;
    };
    let registry = Registry::start_plain();
    let host = registry.host();
    let fixtures = fixture_layout();
    for (fixture, repo) in [
        ("klipper-lb:v0.4.13", "signed"),
        ("mirrored-coredns-coredns:1.12.1", "tampered"),
        ("local-path-provisioner:v0.0.31", "other-digest"),
        ("mirrored-metrics-server:v0.7.2", "unsigned"),
        ("klipper-helm:v0.9.5-build20250306", "bundle-only"),
    ] {
        skopeo_push(
            &format!("oci:{}:{fixture}", fixtures.display()),
            &registry,
            &format!("lab/{repo}:1"),
            false,
        );
    }
    let digest = |repo: &str| skopeo_raw_digest(&registry, &format!("lab/{repo}:1"));
    let signer = Signer::new(cosign);
    let at = |repo: &str| format!("{host}/lab/{repo}@{}", digest(repo));
    signer.sign(&at("signed"), true);
    signer.sign(&at("tampered"), true);
    signer.sign(&at("bundle-only"), false);
    // A signature made for "signed", copied to where cosign looks for other-digest's.
    let hex = |d: String| d.trim_start_matches("sha256:").to_string();
    Cmd::new("skopeo")
        .args([
            "copy",
            "--quiet",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
        ])
        .arg(format!(
            "docker://{host}/lab/signed:sha256-{}.sig",
            hex(digest("signed"))
        ))
        .arg(format!(
            "docker://{host}/lab/other-digest:sha256-{}.sig",
            hex(digest("other-digest"))
        ))
        .timeout(Duration::from_secs(60))
        .run();
    // One byte of tampered's signature changed: the manifest put back under its tag.
    let sig_tag = format!("sha256-{}.sig", hex(digest("tampered")));
    let url = format!("http://{host}/v2/lab/tampered/manifests/{sig_tag}");
    let manifest = Cmd::new("curl")
        .args([
            "-sf",
            "-H",
            "Accept: application/vnd.oci.image.manifest.v1+json",
        ])
        .arg(&url)
        .run()
        .stdout;
    let mut doc: serde_json::Value = serde_json::from_str(&manifest).unwrap();
    let sig = doc["layers"][0]["annotations"]["dev.cosignproject.cosign/signature"]
        .as_str()
        .unwrap()
        .to_string();
    let flipped = if sig.starts_with('M') { "N" } else { "M" };
    doc["layers"][0]["annotations"]["dev.cosignproject.cosign/signature"] =
        serde_json::Value::String(format!("{flipped}{}", &sig[1..]));
    let work = tempfile::tempdir().unwrap();
    let body = work.path().join("tampered.json");
    fs::write(&body, serde_json::to_vec(&doc).unwrap()).unwrap();
    Cmd::new("curl")
        .args([
            "-sf",
            "-X",
            "PUT",
            "-H",
            "Content-Type: application/vnd.oci.image.manifest.v1+json",
        ])
        .arg("--data-binary")
        .arg(format!("@{}", body.display()))
        .arg(&url)
        .run();

    let key = signer.public_key();
    let entry = |repo: &str| format!("docker://{host}/lab/{repo}:1");
    let layout = work.path().join("oci");
    // Signed ways the key verifies: a classic signature, a bundle referrer.
    mirror_checked(
        &[entry("signed"), entry("bundle-only")],
        &host,
        &layout,
        &key,
        "always",
        0,
    );
    assert!(names(&layout).iter().any(|n| n.ends_with("lab/signed:1")));
    for (repo, why) in [
        ("tampered", "does not verify"),
        ("other-digest", "the signed payload is for"),
        ("unsigned", "has no signature"),
    ] {
        let out = mirror_checked(&[entry(repo)], &host, &layout, &key, "always", 1);
        assert!(out.stderr.contains(&format!("lab/{repo}:1")), "{out:?}");
        assert!(out.stderr.contains(key.to_str().unwrap()), "{out:?}");
        assert!(out.stderr.to_lowercase().contains(why), "{repo}: {out:?}");
        assert!(
            !names(&layout)
                .iter()
                .any(|n| n.contains(&format!("lab/{repo}"))),
            "{repo} left in the layout"
        );
    }
    // Another key verifies nothing.
    let other = Signer::new(signer.cosign.clone());
    let out = mirror_checked(
        &[entry("signed")],
        &host,
        &work.path().join("other"),
        &other.public_key(),
        "always",
        1,
    );
    assert!(out.stderr.contains("no signature of"), "{out:?}");
    assert!(names(&work.path().join("other")).is_empty());
    // if-present: an unsigned image passes, a badly signed one does not.
    mirror_checked(&[entry("unsigned")], &host, &layout, &key, "if-present", 0);
    mirror_checked(&[entry("tampered")], &host, &layout, &key, "if-present", 1);
}
