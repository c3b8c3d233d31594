//! Checking a layout end to end, and removing what nothing references.
//!
//! `verify` walks from `index.json` through every index and manifest to each config and
//! layer, and re-hashes every reachable blob (each once, however many images share it,
//! on all cores). A problem names the blob and every image that reaches it. Files in
//! `blobs/` that nothing reaches are reported as strays; they do no harm, and `gc`
//! removes them.
//!
//! An index stored with platforms dropped may name the index it was cut from
//! ([`INDEX_ORIGINAL`]): that blob is reached too (kept by `gc`, hashed by `verify`), as a
//! plain blob, not walked for children (the platforms left out are absent on purpose), and
//! the stored index must be a subset of it ([`check_subset`]).

use super::copy::{INDEX_ORIGINAL, check_subset};
use super::descriptor::{DOCKER_MANIFEST_LIST, OCI_INDEX, is_manifest_type};
use super::digest::{BlobKey, Digest};
use super::layout::{BlobDir, Layout};
use super::{OciError, Result};
use crate::report::Reporter;
use crate::util::FileStat;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};
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
    /// Distinct blobs checked: every blob reachable from `index.json`.
    pub blobs_checked: usize,
    /// Of those, the blobs re-hashed now (the rest unchanged since they last hashed right).
    pub blobs_hashed: usize,
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
    blobs: HashMap<BlobKey, Node>,
    /// The manifests and indexes the walk read whole and found right, with the stat their
    /// files had then: the hashing pass leaves them out.
    walked: Vec<(BlobKey, FileStat)>,
    problems: Vec<(Digest, BlobProblem)>,
    /// Manifests whose children could not be walked (missing, damaged, unparsable): what
    /// they reference is unknown, so nothing may be called unreferenced.
    unwalked: BTreeSet<Digest>,
}

struct Node {
    size: u64,
    /// A manifest or index the walk read whole and found right (its digest and size): the
    /// hashing pass need not read it again.
    walked: bool,
    /// The first image that reaches it, and the others in [`Node::more`].
    first: u32,
    /// Further images, as positions in [`Graph::images`], ascending: images are walked one
    /// after another, so a node met again by the image being walked has it last. Most
    /// blobs belong to one image and this stays empty (no allocation).
    more: Vec<u32>,
}

impl Node {
    fn images(&self) -> impl Iterator<Item = u32> + '_ {
        std::iter::once(self.first).chain(self.more.iter().copied())
    }

    fn last_image(&self) -> u32 {
        self.more.last().copied().unwrap_or(self.first)
    }
}

/// What the walk needs of a manifest or index: the descriptors it points at, read
/// without copying their strings out of the document. A descriptor needs the same three
/// fields as [`Descriptor`]; everything else (platforms, annotations) is not looked at.
#[derive(Deserialize)]
struct WalkDoc<'a> {
    #[serde(rename = "schemaVersion", default)]
    _schema_version: Option<u32>,
    #[serde(default, borrow)]
    config: Option<WalkRef<'a>>,
    #[serde(default, borrow)]
    layers: Option<Vec<WalkRef<'a>>>,
    #[serde(default, borrow)]
    manifests: Option<Vec<WalkRef<'a>>>,
    #[serde(default, borrow)]
    annotations: Option<WalkAnnotations<'a>>,
}

/// The one annotation the walk reads: an index's [`INDEX_ORIGINAL`].
#[derive(Deserialize)]
struct WalkAnnotations<'a> {
    #[serde(rename = "dev.seedforge.index.original", default, borrow)]
    original: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct WalkRef<'a> {
    #[serde(rename = "mediaType", borrow)]
    media_type: Cow<'a, str>,
    #[serde(borrow)]
    digest: Cow<'a, str>,
    size: u64,
}

impl Graph {
    /// Walks the blob `k` of `media_type` and `size` for `image`. A shared layer is met
    /// once per image: its node is made only the first time.
    fn visit(
        &mut self,
        dir: &BlobDir,
        media_type: &str,
        k: BlobKey,
        size: u64,
        image: u32,
        check_manifests: bool,
    ) {
        match self.blobs.get_mut(&k) {
            Some(node) if node.last_image() == image => return,
            Some(node) => node.more.push(image),
            None => {
                self.blobs.insert(
                    k,
                    Node {
                        size,
                        walked: false,
                        first: image,
                        more: Vec::new(),
                    },
                );
            }
        }
        if !is_manifest_type(media_type) {
            return;
        }
        let key = || k.digest();
        // Manifests are small: read them to find their children, and check their bytes
        // here (the hashing pass then leaves them out).
        let (bytes, meta) = match dir.read_document(&k) {
            Ok(read) => read,
            Err(e @ OciError::Input(crate::input::InputError::TooLarge { .. })) => {
                // Its bytes may hash right, so the hashing pass would pass it: the cap is a
                // problem of its own, or what it references would go unchecked.
                self.unwalked.insert(key());
                self.problems.push((
                    key(),
                    BlobProblem::BadDocument {
                        error: e.to_string(),
                    },
                ));
                return;
            }
            Err(_) => {
                // Reported as missing/unreadable by the hashing pass.
                self.unwalked.insert(key());
                return;
            }
        };
        if check_manifests {
            if BlobKey::from_bytes(crate::hashing::sha256_bytes(&bytes)) != k {
                // Reported as a digest mismatch; its children cannot be trusted.
                self.unwalked.insert(key());
                return;
            }
            // A manifest two images share is met once per image, and told once.
            if bytes.len() as u64 == size
                && let Some(node) = self.blobs.get_mut(&k)
                && !node.walked
            {
                node.walked = true;
                self.walked.push((k, FileStat::of(&meta)));
            }
        }
        let bad = |graph: &mut Graph, error: String| {
            graph.unwalked.insert(key());
            graph
                .problems
                .push((key(), BlobProblem::BadDocument { error }));
        };
        let doc: WalkDoc<'_> = match serde_json::from_slice(&bytes) {
            Ok(doc) => doc,
            Err(e) => return bad(self, e.to_string()),
        };
        let is_index = matches!(media_type, OCI_INDEX | DOCKER_MANIFEST_LIST);
        let children: Vec<&WalkRef<'_>> = if is_index {
            doc.manifests.iter().flatten().collect()
        } else {
            (doc.config.iter())
                .chain(doc.layers.iter().flatten())
                .collect()
        };
        let original = doc.annotations.as_ref().and_then(|a| a.original.as_deref());
        if let (true, Some(original)) = (is_index, original) {
            match original.strip_prefix("sha256:").and_then(BlobKey::from_hex) {
                Some(original) => self.visit_original(dir, k, &bytes, original, image),
                None => {
                    return bad(
                        self,
                        format!("its {INDEX_ORIGINAL} annotation {original:?} is not a digest"),
                    );
                }
            }
        }
        // Every child's digest must be one before any is walked, as a parse into
        // descriptors would require: `sha256:` and 64 lowercase hex digits.
        let mut keys = Vec::with_capacity(children.len());
        for child in &children {
            match child
                .digest
                .strip_prefix("sha256:")
                .and_then(BlobKey::from_hex)
            {
                Some(key) => keys.push(key),
                None => {
                    let error = match child.digest.parse::<Digest>() {
                        Err(e) => e.to_string(),
                        Ok(_) => format!("invalid digest {:?}", child.digest),
                    };
                    return bad(self, error);
                }
            }
        }
        for (child, key) in children.iter().zip(keys) {
            self.visit(
                dir,
                &child.media_type,
                key,
                child.size,
                image,
                check_manifests,
            );
        }
    }
}

impl Graph {
    /// Reaches `original`, the index the index `subset` (of `image`) was cut from, as a
    /// plain blob: hashed here (small, and read to compare), never walked for children.
    /// A subset that is not one of it is a problem of the subset's; an original missing or
    /// damaged is left to the hashing pass, which names it.
    fn visit_original(
        &mut self,
        dir: &BlobDir,
        subset_key: BlobKey,
        subset: &[u8],
        original: BlobKey,
        image: u32,
    ) {
        let read = dir.read_document(&original).ok().filter(|(bytes, _)| {
            BlobKey::from_bytes(crate::hashing::sha256_bytes(bytes)) == original
        });
        let size = match &read {
            Some((bytes, _)) => bytes.len() as u64,
            None => fs::symlink_metadata(dir.path_of(&original)).map_or(0, |m| m.len()),
        };
        match self.blobs.get_mut(&original) {
            Some(node) if node.last_image() == image => {}
            Some(node) => node.more.push(image),
            None => {
                self.blobs.insert(
                    original,
                    Node {
                        size,
                        walked: false,
                        first: image,
                        more: Vec::new(),
                    },
                );
            }
        }
        let Some((bytes, meta)) = read else {
            return;
        };
        if let Some(node) = self.blobs.get_mut(&original)
            && !node.walked
            && node.size == size
        {
            node.walked = true;
            self.walked.push((original, FileStat::of(&meta)));
        }
        if let Err(why) = check_subset(subset, &bytes) {
            let error = format!(
                "not a subset of the index it names as its original, {}: {why}",
                original.digest()
            );
            self.problems
                .push((subset_key.digest(), BlobProblem::BadDocument { error }));
        }
    }
}

fn walk(layout: &Layout, dir: &BlobDir, check_manifests: bool) -> Result<Graph> {
    let index = layout.read_index()?;
    let mut graph = Graph::default();
    // Room for a few blobs per image from the start: growing a map of 100,000 digests
    // step by step costs more than its entries.
    graph.blobs.reserve(index.manifests.len().saturating_mul(4));
    graph.images.reserve(index.manifests.len());
    for (i, entry) in index.manifests.iter().enumerate() {
        let name = entry
            .ref_name()
            .map_or_else(|| format!("(unnamed {})", entry.digest), str::to_string);
        graph.images.push(name);
        let i = u32::try_from(i).unwrap_or(u32::MAX);
        let k = entry.digest.key();
        graph.visit(dir, &entry.media_type, k, entry.size, i, check_manifests);
    }
    Ok(graph)
}

/// Every blob reachable from a layout's `index.json`: its digest (`sha256:<hex>`) and the
/// size its descriptor gives, sorted by digest; or, when a manifest could not be read
/// (missing, damaged, not parsable), why what it references is unknown. Manifests are
/// read, not re-hashed: [`verify`] is the check of the blobs' bytes.
pub fn reachable(layout: &Layout) -> Result<std::result::Result<Vec<(String, u64)>, String>> {
    let dir = layout.blob_dir();
    let graph = walk(layout, &dir, false)?;
    if !graph.unwalked.is_empty() {
        return Ok(Err(unwalked_reason(&graph)));
    }
    let mut blobs: Vec<(String, u64)> = (graph.blobs.iter())
        .map(|(k, n)| (k.digest().to_string(), n.size))
        .collect();
    blobs.sort();
    Ok(Ok(blobs))
}

/// One blob file of a layout, named by its digest: its path is made only when asked for.
#[derive(Clone, Copy)]
pub struct BlobFile<'a> {
    dir: &'a Path,
    key: BlobKey,
}

impl<'a> BlobFile<'a> {
    /// The blob `key` in the blob folder `dir` (a layout's `blobs/sha256`).
    pub fn new(dir: &'a Path, key: BlobKey) -> BlobFile<'a> {
        BlobFile { dir, key }
    }

    /// The blob's digest, which its content must hash to.
    pub fn key(&self) -> BlobKey {
        self.key
    }

    /// The blob's path.
    pub fn path(&self) -> PathBuf {
        self.dir.join(self.key.hex(&mut [0; 64]))
    }
}

/// Digests already known for files, so that a blob whose file is unchanged since it was
/// last hashed is not read again (see the build state's stat cache).
pub trait KnownDigests: Sync {
    /// Whether the regular file `blob`, while its stat is `stat`, is known to hash to its
    /// digest.
    fn known(&self, blob: &BlobFile<'_>, stat: &FileStat) -> bool;
    /// The regular file `blob`, whose stat was `stat` before it was read, hashed to its
    /// digest.
    fn learned(&self, blob: &BlobFile<'_>, stat: &FileStat);
    /// Whether [`KnownDigests::known`] may vouch for anything (a full verify only records):
    /// when it never does, each blob is opened straight away.
    fn trusts(&self) -> bool {
        true
    }
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
    let dir = layout.blob_dir();
    let graph = walk(layout, &dir, true)?;
    let total = graph.blobs.len();
    let mut bytes_walked = 0;
    // Manifests and indexes, read and hashed whole by the walk: told, not read again.
    let mut label = String::new();
    for (i, (k, stat)) in graph.walked.iter().enumerate() {
        set_label(&mut label, k);
        reporter.item_started(&label, i, total);
        if let Some(known) = known {
            known.learned(&BlobFile::new(dir.path(), *k), stat);
        }
        reporter.item_progress(&label, stat.size);
        reporter.item_finished(&label, "ok");
        bytes_walked += stat.size;
    }
    let blobs: Vec<(BlobKey, &Node)> = (graph.blobs.iter())
        .filter(|(_, n)| !n.walked)
        .map(|(k, n)| (*k, n))
        .collect();
    let findings = Mutex::new(Vec::new());
    let bytes_checked = std::sync::atomic::AtomicU64::new(bytes_walked);
    let blobs_hashed = AtomicUsize::new(graph.walked.len());
    let next = AtomicUsize::new(0);
    let workers = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .min(8);
    let done = graph.walked.len();
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                let mut label = String::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&(k, node)) = blobs.get(i) else {
                        break;
                    };
                    set_label(&mut label, &k);
                    reporter.item_started(&label, done + i, total);
                    let (problem, hashed) = check_blob(&dir, k, node.size, known);
                    if problem.is_none() && hashed {
                        bytes_checked.fetch_add(node.size, Ordering::Relaxed);
                        blobs_hashed.fetch_add(1, Ordering::Relaxed);
                    }
                    reporter.item_progress(&label, node.size);
                    reporter.item_finished(&label, if problem.is_some() { "bad" } else { "ok" });
                    if let (Some(problem), Ok(mut f)) = (problem, findings.lock()) {
                        f.push(finding(&dir, &graph, k, node, problem));
                    }
                }
            });
        }
    });
    let mut problems = findings.into_inner().unwrap_or_default();
    for (digest, problem) in graph.problems.iter() {
        let k = digest.key();
        if let Some(node) = graph.blobs.get(&k) {
            problems.push(finding(&dir, &graph, k, node, problem.clone()));
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
        blobs_hashed: blobs_hashed.into_inner(),
        bytes_checked: bytes_checked.into_inner(),
        problems,
        strays,
        strays_unknown,
        stale_temp,
    })
}

/// `label` made the blob's digest, `sha256:<hex>`, in the string's own room.
fn set_label(label: &mut String, k: &BlobKey) {
    label.clear();
    label.push_str("sha256:");
    label.push_str(k.hex(&mut [0; 64]));
}

fn unwalked_reason(graph: &Graph) -> String {
    let list: Vec<String> = graph.unwalked.iter().map(ToString::to_string).collect();
    format!(
        "manifest(s) {} could not be read, so what they reference is unknown",
        list.join(", ")
    )
}

fn finding(dir: &BlobDir, graph: &Graph, k: BlobKey, node: &Node, problem: BlobProblem) -> Finding {
    // Sorted and once each, however often a name stands in index.json.
    let images: BTreeSet<&String> = node
        .images()
        .filter_map(|i| graph.images.get(i as usize))
        .collect();
    Finding {
        digest: k.digest().to_string(),
        path: dir.path_of(&k),
        images: images.into_iter().cloned().collect(),
        problem,
    }
}

/// What is wrong with a blob, if anything, and whether it was read to find out.
fn check_blob(
    dir: &BlobDir,
    k: BlobKey,
    size: u64,
    known: Option<&dyn KnownDigests>,
) -> (Option<BlobProblem>, bool) {
    let blob = BlobFile::new(dir.path(), k);
    let missing = |e: &std::io::Error| e.kind() == std::io::ErrorKind::NotFound;
    // With nothing to vouch for a file it is opened straight away: its metadata comes from
    // the open file, one look-up instead of two.
    let (opened, meta) = if known.is_some_and(|k| k.trusts()) {
        match fs::metadata(blob.path()) {
            Ok(m) => (None, m),
            Err(e) if missing(&e) => return (Some(BlobProblem::Missing), false),
            Err(e) => {
                let error = e.to_string();
                return (Some(BlobProblem::Unreadable { error }), false);
            }
        }
    } else {
        match dir.open(&k) {
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
    let stat = FileStat::of(&meta);
    if meta.is_file() && known.is_some_and(|known| known.known(&blob, &stat)) {
        return (None, false);
    }
    let opened = match opened {
        Some(f) => Ok(f),
        None => dir.open(&k).map(|(f, _)| f),
    };
    let mut file = match opened {
        Ok(f) => f,
        Err(e) => {
            let error = e.reason();
            return (Some(BlobProblem::Unreadable { error }), false);
        }
    };
    let problem = match crate::hashing::sha256_reader_bytes(&mut file) {
        Ok((actual, _)) if BlobKey::from_bytes(actual) == k => {
            if let Some(known) = known {
                known.learned(&blob, &stat);
            }
            None
        }
        Ok((actual, _)) => Some(BlobProblem::DigestMismatch {
            actual: BlobKey::from_bytes(actual).digest().to_string(),
        }),
        Err(e) => Some(BlobProblem::Unreadable {
            error: e.to_string(),
        }),
    };
    (problem, true)
}

fn unreferenced(layout: &Layout, graph: &Graph) -> Result<Vec<PathBuf>> {
    layout
        .blobs_not_in(&|name| BlobKey::from_hex(name).is_some_and(|k| graph.blobs.contains_key(&k)))
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
    /// Unreferenced blobs kept because the caller vouches for them (a build output's seal
    /// lists them).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub kept: Vec<PathBuf>,
}

/// Removes blobs that nothing in `index.json` reaches, and leftovers of killed writers.
/// Refuses while another process is writing to the layout, because that writer's new
/// blobs are not in `index.json` yet.
pub fn gc(layout: &Layout) -> Result<GcReport> {
    gc_keeping(layout, &|_| false)
}

/// [`gc`], keeping every unreferenced blob for which `keep` is true (its path).
pub fn gc_keeping(layout: &Layout, keep: &dyn Fn(&Path) -> bool) -> Result<GcReport> {
    let _lock = layout.lock_index()?;
    if layout.has_live_writers()? {
        return Err(OciError::Unsupported(format!(
            "{}: another seedforge process is writing to this layout; run gc when it has finished",
            layout.root().display()
        )));
    }
    let stale_temp_removed = layout.remove_stale_sessions()?;
    let graph = walk(layout, &layout.blob_dir(), true)?;
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
        if keep(&path) {
            report.kept.push(path);
            continue;
        }
        let size = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        fs::remove_file(&path).map_err(|e| OciError::io(&path, e))?;
        report.bytes_freed += size;
        report.removed.push(path);
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::descriptor::{
        ANNOTATION_REF_NAME, Descriptor, OCI_CONFIG, OCI_INDEX, OCI_LAYER_TAR, OCI_MANIFEST,
    };
    use crate::oci::digest::Digest;

    /// A layout holding one platform of a two-platform index, cut with its original kept:
    /// returns the layout, the stored subset and the original index.
    fn subset_layout(dir: &Path) -> (Layout, Descriptor, Digest) {
        let layout = Layout::create(dir).unwrap();
        let config = br#"{"architecture":"amd64","os":"linux"}"#;
        let layer = b"layer bytes";
        let config_digest = layout.write_blob_bytes(config, None, "t").unwrap();
        let layer_digest = layout.write_blob_bytes(layer, None, "t").unwrap();
        let manifest = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"{OCI_CONFIG}","digest":"{config_digest}","size":{}}},"layers":[{{"mediaType":"{OCI_LAYER_TAR}","digest":"{layer_digest}","size":{}}}]}}"#,
            config.len(),
            layer.len()
        );
        let amd64 = layout
            .write_blob_bytes(manifest.as_bytes(), None, "t")
            .unwrap();
        // The arm64 manifest is named by the original only, and never stored.
        let arm64 = Digest::of(b"the arm64 manifest");
        let original = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[{{"mediaType":"{OCI_MANIFEST}","digest":"{arm64}","size":18,"platform":{{"architecture":"arm64","os":"linux"}}}},{{"mediaType":"{OCI_MANIFEST}","digest":"{amd64}","size":{},"platform":{{"architecture":"amd64","os":"linux"}}}}]}}"#,
            manifest.len()
        );
        let original_digest = layout
            .write_blob_bytes(original.as_bytes(), None, "t")
            .unwrap();
        let subset =
            crate::oci::copy::subset_index(original.as_bytes(), &[1], Some(&original_digest))
                .unwrap();
        let digest = layout.write_blob_bytes(&subset, None, "t").unwrap();
        let mut entry = Descriptor::new(OCI_INDEX, digest, subset.len() as u64);
        entry
            .annotations
            .insert(ANNOTATION_REF_NAME.to_string(), "example.com/a:1".into());
        layout.add_to_index(vec![entry.clone()]).unwrap();
        (layout, entry, original_digest)
    }

    #[test]
    fn the_original_a_subset_names_is_reached_hashed_and_compared() {
        let dir = tempfile::tempdir().unwrap();
        let (layout, entry, original) = subset_layout(dir.path());
        let report = verify(&layout, &crate::report::Tally::default()).unwrap();
        assert!(report.is_sound(), "{report:?}");
        // Subset, original, manifest, config, layer; the arm64 manifest is not looked for.
        assert_eq!(report.blobs_checked, 5);
        assert!(report.strays.is_empty(), "{:?}", report.strays);
        assert!(gc(&layout).unwrap().removed.is_empty());
        assert!(layout.blob_path(&original).exists());
        // Altered, the original is named with the image.
        let path = layout.blob_path(&original);
        let bytes = std::fs::read(&path).unwrap();
        let mut altered = bytes.clone();
        altered[bytes.len() - 2] = b' ';
        std::fs::write(&path, &altered).unwrap();
        let report = verify(&layout, &crate::report::Tally::default()).unwrap();
        assert_eq!(report.problems.len(), 1, "{report:?}");
        assert_eq!(report.problems[0].digest, original.to_string());
        assert_eq!(report.problems[0].images, ["example.com/a:1"]);
        assert!(matches!(
            report.problems[0].problem,
            BlobProblem::DigestMismatch { .. }
        ));
        std::fs::remove_file(&path).unwrap();
        let report = verify(&layout, &crate::report::Tally::default()).unwrap();
        assert_eq!(report.problems.len(), 1, "{report:?}");
        assert_eq!(report.problems[0].problem, BlobProblem::Missing);
        std::fs::write(&path, &bytes).unwrap();
        assert!(
            verify(&layout, &crate::report::Tally::default())
                .unwrap()
                .is_sound()
        );
        // A subset listing what its original does not: a problem of the subset's.
        let subset = layout.read_blob(&entry.digest).unwrap();
        let text = String::from_utf8(subset).unwrap();
        let forged = text.replace(r#""architecture":"amd64""#, r#""architecture":"riscv64""#);
        assert_ne!(forged, text);
        let digest = layout
            .write_blob_bytes(forged.as_bytes(), None, "t")
            .unwrap();
        let mut named = Descriptor::new(OCI_INDEX, digest.clone(), forged.len() as u64);
        named
            .annotations
            .insert(ANNOTATION_REF_NAME.to_string(), "example.com/b:1".into());
        layout.add_to_index(vec![named]).unwrap();
        let report = verify(&layout, &crate::report::Tally::default()).unwrap();
        assert_eq!(report.problems.len(), 1, "{report:?}");
        assert_eq!(report.problems[0].digest, digest.to_string());
        assert_eq!(report.problems[0].images, ["example.com/b:1"]);
        let BlobProblem::BadDocument { error } = &report.problems[0].problem else {
            panic!("{report:?}");
        };
        assert!(error.contains(&original.to_string()), "{error}");
    }

    #[test]
    fn an_index_without_its_original_annotation_leaves_that_blob_a_stray() {
        let dir = tempfile::tempdir().unwrap();
        let (layout, entry, original) = subset_layout(dir.path());
        // The same index with the annotation's value not a digest: refused as a document.
        let text = String::from_utf8(layout.read_blob(&entry.digest).unwrap()).unwrap();
        let broken = text.replace(&original.to_string(), "sha256:xyz");
        let digest = layout
            .write_blob_bytes(broken.as_bytes(), None, "t")
            .unwrap();
        let named = Descriptor::new(OCI_INDEX, digest.clone(), broken.len() as u64);
        layout.retain(&|_| false).unwrap();
        layout.add_to_index(vec![named]).unwrap();
        let report = verify(&layout, &crate::report::Tally::default()).unwrap();
        assert!(
            matches!(&report.problems[..], [f] if f.digest == digest.to_string()
                && matches!(f.problem, BlobProblem::BadDocument { .. })),
            "{report:?}"
        );
        // Without the annotation, the original is nothing's: gc removes it.
        let plain =
            crate::oci::copy::filtered_index(&layout.read_blob(&original).unwrap(), &[1]).unwrap();
        let digest = layout.write_blob_bytes(&plain, None, "t").unwrap();
        layout.retain(&|_| false).unwrap();
        layout
            .add_to_index(vec![Descriptor::new(OCI_INDEX, digest, plain.len() as u64)])
            .unwrap();
        let removed = gc(&layout).unwrap().removed;
        assert!(
            removed.contains(&layout.blob_path(&original)),
            "{removed:?}"
        );
    }

    #[test]
    fn a_manifest_two_images_share_is_one_item_of_the_count() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::create(dir.path()).unwrap();
        let config = br#"{"architecture":"amd64","os":"linux"}"#;
        let layer = b"layer bytes";
        let config_digest = layout.write_blob_bytes(config, None, "t").unwrap();
        let layer_digest = layout.write_blob_bytes(layer, None, "t").unwrap();
        let manifest = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"{OCI_CONFIG}","digest":"{config_digest}","size":{}}},"layers":[{{"mediaType":"{OCI_LAYER_TAR}","digest":"{layer_digest}","size":{}}}]}}"#,
            config.len(),
            layer.len()
        );
        let digest = layout
            .write_blob_bytes(manifest.as_bytes(), None, "t")
            .unwrap();
        let named = |name: &str| {
            let mut d = Descriptor::new(OCI_MANIFEST, digest.clone(), manifest.len() as u64);
            d.annotations
                .insert(ANNOTATION_REF_NAME.to_string(), name.to_string());
            d
        };
        layout
            .add_to_index(vec![named("example.com/a:1"), named("example.com/b:1")])
            .unwrap();
        let tally = crate::report::Tally::default();
        let report = verify(&layout, &tally).unwrap();
        assert!(report.is_sound(), "{report:?}");
        assert_eq!(report.blobs_checked, 3);
        tally.assert_counts();
        assert_eq!(tally.finished.lock().unwrap().len(), 3);
    }
}
