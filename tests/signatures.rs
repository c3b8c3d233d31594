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
use common::{Cmd, require_tool};
use std::fs;
use std::path::{Path, PathBuf};

use std::time::Duration;

const PASSWORD: &str = "a test key's password";

/// cosign's flags for the tests' plain-HTTP registries.
const REGISTRY_FLAGS: [&str; 2] = ["--allow-http-registry", "--allow-insecure-registry"];

struct Signer {
    cosign: PathBuf,
    dir: tempfile::TempDir,
}

impl Signer {
    fn new(cosign: PathBuf) -> Signer {
        let dir = tempfile::tempdir().unwrap();
        Cmd::new(&cosign)
            .args(["generate-key-pair"])
            .env("COSIGN_PASSWORD", PASSWORD)
            .cwd(dir.path())
            .timeout(Duration::from_secs(60))
            .run();
        Signer { cosign, dir }
    }

    fn public_key(&self) -> PathBuf {
        self.dir.path().join("cosign.pub")
    }

    fn cosign(&self, args: &[&str]) -> Cmd {
        common::sigstore::cosign_cmd(&self.cosign, &self.dir.path().join("home"))
            .args(args)
            .env("COSIGN_PASSWORD", PASSWORD)
            .cwd(self.dir.path())
            .timeout(Duration::from_secs(120))
    }

    /// Signs `image` (by digest) without a transparency log: classic `.sig` or a bundle.
    fn sign(&self, image: &str, classic: bool) {
        let mut args = vec![
            "sign",
            "--key",
            "cosign.key",
            "--tlog-upload=false",
            "--use-signing-config=false",
            "-y",
        ];
        if classic {
            args.push("--new-bundle-format=false");
        }
        args.extend(REGISTRY_FLAGS);
        args.push(image);
        self.cosign(&args).run();
    }

    fn attest(&self, image: &str) {
        fs::write(
            self.dir.path().join("predicate.json"),
            r#"{"built":"here"}"#,
        )
        .unwrap();
        self.cosign(&[
            "attest",
            "--key",
            "cosign.key",
            "--tlog-upload=false",
            "--use-signing-config=false",
            "--predicate",
            "predicate.json",
            "--type",
            "custom",
            "-y",
            "--allow-http-registry",
            "--allow-insecure-registry",
            image,
        ])
        .run();
    }

    /// `cosign verify` (or `verify-attestation`) with the public key, no transparency log.
    fn verify(&self, what: &str, image: &str) -> common::Output {
        let key = self.public_key();
        let mut args = vec![
            what,
            "--key",
            key.to_str().unwrap(),
            "--insecure-ignore-tlog",
        ];
        if what == "verify-attestation" {
            args.extend(["--type", "custom"]);
        }
        args.extend(REGISTRY_FLAGS);
        args.push(image);
        self.cosign(&args).any_status().run()
    }
}

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

/// A lab built with `--signing-key` (cosign's own encrypted key) and with `seal.key` (a
/// PKCS#8 Ed25519 key made by openssl).
#[test]
fn a_signed_output_verifies_with_its_key_and_fails_on_any_changed_byte() {
    let Some(cosign) = common::sigstore::cosign() else {
        return;
    };
    let signer = Signer::new(cosign);
    let lab = common::Lab::new();
    // A wrong password: refused before anything is written, naming the key, not the password.
    let wrong = lab
        .seedforge()
        .args(["build", "--config", lab.config_arg(), "--signing-key"])
        .arg(signer.dir.path().join("cosign.key"))
        .env("COSIGN_PASSWORD", "not the password")
        .expect(2)
        .run();
    assert!(wrong.stderr.contains("cosign.key"), "{wrong:?}");
    assert!(!wrong.stderr.contains("not the password"), "{wrong:?}");
    assert!(!lab.out_dir().exists());
    lab.seedforge()
        .args(["build", "--config", lab.config_arg(), "--signing-key"])
        .arg(signer.dir.path().join("cosign.key"))
        .env("COSIGN_PASSWORD", PASSWORD)
        .run();
    let out = lab.out_dir();
    let bundle = out.join("manifest.json.sigstore.json");
    assert!(bundle.is_file());
    let sums = fs::read_to_string(out.join("SHA256SUMS")).unwrap();
    assert!(sums.contains("  manifest.json.sigstore.json\n"), "{sums}");
    assert!(sums.contains("  sbom/provenance.sigstore.json\n"), "{sums}");
    let text = fs::read_to_string(&bundle).unwrap();
    assert!(!text.contains(PASSWORD));

    // cosign alone, with the public key and no network, accepts the medium's signature
    // and the provenance's.
    let out_cosign = signer
        .cosign(&["verify-blob", "--key"])
        .arg(signer.public_key())
        .arg("--bundle")
        .arg(&bundle)
        .args(["--insecure-ignore-tlog"])
        .arg(out.join("manifest.json"))
        .any_status()
        .run();
    assert_eq!(out_cosign.code, Some(0), "{out_cosign:?}");
    let att = signer
        .cosign(&["verify-blob-attestation", "--key"])
        .arg(signer.public_key())
        .arg("--bundle")
        .arg(out.join("sbom/provenance.sigstore.json"))
        .args([
            "--insecure-ignore-tlog",
            "--type",
            "https://slsa.dev/provenance/v1",
        ])
        // A file the provenance names as a subject.
        .arg(out.join("registries.yaml"))
        .any_status()
        .run();
    assert_eq!(att.code, Some(0), "{att:?}");

    // seedforge verify --key: passes; an unchanged rebuild keeps the signature's bytes.
    let verified = lab
        .seedforge()
        .arg("verify")
        .arg("--key")
        .arg(signer.public_key())
        .arg(&out)
        .run();
    assert!(verified.stdout.contains("signature"), "{verified:?}");
    lab.seedforge()
        .args(["build", "--config", lab.config_arg(), "--signing-key"])
        .arg(signer.dir.path().join("cosign.key"))
        .env("COSIGN_PASSWORD", PASSWORD)
        .run();
    assert_eq!(fs::read_to_string(&bundle).unwrap(), text, "re-signed");
    // A changed input: the manifest and the provenance are signed anew, and verify.
    let list = lab.lab_dir().join("images.txt");
    let lines = fs::read_to_string(&list).unwrap();
    fs::write(
        &list,
        format!("{lines}# a comment changes the list's digest\n"),
    )
    .unwrap();
    lab.seedforge()
        .args(["build", "--config", lab.config_arg(), "--signing-key"])
        .arg(signer.dir.path().join("cosign.key"))
        .env("COSIGN_PASSWORD", PASSWORD)
        .run();
    lab.seedforge()
        .arg("verify")
        .arg("--key")
        .arg(signer.public_key())
        .arg(&out)
        .run();
    // A lone seed ISO checks against the signed manifest beside its folder.
    let iso = fs::read_dir(out.join("iso"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "iso"))
        .unwrap();
    lab.seedforge()
        .arg("verify")
        .arg("--key")
        .arg(signer.public_key())
        .arg(&iso)
        .run();

    // Another key fails.
    let other = Signer::new(signer.cosign.clone());
    lab.seedforge()
        .arg("verify")
        .arg("--key")
        .arg(other.public_key())
        .arg(&out)
        .expect(1)
        .run();
    // One flipped byte anywhere fails: in a sealed file (with its SHA256SUMS line made to
    // match, as whoever swaps a medium would), in manifest.json, in the bundle.
    let flip = |path: &Path| {
        let mut bytes = fs::read(path).unwrap();
        let i = bytes.len() / 2;
        bytes[i] ^= 1;
        fs::write(path, bytes).unwrap();
    };
    for victim in [
        "registries.yaml",
        "manifest.json",
        "manifest.json.sigstore.json",
    ] {
        let dir = tempfile::tempdir().unwrap();
        let copy = dir.path().join("out");
        Cmd::new("cp").arg("-a").arg(&out).arg(&copy).run();
        flip(&copy.join(victim));
        // SHA256SUMS made to agree with the changed file.
        let sums_path = copy.join("SHA256SUMS");
        let new_sha = common::sha256_bytes(&fs::read(copy.join(victim)).unwrap());
        let sums: String = fs::read_to_string(&sums_path)
            .unwrap()
            .lines()
            .map(|l| {
                let (_, path) = l.split_once("  ").unwrap();
                if path == victim {
                    format!("{new_sha}  {path}\n")
                } else {
                    format!("{l}\n")
                }
            })
            .collect();
        fs::write(&sums_path, sums).unwrap();
        let failed = lab
            .seedforge()
            .arg("verify")
            .arg("--key")
            .arg(signer.public_key())
            .arg(&copy)
            .any_status()
            .run();
        assert_ne!(failed.code, Some(0), "{victim}: {failed:?}");
    }

    // seal.key in the config, a plain PKCS#8 Ed25519 key: deterministic signatures, so two
    // outputs of the same inputs are byte-identical, bundles included.
    if !require_tool("openssl") {
        return;
    }
    let key = lab.lab_dir().join("seal.pem");
    Cmd::new("openssl")
        .args(["genpkey", "-algorithm", "ed25519", "-out"])
        .arg(&key)
        .run();
    let public = lab.root().join("seal.pub");
    Cmd::new("openssl")
        .args(["pkey", "-pubout", "-in"])
        .arg(&key)
        .arg("-out")
        .arg(&public)
        .run();
    let config = lab.lab_dir().join("seedforge.yaml");
    let text = fs::read_to_string(&config).unwrap();
    fs::write(&config, format!("{text}\nseal:\n  key: seal.pem\n")).unwrap();
    for dir in ["out-a", "out-b"] {
        // The same inputs: the second output keeps the first one's CA and certificate.
        if dir == "out-b" {
            fs::create_dir_all(lab.root().join(dir)).unwrap();
            Cmd::new("cp")
                .arg("-a")
                .arg(lab.root().join("out-a/pki"))
                .arg(lab.root().join(dir))
                .run();
        }
        lab.seedforge()
            .args(["build", "--config", lab.config_arg(), "--out"])
            .arg(lab.root().join(dir))
            .run();
    }
    for f in [
        "manifest.json.sigstore.json",
        "sbom/provenance.sigstore.json",
        "SHA256SUMS",
    ] {
        assert_eq!(
            fs::read(lab.root().join("out-a").join(f)).unwrap(),
            fs::read(lab.root().join("out-b").join(f)).unwrap(),
            "{f}"
        );
    }
    lab.seedforge()
        .arg("verify")
        .arg("--key")
        .arg(&public)
        .arg(lab.root().join("out-a"))
        .run();
}

/// A registry serving the demo's pause index, signed (a classic `.sig`) by a key cosign made,
/// and a copy of the demo that pulls the pause image from it, with the key as `cosign.pub`
/// and an `images.verify` policy of `require: if-present` (the demo's other images are
/// local and unsigned), after `extra` (more `images:` lines). `None` without the judges.
struct SignedPause {
    registry: Registry,
    pause: String,
    lab: common::Lab,
    signer: Signer,
}

fn signed_pause_lab(extra: &str) -> Option<SignedPause> {
    if !require_tool("docker-registry") || !require_tool("skopeo") {
        return None;
    }
    let cosign = common::sigstore::cosign()?;
    let registry = Registry::start_plain();
    skopeo_push(
        &format!("oci:{}:mirrored-pause:3.6", fixture_layout().display()),
        &registry,
        "rancher/mirrored-pause:3.6",
        true,
    );
    let pause = skopeo_raw_digest(&registry, "rancher/mirrored-pause:3.6");
    let signer = Signer::new(cosign);
    signer.sign(
        &format!("{}/rancher/mirrored-pause@{pause}", registry.host()),
        true,
    );
    let lab = common::Lab::new();
    lab.pull_pause_from(&registry.host());
    fs::copy(signer.public_key(), lab.lab_dir().join("cosign.pub")).unwrap();
    let config = lab.lab_dir().join("seedforge.yaml");
    let text = fs::read_to_string(&config).unwrap();
    let with_policy = text.replace(
        "\n  concurrency: 4\n",
        &format!(
            "\n  concurrency: 4\n{extra}  verify:\n    keys: [cosign.pub]\n    require: if-present\n"
        ),
    );
    assert_ne!(with_policy, text);
    fs::write(&config, with_policy).unwrap();
    Some(SignedPause {
        registry,
        pause,
        lab,
        signer,
    })
}

#[test]
fn a_build_with_images_verify_records_its_keys_keeps_signatures_offline_and_verify_checks_them() {
    let Some(SignedPause {
        registry: _registry,
        lab,
        signer,
        ..
    }) = signed_pause_lab("")
    else {
        return;
    };
    lab.build();
    let out = lab.out_dir();
    let stored = attached(&out.join("oci"));
    assert_eq!(stored.len(), 1, "{stored:#?}");
    let manifest: serde_json::Value =
        serde_json::from_slice(&fs::read(out.join("manifest.json")).unwrap()).unwrap();
    let key_path = manifest["image_keys"][0]["path"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        fs::read_to_string(out.join(&key_path)).unwrap().trim(),
        fs::read_to_string(signer.public_key()).unwrap().trim()
    );
    let verified = lab.seedforge().arg("verify").arg(&out).run();
    assert!(
        verified
            .stdout
            .contains("1 image(s) with a signature verifying"),
        "{verified:?}"
    );

    // Offline, the signature stays in the layout (it comes from there).
    lab.seedforge()
        .args(["build", "--offline", "--config", lab.config_arg()])
        .run();
    assert_eq!(attached(&out.join("oci")), stored);

    // The recorded key swapped for another (SHA256SUMS made to agree): the carried
    // signature no longer verifies with it.
    let other = Signer::new(signer.cosign.clone());
    let pem = fs::read(other.public_key()).unwrap();
    fs::write(out.join(&key_path), &pem).unwrap();
    let sums_path = out.join("SHA256SUMS");
    let sums: String = fs::read_to_string(&sums_path)
        .unwrap()
        .lines()
        .map(|l| {
            let (_, path) = l.split_once("  ").unwrap();
            if path == key_path {
                format!("{}  {path}\n", common::sha256_bytes(&pem))
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    fs::write(&sums_path, sums).unwrap();
    let failed = lab.seedforge().arg("verify").arg(&out).expect(1).run();
    assert!(failed.stderr.contains("no longer verify"), "{failed:?}");
}

/// `images.signatures: drop` with a policy: the signatures the policy checks are carried all
/// the same, so that an offline rebuild (the far side's) checks them again and passes.
#[test]
fn a_policy_carries_what_it_checks_even_with_signatures_dropped() {
    let Some(SignedPause {
        registry,
        pause,
        lab,
        ..
    }) = signed_pause_lab("  signatures: drop\n")
    else {
        return;
    };
    lab.build();
    let carried = attached(&lab.out_layout());
    assert_eq!(carried.len(), 1, "{carried:?}");
    assert_eq!(carried[0].1, pause, "{carried:?}");
    let sums = fs::read(lab.out_dir().join("SHA256SUMS")).unwrap();
    // Offline, with the registry gone, the policy checks the carried signature again.
    drop(registry);
    lab.seedforge()
        .args(["build", "--offline", "--config", lab.config_arg()])
        .run();
    assert_eq!(fs::read(lab.out_dir().join("SHA256SUMS")).unwrap(), sums);
}

#[test]
fn a_build_with_a_policy_pins_the_verified_digest_and_its_keys_in_the_lock() {
    let Some(SignedPause {
        registry,
        pause,
        lab,
        ..
    }) = signed_pause_lab("")
    else {
        return;
    };
    let dir = lab.lab_dir();

    lab.build();
    let lock_path = dir.join("seedforge.lock");
    let read_lock =
        || serde_json::from_slice::<serde_json::Value>(&fs::read(&lock_path).unwrap()).unwrap();
    let lock = read_lock();
    let source = format!("docker://{}/rancher/mirrored-pause:3.6", registry.host());
    assert_eq!(lock["images"][&source], pause.as_str(), "{lock:#}");
    assert_eq!(
        lock["verified"],
        serde_json::json!({ &source: { "digest": pause, "keys": ["cosign.pub"] } }),
        "{lock:#}"
    );
    // The lab keeps linux/amd64 of the pause index: the signed index is in the layout.
    let original = lab
        .out_layout()
        .join("blobs/sha256")
        .join(&pause["sha256:".len()..]);
    assert!(original.is_file(), "{}", original.display());

    // The same pins: --locked passes and leaves the lock alone.
    let lock_bytes = fs::read(&lock_path).unwrap();
    lab.seedforge()
        .args(["build", "--locked", "--config", lab.config_arg()])
        .run();
    assert_eq!(fs::read(&lock_path).unwrap(), lock_bytes);

    // A lock pinning another verified digest, or another key, is refused by --locked.
    let other = format!("sha256:{}", "0".repeat(64));
    for (field, value, needle) in [
        ("digest", serde_json::json!(other), other.as_str()),
        ("keys", serde_json::json!(["other.pub"]), "other.pub"),
    ] {
        let mut edited = read_lock();
        edited["verified"][&source][field] = value;
        fs::write(&lock_path, serde_json::to_vec_pretty(&edited).unwrap()).unwrap();
        let out = lab
            .seedforge()
            .args(["build", "--locked", "--config", lab.config_arg()])
            .expect(2)
            .run();
        assert!(
            out.stderr.contains(&source) && out.stderr.contains(needle),
            "{field}: {}",
            out.stderr
        );
        fs::write(&lock_path, &lock_bytes).unwrap();
    }
    // A lock from before the policy (no verified pins) is refused by --locked too: the
    // build would verify what it does not pin.
    let mut bare = read_lock();
    bare.as_object_mut().unwrap().remove("verified");
    fs::write(&lock_path, serde_json::to_vec_pretty(&bare).unwrap()).unwrap();
    let out = lab
        .seedforge()
        .args(["build", "--locked", "--config", lab.config_arg()])
        .expect(2)
        .run();
    assert!(
        out.stderr.contains("pins no verification"),
        "{}",
        out.stderr
    );
    // Without --locked, the build pins it again.
    lab.build();
    assert_eq!(fs::read(&lock_path).unwrap(), lock_bytes);

    // Offline, the layout's subset of the pause index is the image: its signature, over
    // the whole index, verifies against the original kept beside it.
    lab.seedforge()
        .args(["build", "--offline", "--config", lab.config_arg()])
        .run();
    // The original altered: the build is refused (the signature verifies against the
    // digest the lock pins; the layout's check after mirroring finds the altered blob).
    let bytes = fs::read(&original).unwrap();
    common::flip_byte(&original, bytes.len() / 2);
    let out = lab
        .seedforge()
        .args(["build", "--offline", "--config", lab.config_arg()])
        .expect(1)
        .run();
    assert!(
        (out.stderr.contains("no signature of") && out.stderr.contains(&source))
            || out.stderr.contains("blob problem"),
        "{}",
        out.stderr
    );
    fs::write(&original, &bytes).unwrap();
}

/// A signed build exports `manifest.json` and its bundle with the ISOs, so that the export
/// folder (whole ISOs, or ISOs in parts) checks with the public key alone: `seedforge
/// verify --key` and cosign's `verify-blob` plus `sha256sum`; a changed part or ISO fails,
/// and an unsigned build later removes the pair it no longer matches.
#[test]
fn an_export_folder_of_a_signed_build_verifies_with_the_key_alone() {
    let Some(cosign) = common::sigstore::cosign() else {
        return;
    };
    let signer = Signer::new(cosign);
    let lab = common::Lab::new();
    // 5 MiB of noise in the payload: the payload ISO goes in parts of 2 MiB.
    let mut noise = vec![0u8; 5 << 20];
    let mut x: u32 = 7;
    for b in &mut noise {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        *b = (x >> 24) as u8;
    }
    fs::write(lab.lab_dir().join("noise.bin"), &noise).unwrap();
    let config = lab.lab_dir().join("seedforge.yaml");
    let text = fs::read_to_string(&config).unwrap();
    let with_export = |split: &str| {
        format!(
            "{text}\nfiles:\n  - name: noise.bin\n    source: noise.bin\n    sha256: \"{}\"\nexport_dir: export\n{split}",
            common::sha256_bytes(&noise)
        )
    };
    let export = lab.lab_dir().join("export");
    let build_signed = || {
        lab.seedforge()
            .args(["build", "--config", lab.config_arg(), "--signing-key"])
            .arg(signer.dir.path().join("cosign.key"))
            .env("COSIGN_PASSWORD", PASSWORD)
            .run()
    };
    let verify = |key: &Path, code: i32| {
        lab.seedforge()
            .arg("verify")
            .arg("--key")
            .arg(key)
            .arg(&export)
            .expect(code)
            .run()
    };
    for split in ["", "export_split: 2MiB\n"] {
        fs::write(&config, with_export(split)).unwrap();
        build_signed();
        for name in ["manifest.json", "manifest.json.sigstore.json"] {
            assert_eq!(
                fs::read(export.join(name)).unwrap(),
                fs::read(lab.out_dir().join(name)).unwrap(),
                "{name} ({split:?})"
            );
        }
        let ok = verify(&signer.public_key(), 0);
        assert!(ok.stdout.contains("signature"), "{split:?}: {ok:?}");
        // cosign alone checks the manifest the ISOs are named in.
        let blob = signer
            .cosign(&["verify-blob", "--key"])
            .arg(signer.public_key())
            .arg("--bundle")
            .arg(export.join("manifest.json.sigstore.json"))
            .arg("--insecure-ignore-tlog")
            .arg(export.join("manifest.json"))
            .any_status()
            .run();
        assert_eq!(blob.code, Some(0), "{blob:?}");
        // Another key fails.
        let other = Signer::new(signer.cosign.clone());
        verify(&other.public_key(), 1);
    }
    // In parts: one part changed, with SHA256SUMS and SHA256SUMS.wholes made to agree
    // (whoever swaps a medium can rewrite its sums): the signed manifest still says no.
    let part = fs::read_dir(&export)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(".part002"))
        .expect("an ISO in parts");
    let before: Vec<(PathBuf, Vec<u8>)> = fs::read_dir(&export)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| {
            let b = fs::read(&p).unwrap();
            (p, b)
        })
        .collect();
    let mut bytes = fs::read(&part).unwrap();
    bytes[100] ^= 1;
    fs::write(&part, &bytes).unwrap();
    let part_name = part.file_name().unwrap().to_string_lossy().into_owned();
    let whole_name = part_name.trim_end_matches(".part002").to_string();
    let mut joined = Vec::new();
    for i in 1.. {
        let Ok(b) = fs::read(export.join(format!("{whole_name}.part{i:03}"))) else {
            break;
        };
        joined.extend(b);
    }
    let rewrite = |file: &str, name: &str, sha: &str| {
        let path = export.join(file);
        let text: String = fs::read_to_string(&path)
            .unwrap()
            .lines()
            .map(|l| match l.split_once("  ") {
                Some((_, n)) if n == name => format!("{sha}  {n}\n"),
                _ => format!("{l}\n"),
            })
            .collect();
        fs::write(path, text).unwrap();
    };
    rewrite(
        "SHA256SUMS.wholes",
        &whole_name,
        &common::sha256_bytes(&joined),
    );
    rewrite("SHA256SUMS", &part_name, &common::sha256_bytes(&bytes));
    let failed = verify(&signer.public_key(), 1);
    assert!(failed.stderr.contains("signed manifest.json"), "{failed:?}");
    for (p, b) in before {
        fs::write(p, b).unwrap();
    }
    verify(&signer.public_key(), 0);
    // Built unsigned: the pair that named the signed ISOs goes.
    lab.seedforge()
        .args(["build", "--config", lab.config_arg()])
        .run();
    assert!(!export.join("manifest.json.sigstore.json").exists());
    assert!(!export.join("manifest.json").exists());
}

/// An image whose carried artifact cannot be stored (here a `.sig` whose layer the registry
/// lost) is not named in `index.json`, and nor is anything of it: the mirror fails naming
/// it. With `--keep-going` the other image of the list is named all the same.
#[test]
fn an_image_whose_signature_cannot_be_stored_is_not_named() {
    if !require_tool("docker-registry") || !require_tool("skopeo") {
        return;
    }
    let registry = Registry::start_plain();
    let host = registry.host();
    let fixtures = fixture_layout();
    for (fixture, repo) in [
        ("klipper-lb:v0.4.13", "acme/app:1"),
        ("local-path-provisioner:v0.0.31", "acme/other:1"),
    ] {
        skopeo_push(
            &format!("oci:{}:{fixture}", fixtures.display()),
            &registry,
            repo,
            false,
        );
    }
    // A signature-shaped artifact at the tag cosign gives app's signature.
    let digest = skopeo_raw_digest(&registry, "acme/app:1");
    let work = tempfile::tempdir().unwrap();
    let art = work.path().join("sig");
    let payload = format!(
        r#"{{"critical":{{"identity":{{"docker-reference":"{host}/acme/app"}},"image":{{"docker-manifest-digest":"{digest}"}},"type":"cosign container image signature"}},"optional":null}}"#
    );
    common::write_oci_artifact(
        &art,
        "sig",
        "application/vnd.oci.image.config.v1+json",
        br#"{"architecture":"","os":"","config":{},"rootfs":{"type":"layers","diff_ids":[]}}"#,
        "application/vnd.dev.cosign.simplesigning.v1+json",
        payload.as_bytes(),
    );
    let tag = format!("{}.sig", digest.replace(':', "-"));
    skopeo_push(
        &format!("oci:{}:sig", art.display()),
        &registry,
        &format!("acme/app:{tag}"),
        false,
    );
    // The registry loses the signature's payload blob.
    let lost = seedforge::hashing::sha256_hex(payload.as_bytes());
    let data = registry
        .dir
        .path()
        .join("storage/docker/registry/v2/blobs/sha256")
        .join(&lost[..2])
        .join(&lost)
        .join("data");
    fs::remove_file(&data).unwrap();

    let list = work.path().join("images.txt");
    fs::write(&list, format!("{host}/acme/app:1\n{host}/acme/other:1\n")).unwrap();
    for keep_going in [false, true] {
        let layout = work.path().join(format!("layout-{keep_going}"));
        let mut cmd = Cmd::seedforge()
            .args(["mirror", "--images"])
            .arg(&list)
            .arg("--layout")
            .arg(&layout)
            .args(["--plain-http", &host]);
        if keep_going {
            cmd = cmd.arg("--keep-going");
        }
        let out = cmd.expect(1).run();
        assert!(out.stderr.contains("acme/app:1"), "{}", out.stderr);
        // Each image is counted once as it finishes, and the one whose signature could not
        // be stored finishes failed, not done.
        let counted: Vec<&str> = (out.stderr.lines())
            .filter(|l| l.starts_with("  mirror "))
            .collect();
        assert_eq!(counted.len(), 2, "{}", out.stderr);
        assert_eq!(
            counted.iter().filter(|l| l.contains(": failed: ")).count(),
            1,
            "{}",
            out.stderr
        );
        let named = names(&layout);
        assert!(
            !named.iter().any(|n| n.contains("acme/app")),
            "keep-going {keep_going}: {named:?}"
        );
        if keep_going {
            assert!(named.contains(&format!("{host}/acme/other:1")), "{named:?}");
        }
    }
}
