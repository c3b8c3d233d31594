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
//! applies.
//!
//! Every issuer of the path, root included, is checked as a certificate authority at the
//! signing time, as Go's verifier checks it:
//!
//! - valid (notBefore, notAfter) at that time;
//! - `basicConstraints` with `CA:true`;
//! - a `keyUsage` extension, when present, with `keyCertSign`;
//! - a path length (`pathlen`) no smaller than the intermediates below it;
//! - each certificate signed by the one above (rustls-webpki, on ring).
//!
//! The leaf must be valid at that time and carry the code-signing extended key usage; an
//! intermediate that names extended key usages must name code signing among them.

use rustls::pki_types::{CertificateDer, UnixTime};
use sigstore_verify::trust_root::TrustedRoot as SigstoreRoot;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::KeylessError;

/// `id-kp-codeSigning` (1.3.6.1.5.5.7.3.3), DER content.
pub(super) const CODE_SIGNING: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x03];

/// The signature algorithms of a Fulcio chain.
const ALGORITHMS: &[&dyn rustls::pki_types::SignatureVerificationAlgorithm] = &[
    webpki::ring::ECDSA_P256_SHA256,
    webpki::ring::ECDSA_P256_SHA384,
    webpki::ring::ECDSA_P384_SHA256,
    webpki::ring::ECDSA_P384_SHA384,
    webpki::ring::ED25519,
    webpki::ring::RSA_PKCS1_2048_8192_SHA256,
    webpki::ring::RSA_PKCS1_2048_8192_SHA384,
    webpki::ring::RSA_PKCS1_2048_8192_SHA512,
    webpki::ring::RSA_PSS_2048_8192_SHA256_LEGACY_KEY,
    webpki::ring::RSA_PSS_2048_8192_SHA384_LEGACY_KEY,
    webpki::ring::RSA_PSS_2048_8192_SHA512_LEGACY_KEY,
];

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
    let constraints = cert.basic_constraints().map_err(|e| {
        refused(format!(
            "{what} {name}: basicConstraints do not parse ({e})"
        ))
    })?;
    match constraints.map(|c| c.value) {
        None if cert.version().0 >= 2 => {
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
        None => {}
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
    Ok(())
}

/// The reason webpki gave, in words.
fn webpki_words(err: &webpki::Error, leaf: &X509Certificate<'_>, t: i64) -> String {
    match err {
        webpki::Error::CertExpired { .. } | webpki::Error::CertNotValidYet { .. } => {
            format!(
                "a certificate of the path is not valid at {} (the signing certificate: {})",
                rfc3339(t),
                window(leaf)
            )
        }
        webpki::Error::UnknownIssuer => format!(
            "the signing certificate's issuer {} is no certificate of the trusted root",
            name_words(leaf.issuer())
        ),
        webpki::Error::InvalidSignatureForPublicKey => {
            "a certificate of the path is not signed by the one above it".into()
        }
        other => format!("certificate chain is invalid ({other:?})"),
    }
}

/// Checks that `leaf` (DER) chains to a certificate authority of `root` valid at `t`
/// (seconds since 1970, from `from`), through that authority's own intermediates only;
/// `carried` are the certificates the signature carries beside its leaf, named in a
/// refusal, never used.
pub(super) fn verify_path(
    leaf: &[u8],
    carried: &[Vec<u8>],
    root: &SigstoreRoot,
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
    let when = UnixTime::since_unix_epoch(std::time::Duration::from_secs(
        u64::try_from(t).map_err(|_| refused("the signing time is before 1970"))?,
    ));
    let leaf_der = CertificateDer::from(leaf);
    let end_entity = webpki::EndEntityCert::try_from(&leaf_der)
        .map_err(|e| refused(format!("the signing certificate does not parse ({e})")))?;
    let issuer_raw = leaf_cert.issuer().as_raw();
    let mut reason = None;
    let mut any_valid = false;
    for ca in &root.certificate_authorities {
        let chain = &ca.cert_chain.certificates;
        let Some((last, rest)) = chain.split_last() else {
            continue;
        };
        let names_issuer = chain
            .iter()
            .filter_map(|c| parse(c.raw_bytes.as_bytes()).ok())
            .any(|c| c.subject().as_raw() == issuer_raw);
        if !ca
            .valid_for
            .is_none_or(|r| r.start.as_second() <= t && r.end.is_none_or(|e| t <= e.as_second()))
        {
            if names_issuer && reason.is_none() {
                reason = Some(format!(
                    "no CA of the trusted root was valid at {} ({}): the authority of {} is \
                     valid (validFor) from {} to {}",
                    rfc3339(t),
                    from.words(),
                    name_words(leaf_cert.issuer()),
                    ca.valid_for
                        .map(|r| rfc3339(r.start.as_second()))
                        .unwrap_or_default(),
                    ca.valid_for
                        .and_then(|r| r.end)
                        .map_or_else(|| "no end".to_owned(), |e| rfc3339(e.as_second()))
                ));
            }
            continue;
        }
        any_valid = true;
        let anchor_der = CertificateDer::from(last.raw_bytes.as_bytes());
        let anchor = webpki::anchor_from_trusted_cert(&anchor_der)
            .map_err(|e| refused(format!("a root of the trusted root does not parse ({e})")))?;
        let intermediates: Vec<CertificateDer<'_>> = rest
            .iter()
            .map(|c| CertificateDer::from(c.raw_bytes.as_bytes()))
            .collect();
        let anchors = [anchor];
        let verdict = end_entity.verify_for_usage(
            ALGORITHMS,
            &anchors,
            &intermediates,
            when,
            webpki::KeyUsage::required_if_present(CODE_SIGNING),
            None,
            None,
        );
        let root_cert = parse(last.raw_bytes.as_bytes())?;
        let failed = match verdict {
            Ok(path) => {
                let mut issuers: Vec<Vec<u8>> = path
                    .intermediate_certificates()
                    .map(|c| c.der().to_vec())
                    .collect();
                let count = issuers.len();
                let mut failed = None;
                for (below, der) in issuers.drain(..).enumerate() {
                    let cert = parse(&der)?;
                    if let Err(e) = check_ca(&cert, "intermediate", below, t, from) {
                        failed = Some(e);
                        break;
                    }
                }
                match failed {
                    Some(e) => e,
                    None => match check_ca(&root_cert, "root", count, t, from) {
                        Ok(()) => return Ok(()),
                        Err(e) => e,
                    },
                }
            }
            Err(err) => {
                if !names_issuer {
                    continue;
                }
                diagnose(chain, &leaf_cert, t, from)
                    .unwrap_or_else(|| refused(webpki_words(&err, &leaf_cert, t)))
            }
        };
        if let KeylessError::Refused(r) = failed
            && (reason.is_none() || names_issuer)
        {
            reason = Some(r);
        }
    }
    if let Some(reason) = reason {
        return Err(refused(reason));
    }
    if !any_valid {
        return Err(refused(format!(
            "no CA of the trusted root was valid at {} ({})",
            rfc3339(t),
            from.words()
        )));
    }
    for der in carried {
        if let Ok(c) = parse(der)
            && c.subject().as_raw() == issuer_raw
        {
            return Err(refused(format!(
                "certificate {} carried by the signature is not in the trusted root \
                 (a carried certificate never extends it)",
                name_of(&c)
            )));
        }
    }
    Err(refused(format!(
        "the signing certificate's issuer {} is no certificate authority of the trusted root \
         valid at {} ({})",
        name_words(leaf_cert.issuer()),
        rfc3339(t),
        from.words()
    )))
}

/// Why the path from `leaf` through `chain` (an authority's certificates, its root last)
/// fails, when a certificate of the chain fails its checks as a CA: walks up by name from
/// the leaf's issuer.
fn diagnose(
    chain: &[sigstore_verify::trust_root::trusted_root::CertificateEntry],
    leaf: &X509Certificate<'_>,
    t: i64,
    from: TimeFrom,
) -> Option<KeylessError> {
    let certs: Vec<X509Certificate<'_>> = chain
        .iter()
        .filter_map(|c| parse(c.raw_bytes.as_bytes()).ok())
        .collect();
    let mut issuer = leaf.issuer().as_raw();
    for below in 0..certs.len() {
        let cert = certs.iter().find(|c| c.subject().as_raw() == issuer)?;
        let self_signed = cert.subject().as_raw() == cert.issuer().as_raw();
        let what = if self_signed { "root" } else { "intermediate" };
        if let Err(e) = check_ca(cert, what, below, t, from) {
            return Some(e);
        }
        if self_signed {
            return None;
        }
        issuer = cert.issuer().as_raw();
    }
    None
}
