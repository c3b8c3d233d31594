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

/// The names in a folder of the powered-off disk (`.` and `..` left out), sorted; empty
/// when it does not exist.
fn list(disk: &Path, dir: &str) -> Vec<String> {
    let mut names: Vec<String> = debugfs(disk, &format!("ls -l {dir}"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_whitespace().last())
        .filter(|n| *n != "." && *n != "..")
        .map(str::to_string)
        .collect();
    names.sort();
    names
}

/// Where k3s imports airgap archives from at start.
const K3S_IMAGES: &str = "/var/lib/rancher/k3s/agent/images";

/// The airgap archives in k3s's images folder of the powered-off disk (k3s's own
/// `.cache.json` left out), sorted.
fn archives(disk: &Path) -> Vec<String> {
    list(disk, K3S_IMAGES)
        .into_iter()
        .filter(|n| !n.starts_with('.'))
        .collect()
}

/// The modification time of a file of the powered-off disk, in seconds since the epoch.
fn mtime(disk: &Path, path: &str) -> i64 {
    let stat = debugfs(disk, &format!("stat {path}")).unwrap_or_else(|| panic!("no {path}"));
    let hex = stat
        .split("mtime: 0x")
        .nth(1)
        .and_then(|rest| rest.get(..8))
        .unwrap_or_else(|| panic!("no mtime in the stat of {path}: {stat}"));
    i64::from_str_radix(hex, 16).unwrap()
}

/// The seconds since the epoch now, on this machine (whose clock the VMs' clocks start
/// from).
fn now() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
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

    /// Writes the image list: the lab's, changed by `edit`.
    fn set_images(&self, edit: &dyn Fn(String) -> String) {
        let fixtures = common::repo_root().join("fixtures/images");
        let list = fs::read_to_string(common::repo_root().join("fixtures/lab/images.txt"))
            .unwrap()
            .replace("../images", &fixtures.display().to_string());
        fs::write(self.path().join("images.txt"), edit(list)).unwrap();
    }

    /// The k3s stand-in saying it is k3s `release` (with `extra` appended), and the config
    /// naming that release.
    fn set_release(&self, release: &str, extra: &str) {
        self.set_standin(&format!("# k3s-standin-version: {release}\n{extra}"));
        let path = self.path().join("seedforge.yaml");
        let config = fs::read_to_string(&path).unwrap();
        let lab = "  k3s_version: v1.33.1+k3s1\n";
        assert!(config.contains(lab), "{config}");
        fs::write(
            &path,
            config.replace(lab, &format!("  k3s_version: {release}\n")),
        )
        .unwrap();
    }

    /// Appends `text` to the config.
    fn append_config(&self, text: &str) {
        let path = self.path().join("seedforge.yaml");
        let config = fs::read_to_string(&path).unwrap();
        fs::write(&path, config + text).unwrap();
    }

    /// The airgap archive the build wrote, by the name its payload carries it under (its
    /// name with the first 12 hex digits of its sha256).
    fn carried_archive(&self) -> String {
        let airgap = self.path().join("out/airgap");
        let archive = fs::read_dir(&airgap)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| {
                (p.file_name().unwrap().to_string_lossy()).starts_with("k3s-airgap-images-amd64.")
            })
            .unwrap_or_else(|| panic!("no amd64 archive in {}", airgap.display()));
        common::carried_name(&archive)
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
        K3S_IMAGES,
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
    // The first seed gives the node SSH host keys of its own, not the image's.
    let keys = host_keys(&node);
    let baked = host_keys(&machine.image);
    assert!(!keys.is_empty() && !baked.is_empty(), "{keys:?} {baked:?}");
    for (name, key) in &keys {
        assert_ne!(baked.get(name), Some(key), "{name} is the image's");
    }

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
    // The archive under its content name; the recovery seed is a new instance to
    // cloud-init, and the node kept its host keys.
    let set1 = vec![lab.carried_archive()];
    assert_eq!(archives(&node), set1, "{}", why());
    assert_eq!(host_keys(&node), keys, "{}", why());
    assert_eq!(st["k3s_version"], "v1.33.1+k3s1", "{}", why());
    assert!(st["k3s_installing"].is_null(), "{st}");

    // The operator opts in to k3s's conditional import (an empty `.cache.json` in its
    // images folder): from the next start on, k3s records the path, size and modification
    // time of each archive it imports and skips one it has seen unchanged.
    put(&node, K3S_IMAGES, ".cache.json", "", scratch);

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
    // With the cache empty, that start imported set 1 and recorded it.
    let cache = read(&node, &format!("{K3S_IMAGES}/.cache.json")).unwrap_or_default();
    assert!(cache.contains(&set1[0]), "{cache}\n{}", why());
    assert_eq!(
        read(&node, "/var/log/boot-diag/cycles.txt").unwrap().trim(),
        "",
        "{}",
        why()
    );

    // A seed with a newer payload (k3s v1.33.2+k3s1, one image added, one changed): a
    // new instance, applied in the upgrade's order, k3s restarted; the node keeps its
    // identity.
    let identity = Identity::of(&node);
    assert!(identity.password.is_some(), "{}", why());
    let set2_list = |list: String| {
        let kept: String = (list.lines())
            .filter(|l| !l.contains("busybox"))
            .map(|l| format!("{l}\n"))
            .collect();
        kept + &fixture_image("klipper-lb:v0.4.13", BUSYBOX)
            + &fixture_image("klipper-helm:v0.9.5-build20250306", ADDED_2)
    };
    lab.set_images(&set2_list);
    lab.set_release("v1.33.2+k3s1", "");
    // A zstd archive, which the bootstrap decompresses on its way to the running k3s (set
    // 3's, uncompressed, is imported from its file).
    lab.append_config("\nairgap:\n  compression: zstd\n");
    // And a changed manifest, which k3s re-applies only when its modification time is
    // not pinned to the seed's.
    let changed_manifest = LAB_MANIFEST.replace("greeting: hello", "greeting: upgraded");
    fs::write(
        lab.path().join("manifests/boot-settings.yaml"),
        &changed_manifest,
    )
    .unwrap();
    lab.build();
    let changed_id = instance_id(&lab, "boot-server");
    assert_ne!(changed_id, good_id);
    let set2 = vec![lab.carried_archive()];
    assert_ne!(set2, set1);
    let changed = lab.keep_seed("boot-server", "changed.iso");
    let upgrade_began = now();
    times.push(("upgrade", machine.boot(&node, &changed, &console)));
    let upgrade_ended = now();
    let st = status(&node);
    assert_eq!(st["state"], "done", "{}", why());
    assert_eq!(st["k3s_version"], "v1.33.2+k3s1", "{}", why());
    assert!(st["k3s_installing"].is_null(), "{st}");
    let new_digest = st["applied"].as_str().unwrap().to_string();
    assert_ne!(new_digest, digest);
    let installed = read(&node, "/usr/local/bin/k3s").unwrap();
    assert!(
        installed.ends_with("# k3s-standin-version: v1.33.2+k3s1\n"),
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
    let busybox_2 = upgraded_in_order(&node, "v1.33.1+k3s1", "v1.33.2+k3s1", &set1, &set2, &why);
    assert_eq!(archives(&node), set2, "set 1 is gone\n{}", why());
    // The changed image runs under set 2's digest on the node.
    let digests = read(&node, "/var/lib/k3s-standin/image-digests").unwrap_or_default();
    assert!(
        digests
            .lines()
            .any(|l| l == format!("{BUSYBOX} {busybox_2}")),
        "{BUSYBOX} is not {busybox_2} on the node: {digests}\n{}",
        why()
    );
    assert_eq!(Identity::of(&node), identity, "{}", why());
    // The changed manifest was placed with the time of placing, during the upgrade's boot
    // (the VM's clock starts from this machine's), not with the payload's timestamps (the
    // seed's source date), which its copy in the payload keeps.
    let placed = "/var/lib/rancher/k3s/server/manifests/boot-settings.yaml";
    assert_eq!(read(&node, placed).unwrap(), changed_manifest);
    let placed_at = mtime(&node, placed);
    assert!(
        (upgrade_began - 600..=upgrade_ended + 600).contains(&placed_at),
        "{placed} has mtime {placed_at}, not within the upgrade's boot ({upgrade_began}..{upgrade_ended})\n{}",
        why()
    );
    let payload_manifests = "/usr/local/seed/payload/manifests";
    let in_payload = list(&node, payload_manifests)
        .into_iter()
        .map(|n| format!("{payload_manifests}/{n}"))
        .find(|p| read(&node, p).as_deref() == Some(changed_manifest.as_str()))
        .unwrap_or_else(|| panic!("no changed manifest in {payload_manifests}"));
    let seed_time = mtime(&node, &in_payload);
    assert!(
        seed_time < upgrade_began - 86_400,
        "{in_payload}: {seed_time} (the seed's timestamp expected)"
    );
    // Every manifest k3s reads was placed during this test, none with a seed's timestamp.
    for name in list(&node, "/var/lib/rancher/k3s/server/manifests") {
        let path = format!("/var/lib/rancher/k3s/server/manifests/{name}");
        let at = mtime(&node, &path);
        assert!(at > seed_time + 86_400, "{path}: mtime {at}");
    }

    // A payload with an older k3s (v1.33.1+k3s2 < v1.33.2+k3s1) is refused with nothing
    // installed; then, on the running node, `seedforge-bootstrap --images-only` with the
    // same media places and imports its images and changes nothing else.
    lab.set_images(&|list| {
        set2_list(list) + &fixture_image("local-path-provisioner:v0.0.31", ADDED_3)
    });
    lab.set_release("v1.33.1+k3s2", "");
    lab.build();
    let set3 = lab.carried_archive();
    let older = lab.keep_seed("boot-server", "older.iso");
    put(
        &node,
        "/etc/boot-test",
        "then",
        "cp /var/lib/seedforge/status.json /var/log/boot-diag/status-at-boot.json\n\
         /usr/local/sbin/seedforge-bootstrap --images-only\n",
        scratch,
    );
    times.push((
        "downgrade, images only",
        machine.boot(&node, &older, &console),
    ));
    refused_then_images_only(&node, &new_digest, &installed, &set2, &set3, &why);
    assert_eq!(Identity::of(&node), identity, "{}", why());
    // That boot's k3s skipped set 2, which its cache had seen at the upgrade's restart.
    let seen = events(&node);
    let last_start = seen
        .iter()
        .rposition(|(_, what)| what.starts_with("start "))
        .unwrap();
    assert!(
        seen[last_start..]
            .iter()
            .any(|(r, what)| r == "v1.33.2+k3s1"
                && *what == format!("skip-at-start {} cached", set2[0])),
        "{seen:?}"
    );
    // For the reader of a passing run: what the k3s stand-in saw, in order.
    for (release, what) in events(&node) {
        eprintln!("k3s event: {release} {what}");
    }

    for (what, t) in &times {
        eprintln!("boot time: {what}: {:.0} s", t.as_secs_f64());
    }
}

/// An image list line: the fixture layout's image `name` as `destination`.
fn fixture_image(name: &str, destination: &str) -> String {
    let layout = common::repo_root().join("fixtures/images/oci");
    format!("oci:{}:{name} {destination}\n", layout.display())
}

/// The image an upgrade changes (another image under its name), and those it adds.
const BUSYBOX: &str = "docker.io/rancher/mirrored-library-busybox:1.36.1";
const ADDED_2: &str = "docker.io/library/upgrade-added:2";
const ADDED_3: &str = "docker.io/library/upgrade-added:3";

/// The public SSH host keys of a disk, by file name.
fn host_keys(disk: &Path) -> std::collections::BTreeMap<String, String> {
    list(disk, "/etc/ssh")
        .into_iter()
        .filter(|n| n.starts_with("ssh_host_") && n.ends_with("_key.pub"))
        .map(|n| {
            let key = read(disk, &format!("/etc/ssh/{n}")).unwrap();
            (n, key)
        })
        .collect()
}

/// What makes a node itself to its peers and its operators, which a re-seed keeps.
#[derive(Debug, PartialEq, Eq)]
struct Identity {
    host_keys: std::collections::BTreeMap<String, String>,
    machine_id: String,
    /// k3s's node password (written by k3s at its first start).
    password: Option<String>,
}

impl Identity {
    fn of(disk: &Path) -> Identity {
        let machine_id = read(disk, "/etc/machine-id").unwrap_or_default();
        assert_eq!(machine_id.trim().len(), 32, "machine-id {machine_id:?}");
        Identity {
            host_keys: host_keys(disk),
            machine_id,
            password: read(disk, "/etc/rancher/node/password"),
        }
    }
}

/// The k3s stand-in's event log: (release, what) per line, in order.
fn events(disk: &Path) -> Vec<(String, String)> {
    read(disk, "/var/lib/k3s-standin/events")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut words = l.splitn(3, ' ');
            let (_time, release, what) = (words.next()?, words.next()?, words.next()?);
            Some((release.to_string(), what.to_string()))
        })
        .collect()
}

/// The upgrade's order on the node, from the stand-in's event log: the k3s of release
/// `old` started at boot and skipped `set1` (its import cache had seen it); then, running,
/// it imported the new payload's images (the added image, and the changed one under its
/// new digest) before the k3s of release `new` first started, which found `set2` and
/// nothing else in its images folder (the old archive removed before it started) and
/// imported it, its new name unseen by the cache. The changed image's new digest.
fn upgraded_in_order(
    disk: &Path,
    old: &str,
    new: &str,
    set1: &[String],
    set2: &[String],
    why: &dyn Fn() -> String,
) -> String {
    let events = events(disk);
    let first_new = events
        .iter()
        .position(|(r, what)| r == new && what.starts_with("start "))
        .unwrap_or_else(|| panic!("k3s {new} never started: {events:?}\n{}", why()));
    let found = events[first_new]
        .1
        .split_once(" archives=")
        .map(|(_, names)| {
            names
                .split(',')
                .filter(|n| !n.is_empty())
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    assert_eq!(
        found,
        set2,
        "k3s {new} started with these archives in {K3S_IMAGES}: {events:?}\n{}",
        why()
    );
    assert!(
        events[first_new..]
            .iter()
            .take_while(|(r, what)| r == new && !what.starts_with("ctr "))
            .any(|(_, what)| what.starts_with(&format!("import-at-start {} rc=0 ", set2[0]))),
        "k3s {new} did not import {} at its start: {events:?}",
        set2[0]
    );
    let old_start = events[..first_new]
        .iter()
        .rposition(|(r, what)| r == old && what.starts_with("start "))
        .unwrap_or_else(|| panic!("k3s {old} did not start at the upgrade's boot: {events:?}"));
    assert!(
        events[old_start..first_new]
            .iter()
            .any(|(_, what)| *what == format!("skip-at-start {} cached", set1[0])),
        "k3s {old} did not skip {} it had seen: {events:?}",
        set1[0]
    );
    let busybox = format!("{BUSYBOX}@");
    let digest_of = |what: &str| -> Option<String> {
        what.split(['=', ','])
            .find_map(|i| i.strip_prefix(busybox.as_str()).map(str::to_string))
    };
    let before: Vec<&(String, String)> = events[..first_new].iter().collect();
    let first_busybox = before
        .iter()
        .find_map(|(r, what)| (r == old).then(|| digest_of(what)).flatten())
        .unwrap_or_else(|| panic!("k3s {old} never imported busybox: {events:?}"));
    let imported = before
        .iter()
        .find(|(r, what)| {
            r == old
                && what.starts_with("ctr ")
                && what.contains(" images import ")
                && what.contains(" rc=0 ")
                && what.contains(&format!("{ADDED_2}@"))
        })
        .unwrap_or_else(|| {
            panic!(
                "the running k3s {old} did not import the new images before k3s {new} started: {events:?}\n{}",
                why()
            )
        });
    let changed = digest_of(&imported.1).unwrap_or_else(|| {
        panic!(
            "the new images' import names no {BUSYBOX}: {}\n{events:?}",
            imported.1
        )
    });
    assert_ne!(
        changed, first_busybox,
        "the changed image was imported under its new digest: {events:?}"
    );
    changed
}

/// A payload with an older k3s, seeded: refused at boot with nothing installed (the
/// status the boot left, saved before the operator's command); then the operator's
/// `seedforge-bootstrap --images-only` placed and imported its archive (`set3`) beside the
/// applied payload's (`set2`) with the running k3s, and changed nothing else.
fn refused_then_images_only(
    node: &Path,
    applied: &str,
    installed: &str,
    set2: &[String],
    set3: &str,
    why: &dyn Fn() -> String,
) {
    let at_boot = read(node, "/var/log/boot-diag/status-at-boot.json").expect("saved status");
    let at_boot: serde_json::Value = serde_json::from_str(&at_boot).unwrap();
    assert_eq!(at_boot["state"], "refused", "{at_boot}\n{}", why());
    assert_eq!(at_boot["step"], "version", "{at_boot}");
    assert_eq!(at_boot["applied"], applied, "{at_boot}");
    assert_eq!(at_boot["k3s_version"], "v1.33.2+k3s1", "{at_boot}");
    let reason = at_boot["reason"].as_str().unwrap();
    for says in [
        "v1.33.2+k3s1",
        "v1.33.1+k3s2",
        "cluster.allow_downgrade: true",
    ] {
        assert!(reason.contains(says), "{reason}");
    }
    assert!(
        read(node, "/var/log/k3s-bootstrap.log")
            .unwrap_or_default()
            .contains("REFUSED (step version)"),
        "{}",
        why()
    );
    assert_eq!(read(node, "/usr/local/bin/k3s").unwrap(), installed);
    let sums = read(node, "/usr/local/seed/payload/SHA256SUMS").unwrap();
    assert_eq!(
        sha256_bytes(sums.as_bytes()),
        applied,
        "the applied payload stays"
    );
    assert_eq!(
        read(node, "/var/lib/iso-copy-complete").unwrap().trim(),
        applied
    );
    // The operator's images-only pass.
    let out = read(node, "/var/log/boot-diag/then.out").unwrap_or_default();
    assert_eq!(
        read(node, "/var/log/boot-diag/then.rc")
            .unwrap_or_default()
            .trim(),
        "0",
        "{out}\n{}",
        why()
    );
    let st = status(node);
    assert_eq!(st["state"], "images-only", "{st}\n{out}\n{}", why());
    assert_eq!(st["applied"], applied, "{st}");
    assert_ne!(st["payload"], applied, "{st}");
    assert_eq!(st["k3s_version"], "v1.33.2+k3s1", "{st}");
    assert!(out.contains("nothing else was changed"), "{out}");
    let mut want: Vec<String> = set2.to_vec();
    want.push(set3.to_string());
    want.sort();
    assert_eq!(archives(node), want, "{}", why());
    let events = events(node);
    let last_start = events
        .iter()
        .rposition(|(_, what)| what.starts_with("start "))
        .unwrap();
    assert!(
        events[last_start..]
            .iter()
            .any(|(r, what)| r == "v1.33.2+k3s1"
                && what.starts_with("ctr ")
                && what.contains(" rc=0 ")
                && what.contains(&format!("{ADDED_3}@"))),
        "the running k3s imported the new images: {events:?}"
    );
    assert_eq!(read(node, "/usr/local/bin/k3s").unwrap(), installed);
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
        // The node files (user-data with the bootstrap, some 20 KiB) and the image's own
        // structures, far below the payload (about 900 KiB here), which is not there.
        let size = fs::metadata(lab.seed(node)).unwrap().len();
        assert!(size < 128 * 1024, "{node}: {size} bytes");
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
    let archive = format!("{K3S_IMAGES}/{}", lab.carried_archive());
    let server_images = read(&server, "/var/lib/k3s-standin/images").unwrap_or_default();
    assert!(
        server_images.contains("docker.io/rancher/mirrored-pause:3.6") && exists(&server, &archive),
        "{server_images}\n{}",
        diagnostics(&server, &s_console)
    );
    let agent_images = read(&agent, "/var/lib/k3s-standin/images").unwrap_or_default();
    assert!(
        agent_images.trim().is_empty() && list(&agent, K3S_IMAGES).is_empty(),
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
