//! The `seedforge` binary: parse arguments, set up logging, run, map errors to exit codes.

mod cli;

/// The exit status of a command whose reader went away (`seedforge plan | head`), as a
/// shell reports a process ended by SIGPIPE.
const BROKEN_PIPE_EXIT: i32 = 128 + 13;

fn main() {
    // Printing to a closed pipe is not a bug: end quietly, like other Unix tools, instead
    // of a panic message.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !is_broken_pipe(info.payload()) {
            default_hook(info);
        }
    }));
    let code = match std::panic::catch_unwind(cli::main) {
        Ok(code) => code,
        Err(payload) if is_broken_pipe(payload.as_ref()) => BROKEN_PIPE_EXIT,
        Err(payload) => std::panic::resume_unwind(payload),
    };
    std::process::exit(code);
}

/// True for the panic of `println!` on a closed stdout.
fn is_broken_pipe(payload: &(dyn std::any::Any + Send)) -> bool {
    let message = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or_default();
    message.starts_with("failed printing to stdout") && message.contains("Broken pipe")
}
