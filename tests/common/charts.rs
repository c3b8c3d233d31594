//! Helm charts for the tests: a deterministic chart archive and the values it ships.

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

/// The values of the test chart.
pub const VALUES: &str = "replicaCount: 1\nimage:\n  repository: rancher/mirrored-pause\n  tag: \"3.6\"\npersistence:\n  enabled: false\n  storageClass: \"\"\npodAnnotations: {}\n";
