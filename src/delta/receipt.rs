//! `receipt.json`: what a sealed output holds, small and exact, for the near side to make
//! a delta against.
//!
//! Fields (keys sorted at every depth; lists sorted):
//!
//! - `format`: `"seedforge-receipt"`; `receipt_version`: [`RECEIPT_VERSION`];
//!   `seedforge_version`: the seedforge that wrote the receipt;
//! - `source_date_epoch`: the output's, from manifest.json;
//! - `written_at` (format 5 on): when the receipt was written (seconds since 1970, this
//!   side's clock): `delta` says a receipt older than [`super::record::STALE_AFTER_DAYS`]
//!   is stale;
//! - `applied` (format 5 on): the delta the output was last made from by `apply` (its
//!   `delta.json`'s SHA-256, the receipt it was made against, when it was applied), while
//!   the output is still that delta's target; absent when it came whole (a build, a
//!   copy);
//! - `manifest_sha256`: manifest.json's SHA-256 (bare hex, as `SHA256SUMS` writes it);
//! - `k3s_version`: `cluster.k3s_version` as manifest.json records it (the release the
//!   far side's nodes run once the output is applied; absent in a receipt of format 1, and
//!   when manifest.json records none);
//! - `cluster` (format 4 on): `cluster.name` as manifest.json records it: the far side
//!   the receipt is of, which a delta made against it must be for;
//! - `site` (format 6 on): the output's site identity (manifest.json's `site`, sealed
//!   in `site.json`): two far sides of one cluster name are told apart by it, and a
//!   delta made against the receipt is for that site only; absent when the output has
//!   none (built by a seedforge without sites, not rebuilt since);
//! - `signed_by` (format 4 on): the key id the output is signed with (manifest.json's
//!   `signed_by`, its signature sealed); absent when it is not signed: `delta` refuses to
//!   make an unsigned delta for it unless `--allow-unsigned` says so;
//! - `lock_sha256`: `seedforge.lock`'s SHA-256 when the config folder is known (given with
//!   `--config`, or the output's parent holding the config file manifest.json names, with
//!   the content it records) and holds one; else `null`;
//! - `inputs`: the config folder's files manifest.json records (the config, image lists,
//!   template overrides): `path` relative to the config's folder, `sha256`;
//! - `other_inputs` (format 3 on): the other files the config names that a build reads
//!   (chart values, `cluster.release_images`, `manifests:` files, base lists; see
//!   `super::inputs`), as the config folder holds them now: `path` as the config names it
//!   relative to its folder, `sha256`; absent when there are none or the folder is not
//!   known;
//! - `artifacts`: every sealed file but the layout's blobs: `path` relative to the output,
//!   `size`, `sha256` (`manifest.json` and `SHA256SUMS` themselves are not listed: see
//!   `manifest_sha256`);
//! - `blobs`: every blob `oci/index.json` reaches (not strays: a blob nothing reaches is
//!   not sealed, and what is not sealed is not vouched for): `digest` (`sha256:<hex>`),
//!   `size`;
//! - `images` (format 3 on): every image manifest.json records: `destination`, `digest`
//!   (what a delta changes is then said by name);
//! - `digest`: `sha256:<hex>` of the receipt's canonical form: the JSON of every other
//!   field, keys sorted at every depth, no whitespace (what `jq -cjS 'del(.digest)'`
//!   prints). A receipt whose digest does not match is refused.
//!
//! A receipt holds digests, sizes and paths, never a file's content: no secret.

use super::{DeltaError, check_sealed, config_dir, lock_sha256, sorted};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The `format` of a receipt.
pub const RECEIPT_FORMAT: &str = "seedforge-receipt";
/// The format version this seedforge writes; it reads this one and every older one (1:
/// without `k3s_version`; 2: without `other_inputs` and `images`; 3: without `cluster`;
/// 4: without `written_at` and `applied`; 5: without `site`).
pub const RECEIPT_VERSION: u32 = 6;

/// A sealed file of the output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiptFile {
    /// Relative to the output (artifacts) or the config's folder (inputs).
    pub path: String,
    /// Its size in bytes (artifacts only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Bare hex SHA-256.
    pub sha256: String,
}

/// A blob of the layout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiptBlob {
    /// `sha256:<hex>`.
    pub digest: String,
    /// Its size in bytes.
    pub size: u64,
}

/// An image of the output, as manifest.json records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiptImage {
    /// The destination reference.
    pub destination: String,
    /// The digest of its stored manifest or index.
    pub digest: String,
}

/// `receipt.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Receipt {
    /// [`RECEIPT_FORMAT`].
    pub format: String,
    /// [`RECEIPT_VERSION`].
    pub receipt_version: u32,
    /// The seedforge that wrote the receipt.
    pub seedforge_version: String,
    /// The output's source date.
    pub source_date_epoch: Option<u64>,
    /// When the receipt was written (format 5 on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub written_at: Option<u64>,
    /// The delta the output was last made from (format 5 on; absent when it came whole).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied: Option<super::record::Applied>,
    /// manifest.json's SHA-256.
    pub manifest_sha256: String,
    /// `cluster.k3s_version` of the output (format 2 on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub k3s_version: Option<String>,
    /// `cluster.name` of the output (format 4 on): the cluster whose far side this is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    /// The output's site identity (format 6 on), absent when it has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
    /// The key id the output is signed with (manifest.json's `signed_by`, its signature
    /// sealed), absent when it is not signed: a delta for it must be signed too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed_by: Option<String>,
    /// seedforge.lock's SHA-256, when the config folder is known and holds one.
    pub lock_sha256: Option<String>,
    /// The config folder's recorded inputs.
    pub inputs: Vec<ReceiptFile>,
    /// The other files the config names that a build reads (format 3 on).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub other_inputs: Vec<ReceiptFile>,
    /// Every sealed file but the blobs.
    pub artifacts: Vec<ReceiptFile>,
    /// Every blob the layout reaches.
    pub blobs: Vec<ReceiptBlob>,
    /// The output's images by name (format 3 on): what a delta changes is said by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub images: Option<Vec<ReceiptImage>>,
    /// Sealed files found missing or damaged (`receipt --record-damage`), left out of
    /// `artifacts` and `blobs` so that a delta carries them, and named so that `apply`
    /// takes the output with them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub damaged: Vec<String>,
    /// `sha256:<hex>` of the canonical form without this field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

impl Receipt {
    /// The canonical bytes the digest is taken over: every field but `digest`, keys
    /// sorted, compact.
    pub fn canonical(&self) -> Vec<u8> {
        let mut body = self.clone();
        body.digest = None;
        // A struct of strings and numbers always serializes.
        let value = serde_json::to_value(&body).unwrap_or_default();
        serde_json::to_vec(&sorted(value)).unwrap_or_default()
    }

    /// `sha256:<hex>` of [`Receipt::canonical`].
    pub fn compute_digest(&self) -> String {
        format!("sha256:{}", crate::hashing::sha256_hex(&self.canonical()))
    }

    /// The receipt as written: its digest set, keys sorted, indented, one final newline.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut sealed = self.clone();
        sealed.digest = Some(self.compute_digest());
        let value = sorted(serde_json::to_value(&sealed).unwrap_or_default());
        let mut bytes = serde_json::to_vec_pretty(&value).unwrap_or_default();
        bytes.push(b'\n');
        bytes
    }

    /// Reads a receipt from `bytes` (the file `path`): refused when it is not a receipt,
    /// is of a newer format, or its digest does not match its content.
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<Receipt, DeltaError> {
        let bad = |message: String| DeltaError::BadReceipt {
            path: path.to_path_buf(),
            message,
        };
        let value: serde_json::Value = serde_json::from_slice(bytes)
            .map_err(|e| bad(format!("not a seedforge receipt (not JSON: {e})")))?;
        if value.get("format").and_then(|f| f.as_str()) != Some(RECEIPT_FORMAT) {
            return Err(bad(format!(
                "not a seedforge receipt (no \"format\": \"{RECEIPT_FORMAT}\"); seedforge receipt OUT -o FILE writes one"
            )));
        }
        match value.get("receipt_version").and_then(|v| v.as_u64()) {
            Some(v) if v > u64::from(RECEIPT_VERSION) => {
                return Err(bad(format!(
                    "a receipt of format {v}, newer than this seedforge reads ({RECEIPT_VERSION}): use a seedforge at least as new as the one that wrote it"
                )));
            }
            Some(_) => {}
            None => return Err(bad("no receipt_version".into())),
        }
        let receipt: Receipt = serde_json::from_value(value)
            .map_err(|e| bad(format!("not a seedforge receipt: {e}")))?;
        let Some(stated) = &receipt.digest else {
            return Err(bad("no digest: a receipt is checked by its digest".into()));
        };
        let actual = receipt.compute_digest();
        if stated != &actual {
            return Err(bad(format!(
                "its digest says {stated} but its content hashes to {actual}: the receipt was changed or damaged since it was written"
            )));
        }
        Ok(receipt)
    }

    /// Reads and checks the receipt file `path`.
    pub fn load(path: &Path) -> Result<Receipt, DeltaError> {
        let bytes = crate::input::read(path, crate::input::Kind::Manifest)?;
        Receipt::parse(path, &bytes)
    }

    /// What the receipt says of the far side that tells whether it is stale.
    pub fn described(&self) -> super::record::Described<'_> {
        super::record::Described {
            cluster: self.cluster.as_deref(),
            manifest_sha256: &self.manifest_sha256,
            k3s_version: self.k3s_version.as_deref(),
            written_at: self.written_at,
        }
    }

    /// The digest the receipt states (checked by [`Receipt::parse`]).
    pub fn stated_digest(&self) -> String {
        self.digest.clone().unwrap_or_else(|| self.compute_digest())
    }
}

/// What [`receipt`] wrote.
#[derive(Debug, Clone, Serialize)]
pub struct ReceiptReport {
    /// The receipt file.
    pub receipt: PathBuf,
    /// Its digest.
    pub digest: String,
    /// The output described.
    pub output: PathBuf,
    /// The config folder, when known.
    pub config_dir: Option<PathBuf>,
    /// Blobs listed, and their bytes.
    pub blobs: usize,
    /// Bytes of the blobs listed.
    pub blob_bytes: u64,
    /// Sealed files listed (blobs aside).
    pub artifacts: usize,
    /// manifest.json's SHA-256.
    pub manifest_sha256: String,
    /// seedforge.lock's SHA-256, when known.
    pub lock_sha256: Option<String>,
    /// Files of SHA256SUMS re-hashed before the receipt was written.
    pub checked: usize,
    /// The sealed files found missing or damaged (`--record-damage`).
    pub damaged: Vec<String>,
    /// When it was written (seconds since 1970).
    pub written_at: Option<u64>,
    /// The delta the output was last made from, when `apply` made it.
    pub applied: Option<super::record::Applied>,
}

/// The receipt of the sealed output `out` (checked against its `SHA256SUMS` first), with
/// `seedforge.lock` from the folder of `config` or the folder found beside `out`.
pub fn describe(
    out: &Path,
    config: Option<&Path>,
) -> Result<(Receipt, Option<PathBuf>), DeltaError> {
    let sealed = check_sealed(out)?;
    of_sealed(out, config, &sealed)
}

/// [`describe`] of an output that may be damaged: each sealed file missing or not
/// hashing as `SHA256SUMS` lists is recorded in the receipt's `damaged` (and left out of
/// what it holds) instead of refusing the output.
pub fn describe_damaged(
    out: &Path,
    config: Option<&Path>,
) -> Result<(Receipt, Option<PathBuf>), DeltaError> {
    let sealed = super::check_sealed_with(out, &|_| false, &|_| true)?;
    of_sealed(out, config, &sealed)
}

/// [`describe`] of an output already checked.
pub(super) fn of_sealed(
    out: &Path,
    config: Option<&Path>,
    sealed: &super::Sealed,
) -> Result<(Receipt, Option<PathBuf>), DeltaError> {
    let dir = config_dir(out, config, sealed);
    let lock = match &dir {
        Some(d) => lock_sha256(d)?,
        None => None,
    };
    let blob_prefix = super::BLOBS;
    // A damaged or missing file is left out: a delta against the receipt carries it.
    let mut artifacts: Vec<ReceiptFile> = (sealed.facts.artifacts.iter())
        .filter(|a| !a.path.starts_with(blob_prefix) && !sealed.damaged.contains(&a.path))
        .map(|a| ReceiptFile {
            path: a.path.clone(),
            size: Some(a.size),
            sha256: a.sha256.clone(),
        })
        .collect();
    artifacts.sort_by(|a, b| a.path.cmp(&b.path));
    let inputs = (sealed.inputs().into_iter())
        .map(|i| ReceiptFile {
            path: i.path,
            size: None,
            sha256: i.sha256,
        })
        .collect();
    let mut other_inputs = Vec::new();
    if let (Some(d), Some(recorded)) = (&dir, &sealed.facts.inputs) {
        let config_file = match config {
            Some(c) => c.to_path_buf(),
            None => d.join(&recorded.config.path),
        };
        for (path, file) in super::inputs::other_inputs(&config_file) {
            // One that cannot be read here is left out: the delta then carries it.
            let Ok(sha256) = crate::hashing::sha256_file(&file) else {
                continue;
            };
            other_inputs.push(ReceiptFile {
                path,
                size: None,
                sha256,
            });
        }
    }
    let blobs = (sealed.blobs.iter())
        .filter(|(digest, _)| {
            let rel = format!("{blob_prefix}{}", digest.trim_start_matches("sha256:"));
            !sealed.damaged.contains(&rel)
        })
        .map(|(digest, size)| ReceiptBlob {
            digest: digest.clone(),
            size: *size,
        })
        .collect();
    // Signed: its signature over manifest.json is sealed with it.
    let signed = sealed
        .sums
        .contains_key(crate::pipeline::seal::MANIFEST_BUNDLE);
    let receipt = Receipt {
        format: RECEIPT_FORMAT.into(),
        receipt_version: RECEIPT_VERSION,
        seedforge_version: crate::VERSION.into(),
        source_date_epoch: sealed.facts.source_date_epoch,
        written_at: Some(super::record::now()),
        applied: super::record::read_applied(out, &sealed.manifest_sha256),
        manifest_sha256: sealed.manifest_sha256.clone(),
        k3s_version: (sealed.facts.cluster.as_ref()).map(|c| c.k3s_version.clone()),
        cluster: (sealed.facts.cluster.as_ref()).map(|c| c.name.clone()),
        site: sealed.facts.site.clone(),
        signed_by: sealed.facts.signed_by.clone().filter(|_| signed),
        lock_sha256: lock,
        inputs,
        other_inputs,
        artifacts,
        blobs,
        images: Some(
            (sealed.facts.images.iter())
                .map(|i| ReceiptImage {
                    destination: i.destination.clone(),
                    digest: i.digest.clone(),
                })
                .collect(),
        ),
        damaged: sealed.damaged.iter().cloned().collect(),
        digest: None,
    };
    Ok((receipt, dir))
}

/// Writes the receipt of `out` to `to` (atomically), as [`describe`] makes it.
pub fn receipt(
    out: &Path,
    config: Option<&Path>,
    to: &Path,
    record_damage: bool,
) -> Result<ReceiptReport, DeltaError> {
    if crate::outpath::is_within(&crate::outpath::resolve(to), &crate::outpath::resolve(out)) {
        return Err(DeltaError::BadTarget {
            path: to.to_path_buf(),
            message: "inside the output it describes: write the receipt outside it".into(),
        });
    }
    let checked = crate::input::read_found_to_string(
        &out.join(crate::pipeline::seal::SUMS),
        crate::input::Kind::Sums,
    )
    .map(|t| t.lines().count())
    .unwrap_or(0);
    let (receipt, dir) = if record_damage {
        describe_damaged(out, config)?
    } else {
        describe(out, config)?
    };
    let bytes = receipt.to_bytes();
    crate::util::atomic_write(to, &bytes).map_err(|e| DeltaError::io(to, e))?;
    Ok(ReceiptReport {
        receipt: to.to_path_buf(),
        digest: receipt.compute_digest(),
        output: out.to_path_buf(),
        config_dir: dir,
        blobs: receipt.blobs.len(),
        blob_bytes: receipt.blobs.iter().map(|b| b.size).sum(),
        artifacts: receipt.artifacts.len(),
        manifest_sha256: receipt.manifest_sha256.clone(),
        lock_sha256: receipt.lock_sha256.clone(),
        checked,
        damaged: receipt.damaged.clone(),
        written_at: receipt.written_at,
        applied: receipt.applied.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Receipt {
        Receipt {
            format: RECEIPT_FORMAT.into(),
            receipt_version: RECEIPT_VERSION,
            seedforge_version: "0.1.0".into(),
            source_date_epoch: Some(1_700_000_000),
            written_at: Some(1_764_000_000),
            applied: None,
            manifest_sha256: "ab".repeat(32),
            k3s_version: Some("v1.33.1+k3s1".into()),
            cluster: Some("lab".into()),
            site: None,
            signed_by: None,
            lock_sha256: None,
            images: None,
            damaged: Vec::new(),
            inputs: vec![ReceiptFile {
                path: "seedforge.yaml".into(),
                size: None,
                sha256: "cd".repeat(32),
            }],
            other_inputs: vec![ReceiptFile {
                path: "values.yaml".into(),
                size: None,
                sha256: "ef".repeat(32),
            }],
            artifacts: vec![ReceiptFile {
                path: "nodes/n1/user-data".into(),
                size: Some(12),
                sha256: "ef".repeat(32),
            }],
            blobs: vec![ReceiptBlob {
                digest: format!("sha256:{}", "01".repeat(32)),
                size: 3,
            }],
            digest: None,
        }
    }

    #[test]
    fn a_written_receipt_reads_back_and_its_digest_is_over_the_sorted_compact_form() {
        let r = sample();
        let bytes = r.to_bytes();
        let back = Receipt::parse(Path::new("r.json"), &bytes).unwrap();
        assert_eq!(back.digest.as_deref(), Some(r.compute_digest().as_str()));
        // The canonical form is the written one without `digest`, keys sorted, compact.
        let mut value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        value.as_object_mut().unwrap().remove("digest");
        let canonical = serde_json::to_vec(&sorted(value)).unwrap();
        assert_eq!(canonical, r.canonical());
        let text = String::from_utf8(canonical).unwrap();
        assert!(text.starts_with("{\"artifacts\":[{\"path\":"), "{text}");
        // Written sorted too, and the same bytes every time.
        let written = String::from_utf8(bytes.clone()).unwrap();
        let keys: Vec<usize> = ["\"artifacts\"", "\"blobs\"", "\"digest\"", "\"format\""]
            .iter()
            .map(|k| written.find(k).unwrap())
            .collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]), "{written}");
        assert_eq!(bytes, sample().to_bytes());
    }

    #[test]
    fn a_receipt_of_format_1_without_k3s_version_still_reads() {
        let mut r = sample();
        r.receipt_version = 1;
        r.k3s_version = None;
        let bytes = r.to_bytes();
        assert!(!String::from_utf8_lossy(&bytes).contains("k3s_version"));
        let back = Receipt::parse(Path::new("r.json"), &bytes).unwrap();
        assert_eq!(back.k3s_version, None);
        assert_eq!(back.receipt_version, 1);
    }

    #[test]
    fn a_changed_receipt_fails_its_digest() {
        let bytes = sample().to_bytes();
        let text = String::from_utf8(bytes)
            .unwrap()
            .replace("\"size\": 3", "\"size\": 4");
        let e = Receipt::parse(Path::new("r.json"), text.as_bytes()).unwrap_err();
        assert!(e.is_invalid_input());
        assert!(e.to_string().contains("changed or damaged"), "{e}");
    }

    #[test]
    fn not_a_receipt_a_newer_one_or_one_without_digest_is_refused() {
        let p = Path::new("r.json");
        for (text, says) in [
            ("[1]".to_string(), "not a seedforge receipt"),
            ("not json".to_string(), "not JSON"),
            (
                r#"{"format":"seedforge-receipt","receipt_version":7}"#.to_string(),
                "newer than this seedforge reads",
            ),
            (
                {
                    let mut v: serde_json::Value =
                        serde_json::from_slice(&sample().to_bytes()).unwrap();
                    v.as_object_mut().unwrap().remove("digest");
                    v.to_string()
                },
                "no digest",
            ),
            (
                {
                    let mut v: serde_json::Value =
                        serde_json::from_slice(&sample().to_bytes()).unwrap();
                    v["extra"] = 1.into();
                    v.to_string()
                },
                "unknown field",
            ),
        ] {
            let e = Receipt::parse(p, text.as_bytes()).unwrap_err();
            assert!(e.is_invalid_input(), "{text}");
            assert!(e.to_string().contains(says), "{text}: {e}");
        }
    }
}
