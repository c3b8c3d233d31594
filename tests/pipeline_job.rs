//! docs/pipeline.md run as written: its `ci/media.sh`, its GitHub Actions workflow and its
//! GitLab CI job, each step as that CI runs it (a clean clone of the config's git
//! repository every run, the cache restored and saved as the CI does, the secrets as
//! environment variables, a cleared environment, no terminal), its far-side commands under
//! `unshare -n`, and its consumer's check with cosign and `sha256sum`. Three weeks:
//!
//! 1. GitHub, scheduled: the first medium (the whole output), checked by the consumer's
//!    commands; the far side takes it and sends its receipt back.
//! 2. An image added, and the cache lost: the scheduled run is refused (exit 2, the
//!    lock's CA named, nothing published, the cache left as it was); the run dispatched
//!    with `rotate_ca` passes, its delta says `changes.ca`, and the far side, with a stray
//!    `SOURCE_DATE_EPOCH`, applies it.
//! 3. GitLab, another image: the signing secret missing, refused at plan (exit 2, nothing
//!    written, no cache saved); with the secret the delta passes and the far side ends
//!    byte for byte where the near side is.

use crate::common;

use common::{Cmd, require_tool};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The fenced code blocks of docs/pipeline.md: (info string, body).
fn blocks(md: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut open: Option<(String, String)> = None;
    for line in md.lines() {
        match &mut open {
            None => {
                if let Some(info) = line.strip_prefix("```") {
                    open = Some((info.trim().to_string(), String::new()));
                }
            }
            Some((_, body)) => {
                if line.trim_end() == "```" {
                    out.push(open.take().unwrap());
                } else {
                    body.push_str(line);
                    body.push('\n');
                }
            }
        }
    }
    out
}

/// The page's pieces, each found by what it is.
struct Page {
    script: String,
    config: String,
    github: Value,
    gitlab: Value,
    far_side: Vec<String>,
    consumer: String,
}

impl Page {
    fn read() -> Page {
        let md = fs::read_to_string(common::repo_root().join("docs/pipeline.md")).unwrap();
        let all = blocks(&md);
        let find = |lang: &str, mark: &str| -> String {
            let found: Vec<&String> = (all.iter())
                .filter(|(info, body)| info == lang && body.contains(mark))
                .map(|(_, body)| body)
                .collect();
            assert_eq!(
                found.len(),
                1,
                "docs/pipeline.md: one {lang} block with {mark:?}"
            );
            found[0].clone()
        };
        let yaml = |text: String| -> Value { serde_saphyr::from_str(&text).unwrap() };
        Page {
            script: find("bash", "# ci/media.sh"),
            config: find("yaml", "require_signature: true"),
            github: yaml(find("yaml", "# .github/workflows/")),
            gitlab: yaml(find("yaml", "# .gitlab-ci.yml")),
            far_side: find("sh", "seedforge apply")
                .lines()
                .filter(|l| l.starts_with("seedforge "))
                .map(str::to_string)
                .collect(),
            consumer: find("sh", "cosign verify-blob"),
        }
    }
}

/// What one CI run left: whether its job passed, its log, what it published.
struct Run {
    passed: bool,
    log: String,
    published: Option<PathBuf>,
}

/// A CI service for one repository: the git remote, the cache store, the artifacts, a
/// PATH with `seedforge`, `jq`, `git` and `cosign`, and the secret store.
struct Ci {
    root: PathBuf,
    origin: PathBuf,
    bin: PathBuf,
    secrets: BTreeMap<&'static str, String>,
    runs: u32,
}

impl Ci {
    /// This CI's cache store.
    fn cache(&self) -> PathBuf {
        self.root.join("cache")
    }

    fn workspace(&mut self) -> PathBuf {
        self.runs += 1;
        let ws = self.root.join(format!("runs/{}", self.runs));
        fs::create_dir_all(ws.parent().unwrap()).unwrap();
        git(
            &self.root,
            &[
                "clone",
                "-q",
                &self.origin.display().to_string(),
                &ws.display().to_string(),
            ],
        );
        ws
    }

    /// A command with nothing of this machine's environment but what a runner has.
    fn shell(
        &self,
        ws: &Path,
        env: &BTreeMap<String, String>,
        script: &str,
        flags: &[&str],
    ) -> (bool, String) {
        let tmp = self.root.join(format!("runner-temp/{}", self.runs));
        fs::create_dir_all(&tmp).unwrap();
        let mut c = Command::new("bash");
        c.args(["--noprofile", "--norc"])
            .args(flags)
            .args(["-c", script])
            .current_dir(ws)
            .env_clear()
            .env("PATH", format!("{}:/usr/bin:/bin", self.bin.display()))
            .env("HOME", self.root.join("home"))
            .env("CI", "true")
            .env("RUNNER_TEMP", &tmp)
            .env("TMPDIR", &tmp)
            .stdin(Stdio::null());
        for (k, v) in env {
            c.env(k, v);
        }
        let out = c.output().unwrap();
        let log = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), log)
    }

    fn secret(&self, value: &str) -> String {
        // `${{ secrets.NAME }}` is "" for a secret the store does not hold.
        let name = value
            .trim_start_matches("${{ secrets.")
            .trim_end_matches(" }}");
        self.secrets.get(name).cloned().unwrap_or_default()
    }

    /// The page's GitHub Actions job, run as Actions runs it.
    fn github(&mut self, page: &Page, inputs: &[(&str, &str)]) -> Run {
        let ws = self.workspace();
        let run_id = self.runs.to_string();
        let job = &page.github["jobs"]["media"];
        let subst = |v: &str| -> String {
            let mut v = v.replace("${{ github.run_id }}", &run_id);
            for (k, x) in inputs {
                v = v.replace(&format!("${{{{ inputs.{k} }}}}"), x);
            }
            if v.contains("${{ inputs.") {
                // A scheduled run has no inputs: each is "".
                v = String::new();
            }
            if v.starts_with("${{ secrets.") {
                self.secret(&v)
            } else {
                v
            }
        };
        let env: BTreeMap<String, String> = (job["env"].as_object().unwrap().iter())
            .map(|(k, v)| (k.clone(), subst(v.as_str().unwrap())))
            .collect();
        let mut log = String::new();
        let mut passed = true;
        let mut published = None;
        for step in job["steps"].as_array().unwrap() {
            if !passed {
                break; // steps run on success only (no `if:` in the page's job)
            }
            let with = |k: &str| subst(step["with"][k].as_str().unwrap_or(""));
            match step["uses"].as_str().map(|u| u.split('@').next().unwrap()) {
                Some("actions/checkout") => {} // the workspace is a fresh clone
                Some("actions/cache/restore") => {
                    restore(
                        &self.cache(),
                        &ws,
                        &with("path"),
                        &[with("key"), with("restore-keys")],
                    );
                }
                Some("actions/cache/save") => save(&self.cache(), &ws, &with("path"), &with("key")),
                Some("actions/upload-artifact") => {
                    published = Some(publish(&self.root, &ws, &with("path"), &run_id));
                }
                Some(other) => panic!("docs/pipeline.md uses {other}, which this test cannot run"),
                None => {
                    let (ok, out) = self.shell(&ws, &env, step["run"].as_str().unwrap(), &["-e"]);
                    log.push_str(&out);
                    passed = ok;
                }
            }
        }
        Run {
            passed,
            log,
            published,
        }
    }

    /// The page's GitLab CI job, run as a GitLab runner runs it.
    fn gitlab(&mut self, page: &Page, source: &str) -> Run {
        let ws = self.workspace();
        let job = &page.gitlab["seedforge-media"];
        let rules = serde_json::to_string(&job["rules"]).unwrap();
        assert!(rules.contains(&format!("\\\"{source}\\\"")), "{rules}");
        let mut env: BTreeMap<String, String> = (job["variables"].as_object().unwrap().iter())
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
            .collect();
        // The project's CI/CD variables: the secrets, as environment variables.
        for (k, v) in &self.secrets {
            env.insert(k.to_string(), v.clone());
        }
        env.insert("GITLAB_CI".into(), "true".into());
        env.insert("CI_PIPELINE_SOURCE".into(), source.into());
        let key = job["cache"]["key"].as_str().unwrap().to_string();
        let paths: Vec<String> = (job["cache"]["paths"].as_array().unwrap().iter())
            .map(|p| p.as_str().unwrap().trim_end_matches('/').to_string())
            .collect();
        for p in &paths {
            restore(&self.cache(), &ws, p, std::slice::from_ref(&key));
        }
        let script: Vec<&str> = (job["script"].as_array().unwrap().iter())
            .map(|l| l.as_str().unwrap())
            .collect();
        let (passed, log) = self.shell(&ws, &env, &script.join("\n"), &["-e", "-o", "pipefail"]);
        let mut published = None;
        if passed {
            assert_eq!(job["cache"]["when"], "on_success");
            for p in &paths {
                save(&self.cache(), &ws, p, &key);
            }
            for p in job["artifacts"]["paths"].as_array().unwrap() {
                published = Some(publish(
                    &self.root,
                    &ws,
                    p.as_str().unwrap(),
                    &self.runs.to_string(),
                ));
            }
        }
        Run {
            passed,
            log,
            published,
        }
    }
}

/// `actions/cache/restore` and GitLab's cache: the entry under the first key given, or
/// else the newest whose key starts with one of the others; nothing when there is none.
fn restore(store: &Path, ws: &Path, path: &str, keys: &[String]) {
    let Ok(entries) = fs::read_dir(store) else {
        return;
    };
    let mut entries: Vec<(std::time::SystemTime, String)> = entries
        .map(|e| e.unwrap())
        .map(|e| {
            (
                e.metadata().unwrap().modified().unwrap(),
                e.file_name().to_string_lossy().into_owned(),
            )
        })
        .collect();
    entries.sort();
    let hit = entries.iter().rev().map(|(_, k)| k).find(|k| {
        keys.iter().enumerate().any(|(i, want)| {
            if i == 0 {
                *k == want
            } else {
                !want.is_empty() && k.starts_with(want)
            }
        })
    });
    if let Some(k) = hit {
        copy_tree(&store.join(k).join(path), &ws.join(path));
    }
}

fn save(store: &Path, ws: &Path, path: &str, key: &str) {
    let entry = store.join(key);
    let _ = fs::remove_dir_all(&entry);
    copy_tree(&ws.join(path), &entry.join(path));
}

fn publish(root: &Path, ws: &Path, path: &str, run: &str) -> PathBuf {
    let to = root.join("artifacts").join(run);
    copy_tree(&ws.join(path.trim_end_matches('/')), &to);
    to
}

fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to.parent().unwrap()).unwrap();
    let _ = fs::remove_dir_all(to);
    Cmd::new("cp").arg("-a").arg(from).arg(to).run();
}

fn git(dir: &Path, args: &[&str]) -> String {
    Cmd::new("git")
        .args([
            "-c",
            "user.name=Operator",
            "-c",
            "user.email=operator@example.org",
        ])
        .args(args)
        .cwd(dir)
        .env("GIT_COMMITTER_DATE", "2026-11-02T04:00:00Z")
        .env("GIT_AUTHOR_DATE", "2026-11-02T04:00:00Z")
        .run()
        .stdout
}

/// The operator's working copy: an edit committed and pushed.
fn commit(work: &Path, what: &str) {
    git(work, &["add", "-A"]);
    git(work, &["commit", "-q", "-m", what]);
    git(work, &["push", "-q", "origin", "HEAD:main"]);
}

/// Every JSON document a run published, each read as JSON.
fn documents(published: &Path) -> Vec<(String, Value)> {
    let mut docs = Vec::new();
    for e in fs::read_dir(published).unwrap() {
        let path = e.unwrap().path();
        if path.extension().is_some_and(|x| x == "json") {
            let text = fs::read_to_string(&path).unwrap();
            let doc = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{}: not JSON ({e}):\n{text}", path.display()));
            // Each one is a seedforge document, valid against its schema.
            common::json_schema::check(&doc);
            docs.push((
                path.file_name().unwrap().to_string_lossy().into_owned(),
                doc,
            ));
        }
    }
    docs.sort_by(|a, b| a.0.cmp(&b.0));
    docs
}

/// The far side: the page's commands, each with no network, in its config folder.
fn far_side(page: &Page, far: &Path, env: &[(&str, &str)]) -> String {
    let mut log = String::new();
    for line in &page.far_side {
        let mut cmd = if common::network_namespace_usable() {
            Cmd::new("unshare").args(["-n", "--", "bash", "-e", "-c"])
        } else {
            Cmd::new("bash").args(["-e", "-c"])
        }
        .arg(format!(
            "PATH={}:$PATH; {line}",
            common::seedforge_bin().parent().unwrap().display()
        ))
        .cwd(far);
        for (k, v) in env {
            cmd = cmd.env(k, v);
        }
        let out = cmd.run();
        log.push_str(&out.stdout);
        log.push_str(&out.stderr);
    }
    log
}

fn sums(out: &Path) -> String {
    fs::read_to_string(out.join("SHA256SUMS")).unwrap()
}

/// `images.txt` with one more line: the fixture's klipper-lb under another name.
fn with_image(images: &str, name: &str) -> String {
    let line = images
        .lines()
        .find(|l| l.contains(":klipper-lb:v0.4.13"))
        .unwrap();
    let source = line.split_whitespace().next().unwrap();
    format!("{images}{source} registry.example.org/lab/{name}:v0.4.13\n")
}

/// The published document `name` (`build.json`).
fn document(published: &Path, name: &str) -> Value {
    (documents(published).into_iter())
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("{name} not published in {}", published.display()))
        .1
}

#[test]
fn the_weekly_job_of_docs_pipeline_md_runs_as_written_for_three_weeks() {
    for tool in ["git", "jq", "openssl", "unshare"] {
        if !require_tool(tool) {
            return;
        }
    }
    let Some(cosign) = common::sigstore::cosign() else {
        return;
    };
    let page = Page::read();
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_path_buf();

    // The tools on the runner's PATH.
    let bin = root.join("bin");
    fs::create_dir_all(&bin).unwrap();
    for (name, path) in [
        ("seedforge", common::seedforge_bin()),
        ("jq", common::which("jq").unwrap()),
        ("git", common::which("git").unwrap()),
        ("cosign", cosign.clone()),
    ] {
        std::os::unix::fs::symlink(path, bin.join(name)).unwrap();
    }

    // The operator's repository: the demo lab with the page's config lines, the page's
    // script, the public key; the private key and the token go to the secret store.
    let origin = root.join("origin.git");
    let at = |p: &Path| p.display().to_string();
    git(&root, &["init", "-q", "--bare", "-b", "main", &at(&origin)]);
    let work = root.join("work");
    git(&root, &["clone", "-q", &at(&origin), &at(&work)]);
    let lab = common::repo_root().join("fixtures/lab");
    let fixtures = common::repo_root().join("fixtures/images");
    let images = fs::read_to_string(lab.join("images.txt"))
        .unwrap()
        .replace("../images", &at(&fixtures));
    fs::write(work.join("images.txt"), &images).unwrap();
    let config = fs::read_to_string(lab.join("seedforge.yaml"))
        .unwrap()
        .replace("  token: {file: token}\n", "")
        .replace("source_date_epoch: 1700000000\n", "");
    let (cluster, seal) = page.config.split_once("seal:\n").unwrap();
    let config = config.replacen("cluster:\n", cluster, 1) + "\nseal:\n" + seal;
    fs::write(work.join("seedforge.yaml"), &config).unwrap();
    fs::write(work.join(".gitignore"), "/token\n/out/\n").unwrap();
    fs::create_dir_all(work.join("ci")).unwrap();
    fs::write(work.join("ci/media.sh"), &page.script).unwrap();
    fs::create_dir_all(work.join("keys")).unwrap();
    let private = Cmd::new("openssl")
        .args(["genpkey", "-algorithm", "ed25519"])
        .run()
        .stdout;
    let key_file = root.join("signing.key");
    fs::write(&key_file, &private).unwrap();
    Cmd::new("openssl")
        .args(["pkey", "-pubout", "-in"])
        .arg(&key_file)
        .arg("-out")
        .arg(work.join("keys/seal.pub"))
        .run();
    fs::remove_file(&key_file).unwrap();
    // The operator pins the tags without a build, and commits the lock with the rest.
    common::Cmd::seedforge()
        .arg("lock")
        .cwd(&work)
        .env("CLUSTER_TOKEN", "K10pipeline-token-not-in-any-log")
        .run();
    commit(&work, "the lab's media");
    let secrets = BTreeMap::from([
        (
            "CLUSTER_TOKEN",
            "K10pipeline-token-not-in-any-log".to_string(),
        ),
        ("SIGNING_KEY", private.clone()),
    ]);
    let mut github = Ci {
        root: root.join("github"),
        origin: origin.clone(),
        bin: bin.clone(),
        secrets: secrets.clone(),
        runs: 0,
    };
    let never_logged = |run: &Run| {
        assert!(
            !run.log.contains("K10pipeline-token") && !run.log.contains("PRIVATE KEY"),
            "a secret reached the log:\n{}",
            run.log
        );
    };
    // The operator commits the lock a run published.
    let commit_lock = |published: &Path, what: &str| {
        fs::copy(
            published.join("seedforge.lock"),
            work.join("seedforge.lock"),
        )
        .unwrap();
        commit(&work, what);
    };

    // --- week 1: the first medium, the whole output.
    let week1 = github.github(&page, &[]);
    never_logged(&week1);
    assert!(week1.passed, "week 1:\n{}", week1.log);
    let published = week1.published.unwrap();
    let build = document(&published, "build.json");
    assert_eq!(build["seal"]["signature"]["signed"], true, "{build}");
    assert!(published.join("out/SHA256SUMS").is_file());
    commit_lock(&published, "the lock with the registry CA");
    // The consumer checks the medium with cosign and sha256sum, offline.
    fs::copy(work.join("keys/seal.pub"), published.join("seal.pub")).unwrap();
    let consumer_env = BTreeMap::from([
        ("HTTPS_PROXY".to_string(), "http://127.0.0.1:9".to_string()),
        ("HTTP_PROXY".to_string(), "http://127.0.0.1:9".to_string()),
    ]);
    let (ok, log) = github.shell(&published, &consumer_env, &page.consumer, &["-e"]);
    assert!(ok, "the consumer's check:\n{log}");
    // ... and the same check fails on a changed file.
    let sbom = published.join("out/sbom/sbom.spdx.json");
    fs::write(&sbom, fs::read_to_string(&sbom).unwrap() + " ").unwrap();
    let (ok, log) = github.shell(&published, &consumer_env, &page.consumer, &["-e"]);
    assert!(!ok && log.contains("sbom.spdx.json: FAILED"), "{log}");
    fs::remove_file(&sbom).unwrap();
    // The far side: a checkout of the repository and the medium's output; its receipt
    // is carried back and committed.
    let far = root.join("far");
    git(&root, &["clone", "-q", &at(&origin), &at(&far)]);
    copy_tree(
        &github.cache().join("seedforge-out-1/out"),
        &far.join("out"),
    );
    let receipt = |what: &str| {
        common::far_side(&far)
            .args(["receipt", "out", "-o", "receipt.json"])
            .run();
        fs::create_dir_all(work.join("receipts")).unwrap();
        fs::copy(
            far.join("receipt.json"),
            work.join("receipts/far-side.json"),
        )
        .unwrap();
        commit(&work, what);
    };
    receipt("the far side's receipt, week 1");

    // --- week 2: an image added, and the cache lost.
    fs::write(work.join("images.txt"), with_image(&images, "week-two")).unwrap();
    commit(&work, "week 2: one more image");
    fs::remove_dir_all(github.cache()).unwrap();
    let refused = github.github(&page, &[]);
    never_logged(&refused);
    assert!(
        !refused.passed,
        "a lost out/ must not pass:\n{}",
        refused.log
    );
    assert!(refused.published.is_none());
    assert!(
        refused.log.contains("seedforge build: exit 2") && refused.log.contains("--rotate-ca"),
        "{}",
        refused.log
    );
    assert!(!github.cache().exists(), "a refused run saved its out/");
    let rotated = github.github(&page, &[("rotate_ca", "true")]);
    never_logged(&rotated);
    assert!(rotated.passed, "week 2, rotating:\n{}", rotated.log);
    let published = rotated.published.unwrap();
    let delta = document(&published, "delta.json");
    assert!(delta["changes"]["ca"].is_object(), "{delta}");
    commit_lock(&published, "the lock with the rotated registry CA");
    copy_tree(&published.join("delta"), &far.join("delta"));
    let token = ("CLUSTER_TOKEN", secrets["CLUSTER_TOKEN"].as_str());
    let log = far_side(&page, &far, &[token, ("SOURCE_DATE_EPOCH", "1234567890")]);
    assert!(
        log.contains("1234567890"),
        "the stray date is named:\n{log}"
    );
    fs::remove_dir_all(far.join("delta")).unwrap();
    let near = github
        .cache()
        .join(format!("seedforge-out-{}/out", github.runs));
    assert_eq!(sums(&far.join("out")), sums(&near), "week 2: the far side");
    receipt("the far side's receipt, week 2");

    // --- week 3: another image; the same week's job on GitLab, from the same cache (a
    // project moving its CI), first with its signing variable missing.
    fs::write(
        work.join("images.txt"),
        with_image(&with_image(&images, "week-two"), "week-three"),
    )
    .unwrap();
    commit(&work, "week 3: one more image");
    let mut gitlab = Ci {
        root: root.join("gitlab"),
        origin: origin.clone(),
        bin,
        secrets: BTreeMap::from([("CLUSTER_TOKEN", secrets["CLUSTER_TOKEN"].clone())]),
        runs: 0,
    };
    copy_tree(&near, &gitlab.cache().join("seedforge-out/out"));
    let before = sums(&near);
    let missing = gitlab.gitlab(&page, "schedule");
    never_logged(&missing);
    assert!(
        !missing.passed,
        "an unsigned medium must not pass:\n{}",
        missing.log
    );
    assert!(missing.published.is_none());
    assert!(
        missing.log.contains("seedforge build: exit 2 (seal)")
            && missing.log.contains("nothing was built")
            && missing.log.contains("--signing-key"),
        "{}",
        missing.log
    );
    assert_eq!(sums(&gitlab.cache().join("seedforge-out/out")), before);
    gitlab.secrets = secrets.clone();
    let on_gitlab = gitlab.gitlab(&page, "schedule");
    never_logged(&on_gitlab);
    assert!(on_gitlab.passed, "week 3 on GitLab:\n{}", on_gitlab.log);
    let on_github = github.github(&page, &[]);
    never_logged(&on_github);
    assert!(on_github.passed, "week 3 on GitHub:\n{}", on_github.log);
    // Both CIs made the same delta, byte for byte.
    let (gl, gh) = (
        on_gitlab.published.unwrap().join("delta"),
        on_github.published.unwrap().join("delta"),
    );
    common::assert_same_tree(
        &common::snapshot(&gl),
        &common::snapshot(&gh),
        "week 3: GitLab's delta and GitHub's",
    );
    copy_tree(&gh, &far.join("delta"));
    far_side(&page, &far, &[token]);
    let near = github
        .cache()
        .join(format!("seedforge-out-{}/out", github.runs));
    assert_eq!(sums(&far.join("out")), sums(&near), "week 3: the far side");
}
