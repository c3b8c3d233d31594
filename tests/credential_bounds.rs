//! Credentials are read within bounds, whatever the machine's credential files hold.
//!
//! - A FIFO, `/dev/zero` (through a symbolic link) or a 4 GiB sparse file as the auth file
//!   chosen (`$REGISTRY_AUTH_FILE`, `--authfile`) is exit 2 naming the file, at once; as
//!   Docker's `config.json`, found by the search, it is a warning naming the file and the
//!   run goes on, and the lab's `plan`, which reaches no registry, does not read it. The
//!   run stays within a 256 MiB data segment (`prlimit --data`).
//! - A numeric password in an auth file is an error at its line and column that does not
//!   quote it.
//! - `--password-stdin` from `/dev/zero` (a line without end) is exit 2 naming the limit.
//! - Credential helpers, real shell scripts on a temporary `PATH`: one that never answers
//!   is killed after `SEEDFORGE_CREDENTIAL_HELPER_TIMEOUT` (exit 2 naming the helper, the
//!   server and the variable; the helper process is gone); one that answers without end
//!   (`yes`) is cut off at its size limit; neither's output is shown. A `credHelpers` or
//!   `credsStore` value with a `/` is exit 2 naming the config file and runs nothing, and
//!   a helper in a relative `PATH` folder is not run.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use crate::common;

use common::misbehave::{Answer, Server};
use common::{Cmd, Lab, Output};
use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

/// The data segment every run here may have: reading a credential without a bound would
/// end in an abort (exit 134), not in exit 2.
const MEMORY: u64 = 256 << 20;

/// Every run here ends by itself well within this.
const BOUND: Duration = Duration::from_secs(60);

/// seedforge under the memory cap, in `cwd`, with no credential file of the machine's user.
fn seedforge(cwd: &Path) -> Cmd {
    let cmd = Cmd::new("prlimit")
        .arg(format!("--data={MEMORY}"))
        .arg("--")
        .arg(common::seedforge_bin())
        .cwd(cwd)
        .timeout(BOUND)
        .any_status();
    crate::auth_files::without_user_credentials(cmd, cwd)
}

/// A registry that asks for basic auth on everything.
fn challenging_registry() -> Server {
    Server::start(|_, _| Answer::Full {
        status: 401,
        headers: vec![("WWW-Authenticate".into(), "Basic realm=\"test\"".into())],
        body: b"{\"errors\":[{\"code\":\"UNAUTHORIZED\"}]}".to_vec(),
    })
}

/// `mirror` of one image from `host` (plain HTTP) into `work/oci`.
fn mirror(work: &Path, host: &str) -> Cmd {
    let list = work.join("images.txt");
    fs::write(&list, format!("docker://{host}/lib/a:1.0\n")).unwrap();
    seedforge(work)
        .args(["mirror", "--images"])
        .arg(&list)
        .arg("--layout")
        .arg(work.join("oci"))
        .args(["--plain-http", host])
}

fn assert_refused(out: &Output, file: &Path, why: &str) {
    assert_eq!(out.code, Some(2), "{}: {}", file.display(), out.stderr);
    assert!(
        out.stderr.contains(&file.display().to_string()) && out.stderr.contains(why),
        "{}: {}",
        file.display(),
        out.stderr
    );
}

/// A FIFO, `/dev/zero` through a link and a 4 GiB sparse file, each in its own folder as
/// `name`: (the file, what the message says of it).
fn hostile_files(work: &Path, name: &str) -> Vec<(PathBuf, &'static str)> {
    let mut files = Vec::new();
    for (kind, why) in [
        ("fifo", "a FIFO"),
        ("zero", "a character device"),
        ("huge", "limit"),
    ] {
        let dir = work.join(format!("{kind}-{}", name.replace('/', "-")));
        let file = dir.join(name);
        fs::create_dir_all(file.parent().unwrap()).unwrap();
        match kind {
            "fifo" => {
                let made = std::process::Command::new("mkfifo")
                    .arg(&file)
                    .status()
                    .unwrap();
                assert!(made.success());
            }
            "zero" => std::os::unix::fs::symlink("/dev/zero", &file).unwrap(),
            _ => fs::File::create(&file).unwrap().set_len(4 << 30).unwrap(),
        }
        files.push((file, why));
    }
    files
}

#[test]
fn credential_files_that_are_not_small_regular_files_are_refused() {
    let work = tempfile::tempdir().unwrap();
    let host = "127.0.0.1:9";
    for (file, why) in hostile_files(work.path(), "config.json") {
        // A searched file: a warning naming it, within the bounds; the run goes on (to
        // the registry, which is not there: exit 75, try again later).
        let docker = file.parent().unwrap().to_str().unwrap();
        let out = mirror(work.path(), host).env("DOCKER_CONFIG", docker).run();
        assert_eq!(out.code, Some(75), "{}: {}", file.display(), out.stderr);
        assert!(
            out.stderr.contains("WARN")
                && out.stderr.contains(&file.display().to_string())
                && out.stderr.contains(why),
            "{}: {}",
            file.display(),
            out.stderr
        );
        assert!(out.stderr.contains("Connection refused"), "{}", out.stderr);
        // A plan reaches no registry, and so reads no auth file.
        let lab = Lab::new();
        let out = seedforge(lab.root())
            .args(["plan", "--config", lab.config_arg()])
            .env("DOCKER_CONFIG", docker)
            .run();
        assert_eq!(out.code, Some(0), "{}", out.stderr);
        assert!(!out.stderr.contains("config.json"), "{}", out.stderr);
    }
    // The file chosen by $REGISTRY_AUTH_FILE or --authfile: exit 2 naming it.
    for (file, why) in hostile_files(work.path(), "auth.json") {
        let out = mirror(work.path(), host)
            .env("REGISTRY_AUTH_FILE", file.to_str().unwrap())
            .run();
        assert_refused(&out, &file, why);
        assert!(!work.path().join("oci").exists());
        let out = mirror(work.path(), host).arg("--authfile").arg(&file).run();
        assert_refused(&out, &file, why);
    }
}

#[test]
fn an_auth_file_error_gives_the_position_not_the_value() {
    let work = tempfile::tempdir().unwrap();
    let auth = work.path().join("auth.json");
    fs::write(
        &auth,
        "{\"auths\": {\n  \"127.0.0.1:9\": {\"username\": \"u\", \"password\": 86753091234}\n}}\n",
    )
    .unwrap();
    let out = mirror(work.path(), "127.0.0.1:9")
        .arg("--authfile")
        .arg(&auth)
        .run();
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!("{}:2:", auth.display())),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("86753091234"), "{}", out.stderr);
}

#[test]
fn a_password_on_standard_input_is_read_within_a_bound() {
    let work = tempfile::tempdir().unwrap();
    let zero = fs::File::open("/dev/zero").unwrap();
    let out = mirror(work.path(), "127.0.0.1:9")
        .args(["--username", "bob", "--password-stdin"])
        .spawn_with_stdin(Stdio::from(zero))
        .wait();
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(
        out.stderr.contains("--password-stdin") && out.stderr.contains("65536-byte limit"),
        "{}",
        out.stderr
    );
    assert!(!work.path().join("oci").exists());
}

/// Writes an executable shell script.
fn script(path: &Path, body: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, format!("#!/bin/sh\n{body}\n")).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}

/// A Docker config in `work/docker` whose `credHelpers` names `helper` for `host`.
fn docker_config(work: &Path, host: &str, helper: &str) -> String {
    let docker = work.join("docker");
    fs::create_dir_all(&docker).unwrap();
    fs::write(
        docker.join("config.json"),
        format!(r#"{{"credHelpers":{{"{host}":"{helper}"}}}}"#),
    )
    .unwrap();
    docker.to_str().unwrap().to_string()
}

/// `PATH` with `bin` first.
fn path_with(bin: &Path) -> String {
    format!("{}:{}", bin.display(), std::env::var("PATH").unwrap())
}

/// True while process `pid` exists and is not a zombie.
fn alive(pid: &str) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(") ")
            .is_some_and(|(_, s)| !s.starts_with('Z'))
    })
}

#[test]
fn a_credential_helper_that_never_answers_is_killed_after_its_time() {
    let registry = challenging_registry();
    let work = tempfile::tempdir().unwrap();
    let bin = work.path().join("bin");
    let pid_file = work.path().join("helper.pid");
    // `exec`: the process that is killed is the one that sleeps.
    script(
        &bin.join("docker-credential-stuck"),
        &format!(
            "echo $$ > '{}'\necho stuck-helper-output\necho stuck-helper-stderr >&2\nexec sleep 300",
            pid_file.display()
        ),
    );
    let docker = docker_config(work.path(), &registry.host(), "stuck");
    let out = mirror(work.path(), &registry.host())
        .env("DOCKER_CONFIG", &docker)
        .env("PATH", &path_with(&bin))
        .env("SEEDFORGE_CREDENTIAL_HELPER_TIMEOUT", "2")
        .run();
    let pid = fs::read_to_string(&pid_file).unwrap_or_default();
    let pid = pid.trim();
    let still_running = !pid.is_empty() && alive(pid);
    if still_running {
        // Cleanup by its own PID, before the assertions can fail.
        let _ = std::process::Command::new("kill")
            .args(["-9", pid])
            .status();
    }
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    for part in [
        "docker-credential-stuck",
        &registry.host(),
        "SEEDFORGE_CREDENTIAL_HELPER_TIMEOUT",
    ] {
        assert!(out.stderr.contains(part), "{part}: {}", out.stderr);
    }
    assert!(!out.stderr.contains("stuck-helper"), "{}", out.stderr);
    // (Under a heavy load the helper may be killed before it wrote its PID: then there is
    // no process to look for.)
    assert!(!still_running, "the helper {pid} was left running");
}

#[test]
fn a_credential_helper_that_answers_without_end_is_cut_off() {
    let registry = challenging_registry();
    let work = tempfile::tempdir().unwrap();
    let bin = work.path().join("bin");
    script(
        &bin.join("docker-credential-chatty"),
        "exec yes endless-helper-output",
    );
    let docker = docker_config(work.path(), &registry.host(), "chatty");
    let out = mirror(work.path(), &registry.host())
        .env("DOCKER_CONFIG", &docker)
        .env("PATH", &path_with(&bin))
        .run();
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(
        out.stderr.contains("docker-credential-chatty") && out.stderr.contains("limit"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("endless-helper"), "{}", out.stderr);
}

#[test]
fn a_credential_helper_is_a_name_on_path_never_a_path() {
    let registry = challenging_registry();
    let work = tempfile::tempdir().unwrap();
    // Run from `work/run`; each script, if run, leaves a mark.
    let run = work.path().join("run");
    let mark = work.path().join("ran");
    let body = format!("touch '{}'\nexit 1", mark.display());
    fs::create_dir_all(run.join("docker-credential-x")).unwrap();
    script(&work.path().join("evil.sh"), &body);
    fs::create_dir_all(run.join("docker-credential-..")).unwrap();
    script(&run.join("bin/sh"), &body);
    let docker = work.path().join("docker");
    fs::create_dir_all(&docker).unwrap();
    for (helpers, entry) in [
        (
            format!(
                r#""credHelpers":{{"{}":"x/../../evil.sh"}}"#,
                registry.host()
            ),
            "credHelpers",
        ),
        (r#""credsStore":"../../bin/sh""#.to_string(), "credsStore"),
    ] {
        let config = docker.join("config.json");
        fs::write(&config, format!("{{{helpers}}}")).unwrap();
        let out = mirror(&run, &registry.host())
            .env("DOCKER_CONFIG", docker.to_str().unwrap())
            .run();
        assert_eq!(out.code, Some(2), "{entry}: {}", out.stderr);
        assert!(
            out.stderr.contains(&config.display().to_string()) && out.stderr.contains(entry),
            "{}",
            out.stderr
        );
        assert!(!mark.exists(), "{entry}: a path was run");
    }
    // A helper found only through a relative folder of PATH (the working folder) is not
    // run: a warning, and the registry is asked without credentials.
    script(&run.join("rel/docker-credential-near"), &body);
    let docker = docker_config(work.path(), &registry.host(), "near");
    let out = mirror(&run, &registry.host())
        .env("DOCKER_CONFIG", &docker)
        .env("PATH", &format!("rel:{}", std::env::var("PATH").unwrap()))
        .run();
    assert!(!mark.exists(), "a helper in a relative PATH folder was run");
    assert!(
        out.stderr.contains("docker-credential-near is not on PATH"),
        "{}",
        out.stderr
    );
}
