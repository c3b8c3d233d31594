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
from cloudinit.config.schema import get_parser, handle_schema_args
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

/// `cloud-init schema --config-file` on each of `files`, in order.
pub fn schema<P: AsRef<Path>>(files: &[P]) -> Vec<Verdict> {
    let out = Cmd::new(interpreter())
        .args(["-c", DRIVER])
        .args(files.iter().map(|p| p.as_ref().as_os_str()))
        .run();
    let verdicts: Vec<Verdict> = out
        .stdout
        .lines()
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
