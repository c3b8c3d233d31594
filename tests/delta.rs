//! Upgrades across the gap: `seedforge receipt` on the far side's output, `seedforge
//! delta` on the near side's newer one. The lab is built without traefik (v1), receipted,
//! built again with it (v2), and the delta since v1's receipt holds exactly the blobs v2's
//! layout reaches and v1's does not, no derived file, and a SHA256SUMS `sha256sum -c`
//! accepts. A receipt changed after it was written, or of an output that no longer matches
//! its seal, is refused; a receipt names no secret. `seedforge apply` lays the delta over a
//! copy of the far side (v1's config folder and output) and rebuilds it offline into the
//! near side's v2, file for file; a damaged delta, another base or a rebuild off the
//! delta's seal leaves the far side as it was, and a kill leaves v1 or v2, never a mix.

use crate::common::{self, Cmd, Lab, blob_names, flip_byte, read_json};
use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

/// The lab as v1: traefik left out of the list and disabled in the cluster.
pub(crate) fn without_traefik(lab: &Lab) {
    let dir = lab.lab_dir();
    let list = dir.join("images.txt");
    let text: String = fs::read_to_string(&list)
        .unwrap()
        .lines()
        .filter(|l| !l.contains("traefik"))
        .map(|l| format!("{l}\n"))
        .collect();
    fs::write(&list, text).unwrap();
    let config = dir.join("seedforge.yaml");
    let text = fs::read_to_string(&config).unwrap().replace(
        "  k3s_version: v1.33.1+k3s1\n",
        "  k3s_version: v1.33.1+k3s1\n  disable: [traefik]\n",
    );
    assert!(text.contains("disable: [traefik]"));
    fs::write(&config, text).unwrap();
}

/// The lab as the repository has it (v2: traefik in).
pub(crate) fn as_shipped(lab: &Lab) {
    for name in ["images.txt", "seedforge.yaml"] {
        fs::copy(
            common::repo_root().join("fixtures/lab").join(name),
            lab.lab_dir().join(name),
        )
        .unwrap();
    }
}

#[test]
fn a_delta_since_a_receipt_carries_only_what_the_far_side_lacks_and_is_sealed() {
    let lab = Lab::new();
    without_traefik(&lab);
    lab.build();
    let v1_blobs = blob_names(&lab.out_layout());
    let out = lab.receipt("v1.json").arg("--json").run();
    let report = out.json();
    let r = read_json(&lab.root().join("v1.json"));
    assert_eq!(report["digest"], r["digest"]);
    assert_eq!(r["format"], "seedforge-receipt");
    assert_eq!(r["receipt_version"], 6);
    // Its time (this side's clock), and no delta applied: the output came whole.
    let written = r["written_at"].as_u64().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(written <= now && now - written < 3600, "{written} {now}");
    assert!(r.get("applied").is_none(), "{r:#}");
    assert_eq!(r["k3s_version"], "v1.33.1+k3s1");
    assert_eq!(r["cluster"], "lab");
    // Every image by name, with the digest manifest.json records.
    let recorded = read_json(&lab.out_dir().join("manifest.json"));
    let images: BTreeSet<(String, String)> = (r["images"].as_array().unwrap().iter())
        .map(|i| (i["destination"].to_string(), i["digest"].to_string()))
        .collect();
    let sealed: BTreeSet<(String, String)> = (recorded["images"].as_array().unwrap().iter())
        .map(|i| (i["destination"].to_string(), i["digest"].to_string()))
        .collect();
    assert_eq!(images, sealed);
    assert_eq!(r["source_date_epoch"], 1_700_000_000);
    // The blobs the layout reaches: every blob of the build's layout (it keeps no stray).
    let listed: BTreeSet<String> = (r["blobs"].as_array().unwrap().iter())
        .map(|b| {
            let d = b["digest"].as_str().unwrap();
            d.strip_prefix("sha256:").unwrap().to_string()
        })
        .collect();
    assert_eq!(listed, v1_blobs);
    let manifest = fs::read(lab.out_dir().join("manifest.json")).unwrap();
    assert_eq!(r["manifest_sha256"], common::sha256_bytes(&manifest));
    // The sealed files but the blobs, each with its sha256 from SHA256SUMS.
    let arts = r["artifacts"].as_array().unwrap();
    assert!(arts.iter().any(|a| a["path"] == "oci/index.json"));
    assert!(
        arts.iter()
            .any(|a| a["path"] == "nodes/lab-server1/user-data")
    );
    assert!(!arts.iter().any(|a| {
        let p = a["path"].as_str().unwrap();
        p.starts_with("oci/blobs/") || p == "manifest.json" || p == "SHA256SUMS"
    }));
    // The config folder is found above the output; the demo's lock records its CA alone
    // (its images come from local sources).
    assert_eq!(
        r["lock_sha256"],
        common::sha256_file(&lab.lab_dir().join("seedforge.lock"))
    );
    let inputs: Vec<&str> = (r["inputs"].as_array().unwrap().iter())
        .map(|i| i["path"].as_str().unwrap())
        .collect();
    assert_eq!(inputs, ["images.txt", "seedforge.yaml"]);
    // Deterministic but for its time: a second receipt says the same of the output.
    lab.receipt("again.json").run();
    let without_time = |name: &str| {
        let mut v = read_json(&lab.root().join(name));
        let o = v.as_object_mut().unwrap();
        o.remove("written_at");
        o.remove("digest");
        v
    };
    assert_eq!(without_time("v1.json"), without_time("again.json"));
    // Its digest is over the sorted compact form without it, as jq prints it.
    if common::require_tool("jq") {
        let canonical = Cmd::new("jq")
            .cwd(lab.root())
            .args(["-cjS", "del(.digest)", "v1.json"])
            .run();
        assert_eq!(
            r["digest"],
            format!(
                "sha256:{}",
                common::sha256_bytes(canonical.stdout.as_bytes())
            )
        );
    }

    // The far side: the v1 config folder and output as carried the first time.
    let far = lab.far_copy("far");

    as_shipped(&lab);
    lab.build();
    let v2_blobs = blob_names(&lab.out_layout());
    let new: BTreeSet<String> = v2_blobs.difference(&v1_blobs).cloned().collect();
    // traefik's manifest, config and own layer; its base layer is shared with v1's images.
    assert_eq!(new.len(), 3, "{new:?}");

    // Without --config, a config edited since the build (or gone from beside the output)
    // is refused, naming it: the delta would carry none of the config folder's files.
    let config = lab.lab_dir().join("seedforge.yaml");
    let built = fs::read(&config).unwrap();
    fs::write(
        &config,
        [&built[..], b"# edited after the build\n"].concat(),
    )
    .unwrap();
    let edited = lab.delta("v1.json", "edited").expect(2).run();
    for said in ["seedforge.yaml changed since", "--config", "seedforge.lock"] {
        assert!(edited.stderr.contains(said), "{said}: {}", edited.stderr);
    }
    fs::rename(&config, lab.root().join("aside.yaml")).unwrap();
    let gone = lab.delta("v1.json", "edited").expect(2).run();
    assert!(
        gone.stderr.contains("is not beside it") && gone.stderr.contains("--config"),
        "{}",
        gone.stderr
    );
    assert!(!lab.root().join("edited").exists());
    fs::write(&config, &built).unwrap();
    let d = lab.delta("v1.json", "delta").arg("--json").run().json();
    let dir = lab.root().join("delta");
    let carried = blob_names(&dir.join("out/oci"));
    assert_eq!(carried, new);
    assert_eq!(d["blobs"]["count"], 3);
    assert_eq!(d["base_receipt"], r["digest"]);
    assert!(d["bytes"].as_u64().unwrap() < d["full_output_bytes"].as_u64().unwrap() / 10);
    // No derived file: the far side's build --offline writes those.
    for derived in ["airgap", "iso", "nodes", "sbom", "registry", "certs.d"] {
        assert!(!dir.join("out").join(derived).exists(), "{derived}");
    }
    assert!(!dir.join("out/registries.yaml").exists());
    // The new layout's index, the new seal, the changed config folder inputs.
    assert_eq!(
        fs::read(dir.join("out/oci/index.json")).unwrap(),
        fs::read(lab.out_layout().join("index.json")).unwrap()
    );
    for f in ["manifest.json", "SHA256SUMS"] {
        assert_eq!(
            fs::read(dir.join("out").join(f)).unwrap(),
            fs::read(lab.out_dir().join(f)).unwrap(),
            "{f}"
        );
    }
    for f in ["images.txt", "seedforge.yaml"] {
        assert_eq!(
            fs::read(dir.join("config").join(f)).unwrap(),
            fs::read(lab.lab_dir().join(f)).unwrap(),
            "{f}"
        );
    }
    // pki/ is kept between the builds: unchanged, not carried.
    assert!(!dir.join("out/pki").exists());
    let doc = read_json(&dir.join("delta.json"));
    assert_eq!(doc["format"], "seedforge-delta");
    assert_eq!(
        doc["target_manifest_sha256"],
        common::sha256_bytes(&fs::read(lab.out_dir().join("manifest.json")).unwrap())
    );
    // Sealed: coreutils accepts its SHA256SUMS, which lists every other file but the
    // statement; the statement lists every file but itself (unsigned here: so is the
    // output).
    let sums = fs::read_to_string(dir.join("SHA256SUMS")).unwrap();
    let files = common::files_under(&dir).len();
    assert_eq!(sums.lines().count() + 2, files, "{sums}");
    let statement = read_json(&dir.join("statement.json"));
    assert_eq!(statement["format"], "seedforge-medium");
    assert_eq!(
        statement["files"].as_object().unwrap().len() + 1,
        files,
        "{statement:#}"
    );
    assert!(!dir.join("statement.json.sigstore.json").exists());
    if common::require_tool("sha256sum") {
        Cmd::new("sha256sum")
            .cwd(&dir)
            .args(["-c", "--strict", "SHA256SUMS"])
            .run();
    }
    // On the far side, the delta laid over the config folder and the output, then
    // build --offline: the same output as the near side's, byte for byte.
    common::copy_tree(&dir.join("config"), &far.join("fixtures/lab"), &|_| false);
    common::copy_tree(&dir.join("out"), &far.join("fixtures/lab/out"), &|_| false);
    Cmd::seedforge()
        .cwd(&far)
        .args([
            "build",
            "--offline",
            "--config",
            "fixtures/lab/seedforge.yaml",
        ])
        .run();
    for f in ["manifest.json", "SHA256SUMS"] {
        assert_eq!(
            fs::read(far.join("fixtures/lab/out").join(f)).unwrap(),
            fs::read(lab.out_dir().join(f)).unwrap(),
            "{f} of the far side's build"
        );
    }
    Cmd::seedforge()
        .cwd(&far)
        .args(["verify", "fixtures/lab/out"])
        .run();
    // A delta is written into a new or empty folder only.
    let again = lab.delta("v1.json", "delta").expect(2).run();
    assert!(again.stderr.contains("not empty"), "{}", again.stderr);
}

#[test]
fn a_changed_foreign_or_newer_receipt_is_refused_with_exit_2() {
    let lab = Lab::new();
    lab.build();
    lab.receipt("r.json").run();
    let path = lab.root().join("r.json");
    let text = fs::read_to_string(&path).unwrap();
    let delta = |since: &str| {
        lab.seedforge()
            .args(["delta", "fixtures/lab/out", "--since", since, "-o", "d"])
            .expect(2)
            .run()
    };
    // One blob the far side does not have any more: the digest no longer matches.
    let first = text.find("\"size\": ").unwrap();
    let mut tampered = text.clone();
    tampered.insert(first + "\"size\": ".len(), '9');
    fs::write(lab.root().join("tampered.json"), &tampered).unwrap();
    let out = delta("tampered.json");
    assert!(out.stderr.contains("changed or damaged"), "{}", out.stderr);
    // Not a receipt: the output's own manifest.
    let out = delta("fixtures/lab/out/manifest.json");
    assert!(
        out.stderr.contains("not a seedforge receipt"),
        "{}",
        out.stderr
    );
    // A newer format.
    let newer = text.replace("\"receipt_version\": 6", "\"receipt_version\": 7");
    fs::write(lab.root().join("newer.json"), newer).unwrap();
    let out = delta("newer.json");
    assert!(out.stderr.contains("newer than"), "{}", out.stderr);
    assert!(!lab.root().join("d").exists());
    // With --json, the error document says so.
    let out = lab
        .delta("tampered.json", "d")
        .arg("--json")
        .expect(2)
        .run();
    assert_eq!(out.json()["error"]["kind"], "delta");
    // Neither is written into the output it is made from.
    let out = lab.receipt("fixtures/lab/out/r.json").expect(2).run();
    assert!(out.stderr.contains("inside the output"), "{}", out.stderr);
    let out = lab
        .seedforge()
        .args(["delta", "fixtures/lab/out", "--since", "r.json", "-o"])
        .arg("fixtures/lab/out/d")
        .expect(2)
        .run();
    assert!(out.stderr.contains("must be apart"), "{}", out.stderr);
    assert!(!lab.out_dir().join("d").exists() && !lab.out_dir().join("r.json").exists());
}

#[test]
fn an_output_that_does_not_match_its_seal_gets_no_receipt_and_no_delta() {
    let lab = Lab::new();
    lab.build();
    lab.receipt("r.json").run();
    // One byte of a blob changed.
    let layout = lab.out_layout();
    let blob = blob_names(&layout).into_iter().next().unwrap();
    flip_byte(&layout.join("blobs/sha256").join(&blob), 0);
    let out = lab.receipt("bad.json").expect(1).run();
    assert!(out.stderr.contains(&blob), "{}", out.stderr);
    assert!(
        out.stderr.contains("do not match SHA256SUMS"),
        "{}",
        out.stderr
    );
    assert!(!lab.root().join("bad.json").exists());
    let out = lab
        .seedforge()
        .args(["delta", "fixtures/lab/out", "--since", "r.json", "-o", "d"])
        .expect(1)
        .run();
    assert!(out.stderr.contains(&blob), "{}", out.stderr);
    let left: Vec<_> = fs::read_dir(lab.root())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("d.seedforge") || n == "d")
        .collect();
    assert!(left.is_empty(), "{left:?}");
    // A folder that was never sealed is bad input.
    fs::create_dir(lab.root().join("empty")).unwrap();
    let out = lab
        .seedforge()
        .args(["receipt", "empty", "-o", "e.json"])
        .expect(2)
        .run();
    assert!(out.stderr.contains("no manifest.json"), "{}", out.stderr);
}

#[test]
fn a_receipt_of_a_build_with_registry_auth_names_no_secret() {
    let lab = Lab::new();
    let dir = lab.lab_dir();
    let password = "s3cret-pull-Qz7Wp";
    fs::write(dir.join("pull-password"), format!("{password}\n")).unwrap();
    let config = dir.join("seedforge.yaml");
    let text = fs::read_to_string(&config).unwrap().replace(
        "  port: 5000\n",
        "  port: 5000\n  auth:\n    username: puller\n    password: {file: pull-password}\n",
    );
    fs::write(&config, text).unwrap();
    lab.build();
    lab.receipt("r.json").run();
    let text = fs::read_to_string(lab.root().join("r.json")).unwrap();
    let token = fs::read_to_string(dir.join("token")).unwrap();
    for secret in [password, token.trim(), "puller"] {
        assert!(!text.contains(secret), "the receipt holds {secret:?}");
    }
    // Secrets' paths are fine: the node files and the htpasswd are listed by path.
    assert!(text.contains("nodes/lab-server1/user-data"));
    assert!(text.contains("registry/htpasswd"));
}

/// The day-two setup: v1 built and receipted, the far side (a copy of the fixtures with
/// v1's config folder and output) put aside, v2 built, and its delta since v1's receipt
/// written into `delta`. Returns the lab and the far side's root.
pub(crate) fn day_two() -> (Lab, std::path::PathBuf) {
    let lab = Lab::new();
    without_traefik(&lab);
    lab.build();
    lab.receipt("v1.json").run();
    let far = lab.far_copy("far");
    as_shipped(&lab);
    lab.build();
    lab.delta("v1.json", "delta").run();
    (lab, far)
}

/// `seedforge apply DELTA --to OUT` run in `cwd`.
pub(crate) fn apply(cwd: &Path, delta: &Path, out: &str) -> Cmd {
    Cmd::seedforge()
        .cwd(cwd)
        .arg("apply")
        .arg(delta)
        .args(["--to", out])
}

/// The names beside `dir` and in its parent that a staging copy or an old output would
/// leave.
pub(crate) fn leftovers_beside(dir: &Path) -> Vec<String> {
    let mut left: Vec<String> = Vec::new();
    for d in [
        dir.parent().unwrap(),
        dir.parent().unwrap().parent().unwrap(),
    ] {
        left.extend(
            fs::read_dir(d)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| n.contains(".seedforge-")),
        );
    }
    left
}

/// Every file `SHA256SUMS` of `near` lists has the same bytes in `far`, and the two
/// seals are the same bytes.
pub(crate) fn assert_same_output(far: &Path, near: &Path) {
    let sums = fs::read_to_string(near.join("SHA256SUMS")).unwrap();
    assert_eq!(fs::read_to_string(far.join("SHA256SUMS")).unwrap(), sums);
    for line in sums.lines() {
        let (_, path) = line.split_once("  ").unwrap();
        assert_eq!(
            fs::read(far.join(path)).unwrap(),
            fs::read(near.join(path)).unwrap(),
            "{path}"
        );
    }
}

#[test]
fn apply_rebuilds_the_near_sides_output_offline_and_a_second_apply_changes_nothing() {
    let (lab, far) = day_two();
    let delta = lab.root().join("delta");
    let out = far.join("fixtures/lab/out");
    let report = apply(&far, &delta, "fixtures/lab/out")
        .arg("--json")
        .run()
        .json();
    assert_eq!(report["outcome"], "applied");
    // The config folder found beside `--to fixtures/lab/out`, named as that was.
    assert_eq!(report["config_dir"], "fixtures/lab", "{report:#}");
    assert_eq!(report["blobs_added"], 3);
    assert_eq!(
        report["config_files"],
        serde_json::json!(["images.txt", "seedforge.yaml"])
    );
    assert!(report["bytes"].as_u64().unwrap() > 0);
    // The near side's v2, file for file, and the config folder's inputs too.
    assert_same_output(&out, &lab.out_dir());
    for f in ["images.txt", "seedforge.yaml"] {
        assert_eq!(
            fs::read(far.join("fixtures/lab").join(f)).unwrap(),
            fs::read(lab.lab_dir().join(f)).unwrap(),
            "{f}"
        );
    }
    Cmd::seedforge()
        .cwd(&far)
        .args(["verify", "fixtures/lab/out"])
        .run();
    assert!(
        leftovers_beside(&out).is_empty(),
        "{:?}",
        leftovers_beside(&out)
    );
    // Applied again: nothing to do, nothing touched.
    let before = common::snapshot(&far.join("fixtures/lab"));
    let again = apply(&far, &delta, "fixtures/lab/out").run();
    assert!(
        again.stdout.contains("nothing to apply"),
        "{}",
        again.stdout
    );
    let again = apply(&far, &delta, "fixtures/lab/out")
        .arg("--json")
        .run()
        .json();
    assert_eq!(again["outcome"], "unchanged");
    // Nothing applied: no changes reported.
    assert!(again["changes"].is_null(), "{again:#}");
    common::assert_same_tree(
        &before,
        &common::snapshot(&far.join("fixtures/lab")),
        "after a second apply",
    );
    // A build --offline after it changes nothing sealed either.
    Cmd::seedforge()
        .cwd(&far)
        .args([
            "build",
            "--offline",
            "--config",
            "fixtures/lab/seedforge.yaml",
        ])
        .run();
    assert_same_output(&out, &lab.out_dir());
}

/// The near side's day-two commands name the config folder found beside the output as
/// the output was given, relative when it was.
#[test]
fn receipt_and_delta_name_the_config_folder_as_the_output_was_given() {
    let (lab, _far) = day_two();
    let receipt = lab.receipt("v2.json").arg("--json").run().json();
    assert_eq!(receipt["config_dir"], "fixtures/lab", "{receipt:#}");
    let delta = lab.delta("v1.json", "again").arg("--json").run().json();
    assert_eq!(delta["config_dir"], "fixtures/lab", "{delta:#}");
}

#[test]
fn apply_of_an_upgrade_that_drops_an_image_leaves_its_blobs_behind_and_matches_the_near_side() {
    // v1 with traefik, v2 without: traefik's manifest, config and own layer are in the far
    // side's layout and in no image of v2.
    let lab = Lab::new();
    lab.build();
    let v1_blobs = blob_names(&lab.out_layout());
    lab.receipt("v1.json").run();
    let far = lab.far_copy("far");
    without_traefik(&lab);
    lab.build();
    let v2_blobs = blob_names(&lab.out_layout());
    let dropped: BTreeSet<&String> = v1_blobs.difference(&v2_blobs).collect();
    assert_eq!(dropped.len(), 3, "{dropped:?}");
    lab.delta("v1.json", "delta").run();
    let report = apply(&far, &lab.root().join("delta"), "fixtures/lab/out")
        .arg("--json")
        .run()
        .json();
    assert_eq!(report["outcome"], "applied");
    assert_eq!(report["blobs_added"], 0);
    let out = far.join("fixtures/lab/out");
    assert_same_output(&out, &lab.out_dir());
    assert_eq!(blob_names(&out.join("oci")), v2_blobs);
    Cmd::seedforge()
        .cwd(&far)
        .args(["verify", "fixtures/lab/out"])
        .run();
}

#[test]
fn apply_rebuilds_a_damaged_derived_file_and_refuses_a_damaged_kept_one() {
    let (lab, far) = day_two();
    let out = far.join("fixtures/lab/out");
    // A seed the far side damaged: receipt and verify name it; apply rebuilds it.
    flip_byte(&out.join("iso/seed-lab-agent1.iso"), 100);
    let v = Cmd::seedforge()
        .cwd(&far)
        .args(["verify", "fixtures/lab/out"])
        .expect(1)
        .run();
    assert!(v.stdout.contains("seed-lab-agent1.iso") || v.stderr.contains("seed-lab-agent1.iso"));
    apply(&far, &lab.root().join("delta"), "fixtures/lab/out").run();
    assert_same_output(&out, &lab.out_dir());
    // A kept file (not derived) damaged is still refused: a blob of the layout.
    let (lab, far) = day_two();
    let out = far.join("fixtures/lab/out");
    let blob = blob_names(&out.join("oci")).into_iter().next().unwrap();
    flip_byte(&out.join("oci/blobs/sha256").join(&blob), 0);
    let before = common::snapshot(&far.join("fixtures/lab"));
    let r = apply(&far, &lab.root().join("delta"), "fixtures/lab/out")
        .expect(1)
        .run();
    assert!(r.stderr.contains(&blob), "{}", r.stderr);
    common::assert_same_tree(
        &before,
        &common::snapshot(&far.join("fixtures/lab")),
        "after a refused apply",
    );
}

/// `seedforge plan --upgrade-from RECEIPT` of the lab's config, with `--json`.
fn plan_upgrade(lab: &Lab, receipt: &str) -> Cmd {
    lab.seedforge().args([
        "plan",
        "--config",
        "fixtures/lab/seedforge.yaml",
        "--upgrade-from",
        receipt,
    ])
}

#[test]
fn plan_upgrade_from_says_what_the_delta_carries_and_the_order_of_the_nodes() {
    let (lab, _far) = day_two();
    let json = plan_upgrade(&lab, "v1.json").arg("--json").run().json();
    let u = &json["upgrade"];
    // What the delta written from the same receipt says it carries.
    let written = read_json(&lab.root().join("delta/delta.json"));
    for key in [
        "blobs",
        "artifacts",
        "seal",
        "config",
        "bytes",
        "full_output_bytes",
    ] {
        assert_eq!(u["delta"]["doc"][key], written[key], "{key}");
    }
    assert_eq!(u["delta"]["doc"]["blobs"]["count"], 3);
    assert_eq!(
        u["delta"]["config_files"],
        serde_json::json!(["images.txt", "seedforge.yaml"])
    );
    assert_eq!(
        u["delta"]["artifacts"],
        serde_json::json!(["oci/index.json"])
    );
    assert_eq!(u["up_to_date"], false);
    assert_eq!(u["output_current"], true);
    assert_eq!(u["k3s"]["from"], "v1.33.1+k3s1");
    assert_eq!(u["k3s"]["downgrade"], false);
    // Every node imports the new images first, then the server, then the agents.
    let on: Vec<&str> = (u["steps"].as_array().unwrap().iter())
        .map(|s| s["on"].as_str().unwrap())
        .collect();
    assert_eq!(
        on,
        [
            "near side",
            "far side",
            "lab-server1",
            "lab-agent1",
            "lab-agent2",
            "lab-server1",
            "lab-agent1",
            "lab-agent2"
        ]
    );
    let steps = u["steps"].as_array().unwrap();
    assert!(
        steps[1]["run"]
            .as_str()
            .unwrap()
            .contains("seedforge apply DELTA --to")
    );
    for s in &steps[2..5] {
        assert!(
            s["run"]
                .as_str()
                .unwrap()
                .contains("seedforge-bootstrap --images-only")
        );
    }
    // The payload a node's status file shows: the digest of the seed's payload/SHA256SUMS.
    let payload = u["payload"].as_str().unwrap();
    if common::require_tool("isoinfo") {
        let sums = std::process::Command::new("isoinfo")
            .args(["-R", "-x", "/payload/SHA256SUMS", "-i"])
            .arg(lab.out_dir().join("iso/seed-lab-agent1.iso"))
            .output()
            .unwrap();
        assert!(sums.status.success());
        assert_eq!(payload, common::sha256_bytes(&sums.stdout));
    }
    for s in &steps[5..] {
        let until = s["until"].as_str().unwrap();
        assert!(until.contains("/var/lib/seedforge/status.json"), "{until}");
        assert!(until.contains("\"state\": \"done\""), "{until}");
        assert!(until.contains(payload), "{until}");
        assert!(
            until.contains("\"k3s_version\": \"v1.33.1+k3s1\""),
            "{until}"
        );
    }
    // The text says the same.
    let text = plan_upgrade(&lab, "v1.json").run().stdout;
    assert!(text.contains("the delta: 3 new blob(s)"), "{text}");
    assert!(text.contains("seedforge-bootstrap --images-only"), "{text}");
    assert!(
        text.contains("systemctl restart seedforge-bootstrap"),
        "{text}"
    );
    assert!(text.contains("Upgrading a running cluster"), "{text}");
    // A receipt of this very output: nothing to carry.
    lab.receipt("v2.json").run();
    let text = plan_upgrade(&lab, "v2.json").run().stdout;
    assert!(text.contains("nothing to carry"), "{text}");
    assert!(!text.contains("build first"), "{text}");
    // The config edited, not built yet: the note to build first, before anything else, for
    // a new release and for a downgrade alike.
    let config = lab.lab_dir().join("seedforge.yaml");
    let shipped = fs::read_to_string(&config).unwrap();
    for release in ["v1.33.1+k3s2", "v1.33.1+k3s0"] {
        fs::write(
            &config,
            shipped.replace(
                "k3s_version: v1.33.1+k3s1",
                &format!("k3s_version: {release}"),
            ),
        )
        .unwrap();
        let text = plan_upgrade(&lab, "v2.json").run().stdout;
        let note = text.find("build first").unwrap_or_else(|| panic!("{text}"));
        let nothing = text.find("nothing to carry until the edited config is built");
        assert!(nothing.is_some_and(|at| at > note), "{release}: {text}");
    }
    fs::write(&config, &shipped).unwrap();
}

#[test]
fn plan_upgrade_from_a_newer_k3s_says_the_nodes_refuse_a_downgrade_and_a_bad_receipt_is_exit_2() {
    let lab = Lab::new();
    let config = lab.lab_dir().join("seedforge.yaml");
    let shipped = fs::read_to_string(&config).unwrap();
    fs::write(
        &config,
        shipped.replace("k3s_version: v1.33.1+k3s1", "k3s_version: v1.33.1+k3s2"),
    )
    .unwrap();
    lab.build();
    lab.receipt("newer.json").run();
    fs::write(&config, &shipped).unwrap();
    lab.build();
    let u = plan_upgrade(&lab, "newer.json").arg("--json").run().json();
    assert_eq!(u["upgrade"]["k3s"]["from"], "v1.33.1+k3s2");
    assert_eq!(u["upgrade"]["k3s"]["to"], "v1.33.1+k3s1");
    assert_eq!(u["upgrade"]["k3s"]["downgrade"], true);
    let text = plan_upgrade(&lab, "newer.json").run().stdout;
    assert!(text.contains("DOWNGRADE"), "{text}");
    assert!(text.contains("cluster.allow_downgrade: true"), "{text}");
    // A receipt that is not one, or was changed: exit 2 naming the file.
    fs::write(lab.root().join("bad.json"), "not json").unwrap();
    let out = plan_upgrade(&lab, "bad.json").expect(2).run();
    assert!(out.stderr.contains("bad.json"), "{}", out.stderr);
    assert!(
        out.stderr.contains("not a seedforge receipt"),
        "{}",
        out.stderr
    );
    let text = fs::read_to_string(lab.root().join("newer.json")).unwrap();
    fs::write(
        lab.root().join("changed.json"),
        text.replace("v1.33.1+k3s2", "v1.33.0+k3s1"),
    )
    .unwrap();
    let out = plan_upgrade(&lab, "changed.json").expect(2).run();
    assert!(out.stderr.contains("changed.json"), "{}", out.stderr);
    assert!(out.stderr.contains("changed or damaged"), "{}", out.stderr);
}

#[test]
fn apply_refuses_another_base_and_a_damaged_delta_and_leaves_the_output_as_it_was() {
    let (lab, far) = day_two();
    let delta = lab.root().join("delta");
    let far_lab = far.join("fixtures/lab");
    let before = common::snapshot(&far_lab);
    let unchanged = |what: &str| {
        common::assert_same_tree(&before, &common::snapshot(&far_lab), what);
        let left = leftovers_beside(&far_lab.join("out"));
        assert!(left.is_empty(), "{what}: {left:?}");
    };

    // One byte of the delta flipped: exit 1 naming the file.
    let flipped = lab.root().join("flipped");
    common::copy_tree(&delta, &flipped, &|_| false);
    flip_byte(&flipped.join("out/oci/index.json"), 10);
    let out = apply(&far, &flipped, "fixtures/lab/out").expect(1).run();
    assert!(out.stderr.contains("out/oci/index.json"), "{}", out.stderr);
    unchanged("a flipped byte");

    // A blob missing: exit 1 naming it.
    let missing = lab.root().join("missing");
    common::copy_tree(&delta, &missing, &|_| false);
    let blob = blob_names(&missing.join("out/oci"))
        .into_iter()
        .next()
        .unwrap();
    fs::remove_file(missing.join("out/oci/blobs/sha256").join(&blob)).unwrap();
    let out = apply(&far, &missing, "fixtures/lab/out").expect(1).run();
    assert!(out.stderr.contains(&blob), "{}", out.stderr);
    assert!(out.stderr.contains("missing"), "{}", out.stderr);
    unchanged("a missing blob");

    // The blob and its line gone: delta.json no longer agrees with what is carried.
    let sums = fs::read_to_string(missing.join("SHA256SUMS")).unwrap();
    let kept: String = (sums.lines())
        .filter(|l| !l.contains(&blob))
        .map(|l| format!("{l}\n"))
        .collect();
    fs::write(missing.join("SHA256SUMS"), kept).unwrap();
    let out = apply(&far, &missing, "fixtures/lab/out").expect(1).run();
    assert!(
        out.stderr.contains("delta.json: says it carries 3 blob(s)"),
        "{}",
        out.stderr
    );
    unchanged("a blob missing from the delta and its seal");

    // Not a delta at all: exit 2.
    let out = apply(&far, &far_lab, "fixtures/lab/out").expect(2).run();
    assert!(
        out.stderr.contains("not a seedforge delta"),
        "{}",
        out.stderr
    );
    unchanged("not a delta");

    // The join token differs here: named before anything is staged (every node's
    // user-data holds it and is sealed), exit 2.
    let token = far_lab.join("token");
    let kept_token = fs::read(&token).unwrap();
    fs::write(
        &token,
        "K10another-far-side-token::server:0123456789abcdef\n",
    )
    .unwrap();
    let before_token = common::snapshot(&far_lab);
    let out = apply(&far, &delta, "fixtures/lab/out").expect(2).run();
    assert!(
        out.stderr.contains(&format!(
            "the join token (cluster.token, {})",
            far_lab.join("token").display()
        )),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("nodes/lab-server1/user-data"),
        "{}",
        out.stderr
    );
    assert!(
        !out.stderr.contains("mirror"),
        "rebuilt first: {}",
        out.stderr
    );
    assert!(
        !out.stderr.contains("K10another-far-side-token"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("nothing was changed"), "{}", out.stderr);
    common::assert_same_tree(&before_token, &common::snapshot(&far_lab), "another token");
    fs::write(&token, kept_token).unwrap();
    unchanged("another token");

    // Another source date in the far side's environment is no refusal: the delta's date
    // is kept (tests/delta_date.rs).

    // A build holding the output: --no-wait fails at once (exit 75), nothing changed.
    {
        let held = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(far_lab.join("out/.seedforge-build.lock"))
            .unwrap();
        held.lock().unwrap();
        let out = apply(&far, &delta, "fixtures/lab/out")
            .arg("--no-wait")
            .expect(75)
            .run();
        assert!(
            out.stderr.contains("another seedforge build"),
            "{}",
            out.stderr
        );
        drop(held);
        unchanged("a held output");
    }

    // Another base: v1 built again with another source date. Exit 2, nothing changed.
    let config = far_lab.join("seedforge.yaml");
    let v1_config = fs::read_to_string(&config).unwrap();
    fs::write(
        &config,
        v1_config.replace(
            "source_date_epoch: 1700000000",
            "source_date_epoch: 1700000001",
        ),
    )
    .unwrap();
    Cmd::seedforge()
        .cwd(&far)
        .args(["build", "--config", "fixtures/lab/seedforge.yaml"])
        .run();
    let other = common::snapshot(&far_lab);
    let out = apply(&far, &delta, "fixtures/lab/out").expect(2).run();
    assert!(out.stderr.contains("never patched"), "{}", out.stderr);
    common::assert_same_tree(&other, &common::snapshot(&far_lab), "another base");
}

#[test]
fn an_apply_killed_or_terminated_at_any_point_leaves_the_old_output_or_the_new_and_a_rerun_finishes()
 {
    let (lab, far) = day_two();
    let delta = lab.root().join("delta");
    let near_v1 = far.join("fixtures/lab/out/manifest.json");
    let v1_manifest = fs::read(&near_v1).unwrap();
    let v2_manifest = fs::read(lab.out_dir().join("manifest.json")).unwrap();
    // How long a whole apply takes here, on a copy.
    let timed = lab.root().join("timed");
    common::copy_tree(&far, &timed, &|_| false);
    let started = std::time::Instant::now();
    apply(&timed, &delta, "fixtures/lab/out").run();
    let whole = started.elapsed();
    let mut seen = BTreeSet::new();
    let fractions = [0.0, 0.1, 0.3, 0.5, 0.7, 0.85, 1.0, 1.2, 1.5, 4.0];
    for (i, fraction) in fractions.iter().enumerate() {
        let side = lab.root().join(format!("kill{i}"));
        common::copy_tree(&far, &side, &|_| false);
        let out = side.join("fixtures/lab/out");
        let mut running = apply(&side, &delta, "fixtures/lab/out")
            .any_status()
            .spawn();
        std::thread::sleep(whole.mul_f64(*fraction));
        if i % 2 == 0 {
            running.guard.kill();
        } else {
            // SIGTERM: the staging copies go before the process ends.
            let pid = running.guard.child().id().to_string();
            Cmd::new("kill").args(["-TERM", &pid]).any_status().run();
            let done = running.wait();
            assert!(
                matches!(done.code, Some(0 | 143) | None),
                "terminated at {fraction}: {:?}\n{}",
                done.code,
                done.stderr
            );
            let left = leftovers_beside(&out);
            assert!(left.is_empty(), "terminated at {fraction}: {left:?}");
        }
        // The old output or the new one, whole, never a mix.
        let manifest = fs::read(out.join("manifest.json")).unwrap();
        assert!(
            manifest == v1_manifest || manifest == v2_manifest,
            "killed at {fraction}: a manifest.json of neither"
        );
        seen.insert(manifest == v2_manifest);
        Cmd::seedforge()
            .cwd(&side)
            .args(["verify", "fixtures/lab/out"])
            .run();
        // Run again: it finishes, and leaves nothing of the killed run.
        apply(&side, &delta, "fixtures/lab/out").run();
        assert_same_output(&out, &lab.out_dir());
        assert!(
            leftovers_beside(&out).is_empty(),
            "{:?}",
            leftovers_beside(&out)
        );
        for f in ["images.txt", "seedforge.yaml"] {
            assert_eq!(
                fs::read(side.join("fixtures/lab").join(f)).unwrap(),
                fs::read(lab.lab_dir().join(f)).unwrap(),
                "killed at {fraction}: {f}"
            );
        }
    }
    assert!(
        seen.contains(&false),
        "no kill came before the output was replaced"
    );

    // The states a kill leaves between the steps of the commit, made by hand (a kill by
    // timing rarely lands in a window of a few renames). No process has pid 4194305.
    let dead = 4_194_305;
    let state = |name: &str| {
        let side = lab.root().join(name);
        common::copy_tree(&far, &side, &|_| false);
        side
    };
    let finishes = |side: &Path, says: &str| {
        let out = apply(side, &delta, "fixtures/lab/out").run();
        assert!(out.stdout.contains(says), "{}", out.stdout);
        let out_dir = side.join("fixtures/lab/out");
        assert_same_output(&out_dir, &lab.out_dir());
        assert!(
            leftovers_beside(&out_dir).is_empty(),
            "{:?}",
            leftovers_beside(&out_dir)
        );
        Cmd::seedforge()
            .cwd(side)
            .args(["verify", "fixtures/lab/out"])
            .run();
    };
    // Killed after the config files were written, before the exchange: the old output,
    // the new config, the staging copies of a dead process beside them.
    let side = state("after-config");
    let lab_dir = side.join("fixtures/lab");
    common::copy_tree(&delta.join("config"), &lab_dir, &|_| false);
    common::copy_tree(
        &lab_dir.join("out"),
        &lab_dir.join(format!(".out.seedforge-{dead}-1.tmp")),
        &|_| false,
    );
    fs::create_dir(side.join(format!("fixtures/.lab.seedforge-{dead}-0.tmp"))).unwrap();
    finishes(&side, "applied");
    // Killed after the exchange: the new output, the old one beside it under the
    // staging copy's name.
    let side = state("after-exchange");
    let lab_dir = side.join("fixtures/lab");
    fs::rename(
        lab_dir.join("out"),
        lab_dir.join(format!(".out.seedforge-{dead}-1.tmp")),
    )
    .unwrap();
    common::copy_tree(&lab.out_dir(), &lab_dir.join("out"), &|_| false);
    common::copy_tree(&delta.join("config"), &lab_dir, &|_| false);
    finishes(&side, "nothing to apply");
    // Killed between the two renames of a file system without the exchange: no output,
    // the old one moved aside. It is put back, then the delta applied.
    let side = state("between-renames");
    let lab_dir = side.join("fixtures/lab");
    common::copy_tree(&delta.join("config"), &lab_dir, &|_| false);
    fs::rename(
        lab_dir.join("out"),
        lab_dir.join(".out.seedforge-apply-old"),
    )
    .unwrap();
    finishes(&side, "applied");
}

/// What a delta changes is said by name: `delta` and `plan --upgrade-from` print the images
/// added and removed, `delta.json` records them, and `apply --json` reports them.
#[test]
fn delta_plan_and_apply_name_the_images_added_and_removed() {
    let lab = Lab::new();
    let list = lab.lab_dir().join("images.txt");
    let listed = fs::read_to_string(&list).unwrap();
    let with = |name: &str| {
        fs::write(
            &list,
            format!("{listed}oci:../images/oci:mirrored-pause:3.6 docker.io/acme/{name}:1.0\n"),
        )
        .unwrap();
    };
    with("cron");
    lab.build();
    let far = lab.far_copy("far");
    lab.receipt("r.json").run();
    with("api");
    lab.build();
    let out = lab.delta("r.json", "d").run();
    let said = "images: +docker.io/acme/api:1.0, -docker.io/acme/cron:1.0";
    assert!(out.stdout.contains(said), "{}", out.stdout);
    let doc = read_json(&lab.root().join("d/delta.json"));
    assert_eq!(
        doc["changes"]["images"]["added"][0],
        "docker.io/acme/api:1.0"
    );
    assert_eq!(
        doc["changes"]["images"]["removed"][0],
        "docker.io/acme/cron:1.0"
    );
    let plan = lab
        .seedforge()
        .args([
            "plan",
            "--config",
            lab.config_arg(),
            "--upgrade-from",
            "r.json",
        ])
        .run();
    assert!(plan.stdout.contains(said), "{}", plan.stdout);
    let applied = Cmd::seedforge()
        .cwd(&far)
        .args(["--json", "apply"])
        .arg(lab.root().join("d"))
        .args(["--to", "fixtures/lab/out"])
        .run()
        .json();
    assert_eq!(applied["changes"], doc["changes"]);
}
