//! `seedforge.yaml(5)`: `seedforge man` writes it beside the commands' pages, `man -l`
//! renders it without a warning, `man seedforge.yaml` finds it once it is under `man5/`,
//! and it lists every key of docs/config.md's table of keys.

use crate::common::{self, Cmd};
use std::collections::BTreeSet;
use std::path::Path;

/// The keys docs/config.md lists: the first column (in backticks) of its table whose
/// header starts with `| key |`.
fn documented_keys() -> Vec<String> {
    let md = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/config.md"))
        .unwrap();
    let mut keys = Vec::new();
    let mut in_table = false;
    for line in md.lines() {
        if line.starts_with("| key |") {
            in_table = true;
            continue;
        }
        if !line.starts_with('|') {
            in_table = false;
        }
        if !in_table || line.starts_with("|---") {
            continue;
        }
        let cell = line
            .trim_start_matches('|')
            .split('|')
            .next()
            .unwrap()
            .trim();
        let key = cell.trim_matches('`');
        assert!(
            cell.starts_with('`') && cell.ends_with('`') && !key.contains('`'),
            "docs/config.md: a key is one code span: {line}"
        );
        keys.push(key.to_string());
    }
    keys
}

/// Text as a terminal shows it, without the overstrikes of bold and underlined letters.
fn plain(text: &str) -> String {
    let mut out: Vec<char> = Vec::new();
    for c in text.chars() {
        if c == '\u{8}' {
            out.pop();
        } else {
            out.push(c);
        }
    }
    out.into_iter().collect()
}

#[test]
fn the_config_manual_page_renders_and_lists_every_documented_key() {
    let keys = documented_keys();
    assert!(keys.len() > 80, "{keys:?}");
    for key in ["version", "cluster.k3s_version", "seeds.payload"] {
        assert!(keys.iter().any(|k| k == key), "{key} not in {keys:?}");
    }
    let dir = tempfile::tempdir().unwrap();
    let out = Cmd::seedforge().arg("man").arg(dir.path()).run();
    let page = dir.path().join("seedforge.yaml.5");
    assert!(
        out.stdout.contains(&format!("wrote {}", page.display())),
        "{}",
        out.stdout
    );
    let source = std::fs::read_to_string(&page).unwrap();
    assert!(source.contains(".TH SEEDFORGE.YAML 5"), "{source}");
    if !common::require_tool("man") {
        return;
    }
    let rendered = Cmd::new("man")
        .env("MANWIDTH", "100")
        .env("LC_ALL", "C.UTF-8")
        .args(["--warnings", "-l"])
        .arg(&page)
        .run();
    assert!(rendered.stderr.trim().is_empty(), "{}", rendered.stderr);
    let text = plain(&rendered.stdout);
    assert!(text.contains("seedforge.yaml - the config file"), "{text}");
    // Each key is a tag (`.TP`): a line of its own, its type on the next.
    let lines: Vec<&str> = text.lines().collect();
    let tags: BTreeSet<&str> = lines
        .windows(2)
        .filter(|w| w[1].trim_start().starts_with("type: "))
        .map(|w| w[0].trim())
        .collect();
    let missing: Vec<&String> = keys.iter().filter(|k| !tags.contains(k.as_str())).collect();
    assert!(
        missing.is_empty(),
        "not in the manual page: {missing:?}\n{text}"
    );
    let extra: Vec<&&str> = tags
        .iter()
        .filter(|t| !keys.iter().any(|k| k == *t))
        .collect();
    assert!(extra.is_empty(), "not in docs/config.md: {extra:?}");

    // Installed under man5/, `man seedforge.yaml` finds it.
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir(root.path().join("man5")).unwrap();
    std::fs::copy(&page, root.path().join("man5/seedforge.yaml.5")).unwrap();
    let found = Cmd::new("man")
        .env("MANPATH", root.path().to_str().unwrap())
        .args(["-w", "seedforge.yaml"])
        .run();
    assert_eq!(
        found.stdout.trim(),
        root.path().join("man5/seedforge.yaml.5").to_str().unwrap()
    );
}
