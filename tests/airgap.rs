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

mod bytes;
mod judges;
mod refusals;

use bytes::lab_list;
use judges::{containerd_reads, podman_judge};

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
