//! What a k3s binary says about itself: the releases it names (its own version) and the
//! default images it embeds (the pause image, the helm job image), read in one pass of fixed
//! memory; and the check that a binary given through `files:` is the config's release.

use super::{K3sBinaryMismatch, PreflightError};
use crate::image::Reference;
use crate::input::Location;
use std::collections::BTreeSet;
use std::io::{self, Read};
use std::path::Path;

/// The most bytes of a k3s binary read for its version (a k3s binary is under 100 MiB).
pub const K3S_BINARY_SCAN_LIMIT: u64 = 512 << 20;

/// The longest `v1.MINOR.PATCH[-PRE]` read before a `+k3s` suffix.
const MAX_RELEASE_CORE: usize = 40;

/// The image repositories a k3s binary names with their default tag, as they are read out
/// of it: the pause image (`rancher/mirrored-pause:3.6`, the `--pause-image` default; its tag
/// is numbers and dots) and the helm job image (`rancher/klipper-helm:v0.9.14-build20260210`,
/// built in since k3s#13351; its tag ends in an eight-digit date). Go packs strings without
/// separators, so only tags whose end can be told are read: klipper-lb's (`v0.4.14`) and the
/// images of the packaged manifests (compressed inside the binary) are not.
const EMBEDDED: &[(&str, TagShape)] = &[
    ("rancher/mirrored-pause:", TagShape::Numbers),
    ("rancher/klipper-helm:", TagShape::Build),
];

/// How the end of an embedded image's tag is told.
#[derive(Debug, Clone, Copy)]
enum TagShape {
    /// `3.6`, `3.10.2`: two or three groups of digits.
    Numbers,
    /// `v0.9.14-build20260210`: a version, `-build` and eight digits.
    Build,
}

/// What a k3s binary says about itself: the releases it names and the images it defaults
/// to (full references, `docker.io/rancher/mirrored-pause:3.6`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BinaryFacts {
    /// `v1.33.1+k3s1`, …
    pub releases: BTreeSet<String>,
    /// The images of [`EMBEDDED`]'s repositories it names.
    pub images: BTreeSet<String>,
}

impl BinaryFacts {
    /// The facts as one line of words (the build state remembers them by the binary's stat).
    pub fn to_words(&self) -> String {
        let words: Vec<&str> = self
            .releases
            .iter()
            .chain(&self.images)
            .map(String::as_str)
            .collect();
        words.join(" ")
    }

    /// [`BinaryFacts::to_words`] read back: an image has a `/`, a release none.
    pub fn from_words(words: &str) -> Self {
        let mut facts = Self::default();
        for word in words.split_whitespace() {
            if word.contains('/') {
                facts.images.insert(word.to_string());
            } else {
                facts.releases.insert(word.to_string());
            }
        }
        facts
    }

    /// The one image of `repository` the binary names (`docker.io/rancher/mirrored-pause`);
    /// `None` when it names none, or several (then which is the default cannot be told).
    pub fn image(&self, repository: &str) -> Option<Reference> {
        let mut of = self
            .images
            .iter()
            .filter_map(|i| Reference::parse(i).ok())
            .filter(|r| r.name() == repository);
        let one = of.next()?;
        of.next().is_none().then_some(one)
    }

    /// Every image the binary names unambiguously, one per repository.
    pub fn defaults(&self) -> Vec<Reference> {
        let repositories: BTreeSet<String> = self
            .images
            .iter()
            .filter_map(|i| Reference::parse(i).ok())
            .map(|r| r.name().to_string())
            .collect();
        repositories.iter().filter_map(|r| self.image(r)).collect()
    }
}

/// The k3s release names (`v1.33.1+k3s1`, `v1.34.0-rc1+k3s1`) in the first `limit` bytes of
/// `reader`, read block by block (a name across two blocks is found too), so a binary of
/// any size takes a fixed amount of memory. A k3s binary embeds its own version in this
/// form; Kubernetes' and containerd's (`v1.33.1-k3s1`, `v2.0.5-k3s1`) are not matched.
pub fn k3s_versions_in(reader: &mut dyn Read, limit: u64) -> io::Result<BTreeSet<String>> {
    Ok(k3s_binary_facts(reader, limit)?.releases)
}

/// The releases ([`k3s_versions_in`]) and the default images ([`EMBEDDED`]) named in the
/// first `limit` bytes of `reader`, in one pass of fixed memory.
pub fn k3s_binary_facts(reader: &mut dyn Read, limit: u64) -> io::Result<BinaryFacts> {
    const BLOCK: usize = 64 << 10;
    // A name ends at most this far after its `+` (`+k3s` and two digits), an image at
    // most this far after its repository's first byte.
    const AFTER: usize = 64;
    const KEEP: usize = MAX_RELEASE_CORE + AFTER;
    let mut found = BinaryFacts::default();
    let mut buf = vec![0u8; KEEP + BLOCK];
    // The bytes kept at the front from the round before, and how many of them were
    // looked at already.
    let (mut carried, mut scanned) = (0, 0);
    let mut reader = reader.take(limit);
    loop {
        let n = match reader.read(&mut buf[carried..]) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let end = carried + n;
        // A `+` or an `r` this close to the end may start a name the next block completes.
        let settled = if n == 0 {
            end
        } else {
            end.saturating_sub(AFTER)
        };
        let data = &buf[..end];
        let mut at = scanned;
        while at < settled {
            let Some(i) = data[at..settled]
                .iter()
                .position(|&b| b == b'+' || b == b'r')
            else {
                break;
            };
            let here = at + i;
            if data[here] == b'+' {
                if let Some(name) = release_name_at(data, here) {
                    found.releases.insert(name);
                }
            } else if let Some(image) = image_at(&data[here..]) {
                found.images.insert(image);
            }
            at = here + 1;
        }
        if n == 0 {
            return Ok(found);
        }
        let keep = KEEP.min(end);
        buf.copy_within(end - keep..end, 0);
        scanned = settled.max(scanned).saturating_sub(end - keep);
        carried = keep;
    }
}

/// The image of an [`EMBEDDED`] repository that starts `data`, if one does.
fn image_at(data: &[u8]) -> Option<String> {
    let (repository, shape) = EMBEDDED
        .iter()
        .find(|(r, _)| data.starts_with(r.as_bytes()))?;
    let rest = &data[repository.len()..];
    let len = match shape {
        TagShape::Numbers => numbers_tag(rest)?,
        TagShape::Build => build_tag(rest)?,
    };
    let tag = std::str::from_utf8(&rest[..len]).ok()?;
    Some(format!("docker.io/{repository}{tag}"))
}

/// The length of a `3.6` or `3.10.2` tag at the start of `data`.
fn numbers_tag(data: &[u8]) -> Option<usize> {
    let mut len = 0;
    let mut groups = 0;
    loop {
        let digits = data[len..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        if digits == 0 || digits > 3 {
            return None;
        }
        len += digits;
        groups += 1;
        if groups == 3
            || data.get(len) != Some(&b'.')
            || !data.get(len + 1).is_some_and(u8::is_ascii_digit)
        {
            break;
        }
        len += 1;
    }
    (groups >= 2).then_some(len)
}

/// The length of a `v0.9.14-build20260210` tag at the start of `data`.
fn build_tag(data: &[u8]) -> Option<usize> {
    let mut len = 1;
    if data.first() != Some(&b'v') {
        return None;
    }
    for group in 0..3 {
        let digits = data[len..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        if digits == 0 || digits > 3 {
            return None;
        }
        len += digits;
        if group < 2 {
            if data.get(len) != Some(&b'.') {
                return None;
            }
            len += 1;
        }
    }
    let rest = data[len..].strip_prefix(b"-build")?;
    (rest.len() >= 8 && rest[..8].iter().all(u8::is_ascii_digit))
        .then_some(len + "-build".len() + 8)
}

/// The release name whose `+` is at `plus` in `data`, if it is one.
fn release_name_at(data: &[u8], plus: usize) -> Option<String> {
    let rest = &data[plus..];
    let digits = rest
        .strip_prefix(b"+k3s")?
        .iter()
        .take(2)
        .take_while(|b| b.is_ascii_digit())
        .count();
    if digits == 0 {
        return None;
    }
    let start = plus.saturating_sub(MAX_RELEASE_CORE);
    let before = &data[start..plus];
    let v = before.windows(3).rposition(|w| w == b"v1.")?;
    let core = std::str::from_utf8(&before[v..]).ok()?;
    let (numbers, pre) = match core.split_once('-') {
        Some((n, p)) => (n, Some(p)),
        None => (core, None),
    };
    let mut parts = numbers.strip_prefix("v1.")?.split('.');
    let (minor, patch) = (parts.next()?, parts.next()?);
    if parts.next().is_some()
        || [minor, patch]
            .iter()
            .any(|p| p.is_empty() || p.len() > 3 || !p.bytes().all(|b| b.is_ascii_digit()))
        || pre.is_some_and(|p| {
            p.is_empty() || !p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.')
        })
    {
        return None;
    }
    let suffix = std::str::from_utf8(&rest[..4 + digits]).ok()?;
    Some(format!("{core}{suffix}"))
}

/// Refuses the k3s binary at `path` (the `files:` entry `name` at `at` in `config`) when it
/// names k3s releases and `expected` is not one of them. A binary that names none (not a
/// k3s binary, or one built without its version) passes, and so does one that cannot be
/// read: reading it for the payload reports why.
pub fn check_k3s_binary(
    expected: &str,
    path: &Path,
    config: &Path,
    at: Location,
    name: &str,
) -> Result<(), PreflightError> {
    let Ok(mut file) = crate::input::open_regular(path) else {
        return Ok(());
    };
    let Ok(found) = k3s_versions_in(&mut file, K3S_BINARY_SCAN_LIMIT) else {
        return Ok(());
    };
    check_k3s_releases(expected, found, path, config, at, name)
}

/// [`check_k3s_binary`] of the releases `found` in the binary at `path` (read before, or
/// remembered from a read of the same file).
pub fn check_k3s_releases(
    expected: &str,
    found: BTreeSet<String>,
    path: &Path,
    config: &Path,
    at: Location,
    name: &str,
) -> Result<(), PreflightError> {
    if found.is_empty() || found.contains(expected) {
        return Ok(());
    }
    Err(PreflightError::K3sBinaryVersion(Box::new(
        K3sBinaryMismatch {
            config: config.to_path_buf(),
            at,
            name: name.to_string(),
            path: path.to_path_buf(),
            found: found.into_iter().take(3).collect(),
            expected: expected.to_string(),
            hop: super::hop_of_binary(name).is_some(),
        },
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that hands out at most `step` bytes per read.
    struct Trickle<'a> {
        data: &'a [u8],
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.step.min(buf.len()).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    fn versions(data: &[u8], step: usize, limit: u64) -> Vec<String> {
        k3s_versions_in(&mut Trickle { data, step }, limit)
            .unwrap()
            .into_iter()
            .collect()
    }

    #[test]
    fn a_k3s_binarys_own_version_is_found_wherever_it_lies() {
        // Go packs strings without separators; Kubernetes' and containerd's versions
        // (`-k3s1`) are not k3s releases.
        let text = b"\x00go1.24.2v1.33.1-k3s1v2.0.5-k3s1xv1.33.1+k3s1github.com/k3s-io\x7fELF";
        for step in [1, 3, 7, 1 << 20] {
            assert_eq!(versions(text, step, u64::MAX), ["v1.33.1+k3s1"], "{step}");
        }
        assert_eq!(
            versions(b"k3s version v1.34.0-rc1+k3s2 (abc)", 5, u64::MAX),
            ["v1.34.0-rc1+k3s2"]
        );
        assert!(versions(b"v1.33.1 +k3s1 v1.x.1+k3s1 v1.33.1+k3sX", 4, u64::MAX).is_empty());
        // Across the reader's blocks, at every offset around a block's end.
        let name = b"v1.32.10+k3s1";
        for shift in 0..40 {
            let mut data = vec![b'x'; (64 << 10) - 20 + shift];
            data.extend_from_slice(name);
            data.extend_from_slice(&[b'y'; 100]);
            for step in [64 << 10, 1000, 13] {
                assert_eq!(
                    versions(&data, step, u64::MAX),
                    ["v1.32.10+k3s1"],
                    "{shift} {step}"
                );
            }
            // Nothing past the limit is read.
            assert!(versions(&data, 4096, (64 << 10) - 21).is_empty(), "{shift}");
        }
        // Two releases in one file are both named.
        let two = b"v1.33.1+k3s1 and v1.33.2+k3s1";
        assert_eq!(versions(two, 2, u64::MAX), ["v1.33.1+k3s1", "v1.33.2+k3s1"]);
    }

    #[test]
    fn a_k3s_binary_of_another_release_is_refused_one_naming_none_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let binary = dir.path().join("k3s");
        let at = Location {
            line: 40,
            column: 5,
        };
        let check = |expected: &str| {
            check_k3s_binary(
                expected,
                &binary,
                Path::new("lab/seedforge.yaml"),
                at,
                "bin/k3s",
            )
        };
        std::fs::write(&binary, b"\x7fELF...v1.33.0+k3s1...").unwrap();
        let err = check("v1.33.1+k3s1").unwrap_err().to_string();
        assert!(
            err.starts_with("lab/seedforge.yaml:40:5: files entry \"bin/k3s\""),
            "{err}"
        );
        assert!(err.contains("is k3s v1.33.0+k3s1"), "{err}");
        assert!(err.contains("cluster.k3s_version is v1.33.1+k3s1"), "{err}");
        check("v1.33.0+k3s1").unwrap();
        std::fs::write(&binary, b"#!/bin/sh\necho a stand-in\n").unwrap();
        check("v1.33.1+k3s1").unwrap();
        // Missing: the payload's own read says so.
        check_k3s_binary(
            "v1.33.1+k3s1",
            &dir.path().join("none"),
            Path::new("c"),
            at,
            "bin/k3s",
        )
        .unwrap();
    }

    fn facts(data: &[u8], step: usize) -> BinaryFacts {
        k3s_binary_facts(&mut Trickle { data, step }, u64::MAX).unwrap()
    }

    #[test]
    fn a_k3s_binarys_default_images_are_read_where_their_tags_end_is_told() {
        // Go packs its strings without separators: the tag's shape tells where it ends.
        let text = b"\x00--pause-imagerancher/mirrored-pause:3.10.2rancher/klipper-helm:v0.13.3-build20260727v0.4.17v1.37.1+k3s1\x7fELF";
        for step in [1, 5, 64, 1 << 20] {
            let f = facts(text, step);
            assert_eq!(
                f.releases.iter().collect::<Vec<_>>(),
                ["v1.37.1+k3s1"],
                "{step}"
            );
            assert_eq!(
                f.images.iter().collect::<Vec<_>>(),
                [
                    "docker.io/rancher/klipper-helm:v0.13.3-build20260727",
                    "docker.io/rancher/mirrored-pause:3.10.2"
                ],
                "{step}"
            );
            assert_eq!(
                f.image("docker.io/rancher/mirrored-pause").unwrap().tag(),
                Some("3.10.2")
            );
            assert_eq!(f.defaults().len(), 2);
            // Remembered as words and read back the same.
            assert_eq!(BinaryFacts::from_words(&f.to_words()), f);
        }
        // Around a block's end, at every offset.
        for shift in 0..70 {
            let mut data = vec![b'x'; (64 << 10) - 40 + shift];
            data.extend_from_slice(b"rancher/mirrored-pause:3.6");
            data.extend_from_slice(&[b'y'; 100]);
            let f = facts(&data, 64 << 10);
            assert_eq!(
                f.images.iter().collect::<Vec<_>>(),
                ["docker.io/rancher/mirrored-pause:3.6"],
                "{shift}"
            );
        }
        // Not a tag of the shape: nothing is read.
        for bad in [
            &b"rancher/mirrored-pause:latest"[..],
            b"rancher/mirrored-pause:3",
            b"rancher/mirrored-pause:",
            b"rancher/klipper-helm:v0.13.3",
            b"rancher/klipper-helm:v0.13.3-build2026",
        ] {
            assert!(
                facts(bad, 3).images.is_empty(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        // `3.6.` ends at the dot; two pause images say nothing of which is the default.
        let two = facts(
            b"rancher/mirrored-pause:3.6.rancher/mirrored-pause:3.10.2",
            7,
        );
        assert_eq!(two.images.len(), 2);
        assert!(two.image("docker.io/rancher/mirrored-pause").is_none());
        assert!(two.defaults().is_empty());
    }
}
