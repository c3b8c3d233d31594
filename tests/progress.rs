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

/// Off a terminal, a build names each image once (in the result list on stdout); the
/// progress lines on stderr count the images, never past their number.
#[test]
fn off_a_terminal_each_image_is_named_once_and_counted_up_to_its_total() {
    let lab = Lab::new();
    let built = lab.build();
    let both = format!("{}{}", built.stdout, built.stderr);
    for name in lab.lab_destinations() {
        assert_eq!(
            both.matches(&format!("{name} ")).count() + both.matches(&format!("{name}:")).count(),
            1,
            "{name} not named once:\n{both}"
        );
    }
    let counts: Vec<(usize, usize)> = (built.stderr.lines())
        .filter_map(|l| l.trim_start().strip_prefix("mirror "))
        .filter_map(|l| l.split_once(':')?.0.split_once('/'))
        .map(|(n, total)| (n.parse().unwrap(), total.parse().unwrap()))
        .collect();
    assert_eq!(
        counts.len(),
        lab.lab_destinations().len(),
        "{}",
        built.stderr
    );
    for (n, total) in counts {
        assert!(n <= total, "{n}/{total}:\n{}", built.stderr);
    }
}

/// Ctrl-C ends a build with 130 and one line saying what was left and what to do next,
/// even before anything was staged (here: while it waits for the output's lock).
#[test]
fn ctrl_c_says_what_happened_and_what_to_do_next() {
    if !common::require_tool("kill") {
        return;
    }
    let lab = Lab::new();
    let held = crate::build_lock::hold(&lab.out_dir());
    let mut running = lab
        .seedforge()
        .args(["build", "--config", lab.config_arg()])
        .any_status()
        .spawn();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !crate::build_lock::has_waiter(&held) {
        assert!(
            running.guard.child().try_wait().unwrap().is_none(),
            "the build ended instead of waiting for the lock"
        );
        assert!(
            std::time::Instant::now() < deadline,
            "the build never waited"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let pid = running.guard.child().id().to_string();
    Cmd::new("kill").args(["-INT", &pid]).run();
    let out = running.wait();
    drop(held);
    assert_eq!(out.code, Some(130), "{}", out.stderr);
    let said: Vec<&str> = (out.stderr.lines())
        .filter(|l| l.starts_with("interrupted: "))
        .collect();
    assert_eq!(said.len(), 1, "{}", out.stderr);
    assert!(
        said[0].contains("run the same command again"),
        "{}",
        said[0]
    );
}
