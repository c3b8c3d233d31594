//! SHA-256 for the whole crate: the one hex encoder, the one hashing writer and reader, and
//! files hashed whole, one or several at a time. The OCI layer's blob digests
//! (`sha256:<hex>`) wrap these.

use sha2::{Digest as _, Sha256};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(HEX[usize::from(b >> 4)] as char);
        out.push(HEX[usize::from(b & 0xf)] as char);
    }
    out
}

/// The digits of [`hex`].
const HEX: &[u8; 16] = b"0123456789abcdef";

/// [`hex`] of a SHA-256, written into `buf` (no allocation).
pub fn hex_into<'b>(sum: &[u8; 32], buf: &'b mut [u8; 64]) -> &'b str {
    for (pair, b) in buf.chunks_exact_mut(2).zip(sum) {
        pair[0] = HEX[usize::from(b >> 4)];
        pair[1] = HEX[usize::from(b & 0xf)];
    }
    // Only ASCII hex digits were written.
    std::str::from_utf8(buf).unwrap_or_default()
}

/// The hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// A writer adapter that hashes and counts everything passed through it.
pub struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    bytes: u64,
}

impl<W: Write> HashingWriter<W> {
    /// Wraps `inner`.
    pub fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: Sha256::new(),
            bytes: 0,
        }
    }

    /// The inner writer, the hex SHA-256 of what was written and its length.
    pub fn finish(self) -> (W, String, u64) {
        let (inner, sum, bytes) = self.finish_bytes();
        (inner, hex(&sum), bytes)
    }

    /// [`HashingWriter::finish`], the SHA-256 as its 32 bytes.
    pub fn finish_bytes(self) -> (W, [u8; 32], u64) {
        (self.inner, self.hasher.finalize().into(), self.bytes)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A reader adapter that hashes everything read through it.
pub struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> HashingReader<R> {
    /// Wraps `inner`.
    pub fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: Sha256::new(),
        }
    }

    /// The hex SHA-256 of what was read so far.
    pub fn hex(&self) -> String {
        hex(&self.hasher.clone().finalize())
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// Streams `reader` to its end: its hex SHA-256 and length, holding one buffer in memory.
pub fn sha256_reader(reader: &mut impl Read) -> io::Result<(String, u64)> {
    let (sum, n) = sha256_reader_bytes(reader)?;
    Ok((hex(&sum), n))
}

/// [`sha256_reader`], the SHA-256 as its 32 bytes.
pub fn sha256_reader_bytes(reader: &mut impl Read) -> io::Result<([u8; 32], u64)> {
    // The crate's copy loop: its buffer grows to 1 MiB while reads fill it, where
    // `io::copy` reads a large file 8 KiB at a time.
    let mut w = HashingWriter::new(io::sink());
    crate::util::copy_split(reader, &mut w).map_err(|e| match e {
        crate::util::CopyError::Read(e) | crate::util::CopyError::Write(e) => e,
    })?;
    let (_, sum, n) = w.finish_bytes();
    Ok((sum, n))
}

/// The SHA-256 of `bytes` as its 32 bytes.
pub fn sha256_bytes(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// The hex SHA-256 of a file, streamed (its holes not read: [`crate::util::SparseReader`]):
/// a regular file only (a FIFO or a device is
/// refused without blocking; see [`crate::input::open_regular`]).
pub fn sha256_file(path: &Path) -> io::Result<String> {
    let opened = crate::input::open_regular_with_metadata(path);
    sha256_opened(opened.map_err(crate::input::InputError::into_io)?)
}

/// [`sha256_file`] of a file seedforge finds in a folder it writes: not through a
/// symbolic link either (see [`crate::input::open_found`]).
pub fn sha256_found(path: &Path) -> io::Result<String> {
    sha256_opened(crate::input::open_found(path).map_err(crate::input::InputError::into_io)?)
}

/// The hex SHA-256 of a file just opened, with its metadata then: its holes not read.
fn sha256_opened((file, meta): (std::fs::File, std::fs::Metadata)) -> io::Result<String> {
    Ok(sha256_reader(&mut crate::util::SparseReader::new(file, meta.len()))?.0)
}

/// [`sha256_file`] of each path on up to four threads: one result per path, in order.
pub fn sha256_files(paths: &[PathBuf]) -> Vec<io::Result<String>> {
    let threads = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(1, 4)
        .min(paths.len().max(1));
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<io::Result<String>>>> =
        Mutex::new((0..paths.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(path) = paths.get(i) else { break };
                    let r = sha256_file(path);
                    if let Ok(mut guard) = results.lock() {
                        guard[i] = Some(r);
                    }
                }
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_default()
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(io::Error::other("a hashing thread stopped"))))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn hex_is_lowercase_two_digits_per_byte() {
        assert_eq!(hex(&[0, 0x0f, 0xa0, 0xff]), "000fa0ff");
        assert_eq!(sha256_hex(b""), EMPTY);
    }

    #[test]
    fn writer_and_reader_agree_with_the_one_shot_hash() {
        let data = b"seedforge".repeat(1000);
        let mut w = HashingWriter::new(Vec::new());
        w.write_all(&data).unwrap();
        let (inner, h, n) = w.finish();
        assert_eq!((inner, n), (data.clone(), data.len() as u64));
        assert_eq!(h, sha256_hex(&data));
        let mut r = HashingReader::new(&data[..]);
        io::copy(&mut r, &mut io::sink()).unwrap();
        assert_eq!(r.hex(), h);
        assert_eq!(
            sha256_reader(&mut &data[..]).unwrap(),
            (h, data.len() as u64)
        );
    }

    #[test]
    fn files_hash_in_order_and_a_missing_one_is_its_own_error() {
        let dir = tempfile::tempdir().unwrap();
        let mut paths = Vec::new();
        for i in 0..9 {
            let p = dir.path().join(format!("f{i}"));
            std::fs::write(&p, i.to_string()).unwrap();
            paths.push(p);
        }
        paths.insert(3, dir.path().join("missing"));
        let got = sha256_files(&paths);
        assert_eq!(got.len(), 10);
        assert!(got[3].is_err());
        assert_eq!(got[0].as_ref().unwrap(), &sha256_hex(b"0"));
        assert_eq!(got[9].as_ref().unwrap(), &sha256_hex(b"8"));
    }
}
