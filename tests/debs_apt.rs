//! Real apt judges the bundle: in a debootstrap bookworm root with every network source
//! disabled, install.sh from a bundle whose closure seedforge resolved from a repository of
//! real .debs served on 127.0.0.1 installs jq, and `jq --version` runs; over a node whose
//! dpkg status holds older versions, the bundle upgrades them as `apt-get install` would
//! ([`upgrade`]). Needs root, debootstrap, apt-ftparchive and python3.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use crate::common;

use common::Cmd;
use common::debs::{HttpServer, fixture_debs, make_repo, offline_root_copy, require_root};
use std::fs;
use std::path::Path;

mod upgrade;

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
/// repository copy), and apt installs the whole in a chroot with no network. The bundle is
/// unpacked in a folder whose name has a space (and a `%`, which the percent-encoding of
/// apt's source line must itself encode) and its install.sh run from elsewhere by a
/// relative path: apt reads the folder, not a source cut at the space. The install.sh it
/// runs passes shellcheck.
#[test]
fn a_bundle_from_several_sources_installs_offline_from_a_folder_with_a_space() {
    if !require_root("installing into a chroot")
        || !common::require_tool("debootstrap")
        || !common::require_tool("apt-ftparchive")
        || !common::require_tool("dpkg-deb")
        || !common::require_tool("python3")
        || !common::require_tool("shellcheck")
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
    let version = chroot(&root, &["jq", "--version"]).run().stdout;
    assert_eq!(version.trim(), "jq-1.6");
    let log = fs::read_to_string(root.join("var/log/seedforge-packages.log")).unwrap();
    assert!(log.contains("my bundle 100%"), "{log}");
    assert!(
        root.join("var/lib/seedforge/packages-mixed.installed")
            .is_file()
    );
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
