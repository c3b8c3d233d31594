//! The layers of ARCHITECTURE.md, checked on the parsed source: `syn` reads the library
//! from `lib.rs` along its `mod` declarations (`x/mod.rs`, `#[path]` included), and every
//! path that names a module of the crate counts as an import of it: `crate::…`, `super::…`,
//! `self::…`, a child module's name (`pipeline::seal::…` in `lib.rs`), a name brought in by
//! `use`, each branch of a grouped `use`, in items, types, expressions, attributes, macro
//! arguments and doc links. The rule: a layer imports only itself and the layers below it,
//! `iso` and `trust` only the foundation, and no modules import each other in a cycle. A
//! module is a top-level one, except under `pipeline`, whose parts (`plan`, `seal`, `state`,
//! …) count one by one; `root` is `lib.rs` itself. The binary (`main.rs`, `cli/`) and unit
//! tests (items under `#[cfg(test)]`, with the files they include) are not counted: they may
//! build their fixtures with a higher layer. The binary has a rule of its own, checked the
//! same way from `main.rs`: each part of `cli` (a command, `common`) counts as a module, and
//! a command imports only `cli::common`, which imports no command. What still breaks the rule is listed in [`KNOWN`] (and in
//! ARCHITECTURE.md): a new break fails, and so does a listed one that is gone. Within one
//! top-level module, the files are checked the same way for circles (each file a node, an
//! import between a file and its ancestor left out); the circles that remain are listed in
//! [`KNOWN_FILE_CIRCLES`].
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod imports;

use imports::{Crate, Edges, binary_imports, file_imports, imports};
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// The layers, top first, and their top-level modules. `root` is `lib.rs` itself: the
/// crate's `Error`, which gathers every module's error for the command line.
const LAYERS: &[(&str, &[&str])] = &[
    ("pipeline", &["pipeline", "root", "delta"]),
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
            "charts",
            "seed",
            "preflight",
            "trust",
            "sbom",
            "serve",
            "par2",
            "gotmpl",
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
            "modes",
            "redact",
            "report",
            "shell",
            "suggest",
            "util",
            "version",
            "vocab",
            "winpath",
        ],
    ),
];

/// The capabilities that import only the foundation: `iso` (ISO 9660) and `trust`
/// (signatures, DSSE, Sigstore bundles), which `oci` and the writers call.
const FORMAT_LIBRARIES: &[&str] = &["iso", "trust", "sbom", "par2", "gotmpl"];

/// Imports that break the layering today: (importer, imported). None.
const KNOWN: &[(&str, &str)] = &[];

fn layer_of(module: &str) -> usize {
    let top = module.split("::").next().unwrap();
    LAYERS
        .iter()
        .position(|(_, mods)| mods.contains(&top))
        .unwrap_or_else(|| panic!("src/{module}: in no layer of this test or ARCHITECTURE.md"))
}

/// What breaks the rules in the library under `src`, one line each.
fn check(src: &Path) -> Vec<String> {
    let edges = imports(src);
    let mut problems = Vec::new();
    let mut breaks = BTreeSet::new();
    for (from, tos) in &edges {
        let f = layer_of(from);
        for (to, at) in tos {
            let t = layer_of(to);
            // iso, trust and sbom stay format libraries: nothing of seedforge but the
            // foundation.
            let top = from.split("::").next().unwrap_or(from);
            let iso = FORMAT_LIBRARIES.contains(&top) && t != LAYERS.len() - 1;
            // Same layer is fine (cycles are checked below); a lower index is higher up.
            if (t < f || iso) && !KNOWN.contains(&(from.as_str(), to.as_str())) {
                let (fl, tl) = (LAYERS[f].0, LAYERS[t].0);
                problems.push(format!(
                    "{at} imports {to} (layer {tl}) from {from} (layer {fl})"
                ));
            }
            breaks.insert((from.as_str(), to.as_str()));
        }
    }
    for gone in KNOWN.iter().filter(|k| !breaks.contains(k)) {
        problems.push(format!(
            "{gone:?} is fixed: take it out of KNOWN and ARCHITECTURE.md"
        ));
    }
    problems.extend(cycles(&edges));
    problems
}

/// What breaks the command line's rule in the binary under `src`, one line each: the
/// dispatcher (`cli`, `cli/mod.rs`) calls the commands; a command imports `cli::common`
/// and nothing else of the binary (never another command, never the dispatcher);
/// `cli::common` imports nothing else of it; and no cycle.
fn check_cli(src: &Path) -> Vec<String> {
    let edges = binary_imports(src);
    let mut problems = Vec::new();
    for (from, tos) in &edges {
        for (to, at) in tos {
            let allowed = match from.as_str() {
                "root" | "cli" => true,
                "cli::common" => false,
                _ => to == "cli::common",
            };
            if !allowed {
                problems.push(format!(
                    "{at} imports {to} from {from}: a command imports only cli::common, which imports no command"
                ));
            }
        }
    }
    problems.extend(cycles(&edges));
    problems
}

/// Every import cycle a depth-first search meets, each step with the import that makes it.
fn cycles(edges: &Edges) -> Vec<String> {
    fn visit(
        node: &str,
        edges: &Edges,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
        out: &mut Vec<String>,
    ) {
        if let Some(i) = path.iter().position(|p| p == node) {
            let cycle = [&path[i..], &[node.to_string()]].concat();
            let steps: Vec<String> = cycle
                .windows(2)
                .map(|w| format!("{} -> {} ({})", w[0], w[1], edges[&w[0]][&w[1]]))
                .collect();
            return out.push(format!("import cycle: {}", steps.join(", ")));
        }
        if done.insert(node.to_string()) {
            path.push(node.to_string());
            for next in edges.get(node).into_iter().flat_map(|t| t.keys()) {
                visit(next, edges, path, done, out);
            }
            path.pop();
        }
    }
    let (mut done, mut out) = (BTreeSet::new(), Vec::new());
    for node in edges.keys() {
        visit(node, edges, &mut Vec::new(), &mut done, &mut out);
    }
    out
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn walk(dir: &Path) -> Vec<PathBuf> {
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

#[test]
fn every_module_imports_only_the_layers_below_it_and_no_cycle() {
    let problems = check(&src());
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Files of one module that import each other in a circle today, each circle as the set
/// of its files (and in ARCHITECTURE.md). A new circle, or a file joining a listed one,
/// fails; so does a listed one that is gone.
const KNOWN_FILE_CIRCLES: &[&[&str]] = &[
    &["debs::bundle", "debs::unchanged"],
    &["debs::cache", "debs::closures", "debs::repo"],
    &["delta::carry", "delta::page"],
    &["iso::layout", "iso::write"],
    &[
        "trust::keyless::classic",
        "trust::keyless::rekord",
        "trust::keyless::verify",
    ],
];

/// The sets of files that reach each other through their imports (a circle each), of two
/// files or more.
fn circles(edges: &Edges) -> Vec<BTreeSet<String>> {
    let reach = |from: &str| {
        let (mut seen, mut todo) = (BTreeSet::new(), vec![from.to_string()]);
        while let Some(node) = todo.pop() {
            for next in edges.get(&node).into_iter().flat_map(|t| t.keys()) {
                if seen.insert(next.clone()) {
                    todo.push(next.clone());
                }
            }
        }
        seen
    };
    let reached: BTreeMap<&String, BTreeSet<String>> =
        edges.keys().map(|n| (n, reach(n))).collect();
    let mut out: Vec<BTreeSet<String>> = Vec::new();
    for (node, from_it) in &reached {
        let circle: BTreeSet<String> = from_it
            .iter()
            .filter(|other| reached.get(other).is_some_and(|r| r.contains(*node)))
            .cloned()
            .collect();
        if circle.len() > 1 && !out.contains(&circle) {
            out.push(circle);
        }
    }
    out
}

/// What breaks the rule for the files of one module under `src`, one line each: a circle
/// of files [`KNOWN_FILE_CIRCLES`] does not list (with each import that makes it), or a
/// listed one that is gone.
fn file_circles(src: &Path) -> Vec<String> {
    let edges = file_imports(src);
    let found = circles(&edges);
    let known: Vec<BTreeSet<String>> = KNOWN_FILE_CIRCLES
        .iter()
        .map(|c| c.iter().map(|f| f.to_string()).collect())
        .collect();
    let mut problems = Vec::new();
    for circle in found.iter().filter(|c| !known.contains(c)) {
        let inside: Edges = edges
            .iter()
            .filter(|(from, _)| circle.contains(*from))
            .map(|(from, tos)| {
                let tos = tos.iter().filter(|(to, _)| circle.contains(*to));
                (
                    from.clone(),
                    tos.map(|(t, a)| (t.clone(), a.clone())).collect(),
                )
            })
            .collect();
        problems.extend(cycles(&inside));
    }
    for gone in known.iter().filter(|k| !found.contains(k)) {
        problems.push(format!(
            "{gone:?} is no longer a circle: take it out of KNOWN_FILE_CIRCLES and ARCHITECTURE.md"
        ));
    }
    problems
}

#[test]
fn no_files_of_one_module_import_each_other_in_a_new_circle() {
    let problems = file_circles(&src());
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    let edges = file_imports(&src());
    assert!(
        edges["cli::common::document"].contains_key("cli::common::modes"),
        "{edges:?}"
    );
    assert!(
        edges["serve::body"].contains_key("serve::verified"),
        "{edges:?}"
    );
}

#[test]
fn two_files_of_the_library_importing_each_other_fail() {
    planted_in(
        file_circles,
        "serve/verified.rs",
        "use super::body::Body;",
        "serve::verified -> serve::body (src/serve/verified.rs:",
    );
}

#[test]
fn two_files_of_what_the_commands_share_importing_each_other_fail() {
    planted_in(
        file_circles,
        "cli/common/modes.rs",
        "use super::document::warn;",
        "cli::common::modes -> cli::common::document (src/cli/common/modes.rs:",
    );
}

#[test]
fn every_command_imports_only_what_the_commands_share() {
    let problems = check_cli(&src());
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    let edges = binary_imports(&src());
    for command in ["cli::build", "cli::delta", "cli::verify"] {
        assert!(edges["cli"].contains_key(command), "{edges:?}");
        assert!(edges[command].contains_key("cli::common"), "{edges:?}");
    }
}

#[test]
fn every_file_of_the_library_is_read() {
    let src = src();
    let krate = Crate::load(&src);
    let read: BTreeSet<String> = krate.sources.iter().map(|s| s.rel.clone()).collect();
    for file in walk(&src) {
        let rel = format!("src/{}", file.strip_prefix(&src).unwrap().display());
        let binary = rel == "src/main.rs" || rel.starts_with("src/cli/");
        assert!(
            read.contains(&rel) || binary || krate.test_files.contains(&file),
            "{rel}: no `mod` of the library reaches it"
        );
    }
    assert!(
        read.contains("src/debs/repo/scan.rs"),
        "a module of a folder module"
    );
    assert!(!read.contains("src/pki/tests.rs") && !read.contains("src/debs/resolve_tests.rs"));
}

/// The checker on a copy of `src/` with `line` added to `file`: it must fail with a line
/// naming `src/FILE:` and `names`. (The copy as it is passes: it is `src/` byte for byte,
/// which `every_module_imports_only_the_layers_below_it_and_no_cycle` checks; parsing the
/// library is most of this test's time, so it is done once.)
fn planted(file: &str, line: &str, names: &str) {
    planted_in(check, file, line, names);
}

/// [`planted`], checked by `checker`.
fn planted_in(checker: fn(&Path) -> Vec<String>, file: &str, line: &str, names: &str) {
    let copy = tempfile::tempdir().unwrap();
    for f in walk(&src()) {
        let to = copy.path().join(f.strip_prefix(src()).unwrap());
        fs::create_dir_all(to.parent().unwrap()).unwrap();
        fs::copy(&f, &to).unwrap();
    }
    let target = copy.path().join(file);
    let text = fs::read_to_string(&target).unwrap();
    // After the file's `//!` head, where a `use` may stand.
    let head: usize = text
        .lines()
        .take_while(|l| l.starts_with("//!") || l.starts_with("#![") || l.is_empty())
        .map(|l| l.len() + 1)
        .sum();
    let (head, rest) = text.split_at(head);
    fs::write(&target, format!("{head}{line}\n{rest}")).unwrap();
    let problems = checker(copy.path()).join("\n");
    let expected = format!("src/{file}:");
    assert!(
        problems
            .lines()
            .any(|p| p.contains(&expected) && p.contains(names)),
        "planting `{line}` in src/{file}: {problems:?}"
    );
}

#[test]
fn a_foundation_module_importing_config_through_super_fails() {
    planted(
        "hashing.rs",
        "use super::config::Config;",
        "`use super::config::Config` imports config (layer config) from hashing (layer foundation)",
    );
}

#[test]
fn iso_importing_a_grouped_branch_fails() {
    planted(
        "iso/mod.rs",
        "use crate::{hashing as _h, config::Config};",
        "`use crate::config::Config` imports config (layer config) from iso (layer capabilities)",
    );
}

#[test]
fn a_capability_importing_config_through_super_super_fails() {
    planted(
        "oci/registry/mod.rs",
        "use super::super::config::Config;",
        "`use super::super::config::Config` imports config (layer config) from oci",
    );
}

#[test]
fn a_part_of_pipeline_the_root_error_names_using_crate_result_is_a_cycle() {
    planted(
        "pipeline/offline.rs",
        "use crate::Result;",
        "pipeline::offline -> root (src/pipeline/offline.rs:",
    );
}

#[test]
fn a_command_importing_another_fails() {
    planted_in(
        check_cli,
        "cli/build.rs",
        "use super::verify::print_verify;",
        "`use super::verify::print_verify` imports cli::verify from cli::build",
    );
}

#[test]
fn a_command_importing_the_dispatcher_fails() {
    planted_in(
        check_cli,
        "cli/verify/iso.rs",
        "use crate::cli::Command;",
        "`use crate::cli::Command` imports cli from cli::verify",
    );
}

#[test]
fn what_the_commands_share_importing_a_command_fails() {
    planted_in(
        check_cli,
        "cli/common/print.rs",
        "use super::super::build::BuildArgs;",
        "imports cli::build from cli::common",
    );
}

#[test]
fn the_parts_of_pipeline_are_modules_of_their_own() {
    let edges = imports(&src());
    assert!(edges["pipeline::plan"].contains_key("pipeline::steps"));
    assert!(edges["pipeline::run"].contains_key("pipeline::plan"));
    assert!(edges["pipeline::steps"].contains_key("pipeline::seal"));
    for (from, to) in [
        ("pipeline::seal", "pipeline::steps"),
        ("pipeline::steps", "pipeline::plan"),
        ("pipeline::plan", "pipeline::run"),
    ] {
        assert!(
            !edges.get(from).is_some_and(|t| t.contains_key(to)),
            "{from} imports {to}"
        );
    }
}

#[test]
fn every_kind_of_path_is_an_import() {
    let dir = tempfile::tempdir().unwrap();
    let files = [
        (
            "lib.rs",
            "pub mod config; pub mod hashing; pub mod util; pub mod redact; pub mod pipeline;\n\
            pub use config::Config;\npub enum Error { Seal(pipeline::seal::SealError) }",
        ),
        ("config/mod.rs", "pub mod inner;\npub struct Config;"),
        (
            "config/inner.rs",
            "pub(super) fn f() { super::super::util::g() }",
        ),
        (
            "hashing.rs",
            "/// Not [`crate::redact`] but its own.\npub struct H(crate::Config);\n\
            #[path = \"hashing_more.rs\"] mod more;\n#[cfg(test)] #[path = \"hashing_tests.rs\"] mod tests;\n\
            #[cfg(test)] fn fixture() -> crate::pipeline::seal::SealError { todo!() }",
        ),
        (
            "hashing_more.rs",
            "fn f() { let _ = format!(\"{}\", crate::util::X); }",
        ),
        ("hashing_tests.rs", "use crate::pipeline::step::Step;"),
        (
            "util.rs",
            "#[serde(with = \"crate::redact::secret\")] pub struct S;",
        ),
        (
            "redact.rs",
            "mod inner { fn f() { use crate::config as c; let _ = c::Config; } }",
        ),
        ("pipeline/mod.rs", "pub mod seal; pub mod step;"),
        (
            "pipeline/seal.rs",
            "pub(super) struct SealError(super::step::Step);",
        ),
        ("pipeline/step.rs", "pub struct Step;"),
    ];
    for (file, text) in files {
        let path = dir.path().join(file);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }
    let edges: Vec<String> = imports(dir.path())
        .into_iter()
        .flat_map(|(from, tos)| tos.into_keys().map(move |to| format!("{from} -> {to}")))
        .collect();
    assert_eq!(
        edges,
        [
            "config -> util",
            "hashing -> config",
            "hashing -> redact",
            "hashing -> util",
            "pipeline::seal -> pipeline::step",
            "redact -> config",
            "root -> config",
            "root -> pipeline::seal",
            "util -> redact",
        ]
    );
}
