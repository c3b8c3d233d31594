//! The judges of signatures, bundles and attestations: cosign 3.x and oras 1.x. Debian's
//! release may have neither at those versions, so scripts/test.sh unpacks Debian sid's
//! packages into `target/sid/root` (the machine's packages untouched) and records their
//! versions in `target/sid/versions`; a tool on `PATH` is used when that is absent.

use std::path::PathBuf;

use super::{Cmd, repo_root};

/// The cosign binary: `$SEEDFORGE_COSIGN`, `target/sid/root/usr/bin/cosign` (from
/// scripts/test.sh), or `cosign` on `PATH`. Missing: fails under `CI=true`, otherwise
/// prints a skip note and returns None.
pub fn cosign() -> Option<PathBuf> {
    find("cosign", "SEEDFORGE_COSIGN")
}

/// The oras binary, found as [`cosign`] is (`$SEEDFORGE_ORAS`).
pub fn oras() -> Option<PathBuf> {
    find("oras", "SEEDFORGE_ORAS")
}

/// The Debian package version scripts/test.sh recorded for `tool` (`3.1.1-2`), if any.
pub fn recorded_version(tool: &str) -> Option<String> {
    let versions = std::fs::read_to_string(repo_root().join("target/sid/versions")).ok()?;
    versions.lines().find_map(|line| {
        let (name, version) = line.split_once(' ')?;
        (name == tool).then(|| version.trim().to_owned())
    })
}

/// A `Cmd` for cosign with a private, empty `$HOME` (no cached TUF root, no credentials of
/// the machine's user), and a proxy that refuses every connection for anything but
/// 127.0.0.1 (Go never proxies a loopback address): what cosign does here, it does offline,
/// as on the far side of the gap.
pub fn cosign_cmd(cosign: &std::path::Path, home: &std::path::Path) -> Cmd {
    const DEAD_PROXY: &str = "http://127.0.0.1:9";
    Cmd::new(cosign)
        .env("HOME", &home.display().to_string())
        .env("COSIGN_YES", "true")
        .env("TUF_ROOT", &home.join("tuf").display().to_string())
        .env("HTTPS_PROXY", DEAD_PROXY)
        .env("https_proxy", DEAD_PROXY)
        .env("HTTP_PROXY", DEAD_PROXY)
        .env("http_proxy", DEAD_PROXY)
        .env("NO_PROXY", "")
        .env("no_proxy", "")
}

fn find(name: &str, env: &str) -> Option<PathBuf> {
    let mut candidates = Vec::new();
    if let Some(p) = std::env::var_os(env) {
        candidates.push(PathBuf::from(p));
    }
    candidates.push(repo_root().join("target/sid/root/usr/bin").join(name));
    candidates.push(PathBuf::from(name));
    for tool in candidates {
        let runs = std::process::Command::new(&tool)
            .arg("version")
            .stdin(std::process::Stdio::null())
            .output()
            .is_ok_and(|o| o.status.success());
        if runs {
            return Some(tool);
        }
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!(
            "{name} is not installed (CI=true, so this is a failure); scripts/test.sh fetches it"
        );
    }
    eprintln!("SKIP: {name} is not installed; scripts/test.sh fetches it into target/sid/root");
    None
}

/// A skopeo that checks cosign signatures itself (a `sigstoreSigned` policy rule and
/// `use-sigstore-attachments`): Debian 12's 1.9.3 is built with sigstore disabled, so
/// scripts/test.sh unpacks Debian 13's skopeo 1.18 with the libraries it links against
/// (its C library included) into `target/trixie/root`; it runs through that tree's own
/// dynamic loader, the machine's libraries untouched. `$SEEDFORGE_SKOPEO_SIGSTORE` names
/// another such skopeo (run as it is). Missing: fails under `CI=true`, else None.
pub fn skopeo_sigstore() -> Option<Cmd> {
    if let Some(p) = std::env::var_os("SEEDFORGE_SKOPEO_SIGSTORE") {
        return Some(Cmd::new(PathBuf::from(p)));
    }
    let root = repo_root().join("target/trixie/root");
    let libs = root.join("usr/lib/x86_64-linux-gnu");
    let loader = libs.join("ld-linux-x86-64.so.2");
    let skopeo = root.join("usr/bin/skopeo");
    let runs = std::process::Command::new(&loader)
        .arg("--library-path")
        .arg(&libs)
        .arg(&skopeo)
        .arg("--version")
        .stdin(std::process::Stdio::null())
        .output()
        .is_ok_and(|o| o.status.success());
    if runs {
        return Some(
            Cmd::new(&loader)
                .arg("--library-path")
                .arg(&libs)
                .arg(&skopeo),
        );
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!(
            "skopeo 1.18 (Debian 13) is not in target/trixie/root (CI=true, so this is a failure); scripts/test.sh fetches it"
        );
    }
    eprintln!("SKIP: skopeo 1.18 is not in target/trixie/root; scripts/test.sh fetches it");
    None
}

/// A cosign key pair (`cosign.key` encrypted with `password`, `cosign.pub`) made by
/// `cosign generate-key-pair` in `dir`.
pub fn generate_key_pair(cosign: &std::path::Path, dir: &std::path::Path, password: &str) {
    cosign_cmd(cosign, &dir.join("home"))
        .arg("generate-key-pair")
        .env("COSIGN_PASSWORD", password)
        .cwd(dir)
        .timeout(std::time::Duration::from_secs(60))
        .run();
}

/// Signs `image` (`HOST/REPO@sha256:…` on a plain-HTTP registry) with the key pair
/// [`generate_key_pair`] made in `dir`: a classic `.sig` tag, no transparency log.
pub fn sign_classic(cosign: &std::path::Path, dir: &std::path::Path, password: &str, image: &str) {
    cosign_cmd(cosign, &dir.join("home"))
        .args(["sign", "--key", "cosign.key", "--tlog-upload=false"])
        .args([
            "--use-signing-config=false",
            "--new-bundle-format=false",
            "-y",
        ])
        .args(["--allow-http-registry", "--allow-insecure-registry", image])
        .env("COSIGN_PASSWORD", password)
        .cwd(dir)
        .timeout(std::time::Duration::from_secs(120))
        .run();
}

pub const PASSWORD: &str = "a test key's password";

/// cosign's flags for the tests' plain-HTTP registries.
pub const REGISTRY_FLAGS: [&str; 2] = ["--allow-http-registry", "--allow-insecure-registry"];

/// cosign with a key pair of its own (`cosign generate-key-pair`, [`PASSWORD`]) in a
/// temporary folder, signing and verifying in the tests' plain-HTTP registries.
pub struct Signer {
    /// The cosign binary.
    pub cosign: PathBuf,
    /// Its folder: `cosign.key`, `cosign.pub`, its `HOME`.
    pub dir: tempfile::TempDir,
}

impl Signer {
    /// A new key pair for `cosign`.
    pub fn new(cosign: PathBuf) -> Signer {
        let dir = tempfile::tempdir().unwrap();
        Cmd::new(&cosign)
            .args(["generate-key-pair"])
            .env("COSIGN_PASSWORD", PASSWORD)
            .cwd(dir.path())
            .timeout(std::time::Duration::from_secs(60))
            .run();
        Signer { cosign, dir }
    }

    /// Its `cosign.pub`.
    pub fn public_key(&self) -> PathBuf {
        self.dir.path().join("cosign.pub")
    }

    /// cosign with `args`, in its folder, its password given.
    pub fn cosign(&self, args: &[&str]) -> Cmd {
        cosign_cmd(&self.cosign, &self.dir.path().join("home"))
            .args(args)
            .env("COSIGN_PASSWORD", PASSWORD)
            .cwd(self.dir.path())
            .timeout(std::time::Duration::from_secs(120))
    }

    /// Signs `image` (by digest) without a transparency log: classic `.sig` or a bundle.
    pub fn sign(&self, image: &str, classic: bool) {
        let mut args = vec![
            "sign",
            "--key",
            "cosign.key",
            "--tlog-upload=false",
            "--use-signing-config=false",
            "-y",
        ];
        if classic {
            args.push("--new-bundle-format=false");
        }
        args.extend(REGISTRY_FLAGS);
        args.push(image);
        self.cosign(&args).run();
    }

    /// Attests `image` with a custom predicate, no transparency log.
    pub fn attest(&self, image: &str) {
        std::fs::write(
            self.dir.path().join("predicate.json"),
            r#"{"built":"here"}"#,
        )
        .unwrap();
        self.cosign(&[
            "attest",
            "--key",
            "cosign.key",
            "--tlog-upload=false",
            "--use-signing-config=false",
            "--predicate",
            "predicate.json",
            "--type",
            "custom",
            "-y",
            "--allow-http-registry",
            "--allow-insecure-registry",
            image,
        ])
        .run();
    }

    /// `cosign verify` (or `verify-attestation`) with the public key, no transparency log.
    pub fn verify(&self, what: &str, image: &str) -> super::Output {
        let key = self.public_key();
        let mut args = vec![
            what,
            "--key",
            key.to_str().unwrap(),
            "--insecure-ignore-tlog",
        ];
        if what == "verify-attestation" {
            args.extend(["--type", "custom"]);
        }
        args.extend(REGISTRY_FLAGS);
        args.push(image);
        self.cosign(&args).any_status().run()
    }
}
