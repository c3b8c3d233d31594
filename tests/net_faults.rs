//! Misbehaving servers on 127.0.0.1 against every download seedforge makes: a registry
//! (`mirror`), an apt repository (`debs --repo`) and a `files:` URL (`build`). For each
//! misbehaviour (a body without end, a trickle, a stall before the headers, a stall in the
//! middle of the body, more bytes than the descriptor or index says, `429 Retry-After:
//! 99999`, a redirect loop) the run ends by itself within its limits with exit 75 when
//! another run later may succeed (the server stalled, trickled or kept answering 429: busy
//! or out of reach, as a refused connection or a name that does not resolve) or exit 1
//! when it would not (a body past its bound, a redirect loop), and a message naming what
//! went wrong, the server could send only a bounded number of bytes
//! (the client stopped reading) and the run stayed within a 512 MiB data segment
//! (`prlimit --data`: memory stays flat), and nothing is left under a final name. A silent
//! or trickling server is given up on once the request's budget is spent, however many
//! attempts the retry policy allows, with a message naming the URL, what happened and the
//! setting; a slow start and a steady body outlast the speed window and the budget. Short
//! limits come from the environment (`SEEDFORGE_READ_TIMEOUT` and friends), which is how
//! an operator sets them too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use crate::common;

use common::misbehave::{Answer, Server};
use common::{Cmd, Lab, sha256_bytes};
use std::fs;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// How long one misbehaving run may take before the test kills it and fails: far above
/// the short limits set below, far below the defaults.
const RUN_LIMIT: Duration = Duration::from_secs(60);

/// At most this many body bytes may reach a client that stops reading at its bound (a few
/// MiB of bound plus what kernel socket buffers hold).
const FLAT: u64 = 64 << 20;

/// The data segment every run here may have (`prlimit --data`): a client that kept an
/// endless body in memory would die of it (exit 134), not end with exit 1.
const MEMORY: u64 = 512 << 20;

/// seedforge under the memory cap.
fn seedforge() -> Cmd {
    Cmd::new("prlimit")
        .arg(format!("--data={MEMORY}"))
        .arg("--")
        .arg(common::seedforge_bin())
}

/// The short limits every run here gets: the defaults scaled down, with the speed window
/// longer than the idle timeout (a stall is met as a stall) and shorter than the document
/// deadline (a trickle is met by the speed rule), and a budget that leaves the retry
/// policy to end these runs.
fn limited(cmd: Cmd) -> Cmd {
    cmd.env("SEEDFORGE_CONNECT_TIMEOUT", "2")
        .env("SEEDFORGE_READ_TIMEOUT", "2")
        .env("SEEDFORGE_DEADLINE", "6")
        .env("SEEDFORGE_DOCUMENT_DEADLINE", "5")
        .env("SEEDFORGE_SPEED_TIME", "3")
        .env("SEEDFORGE_BUDGET", "30")
        .env("SEEDFORGE_RETRIES", "2")
        .env("SEEDFORGE_RETRY_AFTER_MAX", "1")
        .timeout(RUN_LIMIT)
}

/// [`limited`], but with attempts to spare: only the budget (`secs`) can end a run.
fn budgeted(cmd: Cmd, secs: &str) -> Cmd {
    limited(cmd)
        .env("SEEDFORGE_RETRIES", "100")
        .env("SEEDFORGE_BUDGET", secs)
}

/// One misbehaviour: the answer, and words the error must contain.
struct Case {
    name: &'static str,
    answer: Answer,
    says: &'static [&'static str],
    /// The exit code: 75 (try again later) or 1.
    code: i32,
}

/// The misbehaviours every kind of download meets. Announced lengths (1 KiB) stay within
/// what each client expects, so the trickle and the stall are met as such.
fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "endless body",
            answer: Answer::Endless,
            says: &["more than"],
            code: 1,
        },
        Case {
            name: "trickle",
            answer: trickle(),
            says: &["under 1 KiB/s for 3 s", "SEEDFORGE_SPEED_LIMIT"],
            code: 75,
        },
        Case {
            name: "stall before headers",
            answer: Answer::StallBeforeHeaders,
            says: &["no data for 2 s"],
            code: 75,
        },
        Case {
            name: "stall mid-body",
            answer: Answer::StallMidBody {
                length: 1024,
                sent: 100,
            },
            says: &["no data for 2 s"],
            code: 75,
        },
        Case {
            name: "429 Retry-After: 99999",
            answer: Answer::RetryAfter(99_999),
            says: &["429"],
            code: 75,
        },
        Case {
            name: "redirect loop",
            answer: Answer::RedirectLoop,
            says: &["redirect"],
            code: 1,
        },
    ]
}

/// One byte every half second: far under the speed limit, far above the idle timeout.
fn trickle() -> Answer {
    Answer::Trickle {
        length: 1024,
        every: Duration::from_millis(500),
    }
}

/// The servers only the budget ends, and what the message says of each besides the
/// budget. The trickle is named by its speed rule and its settings either way the budget
/// ends it: "under 1 KiB/s for 3 s: …" when a whole speed window passed first, "under
/// 1 KiB/s since the speed window opened" when the budget ends inside the first window (a
/// loaded machine's slow start).
fn budget_cases() -> [(&'static str, Answer, &'static [&'static str]); 2] {
    [
        ("silent", Answer::StallBeforeHeaders, &["no data for 2 s"]),
        (
            "trickle",
            trickle(),
            &[
                "under 1 KiB/s ",
                "(SEEDFORGE_SPEED_LIMIT, SEEDFORGE_SPEED_TIME)",
            ],
        ),
    ]
}

/// The budget's message: what happened, that the budget is spent, the setting, the URL.
fn assert_budget_spent(label: &str, stderr: &str, what: &[&str], url: &str) {
    eprintln!("{label}: exit 75: {}", stderr.lines().last().unwrap_or(""));
    let budget = [
        "gave up after",
        "the request's budget of 4 s is spent (SEEDFORGE_BUDGET)",
        url,
    ];
    for &word in what.iter().chain(&budget) {
        assert!(
            stderr.contains(word),
            "{label}: the error does not say {word:?}:\n{stderr}"
        );
    }
}

fn assert_says(case: &Case, stderr: &str) {
    let lower = stderr.to_ascii_lowercase();
    for word in case.says {
        assert!(
            lower.contains(&word.to_ascii_lowercase()),
            "{}: the error does not say {word:?}:\n{stderr}",
            case.name
        );
    }
}

// --- a registry ---------------------------------------------------------------------

/// A one-image registry: an OCI manifest with a config and one 1 MiB layer.
struct Image {
    manifest: Vec<u8>,
    config: Vec<u8>,
    layer: Vec<u8>,
}

impl Image {
    fn new() -> Image {
        let layer = vec![b'l'; 1 << 20];
        let layer_digest = format!("sha256:{}", sha256_bytes(&layer));
        let config = format!(
            r#"{{"architecture":"amd64","os":"linux","rootfs":{{"type":"layers","diff_ids":["{layer_digest}"]}}}}"#
        )
        .into_bytes();
        let manifest = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:{}","size":{}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{layer_digest}","size":{}}}]}}"#,
            sha256_bytes(&config),
            config.len(),
            layer.len()
        )
        .into_bytes();
        Image {
            manifest,
            config,
            layer,
        }
    }

    fn layer_digest(&self) -> String {
        sha256_bytes(&self.layer)
    }

    /// The registry's answer to `path`; `fault` replaces the manifest's or the layer's.
    fn answer(&self, path: &str, fault: Option<(&str, &Answer)>) -> Answer {
        let what = if path == "/v2/" || path == "/v2" {
            "ping"
        } else if path.contains("/manifests/") {
            "manifest"
        } else if path.ends_with(&self.layer_digest()) {
            "layer"
        } else if path.ends_with(&sha256_bytes(&self.config)) {
            "config"
        } else {
            return Answer::status(404);
        };
        if let Some((target, answer)) = fault
            && target == what
        {
            return answer.clone();
        }
        match what {
            "ping" => Answer::ok("application/json", "{}"),
            "manifest" => Answer::Full {
                status: 200,
                headers: vec![
                    (
                        "Content-Type".into(),
                        "application/vnd.oci.image.manifest.v1+json".into(),
                    ),
                    (
                        "Docker-Content-Digest".into(),
                        format!("sha256:{}", sha256_bytes(&self.manifest)),
                    ),
                ],
                body: self.manifest.clone(),
            },
            "config" => Answer::ok("application/octet-stream", self.config.clone()),
            _ => Answer::ok("application/octet-stream", self.layer.clone()),
        }
    }
}

fn registry(image: Arc<Image>, fault: Option<(&'static str, Answer)>) -> Server {
    Server::start(move |_, path| image.answer(path, fault.as_ref().map(|(t, a)| (*t, a))))
}

fn mirror(server: &Server, work: &Path) -> Cmd {
    let list = work.join("images.txt");
    fs::write(&list, format!("docker://{}/lib/app:1.0\n", server.host())).unwrap();
    limited(seedforge())
        .args(["mirror", "--images"])
        .arg(&list)
        .arg("--layout")
        .arg(work.join("oci"))
        .args(["--platform", "linux/amd64", "--plain-http"])
        .arg(server.host())
}

/// Nothing of the image under a final name: no layer blob, no index entry.
fn nothing_final(layout: &Path, image: &Image, case: &str) {
    let blob = layout.join("blobs/sha256").join(image.layer_digest());
    assert!(!blob.exists(), "{case}: the layer is in the layout");
    if let Ok(index) = fs::read_to_string(layout.join("index.json")) {
        assert!(
            !index.contains("lib/app"),
            "{case}: the image is in index.json: {index}"
        );
    }
}

#[test]
fn a_sound_fake_registry_mirrors() {
    // The fake is realistic: without a fault it serves an image mirror accepts, so the
    // faults below fail for their own reason.
    let image = Arc::new(Image::new());
    let server = registry(image.clone(), None);
    let work = tempfile::tempdir().unwrap();
    mirror(&server, work.path()).run();
    let blob = work
        .path()
        .join("oci/blobs/sha256")
        .join(image.layer_digest());
    assert_eq!(fs::read(blob).unwrap(), image.layer);
}

#[test]
fn a_misbehaving_registry_ends_each_run_within_its_limits() {
    let image = Arc::new(Image::new());
    for target in ["manifest", "layer"] {
        for case in cases() {
            let label = format!("{target}: {}", case.name);
            let server = registry(image.clone(), Some((target, case.answer.clone())));
            let work = tempfile::tempdir().unwrap();
            let out = mirror(&server, work.path()).expect(case.code).run();
            assert_says(&case, &out.stderr);
            // The failure names the URL of what failed, a body given up on after its
            // attempts (the trickle, the stall mid-body) or one that went on past its size
            // as much as a request that never answered.
            let url = match target {
                "manifest" => server.url("/v2/lib/app/manifests/1.0"),
                _ => server.url(&format!(
                    "/v2/lib/app/blobs/sha256:{}",
                    image.layer_digest()
                )),
            };
            assert!(
                out.stderr.contains(&url),
                "{label}: the error does not name {url}:\n{}",
                out.stderr
            );
            assert!(
                server.body_bytes() < FLAT,
                "{label}: the client took {} bytes",
                server.body_bytes()
            );
            nothing_final(&work.path().join("oci"), &image, &label);
            eprintln!(
                "{label}: exit {}: {}",
                case.code,
                out.stderr.lines().last().unwrap_or("")
            );
        }
    }
}

#[test]
fn a_silent_or_trickling_registry_is_given_up_on_once_the_budget_is_spent() {
    let image = Arc::new(Image::new());
    for target in ["manifest", "layer"] {
        for (name, answer, what) in budget_cases() {
            let label = format!("{target}: {name}");
            let server = registry(image.clone(), Some((target, answer)));
            let work = tempfile::tempdir().unwrap();
            let out = budgeted(mirror(&server, work.path()), "4").expect(75).run();
            let url = server.url("/v2/lib/app/");
            assert_budget_spent(&label, &out.stderr, what, &url);
            nothing_final(&work.path().join("oci"), &image, &label);
        }
    }
}

#[test]
fn a_trickling_manifest_meets_the_document_deadline() {
    // Without the speed rule, the short deadline for documents ends each attempt.
    let image = Arc::new(Image::new());
    let server = registry(image, Some(("manifest", trickle())));
    let work = tempfile::tempdir().unwrap();
    let out = mirror(&server, work.path())
        .env("SEEDFORGE_SPEED_LIMIT", "0")
        .expect(75)
        .run();
    assert!(
        out.stderr.contains(
            "no complete answer within the 5 s deadline for documents (SEEDFORGE_DOCUMENT_DEADLINE)"
        ),
        "{}",
        out.stderr
    );
}

#[test]
fn a_slow_start_and_a_steady_layer_outlast_the_speed_window_and_the_budget() {
    // The first byte comes after twice the speed window, and the body flows for longer
    // than the budget: a sound transfer, which one attempt must bring in whole. The budget
    // leaves 3 s after the first byte is due, so that a loaded machine's late start is not
    // taken for the silence the budget is there to end.
    let image = Arc::new(Image::new());
    let paced = Answer::Paced {
        body: image.layer.clone(),
        delay: Duration::from_secs(2),
        chunk: 32 << 10,
        every: Duration::from_millis(200),
    };
    let server = registry(image.clone(), Some(("layer", paced)));
    let work = tempfile::tempdir().unwrap();
    mirror(&server, work.path())
        .env("SEEDFORGE_READ_TIMEOUT", "5")
        .env("SEEDFORGE_DEADLINE", "30")
        .env("SEEDFORGE_SPEED_TIME", "1")
        .env("SEEDFORGE_BUDGET", "5")
        .env("SEEDFORGE_RETRIES", "1")
        .run();
    let blob = work
        .path()
        .join("oci/blobs/sha256")
        .join(image.layer_digest());
    assert_eq!(fs::read(blob).unwrap(), image.layer);
}

#[test]
fn a_bad_limit_is_a_usage_error_naming_the_variable() {
    for (name, value) in [
        ("SEEDFORGE_BUDGET", "0"),
        ("SEEDFORGE_SPEED_LIMIT", "-1"),
        ("SEEDFORGE_SPEED_TIME", "soon"),
        ("SEEDFORGE_DOCUMENT_DEADLINE", "1e9"),
    ] {
        let work = tempfile::tempdir().unwrap();
        let list = work.path().join("images.txt");
        fs::write(&list, "docker://127.0.0.1:9/lib/app:1.0\n").unwrap();
        let out = Cmd::seedforge()
            .args(["mirror", "--images"])
            .arg(&list)
            .arg("--layout")
            .arg(work.path().join("oci"))
            .env(name, value)
            .expect(2)
            .run();
        assert!(out.stderr.contains(name), "{name}: {}", out.stderr);
        assert!(!work.path().join("oci").exists(), "{name}");
    }
}

#[test]
fn a_manifest_without_end_stops_at_four_mib() {
    let image = Arc::new(Image::new());
    let server = registry(image, Some(("manifest", Answer::Endless)));
    let work = tempfile::tempdir().unwrap();
    let out = mirror(&server, work.path()).expect(1).run();
    assert!(out.stderr.contains("4194304"), "{}", out.stderr);
    assert!(server.body_bytes() < FLAT, "{}", server.body_bytes());
}

// --- an apt repository --------------------------------------------------------------

/// Serves the repository under `root`, with `fault` for paths ending in `suffix`.
fn apt_server(root: &Path, suffix: &'static str, fault: Answer) -> Server {
    let root = root.to_path_buf();
    Server::start(move |_, path| {
        if path.ends_with(suffix) || (suffix == "/Packages*" && path.contains("/Packages")) {
            return fault.clone();
        }
        match fs::read(root.join(path.trim_start_matches('/'))) {
            Ok(body) => Answer::ok("application/octet-stream", body),
            Err(_) => Answer::status(404),
        }
    })
}

fn debs(server: &Server, work: &Path) -> Cmd {
    let base = work.join("base.txt");
    fs::write(&base, "libc6:amd64\t2.36-9+deb12u10\n").unwrap();
    limited(seedforge())
        .args(["debs", "--repo"])
        .arg(server.url("/"))
        .args(["--suite", "bookworm", "--package", "jq", "--base"])
        .arg(&base)
        .arg("--out")
        .arg(work.join("ops.tar.gz"))
}

#[test]
fn a_misbehaving_apt_repository_ends_each_run_within_its_limits() {
    if !common::require_tool("apt-ftparchive") {
        return;
    }
    let repo = tempfile::tempdir().unwrap();
    common::debs::make_repo(repo.path(), &common::debs::fixture_debs());
    // Sound first: the same server without a fault gives a bundle.
    {
        let server = apt_server(repo.path(), "/none", Answer::status(500));
        let work = tempfile::tempdir().unwrap();
        debs(&server, work.path()).run();
        assert!(work.path().join("ops.tar.gz").is_file());
    }
    for (target, suffix) in [
        ("Release", "/Release"),
        ("Packages", "/Packages*"),
        (".deb", ".deb"),
    ] {
        for case in cases() {
            // The Release file has no size to bound it by but its 16 MiB cap, and trickles
            // are the same for every file.
            let label = format!("{target}: {}", case.name);
            let server = apt_server(repo.path(), suffix, case.answer.clone());
            let work = tempfile::tempdir().unwrap();
            let out = debs(&server, work.path()).expect(case.code).run();
            assert_says(&case, &out.stderr);
            assert!(
                server.body_bytes() < FLAT,
                "{label}: the client took {} bytes",
                server.body_bytes()
            );
            let left: Vec<_> = fs::read_dir(work.path())
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| n != "base.txt")
                .collect();
            assert!(left.is_empty(), "{label}: left behind: {left:?}");
            eprintln!(
                "{label}: exit {}: {}",
                case.code,
                out.stderr.lines().last().unwrap_or("")
            );
        }
    }
}

#[test]
fn a_silent_or_trickling_apt_repository_is_given_up_on_once_the_budget_is_spent() {
    if !common::require_tool("apt-ftparchive") {
        return;
    }
    let repo = tempfile::tempdir().unwrap();
    common::debs::make_repo(repo.path(), &common::debs::fixture_debs());
    for (target, suffix) in [
        ("Release", "/Release"),
        ("Packages", "/Packages*"),
        (".deb", ".deb"),
    ] {
        for (name, answer, what) in budget_cases() {
            let label = format!("{target}: {name}");
            let server = apt_server(repo.path(), suffix, answer);
            let work = tempfile::tempdir().unwrap();
            let out = budgeted(debs(&server, work.path()), "4").expect(75).run();
            assert_budget_spent(&label, &out.stderr, what, &server.url("/"));
        }
    }
}

#[test]
fn a_slow_start_and_steady_debs_outlast_the_speed_window_and_the_budget() {
    if !common::require_tool("apt-ftparchive") {
        return;
    }
    let repo = tempfile::tempdir().unwrap();
    common::debs::make_repo(repo.path(), &common::debs::fixture_debs());
    let root = repo.path().to_path_buf();
    let server = Server::start(move |_, path| {
        let Ok(body) = fs::read(root.join(path.trim_start_matches('/'))) else {
            return Answer::status(404);
        };
        if !path.ends_with(".deb") {
            return Answer::ok("application/octet-stream", body);
        }
        // 32 KiB a second: the largest (183 KiB) flows for about 5.5 s after a 2 s start,
        // longer than the budget, which leaves 3 s after the first byte is due.
        Answer::Paced {
            body,
            delay: Duration::from_secs(2),
            chunk: 8 << 10,
            every: Duration::from_millis(250),
        }
    });
    let work = tempfile::tempdir().unwrap();
    debs(&server, work.path())
        .env("SEEDFORGE_READ_TIMEOUT", "5")
        .env("SEEDFORGE_DEADLINE", "30")
        .env("SEEDFORGE_SPEED_TIME", "1")
        .env("SEEDFORGE_BUDGET", "5")
        .env("SEEDFORGE_RETRIES", "1")
        .run();
    assert!(work.path().join("ops.tar.gz").is_file());
}

// --- a files: URL ---------------------------------------------------------------------

#[test]
fn a_misbehaving_files_url_ends_each_build_within_its_limits() {
    // 4 KiB: more than the answers announce, so each misbehaviour is met as such.
    let mut k3s = b"#!/bin/sh\necho k3s\n".to_vec();
    k3s.resize(4096, b'#');
    for case in cases() {
        let fault = case.answer.clone();
        let server = Server::start(move |_, _| fault.clone());
        let lab = Lab::new();
        let path = lab.lab_dir().join("seedforge.yaml");
        let mut config = fs::read_to_string(&path).unwrap();
        config.push_str(&format!(
            "\nfiles:\n  - name: bin/k3s\n    source: {}\n    sha256: \"{}\"\n    size: {}\n    executable: true\n",
            server.url("k3s"),
            sha256_bytes(&k3s),
            k3s.len()
        ));
        fs::write(&path, config).unwrap();
        let out = limited(seedforge().cwd(lab.root()))
            .args(["build", "--config", lab.config_arg()])
            .expect(case.code)
            .run();
        assert_says(&case, &out.stderr);
        assert!(
            server.body_bytes() < FLAT,
            "{}: the client took {} bytes",
            case.name,
            server.body_bytes()
        );
        let files = lab.out_dir().join("files");
        let kept: Vec<_> = walk(&files);
        assert!(kept.is_empty(), "{}: left behind: {kept:?}", case.name);
        eprintln!(
            "{}: exit {}: {}",
            case.name,
            case.code,
            out.stderr.lines().last().unwrap_or("")
        );
    }
}

#[test]
fn a_silent_or_trickling_files_url_is_given_up_on_once_the_budget_is_spent() {
    for (name, answer, what) in budget_cases() {
        let server = Server::start(move |_, _| answer.clone());
        let lab = Lab::new();
        let path = lab.lab_dir().join("seedforge.yaml");
        let mut config = fs::read_to_string(&path).unwrap();
        config.push_str(&format!(
            "\nfiles:\n  - name: bin/k3s\n    source: {}\n    size: 4096\n    sha256: \"{}\"\n",
            server.url("k3s"),
            "0".repeat(64)
        ));
        fs::write(&path, config).unwrap();
        let out = budgeted(seedforge().cwd(lab.root()), "4")
            .args(["build", "--config", lab.config_arg()])
            .expect(75)
            .run();
        assert_budget_spent(name, &out.stderr, what, &server.url("k3s"));
    }
}

fn walk(dir: &Path) -> Vec<String> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in entries {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            out.extend(walk(&e.path()));
        } else {
            out.push(e.path().display().to_string());
        }
    }
    out
}

/// Ctrl-C or a SIGTERM while .debs download removes the bundle's staging folder (a
/// SIGKILL leaves it to the next run's sweep, `debs_refusals`), and the run ends with the
/// status a shell gives: 130, 143.
#[test]
fn an_interrupted_debs_run_removes_its_staging_folder() {
    if !common::require_tool("apt-ftparchive") || !common::require_tool("kill") {
        return;
    }
    let repo = tempfile::tempdir().unwrap();
    common::debs::make_repo(repo.path(), &common::debs::fixture_debs());
    for (signal, code) in [("INT", 130), ("TERM", 143)] {
        let server = apt_server(repo.path(), ".deb", Answer::StallBeforeHeaders);
        let work = tempfile::tempdir().unwrap();
        let base = work.path().join("base.txt");
        fs::write(&base, "libc6:amd64\t2.36-9+deb12u10\n").unwrap();
        let mut run = Cmd::seedforge()
            .args(["debs", "--repo"])
            .arg(server.url("/"))
            .args(["--suite", "bookworm", "--package", "jq", "--base"])
            .arg(&base)
            .arg("--out")
            .arg(work.path().join("ops.tar.gz"))
            .timeout(RUN_LIMIT)
            .any_status()
            .spawn();
        let staging = || {
            fs::read_dir(work.path())
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .find(|n| n.starts_with(".ops.tar.gz.seedforge-"))
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while staging().is_none() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(
            staging().is_some(),
            "SIG{signal}: no staging folder appeared"
        );
        // The downloads are stalled at their first request: the run is in the middle.
        std::thread::sleep(Duration::from_millis(300));
        let pid = run.guard.child().id().to_string();
        Cmd::new("kill").args([&format!("-{signal}"), &pid]).run();
        let out = run.wait();
        assert_eq!(out.code, Some(code), "SIG{signal}: {}", out.stderr);
        let left: Vec<_> = fs::read_dir(work.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n != "base.txt")
            .collect();
        assert!(left.is_empty(), "SIG{signal}: left behind: {left:?}");
    }
}

/// A host whose name does not resolve (`.invalid` never does) is named as that at once, by
/// every client (registry, apt repository, `files:` URL): looked up once, not retried for
/// the whole budget, and the message says what to do. No DNS answer, like a refused
/// connection (a closed port on 127.0.0.1), is exit 75: another run later may succeed; the
/// `--json` error document says so (`code` 75, `kind` "unreachable").
#[test]
fn a_name_that_does_not_resolve_fails_at_once_saying_so() {
    let work = tempfile::tempdir().unwrap();
    let list = work.path().join("images.txt");
    fs::write(
        &list,
        "docker://registry.invalid/app/web:1\ndocker://registry.invalid/app/api:2\n",
    )
    .unwrap();
    let runs = [
        Cmd::seedforge()
            .args(["mirror", "--images"])
            .arg(&list)
            .arg("--layout")
            .arg(work.path().join("layout")),
        Cmd::seedforge()
            .args([
                "debs",
                "--repo",
                "http://debs.invalid/debian",
                "--suite",
                "bookworm",
            ])
            .args(["--package", "jq", "--name", "ops", "--no-cache", "--out"])
            .arg(work.path().join("ops.tar.gz")),
    ];
    for (run, name) in runs.into_iter().zip(["registry.invalid", "debs.invalid"]) {
        // Whatever proxy the machine names: these names are looked up here.
        let out = run
            .env("NO_PROXY", "*")
            .env("no_proxy", "*")
            .timeout(RUN_LIMIT)
            .any_status()
            .run();
        assert_eq!(out.code, Some(75), "{name}: {}", out.stderr);
        assert!(
            out.stderr.contains(&format!("cannot look up {name}"))
                && out.stderr.contains("no network or no DNS")
                && out.stderr.contains("--offline"),
            "{name}: {}",
            out.stderr
        );
        assert!(!out.stderr.contains("tried"), "retried: {}", out.stderr);
        assert!(!out.stderr.contains("authentication"), "{}", out.stderr);
    }
    // A closed port: the connection is refused, retried, given up on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let host = closed.local_addr().unwrap().to_string();
    drop(closed);
    fs::write(&list, format!("docker://{host}/app/web:1\n")).unwrap();
    let runs = [
        Cmd::seedforge()
            .args(["--json", "mirror", "--images"])
            .arg(&list)
            .arg("--layout")
            .arg(work.path().join("layout"))
            .args(["--plain-http", &host]),
        Cmd::seedforge()
            .args(["--json", "debs", "--repo", &format!("http://{host}/debian")])
            .args(["--suite", "bookworm", "--package", "jq", "--name", "ops"])
            .args(["--no-cache", "--out"])
            .arg(work.path().join("ops.tar.gz")),
    ];
    for (run, name) in runs.into_iter().zip(["mirror", "debs"]) {
        let out = run
            .env("SEEDFORGE_RETRIES", "2")
            .timeout(RUN_LIMIT)
            .expect(75)
            .run();
        assert!(
            out.stderr.contains("Connection refused"),
            "{name}: {}",
            out.stderr
        );
        let doc: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        assert_eq!(doc["error"]["code"], 75, "{name}: {doc}");
        assert_eq!(doc["error"]["kind"], "unreachable", "{name}: {doc}");
    }
}
