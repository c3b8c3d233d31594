//! A full disk: a build whose output folder runs out of space fails with exit 1 and a
//! message naming the file and saying there is no space, and leaves the previous outputs
//! byte-identical with no temporary file behind.
//!
//! The output folder is a size-limited tmpfs (`mount -t tmpfs -o size=...`, as root): a
//! good build first, then an input changes so the airgap archive must be rewritten, and
//! the tmpfs is shrunk (`mount -o remount,size=...`) to what is used plus 1 MiB, less than
//! the 4 MiB archive needs. The mount is undone by a guard, so a failing test never leaves
//! it behind. Where tmpfs cannot be mounted (not root, or a container without the
//! capability), the same write path is made to fail with RLIMIT_FSIZE (`prlimit --fsize`
//! with SIGXFSZ ignored), which makes the write return EFBIG ("File too large") instead
//! of ENOSPC.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use crate::common;

use common::{Cmd, Lab, require_tool, sha256_bytes, write_oci_image};
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const MIB: u64 = 1024 * 1024;

/// A tmpfs mounted on a directory, unmounted when dropped.
struct Tmpfs {
    dir: PathBuf,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` bytes on `dir`; `None` if that is not possible here.
    fn mount(dir: &Path, size: u64) -> Option<Tmpfs> {
        fs::create_dir_all(dir).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o"])
            .arg(format!("size={size},mode=0755"))
            .arg("tmpfs")
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Tmpfs {
            dir: dir.to_path_buf(),
        })
    }

    /// Changes the size limit (it may not go below what is used).
    fn resize(&self, size: u64) {
        let out = Cmd::new("mount")
            .args(["-o"])
            .arg(format!("remount,size={size}"))
            .arg(&self.dir)
            .run();
        assert_eq!(out.code, Some(0));
    }

    /// Bytes in use, from statvfs (`df -B1`).
    fn used(&self) -> u64 {
        let out = Cmd::new("df")
            .args(["-B1", "--output=used"])
            .arg(&self.dir)
            .run();
        out.stdout.lines().nth(1).unwrap().trim().parse().unwrap()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let quiet = |args: &[&str]| {
            Command::new("umount")
                .args(args)
                .arg(&self.dir)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        if !quiet(&[]) {
            quiet(&["-l"]);
        }
    }
}

/// Every path under `root` with its kind, mode and (for files but the build state) sha256.
fn tree(root: &Path) -> BTreeMap<PathBuf, String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, String>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = fs::symlink_metadata(&path).unwrap();
            let rel = path.strip_prefix(root).unwrap().to_path_buf();
            let mode = meta.mode() & 0o7777;
            if meta.is_dir() {
                out.insert(rel, format!("dir {mode:o}"));
                walk(root, &path, out);
            } else if rel == Path::new(".seedforge/state.json") {
                // The build state, a stat cache (not an artifact): the failed build may
                // record there the ctimes it changed by putting the output back.
                let valid =
                    serde_json::from_slice::<serde_json::Value>(&fs::read(&path).unwrap()).is_ok();
                out.insert(rel, format!("state {mode:o} valid JSON: {valid}"));
            } else {
                let sum = sha256_bytes(&fs::read(&path).unwrap());
                out.insert(rel, format!("file {mode:o} {sum}"));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

/// The lab with a 4 MiB image added, so the airgap archive (and each seed ISO that carries
/// it) is large enough to run out of space on its own.
fn big_lab() -> Lab {
    let lab = Lab::new();
    let src = lab.root().join("big-image");
    write_oci_image(&src, "big:1", &[4 * MIB], 7);
    let list = lab.lab_dir().join("images.txt");
    let mut text = fs::read_to_string(&list).unwrap();
    text.push_str(&format!(
        "oci:{}:big:1 docker.io/seedforge-test/big:1\n",
        src.display()
    ));
    fs::write(&list, text).unwrap();
    lab
}

/// A new source date: every airgap archive and seed ISO must be written again.
fn change_source_date(lab: &Lab) {
    let path = lab.lab_dir().join("seedforge.yaml");
    let text = fs::read_to_string(&path).unwrap();
    let text = text.replace(
        "source_date_epoch: 1700000000",
        "source_date_epoch: 1700000100",
    );
    fs::write(&path, text).unwrap();
}

fn build(lab: &Lab, out: &Path) -> Cmd {
    lab.seedforge()
        .args(["build", "--config", lab.config_arg(), "--out"])
        .arg(out)
}

/// Checks the failed build: exit 1, the message, and the output folder untouched.
fn check_failure(out: &common::Output, before: &BTreeMap<PathBuf, String>, dir: &Path, why: &str) {
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(out.stderr.contains(why), "no {why:?} in:\n{}", out.stderr);
    assert!(
        out.stderr.contains("k3s-airgap-images-amd64.tar.zst"),
        "the message does not name the archive:\n{}",
        out.stderr
    );
    let after = tree(dir);
    let left: Vec<_> = after.keys().filter(|k| !before.contains_key(*k)).collect();
    assert!(left.is_empty(), "left behind: {left:?}");
    assert_eq!(&after, before, "the previous outputs changed");
}

#[test]
fn build_on_a_full_disk_fails_naming_the_file_and_keeps_the_previous_outputs() {
    let lab = big_lab();
    let mount_point = lab.root().join("small-disk");
    let root = fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
    let tmpfs = if root {
        Tmpfs::mount(&mount_point, 64 * MIB)
    } else {
        None
    };
    match tmpfs {
        Some(disk) => {
            let out_dir = mount_point.join("out");
            build(&lab, &out_dir).run();
            let before = tree(&out_dir);
            change_source_date(&lab);
            // Room for small files, not for the new 4 MiB archive beside the old one.
            disk.resize(disk.used() + MIB);
            let out = build(&lab, &out_dir).any_status().run();
            check_failure(&out, &before, &out_dir, "No space left on device");
            // With room again, the build completes and the result is sound.
            disk.resize(64 * MIB);
            build(&lab, &out_dir).run();
            lab.seedforge().arg("verify").arg(&out_dir).run();
            drop(disk);
            assert!(!common::is_mount_point(&mount_point), "still mounted");
        }
        None => {
            eprintln!("note: no tmpfs could be mounted here; RLIMIT_FSIZE stands in for it");
            if !require_tool("prlimit") {
                return;
            }
            let out_dir = lab.root().join("out");
            build(&lab, &out_dir).run();
            let before = tree(&out_dir);
            change_source_date(&lab);
            // Every file may grow to 1 MiB: enough for everything but the 4 MiB archive.
            let out = Cmd::new("bash")
                .arg("-c")
                .arg("trap '' XFSZ; exec prlimit --fsize=1048576 \"$@\"")
                .arg("bash")
                .arg(common::seedforge_bin())
                .args(["build", "--config", lab.config_arg(), "--out"])
                .arg(&out_dir)
                .cwd(lab.root())
                .any_status()
                .run();
            check_failure(&out, &before, &out_dir, "File too large");
        }
    }
}
