//! Registries as image sources and as push targets, over the OCI distribution API.
//!
//! Mirroring from registries is the step users wait on longest and the one most exposed to
//! bad links, so this module is built around three promises: every manifest and blob is
//! checked against its digest before the store commits it, transient failures (resets,
//! timeouts, 429, 5xx) are retried with backoff and resumed where the registry allows it,
//! and a failure names the registry and image it concerns.
//!
//! - [`settings`]: per-registry settings (CA file, plain HTTP, credentials) from the config,
//!   the command line and the auth files of other tools; retries, limits and trust come
//!   from [`crate::net`].
//! - [`client`]: one HTTP client per registry host; authentication and token handling come
//!   from `oci-client`, requests that need headers it hides (Range, Retry-After) are sent on
//!   the same `reqwest` stack. [`registries`] holds one per host; [`manifest`] fetches and
//!   checks manifests.
//! - [`authfile`]: Docker's and podman's credential files; [`credhelper`] runs the
//!   credential helpers they name, within a time and size limit; [`credentials`]: the user
//!   name and password every source gives, and the host they are for.
//! - [`reader`]: an [`ImageReader`](super::source::ImageReader) for registry images, so
//!   platform selection and copying are shared with the local sources.
//! - [`push`]: pushing a layout's images into a registry with their digests unchanged.
//! - [`lockfile`]: `seedforge.lock`, the tag → digest pins of a build.

pub mod authfile;
pub mod client;
pub mod credentials;
pub mod credhelper;
pub mod lockfile;
pub mod manifest;
pub mod prune;
pub mod push;
pub mod reader;
mod referrers;
pub mod registries;
pub mod settings;

pub use client::RegistryClient;
pub use credentials::Credentials;
pub use reader::RegistryReader;
pub use registries::Registries;
pub use settings::{HostAccess, RegistryAccess, RegistrySettings};

/// Failures talking to a registry. Each names the registry and, where there is one, the
/// image, as the user wrote it.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The registry's TLS certificate is not trusted.
    #[error(
        "{image}: the TLS certificate of registry {registry} is not trusted ({detail}); pass --ca-file FILE with the CA that signed it (`push` of a build output trusts the output's pki/ca.crt by itself), or in a build set ca_file for it under `registries:`"
    )]
    UntrustedCertificate {
        /// The registry host.
        registry: String,
        /// The image being fetched or pushed.
        image: String,
        /// What the TLS stack said.
        detail: String,
    },
    /// The registry answered a TLS handshake with something else (it speaks plain HTTP).
    #[error(
        "{image}: registry {registry} does not speak TLS ({detail}); if it serves plain HTTP, pass --plain-http {registry} or set insecure: true for it under `registries:`"
    )]
    NotTls {
        /// The registry host.
        registry: String,
        /// The image.
        image: String,
        /// What the TLS stack said.
        detail: String,
    },
    /// The registry refused the credentials (or their absence).
    #[error("{image}: registry {registry} refused access ({status}) {who}")]
    Unauthorized {
        /// The registry host.
        registry: String,
        /// The image.
        image: String,
        /// The HTTP status.
        status: u16,
        /// Which credentials were tried.
        who: String,
    },
    /// The image, tag or blob does not exist in the registry.
    #[error("{image}: registry {registry} has no {what}")]
    NotFound {
        /// The registry host.
        registry: String,
        /// The image.
        image: String,
        /// What is missing (`manifest for tag 3.6`, `blob sha256:…`).
        what: String,
    },
    /// The registry could not be reached or answered with an error, after the retries.
    #[error("{image}: registry {registry}: {message}")]
    Transfer {
        /// The registry host.
        registry: String,
        /// The image.
        image: String,
        /// What went wrong, including how often it was tried.
        message: String,
        /// Another run later may succeed: the registry could not be reached (refused,
        /// reset, no DNS answer, no answer in time) or kept answering 429 or 5xx after
        /// the retries. False for an answer that will not change (another 4xx).
        transient: bool,
    },
    /// The registry sent something that breaks the distribution protocol (a manifest whose
    /// digest is not the one asked for, an unusable content type).
    #[error("{image}: registry {registry}: {message}")]
    Protocol {
        /// The registry host.
        registry: String,
        /// The image.
        image: String,
        /// What is wrong.
        message: String,
    },
    /// The registry settings cannot be used (unreadable CA file, bad Docker config).
    #[error("{0}")]
    Settings(String),
    /// A tag resolves to a different digest than `seedforge.lock` pins (`--locked`).
    #[error(
        "{image}: {tag} now resolves to {resolved}, but {lockfile} pins {locked}; run build without --locked to update the lock"
    )]
    LockMismatch {
        /// The image source.
        image: String,
        /// The tag.
        tag: String,
        /// The digest in the lock file.
        locked: String,
        /// The digest the registry gives now.
        resolved: String,
        /// The lock file.
        lockfile: String,
    },
    /// `--locked` was given but the lock file lacks an image, or cannot be read.
    #[error("{0}")]
    Lock(String),
    /// The run is offline (`--offline`): no registry may be reached.
    #[error(
        "{image}: registry {registry} cannot be reached with --offline; build once online so seedforge.lock pins the image and OUT/oci holds it"
    )]
    Offline {
        /// The registry host.
        registry: String,
        /// The image.
        image: String,
    },
}

impl RegistryError {
    /// True when the user must change the input (credentials, CA, image name, lock).
    pub fn is_invalid_input(&self) -> bool {
        !matches!(
            self,
            RegistryError::Transfer { .. } | RegistryError::Protocol { .. }
        )
    }

    /// True when the registry was busy or out of reach after the retries: another run
    /// later may succeed (exit 75). A missing image or a refusal is not.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            RegistryError::Transfer {
                transient: true,
                ..
            }
        )
    }
}
