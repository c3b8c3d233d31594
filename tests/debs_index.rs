//! The bundle against the reference tools: our Packages index matches dpkg-scanpackages
//! field by field, our version ordering matches `dpkg --compare-versions`, install.sh passes
//! shellcheck, and the tarball is byte-reproducible.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use common::Cmd;
use common::debs::fixture_debs;
use seedforge::debs::control::{Paragraph, parse_paragraphs};
use seedforge::debs::version::Version;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// Writes a bundle of the fixture .debs (jq's closure, libc6 assumed in the base).
fn bundle(dir: &Path, extra: &[&str]) -> PathBuf {
    let debs = common::repo_root().join("fixtures/debs");
    bundle_from(dir, &["--deb", debs.to_str().unwrap()], extra)
}

/// Writes a bundle of jq's closure from `source` (libc6 assumed in the base).
fn bundle_from(dir: &Path, source: &[&str], extra: &[&str]) -> PathBuf {
    let base = dir.join("base.txt");
    fs::write(&base, "libc6:amd64\t2.36-9+deb12u10\n").unwrap();
    let out = dir.join("ops.tar.gz");
    Cmd::seedforge()
        .arg("debs")
        .args(source)
        .args(["--package", "jq", "--base"])
        .arg(&base)
        .arg("--out")
        .arg(&out)
        .args(extra)
        .run();
    out
}

fn extract(bundle: &Path, into: &Path) {
    fs::create_dir_all(into).unwrap();
    Cmd::new("tar")
        .arg("-xzf")
        .arg(bundle)
        .arg("-C")
        .arg(into)
        .run();
}

fn by_package(text: &str) -> BTreeMap<String, Paragraph> {
    parse_paragraphs(text)
        .unwrap()
        .into_iter()
        .map(|p| (p.get("Package").unwrap().to_string(), p))
        .collect()
}

#[test]
fn packages_index_matches_dpkg_scanpackages_field_by_field() {
    if !common::require_tool("dpkg-scanpackages") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("x");
    extract(&bundle(tmp.path(), &[]), &dir);
    let ours = fs::read_to_string(dir.join("Packages")).unwrap();
    let reference = Cmd::new("dpkg-scanpackages")
        .args(["-m", "pool"])
        .cwd(&dir)
        .run()
        .stdout;
    let (a, b) = (by_package(&ours), by_package(&reference));
    assert_eq!(
        a.keys().collect::<Vec<_>>(),
        ["jq", "libjq1", "libonig5"],
        "{ours}"
    );
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    for (name, p) in &a {
        let r = &b[name];
        let names = |p: &Paragraph| {
            p.fields()
                .iter()
                .map(|(k, _)| k.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(names(p), names(r), "{name}: field order");
        for (k, v) in r.fields() {
            assert_eq!(p.get(k), Some(v.as_str()), "{name}: field {k}");
        }
    }
    assert_eq!(ours, reference, "byte for byte");
    // The compressed index is the same text, and Release hashes both.
    let gz = Cmd::new("gzip")
        .args(["-dc", "Packages.gz"])
        .cwd(&dir)
        .run()
        .stdout;
    assert_eq!(gz, ours);
    let release = fs::read_to_string(dir.join("Release")).unwrap();
    for f in ["Packages", "Packages.gz"] {
        let sha = common::sha256_file(&dir.join(f));
        let size = fs::metadata(dir.join(f)).unwrap().len();
        let sha = sha.trim_start_matches("sha256:");
        assert!(
            release.contains(&format!(" {sha} {size} {f}\n")),
            "{release}"
        );
    }
    Cmd::new("sha256sum")
        .args(["--check", "--strict", "SHA256SUMS"])
        .cwd(&dir)
        .run();
}

#[test]
fn version_order_agrees_with_dpkg_compare_versions() {
    if !common::require_tool("dpkg") {
        return;
    }
    let versions = [
        "0",
        "0.1",
        "1",
        "1.0",
        "1.0-0",
        "1.0-1",
        "1.0-1+b1",
        "1.0-1~bpo1",
        "1.0~rc1",
        "1.0~~",
        "1.0a",
        "1.0+",
        "1.0+dfsg",
        "1.0.0",
        "1.00",
        "1.10",
        "1.9",
        "1:0.1",
        "2:1",
        "1:1.0-1",
        "1.6-2.1+deb12u3",
        "1.6-2.1+deb12u10",
        "1.6-2.1",
        "6.9.8-1",
        "2.36-9+deb12u10",
        "3.0.5-7build2",
        "5.16-1ubuntu0.2",
        "1:5.16-1ubuntu0.2",
        "0.7.4-6.1",
        "1.2+git20200101",
        "1.2.3a",
        "1.2.3.1",
        "1a",
        "1A",
        "1-2-3",
        "1-2",
        "10",
        "010",
        "1.0~beta",
        "1.0~alpha",
    ];
    // Sorted by our order, every pair's verdict follows from its neighbours' (less if any
    // step between them is less, else equal): checked here for all pairs, in process. dpkg's
    // order is a total preorder too, so agreeing with it on each neighbouring pair is agreeing
    // on every pair: one or two `dpkg --compare-versions` a neighbour, not a pair.
    use std::cmp::Ordering;
    let mut sorted: Vec<(&str, Version)> = versions
        .iter()
        .map(|v| (*v, Version::parse(v).unwrap()))
        .collect();
    sorted.sort_by(|a, b| a.1.cmp(&b.1));
    // Each version's class: how many strict steps up the sorted list lie before it.
    let classes: Vec<usize> = sorted
        .windows(2)
        .scan(0, |class, p| {
            *class += usize::from(p[0].1 < p[1].1);
            Some(*class)
        })
        .collect();
    let class = |i: usize| if i == 0 { 0 } else { classes[i - 1] };
    for (i, a) in sorted.iter().enumerate() {
        for (j, b) in sorted.iter().enumerate().skip(i + 1) {
            let chained = class(i).cmp(&class(j));
            assert_eq!(a.1.cmp(&b.1), chained, "{} vs {}", a.0, b.0);
            assert_eq!(b.1.cmp(&a.1), chained.reverse(), "{} vs {}", b.0, a.0);
        }
    }
    for pair in sorted.windows(2) {
        let ((a, va), (b, vb)) = (&pair[0], &pair[1]);
        let dpkg = |op: &str| {
            Cmd::new("dpkg")
                .args(["--compare-versions", a, op, b])
                .any_status()
                .run()
                .code
                == Some(0)
        };
        let theirs = if dpkg("lt") {
            Ordering::Less
        } else if dpkg("eq") {
            Ordering::Equal
        } else {
            Ordering::Greater
        };
        assert_eq!(va.cmp(vb), theirs, "{a} vs {b}");
    }
    // Not all equal: the order has something to agree on.
    assert!(classes.last().copied().unwrap_or(0) > 30);
}

#[test]
fn install_script_passes_shellcheck() {
    if !common::require_tool("shellcheck") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("x");
    extract(&bundle(tmp.path(), &[]), &dir);
    let script = fs::read_to_string(dir.join("install.sh")).unwrap();
    assert!(script.contains("\nNAME=ops\n") && script.contains("\nPACKAGES=jq\n"));
    for placeholder in ["@NAME@", "@BUNDLE_ID@", "@PACKAGES@"] {
        assert!(
            !script.contains(placeholder),
            "{placeholder} left: {script}"
        );
    }
    Cmd::new("shellcheck")
        .args(["--shell=sh", "--severity=style"])
        .arg(dir.join("install.sh"))
        .run();
}

#[test]
fn bundles_are_byte_reproducible_and_follow_source_date_epoch() {
    let tmp = tempfile::tempdir().unwrap();
    let (one, two) = (tmp.path().join("1"), tmp.path().join("2"));
    fs::create_dir_all(&one).unwrap();
    fs::create_dir_all(&two).unwrap();
    let a = fs::read(bundle(&one, &["--source-date-epoch", "1700000000"])).unwrap();
    // Copies of the .debs with other timestamps and another order on disk give the
    // same bytes.
    let debs = two.join("debs");
    fs::create_dir_all(&debs).unwrap();
    for d in fixture_debs().iter().rev() {
        fs::copy(d, debs.join(d.file_name().unwrap())).unwrap();
    }
    let base = two.join("base.txt");
    fs::write(&base, "libc6:amd64\t2.36-9+deb12u10\n").unwrap();
    let out = two.join("ops.tar.gz");
    Cmd::seedforge()
        .args(["--json", "debs", "--package", "jq", "--deb"])
        .args(fixture_debs().iter().rev())
        .arg("--base")
        .arg(&base)
        .arg("--out")
        .arg(&out)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .run();
    assert_eq!(a, fs::read(&out).unwrap());
    let listing = Cmd::new("tar").args(["-tvzf"]).arg(&out).run().stdout;
    assert!(listing.contains("0/0"), "{listing}");
    assert!(listing.contains("2023-11-14"), "{listing}");
    let names: Vec<&str> = listing
        .lines()
        .map(|l| l.split_whitespace().last().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "Packages",
            "Packages.gz",
            "Release",
            "SHA256SUMS",
            "install.sh",
            "pool/",
            "pool/jq_1.6-2.1+deb12u3_amd64.deb",
            "pool/libjq1_1.6-2.1+deb12u3_amd64.deb",
            "pool/libonig5_6.9.8-1_amd64.deb",
        ]
    );
}

#[test]
fn the_same_closure_from_http_a_flat_repo_or_files_gives_the_same_bytes() {
    if !common::require_tool("apt-ftparchive") || !common::require_tool("python3") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let from_files = fs::read(bundle(tmp.path(), &[])).unwrap();
    let repo = tmp.path().join("repo");
    common::debs::make_repo(&repo, &fixture_debs());
    let server = common::debs::HttpServer::start(&repo);
    let via_http = tmp.path().join("http");
    fs::create_dir_all(&via_http).unwrap();
    let out = bundle_from(
        &via_http,
        &["--repo", &server.url, "--suite", "bookworm"],
        &[],
    );
    drop(server);
    assert_eq!(from_files, fs::read(out).unwrap(), "http repository");
    // Our own bundle is a flat repository seedforge can read back.
    let flat = tmp.path().join("flat");
    extract(&tmp.path().join("ops.tar.gz"), &flat);
    let again = tmp.path().join("again");
    fs::create_dir_all(&again).unwrap();
    let url = format!("file://{}", flat.display());
    let out = bundle_from(&again, &["--repo", &url, "--suite", "./"], &[]);
    assert_eq!(from_files, fs::read(out).unwrap(), "flat repository");
}
