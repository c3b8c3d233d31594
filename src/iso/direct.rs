//! Writing a large image with direct I/O, for file systems that cannot share extents.
//!
//! On a file system without copy-on-write (ext4 and most others), every byte of the image is
//! written, and the closing fsync waits for all of them. Written through the page cache,
//! they are first copied into it, then written back by the kernel's flusher; written with
//! `O_DIRECT` from a few large aligned buffers, they go from those buffers to the disk while
//! the next buffers are filled, and the fsync finds nothing left but the file's metadata.
//! The sources are still read through the page cache (with its read-ahead), so a digest
//! of the image taken afterwards reads them from memory.
//!
//! The whole image is written this way, in image order: the descriptors and directories
//! from memory, each file from its source, the gaps between them as zeros, except holes of
//! sparse sources, which stay holes. Only the last partial block goes through the page
//! cache. A file system that refuses `O_DIRECT` (tmpfs before Linux 6.6, some network
//! file systems) is written the usual way ([`open`] says so).

use super::{IsoError, io_err};
use std::fs::File;
use std::io::{self, Read as _, Seek as _, SeekFrom};
use std::os::unix::fs::FileExt as _;
use std::path::Path;
use std::sync::mpsc;

/// Bytes of one buffer: a multiple of any direct-I/O alignment.
const BUFFER: usize = 8 << 20;
/// Buffers in flight: one filling, one writing, one ready.
const BUFFERS: usize = 3;
/// A gap in the image (a hole of a sparse source) at least this long is skipped, not
/// written as zeros.
const SKIP_GAP: u64 = 1 << 20;
/// Direct-I/O alignment when the kernel does not report it (`STATX_DIOALIGN`, Linux 6.1).
const DEFAULT_ALIGN: usize = 4096;

/// One run of the image's bytes.
pub(super) enum Piece<'a> {
    /// Bytes built in memory (descriptors, path tables, directories).
    Bytes { at: u64, bytes: &'a [u8] },
    /// A file's data, `size` bytes of `source`.
    File {
        at: u64,
        source: &'a Path,
        size: u64,
    },
}

impl Piece<'_> {
    fn at(&self) -> u64 {
        match self {
            Piece::Bytes { at, .. } | Piece::File { at, .. } => *at,
        }
    }
}

/// The image file opened a second time for direct I/O, with the alignment its writes need.
pub(super) struct Direct {
    file: File,
    align: usize,
}

/// Opens `path` (the image being written) for direct I/O; `None` when its file system does
/// not take direct I/O, or shares extents on copy (then `copy_file_range` costs nothing).
pub(super) fn open(path: &Path, image: &File) -> Option<Direct> {
    if shares_extents(image) {
        return None;
    }
    open_direct(path)
}

/// Opens `path` for direct I/O, if its file system takes it.
fn open_direct(path: &Path) -> Option<Direct> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let file = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(rustix::fs::OFlags::DIRECT.bits() as i32)
        .open(path)
        .ok()?;
    let align = match rustix::fs::statx(
        &file,
        "",
        rustix::fs::AtFlags::EMPTY_PATH,
        rustix::fs::StatxFlags::DIOALIGN,
    ) {
        Ok(st) if st.stx_mask & rustix::fs::StatxFlags::DIOALIGN.bits() != 0 => {
            // Zero: this file takes no direct I/O.
            if st.stx_dio_offset_align == 0 {
                return None;
            }
            (st.stx_dio_offset_align.max(st.stx_dio_mem_align) as usize).max(512)
        }
        _ => DEFAULT_ALIGN,
    };
    (align.is_power_of_two() && BUFFER.is_multiple_of(align)).then_some(Direct { file, align })
}

/// Whether `file`'s file system shares extents on `copy_file_range` (XFS, btrfs,
/// bcachefs): copying is then cheaper than any write.
fn shares_extents(file: &File) -> bool {
    const XFS: u32 = 0x5846_5342;
    const BTRFS: u32 = 0x9123_683e;
    const BCACHEFS: u32 = 0xca45_1a4e;
    rustix::fs::fstatfs(file)
        .map(|st| matches!(st.f_type as u32, XFS | BTRFS | BCACHEFS))
        .unwrap_or(false)
}

/// A buffer whose bytes start at an aligned address, as direct I/O needs.
struct Aligned {
    raw: Vec<u8>,
    start: usize,
}

impl Aligned {
    fn new(align: usize) -> Aligned {
        let raw = vec![0; BUFFER + align];
        let start = raw.as_ptr().align_offset(align);
        Aligned { raw, start }
    }
    fn bytes(&mut self) -> &mut [u8] {
        &mut self.raw[self.start..self.start + BUFFER]
    }
}

/// A filled buffer on its way to the disk: `len` bytes for the image at `at`.
struct Filled {
    buf: Aligned,
    at: u64,
    len: usize,
}

/// Writes `pieces` (in image order, not overlapping) to the image: all but the last
/// partial block with direct I/O through `direct`, that block through `image`.
pub(super) fn write(
    direct: Direct,
    pieces: &mut [Piece<'_>],
    image: &File,
    image_path: &Path,
) -> Result<(), IsoError> {
    pieces.sort_by_key(Piece::at);
    let Direct { file, align } = direct;
    let (full_tx, full_rx) = mpsc::sync_channel::<Filled>(BUFFERS);
    let (free_tx, free_rx) = mpsc::sync_channel::<Aligned>(BUFFERS);
    for _ in 0..BUFFERS {
        let _ = free_tx.send(Aligned::new(align));
    }
    std::thread::scope(|s| {
        let writer = s.spawn(move || -> io::Result<()> {
            for mut f in full_rx {
                file.write_all_at(&f.buf.bytes()[..f.len], f.at)?;
                // The filler has stopped when nobody takes the buffer back.
                let _ = free_tx.send(f.buf);
            }
            Ok(())
        });
        let mut stream = Stream {
            buf: free_rx.recv().ok(),
            at: 0,
            len: 0,
            align,
            free: &free_rx,
            full: Some(full_tx),
        };
        let filled = fill(&mut stream, pieces, image_path);
        // The last partial block, and the end of the writer whatever happened.
        let tail = stream.finish();
        let written = writer
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p));
        // A writer's error first: the filler then only saw the writer stop.
        written.map_err(|e| io_err(image_path, e))?;
        filled?;
        if let Some((buf, at)) = tail {
            image
                .write_all_at(&buf, at)
                .map_err(|e| io_err(image_path, e))?;
        }
        Ok(())
    })
}

/// Streams every piece into the buffers.
fn fill(stream: &mut Stream<'_>, pieces: &[Piece<'_>], image_path: &Path) -> Result<(), IsoError> {
    for piece in pieces {
        match *piece {
            Piece::Bytes { at, bytes } => {
                stream.seek(at).map_err(|e| io_err(image_path, e))?;
                let mut rest = bytes;
                while !rest.is_empty() {
                    let room = stream.room().map_err(|e| io_err(image_path, e))?;
                    let n = room.len().min(rest.len());
                    room[..n].copy_from_slice(&rest[..n]);
                    stream.advance(n).map_err(|e| io_err(image_path, e))?;
                    rest = &rest[n..];
                }
            }
            Piece::File { at, source, size } => {
                copy_file(stream, at, source, size, image_path)?;
            }
        }
    }
    Ok(())
}

/// Streams `size` bytes of `source` for the image at `at`, its holes skipped.
fn copy_file(
    stream: &mut Stream<'_>,
    at: u64,
    source: &Path,
    size: u64,
    image_path: &Path,
) -> Result<(), IsoError> {
    let changed = || IsoError::Changed {
        path: source.to_path_buf(),
        expected: size,
    };
    let file = crate::input::open_regular(source).map_err(|e| io_err(source, e.into_io()))?;
    let _ = rustix::fs::fadvise(&file, 0, None, rustix::fs::Advice::Sequential);
    let mut ahead = ReadAhead {
        file: &file,
        size,
        asked: 0,
    };
    ahead.to(READ_AHEAD);
    let mut pos = 0;
    while pos < size {
        let (start, end) = crate::util::next_data(&file, pos, size);
        if start >= size {
            break;
        }
        (&file)
            .seek(SeekFrom::Start(start))
            .map_err(|e| io_err(source, e))?;
        stream.seek(at + start).map_err(|e| io_err(image_path, e))?;
        let mut done = start;
        while done < end {
            let room = stream.room().map_err(|e| io_err(image_path, e))?;
            let want = room
                .len()
                .min(usize::try_from(end - done).unwrap_or(usize::MAX));
            let n = (&file)
                .read(&mut room[..want])
                .map_err(|e| io_err(source, e))?;
            if n == 0 {
                return Err(changed());
            }
            stream.advance(n).map_err(|e| io_err(image_path, e))?;
            done += n as u64;
            ahead.to(done + READ_AHEAD);
        }
        pos = end;
    }
    if file.metadata().map_err(|e| io_err(source, e))?.len() != size {
        return Err(changed());
    }
    Ok(())
}

/// How far ahead of the copy a source is asked to be read.
const READ_AHEAD: u64 = 64 << 20;

/// Asks the kernel to read a source ahead of the copy (`POSIX_FADV_WILLNEED`), further
/// than its own read-ahead goes, so that the disk reads the payload while it writes the
/// image (measured on ext4: 1.39 s against 1.44 s, faster in 6 of 8 rounds; BENCHMARKS.md).
struct ReadAhead<'f> {
    file: &'f File,
    size: u64,
    /// The source is asked for up to here.
    asked: u64,
}

impl ReadAhead<'_> {
    /// Asks for the source up to `upto`, in steps of a buffer at least.
    fn to(&mut self, upto: u64) {
        let upto = upto.min(self.size);
        if upto >= self.asked + BUFFER as u64 || (upto == self.size && upto > self.asked) {
            let len = std::num::NonZeroU64::new(upto - self.asked);
            let _ = rustix::fs::fadvise(self.file, self.asked, len, rustix::fs::Advice::WillNeed);
            self.asked = upto;
        }
    }
}

/// The image's bytes on their way into the buffers: `buf` holds `len` bytes for the
/// image at `at` (aligned).
struct Stream<'a> {
    buf: Option<Aligned>,
    at: u64,
    len: usize,
    align: usize,
    free: &'a mpsc::Receiver<Aligned>,
    full: Option<mpsc::SyncSender<Filled>>,
}

/// The writer has stopped (its error is reported when it is joined).
fn stopped() -> io::Error {
    io::Error::other("the image writer stopped")
}

impl Stream<'_> {
    /// The image offset the next byte goes to.
    fn pos(&self) -> u64 {
        self.at + self.len as u64
    }

    /// The free part of the current buffer (never empty).
    fn room(&mut self) -> io::Result<&mut [u8]> {
        let len = self.len;
        Ok(&mut self.buf.as_mut().ok_or_else(stopped)?.bytes()[len..])
    }

    /// `n` more bytes of the current buffer are filled; a full buffer goes to the writer.
    fn advance(&mut self, n: usize) -> io::Result<()> {
        self.len += n;
        if self.len == BUFFER {
            self.send(BUFFER)?;
        }
        Ok(())
    }

    /// Hands the first `len` bytes (aligned) to the writer and starts the next buffer right
    /// after them.
    fn send(&mut self, len: usize) -> io::Result<()> {
        let buf = self.buf.take().ok_or_else(stopped)?;
        let full = self.full.as_ref().ok_or_else(stopped)?;
        let at = self.at;
        full.send(Filled { buf, at, len }).map_err(|_| stopped())?;
        self.buf = Some(self.free.recv().map_err(|_| stopped())?);
        self.at += len as u64;
        self.len = 0;
        Ok(())
    }

    /// Moves to image offset `to` (not behind the current one): a short gap is filled
    /// with zeros, a long one is left unwritten (a hole).
    fn seek(&mut self, to: u64) -> io::Result<()> {
        debug_assert!(to >= self.pos(), "pieces overlap");
        if to.saturating_sub(self.pos()) >= SKIP_GAP {
            // Zeros up to the block boundary, the buffer out, and a new one from the
            // block that holds `to`.
            let align = self.align as u64;
            let boundary = self.pos().next_multiple_of(align);
            self.zeros(boundary - self.pos())?;
            if self.len > 0 {
                self.send(self.len)?;
            }
            self.at = to - to % align;
        }
        let gap = to - self.pos();
        self.zeros(gap)
    }

    fn zeros(&mut self, mut n: u64) -> io::Result<()> {
        while n > 0 {
            let room = self.room()?;
            let k = room.len().min(usize::try_from(n).unwrap_or(usize::MAX));
            room[..k].fill(0);
            self.advance(k)?;
            n -= k as u64;
        }
        Ok(())
    }

    /// Sends the buffer's whole blocks to the writer and closes it; returns the last
    /// partial block's bytes and offset, to be written through the page cache.
    fn finish(&mut self) -> Option<(Vec<u8>, u64)> {
        let whole = self.len - self.len % self.align;
        let mut tail = None;
        if let Some(mut buf) = self.buf.take() {
            if self.len > whole {
                tail = Some((
                    buf.bytes()[whole..self.len].to_vec(),
                    self.at + whole as u64,
                ));
            }
            if whole > 0
                && let Some(full) = &self.full
            {
                let at = self.at;
                let _ = full.send(Filled {
                    buf,
                    at,
                    len: whole,
                });
            }
        }
        self.full = None;
        tail
    }
}

/// Bytes of file data from which an image is written with direct I/O: smaller ones are
/// written through the page cache, where the few writes cost less than opening the file
/// again.
pub(super) const MIN_BYTES: u64 = 32 << 20;

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    /// Deterministic bytes that are not zeros.
    fn pattern(n: usize, seed: u8) -> Vec<u8> {
        (0..n)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) | 1)
            .collect()
    }

    /// A folder on the disk the build is on (TMPDIR may be a tmpfs without direct I/O).
    fn scratch() -> tempfile::TempDir {
        let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("target");
        std::fs::create_dir_all(&base).unwrap();
        tempfile::tempdir_in(base).unwrap()
    }

    #[test]
    fn direct_image_holds_every_piece_zero_gaps_and_holes() {
        let tmp = scratch();
        let dir = tmp.path();
        // A small file, one larger than two buffers, and a sparse one: a 3 MiB hole, 10 KiB
        // of data, a 2 MiB hole at its end.
        let small = pattern(5000, 7);
        let large = pattern(2 * BUFFER + 12_345, 3);
        std::fs::write(dir.join("small"), &small).unwrap();
        std::fs::write(dir.join("large"), &large).unwrap();
        let sparse_data = pattern(10 << 10, 9);
        let sparse_size = (3 << 20) + sparse_data.len() + (2 << 20);
        {
            let mut f = File::create(dir.join("sparse")).unwrap();
            f.seek(SeekFrom::Start(3 << 20)).unwrap();
            f.write_all(&sparse_data).unwrap();
            f.set_len(sparse_size as u64).unwrap();
        }
        let head = pattern(2048 * 3, 1);
        let body = pattern(2048 * 2 + 100, 2);
        // Out of order, with gaps shorter and longer than SKIP_GAP, ending mid-block.
        let sparse_at = 2048 * 20;
        let large_at = (sparse_at + sparse_size as u64).next_multiple_of(2048) + 2048 * 600;
        let body_at = (large_at + large.len() as u64).next_multiple_of(2048);
        let small_at = (body_at + body.len() as u64).next_multiple_of(2048) + 2048;
        let (sparse_path, large_path, small_path) =
            (dir.join("sparse"), dir.join("large"), dir.join("small"));
        let mut pieces = vec![
            Piece::File {
                at: small_at,
                source: &small_path,
                size: small.len() as u64,
            },
            Piece::Bytes {
                at: 0,
                bytes: &head,
            },
            Piece::File {
                at: large_at,
                source: &large_path,
                size: large.len() as u64,
            },
            Piece::Bytes {
                at: body_at,
                bytes: &body,
            },
            Piece::File {
                at: sparse_at,
                source: &sparse_path,
                size: sparse_size as u64,
            },
        ];
        let image_path = dir.join("image");
        let image = File::options()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&image_path)
            .unwrap();
        let direct = open_direct(&image_path).expect("the build's disk takes direct I/O");
        write(direct, &mut pieces, &image, &image_path).unwrap();

        let mut want = vec![0u8; (small_at as usize) + small.len()];
        for (at, bytes) in [
            (0, &head),
            (body_at, &body),
            (large_at, &large),
            (small_at, &small),
        ] {
            want[at as usize..at as usize + bytes.len()].copy_from_slice(bytes);
        }
        let data_at = sparse_at as usize + (3 << 20);
        want[data_at..data_at + sparse_data.len()].copy_from_slice(&sparse_data);
        let got = std::fs::read(&image_path).unwrap();
        assert_eq!(got.len(), want.len(), "the image ends with the last piece");
        assert!(got == want, "the image's bytes differ from the pieces");
        // The sparse source's holes and the long gap stay holes: far fewer blocks than
        // bytes are allocated.
        use std::os::unix::fs::MetadataExt as _;
        let allocated = image.metadata().unwrap().blocks() * 512;
        let holes = (5 << 20) + 2048 * 600;
        assert!(
            allocated + holes - (1 << 20) <= got.len() as u64,
            "{allocated} bytes allocated for {} with {holes} bytes of holes",
            got.len()
        );
    }

    #[test]
    fn a_source_shorter_than_its_size_is_a_changed_file() {
        let tmp = scratch();
        let src = tmp.path().join("src");
        std::fs::write(&src, pattern(4096, 5)).unwrap();
        let image_path = tmp.path().join("image");
        let image = File::create(&image_path).unwrap();
        let direct = open_direct(&image_path).expect("the build's disk takes direct I/O");
        let mut pieces = vec![Piece::File {
            at: 0,
            source: &src,
            size: 8192,
        }];
        let err = write(direct, &mut pieces, &image, &image_path).unwrap_err();
        assert!(
            matches!(err, IsoError::Changed { expected: 8192, .. }),
            "{err}"
        );
    }
}
