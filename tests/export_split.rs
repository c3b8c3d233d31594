//! `export_split:`: ISOs larger than a part size exported as `NAME.part001`, … with
//! `SHA256SUMS` (checked by `sha256sum -c`), `SHA256SUMS.wholes` and a `join.sh` that dash
//! runs; `seedforge verify` of the export folder checks parts and wholes, and a damaged
//! part fails both it and `join.sh`, naming the file. The 5 GiB case uses a sparse source,
//! and its parts are written sparse. `join.sh` never writes through a symbolic link it did
//! not make, at a temporary name or at a joined file's name, with `mktemp` or without.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use crate::common;

use common::{Cmd, Lab, flip_byte, require_tool, sha256_bytes};
use std::fs::{self, File};
use std::io::{Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

const NODES: [&str; 3] = ["lab-agent1", "lab-agent2", "lab-server1"];

/// A payload file big enough that every seed ISO is over 2 MiB, so that `2MiB` parts cut
/// each one in two or more.
fn lab_with_export(split: &str) -> Lab {
    lab_exporting_to("export", split)
}

/// [`lab_with_export`] with the export folder `export` (relative to the lab config).
fn lab_exporting_to(export: &str, split: &str) -> Lab {
    let lab = Lab::new();
    let mut bytes = vec![0u8; 5 << 20];
    let mut x: u32 = 12345;
    for b in &mut bytes {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        *b = (x >> 24) as u8;
    }
    fs::write(lab.lab_dir().join("blob.bin"), &bytes).unwrap();
    // 3 MiB of zeros: runs of zeros in the ISO, which the parts skip over.
    let zeros = vec![0u8; 3 << 20];
    fs::write(lab.lab_dir().join("zeros.bin"), &zeros).unwrap();
    let config = lab.lab_dir().join("seedforge.yaml");
    let text = fs::read_to_string(&config).unwrap();
    fs::write(
        &config,
        format!(
            "{text}\nfiles:\n  - name: blob.bin\n    source: blob.bin\n    sha256: \"{}\"\n\
             \x20 - name: zeros.bin\n    source: zeros.bin\n    sha256: \"{}\"\n\
             export_dir: {export}\n{split}",
            sha256_bytes(&bytes),
            sha256_bytes(&zeros)
        ),
    )
    .unwrap();
    lab
}

fn dash(dir: &Path, args: &[&str]) -> Cmd {
    Cmd::new("dash").arg("join.sh").args(args).cwd(dir)
}

#[test]
fn isos_over_the_size_are_exported_in_parts_that_join_and_verify() {
    if !require_tool("dash") || !require_tool("sha256sum") || !require_tool("shellcheck") {
        return;
    }
    let lab = lab_with_export("export_split: 2MiB\n");
    let report = lab
        .seedforge()
        .args(["--json", "build", "--config", lab.config_arg()])
        .run()
        .json();
    let export = lab.lab_dir().join("export");
    let iso = lab.out_dir().join("iso");
    let listed = common::names_in(&export);
    for node in NODES {
        let name = format!("seed-{node}.iso");
        assert!(
            !listed.contains(&name),
            "{name} is there only as parts: {listed:?}"
        );
        let size = fs::metadata(iso.join(&name)).unwrap().len();
        let count = size.div_ceil(2 << 20);
        assert!(count >= 3, "{name} is {size} bytes");
        for i in 1..=count {
            let part = export.join(format!("{name}.part{i:03}"));
            let len = fs::metadata(&part).unwrap().len();
            assert!(len <= 2 << 20, "{} is {len} bytes", part.display());
        }
        assert!(!export.join(format!("{name}.part{:03}", count + 1)).exists());
    }
    let files = report["export"]["files"].as_array().unwrap();
    assert!(
        files
            .iter()
            .all(|f| f["parts"].as_array().unwrap().len() >= 3)
    );
    // The folder checks as it is, and join.sh is clean POSIX sh.
    Cmd::new("sha256sum")
        .args(["-c", "--strict", "SHA256SUMS"])
        .cwd(&export)
        .run();
    Cmd::new("shellcheck")
        .args(["-s", "sh", "join.sh"])
        .cwd(&export)
        .run();
    assert_eq!(
        fs::metadata(export.join("join.sh")).unwrap().mode() & 0o777,
        0o755
    );
    let doc = lab
        .seedforge()
        .args(["--json", "verify"])
        .arg(&export)
        .run()
        .json();
    let wholes = doc["wholes"]["wholes"].as_array().unwrap();
    assert_eq!(wholes.len(), 3, "{doc}");
    assert!(wholes.iter().all(|w| w.get("problem").is_none()), "{doc}");

    // Each part is read once: its digest for SHA256SUMS is taken while its whole is hashed.
    if require_tool("strace") {
        let trace = lab.root().join("verify.strace");
        Cmd::new("strace")
            .args(["-f", "-e", "trace=openat,open", "-o"])
            .arg(&trace)
            .arg(common::seedforge_bin())
            .arg("verify")
            .arg(&export)
            .run();
        let opened = fs::read_to_string(&trace).unwrap();
        let part = "seed-lab-agent1.iso.part001\"";
        assert_eq!(opened.matches(part).count(), 1, "{opened}");
    }

    // dash rebuilds every ISO byte for byte and removes no part.
    let joined = dash(&export, &[]).run();
    for node in NODES {
        let name = format!("seed-{node}.iso");
        assert!(
            joined.stdout.contains(&format!("{name}: OK")),
            "{}",
            joined.stdout
        );
        assert_eq!(
            fs::read(export.join(&name)).unwrap(),
            fs::read(iso.join(&name)).unwrap()
        );
        assert!(export.join(format!("{name}.part001")).exists());
    }
    Cmd::new("sha256sum")
        .args(["-c", "SHA256SUMS.wholes"])
        .cwd(&export)
        .run();
    lab.seedforge().arg("verify").arg(&export).run();

    // One flipped byte in a part: join.sh and verify fail, naming the file, and the
    // file joined before is left as it was.
    let agent2 = "seed-lab-agent2.iso";
    let before = fs::read(export.join(agent2)).unwrap();
    flip_byte(&export.join(format!("{agent2}.part002")), 1000);
    let failed = dash(&export, &[]).expect(1).run();
    assert!(
        failed
            .stderr
            .contains(&format!("join.sh: {agent2}: FAILED")),
        "{}",
        failed.stderr
    );
    assert!(
        failed.stderr.contains("their parts were kept"),
        "{}",
        failed.stderr
    );
    assert_eq!(fs::read(export.join(agent2)).unwrap(), before);
    assert!(
        !common::names_in(&export)
            .iter()
            .any(|n| n.contains("join-tmp"))
    );
    let bad = lab.seedforge().arg("verify").arg(&export).expect(1).run();
    assert!(
        bad.stderr.contains(&format!("BAD  {agent2}: its")),
        "{}",
        bad.stderr
    );
    assert!(
        bad.stderr.contains("do not join to their sha256"),
        "{}",
        bad.stderr
    );
    assert!(
        bad.stderr
            .contains(&format!("BAD  {agent2}.part002: content differs")),
        "{}",
        bad.stderr
    );
    Cmd::new("sha256sum")
        .args(["-c", "SHA256SUMS"])
        .cwd(&export)
        .expect(1)
        .run();
    dash(&export, &["--remove-parts"]).expect(1).run();
    assert!(export.join(format!("{agent2}.part001")).exists());
    // The other ISOs joined, and --remove-parts removed only their parts.
    assert!(!export.join("seed-lab-agent1.iso.part001").exists());
}

#[test]
fn a_new_part_size_replaces_the_old_parts_and_the_same_inputs_give_the_same_bytes() {
    let lab = lab_with_export("");
    let build = |split: &str| {
        lab.seedforge()
            .args([
                "build",
                "--config",
                lab.config_arg(),
                "--export-split",
                split,
            ])
            .run()
    };
    build("2MiB");
    let export = lab.lab_dir().join("export");
    let first: Vec<(String, Vec<u8>)> = common::names_in(&export)
        .into_iter()
        .map(|n| (n.clone(), fs::read(export.join(&n)).unwrap()))
        .collect();
    assert!(first.iter().any(|(n, _)| n.ends_with(".part003")));
    // Into another folder, the same bytes under the same names.
    let other = lab.root().join("other");
    fs::rename(&export, &other).unwrap();
    build("2MiB");
    for (name, bytes) in &first {
        assert_eq!(&fs::read(export.join(name)).unwrap(), bytes, "{name}");
    }
    assert_eq!(common::names_in(&export).len(), first.len());
    // Bigger parts: the old parts beyond the new count go, SHA256SUMS says what is there.
    let text = build("4MiB").stdout;
    assert!(text.contains("parts"), "{text}");
    let now = common::names_in(&export);
    for node in NODES {
        let name = format!("seed-{node}.iso");
        let size = fs::metadata(lab.out_dir().join("iso").join(&name))
            .unwrap()
            .len();
        let want: Vec<String> = (1..=size.div_ceil(4 << 20))
            .map(|i| format!("{name}.part{i:03}"))
            .collect();
        let have: Vec<String> = now
            .iter()
            .filter(|n| n.starts_with(&name))
            .cloned()
            .collect();
        assert_eq!(have, want);
        assert!(want.len() < first.iter().filter(|(n, _)| n.starts_with(&name)).count());
    }
    lab.seedforge().arg("verify").arg(&export).run();
    // Parts bigger than every ISO: the ISOs go whole again and their parts are removed.
    build("1GiB");
    let now = common::names_in(&export);
    assert!(now.iter().all(|n| !n.contains(".part")), "{now:?}");
    assert!(now.contains(&"seed-lab-agent1.iso".to_string()));
    lab.seedforge().arg("verify").arg(&export).run();
    let join = fs::read_to_string(export.join("join.sh")).unwrap();
    assert!(!join.contains("join_one "), "{join}");
}

#[test]
fn bad_part_sizes_are_refused_naming_the_line() {
    let lab = lab_with_export("export_split: 4X\n");
    let out = lab
        .seedforge()
        .args(["build", "--config", lab.config_arg()])
        .expect(2)
        .run();
    assert!(out.stderr.contains("seedforge.yaml:"), "{}", out.stderr);
    assert!(out.stderr.contains("is not a size"), "{}", out.stderr);
    assert!(!lab.out_dir().exists());

    let lab = Lab::new();
    let config = lab.lab_dir().join("seedforge.yaml");
    let text = fs::read_to_string(&config).unwrap();
    fs::write(&config, format!("{text}export_split: fat32\n")).unwrap();
    let out = lab
        .seedforge()
        .args(["build", "--config", lab.config_arg()])
        .expect(2)
        .run();
    assert!(
        out.stderr.contains("export_split needs export_dir"),
        "{}",
        out.stderr
    );
    let out = Lab::new()
        .seedforge()
        .args([
            "build",
            "--config",
            "fixtures/lab/seedforge.yaml",
            "--export-split",
            "1K",
        ])
        .expect(2)
        .run();
    assert!(
        out.stderr.contains("smallest accepted is 1MiB"),
        "{}",
        out.stderr
    );
}

/// Unmounts a FUSE mount however the test ends.
struct Unmount(PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("fusermount")
            .arg("-u")
            .arg(&self.0)
            .status();
    }
}

/// A FAT image of `size` bytes in `dir`, mounted with fusefat at `dir/stick`; `None` (the
/// test skips) when FUSE cannot mount here.
fn fat_stick(dir: &Path, size: u64) -> Option<Unmount> {
    let image = dir.join("stick.img");
    File::create(&image).unwrap().set_len(size).unwrap();
    Cmd::new("mkfs.vfat").arg(&image).run();
    let mount = dir.join("stick");
    fs::create_dir_all(&mount).unwrap();
    let mounted = Cmd::new("fusefat")
        .args(["-o", "rw+"])
        .arg(&image)
        .arg(&mount)
        .any_status()
        .run();
    if mounted.code != Some(0) {
        // The tools are there (scripts/test.sh checks them); the kernel's FUSE is not.
        eprintln!("SKIP: fusefat cannot mount here: {}", mounted.stderr.trim());
        return None;
    }
    Some(Unmount(mount))
}

fn fat_tools() -> bool {
    common::debs::require_root("mounting a FAT image")
        && require_tool("mkfs.vfat")
        && require_tool("fusefat")
        && require_tool("fusermount")
        && require_tool("dash")
}

#[test]
fn parts_on_a_fat_file_system_join_and_verify() {
    if !fat_tools() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let Some(_unmount) = fat_stick(tmp.path(), 160 << 20) else {
        return;
    };
    let mount = tmp.path().join("stick");
    let export = mount.join("Seeds");
    let lab = lab_exporting_to(&format!("\"{}\"", export.display()), "export_split: 2MiB\n");
    lab.seedforge()
        .args(["build", "--config", lab.config_arg()])
        .run();
    assert!(export.join("seed-lab-server1.iso.part003").exists());
    Cmd::new("sha256sum")
        .args(["-c", "--strict", "SHA256SUMS"])
        .cwd(&export)
        .run();
    lab.seedforge().arg("verify").arg(&export).run();
    dash(&export, &["--remove-parts"]).run();
    let iso = lab.out_dir().join("iso");
    for node in NODES {
        let name = format!("seed-{node}.iso");
        assert_eq!(
            fs::read(export.join(&name)).unwrap(),
            fs::read(iso.join(&name)).unwrap()
        );
        assert!(!export.join(format!("{name}.part001")).exists());
    }
}

#[test]
fn a_stick_that_fills_up_leaves_no_part_half_written() {
    if !fat_tools() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    // Room for one ISO's parts and a little more, not for three ISOs.
    let Some(_unmount) = fat_stick(tmp.path(), 16 << 20) else {
        return;
    };
    let export = tmp.path().join("stick/Seeds");
    let lab = lab_exporting_to(&format!("\"{}\"", export.display()), "export_split: 2MiB\n");
    let out = lab
        .seedforge()
        .args(["build", "--config", lab.config_arg()])
        .expect(1)
        .run();
    assert!(out.stderr.contains("Seeds"), "{}", out.stderr);
    let iso = lab.out_dir().join("iso");
    let left = common::names_in(&export);
    assert!(
        left.iter().all(|n| n.contains(".part")),
        "no temporary file and no sums written: {left:?}"
    );
    // Every part under a final name is whole: each ISO has all its parts, right, or none.
    for node in NODES {
        let name = format!("seed-{node}.iso");
        let parts: Vec<&String> = left.iter().filter(|n| n.starts_with(&name)).collect();
        if parts.is_empty() {
            continue;
        }
        let mut joined = Vec::new();
        for p in &parts {
            joined.extend(fs::read(export.join(p)).unwrap());
        }
        assert_eq!(
            joined,
            fs::read(iso.join(&name)).unwrap(),
            "{name}: {parts:?}"
        );
    }
}

/// 5 GiB of holes with a few markers, the last byte included.
const BIG: u64 = 5 << 30;
const MARKERS: [(u64, &[u8]); 3] = [
    (0, b"FIRST-BYTES"),
    (4_000_000_000 - 5, b"ACROSS-THE-PART-BOUNDARY"),
    (BIG - 8, b"LASTBYTE"),
];
const SPARSE_SHA256: &str = "e84636be7562c38c62ea911f68c605c875e057281c8d6ed5314debe5edd0569b";
/// The sha256 of its two parts (bytes 0 to 4,000,000,000, and the rest), as Python's
/// `hashlib` gives them (an implementation that is not ours; it also gives
/// [`SPARSE_SHA256`] for the whole).
const PART_SHA256: [&str; 2] = [
    "976b32083e8d2ec7f4a494de394ca6acf58a2e855889f8253f589385e7e37157",
    "09af5d786668b74d01f307fb7867a0c29a67a2b82c7c5b60c45f5162b589f2e9",
];

#[test]
fn a_5_gib_sparse_iso_goes_in_4g_parts_that_stay_sparse_and_verify() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("payload.iso");
    let mut f = File::create(&src).unwrap();
    f.set_len(BIG).unwrap();
    for (at, bytes) in MARKERS {
        f.seek(SeekFrom::Start(at)).unwrap();
        f.write_all(bytes).unwrap();
    }
    drop(f);
    // The file's sha256 (`sha256sum` of it), given rather than computed: each pass over
    // 5 GiB costs many seconds. The export checks it, so a wrong one fails loudly.
    let sha = SPARSE_SHA256.to_string();
    let dir = tmp.path().join("stick");
    let part = seedforge::config::size::parse_part_size("4G").unwrap();
    let report = seedforge::pipeline::export::export(
        &[(src.clone(), sha.clone())],
        &dir,
        Some(part),
        None,
        None,
        None,
    )
    .unwrap();
    let parts: Vec<PathBuf> = report.files[0]
        .parts
        .iter()
        .map(|p| p.path.clone())
        .collect();
    assert_eq!(
        parts,
        [
            dir.join("payload.iso.part001"),
            dir.join("payload.iso.part002")
        ]
    );
    for p in &parts {
        let m = fs::metadata(p).unwrap();
        assert!(
            m.len() < 4 << 30,
            "{} is {} bytes: over FAT32's limit",
            p.display(),
            m.len()
        );
        // Written sparse: a few blocks around the markers, not gigabytes.
        assert!(
            m.blocks() * 512 < 16 << 20,
            "{} allocates {} blocks",
            p.display(),
            m.blocks()
        );
    }
    assert_eq!(fs::metadata(&parts[0]).unwrap().len(), 4_000_000_000);
    assert_eq!(fs::metadata(&parts[1]).unwrap().len(), BIG - 4_000_000_000);
    fs::remove_file(&src).unwrap();
    // The parts' sums are checked against sums made elsewhere, not by `sha256sum -c`
    // reading 5 GiB of holes again (minutes on a loaded machine): the file's format is
    // `sha256sum`'s, which the tests of small parts hold it to.
    let sums = fs::read_to_string(dir.join("SHA256SUMS")).unwrap();
    for (sha, name) in PART_SHA256
        .iter()
        .zip(["payload.iso.part001", "payload.iso.part002"])
    {
        assert!(
            sums.lines().any(|l| l == format!("{sha}  {name}")),
            "{name}: {sums}"
        );
    }
    Cmd::seedforge().arg("verify").arg(&dir).run();

    // The join itself is `cat` of the parts into one file and its sha256: nothing in it
    // depends on the size, and `isos_over_the_size_are_exported_in_parts_that_join_and_verify`
    // runs it (writing 5 GiB here would add minutes for nothing more). What the join checks
    // against is recorded for the whole file, under its name.
    assert_eq!(
        fs::read_to_string(dir.join("SHA256SUMS.wholes")).unwrap(),
        format!("{sha}  payload.iso\n")
    );
}

#[test]
fn join_sh_never_writes_through_a_link_it_did_not_make() {
    if !require_tool("dash") || !require_tool("sha256sum") {
        return;
    }
    let lab = lab_with_export("export_split: 2MiB\n");
    lab.build();
    let export = lab.lab_dir().join("export");
    let iso = lab.out_dir().join("iso");
    let outside = lab.root().join("outside.txt");
    fs::write(&outside, "keep\n").unwrap();
    let outside_dir = lab.root().join("outside-dir");
    fs::create_dir(&outside_dir).unwrap();
    // A link at each temporary name a join could take by name (the name earlier releases
    // used), pointing outside the folder.
    let planted: Vec<PathBuf> = (NODES.iter())
        .map(|node| export.join(format!(".seed-{node}.iso.join-tmp")))
        .collect();
    for link in &planted {
        std::os::unix::fs::symlink(&outside, link).unwrap();
    }
    // And a link at one joined file's own name, to a folder outside: renaming the joined
    // file there would move it into that folder.
    let server = "seed-lab-server1.iso";
    std::os::unix::fs::symlink(&outside_dir, export.join(server)).unwrap();
    let out = dash(&export, &[]).expect(1).run();
    assert_eq!(fs::read_to_string(&outside).unwrap(), "keep\n");
    assert_eq!(fs::read_dir(&outside_dir).unwrap().count(), 0);
    assert!(
        out.stderr.contains(&format!(
            "join.sh: {server}: FAILED: {server} is a symbolic link or a folder"
        )),
        "{}",
        out.stderr
    );
    for link in &planted {
        assert!(fs::symlink_metadata(link).unwrap().is_symlink());
    }
    for node in ["lab-agent1", "lab-agent2"] {
        let name = format!("seed-{node}.iso");
        assert!(
            out.stdout.contains(&format!("{name}: OK")),
            "{}",
            out.stdout
        );
        let joined = export.join(&name);
        assert!(fs::symlink_metadata(&joined).unwrap().is_file());
        assert_eq!(
            fs::read(&joined).unwrap(),
            fs::read(iso.join(&name)).unwrap()
        );
    }
    let stray = |export: &Path| -> Vec<String> {
        (common::names_in(export).into_iter())
            .filter(|n| n.contains("join-tmp."))
            .collect()
    };
    assert_eq!(stray(&export), Vec::<String>::new());

    // Without mktemp on PATH: a name of its own made with noclobber; the join works.
    fs::remove_file(export.join(server)).unwrap();
    let bin = lab.root().join("bin");
    fs::create_dir(&bin).unwrap();
    let path_of = |tool: &str| {
        let found = Cmd::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .run();
        PathBuf::from(found.stdout.trim())
    };
    for tool in ["cat", "sha256sum", "cut", "mv", "rm", "dirname"] {
        std::os::unix::fs::symlink(path_of(tool), bin.join(tool)).unwrap();
    }
    let out = Cmd::new(path_of("dash"))
        .arg("join.sh")
        .cwd(&export)
        .env("PATH", bin.to_str().unwrap())
        .run();
    assert!(
        out.stdout.contains(&format!("{server}: OK")),
        "{}",
        out.stdout
    );
    assert_eq!(
        fs::read(export.join(server)).unwrap(),
        fs::read(iso.join(server)).unwrap()
    );
    assert_eq!(fs::read_to_string(&outside).unwrap(), "keep\n");
    assert_eq!(stray(&export), Vec::<String>::new());
}
