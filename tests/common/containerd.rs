//! containerd as a judge: a private daemon (its root, state and socket in a temporary
//! folder, killed by its PID when dropped), `ctr` against it, and images mounted with
//! `ctr images mount` that are unmounted again when the guard is dropped.
//!
//! The judge is containerd 2.x, the line k3s runs since 2025 (k3s 1.36 and 1.37 run 2.3):
//! Debian 12 has 1.6 only, so scripts/test.sh unpacks Debian sid's containerd (2.1) into
//! `target/sid/root`. `$SEEDFORGE_CONTAINERD` names another containerd (its `ctr` is the
//! one beside it), e.g. `/usr/bin/containerd` to judge with Debian 12's 1.6. Without 2.x
//! the tests fail under `CI=true`; otherwise they fall back to the `containerd` on `PATH`
//! and say so.

use super::{ChildGuard, Cmd, repo_root, which};
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

/// The containerd that judges: its daemon, its `ctr` and the version it reports.
#[derive(Debug, Clone)]
pub struct ContainerdBin {
    /// The daemon.
    pub containerd: PathBuf,
    /// The client of the same release.
    pub ctr: PathBuf,
    /// What `containerd --version` says (`2.1.9+unknown`, `1.6.20~ds1`).
    pub version: String,
    /// The major version: 1 takes a `version = 2` config, 2 a `version = 3` one.
    pub major: u32,
}

/// `containerd --version` of `containerd`: (version, major), if it runs and says one.
fn containerd_version(containerd: &Path) -> Option<(String, u32)> {
    let out = Command::new(containerd)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    // "containerd github.com/containerd/containerd/v2 2.1.9+unknown"
    let text = String::from_utf8_lossy(&out.stdout);
    let version = text.split_whitespace().nth(2)?.to_string();
    let major = version.split('.').next()?.parse().ok()?;
    Some((version, major))
}

/// The `ctr` of `containerd`'s release: the one beside it, else the one on `PATH`.
fn ctr_beside(containerd: &Path) -> Option<PathBuf> {
    let beside = containerd.with_file_name("ctr");
    if beside.is_file() {
        return Some(beside);
    }
    which("ctr")
}

fn find_containerd() -> Option<ContainerdBin> {
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    let found = |containerd: PathBuf| {
        let (version, major) = containerd_version(&containerd)?;
        let ctr = ctr_beside(&containerd)?;
        Some(ContainerdBin {
            containerd,
            ctr,
            version,
            major,
        })
    };
    if let Some(named) = std::env::var_os("SEEDFORGE_CONTAINERD") {
        let named = PathBuf::from(named);
        let bin = found(named.clone()).unwrap_or_else(|| {
            panic!(
                "SEEDFORGE_CONTAINERD={} does not run (or has no ctr beside it)",
                named.display()
            )
        });
        eprintln!(
            "NOTE: containerd {} ({}) judges, as SEEDFORGE_CONTAINERD asks",
            bin.version,
            bin.containerd.display()
        );
        return Some(bin);
    }
    let sid = repo_root().join("target/sid/root/usr/bin/containerd");
    if let Some(bin) = found(sid.clone()).filter(|b| b.major >= 2) {
        eprintln!(
            "NOTE: containerd {} ({}) judges",
            bin.version,
            bin.containerd.display()
        );
        return Some(bin);
    }
    if ci {
        panic!(
            "containerd 2.x is not at {} (CI=true, so this is a failure); scripts/test.sh \
             fetches it from Debian sid",
            sid.display()
        );
    }
    match which("containerd").and_then(found) {
        Some(bin) => {
            eprintln!(
                "NOTE: containerd 2.x is not at {} (scripts/test.sh fetches it from Debian \
                 sid); containerd {} from PATH judges instead",
                sid.display(),
                bin.version
            );
            Some(bin)
        }
        None => None,
    }
}

/// The containerd that judges (found once a process): see the module's documentation.
pub fn containerd_bin() -> Option<&'static ContainerdBin> {
    static BIN: OnceLock<Option<ContainerdBin>> = OnceLock::new();
    BIN.get_or_init(find_containerd).as_ref()
}

/// Debian 12's own containerd (1.6, `/usr/bin/containerd`), the line of older k3s
/// releases, as a second judge beside [`containerd_bin`]; `None` when it is not there.
pub fn debian_containerd() -> Option<&'static ContainerdBin> {
    static BIN: OnceLock<Option<ContainerdBin>> = OnceLock::new();
    BIN.get_or_init(|| {
        let containerd = PathBuf::from("/usr/bin/containerd");
        let (version, major) = containerd_version(&containerd).filter(|(_, m)| *m == 1)?;
        let ctr = ctr_beside(&containerd)?;
        Some(ContainerdBin {
            containerd,
            ctr,
            version,
            major,
        })
    })
    .as_ref()
}

/// Checks that a containerd judge and its `ctr` are there. Missing: fails the test when
/// `CI=true` (a missing 2.x already does), otherwise prints a skip note and returns false.
pub fn require_containerd() -> bool {
    if containerd_bin().is_some() {
        return true;
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("containerd and ctr are not installed (CI=true, so this is a failure)");
    }
    eprintln!("SKIP: containerd is not installed; skipping the part of this test that needs it");
    false
}

/// A private containerd (run as root) with its root, state, socket and config in a
/// temporary directory and the CRI plugins disabled. Killed (by its PID) when dropped.
pub struct Containerd {
    /// The release that runs.
    pub bin: &'static ContainerdBin,
    guard: ChildGuard,
    socket: PathBuf,
    log: PathBuf,
    /// Everything containerd writes; deleted after the process is gone.
    pub dir: tempfile::TempDir,
}

impl Containerd {
    /// How long containerd may take to open its socket.
    pub const START_TIMEOUT: Duration = Duration::from_secs(10);

    /// Starts containerd and waits (bounded) until `ctr version` answers on its socket.
    /// The caller has checked [`require_containerd`].
    pub fn start() -> Containerd {
        let bin = containerd_bin().expect("no containerd: call require_containerd first");
        Containerd::start_bin(bin)
    }

    /// [`Containerd::start`] with the release `bin` (e.g. [`debian_containerd`]).
    pub fn start_bin(bin: &'static ContainerdBin) -> Containerd {
        let dir = tempfile::Builder::new()
            .prefix("seedforge-containerd-")
            .tempdir()
            .expect("tempdir");
        let d = dir.path();
        let socket = d.join("containerd.sock");
        let config = d.join("config.toml");
        let q = |p: &Path| format!("{:?}", p.display().to_string());
        // 1.x reads a `version = 2` config with one CRI plugin; 2.x a `version = 3` one, its
        // CRI split into the images, runtime and gRPC plugins (as 2.1's `containerd config
        // default` lists them; a `version = 2` file would be converted). No CRI: nothing
        // here runs a container, and the tests give ctr its hosts tree.
        let (version, disabled) = if bin.major >= 2 {
            (
                3,
                "\"io.containerd.grpc.v1.cri\", \"io.containerd.cri.v1.images\", \
                 \"io.containerd.cri.v1.runtime\"",
            )
        } else {
            (2, "\"io.containerd.grpc.v1.cri\"")
        };
        fs::write(
            &config,
            format!(
                "version = {version}\nroot = {}\nstate = {}\n\
                 disabled_plugins = [{disabled}]\n\n\
                 [grpc]\n  address = {}\n\n[ttrpc]\n  address = {}\n\n\
                 [debug]\n  address = \"\"\n\n[metrics]\n  address = \"\"\n\n\
                 [plugins]\n  [plugins.\"io.containerd.internal.v1.opt\"]\n    path = {}\n",
                q(&d.join("root")),
                q(&d.join("state")),
                q(&socket),
                q(&d.join("containerd.sock.ttrpc")),
                q(&d.join("opt")),
            ),
        )
        .unwrap();
        let log = d.join("containerd.log");
        let log_file = File::create(&log).unwrap();
        let child = Command::new(&bin.containerd)
            .arg("--config")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().unwrap())
            .stderr(log_file)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.containerd.display()));
        let mut cd = Containerd {
            bin,
            guard: ChildGuard(Some(child)),
            socket,
            log,
            dir,
        };
        let deadline = Instant::now() + Self::START_TIMEOUT;
        loop {
            if let Some(status) = cd.guard.child().try_wait().expect("try_wait") {
                panic!(
                    "containerd {} exited early ({status}):\n{}",
                    bin.version,
                    cd.log_text()
                );
            }
            if cd.socket.exists() {
                let out = Cmd::new(&bin.ctr)
                    .arg("--address")
                    .arg(&cd.socket)
                    .arg("version")
                    .timeout(Self::START_TIMEOUT)
                    .any_status()
                    .run();
                if out.code == Some(0) {
                    return cd;
                }
            }
            if Instant::now() >= deadline {
                cd.guard.kill();
                panic!(
                    "containerd did not answer on {} within {:?}:\n{}",
                    cd.socket.display(),
                    Self::START_TIMEOUT,
                    cd.log_text()
                );
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// The gRPC socket.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// What containerd logged so far.
    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `ctr --address SOCKET -n NAMESPACE` (60 s limit).
    pub fn ctr(&self, namespace: &str) -> Cmd {
        Cmd::new(&self.bin.ctr)
            .arg("--address")
            .arg(&self.socket)
            .args(["-n", namespace])
            .timeout(Duration::from_secs(60))
    }

    /// `ctr images mount [--platform P] REF TARGET`; the guard unmounts when dropped.
    pub fn mount(
        &self,
        namespace: &str,
        platform: Option<&str>,
        reference: &str,
        target: &Path,
    ) -> CtrMount<'_> {
        fs::create_dir_all(target).unwrap();
        let mut cmd = self.ctr(namespace).args(["images", "mount"]);
        if let Some(p) = platform {
            cmd = cmd.args(["--platform", p]);
        }
        cmd.arg(reference).arg(target).run();
        CtrMount {
            containerd: self,
            namespace: namespace.to_string(),
            target: target.to_path_buf(),
        }
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        self.guard.kill();
    }
}

/// An image mounted by `ctr images mount`; unmounted (with `umount` as a fallback) on drop.
pub struct CtrMount<'a> {
    containerd: &'a Containerd,
    namespace: String,
    target: PathBuf,
}

impl CtrMount<'_> {
    /// The mounted root file system.
    pub fn root(&self) -> &Path {
        &self.target
    }
}

/// True if `path` is a mount point of this process's mount namespace.
pub fn is_mount_point(path: &Path) -> bool {
    let want = path.display().to_string();
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .any(|l| l.split(' ').nth(4) == Some(want.as_str()))
}

impl Drop for CtrMount<'_> {
    fn drop(&mut self) {
        // Bounded waits only: a hung tool must not hang the test in a destructor.
        let bounded = |mut c: Command| {
            if let Ok(child) = c.stdout(Stdio::null()).stderr(Stdio::null()).spawn() {
                ChildGuard(Some(child)).wait_until(Instant::now() + Duration::from_secs(30));
            }
        };
        let mut unmount = self
            .containerd
            .ctr(&self.namespace)
            .args(["images", "unmount"])
            .arg(&self.target)
            .command();
        unmount.stdin(Stdio::null());
        bounded(unmount);
        if is_mount_point(&self.target) {
            let mut umount = Command::new("umount");
            umount.arg(&self.target).stdin(Stdio::null());
            bounded(umount);
        }
    }
}
