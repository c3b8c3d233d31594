//! The source tree as the image sees it: scanned once, sorted, with every name mangled
//! into a unique ECMA-119 identifier and a unique Joliet identifier.
//!
//! Scanning decides everything that goes into the image before a byte is written, so bad
//! input (a symlink, a device node, a non-UTF-8 name, nesting deeper than ECMA-119's eight
//! levels) is refused up front and nothing is left behind. Only what must not vary between
//! hosts is kept: names, sizes and whether a file is executable; mtimes, owners and the
//! order entries were created in are ignored.
//!
//! ISO names follow interchange level 1's 8.3 shape in d-characters (`USER_DAT.;1`), which
//! every reader accepts; collisions get a numeric tail. Joliet names are the real names
//! in UCS-2 with the forbidden characters replaced, cut to 64 units with the extension
//! kept; collisions get a `~N` tail.

use super::{IsoError, MAX_DIR_LEVEL};
use std::collections::HashSet;
use std::fs;
use std::os::unix::fs::{FileTypeExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

/// Longest Joliet identifier, in UCS-2 units.
pub const JOLIET_MAX_UNITS: usize = 64;

/// One file or directory of the tree. `nodes[0]` is the root.
#[derive(Debug, Clone)]
pub struct Node {
    /// The real name (Rock Ridge `NM`); empty for the root.
    pub name: String,
    /// Index of the parent directory (the root is its own parent).
    pub parent: usize,
    /// Directory level of this entry's parent plus one; the root is level 1.
    pub level: usize,
    /// File or directory.
    pub kind: NodeKind,
    /// ECMA-119 identifier in d-characters (`NAME.EXT;1` for files).
    pub iso_id: Vec<u8>,
    /// Joliet identifier in UCS-2 code units (no `;1`, as genisoimage and xorriso write).
    pub joliet_id: Vec<u16>,
}

/// What a node is.
#[derive(Debug, Clone)]
pub enum NodeKind {
    /// A directory; children sorted by real name.
    Dir {
        /// Indices of the entries it holds.
        children: Vec<usize>,
    },
    /// A regular file.
    File {
        /// Where its bytes come from.
        source: PathBuf,
        /// Its size when scanned.
        size: u64,
        /// Whether any execute bit was set (the image mode is then 0755, else 0644).
        executable: bool,
    },
}

impl Node {
    /// True for directories.
    pub fn is_dir(&self) -> bool {
        matches!(self.kind, NodeKind::Dir { .. })
    }

    /// The children of a directory (empty for files).
    pub fn children(&self) -> &[usize] {
        match &self.kind {
            NodeKind::Dir { children } => children,
            NodeKind::File { .. } => &[],
        }
    }

    /// The file's size (0 for directories).
    pub fn size(&self) -> u64 {
        match self.kind {
            NodeKind::File { size, .. } => size,
            NodeKind::Dir { .. } => 0,
        }
    }

    /// The POSIX mode the image records: 0755 directories, 0644 or 0755 files.
    pub fn mode(&self) -> u32 {
        match self.kind {
            NodeKind::Dir { .. } => 0o040_755,
            NodeKind::File {
                executable: true, ..
            } => 0o100_755,
            NodeKind::File { .. } => 0o100_644,
        }
    }
}

/// A scanned source tree with mangled names.
#[derive(Debug, Clone)]
pub struct Tree {
    /// Every node; index 0 is the root directory.
    pub nodes: Vec<Node>,
}

impl Tree {
    /// Marks the files at `paths` (relative to the scanned root): one flag per node, set for
    /// those. A path that names no file of the tree is a [`IsoError::BadOption`].
    pub fn mark(&self, paths: &[PathBuf]) -> Result<Vec<bool>, IsoError> {
        let mut marked = vec![false; self.nodes.len()];
        for path in paths {
            let mut at = 0;
            for part in path.components() {
                let std::path::Component::Normal(name) = part else {
                    return Err(IsoError::BadOption(format!(
                        "{} is not a plain relative path",
                        path.display()
                    )));
                };
                let found = self.nodes[at]
                    .children()
                    .iter()
                    .copied()
                    .find(|&c| std::ffi::OsStr::new(&self.nodes[c].name) == name);
                at = found.ok_or_else(|| {
                    IsoError::BadOption(format!("{} is not in the image's tree", path.display()))
                })?;
            }
            if self.nodes[at].is_dir() {
                return Err(IsoError::BadOption(format!(
                    "{} is a directory, not a file",
                    path.display()
                )));
            }
            marked[at] = true;
        }
        Ok(marked)
    }

    /// Makes the files at `paths` (relative to the scanned root) executable and every
    /// other file not, whatever their permission bits said. A path that names no file of
    /// the tree is a [`IsoError::BadOption`].
    pub fn set_executable(&mut self, paths: &[PathBuf]) -> Result<(), IsoError> {
        let marked = self.mark(paths)?;
        for (node, marked) in self.nodes.iter_mut().zip(marked) {
            if let NodeKind::File { executable, .. } = &mut node.kind {
                *executable = marked;
            }
        }
        Ok(())
    }

    /// Scans `root` (a directory) recursively and mangles every name.
    pub fn scan(root: &Path) -> Result<Tree, IsoError> {
        let meta = fs::metadata(root).map_err(|e| {
            unsupported(root, &format!("cannot be read as the image's source: {e}"))
        })?;
        if !meta.is_dir() {
            return Err(unsupported(root, "is not a directory"));
        }
        let mut tree = Tree {
            nodes: vec![Node {
                name: String::new(),
                parent: 0,
                level: 1,
                kind: NodeKind::Dir {
                    children: Vec::new(),
                },
                iso_id: vec![0],
                joliet_id: vec![0],
            }],
        };
        tree.scan_dir(root, 0)?;
        Ok(tree)
    }

    /// Builds a tree from nodes made elsewhere (tests, generated trees) and mangles names.
    pub fn from_nodes(nodes: Vec<Node>) -> Tree {
        let mut tree = Tree { nodes };
        for i in 0..tree.nodes.len() {
            if tree.nodes[i].is_dir() {
                tree.mangle_children(i);
            }
        }
        tree
    }

    fn scan_dir(&mut self, dir: &Path, index: usize) -> Result<(), IsoError> {
        let io_err = |source| IsoError::Io {
            path: dir.to_path_buf(),
            source,
        };
        let mut entries: Vec<(String, PathBuf)> = Vec::new();
        let listing = fs::read_dir(dir).map_err(|e| match e.kind() {
            std::io::ErrorKind::PermissionDenied => {
                unsupported(dir, &format!("cannot be read: {e}"))
            }
            _ => io_err(e),
        })?;
        for entry in listing {
            let entry = entry.map_err(io_err)?;
            let path = entry.path();
            let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                return Err(unsupported(&path, "name is not valid UTF-8"));
            };
            entries.push((name, path));
        }
        entries.sort();
        let level = self.nodes[index].level + 1;
        for (name, path) in entries {
            let child = self.scan_entry(&path, name, index, level)?;
            if let NodeKind::Dir { children } = &mut self.nodes[index].kind {
                children.push(child);
            }
            if self.nodes[child].is_dir() {
                self.scan_dir(&path, child)?;
            }
        }
        self.mangle_children(index);
        Ok(())
    }

    /// Adds one entry (not yet its children) and returns its index.
    fn scan_entry(
        &mut self,
        path: &Path,
        name: String,
        parent: usize,
        level: usize,
    ) -> Result<usize, IsoError> {
        let meta = fs::symlink_metadata(path).map_err(|source| IsoError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let ft = meta.file_type();
        let kind = if ft.is_dir() {
            if level > MAX_DIR_LEVEL {
                return Err(unsupported(
                    path,
                    &format!(
                        "directories nest deeper than the {MAX_DIR_LEVEL} levels ECMA-119 allows; flatten the tree"
                    ),
                ));
            }
            NodeKind::Dir {
                children: Vec::new(),
            }
        } else if ft.is_file() {
            // An unreadable file is refused now, before anything is written.
            if let Err(e) = crate::input::open_regular(path) {
                return Err(unsupported(
                    path,
                    &format!("cannot be read: {}", e.reason()),
                ));
            }
            NodeKind::File {
                source: path.to_path_buf(),
                size: meta.len(),
                executable: meta.permissions().mode() & 0o111 != 0,
            }
        } else {
            let what = if ft.is_symlink() {
                "is a symbolic link; seed images carry regular files and directories only (copy the target instead)"
            } else if ft.is_fifo() || ft.is_socket() {
                "is a FIFO or socket; seed images carry regular files and directories only"
            } else {
                "is a device node; seed images carry regular files and directories only"
            };
            return Err(unsupported(path, what));
        };
        self.nodes.push(Node {
            name,
            parent,
            level,
            kind,
            iso_id: Vec::new(),
            joliet_id: Vec::new(),
        });
        Ok(self.nodes.len() - 1)
    }

    /// Gives the children of `dir` unique ISO and Joliet identifiers, in real-name order so
    /// the result never depends on the order the filesystem lists them in.
    fn mangle_children(&mut self, dir: usize) {
        let children = self.nodes[dir].children().to_vec();
        let mut iso_used = Taken::default();
        let mut joliet_used = Taken::default();
        for &c in &children {
            let node = &self.nodes[c];
            let iso = unique_iso_id(&node.name, node.is_dir(), &mut iso_used);
            let joliet = unique_joliet_id(&node.name, node.is_dir(), &mut joliet_used);
            let node = &mut self.nodes[c];
            node.iso_id = iso;
            node.joliet_id = joliet;
        }
    }
}

fn unsupported(path: &Path, reason: &str) -> IsoError {
    IsoError::Unsupported {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

/// Maps a string to d-characters (`A-Z 0-9 _`), one character per source character.
fn d_chars(s: &str) -> String {
    s.chars()
        .map(|c| match c.to_ascii_uppercase() {
            u @ ('A'..='Z' | '0'..='9' | '_') => u,
            _ => '_',
        })
        .collect()
}

/// Splits a file name into base and extension at the last dot (a leading dot is not one).
fn split_ext(name: &str) -> (&str, &str) {
    match name.rfind('.') {
        Some(i) if i > 0 => (&name[..i], &name[i + 1..]),
        _ => (name, ""),
    }
}

/// The identifiers given out in one directory, and for each class of numbered candidates
/// (the same cut name with a tail of the same number of digits) the tail to try next.
/// Without it, the k-th of many names sharing their first characters would try k taken
/// identifiers first: one folder of 20,000 such files took 30 s. Names with different
/// first choices share the numbered candidates of their class, so the class (not the
/// name) keeps the position. Starting there gives the same identifiers as counting from 1
/// (every smaller tail of the class is taken, and identifiers are never given back).
#[derive(Debug)]
struct Taken<T> {
    used: HashSet<Vec<T>>,
    next: std::collections::HashMap<Vec<T>, u64>,
}

impl<T> Default for Taken<T> {
    fn default() -> Self {
        Taken {
            used: HashSet::new(),
            next: std::collections::HashMap::new(),
        }
    }
}

impl<T: std::hash::Hash + Eq + Clone> Taken<T> {
    /// The first free identifier among `make(0)`, `make(1)`, …, marked as taken. `class(d)`
    /// names the candidates whose tail has `d` digits (a key, never an identifier).
    fn claim(&mut self, make: impl Fn(u64) -> Vec<T>, class: impl Fn(u32) -> Vec<T>) -> Vec<T> {
        let first = make(0);
        if self.used.insert(first.clone()) {
            return first;
        }
        for digits in 1..=19u32 {
            let low = 10u64.pow(digits - 1);
            let high = 10u64.pow(digits);
            let key = class(digits);
            let mut n = self.next.get(&key).copied().unwrap_or(low).max(low);
            while n < high {
                let id = make(n);
                if self.used.insert(id.clone()) {
                    self.next.insert(key, n + 1);
                    return id;
                }
                n += 1;
            }
            self.next.insert(key, high);
        }
        // 10^19 names in one directory cannot be listed, let alone written.
        first
    }
}

/// A unique 8.3 identifier (`BASE.EXT;1` for files, `BASE` for directories).
fn unique_iso_id(name: &str, is_dir: bool, used: &mut Taken<u8>) -> Vec<u8> {
    let (base, ext) = if is_dir {
        (d_chars(name), String::new())
    } else {
        let (b, e) = split_ext(name);
        (d_chars(b), d_chars(e))
    };
    let base: String = base.chars().take(8).collect();
    let ext: String = ext.chars().take(3).collect();
    let base = if base.is_empty() && ext.is_empty() {
        "_".to_string()
    } else {
        base
    };
    let make = |b: &str| {
        if is_dir {
            b.as_bytes().to_vec()
        } else {
            format!("{b}.{ext};1").into_bytes()
        }
    };
    let cut = |digits: usize| &base[..8usize.saturating_sub(digits).min(base.len())];
    used.claim(
        |n| {
            if n == 0 {
                return make(&base);
            }
            let tail = n.to_string();
            make(&format!("{}{tail}", cut(tail.len())))
        },
        |digits| {
            let d = digits as usize;
            make(&format!("{}{}", cut(d), "#".repeat(d)))
        },
    )
}

/// True for characters Joliet forbids in identifiers.
fn joliet_forbidden(u: u16) -> bool {
    u < 0x20 || matches!(u, 0x2A | 0x2F | 0x3A | 0x3B | 0x3F | 0x5C)
}

/// `units` cut to at most `max` units without splitting a surrogate pair.
fn cut_units(units: &[u16], max: usize) -> &[u16] {
    if units.len() <= max {
        return units;
    }
    let mut end = max;
    if end > 0 && (0xD800..0xDC00).contains(&units[end - 1]) {
        end -= 1;
    }
    &units[..end]
}

/// A unique Joliet identifier: the real name with forbidden characters replaced, cut to
/// fit [`JOLIET_MAX_UNITS`] (keeping a short extension). Files get no `;1` version, like
/// genisoimage's and xorriso's, so readers list the name exactly.
fn unique_joliet_id(name: &str, is_dir: bool, used: &mut Taken<u16>) -> Vec<u16> {
    let clean = |s: &str| -> Vec<u16> {
        s.encode_utf16()
            .map(|u| {
                if joliet_forbidden(u) {
                    u16::from(b'_')
                } else {
                    u
                }
            })
            .collect()
    };
    let (base, ext) = match split_ext(name) {
        (b, e) if !is_dir && !e.is_empty() && e.encode_utf16().count() <= 16 => {
            (clean(b), clean(&format!(".{e}")))
        }
        _ => (clean(name), Vec::new()),
    };
    let room = JOLIET_MAX_UNITS - ext.len();
    let make = |tail: &[u16]| -> Vec<u16> {
        let mut id = cut_units(&base, room - tail.len()).to_vec();
        id.extend_from_slice(tail);
        id.extend_from_slice(&ext);
        id
    };
    used.claim(
        |n| {
            if n == 0 {
                return make(&[]);
            }
            let tail: Vec<u16> = format!("~{n}").encode_utf16().collect();
            make(&tail)
        },
        |digits| {
            let tail: Vec<u16> = format!("~{}", "#".repeat(digits as usize))
                .encode_utf16()
                .collect();
            make(&tail)
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iso(names: &[(&str, bool)]) -> Vec<String> {
        let mut used = Taken::default();
        names
            .iter()
            .map(|(n, d)| String::from_utf8(unique_iso_id(n, *d, &mut used)).unwrap())
            .collect()
    }

    #[test]
    fn nocloud_names_become_8_3() {
        assert_eq!(
            iso(&[
                ("meta-data", false),
                ("user-data", false),
                ("user-data.bak", false),
                ("Scripts", true),
                (".hidden", false)
            ]),
            [
                "META_DAT.;1",
                "USER_DAT.;1",
                "USER_DAT.BAK;1",
                "SCRIPTS",
                "_HIDDEN.;1"
            ]
        );
    }

    #[test]
    fn many_names_sharing_8_characters_stay_unique_and_in_order() {
        let names: Vec<(String, bool)> = (0..3000)
            .map(|i| (format!("file{i:05}.txt"), false))
            .collect();
        let refs: Vec<(&str, bool)> = names.iter().map(|(n, d)| (n.as_str(), *d)).collect();
        let ids = iso(&refs);
        let unique: HashSet<&String> = ids.iter().collect();
        assert_eq!(unique.len(), ids.len());
        assert_eq!(ids[0], "FILE0000.TXT;1");
        assert_eq!(ids[1], "FILE0001.TXT;1");
    }

    #[test]
    fn collisions_get_numeric_tails() {
        assert_eq!(
            iso(&[
                ("network-config", false),
                ("network-config2", false),
                ("network_config", false)
            ]),
            ["NETWORK_.;1", "NETWORK1.;1", "NETWORK2.;1"]
        );
    }

    #[test]
    fn joliet_keeps_extension_and_fits_64_units() {
        let mut used = Taken::default();
        let long = format!("{}.yaml", "a".repeat(100));
        let one = String::from_utf16(&unique_joliet_id(&long, false, &mut used)).unwrap();
        let two = String::from_utf16(&unique_joliet_id(&long, false, &mut used)).unwrap();
        assert_eq!(one.encode_utf16().count(), 64);
        assert!(one.ends_with(".yaml"), "{one}");
        assert!(two.ends_with("~1.yaml"), "{two}");
        assert_ne!(one, two);
        let odd = String::from_utf16(&unique_joliet_id("a:b*c?", true, &mut used)).unwrap();
        assert_eq!(odd, "a_b_c_");
    }

    #[test]
    fn joliet_cut_never_splits_a_surrogate_pair() {
        let mut used = Taken::default();
        let name = "😀".repeat(40);
        let id = unique_joliet_id(&name, true, &mut used);
        assert!(String::from_utf16(&id).is_ok());
        assert!(id.len() <= JOLIET_MAX_UNITS);
    }
}
