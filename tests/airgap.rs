//! `seedforge airgap`: the archives are judged by their consumers — containerd's import
//! (what k3s does with `agent/images/*.tar[.gz|.zst]`) and `podman load` — and checked for
//! byte-for-byte determinism, normalised tar headers, image selection, usage errors that
//! write nothing, and zstd frames that k3s's decoder accepts.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use crate::common;

use common::{
    Cmd, Containerd, Lab, index_entry, list_lines, read_json, require_containerd, require_tool,
    run_pipeline, sha256_bytes, write_list, write_oci_image,
};
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const PAUSE: &str = "docker.io/rancher/mirrored-pause:3.6";
const BUSYBOX: &str = "docker.io/rancher/mirrored-library-busybox:1.36.1";
const TRAEFIK: &str = "docker.io/rancher/mirrored-library-traefik:3.3.6";
/// The layout every test mirrors into (relative to the lab root).
const LAYOUT: &str = "layout";
const EPOCH: u64 = 1_700_000_000;
/// k3s's zstd decoder refuses windows above this.
const K3S_MAX_WINDOW: u64 = 32 << 20;

// ---------------------------------------------------------------------------------------
// Setup and helpers
// ---------------------------------------------------------------------------------------

/// A private lab whose `layout/` holds every image of fixtures/lab/images.txt, with the
/// pause image as a two-platform index (linux/amd64 + linux/arm64/v8).
fn mirrored_lab() -> Lab {
    let lab = Lab::new();
    lab.seedforge()
        .args([
            "mirror",
            "--images",
            "fixtures/lab/images.txt",
            "--layout",
            LAYOUT,
        ])
        .args(["--platform", "linux/amd64", "--platform", "linux/arm64"])
        .run();
    let layout = lab.root().join(LAYOUT);
    let pause = index_entry(&layout, PAUSE);
    assert_eq!(
        pause["mediaType"], "application/vnd.oci.image.index.v1+json",
        "setup: the pause image should be an index"
    );
    let index = read_json(&common::blob_path(
        &layout,
        pause["digest"].as_str().unwrap(),
    ));
    assert_eq!(
        index["manifests"].as_array().unwrap().len(),
        2,
        "setup: the pause index should keep both platforms"
    );
    lab
}

/// `seedforge airgap --layout layout --out OUT EXTRA…` in the lab root, checked to exit 0.
fn airgap(lab: &Lab, out: &str, extra: &[&str]) -> PathBuf {
    lab.seedforge()
        .args(["airgap", "--layout", LAYOUT, "--out", out])
        .args(extra)
        .run();
    lab.root().join(out)
}

/// The same, expecting `code`; returns the output for messages.
fn airgap_fails(lab: &Lab, out: &str, extra: &[&str], code: i32) -> common::Output {
    lab.seedforge()
        .args(["airgap", "--layout", LAYOUT, "--out", out])
        .args(extra)
        .expect(code)
        .run()
}

/// The file name suffix and the external decompressor (if any) of a compression.
fn suffix_and_decompressor(compression: &str) -> (&'static str, Option<[&'static str; 2]>) {
    match compression {
        "none" => ("tar", None),
        "gzip" => ("tar.gz", Some(["zcat", "-f"])),
        "zstd" => ("tar.zst", Some(["zstd", "-dc"])),
        other => panic!("unknown compression {other}"),
    }
}

/// One tar entry with the header fields the archive normalises.
#[derive(Debug, Clone)]
struct TarEntry {
    path: String,
    kind: tar::EntryType,
    mode: u32,
    uid: u64,
    gid: u64,
    mtime: u64,
    data: Vec<u8>,
}

/// Decompresses an archive in memory with the Rust decoders (by magic bytes, not name).
fn decompressed(path: &Path) -> Vec<u8> {
    let raw = fs::read(path).unwrap();
    let mut out = Vec::new();
    if raw.starts_with(&[0x1f, 0x8b]) {
        flate2::read::MultiGzDecoder::new(raw.as_slice())
            .read_to_end(&mut out)
            .unwrap();
    } else if raw.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        zstd::stream::read::Decoder::new(raw.as_slice())
            .unwrap()
            .read_to_end(&mut out)
            .unwrap();
    } else {
        out = raw;
    }
    out
}

/// Every entry of an archive, in file order.
fn tar_entries(path: &Path) -> Vec<TarEntry> {
    let bytes = decompressed(path);
    let mut archive = tar::Archive::new(bytes.as_slice());
    archive
        .entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let h = e.header().clone();
            let mut data = Vec::new();
            e.read_to_end(&mut data).unwrap();
            TarEntry {
                path: String::from_utf8(e.path_bytes().into_owned()).unwrap(),
                kind: h.entry_type(),
                mode: h.mode().unwrap(),
                uid: h.uid().unwrap(),
                gid: h.gid().unwrap(),
                mtime: h.mtime().unwrap(),
                data,
            }
        })
        .collect()
}

/// Regular files of an archive by path.
fn tar_files(path: &Path) -> BTreeMap<String, Vec<u8>> {
    tar_entries(path)
        .into_iter()
        .filter(|e| e.kind == tar::EntryType::Regular)
        .map(|e| (e.path, e.data))
        .collect()
}

fn blob_of<'a>(files: &'a BTreeMap<String, Vec<u8>>, digest: &str) -> &'a [u8] {
    let hex = digest.strip_prefix("sha256:").unwrap();
    files
        .get(&format!("blobs/sha256/{hex}"))
        .unwrap_or_else(|| panic!("the archive has no blob {digest}"))
}

/// Adds `digest` and everything it references to `seen`.
fn reach(files: &BTreeMap<String, Vec<u8>>, desc: &serde_json::Value, seen: &mut BTreeSet<String>) {
    let digest = desc["digest"].as_str().unwrap().to_string();
    let bytes = blob_of(files, &digest);
    assert_eq!(
        desc["size"].as_u64(),
        Some(bytes.len() as u64),
        "size of {digest} in its descriptor"
    );
    seen.insert(digest);
    let media = desc["mediaType"].as_str().unwrap_or_default();
    if media.contains("manifest") || media.contains("index") {
        let doc: serde_json::Value = serde_json::from_slice(bytes).unwrap();
        for child in doc["manifests"].as_array().into_iter().flatten() {
            reach(files, child, seen);
        }
        if doc["config"].is_object() {
            reach(files, &doc["config"], seen);
        }
        for layer in doc["layers"].as_array().into_iter().flatten() {
            reach(files, layer, seen);
        }
    }
}

/// Checks an OCI archive's own structure: every blob hashes to its name, the blobs are
/// exactly those reachable from index.json, and every entry carries its full reference in
/// both naming annotations. Returns index.json's entries by name.
fn check_oci_archive(path: &Path) -> BTreeMap<String, serde_json::Value> {
    let files = tar_files(path);
    assert_eq!(
        files.get("oci-layout").map(Vec::as_slice),
        Some(&br#"{"imageLayoutVersion":"1.0.0"}"#[..]),
        "{}: oci-layout",
        path.display()
    );
    for (name, bytes) in &files {
        if let Some(hex) = name.strip_prefix("blobs/sha256/") {
            assert_eq!(sha256_bytes(bytes), hex, "{}: {name}", path.display());
        }
    }
    let index: serde_json::Value =
        serde_json::from_slice(files.get("index.json").expect("index.json")).unwrap();
    let mut seen = BTreeSet::new();
    let mut by_name = BTreeMap::new();
    for entry in index["manifests"].as_array().unwrap() {
        let oci = entry["annotations"]["org.opencontainers.image.ref.name"]
            .as_str()
            .unwrap_or_else(|| panic!("entry without a ref name: {entry}"));
        let containerd = entry["annotations"]["io.containerd.image.name"].as_str();
        assert_eq!(Some(oci), containerd, "both naming annotations of {oci}");
        reach(&files, entry, &mut seen);
        assert!(
            by_name.insert(oci.to_string(), entry.clone()).is_none(),
            "{oci} is named twice"
        );
    }
    let stored: BTreeSet<String> = files
        .keys()
        .filter_map(|k| k.strip_prefix("blobs/sha256/"))
        .map(|h| format!("sha256:{h}"))
        .collect();
    assert_eq!(
        stored,
        seen,
        "{}: the blobs must be exactly those index.json reaches",
        path.display()
    );
    by_name
}

/// The platforms (`os/arch[/variant]`) an archived pause index lists.
fn archived_pause_platforms(path: &Path) -> Vec<String> {
    let files = tar_files(path);
    let entries = check_oci_archive(path);
    let root = &entries[PAUSE];
    let doc: serde_json::Value =
        serde_json::from_slice(blob_of(&files, root["digest"].as_str().unwrap())).unwrap();
    doc["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let p = &m["platform"];
            let mut s = format!(
                "{}/{}",
                p["os"].as_str().unwrap(),
                p["architecture"].as_str().unwrap()
            );
            if let Some(v) = p["variant"].as_str() {
                s.push('/');
                s.push_str(v);
            }
            s
        })
        .collect()
}

/// The docker-archive's `manifest.json` RepoTags, in order.
fn docker_repo_tags(path: &Path) -> Vec<String> {
    let files = tar_files(path);
    let manifest: serde_json::Value =
        serde_json::from_slice(files.get("manifest.json").expect("manifest.json")).unwrap();
    let mut tags = Vec::new();
    for entry in manifest.as_array().unwrap() {
        for part in std::iter::once(&entry["Config"]).chain(entry["Layers"].as_array().unwrap()) {
            assert!(
                files.contains_key(part.as_str().unwrap()),
                "{}: manifest.json names {part}, which is not in the archive",
                path.display()
            );
        }
        for t in entry["RepoTags"].as_array().unwrap() {
            tags.push(t.as_str().unwrap().to_string());
        }
    }
    tags
}

/// `os/architecture[/variant]` of an image config.
fn config_platform(config: &[u8]) -> String {
    let c: serde_json::Value = serde_json::from_slice(config).unwrap();
    let mut s = format!(
        "{}/{}",
        c["os"].as_str().unwrap_or("?"),
        c["architecture"].as_str().unwrap_or("?")
    );
    if let Some(v) = c["variant"].as_str() {
        s.push('/');
        s.push_str(v);
    }
    s
}

/// (image name, platform of its config) for every image manifest an archive holds for an
/// image, in either format.
fn archived_image_platforms(path: &Path) -> Vec<(String, String)> {
    let files = tar_files(path);
    let mut out = Vec::new();
    if let Some(manifest) = files.get("manifest.json") {
        let manifest: serde_json::Value = serde_json::from_slice(manifest).unwrap();
        for entry in manifest.as_array().unwrap() {
            let config = &files[entry["Config"].as_str().unwrap()];
            for t in entry["RepoTags"].as_array().unwrap() {
                out.push((t.as_str().unwrap().to_string(), config_platform(config)));
            }
        }
        return out;
    }
    let index: serde_json::Value = serde_json::from_slice(&files["index.json"]).unwrap();
    for entry in index["manifests"].as_array().unwrap() {
        let name = entry["annotations"]["org.opencontainers.image.ref.name"]
            .as_str()
            .unwrap();
        let mut stack = vec![entry["digest"].as_str().unwrap().to_string()];
        while let Some(digest) = stack.pop() {
            let doc: serde_json::Value = serde_json::from_slice(blob_of(&files, &digest)).unwrap();
            for child in doc["manifests"].as_array().into_iter().flatten() {
                stack.push(child["digest"].as_str().unwrap().to_string());
            }
            if let Some(config) = doc["config"]["digest"].as_str() {
                out.push((name.to_string(), config_platform(blob_of(&files, config))));
            }
        }
    }
    out
}

/// `docker.io/rancher/NAME:TAG` → (NAME, TAG): the fixture layers hold
/// `usr/share/NAME/VERSION` (TAG) and `usr/share/NAME/SOURCE` (the reference).
fn basename_and_tag(reference: &str) -> (&str, &str) {
    let (repo, tag) = reference.rsplit_once(':').unwrap();
    (repo.rsplit('/').next().unwrap(), tag)
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

// ---------------------------------------------------------------------------------------
// containerd: the k3s import path
// ---------------------------------------------------------------------------------------

/// Builds one archive variant, imports it into a fresh containerd the way k3s does (all
/// platforms, nothing skipped; compressed files decompressed by an external tool because
/// ctr does not), and checks names, completeness, digests and file contents.
fn containerd_judge(format: &str, compression: &str, platforms: &[&str]) {
    let (suffix, decompressor) = suffix_and_decompressor(compression);
    if !require_containerd() {
        return;
    }
    if let Some([tool, _]) = decompressor
        && !require_tool(tool)
    {
        return;
    }
    let lab = mirrored_lab();
    let expected = sorted(lab.lab_destinations());
    let mut args = vec!["--format", format];
    for p in platforms {
        args.extend(["--platform", p]);
    }
    let archive = airgap(&lab, &format!("images-{format}.{suffix}"), &args);
    containerd_reads(&archive, format, compression, platforms, &expected);
}

/// containerd imports `archive` (written in `format` and `compression` for `platforms`) as
/// k3s does, and every image of `expected` is complete, unpacks and shows its files.
fn containerd_reads(
    archive: &Path,
    format: &str,
    compression: &str,
    platforms: &[&str],
    expected: &[String],
) {
    let (_, decompressor) = suffix_and_decompressor(compression);
    let archive = archive.to_path_buf();
    let expected = expected.to_vec();

    // What the archive itself says (independent of containerd).
    let archived_digests: Option<BTreeMap<String, serde_json::Value>> = if format == "oci" {
        let entries = check_oci_archive(&archive);
        assert_eq!(
            entries.keys().cloned().collect::<Vec<_>>(),
            expected,
            "index.json names"
        );
        let want: Vec<String> = if platforms.contains(&"linux/arm64") {
            vec!["linux/amd64".into(), "linux/arm64/v8".into()]
        } else {
            vec!["linux/amd64".into()]
        };
        assert_eq!(
            archived_pause_platforms(&archive),
            want,
            "pause index platforms"
        );
        Some(entries)
    } else {
        assert_eq!(sorted(docker_repo_tags(&archive)), expected, "RepoTags");
        None
    };

    let cd = Containerd::start();
    let ns = "k8s.io";
    // k3s imports with every platform and without skipping missing blobs.
    let import = cd.ctr(ns).args(["images", "import", "--all-platforms"]);
    match decompressor {
        None => {
            import.arg(&archive).run();
        }
        Some([tool, flag]) => {
            let producer = Cmd::new(tool).arg(flag).arg(&archive);
            run_pipeline(&producer, &import.arg("-"));
        }
    }

    // Every expected image is there under its name, and complete.
    let imported = |ns: &str, how: &str| {
        let listed = cd.ctr(ns).args(["images", "ls", "-q"]).run();
        let names = sorted(listed.stdout.lines().map(str::to_string).collect());
        assert_eq!(
            names,
            expected,
            "ctr images ls -q after importing {} ({how}, containerd {})",
            archive.display(),
            cd.bin.version
        );
        let check = cd.ctr(ns).args(["images", "check"]).run();
        for reference in &expected {
            let line = check
                .stdout
                .lines()
                .find(|l| l.split_whitespace().next() == Some(reference.as_str()))
                .unwrap_or_else(|| {
                    panic!(
                        "ctr images check does not list {reference} ({how}):\n{}",
                        check.stdout
                    )
                });
            let status = line.split_whitespace().nth(3);
            assert_eq!(status, Some("complete"), "ctr images check ({how}): {line}");
        }
    };
    imported(ns, "as k3s imports");
    // containerd 2.x's own import (the transfer service, what `k3s ctr images import` runs
    // on current nodes) decompresses gzip and zstd itself: the compressed file as it is.
    if decompressor.is_some() && cd.bin.major >= 2 {
        cd.ctr("direct")
            .args(["images", "import", "--all-platforms"])
            .arg(&archive)
            .run();
        imported("direct", "the compressed file, by ctr itself");
    }

    if let Some(entries) = &archived_digests {
        // containerd keeps the very manifests/indexes the archive names.
        let ls = cd.ctr(ns).args(["images", "ls"]).run();
        for line in ls.stdout.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            let entry = &entries[f[0]];
            assert_eq!(
                f[2],
                entry["digest"].as_str().unwrap(),
                "digest of {}",
                f[0]
            );
            assert_eq!(
                f[1],
                entry["mediaType"].as_str().unwrap(),
                "type of {}",
                f[0]
            );
        }
    }

    // The fixture files are visible in every unpacked image.
    let mut targets = 0;
    let mut look = |reference: &str, platform: Option<&str>| {
        targets += 1;
        let target = cd.dir.path().join(format!("mnt-{targets}"));
        let mount = cd.mount(ns, platform, reference, &target);
        let (name, tag) = basename_and_tag(reference);
        let share = mount.root().join("usr/share").join(name);
        let read = |f: &str| {
            fs::read_to_string(share.join(f))
                .unwrap_or_else(|e| panic!("{reference} ({platform:?}): usr/share/{name}/{f}: {e}"))
        };
        assert_eq!(read("VERSION"), format!("{tag}\n"), "{reference}");
        assert_eq!(read("SOURCE"), format!("{reference}\n"), "{reference}");
        if reference == PAUSE {
            assert_eq!(
                read("ARCH"),
                format!("{}\n", platform.unwrap_or("linux/amd64")),
                "{reference}"
            );
        }
        if reference == BUSYBOX {
            assert!(
                mount.root().join("etc/os-release").is_file(),
                "{reference}: etc/os-release"
            );
        } else {
            // The shared base layer sits below the image's own layer.
            assert!(
                mount.root().join("etc/passwd").is_file(),
                "{reference}: etc/passwd"
            );
        }
    };
    for reference in &expected {
        look(reference, None);
    }
    if platforms.contains(&"linux/arm64") {
        look(PAUSE, Some("linux/arm64/v8"));
    }
}

/// A plain `.tar` starts every stored blob's body on a 4 KiB boundary (a pax comment pads
/// before it), so that a copy-on-write file system can share the blob's extents with the
/// layout; the bodies are the blobs, byte for byte, and skopeo reads both formats.
#[test]
fn a_plain_tar_starts_every_blob_on_a_4k_boundary() {
    let lab = mirrored_lab();
    for format in ["oci", "docker"] {
        let out = airgap(
            &lab,
            &format!("{format}.tar"),
            &["--format", format, "--platform", "linux/amd64"],
        );
        let bytes = fs::read(&out).unwrap();
        let mut archive = tar::Archive::new(bytes.as_slice());
        let mut blobs = 0;
        for entry in archive.entries().unwrap() {
            let entry = entry.unwrap();
            let path = String::from_utf8(entry.path_bytes().into_owned()).unwrap();
            let Some(hex) = path.strip_prefix("blobs/sha256/").filter(|h| !h.is_empty()) else {
                continue;
            };
            let at = entry.raw_file_position();
            assert_eq!(at % 4096, 0, "{format}: {path} starts at {at}");
            let size = usize::try_from(entry.size()).unwrap();
            let body = &bytes[usize::try_from(at).unwrap()..][..size];
            assert_eq!(common::sha256_bytes(body), hex, "{format}: {path}");
            blobs += 1;
        }
        assert!(blobs > 2, "{format}: {blobs} blobs");
        if require_tool("skopeo") {
            let transport = if format == "oci" {
                "oci-archive"
            } else {
                "docker-archive"
            };
            for name in lab.lab_destinations() {
                Cmd::new("skopeo")
                    .arg("inspect")
                    .arg(format!("{transport}:{}:{name}", out.display()))
                    .run();
            }
        }
    }
}

/// `airgap` re-hashes only blobs whose stat changed since they last hashed right (their
/// stamps are in the layout's private folder); `verify` re-hashes everything. A stamp is
/// trusted: one forged to vouch for a damaged blob lets `airgap` through, and `verify`
/// still finds the damage.
#[test]
fn airgap_skips_blobs_whose_stamps_vouch_for_them_and_verify_does_not() {
    let lab = mirrored_lab();
    airgap(&lab, "first.tar", &[]);
    let layout = lab.root().join(LAYOUT);
    let stamps_path = layout.join(".seedforge/blob-stamps.json");
    let mut stamps = common::read_json(&stamps_path);
    let blobs = stamps["blobs"].as_object().unwrap().clone();
    assert!(blobs.len() > 2, "{stamps}");
    // Damage one blob and forge its stamp to its new stat.
    let (hex, _) = blobs
        .iter()
        .max_by_key(|(_, s)| s["size"].as_u64())
        .unwrap();
    let blob = layout.join("blobs/sha256").join(hex);
    common::flip_byte(&blob, 7);
    let meta = fs::metadata(&blob).unwrap();
    use std::os::unix::fs::MetadataExt as _;
    let stat = &mut stamps["blobs"][hex];
    stat["mtime_ns"] = (meta.mtime() * 1_000_000_000 + meta.mtime_nsec()).into();
    stat["ctime_ns"] = (meta.ctime() * 1_000_000_000 + meta.ctime_nsec()).into();
    fs::write(&stamps_path, serde_json::to_vec(&stamps).unwrap()).unwrap();
    airgap(&lab, "second.tar", &[]);
    let out = lab.seedforge().args(["verify", LAYOUT]).expect(1).run();
    assert!(
        out.stdout.contains(hex.as_str()) || out.stderr.contains(hex.as_str()),
        "{}{}",
        out.stdout,
        out.stderr
    );
    // Without the forged stamp, airgap re-hashes the damaged blob and refuses it.
    fs::remove_file(&stamps_path).unwrap();
    let refused = airgap_fails(&lab, "third.tar", &[], 1);
    assert!(refused.stderr.contains(hex.as_str()), "{}", refused.stderr);
    assert!(!lab.root().join("third.tar").exists());
}

#[test]
fn containerd_imports_oci_tar() {
    containerd_judge("oci", "none", &[]);
}

#[test]
fn containerd_imports_oci_tar_gz() {
    containerd_judge("oci", "gzip", &[]);
}

#[test]
fn containerd_imports_oci_tar_zst() {
    containerd_judge("oci", "zstd", &[]);
}

#[test]
fn containerd_imports_oci_tar_zst_with_both_platforms() {
    containerd_judge("oci", "zstd", &["linux/amd64", "linux/arm64"]);
}

#[test]
fn containerd_imports_oci_tar_with_both_platforms() {
    containerd_judge("oci", "none", &["linux/amd64", "linux/arm64"]);
}

#[test]
fn containerd_imports_docker_tar() {
    containerd_judge("docker", "none", &["linux/amd64"]);
}

#[test]
fn containerd_imports_docker_tar_gz() {
    containerd_judge("docker", "gzip", &["linux/amd64"]);
}

#[test]
fn containerd_imports_docker_tar_zst() {
    containerd_judge("docker", "zstd", &["linux/amd64"]);
}

// ---------------------------------------------------------------------------------------
// podman
// ---------------------------------------------------------------------------------------

/// podman with its storage (vfs) and run root in `dir`.
fn podman(dir: &Path) -> Cmd {
    Cmd::new("podman")
        .arg("--root")
        .arg(dir.join("root"))
        .arg("--runroot")
        .arg(dir.join("run"))
        .args([
            "--storage-driver",
            "vfs",
            "--cgroup-manager",
            "cgroupfs",
            "--events-backend",
            "file",
        ])
        .timeout(Duration::from_secs(120))
}

/// Loads `archive` into a fresh podman store and checks the image names it lists.
fn podman_judge(archive: &Path, expected: &[String]) {
    let store = tempfile::Builder::new()
        .prefix("seedforge-podman-")
        .tempdir()
        .unwrap();
    podman(store.path())
        .arg("load")
        .arg("-i")
        .arg(archive)
        .run();
    let listed = podman(store.path())
        .args(["images", "--format", "{{.Repository}}:{{.Tag}}"])
        .run();
    let names = sorted(listed.stdout.lines().map(str::to_string).collect());
    assert_eq!(
        names,
        sorted(expected.to_vec()),
        "podman images after loading {}",
        archive.display()
    );
    for reference in expected {
        let platform = podman(store.path())
            .args([
                "image",
                "inspect",
                "--format",
                "{{.Os}}/{{.Architecture}}",
                reference,
            ])
            .run();
        assert_eq!(platform.stdout.trim(), "linux/amd64", "{reference}");
    }
}

#[test]
fn podman_loads_docker_archives() {
    if !require_tool("podman") {
        return;
    }
    let lab = mirrored_lab();
    let expected = lab.lab_destinations();
    // Plain and zstd only: this podman build (4.3) fails on every gzipped docker-archive
    // ("loading tar component manifest.json: unexpected EOF"), even on `gzip` of the
    // fixture busybox.docker.tar, so the .tar.gz variant is judged by containerd alone.
    for suffix in ["tar", "tar.zst"] {
        let archive = airgap(
            &lab,
            &format!("docker.{suffix}"),
            &["--format", "docker", "--platform", "linux/amd64"],
        );
        podman_judge(&archive, &expected);
    }
}

#[test]
fn podman_loads_single_image_oci_archives() {
    if !require_tool("podman") {
        return;
    }
    let lab = mirrored_lab();
    // podman 4.3's oci-archive transport loads exactly one image ("more than one image in
    // oci, choose an image" otherwise), so each archive holds one image: the pause index
    // (reduced to amd64) in every compression, and a plain single-manifest image.
    let lines = list_lines(&lab.lab_dir().join("images.txt"));
    let list_for = |reference: &str| {
        let (_, fields) = lines.iter().find(|(_, f)| f[1] == reference).unwrap();
        let list = lab
            .lab_dir()
            .join(format!("{}.txt", basename_and_tag(reference).0));
        write_list(&list, &[fields.join(" ")]);
        list
    };
    let pause_list = list_for(PAUSE);
    for suffix in ["tar", "tar.gz", "tar.zst"] {
        let archive = airgap(
            &lab,
            &format!("pause.{suffix}"),
            &["--images", pause_list.to_str().unwrap()],
        );
        podman_judge(&archive, &[PAUSE.to_string()]);
    }
    let traefik_list = list_for(TRAEFIK);
    let archive = airgap(
        &lab,
        "traefik.tar",
        &["--images", traefik_list.to_str().unwrap()],
    );
    podman_judge(&archive, &[TRAEFIK.to_string()]);
}

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
fn lab_list(lab: &Lab, file: &str, references: &[&str]) -> PathBuf {
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

/// The window size `zstd -lv` reports for `path`, in bytes.
fn zstd_window(path: &Path) -> u64 {
    let out = Cmd::new("zstd").arg("-lv").arg(path).run();
    let text = format!("{}{}", out.stdout, out.stderr);
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with("Window Size:"))
        .unwrap_or_else(|| {
            panic!(
                "zstd -lv {} reports no window size:\n{text}",
                path.display()
            )
        });
    // "Window Size: 2.00 MiB (2097152 B)"
    let bytes = line
        .rsplit_once('(')
        .and_then(|(_, r)| r.strip_suffix(" B)"))
        .unwrap_or_else(|| panic!("cannot read {line:?}"));
    bytes.trim().parse().unwrap()
}

#[test]
fn zstd_windows_stay_within_k3s_limit() {
    if !require_tool("zstd") {
        return;
    }
    let lab = mirrored_lab();
    for (out, extra) in [
        ("default.tar.zst", &[][..]),
        ("l19.tar.zst", &["--level", "19"][..]),
    ] {
        let path = airgap(&lab, out, extra);
        let window = zstd_window(&path);
        assert!(
            window <= K3S_MAX_WINDOW,
            "{out}: window {window} B is above k3s's 32 MiB"
        );
        Cmd::new("zstd").arg("-t").arg(&path).run();
    }
    // Also on an input larger than any window, where long-range modes would show.
    let big = lab.root().join("big");
    write_oci_image(&big, "docker.io/library/big:1", &[40 << 20], 11);
    lab.seedforge()
        .args(["airgap", "--layout", "big", "--out", "big.tar.zst"])
        .timeout(Duration::from_secs(300))
        .run();
    let window = zstd_window(&lab.root().join("big.tar.zst"));
    assert!(window <= K3S_MAX_WINDOW, "big.tar.zst: window {window} B");
}

#[test]
fn a_layer_damaged_since_mirroring_never_reaches_an_archive() {
    let lab = mirrored_lab();
    // The busybox layer is the largest blob; flip one byte but keep its size.
    let blobs = lab.root().join(LAYOUT).join("blobs/sha256");
    let biggest = fs::read_dir(&blobs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .max_by_key(|p| fs::metadata(p).unwrap().len())
        .unwrap();
    let mut bytes = fs::read(&biggest).unwrap();
    bytes[100] ^= 0xff;
    fs::write(&biggest, &bytes).unwrap();
    for out in ["bad.tar", "bad.tar.zst"] {
        let output = airgap_fails(&lab, out, &[], 1);
        let hex = biggest.file_name().unwrap().to_string_lossy().into_owned();
        assert!(output.stderr.contains(&hex), "{}", output.stderr);
        assert!(!lab.root().join(out).exists(), "{out} was written");
    }
}

// ---------------------------------------------------------------------------------------
// airgap.compression: auto
// ---------------------------------------------------------------------------------------

/// `airgap.compression: auto` (the default) decides at plan time, from the layers' media
/// types, and the archive's name says it (k3s decompresses by the extension): the lab,
/// whose busybox comes from a docker-archive (an uncompressed layer), gets `.tar.zst`;
/// without busybox every layer is gzip and the archive is a plain `.tar`, which replaces
/// the earlier `.tar.zst` in the same output. `plan` says which and why. containerd imports
/// both as k3s does, skopeo inspects every image, podman loads the docker-format build.
#[test]
fn auto_compression_names_the_archive_by_its_layers_and_its_consumers_read_it() {
    let lab = Lab::new();
    let config = lab.lab_dir().join("seedforge.yaml");
    let airgap_dir = lab.out_dir().join("airgap");
    let cases = [
        (
            "k3s-airgap-images-amd64.tar.zst",
            "zstd",
            "auto: zstd, because 1 of the 15 layers is uncompressed (the first in docker.io/rancher/mirrored-library-busybox:1.36.1)",
        ),
        (
            "k3s-airgap-images-amd64.tar",
            "none",
            "auto: no compression, because all 14 layers are gzip or zstd already",
        ),
    ];
    for (i, (name, compression, why)) in cases.into_iter().enumerate() {
        let gzip_only = i == 1;
        if gzip_only {
            // Without busybox (local-storage disabled, so k3s needs no busybox image).
            let list = lab.lab_dir().join("images.txt");
            let kept: Vec<String> = fs::read_to_string(&list)
                .unwrap()
                .lines()
                .filter(|l| !l.contains("busybox"))
                .map(str::to_string)
                .collect();
            fs::write(&list, kept.join("\n") + "\n").unwrap();
            let text = fs::read_to_string(&config).unwrap().replace(
                "  token: {file: token}\n",
                "  token: {file: token}\n  disable: [local-storage]\n",
            );
            fs::write(&config, text).unwrap();
        }
        let expected = sorted(lab.lab_destinations());
        assert_eq!(expected.iter().any(|d| d == BUSYBOX), !gzip_only);
        let plan = lab
            .seedforge()
            .args(["plan", "--config", lab.config_arg()])
            .run();
        assert!(
            plan.stdout.contains(&format!("airgap/{name} (")) && plan.stdout.contains(why),
            "plan should name {name} and say {why:?}:\n{}",
            plan.stdout
        );
        lab.build();
        // One archive: the earlier build's under the other name is gone.
        assert_eq!(common::names_in(&airgap_dir), vec![name.to_string()]);
        let archive = airgap_dir.join(name);
        let (_, decompressor) = suffix_and_decompressor(compression);
        match decompressor {
            None => assert!(
                !fs::read(&archive)
                    .unwrap()
                    .starts_with(&[0x28, 0xb5, 0x2f, 0xfd])
            ),
            Some(_) => assert!(
                fs::read(&archive)
                    .unwrap()
                    .starts_with(&[0x28, 0xb5, 0x2f, 0xfd])
            ),
        }
        // Every node's seed carries it under the same name.
        let sums = fs::read_to_string(lab.out_dir().join("SHA256SUMS")).unwrap();
        assert!(sums.contains(&format!("airgap/{name}\n")), "{sums}");
        containerd_reads(&archive, "oci", compression, &["linux/amd64"], &expected);
        if require_tool("skopeo") {
            // skopeo's oci-archive transport reads a plain tar: a .tar.zst is unpacked first.
            let plain = match decompressor {
                None => archive.clone(),
                Some([tool, flag]) => {
                    let plain = lab.root().join("unpacked.tar");
                    let out = Command::new(tool).arg(flag).arg(&archive).output().unwrap();
                    assert!(out.status.success());
                    fs::write(&plain, out.stdout).unwrap();
                    plain
                }
            };
            for reference in &expected {
                Cmd::new("skopeo")
                    .arg("inspect")
                    .arg(format!("oci-archive:{}:{reference}", plain.display()))
                    .run();
            }
        }
        if require_tool("podman") {
            let docker_config = lab.lab_dir().join("docker.yaml");
            let text = fs::read_to_string(&config).unwrap();
            fs::write(&docker_config, text + "airgap:\n  format: docker\n").unwrap();
            let docker_out = lab.root().join(format!("docker-out-{i}"));
            lab.seedforge()
                .args(["build", "--config", "fixtures/lab/docker.yaml", "--out"])
                .arg(&docker_out)
                .run();
            podman_judge(&docker_out.join("airgap").join(name), &expected);
        }
    }
}

/// An explicit `airgap.compression` is kept whatever the layers: `zstd` over the gzip-only
/// images, `none` over the lab with its uncompressed busybox layer.
#[test]
fn explicit_compression_overrides_auto() {
    let lab = Lab::new();
    let config = lab.lab_dir().join("seedforge.yaml");
    let base = fs::read_to_string(&config).unwrap();
    for (setting, name) in [
        ("none", "k3s-airgap-images-amd64.tar"),
        ("gzip", "k3s-airgap-images-amd64.tar.gz"),
        ("zstd", "k3s-airgap-images-amd64.tar.zst"),
    ] {
        fs::write(
            &config,
            format!("{base}airgap:\n  compression: {setting}\n"),
        )
        .unwrap();
        let plan = lab
            .seedforge()
            .args(["plan", "--config", lab.config_arg()])
            .run();
        assert!(
            plan.stdout.contains(&format!("airgap/{name} (")),
            "{}",
            plan.stdout
        );
        assert!(!plan.stdout.contains("auto:"), "{}", plan.stdout);
    }
    fs::write(&config, format!("{base}airgap:\n  compression: xz\n")).unwrap();
    let out = lab
        .seedforge()
        .args(["plan", "--config", lab.config_arg()])
        .expect(2)
        .run();
    assert!(
        out.stderr.contains("seedforge.yaml") && out.stderr.contains("auto"),
        "{}",
        out.stderr
    );
}

/// The build's amd64 airgap archive, whatever its compression.
fn amd64_archive(lab: &Lab) -> PathBuf {
    fs::read_dir(lab.out_dir().join("airgap"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().contains("k3s-airgap-images-amd64"))
        .unwrap()
}

/// `airgap.images: system` puts in the archives (and so in every seed) only the images
/// k3s needs itself; an application image stays in the layout, for the registry. Without
/// a registry it is refused at its line: the archives would be the nodes' only source.
#[test]
fn airgap_images_system_keeps_application_images_for_the_registry_alone() {
    let lab = Lab::new();
    let list = lab.lab_dir().join("images.txt");
    let mut text = fs::read_to_string(&list).unwrap();
    text.push_str("oci:../images/oci:klipper-lb:v0.4.13  docker.io/acme/app:1.0\n");
    fs::write(&list, text).unwrap();
    let config = lab.lab_dir().join("seedforge.yaml");
    let mut cfg = fs::read_to_string(&config).unwrap();
    cfg.push_str("\nairgap:\n  images: system\n");
    fs::write(&config, &cfg).unwrap();
    let plan = lab
        .seedforge()
        .args(["plan", "--config", lab.config_arg()])
        .run();
    assert!(
        plan.stdout
            .contains("the 8 image(s) k3s needs itself (airgap.images: system"),
        "{}",
        plan.stdout
    );
    lab.build();
    let archived = check_oci_archive(&amd64_archive(&lab));
    assert_eq!(archived.len(), 8, "{:?}", archived.keys());
    assert!(!archived.contains_key("docker.io/acme/app:1.0"));
    assert!(archived.contains_key("docker.io/rancher/klipper-lb:v0.4.13"));
    let index = fs::read_to_string(lab.out_dir().join("oci/index.json")).unwrap();
    assert!(
        index.contains("docker.io/acme/app:1.0"),
        "the layout keeps it for push"
    );

    // With the embedded mirror and no registry: refused at the key's line.
    let cfg = cfg
        .replace("registry:\n  host: 192.168.6.1\n  port: 5000\n", "")
        .replace("  name: lab\n", "  name: lab\n  embedded_registry: true\n");
    fs::write(&config, cfg).unwrap();
    let out = lab
        .seedforge()
        .args(["plan", "--config", lab.config_arg()])
        .expect(2)
        .run();
    assert!(
        out.stderr.contains("seedforge.yaml:")
            && out.stderr.contains("airgap.images: system leaves"),
        "{}",
        out.stderr
    );
}

/// An artifact that is no runnable image (a cosign signature, a Helm chart), named in an
/// image list, is carried as it is into the layout, whatever `images.platforms` says, and
/// kept out of the airgap archives (k3s imports images from them; the registry serves the
/// artifacts).
#[test]
fn artifacts_that_are_not_images_are_carried_as_they_are_and_kept_out_of_the_archives() {
    let lab = Lab::new();
    let artifacts = lab.root().join("fixtures/artifacts");
    let signature = common::write_oci_artifact(
        &artifacts,
        "sig",
        "application/vnd.oci.image.config.v1+json",
        br#"{"architecture":"","created":"0001-01-01T00:00:00Z","history":[{"created":"0001-01-01T00:00:00Z"}],"os":"","rootfs":{"type":"layers","diff_ids":[]},"config":{}}"#,
        "application/vnd.dev.cosign.simplesigning.v1+json",
        br#"{"critical":{"identity":{"docker-reference":"x"},"image":{"docker-manifest-digest":"sha256:00"},"type":"cosign container image signature"},"optional":null}"#,
    );
    let chart = common::write_oci_artifact(
        &artifacts,
        "chart",
        "application/vnd.cncf.helm.config.v1+json",
        br#"{"name":"demo","version":"1.0.0","apiVersion":"v2"}"#,
        "application/vnd.cncf.helm.chart.content.v1.tar+gzip",
        b"not really a tgz",
    );
    let list = lab.lab_dir().join("images.txt");
    let mut text = fs::read_to_string(&list).unwrap();
    text.push_str("oci:../artifacts:sig  docker.io/acme/app:sha256-0000.sig\n");
    text.push_str("oci:../artifacts:chart  docker.io/acme/charts/demo:1.0.0\n");
    fs::write(&list, text).unwrap();
    lab.build();
    let layout = lab.out_layout();
    let names = common::index_names(&layout);
    for (name, digest) in [
        ("docker.io/acme/app:sha256-0000.sig", &signature),
        ("docker.io/acme/charts/demo:1.0.0", &chart),
    ] {
        assert!(names.iter().any(|n| n == name), "{names:?}");
        assert_eq!(
            common::index_entry(&layout, name)["digest"],
            digest.as_str()
        );
    }
    let archived = check_oci_archive(&amd64_archive(&lab));
    assert_eq!(archived.len(), 8, "{:?}", archived.keys());
    lab.seedforge().arg("verify").arg(lab.out_dir()).run();
}

/// `airgap.agents: system` gives the agents' seeds an archive of their own with only the
/// images k3s needs itself; the servers' seeds carry the whole set, and no seed both.
#[test]
fn airgap_agents_system_gives_the_agents_a_smaller_archive_of_their_own() {
    if !common::require_tool("isoinfo") {
        return;
    }
    let lab = Lab::new();
    let list = lab.lab_dir().join("images.txt");
    let mut text = fs::read_to_string(&list).unwrap();
    text.push_str("oci:../images/oci:klipper-lb:v0.4.13  docker.io/acme/app:1.0\n");
    fs::write(&list, text).unwrap();
    let config = lab.lab_dir().join("seedforge.yaml");
    let mut cfg = fs::read_to_string(&config).unwrap();
    cfg.push_str("\nairgap:\n  agents: system\n");
    fs::write(&config, &cfg).unwrap();
    lab.build();
    let archives: Vec<String> = fs::read_dir(lab.out_dir().join("airgap"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let whole = archives
        .iter()
        .find(|n| n.starts_with("k3s-airgap-images-amd64.tar"))
        .unwrap_or_else(|| panic!("{archives:?}"));
    let agents = archives
        .iter()
        .find(|n| n.starts_with("k3s-airgap-images-amd64-agents.tar"))
        .unwrap_or_else(|| panic!("{archives:?}"));
    let airgap = lab.out_dir().join("airgap");
    assert_eq!(check_oci_archive(&airgap.join(whole)).len(), 9);
    let small = check_oci_archive(&airgap.join(agents));
    assert_eq!(small.len(), 8, "{:?}", small.keys());
    assert!(!small.contains_key("docker.io/acme/app:1.0"));
    // The payload carries each under a name holding its digest.
    let (whole, agents) = (
        &common::carried_name(&airgap.join(whole)),
        &common::carried_name(&airgap.join(agents)),
    );
    for (node, carries, lacks) in [
        ("lab-server1", whole, agents),
        ("lab-agent1", agents, whole),
        ("lab-agent2", agents, whole),
    ] {
        let iso = lab.out_dir().join(format!("iso/seed-{node}.iso"));
        let paths = common::iso::isoinfo_paths(&iso, &["-R"]).join("\n");
        assert!(
            paths.contains(&format!("images/{carries}")),
            "{node}: {paths}"
        );
        assert!(
            !paths.contains(&format!("images/{lacks}")),
            "{node}: {paths}"
        );
    }
    // Without a registry the agents would have nowhere to get the rest: refused.
    let cfg = cfg
        .replace("registry:\n  host: 192.168.6.1\n  port: 5000\n", "")
        .replace("  name: lab\n", "  name: lab\n  embedded_registry: true\n");
    fs::write(&config, cfg).unwrap();
    let out = lab
        .seedforge()
        .args(["plan", "--config", lab.config_arg()])
        .expect(2)
        .run();
    assert!(
        out.stderr.contains("airgap.agents: system leaves"),
        "{}",
        out.stderr
    );
}
