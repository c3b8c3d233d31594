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
    /// Busy or out of reach: another build holds the output folder, or a server could
    /// not be reached or kept failing after the retries; run again later (EX_TEMPFAIL,
    /// sysexits.h).
    TryAgain = 75,
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

/// The exit code a library error maps to: 75 for busy or out of reach (try again), 2 for
/// bad input (nothing was written), 3 for a missing tool, 1 for everything else.
pub(crate) fn exit_code(e: &Error) -> ExitCode {
    if e.try_again().is_some() {
        return ExitCode::TryAgain;
    }
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

    #[test]
    fn busy_or_unreachable_is_75_and_a_missing_image_or_a_refusal_is_not() {
        use seedforge::delta::DeltaError;
        use seedforge::net::NetError;
        use seedforge::oci::OciError;
        use seedforge::oci::registry::RegistryError;
        use seedforge::pipeline::build_lock::BuildLockError;
        let transfer = |transient| RegistryError::Transfer {
            registry: "127.0.0.1:9".into(),
            image: "lib/app:1.0".into(),
            message: "connection refused (tried 2 times)".into(),
            transient,
        };
        let busy = || BuildLockError::Busy {
            dir: "out".into(),
            pid: Some(7),
            reading: false,
        };
        let net = |transient| NetError::Transfer {
            url: "http://127.0.0.1:9/x".into(),
            message: "HTTP status 503".into(),
            transient,
        };
        let read_off = |e: RegistryError| OciError::Read {
            context: "lib/app:1.0".into(),
            source: std::io::Error::other(e),
        };
        let code = |e: Error| CliError::from(e).exit_code();
        let cases: Vec<(Error, ExitCode)> = vec![
            (
                OciError::Registry(transfer(true)).into(),
                ExitCode::TryAgain,
            ),
            (
                OciError::Registry(transfer(false)).into(),
                ExitCode::Failure,
            ),
            (read_off(transfer(true)).into(), ExitCode::TryAgain),
            (read_off(transfer(false)).into(), ExitCode::Failure),
            (
                OciError::AtEntry {
                    at: "images.txt:1".into(),
                    error: Box::new(OciError::Registry(transfer(true))),
                }
                .into(),
                ExitCode::TryAgain,
            ),
            (
                OciError::Registry(RegistryError::NotFound {
                    registry: "r".into(),
                    image: "i".into(),
                    what: "image lib/app:1.0".into(),
                })
                .into(),
                ExitCode::InvalidInput,
            ),
            (
                OciError::Registry(RegistryError::Unauthorized {
                    registry: "r".into(),
                    image: "i".into(),
                    status: 401,
                    who: String::new(),
                })
                .into(),
                ExitCode::InvalidInput,
            ),
            (busy().into(), ExitCode::TryAgain),
            (
                BuildLockError::Io {
                    path: "out/.seedforge-build.lock".into(),
                    source: std::io::Error::other("denied"),
                }
                .into(),
                ExitCode::Failure,
            ),
            (DeltaError::Lock(busy()).into(), ExitCode::TryAgain),
            (
                seedforge::debs::DebsError::Net(net(true)).into(),
                ExitCode::TryAgain,
            ),
            (
                seedforge::debs::DebsError::Net(net(false)).into(),
                ExitCode::Failure,
            ),
            (
                seedforge::files::FilesError::Download {
                    name: "bin/k3s".into(),
                    url: "http://127.0.0.1:9/k3s".into(),
                    message: "connection refused".into(),
                    transient: true,
                }
                .into(),
                ExitCode::TryAgain,
            ),
            (
                seedforge::charts::ChartError::Unreachable {
                    chart: "traefik".into(),
                    message: "connection refused".into(),
                }
                .into(),
                ExitCode::TryAgain,
            ),
            (
                Error::VerifyFailed("1 blob problem(s)".into()),
                ExitCode::Failure,
            ),
        ];
        for (e, want) in cases {
            let text = e.to_string();
            assert_eq!(code(e), want, "{text}");
        }
        assert_eq!(ExitCode::TryAgain.to_string(), "75");
        let secrets = seedforge::redact::Secrets::new();
        for (e, kind) in [
            (CliError::from(busy()), "busy"),
            (OciError::Registry(transfer(true)).into(), "unreachable"),
        ] {
            let doc = super::super::error_json(&secrets, &e);
            assert_eq!(doc["error"]["code"], 75, "{doc}");
            assert_eq!(doc["error"]["kind"], kind, "{doc}");
        }
    }
}
