//! The `--json` documents judged against their JSON Schemas (docs/schemas/, draft
//! 2020-12) by a real validator, Python's `jsonschema`: one Python process for the whole
//! test binary, fed one document a line and answering with the errors found, so a
//! document costs a line on a pipe, not a Python start.
//!
//! The Python is `$SEEDFORGE_SBOM_PYTHON`, the venv scripts/test.sh fills in
//! target/pyvenv, or python3, whichever has `jsonschema` with draft 2020-12. Missing: fails
//! under `CI=true`, otherwise the schema part of a check is skipped (the `schema` and
//! `warnings` fields are still checked).

use super::repo_root;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Mutex, OnceLock};

/// Reads `{"schema": FILE, "doc": DOCUMENT}` lines; answers each with a JSON list of the
/// errors (empty when the document is valid).
const SERVER: &str = r#"
import json, sys
from jsonschema import Draft202012Validator
validators = {}
for line in sys.stdin:
    req = json.loads(line)
    path = req["schema"]
    if path not in validators:
        with open(path) as f:
            schema = json.load(f)
        Draft202012Validator.check_schema(schema)
        validators[path] = Draft202012Validator(schema)
    errors = sorted(
        "/".join(str(p) for p in e.absolute_path) + ": " + e.message
        for e in validators[path].iter_errors(req["doc"])
    )
    print(json.dumps(errors), flush=True)
"#;

struct Server {
    _child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

fn python() -> Option<PathBuf> {
    judges_python(
        "from jsonschema import Draft202012Validator",
        "python's jsonschema (draft 2020-12)",
        "the --json documents are not judged",
    )
}

/// The python of the Python judges that can run `import` (`$SEEDFORGE_SBOM_PYTHON`, the
/// venv scripts/test.sh fills in target/pyvenv, or python3). Missing: fails under
/// `CI=true` naming `what`, otherwise says what is `skipped` and returns None.
pub fn judges_python(import: &str, what: &str, skipped: &str) -> Option<PathBuf> {
    let mut candidates = Vec::new();
    if let Some(p) = std::env::var_os("SEEDFORGE_SBOM_PYTHON") {
        candidates.push(PathBuf::from(p));
    }
    candidates.push(repo_root().join("target/pyvenv/bin/python"));
    candidates.push(PathBuf::from("python3"));
    for python in candidates {
        let ok = Command::new(&python)
            .args(["-c", import])
            .output()
            .is_ok_and(|o| o.status.success());
        if ok {
            return Some(python);
        }
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{what} is missing (scripts/test.sh installs it into target/pyvenv)"
    );
    eprintln!("SKIP: {what} is missing; {skipped}");
    None
}

fn server() -> Option<&'static Mutex<Server>> {
    static SERVER_: OnceLock<Option<Mutex<Server>>> = OnceLock::new();
    SERVER_
        .get_or_init(|| {
            let python = python()?;
            let mut child = Command::new(python)
                .args(["-c", SERVER])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .expect("start the jsonschema validator");
            let stdin = child.stdin.take().unwrap();
            let stdout = BufReader::new(child.stdout.take().unwrap());
            Some(Mutex::new(Server {
                _child: child,
                stdin,
                stdout,
            }))
        })
        .as_ref()
}

/// The schema file of a document's `schema` (`seedforge.build/v1`:
/// docs/schemas/build.v1.json).
pub fn schema_file(schema: &str) -> PathBuf {
    let rest = schema
        .strip_prefix("seedforge.")
        .unwrap_or_else(|| panic!("schema {schema:?} does not start with seedforge."));
    let (kind, version) = rest
        .split_once('/')
        .unwrap_or_else(|| panic!("schema {schema:?} has no /vN"));
    repo_root()
        .join("docs/schemas")
        .join(format!("{kind}.{version}.json"))
}

/// Checks a `--json` document: a `schema` naming its kind and a `warnings` array of
/// strings (always), then the whole document against its kind's JSON Schema. Returns the
/// kind (`build`, `verify-delta`, `error`).
pub fn check(doc: &serde_json::Value) -> String {
    let schema = doc["schema"]
        .as_str()
        .unwrap_or_else(|| panic!("a --json document without schema: {doc:#}"));
    let warnings = doc["warnings"]
        .as_array()
        .unwrap_or_else(|| panic!("a --json document without warnings: {doc:#}"));
    assert!(
        warnings.iter().all(serde_json::Value::is_string),
        "warnings are strings: {doc:#}"
    );
    let file = schema_file(schema);
    assert!(file.is_file(), "{}: no schema for {schema}", file.display());
    let kind = schema["seedforge.".len()..]
        .split_once('/')
        .map(|(k, _)| k.to_owned())
        .unwrap();
    let Some(server) = server() else {
        return kind;
    };
    let mut s = server.lock().unwrap_or_else(|e| e.into_inner());
    let line = serde_json::json!({ "schema": file, "doc": doc }).to_string();
    writeln!(s.stdin, "{line}").expect("write to the jsonschema validator");
    s.stdin.flush().unwrap();
    let mut answer = String::new();
    s.stdout
        .read_line(&mut answer)
        .expect("read the jsonschema validator");
    let errors: Vec<String> = serde_json::from_str(&answer)
        .unwrap_or_else(|e| panic!("the jsonschema validator answered {answer:?}: {e}"));
    assert!(
        errors.is_empty(),
        "{schema} document does not match {}:\n  {}\n{doc:#}",
        file.display(),
        errors.join("\n  ")
    );
    kind
}

/// [`check`], and that the document is of `kind`.
pub fn check_kind(kind: &str, doc: &serde_json::Value) {
    assert_eq!(check(doc), kind, "{doc:#}");
}

/// [`check_kind`] of the JSON document `stdout` holds.
pub fn check_stdout(kind: &str, stdout: &str) -> serde_json::Value {
    let doc: serde_json::Value = serde_json::from_str(stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}): {stdout}"));
    check_kind(kind, &doc);
    doc
}

/// The warnings a run said on stderr (`warning: …` lines, without the prefix), which its
/// document's `warnings` holds.
pub fn stderr_warnings(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .filter_map(|l| l.strip_prefix("warning: "))
        .map(str::to_owned)
        .collect()
}
