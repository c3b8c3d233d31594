//! Paths on the command line: a Windows path (`--out 'C:\Users\me\out'`) where a Linux one
//! is expected is refused before anything runs (exit 2), naming the flag and, under WSL,
//! the `/mnt/<drive>/...` path to give instead (`seedforge::winpath`). Every argument clap
//! stores as a path is checked, so a new path flag needs nothing here.

use clap::{Arg, ArgMatches, Command};
use std::path::PathBuf;

/// The first path argument of `matches` (parsed by `cmd`) that is a Windows path, as
/// `FLAG: why, and what to write`.
pub(crate) fn check(cmd: &Command, matches: &ArgMatches) -> Result<(), String> {
    for arg in cmd.get_arguments() {
        // Only the arguments clap stores as paths; any other type is not a downcast match.
        let Ok(Some(values)) = matches.try_get_many::<PathBuf>(arg.get_id().as_str()) else {
            continue;
        };
        for value in values {
            let Some(text) = value.to_str() else {
                continue;
            };
            if seedforge::winpath::refusal(text, None).is_some() {
                let wsl = seedforge::winpath::wsl_mount_root();
                let why = seedforge::winpath::refusal(text, wsl.as_deref()).unwrap_or_default();
                return Err(format!("{}: {why}", name(arg)));
            }
        }
    }
    match matches.subcommand() {
        Some((sub, sub_matches)) => match cmd.find_subcommand(sub) {
            Some(sub_cmd) => check(sub_cmd, sub_matches),
            None => Ok(()),
        },
        None => Ok(()),
    }
}

/// `--out`, or `<DIR>` for a positional argument.
fn name(arg: &Arg) -> String {
    if let Some(long) = arg.get_long() {
        return format!("--{long}");
    }
    let value = arg
        .get_value_names()
        .and_then(|names| names.first())
        .map(|n| n.to_string())
        .unwrap_or_else(|| arg.get_id().as_str().to_ascii_uppercase());
    format!("<{value}>")
}
