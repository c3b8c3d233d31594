//! The demo built onto exFAT (a USB stick's file system, through exfat-fuse): no name
//! under the output holds a character exFAT refuses (`certs.d/HOST:PORT` is stored as
//! containerd's `certs.d/HOST_PORT_`), the output verifies, and the seed ISOs carry the
//! same names as a build onto ext4.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use crate::common;
use crate::fuse_output::set_output;

use common::fusemount::FuseMount;
use common::{Cmd, Lab};
use std::collections::BTreeMap;
use std::path::Path;

/// Every path under `root`, relative, `/`-separated.
fn names_under(root: &Path) -> Vec<String> {
    let mut names: Vec<String> = walkdir::WalkDir::new(root)
        .min_depth(1)
        .into_iter()
        .map(|e| {
            let e = e.unwrap();
            e.path()
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

/// The paths of `SHA256SUMS`.
fn summed(out: &Path) -> Vec<String> {
    std::fs::read_to_string(out.join("SHA256SUMS"))
        .unwrap()
        .lines()
        .map(|l| l.split_once("  ").unwrap().1.to_string())
        .collect()
}

/// Each ISO's Rock Ridge names (`isoinfo -R -f`), by the ISO's file name.
fn iso_names(out: &Path) -> BTreeMap<String, Vec<String>> {
    let mut all = BTreeMap::new();
    for entry in std::fs::read_dir(out.join("iso")).unwrap() {
        let iso = entry.unwrap().path();
        if iso.extension().is_none_or(|e| e != "iso") {
            continue;
        }
        let listed = Cmd::new("isoinfo").args(["-R", "-f", "-i"]).arg(&iso).run();
        let mut names: Vec<String> = listed.stdout.lines().map(str::to_string).collect();
        names.sort();
        all.insert(
            iso.file_name().unwrap().to_string_lossy().into_owned(),
            names,
        );
    }
    all
}

#[test]
fn the_demo_builds_onto_exfat_and_verifies_with_the_seed_isos_of_an_ext4_build() {
    if !common::debs::require_root("mounting an exFAT image") || !common::require_tool("isoinfo") {
        return;
    }
    let lab = Lab::new();
    let Some(mount) = FuseMount::exfat(
        &lab.root().join("stick.img"),
        256,
        &lab.root().join("stick"),
    ) else {
        return;
    };
    let out = mount.path().join("out");
    set_output(&lab, &out);
    lab.build();
    // `run` checks the exit code: every sealed file hashes right, the ISOs read back.
    lab.seedforge().arg("verify").arg(&out).run();

    let names = names_under(&out);
    assert!(
        names.contains(&"certs.d/192.168.6.1_5000_/hosts.toml".to_string()),
        "{names:?}"
    );
    assert!(names.iter().all(|n| !n.contains(':')), "{names:?}");
    let hosts = std::fs::read_to_string(out.join("certs.d/192.168.6.1_5000_/hosts.toml")).unwrap();
    assert!(
        hosts.contains("# Install as /etc/containerd/certs.d/192.168.6.1_5000_/hosts.toml"),
        "{hosts}"
    );

    // The same inputs onto the lab's own (ext4 or tmpfs) folder: the same files sealed,
    // and ISOs carrying the same names: the output's file system changes no name a node
    // sees.
    let reference = Lab::new();
    reference.build();
    assert_eq!(summed(&out), summed(&reference.out_dir()));
    let on_stick = iso_names(&out);
    assert_eq!(on_stick, iso_names(&reference.out_dir()));
    for node in ["lab-server1", "lab-agent1", "lab-agent2"] {
        let seed = &on_stick[&format!("seed-{node}.iso")];
        for file in ["/user-data", "/meta-data", "/network-config"] {
            assert!(seed.contains(&file.to_string()), "{node}: {seed:?}");
        }
    }
}
