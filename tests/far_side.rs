//! The far side of the air gap, end to end, as docs/workflow.md walks an operator through
//! it. Near side: the lab, its registry on 127.0.0.1:PORT with the default storage
//! (`/var/lib/docker-registry`, Debian's package folder) and a `packages:` bundle of
//! Debian's `docker-registry` resolved from this machine's Debian mirror against the
//! registry host's dpkg status, built by `seedforge build`. Far side: a debootstrap
//! bookworm root with every network source disabled stands in for the registry host; the
//! output is copied into it, checked with `seedforge verify`, the bundle's install.sh
//! installs the registry with apt and no network, `docker-registry serve
//! registry/config.yml` runs inside the root from the output folder (a chroot shares the
//! host's network, so it listens on the host's 127.0.0.1:PORT), `seedforge push` fills it
//! without `--ca-file`, and containerd pulls an image of the lab through the build's
//! `certs.d` hosts.toml, trusting only the build's CA. Needs root, debootstrap, chroot,
//! curl, openssl, containerd and ctr, and the Debian mirror over the network.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use crate::common;

use common::debs::{mirror, offline_root_copy, require_root};
use common::pki::{lab_config_for_loopback, port};
use common::registry::TestCa;
use common::{ChildGuard, Cmd, Containerd, Lab, index_entry, require_containerd, require_tool};
use std::fs::{self, File};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Where the output lies on the registry host (inside the root).
const OUT_ON_HOST: &str = "/srv/lab/out";
/// Where the bundle is unpacked on the registry host (inside the root).
const BUNDLE_ON_HOST: &str = "/opt/seedforge/registry-host";
/// The image containerd pulls, as a node asks for it.
const PAUSE: &str = "docker.io/rancher/mirrored-pause:3.6";

fn chroot(root: &Path, args: &[&str]) -> Cmd {
    Cmd::new("chroot").arg(root).args(args)
}

/// Prints how long a stage took (the test's own timing record).
fn stage(name: &str, since: &mut Instant) {
    eprintln!("stage: {name}: {:.1} s", since.elapsed().as_secs_f64());
    *since = Instant::now();
}

/// `docker-registry serve registry/config.yml` inside `root`, with the output folder as
/// working directory. `chroot` and `env -C` each exec the next program, so the PID the
/// guard holds is the registry's own and stopping it by PID stops the registry.
fn serve_in_root(root: &Path, port: u16, log: &Path) -> ChildGuard {
    let log_file = File::create(log).unwrap();
    let child = Command::new("chroot")
        .arg(root)
        .args(["env", "-C", OUT_ON_HOST])
        .args(["/usr/bin/docker-registry", "serve", "registry/config.yml"])
        .stdin(Stdio::null())
        .stdout(log_file.try_clone().unwrap())
        .stderr(log_file)
        .spawn()
        .expect("start docker-registry in the root");
    let mut guard = ChildGuard(Some(child));
    let text = || fs::read_to_string(log).unwrap_or_default();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = guard.child().try_wait().unwrap() {
            panic!("docker-registry exited ({status}):\n{}", text());
        }
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        if Instant::now() >= deadline {
            guard.kill();
            panic!(
                "docker-registry did not listen on 127.0.0.1:{port}:\n{}",
                text()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // The process listening is the package's registry, running inside the root.
    let pid = guard.child().id();
    let comm = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap();
    assert_eq!(comm.trim(), "docker-registry");
    let exe = fs::read_link(format!("/proc/{pid}/exe")).unwrap();
    assert_eq!(exe, root.join("usr/bin/docker-registry"));
    guard
}

/// `curl --cacert CA https://127.0.0.1:PORT/v2/_catalog`: the registry's repositories,
/// with the build's CA as the only trust.
fn catalog(ca: &Path, port: u16) -> Vec<String> {
    let out = Cmd::new("curl")
        .args(["-sS", "--fail", "--max-time", "20", "--cacert"])
        .arg(ca)
        .arg(format!("https://127.0.0.1:{port}/v2/_catalog"))
        .timeout(Duration::from_secs(30))
        .run();
    let json: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    json["repositories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn the_registry_host_installs_serves_and_is_filled_from_the_output_alone() {
    if !require_root("installing the registry host in a chroot") {
        return;
    }
    for tool in ["debootstrap", "chroot", "curl", "openssl"] {
        if !require_tool(tool) {
            return;
        }
    }
    if !require_containerd() {
        return;
    }
    let started = Instant::now();
    let mut since = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let root = offline_root_copy(tmp.path());
    chroot(&root, &["sh", "-c", "! command -v docker-registry"]).run();
    stage("registry host root", &mut since);

    // Near side. The registry on 127.0.0.1:PORT, its storage the default (on the registry
    // host, outside the output); the nodes' CA path is a folder of this test, where the
    // CA is installed below as a node's bootstrap installs it.
    let lab = Lab::new();
    let p = port();
    let node_ca = tmp
        .path()
        .join("node/etc/rancher/k3s/seedforge-registry-ca.crt");
    let config =
        lab_config_for_loopback(&lab, p, &format!("  node_ca_path: {}\n", node_ca.display()));
    let config_path = lab.lab_dir().join("seedforge.yaml");
    let text = fs::read_to_string(&config_path).unwrap();
    let storage_line = format!(
        "  storage: {}\n",
        lab.root().join("registry-storage").display()
    );
    assert!(text.contains(&storage_line), "{text}");
    let mut text = text.replace(&storage_line, "");
    // The registry host's bundle: docker-registry and whatever of its closure the
    // registry host lacks (its dpkg status is the base), from the Debian mirror.
    fs::copy(
        root.join("var/lib/dpkg/status"),
        lab.lab_dir().join("registry-host-status"),
    )
    .unwrap();
    let keyring = Path::new("/usr/share/keyrings/debian-archive-keyring.gpg");
    let keyring_line = if keyring.is_file() && common::require_tool("gpgv") {
        format!("      keyring: {}\n", keyring.display())
    } else {
        String::new()
    };
    text.push_str(&format!(
        "\npackages:\n  - name: registry-host\n    packages: [docker-registry]\n    \
         nodes: false\n    base: registry-host-status\n    repo:\n      url: {}\n      suite: bookworm\n{keyring_line}",
        mirror()
    ));
    fs::write(&config_path, text).unwrap();
    let built = lab
        .seedforge()
        .args(["build", "--config", config])
        .timeout(Duration::from_secs(600))
        .run();
    assert!(
        built.stdout.contains("packages/registry-host.tar.gz"),
        "{}",
        built.stdout
    );
    if !keyring_line.is_empty() {
        assert!(!built.stderr.contains("unverified"), "{}", built.stderr);
    }
    // The registry host's bundle is not for the nodes: no seed carries it.
    for node in ["lab-server1", "lab-agent1", "lab-agent2"] {
        let seed = lab.out_dir().join(format!("iso/seed-{node}.iso"));
        let seed = fs::read(seed).unwrap();
        assert!(
            !seed.windows(13).any(|w| w == b"registry-host"),
            "seed-{node}.iso carries the registry host's bundle"
        );
    }
    assert!(
        !fs::read_to_string(lab.out_dir().join("registry/config.yml"))
            .unwrap()
            .contains(&lab.out_dir().display().to_string()),
        "registry/config.yml names the near side's folder"
    );
    stage("near side: seedforge build", &mut since);

    // What crosses the gap: the config folder with its output in it.
    fs::create_dir_all(root.join("srv")).unwrap();
    Cmd::new("cp")
        .arg("-a")
        .arg(lab.lab_dir())
        .arg(root.join("srv/lab"))
        .run();
    let out = root.join(OUT_ON_HOST.trim_start_matches('/'));
    Cmd::seedforge().arg("verify").arg(&out).run();
    stage("far side: carry and verify", &mut since);

    // Install the registry from the bundle, with apt and no network.
    let bundle_dir = root.join(BUNDLE_ON_HOST.trim_start_matches('/'));
    fs::create_dir_all(&bundle_dir).unwrap();
    Cmd::new("tar")
        .arg("-xzf")
        .arg(out.join("packages/registry-host.tar.gz"))
        .arg("-C")
        .arg(&bundle_dir)
        .run();
    let install_sh = format!("{BUNDLE_ON_HOST}/install.sh");
    let installed = chroot(&root, &["sh", &install_sh])
        .timeout(Duration::from_secs(300))
        .run();
    assert!(
        installed.stderr.contains("installed: docker-registry"),
        "{}",
        installed.stderr
    );
    chroot(&root, &["dpkg-query", "-W", "docker-registry"]).run();
    stage("far side: install.sh", &mut since);

    // Start it from the output folder; it listens on registry.host:port with the build's
    // certificate, storing in /var/lib/docker-registry of the registry host.
    let log = tmp.path().join("registry.log");
    let mut registry = serve_in_root(&root, p, &log);
    let ca = out.join("pki/ca.crt");
    assert_eq!(catalog(&ca, p), Vec::<String>::new());
    stage("far side: registry listening", &mut since);

    // Fill it: the output's own CA is trusted for its registry, no --ca-file.
    let registry_name = format!("127.0.0.1:{p}");
    let pushed = Cmd::seedforge()
        .args(["push", "--layout"])
        .arg(&out)
        .args(["--registry", &registry_name])
        .timeout(Duration::from_secs(300))
        .run();
    assert!(
        pushed.stderr.contains("pushed 8 image(s)")
            && pushed
                .stdout
                .contains(&format!("{registry_name}/rancher/mirrored-pause:3.6")),
        "{}{}\n{}",
        pushed.stdout,
        pushed.stderr,
        fs::read_to_string(&log).unwrap_or_default()
    );
    // A second push finds every blob there and uploads none.
    let again = Cmd::seedforge()
        .args(["push", "--layout"])
        .arg(&out)
        .args(["--registry", &registry_name])
        .timeout(Duration::from_secs(300))
        .run();
    assert!(
        again
            .stderr
            .contains("pushed 8 image(s): 0 blob(s) uploaded"),
        "{}",
        again.stderr
    );
    let repositories = catalog(&ca, p);
    assert!(
        repositories.iter().any(|r| r == "rancher/mirrored-pause"),
        "{repositories:?}"
    );
    assert!(
        root.join("var/lib/docker-registry/docker/registry/v2/repositories/rancher/mirrored-pause")
            .is_dir(),
        "the registry did not store in /var/lib/docker-registry"
    );
    // Serving and filling the registry wrote nothing into the sealed output.
    Cmd::seedforge().arg("verify").arg(&out).run();
    stage("far side: seedforge push", &mut since);

    // A node: its CA at node_ca_path, containerd reading the build's certs.d. The same
    // hosts.toml naming another CA fails, so the pull really goes through our files.
    fs::create_dir_all(node_ca.parent().unwrap()).unwrap();
    fs::copy(&ca, &node_ca).unwrap();
    let certs_d = out.join("certs.d");
    let other = TestCa::new();
    let wrong = tmp.path().join("wrong-certs.d/docker.io");
    fs::create_dir_all(&wrong).unwrap();
    let hosts = fs::read_to_string(certs_d.join("docker.io/hosts.toml")).unwrap();
    let ours = node_ca.display().to_string();
    assert!(
        hosts.contains(&format!("https://{registry_name}")),
        "{hosts}"
    );
    assert!(hosts.contains(&ours), "{hosts}");
    fs::write(
        wrong.join("hosts.toml"),
        hosts.replace(&ours, &other.ca_cert.display().to_string()),
    )
    .unwrap();
    let containerd = Containerd::start();
    let pull = |hosts_dir: &Path| {
        containerd
            .ctr("seedforge-test")
            .args(["images", "pull", "--hosts-dir"])
            .arg(hosts_dir)
            .arg(PAUSE)
            .timeout(Duration::from_secs(120))
            .any_status()
            .run()
    };
    // Refused on the certificate: containerd 2.x verifies no loopback registry without a
    // hosts tree, so this is what proves the tree's CA is the one trusted.
    let refused = pull(wrong.parent().unwrap());
    assert_ne!(refused.code, Some(0), "{}", refused.stdout);
    assert!(
        refused
            .stderr
            .contains("x509: certificate signed by unknown authority"),
        "{}",
        refused.stderr
    );
    let pulled = pull(&certs_d);
    assert_eq!(
        pulled.code,
        Some(0),
        "{}{}\ncontainerd:\n{}\nregistry:\n{}",
        pulled.stdout,
        pulled.stderr,
        containerd.log_text(),
        fs::read_to_string(&log).unwrap_or_default()
    );
    let listed = containerd
        .ctr("seedforge-test")
        .args(["images", "ls"])
        .run()
        .stdout;
    let want = index_entry(&out.join("oci"), PAUSE)["digest"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with(PAUSE) && l.contains(&want)),
        "{PAUSE} at {want} not in:\n{listed}"
    );
    stage("node: containerd pulls through certs.d", &mut since);

    registry.kill();
    drop(containerd);
    eprintln!("whole test: {:.1} s", started.elapsed().as_secs_f64());
}

/// `packages[].nodes: false` keeps a bundle off the seeds (the registry host's, which the
/// nodes' bootstrap would otherwise install on every node), while it is still written,
/// sealed and verified under the output; a bundle without the key is on every seed as
/// before. Judged by isoinfo's Rock Ridge listing of each seed.
#[test]
fn a_bundle_for_the_registry_host_stays_off_the_seeds() {
    if !require_tool("isoinfo") {
        return;
    }
    let lab = Lab::new();
    let config_path = lab.lab_dir().join("seedforge.yaml");
    let debs = common::repo_root().join("fixtures/debs");
    fs::write(
        lab.lab_dir().join("base.txt"),
        "libc6:amd64\t2.36-9+deb12u10\n",
    )
    .unwrap();
    let mut text = fs::read_to_string(&config_path).unwrap();
    text.push_str(&format!(
        "\npackages:\n  - name: ops\n    packages: [jq]\n    debs: [{d}]\n    base: base.txt\n  \
         - name: registry-host\n    packages: [jq]\n    debs: [{d}]\n    base: base.txt\n    \
         nodes: false\n",
        d = debs.display()
    ));
    fs::write(&config_path, text).unwrap();
    let plan = lab
        .seedforge()
        .args(["plan", "--config", lab.config_arg()])
        .run();
    assert!(
        plan.stdout
            .lines()
            .any(|l| l.contains("registry-host.tar.gz") && l.contains("not on the seeds")),
        "{}",
        plan.stdout
    );
    lab.build();
    let out = lab.out_dir();
    for node in ["lab-server1", "lab-agent1", "lab-agent2"] {
        let paths = common::iso::isoinfo_paths(&out.join(format!("iso/seed-{node}.iso")), &["-R"]);
        assert!(
            paths.iter().any(|p| p == "payload/packages/ops.tar.gz"),
            "{paths:?}"
        );
        assert!(
            !paths.iter().any(|p| p.contains("registry-host")),
            "{node}: {paths:?}"
        );
    }
    assert!(out.join("packages/registry-host.tar.gz").is_file());
    let sums = fs::read_to_string(out.join("SHA256SUMS")).unwrap();
    assert!(
        sums.lines()
            .any(|l| l.ends_with(" packages/registry-host.tar.gz")),
        "{sums}"
    );
    Cmd::seedforge().arg("verify").arg(&out).run();

    // The shared payload medium leaves it out too.
    let mut text = fs::read_to_string(&config_path).unwrap();
    text.push_str("\nseeds:\n  payload: shared\n");
    fs::write(&config_path, text).unwrap();
    lab.build();
    let paths = common::iso::isoinfo_paths(&out.join("iso/payload.iso"), &["-R"]);
    assert!(
        paths.iter().any(|p| p.ends_with("packages/ops.tar.gz")),
        "{paths:?}"
    );
    assert!(
        !paths.iter().any(|p| p.contains("registry-host")),
        "payload.iso: {paths:?}"
    );
    Cmd::seedforge().arg("verify").arg(&out).run();
}
