//! A password in an apt repository's URL (`http://user:password@host/debian`) is shown
//! nowhere: the lab with a bundle from such a repository (served by `python3 -m
//! http.server`, no keyring, so the build warns that the bundle is unverified) is planned
//! and built at every verbosity (`-q`, default, `-v`, `-vv`, `--json`,
//! `SEEDFORGE_LOG=trace`). The plan's step line, the unverified warning and the error of a
//! suite the repository does not have all name the URL as `user:***@host`, and the
//! password (nor the base64 of `user:password` a basic-auth header carries) is on neither
//! stdout nor stderr, nor in `seedforge.lock` or any file of the output.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use crate::common;

use common::{Cmd, Lab, Output, files_under, require_tool};
use std::fs;
use std::path::Path;

const APT_USER: &str = "aptuser";
const APT_PW: &str = "apt-pw-Wq4Zr8Ty";

/// Flags before the command, and an extra environment variable.
type Verbosity = (
    &'static [&'static str],
    Option<(&'static str, &'static str)>,
);

/// Every verbosity.
const VERBOSITIES: &[Verbosity] = &[
    (&["-q"], None),
    (&[], None),
    (&["-v"], None),
    (&["-vv"], None),
    (&["--json"], None),
    (&[], Some(("SEEDFORGE_LOG", "trace"))),
];

/// The forms the password could leak in.
fn password_forms() -> [String; 2] {
    use base64::Engine as _;
    [
        APT_PW.to_string(),
        base64::engine::general_purpose::STANDARD.encode(format!("{APT_USER}:{APT_PW}")),
    ]
}

fn assert_hidden(text: &str, what: &str) {
    for form in password_forms() {
        assert!(!text.contains(&form), "{what} shows {form}:\n{text}");
    }
}

fn assert_hidden_in(out: &Output, what: &str) {
    assert_hidden(&out.stdout, &format!("{what}: stdout"));
    assert_hidden(&out.stderr, &format!("{what}: stderr"));
}

/// The lab with a bundle of jq from `url` and `suite`, and no credential file of the
/// machine's user taking part.
fn lab_with_repo(url: &str, suite: &str) -> Lab {
    let lab = Lab::new();
    let dir = lab.lab_dir();
    fs::write(dir.join("base.txt"), "libc6:amd64\t2.36-9+deb12u10\n").unwrap();
    let config = dir.join("seedforge.yaml");
    let text = fs::read_to_string(&config).unwrap().replace(
        "\nimages:\n",
        &format!(
            "\npackages:\n  - name: ops\n    packages: [jq]\n    base: base.txt\n    repo: {{url: \"{url}\", suite: {suite}}}\n\nimages:\n"
        ),
    );
    fs::write(&config, text).unwrap();
    lab
}

fn seedforge(lab: &Lab, verbosity: &Verbosity, args: &[&str]) -> Cmd {
    let (flags, env) = verbosity;
    let mut cmd = lab
        .seedforge()
        .args(*flags)
        .args(args)
        .env(
            "DOCKER_CONFIG",
            lab.root().join("no-docker").to_str().unwrap(),
        )
        .env(
            "REGISTRY_AUTH_FILE",
            lab.root().join("no-auth.json").to_str().unwrap(),
        );
    if let Some((k, v)) = env {
        cmd = cmd.env(k, v);
    }
    cmd
}

fn assert_no_file_holds_it(dir: &Path) {
    for file in files_under(dir) {
        let bytes = fs::read(&file).unwrap();
        for form in password_forms() {
            assert!(
                !bytes.windows(form.len()).any(|w| w == form.as_bytes()),
                "{} holds {form}",
                file.display()
            );
        }
    }
}

#[test]
fn an_apt_repository_password_is_masked_at_every_verbosity() {
    if !require_tool("apt-ftparchive") || !require_tool("python3") {
        return;
    }
    let repo = tempfile::tempdir().unwrap();
    common::debs::make_repo(repo.path(), &common::debs::fixture_debs());
    let server = common::debs::HttpServer::start(repo.path());
    let url = server
        .url
        .replacen("http://", &format!("http://{APT_USER}:{APT_PW}@"), 1);
    let masked = format!("{APT_USER}:***@");
    let lab = lab_with_repo(&url, "bookworm");
    for (i, verbosity) in VERBOSITIES.iter().enumerate() {
        let what = format!("{verbosity:?}");
        let config = lab.config_arg();
        let plan = seedforge(&lab, verbosity, &["plan", "--config", config]).run();
        assert_hidden_in(&plan, &format!("plan {what}"));
        // The step line names the repository, its password masked.
        assert!(
            plan.stdout.contains(&masked),
            "plan {what}:\n{}",
            plan.stdout
        );

        let out = lab.root().join(format!("out-{i}"));
        let build = seedforge(
            &lab,
            verbosity,
            &["build", "--config", config, "--out", out.to_str().unwrap()],
        )
        .run();
        assert_hidden_in(&build, &format!("build {what}"));
        assert!(
            build.stderr.contains(&format!("{masked}127.0.0.1")),
            "the unverified warning is missing or unmasked, build {what}:\n{}",
            build.stderr
        );
        assert!(out.join("packages/ops.tar.gz").is_file());
        assert_no_file_holds_it(&out);
    }
    // The lock pins the bundle by a digest of its inputs; the URL is not written out.
    let lock = fs::read_to_string(lab.lab_dir().join("seedforge.lock")).unwrap_or_default();
    assert_hidden(&lock, "seedforge.lock");

    // An error that names the URL: a suite the repository does not have.
    let lab = lab_with_repo(&url, "no-such-suite");
    for verbosity in VERBOSITIES {
        let what = format!("{verbosity:?}");
        let config = lab.config_arg();
        for args in [
            ["plan", "--config", config].as_slice(),
            ["build", "--config", config].as_slice(),
        ] {
            let out = seedforge(&lab, verbosity, args).any_status().run();
            assert_ne!(out.code, Some(0), "{args:?} {what}");
            assert_hidden_in(&out, &format!("{args:?} {what}"));
            assert!(
                out.stderr.contains(&format!("{masked}127.0.0.1")),
                "{args:?} {what}:\n{}",
                out.stderr
            );
        }
    }
}

/// A chart repository written with a `user:password@` (`oci://` or `https://`) is refused
/// (exit 2, credentials come from `registries:`), and the refusal shows the URL as
/// `user:***@host`, never the password, at every verbosity.
#[test]
fn a_chart_repository_with_a_password_is_refused_without_showing_it() {
    for repo in [
        format!("oci://{APT_USER}:{APT_PW}@registry.example:5000/charts"),
        format!("oci://{APT_USER}:{APT_PW}@registry.example"),
        format!("https://{APT_USER}:{APT_PW}@charts.example/stable"),
    ] {
        let lab = Lab::new();
        let config = lab.lab_dir().join("seedforge.yaml");
        let text = fs::read_to_string(&config).unwrap();
        fs::write(
            &config,
            format!("{text}\ncharts:\n  - name: demo\n    repo: {repo}\n    version: 1.2.3\n"),
        )
        .unwrap();
        for (flags, env) in VERBOSITIES {
            let mut cmd = lab.seedforge().args(flags.iter().copied());
            if let Some((k, v)) = env {
                cmd = cmd.env(k, v);
            }
            let out = cmd
                .args(["plan", "--config", lab.config_arg()])
                .expect(2)
                .run();
            assert_hidden_in(&out, &repo);
            assert!(
                out.stderr.contains("registries:")
                    && out.stderr.contains(&format!("{APT_USER}:***@")),
                "{repo} {flags:?}:\n{}",
                out.stderr
            );
        }
        assert!(!lab.out_dir().exists(), "the refused plan wrote something");
    }
}

/// A password written into an image reference (`user:password@host/…`, with or without
/// `docker://`) is refused without showing it, at every verbosity.
#[test]
fn a_password_in_an_image_reference_is_refused_without_showing_it() {
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("images.txt");
    for line in [
        "me:s3cretpw@registry.example/x/y:1",
        "docker://me:s3cretpw@registry.example/x/y:1",
    ] {
        std::fs::write(&list, format!("{line}\n")).unwrap();
        for verbosity in [None, Some("-v"), Some("-vv")] {
            let mut cmd = Cmd::seedforge();
            if let Some(v) = verbosity {
                cmd = cmd.arg(v);
            }
            let out = cmd
                .args(["mirror", "--images"])
                .arg(&list)
                .arg("--layout")
                .arg(dir.path().join("layout"))
                .any_status()
                .run();
            assert_eq!(out.code, Some(2), "{line}: {}", out.stderr);
            assert!(
                out.stderr.contains("me:***@registry.example"),
                "{}",
                out.stderr
            );
            assert!(
                !out.stderr.contains("s3cretpw") && !out.stdout.contains("s3cretpw"),
                "{line} {verbosity:?}: {}",
                out.stderr
            );
        }
    }
}
