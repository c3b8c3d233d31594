//! Signing a release pipeline can require: `seal.require_signature: true` in the config,
//! or `--require-signature`, refuses at `plan` and at the start of `build` and `delta`
//! (exit 2, naming the setting and what is missing, nothing written) where the output
//! would not be signed; `seal.key` naming a file that is not there, with only a public key
//! and no signature to keep, is refused at `plan` too, not at the end of `build`. Every
//! document says whether it signed or verified, and with which key id: `build --json`,
//! `delta --json`, `verify --json` (`--key`: verified; without: not checked). One unsigned
//! build and one signed rebuild carry every assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::{self, Cmd, Lab, Output};
use std::fs;
use std::path::Path;

/// An Ed25519 PKCS#8 key pair made by openssl in `dir`: `NAME.pem`, `NAME.pub`.
fn key_pair(dir: &Path, name: &str) {
    let key = format!("{name}.pem");
    Cmd::new("openssl")
        .args(["genpkey", "-algorithm", "ed25519", "-out", &key])
        .cwd(dir)
        .run();
    Cmd::new("openssl")
        .args([
            "pkey",
            "-in",
            &key,
            "-pubout",
            "-out",
            &format!("{name}.pub"),
        ])
        .cwd(dir)
        .run();
}

/// The key id of a public key as cosign writes it into a bundle's `publicKey.hint`: the
/// base64 of the SHA-256 of its DER SubjectPublicKeyInfo, computed by openssl.
fn key_id(public: &Path) -> String {
    Cmd::new("sh")
        .arg("-c")
        .arg("openssl pkey -pubin -outform DER -in \"$1\" | openssl dgst -sha256 -binary | base64 -w0")
        .arg("sh")
        .arg(public)
        .run()
        .stdout
        .trim()
        .to_string()
}

/// Runs `cmd` expecting exit 2, and checks that it names each of `said` and left the
/// output (and the delta folder `untouched`) as it was.
fn refused(lab: &Lab, cmd: Cmd, said: &[&str], untouched: &Path) -> Output {
    let snapshot = || {
        let out = lab.out_dir();
        out.exists().then(|| common::snapshot(&out))
    };
    let before = snapshot();
    let out = cmd.expect(2).run();
    for s in said {
        assert!(out.stderr.contains(s), "{s}: {}", out.stderr);
    }
    match (&before, &snapshot()) {
        (Some(before), Some(after)) => {
            common::assert_same_tree(before, after, &format!("refused: {}", out.what));
        }
        (None, after) => assert!(after.is_none(), "{}: wrote the output", out.what),
        (Some(_), None) => panic!("{}: removed the output", out.what),
    }
    assert!(!untouched.exists(), "{}", untouched.display());
    out
}

#[test]
fn a_required_signature_refuses_before_anything_is_written_and_every_document_says_who_signed() {
    if !common::require_tool("openssl") {
        return;
    }
    let lab = Lab::new();
    let dir = lab.lab_dir();
    key_pair(&dir, "seal");
    let id = key_id(&dir.join("seal.pub"));
    let config = dir.join("seedforge.yaml");
    let text = fs::read_to_string(&config).unwrap();
    let with_seal = |seal: &str| fs::write(&config, format!("{text}\nseal:\n{seal}")).unwrap();
    let cfg = lab.config_arg();

    // Nothing signs: refused before the output exists, by the flag and by the setting.
    with_seal("  require_signature: true\n");
    let none = lab.root().join("none");
    for cmd in ["plan", "build"] {
        refused(
            &lab,
            lab.seedforge().args([cmd, "--config", cfg]),
            &[
                "seal.require_signature",
                "seedforge.yaml:",
                "--signing-key",
                "no private key",
            ],
            &none,
        );
    }

    // An unsigned output: built, then every document says it is not signed.
    fs::write(&config, &text).unwrap();
    let built = lab
        .seedforge()
        .args(["--json", "build", "--config", cfg])
        .run()
        .json();
    let signature = &built["seal"]["signature"];
    assert_eq!(signature["signed"], false, "{signature}");
    assert!(signature["key_id"].is_null(), "{signature}");
    let text_build = lab.build();
    assert!(
        text_build.stdout.contains("signature: not signed"),
        "{}",
        text_build.stdout
    );
    let unsigned = lab
        .seedforge()
        .args(["--json", "verify", "fixtures/lab/out"])
        .run()
        .json();
    assert_eq!(
        unsigned["signature"]["checked"], false,
        "{}",
        unsigned["signature"]
    );
    assert_eq!(unsigned["signature"]["verified"], false);
    assert_eq!(unsigned["signature"]["signed"], false);
    lab.receipt("unsigned.json").run();

    // Over that output, each way of requiring a signature is refused, the output as it
    // was byte for byte.
    for cmd in ["plan", "build"] {
        refused(
            &lab,
            lab.seedforge()
                .args([cmd, "--require-signature", "--config", cfg]),
            &[
                "--require-signature",
                "--signing-key",
                "manifest.json.sigstore.json",
            ],
            &none,
        );
    }
    with_seal("  require_signature: true\n");
    for cmd in ["plan", "build"] {
        refused(
            &lab,
            lab.seedforge().args([cmd, "--config", cfg]),
            &["seedforge.yaml:", "seal.require_signature"],
            &none,
        );
    }
    // seal.key names a file that is not there, and only the public key is: the build could
    // keep no signature (the output holds none), so `plan` refuses as `build` does.
    with_seal("  key: gone.pem\n  public_key: seal.pub\n");
    for cmd in ["plan", "build"] {
        refused(
            &lab,
            lab.seedforge().args([cmd, "--config", cfg]),
            &[
                "seal.key",
                "gone.pem",
                "no such file",
                "manifest.json.sigstore.json",
                &id,
            ],
            &none,
        );
    }
    // A delta of the unsigned output (its config as it was built) is refused when
    // required, and says it is not signed.
    fs::write(&config, &text).unwrap();
    let delta = lab.root().join("d-refused");
    refused(
        &lab,
        lab.delta("unsigned.json", "d-refused")
            .arg("--require-signature"),
        &[
            "--require-signature",
            "not signed",
            "manifest.json.sigstore.json",
        ],
        &delta,
    );
    fs::write(&config, &text).unwrap();
    let made = lab
        .seedforge()
        .args([
            "--json",
            "delta",
            "fixtures/lab/out",
            "--since",
            "unsigned.json",
            "-o",
            "d0",
        ])
        .run()
        .json();
    assert_eq!(made["signature"]["signed"], false, "{}", made["signature"]);

    // Signed by a pipeline's key, required by the config: every document names the key id.
    with_seal("  require_signature: true\n  public_key: seal.pub\n");
    let signed = lab
        .seedforge()
        .args([
            "--json",
            "build",
            "--signing-key",
            "fixtures/lab/seal.pem",
            "--config",
            cfg,
        ])
        .run()
        .json();
    let signature = &signed["seal"]["signature"];
    assert_eq!(signature["signed"], true, "{signature}");
    assert_eq!(signature["key_id"], id.as_str(), "{signature}");
    assert_eq!(signature["signer"], "private_key", "{signature}");
    let verified = lab
        .seedforge()
        .args([
            "--json",
            "verify",
            "--key",
            "fixtures/lab/seal.pub",
            "fixtures/lab/out",
        ])
        .run()
        .json();
    let signature = &verified["signature"];
    assert_eq!(signature["verified"], true, "{signature}");
    assert_eq!(signature["checked"], true, "{signature}");
    assert_eq!(signature["key_id"], id.as_str(), "{signature}");
    let text_verify = lab
        .seedforge()
        .args([
            "verify",
            "--key",
            "fixtures/lab/seal.pub",
            "fixtures/lab/out",
        ])
        .run();
    assert!(
        text_verify.stdout.contains(&format!("key id {id}")),
        "{}",
        text_verify.stdout
    );
    let not_checked = lab
        .seedforge()
        .args(["--json", "verify", "fixtures/lab/out"])
        .run()
        .json();
    let signature = &not_checked["signature"];
    assert_eq!(signature["checked"], false, "{signature}");
    assert_eq!(signature["verified"], false, "{signature}");
    assert_eq!(signature["signed"], true, "{signature}");
    // Without the private key (only the public one, no flag): the output's signatures are
    // kept, the requirement met, and the build says so.
    let kept = lab
        .seedforge()
        .args(["--json", "build", "--config", cfg])
        .run()
        .json();
    assert_eq!(kept["seal"]["signature"]["key_id"], id.as_str());
    assert_eq!(kept["seal"]["signature"]["signer"], "public_key");

    let made = lab
        .seedforge()
        .args([
            "--json",
            "delta",
            "fixtures/lab/out",
            "--since",
            "unsigned.json",
            "-o",
            "d1",
        ])
        .arg("--require-signature")
        .args(["--signing-key", "fixtures/lab/seal.pem"])
        .run()
        .json();
    let signature = &made["signature"];
    assert_eq!(signature["signed"], true, "{signature}");
    assert_eq!(made["record_signed"], true, "{made}");
    assert_eq!(signature["key_id"], id.as_str(), "{signature}");
    let checked = lab
        .seedforge()
        .args(["--json", "verify", "--key", "fixtures/lab/seal.pub", "d1"])
        .run()
        .json();
    assert_eq!(
        checked["signature"]["verified"], true,
        "{}",
        checked["signature"]
    );
    assert_eq!(checked["signature"]["key_id"], id.as_str());
    let unchecked = lab
        .seedforge()
        .args(["--json", "verify", "d1"])
        .run()
        .json();
    assert_eq!(
        unchecked["signature"]["checked"], false,
        "{}",
        unchecked["signature"]
    );
    assert_eq!(unchecked["signature"]["signed"], true);
}
