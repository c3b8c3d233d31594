//! A signed output (`--signing-key`, `seal.key`) and builds with an `images.verify`
//! policy: what they record, keep offline and check again.

use super::*;

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
        // The same inputs: the second output keeps the first one's CA, certificate and
        // site, as a rebuild of one output keeps them.
        if dir == "out-b" {
            fs::create_dir_all(lab.root().join(dir)).unwrap();
            common::copy_kept_state(&lab.root().join("out-a"), &lab.root().join(dir));
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
