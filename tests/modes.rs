//! The output's modes are what seedforge means, not what its file system reports: the
//! demo built onto NTFS (ntfs-3g without the `permissions` option, which reports 0777 for
//! every file, as WSL's `/mnt/c` does) gives the same `SHA256SUMS`, `manifest.json` and
//! seed ISOs as on ext4, and says once which secrets that file system leaves readable.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use crate::common;

use common::{Cmd, Lab, copy_tree, read_json};
use std::fs;
use std::path::{Path, PathBuf};

/// The secrets of the demo as configured by [`demo_with_files_and_auth`], relative to the
/// output: each is written 0600.
const SECRETS: [&str; 10] = [
    "iso/seed-lab-agent1.iso",
    "iso/seed-lab-agent2.iso",
    "iso/seed-lab-server1.iso",
    "nodes/lab-agent1/user-data",
    "nodes/lab-agent2/user-data",
    "nodes/lab-server1/user-data",
    "pki/ca.key",
    "pki/registry.key",
    "registries.yaml",
    "registry/htpasswd",
];

/// The words of the warning about secrets the file system leaves readable.
const WARNING: &str = "does not keep mode 0600";

/// An NTFS image mounted with ntfs-3g, unmounted when dropped.
struct Ntfs {
    mount: PathBuf,
}

impl Ntfs {
    /// Makes a sparse NTFS image in `dir` and mounts it at `dir/ntfs`; `None` (after a
    /// skip note) when the tools or FUSE are missing (a failure under `CI=true`).
    fn mount(dir: &Path) -> Option<Ntfs> {
        if !common::debs::require_root("mounting an NTFS image with ntfs-3g")
            || !common::require_tool("mkntfs")
            || !common::require_tool("ntfs-3g")
            || !common::require_tool("fusermount")
        {
            return None;
        }
        let image = dir.join("ntfs.img");
        fs::File::create(&image).unwrap().set_len(64 << 20).unwrap();
        // -F: a file, not a block device; -f: no zeroing, no bad-sector check.
        Cmd::new("mkntfs")
            .args(["-F", "-f", "-q"])
            .arg(&image)
            .run();
        let mount = dir.join("ntfs");
        fs::create_dir_all(&mount).unwrap();
        let mounted = Cmd::new("ntfs-3g")
            .arg(&image)
            .arg(&mount)
            .any_status()
            .run();
        if mounted.code != Some(0) {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("ntfs-3g cannot mount here (CI=true): {}", mounted.stderr);
            }
            eprintln!("SKIP: ntfs-3g cannot mount here: {}", mounted.stderr.trim());
            return None;
        }
        Some(Ntfs { mount })
    }
}

impl Drop for Ntfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("fusermount")
            .arg("-u")
            .arg(&self.mount)
            .status();
    }
}

/// The demo with an executable and a plain `files:` entry and a registry login, so its
/// output holds every kind of file: 0644, 0755 (`files/bin/k3s`) and 0600 (keys,
/// `user-data` and the seeds with the join token, `registries.yaml` with the password,
/// `htpasswd`).
fn demo_with_files_and_auth(lab: &Lab) {
    let dir = lab.lab_dir();
    let k3s = b"#!/bin/sh\necho k3s\n";
    let notes = b"read me\n";
    fs::write(dir.join("k3s"), k3s).unwrap();
    fs::write(dir.join("notes.txt"), notes).unwrap();
    fs::write(dir.join("pull-password"), "s3cret-pull\n").unwrap();
    let config = dir.join("seedforge.yaml");
    let text = fs::read_to_string(&config).unwrap().replace(
        "  port: 5000\n",
        "  port: 5000\n  auth:\n    username: puller\n    password: {file: pull-password}\n",
    );
    let text = format!(
        "{text}\nfiles:\n  - name: bin/k3s\n    source: k3s\n    sha256: \"{}\"\n    executable: true\n  - name: notes.txt\n    source: notes.txt\n    sha256: \"{}\"\n",
        common::sha256_bytes(k3s),
        common::sha256_bytes(notes)
    );
    fs::write(&config, text).unwrap();
}

/// Builds `lab` into its default output, returning stderr.
fn build(lab_root: &Path) -> String {
    Cmd::seedforge()
        .cwd(lab_root)
        .args(["build", "--config", "fixtures/lab/seedforge.yaml"])
        .run()
        .stderr
}

#[test]
fn the_demo_built_onto_ntfs_gives_the_bytes_of_an_ext4_build_and_one_warning_naming_the_secrets() {
    let ext4 = Lab::new();
    demo_with_files_and_auth(&ext4);
    let Some(ntfs) = Ntfs::mount(ext4.root()) else {
        return;
    };
    // The same inputs, on NTFS too, as when the config lives under /mnt/c.
    let root = ntfs.mount.join("lab");
    copy_tree(
        &ext4.root().join("fixtures"),
        &root.join("fixtures"),
        &|_| false,
    );

    let ext4_err = build(ext4.root());
    assert!(
        !ext4_err.contains(WARNING),
        "a warning on ext4:\n{ext4_err}"
    );
    let ext4_out = ext4.out_dir();
    // The PKI, the site identity and the htpasswd are state kept between builds (keys,
    // signatures, the site and bcrypt salts are random): the NTFS build starts from the
    // ext4 build's PKI and site, and is built again with its htpasswd (kept, since its
    // password matches).
    let ntfs_out = root.join("fixtures/lab/out");
    common::copy_kept_state(&ext4_out, &ntfs_out);
    let first_err = build(&root);
    assert_eq!(first_err.matches(WARNING).count(), 1, "{first_err}");
    fs::copy(
        ext4_out.join("registry/htpasswd"),
        ntfs_out.join("registry/htpasswd"),
    )
    .unwrap();
    let ntfs_err = build(&root);
    // The file system really has no Unix modes (else the test proves nothing).
    let bits = |p: &Path| {
        use std::os::unix::fs::PermissionsExt as _;
        fs::metadata(p).unwrap().permissions().mode() & 0o7777
    };
    assert_eq!(bits(&ntfs_out.join("pki/ca.key")), 0o777);

    for name in ["SHA256SUMS", "manifest.json"] {
        assert!(
            fs::read(ext4_out.join(name)).unwrap() == fs::read(ntfs_out.join(name)).unwrap(),
            "{name} differs between ext4 and NTFS"
        );
    }
    let isos: Vec<PathBuf> = fs::read_dir(ext4_out.join("iso"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(isos.len(), 3, "{isos:?}");
    for iso in &isos {
        let name = iso.file_name().unwrap();
        assert!(
            fs::read(iso).unwrap() == fs::read(ntfs_out.join("iso").join(name)).unwrap(),
            "{} differs between ext4 and NTFS",
            name.to_string_lossy()
        );
    }
    // What the manifest records is what each file is.
    let manifest = read_json(&ntfs_out.join("manifest.json"));
    let mode = |path: &str| -> String {
        let artifacts = manifest["artifacts"].as_array().unwrap();
        let a = artifacts.iter().find(|a| a["path"] == path);
        a.unwrap_or_else(|| panic!("{path} not in the manifest"))["mode"]
            .as_str()
            .unwrap()
            .to_string()
    };
    for secret in SECRETS {
        assert_eq!(mode(secret), "0600", "{secret}");
    }
    assert_eq!(mode("files/bin/k3s"), "0755");
    assert_eq!(mode("files/notes.txt"), "0644");
    assert_eq!(mode("pki/ca.crt"), "0644");
    assert_eq!(mode("oci/index.json"), "0644");

    // One warning, naming every secret and the fix.
    assert_eq!(ntfs_err.matches(WARNING).count(), 1, "{ntfs_err}");
    let line = ntfs_err.lines().find(|l| l.contains(WARNING)).unwrap();
    for secret in SECRETS {
        assert!(
            line.contains(&format!("out/{secret} (0777)")),
            "{secret}: {line}"
        );
    }
    assert!(!line.contains("ca.crt"), "{line}");
    assert!(
        line.contains("[automount] options = \"metadata\""),
        "{line}"
    );
    assert!(line.contains("export_dir"), "{line}");
    assert!(!line.contains("s3cret-pull"), "{line}");
}
