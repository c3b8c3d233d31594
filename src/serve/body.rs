//! Response bodies: a small document in memory, or a range of a blob streamed from its
//! open file one chunk at a time (read on tokio's blocking threads, the next chunk only
//! once the connection took the last: memory per download is one chunk).

use bytes::Bytes;
use hyper::body::{Body as HttpBody, Frame, SizeHint};
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
    /// Part of a file.
    File(FileBody),
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
        Body::File(FileBody {
            file: Arc::new(file),
            pos: start,
            end,
            reading: None,
        })
    }
}

pub(crate) struct FileBody {
    file: Arc<File>,
    pos: u64,
    end: u64,
    reading: Option<JoinHandle<io::Result<Vec<u8>>>>,
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
            let (file, at) = (self.file.clone(), self.pos);
            let len = (self.end - self.pos).min(CHUNK);
            self.reading = Some(tokio::task::spawn_blocking(move || {
                let mut buf = vec![0; usize::try_from(len).unwrap_or(0)];
                let mut filled = 0;
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
                Ok(buf)
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
            Ok(Ok(buf)) => {
                self.pos += buf.len() as u64;
                Poll::Ready(Some(Ok(Frame::data(Bytes::from(buf)))))
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
}

use std::future::Future as _;
