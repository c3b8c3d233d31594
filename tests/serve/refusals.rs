//! What `seedforge serve` refuses, and how, spoken as raw HTTP/1.1 over TCP (a client
//! library would add or fix the fields these requests get wrong): `Host` fields (RFC 9112
//! 3.2), manifests and blobs by digest outside their repository (and memory under a
//! hundred such requests for a 4 MiB layer), `?ns=` naming another registry, a blob whose
//! bytes no longer match its digest, several ranges, `Accept` in upper case and
//! `If-None-Match`; over TLS (`openssl s_client`) with basic auth, the `Host` refusals and
//! an unknown user. skopeo and crane pull from the same server by tag and by digest, are
//! refused another repository's, and skopeo fails on the damaged blob.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use common::GeneratedImage;
use common::serve::{Exchange, Serve, exchange, raw};
use common::{Cmd, require_tool};
use std::fs;
use std::path::Path;
use std::time::Duration;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// A 4 MiB layer (as a tar: 4 MiB less 512 bytes, within the 4 MiB an OCI document may
/// be, so a server that reads it as a manifest reads it whole).
const BIG: u64 = 4 * 1024 * 1024 - 2048;

/// `METHOD PATH HTTP/1.1` with `Host`, `Connection: close` and `headers`.
fn request(method: &str, path: &str, headers: &[&str]) -> Vec<u8> {
    let mut r = format!("{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n");
    for h in headers {
        r.push_str(h);
        r.push_str("\r\n");
    }
    r.push_str("\r\n");
    r.into_bytes()
}

fn get(serve: &Serve, path: &str, headers: &[&str]) -> Exchange {
    exchange(serve.addr, &request("GET", path, headers), 64 << 20)
}

/// Adds `entry` to the layout's `index.json`.
fn list(oci: &Path, entry: serde_json::Value) {
    let path = oci.join("index.json");
    let mut index: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    index["manifests"].as_array_mut().unwrap().push(entry);
    fs::write(&path, serde_json::to_vec(&index).unwrap()).unwrap();
}

/// Writes `bytes` as a blob of the layout; its digest.
fn blob(oci: &Path, bytes: &[u8]) -> String {
    let hex = common::sha256_bytes(bytes);
    fs::write(oci.join("blobs/sha256").join(&hex), bytes).unwrap();
    format!("sha256:{hex}")
}

/// A served output (`OUT/oci` only, plain HTTP) of:
/// - `docker.io/acme/big:1`, one 4 MiB layer;
/// - `docker.io/acme/other:1`, small;
/// - `docker.io/acme/multi:1`, an index whose one manifest is named nowhere else, with a
///   cosign `.sig` tag beside it.
struct Layout {
    dir: tempfile::TempDir,
    out: std::path::PathBuf,
    big: GeneratedImage,
    other: GeneratedImage,
    /// The index, its child image, and the signature's manifest and payload digests.
    index: String,
    child: GeneratedImage,
    sig: String,
    sig_payload: String,
}

impl Layout {
    fn new() -> Layout {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let oci = out.join("oci");
        let big = common::write_oci_image(&oci, "docker.io/acme/big:1", &[BIG], 1);
        let other = common::write_oci_image(&oci, "docker.io/acme/other:1", &[4096], 2);
        // The child image is written in a layout of its own, then its blobs moved over:
        // the served index.json names only the index.
        let side = dir.path().join("side");
        let child = common::write_oci_image(&side, "x", &[2048], 3);
        for entry in fs::read_dir(side.join("blobs/sha256")).unwrap() {
            let entry = entry.unwrap();
            fs::copy(
                entry.path(),
                oci.join("blobs/sha256").join(entry.file_name()),
            )
            .unwrap();
        }
        let index_doc = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [{
                "mediaType": OCI_MANIFEST,
                "digest": child.manifest.digest,
                "size": child.manifest.size,
                "platform": {"architecture": "amd64", "os": "linux"},
            }],
        });
        let index_bytes = serde_json::to_vec(&index_doc).unwrap();
        let index = blob(&oci, &index_bytes);
        list(
            &oci,
            serde_json::json!({
                "mediaType": OCI_INDEX,
                "digest": index,
                "size": index_bytes.len(),
                "annotations": {"org.opencontainers.image.ref.name": "docker.io/acme/multi:1"},
            }),
        );
        let payload = br#"{"critical":{"identity":{"docker-reference":"acme/multi"}}}"#;
        let sig = common::write_oci_artifact(
            &oci,
            &format!(
                "docker.io/acme/multi:{}.sig",
                index.replace("sha256:", "sha256-")
            ),
            "application/vnd.oci.image.config.v1+json",
            b"{}",
            "application/vnd.dev.cosign.simplesigning.v1+json",
            payload,
        );
        let sig_payload = format!("sha256:{}", common::sha256_bytes(payload));
        Layout {
            dir,
            out,
            big,
            other,
            index,
            child,
            sig,
            sig_payload,
        }
    }

    fn serve(&self) -> Serve {
        Serve::start(&self.out, &["--plain-http"])
    }
}

#[test]
fn http_1_1_requests_without_one_host_field_are_400() {
    let layout = Layout::new();
    let mut serve = layout.serve();
    for (request, want) in [
        (&b"GET /v2/ HTTP/1.1\r\nConnection: close\r\n\r\n"[..], 400),
        (
            b"GET /v2/ HTTP/1.1\r\nHost: a\r\nHost: a\r\nConnection: close\r\n\r\n",
            400,
        ),
        (
            b"GET /v2/acme/big/tags/list HTTP/1.1\r\nHost: a\r\nConnection: close\r\nHost: b\r\n\r\n",
            400,
        ),
        (
            b"GET /v2/ HTTP/1.1\r\nHost: u@a\r\nConnection: close\r\n\r\n",
            400,
        ),
        (b"GET /v2/ HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", 200),
        (
            b"GET /v2/ HTTP/1.1\r\nHost: 127.0.0.1:5000\r\nConnection: close\r\n\r\n",
            200,
        ),
    ] {
        let (code, text) = raw(serve.addr, request);
        assert_eq!(code, want, "{}\n{text}", String::from_utf8_lossy(request));
        if want == 400 {
            assert!(text.contains("Host field"), "{text}");
        }
    }
    // HTTP/1.0 has no Host requirement.
    let (_, text) = raw(serve.addr, b"GET /v2/ HTTP/1.0\r\n\r\n");
    assert!(text.starts_with("HTTP/1.0 200"), "{text}");
    // Two requests on one connection, the second without Host: the first is answered,
    // the second refused, and the connection closed.
    let (_, text) = raw(
        serve.addr,
        b"GET /v2/ HTTP/1.1\r\nHost: a\r\n\r\nGET /v2/_catalog HTTP/1.1\r\n\r\n",
    );
    assert!(
        text.starts_with("HTTP/1.1 200") && text.contains("HTTP/1.1 400"),
        "{text}"
    );
    serve.assert_answering(&[]);
}

#[test]
fn a_manifest_by_digest_is_answered_only_within_its_repository_and_memory_stays_flat() {
    let layout = Layout::new();
    let mut serve = layout.serve();
    let manifest =
        |repo: &str, digest: &str| get(&serve, &format!("/v2/{repo}/manifests/{digest}"), &[]);
    let blob = |repo: &str, digest: &str| get(&serve, &format!("/v2/{repo}/blobs/{digest}"), &[]);
    let layer = layout.big.layers[0].digest.clone();
    // What each repository reaches: its images, an index's manifests, their configs and
    // layers, the signature tag beside it and its payload.
    for (repo, digest) in [
        ("acme/big", &layout.big.manifest.digest),
        ("docker.io/acme/big", &layout.big.manifest.digest),
        ("acme/multi", &layout.index),
        ("acme/multi", &layout.child.manifest.digest),
        ("acme/multi", &layout.sig),
    ] {
        let got = manifest(repo, digest);
        assert_eq!(got.code, 200, "{repo} {digest}\n{}", got.head);
        assert_eq!(common::sha256_bytes(&got.body), digest[7..], "{repo}");
        assert_eq!(got.header("docker-content-digest"), Some(digest.as_str()));
    }
    assert_eq!(
        manifest("acme/multi", &layout.child.manifest.digest).header("content-type"),
        Some(OCI_MANIFEST)
    );
    for (repo, digest) in [
        ("acme/big", &layer),
        ("acme/big", &layout.big.config.digest),
        ("acme/multi", &layout.child.config.digest),
        ("acme/multi", &layout.child.layers[0].digest),
        ("acme/multi", &layout.sig_payload),
        ("acme/multi", &layout.child.manifest.digest),
    ] {
        assert_eq!(blob(repo, digest).code, 200, "{repo} {digest}");
    }
    // Another repository's manifests and blobs, and a layer asked for as a manifest: the
    // spec's 404, whatever is in the layout.
    for (repo, digest) in [
        ("acme/other", &layout.big.manifest.digest),
        ("acme/big", &layout.child.manifest.digest),
        ("acme/big", &layout.sig),
        ("acme/other", &layout.index),
        ("acme/big", &layer),
        ("acme/multi", &layout.child.layers[0].digest),
    ] {
        let got = manifest(repo, digest);
        assert_eq!(got.code, 404, "{repo} {digest}\n{}", got.head);
        assert!(
            String::from_utf8_lossy(&got.body).contains("MANIFEST_UNKNOWN"),
            "{repo} {digest}"
        );
    }
    for (repo, digest) in [
        ("acme/other", &layer),
        ("acme/other", &layout.big.config.digest),
        ("acme/big", &layout.child.layers[0].digest),
        ("acme/big", &layout.sig_payload),
    ] {
        let got = blob(repo, digest);
        assert_eq!(got.code, 404, "{repo} {digest}");
        assert!(String::from_utf8_lossy(&got.body).contains("BLOB_UNKNOWN"));
    }

    serve.assert_answering(&[]);
}

/// A hundred clients at once asking for a 4 MiB layer as a manifest, in its own repository
/// and in another, three times over: each refused without the layer being read, so the
/// server's peak resident memory (`VmHWM`, read from /proc) stays under 64 MiB.
#[test]
fn a_hundred_manifest_requests_for_a_large_layer_leave_memory_flat() {
    let layout = Layout::new();
    let mut serve = layout.serve();
    let layer = layout.big.layers[0].digest.clone();
    let start = serve.peak_rss_kib();
    let addr = serve.addr;
    for round in 0..3 {
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(100));
        let clients: Vec<_> = (0..100)
            .map(|i| {
                let barrier = barrier.clone();
                let repo = if i % 2 == 0 { "acme/big" } else { "acme/other" };
                let req = request("GET", &format!("/v2/{repo}/manifests/{layer}"), &[]);
                std::thread::spawn(move || {
                    barrier.wait();
                    exchange(addr, &req, 1 << 20).code
                })
            })
            .collect();
        for c in clients {
            assert_eq!(c.join().unwrap(), 404, "round {round}");
        }
    }
    let peak = serve.peak_rss_kib();
    eprintln!("serve peak RSS: {start} KiB before, {peak} KiB after 300 requests");
    assert!(peak < 64 * 1024, "peak RSS {peak} KiB (64 MiB allowed)");
    serve.assert_answering(&[]);
}

#[test]
fn ns_chooses_the_registry_and_never_falls_back_to_another() {
    let layout = Layout::new();
    let serve = layout.serve();
    for (query, want) in [
        ("", 200),
        ("?ns=docker.io", 200),
        ("?ns=quay.io", 404),
        ("?ns=ghcr.io&ns=docker.io", 404),
    ] {
        let got = get(&serve, &format!("/v2/acme/big/manifests/1{query}"), &[]);
        assert_eq!(got.code, want, "{query}\n{}", got.head);
        if want == 404 {
            assert!(String::from_utf8_lossy(&got.body).contains("NAME_UNKNOWN"));
        }
        let tags = get(&serve, &format!("/v2/acme/big/tags/list{query}"), &[]);
        assert_eq!(tags.code, want, "{query}");
    }
}

#[test]
fn ranges_accept_and_if_none_match() {
    let layout = Layout::new();
    let mut serve = layout.serve();
    let layer = &layout.other.layers[0];
    let path = format!("/v2/acme/other/blobs/{}", layer.digest);
    let whole = fs::read(layout.out.join("oci/blobs/sha256").join(&layer.digest[7..])).unwrap();
    // Several ranges: the whole blob, 200 (RFC 9110 lets a server ignore them).
    let got = get(&serve, &path, &["Range: bytes=0-1,4-5"]);
    assert_eq!(got.code, 200, "{}", got.head);
    assert_eq!(got.body, whole);
    assert_eq!(got.header("content-range"), None);
    let got = get(&serve, &path, &["Range: bytes=4-5"]);
    assert_eq!((got.code, &got.body[..]), (206, &whole[4..6]));

    // Accept in any case.
    let by_tag = "/v2/acme/other/manifests/1";
    for accept in [
        "APPLICATION/VND.OCI.IMAGE.MANIFEST.V1+JSON",
        "application/vnd.oci.image.Manifest.v1+json; q=0.5",
        "Application/*",
    ] {
        let got = get(&serve, by_tag, &[&format!("Accept: {accept}")]);
        assert_eq!(got.code, 200, "{accept}\n{}", got.head);
    }
    let got = get(
        &serve,
        by_tag,
        &["Accept: application/vnd.oci.image.index.v1+json"],
    );
    assert_eq!(got.code, 404);

    // If-None-Match with the digest (the ETag): 304 and no body, for manifests (by tag
    // and digest) and blobs, GET and HEAD.
    let manifest = &layout.other.manifest.digest;
    let etag = format!("\"{manifest}\"");
    let got = get(&serve, by_tag, &[]);
    assert_eq!(got.header("etag"), Some(etag.as_str()));
    for (method, path, digest) in [
        ("GET", by_tag.to_string(), manifest),
        ("HEAD", by_tag.to_string(), manifest),
        (
            "GET",
            format!("/v2/acme/other/manifests/{manifest}"),
            manifest,
        ),
        ("GET", path.clone(), &layer.digest),
        ("HEAD", path.clone(), &layer.digest),
    ] {
        for value in [
            format!("\"{digest}\""),
            format!("W/\"x\", \"{digest}\""),
            "*".into(),
        ] {
            let got = exchange(
                serve.addr,
                &request(method, &path, &[&format!("If-None-Match: {value}")]),
                1 << 20,
            );
            assert_eq!(got.code, 304, "{method} {path} {value}\n{}", got.head);
            assert!(got.body.is_empty());
            assert_eq!(got.header("docker-content-digest"), Some(digest.as_str()));
        }
        let got = exchange(
            serve.addr,
            &request(method, &path, &["If-None-Match: \"sha256:other\""]),
            1 << 20,
        );
        assert_eq!(got.code, 200, "{method} {path}");
    }
    serve.assert_answering(&[]);
}

#[test]
fn a_blob_that_no_longer_matches_its_digest_is_cut_short_and_logged() {
    let layout = Layout::new();
    let mut serve = layout.serve();
    let blobs = layout.out.join("oci/blobs/sha256");
    let layer = &layout.big.layers[0];
    let config = &layout.other.config;
    // Both served whole first: each was hashed and is remembered as checked, so what
    // follows is served unhashed unless its file is seen to have changed.
    for (repo, blob) in [("acme/big", layer), ("acme/other", config)] {
        let url = format!("/v2/{repo}/blobs/{}", blob.digest);
        for _ in 0..2 {
            let got = get(&serve, &url, &[]);
            assert_eq!(common::sha256_bytes(&got.body), blob.digest[7..], "{repo}");
        }
    }
    // One byte changed in the 4 MiB layer (deep in it: many chunks go out first) in place,
    // the file's size and modification time as they were (its change time moves, which no
    // program can set back); the small image's config (one chunk) replaced by a damaged
    // copy renamed over it (another inode), its times those of the original.
    let path = blobs.join(&layer.digest[7..]);
    let mtime = fs::metadata(&path).unwrap().modified().unwrap();
    {
        use std::io::{Seek as _, SeekFrom, Write as _};
        let at = layer.size - 100;
        let mut byte = [0u8];
        let mut f = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .unwrap();
        f.seek(SeekFrom::Start(at)).unwrap();
        std::io::Read::read_exact(&mut f, &mut byte).unwrap();
        f.seek(SeekFrom::Start(at)).unwrap();
        f.write_all(&[byte[0] ^ 1]).unwrap();
        f.set_modified(mtime).unwrap();
    }
    assert_eq!(fs::metadata(&path).unwrap().modified().unwrap(), mtime);
    assert_eq!(fs::metadata(&path).unwrap().len(), layer.size);
    let path = blobs.join(&config.digest[7..]);
    let original = fs::read(&path).unwrap();
    let mut bytes = original.clone();
    bytes[1] ^= 1;
    let new = blobs.join("replacement");
    fs::write(&new, bytes).unwrap();
    fs::File::options()
        .write(true)
        .open(&new)
        .unwrap()
        .set_modified(fs::metadata(&path).unwrap().modified().unwrap())
        .unwrap();
    fs::rename(&new, &path).unwrap();
    for (repo, blob) in [("acme/big", layer), ("acme/other", config)] {
        let got = get(&serve, &format!("/v2/{repo}/blobs/{}", blob.digest), &[]);
        // The head promised the whole blob; fewer bytes came before the connection ended.
        // A blob of one chunk may be refused before its head left: then nothing came.
        if got.code == 0 && blob.size <= 256 * 1024 {
            assert!(got.body.is_empty());
            continue;
        }
        assert_eq!(got.code, 200, "{repo}: {}", got.head);
        assert_eq!(
            got.header("content-length"),
            Some(blob.size.to_string().as_str())
        );
        assert!(
            (got.body.len() as u64) < blob.size,
            "{repo}: all {} bytes came",
            got.body.len()
        );
    }
    // curl sees a transfer cut short (exit 18), not a complete file.
    let curl = Cmd::new("curl")
        .args(["-s", "-o", "/dev/null"])
        .arg(serve.url(&format!("/v2/acme/big/blobs/{}", layer.digest)))
        .timeout(Duration::from_secs(60))
        .any_status()
        .run();
    assert_eq!(curl.code, Some(18), "{}", curl.stderr);
    let line = format!("{}: its bytes do not match its digest", &layer.digest[7..]);
    let log = serve.log_with(&line);
    assert!(log.contains(&line), "{log}");
    // A sound blob of the same image is still served whole.
    let sound = &layout.big.config;
    let got = get(&serve, &format!("/v2/acme/big/blobs/{}", sound.digest), &[]);
    assert_eq!(common::sha256_bytes(&got.body), sound.digest[7..]);
    // The config put right by another rename: checked again, and whole.
    fs::write(&new, &original).unwrap();
    fs::rename(&new, blobs.join(&config.digest[7..])).unwrap();
    let got = get(
        &serve,
        &format!("/v2/acme/other/blobs/{}", config.digest),
        &[],
    );
    assert_eq!(common::sha256_bytes(&got.body), config.digest[7..]);
    serve.assert_answering(&[]);
}

/// A remembered blob is sent unhashed; a write into its file in place while curl
/// downloads it (after the first bytes went out, before the last were read) cuts the
/// download short, as a blob that no longer matches its digest is: curl never ends with
/// the changed bytes as a whole blob.
#[test]
fn a_write_into_a_remembered_blob_during_its_download_cuts_it_short() {
    if !require_tool("curl") {
        return;
    }
    let layout = Layout::new();
    let serve = layout.serve();
    // 64 MiB: more than the socket buffers and curl hold, so the server is still reading
    // the file when the test writes into it.
    let size: u64 = 64 << 20;
    let huge =
        common::write_oci_image(&layout.out.join("oci"), "docker.io/acme/huge:1", &[size], 9);
    let layer = &huge.layers[0];
    let url = serve.url(&format!("/v2/acme/huge/blobs/{}", layer.digest));
    let curl = |out: &str| {
        std::process::Command::new("curl")
            .args(["-s", "-S", "-o", out, &url])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    // Sent whole once: hashed, matching, remembered; the next download is unhashed.
    let first = curl("/dev/null").wait_with_output().unwrap();
    assert!(first.status.success(), "{first:?}");
    let mut child = curl("-");
    let mut stdout = child.stdout.take().unwrap();
    let mut head = vec![0u8; 1 << 20];
    std::io::Read::read_exact(&mut stdout, &mut head).unwrap();
    // One byte near the end changed in place: same inode, size and modification time.
    let path = layout.out.join("oci/blobs/sha256").join(&layer.digest[7..]);
    let mtime = fs::metadata(&path).unwrap().modified().unwrap();
    {
        use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
        let mut f = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .unwrap();
        let mut byte = [0u8];
        f.seek(SeekFrom::Start(layer.size - 100)).unwrap();
        f.read_exact(&mut byte).unwrap();
        f.seek(SeekFrom::Start(layer.size - 100)).unwrap();
        f.write_all(&[byte[0] ^ 1]).unwrap();
        f.set_modified(mtime).unwrap();
    }
    let mut rest = Vec::new();
    std::io::Read::read_to_end(&mut stdout, &mut rest).unwrap();
    let done = child.wait_with_output().unwrap();
    let got = head.len() + rest.len();
    // curl 18: the transfer ended short of its Content-Length.
    assert_eq!(
        done.status.code(),
        Some(18),
        "{got} of {size} bytes; {}",
        String::from_utf8_lossy(&done.stderr)
    );
    assert!((got as u64) < layer.size, "all {got} bytes came");
    let line = format!("{}: its file changed while it was sent", &layer.digest[7..]);
    let log = serve.log_with(&line);
    assert!(log.contains(&line), "{log}");
    // The next download hashes it again and is cut short too (the bytes do not match).
    let again = curl("/dev/null").wait_with_output().unwrap();
    assert_eq!(again.status.code(), Some(18), "{again:?}");
}

#[test]
fn skopeo_and_crane_pull_by_tag_and_digest_and_refuse_other_repositories_and_damage() {
    if !require_tool("skopeo") {
        return;
    }
    let layout = Layout::new();
    let serve = layout.serve();
    let work = tempfile::tempdir().unwrap();
    let copy = |source: &str, i: usize| {
        Cmd::new("skopeo")
            .args(["copy", "--quiet", "--src-tls-verify=false"])
            .arg(format!("docker://{}/{source}", serve.host()))
            .arg(format!(
                "oci:{}:x",
                work.path().join(format!("c{i}")).display()
            ))
            .timeout(Duration::from_secs(120))
            .any_status()
            .run()
    };
    for (i, source) in [
        "acme/multi:1".to_string(),
        format!("acme/big@{}", layout.big.manifest.digest),
        format!("acme/multi@{}", layout.child.manifest.digest),
    ]
    .iter()
    .enumerate()
    {
        let out = copy(source, i);
        assert_eq!(
            out.code,
            Some(0),
            "{source}: {}\n{}",
            out.stderr,
            serve.log()
        );
    }
    // Another repository's image by digest: not there.
    let out = copy(&format!("acme/other@{}", layout.big.manifest.digest), 10);
    assert_ne!(out.code, Some(0));
    assert!(out.stderr.contains("manifest unknown"), "{}", out.stderr);
    // crane (Debian sid's, when fetched): the same pulls and refusals.
    let crane = common::repo_root().join("target/sid/root/usr/bin/crane");
    if crane.exists() {
        let crane = |args: &[&str]| {
            Cmd::new(&crane)
                .args(args)
                .arg("--insecure")
                .timeout(Duration::from_secs(60))
                .any_status()
                .run()
        };
        let host = serve.host();
        let by_digest = format!("{host}/acme/big@{}", layout.big.manifest.digest);
        let tar = work.path().join("big.tar");
        let pulled = crane(&["pull", &by_digest, tar.to_str().unwrap()]);
        assert_eq!(pulled.code, Some(0), "{}", pulled.stderr);
        let digest = crane(&["digest", &format!("{host}/acme/multi:1")]);
        assert_eq!(digest.stdout.trim(), layout.index);
        let elsewhere = crane(&[
            "manifest",
            &format!("{host}/acme/other@{}", layout.big.manifest.digest),
        ]);
        assert_ne!(elsewhere.code, Some(0), "{}", elsewhere.stdout);
        let blob = crane(&[
            "blob",
            &format!("{host}/acme/other@{}", layout.big.config.digest),
        ]);
        assert_ne!(blob.code, Some(0));
    } else {
        eprintln!("SKIP: crane is not in target/sid/root/usr/bin; scripts/test.sh fetches it");
    }
    // A damaged layer: the copy fails.
    let layer = &layout.other.layers[0];
    let path = layout.out.join("oci/blobs/sha256").join(&layer.digest[7..]);
    let mut bytes = fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    fs::write(&path, bytes).unwrap();
    let out = copy("acme/other:1", 11);
    assert_ne!(out.code, Some(0), "a damaged blob was copied");
}

/// `request` sent over TLS with `openssl s_client` (the build's CA verifying the server):
/// the raw answer.
fn over_tls(serve: &Serve, ca: &Path, request: &[u8]) -> String {
    let mut child = std::process::Command::new("openssl")
        .args(["s_client", "-quiet", "-verify_return_error", "-connect"])
        .arg(serve.host())
        .arg("-CAfile")
        .arg(ca)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    use std::io::{Read as _, Write as _};
    child.stdin.take().unwrap().write_all(request).unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = Vec::new();
        let _ = stdout.read_to_end(&mut text);
        String::from_utf8_lossy(&text).into_owned()
    });
    // The server closes after its answer (Connection: close, or the refusal's own).
    for _ in 0..300 {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    reader.join().unwrap()
}

/// The same over TLS, with basic auth on: the `Host` refusals come before the credentials
/// are asked for, and an unknown user is refused as a wrong password is.
#[test]
fn over_tls_with_basic_auth_host_fields_and_unknown_users_are_refused() {
    if !require_tool("openssl") {
        return;
    }
    let layout = Layout::new();
    let issued = layout.dir.path().join("issued");
    Cmd::seedforge()
        .args(["-q", "pki", "--host", "127.0.0.1", "--port", "5000", "-o"])
        .arg(&issued)
        .run();
    fs::create_dir_all(layout.out.join("pki")).unwrap();
    for f in ["ca.crt", "registry.crt", "registry.key"] {
        fs::copy(issued.join("pki").join(f), layout.out.join("pki").join(f)).unwrap();
    }
    fs::create_dir_all(layout.out.join("registry")).unwrap();
    fs::write(
        layout.out.join("registry/config.yml"),
        "version: 0.1\nauth:\n  htpasswd:\n    realm: r\n    path: registry/htpasswd\n",
    )
    .unwrap();
    let hash = bcrypt::hash("s3cret", 4).unwrap();
    fs::write(
        layout.out.join("registry/htpasswd"),
        format!("puller:{hash}\n"),
    )
    .unwrap();
    let mut serve = Serve::start(&layout.out, &[]);
    assert_eq!(serve.scheme, "https");
    let ca = layout.out.join("pki/ca.crt");
    let basic = |user: &str, password: &str| {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    };
    let good = format!("Authorization: Basic {}\r\n", basic("puller", "s3cret"));
    for (head, want) in [
        (format!("Host: a\r\n{good}"), "HTTP/1.1 200"),
        (good.clone(), "HTTP/1.1 400"),
        (format!("Host: a\r\nHost: b\r\n{good}"), "HTTP/1.1 400"),
        ("Host: a\r\n".into(), "HTTP/1.1 401"),
        (
            format!(
                "Host: a\r\nAuthorization: Basic {}\r\n",
                basic("nobody", "s3cret")
            ),
            "HTTP/1.1 401",
        ),
        (
            format!(
                "Host: a\r\nAuthorization: Basic {}\r\n",
                basic("puller", "wrong")
            ),
            "HTTP/1.1 401",
        ),
    ] {
        let request =
            format!("GET /v2/acme/big/tags/list HTTP/1.1\r\n{head}Connection: close\r\n\r\n");
        let text = over_tls(&serve, &ca, request.as_bytes());
        assert!(text.starts_with(want), "{head}\n{text}\n{}", serve.log());
    }
    serve.assert_answering(&["-u", "puller:s3cret"]);
}
