//! The bootstrap's upgrade across several k3s minors, one hop at a time: its own shell
//! functions, run by bash against the node lists `k3s kubectl get nodes` would print. When a
//! node may take a hop (servers in config order, each at most one step ahead of another;
//! agents after every server), when it is done (itself Ready at the hop's release), a wait
//! that runs out, and what `status.json` says of the hops taken, also after a power cut.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::{self, Cmd, require_tool};
use crate::render::{bootstrap_functions, lab, rendered, scripts, sq};
use std::fs;

/// The functions that decide a node's turn and readiness, and their helpers.
const TURN: &[&str] = &[
    "version_key",
    "newer",
    "at_least",
    "node_in",
    "node_said",
    "turn_pending",
    "own_pending",
];

/// What `body` prints, run by bash with `functions` and the node `node` (`ROLE` `role`) of
/// a cluster whose servers are s1, s2 and s3.
fn run(functions: &str, role: &str, node: &str, body: &str) -> String {
    let script = format!(
        "set -euo pipefail\n{functions}\nROLE={role} NODE={node} SERVERS=(s1 s2 s3)\n{body}\n"
    );
    Cmd::new("bash").args(["-c", &script]).run().stdout
}

/// `k3s kubectl get nodes --no-headers -o custom-columns=NAME:…,VERSION:…,READY:…` lines.
fn listed(nodes: &[(&str, &str, &str)]) -> String {
    nodes
        .iter()
        .map(|(n, v, r)| format!("{n}   {v}   {r}\n"))
        .collect()
}

const R1: &str = "v1.34.2+k3s1";
const R2: &str = "v1.35.1+k3s1";
const R3: &str = "v1.36.2+k3s1";

/// A server takes hop R2 once the servers before it run R2 (or newer) and are Ready, and
/// those after it run at least its own release now (R1); an agent once every server runs
/// R2 and is Ready. Otherwise the answer names the node it waits for and what that runs.
#[test]
fn a_node_takes_a_hop_in_its_turn_only() {
    let functions = bootstrap_functions(TURN);
    // (node, role, the nodes listed, what it still waits for: "" when it may take R2)
    let cases: Vec<(&str, &str, String, String)> = vec![
        (
            "s2",
            "server",
            listed(&[("s1", R2, "True"), ("s2", R1, "True"), ("s3", R1, "True")]),
            String::new(),
        ),
        (
            "s2",
            "server",
            listed(&[("s1", R3, "True"), ("s2", R1, "True"), ("s3", R1, "False")]),
            String::new(),
        ),
        (
            "s2",
            "server",
            listed(&[("s1", R1, "True"), ("s2", R1, "True"), ("s3", R1, "True")]),
            format!("server s1 to run {R2} and be Ready (it runs {R1}, Ready: True)"),
        ),
        (
            "s2",
            "server",
            listed(&[("s1", R2, "False"), ("s2", R1, "True"), ("s3", R1, "True")]),
            format!("server s1 to run {R2} and be Ready (it runs {R2}, Ready: False)"),
        ),
        (
            "s2",
            "server",
            listed(&[
                ("s1", R2, "True"),
                ("s2", R1, "True"),
                ("s3", "v1.33.1+k3s1", "True"),
            ]),
            format!("server s3 to run {R1} at least (it runs v1.33.1+k3s1, Ready: True)"),
        ),
        (
            "s2",
            "server",
            listed(&[("s1", R2, "True"), ("s2", R1, "True")]),
            format!("server s3 to run {R1} at least (it is not among the nodes k3s knows)"),
        ),
        // The first server waits for no one before it.
        (
            "s1",
            "server",
            listed(&[("s1", R1, "True"), ("s2", R1, "False"), ("s3", R1, "True")]),
            String::new(),
        ),
        (
            "a1",
            "agent",
            listed(&[
                ("s1", R2, "True"),
                ("s2", R2, "True"),
                ("s3", R2, "True"),
                ("a1", R1, "True"),
            ]),
            String::new(),
        ),
        // An agent waits for the last server too.
        (
            "a1",
            "agent",
            listed(&[
                ("s1", R2, "True"),
                ("s2", R2, "True"),
                ("s3", R1, "True"),
                ("a1", R1, "True"),
            ]),
            format!("server s3 to run {R2} and be Ready (it runs {R1}, Ready: True)"),
        ),
        (
            "a1",
            "agent",
            String::new(),
            "k3s's API to answer (k3s kubectl get nodes)".to_string(),
        ),
    ];
    for (node, role, nodes, want) in &cases {
        let said = run(
            &functions,
            role,
            node,
            &format!("turn_pending {R2} {R1} {}", sq(nodes)),
        );
        assert_eq!(&said, want, "{node} ({role}) with:\n{nodes}");
    }
    // Done with a hop: the node itself at the hop's release, and Ready.
    for (nodes, want) in [
        (
            listed(&[("s1", R2, "True"), ("a1", R2, "True")]),
            String::new(),
        ),
        (
            listed(&[("s1", R2, "True"), ("a1", R2, "False")]),
            format!("this node (a1) to run {R2} and be Ready (it runs {R2}, Ready: False)"),
        ),
        (
            listed(&[("s1", R2, "True"), ("a1", R1, "True")]),
            format!("this node (a1) to run {R2} and be Ready (it runs {R1}, Ready: True)"),
        ),
    ] {
        let said = run(
            &functions,
            "agent",
            "a1",
            &format!("own_pending {R2} {}", sq(&nodes)),
        );
        assert_eq!(said, want, "{nodes}");
    }
}

/// A wait asks again until nothing is left to wait for, and one that runs out fails naming
/// what it waited for (the node and what it runs).
#[test]
fn a_hops_wait_is_bounded_and_says_what_it_waited_for() {
    let mut names = TURN.to_vec();
    names.push("wait_until");
    let functions = bootstrap_functions(&names);
    let tmp = tempfile::tempdir().unwrap();
    let asked = tmp.path().join("asked");
    // `nodes` answers s1 at R1 twice, then at R2.
    let nodes = format!(
        "nodes() {{ echo x >>{asked}; if [ \"$(wc -l <{asked})\" -le 2 ]; then echo 's1 {R1} True'; else echo 's1 {R2} True'; fi; }}\n\
         log() {{ echo \"LOG: $*\"; }}\nfail() {{ echo \"FAILED ($step): $*\"; exit 0; }}\nstep=\"hop {R2}\"\n",
        asked = sq(&asked.to_string_lossy()),
    );
    let out = run(
        &functions,
        "agent",
        "a1",
        &format!(
            "{nodes}SERVERS=(s1) HOP_SECONDS=60 HOP_POLL=0\nwait_until 'hop 2/3 {R2}' turn_pending {R2} {R1}\necho TURN"
        ),
    );
    assert_eq!(
        out,
        format!(
            "LOG: hop 2/3 {R2}: waiting for server s1 to run {R2} and be Ready (it runs {R1}, Ready: True)\nTURN\n"
        )
    );
    assert_eq!(fs::read_to_string(&asked).unwrap().lines().count(), 3);
    fs::remove_file(&asked).unwrap();
    let out = run(
        &functions,
        "agent",
        "a1",
        &format!(
            "{nodes}SERVERS=(s1) HOP_SECONDS=0 HOP_POLL=0\nwait_until 'hop 2/3 {R2}' turn_pending {R2} {R1}\necho TURN"
        ),
    );
    assert_eq!(
        out.lines().last().unwrap(),
        format!(
            "FAILED (hop {R2}): hop 2/3 {R2}: waited 0s for server s1 to run {R2} and be Ready (it runs {R1}, Ready: True)"
        ),
        "{out}"
    );
}

/// status.json names the hops this payload took, in order, and the one in progress; a run
/// resumed after a power cut finds them again, and a new payload starts a list of its own.
#[test]
fn the_status_names_the_hops_taken_and_the_one_in_progress() {
    let functions = bootstrap_functions(&[
        "json_string",
        "json_or_null",
        "json_list",
        "status",
        "hops_known",
        "hop_done",
    ]);
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let run = |digest: &str, body: &str| -> serde_json::Value {
        let script = format!(
            "set -euo pipefail\n{functions}\nSTATE={state} STATUS={state}/status.json HOPS_TAKEN={state}/hops \
             NODE=n1 digest={digest} applied=A step=x k3s_version= k3s_installing= hop= hop_number=1 hop_total=3\n\
             taken=()\nmkdir -p \"$STATE\"\nk3s_started() {{ :; }}\nhop_say() {{ :; }}\nlog() {{ :; }}\n\
             hops_known\n{body}\nstatus running\ncat \"$STATUS\"\n",
            state = sq(&state.to_string_lossy()),
        );
        let out = Cmd::new("bash").args(["-c", &script]).run().stdout;
        serde_json::from_str(out.lines().last().unwrap()).unwrap_or_else(|e| panic!("{e}: {out}"))
    };
    let st = run("D1", &format!("hop={R1}"));
    assert_eq!(st["hops"], serde_json::json!([]), "{st}");
    assert_eq!(st["hop"], R1, "{st}");
    let st = run("D1", &format!("hop={R1}\nhop_done\nhop={R2}"));
    assert_eq!(st["hops"], serde_json::json!([R1]), "{st}");
    assert_eq!(st["hop"], R2, "{st}");
    // The next run (a power cut in hop 2) knows hop 1.
    let st = run("D1", &format!("hop={R2}\nhop_done"));
    assert_eq!(st["hops"], serde_json::json!([R1, R2]), "{st}");
    assert!(st["hop"].is_null(), "{st}");
    // Another payload took none yet; the first one's are forgotten.
    let st = run("D2", "");
    assert_eq!(st["hops"], serde_json::json!([]), "{st}");
    assert_eq!(
        fs::read_to_string(state.join("hops")).unwrap(),
        "",
        "only this payload's hops are kept"
    );
}

/// A config with `cluster.upgrade_path` bakes its hops into every node's bootstrap, with the
/// servers in config order and the kubeconfig each role reads the nodes with; shellcheck
/// finds nothing in it.
#[test]
fn the_hops_of_the_config_are_baked_into_each_bootstrap() {
    let lab = lab();
    common::hop_upgrade(&lab, common::HOP);
    let out = rendered(&lab);
    for (node, kubeconfig) in [
        ("lab-server1", "/etc/rancher/k3s/k3s.yaml"),
        (
            "lab-agent1",
            "/var/lib/rancher/k3s/agent/kubelet.kubeconfig",
        ),
    ] {
        let (_, bootstrap) = scripts(&out.join(node).join("user-data"))
            .into_iter()
            .find(|(p, _)| p.ends_with("seedforge-bootstrap"))
            .unwrap();
        for line in [
            format!("HOPS=({})", common::HOP),
            "SERVERS=(lab-server1)".to_string(),
            format!("KUBECONFIG_FILE={kubeconfig}"),
        ] {
            assert!(bootstrap.lines().any(|l| l == line), "{node}: no {line:?}");
        }
        if require_tool("shellcheck") {
            let file = lab.root().join(format!("{node}.sh"));
            fs::write(&file, &bootstrap).unwrap();
            let o = Cmd::new("shellcheck")
                .args(["-s", "bash"])
                .arg(&file)
                .any_status()
                .run();
            assert_eq!(o.code, Some(0), "{node}:\n{}", o.stdout);
        }
    }
}
