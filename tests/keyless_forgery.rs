//! A keyless identity that cannot be forged, end to end. An attacker holds a genuine leaf
//! of their own (`attacker@…`), which made the signature and was logged, and wants the
//! signature taken as the victim's. A Sigstore bundle v0.1 or v0.2 whose
//! `verificationMaterial` holds both `x509CertificateChain` (the attacker's leaf, first) and
//! `certificate` (the victim's identity) is one document that two readers can read as two:
//! the signature verified on one leaf and the identity matched on the other. cosign refuses
//! such a bundle while reading it (protobuf JSON: a `oneof` set twice), and so must
//! seedforge, on every path: `build` with `images.verify` (`require: always`), `seedforge
//! mirror` with cosign's flags, and `seedforge verify OUT` of a medium whose stored bundle
//! was swapped (the layout and SHA256SUMS made to agree, as whoever swaps a medium would).
//!
//! The forgery in three shapes, each on an image of its own in a real registry:
//! - a certificate made by the attacker naming the victim, its issuer the name of the
//!   private Sigstore's intermediate, after the chain;
//! - the victim's genuine leaf (copied from the log) after the chain;
//! - one genuine leaf under both keys (not a forgery, but malformed: cosign refuses it).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;
use common::keyless::{ISSUER, PrivateSigstore, SIGNER, Signing};
use common::registry::Registry;
use common::{Cmd, Lab, list_lines, require_tool};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::time::Duration;

/// Who made the signatures: a genuine signer of the same private Sigstore.
const ATTACKER: &str = "attacker@elsewhere.test";

/// The media type cosign gives a bundle referrer (and its layer).
const BUNDLE_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";

/// The words of seedforge's refusal of each shape: the material's `oneof` set twice.
const REFUSAL: &str = "which are one choice (a oneof)";

/// A bundle (v0.3, DSSE over an in-toto statement about `image`'s digest) made by the
/// private Sigstore for `signer`, not attached anywhere.
fn bundle_for(sigstore: &PrivateSigstore, image: &str, signer: &str, name: &str) -> Value {
    let (repo, digest) = image.split_once('@').unwrap();
    let work = sigstore.dir.path().join(format!("forgery-{name}"));
    fs::create_dir_all(&work).unwrap();
    let statement = work.join("statement.json");
    let hex = digest.trim_start_matches("sha256:");
    fs::write(
        &statement,
        format!(
            r#"{{"_type":"https://in-toto.io/Statement/v1","subject":[{{"name":"{repo}","digest":{{"sha256":"{hex}"}}}}],"predicateType":"https://sigstore.dev/cosign/sign/v1","predicate":{{}}}}"#
        ),
    )
    .unwrap();
    Cmd::new(&sigstore.python)
        .arg(common::keyless::script())
        .arg("bundle")
        .arg(sigstore.dir.path().join("ps"))
        .arg(&statement)
        .env("ID", signer)
        .timeout(Duration::from_secs(60))
        .run();
    serde_json::from_slice(&fs::read(work.join("statement.json.sigstore.json")).unwrap()).unwrap()
}

/// The leaf (base64 DER) of a v0.3 bundle.
fn leaf_of(bundle: &Value) -> &str {
    bundle["verificationMaterial"]["certificate"]["rawBytes"]
        .as_str()
        .unwrap()
}

/// `signed`'s bundle rewritten as `media_type`, its material the chain `[chain_leaf]`
/// followed by `certificate` (in that order in the text: the order one reader takes the
/// first of), its log entries and envelope unchanged.
fn two_leaves(signed: &Value, media_type: &str, chain_leaf: &str, certificate: &str) -> String {
    let material = &signed["verificationMaterial"];
    format!(
        r#"{{"mediaType":"{media_type}","verificationMaterial":{{"x509CertificateChain":{{"certificates":[{{"rawBytes":"{chain_leaf}"}}]}},"certificate":{{"rawBytes":"{certificate}"}},"tlogEntries":{}}},"dsseEnvelope":{}}}"#,
        material["tlogEntries"], signed["dsseEnvelope"]
    )
}

/// A certificate the attacker makes (base64 DER): the victim's email and issuer, code
/// signing, valid around now, its issuer's name the private Sigstore's intermediate's,
/// signed by a key of the attacker's own.
fn self_made(intermediate_pem: &str) -> String {
    use rcgen::{
        CertificateParams, CustomExtension, ExtendedKeyUsagePurpose, Issuer, KeyPair, SanType,
    };
    let issuer = Issuer::from_ca_cert_pem(intermediate_pem, KeyPair::generate().unwrap()).unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.subject_alt_names = vec![SanType::Rfc822Name(SIGNER.try_into().unwrap())];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::CodeSigning];
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::hours(1);
    params.not_after = now + time::Duration::hours(1);
    // Fulcio's issuer extension, 1.3.6.1.4.1.57264.1.8: a DER UTF8String.
    let mut issuer_ext = vec![0x0c, u8::try_from(ISSUER.len()).unwrap()];
    issuer_ext.extend_from_slice(ISSUER.as_bytes());
    params.custom_extensions = vec![CustomExtension::from_oid_content(
        &[1, 3, 6, 1, 4, 1, 57264, 1, 8],
        issuer_ext,
    )];
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &issuer).unwrap();
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(cert.der())
}

/// `oras attach`es `bundle` to `image` as cosign attaches a bundle: a referrer of artifact
/// type [`BUNDLE_TYPE`], through the fallback tag on a registry without the referrers API.
fn attach(oras: &Path, dir: &Path, image: &str, bundle: &str) {
    fs::write(dir.join("forged.sigstore.json"), bundle).unwrap();
    Cmd::new(oras)
        .args(["attach", "--plain-http", "--artifact-type", BUNDLE_TYPE])
        .arg(image)
        .arg(format!("forged.sigstore.json:{BUNDLE_TYPE}"))
        .cwd(dir)
        .env("HOME", dir.to_str().unwrap())
        .timeout(Duration::from_secs(60))
        .run();
}

/// In the layout `oci` of a build output, the blob `old` (hex) replaced by `bytes`, and every
/// manifest, index and record that names it, up to `index.json` and `manifest.json`,
/// rewritten to name the new one (each under its own new digest); then SHA256SUMS made to
/// agree: a medium swapped by someone who knows the format.
fn swap_blob(out: &Path, old: &str, bytes: &[u8]) {
    let blobs = out.join("oci/blobs/sha256");
    let put = |bytes: &[u8]| -> (String, u64) {
        let hex = common::sha256_bytes(bytes);
        fs::write(blobs.join(&hex), bytes).unwrap();
        (hex, bytes.len() as u64)
    };
    let mut renamed: BTreeMap<String, (String, u64)> = BTreeMap::new();
    renamed.insert(old.to_owned(), put(bytes));
    // Rewrites every descriptor or string that names a renamed blob; true if it changed.
    fn rename(v: &mut Value, renamed: &BTreeMap<String, (String, u64)>) -> bool {
        match v {
            Value::Object(o) => {
                let mut changed = false;
                let named = o
                    .get("digest")
                    .and_then(Value::as_str)
                    .and_then(|d| d.strip_prefix("sha256:"))
                    .and_then(|h| renamed.get(h))
                    .cloned();
                if let Some((hex, size)) = named {
                    o.insert("digest".into(), format!("sha256:{hex}").into());
                    if o.contains_key("size") {
                        o.insert("size".into(), size.into());
                    }
                    changed = true;
                }
                for (_, child) in o.iter_mut() {
                    changed |= rename(child, renamed);
                }
                changed
            }
            Value::Array(a) => a.iter_mut().fold(false, |c, x| rename(x, renamed) | c),
            Value::String(s) => {
                let hit = renamed
                    .iter()
                    .find(|(old, _)| s.contains(old.as_str()))
                    .map(|(old, (new, _))| s.replace(old.as_str(), new));
                hit.map(|new| *s = new).is_some()
            }
            _ => false,
        }
    }
    loop {
        let mut more = false;
        for entry in fs::read_dir(&blobs).unwrap() {
            let path = entry.unwrap().path();
            let hex = path.file_name().unwrap().to_string_lossy().into_owned();
            if renamed.contains_key(&hex)
                || renamed.values().any(|(new, _)| *new == hex)
                || fs::metadata(&path).unwrap().len() > 1 << 20
            {
                continue;
            }
            let Ok(mut doc) = serde_json::from_slice::<Value>(&fs::read(&path).unwrap()) else {
                continue;
            };
            if rename(&mut doc, &renamed) {
                let new = put(&serde_json::to_vec(&doc).unwrap());
                renamed.insert(hex, new);
                more = true;
            }
        }
        if !more {
            break;
        }
    }
    for top in ["oci/index.json", "manifest.json"] {
        let path = out.join(top);
        let mut doc: Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        if rename(&mut doc, &renamed) {
            fs::write(&path, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
        }
    }
    let sums_path = out.join("SHA256SUMS");
    let sums: String = fs::read_to_string(&sums_path)
        .unwrap()
        .lines()
        .map(|l| {
            let (_, p) = l.split_once("  ").unwrap();
            let sha = common::sha256_bytes(&fs::read(out.join(p)).unwrap());
            format!("{sha}  {p}\n")
        })
        .collect();
    fs::write(sums_path, sums).unwrap();
}

#[test]
fn a_bundle_holding_a_chain_and_a_certificate_is_refused_on_every_path_as_cosign_refuses_it() {
    if !require_tool("docker-registry") || !require_tool("skopeo") {
        return;
    }
    let Some(sigstore) = PrivateSigstore::new() else {
        return;
    };
    let Some(oras) = common::sigstore::oras() else {
        assert!(
            std::env::var("CI").map_or(true, |v| v != "true"),
            "oras is missing (CI=true, so this is a failure)"
        );
        eprintln!("SKIP: no oras");
        return;
    };
    let registry = Registry::start_plain();
    let lab = Lab::new();
    let dir = lab.lab_dir();
    let host = registry.host();
    let copy_to = |source: &str, repo_tag: &str| -> String {
        Cmd::new("skopeo")
            .args(["copy", "--quiet", "--all", "--dest-tls-verify=false"])
            .arg(source)
            .arg(format!("docker://{host}/{repo_tag}"))
            .cwd(&dir)
            .timeout(Duration::from_secs(120))
            .run();
        let digest = common::registry::skopeo_raw_digest(&registry, repo_tag);
        let repo = repo_tag.rsplit_once(':').unwrap().0;
        format!("{host}/{repo}@{digest}")
    };
    // Every image of the demo in the registry, each signed honestly with a bundle.
    let mut lines = Vec::new();
    let mut genuine = Vec::new();
    let demo = list_lines(&dir.join("images.txt"));
    for (_, fields) in &demo {
        let (source, destination) = (&fields[0], &fields[1]);
        let repo_tag = destination.trim_start_matches("docker.io/");
        let image = copy_to(source, repo_tag);
        genuine.push((
            image.clone(),
            sigstore.sign_bundle(&image, &Signing::default()),
        ));
        lines.push(format!("docker://{host}/{repo_tag} {destination}"));
    }
    // The three shapes: the first image again, under repositories of their own (a
    // referrer belongs to its repository), signed by nobody else.
    let mut shape_images = Vec::new();
    for n in 0..3 {
        let repo_tag = format!("forged/shape-{n}:1");
        let image = copy_to(&demo[0].1[0], &repo_tag);
        shape_images.push((
            image,
            format!("docker://{host}/{repo_tag} docker.io/seedforge-test/shape-{n}:1"),
        ));
    }
    fs::copy(&sigstore.trusted_root, dir.join("trusted_root.json")).unwrap();
    let config = dir.join("seedforge.yaml");
    let text = fs::read_to_string(&config).unwrap();
    fs::write(
        &config,
        text.replace(
            "\nimages:\n",
            &format!("\nregistries:\n  - host: \"{host}\"\n    insecure: true\n\nimages:\n"),
        )
        .replace(
            "\n  concurrency: 4\n",
            &format!(
                "\n  concurrency: 4\n  verify:\n    identities:\n      - issuer: {ISSUER}\n        subject: {SIGNER}\n    trusted_root: trusted_root.json\n    require: always\n"
            ),
        ),
    )
    .unwrap();
    let list = dir.join("images.txt");

    // --- verify OUT: an output of the honest images, one stored bundle swapped for a
    // forged one about the same image.
    fs::write(&list, lines.join("\n") + "\n").unwrap();
    lab.seedforge()
        .args(["build", "--config", lab.config_arg()])
        .run();
    let far = tempfile::tempdir().unwrap();
    let copy = far.path().join("out");
    Cmd::new("cp").arg("-a").arg(lab.out_dir()).arg(&copy).run();
    common::far_side(far.path()).arg("verify").arg(&copy).run();
    let (honest, honest_bundle) = &genuine[0];
    let honest_bundle: Value = serde_json::from_slice(&fs::read(honest_bundle).unwrap()).unwrap();
    // The stored blob of that bundle (as cosign attached it): the one holding its leaf.
    let stored = fs::read_dir(copy.join("oci/blobs/sha256"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            fs::metadata(p).unwrap().len() < 1 << 20
                && serde_json::from_slice::<Value>(&fs::read(p).unwrap()).is_ok_and(|v| {
                    v["verificationMaterial"]["certificate"]["rawBytes"].as_str()
                        == Some(leaf_of(&honest_bundle))
                })
        })
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .expect("the output stores no bundle of the first image");
    let attacker = bundle_for(&sigstore, honest, ATTACKER, "honest");
    let forged = two_leaves(
        &attacker,
        "application/vnd.dev.sigstore.bundle+json;version=0.2",
        leaf_of(&attacker),
        leaf_of(&honest_bundle),
    );
    swap_blob(&copy, &stored, forged.as_bytes());
    let refused = common::far_side(far.path())
        .arg("verify")
        .arg(&copy)
        .any_status()
        .run();
    assert_eq!(refused.code, Some(1), "{refused:?}");
    let said = format!("{}{}", refused.stdout, refused.stderr);
    assert!(said.contains(REFUSAL), "{said}");

    // --- the three shapes, each attached to an image of its own.
    let intermediate = fs::read_to_string(sigstore.dir.path().join("ps/fulcio-inter.pem")).unwrap();
    let mut shapes = Vec::new();
    for (n, (image, _)) in shape_images.iter().enumerate() {
        let by_attacker = bundle_for(&sigstore, image, ATTACKER, &format!("a{n}"));
        let by_victim = bundle_for(&sigstore, image, SIGNER, &format!("v{n}"));
        let (what, bundle) = match n {
            0 => (
                "a self-made certificate after the chain",
                two_leaves(
                    &by_attacker,
                    "application/vnd.dev.sigstore.bundle+json;version=0.2",
                    leaf_of(&by_attacker),
                    &self_made(&intermediate),
                ),
            ),
            1 => (
                "the victim's genuine leaf after the chain",
                two_leaves(
                    &by_attacker,
                    "application/vnd.dev.sigstore.bundle+json;version=0.2",
                    leaf_of(&by_attacker),
                    leaf_of(&by_victim),
                ),
            ),
            _ => (
                "one leaf under both keys",
                two_leaves(
                    &by_victim,
                    "application/vnd.dev.sigstore.bundle+json;version=0.1",
                    leaf_of(&by_victim),
                    leaf_of(&by_victim),
                ),
            ),
        };
        let work = sigstore.dir.path().join(format!("attach-{n}"));
        fs::create_dir_all(&work).unwrap();
        attach(&oras, &work, image, &bundle);
        shapes.push((what, image.clone()));
    }

    // cosign refuses each.
    for (what, image) in &shapes {
        let judged = sigstore.verify(image);
        assert_ne!(judged.code, Some(0), "cosign passed {what}: {judged:?}");
    }

    // `seedforge mirror` with cosign's flags refuses each, by name, and stores nothing.
    for (n, (what, image)) in shapes.iter().enumerate() {
        let one = lab.root().join(format!("one-{n}.txt"));
        fs::write(&one, format!("{}\n", shape_images[n].1)).unwrap();
        let layout = lab.root().join(format!("mirrored-{n}"));
        let out = Cmd::seedforge()
            .args(["mirror", "--images"])
            .arg(&one)
            .arg("--layout")
            .arg(&layout)
            .args(["--plain-http", &host])
            .args([
                "--certificate-identity",
                SIGNER,
                "--certificate-oidc-issuer",
                ISSUER,
            ])
            .arg("--trusted-root")
            .arg(&sigstore.trusted_root)
            .expect(1)
            .run();
        assert!(out.stderr.contains(REFUSAL), "{what} ({image}): {out:?}");
        let stored = layout.join("index.json");
        assert!(
            !stored.exists() || !fs::read_to_string(&stored).unwrap().contains("ref.name"),
            "{what}: stored"
        );
    }

    // `build` with `images.verify` (`require: always`) refuses them, names each, and leaves
    // the output it had.
    let sums = fs::read(lab.out_dir().join("SHA256SUMS")).unwrap();
    let all: Vec<&str> = (lines.iter().map(String::as_str))
        .chain(shape_images.iter().map(|(_, l)| l.as_str()))
        .collect();
    fs::write(&list, all.join("\n") + "\n").unwrap();
    let built = lab
        .seedforge()
        .args(["build", "--config", lab.config_arg()])
        .expect(1)
        .run();
    assert!(built.stderr.contains(REFUSAL), "{}", built.stderr);
    for n in 0..3 {
        let name = format!("shape-{n}");
        assert!(built.stderr.contains(&name), "{name}: {}", built.stderr);
    }
    assert_eq!(fs::read(lab.out_dir().join("SHA256SUMS")).unwrap(), sums);
}
