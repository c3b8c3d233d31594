//! Files saved on Windows: a config, an image list and templates with CRLF line endings
//! (and a UTF-8 byte-order mark) mean exactly what their LF twins mean, and no `\r`
//! reaches a node; a carriage return anywhere else is refused naming the file and line.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use common::{Lab, snapshot};
use std::fs;
use std::path::{Path, PathBuf};

const TOKEN: &str = "K10-test-token-do-not-print";
const KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ05tBoRROahVHU1N7SljcfotznSRRkV+5ORnYz38/N4 ops@lab";

/// The demo with `lab-server1` installed by autoinstall, so both modes' templates are used.
fn lab() -> Lab {
    let lab = Lab::new();
    let dir = lab.lab_dir();
    fs::write(dir.join("token"), format!("{TOKEN}\n")).unwrap();
    let config = dir.join("seedforge.yaml");
    let text = fs::read_to_string(&config).unwrap().replacen(
        "    address: 192.168.6.10/24\n",
        "    address: 192.168.6.10/24\n    install: autoinstall\n",
        1,
    );
    fs::write(
        &config,
        format!("{text}autoinstall:\n  ssh_authorized_keys:\n    - {KEY}\n"),
    )
    .unwrap();
    lab
}

fn crlf(text: &str) -> String {
    text.replace('\n', "\r\n")
}

/// Rewrites `path` with CRLF line endings (and a byte-order mark if `bom`).
fn to_crlf(path: &Path, bom: bool) {
    let text = fs::read_to_string(path).unwrap();
    assert!(!text.contains('\r'));
    let prefix = if bom { "\u{feff}" } else { "" };
    fs::write(path, format!("{prefix}{}", crlf(&text))).unwrap();
}

fn seedforge(lab: &Lab, args: &[&str]) -> common::Cmd {
    lab.seedforge()
        .args(args)
        .args(["--config", lab.config_arg()])
}

fn render(lab: &Lab) -> PathBuf {
    seedforge(lab, &["render", "--out", "nodes"]).run();
    lab.root().join("nodes")
}

#[test]
fn a_crlf_config_and_image_list_mean_the_same_as_lf() {
    let (lf, windows) = (lab(), lab());
    to_crlf(&windows.lab_dir().join("seedforge.yaml"), true);
    to_crlf(&windows.lab_dir().join("images.txt"), true);
    let plan = |lab: &Lab| seedforge(lab, &["plan"]).arg("--json").run().json();
    assert_eq!(plan(&lf), plan(&windows));
    assert_eq!(snapshot(&render(&lf)), snapshot(&render(&windows)));
}

#[test]
fn a_crlf_config_error_names_the_same_line_and_column() {
    let message = |lab: &Lab| {
        let config = lab.lab_dir().join("seedforge.yaml");
        let text = fs::read_to_string(&config).unwrap();
        fs::write(&config, text.replacen("role: agent", "role: worker", 1)).unwrap();
        seedforge(lab, &["plan"]).expect(2).run().stderr
    };
    let (lf, windows) = (lab(), lab());
    to_crlf(&windows.lab_dir().join("seedforge.yaml"), false);
    let (a, b) = (message(&lf), message(&windows));
    assert!(a.contains("seedforge.yaml:") && a.contains("worker"), "{a}");
    assert_eq!(a, b);
}

/// The 1-based number of the line of `path` that contains `needle`.
fn line_of(path: &Path, needle: &str) -> usize {
    fs::read_to_string(path)
        .unwrap()
        .lines()
        .position(|l| l.contains(needle))
        .unwrap()
        + 1
}

#[test]
fn a_lone_carriage_return_in_the_config_or_a_list_is_refused_at_its_line() {
    let lab = lab();
    let config = lab.lab_dir().join("seedforge.yaml");
    let line = line_of(&config, "name: lab-agent2");
    let text = fs::read_to_string(&config).unwrap();
    fs::write(&config, text.replacen("lab-agent2", "lab-\ragent2", 1)).unwrap();
    let e = seedforge(&lab, &["plan"]).expect(2).run().stderr;
    assert!(
        e.contains(&format!("seedforge.yaml:{line}:")) && e.contains("carriage return"),
        "{e}"
    );

    let lab = self::lab();
    let list = lab.lab_dir().join("images.txt");
    let line = line_of(&list, "klipper-lb");
    let text = fs::read_to_string(&list).unwrap();
    let bad = text
        .lines()
        .enumerate()
        .map(|(i, l)| {
            if i + 1 == line {
                l.replacen(' ', "\r", 1)
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\r\n");
    fs::write(&list, bad).unwrap();
    let e = seedforge(&lab, &["plan"]).expect(2).run().stderr;
    assert!(
        e.contains(&format!("images.txt:{line}:")) && e.contains("carriage return"),
        "{e}"
    );
}

/// Every embedded template, as (path in a templates folder, repository file).
fn all_templates() -> Vec<(String, PathBuf)> {
    let root = common::repo_root().join("templates");
    let mut out = Vec::new();
    for (mode, prefix) in [("cloud-init", ""), ("autoinstall", "autoinstall/")] {
        for entry in fs::read_dir(root.join(mode)).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            out.push((format!("{prefix}{name}"), path));
        }
    }
    out.sort();
    out
}

/// Copies every embedded template into the lab's `templates` folder through `edit`, and
/// points the config at it.
fn override_all(lab: &Lab, edit: &dyn Fn(&str, String) -> String) {
    let dir = lab.lab_dir().join("templates");
    for (name, from) in all_templates() {
        let to = dir.join(&name);
        fs::create_dir_all(to.parent().unwrap()).unwrap();
        fs::write(&to, edit(&name, fs::read_to_string(from).unwrap())).unwrap();
    }
    let config = lab.lab_dir().join("seedforge.yaml");
    let text = fs::read_to_string(&config).unwrap();
    fs::write(&config, format!("{text}templates: templates\n")).unwrap();
}

#[test]
fn templates_saved_on_windows_render_the_same_files_without_carriage_returns() {
    let (lf, windows) = (lab(), lab());
    assert_eq!(
        all_templates().len(),
        8,
        "a template was added: cover it here"
    );
    override_all(&windows, &|name, t| {
        let bom = if name.ends_with("user-data.tera") {
            "\u{feff}"
        } else {
            ""
        };
        format!("{bom}{}", crlf(&t))
    });
    let (a, b) = (render(&lf), render(&windows));
    for (path, entry) in snapshot(&b) {
        if let common::Entry::File(bytes) = entry {
            assert!(!bytes.contains(&b'\r'), "\\r reached {}", path.display());
        }
    }
    // Same bytes, so the validation (run before anything is written) passed too.
    assert_eq!(snapshot(&a), snapshot(&b));
}

#[test]
fn a_lone_carriage_return_in_a_template_is_named_with_its_line() {
    let lab = lab();
    let target = "autoinstall/late-commands.sh.tera";
    override_all(&lab, &|name, t| {
        if name == target {
            t.replacen("set -euo pipefail", "set -euo\rpipefail", 1)
        } else {
            t
        }
    });
    let line = line_of(
        &common::repo_root().join("templates").join(target),
        "set -euo pipefail",
    );
    let e = seedforge(&lab, &["render", "--out", "nodes"])
        .expect(2)
        .run()
        .stderr;
    assert!(
        e.contains(&format!("late-commands.sh.tera:{line}: carriage return")),
        "{e}"
    );
    assert!(!lab.root().join("nodes").exists());
}
