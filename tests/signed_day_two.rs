//! Day two with a signed medium, as operators run it: the key made by `cosign
//! generate-key-pair` (ECDSA P-256, whose signatures differ each time they are made) and an
//! Ed25519 key; the far side holds the config folder and the public key only, and runs with
//! no network. Each apply gives the near side's output byte for byte, the far side's own
//! `build --offline` reproduces it, `verify --key` and cosign's `verify-blob` pass on it, and
//! a delta that is unsigned or signed by another key is refused. Both ways to sign: the
//! config's `seal:` section, and a release pipeline's `build --signing-key KEY` with no
//! `seal:` in the committed config (the output records the key, and stays signed).
//!
//! Each key type and each way to sign runs once, one with the other: cosign's key named by
//! `seal:` (whose refusals change to an Ed25519 key named by `seal:`, so that pairing is
//! built, carried and applied too), and an Ed25519 key given with `--signing-key`. cosign's
//! key with `--signing-key` crosses five days in `five_days`.

use crate::common::{self, Cmd, Lab};
use std::fs;
use std::path::Path;
use std::time::Duration;

const PASSWORD: &str = "the medium's key password";

/// A key pair in `dir`: cosign's own (`cosign generate-key-pair`: cosign.key, cosign.pub)
/// or an Ed25519 PKCS#8 pair made by openssl. Returns (private, public) file names.
fn key_pair(dir: &Path, cosign: Option<&Path>, name: &str) -> (String, String) {
    match cosign {
        Some(cosign) => {
            let home = dir.join(format!(".home-{name}"));
            common::sigstore::cosign_cmd(cosign, &home)
                .args(["generate-key-pair", "--output-key-prefix", name])
                .env("COSIGN_PASSWORD", PASSWORD)
                .cwd(dir)
                .timeout(Duration::from_secs(60))
                .run();
            (format!("{name}.key"), format!("{name}.pub"))
        }
        None => {
            let key = format!("{name}.key");
            let public = format!("{name}.pub");
            Cmd::new("openssl")
                .args(["genpkey", "-algorithm", "ed25519", "-out", &key])
                .cwd(dir)
                .run();
            Cmd::new("openssl")
                .args(["pkey", "-in", &key, "-pubout", "-out", &public])
                .cwd(dir)
                .run();
            (key, public)
        }
    }
}

fn sums(out: &Path) -> String {
    fs::read_to_string(out.join("SHA256SUMS")).unwrap()
}

/// Adds a node to the lab's config (a change every output file of which is derived or the
/// seal: the delta carries the config, the seal and the provenance's signature).
fn add_node(lab_dir: &Path, name: &str, address: &str) {
    let config = lab_dir.join("seedforge.yaml");
    let text = fs::read_to_string(&config).unwrap().replace(
        "\n  - name: lab-agent2\n",
        &format!(
            "\n  - name: {name}\n    role: agent\n    address: {address}/24\n  - name: lab-agent2\n"
        ),
    );
    fs::write(&config, text).unwrap();
}

/// How the near side signs.
#[derive(Clone, Copy, PartialEq)]
enum Signing {
    /// `seal: {key, public_key}` in the config.
    Config,
    /// `build --signing-key KEY`; the config has no `seal:`.
    Pipeline,
}

fn day_two(cosign_key: bool, signing: Signing) {
    let cosign = common::sigstore::cosign();
    if cosign_key && cosign.is_none() {
        return;
    }
    let lab = Lab::new();
    let lab_dir = lab.lab_dir();
    let (key, public) = key_pair(&lab_dir, cosign.as_deref().filter(|_| cosign_key), "medium");
    let config = lab_dir.join("seedforge.yaml");
    if signing == Signing::Config {
        let mut text = fs::read_to_string(&config).unwrap();
        text.push_str(&format!("\nseal:\n  key: {key}\n  public_key: {public}\n"));
        fs::write(&config, text).unwrap();
    }
    let near = || lab.seedforge().env("COSIGN_PASSWORD", PASSWORD);
    let key_path = lab_dir.join(&key);
    let near_build = || {
        let build = near().args(["build", "--config", lab.config_arg()]);
        match signing {
            Signing::Config => build,
            Signing::Pipeline => build.arg("--signing-key").arg(&key_path),
        }
    };
    near_build().run();
    assert!(lab.out_dir().join("keys/seal.pub").is_file());
    provenance_lists_every_sealed_file(&lab.out_dir());

    // The far side: the config folder and the output, the public key, no private key.
    let far = lab.far_copy("far");
    let far_lab = far.join("fixtures/lab");
    fs::remove_file(far_lab.join(&key)).unwrap();
    let far_out = far_lab.join("out");
    // Its own offline rebuild of the unchanged output keeps every byte, signatures included.
    common::far_side(&far)
        .args([
            "build",
            "--offline",
            "--config",
            "fixtures/lab/seedforge.yaml",
        ])
        .run();
    assert_eq!(sums(&far_out), sums(&lab.out_dir()));

    let public_path = lab_dir.join(&public);
    let mut base_receipt = "receipt-1.json".to_string();
    for (day, (node, address)) in [
        ("lab-agent3", "192.168.6.13"),
        ("lab-agent4", "192.168.6.14"),
    ]
    .into_iter()
    .enumerate()
    {
        common::far_side(&far)
            .args(["receipt", "fixtures/lab/out", "-o"])
            .arg(lab.root().join(&base_receipt))
            .run();
        add_node(&lab_dir, node, address);
        if signing == Signing::Pipeline && day == 0 {
            unsigned_build_refused(&lab);
        }
        near_build().run();
        let delta = format!("delta-{day}");
        // The medium is signed whole with the key that signed the output.
        let made = near().args(["delta", "fixtures/lab/out", "--since"]);
        let made = made.arg(&base_receipt).arg("-o").arg(&delta);
        match signing {
            Signing::Config => made,
            Signing::Pipeline => made.arg("--signing-key").arg(&key_path),
        }
        .run();
        let delta_dir = lab.root().join(&delta);
        // The signature is carried; the far side never signs.
        assert!(
            delta_dir
                .join("out/sbom/provenance.sigstore.json")
                .is_file()
        );
        // verify --key checks a delta and binds every file in it.
        lab.seedforge()
            .args(["verify", "--key"])
            .arg(&public_path)
            .arg(&delta_dir)
            .run();
        // The key given, or (the second time, for a pipeline's medium) the one the
        // output records.
        let mut apply = common::far_side(&far)
            .args(["apply"])
            .arg(&delta_dir)
            .args(["--to", "fixtures/lab/out"]);
        if signing == Signing::Config || day == 0 {
            apply = apply.arg("--key").arg(&public_path);
        }
        let out = apply.run();
        assert!(
            out.stdout.contains("the delta's signature verifies with"),
            "{}",
            out.stdout
        );
        assert_eq!(sums(&far_out), sums(&lab.out_dir()), "day {day}");
        // Every sealed file byte for byte (SHA256SUMS hashes them all; check them there).
        common::far_side(&far)
            .args(["verify", "--key"])
            .arg(&public_path)
            .arg("fixtures/lab/out")
            .run();
        // The far side's own build, with the public key only and no network, again.
        common::far_side(&far)
            .args([
                "build",
                "--offline",
                "--config",
                "fixtures/lab/seedforge.yaml",
            ])
            .run();
        assert_eq!(
            sums(&far_out),
            sums(&lab.out_dir()),
            "day {day}: build --offline"
        );
        base_receipt = format!("receipt-{}.json", day + 2);
    }
    // cosign checks the carried bundle over manifest.json, offline.
    if let Some(cosign) = &cosign {
        common::sigstore::cosign_cmd(cosign, &lab.root().join(".cosign-home"))
            .args(["verify-blob", "--key"])
            .arg(&public_path)
            .arg("--bundle")
            .arg(far_out.join("manifest.json.sigstore.json"))
            .arg("--insecure-ignore-tlog")
            .arg(far_out.join("manifest.json"))
            .timeout(Duration::from_secs(60))
            .run();
    }

    if signing == Signing::Config {
        refusals(&lab, &far, &public_path, &base_receipt);
    }
}

/// The provenance's subjects are every file `SHA256SUMS` lists but the seal's own
/// (`manifest.json` and its signature, the provenance and its signature).
fn provenance_lists_every_sealed_file(out: &Path) {
    let statement: serde_json::Value =
        serde_json::from_slice(&fs::read(out.join("sbom/provenance.json")).unwrap()).unwrap();
    let subjects: std::collections::BTreeSet<String> = statement["subject"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect();
    let own = [
        "manifest.json",
        "manifest.json.sigstore.json",
        "sbom/provenance.json",
        "sbom/provenance.sigstore.json",
    ];
    for line in sums(out).lines() {
        let path = line.split_once("  ").unwrap().1;
        if !own.contains(&path) {
            assert!(subjects.contains(path), "{path} is not a subject");
        }
    }
}

/// A build of a signed output whose config changed, without the private key: refused
/// before any step (exit 2), naming the key and the way to stop signing; the output as it
/// was.
fn unsigned_build_refused(lab: &Lab) {
    let before = common::snapshot(&lab.out_dir());
    let refused = lab
        .seedforge()
        .args(["build", "--config", lab.config_arg()])
        .expect(2)
        .run();
    for said in ["--signing-key", "seedforge.yaml", "keys/seal.pub", "key id"] {
        assert!(refused.stderr.contains(said), "{said}: {}", refused.stderr);
    }
    common::assert_same_tree(
        &before,
        &common::snapshot(&lab.out_dir()),
        "a refused unsigned build",
    );
}

/// An unsigned delta, a delta signed by another key, and a wrong `--key`: each refused with
/// exit 1 naming the key ids, the far side's output as it was; said explicitly, the other
/// key is taken.
fn refusals(lab: &Lab, far: &Path, public: &Path, receipt: &str) {
    let far_out = far.join("fixtures/lab/out");
    common::far_side(far)
        .args(["receipt", "fixtures/lab/out", "-o"])
        .arg(lab.root().join(receipt))
        .run();
    let before = sums(&far_out);
    let lab_dir = lab.lab_dir();
    let config = lab_dir.join("seedforge.yaml");
    let signed_config = fs::read_to_string(&config).unwrap();
    let near = || lab.seedforge().env("COSIGN_PASSWORD", PASSWORD);

    // Unsigned: the near side's config drops `seal:`. The output records its key, so the
    // build refuses to unsign it until that record is removed on purpose.
    let unsigned = signed_config[..signed_config.find("\nseal:\n").unwrap()].to_string() + "\n";
    fs::write(&config, &unsigned).unwrap();
    let refused = near()
        .args(["build", "--config", lab.config_arg()])
        .expect(2)
        .run();
    assert!(
        refused.stderr.contains("keys/seal.pub"),
        "{}",
        refused.stderr
    );
    fs::remove_file(lab.out_dir().join("keys/seal.pub")).unwrap();
    near().args(["build", "--config", lab.config_arg()]).run();
    // The receipt says the far side is signed: refused before it crosses, unless said.
    let refused = lab.delta(receipt, "delta-unsigned").expect(2).run();
    assert!(
        refused.stderr.contains("--allow-unsigned"),
        "{}",
        refused.stderr
    );
    lab.delta(receipt, "delta-unsigned")
        .arg("--allow-unsigned")
        .run();
    let refused = common::far_side(far)
        .arg("apply")
        .arg(lab.root().join("delta-unsigned"))
        .args(["--to", "fixtures/lab/out"])
        .expect(1)
        .run();
    assert!(refused.stderr.contains("not signed"), "{}", refused.stderr);
    assert!(refused.stderr.contains("key id"), "{}", refused.stderr);
    assert_eq!(sums(&far_out), before);

    // Another key.
    let (other_key, other_pub) = key_pair(&lab_dir, None, "other");
    let other = signed_config.replace("key: medium.key", &format!("key: {other_key}"));
    let other = other.replace(
        "public_key: medium.pub",
        &format!("public_key: {other_pub}"),
    );
    fs::write(&config, &other).unwrap();
    near().args(["build", "--config", lab.config_arg()]).run();
    lab.delta(receipt, "delta-other").run();
    let other_id = hint(&lab_dir.join(&other_pub));
    let ours = hint(public);
    for with_key in [false, true] {
        let mut apply = common::far_side(far)
            .arg("apply")
            .arg(lab.root().join("delta-other"))
            .args(["--to", "fixtures/lab/out"]);
        if with_key {
            apply = apply.arg("--key").arg(public);
        }
        let refused = apply.expect(1).run();
        for id in [&other_id, &ours] {
            assert!(
                refused.stderr.contains(id.as_str()),
                "{id}: {}",
                refused.stderr
            );
        }
        assert_eq!(sums(&far_out), before);
    }
    // The new key given and the change said: taken, and the far side keeps working. The
    // new public key is carried by hand, as the config names it (seal.public_key).
    let other_path = far.join("fixtures/lab").join(&other_pub);
    fs::copy(lab_dir.join(&other_pub), &other_path).unwrap();
    let refused = common::far_side(far)
        .arg("apply")
        .arg(lab.root().join("delta-other"))
        .args(["--to", "fixtures/lab/out", "--key"])
        .arg(&other_path)
        .expect(1)
        .run();
    assert!(
        refused.stderr.contains("--allow-new-key"),
        "{}",
        refused.stderr
    );
    common::far_side(far)
        .arg("apply")
        .arg(lab.root().join("delta-other"))
        .args(["--to", "fixtures/lab/out", "--allow-new-key", "--key"])
        .arg(&other_path)
        .run();
    assert_eq!(sums(&far_out), sums(&lab.out_dir()));
    common::far_side(far)
        .args([
            "build",
            "--offline",
            "--config",
            "fixtures/lab/seedforge.yaml",
        ])
        .run();
    assert_eq!(sums(&far_out), sums(&lab.out_dir()));
}

/// The key id of a public key, as cosign writes it into a bundle's `publicKey.hint`: the
/// base64 of the SHA-256 of its DER SubjectPublicKeyInfo, computed by openssl.
fn hint(public: &Path) -> String {
    let out = Cmd::new("sh")
        .arg("-c")
        .arg("openssl pkey -pubin -outform DER -in \"$1\" | openssl dgst -sha256 -binary | base64 -w0")
        .arg("sh")
        .arg(public)
        .run();
    out.stdout.trim().to_string()
}

#[test]
fn a_medium_signed_with_a_cosign_key_crosses_twice_and_the_far_side_holds_the_public_key_only() {
    day_two(true, Signing::Config);
}

#[test]
fn a_pipelines_medium_signed_with_signing_key_and_an_ed25519_key_crosses_twice() {
    day_two(false, Signing::Pipeline);
}
