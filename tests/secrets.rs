//! Secrets stay where they must be and nowhere else.
//!
//! The lab is built with a join token (from a file), a pull password for a real
//! distribution registry with htpasswd basic auth (config `registries[].password`, from a
//! file), a password for the cluster's own registry (`registry.auth.password`, from an
//! environment variable) and the credentials of a `files:` URL (`user:password@`, sent as
//! basic auth to an HTTP server in the test that refuses requests without them), at every
//! verbosity: `-q`, default, `-v`, `-vv`, `--json` and
//! `SEEDFORGE_LOG=trace` (every crate's trace log, HTTP clients included). Then:
//!
//! - no secret (nor the base64 of `user:password` a basic-auth header carries) is on
//!   stdout or stderr, in `seedforge.lock`, or in any file under the output folder
//!   (`manifest.json`, `SHA256SUMS` and whatever else a build writes are found by walking
//!   it) except the files that must carry it: the token in each node's `user-data` and
//!   seed ISO, the cluster registry's password in `registries.yaml` (k3s reads it there)
//!   and the seed ISOs that carry that file;
//! - every file that carries a secret is mode 0600, and does carry it (so the search
//!   itself is checked); `registry/htpasswd` holds a bcrypt hash only;
//! - `seedforge mirror --password-stdin` at every verbosity prints neither the password
//!   nor its basic-auth form, and writes neither into the layout;
//! - the README says that seed ISOs carry the join token.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use crate::common;

use common::registry::{Registry, RegistryOptions, TestCa, fixture_layout};
use common::{Cmd, Lab, Output, files_under, repo_root, require_tool};
use std::fs::{self, File};
use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// The join token (a file secret).
const TOKEN: &str = "K10sf7d1e0c3b9a5f2e4d6c8b0a1928374655::server:SEEDFORGE-TEST-TOKEN";
/// The pull password of the source registry (a file secret).
const PULL_USER: &str = "puller";
const PULL_PW: &str = "pull-pw-Qz9xW3rT7";
/// The password nodes use with the cluster's registry (an environment secret).
const AUTH_USER: &str = "node";
const AUTH_PW: &str = "auth-pw-Lm2Rt8Vb4";
const AUTH_PW_VAR: &str = "SEEDFORGE_TEST_REGISTRY_PASSWORD";
/// The credentials in a `files:` URL.
const FILES_USER: &str = "fetcher";
const FILES_PW: &str = "files-pw-Hx5Kp2Nq";

/// Flags before the command, and an extra environment variable.
type Verbosity = (
    &'static [&'static str],
    Option<(&'static str, &'static str)>,
);

/// Every verbosity.
const VERBOSITIES: &[Verbosity] = &[
    (&["-q"], None),
    (&[], None),
    (&["-v"], None),
    (&["-vv"], None),
    (&["--json"], None),
    (&[], Some(("SEEDFORGE_LOG", "trace"))),
];

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A secret and the forms it can leak in.
struct Secret {
    name: &'static str,
    forms: Vec<String>,
}

fn secrets() -> Vec<Secret> {
    vec![
        Secret {
            name: "the join token",
            forms: vec![TOKEN.to_string(), base64(TOKEN.as_bytes())],
        },
        Secret {
            name: "the pull password",
            forms: vec![
                PULL_PW.to_string(),
                base64(format!("{PULL_USER}:{PULL_PW}").as_bytes()),
                base64(PULL_PW.as_bytes()),
            ],
        },
        Secret {
            name: "the files: URL password",
            forms: vec![
                FILES_PW.to_string(),
                base64(format!("{FILES_USER}:{FILES_PW}").as_bytes()),
                base64(FILES_PW.as_bytes()),
            ],
        },
        Secret {
            name: "the cluster registry's password",
            forms: vec![
                AUTH_PW.to_string(),
                base64(format!("{AUTH_USER}:{AUTH_PW}").as_bytes()),
                base64(AUTH_PW.as_bytes()),
            ],
        },
    ]
}

fn find(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// Names every secret form found in `text`.
fn leaks(text: &[u8]) -> Vec<String> {
    secrets()
        .iter()
        .flat_map(|s| {
            s.forms
                .iter()
                .filter(|f| find(text, f))
                .map(|f| format!("{} ({f})", s.name))
                .collect::<Vec<_>>()
        })
        .collect()
}

fn check_output(out: &Output, what: &str) {
    let found = leaks(out.stdout.as_bytes());
    assert!(found.is_empty(), "{what}: stdout holds {found:?}");
    let found = leaks(out.stderr.as_bytes());
    assert!(found.is_empty(), "{what}: stderr holds {found:?}");
}

/// The files allowed to carry a secret, relative to the output folder.
fn allowed(rel: &Path, secret: &str) -> bool {
    let name = rel.file_name().unwrap().to_string_lossy();
    let seed_iso = rel.starts_with("iso") && name.starts_with("seed-") && name.ends_with(".iso");
    match secret {
        "the join token" => seed_iso || (rel.starts_with("nodes") && name == "user-data"),
        "the cluster registry's password" => seed_iso || rel == Path::new("registries.yaml"),
        _ => false,
    }
}

/// Walks the output folder: secrets only where allowed, and those files 0600.
fn check_files(out_dir: &Path, what: &str) {
    let files = files_under(out_dir);
    assert!(!files.is_empty());
    for file in &files {
        let rel = file.strip_prefix(out_dir).unwrap();
        let bytes = fs::read(file).unwrap();
        let mut carries = false;
        for s in secrets() {
            if s.forms.iter().any(|f| find(&bytes, f)) {
                assert!(
                    allowed(rel, s.name),
                    "{what}: {} holds {}",
                    rel.display(),
                    s.name
                );
                carries = true;
            }
        }
        if carries {
            let mode = fs::metadata(file).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{what}: {} carries a secret", rel.display());
        }
    }
    // The files that must carry the token do (so the search is known to work).
    let user_data: Vec<&PathBuf> = files
        .iter()
        .filter(|f| f.file_name().is_some_and(|n| n == "user-data"))
        .collect();
    let isos: Vec<&PathBuf> = files
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "iso"))
        .collect();
    assert_eq!(user_data.len(), 3, "{what}");
    assert_eq!(isos.len(), 3, "{what}");
    for f in user_data.iter().chain(&isos) {
        assert!(
            find(&fs::read(f).unwrap(), TOKEN),
            "{what}: {} lacks the token",
            f.display()
        );
    }
    assert!(find(
        &fs::read(out_dir.join("registries.yaml")).unwrap(),
        AUTH_PW
    ));
    // htpasswd: the user and a bcrypt hash, nothing else.
    let htpasswd = fs::read_to_string(out_dir.join("registry/htpasswd")).unwrap();
    let lines: Vec<&str> = htpasswd.lines().collect();
    assert_eq!(lines.len(), 1, "{htpasswd}");
    let (user, hash) = lines[0].split_once(':').unwrap();
    assert_eq!(user, AUTH_USER);
    assert!(
        ["$2a$", "$2b$", "$2y$"].iter().any(|p| hash.starts_with(p)) && hash.len() == 60,
        "not a bcrypt hash: {hash}"
    );
    let mode = fs::metadata(out_dir.join("registry/htpasswd"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

/// An HTTP server on 127.0.0.1 serving one body, only with the right basic-auth header
/// (401 otherwise); stopped when dropped.
struct FileServer {
    port: u16,
    served: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl FileServer {
    fn start(body: Vec<u8>, authorization: String) -> FileServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let served = Arc::new(AtomicUsize::new(0));
        let (stop2, served2) = (stop.clone(), served.clone());
        let thread = thread::spawn(move || {
            // Bounded, whatever happens to the test.
            let deadline = Instant::now() + Duration::from_secs(300);
            while !stop2.load(Ordering::Relaxed) && Instant::now() < deadline {
                match listener.accept() {
                    Ok((stream, _)) => {
                        if answer(stream, &body, &authorization) {
                            served2.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Err(_) => thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        FileServer {
            port,
            served,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Answers one request; true if the body was sent.
fn answer(mut stream: TcpStream, body: &[u8], authorization: &str) -> bool {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return false,
        }
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let authorized = head.lines().any(|l| {
        l.split_once(':').is_some_and(|(k, v)| {
            k.eq_ignore_ascii_case("authorization") && v.trim() == authorization
        })
    });
    let mut response = if authorized {
        format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .into_bytes()
    } else {
        b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec()
    };
    if authorized {
        response.extend_from_slice(body);
    }
    let _ = stream.write_all(&response);
    authorized
}

#[test]
fn secrets_appear_only_where_they_must_at_every_verbosity() {
    if !require_tool("docker-registry") || !require_tool("skopeo") || !require_tool("openssl") {
        return;
    }
    let ca = TestCa::new();
    let registry = Registry::start(&RegistryOptions {
        tls: Some((ca.server_cert.clone(), ca.server_key.clone())),
        basic_auth: Some((PULL_USER.into(), PULL_PW.into())),
        token: None,
    });
    Cmd::new("skopeo")
        .args(["copy", "--quiet", "--all", "--dest-creds"])
        .arg(format!("{PULL_USER}:{PULL_PW}"))
        .arg("--dest-cert-dir")
        .arg(ca.cert_dir())
        .arg(format!(
            "oci:{}:mirrored-pause:3.6",
            fixture_layout().display()
        ))
        .arg(format!(
            "docker://{}/rancher/mirrored-pause:3.6",
            registry.host()
        ))
        .run();

    // The lab, with the pause image pulled from the registry and every kind of secret.
    let lab = Lab::new();
    let dir = lab.lab_dir();
    fs::write(dir.join("token"), format!("{TOKEN}\n")).unwrap();
    fs::write(dir.join("pull-password"), format!("{PULL_PW}\n")).unwrap();
    fs::copy(&ca.ca_cert, dir.join("source-ca.crt")).unwrap();
    let list = dir.join("images.txt");
    let text = fs::read_to_string(&list).unwrap().replace(
        "oci:../images/oci:mirrored-pause:3.6 ",
        &format!("docker://{}/rancher/mirrored-pause:3.6 ", registry.host()),
    );
    fs::write(&list, text).unwrap();
    let config = dir.join("seedforge.yaml");
    let text = fs::read_to_string(&config)
        .unwrap()
        .replace(
            "  port: 5000\n",
            &format!(
                "  port: 5000\n  auth:\n    username: {AUTH_USER}\n    password: {{env: {AUTH_PW_VAR}}}\n"
            ),
        )
        .replace(
            "\nimages:\n",
            &format!(
                "\nregistries:\n  - host: \"{}\"\n    ca_file: source-ca.crt\n    username: {PULL_USER}\n    password: {{file: pull-password}}\n\nimages:\n",
                registry.host()
            ),
        );
    // The k3s binary stands in as 64 KiB from a server that wants the URL's credentials.
    let mut k3s = vec![0u8; 64 * 1024];
    common::XorShift::new(11).fill(&mut k3s);
    let server = FileServer::start(
        k3s.clone(),
        format!(
            "Basic {}",
            base64(format!("{FILES_USER}:{FILES_PW}").as_bytes())
        ),
    );
    let text = format!(
        "{text}files:\n  - name: bin/k3s\n    source: http://{FILES_USER}:{FILES_PW}@127.0.0.1:{}/k3s\n    sha256: \"{}\"\n    executable: true\n",
        server.port,
        common::sha256_bytes(&k3s)
    );
    fs::write(&config, text).unwrap();
    let before_inputs: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();

    for (flags, env) in VERBOSITIES {
        let what = format!("build {flags:?} {env:?}");
        if lab.out_dir().exists() {
            fs::remove_dir_all(lab.out_dir()).unwrap();
            // A fresh start: the lock records the CA the output held, which a build
            // would refuse to make anew.
            fs::remove_file(dir.join("seedforge.lock")).unwrap();
        }
        let mut cmd = lab
            .seedforge()
            .env(AUTH_PW_VAR, AUTH_PW)
            .args(*flags)
            .args(["build", "--config", lab.config_arg()]);
        if let Some((k, v)) = env {
            cmd = cmd.env(k, v);
        }
        let out = cmd.run();
        check_output(&out, &what);
        if flags.contains(&"--json") {
            out.json();
        }
        check_files(&lab.out_dir(), &what);
        assert!(
            lab.out_dir().join("manifest.json").is_file(),
            "{what}: no manifest.json"
        );
        assert!(
            lab.out_dir().join("SHA256SUMS").is_file(),
            "{what}: no SHA256SUMS"
        );
        // The lock file (and anything else written beside the config).
        let lock = dir.join("seedforge.lock");
        assert!(lock.exists(), "{what}: no seedforge.lock");
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() && !before_inputs.contains(&path) {
                let found = leaks(&fs::read(&path).unwrap());
                assert!(
                    found.is_empty(),
                    "{what}: {} holds {found:?}",
                    path.display()
                );
            }
        }
        // A second build over the first (keeping state) logs no secret either.
        let mut again = lab
            .seedforge()
            .env(AUTH_PW_VAR, AUTH_PW)
            .args(*flags)
            .args(["build", "--config", lab.config_arg()]);
        if let Some((k, v)) = env {
            again = again.env(k, v);
        }
        check_output(&again.run(), &format!("{what}, again"));
    }

    assert!(
        server.served.load(Ordering::Relaxed) >= VERBOSITIES.len(),
        "the files: URL was not fetched with its credentials"
    );

    // --password-stdin, at every verbosity.
    let pw_file = lab.root().join("pw");
    fs::write(&pw_file, format!("{PULL_PW}\n")).unwrap();
    let mirror_list = lab.root().join("pull.txt");
    fs::write(
        &mirror_list,
        format!(
            "docker://{}/rancher/mirrored-pause:3.6 docker.io/rancher/mirrored-pause:3.6\n",
            registry.host()
        ),
    )
    .unwrap();
    for (i, (flags, env)) in VERBOSITIES.iter().enumerate() {
        let what = format!("mirror --password-stdin {flags:?} {env:?}");
        let layout = lab.root().join(format!("layout-{i}"));
        let mut cmd = Cmd::seedforge()
            .args(*flags)
            .args(["mirror", "--images"])
            .arg(&mirror_list)
            .arg("--layout")
            .arg(&layout)
            .arg("--ca-file")
            .arg(&ca.ca_cert)
            .args(["--username", PULL_USER, "--password-stdin"]);
        if let Some((k, v)) = env {
            cmd = cmd.env(k, v);
        }
        let out = cmd
            .spawn_with_stdin(Stdio::from(File::open(&pw_file).unwrap()))
            .wait();
        check_output(&out, &what);
        for file in files_under(&layout) {
            let found = leaks(&fs::read(&file).unwrap());
            assert!(
                found.is_empty(),
                "{what}: {} holds {found:?}",
                file.display()
            );
        }
    }
}

#[test]
fn readme_says_seed_isos_carry_the_join_token() {
    // The README and the documentation it links to (docs/).
    let mut readme = fs::read_to_string(repo_root().join("README.md")).unwrap();
    for entry in fs::read_dir(repo_root().join("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            readme.push_str("\n\n");
            readme.push_str(&fs::read_to_string(path).unwrap());
        }
    }
    let said = readme.split("\n\n").any(|paragraph| {
        let p = paragraph.replace('\n', " ");
        p.contains("seed ISO") && p.contains("join token") && p.contains("0600")
    });
    assert!(
        said,
        "neither README.md nor docs/ says that seed ISOs carry the join token (0600)"
    );
}
