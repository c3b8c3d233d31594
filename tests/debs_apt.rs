//! Real apt judges the bundle: in a debootstrap bookworm root with every network source
//! disabled, install.sh from a bundle whose closure seedforge resolved from a repository of
//! real .debs served on 127.0.0.1 installs jq, and `jq --version` runs; over a node whose
//! dpkg status holds older versions, the bundle upgrades them as `apt-get install` would.
//! Needs root, debootstrap, apt-ftparchive and python3.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use crate::common;

use common::Cmd;
use common::debs::{HttpServer, fixture_debs, make_repo, offline_root_copy, require_root};
use std::fs;
use std::path::Path;

/// Unpacks a bundle into `dest` (made if missing) and returns `dest`.
fn unpack(bundle: &Path, dest: &Path) -> std::path::PathBuf {
    fs::create_dir_all(dest).unwrap();
    Cmd::new("tar")
        .arg("-xzf")
        .arg(bundle)
        .arg("-C")
        .arg(dest)
        .run();
    dest.to_path_buf()
}

fn chroot(root: &Path, args: &[&str]) -> Cmd {
    Cmd::new("chroot").arg(root).args(args)
}

#[test]
fn apt_installs_jq_offline_from_a_bundle_resolved_over_http() {
    if !require_root("installing into a chroot")
        || !common::require_tool("debootstrap")
        || !common::require_tool("apt-ftparchive")
        || !common::require_tool("python3")
    {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = offline_root_copy(tmp.path());
    let repo = tmp.path().join("repo");
    make_repo(&repo, &fixture_debs());
    let server = HttpServer::start(&repo);

    // The base is what the node image has: dpkg-query -W inside the root.
    let base = chroot(&root, &["dpkg-query", "-W"]).run().stdout;
    assert!(base.contains("libc6"), "{base}");
    fs::write(tmp.path().join("base.txt"), &base).unwrap();
    chroot(&root, &["sh", "-c", "! command -v jq"]).run();

    let bundle = tmp.path().join("ops.tar.gz");
    let out = Cmd::seedforge()
        .args(["debs", "--repo", &server.url, "--suite", "bookworm"])
        .args(["--component", "main", "--arch", "amd64", "--package", "jq"])
        .arg("--base")
        .arg(tmp.path().join("base.txt"))
        .arg("--out")
        .arg(&bundle)
        .run();
    for (name, by) in [
        ("jq", "requested"),
        ("libjq1", "jq"),
        ("libonig5", "libjq1"),
    ] {
        assert!(
            out.stdout
                .lines()
                .any(|l| l.starts_with(name) && l.trim_end().ends_with(by)),
            "closure table lacks {name} pulled in by {by}:\n{}",
            out.stdout
        );
    }
    assert!(out.stderr.contains("unverified"), "{}", out.stderr);
    drop(server);

    unpack(&bundle, &root.join("opt/seedforge/ops"));
    let first = chroot(&root, &["sh", "/opt/seedforge/ops/install.sh"]).run();
    assert!(first.stderr.contains("installed: jq"), "{}", first.stderr);
    let version = chroot(&root, &["jq", "--version"]).run().stdout;
    assert_eq!(version.trim(), "jq-1.6");
    let jq = chroot(
        &root,
        &["sh", "-c", "echo '{\"a\":[1,2]}' | jq -c '.a|add'"],
    )
    .run();
    assert_eq!(jq.stdout.trim(), "3");

    // Idempotent: a second run sees the marker and the installed packages.
    let second = chroot(&root, &["sh", "/opt/seedforge/ops/install.sh"]).run();
    assert!(
        second.stderr.contains("already installed"),
        "{}",
        second.stderr
    );
    let log = fs::read_to_string(root.join("var/log/seedforge-packages.log")).unwrap();
    assert!(log.contains("Setting up jq"), "{log}");
    assert!(log.contains("already installed: jq"), "{log}");
    let marker = fs::read_to_string(root.join("var/lib/seedforge/packages-ops.installed")).unwrap();
    assert_eq!(marker.trim().len(), 64, "{marker}");
    // The temporary source left nothing behind in the node's apt configuration.
    let sources: Vec<_> = fs::read_dir(root.join("etc/apt/sources.list.d"))
        .unwrap()
        .collect();
    assert!(sources.is_empty());
    assert!(!root.join("etc/apt/sources.list").exists());

    // Without the marker the script runs apt again and still succeeds.
    fs::remove_file(root.join("var/lib/seedforge/packages-ops.installed")).unwrap();
    chroot(&root, &["sh", "/opt/seedforge/ops/install.sh"]).run();
}

#[test]
fn a_damaged_bundle_is_refused_by_install_sh_before_apt_runs() {
    if !require_root("installing into a chroot") || !common::require_tool("debootstrap") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = offline_root_copy(tmp.path());
    let base = chroot(&root, &["dpkg-query", "-W"]).run().stdout;
    fs::write(tmp.path().join("base.txt"), &base).unwrap();
    let bundle = tmp.path().join("ops.tar.gz");
    Cmd::seedforge()
        .args(["debs", "--deb"])
        .arg(common::repo_root().join("fixtures/debs"))
        .args(["--package", "jq", "--base"])
        .arg(tmp.path().join("base.txt"))
        .arg("--out")
        .arg(&bundle)
        .run();
    let dest = unpack(&bundle, &root.join("opt/b"));
    common::flip_byte(&dest.join("pool/libonig5_6.9.8-1_amd64.deb"), 1000);
    let out = chroot(&root, &["sh", "/opt/b/install.sh"]).expect(1).run();
    assert!(out.stderr.contains("damaged"), "{}", out.stderr);
    assert!(!root.join("usr/bin/jq").exists());
    assert!(!root.join("var/lib/seedforge/packages-b.installed").exists());
}

/// A tiny architecture-independent .deb named `name` that provides `provides`.
fn provider_deb(dir: &Path, name: &str, provides: &str) -> std::path::PathBuf {
    test_deb(dir, name, "1.0-1", &format!("Provides: {provides}\n"))
}

/// A small arch-all package `name` at `version` with `extra` control fields.
fn test_deb(dir: &Path, name: &str, version: &str, extra: &str) -> std::path::PathBuf {
    common::debs::small_deb(dir, name, version, extra, "test\n")
}

/// Requests mean what apt means, judged by apt in a chroot with no network: `NAME=VERSION`
/// installs and install.sh's check passes (it used to look for a package named
/// `jq=VERSION` and fail every run); a virtual name with one provider installs that
/// provider; a virtual name with two providers is refused at build time, naming both.
/// The base is the root's dpkg status file.
#[test]
fn version_and_virtual_requests_install_on_the_node() {
    if !require_root("installing into a chroot")
        || !common::require_tool("debootstrap")
        || !common::require_tool("dpkg-deb")
    {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = offline_root_copy(tmp.path());
    // The base is the node image's dpkg status file itself (Provides included).
    fs::copy(
        root.join("var/lib/dpkg/status"),
        tmp.path().join("base.txt"),
    )
    .unwrap();
    let hello = provider_deb(tmp.path(), "sf-hello", "sf-greeter");
    let bundle = tmp.path().join("req.tar.gz");
    let debs = |cmd: Cmd| {
        let mut cmd = cmd.arg("debs");
        for deb in fixture_debs() {
            cmd = cmd.arg("--deb").arg(deb);
        }
        cmd.arg("--deb")
            .arg(&hello)
            .arg("--base")
            .arg(tmp.path().join("base.txt"))
    };
    debs(Cmd::seedforge())
        .args(["--package", "jq=1.6-2.1+deb12u3", "--package", "sf-greeter"])
        .arg("--out")
        .arg(&bundle)
        .run();
    unpack(&bundle, &root.join("opt/seedforge/req"));
    let first = chroot(&root, &["sh", "/opt/seedforge/req/install.sh"]).run();
    assert!(
        first
            .stderr
            .contains("installed: jq=1.6-2.1+deb12u3 sf-hello"),
        "{}",
        first.stderr
    );
    chroot(&root, &["dpkg-query", "-W", "sf-hello"]).run();
    let second = chroot(&root, &["sh", "/opt/seedforge/req/install.sh"]).run();
    assert!(
        second.stderr.contains("already installed"),
        "{}",
        second.stderr
    );

    let hi = provider_deb(tmp.path(), "sf-hi", "sf-greeter");
    let refused = debs(Cmd::seedforge())
        .arg("--deb")
        .arg(&hi)
        .args(["--package", "sf-greeter", "--out"])
        .arg(tmp.path().join("two.tar.gz"))
        .expect(2)
        .run();
    assert!(
        refused
            .stderr
            .contains("sf-greeter is a virtual package provided by sf-hello, sf-hi"),
        "{}",
        refused.stderr
    );
    assert!(!tmp.path().join("two.tar.gz").exists());
}

/// One bundle from three sources, as bookworm, bookworm-updates and local files combine:
/// local .debs, an http repository and a file:// one. Each package is taken at its highest
/// version wherever it is (sf-probe 2.0-1 from the http repository over the local 1.0-1),
/// of equal versions from the source listed first (local sf-same over the unreachable
/// repository copy), and apt installs the whole in a chroot with no network.
#[test]
fn a_bundle_from_several_sources_installs_on_the_node() {
    if !require_root("installing into a chroot")
        || !common::require_tool("debootstrap")
        || !common::require_tool("apt-ftparchive")
        || !common::require_tool("dpkg-deb")
        || !common::require_tool("python3")
    {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = offline_root_copy(tmp.path());
    fs::copy(
        root.join("var/lib/dpkg/status"),
        tmp.path().join("base.txt"),
    )
    .unwrap();
    let made = tmp.path().join("made");
    fs::create_dir_all(&made).unwrap();
    let probe_old = test_deb(&made, "sf-probe", "1.0-1", "");
    let probe_new = test_deb(&made, "sf-probe", "2.0-1", "Depends: sf-same\n");
    let same = test_deb(&made, "sf-same", "1.0-1", "");
    let fixtures = fixture_debs();
    let named = |n: &str| {
        fixtures
            .iter()
            .find(|p| p.file_name().unwrap().to_string_lossy().starts_with(n))
            .unwrap()
            .clone()
    };
    // http: jq, libjq1, the newer sf-probe and sf-same, whose .debs it cannot serve.
    let http_repo = tmp.path().join("http-repo");
    make_repo(
        &http_repo,
        &[named("jq_"), named("libjq1_"), probe_new, same.clone()],
    );
    fs::write(http_repo.join("pool/main/sf-same_1.0-1_all.deb"), "gone").unwrap();
    let server = HttpServer::start(&http_repo);
    // file://: libonig5.
    let file_repo = tmp.path().join("file-repo");
    make_repo(&file_repo, &[named("libonig5_")]);
    let local = tmp.path().join("local");
    fs::create_dir_all(&local).unwrap();
    for deb in [&probe_old, &same] {
        fs::copy(deb, local.join(deb.file_name().unwrap())).unwrap();
    }

    let bundle = tmp.path().join("mixed.tar.gz");
    let out = Cmd::seedforge()
        .args(["debs", "--deb"])
        .arg(&local)
        .arg("--repo")
        .arg(format!("{} bookworm main", server.url))
        .arg("--repo")
        .arg(format!("file://{}", file_repo.display()))
        .args([
            "--suite",
            "bookworm",
            "--package",
            "jq",
            "--package",
            "sf-probe",
        ])
        .arg("--base")
        .arg(tmp.path().join("base.txt"))
        .arg("--out")
        .arg(&bundle)
        .run();
    for (name, version) in [
        ("jq", "1.6-2.1+deb12u3"),
        ("libonig5", "6.9.8-1"),
        ("sf-probe", "2.0-1"),
        ("sf-same", "1.0-1"),
    ] {
        assert!(
            out.stdout.lines().any(|l| {
                let cols: Vec<&str> = l.split_whitespace().collect();
                cols.first() == Some(&name) && cols.get(1) == Some(&version)
            }),
            "{name} {version} not in the closure:\n{}",
            out.stdout
        );
    }
    drop(server);

    unpack(&bundle, &root.join("opt/seedforge/mixed"));
    let first = chroot(&root, &["sh", "/opt/seedforge/mixed/install.sh"]).run();
    assert!(
        first.stderr.contains("installed: jq sf-probe"),
        "{}",
        first.stderr
    );
    let probe = chroot(&root, &["dpkg-query", "-W", "sf-probe"])
        .run()
        .stdout;
    assert_eq!(probe.trim(), "sf-probe\t2.0-1");
    let jq = chroot(&root, &["sh", "-c", "echo '[1,2]' | jq -c add"]).run();
    assert_eq!(jq.stdout.trim(), "3");
}

/// A node newer than the bundle's source (bookworm-security's perl-base against a bookworm
/// source): the node has sf-base 2.0-1; the first source's sf-app needs sf-base (= 1.0-1),
/// which apt cannot install over the newer one, so that bundle is refused at build time
/// naming both versions. With the updates source added, sf-app 1.0-2 (for sf-base 2.0-1) is
/// chosen, and apt installs it in the chroot with no network.
#[test]
fn a_node_newer_than_one_source_is_met_by_adding_the_newer_source() {
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
    // The node already has the newer base package.
    let base_new = test_deb(&made, "sf-base", "2.0-1", "");
    fs::copy(&base_new, root.join("tmp/sf-base.deb")).unwrap();
    chroot(&root, &["dpkg", "-i", "/tmp/sf-base.deb"]).run();
    fs::copy(root.join("var/lib/dpkg/status"), tmp.path().join("status")).unwrap();
    // The release source: sf-app 1.0-1 for sf-base 1.0-1.
    let release = tmp.path().join("release");
    fs::create_dir_all(&release).unwrap();
    test_deb(&release, "sf-app", "1.0-1", "Depends: sf-base (= 1.0-1)\n");
    test_deb(&release, "sf-base", "1.0-1", "");
    for entry in fs::read_dir(&release).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            fs::remove_dir_all(p).unwrap(); // the package trees test_deb built from
        }
    }
    // The updates source: sf-app 1.0-2 for sf-base 2.0-1.
    let updates_debs = tmp.path().join("updates-debs");
    fs::create_dir_all(&updates_debs).unwrap();
    let app_new = test_deb(
        &updates_debs,
        "sf-app",
        "1.0-2",
        "Depends: sf-base (= 2.0-1)\n",
    );
    let updates = tmp.path().join("updates");
    make_repo(&updates, &[app_new, base_new]);

    let debs = |extra: &[String], out: &Path| {
        Cmd::seedforge()
            .args(["debs", "--deb"])
            .arg(&release)
            .args(extra)
            .args(["--package", "sf-app", "--base"])
            .arg(tmp.path().join("status"))
            .arg("--out")
            .arg(out)
    };
    let refused = debs(&[], &tmp.path().join("old.tar.gz")).expect(2).run();
    assert!(
        refused.stderr.contains("1.0-1") && refused.stderr.contains("2.0-1"),
        "{}",
        refused.stderr
    );
    assert!(!tmp.path().join("old.tar.gz").exists());

    let bundle = tmp.path().join("app.tar.gz");
    let repo = [
        "--repo".to_string(),
        format!("file://{} bookworm main", updates.display()),
    ];
    let out = debs(&repo, &bundle).run();
    assert!(
        out.stdout
            .lines()
            .any(|l| l.split_whitespace().take(2).eq(["sf-app", "1.0-2"])),
        "{}",
        out.stdout
    );
    assert!(
        !out.stdout.lines().any(|l| l.starts_with("sf-base")),
        "the node's sf-base is not bundled: {}",
        out.stdout
    );
    unpack(&bundle, &root.join("opt/seedforge/app"));
    chroot(&root, &["sh", "/opt/seedforge/app/install.sh"]).run();
    let got = chroot(&root, &["dpkg-query", "-W", "sf-app", "sf-base"])
        .run()
        .stdout;
    assert_eq!(got.trim(), "sf-app\t1.0-2\nsf-base\t2.0-1");
}

/// A bundle unpacked in a folder whose name has a space (and a `%`, which the
/// percent-encoding of apt's source line must itself encode) installs offline: apt reads
/// the folder, not a source cut at the space. The install.sh it runs passes shellcheck.
#[test]
fn a_bundle_in_a_folder_with_a_space_installs_offline() {
    if !require_root("installing into a chroot")
        || !common::require_tool("debootstrap")
        || !common::require_tool("shellcheck")
    {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = offline_root_copy(tmp.path());
    let base = chroot(&root, &["dpkg-query", "-W"]).run().stdout;
    fs::write(tmp.path().join("base.txt"), &base).unwrap();
    let bundle = tmp.path().join("ops.tar.gz");
    Cmd::seedforge()
        .args(["debs", "--package", "jq", "--deb"])
        .args(fixture_debs())
        .arg("--base")
        .arg(tmp.path().join("base.txt"))
        .arg("--out")
        .arg(&bundle)
        .run();
    let dir = unpack(&bundle, &root.join("opt/my bundle 100%"));
    Cmd::new("shellcheck")
        .args(["--shell=sh", "--severity=style"])
        .arg(dir.join("install.sh"))
        .run();
    chroot(&root, &["sh", "-c", "! command -v jq"]).run();
    // Run from elsewhere, by a relative path with the space in it.
    let first = chroot(
        &root,
        &["sh", "-c", "cd /opt && sh 'my bundle 100%/install.sh'"],
    )
    .run();
    assert!(first.stderr.contains("installed: jq"), "{}", first.stderr);
    let version = chroot(&root, &["jq", "--version"]).run().stdout;
    assert_eq!(version.trim(), "jq-1.6");
    let log = fs::read_to_string(root.join("var/log/seedforge-packages.log")).unwrap();
    assert!(log.contains("my bundle 100%"), "{log}");
    assert!(
        root.join("var/lib/seedforge/packages-ops.installed")
            .is_file()
    );
}

/// The node's two-column base (`dpkg-query -W`, no Provides) against a repository with the
/// node's own perl-base and sysvinit-utils (the real .debs debootstrap installed), the
/// transitional lsb-base 11.6, a package needing the virtual perlapi perl-base provides and
/// one needing lsb-base, which sysvinit-utils provides. The bundle is what
/// `apt-get install --download-only` fetches on the node for the same request: neither
/// perl-base (the node has it at that version) nor lsb-base.
#[test]
fn a_two_column_base_bundles_what_apt_downloads() {
    if !require_root("running apt in a chroot")
        || !common::require_tool("debootstrap")
        || !common::require_tool("apt-ftparchive")
        || !common::require_tool("dpkg-deb")
    {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = offline_root_copy(tmp.path());
    let base = chroot(&root, &["dpkg-query", "-W"]).run().stdout;
    fs::write(tmp.path().join("base.txt"), &base).unwrap();
    let query = |format: &str, package: &str| {
        chroot(&root, &["dpkg-query", "-W", "-f", format, package])
            .run()
            .stdout
    };
    let perlapi = query("${Provides}", "perl-base")
        .split(", ")
        .find(|p| p.starts_with("perlapi-"))
        .expect("perl-base provides a perlapi")
        .to_string();
    let cached = |package: &str| {
        let version = query("${Version}", package).replace(':', "%3a");
        root.join(format!(
            "var/cache/apt/archives/{package}_{version}_amd64.deb"
        ))
    };
    let made = tmp.path().join("made");
    fs::create_dir_all(&made).unwrap();
    let debs = [
        cached("perl-base"),
        cached("sysvinit-utils"),
        crate::debs_security::deb(
            &made,
            "lsb-base",
            "11.6",
            "all",
            "Depends: sysvinit-utils (>= 3.05-4~)\n",
        ),
        crate::debs_security::deb(
            &made,
            "sf-perl-tool",
            "1.0-1",
            "amd64",
            &format!("Depends: {perlapi}\n"),
        ),
        crate::debs_security::deb(
            &made,
            "sf-init-tool",
            "1.0-1",
            "all",
            "Depends: lsb-base (>= 3.0-6)\n",
        ),
    ];
    let repo = root.join("srv/repo");
    make_repo(&repo, &debs);

    let bundle = tmp.path().join("tools.tar.gz");
    let made = Cmd::seedforge()
        .args(["--json", "debs", "--repo"])
        .arg(format!("file://{} bookworm main", repo.display()))
        .args(["--package", "sf-perl-tool", "--package", "sf-init-tool"])
        .arg("--base")
        .arg(tmp.path().join("base.txt"))
        .arg("--out")
        .arg(&bundle)
        .run()
        .json();
    let mut ours: Vec<String> = made["closure"]["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect();
    ours.sort();

    fs::write(
        root.join("etc/apt/sources.list.d/repo.list"),
        // copy: rather than file:, so that apt fetches the .debs into its cache.
        "deb [trusted=yes] copy:/srv/repo bookworm main\n",
    )
    .unwrap();
    chroot(&root, &["apt-get", "update"]).run();
    chroot(&root, &["apt-get", "clean"]).run();
    chroot(
        &root,
        &[
            "apt-get",
            "install",
            "--download-only",
            "--no-install-recommends",
            "-y",
            "sf-perl-tool",
            "sf-init-tool",
        ],
    )
    .run();
    let mut apts: Vec<String> = fs::read_dir(root.join("var/cache/apt/archives"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter_map(|f| f.strip_suffix(".deb").map(str::to_string))
        .map(|f| f.split('_').next().unwrap().to_string())
        .collect();
    apts.sort();
    assert_eq!(ours, apts);
    assert_eq!(ours, ["sf-init-tool", "sf-perl-tool"]);

    // And the bundle installs on the node with no network.
    fs::remove_file(root.join("etc/apt/sources.list.d/repo.list")).unwrap();
    unpack(&bundle, &root.join("opt/seedforge/tools"));
    chroot(&root, &["sh", "/opt/seedforge/tools/install.sh"]).run();
    chroot(&root, &["dpkg-query", "-W", "sf-perl-tool", "sf-init-tool"]).run();
}

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
