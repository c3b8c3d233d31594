//! The mistakes an operator makes a year later, each ended by `delta` before the medium
//! leaves or by `apply` on arrival, never with exit 0 and a wrong far side: a node taken
//! out of the config leaves none of its token-bearing files on the far side; an input
//! edited after the build is refused by `delta` (exit 2, naming the file and both digests),
//! and so is a local chart edited since (naming the chart and its file); a file taken out
//! of a `manifests:` folder is removed on the far side too (an edited copy refused); a
//! carried config file other than the one the record names is refused by `verify`;
//! an unsigned delta for a signed far side is refused by `delta` (exit 2) unless
//! `--allow-unsigned` says so; a truncated `delta.json` or a damaged `manifest.json` is
//! named as such, not as a values file or a signature; a rebuild that differs on the far
//! side names the first file that differs before anything is said of signatures. Each runs
//! a near side that builds, a far side (a copy, with no network where a namespace can be
//! made) that writes the receipt, `delta`, and `apply` offline.

use crate::common::{self, Cmd, Lab};
use std::fs;
use std::path::{Path, PathBuf};

fn sums(out: &Path) -> String {
    fs::read_to_string(out.join("SHA256SUMS")).unwrap()
}

/// `seedforge apply DELTA --to fixtures/lab/out` on the far side `far`, offline.
fn apply_far(far: &Path, delta: &Path) -> Cmd {
    common::far_side(far)
        .arg("apply")
        .arg(delta)
        .args(["--to", "fixtures/lab/out"])
}

/// The far side's receipt of its output, written on the near side as `to`.
fn far_receipt(lab: &Lab, far: &Path, to: &str) {
    common::far_side(far)
        .args(["receipt", "fixtures/lab/out", "-o"])
        .arg(lab.root().join(to))
        .run();
}

/// The lab's config with `edit` applied to its text.
fn edit_config(lab: &Lab, edit: impl Fn(String) -> String) {
    let config = lab.lab_dir().join("seedforge.yaml");
    let text = fs::read_to_string(&config).unwrap();
    let edited = edit(text.clone());
    assert_ne!(edited, text, "the edit changes the config");
    fs::write(&config, edited).unwrap();
}

/// Signs the lab's output with an Ed25519 key pair made by openssl (`seal:` in the config);
/// returns the public key's path.
fn sign_lab(lab: &Lab) -> PathBuf {
    let dir = lab.lab_dir();
    Cmd::new("openssl")
        .args(["genpkey", "-algorithm", "ed25519", "-out", "medium.key"])
        .cwd(&dir)
        .run();
    Cmd::new("openssl")
        .args(["pkey", "-in", "medium.key", "-pubout", "-out", "medium.pub"])
        .cwd(&dir)
        .run();
    edit_config(lab, |t| {
        t + "\nseal:\n  key: medium.key\n  public_key: medium.pub\n"
    });
    dir.join("medium.pub")
}

/// The far side of a signed lab: a copy without the private key.
fn signed_far_copy(lab: &Lab) -> PathBuf {
    let far = lab.far_copy("far");
    fs::remove_file(far.join("fixtures/lab/medium.key")).unwrap();
    far
}

/// A ConfigMap manifest of `name` at `version`.
fn config_map(name: &str, version: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: default\ndata:\n  version: \"{version}\"\n"
    )
}

#[test]
fn a_delta_that_drops_a_node_leaves_none_of_its_token_bearing_files_on_the_far_side() {
    let lab = Lab::new();
    lab.build();
    let far = lab.far_copy("far");
    let far_out = far.join("fixtures/lab/out");
    far_receipt(&lab, &far, "v1.json");
    let gone = [
        "nodes/lab-agent2/user-data",
        "nodes/lab-agent2/meta-data",
        "iso/seed-lab-agent2.iso",
    ];
    for rel in gone {
        assert!(far_out.join(rel).is_file(), "{rel}");
    }
    // v2: lab-agent2 taken out of the config. The near side's build removes its files.
    edit_config(&lab, |t| {
        t.replace(
            "  - name: lab-agent2\n    role: agent\n    address: 192.168.6.12/24\n",
            "",
        )
    });
    lab.build();
    assert!(!lab.out_dir().join("nodes/lab-agent2").exists());
    lab.delta("v1.json", "delta").run();
    // The same far side, applied with --json: the report lists what was removed, the
    // node's token-bearing files first.
    let twin = lab.root().join("twin");
    common::copy_tree(&far, &twin, &|_| false);
    let report = apply_far(&twin, &lab.root().join("delta"))
        .arg("--json")
        .run()
        .json();
    let removed: Vec<&str> = (report["removed"].as_array().unwrap().iter())
        .map(|v| v.as_str().unwrap())
        .collect();
    for rel in gone {
        assert!(removed.contains(&rel), "{rel}: {report:#}");
    }
    let token_bearing = |r: &&str| r.starts_with("nodes/") || r.starts_with("iso/");
    let first_other = removed.iter().position(|r| !token_bearing(r));
    assert!(
        first_other.is_none_or(|i| removed[i..].iter().all(|r| !token_bearing(r))),
        "the node's files are not removed first: {report:#}"
    );
    let applied = apply_far(&far, &lab.root().join("delta")).run();
    assert!(applied.stdout.contains("applied"), "{}", applied.stdout);
    let line = applied
        .stdout
        .lines()
        .find(|l| l.contains("removed (the new seal no longer lists them): "))
        .unwrap_or_else(|| panic!("no removed line: {}", applied.stdout));
    for rel in gone {
        assert!(line.contains(rel), "{rel}: {line}");
    }
    // None of the node's files is left, its folder neither; the far side is the near
    // side's output file for file, and nothing in it is unsealed.
    for rel in gone {
        assert!(!far_out.join(rel).exists(), "{rel} left after the apply");
    }
    assert!(!far_out.join("nodes/lab-agent2").exists());
    let unsealed: Vec<String> = common::files_under(&far_out)
        .into_iter()
        .filter_map(|p| {
            let rel = p
                .strip_prefix(&far_out)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            (!rel.starts_with(".seedforge")).then_some(rel)
        })
        .filter(|rel| !sums(&far_out).contains(&format!("  {rel}\n")) && rel != "SHA256SUMS")
        .collect();
    assert!(
        unsealed.is_empty(),
        "unsealed after the apply: {unsealed:?}"
    );
    crate::delta::assert_same_output(&far_out, &lab.out_dir());
    let verified = common::far_side(&far)
        .args(["verify", "fixtures/lab/out"])
        .run();
    assert_eq!(verified.code, Some(0));
    // The far side's own offline build gives the same output, and clean finds nothing of
    // the node to name.
    common::far_side(&far)
        .args([
            "build",
            "--offline",
            "--config",
            "fixtures/lab/seedforge.yaml",
        ])
        .run();
    assert_eq!(sums(&far_out), sums(&lab.out_dir()));
    assert!(!far_out.join("nodes/lab-agent2").exists());
    let cleaned = common::far_side(&far)
        .args(["clean", "fixtures/lab/out", "--dry-run"])
        .any_status()
        .run();
    assert!(
        !format!("{}{}", cleaned.stdout, cleaned.stderr).contains("lab-agent2"),
        "{}{}",
        cleaned.stdout,
        cleaned.stderr
    );
}

#[test]
fn an_input_edited_after_the_build_is_refused_by_delta_naming_it_and_both_digests() {
    let lab = Lab::new();
    let dir = lab.lab_dir();
    fs::write(dir.join("app.yaml"), config_map("app", "1")).unwrap();
    edit_config(&lab, |t| t + "manifests:\n  - app.yaml\n");
    lab.build();
    let far = lab.far_copy("far");
    far_receipt(&lab, &far, "v1.json");
    // v2 built, then the manifest edited again without a build: the delta would carry the
    // edit beside a seal of what the build read.
    fs::write(dir.join("app.yaml"), config_map("app", "2")).unwrap();
    lab.build();
    let built = common::sha256_bytes(config_map("app", "2").as_bytes());
    fs::write(dir.join("app.yaml"), config_map("app", "3")).unwrap();
    let now = common::sha256_bytes(config_map("app", "3").as_bytes());
    let refused = lab.delta("v1.json", "delta").expect(2).run();
    for said in [
        "fixtures/lab/app.yaml",
        &format!("the build read sha256 {built}"),
        &format!("the folder holds sha256 {now} now"),
        "build first",
    ] {
        assert!(refused.stderr.contains(said), "{said}: {}", refused.stderr);
    }
    assert!(!lab.root().join("delta").exists());
    let j = lab
        .delta("v1.json", "delta")
        .arg("--json")
        .expect(2)
        .run()
        .json();
    assert_eq!(j["error"]["code"], 2, "{j}");
    // As the build read it, the delta is made.
    fs::write(dir.join("app.yaml"), config_map("app", "2")).unwrap();
    lab.delta("v1.json", "probe").run();
    fs::remove_dir_all(lab.root().join("probe")).unwrap();
    // Built again: the delta is made and the far side applies it offline.
    fs::write(dir.join("app.yaml"), config_map("app", "3")).unwrap();
    lab.build();
    lab.delta("v1.json", "delta").run();
    apply_far(&far, &lab.root().join("delta")).run();
    crate::delta::assert_same_output(&far.join("fixtures/lab/out"), &lab.out_dir());
    assert_eq!(
        fs::read_to_string(far.join("fixtures/lab/app.yaml")).unwrap(),
        config_map("app", "3")
    );
    // What the build read of it is sealed in its manifest.json.
    let manifest = common::read_json(&lab.out_dir().join("manifest.json"));
    let read = common::sha256_bytes(config_map("app", "3").as_bytes());
    assert_eq!(
        manifest["inputs"]["other"],
        serde_json::json!([{"path": "app.yaml", "sha256": read}]),
        "{manifest:#}"
    );
}

#[test]
fn an_unsigned_delta_for_a_signed_far_side_is_refused_by_delta_unless_asked_for() {
    let lab = Lab::new();
    sign_lab(&lab);
    lab.build();
    let far = signed_far_copy(&lab);
    let far_out = far.join("fixtures/lab/out");
    far_receipt(&lab, &far, "v1.json");
    let key_id = common::read_json(&lab.out_dir().join("manifest.json"))["signed_by"]
        .as_str()
        .unwrap()
        .to_string();
    // v2: the near side unsigned (its seal: dropped, the recorded key removed on purpose).
    edit_config(&lab, |t| {
        t[..t.find("\nseal:\n").unwrap()].to_string() + "\n"
    });
    fs::remove_file(lab.out_dir().join("keys/seal.pub")).unwrap();
    lab.build();
    assert!(!lab.out_dir().join("manifest.json.sigstore.json").exists());
    let refused = lab.delta("v1.json", "delta").expect(2).run();
    for said in [
        "fixtures/lab/out/manifest.json.sigstore.json",
        "the far side's output is signed",
        &format!("key id {key_id}"),
        "v1.json",
        "--allow-unsigned",
        "nothing was written",
    ] {
        assert!(refused.stderr.contains(said), "{said}: {}", refused.stderr);
    }
    assert!(!lab.root().join("delta").exists());
    // The receipt says so.
    let receipt = common::read_json(&lab.root().join("v1.json"));
    assert_eq!(receipt["signed_by"], key_id.as_str(), "{receipt:#}");
    // Asked for: made, and the far side takes it only when asked too.
    lab.delta("v1.json", "delta").arg("--allow-unsigned").run();
    let before = sums(&far_out);
    let refused = apply_far(&far, &lab.root().join("delta")).expect(1).run();
    assert!(refused.stderr.contains("not signed"), "{}", refused.stderr);
    assert_eq!(sums(&far_out), before);
    apply_far(&far, &lab.root().join("delta"))
        .arg("--allow-unsigned")
        .run();
    crate::delta::assert_same_output(&far_out, &lab.out_dir());
    // A receipt of an unsigned far side asks nothing of the next delta.
    far_receipt(&lab, &far, "v2.json");
    assert!(
        common::read_json(&lab.root().join("v2.json"))
            .get("signed_by")
            .is_none()
    );
    edit_config(&lab, |t| t.replace("192.168.6.12/24", "192.168.6.22/24"));
    lab.build();
    lab.delta("v2.json", "delta-2").run();
}

/// A signed lab whose v2 carries a changed `manifests:` file (a config file the signed
/// manifest does not record), its far side, and the delta: (lab, far, delta, public key).
fn signed_delta_with_a_config_file() -> (Lab, PathBuf, PathBuf, PathBuf) {
    let lab = Lab::new();
    let public = sign_lab(&lab);
    let dir = lab.lab_dir();
    fs::write(dir.join("app.yaml"), config_map("app", "1")).unwrap();
    edit_config(&lab, |t| t + "manifests:\n  - app.yaml\n");
    lab.build();
    let far = signed_far_copy(&lab);
    far_receipt(&lab, &far, "v1.json");
    fs::write(dir.join("app.yaml"), config_map("app", "2")).unwrap();
    lab.build();
    lab.delta("v1.json", "delta").run();
    let delta = lab.root().join("delta");
    assert!(delta.join("config/app.yaml").is_file());
    (lab, far, delta, public)
}

#[test]
fn a_truncated_delta_json_and_a_damaged_manifest_json_are_named_as_such() {
    let (lab, far, delta, public) = signed_delta_with_a_config_file();
    let far_out = far.join("fixtures/lab/out");
    let before = common::snapshot(&far_out);
    // delta.json cut short on the way: named, not the values file beside it.
    let json = delta.join("delta.json");
    let whole = fs::read(&json).unwrap();
    fs::write(&json, &whole[..whole.len() / 2]).unwrap();
    for verify in [false, true] {
        let cmd = if verify {
            lab.seedforge()
                .args(["verify", "--key"])
                .arg(&public)
                .arg(&delta)
        } else {
            apply_far(&far, &delta).arg("--key").arg(&public)
        };
        let r = cmd.expect(1).run();
        for said in ["delta/delta.json: hashes to", "truncated", "carry it again"] {
            assert!(r.stderr.contains(said), "{said}: {}", r.stderr);
        }
        assert!(!r.stderr.contains("app.yaml"), "{}", r.stderr);
    }
    fs::write(&json, &whole).unwrap();
    common::assert_same_tree(
        &before,
        &common::snapshot(&far_out),
        "a truncated delta.json",
    );
    // The carried manifest.json damaged on the way: named, before its signature.
    let manifest = delta.join("out/manifest.json");
    let whole = fs::read(&manifest).unwrap();
    common::flip_byte(&manifest, 100);
    for verify in [false, true] {
        let cmd = if verify {
            lab.seedforge()
                .args(["verify", "--key"])
                .arg(&public)
                .arg(&delta)
        } else {
            apply_far(&far, &delta).arg("--key").arg(&public)
        };
        let r = cmd.expect(1).run();
        for said in ["delta/out/manifest.json: hashes to", "damaged on the way"] {
            assert!(r.stderr.contains(said), "{said}: {}", r.stderr);
        }
    }
    fs::write(&manifest, &whole).unwrap();
    common::assert_same_tree(
        &before,
        &common::snapshot(&far_out),
        "a damaged manifest.json",
    );
    // Whole again, it applies.
    apply_far(&far, &delta).arg("--key").arg(&public).run();
    crate::delta::assert_same_output(&far_out, &lab.out_dir());
}

#[test]
fn a_signed_rebuild_that_differs_on_the_far_side_names_the_first_file_before_signatures() {
    let lab = Lab::new();
    let public = sign_lab(&lab);
    lab.build();
    let far = signed_far_copy(&lab);
    let far_out = far.join("fixtures/lab/out");
    far_receipt(&lab, &far, "v1.json");
    edit_config(&lab, |t| t.replace("192.168.6.12/24", "192.168.6.22/24"));
    lab.build();
    lab.delta("v1.json", "delta").run();
    // The far side's local image source is not the near side's: its pause image is
    // another one of the layout.
    let index = far.join("fixtures/images/oci/index.json");
    let mut doc: serde_json::Value = serde_json::from_slice(&fs::read(&index).unwrap()).unwrap();
    let manifests = doc["manifests"].as_array_mut().unwrap();
    let name = |m: &serde_json::Value| {
        m["annotations"]["org.opencontainers.image.ref.name"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let other = manifests
        .iter()
        .find(|m| name(m) == "klipper-lb:v0.4.13")
        .unwrap()
        .clone();
    for m in manifests.iter_mut() {
        if name(m) == "mirrored-pause:3.6" {
            for field in ["digest", "size", "mediaType"] {
                m[field] = other[field].clone();
            }
        }
    }
    fs::write(&index, serde_json::to_vec(&doc).unwrap()).unwrap();
    let before = common::snapshot(&far_out);
    let r = apply_far(&far, &lab.root().join("delta"))
        .arg("--key")
        .arg(&public)
        .expect(1)
        .run();
    let said = &r.stderr;
    // The first file that differs, with both digests, named before any word of signatures.
    let at = said
        .find("this build wrote")
        .unwrap_or_else(|| panic!("no file named: {said}"));
    let file = said[..at].rsplit_once("fixtures/lab/out/").map(|(_, f)| f);
    assert!(
        file.is_some_and(|f| f.trim_end_matches(": ").len() > 2),
        "{said}"
    );
    assert!(
        said.find("signature").is_none_or(|s| s > at),
        "signatures said first: {said}"
    );
    assert!(said.contains("the first file that differs"), "{said}");
    assert!(!said.contains(".seedforge-"), "{said}");
    common::assert_same_tree(
        &before,
        &common::snapshot(&far_out),
        "a rebuild that differs",
    );
}

#[test]
fn an_image_whose_local_source_folder_is_new_to_the_far_side_is_rebuilt_from_the_carried_blobs() {
    let lab = Lab::new();
    crate::delta::without_traefik(&lab);
    lab.build();
    let far = lab.far_copy("far");
    let far_out = far.join("fixtures/lab/out");
    far_receipt(&lab, &far, "v1.json");
    // v2: traefik, from a source folder only the near side has.
    crate::delta::as_shipped(&lab);
    let new_folder = lab.root().join("fixtures/images-new");
    fs::create_dir_all(&new_folder).unwrap();
    fs::copy(
        lab.root().join("fixtures/images/traefik.oci.tar"),
        new_folder.join("traefik.oci.tar"),
    )
    .unwrap();
    let list = lab.lab_dir().join("images.txt");
    let text = fs::read_to_string(&list).unwrap().replace(
        "oci-archive:../images/traefik.oci.tar ",
        "oci-archive:../images-new/traefik.oci.tar ",
    );
    assert!(text.contains("images-new"));
    fs::write(&list, text).unwrap();
    lab.build();
    let made = lab.delta("v1.json", "delta").arg("--json").run().json();
    assert_eq!(made["blobs"]["count"], 3, "{made:#}");
    assert!(!far.join("fixtures/images-new").exists());
    // One medium: the far side's rebuild takes traefik from the blobs the delta carried,
    // as its signed manifest.json records it, and says so.
    let applied = apply_far(&far, &lab.root().join("delta")).run();
    assert!(applied.stdout.contains("applied"), "{}", applied.stdout);
    assert!(
        applied.stderr.contains("images-new/traefik.oci.tar")
            && applied.stderr.contains("is not here"),
        "{}",
        applied.stderr
    );
    crate::delta::assert_same_output(&far_out, &lab.out_dir());
    // Its own offline build after the apply, the folder still missing: the same output.
    common::far_side(&far)
        .args([
            "build",
            "--offline",
            "--config",
            "fixtures/lab/seedforge.yaml",
        ])
        .run();
    assert_eq!(sums(&far_out), sums(&lab.out_dir()));
    // An image neither here nor in the output: the error names its source.
    let list = far.join("fixtures/lab/images.txt");
    let text = fs::read_to_string(&list).unwrap()
        + "oci-archive:../images-new/other.oci.tar docker.io/acme/other:1.0\n";
    fs::write(&list, text).unwrap();
    let refused = common::far_side(&far)
        .args([
            "build",
            "--offline",
            "--config",
            "fixtures/lab/seedforge.yaml",
        ])
        .any_status()
        .run();
    assert_ne!(refused.code, Some(0));
    assert!(
        refused.stderr.contains("images-new/other.oci.tar"),
        "{}",
        refused.stderr
    );
}

/// A receipt's digest made anew over its canonical form (every field but `digest`, keys
/// sorted at every depth, compact), as an edit by hand would need.
fn redigest(receipt: &mut serde_json::Value) {
    fn sorted(v: &serde_json::Value) -> serde_json::Value {
        match v {
            serde_json::Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                serde_json::Value::Object(
                    keys.into_iter()
                        .map(|k| (k.clone(), sorted(&m[k])))
                        .collect(),
                )
            }
            serde_json::Value::Array(a) => serde_json::Value::Array(a.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    receipt.as_object_mut().unwrap().remove("digest");
    let canonical = serde_json::to_vec(&sorted(receipt)).unwrap();
    receipt["digest"] = format!("sha256:{}", common::sha256_bytes(&canonical)).into();
}

/// A receipt the far side wrote before it applied a delta the near side made since, used
/// again a year later: `delta` and `plan --upgrade-from` say "stale receipt" plainly
/// (exit 0: the medium may never have crossed), naming the delta sent since; the record
/// says it, and so does the page. A receipt written after the apply is current. One
/// written more than 30 days ago is stale by its age.
#[test]
fn a_stale_receipt_is_named_as_such_by_delta_and_plan() {
    let lab = Lab::new();
    lab.build();
    let far = lab.far_copy("far");
    far_receipt(&lab, &far, "v1.json");
    edit_config(&lab, |t| t.replace("192.168.6.12/24", "192.168.6.22/24"));
    lab.build();
    let first = lab.delta("v1.json", "d1").run();
    assert!(!first.stderr.contains("stale receipt"), "{}", first.stderr);
    apply_far(&far, &lab.root().join("d1")).run();
    let d1_sha = common::sha256_file(&lab.root().join("d1/delta.json"));
    // A year later: v3, and the old receipt at hand.
    edit_config(&lab, |t| t.replace("192.168.6.22/24", "192.168.6.32/24"));
    lab.build();
    let stale = lab.delta("v1.json", "d2").run();
    for said in [
        "v1.json: stale receipt: it describes seal",
        "this side has since made a delta for cluster lab",
        &format!("delta.json sha256 {}", &d1_sha[..12]),
        "ask the far side for a new receipt",
    ] {
        assert!(stale.stderr.contains(said), "{said}: {}", stale.stderr);
    }
    let record = common::read_json(&lab.root().join("d2/delta.json"));
    let reasons = record["base"]["stale"].as_array().unwrap();
    assert_eq!(reasons.len(), 1, "{record:#}");
    assert!(reasons[0].as_str().unwrap().starts_with("stale receipt: "));
    let page = fs::read_to_string(lab.root().join("d2/review.html")).unwrap();
    assert!(page.contains("Stale receipt"), "{page}");
    let json = lab.delta("v1.json", "d2-json").arg("--json").run().json();
    assert!(
        json["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().contains("stale receipt")),
        "{json:#}"
    );
    let plan = lab
        .seedforge()
        .args([
            "plan",
            "--config",
            "fixtures/lab/seedforge.yaml",
            "--upgrade-from",
            "v1.json",
        ])
        .run();
    assert!(plan.stderr.contains("stale receipt"), "{}", plan.stderr);
    let said = lab.seedforge().args(["verify", "d2"]).run().stdout;
    assert!(said.contains("STALE: stale receipt"), "{said}");
    // Applied there, the delta made against the stale receipt is refused, as said.
    let refused = apply_far(&far, &lab.root().join("d2")).expect(2).run();
    assert!(
        refused
            .stderr
            .contains("not the output the delta was made against")
    );
    // A receipt written after the apply is current.
    far_receipt(&lab, &far, "v2.json");
    let current = lab.delta("v2.json", "d3").arg("--json").run();
    assert!(
        !current.stderr.contains("stale receipt"),
        "{}",
        current.stderr
    );
    assert_eq!(current.json()["base"]["stale"], serde_json::json!([]));
    // The same, written 40 days ago.
    let mut old = common::read_json(&lab.root().join("v2.json"));
    let written = old["written_at"].as_u64().unwrap();
    old["written_at"] = (written - 40 * 86_400).into();
    redigest(&mut old);
    fs::write(
        lab.root().join("v2-old.json"),
        serde_json::to_vec_pretty(&old).unwrap(),
    )
    .unwrap();
    let aged = lab.delta("v2-old.json", "d4").run();
    assert!(
        aged.stderr
            .contains("v2-old.json: stale receipt: written 40 days ago"),
        "{}",
        aged.stderr
    );
    apply_far(&far, &lab.root().join("d3")).run();
    crate::delta::assert_same_output(&far.join("fixtures/lab/out"), &lab.out_dir());
}

/// `plan --upgrade-from` checks the inputs the build read as `delta` does: a `manifests:`
/// file edited after the build is named with what the build read and what the folder
/// holds, on stderr and in `--json`'s warnings, and the plan says the output is not
/// current (exit 0: a plan refuses nothing; `delta` then refuses, exit 2).
#[test]
fn plan_upgrade_from_names_an_input_edited_after_the_build_with_both_digests() {
    let lab = Lab::new();
    let dir = lab.lab_dir();
    fs::write(dir.join("app.yaml"), config_map("app", "1")).unwrap();
    edit_config(&lab, |t| t + "manifests:\n  - app.yaml\n");
    lab.build();
    lab.receipt("v1.json").run();
    fs::write(dir.join("app.yaml"), config_map("app", "2")).unwrap();
    let built = common::sha256_bytes(config_map("app", "1").as_bytes());
    let now = common::sha256_bytes(config_map("app", "2").as_bytes());
    let plan = |json: bool| {
        let cmd = lab.seedforge().args([
            "plan",
            "--config",
            "fixtures/lab/seedforge.yaml",
            "--upgrade-from",
            "v1.json",
        ]);
        if json { cmd.arg("--json") } else { cmd }.run()
    };
    let text = plan(false);
    for said in [
        "fixtures/lab/app.yaml: the build read sha256 ".to_string() + &built,
        format!("the folder holds sha256 {now} now"),
        "build first".to_string(),
    ] {
        assert!(text.stderr.contains(&said), "{said}: {}", text.stderr);
    }
    assert!(
        text.stdout
            .contains("is not the build of the config as it is now"),
        "{}",
        text.stdout
    );
    let json = plan(true).json();
    assert_eq!(json["upgrade"]["output_current"], false, "{json:#}");
    assert!(
        json["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().contains(&format!(
                "the build read sha256 {built}, the folder holds sha256 {now} now"
            ))),
        "{json:#}"
    );
    let refused = lab.delta("v1.json", "delta").expect(2).run();
    assert!(refused.stderr.contains(&now), "{}", refused.stderr);
}

/// A chart kept beside the config (`charts[].path`) edited after the build: the far side
/// takes the chart from the output, so the edit would never cross. `delta` refuses the
/// output (exit 2), naming the chart, its folder and the file that changed, and
/// `plan --upgrade-from` says it; built again, the delta is made and applies.
#[test]
fn a_local_chart_edited_after_the_build_is_refused_by_delta_naming_the_file() {
    let lab = Lab::new();
    edit_config(&lab, |t| {
        t + "charts:\n  - name: demo\n    path: charts/demo-app\n"
    });
    lab.build();
    let far = lab.far_copy("far");
    far_receipt(&lab, &far, "v1.json");
    let template = lab
        .lab_dir()
        .join("charts/demo-app/templates/deployment.yaml");
    let text = fs::read_to_string(&template).unwrap();
    fs::write(&template, format!("{text}# edited after the build\n")).unwrap();
    let refused = lab.delta("v1.json", "delta").expect(2).run();
    for said in [
        "chart demo (path charts/demo-app) changed since the build",
        "demo-app/templates/deployment.yaml changed",
        "charts/demo-1.2.3.tgz",
        "build first",
    ] {
        assert!(refused.stderr.contains(said), "{said}: {}", refused.stderr);
    }
    assert!(!lab.root().join("delta").exists());
    let planned = lab
        .seedforge()
        .args([
            "plan",
            "--config",
            lab.config_arg(),
            "--upgrade-from",
            "v1.json",
        ])
        .run();
    assert!(
        planned
            .stderr
            .contains("demo-app/templates/deployment.yaml changed"),
        "{}",
        planned.stderr
    );
    // A file added to the chart is named as added.
    fs::write(
        lab.lab_dir().join("charts/demo-app/templates/extra.yaml"),
        "# nothing\n",
    )
    .unwrap();
    let refused = lab.delta("v1.json", "delta").expect(2).run();
    assert!(
        refused
            .stderr
            .contains("demo-app/templates/extra.yaml added"),
        "{}",
        refused.stderr
    );
    // Built again: the delta is made and the far side applies it offline.
    lab.build();
    lab.delta("v1.json", "delta").run();
    apply_far(&far, &lab.root().join("delta")).run();
    crate::delta::assert_same_output(&far.join("fixtures/lab/out"), &lab.out_dir());
}

/// A file taken out of a `manifests:` folder after the far side's build: the delta names
/// it as removed, and `apply` removes it from the far side's folder (where the offline
/// build would read it again and make another seed than the delta's seal) when it is the
/// file the far side's output was built from. A far side whose copy was edited is refused
/// by name, with its folder and output as they were.
#[test]
fn a_file_removed_from_a_manifests_folder_is_removed_on_the_far_side_too() {
    let lab = Lab::new();
    let dir = lab.lab_dir();
    fs::create_dir(dir.join("apps")).unwrap();
    fs::write(dir.join("apps/a.yaml"), config_map("a", "1")).unwrap();
    fs::write(dir.join("apps/b.yaml"), config_map("b", "1")).unwrap();
    edit_config(&lab, |t| t + "manifests:\n  - apps\n");
    lab.build();
    let far = lab.far_copy("far");
    let edited = lab.far_copy("edited");
    far_receipt(&lab, &far, "v1.json");
    fs::remove_file(dir.join("apps/b.yaml")).unwrap();
    lab.build();
    let made = lab.delta("v1.json", "delta").run();
    assert!(
        (made.stdout.clone() + &made.stderr).contains("apps/b.yaml: removed"),
        "{}{}",
        made.stdout,
        made.stderr
    );
    // Edited on the far side: refused by name, nothing changed.
    fs::write(
        edited.join("fixtures/lab/apps/b.yaml"),
        config_map("b", "edited"),
    )
    .unwrap();
    let before = common::snapshot(&edited.join("fixtures"));
    let refused = apply_far(&edited, &lab.root().join("delta"))
        .any_status()
        .run();
    assert_ne!(refused.code, Some(0), "{}", refused.stderr);
    for said in [
        "apps/b.yaml",
        "the near side removed it",
        "nothing was changed",
    ] {
        assert!(refused.stderr.contains(said), "{said}: {}", refused.stderr);
    }
    assert_eq!(common::snapshot(&edited.join("fixtures")), before);
    // As built: removed, and the far side is the near side's output.
    apply_far(&far, &lab.root().join("delta")).run();
    assert!(!far.join("fixtures/lab/apps/b.yaml").exists());
    assert!(far.join("fixtures/lab/apps/a.yaml").is_file());
    crate::delta::assert_same_output(&far.join("fixtures/lab/out"), &lab.out_dir());
    // And the next delta applies.
    fs::write(dir.join("apps/a.yaml"), config_map("a", "2")).unwrap();
    lab.build();
    far_receipt(&lab, &far, "v2.json");
    lab.delta("v2.json", "delta2").run();
    apply_far(&far, &lab.root().join("delta2")).run();
    crate::delta::assert_same_output(&far.join("fixtures/lab/out"), &lab.out_dir());
}

/// A carried config file that is not the one the delta's record says the near side's
/// build read (its `SHA256SUMS` and statement made to agree with it, as on an unsigned
/// medium anyone can rewrite): `verify DELTA` refuses it naming the file and both digests,
/// as `apply` does, before anything is written.
#[test]
fn verify_compares_each_carried_config_file_with_the_record() {
    let lab = Lab::new();
    let dir = lab.lab_dir();
    fs::write(dir.join("app.yaml"), config_map("app", "1")).unwrap();
    edit_config(&lab, |t| t + "manifests:\n  - app.yaml\n");
    lab.build();
    let far = lab.far_copy("far");
    far_receipt(&lab, &far, "v1.json");
    fs::write(dir.join("app.yaml"), config_map("app", "2")).unwrap();
    lab.build();
    lab.delta("v1.json", "delta").run();
    let delta = lab.root().join("delta");
    let carried = delta.join("config/app.yaml");
    let read = common::sha256_bytes(config_map("app", "2").as_bytes());
    assert_eq!(common::sha256_bytes(&fs::read(&carried).unwrap()), read);
    let other = config_map("app", "3");
    let planted = common::sha256_bytes(other.as_bytes());
    fs::write(&carried, &other).unwrap();
    for listing in ["SHA256SUMS", "statement.json"] {
        let path = delta.join(listing);
        if let Ok(text) = fs::read_to_string(&path) {
            let text = if listing == "statement.json" {
                let mut doc: serde_json::Value = serde_json::from_str(&text).unwrap();
                if let Some(f) = doc["files"].get_mut("config/app.yaml") {
                    f["sha256"] = serde_json::json!(planted);
                    f["size"] = serde_json::json!(other.len());
                }
                for rel in ["SHA256SUMS"] {
                    if let Some(f) = doc["files"].get_mut(rel) {
                        let sums = fs::read(delta.join(rel)).unwrap();
                        f["sha256"] = serde_json::json!(common::sha256_bytes(&sums));
                        f["size"] = serde_json::json!(sums.len());
                    }
                }
                serde_json::to_string_pretty(&doc).unwrap()
            } else {
                (text.lines())
                    .map(|l| match l.strip_suffix("  config/app.yaml") {
                        Some(_) => format!("{planted}  config/app.yaml\n"),
                        None => format!("{l}\n"),
                    })
                    .collect()
            };
            fs::write(&path, text).unwrap();
        }
    }
    let before = common::snapshot(&far.join("fixtures"));
    for (what, cmd) in [
        ("verify", lab.seedforge().arg("verify").arg(&delta)),
        ("apply", apply_far(&far, &delta)),
    ] {
        let out = cmd.any_status().run();
        assert_ne!(out.code, Some(0), "{what}: {}", out.stderr);
        for said in ["config/app.yaml", &planted, &read] {
            assert!(out.stderr.contains(said), "{what}: {said}: {}", out.stderr);
        }
    }
    assert_eq!(common::snapshot(&far.join("fixtures")), before);
}
