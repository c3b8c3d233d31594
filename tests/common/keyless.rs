//! A private Sigstore made by the tests (`keyless.py` beside this file, python3 with
//! python3-cryptography): a Fulcio-like CA, a CT log key, a transparency log key and an RFC
//! 6962 tree sign images keyless in a local registry, both as cosign's classic `.sig`
//! (`cosign attach signature --payload --signature --certificate --certificate-chain
//! --rekor-response`) and as a Sigstore bundle v0.3 referrer (`cosign attach signature
//! --bundle`); `cosign trusted-root create` makes its `trusted_root.json`, and `cosign
//! verify --trusted-root` judges what seedforge decides.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::sigstore::{REGISTRY_FLAGS, cosign_cmd};
use super::{Cmd, Output};

/// The identity the private Sigstore signs as by default.
pub const SIGNER: &str = "dev@seedforge.test";
/// The issuer it names by default.
pub const ISSUER: &str = "https://issuer.seedforge.test";

/// How one signature is made: by whom, and what is made wrong.
#[derive(Debug, Clone, Default)]
pub struct Signing {
    /// The SAN (default [`SIGNER`]).
    pub signer: Option<String>,
    /// The issuer (default [`ISSUER`]).
    pub issuer: Option<String>,
    /// `keyless.py`'s `MUTATE`: `chain`, `sct`, `no-sct`, `set`, `proof`, `checkpoint`,
    /// `entry`, the certificate path cases and the leaf's (see `keyless.py`).
    pub mutate: Option<&'static str>,
    /// The digest the signed payload names instead of the image's.
    pub payload_digest: Option<String>,
}

/// A python3 that has `cryptography`: `$SEEDFORGE_KEYLESS_PYTHON`, Debian's
/// `/usr/bin/python3` (python3-cryptography, installed by scripts/test.sh), or `python3`.
/// Missing: fails under `CI=true`, otherwise a skip note and None.
pub fn python() -> Option<PathBuf> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(p) = std::env::var_os("SEEDFORGE_KEYLESS_PYTHON") {
        candidates.push(p.into());
    }
    candidates.push("/usr/bin/python3".into());
    candidates.push("python3".into());
    for python in candidates {
        let ok = std::process::Command::new(&python)
            .args(["-c", "import cryptography.x509"])
            .stdin(std::process::Stdio::null())
            .output()
            .is_ok_and(|o| o.status.success());
        if ok {
            return Some(python);
        }
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!(
            "python3 with cryptography is missing (CI=true); scripts/test.sh installs python3-cryptography"
        );
    }
    eprintln!(
        "SKIP: python3 with cryptography is missing; scripts/test.sh installs python3-cryptography"
    );
    None
}

/// The CA chains the private Sigstore's trusted root lists, each a CA entry: Fulcio's,
/// then those of the certificate path cases of `keyless.py` (an expired intermediate, one
/// that is no CA, one without keyCertSign, a sub-CA under the pathlen:0 intermediate, an
/// intermediate with no path limit, a root listed without its intermediate, one with an
/// unknown critical extension, one for serverAuth only, a version 1 one, and three roots
/// with name constraints, each with its intermediate).
const PATH_CHAINS: [&str; 13] = [
    "fulcio-chain.pem",
    "expired-chain.pem",
    "not-ca-chain.pem",
    "no-certsign-chain.pem",
    "pathlen0-chain.pem",
    "open-chain.pem",
    "cut-chain.pem",
    "critical-chain.pem",
    "eku-server-chain.pem",
    "v1-chain.pem",
    "nc-email-chain.pem",
    "nc-ok-chain.pem",
    "nc-dirname-chain.pem",
];

/// The private Sigstore: its keys and log in a temporary folder, and its trusted root.
pub struct PrivateSigstore {
    /// The python that runs `keyless.py`.
    pub python: PathBuf,
    /// The cosign that attaches and judges.
    pub cosign: PathBuf,
    /// Keys, certificates, the log, the signatures made, cosign's `HOME`.
    pub dir: tempfile::TempDir,
    /// `trusted_root.json`, made by `cosign trusted-root create`.
    pub trusted_root: PathBuf,
    count: std::cell::Cell<usize>,
}

impl PrivateSigstore {
    /// A new one, or None (with a skip note) without python3-cryptography or cosign.
    pub fn new() -> Option<PrivateSigstore> {
        let python = python()?;
        let cosign = super::sigstore::cosign()?;
        let dir = tempfile::Builder::new()
            .prefix("seedforge-sigstore-")
            .tempdir()
            .unwrap();
        let ps = dir.path().join("ps");
        Cmd::new(&python)
            .arg(script())
            .arg("init")
            .arg(&ps)
            .timeout(Duration::from_secs(60))
            .run();
        let trusted_root = dir.path().join("trusted_root.json");
        let file = |name: &str| ps.join(name).display().to_string();
        cosign_cmd(&cosign, &dir.path().join("home"))
            .args([
                "trusted-root",
                "create",
                "--no-default-fulcio",
                "--no-default-rekor",
                "--no-default-ctfe",
                "--no-default-tsa",
            ])
            .args(PATH_CHAINS.iter().flat_map(|chain| {
                [
                    "--fulcio".to_owned(),
                    format!(
                        "url=https://fulcio.seedforge.test,certificate-chain={}",
                        file(chain)
                    ),
                ]
            }))
            .arg("--rekor")
            .arg(format!(
                "url=https://log.seedforge.test,public-key={},start-time=2020-01-01T00:00:00Z",
                file("rekor.pub")
            ))
            // A second log, whose key must not vouch for the first one's entries.
            .arg("--rekor")
            .arg(format!(
                "url=https://log2.seedforge.test,public-key={},start-time=2020-01-01T00:00:00Z",
                file("rekor2.pub")
            ))
            .arg("--ctfe")
            .arg(format!(
                "url=https://ctfe.seedforge.test,public-key={},start-time=2020-01-01T00:00:00Z",
                file("ctfe.pub")
            ))
            .arg("--out")
            .arg(&trusted_root)
            .timeout(Duration::from_secs(60))
            .run();
        Some(PrivateSigstore {
            python,
            cosign,
            dir,
            trusted_root,
            count: std::cell::Cell::new(0),
        })
    }

    /// cosign with this Sigstore's private `HOME`, offline.
    pub fn cosign(&self) -> Cmd {
        cosign_cmd(&self.cosign, &self.dir.path().join("home")).timeout(Duration::from_secs(120))
    }

    fn work(&self) -> PathBuf {
        let n = self.count.get();
        self.count.set(n + 1);
        let dir = self.dir.path().join(format!("sig-{n}"));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn run(&self, how: &Signing, command: &str, file: &Path) {
        let mut cmd = Cmd::new(&self.python)
            .arg(script())
            .arg(command)
            .arg(self.dir.path().join("ps"))
            .arg(file)
            .timeout(Duration::from_secs(60));
        if let Some(s) = &how.signer {
            cmd = cmd.env("ID", s);
        }
        if let Some(i) = &how.issuer {
            cmd = cmd.env("ISSUER", i);
        }
        if let Some(m) = how.mutate {
            cmd = cmd.env("MUTATE", m);
        }
        cmd.run();
    }

    /// Signs `HOST/REPO@DIGEST` with a classic `.sig` (a simple-signing payload, its
    /// certificate and chain, the log entry's SET), attached by cosign.
    pub fn sign_classic(&self, image: &str, how: &Signing) {
        let (repo, digest) = image.split_once('@').unwrap();
        let work = self.work();
        let payload = work.join("payload.json");
        let named = how.payload_digest.as_deref().unwrap_or(digest);
        std::fs::write(
            &payload,
            format!(
                r#"{{"critical":{{"identity":{{"docker-reference":"{repo}"}},"image":{{"docker-manifest-digest":"{named}"}},"type":"cosign container image signature"}},"optional":null}}"#
            ),
        )
        .unwrap();
        self.run(how, "classic", &payload);
        let with = |ext: &str| work.join(format!("payload.json{ext}"));
        self.cosign()
            .args(["attach", "signature", "--payload"])
            .arg(&payload)
            .arg("--signature")
            .arg(with(".sig"))
            .arg("--certificate")
            .arg(with(".cert.pem"))
            .arg("--certificate-chain")
            .arg(with(".chain.pem"))
            .arg("--rekor-response")
            .arg(with(".rekor.json"))
            .args(REGISTRY_FLAGS)
            .arg(image)
            .run();
    }

    /// Signs `HOST/REPO@DIGEST` with a Sigstore bundle v0.3 as cosign 3 does (a DSSE
    /// envelope of an in-toto statement of predicate type
    /// `https://sigstore.dev/cosign/sign/v1` about the digest, its log entry with SET,
    /// inclusion proof and checkpoint), attached by cosign as a referrer.
    pub fn sign_bundle(&self, image: &str, how: &Signing) -> PathBuf {
        let (repo, digest) = image.split_once('@').unwrap();
        let work = self.work();
        let statement = work.join("statement.json");
        let named = how.payload_digest.as_deref().unwrap_or(digest);
        let hex = named.trim_start_matches("sha256:");
        std::fs::write(
            &statement,
            format!(
                r#"{{"_type":"https://in-toto.io/Statement/v1","subject":[{{"name":"{repo}","digest":{{"sha256":"{hex}"}}}}],"predicateType":"https://sigstore.dev/cosign/sign/v1","predicate":{{}}}}"#
            ),
        )
        .unwrap();
        self.run(how, "bundle", &statement);
        let bundle = work.join("statement.json.sigstore.json");
        self.attach_bundle(image, &bundle);
        bundle
    }

    /// Signs the bytes `content` (a message signature; `keyless.py blob`): returns the
    /// file signed and its Sigstore bundle v0.3 (the classic form's files beside it).
    pub fn sign_blob(&self, content: &[u8], how: &Signing) -> (PathBuf, PathBuf) {
        let work = self.work();
        let file = work.join("blob");
        std::fs::write(&file, content).unwrap();
        self.run(how, "blob", &file);
        (file, work.join("blob.sigstore.json"))
    }

    /// `cosign verify-blob --bundle BUNDLE --trusted-root` of `file` for `subject` and the
    /// default issuer, offline, any status.
    pub fn verify_blob(&self, file: &Path, bundle: &Path, subject: &str) -> Output {
        self.cosign()
            .arg("verify-blob")
            .arg("--bundle")
            .arg(bundle)
            .arg("--trusted-root")
            .arg(&self.trusted_root)
            .args(["--certificate-identity", subject])
            .args(["--certificate-oidc-issuer", ISSUER])
            .arg(file)
            .any_status()
            .run()
    }

    /// `cosign attach signature --bundle BUNDLE IMAGE`.
    pub fn attach_bundle(&self, image: &str, bundle: &Path) {
        self.cosign()
            .args(["attach", "signature", "--bundle"])
            .arg(bundle)
            .args(REGISTRY_FLAGS)
            .arg(image)
            .run();
    }

    /// `cosign verify --trusted-root` of `image` for the default identity, any status.
    pub fn verify(&self, image: &str) -> Output {
        self.verify_with(image, &self.trusted_root, "verify")
    }

    /// `cosign VERB` (`verify`, `verify-attestation`) of `image` with `trusted_root` for
    /// the default identity, any status.
    pub fn verify_with(&self, image: &str, trusted_root: &Path, verb: &str) -> Output {
        self.cosign()
            .arg(verb)
            .arg("--trusted-root")
            .arg(trusted_root)
            .args([
                "--certificate-identity",
                SIGNER,
                "--certificate-oidc-issuer",
                ISSUER,
            ])
            .args(REGISTRY_FLAGS)
            .arg(image)
            .any_status()
            .run()
    }
}

/// `tests/common/keyless.py`.
pub fn script() -> PathBuf {
    super::repo_root().join("tests/common/keyless.py")
}

/// sigstore-python's `sigstore` command (PyPI `sigstore`, installed by scripts/test.sh into
/// target/sigstore-py), or `$SEEDFORGE_SIGSTORE_PYTHON`: the second judge of the bundle
/// form. Missing: fails under `CI=true`, otherwise a skip note and None.
pub fn sigstore_python() -> Option<PathBuf> {
    let cli = std::env::var_os("SEEDFORGE_SIGSTORE_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| super::repo_root().join("target/sigstore-py/bin/sigstore"));
    let ok = std::process::Command::new(&cli)
        .arg("--version")
        .stdin(std::process::Stdio::null())
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        return Some(cli);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "sigstore-python is missing at {} (CI=true); scripts/test.sh installs it",
        cli.display()
    );
    eprintln!(
        "SKIP: no sigstore-python at {}; scripts/test.sh installs it",
        cli.display()
    );
    None
}

/// sigstore-python, offline: `sigstore --trust-config` takes a client trust configuration
/// (a trusted root and a signing configuration), so each trusted root it judges with is
/// wrapped in one. The signing configuration names services nothing here reaches; it is
/// never used to verify.
pub struct SigstorePython {
    cli: PathBuf,
    home: tempfile::TempDir,
    isolated: bool,
}

/// What sigstore-python is to check a bundle against.
#[derive(Clone, Copy)]
pub enum Artifact<'a> {
    /// A file's bytes (a message signature over them, or a statement naming their digest).
    File(&'a Path),
    /// A SHA-256 digest, `sha256:HEX`: a DSSE bundle's in-toto statement must name it as a
    /// subject's digest.
    Digest(&'a str),
}

impl SigstorePython {
    /// The judge, or None (failing under `CI=true`) without it.
    pub fn new() -> Option<SigstorePython> {
        let cli = sigstore_python()?;
        let version = Cmd::new(&cli).arg("--version").run();
        eprintln!("judge: {}", version.stdout.trim());
        let isolated = super::network_namespace_usable();
        if !isolated {
            eprintln!("note: no network namespace here; sigstore-python runs --offline only");
        }
        Some(SigstorePython {
            cli,
            home: tempfile::tempdir().unwrap(),
            isolated,
        })
    }

    /// `trusted_root` wrapped in a client trust configuration, written beside the judge's
    /// private `HOME`; returns its path.
    pub fn trust_config(&self, trusted_root: &Path) -> PathBuf {
        let root: serde_json::Value =
            serde_json::from_slice(&std::fs::read(trusted_root).unwrap()).unwrap();
        let service = |url: &str| {
            serde_json::json!({
                "url": url,
                "majorApiVersion": 1,
                "validFor": {"start": "2020-01-01T00:00:00Z"},
                "operator": "seedforge.test",
            })
        };
        let config = serde_json::json!({
            "mediaType": "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json",
            "trustedRoot": root,
            "signingConfig": {
                "mediaType": "application/vnd.dev.sigstore.signingconfig.v0.2+json",
                "caUrls": [service("https://fulcio.seedforge.test")],
                "oidcUrls": [],
                "rekorTlogUrls": [service("https://log.seedforge.test")],
                "tsaUrls": [],
                "rekorTlogConfig": {"selector": "ANY"},
                "tsaConfig": {"selector": "ANY"},
            },
        });
        let n = std::fs::read_dir(self.home.path()).unwrap().count();
        let path = self.home.path().join(format!("trust-config-{n}.json"));
        std::fs::write(&path, serde_json::to_vec(&config).unwrap()).unwrap();
        path
    }

    /// `sigstore --trust-config CONFIG verify identity --offline --bundle BUNDLE
    /// --cert-identity SUBJECT --cert-oidc-issuer ISSUER ARTIFACT`, any status (its reason
    /// on stderr, unwrapped); see [`SigstorePython::verify_all`].
    pub fn verify(
        &self,
        config: &Path,
        bundle: &Path,
        subject: &str,
        issuer: &str,
        artifact: Artifact,
    ) -> Output {
        let check = Check {
            config,
            bundle,
            subject,
            issuer,
            artifact,
        };
        self.verify_all(&[check]).remove(0)
    }

    /// Each check as `sigstore --trust-config CONFIG verify identity --offline --bundle
    /// BUNDLE --cert-identity SUBJECT --cert-oidc-issuer ISSUER ARTIFACT` would make it, in
    /// one interpreter: `sigstore_batch.py` beside this file runs sigstore-python's command
    /// line once for each (starting Python and importing sigstore is most of a run), under
    /// `unshare -n` where a network namespace can be made. Each output in order, any
    /// status.
    pub fn verify_all(&self, checks: &[Check]) -> Vec<Output> {
        let jobs: Vec<Vec<String>> = checks
            .iter()
            .map(|c| {
                let artifact = match c.artifact {
                    Artifact::File(file) => file.display().to_string(),
                    Artifact::Digest(digest) => digest.to_string(),
                };
                vec![
                    "--trust-config".into(),
                    c.config.display().to_string(),
                    "verify".into(),
                    "identity".into(),
                    "--offline".into(),
                    "--bundle".into(),
                    c.bundle.display().to_string(),
                    "--cert-identity".into(),
                    c.subject.into(),
                    "--cert-oidc-issuer".into(),
                    c.issuer.into(),
                    artifact,
                ]
            })
            .collect();
        let jobs_file = self.home.path().join("jobs.json");
        std::fs::write(&jobs_file, serde_json::to_vec(&jobs).unwrap()).unwrap();
        let python = interpreter(&self.cli);
        let driver = super::repo_root().join("tests/common/sigstore_batch.py");
        let cmd = if self.isolated {
            Cmd::new("unshare").arg("-n").arg(&python)
        } else {
            Cmd::new(&python)
        };
        let home = self.home.path().display().to_string();
        let out = cmd
            .arg(&driver)
            .arg(&jobs_file)
            .env("HOME", &home)
            .env("XDG_CACHE_HOME", &format!("{home}/cache"))
            .env("XDG_DATA_HOME", &format!("{home}/data"))
            .env("COLUMNS", "1000")
            .env("HTTPS_PROXY", "http://127.0.0.1:9")
            .env("https_proxy", "http://127.0.0.1:9")
            .timeout(Duration::from_secs(120 + 30 * checks.len() as u64))
            .run();
        let results: Vec<serde_json::Value> = serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("sigstore_batch.py: {e}: {out:?}"));
        assert_eq!(results.len(), checks.len(), "{out:?}");
        checks
            .iter()
            .zip(results)
            .map(|(c, r)| Output {
                what: format!("sigstore verify identity --bundle {}", c.bundle.display()),
                code: r["code"].as_i64().map(|c| c as i32),
                stdout: r["stdout"].as_str().unwrap_or_default().to_string(),
                stderr: r["stderr"].as_str().unwrap_or_default().to_string(),
            })
            .collect()
    }
}

/// One `sigstore verify identity --offline` of [`SigstorePython::verify_all`].
pub struct Check<'a> {
    /// The client trust configuration ([`SigstorePython::trust_config`]).
    pub config: &'a Path,
    /// The Sigstore bundle.
    pub bundle: &'a Path,
    /// The certificate identity (SAN) required.
    pub subject: &'a str,
    /// The OIDC issuer required.
    pub issuer: &'a str,
    /// What the bundle is over.
    pub artifact: Artifact<'a>,
}

/// The Python that runs `cli` (a console script): the interpreter its `#!` line names, or
/// the `python3` beside it.
fn interpreter(cli: &Path) -> PathBuf {
    std::fs::read_to_string(cli)
        .ok()
        .and_then(|text| {
            let first = text.lines().next()?.strip_prefix("#!")?.trim().to_string();
            let path = PathBuf::from(first.split_whitespace().next()?);
            path.is_file().then_some(path)
        })
        .unwrap_or_else(|| cli.with_file_name("python3"))
}
