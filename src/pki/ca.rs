//! The certificate authority the nodes trust. Once nodes trust a CA, replacing it breaks
//! every pull until each node gets the new one, so a CA found in the PKI directory is kept
//! as it is (its subject and validity win over the config, with no rewrite), a CA given by
//! `registry.ca.import` is copied in only when the directory has none, and a new one is
//! made only when there is neither, and no record names the CA the nodes trust
//! ([`super::continuity`]); `build --rotate-ca` replaces it on purpose.

use super::continuity::{CaChange, bundle, fingerprint_der, fingerprint_pem, refusal};
use super::inspect::{CertInfo, parse_der, parse_pem};
use super::{DAY, Outcome, PkiError, PkiPaths, PkiSettings, RENEW_BEFORE_DAYS};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, KeyPair, KeyUsagePurpose,
    PublicKeyData,
};
use std::path::Path;

/// A CA ready to sign.
pub(super) struct Ca {
    /// PEM of the CA certificate.
    pub cert_pem: String,
    /// The CA key.
    pub key: KeyPair,
    /// PEM of the key, when it has to be written.
    key_pem: Option<String>,
    /// The parsed certificate.
    pub info: CertInfo,
    /// Kept, imported or created.
    pub outcome: Outcome,
    /// Differences between a kept CA and the config.
    pub warnings: Vec<String>,
    /// The rotation this build makes (`build --rotate-ca`).
    pub change: Option<CaChange>,
    /// The node trust bundle of a rotating build: the new CA, then the old one.
    pub bundle: Option<String>,
}

impl Ca {
    /// The files to write for this CA: none when it was kept; key before certificate.
    pub fn files(&self, paths: &PkiPaths) -> Vec<(std::path::PathBuf, Vec<u8>, bool)> {
        match &self.key_pem {
            Some(key) => vec![
                (paths.ca_key(), key.clone().into_bytes(), true),
                (paths.ca_cert(), self.cert_pem.clone().into_bytes(), false),
            ],
            None => Vec::new(),
        }
    }
}

/// A certificate and its key read from disk and checked to belong together.
pub(super) struct LoadedPair {
    pub cert_pem: String,
    pub key_pem: String,
    pub key: KeyPair,
    pub der: Vec<u8>,
    pub info: CertInfo,
}

/// Reads `cert` and `key`: `None` when neither exists, an error when only one does, when
/// either does not parse, or when the key is not the certificate's.
pub(super) fn load_pair(cert: &Path, key: &Path) -> Result<Option<LoadedPair>, PkiError> {
    match (cert.exists(), key.exists()) {
        (false, false) => return Ok(None),
        (true, false) => {
            return Err(PkiError::Incomplete {
                present: cert.to_path_buf(),
                missing: key.to_path_buf(),
            });
        }
        (false, true) => {
            return Err(PkiError::Incomplete {
                present: key.to_path_buf(),
                missing: cert.to_path_buf(),
            });
        }
        (true, true) => {}
    }
    let cert_pem = read_text(cert)?;
    let key_pem = read_text(key)?;
    let count = cert_pem.matches("-----BEGIN CERTIFICATE-----").count();
    if count > 1 {
        return Err(PkiError::BadPem {
            path: cert.to_path_buf(),
            message: format!(
                "holds {count} certificates; the CA file must hold exactly one (it is installed on every node as the registry's only trust anchor)"
            ),
        });
    }
    let (der, info) = parse_pem(cert_pem.as_bytes(), cert)?;
    let key_pair = parse_key(&key_pem, key).map_err(|e| describe_key_error(e, &key_pem, &info))?;
    if key_pair.subject_public_key_info() != info.spki_der {
        return Err(PkiError::KeyMismatch {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
        });
    }
    Ok(Some(LoadedPair {
        cert_pem,
        key_pem,
        key: key_pair,
        der,
        info,
    }))
}

/// Names what the key really is when it cannot be used: an encrypted key, a PKCS#1 or SEC1
/// file, or a key type and size the signer does not take (RSA below 2048 bits).
fn describe_key_error(e: PkiError, key_pem: &str, info: &CertInfo) -> PkiError {
    let PkiError::BadPem { path, .. } = &e else {
        return e;
    };
    let label = key_pem
        .lines()
        .find_map(|l| l.strip_prefix("-----BEGIN ")?.strip_suffix("-----"))
        .unwrap_or("");
    let kind = super::inspect::describe_key(&info.spki_der);
    let message = match (label, kind) {
        ("ENCRYPTED PRIVATE KEY", _) => {
            "an encrypted private key, not an unencrypted PKCS#8 one; decrypt it with `openssl pkcs8 -topk8 -nocrypt`".to_string()
        }
        ("RSA PRIVATE KEY" | "EC PRIVATE KEY", _) => {
            format!("a {label} (not PKCS#8); convert it with `openssl pkcs8 -topk8 -nocrypt`")
        }
        (_, Some(kind))
            if kind.starts_with("RSA ")
                && kind != "RSA 2048-bit"
                && kind != "RSA 3072-bit"
                && kind != "RSA 4096-bit" =>
        {
            format!(
                "the certificate's key is {kind}; seedforge signs with RSA of 2048, 3072 or 4096 bits, ECDSA P-256 or P-384, or Ed25519"
            )
        }
        (_, Some(kind))
            if !kind.starts_with("RSA ")
                && !matches!(kind.as_str(), "ECDSA P-256" | "ECDSA P-384" | "Ed25519") =>
        {
            format!(
                "the certificate's key is {kind}; seedforge signs with RSA of 2048, 3072 or 4096 bits, ECDSA P-256 or P-384, or Ed25519"
            )
        }
        _ => return e,
    };
    PkiError::BadPem {
        path: path.clone(),
        message,
    }
}

fn read_text(path: &Path) -> Result<String, PkiError> {
    let bytes = crate::input::read(path, crate::input::Kind::Text)
        .map_err(|e| PkiError::io(path, e.into_io()))?;
    String::from_utf8(bytes).map_err(|_| PkiError::BadPem {
        path: path.to_path_buf(),
        message: "not a PEM text file".into(),
    })
}

/// Parses an unencrypted PKCS#8 PEM private key.
pub(super) fn parse_key(pem: &str, path: &Path) -> Result<KeyPair, PkiError> {
    KeyPair::from_pem(pem).map_err(|e| PkiError::BadPem {
        path: path.to_path_buf(),
        message: format!(
            "not an unencrypted PKCS#8 private key ({e}); convert one with `openssl pkcs8 -topk8 -nocrypt`"
        ),
    })
}

/// The CA to sign with: kept from the PKI directory, imported, or created; with
/// `continuity.rotate`, a new one (created, or the import) replacing the one the nodes
/// trust. Without it, a CA other than a recorded one (see [`super::continuity`]) is
/// refused.
pub(super) fn resolve(settings: &PkiSettings, paths: &PkiPaths, now: i64) -> Result<Ca, PkiError> {
    let existing = load_pair(&paths.ca_cert(), &paths.ca_key())?;
    let import = match &settings.ca_import {
        Some((cert, key)) => Some((
            cert.clone(),
            load_pair(cert, key)?.ok_or_else(|| PkiError::ImportMissing {
                cert: cert.clone(),
                key: key.clone(),
            })?,
        )),
        None => None,
    };
    if settings.continuity.rotate {
        return rotate(settings, existing, import, now);
    }
    let (pair, outcome, path) = match (existing, import) {
        (Some(e), Some((import_path, i))) if e.der != i.der => {
            let _ = i;
            return Err(PkiError::ImportConflict {
                existing: paths.ca_cert(),
                import: import_path,
            });
        }
        (Some(e), _) => (e, Outcome::Kept, paths.ca_cert()),
        (None, Some((import_path, i))) => (i, Outcome::Imported, import_path),
        (None, None) => {
            // A new CA where a record names the one the nodes trust is refused.
            if let Some(record) = settings.continuity.recorded.first() {
                return Err(refusal(record, &paths.dir(), "make a new CA"));
            }
            return create(settings, now);
        }
    };
    // An import that is no usable CA is named as such first.
    check_usable(&pair.info, &path, now)?;
    if outcome == Outcome::Imported
        && let Some(record) =
            (settings.continuity.recorded.iter()).find(|r| !r.matches(pair.cert_pem.as_bytes()))
    {
        let what = format!(
            "import another CA, {} ({})",
            path.display(),
            fingerprint_der(&pair.der)
        );
        return Err(refusal(record, &paths.dir(), &what));
    }
    usable(settings, pair, outcome, &path, now)
}

/// A kept or imported CA, checked.
fn usable(
    settings: &PkiSettings,
    pair: LoadedPair,
    outcome: Outcome,
    path: &Path,
    now: i64,
) -> Result<Ca, PkiError> {
    check_usable(&pair.info, path, now)?;
    let mut warnings = Vec::new();
    if outcome == Outcome::Kept
        && pair.info.common_name.as_deref() != Some(&settings.ca_common_name)
    {
        warnings.push(format!(
            "{}: the kept CA's common name is {:?}, not {:?} as configured; the existing CA stays (nodes trust it)",
            path.display(),
            pair.info.common_name.as_deref().unwrap_or(""),
            settings.ca_common_name
        ));
    }
    let key_pem = (outcome == Outcome::Imported).then(|| pair.key_pem.clone());
    Ok(Ca {
        cert_pem: pair.cert_pem,
        key: pair.key,
        key_pem,
        info: pair.info,
        outcome,
        warnings,
        change: None,
        bundle: None,
    })
}

/// `build --rotate-ca`: the import (when it is another CA than the one in use) or a new
/// CA replaces the CA the nodes trust (the PKI directory's, else the recorded one), which
/// the node trust bundle keeps beside it when its certificate is known.
fn rotate(
    settings: &PkiSettings,
    existing: Option<LoadedPair>,
    import: Option<(std::path::PathBuf, LoadedPair)>,
    now: i64,
) -> Result<Ca, PkiError> {
    let (old_pem, old) = match &existing {
        Some(e) => (Some(e.cert_pem.clone()), Some(fingerprint_der(&e.der))),
        None => {
            let recorded = &settings.continuity.recorded;
            match recorded.iter().find_map(|r| r.certificate.clone()) {
                Some(pem) => {
                    let fp = fingerprint_pem(pem.as_bytes());
                    (Some(pem), fp)
                }
                None => (None, recorded.iter().find_map(|r| r.fingerprint.clone())),
            }
        }
    };
    let mut ca = match import {
        Some((path, i)) => usable(settings, i, Outcome::Imported, &path, now)?,
        None => create(settings, now)?,
    };
    let new = fingerprint_pem(ca.cert_pem.as_bytes()).unwrap_or_default();
    match old {
        Some(old) if old != new => {
            match &old_pem {
                Some(pem) => ca.bundle = Some(bundle(&ca.cert_pem, pem)),
                None => ca.warnings.push(format!(
                    "--rotate-ca: the certificate of the CA the nodes trust ({old}) is not here (no pki/ca.crt, and no record holds it): the nodes get the new CA alone, so none pulls until it has taken the new seed"
                )),
            }
            ca.change = Some(CaChange { old, new });
        }
        Some(_) => ca
            .warnings
            .push("--rotate-ca: registry.ca.import names the CA in use; nothing is rotated".into()),
        None => ca
            .warnings
            .push("--rotate-ca: no CA was in use or recorded; the new CA is the first".into()),
    }
    Ok(ca)
}

/// A CA from disk must be a CA, valid now and for a while yet.
fn check_usable(info: &CertInfo, path: &Path, now: i64) -> Result<(), PkiError> {
    if !matches!(info.basic_constraints, Some((true, _))) {
        return Err(PkiError::NotCa {
            path: path.to_path_buf(),
        });
    }
    if !info.key_usage.is_empty() && !info.key_usage.iter().any(|u| u == "keyCertSign") {
        return Err(PkiError::BadPem {
            path: path.to_path_buf(),
            message: format!(
                "the CA's keyUsage ({}) lacks keyCertSign, so it cannot sign the registry certificate (TLS clients would refuse the chain)",
                info.key_usage.join(", ")
            ),
        });
    }
    if info.not_before > now {
        return Err(PkiError::Validity {
            what: path.display().to_string(),
            message: format!(
                "the CA is not valid yet: its validity starts {}; check the clock of the machine that made it",
                date(info.not_before)
            ),
        });
    }
    if !info.valid_at(now) || info.not_after - now < i64::from(RENEW_BEFORE_DAYS) * DAY {
        return Err(PkiError::Validity {
            what: path.display().to_string(),
            message: format!(
                "the CA is valid from {} to {}, which does not leave {RENEW_BEFORE_DAYS} days from now; \
                 nodes trust it, so it is not replaced automatically: replace it on purpose with `seedforge build --rotate-ca`",
                date(info.not_before),
                date(info.not_after)
            ),
        });
    }
    Ok(())
}

/// Start and end of validity for a certificate issued at `now` valid for `days`. The
/// start is the build's source date when set, so certificates do not carry the wall clock
/// of the machine that made them; without one (or with one in the future) it is an hour
/// before now, so a node whose clock runs a little behind still accepts the certificate.
pub(super) fn validity(settings: &PkiSettings, days: u32, now: i64) -> (i64, i64) {
    let latest = now - 3600;
    let start = settings
        .source_date
        .and_then(|s| i64::try_from(s).ok())
        .map_or(latest, |s| s.min(latest));
    (start, start + i64::from(days) * DAY)
}

/// Refuses validity periods that end before the renewal margin from `now`.
pub(super) fn check_validity(
    what: &str,
    key: &str,
    range: (i64, i64),
    now: i64,
) -> Result<(), PkiError> {
    if range.1 - now < i64::from(RENEW_BEFORE_DAYS) * DAY {
        return Err(PkiError::Validity {
            what: what.to_string(),
            message: format!(
                "starting at the source date {} it would end {}, less than {RENEW_BEFORE_DAYS} days from now; raise {key}",
                date(range.0),
                date(range.1)
            ),
        });
    }
    Ok(())
}

fn create(settings: &PkiSettings, now: i64) -> Result<Ca, PkiError> {
    let range = validity(settings, settings.ca_validity_days, now);
    check_validity("the new CA", "registry.ca.validity_days", range, now)?;
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, settings.ca_common_name.as_str());
    if let Some(o) = &settings.ca_organization {
        dn.push(DnType::OrganizationName, o.as_str());
    }
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.not_before = timestamp(range.0)?;
    params.not_after = timestamp(range.1)?;
    params.serial_number = Some(random_serial()?);
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .map_err(|e| PkiError::generate("the CA key", e))?;
    let cert = params
        .self_signed(&key)
        .map_err(|e| PkiError::generate("the CA certificate", e))?;
    let info = parse_der(cert.der()).map_err(|e| PkiError::generate("the CA certificate", e))?;
    Ok(Ca {
        cert_pem: cert.pem(),
        key_pem: Some(key.serialize_pem()),
        key,
        info,
        outcome: Outcome::Created,
        warnings: Vec::new(),
        change: None,
        bundle: None,
    })
}

pub(super) fn timestamp(secs: i64) -> Result<time::OffsetDateTime, PkiError> {
    time::OffsetDateTime::from_unix_timestamp(secs)
        .map_err(|e| PkiError::generate("a validity date", e))
}

/// A random positive 128-bit serial number.
pub(super) fn random_serial() -> Result<rcgen::SerialNumber, PkiError> {
    use ring::rand::SecureRandom as _;
    let mut bytes = [0u8; 16];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| PkiError::generate("a serial number", "the system random source failed"))?;
    // Positive and exactly 16 bytes long once DER-encoded.
    bytes[0] = (bytes[0] & 0x7f) | 0x40;
    Ok(rcgen::SerialNumber::from_slice(&bytes))
}

/// `YYYY-MM-DD` of a timestamp, for messages.
pub(super) fn date(secs: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(secs).map_or_else(
        |_| secs.to_string(),
        |t| format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day()),
    )
}
