//! Exit codes and the command line's own failures. The library's [`Error`] says what went
//! wrong; which number the process ends with is the command line's business (README "Exit
//! codes" lists them).

use seedforge::Error;
use std::fmt;

/// Process exit codes, documented in one place (README "Exit codes").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ExitCode {
    /// Everything worked.
    Ok = 0,
    /// The work failed (I/O, a corrupt blob, a failed verification).
    Failure = 1,
    /// The command line or an input file is invalid; nothing was written.
    InvalidInput = 2,
    /// A required external tool is missing.
    MissingTool = 3,
}

impl fmt::Display for ExitCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", *self as i32)
    }
}

/// What a command can fail with: the library's error, or a command line that is
/// inconsistent in a way clap cannot see (two options that exclude each other, an
/// environment variable that is not a number ...).
#[derive(Debug, thiserror::Error)]
pub(crate) enum CliError {
    /// The library failed.
    #[error(transparent)]
    Lib(#[from] Error),
    /// The command line is inconsistent; nothing was done.
    #[error("{0}")]
    Usage(String),
}

/// `?` on a library module's own error type, as for the library's [`Error`].
macro_rules! from_lib {
    ($($t:ty),* $(,)?) => {$(
        impl From<$t> for CliError {
            fn from(e: $t) -> CliError {
                CliError::Lib(e.into())
            }
        }
    )*};
}

from_lib!(
    seedforge::config::ConfigError,
    seedforge::image::ImageError,
    seedforge::iso::IsoError,
    seedforge::oci::OciError,
    seedforge::debs::DebsError,
    seedforge::pki::PkiError,
    seedforge::preflight::PreflightError,
    seedforge::render::RenderError,
    seedforge::files::FilesError,
    seedforge::charts::ChartError,
    seedforge::pipeline::seal::SealError,
    seedforge::delta::DeltaError,
    seedforge::pipeline::offline::OfflineError,
    seedforge::pipeline::build_lock::BuildLockError,
    seedforge::input::InputError,
    seedforge::outpath::OutPathError,
    seedforge::vocab::SecretError,
    seedforge::seed::SeedError,
    seedforge::serve::ServeError,
);

impl CliError {
    /// The exit code this failure maps to.
    pub(crate) fn exit_code(&self) -> ExitCode {
        match self {
            CliError::Lib(e) => exit_code(e),
            CliError::Usage(_) => ExitCode::InvalidInput,
        }
    }
}

/// The exit code a library error maps to: 2 for bad input (nothing was written), 3 for a
/// missing tool, 1 for everything else.
pub(crate) fn exit_code(e: &Error) -> ExitCode {
    match e {
        Error::Config(_)
        | Error::Image(_)
        | Error::Preflight(_)
        | Error::Render(_)
        | Error::Offline(_) => ExitCode::InvalidInput,
        Error::Oci(e) if e.is_invalid_input() => ExitCode::InvalidInput,
        Error::Debs(e) if e.is_invalid_input() => ExitCode::InvalidInput,
        Error::Debs(e) if e.is_missing_tool() => ExitCode::MissingTool,
        Error::Debs(_) => ExitCode::Failure,
        Error::Pki(e) if e.is_invalid_input() => ExitCode::InvalidInput,
        Error::Iso(e) if e.is_invalid_input() => ExitCode::InvalidInput,
        Error::Files(e) if e.is_invalid_input() => ExitCode::InvalidInput,
        Error::Charts(e) if e.is_invalid_input() => ExitCode::InvalidInput,
        Error::Seal(e) if e.is_invalid_input() => ExitCode::InvalidInput,
        Error::Delta(e) if e.is_invalid_input() => ExitCode::InvalidInput,
        Error::Input(e) if e.is_invalid_input() => ExitCode::InvalidInput,
        Error::OutPath(e) if e.is_invalid_input() => ExitCode::InvalidInput,
        Error::Serve(e) if e.is_invalid_input() => ExitCode::InvalidInput,
        Error::Input(_) | Error::OutPath(_) | Error::Serve(_) => ExitCode::Failure,
        Error::Files(_) | Error::Seal(_) | Error::Charts(_) | Error::Delta(_) => ExitCode::Failure,
        Error::Oci(_)
        | Error::Pki(_)
        | Error::Iso(_)
        | Error::VerifyFailed(_)
        | Error::BuildLock(_) => ExitCode::Failure,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_usage_error_is_invalid_input_and_a_failed_verification_a_failure() {
        assert_eq!(
            CliError::Usage("--a and --b".into()).exit_code(),
            ExitCode::InvalidInput
        );
        let verify = CliError::from(Error::VerifyFailed("1 blob problem(s)".into()));
        assert_eq!(verify.exit_code(), ExitCode::Failure);
        assert_eq!(ExitCode::MissingTool.to_string(), "3");
    }
}
