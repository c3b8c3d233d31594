//! The layers of ARCHITECTURE.md, checked on the source: which module of the library
//! imports which (every `crate::…` path in `src/`, doc links included), against the rule
//! that a layer imports only the layers below it, and that no modules import each other
//! in a cycle. A module is a top-level one, except under `build`, whose parts (`plan`,
//! `seal`, `state`, …) count one by one. Unit tests (`mod tests`, `tests.rs`) are not
//! counted: they may build their fixtures with a higher layer. What still breaks the rule
//! is listed in [`KNOWN`] (and in ARCHITECTURE.md): a new break fails, and so does a listed
//! one that is gone, so the list stays the truth.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

/// The layers, top first, and their top-level modules. `root` is `lib.rs` itself: the
/// crate's `Error`, which gathers every module's error for the command line.
const LAYERS: &[(&str, &[&str])] = &[
    ("pipeline", &["pipeline", "root"]),
    ("config", &["config"]),
    (
        "capabilities",
        &[
            "image",
            "oci",
            "pki",
            "debs",
            "render",
            "iso",
            "files",
            "seed",
            "preflight",
        ],
    ),
    (
        "foundation",
        &[
            "net",
            "hashing",
            "input",
            "outpath",
            "leftovers",
            "redact",
            "report",
            "shell",
            "util",
            "vocab",
        ],
    ),
];

/// Imports that break the layering today: (importer, imported). None.
const KNOWN: &[(&str, &str)] = &[];

/// The modules each module imports (see the file's head for what a module is).
fn imports() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for entry in walk(&src) {
        let rel = entry
            .strip_prefix(&src)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        if rel.starts_with("cli/") || rel == "main.rs" || rel.ends_with("/tests.rs") {
            continue; // the binary may import everything; unit tests may build fixtures
        }
        let parts: Vec<&str> = rel.trim_end_matches(".rs").split('/').collect();
        let from = match parts.as_slice() {
            ["lib"] => "root".to_string(),
            ["pipeline", part, ..] => format!("pipeline::{part}"),
            [top, ..] => top.to_string(),
            [] => unreachable!(),
        };
        let text = fs::read_to_string(&entry).unwrap();
        // A file's unit tests (its trailing `mod tests`) may build fixtures from above.
        let code = text
            .split("#[cfg(test)]\nmod tests")
            .next()
            .unwrap_or(&text);
        let mut found = crate_paths(code);
        // `super::NAME` in a part of `build` names another part.
        if from.starts_with("pipeline::") && parts.len() == 2 {
            found.extend(
                code.match_indices("super::")
                    .map(|(i, _)| ident(&code[i + "super::".len()..]))
                    .filter(|n| {
                        !n.is_empty() && n.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                    })
                    .map(|n| format!("pipeline::{n}")),
            );
        }
        for to in found {
            if to != from {
                edges.entry(from.clone()).or_default().insert(to);
            }
        }
    }
    edges
}

/// The identifier `text` starts with.
fn ident(text: &str) -> String {
    text.chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect()
}

/// The module of every `crate::NAME` and `crate::{NAME, …}` in `text` (`pipeline::PART`
/// for `crate::pipeline::PART`).
fn crate_paths(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        let names: Vec<&str> = if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            group[..end].split(',').collect()
        } else {
            vec![rest]
        };
        for name in names {
            let name = ident(name.trim());
            let module = match name.as_str() {
                "" | "self" => continue,
                "pipeline" => match rest.strip_prefix("pipeline::").map(ident) {
                    Some(part)
                        if !part.is_empty()
                            && part.starts_with(|c: char| c.is_ascii_lowercase()) =>
                    {
                        format!("pipeline::{part}")
                    }
                    _ => "pipeline".to_string(),
                },
                "Error" | "Result" | "VERSION" | "COMMIT" => "root".to_string(),
                "Reporter" | "NoopReporter" => "report".to_string(),
                _ => name,
            };
            out.insert(module);
        }
    }
    out
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else if path.extension().is_some_and(|x| x == "rs") {
            out.push(path);
        }
    }
    out
}

fn layer_of(module: &str) -> usize {
    let module = if module.starts_with("pipeline::") {
        "pipeline"
    } else {
        module
    };
    LAYERS
        .iter()
        .position(|(_, mods)| mods.contains(&module))
        .unwrap_or_else(|| panic!("src/{module}: in no layer of this test or ARCHITECTURE.md"))
}

#[test]
fn every_module_imports_only_the_layers_below_it() {
    let edges = imports();
    let mut breaks = BTreeSet::new();
    for (from, tos) in &edges {
        for to in tos {
            let (f, t) = (layer_of(from), layer_of(to));
            // Same layer is fine (cycles are checked below); a lower index is higher up.
            if t < f {
                breaks.insert((from.clone(), to.clone()));
            }
        }
        // iso stays a format library: nothing of seedforge but the foundation.
        if from == "iso" {
            for to in tos {
                assert_eq!(
                    layer_of(to),
                    LAYERS.len() - 1,
                    "iso imports {to}: it may use only the foundation"
                );
            }
        }
    }
    let known: BTreeSet<(String, String)> = KNOWN
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    let new: Vec<_> = breaks.difference(&known).collect();
    assert!(
        new.is_empty(),
        "imports against the layering (a capability or the foundation importing a layer above it): {new:?}"
    );
    let gone: Vec<_> = known.difference(&breaks).collect();
    assert!(
        gone.is_empty(),
        "fixed, so take them out of KNOWN and ARCHITECTURE.md: {gone:?}"
    );
}

#[test]
fn no_import_cycle() {
    // The known breaks included: none of them closes a cycle.
    let edges = imports();
    // Depth-first search for a back edge.
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) {
        if done.contains(node) {
            return;
        }
        if let Some(i) = path.iter().position(|p| p == node) {
            panic!("import cycle: {} -> {node}", path[i..].join(" -> "));
        }
        path.push(node.to_string());
        for next in edges.get(node).into_iter().flatten() {
            visit(next, edges, path, done);
        }
        path.pop();
        done.insert(node.to_string());
    }
    let mut done = BTreeSet::new();
    for node in edges.keys() {
        visit(node, &edges, &mut Vec::new(), &mut done);
    }
}

#[test]
fn the_scanner_sees_grouped_and_plain_paths() {
    let found =
        crate_paths("use crate::{oci::Digest, util, Error};\nlet x = crate::net::Net::offline();");
    assert_eq!(
        found.into_iter().collect::<Vec<_>>(),
        ["net", "oci", "root", "util"]
    );
    let found = crate_paths(
        "use crate::pipeline::seal::Known;\n/// [`crate::pipeline`]\nuse crate::pipeline::Step;",
    );
    assert_eq!(
        found.into_iter().collect::<Vec<_>>(),
        ["pipeline", "pipeline::seal"]
    );
}

#[test]
fn the_parts_of_build_are_modules_of_their_own() {
    let edges = imports();
    assert!(
        edges
            .get("pipeline::plan")
            .is_some_and(|t| t.contains("pipeline::seal"))
    );
    assert!(
        edges
            .get("pipeline::seal")
            .is_some_and(|t| t.contains("pipeline::step"))
    );
    assert!(
        !edges.contains_key("pipeline::step")
            || !edges["pipeline::step"].contains("pipeline::seal")
    );
}
