//! The courier as attacker: a signed near side makes a delta (whole, and in parts), and
//! whoever carries it strips, swaps or edits each signature, the record, the page and the
//! statement, plants files (one under `config/.git/`, one no input names) and edits
//! `join.sh`, making `SHA256SUMS` agree each time as an editor of the medium would.
//! Each medium is refused by `verify --key` and by the far side's `apply` (offline), with
//! exit != 0 naming what is wrong, and the far side is byte for byte as it was. The
//! statement's signature is the one cosign's `verify-blob --bundle --key` checks with the
//! public key alone. Made without the private key, a signed output's delta is refused by
//! `delta` (exit 2) unless made unsigned on purpose, and such a medium is refused by the
//! signed far side. The far side records every delta it applied: after a rollback, the old
//! delta replayed is refused (exit 2), and applied only when told to.

use crate::common::{self, Cmd, Lab, assert_same_tree, snapshot};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A signed near side (`seal.key`), its far side (the public key only) receipted at v1,
/// v2 built with a `files:` entry large enough to be cut into parts, the delta `d` whole
/// and `dp` in parts of 1 MiB. Returns the lab, the far side's root and the public key.
fn signed_crossing() -> (Lab, PathBuf, PathBuf) {
    let lab = Lab::new();
    let dir = lab.lab_dir();
    let far = lab.signed_far_side();
    // A file of 2,500,000 bytes: three parts of 1 MiB.
    let motd: Vec<u8> = (0..2_500_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    fs::write(dir.join("motd.txt"), &motd).unwrap();
    let config = dir.join("seedforge.yaml");
    let text = fs::read_to_string(&config).unwrap();
    fs::write(
        &config,
        format!(
            "{text}files:\n  - name: etc/motd.txt\n    source: motd.txt\n    sha256: \"{}\"\n",
            common::sha256_bytes(&motd)
        ),
    )
    .unwrap();
    lab.build();
    lab.delta("r.json", "d").run();
    lab.delta("r.json", "dp").args(["--split", "1MiB"]).run();
    let public = dir.join("seal.pub");
    (lab, far, public)
}

/// `SHA256SUMS` of the medium `delta` made to agree with the files `rels` as they are now
/// (a line added for one that has none, removed for one that is gone).
fn agree(delta: &Path, rels: &[&str]) {
    let path = delta.join("SHA256SUMS");
    let mut lines: Vec<(String, String)> = fs::read_to_string(&path)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once("  "))
        .map(|(h, p)| (p.to_string(), h.to_string()))
        .filter(|(p, _)| !rels.contains(&p.as_str()))
        .collect();
    for rel in rels {
        if let Ok(bytes) = fs::read(delta.join(rel)) {
            lines.push((rel.to_string(), common::sha256_bytes(&bytes)));
        }
    }
    lines.sort();
    let text: String = lines.iter().map(|(p, h)| format!("{h}  {p}\n")).collect();
    fs::write(path, text).unwrap();
}

/// A fresh copy of the medium `from` named `name` beside it.
fn copy_of(from: &Path, name: &str) -> PathBuf {
    let to = from.with_file_name(name);
    common::copy_tree(from, &to, &|_| false);
    to
}

/// Edits `delta.json` of the medium with `edit` (its tallies left for `edit` to keep).
fn edit_record(delta: &Path, edit: impl Fn(&mut serde_json::Value)) {
    let path = delta.join("delta.json");
    let mut doc: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    edit(&mut doc);
    fs::write(&path, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
}

/// The attacks on the medium `base` (a copy made for each), each with the words its
/// refusal must hold.
type Attack = (&'static str, Box<dyn Fn(&Path)>, &'static [&'static str]);

fn attacks_on_a_whole_delta() -> Vec<Attack> {
    vec![
        (
            "statement's signature stripped",
            Box::new(|d: &Path| fs::remove_file(d.join("statement.json.sigstore.json")).unwrap()),
            &["statement.json.sigstore.json", "missing"],
        ),
        (
            "statement and its signature stripped",
            Box::new(|d: &Path| {
                fs::remove_file(d.join("statement.json.sigstore.json")).unwrap();
                fs::remove_file(d.join("statement.json")).unwrap();
            }),
            &["statement.json.sigstore.json", "missing"],
        ),
        (
            "statement's signature swapped for the record's",
            Box::new(|d: &Path| {
                fs::copy(
                    d.join("delta.json.sigstore.json"),
                    d.join("statement.json.sigstore.json"),
                )
                .unwrap();
            }),
            &["statement.json.sigstore.json", "does not verify"],
        ),
        (
            "statement edited to list a planted file",
            Box::new(|d: &Path| {
                let path = d.join("statement.json");
                let mut s: serde_json::Value =
                    serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
                fs::write(d.join("config/planted.yaml"), "x: 1\n").unwrap();
                s["files"]["config/planted.yaml"] = serde_json::json!({
                    "size": 5,
                    "sha256": common::sha256_bytes(b"x: 1\n"),
                });
                fs::write(&path, serde_json::to_vec_pretty(&s).unwrap()).unwrap();
                agree(d, &["config/planted.yaml"]);
            }),
            &["statement.json.sigstore.json", "does not verify"],
        ),
        (
            "record's signature stripped, its line removed",
            Box::new(|d: &Path| {
                fs::remove_file(d.join("delta.json.sigstore.json")).unwrap();
                agree(d, &["delta.json.sigstore.json"]);
            }),
            &["delta.json.sigstore.json"],
        ),
        (
            "record and statement unsigned, .git/config planted through other_inputs",
            Box::new(|d: &Path| {
                for f in [
                    "delta.json.sigstore.json",
                    "statement.json.sigstore.json",
                    "statement.json",
                ] {
                    fs::remove_file(d.join(f)).unwrap();
                }
                let planted = b"[core]\n\tfsmonitor = touch /tmp/pwned\n";
                fs::create_dir_all(d.join("config/.git")).unwrap();
                fs::write(d.join("config/.git/config"), planted).unwrap();
                edit_record(d, |doc| {
                    doc["other_inputs"]
                        .as_array_mut()
                        .map(|a| a.push(".git/config".into()))
                        .unwrap_or_else(|| {
                            doc["other_inputs"] = serde_json::json!([".git/config"])
                        });
                    let count = doc["config"]["count"].as_u64().unwrap();
                    let bytes = doc["config"]["bytes"].as_u64().unwrap();
                    doc["config"] = serde_json::json!({
                        "count": count + 1,
                        "bytes": bytes + planted.len() as u64,
                    });
                });
                agree(
                    d,
                    &[
                        "delta.json.sigstore.json",
                        "delta.json",
                        "config/.git/config",
                    ],
                );
            }),
            &["statement.json.sigstore.json"],
        ),
        (
            "a file no input names planted, listed in SHA256SUMS",
            Box::new(|d: &Path| {
                fs::write(d.join("config/extra.yaml"), "x: 1\n").unwrap();
                agree(d, &["config/extra.yaml"]);
            }),
            &[
                "config/extra.yaml",
                "not listed in its signed statement.json",
            ],
        ),
        (
            "a file planted under config/.git/, listed in SHA256SUMS",
            Box::new(|d: &Path| {
                fs::create_dir_all(d.join("config/.git")).unwrap();
                fs::write(d.join("config/.git/config"), "[core]\n").unwrap();
                agree(d, &["config/.git/config"]);
            }),
            &[
                "config/.git/config",
                "not listed in its signed statement.json",
            ],
        ),
        (
            "the page rewritten, SHA256SUMS made to agree",
            Box::new(|d: &Path| {
                let page = d.join("review.html");
                let html = fs::read_to_string(&page).unwrap();
                fs::write(&page, html.replace("lab", "another cluster")).unwrap();
                agree(d, &["review.html"]);
            }),
            &["review.html", "signed statement.json"],
        ),
        (
            "the page deleted, its line removed",
            Box::new(|d: &Path| {
                fs::remove_file(d.join("review.html")).unwrap();
                agree(d, &["review.html"]);
            }),
            &["review.html"],
        ),
    ]
}

fn attacks_on_a_delta_in_parts() -> Vec<Attack> {
    vec![
        (
            "join.sh edited, SHA256SUMS made to agree",
            Box::new(|d: &Path| {
                let script = d.join("join.sh");
                let text = fs::read_to_string(&script).unwrap();
                fs::write(
                    &script,
                    text.replace("set -eu\n", "set -eu\ntouch /tmp/pwned\n"),
                )
                .unwrap();
                agree(d, &["join.sh"]);
            }),
            &["join.sh", "signed statement.json"],
        ),
        (
            "a part swapped for other bytes of its size, SHA256SUMS made to agree",
            Box::new(|d: &Path| {
                let part = d.join("out/files/etc/motd.txt.part002");
                let mut bytes = fs::read(&part).unwrap();
                bytes[0] ^= 1;
                fs::write(&part, bytes).unwrap();
                agree(d, &["out/files/etc/motd.txt.part002"]);
            }),
            &["out/files/etc/motd.txt.part002", "signed statement.json"],
        ),
    ]
}

#[test]
fn every_file_of_a_signed_medium_is_vouched_for_and_a_courier_edit_is_refused() {
    let (lab, far, public) = signed_crossing();
    let whole = lab.root().join("d");
    let parts = lab.root().join("dp");
    for (medium, wants) in [
        (
            &whole,
            &[
                "statement.json",
                "statement.json.sigstore.json",
                "review.html",
            ][..],
        ),
        (
            &parts,
            &[
                "join.sh",
                "SHA256SUMS.wholes",
                "out/files/etc/motd.txt.part001",
            ],
        ),
    ] {
        let statement: serde_json::Value =
            serde_json::from_slice(&fs::read(medium.join("statement.json")).unwrap_or_default())
                .unwrap_or_default();
        for want in wants {
            assert!(
                medium.join(want).is_file(),
                "{}: no {want}",
                medium.display()
            );
            if !want.starts_with("statement.json") {
                assert!(
                    statement["files"][want]["sha256"].is_string(),
                    "{want} not in the statement: {statement:#}"
                );
            }
        }
    }
    // cosign checks the statement's signature with the public key alone.
    if let Some(cosign) = common::sigstore::cosign() {
        common::sigstore::cosign_cmd(&cosign, &lab.root().join("cosign-home"))
            .args(["verify-blob", "--key"])
            .arg(&public)
            .arg("--bundle")
            .arg(whole.join("statement.json.sigstore.json"))
            .arg("--insecure-ignore-tlog")
            .arg(whole.join("statement.json"))
            .timeout(Duration::from_secs(60))
            .run();
    }
    // The honest media verify.
    for medium in [&whole, &parts] {
        lab.seedforge()
            .args(["verify", "--key"])
            .arg(&public)
            .arg(medium)
            .run();
    }

    let far_out = far.join("fixtures/lab/out");
    let before = snapshot(&far.join("fixtures"));
    let cases = (attacks_on_a_whole_delta().into_iter().map(|a| (&whole, a))).chain(
        attacks_on_a_delta_in_parts()
            .into_iter()
            .map(|a| (&parts, a)),
    );
    for (n, (medium, (what, attack, words))) in cases.enumerate() {
        let copy = copy_of(medium, &format!("attack{n}"));
        attack(&copy);
        let verified = lab
            .seedforge()
            .args(["verify", "--key"])
            .arg(&public)
            .arg(&copy)
            .any_status()
            .run();
        let applied = common::far_side(&far)
            .arg("apply")
            .arg(&copy)
            .args(["--to", "fixtures/lab/out"])
            .any_status()
            .run();
        for (who, out) in [("verify --key", &verified), ("apply", &applied)] {
            let said = &out.stderr;
            assert!(
                out.code.is_some_and(|c| c != 0),
                "{what}: {who} took it: {}{said}",
                out.stdout
            );
            for word in words.iter() {
                assert!(
                    said.contains(word),
                    "{what}: {who} does not say {word:?}: {said}"
                );
            }
        }
        assert_same_tree(&before, &snapshot(&far.join("fixtures")), what);
        fs::remove_dir_all(&copy).unwrap();
    }

    // join.sh of the sound medium joins, and the joined medium still verifies.
    let joined = copy_of(&parts, "joined");
    Cmd::new("sh")
        .arg(joined.join("join.sh"))
        .arg("--remove-parts")
        .run();
    assert!(joined.join("out/files/etc/motd.txt").is_file());
    lab.seedforge()
        .args(["verify", "--key"])
        .arg(&public)
        .arg(&joined)
        .run();

    // The sound medium applies.
    common::far_side(&far)
        .arg("apply")
        .arg(&whole)
        .args(["--to", "fixtures/lab/out"])
        .run();
    crate::delta::assert_same_output(&far_out, &lab.out_dir());
}

/// Made where only the public key is, a signed output's delta is refused by `delta` (exit
/// 2, nothing written, saying how to sign it); made unsigned on purpose, the signed far
/// side refuses it by name (`verify --key` too), and takes it only when told to.
#[test]
fn a_signed_outputs_medium_made_without_the_key_is_refused_on_both_sides() {
    let (lab, far, public) = signed_crossing();
    fs::remove_file(lab.lab_dir().join("seal.key")).unwrap();
    let refused = lab.delta("r.json", "u").expect(2).run();
    assert!(
        refused.stderr.contains("--signing-key") && refused.stderr.contains("--allow-unsigned"),
        "{}",
        refused.stderr
    );
    assert!(!lab.root().join("u").exists());
    lab.delta("r.json", "u").arg("--allow-unsigned").run();
    let unsigned = lab.root().join("u");
    let verified = lab
        .seedforge()
        .args(["verify", "--key"])
        .arg(&public)
        .arg(&unsigned)
        .any_status()
        .run();
    assert_ne!(verified.code, Some(0), "{}", verified.stdout);
    assert!(
        verified
            .stderr
            .contains("statement.json.sigstore.json: missing"),
        "{}",
        verified.stderr
    );
    let before = snapshot(&far.join("fixtures"));
    let applied = common::far_side(&far)
        .arg("apply")
        .arg(&unsigned)
        .args(["--to", "fixtures/lab/out"])
        .any_status()
        .run();
    assert_ne!(applied.code, Some(0), "{}", applied.stdout);
    assert!(
        applied
            .stderr
            .contains("statement.json.sigstore.json: missing"),
        "{}",
        applied.stderr
    );
    assert_same_tree(
        &before,
        &snapshot(&far.join("fixtures")),
        "after the refusal",
    );
}

/// A delta applied, then rolled back by a new delta: the first one, whose base the far side
/// is again, is refused as a replay (exit 2, the far side as it was), and applied only with
/// `--allow-replay`, which the far side's history records.
#[test]
fn an_old_delta_replayed_after_a_rollback_is_refused() {
    let (lab, far, _public) = signed_crossing();
    let apply = |delta: &str| {
        common::far_side(&far)
            .arg("apply")
            .arg(lab.root().join(delta))
            .args(["--to", "fixtures/lab/out"])
    };
    apply("d").run();
    common::far_side(&far)
        .args(["receipt", "fixtures/lab/out", "-o"])
        .arg(lab.root().join("r2.json"))
        .run();
    // The near side rolls the change back: the config as it was, built, carried.
    let config = lab.lab_dir().join("seedforge.yaml");
    let text = fs::read_to_string(&config).unwrap();
    let cut = text.find("files:\n  - name: etc/motd.txt").unwrap();
    fs::write(&config, &text[..cut]).unwrap();
    lab.build();
    lab.delta("r2.json", "back").run();
    apply("back").run();
    let far_out = far.join("fixtures/lab/out");
    assert!(!far_out.join("files/etc/motd.txt").exists());
    let before = snapshot(&far.join("fixtures"));
    let replayed = apply("d").expect(2).run();
    assert!(
        replayed.stderr.contains("was applied here before")
            && replayed.stderr.contains("--allow-replay"),
        "{}",
        replayed.stderr
    );
    assert_same_tree(
        &before,
        &snapshot(&far.join("fixtures")),
        "after the replay",
    );
    apply("d").arg("--allow-replay").run();
    assert!(far_out.join("files/etc/motd.txt").is_file());
    let history: serde_json::Value =
        serde_json::from_slice(&fs::read(far_out.join(".seedforge/applied-history.json")).unwrap())
            .unwrap();
    let entries = history.as_array().unwrap();
    assert_eq!(entries.len(), 3, "{history:#}");
    assert_eq!(entries[0]["delta_sha256"], entries[2]["delta_sha256"]);
    assert_eq!(entries[2]["replayed"], true, "{history:#}");
    assert!(entries[0].get("replayed").is_none(), "{history:#}");
}
