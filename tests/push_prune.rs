//! `seedforge push --prune` against real distribution registries: what the last push of
//! the output pushed (a plain `push` records it too) and the new one does not (an image the new output
//! dropped, with the cosign signature stored beside it) is deleted from the far registry,
//! and nothing else: the kept images and an image pushed there by other means stay, as
//! skopeo sees them.

use crate::common;

use common::registry::{Registry, fixture_layout, skopeo_push, skopeo_raw_digest};
use common::{Cmd, Lab, require_tool};
use std::fs;

const PASSWORD: &str = "a test key's password";

/// Whether `repo_tag` is in `registry`, as skopeo sees it.
fn present(registry: &Registry, repo_tag: &str) -> bool {
    Cmd::new("skopeo")
        .args(["inspect", "--raw", "--tls-verify=false"])
        .arg(format!("docker://{}/{repo_tag}", registry.host()))
        .any_status()
        .run()
        .code
        == Some(0)
}

#[test]
fn push_prune_removes_what_the_new_output_dropped_with_its_signature_and_nothing_else() {
    for tool in ["docker-registry", "skopeo"] {
        if !require_tool(tool) {
            return;
        }
    }
    let Some(cosign) = common::sigstore::cosign() else {
        return;
    };
    // The source: two application images, one signed by cosign (a classic .sig tag).
    let source = Registry::start_plain();
    let pause = format!("oci:{}:mirrored-pause:3.6", fixture_layout().display());
    let coredns = format!(
        "oci:{}:mirrored-coredns-coredns:1.12.1",
        fixture_layout().display()
    );
    skopeo_push(&pause, &source, "acme/cron:1.0", true);
    skopeo_push(&coredns, &source, "acme/web:1.0", true);
    let cron = skopeo_raw_digest(&source, "acme/cron:1.0");
    let keys = tempfile::tempdir().unwrap();
    common::sigstore::generate_key_pair(&cosign, keys.path(), PASSWORD);
    common::sigstore::sign_classic(
        &cosign,
        keys.path(),
        PASSWORD,
        &format!("{}/acme/cron@{cron}", source.host()),
    );
    let lab = Lab::new();
    let dir = lab.lab_dir();
    let host = source.host();
    let config = dir.join("seedforge.yaml");
    let text = fs::read_to_string(&config).unwrap().replace(
        "\nimages:\n",
        &format!("\nregistries:\n  - host: \"{host}\"\n    insecure: true\n\nimages:\n"),
    );
    fs::write(&config, text).unwrap();
    let list = dir.join("images.txt");
    let listed = fs::read_to_string(&list).unwrap();
    let web = format!("docker://{host}/acme/web:1.0 docker.io/acme/web:1.0\n");
    let cron_line = format!("docker://{host}/acme/cron:1.0 docker.io/acme/cron:1.0\n");
    fs::write(&list, format!("{listed}{web}{cron_line}")).unwrap();
    lab.build();

    // The far registry, holding an image of the operator's own.
    let far = Registry::start_plain();
    skopeo_push(&pause, &far, "ops/tool:1", true);
    let push = |prune: bool| {
        let push = lab
            .seedforge()
            .args(["push", "--layout"])
            .arg(lab.out_dir())
            .args(["--registry", &far.host(), "--plain-http", &far.host()]);
        if prune { push.arg("--prune") } else { push }.run()
    };
    // Day one's push is a plain one: it records what it pushed all the same.
    let first = push(false);
    assert!(!first.stderr.contains("pruned"), "{}", first.stderr);
    let sig_tag = format!("acme/cron:{}.sig", cron.replace(':', "-"));
    for repo_tag in ["acme/cron:1.0", sig_tag.as_str(), "acme/web:1.0"] {
        assert!(present(&far, repo_tag), "{repo_tag} was not pushed");
    }

    // The new output drops acme/cron.
    fs::write(&list, format!("{listed}{web}")).unwrap();
    lab.build();
    let second = push(true);
    for removed in ["acme/cron:1.0@", sig_tag.as_str()] {
        assert!(
            second.stdout.contains(removed),
            "{removed}: {}",
            second.stdout
        );
    }
    assert!(!present(&far, "acme/cron:1.0"), "acme/cron:1.0 stayed");
    assert!(!present(&far, &sig_tag), "its signature stayed");
    for kept in [
        "acme/web:1.0",
        "rancher/mirrored-pause:3.6",
        "rancher/mirrored-coredns-coredns:1.12.1",
        "ops/tool:1",
    ] {
        assert!(present(&far, kept), "{kept} was removed");
    }
    // A third push of the same output removes nothing more.
    let third = push(true);
    assert!(
        third.stderr.contains("pruned 0 manifest(s)"),
        "{}",
        third.stderr
    );
    assert!(present(&far, "acme/web:1.0"));
}
