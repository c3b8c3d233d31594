//! Docker credential helpers, run as Docker runs them (`docker-credential-NAME get`, the
//! server on standard input, a JSON answer on standard output), within bounds.
//!
//! The helper's name comes from a credential file, which anyone able to write the user's
//! home may have written, so it is only ever a name: `[A-Za-z0-9._-]+`, looked up in the
//! absolute folders of `PATH` (a relative folder, the empty one included, would mean the
//! working folder, which Go's `exec.LookPath` refuses too), never a path. A helper that
//! never answers or answers without end would hold the whole run: it gets
//! [`TIMEOUT_VAR`] (default [`DEFAULT_TIMEOUT`]) from start to exit and [`MAX_ANSWER`]
//! bytes of answer; past either it is killed and reaped. Its output holds the secret and
//! its standard error may too: neither is ever shown.
//!
//! A helper is asked once per run for each server ([`HelperRuns::get_once`], owned by the
//! run's `RegistryAccess`): every image of a host needs the same answer, and a slow helper
//! would otherwise cost its time per image.

use std::collections::{BTreeSet, HashMap};
use std::io::{Read as _, Write as _};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Mutex, mpsc};
use std::time::{Duration, Instant};

/// How long a helper may take, from start to exit, unless [`TIMEOUT_VAR`] says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The environment variable that sets the helper's time limit, in seconds.
pub const TIMEOUT_VAR: &str = "SEEDFORGE_CREDENTIAL_HELPER_TIMEOUT";

/// The largest answer read from a helper, in bytes (a real one is well under 1 KiB).
pub const MAX_ANSWER: u64 = 1024 * 1024;

/// True for a helper name Docker's convention allows: letters, digits, `.`, `_` and `-`.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// The helper time limit: [`TIMEOUT_VAR`] in seconds (fractions allowed), else
/// [`DEFAULT_TIMEOUT`]. A bad value is an error naming the variable.
pub fn timeout() -> Result<Duration, String> {
    crate::util::env_seconds(TIMEOUT_VAR, DEFAULT_TIMEOUT)
}

/// `program` in an absolute folder of `PATH`, if there is an executable file of that name.
pub fn find_on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .filter(|dir| dir.is_absolute())
        .map(|dir| dir.join(program))
        .find(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// Runs `program get` with `server` on its standard input. `Ok(Some(answer))` when it
/// exits 0, `Ok(None)` when it exits otherwise (a helper's "no credentials for this
/// server"); `Err` says why there is no answer (time, size, the system), never what the
/// helper printed.
pub fn get(program: &Path, server: &str, timeout: Duration) -> Result<Option<Vec<u8>>, String> {
    let deadline = Instant::now() + timeout;
    let mut child = Command::new(program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run it: {e}"))?;
    let (stdin, stdout) = (child.stdin.take(), child.stdout.take());
    let (tx, rx) = mpsc::channel();
    let server = server.as_bytes().to_vec();
    // Writing and reading happen on a thread so that the time limit holds even while a
    // helper neither reads nor exits. After a timeout the thread ends when the pipe does
    // (at the latest when whatever the helper started and left holding it exits).
    std::thread::spawn(move || {
        if let Some(mut stdin) = stdin {
            // A helper that exits without reading is judged by its exit status.
            let _ = stdin.write_all(&server);
        }
        let mut answer = Vec::new();
        let read = match stdout {
            Some(out) => out.take(MAX_ANSWER + 1).read_to_end(&mut answer),
            None => Ok(0),
        };
        let _ = tx.send(read.map(|_| answer));
    });
    let no_answer = || {
        format!(
            "no answer within {} s ({TIMEOUT_VAR})",
            timeout.as_secs_f64()
        )
    };
    let result = match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        Err(_) => Err(no_answer()),
        Ok(Err(e)) => Err(format!("cannot read its answer: {e}")),
        Ok(Ok(answer)) if answer.len() as u64 > MAX_ANSWER => Err(format!(
            "its answer is larger than the {MAX_ANSWER}-byte limit"
        )),
        Ok(Ok(answer)) => match exit_by(&mut child, deadline) {
            Ok(Some(status)) => return Ok(status.success().then_some(answer)),
            Ok(None) => Err(no_answer()),
            Err(e) => Err(format!("cannot wait for it: {e}")),
        },
    };
    // Not exited (or not yet reaped): end it, and reap it so no zombie is left.
    let _ = child.kill();
    let _ = child.wait();
    result
}

/// What [`get`] answered, by program and server.
type Answers = HashMap<(PathBuf, String), Result<Option<Vec<u8>>, String>>;

/// The credential helpers of one run: what each answered for each server, and which
/// missing helpers the run has warned about. The run's [`super::RegistryAccess`] owns
/// it, so a second run in the same process asks the helpers again.
#[derive(Default)]
pub struct HelperRuns {
    answers: Mutex<Answers>,
    warned: Mutex<BTreeSet<String>>,
}

impl std::fmt::Debug for HelperRuns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The answers hold passwords.
        f.write_str("HelperRuns")
    }
}

impl HelperRuns {
    /// [`get`], asked once per run for each program and server: later calls give the
    /// first answer (a failure included) without running the helper again.
    pub fn get_once(
        &self,
        program: &Path,
        server: &str,
        timeout: Duration,
    ) -> Result<Option<Vec<u8>>, String> {
        // Held while the helper runs, so that two images of one host ask it once.
        let mut answers = self.answers.lock().unwrap_or_else(|e| e.into_inner());
        answers
            .entry((program.to_path_buf(), server.to_string()))
            .or_insert_with(|| get(program, server, timeout))
            .clone()
    }

    /// True the first time this run is told about `what` (a missing helper for a
    /// server): it is warned about once, not once per image.
    pub fn first_warning(&self, what: String) -> bool {
        let mut warned = self.warned.lock().unwrap_or_else(|e| e.into_inner());
        warned.insert(what)
    }
}

/// Waits for `child` to exit until `deadline`; `None` if it is still running then.
fn exit_by(child: &mut Child, deadline: Instant) -> std::io::Result<Option<ExitStatus>> {
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_names_never_paths() {
        for good in ["pass", "ecr-login", "desktop.exe", "osx_keychain", "a1"] {
            assert!(valid_name(good), "{good}");
        }
        for bad in [
            "",
            "x/../../evil.sh",
            "../../bin/sh",
            "/bin/sh",
            "a b",
            "a\0",
            "é",
        ] {
            assert!(!valid_name(bad), "{bad:?}");
        }
    }

    fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    #[test]
    fn a_run_asks_a_helper_once_per_server_and_another_run_asks_again() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("asked");
        let counts = script(
            dir.path(),
            "counts",
            &format!(
                r#"read s; echo "$s" >> '{}'; printf '%s' "$s""#,
                log.display()
            ),
        );
        let asked = || std::fs::read_to_string(&log).unwrap_or_default();
        let one = HelperRuns::default();
        for _ in 0..3 {
            let answer = one.get_once(&counts, "h.example", DEFAULT_TIMEOUT).unwrap();
            assert_eq!(answer.as_deref(), Some(&b"h.example"[..]));
        }
        one.get_once(&counts, "i.example", DEFAULT_TIMEOUT).unwrap();
        assert_eq!(asked(), "h.example\ni.example\n");
        HelperRuns::default()
            .get_once(&counts, "h.example", DEFAULT_TIMEOUT)
            .unwrap();
        assert_eq!(asked(), "h.example\ni.example\nh.example\n");
        assert!(one.first_warning("pass h.example".into()));
        assert!(!one.first_warning("pass h.example".into()));
        assert!(HelperRuns::default().first_warning("pass h.example".into()));
        assert_eq!(format!("{one:?}"), "HelperRuns");
    }

    #[test]
    fn a_helper_gets_the_server_and_is_bounded_in_time_and_size() {
        let dir = tempfile::tempdir().unwrap();
        let echo = script(
            dir.path(),
            "echo",
            r#"read s; [ "$1" = get ] && printf '%s' "$s""#,
        );
        assert_eq!(
            get(&echo, "h.example", DEFAULT_TIMEOUT).unwrap().as_deref(),
            Some(&b"h.example"[..])
        );
        let refuses = script(dir.path(), "refuses", "echo 'not found'; exit 1");
        assert_eq!(get(&refuses, "h", DEFAULT_TIMEOUT).unwrap(), None);
        // `exec`, so that killing the script kills the sleep.
        let sleeps = script(dir.path(), "sleeps", "exec sleep 300");
        let e = get(&sleeps, "h", Duration::from_millis(200)).unwrap_err();
        assert!(e.contains(TIMEOUT_VAR), "{e}");
        let endless = script(dir.path(), "endless", "exec yes");
        let e = get(&endless, "h", DEFAULT_TIMEOUT).unwrap_err();
        assert!(e.contains("limit"), "{e}");
        // Closed standard output, still running: the time limit still holds.
        let lingers = script(dir.path(), "lingers", "exec sleep 300 >&-");
        let e = get(&lingers, "h", Duration::from_millis(200)).unwrap_err();
        assert!(e.contains(TIMEOUT_VAR), "{e}");
    }
}
