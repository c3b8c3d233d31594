//! Crash safety: `seedforge mirror` killed with SIGKILL in the middle of a large copy
//! leaves a layout whose index names only complete images and whose blobs all match their
//! names; the next run finishes the job and cleans up the killed run's leftovers. The blob
//! folder is fsynced once, between the last blob's rename and `index.json`'s.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use crate::common;

use common::{
    ChildGuard, Cmd, files_under, index_names, mismatched_blobs, read_json, write_list,
    write_oci_image,
};
use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::thread;
use std::time::{Duration, Instant};

const MIB: u64 = 1024 * 1024;
const IMAGE: &str = "docker.io/seedforge-test/big:1";

/// Session directories under `LAYOUT/.seedforge/tmp`, and the largest `.partial` file in
/// any of them.
fn temp_state(layout: &Path) -> (BTreeSet<PathBuf>, u64) {
    let tmp = layout.join(".seedforge/tmp");
    let mut sessions = BTreeSet::new();
    let mut largest = 0;
    let Ok(entries) = fs::read_dir(&tmp) else {
        return (sessions, 0);
    };
    for entry in entries.flatten() {
        let dir = entry.path();
        sessions.insert(dir.clone());
        let Ok(files) = fs::read_dir(&dir) else {
            continue;
        };
        for f in files.flatten() {
            let is_partial = f
                .path()
                .extension()
                .is_some_and(|e| e.to_string_lossy() == "partial");
            if is_partial && let Ok(m) = f.metadata() {
                largest = largest.max(m.len());
            }
        }
    }
    (sessions, largest)
}

fn blob_count(layout: &Path) -> usize {
    fs::read_dir(layout.join("blobs/sha256")).map_or(0, |d| d.count())
}

/// Starts `seedforge mirror`, waits (at most 20 s) until `ready` holds, then SIGKILLs it.
/// Returns the session directories that existed at the moment of the kill.
fn kill_mirror_when(
    list: &Path,
    layout: &Path,
    what: &str,
    ready: impl Fn(&Path) -> bool,
) -> BTreeSet<PathBuf> {
    let mut cmd = Cmd::seedforge()
        .args(["--quiet", "mirror", "--images"])
        .arg(list)
        .arg("--layout")
        .arg(layout)
        .command();
    cmd.stdout(Stdio::null()).stderr(Stdio::null());
    let mut guard = ChildGuard(Some(cmd.spawn().expect("start seedforge mirror")));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if ready(layout) {
            break;
        }
        if let Some(status) = guard.child().try_wait().unwrap() {
            panic!("mirror finished ({status}) before the kill moment \"{what}\" was reached");
        }
        assert!(
            Instant::now() < deadline,
            "the kill moment \"{what}\" was not reached within 20 s"
        );
        thread::sleep(Duration::from_millis(2));
    }
    let (sessions, _) = temp_state(layout);
    guard.kill(); // SIGKILL, then reap
    sessions
}

/// What must hold right after a kill: index.json (if any) is valid JSON and does not name
/// the half-copied image; every blob under its final name is complete and correct.
fn assert_consistent_after_kill(layout: &Path, what: &str) {
    let index = layout.join("index.json");
    if index.exists() {
        let doc = read_json(&index);
        assert!(doc["manifests"].is_array(), "{what}: {doc}");
        assert!(
            !index_names(layout).iter().any(|n| n == IMAGE),
            "{what}: index.json names the image although its copy was killed"
        );
    }
    let bad = mismatched_blobs(layout);
    assert!(
        bad.is_empty(),
        "{what}: blobs whose content does not match their name: {bad:?}"
    );
}

#[test]
fn mirror_killed_mid_copy_leaves_consistent_layout_and_rerun_completes_cleanly() {
    let tmp = tempfile::Builder::new()
        .prefix("seedforge-crash-")
        .tempdir()
        .unwrap();
    let src = tmp.path().join("src");
    // Twelve 4 MiB layers, then one 256 MiB layer: about 300 MiB of source.
    let mut sizes = vec![4 * MIB; 12];
    sizes.push(256 * MIB);
    let generated = write_oci_image(&src, "big:1", &sizes, 1000);
    let big_layer = generated.layers.last().unwrap().digest.clone();
    let list = tmp.path().join("big.txt");
    write_list(&list, &[format!("oci:{}:big:1 {IMAGE}", src.display())]);
    let layout = tmp.path().join("layout");
    let mut killed_sessions = BTreeSet::new();

    // Moment 1: a few small layers are stored and the next one is being written.
    let sessions = kill_mirror_when(&list, &layout, "during the small layers", |l| {
        blob_count(l) >= 3 && temp_state(l).1 > 0
    });
    assert_consistent_after_kill(&layout, "killed during the small layers");
    let (left, _) = temp_state(&layout);
    assert!(
        !left.is_empty(),
        "the killed run left no temporary directory"
    );
    killed_sessions.extend(sessions);

    // Moment 2: well into the big layer (the small ones are reused from the first run).
    let sessions = kill_mirror_when(&list, &layout, "during the big layer", |l| {
        temp_state(l).1 > 32 * MIB
    });
    assert_consistent_after_kill(&layout, "killed during the big layer");
    assert!(
        !layout.join("blobs/sha256").join(&big_layer[7..]).exists(),
        "the big layer is complete although its copy was killed"
    );
    killed_sessions.extend(sessions);
    assert!(!killed_sessions.is_empty());

    // The rerun finishes and leaves nothing behind.
    Cmd::seedforge()
        .args(["mirror", "--images"])
        .arg(&list)
        .arg("--layout")
        .arg(&layout)
        .timeout(Duration::from_secs(300))
        .run();
    assert!(index_names(&layout).iter().any(|n| n == IMAGE));
    for s in &killed_sessions {
        assert!(
            !s.exists(),
            "{} of a killed run is still there",
            s.display()
        );
    }
    let leftovers = files_under(&layout.join(".seedforge"));
    let mut top: Vec<String> = fs::read_dir(&layout)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    top.sort();
    assert_eq!(top, [".seedforge", "blobs", "index.json", "oci-layout"]);
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");

    let out = Cmd::seedforge()
        .arg("verify")
        .arg(&layout)
        .timeout(Duration::from_secs(300))
        .run();
    assert!(
        out.stdout.contains("0 problem(s), 0 stray(s)"),
        "{}",
        out.stdout
    );
    // Verify lists stale temporary directories on stderr; there must be none.
    assert!(!out.stderr.contains("stale"), "{}", out.stderr);
    // Every blob of the image is stored, and nothing else.
    let mut want: BTreeSet<String> = generated
        .layers
        .iter()
        .map(|l| l.digest[7..].to_string())
        .collect();
    want.insert(generated.config.digest[7..].to_string());
    want.insert(generated.manifest.digest[7..].to_string());
    let have: BTreeSet<String> = files_under(&layout.join("blobs/sha256"))
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(have, want);
    drop(tmp);
}

/// The blob renames are made durable by one fsync of the blob folder, and that fsync comes
/// after the last blob is renamed into place and before `index.json` is replaced to name
/// them: read from strace's record of the mirror's own calls (every thread, descriptors
/// shown as paths).
#[test]
fn mirror_fsyncs_the_blob_folder_after_its_renames_and_before_index_json() {
    if !common::require_tool("strace") {
        return;
    }
    let tmp = tempfile::Builder::new()
        .prefix("seedforge-durable-")
        .tempdir()
        .unwrap();
    let src = tmp.path().join("src");
    write_oci_image(&src, "small:1", &[4096, 8192], 1000);
    let list = tmp.path().join("small.txt");
    write_list(&list, &[format!("oci:{}:small:1 {IMAGE}", src.display())]);
    let layout = tmp.path().join("layout");
    let trace = tmp.path().join("trace.txt");
    let out = Cmd::new("strace")
        .args(["-f", "-qq", "-y", "-s", "300", "-o"])
        .arg(&trace)
        .arg("--trace=fsync,fdatasync,rename,renameat,renameat2")
        .arg("--")
        .arg(common::seedforge_bin())
        .args(["-q", "mirror", "--images"])
        .arg(&list)
        .arg("--layout")
        .arg(&layout)
        .timeout(Duration::from_secs(120))
        .any_status()
        .run();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let text = fs::read_to_string(&trace).unwrap();
    let blobs = layout.join("blobs/sha256");
    let blobs = blobs.to_str().unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let renamed_blob = |l: &str| l.contains("rename") && l.contains(&format!("{blobs}/"));
    let synced_folder = |l: &str| l.contains("fsync(") && l.contains(&format!("<{blobs}>"));
    let index = layout.join("index.json");
    let index = format!("\"{}\"", index.display());
    let replaced_index = |l: &str| l.contains("rename") && l.trim_end().contains(&index);
    let last_rename = lines.iter().rposition(|l| renamed_blob(l));
    let renames = lines.iter().filter(|l| renamed_blob(l)).count();
    let syncs: Vec<usize> = (0..lines.len())
        .filter(|&i| synced_folder(lines[i]))
        .collect();
    let index_at = lines.iter().rposition(|l| replaced_index(l));
    // Four blobs: two layers, the config and the manifest.
    assert_eq!(renames, 4, "blob renames in:\n{text}");
    assert_eq!(syncs.len(), 1, "fsyncs of the blob folder in:\n{text}");
    let (Some(last_rename), Some(index_at)) = (last_rename, index_at) else {
        panic!("no blob rename or no index.json rename in:\n{text}");
    };
    assert!(
        last_rename < syncs[0] && syncs[0] < index_at,
        "order: last blob rename at {last_rename}, folder fsync at {}, index.json at {index_at}:\n{text}",
        syncs[0]
    );
}
