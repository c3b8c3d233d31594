//! Recovery sets as hostile input: a set comes from a medium that crossed the gap, so
//! `seedforge verify [--repair]` takes nothing of it unchecked. Each set here is written by
//! a small PAR 2.0 packet writer of the test's own (the format is small: the packets, MD5,
//! CRC-32 and Reed-Solomon over GF(2^16)), so that every field can be what an attacker or
//! a damaged medium makes it: names that leave the folder or pass through a link, sizes and
//! counts that would exhaust memory or time, IDs that do not match, short recovery packets,
//! exponents that alias, and what a repair writes (modes, a folder at a name, bytes
//! appended, files `SHA256SUMS` does not list).

use crate::common::{self, Cmd, sha256_bytes};
use md5::{Digest as _, Md5};
use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

pub(crate) mod writer {
    //! A PAR 2.0 writer for tests: packets with their MD5s, and recovery slices computed
    //! as the specification defines them (word by word, slow and plain).
    use md5::{Digest as _, Md5};

    pub const MAIN: &[u8; 16] = b"PAR 2.0\0Main\0\0\0\0";
    pub const FILE_DESC: &[u8; 16] = b"PAR 2.0\0FileDesc";
    pub const IFSC: &[u8; 16] = b"PAR 2.0\0IFSC\0\0\0\0";
    pub const RECOVERY: &[u8; 16] = b"PAR 2.0\0RecvSlic";

    pub fn md5(parts: &[&[u8]]) -> [u8; 16] {
        let mut h = Md5::new();
        for p in parts {
            h.update(p);
        }
        h.finalize().into()
    }

    pub fn crc32(bytes: &[u8]) -> u32 {
        let mut c = 0xFFFF_FFFFu32;
        for b in bytes {
            c ^= u32::from(*b);
            for _ in 0..8 {
                c = if c & 1 != 0 {
                    (c >> 1) ^ 0xEDB8_8320
                } else {
                    c >> 1
                };
            }
        }
        !c
    }

    /// A packet: magic, length, MD5 of (set ID, type, body), set ID, type, body.
    pub fn packet(set: &[u8; 16], kind: &[u8; 16], body: &[u8]) -> Vec<u8> {
        let mut p = b"PAR2\0PKT".to_vec();
        p.extend_from_slice(&(64 + body.len() as u64).to_le_bytes());
        p.extend_from_slice(&md5(&[set, kind, body]));
        p.extend_from_slice(set);
        p.extend_from_slice(kind);
        p.extend_from_slice(body);
        p
    }

    /// One file as a set describes it.
    #[derive(Clone)]
    pub struct Desc {
        pub name: Vec<u8>,
        pub data: Vec<u8>,
        /// The length the FileDesc gives (the data's unless changed).
        pub length: u64,
    }

    impl Desc {
        pub fn new(name: &str, data: &[u8]) -> Desc {
            Desc {
                name: name.as_bytes().to_vec(),
                data: data.to_vec(),
                length: data.len() as u64,
            }
        }
        pub fn md5_16k(&self) -> [u8; 16] {
            md5(&[&self.data[..self.data.len().min(16 << 10)]])
        }
        pub fn id(&self) -> [u8; 16] {
            md5(&[&self.md5_16k(), &self.length.to_le_bytes(), &self.name])
        }
        /// Its slices, the last padded with zeros.
        pub fn slices(&self, slice: u64) -> Vec<Vec<u8>> {
            (0..self.length.div_ceil(slice))
                .map(|k| {
                    let from = (k * slice) as usize;
                    let mut s = self
                        .data
                        .get(from..(from + slice as usize).min(self.data.len()))
                        .unwrap_or_default()
                        .to_vec();
                    s.resize(slice as usize, 0);
                    s
                })
                .collect()
        }
        pub fn desc_body(&self) -> Vec<u8> {
            let mut b = self.id().to_vec();
            b.extend_from_slice(&md5(&[&self.data]));
            b.extend_from_slice(&self.md5_16k());
            b.extend_from_slice(&self.length.to_le_bytes());
            b.extend_from_slice(&self.name);
            while !b.len().is_multiple_of(4) {
                b.push(0);
            }
            b
        }
        pub fn ifsc_body(&self, slice: u64) -> Vec<u8> {
            let mut b = self.id().to_vec();
            for s in self.slices(slice) {
                b.extend_from_slice(&md5(&[&s]));
                b.extend_from_slice(&crc32(&s).to_le_bytes());
            }
            b
        }
    }

    pub fn main_body(slice: u64, ids: &[[u8; 16]]) -> Vec<u8> {
        let mut b = slice.to_le_bytes().to_vec();
        b.extend_from_slice(&(ids.len() as u32).to_le_bytes());
        for id in ids {
            b.extend_from_slice(id);
        }
        b
    }

    /// GF(2^16) over 0x1100B: 2^e.
    fn exp2_table() -> (Vec<u16>, Vec<u16>) {
        let mut exp = vec![0u16; 65_535];
        let mut log = vec![0u16; 65_536];
        let mut b: u32 = 1;
        for (i, e) in exp.iter_mut().enumerate() {
            *e = b as u16;
            log[b as usize] = i as u16;
            b <<= 1;
            if b & 0x1_0000 != 0 {
                b ^= 0x1100B;
            }
        }
        (exp, log)
    }

    /// Recovery slice `e` of `inputs` (in the Main packet's order): Σ c_i^e · slice_i,
    /// c_i = 2^n_i with n_i the i-th exponent coprime to 65,535.
    pub fn recovery(inputs: &[Vec<u8>], e: u32) -> Vec<u8> {
        let (exp, log) = exp2_table();
        let mul = |a: u16, b: u16| -> u16 {
            if a == 0 || b == 0 {
                0
            } else {
                exp[(usize::from(log[a as usize]) + usize::from(log[b as usize])) % 65_535]
            }
        };
        let mut logs = Vec::new();
        let mut n = 0u64;
        while logs.len() < inputs.len() {
            if [3, 5, 17, 257].iter().all(|p| !n.is_multiple_of(*p)) {
                logs.push(n);
            }
            n += 1;
        }
        let len = inputs.first().map_or(0, Vec::len);
        let mut out = vec![0u8; len];
        for (i, input) in inputs.iter().enumerate() {
            let c = exp[((logs[i] * u64::from(e)) % 65_535) as usize];
            for w in 0..len / 2 {
                let word = u16::from_le_bytes([input[2 * w], input[2 * w + 1]]);
                let have = u16::from_le_bytes([out[2 * w], out[2 * w + 1]]);
                out[2 * w..2 * w + 2].copy_from_slice(&(have ^ mul(word, c)).to_le_bytes());
            }
        }
        out
    }

    pub fn recovery_body(e: u32, data: &[u8]) -> Vec<u8> {
        let mut b = e.to_le_bytes().to_vec();
        b.extend_from_slice(data);
        b
    }

    /// A whole set: the critical packets (Main, then each file's FileDesc and IFSC) and a
    /// recovery packet per exponent of `exps`.
    pub struct Set {
        pub slice: u64,
        pub files: Vec<Desc>,
    }

    impl Set {
        pub fn main(&self) -> Vec<u8> {
            let ids: Vec<[u8; 16]> = self.files.iter().map(Desc::id).collect();
            main_body(self.slice, &ids)
        }
        pub fn set_id(&self) -> [u8; 16] {
            md5(&[&self.main()])
        }
        pub fn critical(&self) -> Vec<u8> {
            self.critical_with(&|f| f.ifsc_body(self.slice))
        }
        /// The critical packets with each file's IFSC body given by `ifsc` (for sizes no
        /// real checksums are computed for).
        pub fn critical_with(&self, ifsc: &dyn Fn(&Desc) -> Vec<u8>) -> Vec<u8> {
            let set = self.set_id();
            let mut out = packet(&set, MAIN, &self.main());
            for f in &self.files {
                out.extend(packet(&set, FILE_DESC, &f.desc_body()));
                out.extend(packet(&set, IFSC, &ifsc(f)));
            }
            out
        }
        pub fn inputs(&self) -> Vec<Vec<u8>> {
            self.files
                .iter()
                .flat_map(|f| f.slices(self.slice))
                .collect()
        }
        pub fn recovery_packet(&self, e: u32) -> Vec<u8> {
            let data = recovery(&self.inputs(), e);
            packet(&self.set_id(), RECOVERY, &recovery_body(e, &data))
        }
    }
}

use crate::parity::pseudo_random;
use writer::{Desc, Set};

/// A folder `dir` holding `files` (name, bytes), its `SHA256SUMS` listing `listed`, and
/// the set's index `export.par2` (`index`) and one volume (`volume`).
fn folder(dir: &Path, files: &[(&str, &[u8])], listed: &[&str], index: &[u8], volume: &[u8]) {
    fs::create_dir_all(dir).unwrap();
    let mut sums = String::new();
    for (name, bytes) in files {
        let path = dir.join(name);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, bytes).unwrap();
        if listed.contains(name) {
            sums.push_str(&format!("{}  {name}\n", sha256_bytes(bytes)));
        }
    }
    fs::write(dir.join("SHA256SUMS"), sums).unwrap();
    fs::write(dir.join("export.par2"), index).unwrap();
    if !volume.is_empty() {
        fs::write(dir.join("export.vol0+2.par2"), volume).unwrap();
    }
}

/// Every name under `dir`, recursively, relative.
fn tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            out.push(p.strip_prefix(dir).unwrap().display().to_string());
            if e.file_type().unwrap().is_dir() {
                stack.push(p);
            }
        }
    }
    out.sort();
    out
}

fn verify(dir: &Path) -> Cmd {
    Cmd::seedforge().arg("verify").arg(dir)
}

fn repair(dir: &Path) -> Cmd {
    Cmd::seedforge().args(["verify", "--repair"]).arg(dir)
}

const SLICE: u64 = 65_536;

/// A set over `files` with recovery slices `exps`, the index holding the critical
/// packets and the volume the critical packets and the recovery packets.
fn written(files: &[Desc], exps: &[u32]) -> (Set, Vec<u8>, Vec<u8>) {
    let set = Set {
        slice: SLICE,
        files: files.to_vec(),
    };
    let index = set.critical();
    let mut volume = set.critical();
    for e in exps {
        volume.extend(set.recovery_packet(*e));
    }
    (set, index, volume)
}

/// Names that leave the folder, name it or are empty: the set is refused by name before
/// anything is opened or written, by `verify` and by `verify --repair`; nothing appears
/// outside the folder (the run is traced: no file is created anywhere but in it).
#[test]
fn names_that_leave_the_folder_are_refused() {
    if !common::require_tool("strace") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let outside = tmp.path().join("outside");
    fs::create_dir(&outside).unwrap();
    fs::write(outside.join("secret"), pseudo_random(1000, 9)).unwrap();
    let a = pseudo_random(100_000, 1);
    let abs = outside.join("secret").display().to_string();
    for (i, hostile) in ["../x", ".", "", abs.as_str(), "b/../../x", "b//c"]
        .iter()
        .enumerate()
    {
        let dir = tmp.path().join(format!("set{i}"));
        let mut evil = Desc::new(hostile, &pseudo_random(70_000, 2));
        if *hostile == abs {
            evil.data = fs::read(outside.join("secret")).unwrap();
            evil.length = evil.data.len() as u64;
        }
        let (_, index, volume) = written(&[Desc::new("a", &a), evil], &[0, 1, 2]);
        folder(
            &tmp.path().join(format!("set{i}")),
            &[("a", &a)],
            &["a"],
            &index,
            &volume,
        );
        let before = tree(tmp.path());
        let trace = tmp.path().join(format!("trace{i}"));
        let out = repair(&dir)
            .under(
                "strace",
                &[
                    "-f",
                    "-qq",
                    "-e",
                    "trace=openat,openat2,creat,mkdir,rename,renameat,renameat2",
                    "-o",
                ]
                .into_iter()
                .map(str::to_string)
                .chain([trace.display().to_string()])
                .collect::<Vec<_>>(),
            )
            .expect(1)
            .run();
        assert_eq!(tree(tmp.path()).len(), before.len() + 1, "{hostile:?}");
        let trace = fs::read_to_string(&trace).unwrap();
        for line in trace.lines().filter(|l| l.contains("O_CREAT")) {
            assert!(
                !line.contains(".seedforge-") && !line.contains(&*outside.display().to_string()),
                "{hostile:?}: created {line}"
            );
        }
        assert!(
            !trace.contains(&format!("\"{abs}\"")),
            "{hostile:?}: the absolute name was opened"
        );
        assert!(
            out.stderr.contains("a name in a set is a relative path"),
            "{hostile:?}: {}",
            out.stderr
        );
        assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
        let out = verify(&dir).expect(1).run();
        assert!(
            out.stderr.contains("a name in a set is a relative path"),
            "{}",
            out.stderr
        );
    }
}

/// A folder of the set that is a link to a folder outside (a delta's `out/files` made a
/// link): `verify --repair` does not follow it, and nothing is written outside.
#[test]
fn a_link_on_the_way_to_a_name_is_not_followed() {
    let tmp = tempfile::tempdir().unwrap();
    let outside = tmp.path().join("outside");
    fs::create_dir(&outside).unwrap();
    let dir = tmp.path().join("set");
    let a = pseudo_random(100_000, 1);
    let part = pseudo_random(100_000, 2);
    let (_, index, volume) = written(
        &[Desc::new("a", &a), Desc::new("sub/p.part001", &part)],
        &[0, 1],
    );
    folder(
        &dir,
        &[("a", &a), ("sub/p.part001", &part)],
        &["a", "sub/p.part001"],
        &index,
        &volume,
    );
    fs::remove_dir_all(dir.join("sub")).unwrap();
    std::os::unix::fs::symlink(&outside, dir.join("sub")).unwrap();
    let out = repair(&dir).expect(1).run();
    assert!(out.stderr.contains("symbolic link"), "{}", out.stderr);
    assert!(tree(&outside).is_empty(), "{:?}", tree(&outside));
}

/// Runs the rest of its arguments, kills it after 170 s, and prints its peak resident
/// memory (KiB, `ru_maxrss` of its one child) on its last line of stderr.
const PEAK: &str = "import resource, subprocess, sys\n\
try:\n    r = subprocess.run(sys.argv[1:], timeout=170).returncode\n\
except subprocess.TimeoutExpired:\n    r = 124\n\
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)\n\
sys.exit(r)\n";

/// The peak memory (bytes) of `seedforge verify --repair DIR`, which must end with
/// `code`, and its stderr.
fn peak(dir: &Path, code: i32) -> (u64, String) {
    let out = repair(dir)
        .under("python3", &["-c", PEAK])
        .expect(code)
        .run();
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    let kib: u64 = out.stderr.lines().last().unwrap().trim().parse().unwrap();
    eprintln!("peak RSS of verify --repair {}: {kib} KiB", dir.display());
    (kib << 10, out.stderr)
}

/// IFSC bodies of one (zero) checksum, for sizes no checksums are computed for.
fn one_slice(f: &Desc) -> Vec<u8> {
    let mut b = f.id().to_vec();
    b.extend_from_slice(&[0u8; 20]);
    b
}

/// A slice of 1 TiB over a file said to be 1 TiB long: refused by its size, never
/// allocated.
#[test]
fn a_slice_of_a_tebibyte_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let a = pseudo_random(100_000, 1);
    let mut huge = Desc::new("a", &a);
    huge.length = 1 << 40;
    let set = Set {
        slice: 1 << 40,
        files: vec![huge],
    };
    let dir = tmp.path().join("tib");
    folder(
        &dir,
        &[("a", &a)],
        &["a"],
        &set.critical_with(&one_slice),
        &[],
    );
    let (rss, stderr) = peak(&dir, 1);
    assert!(
        stderr.contains("a slice size of 1099511627776 bytes"),
        "{stderr}"
    );
    assert!(rss < 128 << 20, "{rss} bytes: {stderr}");
}

/// Slices of 4 bytes and a length of 2^62: a slice count whose checksums' size wraps;
/// refused by the count.
#[test]
fn a_slice_count_past_the_format_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let a = pseudo_random(100_000, 1);
    let mut wraps = Desc::new("a", &a);
    wraps.length = 1 << 62;
    let set = Set {
        slice: 4,
        files: vec![wraps],
    };
    let dir = tmp.path().join("wraps");
    folder(
        &dir,
        &[("a", &a)],
        &["a"],
        &set.critical_with(&one_slice),
        &[],
    );
    let (_, stderr) = peak(&dir, 1);
    assert!(stderr.contains("more than 32768 slices"), "{stderr}");
}

/// One packet of an unknown type, 1 GiB (a hole): streamed through its MD5, never held;
/// the set beside it checks.
#[test]
fn a_huge_packet_of_an_unknown_type_is_not_held() {
    let tmp = tempfile::tempdir().unwrap();
    let a = pseudo_random(100_000, 1);
    let dir = tmp.path().join("unknown");
    let (_, index, volume) = written(&[Desc::new("a", &a)], &[0, 1]);
    folder(&dir, &[("a", &a)], &["a"], &index, &volume);
    let body_len: u64 = 1 << 30;
    let zeros = vec![0u8; 1 << 20];
    let mut h = Md5::new();
    let set_id = [7u8; 16];
    let kind = *b"PAR 2.0\0Unknown!";
    h.update(set_id);
    h.update(kind);
    for _ in 0..(body_len >> 20) {
        h.update(&zeros);
    }
    let mut head = b"PAR2\0PKT".to_vec();
    head.extend_from_slice(&(64 + body_len).to_le_bytes());
    head.extend_from_slice(&<[u8; 16]>::from(h.finalize()));
    head.extend_from_slice(&set_id);
    head.extend_from_slice(&kind);
    let big = fs::File::create(dir.join("export.vol2+1.par2")).unwrap();
    use std::os::unix::fs::FileExt as _;
    big.write_all_at(&head, 0).unwrap();
    big.set_len(64 + body_len).unwrap();
    drop(big);
    let (rss, stderr) = peak(&dir, 0);
    assert!(rss < 128 << 20, "{rss} bytes: {stderr}");
}

/// 20,000 slices of 4 bytes lost and as many recovery packets: more matrix work than a
/// repair takes, refused before any matrix is made.
#[test]
fn a_repair_past_the_arithmetic_bound_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let many = pseudo_random(80_000, 3);
    let set = Set {
        slice: 4,
        files: vec![Desc::new("m", &many)],
    };
    let mut volume = set.critical();
    let zero = vec![0u8; 4];
    for e in 0..20_000u32 {
        // The data does not matter: the work is refused before it is read.
        volume.extend(writer::packet(
            &set.set_id(),
            writer::RECOVERY,
            &writer::recovery_body(e, &zero),
        ));
    }
    let dir = tmp.path().join("work");
    folder(&dir, &[], &[], &set.critical(), &volume);
    fs::write(
        dir.join("SHA256SUMS"),
        format!("{}  m\n", sha256_bytes(&many)),
    )
    .unwrap();
    let (rss, stderr) = peak(&dir, 1);
    assert!(stderr.contains("more arithmetic than"), "{stderr}");
    assert!(rss < 128 << 20, "{rss} bytes: {stderr}");
}

/// A part grown by 4 GiB (a hole) past its recorded length, its recorded bytes intact:
/// cut to its length by `verify --repair` as par2cmdline does, without copying what was
/// appended (the run may write no file larger than 64 MiB).
#[test]
fn bytes_appended_to_a_file_are_cut_without_copying_them() {
    if !common::require_tool("prlimit") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("set");
    let a = pseudo_random(100_000, 1);
    let b = pseudo_random(150_000, 2);
    let (_, index, volume) = written(&[Desc::new("a", &a), Desc::new("b", &b)], &[0, 1]);
    folder(&dir, &[("a", &a), ("b", &b)], &["a", "b"], &index, &volume);
    let grown = fs::OpenOptions::new()
        .write(true)
        .open(dir.join("b"))
        .unwrap();
    grown.set_len(150_000 + (4 << 30)).unwrap();
    drop(grown);
    let out = verify(&dir).expect(1).run();
    assert!(out.stderr.contains("DAMAGED  b"), "{}", out.stderr);
    let out = repair(&dir).under("prlimit", &["--fsize=67108864"]).run();
    assert!(out.stdout.contains("REPAIRED"), "{}", out.stdout);
    assert_eq!(fs::read(dir.join("b")).unwrap(), b);
    verify(&dir).run();
}

/// The ties the specification gives: a set ID that is not the MD5 of its Main packet's
/// body, a file ID that is not the MD5 of its first 16 KiB's MD5, length and name. Each is
/// not a set seedforge takes.
#[test]
fn set_and_file_ids_are_checked() {
    let tmp = tempfile::tempdir().unwrap();
    let a = pseudo_random(100_000, 1);
    // Every packet carries a set ID that is not the Main body's MD5 (each packet's own
    // MD5 right).
    let set = Set {
        slice: SLICE,
        files: vec![Desc::new("a", &a)],
    };
    let bogus = [0x42u8; 16];
    let f = &set.files[0];
    let mut index = writer::packet(&bogus, writer::MAIN, &set.main());
    index.extend(writer::packet(&bogus, writer::FILE_DESC, &f.desc_body()));
    index.extend(writer::packet(&bogus, writer::IFSC, &f.ifsc_body(SLICE)));
    let dir = tmp.path().join("set-id");
    folder(&dir, &[("a", &a)], &["a"], &index, &[]);
    let out = verify(&dir).expect(1).run();
    assert!(
        out.stderr.contains("no intact Main packet"),
        "{}",
        out.stderr
    );

    // A FileDesc whose name was changed, its ID kept.
    let mut desc = f.desc_body();
    desc.truncate(56);
    desc.extend_from_slice(b"b\0\0\0");
    let id = set.set_id();
    let mut index = writer::packet(&id, writer::MAIN, &set.main());
    index.extend(writer::packet(&id, writer::FILE_DESC, &desc));
    index.extend(writer::packet(&id, writer::IFSC, &f.ifsc_body(SLICE)));
    let dir = tmp.path().join("file-id");
    folder(&dir, &[("a", &a), ("b", &a)], &["a", "b"], &index, &[]);
    let out = verify(&dir).expect(1).run();
    assert!(
        out.stderr.contains("does not match its file ID"),
        "{}",
        out.stderr
    );
}

/// Recovery packets shorter than a slice are not counted or used (a full packet of the
/// same exponent is), and exponents from 65,535 up (which repeat lower ones) are not
/// counted: the repair uses the full, distinct slices there are.
#[test]
fn short_recovery_packets_and_aliased_exponents_are_not_counted() {
    let tmp = tempfile::tempdir().unwrap();
    let a = pseudo_random(100_000, 1);
    let b = pseudo_random(120_000, 2);
    let files = [Desc::new("a", &a), Desc::new("b", &b)];
    let (set, mut index, volume) = written(&files, &[0, 1]);
    // A short copy of exponent 0 first, in the index.
    let full = writer::recovery(&set.inputs(), 0);
    index.extend(writer::packet(
        &set.set_id(),
        writer::RECOVERY,
        &writer::recovery_body(0, &full[..1024]),
    ));
    // And a short one of an exponent there is no full packet of: not counted.
    index.extend(writer::packet(
        &set.set_id(),
        writer::RECOVERY,
        &writer::recovery_body(7, &full[..1024]),
    ));
    let dir = tmp.path().join("short");
    folder(&dir, &[("a", &a), ("b", &b)], &["a", "b"], &index, &volume);
    fs::remove_file(dir.join("b")).unwrap();
    let out = repair(&dir).run();
    assert!(out.stdout.contains("REPAIRED"), "{}", out.stdout);
    assert!(
        out.stdout.contains("of the 2 recovery slice(s)"),
        "{}",
        out.stdout
    );
    assert!(out.stderr.contains("not counted"), "{}", out.stderr);
    assert_eq!(fs::read(dir.join("b")).unwrap(), b);

    // One recovery slice and its alias at exponent 65,535: one slice, not two.
    let (set, index, mut volume) = written(&files, &[0]);
    volume.extend(writer::packet(
        &set.set_id(),
        writer::RECOVERY,
        &writer::recovery_body(65_535, &writer::recovery(&set.inputs(), 0)),
    ));
    let dir = tmp.path().join("alias");
    folder(&dir, &[("a", &a), ("b", &b)], &["a", "b"], &index, &volume);
    fs::remove_file(dir.join("b")).unwrap();
    let out = repair(&dir).expect(1).run();
    assert!(
        out.stdout
            .contains("NOT repairable: 1 recovery slice(s) for 2 lost"),
        "{}",
        out.stdout
    );
    assert!(!dir.join("b").exists());
}

/// What a repair writes: each file with the mode of the other parts of its whole (a seed
/// ISO's parts are 0600: they carry the join token), whatever the umask; a folder at a
/// name refuses the repair before anything is renamed, leaving no temporary file.
#[test]
fn a_repair_writes_the_parts_mode_and_nothing_half() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("set");
    let p1 = pseudo_random(100_000, 1);
    let p2 = pseudo_random(100_000, 2);
    let p3 = pseudo_random(30_000, 3);
    let files = [
        Desc::new("seed.iso.part001", &p1),
        Desc::new("seed.iso.part002", &p2),
        Desc::new("seed.iso.part003", &p3),
    ];
    let (_, index, volume) = written(&files, &[0, 1, 2]);
    let names = ["seed.iso.part001", "seed.iso.part002", "seed.iso.part003"];
    folder(
        &dir,
        &[(names[0], &p1), (names[1], &p2), (names[2], &p3)],
        &names,
        &index,
        &volume,
    );
    for n in names {
        fs::set_permissions(dir.join(n), fs::Permissions::from_mode(0o600)).unwrap();
    }
    fs::remove_file(dir.join(names[1])).unwrap();
    let umask022 = ["-c", "umask 022; exec \"$0\" \"$@\""];
    repair(&dir).under("sh", &umask022).run();
    let mode = fs::metadata(dir.join(names[1]))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600, "{mode:o}");
    assert_eq!(fs::read(dir.join(names[1])).unwrap(), p2);

    // Two parts lost, a folder at one's name: nothing renamed, nothing left behind.
    fs::remove_file(dir.join(names[0])).unwrap();
    fs::remove_file(dir.join(names[2])).unwrap();
    fs::create_dir(dir.join(names[2])).unwrap();
    let before = tree(&dir);
    let out = repair(&dir).expect(1).run();
    assert!(out.stderr.contains(names[2]), "{}", out.stderr);
    assert_eq!(tree(&dir), before);
}

/// A set that protects files `SHA256SUMS` does not list (an export of an older seedforge
/// set `join.sh` and `SHA256SUMS.wholes` so): plain `verify` fails naming a lost one, and
/// `verify --repair` rebuilds the listed files lost beside it, not it (nothing vouches for
/// what the recovery data gives), failing naming it. A set protecting any other unlisted
/// name is not used.
#[test]
fn files_sha256sums_does_not_list_are_named_and_never_rebuilt() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("set");
    let p1 = pseudo_random(100_000, 1);
    let p2 = pseudo_random(100_000, 2);
    let join = b"#!/bin/sh\necho join\n".to_vec();
    let files = [
        Desc::new("seed.iso.part001", &p1),
        Desc::new("seed.iso.part002", &p2),
        Desc::new("join.sh", &join),
    ];
    let (_, index, volume) = written(&files, &[0, 1, 2]);
    folder(
        &dir,
        &[
            ("seed.iso.part001", &p1),
            ("seed.iso.part002", &p2),
            ("join.sh", &join),
        ],
        &["seed.iso.part001", "seed.iso.part002"],
        &index,
        &volume,
    );
    fs::remove_file(dir.join("join.sh")).unwrap();
    let out = verify(&dir).expect(1).run();
    assert!(out.stderr.contains("LOST  join.sh"), "{}", out.stderr);
    fs::remove_file(dir.join("seed.iso.part001")).unwrap();
    let out = repair(&dir).expect(1).run();
    assert!(
        out.stderr.contains("not rebuilt: join.sh"),
        "{}",
        out.stderr
    );
    assert_eq!(fs::read(dir.join("seed.iso.part001")).unwrap(), p1);
    assert!(!dir.join("join.sh").exists());

    // Another name SHA256SUMS does not list: the set is not used.
    let dir = tmp.path().join("unlisted");
    let (_, index, volume) = written(
        &[Desc::new("seed.iso.part001", &p1), Desc::new("other", &p2)],
        &[0, 1],
    );
    folder(
        &dir,
        &[("seed.iso.part001", &p1), ("other", &p2)],
        &["seed.iso.part001"],
        &index,
        &volume,
    );
    fs::remove_file(dir.join("other")).unwrap();
    let out = repair(&dir).expect(1).run();
    assert!(out.stderr.contains("does not list"), "{}", out.stderr);
    assert!(!dir.join("other").exists());
}

/// The writer here and par2cmdline agree: a set it writes is one par2cmdline verifies
/// and repairs (so the sets above are PAR 2.0, their fields changed one at a time).
#[test]
fn the_test_writer_writes_sets_par2cmdline_repairs() {
    let judges = crate::parity::judges();
    let tmp = tempfile::tempdir().unwrap();
    let a = pseudo_random(100_000, 1);
    let b = pseudo_random(150_001, 2);
    let (_, index, volume) = written(&[Desc::new("a", &a), Desc::new("b", &b)], &[0, 1, 2]);
    for (judge, par2) in judges {
        let dir: PathBuf = tmp.path().join(judge.replace(' ', "_"));
        folder(&dir, &[("a", &a), ("b", &b)], &["a", "b"], &index, &volume);
        fs::remove_file(dir.join("b")).unwrap();
        par2.args(["repair", "export.par2"]).cwd(&dir).run();
        assert_eq!(fs::read(dir.join("b")).unwrap(), b, "{judge}");
    }
}
