use super::check::{FileState, check, load};
use super::create::{Options, Source, create, plan};
use super::repair::{commit, repair};
use std::fs;
use std::path::Path;

fn write(dir: &Path, name: &str, len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).max(1);
    let bytes: Vec<u8> = (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect();
    fs::write(dir.join(name), &bytes).unwrap();
    bytes
}

#[test]
fn a_lost_file_and_a_damaged_one_are_rebuilt() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut wanted = Vec::new();
    for (i, len) in [40_000usize, 40_000, 40_000, 13_001].iter().enumerate() {
        let name = format!("a.iso.part{:03}", i + 1);
        wanted.push((name.clone(), write(dir, &name, *len, i as u32 + 1)));
    }
    let sizes: Vec<u64> = wanted.iter().map(|w| w.1.len() as u64).collect();
    let p = plan(&sizes, 60).unwrap();
    assert!(u64::from(p.recovery) >= 40_000u64.div_ceil(p.slice));
    let sources: Vec<Source> = wanted
        .iter()
        .map(|(n, _)| Source {
            path: dir.join(n),
            name: n.clone(),
        })
        .collect();
    let options = Options {
        plan: p,
        max_volume: 50_000,
        creator: "test".into(),
        budget: 1 << 20,
    };
    let created = create(dir, "t", &sources, &options).unwrap();
    assert!(created.files.len() >= 2, "{:?}", created.files);
    // The same again: the same bytes.
    let first: Vec<Vec<u8>> = created.files.iter().map(|f| fs::read(f).unwrap()).collect();
    let again = create(dir, "t", &sources, &options).unwrap();
    let second: Vec<Vec<u8>> = again.files.iter().map(|f| fs::read(f).unwrap()).collect();
    assert_eq!(first, second);

    fs::remove_file(dir.join("a.iso.part002")).unwrap();
    let mut damaged = wanted[3].1.clone();
    damaged[5000] ^= 0xff;
    fs::write(dir.join("a.iso.part004"), &damaged).unwrap();
    let set = load(dir, "t").unwrap();
    let report = check(dir, &set, &|_| false).unwrap();
    assert_eq!(
        report
            .files
            .iter()
            .filter(|f| f.state == FileState::Missing)
            .count(),
        1
    );
    assert!(report.repairable(), "{report:?}");
    let rebuilt = repair(dir, &set, &report, 1 << 20).unwrap();
    commit(rebuilt).unwrap();
    for (name, bytes) in &wanted {
        assert_eq!(&fs::read(dir.join(name)).unwrap(), bytes, "{name}");
    }
    // A loss beyond the recovery slices: refused, nothing written.
    for (name, _) in &wanted[..3] {
        fs::remove_file(dir.join(name)).unwrap();
    }
    fs::write(dir.join("a.iso.part004"), &damaged).unwrap();
    let set = load(dir, "t").unwrap();
    let report = check(dir, &set, &|_| false).unwrap();
    assert!(!report.repairable());
    let e = repair(dir, &set, &report, 1 << 20).unwrap_err();
    assert!(e.to_string().contains("more needed"), "{e}");
    let left: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.ends_with(".par2"))
        .collect();
    assert_eq!(left, ["a.iso.part004"]);
    assert_eq!(fs::read(dir.join("a.iso.part004")).unwrap(), damaged);
}

#[test]
fn the_plan_covers_a_whole_part() {
    let parts = [64u64 << 20; 16];
    let p = plan(&parts, 10).unwrap();
    assert_eq!(p.slice, 1 << 20);
    assert_eq!(p.inputs, 1024);
    assert_eq!(p.recovery, 103);
    // Three parts at 10%: a part is more than 10%; the recovery is one part.
    let p = plan(&[4 << 20, 4 << 20, 1 << 20], 10).unwrap();
    let bytes = u64::from(p.recovery) * p.slice;
    assert!(bytes >= 4 << 20 && bytes < (4 << 20) + p.slice, "{p:?}");
    // FAT32's odd part size: slices a multiple of 4, a part in whole slices.
    let p = plan(&[4_294_967_295; 3], 50).unwrap();
    assert_eq!(p.slice % 4, 0);
    assert!(u64::from(p.recovery) >= 4_294_967_295u64.div_ceil(p.slice));
}

#[test]
fn volumes_are_named_as_the_docs_show() {
    let names = |recovery, per| -> Vec<String> {
        super::create::volumes("export", recovery, per)
            .into_iter()
            .map(|v| v.name)
            .collect()
    };
    assert_eq!(names(8, 8), ["export.vol0+8.par2"]);
    assert_eq!(names(16, 8), ["export.vol00+8.par2", "export.vol08+8.par2"]);
    assert_eq!(
        names(23, 12),
        ["export.vol00+12.par2", "export.vol12+11.par2"]
    );
}

#[test]
fn every_plan_is_one_seedforge_reads_and_repairs() {
    use super::{MAX_SLICE, MAX_SLICES, MAX_WORK, repair_work};
    // Many blobs at full redundancy, many 4 GiB parts, one huge file: each plan's slice
    // is within the reader's bound and a loss of all its recovery slices within the work.
    for (sizes, percent) in [
        (vec![300_000u64; 20_000], 100),
        (vec![300_000u64; 20_000], 10),
        (vec![4_294_967_295u64; 2_000], 10),
        (vec![1u64 << 44], 5),
    ] {
        let Some(p) = plan(&sizes, percent) else {
            continue;
        };
        assert!(p.slice <= MAX_SLICE, "{p:?}");
        assert!(p.inputs <= MAX_SLICES, "{p:?}");
        assert!(
            repair_work(p.inputs, u64::from(p.recovery)) <= u128::from(MAX_WORK),
            "{p:?}"
        );
    }
    assert!(plan(&[4_294_967_295u64; 2_000], 10).is_some());
}

#[test]
fn a_folder_at_a_name_refuses_the_commit_before_any_rename() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut names = Vec::new();
    for i in 0..3u32 {
        let name = format!("p.part{:03}", i + 1);
        write(dir, &name, 90_000, i + 7);
        names.push(name);
    }
    let sources: Vec<Source> = (names.iter())
        .map(|n| Source {
            path: dir.join(n),
            name: n.clone(),
        })
        .collect();
    let sizes = vec![90_000u64; 3];
    let options = Options {
        plan: plan(&sizes, 100).unwrap(),
        max_volume: 1 << 30,
        creator: "test".into(),
        budget: 1 << 20,
    };
    create(dir, "t", &sources, &options).unwrap();
    fs::remove_file(dir.join(&names[0])).unwrap();
    fs::remove_file(dir.join(&names[2])).unwrap();
    let set = load(dir, "t").unwrap();
    let report = check(dir, &set, &|_| false).unwrap();
    let rebuilt = repair(dir, &set, &report, 1 << 20).unwrap();
    assert_eq!(rebuilt.len(), 2);
    // A folder appears at one name after the repair, before the commit.
    fs::create_dir(dir.join(&names[2])).unwrap();
    let e = commit(rebuilt).unwrap_err();
    assert!(e.to_string().contains("a folder at its name"), "{e}");
    let mut left: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.ends_with(".par2"))
        .collect();
    left.sort();
    assert_eq!(left, [names[1].clone(), names[2].clone()]);
}
