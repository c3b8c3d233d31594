//! Reading certificates back. Every decision about an existing certificate (reuse it or
//! reissue it, trust it as a CA, accept it for the registry's address) is made from the
//! parsed DER, never from the parameters it was supposedly made with: a certificate that
//! claims `CN=localhost` and lacks the registry's IP broke every pull in the field.

use super::PkiError;
use serde::Serialize;
use std::net::IpAddr;
use std::path::Path;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::FromDer;

/// A subject alternative name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(tag = "type", content = "value", rename_all = "lowercase")]
pub enum San {
    /// A DNS name (lowercase).
    Dns(String),
    /// An IP address.
    Ip(IpAddr),
    /// Any other kind, as x509-parser prints it.
    Other(String),
}

impl std::fmt::Display for San {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            San::Dns(n) => write!(f, "DNS:{n}"),
            San::Ip(ip) => write!(f, "IP:{ip}"),
            San::Other(o) => f.write_str(o),
        }
    }
}

/// The fields of a certificate that seedforge checks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CertInfo {
    /// Subject distinguished name (RFC 4514 style).
    pub subject: String,
    /// Subject common name, if any.
    pub common_name: Option<String>,
    /// Issuer distinguished name.
    pub issuer: String,
    /// Serial number, hex with colons.
    pub serial: String,
    /// Start of validity (seconds since the epoch).
    pub not_before: i64,
    /// End of validity (seconds since the epoch).
    pub not_after: i64,
    /// Basic constraints: `Some((ca, path_len))` when present.
    pub basic_constraints: Option<(bool, Option<u32>)>,
    /// Key usages set, by RFC 5280 name (`digitalSignature`, `keyCertSign`, …).
    pub key_usage: Vec<String>,
    /// Extended key usages (`serverAuth`, …, or an OID).
    pub extended_key_usage: Vec<String>,
    /// Subject alternative names, in certificate order.
    pub sans: Vec<San>,
    /// Subject key identifier.
    #[serde(skip)]
    pub subject_key_id: Option<Vec<u8>>,
    /// Authority key identifier (its key identifier part).
    #[serde(skip)]
    pub authority_key_id: Option<Vec<u8>>,
    /// Names of the extensions marked critical.
    pub critical: Vec<String>,
    /// DER of the SubjectPublicKeyInfo.
    #[serde(skip)]
    pub spki_der: Vec<u8>,
    /// DER of the subject name.
    #[serde(skip)]
    pub subject_der: Vec<u8>,
    /// DER of the issuer name.
    #[serde(skip)]
    pub issuer_der: Vec<u8>,
}

impl CertInfo {
    /// True if `host` is one of the certificate's SANs (IP SANs for addresses, DNS SANs,
    /// case-insensitive, for names).
    pub fn covers(&self, host: &crate::vocab::Host) -> bool {
        use crate::vocab::Host;
        self.sans.iter().any(|san| match (san, host) {
            (San::Ip(a), Host::Ip(b)) => a == b,
            (San::Dns(a), Host::Name(b)) => a.eq_ignore_ascii_case(b),
            _ => false,
        })
    }

    /// True if `now` lies inside the validity period.
    pub fn valid_at(&self, now: i64) -> bool {
        self.not_before <= now && now <= self.not_after
    }
}

/// The first certificate in PEM `text` read from `path`: its DER and its parsed fields.
pub fn parse_pem(text: &[u8], path: &Path) -> Result<(Vec<u8>, CertInfo), PkiError> {
    let bad = |message: String| PkiError::BadPem {
        path: path.to_path_buf(),
        message,
    };
    let (_, pem) = x509_parser::pem::parse_x509_pem(text)
        .map_err(|e| bad(format!("no PEM certificate found ({e})")))?;
    if pem.label != "CERTIFICATE" {
        return Err(bad(format!(
            "the first PEM block is {:?}, not CERTIFICATE",
            pem.label
        )));
    }
    let info = parse_der(&pem.contents).map_err(bad)?;
    Ok((pem.contents, info))
}

/// The certificate key's type and size in words (`RSA 1024-bit`, `ECDSA P-256`), from a
/// DER SubjectPublicKeyInfo; `None` when it cannot be read.
pub fn describe_key(spki_der: &[u8]) -> Option<String> {
    use x509_parser::public_key::PublicKey;
    use x509_parser::x509::SubjectPublicKeyInfo;
    let (_, spki) = SubjectPublicKeyInfo::from_der(spki_der).ok()?;
    Some(match spki.parsed().ok()? {
        PublicKey::RSA(rsa) => format!("RSA {}-bit", rsa.key_size()),
        PublicKey::EC(point) => match point.key_size() {
            256 => "ECDSA P-256".to_string(),
            384 => "ECDSA P-384".to_string(),
            n => format!("ECDSA {n}-bit"),
        },
        PublicKey::DSA(_) => "DSA".to_string(),
        PublicKey::GostR3410(_) | PublicKey::GostR3410_2012(_) => "GOST".to_string(),
        PublicKey::Unknown(_) => match spki.algorithm.algorithm.to_id_string().as_str() {
            "1.3.101.112" => "Ed25519".to_string(),
            "1.3.101.113" => "Ed448".to_string(),
            other => format!("algorithm {other}"),
        },
    })
}

/// Parses one DER certificate.
pub fn parse_der(der: &[u8]) -> Result<CertInfo, String> {
    let (rest, cert) =
        X509Certificate::from_der(der).map_err(|e| format!("not an X.509 certificate: {e}"))?;
    if !rest.is_empty() {
        return Err("trailing bytes after the certificate".into());
    }
    let mut info = CertInfo {
        subject: cert.subject().to_string(),
        common_name: cert
            .subject()
            .iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok())
            .map(str::to_string),
        issuer: cert.issuer().to_string(),
        serial: cert.raw_serial_as_string(),
        not_before: cert.validity().not_before.timestamp(),
        not_after: cert.validity().not_after.timestamp(),
        basic_constraints: None,
        key_usage: Vec::new(),
        extended_key_usage: Vec::new(),
        sans: Vec::new(),
        subject_key_id: None,
        authority_key_id: None,
        critical: Vec::new(),
        spki_der: cert.public_key().raw.to_vec(),
        subject_der: cert.subject().as_raw().to_vec(),
        issuer_der: cert.issuer().as_raw().to_vec(),
    };
    for ext in cert.extensions() {
        let name = read_extension(ext.parsed_extension(), &mut info)?;
        if ext.critical {
            info.critical
                .push(name.unwrap_or_else(|| ext.oid.to_id_string()));
        }
    }
    Ok(info)
}

/// Records one extension in `info`; returns its name when it is one seedforge knows.
fn read_extension(
    ext: &ParsedExtension<'_>,
    info: &mut CertInfo,
) -> Result<Option<String>, String> {
    let name = match ext {
        ParsedExtension::BasicConstraints(bc) => {
            info.basic_constraints = Some((bc.ca, bc.path_len_constraint));
            "basicConstraints"
        }
        ParsedExtension::KeyUsage(ku) => {
            let flags = [
                (ku.digital_signature(), "digitalSignature"),
                (ku.non_repudiation(), "nonRepudiation"),
                (ku.key_encipherment(), "keyEncipherment"),
                (ku.data_encipherment(), "dataEncipherment"),
                (ku.key_agreement(), "keyAgreement"),
                (ku.key_cert_sign(), "keyCertSign"),
                (ku.crl_sign(), "cRLSign"),
                (ku.encipher_only(), "encipherOnly"),
                (ku.decipher_only(), "decipherOnly"),
            ];
            info.key_usage = flags
                .iter()
                .filter(|(set, _)| *set)
                .map(|(_, n)| (*n).to_string())
                .collect();
            "keyUsage"
        }
        ParsedExtension::ExtendedKeyUsage(eku) => {
            let flags = [
                (eku.any, "anyExtendedKeyUsage"),
                (eku.server_auth, "serverAuth"),
                (eku.client_auth, "clientAuth"),
                (eku.code_signing, "codeSigning"),
                (eku.email_protection, "emailProtection"),
                (eku.time_stamping, "timeStamping"),
                (eku.ocsp_signing, "OCSPSigning"),
            ];
            info.extended_key_usage = flags
                .iter()
                .filter(|(set, _)| *set)
                .map(|(_, n)| (*n).to_string())
                .chain(eku.other.iter().map(|o| o.to_id_string()))
                .collect();
            "extendedKeyUsage"
        }
        ParsedExtension::SubjectAlternativeName(san) => {
            for name in &san.general_names {
                info.sans.push(general_name(name)?);
            }
            "subjectAltName"
        }
        ParsedExtension::SubjectKeyIdentifier(id) => {
            info.subject_key_id = Some(id.0.to_vec());
            "subjectKeyIdentifier"
        }
        ParsedExtension::AuthorityKeyIdentifier(aki) => {
            info.authority_key_id = aki.key_identifier.as_ref().map(|k| k.0.to_vec());
            "authorityKeyIdentifier"
        }
        ParsedExtension::ParseError { error } => {
            return Err(format!("an extension does not parse: {error}"));
        }
        _ => return Ok(None),
    };
    Ok(Some(name.to_string()))
}

fn general_name(name: &GeneralName<'_>) -> Result<San, String> {
    Ok(match name {
        GeneralName::DNSName(n) => San::Dns(n.to_ascii_lowercase()),
        GeneralName::IPAddress(bytes) => match bytes.len() {
            4 => San::Ip(IpAddr::from(
                <[u8; 4]>::try_from(*bytes).map_err(|e| e.to_string())?,
            )),
            16 => San::Ip(IpAddr::from(
                <[u8; 16]>::try_from(*bytes).map_err(|e| e.to_string())?,
            )),
            n => return Err(format!("an IP address SAN has {n} bytes")),
        },
        other => San::Other(other.to_string()),
    })
}
