//! Leftovers of killed runs in a build's output tree.
//!
//! Every artifact is written under a temporary name and renamed into place, so a run
//! killed mid-step (power loss, SIGKILL, a laptop that never woke up) leaves no
//! half-written file under a final name, but it does leave its temporary files. Their
//! names carry the writer's process id:
//!
//! - `.NAME.seedforge-PID-N.tmp` ([`crate::util::temp_path_beside`]: atomic writes and
//!   airgap archives),
//! - `.NAME.PID.iso-tmp` (ISO images),
//! - `.stage-NODE.PID/` (a seed ISO's staging folder), only directly under `OUT/iso/`:
//!   elsewhere a folder of that name is the user's and is left alone,
//! - `.NAME.tar.gz.seedforge-PID-N.tmp/` (a package bundle's staging folder of .debs).
//!
//! [`sweep`] removes those whose process is gone, so the next build leaves the tree as a
//! clean build would; files of a process that is still running are left alone. The OCI
//! layout keeps its own temporary files in `oci/.seedforge/` and cleans them itself; the
//! build state's folder (`OUT/.seedforge/`) is swept like any other.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

/// The process id a temporary name carries, if `name` is one of seedforge's temporary
/// names.
pub fn temp_owner(name: &str) -> Option<u32> {
    let hidden = name.strip_prefix('.')?;
    if let Some(rest) = hidden.strip_suffix(".tmp") {
        // NAME.seedforge-PID-N
        let (_, tail) = rest.rsplit_once(".seedforge-")?;
        let (pid, n) = tail.split_once('-')?;
        n.parse::<u64>().ok()?;
        return pid.parse().ok();
    }
    if let Some(rest) = hidden.strip_suffix(".iso-tmp") {
        // NAME.PID
        return rest.rsplit_once('.')?.1.parse().ok();
    }
    None
}

/// `text` with every path inside a staging folder of this process
/// (`DIR/.NAME.seedforge-PID-N.tmp/REST`, [`crate::util::temp_path_beside`] of a folder:
/// `apply`'s copy of the output and mirror of the config folder, a delta written before
/// its rename) written as the path it stands for (`DIR/NAME/REST`): what a build run in
/// the copy says names the operator's folder. Temporary names of files, and staging
/// folders of other processes, are left as they are.
pub fn as_meant(text: &str) -> std::borrow::Cow<'_, str> {
    let marker = format!(".seedforge-{}-", std::process::id());
    if !text.contains(&marker) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(&marker) {
        let after = &rest[at + marker.len()..];
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        let folder = digits > 0 && after[digits..].starts_with(".tmp/");
        // The name begins with its hiding `.` after the last `/` before it (or, in a
        // relative path, after the blank or quote that starts the word).
        let before = &rest[..at];
        let hidden = |i: Option<usize>| {
            let start = i.map_or(0, |i| i + 1);
            (before[start..].len() > 1 && before[start..].starts_with('.')).then_some(start)
        };
        let start = hidden(before.rfind('/'))
            .or_else(|| hidden(before.rfind(|c: char| c.is_whitespace() || c == '"' || c == '\'')));
        if let (true, Some(start)) = (folder, start) {
            let name = &before[start..];
            out.push_str(&before[..start]);
            out.push_str(&name[1..]);
            rest = &after[digits + ".tmp".len()..];
        } else {
            out.push_str(&rest[..at + marker.len()]);
            rest = after;
        }
    }
    out.push_str(rest);
    std::borrow::Cow::Owned(out)
}

/// The process id a seed ISO's staging folder name (`.stage-NODE.PID`) carries.
pub fn stage_owner(name: &str) -> Option<u32> {
    let rest = name.strip_prefix(".stage-")?;
    rest.rsplit_once('.')?.1.parse().ok()
}

/// True if a process with this id is running (on Linux, it has a `/proc` entry).
pub fn alive(pid: u32) -> bool {
    pid == std::process::id() || Path::new("/proc").join(pid.to_string()).exists()
}

/// Removes the temporary files and staging folders of dead seedforge processes under
/// `root` (recursively; the OCI layout's blobs and private folder are not walked) and in
/// each of `extra_dirs` (not recursively). Returns what was removed.
pub fn sweep(root: &Path, extra_dirs: &[&Path]) -> io::Result<Vec<PathBuf>> {
    let mut removed = Vec::new();
    let stages = root.join("iso");
    if root.is_dir() {
        sweep_dir(root, true, &stages, &mut removed)?;
    }
    for dir in extra_dirs {
        if dir.is_dir() {
            sweep_dir(dir, false, &stages, &mut removed)?;
        }
    }
    Ok(removed)
}

/// Removes the temporary files and folders of dead seedforge processes next to `path`
/// (a command's output file), as [`sweep`] does for a build's tree.
pub fn sweep_beside(path: &Path) -> io::Result<Vec<PathBuf>> {
    let mut removed = Vec::new();
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if dir.is_dir() {
        sweep_dir(dir, false, Path::new(""), &mut removed)?;
    }
    Ok(removed)
}

fn sweep_dir(
    dir: &Path,
    recurse: bool,
    stages: &Path,
    removed: &mut Vec<PathBuf>,
) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let file_type = entry.file_type()?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let owner = if dir == stages && file_type.is_dir() {
            stage_owner(&name).or_else(|| temp_owner(&name))
        } else if file_type.is_file() || file_type.is_dir() {
            // A folder under a temporary name is a package bundle's staging folder.
            temp_owner(&name)
        } else {
            None
        };
        if let Some(pid) = owner {
            if alive(pid) {
                continue;
            }
            if file_type.is_dir() {
                fs::remove_dir_all(&path)?;
            } else {
                fs::remove_file(&path)?;
            }
            removed.push(path);
            continue;
        }
        // An OCI layout's blobs and private folder are its own business.
        let in_layout = dir.join("oci-layout").is_file();
        let layout_private = in_layout && (name == ".seedforge" || name == "blobs");
        if recurse && file_type.is_dir() && !layout_private {
            sweep_dir(&path, true, stages, removed)?;
        }
    }
    Ok(())
}

/// The staging paths of one run, removed if the process is told to stop (SIGINT,
/// SIGTERM) while they exist. Whoever runs the work makes one (the command line does, per
/// run) and hands it to the writers that stage; clones share it.
///
/// The signal watcher takes this set's lock when a signal comes and keeps it until the
/// process ends, so whatever runs under it ([`Staging::create_dir`],
/// [`Staging::create_file`], [`Staging::unless_stopping`]) either finishes before the
/// staging paths are removed or never starts.
#[derive(Debug, Clone, Default)]
pub struct Staging {
    paths: Arc<Mutex<Vec<PathBuf>>>,
}

/// The one process-wide piece: the OS delivers a signal to the process, not to a run, so
/// one watcher thread waits for SIGINT and SIGTERM for the whole process. It is started
/// by [`Staging::watch`] or by the first [`Staging`] that stages anything, and holds a
/// clone of that one value (the command line's: a process runs one command); a path registered with another
/// `Staging` in the same process is not removed on a signal, and is left for
/// [`sweep`] and [`sweep_beside`] as after a SIGKILL.
static WATCHER: OnceLock<Staging> = OnceLock::new();

/// What the process says when a signal stops it ([`Staging::watch`]): the command line's,
/// called with the exit status once the staging paths are removed.
type OnStop = Box<dyn Fn(i32) + Send + Sync>;
static ON_STOP: OnceLock<OnStop> = OnceLock::new();

impl Staging {
    /// An empty set, not watched until it stages something.
    pub fn new() -> Staging {
        Staging::default()
    }

    /// Catches SIGINT and SIGTERM from now on, not only once something is staged, and
    /// calls `on_stop` with the status the process ends with (130, 143) after the staging
    /// paths are removed, just before it ends: the command line says there what happened.
    /// The first call in a process sets `on_stop`.
    pub fn watch(&self, on_stop: impl Fn(i32) + Send + Sync + 'static) {
        let _ = ON_STOP.set(Box::new(on_stop));
        drop(self.registered());
    }

    /// The set the process's signal watcher removes on SIGINT or SIGTERM (the command
    /// line's), for a writer that stages outside any run's output (a scratch folder under
    /// the system's temporary folder); a new set, watched from its first use, when there
    /// is none yet.
    pub fn of_process() -> Staging {
        WATCHER.get().cloned().unwrap_or_default()
    }

    fn registered(&self) -> MutexGuard<'_, Vec<PathBuf>> {
        WATCHER.get_or_init(|| {
            watch_signals(self.clone());
            self.clone()
        });
        self.paths.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// While the returned guard lives, `path` (a staging file or folder) is removed when
    /// the process receives SIGINT or SIGTERM, which then ends it with the status a shell
    /// gives (130, 143). What a signal cannot be caught for (SIGKILL, power loss) is left
    /// for [`sweep`] and [`sweep_beside`]. Register a path before it exists (or make it
    /// with [`Staging::create_dir`]): one made before would outlive a signal in between.
    pub fn remove_on_signal(&self, path: &Path) -> SignalGuard {
        self.registered().push(path.to_path_buf());
        self.guard(path)
    }

    /// Makes the staging folder `path` (and its parents) so that a SIGINT or SIGTERM
    /// removes it whenever it comes: the folder exists only while it is registered.
    pub fn create_dir(&self, path: &Path) -> io::Result<SignalGuard> {
        let mut paths = self.registered();
        fs::create_dir_all(path)?;
        paths.push(path.to_path_buf());
        Ok(self.guard(path))
    }

    /// Creates (or truncates) the staging file `path`, removed on SIGINT or SIGTERM as
    /// [`Staging::create_dir`] does for a folder.
    pub fn create_file(&self, path: &Path) -> io::Result<(fs::File, SignalGuard)> {
        let mut paths = self.registered();
        let file = fs::File::create(path)?;
        paths.push(path.to_path_buf());
        Ok((file, self.guard(path)))
    }

    /// Runs `f` unless a SIGINT or SIGTERM is being handled, and keeps one from being
    /// handled while it runs: the rename that publishes an output from its staging name,
    /// or a file made inside a staging folder, happens whole or not at all.
    pub fn unless_stopping<T>(&self, f: impl FnOnce() -> T) -> T {
        let _paths = self.registered();
        f()
    }

    fn guard(&self, path: &Path) -> SignalGuard {
        SignalGuard {
            staging: self.clone(),
            path: path.to_path_buf(),
        }
    }
}

/// Ends [`Staging::remove_on_signal`] for its path (the path itself is left as it is).
#[derive(Debug)]
pub struct SignalGuard {
    staging: Staging,
    path: PathBuf,
}

impl Drop for SignalGuard {
    fn drop(&mut self) {
        let mut paths = self
            .staging
            .paths
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(i) = paths.iter().position(|p| p == &self.path) {
            paths.remove(i);
        }
    }
}

/// Removes `path`, a folder or a file, retrying while another thread still writes into
/// it (a folder that gains an entry while it is emptied is not empty at the end). A
/// folder is first renamed to another staging name beside it, and an empty file takes its
/// name: a writer still running (a copy into it, a build inside it) finds its paths gone,
/// and one that makes folders on its way (`create_dir_all`) fails on that file instead of
/// making the staging folder anew. Says whether such a file was left at `path`, to be
/// removed as the process ends; the new names are ones [`sweep_beside`] removes, should
/// even that fail.
fn remove_staging(path: &Path) -> bool {
    let aside = crate::util::temp_path_beside(path);
    let is_dir = fs::symlink_metadata(path).is_ok_and(|m| m.is_dir());
    if !is_dir || fs::rename(path, &aside).is_err() {
        remove_path(path);
        return false;
    }
    let blocked = fs::File::create_new(path).is_ok();
    remove_path(&aside);
    blocked
}

/// Removes a folder or a file, retrying for about a second while it is still written to.
fn remove_path(path: &Path) {
    for _ in 0..200 {
        let gone = match fs::symlink_metadata(path) {
            Err(e) => e.kind() == io::ErrorKind::NotFound,
            Ok(m) if m.is_dir() => fs::remove_dir_all(path).is_ok(),
            Ok(_) => fs::remove_file(path).is_ok(),
        };
        if gone {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// Starts the thread that waits for SIGINT and SIGTERM for `staging`; both are caught
/// from here on.
fn watch_signals(staging: Staging) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
    else {
        return;
    };
    // Registered before returning, so a signal right after is already ours.
    let handlers = {
        let _context = rt.enter();
        (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        )
    };
    let (Ok(mut interrupt), Ok(mut terminate)) = handlers else {
        return;
    };
    std::thread::spawn(move || {
        let code = rt.block_on(async {
            tokio::select! {
                _ = interrupt.recv() => 128 + 2,
                _ = terminate.recv() => 128 + 15,
            }
        });
        // Held until the process ends: nothing new is staged or published from here on,
        // and the command line does not end the process under another status meanwhile
        // ([`Staging::unless_stopping`] before it returns).
        let paths = staging.paths.lock().unwrap_or_else(PoisonError::into_inner);
        let placeholders: Vec<&PathBuf> = paths.iter().filter(|p| remove_staging(p)).collect();
        if let Some(on_stop) = ON_STOP.get() {
            on_stop(code);
        }
        // Last, the files that kept writers from making the staging folders anew.
        for p in &placeholders {
            let _ = fs::remove_file(p);
        }
        std::process::exit(code);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_staging_set_holds_its_own_paths_while_their_guards_live() {
        let dir = tempfile::tempdir().unwrap();
        let (one, two) = (Staging::new(), Staging::new());
        let folder = dir.path().join(".b.tar.gz.seedforge-1-0.tmp/debs");
        let guard = one.create_dir(&folder).unwrap();
        let (_file, file_guard) = two.create_file(&dir.path().join("t")).unwrap();
        let held = |s: &Staging| s.paths.lock().unwrap().clone();
        assert_eq!(held(&one), std::slice::from_ref(&folder));
        assert_eq!(held(&two), [dir.path().join("t")]);
        // A clone is the same set.
        let _also = one.clone().remove_on_signal(&dir.path().join("later"));
        assert_eq!(held(&one).len(), 2);
        drop(guard);
        assert_eq!(held(&one), [dir.path().join("later")]);
        assert!(folder.is_dir(), "dropping the guard leaves the path alone");
        drop(file_guard);
        assert!(held(&two).is_empty());
        assert_eq!(two.unless_stopping(|| 7), 7);
    }

    #[test]
    fn temporary_names_carry_their_writer() {
        assert_eq!(temp_owner(".index.json.seedforge-41-3.tmp"), Some(41));
        assert_eq!(
            temp_owner(".k3s-airgap-images-amd64.tar.zst.seedforge-7-0.tmp"),
            Some(7)
        );
        assert_eq!(temp_owner(".seed-n1.iso.99.iso-tmp"), Some(99));
        assert_eq!(stage_owner(".stage-lab-server1.1234"), Some(1234));
        assert_eq!(temp_owner(".stage-lab-server1.1234"), None);
        for not_temp in [
            "index.json",
            ".seedforge",
            "x.seedforge-1-2.tmp",
            ".a.seedforge-x-2.tmp",
            ".stage-node",
            ".a.iso-tmp",
        ] {
            assert_eq!(temp_owner(not_temp), None, "{not_temp}");
        }
    }

    #[test]
    fn a_dead_bundles_staging_folder_beside_its_output_is_swept() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("ops.tar.gz");
        let dead = dir.path().join(".ops.tar.gz.seedforge-4194305-0.tmp");
        let live = dir.path().join(format!(
            ".ops.tar.gz.seedforge-{}-1.tmp",
            std::process::id()
        ));
        for d in [&dead, &live] {
            fs::create_dir_all(d).unwrap();
            fs::write(d.join("jq_1.6_amd64.deb"), "deb").unwrap();
        }
        fs::write(dir.path().join("notes.txt"), "mine").unwrap();
        assert_eq!(sweep_beside(&out).unwrap(), vec![dead.clone()]);
        assert!(!dead.exists() && live.exists());
        assert!(dir.path().join("notes.txt").exists());
    }

    #[test]
    fn sweep_removes_dead_writers_files_and_keeps_live_ones() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        // No process has pid 4194304 or more (the kernel's pid_max limit).
        let dead = 4_194_305u32;
        let live = std::process::id();
        fs::create_dir_all(root.join("nodes/n1")).unwrap();
        fs::create_dir_all(root.join("iso")).unwrap();
        fs::create_dir_all(root.join("oci/blobs/sha256")).unwrap();
        fs::write(root.join("oci/oci-layout"), "{}").unwrap();
        fs::create_dir_all(root.join(".seedforge")).unwrap();
        let dead_files = [
            root.join(format!("nodes/n1/.user-data.seedforge-{dead}-0.tmp")),
            root.join(format!("iso/.seed-n1.iso.{dead}.iso-tmp")),
            root.join(format!(".registries.yaml.seedforge-{dead}-3.tmp")),
            root.join(format!(".seedforge/.state.json.seedforge-{dead}-9.tmp")),
        ];
        for f in &dead_files {
            fs::write(f, "half").unwrap();
        }
        let dead_stage = root.join(format!("iso/.stage-n1.{dead}"));
        fs::create_dir_all(dead_stage.join("payload")).unwrap();
        fs::write(dead_stage.join("user-data"), "token").unwrap();
        let kept = [
            root.join(format!("iso/.seed-n2.iso.{live}.iso-tmp")),
            root.join("nodes/n1/user-data"),
            root.join(format!("oci/blobs/sha256/.x.seedforge-{dead}-0.tmp")),
        ];
        for f in &kept {
            fs::write(f, "keep").unwrap();
        }
        // A folder named like a staging folder anywhere but OUT/iso/ is the user's.
        let user_stage = root.join(format!("docs/.stage-draft.{dead}"));
        fs::create_dir_all(&user_stage).unwrap();
        fs::write(user_stage.join("notes.txt"), "mine").unwrap();
        let config_dir = tempfile::tempdir().unwrap();
        let export_stage = config_dir.path().join(format!(".stage-photos.{dead}"));
        fs::create_dir_all(&export_stage).unwrap();
        let lock_tmp = config_dir
            .path()
            .join(format!(".seedforge.lock.seedforge-{dead}-1.tmp"));
        fs::write(&lock_tmp, "{").unwrap();
        let mut removed = sweep(root, &[config_dir.path()]).unwrap();
        removed.sort();
        let mut want: Vec<PathBuf> = dead_files.to_vec();
        want.push(dead_stage.clone());
        want.push(lock_tmp.clone());
        want.sort();
        assert_eq!(removed, want);
        assert!(!dead_stage.exists() && !lock_tmp.exists());
        assert!(user_stage.join("notes.txt").exists() && export_stage.exists());
        for f in &kept {
            assert!(f.exists(), "{} was removed", f.display());
        }
        assert!(sweep(&root.join("absent"), &[]).unwrap().is_empty());
    }

    #[test]
    fn a_staging_folder_taken_away_on_a_signal_cannot_be_made_anew_by_a_late_writer() {
        let dir = tempfile::tempdir().unwrap();
        let stage = dir
            .path()
            .join(format!(".out.seedforge-{}-1.tmp", std::process::id()));
        fs::create_dir_all(stage.join("oci/blobs")).unwrap();
        fs::write(stage.join("oci/blobs/a"), "a").unwrap();
        assert!(remove_staging(&stage));
        // A writer still running that makes its folders on the way fails, and nothing but
        // the file that stops it is left.
        assert!(fs::create_dir_all(stage.join("oci/blobs")).is_err());
        assert!(fs::write(stage.join("iso"), "x").is_err());
        let names = |d: &Path| -> Vec<PathBuf> {
            fs::read_dir(d)
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect()
        };
        assert_eq!(names(dir.path()), vec![stage.clone()]);
        assert!(stage.is_file());
        fs::remove_file(&stage).unwrap();
        assert!(names(dir.path()).is_empty());
        // A file is removed as it is, and leaves nothing to remove later.
        let file = dir.path().join(".f.seedforge-1-2.tmp");
        fs::write(&file, "f").unwrap();
        assert!(!remove_staging(&file));
        assert!(!file.exists());
    }

    #[test]
    fn a_path_in_this_process_staging_folder_is_shown_as_the_one_it_stands_for() {
        let pid = std::process::id();
        let text = format!(
            "/srv/.lab.seedforge-{pid}-0.tmp/seedforge.yaml:12:17: cluster.token.file: /srv/.lab.seedforge-{pid}-0.tmp/token: gone; \
             .out.seedforge-{pid}-3.tmp/iso/seed-a.iso differs; '/x/.lab out.seedforge-{pid}-1.tmp/y'"
        );
        assert_eq!(
            as_meant(&text),
            "/srv/lab/seedforge.yaml:12:17: cluster.token.file: /srv/lab/token: gone; \
             out/iso/seed-a.iso differs; '/x/lab out/y'"
        );
        // A file's temporary name, another process's folder, and text without any: as they are.
        let other = pid + 1;
        for text in [
            format!("/srv/out/.manifest.json.seedforge-{pid}-2.tmp: no space"),
            format!("/srv/.lab.seedforge-{other}-0.tmp/token"),
            "/srv/lab/token".to_string(),
        ] {
            assert_eq!(as_meant(&text), text);
        }
    }
}
