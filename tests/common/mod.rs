//! Shared helpers for the integration tests (`tests/main.rs`) and the booted-node tests
//! (`tests/boot.rs`), one concern per file:
//!
//! - `bin`: running the `seedforge` binary or an external tool with a time limit
//!   ([`Cmd`], [`Running`], [`ChildGuard`], [`run_pipeline`]), [`require_tool`].
//! - `lab`: the per-test copy of the fixtures ([`Lab`]) and image list files.
//! - `tree`: file trees on disk ([`snapshot`], [`assert_same_tree`], [`copy_tree`],
//!   [`files_under`]), [`read_json`], [`flip_byte`].
//! - `oci`: OCI layouts (digests, blob paths, `index.json`), [`skopeo_inspect`] and the
//!   large-image generator [`write_oci_image`].
//! - `containerd`: a private containerd and `ctr images mount` ([`Containerd`]).
//! - [`fusemount`]: a FUSE file system (disorderfs, bindfs, fusefat) mounted for one test.
//! - [`charts`]: a deterministic Helm chart archive ([`charts::chart_tgz`]).
//! - [`sigstore`]: cosign and oras, the judges of signatures and bundles (fetched from
//!   Debian sid by scripts/test.sh into `target/sid/root`).
//! - [`serve`]: `seedforge serve` started on 127.0.0.1 and a raw HTTP/1.1 client.
//! - [`registry`], [`token`], [`proxy`], [`misbehave`], [`debs`], [`pki`], [`iso`]: the
//!   servers and judges of one area each (a real registry on 127.0.0.1 and its token
//!   service, proxies, misbehaving servers, .deb repositories, certificates, ISO readers).
//!
//! The items of the first five are re-exported here, so a test says `common::Cmd`; the
//! others are named by their module (`common::registry::Registry`).
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stderr
)]

mod bin;
mod containerd;
mod lab;
mod oci;
mod tree;

// Each test binary uses its own share of these (`tests/boot.rs` needs no containerd).
#[allow(unused_imports)]
pub use {bin::*, containerd::*, lab::*, oci::*, tree::*};

pub mod charts;
pub mod cloud_init;
pub mod debs;
pub mod fusemount;
pub mod helmchart;
pub mod iso;
pub mod json_schema;
pub mod keyless;
pub mod misbehave;
pub mod pki;
pub mod proxy;
pub mod registry;
pub mod serve;
pub mod sigstore;
pub mod token;
