//! `seedforge verify [--key] EXPORT` of the export folder (`export_dir:`) of a signed build
//! with an `images.verify` policy: the pause image comes from a real distribution registry,
//! signed there by cosign 3 with a key cosign made; the medium is signed with an Ed25519
//! PKCS#8 key made by openssl. The folder holds ISOs and the signed `manifest.json`, never
//! the layout or the policy's recorded keys, so it is checked by the signature over the
//! ISOs alone: whole ISOs and ISOs in parts pass, with and without `--key`, and one flipped
//! byte fails (exit 1), with `--json` a whole document that carries the error.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use common::registry::{Registry, fixture_layout, skopeo_push, skopeo_raw_digest};
use common::{Cmd, Lab, Output, XorShift, flip_byte, require_tool, sha256_bytes};
use std::fs;
use std::path::Path;

const PASSWORD: &str = "a test key's password";

/// The lab pulling its pause image from `registry` under an `images.verify` policy with
/// the cosign key in `keys`, sealed with an Ed25519 key (`seal.pem`; its public half is
/// returned), with 3 MiB of noise in every seed and `export_dir: export`.
fn signed_lab_with_policy(registry: &Registry, keys: &Path) -> (Lab, std::path::PathBuf) {
    let lab = Lab::new();
    lab.pull_pause_from(&registry.host());
    let dir = lab.lab_dir();
    fs::copy(keys.join("cosign.pub"), dir.join("cosign.pub")).unwrap();
    Cmd::new("openssl")
        .args(["genpkey", "-algorithm", "ed25519", "-out"])
        .arg(dir.join("seal.pem"))
        .run();
    let public = lab.root().join("seal.pub");
    Cmd::new("openssl")
        .args(["pkey", "-pubout", "-in"])
        .arg(dir.join("seal.pem"))
        .arg("-out")
        .arg(&public)
        .run();
    let mut noise = vec![0u8; 3 << 20];
    XorShift::new(52).fill(&mut noise);
    fs::write(dir.join("noise.bin"), &noise).unwrap();
    let config = dir.join("seedforge.yaml");
    let text = fs::read_to_string(&config).unwrap();
    let mut with_policy = text.replace(
        "\n  concurrency: 4\n",
        "\n  concurrency: 4\n  verify:\n    keys: [cosign.pub]\n    require: if-present\n",
    );
    assert_ne!(with_policy, text);
    with_policy.push_str(&format!(
        "\nfiles:\n  - name: noise.bin\n    source: noise.bin\n    sha256: \"{}\"\nseal:\n  key: seal.pem\nexport_dir: export\n",
        sha256_bytes(&noise)
    ));
    fs::write(&config, with_policy).unwrap();
    (lab, public)
}

/// `seedforge [--json] verify [--key KEY] DIR`, expecting `code`.
fn verify(lab: &Lab, json: bool, key: Option<&Path>, dir: &Path, code: i32) -> Output {
    let mut cmd = lab.seedforge();
    if json {
        cmd = cmd.arg("--json");
    }
    cmd = cmd.arg("verify");
    if let Some(key) = key {
        cmd = cmd.arg("--key").arg(key);
    }
    cmd.arg(dir).expect(code).run()
}

#[test]
fn an_export_folder_of_a_build_with_an_image_policy_verifies_and_fails_on_one_flipped_byte() {
    for tool in ["docker-registry", "skopeo", "openssl"] {
        if !require_tool(tool) {
            return;
        }
    }
    let Some(cosign) = common::sigstore::cosign() else {
        return;
    };
    let registry = Registry::start_plain();
    skopeo_push(
        &format!("oci:{}:mirrored-pause:3.6", fixture_layout().display()),
        &registry,
        "rancher/mirrored-pause:3.6",
        true,
    );
    let pause = skopeo_raw_digest(&registry, "rancher/mirrored-pause:3.6");
    let keys = tempfile::tempdir().unwrap();
    common::sigstore::generate_key_pair(&cosign, keys.path(), PASSWORD);
    common::sigstore::sign_classic(
        &cosign,
        keys.path(),
        PASSWORD,
        &format!("{}/rancher/mirrored-pause@{pause}", registry.host()),
    );
    let (lab, key) = signed_lab_with_policy(&registry, keys.path());
    let config = lab.lab_dir().join("seedforge.yaml");
    let text = fs::read_to_string(&config).unwrap();
    let export = lab.lab_dir().join("export");
    for (form, split) in [("whole", ""), ("parts", "export_split: 1MiB\n")] {
        fs::write(&config, format!("{text}{split}")).unwrap();
        lab.build();
        let out = lab.out_dir();
        let manifest = common::read_json(&out.join("manifest.json"));
        assert!(
            !manifest["image_keys"].as_array().unwrap().is_empty(),
            "{form}: the policy recorded no key"
        );
        // The whole output checks its carried signatures with the recorded keys.
        let whole = verify(&lab, false, Some(&key), &out, 0);
        assert!(
            whole
                .stdout
                .contains("1 image(s) with a signature verifying"),
            "{form}: {whole:?}"
        );
        let parts: Vec<_> = fs::read_dir(&export)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.to_string_lossy().contains(".part"))
            .collect();
        assert_eq!(parts.is_empty(), split.is_empty(), "{form}: {parts:?}");

        let passed = verify(&lab, false, Some(&key), &export, 0);
        assert!(passed.stdout.contains("signature"), "{form}: {passed:?}");
        verify(&lab, false, None, &export, 0);
        let doc = verify(&lab, true, Some(&key), &export, 0).json();
        assert!(doc.get("error").is_none(), "{form}: {doc}");

        // One flipped byte in a seed (whole, or in one of its parts).
        let victim = if split.is_empty() {
            export.join("seed-lab-server1.iso")
        } else {
            parts[0].clone()
        };
        let saved = fs::read(&victim).unwrap();
        flip_byte(&victim, saved.len() / 2);
        // Whole, the ISO's sha256 is not the signed one; in parts, the part's is not the
        // one SHA256SUMS gives, nor the parts' join the one SHA256SUMS.wholes gives.
        let name = victim.file_name().unwrap().to_string_lossy().into_owned();
        // Either way, refused by the folder's signed statement first, naming the file.
        let named = name.as_str();
        let failed = verify(&lab, false, Some(&key), &export, 1);
        assert!(failed.stderr.contains(named), "{form}: {failed:?}");
        for key in [Some(key.as_path()), None] {
            if key.is_none() && split.is_empty() {
                // Whole ISOs without the key: read back as ISOs, no digest to hold them to.
                continue;
            }
            let doc = verify(&lab, true, key, &export, 1).json();
            assert_eq!(doc["error"]["code"], 1, "{form}: {doc}");
            let message = doc["error"]["message"].as_str().unwrap();
            assert!(message.contains(named), "{form}: {doc}");
            if !split.is_empty() {
                // The report and its error in one document.
                let problems = doc["sums"]["problems"].as_array().unwrap();
                assert_eq!(problems.len(), 1, "{form}: {doc}");
                assert_eq!(problems[0]["path"], name.as_str(), "{form}: {doc}");
            }
        }
        fs::write(&victim, &saved).unwrap();
        verify(&lab, false, Some(&key), &export, 0);
    }
}
