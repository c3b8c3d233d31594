//! The `seedforge` binary: parse arguments, set up logging, run, map errors to exit codes.

mod cli;

/// The exit status of a command whose reader went away (`seedforge plan | head`), as a
/// shell reports a process ended by SIGPIPE.
const BROKEN_PIPE_EXIT: i32 = 128 + 13;

fn main() {
    // Printing to a closed pipe is not a bug: `cli::write_stdout` unwinds with
    // `cli::BrokenPipe` (without the panic hook, so no message), and we end quietly, like
    // other Unix tools.
    let code = match std::panic::catch_unwind(cli::main) {
        Ok(code) => code,
        Err(payload) if payload.is::<cli::BrokenPipe>() => BROKEN_PIPE_EXIT,
        Err(payload) => std::panic::resume_unwind(payload),
    };
    std::process::exit(code);
}
