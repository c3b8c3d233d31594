//! What a keyless check costs per image against a key check, in the library, as a build
//! runs it, and against cosign (BENCHMARKS.md, "keyless"; `bench/keyless.sh`).

use super::*;

/// What a keyless check costs per image against a key check (BENCHMARKS.md, "keyless"):
/// `KEYLESS_BENCH_IMAGES` (default 40) small images (bench/make-signed-set.py) in a local
/// registry under two names, one set signed with a cosign key pair, the other keyless by
/// the private Sigstore, each half classic `.sig`, half bundle; `seedforge mirror` carries
/// them into two layouts; then the library's re-check of every carried signature
/// (`policy::recheck`, what `verify OUT` runs and the build's check per image) is timed
/// over each layout, `KEYLESS_BENCH_ROUNDS` (default 15) rounds alternating, medians
/// printed. Run: `cargo test --release --test it keyless::bench -- --ignored --nocapture`.
#[test]
#[ignore = "a benchmark: cargo test --release --test it keyless::bench -- --ignored --nocapture"]
fn bench_a_keyless_check_per_image_against_a_key_check() {
    use seedforge::oci::mirror::policy::recheck;
    use seedforge::trust::cosign::{KeylessTrust, Trust};
    if !require_tool("docker-registry") || !require_tool("skopeo") {
        return;
    }
    let Some(sigstore) = PrivateSigstore::new() else {
        return;
    };
    let n: usize = std::env::var("KEYLESS_BENCH_IMAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40);
    let rounds: usize = std::env::var("KEYLESS_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(15);
    let signer = common::sigstore::Signer::new(sigstore.cosign.clone());
    let registry = Registry::start_plain();
    let host = registry.host();
    let work = tempfile::tempdir().unwrap();
    let set = work.path().join("set");
    Cmd::new("python3")
        .arg(common::repo_root().join("bench/make-signed-set.py"))
        .arg(&set)
        .args(["--images", &n.to_string()])
        .timeout(Duration::from_secs(300))
        .run();
    let mut lists = [Vec::new(), Vec::new()];
    let mut refs: [Vec<String>; 2] = [Vec::new(), Vec::new()];
    for i in 1..=n {
        for (k, prefix) in ["key", "keyless"].iter().enumerate() {
            let repo_tag = format!("{prefix}/img-{i:04}:1");
            Cmd::new("skopeo")
                .args(["copy", "--quiet", "--dest-tls-verify=false"])
                .arg(format!("oci:{}:img-{i:04}:1", set.display()))
                .arg(format!("docker://{host}/{repo_tag}"))
                .timeout(Duration::from_secs(120))
                .run();
            let digest = common::registry::skopeo_raw_digest(&registry, &repo_tag);
            let image = format!("{host}/{prefix}/img-{i:04}@{digest}");
            let classic = i % 2 == 0;
            match (k, classic) {
                (0, _) => signer.sign(&image, classic),
                (_, true) => sigstore.sign_classic(&image, &Signing::default()),
                (_, false) => {
                    sigstore.sign_bundle(&image, &Signing::default());
                }
            }
            lists[k].push(format!("docker://{host}/{repo_tag}"));
            refs[k].push(image);
        }
    }
    let layouts: Vec<std::path::PathBuf> = ["key", "keyless"]
        .iter()
        .zip(&lists)
        .map(|(name, list)| {
            let file = work.path().join(format!("{name}.txt"));
            fs::write(&file, list.join("\n") + "\n").unwrap();
            let layout = work.path().join(name);
            Cmd::seedforge()
                .args(["-q", "mirror", "--images"])
                .arg(&file)
                .arg("--layout")
                .arg(&layout)
                .args(["--plain-http", &host])
                .run();
            layout
        })
        .collect();
    let key = seedforge::trust::keys::PublicKey::read(&signer.public_key()).unwrap();
    let keys = [key];
    let root = seedforge::trust::keyless::TrustedRoot::read(&sigstore.trusted_root).unwrap();
    let identities = [seedforge::trust::keyless::Identity::exact(SIGNER, ISSUER)];
    let trusts = [
        Trust::keys(&keys),
        Trust {
            keys: &[],
            keyless: Some(KeylessTrust {
                root: &root,
                identities: &identities,
            }),
        },
    ];
    let opened: Vec<seedforge::oci::Layout> = layouts
        .iter()
        .map(|l| seedforge::oci::Layout::open(l).unwrap())
        .collect();
    let mut times = [Vec::new(), Vec::new()];
    for round in 0..=rounds {
        for k in [round % 2, 1 - round % 2] {
            let start = std::time::Instant::now();
            let checked = recheck(&opened[k], &trusts[k]).unwrap();
            let took = start.elapsed();
            assert_eq!(checked.verified.len(), n, "{checked:?}");
            assert!(checked.failed.is_empty(), "{checked:?}");
            // Round 0 warms the caches and is not counted.
            if round > 0 {
                times[k].push(took.as_secs_f64());
            }
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        v[v.len() / 2]
    };
    let key_s = median(&mut times[0]);
    let keyless_s = median(&mut times[1]);
    println!(
        "keyless bench: {n} images, {rounds} rounds: key check {:.0} us/image, keyless check {:.0} us/image, ratio {:.2}x",
        key_s / n as f64 * 1e6,
        keyless_s / n as f64 * 1e6,
        keyless_s / key_s
    );

    // What one signature verification costs in the crypto library both checks use: a key
    // signature is one P-256 verification; a keyless one adds the leaf's, made by a P-384
    // CA as Fulcio's are, the SCT's, the SET's and the checkpoint's.
    let per_verify = |signing, verifying| {
        use ring::signature::{EcdsaKeyPair, KeyPair, UnparsedPublicKey};
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(signing, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(signing, pkcs8.as_ref(), &rng).unwrap();
        let signature = pair.sign(&rng, b"a signed payload").unwrap();
        let public = UnparsedPublicKey::new(verifying, pair.public_key().as_ref().to_vec());
        let start = std::time::Instant::now();
        for _ in 0..200 {
            public
                .verify(b"a signed payload", signature.as_ref())
                .unwrap();
        }
        start.elapsed().as_secs_f64() / 200.0 * 1e6
    };
    println!(
        "keyless bench: one ECDSA verification (ring): P-256 {:.0} us, P-384 {:.0} us",
        per_verify(
            &ring::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
            &ring::signature::ECDSA_P256_SHA256_ASN1
        ),
        per_verify(
            &ring::signature::ECDSA_P384_SHA384_ASN1_SIGNING,
            &ring::signature::ECDSA_P384_SHA384_ASN1
        ),
    );

    // The check as a build runs it: `seedforge mirror` of every image from the registry,
    // unchecked, with the key and keyless under `--require-signature always`; and the
    // peer, cosign 3 `verify` of every image (one invocation a set, offline), in the same
    // run. `KEYLESS_BENCH_CLI_ROUNDS` (default 3) rounds, alternating, medians.
    let cli_rounds: usize = std::env::var("KEYLESS_BENCH_CLI_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let key_file = signer.public_key();
    let list_file = |k: usize| work.path().join(format!("{}.txt", ["key", "keyless"][k]));
    let mirror = |k: usize, checked: bool| {
        let layout = work.path().join("cli-layout");
        let _ = fs::remove_dir_all(&layout);
        let mut cmd = Cmd::seedforge()
            .args(["-q", "mirror", "--images"])
            .arg(list_file(k))
            .arg("--layout")
            .arg(&layout)
            .args(["--plain-http", &host]);
        if checked && k == 0 {
            cmd = cmd.arg("--verify-key").arg(&key_file);
        } else if checked {
            cmd = cmd
                .args(["--certificate-identity", SIGNER])
                .args(["--certificate-oidc-issuer", ISSUER])
                .arg("--trusted-root")
                .arg(&sigstore.trusted_root);
        }
        let start = std::time::Instant::now();
        cmd.run();
        start.elapsed().as_secs_f64()
    };
    // cosign 3 reads bundles unless told `--new-bundle-format=false`: one invocation for
    // each form of a set, timed together.
    let cosign = |k: usize| {
        let mut took = 0.0;
        for classic in [false, true] {
            // Image i (from 1) is classic when i is even.
            let images = refs[k]
                .iter()
                .enumerate()
                .filter(|(i, _)| (i % 2 == 1) == classic)
                .map(|(_, r)| r.as_str());
            let mut cmd = if k == 0 {
                signer
                    .cosign(&["verify", "--insecure-ignore-tlog"])
                    .arg("--key")
                    .arg(&key_file)
            } else {
                sigstore
                    .cosign()
                    .arg("verify")
                    .arg("--trusted-root")
                    .arg(&sigstore.trusted_root)
                    .args(["--certificate-identity", SIGNER])
                    .args(["--certificate-oidc-issuer", ISSUER])
            };
            if classic {
                cmd = cmd.arg("--new-bundle-format=false");
            }
            let cmd = cmd
                .args(common::sigstore::REGISTRY_FLAGS)
                .args(images)
                .timeout(Duration::from_secs(600));
            let start = std::time::Instant::now();
            cmd.run();
            took += start.elapsed().as_secs_f64();
        }
        took
    };
    // [plain mirror, mirror with key, mirror keyless, cosign key, cosign keyless]
    let mut cli: [Vec<f64>; 5] = Default::default();
    for round in 0..=cli_rounds {
        let order: [usize; 5] = if round % 2 == 0 {
            [0, 1, 2, 3, 4]
        } else {
            [4, 3, 2, 1, 0]
        };
        for which in order {
            let took = match which {
                0 => mirror(round % 2, false),
                1 => mirror(0, true),
                2 => mirror(1, true),
                3 => cosign(0),
                _ => cosign(1),
            };
            if round > 0 {
                cli[which].push(took);
            }
        }
    }
    let ms = |v: &mut Vec<f64>| median(v) / n as f64 * 1e3;
    let [plain, with_key, keyless, cosign_key, cosign_keyless] = cli.each_mut().map(ms);
    println!(
        "keyless bench: mirror {n} images, {cli_rounds} rounds: unchecked {plain:.2} ms/image, key {with_key:.2} ms/image, keyless {keyless:.2} ms/image, keyless/key {:.2}x",
        keyless / with_key
    );
    println!(
        "keyless bench: cosign verify {n} images, {cli_rounds} rounds: key {cosign_key:.2} ms/image, keyless {cosign_keyless:.2} ms/image, keyless/key {:.2}x; seedforge mirror keyless against cosign verify keyless {:.2}x",
        cosign_keyless / cosign_key,
        keyless / cosign_keyless
    );
}
