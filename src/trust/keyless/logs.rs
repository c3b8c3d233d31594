//! The logs of a keyless signature as the trusted root says, checked by seedforge itself
//! after the sigstore verifier's own checks (which are looser here):
//!
//! - **the checkpoint of each inclusion proof verifies with the key of the entry's own
//!   log**: the `tlogs` entry of the trusted root whose `logId` is the log entry's, valid
//!   (`validFor`) at the signing time. The verifier takes any log key of the root whose
//!   four-byte hint a signature line names, so one log's key could vouch for another's
//!   tree; sigstore-go (cosign) verifies the checkpoint with the entry's log's verifier.
//!   Witness cosignatures beside it are ignored;
//! - **the embedded SCTs**: at least one SCT of the leaf verifies, over the precertificate
//!   (the leaf's TBS without its SCT list) and the issuer's key hash, with the key of a CT
//!   log the root lists whose `validFor` holds at the SCT's time. SCTs of logs the root
//!   does not list, or outside their key's window, are skipped, as sigstore-go skips them
//!   (the verifier wanted exactly one SCT, and refused a leaf carrying two);
//! - **a `hashedrekord` entry's digest fits the leaf's key**, read before the verifier runs:
//!   an Ed25519 key signs the message itself, so its entry must name a SHA-512 digest
//!   (Rekor's rule, which cosign applies: "not in [SHA-512]"); the verifier accepts a
//!   SHA-256 one. The verifier reads a SHA-256 entry only, so an Ed25519 signer's SHA-512
//!   entry is refused too, saying so: no Ed25519 leaf passes where cosign passes it with a
//!   SHA-512 entry (docs/signatures.md, where seedforge stays stricter).

use sigstore_verify::trust_root::TrustedRoot as SigstoreRoot;
use sigstore_verify::types::Bundle;
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::x509::SubjectPublicKeyInfo;

use super::chain::rfc3339;
use super::{KeylessError, TrustedRoot};

/// The checks of this module on a bundle the verifier passed, whose leaf is `leaf` (DER),
/// signed at `t` (seconds since 1970, verified): the checkpoints' keys.
pub(super) fn check(bundle: &Bundle, root: &TrustedRoot, t: i64) -> Result<(), KeylessError> {
    check_checkpoints(bundle, &root.root, t)
}

/// The SCTs of `leaf` (DER), checked before the verifier's checks (as the verifier checked
/// its one SCT before the signature). A leaf no certificate of the root signed is left to
/// the path check, which refuses it naming its issuer.
pub(super) fn check_leaf_scts(
    leaf: &[u8],
    issuers: &super::chain::Issuers,
    root: &TrustedRoot,
) -> Result<(), KeylessError> {
    if issuers.keys.is_empty() {
        return Ok(());
    }
    check_scts(leaf, &issuers.keys, &root.root)
}

fn refused(reason: impl Into<String>) -> KeylessError {
    KeylessError::Refused(reason.into())
}

fn b64(bytes: &[u8]) -> String {
    crate::trust::b64(bytes)
}

/// The hash a key signs with, where its algorithm does not fix it (ECDSA).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Hash {
    Sha256,
    Sha384,
}

/// True if `signature` over `message` verifies with the key of `spki` (DER), ECDSA
/// hashing with `hash`.
fn verifies(spki: &[u8], hash: Hash, message: &[u8], signature: &[u8]) -> bool {
    use ring::signature as s;
    let Ok((_, info)) = SubjectPublicKeyInfo::from_der(spki) else {
        return false;
    };
    let point = info.subject_public_key.data.as_ref();
    let curve = info
        .algorithm
        .parameters
        .as_ref()
        .and_then(|p| p.as_oid().ok())
        .map(|o| o.to_id_string());
    let algorithm: &dyn s::VerificationAlgorithm = match (
        info.algorithm.algorithm.to_id_string().as_str(),
        curve.as_deref(),
        hash,
    ) {
        ("1.2.840.10045.2.1", Some("1.2.840.10045.3.1.7"), Hash::Sha256) => {
            &s::ECDSA_P256_SHA256_ASN1
        }
        ("1.2.840.10045.2.1", Some("1.2.840.10045.3.1.7"), Hash::Sha384) => {
            &s::ECDSA_P256_SHA384_ASN1
        }
        ("1.2.840.10045.2.1", Some("1.3.132.0.34"), Hash::Sha256) => &s::ECDSA_P384_SHA256_ASN1,
        ("1.2.840.10045.2.1", Some("1.3.132.0.34"), Hash::Sha384) => &s::ECDSA_P384_SHA384_ASN1,
        ("1.3.101.112", _, _) => &s::ED25519,
        ("1.2.840.113549.1.1.1", _, Hash::Sha256) => &s::RSA_PKCS1_2048_8192_SHA256,
        ("1.2.840.113549.1.1.1", _, Hash::Sha384) => &s::RSA_PKCS1_2048_8192_SHA384,
        _ => return false,
    };
    s::UnparsedPublicKey::new(algorithm, point)
        .verify(message, signature)
        .is_ok()
}

/// True if a `validFor` window (seconds, inclusive; none: always) holds at `t`.
fn in_window(window: Option<&sigstore_verify::types::TimeRange>, t_ms: i64) -> bool {
    window.is_none_or(|w| {
        w.start.as_millisecond() <= t_ms && w.end.is_none_or(|e| t_ms <= e.as_millisecond())
    })
}

/// Checks the checkpoint of every inclusion proof of `bundle` with the key of the entry's
/// own log, valid at `t` (the verified signing time, seconds since 1970).
pub(super) fn check_checkpoints(
    bundle: &Bundle,
    root: &SigstoreRoot,
    t: i64,
) -> Result<(), KeylessError> {
    for (i, entry) in bundle.verification_material.tlog_entries.iter().enumerate() {
        let Some(proof) = &entry.inclusion_proof else {
            continue;
        };
        let Some(checkpoint) = proof.checkpoint.checkpoint() else {
            continue;
        };
        let log_id = entry.log_id.key_id.as_bytes();
        let keys: Vec<&[u8]> = root
            .tlogs
            .iter()
            .filter(|l| {
                l.log_id.key_id.as_bytes() == log_id
                    && in_window(l.public_key.valid_for.as_ref(), t * 1000)
            })
            .map(|l| l.public_key.raw_bytes.as_bytes())
            .collect();
        if keys.is_empty() {
            return Err(refused(format!(
                "log entry {i}: no log of the trusted root has its log ID {} with a key \
                 valid at {}, so its checkpoint cannot be verified",
                b64(log_id),
                rfc3339(t)
            )));
        }
        let signed = checkpoint.signed_data();
        let verified = checkpoint.signatures().iter().any(|sig| {
            keys.iter()
                .any(|k| verifies(k, Hash::Sha256, signed, sig.signature.as_bytes()))
        });
        if !verified {
            return Err(refused(format!(
                "log entry {i}: the checkpoint is not signed by the key of the entry's log \
                 (log ID {}): a checkpoint verifies only with its own log's key",
                b64(log_id)
            )));
        }
    }
    Ok(())
}

/// The SCT list extension's OID, DER.
const SCT_OID: [u8; 12] = [
    0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04, 0x01, 0xd6, 0x79, 0x02, 0x04, 0x02,
];

/// A DER element's tag, the length of its header and of its content.
fn header(der: &[u8]) -> Option<(u8, usize, usize)> {
    let tag = *der.first()?;
    let first = *der.get(1)?;
    if first < 0x80 {
        return Some((tag, 2, first as usize));
    }
    let n = (first & 0x7f) as usize;
    if n == 0 || n > 3 {
        return None;
    }
    let len = der
        .get(2..2 + n)?
        .iter()
        .fold(0usize, |a, &b| (a << 8) | b as usize);
    Some((tag, 2 + n, len))
}

/// The whole DER elements of `der`, in order.
fn elements(mut der: &[u8]) -> Option<Vec<&[u8]>> {
    let mut out = Vec::new();
    while !der.is_empty() {
        let (_, head, len) = header(der)?;
        let end = head.checked_add(len)?;
        out.push(der.get(..end)?);
        der = &der[end..];
    }
    Some(out)
}

fn content(der: &[u8]) -> Option<&[u8]> {
    let (_, head, len) = header(der)?;
    der.get(head..head + len)
}

fn encode(tag: u8, content: &[u8]) -> Vec<u8> {
    let n = content.len();
    let mut out = vec![tag];
    if n < 0x80 {
        out.push(n as u8);
    } else if n < 0x100 {
        out.extend([0x81, n as u8]);
    } else if n < 0x10000 {
        out.extend([0x82, (n >> 8) as u8, n as u8]);
    } else {
        out.extend([0x83, (n >> 16) as u8, (n >> 8) as u8, n as u8]);
    }
    out.extend_from_slice(content);
    out
}

/// The precertificate's TBS: the leaf's TBS without its SCT list extension.
fn precert_tbs(tbs: &[u8]) -> Option<Vec<u8>> {
    let mut fields = Vec::new();
    for field in elements(content(tbs)?)? {
        if field[0] != 0xa3 {
            fields.extend_from_slice(field);
            continue;
        }
        let extensions = content(content(field)?)?;
        let kept: Vec<u8> = elements(extensions)?
            .into_iter()
            .filter(|e| !content(e).is_some_and(|c| c.starts_with(&SCT_OID)))
            .flatten()
            .copied()
            .collect();
        fields.extend(encode(0xa3, &encode(0x30, &kept)));
    }
    Some(encode(0x30, &fields))
}

/// One SCT of a leaf's list (RFC 6962 3.2, v1).
struct Sct<'a> {
    log_id: &'a [u8],
    timestamp: u64,
    extensions: &'a [u8],
    hash: u8,
    signature_algorithm: u8,
    signature: &'a [u8],
}

/// Reads a TLS `opaque<..2^16-1>` at the start of `b`: its bytes and the rest.
fn opaque16(b: &[u8]) -> Option<(&[u8], &[u8])> {
    let n = u16::from_be_bytes([*b.first()?, *b.get(1)?]) as usize;
    Some((b.get(2..2 + n)?, &b[2 + n..]))
}

fn read_sct(b: &[u8]) -> Option<Sct<'_>> {
    if *b.first()? != 0 {
        return None;
    }
    let log_id = b.get(1..33)?;
    let timestamp = u64::from_be_bytes(b.get(33..41)?.try_into().ok()?);
    let (extensions, rest) = opaque16(b.get(41..)?)?;
    let (&hash, rest) = rest.split_first()?;
    let (&signature_algorithm, rest) = rest.split_first()?;
    let (signature, rest) = opaque16(rest)?;
    rest.is_empty().then_some(Sct {
        log_id,
        timestamp,
        extensions,
        hash,
        signature_algorithm,
        signature,
    })
}

/// The SCTs of a leaf's SCT list extension (its value: an OCTET STRING holding the TLS
/// list), or None if it does not read.
fn read_scts(value: &[u8]) -> Option<Vec<Sct<'_>>> {
    let (tag, _, _) = header(value)?;
    if tag != 0x04 {
        return None;
    }
    let (mut list, rest) = opaque16(content(value)?)?;
    if !rest.is_empty() {
        return None;
    }
    let mut out = Vec::new();
    while !list.is_empty() {
        let (sct, rest) = opaque16(list)?;
        out.push(read_sct(sct)?);
        list = rest;
    }
    Some(out)
}

/// Checks that at least one SCT embedded in `leaf` (DER) verifies with a CT log key of
/// `root` valid at its time, for one of `issuers` (the SubjectPublicKeyInfo, DER, of each
/// certificate of the root that signed the leaf). SCTs of unlisted logs are skipped.
pub(super) fn check_scts(
    leaf: &[u8],
    issuers: &[Vec<u8>],
    root: &SigstoreRoot,
) -> Result<(), KeylessError> {
    let (_, cert) = X509Certificate::from_der(leaf)
        .map_err(|e| refused(format!("the signing certificate does not parse ({e})")))?;
    let Some(ext) = cert
        .extensions()
        .iter()
        .find(|e| e.oid.to_id_string() == "1.3.6.1.4.1.11129.2.4.2")
    else {
        return Err(refused(
            "the signing certificate is missing SCT extension (no signed certificate \
             timestamp embedded, 1.3.6.1.4.1.11129.2.4.2)",
        ));
    };
    let scts = read_scts(ext.value).ok_or_else(|| {
        refused("invalid signed certificate timestamp: the leaf's SCT list does not parse")
    })?;
    let tbs = precert_tbs(cert.tbs_certificate.as_ref()).ok_or_else(|| {
        refused("invalid signed certificate timestamp: the leaf's TBS does not parse")
    })?;
    let mut listed = 0;
    for sct in &scts {
        let Ok(millis) = i64::try_from(sct.timestamp) else {
            continue;
        };
        let keys: Vec<&[u8]> = root
            .ctlogs
            .iter()
            .filter(|l| {
                l.log_id.key_id.as_bytes() == sct.log_id
                    && in_window(l.public_key.valid_for.as_ref(), millis)
            })
            .map(|l| l.public_key.raw_bytes.as_bytes())
            .collect();
        if keys.is_empty() {
            continue;
        }
        listed += 1;
        // TLS SignatureAndHashAlgorithm: hash 4 SHA-256, 5 SHA-384; signature 3 ECDSA,
        // 1 RSA, 7 Ed25519 (hash 8, "intrinsic").
        let hash = match (sct.hash, sct.signature_algorithm) {
            (4, 1 | 3) => Hash::Sha256,
            (5, 1 | 3) => Hash::Sha384,
            (8, 7) => Hash::Sha256,
            _ => continue,
        };
        for issuer in issuers {
            let mut signed = vec![0u8, 0u8];
            signed.extend_from_slice(&sct.timestamp.to_be_bytes());
            signed.extend_from_slice(&[0, 1]);
            signed.extend_from_slice(&crate::hashing::sha256_bytes(issuer));
            signed.extend_from_slice(&(tbs.len() as u32).to_be_bytes()[1..]);
            signed.extend_from_slice(&tbs);
            signed.extend_from_slice(&(sct.extensions.len() as u16).to_be_bytes());
            signed.extend_from_slice(sct.extensions);
            if keys
                .iter()
                .any(|k| verifies(k, hash, &signed, sct.signature))
            {
                return Ok(());
            }
        }
    }
    Err(refused(format!(
        "SCT signature verification failed: none of the {} SCT(s) the signing certificate \
         embeds verifies with a CT log key of the trusted root ({listed} of a listed log \
         valid at its time)",
        scts.len()
    )))
}

/// Checks that a `hashedrekord` entry of `bundle` names a digest its leaf's key may sign:
/// an Ed25519 key's must be SHA-512, and is then refused as not supported (the verifier
/// reads SHA-256 entries only).
pub(super) fn check_digests(bundle: &Bundle, leaf: &[u8]) -> Result<(), KeylessError> {
    let (_, cert) = X509Certificate::from_der(leaf)
        .map_err(|e| refused(format!("the signing certificate does not parse ({e})")))?;
    if cert.public_key().algorithm.algorithm.to_id_string() != "1.3.101.112" {
        return Ok(());
    }
    for (i, entry) in bundle.verification_material.tlog_entries.iter().enumerate() {
        let Ok(body) =
            serde_json::from_slice::<serde_json::Value>(entry.canonicalized_body.as_bytes())
        else {
            continue;
        };
        if body.get("kind").and_then(|k| k.as_str()) != Some("hashedrekord") {
            continue;
        }
        let algorithm = body
            .pointer("/spec/data/hash/algorithm")
            .or_else(|| body.pointer("/spec/hashedRekordV002/data/algorithm"))
            .and_then(|a| a.as_str())
            .unwrap_or("none");
        if !matches!(algorithm, "sha512" | "SHA2_512") {
            return Err(refused(format!(
                "log entry {i}: a hashedrekord entry of an Ed25519 key names a {algorithm} \
                 digest, not in [SHA-512] (Ed25519 signs the message itself, hashed with \
                 SHA-512)"
            )));
        }
        return Err(refused(format!(
            "log entry {i}: a hashedrekord entry of an Ed25519 key (a SHA-512 digest, as \
             Rekor logs it) is not supported: seedforge checks hashedrekord entries of \
             SHA-256 digests only, so an Ed25519 signing key is refused; sign with an ECDSA \
             key (cosign's default)"
        )));
    }
    Ok(())
}
