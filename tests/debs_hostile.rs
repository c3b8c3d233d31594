//! What a hostile value cannot do through `seedforge debs`: a bundle name that is not a
//! plain word (it would land in install.sh, a marker file name and a log tag) is refused
//! before anything is written, and a path an index gives that leads out of its repository
//! (`Filename: pool/main/../../../outside/x.deb`) is refused naming the index and field,
//! over file:// and over http.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use common::Cmd;
use common::debs::{HttpServer, fixture_debs, make_repo};
use std::fs;
use std::path::Path;

fn base_file(dir: &Path) -> std::path::PathBuf {
    let base = dir.join("base.txt");
    fs::write(&base, "libc6:amd64\t2.36-9+deb12u10\n").unwrap();
    base
}

#[test]
fn a_bundle_name_that_is_not_a_plain_word_exits_2_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let base = base_file(tmp.path());
    let out_dir = tmp.path().join("out");
    fs::create_dir_all(&out_dir).unwrap();
    let debs = |out: &str| {
        Cmd::seedforge()
            .args(["debs", "--package", "jq", "--deb"])
            .args(fixture_debs())
            .arg("--base")
            .arg(&base)
            .arg("--out")
            .arg(out_dir.join(out))
    };
    for name in [
        "x'; touch /tmp/p; '",
        "a b",
        "$(id)",
        "-rf",
        ".hidden",
        "",
        "a\nb",
        "ops/../x",
    ] {
        let run = debs("ops.tar.gz")
            .arg(format!("--name={name}"))
            .expect(2)
            .run();
        assert!(run.stderr.contains("--name"), "{name:?}: {}", run.stderr);
        assert!(run.stderr.contains("bundle name"), "{}", run.stderr);
    }
    // The name taken from --out is held to the same rule, and the message says so.
    let run = debs("q'q.tar.gz").expect(2).run();
    assert!(run.stderr.contains("--out"), "{}", run.stderr);
    assert!(run.stderr.contains("\"q'q\""), "{}", run.stderr);
    assert!(
        common::names_in(&out_dir).is_empty(),
        "{:?}",
        common::names_in(&out_dir)
    );
    // Ordinary names, with the characters the rule allows, still build.
    debs("ops.tar.gz").args(["--name", "Ops_1.2+x-y"]).run();
    // The bundle, and the record of what it was written from.
    assert_eq!(
        common::names_in(&out_dir),
        [".ops.tar.gz.seedforge.json", "ops.tar.gz"]
    );
}

/// A repository whose libonig5 entry says `Filename: pool/main/../../../outside/...`,
/// which leads to a real .deb beside the repository (hashes and all match).
fn escaping_repo(srv: &Path) -> std::path::PathBuf {
    let repo = srv.join("repo");
    make_repo(&repo, &fixture_debs());
    let onig = fixture_debs()
        .into_iter()
        .find(|d| {
            d.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("libonig5")
        })
        .unwrap();
    let name = onig.file_name().unwrap().to_string_lossy().into_owned();
    fs::create_dir_all(srv.join("outside")).unwrap();
    fs::copy(&onig, srv.join("outside").join(&name)).unwrap();
    let index = repo.join("dists/bookworm/main/binary-amd64/Packages");
    let text = fs::read_to_string(&index).unwrap().replace(
        &format!("Filename: pool/main/{name}"),
        &format!("Filename: pool/main/../../../outside/{name}"),
    );
    assert!(text.contains("/outside/"));
    fs::write(&index, text).unwrap();
    common::debs::sh(
        &repo,
        "cd dists/bookworm/main/binary-amd64 && rm -f Packages.gz Packages.xz
         gzip -9nk Packages && xz -k Packages && cd ../../../..
         apt-ftparchive -o APT::FTPArchive::Release::Suite=bookworm release dists/bookworm > Release.tmp
         mv Release.tmp dists/bookworm/Release",
    );
    repo
}

#[test]
fn a_filename_leading_out_of_the_repository_is_refused() {
    if !common::require_tool("apt-ftparchive")
        || !common::require_tool("xz")
        || !common::require_tool("python3")
    {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let srv = tmp.path().join("srv");
    let repo = escaping_repo(&srv);
    let base = base_file(tmp.path());
    let server = HttpServer::start(&srv);
    let over_file = format!("file://{}", repo.display());
    let over_http = format!("{}/repo", server.url);
    for url in [over_file, over_http] {
        let out = tmp.path().join("ops.tar.gz");
        let run = Cmd::seedforge()
            .args(["debs", "--repo", &url, "--suite", "bookworm"])
            .args(["--package", "jq", "--base"])
            .arg(&base)
            .arg("--out")
            .arg(&out)
            .expect(2)
            .run();
        for part in [
            "binary-amd64/Packages",
            "package libonig5: Filename",
            "leads outside the repository",
            url.as_str(),
        ] {
            assert!(
                run.stderr.contains(part),
                "{url}: no {part:?} in {}",
                run.stderr
            );
        }
        assert!(!out.exists());
        assert_eq!(common::names_in(tmp.path()), ["base.txt", "srv"]);
    }
}
