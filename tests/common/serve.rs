//! `seedforge serve` as the tests run it: started on 127.0.0.1 (port 0 unless a test names
//! one), its address read from its start line, killed by its PID when dropped; and a
//! minimal HTTP/1.1 client over a plain socket for what curl cannot say (raw request
//! bytes, a reader that stops reading).

use super::{ChildGuard, seedforge_bin};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// A running `seedforge serve`.
pub struct Serve {
    guard: ChildGuard,
    /// Where it listens.
    pub addr: SocketAddr,
    /// `https` or `http`.
    pub scheme: &'static str,
    /// The output it serves.
    pub out: PathBuf,
    stderr: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Serve {
    /// `seedforge serve OUT --listen 127.0.0.1:0 ARGS…`.
    pub fn start(out: &Path, args: &[&str]) -> Serve {
        let mut all = vec!["--listen", "127.0.0.1:0"];
        all.extend_from_slice(args);
        Serve::start_with(out, &all)
    }

    /// `seedforge -v serve OUT ARGS…` as given (no `--listen` added).
    pub fn start_with(out: &Path, args: &[&str]) -> Serve {
        let mut child = Command::new(seedforge_bin())
            .args(["-v", "serve"])
            .arg(out)
            .args(args)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start seedforge serve");
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut s = sink.lock().unwrap();
                // Bounded: the tests only look at recent lines.
                if s.len() > 4 << 20 {
                    s.clear();
                }
                s.push_str(&line);
                s.push('\n');
            }
        });
        let mut guard = ChildGuard(Some(child));
        let mut first = String::new();
        // The start line ends when the server listens (or the process ends: EOF); with
        // `--json`, the document, whose `listen` is the URL (checked against its schema).
        let mut reader = BufReader::new(stdout);
        reader.read_line(&mut first).unwrap();
        if args.contains(&"--json") && first.trim_end() == "{" {
            while !first.ends_with("}\n") && reader.read_line(&mut first).unwrap_or(0) > 0 {}
            let doc: serde_json::Value = serde_json::from_str(&first).unwrap();
            super::json_schema::check_kind("serve", &doc);
            first = doc["listen"].as_str().unwrap_or_default().to_owned();
        }
        std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
        let Some(url) = first.split_whitespace().find(|w| w.contains("://")) else {
            guard.kill();
            panic!(
                "seedforge serve did not start: {first:?}\n{}",
                log.lock().unwrap()
            );
        };
        let (scheme, addr) = url.split_once("://").unwrap();
        Serve {
            guard,
            addr: addr.parse().unwrap(),
            scheme: if scheme == "https" { "https" } else { "http" },
            out: out.to_path_buf(),
            stderr: log,
        }
    }

    /// `HOST:PORT`.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// `SCHEME://HOST:PORT`.
    pub fn url(&self, path: &str) -> String {
        format!("{}://{}{path}", self.scheme, self.addr)
    }

    /// Its PID.
    pub fn pid(&self) -> u32 {
        self.guard.0.as_ref().unwrap().id()
    }

    /// Its resident memory in KiB (`VmRSS`).
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }

    /// Its peak resident memory so far in KiB (`VmHWM`).
    pub fn peak_rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }

    /// Whether it is still running.
    pub fn running(&mut self) -> bool {
        matches!(self.guard.child().try_wait(), Ok(None))
    }

    /// What it logged on stderr so far.
    pub fn log(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// The server's log once it holds `line` (a server logs a request as it ends, which
    /// may be after the client saw the connection close), or as it is after 30 s.
    pub fn log_with(&self, line: &str) -> String {
        let until = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let log = self.log();
            if log.contains(line) || std::time::Instant::now() > until {
                return log;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    /// `curl` against it with the build's CA (`-s`, 60 s at most): (status, body).
    pub fn curl(&self, args: &[&str], path: &str) -> (u16, String) {
        let ca = self.out.join("pki/ca.crt");
        let out = Command::new("curl")
            .args([
                "-s",
                "--max-time",
                "60",
                "--path-as-is",
                "-w",
                "\n%{http_code}",
            ])
            .arg("--cacert")
            .arg(&ca)
            .args(args)
            .arg(self.url(path))
            .stdin(Stdio::null())
            .output()
            .expect("curl");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
        (code.trim().parse().unwrap_or(0), body.to_string())
    }

    /// Asserts it answers `GET /v2/` with 200 (after whatever a test did to it).
    pub fn assert_answering(&mut self, args: &[&str]) {
        assert!(self.running(), "serve exited:\n{}", self.log());
        let (code, body) = self.curl(args, "/v2/");
        assert_eq!(code, 200, "{body}\n{}", self.log());
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        self.guard.kill();
    }
}

/// Sends `request` (raw bytes) on a new plain connection and reads the answer until the
/// server closes it or 30 s pass: the status code (0 when none came) and the raw text.
pub fn raw(addr: SocketAddr, request: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let _ = s.write_all(request);
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                if buf.len() > 1 << 20 {
                    break;
                }
            }
        }
    }
    let text = String::from_utf8_lossy(&buf).into_owned();
    let code = text
        .strip_prefix("HTTP/1.1 ")
        .and_then(|t| t.get(..3))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, text)
}

/// An answer as it came on the wire.
pub struct Exchange {
    /// The status code (0 when none came).
    pub code: u16,
    /// The status line and headers, lower-cased field names as hyper sends them.
    pub head: String,
    /// The body bytes that came before the server closed the connection.
    pub body: Vec<u8>,
}

impl Exchange {
    /// The value of header `name` (lower case), if sent.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

/// Sends `request` (raw bytes, which should ask the server to close) on a new plain
/// connection and reads until the server closes it, 60 s pass or `max` bytes came.
pub fn exchange(addr: SocketAddr, request: &[u8], max: usize) -> Exchange {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let _ = s.write_all(request);
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    while buf.len() < max {
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let at = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(buf.len(), |i| i + 4);
    let head = String::from_utf8_lossy(&buf[..at]).into_owned();
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    Exchange {
        code,
        head,
        body: buf[at..].to_vec(),
    }
}
