//! The same tree gives the same image bytes, whatever the files' mtimes, the order they
//! were created in, or the umask they were created under; only the source date changes
//! the dates inside.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use crate::common;

use common::{Cmd, sha256_file};
use std::path::{Path, PathBuf};

/// (path, content, executable) of the small seed tree.
const FILES: [(&str, &str, bool); 6] = [
    ("user-data", "#cloud-config\nhostname: n1\n", false),
    ("meta-data", "instance-id: n1\n", false),
    ("network-config", "version: 2\n", false),
    ("vendor-data", "", false),
    ("scripts/run.sh", "#!/bin/sh\ntrue\n", true),
    ("payload/deep/er/SHA256SUMS", "abc  x\n", false),
];

/// Creates the tree with a shell under `umask`, files in the given order, every mtime
/// set to `mtime` (a `touch -d` date).
fn make_tree(root: &Path, umask: &str, order: &[usize], mtime: &str) {
    let mut script = format!(
        "set -e; umask {umask}; mkdir -p '{}'; cd '{}'; ",
        root.display(),
        root.display()
    );
    for &i in order {
        let (path, content, exe) = FILES[i];
        let dir = Path::new(path).parent().unwrap().display().to_string();
        if !dir.is_empty() {
            script.push_str(&format!("mkdir -p '{dir}'; "));
        }
        script.push_str(&format!("printf '%s' '{content}' > '{path}'; "));
        if exe {
            script.push_str(&format!("chmod u+x '{path}'; "));
        }
    }
    script.push_str(&format!("find . -exec touch -d '{mtime}' {{}} +"));
    Cmd::new("sh").args(["-c", &script]).run();
}

fn image(src: &Path, out: &Path, extra: &[&str]) -> String {
    Cmd::seedforge()
        .args(["iso", "--out"])
        .arg(out)
        .args(extra)
        .arg(src)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .run();
    sha256_file(out)
}

fn tmp_paths() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_path_buf();
    (tmp, root)
}

#[test]
fn mtimes_creation_order_and_umask_do_not_change_the_bytes() {
    let (_tmp, root) = tmp_paths();
    make_tree(
        &root.join("a"),
        "022",
        &[0, 1, 2, 3, 4, 5],
        "2001-02-03 04:05:06",
    );
    make_tree(
        &root.join("b"),
        "077",
        &[5, 4, 3, 2, 1, 0],
        "2030-12-31 23:59:59",
    );
    make_tree(
        &root.join("c"),
        "002",
        &[3, 0, 5, 1, 4, 2],
        "1999-01-01 00:00:00",
    );
    let a = image(&root.join("a"), &root.join("a.iso"), &[]);
    let b = image(&root.join("b"), &root.join("b.iso"), &[]);
    let c = image(&root.join("c"), &root.join("sub-dir-c.iso"), &[]);
    assert_eq!(a, b, "umask 077, reverse creation order, other mtimes");
    assert_eq!(a, c, "umask 002, shuffled order, other mtimes");
    let again = image(&root.join("a"), &root.join("a.iso"), &[]);
    assert_eq!(a, again, "rewriting the same image");
}

#[test]
fn the_source_date_decides_the_dates_and_nothing_else_does() {
    let (_tmp, root) = tmp_paths();
    make_tree(
        &root.join("t"),
        "022",
        &[0, 1, 2, 3, 4, 5],
        "2001-02-03 04:05:06",
    );
    let from_env = image(&root.join("t"), &root.join("env.iso"), &[]);
    let from_flag = image(
        &root.join("t"),
        &root.join("flag.iso"),
        &["--source-date-epoch", "1700000000"],
    );
    assert_eq!(from_env, from_flag);
    let other = image(
        &root.join("t"),
        &root.join("other.iso"),
        &["--source-date-epoch", "1700000001"],
    );
    assert_ne!(from_env, other);
}

/// Pins the exact bytes of a small image: any change to the format shows up here and must
/// be deliberate (update the digest after checking the judges still accept the image).
#[test]
fn golden_digest_of_a_small_seed_image() {
    let (_tmp, root) = tmp_paths();
    make_tree(
        &root.join("t"),
        "022",
        &[0, 1, 2, 3, 4, 5],
        "2001-02-03 04:05:06",
    );
    let digest = image(&root.join("t"), &root.join("golden.iso"), &[]);
    assert_eq!(digest, GOLDEN, "the image format changed");
}

const GOLDEN: &str = "c7eaa5a6fd89a375802a23b92f5d90a66633980e6d4e06e388bc252dfb537b8f";

/// Bytes that repeat every 4099 (a prime: the pattern never lines up with a block).
fn pattern(len: usize) -> Vec<u8> {
    let block: Vec<u8> = (0..4099u64)
        .map(|i| ((i * i * 31 + 7 * i + 1) % 251) as u8)
        .collect();
    block.iter().copied().cycle().take(len).collect()
}

/// A tree with 40 MiB of file data: on a disk that takes direct I/O (TMPDIR on ext4) the
/// image is written with it, elsewhere through the page cache; the bytes are the ones the
/// page-cache writer made (the digest below), a sparse file's holes included.
#[test]
fn a_large_image_has_the_same_bytes_whichever_way_it_is_written() {
    use std::io::{Seek as _, SeekFrom, Write as _};
    let (_tmp, root) = tmp_paths();
    let src = root.join("big");
    std::fs::create_dir_all(src.join("payload")).unwrap();
    std::fs::write(src.join("user-data"), "#cloud-config\n").unwrap();
    std::fs::write(src.join("meta-data"), "instance-id: big\n").unwrap();
    std::fs::write(src.join("payload/big.bin"), pattern((40 << 20) + 77)).unwrap();
    std::fs::write(src.join("payload/odd.bin"), pattern((3 << 20) + 123)).unwrap();
    let mut sparse = std::fs::File::create(src.join("payload/sparse.bin")).unwrap();
    sparse.seek(SeekFrom::Start(8 << 20)).unwrap();
    sparse.write_all(&pattern(1000)).unwrap();
    sparse.set_len((12 << 20) + 1000).unwrap();
    drop(sparse);
    let digest = image(&src, &root.join("big.iso"), &[]);
    assert_eq!(digest, GOLDEN_LARGE, "the large image's bytes changed");
}

const GOLDEN_LARGE: &str = "0c444ec480b31a450d70a42028e46c9d5301e90dfd593d579ce826a76bcd8da3";
