//! A node's whole life on booted machines: Debian 12 under qemu (software emulation) with
//! systemd, cloud-init, netplan and containerd, booted from the seed ISOs seedforge
//! builds, with a k3s stand-in (tests/boot/k3s-standin.py) given through `files:`.
//!
//! - **join**: a server and an agent booted together on a network that joins only the two
//!   (a qemu socket netdev over 127.0.0.1, 192.0.2.0/24, no route anywhere else): the
//!   agent waits for the server and starts with its URL and token; airgap images are
//!   imported; both package bundles install, one after another; no ordering cycle.
//! - **life** of one node's disk, boot after boot: a seed with a damaged payload is
//!   refused with nothing installed and the unit failed; the same disk booted with a sound
//!   seed recovers with no manual step; a second boot changes nothing; a seed with a
//!   changed payload is a new instance and is applied.
//!
//! Slow (minutes a boot, both cores busy), so they are `#[ignore]`d: `cargo test` reports
//! them as ignored, and `scripts/test.sh` runs them after the other tests with
//! `cargo test --test boot -- --ignored`. They need root, debootstrap and debugfs
//! (tests/boot/image.sh makes the node image and extracts qemu, once); asked for by name
//! on a machine without them, they fail rather than pass. Results are read from the
//! powered-off disk with debugfs; each VM powers itself off when its boot has settled
//! (tests/boot/guest/boot-test-finish) and every run is bounded.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stderr,
    clippy::disallowed_methods
)]

mod common;

use common::{Cmd, sha256_bytes};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The longest one boot may take before the VM is killed and the test fails.
const BOOT_LIMIT: Duration = Duration::from_secs(20 * 60);

/// The tests run only when asked for (`--ignored`), so a machine that cannot boot nodes
/// fails them instead of letting them pass without a boot.
fn require_root() {
    let uid = Cmd::new("id").arg("-u").run().stdout;
    assert_eq!(uid.trim(), "0", "the booted-node tests need root");
}

/// The node image, kernel, initrd and qemu.
struct Machine {
    image: PathBuf,
    kernel: PathBuf,
    initrd: PathBuf,
    qemu: PathBuf,
}

impl Machine {
    fn get() -> Machine {
        let dir = common::repo_root().join("target/boot");
        let out = Cmd::new("bash")
            .arg(common::repo_root().join("tests/boot/image.sh"))
            .arg(&dir)
            .timeout(Duration::from_secs(40 * 60))
            .run();
        let mut lines = out.stdout.lines();
        let image = PathBuf::from(lines.next().unwrap());
        let qemu = PathBuf::from(lines.next().unwrap());
        assert!(
            image.is_file() && qemu.is_file() && lines.next().is_none(),
            "tests/boot/image.sh printed more or other than the image and qemu paths:\n{}",
            out.stdout
        );
        let key = image
            .file_stem()
            .unwrap()
            .to_string_lossy()
            .trim_start_matches("node-")
            .to_string();
        Machine {
            kernel: dir.join(format!("vmlinuz-{key}")),
            initrd: dir.join(format!("initrd-{key}")),
            image,
            qemu,
        }
    }

    /// The qemu folder's data files (firmware, option ROMs).
    fn data_dirs(&self) -> [PathBuf; 2] {
        let root = self.qemu.parent().unwrap().parent().unwrap();
        [root.join("share/seabios"), root.join("share/qemu")]
    }

    /// A private copy of the node image.
    fn disk(&self, at: &Path) -> PathBuf {
        Cmd::new("cp")
            .args(["--sparse=always", "--reflink=auto"])
            .arg(&self.image)
            .arg(at)
            .run();
        at.to_path_buf()
    }

    /// Starts a VM with `disk` and `seed` (a virtio disk); `net` is the socket netdev
    /// option (`listen=127.0.0.1:P` or `connect=127.0.0.1:P`).
    fn start(
        &self,
        disk: &Path,
        seed: &Path,
        net: &str,
        mac: &str,
        console: &Path,
    ) -> common::Running {
        self.start_with(disk, &[Medium::Virtio(seed)], net, mac, console)
    }

    /// Boots a server and an agent on a network of their own, each on a fresh copy of the
    /// node image under `scratch` with its media, and waits (bounded) until each has seen
    /// the join from its side and powered off.
    fn join(&self, scratch: &Path, server_media: &[Medium], agent_media: &[Medium]) -> Join {
        let server = self.disk(&scratch.join("server.img"));
        let agent = self.disk(&scratch.join("agent.img"));
        // Each stays up (bounded) until the join is seen from its side.
        put(
            &server,
            "/etc/boot-test",
            "wait-for",
            "/var/lib/k3s-standin/agents 900\n",
            scratch,
        );
        put(
            &agent,
            "/etc/boot-test",
            "wait-for",
            "/var/lib/k3s-standin/joined 900\n",
            scratch,
        );
        let port = common::debs::free_port();
        let started = Instant::now();
        let s_console = scratch.join("server.console");
        let a_console = scratch.join("agent.console");
        let s = self.start_with(
            &server,
            server_media,
            &format!("listen=127.0.0.1:{port}"),
            "52:54:00:00:02:0a",
            &s_console,
        );
        std::thread::sleep(Duration::from_secs(2));
        let a = self.start_with(
            &agent,
            agent_media,
            &format!("connect=127.0.0.1:{port}"),
            "52:54:00:00:02:0b",
            &a_console,
        );
        a.wait();
        s.wait();
        Join {
            server,
            agent,
            s_console,
            a_console,
            took: started.elapsed(),
        }
    }

    /// Starts a VM with `disk` and `media` attached, in order.
    fn start_with(
        &self,
        disk: &Path,
        media: &[Medium],
        net: &str,
        mac: &str,
        console: &Path,
    ) -> common::Running {
        let [seabios, qemu_data] = self.data_dirs();
        let mut drives = Vec::new();
        let mut ide = 0;
        for medium in media {
            drives.push("-drive".to_string());
            drives.push(match medium {
                Medium::Virtio(p) => {
                    format!("file={},if=virtio,format=raw,readonly=on", p.display())
                }
                // A CD-ROM drive on the IDE bus, as a hypervisor's DVD drive.
                Medium::Cdrom(p) => {
                    ide += 1;
                    format!(
                        "file={},if=ide,index={},media=cdrom,format=raw",
                        p.display(),
                        ide - 1
                    )
                }
            });
        }
        Cmd::new(&self.qemu)
            .args([
                "-accel",
                "tcg",
                "-smp",
                "2",
                "-m",
                "1536",
                "-nodefaults",
                "-no-reboot",
            ])
            .args(["-display", "none", "-monitor", "none"])
            .arg("-L")
            .arg(seabios)
            .arg("-L")
            .arg(qemu_data)
            .arg("-kernel")
            .arg(&self.kernel)
            .arg("-initrd")
            .arg(&self.initrd)
            .args(["-append", "root=/dev/vda rw console=ttyS0 panic=-1"])
            .arg("-drive")
            .arg(format!("file={},if=virtio,format=raw", disk.display()))
            .args(&drives)
            .args(["-device", "virtio-rng-pci"])
            .arg("-netdev")
            .arg(format!("socket,id=n0,{net}"))
            .arg("-device")
            .arg(format!("virtio-net-pci,netdev=n0,mac={mac}"))
            .arg("-serial")
            .arg(format!("file:{}", console.display()))
            .timeout(BOOT_LIMIT)
            .spawn()
    }

    /// Boots one VM alone (its NIC reaches nothing) until it powers itself off.
    fn boot(&self, disk: &Path, seed: &Path, console: &Path) -> Duration {
        let started = Instant::now();
        let port = common::debs::free_port();
        self.start(
            disk,
            seed,
            &format!("listen=127.0.0.1:{port}"),
            "52:54:00:00:02:0a",
            console,
        )
        .wait();
        started.elapsed()
    }
}

/// A medium attached to a VM.
enum Medium<'a> {
    /// A read-only virtio disk.
    Virtio(&'a Path),
    /// An ISO in a CD-ROM drive on the IDE bus.
    Cdrom(&'a Path),
}

/// One read-only debugfs request on the powered-off disk: its output, or `None` when the
/// path it names does not exist.
fn debugfs(disk: &Path, request: &str) -> Option<String> {
    let out = Cmd::new("debugfs")
        .arg("-R")
        .arg(request)
        .arg(disk)
        .any_status()
        .run();
    if out.stderr.contains("not found") {
        return None;
    }
    // Anything but the version banner means debugfs could not read the disk: an empty
    // answer must not pass for an empty file.
    let trouble: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with("debugfs "))
        .collect();
    assert!(
        trouble.is_empty() && out.code == Some(0),
        "debugfs -R {request:?} {}: {:?}\n{}",
        disk.display(),
        out.code,
        out.stderr
    );
    Some(out.stdout)
}

/// A file of the powered-off disk, or `None` if it does not exist.
fn read(disk: &Path, path: &str) -> Option<String> {
    debugfs(disk, &format!("cat {path}"))
}

fn exists(disk: &Path, path: &str) -> bool {
    debugfs(disk, &format!("stat {path}")).is_some()
}

/// Writes `content` to `dir/name` on the disk, making `dir` (one level) if needed.
fn put(disk: &Path, dir: &str, name: &str, content: &str, scratch: &Path) {
    let local = scratch.join(name);
    fs::write(&local, content).unwrap();
    let script = scratch.join("debugfs.cmd");
    fs::write(
        &script,
        format!("mkdir {dir}\ncd {dir}\nwrite {} {name}\n", local.display()),
    )
    .unwrap();
    Cmd::new("debugfs")
        .arg("-w")
        .arg("-f")
        .arg(&script)
        .arg(disk)
        .run();
}

fn status(disk: &Path) -> serde_json::Value {
    let text = read(disk, "/var/lib/seedforge/status.json").expect("status.json");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("status.json: {e}: {text}"))
}

/// What a boot left for the reader of a failed assertion.
fn diagnostics(disk: &Path, console: &Path) -> String {
    let mut s = String::new();
    for p in [
        "/var/log/boot-diag/summary.txt",
        "/var/log/k3s-bootstrap.log",
        "/var/log/seedforge-packages.log",
        "/var/lib/seedforge/status.json",
    ] {
        s.push_str(&format!("== {p}\n{}\n", read(disk, p).unwrap_or_default()));
    }
    let console = fs::read_to_string(console).unwrap_or_default();
    let tail: Vec<&str> = console.lines().rev().take(40).collect();
    s.push_str("== console (last lines)\n");
    for l in tail.iter().rev() {
        s.push_str(l);
        s.push('\n');
    }
    s
}

/// Two machines that joined: their disks and consoles, and how long it took.
struct Join {
    server: PathBuf,
    agent: PathBuf,
    s_console: PathBuf,
    a_console: PathBuf,
    took: Duration,
}

/// The lab: the test cluster's config, the k3s stand-in, the images and two bundles.
struct Lab {
    dir: tempfile::TempDir,
    /// A scenario's changes to the config (`seeds:`, `cluster:` settings).
    edit: fn(String) -> String,
    /// The Helm repository the config's chart comes from (files served on 127.0.0.1).
    repo: common::debs::HttpServer,
}

/// The chart the lab installs on its server, as the repository serves it.
fn lab_chart() -> Vec<u8> {
    common::charts::chart_tgz("demo-app", "1.2.3", common::charts::VALUES)
}

/// A manifest the config's `manifests:` carries to the server.
const LAB_MANIFEST: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: boot-settings\n  namespace: default\ndata:\n  greeting: hello\n";

impl Lab {
    fn new(machine: &Machine) -> Lab {
        Lab::with(machine, |config| config)
    }

    /// The lab with its config changed by `edit`.
    fn with(machine: &Machine, edit: fn(String) -> String) -> Lab {
        let dir = tempfile::Builder::new()
            .prefix("seedforge-boot-")
            .tempdir()
            .unwrap();
        let lab = dir.path();
        let src = common::repo_root().join("tests/boot/lab");
        for f in ["seedforge.yaml", "token"] {
            fs::copy(src.join(f), lab.join(f)).unwrap();
        }
        let fixtures = common::repo_root().join("fixtures/images");
        let list = fs::read_to_string(common::repo_root().join("fixtures/lab/images.txt"))
            .unwrap()
            .replace("../images", &fixtures.display().to_string());
        fs::write(lab.join("images.txt"), list).unwrap();
        // What the node image has installed: the bundles carry only the rest.
        let status = read(&machine.image, "/var/lib/dpkg/status").expect("dpkg status");
        assert!(
            status.lines().any(|l| l == "Package: libc6"),
            "the node image's dpkg status ({} bytes) has no libc6: {}",
            status.len(),
            machine.image.display()
        );
        fs::write(lab.join("node-status"), status).unwrap();
        // A Helm HTTP repository with one chart, a values file for it, and a manifest.
        let repo = lab.join("repo");
        fs::create_dir_all(repo.join("charts")).unwrap();
        let chart = lab_chart();
        fs::write(repo.join("charts/demo-app-1.2.3.tgz"), &chart).unwrap();
        fs::write(
            repo.join("index.yaml"),
            format!(
                "apiVersion: v1\nentries:\n  demo-app:\n    - apiVersion: v2\n      name: demo-app\n      version: 1.2.3\n      digest: {}\n      urls:\n        - charts/demo-app-1.2.3.tgz\n",
                sha256_bytes(&chart)
            ),
        )
        .unwrap();
        fs::write(lab.join("values.yaml"), "replicaCount: 2\n").unwrap();
        fs::create_dir_all(lab.join("manifests")).unwrap();
        fs::write(lab.join("manifests/boot-settings.yaml"), LAB_MANIFEST).unwrap();
        let repo = common::debs::HttpServer::start(&repo);
        let lab = Lab { dir, edit, repo };
        lab.set_standin("");
        lab
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes the k3s stand-in with `extra` appended (a changed payload) and the config
    /// that carries it and the two bundles.
    fn set_standin(&self, extra: &str) {
        let standin = fs::read_to_string(common::repo_root().join("tests/boot/k3s-standin.py"))
            .unwrap()
            + extra;
        fs::write(self.path().join("k3s"), &standin).unwrap();
        let debs: Vec<String> = common::debs::fixture_debs()
            .iter()
            .map(|p| format!("\"{}\"", p.display()))
            .collect();
        let config =
            fs::read_to_string(common::repo_root().join("tests/boot/lab/seedforge.yaml")).unwrap();
        let bundle = |name: &str, package: &str| {
            format!(
                "  - name: {name}\n    packages: [{package}]\n    debs: [{}]\n    base: node-status\n",
                debs.join(", ")
            )
        };
        fs::write(
            self.path().join("seedforge.yaml"),
            format!(
                "{}\nfiles:\n  - name: bin/k3s\n    source: k3s\n    sha256: \"{}\"\n    executable: true\n\npackages:\n{}{}\ncharts:\n  - name: demo\n    repo: {}\n    chart: demo-app\n    version: 1.2.3\n    namespace: apps\n    values: values.yaml\n\nmanifests:\n  - manifests/\n",
                (self.edit)(config),
                sha256_bytes(standin.as_bytes()),
                bundle("onig", "libonig5"),
                bundle("jq", "jq"),
                self.repo.url,
            ),
        )
        .unwrap();
    }

    fn build(&self) {
        Cmd::new(common::seedforge_bin())
            .args(["build", "--config", "seedforge.yaml"])
            .cwd(self.path())
            .timeout(Duration::from_secs(300))
            .run();
    }

    fn seed(&self, node: &str) -> PathBuf {
        self.path().join(format!("out/iso/seed-{node}.iso"))
    }

    /// A copy of `node`'s seed, kept for a later boot.
    fn keep_seed(&self, node: &str, name: &str) -> PathBuf {
        let to = self.path().join(name);
        fs::copy(self.seed(node), &to).unwrap();
        to
    }
}

/// The instance-id of a seed's meta-data (from the build's node files).
fn instance_id(lab: &Lab, node: &str) -> String {
    let meta = fs::read_to_string(lab.path().join(format!("out/nodes/{node}/meta-data"))).unwrap();
    meta.lines().next().unwrap().to_string()
}

/// One scenario at a time: each takes both cores.
static BOOTING: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
#[ignore = "boots Debian under qemu for minutes, as root: cargo test --test boot -- --ignored"]
fn a_nodes_whole_life_on_booted_machines() {
    require_root();
    let _one = BOOTING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    for tool in ["debootstrap", "debugfs", "mkfs.ext4"] {
        assert!(common::require_tool(tool), "{tool} is required");
    }
    let machine = Machine::get();
    let lab = Lab::new(&machine);
    lab.build();
    let scratch = lab.path();
    let mut times = Vec::new();

    // --- join: a server and an agent on their own network.
    let (s_seed, a_seed) = (lab.seed("boot-server"), lab.seed("boot-agent"));
    let Join {
        server,
        agent,
        s_console,
        a_console,
        took,
    } = machine.join(
        scratch,
        &[Medium::Virtio(&s_seed)],
        &[Medium::Virtio(&a_seed)],
    );
    times.push(("join (server + agent)", took));
    for (disk, console) in [(&server, &s_console), (&agent, &a_console)] {
        let why = || diagnostics(disk, console);
        let st = status(disk);
        assert_eq!(st["state"], "done", "{}", why());
        assert_eq!(
            read(disk, "/var/log/boot-diag/failed.txt").unwrap().trim(),
            "",
            "{}",
            why()
        );
        assert_eq!(
            read(disk, "/var/log/boot-diag/cycles.txt").unwrap().trim(),
            "",
            "{}",
            why()
        );
        let images = read(disk, "/var/lib/k3s-standin/images").unwrap_or_default();
        assert!(
            images.contains("docker.io/rancher/mirrored-pause:3.6"),
            "{images}\n{}",
            why()
        );
        assert!(
            exists(disk, "/etc/rancher/k3s/registries.yaml"),
            "{}",
            why()
        );
        assert!(
            exists(
                disk,
                "/usr/local/share/ca-certificates/seedforge-registry-ca.crt"
            ),
            "{}",
            why()
        );
        // Both bundles installed, one after the other.
        for bundle in ["onig", "jq"] {
            assert!(
                exists(
                    disk,
                    &format!("/var/lib/seedforge/packages-{bundle}.installed")
                ),
                "{bundle}\n{}",
                why()
            );
        }
        assert!(exists(disk, "/usr/bin/jq"), "{}", why());
    }
    let joined = read(&agent, "/var/lib/k3s-standin/joined").unwrap_or_default();
    assert!(
        joined.contains("https://192.0.2.10:6443"),
        "{joined}\n{}",
        diagnostics(&agent, &a_console)
    );
    let config = read(&agent, "/var/lib/k3s-standin/config.yaml").unwrap();
    assert!(
        config.contains("server: \"https://192.0.2.10:6443\""),
        "{config}"
    );
    assert_eq!(
        read(&agent, "/var/lib/k3s-standin/token-present")
            .unwrap()
            .trim(),
        "yes"
    );
    assert_eq!(
        read(&agent, "/var/lib/k3s-standin/argv").unwrap().trim(),
        "/usr/local/bin/k3s agent"
    );
    let log = read(&agent, "/var/log/k3s-bootstrap.log").unwrap();
    assert!(log.contains("server 192.0.2.10:6443 answers"), "{log}");
    assert!(
        !log.contains("K10boot-test-join-token"),
        "the token reached the log"
    );
    let agents = read(&server, "/var/lib/k3s-standin/agents").unwrap_or_default();
    assert!(
        agents.contains("192.0.2.11 agent boot-agent"),
        "{agents}\n{}",
        diagnostics(&server, &s_console)
    );
    charts_on_the_server_only(&lab, &server, &s_console, &agent);

    // --- life: one disk, boot after boot.
    let good = lab.keep_seed("boot-server", "good.iso");
    let good_id = instance_id(&lab, "boot-server");
    let damaged = scratch.join("damaged.iso");
    {
        // A different payload (another stand-in), one byte of it flipped in the image.
        lab.set_standin("# damaged on the way\n");
        lab.build();
        let mut bytes = fs::read(lab.seed("boot-server")).unwrap();
        let standin = fs::read(lab.path().join("k3s")).unwrap();
        let at = bytes
            .windows(standin.len())
            .position(|w| w == standin.as_slice())
            .expect("the stand-in is stored whole in the seed");
        bytes[at + 100] ^= 0x20;
        fs::write(&damaged, bytes).unwrap();
        Cmd::new(common::seedforge_bin())
            .arg("verify")
            .arg(&damaged)
            .expect(1)
            .run();
    }
    let node = machine.disk(&scratch.join("node.img"));
    let console = scratch.join("node.console");

    // A damaged payload: refused, nothing installed, the unit failed and says why.
    times.push(("damaged seed", machine.boot(&node, &damaged, &console)));
    let why = || diagnostics(&node, &console);
    let st = status(&node);
    assert_eq!(st["state"], "failed", "{}", why());
    assert_eq!(st["step"], "verify", "{}", why());
    assert!(st["applied"].is_null(), "{}", why());
    assert!(
        read(&node, "/var/log/boot-diag/failed.txt")
            .unwrap()
            .contains("seedforge-bootstrap.service"),
        "{}",
        why()
    );
    for nothing in [
        "/usr/local/bin/k3s",
        "/etc/rancher/k3s/registries.yaml",
        "/usr/local/share/ca-certificates/seedforge-registry-ca.crt",
        "/var/lib/rancher/k3s/agent/images/k3s-airgap-images-amd64.tar.zst",
        "/usr/bin/jq",
        "/usr/local/seed/payload",
        "/var/lib/iso-copy-complete",
    ] {
        assert!(!exists(&node, nothing), "{nothing} exists\n{}", why());
    }
    let console_text = fs::read_to_string(&console).unwrap_or_default();
    assert!(
        console_text.contains("seedforge-bootstrap: FAILED (step verify)"),
        "no console line\n{}",
        why()
    );

    // The same disk with a sound seed: recovers with no manual step.
    times.push(("recovery", machine.boot(&node, &good, &console)));
    let st = status(&node);
    assert_eq!(st["state"], "done", "{}", why());
    let digest = st["applied"].as_str().unwrap().to_string();
    assert_eq!(
        read(&node, "/var/lib/iso-copy-complete").unwrap().trim(),
        digest
    );
    assert!(
        exists(&node, "/usr/local/bin/k3s") && exists(&node, "/usr/bin/jq"),
        "{}",
        why()
    );
    assert_eq!(
        read(&node, "/var/log/boot-diag/failed.txt").unwrap().trim(),
        "",
        "{}",
        why()
    );
    let starts = read(&node, "/var/lib/k3s-standin/starts").unwrap();
    assert_eq!(starts.lines().count(), 1, "{starts}");

    // A second boot with the same seed changes nothing.
    let before = read(&node, "/var/lib/seedforge/status.json").unwrap();
    times.push(("second boot", machine.boot(&node, &good, &console)));
    assert_eq!(
        read(&node, "/var/lib/seedforge/status.json").unwrap(),
        before,
        "{}",
        why()
    );
    let log = read(&node, "/var/log/k3s-bootstrap.log").unwrap();
    assert!(
        log.contains(&format!("payload {digest} is applied already")),
        "{log}"
    );
    // k3s started once per boot by systemd, never restarted by the bootstrap.
    let starts = read(&node, "/var/lib/k3s-standin/starts").unwrap();
    assert_eq!(starts.lines().count(), 2, "{starts}");
    assert_eq!(
        read(&node, "/var/log/boot-diag/cycles.txt").unwrap().trim(),
        "",
        "{}",
        why()
    );

    // A seed with a changed payload: a new instance, applied, k3s restarted.
    lab.set_standin("# a newer build\n");
    lab.build();
    let changed_id = instance_id(&lab, "boot-server");
    assert_ne!(changed_id, good_id);
    let changed = lab.keep_seed("boot-server", "changed.iso");
    times.push(("changed payload", machine.boot(&node, &changed, &console)));
    let st = status(&node);
    assert_eq!(st["state"], "done", "{}", why());
    let new_digest = st["applied"].as_str().unwrap().to_string();
    assert_ne!(new_digest, digest);
    let installed = read(&node, "/usr/local/bin/k3s").unwrap();
    assert!(
        installed.ends_with("# a newer build\n"),
        "the new k3s was not installed"
    );
    let starts = read(&node, "/var/lib/k3s-standin/starts").unwrap();
    assert_eq!(
        starts.lines().count(),
        4,
        "boot start + restart for the new payload: {starts}"
    );
    let iid = read(&node, "/var/lib/cloud/data/instance-id").unwrap_or_default();
    assert_eq!(
        format!("instance-id: \"{}\"", iid.trim()),
        changed_id,
        "cloud-init took the changed seed as a new instance"
    );

    for (what, t) in &times {
        eprintln!("boot time: {what}: {:.0} s", t.as_secs_f64());
    }
}

/// The paths `isoinfo -R -f` lists in an image.
fn iso_paths(iso: &Path) -> Vec<String> {
    Cmd::new("isoinfo")
        .args(["-R", "-f", "-i"])
        .arg(iso)
        .run()
        .stdout
        .lines()
        .map(str::to_string)
        .collect()
}

/// Shared payload: a server and an agent, each with two CD-ROM drives (its few-KiB seed and
/// the one payload.iso), joining each other; each applies the payload from the payload
/// medium its seed names.
#[test]
#[ignore = "boots Debian under qemu for minutes, as root: cargo test --test boot -- --ignored"]
fn shared_payload_nodes_join_from_two_cdroms() {
    require_root();
    let _one = BOOTING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    for tool in ["debootstrap", "debugfs", "mkfs.ext4", "isoinfo"] {
        assert!(common::require_tool(tool), "{tool} is required");
    }
    let machine = Machine::get();
    // Shared payload, and k3s's embedded registry mirror with no registry: the agent
    // imports no archive and pulls from the server.
    let lab = Lab::with(&machine, |config| {
        let registry = "registry:\n  host: 192.0.2.1\n  port: 5000\n";
        let version = "  k3s_version: v1.33.1+k3s1\n";
        assert!(config.contains(registry) && config.contains(version));
        config
            .replace(registry, "")
            .replace(version, &format!("{version}  embedded_registry: true\n"))
            + "\nseeds:\n  payload: shared\n"
    });
    lab.build();
    let scratch = lab.path();
    let payload = lab.path().join("out/iso/payload.iso");

    // The seeds carry no payload, only its name; the payload ISO carries it once.
    for node in ["boot-server", "boot-agent"] {
        let paths = iso_paths(&lab.seed(node));
        assert!(
            paths.iter().any(|p| p == "/payload.sha256")
                && !paths.iter().any(|p| p.starts_with("/payload/")),
            "{node}: {paths:?}"
        );
        assert!(fs::metadata(lab.seed(node)).unwrap().len() < 80 * 1024);
    }
    let paths = iso_paths(&payload);
    assert!(paths.iter().any(|p| p == "/payload/bin/k3s"), "{paths:?}");
    Cmd::new("osirrox")
        .arg("-indev")
        .arg(&payload)
        .args(["-extract", "/payload/SHA256SUMS"])
        .arg(scratch.join("SHA256SUMS"))
        .run();
    let digest = sha256_bytes(&fs::read(scratch.join("SHA256SUMS")).unwrap());

    let (s_seed, a_seed) = (lab.seed("boot-server"), lab.seed("boot-agent"));
    // The agent's drives the other way round: found by label, not by order.
    let Join {
        server,
        agent,
        s_console,
        a_console,
        took,
    } = machine.join(
        scratch,
        &[Medium::Cdrom(&s_seed), Medium::Cdrom(&payload)],
        &[Medium::Cdrom(&payload), Medium::Cdrom(&a_seed)],
    );
    for (disk, console) in [(&server, &s_console), (&agent, &a_console)] {
        let why = || diagnostics(disk, console);
        let st = status(disk);
        assert_eq!(st["state"], "done", "{}", why());
        assert_eq!(st["applied"], digest.as_str(), "{}", why());
        assert_eq!(
            read(disk, "/var/log/boot-diag/failed.txt").unwrap().trim(),
            "",
            "{}",
            why()
        );
        let log = read(disk, "/var/log/k3s-bootstrap.log").unwrap();
        assert!(
            log.contains(&format!("payload {digest} on the payload medium /dev/sr")),
            "{}",
            why()
        );
        assert!(
            log.contains("copying payload") && log.contains("from the payload medium /dev/sr"),
            "{}",
            why()
        );
        assert_eq!(
            read(disk, "/var/lib/iso-copy-complete").unwrap().trim(),
            digest,
            "{}",
            why()
        );
        assert!(
            exists(disk, "/usr/local/bin/k3s") && exists(disk, "/usr/bin/jq"),
            "{}",
            why()
        );
        assert!(
            exists(disk, "/etc/rancher/k3s/registries.yaml"),
            "{}",
            why()
        );
    }
    // The embedded registry mirror: the server imported the archive, the agent none; both
    // k3s see the mirror entries, and the server's config turns the mirror on.
    let archive = "/var/lib/rancher/k3s/agent/images/k3s-airgap-images-amd64.tar.zst";
    let server_images = read(&server, "/var/lib/k3s-standin/images").unwrap_or_default();
    assert!(
        server_images.contains("docker.io/rancher/mirrored-pause:3.6") && exists(&server, archive),
        "{server_images}\n{}",
        diagnostics(&server, &s_console)
    );
    let agent_images = read(&agent, "/var/lib/k3s-standin/images").unwrap_or_default();
    assert!(
        agent_images.trim().is_empty() && !exists(&agent, archive),
        "the agent imported {agent_images}\n{}",
        diagnostics(&agent, &a_console)
    );
    assert_eq!(
        read(&agent, "/var/lib/k3s-standin/imports")
            .unwrap_or_default()
            .trim(),
        "",
        "{}",
        diagnostics(&agent, &a_console)
    );
    assert!(
        read(&agent, "/var/log/k3s-bootstrap.log")
            .unwrap()
            .contains("airgap images: none imported on this node")
    );
    for (disk, console) in [(&server, &s_console), (&agent, &a_console)] {
        let registries = read(disk, "/var/lib/k3s-standin/registries.yaml").unwrap_or_default();
        assert!(
            registries.contains("mirrors:") && registries.contains("\"docker.io\":"),
            "{registries}\n{}",
            diagnostics(disk, console)
        );
    }
    let server_config = read(&server, "/var/lib/k3s-standin/config.yaml").unwrap();
    assert!(
        server_config.contains("embedded-registry: true"),
        "{server_config}"
    );
    let agent_config = read(&agent, "/var/lib/k3s-standin/config.yaml").unwrap();
    assert!(
        !agent_config.contains("embedded-registry"),
        "{agent_config}"
    );
    let joined = read(&agent, "/var/lib/k3s-standin/joined").unwrap_or_default();
    assert!(
        joined.contains("https://192.0.2.10:6443"),
        "{joined}\n{}",
        diagnostics(&agent, &a_console)
    );
    let agents = read(&server, "/var/lib/k3s-standin/agents").unwrap_or_default();
    assert!(
        agents.contains("192.0.2.11 agent boot-agent"),
        "{agents}\n{}",
        diagnostics(&server, &s_console)
    );
    charts_on_the_server_only(&lab, &server, &s_console, &agent);

    // A newer build's seed with the old payload ISO: refused, nothing installed, the
    // applied payload stays.
    let old_payload = scratch.join("old-payload.iso");
    fs::copy(&payload, &old_payload).unwrap();
    let k3s_before = read(&agent, "/usr/local/bin/k3s").unwrap();
    lab.set_standin("# a newer build\n");
    lab.build();
    let started = Instant::now();
    let port = common::debs::free_port();
    machine
        .start_with(
            &agent,
            &[Medium::Cdrom(&a_seed), Medium::Cdrom(&old_payload)],
            &format!("listen=127.0.0.1:{port}"),
            "52:54:00:00:02:0b",
            &a_console,
        )
        .wait();
    let stale_took = started.elapsed();
    let why = || diagnostics(&agent, &a_console);
    let st = status(&agent);
    assert_eq!(st["state"], "failed", "{}", why());
    assert_eq!(st["step"], "seed", "{}", why());
    assert_eq!(st["applied"], digest.as_str(), "{}", why());
    assert!(
        st["reason"]
            .as_str()
            .unwrap()
            .contains("stale or wrong payload ISO"),
        "{}",
        why()
    );
    assert_eq!(read(&agent, "/usr/local/bin/k3s").unwrap(), k3s_before);
    eprintln!(
        "boot time: shared payload join (server + agent): {:.0} s",
        took.as_secs_f64()
    );
    eprintln!(
        "boot time: shared payload, stale payload medium: {:.0} s",
        stale_took.as_secs_f64()
    );
}

/// Charts and manifests: on the server, in k3s's folders when the k3s unit started (the
/// stand-in hashed what it found at start), with the bytes the build wrote, the chart's
/// those of the repository's digest; the agent has none of them.
fn charts_on_the_server_only(lab: &Lab, server: &Path, s_console: &Path, agent: &Path) {
    let server_files = read(server, "/var/lib/k3s-standin/server-files").unwrap_or_default();
    let out = lab.path().join("out");
    let helmchart = fs::read(out.join("charts/demo.yaml")).unwrap();
    for (sha, path) in [
        (sha256_bytes(&lab_chart()), "static/charts/demo.tgz"),
        (sha256_bytes(&helmchart), "manifests/demo.yaml"),
        (
            sha256_bytes(LAB_MANIFEST.as_bytes()),
            "manifests/boot-settings.yaml",
        ),
    ] {
        assert!(
            server_files.contains(&format!("{sha}  {path}\n")),
            "{path} ({sha}) at k3s's start: {server_files}\n{}",
            diagnostics(server, s_console)
        );
    }
    let helmchart = String::from_utf8(helmchart).unwrap();
    assert!(helmchart.contains("kind: HelmChart"), "{helmchart}");
    for path in [
        "/var/lib/rancher/k3s/server/static/charts/demo.tgz",
        "/var/lib/rancher/k3s/server/manifests/demo.yaml",
        "/var/lib/rancher/k3s/server/manifests/boot-settings.yaml",
    ] {
        assert!(!exists(agent, path), "the agent has {path}");
    }
    assert!(
        read(agent, "/var/lib/k3s-standin/server-files").is_none(),
        "the agent's k3s recorded server files"
    );
}
