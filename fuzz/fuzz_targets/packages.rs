//! deb822 `Packages`/`Release` text: parsing never panics; a parsed paragraph prints to
//! text that parses back to the same fields; relations, versions, the Release hash list,
//! the index field order and the dependency resolver accept or refuse what was parsed
//! without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use seedforge::debs::control::{Paragraph, index_order, parse_paragraphs, release_sha256};
use seedforge::debs::repo::{Candidate, Location, Verification};
use seedforge::debs::version::Version;
use seedforge::debs::{Base, Request, Universe, resolve};

const RELATIONS: [&str; 6] = [
    "Depends",
    "Pre-Depends",
    "Provides",
    "Conflicts",
    "Breaks",
    "Replaces",
];

/// A candidate as a repository index would give it, or `None` where the real loader
/// refuses the paragraph.
fn candidate(p: &Paragraph) -> Option<Candidate> {
    let name = p.get("Package")?.to_string();
    let version = Version::parse(p.get("Version")?).ok()?;
    for rel in RELATIONS {
        p.relations(rel).ok()?;
    }
    Some(Candidate {
        fields: p.clone(),
        arch: p.get("Architecture")?.to_string(),
        size: p.get("Size").and_then(|s| s.parse().ok()).unwrap_or(0),
        sha256: p.get("SHA256").unwrap_or_default().to_ascii_lowercase(),
        location: Location::Remote {
            base: "".into(),
            path: String::new(),
        },
        name,
        version,
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = Base::parse(text, "/fuzz/base.txt");
    let Ok(paragraphs) = parse_paragraphs(text) else {
        return;
    };
    for p in &paragraphs {
        // A comment line is only recognised before a paragraph's first field, so a field
        // named `#…` cannot come first again; everything else must print and parse back.
        if !p.fields().first().is_some_and(|(k, _)| k.starts_with('#')) {
            let printed = p.to_string();
            let again = parse_paragraphs(&printed).expect("a printed paragraph parses");
            assert_eq!(again.len(), 1, "{printed:?} parses into {} paragraphs", again.len());
            assert_eq!(again[0].fields(), p.fields(), "{printed:?} changed on reparse");
        }
        let _ = release_sha256(p);
        let ordered = index_order(p);
        assert!(ordered.fields().len() <= p.fields().len());
        for rel in RELATIONS {
            if let Ok(relations) = p.relations(rel) {
                for r in relations {
                    let _ = r.to_string();
                }
            }
        }
    }
    // Resolve the first few packages against the paragraphs that make candidates.
    let candidates: Vec<Candidate> = paragraphs.iter().filter_map(candidate).take(64).collect();
    let requests: Vec<Request> = candidates
        .iter()
        .take(4)
        .filter_map(|c| c.name.parse().ok())
        .collect();
    if requests.is_empty() {
        return;
    }
    let universe = Universe {
        candidates,
        arch: "amd64".into(),
        verification: Verification::LocalFiles,
        origin: "the fuzz repository".into(),
        suggested: Vec::new(),
    };
    let base = Base::parse("", "/fuzz/base.txt").expect("an empty base parses");
    let _ = resolve(&universe, &requests, &base);
});
