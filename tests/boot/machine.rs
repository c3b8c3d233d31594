//! The node image, qemu, and booting one machine or two that join.

use super::*;

/// vCPUs of a VM booting alone, and of each of two booting together on this machine's two
/// cores: four vCPU threads on two cores made each boot of a pair slower (the
/// shared-payload join took 139 s with two vCPUs each, 123 s with one), where a VM alone
/// boots faster with two (63 s against 85 s).
const ALONE: u32 = 2;
const PAIRED: u32 = 1;

/// The longest one boot may take before the VM is killed and the test fails.
pub(crate) const BOOT_LIMIT: Duration = Duration::from_secs(20 * 60);

/// The tests run only when asked for (`--ignored`), so a machine that cannot boot nodes
/// fails them instead of letting them pass without a boot.
pub(crate) fn require_root() {
    let uid = Cmd::new("id").arg("-u").run().stdout;
    assert_eq!(uid.trim(), "0", "the booted-node tests need root");
}

/// The node image, kernel, initrd and qemu.
pub(crate) struct Machine {
    pub(crate) image: PathBuf,
    pub(crate) kernel: PathBuf,
    pub(crate) initrd: PathBuf,
    pub(crate) qemu: PathBuf,
}

impl Machine {
    pub(crate) fn get() -> Machine {
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
    pub(crate) fn data_dirs(&self) -> [PathBuf; 2] {
        let root = self.qemu.parent().unwrap().parent().unwrap();
        [root.join("share/seabios"), root.join("share/qemu")]
    }

    /// A private copy of the node image.
    pub(crate) fn disk(&self, at: &Path) -> PathBuf {
        Cmd::new("cp")
            .args(["--sparse=always", "--reflink=auto"])
            .arg(&self.image)
            .arg(at)
            .run();
        at.to_path_buf()
    }

    /// Starts a VM with `disk` and `seed` (a virtio disk); `net` is the socket netdev
    /// option (`listen=127.0.0.1:P` or `connect=127.0.0.1:P`).
    pub(crate) fn start(
        &self,
        disk: &Path,
        seed: &Path,
        net: &str,
        mac: &str,
        console: &Path,
    ) -> common::Running {
        self.start_with(
            disk,
            &[Medium::Virtio(seed)],
            &format!("socket,{net}"),
            mac,
            console,
        )
    }

    /// Boots a server and an agent on a network of their own, each on a fresh copy of the
    /// node image under `scratch` with its media, and waits (bounded) until each has seen
    /// the join from its side and powered off.
    pub(crate) fn join(
        &self,
        scratch: &Path,
        server_media: &[Medium],
        agent_media: &[Medium],
    ) -> Join {
        let server = self.disk(&scratch.join("server.img"));
        let agent = self.disk(&scratch.join("agent.img"));
        stay_until_joined(&server, &agent, scratch);
        let s_console = scratch.join("server.console");
        let a_console = scratch.join("agent.console");
        let took = self.pair(
            Booting {
                disk: &server,
                media: server_media,
                console: &s_console,
            },
            Booting {
                disk: &agent,
                media: agent_media,
                console: &a_console,
            },
            None,
        );
        Join {
            server,
            agent,
            s_console,
            a_console,
            took,
        }
    }

    /// Boots a server's disk and an agent's (each booted before: they keep what they
    /// have) on a network of their own, each with its media and console. With `cut`, the
    /// agent's power is cut (its qemu killed) as soon as its console shows that text.
    /// Waits (bounded) until the server has powered off, and the agent too unless its
    /// power was cut; how long it took.
    pub(crate) fn pair(&self, server: Booting, agent: Booting, cut: Option<&str>) -> Duration {
        let port = common::debs::free_port();
        let started = Instant::now();
        let s = self.start_vm(
            server.disk,
            server.media,
            &format!("socket,listen=127.0.0.1:{port}"),
            "52:54:00:00:02:0a",
            server.console,
            PAIRED,
        );
        std::thread::sleep(Duration::from_secs(2));
        let mut a = self.start_vm(
            agent.disk,
            agent.media,
            &format!("socket,connect=127.0.0.1:{port}"),
            "52:54:00:00:02:0b",
            agent.console,
            PAIRED,
        );
        match cut {
            None => {
                a.wait();
            }
            Some(text) => loop {
                let seen = fs::read_to_string(agent.console).unwrap_or_default();
                if seen.contains(text) {
                    a.guard.kill();
                    break;
                }
                let tail = || -> String {
                    let lines: Vec<&str> = seen.lines().rev().take(40).collect();
                    lines.into_iter().rev().collect::<Vec<_>>().join("\n")
                };
                if let Some(status) = a.guard.child().try_wait().unwrap() {
                    panic!(
                        "the agent stopped ({status}) before its console showed {text:?}:\n{}",
                        tail()
                    );
                }
                assert!(
                    started.elapsed() < BOOT_LIMIT,
                    "the agent's console did not show {text:?} within {BOOT_LIMIT:?}:\n{}",
                    tail()
                );
                std::thread::sleep(Duration::from_millis(200));
            },
        }
        s.wait();
        started.elapsed()
    }

    /// Starts a VM with `disk` and `media` attached, in order, its one NIC on the qemu
    /// netdev `net` (without its id: `socket,listen=127.0.0.1:P`, `user,…`), alone on
    /// this machine.
    pub(crate) fn start_with(
        &self,
        disk: &Path,
        media: &[Medium],
        net: &str,
        mac: &str,
        console: &Path,
    ) -> common::Running {
        self.start_vm(disk, media, net, mac, console, ALONE)
    }

    fn start_vm(
        &self,
        disk: &Path,
        media: &[Medium],
        net: &str,
        mac: &str,
        console: &Path,
        cpus: u32,
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
                &cpus.to_string(),
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
            // mitigations=off: the guest kernel's defences against speculative execution
            // (page-table isolation flushes the TLB at every system call, which qemu's
            // software MMU pays in full) defend nothing these tests judge, and cost the
            // boots time under emulation: a fork-and-exec loop and three python3 starts in
            // this guest took 0.66x-0.83x the time with them off (docs/testing.md).
            .args([
                "-append",
                "root=/dev/vda rw console=ttyS0 panic=-1 mitigations=off",
            ])
            .arg("-drive")
            .arg(format!("file={},if=virtio,format=raw", disk.display()))
            .args(&drives)
            .args(["-device", "virtio-rng-pci"])
            .arg("-netdev")
            .arg(format!("{net},id=n0"))
            .arg("-device")
            .arg(format!("virtio-net-pci,netdev=n0,mac={mac}"))
            .arg("-serial")
            .arg(format!("file:{}", console.display()))
            .timeout(BOOT_LIMIT)
            .spawn()
    }

    /// Boots one VM alone (its NIC reaches nothing) until it powers itself off.
    pub(crate) fn boot(&self, disk: &Path, seed: &Path, console: &Path) -> Duration {
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

/// Keeps a server's and an agent's disk booting (bounded) until each has seen the join
/// from its side: the agent in the server's list, the server's answer on the agent.
pub(crate) fn stay_until_joined(server: &Path, agent: &Path, scratch: &Path) {
    put(
        server,
        "/etc/boot-test",
        "wait-for",
        "/var/lib/k3s-standin/agents 900\n",
        scratch,
    );
    put(
        agent,
        "/etc/boot-test",
        "wait-for",
        "/var/lib/k3s-standin/joined 900\n",
        scratch,
    );
}

/// A medium attached to a VM.
pub(crate) enum Medium<'a> {
    /// A read-only virtio disk.
    Virtio(&'a Path),
    /// An ISO in a CD-ROM drive on the IDE bus.
    Cdrom(&'a Path),
}

/// One machine of a [`Machine::pair`]: its disk, media and console file.
pub(crate) struct Booting<'a> {
    pub(crate) disk: &'a Path,
    pub(crate) media: &'a [Medium<'a>],
    pub(crate) console: &'a Path,
}

/// Two machines that joined: their disks and consoles, and how long it took.
pub(crate) struct Join {
    pub(crate) server: PathBuf,
    pub(crate) agent: PathBuf,
    pub(crate) s_console: PathBuf,
    pub(crate) a_console: PathBuf,
    pub(crate) took: Duration,
}
