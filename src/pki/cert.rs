//! The registry's own certificate: issued by the CA for the registry's host (as CN and as
//! a SAN of the right kind), 127.0.0.1, localhost and the configured extras, for
//! serverAuth. It is derived state: reissued whenever the one on disk no longer matches
//! what the config asks for, and kept byte for byte otherwise.

use super::ca::{self, Ca, load_pair, random_serial, timestamp};
use super::inspect::{CertInfo, San, parse_der};
use super::{DAY, Outcome, PkiError, PkiPaths, PkiSettings, RENEW_BEFORE_DAYS};
use crate::vocab::Host;
use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use std::path::PathBuf;

/// The registry certificate to use.
pub(super) struct Leaf {
    cert_pem: String,
    key_pem: String,
    /// The parsed certificate.
    pub info: CertInfo,
    /// Kept, created or reissued.
    pub outcome: Outcome,
}

impl Leaf {
    /// Files to write: none when kept; key before certificate.
    pub fn files(&self, paths: &PkiPaths) -> Vec<(PathBuf, Vec<u8>, bool)> {
        if self.outcome == Outcome::Kept {
            return Vec::new();
        }
        vec![
            (
                paths.registry_key(),
                self.key_pem.clone().into_bytes(),
                true,
            ),
            (
                paths.registry_cert(),
                self.cert_pem.clone().into_bytes(),
                false,
            ),
        ]
    }
}

/// The registry certificate: the one on disk if it still matches, else a new one.
pub(super) fn resolve(
    settings: &PkiSettings,
    paths: &PkiPaths,
    ca: &Ca,
    now: i64,
) -> Result<Leaf, PkiError> {
    let existing = load_pair(&paths.registry_cert(), &paths.registry_key());
    let reason = match existing {
        Ok(Some(pair)) => match mismatch(settings, ca, &pair.info, now) {
            None => {
                return Ok(Leaf {
                    cert_pem: pair.cert_pem,
                    key_pem: pair.key_pem,
                    info: pair.info,
                    outcome: Outcome::Kept,
                });
            }
            Some(reason) => Some(reason),
        },
        Ok(None) => None,
        // A half-written pair (a crash between key and certificate) is repaired.
        Err(PkiError::KeyMismatch { .. }) => Some("the key does not match the certificate".into()),
        Err(PkiError::Incomplete { missing, .. }) => {
            Some(format!("{} was missing", missing.display()))
        }
        Err(e) => return Err(e),
    };
    let mut leaf = issue(settings, ca, now)?;
    if let Some(reason) = reason {
        leaf.outcome = Outcome::Reissued(reason);
    }
    Ok(leaf)
}

/// Why the certificate on disk no longer fits, or `None` if it does.
fn mismatch(settings: &PkiSettings, ca: &Ca, info: &CertInfo, now: i64) -> Option<String> {
    let mut want: Vec<San> = settings.sans().iter().map(san_of).collect();
    let mut have = info.sans.clone();
    want.sort();
    have.sort();
    let days = i64::from(settings.cert_validity_days);
    if have != want {
        Some(format!(
            "its SANs are {}, the config asks for {}",
            list(&have),
            list(&want)
        ))
    } else if info.common_name.as_deref() != Some(settings.host.bare().as_str()) {
        Some("its common name is not the registry host".into())
    } else if !issued_by(info, &ca.info) {
        Some("it was not issued by the current CA".into())
    } else if info.not_after - info.not_before != days * DAY {
        Some(format!("its validity is not {days} days"))
    } else if !info.valid_at(now) || info.not_after - now < i64::from(RENEW_BEFORE_DAYS) * DAY {
        Some(format!(
            "it is not valid from now for at least {RENEW_BEFORE_DAYS} days"
        ))
    } else if info.extended_key_usage != ["serverAuth"] {
        Some("it is not a serverAuth certificate".into())
    } else {
        None
    }
}

fn list(sans: &[San]) -> String {
    sans.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Issuer name and authority key identifier match the CA's subject and key identifier.
pub(super) fn issued_by(info: &CertInfo, ca: &CertInfo) -> bool {
    info.issuer_der == ca.subject_der
        && info.authority_key_id.is_some()
        && info.authority_key_id == ca.subject_key_id
}

/// The SAN a host becomes: an iPAddress SAN for an address, a dNSName for a name.
pub(super) fn san_of(host: &Host) -> San {
    match host {
        Host::Ip(ip) => San::Ip(*ip),
        Host::Name(n) => San::Dns(n.to_ascii_lowercase()),
    }
}

fn issue(settings: &PkiSettings, ca: &Ca, now: i64) -> Result<Leaf, PkiError> {
    let range = ca::validity(settings, settings.cert_validity_days, now);
    ca::check_validity(
        "the registry certificate",
        "registry.certificate.validity_days",
        range,
        now,
    )?;
    if range.1 > ca.info.not_after {
        return Err(PkiError::Validity {
            what: "the registry certificate".into(),
            message: format!(
                "it would be valid until {}, after the CA expires ({}); lower registry.certificate.validity_days",
                ca::date(range.1),
                ca::date(ca.info.not_after)
            ),
        });
    }
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, settings.host.bare());
    params.distinguished_name = dn;
    params.subject_alt_names = settings
        .sans()
        .iter()
        .map(|h| match h {
            Host::Ip(ip) => Ok(SanType::IpAddress(*ip)),
            Host::Name(n) => n
                .clone()
                .try_into()
                .map(SanType::DnsName)
                .map_err(|e| PkiError::generate("a DNS SAN", e)),
        })
        .collect::<Result<_, _>>()?;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    params.not_before = timestamp(range.0)?;
    params.not_after = timestamp(range.1)?;
    params.serial_number = Some(random_serial()?);
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .map_err(|e| PkiError::generate("the registry key", e))?;
    let issuer = Issuer::from_ca_cert_pem(&ca.cert_pem, &ca.key)
        .map_err(|e| PkiError::generate("the CA issuer", e))?;
    let cert = params
        .signed_by(&key, &issuer)
        .map_err(|e| PkiError::generate("the registry certificate", e))?;
    let info =
        parse_der(cert.der()).map_err(|e| PkiError::generate("the registry certificate", e))?;
    Ok(Leaf {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        info,
        outcome: Outcome::Created,
    })
}

/// The SAN preflight: the registry host named in the config and every host the rendered
/// `registries.yaml` sends nodes to over TLS must be a SAN of the certificate as parsed,
/// and the certificate must chain to the CA.
pub(super) fn preflight(
    settings: &PkiSettings,
    paths: &PkiPaths,
    ca: &Ca,
    leaf: &CertInfo,
    registries_yaml: &str,
) -> Result<(), PkiError> {
    if !issued_by(leaf, &ca.info) {
        return Err(PkiError::WrongIssuer {
            cert: paths.registry_cert(),
            ca: paths.ca_cert(),
        });
    }
    let mut wanted = vec![(
        settings.host.clone(),
        "registry.host in the config".to_string(),
    )];
    for host in super::registries_yaml::tls_hosts(registries_yaml)
        .map_err(|message| PkiError::generate("registries.yaml", message))?
    {
        wanted.push((host, "an https endpoint in registries.yaml".to_string()));
    }
    for (host, named_in) in wanted {
        if !leaf.covers(&host) {
            return Err(PkiError::SanMissing {
                cert: paths.registry_cert(),
                host: host.bare(),
                named_in,
                sans: leaf.sans.iter().map(ToString::to_string).collect(),
            });
        }
    }
    Ok(())
}
