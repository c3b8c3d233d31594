//! The fuzz targets' bodies, one function a target, each taking the fuzzer's input and
//! panicking on what the target forbids.
//!
//! Two callers share them, so what the fuzzer runs and what `cargo test` runs cannot drift
//! apart: the cargo-fuzz targets in `fuzz_targets/` (this file is the `seedforge-fuzz`
//! crate's library; each target is one `fuzz_target!` line calling its function) and the
//! ordinary test `tests/fuzz_corpus.rs`, which includes this file as a module and runs every
//! committed seed (`fuzz/seeds/<target>/`), every local crash (`fuzz/artifacts/<target>/`)
//! and the local corpus (`fuzz/corpus/<target>/`) through them. The test is built and
//! linted with the rest of the tests, so a change in the library that breaks a target
//! breaks the build there, without cargo-fuzz.

use seedforge::config::Config;
use seedforge::debs::control::{Paragraph, index_order, parse_paragraphs, release_sha256};
use seedforge::debs::universe::{Candidate, Location, Verification};
use seedforge::debs::version::{Op, Version};
use seedforge::debs::{Base, Request, Universe, resolve};
use seedforge::image::{ImageList, Reference};
use seedforge::iso::{IsoImage, Namespace};
use seedforge::trust::keyless::{
    Artifact, Identity, IssuerMatch, Match, Pattern, TrustedRoot, verify_bundle,
};
use std::cmp::Ordering;
use std::io::{Cursor, Write};
use std::path::Path;

/// Image references: parsing never panics, and a parsed reference prints to a string that
/// parses back to the same reference.
pub fn reference(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(r) = Reference::parse(text) {
        let printed = r.to_string();
        let again = Reference::parse(&printed).expect("a printed reference parses");
        assert_eq!(again.to_string(), printed);
    }
}

/// Image lists: any text gives a list or an error, never a panic.
pub fn image_list(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = ImageList::parse(text, Path::new("/fuzz/images.txt"));
    }
}

/// seedforge.yaml: any text gives a config or an error with a location, never a panic.
pub fn config(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Config::parse(text, Path::new("/fuzz/seedforge.yaml"));
    }
}

/// Every relation operator, for checking each against the ordering.
const OPS: [Op; 5] = [Op::Less, Op::LessEq, Op::Eq, Op::GreaterEq, Op::Greater];

/// Debian versions: parsing never panics, a parsed version prints to text that parses back
/// to an equal version, and the ordering is a total order (antisymmetric, transitive,
/// consistent with `==` and with every relation operator) on any three versions, one per
/// line of the input (lines that do not parse are skipped).
pub fn deb_version(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let versions: Vec<Version> = text
        .split('\n')
        .take(3)
        .filter_map(|l| Version::parse(l).ok())
        .collect();
    for v in &versions {
        let again = Version::parse(&v.to_string()).expect("a printed version parses");
        assert_eq!(again.cmp(v), Ordering::Equal, "{v} != its own printout");
        assert_eq!(v.cmp(v), Ordering::Equal, "{v} is not equal to itself");
        let _ = v.without_epoch();
    }
    for a in &versions {
        for b in &versions {
            let ab = a.cmp(b);
            // Antisymmetry, and == agrees with cmp.
            assert_eq!(ab, b.cmp(a).reverse(), "{a} vs {b} is not antisymmetric");
            assert_eq!(
                a == b,
                ab == Ordering::Equal,
                "{a} == {b} disagrees with cmp"
            );
            // Every operator says what the ordering says.
            for op in OPS {
                let want = match op {
                    Op::Less => ab == Ordering::Less,
                    Op::LessEq => ab != Ordering::Greater,
                    Op::Eq => ab == Ordering::Equal,
                    Op::GreaterEq => ab != Ordering::Less,
                    Op::Greater => ab == Ordering::Greater,
                };
                assert_eq!(op.holds(a, b), want, "{a} {op} {b}");
            }
            for c in &versions {
                let bc = b.cmp(c);
                let ac = a.cmp(c);
                // Transitivity of <= and of ==.
                if ab != Ordering::Greater && bc != Ordering::Greater {
                    assert_ne!(ac, Ordering::Greater, "{a} <= {b} <= {c} but {a} > {c}");
                }
                if ab == Ordering::Equal && bc == Ordering::Equal {
                    assert_eq!(ac, Ordering::Equal, "{a} == {b} == {c} but {a} != {c}");
                }
                if ab == Ordering::Less && bc == Ordering::Less {
                    assert_eq!(ac, Ordering::Less, "{a} < {b} < {c} but not {a} < {c}");
                }
            }
        }
    }
}

/// The relation fields a package paragraph may carry.
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

/// deb822 `Packages`/`Release` text: parsing never panics; a parsed paragraph prints to
/// text that parses back to the same fields; relations, versions, the Release hash list,
/// the index field order and the dependency resolver accept or refuse what was parsed
/// without panicking.
pub fn packages(data: &[u8]) {
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
            assert_eq!(
                again.len(),
                1,
                "{printed:?} parses into {} paragraphs",
                again.len()
            );
            assert_eq!(
                again[0].fields(),
                p.fields(),
                "{printed:?} changed on reparse"
            );
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
}

/// Counts bytes instead of keeping them.
struct Sink(u64);

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The bytes before the first volume descriptor.
const SYSTEM_AREA: usize = 16 * 2048;

/// ISO 9660 images: any bytes open as an image or give an error, never a panic; every
/// entry of every tree (ISO, Rock Ridge, Joliet) lists and reads without a panic, with
/// memory and time bounded by the image size.
///
/// The input is the image from sector 16 on: the 16 sectors of the system area (which no
/// reader looks at) are put back as zeros, so the fuzzer spends no mutations there and a
/// real seed ISO fits in a small corpus file (`fuzz/seeds/iso_reader/` holds images made
/// by `seedforge iso`, genisoimage and xorriso, cut that way).
pub fn iso_reader(data: &[u8]) {
    let mut image = vec![0u8; SYSTEM_AREA];
    image.extend_from_slice(data);
    let size = image.len() as u64;
    let Ok(mut img) = IsoImage::from_reader(Cursor::new(image), size, Path::new("/fuzz/seed.iso"))
    else {
        return;
    };
    for ns in [Namespace::Iso, Namespace::RockRidge, Namespace::Joliet] {
        let Ok(entries) = img.entries(ns) else {
            continue;
        };
        for e in &entries {
            assert!(
                !e.path.is_empty() && !e.path.starts_with('/'),
                "{:?}",
                e.path
            );
            assert!(
                !e.path
                    .split('/')
                    .any(|c| c == ".." || c == "." || c.is_empty())
            );
            if e.is_dir {
                continue;
            }
            let mut sink = Sink(0);
            if let Ok(n) = img.copy_to(e, &mut sink) {
                assert_eq!(n, sink.0);
                assert_eq!(n, e.size, "{}: read {n} of {} bytes", e.path, e.size);
            }
        }
    }
}

/// .deb files: any bytes give the control paragraph or an error, never a panic, with
/// memory bounded (the ar reader, the control tarball's decompression and the control
/// text parser all see hostile input here); an accepted control paragraph has the fields
/// every later step needs. Seeds in `fuzz/seeds/deb_reader/` are real bookworm .debs cut
/// to their control part and small crafted archives.
pub fn deb_reader(data: &[u8]) {
    let len = data.len() as u64;
    if let Ok(control) = seedforge::debs::deb::read_control(&mut Cursor::new(data), len) {
        for field in ["Package", "Version", "Architecture"] {
            assert!(control.get(field).is_some(), "{field} accepted missing");
        }
    }
}

/// The files the set in `par2_set`'s folder protects: what par2cmdline's seeds were made
/// over (`fuzz/seeds/par2_set/`).
pub const PAR2_FILES: [(&str, usize, u8); 3] =
    [("alpha", 3000, 1), ("beta", 5000, 2), ("c/delta", 700, 3)];

/// The bytes of `PAR2_FILES`' file made from `seed`.
pub fn par2_file(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| {
            (i as u8)
                .wrapping_mul(31)
                .wrapping_add(seed)
                .rotate_left(u32::from(seed) % 8)
        })
        .collect()
}

/// Every name under `dir`, relative, sorted.
fn names_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            out.push(p.strip_prefix(dir).unwrap_or(&p).display().to_string());
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(p);
            }
        }
    }
    out.sort();
    out
}

/// PAR 2.0 recovery sets: any bytes as a set's index (`export.par2`, in a folder with the
/// files of `PAR2_FILES`, `c/delta` one of them lost) give a set or an error, never a panic; a
/// set read is within the bounds (a slice a positive multiple of 4 up to 1 GiB, at most
/// 32,768 slices, names relative paths of plain components, exponents below 65,535); its
/// check and, when it finds a loss it can rebuild, its repair (to temporary files, not
/// committed) never panic, and leave the folder and the one above it as they were.
pub fn par2_set(data: &[u8]) {
    use seedforge::par2;
    let scratch = std::env::temp_dir().join(format!("seedforge-fuzz-par2-{}", std::process::id()));
    let dir = scratch.join("set");
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(dir.join("c")).expect("a scratch folder");
    for (name, len, seed) in PAR2_FILES.iter().take(2) {
        std::fs::write(dir.join(name), par2_file(*len, *seed)).expect("a file");
    }
    std::fs::write(dir.join("export.par2"), data).expect("the set");
    let before = names_under(&scratch);
    if let Ok(set) = par2::check::load(&dir, "export") {
        let slice = set.info.slice;
        assert!(slice > 0 && slice.is_multiple_of(4) && slice <= par2::MAX_SLICE);
        assert!(set.info.slice_count() as u64 <= par2::MAX_SLICES);
        for f in &set.info.files {
            assert!(par2::valid_name(&f.name), "{:?}", f.name);
        }
        assert!(set.recovery.keys().all(|e| *e < 65_535));
        if let Ok(report) = par2::check::check(&dir, &set, &|_| false)
            && !report.is_sound()
            && report.repairable()
            && let Ok(rebuilt) = par2::repair::repair(&dir, &set, &report, 1 << 20)
        {
            par2::repair::discard(rebuilt);
        }
    }
    assert_eq!(
        names_under(&scratch),
        before,
        "written in the folder or beside it"
    );
    let _ = std::fs::remove_dir_all(&scratch);
}

/// A trusted root with nothing in it, for a bundle given alone.
const EMPTY_ROOT: &[u8] =
    br#"{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1"}"#;

/// Keyless Sigstore bundles: any input gives a signer or an error, never a panic. The input
/// is a bundle, or a trusted root, a NUL byte and a bundle (so the checks past the root are
/// reached); the bundle is checked as signing the bytes `payload` and as a DSSE statement
/// about the SHA-256 of zeros, by any identity.
pub fn keyless_bundle(data: &[u8]) {
    let (root, bundle) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (EMPTY_ROOT, data),
    };
    // The bundle is read once, strictly, by both readers: the format's and the keyless
    // verifier's. A bundle the format refuses (a key given twice, a `oneof` set twice, an
    // unknown field) is never verified, and one that verifies reads as keyless there.
    let read = seedforge::trust::bundle::Bundle::from_json(bundle);
    let Ok(root) = TrustedRoot::from_json(root) else {
        return;
    };
    let any = |field| Match::Regexp(Pattern::new(field, "").expect("an empty pattern"));
    let ids = [
        Identity {
            subject: any("subject_regexp"),
            issuer: IssuerMatch::Is(any("issuer_regexp")),
        },
        Identity {
            subject: any("subject_regexp"),
            issuer: IssuerMatch::Absent,
        },
    ];
    for artifact in [Artifact::Bytes(b"payload"), Artifact::Sha256([0; 32])] {
        if verify_bundle(bundle, artifact, &root, &ids).is_ok() {
            assert!(
                read.as_ref().is_ok_and(|b| b.is_keyless()),
                "a bundle verified that the format reads otherwise: {read:?}"
            );
        }
    }
}
