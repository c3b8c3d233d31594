//! Where seedforge may write: checks on an output path made before the first write.
//!
//! An output path is refused when writing there would destroy what the user did not ask
//! to replace: the root or home folder (a mistyped `--out`), a folder that holds the
//! command's own inputs (a build's config, an archive written into the layout it reads),
//! or a path inside the output reached through a symbolic link (the link's target, outside
//! the output, would receive files that hold the join token).

use std::io;
use std::path::{Component, Path, PathBuf};

/// Why an output path was refused.
#[derive(Debug, thiserror::Error)]
pub enum OutPathError {
    /// The output is `/` or the home folder.
    #[error("{}: refusing to write into {what}; name a folder of its own", path.display())]
    Dangerous {
        /// The output as given.
        path: PathBuf,
        /// `the root folder` or `the home folder`.
        what: &'static str,
    },
    /// The output holds (or is) one of the command's inputs.
    #[error("{}: the output would overwrite or hold an input: {} ({what})", out.display(), input.display())]
    HoldsInput {
        /// The output as given.
        out: PathBuf,
        /// The input.
        input: PathBuf,
        /// What the input is.
        what: String,
    },
    /// A path inside the output is a symbolic link.
    #[error(
        "{}: is a symbolic link inside the output folder; seedforge does not write through links (remove it, or point the output elsewhere)",
        path.display()
    )]
    Symlink {
        /// The link.
        path: PathBuf,
    },
    /// The output folder is not seedforge's and holds a file where seedforge would write.
    #[error(
        "{}: already exists in an output folder that no seedforge build wrote (no {}); move it away or choose an empty folder",
        path.display(),
        marker
    )]
    Foreign {
        /// The file that would be replaced.
        path: PathBuf,
        /// The marker a seedforge output has.
        marker: &'static str,
    },
    /// The output folder (or a folder it would be made in) is a file.
    #[error(
        "{}: is {found}, where {role} {} needs a folder; move it away or choose another {other}",
        path.display(),
        out.display()
    )]
    NotAFolder {
        /// The folder as given.
        out: PathBuf,
        /// The folder itself or the parent that is not a folder.
        path: PathBuf,
        /// What it is (`a regular file`, `a character device`).
        found: &'static str,
        /// What the folder is for (`the output`, `export_dir`).
        role: &'static str,
        /// What to choose instead (`output`, `folder`).
        other: &'static str,
    },
    /// A folder seedforge copies results into (`export_dir`) is the output folder or lies
    /// inside it.
    #[error(
        "{}: is inside the output folder {}: the copies (the seed ISOs hold the join token) would lie there unsealed, beside what the seal covers; choose a folder outside it",
        path.display(),
        out.display()
    )]
    InsideOutput {
        /// The folder as given.
        path: PathBuf,
        /// The output folder.
        out: PathBuf,
    },
    /// A folder seedforge copies results into is an input folder or lies inside one.
    #[error(
        "{}: is inside an input folder: {} ({what}); the copies would be read as input by the next build; choose a folder outside it",
        path.display(),
        input.display()
    )]
    InsideInput {
        /// The folder as given.
        path: PathBuf,
        /// The input.
        input: PathBuf,
        /// What the input is.
        what: String,
    },
    /// Looking at the path failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

impl OutPathError {
    /// Every refusal is about the command line or the config (exit 2); failing to look is not.
    pub fn is_invalid_input(&self) -> bool {
        !matches!(self, OutPathError::Io { .. })
    }
}

/// The folder holding `path`, as the operator would write it: `path`'s own parent
/// (`fixtures/lab` for `fixtures/lab/out`, `.` for `out`, `../far` for `../far/out`) when
/// it is the same folder as the resolved one (no link in between), else the resolved
/// parent.
pub fn parent_as_given(path: &Path) -> Option<PathBuf> {
    let resolved = resolve(path).parent()?.to_path_buf();
    let given = match path.parent() {
        Some(p) if p.as_os_str().is_empty() => PathBuf::from("."),
        Some(p) => p.to_path_buf(),
        None => return Some(resolved),
    };
    Some(if resolve(&given) == resolved {
        given
    } else {
        resolved
    })
}

/// `path` made absolute and free of symbolic links as far as it exists, with the rest
/// (which does not exist yet) appended lexically (`..` in the missing part is resolved
/// against what came before). A link whose target does not exist yet (`link -> out`
/// before the first build) is followed too: what is written through it lands there.
pub fn resolve(path: &Path) -> PathBuf {
    resolve_within(path, 0)
}

/// [`resolve`], `depth` dangling links deep (40 at most, as the kernel's limit on links
/// followed in one lookup).
fn resolve_within(path: &Path, depth: u32) -> PathBuf {
    let absolute = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .unwrap_or_else(|_| PathBuf::from("/"))
            .join(path)
    };
    // Component by component: what exists is replaced by its real path (so `..` after a
    // link goes up from the link's target, as the kernel does); the rest is lexical.
    let mut out = PathBuf::from("/");
    for part in absolute.components() {
        match part {
            Component::RootDir | Component::Prefix(_) | Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(name) => {
                out.push(name);
                if let Ok(real) = out.canonicalize() {
                    out = real;
                } else if depth < 40
                    && let Ok(target) = std::fs::read_link(&out)
                {
                    // A link to what does not exist (yet): its target, from its folder.
                    out.pop();
                    out = resolve_within(&out.join(target), depth + 1);
                }
            }
        }
    }
    out
}

/// True if `inner` is `outer` or lies inside it (both resolved).
pub fn is_within(inner: &Path, outer: &Path) -> bool {
    resolve(inner).starts_with(resolve(outer))
}

/// Refuses an output folder that cannot be one ([`refuse_non_folder`]), and `/` and the
/// home folder.
pub fn refuse_dangerous(out: &Path) -> Result<(), OutPathError> {
    refuse_non_folder(out)?;
    let real = resolve(out);
    if real == Path::new("/") {
        return Err(OutPathError::Dangerous {
            path: out.to_path_buf(),
            what: "the root folder",
        });
    }
    if let Some(home) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        let home = resolve(Path::new(&home));
        if home != Path::new("/") && real == home {
            return Err(OutPathError::Dangerous {
                path: out.to_path_buf(),
                what: "the home folder",
            });
        }
    }
    Ok(())
}

/// Refuses an output folder that is a file, or that would be made inside one (`out/x`
/// where `out` is a file): writing there fails part-way with "Not a directory".
pub fn refuse_non_folder(out: &Path) -> Result<(), OutPathError> {
    refuse_non_folder_as(out, "the output", "output")
}

/// [`refuse_non_folder`] for a folder that is `role` (`export_dir`), with `other` as what
/// to choose instead.
fn refuse_non_folder_as(
    out: &Path,
    role: &'static str,
    other: &'static str,
) -> Result<(), OutPathError> {
    for at in out.ancestors().filter(|a| !a.as_os_str().is_empty()) {
        match std::fs::metadata(at) {
            Ok(m) if m.is_dir() => return Ok(()),
            Ok(m) => {
                return Err(OutPathError::NotAFolder {
                    out: out.to_path_buf(),
                    path: at.to_path_buf(),
                    found: if m.is_file() {
                        "a regular file"
                    } else {
                        crate::input::describe(m.file_type())
                    },
                    role,
                    other,
                });
            }
            // A symbolic link to nothing: no folder can be made there (mkdir does not
            // follow it).
            Err(e)
                if e.kind() == io::ErrorKind::NotFound
                    && std::fs::symlink_metadata(at).is_ok_and(|m| m.is_symlink()) =>
            {
                return Err(OutPathError::NotAFolder {
                    out: out.to_path_buf(),
                    path: at.to_path_buf(),
                    found: "a symbolic link to nothing",
                    role,
                    other,
                });
            }
            // Missing (made later), or below a file: the file is one of the ancestors.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
                ) => {}
            Err(e) => {
                return Err(OutPathError::Io {
                    path: at.to_path_buf(),
                    source: e,
                });
            }
        }
    }
    Ok(())
}

/// Refuses an output (folder or file) that is one of `inputs` or holds one of them, and an
/// output file that lies inside an input folder. Each input comes with what it is.
pub fn refuse_inputs<'a>(
    out: &Path,
    inputs: impl IntoIterator<Item = (&'a Path, String)>,
) -> Result<(), OutPathError> {
    match overlap(out, inputs, true) {
        Some((input, what)) => Err(OutPathError::HoldsInput {
            out: out.to_path_buf(),
            input: input.to_path_buf(),
            what,
        }),
        None => Ok(()),
    }
}

/// The first of `inputs` that `path` is or lies inside, or (with `holding`) that lies
/// inside `path`; both compared resolved ([`resolve`]).
fn overlap<'a>(
    path: &Path,
    inputs: impl IntoIterator<Item = (&'a Path, String)>,
    holding: bool,
) -> Option<(&'a Path, String)> {
    let real = resolve(path);
    inputs.into_iter().find(|(input, _)| {
        let real_in = resolve(input);
        real.starts_with(&real_in) || (holding && real_in.starts_with(&real))
    })
}

/// Refuses a folder seedforge copies results into besides the output (`export_dir`, named
/// `role` in messages): one that is not a folder and cannot be made one (a file, a
/// device, or a file in its path: [`refuse_non_folder`]); the output folder `out` or a
/// folder inside it (the copies, which hold the join token, would lie there unsealed);
/// and one of `inputs` or a folder inside one (the next build would read the copies).
/// Paths are compared resolved, as for the output ([`refuse_inputs`]).
pub fn refuse_copy_folder<'a>(
    dir: &Path,
    role: &'static str,
    out: &Path,
    inputs: impl IntoIterator<Item = (&'a Path, String)>,
) -> Result<(), OutPathError> {
    if overlap(dir, [(out, String::new())], false).is_some() {
        return Err(OutPathError::InsideOutput {
            path: dir.to_path_buf(),
            out: out.to_path_buf(),
        });
    }
    if let Some((input, what)) = overlap(dir, inputs, false) {
        return Err(OutPathError::InsideInput {
            path: dir.to_path_buf(),
            input: input.to_path_buf(),
            what,
        });
    }
    refuse_non_folder_as(dir, role, "folder")
}

/// Refuses any symbolic link at or under `rel` (relative to `out`) without following one:
/// the entries seedforge writes into must be real folders and files of the output.
pub fn refuse_links_under(out: &Path, rel: &Path) -> Result<(), OutPathError> {
    // Each component from the output down to `rel` itself.
    let mut at = out.to_path_buf();
    for part in rel.components() {
        at.push(part);
        match std::fs::symlink_metadata(&at) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(OutPathError::Symlink { path: at });
            }
            Ok(m) if m.is_dir() => {}
            Ok(_) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => {
                return Err(OutPathError::Io {
                    path: at,
                    source: e,
                });
            }
        }
    }
    for entry in walkdir::WalkDir::new(&at).follow_links(false).min_depth(1) {
        let entry = entry.map_err(|e| OutPathError::Io {
            path: e.path().map_or_else(|| at.clone(), Path::to_path_buf),
            source: e
                .into_io_error()
                .unwrap_or_else(|| io::Error::other("walk failed")),
        })?;
        if entry.path_is_symlink() {
            return Err(OutPathError::Symlink {
                path: entry.into_path(),
            });
        }
    }
    Ok(())
}

/// The characters Windows (NTFS through drvfs or ntfs-3g) and FAT/exFAT refuse in a name,
/// besides control characters and `/`; `%` is here too, as the escape itself.
const NOT_PORTABLE: &[char] = &['%', ':', '*', '?', '"', '<', '>', '|', '\\'];

/// `name` (one path component) as a name every output file system can hold: each
/// character NTFS, exFAT or FAT refuses (`: * ? " < > | \`, a control character), `%`
/// itself, and a trailing dot or space (Windows drops them) is written `%XX` (its byte
/// in upper-case hex). The mapping is reversible ([`from_portable`]) and leaves names
/// made only of other characters as they are.
pub fn portable(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let last = name.char_indices().last().map(|(i, _)| i);
    for (i, c) in name.char_indices() {
        let trailing = Some(i) == last && (c == '.' || c == ' ');
        if trailing || c.is_ascii_control() || NOT_PORTABLE.contains(&c) {
            out.push_str(&format!("%{:02X}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// The name [`portable`] was given, or `None` when `stored` is not one it writes (a `%`
/// not followed by two hex digits of an escaped character).
pub fn from_portable(stored: &str) -> Option<String> {
    let mut out = String::with_capacity(stored.len());
    let mut rest = stored;
    while let Some(at) = rest.find('%') {
        out.push_str(&rest[..at]);
        let hex = rest.get(at + 1..at + 3)?;
        let byte = u8::from_str_radix(hex, 16).ok()?;
        if !byte.is_ascii() || hex.bytes().any(|b| b.is_ascii_lowercase()) {
            return None;
        }
        out.push(char::from(byte));
        rest = &rest[at + 3..];
    }
    out.push_str(rest);
    (portable(&out) == stored).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_parent_of_a_path_is_named_as_the_path_was() {
        let given = |p: &str| parent_as_given(Path::new(p)).unwrap();
        assert_eq!(given("fixtures/lab/out"), Path::new("fixtures/lab"));
        assert_eq!(given("out"), Path::new("."));
        assert_eq!(given("../far/out"), Path::new("../far"));
        // `..` at the end: the lexical parent is another folder.
        assert_eq!(
            given("a/out/.."),
            resolve(Path::new("a/out/..")).parent().unwrap()
        );
        // An output that is a link lies in its target's folder.
        let tmp = tempfile::tempdir().unwrap();
        let root = resolve(tmp.path());
        let (a, b) = (root.join("a"), root.join("b"));
        std::fs::create_dir_all(b.join("real")).unwrap();
        std::fs::create_dir_all(&a).unwrap();
        std::os::unix::fs::symlink(b.join("real"), a.join("out")).unwrap();
        assert_eq!(parent_as_given(&a.join("out")).unwrap(), b);
        assert_eq!(parent_as_given(&b.join("real")).unwrap(), b);
    }

    #[test]
    fn portable_names_hold_no_character_windows_or_exfat_refuses_and_map_back() {
        for (name, stored) in [
            ("docker.io", "docker.io"),
            ("192.168.6.1_5000_", "192.168.6.1_5000_"),
            ("[fd00::1]_5000_", "[fd00%3A%3A1]_5000_"),
            ("a:b*c?d\"e<f>g|h\\i", "a%3Ab%2Ac%3Fd%22e%3Cf%3Eg%7Ch%5Ci"),
            ("50%", "50%25"),
            ("end.", "end%2E"),
            ("end ", "end%20"),
            ("tab\tx", "tab%09x"),
            ("", ""),
        ] {
            assert_eq!(portable(name), stored, "{name:?}");
            assert!(
                !stored.contains([':', '*', '?', '"', '<', '>', '|', '\\'])
                    && !stored.ends_with(['.', ' '])
                    && !stored.chars().any(|c| c.is_control()),
                "{stored:?}"
            );
            assert_eq!(from_portable(stored).as_deref(), Some(name), "{stored:?}");
        }
        // Two names never share a stored name: `%` is escaped too.
        assert_ne!(portable("a:b"), portable("a%3Ab"));
        for bad in ["%", "%3", "%zz", "%3a", "a%41"] {
            assert_eq!(from_portable(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn resolve_follows_existing_links_and_appends_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().canonicalize().unwrap();
        std::fs::create_dir(real.join("a")).unwrap();
        std::os::unix::fs::symlink(real.join("a"), real.join("link")).unwrap();
        assert_eq!(resolve(&real.join("link/x/y")), real.join("a/x/y"));
        assert_eq!(resolve(&real.join("link/x/../z")), real.join("a/z"));
        assert!(is_within(&real.join("link/f.tar"), &real.join("a")));
        assert!(!is_within(&real.join("b"), &real.join("a")));
        // A link to what does not exist yet resolves to its target (relative or not).
        std::os::unix::fs::symlink("later", real.join("dangling")).unwrap();
        assert_eq!(resolve(&real.join("dangling/x")), real.join("later/x"));
        std::os::unix::fs::symlink(real.join("a/later"), real.join("abs")).unwrap();
        assert_eq!(resolve(&real.join("abs/x/../y")), real.join("a/later/y"));
        // A loop of links ends.
        std::os::unix::fs::symlink("loop2", real.join("loop1")).unwrap();
        std::os::unix::fs::symlink("loop1", real.join("loop2")).unwrap();
        let _ = resolve(&real.join("loop1/x"));
    }

    #[test]
    fn root_is_refused() {
        assert!(refuse_dangerous(Path::new("/")).is_err());
        assert!(refuse_dangerous(Path::new("/tmp/../")).is_err());
    }

    #[test]
    fn a_file_where_the_output_folder_goes_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("out");
        std::fs::write(&file, "x").unwrap();
        for out in [file.clone(), file.join("sub/deeper")] {
            let err = refuse_dangerous(&out).unwrap_err();
            assert!(err.is_invalid_input());
            let text = err.to_string();
            assert!(
                text.starts_with(&format!(
                    "{}: is a regular file, where the output",
                    file.display()
                )),
                "{text}"
            );
        }
        refuse_non_folder(&dir.path().join("new/sub")).unwrap();
        refuse_non_folder(dir.path()).unwrap();
        // A link to nothing, where no folder can be made.
        let link = dir.path().join("dangling");
        std::os::unix::fs::symlink("missing", &link).unwrap();
        for out in [link.clone(), link.join("sub")] {
            let err = refuse_non_folder(&out).unwrap_err();
            assert!(
                err.to_string().starts_with(&format!(
                    "{}: is a symbolic link to nothing, where the output",
                    link.display()
                )),
                "{err}"
            );
        }
    }

    #[test]
    fn a_copy_folder_outside_the_output_and_the_inputs_is_the_only_one_taken() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let out = root.join("out");
        let tpl = root.join("tpl");
        std::fs::create_dir_all(out.join("iso")).unwrap();
        std::fs::create_dir(&tpl).unwrap();
        std::fs::write(root.join("file"), "x").unwrap();
        std::os::unix::fs::symlink("out", root.join("to-out")).unwrap();
        std::os::unix::fs::symlink("tpl", root.join("to-tpl")).unwrap();
        let check = |d: &str| {
            let inputs = [(tpl.as_path(), "templates".to_string())];
            refuse_copy_folder(&root.join(d), "export_dir", &out, inputs)
        };
        for taken in ["export", "new/deeper", ".", "out-not"] {
            check(taken).unwrap();
        }
        for (d, says) in [
            ("out", "is inside the output folder"),
            ("out/iso", "is inside the output folder"),
            ("out/new/x", "is inside the output folder"),
            ("to-out/iso", "is inside the output folder"),
            ("tpl", "is inside an input folder"),
            ("tpl/seeds", "is inside an input folder"),
            ("to-tpl/seeds", "is inside an input folder"),
            ("file", "is a regular file, where export_dir"),
            ("file/sub", "is a regular file, where export_dir"),
        ] {
            let e = check(d).unwrap_err();
            assert!(e.is_invalid_input(), "{d}: {e}");
            assert!(e.to_string().contains(says), "{d}: {e}");
        }
        let e = refuse_copy_folder(Path::new("/dev/null"), "export_dir", &out, []).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("/dev/null: is a character device, where export_dir"),
            "{e}"
        );
        // The output not made yet, reached through a link made before it.
        let later = root.join("later-out");
        std::os::unix::fs::symlink("later-out", root.join("to-later")).unwrap();
        let e = refuse_copy_folder(&root.join("to-later/iso"), "export_dir", &later, []);
        let e = e.unwrap_err().to_string();
        assert!(e.contains("is inside the output folder"), "{e}");
        // Elsewhere, a link to nothing is no folder.
        let e = refuse_copy_folder(&root.join("to-later/iso"), "export_dir", &out, []);
        let e = e.unwrap_err().to_string();
        assert!(e.contains("to-later: is a symbolic link to nothing"), "{e}");
    }

    #[test]
    fn links_below_are_found() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("nodes/n1")).unwrap();
        std::os::unix::fs::symlink("/tmp", dir.path().join("nodes/n1/user-data")).unwrap();
        let err = refuse_links_under(dir.path(), Path::new("nodes")).unwrap_err();
        assert!(err.to_string().contains("nodes/n1/user-data"), "{err}");
        std::os::unix::fs::symlink("/tmp", dir.path().join("iso")).unwrap();
        let err = refuse_links_under(dir.path(), Path::new("iso")).unwrap_err();
        assert!(err.to_string().contains("iso: is a symbolic link"), "{err}");
        assert!(refuse_links_under(dir.path(), Path::new("absent/x")).is_ok());
    }
}
