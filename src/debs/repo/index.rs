//! A repository's `Packages` indexes: each fetched in the most compressed form the Release
//! file lists (or taken from the package cache), checked against the Release file,
//! decompressed, scanned, and its entries made candidates whose paths stay inside the
//! repository.

use super::super::cache::DebCache;
use super::super::control::{Paragraph, ParagraphBuilder, ReleaseFile};
use super::super::error::DebsError;
use super::super::universe::{Candidate, Location, RELATION_FIELDS, Verification, candidate};
use super::fetch::{Fetcher, join};
use super::release::{RepoRelease, security_source};
use super::scan;
use super::source::RepoSpec;
use std::io::Read;

/// True when `rel`, a path an index gives (a `Filename`, an index the Release file lists),
/// stays inside the repository it is joined to: relative, no `..` segment (nor one spelt
/// with percent-escapes, which a server decodes), nothing a URL would read as its query or
/// fragment, no control characters. What apt itself fetches from such a path is the
/// repository's file; anything else is refused.
pub(in crate::debs) fn inside_repo(rel: &str) -> bool {
    let lower = rel.to_ascii_lowercase();
    !rel.is_empty()
        && !rel.starts_with('/')
        && !rel.split('/').any(|segment| segment == "..")
        && !["%2e", "%2f", "%5c"].iter().any(|e| lower.contains(e))
        && !rel.chars().any(|c| c.is_control() || "\\?#".contains(c))
}

/// Refuses a path from an index that leads out of the repository at `repo` (exit 2), named
/// by the index (`source`, `line`) and its `field`.
fn check_inside(
    repo: &str,
    rel: &str,
    field: &str,
    (source, line): (&str, usize),
) -> Result<(), DebsError> {
    if inside_repo(rel) {
        return Ok(());
    }
    Err(DebsError::Index {
        source_name: source.to_string(),
        line,
        message: format!("{field} {rel:?} leads outside the repository {repo}; refusing it"),
    })
}

/// The part of a repository whose Release file is `release`: its indexes read, or none
/// (`read` false: only the verification and the origin are wanted).
pub(super) fn fetch_repo_indexes(
    spec: &RepoSpec,
    release: RepoRelease,
    fetcher: &Fetcher,
    read: bool,
) -> Result<RepoPart, DebsError> {
    let RepoRelease {
        dist,
        release_url,
        listed,
        indices,
        verification,
        ..
    } = release;
    let mut texts = Vec::new();
    for index in indices.iter().filter(|_| read) {
        texts.extend(load_index(fetcher, &dist, index, &listed)?);
    }
    if texts.is_empty() && read {
        // As apt: a component is named by its last segment, its indexes lie under that.
        let prefixed = spec.components.iter().find_map(|c| c.rsplit_once('/'));
        let hint = prefixed.map_or(String::new(), |(_, last)| {
            format!("; name the component as apt does, {last:?}")
        });
        return Err(DebsError::Index {
            source_name: release_url,
            line: 0,
            message: format!(
                "the Release file lists no index among {}{hint}",
                indices.join(", ")
            ),
        });
    }
    Ok(RepoPart {
        url: spec.url.clone(),
        base: spec.url.as_str().into(),
        reads_all: indices.iter().any(|i| i.contains("/binary-all/")),
        texts,
        verification,
        origin: format!("{} {}", crate::redact::url(&spec.url), spec.suite),
        suggested: security_source(spec).into_iter().collect(),
    })
}

/// A repository's part of a universe before its entries become candidates.
pub(super) struct RepoPart {
    /// The repository's URL.
    pub(super) url: String,
    /// The same, shared by its candidates' locations.
    pub(super) base: std::sync::Arc<str>,
    /// An arch-all package can be listed in both binary-ARCH and binary-all.
    pub(super) reads_all: bool,
    pub(super) texts: Vec<IndexText>,
    pub(super) verification: Verification,
    pub(super) origin: String,
    pub(super) suggested: Vec<String>,
}

/// One index's plain text, checked against the Release file and scanned.
pub(super) struct IndexText {
    pub(super) url: String,
    pub(super) text: String,
    pub(super) stanzas: Vec<scan::Stanza>,
}

/// Where `INDEX_FIELDS` has the fields every entry needs (see [`scan::Required`]).
pub(super) const REQUIRED: scan::Required = scan::Required {
    at: [0, 1, 2, 5, 9, 10, 11],
};

/// The candidate of entry `s` of `index`, a text of the repository `part`.
pub(super) fn index_candidate(
    part: &RepoPart,
    index: &IndexText,
    s: usize,
) -> Result<Candidate, DebsError> {
    let stanza = &index.stanzas[s];
    let bad = |(l, message): (usize, String)| DebsError::Index {
        source_name: index.url.clone(),
        line: stanza.line + l - 1,
        message,
    };
    let mut builder = ParagraphBuilder::keeping(INDEX_FIELDS);
    for line in index.text[stanza.range.clone()].split('\n') {
        // The scan found no blank line inside the entry: nothing ends here.
        builder.line(line).map_err(bad)?;
    }
    let mut p = builder.finish().unwrap_or_default();
    p.line = stanza.line;
    entry_candidate(p, &index.url, (&part.url, &part.base))
}

/// The candidate an index entry `p` of the index at `url` describes, its .deb under the
/// repository `repo` (its URL, and the same shared).
pub(super) fn entry_candidate(
    p: Paragraph,
    url: &str,
    repo: (&str, &std::sync::Arc<str>),
) -> Result<Candidate, DebsError> {
    let line = p.line;
    let filename = p.get("Filename").map(str::to_string);
    let has_size = p.get("Size").is_some();
    let mut c = candidate(p, url)?;
    let filename = filename.ok_or_else(|| DebsError::Index {
        source_name: url.to_string(),
        line,
        message: format!("package {} has no Filename field", c.name),
    })?;
    check_inside(
        repo.0,
        &filename,
        &format!("package {}: Filename", c.name),
        (url, line),
    )?;
    if c.sha256.len() != 64 || !has_size {
        return Err(DebsError::Index {
            source_name: url.to_string(),
            line,
            message: format!("package {} has no SHA256 or Size field", c.name),
        });
    }
    c.location = Location::Remote {
        base: repo.1.clone(),
        path: filename,
    };
    // What the candidate holds apart (name, version, size, hash, URL) goes.
    c.fields.retain(RELATION_FIELDS);
    Ok(c)
}

/// The fields of an index entry that resolving and fetching need: the rest (descriptions,
/// tags, maintainers) is most of an index and is not kept.
pub(super) const INDEX_FIELDS: &[&str] = &[
    "Package",
    "Version",
    "Architecture",
    "Depends",
    "Pre-Depends",
    "Provides",
    "Conflicts",
    "Breaks",
    "Multi-Arch",
    "Filename",
    "Size",
    "SHA256",
];

/// An index as fetched: its URL, its suffix (`.xz`, `.gz` or none) and its body.
type FetchedIndex<'a> = (String, &'static str, IndexBody<'a>);

/// The body of an index as downloaded (or taken from the cache), checked against the
/// Release file; `plain`, when given, is where the decompressed text is stored if it
/// hashes to what the Release file lists for the plain index.
pub(super) struct IndexBody<'a> {
    pub(super) bytes: Vec<u8>,
    pub(super) plain: Option<(&'a DebCache, ReleaseFile)>,
}

/// Reads one `Packages` index as [`fetch_index`] fetches it, or from the cache: its text,
/// checked against the Release file, and scanned.
fn load_index(
    fetcher: &Fetcher,
    dist: &str,
    index: &str,
    listed: &[ReleaseFile],
) -> Result<Option<IndexText>, DebsError> {
    let plain = listed.iter().find(|f| f.path == index);
    if let (Some(cache), Some(entry)) = (fetcher.cache, plain) {
        check_inside(dist, index, "the index path", (&join(dist, "Release"), 0))?;
        if let Some(text) = cached_index(cache, &join(dist, index), entry)? {
            return Ok(Some(text));
        }
    }
    let Some((url, suffix, body)) = fetch_index(fetcher, dist, index, listed)? else {
        return Ok(None);
    };
    let started = std::time::Instant::now();
    let text = index_text(body, suffix, &url)?;
    let stanzas = scan_index(&text, &url)?;
    tracing::debug!(
        "{url}: {} entries read in {:?}",
        stanzas.len(),
        started.elapsed()
    );
    Ok(Some(IndexText { url, text, stanzas }))
}

/// [`scan::scan`] of the index at `url`.
fn scan_index(text: &str, url: &str) -> Result<Vec<scan::Stanza>, DebsError> {
    scan::scan(text, INDEX_FIELDS, &REQUIRED).map_err(|(line, message)| DebsError::Index {
        source_name: url.to_string(),
        line,
        message,
    })
}

/// The plain index at `url` as the cache holds it, hashed on a thread of its own while it
/// is scanned (the scan's result counts only once the hash is the one the Release file
/// lists); `Ok(None)` when the cache does not hold it or its copy is damaged (then it is
/// removed).
fn cached_index(
    cache: &DebCache,
    url: &str,
    entry: &ReleaseFile,
) -> Result<Option<IndexText>, DebsError> {
    let started = std::time::Instant::now();
    let Some(bytes) = cache.get_bytes_unchecked(&entry.sha256, entry.size) else {
        return Ok(None);
    };
    let matches = |bytes: &[u8]| crate::hashing::sha256_hex(bytes) == entry.sha256;
    let text = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) if matches(e.as_bytes()) => return Err(not_utf8(e.as_bytes(), url)),
        Err(_) => {
            cache.discard_entry(&entry.sha256);
            return Ok(None);
        }
    };
    let (matched, stanzas) = std::thread::scope(|scope| {
        let hashing = scope.spawn(|| matches(text.as_bytes()));
        let stanzas = scan_index(&text, url);
        (hashing.join().unwrap_or(false), stanzas)
    });
    if !matched {
        cache.discard_entry(&entry.sha256);
        return Ok(None);
    }
    let stanzas = stanzas?;
    tracing::debug!(
        "{url}: {} entries read from the cache in {:?}",
        stanzas.len(),
        started.elapsed()
    );
    Ok(Some(IndexText {
        url: url.to_string(),
        text,
        stanzas,
    }))
}

/// The error for an index at `url` that is not UTF-8 text, naming the line.
fn not_utf8(bytes: &[u8], url: &str) -> DebsError {
    let valid = match std::str::from_utf8(bytes) {
        Ok(_) => bytes,
        Err(e) => &bytes[..e.valid_up_to()],
    };
    DebsError::Index {
        source_name: url.to_string(),
        line: valid.iter().filter(|&&b| b == b'\n').count() + 1,
        message: "not UTF-8".into(),
    }
}

/// Fetches one `Packages` index, preferring .xz, then .gz, then plain, among the
/// variants the Release file lists; checks it against the Release hash. Returns its URL,
/// its suffix and its (compressed) bytes, and, with a cache, where to store the plain text
/// (kept so that a warm run does not decompress it again).
fn fetch_index<'a>(
    fetcher: &Fetcher<'a>,
    dist: &str,
    index: &str,
    listed: &[ReleaseFile],
) -> Result<Option<FetchedIndex<'a>>, DebsError> {
    let plain = listed.iter().find(|f| f.path == index);
    for suffix in [".xz", ".gz", ""] {
        let path = format!("{index}{suffix}");
        let Some(entry) = listed.iter().find(|f| f.path == path) else {
            continue;
        };
        check_inside(
            dist,
            &entry.path,
            "the index path",
            (&join(dist, "Release"), 0),
        )?;
        let url = join(dist, &path);
        let Some(bytes) = fetcher.get_checked(&url, entry.size, &entry.sha256)? else {
            continue;
        };
        let plain = match (fetcher.cache, plain) {
            (Some(cache), Some(entry)) if !suffix.is_empty() => Some((cache, entry.clone())),
            _ => None,
        };
        return Ok(Some((url, suffix, IndexBody { bytes, plain })));
    }
    Ok(None)
}

/// The plain text of an index: decompressed (`suffix` says how) from the bytes the
/// Release file vouched for, storing it in the cache when it hashes to the plain index's
/// entry, or as the cache held it (checked against that entry as it was read).
pub(super) fn index_text(body: IndexBody, suffix: &str, url: &str) -> Result<String, DebsError> {
    let IndexBody { bytes, plain } = body;
    let room = plain.as_ref().map_or(bytes.len() * 4, |(_, e)| {
        usize::try_from(e.size).unwrap_or(0)
    });
    let mut text = Vec::with_capacity(room + 1);
    let read = match suffix {
        ".xz" => super::super::deb::xz_reader(bytes.as_slice())
            .read_to_end(&mut text)
            .map_err(super::super::deb::xz_error),
        ".gz" => flate2::read::GzDecoder::new(bytes.as_slice()).read_to_end(&mut text),
        _ => {
            text.extend_from_slice(&bytes);
            Ok(text.len())
        }
    };
    read.map_err(|e| DebsError::Index {
        source_name: url.to_string(),
        line: 0,
        message: format!("cannot decompress: {e}"),
    })?;
    // Stored only if it hashes to the plain index the Release file lists.
    if let Some((cache, entry)) = plain
        && let Some(mut copy) = cache.writer(&entry.sha256, entry.size)
        && copy.write_all(&text).is_ok()
    {
        copy.finish();
    }
    String::from_utf8(text).map_err(|e| not_utf8(e.as_bytes(), url))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_paths_stay_inside_the_repository() {
        for ok in [
            "pool/main/j/jq/jq_1.6_amd64.deb",
            "./pool/a.deb",
            "pool/main/f/foo/foo_1%3a2.0_amd64.deb",
            "a..b/c..deb",
            "main/binary-amd64/Packages.xz",
        ] {
            assert!(inside_repo(ok), "{ok}");
        }
        for bad in [
            "",
            "/etc/passwd",
            "pool/main/../../../outside/x.deb",
            "..",
            "pool/..",
            "pool/%2e%2e/%2E%2E/x.deb",
            "pool%2f..%2fx.deb",
            "pool\\..\\x.deb",
            "pool/x.deb?y",
            "pool/x.deb#y",
            "pool/x\n.deb",
        ] {
            assert!(!inside_repo(bad), "{bad:?}");
        }
    }

    #[test]
    fn text_that_is_not_utf8_is_named_by_its_line() {
        let body = IndexBody {
            bytes: b"Package: a\nVersion: 1\nDescription: \xff\n".to_vec(),
            plain: None,
        };
        match index_text(body, "", "Packages") {
            Err(DebsError::Index { line, message, .. }) => {
                assert_eq!((line, message.as_str()), (3, "not UTF-8"));
            }
            other => panic!("{other:?}"),
        }
    }
}
