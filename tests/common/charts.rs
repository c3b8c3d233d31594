//! Helm charts for the tests: a deterministic chart archive and the values it ships, the
//! demo lab's chart (`fixtures/lab/charts/demo-app`) with its two images in a registry, and
//! a chart pushed to the distribution registry as Helm pushes one.

use std::fs;
use std::io::Write as _;

/// A deterministic chart archive: `NAME/Chart.yaml`, `NAME/values.yaml` and
/// `NAME/templates/deployment.yaml`, with fixed times and modes.
pub fn chart_tgz(name: &str, version: &str, values: &str) -> Vec<u8> {
    let chart = format!(
        "apiVersion: v2\nname: {name}\nversion: {version}\nappVersion: \"1.0\"\ntype: application\n"
    );
    let deployment = format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{{{ .Release.Name }}}}\nspec:\n  template:\n    spec:\n      containers:\n        - name: {name}\n          image: \"{{{{ .Values.image.repository }}}}:{{{{ .Values.image.tag }}}}\"\n"
    );
    tgz_of(&[
        (format!("{name}/Chart.yaml"), chart),
        (format!("{name}/values.yaml"), values.to_string()),
        (format!("{name}/templates/deployment.yaml"), deployment),
    ])
}

/// A deterministic `.tgz` of `files` (path and text), with fixed times and modes.
pub fn tgz_of(files: &[(String, String)]) -> Vec<u8> {
    let mut tar = tar::Builder::new(Vec::new());
    for (path, body) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(body.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_cksum();
        tar.append_data(&mut header, path, body.as_bytes()).unwrap();
    }
    let raw = tar.into_inner().unwrap();
    let mut gz = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), flate2::Compression::default());
    gz.write_all(&raw).unwrap();
    gz.finish().unwrap()
}

/// The demo lab's chart (`fixtures/lab/charts/demo-app`) as a deterministic archive: its
/// image comes from a helper template, its sidecar's image is handed to it as a flag.
pub fn lab_chart_tgz() -> Vec<u8> {
    let dir = super::repo_root().join("fixtures/lab/charts/demo-app");
    let mut files = Vec::new();
    for e in walkdir::WalkDir::new(&dir).sort_by_file_name() {
        let e = e.unwrap();
        if e.file_type().is_file() {
            let rel = e
                .path()
                .strip_prefix(&dir)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            files.push((
                format!("demo-app/{rel}"),
                fs::read_to_string(e.path()).unwrap(),
            ));
        }
    }
    tgz_of(&files)
}

/// Pushes the lab chart's two images to `registry` as `lab/web:1.0` (the fixture pause
/// image) and `lab/side:2.0` (the fixture busybox).
pub fn push_lab_chart_images(registry: &super::registry::Registry) {
    let layout = super::registry::fixture_layout();
    super::registry::skopeo_push(
        &format!("oci:{}:mirrored-pause:3.6", layout.display()),
        registry,
        "lab/web:1.0",
        false,
    );
    let busybox = super::repo_root().join("fixtures/images/busybox.docker.tar");
    super::registry::skopeo_push(
        &format!(
            "docker-archive:{}:rancher/mirrored-library-busybox:1.36.1",
            busybox.display()
        ),
        registry,
        "lab/side:2.0",
        false,
    );
}

/// Values for the lab chart naming its two images in the registry at `host`
/// ([`push_lab_chart_images`]): the app's through `global.imageRegistry`, the sidecar's
/// through its own `registry`.
pub fn lab_chart_values(host: &str) -> String {
    format!(
        "global:\n  imageRegistry: \"{host}\"\nimage:\n  repository: lab/web\n  tag: \"1.0\"\nsidecar:\n  registry: \"{host}\"\n  repository: lab/side\n  tag: \"2.0\"\n"
    )
}

/// The values of the test chart.
pub const VALUES: &str = "replicaCount: 1\nimage:\n  repository: rancher/mirrored-pause\n  tag: \"3.6\"\npersistence:\n  enabled: false\n  storageClass: \"\"\npodAnnotations: {}\n";

/// Pushes `blob` to `repo` on `registry` with curl (the distribution API by hand): the
/// upload's POST, then its PUT with the digest.
pub fn push_blob(registry: &super::registry::Registry, repo: &str, blob: &[u8]) -> String {
    let digest = format!("sha256:{}", super::sha256_bytes(blob));
    let started = std::process::Command::new("curl")
        .args(["-sS", "-i", "-X", "POST"])
        .arg(format!("{}/v2/{repo}/blobs/uploads/", registry.url()))
        .output()
        .unwrap();
    let head = String::from_utf8_lossy(&started.stdout).to_string();
    let location = head
        .lines()
        .find_map(|l| {
            l.split_once(':')
                .filter(|(k, _)| k.eq_ignore_ascii_case("location"))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| panic!("no upload location: {head}"));
    let location = if location.starts_with('/') {
        format!("{}{location}", registry.url())
    } else {
        location
    };
    let sep = if location.contains('?') { '&' } else { '?' };
    let file = tempfile::NamedTempFile::new().unwrap();
    fs::write(file.path(), blob).unwrap();
    let put = std::process::Command::new("curl")
        .args([
            "-sS",
            "-f",
            "-X",
            "PUT",
            "-H",
            "Content-Type: application/octet-stream",
        ])
        .arg("--data-binary")
        .arg(format!("@{}", file.path().display()))
        .arg(format!("{location}{sep}digest={digest}"))
        .status()
        .unwrap();
    assert!(put.success(), "blob upload failed");
    digest
}

/// Pushes `tgz` as Helm pushes a chart: a config blob, the chart layer and an OCI manifest
/// tagged with the version.
pub fn push_chart(registry: &super::registry::Registry, repo: &str, tag: &str, tgz: &[u8]) {
    let config = br#"{"name":"demo-app","version":"1.2.3","apiVersion":"v2"}"#;
    let config_digest = push_blob(registry, repo, config);
    let layer_digest = push_blob(registry, repo, tgz);
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.cncf.helm.config.v1+json",
            "digest": config_digest,
            "size": config.len()
        },
        "layers": [{
            "mediaType": "application/vnd.cncf.helm.chart.content.v1.tar+gzip",
            "digest": layer_digest,
            "size": tgz.len()
        }]
    });
    let file = tempfile::NamedTempFile::new().unwrap();
    fs::write(file.path(), serde_json::to_vec(&manifest).unwrap()).unwrap();
    let put = std::process::Command::new("curl")
        .args(["-sS", "-f", "-X", "PUT", "-H"])
        .arg("Content-Type: application/vnd.oci.image.manifest.v1+json")
        .arg("--data-binary")
        .arg(format!("@{}", file.path().display()))
        .arg(format!("{}/v2/{repo}/manifests/{tag}", registry.url()))
        .status()
        .unwrap();
    assert!(put.success(), "manifest upload failed");
}
