//! CycloneDX 1.6 JSON (`OUT/sbom/sbom.cdx.json`).
//!
//! Components: an image (`container`) with its platform manifests nested in it, a bundle
//! (`file`) with its .debs (`library`) nested in it, a chart (`application`), a `files:`
//! entry, any other carried file, an airgap archive and an ISO (`file`). An element
//! carried by several archives or ISOs (an image is in every architecture's archive, the
//! payload in every seed) cannot be nested in each: what an archive or ISO carries is
//! given by `dependencies` (the medium depends on what it carries) and `compositions`
//! (each of them an assembly whose list is `complete`). `serialNumber` is `urn:uuid:` and
//! a UUID from the inventory's SHA-256, `metadata.timestamp` the source date.

use super::{ContainerKind, Inventory, deb_purl, download_url, oci_purl, rfc3339, to_bytes};
use serde_json::{Value, json};

fn hashes(sha256: &str) -> Value {
    let hex = sha256.strip_prefix("sha256:").unwrap_or(sha256);
    json!([{"alg": "SHA-256", "content": hex}])
}

fn property(name: &str, value: impl Into<String>) -> Value {
    json!({"name": format!("seedforge:{name}"), "value": value.into()})
}

/// The `bom-ref` of the element an ISO or archive names: `image:NAME` for an image, the
/// path in the output for any other.
fn element_ref(inv: &Inventory, key: &str) -> Option<String> {
    if inv.images.iter().any(|i| i.name == key) {
        return Some(format!("image:{key}"));
    }
    inv.paths().contains(&key).then(|| key.to_string())
}

/// The document's bytes.
pub fn cyclonedx(inv: &Inventory) -> Vec<u8> {
    to_bytes(&document(inv))
}

/// The document.
pub fn document(inv: &Inventory) -> Value {
    let uuid = super::uuid_from(&inv.digest("cyclonedx-1.6"));
    let mut components: Vec<Value> = Vec::new();
    let mut assemblies: Vec<String> = Vec::new();
    for i in &inv.images {
        let bom_ref = format!("image:{}", i.name);
        let nested: Vec<Value> = (i.manifests.iter())
            .filter(|m| m.digest != i.digest)
            .map(|m| {
                let mut props = Vec::new();
                for (k, v) in [("os", &m.os), ("architecture", &m.architecture), ("variant", &m.variant)] {
                    if let Some(v) = v {
                        props.push(property(k, v.as_str()));
                    }
                }
                json!({
                    "type": "container",
                    "bom-ref": format!("{bom_ref}@{}", m.digest),
                    "name": i.repository,
                    "version": m.digest,
                    "hashes": hashes(&m.digest),
                    "purl": oci_purl(&i.repository, &m.digest, i.tag.as_deref(), m.architecture.as_deref()),
                    "properties": props,
                })
            })
            .collect();
        let mut c = json!({
            "type": "container",
            "bom-ref": bom_ref,
            "name": i.repository,
            "version": i.tag.clone().unwrap_or_else(|| i.digest.clone()),
            "hashes": hashes(&i.digest),
            "purl": oci_purl(&i.repository, &i.digest, i.tag.as_deref(), None),
            "properties": [property("image", i.name.as_str()), property("digest", i.digest.as_str()), property("source", i.source.as_str())],
        });
        if !nested.is_empty() {
            c["components"] = json!(nested);
            assemblies.push(bom_ref);
        }
        components.push(c);
    }
    for b in &inv.debs {
        let debs: Vec<Value> = (b.debs.iter())
            .map(|d| {
                json!({
                    "type": "library",
                    "bom-ref": format!("{}#{}", b.path, d.filename),
                    "name": d.name,
                    "version": d.version,
                    "hashes": hashes(&d.sha256),
                    "purl": deb_purl(&d.name, &d.version, &d.arch),
                    "properties": [property("architecture", d.arch.as_str()), property("filename", d.filename.as_str())],
                })
            })
            .collect();
        components.push(json!({
            "type": "file",
            "bom-ref": b.path,
            "name": b.path,
            "description": format!("package bundle {}: a flat apt repository and install.sh", b.name),
            "hashes": hashes(&b.sha256),
            "components": debs,
        }));
        assemblies.push(b.path.clone());
    }
    for c in &inv.charts {
        let mut v = json!({
            "type": "application",
            "bom-ref": c.path,
            "name": c.chart,
            "version": c.version,
            "description": format!("the Helm chart of charts[].name {}", c.name),
            "hashes": hashes(&c.sha256),
            "properties": [property("path", c.path.as_str()), property("origin", c.origin.as_str())],
        });
        if let Some(url) = download_url(&c.origin) {
            v["externalReferences"] = json!([{"type": "distribution", "url": url}]);
        }
        components.push(v);
    }
    for f in &inv.files {
        let mut v = json!({
            "type": "file",
            "bom-ref": f.path,
            "name": f.name,
            "hashes": hashes(&f.sha256),
            "properties": [property("path", f.path.as_str()), property("source", f.source.as_str()), property("executable", f.executable.to_string())],
        });
        if let Some(url) = download_url(&f.source) {
            v["externalReferences"] = json!([{"type": "distribution", "url": url}]);
        }
        components.push(v);
    }
    for o in &inv.others {
        components.push(json!({
            "type": "file",
            "bom-ref": o.path,
            "name": o.path,
            "hashes": hashes(&o.sha256),
        }));
    }
    let mut dependencies: Vec<Value> = Vec::new();
    for c in &inv.containers {
        components.push(json!({
            "type": "file",
            "bom-ref": c.path,
            "name": c.path,
            "description": match c.kind {
                ContainerKind::Airgap => "a k3s airgap image archive",
                ContainerKind::Iso => "an ISO 9660 image a node boots with",
            },
            "hashes": hashes(&c.sha256),
        }));
        let mut carried: Vec<String> = (c.contains.iter())
            .filter_map(|k| element_ref(inv, k))
            .collect();
        carried.sort();
        carried.dedup();
        dependencies.push(json!({"ref": c.path, "dependsOn": carried}));
        assemblies.push(c.path.clone());
    }
    components.sort_by(|a, b| a["bom-ref"].as_str().cmp(&b["bom-ref"].as_str()));
    assemblies.sort();
    let mut bom = json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "serialNumber": format!("urn:uuid:{uuid}"),
        "version": 1,
        "metadata": {
            "timestamp": rfc3339(inv.created),
            "tools": {"components": [{
                "type": "application",
                "name": "seedforge",
                "version": inv.tool_version,
            }]},
            "component": {
                "type": "application",
                "bom-ref": "build",
                "name": inv.name,
                "description": format!("the offline media seedforge built for the k3s cluster {}", inv.name),
            },
            "properties": [property("scanned", "false")],
        },
        "components": components,
    });
    if !dependencies.is_empty() {
        bom["dependencies"] = json!(dependencies);
    }
    if !assemblies.is_empty() {
        bom["compositions"] = json!([{"aggregate": "complete", "assemblies": assemblies}]);
    }
    bom
}
