//! The server's TLS: the registry certificate and key the build issued
//! (`OUT/pki/registry.crt`, `OUT/pki/registry.key`), with ring as the one provider.
//! HTTP/1.1 only (ALPN `http/1.1`).

use super::ServeError;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::Path;
use std::sync::Arc;

/// The bytes of `out`'s registry certificate and key.
#[derive(PartialEq, Eq)]
struct Pem {
    cert: Vec<u8>,
    key: Vec<u8>,
}

fn bad(path: &Path, message: String) -> ServeError {
    ServeError::BadTls {
        path: path.to_path_buf(),
        message,
    }
}

/// Reads `out`'s registry certificate and key.
fn read(out: &Path) -> Result<Pem, ServeError> {
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
    Ok(Pem {
        cert: read(&out.join("pki/registry.crt"))?,
        key: read(&out.join("pki/registry.key"))?,
    })
}

/// The TLS settings of the certificate and key `pem` (read from `out`).
fn config(out: &Path, pem: &Pem) -> Result<rustls::ServerConfig, ServeError> {
    let cert_path = out.join("pki/registry.crt");
    let key_path = out.join("pki/registry.key");
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem.cert)
        .collect::<Result<_, _>>()
        .map_err(|e| bad(&cert_path, format!("not a PEM certificate: {e}")))?;
    if certs.is_empty() {
        return Err(bad(&cert_path, "holds no certificate".into()));
    }
    let key = PrivateKeyDer::from_pem_slice(&pem.key)
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
/// certificate is served from the next connection on, without a restart. Files replaced by
/// others of the same bytes (an `apply` replaces `OUT` whole) keep the settings in use,
/// unannounced. A pair that cannot be read or does not go together (a build between
/// writing the two) keeps the settings in use, with a warning.
pub(super) struct Certs {
    out: std::path::PathBuf,
    current: std::sync::Mutex<Current>,
}

/// The settings in use, the identity of the files they were checked against last and the
/// bytes they were made from.
struct Current {
    identity: Option<Identity>,
    pem: Pem,
    acceptor: tokio_rustls::TlsAcceptor,
}

/// What [`Certs::refresh`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refresh {
    /// The files are the ones checked last.
    Same,
    /// Other files, the same bytes: the settings in use are kept.
    SameBytes,
    /// A new certificate or key, served from now on.
    Reloaded,
    /// Other files that cannot be used: the settings in use are kept.
    Kept,
}

impl Certs {
    /// Loads `out`'s certificate and key; an error names the file at fault.
    pub fn load(out: &Path) -> Result<Certs, ServeError> {
        let identity = Identity::of(out);
        let pem = read(out)?;
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config(out, &pem)?));
        Ok(Certs {
            out: out.to_path_buf(),
            current: std::sync::Mutex::new(Current {
                identity,
                pem,
                acceptor,
            }),
        })
    }

    /// The settings for a new connection: the files' identities are compared (two
    /// `stat`s), and read again only when they changed.
    pub fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        self.refresh().1
    }

    fn refresh(&self) -> (Refresh, tokio_rustls::TlsAcceptor) {
        let now = Identity::of(&self.out);
        let mut current = self
            .current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if now.is_none() || now == current.identity {
            return (Refresh::Same, current.acceptor.clone());
        }
        current.identity = now;
        let done = match read(&self.out) {
            Ok(pem) if pem == current.pem => Refresh::SameBytes,
            Ok(pem) => match config(&self.out, &pem) {
                Ok(config) => {
                    tracing::info!(
                        "{}: a new certificate or key; serving it from now on",
                        self.out.join("pki").display()
                    );
                    current.acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
                    current.pem = pem;
                    Refresh::Reloaded
                }
                Err(e) => {
                    tracing::warn!("{e}; the certificate in use is kept");
                    Refresh::Kept
                }
            },
            Err(e) => {
                tracing::warn!("{e}; the certificate in use is kept");
                Refresh::Kept
            }
        };
        (done, current.acceptor.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_pair(out: &Path, name: &str) -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec![name.to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let pair = (cert.pem(), key.serialize_pem());
        replace(out, &pair);
        pair
    }

    /// Writes the pair through new files renamed over the old ones, as a build or an
    /// apply's exchange gives them: new inodes.
    fn replace(out: &Path, (cert, key): &(String, String)) {
        let pki = out.join("pki");
        std::fs::create_dir_all(&pki).unwrap();
        for (name, text) in [("registry.crt", cert), ("registry.key", key)] {
            let tmp = pki.join(format!("{name}.new"));
            std::fs::write(&tmp, text).unwrap();
            std::fs::rename(&tmp, pki.join(name)).unwrap();
        }
    }

    #[test]
    fn only_new_bytes_reload_the_certificate() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path();
        let pair = write_pair(out, "registry.lab");
        let certs = Certs::load(out).unwrap();
        assert_eq!(certs.refresh().0, Refresh::Same);
        // Other files of the same bytes (an apply that changed no certificate).
        replace(out, &pair);
        assert_eq!(certs.refresh().0, Refresh::SameBytes);
        assert_eq!(certs.refresh().0, Refresh::Same);
        // A new certificate.
        write_pair(out, "registry.lab");
        assert_eq!(certs.refresh().0, Refresh::Reloaded);
        assert_eq!(certs.refresh().0, Refresh::Same);
        // A key that does not go with the certificate: the one in use is kept.
        let other = write_pair(tempfile::tempdir().unwrap().path(), "x");
        let cert = std::fs::read_to_string(out.join("pki/registry.crt")).unwrap();
        replace(out, &(cert, other.1));
        assert_eq!(certs.refresh().0, Refresh::Kept);
    }
}
