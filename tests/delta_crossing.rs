//! What crosses, bound to where it goes and checked against what it is. A medium is for
//! one cluster's far side: the receipt names the cluster, `delta` refuses a receipt of
//! another cluster's far side, and `apply` refuses a delta whose signed `manifest.json`
//! names another cluster than the output it would replace (both exit 2, naming both
//! clusters; `--allow-other-cluster` takes it). What a delta says it changes
//! (`delta.json`'s `changes`) is never taken on trust: `apply` computes the changes from
//! the far side's output and the delta's signed content, refuses a `delta.json` that says
//! otherwise (exit 1, naming both, nothing changed), and reports what it computed. A
//! signed output's delta has its `delta.json` signed with the same key: `verify --key`
//! prints what it is for and changes, and it and `apply` refuse a record edited since.
//! The delta's `review.html` (what a reviewer reads) is reproducible, self-contained, and
//! rendered by Debian's Chromium headless to a screenshot and an A4 PDF.

use crate::common::{self, Cmd, Lab, git};
use std::fs;
use std::path::Path;
use std::time::Duration;

/// `seedforge apply DELTA --to fixtures/lab/out` on the far side `far`.
fn apply_on(far: &Path, delta: impl AsRef<std::ffi::OsStr>) -> Cmd {
    common::far_side(far)
        .arg("apply")
        .arg(delta)
        .args(["--to", "fixtures/lab/out"])
}

/// Debian's Chromium, headless, renders `page` to a screenshot and an A4 PDF in `work`;
/// gives the PDF's text (`pdftotext`). None (failing under `CI=true`) without them.
fn rendered(page: &Path, work: &Path) -> Option<String> {
    if !common::require_tool("chromium") || !common::require_tool("pdftotext") {
        return None;
    }
    fs::create_dir_all(work).unwrap();
    let browser = |what: String| {
        Cmd::new("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--window-size=1240,1754",
            ])
            .arg(format!(
                "--user-data-dir={}",
                work.join("profile").display()
            ))
            .arg(what)
            .arg(format!("file://{}", page.display()))
            .timeout(Duration::from_secs(180))
            .run()
    };
    let shot = work.join("review.png");
    let pdf = work.join("review.pdf");
    browser(format!("--screenshot={}", shot.display()));
    browser(format!("--print-to-pdf={}", pdf.display()));
    let png = fs::read(&shot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "no screenshot"
    );
    let text = Cmd::new("pdftotext")
        .args(["-layout"])
        .arg(&pdf)
        .arg("-")
        .run()
        .stdout;
    Some(text)
}

/// The delta folder's `SHA256SUMS` made to agree with `rel`'s bytes, as whoever edits a
/// medium would.
fn agree(delta: &Path, rel: &str) {
    let sha = common::sha256_bytes(&fs::read(delta.join(rel)).unwrap());
    let path = delta.join("SHA256SUMS");
    let text: String = fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(|l| match l.split_once("  ") {
            Some((_, p)) if p == rel => format!("{sha}  {p}\n"),
            _ => format!("{l}\n"),
        })
        .collect();
    fs::write(path, text).unwrap();
}

/// Two sites sharing a CA, a join token and a config but for the cluster's name: a delta
/// of site `lab`'s output made against site8's receipt is refused by `delta` (the receipt
/// names its cluster); made all the same, it is refused by `apply` on site8 (the delta's
/// signed manifest names cluster `lab`), which is left as it was.
#[test]
fn a_medium_made_for_one_cluster_is_refused_by_another_clusters_far_side() {
    let lab = Lab::new();
    lab.build();
    // Site8: the same output, renamed, built there offline (its CA and token kept).
    let far = lab.far_copy("site8");
    let config = far.join("fixtures/lab/seedforge.yaml");
    let text = fs::read_to_string(&config).unwrap();
    assert!(text.contains("name: lab\n"), "{text}");
    fs::write(&config, text.replacen("name: lab\n", "name: site8\n", 1)).unwrap();
    common::far_side(&far)
        .args([
            "build",
            "--offline",
            "--config",
            "fixtures/lab/seedforge.yaml",
        ])
        .run();
    let far_out = far.join("fixtures/lab/out");
    assert_eq!(
        fs::read(far_out.join("pki/ca.crt")).unwrap(),
        fs::read(lab.out_dir().join("pki/ca.crt")).unwrap(),
        "the two sites share their CA"
    );
    common::far_side(&far)
        .args(["receipt", "fixtures/lab/out", "-o"])
        .arg(lab.root().join("site8.json"))
        .run();
    let receipt: serde_json::Value =
        serde_json::from_slice(&fs::read(lab.root().join("site8.json")).unwrap()).unwrap();
    assert_eq!(receipt["cluster"], "site8");

    // The near side's delta against site8's receipt: refused, nothing written.
    let refused = lab.delta("site8.json", "d1").expect(2).run();
    assert!(
        refused
            .stderr
            .contains("the receipt is of cluster \"site8\"'s far side")
            && refused.stderr.contains("cluster \"lab\"'s output")
            && refused.stderr.contains("--allow-other-cluster"),
        "{}",
        refused.stderr
    );
    assert!(!lab.root().join("d1").exists());

    // Made all the same: the far side refuses it by name, and is left as it was.
    let made = lab
        .delta("site8.json", "d2")
        .args(["--allow-other-cluster", "--json"])
        .run()
        .json();
    assert_eq!(made["cluster"], "lab", "{made:#}");
    assert_eq!(made["base_cluster"], "site8", "{made:#}");
    let before = fs::read(far_out.join("SHA256SUMS")).unwrap();
    let applied = apply_on(&far, lab.root().join("d2")).expect(2).run();
    assert!(
        applied
            .stderr
            .contains("the delta is for cluster \"lab\" (its signed manifest.json)")
            && applied.stderr.contains("cluster \"site8\"'s output")
            && applied.stderr.contains("--allow-other-cluster"),
        "{}",
        applied.stderr
    );
    assert_eq!(fs::read(far_out.join("SHA256SUMS")).unwrap(), before);
    // Said on purpose: the far side becomes cluster `lab`'s, as the near side built it.
    apply_on(&far, lab.root().join("d2"))
        .args(["--allow-other-cluster"])
        .run();
    crate::delta::assert_same_output(&far_out, &lab.out_dir());
}

/// A delta that adds a `files:` entry, its `delta.json` edited to say it changes nothing
/// (the delta's own SHA256SUMS made to agree): `apply` refuses it, naming what
/// `delta.json` says and what the content changes, and changes nothing; the delta as made
/// applies, and its report names the change as computed on the far side.
#[test]
fn what_a_delta_says_it_changes_is_checked_against_what_it_carries() {
    let lab = Lab::new();
    lab.build();
    lab.receipt("r.json").run();
    let far = lab.far_copy("far");
    let far_out = far.join("fixtures/lab/out");
    add_motd(&lab.lab_dir());
    lab.build();
    let made = lab.delta("r.json", "d").arg("--json").run().json();
    assert_eq!(
        made["changes"]["files"]["added"],
        serde_json::json!(["files/etc/motd.txt"]),
        "{made:#}"
    );
    let delta = lab.root().join("d");
    let doc_path = delta.join("delta.json");
    let original = fs::read(&doc_path).unwrap();
    let mut doc: serde_json::Value = serde_json::from_slice(&original).unwrap();
    doc["changes"]["files"]["added"] = serde_json::json!([]);
    fs::write(&doc_path, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
    agree(&delta, "delta.json");
    let before = fs::read(far_out.join("SHA256SUMS")).unwrap();
    let refused = apply_on(&far, &delta).expect(1).run();
    assert!(
        refused
            .stderr
            .contains("delta.json: says the delta changes nothing")
            && refused
                .stderr
                .contains("its signed content changes this output's files: +files/etc/motd.txt"),
        "{}",
        refused.stderr
    );
    assert_eq!(fs::read(far_out.join("SHA256SUMS")).unwrap(), before);

    // As made: applied, the change reported as the far side computed it.
    fs::write(&doc_path, &original).unwrap();
    agree(&delta, "delta.json");
    let applied = apply_on(&far, &delta).args(["--json"]).run().json();
    assert_eq!(
        applied["changes"]["files"]["added"],
        serde_json::json!(["files/etc/motd.txt"]),
        "{applied:#}"
    );
    crate::delta::assert_same_output(&far_out, &lab.out_dir());
}

/// Adds a `files:` entry (`etc/motd.txt`) to the lab's config.
fn add_motd(dir: &Path) {
    fs::write(dir.join("motd.txt"), "hello from the near side\n").unwrap();
    let config = dir.join("seedforge.yaml");
    let text = fs::read_to_string(&config).unwrap();
    fs::write(
        &config,
        format!(
            "{text}files:\n  - name: etc/motd.txt\n    source: motd.txt\n    sha256: \"{}\"\n",
            common::sha256_bytes(b"hello from the near side\n")
        ),
    )
    .unwrap();
}

/// A signed medium's record: `delta` signs `delta.json` with the key that signed the
/// output (the config's `seal.key`); `verify --key` says so and prints what the delta is
/// for and changes; a `delta.json` edited since (its SHA256SUMS line made to agree) is
/// refused by `verify --key` and by `apply`, naming the file. Made without the private key
/// (a pipeline that holds only the public key), the record is unsigned and both say so.
#[test]
fn a_signed_deltas_record_is_signed_with_it_and_checked_by_verify_and_apply() {
    let lab = Lab::new();
    let dir = lab.lab_dir();
    let far = lab.signed_far_side();
    add_motd(&dir);
    lab.build();
    const WHY: &str = "the welcome text the audit asked for";
    let made = lab
        .delta("r.json", "d")
        .args(["--json", "--reason", WHY])
        .run()
        .json();
    assert_eq!(made["record_signed"], true, "{made:#}");
    assert_eq!(made["reason"], WHY, "{made:#}");
    let delta = lab.root().join("d");
    assert!(delta.join("delta.json.sigstore.json").is_file());
    // The reviewer's page: the same bytes for the same delta, nothing fetched from
    // anywhere, and a real browser renders it to a screenshot and an A4 PDF whose text
    // carries the cluster, the base, the signer, the k3s path, the change and the files.
    let page = delta.join("review.html");
    let html = fs::read_to_string(&page).unwrap();
    lab.delta("r.json", "d-again").args(["--reason", WHY]).run();
    assert_eq!(
        fs::read_to_string(lab.root().join("d-again/review.html")).unwrap(),
        html,
        "the page is not reproducible"
    );
    for absent in ["<script", "http://", "https://", "<link", "@import", "url("] {
        assert!(!html.contains(absent), "{absent} in the page");
    }
    let sums = fs::read_to_string(delta.join("SHA256SUMS")).unwrap();
    assert!(sums.contains("  review.html\n"), "{sums}");
    if let Some(text) = rendered(&page, &lab.root().join("browser")) {
        let key_id = made["signature"]["key_id"].as_str().unwrap();
        let receipt = made["base_receipt"].as_str().unwrap();
        let site = common::read_json(&lab.out_dir().join("site.json"))["site"]
            .as_str()
            .unwrap()
            .to_string();
        let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
        for words in [
            "Delta for cluster lab",
            &format!("For site {site}"),
            "The far side (its receipt) cluster lab",
            &format!("The far side's site {site}"),
            &receipt[..20],
            key_id,
            "k3s v1.33.1+k3s1 (unchanged)",
            WHY,
            "files/etc/motd.txt",
            "Secrets on this medium",
            "Every file on this medium",
            "delta.json.sigstore.json",
            "The far side last applied no delta: its output came whole",
            "What changed in the config, since the far side's",
            "seedforge.yaml: changed",
            "not a git checkout",
        ] {
            assert!(
                flat.contains(words),
                "{words:?} not in the PDF's text: {flat}"
            );
        }
    }
    let public = dir.join("seal.pub");
    // cosign reads the record's signature as it reads the seal's.
    if let Some(cosign) = common::sigstore::cosign() {
        common::sigstore::cosign_cmd(&cosign, &lab.root().join("cosign-home"))
            .args(["verify-blob", "--key"])
            .arg(&public)
            .arg("--bundle")
            .arg(delta.join("delta.json.sigstore.json"))
            .arg("--insecure-ignore-tlog")
            .arg(delta.join("delta.json"))
            .timeout(Duration::from_secs(60))
            .run();
    }
    let verify = |code: i32| {
        lab.seedforge()
            .args(["verify", "--key"])
            .arg(&public)
            .arg(&delta)
            .expect(code)
            .run()
    };
    let checked = verify(0);
    for words in [
        "for cluster lab (the far side's receipt: cluster lab,",
        "delta.json signed with the same key",
        "changes files: +files/etc/motd.txt",
        "why: the welcome text the audit asked for",
    ] {
        assert!(
            checked.stdout.contains(words),
            "{words}: {}",
            checked.stdout
        );
    }

    // Edited since it was signed: refused by name, on both sides.
    let doc_path = delta.join("delta.json");
    let original = fs::read(&doc_path).unwrap();
    let mut doc: serde_json::Value = serde_json::from_slice(&original).unwrap();
    doc["changes"]["files"]["added"] = serde_json::json!([]);
    fs::write(&doc_path, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
    agree(&delta, "delta.json");
    let refused = verify(1);
    assert!(
        refused.stderr.contains("delta.json.sigstore.json")
            && refused.stderr.contains("was changed since it was signed"),
        "{}",
        refused.stderr
    );
    let far_out = far.join("fixtures/lab/out");
    let before = fs::read(far_out.join("SHA256SUMS")).unwrap();
    let applied = apply_on(&far, &delta).expect(1).run();
    assert!(
        applied.stderr.contains("was changed since it was signed"),
        "{}",
        applied.stderr
    );
    assert_eq!(fs::read(far_out.join("SHA256SUMS")).unwrap(), before);
    fs::write(&doc_path, &original).unwrap();
    agree(&delta, "delta.json");
    apply_on(&far, &delta).run();

    // Made where only the public key is: refused, unless made unsigned on purpose; then
    // the record is not signed, that is said, and verify --key refuses the medium.
    fs::remove_file(dir.join("seal.key")).unwrap();
    let refused = lab.delta("r.json", "d2").expect(2).run();
    assert!(
        refused.stderr.contains("no private key is here to sign"),
        "{}",
        refused.stderr
    );
    let unsigned = lab
        .delta("r.json", "d2")
        .args(["--json", "--allow-unsigned"])
        .run();
    assert!(
        unsigned
            .stderr
            .contains("delta.json and statement.json are not signed (--allow-unsigned)"),
        "{}",
        unsigned.stderr
    );
    assert_eq!(unsigned.json()["record_signed"], false);
    let said = lab
        .seedforge()
        .args(["verify", "--key"])
        .arg(&public)
        .arg(lab.root().join("d2"))
        .expect(1)
        .run();
    assert!(
        said.stderr
            .contains("statement.json.sigstore.json: missing"),
        "{}",
        said.stderr
    );
}

/// Who made it and against which base, in the record: the config's digest and, its folder
/// being a git checkout, the commit (clean, then dirty; read from `.git` without the `git`
/// binary, dirtiness then not known); the receipt's time and the delta the far side last
/// applied (none: its output came whole; then the first delta, by its `delta.json`'s
/// SHA-256, which the far side's next receipt names). `verify` and the page say it all.
/// The first delta's why comes from the config folder's git history: nothing of the
/// whole output that crossed first is kept.
#[test]
fn the_record_names_the_config_its_commit_and_what_the_far_side_last_applied() {
    if !common::require_tool("git") {
        return;
    }
    let lab = Lab::new();
    let dir = lab.lab_dir();
    git(&dir, &["init", "-q"]);
    git(&dir, &["add", "-A"]);
    git(&dir, &["commit", "-q", "-m", "v1"]);
    lab.build();
    let far = lab.far_copy("far");
    let far_out = far.join("fixtures/lab/out");
    common::far_side(&far)
        .args(["receipt", "fixtures/lab/out", "-o"])
        .arg(lab.root().join("r1.json"))
        .run();
    let r1 = common::read_json(&lab.root().join("r1.json"));
    assert!(r1.get("applied").is_none(), "{r1:#}");
    // v2, committed with the lock v1's build wrote: the output folder inside the config
    // folder, not tracked, is not the config's change.
    add_motd(&dir);
    git(
        &dir,
        &["add", "seedforge.yaml", "motd.txt", "seedforge.lock"],
    );
    git(&dir, &["commit", "-q", "-m", "v2"]);
    let v2_commit = git(&dir, &["rev-parse", "HEAD"]);
    lab.build();
    let d1 = lab.delta("r1.json", "d1").arg("--json").run().json();
    let config_sha = common::sha256_file(&dir.join("seedforge.yaml"));
    assert_eq!(
        d1["made_by"],
        serde_json::json!({
            "config_sha256": config_sha,
            "git": {"commit": v2_commit, "dirty": false, "read_with": "git"}
        }),
        "{d1:#}"
    );
    assert_eq!(
        d1["base"],
        serde_json::json!({
            "receipt_written_at": r1["written_at"],
            "last_applied": null,
            "stale": []
        }),
        "{d1:#}"
    );
    // Why: the first delta after the whole output crossed, so nothing of it kept here,
    // but the config folder's history holds the far side's version of the config.
    assert_eq!(d1["why"]["note"], serde_json::Value::Null, "{d1:#}");
    let why = &d1["why"]["files"][0];
    assert_eq!(why["path"], "seedforge.yaml", "{d1:#}");
    assert_eq!(
        (why["added"].as_u64(), why["removed"].as_u64()),
        (Some(4), Some(0)),
        "{d1:#}"
    );
    let said = lab.seedforge().args(["verify", "d1"]).run().stdout;
    for words in [
        format!("made by: the config sha256 {config_sha}; git commit {v2_commit}, clean"),
        "the far side last applied no delta: its output came whole".to_string(),
    ] {
        assert!(said.contains(&words), "{words}: {said}");
    }
    let page = fs::read_to_string(lab.root().join("d1/review.html")).unwrap();
    assert!(
        page.contains(&v2_commit) && page.contains("no delta: its output came whole"),
        "{page}"
    );

    // Applied: the far side's next receipt names the delta by its delta.json's SHA-256.
    apply_on(&far, lab.root().join("d1")).run();
    let d1_sha = common::sha256_file(&lab.root().join("d1/delta.json"));
    common::far_side(&far)
        .args(["receipt", "fixtures/lab/out", "-o"])
        .arg(lab.root().join("r2.json"))
        .run();
    let r2 = common::read_json(&lab.root().join("r2.json"));
    assert_eq!(r2["applied"]["delta_sha256"], d1_sha.as_str(), "{r2:#}");
    assert_eq!(r2["applied"]["base_receipt"], r1["digest"], "{r2:#}");
    let said = common::far_side(&far)
        .args(["receipt", "fixtures/lab/out", "-o"])
        .arg(lab.root().join("r2-again.json"))
        .run()
        .stdout;
    assert!(said.contains(&d1_sha), "{said}");

    // v3, not committed: dirty. The base is the delta the far side last applied.
    edit_motd(&dir, "hello again\n");
    lab.build();
    let d2 = lab.delta("r2.json", "d2").arg("--json").run().json();
    assert_eq!(d2["made_by"]["git"]["commit"], v2_commit.as_str(), "{d2:#}");
    assert_eq!(d2["made_by"]["git"]["dirty"], true, "{d2:#}");
    assert_eq!(
        d2["base"]["last_applied"]["delta_sha256"],
        d1_sha.as_str(),
        "{d2:#}"
    );
    let said = lab.seedforge().args(["verify", "d2"]).run().stdout;
    for words in [
        format!("git commit {v2_commit} with changes not committed (dirty)"),
        format!("the far side last applied the delta whose delta.json hashes to {d1_sha}"),
    ] {
        assert!(said.contains(&words), "{words}: {said}");
    }
    let page = fs::read_to_string(lab.root().join("d2/review.html")).unwrap();
    assert!(page.contains(&d1_sha) && page.contains("dirty"), "{page}");
    // Without the git binary: the commit read from .git, whether it is dirty not known.
    let empty = lab.root().join("no-tools");
    fs::create_dir_all(&empty).unwrap();
    let d3 = lab
        .delta("r2.json", "d3")
        .arg("--json")
        .env("PATH", empty.to_str().unwrap())
        .run()
        .json();
    assert_eq!(
        d3["made_by"]["git"],
        serde_json::json!({"commit": v2_commit, "dirty": null, "read_with": ".git"}),
        "{d3:#}"
    );
    // No git checkout: null.
    fs::remove_dir_all(dir.join(".git")).unwrap();
    let d4 = lab.delta("r2.json", "d4").arg("--json").run().json();
    assert_eq!(d4["made_by"]["git"], serde_json::Value::Null, "{d4:#}");
    apply_on(&far, lab.root().join("d2")).run();
    crate::delta::assert_same_output(&far_out, &lab.out_dir());
}

/// Gives the lab's `files:` entry (`etc/motd.txt`, [`add_motd`]) the content `text`.
fn edit_motd(dir: &Path, text: &str) {
    let config = dir.join("seedforge.yaml");
    let old = common::sha256_file(&dir.join("motd.txt"));
    fs::write(dir.join("motd.txt"), text).unwrap();
    let yaml = fs::read_to_string(&config).unwrap();
    assert!(yaml.contains(&old));
    fs::write(
        &config,
        yaml.replace(&old, &common::sha256_bytes(text.as_bytes())),
    )
    .unwrap();
}

/// Why, in the record: the diff of the config inputs since the far side's receipt (a
/// `manifests:` file's changed line and a new one, the config unchanged), taken from what
/// the near side kept when it made the delta the far side applied last, the new
/// secret-looking value never shown (not in `delta.json`, the page, `delta`'s or
/// `verify`'s words). The first delta after the whole output crossed has nothing kept to
/// diff against, nor has one made after the near side's state was removed: the record
/// says so ("inputs of the base not kept here"), naming the file by its digests, rather
/// than guess.
#[test]
fn the_record_says_why_by_the_config_inputs_diff_since_the_far_sides_secrets_masked() {
    let lab = Lab::new();
    let dir = lab.lab_dir();
    let app = |version: &str, secret: Option<&str>| {
        let mut text = format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\n  namespace: default\ndata:\n  version: \"{version}\"\n"
        );
        if let Some(s) = secret {
            text.push_str(&format!("  password: \"{s}\"\n"));
        }
        text
    };
    fs::write(dir.join("app.yaml"), app("1", None)).unwrap();
    let config = dir.join("seedforge.yaml");
    let text = fs::read_to_string(&config).unwrap();
    fs::write(&config, format!("{text}manifests:\n  - app.yaml\n")).unwrap();
    lab.build();
    let far = lab.far_copy("far");
    common::far_side(&far)
        .args(["receipt", "fixtures/lab/out", "-o"])
        .arg(lab.root().join("r1.json"))
        .run();
    // The first delta: the whole output crossed by hand, nothing of it kept here.
    fs::write(dir.join("app.yaml"), app("2", None)).unwrap();
    lab.build();
    let d1 = lab.delta("r1.json", "d1").arg("--json").run().json();
    let note = d1["why"]["note"].as_str().unwrap();
    assert!(
        note.starts_with("inputs of the base not kept here: app.yaml"),
        "{note}"
    );
    let f = &d1["why"]["files"][0];
    assert_eq!(f["path"], "app.yaml");
    assert_eq!(f["added"], serde_json::Value::Null, "{d1:#}");
    assert_eq!(
        f["before"],
        common::sha256_bytes(app("1", None).as_bytes()).as_str()
    );
    let said = lab.seedforge().args(["verify", "d1"]).run().stdout;
    assert!(said.contains("inputs of the base not kept here"), "{said}");
    apply_on(&far, lab.root().join("d1")).run();
    common::far_side(&far)
        .args(["receipt", "fixtures/lab/out", "-o"])
        .arg(lab.root().join("r2.json"))
        .run();
    // The next: what d1 carried was kept when it was made.
    const SECRET: &str = "hunter2-never-shown-anywhere";
    fs::write(dir.join("app.yaml"), app("3", Some(SECRET))).unwrap();
    lab.build();
    let d = lab.delta("r2.json", "d").arg("--json").run().json();
    let files = d["why"]["files"].as_array().unwrap();
    assert_eq!(files.len(), 1, "{d:#}");
    let f = &files[0];
    assert_eq!(f["path"], "app.yaml");
    assert_eq!(f["change"], "changed");
    assert_eq!(
        (f["added"].as_u64(), f["removed"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(
        f["lines"],
        serde_json::json!([
            {"op": "-", "line": 7, "text": "  version: \"2\""},
            {"op": "+", "line": 7, "text": "  version: \"3\""},
            {"op": "+", "line": 8, "text": "  password: <redacted>"},
        ]),
        "{d:#}"
    );
    assert_eq!(d["why"]["note"], serde_json::Value::Null);
    let made = lab.delta("r2.json", "d-text").run();
    assert!(
        made.stdout
            .contains("config since the far side's: app.yaml: changed, +2 -1"),
        "{}",
        made.stdout
    );
    let delta = lab.root().join("d");
    let said = lab.seedforge().args(["verify"]).arg(&delta).run().stdout;
    for words in [
        "config since the far side's: app.yaml changed, +2 -1",
        "-    7    version: \"2\"",
        "+    8    password: <redacted>",
    ] {
        assert!(said.contains(words), "{words}: {said}");
    }
    let page = fs::read_to_string(delta.join("review.html")).unwrap();
    assert!(
        page.contains("What changed in the config, since the far side's")
            && page.contains("password: &lt;redacted&gt;"),
        "{page}"
    );
    for text in [
        made.stdout.clone(),
        made.stderr.clone(),
        said.clone(),
        page,
        fs::read_to_string(delta.join("delta.json")).unwrap(),
    ] {
        assert!(!text.contains(SECRET), "the secret is shown: {text}");
    }
    // What the near side kept is gone: said so, named by digest only.
    fs::remove_dir_all(lab.out_dir().join(".seedforge/kept")).unwrap();
    let d2 = lab.delta("r2.json", "d2").arg("--json").run().json();
    let note = d2["why"]["note"].as_str().unwrap();
    assert!(
        note.starts_with("inputs of the base not kept here: app.yaml"),
        "{note}"
    );
    apply_on(&far, &delta).run();
    crate::delta::assert_same_output(&far.join("fixtures/lab/out"), &lab.out_dir());
}
