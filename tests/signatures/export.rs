//! The export folder of a signed build, checked with the public key alone, and an image
//! whose signature cannot be stored.

use super::*;

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
    // (whoever swaps a medium can rewrite its sums): the export's signed statement says no,
    // naming the sums it lists otherwise.
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
    assert!(
        failed.stderr.contains("SHA256SUMS")
            && failed
                .stderr
                .contains("the medium's signed statement.json lists"),
        "{failed:?}"
    );
    for (p, b) in before {
        fs::write(p, b).unwrap();
    }
    verify(&signer.public_key(), 0);
    // Built without the key, the output stays signed: the build keeps the signatures it
    // holds (nothing changed), and the export keeps the pair.
    lab.seedforge()
        .args(["build", "--config", lab.config_arg()])
        .run();
    assert!(export.join("manifest.json.sigstore.json").exists());
    // Built unsigned on purpose (the recorded key removed first): the pair that named the
    // signed ISOs goes.
    fs::remove_file(lab.out_dir().join("keys/seal.pub")).unwrap();
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
