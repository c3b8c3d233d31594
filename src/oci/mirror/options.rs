//! How to mirror: the platforms kept, how many blobs and images at a time, the registries,
//! the signature policy, and what else is carried with each image.

use super::policy;
use crate::oci::local;
use crate::oci::platform::Platform;
use crate::oci::registry::Registries;
use std::path::PathBuf;
use std::sync::Arc;

/// How to mirror.
#[derive(Debug, Clone)]
pub struct MirrorOptions {
    /// Platforms to keep; empty means linux/amd64.
    pub platforms: Vec<Platform>,
    /// Blobs (and images) copied at the same time (at least 1).
    pub concurrency: usize,
    /// How to reach registries.
    pub registries: Arc<Registries>,
    /// Copy the other images when one fails (the run still fails, listing the failures).
    pub keep_going: bool,
    /// A layout (the one the images will be copied into) whose manifests, indexes and
    /// configs `prepare` takes instead of fetching them again. `mirror` always uses
    /// its own layout.
    pub known_layout: Option<PathBuf>,
    /// The archives this run has scanned (each once, whatever number of entries name it).
    pub opened: Arc<local::Opened>,
    /// Look for the artifacts kept beside each registry image (cosign's signature,
    /// attestation and SBOM tags, OCI 1.1 referrers) and store them with it.
    pub attached: bool,
    /// The signature policy each image is checked against before it is stored.
    pub policy: policy::SignaturePolicy,
}

impl Default for MirrorOptions {
    fn default() -> Self {
        MirrorOptions {
            platforms: vec![Platform::linux_amd64()],
            concurrency: 4,
            registries: Arc::new(Registries::default()),
            keep_going: false,
            known_layout: None,
            opened: Arc::default(),
            attached: true,
            policy: policy::SignaturePolicy::default(),
        }
    }
}

/// The platforms to keep: linux/amd64 when none are given.
pub(super) fn effective_platforms(platforms: &[Platform]) -> Vec<Platform> {
    if platforms.is_empty() {
        vec![Platform::linux_amd64()]
    } else {
        platforms.to_vec()
    }
}

/// Threads opening images: round trips cost latency, not bandwidth, so twice the
/// copy concurrency.
pub(super) fn opener_count(options: &MirrorOptions, images: usize) -> usize {
    (2 * options.concurrency).clamp(1, images.max(1))
}
