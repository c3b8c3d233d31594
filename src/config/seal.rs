//! `seal:` the key that signs the output, and the public key that checks the signatures
//! where the private key is not (the far side of the gap: the private key stays home).

use super::{Config, ConfigError, LinuxPath};
use serde::Deserialize;
use serde_saphyr::Spanned;
use std::path::{Path, PathBuf};

/// `seal:` the key that signs `manifest.json` (and the provenance).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SealConfig {
    /// A private key: cosign's encrypted `cosign.key` (its password from `COSIGN_PASSWORD`
    /// or `password_file`) or a PKCS#8 PEM (ECDSA P-256 or Ed25519). Relative to the
    /// config's directory. Where it is absent and `public_key` is given, the build keeps
    /// the signatures the output holds (checked with the public key) and signs nothing.
    /// None: the key is given with `build --signing-key` (a pipeline's secret store).
    #[serde(default)]
    pub key: Option<Spanned<LinuxPath>>,
    /// A file holding the key's password (its first line), when `COSIGN_PASSWORD` is not
    /// set.
    #[serde(default)]
    pub password_file: Option<Spanned<LinuxPath>>,
    /// The public key of `key` (PEM: cosign.pub): what the far side holds instead of the
    /// private key. Where both are there they must be a pair.
    #[serde(default)]
    pub public_key: Option<Spanned<LinuxPath>>,
    /// An unsigned output is an error: `plan` and `build` refuse (exit 2, nothing written)
    /// where nothing signs it, neither a private key (`build --signing-key`, `seal.key`)
    /// nor, where only the public key is, the signatures the output holds.
    #[serde(default)]
    pub require_signature: Option<Spanned<bool>>,
}

impl SealConfig {
    /// Whether `seal.require_signature: true`, with its line and column.
    pub fn required(&self) -> Option<(u64, u64)> {
        (self.require_signature.as_ref())
            .filter(|r| r.value)
            .map(|r| (r.referenced.line(), r.referenced.column()))
    }
}

/// How a build signs its seal.
#[derive(Debug)]
pub enum SealSigner {
    /// With the private key (its file).
    Key(PathBuf, Box<crate::trust::keys::SigningKey>),
    /// With the public key only: the signatures the output holds are kept when they sign
    /// what the build wrote, and none is made. `name` says where the key came from.
    Check {
        /// Where the key came from, for messages.
        name: String,
        /// The key.
        key: crate::trust::keys::PublicKey,
    },
}

impl Config {
    /// How the seal is signed: with `given` (`--signing-key`) or `seal.key` when it is
    /// there; else, with the public key only, `trusted` (`apply --key`), or `recorded`,
    /// the key the output records it was signed with (`OUT/keys/seal.pub`, with where it
    /// is: the signer of what the output holds, through a key change too, with or
    /// without a `seal:` section), or `seal.public_key` (an output not signed yet).
    /// `None` when neither the config nor the output asks for a signature.
    pub fn seal_signer(
        &self,
        given: Option<&Path>,
        trusted: Option<&Path>,
        recorded: Option<(String, crate::trust::keys::PublicKey)>,
        secrets: &crate::redact::Secrets,
    ) -> Result<Option<SealSigner>, ConfigError> {
        if given.is_some() {
            return Ok(self
                .signing_key(given, secrets)?
                .map(|(p, k)| SealSigner::Key(p, Box::new(k))));
        }
        // Where the config names no key (a pipeline signs with `--signing-key` from its
        // secret store), the output still records the key it was signed with: a signed
        // output stays signed, its signatures kept (or the build refused) by that key.
        let Some(seal) = &self.seal else {
            // An output that records no key is an unsigned one, `--key` or not.
            return Ok(match (recorded, trusted) {
                (Some(_), Some(t)) => Some(Self::trusted_key(t)?),
                (Some((name, key)), None) => Some(SealSigner::Check { name, key }),
                (None, _) => None,
            });
        };
        let at = |s: &Spanned<LinuxPath>, message: String| ConfigError::Invalid {
            path: self.path.clone(),
            line: s.referenced.line(),
            column: s.referenced.column(),
            message,
        };
        let public = match &seal.public_key {
            Some(p) => {
                let path = self.dir.join(&*p.value);
                let key = crate::trust::keys::PublicKey::read(&path)
                    .map_err(|e| at(p, format!("seal.public_key: {e}")))?;
                Some((p, path, key))
            }
            None => None,
        };
        let private = (seal.key.as_ref()).map(|k| (k, self.dir.join(&*k.value)));
        if let Some((_, path)) = &private
            && std::fs::symlink_metadata(path).is_ok()
        {
            let Some((path, key)) = self.signing_key(None, secrets)? else {
                return Ok(None);
            };
            if let Some((p, _, public)) = &public
                && public.spki_der() != key.public_key().spki_der()
            {
                return Err(at(
                    p,
                    format!(
                        "seal.public_key: not the public key of seal.key (key ids {} and {})",
                        public.hint(),
                        key.public_key().hint()
                    ),
                ));
            }
            return Ok(Some(SealSigner::Key(path, Box::new(key))));
        }
        if let Some(t) = trusted {
            return Ok(Some(Self::trusted_key(t)?));
        }
        if let Some((name, key)) = recorded {
            return Ok(Some(SealSigner::Check { name, key }));
        }
        if let Some((p, _, key)) = public {
            let name = format!("seal.public_key {}", p.value.display());
            return Ok(Some(SealSigner::Check { name, key }));
        }
        // `seal:` without a key (`require_signature` alone): the key comes with
        // `--signing-key`, and whether one must is the plan's to say.
        let Some((k, private)) = private else {
            return Ok(None);
        };
        Err(at(
            k,
            format!(
                "seal.key: {}: no such file; where the private key is not (the far side of the gap), name its public key in seal.public_key, and the build keeps the signatures it finds",
                private.display()
            ),
        ))
    }

    /// Where `seal.key` names a private key that is not there: the key's setting (line,
    /// column) and its path. `None` when it names none, or the file is there.
    pub fn missing_seal_key(&self) -> Option<((u64, u64), PathBuf)> {
        let key = self.seal.as_ref()?.key.as_ref()?;
        let path = self.dir.join(&*key.value);
        if std::fs::symlink_metadata(&path).is_ok() {
            return None;
        }
        Some(((key.referenced.line(), key.referenced.column()), path))
    }

    /// `apply --key FILE`: the public key the far side trusts, which checks the
    /// signatures the output holds.
    fn trusted_key(t: &Path) -> Result<SealSigner, ConfigError> {
        let key = crate::trust::keys::PublicKey::read(t).map_err(|e| ConfigError::Secret {
            path: t.to_path_buf(),
            what: "--key".into(),
            message: e.to_string(),
        })?;
        let name = format!("--key {}", t.display());
        Ok(SealSigner::Check { name, key })
    }

    /// The key the seal signs with: `given` (`--signing-key`) or `seal.key`, opened with
    /// its password from `COSIGN_PASSWORD` or `seal.password_file` (registered in
    /// `secrets` before it is used). `None` when neither names a key.
    pub fn signing_key(
        &self,
        given: Option<&Path>,
        secrets: &crate::redact::Secrets,
    ) -> Result<Option<(PathBuf, crate::trust::keys::SigningKey)>, ConfigError> {
        let (path, at) = match (given, &self.seal) {
            (Some(p), _) => (p.to_path_buf(), None),
            (None, Some(SealConfig { key: Some(key), .. })) => (
                self.dir.join(&*key.value),
                Some((key.referenced.line(), key.referenced.column())),
            ),
            (None, _) => return Ok(None),
        };
        let invalid = |at: Option<(u64, u64)>, message: String| match at {
            Some((line, column)) => ConfigError::Invalid {
                path: self.path.clone(),
                line,
                column,
                message,
            },
            None => ConfigError::Secret {
                path: path.clone(),
                what: "--signing-key".into(),
                message,
            },
        };
        let mut password = std::env::var("COSIGN_PASSWORD").ok();
        if password.is_none()
            && let Some(file) = self.seal.as_ref().and_then(|s| s.password_file.as_ref())
        {
            let file_path = self.dir.join(&*file.value);
            let text = crate::input::read_to_string(&file_path, crate::input::Kind::Secret)
                .map_err(|e| {
                    invalid(
                        Some((file.referenced.line(), file.referenced.column())),
                        format!("seal.password_file: {e}"),
                    )
                })?;
            password = Some(text.lines().next().unwrap_or_default().to_string());
        }
        if let Some(p) = &password
            && !p.is_empty()
        {
            secrets.register(p);
        }
        let key =
            crate::trust::keys::SigningKey::read(&path, password.as_deref().map(str::as_bytes))
                .map_err(|e| {
                    invalid(
                        at,
                        format!("{}{e}", if at.is_some() { "seal.key: " } else { "" }),
                    )
                })?;
        Ok(Some((path, key)))
    }
}
