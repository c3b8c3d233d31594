//! `files:` in the config: payload files (the k3s binary) from a local path or an http(s)
//! URL, each checked against its sha256, written to OUT/files/ and carried on every seed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use crate::common;

use common::{Cmd, Lab, files_under, read_json, require_tool, sha256_bytes};
use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// A stand-in for the k3s binary: a small executable script.
const K3S: &[u8] = b"#!/bin/sh\necho 'k3s version v1.33.1+k3s1 (test stand-in)'\n";

/// Appends `text` (a `files:` block or other top-level keys) to the lab config.
fn append_config(lab: &Lab, text: &str) {
    let path = lab.lab_dir().join("seedforge.yaml");
    let mut config = fs::read_to_string(&path).unwrap();
    config.push_str(text);
    fs::write(&path, config).unwrap();
}

/// The line of the config on which `needle` first appears (1-based).
fn config_line(lab: &Lab, needle: &str) -> usize {
    let text = fs::read_to_string(lab.lab_dir().join("seedforge.yaml")).unwrap();
    text.lines()
        .position(|l| l.contains(needle))
        .map(|i| i + 1)
        .unwrap_or_else(|| panic!("{needle:?} is not in the config"))
}

fn files_block(source: &str, sha256: &str) -> String {
    format!(
        "\nfiles:\n  - name: bin/k3s\n    source: {source}\n    sha256: \"{sha256}\"\n    executable: true\n"
    )
}

/// What the test server saw.
#[derive(Debug, Default)]
struct Seen {
    requests: AtomicUsize,
    authorization: Mutex<Vec<String>>,
}

/// A minimal HTTP/1.1 server on 127.0.0.1 serving `body` at any path; the first
/// `fail_first` requests get a 500. Stopped (its thread joined) when dropped.
struct TestServer {
    port: u16,
    seen: Arc<Seen>,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl TestServer {
    fn start(body: Vec<u8>, fail_first: usize) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Seen::default());
        let stop = Arc::new(AtomicBool::new(false));
        let (seen2, stop2) = (seen.clone(), stop.clone());
        let thread = thread::spawn(move || {
            // Bounded: a test never runs this long, and the thread ends with it anyway.
            let deadline = Instant::now() + Duration::from_secs(120);
            while !stop2.load(Ordering::Relaxed) && Instant::now() < deadline {
                match listener.accept() {
                    Ok((stream, _)) => serve(stream, &body, fail_first, &seen2),
                    Err(_) => thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        TestServer {
            port,
            seen,
            stop,
            thread: Some(thread),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}/{path}", self.port)
    }

    fn requests(&self) -> usize {
        self.seen.requests.load(Ordering::Relaxed)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(mut stream: TcpStream, body: &[u8], fail_first: usize, seen: &Seen) {
    stream.set_nonblocking(false).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    for line in head.lines() {
        if let Some((k, v)) = line.split_once(':')
            && k.eq_ignore_ascii_case("authorization")
        {
            seen.authorization
                .lock()
                .unwrap()
                .push(v.trim().to_string());
        }
    }
    let n = seen.requests.fetch_add(1, Ordering::Relaxed);
    let response = if n < fail_first {
        b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\nConnection: close\r\n\r\noops"
            .to_vec()
    } else {
        let mut r = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .into_bytes();
        r.extend_from_slice(body);
        r
    };
    let _ = stream.write_all(&response);
    let _ = stream.flush();
}

fn out_file(lab: &Lab) -> PathBuf {
    lab.out_dir().join("files/bin/k3s")
}

/// Files left in OUT/files (temporary downloads included).
fn files_dir_contents(lab: &Lab) -> Vec<PathBuf> {
    files_under(&lab.out_dir().join("files"))
}

/// Extracts the seed of `node` with osirrox and returns the extraction directory.
fn extract_seed(lab: &Lab, node: &str) -> PathBuf {
    let dir = lab.root().join(format!("x-{node}"));
    Cmd::new("osirrox")
        .arg("-indev")
        .arg(lab.out_dir().join(format!("iso/seed-{node}.iso")))
        .args(["-extract", "/"])
        .arg(&dir)
        .run();
    dir
}

#[test]
fn a_local_file_is_checked_written_executable_and_carried_on_every_seed() {
    let lab = Lab::new();
    fs::write(lab.lab_dir().join("k3s-v1.33.1"), K3S).unwrap();
    append_config(&lab, &files_block("k3s-v1.33.1", &sha256_bytes(K3S)));
    let report = lab
        .seedforge()
        .args(["--json", "build", "--config", lab.config_arg()])
        .run()
        .json();
    let written = out_file(&lab);
    assert_eq!(fs::read(&written).unwrap(), K3S);
    let mode = fs::metadata(&written).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o755);
    assert_eq!(report["files"][0]["name"], "bin/k3s");
    assert_eq!(report["files"][0]["outcome"], "copied");
    // The manifest records the file with its source as written; SHA256SUMS lists it.
    let manifest = read_json(&lab.out_dir().join("manifest.json"));
    assert_eq!(manifest["files"][0]["name"], "bin/k3s");
    assert_eq!(manifest["files"][0]["source"], "k3s-v1.33.1");
    assert_eq!(manifest["files"][0]["sha256"], sha256_bytes(K3S));
    let sums = fs::read_to_string(lab.out_dir().join("SHA256SUMS")).unwrap();
    assert!(
        sums.contains(&format!("{}  files/bin/k3s\n", sha256_bytes(K3S))),
        "{sums}"
    );
    if !require_tool("osirrox") || !require_tool("sha256sum") {
        return;
    }
    for node in ["lab-server1", "lab-agent1", "lab-agent2"] {
        let dir = extract_seed(&lab, node);
        let payload = dir.join("payload");
        assert_eq!(fs::read(payload.join("bin/k3s")).unwrap(), K3S, "{node}");
        let mode = fs::metadata(payload.join("bin/k3s"))
            .unwrap()
            .permissions()
            .mode();
        assert_ne!(mode & 0o111, 0, "{node}: payload/bin/k3s is not executable");
        // The node's bootstrap checks this before installing anything.
        Cmd::new("sha256sum")
            .args(["-c", "--strict", "SHA256SUMS"])
            .cwd(&payload)
            .run();
        let listed = fs::read_to_string(payload.join("SHA256SUMS")).unwrap();
        assert!(listed.contains("  bin/k3s\n"), "{node}: {listed}");
    }
    // A second build finds the file in place and leaves it alone.
    let again = lab
        .seedforge()
        .args(["--json", "build", "--config", lab.config_arg()])
        .run()
        .json();
    assert_eq!(again["files"][0]["outcome"], "unchanged");
}

/// A seed whose payload changed is a new instance to cloud-init (which then runs its
/// write_files and runcmd again): the instance-id covers the payload, while user-data stays
/// as it was. `verify` on a seed checks its payload against its own SHA256SUMS, as the node
/// does before installing anything.
#[test]
fn a_changed_payload_is_a_new_instance_and_verify_checks_the_seeds_payload() {
    let lab = Lab::new();
    let source = lab.lab_dir().join("k3s-v1.33.1");
    fs::write(&source, K3S).unwrap();
    let config = lab.lab_dir().join("seedforge.yaml");
    let original = fs::read_to_string(&config).unwrap();
    append_config(&lab, &files_block("k3s-v1.33.1", &sha256_bytes(K3S)));
    lab.build();
    let node = lab.out_dir().join("nodes/lab-agent1");
    let meta = fs::read_to_string(node.join("meta-data")).unwrap();
    let user_data = fs::read(node.join("user-data")).unwrap();
    let seed = lab.out_dir().join("iso/seed-lab-agent1.iso");
    lab.seedforge().arg("verify").arg(&seed).run();

    let v2 = b"#!/bin/sh\necho 'k3s version v1.33.1+k3s1 (test stand-in, rebuilt)'\n";
    fs::write(&source, v2).unwrap();
    fs::write(&config, &original).unwrap();
    append_config(&lab, &files_block("k3s-v1.33.1", &sha256_bytes(v2)));
    lab.build();
    let meta2 = fs::read_to_string(node.join("meta-data")).unwrap();
    assert_ne!(meta.lines().next(), meta2.lines().next(), "{meta2}");
    assert_eq!(fs::read(node.join("user-data")).unwrap(), user_data);

    // One flipped byte in the payload's data inside the image.
    let mut image = fs::read(&seed).unwrap();
    let at = image
        .windows(v2.len())
        .position(|w| w == v2)
        .expect("the payload file is stored whole in the image");
    image[at + 12] ^= 0x20;
    fs::write(&seed, image).unwrap();
    let out = lab.seedforge().arg("verify").arg(&seed).expect(1).run();
    assert!(
        out.stderr.contains("payload/bin/k3s: sha256") && out.stderr.contains("SHA256SUMS says"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_local_file_with_the_wrong_sha256_is_refused_before_anything_is_written() {
    let lab = Lab::new();
    fs::write(lab.lab_dir().join("k3s-v1.33.1"), K3S).unwrap();
    let wrong = "0".repeat(64);
    append_config(&lab, &files_block("k3s-v1.33.1", &wrong));
    let out = lab
        .seedforge()
        .args(["build", "--config", lab.config_arg()])
        .expect(2)
        .run();
    let line = config_line(&lab, "- name: bin/k3s");
    for needle in [
        format!("seedforge.yaml:{line}"),
        "bin/k3s".to_string(),
        wrong.clone(),
        sha256_bytes(K3S),
    ] {
        assert!(
            out.stderr.contains(&needle),
            "no {needle:?} in:\n{}",
            out.stderr
        );
    }
    assert!(!lab.out_dir().exists(), "the build wrote before refusing");
}

#[test]
fn a_missing_local_file_is_refused_naming_it() {
    let lab = Lab::new();
    append_config(&lab, &files_block("no-such-k3s", &sha256_bytes(K3S)));
    let out = lab
        .seedforge()
        .args(["plan", "--config", lab.config_arg()])
        .expect(2)
        .run();
    assert!(out.stderr.contains("no-such-k3s"), "{}", out.stderr);
    assert!(!lab.out_dir().exists());
}

#[test]
fn a_url_is_downloaded_with_a_retry_after_a_500_and_not_again_when_present() {
    let server = TestServer::start(K3S.to_vec(), 1);
    let lab = Lab::new();
    append_config(
        &lab,
        &files_block(&server.url("k3s/v1.33.1/k3s"), &sha256_bytes(K3S)),
    );
    let out = lab
        .seedforge()
        .args(["--json", "build", "--config", lab.config_arg()])
        .run();
    let report = out.json();
    assert_eq!(server.requests(), 2, "one 500, then the file");
    assert_eq!(report["files"][0]["outcome"], "downloaded");
    assert_eq!(report["files"][0]["retries"], 1);
    assert!(
        out.stderr.contains("500"),
        "the retry is not reported: {}",
        out.stderr
    );
    assert_eq!(fs::read(out_file(&lab)).unwrap(), K3S);
    assert_eq!(
        files_dir_contents(&lab),
        vec![out_file(&lab)],
        "temp files left"
    );
    let manifest = read_json(&lab.out_dir().join("manifest.json"));
    assert_eq!(
        manifest["files"][0]["source"],
        server.url("k3s/v1.33.1/k3s")
    );
    // Present with the right digest: not downloaded again.
    let again = lab
        .seedforge()
        .args(["--json", "build", "--config", lab.config_arg()])
        .run()
        .json();
    assert_eq!(again["files"][0]["outcome"], "unchanged");
    assert_eq!(server.requests(), 2, "the file was downloaded again");
    // Offline, the file already in OUT/files is enough; without it, the plan names it.
    lab.seedforge()
        .args(["build", "--offline", "--config", lab.config_arg()])
        .run();
    assert_eq!(server.requests(), 2, "--offline reached the server");
    fs::remove_file(out_file(&lab)).unwrap();
    let refused = lab
        .seedforge()
        .args(["build", "--offline", "--config", lab.config_arg()])
        .expect(2)
        .run();
    assert!(
        refused.stderr.contains("payload file bin/k3s") && refused.stderr.contains("--offline"),
        "{}",
        refused.stderr
    );
    assert!(!out_file(&lab).exists());
    assert_eq!(server.requests(), 2, "--offline reached the server");
}

#[test]
fn a_download_with_the_wrong_sha256_is_refused_and_leaves_nothing_in_files() {
    let server = TestServer::start(b"not the k3s you are looking for\n".to_vec(), 0);
    let lab = Lab::new();
    append_config(&lab, &files_block(&server.url("k3s"), &sha256_bytes(K3S)));
    // Exit 1, not 2: the steps before `files` have written their outputs by then.
    let out = lab
        .seedforge()
        .args(["build", "--config", lab.config_arg()])
        .expect(1)
        .run();
    let actual = sha256_bytes(b"not the k3s you are looking for\n");
    for needle in ["bin/k3s", &sha256_bytes(K3S), &actual, "seedforge.yaml:"] {
        assert!(
            out.stderr.contains(needle),
            "no {needle:?} in:\n{}",
            out.stderr
        );
    }
    assert!(
        files_dir_contents(&lab).is_empty(),
        "a refused download was kept: {:?}",
        files_dir_contents(&lab)
    );
    assert!(
        !lab.out_dir().join("SHA256SUMS").exists(),
        "sealed after a refusal"
    );
}

#[test]
fn a_downloaded_k3s_binary_of_another_release_is_refused_and_not_kept() {
    let other = b"#!/bin/sh\necho 'k3s version v1.33.0+k3s1 (test stand-in)'\n";
    let server = TestServer::start(other.to_vec(), 0);
    let lab = Lab::new();
    append_config(&lab, &files_block(&server.url("k3s"), &sha256_bytes(other)));
    let line = config_line(&lab, "- name: bin/k3s");
    // Exit 1, as for a wrong digest: it is known only once downloaded.
    let out = lab
        .seedforge()
        .args(["build", "--config", lab.config_arg()])
        .expect(1)
        .run();
    for needle in [
        format!("seedforge.yaml:{line}:5: files entry \"bin/k3s\""),
        "is k3s v1.33.0+k3s1".to_string(),
        "cluster.k3s_version is v1.33.1+k3s1".to_string(),
    ] {
        assert!(
            out.stderr.contains(&needle),
            "no {needle:?} in:\n{}",
            out.stderr
        );
    }
    assert!(
        files_dir_contents(&lab).is_empty(),
        "a refused download was kept: {:?}",
        files_dir_contents(&lab)
    );
    assert!(
        !lab.out_dir().join("SHA256SUMS").exists(),
        "sealed after a refusal"
    );
    // A hop's binary (`hops/<RELEASE>/k3s`) downloaded: it must be the hop's release.
    let lab = Lab::new();
    common::hop_upgrade(&lab, common::HOP);
    let config = lab.lab_dir().join("seedforge.yaml");
    let text = fs::read_to_string(&config).unwrap();
    let local = fs::read(lab.lab_dir().join("k3s-hop")).unwrap();
    let text = text.replace(
        &format!("source: k3s-hop\n    sha256: \"{}\"", sha256_bytes(&local)),
        &format!(
            "source: {}\n    sha256: \"{}\"",
            server.url("k3s"),
            sha256_bytes(other)
        ),
    );
    fs::write(&config, text).unwrap();
    let name = format!("hops/{}/k3s", common::HOP);
    let line = config_line(&lab, &format!("- name: {name}"));
    let out = lab
        .seedforge()
        .args(["build", "--config", lab.config_arg()])
        .expect(1)
        .run();
    let said = format!(
        "seedforge.yaml:{line}:5: files entry \"{name}\" is k3s v1.33.0+k3s1, not the hop's release"
    );
    assert!(out.stderr.contains(&said), "{said}: {}", out.stderr);
}

#[test]
fn url_credentials_are_sent_as_basic_auth_and_never_shown() {
    let server = TestServer::start(K3S.to_vec(), 0);
    let lab = Lab::new();
    let url = format!("http://puller:s3cr%40t@127.0.0.1:{}/k3s", server.port);
    append_config(&lab, &files_block(&url, &sha256_bytes(K3S)));
    let plan = lab
        .seedforge()
        .args(["--json", "plan", "--config", lab.config_arg()])
        .run();
    let text = lab
        .seedforge()
        .args(["build", "--config", lab.config_arg()])
        .run();
    let json = lab
        .seedforge()
        .args(["--json", "build", "--config", lab.config_arg()])
        .run();
    // base64("puller:s3cr@t")
    assert_eq!(
        server
            .seen
            .authorization
            .lock()
            .unwrap()
            .first()
            .map(String::as_str),
        Some("Basic cHVsbGVyOnMzY3JAdA==")
    );
    let manifest = fs::read_to_string(lab.out_dir().join("manifest.json")).unwrap();
    for (what, s) in [
        ("plan stdout", &plan.stdout),
        ("plan stderr", &plan.stderr),
        ("build stdout", &text.stdout),
        ("build stderr", &text.stderr),
        ("build --json", &json.stdout),
        ("manifest.json", &manifest),
    ] {
        assert!(!s.contains("s3cr"), "{what} shows the password:\n{s}");
        assert!(!s.contains("puller"), "{what} shows the user:\n{s}");
    }
    assert!(manifest.contains(&format!("http://127.0.0.1:{}/k3s", server.port)));
}

/// Runs `plan` on the lab config with `block` appended; expects exit 2 and returns stderr.
fn refused(block: &str) -> (Lab, String) {
    let lab = Lab::new();
    fs::write(lab.lab_dir().join("k3s-v1.33.1"), K3S).unwrap();
    append_config(&lab, block);
    let out = lab
        .seedforge()
        .args(["plan", "--config", lab.config_arg()])
        .expect(2)
        .run();
    (lab, out.stderr)
}

#[test]
fn bad_files_entries_are_config_errors_naming_file_and_line() {
    let sha = sha256_bytes(K3S);
    let entry = |name: &str, extra: &str| {
        format!("  - name: {name}\n    source: k3s-v1.33.1\n    sha256: \"{sha}\"\n{extra}")
    };
    let cases: Vec<(String, &str, &str)> = vec![
        (
            format!("\nfiles:\n{}", entry("bin/k3s", "    mode: 0755\n")),
            "mode: 0755",
            "mode",
        ),
        (
            format!(
                "\nfiles:\n  - name: bin/k3s\n    source: k3s-v1.33.1\n    sha256: \"{}\"\n",
                sha.to_uppercase()
            ),
            "sha256:",
            "hex",
        ),
        (
            "\nfiles:\n  - name: bin/k3s\n    source: k3s-v1.33.1\n    sha256: \"abc\"\n".into(),
            "sha256:",
            "hex",
        ),
        (
            format!("\nfiles:\n{}", entry("/usr/local/bin/k3s", "")),
            "name: /usr",
            "absolute",
        ),
        (
            format!("\nfiles:\n{}", entry("bin/../../k3s", "")),
            "name: bin/..",
            "..",
        ),
        (
            format!("\nfiles:\n{}{}", entry("bin/k3s", ""), entry("bin/k3s", "")),
            "ZZZ",
            "same name",
        ),
        (
            format!("\nfiles:\n{}", entry("registries.yaml", "")),
            "name: registries.yaml",
            "registries.yaml",
        ),
        (
            "\nfiles:\n  - name: bin/k3s\n    source: ftp://example.com/k3s\n    sha256: \"{sha}\"\n"
                .replace("{sha}", &sha),
            "source: ftp",
            "ftp",
        ),
    ];
    for (block, at, says) in cases {
        let (lab, stderr) = refused(&block);
        let line = if at == "ZZZ" {
            // The second of two entries with the same name.
            let text = fs::read_to_string(lab.lab_dir().join("seedforge.yaml")).unwrap();
            text.lines()
                .enumerate()
                .filter(|(_, l)| l.contains("- name: bin/k3s"))
                .nth(1)
                .map(|(i, _)| i + 1)
                .unwrap()
        } else {
            config_line(&lab, at)
        };
        assert!(
            stderr.contains(&format!("seedforge.yaml:{line}")),
            "{block}: expected seedforge.yaml:{line} in:\n{stderr}"
        );
        assert!(stderr.contains(says), "{block}: no {says:?} in:\n{stderr}");
        assert!(!lab.out_dir().exists());
    }
}

#[test]
fn the_plan_lists_the_files_step_between_pki_and_render() {
    let lab = Lab::new();
    fs::write(lab.lab_dir().join("k3s-v1.33.1"), K3S).unwrap();
    append_config(&lab, &files_block("k3s-v1.33.1", &sha256_bytes(K3S)));
    let plan = lab
        .seedforge()
        .args(["--json", "plan", "--config", lab.config_arg()])
        .run()
        .json();
    let steps: Vec<&str> = plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["step"].as_str().unwrap())
        .collect();
    assert_eq!(
        steps,
        [
            "mirror", "verify", "airgap", "pki", "files", "render", "iso", "iso", "iso", "sbom",
            "seal"
        ]
    );
    assert!(!lab.out_dir().exists());
}
