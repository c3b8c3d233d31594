//! What a sealed output holds that its seal does not cover: files its `SHA256SUMS` does not
//! list, and symbolic links. `verify` names each (docs/outputs.md, "Seal, verify, clean
//! and export").
//!
//! - A **symbolic link** anywhere under the output is a failure: an output holds none
//!   (the build refuses to write through one, [`crate::outpath::refuse_links_under`]),
//!   and the files read through one (an `oci/`, `iso/` or `nodes/` pointing at a copy
//!   elsewhere) are another folder's, whatever they hash to.
//! - A **file the seal does not list** is named. It is a failure where media and nodes
//!   are made from: an ISO under `iso/`, and a node's NoCloud file (`nodes/NODE/user-data`,
//!   `meta-data`, `network-config`): a seed planted beside the sealed ones is vouched for
//!   by nothing, signed or not. Anything else (notes kept in the output) is only named.
//!
//! seedforge's own files that are not artifacts are left out: the build state
//! (`.seedforge/`), the build lock, `SHA256SUMS` itself, the statement and its signature (which list
//! every other file), the layout's private folder
//! (`oci/.seedforge/`) and the temporary files and staging folders of interrupted runs
//! (which `clean` and the next build remove).

use serde::Serialize;
use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::path::Path;

/// A file of the output its `SHA256SUMS` does not list.
#[derive(Debug, Clone, Serialize)]
pub struct Unlisted {
    /// Relative to the output, `/`-separated.
    pub path: String,
    /// True where it fails `verify`: an ISO under `iso/` or a node's NoCloud file.
    pub fails: bool,
}

/// A symbolic link under the output.
#[derive(Debug, Clone, Serialize)]
pub struct Link {
    /// Relative to the output, `/`-separated.
    pub path: String,
    /// What it points at, as it is written.
    pub target: String,
}

/// What [`find`] found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Unsealed {
    /// Files `SHA256SUMS` does not list, sorted.
    pub unlisted: Vec<Unlisted>,
    /// Symbolic links, sorted; none is followed.
    pub links: Vec<Link>,
}

impl Unsealed {
    /// The links and the unlisted files that fail `verify`, as relative paths.
    pub fn failures(&self) -> Vec<&str> {
        (self.links.iter().map(|l| l.path.as_str()))
            .chain(
                (self.unlisted.iter())
                    .filter(|u| u.fails)
                    .map(|u| u.path.as_str()),
            )
            .collect()
    }
}

/// The files under the sealed output `out` that its `SHA256SUMS` does not list, and the
/// symbolic links under it (never followed). A `SHA256SUMS` that cannot be read lists
/// nothing: every file is then unlisted.
pub fn find(out: &Path) -> io::Result<Unsealed> {
    let listed: BTreeSet<String> =
        crate::input::read_found_to_string(&out.join(super::seal::SUMS), crate::input::Kind::Sums)
            .map(|text| {
                text.lines()
                    .filter_map(super::seal::sums_line)
                    .map(|(_, p)| p.to_string())
                    .collect()
            })
            .unwrap_or_default();
    let mut found = Unsealed::default();
    walk(out, "", &listed, &mut found)?;
    found.unlisted.sort_by(|a, b| a.path.cmp(&b.path));
    found.links.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(found)
}

fn walk(
    dir: &Path,
    prefix: &str,
    listed: &BTreeSet<String>,
    into: &mut Unsealed,
) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let rel = format!("{prefix}{name}");
        if own(&rel, &name) {
            continue;
        }
        let ft = entry.file_type()?;
        if ft.is_symlink() {
            let target = fs::read_link(entry.path())
                .map(|t| t.display().to_string())
                .unwrap_or_default();
            into.links.push(Link { path: rel, target });
        } else if ft.is_dir() {
            walk(&entry.path(), &format!("{rel}/"), listed, into)?;
        } else if !listed.contains(&rel) {
            let fails = takes_an_artifacts_place(&rel);
            into.unlisted.push(Unlisted { path: rel, fails });
        }
    }
    Ok(())
}

/// seedforge's own entries that are not artifacts (see the module's description).
fn own(rel: &str, name: &str) -> bool {
    rel == super::state::STATE_DIR
        || rel == super::build_lock::LOCK_FILE_NAME
        || rel == super::seal::SUMS
        || super::seal::statement::is_statement(rel)
        || rel == "oci/.seedforge"
        || crate::leftovers::temp_owner(name).is_some()
        || (rel.starts_with("iso/") && crate::leftovers::stage_owner(name).is_some())
}

/// An ISO under `iso/`, or a node's NoCloud file: what media and nodes are made from.
fn takes_an_artifacts_place(rel: &str) -> bool {
    let iso = rel.starts_with("iso/")
        && Path::new(rel)
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("iso"));
    let parts: Vec<&str> = rel.split('/').collect();
    let nocloud = matches!(
        parts.as_slice(),
        ["nodes", _, "user-data" | "meta-data" | "network-config"]
    );
    iso || nocloud
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_iso_or_a_nocloud_file_takes_an_artifacts_place_and_notes_do_not() {
        for rel in [
            "iso/seed-x.iso",
            "iso/ubuntu.ISO",
            "nodes/n1/user-data",
            "nodes/n1/meta-data",
            "nodes/n1/network-config",
        ] {
            assert!(takes_an_artifacts_place(rel), "{rel}");
        }
        for rel in [
            "notes.txt",
            "iso/notes.txt",
            "nodes/n1/notes.txt",
            "nodes/user-data",
            "seed.iso",
            "oci/blobs/sha256/00",
        ] {
            assert!(!takes_an_artifacts_place(rel), "{rel}");
        }
    }
}
