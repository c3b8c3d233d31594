//! The registry CA is continuity. The lab is built and receipted on the far side; its
//! `seedforge.lock` records the CA's fingerprint. With `out/pki` lost (and with the whole
//! output lost, the lock alone left), a build refuses (exit 2, nothing written), naming
//! the fingerprint and where it is recorded; a build into a fresh folder makes a new CA,
//! and `plan --upgrade-from` and `delta` of it refuse. `build --rotate-ca` rotates on
//! purpose: `changes.ca` (old, new) in `build --json`, `plan --upgrade-from --json`,
//! `delta --json` and `apply`'s report; the node trust bundle of the rotating output holds
//! both CAs (read with openssl), the seeds carry it as the nodes' `pki/ca.crt`, and the
//! next build drops it.

use crate::common::{Cmd, Lab, assert_same_tree, snapshot};
use serde_json::Value;
use std::fs;
use std::path::Path;

/// The fingerprints (`sha256:<hex>` of the DER) of every certificate of a PEM file, in
/// order, as openssl reads them.
fn fingerprints(pem: &Path) -> Vec<String> {
    let text = fs::read_to_string(pem).unwrap();
    let mut out = Vec::new();
    for block in text.split_inclusive("-----END CERTIFICATE-----\n") {
        if !block.contains("BEGIN CERTIFICATE") {
            continue;
        }
        let mut child = std::process::Command::new("openssl")
            .args(["x509", "-outform", "DER"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write as _;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(block.as_bytes())
            .unwrap();
        let der = child.wait_with_output().unwrap();
        assert!(der.status.success(), "openssl x509 of {}", pem.display());
        out.push(format!(
            "sha256:{}",
            crate::common::sha256_bytes(&der.stdout)
        ));
    }
    out
}

fn refused(lab: &Lab, args: &[&str], names: &[&str]) {
    let before = snapshot(lab.root());
    let r = lab.seedforge().args(args).expect(2).run();
    for n in names {
        assert!(r.stderr.contains(n), "{args:?}: {n}: {}", r.stderr);
    }
    assert_same_tree(&before, &snapshot(lab.root()), &format!("{args:?}"));
}

#[test]
fn a_lost_ca_is_refused_and_a_rotation_is_a_planned_change_with_both_cas_trusted_once() {
    if !crate::common::require_tool("openssl") {
        return;
    }
    let lab = Lab::new();
    lab.build();
    let out = lab.out_dir();
    let pki = out.join("pki");
    let old = fingerprints(&pki.join("ca.crt"));
    assert_eq!(old.len(), 1);
    let old = old[0].clone();
    // The lock records the CA: its fingerprint and its certificate.
    let lock_path = lab.lab_dir().join("seedforge.lock");
    let lock: Value = serde_json::from_slice(&fs::read(&lock_path).unwrap()).unwrap();
    assert_eq!(lock["registry_ca"]["fingerprint"], old.as_str(), "{lock}");
    assert_eq!(
        lock["registry_ca"]["certificate"],
        fs::read_to_string(pki.join("ca.crt")).unwrap()
    );
    lab.receipt("v1.json").run();
    let far = lab.far_copy("far");
    let build = ["build", "--config", lab.config_arg()];

    // The PKI folder lost: refused, naming the fingerprint, the lock and both ways on.
    let kept = lab.root().join("pki-kept");
    fs::rename(&pki, &kept).unwrap();
    refused(
        &lab,
        &build,
        &[
            &old,
            "fixtures/lab/seedforge.lock",
            "Restore the CA",
            "--rotate-ca",
        ],
    );
    // The whole output lost (a clean checkout): the lock alone refuses it.
    let out_kept = lab.root().join("out-kept");
    fs::rename(&out, &out_kept).unwrap();
    refused(&lab, &build, &[&old, "fixtures/lab/seedforge.lock"]);
    fs::rename(&out_kept, &out).unwrap();
    // Without the lock, the last build's seal refuses it (naming the sealed file's sha256).
    let lock_kept = lab.root().join("lock-kept");
    fs::rename(&lock_path, &lock_kept).unwrap();
    let sealed_ca = crate::common::sha256_file(&kept.join("ca.crt"));
    refused(
        &lab,
        &build,
        &["fixtures/lab/out/manifest.json", &sealed_ca, "--rotate-ca"],
    );
    fs::rename(&lock_kept, &lock_path).unwrap();

    // A fresh folder (no record of its own) gets a new CA; what crosses from it is refused.
    lab.seedforge()
        .args(["build", "--config", lab.config_arg(), "--out", "fresh"])
        .run();
    let receipt_ca = crate::common::sha256_file(&kept.join("ca.crt"));
    refused(
        &lab,
        &["delta", "fresh", "--since", "v1.json", "-o", "d0"],
        &[
            &receipt_ca,
            "not the one the far side's nodes trust",
            "--rotate-ca",
        ],
    );
    refused(
        &lab,
        &[
            "plan",
            "--config",
            lab.config_arg(),
            "--out",
            "fresh",
            "--upgrade-from",
            "v1.json",
        ],
        &[&receipt_ca, "--rotate-ca"],
    );

    // Rotation on purpose, the PKI folder still lost: the old CA comes from the lock.
    let plan = lab
        .seedforge()
        .args([
            "plan",
            "--config",
            lab.config_arg(),
            "--rotate-ca",
            "--json",
        ])
        .run()
        .json();
    let step = (plan["steps"].as_array().unwrap().iter())
        .find(|s| s["step"] == "pki")
        .cloned()
        .unwrap_or_else(|| panic!("no pki step: {plan}"));
    assert_eq!(step["changes"]["ca"]["old"], old.as_str(), "{step}");
    assert_eq!(step["node_bundle"], true, "{step}");
    // The seeds carry the bundle as the nodes' pki/ca.crt.
    let text = plan.to_string();
    assert!(
        text.contains(
            "{\"name\":\"pki/ca.crt\",\"source\":\"fixtures/lab/out/pki/ca-bundle.crt\"}"
        ),
        "{plan:#}"
    );
    let built = lab
        .seedforge()
        .args(build)
        .args(["--rotate-ca", "--json"])
        .run()
        .json();
    let ca = &built["pki"]["changes"]["ca"];
    let new = fingerprints(&pki.join("ca.crt"))[0].clone();
    assert_ne!(new, old);
    assert_eq!(ca["old"], old.as_str(), "{built:#}");
    assert_eq!(ca["new"], new.as_str(), "{built:#}");
    // The node trust bundle: the new CA, then the old one byte for byte.
    let bundle = pki.join("ca-bundle.crt");
    assert_eq!(fingerprints(&bundle), [new.clone(), old.clone()]);
    let bundle_text = fs::read_to_string(&bundle).unwrap();
    assert!(bundle_text.ends_with(&fs::read_to_string(kept.join("ca.crt")).unwrap()));
    let sums = fs::read_to_string(out.join("SHA256SUMS")).unwrap();
    assert!(sums.contains("  pki/ca-bundle.crt\n"), "{sums}");
    let lock: Value = serde_json::from_slice(&fs::read(&lock_path).unwrap()).unwrap();
    assert_eq!(lock["registry_ca"]["fingerprint"], new.as_str());

    // Across the gap: planned, carried and applied as a change of the CA.
    let up = lab
        .seedforge()
        .args([
            "plan",
            "--config",
            lab.config_arg(),
            "--upgrade-from",
            "v1.json",
            "--json",
        ])
        .run()
        .json();
    let changes = &up["upgrade"]["delta"]["doc"]["changes"]["ca"];
    assert_eq!(changes["old"], old.as_str(), "{up:#}");
    assert_eq!(changes["new"], new.as_str(), "{up:#}");
    let steps = up["upgrade"]["steps"].as_array().unwrap();
    let before_apply: Vec<&Value> = steps
        .iter()
        .take_while(|s| !s["run"].as_str().unwrap().starts_with("seedforge apply"))
        .collect();
    let trust = before_apply
        .iter()
        .filter(|s| s["run"].as_str().unwrap().contains("ca-bundle.crt"))
        .count();
    assert_eq!(
        trust, 3,
        "one trust step per node before the apply: {steps:#?}"
    );
    let d = lab.delta("v1.json", "delta").arg("--json").run().json();
    assert_eq!(d["changes"]["ca"]["old"], old.as_str(), "{d:#}");
    assert_eq!(d["changes"]["ca"]["new"], new.as_str(), "{d:#}");
    // The same delta without its changes.ca (as a seedforge that did not check the CA
    // wrote it): apply refuses it, naming both, and the far side is as it was.
    let silent = lab.root().join("silent");
    crate::common::copy_tree(&lab.root().join("delta"), &silent, &|_| false);
    let doc = fs::read_to_string(silent.join("delta.json")).unwrap();
    let mut value: Value = serde_json::from_str(&doc).unwrap();
    value["changes"].as_object_mut().unwrap().remove("ca");
    let edited = serde_json::to_string_pretty(&value).unwrap() + "\n";
    fs::write(silent.join("delta.json"), &edited).unwrap();
    let sums = fs::read_to_string(silent.join("SHA256SUMS")).unwrap();
    let sums: String = sums
        .lines()
        .map(|l| match l.strip_suffix("  delta.json") {
            Some(_) => format!(
                "{}  delta.json\n",
                crate::common::sha256_bytes(edited.as_bytes())
            ),
            None => format!("{l}\n"),
        })
        .collect();
    fs::write(silent.join("SHA256SUMS"), sums).unwrap();
    let far_before = snapshot(&far);
    let r = crate::common::far_side(&far)
        .arg("apply")
        .arg(&silent)
        .args(["--to", "fixtures/lab/out"])
        .expect(2)
        .run();
    assert!(r.stderr.contains("no changes.ca"), "{}", r.stderr);
    assert!(r.stderr.contains(&receipt_ca), "{}", r.stderr);
    assert_same_tree(&far_before, &snapshot(&far), "a silent CA change refused");
    let applied = crate::common::far_side(&far)
        .arg("apply")
        .arg(lab.root().join("delta"))
        .args(["--to", "fixtures/lab/out", "--json"])
        .run()
        .json();
    assert_eq!(applied["changes"]["ca"]["new"], new.as_str(), "{applied:#}");
    let far_bundle = far.join("fixtures/lab/out/pki/ca-bundle.crt");
    assert_eq!(fingerprints(&far_bundle), [new.clone(), old.clone()]);

    // The next build drops the old CA: the nodes trust the new one alone.
    let plan = lab
        .seedforge()
        .args(["plan", "--config", lab.config_arg(), "--json"])
        .run()
        .json();
    assert!(!plan.to_string().contains("ca-bundle.crt"), "{plan:#}");
    let next = lab.seedforge().args(build).arg("--json").run().json();
    assert!(next["pki"]["changes"].is_null(), "{next:#}");
    assert!(!bundle.exists());
    assert_eq!(fingerprints(&pki.join("ca.crt")), [new]);
    let sums = fs::read_to_string(out.join("SHA256SUMS")).unwrap();
    assert!(!sums.contains("ca-bundle.crt"), "{sums}");
    Cmd::seedforge().arg("verify").arg(&out).run();
}
