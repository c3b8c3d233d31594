//! Records the commit and its date the binary is built from, for `--version` and
//! manifest.json: `SEEDFORGE_COMMIT` (12 hex digits, or "unknown" outside a git checkout) and
//! `SEEDFORGE_COMMIT_DATE` (YYYY-MM-DD). `SEEDFORGE_COMMIT` set in the environment wins
//! (a build from a source tarball can say where it came from).

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && !text.is_empty()).then_some(text)
}

fn main() {
    println!("cargo:rerun-if-env-changed=SEEDFORGE_COMMIT");
    println!("cargo:rerun-if-env-changed=SEEDFORGE_COMMIT_DATE");
    // Built again when HEAD moves: HEAD itself, the branch it names, packed refs.
    let mut watch = vec!["HEAD".to_string(), "packed-refs".to_string()];
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watch.push(branch);
    }
    for name in watch {
        if let Some(path) = git(&["rev-parse", "--git-path", &name])
            && std::path::Path::new(&path).exists()
        {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    let commit = std::env::var("SEEDFORGE_COMMIT")
        .ok()
        .filter(|c| !c.is_empty())
        .or_else(|| git(&["rev-parse", "--short=12", "HEAD"]))
        .unwrap_or_else(|| "unknown".into());
    let date = std::env::var("SEEDFORGE_COMMIT_DATE")
        .ok()
        .filter(|d| !d.is_empty())
        .or_else(|| git(&["log", "-1", "--format=%cs"]))
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=SEEDFORGE_COMMIT={commit}");
    println!("cargo:rustc-env=SEEDFORGE_COMMIT_DATE={date}");
}
