//! OCI image layouts: digests of files and bytes, blob paths, `index.json` lookups, the
//! check that every blob hashes to its name, `skopeo inspect` as the judge of a layout,
//! and a generator that streams large pseudo-random images into a layout.

use super::{Cmd, files_under, read_json};
use sha2::{Digest as _, Sha256};
use std::fs::{self, File};
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Hex sha256 of a file, streamed.
pub fn sha256_file(path: &Path) -> String {
    let mut f = File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    hex(&h.finalize())
}

/// Hex sha256 of bytes.
pub fn sha256_bytes(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Files in `LAYOUT/blobs/sha256` whose content does not hash to their name.
pub fn mismatched_blobs(layout: &Path) -> Vec<PathBuf> {
    let dir = layout.join("blobs/sha256");
    files_under(&dir)
        .into_iter()
        .filter(|p| sha256_file(p) != p.file_name().unwrap().to_string_lossy())
        .collect()
}

/// The names (hex digests) of the blobs in `LAYOUT/blobs/sha256`; none when it is absent.
pub fn blob_names(layout: &Path) -> std::collections::BTreeSet<String> {
    fs::read_dir(layout.join("blobs/sha256"))
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// The path of the blob with `digest` (`sha256:…`) in `layout`.
pub fn blob_path(layout: &Path, digest: &str) -> PathBuf {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    layout.join("blobs/sha256").join(hex)
}

/// The `org.opencontainers.image.ref.name` of every entry in `LAYOUT/index.json`.
pub fn index_names(layout: &Path) -> Vec<String> {
    let index = read_json(&layout.join("index.json"));
    index["manifests"]
        .as_array()
        .expect("index.json has a manifests array")
        .iter()
        .filter_map(|m| m["annotations"]["org.opencontainers.image.ref.name"].as_str())
        .map(str::to_string)
        .collect()
}

/// The `index.json` entry named `name`.
pub fn index_entry(layout: &Path, name: &str) -> serde_json::Value {
    let index = read_json(&layout.join("index.json"));
    index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == name)
        .unwrap_or_else(|| panic!("index.json names no {name}"))
        .clone()
}

/// A pseudo-random byte stream (xorshift64*), fast and reproducible from its seed.
pub struct XorShift(u64);

impl XorShift {
    /// A generator; `seed` must not be 0 (it is fixed up if it is).
    pub fn new(seed: u64) -> XorShift {
        XorShift(seed.max(1).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// Fills `buf` (whose length must be a multiple of 8).
    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_exact_mut(8) {
            let mut x = self.0;
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            self.0 = x;
            chunk.copy_from_slice(&x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
        }
    }
}

/// A writer that hashes and counts what passes through it.
struct HashingFile {
    inner: BufWriter<File>,
    hasher: Sha256,
    size: u64,
}

impl Write for HashingFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// A blob written by [`write_oci_image`].
#[derive(Debug, Clone)]
pub struct BlobInfo {
    /// `sha256:<hex>`.
    pub digest: String,
    /// Size in bytes.
    pub size: u64,
}

/// What [`write_oci_image`] wrote.
#[derive(Debug, Clone)]
pub struct GeneratedImage {
    /// The layers, in manifest order.
    pub layers: Vec<BlobInfo>,
    /// The config.
    pub config: BlobInfo,
    /// The manifest.
    pub manifest: BlobInfo,
}

/// Writes a tar layer holding one file of `size` pseudo-random bytes into `blobs_dir`,
/// streaming (never holding the content in memory). Returns its digest and size.
fn write_random_tar_layer(blobs_dir: &Path, size: u64, seed: u64) -> BlobInfo {
    let tmp = blobs_dir.join(format!(".gen-{seed}.tmp"));
    let file = File::create(&tmp).unwrap();
    let mut w = HashingFile {
        inner: BufWriter::with_capacity(1 << 20, file),
        hasher: Sha256::new(),
        size: 0,
    };
    let mut header = tar::Header::new_ustar();
    header.set_path(format!("data/blob-{seed}.bin")).unwrap();
    header.set_size(size);
    header.set_mode(0o644);
    header.set_mtime(1_700_000_000);
    header.set_uid(0);
    header.set_gid(0);
    header.set_entry_type(tar::EntryType::Regular);
    header.set_cksum();
    w.write_all(header.as_bytes()).unwrap();
    let mut rng = XorShift::new(seed);
    let mut buf = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        rng.fill(&mut buf);
        let n = usize::try_from(left.min(buf.len() as u64)).unwrap();
        w.write_all(&buf[..n]).unwrap();
        left -= n as u64;
    }
    let pad = (512 - size % 512) % 512;
    let end = vec![0u8; usize::try_from(pad).unwrap() + 1024];
    w.write_all(&end).unwrap();
    w.flush().unwrap();
    let digest = hex(&w.hasher.finalize());
    let total = w.size;
    drop(w.inner);
    fs::rename(&tmp, blobs_dir.join(&digest)).unwrap();
    BlobInfo {
        digest: format!("sha256:{digest}"),
        size: total,
    }
}

fn write_small_blob(blobs_dir: &Path, bytes: &[u8]) -> BlobInfo {
    let digest = sha256_bytes(bytes);
    fs::write(blobs_dir.join(&digest), bytes).unwrap();
    BlobInfo {
        digest: format!("sha256:{digest}"),
        size: bytes.len() as u64,
    }
}

/// Adds `manifest` under `ref_name` to the `index.json` of the layout at `dir`.
fn name_in_index(dir: &Path, ref_name: &str, manifest: &BlobInfo) {
    let index_path = dir.join("index.json");
    let mut index = if index_path.exists() {
        read_json(&index_path)
    } else {
        serde_json::json!({"schemaVersion": 2, "manifests": []})
    };
    index["manifests"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest.digest,
            "size": manifest.size,
            "annotations": {"org.opencontainers.image.ref.name": ref_name},
        }));
    fs::write(&index_path, serde_json::to_vec(&index).unwrap()).unwrap();
}

/// Writes an OCI image layout at `dir` (created) holding one linux/amd64 image named
/// `ref_name` whose uncompressed tar layers hold `layer_sizes[i]` pseudo-random bytes each
/// (generated from `seed + i`). Several calls with different `ref_name`s may share `dir`.
pub fn write_oci_image(
    dir: &Path,
    ref_name: &str,
    layer_sizes: &[u64],
    seed: u64,
) -> GeneratedImage {
    let blobs = dir.join("blobs/sha256");
    fs::create_dir_all(&blobs).unwrap();
    fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let layers: Vec<BlobInfo> = layer_sizes
        .iter()
        .enumerate()
        .map(|(i, &size)| write_random_tar_layer(&blobs, size, seed + i as u64))
        .collect();
    let diff_ids: Vec<&str> = layers.iter().map(|l| l.digest.as_str()).collect();
    let config = serde_json::json!({
        "created": "2023-11-14T22:13:20Z",
        "architecture": "amd64",
        "os": "linux",
        "config": {"Cmd": ["/bin/true"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": layers.iter().map(|_| serde_json::json!({
            "created": "2023-11-14T22:13:20Z",
            "created_by": "seedforge integration test"
        })).collect::<Vec<_>>(),
    });
    let config = write_small_blob(&blobs, &serde_json::to_vec(&config).unwrap());
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config.digest,
            "size": config.size,
        },
        "layers": layers.iter().map(|l| serde_json::json!({
            "mediaType": "application/vnd.oci.image.layer.v1.tar",
            "digest": l.digest,
            "size": l.size,
        })).collect::<Vec<_>>(),
    });
    let manifest = write_small_blob(&blobs, &serde_json::to_vec(&manifest).unwrap());
    name_in_index(dir, ref_name, &manifest);
    GeneratedImage {
        layers,
        config,
        manifest,
    }
}

/// `skopeo inspect oci:LAYOUT:NAME`, checked to succeed; returns the parsed output.
pub fn skopeo_inspect(layout: &Path, name: &str, extra: &[&str]) -> serde_json::Value {
    let out = Cmd::new("skopeo")
        .arg("inspect")
        .args(extra)
        .arg(format!("oci:{}:{name}", layout.display()))
        .timeout(Duration::from_secs(60))
        .run();
    out.json()
}

/// Writes into the OCI layout at `dir` (created) an artifact that is no runnable image,
/// named `ref_name`: a manifest whose config is `config` of `config_type` and whose one
/// layer is `payload` of `layer_type` (a cosign signature: an image config with empty
/// `os`/`architecture` and a `simplesigning` payload; a Helm chart: Helm's config type).
pub fn write_oci_artifact(
    dir: &Path,
    ref_name: &str,
    config_type: &str,
    config: &[u8],
    layer_type: &str,
    payload: &[u8],
) -> String {
    let blobs = dir.join("blobs/sha256");
    fs::create_dir_all(&blobs).unwrap();
    fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let config = write_small_blob(&blobs, config);
    let layer = write_small_blob(&blobs, payload);
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": config_type, "digest": config.digest, "size": config.size},
        "layers": [{"mediaType": layer_type, "digest": layer.digest, "size": layer.size}],
    });
    let manifest = write_small_blob(&blobs, &serde_json::to_vec(&manifest).unwrap());
    name_in_index(dir, ref_name, &manifest);
    manifest.digest
}
