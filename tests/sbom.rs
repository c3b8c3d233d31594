//! The SBOMs (`OUT/sbom/sbom.spdx.json`, `OUT/sbom/sbom.cdx.json`) and the provenance
//! (`OUT/sbom/provenance.json`) of a build: judged by SPDX's own tools (`pyspdxtools`,
//! PyPI `spdx-tools`) and by CycloneDX's JSON schema validator (PyPI
//! `cyclonedx-python-lib`, strict, schema 1.6), with every package URL in its canonical
//! form (`packageurl-python`); sealed and checked by `verify`; byte-identical for the same
//! inputs built into different folders; and free of every secret the build used.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use crate::common;

use common::misbehave::{Answer, Server};
use common::{Cmd, Lab, read_json, sha256_bytes, sha256_file};
use serde_json::Value;
use std::fs;
use std::path::{Path, PathBuf};

const SBOM_FILES: [&str; 3] = [
    "sbom/provenance.json",
    "sbom/sbom.cdx.json",
    "sbom/sbom.spdx.json",
];

/// The python that has spdx-tools and cyclonedx-python-lib (`$SEEDFORGE_SBOM_PYTHON`, the
/// venv scripts/test.sh fills in target/pyvenv, or python3). Missing: fails under
/// `CI=true`, otherwise the judges' part of a test is skipped.
fn judges() -> Option<PathBuf> {
    common::json_schema::judges_python(
        "import spdx_tools.spdx.validation.document_validator, cyclonedx.validation.json, jsonschema, packageurl",
        "spdx-tools and cyclonedx-python-lib[json-validation]",
        "the SBOMs are not judged",
    )
}

/// CycloneDX's strict validator for schema 1.6, then every `purl` read and written back
/// by packageurl-python: it must come back the same (canonical).
const CDX_CHECK: &str = r#"
import json, sys
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from packageurl import PackageURL
text = open(sys.argv[1]).read()
error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
if error is not None:
    print("invalid:", str(error).splitlines()[0])
    sys.exit(1)
def walk(components):
    for c in components:
        p = c.get("purl")
        if p is not None and PackageURL.from_string(p).to_string() != p:
            print("not canonical:", p)
            sys.exit(1)
        walk(c.get("components", []))
walk(json.loads(text).get("components", []))
print("valid")
"#;

/// Judges both SBOMs of `out` (nothing when the judges are missing).
fn judge(out: &Path) {
    let Some(python) = judges() else { return };
    let spdx = out.join("sbom/sbom.spdx.json");
    let tools = python.with_file_name("pyspdxtools");
    let checked = if tools.is_file() {
        Cmd::new(&tools).arg("-i").arg(&spdx).any_status().run()
    } else {
        Cmd::new(&python)
            .args(["-m", "spdx_tools.spdx.clitools.pyspdxtools", "-i"])
            .arg(&spdx)
            .any_status()
            .run()
    };
    assert_eq!(
        checked.code,
        Some(0),
        "pyspdxtools refuses {}:\n{}{}",
        spdx.display(),
        checked.stdout,
        checked.stderr
    );
    let cdx = out.join("sbom/sbom.cdx.json");
    let checked = Cmd::new(&python)
        .args(["-c", CDX_CHECK])
        .arg(&cdx)
        .any_status()
        .run();
    assert_eq!(
        checked.code,
        Some(0),
        "CycloneDX 1.6 refuses {}:\n{}{}",
        cdx.display(),
        checked.stdout,
        checked.stderr
    );
}

/// `SHA256SUMS` as (path, sha256) pairs.
fn sums(out: &Path) -> Vec<(String, String)> {
    fs::read_to_string(out.join("SHA256SUMS"))
        .unwrap()
        .lines()
        .map(|l| {
            let (sha, path) = l.split_once("  ").unwrap();
            (path.to_string(), sha.to_string())
        })
        .collect()
}

/// Every component of a CycloneDX document, nested ones included.
fn components(bom: &Value) -> Vec<Value> {
    fn walk(v: &Value, out: &mut Vec<Value>) {
        for c in v.as_array().into_iter().flatten() {
            out.push(c.clone());
            walk(&c["components"], out);
        }
    }
    let mut out = Vec::new();
    walk(&bom["components"], &mut out);
    out
}

/// What the CycloneDX document says `medium` carries.
fn carried(bom: &Value, medium: &str) -> Vec<String> {
    (bom["dependencies"].as_array().unwrap().iter())
        .find(|d| d["ref"] == medium)
        .unwrap_or_else(|| panic!("no dependencies of {medium}"))["dependsOn"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

/// The provenance's subjects are exactly what `SHA256SUMS` lists, but the provenance
/// itself and `manifest.json`; manifest.json lists the three files as artifacts.
fn check_provenance(out: &Path) -> Value {
    let statement = read_json(&out.join("sbom/provenance.json"));
    assert_eq!(statement["_type"], "https://in-toto.io/Statement/v1");
    assert_eq!(statement["predicateType"], "https://slsa.dev/provenance/v1");
    let subjects: Vec<(String, String)> = (statement["subject"].as_array().unwrap().iter())
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_string(),
                s["digest"]["sha256"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expected: Vec<(String, String)> = sums(out)
        .into_iter()
        .filter(|(p, _)| p != "manifest.json" && p != "sbom/provenance.json")
        .collect();
    assert_eq!(subjects, expected);
    let manifest = read_json(&out.join("manifest.json"));
    let artifacts: Vec<&str> = (manifest["artifacts"].as_array().unwrap().iter())
        .map(|a| a["path"].as_str().unwrap())
        .collect();
    for f in SBOM_FILES {
        assert!(artifacts.contains(&f), "manifest.json lists no {f}");
        assert!(
            sums(out).iter().any(|(p, _)| p == f),
            "SHA256SUMS lists no {f}"
        );
    }
    let def = &statement["predicate"]["buildDefinition"];
    assert_eq!(
        def["externalParameters"]["config"]["path"],
        "seedforge.yaml"
    );
    assert_eq!(
        def["externalParameters"]["config"]["digest"]["sha256"],
        manifest["inputs"]["config"]["sha256"]
    );
    assert_eq!(
        def["externalParameters"]["imageLists"][0]["path"],
        manifest["inputs"]["image_lists"][0]["path"]
    );
    let builder = &statement["predicate"]["runDetails"]["builder"];
    assert_eq!(
        builder["id"],
        format!(
            "urn:seedforge:builder:seedforge@{}",
            manifest["seedforge_version"].as_str().unwrap()
        )
    );
    statement
}

#[test]
fn the_demo_builds_sboms_are_valid_sealed_and_list_every_image_and_medium() {
    let lab = Lab::new();
    lab.build();
    let out = lab.out_dir();
    judge(&out);
    let bom = read_json(&out.join("sbom/sbom.cdx.json"));
    let manifest = read_json(&out.join("manifest.json"));
    // Every image, with the digest manifest.json records and its package URL.
    let images: Vec<Value> = (bom["components"].as_array().unwrap().iter())
        .filter(|c| c["type"] == "container")
        .cloned()
        .collect();
    assert_eq!(images.len(), manifest["images"].as_array().unwrap().len());
    for record in manifest["images"].as_array().unwrap() {
        let destination = record["destination"].as_str().unwrap();
        let digest = record["digest"].as_str().unwrap();
        let c = (images.iter())
            .find(|c| c["bom-ref"] == format!("image:{destination}"))
            .unwrap_or_else(|| panic!("no {destination}"));
        assert_eq!(
            c["hashes"][0]["content"],
            digest.strip_prefix("sha256:").unwrap()
        );
        let purl = c["purl"].as_str().unwrap();
        assert!(purl.starts_with("pkg:oci/"), "{purl}");
        assert!(purl.contains(&format!("@{digest}?")), "{purl}");
    }
    // The airgap archive carries every image; each seed the archive, the CA and
    // registries.yaml.
    let archive = "airgap/k3s-airgap-images-amd64.tar.zst";
    assert_eq!(carried(&bom, archive).len(), images.len());
    for node in ["lab-agent1", "lab-agent2", "lab-server1"] {
        let seed = carried(&bom, &format!("iso/seed-{node}.iso"));
        for part in [archive, "pki/ca.crt", "registries.yaml"] {
            assert!(seed.iter().any(|s| s == part), "{node}: {seed:?}");
        }
    }
    // The SPDX document says the same with CONTAINS.
    let spdx = read_json(&out.join("sbom/sbom.spdx.json"));
    let id = |name: &str| -> String {
        (spdx["packages"].as_array().unwrap().iter())
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("no package {name}"))["SPDXID"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let contains = |a: &str, b: &str| {
        (spdx["relationships"].as_array().unwrap().iter()).any(|r| {
            r["spdxElementId"] == a
                && r["relationshipType"] == "CONTAINS"
                && r["relatedSpdxElement"] == b
        })
    };
    assert!(contains(&id("iso/seed-lab-server1.iso"), &id(archive)));
    assert!(contains(
        &id(archive),
        &id("docker.io/rancher/mirrored-pause")
    ));
    // Both documents carry the source date, not the time of the build.
    assert_eq!(spdx["creationInfo"]["created"], "2023-11-14T22:13:20Z");
    assert_eq!(bom["metadata"]["timestamp"], "2023-11-14T22:13:20Z");
    check_provenance(&out);

    // verify covers the three files: it passes, then names a changed one.
    let verified = lab
        .seedforge()
        .args(["--json", "verify"])
        .arg(&out)
        .run()
        .json();
    assert_eq!(verified["sums"]["problems"], serde_json::json!([]));
    assert_eq!(
        verified["sums"]["entries"].as_u64().unwrap() as usize,
        sums(&out).len()
    );
    let path = out.join("sbom/provenance.json");
    let mut text = fs::read_to_string(&path).unwrap();
    text = text.replacen("\"subject\"", "\"subject\" ", 1);
    fs::write(&path, text).unwrap();
    let failed = lab
        .seedforge()
        .args(["--json", "verify"])
        .arg(&out)
        .any_status()
        .run();
    assert_eq!(failed.code, Some(1), "{}", failed.stdout);
    let problems = failed.json()["sums"]["problems"].clone();
    assert_eq!(problems[0]["path"], "sbom/provenance.json", "{problems}");
    // The next build puts it right.
    lab.build();
    lab.seedforge().arg("verify").arg(&out).run();
}

/// The lab with a bundle of the fixture .debs, a chart from a Helm repository on
/// 127.0.0.1, a `files:` entry downloaded with a password in its URL, and (`auth`) a
/// registry password.
fn lab_with_everything(chart_repo: &str, file_url: &str, auth: bool) -> Lab {
    let lab = Lab::new();
    let dir = lab.lab_dir();
    let debs = dir.join("debs");
    fs::create_dir_all(&debs).unwrap();
    for d in common::debs::fixture_debs() {
        fs::copy(&d, debs.join(d.file_name().unwrap())).unwrap();
    }
    fs::write(dir.join("base.txt"), "libc6:amd64\t2.36-9+deb12u10\n").unwrap();
    let path = dir.join("seedforge.yaml");
    let mut text = fs::read_to_string(&path).unwrap();
    // Its htpasswd's bcrypt salt is random: a build into another folder differs there.
    if auth {
        text = text.replace(
            "  port: 5000\n",
            "  port: 5000\n  auth:\n    username: pusher\n    password: {env: SBOM_TEST_REGISTRY_PW}\n",
        );
    }
    let text = format!(
        "{text}\npackages:\n  - name: ops\n    packages: [jq]\n    base: base.txt\n    debs: [debs]\n\
         charts:\n  - name: demo\n    repo: {chart_repo}\n    chart: demo-app\n    version: 1.2.3\n    namespace: apps\n\
         files:\n  - name: extra/tool.bin\n    source: \"{file_url}\"\n    sha256: \"{}\"\n",
        sha256_bytes(TOOL)
    );
    fs::write(&path, text).unwrap();
    lab
}

const TOOL: &[u8] = b"a tool the nodes get\n";
const REGISTRY_PW: &str = "Registry-Pw-0fSBOMtest";
const URL_PW: &str = "Url-Pw-9sbomSECRET";

fn build_into(lab: &Lab, out: &Path) {
    lab.seedforge()
        .args(["build", "--config", lab.config_arg(), "--out"])
        .arg(out)
        .env("SBOM_TEST_REGISTRY_PW", REGISTRY_PW)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .run();
}

#[test]
fn a_build_with_packages_a_chart_and_files_lists_each_without_a_secret() {
    let tgz = common::charts::chart_tgz("demo-app", "1.2.3", common::charts::VALUES);
    let repo = crate::charts::Repo::start(&tgz, tgz.clone());
    let tool = Server::start(|_, path| match path {
        "/tool.bin" => Answer::ok("application/octet-stream", TOOL.to_vec()),
        _ => Answer::status(404),
    });
    let file_url = format!("http://fetcher:{URL_PW}@{}/tool.bin", tool.host());
    let lab = lab_with_everything(&repo.server.url(""), &file_url, true);
    let out = lab.out_dir();
    build_into(&lab, &out);
    judge(&out);
    for f in SBOM_FILES {
        let text = fs::read_to_string(out.join(f)).unwrap();
        for secret in [REGISTRY_PW, URL_PW, "fetcher"] {
            assert!(!text.contains(secret), "{f} holds {secret}");
        }
        let root = lab.root().to_str().unwrap();
        assert!(!text.contains(root), "{f} names the build's folder");
    }
    let bom = read_json(&out.join("sbom/sbom.cdx.json"));
    let all = components(&bom);
    // Every .deb of the bundle, with its sha256 and package URL.
    let bundle = (all.iter())
        .find(|c| c["bom-ref"] == "packages/ops.tar.gz")
        .unwrap();
    assert_eq!(
        bundle["hashes"][0]["content"],
        sha256_file(&out.join("packages/ops.tar.gz"))
    );
    let debs = bundle["components"].as_array().unwrap();
    assert_eq!(debs.len(), 3, "{debs:?}");
    for deb in debs {
        let purl = deb["purl"].as_str().unwrap();
        let name = deb["name"].as_str().unwrap();
        assert!(
            purl.starts_with(&format!("pkg:deb/debian/{name}@")) && purl.ends_with("?arch=amd64"),
            "{purl}"
        );
        assert_eq!(deb["hashes"][0]["content"].as_str().unwrap().len(), 64);
    }
    let fixture: Vec<String> = common::debs::fixture_debs()
        .iter()
        .map(|d| sha256_file(d))
        .collect();
    for deb in debs {
        let sha = deb["hashes"][0]["content"].as_str().unwrap().to_string();
        assert!(fixture.contains(&sha), "{sha} is no fixture .deb");
    }
    // The chart, with the digest of its archive and where it came from.
    let chart = (all.iter())
        .find(|c| c["bom-ref"] == "charts/demo-1.2.3.tgz")
        .unwrap();
    assert_eq!(chart["name"], "demo-app");
    assert_eq!(chart["version"], "1.2.3");
    assert_eq!(chart["hashes"][0]["content"], sha256_bytes(&tgz));
    // The file, with its URL without credentials.
    let file = (all.iter())
        .find(|c| c["bom-ref"] == "files/extra/tool.bin")
        .unwrap();
    assert_eq!(file["externalReferences"][0]["url"], tool.url("/tool.bin"));
    // The seeds carry the bundle and the file; the server's the chart, an agent's not.
    let server = carried(&bom, "iso/seed-lab-server1.iso");
    let agent = carried(&bom, "iso/seed-lab-agent1.iso");
    for part in ["packages/ops.tar.gz", "files/extra/tool.bin"] {
        assert!(server.iter().any(|s| s == part) && agent.iter().any(|s| s == part));
    }
    assert!(server.iter().any(|s| s == "charts/demo-1.2.3.tgz"));
    assert!(!agent.iter().any(|s| s == "charts/demo-1.2.3.tgz"));
    // The provenance lists what the build resolved: the .debs by their package URLs, the
    // chart and the file by their digests.
    let statement = check_provenance(&out);
    let deps = statement["predicate"]["buildDefinition"]["resolvedDependencies"]
        .as_array()
        .unwrap()
        .clone();
    let debs_listed = (deps.iter())
        .filter(|d| d["annotations"]["kind"] == "deb")
        .inspect(|d| assert!(d["uri"].as_str().unwrap().starts_with("pkg:deb/debian/")))
        .count();
    assert_eq!(debs_listed, 3);
    let chart = deps
        .iter()
        .find(|d| d["annotations"]["kind"] == "chart")
        .unwrap();
    assert_eq!(chart["digest"]["sha256"], sha256_bytes(&tgz));
    let file = deps.iter().find(|d| d["name"] == "extra/tool.bin").unwrap();
    assert_eq!(file["digest"]["sha256"], sha256_bytes(TOOL));
    assert_eq!(file["uri"], tool.url("/tool.bin"));
    assert_eq!(
        deps.iter()
            .filter(|d| d["annotations"]["kind"] == "image")
            .count(),
        8
    );
    lab.seedforge().arg("verify").arg(&out).run();

    // A second build with nothing changed skips the step and leaves the files as they are.
    let before: Vec<Vec<u8>> = SBOM_FILES
        .iter()
        .map(|f| fs::read(out.join(f)).unwrap())
        .collect();
    let report = lab
        .seedforge()
        .args(["--json", "build", "--config", lab.config_arg(), "--out"])
        .arg(&out)
        .env("SBOM_TEST_REGISTRY_PW", REGISTRY_PW)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .run()
        .json();
    let sbom = (report["steps"].as_array().unwrap().iter())
        .find(|s| s["step"] == "sbom")
        .unwrap();
    assert_eq!(sbom["status"], "skipped", "{sbom}");
    let after: Vec<Vec<u8>> = SBOM_FILES
        .iter()
        .map(|f| fs::read(out.join(f)).unwrap())
        .collect();
    assert_eq!(before, after);
}

#[test]
fn two_builds_of_the_same_inputs_into_different_folders_give_identical_sboms_and_provenance() {
    let tgz = common::charts::chart_tgz("demo-app", "1.2.3", common::charts::VALUES);
    let repo = crate::charts::Repo::start(&tgz, tgz.clone());
    let tool = Server::start(|_, path| match path {
        "/tool.bin" => Answer::ok("application/octet-stream", TOOL.to_vec()),
        _ => Answer::status(404),
    });
    let file_url = format!("http://fetcher:{URL_PW}@{}/tool.bin", tool.host());
    let chart_repo = repo.server.url("");
    // Two copies of the fixtures, so even the absolute input paths differ.
    let one = lab_with_everything(&chart_repo, &file_url, false);
    let two = lab_with_everything(&chart_repo, &file_url, false);
    let out_one = one.root().join("first/out");
    let out_two = two.root().join("second folder/elsewhere");
    build_into(&one, &out_one);
    // The PKI and the site identity are kept between builds (made at random once).
    common::copy_kept_state(&out_one, &out_two);
    build_into(&two, &out_two);
    for f in SBOM_FILES {
        assert_eq!(
            fs::read(out_one.join(f)).unwrap(),
            fs::read(out_two.join(f)).unwrap(),
            "{f} differs"
        );
    }
    // And the documents do not name either folder.
    for (lab, out) in [(&one, &out_one), (&two, &out_two)] {
        for f in SBOM_FILES {
            let text = fs::read_to_string(out.join(f)).unwrap();
            assert!(!text.contains(lab.root().to_str().unwrap()), "{f}");
        }
    }
}

/// A `files:` source written as an absolute path is named by its file name only in every
/// sealed record (manifest.json, the provenance, both SBOMs): no absolute path of the
/// build's machine is sealed.
#[test]
fn an_absolute_files_source_is_sealed_by_its_file_name_only() {
    let lab = Lab::new();
    let outside = tempfile::tempdir().unwrap();
    let tool = outside.path().join("private-place/k3s-tool");
    fs::create_dir_all(tool.parent().unwrap()).unwrap();
    fs::write(&tool, b"#!/bin/sh\necho tool\n").unwrap();
    let config = lab.lab_dir().join("seedforge.yaml");
    let mut text = fs::read_to_string(&config).unwrap();
    text.push_str(&format!(
        "\nfiles:\n  - name: bin/tool\n    source: {}\n    sha256: \"{}\"\n",
        tool.display(),
        sha256_file(&tool)
    ));
    fs::write(&config, text).unwrap();
    lab.build();
    let out = lab.out_dir();
    for sealed in [
        "manifest.json",
        "sbom/provenance.json",
        "sbom/sbom.spdx.json",
        "sbom/sbom.cdx.json",
    ] {
        let body = fs::read_to_string(out.join(sealed)).unwrap();
        assert!(
            !body.contains("private-place"),
            "{sealed} holds the absolute path {}",
            tool.display()
        );
        assert!(body.contains("a local file (k3s-tool)"), "{sealed}");
    }
}

/// The keys and the trusted root of `images.verify` are recorded in the output
/// (`keys/images/`) and stand in the provenance as the keys do: each a subject, by its path
/// in the output and the SHA-256 of the very bytes the config named.
#[test]
fn the_image_keys_and_the_trusted_root_are_subjects_of_the_provenance() {
    if !common::require_tool("openssl") {
        return;
    }
    let lab = Lab::new();
    let dir = lab.lab_dir();
    let key = Cmd::new("sh")
        .args([
            "-c",
            "openssl ecparam -name prime256v1 -genkey -noout | openssl ec -pubout 2>/dev/null",
        ])
        .run()
        .stdout;
    fs::write(dir.join("cosign.pub"), &key).unwrap();
    // A trusted root that parses: the public good instance's, as the sigstore-trust-root
    // crate (a dependency, in cargo's registry cache) ships it.
    let root =
        fs::read(common::registry_crate("sigstore-trust-root-").join("src/trusted_root.json"))
            .unwrap();
    fs::write(dir.join("trusted_root.json"), &root).unwrap();
    let config = dir.join("seedforge.yaml");
    let text = fs::read_to_string(&config).unwrap();
    fs::write(
        &config,
        text.replace(
            "\n  concurrency: 4\n",
            "\n  concurrency: 4\n  verify:\n    keys: [cosign.pub]\n    identities:\n      - issuer: https://accounts.google.com\n        subject: krel-trust@k8s-releng-prod.iam.gserviceaccount.com\n    trusted_root: trusted_root.json\n    require: never\n",
        ),
    )
    .unwrap();
    lab.build();
    let out = lab.out_dir();
    let statement = check_provenance(&out);
    let subjects: Vec<(String, String)> = (statement["subject"].as_array().unwrap().iter())
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_string(),
                s["digest"]["sha256"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    for (what, bytes, name) in [
        ("the key", key.as_bytes(), ".pub"),
        ("the trusted root", root.as_slice(), "/trusted_root-"),
    ] {
        let sha = sha256_bytes(bytes);
        let found = subjects
            .iter()
            .find(|(_, s)| *s == sha)
            .unwrap_or_else(|| panic!("{what} is no subject: {subjects:?}"));
        assert!(
            found.0.starts_with("keys/images/") && found.0.contains(name),
            "{what}: {found:?}"
        );
    }
}
