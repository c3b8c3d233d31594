//! A 5 GiB file goes into the image as a multi-extent file, and every judge reads it back
//! whole. The source is sparse (a few markers in 5 GiB of holes) and the writer keeps the
//! holes, so the test costs seconds and a few megabytes of disk, not 5 GiB.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use crate::common;

use common::iso::{isoinfo_paths, pycdlib_python, sevenzip_listing};
use common::{Cmd, require_tool};
use seedforge::iso::{IsoImage, Namespace};
use std::fs::{self, File};
use std::io::{self, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt as _;
use std::path::Path;

const BIG: u64 = 5 << 30;
/// Where markers sit: the start, across the first extent boundary (0xFFFF_F800), the end.
const MARKERS: [(u64, &[u8]); 3] = [
    (0, b"FIRST-BYTES"),
    (0xFFFF_F800 - 5, b"ACROSS-THE-EXTENT-BOUNDARY"),
    (BIG - 8, b"LASTBYTE"),
];

fn make_sparse(path: &Path) {
    let mut f = File::create(path).unwrap();
    f.set_len(BIG).unwrap();
    for (at, bytes) in MARKERS {
        f.seek(SeekFrom::Start(at)).unwrap();
        f.write_all(bytes).unwrap();
    }
}

/// A writer that checks it receives exactly the sparse file's bytes. It compares runs
/// against a static zero block (memcmp) so it stays fast in a debug build.
struct Expect {
    pos: u64,
}

static ZEROS: [u8; 1 << 16] = [0; 1 << 16];

fn all_zero(s: &[u8]) -> bool {
    s.chunks(ZEROS.len()).all(|c| c == &ZEROS[..c.len()])
}

impl Write for Expect {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let end = self.pos + data.len() as u64;
        let mut special: Vec<(usize, u8)> = MARKERS
            .iter()
            .flat_map(|(at, bytes)| {
                bytes
                    .iter()
                    .enumerate()
                    .map(move |(i, b)| (at + i as u64, *b))
            })
            .filter(|(p, _)| *p >= self.pos && *p < end)
            .map(|(p, b)| ((p - self.pos) as usize, b))
            .collect();
        special.sort_unstable();
        let mut from = 0;
        for (at, b) in special {
            assert!(
                all_zero(&data[from..at]),
                "non-zero bytes before {}",
                self.pos + at as u64
            );
            assert_eq!(data[at], b, "marker byte at {}", self.pos + at as u64);
            from = at + 1;
        }
        assert!(
            all_zero(&data[from..]),
            "non-zero bytes in [{}, {end})",
            self.pos
        );
        self.pos = end;
        Ok(data.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Expect {
    /// `len` bytes of a hole at the current position: zeros, so no marker may lie there.
    fn hole(&mut self, len: u64) {
        let end = self.pos + len;
        for (at, bytes) in MARKERS {
            assert!(
                at + bytes.len() as u64 <= self.pos || at >= end,
                "the marker at {at} falls in the hole [{}, {end})",
                self.pos
            );
        }
        self.pos = end;
    }
}

/// Checks a file extracted from the image holds the sparse file's bytes: its holes (found
/// with `SEEK_DATA`/`SEEK_HOLE`, `util::next_data`; zeros, so no marker may fall in one) and
/// its data read, instead of 5 GiB of zeros read from the kernel.
fn check_file(path: &Path) {
    use std::os::unix::fs::FileExt as _;
    assert_eq!(fs::metadata(path).unwrap().len(), BIG);
    let mut expect = Expect { pos: 0 };
    let f = File::open(path).unwrap();
    let mut buf = vec![0u8; 4 << 20];
    while expect.pos < BIG {
        let (data, end) = seedforge::util::next_data(&f, expect.pos, BIG);
        expect.hole(data - expect.pos);
        while expect.pos < end {
            let want = usize::try_from(end - expect.pos).map_or(buf.len(), |n| n.min(buf.len()));
            let n = f.read_at(&mut buf[..want], expect.pos).unwrap();
            assert!(n > 0, "{}: ends early at {}", path.display(), expect.pos);
            expect.write_all(&buf[..n]).unwrap();
        }
    }
    assert_eq!(expect.pos, BIG);
}

#[test]
fn a_sparse_5_gib_file_becomes_a_multi_extent_file_every_reader_reads_whole() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    fs::create_dir(&src).unwrap();
    fs::write(src.join("user-data"), "#cloud-config\n").unwrap();
    fs::write(src.join("meta-data"), "instance-id: big\n").unwrap();
    make_sparse(&src.join("big.img"));
    let iso = tmp.path().join("big.iso");
    Cmd::seedforge()
        .args(["iso", "--out"])
        .arg(&iso)
        .arg(&src)
        .run();

    let meta = fs::metadata(&iso).unwrap();
    assert!(meta.len() > BIG);
    assert!(
        meta.blocks() * 512 < 64 << 20,
        "holes were written out: {} blocks",
        meta.blocks()
    );

    let mut img = IsoImage::open(&iso).unwrap();
    let entries = img.entries(Namespace::RockRidge).unwrap();
    let big = entries.iter().find(|e| e.path == "big.img").unwrap();
    assert_eq!(big.size, BIG);
    assert_eq!(big.extents.len(), 2, "{:?}", big.extents);
    let mut expect = Expect { pos: 0 };
    assert_eq!(img.copy_to(big, &mut expect).unwrap(), BIG);

    if require_tool("blkid") {
        let out = Cmd::new("blkid").arg("-p").arg(&iso).run().stdout;
        assert!(
            out.contains(r#"LABEL="cidata""#) && out.contains(r#"TYPE="iso9660""#),
            "{out}"
        );
    }
    if require_tool("isoinfo") {
        let d = Cmd::new("isoinfo")
            .arg("-d")
            .arg("-i")
            .arg(&iso)
            .run()
            .stdout;
        assert!(d.contains("Rock Ridge signatures version 1 found"), "{d}");
        assert!(d.contains("Joliet with UCS level 3 found"), "{d}");
        let listing = Cmd::new("isoinfo")
            .args(["-R", "-l", "-i"])
            .arg(&iso)
            .run()
            .stdout;
        let sizes: u64 = listing
            .lines()
            .filter(|l| l.contains("big.img"))
            .map(|l| l.split_whitespace().nth(4).unwrap().parse::<u64>().unwrap())
            .sum();
        assert_eq!(sizes, BIG, "{listing}");
        assert!(isoinfo_paths(&iso, &["-J", "-j", "iso8859-1"]).contains(&"big.img".to_string()));
    }
    if require_tool("7z") {
        assert_eq!(sevenzip_listing(&iso).get("big.img"), Some(&Some(BIG)));
    }
    if require_tool("xorriso") {
        let dest = tmp.path().join("extracted");
        Cmd::new("xorriso")
            .args(["-osirrox", "on:sparse=1m", "-indev"])
            .arg(&iso)
            .arg("-extract")
            .arg("/")
            .arg(&dest)
            .run();
        check_file(&dest.join("big.img"));
        assert_eq!(
            fs::read(dest.join("user-data")).unwrap(),
            b"#cloud-config\n"
        );
    }
    if let Some(python) = pycdlib_python() {
        pycdlib_reads_big(&python, &iso);
    }
}

/// pycdlib reads the big file through Joliet and through the ISO 9660 records of the Rock
/// Ridge tree, and lists it by its Rock Ridge name. (Its Rock Ridge path lookup picks
/// the last extent of a multi-extent file, whoever wrote the image, so the data is read by
/// the ISO path of the same records.)
fn pycdlib_reads_big(python: &Path, iso: &Path) {
    const SCRIPT: &str = r#"
import sys, pycdlib
class Sink:
    def __init__(self): self.n = 0; self.nonzero = 0
    def write(self, b): self.n += len(b); self.nonzero += len(b) - b.count(0); return len(b)
iso = pycdlib.PyCdlib(); iso.open(sys.argv[1])
names = [f for _, _, files in iso.walk(rr_path="/") for f in files]
print("rr-names", " ".join(sorted(names)))
for kw, path in (("joliet_path", "/big.img"), ("iso_path", "/BIG.IMG;1")):
    s = Sink(); iso.get_file_from_iso_fp(s, blocksize=1 << 20, **{kw: path})
    print(kw, s.n, s.nonzero)
with iso.open_file_from_iso(joliet_path="/big.img") as f:
    f.seek(int(sys.argv[2])); print("marker", f.read(int(sys.argv[3])).decode())
"#;
    let (at, bytes) = MARKERS[1];
    let out = Cmd::new(python)
        .args(["-c", SCRIPT])
        .arg(iso)
        .arg(at.to_string())
        .arg(5.to_string())
        .run()
        .stdout;
    let nonzero: usize = MARKERS.iter().map(|(_, b)| b.len()).sum();
    assert!(
        out.contains("rr-names big.img meta-data user-data"),
        "{out}"
    );
    assert!(
        out.contains(&format!("joliet_path {BIG} {nonzero}")),
        "{out}"
    );
    assert!(out.contains(&format!("iso_path {BIG} {nonzero}")), "{out}");
    let first_five = std::str::from_utf8(&bytes[..5]).unwrap();
    assert!(out.contains(&format!("marker {first_five}")), "{out}");
}
