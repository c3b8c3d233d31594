//! Writing to stdout and stderr without panicking. `println!` and `eprintln!` panic when
//! their stream cannot be written (a full disk behind `>file`, `>/dev/full`), which would
//! end the command with exit 101 and a panic message. Here:
//!
//! - stdout closed by its reader (`seedforge plan | head`) unwinds with [`BrokenPipe`]:
//!   the command ends quietly with the status of a process ended by SIGPIPE (141);
//! - stdout failing otherwise unwinds with [`StdoutFailed`]: the command ends with a
//!   message on stderr and exit 1;
//! - stderr failing (log lines, warnings, the final error) is recorded and the command
//!   goes on, since stderr is also written from worker threads that must not unwind; at the
//!   end the failure is told on stdout and the exit status is non-zero.

use std::io::Write as _;
use std::sync::Mutex;

/// What unwinds a command whose stdout was closed by its reader: `main` ends with the
/// status a shell gives a process ended by SIGPIPE.
pub struct BrokenPipe;

/// What unwinds a command whose stdout cannot be written for another reason (no space).
pub struct StdoutFailed(pub std::io::Error);

/// The exit status of a command whose reader went away (`seedforge plan | head`), as a
/// shell reports a process ended by SIGPIPE.
pub const BROKEN_PIPE_EXIT: i32 = 128 + 13;

/// The first error writing to stderr, if any.
static STDERR_FAILED: Mutex<Option<std::io::Error>> = Mutex::new(None);

/// Writes to stdout with the password of every URL masked (reports name repository URLs,
/// which may carry one); unwinds with [`BrokenPipe`] or [`StdoutFailed`] when it cannot.
/// Registered secrets are not replaced here as in messages: a short one would also replace
/// its letters inside digests and paths, and stdout is read by programs.
pub fn write_stdout(args: std::fmt::Arguments<'_>) {
    let text = args.to_string();
    let text = seedforge::redact::url(&text);
    if let Err(e) = std::io::stdout().lock().write_all(text.as_bytes()) {
        stdout_failed(e);
    }
}

/// Unwinds (without the panic hook, so with no message) as [`write_stdout`] does.
fn stdout_failed(e: std::io::Error) -> ! {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::panic::resume_unwind(Box::new(BrokenPipe));
    }
    std::panic::resume_unwind(Box::new(StdoutFailed(e)));
}

/// Writes to stderr; a failure is recorded for [`finish`] and otherwise ignored.
pub fn write_stderr(args: std::fmt::Arguments<'_>) {
    if let Err(e) = std::io::stderr().lock().write_fmt(args) {
        record_stderr_failure(e);
    }
}

fn record_stderr_failure(e: std::io::Error) {
    if let Ok(mut first) = STDERR_FAILED.lock()
        && first.is_none()
    {
        *first = Some(e);
    }
}

/// Writes the final error report to stderr, or to stdout when stderr fails, so that the
/// reason a command failed is never lost.
pub fn write_error_report(text: &str) {
    if let Err(e) = tell(text, false) {
        let _ = tell(text, true);
        record_stderr_failure(e);
    }
}

/// The exit status of a command that unwound with `payload`, or the payload back when it
/// is a real panic.
pub fn unwound(
    payload: Box<dyn std::any::Any + Send>,
) -> Result<i32, Box<dyn std::any::Any + Send>> {
    if payload.is::<BrokenPipe>() {
        return Ok(BROKEN_PIPE_EXIT);
    }
    match payload.downcast::<StdoutFailed>() {
        Ok(failed) => Ok(finish_stderr(stdout_failure_exit(&failed.0))),
        Err(payload) => Err(payload),
    }
}

/// Stderr for the log writer: a failed write is recorded as [`write_stderr`] records it.
pub struct Stderr;

impl std::io::Write for Stderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        std::io::stderr().write(buf).inspect_err(|e| {
            record_stderr_failure(std::io::Error::new(e.kind(), e.to_string()));
        })
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// Writes `text` to stdout, or to stderr when stdout is the stream that failed; `Err` if
/// neither took it.
fn tell(text: &str, on_stdout: bool) -> std::io::Result<()> {
    if on_stdout {
        let mut out = std::io::stdout().lock();
        out.write_all(text.as_bytes())?;
        out.flush()
    } else {
        std::io::stderr().lock().write_all(text.as_bytes())
    }
}

/// The exit status of a command whose stdout failed: the reason goes to stderr.
pub fn stdout_failure_exit(e: &std::io::Error) -> i32 {
    let _ = tell(&format!("error: cannot write to stdout: {e}\n"), false);
    1
}

/// The exit status of a command that ended with `code`, once stdout is flushed and any
/// failure to write stderr is told on stdout (a command that succeeded then exits 1; a
/// closed stderr gives the SIGPIPE status, as a closed stdout does).
pub fn finish(code: i32) -> i32 {
    if let Err(e) = std::io::stdout().lock().flush() {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            return BROKEN_PIPE_EXIT;
        }
        let failed = stdout_failure_exit(&e);
        return finish_stderr(if code == 0 { failed } else { code });
    }
    finish_stderr(code)
}

fn finish_stderr(code: i32) -> i32 {
    let failed = STDERR_FAILED.lock().ok().and_then(|mut f| f.take());
    match failed {
        None => code,
        Some(e) if e.kind() == std::io::ErrorKind::BrokenPipe => BROKEN_PIPE_EXIT,
        Some(e) => {
            let _ = tell(&format!("error: cannot write to stderr: {e}\n"), true);
            if code == 0 { 1 } else { code }
        }
    }
}

/// Prints clap's own output (help, version, a usage error) on its stream; the exit status
/// when that stream fails is a failure's, with the message told on the other stream.
pub fn print_clap(e: &clap::Error, code: i32) -> i32 {
    let on_stderr = e.use_stderr();
    let printed = e.print().and_then(|()| {
        if on_stderr {
            Ok(())
        } else {
            std::io::stdout().lock().flush()
        }
    });
    match printed {
        Ok(()) => finish(code),
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => BROKEN_PIPE_EXIT,
        Err(err) if on_stderr => {
            // The usage error itself goes where it can be read.
            let _ = tell(&format!("{}", e.render()), true);
            let _ = tell(&format!("error: cannot write to stderr: {err}\n"), true);
            if code == 0 { 1 } else { code }
        }
        Err(err) => stdout_failure_exit(&err),
    }
}
