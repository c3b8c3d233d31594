//! Reading a .deb: its `control` paragraph and the hashes an index entry needs.
//!
//! A .deb is an `ar` archive holding `debian-binary`, `control.tar[.gz|.xz|.zst]` and
//! `data.tar.*`. The ar format is a 60-byte header per member, small enough to read here
//! without a crate. The control tarball is decompressed with flate2, zstd or lzma-rust2
//! (pure Rust xz, so no C liblzma is linked).

use super::control::{Paragraph, parse_paragraphs};
use sha2::Digest as _;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek};
use std::path::{Path, PathBuf};

/// Why a .deb could not be read.
#[derive(Debug, thiserror::Error)]
#[error("{}: {message}", path.display())]
pub struct DebError {
    /// The .deb.
    pub path: PathBuf,
    /// What is wrong.
    pub message: String,
}

/// A .deb's control paragraph with the file facts a `Packages` entry records.
#[derive(Debug, Clone)]
pub struct DebFile {
    /// The file.
    pub path: PathBuf,
    /// The `control` paragraph as the package ships it.
    pub control: Paragraph,
    /// File size in bytes.
    pub size: u64,
    /// Hex MD5 (dpkg-scanpackages writes it; apt does not need it).
    pub md5: String,
    /// Hex SHA-1.
    pub sha1: String,
    /// Hex SHA-256.
    pub sha256: String,
    /// Its data member is compressed (`data.tar.xz`, `.zst`, `.gz`, …, not a plain
    /// `data.tar`): deflate gains nothing on the file, so the bundle stores it as it is.
    pub compressed: bool,
}

/// Reads a .deb's control paragraph and hashes the whole file, streaming (a .deb can be
/// large; only its control member is held in memory).
pub fn read_deb(path: &Path) -> Result<DebFile, DebError> {
    let fail = |message: String| DebError {
        path: path.to_path_buf(),
        message,
    };
    // A FIFO or device given as a .deb would block or never end.
    let open = || -> Result<File, DebError> {
        crate::input::open_regular(path).map_err(|e| fail(format!("cannot read: {}", e.reason())))
    };
    let file = open()?;
    let len = file
        .metadata()
        .map_err(|e| fail(format!("cannot read: {e}")))?
        .len();
    let (control, compressed) =
        read_control_and_kind(&mut BufReader::new(file), len).map_err(fail)?;
    let sums = FileSums::of(&mut open()?).map_err(|e| fail(format!("cannot read: {e}")))?;
    Ok(DebFile {
        path: path.to_path_buf(),
        control,
        size: sums.size,
        md5: sums.md5,
        sha1: sums.sha1,
        sha256: sums.sha256,
        compressed,
    })
}

/// The control paragraph of the .deb held by `r` (`len` bytes): the `ar` members, the
/// control tarball (decompressed) and its `control` file, which must be one paragraph with
/// Package, Version and Architecture. Any bytes give a paragraph or an error, never a panic.
pub fn read_control<R: Read + Seek>(r: &mut R, len: u64) -> Result<Paragraph, String> {
    read_control_and_kind(r, len).map(|(control, _)| control)
}

/// [`read_control`], and whether the data member is compressed.
fn read_control_and_kind<R: Read + Seek>(r: &mut R, len: u64) -> Result<(Paragraph, bool), String> {
    let (name, data, compressed) = control_member(r, len)?;
    let control_text = control_from_member(&name, &data)?;
    let mut paragraphs = parse_paragraphs(&control_text)
        .map_err(|(line, m)| format!("control file line {line}: {m}"))?;
    if paragraphs.len() != 1 {
        return Err(format!(
            "control file has {} paragraphs, expected one",
            paragraphs.len()
        ));
    }
    let control = paragraphs.remove(0);
    for required in ["Package", "Version", "Architecture"] {
        if control.get(required).is_none() {
            return Err(format!("control file has no {required} field"));
        }
    }
    Ok((control, compressed))
}

/// Size and hashes of a stream, computed in one pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSums {
    /// Bytes read.
    pub size: u64,
    /// Hex MD5.
    pub md5: String,
    /// Hex SHA-1.
    pub sha1: String,
    /// Hex SHA-256.
    pub sha256: String,
}

impl FileSums {
    /// Reads `r` to the end, hashing.
    pub fn of(r: &mut dyn Read) -> io::Result<FileSums> {
        let (mut m, mut s1, mut s256) = (md5::Md5::new(), sha1::Sha1::new(), sha2::Sha256::new());
        let mut buf = vec![0u8; 64 * 1024];
        let mut size = 0u64;
        loop {
            let n = r.read(&mut buf)?;
            if n == 0 {
                break;
            }
            m.update(&buf[..n]);
            s1.update(&buf[..n]);
            s256.update(&buf[..n]);
            size += n as u64;
        }
        Ok(FileSums {
            size,
            md5: crate::hashing::hex(&m.finalize()),
            sha1: crate::hashing::hex(&s1.finalize()),
            sha256: crate::hashing::hex(&s256.finalize()),
        })
    }
}

/// Walks every ar member of a .deb of `len` bytes and returns the control tarball's name
/// and bytes, and whether the data member is compressed. Every member must be complete and a `data.tar*` member must be there: a
/// .deb cut short in its data member still has a readable control member, and would
/// otherwise go into a bundle that apt refuses on the node.
fn control_member<R: Read + Seek>(r: &mut R, len: u64) -> Result<(String, Vec<u8>, bool), String> {
    let mut magic = [0u8; 8];
    r.read_exact(&mut magic)
        .map_err(|_| "not a .deb: no ar archive signature")?;
    if &magic != b"!<arch>\n" {
        return Err("not a .deb: no ar archive signature".into());
    }
    let mut pos = 8u64;
    let mut control = None;
    let mut data = None::<bool>;
    while pos < len {
        let mut header = [0u8; 60];
        r.read_exact(&mut header).map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof => "truncated ar member header".to_string(),
            _ => e.to_string(),
        })?;
        pos += 60;
        if &header[58..60] != b"`\n" {
            return Err("truncated or malformed ar member header".into());
        }
        let name = String::from_utf8_lossy(&header[..16])
            .trim_end()
            .trim_end_matches('/')
            .to_string();
        let size: u64 = std::str::from_utf8(&header[48..58])
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .ok_or("ar member size is not a number")?;
        if pos == 68 && name != "debian-binary" {
            return Err("not a .deb: the first ar member is not debian-binary".into());
        }
        if size > len - pos {
            return Err(format!(
                "ar member {name} is truncated: {size} bytes declared, {} present",
                len - pos
            ));
        }
        if name.starts_with("control.tar") && control.is_none() {
            if size > 64 * 1024 * 1024 {
                return Err(format!("{name} is implausibly large ({size} bytes)"));
            }
            let mut bytes = Vec::with_capacity(size as usize);
            r.take(size)
                .read_to_end(&mut bytes)
                .map_err(|e| e.to_string())?;
            if (bytes.len() as u64) < size {
                return Err(format!("ar member {name} is truncated"));
            }
            control = Some((name, bytes));
        } else {
            if name.starts_with("data.tar") && data.is_none() {
                data = Some(name != "data.tar");
            }
            let skip = i64::try_from(size).map_err(|_| "ar member size is not a number")?;
            r.seek_relative(skip).map_err(|e| e.to_string())?;
        }
        // Members start at even offsets; the padding byte after the last one may be absent.
        pos += size + (size & 1);
        if size & 1 == 1 && pos <= len {
            r.seek_relative(1).map_err(|e| e.to_string())?;
        }
    }
    let (name, bytes) = control.ok_or("no control.tar member")?;
    let compressed = data.ok_or("no data.tar member")?;
    Ok((name, bytes, compressed))
}

fn control_from_member(name: &str, data: &[u8]) -> Result<String, String> {
    let tar_bytes = decompress(name, data)?;
    let mut archive = tar::Archive::new(tar_bytes.as_slice());
    let entries = archive.entries().map_err(|e| format!("{name}: {e}"))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| format!("{name}: {e}"))?;
        let path = entry
            .path()
            .map_err(|e| format!("{name}: {e}"))?
            .into_owned();
        if path == Path::new("./control") || path == Path::new("control") {
            let mut text = String::new();
            entry
                .read_to_string(&mut text)
                .map_err(|e| format!("{name}/control: {e}"))?;
            return Ok(text);
        }
    }
    Err(format!("{name} has no control file"))
}

fn decompress(name: &str, data: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let result: io::Result<()> = match name {
        "control.tar" => {
            out.extend_from_slice(data);
            Ok(())
        }
        "control.tar.gz" => flate2::read::GzDecoder::new(data)
            .read_to_end(&mut out)
            .map(drop),
        "control.tar.zst" => zstd::stream::read::Decoder::new(data)
            .and_then(|mut d| d.read_to_end(&mut out))
            .map(drop),
        "control.tar.xz" => unxz(data).map(|v| out = v),
        other => return Err(format!("unsupported control member {other}")),
    };
    result.map_err(|e| format!("{name}: cannot decompress: {e}"))?;
    Ok(out)
}

/// Decompresses xz data (a .deb member or a `Packages.xz`).
pub fn unxz(data: &[u8]) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    xz_reader(data).read_to_end(&mut out).map_err(xz_error)?;
    Ok(out)
}

/// A streaming xz decoder over `data` (memory: the stream's dictionary, not its output).
pub fn xz_reader<R: Read>(data: R) -> impl Read {
    lzma_rust2::XzReader::new(data, true)
}

/// An xz decoding error in words: a stream cut short says so.
pub fn xz_error(e: io::Error) -> io::Error {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        return io::Error::new(io::ErrorKind::InvalidData, "xz data ends early (truncated)");
    }
    io::Error::new(io::ErrorKind::InvalidData, format!("xz: {e}"))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// An ar archive of `members`, as a .deb is.
    pub(crate) fn ar(members: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = b"!<arch>\n".to_vec();
        for (name, data) in members {
            let header = format!(
                "{:<16}{:<12}{:<6}{:<6}{:<8}{:<10}`\n",
                name,
                0,
                0,
                0,
                "100644",
                data.len()
            );
            out.extend_from_slice(header.as_bytes());
            out.extend_from_slice(data);
            if data.len() % 2 == 1 {
                out.push(b'\n');
            }
        }
        out
    }

    /// A control tarball holding `control`.
    pub(crate) fn control_tar(control: &str) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(control.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, "./control", control.as_bytes())
            .unwrap();
        b.into_inner().unwrap()
    }

    #[test]
    fn reads_control_from_a_plain_and_a_gzip_member() {
        let dir = tempfile::tempdir().unwrap();
        let text = "Package: x\nVersion: 1\nArchitecture: all\n";
        let tar = control_tar(text);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &tar).unwrap();
        let gz = gz.finish().unwrap();
        for (name, data) in [("control.tar", tar.as_slice()), ("control.tar.gz", &gz)] {
            let path = dir.path().join(format!("{name}.deb"));
            let members = [
                ("debian-binary", &b"2.0\n"[..]),
                (name, data),
                ("data.tar", &[0; 1024]),
            ];
            std::fs::write(&path, ar(&members)).unwrap();
            let deb = read_deb(&path).unwrap();
            assert_eq!(deb.control.get("Package"), Some("x"));
            assert_eq!(deb.sha256.len(), 64);
            // A plain data.tar: deflate can shrink it.
            assert!(!deb.compressed);
        }
    }

    #[test]
    fn rejects_what_is_not_a_deb() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.deb");
        std::fs::write(&path, b"hello").unwrap();
        assert!(read_deb(&path).unwrap_err().message.contains("signature"));
        std::fs::write(&path, ar(&[("debian-binary", b"2.0\n")])).unwrap();
        assert!(read_deb(&path).unwrap_err().message.contains("control.tar"));
        let mut truncated = ar(&[("debian-binary", b"2.0\n"), ("control.tar", &[0; 100])]);
        truncated.truncate(truncated.len() - 50);
        std::fs::write(&path, truncated).unwrap();
        assert!(read_deb(&path).unwrap_err().message.contains("truncated"));
    }

    /// A .deb cut short in its data member: the control member reads fine, but the
    /// package is broken and apt would refuse it on the node.
    #[test]
    fn rejects_a_deb_whose_data_member_is_cut_short() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cut.deb");
        let control = control_tar("Package: x\nVersion: 1\nArchitecture: all\n");
        let whole = ar(&[
            ("debian-binary", b"2.0\n"),
            ("control.tar", &control),
            ("data.tar.xz", &[7; 999]),
        ]);
        std::fs::write(&path, &whole).unwrap();
        read_deb(&path).unwrap();
        // The missing padding byte after an odd-sized last member is tolerated.
        std::fs::write(&path, &whole[..whole.len() - 1]).unwrap();
        read_deb(&path).unwrap();
        std::fs::write(&path, &whole[..whole.len() - 100]).unwrap();
        let err = read_deb(&path).unwrap_err().message;
        assert!(err.contains("data.tar.xz is truncated"), "{err}");
        // No data member at all.
        let no_data = ar(&[("debian-binary", b"2.0\n"), ("control.tar", &control)]);
        std::fs::write(&path, no_data).unwrap();
        let err = read_deb(&path).unwrap_err().message;
        assert!(err.contains("no data.tar member"), "{err}");
    }
}
