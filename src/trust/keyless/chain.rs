//! The certificate path of a keyless signature, built from the trusted root alone.
//!
//! The anchors are the roots of the trusted root: each certificate authority's `certChain`
//! ends with its root, and the certificates before it are that authority's intermediates.
//! A path runs from the leaf through intermediates of one authority to that authority's
//! root, and only an authority whose `validFor` holds at the signing time may give it.
//! Certificates a signature carries (the classic chain annotation, a v0.1 or v0.2 bundle's
//! `x509CertificateChain`) never join the path: they are read only to name them in a
//! refusal. This is the rule cosign's verifier (sigstore-go, Go's `x509.Verify` with the
//! root as the only root and the authority's intermediates as the only intermediates)
//! applies. The sigstore verifier, which anchors every certificate of a `certChain`, never
//! decides the path: this check does, after it, at every verified signing time.
//!
//! Every certificate of the path is checked as Go's `x509.Verify` checks it for cosign:
//!
//! - valid (notBefore, notAfter) at the signing time;
//! - **no critical extension Go does not handle** ([`HANDLED`]: subjectKeyIdentifier,
//!   keyUsage, subjectAltName, basicConstraints, nameConstraints, cRLDistributionPoints,
//!   certificatePolicies, authorityKeyIdentifier, extKeyUsage, authorityInfoAccess). A
//!   critical subjectAltName of an issuer must name a DNS name, email, IP or URI (Go's
//!   rule); the leaf's may hold only Fulcio's `otherName`, as sigstore-go and cosign allow.
//!   Go also evaluates certificate policies (policyMappings, policyConstraints,
//!   inhibitAnyPolicy); seedforge does not, and refuses them critical: no Sigstore CA
//!   carries them;
//! - **extended key usages chained**: the leaf must name code signing; every issuer that
//!   has an extKeyUsage extension must name code signing or anyExtendedKeyUsage in it.
//!
//! and every issuer, root included, as a certificate authority at that time:
//!
//! - `basicConstraints` with `CA:true`, whatever the certificate's version (a version 1
//!   certificate has no extensions, so no v1 certificate is a CA);
//! - a `keyUsage` extension, when present, with `keyCertSign` (Go ignores key usages; the
//!   Sigstore clients in Python and Rust check it, and Fulcio's CAs have it);
//! - a path length (`pathlen`) no smaller than the intermediates below it;
//! - each certificate signed by the one above it in the entry (verified once, as the root
//!   is read: [`Authorities::new`]; x509-parser's check, on ring);
//! - **name constraints**, from the root down: each CA's permitted and excluded subtrees
//!   apply to the subject alternative names of every certificate below it, for the kinds
//!   Go enforces (DNS name, email address, URI host, IP address), matched as Go matches
//!   them. A constraint of another kind (a directory name, an `otherName`, …) refuses the
//!   CA: seedforge cannot evaluate it (Go refuses it too when the extension is critical,
//!   as RFC 5280 requires it to be).
use sigstore_verify::trust_root::TrustedRoot as SigstoreRoot;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::{FromDer, X509Certificate};

use super::KeylessError;

/// Where a signing time came from, as a refusal names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TimeFrom {
    /// The transparency log entry's integrated time.
    Log,
    /// An RFC 3161 timestamp.
    Timestamp,
}

impl TimeFrom {
    fn words(self) -> &'static str {
        match self {
            TimeFrom::Log => "the signing time, from the log entry",
            TimeFrom::Timestamp => "the signing time, from a timestamp authority",
        }
    }
}

/// A Unix time as RFC 3339 UTC (`2025-10-24T01:27:54Z`).
pub(super) fn rfc3339(t: i64) -> String {
    match time::OffsetDateTime::from_unix_timestamp(t) {
        Ok(d) => format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            d.year(),
            u8::from(d.month()),
            d.day(),
            d.hour(),
            d.minute(),
            d.second()
        ),
        Err(_) => format!("{t} (seconds since 1970)"),
    }
}

fn refused(reason: impl Into<String>) -> KeylessError {
    KeylessError::Refused(reason.into())
}

/// A certificate's subject as a refusal names it: `CN=…` when it has a common name, else
/// the whole name.
fn name_of(cert: &X509Certificate<'_>) -> String {
    name_words(cert.subject())
}

fn name_words(name: &x509_parser::x509::X509Name<'_>) -> String {
    match name
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
    {
        Some(cn) => format!("CN={cn}"),
        None => name.to_string(),
    }
}

fn parse(der: &[u8]) -> Result<X509Certificate<'_>, KeylessError> {
    X509Certificate::from_der(der)
        .map(|(_, c)| c)
        .map_err(|e| refused(format!("a certificate does not parse ({e})")))
}

fn valid_at(cert: &X509Certificate<'_>, t: i64) -> bool {
    let v = cert.validity();
    v.not_before.timestamp() <= t && t <= v.not_after.timestamp()
}

fn window(cert: &X509Certificate<'_>) -> String {
    let v = cert.validity();
    format!(
        "valid from {} to {}",
        rfc3339(v.not_before.timestamp()),
        rfc3339(v.not_after.timestamp())
    )
}

/// The extensions Go's `x509` handles (crypto/x509's parser): a critical extension of any
/// other OID refuses its certificate, as `x509.Verify` refuses it.
pub(super) const HANDLED: [&str; 10] = [
    "2.5.29.14",         // subjectKeyIdentifier
    "2.5.29.15",         // keyUsage
    "2.5.29.17",         // subjectAltName
    "2.5.29.19",         // basicConstraints
    "2.5.29.30",         // nameConstraints
    "2.5.29.31",         // cRLDistributionPoints
    "2.5.29.32",         // certificatePolicies
    "2.5.29.35",         // authorityKeyIdentifier
    "2.5.29.37",         // extKeyUsage
    "1.3.6.1.5.5.7.1.1", // authorityInfoAccess
];

/// The OID of a critical extension of `cert` that Go's verifier does not handle, if any.
/// A critical subjectAltName is handled when it names a DNS name, email, IP or URI (Go's
/// rule), and always on the leaf (`leaf`), whose `otherName` Fulcio writes and sigstore-go
/// and cosign read themselves.
fn unhandled_critical(cert: &X509Certificate<'_>, leaf: bool) -> Option<String> {
    for ext in cert.extensions().iter().filter(|e| e.critical) {
        let oid = ext.oid.to_id_string();
        if !HANDLED.contains(&oid.as_str()) {
            return Some(oid);
        }
        if oid == "2.5.29.17" && !leaf {
            let named = match ext.parsed_extension() {
                ParsedExtension::SubjectAlternativeName(san) => san.general_names.iter().any(|g| {
                    matches!(
                        g,
                        GeneralName::DNSName(_)
                            | GeneralName::RFC822Name(_)
                            | GeneralName::URI(_)
                            | GeneralName::IPAddress(_)
                    )
                }),
                _ => false,
            };
            if !named {
                return Some(oid);
            }
        }
    }
    None
}

/// Refuses `cert` (named `who`) if it carries a critical extension Go does not handle.
pub(super) fn check_critical(
    cert: &X509Certificate<'_>,
    who: &str,
    leaf: bool,
) -> Result<(), KeylessError> {
    match unhandled_critical(cert, leaf) {
        Some(oid) => Err(refused(format!(
            "{who} carries the critical extension {oid}, which is not handled (a critical \
             extension a verifier does not know refuses the certificate)"
        ))),
        None => Ok(()),
    }
}

/// The checks of one issuer of a path: `what` names its place ("intermediate", "root"),
/// `below` counts the intermediates between it and the leaf.
fn check_ca(
    cert: &X509Certificate<'_>,
    what: &str,
    below: usize,
    t: i64,
    from: TimeFrom,
) -> Result<(), KeylessError> {
    let name = name_of(cert);
    if !valid_at(cert, t) {
        return Err(refused(format!(
            "{what} {name} is not valid at {} ({}; {})",
            rfc3339(t),
            from.words(),
            window(cert)
        )));
    }
    check_critical(cert, &format!("{what} {name}"), false)?;
    let constraints = cert.basic_constraints().map_err(|e| {
        refused(format!(
            "{what} {name}: basicConstraints do not parse ({e})"
        ))
    })?;
    match constraints.map(|c| c.value) {
        None if cert.version().0 < 2 => {
            return Err(refused(format!(
                "{what} {name} is not a CA (a version {} certificate, without \
                 basicConstraints)",
                cert.version().0 + 1
            )));
        }
        None => {
            return Err(refused(format!(
                "{what} {name} is not a CA (no basicConstraints)"
            )));
        }
        Some(c) if !c.ca => {
            return Err(refused(format!(
                "{what} {name} is not a CA (basicConstraints CA:false)"
            )));
        }
        Some(c) => {
            if let Some(max) = c.path_len_constraint
                && below > max as usize
            {
                return Err(refused(format!(
                    "{what} {name} allows {max} intermediate(s) below it (pathlen:{max}), \
                     and the path has {below}"
                )));
            }
        }
    }
    let usage = cert
        .key_usage()
        .map_err(|e| refused(format!("{what} {name}: keyUsage does not parse ({e})")))?;
    if let Some(usage) = usage
        && !usage.value.key_cert_sign()
    {
        return Err(refused(format!(
            "{what} {name} may not sign certificates (keyUsage without keyCertSign)"
        )));
    }
    let eku = cert
        .extended_key_usage()
        .map_err(|e| refused(format!("{what} {name}: extKeyUsage does not parse ({e})")))?;
    if let Some(eku) = eku
        && !eku.value.code_signing
        && !eku.value.any
    {
        return Err(refused(format!(
            "{what} {name} may not issue code-signing certificates (its extKeyUsage names \
             neither code signing nor anyExtendedKeyUsage)"
        )));
    }
    Ok(())
}

/// The signature algorithms a certificate's signature may use (ring's, through
/// x509-parser): ECDSA with SHA-256 or SHA-384 on P-256 or P-384, RSA (PKCS#1 v1.5 with
/// SHA-1 to SHA-512, PSS), Ed25519.
const SIGNATURES: [&str; 9] = [
    "1.2.840.10045.4.3.2",   // ecdsa-with-SHA256
    "1.2.840.10045.4.3.3",   // ecdsa-with-SHA384
    "1.2.840.113549.1.1.5",  // sha1WithRSAEncryption
    "1.3.14.3.2.29",         // sha1WithRSA
    "1.2.840.113549.1.1.11", // sha256WithRSAEncryption
    "1.2.840.113549.1.1.12", // sha384WithRSAEncryption
    "1.2.840.113549.1.1.13", // sha512WithRSAEncryption
    "1.2.840.113549.1.1.10", // RSASSA-PSS
    "1.3.101.112",           // Ed25519
];

/// A signature algorithm or curve as a refusal names it.
pub(super) fn algorithm_name(oid: &str) -> String {
    let name = match oid {
        "1.2.840.10045.4.3.1" => "ecdsa-with-SHA224",
        "1.2.840.10045.4.3.4" => "ecdsa-with-SHA512",
        "1.3.132.0.35" => "P-521/secp521r1",
        "1.3.132.0.33" => "P-224/secp224r1",
        "1.3.132.0.10" => "secp256k1",
        "1.3.101.113" => "Ed448",
        _ => return oid.to_owned(),
    };
    format!("{name} ({oid})")
}

/// Why `key` (a SubjectPublicKeyInfo) cannot be verified with, if it cannot: an elliptic
/// curve other than P-256 and P-384, or a key algorithm other than EC, RSA and Ed25519.
pub(super) fn unsupported_key(key: &x509_parser::x509::SubjectPublicKeyInfo<'_>) -> Option<String> {
    match key.algorithm.algorithm.to_id_string().as_str() {
        "1.2.840.10045.2.1" => {
            let curve = key
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .map(|o| o.to_id_string())
                .unwrap_or_else(|| "unnamed".into());
            (!matches!(curve.as_str(), "1.2.840.10045.3.1.7" | "1.3.132.0.34")).then(|| {
                format!(
                    "an elliptic-curve key on the curve {}, which is not supported (P-256 and \
                     P-384 are)",
                    algorithm_name(&curve)
                )
            })
        }
        "1.2.840.113549.1.1.1" | "1.3.101.112" => None,
        other => Some(format!(
            "a key of the algorithm {}, which is not supported (ECDSA P-256 and P-384, RSA \
             and Ed25519 are)",
            algorithm_name(other)
        )),
    }
}

/// The certificate authorities of a trusted root, prepared once as it is read: each
/// entry's certificates (DER, its root last), its `validFor`, and for each certificate
/// but the root the one above it in the entry that signed it (its name the issuer's, its
/// signature verified here, once), so a path check verifies no signature of the root's
/// own certificates again.
pub(super) struct Authorities {
    entries: Vec<Entry>,
}

struct Entry {
    certs: Vec<Vec<u8>>,
    /// Each certificate's subject (DER), so a check finds the leaf's issuer by name
    /// without parsing the entry again (empty for a certificate that does not parse).
    subjects: Vec<Vec<u8>>,
    /// The index of the certificate that signed each one, if one of the entry did; the
    /// root's own is `None`.
    above: Vec<Option<usize>>,
    /// `validFor`: start and end, seconds since 1970.
    valid_for: Option<(i64, Option<i64>)>,
}

impl Entry {
    fn valid_at(&self, t: i64) -> bool {
        self.valid_for
            .is_none_or(|(start, end)| start <= t && end.is_none_or(|e| t <= e))
    }
}

/// The certificates of a trusted root that signed one leaf ([`Authorities::issuers`]).
#[derive(Default)]
pub(super) struct Issuers {
    /// Each certificate (DER) whose key verifies the leaf's signature.
    certs: Vec<Vec<u8>>,
    /// Their keys (SubjectPublicKeyInfo, DER), each once.
    pub(super) keys: Vec<Vec<u8>>,
}

impl Issuers {
    fn signed_by(&self, der: &[u8]) -> bool {
        self.certs.iter().any(|c| c.as_slice() == der)
    }
}

impl Authorities {
    /// The Fulcio authorities of `root`, their links verified.
    pub(super) fn new(root: &SigstoreRoot) -> Authorities {
        let entries = root
            .certificate_authorities
            .iter()
            .map(|ca| {
                let certs: Vec<Vec<u8>> = ca
                    .cert_chain
                    .certificates
                    .iter()
                    .map(|c| c.raw_bytes.as_bytes().to_vec())
                    .collect();
                let parsed: Vec<Option<X509Certificate<'_>>> =
                    certs.iter().map(|d| parse(d).ok()).collect();
                let above = (0..certs.len())
                    .map(|i| {
                        let child = parsed[i].as_ref()?;
                        (i + 1..certs.len()).find(|&j| {
                            parsed[j].as_ref().is_some_and(|parent| {
                                parent.subject().as_raw() == child.issuer().as_raw()
                                    && child.verify_signature(Some(parent.public_key())).is_ok()
                            })
                        })
                    })
                    .collect();
                let subjects = parsed
                    .iter()
                    .map(|c| {
                        c.as_ref()
                            .map(|c| c.subject().as_raw().to_vec())
                            .unwrap_or_default()
                    })
                    .collect();
                Entry {
                    certs,
                    subjects,
                    above,
                    valid_for: ca
                        .valid_for
                        .map(|r| (r.start.as_second(), r.end.map(|e| e.as_second()))),
                }
            })
            .collect();
        Authorities { entries }
    }

    /// Checks that `leaf` (DER) chains to a certificate authority of the root valid at
    /// `t` (seconds since 1970, from `from`), through that authority's own intermediates
    /// only. `carried` are the certificates the signature carries beside its leaf, named in
    /// a refusal, never used. The leaf's signature is verified here by each candidate
    /// issuer, whatever another component verified: nothing is taken on trust from it.
    pub(super) fn verify_path(
        &self,
        leaf: &[u8],
        issuers: &Issuers,
        carried: &[Vec<u8>],
        t: i64,
        from: TimeFrom,
    ) -> Result<(), KeylessError> {
        let leaf_cert = parse(leaf)?;
        if !valid_at(&leaf_cert, t) {
            return Err(refused(format!(
                "the signing certificate is not valid at {} ({}; {})",
                rfc3339(t),
                from.words(),
                window(&leaf_cert)
            )));
        }
        let code_signing = leaf_cert
            .extended_key_usage()
            .ok()
            .flatten()
            .is_some_and(|e| e.value.code_signing);
        if !code_signing {
            return Err(refused(
                "the signing certificate lacks the code-signing extended key usage",
            ));
        }
        check_critical(&leaf_cert, "the signing certificate", true)?;
        let issuer = leaf_cert.issuer();
        let valid: Vec<&Entry> = self.entries.iter().filter(|e| e.valid_at(t)).collect();
        // The certificates of the valid entries that bear the leaf's issuer's name.
        let mut candidates: Vec<&[u8]> = Vec::new();
        for entry in &valid {
            for (der, subject) in entry.certs.iter().zip(&entry.subjects) {
                if subject.as_slice() == issuer.as_raw() && !candidates.contains(&der.as_slice()) {
                    candidates.push(der);
                }
            }
        }
        if candidates.is_empty() {
            return Err(self.no_issuer(&leaf_cert, carried, t, from, valid.is_empty()));
        }
        let algorithm = leaf_cert.signature_algorithm.algorithm.to_id_string();
        if !SIGNATURES.contains(&algorithm.as_str()) {
            return Err(refused(format!(
                "the signing certificate is signed with {}, a signature algorithm that is \
                 not supported (ECDSA with SHA-256 or SHA-384, RSA and Ed25519 are)",
                algorithm_name(&algorithm)
            )));
        }
        if let Some(why) = candidates
            .iter()
            .filter_map(|der| parse(der).ok())
            .find_map(|c| Some((name_of(&c), unsupported_key(c.public_key())?)))
            .map(|(name, why)| format!("the signing certificate's issuer {name} has {why}"))
        {
            return Err(refused(why));
        }
        let signers: Vec<&[u8]> = candidates
            .into_iter()
            .filter(|der| issuers.signed_by(der))
            .collect();
        if signers.is_empty() {
            return Err(refused(format!(
                "the signing certificate is not signed by {} of the trusted root",
                name_words(issuer)
            )));
        }
        let mut first = None;
        for entry in valid {
            for (i, der) in entry.certs.iter().enumerate() {
                if !signers.contains(&der.as_slice()) {
                    continue;
                }
                match walk(entry, i, &leaf_cert, t, from) {
                    Ok(()) => return Ok(()),
                    Err(e) => {
                        first.get_or_insert(e);
                    }
                }
            }
        }
        Err(first.unwrap_or_else(|| refused("no certificate path to a root of the trusted root")))
    }

    /// The certificates of the root that signed `leaf` (DER): each bears its issuer's name
    /// and its key verifies the leaf's signature. Found once a check, so the leaf's
    /// signature (P-384 for Fulcio's, the costliest verification of a keyless check) is
    /// verified once, and the SCTs and the path at every signing time use the result.
    pub(super) fn issuers(&self, leaf: &[u8]) -> Issuers {
        let mut issuers = Issuers::default();
        let Ok(leaf) = parse(leaf) else {
            return issuers;
        };
        for entry in &self.entries {
            for (der, subject) in entry.certs.iter().zip(&entry.subjects) {
                if subject.as_slice() != leaf.issuer().as_raw() || issuers.signed_by(der) {
                    continue;
                }
                if let Ok(c) = parse(der)
                    && leaf.verify_signature(Some(c.public_key())).is_ok()
                {
                    issuers.certs.push(der.clone());
                    if !issuers
                        .keys
                        .iter()
                        .any(|k| k.as_slice() == c.public_key().raw)
                    {
                        issuers.keys.push(c.public_key().raw.to_vec());
                    }
                }
            }
        }
        issuers
    }

    /// Why no certificate of a CA entry valid at `t` bears the leaf's issuer's name.
    fn no_issuer(
        &self,
        leaf: &X509Certificate<'_>,
        carried: &[Vec<u8>],
        t: i64,
        from: TimeFrom,
        none_valid: bool,
    ) -> KeylessError {
        let issuer = leaf.issuer();
        if let Some(entry) = self
            .entries
            .iter()
            .find(|e| !e.valid_at(t) && e.subjects.iter().any(|s| s.as_slice() == issuer.as_raw()))
        {
            let (start, end) = entry.valid_for.unwrap_or((0, None));
            return refused(format!(
                "no CA of the trusted root was valid at {} ({}): the authority of {} is valid \
                 (validFor) from {} to {}",
                rfc3339(t),
                from.words(),
                name_words(issuer),
                rfc3339(start),
                end.map_or_else(|| "no end".to_owned(), rfc3339)
            ));
        }
        if none_valid {
            return refused(format!(
                "no CA of the trusted root was valid at {} ({})",
                rfc3339(t),
                from.words()
            ));
        }
        if let Some(c) = carried
            .iter()
            .filter_map(|d| parse(d).ok())
            .find(|c| c.subject().as_raw() == issuer.as_raw())
        {
            return refused(format!(
                "certificate {} carried by the signature is not in the trusted root \
                 (a carried certificate never extends it)",
                name_of(&c)
            ));
        }
        refused(format!(
            "the signing certificate's issuer {} is no certificate authority of the trusted \
             root valid at {} ({})",
            name_words(issuer),
            rfc3339(t),
            from.words()
        ))
    }
}

/// The path from the `i`th certificate of `entry` (the leaf's signer) up to the entry's
/// root, each certificate checked as a CA at `t`, then the name constraints of each from
/// the root down over the names of the certificates below it (`leaf` first).
fn walk(
    entry: &Entry,
    i: usize,
    leaf: &X509Certificate<'_>,
    t: i64,
    from: TimeFrom,
) -> Result<(), KeylessError> {
    let last = entry.certs.len() - 1;
    let mut at = i;
    let mut path = vec![];
    loop {
        let cert = parse(&entry.certs[at])?;
        let what = if at == last { "root" } else { "intermediate" };
        check_ca(&cert, what, path.len(), t, from)?;
        path.push((cert, what));
        if at == last {
            break;
        }
        match entry.above[at] {
            Some(j) => at = j,
            None => {
                return Err(refused(format!(
                    "intermediate {} is signed by no certificate above it in its certChain \
                     of the trusted root",
                    name_of(&path[path.len() - 1].0)
                )));
            }
        }
    }
    for k in (0..path.len()).rev() {
        let (ca, what) = &path[k];
        let below = std::iter::once(leaf).chain(path[..k].iter().map(|(c, _)| c));
        names::check(ca, &format!("{what} {}", name_of(ca)), below)?;
    }
    Ok(())
}

/// Name constraints (RFC 5280 4.2.1.10) as Go's `x509.Verify` applies them.
mod names {
    use x509_parser::extensions::{GeneralName, GeneralSubtree, ParsedExtension};
    use x509_parser::prelude::X509Certificate;

    use super::{KeylessError, refused};

    /// The kinds of name Go constrains.
    #[derive(Clone, Copy, PartialEq, Eq)]
    enum Kind {
        Email,
        Dns,
        Uri,
        Ip,
    }

    impl Kind {
        fn words(self) -> &'static str {
            match self {
                Kind::Email => "email address",
                Kind::Dns => "DNS name",
                Kind::Uri => "URI",
                Kind::Ip => "IP address",
            }
        }
    }

    fn kind_of(name: &GeneralName<'_>) -> Option<Kind> {
        match name {
            GeneralName::RFC822Name(_) => Some(Kind::Email),
            GeneralName::DNSName(_) => Some(Kind::Dns),
            GeneralName::URI(_) => Some(Kind::Uri),
            GeneralName::IPAddress(_) => Some(Kind::Ip),
            _ => None,
        }
    }

    /// A general name's kind as a refusal names it.
    fn kind_words(name: &GeneralName<'_>) -> &'static str {
        match name {
            GeneralName::OtherName(..) => "otherName",
            GeneralName::X400Address(_) => "x400Address",
            GeneralName::DirectoryName(_) => "directoryName",
            GeneralName::EDIPartyName(_) => "ediPartyName",
            GeneralName::RegisteredID(_) => "registeredID",
            GeneralName::Invalid(..) => "unreadable name",
            other => kind_of(other).map_or("name", Kind::words),
        }
    }

    /// Checks the names of `below` (subject alternative names of the kinds Go constrains)
    /// against the name constraints of `ca` (named `who`), if it has any.
    pub(super) fn check<'a, 'b: 'a>(
        ca: &X509Certificate<'_>,
        who: &str,
        below: impl Iterator<Item = &'a X509Certificate<'b>>,
    ) -> Result<(), KeylessError> {
        let constraints = ca
            .name_constraints()
            .map_err(|e| refused(format!("{who}: nameConstraints do not parse ({e})")))?;
        let Some(constraints) = constraints else {
            return Ok(());
        };
        let permitted = constraints
            .value
            .permitted_subtrees
            .as_deref()
            .unwrap_or(&[]);
        let excluded = constraints
            .value
            .excluded_subtrees
            .as_deref()
            .unwrap_or(&[]);
        for subtree in permitted.iter().chain(excluded) {
            if kind_of(&subtree.base).is_none() {
                return Err(refused(format!(
                    "{who} constrains names of a kind that cannot be evaluated ({}): a \
                     name constraint that is not a DNS name, email address, URI or IP \
                     address refuses its CA",
                    kind_words(&subtree.base)
                )));
            }
        }
        for cert in below {
            for ext in cert.extensions() {
                let ParsedExtension::SubjectAlternativeName(san) = ext.parsed_extension() else {
                    continue;
                };
                for name in &san.general_names {
                    let Some(kind) = kind_of(name) else {
                        continue;
                    };
                    judge(who, kind, name, permitted, excluded)?;
                }
            }
        }
        Ok(())
    }

    fn shown(name: &GeneralName<'_>) -> String {
        match name {
            GeneralName::RFC822Name(s) | GeneralName::DNSName(s) | GeneralName::URI(s) => {
                format!("{s:?}")
            }
            GeneralName::IPAddress(b) => ip_words(b),
            _ => String::new(),
        }
    }

    fn ip_words(b: &[u8]) -> String {
        match b.len() {
            4 => std::net::Ipv4Addr::from(<[u8; 4]>::try_from(b).unwrap_or_default()).to_string(),
            16 => std::net::Ipv6Addr::from(<[u8; 16]>::try_from(b).unwrap_or_default()).to_string(),
            8 | 32 => format!(
                "{}/{}",
                ip_words(&b[..b.len() / 2]),
                ip_words(&b[b.len() / 2..])
            ),
            _ => format!("{b:02x?}"),
        }
    }

    fn judge<'a, 'b>(
        who: &str,
        kind: Kind,
        name: &GeneralName<'_>,
        permitted: &'a [GeneralSubtree<'b>],
        excluded: &'a [GeneralSubtree<'b>],
    ) -> Result<(), KeylessError> {
        let of_kind = |list: &'a [GeneralSubtree<'b>]| -> Vec<&'a GeneralName<'b>> {
            list.iter()
                .filter(|s| kind_of(&s.base) == Some(kind))
                .map(|s| &s.base)
                .collect()
        };
        let (permitted, excluded) = (of_kind(permitted), of_kind(excluded));
        let unreadable = |why: &str| {
            refused(format!(
                "{who} has name constraints, and the {} {} {why}",
                kind.words(),
                shown(name)
            ))
        };
        for &constraint in &excluded {
            if matches(name, constraint).map_err(|why| unreadable(&why))? {
                return Err(refused(format!(
                    "{who} excludes the {} {} (name constraint {})",
                    kind.words(),
                    shown(name),
                    shown(constraint)
                )));
            }
        }
        if permitted.is_empty() {
            return Ok(());
        }
        for &constraint in &permitted {
            if matches(name, constraint).map_err(|why| unreadable(&why))? {
                return Ok(());
            }
        }
        Err(refused(format!(
            "{who} does not permit the {} {}: no name constraint of its permits it",
            kind.words(),
            shown(name)
        )))
    }

    /// True if `name` falls under `constraint` (of its kind), as Go matches them; an error
    /// where Go cannot read the name.
    fn matches(name: &GeneralName<'_>, constraint: &GeneralName<'_>) -> Result<bool, String> {
        match (name, constraint) {
            (GeneralName::RFC822Name(n), GeneralName::RFC822Name(c)) => {
                let (local, domain) = mailbox(n).ok_or("is not a mailbox")?;
                if c.contains('@') {
                    let (c_local, c_domain) =
                        mailbox(c).ok_or("meets a constraint that is not a mailbox")?;
                    return Ok(local == c_local && domain.eq_ignore_ascii_case(c_domain));
                }
                domain_matches(domain, c)
            }
            (GeneralName::DNSName(n), GeneralName::DNSName(c)) => domain_matches(n, c),
            (GeneralName::URI(n), GeneralName::URI(c)) => {
                let host = uri_host(n).ok_or("has no host")?;
                if host.starts_with('[') || host.parse::<std::net::IpAddr>().is_ok() {
                    return Err("names an IP address as its host".into());
                }
                domain_matches(host, c)
            }
            (GeneralName::IPAddress(n), GeneralName::IPAddress(c)) => {
                if c.len() != 2 * n.len() {
                    return Ok(false);
                }
                let (ip, mask) = c.split_at(n.len());
                Ok(n.iter()
                    .zip(ip.iter().zip(mask))
                    .all(|(a, (b, m))| a & m == b & m))
            }
            _ => Ok(false),
        }
    }

    /// The local part and domain of an email address (split at its last `@`).
    fn mailbox(s: &str) -> Option<(&str, &str)> {
        let (local, domain) = s.rsplit_once('@')?;
        (!local.is_empty() && labels(domain).is_some()).then_some((local, domain))
    }

    /// The labels of a domain, last first, as Go reads them: no empty label, no absolute
    /// (trailing dot) name, printable ASCII only.
    fn labels(domain: &str) -> Option<Vec<&str>> {
        if domain.is_empty() {
            return Some(vec![]);
        }
        let labels: Vec<&str> = domain.rsplit('.').collect();
        labels
            .iter()
            .all(|l| !l.is_empty() && l.bytes().all(|b| (33..=126).contains(&b)))
            .then_some(labels)
    }

    /// Go's `matchDomainConstraint`: an empty constraint matches all; `.example.com` only
    /// names below it; `example.com` it and the names below it; labels compared without
    /// regard to ASCII case.
    fn domain_matches(domain: &str, constraint: &str) -> Result<bool, String> {
        if constraint.is_empty() {
            return Ok(true);
        }
        let domain = labels(domain).ok_or("is not a domain name")?;
        let (subdomains, constraint) = match constraint.strip_prefix('.') {
            Some(rest) => (true, rest),
            None => (false, constraint),
        };
        let constraint = labels(constraint).ok_or("meets a constraint that is not a domain")?;
        if domain.len() < constraint.len() || (subdomains && domain.len() == constraint.len()) {
            return Ok(false);
        }
        Ok(constraint
            .iter()
            .zip(&domain)
            .all(|(c, d)| c.eq_ignore_ascii_case(d)))
    }

    /// The host of a URI (`scheme://[userinfo@]host[:port]/…`), without its port.
    fn uri_host(uri: &str) -> Option<&str> {
        let (_, rest) = uri.split_once("://")?;
        let authority = rest.split(['/', '?', '#']).next()?;
        let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        let host = if host_port.ends_with(']') {
            host_port
        } else {
            host_port.rsplit_once(':').map_or(host_port, |(h, _)| h)
        };
        (!host.is_empty()).then_some(host)
    }
}
