//! The layout holds exactly the images the config lists, each at a path of its own in the
//! cluster's registry: two destinations that the registry would keep at one path are
//! refused while planning (and by `push`, before anything is sent), and an image no list
//! names any more leaves the layout with the blobs only it used, said in the plan.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use common::{Lab, files_under};
use std::fs;

const KLIPPER_LB: &str = "docker.io/rancher/klipper-lb:v0.4.13";

fn append(path: &std::path::Path, text: &str) {
    let mut all = fs::read_to_string(path).unwrap();
    all.push_str(text);
    fs::write(path, all).unwrap();
}

#[test]
fn two_destinations_one_registry_path_is_refused_while_planning() {
    let lab = Lab::new();
    let list = lab.lab_dir().join("images.txt");
    let lines = fs::read_to_string(&list).unwrap().lines().count();
    // Another registry's image of the same repository and tag: a different image.
    append(
        &list,
        "oci:../images/oci:klipper-helm:v0.9.5-build20250306  ghcr.io/rancher/klipper-lb:v0.4.13\n",
    );
    for command in ["plan", "build"] {
        let out = lab
            .seedforge()
            .args([command, "--config", lab.config_arg()])
            .any_status()
            .run();
        assert_eq!(out.code, Some(2), "{command}: {}", out.stderr);
        let at = format!("images.txt:{}", lines + 1);
        for needle in [
            at.as_str(),
            "ghcr.io/rancher/klipper-lb:v0.4.13",
            KLIPPER_LB,
            "REGISTRY/rancher/klipper-lb:v0.4.13",
            "DESTINATION",
        ] {
            assert!(
                out.stderr.contains(needle),
                "{command}: {needle}: {}",
                out.stderr
            );
        }
        assert!(!lab.out_dir().exists(), "{command} wrote the output");
    }
}

#[test]
fn push_refuses_a_layout_holding_two_images_at_one_path_before_sending_anything() {
    let lab = Lab::new();
    let list = lab.lab_dir().join("two.txt");
    fs::write(
        &list,
        "oci:../images/oci:klipper-lb:v0.4.13  docker.io/acme/web:9.9\n\
         oci:../images/oci:klipper-helm:v0.9.5-build20250306  ghcr.io/acme/web:9.9\n",
    )
    .unwrap();
    lab.seedforge()
        .args([
            "mirror",
            "--images",
            "fixtures/lab/two.txt",
            "--layout",
            "layout",
        ])
        .run();
    // No registry listens there: the refusal must come before any connection.
    let out = lab
        .seedforge()
        .args(["push", "--layout", "layout", "--registry", "127.0.0.1:9"])
        .any_status()
        .run();
    assert_ne!(out.code, Some(0), "{}", out.stderr);
    for needle in [
        "docker.io/acme/web:9.9",
        "ghcr.io/acme/web:9.9",
        "127.0.0.1:9/acme/web:9.9",
        "nothing was pushed",
    ] {
        assert!(out.stderr.contains(needle), "{needle}: {}", out.stderr);
    }
    assert!(!out.stderr.contains("connect"), "{}", out.stderr);
}

#[test]
fn an_image_no_longer_listed_leaves_the_layout_with_the_blobs_only_it_used() {
    let lab = Lab::new();
    lab.build();
    let out = lab.out_dir();
    let index = || fs::read_to_string(out.join("oci/index.json")).unwrap();
    assert!(index().contains(KLIPPER_LB));
    let blobs_before = files_under(&out.join("oci/blobs"));
    // servicelb switched off and its image taken out of the list.
    let config = lab.lab_dir().join("seedforge.yaml");
    let text = fs::read_to_string(&config).unwrap();
    fs::write(
        &config,
        text.replace(
            "  name: lab\n",
            "  name: lab\n  disable:\n    - servicelb\n",
        ),
    )
    .unwrap();
    let list = lab.lab_dir().join("images.txt");
    let text = fs::read_to_string(&list).unwrap();
    let kept: Vec<&str> = text.lines().filter(|l| !l.contains(KLIPPER_LB)).collect();
    fs::write(&list, kept.join("\n") + "\n").unwrap();

    let plan = lab
        .seedforge()
        .args(["plan", "--config", lab.config_arg()])
        .run();
    let said = format!("{}{}", plan.stdout, plan.stderr);
    assert!(
        said.contains("1 image(s) no image list names any more leave the layout")
            && said.contains(KLIPPER_LB),
        "{said}"
    );
    let json = lab
        .seedforge()
        .args(["--json", "plan", "--config", lab.config_arg()])
        .run()
        .json();
    let mirror = json["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step"] == "mirror" || s["kind"] == "mirror")
        .cloned()
        .unwrap_or_default();
    assert!(
        mirror.to_string().contains(KLIPPER_LB),
        "plan --json names the image leaving: {json}"
    );

    lab.build();
    assert!(!index().contains(KLIPPER_LB), "{}", index());
    let blobs_after = files_under(&out.join("oci/blobs"));
    assert!(
        blobs_after.len() < blobs_before.len(),
        "the blobs only klipper-lb used are gone: {} -> {}",
        blobs_before.len(),
        blobs_after.len()
    );
    // What is left is sound, has no strays, and gc finds nothing to remove.
    let verify = lab
        .seedforge()
        .args(["--json", "verify"])
        .arg(&out)
        .run()
        .json();
    assert_eq!(verify["strays"], serde_json::json!([]), "{verify}");
    assert_eq!(verify["problems"], serde_json::json!([]), "{verify}");
    let gc = lab
        .seedforge()
        .args(["--json", "gc"])
        .arg(&out)
        .run()
        .json();
    assert_eq!(gc["removed"], serde_json::json!([]), "{gc}");
    // A second build changes nothing and says nothing of it.
    let plan = lab
        .seedforge()
        .args(["plan", "--config", lab.config_arg()])
        .run();
    assert!(!plan.stdout.contains("leave the layout"), "{}", plan.stdout);
}
