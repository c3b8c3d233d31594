//! What a reviewer reads is true and leaks nothing. Two builds of one config whose carried
//! inputs (a YAML manifest with a TOML file in a ConfigMap, a JSON manifest) hold a secret in every shape the masking
//! knows (by the key's name in any spelling, an env pair, a flag and its value, a flow
//! mapping, a value on the next line, a commented-out line, a Secret's `data` and
//! `stringData`, a docker config, a connection string, a URL's user information and token
//! parameter, a PEM private key, a JWT, the token formats of cloud, git and registry
//! hosts, a long random string), each changed from the first build to the second: no
//! value of either appears in `delta.json`, `review.html`, `verify` (text and `--json`),
//! `delta --json`, `plan --upgrade-from --json` or their stderr, while the diff still
//! shows each line changed and keeps the lines that only look alike (digests, versions,
//! paths, names). The page names the carried files that hold a secret. An ESC sequence
//! and a U+202E from `delta --reason` and from a config comment are shown inert in
//! `verify`'s words and on the page, and as JSON writes them in JSON.

use crate::common::{self, Lab, git};
use std::fs;
use std::path::Path;

#[path = "../src/redact/samples.rs"]
#[allow(dead_code)]
mod samples;

/// What `delta --reason` says: it would erase the line above and reverse what follows.
const REASON: &str = "monthly update\u{1b}[2K\u{1b}[1A\u{202e}evlos";
/// The comment the image list carries, with the same.
const COMMENT: &str = "# tuned\u{1b}]0;owned\u{7}\u{1b}[2K\u{202e}edoc";

/// Writes generation `g` of the inputs into the lab's config folder: a manifest holding
/// the YAML samples and a ConfigMap of the TOML ones, a JSON manifest, and the image
/// list with the comment.
fn write_inputs(dir: &Path, g: u32, images: &str) {
    let mut yaml = samples::yaml_file(g);
    yaml.push_str(
        "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app-toml\ndata:\n  app.toml: |\n",
    );
    for line in samples::toml_file(g).lines() {
        yaml.push_str(&format!("    {line}\n"));
    }
    fs::write(dir.join("app.yaml"), yaml).unwrap();
    let json = samples::json_file(g).replacen(
        "{\n",
        "{\n  \"apiVersion\": \"example.invalid/v1\",\n  \"kind\": \"AppSettings\",\n  \"metadata\": {\"name\": \"app-json\"},\n",
        1,
    );
    fs::write(dir.join("app.json"), json).unwrap();
    fs::write(dir.join("images.txt"), format!("{images}{COMMENT} {g}\n")).unwrap();
    let config = dir.join("seedforge.yaml");
    let text = fs::read_to_string(&config).unwrap();
    if !text.contains("\nmanifests:\n") {
        fs::write(
            &config,
            format!("{text}manifests:\n  - app.yaml\n  - app.json\n"),
        )
        .unwrap();
    }
}

#[test]
fn every_secret_shape_is_masked_wherever_a_reviewer_reads_and_nothing_acts_on_the_screen() {
    if !common::require_tool("git") {
        return;
    }
    let lab = Lab::new();
    let dir = lab.lab_dir();
    let images = fs::read_to_string(dir.join("images.txt")).unwrap();
    write_inputs(&dir, 1, &images);
    // The far side's inputs are found in the config folder's history.
    git(&dir, &["init", "-q"]);
    git(&dir, &["add", "-A"]);
    git(&dir, &["commit", "-q", "-m", "first"]);
    lab.build();
    let far = lab.far_copy("far");
    common::far_side(&far)
        .args(["receipt", "fixtures/lab/out", "-o"])
        .arg(lab.root().join("r1.json"))
        .run();
    write_inputs(&dir, 2, &images);
    lab.build();

    let made_json = lab
        .delta("r1.json", "d-json")
        .args(["--json", "--reason", REASON])
        .run();
    let made = lab.delta("r1.json", "d").args(["--reason", REASON]).run();
    let delta = lab.root().join("d");
    let record = fs::read_to_string(delta.join("delta.json")).unwrap();
    let page = fs::read_to_string(delta.join("review.html")).unwrap();
    let verified = lab.seedforge().arg("verify").arg(&delta).run();
    let verified_json = lab.seedforge().args(["verify", "--json"]).arg(&delta).run();
    let planned = lab
        .seedforge()
        .args([
            "plan",
            "--config",
            "fixtures/lab/seedforge.yaml",
            "--upgrade-from",
        ])
        .arg(lab.root().join("r1.json"))
        .arg("--json")
        .run();
    let record_json = fs::read_to_string(lab.root().join("d-json/delta.json")).unwrap();
    let shown: Vec<(&str, &str)> = vec![
        ("delta --json", made_json.stdout.as_str()),
        ("delta --json's stderr", made_json.stderr.as_str()),
        ("delta", made.stdout.as_str()),
        ("delta's stderr", made.stderr.as_str()),
        ("delta.json", record.as_str()),
        ("delta.json of delta --json", record_json.as_str()),
        ("review.html", page.as_str()),
        ("verify", verified.stdout.as_str()),
        ("verify's stderr", verified.stderr.as_str()),
        ("verify --json", verified_json.stdout.as_str()),
        ("verify --json's stderr", verified_json.stderr.as_str()),
        ("plan --upgrade-from --json", planned.stdout.as_str()),
        ("plan's stderr", planned.stderr.as_str()),
    ];
    let mut values = samples::all_values(1);
    values.extend(samples::all_values(2));
    for (what, text) in &shown {
        for (name, v) in &values {
            assert!(
                !text.contains(v.as_str()),
                "{name}: {v} is shown by {what}:\n{text}"
            );
        }
    }

    // The diff still says which lines changed, each masked, and keeps what only looks alike.
    let doc: serde_json::Value = serde_json::from_str(&record).unwrap();
    let files = doc["why"]["files"].as_array().unwrap();
    for path in ["app.yaml", "app.json"] {
        let new = fs::read_to_string(dir.join(path)).unwrap();
        let f = files
            .iter()
            .find(|f| f["path"] == path)
            .unwrap_or_else(|| panic!("{path} not in {doc:#}"));
        let lines = f["lines"].as_array().unwrap();
        for (i, line) in new.lines().enumerate() {
            if !values.iter().any(|(_, v)| line.contains(v.as_str())) {
                continue;
            }
            let shown = lines
                .iter()
                .find(|l| l["op"] == "+" && l["line"] == i + 1)
                .unwrap_or_else(|| panic!("{path}:{}: {line:?} not in the diff: {f:#}", i + 1));
            let text = shown["text"].as_str().unwrap();
            assert!(
                text.contains("<redacted>") || text.contains("***"),
                "{path}:{}: {text}",
                i + 1
            );
        }
    }
    let yaml = files.iter().find(|f| f["path"] == "app.yaml").unwrap();
    let yaml_text: String = (yaml["lines"].as_array().unwrap().iter())
        .map(|l| format!("{}\n", l["text"].as_str().unwrap()))
        .collect();
    for k in samples::kept(2) {
        assert!(yaml_text.contains(&k.visible), "{}: {yaml_text}", k.name);
    }
    // The page names the carried files that hold a secret.
    let secrets = page
        .split("<h2>Secrets on this medium</h2>")
        .nth(1)
        .and_then(|s| s.split("<h2>").next())
        .unwrap();
    for name in [
        "config/app.yaml",
        "config/app.json",
        "out/manifests/app.yaml",
        "out/manifests/app.json",
    ] {
        assert!(secrets.contains(name), "{name}: {secrets}");
    }
    // Not a file that only says where a secret is read from (`token: {file: token}`),
    // nor one with none.
    for name in ["config/seedforge.yaml", "config/images.txt"] {
        assert!(!secrets.contains(name), "{name}: {secrets}");
    }

    // Nothing from the reason or a comment acts on the screen: shown escaped.
    for (what, text) in [("verify", &verified.stdout), ("delta", &made.stdout)] {
        assert!(
            !text.contains(['\u{1b}', '\u{202e}', '\u{7}']),
            "{what}: {text:?}"
        );
    }
    let said = &verified.stdout;
    assert!(
        said.contains("why: monthly update\\x1b[2K\\x1b[1A<U+202E>evlos"),
        "{said}"
    );
    assert!(
        said.contains("# tuned\\x1b]0;owned\\x07\\x1b[2K<U+202E>edoc 2"),
        "{said}"
    );
    assert!(!page.contains(['\u{1b}', '\u{202e}', '\u{7}']), "{page:?}");
    assert!(
        page.contains("monthly update\\x1b[2K\\x1b[1A&lt;U+202E&gt;evlos"),
        "{page}"
    );
    assert!(
        page.contains("# tuned\\x1b]0;owned\\x07\\x1b[2K&lt;U+202E&gt;edoc 2"),
        "{page}"
    );
    // JSON holds the record's characters, escaped as JSON escapes them.
    for (what, text) in [
        ("delta --json", &made_json.stdout),
        ("verify --json", &verified_json.stdout),
        ("delta.json", &record),
    ] {
        assert!(!text.contains('\u{1b}'), "{what}: raw ESC");
        assert!(text.contains("\\u001b[2K"), "{what}: {text}");
    }
    assert_eq!(doc["reason"], REASON);
    let escaped = serde_json::to_string(REASON).unwrap();
    assert!(
        verified_json.stdout.contains(&escaped),
        "{}",
        verified_json.stdout
    );
}
