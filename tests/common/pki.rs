//! Helpers for the registry PKI tests: run `seedforge pki`, judge certificates with the
//! openssl command line, and serve a build's own `registry/config.yml` with the real
//! distribution registry.

use super::registry::free_port;
use super::{ChildGuard, Cmd, Output};
use std::fs::{self, File};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs `seedforge pki --host HOST --port PORT --out OUT` plus `extra`, checked to exit 0.
pub fn seedforge_pki(out: &Path, host: &str, port: u16, extra: &[&str]) -> Output {
    Cmd::seedforge()
        .args(["pki", "--host", host, "--port"])
        .arg(port.to_string())
        .arg("--out")
        .arg(out)
        .args(extra)
        .run()
}

/// `openssl verify -CAfile CA -verify_ip IP CERT` (any exit status).
pub fn openssl_verify_ip(ca: &Path, cert: &Path, ip: &str) -> Output {
    Cmd::new("openssl")
        .arg("verify")
        .arg("-CAfile")
        .arg(ca)
        .args(["-verify_ip", ip])
        .arg(cert)
        .any_status()
        .run()
}

/// `openssl x509 -noout -text -in CERT`.
pub fn openssl_text(cert: &Path) -> String {
    Cmd::new("openssl")
        .args(["x509", "-noout", "-text", "-in"])
        .arg(cert)
        .run()
        .stdout
}

/// A directory holding only `ca.crt` (a copy of `ca`), as skopeo's cert dirs want.
pub fn cert_dir_with(ca: &Path, dir: &Path) -> PathBuf {
    fs::create_dir_all(dir).unwrap();
    fs::copy(ca, dir.join("ca.crt")).unwrap();
    dir.to_path_buf()
}

/// `docker-registry serve registry/config.yml` run from a build output directory (the
/// config's paths are relative to it); stopped by PID when dropped.
pub struct ServedConfig {
    guard: ChildGuard,
    log: PathBuf,
}

impl ServedConfig {
    /// Starts the registry in `out` and waits until `127.0.0.1:port` accepts connections.
    pub fn start(out: &Path, port: u16) -> ServedConfig {
        let log = out.join("registry/registry.log");
        let log_file = File::create(&log).unwrap();
        let child = Command::new("docker-registry")
            .args(["serve", "registry/config.yml"])
            .current_dir(out)
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().unwrap())
            .stderr(log_file)
            .spawn()
            .expect("start docker-registry");
        let mut served = ServedConfig {
            guard: ChildGuard(Some(child)),
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = served.guard.child().try_wait().unwrap() {
                panic!("docker-registry exited ({status}):\n{}", served.log_text());
            }
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return served;
            }
            if Instant::now() >= deadline {
                served.guard.kill();
                panic!("docker-registry did not listen:\n{}", served.log_text());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// What the registry logged.
    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// A free loopback port (re-exported for the PKI tests).
pub fn port() -> u16 {
    free_port()
}

/// The lab config rewritten for a registry at 127.0.0.1:`port` with `extra` lines added
/// under `registry:`; returns the config path (relative to the lab root).
pub fn lab_config_for_loopback(lab: &super::Lab, port: u16, extra: &str) -> &'static str {
    let path = lab.lab_dir().join("seedforge.yaml");
    let text = fs::read_to_string(&path).unwrap();
    let text = text.replace(
        "registry:\n  host: 192.168.6.1\n  port: 5000\n",
        &format!(
            "registry:\n  host: 127.0.0.1\n  port: {port}\n  storage: {}\n{extra}",
            lab.root().join("registry-storage").display()
        ),
    );
    assert!(
        text.contains("host: 127.0.0.1"),
        "lab config layout changed"
    );
    fs::write(&path, text).unwrap();
    lab.config_arg()
}
