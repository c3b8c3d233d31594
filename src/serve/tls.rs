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

/// Which certificate and key files a TLS setting was made from: a build that issues a new
/// certificate (or an `apply` that replaces `OUT`) gives other files, or the same files
/// changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Identity([(u64, u64, u64, i64, i64, i64, i64); 2]);

impl Identity {
    fn of(out: &Path) -> Option<Identity> {
        use std::os::unix::fs::MetadataExt as _;
        let one = |name: &str| {
            let m = std::fs::metadata(out.join(name)).ok()?;
            Some((
                m.dev(),
                m.ino(),
                m.len(),
                m.mtime(),
                m.mtime_nsec(),
                m.ctime(),
                m.ctime_nsec(),
            ))
        };
        Some(Identity([
            one("pki/registry.crt")?,
            one("pki/registry.key")?,
        ]))
    }
}

/// The TLS settings of `OUT` as it is when each connection comes: the certificate and key
/// are read again when their files change, so that a build or `apply` that issues a new
/// certificate is served from the next connection on, without a restart. A pair that
/// cannot be read or does not go together (a build between writing the two) keeps the
/// settings in use, with a warning.
pub(super) struct Certs {
    out: std::path::PathBuf,
    current: std::sync::Mutex<(Option<Identity>, tokio_rustls::TlsAcceptor)>,
}

impl Certs {
    /// Loads `out`'s certificate and key; an error names the file at fault.
    pub fn load(out: &Path) -> Result<Certs, ServeError> {
        let identity = Identity::of(out);
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(load(out)?));
        Ok(Certs {
            out: out.to_path_buf(),
            current: std::sync::Mutex::new((identity, acceptor)),
        })
    }

    /// The settings for a new connection: the files' identities are compared (two
    /// `stat`s), and read again only when they changed.
    pub fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        let now = Identity::of(&self.out);
        let mut current = self
            .current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if now.is_some() && now != current.0 {
            match load(&self.out) {
                Ok(config) => {
                    tracing::info!(
                        "{}: a new certificate or key; serving it from now on",
                        self.out.join("pki").display()
                    );
                    *current = (now, tokio_rustls::TlsAcceptor::from(Arc::new(config)));
                }
                Err(e) => {
                    tracing::warn!("{e}; the certificate in use is kept");
                    current.0 = now;
                }
            }
        }
        current.1.clone()
    }
}
