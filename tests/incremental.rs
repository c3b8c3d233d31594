//! Incremental builds: a step whose inputs and outputs are unchanged is skipped, so a
//! second build with nothing changed writes nothing; a change reruns only the steps it
//! reaches; a damaged or deleted output is written again; `--force` runs everything.
//! Judges: the files' inode, mtime and ctime (a rewrite shows even with the same bytes),
//! their bytes, `sha256sum -c`, `seedforge verify`, and strace (which files a no-change
//! rebuild opens at all).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use crate::common;

use common::debs::{HttpServer, fixture_debs, make_repo};
use common::{
    Cmd, Lab, XorShift, assert_same_tree, files_under, read_json, require_tool, seedforge_bin,
    sha256_bytes, sha256_file, snapshot,
};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

const AIRGAP: &str = "airgap/k3s-airgap-images-amd64.tar.zst";

/// `seedforge --json build` of the lab config with `extra` arguments.
fn build(lab: &Lab, extra: &[&str]) -> Value {
    lab.seedforge()
        .args(["--json", "build", "--config", lab.config_arg()])
        .args(extra)
        .run()
        .json()
}

/// Step key → `ran` or `skipped`, from a build report.
fn statuses(report: &Value) -> BTreeMap<String, String> {
    report["steps"]
        .as_array()
        .expect("the report lists its steps")
        .iter()
        .map(|s| {
            assert!(s["seconds"].as_f64().is_some(), "no time for {s}");
            (
                s["key"].as_str().unwrap().to_string(),
                s["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The keys of the steps that ran.
fn ran(report: &Value) -> BTreeSet<String> {
    statuses(report)
        .into_iter()
        .filter(|(_, s)| s == "ran")
        .map(|(k, _)| k)
        .collect()
}

fn set(keys: &[&str]) -> BTreeSet<String> {
    keys.iter().map(|k| k.to_string()).collect()
}

/// Inode, mtime and ctime (ns) of a file: any rewrite changes at least one of them.
type Stamp = (u64, i64, i64);

fn stamp(path: &Path) -> Stamp {
    let m = fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (
        m.ino(),
        m.mtime() * 1_000_000_000 + m.mtime_nsec(),
        m.ctime() * 1_000_000_000 + m.ctime_nsec(),
    )
}

/// The stamp of every file of the output (relative paths), but the layout's session
/// directories (a mirror's private scratch space).
fn stamps(out: &Path) -> BTreeMap<PathBuf, Stamp> {
    files_under(out)
        .into_iter()
        .map(|p| p.strip_prefix(out).unwrap().to_path_buf())
        .filter(|p| !p.starts_with("oci/.seedforge"))
        .map(|p| {
            let s = stamp(&out.join(&p));
            (p, s)
        })
        .collect()
}

/// The paths whose stamp differs between two [`stamps`] (or that one of them lacks).
fn touched(a: &BTreeMap<PathBuf, Stamp>, b: &BTreeMap<PathBuf, Stamp>) -> BTreeSet<String> {
    a.keys()
        .chain(b.keys())
        .filter(|p| a.get(*p) != b.get(*p))
        .map(|p| p.display().to_string())
        .collect()
}

/// The paths rewritten (inode or mtime changed, or created or removed) between two
/// [`stamps`]. A seed ISO's staging links the payload files, which changes only their
/// ctime.
fn rewritten(a: &BTreeMap<PathBuf, Stamp>, b: &BTreeMap<PathBuf, Stamp>) -> BTreeSet<String> {
    let key = |s: Option<&Stamp>| s.map(|(ino, mtime, _)| (*ino, *mtime));
    a.keys()
        .chain(b.keys())
        .filter(|p| key(a.get(*p)) != key(b.get(*p)))
        .map(|p| p.display().to_string())
        .collect()
}

fn sums(out: &Path) -> BTreeMap<String, String> {
    fs::read_to_string(out.join("SHA256SUMS"))
        .unwrap()
        .lines()
        .map(|l| {
            let (sha, path) = l.split_once("  ").unwrap();
            (path.to_string(), sha.to_string())
        })
        .collect()
}

/// `sha256sum -c` and `seedforge verify` both pass on `out`.
fn assert_sound(lab: &Lab, out: &Path) {
    if require_tool("sha256sum") {
        Cmd::new("sha256sum")
            .args(["-c", "--strict", "--quiet", "SHA256SUMS"])
            .cwd(out)
            .run();
    }
    lab.seedforge().arg("verify").arg(out).run();
}

fn replace_in_config(lab: &Lab, from: &str, to: &str) {
    let path = lab.lab_dir().join("seedforge.yaml");
    let text = fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "{from:?} not in the config");
    fs::write(&path, text.replace(from, to)).unwrap();
}

#[test]
fn a_second_build_with_nothing_changed_skips_every_step_and_rewrites_no_file() {
    let lab = Lab::new();
    let out = lab.out_dir();
    let first = build(&lab, &[]);
    let all = statuses(&first);
    assert!(all.values().all(|s| s == "ran"), "{all:?}");
    for key in [
        "mirror",
        "verify",
        "render",
        "pki",
        "seal",
        "iso lab-agent1",
    ] {
        assert!(all.contains_key(key), "no step {key}: {all:?}");
    }
    let before = stamps(&out);
    let bytes = snapshot(&out);
    assert!(before.contains_key(Path::new(".seedforge/state.json")));

    let second = build(&lab, &[]);
    // Mirror, pki and seal always run, and here they find everything in place.
    assert_eq!(ran(&second), set(&["mirror", "pki", "seal"]), "{second}");
    let blobs_written: u64 = second["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["blobs_written"].as_u64().unwrap())
        .sum();
    assert_eq!(blobs_written, 0);
    assert_eq!(second["pki"]["written"], serde_json::json!([]));
    assert_eq!(second["seal"]["hashed"], 0, "{}", second["seal"]);
    // The skipped steps report what they hold, as the first build did.
    for part in ["airgap", "iso", "nodes"] {
        assert_eq!(second[part], first[part], "{part}");
    }
    assert_eq!(second["verify"]["images"], first["verify"]["images"]);
    assert_eq!(second["seal"]["artifacts"], first["seal"]["artifacts"]);
    // Not one file was written: same inode, mtime and ctime, the state file included.
    assert_eq!(
        touched(&before, &stamps(&out)),
        BTreeSet::new(),
        "rewritten"
    );
    assert_same_tree(&bytes, &snapshot(&out), "a rebuild with nothing changed");

    let text = lab
        .seedforge()
        .args(["build", "--config", lab.config_arg()])
        .run();
    assert!(
        text.stdout
            .contains("skipped 7 unchanged step(s): verify, airgap, render, iso lab-server1"),
        "{}",
        text.stdout
    );
    assert_sound(&lab, &out);
}

#[test]
fn a_changed_node_address_reruns_only_render_that_nodes_iso_and_the_seal() {
    let lab = Lab::new();
    let out = lab.out_dir();
    build(&lab, &[]);
    let before = stamps(&out);
    let old_iso = sha256_file(&out.join("iso/seed-lab-agent2.iso"));

    replace_in_config(&lab, "192.168.6.12/24", "192.168.6.22/24");
    let report = build(&lab, &[]);
    assert_eq!(
        ran(&report),
        set(&["mirror", "pki", "render", "iso lab-agent2", "sbom", "seal"]),
        "{report}"
    );
    // Only that node's files, its seed, the SBOMs and provenance that name the seed's
    // digest, the seal and the state were written.
    assert_eq!(
        rewritten(&before, &stamps(&out)),
        set(&[
            ".seedforge/state.json",
            "SHA256SUMS",
            "iso/seed-lab-agent2.iso",
            "manifest.json",
            "nodes/lab-agent2/meta-data",
            "nodes/lab-agent2/network-config",
            "nodes/lab-agent2/user-data",
            "sbom/provenance.json",
            "sbom/sbom.cdx.json",
            "sbom/sbom.spdx.json",
        ])
    );
    let network = fs::read_to_string(out.join("nodes/lab-agent2/network-config")).unwrap();
    assert!(network.contains("192.168.6.22/24"), "{network}");
    assert_ne!(sha256_file(&out.join("iso/seed-lab-agent2.iso")), old_iso);
    assert_sound(&lab, &out);

    // What the incremental build left is what a full build of the same inputs gives
    // (the PKI and the site identity are kept state, made at random once).
    let full = lab.root().join("full");
    common::copy_kept_state(&out, &full);
    lab.seedforge()
        .args(["build", "--force", "--config", lab.config_arg(), "--out"])
        .arg(&full)
        .run();
    for name in ["SHA256SUMS", "manifest.json"] {
        assert_eq!(
            fs::read(out.join(name)).unwrap(),
            fs::read(full.join(name)).unwrap(),
            "{name} differs from a full build's"
        );
    }
}

#[test]
fn turning_on_a_payload_files_executable_bit_rebuilds_the_seeds() {
    let lab = Lab::new();
    let out = lab.out_dir();
    fs::write(lab.lab_dir().join("k3s"), b"#!/bin/sh\necho k3s\n").unwrap();
    let sha = sha256_file(&lab.lab_dir().join("k3s"));
    let mut config = fs::read_to_string(lab.lab_dir().join("seedforge.yaml")).unwrap();
    config.push_str(&format!(
        "files:\n  - name: bin/k3s\n    source: k3s\n    sha256: \"{sha}\"\n    executable: false\n"
    ));
    fs::write(lab.lab_dir().join("seedforge.yaml"), config).unwrap();
    build(&lab, &[]);
    replace_in_config(&lab, "executable: false", "executable: true");
    let report = build(&lab, &[]);
    let ran = ran(&report);
    for node in ["lab-server1", "lab-agent1", "lab-agent2"] {
        assert!(ran.contains(&format!("iso {node}")), "{report}");
    }
    // The seed carries the binary as executable now.
    let listing = Cmd::new("isoinfo")
        .args(["-R", "-l", "-i"])
        .arg(out.join("iso/seed-lab-agent1.iso"))
        .run()
        .stdout;
    let line = listing
        .lines()
        .find(|l| l.trim_end().ends_with(" k3s"))
        .unwrap_or_else(|| panic!("no k3s in:\n{listing}"));
    assert!(
        line.starts_with("-r-xr-xr-x") || line.starts_with("-rwxr-xr-x"),
        "{line}"
    );
}

#[test]
fn a_damaged_output_is_noticed_and_written_again() {
    let lab = Lab::new();
    let out = lab.out_dir();
    build(&lab, &[]);
    let sealed = sums(&out);

    // A truncated seed ISO: its size changed.
    let iso = out.join("iso/seed-lab-agent1.iso");
    let f = fs::OpenOptions::new().write(true).open(&iso).unwrap();
    f.set_len(f.metadata().unwrap().len() / 2).unwrap();
    drop(f);
    let report = build(&lab, &[]);
    assert_eq!(
        ran(&report),
        set(&["mirror", "pki", "iso lab-agent1", "seal"])
    );
    assert_eq!(sha256_file(&iso), sealed["iso/seed-lab-agent1.iso"]);

    // A flipped byte with the size kept and the mtime put back by `touch -r`: the ctime,
    // which no user can set, still tells.
    let archive = out.join(AIRGAP);
    let reference = lab.root().join("mtime-reference");
    fs::write(&reference, "").unwrap();
    Cmd::new("touch")
        .arg("-r")
        .arg(&archive)
        .arg(&reference)
        .run();
    let before = fs::metadata(&archive).unwrap();
    common::flip_byte(&archive, 1000);
    Cmd::new("touch")
        .arg("-r")
        .arg(&reference)
        .arg(&archive)
        .run();
    let after = fs::metadata(&archive).unwrap();
    assert_eq!(
        (after.len(), after.mtime(), after.mtime_nsec()),
        (before.len(), before.mtime(), before.mtime_nsec()),
        "the damage is meant to keep size and mtime"
    );
    let report = build(&lab, &[]);
    let again = ran(&report);
    assert!(again.iter().any(|k| k.starts_with("airgap ")), "{again:?}");
    assert_eq!(sha256_file(&archive), sealed[AIRGAP]);
    // The archive came back byte for byte, so the seeds that carry it are still right.
    assert!(!again.iter().any(|k| k.starts_with("iso ")), "{again:?}");
    assert_eq!(sums(&out), sealed);
    assert_sound(&lab, &out);
}

#[test]
fn a_deleted_output_is_written_again_and_nothing_else() {
    let lab = Lab::new();
    let out = lab.out_dir();
    build(&lab, &[]);
    let sealed = sums(&out);
    let before = stamps(&out);
    fs::remove_file(out.join("nodes/lab-server1/meta-data")).unwrap();
    fs::remove_file(out.join(AIRGAP)).unwrap();
    let report = build(&lab, &[]);
    let again = ran(&report);
    assert!(again.contains("render"), "{again:?}");
    assert!(again.iter().any(|k| k.starts_with("airgap ")), "{again:?}");
    assert!(!again.iter().any(|k| k.starts_with("iso ")), "{again:?}");
    assert_eq!(
        rewritten(&before, &stamps(&out)),
        set(&[
            ".seedforge/state.json",
            AIRGAP,
            "nodes/lab-server1/meta-data"
        ]),
        "only the deleted files (and the state) are written"
    );
    assert_eq!(sums(&out), sealed);
    assert_sound(&lab, &out);
}

#[test]
fn force_runs_every_step_and_gives_the_same_bytes() {
    let lab = Lab::new();
    let out = lab.out_dir();
    build(&lab, &[]);
    let listed: Vec<String> = sums(&out).into_keys().collect();
    let bytes: BTreeMap<String, Vec<u8>> = listed
        .iter()
        .chain(&["SHA256SUMS".to_string()])
        .map(|p| (p.clone(), fs::read(out.join(p)).unwrap()))
        .collect();
    let iso_before = stamp(&out.join("iso/seed-lab-server1.iso"));
    let report = build(&lab, &["--force"]);
    let all = statuses(&report);
    assert!(all.values().all(|s| s == "ran"), "{all:?}");
    assert_ne!(
        stamp(&out.join("iso/seed-lab-server1.iso")),
        iso_before,
        "--force wrote the seed again"
    );
    for (p, b) in &bytes {
        assert_eq!(&fs::read(out.join(p)).unwrap(), b, "{p} changed");
    }
    // The state --force wrote is a good one: the next build skips again.
    let next = build(&lab, &[]);
    assert_eq!(ran(&next), set(&["mirror", "pki", "seal"]));
}

/// The lab with a large random `files:` payload and a bundle of the fixture .debs.
fn lab_with_payload_and_bundle(size: usize) -> (Lab, String) {
    let lab = Lab::new();
    let dir = lab.lab_dir();
    let mut big = vec![0u8; size];
    XorShift::new(7).fill(&mut big);
    fs::write(dir.join("big payload.bin"), &big).unwrap();
    let debs = dir.join("debs");
    fs::create_dir_all(&debs).unwrap();
    for d in fixture_debs() {
        fs::copy(&d, debs.join(d.file_name().unwrap())).unwrap();
    }
    fs::write(dir.join("base.txt"), "libc6:amd64\t2.36-9+deb12u10\n").unwrap();
    let path = dir.join("seedforge.yaml");
    let mut text = fs::read_to_string(&path).unwrap();
    text.push_str(&format!(
        "files:\n  - name: extra/big.bin\n    source: big payload.bin\n    sha256: \"{}\"\n\
         packages:\n  - name: ops\n    packages: [jq]\n    base: base.txt\n    debs: [debs]\n",
        sha256_bytes(&big)
    ));
    fs::write(&path, text).unwrap();
    (lab, "big payload.bin".to_string())
}

#[test]
fn a_rebuild_opens_no_large_file_and_writes_nothing_as_strace_sees_it() {
    if !require_tool("strace") {
        return;
    }
    let (lab, source) = lab_with_payload_and_bundle(8 << 20);
    let out = lab.out_dir();
    let first = build(&lab, &[]);
    let first_steps = statuses(&first);
    assert_eq!(first_steps["files"], "ran");
    assert!(first_steps.keys().any(|k| k.starts_with("packages ")));
    let before = stamps(&out);

    let log = lab.root().join("strace.log");
    let report = Cmd::new("strace")
        .args([
            "-f",
            "-qq",
            "-e",
            "trace=open,openat,openat2,creat,truncate,rename,renameat,renameat2,unlink,unlinkat,link,linkat",
            "-o",
        ])
        .arg(&log)
        .arg(seedforge_bin())
        .args(["--json", "build", "--config", lab.config_arg()])
        .cwd(lab.root())
        .run()
        .json();
    assert_eq!(ran(&report), set(&["mirror", "pki", "seal"]), "{report}");
    assert_eq!(touched(&before, &stamps(&out)), BTreeSet::new());

    let trace = fs::read_to_string(&log).unwrap();
    assert!(
        trace.contains("lab/out/.seedforge/state.json"),
        "strace saw nothing: {trace}"
    );
    // Large files are not even opened: not the payload's source nor its copy, not the
    // bundle, the airgap archive, a seed ISO, a node file or a layout blob.
    let large = [
        source.as_str(),
        "lab/out/files/",
        "lab/out/packages/",
        "lab/out/airgap/",
        "lab/out/iso/",
        "lab/out/nodes/",
        "lab/out/oci/blobs/sha256/",
    ];
    for line in trace.lines() {
        let opened = line.contains("open") && !line.contains("O_DIRECTORY");
        if opened && let Some(p) = large.iter().find(|p| line.contains(*p)) {
            panic!("a rebuild with nothing changed opened {p}: {line}");
        }
        // Nothing in the output is created, renamed, linked, truncated or removed but the
        // layout's session scratch space; the build lock is opened to be locked only.
        let writes = ["O_WRONLY", "O_RDWR", "O_CREAT", "O_TRUNC"]
            .iter()
            .any(|f| line.contains(f))
            || ["rename", "unlink", "link(", "linkat", "truncate", "creat("]
                .iter()
                .any(|s| line.contains(s));
        if writes
            && line.contains("lab/out/")
            && !line.contains("lab/out/oci/.seedforge/")
            && !line.contains("lab/out/.seedforge-build.lock\", O_WRONLY|O_CREAT")
        {
            panic!("a rebuild with nothing changed wrote into the output: {line}");
        }
    }
    let m = read_json(&out.join("manifest.json"));
    assert_eq!(m["files"][0]["name"], "extra/big.bin");
    assert_sound(&lab, &out);
}

#[test]
fn a_bundle_from_a_repository_stays_pinned_when_its_step_is_skipped() {
    if !require_tool("apt-ftparchive") || !require_tool("python3") {
        return;
    }
    let repo = tempfile::tempdir().unwrap();
    make_repo(repo.path(), &fixture_debs());
    let mut server = HttpServer::start(repo.path());
    let lab = Lab::new();
    let dir = lab.lab_dir();
    fs::write(dir.join("base.txt"), "libc6:amd64\t2.36-9+deb12u10\n").unwrap();
    let path = dir.join("seedforge.yaml");
    let mut text = fs::read_to_string(&path).unwrap();
    text.push_str(&format!(
        "packages:\n  - name: ops\n    packages: [jq]\n    base: base.txt\n    repo: {{url: \"{}\", suite: bookworm}}\n",
        server.url
    ));
    fs::write(&path, text).unwrap();
    let bundle = lab.out_dir().join("packages/ops.tar.gz");
    let lock_path = dir.join("seedforge.lock");
    build(&lab, &[]);
    let pinned = read_json(&lock_path)["packages"]["ops"].clone();
    assert_eq!(pinned["sha256"].as_str().unwrap(), sha256_file(&bundle));

    let second = build(&lab, &[]);
    assert!(
        statuses(&second)
            .iter()
            .any(|(k, s)| k.starts_with("packages ") && s == "skipped"),
        "{second}"
    );
    assert_eq!(read_json(&lock_path)["packages"]["ops"], pinned);
    // The pin is what an offline build needs.
    server.child.kill();
    lab.seedforge()
        .args(["build", "--offline", "--config", lab.config_arg()])
        .run();
    assert_eq!(sha256_file(&bundle), pinned["sha256"].as_str().unwrap());
}

/// The `key` → entry of a report section, with only the fields that say what was built.
fn built(report: &Value, section: &str, fields: &[&str]) -> BTreeMap<String, Vec<Value>> {
    let entries = match &report[section] {
        Value::Array(a) => a.clone(),
        Value::Null => Vec::new(),
        one => vec![one.clone()],
    };
    entries
        .iter()
        .map(|e| {
            let key = e["path"]
                .as_str()
                .map_or_else(|| e.to_string(), str::to_string);
            (key, fields.iter().map(|f| e[*f].clone()).collect())
        })
        .collect()
}

#[test]
fn every_kind_of_step_skipped_gives_the_report_it_gave_when_it_ran() {
    // A build with every kind of step: files and a bundle, a shared payload ISO, and an
    // export folder.
    let (lab, _) = lab_with_payload_and_bundle(4096);
    let export = lab.lab_dir().join("export");
    let path = lab.lab_dir().join("seedforge.yaml");
    let mut text = fs::read_to_string(&path).unwrap();
    text.push_str(&format!(
        "seeds:\n  payload: shared\nexport_dir: {}\n",
        export.display()
    ));
    fs::write(&path, text).unwrap();
    let first = build(&lab, &[]);
    let kinds: BTreeSet<String> = first["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["step"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        kinds,
        set(&[
            "mirror", "verify", "airgap", "packages", "pki", "files", "render", "payload", "iso",
            "sbom", "seal", "export"
        ]),
        "the build has one step of every kind"
    );
    let second = build(&lab, &[]);
    assert_eq!(ran(&second), set(&["mirror", "pki", "seal"]));
    // Each skipped step's report is the one its run gave: the same files with the same
    // digests.
    for (section, fields) in [
        ("airgap", &["sha256", "size"][..]),
        ("packages", &["sha256", "name"][..]),
        ("iso", &["sha256", "size"][..]),
        ("files", &["sha256", "size", "name"][..]),
        ("nodes", &[][..]),
    ] {
        let (a, b) = (
            built(&first, section, fields),
            built(&second, section, fields),
        );
        assert!(!a.is_empty(), "{section}: the first build reports nothing");
        assert_eq!(a, b, "{section}: the skipped step reports something else");
    }
    assert_eq!(first["verify"]["images"], second["verify"]["images"]);
    assert_eq!(
        first["verify"]["blobs_checked"],
        second["verify"]["blobs_checked"]
    );
    assert_eq!(first["verify"]["problems"], second["verify"]["problems"]);
    let exported = |r: &Value| built(&r["export"], "files", &["size"]);
    assert_eq!(exported(&first), exported(&second));
    assert_eq!(exported(&first).len(), 4, "three seeds and the payload ISO");
    assert_sound(&lab, &lab.out_dir());
}

/// A build's verify line says how many of the layout's blobs it re-hashed: all of them
/// the first time; after an image is dropped, those whose files are unchanged since they
/// last hashed right are not read, and the line says so rather than reading like a
/// smaller layout. `seedforge verify` re-hashes them all.
#[test]
fn the_verify_line_says_how_many_of_the_blobs_it_re_hashed() {
    let lab = Lab::new();
    let verify_line = |out: &common::Output| {
        (out.stdout.lines())
            .find(|l| l.starts_with("verify fixtures/lab/out/oci:"))
            .unwrap_or_else(|| panic!("no verify line: {}", out.stdout))
            .to_string()
    };
    let first = verify_line(&lab.build());
    assert!(
        first.contains(" blob(s) re-hashed (") && !first.contains(" of "),
        "{first}"
    );
    let list = lab.lab_dir().join("images.txt");
    let text: String = (fs::read_to_string(&list).unwrap().lines())
        .filter(|l| !l.contains("traefik"))
        .map(|l| format!("{l}\n"))
        .collect();
    fs::write(&list, text).unwrap();
    replace_in_config(
        &lab,
        "  k3s_version: v1.33.1+k3s1\n",
        "  k3s_version: v1.33.1+k3s1\n  disable: [traefik]\n",
    );
    let second = verify_line(&lab.build());
    // "N of M blob(s) re-hashed (…), the rest unchanged since they were last hashed"
    let (hashed, rest) = second
        .split_once(" image(s), ")
        .and_then(|(_, r)| r.split_once(" of "))
        .unwrap_or_else(|| panic!("{second}"));
    let all: usize = rest.split(' ').next().unwrap().parse().unwrap();
    let hashed: usize = hashed.parse().unwrap();
    assert!(0 < hashed && hashed < all, "{second}");
    assert!(
        second.contains("the rest unchanged since they were last hashed"),
        "{second}"
    );
    let out = lab.seedforge().args(["verify", "fixtures/lab/out"]).run();
    let full = verify_line(&out);
    assert!(
        full.contains(&format!(" {all} blob(s) re-hashed (")),
        "{full}"
    );
}
