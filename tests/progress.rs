//! Progress on the long commands: `build` (its verify and airgap steps too), `verify`,
//! `airgap` and `push` draw a bar on a terminal (a real pseudo-terminal, from util-linux's
//! `script`), and nothing of a bar reaches the output off a terminal or with `--quiet` or
//! `--json`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use common::registry::Registry;
use common::{Cmd, Lab, Output, require_tool};
use std::path::Path;

/// The terminal escape that every bar redraw begins with (cursor to column 0 / erase line).
const ESC: &str = "\u{1b}[";

/// `seedforge ARGS` run in `lab` with its stdout and stderr on a pseudo-terminal; what
/// the terminal received comes back as stdout.
fn on_terminal(lab: &Lab, args: &[&str]) -> Output {
    let quote = |a: &str| format!("'{}'", a.replace('\'', r"'\''"));
    let line = std::iter::once(common::seedforge_bin().display().to_string())
        .chain(args.iter().map(|a| (*a).to_string()))
        .map(|a| quote(&a))
        .collect::<Vec<_>>()
        .join(" ");
    Cmd::new("script")
        .args(["--quiet", "--return", "--command", &line, "/dev/null"])
        .cwd(lab.root())
        .env("COLUMNS", "120")
        .run()
}

/// The bar of a step: its name right-aligned in 8 columns, then the bar's bracket.
fn bar_of(step: &str) -> String {
    format!("{step:>8} [")
}

fn assert_no_bar(what: &str, out: &Output) {
    for text in [&out.stdout, &out.stderr] {
        assert!(!text.contains(ESC), "{what}: terminal escapes in {text:?}");
        for step in ["build", "mirror", "verify", "airgap", "push"] {
            assert!(!text.contains(&bar_of(step)), "{what}: a bar in {text:?}");
        }
    }
}

fn assert_bar(what: &str, out: &Output, step: &str) {
    assert!(
        out.stdout.contains(ESC),
        "{what}: no bar drawn: {:?}",
        out.stdout
    );
    assert!(
        out.stdout.contains(&bar_of(step)),
        "{what}: no {step} bar: {:?}",
        out.stdout
    );
}

#[test]
fn long_commands_draw_a_bar_on_a_terminal_and_nothing_elsewhere() {
    if !require_tool("script") || !require_tool("docker-registry") {
        return;
    }
    let lab = Lab::new();
    let config = lab.config_arg();
    let out = lab.out_dir();
    let out = out.to_str().unwrap();

    // build: every step draws, verify and airgap included.
    let built = on_terminal(&lab, &["build", "--config", config]);
    for step in ["mirror", "verify", "airgap"] {
        assert_bar("build", &built, step);
    }
    assert!(built.stdout.contains("built "), "{}", built.stdout);
    // Off a terminal, a rebuild with --force prints its summary and no bar.
    let plain = lab
        .seedforge()
        .args(["build", "--force", "--config", config])
        .run();
    assert_no_bar("build off a terminal", &plain);

    let layout = format!("{out}/oci");
    let archive = lab.root().join("all.tar.zst");
    let archive = archive.to_str().unwrap();
    let registry = Registry::start_plain();
    let host = registry.host();
    let commands: [(&str, Vec<&str>); 3] = [
        ("verify", vec!["verify", out]),
        (
            "airgap",
            vec!["airgap", "--layout", &layout, "--out", archive],
        ),
        (
            "push",
            vec![
                "push",
                "--layout",
                &layout,
                "--registry",
                &host,
                "--plain-http",
                &host,
            ],
        ),
    ];
    for (step, args) in &commands {
        assert_bar(step, &on_terminal(&lab, args), step);
        let plain = lab.seedforge().args(args).run();
        assert_no_bar(&format!("{step} off a terminal"), &plain);
        for flag in ["--quiet", "--json"] {
            let mut with_flag = vec![flag];
            with_flag.extend(args);
            let out = on_terminal(&lab, &with_flag);
            assert_no_bar(&format!("{step} {flag} on a terminal"), &out);
            if flag == "--json" {
                let json = out.stdout.trim().replace("\r\n", "\n");
                serde_json::from_str::<serde_json::Value>(&json)
                    .unwrap_or_else(|e| panic!("{step} --json: {e}: {json}"));
            }
        }
    }
    assert!(Path::new(archive).is_file());
}
