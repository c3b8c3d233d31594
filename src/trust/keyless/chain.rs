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
//! - each certificate signed by the one above it in the entry (verified once, as the root
//!   is read: [`Authorities::new`]; x509-parser's check, on ring).
//!
//! The leaf must be valid at that time and carry the code-signing extended key usage; an
//! intermediate that names extended key usages must name code signing among them.

use sigstore_verify::trust_root::TrustedRoot as SigstoreRoot;
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
        let signers: Vec<&[u8]> = candidates
            .into_iter()
            .filter(|der| {
                parse(der).is_ok_and(|c| leaf_cert.verify_signature(Some(c.public_key())).is_ok())
            })
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
                match walk(entry, i, t, from) {
                    Ok(()) => return Ok(()),
                    Err(e) => {
                        first.get_or_insert(e);
                    }
                }
            }
        }
        Err(first.unwrap_or_else(|| refused("no certificate path to a root of the trusted root")))
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
/// root, each certificate checked as a CA at `t`.
fn walk(entry: &Entry, i: usize, t: i64, from: TimeFrom) -> Result<(), KeylessError> {
    let last = entry.certs.len() - 1;
    let mut at = i;
    let mut below = 0;
    loop {
        let cert = parse(&entry.certs[at])?;
        let what = if at == last { "root" } else { "intermediate" };
        check_ca(&cert, what, below, t, from)?;
        if at == last {
            return Ok(());
        }
        match entry.above[at] {
            Some(j) => at = j,
            None => {
                return Err(refused(format!(
                    "intermediate {} is signed by no certificate above it in its certChain \
                     of the trusted root",
                    name_of(&cert)
                )));
            }
        }
        below += 1;
    }
}
