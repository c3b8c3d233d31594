//! One rule for every file a user hands seedforge: where a file is expected, only a
//! regular file is read, and no more than the size its kind can reasonably have.
//!
//! Without the rule a FIFO given as a token or config blocks the build forever, `/dev/zero`
//! as a token file grows memory until the machine swaps, and a 4 GiB `manifest.json` is read
//! whole. Files are opened non-blocking (so opening a FIFO returns at once), checked with
//! `fstat` on the open handle (so a swap between the check and the read changes nothing),
//! and read through a limit one byte past the cap (so a file that grows while it is read is
//! still refused). Large inputs (blobs, payloads, .debs) are streamed from the handle that
//! [`open_regular`] returns, never read whole.
//!
//! The rule holds for the files seedforge finds as much as for those it is given: what an
//! earlier run left in the output folder, in `export_dir`, in the package cache and in the
//! build state may have been replaced since. Such a file is opened with [`open_found`] /
//! [`read_found`], which also refuse a symbolic link in its place (a link there was
//! planted: seedforge writes none). This module is the only code of the library that opens
//! a file to read it (`clippy.toml` refuses `std::fs::read`, `File::open` and their kin
//! elsewhere), so a new reader cannot miss the rule.

use std::fs::File;
use std::io::{self, Read as _};
use std::os::unix::fs::{FileTypeExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

/// A position in an input file (the config's entries carry theirs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    /// 1-based line.
    pub line: u64,
    /// 1-based column.
    pub column: u64,
}

/// Where in an input file an error is: the file, and its line and column when known
/// (a config error has both, an image list's line its line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    /// The file.
    pub file: PathBuf,
    /// 1-based line.
    pub line: Option<u64>,
    /// 1-based column.
    pub column: Option<u64>,
}

impl Place {
    /// The file alone.
    pub fn file(file: &Path) -> Place {
        Place {
            file: file.to_path_buf(),
            line: None,
            column: None,
        }
    }

    /// A line of the file.
    pub fn line(file: &Path, line: u64) -> Place {
        Place {
            line: Some(line),
            ..Place::file(file)
        }
    }
}

/// The kinds of small input files, each with its size cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `seedforge.yaml`.
    Config,
    /// An image list (`SOURCE [DESTINATION]` lines).
    ImageList,
    /// A file holding a secret (the join token, a registry password).
    Secret,
    /// Another tool's credential file (Docker's `config.json`, podman's `auth.json`).
    AuthFile,
    /// A build output's `manifest.json`.
    Manifest,
    /// A build output's `SHA256SUMS`.
    Sums,
    /// The incremental build state, `.seedforge/state.json`.
    State,
    /// A JSON document of an OCI layout (`index.json`, a manifest, a config).
    OciDocument,
    /// A node template or another small text input (certificates, keys, package lists).
    Text,
    /// `seedforge.lock`, the digests a build pinned.
    Lock,
    /// A Helm chart archive (`.tgz`) kept in the output.
    Chart,
}

impl Kind {
    /// The largest file of this kind seedforge reads, in bytes.
    pub fn cap(self) -> u64 {
        const MIB: u64 = 1024 * 1024;
        match self {
            Kind::Config => 4 * MIB,
            Kind::ImageList => 16 * MIB,
            Kind::Secret => 64 * 1024,
            Kind::AuthFile => 4 * MIB,
            Kind::Manifest | Kind::Sums => 64 * MIB,
            Kind::State => 256 * MIB,
            Kind::OciDocument => 4 * MIB,
            Kind::Text => 16 * MIB,
            Kind::Lock => 64 * MIB,
            Kind::Chart => 20 * MIB,
        }
    }

    /// What the kind is called in messages.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Config => "config file",
            Kind::ImageList => "image list",
            Kind::Secret => "secret file",
            Kind::AuthFile => "credential file",
            Kind::Manifest => "manifest.json",
            Kind::Sums => "SHA256SUMS",
            Kind::State => "build state file",
            Kind::OciDocument => "OCI JSON document",
            Kind::Text => "input file",
            Kind::Lock => "lock file",
            Kind::Chart => "chart archive",
        }
    }
}

/// Why an input file was not read.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// The path names something other than a regular file.
    #[error("{}: is {found}, not a regular file", path.display())]
    NotAFile {
        /// The path.
        path: PathBuf,
        /// What it is instead (`a FIFO`, `a directory`, …).
        found: &'static str,
    },
    /// The file is larger than its kind may be.
    #[error("{}: larger than the {cap}-byte limit for a {what}", path.display())]
    TooLarge {
        /// The path.
        path: PathBuf,
        /// The kind's name.
        what: &'static str,
        /// The limit.
        cap: u64,
    },
    /// Opening or reading failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

impl InputError {
    /// True for files that are wrong as given (not regular, too large); false when the
    /// system failed to read a file that is fine.
    pub fn is_invalid_input(&self) -> bool {
        match self {
            InputError::NotAFile { .. } | InputError::TooLarge { .. } => true,
            InputError::Io { source, .. } => matches!(
                source.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::PermissionDenied
            ),
        }
    }

    /// The error as an `io::Error` (for modules whose errors wrap one), keeping the kind
    /// of an I/O failure and the message of a refusal.
    pub fn into_io(self) -> io::Error {
        match self {
            InputError::Io { source, .. } => source,
            other => io::Error::new(io::ErrorKind::InvalidInput, other.reason()),
        }
    }

    /// The message without the path (for errors that print the path themselves).
    pub fn reason(&self) -> String {
        match self {
            InputError::NotAFile { found, .. } => format!("is {found}, not a regular file"),
            InputError::TooLarge { what, cap, .. } => {
                format!("larger than the {cap}-byte limit for a {what}")
            }
            InputError::Io { source, .. } => source.to_string(),
        }
    }
}

/// What a non-regular file is, for messages.
pub fn describe(ft: std::fs::FileType) -> &'static str {
    if ft.is_dir() {
        "a directory"
    } else if ft.is_fifo() {
        "a FIFO"
    } else if ft.is_char_device() {
        "a character device"
    } else if ft.is_block_device() {
        "a block device"
    } else if ft.is_socket() {
        "a socket"
    } else {
        "not a file"
    }
}

/// Opens `path` for reading if it is a regular file (following symbolic links, as a
/// user's input path may be one). Opening never blocks, even on a FIFO.
pub fn open_regular(path: &Path) -> Result<File, InputError> {
    open_regular_with_metadata(path).map(|(file, _)| file)
}

/// [`open_regular`], giving the open file's metadata as well.
pub fn open_regular_with_metadata(path: &Path) -> Result<(File, std::fs::Metadata), InputError> {
    let nonblock = rustix::fs::OFlags::NONBLOCK.bits();
    #[allow(clippy::disallowed_methods)] // the one reader
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(i32::try_from(nonblock).unwrap_or(0) | noctty())
        .open(path)
        .map_err(|source| InputError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    regular(file, &|| path.to_path_buf())
}

/// [`open_regular_with_metadata`] of the file `name` in the open directory `dir`: one
/// name looked up, not every folder of a long path again. `path` gives the file's whole
/// path, made only for an error.
pub fn open_regular_at(
    dir: std::os::fd::BorrowedFd<'_>,
    name: &str,
    path: &dyn Fn() -> PathBuf,
) -> Result<(File, std::fs::Metadata), InputError> {
    use rustix::fs::OFlags;
    let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
    let fd = rustix::fs::openat(dir, name, flags, rustix::fs::Mode::empty()).map_err(|e| {
        InputError::Io {
            path: path(),
            source: e.into(),
        }
    })?;
    regular(File::from(fd), path)
}

/// The metadata of a file just opened without blocking, if it is a regular file; the
/// non-blocking flag cleared.
fn regular(
    file: File,
    path: &dyn Fn() -> PathBuf,
) -> Result<(File, std::fs::Metadata), InputError> {
    let io_err = |source| InputError::Io {
        path: path(),
        source,
    };
    let meta = file.metadata().map_err(io_err)?;
    if !meta.file_type().is_file() {
        return Err(InputError::NotAFile {
            path: path(),
            found: describe(meta.file_type()),
        });
    }
    // Regular files never block; clear the flag anyway so reads behave as usual.
    rustix::fs::fcntl_setfl(&file, rustix::fs::OFlags::empty()).map_err(|e| io_err(e.into()))?;
    Ok((file, meta))
}

fn noctty() -> i32 {
    i32::try_from(rustix::fs::OFlags::NOCTTY.bits()).unwrap_or(0)
}

/// Opens `path`, a file seedforge finds in a folder it writes (the output, `export_dir`,
/// the package cache, the build state), for reading: a regular file only, and not through
/// a symbolic link (refused as "a symbolic link": seedforge writes none there, so one was
/// planted). Opening never blocks.
pub fn open_found(path: &Path) -> Result<(File, std::fs::Metadata), InputError> {
    use rustix::fs::OFlags;
    let flags =
        OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC | OFlags::NOFOLLOW;
    let fd = rustix::fs::open(path, flags, rustix::fs::Mode::empty()).map_err(|e| {
        if e == rustix::io::Errno::LOOP {
            InputError::NotAFile {
                path: path.to_path_buf(),
                found: "a symbolic link",
            }
        } else {
            InputError::Io {
                path: path.to_path_buf(),
                source: e.into(),
            }
        }
    })?;
    regular(File::from(fd), &|| path.to_path_buf())
}

/// [`open_found`] of `name`, a relative path, under the open folder `dir`, resolved by the
/// kernel beneath it: no component may be a symbolic link, `..` or an absolute path that
/// leaves `dir` (`openat2` with `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS`; where the kernel
/// lacks it, such a name is refused outright and the last component is not followed). A
/// regular file only; opening never blocks. `path` gives the file's whole path, made only
/// for an error.
pub fn open_found_beneath(
    dir: std::os::fd::BorrowedFd<'_>,
    name: &str,
    path: &dyn Fn() -> PathBuf,
) -> Result<(File, std::fs::Metadata), InputError> {
    use rustix::fs::OFlags;
    let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
    let fd = open_beneath(dir, name, flags).map_err(|e| found_error(e, path))?;
    regular(File::from(fd), path)
}

/// The folder `name` (a relative path) under the open folder `dir`, resolved as
/// [`open_found_beneath`] resolves a file's name.
pub fn open_dir_beneath(dir: std::os::fd::BorrowedFd<'_>, name: &str) -> io::Result<File> {
    use rustix::fs::OFlags;
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC | OFlags::NONBLOCK;
    Ok(File::from(open_beneath(dir, name, flags)?))
}

fn open_beneath(
    dir: std::os::fd::BorrowedFd<'_>,
    name: &str,
    flags: rustix::fs::OFlags,
) -> rustix::io::Result<std::os::fd::OwnedFd> {
    use rustix::fs::{Mode, OFlags, ResolveFlags};
    let resolve = ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS;
    match rustix::fs::openat2(dir, name, flags, Mode::empty(), resolve) {
        Err(rustix::io::Errno::NOSYS) => {
            if name.starts_with('/') || name.split('/').any(|c| c == "..") {
                return Err(rustix::io::Errno::XDEV);
            }
            rustix::fs::openat(dir, name, flags | OFlags::NOFOLLOW, Mode::empty())
        }
        other => other,
    }
}

/// An error of opening a found file: a link met on the way is "a symbolic link".
fn found_error(e: rustix::io::Errno, path: &dyn Fn() -> PathBuf) -> InputError {
    if e == rustix::io::Errno::LOOP {
        InputError::NotAFile {
            path: path(),
            found: "a symbolic link",
        }
    } else {
        InputError::Io {
            path: path(),
            source: e.into(),
        }
    }
}

/// Reads a whole file of `kind` that seedforge finds rather than is given (see
/// [`open_found`]): regular, not a link, at most `kind.cap()` bytes.
pub fn read_found(path: &Path, kind: Kind) -> Result<Vec<u8>, InputError> {
    let (file, meta) = open_found(path)?;
    read_opened(file, meta, kind.cap(), kind.name(), &|| path.to_path_buf()).map(|(b, _)| b)
}

/// [`read_found`] as UTF-8 text.
pub fn read_found_to_string(path: &Path, kind: Kind) -> Result<String, InputError> {
    utf8(read_found(path, kind)?, path)
}

/// Whether the file at `path` holds exactly `bytes`: a writer that finds its content
/// already there leaves the file alone. Anything else in its place (no file, a link, a
/// FIFO, a device, another size) is "no", found without blocking and without reading more
/// than `bytes.len()` bytes.
pub fn holds(path: &Path, bytes: &[u8]) -> bool {
    let Ok((file, meta)) = open_found(path) else {
        return false;
    };
    if meta.len() != bytes.len() as u64 {
        return false;
    }
    read_opened(file, meta, bytes.len() as u64, "file", &|| {
        path.to_path_buf()
    })
    .is_ok_and(|(old, _)| old == bytes)
}

/// Opens the folder `path` (to sync it or to lock it): a folder only, never blocking.
pub fn open_dir(path: &Path) -> io::Result<File> {
    use rustix::fs::OFlags;
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC | OFlags::NONBLOCK;
    Ok(File::from(rustix::fs::open(
        path,
        flags,
        rustix::fs::Mode::empty(),
    )?))
}

/// Checks that `path` is a regular file without reading it.
pub fn check_regular(path: &Path) -> Result<(), InputError> {
    open_regular(path).map(drop)
}

/// Reads a whole input file of `kind`: regular files only, at most `kind.cap()` bytes.
pub fn read(path: &Path, kind: Kind) -> Result<Vec<u8>, InputError> {
    read_capped(path, kind.cap(), kind.name())
}

/// Like [`read`] with an explicit cap.
pub fn read_capped(path: &Path, cap: u64, what: &'static str) -> Result<Vec<u8>, InputError> {
    read_capped_with_metadata(path, cap, what).map(|(bytes, _)| bytes)
}

/// [`read_capped`], giving the metadata the open file had as well.
pub fn read_capped_with_metadata(
    path: &Path,
    cap: u64,
    what: &'static str,
) -> Result<(Vec<u8>, std::fs::Metadata), InputError> {
    let (file, meta) = open_regular_with_metadata(path)?;
    read_opened(file, meta, cap, what, &|| path.to_path_buf())
}

/// The room reserved for a file whose size is given as 0.
const PSEUDO_FILE_READ: u64 = 64 * 1024;

/// Reads a regular file opened with its metadata (see [`open_regular_at`]) whole, refusing
/// more than `cap` bytes; `path` names it in an error.
pub fn read_opened(
    file: File,
    meta: std::fs::Metadata,
    cap: u64,
    what: &'static str,
    path: &dyn Fn() -> PathBuf,
) -> Result<(Vec<u8>, std::fs::Metadata), InputError> {
    let too_large = || InputError::TooLarge {
        path: path(),
        what,
        cap,
    };
    let len = meta.len();
    if len > cap {
        return Err(too_large());
    }
    // A file that gives its size as 0 may be one the kernel makes as it is read (`/proc`):
    // with room reserved, its first read asks for 8 KiB (the standard reader's first read;
    // later ones double while they fill), not a 32-byte probe, since a table such as
    // `/proc/locks` is one consistent snapshot only within one read (seen with strace).
    let start = if len == 0 {
        PSEUDO_FILE_READ.min(cap + 1)
    } else {
        len
    };
    let mut bytes = Vec::with_capacity(usize::try_from(start).unwrap_or(0));
    file.take(cap + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| InputError::Io {
            path: path(),
            source,
        })?;
    if bytes.len() as u64 > cap {
        return Err(too_large());
    }
    Ok((bytes, meta))
}

/// Reads a whole input file of `kind` as UTF-8 text.
pub fn read_to_string(path: &Path, kind: Kind) -> Result<String, InputError> {
    utf8(read(path, kind)?, path)
}

fn utf8(bytes: Vec<u8>, path: &Path) -> Result<String, InputError> {
    String::from_utf8(bytes).map_err(|_| InputError::Io {
        path: path.to_path_buf(),
        source: io::Error::new(
            io::ErrorKind::InvalidData,
            "stream did not contain valid UTF-8",
        ),
    })
}

/// The strict YAML options every seedforge YAML reader uses (the config, and the files
/// render checks): no schema guessing, strict booleans, duplicate keys refused.
pub fn yaml_options() -> serde_saphyr::options::Options {
    let mut o = serde_saphyr::options::Options::default();
    o.with_snippet = false;
    o.strict_booleans = true;
    o.no_schema = true;
    o.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::Error;
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifo_directory_and_device_are_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        for (path, found) in [
            (fifo.as_path(), "a FIFO"),
            (dir.path(), "a directory"),
            (Path::new("/dev/zero"), "a character device"),
        ] {
            let err = read(path, Kind::Secret).unwrap_err();
            assert!(err.to_string().contains(found), "{err}");
            assert!(err.is_invalid_input());
        }
    }

    #[test]
    fn a_found_file_is_not_read_through_a_link_and_holds_never_blocks() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real");
        std::fs::write(&real, b"text").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let err = read_found(&link, Kind::Text).unwrap_err();
        assert!(err.to_string().contains("is a symbolic link"), "{err}");
        assert!(err.is_invalid_input());
        assert_eq!(
            read(&link, Kind::Text).unwrap(),
            b"text",
            "a given path may be a link"
        );
        assert_eq!(read_found(&real, Kind::Text).unwrap(), b"text");
        assert!(holds(&real, b"text"));
        assert!(!holds(&real, b"texts") && !holds(&link, b"text"));
        let fifo = dir.path().join("fifo");
        assert!(
            std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap()
                .success()
        );
        assert!(!holds(&fifo, b""));
        assert!(read_found(&fifo, Kind::Text).is_err());
        let zero = dir.path().join("zero");
        std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
        assert!(!holds(&zero, b""));
        assert!(open_dir(&real).is_err() && open_dir(dir.path()).is_ok());
    }

    #[test]
    fn files_past_the_cap_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big");
        std::fs::write(&big, vec![b'x'; 65 * 1024]).unwrap();
        let err = read(&big, Kind::Secret).unwrap_err();
        assert!(matches!(err, InputError::TooLarge { .. }), "{err}");
        std::fs::write(&big, vec![b'x'; 64 * 1024]).unwrap();
        assert_eq!(read(&big, Kind::Secret).unwrap().len(), 64 * 1024);
    }
}
