//! The demo lab's chart (`fixtures/lab/charts/demo-app`): its image comes from a helper
//! template, its sidecar's image is handed to it as a flag. Served from a Helm repository
//! on 127.0.0.1 with its images in a registry there: `plan` names both images with their
//! template lines; with `images: add` the build mirrors both.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use crate::charts::{Repo, lab_with_chart};
use crate::common;
use common::charts::{lab_chart_tgz, lab_chart_values, push_lab_chart_images};
use common::registry::Registry;
use common::require_tool;
use std::fs;

#[test]
fn the_lab_chart_images_are_named_with_their_lines_and_added_when_asked() {
    if !require_tool("docker-registry") || !require_tool("skopeo") {
        return;
    }
    let registry = Registry::start_plain();
    let host = registry.host();
    push_lab_chart_images(&registry);
    let tgz = lab_chart_tgz();
    let repo = Repo::start(&tgz, tgz.clone());
    let lab = lab_with_chart(&repo.server.url(""), "    values: demo-values.yaml\n");
    // The chart's defaults name the lab's own images: the plan passes.
    fs::write(lab.lab_dir().join("demo-values.yaml"), "{}\n").unwrap();
    lab.seedforge()
        .args(["plan", "--config", lab.config_arg()])
        .run();
    // From the registry on 127.0.0.1: in no list, each named with its template line.
    fs::write(
        lab.lab_dir().join("demo-values.yaml"),
        lab_chart_values(&host),
    )
    .unwrap();
    let config = lab.lab_dir().join("seedforge.yaml");
    let mut text = fs::read_to_string(&config).unwrap();
    text.push_str(&format!(
        "\nregistries:\n  - host: \"{host}\"\n    insecure: true\n"
    ));
    fs::write(&config, &text).unwrap();
    let refused = lab
        .seedforge()
        .args(["plan", "--config", lab.config_arg()])
        .expect(2)
        .run();
    // The values are a best effort: every value whose text the reference holds (here
    // both registries, set to the same host).
    for want in [
        format!(
            "demo-app/templates/deployment.yaml:15 (Deployment/demo, container image) pulls {host}/lab/web:1.0 (values global.imageRegistry, image.repository, image.tag, sidecar.registry)"
        ),
        format!(
            "demo-app/templates/deployment.yaml:17 (Deployment/demo, named in an argument) pulls {host}/lab/side:2.0 (values global.imageRegistry, sidecar.registry, sidecar.repository, sidecar.tag)"
        ),
    ] {
        assert!(refused.stderr.contains(&want), "{want}\n{}", refused.stderr);
    }
    let listed = lab
        .seedforge()
        .args(["chart-images", "--config", lab.config_arg(), "--json"])
        .run();
    let doc: serde_json::Value = serde_json::from_str(&listed.stdout).unwrap();
    let images = doc["charts"][0]["images"].as_array().unwrap();
    assert_eq!(images.len(), 2, "{doc}");
    assert_eq!(images[1]["how"], "argument");
    assert_eq!(images[1]["line"], 17);
    assert_eq!(images[1]["listed"], false);
    // images: add: both mirrored into the layout under their own names.
    text = text.replace(
        "    values: demo-values.yaml\n",
        "    values: demo-values.yaml\n    images: add\n",
    );
    fs::write(&config, &text).unwrap();
    let plan = lab
        .seedforge()
        .args(["plan", "--config", lab.config_arg()])
        .run();
    for want in [
        format!(
            "it pulls {host}/lab/web:1.0 (demo-app/templates/deployment.yaml:15), {host}/lab/side:2.0 (demo-app/templates/deployment.yaml:17)"
        ),
        format!("images: add mirrors 2 no list has: {host}/lab/web:1.0, {host}/lab/side:2.0"),
    ] {
        assert!(plan.stdout.contains(&want), "{want}\n{}", plan.stdout);
    }
    lab.seedforge()
        .args(["build", "--config", lab.config_arg()])
        .run();
    let index = fs::read_to_string(lab.out_dir().join("oci/index.json")).unwrap();
    for name in [
        format!("{host}/lab/web:1.0"),
        format!("{host}/lab/side:2.0"),
    ] {
        assert!(index.contains(&name), "{name} not in {index}");
    }
    let registries = fs::read_to_string(lab.out_dir().join("registries.yaml")).unwrap();
    assert!(registries.contains(&format!("\"{host}\":")), "{registries}");
}
