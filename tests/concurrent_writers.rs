//! Two `seedforge mirror` processes writing into the same layout at the same time must
//! both succeed, and the final index.json must name every image from both lists.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use crate::common;

use common::{Cmd, Lab, index_names, list_lines, write_list, write_oci_image};
use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use std::time::Duration;

const MIB: u64 = 1024 * 1024;

fn mirror(lab: &Lab, list: &Path, layout: &Path) -> Cmd {
    lab.seedforge()
        .args(["mirror", "--concurrency", "2", "--images"])
        .arg(list)
        .arg("--layout")
        .arg(layout)
        .timeout(Duration::from_secs(240))
}

#[test]
fn two_mirrors_into_same_layout_at_once_both_succeed_and_index_names_all_images() {
    let lab = Lab::new();
    // A larger generated image keeps the writers busy long enough to overlap; both lists
    // name it (under different destinations) so both write the same blobs concurrently.
    let src = lab.root().join("generated");
    write_oci_image(&src, "bigish:1", &[48 * MIB, 4 * MIB, 4 * MIB, 4 * MIB], 7);

    // Split the lab list between two list files kept next to it, so its relative source
    // paths still resolve.
    let lines: Vec<String> = list_lines(&lab.lab_dir().join("images.txt"))
        .into_iter()
        .map(|(_, fields)| fields.join(" "))
        .collect();
    let (first, second) = lines.split_at(lines.len() / 2);
    let mut list_a = first.to_vec();
    list_a.push(format!(
        "oci:{}:bigish:1 docker.io/seedforge-test/bigish:1",
        src.display()
    ));
    let mut list_b = second.to_vec();
    list_b.push(format!(
        "oci:{}:bigish:1 docker.io/seedforge-test/bigish-copy:1",
        src.display()
    ));
    let a = lab.lab_dir().join("a.txt");
    let b = lab.lab_dir().join("b.txt");
    write_list(&a, &list_a);
    write_list(&b, &list_b);
    let expected: BTreeSet<String> = list_a
        .iter()
        .chain(&list_b)
        .map(|l| l.split_whitespace().nth(1).unwrap().to_string())
        .collect();
    assert_eq!(expected.len(), 10);

    for round in 0..3 {
        let layout = lab.root().join(format!("layout-{round}"));
        let one = mirror(&lab, &a, &layout).spawn();
        let two = mirror(&lab, &b, &layout).spawn();
        let out_one = one.wait();
        let out_two = two.wait();
        let names: BTreeSet<String> = index_names(&layout).into_iter().collect();
        assert_eq!(
            names, expected,
            "round {round}: index.json lost entries\nwriter 1:\n{}\nwriter 2:\n{}",
            out_one.stderr, out_two.stderr
        );
        let report = lab
            .seedforge()
            .args(["--json", "verify"])
            .arg(&layout)
            .run()
            .json();
        for key in ["problems", "strays", "stale_temp"] {
            assert!(
                report[key].as_array().unwrap().is_empty(),
                "round {round}: {key} is not empty: {report}"
            );
        }
        assert_eq!(report["images"].as_array().unwrap().len(), 10);
        fs::remove_dir_all(&layout).unwrap();
    }
}
