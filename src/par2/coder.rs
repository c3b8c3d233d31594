//! Reed-Solomon over GF(2^16), bit-sliced: every output slice is a sum of input slices each
//! multiplied by a constant, and multiplying 16-bit words by a constant is a linear map
//! over GF(2), a 16×16 matrix of bits. The words of a block are transposed into 16 bit
//! planes (plane k holds bit k of every word), after which the product by a constant is
//! XORs of whole planes: output plane r is the XOR of the input planes whose bit is set in
//! row r of the matrix. The input planes are taken four at a time and their 16 XOR
//! combinations made once per input block, so that each output plane costs four table
//! look-ups of whole planes, whatever the constant. Plain `u64` XORs over fixed-size
//! arrays, which the compiler vectorises; no table look-up per word.
//!
//! Memory stays flat: outputs are accumulated a chunk of each slice at a time (at most
//! `budget` bytes of outputs), and the inputs are read by a thread of their own, a batch
//! of slices ahead, while the outputs are shared among threads.

use super::gf::times_x;
use std::io;
use std::sync::mpsc;

/// Bytes in one bit-sliced block: 1,024 words, 16 groups of 64.
pub const BLOCK: usize = 2048;
const GROUPS: usize = 16;
/// One block in planes: plane k, group g holds bit k of the 64 words of group g.
type Planes = [[u64; GROUPS]; 16];
/// For each quarter of the planes, the 16 XOR combinations of its four planes.
type Combos = [[[u64; GROUPS]; 16]; 4];
/// A constant as the coder uses it: for each output plane, one combination per quarter.
pub type Table = [u8; 64];

/// Transposes the 16×16 bit matrices held in the four 16-bit lanes of 16 rows (row r,
/// lane j: a word; bit c: column c). The same network undoes it.
fn transpose(rows: &mut [u64; 16]) {
    const MASKS: [(u32, u64); 4] = [
        (8, 0x00FF_00FF_00FF_00FF),
        (4, 0x0F0F_0F0F_0F0F_0F0F),
        (2, 0x3333_3333_3333_3333),
        (1, 0x5555_5555_5555_5555),
    ];
    for (s, mask) in MASKS {
        for r in 0..16 {
            if r & s as usize == 0 {
                let a = rows[r];
                let b = rows[r + s as usize];
                let t = ((a >> s) ^ b) & mask;
                rows[r + s as usize] = b ^ t;
                rows[r] = a ^ (t << s);
            }
        }
    }
}

#[allow(clippy::needless_range_loop)] // planes[k][g]: two indices, one loop
fn to_planes(bytes: &[u8], planes: &mut Planes) {
    for g in 0..GROUPS {
        let mut rows = [0u64; 16];
        for (i, row) in rows.iter_mut().enumerate() {
            let at = g * 128 + i * 8;
            let mut w = [0u8; 8];
            w.copy_from_slice(&bytes[at..at + 8]);
            *row = u64::from_le_bytes(w);
        }
        transpose(&mut rows);
        for (k, row) in rows.iter().enumerate() {
            planes[k][g] = *row;
        }
    }
}

#[allow(clippy::needless_range_loop)] // planes[k][g]: two indices, one loop
fn from_planes(planes: &Planes, bytes: &mut [u8]) {
    for g in 0..GROUPS {
        let mut rows = [0u64; 16];
        for (k, row) in rows.iter_mut().enumerate() {
            *row = planes[k][g];
        }
        transpose(&mut rows);
        for (i, row) in rows.iter().enumerate() {
            let at = g * 128 + i * 8;
            bytes[at..at + 8].copy_from_slice(&row.to_le_bytes());
        }
    }
}

fn combos(planes: &Planes, out: &mut Combos) {
    for (q, quarter) in out.iter_mut().enumerate() {
        quarter[0] = [0; GROUPS];
        for m in 1..16usize {
            let low = m.trailing_zeros() as usize;
            let rest = quarter[m & (m - 1)];
            let plane = &planes[q * 4 + low];
            let mut v = [0u64; GROUPS];
            for g in 0..GROUPS {
                v[g] = rest[g] ^ plane[g];
            }
            quarter[m] = v;
        }
    }
}

/// The table of constant `c`: column k of its matrix is c·x^k; row r, quarter q is the
/// nibble of bits r of columns 4q..4q+3.
pub fn table(c: u16) -> Table {
    let mut cols = [0u16; 16];
    let mut v = c;
    for col in cols.iter_mut() {
        *col = v;
        v = times_x(v);
    }
    let mut t = [0u8; 64];
    for r in 0..16 {
        for q in 0..4 {
            let mut nib = 0u8;
            for b in 0..4 {
                nib |= (((cols[q * 4 + b] >> r) & 1) as u8) << b;
            }
            t[r * 4 + q] = nib;
        }
    }
    t
}

fn mul_add(t: &Table, c: &Combos, out: &mut Planes) {
    for (r, plane) in out.iter_mut().enumerate() {
        let a = &c[0][(t[r * 4] & 15) as usize];
        let b = &c[1][(t[r * 4 + 1] & 15) as usize];
        let d = &c[2][(t[r * 4 + 2] & 15) as usize];
        let e = &c[3][(t[r * 4 + 3] & 15) as usize];
        for g in 0..GROUPS {
            plane[g] ^= a[g] ^ b[g] ^ d[g] ^ e[g];
        }
    }
}

/// One batch of input chunks, read ahead: `count` sources from `first`, each `stride`
/// bytes (a whole number of blocks, zero-padded).
struct Batch {
    first: usize,
    count: usize,
    data: Vec<u8>,
}

/// What [`run`] computes: `outputs` slices, output o = Σ_s coef(s, o) · source s.
pub struct Job<'a> {
    /// The number of sources.
    pub sources: usize,
    /// The number of outputs.
    pub outputs: usize,
    /// Bytes in each slice.
    pub slice: usize,
    /// The constant of source s in output o.
    pub coef: &'a (dyn Fn(usize, usize) -> u16 + Sync),
    /// Most bytes of outputs held at once.
    pub budget: usize,
    /// Threads for the arithmetic.
    pub threads: usize,
}

/// Bytes of each slice one pass handles, a whole number of blocks.
pub fn chunk_len(job: &Job) -> usize {
    let padded = job.slice.div_ceil(BLOCK) * BLOCK;
    let per_output = (job.budget / job.outputs.max(1)) / BLOCK * BLOCK;
    padded.min(per_output.max(BLOCK))
}

/// Runs `job` pass by pass. `read(s, from, buf)` fills `buf` with source s's bytes from
/// `from` (at most the slice's; the rest of `buf` must be zeros), on a thread of its own,
/// in order of sources within a pass; `emit(o, from, bytes)` is given each output's bytes
/// in order.
pub fn run<R, E>(job: &Job, read: R, mut emit: E) -> io::Result<()>
where
    R: FnMut(usize, usize, &mut [u8]) -> io::Result<()> + Send,
    E: FnMut(usize, usize, &[u8]) -> io::Result<()>,
{
    let chunk = chunk_len(job);
    let blocks = chunk / BLOCK;
    let batch_sources = ((32 << 20) / chunk).clamp(1, 16);
    let passes = job.slice.div_ceil(chunk).max(1);
    let threads = job.threads.clamp(1, job.outputs.max(1));
    let mut acc: Vec<Planes> = vec![[[0u64; GROUPS]; 16]; job.outputs * blocks];
    let (to_main, from_reader) = mpsc::sync_channel::<io::Result<Batch>>(1);
    let (to_reader, recycled) = mpsc::channel::<Vec<u8>>();
    std::thread::scope(|scope| -> io::Result<()> {
        // Owned here, so that an early return drops them and the reader stops.
        let from_reader = from_reader;
        let to_reader = to_reader;
        let sources = job.sources;
        let slice = job.slice;
        let mut read = read;
        scope.spawn(move || {
            for pass in 0..passes {
                let from = pass * chunk;
                let len = chunk.min(slice - from);
                let mut first = 0;
                while first < sources {
                    let count = batch_sources.min(sources - first);
                    let mut data = recycled.try_recv().unwrap_or_default();
                    data.clear();
                    data.resize(count * chunk, 0);
                    let mut result = Ok(());
                    for i in 0..count {
                        let buf = &mut data[i * chunk..i * chunk + len];
                        if let Err(e) = read(first + i, from, buf) {
                            result = Err(e);
                            break;
                        }
                    }
                    let batch = result.map(|()| Batch { first, count, data });
                    let failed = batch.is_err();
                    if to_main.send(batch).is_err() || failed {
                        return;
                    }
                    first += count;
                }
            }
        });
        let mut bytes = vec![0u8; chunk];
        for pass in 0..passes {
            let from = pass * chunk;
            let len = chunk.min(job.slice - from);
            for p in acc.iter_mut() {
                *p = [[0; GROUPS]; 16];
            }
            let mut done = 0;
            while done < job.sources {
                let batch = from_reader
                    .recv()
                    .map_err(|_| io::Error::other("the reader stopped"))??;
                add_batch(job, &batch, &mut acc, blocks, chunk, threads);
                done += batch.count;
                let _ = to_reader.send(batch.data);
            }
            for o in 0..job.outputs {
                for b in 0..blocks {
                    from_planes(&acc[o * blocks + b], &mut bytes[b * BLOCK..(b + 1) * BLOCK]);
                }
                emit(o, from, &bytes[..len])?;
            }
        }
        Ok(())
    })
}

fn add_batch(
    job: &Job,
    batch: &Batch,
    acc: &mut [Planes],
    blocks: usize,
    chunk: usize,
    threads: usize,
) {
    let per_thread = job.outputs.div_ceil(threads);
    std::thread::scope(|scope| {
        for (t, outs) in acc.chunks_mut(per_thread * blocks).enumerate() {
            let first_out = t * per_thread;
            scope.spawn(move || {
                let n_out = outs.len() / blocks;
                let mut tables = Vec::with_capacity(batch.count * n_out);
                for s in 0..batch.count {
                    for o in 0..n_out {
                        tables.push(table((job.coef)(batch.first + s, first_out + o)));
                    }
                }
                let mut planes: Planes = [[0; GROUPS]; 16];
                let mut c: Combos = [[[0; GROUPS]; 16]; 4];
                for b in 0..blocks {
                    for s in 0..batch.count {
                        let at = s * chunk + b * BLOCK;
                        to_planes(&batch.data[at..at + BLOCK], &mut planes);
                        combos(&planes, &mut c);
                        for o in 0..n_out {
                            mul_add(&tables[s * n_out + o], &c, &mut outs[o * blocks + b]);
                        }
                    }
                }
            });
        }
    });
}

#[cfg(test)]
mod tests {
    use super::super::gf::{Field, mul_slow};
    use super::*;

    #[test]
    fn planes_round_trip() {
        let bytes: Vec<u8> = (0..BLOCK).map(|i| (i * 7 + i / 13) as u8).collect();
        let mut p: Planes = [[0; GROUPS]; 16];
        to_planes(&bytes, &mut p);
        let mut back = vec![0u8; BLOCK];
        from_planes(&p, &mut back);
        assert_eq!(back, bytes);
    }

    #[test]
    fn the_coder_agrees_with_word_by_word_arithmetic() {
        let f = Field::new();
        let slice = 3 * BLOCK + 100;
        let sources = 5;
        let outputs = 3;
        let data: Vec<Vec<u8>> = (0..sources)
            .map(|s| {
                (0..slice)
                    .map(|i| ((i * 31 + s * 97) ^ (i >> 5)) as u8)
                    .collect()
            })
            .collect();
        let coef = |s: usize, o: usize| f.pow(f.exp2(s as u64 * 3 + 1), o as u64 + 1);
        for budget in [1 << 20, BLOCK * outputs] {
            let job = Job {
                sources,
                outputs,
                slice,
                coef: &coef,
                budget,
                threads: 2,
            };
            let mut got = vec![vec![0u8; slice]; outputs];
            run(
                &job,
                |s, from, buf| {
                    let n = buf.len().min(slice - from);
                    buf[..n].copy_from_slice(&data[s][from..from + n]);
                    Ok(())
                },
                |o, from, bytes| {
                    got[o][from..from + bytes.len()].copy_from_slice(bytes);
                    Ok(())
                },
            )
            .unwrap();
            for (o, out) in got.iter().enumerate() {
                for w in 0..slice / 2 {
                    let mut want = 0u16;
                    for (s, d) in data.iter().enumerate() {
                        let word = u16::from_le_bytes([d[2 * w], d[2 * w + 1]]);
                        want ^= mul_slow(word, coef(s, o));
                    }
                    let have = u16::from_le_bytes([out[2 * w], out[2 * w + 1]]);
                    assert_eq!(have, want, "output {o} word {w} budget {budget}");
                }
            }
        }
    }
}
