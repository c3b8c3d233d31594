//! Keys: public keys read from PEM (`PUBLIC KEY`, a SubjectPublicKeyInfo) and signing keys
//! read from cosign's encrypted key files or plain PEM.
//!
//! Public keys: ECDSA P-256 (cosign's default), Ed25519 and RSA (verify only, PKCS#1 v1.5
//! or PSS with SHA-256 and a 32-byte salt). Signing keys: ECDSA P-256 and Ed25519, from
//!
//! - cosign's encrypted key file (`ENCRYPTED SIGSTORE PRIVATE KEY`, before cosign 2.3
//!   `ENCRYPTED COSIGN PRIVATE KEY`): a JSON document naming the scrypt parameters and
//!   salt that derive a 32-byte key from the password, and the NaCl secretbox
//!   (XSalsa20-Poly1305) nonce and ciphertext that key opens to a PKCS#8 DER private key;
//! - a plain PKCS#8 PEM (`PRIVATE KEY`), or a SEC1 `EC PRIVATE KEY` on P-256.
//!
//! ECDSA signatures (ASN.1 DER, as cosign writes them) are randomised: signing the same
//! message twice gives two different signatures, both valid. Ed25519 signatures are
//! deterministic: one key and one message give the same bytes on every run.
//! [`SigningKey::is_deterministic`] tells which a key makes.
//!
//! No error shows a password or private key bytes; they name the file (or what the caller
//! called the key) and what is wrong.

use std::fmt;
use std::path::Path;

use ring::signature::{self, KeyPair as _};

use crate::input::{self, InputError};

/// The largest key file read (a PEM key is a few hundred bytes; an RSA one a few KiB).
const KEY_FILE_CAP: u64 = 64 * 1024;

/// The scrypt work cosign's own keys use is N = 2^15 (older) or 2^16 with r = 8, p = 1;
/// a file asking for more memory than this (N·r·128 bytes) is refused, not obeyed.
const SCRYPT_MAX_MEMORY: u64 = 512 * 1024 * 1024;
/// The most scrypt lanes (`p`) a key file may ask for.
const SCRYPT_MAX_P: u32 = 16;

/// The PEM labels of cosign's encrypted private keys, newest first.
pub const COSIGN_ENCRYPTED_LABELS: [&str; 2] = [
    "ENCRYPTED SIGSTORE PRIVATE KEY",
    "ENCRYPTED COSIGN PRIVATE KEY",
];

/// The kind of a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyAlgorithm {
    /// ECDSA on NIST P-256 with SHA-256; signatures are ASN.1 DER.
    EcdsaP256,
    /// Ed25519 (pure: the message itself is signed, not its digest).
    Ed25519,
    /// RSA with SHA-256 (PKCS#1 v1.5 or PSS); verification only.
    Rsa,
}

impl KeyAlgorithm {
    /// The name used in messages (`ecdsa-p256`, `ed25519`, `rsa`).
    pub fn name(self) -> &'static str {
        match self {
            KeyAlgorithm::EcdsaP256 => "ecdsa-p256",
            KeyAlgorithm::Ed25519 => "ed25519",
            KeyAlgorithm::Rsa => "rsa",
        }
    }
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a key could not be read or used. `what` is the key file's path, or the name the
/// caller gave an in-memory key; never the password or key material.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The key file could not be read (not a regular file, too large, I/O).
    #[error(transparent)]
    Read(#[from] InputError),
    /// The key is malformed or of a kind not supported.
    #[error("{what}: {reason}")]
    Invalid {
        /// The key file or name.
        what: String,
        /// What is wrong.
        reason: String,
    },
    /// The password does not open the encrypted key.
    #[error("{what}: wrong password: the encrypted private key could not be decrypted with it")]
    WrongPassword {
        /// The key file or name.
        what: String,
    },
    /// The key is encrypted and no password was given.
    #[error("{what}: the private key is encrypted; a password is needed")]
    NeedsPassword {
        /// The key file or name.
        what: String,
    },
    /// Signing failed (ring reported an error; not expected with a valid key).
    #[error("{what}: signing failed")]
    Sign {
        /// The key file or name.
        what: String,
    },
}

fn invalid(what: &str, reason: impl Into<String>) -> KeyError {
    KeyError::Invalid {
        what: what.to_owned(),
        reason: reason.into(),
    }
}

// --- DER: the few structures read here (SubjectPublicKeyInfo, PKCS#8, SEC1) -------------

/// Reads one DER element: (tag, contents, rest). Definite lengths only, up to 4 bytes.
fn der_take(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let mut len = 0usize;
        for &b in &rest[..n] {
            len = (len << 8) | usize::from(b);
        }
        rest = &rest[n..];
        len
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

/// Reads one DER element of the expected tag.
fn der_expect(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (t, contents, rest) = der_take(input)?;
    (t == tag).then_some((contents, rest))
}

/// Writes one DER element.
fn der_write(tag: u8, contents: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = contents.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(contents);
    out
}

const TAG_INTEGER: u8 = 0x02;
const TAG_BIT_STRING: u8 = 0x03;
const TAG_OCTET_STRING: u8 = 0x04;
const TAG_OID: u8 = 0x06;
const TAG_SEQUENCE: u8 = 0x30;

/// 1.2.840.10045.2.1 (id-ecPublicKey).
const OID_EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
/// 1.2.840.10045.3.1.7 (prime256v1, P-256).
const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
/// 1.3.101.112 (Ed25519).
const OID_ED25519: &[u8] = &[0x2b, 0x65, 0x70];
/// 1.2.840.113549.1.1.1 (rsaEncryption).
const OID_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];

/// The algorithm identifier of a SubjectPublicKeyInfo or PKCS#8: (algorithm OID, the
/// parameters' OID if they are one).
fn algorithm_identifier(contents: &[u8]) -> Option<(&[u8], Option<&[u8]>)> {
    let (oid, rest) = der_expect(contents, TAG_OID)?;
    let params = der_expect(rest, TAG_OID).map(|(p, _)| p);
    Some((oid, params))
}

/// The key kind an algorithm identifier names, or why it is not supported.
fn key_kind(oid: &[u8], params: Option<&[u8]>) -> Result<KeyAlgorithm, String> {
    if oid == OID_EC_PUBLIC_KEY {
        if params == Some(OID_P256) {
            Ok(KeyAlgorithm::EcdsaP256)
        } else {
            Err("an ECDSA key on a curve other than P-256 (not supported)".into())
        }
    } else if oid == OID_ED25519 {
        Ok(KeyAlgorithm::Ed25519)
    } else if oid == OID_RSA {
        Ok(KeyAlgorithm::Rsa)
    } else {
        Err("a key of an algorithm not supported (ECDSA P-256, Ed25519 and RSA are)".into())
    }
}

// --- public keys ---------------------------------------------------------------------------

/// A public key that verifies signatures.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    algorithm: KeyAlgorithm,
    /// The whole SubjectPublicKeyInfo, DER.
    spki: Vec<u8>,
    /// The key itself, as ring takes it: the uncompressed point (P-256), the 32 bytes
    /// (Ed25519), the RSAPublicKey DER (RSA).
    raw: Vec<u8>,
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicKey")
            .field("algorithm", &self.algorithm)
            .field("hint", &self.hint())
            .finish()
    }
}

impl PublicKey {
    /// Reads a `PUBLIC KEY` PEM file (cosign's `cosign.pub`, `openssl pkey -pubout`).
    pub fn read(path: &Path) -> Result<PublicKey, KeyError> {
        let bytes = input::read_capped(path, KEY_FILE_CAP, "public key file")?;
        PublicKey::from_pem(&bytes, &path.display().to_string())
    }

    /// Parses the first `PUBLIC KEY` block of a PEM text; `what` names it in errors.
    pub fn from_pem(pem_text: &[u8], what: &str) -> Result<PublicKey, KeyError> {
        let blocks = pem::parse_many(pem_text)
            .map_err(|e| invalid(what, format!("not a PEM file ({e})")))?;
        let block = blocks
            .iter()
            .find(|b| b.tag() == "PUBLIC KEY")
            .ok_or_else(|| match blocks.first() {
                Some(b) => invalid(
                    what,
                    format!("holds a {:?} PEM block, not a PUBLIC KEY", b.tag()),
                ),
                None => invalid(what, "holds no PEM block (-----BEGIN PUBLIC KEY-----)"),
            })?;
        PublicKey::from_spki_der(block.contents(), what)
    }

    /// Parses a DER SubjectPublicKeyInfo.
    pub fn from_spki_der(der: &[u8], what: &str) -> Result<PublicKey, KeyError> {
        let bad = || invalid(what, "not a valid SubjectPublicKeyInfo (DER)");
        let (spki, rest) = der_expect(der, TAG_SEQUENCE).ok_or_else(bad)?;
        if !rest.is_empty() {
            return Err(bad());
        }
        let (alg, rest) = der_expect(spki, TAG_SEQUENCE).ok_or_else(bad)?;
        let (bits, tail) = der_expect(rest, TAG_BIT_STRING).ok_or_else(bad)?;
        if !tail.is_empty() {
            return Err(bad());
        }
        let (oid, params) = algorithm_identifier(alg).ok_or_else(bad)?;
        let algorithm = key_kind(oid, params).map_err(|r| invalid(what, r))?;
        // A BIT STRING's first byte counts its unused bits: a key has none.
        let raw = match bits.split_first() {
            Some((0, raw)) => raw.to_vec(),
            _ => return Err(bad()),
        };
        let well_formed = match algorithm {
            KeyAlgorithm::EcdsaP256 => raw.len() == 65 && raw[0] == 0x04,
            KeyAlgorithm::Ed25519 => raw.len() == 32,
            KeyAlgorithm::Rsa => der_expect(&raw, TAG_SEQUENCE).is_some(),
        };
        if !well_formed {
            return Err(invalid(
                what,
                format!("the {algorithm} public key is malformed"),
            ));
        }
        Ok(PublicKey {
            algorithm,
            spki: der.to_vec(),
            raw,
        })
    }

    /// The key's algorithm.
    pub fn algorithm(&self) -> KeyAlgorithm {
        self.algorithm
    }

    /// The DER SubjectPublicKeyInfo.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki
    }

    /// The key as a `PUBLIC KEY` PEM text (as `cosign.pub` is written).
    pub fn to_pem(&self) -> String {
        pem::encode_config(
            &pem::Pem::new("PUBLIC KEY", self.spki.clone()),
            pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
        )
    }

    /// The key's hint as cosign writes it into a bundle's
    /// `verificationMaterial.publicKey.hint`: the standard base64 of the SHA-256 of the DER
    /// SubjectPublicKeyInfo.
    pub fn hint(&self) -> String {
        super::b64(&crate::hashing::sha256_bytes(&self.spki))
    }

    /// True if `sig` is this key's signature over `msg`: ECDSA over SHA-256 of `msg` (ASN.1
    /// DER, or the 64-byte fixed form), Ed25519 over `msg` itself, RSA PKCS#1 v1.5 or PSS
    /// over SHA-256 of `msg`.
    pub fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        let check = |alg: &'static dyn signature::VerificationAlgorithm| {
            signature::UnparsedPublicKey::new(alg, &self.raw)
                .verify(msg, sig)
                .is_ok()
        };
        match self.algorithm {
            KeyAlgorithm::EcdsaP256 => {
                check(&signature::ECDSA_P256_SHA256_ASN1)
                    || (sig.len() == 64 && check(&signature::ECDSA_P256_SHA256_FIXED))
            }
            KeyAlgorithm::Ed25519 => check(&signature::ED25519),
            KeyAlgorithm::Rsa => {
                check(&signature::RSA_PKCS1_2048_8192_SHA256)
                    || check(&signature::RSA_PSS_2048_8192_SHA256)
            }
        }
    }
}

// --- signing keys --------------------------------------------------------------------------

enum Pair {
    P256(signature::EcdsaKeyPair),
    Ed25519(signature::Ed25519KeyPair),
}

/// A private key that signs: ECDSA P-256 or Ed25519. Its `Debug` shows the public half
/// only.
pub struct SigningKey {
    pair: Pair,
    public: PublicKey,
    /// What the key is called in errors (its file).
    what: String,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("what", &self.what)
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

/// cosign's encrypted key document (the PEM block's contents).
#[derive(serde::Deserialize)]
struct EncryptedKey {
    kdf: Kdf,
    cipher: Cipher,
    ciphertext: String,
}

#[derive(serde::Deserialize)]
struct Kdf {
    name: String,
    params: ScryptParams,
    salt: String,
}

#[derive(serde::Deserialize)]
#[allow(non_snake_case)]
struct ScryptParams {
    N: u64,
    r: u32,
    p: u32,
}

#[derive(serde::Deserialize)]
struct Cipher {
    name: String,
    nonce: String,
}

impl SigningKey {
    /// Reads a private key file: cosign's encrypted key (needs `password`; an empty
    /// password is a password too, as cosign allows), or a plain PKCS#8 / SEC1 PEM (the
    /// password, if any, is not used).
    pub fn read(path: &Path, password: Option<&[u8]>) -> Result<SigningKey, KeyError> {
        let bytes = input::read_capped(path, KEY_FILE_CAP, "private key file")?;
        SigningKey::from_pem(&bytes, password, &path.display().to_string())
    }

    /// Parses a private key PEM text; `what` names it in errors. See [`SigningKey::read`].
    pub fn from_pem(
        pem_text: &[u8],
        password: Option<&[u8]>,
        what: &str,
    ) -> Result<SigningKey, KeyError> {
        let blocks = pem::parse_many(pem_text)
            .map_err(|e| invalid(what, format!("not a PEM file ({e})")))?;
        for block in &blocks {
            let tag = block.tag();
            if COSIGN_ENCRYPTED_LABELS.contains(&tag) {
                let password = password.ok_or_else(|| KeyError::NeedsPassword {
                    what: what.to_owned(),
                })?;
                let mut der = open_cosign_key(block.contents(), password, what)?;
                let key = SigningKey::from_pkcs8_der(&der, what);
                der.fill(0);
                return key;
            }
            match tag {
                "PRIVATE KEY" => return SigningKey::from_pkcs8_der(block.contents(), what),
                "EC PRIVATE KEY" => {
                    let der = sec1_to_pkcs8(block.contents())
                        .ok_or_else(|| invalid(what, "not a valid SEC1 EC private key"))?;
                    return SigningKey::from_pkcs8_der(&der, what);
                }
                "ENCRYPTED PRIVATE KEY" => {
                    return Err(invalid(
                        what,
                        "a PKCS#8 key encrypted by openssl is not supported; \
                         give cosign's encrypted key or an unencrypted PKCS#8 key",
                    ));
                }
                _ => {}
            }
        }
        Err(match blocks.first() {
            Some(b) => invalid(
                what,
                format!("holds a {:?} PEM block, not a private key", b.tag()),
            ),
            None => invalid(what, "holds no PEM block"),
        })
    }

    /// A key from PKCS#8 DER (P-256 or Ed25519; version 1 or 2).
    pub fn from_pkcs8_der(der: &[u8], what: &str) -> Result<SigningKey, KeyError> {
        let bad = || invalid(what, "not a valid PKCS#8 private key");
        let (info, _) = der_expect(der, TAG_SEQUENCE).ok_or_else(bad)?;
        let (_version, rest) = der_expect(info, TAG_INTEGER).ok_or_else(bad)?;
        let (alg, _) = der_expect(rest, TAG_SEQUENCE).ok_or_else(bad)?;
        let (oid, params) = algorithm_identifier(alg).ok_or_else(bad)?;
        let algorithm = key_kind(oid, params).map_err(|r| invalid(what, r))?;
        let pair = match algorithm {
            KeyAlgorithm::EcdsaP256 => Pair::P256(
                signature::EcdsaKeyPair::from_pkcs8(
                    &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
                    der,
                    &ring::rand::SystemRandom::new(),
                )
                .map_err(|e| invalid(what, format!("the P-256 private key is invalid ({e})")))?,
            ),
            KeyAlgorithm::Ed25519 => Pair::Ed25519(
                signature::Ed25519KeyPair::from_pkcs8_maybe_unchecked(der).map_err(|e| {
                    invalid(what, format!("the Ed25519 private key is invalid ({e})"))
                })?,
            ),
            KeyAlgorithm::Rsa => {
                return Err(invalid(
                    what,
                    "RSA private keys are not supported for signing (ECDSA P-256 and Ed25519 are)",
                ));
            }
        };
        let public = match &pair {
            Pair::P256(p) => spki_for(OID_EC_PUBLIC_KEY, Some(OID_P256), p.public_key().as_ref()),
            Pair::Ed25519(p) => spki_for(OID_ED25519, None, p.public_key().as_ref()),
        };
        let public = PublicKey::from_spki_der(&public, what)?;
        Ok(SigningKey {
            pair,
            public,
            what: what.to_owned(),
        })
    }

    /// The public half.
    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    /// The key's algorithm.
    pub fn algorithm(&self) -> KeyAlgorithm {
        self.public.algorithm
    }

    /// True if signing one message twice gives the same bytes (Ed25519); false for ECDSA,
    /// whose signatures take a fresh random nonce each time (each one valid).
    pub fn is_deterministic(&self) -> bool {
        matches!(self.pair, Pair::Ed25519(_))
    }

    /// Signs `msg`: ECDSA P-256 over its SHA-256, ASN.1 DER (as cosign signs), or Ed25519.
    pub fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, KeyError> {
        match &self.pair {
            Pair::P256(p) => p
                .sign(&ring::rand::SystemRandom::new(), msg)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| KeyError::Sign {
                    what: self.what.clone(),
                }),
            Pair::Ed25519(p) => Ok(p.sign(msg).as_ref().to_vec()),
        }
    }
}

/// A DER SubjectPublicKeyInfo for a key.
fn spki_for(oid: &[u8], params: Option<&[u8]>, key: &[u8]) -> Vec<u8> {
    let mut alg = der_write(TAG_OID, oid);
    if let Some(p) = params {
        alg.extend(der_write(TAG_OID, p));
    }
    let mut bits = vec![0u8];
    bits.extend_from_slice(key);
    let mut body = der_write(TAG_SEQUENCE, &alg);
    body.extend(der_write(TAG_BIT_STRING, &bits));
    der_write(TAG_SEQUENCE, &body)
}

/// Wraps a SEC1 `ECPrivateKey` on P-256 into PKCS#8 (ring reads PKCS#8 only). The SEC1
/// key must name P-256 if it names a curve, and carry its public key (ring needs it).
fn sec1_to_pkcs8(sec1: &[u8]) -> Option<Vec<u8>> {
    let (key, _) = der_expect(sec1, TAG_SEQUENCE)?;
    let (_version, rest) = der_expect(key, TAG_INTEGER)?;
    let (_private, mut rest) = der_expect(rest, TAG_OCTET_STRING)?;
    while let Some((tag, contents, tail)) = der_take(rest) {
        if tag == 0xa0 {
            let (curve, _) = der_expect(contents, TAG_OID)?;
            if curve != OID_P256 {
                return None;
            }
        }
        rest = tail;
    }
    let mut alg = der_write(TAG_OID, OID_EC_PUBLIC_KEY);
    alg.extend(der_write(TAG_OID, OID_P256));
    let mut body = der_write(TAG_INTEGER, &[0]);
    body.extend(der_write(TAG_SEQUENCE, &alg));
    body.extend(der_write(TAG_OCTET_STRING, sec1));
    Some(der_write(TAG_SEQUENCE, &body))
}

/// Opens cosign's encrypted key document with the password: scrypt derives the secretbox
/// key; the secretbox opens to the PKCS#8 DER.
fn open_cosign_key(doc: &[u8], password: &[u8], what: &str) -> Result<Vec<u8>, KeyError> {
    use crypto_secretbox::aead::{Aead as _, KeyInit as _};

    let doc: EncryptedKey = serde_json::from_slice(doc).map_err(|e| {
        invalid(
            what,
            format!(
                "the encrypted key's JSON is not cosign's (line {}, column {})",
                e.line(),
                e.column()
            ),
        )
    })?;
    if doc.kdf.name != "scrypt" {
        return Err(invalid(
            what,
            format!(
                "the key derivation {:?} is not supported (scrypt is)",
                doc.kdf.name
            ),
        ));
    }
    if doc.cipher.name != "nacl/secretbox" {
        return Err(invalid(
            what,
            format!(
                "the cipher {:?} is not supported (nacl/secretbox is)",
                doc.cipher.name
            ),
        ));
    }
    let ScryptParams { N: n, r, p } = doc.kdf.params;
    if n < 2 || !n.is_power_of_two() || r == 0 || p == 0 {
        return Err(invalid(what, "the scrypt parameters are invalid"));
    }
    let memory = n.saturating_mul(u64::from(r)).saturating_mul(128);
    if memory > SCRYPT_MAX_MEMORY || p > SCRYPT_MAX_P {
        return Err(invalid(
            what,
            format!(
                "the scrypt parameters (N={n}, r={r}, p={p}) ask for more work than a key file \
                 may (at most {} MiB, p at most {SCRYPT_MAX_P})",
                SCRYPT_MAX_MEMORY >> 20
            ),
        ));
    }
    let salt = super::unb64(&doc.kdf.salt)
        .ok_or_else(|| invalid(what, "the scrypt salt is not base64"))?;
    let nonce = super::unb64(&doc.cipher.nonce)
        .filter(|n| n.len() == 24)
        .ok_or_else(|| invalid(what, "the secretbox nonce is not 24 bytes of base64"))?;
    let ciphertext = super::unb64(&doc.ciphertext)
        .ok_or_else(|| invalid(what, "the ciphertext is not base64"))?;
    let params = scrypt::Params::new(n.trailing_zeros() as u8, r, p)
        .map_err(|_| invalid(what, "the scrypt parameters are invalid"))?;
    let mut key = [0u8; 32];
    scrypt::scrypt(password, &salt, &params, &mut key)
        .map_err(|_| invalid(what, "scrypt failed"))?;
    let cipher = crypto_secretbox::XSalsa20Poly1305::new(&key.into());
    key.fill(0);
    let nonce = crypto_secretbox::Nonce::from_slice(&nonce);
    cipher
        .decrypt(nonce, ciphertext.as_slice())
        .map_err(|_| KeyError::WrongPassword {
            what: what.to_owned(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    const PASSWORD: &[u8] = b"seedforge-test-password";

    fn fixture(name: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/trust")
            .join(name)
    }

    #[test]
    fn cosign_key_opens_with_its_password_and_matches_cosign_pub() {
        let key = SigningKey::read(&fixture("cosign.key"), Some(PASSWORD)).unwrap();
        let public = PublicKey::read(&fixture("cosign.pub")).unwrap();
        assert_eq!(key.public_key(), &public);
        assert_eq!(key.algorithm(), KeyAlgorithm::EcdsaP256);
        assert!(!key.is_deterministic());
        let sig = key.sign(b"message").unwrap();
        assert!(public.verify(b"message", &sig));
        assert!(!public.verify(b"messagf", &sig));
        // Randomised: two signatures of one message differ, both valid.
        let again = key.sign(b"message").unwrap();
        assert_ne!(sig, again);
        assert!(public.verify(b"message", &again));
    }

    #[test]
    fn older_cosign_label_is_read_too() {
        let text = std::fs::read_to_string(fixture("cosign.key")).unwrap();
        let old = text.replace("SIGSTORE", "COSIGN");
        let key = SigningKey::from_pem(old.as_bytes(), Some(PASSWORD), "old.key").unwrap();
        assert_eq!(
            key.public_key(),
            &PublicKey::read(&fixture("cosign.pub")).unwrap()
        );
    }

    #[test]
    fn wrong_password_names_the_file_never_the_password() {
        let path = fixture("cosign.key");
        let err = SigningKey::read(&path, Some(b"not-the-password-x")).unwrap_err();
        assert!(matches!(err, KeyError::WrongPassword { .. }), "{err:?}");
        let msg = err.to_string();
        assert!(msg.contains("cosign.key"), "{msg}");
        assert!(msg.contains("wrong password"), "{msg}");
        assert!(!msg.contains("not-the-password-x"), "{msg}");
        let err = SigningKey::read(&path, None).unwrap_err();
        assert!(matches!(err, KeyError::NeedsPassword { .. }), "{err:?}");
    }

    #[test]
    fn hint_is_what_cosign_writes() {
        // fixtures/trust/blob.bundle was written by `cosign sign-blob --key cosign.key`.
        let public = PublicKey::read(&fixture("cosign.pub")).unwrap();
        let bundle: serde_json::Value =
            serde_json::from_slice(&std::fs::read(fixture("blob.bundle")).unwrap()).unwrap();
        assert_eq!(
            public.hint(),
            bundle["verificationMaterial"]["publicKey"]["hint"]
                .as_str()
                .unwrap()
        );
    }

    #[test]
    fn pkcs8_and_sec1_p256_and_ed25519_from_openssl() {
        for (private, public, alg) in [
            ("p256.pem", "p256.pub", KeyAlgorithm::EcdsaP256),
            ("p256-sec1.pem", "p256.pub", KeyAlgorithm::EcdsaP256),
            ("ed25519.pem", "ed25519.pub", KeyAlgorithm::Ed25519),
        ] {
            let key = SigningKey::read(&fixture(private), None).unwrap();
            let pubkey = PublicKey::read(&fixture(public)).unwrap();
            assert_eq!(key.public_key(), &pubkey, "{private}");
            assert_eq!(key.algorithm(), alg);
            assert_eq!(
                pubkey.to_pem(),
                std::fs::read_to_string(fixture(public)).unwrap()
            );
            let sig = key.sign(b"payload").unwrap();
            assert!(pubkey.verify(b"payload", &sig), "{private}");
            assert!(!pubkey.verify(b"payloaD", &sig), "{private}");
        }
        let ed = SigningKey::read(&fixture("ed25519.pem"), None).unwrap();
        assert!(ed.is_deterministic());
        assert_eq!(ed.sign(b"x").unwrap(), ed.sign(b"x").unwrap());
    }

    #[test]
    fn openssl_signature_verifies() {
        // `openssl dgst -sha256 -sign p256.pem` over blob.txt, made when the test runs if
        // openssl is there: an independent signer.
        if std::process::Command::new("openssl")
            .arg("version")
            .output()
            .is_err()
        {
            return;
        }
        let out = std::process::Command::new("openssl")
            .args(["dgst", "-sha256", "-sign"])
            .arg(fixture("p256.pem"))
            .arg(fixture("blob.txt"))
            .output()
            .unwrap();
        assert!(out.status.success());
        let public = PublicKey::read(&fixture("p256.pub")).unwrap();
        let blob = std::fs::read(fixture("blob.txt")).unwrap();
        assert!(public.verify(&blob, &out.stdout));
        let other = PublicKey::read(&fixture("cosign.pub")).unwrap();
        assert!(!other.verify(&blob, &out.stdout));
    }

    #[test]
    fn rsa_public_keys_verify_pkcs1_and_pss() {
        // `openssl dgst -sha256 -sign` over blob.txt, PKCS#1 v1.5 and PSS (salt: 32 bytes).
        let public = PublicKey::read(&fixture("rsa.pub")).unwrap();
        assert_eq!(public.algorithm(), KeyAlgorithm::Rsa);
        let blob = std::fs::read(fixture("blob.txt")).unwrap();
        for sig in ["blob.txt.rsa.sig", "blob.txt.rsa-pss.sig"] {
            let sig = std::fs::read(fixture(sig)).unwrap();
            assert!(public.verify(&blob, &sig));
            assert!(!public.verify(b"other", &sig));
        }
    }

    #[test]
    fn malformed_keys_are_errors_not_panics() {
        let cases: [&[u8]; 6] = [
            b"",
            b"not pem at all",
            b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
            b"-----BEGIN PUBLIC KEY-----\nMAA=\n-----END PUBLIC KEY-----\n",
            b"-----BEGIN PRIVATE KEY-----\nMAMCAQA=\n-----END PRIVATE KEY-----\n",
            b"-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\ne30=\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n",
        ];
        for case in cases {
            assert!(PublicKey::from_pem(case, "k").is_err());
            assert!(SigningKey::from_pem(case, Some(b"pw"), "k").is_err());
        }
        // Truncated DER at every length never panics.
        let der = PublicKey::read(&fixture("cosign.pub"))
            .unwrap()
            .spki_der()
            .to_vec();
        for n in 0..der.len() {
            assert!(PublicKey::from_spki_der(&der[..n], "k").is_err());
        }
    }

    #[test]
    fn scrypt_work_is_capped() {
        let doc = r#"{"kdf":{"name":"scrypt","params":{"N":4294967296,"r":8,"p":1},"salt":"AAAA"},
            "cipher":{"name":"nacl/secretbox","nonce":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},"ciphertext":"AAAA"}"#;
        let pem_text = pem::encode(&pem::Pem::new(COSIGN_ENCRYPTED_LABELS[0], doc.as_bytes()));
        let err = SigningKey::from_pem(pem_text.as_bytes(), Some(b"pw"), "big.key").unwrap_err();
        assert!(err.to_string().contains("more work"), "{err}");
    }
}
