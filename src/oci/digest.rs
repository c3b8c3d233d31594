//! Content digests (`sha256:<hex>`) and the hashing that every blob goes through while it
//! streams. Only sha256 is accepted for stored blobs: it is what the OCI layout, registries
//! and containerd all use, and one algorithm keeps `blobs/` to a single directory.

use std::fmt;
use std::io::{self, Read};
use std::str::FromStr;

/// A validated `sha256:<64 lowercase hex>` digest.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    hex: String,
}

/// Why a digest string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid digest {input:?}: {reason}")]
pub struct DigestError {
    /// The rejected text.
    pub input: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl Digest {
    /// The 64 hex characters, which are also the blob's file name.
    pub fn hex(&self) -> &str {
        &self.hex
    }

    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Digest {
        Digest {
            hex: crate::hashing::sha256_hex(bytes),
        }
    }

    /// The digest of what [`crate::hashing`] hashed, given as its hex.
    pub fn from_hasher(hex: String) -> Digest {
        debug_assert!(Digest::from_hex(&hex).is_ok(), "not a sha256 hex: {hex}");
        Digest { hex }
    }

    /// Builds a digest from a blob file name (64 lowercase hex characters).
    pub fn from_hex(hex: &str) -> Result<Digest, DigestError> {
        if hex.len() != 64 {
            return Err(DigestError {
                input: hex.to_string(),
                reason: "a sha256 digest has 64 hex characters",
            });
        }
        if !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(DigestError {
                input: hex.to_string(),
                reason: "only lowercase hex characters are allowed",
            });
        }
        Ok(Digest {
            hex: hex.to_string(),
        })
    }

    /// The first 12 hex characters, for human-facing messages.
    pub fn short(&self) -> &str {
        &self.hex[..12]
    }
}

/// A digest is found in a map of digests by its hex text (its `Hash`, `Eq` and `Ord` are
/// those of the hex), without making a `Digest` of it.
impl std::borrow::Borrow<str> for Digest {
    fn borrow(&self) -> &str {
        &self.hex
    }
}

impl FromStr for Digest {
    type Err = DigestError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let Some((algorithm, hex)) = s.split_once(':') else {
            return Err(DigestError {
                input: s.to_string(),
                reason: "expected ALGORITHM:HEX",
            });
        };
        if algorithm != "sha256" {
            return Err(DigestError {
                input: s.to_string(),
                reason: "only sha256 digests are supported",
            });
        }
        Digest::from_hex(hex).map_err(|e| DigestError {
            input: s.to_string(),
            reason: e.reason,
        })
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex)
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Streams `reader` to the end and returns its digest and length, holding only one buffer
/// in memory.
pub fn digest_reader(reader: &mut impl Read) -> io::Result<(Digest, u64)> {
    let (hex, n) = crate::hashing::sha256_reader(reader)?;
    Ok((Digest { hex }, n))
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn digest_of_empty_input() {
        assert_eq!(Digest::of(b"").hex(), EMPTY);
        let (d, n) = digest_reader(&mut &b""[..]).unwrap();
        assert_eq!((d.hex(), n), (EMPTY, 0));
    }

    #[test]
    fn parses_and_displays() {
        let s = format!("sha256:{EMPTY}");
        let d: Digest = s.parse().unwrap();
        assert_eq!(d.to_string(), s);
        assert_eq!(d.short(), &EMPTY[..12]);
    }

    #[test]
    fn rejects_bad_digests() {
        for bad in [
            "sha256:abc",
            "sha512:00",
            EMPTY,
            &format!("sha256:{}", EMPTY.to_uppercase()),
            &format!("sha256:{}g", &EMPTY[..63]),
        ] {
            assert!(bad.parse::<Digest>().is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn digests_of_the_hasher_are_the_digests_of_the_bytes() {
        let (hex, n) = crate::hashing::sha256_reader(&mut &b"hello world"[..]).unwrap();
        assert_eq!(n, 11);
        assert_eq!(Digest::from_hasher(hex), Digest::of(b"hello world"));
    }
}
