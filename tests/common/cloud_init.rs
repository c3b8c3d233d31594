//! `cloud-init schema --config-file`, the judge of every cloud-config we render, run on many
//! files in one process: the command's own handler (`handle_schema_args` with the command's
//! own argument parser, from cloud-init's `cloudinit.config.schema`) is called once a file
//! by the Python that runs the `cloud-init` script. The verdicts are the command's; what is
//! saved is its start-up (importing cloud-init, seconds a call on a loaded machine), paid
//! once instead of once a file.

use super::bin::Cmd;
use std::fs;
use std::path::{Path, PathBuf};

/// What `cloud-init schema --config-file FILE` said of one file.
#[derive(Debug)]
pub struct Verdict {
    /// The exit status the command would have had (0: valid).
    pub code: i64,
    /// Its standard output and error, as it printed them.
    pub output: String,
}

impl Verdict {
    /// Valid, as the command says it: exit 0 and "Valid cloud-config".
    pub fn valid(&self) -> bool {
        self.code == 0 && self.output.contains("Valid cloud-config")
    }
}

const DRIVER: &str = r#"
import contextlib, io, json, sys
from cloudinit.config.schema import get_parser, get_schema, handle_schema_args
from jsonschema import FormatChecker
def formats(node, found):
    if isinstance(node, dict):
        f = node.get("format")
        if isinstance(f, str):
            found.add(f)
        for v in node.values():
            formats(v, found)
    elif isinstance(node, list):
        for v in node:
            formats(v, found)
    return found
checked = FormatChecker().checkers
print(json.dumps({"formats": {f: f in checked for f in sorted(formats(get_schema(), set()))}}), flush=True)
for path in sys.argv[1:]:
    out = io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        try:
            handle_schema_args("cloudconfig-schema", get_parser().parse_args(["--config-file", path]))
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
    print(json.dumps({"code": code, "output": out.getvalue()}), flush=True)
"#;

/// The interpreter named on the `cloud-init` script's `#!` line.
fn interpreter() -> PathBuf {
    let script = super::bin::which("cloud-init")
        .expect("cloud-init is on PATH (checked with require_tool first)");
    let text = fs::read_to_string(&script).unwrap();
    let line = text.lines().next().unwrap_or_default();
    let program = line
        .strip_prefix("#!")
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("{}: no #! line", script.display()));
    PathBuf::from(program)
}

/// Each `format` cloud-init's schema names, whether the judge's verdict checks it on a
/// Debian 12 node (cloud-init with python3-jsonschema and its recommends), and the
/// package that makes jsonschema check it. A format's checker comes from an optional
/// module: without python3-rfc3987 (only recommended by python3-jsonschema) cloud-init
/// calls `uri: "not a uri"` valid; with a `fqdn` module (no Debian 12 package has it)
/// it would refuse host names the node accepts. Either is another judge's verdict.
const FORMATS: &[(&str, bool, &str)] = &[
    ("date", true, "python3-jsonschema"),
    (
        "hostname",
        false,
        "fqdn (a Python module no Debian 12 package ships)",
    ),
    ("uri", true, "python3-rfc3987"),
];

/// Panics, naming the package, unless the judge checks exactly the formats a Debian 12
/// node's cloud-init checks: the verdicts below depend on it.
fn check_formats(line: &str) {
    let v: serde_json::Value = serde_json::from_str(line)
        .unwrap_or_else(|e| panic!("cloud-init schema driver: {e}: {line}"));
    let found = v["formats"]
        .as_object()
        .unwrap_or_else(|| panic!("cloud-init schema driver: no formats: {line}"));
    for (format, checked) in found {
        let checked = checked.as_bool().unwrap();
        let Some((_, want, package)) = FORMATS.iter().find(|(f, _, _)| f == format) else {
            panic!(
                "cloud-init's schema names format {format:?}, which this judge does not know: \
                 add it to FORMATS in tests/common/cloud_init.rs with the package that checks it"
            );
        };
        assert!(
            checked || !want,
            "cloud-init's schema judge does not check `format: {format}` here, which a Debian 12 \
             node's cloud-init does: {package} is missing (python3-jsonschema only recommends it; \
             scripts/test.sh installs it)"
        );
        assert!(
            !checked || *want,
            "cloud-init's schema judge checks `format: {format}` here, which a Debian 12 node's \
             cloud-init does not: {package} is present; remove it"
        );
    }
}

/// `cloud-init schema --config-file` on each of `files`, in order.
pub fn schema<P: AsRef<Path>>(files: &[P]) -> Vec<Verdict> {
    let out = Cmd::new(interpreter())
        .args(["-c", DRIVER])
        .args(files.iter().map(|p| p.as_ref().as_os_str()))
        .run();
    let mut lines = out.stdout.lines();
    check_formats(lines.next().unwrap_or_default());
    let verdicts: Vec<Verdict> = lines
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("cloud-init schema driver: {e}: {line}"));
            Verdict {
                code: v["code"].as_i64().unwrap(),
                output: v["output"].as_str().unwrap().to_string(),
            }
        })
        .collect();
    assert_eq!(
        verdicts.len(),
        files.len(),
        "cloud-init schema driver: {}{}",
        out.stdout,
        out.stderr
    );
    verdicts
}

/// Asserts that cloud-init's schema accepts every one of `files`.
pub fn assert_valid<P: AsRef<Path>>(files: &[P]) {
    for (file, verdict) in files.iter().zip(schema(files)) {
        assert!(
            verdict.valid(),
            "cloud-init schema --config-file {}: {}",
            file.as_ref().display(),
            verdict.output
        );
    }
}
