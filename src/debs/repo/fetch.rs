//! Reading a URL: `file://` from disk, `http://` and `https://` through the run's [`Net`],
//! every body bounded and, where the signed chain says what it is, checked against its
//! size and SHA-256 and taken from (or stored in) the package cache.

use super::super::cache::DebCache;
use super::super::deb::DebFile;
use super::super::error::DebsError;
use crate::leftovers::Staging;
use crate::net::{Fetch, FetchError, Net, Transfer};
use crate::report::Reporter;
use std::io::Read;
use std::path::Path;

/// Fetches files by URL: `file://` from disk, `http(s)://` through the run's [`Net`].
pub struct Fetcher<'a> {
    net: &'a Net,
    reporter: Option<&'a dyn Reporter>,
    pub(super) cache: Option<&'a DebCache>,
    /// The run's staging paths, which files made in a staging folder are made under and
    /// the signature check's scratch folder is registered with; `None` for a caller that
    /// stages nothing a signal should remove.
    pub(super) staging: Option<&'a Staging>,
}

impl<'a> Fetcher<'a> {
    /// Fetches through `net`, reporting retries to `reporter` if given.
    pub fn new(net: &'a Net, reporter: Option<&'a dyn Reporter>) -> Fetcher<'a> {
        Fetcher {
            net,
            reporter,
            cache: None,
            staging: None,
        }
    }

    /// Makes files (and the signature check's scratch folder) under `staging`.
    pub fn with_staging(mut self, staging: &'a Staging) -> Fetcher<'a> {
        self.staging = Some(staging);
        self
    }

    /// Runs `f` under [`Staging::unless_stopping`] when the fetcher has a staging set.
    fn unless_stopping<T>(&self, f: impl FnOnce() -> T) -> T {
        match self.staging {
            Some(staging) => staging.unless_stopping(f),
            None => f(),
        }
    }

    /// Takes files whose hash is known from `cache` first, and stores what it downloads.
    pub fn with_cache(mut self, cache: Option<&'a DebCache>) -> Fetcher<'a> {
        self.cache = cache;
        self
    }

    /// Reads `url`, a file the signed chain says is `size` bytes hashing to `sha256`: from
    /// the cache when it holds it, else downloaded, checked and stored in the cache.
    /// `Ok(None)` when it does not exist.
    pub fn get_checked(
        &self,
        url: &str,
        size: u64,
        sha256: &str,
    ) -> Result<Option<Vec<u8>>, DebsError> {
        if let Some(bytes) = self.cache.and_then(|c| c.get_bytes(sha256, size)) {
            return Ok(Some(bytes));
        }
        let Some(bytes) = self.get(url, size, Transfer::sized(size))? else {
            return Ok(None);
        };
        let actual = crate::hashing::sha256_hex(&bytes);
        check_sums(url, (bytes.len() as u64, &actual), size, sha256)?;
        if let Some(cache) = self.cache {
            cache.put_bytes(sha256, &bytes);
        }
        Ok(Some(bytes))
    }

    /// Puts the cached copy of the file whose SHA-256 is `sha256` at `dest` (a link to the
    /// cache entry: nothing copied), if the cache holds one of `size` bytes. NOT checked:
    /// the caller hashes it as it reads it and calls [`Fetcher::discard_cached`] when it
    /// does not match, then [`Fetcher::download_to_cache`].
    pub fn from_cache_unchecked(&self, dest: &Path, size: u64, sha256: &str) -> bool {
        let Some(cache) = self.cache else {
            return false;
        };
        // Made in a staging folder a signal removes: whole before that, or not at all.
        self.unless_stopping(|| cache.link_unchecked(sha256, size, dest))
    }

    /// The cached .deb whose SHA-256 is `sha256`, put at `dest` and read from the facts the
    /// cache recorded when its entry last had the stat it has now
    /// ([`DebCache::link_known`]): not read or hashed here. `None` (nothing at `dest`) when
    /// the cache has no such entry, or no facts for it at that stat.
    pub fn from_cache_known(&self, dest: &Path, size: u64, sha256: &str) -> Option<DebFile> {
        let cache = self.cache?;
        self.unless_stopping(|| cache.link_known(sha256, size, dest))
    }

    /// Removes the cache entry `sha256`, found damaged by whoever read it.
    pub fn discard_cached(&self, sha256: &str) {
        if let Some(cache) = self.cache {
            cache.discard_entry(sha256);
        }
    }

    /// [`Fetcher::download_checked`], then stored in the cache if there is one.
    pub fn download_to_cache(
        &self,
        url: &str,
        dest: &Path,
        size: u64,
        sha256: &str,
    ) -> Result<(), DebsError> {
        self.download_checked(url, dest, size, sha256)?;
        if let Some(cache) = self.cache {
            cache.put_file(sha256, dest);
        }
        Ok(())
    }

    /// `Some(path)` for a `file:` URL.
    fn local(url: &str) -> Option<&str> {
        url.strip_prefix("file://").or(url.strip_prefix("file:"))
    }

    fn check_scheme(url: &str) -> Result<(), DebsError> {
        if url.starts_with("http://") || url.starts_with("https://") {
            return Ok(());
        }
        Err(DebsError::Fetch {
            url: url.to_string(),
            message: "only file://, http:// and https:// URLs are supported".into(),
        })
    }

    /// Streams `url` into `consume`; `Ok(None)` when it does not exist (404 or no such
    /// file). More than `max` bytes is an error.
    fn with_body<T>(
        &self,
        url: &str,
        max: u64,
        kind: Transfer,
        consume: &mut dyn FnMut(&mut dyn Read) -> Result<T, DebsError>,
    ) -> Result<Option<T>, DebsError> {
        if let Some(path) = Self::local(url) {
            return match crate::input::open_regular(std::path::Path::new(path))
                .map_err(|e| e.into_io())
            {
                Ok(f) => consume(&mut f.take(max + 1)).map(Some),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(DebsError::Fetch {
                    url: url.to_string(),
                    message: e.to_string(),
                }),
            };
        }
        Self::check_scheme(url)?;
        let fetch = Fetch {
            url,
            authorization: None,
            max_bytes: Some(max),
        };
        let reporter = self.reporter;
        let mut on_retry = |m: &str| {
            if let Some(r) = reporter {
                r.warning(&format!("{}: {m}", crate::redact::url(url)));
            }
        };
        self.net
            .fetch_as(kind, &fetch, &mut |body| consume(body), &mut on_retry)
            .map_err(|e| match e {
                FetchError::Net(e) => DebsError::Net(e),
                FetchError::Consumer(e) => e,
            })
    }

    /// Reads all of `url`, at most `max` bytes; `Ok(None)` when it does not exist. `kind`
    /// decides its deadline: `Release` files are documents, indexes by their size.
    pub fn get(&self, url: &str, max: u64, kind: Transfer) -> Result<Option<Vec<u8>>, DebsError> {
        self.with_body(url, max, kind, &mut |r| {
            // Room for the expected size at once (untouched room costs no memory), so a
            // large index is not copied as the buffer doubles.
            let mut out = Vec::with_capacity(usize::try_from(max.min(64 << 20)).unwrap_or(0) + 1);
            r.read_to_end(&mut out).map_err(|e| DebsError::Fetch {
                url: url.to_string(),
                message: e.to_string(),
            })?;
            if out.len() as u64 > max {
                return Err(DebsError::Fetch {
                    url: url.to_string(),
                    message: format!("larger than the {max} bytes expected"),
                });
            }
            Ok(out)
        })
    }

    /// Downloads `url` into `dest`, refusing it unless its size and SHA-256 match; a
    /// refused download leaves nothing at `dest`.
    pub fn download_checked(
        &self,
        url: &str,
        dest: &Path,
        size: u64,
        sha256: &str,
    ) -> Result<(), DebsError> {
        let result = self.with_body(url, size, Transfer::Bulk, &mut |r| {
            // In a staging folder a signal removes: made whole before that, or not at all.
            let mut file = self
                .unless_stopping(|| std::fs::File::create(dest))
                .map_err(|e| DebsError::io(dest, e))?;
            let mut body = crate::hashing::HashingReader::new(r);
            let got = crate::util::copy_split(&mut body, &mut file).map_err(|e| match e {
                crate::util::CopyError::Read(e) => DebsError::Fetch {
                    url: url.to_string(),
                    message: e.to_string(),
                },
                crate::util::CopyError::Write(e) => DebsError::io(dest, e),
            })?;
            check_sums(url, (got, &body.hex()), size, sha256)?;
            file.sync_all().map_err(|e| DebsError::io(dest, e))
        });
        let result = result.and_then(|found| {
            found.ok_or_else(|| DebsError::Fetch {
                url: url.to_string(),
                message: "not found".into(),
            })
        });
        if result.is_err() {
            let _ = std::fs::remove_file(dest);
        }
        result
    }
}

/// `actual` (size, hex sha256) against what an index or Release file records.
fn check_sums(what: &str, actual: (u64, &str), size: u64, sha256: &str) -> Result<(), DebsError> {
    let (actual_size, actual_sha256) = actual;
    if !actual_sha256.eq_ignore_ascii_case(sha256) {
        return Err(DebsError::HashMismatch {
            what: what.to_string(),
            expected: format!("sha256:{sha256}"),
            actual: format!("sha256:{actual_sha256}"),
        });
    }
    if actual_size != size {
        return Err(DebsError::HashMismatch {
            what: what.to_string(),
            expected: format!("{size} bytes"),
            actual: format!("{actual_size} bytes"),
        });
    }
    Ok(())
}

/// `rel` under `base`, one slash between them.
pub(super) fn join(base: &str, rel: &str) -> String {
    format!(
        "{}/{}",
        base.trim_end_matches('/'),
        rel.trim_start_matches("./")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_join_without_double_slashes() {
        assert_eq!(
            join("http://h/debian/", "./pool/a.deb"),
            "http://h/debian/pool/a.deb"
        );
        assert_eq!(join("file:///r", "dists/x"), "file:///r/dists/x");
    }
}
