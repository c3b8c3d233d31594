//! Sizes written by people: `export_split:` and `build --export-split` take the largest
//! part an exported file may be cut into, as bytes, a number with a unit, or a medium.
//!
//! Units follow the labels media are sold with: `K`/`KB`, `M`/`MB`, `G`/`GB`, `T`/`TB` are
//! powers of 1000 (a "4.7 GB" DVD, a "4 GB" limit), `KiB`, `MiB`, `GiB`, `TiB` powers of
//! 1024. So `4G` (4,000,000,000 bytes) fits FAT32, whose largest file is 4 GiB − 1 byte,
//! while `4GiB` (4,294,967,296) is one byte too many for it. Named media give the exact
//! figure: `fat32` is 4,294,967,295 bytes and `dvd` 4,700,000,000 (a single-layer DVD±R
//! holds 4,707,319,808 bytes; the rest is left to the disc's own file system).

/// The largest file FAT32 holds: 4 GiB − 1 byte.
pub const FAT32: u64 = (4 << 30) - 1;
/// A single-layer DVD's "4.7 GB", leaving 7,319,808 bytes of a DVD±R's 4,707,319,808 for
/// the disc's file system.
pub const DVD: u64 = 4_700_000_000;
/// The smallest part size accepted: smaller ones would cut a seed ISO into thousands of
/// files, which no medium needs.
pub const MIN_PART: u64 = 1 << 20;

/// A part size as `export_split:` gives it: an unquoted integer (bytes) or a string
/// [`parse_part_size`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartSize(pub u64);

impl<'de> serde::Deserialize<'de> for PartSize {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Size;
        impl serde::de::Visitor<'_> for Size {
            type Value = PartSize;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a size (4G, 4GiB, fat32, dvd or bytes)")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<PartSize, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<PartSize, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<PartSize, E> {
                parse_part_size(v).map(PartSize).map_err(E::custom)
            }
        }
        d.deserialize_any(Size)
    }
}

/// Parses a part size: `fat32`, `dvd`, a number of bytes, or a number with a unit (`4G`,
/// `700MB`, `4GiB`, case-insensitive). The error says what is accepted.
pub fn parse_part_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let value = match t.to_ascii_lowercase().as_str() {
        "fat32" => FAT32,
        "dvd" => DVD,
        lower => {
            let digits = lower
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(lower.len());
            let (number, unit) = lower.split_at(digits);
            let scale: u64 = match unit.trim_start() {
                "" | "b" => 1,
                "k" | "kb" => 1_000,
                "m" | "mb" => 1_000_000,
                "g" | "gb" => 1_000_000_000,
                "t" | "tb" => 1_000_000_000_000,
                "kib" => 1 << 10,
                "mib" => 1 << 20,
                "gib" => 1 << 30,
                "tib" => 1 << 40,
                _ => return Err(bad(text)),
            };
            (number.parse::<u64>().ok())
                .and_then(|n| n.checked_mul(scale))
                .ok_or_else(|| bad(text))?
        }
    };
    if value < MIN_PART {
        return Err(format!(
            "part size {text:?} is {value} bytes; the smallest accepted is 1MiB ({MIN_PART} bytes)"
        ));
    }
    Ok(value)
}

fn bad(text: &str) -> String {
    format!(
        "part size {text:?} is not a size: write bytes (4294967295), a number with a unit \
         (4G = 4,000,000,000 bytes, 4GiB = 4,294,967,296; K M G T are powers of 1000, \
         KiB MiB GiB TiB of 1024), fat32 (4 GiB - 1 byte) or dvd (4,700,000,000 bytes)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_are_decimal_and_binary_as_written() {
        assert_eq!(parse_part_size("4G"), Ok(4_000_000_000));
        assert_eq!(parse_part_size("4GB"), Ok(4_000_000_000));
        assert_eq!(parse_part_size("4gib"), Ok(4 << 30));
        assert_eq!(parse_part_size("4 GiB"), Ok(4 << 30));
        assert_eq!(parse_part_size("700M"), Ok(700_000_000));
        assert_eq!(parse_part_size("1MiB"), Ok(1 << 20));
        assert_eq!(parse_part_size("2048K"), Ok(2_048_000));
        assert_eq!(parse_part_size("1T"), Ok(1_000_000_000_000));
        assert_eq!(parse_part_size("4294967295"), Ok(FAT32));
        assert_eq!(parse_part_size("4294967295B"), Ok(FAT32));
    }

    #[test]
    fn named_media_are_exact() {
        assert_eq!(parse_part_size("fat32"), Ok(4_294_967_295));
        assert_eq!(parse_part_size("FAT32"), Ok(4_294_967_295));
        assert_eq!(parse_part_size("dvd"), Ok(4_700_000_000));
        // 4G fits FAT32; 4GiB does not.
        assert!(parse_part_size("4G").unwrap() <= FAT32);
        assert!(parse_part_size("4GiB").unwrap() > FAT32);
    }

    #[test]
    fn nonsense_and_tiny_sizes_are_refused() {
        for text in [
            "",
            "G",
            "4X",
            "-4G",
            "4.7G",
            "4GG",
            "99999999999T",
            "fat",
            "1 000",
        ] {
            let e = parse_part_size(text).unwrap_err();
            assert!(e.contains("not a size"), "{text}: {e}");
        }
        let e = parse_part_size("1000").unwrap_err();
        assert!(e.contains("smallest accepted is 1MiB"), "{e}");
        assert_eq!(parse_part_size("1048576"), Ok(MIN_PART));
    }
}
