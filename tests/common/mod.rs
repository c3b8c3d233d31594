//! Shared helpers for the integration tests: a builder that runs the `seedforge` binary (or
//! an external tool) with a time limit, a per-test copy of the fixtures, tree snapshots,
//! blob hashing and a generator for large OCI images.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stderr
)]

use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs::{self, File};
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// How long any one command may run before the test kills it and fails.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(180);

/// The repository root (where `fixtures/` lives).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The seedforge binary under test.
pub fn seedforge_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_seedforge"))
}

/// True if `name` is an executable somewhere on `PATH`.
fn on_path(name: &str) -> bool {
    let Some(path) = std::env::var_os("PATH") else {
        return false;
    };
    std::env::split_paths(&path).any(|dir| {
        let candidate = dir.join(name);
        fs::metadata(&candidate).is_ok_and(|m| {
            use std::os::unix::fs::PermissionsExt as _;
            m.is_file() && m.permissions().mode() & 0o111 != 0
        })
    })
}

/// Checks that an external tool is installed. Missing: fails the test when `CI=true`,
/// otherwise prints a skip note and returns false (the caller returns early).
pub fn require_tool(name: &str) -> bool {
    if on_path(name) {
        return true;
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("required tool {name:?} is not installed (CI=true, so this is a failure)");
    }
    eprintln!("SKIP: {name} is not installed; skipping the part of this test that needs it");
    false
}

/// The result of a finished command.
#[derive(Debug)]
pub struct Output {
    /// What was run, for messages.
    pub what: String,
    /// Exit code (`None` if killed by a signal).
    pub code: Option<i32>,
    /// Captured stdout.
    pub stdout: String,
    /// Captured stderr.
    pub stderr: String,
}

impl Output {
    /// stdout parsed as one JSON document.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "{}: stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.what, self.stdout, self.stderr
            )
        })
    }
}

/// A command to run with a time limit, capturing output and checking the exit status.
#[derive(Debug)]
pub struct Cmd {
    program: PathBuf,
    args: Vec<std::ffi::OsString>,
    cwd: Option<PathBuf>,
    env: Vec<(String, String)>,
    expect: Option<i32>,
    timeout: Duration,
}

impl Cmd {
    /// A command running `program`.
    pub fn new(program: impl Into<PathBuf>) -> Cmd {
        Cmd {
            program: program.into(),
            args: Vec::new(),
            cwd: None,
            env: Vec::new(),
            expect: Some(0),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// A command running the seedforge binary under test.
    pub fn seedforge() -> Cmd {
        Cmd::new(seedforge_bin())
    }

    /// Adds one argument.
    pub fn arg(mut self, a: impl AsRef<OsStr>) -> Cmd {
        self.args.push(a.as_ref().to_os_string());
        self
    }

    /// Adds several arguments.
    pub fn args<I, S>(mut self, args: I) -> Cmd
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_os_string()));
        self
    }

    /// Runs in `dir`.
    pub fn cwd(mut self, dir: impl Into<PathBuf>) -> Cmd {
        self.cwd = Some(dir.into());
        self
    }

    /// Sets an environment variable.
    pub fn env(mut self, k: &str, v: &str) -> Cmd {
        self.env.push((k.to_string(), v.to_string()));
        self
    }

    /// The exit code the run must end with (default 0).
    pub fn expect(mut self, code: i32) -> Cmd {
        self.expect = Some(code);
        self
    }

    /// Accept any exit status.
    pub fn any_status(mut self) -> Cmd {
        self.expect = None;
        self
    }

    /// Changes the time limit.
    pub fn timeout(mut self, t: Duration) -> Cmd {
        self.timeout = t;
        self
    }

    fn describe(&self) -> String {
        let mut s = self.program.display().to_string();
        for a in &self.args {
            s.push(' ');
            s.push_str(&a.to_string_lossy());
        }
        s
    }

    /// Builds the `std::process::Command` (stdin closed).
    pub fn command(&self) -> Command {
        let mut c = Command::new(&self.program);
        c.args(&self.args).stdin(Stdio::null());
        if let Some(dir) = &self.cwd {
            c.current_dir(dir);
        }
        // Never let the environment of the test runner change the logging or colours.
        c.env_remove("SEEDFORGE_LOG").env("NO_COLOR", "1");
        // Nor the runner's download cache: each run downloads what it needs, as the tests
        // that count requests or serve damaged files expect; the cache's own tests turn it
        // on with a folder of their own.
        c.env("SEEDFORGE_NO_CACHE", "1")
            .env_remove("SEEDFORGE_CACHE_DIR")
            .env_remove("SEEDFORGE_CACHE_MAX");
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c
    }

    /// Starts the command with captured output, without waiting.
    pub fn spawn(&self) -> Running {
        self.start(self.command())
    }

    /// Starts `command` (this builder's, possibly with stdin set) with stdout and stderr
    /// drained on threads so a chatty child never blocks on a full pipe.
    fn start(&self, mut command: Command) -> Running {
        let what = self.describe();
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
        let mut out = child.stdout.take().expect("stdout pipe");
        let mut err = child.stderr.take().expect("stderr pipe");
        let out_reader = thread::spawn(move || {
            let mut s = Vec::new();
            let _ = out.read_to_end(&mut s);
            String::from_utf8_lossy(&s).into_owned()
        });
        let err_reader = thread::spawn(move || {
            let mut s = Vec::new();
            let _ = err.read_to_end(&mut s);
            String::from_utf8_lossy(&s).into_owned()
        });
        Running {
            guard: ChildGuard(Some(child)),
            what,
            expect: self.expect,
            timeout: self.timeout,
            started: Instant::now(),
            out_reader: Some(out_reader),
            err_reader: Some(err_reader),
        }
    }

    /// Runs to completion (killing it after the time limit) and checks the exit status.
    pub fn run(self) -> Output {
        self.spawn().wait()
    }
}

/// A child process that is killed (by its PID) if the guard is dropped while it runs, so a
/// failing test never leaves a process behind.
#[derive(Debug)]
pub struct ChildGuard(pub Option<Child>);

impl ChildGuard {
    /// The child.
    pub fn child(&mut self) -> &mut Child {
        self.0.as_mut().expect("child already reaped")
    }

    /// Polls for exit until `deadline`; kills the child when it passes.
    pub fn wait_until(&mut self, deadline: Instant) -> Option<ExitStatus> {
        loop {
            if let Some(status) = self.child().try_wait().expect("try_wait") {
                return Some(status);
            }
            if Instant::now() >= deadline {
                self.kill();
                return None;
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Sends SIGKILL and reaps the child.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Some(child) = self.0.as_mut()
            && matches!(child.try_wait(), Ok(None))
        {
            self.kill();
        }
    }
}

/// A started command.
#[derive(Debug)]
pub struct Running {
    /// The process.
    pub guard: ChildGuard,
    what: String,
    expect: Option<i32>,
    timeout: Duration,
    started: Instant,
    out_reader: Option<thread::JoinHandle<String>>,
    err_reader: Option<thread::JoinHandle<String>>,
}

impl Running {
    /// Waits (bounded by the time limit) and checks the exit status.
    pub fn wait(mut self) -> Output {
        let status = self.guard.wait_until(self.started + self.timeout);
        let stdout = self.out_reader.take().unwrap().join().unwrap_or_default();
        let stderr = self.err_reader.take().unwrap().join().unwrap_or_default();
        let Some(status) = status else {
            panic!(
                "{} did not finish within {:?} and was killed\nstdout:\n{stdout}\nstderr:\n{stderr}",
                self.what, self.timeout
            );
        };
        let out = Output {
            what: self.what.clone(),
            code: status.code(),
            stdout,
            stderr,
        };
        if let Some(want) = self.expect {
            assert_eq!(
                out.code,
                Some(want),
                "{}: expected exit code {want}, got {:?}\nstdout:\n{}\nstderr:\n{}",
                out.what,
                out.code,
                out.stdout,
                out.stderr
            );
        }
        out
    }
}

/// A private copy of the fixtures in a temporary directory, laid out as in the repository
/// (`fixtures/lab`, `fixtures/images`) so relative paths in the lab config keep working and
/// nothing is written into the repository.
pub struct Lab {
    /// Deleted when the lab is dropped.
    pub tmp: tempfile::TempDir,
}

impl Lab {
    /// Copies the fixtures (without any `out/` left in the repository by a manual build).
    pub fn new() -> Lab {
        let tmp = tempfile::Builder::new()
            .prefix("seedforge-test-")
            .tempdir()
            .expect("tempdir");
        let src = repo_root().join("fixtures");
        for sub in ["lab", "images"] {
            copy_tree(
                &src.join(sub),
                &tmp.path().join("fixtures").join(sub),
                &|p| sub == "lab" && p.file_name().is_some_and(|n| n == "out"),
            );
        }
        Lab { tmp }
    }

    /// The temporary root (commands run here).
    pub fn root(&self) -> &Path {
        self.tmp.path()
    }

    /// `fixtures/lab` inside the copy.
    pub fn lab_dir(&self) -> PathBuf {
        self.root().join("fixtures/lab")
    }

    /// The lab config (relative to [`Lab::root`]).
    pub fn config_arg(&self) -> &'static str {
        "fixtures/lab/seedforge.yaml"
    }

    /// The default build output directory of the lab config.
    pub fn out_dir(&self) -> PathBuf {
        self.lab_dir().join("out")
    }

    /// The layout of the default build output.
    pub fn out_layout(&self) -> PathBuf {
        self.out_dir().join("oci")
    }

    /// `seedforge` with the lab root as working directory.
    pub fn seedforge(&self) -> Cmd {
        Cmd::seedforge().cwd(self.root())
    }

    /// Runs `seedforge build --config fixtures/lab/seedforge.yaml` and checks it succeeds.
    pub fn build(&self) -> Output {
        self.seedforge()
            .args(["build", "--config", self.config_arg()])
            .run()
    }

    /// Points the lab's pause image at `docker://HOST/rancher/mirrored-pause:3.6` and
    /// lists HOST in the config's `registries:` as plain HTTP.
    pub fn pull_pause_from(&self, host: &str) {
        let dir = self.lab_dir();
        let list = dir.join("images.txt");
        let text = std::fs::read_to_string(&list).unwrap().replace(
            "oci:../images/oci:mirrored-pause:3.6 ",
            &format!("docker://{host}/rancher/mirrored-pause:3.6 "),
        );
        std::fs::write(&list, text).unwrap();
        let config = dir.join("seedforge.yaml");
        let text = std::fs::read_to_string(&config).unwrap().replace(
            "\nimages:\n",
            &format!("\nregistries:\n  - host: \"{host}\"\n    insecure: true\n\nimages:\n"),
        );
        std::fs::write(&config, text).unwrap();
    }

    /// The destinations listed in the lab's images.txt, in order.
    pub fn lab_destinations(&self) -> Vec<String> {
        list_lines(&self.lab_dir().join("images.txt"))
            .into_iter()
            .map(|(_, fields)| fields[1].clone())
            .collect()
    }
}

/// The non-comment lines of an image list: (1-based line number, fields).
pub fn list_lines(path: &Path) -> Vec<(usize, Vec<String>)> {
    let text = fs::read_to_string(path).unwrap();
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .map(|(i, l)| (i + 1, l.split_whitespace().map(str::to_string).collect()))
        .collect()
}

/// Recursively copies `from` to `to`, skipping entries for which `skip` is true.
pub fn copy_tree(from: &Path, to: &Path, skip: &dyn Fn(&Path) -> bool) {
    fs::create_dir_all(to).unwrap();
    let mut entries: Vec<_> = fs::read_dir(from)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if skip(&path) {
            continue;
        }
        let dest = to.join(path.file_name().unwrap());
        let meta = fs::symlink_metadata(&path).unwrap();
        if meta.is_dir() {
            copy_tree(&path, &dest, skip);
        } else if meta.is_file() {
            fs::copy(&path, &dest).unwrap();
        }
    }
}

/// What a tree snapshot records for one path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// A directory.
    Dir,
    /// A regular file and its bytes.
    File(Vec<u8>),
    /// Anything else (symlink, …).
    Other,
}

/// Every path under `root` (relative, sorted) with its kind and, for files, its bytes.
pub fn snapshot(root: &Path) -> BTreeMap<PathBuf, Entry> {
    let mut out = BTreeMap::new();
    walk(root, root, &mut |rel, meta, path| {
        let entry = if meta.is_dir() {
            Entry::Dir
        } else if meta.is_file() {
            Entry::File(fs::read(path).unwrap())
        } else {
            Entry::Other
        };
        out.insert(rel.to_path_buf(), entry);
    });
    out
}

/// Asserts that two snapshots are identical, naming the first difference.
pub fn assert_same_tree(a: &BTreeMap<PathBuf, Entry>, b: &BTreeMap<PathBuf, Entry>, what: &str) {
    let names_a: Vec<_> = a.keys().collect();
    let names_b: Vec<_> = b.keys().collect();
    assert_eq!(names_a, names_b, "{what}: the trees hold different paths");
    for (path, entry) in a {
        assert!(
            b.get(path) == Some(entry),
            "{what}: {} differs",
            path.display()
        );
    }
}

fn walk(root: &Path, dir: &Path, f: &mut dyn FnMut(&Path, &fs::Metadata, &Path)) {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        let meta = fs::symlink_metadata(&path).unwrap();
        let rel = path.strip_prefix(root).unwrap();
        f(rel, &meta, &path);
        if meta.is_dir() {
            walk(root, &path, f);
        }
    }
}

/// Every regular file under `root` (absolute paths, sorted).
pub fn files_under(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if root.exists() {
        walk(root, root, &mut |_, meta, path| {
            if meta.is_file() {
                out.push(path.to_path_buf());
            }
        });
    }
    out
}

/// Hex sha256 of a file, streamed.
pub fn sha256_file(path: &Path) -> String {
    let mut f = File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    hex(&h.finalize())
}

/// Hex sha256 of bytes.
pub fn sha256_bytes(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Files in `LAYOUT/blobs/sha256` whose content does not hash to their name.
pub fn mismatched_blobs(layout: &Path) -> Vec<PathBuf> {
    let dir = layout.join("blobs/sha256");
    files_under(&dir)
        .into_iter()
        .filter(|p| sha256_file(p) != p.file_name().unwrap().to_string_lossy())
        .collect()
}

/// The path of the blob with `digest` (`sha256:…`) in `layout`.
pub fn blob_path(layout: &Path, digest: &str) -> PathBuf {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    layout.join("blobs/sha256").join(hex)
}

/// Reads a JSON file.
pub fn read_json(path: &Path) -> serde_json::Value {
    let bytes = fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("{} is not valid JSON: {e}", path.display()))
}

/// The `org.opencontainers.image.ref.name` of every entry in `LAYOUT/index.json`.
pub fn index_names(layout: &Path) -> Vec<String> {
    let index = read_json(&layout.join("index.json"));
    index["manifests"]
        .as_array()
        .expect("index.json has a manifests array")
        .iter()
        .filter_map(|m| m["annotations"]["org.opencontainers.image.ref.name"].as_str())
        .map(str::to_string)
        .collect()
}

/// The `index.json` entry named `name`.
pub fn index_entry(layout: &Path, name: &str) -> serde_json::Value {
    let index = read_json(&layout.join("index.json"));
    index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == name)
        .unwrap_or_else(|| panic!("index.json names no {name}"))
        .clone()
}

/// Flips the lowest bit of the byte at `offset` in `path`.
pub fn flip_byte(path: &Path, offset: usize) {
    let mut bytes = fs::read(path).unwrap();
    assert!(offset < bytes.len(), "{} is too short", path.display());
    bytes[offset] ^= 1;
    // The blob is read-only for nobody in particular; write it in place.
    fs::write(path, bytes).unwrap();
}

/// Writes an image list file with `lines`.
pub fn write_list(path: &Path, lines: &[String]) {
    let mut text = String::from("# written by an integration test\n");
    for l in lines {
        text.push_str(l);
        text.push('\n');
    }
    fs::write(path, text).unwrap();
}

/// A pseudo-random byte stream (xorshift64*), fast and reproducible from its seed.
pub struct XorShift(u64);

impl XorShift {
    /// A generator; `seed` must not be 0 (it is fixed up if it is).
    pub fn new(seed: u64) -> XorShift {
        XorShift(seed.max(1).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// Fills `buf` (whose length must be a multiple of 8).
    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_exact_mut(8) {
            let mut x = self.0;
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            self.0 = x;
            chunk.copy_from_slice(&x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
        }
    }
}

/// A writer that hashes and counts what passes through it.
struct HashingFile {
    inner: BufWriter<File>,
    hasher: Sha256,
    size: u64,
}

impl Write for HashingFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// A blob written by [`write_oci_image`].
#[derive(Debug, Clone)]
pub struct BlobInfo {
    /// `sha256:<hex>`.
    pub digest: String,
    /// Size in bytes.
    pub size: u64,
}

/// What [`write_oci_image`] wrote.
#[derive(Debug, Clone)]
pub struct GeneratedImage {
    /// The layers, in manifest order.
    pub layers: Vec<BlobInfo>,
    /// The config.
    pub config: BlobInfo,
    /// The manifest.
    pub manifest: BlobInfo,
}

/// Writes a tar layer holding one file of `size` pseudo-random bytes into `blobs_dir`,
/// streaming (never holding the content in memory). Returns its digest and size.
fn write_random_tar_layer(blobs_dir: &Path, size: u64, seed: u64) -> BlobInfo {
    let tmp = blobs_dir.join(format!(".gen-{seed}.tmp"));
    let file = File::create(&tmp).unwrap();
    let mut w = HashingFile {
        inner: BufWriter::with_capacity(1 << 20, file),
        hasher: Sha256::new(),
        size: 0,
    };
    let mut header = tar::Header::new_ustar();
    header.set_path(format!("data/blob-{seed}.bin")).unwrap();
    header.set_size(size);
    header.set_mode(0o644);
    header.set_mtime(1_700_000_000);
    header.set_uid(0);
    header.set_gid(0);
    header.set_entry_type(tar::EntryType::Regular);
    header.set_cksum();
    w.write_all(header.as_bytes()).unwrap();
    let mut rng = XorShift::new(seed);
    let mut buf = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        rng.fill(&mut buf);
        let n = usize::try_from(left.min(buf.len() as u64)).unwrap();
        w.write_all(&buf[..n]).unwrap();
        left -= n as u64;
    }
    let pad = (512 - size % 512) % 512;
    let end = vec![0u8; usize::try_from(pad).unwrap() + 1024];
    w.write_all(&end).unwrap();
    w.flush().unwrap();
    let digest = hex(&w.hasher.finalize());
    let total = w.size;
    drop(w.inner);
    fs::rename(&tmp, blobs_dir.join(&digest)).unwrap();
    BlobInfo {
        digest: format!("sha256:{digest}"),
        size: total,
    }
}

fn write_small_blob(blobs_dir: &Path, bytes: &[u8]) -> BlobInfo {
    let digest = sha256_bytes(bytes);
    fs::write(blobs_dir.join(&digest), bytes).unwrap();
    BlobInfo {
        digest: format!("sha256:{digest}"),
        size: bytes.len() as u64,
    }
}

/// Writes an OCI image layout at `dir` (created) holding one linux/amd64 image named
/// `ref_name` whose uncompressed tar layers hold `layer_sizes[i]` pseudo-random bytes each
/// (generated from `seed + i`). Several calls with different `ref_name`s may share `dir`.
pub fn write_oci_image(
    dir: &Path,
    ref_name: &str,
    layer_sizes: &[u64],
    seed: u64,
) -> GeneratedImage {
    let blobs = dir.join("blobs/sha256");
    fs::create_dir_all(&blobs).unwrap();
    fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let layers: Vec<BlobInfo> = layer_sizes
        .iter()
        .enumerate()
        .map(|(i, &size)| write_random_tar_layer(&blobs, size, seed + i as u64))
        .collect();
    let diff_ids: Vec<&str> = layers.iter().map(|l| l.digest.as_str()).collect();
    let config = serde_json::json!({
        "created": "2023-11-14T22:13:20Z",
        "architecture": "amd64",
        "os": "linux",
        "config": {"Cmd": ["/bin/true"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": layers.iter().map(|_| serde_json::json!({
            "created": "2023-11-14T22:13:20Z",
            "created_by": "seedforge integration test"
        })).collect::<Vec<_>>(),
    });
    let config = write_small_blob(&blobs, &serde_json::to_vec(&config).unwrap());
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config.digest,
            "size": config.size,
        },
        "layers": layers.iter().map(|l| serde_json::json!({
            "mediaType": "application/vnd.oci.image.layer.v1.tar",
            "digest": l.digest,
            "size": l.size,
        })).collect::<Vec<_>>(),
    });
    let manifest = write_small_blob(&blobs, &serde_json::to_vec(&manifest).unwrap());
    let index_path = dir.join("index.json");
    let mut index = if index_path.exists() {
        read_json(&index_path)
    } else {
        serde_json::json!({"schemaVersion": 2, "manifests": []})
    };
    index["manifests"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest.digest,
            "size": manifest.size,
            "annotations": {"org.opencontainers.image.ref.name": ref_name},
        }));
    fs::write(&index_path, serde_json::to_vec(&index).unwrap()).unwrap();
    GeneratedImage {
        layers,
        config,
        manifest,
    }
}

/// `skopeo inspect oci:LAYOUT:NAME`, checked to succeed; returns the parsed output.
pub fn skopeo_inspect(layout: &Path, name: &str, extra: &[&str]) -> serde_json::Value {
    let out = Cmd::new("skopeo")
        .arg("inspect")
        .args(extra)
        .arg(format!("oci:{}:{name}", layout.display()))
        .timeout(Duration::from_secs(60))
        .run();
    out.json()
}

impl Cmd {
    /// Starts the command like [`Cmd::spawn`], but with `stdin` as its standard input
    /// (e.g. the stdout of another process, for a pipeline).
    pub fn spawn_with_stdin(&self, stdin: Stdio) -> Running {
        let mut command = self.command();
        command.stdin(stdin);
        self.start(command)
    }
}

/// Runs `producer | consumer`: the consumer's exit status is checked as [`Cmd::run`] does,
/// the producer must exit 0. Both are killed when their time limits pass.
pub fn run_pipeline(producer: &Cmd, consumer: &Cmd) -> Output {
    let what = producer.describe();
    let mut child = producer
        .command()
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
    let started = Instant::now();
    let stdout = child.stdout.take().expect("stdout pipe");
    let mut err = child.stderr.take().expect("stderr pipe");
    let mut guard = ChildGuard(Some(child));
    let err_reader = thread::spawn(move || {
        let mut s = Vec::new();
        let _ = err.read_to_end(&mut s);
        String::from_utf8_lossy(&s).into_owned()
    });
    let out = consumer.spawn_with_stdin(Stdio::from(stdout)).wait();
    let status = guard.wait_until(started + producer.timeout);
    let stderr = err_reader.join().unwrap_or_default();
    match status {
        Some(s) if s.success() => out,
        Some(s) => panic!(
            "{what} (piped into {}) failed: {s}\nstderr:\n{stderr}",
            out.what
        ),
        None => panic!(
            "{what} did not finish within {:?} and was killed\nstderr:\n{stderr}",
            producer.timeout
        ),
    }
}

/// A private containerd (run as root) with its root, state, socket and config in a
/// temporary directory and the CRI plugin disabled. Killed (by its PID) when dropped.
pub struct Containerd {
    guard: ChildGuard,
    socket: PathBuf,
    log: PathBuf,
    /// Everything containerd writes; deleted after the process is gone.
    pub dir: tempfile::TempDir,
}

impl Containerd {
    /// How long containerd may take to open its socket.
    pub const START_TIMEOUT: Duration = Duration::from_secs(10);

    /// Starts containerd and waits (bounded) until `ctr version` answers on its socket.
    pub fn start() -> Containerd {
        let dir = tempfile::Builder::new()
            .prefix("seedforge-containerd-")
            .tempdir()
            .expect("tempdir");
        let d = dir.path();
        let socket = d.join("containerd.sock");
        let config = d.join("config.toml");
        let q = |p: &Path| format!("{:?}", p.display().to_string());
        fs::write(
            &config,
            format!(
                "version = 2\nroot = {}\nstate = {}\n\
                 disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n\n\
                 [grpc]\n  address = {}\n\n[ttrpc]\n  address = {}\n\n\
                 [debug]\n  address = \"\"\n\n[metrics]\n  address = \"\"\n\n\
                 [plugins]\n  [plugins.\"io.containerd.internal.v1.opt\"]\n    path = {}\n",
                q(&d.join("root")),
                q(&d.join("state")),
                q(&socket),
                q(&d.join("containerd.sock.ttrpc")),
                q(&d.join("opt")),
            ),
        )
        .unwrap();
        let log = d.join("containerd.log");
        let log_file = File::create(&log).unwrap();
        let child = Command::new("containerd")
            .arg("--config")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().unwrap())
            .stderr(log_file)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start containerd: {e}"));
        let mut cd = Containerd {
            guard: ChildGuard(Some(child)),
            socket,
            log,
            dir,
        };
        let deadline = Instant::now() + Self::START_TIMEOUT;
        loop {
            if let Some(status) = cd.guard.child().try_wait().expect("try_wait") {
                panic!("containerd exited early ({status}):\n{}", cd.log_text());
            }
            if cd.socket.exists() {
                let out = Cmd::new("ctr")
                    .arg("--address")
                    .arg(&cd.socket)
                    .arg("version")
                    .timeout(Self::START_TIMEOUT)
                    .any_status()
                    .run();
                if out.code == Some(0) {
                    return cd;
                }
            }
            if Instant::now() >= deadline {
                cd.guard.kill();
                panic!(
                    "containerd did not answer on {} within {:?}:\n{}",
                    cd.socket.display(),
                    Self::START_TIMEOUT,
                    cd.log_text()
                );
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// The gRPC socket.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// What containerd logged so far.
    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `ctr --address SOCKET -n NAMESPACE` (60 s limit).
    pub fn ctr(&self, namespace: &str) -> Cmd {
        Cmd::new("ctr")
            .arg("--address")
            .arg(&self.socket)
            .args(["-n", namespace])
            .timeout(Duration::from_secs(60))
    }

    /// `ctr images mount [--platform P] REF TARGET`; the guard unmounts when dropped.
    pub fn mount(
        &self,
        namespace: &str,
        platform: Option<&str>,
        reference: &str,
        target: &Path,
    ) -> CtrMount<'_> {
        fs::create_dir_all(target).unwrap();
        let mut cmd = self.ctr(namespace).args(["images", "mount"]);
        if let Some(p) = platform {
            cmd = cmd.args(["--platform", p]);
        }
        cmd.arg(reference).arg(target).run();
        CtrMount {
            containerd: self,
            namespace: namespace.to_string(),
            target: target.to_path_buf(),
        }
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        self.guard.kill();
    }
}

/// An image mounted by `ctr images mount`; unmounted (with `umount` as a fallback) on drop.
pub struct CtrMount<'a> {
    containerd: &'a Containerd,
    namespace: String,
    target: PathBuf,
}

impl CtrMount<'_> {
    /// The mounted root file system.
    pub fn root(&self) -> &Path {
        &self.target
    }
}

/// True if `path` is a mount point of this process's mount namespace.
pub fn is_mount_point(path: &Path) -> bool {
    let want = path.display().to_string();
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .any(|l| l.split(' ').nth(4) == Some(want.as_str()))
}

impl Drop for CtrMount<'_> {
    fn drop(&mut self) {
        // Bounded waits only: a hung tool must not hang the test in a destructor.
        let bounded = |mut c: Command| {
            if let Ok(child) = c.stdout(Stdio::null()).stderr(Stdio::null()).spawn() {
                ChildGuard(Some(child)).wait_until(Instant::now() + Duration::from_secs(30));
            }
        };
        let mut unmount = self
            .containerd
            .ctr(&self.namespace)
            .args(["images", "unmount"])
            .arg(&self.target)
            .command();
        unmount.stdin(Stdio::null());
        bounded(unmount);
        if is_mount_point(&self.target) {
            let mut umount = Command::new("umount");
            umount.arg(&self.target).stdin(Stdio::null());
            bounded(umount);
        }
    }
}

pub mod debs;
pub mod iso;
pub mod misbehave;
pub mod pki;
pub mod proxy;
pub mod registry;
pub mod token;
