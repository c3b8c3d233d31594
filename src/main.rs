//! The `seedforge` binary: parse arguments, set up logging, run, map errors to exit codes.
#![cfg_attr(test, allow(clippy::disallowed_methods))]

mod cli;

fn main() {
    // Printing to a stdout that cannot be written is not a bug: `cli::common::stdio` unwinds with
    // `BrokenPipe` (a closed pipe: we end quietly, like other Unix tools) or
    // `StdoutFailed` (a full disk: we say so on stderr), without the panic hook, so with
    // no panic message.
    let code = match std::panic::catch_unwind(cli::main) {
        Ok(code) => code,
        Err(payload) => match cli::common::stdio::unwound(payload) {
            Ok(code) => code,
            Err(payload) => std::panic::resume_unwind(payload),
        },
    };
    std::process::exit(code);
}
