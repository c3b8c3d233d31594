//! The integration tests, one binary: each module is one area, run against the built
//! `seedforge` binary and the real tools that judge its artifacts (see `common`). The
//! booted-node tests are a binary of their own (`tests/boot.rs`, `cargo test --test boot`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stderr,
    clippy::disallowed_methods
)]

mod common;

mod airgap;
mod architecture;
mod archive_sources;
mod auth_files;
mod bad_input;
mod bootstrap_steps;
mod build_lock;
mod build_seal;
mod ca_continuity;
mod charts;
mod charts_lab;
mod charts_local;
mod charts_own;
mod charts_unittest;
mod cli;
mod concurrent_writers;
mod corruption;
mod crash;
mod crash_safety;
mod credential_bounds;
mod crlf;
mod debs_apt;
mod debs_cache;
mod debs_closure_cache;
mod debs_hostile;
mod debs_index;
mod debs_refusals;
mod debs_security;
mod debs_signals;
mod delta;
mod delta_date;
mod delta_far_side;
mod delta_refusals;
mod delta_repair;
mod delta_upgrade;
mod demo_build;
mod embedded_registry;
mod exfat_output;
mod export_split;
mod failed_build;
mod far_side;
mod files;
mod five_days;
mod found_files;
mod full_disk;
mod fuse_output;
mod fuzz_corpus;
mod gc;
mod helm_judge;
mod hostile;
mod incremental;
mod iso_bad_input;
mod iso_judges;
mod iso_property;
mod iso_reproducible;
mod iso_sparse;
mod k3s_release;
mod keyless;
mod keyless_forgery;
mod keyless_path;
mod lab_stand_in;
mod listed_images;
mod local_sources;
mod man_page;
mod mirror_platforms;
mod modes;
mod net_credentials;
mod net_faults;
mod net_proxy;
mod offline;
mod online_offline;
mod parity;
mod parity_hostile;
mod pipeline_job;
mod pki_openssl;
mod pki_registry;
mod pki_state;
mod progress;
mod push_prune;
mod registry_faults;
mod registry_flags;
mod registry_harness;
mod registry_lock;
mod registry_mirror;
mod registry_token;
mod registry_warm;
mod render;
mod render_autoinstall;
mod render_hops;
mod reproducible;
mod sbom;
mod secret_urls;
mod secrets;
mod seed_iso;
mod serve;
mod shared_payload;
mod signatures;
mod signed_day_two;
mod signing_required;
mod sigstore_conformance;
mod trust_cosign;
mod trust_registry;
mod verify_caps;
mod verify_export;
mod verify_unsealed;
mod windows_paths;
