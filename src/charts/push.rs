//! Pushing the build's charts into a registry as OCI artifacts, as `helm push` lays them
//! out (a `application/vnd.cncf.helm.config.v1+json` config holding Chart.yaml's fields,
//! one `application/vnd.cncf.helm.chart.content.v1.tar+gzip` layer: the archive, bytes
//! unchanged), at `REGISTRY/charts/NAME:VERSION` (`+` written `_`), for clusters that
//! install with Helm directly (`helm install oci://REGISTRY/charts/NAME --version V`).

use super::ChartError;
use super::fetch::{HELM_CHART_CONFIG, HELM_CHART_LAYER, oci_tag};
use crate::oci::Digest;
use crate::oci::registry::Registries;
use serde::Serialize;
use std::path::Path;

/// One chart pushed.
#[derive(Debug, Clone, Serialize)]
pub struct PushedChart {
    /// `REGISTRY/charts/NAME:TAG`.
    pub target: String,
    /// The manifest's digest.
    pub digest: Digest,
    /// The archive's digest (the layer).
    pub chart: Digest,
}

/// Pushes every `*.tgz` of `dir` (a build's `OUT/charts`) into `registry`, in name order.
pub fn push_charts(
    dir: &Path,
    registries: &Registries,
    registry: &str,
) -> Result<Vec<PushedChart>, ChartError> {
    let mut archives: Vec<_> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "tgz") && p.is_file())
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(ChartError::Invalid(format!("{}: {e}", dir.display()))),
    };
    archives.sort();
    let mut pushed = Vec::new();
    for path in archives {
        pushed.push(push_one(&path, registries, registry)?);
    }
    Ok(pushed)
}

fn push_one(
    path: &Path,
    registries: &Registries,
    registry: &str,
) -> Result<PushedChart, ChartError> {
    let shown = path.display().to_string();
    let fail = |message: String| ChartError::Fetch {
        chart: shown.clone(),
        message,
    };
    let bytes =
        crate::input::read_found(path, crate::input::Kind::Chart).map_err(|e| fail(e.reason()))?;
    let files = super::values::chart_files(&shown, &bytes)?;
    let chart_yaml = (files.chart_yaml.as_deref())
        .ok_or_else(|| fail("the archive has no Chart.yaml".into()))?;
    let meta: serde_json::Value =
        serde_saphyr::from_str(chart_yaml).map_err(|e| fail(format!("Chart.yaml: {e}")))?;
    let text = |k: &str| meta.get(k).and_then(|v| v.as_str()).map(str::to_string);
    let (Some(name), Some(version)) = (text("name"), text("version")) else {
        return Err(fail("Chart.yaml has no name or version".into()));
    };
    let repo = format!("charts/{name}");
    let tag = oci_tag(&version);
    let target = format!("{registry}/{repo}:{tag}");
    let config = serde_json::to_vec(&meta).map_err(|e| fail(e.to_string()))?;
    let (config_digest, chart_digest) = (Digest::of(&config), Digest::of(&bytes));
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": crate::oci::descriptor::OCI_MANIFEST,
        "config": {"mediaType": HELM_CHART_CONFIG, "digest": config_digest, "size": config.len()},
        "layers": [{"mediaType": HELM_CHART_LAYER, "digest": chart_digest, "size": bytes.len()}],
    });
    let manifest = serde_json::to_vec(&manifest).map_err(|e| fail(e.to_string()))?;
    let registry_error = |e: crate::oci::registry::RegistryError| {
        if e.is_transient() {
            return ChartError::Unreachable {
                chart: shown.clone(),
                message: e.to_string(),
            };
        }
        fail(e.to_string())
    };
    let client = registries
        .repository_client(registry, &repo, &target)
        .map_err(registry_error)?;
    let runtime = registries.runtime().map_err(registry_error)?;
    runtime
        .block_on(async {
            let reference = client.reference(&repo, &tag);
            for (blob, digest) in [(&config, &config_digest), (&bytes, &chart_digest)] {
                let digest = digest.to_string();
                let body = bytes::Bytes::from(blob.clone());
                client
                    .retry_oci(&target, &format!("upload of blob {digest}"), || {
                        client.oci().push_blob(&reference, body.clone(), &digest)
                    })
                    .await?;
            }
            let content_type =
                reqwest::header::HeaderValue::from_static(crate::oci::descriptor::OCI_MANIFEST);
            let body = bytes::Bytes::from(manifest.clone());
            client
                .retry_oci(&target, "PUT manifest", || {
                    client
                        .oci()
                        .push_manifest_raw(&reference, body.clone(), content_type.clone())
                })
                .await
        })
        .map_err(registry_error)?;
    Ok(PushedChart {
        target,
        digest: Digest::of(&manifest),
        chart: chart_digest,
    })
}
