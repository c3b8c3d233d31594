//! A FUSE file system mounted for one test (disorderfs or bindfs over a folder, fusefat over
//! a FAT image, exfat-fuse over an exFAT image): the foreign file systems an output lands on from WSL or on a USB stick, run
//! in user space so no kernel driver is needed. Unmounted (by `fusermount -u`) however the
//! test ends.

use super::{Cmd, require_tool};
use std::fs;
use std::path::{Path, PathBuf};

/// A mounted FUSE file system; unmounted when dropped.
pub struct FuseMount {
    point: PathBuf,
    /// The loop device the image is attached to (exfat-fuse run as root mounts only a
    /// block device), detached after the unmount.
    loop_device: Option<String>,
}

impl FuseMount {
    /// disorderfs over `backing` at `point` (both made here). `None` (after a skip note,
    /// or a failure under `CI=true`) when the tools are missing or FUSE cannot mount.
    pub fn disorderfs(backing: &Path, point: &Path) -> Option<FuseMount> {
        if !require_tool("disorderfs") || !require_tool("fusermount") {
            return None;
        }
        fs::create_dir_all(backing).unwrap();
        mount(Cmd::new("disorderfs").arg(backing).arg(point), point)
    }

    /// bindfs over `backing` at `point` with `options` (`--chmod-deny`: every chmod fails
    /// with `EPERM`, as on FAT and exFAT, while everything else works). `None` as for
    /// [`FuseMount::disorderfs`].
    pub fn bindfs(backing: &Path, point: &Path, options: &[&str]) -> Option<FuseMount> {
        if !require_tool("bindfs") || !require_tool("fusermount") {
            return None;
        }
        fs::create_dir_all(backing).unwrap();
        mount(
            Cmd::new("bindfs")
                .args(options.iter().copied())
                .arg(backing)
                .arg(point),
            point,
        )
    }

    /// A FAT file system of `mib` MiB in the image file `image`, mounted read-write with
    /// fusefat at `point`. `None` as for [`FuseMount::disorderfs`].
    pub fn fat(image: &Path, mib: u64, point: &Path) -> Option<FuseMount> {
        if !require_tool("mkfs.vfat") || !require_tool("fusefat") || !require_tool("fusermount") {
            return None;
        }
        fs::File::create(image).unwrap().set_len(mib << 20).unwrap();
        Cmd::new("mkfs.vfat").arg(image).run();
        mount(
            Cmd::new("fusefat")
                .args(["-o", "rw+"])
                .arg(image)
                .arg(point),
            point,
        )
    }

    /// An exFAT file system (a USB stick's) of `mib` MiB in the image file `image`, attached
    /// to a loop device and mounted with exfat-fuse at `point`; needs root. `None` as for
    /// [`FuseMount::disorderfs`].
    pub fn exfat(image: &Path, mib: u64, point: &Path) -> Option<FuseMount> {
        for tool in ["mkfs.exfat", "mount.exfat-fuse", "losetup", "umount"] {
            if !require_tool(tool) {
                return None;
            }
        }
        fs::File::create(image).unwrap().set_len(mib << 20).unwrap();
        Cmd::new("mkfs.exfat").arg(image).run();
        let attached = Cmd::new("losetup")
            .args(["--find", "--show"])
            .arg(image)
            .any_status()
            .run();
        if attached.code != Some(0) {
            eprintln!("SKIP: no loop device here: {}", attached.stderr.trim());
            return None;
        }
        let device = attached.stdout.trim().to_string();
        let mut mounted = mount(Cmd::new("mount.exfat-fuse").arg(&device).arg(point), point);
        match &mut mounted {
            Some(m) => m.loop_device = Some(device),
            None => {
                let _ = std::process::Command::new("losetup")
                    .args(["-d", &device])
                    .status();
            }
        }
        mounted
    }

    /// The mount point.
    pub fn path(&self) -> &Path {
        &self.point
    }
}

fn mount(cmd: Cmd, point: &Path) -> Option<FuseMount> {
    fs::create_dir_all(point).unwrap();
    let mounted = cmd.any_status().run();
    if mounted.code != Some(0) {
        // The tools are there (scripts/test.sh installs them); the kernel's FUSE is not.
        eprintln!(
            "SKIP: {} cannot mount here: {}",
            mounted.what,
            mounted.stderr.trim()
        );
        return None;
    }
    Some(FuseMount {
        point: point.to_path_buf(),
        loop_device: None,
    })
}

impl Drop for FuseMount {
    fn drop(&mut self) {
        let Some(device) = &self.loop_device else {
            let _ = std::process::Command::new("fusermount")
                .arg("-u")
                .arg(&self.point)
                .status();
            return;
        };
        // A `fuseblk` mount is root's: `umount`, then the loop device can go.
        let _ = std::process::Command::new("umount")
            .arg(&self.point)
            .status();
        let _ = std::process::Command::new("losetup")
            .args(["-d", device])
            .status();
    }
}
