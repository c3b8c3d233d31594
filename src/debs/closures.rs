//! Resolved closures kept in the download cache: a bundle whose closure was resolved from
//! the same inputs before is not resolved again, and no index is read for it, wherever the
//! bundle is written (a pipeline's usual case: the cache kept, the workspace new).
//!
//! A closure is filed under a key, the SHA-256 of what it is resolved from: the bundle's
//! definition (less where its base file is), the requests (sets expanded), the base file's
//! SHA-256, the writer (this seedforge's version and commit) and what pins every candidate
//! (each repository's Release text by its SHA-256, fetched and checked anew by every run,
//! and each local .deb by its own): what [`super::unchanged::inputs`] hashes, less the
//! timestamp, which changes no closure. A new Release file is a new key: the index is read
//! and resolved again.
//!
//! The file holds the closure and, in its order, each chosen candidate as the index entry
//! gave it: name, version, architecture, size, SHA-256, the relation fields, and its
//! repository's URL with the entry's `Filename` (none for a local .deb, which is taken from
//! the .debs read for the pins). It is a found file: read through [`crate::input`]
//! (regular, not through a link, capped), and one that is damaged, of another format, or
//! names what the bundle's sources do not have (another repository, a path out of it, a
//! local .deb not read) is a miss, never an error.

use super::cache::DebCache;
use super::control::Paragraph;
use super::repo::{PackageSource, inside_repo};
use super::resolve::Closure;
use super::universe::{Candidate, Location, Universe};
use super::version::Version;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Format version of a closure file; one of another version is a miss.
const FORMAT: u32 = 2;

/// A closure file.
#[derive(Debug, Serialize, Deserialize)]
pub struct Stored {
    format: u32,
    /// The key it is filed under ([`key`]).
    key: String,
    /// The closure (its candidates are `chosen`, in order).
    closure: Closure,
    /// The closure's candidates.
    chosen: Vec<StoredCandidate>,
}

/// One chosen candidate as a closure file holds it.
#[derive(Debug, Serialize, Deserialize)]
struct StoredCandidate {
    name: String,
    version: String,
    arch: String,
    size: u64,
    sha256: String,
    /// The fields the candidate kept (its relations), in order.
    fields: Vec<(String, String)>,
    /// The repository's URL and the entry's `Filename`; `None` for a local .deb.
    repo: Option<(String, String)>,
}

/// The key of the closure resolved from `spec` (the bundle's definition, as JSON),
/// `requests`, the base file's SHA-256 and `pins` (see the module's doc). Where the base
/// file is does not count, only what it says: a bundle whose base is written anew beside
/// each new output has one key.
pub fn key(
    spec: &serde_json::Value,
    requests: &[String],
    base_sha256: Option<&str>,
    pins: &[String],
) -> String {
    let mut spec = spec.clone();
    if let Some(base) = spec.get_mut("base") {
        *base = serde_json::Value::Bool(base_sha256.is_some());
    }
    let doc = serde_json::json!({
        "closure": FORMAT,
        "writer": super::unchanged::writer(),
        "spec": spec,
        "requests": requests,
        "base": base_sha256,
        "pins": pins,
    });
    crate::hashing::sha256_hex(doc.to_string().as_bytes())
}

/// Files `closure`, whose candidates are `chosen` (in its order), under `key`. A closure
/// that cannot be filed is only a slower next run.
pub fn save(cache: &DebCache, key: &str, closure: &Closure, chosen: &[&Candidate]) {
    let chosen = chosen
        .iter()
        .map(|c| StoredCandidate {
            name: c.name.clone(),
            version: c.version.to_string(),
            arch: c.arch.clone(),
            size: c.size,
            sha256: c.sha256.clone(),
            fields: c.fields.fields().to_vec(),
            repo: match &c.location {
                Location::Remote { base, path } => Some((base.to_string(), path.clone())),
                Location::Local(_) => None,
            },
        })
        .collect();
    let stored = Stored {
        format: FORMAT,
        key: key.to_string(),
        closure: closure.clone(),
        chosen,
    };
    if let Ok(bytes) = serde_json::to_vec(&stored) {
        cache.put_closure(key, &bytes);
    }
}

/// The closure filed under `key`, if there is a whole one of this format whose repository
/// candidates come from `sources` (see the module's doc).
pub fn load(cache: &DebCache, key: &str, sources: &[PackageSource]) -> Option<Stored> {
    let bytes = cache.closure(key)?;
    let stored = serde_json::from_slice::<Stored>(&bytes).ok()?;
    let sound = stored.format == FORMAT
        && stored.key == key
        && stored.closure.packages.len() == stored.chosen.len()
        && (stored.closure.packages.iter().zip(&stored.chosen))
            .all(|(r, c)| r.name == c.name && r.version == c.version && r.arch == c.arch)
        && stored.chosen.iter().all(|c| sound(c, sources));
    if !sound {
        tracing::debug!("cached closure {key}: not used");
    }
    sound.then_some(stored)
}

/// Whether `c` is a candidate `sources` could have given.
fn sound(c: &StoredCandidate, sources: &[PackageSource]) -> bool {
    let from_repo = match &c.repo {
        None => sources.iter().any(|s| matches!(s, PackageSource::Debs(_))),
        Some((url, path)) => {
            inside_repo(path)
                && sources
                    .iter()
                    .any(|s| matches!(s, PackageSource::Repo(r) if r.url == *url))
        }
    };
    from_repo
        && !c.name.is_empty()
        && !c.arch.is_empty()
        && c.sha256.len() == 64
        && c.sha256
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        && Version::parse(&c.version).is_ok_and(|v| v.to_string() == c.version)
}

impl Stored {
    /// The candidates of the closure, in its order, and the closure indexing them: a
    /// local .deb is the one of `universe` (the local .debs read for the pins) with the
    /// same name, version, architecture and SHA-256. `None` when one is not there.
    pub fn candidates(self, universe: &Universe) -> Option<(Vec<Candidate>, Closure)> {
        let mut candidates = Vec::with_capacity(self.chosen.len());
        for c in self.chosen {
            let version = Version::parse(&c.version).ok()?;
            let candidate = match c.repo {
                None => universe
                    .candidates
                    .iter()
                    .find(|u| {
                        matches!(u.location, Location::Local(_))
                            && (u.name == c.name && u.version == version)
                            && (u.arch == c.arch && u.sha256 == c.sha256)
                    })?
                    .clone(),
                Some((url, path)) => {
                    let mut fields = Paragraph::default();
                    for (name, value) in c.fields {
                        fields.set(&name, value);
                    }
                    Candidate {
                        fields,
                        name: c.name,
                        version,
                        arch: c.arch,
                        size: c.size,
                        sha256: c.sha256,
                        location: Location::Remote {
                            base: Arc::from(url.as_str()),
                            path,
                        },
                    }
                }
            };
            candidates.push(candidate);
        }
        let mut closure = self.closure;
        for (i, r) in closure.packages.iter_mut().enumerate() {
            r.candidate = i;
        }
        Some((candidates, closure))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::debs::repo::RepoSpec;
    use crate::debs::resolve::Resolved;
    use crate::debs::universe::Verification;
    use std::path::PathBuf;

    const URL: &str = "http://mirror/debian";

    fn sources() -> Vec<PackageSource> {
        vec![
            PackageSource::Repo(RepoSpec {
                url: URL.into(),
                suite: "bookworm".into(),
                components: vec!["main".into()],
                keyring: None,
            }),
            PackageSource::Debs(vec![PathBuf::from("local")]),
        ]
    }

    fn candidate(name: &str, sha: u8, location: Location) -> Candidate {
        let mut fields = Paragraph::default();
        fields.set("Depends", "libc6 (>= 2.34)");
        Candidate {
            fields,
            name: name.into(),
            version: Version::parse("1:1.6-2").unwrap(),
            arch: "amd64".into(),
            size: 100 + u64::from(sha),
            sha256: crate::hashing::sha256_hex(&[sha]),
            location,
        }
    }

    fn remote(name: &str, sha: u8) -> Candidate {
        let path = format!("pool/main/{name}.deb");
        let base = Arc::from(URL);
        candidate(name, sha, Location::Remote { base, path })
    }

    fn local(name: &str, sha: u8) -> Candidate {
        candidate(name, sha, Location::Local(PathBuf::from("local/x.deb")))
    }

    fn closure_of(chosen: &[&Candidate]) -> Closure {
        Closure {
            packages: (chosen.iter().enumerate())
                .map(|(i, c)| Resolved {
                    name: c.name.clone(),
                    version: c.version.to_string(),
                    arch: c.arch.clone(),
                    size: c.size,
                    pulled_by: vec!["requested".into()],
                    // Where the resolver found it: anything but its place in `chosen`.
                    candidate: 40 + i,
                })
                .collect(),
            already_in_base: vec![],
            install: vec!["jq".parse().unwrap()],
            upgrades: vec![],
        }
    }

    fn universe(candidates: Vec<Candidate>) -> Universe {
        Universe {
            candidates,
            arch: "amd64".into(),
            verification: Verification::Unverified,
            origin: String::new(),
            suggested: vec![],
        }
    }

    fn cache() -> (tempfile::TempDir, DebCache) {
        let t = tempfile::tempdir().unwrap();
        let c = DebCache::open(t.path(), u64::MAX).unwrap();
        (t, c)
    }

    #[test]
    fn a_filed_closure_comes_back_with_its_candidates_in_its_order() {
        let (_t, cache) = cache();
        let (jq, lib, mine) = (remote("jq", 1), remote("libjq1", 2), local("mine", 3));
        let chosen = [&jq, &lib, &mine];
        let closure = closure_of(&chosen);
        let key = key(&serde_json::json!({"base": "b"}), &[], Some("x"), &[]);
        assert!(load(&cache, &key, &sources()).is_none());
        save(&cache, &key, &closure, &chosen);
        // The local .deb is the one read for the pins.
        let read = universe(vec![local("other", 4), local("mine", 3)]);
        let stored = load(&cache, &key, &sources()).unwrap();
        let (candidates, back) = stored.candidates(&read).unwrap();
        assert_eq!(candidates.len(), 3);
        for (i, (c, want)) in candidates.iter().zip(chosen).enumerate() {
            assert_eq!(
                (&c.name, &c.version, &c.arch, c.size, &c.sha256, &c.location),
                (
                    &want.name,
                    &want.version,
                    &want.arch,
                    want.size,
                    &want.sha256,
                    &want.location
                )
            );
            assert_eq!(c.fields, want.fields);
            assert_eq!(back.packages[i].candidate, i);
        }
        assert_eq!(
            serde_json::to_value(&back).unwrap(),
            serde_json::to_value(&closure).unwrap()
        );
        // A local .deb that is not among those read: none.
        let stored = load(&cache, &key, &sources()).unwrap();
        assert!(
            stored
                .candidates(&universe(vec![local("other", 4)]))
                .is_none()
        );
        // Without a .deb source, a local candidate is not one these sources give.
        assert!(load(&cache, &key, &sources()[..1]).is_none());
        // Filed under another key: not this one.
        assert!(load(&cache, &"0".repeat(64), &sources()).is_none());
    }

    #[test]
    fn a_closure_file_naming_what_the_sources_do_not_have_is_a_miss() {
        let (_t, cache) = cache();
        let jq = remote("jq", 1);
        let key = key(&serde_json::json!({}), &[], None, &[]);
        save(&cache, &key, &closure_of(&[&jq]), &[&jq]);
        let good = String::from_utf8(cache.closure(&key).unwrap()).unwrap();
        assert!(load(&cache, &key, &sources()).is_some());
        let sha = jq.sha256.as_str();
        let bad = [
            good.replace(URL, "http://elsewhere/debian"),
            good.replace("pool/main/jq.deb", "../../jq.deb"),
            good.replace("pool/main/jq.deb", "/etc/passwd"),
            good.replace(sha, &sha.to_uppercase()),
            good.replace(sha, &sha[1..]),
            good.replace(&key, &"0".repeat(64)),
            good.replace("\"format\":2", "\"format\":1"),
            // The closure's version, not the candidate's.
            good.replacen("1:1.6-2", "1:1.6-3", 1),
            good.replace("1:1.6-2", "not a version!"),
            // One package more in the closure than candidates.
            good.replace(
                "\"packages\":[{",
                "\"packages\":[{\"name\":\"x\",\"version\":\"1\",\"arch\":\"all\",\"size\":1,\"pulled_by\":[]},{",
            ),
            good[..good.len() - 1].to_string(),
            "[]".to_string(),
        ];
        for text in bad {
            assert_ne!(text, good);
            cache.put_closure(&key, text.as_bytes());
            assert!(load(&cache, &key, &sources()).is_none(), "{text}");
        }
    }

    #[test]
    fn the_key_follows_what_the_closure_is_resolved_from() {
        let spec = serde_json::json!({"name": "ops", "base": "/a/base"});
        let pins = vec!["repo http://m bookworm main ab".to_string()];
        let k = key(&spec, &["jq".into()], Some("b1"), &pins);
        // Where the base file is does not count; what it says, the pins, the requests
        // and the rest of the definition do.
        let moved = serde_json::json!({"name": "ops", "base": "/b/base"});
        assert_eq!(key(&moved, &["jq".into()], Some("b1"), &pins), k);
        assert_ne!(key(&spec, &["jq".into()], Some("b2"), &pins), k);
        assert_ne!(key(&spec, &["jq".into()], None, &pins), k);
        let new_release = vec!["repo http://m bookworm main cd".to_string()];
        assert_ne!(key(&spec, &["jq".into()], Some("b1"), &new_release), k);
        assert_ne!(key(&spec, &["curl".into()], Some("b1"), &pins), k);
        let renamed = serde_json::json!({"name": "dev", "base": "/a/base"});
        assert_ne!(key(&renamed, &["jq".into()], Some("b1"), &pins), k);
    }
}
