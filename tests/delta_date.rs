//! The build's date travels: a release pipeline builds under `SOURCE_DATE_EPOCH` and signs;
//! `manifest.json`, `build --json`, `delta.json` and `apply --json` carry the date and
//! where it came from; the far side, holding the public key only, applies the signed delta
//! with no `SOURCE_DATE_EPOCH` and with another one, byte for byte the near side's (another
//! one is named in a warning with both dates, never blamed on the signature), and its own
//! `build --offline` keeps the date too. An output or a delta of an older seedforge (no
//! `source_date_from`) is dated as before, and says so, naming both dates.

use crate::common::{self, Cmd, Lab, read_json};
use crate::delta::{apply, assert_same_output, day_two};
use std::fs;
use std::path::Path;

/// The near side's date: the pipeline's `SOURCE_DATE_EPOCH` (the config says 1700000000).
const NEAR: &str = "1750000000";
/// Another date in the far side's environment.
const OTHER: &str = "1760000000";

/// Adds a node to the lab's config: the delta carries the config and the seal, and every
/// seed is derived again on the far side.
fn add_node(lab: &Lab) {
    let config = lab.lab_dir().join("seedforge.yaml");
    let text = fs::read_to_string(&config).unwrap().replace(
        "\n  - name: lab-agent2\n",
        "\n  - name: lab-agent3\n    role: agent\n    address: 192.168.6.13/24\n  - name: lab-agent2\n",
    );
    assert!(text.contains("lab-agent3"));
    fs::write(&config, text).unwrap();
}

fn assert_dated(doc: &serde_json::Value, what: &str) {
    assert_eq!(
        doc["source_date_epoch"], 1_750_000_000u64,
        "{what}: {doc:#}"
    );
    assert_eq!(doc["source_date_from"], "environment", "{what}: {doc:#}");
}

#[test]
fn a_signed_delta_built_under_source_date_epoch_applies_with_none_or_another_here_byte_for_byte() {
    if !common::require_tool("openssl") {
        return;
    }
    let lab = Lab::new();
    let lab_dir = lab.lab_dir();
    crate::delta_repair::key_pair(&lab_dir, "seal");
    let config = lab_dir.join("seedforge.yaml");
    let text = fs::read_to_string(&config).unwrap();
    fs::write(
        &config,
        format!("{text}\nseal:\n  key: seal.pem\n  public_key: seal.pub\n"),
    )
    .unwrap();
    let near_build = || {
        lab.seedforge()
            .env("SOURCE_DATE_EPOCH", NEAR)
            .args(["--json", "build", "--config", lab.config_arg()])
            .run()
            .json()
    };
    assert_dated(&near_build(), "build --json");
    lab.receipt("v1.json").run();
    // The far side: the config folder and the output, the public key only.
    let far = lab.far_copy("far");
    fs::remove_file(far.join("fixtures/lab/seal.pem")).unwrap();
    add_node(&lab);
    assert_dated(&near_build(), "build --json of v2");
    assert_dated(
        &read_json(&lab.out_dir().join("manifest.json")),
        "manifest.json",
    );
    let delta = lab.root().join("delta");
    let report = lab.delta("v1.json", "delta").arg("--json").run().json();
    assert_dated(&report, "delta --json");
    assert_dated(&read_json(&delta.join("delta.json")), "delta.json");
    // A second far side, to apply the same delta under another date.
    let far_other = lab.root().join("far-other");
    common::copy_tree(&far, &far_other, &|_| false);

    // No SOURCE_DATE_EPOCH here (the tests' commands never inherit one): applied, the near side's output byte for byte.
    let r = apply(&far, &delta, "fixtures/lab/out").arg("--json").run();
    assert!(!r.stderr.contains("warning"), "{}", r.stderr);
    let r = r.json();
    assert_eq!(r["outcome"], "applied", "{r:#}");
    assert_dated(&r, "apply --json");
    assert_same_output(&far.join("fixtures/lab/out"), &lab.out_dir());

    // Another SOURCE_DATE_EPOCH here: the delta's date is kept, and both are named.
    let r = apply(&far_other, &delta, "fixtures/lab/out")
        .env("SOURCE_DATE_EPOCH", OTHER)
        .run();
    assert!(
        r.stdout.contains("the delta's signature verifies"),
        "{}",
        r.stdout
    );
    for said in [
        "SOURCE_DATE_EPOCH=1760000000 (2025-10-09T08:53:20Z)",
        "1750000000 (2025-06-15T15:06:40Z, from SOURCE_DATE_EPOCH)",
        "fixtures/lab/out/manifest.json",
    ] {
        assert!(r.stderr.contains(said), "{said}: {}", r.stderr);
    }
    assert!(!r.stderr.contains(".seedforge-"), "{}", r.stderr);
    let other_out = far_other.join("fixtures/lab/out");
    assert_same_output(&other_out, &lab.out_dir());
    // The far side's own offline build keeps the date too, whatever its environment says.
    for env in [None, Some(OTHER)] {
        let mut build = Cmd::seedforge().cwd(&far_other).args([
            "build",
            "--offline",
            "--config",
            "fixtures/lab/seedforge.yaml",
        ]);
        if let Some(v) = env {
            build = build.env("SOURCE_DATE_EPOCH", v);
        }
        build.run();
        assert_same_output(&other_out, &lab.out_dir());
    }
}

/// `delta` as an older seedforge wrote it: no `source_date_from` in its `delta.json` and
/// its `out/manifest.json`, each seal mended to match (the delta is unsigned).
fn as_from_an_older_seedforge(delta: &Path) {
    let strip = |path: &Path| {
        let text = fs::read_to_string(path).unwrap();
        let kept: String = (text.lines())
            .filter(|l| !l.trim_start().starts_with("\"source_date_from\""))
            .map(|l| format!("{l}\n"))
            .collect();
        assert!(kept != text, "{}: no source_date_from", path.display());
        fs::write(path, kept).unwrap();
    };
    let relist = |sums: &Path, rel: &str, file: &Path| {
        let text = fs::read_to_string(sums).unwrap();
        let sha = common::sha256_file(file);
        let text: String = (text.lines())
            .map(|l| match l.split_once("  ") {
                Some((_, p)) if p == rel => format!("{sha}  {p}\n"),
                _ => format!("{l}\n"),
            })
            .collect();
        fs::write(sums, text).unwrap();
    };
    let manifest = delta.join("out/manifest.json");
    let sums = delta.join("out/SHA256SUMS");
    let before = fs::metadata(&manifest).unwrap().len() + fs::metadata(&sums).unwrap().len();
    strip(&manifest);
    relist(&sums, "manifest.json", &manifest);
    let shorter =
        before - fs::metadata(&manifest).unwrap().len() - fs::metadata(&sums).unwrap().len();
    let path = delta.join("delta.json");
    let mut doc = read_json(&path);
    let d = doc.as_object_mut().unwrap();
    assert!(d.remove("source_date_from").is_some());
    d["target_manifest_sha256"] = common::sha256_file(&manifest).into();
    let less = |n: &mut serde_json::Value| *n = (n.as_u64().unwrap() - shorter).into();
    less(&mut d["bytes"]);
    less(&mut d["full_output_bytes"]);
    less(&mut d["seal"]["bytes"]);
    fs::write(&path, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
    for rel in ["delta.json", "out/manifest.json", "out/SHA256SUMS"] {
        relist(&delta.join("SHA256SUMS"), rel, &delta.join(rel));
    }
}

/// An older seedforge's delta is dated as before (`SOURCE_DATE_EPOCH` here first): under
/// another date its rebuild does not match, and the refusal names both dates and the
/// output's file, never the staging copy; its report and an older output's offline build
/// say so.
#[test]
fn an_older_seedforges_delta_or_output_is_dated_as_before_and_says_so_naming_both_dates() {
    let (lab, far) = day_two();
    let delta = lab.root().join("delta");
    as_from_an_older_seedforge(&delta);
    let checked = Cmd::seedforge()
        .args(["--json", "verify"])
        .arg(&delta)
        .run()
        .json();
    assert_eq!(checked["schema"], "seedforge.verify-delta/v2", "{checked}");
    let r = apply(&far, &delta, "fixtures/lab/out")
        .env("SOURCE_DATE_EPOCH", "1700000001")
        .expect(1)
        .run();
    let said = format!("{}{}", r.stdout, r.stderr);
    for s in [
        "the offline build wrote",
        "fixtures/lab/out/",
        "1700000001 (2023-11-14T22:13:21Z)",
        "1700000000 (2023-11-14T22:13:20Z)",
        "SOURCE_DATE_EPOCH=1700000000",
        "older seedforge",
    ] {
        assert!(said.contains(s), "{s}: {said}");
    }
    assert!(!said.contains(".seedforge-"), "{said}");
    let j = apply(&far, &delta, "fixtures/lab/out")
        .env("SOURCE_DATE_EPOCH", "1700000001")
        .arg("--json")
        .expect(1)
        .run()
        .json();
    let message = j["error"]["message"].as_str().unwrap();
    assert!(message.contains("fixtures/lab/out/"), "{j}");
    assert!(message.contains("1700000001"), "{j}");
    assert!(!j.to_string().contains(".seedforge-"), "{j}");

    // An older seedforge's output: its offline build under another date is dated by it,
    // as before, and says so with both dates.
    let out = lab.out_dir();
    let manifest = out.join("manifest.json");
    let text = fs::read_to_string(&manifest).unwrap();
    let old: String = (text.lines())
        .filter(|l| !l.trim_start().starts_with("\"source_date_from\""))
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(old != text, "no source_date_from in manifest.json");
    fs::write(&manifest, &old).unwrap();
    let sums = out.join("SHA256SUMS");
    let sha = common::sha256_file(&manifest);
    let relisted: String = (fs::read_to_string(&sums).unwrap().lines())
        .map(|l| match l.split_once("  ") {
            Some((_, "manifest.json")) => format!("{sha}  manifest.json\n"),
            _ => format!("{l}\n"),
        })
        .collect();
    fs::write(&sums, relisted).unwrap();
    let r = lab
        .seedforge()
        .env("SOURCE_DATE_EPOCH", "1700000001")
        .args(["build", "--offline", "--config", lab.config_arg()])
        .run();
    for s in [
        "older seedforge",
        "1700000000 (2023-11-14T22:13:20Z)",
        "1700000001 (2023-11-14T22:13:21Z, from SOURCE_DATE_EPOCH)",
    ] {
        assert!(r.stderr.contains(s), "{s}: {}", r.stderr);
    }
    let m = read_json(&manifest);
    assert_eq!(m["source_date_epoch"], 1_700_000_001u64, "{m:#}");
    assert_eq!(m["source_date_from"], "environment", "{m:#}");
}
