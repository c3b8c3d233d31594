//! Running commands from the tests: the `seedforge` binary under test or an external tool,
//! each with a time limit, captured output and a checked exit status; a child guard that
//! kills (by PID) whatever a failing test leaves running; pipelines of two commands; and the
//! check that skips (or, under `CI=true`, fails) a test whose judge is not installed.

use std::ffi::OsStr;
use std::fs;
use std::io::Read;
use std::path::PathBuf;
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

/// Where `name` is found as an executable on `PATH`, first match.
pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| {
            fs::metadata(candidate).is_ok_and(|m| {
                use std::os::unix::fs::PermissionsExt as _;
                m.is_file() && m.permissions().mode() & 0o111 != 0
            })
        })
}

/// Checks that an external tool is installed. Missing: fails the test when `CI=true`,
/// otherwise prints a skip note and returns false (the caller returns early).
pub fn require_tool(name: &str) -> bool {
    if which(name).is_some() {
        return true;
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("required tool {name:?} is not installed (CI=true, so this is a failure)");
    }
    eprintln!("SKIP: {name} is not installed; skipping the part of this test that needs it");
    false
}

/// True if strace can trace here (ptrace may be forbidden in a container), and taskset is
/// there to pin it to one CPU; skips (or, under `CI=true`, fails) otherwise.
pub fn strace_usable() -> bool {
    if !require_tool("strace") || !require_tool("taskset") {
        return false;
    }
    let probe = Cmd::new("strace")
        .args(["-qq", "-o", "/dev/null", "true"])
        .any_status()
        .run();
    if probe.code == Some(0) {
        return true;
    }
    assert!(
        std::env::var("CI").map_or(true, |v| v != "true"),
        "strace cannot trace here (ptrace not permitted?): {}",
        probe.stderr
    );
    eprintln!("SKIP: strace cannot trace here: {}", probe.stderr);
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
    /// stdout parsed as one JSON document; a `seedforge … --json` document is checked
    /// against its JSON Schema too ([`super::json_schema::check`]).
    pub fn json(&self) -> serde_json::Value {
        let doc = serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "{}: stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.what, self.stdout, self.stderr
            )
        });
        let seedforge = seedforge_bin().display().to_string();
        let mut words = self.what.split(' ');
        if words.next() == Some(seedforge.as_str()) && words.any(|w| w == "--json") {
            super::json_schema::check(&doc);
        }
        doc
    }
}

/// A command to run with a time limit, capturing output and checking the exit status.
#[derive(Debug, Clone)]
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

    /// This command run through `wrapper` (`strace -f …`, `prlimit …`): `wrapper` with its
    /// `args`, then this program and its arguments; the folder and environment kept.
    pub fn under<S: AsRef<OsStr>>(&self, wrapper: &str, args: &[S]) -> Cmd {
        let mut all: Vec<std::ffi::OsString> =
            args.iter().map(|a| a.as_ref().to_os_string()).collect();
        all.push(self.program.clone().into_os_string());
        all.extend(self.args.iter().cloned());
        Cmd {
            program: PathBuf::from(wrapper),
            args: all,
            cwd: self.cwd.clone(),
            env: self.env.clone(),
            expect: self.expect,
            timeout: self.timeout,
        }
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
        // Nor its SOURCE_DATE_EPOCH (a CI exports one for reproducible builds): a test
        // that dates a build sets it.
        c.env_remove("SOURCE_DATE_EPOCH");
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

/// A crate's source folder in cargo's registry cache (`name-version`, the newest held).
pub fn registry_crate(prefix: &str) -> PathBuf {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cargo"));
    let mut found: Vec<PathBuf> = fs::read_dir(home.join("registry/src"))
        .unwrap()
        .flat_map(|index| fs::read_dir(index.unwrap().path()).unwrap())
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(prefix))
        .collect();
    found.sort();
    found
        .pop()
        .unwrap_or_else(|| panic!("no {prefix}* in {}/registry/src", home.display()))
}
