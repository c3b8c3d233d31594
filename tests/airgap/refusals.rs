//! Image selection and the runs that must fail: exit 2 for what cannot be archived, and
//! nothing written or left half-written, an earlier archive kept byte for byte.

use super::*;

#[test]
fn images_list_selects_exactly_the_named_images() {
    let lab = mirrored_lab();
    let list = lab_list(&lab, "two.txt", &[PAUSE, BUSYBOX]);
    let list = list.to_str().unwrap();
    let oci = airgap(&lab, "two.tar", &["--images", list]);
    let entries = check_oci_archive(&oci);
    assert_eq!(
        entries.keys().cloned().collect::<Vec<_>>(),
        sorted(vec![PAUSE.to_string(), BUSYBOX.to_string()]),
        "index.json names of the subset archive"
    );
    let docker = airgap(
        &lab,
        "two-docker.tar.zst",
        &["--images", list, "--format", "docker"],
    );
    assert_eq!(
        sorted(docker_repo_tags(&docker)),
        sorted(vec![PAUSE.to_string(), BUSYBOX.to_string()]),
        "RepoTags of the subset docker archive"
    );
}

/// Runs a failing airgap and checks the exit code, that nothing is left at `out` (or,
/// with `previous`, that the file there still has exactly those bytes) and that no
/// temporary file is left beside it.
fn assert_fails_cleanly(lab: &Lab, out: &str, extra: &[&str], previous: Option<&[u8]>, why: &str) {
    let before = common::names_in(lab.root());
    let output = airgap_fails(lab, out, extra, 2);
    let path = lab.root().join(out);
    match previous {
        None => assert!(
            !path.exists(),
            "{why}: {out} was written\n{}",
            output.stderr
        ),
        Some(bytes) => assert!(
            fs::read(&path).unwrap() == bytes,
            "{why}: the earlier {out} was changed"
        ),
    }
    assert_eq!(
        common::names_in(lab.root()),
        before,
        "{why}: files left behind"
    );
    assert!(!output.stderr.trim().is_empty(), "{why}: no error message");
}

#[test]
fn image_not_in_the_layout_is_exit_2_and_writes_nothing() {
    let lab = mirrored_lab();
    let list = lab.lab_dir().join("missing.txt");
    write_list(
        &list,
        &[
            format!("oci:../images/oci:mirrored-pause:3.6 {PAUSE}"),
            "oci:../images/oci:mirrored-pause:3.6 docker.io/rancher/not-mirrored:1.0".to_string(),
        ],
    );
    assert_fails_cleanly(
        &lab,
        "missing.tar.zst",
        &["--images", list.to_str().unwrap()],
        None,
        "an image the layout does not hold",
    );
}

#[test]
fn docker_format_with_two_platforms_is_exit_2_and_writes_nothing() {
    let lab = mirrored_lab();
    assert_fails_cleanly(
        &lab,
        "docker.tar",
        &[
            "--format",
            "docker",
            "--platform",
            "linux/amd64",
            "--platform",
            "linux/arm64",
        ],
        None,
        "docker format with two platforms",
    );
}

#[test]
fn out_of_range_levels_are_exit_2() {
    let lab = mirrored_lab();
    assert_fails_cleanly(
        &lab,
        "x.tar.zst",
        &["--level", "22"],
        None,
        "zstd --level 22",
    );
    assert_fails_cleanly(&lab, "x.tar.zst", &["--level", "0"], None, "zstd --level 0");
    assert_fails_cleanly(
        &lab,
        "x.tar.gz",
        &["--level", "10"],
        None,
        "gzip --level 10",
    );
}

#[test]
fn unknown_file_name_needs_compression() {
    let lab = mirrored_lab();
    assert_fails_cleanly(&lab, "x.bin", &[], None, "x.bin without --compression");
    // With --compression the name does not matter.
    let p = airgap(&lab, "x.bin", &["--compression", "zstd"]);
    assert!(
        fs::read(p).unwrap().starts_with(&[0x28, 0xb5, 0x2f, 0xfd]),
        "x.bin is zstd"
    );
}

/// A tmpfs of `size` mounted at `dir`; unmounted (bounded wait) when dropped.
struct SmallFs(PathBuf);

impl SmallFs {
    fn mount(dir: &Path, size: &str) -> Option<SmallFs> {
        fs::create_dir_all(dir).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| SmallFs(dir.to_path_buf()))
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        if let Ok(child) = Command::new("umount")
            .arg(&self.0)
            .stdin(Stdio::null())
            .spawn()
        {
            common::ChildGuard(Some(child)).wait_until(Instant::now() + Duration::from_secs(30));
        }
    }
}

#[test]
fn a_failed_run_leaves_the_earlier_archive_byte_identical() {
    let lab = mirrored_lab();
    let out = "k3s-airgap-images-amd64.tar.zst";
    let good = fs::read(airgap(&lab, out, &[])).unwrap();
    let list = lab.lab_dir().join("missing.txt");
    write_list(
        &list,
        &["oci:../images/oci:mirrored-pause:3.6 docker.io/rancher/not-mirrored:1.0".to_string()],
    );
    let list = list.to_str().unwrap();
    let failing: [(&[&str], &str); 4] = [
        (&["--images", list], "an image the layout does not hold"),
        (
            &[
                "--format",
                "docker",
                "--platform",
                "linux/amd64",
                "--platform",
                "linux/arm64",
            ],
            "docker format with two platforms",
        ),
        (&["--level", "22"], "--level 22"),
        (&["--platform", "linux/s390x"], "a platform no image has"),
    ];
    for (extra, why) in failing {
        assert_fails_cleanly(&lab, out, extra, Some(&good), why);
    }

    // A blob missing from the layout.
    let layout = lab.root().join(LAYOUT);
    let coredns = index_entry(&layout, "docker.io/rancher/mirrored-coredns-coredns:1.12.1");
    let manifest = read_json(&common::blob_path(
        &layout,
        coredns["digest"].as_str().unwrap(),
    ));
    let config = common::blob_path(&layout, manifest["config"]["digest"].as_str().unwrap());
    let saved = fs::read(&config).unwrap();
    fs::remove_file(&config).unwrap();
    assert_fails_cleanly(
        &lab,
        out,
        &[],
        Some(&good),
        "a blob missing from the layout",
    );
    fs::write(&config, saved).unwrap();

    // A failure while the archive is being written: the disk fills up.
    let small = lab.root().join("small");
    let Some(_fs) = SmallFs::mount(&small, "32k") else {
        eprintln!("SKIP: cannot mount a tmpfs here; the disk-full case is not checked");
        return;
    };
    let target = small.join(out);
    let small_list = lab_list(&lab, "pause.txt", &[PAUSE]);
    lab.seedforge()
        .args(["airgap", "--layout", LAYOUT, "--out"])
        .arg(&target)
        .args(["--images", small_list.to_str().unwrap()])
        .run();
    let earlier = fs::read(&target).unwrap();
    // The whole set, uncompressed (~50 KiB), does not fit beside it.
    let failed = lab
        .seedforge()
        .args(["airgap", "--layout", LAYOUT, "--out"])
        .arg(&target)
        .args(["--compression", "none"])
        .expect(1)
        .run();
    assert!(
        fs::read(&target).unwrap() == earlier,
        "disk full: the earlier archive changed"
    );
    assert_eq!(
        common::names_in(&small),
        vec![out.to_string()],
        "disk full: temporary file left behind\n{}",
        failed.stderr
    );
}

// ---------------------------------------------------------------------------------------
// zstd frames k3s can decode
// ---------------------------------------------------------------------------------------
