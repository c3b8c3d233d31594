//! The far side after an apply, as an operator goes on there: its own `build --offline`
//! (to export media) gives the near side's output again, and the next delta applies. The
//! far side holds only its config folder (no network: a namespace with nothing but
//! loopback where one can be made), with its local inputs as the first crossing left
//! them: a `.deb` folder without the packages the near side added or upgraded since, and
//! no `files:` k3s binary (or an older one). What the delta carried (the bundle, the
//! binary, the lock pinning the bundle) is what the far side's build takes, and it says so;
//! apply writes the binary at its source's path from the carried copy. The config's other
//! inputs (a `manifests:` file, `cluster.release_images`) cross with the delta; one outside
//! the config folder cannot, and is refused. And what an operator must be told, never
//! silently: a k3s downgrade (`delta` and `apply`, exit 2, unless allowed), an upgrade
//! skipping a k3s minor (`plan --upgrade-from` and `delta`, exit 2; carried through a hop
//! of `cluster.upgrade_path` instead, written and applied), a delta of an
//! output older than its config ("build first"), an input or the join token edited on the
//! far side (named before anything is staged).

use crate::common::{self, Cmd, Lab};
use std::fs;
use std::path::{Path, PathBuf};

/// One version of the lab on the near side: the k3s release and its binary, and the
/// `.deb`s of the `tools` bundle (`(name, version)`, each requested), in `debs/`.
fn set_version(lab: &Lab, base: &str, release: &str, debs: &[(&str, &str)]) {
    let dir = lab.lab_dir();
    let folder = dir.join("debs");
    let _ = fs::remove_dir_all(&folder);
    fs::create_dir_all(&folder).unwrap();
    let scratch = lab.root().join("deb-trees");
    fs::create_dir_all(&scratch).unwrap();
    for (name, version) in debs {
        let deb = common::debs::small_deb(&scratch, name, version, "", &format!("{name}\n"));
        fs::copy(&deb, folder.join(deb.file_name().unwrap())).unwrap();
    }
    let binary = common::k3s_binary(release, &format!("{debs:?}"));
    fs::write(dir.join("k3s"), &binary).unwrap();
    let names: Vec<&str> = debs.iter().map(|(n, _)| *n).collect();
    let config = base.replace("v1.33.1+k3s1", release)
        + &format!(
            "packages:\n  - name: tools\n    packages: [{}]\n    debs: [debs]\n",
            names.join(", ")
        )
        + &format!(
            "files:\n  - name: bin/k3s\n    source: k3s\n    sha256: \"{}\"\n    executable: true\n",
            common::sha256_bytes(&binary)
        );
    fs::write(dir.join("seedforge.yaml"), config).unwrap();
}

fn sums(out: &Path) -> String {
    fs::read_to_string(out.join("SHA256SUMS")).unwrap()
}

#[test]
fn after_an_apply_that_carries_a_grown_bundle_and_a_new_k3s_binary_the_far_side_builds_offline_and_applies_the_next_delta()
 {
    if !common::require_tool("dpkg-deb") {
        return;
    }
    let lab = Lab::new();
    let base = fs::read_to_string(lab.lab_dir().join("seedforge.yaml")).unwrap();
    set_version(&lab, &base, "v1.33.1+k3s1", &[("zz-tool", "1.0")]);
    lab.build();
    lab.receipt("v1.json").run();
    let far: PathBuf = lab.far_copy("far");
    let far_lab = far.join("fixtures/lab");
    let far_out = far_lab.join("out");
    let old_binary = fs::read(far_lab.join("k3s")).unwrap();
    // This far side never kept the binary beside its config.
    fs::remove_file(far_lab.join("k3s")).unwrap();

    // v2: the bundle grows by a package and upgrades one; the k3s binary is a new release.
    set_version(
        &lab,
        &base,
        "v1.33.2+k3s1",
        &[("zz-tool", "1.1"), ("zz-extra", "2.0")],
    );
    lab.build();
    let report = lab.delta("v1.json", "delta").arg("--json").run().json();
    let delta = lab.root().join("delta");
    for carried in [
        "out/packages/tools.tar.gz",
        "out/files/bin/k3s",
        "config/seedforge.lock",
    ] {
        assert!(delta.join(carried).is_file(), "{carried}: {report:#}");
    }
    // The lock pins the local bundle: what the far side keeps it by.
    let lock = fs::read_to_string(lab.lab_dir().join("seedforge.lock")).unwrap();
    assert!(lock.contains("\"tools\""), "{lock}");

    let applied = common::far_side(&far)
        .arg("apply")
        .arg(&delta)
        .args(["--to", "fixtures/lab/out", "--json"])
        .run()
        .json();
    crate::delta::assert_same_output(&far_out, &lab.out_dir());
    // The binary is written at its source's path from the carried copy, executable; the
    // .deb folder is as it was.
    assert!(
        applied["config_files"]
            .as_array()
            .unwrap()
            .contains(&"k3s".into()),
        "{applied:#}"
    );
    assert_eq!(
        fs::read(far_lab.join("k3s")).unwrap(),
        fs::read(lab.lab_dir().join("k3s")).unwrap()
    );
    let mode = fs::metadata(far_lab.join("k3s")).unwrap().permissions();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
        0o755
    );
    let far_debs: Vec<String> = fs::read_dir(far_lab.join("debs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(far_debs, ["zz-tool_1.0_all.deb"]);

    // Its plain offline build (the next step, to export media): the same seal, and it
    // says what it took from the output rather than from its own folder.
    let built = common::far_side(&far)
        .args([
            "build",
            "--offline",
            "--config",
            "fixtures/lab/seedforge.yaml",
        ])
        .run();
    assert_eq!(sums(&far_out), sums(&lab.out_dir()));
    crate::delta::assert_same_output(&far_out, &lab.out_dir());
    for said in [
        "bundle tools: the .debs in",
        "fixtures/lab/out/packages/tools.tar.gz is kept as pinned",
    ] {
        assert!(built.stderr.contains(said), "{said}: {}", built.stderr);
    }
    // An older binary put back at the source's path: offline, the sealed copy is taken
    // for it, and it says so.
    fs::write(far_lab.join("k3s"), &old_binary).unwrap();
    let built = common::far_side(&far)
        .args([
            "build",
            "--offline",
            "--config",
            "fixtures/lab/seedforge.yaml",
        ])
        .run();
    assert_eq!(sums(&far_out), sums(&lab.out_dir()));
    for said in [
        "files entry bin/k3s: its source fixtures/lab/k3s holds sha256",
        "fixtures/lab/out/files/bin/k3s sealed with the config's sha256",
    ] {
        assert!(built.stderr.contains(said), "{said}: {}", built.stderr);
    }
    Cmd::seedforge()
        .cwd(&far)
        .args(["verify", "fixtures/lab/out"])
        .run();

    // Day three: the far side's receipt, a delta that upgrades the bundle again, applied.
    common::far_side(&far)
        .args(["receipt", "fixtures/lab/out", "-o"])
        .arg(lab.root().join("v2.json"))
        .run();
    set_version(
        &lab,
        &base,
        "v1.33.2+k3s1",
        &[("zz-tool", "1.2"), ("zz-extra", "2.0")],
    );
    lab.build();
    lab.delta("v2.json", "delta3").run();
    common::far_side(&far)
        .arg("apply")
        .arg(lab.root().join("delta3"))
        .args(["--to", "fixtures/lab/out"])
        .run();
    crate::delta::assert_same_output(&far_out, &lab.out_dir());
    common::far_side(&far)
        .args([
            "build",
            "--offline",
            "--config",
            "fixtures/lab/seedforge.yaml",
        ])
        .run();
    assert_eq!(sums(&far_out), sums(&lab.out_dir()));

    // Where the far side's own .debs are the pinned ones, they make the bundle as before
    // (nothing to say); online, local .debs are always read again.
    let near = lab.seedforge();
    let out = near
        .args(["build", "--offline", "--config", lab.config_arg()])
        .run();
    assert!(!out.stderr.contains("kept as pinned"), "{}", out.stderr);
}

/// The images k3s v1.34.2+k3s1 needs that the lab's list lacks (its components' tags,
/// known from its release notes): the lab's fixtures under those names.
const HOP_1_34: [&str; 4] = [
    "oci:../images/oci:mirrored-coredns-coredns:1.12.1 docker.io/rancher/mirrored-coredns-coredns:1.13.1",
    "oci-archive:../images/traefik.oci.tar docker.io/rancher/mirrored-library-traefik:3.5.1",
    "oci:../images/oci:mirrored-metrics-server:v0.7.2 docker.io/rancher/mirrored-metrics-server:v0.8.0",
    "oci:../images/oci:local-path-provisioner:v0.0.31 docker.io/rancher/local-path-provisioner:v0.0.32",
];

/// `seedforge apply DELTA --to fixtures/lab/out` in `far`.
fn apply_in(far: &Path, delta: &Path) -> Cmd {
    common::far_side(far)
        .arg("apply")
        .arg(delta)
        .args(["--to", "fixtures/lab/out"])
}

#[test]
fn a_k3s_downgrade_is_refused_unless_allowed_and_an_upgrade_skipping_a_minor_always() {
    let lab = Lab::new();
    let config = lab.lab_dir().join("seedforge.yaml");
    let shipped = fs::read_to_string(&config).unwrap();
    // The far side runs 1.35, two minors past the shipped 1.33.
    fs::write(
        &config,
        shipped.replace("k3s_version: v1.33.1+k3s1", "k3s_version: v1.35.5+k3s1"),
    )
    .unwrap();
    lab.build();
    lab.receipt("newer.json").run();
    let far = lab.far_copy("far");
    let far2 = lab.far_copy("far2");
    let far_lab = far.join("fixtures/lab");
    fs::write(&config, &shipped).unwrap();
    lab.build();

    // delta: exit 2 naming both, nothing written; a downgrade, not a skipped minor.
    let out = lab.delta("newer.json", "delta").expect(2).run();
    for said in [
        "k3s v1.35.5+k3s1 (the far side's, as its receipt records) -> v1.33.1+k3s1 (this output's) is a downgrade",
        "cluster.allow_downgrade: true",
        "--allow-downgrade",
    ] {
        assert!(out.stderr.contains(said), "{said}: {}", out.stderr);
    }
    assert!(!out.stderr.contains("skips"), "{}", out.stderr);
    assert!(!lab.root().join("delta").exists());
    let json = lab
        .delta("newer.json", "delta")
        .arg("--json")
        .expect(2)
        .run()
        .json();
    assert_eq!(json["error"]["kind"], "delta", "{json:#}");

    // The other way, 1.33 -> 1.35 (the far copy's output and config, against a receipt of
    // this 1.33 build): `plan --upgrade-from` and `delta` refuse it whatever is allowed,
    // at the config's cluster.k3s_version line, naming 1.34 and its newest known release;
    // nothing written.
    lab.receipt("older.json").run();
    let before = common::snapshot(&far2);
    let far2_config = "far2/fixtures/lab/seedforge.yaml";
    let skipped = [
        "k3s v1.33.1+k3s1 (the far side's, as its receipt records) -> v1.35.5+k3s1",
        "skips the minor 1.34 (newest release known here: v1.34.5+k3s1)",
        "one minor at a time",
        "first with cluster.k3s_version: v1.34.5+k3s1",
    ];
    let plan = (lab.seedforge())
        .args([
            "plan",
            "--config",
            far2_config,
            "--upgrade-from",
            "older.json",
        ])
        .expect(2)
        .run();
    let at = format!("{far2_config}:8:3: cluster.k3s_version: k3s");
    assert!(plan.stderr.contains(&at), "{at}: {}", plan.stderr);
    for said in skipped {
        assert!(plan.stderr.contains(said), "{said}: {}", plan.stderr);
    }
    let out = lab
        .seedforge()
        .args(["delta", "far2/fixtures/lab/out", "--since", "older.json"])
        .args(["-o", "skipped", "--allow-downgrade"])
        .expect(2)
        .run();
    assert!(
        out.stderr.contains(": cluster.k3s_version: k3s"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("seedforge.yaml:8:3"), "{}", out.stderr);
    for said in skipped {
        assert!(out.stderr.contains(said), "{said}: {}", out.stderr);
    }
    assert!(!lab.root().join("skipped").exists());
    common::assert_same_tree(&before, &common::snapshot(&far2), "a refused skip");

    // Carried through a hop instead (a copy of far2, its config an upgrade from 1.33 through
    // v1.34.2+k3s1, built): `plan --upgrade-from` gives the order hop by hop; the delta
    // since the 1.33 receipt is written, carries the hop's binary and no blob the far side
    // has (the hop's images share the fixtures' blobs); the far side's apply ends at that
    // output byte for byte.
    let far3 = lab.far_copy("far3");
    let near = lab.root().join("near");
    common::copy_tree(&far2.join("fixtures"), &near.join("fixtures"), &|_| false);
    let near_config = "near/fixtures/lab/seedforge.yaml";
    let hop = "v1.34.2+k3s1";
    common::hop_upgrade_in(
        &near.join("fixtures/lab"),
        ("v1.33.1+k3s1", hop, hop),
        &HOP_1_34,
    );
    (lab.seedforge())
        .args(["build", "--config", near_config])
        .run();
    let plan = (lab.seedforge())
        .args([
            "plan",
            "--config",
            near_config,
            "--upgrade-from",
            "older.json",
        ])
        .run();
    assert!(
        plan.stdout.contains(&format!("through the hops {hop}")),
        "{}",
        plan.stdout
    );
    assert!(
        plan.stdout
            .contains(&format!("shows lab-agent2 at {hop}, Ready")),
        "{}",
        plan.stdout
    );
    let report = lab
        .seedforge()
        .args(["delta", "near/fixtures/lab/out", "--since", "older.json"])
        .args(["-o", "hops", "--json"])
        .run()
        .json();
    let hops_delta = lab.root().join("hops");
    assert!(
        (hops_delta.join(format!("out/files/hops/{hop}/k3s"))).is_file(),
        "{report:#}"
    );
    assert_eq!(report["blobs"]["count"], 0, "{report:#}");
    apply_in(&far3, &hops_delta).run();
    crate::delta::assert_same_output(
        &far3.join("fixtures/lab/out"),
        &near.join("fixtures/lab/out"),
    );

    // Asked for: written.
    lab.delta("newer.json", "delta")
        .arg("--allow-downgrade")
        .run();
    let delta = lab.root().join("delta");

    // apply: exit 2 naming both before anything is staged; the far side as it was.
    let before = common::snapshot(&far_lab);
    let out = apply_in(&far, &delta).expect(2).run();
    assert!(
        out.stderr.contains(
            "k3s v1.35.5+k3s1 (this output's) -> v1.33.1+k3s1 (the delta's) is a downgrade"
        ),
        "{}",
        out.stderr
    );
    // What the far side can do, not what only the near side can (build, edit the config
    // the delta seals).
    for said in [
        "ask the near side for a delta of v1.35.5+k3s1 or a newer release",
        "apply --allow-downgrade applies this one as it is",
    ] {
        assert!(out.stderr.contains(said), "{said}: {}", out.stderr);
    }
    assert!(!out.stderr.contains("build v1.35.5+k3s1"), "{}", out.stderr);
    assert!(!out.stderr.contains("in the config"), "{}", out.stderr);
    common::assert_same_tree(&before, &common::snapshot(&far_lab), "a refused downgrade");
    apply_in(&far, &delta).arg("--allow-downgrade").run();
    crate::delta::assert_same_output(&far_lab.join("out"), &lab.out_dir());

    // The config's own allowance is enough, on both sides.
    fs::write(
        &config,
        shipped.replace(
            "  k3s_version: v1.33.1+k3s1\n",
            "  k3s_version: v1.33.1+k3s1\n  allow_downgrade: true\n",
        ),
    )
    .unwrap();
    lab.build();
    lab.delta("newer.json", "allowed").run();
    apply_in(&far2, &lab.root().join("allowed")).run();
    crate::delta::assert_same_output(&far2.join("fixtures/lab/out"), &lab.out_dir());
}

#[test]
fn a_delta_of_an_output_older_than_its_config_is_refused_naming_what_changed() {
    let lab = Lab::new();
    lab.build();
    lab.receipt("r.json").run();
    let list = lab.lab_dir().join("images.txt");
    let mut text = fs::read_to_string(&list).unwrap();
    text.push_str("# an edit not built yet\n");
    fs::write(&list, text).unwrap();
    let out = lab.delta("r.json", "delta").expect(2).run();
    assert!(out.stderr.contains("build first"), "{}", out.stderr);
    // Named under the config folder as the output was given (fixtures/lab/out).
    assert!(
        out.stderr.contains("fixtures/lab/images.txt changed since"),
        "{}",
        out.stderr
    );
    assert!(
        !out.stderr.contains(&lab.root().display().to_string()),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("seedforge.yaml"), "{}", out.stderr);
    assert!(!lab.root().join("delta").exists());
    // Built: the delta carries the edit.
    lab.build();
    lab.delta("r.json", "delta").run();
    assert!(lab.root().join("delta/config/images.txt").is_file());
}

#[test]
fn an_input_edited_on_the_far_side_is_named_before_any_rebuild() {
    let lab = Lab::new();
    lab.build();
    lab.receipt("v1.json").run();
    let far = lab.far_copy("far");
    let far_lab = far.join("fixtures/lab");
    // v2: another address for one agent.
    let config = lab.lab_dir().join("seedforge.yaml");
    let text = fs::read_to_string(&config).unwrap();
    fs::write(&config, text.replace("192.168.6.12/24", "192.168.6.13/24")).unwrap();
    lab.build();
    lab.delta("v1.json", "delta").run();
    let delta = lab.root().join("delta");

    // The far side's images.txt edited (the delta does not carry it: unchanged there).
    let list = far_lab.join("images.txt");
    let kept = fs::read(&list).unwrap();
    let mut edited = kept.clone();
    edited.extend_from_slice(b"# edited on the far side\n");
    fs::write(&list, &edited).unwrap();
    let before = common::snapshot(&far_lab);
    let out = apply_in(&far, &delta).expect(2).run();
    assert!(
        out.stderr.contains(&format!("{} (sha256 ", list.display())),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("edited on this side"), "{}", out.stderr);
    assert!(!out.stderr.contains("manifest.json:"), "{}", out.stderr);
    assert!(
        !out.stderr.contains("mirror"),
        "rebuilt first: {}",
        out.stderr
    );
    common::assert_same_tree(&before, &common::snapshot(&far_lab), "an edited list");

    // The config the delta carries, edited here: not overwritten, named.
    fs::write(&list, &kept).unwrap();
    let far_config = far_lab.join("seedforge.yaml");
    let mut cfg = fs::read(&far_config).unwrap();
    cfg.extend_from_slice(b"# edited on the far side\n");
    fs::write(&far_config, &cfg).unwrap();
    let out = apply_in(&far, &delta).expect(2).run();
    assert!(
        out.stderr.contains(&far_config.display().to_string()),
        "{}",
        out.stderr
    );
    assert_eq!(fs::read(&far_config).unwrap(), cfg);

    // Put back: applies.
    fs::write(
        &far_config,
        &cfg[..cfg.len() - b"# edited on the far side\n".len()],
    )
    .unwrap();
    apply_in(&far, &delta).run();
    crate::delta::assert_same_output(&far_lab.join("out"), &lab.out_dir());
}

/// A ConfigMap manifest of `name` at `version`.
fn config_map(name: &str, version: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: default\ndata:\n  version: \"{version}\"\n"
    )
}

#[test]
fn a_changed_manifests_file_crosses_with_the_delta_and_one_outside_the_config_folder_is_refused() {
    let lab = Lab::new();
    let dir = lab.lab_dir();
    let shared = lab.root().join("fixtures/shared");
    fs::create_dir_all(&shared).unwrap();
    fs::write(dir.join("app.yaml"), config_map("app", "1")).unwrap();
    fs::write(shared.join("extra.yaml"), config_map("extra", "1")).unwrap();
    // The release's image list, as the config's own: the lab's images.
    let release: Vec<String> = lab.lab_destinations();
    fs::write(dir.join("k3s-images.txt"), release.join("\n") + "\n").unwrap();
    let config = dir.join("seedforge.yaml");
    let text = fs::read_to_string(&config).unwrap().replace(
        "  k3s_version: v1.33.1+k3s1\n",
        "  k3s_version: v1.33.1+k3s1\n  release_images: k3s-images.txt\n",
    );
    fs::write(
        &config,
        text + "manifests:\n  - app.yaml\n  - ../shared/extra.yaml\n",
    )
    .unwrap();
    lab.build();
    let receipt = lab.receipt("v1.json").arg("--json").run();
    assert!(receipt.stdout.contains("v1.json"), "{}", receipt.stdout);
    let r = common::read_json(&lab.root().join("v1.json"));
    let others: Vec<&str> = (r["other_inputs"].as_array().unwrap().iter())
        .map(|i| i["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        others,
        ["../shared/extra.yaml", "app.yaml", "k3s-images.txt"]
    );
    let far = lab.far_copy("far");
    let far2 = lab.far_copy("far2");
    let far_lab = far.join("fixtures/lab");

    // v2: the manifest and the release list inside the config folder change: carried,
    // written, rebuilt.
    fs::write(dir.join("app.yaml"), config_map("app", "2")).unwrap();
    let release_v2 = format!("# the release's list\n{}\n", release.join("\n"));
    fs::write(dir.join("k3s-images.txt"), &release_v2).unwrap();
    lab.build();
    let out = lab.delta("v1.json", "delta").run();
    assert!(
        out.stdout
            .contains("config files: app.yaml, k3s-images.txt"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("sealed files: manifests/app.yaml"),
        "{}",
        out.stdout
    );
    let doc = common::read_json(&lab.root().join("delta/delta.json"));
    assert_eq!(
        doc["other_inputs"],
        serde_json::json!(["app.yaml", "k3s-images.txt"])
    );
    let plan = lab
        .seedforge()
        .args([
            "plan",
            "--config",
            lab.config_arg(),
            "--upgrade-from",
            "v1.json",
        ])
        .run();
    assert!(plan.stdout.contains("app.yaml"), "{}", plan.stdout);
    // A far side whose file outside the config folder (not carried: unchanged on the
    // near side) was edited: named before anything is staged.
    let far2_extra = far2.join("fixtures/shared/extra.yaml");
    fs::write(&far2_extra, config_map("extra", "edited")).unwrap();
    let before = common::snapshot(&far2);
    let out = apply_in(&far2, &lab.root().join("delta")).expect(2).run();
    assert!(out.stderr.contains("extra.yaml (sha256 "), "{}", out.stderr);
    assert!(out.stderr.contains("the near side's"), "{}", out.stderr);
    common::assert_same_tree(&before, &common::snapshot(&far2), "an edited extra.yaml");

    apply_in(&far, &lab.root().join("delta")).run();
    crate::delta::assert_same_output(&far_lab.join("out"), &lab.out_dir());
    assert_eq!(
        fs::read_to_string(far_lab.join("app.yaml")).unwrap(),
        config_map("app", "2")
    );
    assert_eq!(
        fs::read_to_string(far_lab.join("k3s-images.txt")).unwrap(),
        release_v2
    );
    common::far_side(&far)
        .args([
            "build",
            "--offline",
            "--config",
            "fixtures/lab/seedforge.yaml",
        ])
        .run();
    assert_eq!(sums(&far_lab.join("out")), sums(&lab.out_dir()));

    // v3: the one outside the config folder changes: delta and plan --upgrade-from
    // refuse (exit 2), naming it; nothing written.
    common::far_side(&far)
        .args(["receipt", "fixtures/lab/out", "-o"])
        .arg(lab.root().join("v2.json"))
        .run();
    fs::write(shared.join("extra.yaml"), config_map("extra", "2")).unwrap();
    lab.build();
    let out = lab.delta("v2.json", "delta3").expect(2).run();
    assert!(out.stderr.contains("extra.yaml"), "{}", out.stderr);
    assert!(out.stderr.contains("cannot cross"), "{}", out.stderr);
    assert!(!lab.root().join("delta3").exists());
    let plan = lab
        .seedforge()
        .args([
            "plan",
            "--config",
            lab.config_arg(),
            "--upgrade-from",
            "v2.json",
        ])
        .expect(2)
        .run();
    assert!(plan.stderr.contains("extra.yaml"), "{}", plan.stderr);
}

#[test]
fn a_bundle_new_to_the_far_side_applies_without_its_deb_folder_and_builds_offline_there() {
    if !common::require_tool("dpkg-deb") {
        return;
    }
    let lab = Lab::new();
    lab.build();
    lab.receipt("v1.json").run();
    let far = lab.far_copy("far");
    let far_lab = far.join("fixtures/lab");
    let base = fs::read_to_string(lab.lab_dir().join("seedforge.yaml")).unwrap();
    set_version(&lab, &base, "v1.33.1+k3s1", &[("zz-tool", "1.0")]);
    lab.build();
    lab.delta("v1.json", "delta").run();
    assert!(!far_lab.join("debs").exists());
    let applied = apply_in(&far, &lab.root().join("delta"))
        .arg("--json")
        .run()
        .json();
    crate::delta::assert_same_output(&far_lab.join("out"), &lab.out_dir());
    // The folder the config names is made, empty: the bundle is the carried one.
    assert!(
        applied["config_files"]
            .as_array()
            .unwrap()
            .contains(&"debs/".into()),
        "{applied:#}"
    );
    assert_eq!(fs::read_dir(far_lab.join("debs")).unwrap().count(), 0);
    let built = common::far_side(&far)
        .args([
            "build",
            "--offline",
            "--config",
            "fixtures/lab/seedforge.yaml",
        ])
        .run();
    assert!(built.stderr.contains("kept as pinned"), "{}", built.stderr);
    assert_eq!(sums(&far_lab.join("out")), sums(&lab.out_dir()));
}

#[test]
fn a_delta_listing_a_config_file_inside_the_output_is_refused() {
    let lab = Lab::new();
    lab.build();
    lab.receipt("v1.json").run();
    let far = lab.far_copy("far");
    let config = lab.lab_dir().join("seedforge.yaml");
    let text = fs::read_to_string(&config).unwrap();
    fs::write(&config, text.replace("192.168.6.12/24", "192.168.6.13/24")).unwrap();
    lab.build();
    lab.delta("v1.json", "delta").run();
    let delta = lab.root().join("delta");
    // A "config file" at out/SHA256SUMS, listed and sealed as the delta's own.
    let planted = b"0000  planted\n";
    fs::create_dir_all(delta.join("config/out")).unwrap();
    fs::write(delta.join("config/out/SHA256SUMS"), planted).unwrap();
    let mut doc = common::read_json(&delta.join("delta.json"));
    doc["other_inputs"] = serde_json::json!(["out/SHA256SUMS"]);
    let count = doc["config"]["count"].as_u64().unwrap();
    let bytes = doc["config"]["bytes"].as_u64().unwrap();
    doc["config"]["count"] = (count + 1).into();
    doc["config"]["bytes"] = (bytes + planted.len() as u64).into();
    let json = serde_json::to_vec_pretty(&doc).unwrap();
    fs::write(delta.join("delta.json"), &json).unwrap();
    let mut sums: Vec<String> = fs::read_to_string(delta.join("SHA256SUMS"))
        .unwrap()
        .lines()
        .filter(|l| !l.ends_with("  delta.json"))
        .map(str::to_string)
        .collect();
    sums.push(format!("{}  delta.json", common::sha256_bytes(&json)));
    sums.push(format!(
        "{}  config/out/SHA256SUMS",
        common::sha256_bytes(planted)
    ));
    sums.sort_by(|a, b| a[66..].cmp(&b[66..]));
    fs::write(delta.join("SHA256SUMS"), sums.join("\n") + "\n").unwrap();
    let far_lab = far.join("fixtures/lab");
    let before = common::snapshot(&far_lab);
    let out = apply_in(&far, &delta).expect(2).run();
    assert!(
        out.stderr
            .contains("config/out/SHA256SUMS: a config file inside the output"),
        "{}",
        out.stderr
    );
    common::assert_same_tree(&before, &common::snapshot(&far_lab), "a planted file");
}

/// An image list that is also the release's list (`cluster.release_images`, as an operator
/// of a release the table does not know gives it): recorded by manifest.json as an image
/// list, it crosses once when it changes, and the delta applies.
#[test]
fn an_image_list_named_as_release_images_too_crosses_once() {
    let lab = Lab::new();
    let config = lab.lab_dir().join("seedforge.yaml");
    let text = fs::read_to_string(&config).unwrap().replace(
        "  k3s_version: v1.33.1+k3s1\n",
        "  k3s_version: v1.33.1+k3s1\n  release_images: images.txt\n",
    );
    fs::write(&config, text).unwrap();
    lab.build();
    let far = lab.far_copy("far");
    lab.receipt("r.json").run();
    let list = lab.lab_dir().join("images.txt");
    let listed = fs::read_to_string(&list).unwrap();
    fs::write(
        &list,
        format!("{listed}oci:../images/oci:mirrored-pause:3.6 docker.io/acme/api:1.0\n"),
    )
    .unwrap();
    lab.build();
    let report = lab.delta("r.json", "d").arg("--json").run().json();
    assert_eq!(report["config"]["count"], 1, "{report:#}");
    common::far_side(&far)
        .arg("apply")
        .arg(lab.root().join("d"))
        .args(["--to", "fixtures/lab/out"])
        .run();
    crate::delta::assert_same_output(&far.join("fixtures/lab/out"), &lab.out_dir());
}

/// The signature policy's key and trusted root (`images.verify.keys`, `trusted_root`),
/// which the far side's build reads from its own folder: the receipt records them, and a
/// changed one (a new key, a root rewritten by `cosign trusted-root create` again) crosses
/// with the delta and is written there.
#[test]
fn a_changed_verify_key_and_trusted_root_cross_with_the_delta() {
    let Some(sigstore) = common::keyless::PrivateSigstore::new() else {
        return;
    };
    let lab = Lab::new();
    let dir = lab.lab_dir();
    let signer = common::sigstore::Signer::new(sigstore.cosign.clone());
    fs::copy(signer.public_key(), dir.join("cosign.pub")).unwrap();
    fs::copy(&sigstore.trusted_root, dir.join("trusted_root.json")).unwrap();
    let config = dir.join("seedforge.yaml");
    let text = fs::read_to_string(&config).unwrap().replace(
        "\n  concurrency: 4\n",
        &format!(
            "\n  concurrency: 4\n  verify:\n    keys: [cosign.pub]\n    identities:\n      - issuer: {}\n        subject: {}\n    trusted_root: trusted_root.json\n",
            common::keyless::ISSUER,
            common::keyless::SIGNER
        ),
    );
    fs::write(&config, text).unwrap();
    lab.build();
    let far = lab.far_copy("far");
    lab.receipt("r.json").run();
    let r = common::read_json(&lab.root().join("r.json"));
    let others: Vec<&str> = (r["other_inputs"].as_array().unwrap().iter())
        .map(|i| i["path"].as_str().unwrap())
        .collect();
    assert_eq!(others, ["cosign.pub", "trusted_root.json"]);

    // A new key pair, and the same root written another way (still a root that parses).
    let signer2 = common::sigstore::Signer::new(sigstore.cosign.clone());
    let key2 = fs::read(signer2.public_key()).unwrap();
    fs::write(dir.join("cosign.pub"), &key2).unwrap();
    let root: serde_json::Value = common::read_json(&sigstore.trusted_root);
    let root2 = serde_json::to_string_pretty(&root).unwrap() + "\n\n";
    assert_ne!(fs::read(&sigstore.trusted_root).unwrap(), root2.as_bytes());
    fs::write(dir.join("trusted_root.json"), &root2).unwrap();
    lab.build();
    let out = lab.delta("r.json", "d").run();
    assert!(
        out.stdout
            .contains("config files: cosign.pub, trusted_root.json"),
        "{}",
        out.stdout
    );
    let doc = common::read_json(&lab.root().join("d/delta.json"));
    assert_eq!(
        doc["other_inputs"],
        serde_json::json!(["cosign.pub", "trusted_root.json"])
    );
    common::far_side(&far)
        .arg("apply")
        .arg(lab.root().join("d"))
        .args(["--to", "fixtures/lab/out"])
        .run();
    crate::delta::assert_same_output(&far.join("fixtures/lab/out"), &lab.out_dir());
    let far_lab = far.join("fixtures/lab");
    assert_eq!(fs::read(far_lab.join("cosign.pub")).unwrap(), key2);
    assert_eq!(
        fs::read_to_string(far_lab.join("trusted_root.json")).unwrap(),
        root2
    );
}
