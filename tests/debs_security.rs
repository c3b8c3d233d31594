//! Debian's security archive as a source, laid out as the real one is: its Release file
//! lists `Components: updates/main` while its indexes are `main/binary-amd64/Packages*`.
//! apt reads it from the line `URL/debian-security bookworm-security main`; so does
//! `seedforge debs`, over file:// and over http on 127.0.0.1, signed and checked with
//! gpgv. A node newer than bookworm (as one with bookworm-security's updates is) is refused
//! with a source line to add, and that very line makes the bundle. Real apt in the
//! debootstrap root reads the same repository from the same line.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;
use crate::debs_refusals::{AgentStopper, gen_key, gpg};

use common::Cmd;
use common::debs::{HttpServer, make_repo, offline_root_copy, require_root, sh};
use std::fs;
use std::path::{Path, PathBuf};

/// A small package `name` at `version` for `arch`, with `extra` control fields, built by
/// dpkg-deb into `dir`.
pub(crate) fn deb(dir: &Path, name: &str, version: &str, arch: &str, extra: &str) -> PathBuf {
    let tree = dir.join(format!("{name}-{version}-{arch}-tree"));
    fs::create_dir_all(tree.join("DEBIAN")).unwrap();
    fs::create_dir_all(tree.join(format!("usr/share/doc/{name}"))).unwrap();
    fs::write(tree.join(format!("usr/share/doc/{name}/README")), "test\n").unwrap();
    fs::write(
        tree.join("DEBIAN/control"),
        format!(
            "Package: {name}\nVersion: {version}\nArchitecture: {arch}\nMaintainer: seedforge tests <t@example.invalid>\n{extra}Description: test package\n"
        ),
    )
    .unwrap();
    let out = dir.join(format!("{name}_{version}_{arch}.deb"));
    Cmd::new("dpkg-deb")
        .args(["--root-owner-group", "--build"])
        .arg(&tree)
        .arg(&out)
        .run();
    fs::remove_dir_all(&tree).unwrap();
    out
}

/// `root/dists/bookworm-security` as security.debian.org has it: the pool under
/// `pool/updates/main`, indexes under `main/binary-amd64/`, a Release file that says
/// `Components: updates/main` (and, as the real one, no `all` architecture), and the
/// `updates` link to the suite itself.
fn security_repo(root: &Path, debs: &[PathBuf]) {
    let pool = root.join("pool/updates/main");
    fs::create_dir_all(&pool).unwrap();
    for d in debs {
        fs::copy(d, pool.join(d.file_name().unwrap())).unwrap();
    }
    fs::create_dir_all(root.join("dists/bookworm-security/main/binary-amd64")).unwrap();
    sh(
        root,
        "apt-ftparchive packages pool/updates/main > dists/bookworm-security/main/binary-amd64/Packages
         gzip -9nk dists/bookworm-security/main/binary-amd64/Packages
         xz -k dists/bookworm-security/main/binary-amd64/Packages
         apt-ftparchive -o APT::FTPArchive::Release::Origin=Debian \
           -o APT::FTPArchive::Release::Label=Debian-Security \
           -o APT::FTPArchive::Release::Suite=oldstable-security \
           -o APT::FTPArchive::Release::Codename=bookworm-security \
           -o APT::FTPArchive::Release::Architectures='amd64 arm64' \
           -o APT::FTPArchive::Release::Components='updates/main updates/contrib' \
           release dists/bookworm-security > Release.tmp
         mv Release.tmp dists/bookworm-security/Release
         ln -s . dists/bookworm-security/updates",
    );
    let release = fs::read_to_string(root.join("dists/bookworm-security/Release")).unwrap();
    assert!(
        release.contains("Components: updates/main updates/contrib")
            && release.contains(" main/binary-amd64/Packages.xz")
            && !release.contains("updates/main/binary"),
        "{release}"
    );
}

/// Clearsigns `dist/Release` into `dist/InRelease` with the key in `home`.
fn sign(home: &Path, dist: &Path) {
    let release = dist.join("Release");
    let inrelease = dist.join("InRelease");
    gpg(
        home,
        &[
            "--clearsign",
            "--output",
            inrelease.to_str().unwrap(),
            release.to_str().unwrap(),
        ],
    );
}

/// A Debian mirror under `root`: `debian` (bookworm: sf-app 1.0-1 for sf-base 1.0-1) and
/// `debian-security` (bookworm-security: sf-app 1.0-2 for sf-base 2.0-1), both signed;
/// returns the keyring.
fn mirror(root: &Path, home: &Path) -> PathBuf {
    let made = root.join("made");
    fs::create_dir_all(&made).unwrap();
    let app_old = deb(
        &made,
        "sf-app",
        "1.0-1",
        "all",
        "Depends: sf-base (= 1.0-1)\n",
    );
    let base_old = deb(&made, "sf-base", "1.0-1", "amd64", "");
    let app_new = deb(
        &made,
        "sf-app",
        "1.0-2",
        "all",
        "Depends: sf-base (= 2.0-1)\n",
    );
    let base_new = deb(&made, "sf-base", "2.0-1", "amd64", "");
    make_repo(&root.join("debian"), &[app_old, base_old]);
    security_repo(&root.join("debian-security"), &[app_new, base_new]);
    let keyring = gen_key(home);
    sign(home, &root.join("debian/dists/bookworm"));
    sign(home, &root.join("debian-security/dists/bookworm-security"));
    keyring
}

/// `seedforge debs` for sf-app on a node that has sf-base 2.0-1 (`dpkg-query -W`), from
/// `repos`, checked with `keyring`.
fn debs(dir: &Path, keyring: &Path, repos: &[String], out: &Path) -> Cmd {
    let base = dir.join("base.txt");
    fs::write(&base, "sf-base\t2.0-1\n").unwrap();
    let mut cmd = Cmd::seedforge().arg("debs");
    for r in repos {
        cmd = cmd.arg("--repo").arg(r);
    }
    cmd.args(["--package", "sf-app", "--keyring"])
        .arg(keyring)
        .arg("--base")
        .arg(base)
        .arg("--out")
        .arg(out)
}

/// The source line a refusal tells the user to add (the first quoted one after "comes
/// from: ").
fn suggested_line(stderr: &str) -> String {
    let after = stderr
        .split_once("comes from: \"")
        .unwrap_or_else(|| panic!("no suggested source in: {stderr}"))
        .1;
    after.split_once('"').unwrap().0.to_string()
}

/// From `url` (the mirror's root): refused naming the security suite, then made with the
/// line the refusal gave.
fn the_suggestion_makes_the_bundle(dir: &Path, keyring: &Path, url: &str) {
    let release = format!("{url}/debian bookworm main");
    let first = dir.join("first.tar.gz");
    let refused = debs(dir, keyring, std::slice::from_ref(&release), &first)
        .expect(2)
        .run();
    assert!(
        refused.stderr.contains("which apt will not downgrade"),
        "{}",
        refused.stderr
    );
    assert!(!first.exists());
    let line = suggested_line(&refused.stderr);
    assert_eq!(
        line,
        format!("{url}/debian-security bookworm-security main")
    );

    let bundle = dir.join("app.tar.gz");
    let made = debs(dir, keyring, &[release, line], &bundle)
        .arg("--json")
        .run();
    let report = made.json();
    assert!(
        report["verification"]["signed"].is_object(),
        "{}",
        made.stdout
    );
    let closure: Vec<String> = report["closure"]["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| format!("{} {}", p["name"], p["version"]).replace('"', ""))
        .collect();
    assert_eq!(closure, ["sf-app 1.0-2"], "{}", made.stdout);
    let listing = Cmd::new("tar").arg("-tzf").arg(&bundle).run().stdout;
    assert!(listing.contains("pool/sf-app_1.0-2_all.deb"), "{listing}");
}

#[test]
fn the_security_archive_is_read_as_apt_reads_it_and_the_suggested_source_works() {
    for tool in ["apt-ftparchive", "dpkg-deb", "xz", "gpg", "gpgv", "python3"] {
        if !common::require_tool(tool) {
            return;
        }
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("mirror");
    let home = tmp.path().join("gnupg");
    let _agents = AgentStopper(vec![home.clone()]);
    let keyring = mirror(&root, &home);

    let local = tmp.path().join("file");
    fs::create_dir_all(&local).unwrap();
    the_suggestion_makes_the_bundle(&local, &keyring, &format!("file://{}", root.display()));
    let server = HttpServer::start(&root);
    let remote = tmp.path().join("http");
    fs::create_dir_all(&remote).unwrap();
    the_suggestion_makes_the_bundle(&remote, &keyring, &server.url);

    // `updates/main` is listed, but no index lies under it (apt skips such a line too):
    // refused, naming the component as apt names it.
    let run = debs(
        tmp.path(),
        &keyring,
        &[format!(
            "{}/debian-security bookworm-security updates/main",
            server.url
        )],
        &tmp.path().join("x.tar.gz"),
    )
    .expect(2)
    .run();
    assert!(
        run.stderr
            .contains("name the component as apt does, \"main\""),
        "{}",
        run.stderr
    );
    // A component the suite does not have is named with those it has, as apt names them.
    let run = debs(
        tmp.path(),
        &keyring,
        &[format!(
            "{}/debian-security bookworm-security non-free",
            server.url
        )],
        &tmp.path().join("x.tar.gz"),
    )
    .expect(2)
    .run();
    assert!(
        run.stderr.contains(
            "suite bookworm-security has no component \"non-free\"; it has: main, contrib"
        ),
        "{}",
        run.stderr
    );
}

/// Real apt reads the same security-layout repository from the line
/// `deb [signed-by=KEYRING] file:/srv/debian-security bookworm-security main`, without a
/// warning, and offers what `seedforge debs` took from it.
#[test]
fn apt_reads_the_security_layout_from_the_same_line() {
    if !require_root("running apt in a chroot")
        || !common::require_tool("debootstrap")
        || !common::require_tool("apt-ftparchive")
        || !common::require_tool("gpg")
    {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = offline_root_copy(tmp.path());
    let mirror_dir = root.join("srv");
    let home = tmp.path().join("gnupg");
    let _agents = AgentStopper(vec![home.clone()]);
    let keyring = mirror(&mirror_dir, &home);
    fs::copy(&keyring, root.join("srv/key.gpg")).unwrap();
    fs::write(
        root.join("etc/apt/sources.list.d/security.list"),
        "deb [signed-by=/srv/key.gpg] file:/srv/debian-security bookworm-security main\n",
    )
    .unwrap();
    let update = Cmd::new("chroot")
        .arg(&root)
        .args(["apt-get", "update"])
        .run();
    for warning in ["W:", "E:", "Skipping"] {
        assert!(
            !update.stderr.contains(warning) && !update.stdout.contains(warning),
            "{}{}",
            update.stdout,
            update.stderr
        );
    }
    let policy = Cmd::new("chroot")
        .arg(&root)
        .args(["apt-cache", "policy", "sf-app", "sf-base"])
        .run()
        .stdout;
    assert!(policy.contains("Candidate: 1.0-2"), "{policy}");
    assert!(policy.contains("Candidate: 2.0-1"), "{policy}");
}
