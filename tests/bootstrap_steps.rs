//! The bootstrap's upgrade as a node runs it: the real rendered files, the upgrade's own
//! file (`/usr/local/lib/seedforge/k3s-upgrade.sh` on the node: `check_steps`, `take_hops`,
//! `target_turn`, `install_target` and everything they call) sourced whole, with the
//! bootstrap's helpers it calls (`check_version`, `install_binary`, `mark_installing`,
//! `start_k3s`, ...), driven by bash in the order the bootstrap calls them, in a scratch root
//! with stand-ins of k3s (one small script per release, answering `--version`, `ctr`,
//! `kubectl get nodes` and a server's published release) and of `systemctl`. A power cut
//! (the script killed) at every point of a hop (before the binary's copy, after its rename,
//! after the restart, before Ready, during an image import), then a boot (systemd starts the
//! k3s installed) and the next run; every skew of the node's own release against the
//! payload's steps (behind by two, at a hop, ahead of the hops, ahead of the target,
//! unreadable with `cluster.allow_downgrade`, stopped while a server is behind); and a node
//! with no k3s yet joining while the servers are mid-upgrade. What is checked: the state
//! file, the hops recorded and the order of the releases k3s started at.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::Cmd;
use crate::render::{bootstrap_functions, bootstrap_upgrade_file, sq};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// The release the node runs before the upgrade, the hops and the target.
const R0: &str = "v1.33.1+k3s1";
const H1: &str = "v1.34.2+k3s1";
const H2: &str = "v1.35.1+k3s1";
const T: &str = "v1.36.2+k3s1";

/// The bootstrap's own functions the upgrade's file calls (the rest is that file, sourced).
const FUNCTIONS: &[&str] = &[
    "log",
    "json_string",
    "json_or_null",
    "json_list",
    "status",
    "stop",
    "fail",
    "refuse",
    "k3s_version_of",
    "k3s_known",
    "install_binary",
    "mark_installing",
    "k3s_installed",
    "k3s_started",
    "version_key",
    "newer",
    "k3s_running",
    "import_archive",
    "containerd_answers",
    "check_version",
    "start_k3s",
];

/// A stand-in k3s of `release` at `path`: `--version` names it (nothing once `ROOT/unreadable`
/// exists), `ctr` answers and records imports, `kubectl get nodes` lists `ROOT/others` and
/// this node (n1) at the release its unit started, Ready; `kubectl --server https://ADDR:6443
/// get --raw /static/seedforge/k3s-release` says what `ROOT/published-ADDR` holds (fails
/// without it, as a server that does not answer).
fn standin(root: &Path, path: &Path, release: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    let root = sq(&root.to_string_lossy());
    fs::write(
        path,
        format!(
            "#!/bin/bash\nR={release}\nROOT={root}\ncase \"$1\" in\n\
             --version) [ -e \"$ROOT/unreadable\" ] || echo \"k3s version $R (abc)\" ;;\n\
             ctr) case \"$*\" in *import*) echo \"$R import ${{@: -1}}\" >>\"$ROOT/events\" ;; esac ;;\n\
             kubectl) case \"$*\" in *--raw*) for a in \"$@\"; do case \"$a\" in https://*) h=${{a#https://}}; h=${{h%:6443}} ;; esac; done\n  \
             echo \"asked $h\" >>\"$ROOT/asked\"; exec cat \"$ROOT/published-$h\" 2>/dev/null ;; esac\n  \
             cat \"$ROOT/others\" 2>/dev/null || true\n  \
             if [ -f \"$ROOT/running\" ]; then echo \"n1 $(cat \"$ROOT/running\") True\"; fi ;;\n\
             esac\n"
        ),
    )
    .unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}

/// A node's scratch root: k3s `installed` at `usr/local/bin/k3s` (started by systemd at boot
/// unless `stopped`), a payload of the `hops` (each with an archive) and the target `T`,
/// and a `systemctl` stand-in on `bin/` that starts the k3s installed.
struct Node {
    root: tempfile::TempDir,
}

impl Node {
    fn new(installed: &str, hops: &[&str], stopped: bool) -> Node {
        Node::with(Some(installed), hops, stopped)
    }

    /// A node with no k3s installed yet (a first install), given the payload of `hops`.
    fn fresh(hops: &[&str]) -> Node {
        Node::with(None, hops, true)
    }

    fn with(installed: Option<&str>, hops: &[&str], stopped: bool) -> Node {
        let node = Node {
            root: tempfile::tempdir().unwrap(),
        };
        let root = node.root.path();
        if let Some(installed) = installed {
            standin(root, &root.join("usr/local/bin/k3s"), installed);
        }
        standin(root, &root.join("payload/bin/k3s"), T);
        for hop in hops {
            let dir = root.join(format!("payload/hops/{hop}"));
            standin(root, &dir.join("k3s"), hop);
            fs::create_dir_all(dir.join("images")).unwrap();
            fs::write(dir.join(format!("images/{hop}.tar")), hop).unwrap();
        }
        let bin = root.join("bin/systemctl");
        fs::create_dir_all(bin.parent().unwrap()).unwrap();
        fs::write(
            &bin,
            format!(
                "#!/bin/bash\nROOT={}\ncase \"$1\" in\n\
                 show) if [ -f \"$ROOT/running\" ]; then echo active; else echo inactive; fi ;;\n\
                 start|restart) r=$(sed -n 's/^R=//p' \"$ROOT/usr/local/bin/k3s\")\n  \
                 echo \"$r\" >\"$ROOT/running\"; echo \"start $r\" >>\"$ROOT/events\" ;;\n\
                 esac\n",
                sq(&root.to_string_lossy())
            ),
        )
        .unwrap();
        fs::set_permissions(&bin, fs::Permissions::from_mode(0o755)).unwrap();
        if !stopped {
            node.boot();
        }
        node
    }

    fn path(&self, rel: &str) -> std::path::PathBuf {
        self.root.path().join(rel)
    }

    /// A boot: systemd starts the k3s installed.
    fn boot(&self) {
        let installed = fs::read_to_string(self.path("usr/local/bin/k3s")).unwrap();
        let release = installed
            .lines()
            .find_map(|l| l.strip_prefix("R="))
            .unwrap()
            .to_string();
        fs::write(self.path("running"), format!("{release}\n")).unwrap();
        let mut events = fs::read_to_string(self.path("events")).unwrap_or_default();
        events.push_str(&format!("start {release}\n"));
        fs::write(self.path("events"), events).unwrap();
    }

    /// The release the installed binary is.
    fn installed(&self) -> String {
        let text = fs::read_to_string(self.path("usr/local/bin/k3s")).unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix("R="))
            .unwrap()
            .to_string()
    }

    /// The releases k3s started at, each run of the same release once.
    fn started(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for l in fs::read_to_string(self.path("events"))
            .unwrap_or_default()
            .lines()
        {
            if let Some(r) = l.strip_prefix("start ")
                && out.last().map(String::as_str) != Some(r)
            {
                out.push(r.to_string());
            }
        }
        out
    }

    fn status(&self) -> serde_json::Value {
        serde_json::from_str(&fs::read_to_string(self.path("state/status.json")).unwrap()).unwrap()
    }

    fn log(&self) -> String {
        fs::read_to_string(self.path("log")).unwrap_or_default()
    }

    /// One run of the bootstrap's upgrade as the script runs it (`settings`: shell lines
    /// before it, such as `CUT=… CUT_HOP=…`): its exit code, `None` when cut.
    fn run(&self, functions: &str, hops: &[&str], settings: &str) -> Option<i32> {
        let root = sq(&self.root.path().to_string_lossy());
        let console = self.path("console");
        let functions = functions.replace("/dev/console", &console.to_string_lossy());
        // The upgrade's own file, as the node's user-data writes it, sourced whole.
        let upgrade = bootstrap_upgrade_file().replace("/dev/console", &console.to_string_lossy());
        fs::write(self.path("k3s-upgrade.sh"), upgrade).unwrap();
        let script = format!(
            "set -euo pipefail\n{functions}\n\
             ROOT={root}\nK3S=\"$ROOT/usr/local/bin/k3s\" STATE=\"$ROOT/state\" STATUS=\"$ROOT/state/status.json\"\n\
             INSTALLING_MARK=\"$ROOT/state/k3s-installing\" HOPS_TAKEN=\"$ROOT/state/hops\" PAYLOAD=\"$ROOT/payload\" LOG=\"$ROOT/log\"\n\
             PUBLISHED=\"$ROOT/static/seedforge/k3s-release\" SERVER_ADDRESSES=(10.0.0.1) UPGRADE_MEDIUM=yes\n\
             NODE=n1 ROLE=server SERVERS=(n1) UNIT=k3s.service START_SECONDS=10 VERSION_SECONDS=5\n\
             HOP_SECONDS=2 HOP_POLL=0 CONTAINERD_SECONDS=10 KUBECONFIG_FILE=kubeconfig ALLOW_DOWNGRADE=no\n\
             HOPS=({hops}) digest=D applied=A step=version hop= hop_number=0 hop_total=$(( {n} + 1 )) taken=() target=\n\
             k3s_version= k3s_installing= installed_version=\n\
             PATH=\"$ROOT/bin:$PATH\"\nexec 3>>\"$ROOT/journal\" >>\"$LOG\" 2>&1\nmkdir -p \"$STATE\"\n\
             cut() {{ if [ \"${{CUT:-}}\" = \"$1\" ] && [ \"$hop\" = \"${{CUT_HOP:-}}\" ] && [ ! -e \"$ROOT/cut-done\" ]; then : >\"$ROOT/cut-done\"; echo \"CUT $1 $hop\"; kill -KILL $$; fi; }}\n\
             . \"$ROOT/k3s-upgrade.sh\"\n{wrap}\n{settings}\n\
             k3s_known\nhops_known\nstatus running\n\
             check_version \"$PAYLOAD\"\ncheck_steps \"$PAYLOAD\"\n\
             take_hops\ntarget_turn\ninstall_target\nstart_k3s\nstep=done\nstatus done\n",
            hops = hops.join(" "),
            n = hops.len(),
            wrap = WRAP,
        );
        Cmd::new("bash")
            .args(["-c", &script])
            .any_status()
            .run()
            .code
    }
}

/// The cut points, each a wrapper around the real function (renamed `real_NAME`).
const WRAP: &str = r#"eval "$(declare -f install_binary | sed '1s/^install_binary/real_install_binary/')"
install_binary() { local rc=0; cut before-copy; real_install_binary "$@" || rc=$?; cut after-rename; return "$rc"; }
eval "$(declare -f hop_wait_ready | sed '1s/^hop_wait_ready/real_hop_wait_ready/')"
hop_wait_ready() { cut after-restart; real_hop_wait_ready; }
eval "$(declare -f own_pending | sed '1s/^own_pending/real_own_pending/')"
own_pending() { cut before-ready; real_own_pending "$@"; }
eval "$(declare -f import_archive | sed '1s/^import_archive/real_import_archive/')"
import_archive() { cut during-import; real_import_archive "$@"; }"#;

/// A node at R0 taking the hops H1, H2 and the target T, uncut: it starts k3s at each
/// release in turn, each hop's archive imported by the k3s running before it.
#[test]
fn a_hop_path_uncut_starts_each_release_in_turn() {
    let functions = bootstrap_functions(FUNCTIONS);
    let node = Node::new(R0, &[H1, H2], false);
    assert_eq!(
        node.run(&functions, &[H1, H2], ""),
        Some(0),
        "{}",
        node.log()
    );
    let st = node.status();
    assert_eq!(st["state"], "done", "{st}\n{}", node.log());
    assert_eq!(st["hops"], serde_json::json!([H1, H2, T]), "{st}");
    assert_eq!(node.started(), [R0, H1, H2, T], "{}", node.log());
    assert_eq!(node.installed(), T);
    let imports = fs::read_to_string(node.path("events")).unwrap();
    for (by, hop) in [(R0, H1), (H1, H2)] {
        assert!(
            imports.contains(&format!("{by} import ")) && imports.contains(&format!("/{hop}.tar")),
            "{hop}'s archive imported by the running {by}: {imports}"
        );
    }
}

/// The same node cut once at `point` of every step (H1, H2 and T), booted and run again:
/// it ends at T having started k3s at each release in turn (never skipping one), every hop
/// recorded once and waited Ready for, the state `done`. One test a point, so that the
/// test runner spreads the cuts over the processors.
fn a_power_cut_at(point: &str) {
    let functions = bootstrap_functions(FUNCTIONS);
    for at in [H1, H2, T] {
        if point == "during-import" && at == T {
            // The target's archives are placed before the hops, not imported at it.
            continue;
        }
        let node = Node::new(R0, &[H1, H2], false);
        let cut = format!("CUT={point} CUT_HOP={at}");
        let code = node.run(&functions, &[H1, H2], &cut);
        assert_eq!(code, None, "{cut}: not cut\n{}", node.log());
        assert!(node.path("cut-done").exists(), "{cut}");
        node.boot();
        let code = node.run(&functions, &[H1, H2], "");
        let why = format!("{cut}\n{}", node.log());
        assert_eq!(code, Some(0), "{why}");
        let st = node.status();
        assert_eq!(st["state"], "done", "{st}\n{why}");
        assert_eq!(st["hops"], serde_json::json!([H1, H2, T]), "{st}\n{why}");
        assert_eq!(st["k3s_version"], T, "{st}");
        assert!(st["k3s_installing"].is_null(), "{st}");
        assert_eq!(node.started(), [R0, H1, H2, T], "{why}");
        assert_eq!(node.installed(), T);
        // A cut once the binary was replaced resumes that hop, waiting until the node
        // is Ready at it.
        if ["after-rename", "after-restart", "before-ready"].contains(&point) {
            assert!(
                node.log()
                    .contains(&format!("{at}: resumed: k3s {at} is installed")),
                "{why}"
            );
        }
    }
}

#[test]
fn a_power_cut_during_an_import_resumes_that_hop_and_skips_none() {
    a_power_cut_at("during-import");
}

#[test]
fn a_power_cut_before_the_copy_resumes_that_hop_and_skips_none() {
    a_power_cut_at("before-copy");
}

#[test]
fn a_power_cut_after_the_rename_resumes_that_hop_and_skips_none() {
    a_power_cut_at("after-rename");
}

#[test]
fn a_power_cut_after_the_restart_resumes_that_hop_and_skips_none() {
    a_power_cut_at("after-restart");
}

#[test]
fn a_power_cut_before_ready_resumes_that_hop_and_skips_none() {
    a_power_cut_at("before-ready");
}

/// The node's own release against the payload's steps: behind the first hop by more than a
/// minor, refused with nothing installed and a reason naming both and the medium it needs;
/// at a hop or past the hops, it takes only the steps newer than it; a release it cannot
/// read is refused even with `cluster.allow_downgrade`, never a skip to the target; a node
/// more than one minor ahead is refused even with `cluster.allow_downgrade`; a stopped k3s is started to wait for its turn, which a server still behind holds.
#[test]
fn each_node_checks_its_own_release_against_the_next_step() {
    let functions = bootstrap_functions(FUNCTIONS);
    // Behind by two (1.32 against a first hop of 1.34).
    let behind = "v1.32.10+k3s1";
    let node = Node::new(behind, &[H1, H2], false);
    assert_eq!(node.run(&functions, &[H1, H2], ""), Some(1));
    let st = node.status();
    assert_eq!(st["state"], "refused", "{st}");
    assert_eq!(st["step"], "version", "{st}");
    let reason = st["reason"].as_str().unwrap();
    for said in [
        format!("this node runs k3s {behind}"),
        format!("the next step of payload D is k3s {H1}"),
        "skips a minor".to_string(),
        format!("cluster.upgrade_from: {behind}"),
        "nothing of it was installed".to_string(),
    ] {
        assert!(reason.contains(&said), "{said}: {reason}");
    }
    assert_eq!(node.installed(), behind);
    assert_eq!(node.started(), [behind]);
    assert!(!node.path("state/k3s-installing").exists());

    // At the first hop, and past both: only the newer steps.
    for (at, hops) in [(H1, vec![H2, T]), (H2, vec![T]), ("v1.35.4+k3s1", vec![T])] {
        let node = Node::new(at, &[H1, H2], false);
        assert_eq!(
            node.run(&functions, &[H1, H2], ""),
            Some(0),
            "{}",
            node.log()
        );
        let st = node.status();
        assert_eq!(st["state"], "done", "{at}: {st}");
        assert_eq!(st["hops"], serde_json::json!(hops), "{at}: {st}");
        let mut started = vec![at.to_string()];
        started.extend(hops.iter().map(|h| h.to_string()));
        assert_eq!(node.started(), started, "{at}");
    }

    // The installed k3s says no release: refused, also with cluster.allow_downgrade;
    // nothing installed, no hop skipped.
    for allow in ["no", "yes"] {
        let node = Node::new(R0, &[H1, H2], false);
        fs::write(node.path("unreadable"), "").unwrap();
        let code = node.run(&functions, &[H1, H2], &format!("ALLOW_DOWNGRADE={allow}"));
        assert_eq!(code, Some(1), "{allow}: {}", node.log());
        let st = node.status();
        assert_eq!(st["state"], "refused", "{allow}: {st}");
        assert!(
            st["reason"]
                .as_str()
                .unwrap()
                .contains("did not tell its release"),
            "{st}"
        );
        assert_eq!(node.installed(), R0, "{allow}");
        assert_eq!(node.started(), [R0], "{allow}");
    }

    // A node ahead of the payload's k3s: one minor, a downgrade cluster.allow_downgrade
    // allows; two minors, refused whatever is allowed, nothing installed.
    for (at, code, state) in [
        ("v1.37.1+k3s1", Some(0), "done"),
        ("v1.38.0+k3s1", Some(1), "refused"),
    ] {
        let node = Node::new(at, &[], false);
        let ran = node.run(&functions, &[], "ALLOW_DOWNGRADE=yes");
        assert_eq!(ran, code, "{at}: {}", node.log());
        let st = node.status();
        assert_eq!(st["state"], state, "{at}: {st}");
        if state == "refused" {
            let reason = st["reason"].as_str().unwrap();
            assert!(reason.contains("more than one minor older"), "{reason}");
            assert_eq!(node.installed(), at);
        } else {
            assert_eq!(node.installed(), T);
        }
    }

    // A payload one minor ahead, no hops, on an agent whose k3s is stopped while its server
    // still runs R0: k3s is started to wait for the turn, and the wait runs out with the
    // binary as it was (the target is never installed ahead of the server).
    let node = Node::new(R0, &[], true);
    standin(node.root.path(), &node.path("payload/bin/k3s"), H1);
    fs::write(node.path("others"), format!("s0 {R0} True\n")).unwrap();
    let code = node.run(&functions, &[], "ROLE=agent SERVERS=(s0) HOP_SECONDS=1");
    assert_eq!(code, Some(1), "{}", node.log());
    let st = node.status();
    assert_eq!(st["state"], "failed", "{st}");
    assert_eq!(st["step"], format!("hop {H1}"), "{st}");
    let reason = st["reason"].as_str().unwrap();
    assert!(
        reason.contains(&format!("server s0 to run {H1} and be Ready (it runs {R0}")),
        "{reason}"
    );
    assert_eq!(node.installed(), R0);
    assert_eq!(node.started(), [R0]);
}

/// A node with no k3s yet (a first install) given an upgrade's medium joins a cluster that
/// may be mid-upgrade: an agent waits until every server published (at
/// `/static/seedforge/k3s-release`, which k3s serves to anyone) that it runs the payload's
/// k3s, with nothing installed while one is behind or does not answer, then installs the
/// target and starts it; it never runs a kubelet newer than a server. A first install of a
/// medium that is no upgrade, and a server's, go straight to the target. A server publishes
/// the release its k3s runs once it started it (after its last hop, once Ready at it).
#[test]
fn a_node_joining_mid_upgrade_waits_for_every_server_before_it_installs() {
    let functions = bootstrap_functions(FUNCTIONS);
    let agent = "ROLE=agent SERVERS=(s0 s1) SERVER_ADDRESSES=(10.0.0.1 10.0.0.2) HOP_SECONDS=1";
    // s0 runs the target, s1 is still at the second hop: the wait runs out, nothing installed.
    let node = Node::fresh(&[H1, H2]);
    fs::write(node.path("published-10.0.0.1"), format!("{T}\n")).unwrap();
    fs::write(node.path("published-10.0.0.2"), format!("{H2}\n")).unwrap();
    let code = node.run(&functions, &[H1, H2], agent);
    assert_eq!(code, Some(1), "{}", node.log());
    let st = node.status();
    assert_eq!(st["state"], "failed", "{st}");
    assert_eq!(st["step"], format!("hop {T}"), "{st}");
    let reason = st["reason"].as_str().unwrap();
    assert!(
        reason.contains(&format!("server s1 to run {T} and be Ready (it runs {H2}")),
        "{reason}"
    );
    assert!(!node.path("usr/local/bin/k3s").exists(), "{}", node.log());
    assert!(node.started().is_empty(), "{:?}", node.started());
    let said = fs::read_to_string(node.path("journal")).unwrap_or_default();
    assert!(
        said.contains(&format!(
            "no k3s installed yet, joining a cluster under upgrade: waiting for every server to run {T}"
        )),
        "{said}"
    );
    // A server that does not answer is waited for the same way, named.
    fs::remove_file(node.path("published-10.0.0.2")).unwrap();
    assert_eq!(node.run(&functions, &[H1, H2], agent), Some(1));
    let reason = node.status()["reason"].as_str().unwrap().to_string();
    assert!(
        reason.contains("server s1") && reason.contains("is not among the nodes k3s knows"),
        "{reason}"
    );
    assert!(!node.path("usr/local/bin/k3s").exists());
    // Both at the target: installed and started at it, first install, no hop taken.
    fs::write(node.path("published-10.0.0.2"), format!("{T}\n")).unwrap();
    assert_eq!(
        node.run(&functions, &[H1, H2], agent),
        Some(0),
        "{}",
        node.log()
    );
    let st = node.status();
    assert_eq!(st["state"], "done", "{st}");
    assert_eq!(node.installed(), T);
    assert_eq!(node.started(), [T]);
    assert_eq!(st["hops"], serde_json::json!([]), "{st}");
    // The same medium with no hops, still an upgrade (cluster.upgrade_from): the same wait.
    let node = Node::fresh(&[]);
    fs::write(node.path("published-10.0.0.1"), format!("{R0}\n")).unwrap();
    fs::write(node.path("published-10.0.0.2"), format!("{T}\n")).unwrap();
    assert_eq!(node.run(&functions, &[], agent), Some(1));
    assert!(!node.path("usr/local/bin/k3s").exists());
    // A medium that is no upgrade, or a server's first install: straight to the target,
    // nothing asked; the server publishes the release it runs.
    for settings in [format!("{agent} UPGRADE_MEDIUM=no"), String::new()] {
        let node = Node::fresh(&[]);
        assert_eq!(
            node.run(&functions, &[], &settings),
            Some(0),
            "{settings}: {}",
            node.log()
        );
        assert_eq!(node.installed(), T, "{settings}");
        assert_eq!(node.started(), [T], "{settings}");
        assert!(!node.path("asked").exists(), "{settings}");
        let published = fs::read_to_string(node.path("static/seedforge/k3s-release")).ok();
        if settings.is_empty() {
            assert_eq!(published.as_deref(), Some(&*format!("{T}\n")));
        } else {
            assert_eq!(published, None, "an agent publishes nothing");
        }
    }
}

/// A server publishes each release once Ready at it: after a hop, the hop's; at the end,
/// the target's; never a release installed and not yet seen Ready (a cut before Ready
/// leaves the one before).
#[test]
fn a_server_publishes_the_release_it_runs_once_ready_at_it() {
    let functions = bootstrap_functions(FUNCTIONS);
    let node = Node::new(R0, &[H1, H2], false);
    let cut = format!("CUT=before-ready CUT_HOP={H2}");
    assert_eq!(node.run(&functions, &[H1, H2], &cut), None);
    let published = || fs::read_to_string(node.path("static/seedforge/k3s-release")).unwrap();
    assert_eq!(published(), format!("{H1}\n"));
    node.boot();
    assert_eq!(
        node.run(&functions, &[H1, H2], ""),
        Some(0),
        "{}",
        node.log()
    );
    assert_eq!(published(), format!("{T}\n"));
}

/// A payload of a few files like a node's (the k3s binary, a package bundle, a manifest, an
/// airgap archive) and its `SHA256SUMS`, at `dir`.
fn payload(dir: &Path) {
    for (name, body) in [
        ("bin/k3s", "k3s"),
        ("packages/jq.tar.gz", "bundle"),
        ("manifests/app.yaml", "kind: ConfigMap"),
        ("images/k3s-airgap-images-amd64.tar.zst", "images"),
    ] {
        let path = dir.join(name);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, body).unwrap();
    }
    let sums = Cmd::new("sh")
        .args([
            "-c",
            "find . -type f ! -name SHA256SUMS -printf '%P\\n' | LC_ALL=C sort | xargs sha256sum",
        ])
        .cwd(dir)
        .run();
    fs::write(dir.join("SHA256SUMS"), sums.stdout).unwrap();
}

/// The bootstrap's copy and check of a payload, run by bash as the bootstrap runs them: a
/// payload other than the installed one copied from where it is (`copy_verified`: the seed
/// of an all-in-one build, the payload medium of a shared one) and the installed payload
/// checked again (`verify_in`). A file its `SHA256SUMS` does not list (a package bundle
/// whose install.sh would run as root, a manifest k3s would apply, a link, a name with a
/// space) fails the run naming it, before anything of it is copied into place, and with a
/// damaged file too, both are named; the payload as built passes.
#[test]
fn a_payload_file_its_sha256sums_does_not_list_is_refused_by_name() {
    let functions = bootstrap_functions(&[
        "log",
        "json_string",
        "json_or_null",
        "json_list",
        "status",
        "stop",
        "fail",
        "sums_digest",
        "check_payload",
        "verify_in",
        "copy_verified",
    ]);
    let plants: [(&str, Option<&str>); 6] = [
        ("", None),
        // Damaged too: the checksum mismatch and the added file, both named.
        ("packages/extra.tar.gz+damaged", Some("bundle")),
        ("packages/extra.tar.gz", Some("bundle")),
        ("manifests/extra.yaml", Some("kind: ClusterRoleBinding")),
        ("bin/k3s-extra", None),
        ("manifests/a b.yaml", Some("kind: Secret")),
    ];
    for (from, check) in [
        ("the seed /dev/sr0", "copy_verified \"$SOURCE\""),
        ("the payload medium /dev/sr1", "copy_verified \"$SOURCE\""),
        ("", "step=verify\nverify_in \"$PAYLOAD\""),
    ] {
        for (plant, body) in plants {
            let root = tempfile::tempdir().unwrap();
            let r = root.path();
            let source = if from.is_empty() {
                r.join("seed/payload")
            } else {
                r.join("medium/payload")
            };
            payload(&source);
            let (plant, damaged) = match plant.strip_suffix("+damaged") {
                Some(p) => (p, true),
                None => (plant, false),
            };
            if damaged {
                fs::write(source.join("bin/k3s"), "k3s, damaged").unwrap();
            }
            if !plant.is_empty() {
                let path = source.join(plant);
                match body {
                    Some(body) => fs::write(&path, body).unwrap(),
                    None => std::os::unix::fs::symlink("k3s", &path).unwrap(),
                }
            }
            let script = format!(
                "set -euo pipefail\n{functions}\n\
                 ROOT={root}\nSTATE=\"$ROOT/state\" STATUS=\"$ROOT/state/status.json\" LOG=\"$ROOT/log\"\n\
                 SEED=\"$ROOT/seed\" STAGE=\"$ROOT/seed/.payload.new\" PAYLOAD=\"$ROOT/seed/payload\"\n\
                 SOURCE={source} NODE=n1 applied= k3s_version= k3s_installing= taken=() hop= step=copy from={from}\n\
                 exec 3>>\"$ROOT/journal\" >>\"$LOG\" 2>&1\n\
                 digest=$(sums_digest \"$SOURCE/SHA256SUMS\")\n{check}\necho checked >\"$ROOT/checked\"\n",
                root = sq(&r.to_string_lossy()),
                source = sq(&source.to_string_lossy()),
                from = sq(from),
            );
            let code = Cmd::new("bash")
                .args(["-c", &script])
                .any_status()
                .run()
                .code;
            let log = fs::read_to_string(r.join("log")).unwrap_or_default();
            let what = format!(
                "{} with {plant:?}",
                if from.is_empty() {
                    "the installed payload"
                } else {
                    from
                }
            );
            if plant.is_empty() {
                assert_eq!(code, Some(0), "{what}: {log}");
                assert!(r.join("checked").exists(), "{what}");
                continue;
            }
            assert_eq!(code, Some(1), "{what} was not refused: {log}");
            assert!(!r.join("checked").exists(), "{what}: the run went on");
            let status: serde_json::Value =
                serde_json::from_str(&fs::read_to_string(r.join("state/status.json")).unwrap())
                    .unwrap();
            assert_eq!(status["state"], "failed", "{what}");
            let reason = status["reason"].as_str().unwrap();
            assert!(
                reason.contains("does not list")
                    && reason.contains(plant)
                    && reason.contains("nothing was installed"),
                "{what}: {reason}"
            );
            if !from.is_empty() {
                assert!(reason.contains(&format!("on {from} ")), "{what}: {reason}");
            }
            assert_eq!(
                reason.contains("checksum mismatch"),
                damaged,
                "{what}: {reason}"
            );
            let journal = fs::read_to_string(r.join("journal")).unwrap();
            assert!(
                journal.contains(plant),
                "{what}: the console line does not name it: {journal}"
            );
        }
    }
}
