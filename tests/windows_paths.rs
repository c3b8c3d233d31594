//! Windows paths (`C:\...`, `C:/...`, `c:name`, `\\server\share`, `dir\file`) where a Linux
//! path is expected: refused with exit 2, naming the config field at its line (or the
//! flag) and the Linux path to write, and nothing written. On Linux such a value is a
//! relative name with a colon and backslashes; accepted, it would build into a folder of
//! that literal name beside the config.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use crate::common;

use common::{Cmd, assert_same_tree, snapshot};
use std::fs;

/// A config whose every other value is sound; `{token}`, `{list}` and `{extra}` are
/// replaced per case.
const BASE: &str = "\
version: 1
cluster:
  name: lab
  k3s_version: v1.33.1+k3s1
  token: {token}
registry:
  host: 192.168.6.1
images:
  lists:
    - {list}
nodes:
  - name: s1
    role: server
    address: 192.168.6.10/24
{extra}";

#[test]
fn a_windows_path_in_any_path_field_of_the_config_is_refused_at_its_line() {
    // (the field as the message names it, token, list, extra lines)
    let cases: &[(&str, &str, &str, &str)] = &[
        (
            "output",
            "{file: token}",
            "images.txt",
            "output: 'C:\\Users\\me\\out'\n",
        ),
        (
            "output",
            "{file: token}",
            "images.txt",
            "output: 'D:/seeds/out'\n",
        ),
        (
            "export_dir",
            "{file: token}",
            "images.txt",
            "export_dir: 'C:\\Users\\me\\Desktop\\seeds'\n",
        ),
        (
            "templates",
            "{file: token}",
            "images.txt",
            "templates: 'c:templates'\n",
        ),
        (
            "images.lists[0]",
            "{file: token}",
            "'C:\\lists\\images.txt'",
            "",
        ),
        (
            "images.lists[0]",
            "{file: token}",
            "'lists\\images.txt'",
            "",
        ),
        (
            "cluster.token.file",
            "{file: 'C:\\secrets\\token'}",
            "images.txt",
            "",
        ),
        (
            "files[0].source",
            "{file: token}",
            "images.txt",
            "files:\n  - name: tool\n    source: 'C:\\tools\\tool'\n    sha256: 0000000000000000000000000000000000000000000000000000000000000000\n",
        ),
        (
            "packages[0].base",
            "{file: token}",
            "images.txt",
            "packages:\n  - name: ops\n    base: 'C:\\debs\\base.txt'\n",
        ),
        (
            "packages[0].debs[1]",
            "{file: token}",
            "images.txt",
            "packages:\n  - name: ops\n    debs: [a.deb, 'C:\\debs\\b.deb']\n",
        ),
        (
            "packages[0].repos[0].keyring",
            "{file: token}",
            "images.txt",
            "packages:\n  - name: ops\n    repos:\n      - url: http://deb.example/debian\n        suite: stable\n        keyring: '\\\\server\\share\\key.gpg'\n",
        ),
        (
            "registries[0].ca_file",
            "{file: token}",
            "images.txt",
            "registries:\n  - host: r.example\n    ca_file: 'C:/certs/ca.pem'\n",
        ),
        (
            "registries[0].password.file",
            "{file: token}",
            "images.txt",
            "registries:\n  - host: r.example\n    username: me\n    password: {file: 'C:\\pw'}\n",
        ),
        (
            "autoinstall.password.file",
            "{file: token}",
            "images.txt",
            "autoinstall:\n  password: {file: 'C:\\pw'}\n",
        ),
        (
            "charts[0].values",
            "{file: token}",
            "images.txt",
            "charts:\n  - name: demo\n    repo: https://charts.example\n    version: 1.2.3\n    values: 'C:\\charts\\demo-values.yaml'\n",
        ),
        (
            "charts[0].values",
            "{file: token}",
            "images.txt",
            "charts:\n  - name: demo\n    repo: https://charts.example\n    version: 1.2.3\n    values: 'values\\demo.yaml'\n",
        ),
        (
            "manifests[1]",
            "{file: token}",
            "images.txt",
            "manifests:\n  - manifests\n  - '\\\\server\\share\\app.yaml'\n",
        ),
        (
            "manifests[0]",
            "{file: token}",
            "images.txt",
            "manifests:\n  - 'D:/k8s/app.yaml'\n",
        ),
    ];
    for (field, token, list, extra) in cases {
        let dir = tempfile::tempdir().unwrap();
        let text = BASE
            .replace("{token}", token)
            .replace("{list}", list)
            .replace("{extra}", extra);
        fs::write(dir.path().join("seedforge.yaml"), &text).unwrap();
        fs::write(dir.path().join("token"), "t0ken\n").unwrap();
        fs::write(dir.path().join("images.txt"), "").unwrap();
        let before = snapshot(dir.path());
        let out = Cmd::seedforge()
            .cwd(dir.path())
            .args(["build", "--config", "seedforge.yaml"])
            .expect(2)
            .run();
        let line = text
            .lines()
            .position(|l| {
                l.contains('\\') || l.contains("c:") || (l.contains(":/") && !l.contains("://"))
            })
            .unwrap()
            + 1;
        let want = format!("seedforge.yaml:{line}:");
        assert!(
            out.stderr.contains(&want) && out.stderr.contains(&format!("{field}: '")),
            "{field}: wanted {want} and the field in:\n{}",
            out.stderr
        );
        assert!(out.stderr.contains("Windows"), "{field}:\n{}", out.stderr);
        assert_same_tree(&before, &snapshot(dir.path()), field);
    }
}

#[test]
fn an_output_written_as_a_drive_path_names_its_linux_path_and_builds_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let text = BASE
        .replace("{token}", "{file: token}")
        .replace("{list}", "images.txt")
        .replace("{extra}", "output: 'C:\\Users\\me\\out'\n");
    fs::write(dir.path().join("seedforge.yaml"), &text).unwrap();
    fs::write(dir.path().join("token"), "t0ken\n").unwrap();
    fs::write(dir.path().join("images.txt"), "").unwrap();
    for command in ["build", "plan"] {
        let out = Cmd::seedforge()
            .cwd(dir.path())
            .args([command, "--config", "seedforge.yaml"])
            .expect(2)
            .run();
        // This machine is no WSL: the advice is worded for any system, with the WSL form.
        assert!(
            out.stderr
                .contains("seedforge.yaml:15:9: output: 'C:\\Users\\me\\out' is a Windows path")
                && out.stderr.contains("/mnt/c/Users/me/out"),
            "{}",
            out.stderr
        );
    }
    let names: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!names.iter().any(|n| n.contains("C:")), "{names:?}");
}

#[test]
fn a_windows_path_given_to_a_path_flag_is_refused_naming_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("seedforge.yaml"), "version: 1\n").unwrap();
    let cases: &[(&[&str], &str)] = &[
        (
            &["build", "--out", "C:\\Users\\me\\out"],
            "--out: 'C:\\Users\\me\\out'",
        ),
        (
            &["build", "--config", "D:/lab/seedforge.yaml"],
            "--config: 'D:/lab/seedforge.yaml'",
        ),
        (&["render", "--out", "e:nodes"], "--out: 'e:nodes'"),
        (
            &["verify", "\\\\server\\share\\out"],
            "<DIR>: '\\\\server\\share\\out'",
        ),
        (
            &[
                "pki",
                "--host",
                "10.0.0.1",
                "--out",
                "pki",
                "--ca-cert",
                "C:\\ca.crt",
                "--ca-key",
                "ca.key",
            ],
            "--ca-cert: 'C:\\ca.crt'",
        ),
        (&["clean", "out\\old"], "<DIR>: 'out\\old'"),
    ];
    let before = snapshot(dir.path());
    for (args, want) in cases {
        let out = Cmd::seedforge()
            .cwd(dir.path())
            .args(args.iter().copied())
            .expect(2)
            .run();
        assert!(
            out.stderr.starts_with(&format!("error: {want}")),
            "{args:?}:\n{}",
            out.stderr
        );
    }
    assert_same_tree(&before, &snapshot(dir.path()), "after the refused commands");
    // `//server/share` is a Linux path (Linux reads a leading `//` as `/`): not refused as
    // a Windows one.
    let out = Cmd::seedforge()
        .cwd(dir.path())
        .args(["verify", "//nonexistent-seedforge-test/share"])
        .any_status()
        .run();
    assert!(!out.stderr.contains("Windows"), "{}", out.stderr);
}

#[test]
fn a_windows_path_in_an_image_list_source_is_refused_at_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let text = BASE
        .replace("{token}", "{file: token}")
        .replace("{list}", "images.txt")
        .replace("{extra}", "");
    fs::write(dir.path().join("seedforge.yaml"), &text).unwrap();
    fs::write(dir.path().join("token"), "t0ken\n").unwrap();
    fs::write(
        dir.path().join("images.txt"),
        "# local archives\noci-archive:C:\\images\\pause.tar:rancher/mirrored-pause:3.6\n",
    )
    .unwrap();
    let before = snapshot(dir.path());
    let out = Cmd::seedforge()
        .cwd(dir.path())
        .args(["build", "--config", "seedforge.yaml"])
        .expect(2)
        .run();
    assert!(
        out.stderr.contains("images.txt:2")
            && out
                .stderr
                .contains("'C:\\images\\pause.tar' is a Windows path")
            && out.stderr.contains("/mnt/c/images/pause.tar"),
        "{}",
        out.stderr
    );
    assert_same_tree(&before, &snapshot(dir.path()), "after the refused build");
}

/// Every path field of the config is read as `winpath::LinuxPath`, whose deserializing
/// refuses a Windows path: checked on the parsed source, so a new path field cannot skip
/// the check by being a `PathBuf`. From `RawConfig`, every type that derives `Deserialize`
/// and is reachable through its fields (and `#[serde(try_from/from = "...")]`) has no field
/// of type `PathBuf`, `Path` or `OsString` (a type read through another is judged by that
/// one's fields). A type that reads itself by hand (its own
/// `Deserialize`, such as `Secret` and `FileSource`) is a leaf: it reads its paths as
/// `LinuxPath` in that code.
#[test]
fn no_config_type_reads_a_path_past_the_windows_path_check() {
    use std::collections::{BTreeMap, BTreeSet};
    use syn::visit::Visit;

    /// The idents of every path segment in a type (`Option<Vec<PathBuf>>`: Option, Vec,
    /// PathBuf).
    struct Idents(BTreeSet<String>);
    impl<'ast> Visit<'ast> for Idents {
        fn visit_path_segment(&mut self, s: &'ast syn::PathSegment) {
            self.0.insert(s.ident.to_string());
            syn::visit::visit_path_segment(self, s);
        }
    }

    fn rust_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for e in fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                rust_files(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }

    /// A type deriving `Deserialize`: its fields (name, idents of its type) and the types
    /// it is read through (`try_from`/`from`).
    #[derive(Default)]
    struct Read {
        fields: Vec<(String, BTreeSet<String>)>,
        via: Vec<String>,
    }

    /// The tokens of a list attribute (`derive(...)`, `serde(...)`), as text.
    fn list_text(a: &syn::Attribute) -> String {
        match &a.meta {
            syn::Meta::List(l) => l.tokens.to_string(),
            _ => String::new(),
        }
    }

    /// Every type of a file that derives `Deserialize`, in nested modules too.
    struct Collect<'t>(&'t mut BTreeMap<String, Vec<Read>>);
    impl Collect<'_> {
        fn add<'f>(
            &mut self,
            name: String,
            attrs: &[syn::Attribute],
            fields: impl Iterator<Item = &'f syn::Field>,
        ) {
            let derives = attrs
                .iter()
                .any(|a| a.path().is_ident("derive") && list_text(a).contains("Deserialize"));
            if !derives {
                return;
            }
            let mut read = Read::default();
            for a in attrs.iter().filter(|a| a.path().is_ident("serde")) {
                let text = list_text(a);
                for key in ["try_from", "from"] {
                    if let Some(rest) = text.split(&format!("{key} = \"")).nth(1) {
                        read.via.push(rest.split('"').next().unwrap().to_string());
                    }
                }
            }
            for (i, f) in fields.enumerate() {
                let skipped = f
                    .attrs
                    .iter()
                    .any(|a| a.path().is_ident("serde") && list_text(a).contains("skip"));
                if skipped {
                    continue;
                }
                let mut idents = Idents(BTreeSet::new());
                idents.visit_type(&f.ty);
                let field = f.ident.as_ref().map_or(i.to_string(), |n| n.to_string());
                read.fields.push((field, idents.0));
            }
            self.0.entry(name).or_default().push(read);
        }
    }
    impl<'ast> Visit<'ast> for Collect<'_> {
        fn visit_item_struct(&mut self, s: &'ast syn::ItemStruct) {
            self.add(s.ident.to_string(), &s.attrs, s.fields.iter());
        }
        fn visit_item_enum(&mut self, e: &'ast syn::ItemEnum) {
            let fields = e.variants.iter().flat_map(|v| v.fields.iter());
            self.add(e.ident.to_string(), &e.attrs, fields);
        }
    }

    let mut types: BTreeMap<String, Vec<Read>> = BTreeMap::new();
    let mut files = Vec::new();
    rust_files(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    for file in files {
        let parsed = syn::parse_file(&fs::read_to_string(&file).unwrap()).unwrap();
        Collect(&mut types).visit_file(&parsed);
    }

    let mut seen = BTreeSet::new();
    let mut todo = vec!["RawConfig".to_string()];
    let mut bad = Vec::new();
    while let Some(name) = todo.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        for read in types.get(&name).into_iter().flatten() {
            // Read through another type: that type's fields are what is read.
            if !read.via.is_empty() {
                todo.extend(
                    read.via
                        .iter()
                        .map(|v| v.rsplit("::").next().unwrap().to_string()),
                );
                continue;
            }
            for (field, idents) in &read.fields {
                for ident in idents {
                    if ["PathBuf", "Path", "OsString"].contains(&ident.as_str()) {
                        bad.push(format!("{name}.{field}: {ident}"));
                    }
                    if types.contains_key(ident) {
                        todo.push(ident.clone());
                    }
                }
            }
        }
    }
    assert!(
        seen.contains("RawChart") && seen.contains("RawBundle"),
        "{seen:?}"
    );
    assert!(
        bad.is_empty(),
        "config fields read as a path without the Windows-path check (make them winpath::LinuxPath): {bad:?}"
    );
}
