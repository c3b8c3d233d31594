//! Keyless signatures checked offline: a private Sigstore (`common::keyless`) signs the
//! demo's own images in a real distribution registry, as cosign's classic `.sig` and as
//! Sigstore bundle referrers; a build with `images.verify.identities` and `trusted_root`
//! under `require: always` stores them, and refuses each mutated one by name, as cosign
//! with `--trusted-root` does, and sigstore-python (`verify identity --offline`) on every
//! bundle; `seedforge verify OUT` checks them again on a far-side copy with no network, with
//! the trusted root the output carries.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

mod bench;
mod python;

use common::keyless::{Artifact, Check, ISSUER, PrivateSigstore, SIGNER, Signing, SigstorePython};
use common::registry::Registry;
use common::{Cmd, Lab, list_lines, require_tool};
use std::fs;
use std::path::Path;
use std::time::Duration;

/// The demo lab pulling every one of its images from `registry`, where each is signed
/// keyless (even lines classic `.sig`, odd ones a bundle), with a keyless policy of
/// `require: always` and the private Sigstore's trusted root.
struct KeylessLab {
    registry: Registry,
    sigstore: PrivateSigstore,
    lab: Lab,
    /// (`HOST/REPO@DIGEST`, destination, classic) of every image.
    images: Vec<(String, String, bool)>,
    /// (`HOST/REPO@DIGEST`, the bundle attached) of every image signed with a bundle.
    bundles: Vec<(String, std::path::PathBuf)>,
}

fn keyless_lab() -> Option<KeylessLab> {
    if !require_tool("docker-registry") || !require_tool("skopeo") {
        return None;
    }
    let sigstore = PrivateSigstore::new()?;
    let registry = Registry::start_plain();
    let lab = Lab::new();
    let dir = lab.lab_dir();
    let host = registry.host();
    let mut images = Vec::new();
    let mut bundles = Vec::new();
    let mut lines = Vec::new();
    for (i, (_, fields)) in list_lines(&dir.join("images.txt")).into_iter().enumerate() {
        let (source, destination) = (&fields[0], &fields[1]);
        let repo_tag = destination.trim_start_matches("docker.io/");
        Cmd::new("skopeo")
            .args(["copy", "--quiet", "--all", "--dest-tls-verify=false"])
            .arg(source)
            .arg(format!("docker://{host}/{repo_tag}"))
            .cwd(&dir)
            .timeout(Duration::from_secs(120))
            .run();
        let digest = common::registry::skopeo_raw_digest(&registry, repo_tag);
        let repo = repo_tag.rsplit_once(':').unwrap().0;
        let image = format!("{host}/{repo}@{digest}");
        let classic = i % 2 == 0;
        if classic {
            sigstore.sign_classic(&image, &Signing::default());
        } else {
            bundles.push((
                image.clone(),
                sigstore.sign_bundle(&image, &Signing::default()),
            ));
        }
        lines.push(format!("docker://{host}/{repo_tag} {destination}"));
        images.push((image, destination.clone(), classic));
    }
    fs::write(dir.join("images.txt"), lines.join("\n") + "\n").unwrap();
    fs::copy(&sigstore.trusted_root, dir.join("trusted_root.json")).unwrap();
    let config = dir.join("seedforge.yaml");
    let text = fs::read_to_string(&config).unwrap();
    let with_policy = text
        .replace(
            "\nimages:\n",
            &format!("\nregistries:\n  - host: \"{host}\"\n    insecure: true\n\nimages:\n"),
        )
        .replace(
            "\n  concurrency: 4\n",
            &format!(
                "\n  concurrency: 4\n  verify:\n    identities:\n      - issuer: {ISSUER}\n        subject: {SIGNER}\n    trusted_root: trusted_root.json\n    require: always\n"
            ),
        );
    fs::write(&config, with_policy).unwrap();
    Some(KeylessLab {
        registry,
        sigstore,
        lab,
        images,
        bundles,
    })
}

/// cosign's word on each image, under `unshare -n` with nothing but loopback: a registry
/// started inside the namespace on the same storage (the same config: the port is free
/// there), then `cosign verify --trusted-root` of each image, two at a time. Returns each
/// exit code in the order of `images`, or None where no network namespace can be made.
fn cosign_offline(
    sigstore: &PrivateSigstore,
    registry: &Registry,
    images: &[&str],
    trusted_root: &Path,
) -> Option<Vec<i32>> {
    let isolated = common::network_namespace_usable();
    if !isolated || !require_tool("ip") {
        eprintln!("note: no network namespace here; cosign's offline run is skipped");
        return None;
    }
    let config = registry.dir.path().join("config.yml");
    let host = registry.host();
    let port = registry.port();
    let mut script = format!(
        "set -u\npids=\nip link set lo up\ndocker-registry serve {} >/dev/null 2>&1 &\nreg=$!\nfor _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/{port}) 2>/dev/null && break; sleep 0.1; done\n",
        config.display()
    );
    // Two at a time: the machine's two processors, as the tests run.
    for (i, image) in images.iter().enumerate() {
        assert!(image.starts_with(&host));
        script.push_str(&format!(
            "(HOME={home} TUF_ROOT={home}/tuf {cosign} verify --trusted-root {root} --certificate-identity {SIGNER} --certificate-oidc-issuer {ISSUER} --allow-http-registry --allow-insecure-registry {image} >/dev/null 2>&1; echo \"rc={i}=$?\") &\npids=\"$pids $!\"\n",
            home = sigstore.dir.path().join("home").display(),
            cosign = sigstore.cosign.display(),
            root = trusted_root.display(),
        ));
        if i % 2 == 1 || i + 1 == images.len() {
            script.push_str("wait $pids\npids=\n");
        }
    }
    script.push_str("kill $reg\nwait $reg 2>/dev/null\nexit 0\n");
    let out = Cmd::new("unshare")
        .args(["-n", "bash", "-c", &script])
        .timeout(Duration::from_secs(600))
        .run();
    let mut codes: Vec<(usize, i32)> = (out.stdout.lines())
        .filter_map(|l| l.strip_prefix("rc=")?.split_once('='))
        .map(|(i, c)| (i.parse().unwrap(), c.trim().parse().unwrap()))
        .collect();
    codes.sort_unstable();
    Some(codes.into_iter().map(|(_, c)| c).collect())
}

#[test]
fn a_keyless_policy_stores_images_signed_both_ways_and_verify_checks_them_again_offline() {
    let Some(KeylessLab {
        registry,
        sigstore,
        lab,
        images,
        bundles,
    }) = keyless_lab()
    else {
        return;
    };
    // cosign, offline with the trusted root, accepts every image, both forms: in a network
    // namespace of its own where one can be made, else with the host's network.
    let all: Vec<&str> = images.iter().map(|i| i.0.as_str()).collect();
    let codes =
        cosign_offline(&sigstore, &registry, &all, &sigstore.trusted_root).unwrap_or_else(|| {
            let verdicts = all.iter().map(|image| sigstore.verify(image));
            verdicts.map(|judged| judged.code.unwrap_or(-1)).collect()
        });
    assert_eq!(codes, vec![0; all.len()], "cosign: {all:?}");
    // sigstore-python, offline with the same trusted root, accepts every bundle: its
    // statement names the image's digest.
    assert!(!bundles.is_empty());
    if let Some(judge) = SigstorePython::new() {
        let config = judge.trust_config(&sigstore.trusted_root);
        let checks: Vec<Check> = (bundles.iter())
            .map(|(image, bundle)| Check {
                config: &config,
                bundle,
                subject: SIGNER,
                issuer: ISSUER,
                artifact: Artifact::Digest(image.split_once('@').unwrap().1),
            })
            .collect();
        for ((image, _), out) in bundles.iter().zip(judge.verify_all(&checks)) {
            assert_eq!(out.code, Some(0), "{image}: {out:?}");
        }
    }
    let built = lab
        .seedforge()
        .args(["--json", "build", "--config", lab.config_arg()])
        .run();
    let out = lab.out_dir();
    // Every image stored, each with its signature carried.
    let manifest: serde_json::Value =
        serde_json::from_slice(&fs::read(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(
        manifest["images"].as_array().unwrap().len(),
        images.len(),
        "{built:?}"
    );
    let keyless = &manifest["image_keyless"];
    let root_path = keyless["trusted_root"].as_str().unwrap().to_string();
    assert!(root_path.starts_with("keys/images/"), "{keyless}");
    assert_eq!(
        fs::read(out.join(&root_path)).unwrap(),
        fs::read(&sigstore.trusted_root).unwrap()
    );
    assert_eq!(keyless["identities"][0]["subject"], SIGNER, "{keyless}");
    // Sealed, and a subject of the provenance.
    let sums = fs::read_to_string(out.join("SHA256SUMS")).unwrap();
    assert!(sums.contains(&format!("  {root_path}\n")), "{sums}");
    let provenance = fs::read_to_string(out.join("sbom/provenance.json")).unwrap();
    assert!(provenance.contains(&root_path), "{provenance}");

    // The lock pins, per image, the digest verified and the identity that verified it.
    let lock: serde_json::Value =
        serde_json::from_slice(&fs::read(lab.lab_dir().join("seedforge.lock")).unwrap()).unwrap();
    let pinned = lock["verified"].as_object().unwrap();
    assert_eq!(pinned.len(), images.len(), "{lock:#}");
    for pin in pinned.values() {
        assert_eq!(
            pin["keys"],
            serde_json::json!([format!("{SIGNER} (issuer {ISSUER})")]),
            "{lock:#}"
        );
    }
    // An offline rebuild (the far side's) checks the carried keyless signatures again and
    // gives the same seal.
    let sums_before = fs::read(out.join("SHA256SUMS")).unwrap();
    lab.seedforge()
        .args([
            "build",
            "--offline",
            "--locked",
            "--config",
            lab.config_arg(),
        ])
        .run();
    assert_eq!(fs::read(out.join("SHA256SUMS")).unwrap(), sums_before);

    // The far side: a copy, no network, the registry gone.
    drop(registry);
    let far = tempfile::tempdir().unwrap();
    let copy = far.path().join("out");
    Cmd::new("cp").arg("-a").arg(&out).arg(&copy).run();
    let verified = common::far_side(far.path()).arg("verify").arg(&copy).run();
    assert!(
        verified.stdout.contains(&format!(
            "{} image(s) with a signature verifying",
            images.len()
        )),
        "{verified:?}"
    );
    assert!(verified.stdout.contains(SIGNER), "{verified:?}");
    let json = common::far_side(far.path())
        .args(["--json", "verify"])
        .arg(&copy)
        .run()
        .json();
    let signed_by = json["signatures"]["identities"].to_string();
    for (_, destination, _) in &images {
        assert!(signed_by.contains(destination.as_str()), "{json:#}");
    }

    // One changed byte of the trusted root (SHA256SUMS made to agree): refused.
    let root_file = copy.join(&root_path);
    let bytes = fs::read(&root_file).unwrap();
    let at = String::from_utf8_lossy(&bytes)
        .find("rawBytes\":\"")
        .unwrap()
        + 20;
    common::flip_byte(&root_file, at);
    agree_sums(&copy, &root_path);
    let failed = common::far_side(far.path())
        .arg("verify")
        .arg(&copy)
        .any_status()
        .run();
    assert_eq!(failed.code, Some(1), "{failed:?}");
    fs::write(&root_file, &bytes).unwrap();
    agree_sums(&copy, &root_path);
    common::far_side(far.path()).arg("verify").arg(&copy).run();

    // One changed byte of a stored certificate or SET (a classic signature's layer
    // annotations, or a bundle's JSON): refused.
    for needles in [
        ["dev.sigstore.cosign/certificate", "\"rawBytes\""],
        ["dev.sigstore.cosign/bundle", "\"signedEntryTimestamp\""],
    ] {
        let (victim, needle) = needles
            .iter()
            .find_map(|n| blob_holding(&copy.join("oci"), n).map(|v| (v, *n)))
            .unwrap_or_else(|| panic!("no blob holds {needles:?}"));
        let bytes = fs::read(&victim).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        let at = text.find(needle).unwrap() + needle.len() + 40;
        common::flip_byte(&victim, at);
        let failed = common::far_side(far.path())
            .arg("verify")
            .arg(&copy)
            .any_status()
            .run();
        assert_eq!(failed.code, Some(1), "{needle}: {failed:?}");
        fs::write(&victim, &bytes).unwrap();
    }
}

/// A blob of `layout` (a signature manifest or a bundle) whose text holds `needle`.
fn blob_holding(layout: &Path, needle: &str) -> Option<std::path::PathBuf> {
    fs::read_dir(layout.join("blobs/sha256"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            fs::metadata(p).unwrap().len() < 1 << 20
                && fs::read(p)
                    .map(|b| String::from_utf8_lossy(&b).contains(needle))
                    .unwrap_or(false)
        })
}

/// SHA256SUMS of `out` made to agree with `rel`'s bytes, as whoever swaps a medium would.
fn agree_sums(out: &Path, rel: &str) {
    let sha = common::sha256_bytes(&fs::read(out.join(rel)).unwrap());
    let path = out.join("SHA256SUMS");
    let sums: String = fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(|l| {
            let (_, p) = l.split_once("  ").unwrap();
            if p == rel {
                format!("{sha}  {p}\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    fs::write(path, sums).unwrap();
}

/// The mutations of one signature, each in both forms where the form has the part: how it
/// is made, and the words seedforge's refusal must hold.
fn mutations() -> Vec<(&'static str, Signing, bool)> {
    let other_digest = format!("sha256:{}", "5".repeat(64));
    let m = |mutate: &'static str| Signing {
        mutate: Some(mutate),
        ..Signing::default()
    };
    vec![
        (
            "identity",
            Signing {
                signer: Some("mallory@seedforge.test".into()),
                ..Signing::default()
            },
            true,
        ),
        (
            "issuer",
            Signing {
                issuer: Some("https://other.seedforge.test".into()),
                ..Signing::default()
            },
            true,
        ),
        ("set", m("set"), true),
        ("proof", m("proof"), false),
        ("checkpoint", m("checkpoint"), false),
        ("sct", m("sct"), true),
        ("no-sct", m("no-sct"), true),
        ("chain", m("chain"), true),
        ("entry", m("entry"), true),
        // The certificate path, from the trusted root alone (keyless.py's path cases).
        ("expired-ca", m("expired-ca"), true),
        ("not-ca", m("not-ca"), true),
        ("no-certsign", m("no-certsign"), true),
        ("pathlen0", m("pathlen0"), true),
        ("carried-sub", m("carried-sub"), true),
        ("cut", m("cut"), true),
        ("issuers", m("issuers"), true),
        (
            "digest",
            Signing {
                payload_digest: Some(other_digest),
                ..Signing::default()
            },
            true,
        ),
    ]
}

/// Words of seedforge's refusal of each mutation: the check that caught it.
fn expected(name: &str) -> &'static [&'static str] {
    match name {
        "identity" => &["signed by mallory@seedforge.test"],
        "issuer" => &["(issuer https://other.seedforge.test), which is none of"],
        "set" => &["SET verification failed"],
        "proof" => &["inclusion proof verification failed"],
        "checkpoint" => &["invalid checkpoint"],
        "sct" => &["SCT signature verification failed"],
        "no-sct" => &["missing SCT"],
        "chain" => &[
            "carried by the signature is not in the trusted root",
            "is no certificate authority of the trusted root",
        ],
        "entry" => &["log entry", "Rekor entry"],
        "expired-ca" => &["intermediate CN=expired-inter is not valid at"],
        "not-ca" => &["intermediate CN=not-ca-inter is not a CA (basicConstraints CA:false)"],
        "no-certsign" => &["intermediate CN=no-certsign-inter may not sign certificates"],
        "pathlen0" => &["intermediate CN=fulcio-intermediate allows 0 intermediate(s) below it"],
        // The classic form carries the sub-CA; a v0.3 bundle carries nothing.
        "carried-sub" => &[
            "certificate CN=open-sub carried by the signature is not in the trusted root",
            "the signing certificate's issuer CN=open-sub is no certificate authority",
        ],
        "cut" => &[
            "certificate CN=cut-inter carried by the signature is not in the trusted root",
            "the signing certificate's issuer CN=cut-inter is no certificate authority",
        ],
        "issuers" => &["issuer extensions disagree"],
        // The classic payload names the other digest; the bundle's statement does.
        "digest" => &[
            "is for sha256:5555",
            "artifact hash does not match any subject",
        ],
        other => panic!("no expectation for {other}"),
    }
}

/// Words of sigstore-python's refusal of each mutated bundle.
fn sigstore_python_says(name: &str) -> &'static str {
    match name {
        "identity" => "SANs do not match",
        "issuer" => "OIDCIssuer does not match",
        "set" => "invalid inclusion promise",
        "proof" => "inclusion proof contains invalid root hash",
        "checkpoint" => "checkpoint: invalid signature",
        "sct" => "SCT verify failed",
        "no-sct" => "does not contain a signed certificate timestamp",
        "chain" => "certificate chain",
        "entry" => "log entry signatures do not match bundle",
        "digest" => "in-toto statement has no subject for digest",
        "expired-ca" => "cert is not valid at validation time",
        "not-ca" => "basicConstraints.cA must be asserted in a CA certificate",
        "no-certsign" => "keyUsage.keyCertSign must be asserted in a CA certificate",
        "carried-sub" | "cut" => "all candidates exhausted",
        "issuers" => "OIDCIssuer does not match (got 'https://other.seedforge.test'",
        // sigstore-python 4.5.1 passes a sub-CA the root lists under a pathlen:0
        // intermediate (it trusts every certificate of a certChain as an anchor), where
        // cosign and seedforge refuse it.
        "pathlen0" => "",
        other => panic!("no expectation for {other}"),
    }
}

#[test]
fn each_mutated_keyless_signature_is_refused_by_name_by_seedforge_and_by_cosign() {
    let Some(KeylessLab {
        registry,
        sigstore,
        lab,
        ..
    }) = keyless_lab()
    else {
        return;
    };
    lab.build();
    let host = registry.host();
    let dir = lab.lab_dir();
    let list = fs::read_to_string(dir.join("images.txt")).unwrap();
    let mut cases = Vec::new();
    for (name, how, classic_too) in mutations() {
        for classic in [true, false] {
            if classic && !classic_too {
                continue;
            }
            let form = if classic { "classic" } else { "bundle" };
            let repo_tag = format!("mutant/{name}-{form}:v1");
            Cmd::new("skopeo")
                .args(["copy", "--quiet", "--dest-tls-verify=false"])
                .arg("oci:../images/oci:klipper-lb:v0.4.13")
                .arg(format!("docker://{host}/{repo_tag}"))
                .cwd(&dir)
                .timeout(Duration::from_secs(120))
                .run();
            let digest = common::registry::skopeo_raw_digest(&registry, &repo_tag);
            let image = format!("{host}/mutant/{name}-{form}@{digest}");
            let bundle = if classic {
                sigstore.sign_classic(&image, &how);
                None
            } else {
                Some(sigstore.sign_bundle(&image, &how))
            };
            cases.push((name, form, repo_tag, image, bundle));
        }
    }
    // cosign refuses each, but for one: a leaf whose issuer extensions disagree passes
    // cosign 3.1.1 in the bundle form (sigstore-go reads the issuer from .1.8 alone) and is
    // refused by it in the classic form. seedforge refuses both: Fulcio writes one value
    // into both, and two values are a forgery or a bug. cosign judges offline, in a network
    // namespace of its own, where one can be made; else with the host's network.
    let images: Vec<&str> = cases.iter().map(|c| c.3.as_str()).collect();
    let codes = cosign_offline(&sigstore, &registry, &images, &sigstore.trusted_root)
        .unwrap_or_else(|| {
            let verdicts = images.iter().map(|image| sigstore.verify(image));
            verdicts.map(|judged| judged.code.unwrap_or(-1)).collect()
        });
    assert_eq!(codes.len(), cases.len(), "{codes:?}");
    for ((name, form, ..), code) in cases.iter().zip(&codes) {
        let passes = (*name, *form) == ("issuers", "bundle");
        assert_eq!(*code == 0, passes, "{name} {form}: cosign: exit {code}");
    }
    for (name, form, repo_tag, ..) in &cases {
        // seedforge refuses it, by name, and stores nothing of it.
        let source = format!("docker://{host}/{repo_tag}");
        fs::write(
            dir.join("images.txt"),
            format!("{list}{source} docker.io/{repo_tag}\n"),
        )
        .unwrap();
        let refused = lab
            .seedforge()
            .args(["build", "--config", lab.config_arg()])
            .any_status()
            .run();
        assert_eq!(refused.code, Some(1), "{name} {form}: {refused:?}");
        assert!(
            expected(name).iter().any(|e| refused.stderr.contains(e)),
            "{name} {form}: {}",
            refused.stderr
        );
        assert!(
            refused.stderr.contains(&source) || refused.stderr.contains(repo_tag.as_str()),
            "{name} {form}: {}",
            refused.stderr
        );
        let index = fs::read_to_string(lab.out_layout().join("index.json")).unwrap();
        assert!(!index.contains("mutant/"), "{name} {form}: stored");
    }
    fs::write(dir.join("images.txt"), &list).unwrap();
    // `seedforge mirror` with cosign's flags gives the build's verdict on each, by name.
    for (name, form, repo_tag, ..) in &cases {
        let one = lab.root().join(format!("mutant-{name}-{form}.txt"));
        fs::write(
            &one,
            format!("docker://{host}/{repo_tag} docker.io/{repo_tag}\n"),
        )
        .unwrap();
        let refused = Cmd::seedforge()
            .args(["mirror", "--images"])
            .arg(&one)
            .arg("--layout")
            .arg(lab.root().join(format!("mutant-{name}-{form}")))
            .args(["--plain-http", &host])
            .args(["--certificate-identity", SIGNER])
            .args(["--certificate-oidc-issuer", ISSUER])
            .arg("--trusted-root")
            .arg(&sigstore.trusted_root)
            .expect(1)
            .run();
        assert!(
            expected(name).iter().any(|e| refused.stderr.contains(e)),
            "mirror, {name} {form}: {}",
            refused.stderr
        );
    }
    // sigstore-python, offline with the same trusted root, refuses every mutated bundle
    // but one (see `sigstore_python_says`), each for its own reason (its words). The classic `.sig` mutants are not its to judge:
    // that form has no bundle, and sigstore-python verifies detached material (a signature
    // and certificate) only by fetching the log entry online.
    if let Some(judge) = SigstorePython::new() {
        let config = judge.trust_config(&sigstore.trusted_root);
        let bundles: Vec<(&str, &Path, &str)> = (cases.iter())
            .filter_map(|(name, _, _, image, bundle)| {
                let digest = image.split_once('@').unwrap().1;
                Some((*name, bundle.as_deref()?, digest))
            })
            .collect();
        let checks: Vec<Check> = (bundles.iter())
            .map(|(_, bundle, digest)| Check {
                config: &config,
                bundle,
                subject: SIGNER,
                issuer: ISSUER,
                artifact: Artifact::Digest(digest),
            })
            .collect();
        let outs = judge.verify_all(&checks);
        for ((name, ..), out) in bundles.iter().zip(outs) {
            let said = sigstore_python_says(name);
            if said.is_empty() {
                assert_eq!(out.code, Some(0), "{name}: sigstore-python: {out:?}");
                continue;
            }
            assert_eq!(out.code, Some(1), "{name}: sigstore-python: {out:?}");
            assert!(
                out.stderr.contains(said),
                "{name}: not {said:?}: {}",
                out.stderr
            );
        }
    }
}

/// go-containerregistry's empty image, which cosign's own test attestation is about.
const EMPTY_IMAGE: &str = "sha256:732112270d7e59418a8c080b134b24cabd67d250d0d0147a97ed95ba5c280aa4";

/// cosign's test data from Debian sid's golang-github-sigstore-cosign-v3-dev, as
/// scripts/test.sh unpacks it; None (failing under `CI=true`) without it.
fn cosign_testdata() -> Option<std::path::PathBuf> {
    let dir = common::repo_root().join(
        "target/sid-cosign-src/root/usr/share/gocode/src/github.com/sigstore/cosign/v3/pkg/cosign/testdata",
    );
    if dir.join("oci-attestation.sigstore.json").is_file() {
        return Some(dir);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{} is missing (scripts/test.sh fetches it)",
        dir.display()
    );
    eprintln!("SKIP: no {} (scripts/test.sh fetches it)", dir.display());
    None
}

/// Rebuilds go-containerregistry's empty image byte for byte (its config, and a docker
/// schema 2 manifest with no layers) and pushes it to `registry` as `repo:latest` with
/// curl; returns its digest, which must be [`EMPTY_IMAGE`].
fn push_empty_image(registry: &Registry, repo: &str) -> String {
    let config = br#"{"architecture":"","created":"0001-01-01T00:00:00Z","os":"","rootfs":{"type":"layers","diff_ids":null},"config":{}}"#;
    let config_digest = format!("sha256:{}", common::sha256_bytes(config));
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{{"mediaType":"application/vnd.docker.container.image.v1+json","size":{},"digest":"{config_digest}"}},"layers":[]}}"#,
        config.len()
    );
    let digest = format!("sha256:{}", common::sha256_bytes(manifest.as_bytes()));
    let work = tempfile::tempdir().unwrap();
    fs::write(work.path().join("config.json"), config).unwrap();
    fs::write(work.path().join("manifest.json"), &manifest).unwrap();
    let base = format!("http://{}/v2/{repo}", registry.host());
    let started = Cmd::new("curl")
        .args(["-sS", "-D", "-", "-o", "/dev/null", "-X", "POST"])
        .arg(format!("{base}/blobs/uploads/"))
        .timeout(Duration::from_secs(30))
        .run();
    let location = started
        .stdout
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("location")
                .then(|| v.trim().to_string())
        })
        .unwrap();
    let upload = if location.starts_with("http") {
        location
    } else {
        format!("http://{}{location}", registry.host())
    };
    let sep = if upload.contains('?') { '&' } else { '?' };
    Cmd::new("curl")
        .args([
            "-sSf",
            "-X",
            "PUT",
            "-H",
            "Content-Type: application/octet-stream",
        ])
        .arg("--data-binary")
        .arg(format!("@{}", work.path().join("config.json").display()))
        .arg(format!("{upload}{sep}digest={config_digest}"))
        .timeout(Duration::from_secs(30))
        .run();
    Cmd::new("curl")
        .args([
            "-sSf",
            "-X",
            "PUT",
            "-H",
            "Content-Type: application/vnd.docker.distribution.manifest.v2+json",
        ])
        .arg("--data-binary")
        .arg(format!("@{}", work.path().join("manifest.json").display()))
        .arg(format!("{base}/manifests/latest"))
        .timeout(Duration::from_secs(30))
        .run();
    digest
}

/// One trusted root holding both: the private Sigstore's and another's (each list joined).
fn merged_roots(a: &Path, b: &Path) -> String {
    let mut a: serde_json::Value = serde_json::from_slice(&fs::read(a).unwrap()).unwrap();
    let b: serde_json::Value = serde_json::from_slice(&fs::read(b).unwrap()).unwrap();
    for list in [
        "certificateAuthorities",
        "tlogs",
        "ctlogs",
        "timestampAuthorities",
    ] {
        let mut joined = a[list].as_array().cloned().unwrap_or_default();
        joined.extend(b[list].as_array().cloned().unwrap_or_default());
        a[list] = serde_json::Value::Array(joined);
    }
    serde_json::to_string_pretty(&a).unwrap()
}

/// cosign's own keyless attestation on the empty image (a real Fulcio certificate and Rekor
/// entry of 2024, Debian sid's cosign test data), on the image rebuilt byte-exact in the
/// local registry beside the demo's images: cosign verify-attestation accepts it offline
/// with its trusted root, and a build with its signer among the identities and
/// `require: always` pulls, checks and stores it; another signer is refused.
#[test]
fn cosigns_own_attestation_on_the_empty_image_passes_a_keyless_build_end_to_end() {
    let Some(testdata) = cosign_testdata() else {
        return;
    };
    if !require_tool("curl") {
        return;
    }
    let Some(KeylessLab {
        registry,
        sigstore,
        lab,
        images,
        ..
    }) = keyless_lab()
    else {
        return;
    };
    let digest = push_empty_image(&registry, "library/empty");
    assert_eq!(digest, EMPTY_IMAGE);
    let image = format!("{}/library/empty@{digest}", registry.host());
    sigstore.attach_bundle(&image, &testdata.join("oci-attestation.sigstore.json"));
    let dir = lab.lab_dir();
    fs::write(
        dir.join("trusted_root.json"),
        merged_roots(
            &sigstore.trusted_root,
            &testdata.join("trusted_root_pgi.json"),
        ),
    )
    .unwrap();
    // cosign, offline, with the merged root.
    let judged = sigstore
        .cosign()
        .args(["verify-attestation", "--trusted-root"])
        .arg(dir.join("trusted_root.json"))
        .args([
            "--certificate-identity",
            "cody@soyland.com",
            "--certificate-oidc-issuer",
            "https://github.com/login/oauth",
            "--type",
            "https://cosign.sigstore.dev/attestation/v1",
        ])
        .args(common::sigstore::REGISTRY_FLAGS)
        .arg(&image)
        .any_status()
        .run();
    assert_eq!(judged.code, Some(0), "{judged:?}");
    let list = fs::read_to_string(dir.join("images.txt")).unwrap();
    fs::write(
        dir.join("images.txt"),
        format!(
            "{list}docker://{}/library/empty:latest docker.io/library/empty:latest\n",
            registry.host()
        ),
    )
    .unwrap();
    // Its signer not among the identities: refused by name.
    let refused = lab
        .seedforge()
        .args(["build", "--config", lab.config_arg()])
        .expect(1)
        .run();
    assert!(
        refused.stderr.contains("library/empty") && refused.stderr.contains("cody@soyland.com"),
        "{}",
        refused.stderr
    );
    let config = dir.join("seedforge.yaml");
    let text = fs::read_to_string(&config).unwrap();
    fs::write(
        &config,
        text.replace(
            "    trusted_root: trusted_root.json\n",
            "      - issuer: https://github.com/login/oauth\n        subject: cody@soyland.com\n    trusted_root: trusted_root.json\n",
        ),
    )
    .unwrap();
    lab.build();
    let out = lab.out_dir();
    let manifest: serde_json::Value =
        serde_json::from_slice(&fs::read(out.join("manifest.json")).unwrap()).unwrap();
    let stored: Vec<&str> = manifest["images"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["digest"].as_str())
        .collect();
    assert!(stored.contains(&EMPTY_IMAGE), "{manifest:#}");
    assert_eq!(stored.len(), images.len() + 1);
    // The far side checks it again and names its signer.
    drop(registry);
    let verified = common::far_side(lab.root()).arg("verify").arg(&out).run();
    assert!(
        verified
            .stdout
            .contains("cody@soyland.com (issuer https://github.com/login/oauth)"),
        "{verified:?}"
    );
}

/// A keyless policy whose trusted root is missing, does not parse, or whose identity's
/// regular expression does not compile, or identities without a trusted root: refused
/// before anything is built (exit 2), at the line that names it.
#[test]
fn a_keyless_policy_that_cannot_be_used_is_refused_at_its_line() {
    let lab = Lab::new();
    let dir = lab.lab_dir();
    let config = dir.join("seedforge.yaml");
    let text = fs::read_to_string(&config).unwrap();
    let line_of =
        |text: &str, needle: &str| text.lines().position(|l| l.contains(needle)).unwrap() + 1;
    fs::write(dir.join("garbage.json"), "{\"mediaType\": 7").unwrap();
    for (policy, needle, said) in [
        (
            "    identities:\n      - issuer: https://issuer.example\n        subject: dev@example.com\n    require: always\n",
            "- issuer:",
            "trusted_root",
        ),
        (
            "    identities:\n      - issuer: https://issuer.example\n        subject: dev@example.com\n    trusted_root: missing.json\n    require: always\n",
            "trusted_root:",
            "missing.json",
        ),
        (
            "    identities:\n      - issuer: https://issuer.example\n        subject: dev@example.com\n    trusted_root: garbage.json\n    require: always\n",
            "trusted_root:",
            "garbage.json",
        ),
        (
            "    identities:\n      - issuer: https://issuer.example\n        subject_regexp: '(unclosed'\n    trusted_root: garbage.json\n    require: always\n",
            "- issuer:",
            "subject_regexp",
        ),
    ] {
        let with = text.replace(
            "\n  concurrency: 4\n",
            &format!("\n  concurrency: 4\n  verify:\n{policy}"),
        );
        fs::write(&config, &with).unwrap();
        let refused = lab
            .seedforge()
            .args(["build", "--config", lab.config_arg()])
            .expect(2)
            .run();
        let at = format!("seedforge.yaml:{}:", line_of(&with, needle));
        assert!(
            refused.stderr.contains(&at) && refused.stderr.contains(said),
            "{policy}: {}",
            refused.stderr
        );
        assert!(!lab.out_dir().exists(), "{policy}");
    }
}

/// `seedforge mirror` with cosign's flags (`--certificate-identity`,
/// `--certificate-oidc-issuer`, their `-regexp` forms, `--trusted-root`) checks keyless
/// signatures as `images.verify` does: the demo's images signed by the private Sigstore are
/// stored under their signer; under an identity none of them names, each is refused
/// (exit 1) and nothing is stored.
#[test]
fn mirror_checks_keyless_signatures_with_cosigns_flags() {
    let Some(KeylessLab {
        registry,
        sigstore,
        lab,
        images,
        ..
    }) = keyless_lab()
    else {
        return;
    };
    let list = lab.lab_dir().join("images.txt");
    let mirror = |layout: &str, identity: [&str; 4], code: i32| {
        Cmd::seedforge()
            .args(["mirror", "--images"])
            .arg(&list)
            .arg("--layout")
            .arg(lab.root().join(layout))
            .args(["--plain-http", &registry.host()])
            .args(identity)
            .arg("--trusted-root")
            .arg(&sigstore.trusted_root)
            .expect(code)
            .run()
    };
    let stored = |layout: &str| -> Vec<String> {
        let index = lab.root().join(layout).join("index.json");
        if !index.exists() {
            return Vec::new();
        }
        let v: serde_json::Value = serde_json::from_slice(&fs::read(index).unwrap()).unwrap();
        (v["manifests"].as_array().unwrap().iter())
            .filter_map(|m| m["annotations"]["org.opencontainers.image.ref.name"].as_str())
            .map(str::to_string)
            .collect()
    };
    mirror(
        "signed",
        [
            "--certificate-identity",
            SIGNER,
            "--certificate-oidc-issuer",
            ISSUER,
        ],
        0,
    );
    let names = stored("signed");
    for (_, destination, _) in &images {
        assert!(names.contains(destination), "{destination}: {names:?}");
    }
    // RE2's `\Q…\E` (a literal), as cosign's `--certificate-identity-regexp` reads it:
    // cosign passes the image, and so does seedforge.
    let quoted = [
        "--certificate-identity-regexp",
        "^\\Qdev@seedforge.test\\E$",
        "--certificate-oidc-issuer-regexp",
        "^\\Qhttps://issuer.seedforge.test\\E$",
    ];
    let (image, ..) = &images[0];
    let judged = sigstore
        .cosign()
        .arg("verify")
        .arg("--trusted-root")
        .arg(&sigstore.trusted_root)
        .args(quoted)
        .args(common::sigstore::REGISTRY_FLAGS)
        .arg(image)
        .any_status()
        .run();
    assert_eq!(judged.code, Some(0), "cosign: {judged:?}");
    mirror("quoted", quoted, 0);
    let refused = mirror(
        "other",
        [
            "--certificate-identity-regexp",
            "^someone-else@",
            "--certificate-oidc-issuer-regexp",
            "seedforge\\.test",
        ],
        1,
    );
    assert!(
        refused.stderr.contains("someone-else"),
        "{}",
        refused.stderr
    );
    assert_eq!(stored("other"), Vec::<String>::new(), "{}", refused.stderr);
}
