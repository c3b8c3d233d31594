//! Checking a layout end to end, and removing what nothing references.
//!
//! `verify` walks from `index.json` through every index and manifest to each config and
//! layer, and re-hashes every reachable blob (each once, however many images share it,
//! on all cores). A problem names the blob and every image that reaches it. Files in
//! `blobs/` that nothing reaches are reported as strays; they do no harm, and `gc`
//! removes them.

use super::descriptor::{Descriptor, ManifestDoc, ManifestKind, is_manifest_type};
use super::digest::{Digest, digest_reader};
use super::layout::Layout;
use super::{OciError, Result};
use crate::report::Reporter;
use serde::Serialize;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// What is wrong with one blob.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum BlobProblem {
    /// The file is not there.
    Missing,
    /// The file has the wrong length.
    SizeMismatch {
        /// Size the descriptor announces.
        expected: u64,
        /// Size on disk.
        actual: u64,
    },
    /// The content hashes to something else.
    DigestMismatch {
        /// What the content hashes to.
        actual: String,
    },
    /// The blob could not be read.
    Unreadable {
        /// The error.
        error: String,
    },
    /// A manifest or index that does not parse, so what it references was not checked.
    BadDocument {
        /// The parse error.
        error: String,
    },
}

/// A problem with one blob, and the images it breaks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The blob's digest.
    pub digest: String,
    /// Its path.
    pub path: PathBuf,
    /// The images (index.json names) that reference it.
    pub images: Vec<String>,
    /// What is wrong.
    pub problem: BlobProblem,
}

/// The result of [`verify`].
#[derive(Debug, Clone, Default, Serialize)]
pub struct VerifyReport {
    /// The layout directory.
    pub layout: PathBuf,
    /// Images named in index.json.
    pub images: Vec<String>,
    /// Distinct blobs checked.
    pub blobs_checked: usize,
    /// Bytes re-hashed.
    pub bytes_checked: u64,
    /// Problems found; empty means sound.
    pub problems: Vec<Finding>,
    /// Files in blobs/ that nothing references.
    pub strays: Vec<PathBuf>,
    /// Why strays were not looked for, when a damaged manifest hides what it references.
    pub strays_unknown: Option<String>,
    /// Temporary directories left by killed writers.
    pub stale_temp: Vec<PathBuf>,
}

impl VerifyReport {
    /// True when every reachable blob is present and correct.
    pub fn is_sound(&self) -> bool {
        self.problems.is_empty()
    }
}

/// The reachable blob graph: for each digest, its size and the images that reach it.
#[derive(Default)]
struct Graph {
    /// The images, in `index.json`'s order; nodes refer to them by position.
    images: Vec<String>,
    blobs: HashMap<Digest, Node>,
    problems: Vec<(Digest, BlobProblem)>,
    /// Manifests whose children could not be walked (missing, damaged, unparsable): what
    /// they reference is unknown, so nothing may be called unreferenced.
    unwalked: BTreeSet<Digest>,
}

struct Node {
    size: u64,
    /// Positions in [`Graph::images`], ascending: images are walked one after another,
    /// so a node met again by the image being walked has it last.
    images: Vec<u32>,
}

impl Graph {
    fn visit(&mut self, layout: &Layout, d: &Descriptor, image: u32, check_manifests: bool) {
        // A shared layer is met once per image: its key is copied only the first time.
        let node = match self.blobs.get_mut(&d.digest) {
            Some(node) => node,
            None => self.blobs.entry(d.digest.clone()).or_insert(Node {
                size: d.size,
                images: Vec::new(),
            }),
        };
        if node.images.last() == Some(&image) {
            return;
        }
        node.images.push(image);
        if !is_manifest_type(&d.media_type) {
            return;
        }
        // Manifests are small: read them to find their children. Their own bytes are
        // checked again with every other blob in the hashing pass.
        let bytes = match layout.read_blob(&d.digest) {
            Ok(b) => b,
            Err(e @ OciError::Input(crate::input::InputError::TooLarge { .. })) => {
                // Its bytes may hash right, so the hashing pass would pass it: the cap is a
                // problem of its own, or what it references would go unchecked.
                self.unwalked.insert(d.digest.clone());
                self.problems.push((
                    d.digest.clone(),
                    BlobProblem::BadDocument {
                        error: e.to_string(),
                    },
                ));
                return;
            }
            Err(_) => {
                // Reported as missing/unreadable by the hashing pass.
                self.unwalked.insert(d.digest.clone());
                return;
            }
        };
        if check_manifests && Digest::of(&bytes) != d.digest {
            // Reported as a digest mismatch; its children cannot be trusted.
            self.unwalked.insert(d.digest.clone());
            return;
        }
        let doc = match ManifestDoc::parse(&bytes) {
            Ok(doc) => doc,
            Err(e) => {
                self.unwalked.insert(d.digest.clone());
                self.problems.push((
                    d.digest.clone(),
                    BlobProblem::BadDocument {
                        error: e.to_string(),
                    },
                ));
                return;
            }
        };
        let children: Vec<&Descriptor> = match doc.kind(Some(&d.media_type)) {
            Some(ManifestKind::Index) => doc.manifests.iter().flatten().collect(),
            Some(ManifestKind::Image) => doc.image_blobs(),
            None => Vec::new(),
        };
        for child in children {
            self.visit(layout, child, image, check_manifests);
        }
    }
}

fn walk(layout: &Layout, check_manifests: bool) -> Result<Graph> {
    let index = layout.read_index()?;
    let mut graph = Graph::default();
    for (i, entry) in index.manifests.iter().enumerate() {
        let name = entry
            .ref_name()
            .map_or_else(|| format!("(unnamed {})", entry.digest), str::to_string);
        graph.images.push(name);
        let i = u32::try_from(i).unwrap_or(u32::MAX);
        graph.visit(layout, entry, i, check_manifests);
    }
    Ok(graph)
}

/// Digests already known for files, so that a blob whose file is unchanged since it was
/// last hashed is not read again (see the build state's stat cache).
pub trait KnownDigests: Sync {
    /// The sha256 (hex) the file at `path` is known to have while its metadata is `meta`.
    fn known(&self, path: &Path, meta: &fs::Metadata) -> Option<String>;
    /// `path`, whose metadata was `meta` before it was read, hashes to `sha256` (hex).
    fn learned(&self, path: &Path, meta: &fs::Metadata, sha256: &str);
}

/// Checks every blob reachable from `index.json`.
pub fn verify(layout: &Layout, reporter: &dyn Reporter) -> Result<VerifyReport> {
    verify_with(layout, reporter, None)
}

/// [`verify`], taking the digest of a blob whose file `known` vouches for instead of
/// re-hashing it (its size is still checked), and telling `known` every digest it
/// computes. `bytes_checked` counts the bytes actually re-hashed.
pub fn verify_with(
    layout: &Layout,
    reporter: &dyn Reporter,
    known: Option<&dyn KnownDigests>,
) -> Result<VerifyReport> {
    let graph = walk(layout, true)?;
    let blobs: Vec<(&Digest, &Node)> = graph.blobs.iter().collect();
    let total = blobs.len();
    let findings = Mutex::new(Vec::new());
    let bytes_checked = std::sync::atomic::AtomicU64::new(0);
    let next = AtomicUsize::new(0);
    let workers = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .min(8);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some((digest, node)) = blobs.get(i) else {
                        break;
                    };
                    let label = digest.to_string();
                    reporter.item_started(&label, i, total);
                    let (problem, hashed) = check_blob(layout, digest, node.size, known);
                    if problem.is_none() && hashed {
                        bytes_checked.fetch_add(node.size, Ordering::Relaxed);
                    }
                    reporter.item_progress(&label, node.size);
                    reporter.item_finished(&label, if problem.is_some() { "bad" } else { "ok" });
                    if let (Some(problem), Ok(mut f)) = (problem, findings.lock()) {
                        f.push(finding(layout, &graph, digest, node, problem));
                    }
                }
            });
        }
    });
    let mut problems = findings.into_inner().unwrap_or_default();
    for (digest, problem) in graph.problems.iter() {
        if let Some(node) = graph.blobs.get(digest) {
            problems.push(finding(layout, &graph, digest, node, problem.clone()));
        }
    }
    problems.sort_by(|a, b| a.digest.cmp(&b.digest));
    let (strays, strays_unknown) = if graph.unwalked.is_empty() {
        (unreferenced(layout, &graph)?, None)
    } else {
        (Vec::new(), Some(unwalked_reason(&graph)))
    };
    let stale_temp = layout.stale_sessions()?;
    Ok(VerifyReport {
        layout: layout.root().to_path_buf(),
        images: graph.images,
        blobs_checked: total,
        bytes_checked: bytes_checked.into_inner(),
        problems,
        strays,
        strays_unknown,
        stale_temp,
    })
}

fn unwalked_reason(graph: &Graph) -> String {
    let list: Vec<String> = graph.unwalked.iter().map(ToString::to_string).collect();
    format!(
        "manifest(s) {} could not be read, so what they reference is unknown",
        list.join(", ")
    )
}

fn finding(
    layout: &Layout,
    graph: &Graph,
    digest: &Digest,
    node: &Node,
    problem: BlobProblem,
) -> Finding {
    // Sorted and once each, however often a name stands in index.json.
    let images: BTreeSet<&String> = node
        .images
        .iter()
        .filter_map(|&i| graph.images.get(i as usize))
        .collect();
    Finding {
        digest: digest.to_string(),
        path: layout.blob_path(digest),
        images: images.into_iter().cloned().collect(),
        problem,
    }
}

/// What is wrong with a blob, if anything, and whether it was read to find out.
fn check_blob(
    layout: &Layout,
    digest: &Digest,
    size: u64,
    known: Option<&dyn KnownDigests>,
) -> (Option<BlobProblem>, bool) {
    let path = layout.blob_path(digest);
    let missing = |e: &std::io::Error| e.kind() == std::io::ErrorKind::NotFound;
    // With nothing to vouch for a file it is opened straight away: its metadata comes from
    // the open file, one path look-up instead of two.
    let (opened, meta) = if known.is_some() {
        match fs::metadata(&path) {
            Ok(m) => (None, m),
            Err(e) if missing(&e) => return (Some(BlobProblem::Missing), false),
            Err(e) => {
                let error = e.to_string();
                return (Some(BlobProblem::Unreadable { error }), false);
            }
        }
    } else {
        match crate::input::open_regular_with_metadata(&path) {
            Ok((f, m)) => (Some(f), m),
            Err(crate::input::InputError::Io { source, .. }) if missing(&source) => {
                return (Some(BlobProblem::Missing), false);
            }
            Err(e) => {
                let error = e.reason();
                return (Some(BlobProblem::Unreadable { error }), false);
            }
        }
    };
    if meta.len() != size {
        return (
            Some(BlobProblem::SizeMismatch {
                expected: size,
                actual: meta.len(),
            }),
            false,
        );
    }
    if known.and_then(|k| k.known(&path, &meta)).as_deref() == Some(digest.hex()) {
        return (None, false);
    }
    let opened = match opened {
        Some(f) => Ok(f),
        None => crate::input::open_regular(&path),
    };
    let mut file = match opened {
        Ok(f) => f,
        Err(e) => {
            let error = e.reason();
            return (Some(BlobProblem::Unreadable { error }), false);
        }
    };
    let problem = match digest_reader(&mut file) {
        Ok((actual, _)) if &actual == digest => {
            if let Some(k) = known {
                k.learned(&path, &meta, digest.hex());
            }
            None
        }
        Ok((actual, _)) => Some(BlobProblem::DigestMismatch {
            actual: actual.to_string(),
        }),
        Err(e) => Some(BlobProblem::Unreadable {
            error: e.to_string(),
        }),
    };
    (problem, true)
}

fn unreferenced(layout: &Layout, graph: &Graph) -> Result<Vec<PathBuf>> {
    let reachable: HashSet<&str> = graph.blobs.keys().map(Digest::hex).collect();
    layout.blobs_not_in(&reachable)
}

/// What [`gc`] removed.
#[derive(Debug, Clone, Default, Serialize)]
pub struct GcReport {
    /// Blob files removed.
    pub removed: Vec<PathBuf>,
    /// Bytes freed.
    pub bytes_freed: u64,
    /// Temporary directories of killed writers removed.
    pub stale_temp_removed: usize,
}

/// Removes blobs that nothing in `index.json` reaches, and leftovers of killed writers.
/// Refuses while another process is writing to the layout, because that writer's new
/// blobs are not in `index.json` yet.
pub fn gc(layout: &Layout) -> Result<GcReport> {
    let _lock = layout.lock_index()?;
    if layout.has_live_writers()? {
        return Err(OciError::Unsupported(format!(
            "{}: another seedforge process is writing to this layout; run gc when it has finished",
            layout.root().display()
        )));
    }
    let stale_temp_removed = layout.remove_stale_sessions()?;
    let graph = walk(layout, true)?;
    if !graph.unwalked.is_empty() {
        return Err(OciError::Unsupported(format!(
            "{}: gc refused: {}; run `seedforge verify` and repair or re-mirror first",
            layout.root().display(),
            unwalked_reason(&graph)
        )));
    }
    let mut report = GcReport {
        stale_temp_removed,
        ..GcReport::default()
    };
    for path in unreferenced(layout, &graph)? {
        let is_blob = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| Digest::from_hex(n).is_ok());
        if !is_blob {
            continue; // not ours to delete: a foreign file is only reported by verify
        }
        let size = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        fs::remove_file(&path).map_err(|e| OciError::io(&path, e))?;
        report.bytes_freed += size;
        report.removed.push(path);
    }
    Ok(report)
}
