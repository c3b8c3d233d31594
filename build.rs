//! Records the commit and its date the binary is built from, for `--version` and
//! manifest.json: `SEEDFORGE_COMMIT` (12 hex digits, or "unknown" outside a git checkout) and
//! `SEEDFORGE_COMMIT_DATE` (YYYY-MM-DD). `SEEDFORGE_COMMIT` set in the environment wins
//! (a build from a source tarball can say where it came from).
//!
//! On Linux with glibc it also links the unwinder statically ([`static_unwinder`]).

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
    static_unwinder();
}

/// Links the unwinder (`libgcc_eh.a`) into the binary instead of loading `libgcc_s.so.1`
/// at every start, as `gcc -static-libgcc` does for C programs (Rust's standard library
/// asks for `-lgcc_s` by name, so the flag alone does not do it): a `libgcc_s.so` linker
/// script in OUT_DIR, searched first, stands for `libgcc_eh.a`. One shared library fewer
/// to find and page in: a few milliseconds of a cold start (BENCHMARKS.md), which is most
/// of what `seedforge iso` costs on a copy-on-write file system. Skipped when cross
/// compiling, for static (crt-static) builds, and when the C compiler has no
/// `libgcc_eh.a`: those link as usual.
fn static_unwinder() {
    let var = |k: &str| std::env::var(k).unwrap_or_default();
    if var("CARGO_CFG_TARGET_OS") != "linux"
        || var("CARGO_CFG_TARGET_ENV") != "gnu"
        || var("TARGET") != var("HOST")
        || var("CARGO_CFG_TARGET_FEATURE")
            .split(',')
            .any(|f| f == "crt-static")
    {
        return;
    }
    let Ok(out) = Command::new("cc")
        .arg("-print-file-name=libgcc_eh.a")
        .output()
    else {
        return;
    };
    let eh = String::from_utf8_lossy(&out.stdout).trim().to_string();
    // Not found, cc prints the bare name back.
    if !out.status.success() || !std::path::Path::new(&eh).is_absolute() {
        return;
    }
    let Some(dir) = std::env::var_os("OUT_DIR").map(std::path::PathBuf::from) else {
        return;
    };
    let dir = dir.join("static-unwinder");
    if std::fs::create_dir_all(&dir).is_err()
        || std::fs::write(dir.join("libgcc_s.so"), format!("INPUT({eh})\n")).is_err()
    {
        return;
    }
    println!("cargo:rustc-link-search=native={}", dir.display());
}
