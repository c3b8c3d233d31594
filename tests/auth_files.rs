//! Credentials from the auth files podman, skopeo and Docker write, where they write them,
//! judged by a real TLS registry with htpasswd basic auth (one valid user).
//!
//! Each source holds its own user name; only the source that must win holds the valid
//! one, so a run that succeeds proves which file won, and a 401 names the user (and so the
//! file) that was taken instead.
//!
//! - The search of containers-auth.json(5), one step at a time: `podman login` as root with
//!   `XDG_RUNTIME_DIR` unset writes `/run/containers/0/auth.json` (the real path, backed up
//!   and restored); `~/.config/containers/auth.json`, `~/.docker/config.json` and the legacy
//!   `~/.dockercfg` (Docker's `https://HOST/v1/` key) follow. Each one wins over every one
//!   after it and, once removed, hands over to the next. The same with the variables:
//!   `skopeo login` into `$XDG_RUNTIME_DIR/containers/auth.json`, `$XDG_CONFIG_HOME` and
//!   `$DOCKER_CONFIG`.
//! - Repository-scoped keys (`skopeo login HOST/team`): the most specific key of the
//!   image's repository wins, in both directions.
//! - `--authfile FILE` and `$REGISTRY_AUTH_FILE` are read alone: credentials in the other
//!   files are not used.
//! - An auth file that is not a JSON object (an array, a string, a number, `null`, a
//!   boolean) is refused naming the file: exit 2 when chosen, a warning when found by the
//!   search, never read as holding no credentials.
//! - A broken Docker `config.json` does not fail a mirror that reaches no registry
//!   (it is not read) nor one whose credentials are elsewhere (a warning naming the file,
//!   no value quoted); a broken `--authfile` is exit 2.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use crate::common;

use base64::Engine as _;
use common::registry::{Registry, RegistryOptions, TestCa, fixture_layout};
use common::{Cmd, Output, require_tool};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

/// `cmd` with none of the credential files of the test runner's user: every place the
/// search looks is under `dir`, and empty.
pub fn without_user_credentials(cmd: Cmd, dir: &Path) -> Cmd {
    let none = dir.join("no-credentials");
    fs::create_dir_all(&none).unwrap();
    let none = none.to_str().unwrap();
    cmd.env("HOME", none)
        .env("XDG_RUNTIME_DIR", none)
        .env("XDG_CONFIG_HOME", none)
        .env("DOCKER_CONFIG", none)
        .env("REGISTRY_AUTH_FILE", "")
}

/// The registry's one user.
const USER: &str = "tester";
const PASSWORD: &str = "auth-files-pw";

/// A TLS registry with basic auth holding the fixture pause image as `team/pause:3.6`
/// and `other/pause:3.6`.
struct Lab {
    ca: TestCa,
    registry: Registry,
    /// HOME, runtime folder, image lists and layouts of the runs.
    work: tempfile::TempDir,
    runs: std::cell::Cell<u32>,
}

impl Lab {
    fn new() -> Option<Lab> {
        if !["podman", "skopeo", "docker-registry"]
            .iter()
            .all(|t| require_tool(t))
        {
            return None;
        }
        let ca = TestCa::new();
        let registry = Registry::start(&RegistryOptions {
            tls: Some((ca.server_cert.clone(), ca.server_key.clone())),
            basic_auth: Some((USER.into(), PASSWORD.into())),
            token: None,
        });
        let pause = format!("oci:{}:mirrored-pause:3.6", fixture_layout().display());
        for repo in ["team/pause:3.6", "other/pause:3.6"] {
            Cmd::new("skopeo")
                .args(["copy", "--quiet", "--all", "--dest-creds"])
                .arg(format!("{USER}:{PASSWORD}"))
                .arg("--dest-cert-dir")
                .arg(ca.cert_dir())
                .arg(&pause)
                .arg(format!("docker://{}/{repo}", registry.host()))
                .timeout(Duration::from_secs(120))
                .run();
        }
        let work = tempfile::tempdir().unwrap();
        for d in ["home", "run", "config", "docker"] {
            fs::create_dir(work.path().join(d)).unwrap();
        }
        Some(Lab {
            ca,
            registry,
            work,
            runs: std::cell::Cell::new(0),
        })
    }

    fn host(&self) -> String {
        self.registry.host()
    }

    fn home(&self) -> PathBuf {
        self.work.path().join("home")
    }

    fn dir(&self, name: &str) -> PathBuf {
        self.work.path().join(name)
    }

    /// `cmd` with this lab's HOME and no credential variable of the test runner; the
    /// `vars` given are set (an empty value counts as unset, for seedforge as for Go).
    fn env(&self, cmd: Cmd, vars: &[(&str, &Path)]) -> Cmd {
        let mut cmd = cmd.env("HOME", self.home().to_str().unwrap());
        for var in [
            "XDG_RUNTIME_DIR",
            "XDG_CONFIG_HOME",
            "DOCKER_CONFIG",
            "REGISTRY_AUTH_FILE",
        ] {
            let value = vars.iter().find(|(k, _)| *k == var).map(|(_, v)| *v);
            cmd = cmd.env(var, value.map_or("", |v| v.to_str().unwrap()));
        }
        cmd
    }

    /// `TOOL login` (podman or skopeo) as the valid user, for `key` (`HOST` or
    /// `HOST/team`), into `authfile` or where the tool writes by itself. podman runs with
    /// its storage in the lab, so that it leaves nothing in the system's. `DOCKER_CONFIG`
    /// is left out: podman 4.3 and skopeo 1.9 log in to `$DOCKER_CONFIG/config.json`
    /// when it is set.
    fn login(&self, tool: &str, key: &str, authfile: Option<&Path>, vars: &[(&str, &Path)]) {
        let mut cmd = Cmd::new(tool);
        if tool == "podman" {
            cmd = cmd
                .arg("--root")
                .arg(self.dir("podman-root"))
                .arg("--runroot")
                .arg(self.dir("podman-runroot"))
                .args(["--storage-driver", "vfs"]);
        }
        cmd = cmd.args(["login", "--tls-verify=false", "-u", USER, "-p", PASSWORD]);
        if let Some(file) = authfile {
            cmd = cmd.arg("--authfile").arg(file);
        }
        let vars: Vec<_> = vars
            .iter()
            .copied()
            .filter(|(k, _)| *k != "DOCKER_CONFIG")
            .collect();
        self.env(cmd.arg(key), &vars)
            .timeout(Duration::from_secs(60))
            .run();
    }

    /// `seedforge mirror` of `repos` (`team/pause:3.6`), every image tried.
    fn mirror(&self, repos: &[&str], vars: &[(&str, &Path)], authfile: Option<&Path>) -> Output {
        self.runs.set(self.runs.get() + 1);
        let n = self.runs.get();
        let list = self.dir(&format!("images-{n}.txt"));
        let text: String = repos
            .iter()
            .map(|r| format!("docker://{}/{r}\n", self.host()))
            .collect();
        fs::write(&list, text).unwrap();
        let mut cmd = Cmd::seedforge()
            .args(["mirror", "--keep-going", "--images"])
            .arg(&list)
            .arg("--layout")
            .arg(self.dir(&format!("oci-{n}")))
            .arg("--ca-file")
            .arg(&self.ca.ca_cert);
        if let Some(file) = authfile {
            cmd = cmd.arg("--authfile").arg(file);
        }
        self.env(cmd, vars).any_status().run()
    }
}

/// An auth file entry for `user` with a password the registry refuses.
fn wrong(key: &str, user: &str) -> serde_json::Value {
    serde_json::json!({
        key: {"auth": base64::engine::general_purpose::STANDARD.encode(format!("{user}:not-the-password"))}
    })
}

/// Writes `{"auths": entries}` (or the legacy shape: the entries alone) to `path`.
fn write_auth(path: &Path, entries: serde_json::Value, legacy: bool) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    let doc = if legacy {
        entries
    } else {
        serde_json::json!({ "auths": entries })
    };
    fs::write(path, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
}

fn succeeded(out: &Output, why: &str) {
    assert_eq!(out.code, Some(0), "{why}:\n{}", out.stderr);
}

fn refused_for(out: &Output, user: &str, why: &str) {
    assert_ne!(out.code, Some(0), "{why}: the run succeeded");
    assert!(
        out.stderr.contains("refused access") && out.stderr.contains(&format!("{user:?}")),
        "{why}: not refused for user {user}:\n{}",
        out.stderr
    );
}

/// One location of the search: where, and how the valid credentials get there.
struct Location {
    path: PathBuf,
    how: How,
}

/// How the valid credentials are written to a [`Location`].
enum How {
    /// `TOOL login`, which writes there by itself.
    Login(&'static str),
    /// `TOOL login --authfile PATH`.
    LoginTo(&'static str),
    /// By hand, in the legacy `~/.dockercfg` shape with Docker's URL key.
    Legacy,
}

/// Walks the search order: for each location, the valid user there and a wrong user in
/// every later one must succeed; without it, the next one's user is refused.
fn walk(lab: &Lab, locations: &[Location], vars: &[(&str, &Path)]) {
    let host = lab.host();
    for (i, here) in locations.iter().enumerate() {
        for l in locations {
            let _ = fs::remove_file(&l.path);
        }
        for (j, later) in locations.iter().enumerate().skip(i + 1) {
            let legacy = matches!(later.how, How::Legacy);
            let key = if legacy {
                format!("https://{host}/v1/")
            } else {
                host.clone()
            };
            write_auth(&later.path, wrong(&key, &format!("user{j}")), legacy);
        }
        let name = here.path.display().to_string();
        match here.how {
            How::Legacy => {
                let auth =
                    base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
                write_auth(
                    &here.path,
                    serde_json::json!({ format!("https://{host}/v1/"): {"auth": auth, "email": ""} }),
                    true,
                );
            }
            How::Login(tool) => {
                lab.login(tool, &host, None, vars);
                assert!(here.path.is_file(), "{tool} login did not write {name}");
            }
            How::LoginTo(tool) => lab.login(tool, &host, Some(&here.path), vars),
        }
        let out = lab.mirror(&["team/pause:3.6"], vars, None);
        succeeded(
            &out,
            &format!("{name} is not read, or not before the later files"),
        );
        if i + 1 < locations.len() {
            fs::remove_file(&here.path).unwrap();
            let out = lab.mirror(&["team/pause:3.6"], vars, None);
            refused_for(&out, &format!("user{}", i + 1), &format!("without {name}"));
        }
    }
    for l in locations {
        let _ = fs::remove_file(&l.path);
    }
}

/// Serialises the tests that use `/run/containers/$UID` (a real system path).
static RUN_CONTAINERS: Mutex<()> = Mutex::new(());

/// Puts back `/run/containers/$UID/auth.json` (and removes the folders made) when dropped.
struct RestoreRunContainers {
    file: PathBuf,
    saved: Option<Vec<u8>>,
    made: Vec<PathBuf>,
}

impl RestoreRunContainers {
    fn new(uid: u32) -> RestoreRunContainers {
        let root = PathBuf::from("/run/containers");
        let dir = root.join(uid.to_string());
        let made = [root, dir.clone()]
            .into_iter()
            .filter(|d| !d.exists())
            .take(1)
            .collect();
        let file = dir.join("auth.json");
        RestoreRunContainers {
            saved: fs::read(&file).ok(),
            file,
            made,
        }
    }
}

impl Drop for RestoreRunContainers {
    fn drop(&mut self) {
        match &self.saved {
            Some(bytes) => fs::write(&self.file, bytes).unwrap(),
            None => {
                let _ = fs::remove_file(&self.file);
            }
        }
        // podman leaves `networks` in a `/run/containers` it made: all of it is ours.
        for dir in &self.made {
            let _ = fs::remove_dir_all(dir);
        }
    }
}

#[test]
fn the_default_search_is_podmans_then_dockers() {
    let uid = rustix::process::getuid().as_raw();
    if uid != 0 {
        eprintln!("skipped: podman writes /run/containers/{uid} only as root");
        return;
    }
    let Some(lab) = Lab::new() else { return };
    let _lock = RUN_CONTAINERS.lock().unwrap_or_else(|e| e.into_inner());
    let _restore = RestoreRunContainers::new(uid);
    let home = lab.home();
    let locations = [
        Location {
            path: PathBuf::from(format!("/run/containers/{uid}/auth.json")),
            how: How::Login("podman"),
        },
        Location {
            path: home.join(".config/containers/auth.json"),
            how: How::LoginTo("podman"),
        },
        Location {
            path: home.join(".docker/config.json"),
            how: How::LoginTo("skopeo"),
        },
        Location {
            path: home.join(".dockercfg"),
            how: How::Legacy,
        },
    ];
    walk(&lab, &locations, &[]);
}

#[test]
fn the_search_follows_the_variables() {
    let Some(lab) = Lab::new() else { return };
    let (run, config, docker) = (lab.dir("run"), lab.dir("config"), lab.dir("docker"));
    let vars: [(&str, &Path); 3] = [
        ("XDG_RUNTIME_DIR", &run),
        ("XDG_CONFIG_HOME", &config),
        ("DOCKER_CONFIG", &docker),
    ];
    let locations = [
        Location {
            path: run.join("containers/auth.json"),
            how: How::Login("skopeo"),
        },
        Location {
            path: config.join("containers/auth.json"),
            how: How::LoginTo("skopeo"),
        },
        Location {
            path: docker.join("config.json"),
            how: How::LoginTo("skopeo"),
        },
    ];
    walk(&lab, &locations, &vars);
}

#[test]
fn the_most_specific_key_of_a_repository_wins() {
    let Some(lab) = Lab::new() else { return };
    let run = lab.dir("run");
    let vars: [(&str, &Path); 1] = [("XDG_RUNTIME_DIR", &run)];
    let file = run.join("containers/auth.json");
    let host = lab.host();
    let both = ["team/pause:3.6", "other/pause:3.6"];
    // The team's key valid (written by skopeo login HOST/team), the host's not.
    write_auth(&file, wrong(&host, "hostuser"), false);
    lab.login("skopeo", &format!("{host}/team"), None, &vars);
    let text = fs::read_to_string(&file).unwrap();
    assert!(text.contains(&format!("\"{host}/team\"")), "{text}");
    let out = lab.mirror(&both, &vars, None);
    assert!(out.stderr.contains("other/pause"), "{}", out.stderr);
    refused_for(&out, "hostuser", "other/ uses the host's key");
    assert!(
        !out.stderr.contains("team/pause"),
        "team/ did not use its own key:\n{}",
        out.stderr
    );
    // The other way round: the team's key wins even when the host's would work.
    fs::remove_file(&file).unwrap();
    write_auth(&file, wrong(&format!("{host}/team"), "teamuser"), false);
    lab.login("skopeo", &host, None, &vars);
    let out = lab.mirror(&both, &vars, None);
    refused_for(&out, "teamuser", "team/ uses the team's key");
    assert!(
        !out.stderr.contains("other/pause"),
        "other/ did not use the host's key:\n{}",
        out.stderr
    );
}

#[test]
fn a_chosen_auth_file_is_read_alone() {
    let Some(lab) = Lab::new() else { return };
    let (run, docker) = (lab.dir("run"), lab.dir("docker"));
    let vars: [(&str, &Path); 2] = [("XDG_RUNTIME_DIR", &run), ("DOCKER_CONFIG", &docker)];
    // Valid credentials where podman writes them and in Docker's file.
    lab.login("skopeo", &lab.host(), None, &vars);
    lab.login(
        "skopeo",
        &lab.host(),
        Some(&docker.join("config.json")),
        &vars,
    );
    succeeded(
        &lab.mirror(&["team/pause:3.6"], &vars, None),
        "the defaults",
    );
    // A chosen file without them: anonymous, as with podman and skopeo.
    let chosen = lab.dir("chosen.json");
    write_auth(
        &chosen,
        serde_json::json!({"elsewhere.example": {"username": "elsewhere", "password": "elsewhere-pw"}}),
        false,
    );
    let out = lab.mirror(&["team/pause:3.6"], &vars, Some(&chosen));
    assert!(
        out.stderr.contains("refused access") && out.stderr.contains("anonymous"),
        "--authfile is merged with the default files:\n{}",
        out.stderr
    );
    let with_env: [(&str, &Path); 3] = [
        ("XDG_RUNTIME_DIR", &run),
        ("DOCKER_CONFIG", &docker),
        ("REGISTRY_AUTH_FILE", &chosen),
    ];
    let out = lab.mirror(&["team/pause:3.6"], &with_env, None);
    assert!(
        out.stderr.contains("refused access") && out.stderr.contains("anonymous"),
        "$REGISTRY_AUTH_FILE is merged with the default files:\n{}",
        out.stderr
    );
    // --authfile is chosen over $REGISTRY_AUTH_FILE.
    let valid = lab.dir("valid.json");
    lab.login("skopeo", &lab.host(), Some(&valid), &vars);
    succeeded(
        &lab.mirror(&["team/pause:3.6"], &with_env, Some(&valid)),
        "--authfile over $REGISTRY_AUTH_FILE",
    );
}

#[test]
fn a_broken_docker_config_is_a_warning_unless_chosen() {
    let Some(lab) = Lab::new() else { return };
    let (run, docker_dir) = (lab.dir("run"), lab.dir("docker"));
    let vars: [(&str, &Path); 2] = [("XDG_RUNTIME_DIR", &run), ("DOCKER_CONFIG", &docker_dir)];
    // Logged in first: skopeo 1.9 itself refuses to log in past a broken config.json.
    lab.login("skopeo", &lab.host(), None, &vars);
    let docker = docker_dir.join("config.json");
    let broken = "{\"auths\": {\"h\": {\"password\": 86753091234}}";
    fs::write(&docker, broken).unwrap();

    // No registry: not read at all.
    let list = lab.dir("local.txt");
    fs::write(
        &list,
        format!("oci:{}:mirrored-pause:3.6\n", fixture_layout().display()),
    )
    .unwrap();
    let out = lab
        .env(
            Cmd::seedforge()
                .args(["mirror", "--images"])
                .arg(&list)
                .arg("--layout")
                .arg(lab.dir("local-oci")),
            &vars,
        )
        .run();
    assert!(!out.stderr.contains("config.json"), "{}", out.stderr);

    // A registry whose credentials are in podman's file: a warning naming the broken one.
    let out = lab.mirror(&["team/pause:3.6"], &vars, None);
    succeeded(&out, "a broken config.json fails the run");
    assert!(
        out.stderr.contains(&docker.display().to_string()) && out.stderr.contains("WARN"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("86753091234"), "{}", out.stderr);

    // The same file chosen with --authfile: exit 2 naming it.
    let out = lab.mirror(&["team/pause:3.6"], &vars, Some(&docker));
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!("{}:1:", docker.display())),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("86753091234"), "{}", out.stderr);
}

#[test]
fn an_auth_file_that_is_not_a_json_object_is_refused_like_any_wrong_shape() {
    use common::misbehave::{Answer, Server};
    // A registry that asks for basic auth: the auth file is read for its credentials.
    let registry = Server::start(|_, _| Answer::Full {
        status: 401,
        headers: vec![("WWW-Authenticate".into(), "Basic realm=\"test\"".into())],
        body: b"{\"errors\":[{\"code\":\"UNAUTHORIZED\"}]}".to_vec(),
    });
    let host = registry.host();
    let work = tempfile::tempdir().unwrap();
    let list = work.path().join("images.txt");
    fs::write(&list, format!("docker://{host}/lib/a:1.0\n")).unwrap();
    let mirror = |authfile: Option<&Path>, docker: &Path| {
        let mut cmd = without_user_credentials(
            Cmd::seedforge()
                .args(["mirror", "--images"])
                .arg(&list)
                .arg("--layout")
                .arg(work.path().join("oci"))
                .args(["--plain-http", &host])
                .any_status(),
            work.path(),
        )
        .env("DOCKER_CONFIG", docker.to_str().unwrap());
        if let Some(file) = authfile {
            cmd = cmd.arg("--authfile").arg(file);
        }
        cmd.run()
    };
    for (text, kind) in [
        ("[]\n", "an array"),
        ("[{\"auths\": {}}]\n", "an array"),
        ("\"x\"\n", "a string"),
        ("42\n", "a number"),
        ("null\n", "null"),
        ("true\n", "a boolean"),
    ] {
        let docker = work.path().join("docker");
        fs::create_dir_all(&docker).unwrap();
        let file = docker.join("config.json");
        fs::write(&file, text).unwrap();
        let why = format!(
            "{}: the file is {kind}, where an auth file holds a JSON object",
            file.display()
        );
        // Chosen: exit 2 naming it, nothing written.
        let out = mirror(Some(&file), &work.path().join("no-credentials"));
        assert_eq!(out.code, Some(2), "{text}: {}", out.stderr);
        assert!(out.stderr.contains(&why), "{text}: {}", out.stderr);
        assert!(!work.path().join("oci").exists(), "{text}");
        // Chosen, the message is the refusal itself; found by the search, it is a warning
        // naming the file, as for any broken one, and the run goes on to the registry,
        // which refuses the anonymous pull.
        assert!(
            !out.stderr.contains("refused access"),
            "{text}: {}",
            out.stderr
        );
        let out = mirror(None, &docker);
        assert!(
            out.stderr.contains("WARN")
                && out.stderr.contains(&why)
                && out
                    .stderr
                    .contains("refused access (401) to anonymous requests"),
            "{text}: {}",
            out.stderr
        );
        let _ = fs::remove_dir_all(work.path().join("oci"));
    }
}
