//! A `registry.rewrite` honoured end to end: the nodes ask the cluster's registry for each
//! image whose repository a rule matches at the rewritten path, so `push` (into Debian's
//! docker-registry) and `serve` put it there, and containerd pulls it from both as a k3s
//! node asks for it; after the rule changes, `push --prune` leaves the old path.
//!
//! k3s writes the rule into the mirror's `hosts.toml` (`[host."https://REGISTRY/v2".rewrite]`)
//! and its own containerd build applies it: it asks for
//! `/v2/<the repository rewritten>/manifests/<tag>?ns=docker.io`. Stock containerd (the
//! judges here: Debian's 1.6 and sid's 2.x) has no `rewrite`; a rule that puts a prefix
//! before the repository is the same request as an `override_path` host whose path ends in
//! that prefix, which is how the judge is configured. So the judge proves the registry and
//! `serve` answer the exact request a k3s node makes for such a rule; how the replacement
//! is expanded for other rules (Go's `regexp`) is checked by the unit tests of
//! `image::rewrite`, not by containerd. The same `hosts.toml` without the prefix (the
//! path the nodes no longer ask for) must fail: the image is not left at both.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use common::registry::{Registry, free_port};
use common::serve::Serve;
use common::{Cmd, Lab, require_tool};
use std::fs;
use std::path::Path;
use std::time::Duration;

const RULE: &str = "  rewrite:\n    \"^rancher/(.*)\": \"mirror/rancher/$1\"\n";
const IMAGE: &str = "docker.io/rancher/mirrored-pause:3.6";

/// The lab with its registry at 127.0.0.1:`port` and the k3s documentation's rewrite.
fn lab_with_rewrite(port: u16) -> Lab {
    let lab = Lab::new();
    let config = lab.lab_dir().join("seedforge.yaml");
    let text = fs::read_to_string(&config).unwrap();
    let ca = lab.out_dir().join("pki/ca.crt");
    let new = text.replace(
        "registry:\n  host: 192.168.6.1\n  port: 5000\n",
        &format!(
            "registry:\n  host: 127.0.0.1\n  port: {port}\n  node_ca_path: {}\n{RULE}",
            ca.display()
        ),
    );
    assert_ne!(new, text);
    fs::write(&config, new).unwrap();
    lab
}

/// A hosts tree for docker.io sending pulls to `url` (`SCHEME://HOST:PORT/v2[/PREFIX]`)
/// with `override_path` when a prefix is given, trusting `ca`.
fn hosts_tree(dir: &Path, url: &str, ca: Option<&Path>) {
    let host = dir.join("docker.io");
    fs::create_dir_all(&host).unwrap();
    let mut text = format!("[host.\"{url}\"]\n  capabilities = [\"pull\", \"resolve\"]\n");
    if !url.ends_with("/v2") {
        text.push_str("  override_path = true\n");
    }
    if let Some(ca) = ca {
        text.push_str(&format!("  ca = [\"{}\"]\n", ca.display()));
    }
    fs::write(host.join("hosts.toml"), text).unwrap();
}

/// The containerd releases that judge: 2.x, and Debian's 1.6 when it is another.
fn judges() -> Vec<&'static common::ContainerdBin> {
    let first = common::containerd_bin().unwrap();
    let mut all = vec![first];
    match common::debian_containerd() {
        Some(old) if old.containerd != first.containerd => all.push(old),
        _ => eprintln!("NOTE: no second containerd (Debian's 1.6) to judge with"),
    }
    all
}

/// Pulls [`IMAGE`] in a fresh containerd of each judge through `hosts`: whether each
/// pulled, with what it said.
fn pull(hosts: &Path) -> Vec<(bool, String)> {
    judges()
        .into_iter()
        .map(|bin| {
            let containerd = common::Containerd::start_bin(bin);
            let pulled = containerd
                .ctr("k8s.io")
                .args(["images", "pull", "--platform", "linux/amd64", "--hosts-dir"])
                .arg(hosts)
                .arg(IMAGE)
                .timeout(Duration::from_secs(180))
                .any_status()
                .run();
            let said = format!(
                "containerd {}: {}{}",
                bin.version, pulled.stdout, pulled.stderr
            );
            (pulled.code == Some(0), said)
        })
        .collect()
}

/// Every judge pulled through `hosts`.
fn pulls(hosts: &Path, log: &dyn Fn() -> String) {
    for (ok, said) in pull(hosts) {
        assert!(ok, "{said}\n{}", log());
        eprintln!("pulled: {}", said.lines().next().unwrap_or_default());
    }
}

/// No judge pulled through `hosts`: the registry answered 404 for the image.
fn finds_nothing(hosts: &Path) {
    for (ok, said) in pull(hosts) {
        assert!(
            !ok,
            "pulled from the path the nodes no longer ask for: {said}"
        );
        // 2.x says `not found`; 1.6 logs the 404 and tries docker.io, out of reach here.
        assert!(
            said.contains("not found") || said.contains("StatusNotFound"),
            "{said}"
        );
    }
}

fn http_code(url: &str) -> String {
    Cmd::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-H"])
        .arg("Accept: application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json")
        .arg(url)
        .run()
        .stdout
        .trim()
        .to_string()
}

#[test]
fn a_rewritten_repository_is_pushed_served_and_pulled_where_the_nodes_ask() {
    if !require_tool("docker-registry") || !require_tool("curl") || !common::require_containerd() {
        return;
    }
    let port = free_port();
    let lab = lab_with_rewrite(port);
    // The rule is written for the nodes, and planned.
    lab.seedforge()
        .args(["plan", "--config", lab.config_arg()])
        .run();
    lab.build();
    let out = lab.out_dir();
    let yaml = fs::read_to_string(out.join("registries.yaml")).unwrap();
    assert!(
        yaml.contains("\"^rancher/(.*)\": \"mirror/rancher/$1\""),
        "{yaml}"
    );
    // The layout and the airgap archives keep the name the pods ask for.
    common::index_entry(&out.join("oci"), IMAGE);
    let work = tempfile::tempdir().unwrap();
    let ca = out.join("pki/ca.crt");

    // `serve`: the rewritten path answers, the old one does not.
    let serve = Serve::start_with(&out, &[]);
    assert_eq!(serve.addr.port(), port);
    let (code, body) = serve.curl(&[], "/v2/mirror/rancher/mirrored-pause/manifests/3.6");
    assert_eq!(code, 200, "{body}\n{}", serve.log());
    let (code, _) = serve.curl(&[], "/v2/rancher/mirrored-pause/manifests/3.6");
    assert_eq!(code, 404);
    let (_, tags) = serve.curl(&[], "/v2/mirror/rancher/mirrored-pause/tags/list");
    assert!(tags.contains("\"3.6\""), "{tags}");
    let hosts = work.path().join("serve-hosts");
    hosts_tree(
        &hosts,
        &format!("https://{}/v2/mirror", serve.host()),
        Some(&ca),
    );
    pulls(&hosts, &|| serve.log());
    let plain = work.path().join("serve-plain");
    hosts_tree(&plain, &format!("https://{}/v2", serve.host()), Some(&ca));
    finds_nothing(&plain);
    drop(serve);

    // `push` into Debian's docker-registry: the same.
    let far = Registry::start_plain();
    let pushed = lab
        .seedforge()
        .args(["push", "--layout"])
        .arg(&out)
        .args(["--registry", &far.host(), "--plain-http", &far.host()])
        .run();
    assert!(
        pushed
            .stdout
            .contains(&format!("{}/mirror/rancher/mirrored-pause:3.6", far.host())),
        "{}",
        pushed.stdout
    );
    let rewritten = format!(
        "{}/v2/mirror/rancher/mirrored-pause/manifests/3.6",
        far.url()
    );
    assert_eq!(http_code(&rewritten), "200", "{}", far.log_text());
    let old = format!("{}/v2/rancher/mirrored-pause/manifests/3.6", far.url());
    assert_eq!(http_code(&old), "404");
    let hosts = work.path().join("far-hosts");
    hosts_tree(&hosts, &format!("{}/v2/mirror", far.url()), None);
    pulls(&hosts, &|| far.log_text());
    let plain = work.path().join("far-plain");
    hosts_tree(&plain, &format!("{}/v2", far.url()), None);
    finds_nothing(&plain);

    // Another rule, built and pushed with --prune: the image moves to the new path and
    // leaves the one the nodes no longer ask for.
    let config = lab.lab_dir().join("seedforge.yaml");
    let text = fs::read_to_string(&config).unwrap();
    fs::write(&config, text.replace("mirror/rancher/$1", "lab/rancher/$1")).unwrap();
    lab.build();
    let pruned = lab
        .seedforge()
        .args(["push", "--prune", "--layout"])
        .arg(&out)
        .args(["--registry", &far.host(), "--plain-http", &far.host()])
        .run();
    let moved = format!("{}/v2/lab/rancher/mirrored-pause/manifests/3.6", far.url());
    assert_eq!(http_code(&moved), "200", "{}", pruned.stderr);
    assert_eq!(http_code(&rewritten), "404", "{}", pruned.stderr);
}

/// Two rules that make one repository two different paths: k3s's containerd tries the
/// rules in random order, so no registry can answer every node. Refused at the image's
/// list line, naming both rules and both paths.
#[test]
fn two_rules_that_disagree_on_a_listed_image_are_refused() {
    let lab = lab_with_rewrite(5000);
    let config = lab.lab_dir().join("seedforge.yaml");
    let text = fs::read_to_string(&config).unwrap();
    fs::write(
        &config,
        text.replace(RULE, &format!("{RULE}    \"pause\": \"stop\"\n")),
    )
    .unwrap();
    let refused = lab
        .seedforge()
        .args(["plan", "--config", lab.config_arg()])
        .expect(2)
        .run();
    let e = &refused.stderr;
    for says in [
        "images.txt:",
        IMAGE,
        "mirror/rancher/mirrored-pause",
        "rancher/mirrored-stop",
        "random order",
    ] {
        assert!(e.contains(says), "{says:?} not in:\n{e}");
    }
}
