//! Who signs the seal, settled first of all (before the network, before anything is
//! written): a build that could only end unsigned, or end refusing to seal, is refused
//! here, exit 2, the output as it was. The private key signs; where only a public key is
//! (the far side of the gap), the build keeps the signatures the output holds, so an output
//! that holds none could not be sealed. `seal.require_signature: true` (or
//! `build --require-signature`) makes an unsigned result an error too.

use super::PlanOptions;
use crate::config::{Config, ConfigError, SealSigner};
use crate::pipeline::seal::{MANIFEST_BUNDLE, recorded_key};
use std::path::Path;

/// How the seal of a build of `config` into `output` is signed, or why the build is
/// refused.
pub(super) fn signer(
    config: &Config,
    output: &Path,
    options: &PlanOptions,
) -> Result<Option<SealSigner>, ConfigError> {
    let signer = config.seal_signer(
        options.signing_key.as_deref(),
        options.trusted_key.as_deref(),
        recorded_key(output),
        &options.secrets,
    )?;
    // The setting that requires a signature, as said, with its line in the config.
    let from_config = config.seal.as_ref().and_then(|s| s.required());
    let required = if options.require_signature {
        Some(("--require-signature", None))
    } else {
        from_config.map(|at| ("seal.require_signature", Some(at)))
    };
    let bundle = output.join(MANIFEST_BUNDLE);
    let (what, at) = match &signer {
        Some(SealSigner::Key(..)) => return Ok(signer),
        Some(SealSigner::Check { .. }) if std::fs::symlink_metadata(&bundle).is_ok() => {
            return Ok(signer);
        }
        Some(SealSigner::Check { name, key }) => {
            let (missing, at) = match config.missing_seal_key() {
                Some((at, path)) => (
                    format!("seal.key: {}: no such file", path.display()),
                    Some(at),
                ),
                None => (
                    "no private key (neither seal.key nor build --signing-key names one)".into(),
                    None,
                ),
            };
            (
                format!(
                    "{missing}, and {} is not there: with the public key only ({name}, key id {}) a build signs nothing and keeps the signatures the output holds, and this output holds none, so it could not be sealed; give the private key (seal.key, or build --signing-key FILE)",
                    bundle.display(),
                    key.hint()
                ),
                at,
            )
        }
        None => match required {
            Some(_) => (
                format!(
                    "no private key to sign {} with: build --signing-key FILE was not given and seal.key names none, and the output records no signature to keep ({} is not there)",
                    output.display(),
                    bundle.display()
                ),
                None,
            ),
            None => return Ok(None),
        },
    };
    let message = match required {
        Some((setting, _)) => {
            format!("{setting}: the output must be signed, and {what}; nothing was written")
        }
        None => format!("{what}; nothing was written"),
    };
    Err(match at.or(required.and_then(|(_, at)| at)) {
        Some((line, column)) => ConfigError::Invalid {
            path: config.path.clone(),
            line,
            column,
            message,
        },
        None => ConfigError::Unsigned {
            path: config.path.clone(),
            message,
        },
    })
}
