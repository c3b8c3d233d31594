//! The sigstore verifier's crypto on ring, the project's one crypto provider: hashing and
//! signature verification. Nothing signs or generates keys.
//!
//! ring verifies over whole messages only, while the verifier checks a message signature
//! over the message's digest (it hashes the artifact once for every use). So the message
//! is put in scope for the check ([`with_message`]), and a signature over a digest is
//! verified by ring over the message in scope whose digest it is, and refused when there is
//! none: the same check, made over the bytes.

use sigstore_verify::crypto::provider::{CryptoProvider, HashContext, install_default_provider};
use sigstore_verify::crypto::{Error, Result, SigningScheme};
use sigstore_verify::types::HashAlgorithm;

use ring::digest;
use ring::signature::{self, UnparsedPublicKey, VerificationAlgorithm};

#[derive(Debug)]
struct RingProvider;

static RING_PROVIDER: RingProvider = RingProvider;

/// Installs the ring provider as the verifier's, once per process (a second call, or a
/// provider installed before, leaves it as it is: the verifier has one process-wide slot).
pub(super) fn install() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = install_default_provider(&RING_PROVIDER);
    });
}

thread_local! {
    /// The message in scope on this thread, if any (see [`with_message`]).
    static MESSAGE: std::cell::RefCell<Option<Vec<u8>>> = const { std::cell::RefCell::new(None) };
}

/// Runs `f` with `message` in scope for signatures over its digest.
pub(super) fn with_message<R>(message: &[u8], f: impl FnOnce() -> R) -> R {
    struct Clear;
    impl Drop for Clear {
        fn drop(&mut self) {
            MESSAGE.with(|m| m.borrow_mut().take());
        }
    }
    MESSAGE.with(|m| *m.borrow_mut() = Some(message.to_vec()));
    let _clear = Clear;
    f()
}

fn digest_of(algorithm: HashAlgorithm, message: &[u8]) -> Option<Vec<u8>> {
    let algorithm = match algorithm {
        HashAlgorithm::Sha2256 => &digest::SHA256,
        HashAlgorithm::Sha2384 => &digest::SHA384,
        HashAlgorithm::Sha2512 => &digest::SHA512,
        _ => return None,
    };
    Some(digest::digest(algorithm, message).as_ref().to_vec())
}

struct RingHash(digest::Context);

impl HashContext for RingHash {
    fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }

    fn finalize(self: Box<Self>) -> Vec<u8> {
        self.0.finish().as_ref().to_vec()
    }
}

fn algorithm(scheme: SigningScheme) -> Option<&'static dyn VerificationAlgorithm> {
    Some(match scheme {
        SigningScheme::EcdsaP256Sha256 => &signature::ECDSA_P256_SHA256_ASN1,
        SigningScheme::EcdsaP256Sha384 => &signature::ECDSA_P256_SHA384_ASN1,
        SigningScheme::EcdsaP384Sha256 => &signature::ECDSA_P384_SHA256_ASN1,
        SigningScheme::EcdsaP384Sha384 => &signature::ECDSA_P384_SHA384_ASN1,
        SigningScheme::Ed25519 => &signature::ED25519,
        SigningScheme::RsaPssSha256 => &signature::RSA_PSS_2048_8192_SHA256,
        SigningScheme::RsaPssSha384 => &signature::RSA_PSS_2048_8192_SHA384,
        SigningScheme::RsaPssSha512 => &signature::RSA_PSS_2048_8192_SHA512,
        SigningScheme::RsaPkcs1Sha256 => &signature::RSA_PKCS1_2048_8192_SHA256,
        SigningScheme::RsaPkcs1Sha384 => &signature::RSA_PKCS1_2048_8192_SHA384,
        SigningScheme::RsaPkcs1Sha512 => &signature::RSA_PKCS1_2048_8192_SHA512,
        _ => return None,
    })
}

impl CryptoProvider for RingProvider {
    fn hash(&self, algorithm: HashAlgorithm) -> Result<Box<dyn HashContext>> {
        let algorithm = match algorithm {
            HashAlgorithm::Sha2256 => &digest::SHA256,
            HashAlgorithm::Sha2384 => &digest::SHA384,
            HashAlgorithm::Sha2512 => &digest::SHA512,
            other => return Err(Error::UnsupportedAlgorithm(format!("{other:?}"))),
        };
        Ok(Box::new(RingHash(digest::Context::new(algorithm))))
    }

    fn verify_raw(
        &self,
        scheme: SigningScheme,
        spki_pubkey_bytes: &[u8],
        data: &[u8],
        signature: &[u8],
    ) -> Result<()> {
        let Some(algorithm) = algorithm(scheme) else {
            return Err(Error::UnsupportedAlgorithm(format!("{scheme:?}")));
        };
        UnparsedPublicKey::new(algorithm, spki_pubkey_bytes)
            .verify(data, signature)
            .map_err(|_| Error::Verification(format!("{} signature invalid", scheme.name())))
    }

    fn verify_prehashed(
        &self,
        scheme: SigningScheme,
        spki_pubkey_bytes: &[u8],
        digest: &[u8],
        signature: &[u8],
    ) -> Result<()> {
        let message = MESSAGE.with(|m| m.borrow().clone());
        match (message, scheme.hash_algorithm()) {
            (Some(message), Some(algorithm))
                if digest_of(algorithm, &message).as_deref() == Some(digest) =>
            {
                self.verify_raw(scheme, spki_pubkey_bytes, &message, signature)
            }
            _ => Err(Error::UnsupportedAlgorithm(format!(
                "{} over a digest whose message is not at hand",
                scheme.name()
            ))),
        }
    }
}
