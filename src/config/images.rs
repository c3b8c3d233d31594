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

/// `images.verify:` which keys and keyless identities an image's signatures are checked
/// against, and when a signature is required.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Verify {
    /// Public keys (PEM: cosign.pub), relative to the config's directory.
    #[serde(default)]
    pub keys: Vec<Spanned<LinuxPath>>,
    /// Keyless signers: who a Fulcio certificate must name (checked with `trusted_root`).
    #[serde(default)]
    pub identities: Vec<Spanned<IdentityConfig>>,
    /// A Sigstore `trusted_root.json` (Fulcio CAs, transparency and CT log keys, TSAs),
    /// relative to the config's directory.
    #[serde(default)]
    pub trusted_root: Option<Spanned<LinuxPath>>,
    /// `always`, `if-present` or `never` (the default).
    #[serde(default)]
    pub require: Require,
}

/// One entry of `images.verify.identities`: the issuer (or a regular expression over it)
/// and the subject (the certificate's SAN: an email or a URI, or a regular expression),
/// as cosign's `--certificate-oidc-issuer[-regexp]` and `--certificate-identity[-regexp]`.
#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct IdentityConfig {
    /// The OIDC issuer, exactly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// A regular expression found in the issuer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer_regexp: Option<String>,
    /// The subject, exactly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// A regular expression found in the subject.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_regexp: Option<String>,
    /// `true`: the certificate names no issuer (Fulcio's certificates of 2021, which carry
    /// no SCT either), instead of `issuer` or `issuer_regexp`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub no_issuer: bool,
}

impl IdentityConfig {
    /// The identity the entry describes; an error names a regular expression that does not
    /// compile.
    pub fn to_identity(
        &self,
    ) -> Result<crate::trust::keyless::Identity, crate::trust::keyless::KeylessError> {
        use crate::trust::keyless::{Identity, IssuerMatch, Match, Pattern};
        let one = |exact: &Option<String>,
                   re: &Option<String>,
                   field: &'static str|
         -> Result<Match, crate::trust::keyless::KeylessError> {
            match (exact, re) {
                (_, Some(re)) => Ok(Match::Regexp(Pattern::new(field, re)?)),
                (Some(exact), None) => Ok(Match::Exact(exact.clone())),
                (None, None) => Ok(Match::Exact(String::new())),
            }
        };
        Ok(Identity {
            subject: one(&self.subject, &self.subject_regexp, "subject_regexp")?,
            issuer: if self.no_issuer {
                IssuerMatch::Absent
            } else {
                IssuerMatch::Is(one(&self.issuer, &self.issuer_regexp, "issuer_regexp")?)
            },
        })
    }

    /// What is wrong with the entry: one of `issuer`/`issuer_regexp` and one of
    /// `subject`/`subject_regexp`, each non-empty.
    fn problem(&self) -> Option<String> {
        let one = |exact: &Option<String>, re: &Option<String>, name: &str| match (exact, re) {
            (Some(_), Some(_)) => {
                Some(format!("{name} and {name}_regexp are both given; give one"))
            }
            (None, None) => Some(format!("needs {name} or {name}_regexp")),
            (Some(v), None) | (None, Some(v)) if v.trim().is_empty() => {
                Some(format!("{name} is empty"))
            }
            _ => None,
        };
        let issuer = if self.no_issuer {
            (self.issuer.is_some() || self.issuer_regexp.is_some())
                .then(|| "gives no_issuer: true and an issuer; give one".to_string())
        } else {
            one(&self.issuer, &self.issuer_regexp, "issuer")
        };
        issuer.or_else(|| one(&self.subject, &self.subject_regexp, "subject"))
    }
}

/// Checks `images.verify` as written: keys or identities (or both), identities only with a
/// trusted root, each identity whole. The error's place is the line it is about.
pub(super) fn check_verify(v: &Spanned<Verify>) -> Result<(), (Location, String)> {
    let at = |loc: &serde_saphyr::Location| Location {
        line: loc.line(),
        column: loc.column(),
    };
    let verify = &v.value;
    if verify.keys.is_empty() && verify.identities.is_empty() {
        return Err((
            at(&v.referenced),
            "images.verify needs keys:, identities: or both (what its signatures are checked against)".into(),
        ));
    }
    for id in &verify.identities {
        if let Some(problem) = id.value.problem() {
            return Err((
                at(&id.referenced),
                format!("images.verify.identities: an entry {problem}"),
            ));
        }
    }
    if let Some(first) = verify.identities.first()
        && verify.trusted_root.is_none()
    {
        return Err((
            at(&first.referenced),
            "images.verify.identities needs images.verify.trusted_root: a Sigstore trusted_root.json (cosign trusted-root create, or a TUF client's cache) to check keyless signatures offline".into(),
        ));
    }
    if let Some(root) = &verify.trusted_root
        && root.value.as_os_str().is_empty()
    {
        return Err((
            at(&root.referenced),
            "images.verify.trusted_root is empty".into(),
        ));
    }
    Ok(())
}

impl Config {
    /// The signature policy of `images.verify` with its keys read (each as the config
    /// names it); the default policy (nothing checked) without one.
    pub fn signature_policy(
        &self,
    ) -> Result<crate::oci::mirror::policy::SignaturePolicy, ConfigError> {
        use crate::oci::mirror::policy::{
            PolicyIdentity, PolicyKey, PolicyTrustedRoot, RequireSignature, SignaturePolicy,
        };
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
        let invalid = |at: &serde_saphyr::Location, message: String| ConfigError::Invalid {
            path: self.path.clone(),
            line: at.line(),
            column: at.column(),
            message,
        };
        let mut identities = Vec::new();
        for id in &v.identities {
            let identity = id
                .value
                .to_identity()
                .map_err(|e| invalid(&id.referenced, format!("images.verify.identities: {e}")))?;
            identities.push(PolicyIdentity {
                name: identity.to_string(),
                identity,
            });
        }
        let trusted_root = match &v.trusted_root {
            Some(root) => {
                let path = self.dir.join(&*root.value);
                let bytes = crate::input::read_capped(
                    &path,
                    crate::trust::keyless::root::MAX_BYTES as u64,
                    "trusted root",
                )
                .map_err(|e| {
                    invalid(
                        &root.referenced,
                        format!(
                            "images.verify.trusted_root: {}: {}",
                            path.display(),
                            e.reason()
                        ),
                    )
                })?;
                let parsed =
                    crate::trust::keyless::TrustedRoot::from_json(&bytes).map_err(|e| {
                        invalid(
                            &root.referenced,
                            format!("images.verify.trusted_root: {}: {e}", path.display()),
                        )
                    })?;
                Some(std::sync::Arc::new(PolicyTrustedRoot {
                    name: root.value.display().to_string(),
                    bytes,
                    root: parsed,
                }))
            }
            None => None,
        };
        Ok(SignaturePolicy {
            keys: std::sync::Arc::new(keys),
            identities: std::sync::Arc::new(identities),
            trusted_root,
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
