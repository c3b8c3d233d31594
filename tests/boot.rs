//! A node's whole life on booted machines: Debian 12 under qemu (software emulation) with
//! systemd, cloud-init, netplan and containerd, booted from the seed ISOs seedforge
//! builds, with a k3s stand-in (tests/boot/k3s-standin.py) given through `files:`.
//!
//! - **serve**: a node's containerd pulls every image of the build from `seedforge serve`
//!   on this machine, through the build's hosts files and CA (tests/boot/serve.rs), the
//!   two the demo lab's chart pulls (added by `images: add`) by their own registry's name;
//!   that node's image has no netplan, so cloud-init renders the seed's network-config for
//!   systemd-networkd itself (`network.interface: ens3`) and the node comes up on its
//!   static address from it.
//! - **life** of one node's disk, boot after boot: a seed with a damaged payload that also
//!   carries a package bundle its SHA256SUMS does not list is refused with nothing
//!   installed, both named, and the unit failed; the same disk booted with a sound
//!   seed recovers with no manual step, as the server of a **join**: an agent booted with
//!   it on a network that joins only the two (a qemu socket netdev over 127.0.0.1,
//!   192.0.2.0/24, no route anywhere else) waits for the server and starts with its URL
//!   and token; airgap images are imported; both package bundles install, one after
//!   another; no ordering cycle. A second boot changes nothing; a seed with a changed
//!   payload three k3s minors ahead is a new instance and is applied, the node (a server)
//!   and the join's agent booted together stepping through each release in k3s's order,
//!   the agent's power cut in its second hop and the agent resumed at the next boot; a seed
//!   with an older k3s is refused.
//!
//! Each boot leaves `systemd-analyze`'s account of where its time went in
//! /var/log/boot-diag/analyze.txt on its disk (SEEDFORGE_BOOT_KEEP=1 keeps the disks).
//!
//! Slow (minutes a boot, both cores busy), so they are `#[ignore]`d: `cargo test` reports
//! them as ignored, and `scripts/test.sh` runs them after the other tests with
//! `cargo test --test boot -- --ignored`. They need root, debootstrap and debugfs
//! (tests/boot/image.sh makes the node image and extracts qemu, once); asked for by name
//! on a machine without them, they fail rather than pass. Results are read from the
//! powered-off disk with debugfs; each VM powers itself off when its boot has settled
//! (tests/boot/guest/boot-test-finish) and every run is bounded.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stderr,
    clippy::disallowed_methods
)]

mod common;
#[path = "boot/disk.rs"]
mod disk;
#[path = "boot/lab.rs"]
mod lab;
#[path = "boot/life.rs"]
mod life;
#[path = "boot/machine.rs"]
mod machine;
#[path = "boot/serve.rs"]
mod serve;
#[path = "boot/shared.rs"]
mod shared;

use common::{Cmd, sha256_bytes};
use disk::*;
use lab::*;
use machine::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// One scenario at a time: each takes both cores.
static BOOTING: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The start of every scenario: root, the machine's cores to itself (held until the guard
/// is dropped), debootstrap, debugfs and mkfs.ext4 and the other `tools` it needs, and the
/// node machine.
fn booting(tools: &[&str]) -> (std::sync::MutexGuard<'static, ()>, Machine) {
    require_root();
    let one = BOOTING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    for tool in ["debootstrap", "debugfs", "mkfs.ext4"].iter().chain(tools) {
        assert!(common::require_tool(tool), "{tool} is required");
    }
    (one, Machine::get())
}
