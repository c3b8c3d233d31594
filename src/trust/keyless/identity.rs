//! Who may have signed: the identities of a keyless policy, and what a Fulcio certificate
//! says of its signer.
//!
//! An [`Identity`] is a subject and an issuer, each matched as cosign matches
//! `--certificate-identity` / `--certificate-identity-regexp` and
//! `--certificate-oidc-issuer` / `--certificate-oidc-issuer-regexp`:
//!
//! - the **subject** is the leaf's subject alternative name, one of them, chosen as
//!   sigstore-go (cosign's bundle verifier) chooses it: the first URI (a CI workflow's,
//!   `https://github.com/OWNER/REPO/.github/workflows/F.yml@refs/tags/v1`), else the first
//!   email address, else Fulcio's username: an `otherName` of type
//!   1.3.6.1.4.1.57264.1.7 holding a UTF8String (the first `otherName`, as cosign reads
//!   it; one of another type is no identity). DNS names and IP addresses are none (cosign's
//!   classic path also matches them, and any of several SANs; Fulcio writes one SAN, a
//!   URI, an email or a username, so on its certificates the two rules agree, and the
//!   one-name rule never accepts what either of cosign's paths refuses).
//!   [`Match::Exact`] compares whole strings, [`Match::Regexp`] finds the pattern anywhere
//!   in the value, as Go's `regexp.MatchString` does for cosign (anchor it with `^…$` to
//!   match the whole value);
//! - the **issuer** is the OIDC issuer Fulcio wrote into the certificate: the extension
//!   1.3.6.1.4.1.57264.1.8 (a DER UTF8String), else the older 1.3.6.1.4.1.57264.1.1 (raw
//!   bytes). A certificate carrying both must name the same issuer in each: one whose
//!   extensions disagree is refused, as is one whose issuer extension does not read.
//!
//! Fulcio's other extensions are read as strictly as cosign reads them (sigstore-go
//! parses every one while summarizing the certificate, and refuses the certificate when
//! one does not parse): the GitHub workflow extensions 1.3.6.1.4.1.57264.1.2 to .1.6 are
//! raw bytes (UTF-8 here; Go takes any bytes), 1.3.6.1.4.1.57264.1.9 to .1.22 are DER
//! UTF8Strings (as Fulcio writes them; Go also takes its other string types). One that
//! does not read refuses the certificate.
//!
//! **A certificate that names no issuer** (Fulcio's certificates of 2021, before either
//! extension, which carry no SCT either) matches only an identity whose issuer is
//! [`IssuerMatch::Absent`]: a policy accepts such signatures only when it says so, entry
//! by entry. Such an identity matches no certificate that names an issuer, and for a
//! certificate it matches that embeds no SCT, none is required (one that embeds an SCT
//! still has it checked).
//!
//! Regular expressions are Go's (RE2 syntax, read as Go's `regexp` reads it: `\d \w \s
//! \b` ASCII, `\Q…\E` literal, what Go refuses refused; see `re2.rs`), compiled by the
//! `regex` crate (linear time whatever the pattern), at most [`MAX_PATTERN`] bytes.

use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::KeylessError;

/// The longest regular expression an identity may give.
pub const MAX_PATTERN: usize = 4096;
/// The compiled size limit of a regular expression.
const COMPILED_LIMIT: usize = 1 << 20;

/// Fulcio's issuer extension (v2, DER UTF8String).
const ISSUER_V2: &str = "1.3.6.1.4.1.57264.1.8";
/// Fulcio's first issuer extension (raw bytes).
const ISSUER_V1: &str = "1.3.6.1.4.1.57264.1.1";
/// Fulcio's username `otherName` type.
const USERNAME: &str = "1.3.6.1.4.1.57264.1.7";
/// The arc of Fulcio's extensions.
const FULCIO_ARC: &str = "1.3.6.1.4.1.57264.1.";

/// How a Fulcio extension (1.3.6.1.4.1.57264.1.N, by N) is read, and what it is: the
/// GitHub workflow extensions .2 to .6 are raw bytes, .9 to .22 DER UTF8Strings (the
/// issuers, .1 and .8, are read apart).
fn fulcio_extension(n: u32) -> Option<(bool, &'static str)> {
    let der = n >= 9;
    let name = match n {
        2 => "GitHub workflow trigger",
        3 => "GitHub workflow SHA",
        4 => "GitHub workflow name",
        5 => "GitHub workflow repository",
        6 => "GitHub workflow ref",
        9 => "build signer URI",
        10 => "build signer digest",
        11 => "runner environment",
        12 => "source repository URI",
        13 => "source repository digest",
        14 => "source repository ref",
        15 => "source repository identifier",
        16 => "source repository owner URI",
        17 => "source repository owner identifier",
        18 => "build config URI",
        19 => "build config digest",
        20 => "build trigger",
        21 => "run invocation URI",
        22 => "source repository visibility at signing",
        _ => return None,
    };
    Some((der, name))
}

/// Refuses a Fulcio extension (`oid`, its content `value`) that does not read as cosign
/// reads it.
fn check_fulcio_extension(oid: &str, value: &[u8]) -> Result<(), KeylessError> {
    let Some(n) = oid.strip_prefix(FULCIO_ARC).and_then(|n| n.parse().ok()) else {
        return Ok(());
    };
    let Some((der, name)) = fulcio_extension(n) else {
        return Ok(());
    };
    let reads = if der {
        der_utf8_string(value).is_some()
    } else {
        std::str::from_utf8(value).is_ok()
    };
    if reads {
        return Ok(());
    }
    Err(KeylessError::Malformed(format!(
        "the certificate's extension {oid} ({name}) is not {}",
        if der { "a DER UTF8String" } else { "UTF-8" }
    )))
}

/// A compiled regular expression with its source.
#[derive(Debug, Clone)]
pub struct Pattern {
    source: String,
    regex: regex::Regex,
}

impl Pattern {
    /// Compiles `source`, an RE2 pattern read as Go reads it (`field` names it in an
    /// error: `subject_regexp`, `issuer_regexp`).
    pub fn new(field: &'static str, source: &str) -> Result<Pattern, KeylessError> {
        let fail = |reason: String| KeylessError::Pattern {
            field,
            pattern: source.chars().take(200).collect(),
            reason,
        };
        if source.len() > MAX_PATTERN {
            return Err(fail(format!("longer than {MAX_PATTERN} bytes")));
        }
        let translated = super::re2::translate(source).map_err(fail)?;
        let regex = regex::RegexBuilder::new(&translated)
            .size_limit(COMPILED_LIMIT)
            .dfa_size_limit(COMPILED_LIMIT)
            .build()
            .map_err(|e| fail(regex_reason(&e)))?;
        Ok(Pattern {
            source: source.to_owned(),
            regex,
        })
    }

    /// The pattern as given.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// True if the pattern matches somewhere in `value` (Go's `regexp.MatchString`).
    pub fn is_match(&self, value: &str) -> bool {
        self.regex.is_match(value)
    }
}

/// Why the `regex` crate refused a translated pattern, without the translated pattern
/// (which is not what the user wrote): its size, or the last line of a syntax error.
fn regex_reason(e: &regex::Error) -> String {
    match e {
        regex::Error::Syntax(s) => s
            .lines()
            .rev()
            .find_map(|l| l.strip_prefix("error: "))
            .unwrap_or(s)
            .to_owned(),
        _ => e.to_string(),
    }
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Pattern) -> bool {
        self.source == other.source
    }
}

impl Eq for Pattern {}

/// How a subject (or an issuer) is matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Match {
    /// The whole value, byte for byte.
    Exact(String),
    /// A regular expression found anywhere in the value.
    Regexp(Pattern),
}

impl Match {
    /// True if `value` matches.
    pub fn matches(&self, value: &str) -> bool {
        match self {
            Match::Exact(s) => s == value,
            Match::Regexp(p) => p.is_match(value),
        }
    }
}

impl std::fmt::Display for Match {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Match::Exact(s) => f.write_str(s),
            Match::Regexp(p) => write!(f, "/{}/", p.as_str()),
        }
    }
}

/// How an issuer is matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IssuerMatch {
    /// The certificate's issuer, matched so.
    Is(Match),
    /// The certificate names no issuer (Fulcio's 2021 certificates): accepted only so,
    /// explicitly (see the module's documentation).
    Absent,
}

/// One identity a policy accepts: a subject and its issuer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The subject alternative name.
    pub subject: Match,
    /// The OIDC issuer.
    pub issuer: IssuerMatch,
}

impl Identity {
    /// An identity matched exactly (`--certificate-identity S --certificate-oidc-issuer I`).
    pub fn exact(subject: &str, issuer: &str) -> Identity {
        Identity {
            subject: Match::Exact(subject.to_owned()),
            issuer: IssuerMatch::Is(Match::Exact(issuer.to_owned())),
        }
    }

    /// True if a certificate of `subject` (any of its names) issued by `issuer` matches.
    pub fn matches(&self, subjects: &[String], issuer: Option<&str>) -> bool {
        let issuer_ok = match (&self.issuer, issuer) {
            (IssuerMatch::Is(m), Some(i)) => m.matches(i),
            (IssuerMatch::Absent, None) => true,
            _ => false,
        };
        issuer_ok && subjects.iter().any(|s| self.subject.matches(s))
    }
}

impl std::fmt::Display for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.issuer {
            IssuerMatch::Is(i) => write!(f, "{} (issuer {i})", self.subject),
            IssuerMatch::Absent => write!(f, "{} (no issuer)", self.subject),
        }
    }
}

/// What a leaf certificate says of its signer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct CertIdentity {
    /// The subject alternative name matched (none, or one: the first URI, else the first
    /// email, else Fulcio's username `otherName`).
    pub subjects: Vec<String>,
    /// The OIDC issuer (1.3.6.1.4.1.57264.1.8, else .1.1; both must then agree).
    pub issuer: Option<String>,
    /// True if the certificate embeds an SCT list (1.3.6.1.4.1.11129.2.4.2).
    pub has_sct: bool,
}

/// Reads the signer's names and issuer from a DER leaf certificate. Refused: issuer
/// extensions that disagree (.1.8 and .1.1 naming different issuers), one that does not
/// read (.1.8 not a DER UTF8String, .1.1 not UTF-8) or is there twice, a Fulcio extension
/// that does not read, a critical extension Go's verifier does not handle, a key that
/// cannot be verified with (P-521, …: named).
pub(super) fn cert_identity(der: &[u8]) -> Result<CertIdentity, KeylessError> {
    let (rest, cert) = X509Certificate::from_der(der).map_err(|e| {
        KeylessError::Malformed(format!("the signing certificate is not DER X.509 ({e})"))
    })?;
    if !rest.is_empty() {
        return Err(KeylessError::Malformed(
            "the signing certificate has bytes after its DER".into(),
        ));
    }
    super::chain::check_critical(&cert, "the signing certificate", true)?;
    if let Some(why) = super::chain::unsupported_key(cert.public_key()) {
        return Err(KeylessError::Refused(format!(
            "the signing certificate has {why}"
        )));
    }
    let mut uri = None;
    let mut email = None;
    let mut other_name = None;
    let mut issuer_v1 = None;
    let mut issuer_v2 = None;
    let mut has_sct = false;
    for ext in cert.extensions() {
        let oid = ext.oid.to_id_string();
        match oid.as_str() {
            "2.5.29.17" => {
                if let x509_parser::extensions::ParsedExtension::SubjectAlternativeName(san) =
                    ext.parsed_extension()
                {
                    for name in &san.general_names {
                        match name {
                            GeneralName::URI(s) => {
                                uri.get_or_insert(*s);
                            }
                            GeneralName::RFC822Name(s) => {
                                email.get_or_insert(*s);
                            }
                            // The first otherName only, and only of Fulcio's type.
                            GeneralName::OtherName(oid, value) => {
                                other_name.get_or_insert_with(|| {
                                    (oid.to_id_string() == USERNAME)
                                        .then(|| utf8_string(value))
                                        .flatten()
                                });
                            }
                            _ => {}
                        }
                    }
                }
            }
            ISSUER_V2 => {
                let issuer = der_utf8_string(ext.value).ok_or_else(|| {
                    KeylessError::Malformed(format!(
                        "the certificate's issuer extension {ISSUER_V2} is not a DER UTF8String"
                    ))
                })?;
                if issuer_v2.replace(issuer).is_some() {
                    return Err(twice(ISSUER_V2));
                }
            }
            ISSUER_V1 => {
                let issuer = std::str::from_utf8(ext.value).map_err(|_| {
                    KeylessError::Malformed(format!(
                        "the certificate's issuer extension {ISSUER_V1} is not UTF-8"
                    ))
                })?;
                if issuer_v1.replace(issuer.to_owned()).is_some() {
                    return Err(twice(ISSUER_V1));
                }
            }
            "1.3.6.1.4.1.11129.2.4.2" => has_sct = true,
            other => check_fulcio_extension(other, ext.value)?,
        }
    }
    // One name, as sigstore-go chooses it.
    let subjects: Vec<String> = uri
        .or(email)
        .map(str::to_owned)
        .or(other_name.flatten())
        .into_iter()
        .collect();
    let issuer = match (issuer_v2, issuer_v1) {
        (Some(v2), Some(v1)) if v2 != v1 => {
            return Err(KeylessError::Refused(format!(
                "the certificate's issuer extensions disagree: {ISSUER_V2} names {v2:?}, \
                 {ISSUER_V1} names {v1:?}"
            )));
        }
        (v2, v1) => v2.or(v1),
    };
    Ok(CertIdentity {
        subjects,
        issuer,
        has_sct,
    })
}

fn twice(oid: &str) -> KeylessError {
    KeylessError::Malformed(format!(
        "the certificate carries its issuer extension {oid} twice"
    ))
}

/// The string of a value that is one DER UTF8String and nothing else.
fn der_utf8_string(der: &[u8]) -> Option<String> {
    let (&tag, rest) = der.split_first()?;
    let (len, body) = der_length(rest)?;
    if tag != 0x0c || body.len() != len {
        return None;
    }
    std::str::from_utf8(body).ok().map(str::to_owned)
}

/// The string of an `otherName`'s value (after its type): `[0]` EXPLICIT holding one
/// DER UTF8String and nothing else, as cosign reads Fulcio's username.
fn utf8_string(der: &[u8]) -> Option<String> {
    let (&tag, rest) = der.split_first()?;
    let (len, body) = der_length(rest)?;
    if tag != 0xa0 || body.len() != len {
        return None;
    }
    der_utf8_string(body)
}

fn der_length(bytes: &[u8]) -> Option<(usize, &[u8])> {
    let (&first, rest) = bytes.split_first()?;
    if first < 0x80 {
        return Some((first as usize, rest));
    }
    let n = (first & 0x7f) as usize;
    if n == 0 || n > 4 || rest.len() < n {
        return None;
    }
    let len = rest[..n]
        .iter()
        .fold(0usize, |acc, &b| (acc << 8) | b as usize);
    Some((len, &rest[n..]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, CustomExtension, KeyPair, SanType};

    const V2: &[u64] = &[1, 3, 6, 1, 4, 1, 57264, 1, 8];
    const V1: &[u64] = &[1, 3, 6, 1, 4, 1, 57264, 1, 1];
    const GITHUB: &str = "https://token.actions.githubusercontent.com";
    const GOOGLE: &str = "https://accounts.google.com";

    /// A DER UTF8String.
    fn utf8(s: &str) -> Vec<u8> {
        let mut v = vec![0x0c, s.len() as u8];
        v.extend_from_slice(s.as_bytes());
        v
    }

    /// A self-signed leaf of alice@example.com carrying these extensions (OID, content).
    fn leaf(extensions: &[(&[u64], Vec<u8>)]) -> Vec<u8> {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut p = CertificateParams::default();
        p.subject_alt_names = vec![SanType::Rfc822Name("alice@example.com".try_into().unwrap())];
        for (oid, content) in extensions {
            p.custom_extensions
                .push(CustomExtension::from_oid_content(oid, content.clone()));
        }
        p.self_signed(&key).unwrap().der().to_vec()
    }

    fn issuer(extensions: &[(&[u64], Vec<u8>)]) -> Result<Option<String>, KeylessError> {
        cert_identity(&leaf(extensions)).map(|c| c.issuer)
    }

    #[test]
    fn the_issuer_is_either_extension_or_both_when_they_agree() {
        assert_eq!(issuer(&[]).unwrap(), None);
        assert_eq!(
            issuer(&[(V2, utf8(GITHUB))]).unwrap().as_deref(),
            Some(GITHUB)
        );
        assert_eq!(
            issuer(&[(V1, GITHUB.into())]).unwrap().as_deref(),
            Some(GITHUB)
        );
        let both = [(V2, utf8(GITHUB)), (V1, GITHUB.into())];
        assert_eq!(issuer(&both).unwrap().as_deref(), Some(GITHUB));
        let c = cert_identity(&leaf(&both)).unwrap();
        assert_eq!(c.subjects, ["alice@example.com"]);
    }

    #[test]
    fn issuer_extensions_that_disagree_are_refused() {
        for exts in [
            [(V2, utf8(GITHUB)), (V1, GOOGLE.into())],
            [(V1, GOOGLE.into()), (V2, utf8(GITHUB))],
        ] {
            assert_eq!(
                issuer(&exts).unwrap_err(),
                KeylessError::Refused(format!(
                    "the certificate's issuer extensions disagree: 1.3.6.1.4.1.57264.1.8 \
                     names \"{GITHUB}\", 1.3.6.1.4.1.57264.1.1 names \"{GOOGLE}\""
                ))
            );
        }
        // Differing only in case or a trailing slash is disagreeing.
        let slash = format!("{GITHUB}/");
        assert!(matches!(
            issuer(&[(V2, utf8(GITHUB)), (V1, slash.into())]),
            Err(KeylessError::Refused(_))
        ));
    }

    #[test]
    fn an_issuer_extension_that_does_not_read_is_refused() {
        let mut trailing = utf8(GITHUB);
        trailing.push(0);
        let mut short = utf8(GITHUB);
        short.pop();
        let printable = [&[0x13, GITHUB.len() as u8][..], GITHUB.as_bytes()].concat();
        for v2 in [
            GITHUB.as_bytes().to_vec(), // raw bytes where a UTF8String belongs
            printable,                  // a PrintableString
            trailing,
            short,
            vec![0x0c, 2, 0xc3, 0x28], // not UTF-8
            vec![],
        ] {
            let err = issuer(&[(V2, v2.clone()), (V1, GITHUB.into())]).unwrap_err();
            assert_eq!(
                err,
                KeylessError::Malformed(
                    "the certificate's issuer extension 1.3.6.1.4.1.57264.1.8 is not a DER \
                     UTF8String"
                        .into()
                ),
                "{v2:?}"
            );
            assert!(issuer(&[(V2, v2)]).is_err());
        }
        assert!(matches!(
            issuer(&[(V1, vec![0xff, 0xfe])]),
            Err(KeylessError::Malformed(_))
        ));
        assert!(matches!(
            issuer(&[(V2, utf8(GITHUB)), (V2, utf8(GITHUB))]),
            Err(KeylessError::Malformed(_))
        ));
    }

    /// A self-signed leaf with these subject alternative names and extensions.
    fn leaf_with(names: Vec<SanType>, extensions: &[(&[u64], Vec<u8>)]) -> Vec<u8> {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut p = CertificateParams::default();
        p.subject_alt_names = names;
        for (oid, content) in extensions {
            p.custom_extensions
                .push(CustomExtension::from_oid_content(oid, content.clone()));
        }
        p.self_signed(&key).unwrap().der().to_vec()
    }

    fn subjects(names: Vec<SanType>) -> Vec<String> {
        cert_identity(&leaf_with(names, &[])).unwrap().subjects
    }

    #[test]
    fn the_subject_is_one_name_chosen_as_cosign_chooses_it() {
        let uri = || {
            SanType::URI(
                "https://github.com/o/r/.github/workflows/w.yml@refs/heads/main"
                    .try_into()
                    .unwrap(),
            )
        };
        let email = |e: &str| SanType::Rfc822Name(e.try_into().unwrap());
        let username = |u: &str| {
            SanType::OtherName((
                vec![1, 3, 6, 1, 4, 1, 57264, 1, 7],
                rcgen::OtherNameValue::Utf8String(u.into()),
            ))
        };
        let foreign = |u: &str| {
            SanType::OtherName((
                vec![1, 3, 6, 1, 4, 1, 99999, 7],
                rcgen::OtherNameValue::Utf8String(u.into()),
            ))
        };
        // The first URI, whatever comes before it; else the first email.
        assert_eq!(
            subjects(vec![email("a@example.com"), uri(), email("b@example.com")]),
            ["https://github.com/o/r/.github/workflows/w.yml@refs/heads/main"]
        );
        assert_eq!(
            subjects(vec![email("a@example.com"), email("b@example.com")]),
            ["a@example.com"]
        );
        // Fulcio's username, only of its type, only the first otherName, only when no URI
        // or email is there.
        assert_eq!(subjects(vec![username("alice")]), ["alice"]);
        assert_eq!(
            subjects(vec![email("a@example.com"), username("alice")]),
            ["a@example.com"]
        );
        assert!(subjects(vec![foreign("alice")]).is_empty());
        assert!(subjects(vec![foreign("mallory"), username("alice")]).is_empty());
        // DNS names and IP addresses are no identity.
        assert!(
            subjects(vec![
                SanType::DnsName("build.example.com".try_into().unwrap()),
                SanType::IpAddress("10.0.0.1".parse().unwrap()),
            ])
            .is_empty()
        );
    }

    #[test]
    fn a_fulcio_extension_that_does_not_read_as_cosign_reads_it_refuses_the_certificate() {
        const REPO_URI: &[u64] = &[1, 3, 6, 1, 4, 1, 57264, 1, 12];
        const WORKFLOW_REPO: &[u64] = &[1, 3, 6, 1, 4, 1, 57264, 1, 5];
        let read = |exts: &[(&[u64], Vec<u8>)]| {
            cert_identity(&leaf_with(
                vec![SanType::Rfc822Name("alice@example.com".try_into().unwrap())],
                exts,
            ))
        };
        read(&[
            (REPO_URI, utf8("https://github.com/o/r")),
            (WORKFLOW_REPO, b"o/r".to_vec()),
        ])
        .unwrap();
        // An extension past the known ones is not read.
        read(&[(&[1, 3, 6, 1, 4, 1, 57264, 1, 99], b"anything".to_vec())]).unwrap();
        assert_eq!(
            read(&[(REPO_URI, b"https://github.com/o/r".to_vec())]).unwrap_err(),
            KeylessError::Malformed(
                "the certificate's extension 1.3.6.1.4.1.57264.1.12 (source repository URI) is \
                 not a DER UTF8String"
                    .into()
            )
        );
        let mut trailing = utf8("https://github.com/o/r");
        trailing.push(0);
        assert!(read(&[(REPO_URI, trailing)]).is_err());
        assert_eq!(
            read(&[(WORKFLOW_REPO, vec![0xff, 0xfe])]).unwrap_err(),
            KeylessError::Malformed(
                "the certificate's extension 1.3.6.1.4.1.57264.1.5 (GitHub workflow \
                 repository) is not UTF-8"
                    .into()
            )
        );
    }

    #[test]
    fn a_pattern_is_read_as_go_reads_it_and_keeps_its_source() {
        let p = Pattern::new("subject_regexp", r"^\d+\Q.\E$").unwrap();
        assert_eq!(p.as_str(), r"^\d+\Q.\E$");
        assert!(p.is_match("12."));
        assert!(!p.is_match("12x"));
        assert!(!p.is_match("\u{663}."));
        assert_eq!(
            Pattern::new("issuer_regexp", r"a\e").unwrap_err(),
            KeylessError::Pattern {
                field: "issuer_regexp",
                pattern: r"a\e".into(),
                reason: r"invalid escape sequence: `\e`".into(),
            }
        );
    }
}
