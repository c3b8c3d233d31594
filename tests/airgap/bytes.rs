//! What goes in and how: platforms, byte-for-byte determinism across runs, thread counts
//! and labs, normalised tar headers, `--sha256`.

use super::*;

#[test]
fn only_the_selected_platforms_go_in() {
    let lab = mirrored_lab();
    // Positive control: the default platform.
    for format in ["oci", "docker"] {
        let path = airgap(&lab, &format!("amd64-{format}.tar"), &["--format", format]);
        let got = archived_image_platforms(&path);
        assert_eq!(got.len(), lab.lab_destinations().len(), "{format}: {got:?}");
        for (name, platform) in got {
            assert_eq!(platform, "linux/amd64", "{format}: {name}");
        }
    }
    // linux/arm64 only: the lab's other seven images exist for linux/amd64 alone. The
    // archive may refuse (exit 2, nothing written, as `mirror` does for a platform an
    // image lacks) or leave them out, but an "arm64" archive must not carry amd64 images
    // (`build` names it k3s-airgap-images-arm64.tar.zst).
    for format in ["oci", "docker"] {
        let out = format!("arm64-{format}.tar");
        let run = lab
            .seedforge()
            .args([
                "airgap", "--layout", LAYOUT, "--out", &out, "--format", format,
            ])
            .args(["--platform", "linux/arm64"])
            .any_status()
            .run();
        let path = lab.root().join(&out);
        match run.code {
            Some(0) => {
                let wrong: Vec<_> = archived_image_platforms(&path)
                    .into_iter()
                    .filter(|(_, p)| p != "linux/arm64/v8" && p != "linux/arm64")
                    .collect();
                assert!(
                    wrong.is_empty(),
                    "{format} archive for --platform linux/arm64 holds images of other platforms: {wrong:?}"
                );
            }
            Some(2) => assert!(!path.exists(), "{format}: exit 2 but {out} was written"),
            other => panic!("{format}: exit {other:?}\n{}", run.stderr),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Determinism
// ---------------------------------------------------------------------------------------

#[test]
fn two_runs_give_identical_bytes_for_every_format_and_compression() {
    let lab = mirrored_lab();
    for format in ["oci", "docker"] {
        let plain = airgap(&lab, &format!("{format}-1.tar"), &["--format", format]);
        for suffix in ["tar", "tar.gz", "tar.zst"] {
            let a = airgap(&lab, &format!("{format}-a.{suffix}"), &["--format", format]);
            let b = airgap(&lab, &format!("{format}-b.{suffix}"), &["--format", format]);
            assert!(
                fs::read(&a).unwrap() == fs::read(&b).unwrap(),
                "{format} .{suffix}: two runs differ"
            );
            // Whatever the compression, the tar inside is the same.
            assert!(
                decompressed(&a) == fs::read(&plain).unwrap(),
                "{format} .{suffix}: the tar inside differs from the plain .tar"
            );
        }
    }
}

/// The kernel-copied plain tar (no digest asked for) and the user-space one that hashes its
/// output are the same bytes, and `--sha256` reports the file's real digest.
#[test]
fn sha256_flag_reports_the_file_digest_and_changes_no_byte() {
    let lab = mirrored_lab();
    for (suffix, sums) in [
        ("tar", false),
        ("tar", true),
        ("tar.zst", true),
        ("tar.gz", true),
    ] {
        let fast = airgap(&lab, &format!("fast.{suffix}"), &[]);
        let out = lab
            .seedforge()
            .args(["--json", "airgap", "--layout", LAYOUT, "--out"])
            .arg(format!("hashed.{suffix}"))
            .args(sums.then_some("--sha256"))
            .run()
            .json();
        let hashed = lab.root().join(format!("hashed.{suffix}"));
        assert!(
            fs::read(&fast).unwrap() == fs::read(&hashed).unwrap(),
            ".{suffix}: --sha256 changed the archive"
        );
        if sums {
            assert_eq!(
                out["sha256"].as_str().unwrap(),
                common::sha256_file(&hashed),
                ".{suffix}"
            );
        } else {
            assert!(out.get("sha256").is_none(), "no digest unless asked: {out}");
        }
    }
}

#[test]
fn zstd_bytes_do_not_depend_on_the_thread_count() {
    let lab = mirrored_lab();
    let t1 = airgap(&lab, "t1.tar.zst", &["--threads", "1"]);
    let t2 = airgap(&lab, "t2.tar.zst", &["--threads", "2"]);
    assert!(
        fs::read(&t1).unwrap() == fs::read(&t2).unwrap(),
        "lab: --threads 1 and 2 differ"
    );

    // The lab fits in one zstd job; a layout of 3 x 10 MiB incompressible layers spans
    // several (a level-3 job is 8 MiB), so the workers really split the input.
    let big = lab.root().join("big");
    write_oci_image(
        &big,
        "docker.io/library/big:1",
        &[10 << 20, 10 << 20, 10 << 20],
        7,
    );
    let run = |threads: &str, out: &str| {
        lab.seedforge()
            .args([
                "airgap",
                "--layout",
                "big",
                "--out",
                out,
                "--threads",
                threads,
            ])
            .timeout(Duration::from_secs(300))
            .run();
        fs::read(lab.root().join(out)).unwrap()
    };
    let b1 = run("1", "big1.tar.zst");
    let b2 = run("2", "big2.tar.zst");
    let b4 = run("4", "big4.tar.zst");
    assert!(b1 == b2, "big layout: --threads 1 and 2 differ");
    assert!(b1 == b4, "big layout: --threads 1 and 4 differ");
    // And an independent decoder gets the plain tar back.
    if require_tool("zstd") {
        lab.seedforge()
            .args(["airgap", "--layout", "big", "--out", "big.tar"])
            .timeout(Duration::from_secs(300))
            .run();
        let plain = fs::read(lab.root().join("big.tar")).unwrap();
        let out = Command::new("zstd")
            .args(["-dc"])
            .arg(lab.root().join("big1.tar.zst"))
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "zstd -dc: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.stdout == plain,
            "zstd -dc of big1.tar.zst is not big.tar"
        );
    }
}

#[test]
fn archives_from_two_separately_mirrored_labs_are_identical() {
    let (a, b) = (mirrored_lab(), mirrored_lab());
    let variants: [(&str, &[&str]); 4] = [
        ("oci.tar.zst", &[]),
        (
            "both.tar.gz",
            &["--platform", "linux/amd64", "--platform", "linux/arm64"],
        ),
        ("docker.tar", &["--format", "docker"]),
        ("docker.tar.gz", &["--format", "docker"]),
    ];
    for (out, extra) in variants {
        let x = fs::read(airgap(&a, out, extra)).unwrap();
        let y = fs::read(airgap(&b, out, extra)).unwrap();
        assert!(x == y, "{out}: the two labs' archives differ");
    }
}

/// Every header normalised: one mtime, owner 0:0, 0644 files, 0755 dirs, nothing but files
/// and dirs, sorted by name, parents before children.
fn assert_normalised(path: &Path, mtime: u64) {
    let entries = tar_entries(path);
    assert!(!entries.is_empty(), "{}: empty", path.display());
    for e in &entries {
        let what = format!("{}: {}", path.display(), e.path);
        assert_eq!(e.mtime, mtime, "{what}: mtime");
        assert_eq!((e.uid, e.gid), (0, 0), "{what}: owner");
        match e.kind {
            tar::EntryType::Regular => assert_eq!(e.mode, 0o644, "{what}: mode {:o}", e.mode),
            tar::EntryType::Directory => {
                assert_eq!(e.mode, 0o755, "{what}: mode {:o}", e.mode);
                assert!(
                    e.path.ends_with('/'),
                    "{what}: a directory without a trailing /"
                );
            }
            other => panic!("{what}: unexpected entry type {other:?}"),
        }
    }
    let names: Vec<&str> = entries.iter().map(|e| e.path.as_str()).collect();
    for pair in names.windows(2) {
        assert!(
            pair[0] < pair[1],
            "{}: {} comes before {}",
            path.display(),
            pair[0],
            pair[1]
        );
    }
    for e in &entries {
        if let Some((parent, _)) = e.path.trim_end_matches('/').rsplit_once('/') {
            let dir = format!("{parent}/");
            let pos = |n: &str| names.iter().position(|x| *x == n);
            assert!(
                pos(&dir).is_some_and(|p| Some(p) < pos(&e.path)),
                "{}: {} has no directory entry before it",
                path.display(),
                e.path
            );
        }
    }
}

#[test]
fn source_date_epoch_sets_every_entry_and_headers_are_normalised() {
    let lab = mirrored_lab();
    let epoch = EPOCH.to_string();
    let variants: [(&str, &[&str]); 4] = [
        ("oci.tar", &[]),
        ("oci.tar.zst", &[]),
        (
            "both.tar.gz",
            &["--platform", "linux/amd64", "--platform", "linux/arm64"],
        ),
        ("docker.tar", &["--format", "docker"]),
    ];
    for (out, extra) in variants {
        let flagged = format!("flag-{out}");
        let path = lab.root().join(&flagged);
        lab.seedforge()
            .args(["airgap", "--layout", LAYOUT, "--out", &flagged])
            .args(extra)
            .args(["--source-date-epoch", &epoch])
            .run();
        assert_normalised(&path, EPOCH);
        // $SOURCE_DATE_EPOCH is the same thing as the flag.
        let from_env = format!("env-{out}");
        lab.seedforge()
            .args(["airgap", "--layout", LAYOUT, "--out", &from_env])
            .args(extra)
            .env("SOURCE_DATE_EPOCH", &epoch)
            .run();
        assert!(
            fs::read(&path).unwrap() == fs::read(lab.root().join(&from_env)).unwrap(),
            "{out}: SOURCE_DATE_EPOCH and --source-date-epoch give different bytes"
        );
        // Without either, every entry has mtime 0 (only checkable if the test runner's
        // own environment does not set SOURCE_DATE_EPOCH, which the child inherits).
        if std::env::var_os("SOURCE_DATE_EPOCH").is_none() {
            let plain = format!("zero-{out}");
            let p = airgap(&lab, &plain, extra);
            assert_normalised(&p, 0);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Image selection and errors
// ---------------------------------------------------------------------------------------

/// A list in fixtures/lab (so its relative sources resolve) with the lab lines naming
/// `references`.
pub(super) fn lab_list(lab: &Lab, file: &str, references: &[&str]) -> PathBuf {
    let lines = list_lines(&lab.lab_dir().join("images.txt"));
    let chosen: Vec<String> = references
        .iter()
        .map(|r| {
            let (_, fields) = lines
                .iter()
                .find(|(_, f)| f[1] == *r)
                .unwrap_or_else(|| panic!("images.txt has no {r}"));
            fields.join(" ")
        })
        .collect();
    let path = lab.lab_dir().join(file);
    write_list(&path, &chosen);
    path
}
