//! `images:`: the lists, the platforms, and the signature policy (`images.verify`).

use super::*;

/// `images:`
#[derive(Debug, Clone)]
pub struct Images {
    /// Image list files, resolved against the config's directory, with where they were named.
    pub lists: Vec<(PathBuf, Location)>,
    /// Platforms to keep.
    pub platforms: Vec<Platform>,
    /// Images copied at the same time.
    pub concurrency: usize,
    /// Whether the signatures, attestations, SBOMs and referrers kept beside each registry
    /// image are carried with it (`images.signatures`, default `carry`).
    pub signatures: Signatures,
    /// The signature policy (`images.verify`).
    pub verify: Option<Verify>,
    /// What the images the charts pull do for every chart that does not say
    /// (`images.from_charts`, default `check`).
    pub from_charts: crate::charts::ImagesMode,
}

/// `images.signatures:`
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Signatures {
    /// Look for them and store them with the image (the default).
    #[default]
    Carry,
    /// Copy the images only.
    Drop,
}

/// `images.verify:` which keys an image's signatures are checked against, and when a
/// signature is required.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Verify {
    /// Public keys (PEM: cosign.pub), relative to the config's directory.
    pub keys: Vec<Spanned<LinuxPath>>,
    /// `always`, `if-present` or `never` (the default).
    #[serde(default)]
    pub require: Require,
}

impl Config {
    /// The signature policy of `images.verify` with its keys read (each as the config
    /// names it); the default policy (nothing checked) without one.
    pub fn signature_policy(
        &self,
    ) -> Result<crate::oci::mirror::policy::SignaturePolicy, ConfigError> {
        use crate::oci::mirror::policy::{PolicyKey, RequireSignature, SignaturePolicy};
        let Some(v) = &self.images.verify else {
            return Ok(SignaturePolicy::default());
        };
        let mut keys = Vec::new();
        for k in &v.keys {
            let key =
                crate::trust::keys::PublicKey::read(&self.dir.join(&*k.value)).map_err(|e| {
                    ConfigError::Invalid {
                        path: self.path.clone(),
                        line: k.referenced.line(),
                        column: k.referenced.column(),
                        message: format!("images.verify.keys: {e}"),
                    }
                })?;
            keys.push(PolicyKey {
                name: k.value.display().to_string(),
                key,
            });
        }
        Ok(SignaturePolicy {
            keys: std::sync::Arc::new(keys),
            require: match v.require {
                Require::Always => RequireSignature::Always,
                Require::IfPresent => RequireSignature::IfPresent,
                Require::Never => RequireSignature::Never,
            },
        })
    }
}

/// When an image must carry a signature verified by one of the keys.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Require {
    /// Every image: one without a signature verified by a key is refused.
    Always,
    /// An image with signatures: one of them must verify; an image without any passes.
    IfPresent,
    /// Signatures are carried, not checked.
    #[default]
    Never,
}
