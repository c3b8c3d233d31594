//! Helpers for the package bundle tests: a local apt repository of the fixture .debs made
//! by apt-ftparchive (the reference index writer), an HTTP server for it on 127.0.0.1, and
//! a cached debootstrap bookworm root for real apt.

use super::{ChildGuard, Cmd, repo_root};
use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The real .debs under fixtures/debs.
pub fn fixture_debs() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(repo_root().join("fixtures/debs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "deb"))
        .collect();
    v.sort();
    v
}

/// Runs a shell snippet in `dir`, failing the test if it fails.
pub fn sh(dir: &Path, script: &str) -> String {
    Cmd::new("sh").args(["-euc", script]).cwd(dir).run().stdout
}

/// Builds `root/dists/bookworm/main/binary-amd64/Packages{,.gz,.xz}` and `Release` over
/// `debs` copied into `root/pool/main/`, with apt-ftparchive.
pub fn make_repo(root: &Path, debs: &[PathBuf]) {
    let pool = root.join("pool/main");
    fs::create_dir_all(&pool).unwrap();
    for d in debs {
        fs::copy(d, pool.join(d.file_name().unwrap())).unwrap();
    }
    fs::create_dir_all(root.join("dists/bookworm/main/binary-amd64")).unwrap();
    sh(
        root,
        "apt-ftparchive packages pool/main > dists/bookworm/main/binary-amd64/Packages
         gzip -9nk dists/bookworm/main/binary-amd64/Packages
         xz -k dists/bookworm/main/binary-amd64/Packages
         apt-ftparchive -o APT::FTPArchive::Release::Suite=bookworm release dists/bookworm > Release.tmp
         mv Release.tmp dists/bookworm/Release",
    );
}

/// The distribution's Release file of a repository made by [`make_repo`].
pub fn release_path(root: &Path) -> PathBuf {
    root.join("dists/bookworm/Release")
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `python3 -m http.server` serving `dir` on 127.0.0.1; stopped by PID when dropped.
pub struct HttpServer {
    /// The server process.
    pub child: ChildGuard,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
}

impl HttpServer {
    /// Starts the server and waits until it accepts connections.
    pub fn start(dir: &Path) -> HttpServer {
        HttpServer::start_with_log(dir, Stdio::null())
    }

    /// [`HttpServer::start`], with the request log (one `"GET /path HTTP/1.1" 200` line a
    /// request) written to `log`.
    pub fn start_logged(dir: &Path, log: &Path) -> HttpServer {
        let log = fs::File::create(log).expect("create the request log");
        HttpServer::start_with_log(dir, Stdio::from(log))
    }

    /// The server with its stderr (where http.server logs each request) going to `log`.
    fn start_with_log(dir: &Path, log: Stdio) -> HttpServer {
        let port = free_port();
        let child = Command::new("python3")
            .args(["-m", "http.server", "--bind", "127.0.0.1", "--directory"])
            .arg(dir)
            .arg(port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start python3 -m http.server");
        HttpServer::listening(child, port, "http")
    }

    /// Waits until `child` accepts connections on `port`.
    fn listening(child: std::process::Child, port: u16, scheme: &str) -> HttpServer {
        let mut guard = ChildGuard(Some(child));
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "the {scheme} server did not start"
            );
            assert!(
                guard.child().try_wait().unwrap().is_none(),
                "the {scheme} server exited"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        HttpServer {
            child: guard,
            url: format!("{scheme}://127.0.0.1:{port}"),
        }
    }
}

/// An https server on 127.0.0.1 serving `dir` with `cert` and `key` (PEM), from python3's
/// `http.server` and `ssl`; stopped by PID when dropped.
pub fn start_https(dir: &Path, cert: &Path, key: &Path) -> HttpServer {
    let port = free_port();
    let script = "import http.server, ssl, sys, functools\n\
        d, port, cert, key = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]\n\
        h = functools.partial(http.server.SimpleHTTPRequestHandler, directory=d)\n\
        s = http.server.ThreadingHTTPServer(('127.0.0.1', port), h)\n\
        c = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)\n\
        c.load_cert_chain(cert, key)\n\
        s.socket = c.wrap_socket(s.socket, server_side=True)\n\
        s.serve_forever()\n";
    let child = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(dir)
        .arg(port.to_string())
        .arg(cert)
        .arg(key)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start python3 https server");
    HttpServer::listening(child, port, "https")
}

/// True if the test runs as root. Not root: fails under `CI=true`, else prints a skip note.
pub fn require_root(why: &str) -> bool {
    let uid = Command::new("id").arg("-u").output().unwrap().stdout;
    if String::from_utf8_lossy(&uid).trim() == "0" {
        return true;
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{why} needs root (CI=true, so this is a failure)");
    }
    eprintln!("SKIP: {why} needs root");
    false
}

/// Bumped when the way the cached root is made changes.
const CHROOT_VERSION: &str = "bookworm-minbase-v1";

/// The Debian mirror apt on this machine uses (first `URIs:`/`deb` line of its sources).
pub fn mirror() -> String {
    let mut texts = Vec::new();
    if let Ok(entries) = fs::read_dir("/etc/apt/sources.list.d") {
        let mut paths: Vec<PathBuf> = entries.map(|e| e.unwrap().path()).collect();
        paths.sort();
        texts.extend(paths.iter().filter_map(|p| fs::read_to_string(p).ok()));
    }
    texts.extend(fs::read_to_string("/etc/apt/sources.list").ok());
    for text in texts {
        for line in text.lines() {
            let url = match line.strip_prefix("URIs:") {
                Some(rest) => rest.split_whitespace().next(),
                None => line
                    .strip_prefix("deb ")
                    .and_then(|r| r.split_whitespace().find(|w| w.starts_with("http"))),
            };
            if let Some(url) = url
                && url.ends_with("/debian")
            {
                return url.to_string();
            }
        }
    }
    "http://deb.debian.org/debian".to_string()
}

/// A debootstrap `--variant=minbase` bookworm root, made once and cached under the target
/// directory (about 70 s and 200 MB the first time). One maker at a time across test
/// processes (each test is a process of its own under cargo-nextest): the others wait on
/// an exclusive lock of a file beside the cache, then find it made.
pub fn cached_bookworm_root() -> PathBuf {
    let cache =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("debs-chroot-{CHROOT_VERSION}"));
    let lock = fs::File::create(cache.with_extension("lock")).unwrap();
    lock.lock().unwrap();
    if cache.join("usr/bin/apt-get").is_file() {
        return cache;
    }
    // The only maker while the lock is held: a partial root here is a killed run's.
    let partial = cache.with_extension("partial");
    let _ = fs::remove_dir_all(&partial);
    Cmd::new("debootstrap")
        .args(["--variant=minbase", "bookworm"])
        .arg(&partial)
        .arg(mirror())
        .timeout(Duration::from_secs(900))
        .run();
    fs::rename(&partial, &cache)
        .unwrap_or_else(|e| panic!("cannot move the bootstrapped root into place: {e}"));
    cache
}

/// A private copy of the cached root with every network source disabled: no
/// sources.list, no sources.list.d, and a dead proxy for anything that still tries.
pub fn offline_root_copy(into: &Path) -> PathBuf {
    let cache = cached_bookworm_root();
    let root = into.join("root");
    Cmd::new("cp")
        .args(["-a", "--reflink=auto"])
        .arg(&cache)
        .arg(&root)
        .run();
    let apt = root.join("etc/apt");
    let _ = fs::remove_file(apt.join("sources.list"));
    let _ = fs::remove_dir_all(apt.join("sources.list.d"));
    fs::create_dir_all(apt.join("sources.list.d")).unwrap();
    fs::write(
        apt.join("apt.conf.d/99offline"),
        "Acquire::http::Proxy \"http://127.0.0.1:9\";\nAcquire::https::Proxy \"http://127.0.0.1:9\";\n",
    )
    .unwrap();
    root
}

/// A small arch-all package `name` at `version`, with `extra` control fields and one file
/// (`usr/share/NAME/README`) saying `text`, built by dpkg-deb into `dir`.
pub fn small_deb(dir: &Path, name: &str, version: &str, extra: &str, text: &str) -> PathBuf {
    let tree = dir.join(format!("{name}-{version}-tree"));
    let _ = fs::remove_dir_all(&tree);
    fs::create_dir_all(tree.join("DEBIAN")).unwrap();
    fs::create_dir_all(tree.join(format!("usr/share/{name}"))).unwrap();
    fs::write(tree.join(format!("usr/share/{name}/README")), text).unwrap();
    fs::write(
        tree.join("DEBIAN/control"),
        format!(
            "Package: {name}\nVersion: {version}\nArchitecture: all\nMaintainer: seedforge tests <t@example.invalid>\n{extra}Description: test package\n"
        ),
    )
    .unwrap();
    let deb = dir.join(format!("{name}_{version}_all.deb"));
    crate::common::Cmd::new("dpkg-deb")
        .args(["--root-owner-group", "--build"])
        .arg(&tree)
        .arg(&deb)
        .run();
    deb
}
