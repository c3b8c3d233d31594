//! The test registry harness itself works: skopeo pushes the fixture images into a plain
//! and a TLS registry, and reads back the same manifest digests as our fixture layout holds.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use common::registry::{
    Registry, RegistryOptions, TestCa, fixture_layout, skopeo_push, skopeo_raw_digest,
};
use common::{index_entry, require_tool};

#[test]
fn skopeo_fills_plain_and_tls_registries_with_fixture_digests() {
    if !require_tool("docker-registry") || !require_tool("skopeo") || !require_tool("openssl") {
        return;
    }
    let layout = fixture_layout();
    let plain = Registry::start_plain();
    let ca = TestCa::new();
    let tls = Registry::start(&RegistryOptions {
        tls: Some((ca.server_cert.clone(), ca.server_key.clone())),
        basic_auth: Some(("tester".into(), "s3cret-pw".into())),
        token: None,
    });
    for (name, repo_tag) in [
        ("mirrored-pause:3.6", "rancher/mirrored-pause:3.6"),
        ("klipper-lb:v0.4.13", "rancher/klipper-lb:v0.4.13"),
    ] {
        let want = index_entry(&layout, name)["digest"]
            .as_str()
            .unwrap()
            .to_string();
        let source = format!("oci:{}:{name}", layout.display());
        skopeo_push(&source, &plain, repo_tag, true);
        assert_eq!(skopeo_raw_digest(&plain, repo_tag), want, "{repo_tag}");
        common::Cmd::new("skopeo")
            .args([
                "copy",
                "--quiet",
                "--all",
                "--dest-creds",
                "tester:s3cret-pw",
            ])
            .arg("--dest-cert-dir")
            .arg(ca.cert_dir())
            .arg(&source)
            .arg(format!("docker://{}/{repo_tag}", tls.host()))
            .run();
    }
    // Wrong password is refused by the TLS registry.
    let out = common::Cmd::new("skopeo")
        .args(["inspect", "--raw", "--creds", "tester:wrong"])
        .arg("--cert-dir")
        .arg(ca.cert_dir())
        .arg(format!(
            "docker://{}/rancher/klipper-lb:v0.4.13",
            tls.host()
        ))
        .any_status()
        .run();
    assert_ne!(out.code, Some(0), "{}", out.stderr);
}
