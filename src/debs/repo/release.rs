//! A repository's Release file: fetched (InRelease, else Release and Release.gpg), its
//! signature checked with `gpgv` against a keyring when one is given, and what it says of
//! the suite (its architectures, components and the indexes it lists).

use super::super::control::{Paragraph, ReleaseFile, parse_paragraphs, release_sha256};
use super::super::error::DebsError;
use super::super::universe::Verification;
use super::fetch::{Fetcher, join};
use super::source::RepoSpec;
use crate::leftovers::Staging;
use crate::net::Transfer;
use std::path::Path;
use std::process::Command;

/// The largest Release, InRelease or Release.gpg accepted (Debian's own are ~150 KiB).
pub const MAX_RELEASE_SIZE: u64 = 16 << 20;

/// The components a suite can be asked for, as apt reads a Release file's `Components`:
/// each as listed, and for one with a prefix (Debian's security archive lists
/// `updates/main`) also its last segment (`main`), which is what a sources.list line names
/// and what the index paths use (`main/binary-amd64/Packages`).
fn supported_components<'a>(listed: &[&'a str]) -> Vec<&'a str> {
    let mut out = Vec::with_capacity(listed.len() * 2);
    for c in listed {
        if let Some((_, last)) = c.rsplit_once('/') {
            out.push(last);
        }
        out.push(c);
    }
    out
}

/// The security suite apt's sources for a Debian release name beside `spec` (the
/// `debian-security` archive next to a `debian` one, `SUITE-security` for `SUITE`), as a
/// sources.list line `URL SUITE COMPONENT...`; `None` for a repository that is not laid
/// out as Debian's, or a suite that is already an update suite.
pub fn security_source(spec: &RepoSpec) -> Option<String> {
    let url = spec.url.trim_end_matches('/');
    let suite = spec.suite.as_str();
    if suite.ends_with('/') || suite.contains('-') || !url.ends_with("/debian") {
        return None;
    }
    Some(format!(
        "{url}-security {suite}-security {}",
        spec.components.join(" ")
    ))
}

/// A repository whose Release file is fetched and checked, before any index is read.
pub(super) struct RepoRelease {
    pub(super) dist: String,
    pub(super) release_url: String,
    pub(super) listed: Vec<ReleaseFile>,
    pub(super) indices: Vec<String>,
    pub(super) verification: Verification,
    /// The SHA-256 of the Release text: it pins every index, so every candidate.
    pub(super) digest: String,
}

/// The Release file of `spec`, fetched and checked, with the indexes to read for `arch`.
pub(super) fn fetch_repo_release(
    spec: &RepoSpec,
    arch: &str,
    fetcher: &Fetcher,
) -> Result<RepoRelease, DebsError> {
    let flat = spec.suite.ends_with('/');
    let dist = if flat {
        join(&spec.url, &spec.suite)
    } else {
        join(&spec.url, &format!("dists/{}", spec.suite))
    };
    let (release, verification, digest) = fetch_release(fetcher, &dist, spec.keyring.as_deref())?;
    let release_url = join(&dist, "Release");
    let listed = release_sha256(&release).map_err(|message| DebsError::Index {
        source_name: release_url.clone(),
        line: release.line,
        message,
    })?;
    if !flat {
        // An architecture or component the suite does not have is named as such, not as
        // every package missing.
        let wanted = [
            ("Architectures", "architecture", vec![arch.to_string()]),
            ("Components", "component", spec.components.clone()),
        ];
        for (field, what, names) in wanted {
            let Some(list) = release.get(field) else {
                continue;
            };
            let have: Vec<&str> = list.split_whitespace().collect();
            let (supported, named) = if field == "Components" {
                // Named as a sources.list line names them (`main` for `updates/main`).
                let last = have.iter().map(|c| c.rsplit('/').next().unwrap_or(c));
                (supported_components(&have), last.collect())
            } else {
                (have.clone(), have.clone())
            };
            if let Some(missing) = names.iter().find(|n| !supported.contains(&n.as_str())) {
                return Err(DebsError::Index {
                    source_name: release_url,
                    line: 0,
                    message: format!(
                        "suite {} has no {what} {missing:?}; it has: {}",
                        spec.suite,
                        named.join(", ")
                    ),
                });
            }
        }
    }
    let indices: Vec<String> = if flat {
        vec!["Packages".into()]
    } else {
        // As apt: a Release that says `No-Support-for-Architecture-all: Packages` lists
        // arch-all packages in each binary-ARCH index, and binary-all is not read.
        let all_in_arch = release
            .get("No-Support-for-Architecture-all")
            .is_some_and(|v| v.split_whitespace().any(|w| w == "Packages"));
        spec.components
            .iter()
            .flat_map(|c| {
                let mut list = vec![format!("{c}/binary-{arch}/Packages")];
                if !all_in_arch {
                    list.push(format!("{c}/binary-all/Packages"));
                }
                list
            })
            .collect()
    };
    Ok(RepoRelease {
        dist,
        release_url,
        listed,
        indices,
        verification,
        digest,
    })
}

/// Fetches InRelease (else Release and Release.gpg) and checks the signature if a keyring
/// is given; the third value is the SHA-256 of the Release text (what the signature
/// covers).
fn fetch_release(
    fetcher: &Fetcher,
    dist: &str,
    keyring: Option<&Path>,
) -> Result<(Paragraph, Verification, String), DebsError> {
    let in_url = join(dist, "InRelease");
    let (url, text, signature) =
        if let Some(bytes) = fetcher.get(&in_url, MAX_RELEASE_SIZE, Transfer::Document)? {
            let text = String::from_utf8_lossy(&bytes).into_owned();
            let body = clearsigned_body(&text).ok_or_else(|| DebsError::Index {
                source_name: in_url.clone(),
                line: 1,
                message: "not a clearsigned document".into(),
            })?;
            (in_url, body, Some((bytes, None)))
        } else {
            let url = join(dist, "Release");
            let bytes = fetcher
                .get(&url, MAX_RELEASE_SIZE, Transfer::Document)?
                .ok_or_else(|| DebsError::Fetch {
                    url: url.clone(),
                    message: "neither InRelease nor Release exists".into(),
                })?;
            let sig = fetcher.get(
                &join(dist, "Release.gpg"),
                MAX_RELEASE_SIZE,
                Transfer::Document,
            )?;
            let text = String::from_utf8_lossy(&bytes).into_owned();
            (url, text, sig.map(|s| (bytes, Some(s))))
        };
    let verification = match keyring {
        None => Verification::Unverified,
        Some(keyring) => {
            let (data, detached) = signature.ok_or_else(|| DebsError::Signature {
                url: url.clone(),
                message: "the repository has neither InRelease nor Release.gpg".into(),
            })?;
            gpgv(&url, keyring, &data, detached.as_deref(), fetcher.staging)?;
            Verification::Signed {
                keyring: keyring.to_path_buf(),
            }
        }
    };
    let mut paragraphs = parse_paragraphs(&text).map_err(|(line, message)| DebsError::Index {
        source_name: url.clone(),
        line,
        message,
    })?;
    if paragraphs.is_empty() {
        return Err(DebsError::Index {
            source_name: url,
            line: 1,
            message: "empty Release file".into(),
        });
    }
    let digest = crate::hashing::sha256_hex(text.as_bytes());
    Ok((paragraphs.remove(0), verification, digest))
}

/// The signed text of a clearsigned document, with dash-escaping removed.
fn clearsigned_body(text: &str) -> Option<String> {
    let rest = text.split_once("-----BEGIN PGP SIGNED MESSAGE-----")?.1;
    let rest = rest
        .split_once("\n\n")
        .map(|(_, r)| r)
        .or_else(|| rest.split_once("\r\n\r\n").map(|(_, r)| r))?;
    let body = rest.split_once("-----BEGIN PGP SIGNATURE-----")?.0;
    Some(
        body.lines()
            .map(|l| l.strip_prefix("- ").unwrap_or(l))
            .collect::<Vec<_>>()
            .join("\n"),
    )
}

/// Runs `gpgv --keyring KEYRING` over the signed data in a private temp dir.
fn gpgv(
    url: &str,
    keyring: &Path,
    data: &[u8],
    detached: Option<&[u8]>,
    staging: Option<&Staging>,
) -> Result<(), DebsError> {
    static RUNS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let run = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("seedforge-gpgv-{}-{run}", std::process::id()));
    let io = |e| DebsError::io(&dir, e);
    let _staged = match staging {
        Some(staging) => Some(staging.create_dir(&dir).map_err(io)?),
        None => {
            std::fs::create_dir_all(&dir).map_err(io)?;
            None
        }
    };
    let result = (|| {
        let data_path = dir.join("Release");
        std::fs::write(&data_path, data).map_err(|e| DebsError::io(&data_path, e))?;
        let mut cmd = Command::new("gpgv");
        cmd.arg("--keyring").arg(keyring);
        if let Some(sig) = detached {
            let sig_path = dir.join("Release.gpg");
            std::fs::write(&sig_path, sig).map_err(|e| DebsError::io(&sig_path, e))?;
            cmd.arg(&sig_path);
        }
        cmd.arg(&data_path);
        let out = cmd.output().map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => DebsError::MissingTool {
                tool: "gpgv".into(),
                why: "check the repository's Release signature".into(),
            },
            _ => DebsError::io("gpgv", e),
        })?;
        if out.status.success() {
            Ok(())
        } else {
            Err(DebsError::Signature {
                url: url.to_string(),
                message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            })
        }
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clearsigned_body_strips_armour_and_dash_escapes() {
        let text = "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\nOrigin: x\n- -dash\n-----BEGIN PGP SIGNATURE-----\nabc\n-----END PGP SIGNATURE-----\n";
        assert_eq!(clearsigned_body(text).unwrap(), "Origin: x\n-dash");
        assert!(clearsigned_body("Origin: x\n").is_none());
    }

    #[test]
    fn prefixed_components_are_named_by_their_last_segment_as_apt_names_them() {
        let listed = ["updates/main", "updates/contrib", "non-free"];
        let supported = supported_components(&listed);
        for c in ["main", "updates/main", "contrib", "non-free"] {
            assert!(supported.contains(&c), "{c}");
        }
        assert!(!supported.contains(&"updates"));
    }

    #[test]
    fn the_security_suite_of_a_debian_release_is_suggested() {
        let spec = |url: &str, suite: &str| RepoSpec {
            url: url.into(),
            suite: suite.into(),
            components: vec!["main".into(), "contrib".into()],
            keyring: None,
        };
        assert_eq!(
            security_source(&spec("http://deb.debian.org/debian/", "bookworm")).as_deref(),
            Some("http://deb.debian.org/debian-security bookworm-security main contrib")
        );
        for (url, suite) in [
            ("http://deb.debian.org/debian", "bookworm-updates"),
            ("http://deb.debian.org/debian-security", "bookworm-security"),
            ("http://mirror/ubuntu", "noble"),
            ("file:///srv/debian", "./"),
        ] {
            assert_eq!(security_source(&spec(url, suite)), None, "{url} {suite}");
        }
    }
}
