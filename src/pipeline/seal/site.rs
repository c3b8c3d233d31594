//! The output's site identity: 128 random bits, made once at an output's first build and
//! kept in `OUT/site.json` across every rebuild, sealed (listed in `SHA256SUMS` and
//! `manifest.json`, whose `site` field repeats it, so the seal's signature covers it).
//!
//! Two far sides built from one config folder copied (a cloned lab: the same cluster name,
//! CA, keys and join token, and so the same bytes everywhere else) are told apart by it:
//! a receipt names its output's site, a delta's record names the base's and the target's,
//! `delta` refuses a receipt of another site and `apply` a medium made for another.
//!
//! An output built by a seedforge without sites has no `site.json`: its next build makes
//! one, unless that build is `--offline` or holds only the public key of a signed output
//! (the far side's builds): those keep what they have, so a far side never makes a site of
//! its own; it takes the near side's with the next delta, which carries `site.json`.

use super::{SealError, Signer};
use std::path::Path;

/// The file that holds the site, relative to the output.
pub const SITE_FILE: &str = "site.json";

/// The site's length in hex digits (128 bits).
const HEX_LEN: usize = 32;

/// `site.json`: `{"site": "<32 hex digits>"}`.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SiteFile {
    site: String,
}

/// The bytes of `site.json` for `site`.
pub fn site_bytes(site: &str) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(&SiteFile {
        site: site.to_string(),
    })
    .unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

/// Whether `site` is a site: 32 lowercase hex digits.
pub fn is_site(site: &str) -> bool {
    site.len() == HEX_LEN && site.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The site `output/site.json` holds; `None` when there is no such file. A file that is
/// not one is refused by name (exit 2), never replaced.
pub fn read(output: &Path) -> Result<Option<String>, SealError> {
    let path = output.join(SITE_FILE);
    let bytes = match crate::input::read_found(&path, crate::input::Kind::State) {
        Ok(b) => b,
        Err(crate::input::InputError::Io { source, .. })
            if source.kind() == std::io::ErrorKind::NotFound =>
        {
            return Ok(None);
        }
        Err(e) => return Err(e.into()),
    };
    let bad = |what: String| SealError::BadManifest {
        path: path.clone(),
        message: format!(
            "{what}: the output's site identity is {{\"site\": \"<{HEX_LEN} hex digits>\"}}, made once at its first build; put back the file a copy of this output holds (nothing was written)"
        ),
    };
    let file: SiteFile =
        serde_json::from_slice(&bytes).map_err(|e| bad(format!("not a site file ({e})")))?;
    if !is_site(&file.site) {
        return Err(bad(format!("{:?} is not a site", file.site)));
    }
    Ok(Some(file.site))
}

/// The site the build of `output` seals: the one it holds, else a new one, unless the
/// build may not make one (`offline`, or only the public key of a signed output here).
pub(super) fn for_build(
    output: &Path,
    signing: Option<&Signer>,
    offline: bool,
) -> Result<Option<String>, SealError> {
    if let Some(site) = read(output)? {
        return Ok(Some(site));
    }
    if offline || matches!(signing, Some(Signer::Check { .. })) {
        return Ok(None);
    }
    new_site(output).map(Some)
}

/// 128 bits from the operating system's random source, as hex.
fn new_site(output: &Path) -> Result<String, SealError> {
    use ring::rand::SecureRandom as _;
    let mut bytes = [0u8; HEX_LEN / 2];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| SealError::Sign {
            path: output.join(SITE_FILE),
            message: "the system random source failed making the site identity".into(),
        })?;
    Ok(crate::hashing::hex(&bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_site_is_made_once_and_read_back() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path();
        assert_eq!(read(out).unwrap(), None);
        let site = for_build(out, None, false).unwrap().unwrap();
        assert!(is_site(&site), "{site}");
        assert_ne!(for_build(out, None, false).unwrap().unwrap(), site);
        std::fs::write(out.join(SITE_FILE), site_bytes(&site)).unwrap();
        assert_eq!(for_build(out, None, false).unwrap(), Some(site.clone()));
        assert_eq!(for_build(out, None, true).unwrap(), Some(site));
    }

    #[test]
    fn an_offline_build_makes_none_and_a_bad_file_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path();
        assert_eq!(for_build(out, None, true).unwrap(), None);
        std::fs::write(out.join(SITE_FILE), "{\"site\": \"XYZ\"}").unwrap();
        let e = for_build(out, None, false).unwrap_err();
        assert!(
            e.is_invalid_input() && e.to_string().contains("site.json"),
            "{e}"
        );
    }
}
