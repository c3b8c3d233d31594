//! containerd as a judge: a private daemon (its root, state and socket in a temporary
//! folder, killed by its PID when dropped), `ctr` against it, and images mounted with
//! `ctr images mount` that are unmounted again when the guard is dropped.

use super::{ChildGuard, Cmd};
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// A private containerd (run as root) with its root, state, socket and config in a
/// temporary directory and the CRI plugin disabled. Killed (by its PID) when dropped.
pub struct Containerd {
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
    pub fn start() -> Containerd {
        let dir = tempfile::Builder::new()
            .prefix("seedforge-containerd-")
            .tempdir()
            .expect("tempdir");
        let d = dir.path();
        let socket = d.join("containerd.sock");
        let config = d.join("config.toml");
        let q = |p: &Path| format!("{:?}", p.display().to_string());
        fs::write(
            &config,
            format!(
                "version = 2\nroot = {}\nstate = {}\n\
                 disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n\n\
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
        let child = Command::new("containerd")
            .arg("--config")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().unwrap())
            .stderr(log_file)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start containerd: {e}"));
        let mut cd = Containerd {
            guard: ChildGuard(Some(child)),
            socket,
            log,
            dir,
        };
        let deadline = Instant::now() + Self::START_TIMEOUT;
        loop {
            if let Some(status) = cd.guard.child().try_wait().expect("try_wait") {
                panic!("containerd exited early ({status}):\n{}", cd.log_text());
            }
            if cd.socket.exists() {
                let out = Cmd::new("ctr")
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
        Cmd::new("ctr")
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
