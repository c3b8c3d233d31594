//! SPDX 2.3 JSON (`OUT/sbom/sbom.spdx.json`).
//!
//! Every element is a package (`filesAnalyzed: false`): an image (purpose `CONTAINER`)
//! and each of its platform manifests, a bundle (`ARCHIVE`) and each .deb (`LIBRARY`), a
//! chart (`APPLICATION`), a `files:` entry and any other carried file (`FILE`), an airgap
//! archive (`ARCHIVE`) and an ISO (`FILE`). The document `DESCRIBES` every element that
//! nothing else contains; `CONTAINS` says what carries what. `documentNamespace` is
//! `urn:uuid:` and a UUID from the inventory's SHA-256, `created` the source date.

use super::{ContainerKind, Inventory, deb_purl, download_url, oci_purl, rfc3339, to_bytes};
use serde_json::{Value, json};
use std::collections::BTreeSet;

/// The SPDX identifier of the element `key`: its kind, the key with every character SPDX
/// refuses in an identifier made `-`, and 8 hex digits of the key's SHA-256 (so that two
/// keys differing only in such characters stay apart).
fn spdx_id(kind: &str, key: &str) -> String {
    let clean: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let hash = crate::hashing::sha256_hex(key.as_bytes());
    format!("SPDXRef-{kind}-{clean}-{}", &hash[..8])
}

/// The identifier of the element an ISO or archive may name: an image by its name, any
/// other by its path in the output.
pub(crate) fn element_id(inv: &Inventory, key: &str) -> Option<String> {
    if inv.images.iter().any(|i| i.name == key) {
        return Some(spdx_id("Image", key));
    }
    if inv.debs.iter().any(|b| b.path == key) {
        return Some(spdx_id("Bundle", key));
    }
    if inv.charts.iter().any(|c| c.path == key) {
        return Some(spdx_id("Chart", key));
    }
    if inv.files.iter().any(|f| f.path == key) {
        return Some(spdx_id("File", key));
    }
    if inv.others.iter().any(|o| o.path == key) {
        return Some(spdx_id("File", key));
    }
    inv.containers
        .iter()
        .find(|c| c.path == key)
        .map(|c| spdx_id(container_kind(c.kind), key))
}

/// `url` as a `downloadLocation`, when SPDX's tools take it: their pattern wants a host
/// name with a dot followed by letters (`host.example`), so a URL naming an IP address (a
/// mirror on the local network) or a single-label host stays `NOASSERTION` and is given
/// in `sourceInfo` only.
fn download_location(source: &str) -> Option<String> {
    let url = download_url(source)?;
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = match authority.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => authority,
    };
    let plain = host
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    let lettered = host
        .split('.')
        .skip(1)
        .any(|label| label.len() >= 2 && label.bytes().take(2).all(|b| b.is_ascii_alphabetic()));
    (plain && lettered).then_some(url)
}

fn container_kind(kind: ContainerKind) -> &'static str {
    match kind {
        ContainerKind::Airgap => "Airgap",
        ContainerKind::Iso => "Iso",
    }
}

fn checksums(sha256: &str) -> Value {
    let hex = sha256.strip_prefix("sha256:").unwrap_or(sha256);
    json!([{"algorithm": "SHA256", "checksumValue": hex}])
}

fn purl_ref(purl: String) -> Value {
    json!([{
        "referenceCategory": "PACKAGE-MANAGER",
        "referenceType": "purl",
        "referenceLocator": purl,
    }])
}

/// One package: the fields every element has, and `extra`.
fn package(id: &str, name: &str, purpose: &str, sha256: &str, extra: Value) -> Value {
    let mut p = json!({
        "SPDXID": id,
        "name": name,
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": false,
        "checksums": checksums(sha256),
        "primaryPackagePurpose": purpose,
    });
    if let (Some(p), Value::Object(extra)) = (p.as_object_mut(), extra) {
        p.extend(extra);
    }
    p
}

/// The document's bytes.
pub fn spdx(inv: &Inventory) -> Vec<u8> {
    to_bytes(&document(inv))
}

/// The document.
pub fn document(inv: &Inventory) -> Value {
    let uuid = super::uuid_from(&inv.digest("spdx-2.3"));
    let mut packages: Vec<Value> = Vec::new();
    // (element, relationship, related)
    let mut relations: BTreeSet<(String, &str, String)> = BTreeSet::new();
    let mut contained: BTreeSet<String> = BTreeSet::new();
    let mut all: Vec<String> = Vec::new();
    let mut contains = |parent: &str, child: String, contained: &mut BTreeSet<String>| {
        contained.insert(child.clone());
        relations.insert((parent.to_string(), "CONTAINS", child));
    };
    for i in &inv.images {
        let id = spdx_id("Image", &i.name);
        packages.push(package(
            &id,
            &i.repository,
            "CONTAINER",
            &i.digest,
            json!({
                "versionInfo": i.tag.clone().unwrap_or_else(|| i.digest.clone()),
                "sourceInfo": format!("copied from {}", i.source),
                "externalRefs": purl_ref(oci_purl(&i.repository, &i.digest, i.tag.as_deref(), None)),
            }),
        ));
        for m in &i.manifests {
            if m.digest == i.digest {
                continue;
            }
            let mid = spdx_id("Manifest", &format!("{}@{}", i.name, m.digest));
            let platform: Vec<&str> = [&m.os, &m.architecture, &m.variant]
                .into_iter()
                .flatten()
                .map(String::as_str)
                .collect();
            packages.push(package(
                &mid,
                &i.repository,
                "CONTAINER",
                &m.digest,
                json!({
                    "versionInfo": m.digest,
                    "comment": format!("the {} manifest of {}", platform.join("/"), i.name),
                    "externalRefs": purl_ref(oci_purl(&i.repository, &m.digest, i.tag.as_deref(), m.architecture.as_deref())),
                }),
            ));
            all.push(mid.clone());
            contains(&id, mid, &mut contained);
        }
        all.push(id);
    }
    for b in &inv.debs {
        let id = spdx_id("Bundle", &b.path);
        packages.push(package(
            &id,
            &b.name,
            "ARCHIVE",
            &b.sha256,
            json!({
                "packageFileName": b.path,
                "comment": "an offline package bundle: a flat apt repository and install.sh",
            }),
        ));
        for d in &b.debs {
            let did = spdx_id("Deb", &format!("{}#{}", b.path, d.filename));
            packages.push(package(
                &did,
                &d.name,
                "LIBRARY",
                &d.sha256,
                json!({
                    "versionInfo": d.version,
                    "packageFileName": d.filename,
                    "externalRefs": purl_ref(deb_purl(&d.name, &d.version, &d.arch)),
                }),
            ));
            all.push(did.clone());
            contains(&id, did, &mut contained);
        }
        all.push(id);
    }
    for c in &inv.charts {
        let id = spdx_id("Chart", &c.path);
        let mut extra = json!({
            "versionInfo": c.version,
            "packageFileName": c.path,
            "sourceInfo": format!("chart {} from {}", c.chart, c.origin),
            "comment": format!("the Helm chart of charts[].name {}", c.name),
        });
        if let Some(url) = download_location(&c.origin) {
            extra["downloadLocation"] = json!(url);
        }
        packages.push(package(&id, &c.chart, "APPLICATION", &c.sha256, extra));
        all.push(id);
    }
    for f in &inv.files {
        let id = spdx_id("File", &f.path);
        let mut extra = json!({
            "packageFileName": f.path,
            "sourceInfo": format!("from {}", f.source),
        });
        if let Some(url) = download_location(&f.source) {
            extra["downloadLocation"] = json!(url);
        }
        packages.push(package(&id, &f.name, "FILE", &f.sha256, extra));
        all.push(id);
    }
    for o in &inv.others {
        let id = spdx_id("File", &o.path);
        packages.push(package(
            &id,
            &o.path,
            "FILE",
            &o.sha256,
            json!({"packageFileName": o.path}),
        ));
        all.push(id);
    }
    for c in &inv.containers {
        let id = spdx_id(container_kind(c.kind), &c.path);
        let (purpose, what) = match c.kind {
            ContainerKind::Airgap => ("ARCHIVE", "a k3s airgap image archive"),
            ContainerKind::Iso => ("FILE", "an ISO 9660 image a node boots with"),
        };
        packages.push(package(
            &id,
            &c.path,
            purpose,
            &c.sha256,
            json!({"packageFileName": c.path, "comment": what}),
        ));
        for key in &c.contains {
            if let Some(child) = element_id(inv, key) {
                contains(&id, child, &mut contained);
            }
        }
        all.push(id);
    }
    for id in all.iter().filter(|id| !contained.contains(*id)) {
        relations.insert(("SPDXRef-DOCUMENT".to_string(), "DESCRIBES", id.clone()));
    }
    packages.sort_by(|a, b| a["SPDXID"].as_str().cmp(&b["SPDXID"].as_str()));
    let relationships: Vec<Value> = relations
        .into_iter()
        .map(
            |(a, r, b)| json!({"spdxElementId": a, "relationshipType": r, "relatedSpdxElement": b}),
        )
        .collect();
    json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": format!("seedforge build of {}", inv.name),
        "documentNamespace": format!("urn:uuid:{uuid}"),
        "creationInfo": {
            "created": rfc3339(inv.created),
            "creators": [format!("Tool: seedforge-{}", inv.tool_version)],
            "comment": "Written by seedforge from what the build resolved and wrote; no image was scanned.",
        },
        "packages": packages,
        "relationships": relationships,
    })
}
