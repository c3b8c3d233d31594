//! A minimal token service for the distribution registry's bearer-token auth, as test code:
//! an ES256 key and self-signed certificate made with openssl (the registry trusts the
//! certificate through `rootcertbundle`), one JWT granting pull and push on the given
//! repositories, signed with `openssl dgst`, and an HTTP endpoint on 127.0.0.1 that hands
//! it out to clients presenting the right basic credentials, and 401 to everyone else.

use super::Cmd;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The `service` and `issuer` the registry and tokens agree on.
pub const SERVICE: &str = "seedforge-test-registry";
/// The token issuer.
pub const ISSUER: &str = "seedforge-test-token-service";

/// A running token service; stops accepting when dropped.
pub struct TokenServer {
    port: u16,
    stop: Arc<AtomicBool>,
    /// Tokens handed out.
    pub issued: Arc<AtomicUsize>,
    /// The certificate the registry must trust (`rootcertbundle`).
    pub cert: PathBuf,
    /// Holds the key, certificate and token.
    pub dir: tempfile::TempDir,
}

impl TokenServer {
    /// Starts a token service granting `user`/`password` pull and push on `repos`.
    pub fn start(user: &str, password: &str, repos: &[&str]) -> TokenServer {
        let dir = tempfile::Builder::new()
            .prefix("seedforge-token-")
            .tempdir()
            .unwrap();
        let d = dir.path();
        super::registry::openssl_self_signed(d, "token", "/CN=token", 2, false);
        Cmd::new("openssl")
            .cwd(d)
            .args([
                "x509",
                "-in",
                "token.crt",
                "-outform",
                "DER",
                "-out",
                "token.der",
            ])
            .run();
        let token = jwt(d, user, repos);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let issued = Arc::new(AtomicUsize::new(0));
        let expected = format!("basic {}", STANDARD.encode(format!("{user}:{password}")));
        let (stop2, issued2) = (stop.clone(), issued.clone());
        thread::spawn(move || {
            while !stop2.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let _ = answer(stream, &expected, &token, &issued2);
                    }
                    Err(_) => thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        TokenServer {
            port,
            stop,
            issued,
            cert: d.join("token.crt"),
            dir,
        }
    }

    /// The realm URL the registry sends clients to.
    pub fn realm(&self) -> String {
        format!("http://127.0.0.1:{}/token", self.port)
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn answer(
    mut stream: TcpStream,
    expected: &str,
    token: &str,
    issued: &AtomicUsize,
) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte)? == 1 {
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
    let authorized = head
        .lines()
        .any(|l| l.trim() == format!("authorization: {}", expected.to_ascii_lowercase()));
    let (status, body) = if authorized {
        issued.fetch_add(1, Ordering::Relaxed);
        (
            "200 OK",
            format!(r#"{{"token":"{token}","expires_in":3600}}"#),
        )
    } else {
        (
            "401 Unauthorized",
            r#"{"details":"bad credentials"}"#.to_string(),
        )
    };
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// A JWT in the form distribution verifies: ES256, the certificate in `x5c`, the agreed
/// issuer and audience, and an `access` claim for `repos`.
fn jwt(dir: &std::path::Path, user: &str, repos: &[&str]) -> String {
    let der = fs::read(dir.join("token.der")).unwrap();
    let header = serde_json::json!({"typ": "JWT", "alg": "ES256", "x5c": [STANDARD.encode(der)]});
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let access: Vec<_> = repos
        .iter()
        .map(|r| serde_json::json!({"type": "repository", "name": r, "actions": ["pull", "push"]}))
        .collect();
    let claims = serde_json::json!({
        "iss": ISSUER, "sub": user, "aud": SERVICE, "exp": now + 7200, "nbf": now - 60,
        "iat": now - 60, "jti": "seedforge-test", "access": access,
    });
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    fs::write(dir.join("input"), &input).unwrap();
    Cmd::new("openssl")
        .cwd(dir)
        .args([
            "dgst",
            "-sha256",
            "-sign",
            "token.key",
            "-out",
            "sig.der",
            "input",
        ])
        .run();
    let raw = der_to_raw(&fs::read(dir.join("sig.der")).unwrap());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(raw))
}

/// An ECDSA signature from DER (`SEQUENCE { INTEGER r, INTEGER s }`) to the 64-byte r||s
/// that JWS wants.
fn der_to_raw(der: &[u8]) -> Vec<u8> {
    let mut i = 2; // SEQUENCE tag and (short) length
    let mut out = Vec::new();
    for _ in 0..2 {
        assert_eq!(der[i], 0x02, "INTEGER expected");
        let len = der[i + 1] as usize;
        let int = &der[i + 2..i + 2 + len];
        let int = &int[int.len().saturating_sub(32)..];
        out.extend(std::iter::repeat_n(0u8, 32 - int.len()));
        out.extend_from_slice(int);
        i += 2 + len;
    }
    out
}
