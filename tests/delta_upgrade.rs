//! A second day of the lab, as an operator meets it: v1 is built and receipted on the far
//! side; v2 changes one image in one layer, adds an image, moves k3s to a patch release
//! and changes a .deb bundle and a payload file (both from local sources, which the far
//! side holds only in v1's version). The delta since v1's receipt carries exactly the blobs v2's
//! layout reaches and v1's does not (the changed image's shared layer stays behind, its new
//! one goes), the new bundle, and no derived file; applied onto a copy of v1's config
//! folder and output with no network (a network namespace with nothing but loopback, where
//! one can be made), the far side's output is v2's, every sealed file byte for byte, and
//! `seedforge verify` passes there.

use crate::common::{self, Cmd, Lab, blob_names};
use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

/// The blob file names of a layout.
/// The lab at a version: k3s release, the app image's second layer, the extra image, the
/// tool package's version. The app images and the .debs live beside the lab config.
fn set_version(lab: &Lab, base: &str, v2: bool) {
    let dir = lab.lab_dir();
    let k3s = if v2 { "v1.33.2+k3s1" } else { "v1.33.1+k3s1" };
    let tool = if v2 { "1.1" } else { "1.0" };
    let debs = dir.join("debs");
    let _ = fs::remove_dir_all(&debs);
    fs::create_dir_all(&debs).unwrap();
    let scratch = lab.root().join("deb-trees");
    fs::create_dir_all(&scratch).unwrap();
    let deb = common::debs::small_deb(&scratch, "zz-tool", tool, "", &format!("tool {tool}\n"));
    fs::copy(&deb, debs.join(deb.file_name().unwrap())).unwrap();
    // A payload file from a local source, changed with the version.
    let motd = format!("welcome to {k3s}\n");
    fs::write(dir.join("motd.txt"), &motd).unwrap();
    let config = base.replace("v1.33.1+k3s1", k3s)
        + "packages:\n  - name: tools\n    packages: [zz-tool]\n    debs: [debs]\n"
        + &format!(
            "files:\n  - name: etc/motd\n    source: motd.txt\n    sha256: \"{}\"\n",
            common::sha256_bytes(motd.as_bytes())
        );
    fs::write(dir.join("seedforge.yaml"), config).unwrap();
    let list = dir.join("images.txt");
    let text = fs::read_to_string(&list).unwrap();
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| !l.contains("docker.io/acme/"))
        .collect();
    let mut text = lines.join("\n") + "\n";
    if v2 {
        text.push_str("oci:../app:app-v2  docker.io/acme/app:1\n");
        text.push_str("oci:../app:extra  docker.io/acme/extra:1\n");
    } else {
        text.push_str("oci:../app:app-v1  docker.io/acme/app:1\n");
    }
    fs::write(&list, text).unwrap();
}

#[test]
fn an_upgrade_delta_carries_only_new_layers_and_the_far_side_rebuilds_v2_offline() {
    if !common::require_tool("dpkg-deb") {
        return;
    }
    let lab = Lab::new();
    let app = lab.root().join("fixtures/app");
    // Two layers each: app-v2 keeps app-v1's first layer (same size and seed) and has a
    // second layer of other bytes; extra is a new image of one layer.
    let v1 = common::write_oci_image(&app, "app-v1", &[300_000, 40_000], 100);
    // (2.5 MB: over the smallest part size, so a delta in parts cuts it.)
    let v2 = common::write_oci_image(&app, "app-v2", &[300_000, 2_500_000], 100);
    let extra = common::write_oci_image(&app, "extra", &[20_000], 700);
    assert_eq!(v1.layers[0].digest, v2.layers[0].digest);
    assert_ne!(v1.layers[1].digest, v2.layers[1].digest);
    let base = fs::read_to_string(lab.lab_dir().join("seedforge.yaml")).unwrap();

    set_version(&lab, &base, false);
    lab.build();
    let v1_blobs = blob_names(&lab.out_layout());
    lab.receipt("v1.json").run();
    // The far side: v1's config folder and output, as they stand there.
    let far = lab.far_copy("far");
    let far2 = lab.far_copy("far2");
    let far3 = lab.far_copy("far3");

    set_version(&lab, &base, true);
    lab.build();
    let v2_blobs = blob_names(&lab.out_layout());
    let report = lab.delta("v1.json", "delta").arg("--json").run().json();
    let delta = lab.root().join("delta");

    // Exactly the blobs v2 reaches that v1 does not: the new layers (the changed one and
    // the extra image's), their configs and manifests; the shared layer stays behind.
    let carried = blob_names(&delta.join("out/oci"));
    let new: BTreeSet<String> = v2_blobs.difference(&v1_blobs).cloned().collect();
    assert_eq!(carried, new, "{report:#}");
    let hex = |d: &str| d.trim_start_matches("sha256:").to_string();
    assert!(!carried.contains(&hex(&v1.layers[0].digest)));
    let layers: BTreeSet<String> = [&v2.layers[1], &extra.layers[0]]
        .iter()
        .map(|l| hex(&l.digest))
        .collect();
    assert_eq!(
        carried.intersection(&layers).count(),
        2,
        "the two new layers"
    );
    for other in [&v2.config, &v2.manifest, &extra.config, &extra.manifest] {
        assert!(carried.contains(&hex(&other.digest)), "{}", other.digest);
    }
    // Layers only among the carried blobs but configs and manifests: nothing else is new.
    assert_eq!(carried.len(), 6, "{carried:#?}");
    // The new bundle (not derivable), not the derived files.
    assert!(delta.join("out/packages/tools.tar.gz").is_file());
    assert!(delta.join("out/files/etc/motd").is_file());
    for derived in ["out/iso", "out/airgap", "out/nodes"] {
        assert!(!delta.join(derived).exists(), "{derived}");
    }

    // Applied on the far side, with no network where a namespace can be made.
    let isolated = common::network_namespace_usable();
    let seedforge = common::seedforge_bin();
    let mut apply = if isolated {
        Cmd::new("unshare").args(["-n", "--"]).arg(&seedforge)
    } else {
        eprintln!("note: no network namespace here; apply runs build --offline only");
        Cmd::new(&seedforge)
    };
    apply = apply
        .cwd(&far)
        .arg("apply")
        .arg(&delta)
        .args(["--to", "fixtures/lab/out"]);
    apply.run();
    let near_out = lab.out_dir();
    let far_out = far.join("fixtures/lab/out");
    crate::delta::assert_same_output(&far_out, &near_out);
    let sums = fs::read_to_string(near_out.join("SHA256SUMS")).unwrap();
    Cmd::seedforge().arg("verify").arg(&far_out).run();
    // The far side's config folder is v2's too.
    for input in ["seedforge.yaml", "images.txt"] {
        assert_eq!(
            fs::read(far.join("fixtures/lab").join(input)).unwrap(),
            fs::read(lab.lab_dir().join(input)).unwrap(),
            "{input}"
        );
    }

    // The same delta in media-sized parts: no file over 1 MiB, `sha256sum -c` accepts the
    // folder as it is, a part missing is named, and apply takes the parts as they are.
    lab.delta("v1.json", "parts")
        .args(["--split", "1MiB"])
        .run();
    let parts = lab.root().join("parts");
    let layer = format!("out/oci/blobs/sha256/{}", hex(&v2.layers[1].digest));
    assert!(!parts.join(&layer).exists());
    for i in 1..=3 {
        let part = parts.join(format!("{layer}.part{i:03}"));
        assert!(fs::metadata(&part).unwrap().len() <= 1 << 20, "{i}");
    }
    assert!(!parts.join(format!("{layer}.part004")).exists());
    Cmd::new("sha256sum")
        .args(["--quiet", "--strict", "-c", "SHA256SUMS"])
        .cwd(&parts)
        .run();
    let wholes = fs::read_to_string(parts.join("SHA256SUMS.wholes")).unwrap();
    assert_eq!(
        wholes,
        format!("{}  {layer}\n", hex(&v2.layers[1].digest)),
        "{wholes}"
    );
    let hidden = parts.join(format!("{layer}.part002"));
    let kept = lab.root().join("part002");
    fs::rename(&hidden, &kept).unwrap();
    let out = apply_in(&far2, &parts).expect(1).run();
    assert!(out.stderr.contains("part002"), "{}", out.stderr);
    fs::rename(&kept, &hidden).unwrap();
    // With recovery files (delta --parity): par2cmdline verifies the set (the names in it
    // are paths under the delta folder), and apply takes the delta with a part lost,
    // rebuilt in a staging copy (the delta folder is not written).
    lab.delta("v1.json", "parity")
        .args(["--split", "1MiB", "--parity", "10"])
        .run();
    let parity = lab.root().join("parity");
    assert!(parity.join("delta.par2").is_file());
    for (judge, par2) in crate::parity::judges() {
        let out = par2.args(["verify", "delta.par2"]).cwd(&parity).run();
        assert!(
            out.stdout.contains("All files are correct"),
            "{judge}: {}",
            out.stdout
        );
    }
    Cmd::new("sha256sum")
        .args(["--quiet", "--strict", "-c", "SHA256SUMS"])
        .cwd(&parity)
        .run();
    fs::remove_file(parity.join(format!("{layer}.part002"))).unwrap();
    let listing = common::names_in(&parity.join("out/oci/blobs/sha256"));
    // The report names the delta as it was given and the part the recovery files rebuilt.
    let report = apply_in(&far3, &parity).arg("--json").run().json();
    assert_eq!(report["delta"], parity.display().to_string(), "{report}");
    assert_eq!(
        report["delta_rebuilt"],
        serde_json::json!([format!("{layer}.part002")]),
        "{report}"
    );
    assert_eq!(
        fs::read_to_string(far3.join("fixtures/lab/out/SHA256SUMS")).unwrap(),
        sums
    );
    assert_eq!(
        common::names_in(&parity.join("out/oci/blobs/sha256")),
        listing
    );
    apply_in(&far2, &parts).run();
    let far2_out = far2.join("fixtures/lab/out");
    assert_eq!(
        fs::read_to_string(far2_out.join("SHA256SUMS")).unwrap(),
        sums
    );
    // Joined by its own join.sh, the delta applies whole (a no-op here: applied already).
    Cmd::new("sh")
        .args(["join.sh", "--remove-parts"])
        .cwd(&parts)
        .run();
    assert!(parts.join(&layer).is_file());
    let again = apply_in(&far2, &parts).args(["--json"]).run();
    assert!(again.stdout.contains("unchanged"), "{}", again.stdout);
}

/// `seedforge apply DELTA --to fixtures/lab/out` in `far`.
fn apply_in(far: &Path, delta: &Path) -> Cmd {
    Cmd::seedforge()
        .cwd(far)
        .arg("apply")
        .arg(delta)
        .args(["--to", "fixtures/lab/out"])
}
