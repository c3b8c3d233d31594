//! A real distribution registry (Debian's `docker-registry`) on 127.0.0.1 for the tests,
//! in three setups: plain HTTP, TLS, and TLS with htpasswd basic auth; plus a throwaway
//! test CA made with the openssl command line (independent of seedforge's own PKI code),
//! and skopeo helpers to fill a registry with the fixture images.

use super::{ChildGuard, Cmd};
use std::fs::{self, File};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// How a test registry is reached.
#[derive(Debug, Clone, Default)]
pub struct RegistryOptions {
    /// Serve TLS with this certificate and key (PEM files).
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Require basic auth with this user and password (needs `tls`).
    pub basic_auth: Option<(String, String)>,
    /// Require bearer tokens from this realm, signed by the key of this certificate.
    pub token: Option<(String, PathBuf)>,
}

/// A running registry; stopped by PID when dropped, its storage deleted.
pub struct Registry {
    guard: ChildGuard,
    port: u16,
    log: PathBuf,
    tls: bool,
    /// Config, storage and log of this registry.
    pub dir: tempfile::TempDir,
}

/// A free TCP port on 127.0.0.1 (bound, then released for the server to take).
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().unwrap().port()
}

impl Registry {
    /// How long the registry may take to listen.
    pub const START_TIMEOUT: Duration = Duration::from_secs(15);

    /// A plain-HTTP registry.
    pub fn start_plain() -> Registry {
        Registry::start(&RegistryOptions::default())
    }

    /// Starts `docker-registry serve` on a free loopback port and waits until it answers.
    pub fn start(options: &RegistryOptions) -> Registry {
        let dir = tempfile::Builder::new()
            .prefix("seedforge-registry-")
            .tempdir()
            .expect("tempdir");
        let d = dir.path();
        let port = free_port();
        let mut config = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
            d.join("storage").display()
        );
        if let Some((cert, key)) = &options.tls {
            config.push_str(&format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                cert.display(),
                key.display()
            ));
        }
        if let Some((user, password)) = &options.basic_auth {
            assert!(options.tls.is_some(), "htpasswd auth needs TLS");
            let htpasswd = d.join("htpasswd");
            // distribution accepts only bcrypt entries.
            let hash = bcrypt::hash(password, 4).expect("bcrypt");
            fs::write(&htpasswd, format!("{user}:{hash}\n")).unwrap();
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: seedforge-test\n    path: {}\n",
                htpasswd.display()
            ));
        }
        if let Some((realm, cert)) = &options.token {
            config.push_str(&format!(
                "auth:\n  token:\n    realm: {realm}\n    service: {}\n    issuer: {}\n    rootcertbundle: {}\n",
                super::token::SERVICE,
                super::token::ISSUER,
                cert.display()
            ));
        }
        let config_path = d.join("config.yml");
        fs::write(&config_path, config).unwrap();
        let log = d.join("registry.log");
        let log_file = File::create(&log).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().unwrap())
            .stderr(log_file)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start docker-registry: {e}"));
        let mut registry = Registry {
            guard: ChildGuard(Some(child)),
            port,
            log,
            tls: options.tls.is_some(),
            dir,
        };
        let deadline = Instant::now() + Self::START_TIMEOUT;
        loop {
            if let Some(status) = registry.guard.child().try_wait().expect("try_wait") {
                panic!(
                    "docker-registry exited early ({status}):\n{}",
                    registry.log_text()
                );
            }
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return registry;
            }
            if Instant::now() >= deadline {
                registry.guard.kill();
                panic!(
                    "docker-registry did not listen on 127.0.0.1:{port} within {:?}:\n{}",
                    Self::START_TIMEOUT,
                    registry.log_text()
                );
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT` or `https://…`.
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.host())
    }

    /// What the registry logged so far.
    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Stops the registry now (by PID).
    pub fn stop(&mut self) {
        self.guard.kill();
    }
}

/// A CA and a server certificate for 127.0.0.1/localhost/registry.test, made with openssl for the tests.
pub struct TestCa {
    /// The CA certificate (PEM).
    pub ca_cert: PathBuf,
    /// The server certificate (PEM), SANs IP:127.0.0.1, DNS:localhost and DNS:registry.test
    /// (a name that resolves nowhere, reached through a proxy: see `proxy::ForwardProxy`).
    pub server_cert: PathBuf,
    /// The server key (PEM).
    pub server_key: PathBuf,
    /// Holds the files.
    pub dir: tempfile::TempDir,
}

impl TestCa {
    /// Makes a fresh CA and a server certificate signed by it.
    pub fn new() -> TestCa {
        let dir = tempfile::Builder::new()
            .prefix("seedforge-testca-")
            .tempdir()
            .expect("tempdir");
        let d = dir.path();
        let p = |name: &str| d.join(name);
        let openssl = || Cmd::new("openssl").cwd(d);
        openssl_self_signed(d, "ca", "/CN=seedforge test CA", 2, true);
        openssl()
            .args([
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
                "-subj",
                "/CN=127.0.0.1",
            ])
            .run();
        fs::write(
            p("ext.cnf"),
            "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost,DNS:registry.test\n",
        )
        .unwrap();
        openssl()
            .args([
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "server.crt",
                "-days",
                "2",
                "-extfile",
                "ext.cnf",
            ])
            .run();
        TestCa {
            ca_cert: p("ca.crt"),
            server_cert: p("server.crt"),
            server_key: p("server.key"),
            dir,
        }
    }

    /// A directory holding only `ca.crt`, as skopeo's `--cert-dir`/`--dest-cert-dir` wants.
    pub fn cert_dir(&self) -> PathBuf {
        let dir = self.dir.path().join("certs.d");
        fs::create_dir_all(&dir).unwrap();
        fs::copy(&self.ca_cert, dir.join("ca.crt")).unwrap();
        dir
    }
}

/// Makes `DIR/NAME.crt` and `DIR/NAME.key` (EC P-256, PKCS#8) with openssl: a self-signed
/// certificate for `subject`, valid `days`, with CA extensions when `ca`.
pub fn openssl_self_signed(
    dir: &Path,
    name: &str,
    subject: &str,
    days: u32,
    ca: bool,
) -> (PathBuf, PathBuf) {
    let (crt, key) = (format!("{name}.crt"), format!("{name}.key"));
    let days = days.to_string();
    let mut cmd = Cmd::new("openssl").cwd(dir).args([
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        &key,
        "-out",
        &crt,
        "-days",
        &days,
        "-subj",
        subject,
    ]);
    if ca {
        cmd = cmd.args([
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ]);
    }
    cmd.run();
    (dir.join(crt), dir.join(key))
}

/// `skopeo copy [--all] SOURCE docker://HOST/REPO:TAG` into a plain or TLS registry, without
/// checking TLS (the tests' registries use self-signed CAs).
pub fn skopeo_push(source: &str, registry: &Registry, repo_tag: &str, all: bool) {
    let mut cmd = Cmd::new("skopeo").args(["copy", "--quiet", "--dest-tls-verify=false"]);
    if all {
        cmd = cmd.arg("--all");
    }
    cmd.arg(source)
        .arg(format!("docker://{}/{repo_tag}", registry.host()))
        .timeout(Duration::from_secs(120))
        .run();
}

/// `skopeo inspect --raw docker://HOST/REPO:TAG`'s sha256 (the manifest digest as stored).
pub fn skopeo_raw_digest(registry: &Registry, repo_tag: &str) -> String {
    let out = Cmd::new("skopeo")
        .args(["inspect", "--raw", "--tls-verify=false"])
        .arg(format!("docker://{}/{repo_tag}", registry.host()))
        .timeout(Duration::from_secs(60))
        .run();
    format!("sha256:{}", super::sha256_bytes(out.stdout.as_bytes()))
}

/// The fixture OCI layout shipped in `fixtures/images/oci`.
pub fn fixture_layout() -> PathBuf {
    super::repo_root().join("fixtures/images/oci")
}

/// True if `path` exists (helper for readable asserts).
pub fn exists(path: &Path) -> bool {
    path.exists()
}
