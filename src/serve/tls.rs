//! The server's TLS: the registry certificate and key the build issued
//! (`OUT/pki/registry.crt`, `OUT/pki/registry.key`), with ring as the one provider.
//! HTTP/1.1 only (ALPN `http/1.1`).

use super::ServeError;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::Path;
use std::sync::Arc;

/// The TLS settings for `out`'s registry certificate and key.
pub(super) fn load(out: &Path) -> Result<rustls::ServerConfig, ServeError> {
    let cert_path = out.join("pki/registry.crt");
    let key_path = out.join("pki/registry.key");
    let bad = |path: &Path, message: String| ServeError::BadTls {
        path: path.to_path_buf(),
        message,
    };
    let read = |path: &Path| {
        crate::input::read_found(path, crate::input::Kind::Text).map_err(|e| {
            bad(
                path,
                format!(
                    "{}; serve uses the registry certificate and key a build writes into OUT/pki (or pass --plain-http)",
                    e.reason()
                ),
            )
        })
    };
    let cert_pem = read(&cert_path)?;
    let key_pem = read(&key_path)?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| bad(&cert_path, format!("not a PEM certificate: {e}")))?;
    if certs.is_empty() {
        return Err(bad(&cert_path, "holds no certificate".into()));
    }
    let key = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|e| bad(&key_path, format!("not a PEM private key: {e}")))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(&cert_path, e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| {
            bad(
                &key_path,
                format!("does not go with {}: {e}", cert_path.display()),
            )
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}
