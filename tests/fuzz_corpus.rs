//! The fuzz targets' inputs as ordinary tests: every committed seed (`fuzz/seeds/<target>/`),
//! every crash a local fuzz run left (`fuzz/artifacts/<target>/`) and the local corpus
//! (`fuzz/corpus/<target>/`, when a fuzz run made one) go through the target's own body,
//! the function in `fuzz/entries.rs` that the cargo-fuzz target calls, and none may panic.
//!
//! So a crash found once stays fixed: its input committed under `fuzz/seeds/<target>/` is
//! run by every `cargo test`, and the fuzz targets' code is compiled and linted with the
//! tests, while cargo-fuzz itself (a separate instrumented build) runs only on request
//! (`scripts/fuzz.sh`, or `FUZZ=1 scripts/test.sh`).

#[path = "../fuzz/entries.rs"]
mod entries;

use std::fs;
use std::panic::{self, AssertUnwindSafe};
use std::path::PathBuf;

/// A fuzz target's body: panics on what the target forbids.
type Body = fn(&[u8]);

/// Each fuzz target (its `[[bin]]` name in `fuzz/Cargo.toml`) and its body.
const TARGETS: [(&str, Body); 9] = [
    ("reference", entries::reference),
    ("image_list", entries::image_list),
    ("config", entries::config),
    ("deb_version", entries::deb_version),
    ("packages", entries::packages),
    ("iso_reader", entries::iso_reader),
    ("deb_reader", entries::deb_reader),
    ("par2_set", entries::par2_set),
    ("keyless_bundle", entries::keyless_bundle),
];

fn fuzz_dir() -> PathBuf {
    super::common::repo_root().join("fuzz")
}

/// The files directly in `dir`, by name; none when it does not exist.
fn files_in(dir: &PathBuf) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// Runs every input of `target` through its body; fails naming each input that panicked
/// (the panic messages are above it in the test's output).
fn run(target: &str) {
    let (_, body) = TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .unwrap_or_else(|| panic!("no fuzz target {target}"));
    let seeds = files_in(&fuzz_dir().join("seeds").join(target));
    assert!(!seeds.is_empty(), "fuzz/seeds/{target}/ has no seed");
    let mut inputs = seeds;
    for dir in ["artifacts", "corpus"] {
        inputs.extend(files_in(&fuzz_dir().join(dir).join(target)));
    }
    let mut panicked = Vec::new();
    for input in &inputs {
        let data = fs::read(input).unwrap();
        if panic::catch_unwind(AssertUnwindSafe(|| body(&data))).is_err() {
            panicked.push(input.display().to_string());
        }
    }
    assert!(
        panicked.is_empty(),
        "fuzz target {target}: {} of {} inputs panicked:\n{}",
        panicked.len(),
        inputs.len(),
        panicked.join("\n")
    );
}

#[test]
fn reference_inputs() {
    run("reference");
}

#[test]
fn image_list_inputs() {
    run("image_list");
}

#[test]
fn config_inputs() {
    run("config");
}

#[test]
fn deb_version_inputs() {
    run("deb_version");
}

#[test]
fn packages_inputs() {
    run("packages");
}

#[test]
fn iso_reader_inputs() {
    run("iso_reader");
}

#[test]
fn deb_reader_inputs() {
    run("deb_reader");
}

#[test]
fn par2_set_inputs() {
    run("par2_set");
}

#[test]
fn keyless_bundle_inputs() {
    run("keyless_bundle");
}

/// Every cargo-fuzz target is listed here (so its inputs run) and is the one-line wrapper
/// around its body in `fuzz/entries.rs` (so what runs here is what the fuzzer runs). The
/// fuzz crate itself is built only by cargo-fuzz; this keeps it from drifting unseen.
#[test]
fn every_fuzz_target_is_listed_and_is_its_entry() {
    let manifest = fs::read_to_string(fuzz_dir().join("Cargo.toml")).unwrap();
    let mut bins = Vec::new();
    let mut in_bin = false;
    for line in manifest.lines() {
        if line.starts_with('[') {
            in_bin = line == "[[bin]]";
        } else if in_bin && let Some(name) = line.strip_prefix("name = ") {
            bins.push(name.trim_matches('"').to_string());
        }
    }
    let mut listed: Vec<String> = TARGETS.iter().map(|(n, _)| n.to_string()).collect();
    bins.sort();
    listed.sort();
    assert_eq!(bins, listed, "fuzz/Cargo.toml's targets and this test's");
    for name in &bins {
        assert!(
            manifest.contains(&format!(
                "name = \"{name}\"\npath = \"fuzz_targets/{name}.rs\"\n"
            )),
            "fuzz/Cargo.toml: target {name} is not fuzz_targets/{name}.rs"
        );
        let source =
            fs::read_to_string(fuzz_dir().join(format!("fuzz_targets/{name}.rs"))).unwrap();
        let code: Vec<&str> = source
            .lines()
            .filter(|l| !l.starts_with("//") && !l.trim().is_empty())
            .collect();
        assert_eq!(
            code,
            [
                "#![no_main]",
                &format!(
                    "libfuzzer_sys::fuzz_target!(|data: &[u8]| seedforge_fuzz::{name}(data));"
                ),
            ],
            "fuzz/fuzz_targets/{name}.rs is not the wrapper around entries.rs's {name}"
        );
    }
}
