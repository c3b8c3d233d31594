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
        struct DigestVisitor;
        impl serde::de::Visitor<'_> for DigestVisitor {
            type Value = Digest;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Digest, E> {
                v.parse().map_err(E::custom)
            }
        }
        d.deserialize_str(DigestVisitor)
    }
}

/// A sha256 digest as its 32 bytes, for maps of many blobs: the key sits in the map's own
/// table (no string elsewhere in memory to follow and compare), and a blob's name is
/// written out only when a path or a message needs it. Its order is that of the hex.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlobKey([u8; 32]);

impl BlobKey {
    /// The key of 64 lowercase hex digits (what [`Digest::from_hex`] accepts), else `None`.
    pub fn from_hex(hex: &str) -> Option<BlobKey> {
        /// Each byte's value as a lowercase hex digit, or 16 for any other byte.
        const NIBBLE: [u8; 256] = {
            let mut table = [16u8; 256];
            let mut i = 0;
            while i < 10 {
                table[b'0' as usize + i] = i as u8;
                i += 1;
            }
            let mut i = 0;
            while i < 6 {
                table[b'a' as usize + i] = 10 + i as u8;
                i += 1;
            }
            table
        };
        let bytes = hex.as_bytes();
        if bytes.len() != 64 {
            return None;
        }
        let mut key = [0u8; 32];
        let mut bad = 0u8;
        for (k, pair) in key.iter_mut().zip(bytes.chunks_exact(2)) {
            let (hi, lo) = (NIBBLE[usize::from(pair[0])], NIBBLE[usize::from(pair[1])]);
            bad |= hi | lo;
            *k = (hi << 4) | (lo & 0xf);
        }
        // Only a byte that is no hex digit sets the bit of 16.
        (bad & 16 == 0).then_some(BlobKey(key))
    }

    /// The key of a digest's 32 bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> BlobKey {
        BlobKey(bytes)
    }

    /// The blob's name, its 64 hex digits, written into `buf` (no allocation).
    pub fn hex<'b>(&self, buf: &'b mut [u8; 64]) -> &'b str {
        crate::hashing::hex_into(&self.0, buf)
    }

    /// The digest this key stands for.
    pub fn digest(&self) -> Digest {
        Digest {
            hex: self.hex(&mut [0; 64]).to_string(),
        }
    }
}

impl Digest {
    /// The digest's 32 bytes as a map key.
    pub fn key(&self) -> BlobKey {
        // A `Digest` is always 64 lowercase hex digits.
        BlobKey::from_hex(&self.hex).unwrap_or(BlobKey([0; 32]))
    }
}

impl fmt::Debug for BlobKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlobKey({})", self.hex(&mut [0; 64]))
    }
}

/// Written as its hex, as a blob file is named.
impl serde::Serialize for BlobKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.hex(&mut [0; 64]))
    }
}

impl<'de> serde::Deserialize<'de> for BlobKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Hex;
        impl serde::de::Visitor<'_> for Hex {
            type Value = BlobKey;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("64 lowercase hex digits")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<BlobKey, E> {
                BlobKey::from_hex(v)
                    .ok_or_else(|| E::invalid_value(serde::de::Unexpected::Str(v), &self))
            }
        }
        d.deserialize_str(Hex)
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
    fn a_blob_key_is_its_digest_in_32_bytes_and_takes_what_a_digest_takes() {
        let d = Digest::of(b"x");
        let k = BlobKey::from_hex(d.hex()).unwrap();
        assert_eq!(k.digest(), d);
        assert_eq!(d.key(), k);
        assert_eq!(k.hex(&mut [0; 64]), d.hex());
        assert_eq!(BlobKey::from_bytes(crate::hashing::sha256_bytes(b"x")), k);
        let json = serde_json::to_string(&k).unwrap();
        assert_eq!(json, format!("\"{}\"", d.hex()));
        assert_eq!(serde_json::from_str::<BlobKey>(&json).unwrap(), k);
        for bad in [
            d.hex().to_uppercase(),
            d.hex()[1..].to_string(),
            format!("{}g", &d.hex()[1..]),
            format!("{}0", d.hex()),
        ] {
            assert!(BlobKey::from_hex(&bad).is_none(), "{bad}");
            assert!(Digest::from_hex(&bad).is_err(), "{bad}");
            assert!(serde_json::from_str::<BlobKey>(&format!("\"{bad}\"")).is_err());
        }
        // Keys sort as their hex does.
        let (a, b) = (Digest::of(b"a"), Digest::of(b"b"));
        assert_eq!(a.key().cmp(&b.key()), a.hex().cmp(b.hex()));
    }

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
