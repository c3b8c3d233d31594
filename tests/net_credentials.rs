//! Credentials and trust on the one network client.
//!
//! - Credentials reach only the registry they are for: two logging registries on
//!   127.0.0.1 that ask for basic auth; `--username A=bob`, a Docker credential helper
//!   (`docker-credential-test` on PATH), a podman `--authfile`: A sees them, B never does,
//!   and no secret is printed. `--username bob` with two registries is exit 2.
//! - One trust for every download: an https apt repository and an https `files:` URL
//!   served with a test CA are refused (naming the certificate and `--ca-file`) until
//!   `--ca-file` or `SSL_CERT_FILE` names the CA.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use crate::common;

use base64::Engine as _;
use common::misbehave::{Answer, Server};
use common::registry::TestCa;
use common::{Cmd, Lab, require_tool, sha256_bytes};
use std::fs;
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::Stdio;

/// A registry that asks for basic auth on everything and logs what it is sent.
fn challenging_registry() -> Server {
    Server::start(|_, _| Answer::Full {
        status: 401,
        headers: vec![("WWW-Authenticate".into(), "Basic realm=\"test\"".into())],
        body: b"{\"errors\":[{\"code\":\"UNAUTHORIZED\"}]}".to_vec(),
    })
}

/// The `Authorization` values `server` received.
fn authorizations(server: &Server) -> Vec<String> {
    server
        .seen
        .heads
        .lock()
        .unwrap()
        .iter()
        .flat_map(|h| {
            h.lines()
                .filter_map(|l| l.split_once(':'))
                .filter(|(k, _)| k.eq_ignore_ascii_case("authorization"))
                .map(|(_, v)| v.trim().to_string())
                .collect::<Vec<_>>()
        })
        .collect()
}

fn basic(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

/// `mirror` of one image from each of `a` and `b`, both plain HTTP, every image tried.
fn mirror_both(a: &Server, b: &Server, work: &Path) -> Cmd {
    let list = work.join("images.txt");
    fs::write(
        &list,
        format!(
            "docker://{}/lib/a:1.0\ndocker://{}/lib/b:1.0\n",
            a.host(),
            b.host()
        ),
    )
    .unwrap();
    let cmd = Cmd::seedforge()
        .args(["mirror", "--keep-going", "--images"])
        .arg(&list)
        .arg("--layout")
        .arg(work.join("oci"))
        .args(["--platform", "linux/amd64"])
        .args(["--plain-http", &a.host()])
        .args(["--plain-http", &b.host()])
        .any_status();
    // No credentials of the machine's own user take part.
    crate::auth_files::without_user_credentials(cmd, work)
}

fn assert_no_secret(out: &common::Output, secret: &str) {
    assert!(
        !out.stdout.contains(secret) && !out.stderr.contains(secret),
        "the secret is shown:\n{}\n{}",
        out.stdout,
        out.stderr
    );
}

#[test]
fn command_line_credentials_reach_only_their_registry() {
    let (a, b) = (challenging_registry(), challenging_registry());
    let work = tempfile::tempdir().unwrap();
    let out = mirror_both(&a, &b, work.path())
        .args([
            "--username",
            &format!("{}=bob", a.host()),
            "--password-stdin",
        ])
        .spawn_with_stdin_bytes(b"pa55-word\n")
        .wait();
    assert!(matches!(out.code, Some(1 | 2)), "{out:?}");
    assert!(out.stderr.contains("refused access"), "{}", out.stderr);
    assert!(
        authorizations(&a).contains(&basic("bob", "pa55-word")),
        "A never got bob's credentials: {:?}",
        authorizations(&a)
    );
    assert!(!b.requests().is_empty(), "B was never asked");
    assert_eq!(
        authorizations(&b),
        Vec::<String>::new(),
        "B got credentials"
    );
    assert_no_secret(&out, "pa55-word");

    // A user without a host is refused when the images come from two registries.
    let out = mirror_both(&a, &b, work.path())
        .args(["--username", "bob", "--password-stdin"])
        .spawn_with_stdin_bytes(b"pa55-word\n")
        .wait();
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    for host in [a.host(), b.host()] {
        assert!(out.stderr.contains(&host), "{}", out.stderr);
    }
    assert!(out.stderr.contains("--username HOST=bob"), "{}", out.stderr);
}

#[test]
fn a_docker_credential_helper_answers_for_its_host_only() {
    let (a, b) = (challenging_registry(), challenging_registry());
    let work = tempfile::tempdir().unwrap();
    let bin = work.path().join("bin");
    fs::create_dir(&bin).unwrap();
    let helper = bin.join("docker-credential-test");
    // It answers only for A's host, as a real helper keyed by server does.
    fs::write(
        &helper,
        format!(
            "#!/bin/sh\nread server\n[ \"$1\" = get ] || exit 3\n[ \"$server\" = \"{}\" ] || exit 1\necho '{{\"Username\":\"helperuser\",\"Secret\":\"helper-s3cret\"}}'\n",
            a.host()
        ),
    )
    .unwrap();
    fs::set_permissions(&helper, fs::Permissions::from_mode(0o755)).unwrap();
    let docker = work.path().join("docker");
    fs::create_dir(&docker).unwrap();
    fs::write(
        docker.join("config.json"),
        format!(r#"{{"credHelpers":{{"{}":"test"}}}}"#, a.host()),
    )
    .unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let out = mirror_both(&a, &b, work.path())
        .env("DOCKER_CONFIG", docker.to_str().unwrap())
        .env("PATH", &path)
        .run();
    assert!(
        authorizations(&a).contains(&basic("helperuser", "helper-s3cret")),
        "A never got the helper's credentials: {:?}\n{}",
        authorizations(&a),
        out.stderr
    );
    assert_eq!(
        authorizations(&b),
        Vec::<String>::new(),
        "B got credentials"
    );
    assert_no_secret(&out, "helper-s3cret");

    // A helper that is not on PATH: a warning naming it, and A is asked anonymously.
    let (a, b) = (challenging_registry(), challenging_registry());
    fs::write(
        docker.join("config.json"),
        format!(r#"{{"credHelpers":{{"{}":"seedforge-absent"}}}}"#, a.host()),
    )
    .unwrap();
    let out = mirror_both(&a, &b, work.path())
        .env("DOCKER_CONFIG", docker.to_str().unwrap())
        .run();
    assert!(
        out.stderr.contains("docker-credential-seedforge-absent"),
        "{}",
        out.stderr
    );
    assert!(!a.requests().is_empty());
    assert_eq!(authorizations(&a), Vec::<String>::new());
}

#[test]
fn an_authfile_is_used_for_the_hosts_it_names() {
    let (a, b) = (challenging_registry(), challenging_registry());
    let work = tempfile::tempdir().unwrap();
    let auth = work.path().join("auth.json");
    fs::write(
        &auth,
        format!(
            r#"{{"auths":{{"{}":{{"auth":"{}"}}}}}}"#,
            a.host(),
            base64::engine::general_purpose::STANDARD.encode("podman-user:podman-pw")
        ),
    )
    .unwrap();
    let out = mirror_both(&a, &b, work.path())
        .arg("--authfile")
        .arg(&auth)
        .run();
    assert!(
        authorizations(&a).contains(&basic("podman-user", "podman-pw")),
        "{:?}\n{}",
        authorizations(&a),
        out.stderr
    );
    assert_eq!(
        authorizations(&b),
        Vec::<String>::new(),
        "B got credentials"
    );
    assert_no_secret(&out, "podman-pw");
    // A missing --authfile is a usage error.
    let out = mirror_both(&a, &b, work.path())
        .arg("--authfile")
        .arg(work.path().join("absent.json"))
        .run();
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("absent.json"), "{}", out.stderr);
}

// --- trust ------------------------------------------------------------------------------

/// Refused for an untrusted certificate with exit `code`, saying how to trust it.
fn untrusted(out: &common::Output, code: i32) {
    assert_eq!(out.code, Some(code), "{}", out.stderr);
    assert!(out.stderr.contains("not trusted"), "{}", out.stderr);
    assert!(out.stderr.contains("--ca-file"), "{}", out.stderr);
}

#[test]
fn an_https_apt_repository_with_its_own_ca() {
    if !require_tool("apt-ftparchive") || !require_tool("openssl") {
        return;
    }
    let ca = TestCa::new();
    let repo = tempfile::tempdir().unwrap();
    common::debs::make_repo(repo.path(), &common::debs::fixture_debs());
    let server = common::debs::start_https(repo.path(), &ca.server_cert, &ca.server_key);
    let work = tempfile::tempdir().unwrap();
    let base = work.path().join("base.txt");
    fs::write(&base, "libc6:amd64\t2.36-9+deb12u10\n").unwrap();
    let debs = |out: &str| {
        Cmd::seedforge()
            .args(["debs", "--repo", &server.url])
            .args(["--suite", "bookworm", "--package", "jq", "--base"])
            .arg(&base)
            .arg("--out")
            .arg(work.path().join(out))
    };
    untrusted(&debs("refused.tar.gz").any_status().run(), 2);
    assert!(!work.path().join("refused.tar.gz").exists());
    debs("with-ca-file.tar.gz")
        .arg("--ca-file")
        .arg(&ca.ca_cert)
        .run();
    assert!(work.path().join("with-ca-file.tar.gz").is_file());
    debs("with-ssl-cert-file.tar.gz")
        .env("SSL_CERT_FILE", ca.ca_cert.to_str().unwrap())
        .run();
    assert!(work.path().join("with-ssl-cert-file.tar.gz").is_file());
}

#[test]
fn an_https_files_url_with_its_own_ca() {
    if !require_tool("openssl") {
        return;
    }
    let ca = TestCa::new();
    let served = tempfile::tempdir().unwrap();
    let k3s = b"#!/bin/sh\necho k3s\n";
    fs::write(served.path().join("k3s"), k3s).unwrap();
    let server = common::debs::start_https(served.path(), &ca.server_cert, &ca.server_key);
    let lab = Lab::new();
    let path = lab.lab_dir().join("seedforge.yaml");
    let mut config = fs::read_to_string(&path).unwrap();
    config.push_str(&format!(
        "\nfiles:\n  - name: bin/k3s\n    source: {}/k3s\n    sha256: \"{}\"\n    executable: true\n",
        server.url,
        sha256_bytes(k3s)
    ));
    fs::write(&path, config).unwrap();
    let refused = lab
        .seedforge()
        .args(["build", "--config", lab.config_arg()])
        .any_status()
        .run();
    // Met by the files step, after earlier steps wrote: a failure (exit 1), as any
    // download failure of a build is.
    untrusted(&refused, 1);
    assert!(!lab.out_dir().join("files/bin/k3s").exists());
    lab.seedforge()
        .args(["build", "--config", lab.config_arg(), "--ca-file"])
        .arg(&ca.ca_cert)
        .run();
    assert_eq!(fs::read(lab.out_dir().join("files/bin/k3s")).unwrap(), k3s);
}

trait StdinBytes {
    fn spawn_with_stdin_bytes(self, bytes: &[u8]) -> common::Running;
}

impl StdinBytes for Cmd {
    /// Spawns with `bytes` on standard input (through a file: no pipe to keep open).
    fn spawn_with_stdin_bytes(self, bytes: &[u8]) -> common::Running {
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(bytes).unwrap();
        use std::io::Seek as _;
        file.rewind().unwrap();
        self.spawn_with_stdin(Stdio::from(file))
    }
}
