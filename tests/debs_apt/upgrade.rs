//! apt's rule for what the node already has, judged by apt in a debootstrap bookworm root
//! with no network: a requested package the node's dpkg status holds at an older version
//! is upgraded by the bundle, with what the new version needs, as `apt-get install` would;
//! an upgrade that would leave a node's package broken is refused, naming it.

use super::{chroot, test_deb, unpack};
use crate::common;
use common::Cmd;
use common::debs::{fixture_debs, make_repo, offline_root_copy, require_root};
use std::fs;
use std::path::Path;

/// The versions of `packages` dpkg has installed in `root`, as `NAME VERSION` lines sorted
/// by name.
fn installed(root: &Path, packages: &[&str]) -> String {
    let mut args = vec!["dpkg-query", "-W", "-f", "${Package} ${Version}\\n"];
    args.extend(packages);
    chroot(root, &args).run().stdout
}

/// apt's rule for what the node already has, judged by apt in a chroot with no network.
/// The node (its dpkg status file is the base) has tool 1.0-1, tool-lib 1.0-1 and
/// tool-helper 1.0-1, as the release had them, same 1.0-1, newer 2.0-1 and
/// compat-provider, which provides tool-compat; the repository has the updates tool 1.0-2
/// (needing tool-lib >= 1.0-2 and tool-helper >= 1.0) with tool-lib 1.0-2 and tool-helper
/// 1.0-2, besides the release's versions, same 1.0-1, newer 1.0-1 and the real tool-compat
/// 2.0-1. Requesting tool, same, newer and tool-compat: the bundle carries tool 1.0-2 and
/// tool-lib 1.0-2 (the base's no longer meets tool's need), tool-compat (a request for a
/// real package is not met by another's Provides) and nothing else (the base's
/// tool-helper still meets tool's need, same and newer are the newest already), which is
/// what `apt-get install --download-only` fetches on the node for the same request. The
/// report, its JSON and `plan` say "upgrades tool 1.0-1 -> 1.0-2"; install.sh installs
/// the bundle offline and dpkg shows the new versions.
#[test]
fn an_older_package_in_the_base_is_upgraded_as_apt_would() {
    if !require_root("installing into a chroot")
        || !common::require_tool("debootstrap")
        || !common::require_tool("apt-ftparchive")
        || !common::require_tool("dpkg-deb")
    {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = offline_root_copy(tmp.path());
    let made = tmp.path().join("made");
    fs::create_dir_all(&made).unwrap();
    let tool_depends = |lib: &str| format!("Depends: tool-lib (>= {lib}), tool-helper (>= 1.0)\n");
    let release = [
        test_deb(&made, "tool", "1.0-1", &tool_depends("1.0-1")),
        test_deb(&made, "tool-lib", "1.0-1", ""),
        test_deb(&made, "tool-helper", "1.0-1", ""),
        test_deb(&made, "same", "1.0-1", ""),
        test_deb(&made, "newer", "1.0-1", ""),
        test_deb(&made, "compat-provider", "1.0-1", "Provides: tool-compat\n"),
        test_deb(&made, "tool-compat", "2.0-1", ""),
    ];
    let updates = [
        test_deb(&made, "tool", "1.0-2", &tool_depends("1.0-2")),
        test_deb(&made, "tool-lib", "1.0-2", ""),
        test_deb(&made, "tool-helper", "1.0-2", ""),
    ];
    // The node image: the release's versions, and newer at 2.0-1.
    let newer_node = test_deb(&made, "newer", "2.0-1", "");
    let node_debs = tmp.path().join("node-debs");
    fs::create_dir_all(&node_debs).unwrap();
    let on_node = |d: &&std::path::PathBuf| {
        !d.ends_with("newer_1.0-1_all.deb") && !d.ends_with("tool-compat_2.0-1_all.deb")
    };
    for deb in release.iter().filter(on_node) {
        fs::copy(deb, node_debs.join(deb.file_name().unwrap())).unwrap();
    }
    fs::copy(&newer_node, node_debs.join("newer_2.0-1_all.deb")).unwrap();
    Cmd::new("cp")
        .arg("-r")
        .arg(&node_debs)
        .arg(root.join("tmp/node-debs"))
        .run();
    chroot(&root, &["sh", "-c", "dpkg -i /tmp/node-debs/*.deb"]).run();
    let before = installed(&root, &["tool", "tool-lib", "tool-helper", "same", "newer"]);
    assert_eq!(
        before,
        "newer 2.0-1\nsame 1.0-1\ntool 1.0-1\ntool-helper 1.0-1\ntool-lib 1.0-1\n"
    );
    fs::copy(root.join("var/lib/dpkg/status"), tmp.path().join("status")).unwrap();
    let repo = root.join("srv/repo");
    let all: Vec<_> = release.iter().chain(&updates).cloned().collect();
    make_repo(&repo, &all);

    let request = ["tool", "same", "newer", "tool-compat"];
    let bundle = tmp.path().join("tools.tar.gz");
    let debs = |json: bool| {
        let mut cmd = Cmd::seedforge();
        if json {
            cmd = cmd.arg("--json");
        }
        cmd.args(["debs", "--repo"])
            .arg(format!("file://{} bookworm main", repo.display()))
            .args(request.iter().flat_map(|p| ["--package", p]))
            .arg("--base")
            .arg(tmp.path().join("status"))
            .arg("--out")
            .arg(&bundle)
            .arg("--force")
    };
    let text = debs(false).run().stdout;
    let lines: Vec<&str> = text.lines().collect();
    for line in [
        "upgrades tool 1.0-1 -> 1.0-2",
        "upgrades tool-lib 1.0-1 -> 1.0-2",
        "same: already in the base, not bundled",
        "newer: already in the base, not bundled",
    ] {
        assert!(lines.contains(&line), "no {line:?} in:\n{text}");
    }
    assert!(!text.contains("upgrades tool-helper"), "{text}");
    let made = debs(true).run().json();
    let upgrades = &made["closure"]["upgrades"];
    assert_eq!(
        upgrades,
        &serde_json::json!([
            {"name": "tool", "from": "1.0-1", "to": "1.0-2"},
            {"name": "tool-lib", "from": "1.0-1", "to": "1.0-2"},
        ]),
        "{made}"
    );
    let ours: Vec<String> = made["closure"]["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            format!(
                "{}_{}",
                p["name"].as_str().unwrap(),
                p["version"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(ours, ["tool_1.0-2", "tool-compat_2.0-1", "tool-lib_1.0-2"]);

    // apt's own answer for the same request on the node.
    fs::write(
        root.join("etc/apt/sources.list.d/repo.list"),
        "deb [trusted=yes] copy:/srv/repo bookworm main\n",
    )
    .unwrap();
    chroot(&root, &["apt-get", "update"]).run();
    chroot(&root, &["apt-get", "clean"]).run();
    let mut args = vec![
        "apt-get",
        "install",
        "--download-only",
        "--no-install-recommends",
        "-y",
    ];
    args.extend(request);
    chroot(&root, &args).run();
    let mut apts: Vec<String> = fs::read_dir(root.join("var/cache/apt/archives"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter_map(|f| f.strip_suffix("_all.deb").map(str::to_string))
        .collect();
    apts.sort();
    let mut sorted = ours.clone();
    sorted.sort();
    assert_eq!(sorted, apts, "the bundle is not what apt fetches");
    chroot(&root, &["apt-get", "clean"]).run();
    fs::remove_file(root.join("etc/apt/sources.list.d/repo.list")).unwrap();

    // The bundle upgrades the node offline.
    unpack(&bundle, &root.join("opt/seedforge/tools"));
    let run = chroot(&root, &["sh", "/opt/seedforge/tools/install.sh"]).run();
    assert!(run.stderr.contains("installed: tool"), "{}", run.stderr);
    let after = installed(
        &root,
        &[
            "tool",
            "tool-lib",
            "tool-helper",
            "same",
            "newer",
            "tool-compat",
        ],
    );
    assert_eq!(
        after,
        "newer 2.0-1\nsame 1.0-1\ntool 1.0-2\ntool-compat 2.0-1\ntool-helper 1.0-1\ntool-lib 1.0-2\n"
    );
    let second = chroot(&root, &["sh", "/opt/seedforge/tools/install.sh"]).run();
    assert!(
        second.stderr.contains("already installed"),
        "{}",
        second.stderr
    );

    // plan of a config with the same bundle says it too, in text and JSON.
    let lab = common::Lab::new();
    let debs_dir = lab.lab_dir().join("debs");
    fs::create_dir_all(&debs_dir).unwrap();
    for deb in &all {
        fs::copy(deb, debs_dir.join(deb.file_name().unwrap())).unwrap();
    }
    fs::copy(tmp.path().join("status"), lab.lab_dir().join("status")).unwrap();
    let config = lab.lab_dir().join("seedforge.yaml");
    let mut yaml = fs::read_to_string(&config).unwrap();
    yaml.push_str(
        "\npackages:\n  - name: tools\n    packages: [tool, same, newer, tool-compat]\n    base: status\n    debs: [debs]\n",
    );
    fs::write(&config, yaml).unwrap();
    let plan = lab
        .seedforge()
        .args(["plan", "--config", lab.config_arg()])
        .run()
        .stdout;
    assert!(
        plan.contains("packages/tools.tar.gz with 3 .deb(s) for 4 requested package(s) from")
            && plan.contains("; upgrades tool 1.0-1 -> 1.0-2; upgrades tool-lib 1.0-1 -> 1.0-2"),
        "{plan}"
    );
    let plan = lab
        .seedforge()
        .args(["--json", "plan", "--config", lab.config_arg()])
        .run()
        .json();
    let step = plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s.to_string().contains("tools.tar.gz"))
        .unwrap_or_else(|| panic!("no packages step: {plan}"));
    assert!(
        step.to_string()
            .contains(r#""upgrades":[{"name":"tool","from":"1.0-1","to":"1.0-2"}"#),
        "{step}"
    );
}

/// An upgrade that would leave a base package broken: the node has tool 1.0-1, which
/// needs tool-lib (= 1.0-1). Requesting tool-lib alone from a repository with tool-lib
/// 1.0-2 and no newer tool, apt on the node would remove tool (`apt-get install -s` says
/// so): seedforge refuses that bundle (exit 2, nothing written) naming tool and telling to
/// request it. With tool 1.0-2 in the repository and both requested, the bundle carries
/// both, as apt would upgrade both, and installs offline.
#[test]
fn an_upgrade_that_would_break_a_base_package_is_refused_naming_it() {
    if !require_root("installing into a chroot")
        || !common::require_tool("debootstrap")
        || !common::require_tool("apt-ftparchive")
        || !common::require_tool("dpkg-deb")
    {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = offline_root_copy(tmp.path());
    let made = tmp.path().join("made");
    fs::create_dir_all(&made).unwrap();
    let old = [
        test_deb(&made, "tool", "1.0-1", "Depends: tool-lib (= 1.0-1)\n"),
        test_deb(&made, "tool-lib", "1.0-1", ""),
    ];
    let lib_new = test_deb(&made, "tool-lib", "1.0-2", "");
    let tool_new = test_deb(&made, "tool", "1.0-2", "Depends: tool-lib (= 1.0-2)\n");
    fs::create_dir_all(root.join("tmp/node")).unwrap();
    for deb in &old {
        fs::copy(deb, root.join("tmp/node").join(deb.file_name().unwrap())).unwrap();
    }
    chroot(&root, &["sh", "-c", "dpkg -i /tmp/node/*.deb"]).run();
    fs::copy(root.join("var/lib/dpkg/status"), tmp.path().join("status")).unwrap();

    let lib_only = root.join("srv/lib-only");
    make_repo(
        &lib_only,
        &[old[0].clone(), old[1].clone(), lib_new.clone()],
    );
    // apt's answer on the node: tool-lib's upgrade removes tool.
    fs::write(
        root.join("etc/apt/sources.list.d/repo.list"),
        "deb [trusted=yes] copy:/srv/lib-only bookworm main\n",
    )
    .unwrap();
    chroot(&root, &["apt-get", "update"]).run();
    let apt = chroot(&root, &["apt-get", "install", "-s", "-y", "tool-lib"]).run();
    assert!(
        apt.stdout.contains("Remv tool [1.0-1]"),
        "apt no longer removes tool here:\n{}",
        apt.stdout
    );
    let debs = |repo: &Path, packages: &[&str], out: &Path| {
        Cmd::seedforge()
            .args(["debs", "--repo"])
            .arg(format!("file://{} bookworm main", repo.display()))
            .args(packages.iter().flat_map(|p| ["--package", p]))
            .arg("--base")
            .arg(tmp.path().join("status"))
            .arg("--out")
            .arg(out)
    };
    let refused_out = tmp.path().join("lib.tar.gz");
    let refused = debs(&lib_only, &["tool-lib"], &refused_out).expect(2).run();
    assert!(
        refused.stderr.contains(
            "the bundle upgrades tool-lib 1.0-1 -> 1.0-2, but the base's tool 1.0-1 depends on tool-lib (= 1.0-1)"
        ) && refused.stderr.contains("request tool too"),
        "{}",
        refused.stderr
    );
    assert!(!refused_out.exists());

    let both = root.join("srv/both");
    make_repo(&both, &[old[0].clone(), old[1].clone(), lib_new, tool_new]);
    fs::write(
        root.join("etc/apt/sources.list.d/repo.list"),
        "deb [trusted=yes] copy:/srv/both bookworm main\n",
    )
    .unwrap();
    chroot(&root, &["apt-get", "update"]).run();
    let apt = chroot(&root, &["apt-get", "install", "-s", "-y", "tool-lib"]).run();
    assert!(
        apt.stdout.contains("Inst tool [1.0-1] (1.0-2") && !apt.stdout.contains("Remv"),
        "{}",
        apt.stdout
    );
    fs::remove_file(root.join("etc/apt/sources.list.d/repo.list")).unwrap();
    let bundle = tmp.path().join("both.tar.gz");
    let out = debs(&both, &["tool-lib", "tool"], &bundle).run().stdout;
    for line in [
        "upgrades tool 1.0-1 -> 1.0-2",
        "upgrades tool-lib 1.0-1 -> 1.0-2",
    ] {
        assert!(out.lines().any(|l| l == line), "no {line:?} in:\n{out}");
    }
    unpack(&bundle, &root.join("opt/seedforge/both"));
    chroot(&root, &["sh", "/opt/seedforge/both/install.sh"]).run();
    assert_eq!(
        installed(&root, &["tool", "tool-lib"]),
        "tool 1.0-2\ntool-lib 1.0-2\n"
    );
}

/// The real jq and libjq1 .debs of `fixtures/debs` rebuilt at `version` (their control
/// files' versions, and jq's exact dependency on libjq1, changed), into `dir`.
fn jq_at(dir: &Path, version: &str) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for name in ["jq", "libjq1"] {
        let real = fixture_debs()
            .into_iter()
            .find(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with(&format!("{name}_"))
            })
            .unwrap();
        let tree = dir.join(format!("{name}-tree"));
        Cmd::new("dpkg-deb").arg("-R").arg(&real).arg(&tree).run();
        let control = tree.join("DEBIAN/control");
        let text = fs::read_to_string(&control)
            .unwrap()
            .replace("1.6-2.1+deb12u3", version);
        fs::write(&control, text).unwrap();
        let deb = dir.join(format!("{name}_{version}_amd64.deb"));
        Cmd::new("dpkg-deb")
            .args(["--root-owner-group", "-b"])
            .arg(&tree)
            .arg(&deb)
            .run();
        out.push(deb);
    }
    out
}

/// The node of the report: jq and libjq1 at 1.6-2.1+deb12u1 (the real packages at that
/// version) installed in the chroot, whose dpkg status is the base; the source offers
/// bookworm-security's 1.6-2.1+deb12u3. The bundle carries jq and libjq1 at deb12u3 and
/// says "upgrades jq 1.6-2.1+deb12u1 -> 1.6-2.1+deb12u3" (before, it held nothing and said
/// nothing), and apt installs it offline: dpkg shows deb12u3 and jq runs.
#[test]
fn a_node_with_an_older_jq_gets_the_security_update_from_the_bundle() {
    if !require_root("installing into a chroot")
        || !common::require_tool("debootstrap")
        || !common::require_tool("dpkg-deb")
    {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = offline_root_copy(tmp.path());
    let old = tmp.path().join("old");
    fs::create_dir_all(&old).unwrap();
    let node = root.join("tmp/node");
    fs::create_dir_all(&node).unwrap();
    let onig = fixture_debs()
        .into_iter()
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("libonig5_")
        })
        .unwrap();
    for deb in jq_at(&old, "1.6-2.1+deb12u1").iter().chain([&onig]) {
        fs::copy(deb, node.join(deb.file_name().unwrap())).unwrap();
    }
    chroot(&root, &["sh", "-c", "dpkg -i /tmp/node/*.deb"]).run();
    assert_eq!(
        installed(&root, &["jq", "libjq1"]),
        "jq 1.6-2.1+deb12u1\nlibjq1 1.6-2.1+deb12u1\n"
    );
    fs::copy(root.join("var/lib/dpkg/status"), tmp.path().join("status")).unwrap();

    let bundle = tmp.path().join("ops.tar.gz");
    let out = Cmd::seedforge()
        .args(["debs", "--package", "jq", "--deb"])
        .args(fixture_debs())
        .arg("--base")
        .arg(tmp.path().join("status"))
        .arg("--out")
        .arg(&bundle)
        .run()
        .stdout;
    for line in [
        "upgrades jq 1.6-2.1+deb12u1 -> 1.6-2.1+deb12u3",
        "upgrades libjq1 1.6-2.1+deb12u1 -> 1.6-2.1+deb12u3",
    ] {
        assert!(out.lines().any(|l| l == line), "no {line:?} in:\n{out}");
    }
    assert!(!out.lines().any(|l| l.starts_with("libonig5")), "{out}");
    let listing = Cmd::new("tar").arg("-tzf").arg(&bundle).run().stdout;
    assert!(
        listing.contains("pool/jq_1.6-2.1+deb12u3_amd64.deb")
            && listing.contains("pool/libjq1_1.6-2.1+deb12u3_amd64.deb")
            && !listing.contains("libonig5"),
        "{listing}"
    );
    unpack(&bundle, &root.join("opt/seedforge/ops"));
    chroot(&root, &["sh", "/opt/seedforge/ops/install.sh"]).run();
    assert_eq!(
        installed(&root, &["jq", "libjq1"]),
        "jq 1.6-2.1+deb12u3\nlibjq1 1.6-2.1+deb12u3\n"
    );
    let jq = chroot(&root, &["sh", "-c", "echo '[1,2]' | jq -c add"]).run();
    assert_eq!(jq.stdout.trim(), "3");
}
