//! Response bodies: a small document in memory, or a range of a blob streamed from its
//! open file one chunk at a time (the next chunk only once the connection took the last:
//! memory per download is about one chunk).
//!
//! A chunk whose bytes are in the page cache (a blob many nodes pull at once, after the
//! first) is read on the connection's own thread with `RWF_NOWAIT`, which reads only what
//! needs no disk; the rest, and every chunk that is hashed, is read on tokio's blocking
//! threads, so a slow disk never holds up other connections. Each download reads into one
//! buffer of its own, taken back once the connection has sent the chunk before.
//!
//! A whole blob is hashed as it is read, and its last chunk is given to the connection
//! only once the hash matches its digest: on a mismatch (a disk error, an edit) the body
//! fails instead, the connection is dropped short of its `Content-Length`, and no client
//! takes the bytes as a complete blob. A blob whose hash matched is remembered with its
//! file's identity ([`super::verified`]), and sent unhashed while the file keeps it: such a
//! download checks once its last chunk is read (one `fstat`) that the file still has that
//! identity, and fails short of its length otherwise, so a write into the file while it
//! was sent is never taken as a whole blob either.

use super::verified::{Identity, Verified};
use crate::oci::Digest;
use bytes::{Bytes, BytesMut};
use hyper::body::{Body as HttpBody, Frame, SizeHint};
use sha2::{Digest as _, Sha256};
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt as _;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::task::JoinHandle;

/// Bytes read from a blob at a time.
const CHUNK: u64 = 256 * 1024;

/// A response body.
pub(crate) enum Body {
    /// Nothing (HEAD, 304) or a document.
    Bytes(Option<Bytes>),
    /// Part of a file (boxed: its hash state is some 200 bytes).
    File(Box<FileBody>),
}

impl Body {
    pub fn empty() -> Body {
        Body::Bytes(None)
    }

    pub fn bytes(b: impl Into<Bytes>) -> Body {
        Body::Bytes(Some(b.into()))
    }

    /// Bytes `start..end` of `file`.
    pub fn file(file: File, start: u64, end: u64) -> Body {
        Body::File(Box::new(FileBody {
            file: Arc::new(file),
            pos: start,
            end,
            check: None,
            same: None,
            reading: None,
            buffer: BytesMut::new(),
            nowait: true,
        }))
    }

    /// The whole `file`, `size` bytes, sent unhashed (its bytes were checked in a file of
    /// this `identity`): after its last chunk is read, the file must still have that
    /// identity, or the body fails short of its length (a write during the download).
    pub fn remembered_file(file: File, size: u64, digest: Digest, identity: Identity) -> Body {
        Body::File(Box::new(FileBody {
            file: Arc::new(file),
            pos: 0,
            end: size,
            check: None,
            same: Some((identity, digest)),
            reading: None,
            buffer: BytesMut::new(),
            nowait: true,
        }))
    }

    /// The whole `file`, `size` bytes, checked against `digest` as it is read; once it
    /// matched, `verified` remembers it with the file's `identity` (taken when it was
    /// opened), unless the file changed while it was read.
    pub fn checked_file(
        file: File,
        size: u64,
        digest: Digest,
        verified: Arc<Verified>,
        identity: Identity,
    ) -> Body {
        Body::File(Box::new(FileBody {
            file: Arc::new(file),
            pos: 0,
            end: size,
            check: Some(Check {
                digest,
                hasher: Some(Sha256::new()),
                remember: Some((verified, identity)),
            }),
            same: None,
            reading: None,
            buffer: BytesMut::new(),
            nowait: true,
        }))
    }
}

/// The digest a whole blob must hash to, its hash so far, and where a match is remembered.
struct Check {
    digest: Digest,
    /// With the reading task while a chunk is read.
    hasher: Option<Sha256>,
    /// Taken by the task that reads the last chunk.
    remember: Option<(Arc<Verified>, Identity)>,
}

/// A chunk read (the buffer, filled), and the hash with it.
type Chunk = (BytesMut, Option<Sha256>);

pub(crate) struct FileBody {
    file: Arc<File>,
    pos: u64,
    end: u64,
    check: Option<Check>,
    /// A remembered blob sent unhashed: the identity its file must still have once its
    /// last chunk is read.
    same: Option<(Identity, Digest)>,
    reading: Option<JoinHandle<io::Result<Chunk>>>,
    /// What chunks are read into: after the first chunk, the one allocation whose front
    /// was handed to the connection, taken back when the connection has let go of it.
    buffer: BytesMut,
    /// Whether a read may try the page cache on this thread first (it stops trying where
    /// the file system does not support `RWF_NOWAIT`).
    nowait: bool,
}

impl HttpBody for Body {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        match self.get_mut() {
            Body::Bytes(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            Body::File(f) => f.poll_chunk(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Body::Bytes(b) => b.is_none(),
            Body::File(f) => f.pos >= f.end && f.reading.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Body::Bytes(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            Body::File(f) => SizeHint::with_exact(f.end.saturating_sub(f.pos)),
        }
    }
}

impl FileBody {
    fn poll_chunk(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        if self.reading.is_none() {
            if self.pos >= self.end {
                return Poll::Ready(None);
            }
            let at = self.pos;
            let len = usize::try_from((self.end - at).min(CHUNK)).unwrap_or(0);
            // The buffer is empty (its last chunk went to the connection): growing it takes
            // the allocation back when that chunk is gone; else it allocates anew.
            let mut buf = std::mem::take(&mut self.buffer);
            buf.resize(len, 0);
            let mut filled = 0;
            let last = at + len as u64 >= self.end;
            // Checked once the last chunk is read: every byte sent was read by then.
            let same = if last { self.same.take() } else { None };
            if self.check.is_none() && self.nowait {
                filled = self.read_cached(&mut buf, at);
                if filled == len {
                    if let Some((identity, digest)) = same
                        && let Err(e) = still(&self.file, &identity, &digest)
                    {
                        self.pos = self.end;
                        return Poll::Ready(Some(Err(e)));
                    }
                    return Poll::Ready(Some(Ok(self.give(buf))));
                }
            }
            let file = self.file.clone();
            let mut hasher = self.check.as_mut().and_then(|c| c.hasher.take());
            let expected = self.check.as_ref().map(|c| c.digest.clone());
            let remember = if last {
                self.check.as_mut().and_then(|c| c.remember.take())
            } else {
                None
            };
            self.reading = Some(tokio::task::spawn_blocking(move || {
                while filled < buf.len() {
                    let n = file.read_at(&mut buf[filled..], at + filled as u64)?;
                    if n == 0 {
                        // The blob is shorter than its size said: end the response short
                        // (the client sees a truncated body, never wrong bytes as whole).
                        return Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "blob shorter than its size",
                        ));
                    }
                    filled += n;
                }
                if let Some((identity, digest)) = same {
                    still(&file, &identity, &digest)?;
                }
                if let Some(h) = hasher.as_mut() {
                    h.update(&buf);
                }
                if last && let (Some(h), Some(expected)) = (hasher.take(), expected) {
                    let sum: [u8; 32] = h.finalize().into();
                    if crate::oci::digest::BlobKey::from_bytes(sum) != expected.key() {
                        tracing::warn!(
                            "oci/blobs/sha256/{}: its bytes do not match its digest; the response was cut short",
                            expected.hex()
                        );
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            "blob does not match its digest",
                        ));
                    }
                    // The bytes matched: remembered while the file is the one opened, as
                    // it was then (a write during the read moved its change time).
                    if let Some((verified, identity)) = remember
                        && file.metadata().is_ok_and(|m| Identity::of(&m) == identity)
                    {
                        verified.remember(expected.key(), identity);
                    }
                }
                Ok((buf, hasher))
            }));
        }
        let Some(reading) = self.reading.as_mut() else {
            return Poll::Ready(None);
        };
        let result = match Pin::new(reading).poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(r) => r,
        };
        self.reading = None;
        match result {
            Ok(Ok((buf, hasher))) => {
                if let Some(check) = self.check.as_mut() {
                    check.hasher = hasher;
                }
                Poll::Ready(Some(Ok(self.give(buf))))
            }
            Ok(Err(e)) => {
                self.pos = self.end;
                Poll::Ready(Some(Err(e)))
            }
            Err(e) => {
                self.pos = self.end;
                Poll::Ready(Some(Err(io::Error::other(e))))
            }
        }
    }

    /// Reads into `buf` from `at` what the page cache holds, on this thread, without
    /// waiting for the disk; how many bytes it read (the rest is read on a blocking
    /// thread). A file system that cannot read so is not asked again by this download.
    fn read_cached(&mut self, buf: &mut [u8], at: u64) -> usize {
        let mut filled = 0;
        while filled < buf.len() {
            let slice = &mut [io::IoSliceMut::new(&mut buf[filled..])];
            match rustix::io::preadv2(
                &*self.file,
                slice,
                at + filled as u64,
                rustix::io::ReadWriteFlags::NOWAIT,
            ) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(rustix::io::Errno::AGAIN) => break,
                Err(rustix::io::Errno::INTR) => {}
                Err(_) => {
                    self.nowait = false;
                    break;
                }
            }
        }
        filled
    }

    /// The chunk read into `buf`, as the frame the connection sends; the buffer's
    /// allocation is kept for the next chunk.
    fn give(&mut self, mut buf: BytesMut) -> Frame<Bytes> {
        let chunk = buf.split().freeze();
        self.pos += chunk.len() as u64;
        self.buffer = buf;
        Frame::data(chunk)
    }
}

/// Fails unless the open `file` still has `identity` (one `fstat`): a write to it, in
/// place or by truncation, since its bytes were checked moved its change time or size.
fn still(file: &File, identity: &Identity, digest: &Digest) -> io::Result<()> {
    let now = file.metadata()?;
    if Identity::of(&now) == *identity {
        return Ok(());
    }
    tracing::warn!(
        "oci/blobs/sha256/{}: its file changed while it was sent; the response was cut short",
        digest.hex()
    );
    Err(io::Error::new(
        io::ErrorKind::InvalidData,
        "blob's file changed while it was sent",
    ))
}

use std::future::Future as _;
