//! Writing a planned archive to disk as fast as the data allows.
//!
//! The tar stream is built by hand rather than through `tar::Builder`, whose type-erased
//! writer forces every byte through a user-space buffer. Written directly into a buffered
//! file, an uncompressed archive's blob bodies go file to file inside the kernel
//! (`copy_file_range`, which `std::io::copy` uses between files). The blob re-hash runs on
//! its own threads beside the write, and the file's write-back is started behind the
//! writer as it grows, so that the closing fsync has little left to wait for.

use super::{ArchiveFormat, ArchiveOptions, BlobSource, Compression, Planned, docker_manifest};
use crate::hashing::HashingWriter;
use crate::oci::digest::{Digest, digest_reader};
use crate::oci::index::IndexDoc;
use crate::oci::layout::{Layout, OCI_LAYOUT_CONTENT};
use crate::oci::verify::{BlobFile, KnownDigests};
use crate::oci::{OciError, Result};
use crate::report::Reporter;
use crate::util::FileStat;
use crate::util::WriteBehind;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::Path;
use std::thread;

/// Threads that re-hash blobs while the archive is written.
const CHECK_THREADS: usize = 2;

/// How much of the tar is written between two starts of the file's write-back
/// ([`WriteBehind`]: nothing waits for it; an fsync on a helper thread, what this was
/// before, made the writer wait on each, which on a copy-on-write file system, where the
/// blob bodies are shared extents and nothing is dirty, was most of the run).
const WRITE_BEHIND_BYTES: u64 = 16 << 20;

/// What was written: uncompressed tar size, file size, and the file's digest if asked for.
pub(super) type Written = (u64, u64, Option<Digest>);

/// Writes the archive to `tmp` while other threads re-hash its stored blobs, so that a
/// layer damaged on disk since it was mirrored never reaches a node.
pub(super) fn write_checked(
    layout: &Layout,
    tmp: &Path,
    planned: &[Planned],
    blobs: &BTreeMap<Digest, BlobSource>,
    options: &ArchiveOptions,
    reporter: &dyn Reporter,
    known: Option<&dyn KnownDigests>,
) -> Result<Written> {
    thread::scope(|scope| {
        let checkers: Vec<_> = if options.verify_blobs {
            split_for_checking(blobs)
                .into_iter()
                .map(|group| scope.spawn(move || check_blobs(layout, &group, known)))
                .collect()
        } else {
            Vec::new()
        };
        let written = write_file(layout, tmp, planned, blobs, options, reporter);
        let mut checked = Ok(());
        for handle in checkers {
            let result = handle.join().unwrap_or_else(|_| {
                Err(OciError::io(
                    layout.root(),
                    io::Error::other("blob check failed"),
                ))
            });
            checked = checked.and(result);
        }
        checked.and(written)
    })
}

/// Splits the stored blobs into groups of about equal bytes, largest first.
fn split_for_checking(blobs: &BTreeMap<Digest, BlobSource>) -> Vec<Vec<(&Digest, u64)>> {
    let mut stored: Vec<(&Digest, u64)> = blobs
        .iter()
        .filter_map(|(d, s)| match s {
            BlobSource::Layout(size) => Some((d, *size)),
            BlobSource::Memory(_) => None,
        })
        .collect();
    stored.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    let mut groups: Vec<(u64, Vec<(&Digest, u64)>)> = vec![(0, Vec::new()); CHECK_THREADS];
    for blob in stored {
        if let Some(lightest) = groups.iter_mut().min_by_key(|g| g.0) {
            lightest.0 += blob.1;
            lightest.1.push(blob);
        }
    }
    groups
        .into_iter()
        .map(|g| g.1)
        .filter(|g| !g.is_empty())
        .collect()
}

/// Re-hashes stored blobs, but for those whose file `known` vouches for.
fn check_blobs(
    layout: &Layout,
    blobs: &[(&Digest, u64)],
    known: Option<&dyn KnownDigests>,
) -> Result<()> {
    let dir = layout.blobs_path();
    for &(digest, size) in blobs {
        let blob = BlobFile::new(&dir, digest.key());
        let path = blob.path();
        // The stat is taken before reading: a change while hashing shows next time.
        let meta = std::fs::metadata(&path).map_err(|e| OciError::io(&path, e))?;
        let stat = FileStat::of(&meta);
        if meta.len() == size && meta.is_file() && known.is_some_and(|k| k.known(&blob, &stat)) {
            continue;
        }
        let mut file = layout.open_blob(digest)?;
        let (actual, read) = digest_reader(&mut file).map_err(|e| OciError::io(&path, e))?;
        if &actual == digest && read == size {
            if let Some(k) = known {
                k.learned(&blob, &stat);
            }
        } else {
            return Err(OciError::DigestMismatch {
                context: format!("{} (archiving {})", layout.root().display(), path.display()),
                expected: digest.clone(),
                expected_size: size,
                actual_digest: actual,
                actual_size: read,
            });
        }
    }
    Ok(())
}

/// The file under the tar or the compressor: buffered, and hashed when a digest is wanted.
enum Sink {
    Plain(BufWriter<File>),
    Hashing(HashingWriter<BufWriter<File>>),
}

impl Sink {
    fn new(file: File, digest: bool) -> Sink {
        let buffered = BufWriter::with_capacity(1 << 20, file);
        if digest {
            Sink::Hashing(HashingWriter::new(buffered))
        } else {
            Sink::Plain(buffered)
        }
    }

    fn finish(self) -> io::Result<(File, Option<Digest>)> {
        let (buffered, digest) = match self {
            Sink::Plain(b) => (b, None),
            Sink::Hashing(h) => {
                let (b, hex, _) = h.finish();
                (b, Some(Digest::from_hasher(hex)))
            }
        };
        let file = buffered.into_inner().map_err(|e| e.into_error())?;
        Ok((file, digest))
    }
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Sink::Plain(w) => w.write(buf),
            Sink::Hashing(w) => w.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Sink::Plain(w) => w.flush(),
            Sink::Hashing(w) => w.flush(),
        }
    }
}

/// Writes the archive to `tmp` and fsyncs it.
fn write_file(
    layout: &Layout,
    tmp: &Path,
    planned: &[Planned],
    blobs: &BTreeMap<Digest, BlobSource>,
    options: &ArchiveOptions,
    reporter: &dyn Reporter,
) -> Result<Written> {
    let io_err = |e: io::Error| OciError::io(tmp, e);
    let file = File::create(tmp).map_err(io_err)?;
    let behind_file = file.try_clone().map_err(io_err)?;
    let mut behind = WriteBehind::new(&behind_file, WRITE_BEHIND_BYTES);
    let sync = &mut behind;
    {
        let entries = entries(planned, blobs, options.format);
        let tar = Tar {
            layout,
            entries: &entries,
            mtime: options.mtime,
            reporter,
        };
        let (file, tar_bytes, digest) = match (options.compression, options.digest) {
            (Compression::None, false) => {
                let mut out = BufWriter::with_capacity(1 << 20, file);
                let n = tar.write(&mut out, sync)?;
                (
                    out.into_inner().map_err(|e| io_err(e.into_error()))?,
                    n,
                    None,
                )
            }
            (compression, digest) => {
                let sink = Sink::new(file, digest);
                let (sink, n) = compress(&tar, sink, compression, options, sync)?;
                let (file, digest) = sink.finish().map_err(io_err)?;
                (file, n, digest)
            }
        };
        file.sync_all().map_err(io_err)?;
        let file_bytes = file.metadata().map_err(io_err)?.len();
        Ok((tar_bytes, file_bytes, digest))
    }
}

/// Writes the tar through gzip or zstd (or neither) into `sink`.
fn compress(
    tar: &Tar<'_>,
    mut sink: Sink,
    compression: Compression,
    options: &ArchiveOptions,
    sync: &mut WriteBehind<'_>,
) -> Result<(Sink, u64)> {
    let io_err = |e: io::Error| OciError::io("<archive>", e);
    match compression {
        Compression::None => {
            let n = tar.write(&mut sink, sync)?;
            Ok((sink, n))
        }
        Compression::Gzip => {
            let level = flate2::Compression::new(options.level.clamp(0, 9) as u32);
            let mut encoder = flate2::GzBuilder::new().mtime(0).write(sink, level);
            let n = tar.write(&mut encoder, sync)?;
            Ok((encoder.finish().map_err(io_err)?, n))
        }
        Compression::Zstd => {
            let mut encoder =
                zstd::stream::write::Encoder::new(sink, options.level).map_err(io_err)?;
            encoder
                .multithread(options.threads.max(1))
                .map_err(io_err)?;
            encoder.include_checksum(true).map_err(io_err)?;
            let n = tar.write(&mut encoder, sync)?;
            Ok((encoder.finish().map_err(io_err)?, n))
        }
    }
}

/// One tar member.
enum Entry<'a> {
    Dir,
    Bytes(Vec<u8>),
    Blob(&'a Digest, &'a BlobSource),
}

/// Every member of the archive, sorted by path.
fn entries<'a>(
    planned: &[Planned],
    blobs: &'a BTreeMap<Digest, BlobSource>,
    format: ArchiveFormat,
) -> Vec<(String, Entry<'a>)> {
    let mut entries: Vec<(String, Entry<'a>)> = vec![
        ("blobs/".into(), Entry::Dir),
        ("blobs/sha256/".into(), Entry::Dir),
    ];
    for (digest, source) in blobs {
        entries.push((
            format!("blobs/sha256/{}", digest.hex()),
            Entry::Blob(digest, source),
        ));
    }
    match format {
        ArchiveFormat::Oci => {
            let mut index = IndexDoc::default();
            index.merge(planned.iter().map(|p| p.root.clone()));
            entries.push(("index.json".into(), Entry::Bytes(index.to_bytes())));
            entries.push((
                "oci-layout".into(),
                Entry::Bytes(OCI_LAYOUT_CONTENT.to_vec()),
            ));
        }
        ArchiveFormat::Docker => {
            entries.push((
                "manifest.json".into(),
                Entry::Bytes(docker_manifest(planned)),
            ));
        }
    }
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    entries
}

/// The tar stream: ustar headers, bodies padded to 512 bytes, two zero blocks at the end.
/// Every blob's body starts on an [`ALIGN`] boundary of the tar: a pax extended header
/// holding only a `comment` record of the right length goes before the blob's own header.
/// In a plain `.tar` the kernel's `copy_file_range` then shares a stored blob's extents on
/// a copy-on-write file system (XFS with reflink, btrfs) instead of copying its bytes; tar
/// readers skip the comment (POSIX pax: "ignored by the interpreting pax"). The compressed
/// archives hold the same tar, so `zstd -d` of a `.tar.zst` is the `.tar` byte for byte.
struct Tar<'a> {
    layout: &'a Layout,
    entries: &'a [(String, Entry<'a>)],
    mtime: u64,
    reporter: &'a dyn Reporter,
}

const BLOCK: u64 = 512;

/// The file system block a blob's body is aligned to.
const ALIGN: u64 = 4096;

/// The pax data (a whole number of blocks, or none) that puts the body of a member whose
/// pax header would start at `offset` on an [`ALIGN`] boundary; `None` when the body is
/// aligned without one.
fn alignment_padding(offset: u64) -> Option<Vec<u8>> {
    if (offset + BLOCK).is_multiple_of(ALIGN) {
        return None;
    }
    // pax header + its data + the member's header, then the body.
    let mut data = (ALIGN - (offset + 2 * BLOCK) % ALIGN) % ALIGN;
    if data == 0 {
        data = ALIGN;
    }
    // One record that fills the data exactly: "<len> comment=<fill>\n", where <len> counts
    // the whole record, its own digits included.
    let len = usize::try_from(data).unwrap_or(usize::MAX);
    let prefix = format!("{len} comment=");
    let mut record = prefix.into_bytes();
    record.resize(len - 1, b'.');
    record.push(b'\n');
    Some(record)
}

impl Tar<'_> {
    /// Writes every entry to `out`; returns the tar's size.
    fn write<W: Write>(&self, out: &mut W, sync: &mut WriteBehind<'_>) -> Result<u64> {
        let total = self.entries.len();
        let mut written = 0u64;
        for (i, (path, entry)) in self.entries.iter().enumerate() {
            self.reporter.item_started(path, i, total);
            let tar_err = |e: io::Error| OciError::io(format!("<archive>/{path}"), e);
            let size = match entry {
                Entry::Dir => {
                    out.write_all(
                        self.header(path, tar::EntryType::Directory, 0o755, 0)?
                            .as_bytes(),
                    )
                    .map_err(tar_err)?;
                    0
                }
                Entry::Blob(digest, source) => {
                    written += self.align_body(out, path, written)?;
                    match source {
                        BlobSource::Layout(size) => {
                            self.write_blob(out, path, digest, *size, written, sync)?;
                            *size
                        }
                        BlobSource::Memory(bytes) => self.write_bytes(out, path, bytes)?,
                    }
                }
                Entry::Bytes(bytes) => self.write_bytes(out, path, bytes)?,
            };
            let pad = (BLOCK - size % BLOCK) % BLOCK;
            out.write_all(&[0u8; BLOCK as usize][..pad as usize])
                .map_err(tar_err)?;
            written += BLOCK + size + pad;
            sync.progress(written);
            self.reporter.item_finished(path, "");
        }
        out.write_all(&[0u8; 2 * BLOCK as usize])
            .map_err(|e| OciError::io("<archive>", e))?;
        Ok(written + 2 * BLOCK)
    }

    /// Writes the pax comment (if needed) that puts the body of the member at `path`,
    /// whose header would go at `offset`, on an [`ALIGN`] boundary; returns its bytes.
    fn align_body<W: Write>(&self, out: &mut W, path: &str, offset: u64) -> Result<u64> {
        let Some(record) = alignment_padding(offset) else {
            return Ok(0);
        };
        let tar_err = |e: io::Error| OciError::io(format!("<archive>/{path}"), e);
        let name = format!("PaxHeaders/{}", path.trim_start_matches("blobs/sha256/"));
        let len = record.len() as u64;
        let header = self.header(&name, tar::EntryType::XHeader, 0o644, len)?;
        out.write_all(header.as_bytes()).map_err(tar_err)?;
        out.write_all(&record).map_err(tar_err)?;
        Ok(BLOCK + len)
    }

    /// Header and body of a member held in memory; returns its size.
    fn write_bytes<W: Write>(&self, out: &mut W, path: &str, bytes: &[u8]) -> Result<u64> {
        let tar_err = |e: io::Error| OciError::io(format!("<archive>/{path}"), e);
        let size = bytes.len() as u64;
        let header = self.header(path, tar::EntryType::Regular, 0o644, size)?;
        out.write_all(header.as_bytes()).map_err(tar_err)?;
        out.write_all(bytes).map_err(tar_err)?;
        Ok(size)
    }

    /// Header and body of a stored blob, whose header goes at tar offset `at`. With `out` a
    /// buffered file, `io::copy` moves the body inside the kernel. The body goes in pieces
    /// of [`WRITE_BEHIND_BYTES`], so that the write-back of each starts while the next is
    /// read.
    fn write_blob<W: Write>(
        &self,
        out: &mut W,
        path: &str,
        digest: &Digest,
        size: u64,
        at: u64,
        sync: &mut WriteBehind<'_>,
    ) -> Result<()> {
        let blob_path = || self.layout.blob_path(digest);
        let file = self.layout.open_blob(digest)?;
        // The size is fixed in the header already; a blob that changed under us must not
        // produce a tar whose entry is short.
        let actual = file
            .metadata()
            .map_err(|e| OciError::io(blob_path(), e))?
            .len();
        if actual != size {
            return Err(OciError::Source {
                source_name: self.layout.root().display().to_string(),
                message: format!(
                    "blob {digest} has {actual} bytes, expected {size}; run `seedforge verify`"
                ),
            });
        }
        let tar_err = |e: io::Error| OciError::io(format!("<archive>/{path}"), e);
        let header = self.header(path, tar::EntryType::Regular, 0o644, size)?;
        out.write_all(header.as_bytes()).map_err(tar_err)?;
        // Read ahead as far as the kernel allows: the blob is read once, front to back.
        let _ = rustix::fs::fadvise(&file, 0, None, rustix::fs::Advice::Sequential);
        let mut copied = 0;
        while copied < size {
            let want = (size - copied).min(WRITE_BEHIND_BYTES);
            let n = io::copy(&mut (&file).take(want), out).map_err(tar_err)?;
            copied += n;
            sync.progress(at + BLOCK + copied);
            if n < want {
                break;
            }
        }
        if copied != size {
            return Err(OciError::io(
                blob_path(),
                io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("blob {digest} ended after {copied} of {size} bytes"),
                ),
            ));
        }
        self.reporter.item_progress(path, size);
        Ok(())
    }

    fn header(
        &self,
        path: &str,
        kind: tar::EntryType,
        mode: u32,
        size: u64,
    ) -> Result<tar::Header> {
        let mut header = tar::Header::new_ustar();
        header
            .set_path(path)
            .map_err(|e| OciError::io(format!("<archive>/{path}"), e))?;
        header.set_entry_type(kind);
        header.set_mode(mode);
        header.set_size(size);
        header.set_mtime(self.mtime);
        header.set_uid(0);
        header.set_gid(0);
        header.set_cksum();
        Ok(header)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alignment_padding_puts_the_body_on_a_4k_boundary() {
        for blocks in 0..16u64 {
            let offset = blocks * BLOCK;
            match alignment_padding(offset) {
                None => assert_eq!((offset + BLOCK) % ALIGN, 0, "{offset}"),
                Some(record) => {
                    let len = record.len() as u64;
                    assert_eq!(len % BLOCK, 0, "{offset}");
                    assert_eq!((offset + BLOCK + len + BLOCK) % ALIGN, 0, "{offset}");
                    let text = String::from_utf8(record).unwrap();
                    let (n, rest) = text.split_once(' ').unwrap();
                    assert_eq!(n.parse::<u64>().unwrap(), len, "{text}");
                    assert!(rest.starts_with("comment=") && rest.ends_with('\n'));
                }
            }
        }
    }

    #[test]
    fn checking_groups_balance_bytes_and_skip_memory_blobs() {
        let d = |n: u8| Digest::of(&[n]);
        let mut blobs = BTreeMap::new();
        blobs.insert(d(1), BlobSource::Layout(100));
        blobs.insert(d(2), BlobSource::Layout(60));
        blobs.insert(d(3), BlobSource::Layout(50));
        blobs.insert(d(4), BlobSource::Memory(vec![0; 500]));
        let groups = split_for_checking(&blobs);
        let sums: Vec<u64> = groups.iter().map(|g| g.iter().map(|b| b.1).sum()).collect();
        assert_eq!(sums, vec![100, 110]);
        assert_eq!(groups.iter().map(Vec::len).sum::<usize>(), 3);
    }
}
