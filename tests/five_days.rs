//! Five days of changes across the gap, in the shapes operators have: a cluster whose
//! application image is signed by cosign 3 and checked by an `images.verify` policy, a
//! medium signed with a key from `cosign generate-key-pair` (ECDSA P-256) or an Ed25519
//! key, a chart from a Helm HTTP repository, a `.deb` bundle over a node base that grows, a
//! `files:` k3s binary, and the export in 1 MiB parts. The far side holds its config folder
//! and the public keys only (never a private key), and runs with no network. Each day: the
//! far side's receipt, the near side's build and delta, `verify --key` of the delta, and the
//! far side's `apply --key`, which must give the near side's output byte for byte; then the
//! far side's own `build --offline` must give it again (its export too), `verify --key`
//! passes on the output and on the export folder, and cosign checks the carried signature.
//! Last, damage and an edited input on the far side are named.

use crate::common;

use common::charts::{VALUES, chart_tgz};
use common::debs::{HttpServer, small_deb};
use common::registry::{Registry, fixture_layout, skopeo_push, skopeo_raw_digest};
use common::{Cmd, Lab, flip_byte, require_tool, sha256_bytes};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

const PASSWORD: &str = "the cluster's cosign password";

/// What the near side's config says on one day.
struct Day {
    /// Whether the signed application image is listed.
    app: bool,
    /// The chart's version (from the HTTP repository) and its values.
    chart: &'static str,
    values: &'static str,
    /// The bundle's packages (name, version), each requested.
    debs: &'static [(&'static str, &'static str)],
    /// The k3s binary's salt.
    binary: &'static str,
}

const DAYS: [Day; 5] = [
    Day {
        app: false,
        chart: "1.2.3",
        values: "replicaCount: 1\n",
        debs: &[("zz-tool", "1.0")],
        binary: "one",
    },
    Day {
        app: true,
        chart: "1.2.3",
        values: "replicaCount: 1\n",
        debs: &[("zz-tool", "1.0")],
        binary: "one",
    },
    Day {
        app: true,
        chart: "1.3.0",
        values: "replicaCount: 2\n",
        debs: &[("zz-tool", "1.0")],
        binary: "one",
    },
    Day {
        app: true,
        chart: "1.3.0",
        values: "replicaCount: 2\n",
        debs: &[("zz-tool", "1.1"), ("zz-extra", "2.0")],
        binary: "one",
    },
    Day {
        app: true,
        chart: "1.3.0",
        values: "replicaCount: 2\n",
        debs: &[("zz-tool", "1.1"), ("zz-extra", "2.0")],
        binary: "two",
    },
];

/// The near side's config, list, bundle folder and binary for `day`.
fn set_day(lab: &Lab, base: &(String, String), day: &Day, web: &str, registry: &str, seal: &str) {
    let dir = lab.lab_dir();
    let folder = dir.join("debs");
    let _ = fs::remove_dir_all(&folder);
    fs::create_dir_all(&folder).unwrap();
    let scratch = lab.root().join("deb-trees");
    fs::create_dir_all(&scratch).unwrap();
    for (name, version) in day.debs {
        let deb = small_deb(&scratch, name, version, "", &format!("{name} {version}\n"));
        fs::copy(&deb, folder.join(deb.file_name().unwrap())).unwrap();
    }
    let binary = common::k3s_binary("v1.33.1+k3s1", day.binary);
    fs::write(dir.join("k3s"), &binary).unwrap();
    fs::write(dir.join("web-values.yaml"), day.values).unwrap();
    let names: Vec<&str> = day.debs.iter().map(|(n, _)| *n).collect();
    let mut list = base.1.clone();
    if day.app {
        list.push_str(&format!(
            "docker://{registry}/acme/api:1.0 docker.io/acme/api:1.0\n"
        ));
    }
    fs::write(dir.join("images.txt"), list).unwrap();
    let config = base
        .0
        .replace(
            "\nimages:\n",
            &format!("\nregistries:\n  - host: \"{registry}\"\n    insecure: true\n\nimages:\n"),
        )
        .replace(
            "\n  concurrency: 4\n",
            "\n  concurrency: 4\n  verify:\n    keys: [cosign.pub]\n    require: if-present\n",
        )
        + &format!(
            "packages:\n  - name: tools\n    packages: [{}]\n    debs: [debs]\n",
            names.join(", ")
        )
        + &format!(
            "files:\n  - name: bin/k3s\n    source: k3s\n    sha256: \"{}\"\n    executable: true\n",
            sha256_bytes(&binary)
        )
        + &format!(
            "charts:\n  - name: web\n    repo: {web}/charts\n    chart: demo-app\n    version: {}\n    values: web-values.yaml\n",
            day.chart
        )
        + &format!(
            "seal:\n  key: {seal}.key\n  public_key: {seal}.pub\nexport_dir: export\nexport_split: 1MiB\n"
        );
    fs::write(dir.join("seedforge.yaml"), config).unwrap();
}

fn sums(out: &Path) -> String {
    fs::read_to_string(out.join("SHA256SUMS")).unwrap()
}

fn five_days(cosign_medium: bool) {
    for tool in [
        "docker-registry",
        "skopeo",
        "python3",
        "openssl",
        "dpkg-deb",
    ] {
        if !require_tool(tool) {
            return;
        }
    }
    let Some(cosign) = common::sigstore::cosign() else {
        return;
    };
    // The near side's sources: a registry with the signed application image, and a Helm
    // HTTP repository with two versions of a chart.
    let registry = Registry::start_plain();
    skopeo_push(
        &format!("oci:{}:mirrored-pause:3.6", fixture_layout().display()),
        &registry,
        "acme/api:1.0",
        true,
    );
    let app = skopeo_raw_digest(&registry, "acme/api:1.0");
    let web_root = tempfile::tempdir().unwrap();
    let charts = web_root.path().join("charts");
    fs::create_dir_all(&charts).unwrap();
    let mut index = String::from("apiVersion: v1\nentries:\n  demo-app:\n");
    for version in ["1.2.3", "1.3.0"] {
        let tgz = chart_tgz("demo-app", version, VALUES);
        fs::write(charts.join(format!("demo-app-{version}.tgz")), &tgz).unwrap();
        index.push_str(&format!(
            "    - apiVersion: v2\n      name: demo-app\n      version: {version}\n      digest: {}\n      urls:\n        - demo-app-{version}.tgz\n",
            sha256_bytes(&tgz)
        ));
    }
    fs::write(charts.join("index.yaml"), index).unwrap();
    let mut web = HttpServer::start(web_root.path());

    let lab = Lab::new();
    let dir = lab.lab_dir();
    // cosign's key signs the image (and, for the cosign case, the medium).
    common::sigstore::generate_key_pair(&cosign, &dir, PASSWORD);
    common::sigstore::sign_classic(
        &cosign,
        &dir,
        PASSWORD,
        &format!("{}/acme/api@{app}", registry.host()),
    );
    let seal = if cosign_medium {
        "cosign"
    } else {
        Cmd::new("openssl")
            .args(["genpkey", "-algorithm", "ed25519", "-out", "medium.key"])
            .cwd(&dir)
            .run();
        Cmd::new("openssl")
            .args(["pkey", "-in", "medium.key", "-pubout", "-out", "medium.pub"])
            .cwd(&dir)
            .run();
        "medium"
    };
    let public = dir.join(format!("{seal}.pub"));
    let base = (
        fs::read_to_string(dir.join("seedforge.yaml")).unwrap(),
        fs::read_to_string(dir.join("images.txt")).unwrap(),
    );
    let near = || lab.seedforge().env("COSIGN_PASSWORD", PASSWORD);
    let set = |day: &Day| set_day(&lab, &base, day, &web.url, &registry.host(), seal);

    // Day one: built on the near side, carried whole, without a private key.
    set(&DAYS[0]);
    near().args(["build", "--config", lab.config_arg()]).run();
    let far = lab.far_copy("far");
    let far_lab = far.join("fixtures/lab");
    for private in ["cosign.key", "medium.key"] {
        let _ = fs::remove_file(far_lab.join(private));
    }
    // Its .deb folder and k3s binary stay as the first crossing left them: older than
    // the near side's from day four on.
    let far_out = far_lab.join("out");
    let far_build = || {
        common::far_side(&far)
            .env("COSIGN_PASSWORD", "")
            .args([
                "build",
                "--offline",
                "--config",
                "fixtures/lab/seedforge.yaml",
            ])
            .run();
    };
    far_build();
    assert_eq!(
        sums(&far_out),
        sums(&lab.out_dir()),
        "day 1: build --offline"
    );

    for (n, day) in DAYS.iter().enumerate().skip(1) {
        let what = format!("day {}", n + 1);
        let receipt = lab.root().join(format!("receipt-{n}.json"));
        common::far_side(&far)
            .env("COSIGN_PASSWORD", "")
            .args(["receipt", "fixtures/lab/out", "-o"])
            .arg(&receipt)
            .run();
        set(day);
        near().args(["build", "--config", lab.config_arg()]).run();
        let delta: PathBuf = lab.root().join(format!("delta-{n}"));
        near()
            .args(["delta", "fixtures/lab/out", "--since"])
            .arg(&receipt)
            .arg("-o")
            .arg(&delta)
            .run();
        lab.seedforge()
            .args(["verify", "--key"])
            .arg(&public)
            .arg(&delta)
            .run();
        let applied = common::far_side(&far)
            .env("COSIGN_PASSWORD", "")
            .args(["--json", "apply"])
            .arg(&delta)
            .args(["--to", "fixtures/lab/out", "--key"])
            .arg(far_lab.join(format!("{seal}.pub")))
            .run()
            .json();
        assert_eq!(applied["outcome"], "applied", "{what}: {applied}");
        assert_eq!(applied["signature"]["signed"], true, "{what}: {applied}");
        crate::delta::assert_same_output(&far_out, &lab.out_dir());
        far_build();
        assert_eq!(
            sums(&far_out),
            sums(&lab.out_dir()),
            "{what}: build --offline"
        );
        for checked in ["fixtures/lab/out", "fixtures/lab/export"] {
            common::far_side(&far)
                .env("COSIGN_PASSWORD", "")
                .args(["verify", "--key"])
                .arg(far_lab.join(format!("{seal}.pub")))
                .arg(checked)
                .run();
        }
        common::sigstore::cosign_cmd(&cosign, &lab.root().join(".cosign-home"))
            .args(["verify-blob", "--key"])
            .arg(&public)
            .arg("--bundle")
            .arg(far_out.join("manifest.json.sigstore.json"))
            .arg("--insecure-ignore-tlog")
            .arg(far_out.join("manifest.json"))
            .timeout(Duration::from_secs(60))
            .run();
        // What each day changed is said by name.
        let changes = &applied["changes"];
        match n {
            1 => assert_eq!(changes["images"]["added"][0], "docker.io/acme/api:1.0"),
            2 => assert_eq!(changes["charts"]["added"][0], "charts/web-1.3.0.tgz"),
            3 => assert_eq!(changes["packages"]["changed"][0], "packages/tools.tar.gz"),
            _ => assert_eq!(changes["files"]["changed"][0], "files/bin/k3s"),
        }
    }
    assert!(far_out.join("packages/tools.tar.gz").is_file());

    // Damage on the far side is named before it is rebuilt; an edited input is refused
    // naming it.
    let receipt = lab.root().join("receipt-last.json");
    common::far_side(&far)
        .env("COSIGN_PASSWORD", "")
        .args(["receipt", "fixtures/lab/out", "-o"])
        .arg(&receipt)
        .run();
    let list = far_lab.join("images.txt");
    let kept = fs::read_to_string(&list).unwrap();
    fs::write(&list, format!("{kept}# edited on the far side\n")).unwrap();
    flip_byte(&far_out.join("iso/seed-lab-agent1.iso"), 40_000);
    let config = lab.lab_dir().join("seedforge.yaml");
    let text = fs::read_to_string(&config).unwrap();
    fs::write(&config, text.replace("lab-agent2", "lab-agent9")).unwrap();
    near().args(["build", "--config", lab.config_arg()]).run();
    let delta = lab.root().join("delta-last");
    near()
        .args(["delta", "fixtures/lab/out", "--since"])
        .arg(&receipt)
        .arg("-o")
        .arg(&delta)
        .run();
    let apply = || {
        common::far_side(&far)
            .env("COSIGN_PASSWORD", "")
            .arg("apply")
            .arg(&delta)
            .args(["--to", "fixtures/lab/out"])
    };
    let refused = apply().expect(2).run();
    assert!(refused.stderr.contains("images.txt"), "{}", refused.stderr);
    assert!(
        refused
            .stderr
            .contains("iso/seed-lab-agent1.iso: damaged here"),
        "{}",
        refused.stderr
    );
    fs::write(&list, kept).unwrap();
    let applied = apply().arg("--json").run().json();
    assert_eq!(
        applied["rebuilt_damaged"][0], "iso/seed-lab-agent1.iso",
        "{applied}"
    );
    crate::delta::assert_same_output(&far_out, &lab.out_dir());
    web.child.kill();
}

#[test]
fn five_days_with_a_medium_signed_by_a_cosign_key() {
    five_days(true);
}

#[test]
fn five_days_with_a_medium_signed_by_an_ed25519_key() {
    five_days(false);
}
