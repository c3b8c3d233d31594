//! A gzip stream that deflates some of its bytes and stores the others as they are.
//!
//! One gzip member, one deflate stream, read by any gzip reader (`tar xzf`, `gzip -d`,
//! flate2's `GzDecoder`): what is written through [`Write`] is deflated; what is given to
//! [`GzWriter::write_stored`] goes into stored blocks (deflate block type 0: the bytes as
//! they are behind a 5-byte header, at most 65,535 a block). Data that is compressed
//! already (a .deb's members) gains nothing from deflate and costs most of the time; stored,
//! it costs a copy and the CRC.
//!
//! The output depends only on the bytes and on which of them are stored, never on how the
//! writes are split: stored bytes are cut into blocks of 65,535, the last one shorter;
//! deflated bytes reach the compressor in pieces of 64 KiB, the last one shorter (its output
//! depends on how its input is split); each switch from deflated to stored bytes ends the
//! deflated run with a sync flush and starts the next one with a new compressor (no match
//! reaches back across stored bytes the compressor has not seen).

use flate2::{Compress, Compression, Crc, FlushCompress, Status};
use std::io::{self, Write};

/// The most bytes one stored block holds.
pub const STORED_BLOCK_MAX: usize = 65_535;

/// Output buffer of the compressor.
const OUT_BUF: usize = 128 * 1024;

/// The pieces the compressor is given.
const DEFLATE_PIECE: usize = 64 * 1024;

/// A gzip writer with stored runs; the header has no name and time 0.
pub struct GzWriter<W: Write> {
    out: W,
    deflate: Compress,
    /// The compressor has been given bytes since its last sync flush.
    deflating: bool,
    /// Deflated bytes not yet given to the compressor: less than one piece.
    pending: Vec<u8>,
    /// Stored bytes not yet written: less than one block.
    stored: Vec<u8>,
    crc: Crc,
    buf: Vec<u8>,
}

impl<W: Write> GzWriter<W> {
    /// Writes the gzip header to `out`; deflated bytes are compressed at `level`.
    pub fn new(mut out: W, level: Compression) -> io::Result<GzWriter<W>> {
        // XFL as gzip sets it: 2 for the best compression, 4 for the fastest. OS 255
        // (unknown), so the bytes do not depend on the machine.
        let xfl = match level.level() {
            9 => 2,
            1 => 4,
            _ => 0,
        };
        out.write_all(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, xfl, 255])?;
        Ok(GzWriter {
            out,
            deflate: Compress::new(level, false),
            deflating: false,
            pending: Vec::with_capacity(DEFLATE_PIECE),
            stored: Vec::with_capacity(STORED_BLOCK_MAX),
            crc: Crc::new(),
            buf: Vec::with_capacity(OUT_BUF),
        })
    }

    /// Writes `data` as it is, in stored blocks.
    pub fn write_stored(&mut self, mut data: &[u8]) -> io::Result<()> {
        if self.deflating || !self.pending.is_empty() {
            // Byte-aligned, nothing held back; the next deflated run starts afresh.
            self.give_pending(FlushCompress::Sync)?;
            self.deflate.reset();
            self.deflating = false;
        }
        self.crc.update(data);
        while !data.is_empty() {
            let take = (STORED_BLOCK_MAX - self.stored.len()).min(data.len());
            self.stored.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.stored.len() == STORED_BLOCK_MAX {
                self.emit_stored()?;
            }
        }
        Ok(())
    }

    /// Ends the stream (the last block, the CRC and length) and returns the writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.emit_stored()?;
        // After stored bytes the compressor is new: this writes an empty final block.
        self.give_pending(FlushCompress::Finish)?;
        let mut trailer = [0u8; 8];
        trailer[..4].copy_from_slice(&self.crc.sum().to_le_bytes());
        trailer[4..].copy_from_slice(&self.crc.amount().to_le_bytes());
        self.out.write_all(&trailer)?;
        Ok(self.out)
    }

    /// Writes the stored bytes held back as one block (non-final).
    fn emit_stored(&mut self) -> io::Result<()> {
        if self.stored.is_empty() {
            return Ok(());
        }
        let len = u16::try_from(self.stored.len()).map_err(io::Error::other)?;
        let mut head = [0u8; 5];
        head[1..3].copy_from_slice(&len.to_le_bytes());
        head[3..5].copy_from_slice(&(!len).to_le_bytes());
        self.out.write_all(&head)?;
        self.out.write_all(&self.stored)?;
        self.stored.clear();
        Ok(())
    }

    /// Gives the deflated bytes held back to the compressor, with `flush`.
    fn give_pending(&mut self, flush: FlushCompress) -> io::Result<()> {
        let pending = std::mem::take(&mut self.pending);
        let result = self.run(&pending, flush);
        self.deflating |= !pending.is_empty();
        self.pending = pending;
        self.pending.clear();
        result
    }

    /// Gives `input` to the compressor with `flush` and writes what it returns; with a
    /// flush, until it has returned everything.
    fn run(&mut self, mut input: &[u8], flush: FlushCompress) -> io::Result<()> {
        loop {
            self.buf.clear();
            let before = self.deflate.total_in();
            let status = self
                .deflate
                .compress_vec(input, &mut self.buf, flush)
                .map_err(io::Error::other)?;
            let used = usize::try_from(self.deflate.total_in() - before).unwrap_or(input.len());
            input = &input[used.min(input.len())..];
            self.out.write_all(&self.buf)?;
            let full = self.buf.len() == self.buf.capacity();
            let flushing = !matches!(flush, FlushCompress::None);
            let finishing = matches!(flush, FlushCompress::Finish);
            match status {
                Status::StreamEnd => return Ok(()),
                // Without a flush the compressor may keep output back for the next call;
                // with one, it is done when it returns less than it could.
                _ if input.is_empty() && (!flushing || (!full && !finishing)) => return Ok(()),
                Status::BufError if self.buf.is_empty() && used == 0 => {
                    return Err(io::Error::other("deflate made no progress"));
                }
                _ => {}
            }
        }
    }
}

impl<W: Write> Write for GzWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.emit_stored()?;
        self.crc.update(data);
        let mut rest = data;
        while !rest.is_empty() {
            let take = (DEFLATE_PIECE - self.pending.len()).min(rest.len());
            self.pending.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if self.pending.len() == DEFLATE_PIECE {
                self.give_pending(FlushCompress::None)?;
            }
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// The deflate block types of a gzip stream, in order (0 stored, 1 fixed, 2 dynamic Huffman
/// codes), with the length of each stored block: for tests, which check what a writer did.
#[cfg(test)]
pub fn block_types(gz: &[u8]) -> Vec<(u8, usize)> {
    struct Bits<'a> {
        data: &'a [u8],
        pos: usize,
    }
    impl Bits<'_> {
        fn bit(&mut self) -> u32 {
            let b = (self.data[self.pos / 8] >> (self.pos % 8)) & 1;
            self.pos += 1;
            u32::from(b)
        }
        fn bits(&mut self, n: u32) -> u32 {
            (0..n).fold(0, |v, i| v | (self.bit() << i))
        }
    }
    // A Huffman code from code lengths (RFC 1951 3.2.2): (length, code) to symbol.
    fn code(lengths: &[u8]) -> std::collections::HashMap<(u8, u32), usize> {
        let mut out = std::collections::HashMap::new();
        let mut next = 0u32;
        for len in 1..=15u8 {
            for (sym, _) in lengths.iter().enumerate().filter(|(_, l)| **l == len) {
                out.insert((len, next), sym);
                next += 1;
            }
            next <<= 1;
        }
        out
    }
    fn decode(bits: &mut Bits, table: &std::collections::HashMap<(u8, u32), usize>) -> usize {
        let (mut v, mut len) = (0u32, 0u8);
        loop {
            v = (v << 1) | bits.bit();
            len += 1;
            if let Some(sym) = table.get(&(len, v)) {
                return *sym;
            }
            assert!(len < 16, "bad Huffman code");
        }
    }
    const LEN_EXTRA: [u32; 29] = [
        0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
    ];
    const DIST_EXTRA: [u32; 30] = [
        0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12,
        13, 13,
    ];
    assert_eq!(&gz[..3], &[0x1f, 0x8b, 8]);
    assert_eq!(gz[3], 0, "no optional header fields");
    let mut bits = Bits {
        data: &gz[10..],
        pos: 0,
    };
    let mut blocks = Vec::new();
    loop {
        let last = bits.bit() == 1;
        let kind = bits.bits(2) as u8;
        match kind {
            0 => {
                bits.pos = bits.pos.div_ceil(8) * 8;
                let len = bits.bits(16) as usize;
                assert_eq!(bits.bits(16) as usize, !len & 0xffff);
                bits.pos += len * 8;
                blocks.push((0, len));
            }
            1 | 2 => {
                let (lit, dist) = if kind == 1 {
                    let mut l = vec![8u8; 144];
                    l.extend([9; 112]);
                    l.extend([7; 24]);
                    l.extend([8; 8]);
                    (code(&l), code(&[5; 30]))
                } else {
                    let hlit = bits.bits(5) as usize + 257;
                    let hdist = bits.bits(5) as usize + 1;
                    let hclen = bits.bits(4) as usize + 4;
                    const ORDER: [usize; 19] = [
                        16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15,
                    ];
                    let mut cl = [0u8; 19];
                    for &i in &ORDER[..hclen] {
                        cl[i] = bits.bits(3) as u8;
                    }
                    let cl = code(&cl);
                    let mut lengths = Vec::new();
                    while lengths.len() < hlit + hdist {
                        match decode(&mut bits, &cl) {
                            s @ 0..=15 => lengths.push(s as u8),
                            16 => {
                                let prev = *lengths.last().unwrap();
                                let n = 3 + bits.bits(2);
                                lengths.extend((0..n).map(|_| prev));
                            }
                            17 => lengths.extend((0..3 + bits.bits(3)).map(|_| 0)),
                            _ => lengths.extend((0..11 + bits.bits(7)).map(|_| 0)),
                        }
                    }
                    (code(&lengths[..hlit]), code(&lengths[hlit..]))
                };
                loop {
                    let sym = decode(&mut bits, &lit);
                    if sym == 256 {
                        break;
                    }
                    if sym > 256 {
                        bits.bits(LEN_EXTRA[sym - 257]);
                        let d = decode(&mut bits, &dist);
                        bits.bits(DIST_EXTRA[d]);
                    }
                }
                blocks.push((kind, 0));
            }
            _ => panic!("reserved block type"),
        }
        if last {
            return blocks;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn gunzip(gz: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(gz)
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    /// Bytes that do not compress (a simple generator: the same every run).
    fn noise(n: usize, mut seed: u64) -> Vec<u8> {
        (0..n)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed as u8
            })
            .collect()
    }

    #[test]
    fn stored_and_deflated_runs_read_back_whole_and_the_splits_do_not_matter() {
        let text = b"Package: jq\nVersion: 1.6\n".repeat(500);
        let big = noise(3 * STORED_BLOCK_MAX + 17, 7);
        let write = |chunk: usize| {
            let mut gz = GzWriter::new(Vec::new(), Compression::new(6)).unwrap();
            gz.write_all(&text).unwrap();
            for c in big.chunks(chunk) {
                gz.write_stored(c).unwrap();
            }
            for c in text.chunks(chunk) {
                gz.write_all(c).unwrap();
            }
            gz.write_stored(b"tail").unwrap();
            gz.finish().unwrap()
        };
        let gz = write(4096);
        let mut want = text.clone();
        want.extend_from_slice(&big);
        want.extend_from_slice(&text);
        want.extend_from_slice(b"tail");
        assert_eq!(gunzip(&gz), want);
        assert_eq!(write(1000), gz);
        assert_eq!(write(STORED_BLOCK_MAX + 1), gz);
        // The noise is stored in full blocks and one short one; the text deflated.
        let blocks = block_types(&gz);
        let stored: Vec<usize> = blocks
            .iter()
            .filter(|(k, n)| *k == 0 && *n > 0)
            .map(|b| b.1)
            .collect();
        assert_eq!(
            stored,
            vec![STORED_BLOCK_MAX, STORED_BLOCK_MAX, STORED_BLOCK_MAX, 17, 4]
        );
        assert!(blocks.iter().any(|(k, _)| *k != 0));
        assert!(gz.len() < big.len() + 2 * text.len() / 10);
        // Read by the gzip tool too, when there is one.
        if let Ok(mut child) = std::process::Command::new("gzip")
            .args(["-dc"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
        {
            let mut stdin = child.stdin.take().unwrap();
            let input = gz.clone();
            let feeder = std::thread::spawn(move || stdin.write_all(&input));
            let out = child.wait_with_output().unwrap();
            feeder.join().unwrap().unwrap();
            assert!(out.status.success());
            assert_eq!(out.stdout, want);
        }
    }

    #[test]
    fn an_empty_or_all_stored_stream_is_valid() {
        let gz = GzWriter::new(Vec::new(), Compression::new(6))
            .unwrap()
            .finish()
            .unwrap();
        assert!(gunzip(&gz).is_empty());
        let mut w = GzWriter::new(Vec::new(), Compression::new(6)).unwrap();
        w.write_stored(b"abc").unwrap();
        let gz = w.finish().unwrap();
        assert_eq!(gunzip(&gz), b"abc");
        assert_eq!(block_types(&gz)[0], (0, 3));
    }
}
