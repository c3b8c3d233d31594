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

use crate::common::{self, Cmd, Lab};
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
    common::Cmd::new("openssl")
        .args(["genpkey", "-algorithm", "ed25519", "-out", "seal.key"])
        .cwd(&dir)
        .run();
    common::Cmd::new("openssl")
        .args(["pkey", "-in", "seal.key", "-pubout", "-out", "seal.pub"])
        .cwd(&dir)
        .run();
    let config = dir.join("seedforge.yaml");
    let text = fs::read_to_string(&config).unwrap();
    fs::write(
        &config,
        format!("{text}\nseal:\n  key: seal.key\n  public_key: seal.pub\n"),
    )
    .unwrap();
    lab.build();
    lab.receipt("r.json").run();
    let far = lab.far_copy("far");
    fs::remove_file(far.join("fixtures/lab/seal.key")).unwrap();
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
        let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
        for words in [
            "Delta for cluster lab",
            "The far side (its receipt) cluster lab",
            &receipt[..20],
            key_id,
            "k3s v1.33.1+k3s1 (unchanged)",
            WHY,
            "files/etc/motd.txt",
            "Secrets on this medium",
            "Every file on this medium",
            "delta.json.sigstore.json",
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

    // Made where only the public key is: the record is not signed, and that is said.
    fs::remove_file(dir.join("seal.key")).unwrap();
    let unsigned = lab.delta("r.json", "d2").arg("--json").run();
    assert!(
        unsigned.stderr.contains(
            "delta.json (the cluster and base the delta is for, what it changes) is not signed"
        ),
        "{}",
        unsigned.stderr
    );
    assert_eq!(unsigned.json()["record_signed"], false);
    let said = lab
        .seedforge()
        .args(["verify", "--key"])
        .arg(&public)
        .arg(lab.root().join("d2"))
        .run();
    assert!(
        said.stdout.contains("delta.json NOT signed"),
        "{}",
        said.stdout
    );
}
