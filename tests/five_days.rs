//! Five days of changes across the gap, in the shapes operators have: every image an index
//! of linux/amd64 and linux/arm64 from a local source registry, both kept
//! (`images.platforms`); an application image signed by cosign 3 and checked by an
//! `images.verify` policy; tags pointed at new content (klipper-lb's on day four: the old
//! image's blobs become strays, never sealed, and `seedforge gc` on either side keeps
//! `verify` passing; the application's, signed again, on day five); a medium signed by a
//! release pipeline's `build --signing-key` with the key from `cosign generate-key-pair`
//! (ECDSA P-256) and no `seal:` in the config; a chart from a Helm HTTP repository and one
//! from an OCI registry; a `.deb` bundle over a node base that grows; a `files:` k3s binary
//! and a helper from a URL; the export in 1 MiB parts; and every delta in 1 MiB parts with
//! 20% recovery files (the helper's new version crosses in two parts, one lost on the way:
//! par2cmdline finds it repairable, `apply` rebuilds it). The far side holds its config
//! folder and the public key only (never a private key), and runs with no network. Each
//! day: the far side's receipt, the near side's build and delta, `verify --key` of the
//! delta, and the far side's `apply` (`--key` the first time, then the key the output
//! records), which must give the near side's output byte for byte; then the far side's own
//! `build --offline` must give it again (its export too), `verify --key` passes on the
//! output and on the export folder, and cosign checks the carried signature. Last, damage
//! and an edited input on the far side are named.
//!
//! The scenario runs once: how the medium is signed does not change what crosses. The other
//! key type (Ed25519) and the other way to sign (the config's `seal:`) cross in
//! `signed_day_two`.

use crate::common;

use common::charts::{VALUES, chart_tgz, push_chart};
use common::debs::{HttpServer, small_deb};
use common::registry::{Registry, fixture_layout, skopeo_push, skopeo_raw_digest};
use common::{Cmd, Lab, flip_byte, require_tool, sha256_bytes};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

const PASSWORD: &str = "the cluster's cosign password";

/// What the near side's config says on one day.
struct Day {
    /// The content under the signed application image's tag: 0 when it is not listed; a
    /// new number is new content pushed (and signed) under the same tag that day.
    app: u8,
    /// The chart's version (from the HTTP repository) and its values.
    chart: &'static str,
    values: &'static str,
    /// The version of the chart from the OCI registry.
    oci_chart: &'static str,
    /// The bundle's packages (name, version), each requested.
    debs: &'static [(&'static str, &'static str)],
    /// The content under the klipper-lb tag in the source registry (as `app`).
    lb: u8,
    /// The k3s binary's salt.
    binary: &'static str,
    /// The salt of the helper downloaded from the HTTP server (`files:` from a URL).
    helper: &'static str,
}

const DAYS: [Day; 5] = [
    Day {
        app: 0,
        chart: "1.2.3",
        values: "replicaCount: 1\n",
        oci_chart: "0.1.0",
        debs: &[("zz-tool", "1.0")],
        lb: 1,
        binary: "one",
        helper: "one",
    },
    Day {
        app: 1,
        chart: "1.2.3",
        values: "replicaCount: 1\n",
        oci_chart: "0.1.0",
        debs: &[("zz-tool", "1.0")],
        lb: 1,
        binary: "one",
        helper: "one",
    },
    Day {
        app: 1,
        chart: "1.3.0",
        values: "replicaCount: 2\n",
        oci_chart: "0.2.0",
        debs: &[("zz-tool", "1.0")],
        lb: 1,
        binary: "one",
        helper: "one",
    },
    Day {
        app: 1,
        chart: "1.3.0",
        values: "replicaCount: 2\n",
        oci_chart: "0.2.0",
        debs: &[("zz-tool", "1.1"), ("zz-extra", "2.0")],
        lb: 2,
        binary: "one",
        helper: "two",
    },
    Day {
        app: 2,
        chart: "1.3.0",
        values: "replicaCount: 2\n",
        oci_chart: "0.2.0",
        debs: &[("zz-tool", "1.1"), ("zz-extra", "2.0")],
        lb: 2,
        binary: "two",
        helper: "two",
    },
];

/// The helper served at `files/helper-SALT`: 1.2 MiB, so that a delta carrying a new one
/// holds it in two 1 MiB parts (and the seed ISOs that carry it are exported in parts).
fn helper(salt: &str) -> Vec<u8> {
    let mut bytes: Vec<u8> = (0..1_200_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    bytes.extend_from_slice(salt.as_bytes());
    bytes
}

/// Pushes `source` (a single-platform image) to `registry` as `repo:tag`, an index of
/// linux/amd64 and linux/arm64 (the same layers; each config names its platform and
/// carries `label`), as a multi-platform release is pushed.
fn push_two_platform(
    crane: &Path,
    source: &str,
    registry: &Registry,
    repo: &str,
    tag: &str,
    label: &str,
) {
    let host = registry.host();
    skopeo_push(source, registry, &format!("{repo}:{tag}-src"), false);
    let crane = || {
        Cmd::new(crane)
            .arg("--insecure")
            .timeout(Duration::from_secs(60))
    };
    for arch in ["amd64", "arm64"] {
        crane()
            .args([
                "mutate",
                "--set-platform",
                &format!("linux/{arch}"),
                "--label",
                label,
            ])
            .arg(format!("{host}/{repo}:{tag}-src"))
            .arg("-t")
            .arg(format!("{host}/{repo}:{tag}-{arch}"))
            .run();
    }
    crane()
        .args(["index", "append", "-m"])
        .arg(format!("{host}/{repo}:{tag}-amd64"))
        .arg("-m")
        .arg(format!("{host}/{repo}:{tag}-arm64"))
        .arg("-t")
        .arg(format!("{host}/{repo}:{tag}"))
        .run();
}

/// The lab's image list with every image (but the pause image, an index of both platforms
/// already) taken from `registry` as a two-platform index, under the same destination.
fn two_platform_list(crane: &Path, lab: &Lab, registry: &Registry, content: u8) -> String {
    let dir = lab.lab_dir();
    let text = fs::read_to_string(dir.join("images.txt")).unwrap();
    let mut list = String::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        match fields.as_slice() {
            [source, destination] if !source.starts_with('#') && !source.contains("pause") => {
                let local = source.replacen(":../", &format!(":{}/../", dir.display()), 1);
                let (name, tag) = destination
                    .rsplit_once('/')
                    .unwrap()
                    .1
                    .split_once(':')
                    .unwrap();
                let repo = format!("lab/{name}");
                let label = format!("org.example.lab={content}");
                push_two_platform(crane, &local, registry, &repo, tag, &label);
                list.push_str(&format!(
                    "docker://{}/{repo}:{tag} {destination}\n",
                    registry.host()
                ));
            }
            _ => {
                list.push_str(line);
                list.push('\n');
            }
        }
    }
    list
}

/// The near side's config, list, bundle folder and binary for `day`; the config names no
/// key (the medium is signed with `build --signing-key`).
fn set_day(lab: &Lab, base: &(String, String), day: &Day, web: &str, registry: &str) {
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
    if day.app > 0 {
        list.push_str(&format!(
            "docker://{registry}/acme/api:1.0 docker.io/acme/api:1.0\n"
        ));
    }
    fs::write(dir.join("images.txt"), list).unwrap();
    let mut config = base
        .0
        .replace(
            "\nimages:\n",
            &format!("\nregistries:\n  - host: \"{registry}\"\n    insecure: true\n\nimages:\n"),
        )
        .replace(
            "    - linux/amd64\n",
            "    - linux/amd64\n    - linux/arm64\n",
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
            "  - name: bin/helper\n    source: {web}/files/helper-{}\n    sha256: \"{}\"\n",
            day.helper,
            sha256_bytes(&helper(day.helper))
        )
        + &format!(
            "charts:\n  - name: web\n    repo: {web}/charts\n    chart: demo-app\n    version: {}\n    values: web-values.yaml\n",
            day.chart
        )
        + &format!(
            "  - name: api\n    repo: oci://{registry}/charts\n    chart: api\n    version: {}\n",
            day.oci_chart
        );
    config.push_str("export_dir: export\nexport_split: 1MiB\n");
    fs::write(dir.join("seedforge.yaml"), config).unwrap();
}

fn sums(out: &Path) -> String {
    fs::read_to_string(out.join("SHA256SUMS")).unwrap()
}

/// The paths a `changes` section of `apply --json` names as `kind` (added, changed, …).
fn changed(changes: &serde_json::Value, section: &str, kind: &str) -> Vec<String> {
    changes[section][kind]
        .as_array()
        .map(|a| a.iter().map(|v| v.as_str().unwrap().to_string()).collect())
        .unwrap_or_default()
}

/// Runs `seedforge gc` on `out` and returns how many blobs it removed.
fn gc(cmd: Cmd, out: &str) -> usize {
    let done = cmd.args(["gc", out]).run();
    let (_, rest) = done
        .stdout
        .split_once("removed ")
        .unwrap_or_else(|| panic!("{}", done.stdout));
    rest.split_whitespace().next().unwrap().parse().unwrap()
}

#[test]
fn five_days_with_a_medium_signed_by_a_release_pipeline() {
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
    let crane = common::repo_root().join("target/sid/root/usr/bin/crane");
    if !crane.is_file() {
        eprintln!("skipped: no crane at {}", crane.display());
        return;
    }
    let lab = Lab::new();
    let dir = lab.lab_dir();
    // The near side's sources: a registry with the lab's images and the signed application
    // image, each an index of two platforms, and the OCI chart; a Helm HTTP repository with
    // two versions of a chart, and the helper's downloads.
    let registry = Registry::start_plain();
    let lab_list = two_platform_list(&crane, &lab, &registry, DAYS[0].lb);
    let pause = format!("oci:{}:mirrored-pause:3.6", fixture_layout().display());
    for version in ["0.1.0", "0.2.0"] {
        push_chart(
            &registry,
            "charts/api",
            version,
            &chart_tgz("api", version, VALUES),
        );
    }
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
    let files = web_root.path().join("files");
    fs::create_dir_all(&files).unwrap();
    for salt in ["one", "two"] {
        fs::write(files.join(format!("helper-{salt}")), helper(salt)).unwrap();
    }
    let mut web = HttpServer::start(web_root.path());

    // cosign's key signs the image and, given to `build --signing-key`, the medium.
    common::sigstore::generate_key_pair(&cosign, &dir, PASSWORD);
    let push_app = |content: u8| {
        push_two_platform(
            &crane,
            &pause,
            &registry,
            "acme/api",
            "1.0",
            &format!("org.example.release={content}"),
        );
        let digest = skopeo_raw_digest(&registry, "acme/api:1.0");
        common::sigstore::sign_classic(
            &cosign,
            &dir,
            PASSWORD,
            &format!("{}/acme/api@{digest}", registry.host()),
        );
    };
    push_app(1);
    let public = dir.join("cosign.pub");
    let base = (
        fs::read_to_string(dir.join("seedforge.yaml")).unwrap(),
        lab_list,
    );
    let near = || lab.seedforge().env("COSIGN_PASSWORD", PASSWORD);
    let near_build = || {
        near()
            .args(["build", "--config", lab.config_arg()])
            .arg("--signing-key")
            .arg(dir.join("cosign.key"))
    };
    let set = |day: &Day| set_day(&lab, &base, day, &web.url, &registry.host());

    // Day one: built on the near side, carried whole, without a private key.
    set(&DAYS[0]);
    near_build().run();
    assert_eq!(
        fs::read_dir(lab.out_dir().join("airgap")).unwrap().count(),
        2,
        "an archive for each platform"
    );
    let far = lab.far_copy("far");
    let far_lab = far.join("fixtures/lab");
    fs::remove_file(far_lab.join("cosign.key")).unwrap();
    // Its .deb folder and k3s binary stay as the first crossing left them: older than
    // the near side's from day four on.
    let far_out = far_lab.join("out");
    let far_side = || common::far_side(&far).env("COSIGN_PASSWORD", "");
    let far_build = || {
        far_side()
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
        far_side()
            .args(["receipt", "fixtures/lab/out", "-o"])
            .arg(&receipt)
            .run();
        // A tag pointed at new content: klipper-lb's (the old image's blobs stay behind,
        // strays), then the application's, signed again (the build drops the old image's
        // signature, and with it what only the old image reached).
        if day.lb > DAYS[n - 1].lb {
            push_two_platform(
                &crane,
                &format!("oci:{}:klipper-lb:v0.4.13", fixture_layout().display()),
                &registry,
                "lab/klipper-lb",
                "v0.4.13",
                &format!("org.example.lab={}", day.lb),
            );
        }
        if day.app > DAYS[n - 1].app && DAYS[n - 1].app > 0 {
            push_app(day.app);
        }
        set(day);
        near_build().run();
        // What nothing reaches any more is never sealed: gc removes it, verify still passes.
        let removed = gc(lab.seedforge(), "fixtures/lab/out");
        assert_eq!(removed > 0, n == 3, "{what}: {removed} blob(s) removed");
        lab.seedforge()
            .args(["verify", "--key"])
            .arg(&public)
            .arg("fixtures/lab/out")
            .run();
        // The delta in 1 MiB parts with recovery files, checked whole.
        let delta: PathBuf = lab.root().join(format!("delta-{n}"));
        near()
            .args(["delta", "fixtures/lab/out", "--signing-key"])
            .arg(dir.join("cosign.key"))
            .arg("--since")
            .arg(&receipt)
            .arg("-o")
            .arg(&delta)
            .args(["--split", "1MiB", "--parity", "20"])
            .run();
        lab.seedforge()
            .args(["verify", "--key"])
            .arg(&public)
            .arg(&delta)
            .run();
        // A large file that changed (the helper, on day four) crosses in parts: one is lost.
        let lost = common::files_under(&delta)
            .into_iter()
            .find(|f| f.to_string_lossy().ends_with(".part001"));
        assert_eq!(lost.is_some(), n == 3, "{what}: {lost:?}");
        if let Some(lost) = &lost {
            fs::remove_file(lost).unwrap();
            // par2cmdline finds the loss repairable.
            for (judge, par2) in crate::parity::judges() {
                let out = par2
                    .args(["verify", "delta.par2"])
                    .cwd(&delta)
                    .expect(1)
                    .run();
                assert!(
                    out.stdout.contains("Repair is possible"),
                    "{what}: {judge}: {}",
                    out.stdout
                );
            }
        }
        // The key given the first time; then the one the output records.
        let mut apply = far_side()
            .args(["--json", "apply"])
            .arg(&delta)
            .args(["--to", "fixtures/lab/out"]);
        if n == 1 {
            apply = apply.arg("--key").arg(far_lab.join("cosign.pub"));
        }
        let applied = apply.run().json();
        assert_eq!(applied["outcome"], "applied", "{what}: {applied}");
        // The part was rebuilt in a staging copy: the delta folder (a medium) is not written.
        assert!(lost.is_none_or(|lost| !lost.exists()), "{what}");
        assert_eq!(applied["signature"]["signed"], true, "{what}: {applied}");
        crate::delta::assert_same_output(&far_out, &lab.out_dir());
        far_build();
        assert_eq!(
            sums(&far_out),
            sums(&lab.out_dir()),
            "{what}: build --offline"
        );
        gc(far_side(), "fixtures/lab/out");
        for checked in ["fixtures/lab/out", "fixtures/lab/export"] {
            far_side()
                .args(["verify", "--key"])
                .arg(far_lab.join("cosign.pub"))
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
        let said = |section: &str, kind: &str, path: &str| {
            assert!(
                changed(changes, section, kind).iter().any(|p| p == path),
                "{what}: {section} {kind} {path}: {changes}"
            );
        };
        match n {
            1 => said("images", "added", "docker.io/acme/api:1.0"),
            2 => {
                said("charts", "added", "charts/web-1.3.0.tgz");
                said("charts", "added", "charts/api-0.2.0.tgz");
            }
            3 => {
                said("packages", "changed", "packages/tools.tar.gz");
                said("files", "changed", "files/bin/helper");
                said("images", "changed", "docker.io/rancher/klipper-lb:v0.4.13");
            }
            _ => {
                said("files", "changed", "files/bin/k3s");
                said("images", "changed", "docker.io/acme/api:1.0");
            }
        }
    }
    assert!(far_out.join("packages/tools.tar.gz").is_file());

    // Damage on the far side is named before it is rebuilt; an edited input is refused
    // naming it.
    let receipt = lab.root().join("receipt-last.json");
    far_side()
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
    near_build().run();
    let delta = lab.root().join("delta-last");
    near()
        .args(["delta", "fixtures/lab/out", "--signing-key"])
        .arg(dir.join("cosign.key"))
        .arg("--since")
        .arg(&receipt)
        .arg("-o")
        .arg(&delta)
        .run();
    let apply = || {
        far_side()
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
