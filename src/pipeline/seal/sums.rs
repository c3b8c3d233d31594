//! Hashing for the seal, checking an output against its `SHA256SUMS`, and the registry
//! certificate against what `manifest.json` records.

use super::*;

/// Hex sha256 of a file, streamed; an error names the file.
pub(super) fn hash(path: &Path) -> Result<String, SealError> {
    crate::hashing::sha256_file(path).map_err(|e| SealError::io(path, e))
}

/// Hashes `paths` on up to four threads; the results are in the order of `paths`.
pub fn hash_many(paths: &[PathBuf]) -> Result<Vec<String>, SealError> {
    hash_each(paths).into_iter().collect()
}

/// [`crate::hashing::sha256_files`], each error naming its file.
fn hash_each(paths: &[PathBuf]) -> Vec<Result<String, SealError>> {
    crate::hashing::sha256_files(paths)
        .into_iter()
        .zip(paths)
        .map(|(r, p)| r.map_err(|e| SealError::io(p, e)))
        .collect()
}

/// One problem `verify` found against `SHA256SUMS`.
#[derive(Debug, Clone, Serialize)]
pub struct SumProblem {
    /// The path as `SHA256SUMS` names it.
    pub path: String,
    /// `missing`, `differs`, `unreadable` or `malformed`.
    pub problem: &'static str,
    /// The listed sha256.
    pub expected: String,
    /// The sha256 of the file, or the error.
    pub actual: String,
}

/// `verify`'s check of `OUT/SHA256SUMS`.
#[derive(Debug, Clone, Serialize)]
pub struct SumsReport {
    /// The sums file.
    pub file: PathBuf,
    /// Entries listed.
    pub entries: usize,
    /// Bytes re-hashed.
    pub bytes: u64,
    /// Everything wrong; empty means every file matches.
    pub problems: Vec<SumProblem>,
}

/// One line of a `SHA256SUMS` (`HEX  PATH`, or `HEX *PATH` as `sha256sum -b` writes it):
/// the hex and the path, when the hex is a SHA-256 and the path stays inside the folder.
pub fn sums_line(line: &str) -> Option<(&str, &str)> {
    line.split_once("  ")
        .or_else(|| line.split_once(" *"))
        .filter(|(h, p)| is_hex64(h) && safe_relative(p).is_some())
}

/// The lines of a `SHA256SUMS` text that [`sums_line`] takes, as sha256 (hex) by path.
pub fn parse_sums(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(sums_line)
        .map(|(hex, path)| (path.to_string(), hex.to_string()))
        .collect()
}

/// Re-hashes every entry of `out/SHA256SUMS`.
pub fn verify_sums(out: &Path) -> Result<SumsReport, SealError> {
    verify_sums_with(out, &|_, _| None)
}

/// [`verify_sums`], taking the digest of a file from `known` where it has one (a file the
/// caller has just hashed, such as a part it streamed through its whole's hash, or one it
/// takes as listed: `known` is given the file's path and the sha256 its line lists).
pub fn verify_sums_with(
    out: &Path,
    known: &dyn Fn(&Path, &str) -> Option<String>,
) -> Result<SumsReport, SealError> {
    let file = out.join(SUMS);
    let text = crate::input::read_found_to_string(&file, crate::input::Kind::Sums)?;
    let mut problems = Vec::new();
    let mut listed: Vec<(String, String, PathBuf)> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let parsed = sums_line(line).and_then(|(h, p)| safe_relative(p).map(|rel| (h, p, rel)));
        match parsed {
            Some((h, p, rel)) => listed.push((p.to_string(), h.to_string(), out.join(rel))),
            None => problems.push(SumProblem {
                path: format!("{SUMS}:{}", i + 1),
                problem: "malformed",
                expected: "HEX  RELATIVE-PATH".into(),
                actual: line.chars().take(120).collect(),
            }),
        }
    }
    let mut present = Vec::new();
    for (i, (name, expected, path)) in listed.iter().enumerate() {
        match fs::symlink_metadata(path) {
            Ok(m) if m.is_file() => present.push(i),
            Ok(_) => problems.push(SumProblem {
                path: name.clone(),
                problem: "missing",
                expected: expected.clone(),
                actual: "not a regular file".into(),
            }),
            Err(e) => problems.push(SumProblem {
                path: name.clone(),
                problem: "missing",
                expected: expected.clone(),
                actual: e.to_string(),
            }),
        }
    }
    let digests: Vec<Option<String>> = (present.iter())
        .map(|&i| known(&listed[i].2, &listed[i].1))
        .collect();
    let paths: Vec<PathBuf> = (present.iter().zip(&digests))
        .filter(|(_, d)| d.is_none())
        .map(|(&i, _)| listed[i].2.clone())
        .collect();
    let mut hashed = hash_each(&paths).into_iter();
    let mut bytes = 0;
    for (&i, digest) in present.iter().zip(digests) {
        let (name, expected, path) = &listed[i];
        let result = match digest {
            Some(d) => Ok(d),
            // hash_each gives one result per path, in order.
            None => (hashed.next())
                .unwrap_or_else(|| Err(SealError::io(path, io::Error::other("not hashed")))),
        };
        match result {
            Ok(actual) if &actual == expected => {
                bytes += fs::metadata(path).map_or(0, |m| m.len());
            }
            Ok(actual) => problems.push(SumProblem {
                path: name.clone(),
                problem: "differs",
                expected: expected.clone(),
                actual,
            }),
            Err(e) => problems.push(SumProblem {
                path: name.clone(),
                problem: "unreadable",
                expected: expected.clone(),
                actual: e.to_string(),
            }),
        }
    }
    problems.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(SumsReport {
        file,
        entries: listed.len(),
        bytes,
        problems,
    })
}

/// `verify`'s check of the registry certificate against `manifest.json`.
#[derive(Debug, Clone, Serialize)]
pub struct CertCheck {
    /// The certificate.
    pub certificate: PathBuf,
    /// The names it must cover (from manifest.json).
    pub hosts: Vec<String>,
    /// Everything wrong; empty means it chains to the CA and covers every name.
    pub problems: Vec<String>,
}

/// Re-checks `out/pki/registry.crt` against the registry host and SANs `manifest.json`
/// records; `None` when there is no manifest or the registry is plain HTTP.
pub fn check_certificate(out: &Path) -> Result<Option<CertCheck>, SealError> {
    // Only the certificate the seal lists: an export folder carries a signed output's
    // manifest.json (naming the registry) beside its ISOs, and no pki/.
    let sums = crate::input::read_found_to_string(&out.join(SUMS), crate::input::Kind::Sums)
        .unwrap_or_default();
    if !sums
        .lines()
        .filter_map(sums_line)
        .any(|(_, path)| path == "pki/registry.crt")
    {
        return Ok(None);
    }
    let view = match ManifestView::load(out) {
        Ok(v) => v,
        Err(SealError::NotSealed { .. }) => return Ok(None),
        Err(e) => return Err(e),
    };
    let Some(registry) = view.registry.filter(|r| !r.plain_http) else {
        return Ok(None);
    };
    let mut names: Vec<String> = vec![registry.host.clone()];
    for s in &registry.sans {
        if !names.contains(s) {
            names.push(s.clone());
        }
    }
    let mut check = CertCheck {
        certificate: out.join("pki").join("registry.crt"),
        hosts: names.clone(),
        problems: Vec::new(),
    };
    let mut hosts = Vec::new();
    for n in &names {
        match Host::parse_san(n) {
            Ok(h) => hosts.push(h),
            Err(e) => check
                .problems
                .push(format!("manifest.json names {n:?} for the registry: {e}")),
        }
    }
    if let Err(e) = crate::pki::check_registry_certificate(out, &hosts) {
        check.problems.push(e.to_string());
    }
    Ok(Some(check))
}
