//! Real apt judges the bundle: in a debootstrap bookworm root with every network source
//! disabled, install.sh from a bundle whose closure seedforge resolved from a repository of
//! real .debs served on 127.0.0.1 installs jq, and `jq --version` runs. Needs root,
//! debootstrap, apt-ftparchive and python3.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod common;

use common::Cmd;
use common::debs::{HttpServer, fixture_debs, make_repo, offline_root_copy, require_root};
use std::fs;
use std::path::Path;

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

    let dest = root.join("opt/seedforge/ops");
    fs::create_dir_all(&dest).unwrap();
    Cmd::new("tar")
        .arg("-xzf")
        .arg(&bundle)
        .arg("-C")
        .arg(&dest)
        .run();
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
    let dest = root.join("opt/b");
    fs::create_dir_all(&dest).unwrap();
    Cmd::new("tar")
        .arg("-xzf")
        .arg(&bundle)
        .arg("-C")
        .arg(&dest)
        .run();
    common::flip_byte(&dest.join("pool/libonig5_6.9.8-1_amd64.deb"), 1000);
    let out = chroot(&root, &["sh", "/opt/b/install.sh"]).expect(1).run();
    assert!(out.stderr.contains("damaged"), "{}", out.stderr);
    assert!(!root.join("usr/bin/jq").exists());
    assert!(!root.join("var/lib/seedforge/packages-b.installed").exists());
}
