//! Two sites of one cluster name: a lab cloned (its config folder copied with the seal key
//! and the join token, its second output started from the first one's PKI, so the same
//! cluster name, CA, keys and token, and otherwise the same bytes) is told apart by the
//! site identity each output makes at its first build. `delta` refuses a receipt of the
//! other site (exit 2, naming both), and the far side's `apply` refuses a medium made for
//! the other site, naming both, before anything is written.

use crate::common::{self, Cmd, Lab, assert_same_tree, copy_tree, read_json, snapshot};
use std::fs;
use std::path::{Path, PathBuf};

/// The site identity the output `out` holds.
fn site_of(out: &Path) -> String {
    let site = read_json(&out.join("site.json"))["site"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(read_json(&out.join("manifest.json"))["site"], site.as_str());
    site
}

/// Site B of the lab: its `fixtures/` copied to `ROOT/b` without the output, the output
/// started from site A's PKI, built, its receipt written to `ROOT/rb.json`, and its far
/// side copied to `ROOT/far-b` without the private key. Returns the far side's root.
fn cloned_site(lab: &Lab) -> PathBuf {
    let b = lab.root().join("b");
    copy_tree(&lab.root().join("fixtures"), &b.join("fixtures"), &|p| {
        p == lab.out_dir()
    });
    let out_b = b.join("fixtures/lab/out");
    copy_tree(&lab.out_dir().join("pki"), &out_b.join("pki"), &|_| false);
    Cmd::seedforge()
        .cwd(&b)
        .args(["build", "--config", "fixtures/lab/seedforge.yaml"])
        .run();
    Cmd::seedforge()
        .cwd(&b)
        .args(["receipt", "fixtures/lab/out", "-o"])
        .arg(lab.root().join("rb.json"))
        .run();
    let far_b = lab.root().join("far-b");
    copy_tree(&b.join("fixtures"), &far_b.join("fixtures"), &|_| false);
    fs::remove_file(far_b.join("fixtures/lab/seal.key")).unwrap();
    far_b
}

#[test]
fn a_cloned_labs_two_sites_refuse_each_others_receipt_and_medium() {
    let lab = Lab::new();
    // Site A, signed, and its far side receipted.
    let far_a = lab.signed_far_side();
    let far_b = cloned_site(&lab);
    let (a, b) = (
        site_of(&lab.out_dir()),
        site_of(&far_b.join("fixtures/lab/out")),
    );
    assert_ne!(a, b, "two first builds made one site");
    // The same CA, key and token: only the site tells the outputs apart.
    for same in ["pki/ca.crt", "pki/ca.key", "keys/seal.pub"] {
        assert_eq!(
            fs::read(lab.out_dir().join(same)).unwrap(),
            fs::read(far_b.join("fixtures/lab/out").join(same)).unwrap(),
            "{same}"
        );
    }
    // A rebuild keeps the site.
    lab.build();
    assert_eq!(site_of(&lab.out_dir()), a);

    // Site A's near side changes something and builds.
    let dir = lab.lab_dir();
    fs::write(dir.join("motd.txt"), "site A\n").unwrap();
    let config = dir.join("seedforge.yaml");
    let text = fs::read_to_string(&config).unwrap();
    fs::write(
        &config,
        format!(
            "{text}files:\n  - name: etc/motd.txt\n    source: motd.txt\n    sha256: \"{}\"\n",
            common::sha256_bytes(b"site A\n")
        ),
    )
    .unwrap();
    lab.build();
    assert_eq!(site_of(&lab.out_dir()), a);

    // plan --upgrade-from warns of it.
    let planned = lab
        .seedforge()
        .args([
            "plan",
            "--config",
            lab.config_arg(),
            "--upgrade-from",
            "rb.json",
        ])
        .run();
    assert!(
        planned
            .stderr
            .contains(&format!("the receipt is of site {b}, and")),
        "{}",
        planned.stderr
    );
    // A delta of site A's output against site B's receipt: refused, naming both sites and
    // how to get the right receipt, nothing written.
    let refused = lab.delta("rb.json", "d-ab").expect(2).run();
    assert!(
        refused.stderr.contains(&format!("receipt is of site {b}"))
            && refused.stderr.contains(&format!("output of site {a}"))
            && refused.stderr.contains("seedforge receipt"),
        "{}",
        refused.stderr
    );
    assert!(!lab.root().join("d-ab").exists());

    // The medium made for site A, carried to site B's far side: refused, naming both, the
    // far side byte for byte as it was.
    lab.delta("r.json", "d-a").run();
    let record = read_json(&lab.root().join("d-a/delta.json"));
    assert_eq!(
        (record["site"].as_str(), record["base_site"].as_str()),
        (Some(a.as_str()), Some(a.as_str()))
    );
    let before = snapshot(&far_b.join("fixtures"));
    let applied = common::far_side(&far_b)
        .arg("apply")
        .arg(lab.root().join("d-a"))
        .args(["--to", "fixtures/lab/out"])
        .any_status()
        .run();
    assert_ne!(applied.code, Some(0), "{}", applied.stdout);
    assert!(
        applied.stderr.contains(&format!("medium is for site {a}"))
            && applied.stderr.contains(&format!("output is site {b}")),
        "{}",
        applied.stderr
    );
    assert_same_tree(
        &before,
        &snapshot(&far_b.join("fixtures")),
        "after the refusal",
    );

    // At site A's far side it applies, and the site stays A's.
    common::far_side(&far_a)
        .arg("apply")
        .arg(lab.root().join("d-a"))
        .args(["--to", "fixtures/lab/out"])
        .run();
    let far_a_out = far_a.join("fixtures/lab/out");
    assert_eq!(site_of(&far_a_out), a);
    assert!(far_a_out.join("files/etc/motd.txt").is_file());
    let receipt = common::far_side(&far_a)
        .args(["receipt", "fixtures/lab/out", "-o", "r2.json"])
        .run();
    drop(receipt);
    assert_eq!(read_json(&far_a.join("r2.json"))["site"], a.as_str());
}

/// `out` made as an output of a seedforge without sites: no `site.json`, no `site` in
/// `manifest.json`, its `SHA256SUMS` agreeing (an unsigned output).
fn as_built_before_sites(out: &Path) {
    fs::remove_file(out.join("site.json")).unwrap();
    let path = out.join("manifest.json");
    let mut manifest = read_json(&path);
    let m = manifest.as_object_mut().unwrap();
    m.remove("site");
    m["artifacts"]
        .as_array_mut()
        .unwrap()
        .retain(|a| a["path"] != "site.json");
    let mut bytes = serde_json::to_vec_pretty(&manifest).unwrap();
    bytes.push(b'\n');
    fs::write(&path, &bytes).unwrap();
    let sums: String = fs::read_to_string(out.join("SHA256SUMS"))
        .unwrap()
        .lines()
        .filter(|l| !l.ends_with("  site.json"))
        .map(|l| match l.strip_suffix("  manifest.json") {
            Some(_) => format!("{}  manifest.json\n", common::sha256_bytes(&bytes)),
            None => format!("{l}\n"),
        })
        .collect();
    fs::write(out.join("SHA256SUMS"), sums).unwrap();
}

/// An output of a seedforge without sites, on both sides: the near side's next build makes
/// its site; `delta` against the far side's receipt, which names none, warns and makes the
/// medium, which carries `site.json`; the far side's `apply` takes it, and its next
/// receipt names the near side's site. The far side's own offline build makes none.
#[test]
fn an_output_without_a_site_takes_the_near_sides_with_the_next_delta() {
    let lab = Lab::new();
    lab.build();
    as_built_before_sites(&lab.out_dir());
    lab.seedforge().arg("verify").arg(lab.out_dir()).run();
    let far = lab.far_copy("far");
    let far_out = far.join("fixtures/lab/out");
    // The far side's offline build keeps the output without a site.
    common::far_side(&far)
        .args([
            "build",
            "--offline",
            "--config",
            "fixtures/lab/seedforge.yaml",
        ])
        .run();
    assert!(!far_out.join("site.json").exists());
    common::far_side(&far)
        .args(["receipt", "fixtures/lab/out", "-o"])
        .arg(lab.root().join("r.json"))
        .run();
    assert!(read_json(&lab.root().join("r.json")).get("site").is_none());
    // The near side's next build makes the site.
    lab.build();
    let site = site_of(&lab.out_dir());
    let made = lab.delta("r.json", "d").run();
    assert!(
        made.stderr.contains("the receipt names no site"),
        "{}",
        made.stderr
    );
    let record = read_json(&lab.root().join("d/delta.json"));
    assert_eq!(record["site"], site.as_str());
    assert!(record.get("base_site").is_none(), "{record:#}");
    assert!(lab.root().join("d/out/site.json").is_file());
    common::far_side(&far)
        .arg("apply")
        .arg(lab.root().join("d"))
        .args(["--to", "fixtures/lab/out"])
        .run();
    assert_eq!(site_of(&far_out), site);
    common::far_side(&far)
        .args(["receipt", "fixtures/lab/out", "-o", "r2.json"])
        .run();
    assert_eq!(read_json(&far.join("r2.json"))["site"], site.as_str());
}
