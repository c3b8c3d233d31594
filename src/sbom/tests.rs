use super::provenance::{Dependency, Param, Provenance, Subject, statement};
use super::*;
use serde_json::Value;
use std::collections::BTreeMap;

const SHA_A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const SHA_B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
const SHA_C: &str = "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc";

/// A build of one multi-platform image, one bundle of two .debs, a chart, a `files:`
/// entry from a URL with a password, two archives and a seed.
fn inventory() -> Inventory {
    Inventory {
        name: "lab".into(),
        tool_version: "0.1.0".into(),
        created: 1_700_000_000,
        images: vec![Image {
            name: "docker.io/rancher/mirrored-pause:3.6".into(),
            repository: "docker.io/rancher/mirrored-pause".into(),
            tag: Some("3.6".into()),
            digest: format!("sha256:{SHA_A}"),
            source: without_credentials("docker://me:hunter2hunter2@registry.example/pause:3.6"),
            manifests: vec![
                PlatformManifest {
                    digest: format!("sha256:{SHA_C}"),
                    os: Some("linux".into()),
                    architecture: Some("arm64".into()),
                    variant: Some("v8".into()),
                },
                PlatformManifest {
                    digest: format!("sha256:{SHA_B}"),
                    os: Some("linux".into()),
                    architecture: Some("amd64".into()),
                    variant: None,
                },
            ],
        }],
        debs: vec![Bundle {
            name: "ops".into(),
            path: "packages/ops.tar.gz".into(),
            sha256: SHA_A.into(),
            debs: vec![
                Deb {
                    name: "libc6".into(),
                    version: "1:2.36-9+deb12u10".into(),
                    arch: "amd64".into(),
                    sha256: SHA_B.into(),
                    filename: "pool/libc6_2.36-9+deb12u10_amd64.deb".into(),
                },
                Deb {
                    name: "jq".into(),
                    version: "1.6-2.1".into(),
                    arch: "amd64".into(),
                    sha256: SHA_C.into(),
                    filename: "pool/jq_1.6-2.1_amd64.deb".into(),
                },
            ],
        }],
        charts: vec![Chart {
            name: "demo".into(),
            chart: "demo-app".into(),
            version: "1.2.3".into(),
            path: "charts/demo-1.2.3.tgz".into(),
            sha256: SHA_B.into(),
            origin: without_credentials(
                "https://bot:chartpassword9@charts.example/demo-app-1.2.3.tgz",
            ),
        }],
        files: vec![FileEntry {
            name: "bin/k3s".into(),
            path: "files/bin/k3s".into(),
            sha256: SHA_C.into(),
            source: without_credentials("https://user:s3cretpassw0rd@downloads.example/k3s?x=1"),
            executable: true,
        }],
        others: vec![OutFile {
            path: "pki/ca.crt".into(),
            sha256: SHA_A.into(),
        }],
        containers: vec![
            Container {
                path: "iso/seed-n1.iso".into(),
                sha256: SHA_B.into(),
                kind: ContainerKind::Iso,
                contains: vec![
                    "pki/ca.crt".into(),
                    "files/bin/k3s".into(),
                    "airgap/k3s-airgap-images-amd64.tar".into(),
                    "packages/ops.tar.gz".into(),
                    "charts/demo-1.2.3.tgz".into(),
                ],
            },
            Container {
                path: "airgap/k3s-airgap-images-amd64.tar".into(),
                sha256: SHA_C.into(),
                kind: ContainerKind::Airgap,
                contains: vec!["docker.io/rancher/mirrored-pause:3.6".into()],
            },
        ],
    }
    .sorted()
}

fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap()
}

#[test]
fn purls_follow_the_package_url_spec() {
    assert_eq!(
        oci_purl(
            "docker.io/rancher/Mirrored-Pause",
            &format!("sha256:{SHA_A}"),
            Some("3.6"),
            None
        ),
        format!(
            "pkg:oci/mirrored-pause@sha256:{SHA_A}?repository_url=docker.io/rancher/Mirrored-Pause&tag=3.6"
        )
    );
    assert_eq!(
        oci_purl(
            "192.168.6.1:5000/k3s",
            "sha256:ab",
            Some("v1"),
            Some("amd64")
        ),
        "pkg:oci/k3s@sha256:ab?arch=amd64&repository_url=192.168.6.1:5000/k3s&tag=v1"
    );
    assert_eq!(
        deb_purl("libc6", "1:2.36-9+deb12u10", "amd64"),
        "pkg:deb/debian/libc6@1:2.36-9%2Bdeb12u10?arch=amd64"
    );
}

#[test]
fn credentials_leave_every_url() {
    assert_eq!(
        without_credentials("https://u:p@host.example/a?b=c"),
        "https://host.example/a?b=c"
    );
    assert_eq!(
        without_credentials("docker://TOKEN@registry.example/x:1 and http://a:b@c/d"),
        "docker://registry.example/x:1 and http://c/d"
    );
    assert_eq!(without_credentials("files/local"), "files/local");
    assert!(!without_credentials("me:pass1234@registry/app:1").contains("pass1234"));
}

#[test]
fn spdx_lists_every_element_with_checksums_purls_and_containment() {
    let inv = inventory();
    let doc = json(&spdx::spdx(&inv));
    assert_eq!(doc["spdxVersion"], "SPDX-2.3");
    assert_eq!(doc["creationInfo"]["created"], "2023-11-14T22:13:20Z");
    let ns = doc["documentNamespace"].as_str().unwrap();
    assert!(ns.starts_with("urn:uuid:"), "{ns}");
    let packages = doc["packages"].as_array().unwrap();
    // image + 2 manifests, bundle + 2 debs, chart, file, other, 2 containers
    assert_eq!(packages.len(), 11);
    let purls: Vec<&str> = packages
        .iter()
        .filter_map(|p| p["externalRefs"][0]["referenceLocator"].as_str())
        .collect();
    assert!(
        purls.contains(&"pkg:deb/debian/jq@1.6-2.1?arch=amd64"),
        "{purls:?}"
    );
    assert!(
        purls.contains(
            &format!("pkg:oci/mirrored-pause@sha256:{SHA_B}?arch=amd64&repository_url=docker.io/rancher/mirrored-pause&tag=3.6").as_str()
        ),
        "{purls:?}"
    );
    for p in packages {
        assert_eq!(p["checksums"][0]["algorithm"], "SHA256");
        assert_eq!(
            p["checksums"][0]["checksumValue"].as_str().unwrap().len(),
            64
        );
        let id = p["SPDXID"].as_str().unwrap();
        assert!(
            id.strip_prefix("SPDXRef-")
                .unwrap()
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-'),
            "{id}"
        );
    }
    let rels = doc["relationships"].as_array().unwrap();
    let id_of = |name: &str| -> String {
        packages
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("{name}"))["SPDXID"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let has = |a: &str, r: &str, b: &str| {
        rels.iter().any(|x| {
            x["spdxElementId"] == a && x["relationshipType"] == r && x["relatedSpdxElement"] == b
        })
    };
    let iso = id_of("iso/seed-n1.iso");
    let archive = id_of("airgap/k3s-airgap-images-amd64.tar");
    assert!(has(&iso, "CONTAINS", &archive));
    assert!(has(&iso, "CONTAINS", &id_of("bin/k3s")));
    assert!(has(&iso, "CONTAINS", &id_of("ops")));
    // The image sorts before its manifests, which carry the same name.
    assert!(has(
        &archive,
        "CONTAINS",
        &id_of("docker.io/rancher/mirrored-pause")
    ));
    assert!(has(&id_of("ops"), "CONTAINS", &id_of("jq")));
    assert!(has("SPDXRef-DOCUMENT", "DESCRIBES", &iso));
    // Contained elements are described through their container only.
    assert!(!has("SPDXRef-DOCUMENT", "DESCRIBES", &archive));
    // The chart's URL is a download location, without its credentials.
    let chart = packages.iter().find(|p| p["name"] == "demo-app").unwrap();
    assert_eq!(
        chart["downloadLocation"],
        "https://charts.example/demo-app-1.2.3.tgz"
    );
}

#[test]
fn cyclonedx_nests_what_belongs_to_one_element_and_lists_what_media_carry() {
    let inv = inventory();
    let bom = json(&cyclonedx::cyclonedx(&inv));
    assert_eq!(bom["bomFormat"], "CycloneDX");
    assert_eq!(bom["specVersion"], "1.6");
    let serial = bom["serialNumber"].as_str().unwrap();
    let uuid = serial.strip_prefix("urn:uuid:").unwrap();
    assert_eq!(uuid.len(), 36);
    assert_eq!(&uuid[14..15], "5");
    assert!(matches!(&uuid[19..20], "8" | "9" | "a" | "b"));
    assert_eq!(bom["metadata"]["timestamp"], "2023-11-14T22:13:20Z");
    let components = bom["components"].as_array().unwrap();
    let by_ref = |r: &str| components.iter().find(|c| c["bom-ref"] == r).unwrap();
    let image = by_ref("image:docker.io/rancher/mirrored-pause:3.6");
    assert_eq!(image["type"], "container");
    assert_eq!(image["components"].as_array().unwrap().len(), 2);
    let bundle = by_ref("packages/ops.tar.gz");
    let debs = bundle["components"].as_array().unwrap();
    assert_eq!(debs[0]["name"], "jq");
    assert_eq!(
        debs[1]["purl"],
        "pkg:deb/debian/libc6@1:2.36-9%2Bdeb12u10?arch=amd64"
    );
    assert_eq!(debs[1]["hashes"][0]["alg"], "SHA-256");
    let deps = bom["dependencies"].as_array().unwrap();
    let iso = deps.iter().find(|d| d["ref"] == "iso/seed-n1.iso").unwrap();
    let carried: Vec<&str> = (iso["dependsOn"].as_array().unwrap().iter())
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        carried,
        [
            "airgap/k3s-airgap-images-amd64.tar",
            "charts/demo-1.2.3.tgz",
            "files/bin/k3s",
            "packages/ops.tar.gz",
            "pki/ca.crt"
        ]
    );
    let archive = (deps.iter())
        .find(|d| d["ref"] == "airgap/k3s-airgap-images-amd64.tar")
        .unwrap();
    assert_eq!(
        archive["dependsOn"][0],
        "image:docker.io/rancher/mirrored-pause:3.6"
    );
    // Every reference names a component.
    let mut refs = Vec::new();
    fn collect(v: &Value, refs: &mut Vec<String>) {
        for c in v.as_array().into_iter().flatten() {
            refs.push(c["bom-ref"].as_str().unwrap().to_string());
            collect(&c["components"], refs);
        }
    }
    collect(&bom["components"], &mut refs);
    let before = refs.len();
    refs.sort();
    refs.dedup();
    assert_eq!(refs.len(), before, "bom-refs are unique");
    for d in deps {
        for r in d["dependsOn"].as_array().unwrap() {
            assert!(refs.contains(&r.as_str().unwrap().to_string()), "{r}");
        }
    }
    for a in bom["compositions"][0]["assemblies"].as_array().unwrap() {
        assert!(refs.contains(&a.as_str().unwrap().to_string()), "{a}");
    }
}

#[test]
fn documents_are_reproducible_and_depend_on_their_content_only() {
    let inv = inventory();
    let mut shuffled = inv.clone();
    shuffled.containers.reverse();
    shuffled.debs[0].debs.reverse();
    shuffled.images[0].manifests.reverse();
    let shuffled = shuffled.sorted();
    assert_eq!(spdx::spdx(&inv), spdx::spdx(&shuffled));
    assert_eq!(cyclonedx::cyclonedx(&inv), cyclonedx::cyclonedx(&shuffled));
    let mut other = inv.clone();
    other.files[0].sha256 = SHA_A.into();
    let ns = |i: &Inventory| json(&spdx::spdx(i))["documentNamespace"].clone();
    let serial = |i: &Inventory| json(&cyclonedx::cyclonedx(i))["serialNumber"].clone();
    assert_ne!(ns(&inv), ns(&other));
    assert_ne!(serial(&inv), serial(&other));
    assert_ne!(
        ns(&inv).as_str().unwrap().strip_prefix("urn:uuid:"),
        serial(&inv).as_str().unwrap().strip_prefix("urn:uuid:")
    );
}

#[test]
fn no_secret_reaches_a_document() {
    let inv = inventory();
    for bytes in [spdx::spdx(&inv), cyclonedx::cyclonedx(&inv)] {
        let text = String::from_utf8(bytes).unwrap();
        for secret in [
            "hunter2hunter2",
            "chartpassword9",
            "s3cretpassw0rd",
            "bot:",
            "user:",
        ] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        assert!(!text.contains("/tmp") && !text.contains("/home"), "{text}");
    }
}

fn provenance() -> Provenance {
    Provenance {
        version: "0.1.0".into(),
        commit: "0123456789ab".into(),
        source_date_epoch: Some(1_700_000_000),
        cluster: ("lab".into(), "v1.31.4+k3s1".into()),
        config: Param {
            path: "seedforge.yaml".into(),
            sha256: SHA_A.into(),
        },
        image_lists: vec![Param {
            path: "images.txt".into(),
            sha256: SHA_B.into(),
        }],
        templates: Vec::new(),
        dependencies: vec![
            Dependency {
                name: "docker.io/rancher/mirrored-pause:3.6".into(),
                uri: Some("docker://registry.example/pause:3.6".into()),
                digest: BTreeMap::from([("sha256".into(), SHA_C.into())]),
                annotations: BTreeMap::from([("kind".into(), "image".into())]),
            },
            Dependency {
                name: "bin/k3s".into(),
                uri: None,
                digest: BTreeMap::from([("sha256".into(), SHA_B.into())]),
                annotations: BTreeMap::new(),
            },
        ],
        subjects: vec![
            Subject {
                path: "iso/seed-n1.iso".into(),
                sha256: SHA_A.into(),
            },
            Subject {
                path: "airgap/a.tar".into(),
                sha256: SHA_B.into(),
            },
        ],
    }
}

#[test]
fn the_statement_is_an_in_toto_statement_with_slsa_provenance() {
    let p = provenance();
    let s = json(&statement(&p));
    assert_eq!(s["_type"], "https://in-toto.io/Statement/v1");
    assert_eq!(s["predicateType"], "https://slsa.dev/provenance/v1");
    assert_eq!(s["subject"][0]["name"], "airgap/a.tar");
    assert_eq!(s["subject"][1]["digest"]["sha256"], SHA_A);
    let def = &s["predicate"]["buildDefinition"];
    assert_eq!(def["buildType"], provenance::BUILD_TYPE);
    assert_eq!(
        def["externalParameters"]["config"]["path"],
        "seedforge.yaml"
    );
    assert_eq!(
        def["externalParameters"]["config"]["digest"]["sha256"],
        SHA_A
    );
    assert_eq!(def["internalParameters"]["sourceDateEpoch"], 1_700_000_000);
    let deps = def["resolvedDependencies"].as_array().unwrap();
    assert_eq!(deps[0]["name"], "bin/k3s");
    assert!(deps[0].get("uri").is_none());
    assert_eq!(deps[1]["uri"], "docker://registry.example/pause:3.6");
    assert_eq!(
        s["predicate"]["runDetails"]["builder"]["id"],
        "urn:seedforge:builder:seedforge@0.1.0"
    );
    // The same input gives the same bytes, whatever order it came in.
    let mut reordered = p.clone();
    reordered.subjects.reverse();
    reordered.dependencies.reverse();
    assert_eq!(statement(&p), statement(&reordered));
}

#[test]
fn spdx_gives_a_download_location_only_where_its_tools_take_one() {
    let mut inv = inventory();
    inv.files[0].source = "http://127.0.0.1:8080/k3s".into();
    let doc = json(&spdx::spdx(&inv));
    let file = (doc["packages"].as_array().unwrap().iter())
        .find(|p| p["name"] == "bin/k3s")
        .unwrap();
    assert_eq!(file["downloadLocation"], "NOASSERTION");
    assert_eq!(file["sourceInfo"], "from http://127.0.0.1:8080/k3s");
    inv.files[0].source = "https://downloads.example.com:8443/k3s".into();
    let doc = json(&spdx::spdx(&inv));
    let file = (doc["packages"].as_array().unwrap().iter())
        .find(|p| p["name"] == "bin/k3s")
        .unwrap();
    assert_eq!(
        file["downloadLocation"],
        "https://downloads.example.com:8443/k3s"
    );
}

#[test]
fn dates_and_uuids_are_fixed_functions_of_their_input() {
    assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
    assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    let u = uuid_from(&[0xff; 32]);
    assert_eq!(u, "ffffffff-ffff-5fff-bfff-ffffffffffff");
}
