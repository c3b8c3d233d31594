//! The command line itself: help, plan, usage errors.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use crate::common;

use common::{Cmd, Lab, assert_same_tree, snapshot};
use std::path::Path;

#[test]
fn help_lists_every_subcommand_and_the_exit_codes() {
    let out = Cmd::seedforge().arg("--help").run();
    for sub in ["build", "plan", "mirror", "verify", "gc", "clean"] {
        assert!(
            out.stdout.lines().any(|l| l.trim_start().starts_with(sub)),
            "--help does not list {sub}:\n{}",
            out.stdout
        );
    }
    // Every code of the README's table, 130 and 143 (SIGINT, SIGTERM) among them, in the
    // help's own paragraph.
    let help = out
        .stdout
        .split("Exit codes:")
        .nth(1)
        .expect("--help names its exit codes");
    let help = help.split("\n\n").next().unwrap();
    let numbers: Vec<&str> = help
        .split(|c: char| !c.is_ascii_digit())
        .filter(|w| !w.is_empty())
        .collect();
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let table = readme.split("### Exit codes").nth(1).unwrap();
    let codes: Vec<&str> = (table.lines())
        .skip_while(|l| !l.starts_with("|---"))
        .skip(1)
        .take_while(|l| l.starts_with('|'))
        .flat_map(|l| {
            l.trim_start_matches('|')
                .split('|')
                .next()
                .unwrap()
                .split(',')
        })
        .map(str::trim)
        .collect();
    assert!(
        codes.contains(&"130") && codes.contains(&"143"),
        "{codes:?}"
    );
    for code in codes {
        assert!(
            numbers.contains(&code),
            "--help does not give exit code {code}:\n{help}"
        );
    }
}

#[test]
fn plan_prints_steps_and_writes_nothing() {
    let lab = Lab::new();
    let before = snapshot(lab.root());
    let out = lab
        .seedforge()
        .args(["plan", "--config", lab.config_arg()])
        .run();
    assert!(out.stdout.contains("1. mirror 8 images"), "{}", out.stdout);
    assert!(out.stdout.contains("2. verify"), "{}", out.stdout);
    for name in lab.lab_destinations() {
        assert!(out.stdout.contains(&name), "plan does not list {name}");
    }
    assert!(!lab.out_dir().exists());
    assert_same_tree(&before, &snapshot(lab.root()), "plan");
}

#[test]
fn plan_json_lists_steps_and_images_and_writes_nothing() {
    let lab = Lab::new();
    let before = snapshot(lab.root());
    let plan = lab
        .seedforge()
        .args(["--json", "plan", "--config", lab.config_arg()])
        .run()
        .json();
    let steps: Vec<&str> = plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["step"].as_str().unwrap())
        .collect();
    assert_eq!(
        steps,
        [
            "mirror", "verify", "airgap", "pki", "render", "iso", "iso", "iso", "sbom", "seal"
        ]
    );
    assert_eq!(plan["images"].as_array().unwrap().len(), 8);
    assert_same_tree(&before, &snapshot(lab.root()), "plan --json");
}

#[test]
fn a_closed_stdout_ends_quietly_like_sigpipe() {
    let lab = Lab::new();
    // A pipe whose reader is gone before seedforge writes: every write fails with EPIPE.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = std::process::Command::new(common::seedforge_bin())
        .args(["plan", "--config", lab.config_arg()])
        .current_dir(lab.root())
        .stdout(writer)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(141), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// `/dev/full` as a command's stdout or stderr: every write fails with "No space left on
/// device". No command may panic (exit 101) over it: the one whose stream is full fails
/// (non-zero, the reason on the other stream), one that writes nothing there succeeds.
#[test]
fn a_full_stdout_or_stderr_fails_the_command_without_a_panic() {
    let lab = Lab::new();
    let full = || {
        std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap()
    };
    let plan = ["plan", "--config", lab.config_arg()];
    let failing = ["plan", "--config", "no-such.yaml"];
    // (arguments, writes to stdout, writes to stderr, exit status with both writable)
    let commands: [(&[&str], bool, bool, i32); 6] = [
        (&["--version"], true, false, 0),
        (&["--help"], true, false, 0),
        (&["plan", "--help"], true, false, 0),
        (&plan, true, false, 0),
        (&failing, false, true, 2),
        (&["--no-such-flag"], false, true, 2),
    ];
    for (args, writes_stdout, writes_stderr, code) in commands {
        for stream in ["stdout", "stderr"] {
            let mut cmd = std::process::Command::new(common::seedforge_bin());
            cmd.args(args).current_dir(lab.root());
            if stream == "stdout" {
                cmd.stdout(full());
            } else {
                cmd.stderr(full());
            }
            let out = cmd.output().unwrap();
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            let what = format!("{args:?} with a full {stream}");
            assert_ne!(out.status.code(), Some(101), "{what}: {text}");
            assert!(!text.contains("panicked"), "{what}: {text}");
            let writes = if stream == "stdout" {
                writes_stdout
            } else {
                writes_stderr
            };
            if writes {
                assert_ne!(out.status.code(), Some(0), "{what} succeeded: {text}");
                assert!(
                    text.contains(&format!("cannot write to {stream}")),
                    "{what}: {text}"
                );
            } else {
                assert_eq!(out.status.code(), Some(code), "{what}: {text}");
            }
        }
    }
    // The reason a command failed is not lost with its stderr: it goes to stdout.
    let out = std::process::Command::new(common::seedforge_bin())
        .args(failing)
        .current_dir(lab.root())
        .stderr(full())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{stdout}");
    assert!(
        stdout.contains("no-such.yaml: cannot read config"),
        "{stdout}"
    );
}

#[test]
fn unknown_subcommand_exits_2() {
    let out = Cmd::seedforge().arg("frobnicate").expect(2).run();
    assert!(out.stderr.contains("frobnicate"), "{}", out.stderr);
}

#[test]
fn missing_required_argument_exits_2() {
    Cmd::seedforge().arg("mirror").expect(2).run();
    Cmd::seedforge().arg("verify").expect(2).run();
}

#[test]
fn missing_config_file_exits_2_and_names_it() {
    let lab = Lab::new();
    let out = lab
        .seedforge()
        .args(["build", "--config", "fixtures/lab/nope.yaml"])
        .expect(2)
        .run();
    assert!(out.stderr.contains("nope.yaml"), "{}", out.stderr);
}

#[test]
fn verify_of_a_directory_without_layout_fails() {
    let lab = Lab::new();
    let out = lab
        .seedforge()
        .arg("verify")
        .arg(lab.root().join("fixtures/lab"))
        .any_status()
        .run();
    assert_ne!(out.code, Some(0), "{}", out.stderr);
}

/// `--version` names the commit and its date, and manifest.json records the same commit.
#[test]
fn version_names_the_commit_and_the_manifest_records_it() {
    let out = Cmd::seedforge().arg("--version").run();
    let line = out.stdout.trim();
    // seedforge 0.1.0 (0123456789ab 2026-11-22)
    let inner = line
        .strip_prefix(&format!("seedforge {} (", env!("CARGO_PKG_VERSION")))
        .and_then(|r| r.strip_suffix(')'))
        .unwrap_or_else(|| panic!("unexpected --version: {line}"));
    let (commit, date) = inner.split_once(' ').unwrap();
    let git = Cmd::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .cwd(common::repo_root())
        .any_status()
        .run();
    if git.code == Some(0) {
        assert_eq!(commit, git.stdout.trim(), "{line}");
        assert_eq!(date.len(), 10, "{line}");
    }
    let lab = Lab::new();
    lab.build();
    let manifest = common::read_json(&lab.out_dir().join("manifest.json"));
    assert_eq!(manifest["seedforge_commit"], commit);
}

/// Completion scripts are valid for their shell and know the subcommands; the man pages
/// render without warnings.
#[test]
fn completions_and_man_pages() {
    let bash = Cmd::seedforge().args(["completions", "bash"]).run().stdout;
    assert!(
        bash.contains("seedforge") && bash.contains("build"),
        "{bash}"
    );
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("seedforge.bash");
    std::fs::write(&script, &bash).unwrap();
    Cmd::new("bash").arg("-n").arg(&script).run();
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        let out = Cmd::seedforge().args(["completions", shell]).run();
        assert!(out.stdout.contains("seedforge"), "{shell}: {}", out.stdout);
    }
    Cmd::seedforge()
        .args(["completions", "tcsh"])
        .expect(2)
        .run();

    let man = dir.path().join("man");
    Cmd::seedforge().arg("man").arg(&man).run();
    for page in [
        "seedforge.1",
        "seedforge-build.1",
        "seedforge-debs.1",
        "seedforge-man.1",
    ] {
        let path = man.join(page);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{page}: {e}"));
        assert!(
            text.starts_with(".ie") || text.contains(".TH"),
            "{page}: {text}"
        );
        if common::require_tool("groff") {
            let out = Cmd::new("groff")
                .args(["-man", "-Tutf8", "-ww", "-z"])
                .arg(&path)
                .run();
            assert!(out.stderr.trim().is_empty(), "{page}: {}", out.stderr);
        }
    }
    assert!(!man.join("seedforge-help.1").exists());
}

/// `-o` is `--out` on every command that writes a file or folder.
#[test]
fn dash_o_names_the_output_of_every_writing_command() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    std::fs::create_dir_all(&tree).unwrap();
    std::fs::write(tree.join("meta-data"), "instance-id: x\n").unwrap();
    let iso = dir.path().join("seed.iso");
    // Each with its JSON document, checked against its schema (common::json_schema).
    let written = Cmd::seedforge()
        .args(["--json", "iso", "-o"])
        .arg(&iso)
        .arg(&tree)
        .run()
        .json();
    assert_eq!(written["schema"], "seedforge.iso/v1", "{written}");
    assert!(iso.is_file());
    // A lone ISO's verify document is an object like every other verify document: the
    // checks under `iso`, what was (not) checked of a signature, and (this tree has no
    // user-data, so it fails) the error.
    let verified = Cmd::seedforge()
        .args(["--json", "verify"])
        .arg(&iso)
        .expect(1)
        .run()
        .json();
    assert_eq!(verified["schema"], "seedforge.verify/v1", "{verified}");
    assert_eq!(verified["iso"].as_array().unwrap().len(), 1, "{verified}");
    assert_eq!(verified["signature"]["checked"], false, "{verified}");
    assert_eq!(verified["error"]["code"], 1, "{verified}");
    let pki = dir.path().join("pki");
    let issued = Cmd::seedforge()
        .args(["--json", "pki", "--host", "10.0.0.5", "-o"])
        .arg(&pki)
        .run()
        .json();
    assert_eq!(issued["schema"], "seedforge.pki/v1", "{issued}");
    assert!(pki.join("ca.crt").is_file() || pki.read_dir().unwrap().next().is_some());
    for sub in ["airgap", "debs", "iso", "pki", "build", "render", "mirror"] {
        let help = Cmd::seedforge().args([sub, "--help"]).run().stdout;
        assert!(help.contains("-o, --"), "{sub} --help has no -o:\n{help}");
    }
}

/// `seedforge init --templates` also writes the embedded node templates, to edit, and
/// points the config at them: rendered as they are, they give the embedded templates'
/// files byte for byte; a template already there is not written over.
#[test]
fn init_templates_writes_the_embedded_templates_to_edit() {
    let plain = tempfile::tempdir().unwrap();
    let with = tempfile::tempdir().unwrap();
    let started = Cmd::seedforge()
        .args(["--json", "init"])
        .cwd(plain.path())
        .run()
        .json();
    assert_eq!(started["schema"], "seedforge.init/v1", "{started}");
    assert!(
        started["written"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p.as_str().unwrap().ends_with("seedforge.yaml")),
        "{started}"
    );
    let out = Cmd::seedforge()
        .args(["init", "--templates"])
        .cwd(with.path())
        .run();
    assert!(
        out.stdout.contains("templates/user-data.tera"),
        "{}",
        out.stdout
    );
    let config = std::fs::read_to_string(with.path().join("seedforge.yaml")).unwrap();
    assert!(config.contains("\ntemplates: templates\n"), "{config}");
    for file in seedforge::render::template_files() {
        assert!(
            with.path().join("templates").join(&file).is_file(),
            "{file:?}"
        );
    }
    // Same token, same files.
    std::fs::copy(plain.path().join("token"), with.path().join("token")).unwrap();
    for dir in [plain.path(), with.path()] {
        let rendered = Cmd::seedforge()
            .args(["--json", "render", "-o", "nodes"])
            .cwd(dir)
            .run()
            .json();
        assert_eq!(rendered["schema"], "seedforge.render/v1", "{rendered}");
    }
    assert_same_tree(
        &snapshot(&plain.path().join("nodes")),
        &snapshot(&with.path().join("nodes")),
        "nodes rendered from the written templates",
    );

    let again = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(again.path().join("templates")).unwrap();
    std::fs::write(again.path().join("templates/user-data.tera"), "mine\n").unwrap();
    let before = snapshot(again.path());
    let refused = Cmd::seedforge()
        .args(["init", "--templates"])
        .cwd(again.path())
        .expect(2)
        .run();
    assert!(
        refused.stderr.contains("user-data.tera"),
        "{}",
        refused.stderr
    );
    assert_same_tree(&before, &snapshot(again.path()), "init over a template");
}

/// `seedforge init` starts a folder that the config reader accepts (render uses it as it
/// is), with a private token; it never writes over a file; a build in an empty folder
/// points at it.
#[test]
fn init_starts_a_folder_and_writes_over_nothing() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let out = Cmd::seedforge()
        .arg("build")
        .cwd(dir.path())
        .expect(2)
        .run();
    assert!(out.stderr.contains("seedforge init"), "{}", out.stderr);

    Cmd::seedforge().arg("init").cwd(dir.path()).run();
    let token = std::fs::read_to_string(dir.path().join("token")).unwrap();
    assert_eq!(token.trim().len(), 64, "{token}");
    let mode = std::fs::metadata(dir.path().join("token"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let images = std::fs::read_to_string(dir.path().join("images.txt")).unwrap();
    assert!(images.contains("rancher/mirrored-pause"), "{images}");
    // git itself keeps the token and the output out of a commit, and takes the rest.
    std::fs::create_dir_all(dir.path().join("out/pki")).unwrap();
    std::fs::write(dir.path().join("out/pki/ca.key"), "key").unwrap();
    std::fs::write(dir.path().join("seedforge.lock"), "lock").unwrap();
    Cmd::new("git").args(["init", "-q"]).cwd(dir.path()).run();
    Cmd::new("git").args(["add", "-A"]).cwd(dir.path()).run();
    let staged = Cmd::new("git")
        .args(["diff", "--cached", "--name-only"])
        .cwd(dir.path())
        .run();
    assert_eq!(
        staged.stdout.lines().collect::<Vec<_>>(),
        [
            ".gitignore",
            "images.txt",
            "seedforge.lock",
            "seedforge.yaml"
        ],
        "{}",
        staged.stdout
    );
    std::fs::remove_dir_all(dir.path().join(".git")).unwrap();
    std::fs::remove_dir_all(dir.path().join("out")).unwrap();
    std::fs::remove_file(dir.path().join("seedforge.lock")).unwrap();
    Cmd::seedforge()
        .args(["render", "-o", "nodes"])
        .cwd(dir.path())
        .run();
    let user_data = std::fs::read_to_string(dir.path().join("nodes/agent1/user-data")).unwrap();
    assert!(
        user_data.contains(token.trim()),
        "the agent joins with the token"
    );

    let before = snapshot(dir.path());
    let again = Cmd::seedforge().arg("init").cwd(dir.path()).expect(2).run();
    assert!(again.stderr.contains("seedforge.yaml"), "{}", again.stderr);
    assert_same_tree(
        &before,
        &snapshot(dir.path()),
        "init over an existing folder",
    );
    let unknown = Cmd::seedforge()
        .args(["init", "--k3s-version", "v1.20.0+k3s1"])
        .arg(dir.path().join("other"))
        .expect(2)
        .run();
    // Every release it knows is named, not only the newest.
    for known in ["v1.32.5+k3s1", "v1.33.1+k3s1"] {
        assert!(unknown.stderr.contains(known), "{}", unknown.stderr);
    }
    assert!(
        unknown.stderr.contains("cluster.release_images"),
        "{}",
        unknown.stderr
    );
    assert!(!dir.path().join("other").exists());
}

/// One line per step: a rebuild shows no verify figures for a verify it skipped and marks
/// kept archives; the PKI is one line; plan says what the archive is in words and heads
/// the image list.
#[test]
fn build_and_plan_texts_say_what_happened() {
    let lab = Lab::new();
    let plan = lab
        .seedforge()
        .args(["plan", "--config", lab.config_arg()])
        .run();
    assert!(
        plan.stdout.contains("(OCI layout, zstd level 3)"),
        "{}",
        plan.stdout
    );
    assert!(
        plan.stdout.contains("images (8, destination <- source):"),
        "{}",
        plan.stdout
    );
    let first = lab.build();
    assert!(first.stdout.contains("verify "), "{}", first.stdout);
    let pki: Vec<&str> = first
        .stdout
        .lines()
        .filter(|l| l.contains("/pki"))
        .collect();
    assert_eq!(pki.len(), 1, "{}", first.stdout);
    assert!(
        pki[0].contains("CA created, certificate created"),
        "{}",
        first.stdout
    );
    let again = lab.build();
    assert!(!again.stdout.contains("verify "), "{}", again.stdout);
    assert!(again.stdout.contains("(unchanged)"), "{}", again.stdout);
    assert!(
        again.stdout.contains("CA kept, certificate kept"),
        "{}",
        again.stdout
    );
}

/// `--images -` reads the list from standard input (a pipe); sources resolve against the
/// working directory, and an error names `<stdin>` and the line.
#[test]
fn an_image_list_on_standard_input() {
    let lab = Lab::new();
    let fixtures = lab.root().join("fixtures");
    let list = "oci:images/oci:mirrored-pause:3.6 docker.io/rancher/mirrored-pause:3.6\n";
    let layout = lab.root().join("stdin-oci");
    let out = common::run_pipeline(
        &Cmd::new("printf").arg(list),
        &Cmd::seedforge()
            .args(["mirror", "--images", "-", "-o"])
            .arg(&layout)
            .cwd(&fixtures),
    );
    assert!(out.stdout.contains("mirrored-pause:3.6"), "{}", out.stdout);
    assert!(layout.join("index.json").is_file());
    let bad = common::run_pipeline(
        &Cmd::new("printf").arg("oci:images/oci:x ok\nnot a ref!\n"),
        &Cmd::seedforge()
            .args(["mirror", "--images", "-", "-o"])
            .arg(lab.root().join("bad"))
            .cwd(&fixtures)
            .expect(2),
    );
    assert!(bad.stderr.contains("<stdin>:"), "{}", bad.stderr);
    let both = Cmd::seedforge()
        .args([
            "mirror",
            "--images",
            "-",
            "--username",
            "u",
            "--password-stdin",
            "-o",
        ])
        .arg(lab.root().join("both"))
        .expect(2)
        .run();
    assert!(both.stderr.contains("standard input"), "{}", both.stderr);
}

/// The README stays an overview (at most 250 lines; the rest is in docs/), and every
/// relative link in the README, docs/, ARCHITECTURE.md and BENCHMARKS.md reaches a file
/// and, when it names one, a heading there.
#[test]
fn the_readme_is_short_and_every_documentation_link_resolves() {
    let root = common::repo_root();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    assert!(
        readme.lines().count() <= 250,
        "README.md: {} lines",
        readme.lines().count()
    );
    let slug = |h: &str| -> String {
        h.trim()
            .to_lowercase()
            .chars()
            .filter(|c| c.is_alphanumeric() || *c == '-' || *c == ' ' || *c == '_')
            .map(|c| if c == ' ' { '-' } else { c })
            .collect()
    };
    let mut files = vec![
        root.join("README.md"),
        root.join("ARCHITECTURE.md"),
        root.join("BENCHMARKS.md"),
    ];
    for e in std::fs::read_dir(root.join("docs")).unwrap() {
        let path = e.unwrap().path();
        if path.extension().is_some_and(|x| x == "md") {
            files.push(path);
        }
    }
    let anchors = |path: &std::path::Path| -> Vec<String> {
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .filter(|l| l.starts_with('#'))
            .map(|l| slug(l.trim_start_matches('#')))
            .collect()
    };
    let mut bad = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        for (i, _) in text.match_indices("](") {
            let rest = &text[i + 2..];
            let link = &rest[..rest.find(')').unwrap_or(0)];
            if link.starts_with("http") || link.contains(' ') || link.is_empty() {
                continue;
            }
            let (path, anchor) = link.split_once('#').unwrap_or((link, ""));
            let target = if path.is_empty() {
                file.clone()
            } else {
                file.parent().unwrap().join(path)
            };
            if !target.exists()
                || (!anchor.is_empty()
                    && target.extension().is_some_and(|x| x == "md")
                    && !anchors(&target).iter().any(|a| a == anchor))
            {
                bad.push(format!("{}: {link}", file.display()));
            }
        }
    }
    assert!(bad.is_empty(), "broken links: {bad:#?}");
}

/// Log lines carry colour codes only when asked: never into a file by default, nor with
/// NO_COLOR; `--color always` forces them, `--color never` wins over a terminal.
#[test]
fn log_colour_follows_color_and_no_color() {
    let lab = Lab::new();
    let plan = |extra: &[&str], env: Option<(&str, &str)>| {
        let mut cmd = lab
            .seedforge()
            .args(["build", "-v", "--force", "--config", lab.config_arg()])
            .args(extra);
        if let Some((k, v)) = env {
            cmd = cmd.env(k, v);
        }
        cmd.run().stderr
    };
    let to_file = plan(&[], None);
    assert!(to_file.contains("DEBUG"), "{to_file}");
    assert!(!to_file.contains('\u{1b}'), "{to_file}");
    assert!(plan(&["--color", "always"], None).contains("\u{1b}["));
    assert!(!plan(&["--color", "never"], None).contains('\u{1b}'));
    assert!(!plan(&[], Some(("NO_COLOR", "1"))).contains('\u{1b}'));
}

/// The `json` blocks of docs/outputs.md's "JSON output" section: the build's document,
/// then the error document.
fn documented_json() -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(common::repo_root().join("docs/outputs.md")).unwrap();
    let section = text
        .split("### JSON output")
        .nth(1)
        .unwrap()
        .split("\n### ")
        .next()
        .unwrap();
    section
        .split("```json\n")
        .skip(1)
        .map(|b| serde_json::from_str(b.split("```").next().unwrap()).unwrap())
        .collect()
}

/// `actual` has every key `documented` has, each with the same JSON type (a list's
/// entries compared with the documented first entry, when both have one).
fn assert_shape(documented: &serde_json::Value, actual: &serde_json::Value, at: &str) {
    use serde_json::Value;
    match (documented, actual) {
        (Value::Object(d), Value::Object(a)) => {
            for (k, v) in d {
                let got = a
                    .get(k)
                    .unwrap_or_else(|| panic!("{at}.{k}: missing in {actual}"));
                assert_shape(v, got, &format!("{at}.{k}"));
            }
        }
        (Value::Array(d), Value::Array(a)) => {
            if let (Some(d), Some(a)) = (d.first(), a.first()) {
                assert_shape(d, a, &format!("{at}[0]"));
            }
        }
        // A section the config does not use is null.
        (_, Value::Null) => {}
        (Value::Number(_), Value::Number(_))
        | (Value::String(_), Value::String(_))
        | (Value::Bool(_), Value::Bool(_))
        | (Value::Null, _) => {}
        _ => panic!("{at}: documented {documented}, got {actual}"),
    }
}

#[test]
fn json_documents_of_a_failed_and_a_successful_build_have_the_documented_shape() {
    let docs = documented_json();
    assert_eq!(
        docs.len(),
        2,
        "docs/outputs.md: a build and an error document"
    );
    let lab = Lab::new();
    let config = lab.lab_dir().join("seedforge.yaml");
    let good = std::fs::read_to_string(&config).unwrap();
    // Line 5, column 1: a key the config does not have.
    let lines: Vec<&str> = good.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.starts_with("version:"))
        .unwrap()
        + 2;
    let mut bad: Vec<&str> = lines.clone();
    bad.insert(at - 1, "bogus: 2");
    std::fs::write(&config, bad.join("\n") + "\n").unwrap();
    let failed = lab
        .seedforge()
        .args(["--json", "build", "--config", lab.config_arg()])
        .expect(2)
        .run();
    assert!(failed.stderr.contains("unknown field"), "{}", failed.stderr);
    let error = failed.json();
    assert_shape(&docs[1], &error, "error document");
    let e = &error["error"];
    assert_eq!(e["code"], 2, "{error}");
    assert_eq!(e["kind"], "config", "{error}");
    assert_eq!(e["file"], lab.config_arg(), "{error}");
    assert_eq!(e["line"], at, "{error}");
    assert_eq!(e["column"], 1, "{error}");
    assert!(e["message"].as_str().unwrap().contains("bogus"), "{error}");
    assert!(!lab.out_dir().exists());

    std::fs::write(&config, &good).unwrap();
    let built = lab
        .seedforge()
        .args(["--json", "build", "--config", lab.config_arg()])
        .run()
        .json();
    assert_shape(&docs[0], &built, "build");
    // Every ISO names its node; the run's time is the wall time of the run.
    let isos = built["iso"].as_array().unwrap();
    assert_eq!(isos.len(), 3);
    for iso in isos {
        let node = iso["node"].as_str().unwrap();
        assert!(
            iso["path"]
                .as_str()
                .unwrap()
                .ends_with(&format!("seed-{node}.iso")),
            "{iso}"
        );
    }
    assert!(built["seconds"].as_f64().unwrap() >= 0.0);
    // One rule for digests: `digest` fields are sha256:<hex>, `sha256` fields bare hex.
    fn digests(v: &serde_json::Value, found: &mut Vec<(String, String)>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, v) in m {
                    if let (true, Some(s)) = (k == "digest" || k == "sha256", v.as_str()) {
                        found.push((k.clone(), s.to_string()));
                    }
                    digests(v, found);
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|v| digests(v, found)),
            _ => {}
        }
    }
    let mut found = Vec::new();
    digests(&built, &mut found);
    assert!(found.iter().any(|(k, _)| k == "digest"));
    assert!(found.iter().any(|(k, _)| k == "sha256"));
    let hex = |s: &str| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit());
    for (k, v) in &found {
        let ok = match k.as_str() {
            "digest" => v.strip_prefix("sha256:").is_some_and(hex),
            _ => hex(v),
        };
        assert!(ok, "{k}: {v}");
    }
}

/// A usage error under `--json` (an unknown flag, a missing value, wherever `--json`
/// stands) is a JSON error document on stdout, exit 2, as every other failure is: a job
/// reading it with `jq -e` fails instead of reading nothing. `--json` after `--` is an
/// argument, not the flag.
#[test]
fn a_usage_error_under_json_is_a_json_document() {
    for args in [
        &["--json", "build", "--no-such-flag"][..],
        &["build", "--no-such-flag", "--json"],
        &["--json", "verify"],
        &["--json", "no-such-command"],
    ] {
        let out = Cmd::seedforge().args(args).expect(2).run();
        let doc = out.json();
        assert_eq!(doc["error"]["kind"], "usage", "{args:?}: {doc}");
        assert_eq!(doc["error"]["code"], 2, "{args:?}: {doc}");
        let message = doc["error"]["message"].as_str().unwrap();
        assert!(
            !message.is_empty() && out.stderr.contains(message),
            "{args:?}: {out:?}"
        );
    }
    let out = Cmd::seedforge()
        .args(["build", "--no-such-flag"])
        .expect(2)
        .run();
    assert!(out.stdout.is_empty(), "{out:?}");
}
