//! The images Tigera's operator pulls for Calico (`tigera-operator`, the chart Calico ships):
//! the chart names none of them; it renders an `Installation` (and an `APIServer`, a
//! `Goldmane`, a `Whisker`) of `operator.tigera.io/v1`, and the operator deploys Calico's
//! components from the Calico release its own version carries, each image put together as
//! its `GetReference` does: `REGISTRY/PATH/PREFIXNAME:VERSION`, the registry, path and
//! prefix the `Installation`'s `spec.registry`, `spec.imagePath` and `spec.imagePrefix`
//! (empty or `UseDefault`: the release's default registry, path `calico`), the version the
//! release's (`-fips` after it with `spec.fipsMode: Enabled`, for the components built
//! so). The operator's version is the tag of the chart's `tigera/operator` container.
//!
//! What each resource makes the operator deploy, and what switches a component off, as its
//! controllers and renderers decide (tigera/operator's `pkg/controller/installation` and
//! `pkg/render` at the tags of [`RELEASES`]):
//! - `Installation`: `calico/node`, `calico/typha` and `calico/kube-controllers` always;
//!   `calico/cni` unless `spec.cni.type` names another plugin (or, unset, the
//!   `kubernetesProvider` is AKS, EKS or GKE, whose own plugins the operator takes);
//!   `calico/pod2daemon-flexvol` unless `spec.flexVolumePath: None`; `calico/csi` and
//!   `calico/node-driver-registrar` unless `spec.kubeletVolumePluginPath: None`;
//!   `calico/key-cert-provisioner` with `spec.certificateManagement`;
//! - `APIServer`: `calico/apiserver`; `Goldmane`: `calico/goldmane`; `Whisker`:
//!   `calico/whisker` and `calico/whisker-backend`; `GatewayAPI`: `calico/envoy-gateway`,
//!   `calico/envoy-proxy` and `calico/envoy-ratelimit`; `ManagementClusterConnection`:
//!   `calico/guardian` (the last four from operator 1.38 on, Calico 3.30).
//!
//! An operator version the table does not know, a chart without the operator's container,
//! a resource without the `Installation` it takes its registry from, or another product
//! variant (`spec.variant: TigeraSecureEnterprise`) is said in a note, never guessed.

use serde_json::Value;

/// The API group of the operator's resources.
pub const GROUP: &str = "operator.tigera.io";

/// One line per release of the operator Calico's chart installs (the even minors, each
/// Calico minor's operator line; the odd ones are Calico Enterprise's): the operator's
/// tag, the Calico release it deploys (`title` of its `config/calico_versions.yml`, the
/// version of every Calico component in it) and its default registry for Calico's images
/// (`CalicoRegistry` of `pkg/components/images.go` at the same tag: `docker.io` up to
/// v1.38.6, `quay.io` from v1.38.7 on), then the source read.
const RELEASES: &str = "\
v1.36.0 v3.29.0 docker.io https://github.com/tigera/operator/blob/v1.36.0/config/calico_versions.yml
v1.36.1 v3.29.0 docker.io https://github.com/tigera/operator/blob/v1.36.1/config/calico_versions.yml
v1.36.2 v3.29.1 docker.io https://github.com/tigera/operator/blob/v1.36.2/config/calico_versions.yml
v1.36.3 v3.29.1 docker.io https://github.com/tigera/operator/blob/v1.36.3/config/calico_versions.yml
v1.36.4 v3.29.1 docker.io https://github.com/tigera/operator/blob/v1.36.4/config/calico_versions.yml
v1.36.5 v3.29.2 docker.io https://github.com/tigera/operator/blob/v1.36.5/config/calico_versions.yml
v1.36.6 v3.29.2 docker.io https://github.com/tigera/operator/blob/v1.36.6/config/calico_versions.yml
v1.36.7 v3.29.3 docker.io https://github.com/tigera/operator/blob/v1.36.7/config/calico_versions.yml
v1.36.8 v3.29.3 docker.io https://github.com/tigera/operator/blob/v1.36.8/config/calico_versions.yml
v1.36.9 v3.29.4 docker.io https://github.com/tigera/operator/blob/v1.36.9/config/calico_versions.yml
v1.36.10 v3.29.4 docker.io https://github.com/tigera/operator/blob/v1.36.10/config/calico_versions.yml
v1.36.11 v3.29.4 docker.io https://github.com/tigera/operator/blob/v1.36.11/config/calico_versions.yml
v1.36.12 v3.29.5 docker.io https://github.com/tigera/operator/blob/v1.36.12/config/calico_versions.yml
v1.36.13 v3.29.5 docker.io https://github.com/tigera/operator/blob/v1.36.13/config/calico_versions.yml
v1.36.14 v3.29.6 docker.io https://github.com/tigera/operator/blob/v1.36.14/config/calico_versions.yml
v1.36.15 v3.29.6 docker.io https://github.com/tigera/operator/blob/v1.36.15/config/calico_versions.yml
v1.36.16 v3.29.7 docker.io https://github.com/tigera/operator/blob/v1.36.16/config/calico_versions.yml
v1.38.0 v3.30.0 docker.io https://github.com/tigera/operator/blob/v1.38.0/config/calico_versions.yml
v1.38.1 v3.30.1 docker.io https://github.com/tigera/operator/blob/v1.38.1/config/calico_versions.yml
v1.38.2 v3.30.1 docker.io https://github.com/tigera/operator/blob/v1.38.2/config/calico_versions.yml
v1.38.3 v3.30.2 docker.io https://github.com/tigera/operator/blob/v1.38.3/config/calico_versions.yml
v1.38.4 v3.30.2 docker.io https://github.com/tigera/operator/blob/v1.38.4/config/calico_versions.yml
v1.38.5 v3.30.2 docker.io https://github.com/tigera/operator/blob/v1.38.5/config/calico_versions.yml
v1.38.6 v3.30.3 docker.io https://github.com/tigera/operator/blob/v1.38.6/config/calico_versions.yml
v1.38.7 v3.30.4 quay.io https://github.com/tigera/operator/blob/v1.38.7/config/calico_versions.yml
v1.38.8 v3.30.4 quay.io https://github.com/tigera/operator/blob/v1.38.8/config/calico_versions.yml
v1.38.9 v3.30.5 quay.io https://github.com/tigera/operator/blob/v1.38.9/config/calico_versions.yml
v1.38.10 v3.30.5 quay.io https://github.com/tigera/operator/blob/v1.38.10/config/calico_versions.yml
v1.38.11 v3.30.6 quay.io https://github.com/tigera/operator/blob/v1.38.11/config/calico_versions.yml
v1.38.12 v3.30.6 quay.io https://github.com/tigera/operator/blob/v1.38.12/config/calico_versions.yml
v1.38.13 v3.30.7 quay.io https://github.com/tigera/operator/blob/v1.38.13/config/calico_versions.yml
v1.38.14 v3.30.7 quay.io https://github.com/tigera/operator/blob/v1.38.14/config/calico_versions.yml
v1.38.15 v3.30.7 quay.io https://github.com/tigera/operator/blob/v1.38.15/config/calico_versions.yml
v1.38.16 v3.30.7 quay.io https://github.com/tigera/operator/blob/v1.38.16/config/calico_versions.yml
v1.40.0 v3.31.0 quay.io https://github.com/tigera/operator/blob/v1.40.0/config/calico_versions.yml
v1.40.1 v3.31.1 quay.io https://github.com/tigera/operator/blob/v1.40.1/config/calico_versions.yml
v1.40.2 v3.31.2 quay.io https://github.com/tigera/operator/blob/v1.40.2/config/calico_versions.yml
v1.40.3 v3.31.3 quay.io https://github.com/tigera/operator/blob/v1.40.3/config/calico_versions.yml
v1.40.4 v3.31.3 quay.io https://github.com/tigera/operator/blob/v1.40.4/config/calico_versions.yml
v1.40.5 v3.31.3 quay.io https://github.com/tigera/operator/blob/v1.40.5/config/calico_versions.yml
v1.40.6 v3.31.3 quay.io https://github.com/tigera/operator/blob/v1.40.6/config/calico_versions.yml
v1.40.7 v3.31.4 quay.io https://github.com/tigera/operator/blob/v1.40.7/config/calico_versions.yml
v1.40.8 v3.31.5 quay.io https://github.com/tigera/operator/blob/v1.40.8/config/calico_versions.yml
v1.40.9 v3.31.5 quay.io https://github.com/tigera/operator/blob/v1.40.9/config/calico_versions.yml
v1.40.10 v3.31.5 quay.io https://github.com/tigera/operator/blob/v1.40.10/config/calico_versions.yml
v1.40.11 v3.31.5 quay.io https://github.com/tigera/operator/blob/v1.40.11/config/calico_versions.yml
v1.40.12 v3.31.5 quay.io https://github.com/tigera/operator/blob/v1.40.12/config/calico_versions.yml
v1.40.13 v3.31.6 quay.io https://github.com/tigera/operator/blob/v1.40.13/config/calico_versions.yml
v1.40.14 v3.31.6 quay.io https://github.com/tigera/operator/blob/v1.40.14/config/calico_versions.yml
v1.40.15 v3.31.7 quay.io https://github.com/tigera/operator/blob/v1.40.15/config/calico_versions.yml
v1.42.0 v3.32.0 quay.io https://github.com/tigera/operator/blob/v1.42.0/config/calico_versions.yml
v1.42.1 v3.32.0 quay.io https://github.com/tigera/operator/blob/v1.42.1/config/calico_versions.yml
v1.42.2 v3.32.0 quay.io https://github.com/tigera/operator/blob/v1.42.2/config/calico_versions.yml
v1.42.3 v3.32.1 quay.io https://github.com/tigera/operator/blob/v1.42.3/config/calico_versions.yml
v1.42.4 v3.32.1 quay.io https://github.com/tigera/operator/blob/v1.42.4/config/calico_versions.yml
";

/// A release of the operator: its version, the Calico release it deploys, its default
/// registry, where that was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Release {
    /// `v1.38.9`.
    pub operator: &'static str,
    /// `v3.30.5`.
    pub calico: &'static str,
    /// `quay.io`.
    pub registry: &'static str,
    /// The operator's file naming the release.
    pub source: &'static str,
}

/// Every release the table knows, oldest first.
pub fn releases() -> impl Iterator<Item = Release> {
    RELEASES.lines().filter_map(|l| {
        let mut w = l.split_whitespace();
        Some(Release {
            operator: w.next()?,
            calico: w.next()?,
            registry: w.next()?,
            source: w.next()?,
        })
    })
}

/// The release of the operator `version` (`v1.38.9`; `1.38.9` too).
pub fn release(version: &str) -> Option<Release> {
    let v = version.strip_prefix('v').unwrap_or(version);
    releases().find(|r| r.operator[1..] == *v)
}

/// The operator's minor (`38` of `v1.38.9`).
fn minor(r: &Release) -> u32 {
    r.operator
        .split('.')
        .nth(1)
        .and_then(|m| m.parse().ok())
        .unwrap_or(0)
}

/// A component: its image under the path, whether a FIPS build of it exists (`-fips`
/// appended to the version), and the operator minor that first deploys it.
struct Component {
    name: &'static str,
    fips: bool,
    since: u32,
}

const fn c(name: &'static str, fips: bool, since: u32) -> Component {
    Component { name, fips, since }
}

/// The components a resource of `kind` makes the operator deploy, with what switches each
/// off in an `Installation`'s spec.
fn components(kind: &str, spec: &Value) -> Vec<Component> {
    let text = |k: &str| spec.get(k).and_then(Value::as_str).unwrap_or("").trim();
    match kind {
        "Installation" => {
            let provider = text("kubernetesProvider");
            let cni = spec
                .get("cni")
                .and_then(|c| c.get("type"))
                .and_then(Value::as_str)
                .unwrap_or("");
            let calico_cni = match cni {
                "" => !["AKS", "EKS", "GKE"].contains(&provider),
                t => t == "Calico",
            };
            let mut out = vec![c("node", true, 0)];
            if calico_cni {
                out.push(c("cni", true, 0));
            }
            out.extend([c("typha", true, 0), c("kube-controllers", true, 0)]);
            if text("flexVolumePath") != "None" {
                out.push(c("pod2daemon-flexvol", false, 0));
            }
            if text("kubeletVolumePluginPath") != "None" {
                out.extend([c("csi", true, 0), c("node-driver-registrar", true, 0)]);
            }
            if spec
                .get("certificateManagement")
                .is_some_and(Value::is_object)
            {
                out.push(c("key-cert-provisioner", false, 0));
            }
            out
        }
        "APIServer" => vec![c("apiserver", true, 0)],
        "Goldmane" => vec![c("goldmane", false, 38)],
        "Whisker" => vec![c("whisker", false, 38), c("whisker-backend", false, 38)],
        "GatewayAPI" => vec![
            c("envoy-gateway", false, 38),
            c("envoy-proxy", false, 38),
            c("envoy-ratelimit", false, 38),
        ],
        "ManagementClusterConnection" => vec![c("guardian", false, 38)],
        _ => Vec::new(),
    }
}

/// Whether a resource of `kind` makes the operator deploy anything.
pub fn deploys(kind: &str) -> bool {
    kind == "Installation" || !components(kind, &Value::Null).is_empty()
}

/// An image the operator pulls for a resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pulled {
    /// `quay.io/calico/node:v3.30.5`.
    pub written: String,
    /// What it was put together from, as given: the `Installation`'s registry, image path
    /// and prefix when it sets them, and the operator's version.
    pub parts: Vec<String>,
    /// How it was found: `spec (tigera/operator v1.38.9 deploys Calico v3.30.5: calico/node)`.
    pub field: String,
}

/// What the operator pulls for a resource, or why that is not known.
pub type Outcome = Result<Vec<Pulled>, String>;

/// A spec's text at `key`, unless empty or `UseDefault`.
fn set<'a>(spec: &'a Value, key: &str) -> Option<&'a str> {
    spec.get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty() && *s != "UseDefault")
}

/// The images the operator of version `operator` (the tag of the chart's `tigera/operator`
/// container; none when the chart has none) pulls for a resource of `kind` with `spec`,
/// its registry, path and prefix those of `installation`'s spec (the resource's own when
/// it is the `Installation`).
pub fn pulled(operator: Option<&str>, kind: &str, spec: &Value, installation: &Value) -> Outcome {
    let Some(version) = operator else {
        return Err("the chart has no tigera/operator container naming the operator's version, so the Calico release it deploys is not known".into());
    };
    let Some(release) = release(version) else {
        let all: Vec<Release> = releases().collect();
        let (first, last) = (all[0].operator, all[all.len() - 1].operator);
        return Err(format!(
            "tigera/operator {version} is not in seedforge's table of the Calico releases the operator deploys ({first} to {last}, Calico {} to {}), so the images it pulls for Calico are not known",
            all[0].calico,
            all[all.len() - 1].calico
        ));
    };
    if let Some(variant) = set(installation, "variant").filter(|v| *v != "Calico") {
        return Err(format!(
            "the Installation's spec.variant is {variant}: seedforge's table knows the images of Calico's own variant only"
        ));
    }
    let registry = set(installation, "registry");
    let path = set(installation, "imagePath");
    let prefix = set(installation, "imagePrefix");
    let fips = set(installation, "fipsMode") == Some("Enabled");
    let mut given: Vec<String> = [registry, path, prefix]
        .into_iter()
        .flatten()
        .map(str::to_string)
        .collect();
    given.push(version.to_string());
    let mut out = Vec::new();
    for comp in components(kind, spec) {
        if minor(&release) < comp.since {
            continue;
        }
        let version = if fips && comp.fips {
            format!("{}-fips", release.calico)
        } else {
            release.calico.to_string()
        };
        let written = format!(
            "{}/{}/{}{}:{version}",
            registry.unwrap_or(release.registry).trim_end_matches('/'),
            path.unwrap_or("calico").trim_matches('/'),
            prefix.unwrap_or(""),
            comp.name,
        );
        out.push(Pulled {
            written,
            parts: given.clone(),
            field: format!(
                "spec (tigera/operator {} deploys Calico {}: calico/{})",
                release.operator, release.calico, comp.name
            ),
        });
    }
    Ok(out)
}

/// The operator's version: the tag of a container image whose repository is (or ends
/// with) `tigera/operator`.
pub fn operator_version<'a>(
    images: impl IntoIterator<Item = &'a crate::image::Reference>,
) -> Option<String> {
    images
        .into_iter()
        .find(|r| {
            let repo = r.repository();
            repo == "tigera/operator" || repo.ends_with("/tigera/operator")
        })
        .and_then(|r| r.tag().map(str::to_string))
}

#[cfg(test)]
mod tests;
