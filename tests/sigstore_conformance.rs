//! The keyless verifier judged by the sigstore project's own conformance cases: every
//! bundle verification case of sigstore-conformance, read from
//! `../shared/sigstore-conformance/` beside the clone (its README says what is there; the project
//! carries none of it), goes through `verify_bundle` as that suite's harness
//! gives it to a client, and seedforge's verdict (accepted or refused) must be the one the
//! case expects: refused when the case's folder name ends in `fail`, accepted otherwise.
//!
//! Each case is verified twice, as the harness does: with the artifact's bytes (its `PATH`
//! input) and with the artifact's SHA-256 (its `DIGEST` input, `sha256:HEX`), except what
//! seedforge cannot run by design ([`UNSUPPORTED`]). The verdict is compared, not the
//! reason: a case refused for another reason than the one the suite names still agrees.
//!
//! Without `../shared/sigstore-conformance/` the test fails under `CI=true` and is skipped
//! otherwise, as the tests that need an external tool are.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::common::repo_root;
use seedforge::trust::keyless::{Artifact, Identity, TrustedRoot, verify_bundle};

/// The identity the harness verifies with when a case has no `identity` file
/// (sigstore-conformance `test/client.py`, `CERTIFICATE_IDENTITY`).
const DEFAULT_IDENTITY: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
/// The issuer it verifies with when a case has no `issuer` file (`CERTIFICATE_OIDC_ISSUER`).
const DEFAULT_ISSUER: &str = "https://token.actions.githubusercontent.com";

/// Why seedforge cannot run a case (or one input form of it), by design.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unsupported {
    /// The case gives a `key.pub`, so the harness verifies with `--key`, not an identity.
    ManagedKey,
    /// A message signature given by its digest (the harness's `sha256:HEX` form).
    MessageDigest,
}

impl Unsupported {
    /// The one-line reason.
    fn reason(self) -> &'static str {
        match self {
            Unsupported::ManagedKey => {
                "signed with a managed key (key.pub, verified with --key): seedforge's \
                 keyless verifier takes no key; the case is not run"
            }
            Unsupported::MessageDigest => {
                "a message signature checked over a digest: seedforge's ECDSA (ring) \
                 verifies over the message, so Artifact::Sha256 is for DSSE subjects only; \
                 the bytes form is run, the digest form must be refused as such"
            }
        }
    }
}

/// What seedforge says when given a message signature's digest (`provider.rs`).
const MESSAGE_NOT_AT_HAND: &str = "over a digest whose message is not at hand";

/// The cases seedforge cannot run by design, as [`Unsupported`] says why: exactly the
/// cases that give a `key.pub` ([`Unsupported::ManagedKey`], not run), and exactly those
/// whose digest form seedforge refuses as a message it does not hold
/// ([`Unsupported::MessageDigest`], judged on the bytes form only; message signatures whose
/// digest form is refused for another reason first are judged in both forms).
const UNSUPPORTED: &[(&str, Unsupported)] = &[
    (
        "bundle-with-sct-with-extensions",
        Unsupported::MessageDigest,
    ),
    ("happy-path-v0.1", Unsupported::MessageDigest),
    ("happy-path-v0.2", Unsupported::MessageDigest),
    ("happy-path-v0.3", Unsupported::MessageDigest),
    ("happy-path-v0.3-new-mediaType", Unsupported::MessageDigest),
    ("managed-key-and-trusted-root", Unsupported::ManagedKey),
    ("managed-key-happy-path", Unsupported::ManagedKey),
    ("managed-key-wrong-key_fail", Unsupported::ManagedKey),
    ("rekor2-checkpoint-cosigned", Unsupported::MessageDigest),
    (
        "rekor2-checkpoint-multiple-cosigs",
        Unsupported::MessageDigest,
    ),
    (
        "rekor2-checkpoint-origin-not-first",
        Unsupported::MessageDigest,
    ),
    (
        "rekor2-checkpoint-two-sigs-cosigned",
        Unsupported::MessageDigest,
    ),
    (
        "rekor2-checkpoint-two-sigs-from-origin",
        Unsupported::MessageDigest,
    ),
    ("rekor2-happy-path", Unsupported::MessageDigest),
    (
        "rekor2-timestamp-with-embedded-cert",
        Unsupported::MessageDigest,
    ),
    (
        "rekor2-timestamp-with-expired-cert-chain",
        Unsupported::MessageDigest,
    ),
    (
        "rekor2-timestamp-without-embedded-cert",
        Unsupported::MessageDigest,
    ),
    ("signature-mismatch_fail", Unsupported::MessageDigest),
    (
        "trust-root-tlog-validity-end-inclusive",
        Unsupported::MessageDigest,
    ),
    (
        "trust-root-tsa-validity-end-inclusive",
        Unsupported::MessageDigest,
    ),
    (
        "wrong-hashedrekord-artifact_fail",
        Unsupported::MessageDigest,
    ),
    (
        "wrong-hashedrekord-cert-and-sig_fail",
        Unsupported::MessageDigest,
    ),
    ("wrong-hashedrekord-entry_fail", Unsupported::MessageDigest),
];

/// TEMPORARY: the cases on which seedforge's verdict is not the expected one today, each
/// with what is seen. A listed case must still disagree (in an input form that is run): one
/// that starts agreeing fails the test until it is taken off, so the list ends empty.
/// Empty: every case run gets the expected verdict.
const KNOWN_DISAGREEMENTS: &[(&str, &str)] = &[];

/// How the harness gives the artifact.
#[derive(Debug, Clone, Copy)]
enum Input {
    /// The artifact's path (`verify-bundle ... FILE`): its bytes.
    Path,
    /// The artifact's digest (`verify-bundle ... sha256:HEX`).
    Digest,
}

/// One case of `bundle-verify/`, read as the harness reads it
/// (`BundleMaterials.from_dir`).
struct Case {
    name: String,
    dir: PathBuf,
    /// The folder's name ends in `fail`: the client must refuse it.
    expect_refused: bool,
}

/// `../shared/sigstore-conformance/` beside the clone (`SEEDFORGE_SIGSTORE_CONFORMANCE` names
/// another place).
fn data_dir() -> PathBuf {
    std::env::var_os("SEEDFORGE_SIGSTORE_CONFORMANCE").map_or_else(
        || repo_root().join("../shared/sigstore-conformance"),
        PathBuf::from,
    )
}

/// The data is there; missing, the test fails under `CI=true` and is skipped otherwise.
fn data_present() -> bool {
    let dir = data_dir();
    if dir.join("bundle-verify").is_dir() && dir.join("production_trusted_root.json").is_file() {
        return true;
    }
    assert!(
        std::env::var("CI").map_or(true, |v| v != "true"),
        "the sigstore-conformance data is not at {} (CI=true, so this is a failure)",
        dir.display()
    );
    eprintln!(
        "SKIP: no sigstore-conformance data at {}; skipping the conformance cases",
        dir.display()
    );
    false
}

fn cases_dir() -> PathBuf {
    data_dir().join("bundle-verify")
}

fn cases() -> Vec<Case> {
    let mut cases: Vec<Case> = std::fs::read_dir(cases_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .map(|dir| {
            let name = dir.file_name().unwrap().to_string_lossy().into_owned();
            Case {
                expect_refused: name.ends_with("fail"),
                name,
                dir,
            }
        })
        .collect();
    cases.sort_by(|a, b| a.name.cmp(&b.name));
    cases
}

/// The trimmed text of a case's optional file.
fn optional_text(dir: &Path, name: &str) -> Option<String> {
    let path = dir.join(name);
    path.exists()
        .then(|| std::fs::read_to_string(&path).unwrap().trim().to_owned())
}

/// The trusted root's JSON: the case's own, else Sigstore's public-good production root.
fn root_json(case: &Case) -> Vec<u8> {
    let own = case.dir.join("trusted_root.json");
    let path = if own.exists() {
        own
    } else {
        data_dir().join("production_trusted_root.json")
    };
    std::fs::read(path).unwrap()
}

/// The artifact: the case's own, else the shared `a.txt`.
fn artifact(case: &Case) -> Vec<u8> {
    let own = case.dir.join("artifact");
    let path = if own.exists() {
        own
    } else {
        cases_dir().join("a.txt")
    };
    std::fs::read(path).unwrap()
}

/// The identity the harness passes (`--certificate-identity`, `--certificate-oidc-issuer`,
/// both matched exactly).
fn identity(case: &Case) -> Identity {
    let subject =
        optional_text(&case.dir, "identity").unwrap_or_else(|| DEFAULT_IDENTITY.to_owned());
    let issuer = optional_text(&case.dir, "issuer").unwrap_or_else(|| DEFAULT_ISSUER.to_owned());
    Identity::exact(&subject, &issuer)
}

/// seedforge's verdict on a case: `Ok` with who signed, or `Err` with why not (a trusted
/// root that does not read is refused as the client would refuse it).
fn verdict(case: &Case, input: Input) -> Result<String, String> {
    let root = TrustedRoot::from_json(&root_json(case)).map_err(|e| e.to_string())?;
    let bundle = std::fs::read(case.dir.join("bundle.sigstore.json")).unwrap();
    let bytes = artifact(case);
    let digest = seedforge::hashing::sha256_bytes(&bytes);
    let artifact = match input {
        Input::Path => Artifact::Bytes(&bytes),
        Input::Digest => Artifact::Sha256(digest),
    };
    verify_bundle(&bundle, artifact, &root, &[identity(case)])
        .map(|signer| format!("signed by {} at {}", signer.subject, signer.signed_at))
        .map_err(|e| e.to_string())
}

fn show(result: &Result<String, String>) -> String {
    match result {
        Ok(signer) => format!("accepted ({signer})"),
        Err(why) => format!("refused: {why}"),
    }
}

fn expected(case: &Case) -> &'static str {
    if case.expect_refused {
        "refused"
    } else {
        "accepted"
    }
}

#[test]
fn conformance_cases_get_the_expected_verdict() {
    if !data_present() {
        return;
    }
    let cases = cases();
    assert!(
        cases.len() >= 60,
        "only {} cases found under {}",
        cases.len(),
        cases_dir().display()
    );
    let names: BTreeSet<&str> = cases.iter().map(|c| c.name.as_str()).collect();
    let listed = |kind: Unsupported| -> BTreeSet<&str> {
        UNSUPPORTED
            .iter()
            .filter(|(_, k)| *k == kind)
            .map(|(name, _)| *name)
            .collect()
    };
    let managed_key = listed(Unsupported::ManagedKey);
    let message_digest = listed(Unsupported::MessageDigest);
    let known: BTreeSet<&str> = KNOWN_DISAGREEMENTS.iter().map(|(name, _)| *name).collect();
    for (list, set) in [
        (
            "UNSUPPORTED",
            managed_key.union(&message_digest).copied().collect(),
        ),
        ("KNOWN_DISAGREEMENTS", known.clone()),
    ] {
        let strangers: Vec<&str> = set.difference(&names).copied().collect::<Vec<_>>();
        assert!(strangers.is_empty(), "{list} names no case: {strangers:?}");
    }
    assert_eq!(
        UNSUPPORTED.len(),
        managed_key.len() + message_digest.len(),
        "a case listed twice in UNSUPPORTED"
    );

    let with_key: BTreeSet<&str> = cases
        .iter()
        .filter(|c| c.dir.join("key.pub").exists())
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(
        managed_key,
        with_key,
        "UNSUPPORTED ({:?}) must list exactly the cases with a key.pub",
        Unsupported::ManagedKey.reason()
    );

    let mut agreeing = Vec::new();
    let mut mismatches = Vec::new();
    let mut now_agreeing = Vec::new();
    let mut digest_not_at_hand = BTreeSet::new();
    for case in cases
        .iter()
        .filter(|c| !managed_key.contains(c.name.as_str()))
    {
        let mut wrong = Vec::new();
        for input in [Input::Path, Input::Digest] {
            let got = verdict(case, input);
            if matches!(input, Input::Digest)
                && got.as_ref().is_err_and(|e| e.contains(MESSAGE_NOT_AT_HAND))
            {
                digest_not_at_hand.insert(case.name.as_str());
                continue;
            }
            if got.is_err() != case.expect_refused {
                wrong.push(format!(
                    "{} ({input:?}): expected {}, seedforge {}",
                    case.name,
                    expected(case),
                    show(&got)
                ));
            }
        }
        match (wrong.is_empty(), known.contains(case.name.as_str())) {
            (true, false) => agreeing.push(case.name.as_str()),
            (true, true) => now_agreeing.push(case.name.as_str()),
            (false, true) => wrong
                .iter()
                .for_each(|line| eprintln!("known disagreement: {line}")),
            (false, false) => mismatches.extend(wrong),
        }
    }
    assert_eq!(
        message_digest,
        digest_not_at_hand,
        "UNSUPPORTED ({:?}) must list exactly the cases whose digest form is refused so",
        Unsupported::MessageDigest.reason()
    );
    eprintln!(
        "sigstore-conformance: {} cases, {} not run (managed key), {} agree, {} known \
         disagreements; {} judged on their bytes form only",
        cases.len(),
        managed_key.len(),
        agreeing.len(),
        known.len(),
        message_digest.len()
    );
    assert!(
        mismatches.is_empty(),
        "seedforge's verdict is not the expected one:\n{}",
        mismatches.join("\n")
    );
    assert!(
        now_agreeing.is_empty(),
        "now agreeing, take them off KNOWN_DISAGREEMENTS: {now_agreeing:?}"
    );
}
