//! What `seedforge debs` and a build with `packages:` refuse: a missing dependency (named,
//! at build time, exit 2, nothing written), a Packages index or a .deb whose hash does not
//! match, a Release signature that does not verify, and inputs that are not what they say.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use common::debs::{fixture_debs, make_repo, release_path};
use common::{Cmd, Lab};
use std::fs;
use std::path::{Path, PathBuf};

/// The fixture .debs without libonig5 (libjq1 needs it).
fn debs_without_onig(dir: &Path) -> PathBuf {
    let d = dir.join("debs");
    fs::create_dir_all(&d).unwrap();
    for f in fixture_debs() {
        let name = f.file_name().unwrap();
        if !name.to_string_lossy().starts_with("libonig5") {
            fs::copy(&f, d.join(name)).unwrap();
        }
    }
    d
}

fn base_file(dir: &Path) -> PathBuf {
    let base = dir.join("base.txt");
    fs::write(&base, "libc6:amd64\t2.36-9+deb12u10\n").unwrap();
    base
}

fn debs_cmd(dir: &Path, source: &[&str]) -> Cmd {
    Cmd::seedforge()
        .arg("debs")
        .args(source)
        .args(["--package", "jq", "--base"])
        .arg(base_file(dir))
        .arg("--out")
        .arg(dir.join("ops.tar.gz"))
}

#[test]
fn a_missing_dependency_fails_naming_it_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let debs = debs_without_onig(tmp.path());
    let out = tmp.path().join("ops.tar.gz");
    fs::write(&out, "previous bundle").unwrap();
    let run = debs_cmd(tmp.path(), &["--deb", debs.to_str().unwrap()])
        .expect(2)
        .run();
    assert!(run.stderr.contains("libonig5 (>= 6.8.1)"), "{}", run.stderr);
    assert!(
        run.stderr.contains("libjq1 1.6-2.1+deb12u3"),
        "{}",
        run.stderr
    );
    assert_eq!(fs::read_to_string(&out).unwrap(), "previous bundle");
    let leftovers: Vec<_> = fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// The lab with a `packages:` section whose .debs live in `fixtures/lab/debs`.
/// `seedforge plan` of the lab, expected to exit 2.
fn plan_refused(lab: &Lab) -> common::Output {
    lab.seedforge()
        .args(["plan", "--config", lab.config_arg()])
        .expect(2)
        .run()
}

fn lab_with_packages(lab: &Lab, debs: &[PathBuf], section: &str) {
    let dir = lab.lab_dir().join("debs");
    fs::create_dir_all(&dir).unwrap();
    for d in debs {
        fs::copy(d, dir.join(d.file_name().unwrap())).unwrap();
    }
    base_file(&lab.lab_dir());
    let config = lab.lab_dir().join("seedforge.yaml");
    let mut text = fs::read_to_string(&config).unwrap();
    text.push_str(section);
    fs::write(&config, text).unwrap();
}

const OPS: &str = "
packages:
  - name: ops
    packages: [jq]
    base: base.txt
    debs: [debs]
";

#[test]
fn build_writes_the_bundle_and_plan_lists_it() {
    let lab = Lab::new();
    lab_with_packages(&lab, &fixture_debs(), OPS);
    let plan = lab
        .seedforge()
        .args(["plan", "--config", lab.config_arg()])
        .run();
    assert!(
        plan.stdout.contains("packages/ops.tar.gz with 3 .deb(s)"),
        "{}",
        plan.stdout
    );
    let report = lab
        .seedforge()
        .args(["--json", "build", "--config", lab.config_arg()])
        .run()
        .json();
    assert_eq!(report["packages"][0]["debs"], 3, "{report}");
    let bundle = lab.out_dir().join("packages/ops.tar.gz");
    let listing = Cmd::new("tar").arg("-tzf").arg(&bundle).run().stdout;
    assert!(
        listing.contains("pool/libonig5_6.9.8-1_amd64.deb"),
        "{listing}"
    );
    assert!(listing.contains("install.sh"), "{listing}");
}

#[test]
fn build_fails_before_writing_when_a_dependency_is_missing() {
    let lab = Lab::new();
    let tmp = tempfile::tempdir().unwrap();
    let debs: Vec<PathBuf> = fs::read_dir(debs_without_onig(tmp.path()))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    lab_with_packages(&lab, &debs, OPS);
    let run = lab
        .seedforge()
        .args(["build", "--config", lab.config_arg()])
        .expect(2)
        .run();
    assert!(run.stderr.contains("bundle ops"), "{}", run.stderr);
    assert!(run.stderr.contains("libonig5"), "{}", run.stderr);
    assert!(!lab.out_dir().exists(), "build wrote before failing");
    // A set whose packages are not in the source fails the same way, naming one.
    let lab = Lab::new();
    lab_with_packages(
        &lab,
        &fixture_debs(),
        "\npackages:\n  - name: kube\n    sets: [kubeadm]\n    debs: [debs]\n",
    );
    let run = plan_refused(&lab);
    assert!(run.stderr.contains("conntrack is not in"), "{}", run.stderr);
}

#[test]
fn config_mistakes_name_file_and_line() {
    let lab = Lab::new();
    lab_with_packages(
        &lab,
        &fixture_debs(),
        "\npackages:\n  - name: ops\n    sets: [k8s-ops]\n    debs: [debs]\n",
    );
    let run = plan_refused(&lab);
    assert!(run.stderr.contains("seedforge.yaml:"), "{}", run.stderr);
    assert!(run.stderr.contains("k8s-ops"), "{}", run.stderr);
}

#[test]
fn a_packages_index_that_does_not_match_release_is_refused() {
    if !common::require_tool("apt-ftparchive") || !common::require_tool("xz") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    make_repo(&repo, &fixture_debs());
    // Same size, different content: only the hash can tell.
    let index = repo.join("dists/bookworm/main/binary-amd64/Packages.xz");
    common::flip_byte(&index, 40);
    let url = format!("file://{}", repo.display());
    let run = debs_cmd(tmp.path(), &["--repo", &url, "--suite", "bookworm"])
        .expect(1)
        .run();
    assert!(run.stderr.contains("hash mismatch"), "{}", run.stderr);
    assert!(run.stderr.contains("Packages.xz"), "{}", run.stderr);
    assert!(!tmp.path().join("ops.tar.gz").exists());
}

#[test]
fn a_deb_that_does_not_match_packages_is_refused() {
    if !common::require_tool("apt-ftparchive") || !common::require_tool("xz") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    make_repo(&repo, &fixture_debs());
    common::flip_byte(&repo.join("pool/main/libonig5_6.9.8-1_amd64.deb"), 5000);
    let url = format!("file://{}", repo.display());
    let run = debs_cmd(tmp.path(), &["--repo", &url, "--suite", "bookworm"])
        .expect(1)
        .run();
    assert!(run.stderr.contains("hash mismatch"), "{}", run.stderr);
    assert!(
        run.stderr.contains("libonig5_6.9.8-1_amd64.deb"),
        "{}",
        run.stderr
    );
    assert!(!tmp.path().join("ops.tar.gz").exists());
    let leftovers: Vec<_> = fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

pub(crate) fn gpg(home: &Path, args: &[&str]) {
    fs::create_dir_all(home).unwrap();
    Cmd::new("gpg")
        .env("GNUPGHOME", home.to_str().unwrap())
        .args([
            "--batch",
            "--yes",
            "--pinentry-mode",
            "loopback",
            "--passphrase",
            "",
        ])
        .args(args)
        .run();
}

/// Stops the gpg-agent that gpg starts for a home directory, when dropped.
pub(crate) struct AgentStopper(pub(crate) Vec<PathBuf>);

impl Drop for AgentStopper {
    fn drop(&mut self) {
        for home in &self.0 {
            let _ = std::process::Command::new("gpgconf")
                .arg("--homedir")
                .arg(home)
                .args(["--kill", "all"])
                .status();
        }
    }
}

/// A fresh signing key in `home`; returns its public keyring.
pub(crate) fn gen_key(home: &Path) -> PathBuf {
    gpg(
        home,
        &[
            "--quick-gen-key",
            "seedforge test <test@invalid>",
            "ed25519",
            "sign",
            "never",
        ],
    );
    let keyring = home.join("pub.gpg");
    gpg(home, &["--export", "--output", keyring.to_str().unwrap()]);
    keyring
}

#[test]
fn release_signatures_are_checked_with_gpgv_when_a_keyring_is_given() {
    for tool in ["apt-ftparchive", "xz", "gpg", "gpgv"] {
        if !common::require_tool(tool) {
            return;
        }
    }
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    make_repo(&repo, &fixture_debs());
    let home = tmp.path().join("gnupg");
    let _agents = AgentStopper(vec![home.clone(), tmp.path().join("other")]);
    let keyring = gen_key(&home);
    let release = release_path(&repo);
    let inrelease = release.with_file_name("InRelease");
    gpg(
        &home,
        &[
            "--clearsign",
            "--output",
            inrelease.to_str().unwrap(),
            release.to_str().unwrap(),
        ],
    );
    let url = format!("file://{}", repo.display());
    let source = ["--repo", &url, "--suite", "bookworm"];
    let report = debs_cmd(tmp.path(), &source)
        .arg("--json")
        .arg("--keyring")
        .arg(&keyring)
        .run();
    assert!(!report.stderr.contains("unverified"), "{}", report.stderr);
    assert!(
        report.json()["verification"]["signed"].is_object(),
        "{}",
        report.stdout
    );
    // Another key does not verify it.
    let stranger = gen_key(&tmp.path().join("other"));
    let run = debs_cmd(tmp.path(), &source)
        .arg("--keyring")
        .arg(&stranger)
        .expect(1)
        .run();
    assert!(
        run.stderr.contains("signature check failed"),
        "{}",
        run.stderr
    );
    // Nor does a changed document.
    let text = fs::read_to_string(&inrelease).unwrap();
    fs::write(
        &inrelease,
        text.replacen("Suite: bookworm", "Suite: bookwurm", 1),
    )
    .unwrap();
    let run = debs_cmd(tmp.path(), &source)
        .arg("--keyring")
        .arg(&keyring)
        .expect(1)
        .run();
    assert!(
        run.stderr.contains("signature check failed"),
        "{}",
        run.stderr
    );
}

#[test]
fn inputs_that_are_not_what_they_claim_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let fake = tmp.path().join("fake.deb");
    fs::write(&fake, "not an ar archive").unwrap();
    let run = debs_cmd(tmp.path(), &["--deb", fake.to_str().unwrap()])
        .expect(2)
        .run();
    assert!(run.stderr.contains("fake.deb"), "{}", run.stderr);
    let debs = common::repo_root().join("fixtures/debs");
    let run = Cmd::seedforge()
        .args([
            "debs",
            "--deb",
            debs.to_str().unwrap(),
            "--set",
            "nope",
            "--out",
        ])
        .arg(tmp.path().join("x.tar.gz"))
        .expect(2)
        .run();
    assert!(run.stderr.contains("k3s-ops, kubeadm"), "{}", run.stderr);
    let base = tmp.path().join("bad-base.txt");
    fs::write(&base, "libc6 2.36\njq not-a-version\n").unwrap();
    let run = Cmd::seedforge()
        .args([
            "debs",
            "--deb",
            debs.to_str().unwrap(),
            "--package",
            "jq",
            "--base",
        ])
        .arg(&base)
        .arg("--out")
        .arg(tmp.path().join("x.tar.gz"))
        .expect(2)
        .run();
    assert!(run.stderr.contains("bad-base.txt:2:"), "{}", run.stderr);
    assert!(!tmp.path().join("x.tar.gz").exists());
}

/// Rebuilds the compressed indexes and the Release file of a [`make_repo`] repository
/// after its `Packages` changed; `release_options` go to `apt-ftparchive release`.
fn reindex(repo: &Path, release_options: &str) {
    common::debs::sh(
        repo,
        &format!(
            "cd dists/bookworm/main/binary-amd64 && rm -f Packages.gz Packages.xz
             gzip -9nk Packages && xz -k Packages && cd ../../../..
             apt-ftparchive -o APT::FTPArchive::Release::Suite=bookworm {release_options} release dists/bookworm > Release.tmp
             mv Release.tmp dists/bookworm/Release"
        ),
    );
}

/// A repository whose hashes all match but whose `Packages` entry for libonig5 points at
/// libjq1's .deb: the .deb's own control fields are checked against the entry, so the node
/// never gets libjq1 under libonig5's name.
#[test]
fn a_deb_that_is_another_package_than_its_entry_is_refused() {
    if !common::require_tool("apt-ftparchive") || !common::require_tool("xz") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    make_repo(&repo, &fixture_debs());
    let index = repo.join("dists/bookworm/main/binary-amd64/Packages");
    let text = fs::read_to_string(&index).unwrap();
    let mut entries: Vec<String> = text
        .split("\n\n")
        .filter(|p| !p.trim().is_empty())
        .map(str::to_string)
        .collect();
    let file_fields = |p: &str| -> Vec<String> {
        p.lines()
            .filter(|l| {
                ["Filename:", "Size:", "MD5sum:", "SHA1:", "SHA256:"]
                    .iter()
                    .any(|f| l.starts_with(f))
            })
            .map(str::to_string)
            .collect()
    };
    let find = |name: &str| {
        entries
            .iter()
            .position(|p| p.lines().any(|l| l == format!("Package: {name}")))
            .unwrap()
    };
    let (onig, jq1) = (find("libonig5"), find("libjq1"));
    let theirs = file_fields(&entries[jq1]);
    let kept: Vec<String> = entries[onig]
        .lines()
        .filter(|l| !file_fields(l).iter().any(|f| f == l))
        .map(str::to_string)
        .chain(theirs)
        .collect();
    entries[onig] = kept.join("\n");
    fs::write(&index, entries.join("\n\n") + "\n").unwrap();
    reindex(&repo, "");
    let url = format!("file://{}", repo.display());
    let run = debs_cmd(tmp.path(), &["--repo", &url, "--suite", "bookworm"])
        .expect(2)
        .run();
    assert!(
        run.stderr.contains("libjq1 1.6-2.1+deb12u3 amd64")
            && run.stderr.contains("libonig5 6.9.8-1 amd64")
            && run.stderr.contains("index entry says"),
        "{}",
        run.stderr
    );
    assert!(!tmp.path().join("ops.tar.gz").exists());
}

/// An architecture or a component the suite does not have is named as such (with what it
/// has), not reported as every package missing; a truncated index is described in words.
#[test]
fn a_missing_architecture_or_component_and_a_truncated_index_are_named() {
    if !common::require_tool("apt-ftparchive") || !common::require_tool("xz") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    make_repo(&repo, &fixture_debs());
    // As a real archive's Release says it.
    reindex(
        &repo,
        "-o APT::FTPArchive::Release::Architectures='amd64 all' -o APT::FTPArchive::Release::Components=main",
    );
    let url = format!("file://{}", repo.display());
    let run = debs_cmd(
        tmp.path(),
        &["--repo", &url, "--suite", "bookworm", "--arch", "amd46"],
    )
    .expect(2)
    .run();
    assert!(
        run.stderr
            .contains("suite bookworm has no architecture \"amd46\"; it has: amd64, all"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("Release:0"), "{}", run.stderr);
    let run = debs_cmd(
        tmp.path(),
        &[
            "--repo",
            &url,
            "--suite",
            "bookworm",
            "--component",
            "contrib",
        ],
    )
    .expect(2)
    .run();
    assert!(
        run.stderr
            .contains("suite bookworm has no component \"contrib\"; it has: main"),
        "{}",
        run.stderr
    );
    // A Packages.xz cut short, listed in Release as it is now: only decompressing tells.
    let xz = repo.join("dists/bookworm/main/binary-amd64/Packages.xz");
    let bytes = fs::read(&xz).unwrap();
    fs::write(&xz, &bytes[..bytes.len() / 2]).unwrap();
    common::debs::sh(
        &repo,
        "apt-ftparchive -o APT::FTPArchive::Release::Suite=bookworm release dists/bookworm > Release.tmp
         mv Release.tmp dists/bookworm/Release",
    );
    let run = debs_cmd(tmp.path(), &["--repo", &url, "--suite", "bookworm"])
        .expect(2)
        .run();
    assert!(
        run.stderr
            .contains("Packages.xz: cannot decompress: xz data ends early"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("IoError"), "{}", run.stderr);
}
