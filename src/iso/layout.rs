//! Sector allocation: decides where every structure of the image goes before any of it is
//! written, so directory records can name the extents of what follows them and file data
//! can be streamed straight to its place.
//!
//! The image is laid out as: 16 empty system-area sectors; the primary volume descriptor,
//! the Joliet descriptor and the terminator; the L and M path tables of both trees; the
//! ISO directories; the Joliet directories; the Rock Ridge continuation areas; then the
//! file data, each file in whole sectors, in the ISO tree's order. Both trees point at the
//! same file extents. Directories are numbered breadth-first with siblings in identifier
//! order, which is the order path tables require.
//!
//! When some files are marked *last* (the few that differ between otherwise equal images,
//! such as each node's NoCloud files beside a payload every node carries), the other
//! files' data comes first, right after the descriptors; then the path tables,
//! directories and continuation areas; then the last files' data; and the image is padded
//! to a multiple of [`TAIL_BUCKET`] sectors after the shared part. Images of equal trees
//! whose last files differ only in content (and fall in the same bucket) then share every
//! byte before the path tables, descriptors included, so a digest of that prefix is made
//! once for all of them (see [`super::write::DigestCache`]). ECMA-119 puts no order on
//! extents: readers follow the descriptors' and records' sector numbers.

use super::records::{self, MAX_EXTENT, compare_ids};
use super::rockridge::{self, SystemUse};
use super::tree::Tree;
use super::{IsoError, SECTOR, sectors};

/// Bytes of a `PX` plus a `TF` entry, the system use of `.` and `..` records.
pub const PX_TF_LEN: usize = 36 + 26;

/// First sector after the system area and the three volume descriptors.
pub const FIRST_FREE: u32 = 19;

/// Which directory hierarchy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hierarchy {
    /// The ECMA-119 tree with Rock Ridge.
    Iso,
    /// The Joliet tree.
    Joliet,
}

/// Sector positions of one hierarchy.
#[derive(Debug, Clone, Default)]
pub struct HierarchyPlan {
    /// Directory node indices, breadth-first (path table order).
    pub dirs: Vec<usize>,
    /// For each node, its children sorted in this hierarchy's record order.
    pub order: Vec<Vec<usize>>,
    /// For each directory node, its number in the path table (1-based).
    pub number: Vec<u16>,
    /// For each directory node, the first sector of its extent.
    pub lba: Vec<u32>,
    /// For each directory node, the bytes of its extent (whole sectors).
    pub len: Vec<u32>,
    /// Bytes in one path table.
    pub path_table_size: u32,
    /// Sector of the L path table.
    pub l_table: u32,
    /// Sector of the M path table.
    pub m_table: u32,
}

/// Where everything goes.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The ISO (Rock Ridge) hierarchy.
    pub iso: HierarchyPlan,
    /// The Joliet hierarchy.
    pub joliet: HierarchyPlan,
    /// Rock Ridge system use of each node's record (the root's: its `.` record).
    pub su: Vec<SystemUse>,
    /// Continuation area of each node whose entries spill: (sector, offset).
    pub ce_at: Vec<(u32, u32)>,
    /// First sector of each file's data.
    pub file_lba: Vec<u32>,
    /// Files, in the order of their data in the image (ascending sectors).
    pub file_order: Vec<usize>,
    /// First sector of the path tables, directories and continuation areas.
    pub meta_start: u32,
    /// First sector after them.
    pub meta_end: u32,
    /// Sectors every image of the same tree shape, options and shared files begins with
    /// identically: up to [`Plan::meta_start`] when some files are last, else none.
    pub shared_sectors: u32,
    /// Sectors in the whole image.
    pub total_sectors: u32,
}

/// Sectors the part of an image after its shared prefix is padded to a multiple of, when
/// some files are last (256 KiB): images whose last files differ by a few bytes keep the
/// same size, which the volume descriptors record.
pub const TAIL_BUCKET: u64 = 128;

/// How many directory records (extents) a file of `size` bytes needs.
pub fn extent_count(size: u64) -> u64 {
    size.div_ceil(MAX_EXTENT).max(1)
}

/// Links a directory has: itself, `.`, and one `..` per subdirectory.
pub fn link_count(tree: &Tree, node: usize) -> u32 {
    let n = &tree.nodes[node];
    if !n.is_dir() {
        return 1;
    }
    let subdirs = n.children().iter().filter(|&&c| tree.nodes[c].is_dir());
    2 + u32::try_from(subdirs.count()).unwrap_or(u32::MAX - 2)
}

/// `PX` and `TF` of a node (the part of its system use that never moves).
pub fn px_tf(tree: &Tree, node: usize, stamp: [u8; 7]) -> Vec<u8> {
    let mut v = rockridge::px(tree.nodes[node].mode(), link_count(tree, node));
    v.extend_from_slice(&rockridge::tf(stamp));
    v
}

impl Plan {
    /// Lays out `tree` with every time stamp equal to `stamp`; the files with `last[i]` set
    /// (indexed like `tree.nodes`; an empty slice marks none) go after the directories.
    pub fn new(tree: &Tree, stamp: [u8; 7], last: &[bool]) -> Result<Plan, IsoError> {
        let n = tree.nodes.len();
        let is_last = |i: usize| last.get(i).copied().unwrap_or(false);
        let split = (0..n).any(|i| is_last(i) && !tree.nodes[i].is_dir());
        let su: Vec<SystemUse> = (0..n).map(|i| system_use(tree, i, stamp)).collect();
        let mut iso = order(tree, Hierarchy::Iso);
        let mut joliet = order(tree, Hierarchy::Joliet);
        // Files in the ISO tree's order: the shared ones first when some are last.
        let files: Vec<usize> = iso
            .dirs
            .iter()
            .flat_map(|&d| iso.order[d].iter().copied())
            .filter(|&c| !tree.nodes[c].is_dir())
            .collect();
        let (first, after): (Vec<usize>, Vec<usize>) = if split {
            files.iter().partition(|&&c| !is_last(c))
        } else {
            (Vec::new(), files)
        };
        let mut file_lba = vec![0u32; n];
        let mut next = u64::from(FIRST_FREE);
        place_files(tree, &first, &mut file_lba, &mut next)?;
        let meta_start = next;
        place_tables(tree, &mut iso, Hierarchy::Iso, &mut next)?;
        place_tables(tree, &mut joliet, Hierarchy::Joliet, &mut next)?;
        place_dirs(tree, &mut iso, Hierarchy::Iso, &su, &mut next);
        place_dirs(tree, &mut joliet, Hierarchy::Joliet, &su, &mut next);
        let ce_at = place_continuations(&iso, &su, &mut next);
        let meta_end = next;
        place_files(tree, &after, &mut file_lba, &mut next)?;
        if split {
            next = meta_start + (next - meta_start).next_multiple_of(TAIL_BUCKET);
        }
        Ok(Plan {
            iso,
            joliet,
            su,
            ce_at,
            file_lba,
            file_order: first.into_iter().chain(after).collect(),
            meta_start: to_u32(meta_start)?,
            meta_end: to_u32(meta_end)?,
            shared_sectors: if split { to_u32(meta_start)? } else { 0 },
            total_sectors: to_u32(next)?,
        })
    }
}

/// Gives each of `files` its sectors from `next` on, in order (a file of a block or more
/// starting on a block boundary, [`ALIGN`]).
fn place_files(
    tree: &Tree,
    files: &[usize],
    file_lba: &mut [u32],
    next: &mut u64,
) -> Result<(), IsoError> {
    for &c in files {
        let size = tree.nodes[c].size();
        if size >= ALIGN {
            *next = next.next_multiple_of(ALIGN / SECTOR);
        }
        file_lba[c] = to_u32(*next)?;
        *next += sectors(size);
    }
    Ok(())
}

/// The file system block a file's data starts on, when the file fills one at least: the
/// kernel's `copy_file_range` can then share the source's extents on a copy-on-write file
/// system (XFS with reflink, btrfs), which needs both offsets block-aligned. Smaller files
/// stay packed on 2 KiB sectors.
pub const ALIGN: u64 = 4096;

fn to_u32(sector: u64) -> Result<u32, IsoError> {
    u32::try_from(sector).map_err(|_| {
        IsoError::BadOption(
            "the image would exceed 2^32 sectors (8 TiB), the ISO 9660 limit".into(),
        )
    })
}

/// A node's identifier in `h`, as UCS-2 units (ISO bytes widen losslessly).
pub fn id_units(tree: &Tree, node: usize, h: Hierarchy) -> Vec<u16> {
    match h {
        Hierarchy::Iso => tree.nodes[node]
            .iso_id
            .iter()
            .map(|&b| u16::from(b))
            .collect(),
        Hierarchy::Joliet => tree.nodes[node].joliet_id.clone(),
    }
}

/// A node's identifier in `h` as it is written (UCS-2 big-endian for Joliet).
pub fn id_bytes(tree: &Tree, node: usize, h: Hierarchy) -> Vec<u8> {
    match h {
        Hierarchy::Iso => tree.nodes[node].iso_id.clone(),
        Hierarchy::Joliet if node == 0 => vec![0],
        Hierarchy::Joliet => tree.nodes[node]
            .joliet_id
            .iter()
            .flat_map(|u| u.to_be_bytes())
            .collect(),
    }
}

/// Sorted children and breadth-first directory numbering of one hierarchy.
fn order(tree: &Tree, h: Hierarchy) -> HierarchyPlan {
    let n = tree.nodes.len();
    let mut plan = HierarchyPlan {
        order: vec![Vec::new(); n],
        number: vec![0; n],
        lba: vec![0; n],
        len: vec![0; n],
        ..HierarchyPlan::default()
    };
    for (i, node) in tree.nodes.iter().enumerate() {
        let mut children = node.children().to_vec();
        children.sort_by_cached_key(|&c| SortKey(id_units(tree, c, h)));
        plan.order[i] = children;
    }
    plan.dirs.push(0);
    let mut k = 0;
    while k < plan.dirs.len() {
        let d = plan.dirs[k];
        plan.number[d] = u16::try_from(k + 1).unwrap_or(u16::MAX);
        let subdirs: Vec<usize> = plan.order[d]
            .iter()
            .copied()
            .filter(|&c| tree.nodes[c].is_dir())
            .collect();
        plan.dirs.extend(subdirs);
        k += 1;
    }
    plan
}

#[derive(PartialEq, Eq)]
struct SortKey(Vec<u16>);

impl PartialOrd for SortKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for SortKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        compare_ids(&self.0, &other.0)
    }
}

/// Sizes the path tables of `h` and gives each (L, then M) its sectors.
fn place_tables(
    tree: &Tree,
    h: &mut HierarchyPlan,
    kind: Hierarchy,
    next: &mut u64,
) -> Result<(), IsoError> {
    if h.dirs.len() > usize::from(u16::MAX) {
        return Err(IsoError::BadOption(format!(
            "{} directories exceed the 65535 a path table can number",
            h.dirs.len()
        )));
    }
    let size: usize = h
        .dirs
        .iter()
        .map(|&d| records::path_record_len(id_bytes(tree, d, kind).len()))
        .sum();
    h.path_table_size = to_u32(size as u64)?;
    let table_sectors = sectors(size as u64);
    h.l_table = to_u32(*next)?;
    h.m_table = to_u32(*next + table_sectors)?;
    *next += 2 * table_sectors;
    Ok(())
}

/// The system use of a node's own record (for the root: its `.` record).
fn system_use(tree: &Tree, node: usize, stamp: [u8; 7]) -> SystemUse {
    if node == 0 {
        let mut head = rockridge::sp();
        head.extend_from_slice(&px_tf(tree, 0, stamp));
        return SystemUse::new(head, rockridge::er(), 0);
    }
    let id_len = tree.nodes[node].iso_id.len();
    let tail = rockridge::nm(tree.nodes[node].name.as_bytes());
    SystemUse::new(px_tf(tree, node, stamp), tail, records::su_room(id_len))
}

/// Lengths of the records of directory `d` in `h`, in order (`.`, `..`, children).
pub fn record_lengths(
    tree: &Tree,
    h: &HierarchyPlan,
    kind: Hierarchy,
    su: &[SystemUse],
    d: usize,
) -> Vec<usize> {
    let rr = |len: usize| if kind == Hierarchy::Iso { len } else { 0 };
    let dot_su = if d == 0 {
        su[0].inline_len()
    } else {
        PX_TF_LEN
    };
    let mut out = vec![
        records::record_len(1, rr(dot_su)),
        records::record_len(1, rr(PX_TF_LEN)),
    ];
    for &c in &h.order[d] {
        let id_len = id_bytes(tree, c, kind).len();
        let one = records::record_len(id_len, rr(su[c].inline_len()));
        let count = extent_count(tree.nodes[c].size());
        out.extend(std::iter::repeat_n(one, count as usize));
    }
    out
}

/// Bytes a directory takes when records never cross a sector boundary.
pub fn packed_size(lengths: &[usize]) -> u64 {
    let sector = SECTOR as usize;
    let mut used = 0usize;
    for &l in lengths {
        if used % sector + l > sector {
            used = used.div_ceil(sector) * sector;
        }
        used += l;
    }
    sectors(used as u64) * SECTOR
}

fn place_dirs(
    tree: &Tree,
    h: &mut HierarchyPlan,
    kind: Hierarchy,
    su: &[SystemUse],
    next: &mut u64,
) {
    for k in 0..h.dirs.len() {
        let d = h.dirs[k];
        let bytes = packed_size(&record_lengths(tree, h, kind, su, d));
        h.lba[d] = u32::try_from(*next).unwrap_or(u32::MAX);
        h.len[d] = u32::try_from(bytes).unwrap_or(u32::MAX);
        *next += bytes / SECTOR;
    }
}

/// Packs every spilled system use area into sectors (an area never crosses one).
fn place_continuations(iso: &HierarchyPlan, su: &[SystemUse], next: &mut u64) -> Vec<(u32, u32)> {
    let mut at = vec![(0u32, 0u32); su.len()];
    let mut spilled = vec![0usize];
    for &d in &iso.dirs {
        spilled.extend(iso.order[d].iter().copied());
    }
    let sector = SECTOR as usize;
    let mut used = 0usize;
    let start = *next;
    for node in spilled {
        let len = su[node].continuation_len();
        if len == 0 {
            continue;
        }
        if used % sector + len > sector {
            used = used.div_ceil(sector) * sector;
        }
        let lba = start + (used / sector) as u64;
        at[node] = (
            u32::try_from(lba).unwrap_or(u32::MAX),
            (used % sector) as u32,
        );
        used += len;
    }
    *next += sectors(used as u64);
    at
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iso::tree::{Node, NodeKind};
    use std::path::PathBuf;

    fn node(name: &str, parent: usize, level: usize, dir: bool) -> Node {
        Node {
            name: name.into(),
            parent,
            level,
            kind: if dir {
                NodeKind::Dir {
                    children: Vec::new(),
                }
            } else {
                NodeKind::File {
                    source: PathBuf::new(),
                    size: 5000,
                    executable: false,
                }
            },
            iso_id: vec![0],
            joliet_id: vec![0],
        }
    }

    /// root { zeta/ { f }, Alpha/, b }
    fn small_tree() -> Tree {
        let mut nodes = vec![
            node("", 0, 1, true),
            node("zeta", 0, 2, true),
            node("f", 1, 3, false),
        ];
        nodes.push(node("Alpha", 0, 2, true));
        nodes.push(node("b", 0, 2, false));
        nodes[0].kind = NodeKind::Dir {
            children: vec![3, 4, 1],
        };
        nodes[1].kind = NodeKind::Dir { children: vec![2] };
        Tree::from_nodes(nodes)
    }

    #[test]
    fn records_never_cross_a_sector() {
        assert_eq!(packed_size(&[34, 34]), 2048);
        assert_eq!(packed_size(&[1000, 1000, 100]), 4096);
        assert_eq!(packed_size(&[2048, 34]), 4096);
    }

    #[test]
    fn multi_extent_counts() {
        assert_eq!(extent_count(0), 1);
        assert_eq!(extent_count(MAX_EXTENT), 1);
        assert_eq!(extent_count(MAX_EXTENT + 1), 2);
        assert_eq!(extent_count(5 << 30), 2);
    }

    #[test]
    fn directories_are_numbered_breadth_first_in_identifier_order() {
        let tree = small_tree();
        let plan = Plan::new(&tree, [0; 7], &[]).unwrap();
        assert_eq!(plan.iso.dirs, [0, 3, 1]);
        assert_eq!(plan.iso.number[1], 3);
        assert_eq!(plan.iso.order[0], [3, 4, 1]);
        assert!(plan.iso.lba[0] < plan.iso.lba[3] && plan.iso.lba[3] < plan.iso.lba[1]);
        assert!(plan.joliet.lba[0] > plan.iso.lba[1]);
        assert!(plan.meta_end > plan.joliet.lba[1]);
        assert_eq!((plan.meta_start, plan.shared_sectors), (FIRST_FREE, 0));
        // Files of a block or more start on a 4 KiB boundary: 5000 bytes take 3 sectors,
        // and the next file skips one to start on an even sector.
        assert_eq!(plan.file_lba[4], plan.meta_end.next_multiple_of(2));
        assert_eq!(plan.file_order, [4, 2]);
        assert_eq!(plan.file_lba[2], plan.file_lba[4] + 4);
        assert_eq!(plan.total_sectors, plan.file_lba[2] + 3);
        assert!(plan.file_lba.iter().all(|lba| lba % 2 == 0));
        assert!(
            plan.su[0].spill,
            "the root's ER goes to a continuation area"
        );
    }

    #[test]
    fn last_files_go_after_the_directories_and_the_rest_is_shared() {
        let tree = small_tree();
        // `b` (node 4), at the root, is last; `zeta/f` (node 2) is shared.
        let last = [false, false, false, false, true];
        let plan = Plan::new(&tree, [0; 7], &last).unwrap();
        assert_eq!(plan.file_order, [2, 4]);
        assert_eq!(plan.file_lba[2], FIRST_FREE.next_multiple_of(2));
        assert_eq!(plan.meta_start, plan.file_lba[2] + 3);
        assert_eq!(plan.shared_sectors, plan.meta_start);
        assert!(plan.iso.l_table == plan.meta_start && plan.meta_end > plan.joliet.lba[1]);
        assert_eq!(plan.file_lba[4], plan.meta_end.next_multiple_of(2));
        assert_eq!(
            u64::from(plan.total_sectors - plan.meta_start) % TAIL_BUCKET,
            0
        );
        // A last file of another size in the same bucket changes nothing before it.
        let mut bigger = tree.clone();
        if let NodeKind::File { size, .. } = &mut bigger.nodes[4].kind {
            *size = 9000;
        }
        let other = Plan::new(&bigger, [0; 7], &last).unwrap();
        assert_eq!(other.total_sectors, plan.total_sectors);
        assert_eq!(other.iso.lba, plan.iso.lba);
        assert_eq!(other.file_lba, plan.file_lba);
    }
}
