//! The `seedforge` binary: parse arguments, set up logging, run, map errors to exit codes.

mod cli;

fn main() {
    std::process::exit(cli::main());
}
