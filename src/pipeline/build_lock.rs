//! One build at a time per output folder.
//!
//! `build` holds an exclusive `flock` on `OUT/.seedforge-build.lock` from before its first
//! write until it ends, the same kind of lock the layout takes on its directory for
//! `index.json` updates (see [`crate::oci::layout`]). A second build on the same folder waits
//! for it (or, with `--no-wait`, fails at once naming the folder and the holder's pid). The
//! kernel drops the lock when the holder exits however it exits, so a killed build never
//! leaves the folder locked. The file stays (empty) between builds; `clean` removes it while
//! holding it, and a process that locked a file which has meanwhile been removed (or
//! replaced) notices by comparing inodes and locks the new one instead, so two processes
//! never both hold "the" lock.
//!
//! The commands that only read an output (`verify`, `receipt`, `delta`, `push`, `airgap`)
//! take the same lock shared ([`BuildLock::acquire_shared`]): they wait for a running build (or, with
//! `--no-wait`, fail at once) instead of reading a half-written output, and a build waits
//! for them; readers do not wait for each other.
//!
//! Planning writes nothing and takes no lock; a build that had to wait plans again, since
//! the folder may have changed meanwhile. So does one whose lock found the undo set of a
//! build that was killed ([`crate::pipeline::undo`]): taking the lock rolls it back first,
//! before the holder reads or writes anything, so `build`, `apply` and `clean` all start
//! from the output as it was last sealed.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::ErrorKind;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

/// The lock file's name inside the output folder.
pub const LOCK_FILE_NAME: &str = ".seedforge-build.lock";

/// The output folder could not be locked.
#[derive(Debug, thiserror::Error)]
pub enum BuildLockError {
    /// Another build holds the folder (or, for a build, a command reading it) and waiting
    /// was not allowed.
    #[error(
        "{}: another seedforge {} ({}) is {} this folder; run again when it is done, or without --no-wait to wait for it",
        dir.display(),
        if *reading { "command" } else { "build" },
        pid_text(*pid),
        if *reading { "reading" } else { "writing to" }
    )]
    Busy {
        /// The output folder.
        dir: PathBuf,
        /// The holder's pid, when the kernel says.
        pid: Option<u32>,
        /// The holder reads the folder (a shared lock: `verify`, `receipt`, …).
        reading: bool,
    },
    /// Creating or locking the lock file failed.
    #[error("{}: cannot lock the output folder: {source}", path.display())]
    Io {
        /// The lock file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Putting back what a killed build changed failed.
    #[error(
        "{}: cannot put back the files an interrupted build replaced: {source}",
        path.display()
    )]
    Undo {
        /// The file or folder that could not be put back or removed.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

impl BuildLockError {
    /// True when another build holds the folder: another run later may succeed (exit 75).
    pub fn is_transient(&self) -> bool {
        matches!(self, BuildLockError::Busy { .. })
    }
}

fn nofollow_nonblock() -> i32 {
    let flags = rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK;
    i32::try_from(flags.bits()).unwrap_or(0)
}

/// `pid N`, or `pid unknown`.
pub fn pid_text(pid: Option<u32>) -> String {
    pid.map_or_else(|| "pid unknown".to_string(), |p| format!("pid {p}"))
}

/// The exclusive lock on an output folder; released when dropped (or when the process
/// ends).
#[derive(Debug)]
pub struct BuildLock {
    _file: File,
    path: PathBuf,
    waited: bool,
}

impl BuildLock {
    /// Locks `dir` (created if needed). When another process holds it: with `wait`,
    /// calls `on_wait` with the holder's pid once and blocks until it is free; without,
    /// fails with [`BuildLockError::Busy`].
    pub fn acquire(
        dir: &Path,
        wait: bool,
        on_wait: &mut dyn FnMut(Option<u32>),
    ) -> Result<BuildLock, BuildLockError> {
        let path = dir.join(LOCK_FILE_NAME);
        let io = |source| BuildLockError::Io {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let mut waited = false;
        loop {
            // Opened to be locked, never read. A FIFO, device or symbolic link planted at
            // its name is refused without blocking: seedforge makes only a regular file.
            let file = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false)
                .custom_flags(nofollow_nonblock())
                .open(&path)
                .map_err(|e| match e.raw_os_error() {
                    Some(code) if code == rustix::io::Errno::LOOP.raw_os_error() => io(
                        std::io::Error::other("is a symbolic link, not a regular file"),
                    ),
                    _ => io(e),
                })?;
            if !file.metadata().map_err(io)?.is_file() {
                return Err(io(std::io::Error::other("is not a regular file")));
            }
            match file.try_lock() {
                Ok(()) => {}
                Err(TryLockError::WouldBlock) => {
                    let holder = holder(&file);
                    let pid = holder.map(|(pid, _)| pid);
                    if !wait {
                        return Err(BuildLockError::Busy {
                            dir: dir.to_path_buf(),
                            pid,
                            reading: holder.is_some_and(|(_, reading)| reading),
                        });
                    }
                    if !waited {
                        on_wait(pid);
                    }
                    file.lock().map_err(io)?;
                    waited = true;
                }
                Err(TryLockError::Error(e)) => return Err(io(e)),
            }
            // The holder we waited for may have removed the file (`clean`): our lock is
            // then on a file nobody else will open; lock the one at the path instead.
            if same_file(&file, &path) {
                // What a killed build left changed is put back before anything else.
                let restored = crate::pipeline::undo::recover(dir)
                    .map_err(|(path, source)| BuildLockError::Undo { path, source })?;
                waited |= !restored.is_empty();
                return Ok(BuildLock {
                    _file: file,
                    path,
                    waited,
                });
            }
        }
    }

    /// Locks `dir` shared, for a command that only reads it (`verify`, `receipt`,
    /// `delta`): readers do not wait for each other, and a build waits for them as they
    /// wait for a build (with `wait`, calling `on_wait` once; without, failing with
    /// [`BuildLockError::Busy`]). Nothing is created: a folder without the lock file
    /// (never built into, an export or delta folder), or whose lock file this user cannot
    /// open, is read unlocked (`None`). A killed build's undo set found under the lock is
    /// rolled back first, as [`BuildLock::acquire`] does, under the exclusive lock.
    pub fn acquire_shared(
        dir: &Path,
        wait: bool,
        on_wait: &mut dyn FnMut(Option<u32>),
    ) -> Result<Option<BuildLock>, BuildLockError> {
        let path = dir.join(LOCK_FILE_NAME);
        let io = |source| BuildLockError::Io {
            path: path.clone(),
            source,
        };
        let mut waited = false;
        let mut said = false;
        let mut once = |pid| {
            if !std::mem::replace(&mut said, true) {
                on_wait(pid);
            }
        };
        loop {
            // Read-only: a reader writes nothing, and a medium mounted read-only is read.
            // A FIFO, device or symbolic link at its name is refused without blocking.
            let file = match crate::input::open_found(&path) {
                Ok((file, _)) => file,
                Err(crate::input::InputError::Io { source, .. })
                    if matches!(
                        source.kind(),
                        ErrorKind::NotFound | ErrorKind::PermissionDenied
                    ) =>
                {
                    return Ok(None);
                }
                Err(crate::input::InputError::Io { source, .. }) => return Err(io(source)),
                Err(refused) => return Err(io(std::io::Error::other(refused.reason()))),
            };
            match file.try_lock_shared() {
                Ok(()) => {}
                Err(TryLockError::WouldBlock) => {
                    let pid = holder_pid(&file);
                    if !wait {
                        return Err(BuildLockError::Busy {
                            dir: dir.to_path_buf(),
                            pid,
                            reading: false,
                        });
                    }
                    once(pid);
                    file.lock_shared().map_err(io)?;
                    waited = true;
                }
                Err(TryLockError::Error(e)) => return Err(io(e)),
            }
            if !same_file(&file, &path) {
                continue;
            }
            if !crate::pipeline::undo::undo_dir(dir).is_dir() {
                return Ok(Some(BuildLock {
                    _file: file,
                    path,
                    waited,
                }));
            }
            // A killed build's undo set: rolled back under the exclusive lock, then read.
            drop(file);
            let exclusive = BuildLock::acquire(dir, wait, &mut once)?;
            waited |= exclusive.waited();
        }
    }

    /// Removes the lock file while holding it (what `clean` does last), then releases it.
    pub fn remove(self) -> std::io::Result<()> {
        match std::fs::remove_file(&self.path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// True when the folder may have changed since it was planned: another build held it
    /// and this one waited for it, or a killed build's changes were rolled back.
    pub fn waited(&self) -> bool {
        self.waited
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// True while the lock file at the folder's path is still the one locked (an `apply`
    /// that made another output current, or a `clean`, replaced or removed it).
    pub fn still_at_path(&self) -> bool {
        same_file(&self._file, &self.path)
    }

    /// True when a process waits to lock the folder exclusively (a build, `apply`, `gc`
    /// or `clean` blocked on this shared lock): a `->` line for its inode in
    /// `/proc/locks` asking for `WRITE`.
    pub fn writer_waits(&self) -> bool {
        use std::os::unix::fs::MetadataExt as _;
        let Ok(meta) = self._file.metadata() else {
            return false;
        };
        let Ok(locks) = crate::input::read_to_string(
            std::path::Path::new("/proc/locks"),
            crate::input::Kind::Text,
        ) else {
            return false;
        };
        writer_waits_in(&locks, meta.ino())
    }
}

/// Whether one reading of `/proc/locks` holds a waiter for an exclusive `flock` on `ino`:
/// `N: -> FLOCK ADVISORY WRITE PID MAJ:MIN:INODE START END`.
fn writer_waits_in(locks: &str, ino: u64) -> bool {
    let suffix = format!(":{ino}");
    locks.lines().any(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        matches!(
            fields.as_slice(),
            [_, "->", "FLOCK", _, "WRITE", _, id, ..] if id.ends_with(&suffix)
        )
    })
}

/// True when `path` still names the open `file`.
fn same_file(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// The pid holding a `flock` on `file`, from `/proc/locks` (Linux, WSL2). Matched by inode,
/// preferring an entry on the same device.
///
/// The kernel hands `/proc/locks` out one `read` at a time, and an entry can be skipped when
/// other processes take or drop locks between two reads (seen in 4% of readings made in
/// 32-byte-then-doubling pieces while six processes locked and unlocked); the input reader
/// asks for such a file in large reads, and a reading that finds no holder is tried again
/// before the holder is called unknown.
pub fn holder_pid(file: &File) -> Option<u32> {
    holder(file).map(|(pid, _)| pid)
}

/// [`holder_pid`], and whether that holder's lock is shared (a command reading the folder).
fn holder(file: &File) -> Option<(u32, bool)> {
    use std::os::unix::fs::MetadataExt as _;
    let meta = file.metadata().ok()?;
    let dev = meta.dev();
    let (major, minor) = (
        ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff),
        (dev & 0xff) | ((dev >> 12) & !0xff),
    );
    let same_dev = format!("{major:02x}:{minor:02x}:{}", meta.ino());
    let ino_suffix = format!(":{}", meta.ino());
    for attempt in 0..5 {
        if attempt > 0 {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let locks = crate::input::read_to_string(
            std::path::Path::new("/proc/locks"),
            crate::input::Kind::Text,
        )
        .ok()?;
        if let Some(pid) = holder_in(&locks, &same_dev, &ino_suffix) {
            return Some(pid);
        }
    }
    None
}

/// The holder of the lock named `MAJ:MIN:INODE` (`same_dev`), else the first holder of a
/// lock on that inode on any device, in one reading of `/proc/locks`, and whether its lock
/// is shared (`READ`).
fn holder_in(locks: &str, same_dev: &str, ino_suffix: &str) -> Option<(u32, bool)> {
    let mut by_inode = None;
    for line in locks.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        // `N: FLOCK ADVISORY WRITE PID MAJ:MIN:INODE START END`; waiters have `->` second.
        let [_, kind, _, access, pid, id, ..] = fields.as_slice() else {
            continue;
        };
        if *kind != "FLOCK" {
            continue;
        }
        let Ok(pid) = pid.parse::<u32>() else {
            continue;
        };
        let holder = (pid, *access == "READ");
        if *id == same_dev {
            return Some(holder);
        }
        if id.ends_with(ino_suffix) {
            by_inode.get_or_insert(holder);
        }
    }
    by_inode
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_writer_waiting_on_a_shared_lock_is_seen() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        drop(BuildLock::acquire(&out, false, &mut |_| panic!("no wait")).unwrap());
        let reader = BuildLock::acquire_shared(&out, false, &mut |_| panic!("no wait"))
            .unwrap()
            .unwrap();
        assert!(reader.still_at_path());
        assert!(!reader.writer_waits());
        let writer = std::thread::spawn({
            let out = out.clone();
            move || drop(BuildLock::acquire(&out, true, &mut |_| {}).unwrap())
        });
        let until = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !reader.writer_waits() {
            assert!(
                std::time::Instant::now() < until,
                "the writer is never seen"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        drop(reader);
        writer.join().unwrap();
        assert!(!writer_waits_in(
            "1: FLOCK  ADVISORY  WRITE 9 08:01:77 0 EOF",
            77
        ));
        assert!(writer_waits_in(
            "1: FLOCK  ADVISORY  READ 8 08:01:77 0 EOF\n1: -> FLOCK  ADVISORY  WRITE 9 08:01:77 0 EOF",
            77
        ));
        assert!(!writer_waits_in(
            "1: -> FLOCK  ADVISORY  READ 9 08:01:77 0 EOF",
            77
        ));
    }

    #[test]
    fn a_held_folder_names_the_holder_and_no_wait_fails() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let held = BuildLock::acquire(&out, false, &mut |_| panic!("no wait")).unwrap();
        assert!(!held.waited());
        // A second open file description conflicts with the first, as another process would.
        let err = BuildLock::acquire(&out, false, &mut |_| panic!("no wait")).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains(&out.display().to_string()), "{msg}");
        assert!(
            msg.contains(&format!("pid {}", std::process::id())),
            "{msg}"
        );
        drop(held);
        let again = BuildLock::acquire(&out, false, &mut |_| panic!("no wait")).unwrap();
        assert_eq!(again.path(), out.join(LOCK_FILE_NAME));
    }

    #[test]
    fn readers_share_the_lock_and_wait_for_a_build_and_a_build_for_them() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        // No lock file: nothing to lock, nothing created.
        assert!(
            BuildLock::acquire_shared(&out, false, &mut |_| panic!("no wait"))
                .unwrap()
                .is_none()
        );
        assert!(!out.exists());
        let build = BuildLock::acquire(&out, false, &mut |_| panic!("no wait")).unwrap();
        let busy = BuildLock::acquire_shared(&out, false, &mut |_| panic!("no wait"));
        assert!(
            busy.as_ref().is_err_and(BuildLockError::is_transient),
            "{busy:?}"
        );
        drop(build);
        let one = BuildLock::acquire_shared(&out, false, &mut |_| panic!("no wait")).unwrap();
        let two = BuildLock::acquire_shared(&out, false, &mut |_| panic!("no wait")).unwrap();
        assert!(one.is_some() && two.is_some());
        let build = BuildLock::acquire(&out, false, &mut |_| {}).unwrap_err();
        let text = build.to_string();
        assert!(
            text.contains("another seedforge command (pid ") && text.contains("is reading"),
            "{text}"
        );
        drop((one, two));
        // A reader that waits gets the lock once the build is done.
        let build = BuildLock::acquire(&out, false, &mut |_| {}).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::scope(|s| {
            let reader = s.spawn(|| {
                BuildLock::acquire_shared(&out, true, &mut |_| {
                    let _ = tx.send(());
                })
                .unwrap()
                .map(|l| l.waited())
            });
            rx.recv().unwrap();
            drop(build);
            assert_eq!(reader.join().unwrap(), Some(true));
        });
    }

    #[test]
    fn a_reader_rolls_a_killed_builds_undo_set_back_first() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path();
        drop(BuildLock::acquire(out, false, &mut |_| {}).unwrap());
        let undo = crate::pipeline::undo::undo_dir(out);
        std::fs::create_dir_all(&undo).unwrap();
        let lock = BuildLock::acquire_shared(out, false, &mut |_| {}).unwrap();
        assert!(lock.is_some());
        assert!(!undo.exists(), "the undo set is still there");
    }

    #[test]
    fn the_holder_is_read_from_proc_locks_preferring_its_own_device() {
        let locks = "1: POSIX  ADVISORY  WRITE 10 00:2a:77 0 EOF\n\
                     2: FLOCK  ADVISORY  WRITE 11 08:01:77 0 EOF\n\
                     2: -> FLOCK  ADVISORY  WRITE 12 00:2a:77 0 EOF\n\
                     3: FLOCK  ADVISORY  WRITE 13 00:2a:77 0 EOF\n\
                     4: FLOCK  ADVISORY  READ 14 00:2a:79 0 EOF\n";
        assert_eq!(holder_in(locks, "00:2a:77", ":77"), Some((13, false)));
        assert_eq!(holder_in(locks, "00:2b:77", ":77"), Some((11, false)));
        assert_eq!(holder_in(locks, "00:2a:78", ":78"), None);
        assert_eq!(holder_in(locks, "00:2a:79", ":79"), Some((14, true)));
    }

    #[test]
    fn the_holder_is_found_while_other_processes_lock_and_unlock() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let _held = BuildLock::acquire(&out, false, &mut |_| panic!("no wait")).unwrap();
        let stop = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|s| {
            for i in 0..4 {
                let (dir, stop) = (dir.path(), &stop);
                s.spawn(move || {
                    let f = File::create(dir.join(format!("churn{i}"))).unwrap();
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        f.lock().unwrap();
                        f.unlock().unwrap();
                    }
                });
            }
            let mut missed = Vec::new();
            for _ in 0..200 {
                let msg = match BuildLock::acquire(&out, false, &mut |_| {}) {
                    Err(err) => err.to_string(),
                    Ok(_) => "the lock was taken twice".to_string(),
                };
                if !msg.contains(&format!("pid {}", std::process::id())) {
                    missed.push(msg);
                }
            }
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            assert!(
                missed.is_empty(),
                "{} of 200: {:?}",
                missed.len(),
                missed.first()
            );
        });
    }

    #[test]
    fn waiting_reports_once_then_gets_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let held = BuildLock::acquire(dir.path(), true, &mut |_| {}).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::scope(|s| {
            let waiter = s.spawn(move || {
                let mut calls = Vec::new();
                let lock = BuildLock::acquire(dir.path(), true, &mut |pid| {
                    calls.push(pid);
                    let _ = tx.send(());
                })
                .unwrap();
                (lock.waited(), calls)
            });
            rx.recv().unwrap();
            drop(held);
            let (waited, calls) = waiter.join().unwrap();
            assert!(waited);
            assert_eq!(calls, vec![Some(std::process::id())]);
        });
    }

    #[test]
    fn a_waiter_whose_file_was_removed_locks_the_new_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path();
        let held = BuildLock::acquire(path, true, &mut |_| {}).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::scope(|s| {
            let waiter = s.spawn(move || {
                BuildLock::acquire(path, true, &mut |_| {
                    let _ = tx.send(());
                })
                .unwrap()
            });
            rx.recv().unwrap();
            held.remove().unwrap();
            let lock = waiter.join().unwrap();
            // The waiter holds the file now at the path: a third process conflicts with it.
            assert!(lock.path().is_file());
            assert!(BuildLock::acquire(path, false, &mut |_| {}).is_err());
        });
    }
}
