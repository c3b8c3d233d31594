//! seedforge turns one config file into everything an air-gapped k3s cluster needs on its
//! first boot: the cluster's container images mirrored into one OCI image layout, and (as
//! the pipeline grows) registry PKI, airgap tarballs, offline package bundles and NoCloud
//! seed ISOs.
//!
//! The library never prints. Long work reports progress through [`Reporter`]; the binary's
//! `cli` module is the only code that knows about terminals.
//!
//! Modules follow the pipeline in the design: [`config`] reads `seedforge.yaml`, [`pipeline`]
//! turns it into ordered steps and runs them, [`image`] parses references and image lists, and [`oci`]
//! owns the OCI image layout store and the image sources that fill it. [`pki`] issues the
//! registry's CA and certificate and the registry configs for k3s, containerd and the
//! registry itself. [`iso`] writes and reads the NoCloud seed ISOs (ISO 9660 with Joliet
//! and Rock Ridge). ARCHITECTURE.md gives the layers and what may import what.
#![cfg_attr(test, allow(clippy::disallowed_methods))]

pub mod charts;
pub mod config;
pub mod debs;
pub mod delta;
pub mod files;
pub mod gotmpl;
pub mod hashing;
pub mod image;
pub mod input;
pub mod iso;
pub mod leftovers;
pub mod modes;
pub mod net;
pub mod oci;
pub mod outpath;
pub mod par2;
pub mod pipeline;
pub mod pki;
pub mod preflight;
pub mod redact;
pub mod render;
pub mod report;
pub mod sbom;
pub mod seed;
pub mod serve;
pub mod shell;
pub mod suggest;
pub mod trust;
pub mod util;
pub mod version;
pub mod vocab;
pub mod winpath;

pub use report::{NoopReporter, Reporter};
pub use version::{COMMIT, VERSION};

/// Every failure the library can report, grouped by the module it came from.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The config file is missing, malformed or names something invalid.
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    /// An image reference, source or image list is invalid.
    #[error(transparent)]
    Image(#[from] image::ImageError),
    /// Writing or reading an ISO 9660 image failed.
    #[error(transparent)]
    Iso(#[from] iso::IsoError),
    /// The OCI layout store or an image source failed.
    #[error(transparent)]
    Oci(#[from] oci::OciError),
    /// An offline package bundle could not be resolved or written.
    #[error(transparent)]
    Debs(#[from] debs::DebsError),
    /// The registry PKI (CA, certificate, registry configs) failed or its inputs are bad.
    #[error(transparent)]
    Pki(#[from] pki::PkiError),
    /// A preflight check found a cluster-breaking problem in the inputs.
    #[error(transparent)]
    Preflight(#[from] preflight::PreflightError),
    /// A template or a rendered node file is invalid.
    #[error(transparent)]
    Render(#[from] render::RenderError),
    /// A `files:` payload file is missing, wrong or could not be fetched.
    #[error(transparent)]
    Files(#[from] files::FilesError),
    /// A chart could not be fetched, does not match its digest, or its values or a
    /// manifest are invalid.
    #[error(transparent)]
    Charts(#[from] charts::ChartError),
    /// Sealing, checking, cleaning or exporting a build output failed.
    #[error(transparent)]
    Seal(#[from] pipeline::seal::SealError),
    /// A receipt or a delta (upgrades across the gap) could not be written.
    #[error(transparent)]
    Delta(Box<delta::DeltaError>),
    /// `verify` found problems; the report has been delivered to the caller already.
    #[error("{0}")]
    VerifyFailed(String),
    /// `--offline`, and the lock or the output folder lacks something.
    #[error(transparent)]
    Offline(#[from] pipeline::offline::OfflineError),
    /// Another build holds the output folder (`--no-wait`), or its lock failed.
    #[error(transparent)]
    BuildLock(#[from] pipeline::build_lock::BuildLockError),
    /// An input file is not a regular file, or too large for its kind.
    #[error(transparent)]
    Input(#[from] input::InputError),
    /// An output path would overwrite an input, a user's file, or write through a link.
    #[error(transparent)]
    OutPath(#[from] outpath::OutPathError),
    /// `serve` cannot start: the output, its certificate or key, or the address.
    #[error(transparent)]
    Serve(#[from] serve::ServeError),
}

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a failed run may succeed when tried again ([`Error::try_again`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryAgain {
    /// Another seedforge build holds the output folder.
    Busy,
    /// A server could not be reached, or kept answering 429 or 5xx, after the retries.
    Unreachable,
}

impl TryAgain {
    /// Its name in the JSON error document's `kind`: `busy` or `unreachable`.
    pub fn kind(self) -> &'static str {
        match self {
            TryAgain::Busy => "busy",
            TryAgain::Unreachable => "unreachable",
        }
    }
}

impl Error {
    /// A short name for what failed (`config`, `image`, `oci` …): the module the error
    /// came from, for the command line's JSON error document.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Config(_) => "config",
            Error::Image(_) => "image",
            Error::Iso(_) => "iso",
            Error::Oci(_) => "oci",
            Error::Debs(_) => "debs",
            Error::Pki(_) => "pki",
            Error::Preflight(_) => "preflight",
            Error::Render(_) => "render",
            Error::Files(_) => "files",
            Error::Charts(_) => "charts",
            Error::Seal(_) => "seal",
            Error::Delta(_) => "delta",
            Error::VerifyFailed(_) => "verify",
            Error::Offline(_) => "offline",
            Error::BuildLock(_) => "build_lock",
            Error::Input(_) => "input",
            Error::OutPath(_) => "output_path",
            Error::Serve(_) => "serve",
        }
    }

    /// Whether another run later may succeed, and why: another build holds the output
    /// folder, or a server (registry, repository, `files:` URL, chart) was out of reach or
    /// kept failing after the retries. `None` for a failure another run would meet again.
    pub fn try_again(&self) -> Option<TryAgain> {
        let unreachable = match self {
            Error::BuildLock(e) if e.is_transient() => return Some(TryAgain::Busy),
            Error::Delta(e) if e.is_transient() => return Some(TryAgain::Busy),
            Error::Oci(e) => e.is_transient(),
            Error::Debs(e) => e.is_transient(),
            Error::Files(e) => e.is_transient(),
            Error::Charts(e) => e.is_transient(),
            _ => false,
        };
        unreachable.then_some(TryAgain::Unreachable)
    }

    /// The input file, line and column the error is at, when it has a place: a config
    /// error has all three, an image list's its file and line. Taken from the error's
    /// fields, never from its message.
    pub fn place(&self) -> Option<input::Place> {
        match self {
            Error::Config(e) => e.place(),
            Error::Image(e) => e.place(),
            Error::Files(e) => e.place(),
            Error::Debs(e) => e.place(),
            Error::Render(render::RenderError::Secret(e)) => Some(input::Place::file(&e.path)),
            _ => None,
        }
    }
}

impl From<vocab::SecretError> for Error {
    fn from(e: vocab::SecretError) -> Error {
        Error::Config(e.into())
    }
}

impl From<delta::DeltaError> for Error {
    fn from(e: delta::DeltaError) -> Error {
        Error::Delta(Box::new(e))
    }
}

impl From<seed::SeedError> for Error {
    fn from(e: seed::SeedError) -> Error {
        match e {
            seed::SeedError::Io(e) => Error::Oci(e),
            seed::SeedError::Iso(e) => Error::Iso(e),
        }
    }
}

impl From<pipeline::offline::CheckError> for Error {
    fn from(e: pipeline::offline::CheckError) -> Error {
        use pipeline::offline::CheckError;
        match e {
            CheckError::Lock(e) => Error::Oci(e),
            CheckError::Inputs(e) => Error::Debs(e),
            CheckError::Missing(e) => Error::Offline(e),
        }
    }
}
