//! Offline .deb bundles: every package an operator needs on an air-gapped node, with all of
//! its dependencies, as one `packages/<name>.tar.gz` that apt installs with no network.
//!
//! The pipeline: read candidate packages from .deb files or an apt repository
//! ([`repo`], [`deb`], [`control`]) into a [`universe`], resolve the dependency closure of
//! the requested packages ([`request`]) minus what the node image already has ([`base`],
//! [`resolve`](mod@resolve), [`version`]), then write a flat apt repository with an
//! install script ([`bundle`]). Named package sets per cluster profile live in [`sets`].
//! A package set that misses a dependency fails here, at build time, instead of on a node
//! that cannot reach a mirror.

pub mod base;
pub mod bundle;
pub mod cache;
pub mod closures;
pub mod config;
pub mod control;
pub mod deb;
pub mod error;
pub mod gz;
pub mod pipeline;
pub mod repo;
pub mod request;
pub mod resolve;
pub mod sets;
pub mod unchanged;
pub mod universe;
pub mod version;

pub use base::Base;
pub use bundle::{BundleOptions, BundleReport, write_bundle};
pub use error::DebsError;
pub use pipeline::{BundleSpec, PreparedBundle, prepare, prepare_cached, prepare_for};
pub use repo::{PackageSource, RepoSpec};
pub use request::Request;
pub use resolve::{Closure, resolve};
pub use universe::{Universe, Verification};
