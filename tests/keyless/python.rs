//! sigstore-python, the second judge of the bundle form, on the published keyless material
//! seedforge's unit tests verify (`src/trust/keyless/tests.rs`): the sigstore-verify
//! crate's test bundles (Apache-2.0, in cargo's registry cache, with the production and
//! staging trusted roots of the sigstore-trust-root crate) and cosign's own attestation on
//! the empty image (Debian sid's cosign test data). It agrees with seedforge on each, but
//! one: the cosign attestation's in-toto statement is of the older type
//! `https://in-toto.io/Statement/v0.1`, which sigstore-python does not read (it takes
//! `Statement/v1` only), where seedforge and cosign accept it.

use super::*;
use std::path::PathBuf;

const CONDA_WORKFLOW: &str =
    "https://github.com/prefix-dev/sigstore-example/.github/workflows/action.yaml@refs/heads/main";
const BEACON: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
const GITHUB_ACTIONS: &str = "https://token.actions.githubusercontent.com";
const GITHUB: &str = "https://github.com/login/oauth";

/// Each bundle with its root (`production`, `staging`), identity, artifact and what
/// sigstore-python must say: "OK" (accepted) or the words of its refusal. The sha512
/// sigstore-js provenance the unit tests also verify is left out: sigstore-python's
/// `verify` takes a file or a `sha256:` digest only, and the npm tarball is not at hand.
#[test]
fn sigstore_python_agrees_on_the_published_bundles_seedforge_verifies() {
    let Some(judge) = SigstorePython::new() else {
        return;
    };
    let data = common::registry_crate("sigstore-verify-0.15.").join("test_data");
    let roots = common::registry_crate("sigstore-trust-root-0.15.").join("src");
    let production = judge.trust_config(&roots.join("trusted_root.json"));
    let staging = judge.trust_config(&roots.join("trusted_root_staging.json"));
    let work = tempfile::tempdir().unwrap();
    let package = data.join("bundles/signed-package-2.1.0-hb0f4dca_0.conda");
    let conda_digest = format!(
        "sha256:{}",
        common::sha256_bytes(&fs::read(&package).unwrap())
    );
    let conda = data.join("bundles/conda-attestation.sigstore.json");
    let blob = data.join("bundles/cosign-v3-blob.sigstore.json");
    let json =
        |p: &Path| -> serde_json::Value { serde_json::from_slice(&fs::read(p).unwrap()).unwrap() };
    let write = |name: &str, v: &serde_json::Value| -> PathBuf {
        let path = work.path().join(name);
        fs::write(&path, serde_json::to_vec(v).unwrap()).unwrap();
        path
    };
    // The same attestation as v0.1 and v0.2 bundles: the leaf in x509CertificateChain.
    let older = |version: &str| {
        let mut v = json(&conda);
        v["mediaType"] =
            format!("application/vnd.dev.sigstore.bundle+json;version={version}").into();
        let vm = v["verificationMaterial"].as_object_mut().unwrap();
        let cert = vm.remove("certificate").unwrap();
        vm.insert(
            "x509CertificateChain".into(),
            serde_json::json!({"certificates": [cert]}),
        );
        write(&format!("conda-v{version}.json"), &v)
    };
    // The attestation with the cosign blob's log entry: an entry for another signature.
    let mut swapped = json(&conda);
    swapped["verificationMaterial"]["tlogEntries"] =
        json(&blob)["verificationMaterial"]["tlogEntries"].clone();
    let swapped = write("conda-swapped.json", &swapped);
    let other_blob = work.path().join("another.txt");
    fs::write(&other_blob, "another blob").unwrap();
    let v2_dsse = "sha256:a0cfc71271d6e278e57cd332ff957c3f7043fdda354c4cbb190a30d56efa01bf";
    let v2_message = data.join("upstream/sigstore-python/staging-rekor-v2.txt");
    let blob_text = data.join("bundles/cosign-v3-blob.txt");
    let cases: Vec<(&str, PathBuf, &Path, &str, &str, Artifact, &str)> = vec![
        (
            "DSSE, Rekor v1 with SET, proof and checkpoint",
            conda.clone(),
            &production,
            CONDA_WORKFLOW,
            GITHUB_ACTIONS,
            Artifact::Digest(&conda_digest),
            "OK",
        ),
        (
            "the same as v0.1",
            older("0.1"),
            &production,
            CONDA_WORKFLOW,
            GITHUB_ACTIONS,
            Artifact::Digest(&conda_digest),
            "OK",
        ),
        (
            "the same as v0.2",
            older("0.2"),
            &production,
            CONDA_WORKFLOW,
            GITHUB_ACTIONS,
            Artifact::Digest(&conda_digest),
            "OK",
        ),
        (
            "cosign blob, message signature",
            blob.clone(),
            &production,
            "w.vollprecht@gmail.com",
            GITHUB,
            Artifact::File(&blob_text),
            "OK",
        ),
        (
            "Rekor v2 message signature with TSA",
            data.join("upstream/sigstore-python/staging-rekor-v2.txt.sigstore.json"),
            &staging,
            "jku@goto.fi",
            GITHUB,
            Artifact::File(&v2_message),
            "OK",
        ),
        (
            "Rekor v2 DSSE with TSA",
            data.join("upstream/sigstore-python/a.dsse.staging-rekor-v2.txt.sigstore.json"),
            &staging,
            BEACON,
            GITHUB_ACTIONS,
            Artifact::Digest(v2_dsse),
            "OK",
        ),
        (
            "Rekor v2 conda attestation with TSA",
            data.join("bundles/conda-attestation-rekor2.sigstore.json"),
            &staging,
            "jku@goto.fi",
            GITHUB,
            Artifact::File(&package),
            "OK",
        ),
        (
            "Rekor v2 with the TSA of another root",
            data.join("bundles/conda-attestation-rekor2.sigstore.json"),
            &production,
            "jku@goto.fi",
            GITHUB,
            Artifact::File(&package),
            "not enough sources of verified time",
        ),
        (
            "cosign blob on another blob",
            blob.clone(),
            &production,
            "w.vollprecht@gmail.com",
            GITHUB,
            Artifact::File(&other_blob),
            "message digest mismatch",
        ),
        (
            "a log entry for another signature",
            swapped,
            &production,
            CONDA_WORKFLOW,
            GITHUB_ACTIONS,
            Artifact::Digest(&conda_digest),
            // Its signing time (the other entry's) is outside the leaf's life.
            "cert is not valid at validation time",
        ),
    ];
    // cosign's attestation on the empty image, which seedforge and cosign accept with its
    // trusted root: sigstore-python refuses its in-toto Statement v0.1. All in one run.
    let testdata = cosign_testdata();
    let empty = testdata.as_ref().map(|testdata| {
        let config = judge.trust_config(&testdata.join("trusted_root_pgi.json"));
        (config, testdata.join("oci-attestation.sigstore.json"))
    });
    let mut checks: Vec<Check> = (cases.iter())
        .map(|(_, bundle, config, subject, issuer, artifact, _)| Check {
            config,
            bundle,
            subject,
            issuer,
            artifact: *artifact,
        })
        .collect();
    if let Some((config, bundle)) = &empty {
        checks.push(Check {
            config,
            bundle,
            subject: "cody@soyland.com",
            issuer: GITHUB,
            artifact: Artifact::Digest(EMPTY_IMAGE),
        });
    }
    let mut outs = judge.verify_all(&checks).into_iter();
    for ((what, .., said), out) in cases.iter().zip(&mut outs) {
        let code = if *said == "OK" { 0 } else { 1 };
        assert_eq!(out.code, Some(code), "{what}: {out:?}");
        assert!(
            out.stderr.contains(said),
            "{what}: not {said:?}: {}",
            out.stderr
        );
    }
    if let Some(out) = outs.next() {
        assert_eq!(out.code, Some(1), "{out:?}");
        assert!(
            out.stderr.contains("https://in-toto.io/Statement/v0.1"),
            "{}",
            out.stderr
        );
    }
}
