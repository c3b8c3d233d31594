//! The folder a set protects. Every file of the set is reached by its name beneath the
//! folder, opened once: no component may be a symbolic link, `..` or an absolute path
//! (`openat2` with `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS`, [`crate::input`]), and what a
//! repair writes is made, renamed and removed in the open folder of its name, never by a
//! path looked up again.

use super::Par2Error;
use std::fs::{File, Metadata};
use std::io;
use std::os::fd::AsFd as _;
use std::path::{Path, PathBuf};

/// An open folder of a set.
pub(super) struct Folder {
    /// Where it is (for messages).
    pub(super) path: PathBuf,
    fd: File,
}

/// A folder of the set open beneath it, and a name in it.
pub(super) struct InFolder {
    /// The open folder.
    pub(super) dir: File,
    /// The last component of the name.
    pub(super) leaf: String,
}

fn on_the_way(path: &Path, e: io::Error) -> Par2Error {
    let why = match e.raw_os_error() {
        Some(libc_eloop) if libc_eloop == rustix::io::Errno::LOOP.raw_os_error() => {
            "a symbolic link on the way to it (not followed)".to_string()
        }
        Some(x) if x == rustix::io::Errno::XDEV.raw_os_error() => {
            "a name that leaves the set's folder".to_string()
        }
        _ => e.to_string(),
    };
    Par2Error::Io {
        path: path.to_path_buf(),
        source: io::Error::new(e.kind(), why),
    }
}

/// Whether an error opening a name means that nothing is there.
fn absent(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::NotFound
        || e.raw_os_error() == Some(rustix::io::Errno::NOTDIR.raw_os_error())
}

impl Folder {
    /// Opens the folder at `path`.
    pub(super) fn open(path: &Path) -> Result<Folder, Par2Error> {
        let fd = crate::input::open_dir(path).map_err(|e| Par2Error::io(path, e))?;
        Ok(Folder {
            path: path.to_path_buf(),
            fd,
        })
    }

    /// The file `name` (checked by [`super::valid_name`]) to read, `None` when it is not
    /// there; a link, a folder or a device at its name, or a link on the way, is an error.
    pub(super) fn file(&self, name: &str) -> Result<Option<(File, Metadata)>, Par2Error> {
        let path = self.path.join(name);
        match crate::input::open_found_beneath(self.fd.as_fd(), name, &|| path.clone()) {
            Ok(found) => Ok(Some(found)),
            Err(crate::input::InputError::Io { source, .. }) if absent(&source) => Ok(None),
            Err(crate::input::InputError::Io { source, .. }) => Err(on_the_way(&path, source)),
            Err(e) => Err(Par2Error::io(&path, e.into_io())),
        }
    }

    /// The folder that holds `name`, opened beneath this one.
    pub(super) fn parent_of(&self, name: &str) -> Result<InFolder, Par2Error> {
        let (parent, leaf) = match name.rsplit_once('/') {
            Some((parent, leaf)) => (Some(parent), leaf),
            None => (None, name),
        };
        let dir = match parent {
            Some(p) => crate::input::open_dir_beneath(self.fd.as_fd(), p)
                .map_err(|e| on_the_way(&self.path.join(p), e))?,
            None => self
                .fd
                .try_clone()
                .map_err(|e| Par2Error::io(&self.path, e))?,
        };
        Ok(InFolder {
            dir,
            leaf: leaf.to_string(),
        })
    }
}

impl InFolder {
    /// Makes `leaf` new in the folder, to read and write, mode 0600, not through a link.
    pub(super) fn create(&self, leaf: &str) -> io::Result<File> {
        use rustix::fs::{Mode, OFlags};
        let flags =
            OFlags::RDWR | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = rustix::fs::openat(&self.dir, leaf, flags, Mode::from_raw_mode(0o600))?;
        Ok(File::from(fd))
    }

    /// What is at `leaf` now: `None` when nothing is, else whether it is a regular file.
    pub(super) fn kind_of(&self, leaf: &str) -> io::Result<Option<rustix::fs::FileType>> {
        match rustix::fs::statat(&self.dir, leaf, rustix::fs::AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => Ok(Some(rustix::fs::FileType::from_raw_mode(st.st_mode))),
            Err(rustix::io::Errno::NOENT) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Renames `from` to `to` in the folder.
    pub(super) fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        rustix::fs::renameat(&self.dir, from, &self.dir, to)?;
        Ok(())
    }

    /// Removes `leaf` from the folder.
    pub(super) fn remove(&self, leaf: &str) -> io::Result<()> {
        rustix::fs::unlinkat(&self.dir, leaf, rustix::fs::AtFlags::empty())?;
        Ok(())
    }
}
