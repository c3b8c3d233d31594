//! The download cache of `seedforge debs` and `build`: a warm run downloads no .deb and no
//! unchanged index (counted in the repository server's request log), a damaged entry is
//! fetched again and never bundled, `--no-cache` downloads everything, `gc --cache` empties
//! it, and the bundle is the same bytes with the cache or without. A second run of the same
//! bundle keeps it as it is; any change of what goes into it, or a damaged bundle, writes it
//! again. A run that stores nothing (refused with exit 2, or a build without packages)
//! makes no cache folder.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use common::Cmd;
use common::debs::{HttpServer, fixture_debs, make_repo, sh};
use std::fs;
use std::path::{Path, PathBuf};

/// A repository of the fixture .debs served over http with a request log.
struct Repo {
    root: PathBuf,
    log: PathBuf,
    server: HttpServer,
}

impl Repo {
    fn start(tmp: &Path) -> Repo {
        let root = tmp.join("repo");
        make_repo(&root, &fixture_debs());
        let log = tmp.join("requests.log");
        let server = HttpServer::start_logged(&root, &log);
        Repo { root, log, server }
    }

    /// The paths requested since the last call (the log is emptied).
    fn requests(&self) -> Vec<String> {
        let text = fs::read_to_string(&self.log).unwrap();
        fs::write(&self.log, "").unwrap();
        text.lines()
            .filter_map(|l| l.split_once("\"GET ").map(|(_, r)| r))
            .filter_map(|r| r.split_whitespace().next())
            .map(str::to_string)
            .collect()
    }
}

fn count(requests: &[String], what: &str) -> usize {
    requests.iter().filter(|r| r.contains(what)).count()
}

/// `seedforge debs` of jq's closure from `repo` into `out`, with the download cache at
/// `cache` (`None`: `--no-cache`); the bundle's SHA-256.
fn bundle(repo: &str, out: &Path, cache: Option<&Path>) -> String {
    let base = out.with_extension("base");
    fs::write(&base, "libc6:amd64\t2.36-9+deb12u10\n").unwrap();
    let mut cmd = Cmd::seedforge()
        .args([
            "debs",
            "--repo",
            repo,
            "--suite",
            "bookworm",
            "--package",
            "jq",
        ])
        .arg("--base")
        .arg(&base)
        .arg("--out")
        .arg(out)
        // One name whatever the file is called: the name is in the bundle's bytes.
        .args(["--name", "ops"])
        .env("SOURCE_DATE_EPOCH", "1700000000");
    cmd = match cache {
        // The harness turns the cache off; these runs turn it back on.
        Some(dir) => cmd
            .env("SEEDFORGE_NO_CACHE", "0")
            .arg("--cache-dir")
            .arg(dir),
        None => cmd.env("SEEDFORGE_NO_CACHE", "0").arg("--no-cache"),
    };
    cmd.run();
    common::sha256_file(out)
}

/// The cache's entries (`CACHE/debs/<sha256>`): every file there (the folders beside
/// them hold what was found about them, `facts/`, and resolved closures, `closures/`).
fn entries(cache: &Path) -> Vec<PathBuf> {
    files(&cache.join("debs"))
}

/// The files in `dir` (none when it is missing), sorted.
fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(listing) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = listing
        .map(|e| e.unwrap().path())
        .filter(|p| !p.is_dir())
        .collect();
    v.sort();
    v
}

fn ready() -> bool {
    common::require_tool("apt-ftparchive") && common::require_tool("python3")
}

#[test]
fn a_warm_run_downloads_no_deb_and_no_unchanged_index() {
    if !ready() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let repo = Repo::start(tmp.path());
    let cache = tmp.path().join("cache");
    let cold = bundle(
        &repo.server.url,
        &tmp.path().join("cold.tar.gz"),
        Some(&cache),
    );
    let first = repo.requests();
    assert_eq!(count(&first, ".deb"), 3, "jq, libjq1, libonig5: {first:?}");
    assert_eq!(count(&first, "/Packages"), 1, "{first:?}");
    // Every entry is named by its hash and holds those bytes, 0644.
    for e in entries(&cache) {
        let name = e.file_name().unwrap().to_str().unwrap().to_string();
        assert_eq!(common::sha256_file(&e), name, "{}", e.display());
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(
            fs::metadata(&e).unwrap().permissions().mode() & 0o777,
            0o644
        );
    }

    let warm = bundle(
        &repo.server.url,
        &tmp.path().join("warm.tar.gz"),
        Some(&cache),
    );
    let second = repo.requests();
    assert_eq!(count(&second, ".deb"), 0, "{second:?}");
    assert_eq!(count(&second, "/Packages"), 0, "{second:?}");
    assert!(
        count(&second, "Release") >= 1,
        "the Release file is always fetched"
    );
    assert_eq!(cold, warm, "the bundle is the same with a warm cache");

    // Without the cache everything is downloaded, and the bytes are the same.
    let uncached = bundle(&repo.server.url, &tmp.path().join("none.tar.gz"), None);
    let third = repo.requests();
    assert_eq!(count(&third, ".deb"), 3, "{third:?}");
    assert_eq!(count(&third, "/Packages"), 1, "{third:?}");
    assert_eq!(cold, uncached, "the bundle is the same without the cache");

    // A changed index is downloaded again; the .debs it still lists are not.
    sh(
        &repo.root,
        "cd dists/bookworm/main/binary-amd64
         printf 'Package: zzz\\nVersion: 1\\nArchitecture: all\\nFilename: pool/main/zzz_1_all.deb\\nSize: 1\\nSHA256: %064d\\n\\n' 0 >> Packages
         rm -f Packages.gz Packages.xz
         gzip -9nk Packages
         xz -k Packages
         cd ../../../..
         apt-ftparchive -o APT::FTPArchive::Release::Suite=bookworm release dists/bookworm > Release.tmp
         mv Release.tmp dists/bookworm/Release",
    );
    let changed = bundle(
        &repo.server.url,
        &tmp.path().join("changed.tar.gz"),
        Some(&cache),
    );
    let fourth = repo.requests();
    assert_eq!(count(&fourth, "/Packages"), 1, "{fourth:?}");
    assert_eq!(count(&fourth, ".deb"), 0, "{fourth:?}");
    assert_eq!(cold, changed);
}

#[test]
fn a_file_repository_is_cached_too_and_its_pool_is_not_read_again() {
    if !ready() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("repo");
    make_repo(&root, &fixture_debs());
    let url = format!("file://{}", root.display());
    let cache = tmp.path().join("cache");
    let cold = bundle(&url, &tmp.path().join("cold.tar.gz"), Some(&cache));
    // The .debs and the indexes are gone from the repository: only the cache has them.
    fs::remove_dir_all(root.join("pool")).unwrap();
    for f in ["Packages", "Packages.gz", "Packages.xz"] {
        fs::remove_file(root.join("dists/bookworm/main/binary-amd64").join(f)).unwrap();
    }
    let warm = bundle(&url, &tmp.path().join("warm.tar.gz"), Some(&cache));
    assert_eq!(cold, warm);
}

#[test]
fn a_damaged_cache_entry_is_fetched_again_and_never_bundled() {
    if !ready() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let repo = Repo::start(tmp.path());
    let cache = tmp.path().join("cache");
    let cold = bundle(
        &repo.server.url,
        &tmp.path().join("cold.tar.gz"),
        Some(&cache),
    );
    let first = repo.requests();
    let cached = entries(&cache);
    assert_eq!(
        cached.len(),
        5,
        "three .debs, the index and its text: {cached:?}"
    );
    // One byte flipped in each entry, in the middle.
    for e in &cached {
        let len = fs::metadata(e).unwrap().len() as usize;
        common::flip_byte(e, len / 2);
    }
    // The closure the first run filed goes too: the index is read, and found damaged.
    fs::remove_dir_all(cache.join("debs/closures")).unwrap();
    let warm = bundle(
        &repo.server.url,
        &tmp.path().join("warm.tar.gz"),
        Some(&cache),
    );
    let second = repo.requests();
    assert_eq!(count(&second, ".deb"), count(&first, ".deb"), "{second:?}");
    assert_eq!(count(&second, "/Packages"), 1, "{second:?}");
    assert_eq!(cold, warm, "the bundle is the cold one's bytes");
    // The entries were replaced by sound ones.
    for e in entries(&cache) {
        let name = e.file_name().unwrap().to_str().unwrap().to_string();
        assert_eq!(common::sha256_file(&e), name);
    }
    // Truncated entries too.
    for e in entries(&cache) {
        fs::write(&e, b"short").unwrap();
    }
    let again = bundle(
        &repo.server.url,
        &tmp.path().join("again.tar.gz"),
        Some(&cache),
    );
    assert_eq!(count(&repo.requests(), ".deb"), count(&first, ".deb"));
    assert_eq!(cold, again);
}

#[test]
fn gc_cache_empties_the_cache() {
    if !ready() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let repo = Repo::start(tmp.path());
    let cache = tmp.path().join("cache");
    bundle(&repo.server.url, &tmp.path().join("b.tar.gz"), Some(&cache));
    // The entries and the resolved closure.
    let n = entries(&cache).len() + files(&cache.join("debs/closures")).len();
    assert!(n > 0);
    let out = Cmd::seedforge()
        .args(["gc", "--cache"])
        .env("SEEDFORGE_CACHE_DIR", cache.to_str().unwrap())
        .run();
    assert!(
        out.stdout.contains(&format!("removed {n} cached file(s)")),
        "{}",
        out.stdout
    );
    // The cache alone, in JSON (checked against gc's schema): nothing left to remove.
    let again = Cmd::seedforge()
        .args(["--json", "gc", "--cache"])
        .env("SEEDFORGE_CACHE_DIR", cache.to_str().unwrap())
        .run()
        .json();
    assert_eq!(again["cache"]["removed"], 0, "{again}");
    assert!(entries(&cache).is_empty());
    assert!(files(&cache.join("debs/closures")).is_empty());
    assert!(files(&cache.join("debs/facts")).is_empty());
    // A size cap of nothing keeps nothing after a run, and the bundle is still whole.
    Cmd::seedforge()
        .args(["debs", "--repo", &repo.server.url, "--suite", "bookworm"])
        .args(["--package", "jq", "--base"])
        .arg(tmp.path().join("b.tar.base"))
        .arg("--out")
        .arg(tmp.path().join("c.tar.gz"))
        .arg("--cache-dir")
        .arg(&cache)
        .env("SEEDFORGE_NO_CACHE", "0")
        .env("SEEDFORGE_CACHE_MAX", "0")
        .run();
    assert!(entries(&cache).is_empty());
}

#[test]
fn a_build_takes_its_bundle_from_the_cache_debs_filled() {
    if !ready() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let repo = Repo::start(tmp.path());
    let cache = tmp.path().join("cache");
    bundle(&repo.server.url, &tmp.path().join("b.tar.gz"), Some(&cache));
    repo.requests();
    let lab = common::Lab::new();
    let dir = lab.lab_dir();
    fs::write(dir.join("base.txt"), "libc6:amd64\t2.36-9+deb12u10\n").unwrap();
    let config = dir.join("seedforge.yaml");
    let text = fs::read_to_string(&config).unwrap().replace(
        "\nimages:\n",
        &format!(
            "\npackages:\n  - name: ops\n    packages: [jq]\n    base: base.txt\n    repo: {{url: \"{}\", suite: bookworm}}\n\nimages:\n",
            repo.server.url
        ),
    );
    fs::write(&config, text).unwrap();
    lab.seedforge()
        .args(["build", "--config", lab.config_arg()])
        .env("SEEDFORGE_NO_CACHE", "0")
        .env("SEEDFORGE_CACHE_DIR", cache.to_str().unwrap())
        .run();
    let build = repo.requests();
    assert_eq!(count(&build, ".deb"), 0, "{build:?}");
    assert_eq!(count(&build, "/Packages"), 0, "{build:?}");
    assert!(count(&build, "Release") >= 1, "{build:?}");
    assert!(lab.out_dir().join("packages/ops.tar.gz").is_file());
}

#[test]
fn concurrent_runs_share_one_cache() {
    if !ready() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let repo = Repo::start(tmp.path());
    let cache = tmp.path().join("cache");
    let cold = bundle(&repo.server.url, &tmp.path().join("cold.tar.gz"), None);
    // Four runs at once on an empty cache: each writes entries the others may be reading.
    let runs: Vec<_> = (0..4)
        .map(|i| {
            let out = tmp.path().join(format!("run{i}.tar.gz"));
            let base = out.with_extension("base");
            fs::write(&base, "libc6:amd64\t2.36-9+deb12u10\n").unwrap();
            let running = Cmd::seedforge()
                .args(["debs", "--repo", &repo.server.url, "--suite", "bookworm"])
                .args(["--package", "jq", "--name", "ops", "--base"])
                .arg(&base)
                .arg("--out")
                .arg(&out)
                .arg("--cache-dir")
                .arg(&cache)
                .env("SEEDFORGE_NO_CACHE", "0")
                .env("SOURCE_DATE_EPOCH", "1700000000")
                .spawn();
            (out, running)
        })
        .collect();
    for (out, running) in runs {
        running.wait();
        assert_eq!(common::sha256_file(&out), cold);
    }
    // Whole entries only, each its hash, no temporary file left.
    for e in entries(&cache) {
        let name = e.file_name().unwrap().to_str().unwrap().to_string();
        assert_eq!(common::sha256_file(&e), name, "{}", e.display());
    }
}

#[test]
fn a_bad_cache_cap_is_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let out = Cmd::seedforge()
        .args([
            "debs",
            "--repo",
            "file:///nonexistent",
            "--suite",
            "bookworm",
        ])
        .args(["--package", "jq", "--out"])
        .arg(tmp.path().join("x.tar.gz"))
        .env("SEEDFORGE_NO_CACHE", "0")
        .env("SEEDFORGE_CACHE_MAX", "ten gigs")
        .expect(2)
        .run();
    assert!(out.stderr.contains("SEEDFORGE_CACHE_MAX"), "{}", out.stderr);
    assert!(!tmp.path().join("x.tar.gz").exists());
}

/// A small arch-all package `name` at `version` whose one file says `text`.
fn small_deb(dir: &Path, name: &str, version: &str, text: &str) -> PathBuf {
    common::debs::small_deb(dir, name, version, "", text)
}

/// The repository at `root` with `zz-extra` at `version` (its file saying `text`) beside
/// the fixture .debs, its indexes and Release made anew.
fn repo_with_extra(root: &Path, version: &str, text: &str) {
    let pool = root.join("pool/main");
    if pool.is_dir() {
        for e in fs::read_dir(&pool).unwrap() {
            let p = e.unwrap().path();
            if p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("zz-extra_")
            {
                fs::remove_file(p).unwrap();
            }
        }
        for f in ["Packages", "Packages.gz", "Packages.xz"] {
            let _ = fs::remove_file(root.join("dists/bookworm/main/binary-amd64").join(f));
        }
    }
    let debs_dir = root.with_extension("debs");
    fs::create_dir_all(&debs_dir).unwrap();
    let mut debs = fixture_debs();
    debs.push(small_deb(&debs_dir, "zz-extra", version, text));
    make_repo(root, &debs);
}

/// One `seedforge --json debs` run into `out` (the cache at `cache`, the base in
/// `out.base`): `jq` from the file repository at `root`, named `name`, entries stamped
/// `epoch`, with `extra` arguments; the report.
fn run(root: &Path, out: &Path, cache: &Path, how: (&str, &str, &[&str])) -> serde_json::Value {
    let (name, epoch, extra) = how;
    // The base stays as a test left it.
    let base = out.with_extension("base");
    if !base.exists() {
        fs::write(&base, "libc6:amd64\t2.36-9+deb12u10\n").unwrap();
    }
    let url = format!("file://{}", root.display());
    let out = Cmd::seedforge()
        .args(["--json", "debs", "--repo", &url, "--suite", "bookworm"])
        .args(["--package", "jq", "--name", name, "--base"])
        .arg(&base)
        .arg("--out")
        .arg(out)
        .arg("--cache-dir")
        .arg(cache)
        .args(extra)
        .env("SEEDFORGE_NO_CACHE", "0")
        .env("SOURCE_DATE_EPOCH", epoch)
        .run();
    out.json()
}

/// The bundle's inode, mtime and ctime: a bundle written again (to a temporary file
/// renamed over it) has another inode.
fn stamp(path: &Path) -> (u64, i64, i64, i64, i64) {
    use std::os::unix::fs::MetadataExt as _;
    let m = fs::metadata(path).unwrap();
    (
        m.ino(),
        m.mtime(),
        m.mtime_nsec(),
        m.ctime(),
        m.ctime_nsec(),
    )
}

/// Whether the run left the bundle as it was (its report says so, and the file is the
/// same inode, untouched), or wrote it anew (another inode, and its report says that).
fn kept(report: &serde_json::Value, before: (u64, i64, i64, i64, i64), out: &Path) -> bool {
    let unchanged = report["unchanged"].as_bool().unwrap();
    let now = stamp(out);
    assert_eq!(unchanged, now == before, "{report} {before:?} {now:?}");
    assert_eq!(
        report["bundle"]["sha256"].as_str().unwrap(),
        common::sha256_file(out)
    );
    unchanged
}

fn pool_names(bundle: &Path) -> Vec<String> {
    let listing = sh(
        bundle.parent().unwrap(),
        &format!("tar -tzf '{}' | grep '^pool/.*deb$'", bundle.display()),
    );
    listing.lines().map(str::to_string).collect()
}

#[test]
fn a_second_run_keeps_the_bundle_and_any_changed_input_writes_it_again() {
    if !ready() || !common::require_tool("dpkg-deb") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("repo");
    repo_with_extra(&root, "1.0-1", "one\n");
    let cache = tmp.path().join("cache");
    let out = tmp.path().join("ops.tar.gz");
    let same = ("ops", "1700000000", &[][..]);
    let first = run(&root, &out, &cache, same);
    assert_eq!(first["unchanged"], false);
    assert!(tmp.path().join(".ops.tar.gz.seedforge.json").is_file());
    let cold = common::sha256_file(&out);

    // The same bundle again: kept, not read or written (same inode, mtime and ctime).
    let before = stamp(&out);
    assert!(kept(&run(&root, &out, &cache, same), before, &out));
    assert_eq!(common::sha256_file(&out), cold);
    // Touched (its stat changed, its bytes did not): hashed, found whole and kept; the
    // record takes the new stat, so the next run does not hash it again.
    sh(tmp.path(), "touch -d '2001-01-01 00:00' ops.tar.gz");
    let before = stamp(&out);
    assert!(kept(&run(&root, &out, &cache, same), before, &out));
    assert!(kept(&run(&root, &out, &cache, same), before, &out));

    // Each changed input writes it again: the timestamp, the name, the packages asked
    // for; and back to the first inputs gives the first bytes.
    let changes: [(&str, &str, &[&str]); 3] = [
        ("ops", "1700000001", &[]),
        ("other", "1700000000", &[]),
        ("ops", "1700000000", &["--package", "zz-extra"]),
    ];
    for how in changes {
        let before = stamp(&out);
        assert!(
            !kept(&run(&root, &out, &cache, how), before, &out),
            "{how:?}"
        );
        assert_ne!(common::sha256_file(&out), cold, "{how:?}");
        let before = stamp(&out);
        assert!(
            !kept(&run(&root, &out, &cache, same), before, &out),
            "{how:?}"
        );
        assert_eq!(common::sha256_file(&out), cold, "{how:?}");
    }
    // --force writes it even so, the same bytes.
    let before = stamp(&out);
    let forced = run(&root, &out, &cache, ("ops", "1700000000", &["--force"]));
    assert!(!kept(&forced, before, &out));
    assert_eq!(common::sha256_file(&out), cold);

    // A package of the closure at another version in the archive, then the same version
    // with other bytes (another SHA-256 in the index): written again each time.
    let with_extra = ("ops", "1700000000", &["--package", "zz-extra"][..]);
    run(&root, &out, &cache, with_extra);
    assert!(pool_names(&out).contains(&"pool/zz-extra_1.0-1_all.deb".to_string()));
    let before = stamp(&out);
    assert!(kept(&run(&root, &out, &cache, with_extra), before, &out));
    repo_with_extra(&root, "1.0-2", "two\n");
    let before = stamp(&out);
    assert!(!kept(&run(&root, &out, &cache, with_extra), before, &out));
    assert!(pool_names(&out).contains(&"pool/zz-extra_1.0-2_all.deb".to_string()));
    let two = common::sha256_file(&out);
    repo_with_extra(&root, "1.0-2", "two, rebuilt\n");
    let before = stamp(&out);
    assert!(!kept(&run(&root, &out, &cache, with_extra), before, &out));
    assert_ne!(common::sha256_file(&out), two);
}

#[test]
fn a_damaged_bundle_or_record_is_written_again() {
    if !ready() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("repo");
    make_repo(&root, &fixture_debs());
    let cache = tmp.path().join("cache");
    let out = tmp.path().join("ops.tar.gz");
    let record = tmp.path().join(".ops.tar.gz.seedforge.json");
    let same = ("ops", "1700000000", &[][..]);
    run(&root, &out, &cache, same);
    let cold = common::sha256_file(&out);

    // One byte flipped in place (same inode, same size): hashed, found damaged, written.
    let len = fs::metadata(&out).unwrap().len() as usize;
    common::flip_byte(&out, len / 2);
    let before = stamp(&out);
    assert!(!kept(&run(&root, &out, &cache, same), before, &out));
    assert_eq!(common::sha256_file(&out), cold);
    // Cut short.
    fs::write(&out, b"short").unwrap();
    let before = stamp(&out);
    assert!(!kept(&run(&root, &out, &cache, same), before, &out));
    assert_eq!(common::sha256_file(&out), cold);
    // Gone: written.
    fs::remove_file(&out).unwrap();
    let report = run(&root, &out, &cache, same);
    assert_eq!(report["unchanged"], false);
    assert_eq!(common::sha256_file(&out), cold);
    // A record that is damaged, or written by another format, or missing: written.
    for text in ["{not json", "{\"format\": 99}", ""] {
        if text.is_empty() {
            fs::remove_file(&record).unwrap();
        } else {
            fs::write(&record, text).unwrap();
        }
        let before = stamp(&out);
        assert!(
            !kept(&run(&root, &out, &cache, same), before, &out),
            "{text}"
        );
        assert_eq!(common::sha256_file(&out), cold);
    }
    let before = stamp(&out);
    assert!(kept(&run(&root, &out, &cache, same), before, &out));
}

/// Removes the repository's indexes and every index the cache holds (its plain `Packages`
/// texts and compressed copies): a run that still succeeds read none.
fn remove_indexes(root: &Path, cache: &Path) {
    for f in ["Packages", "Packages.gz", "Packages.xz"] {
        let _ = fs::remove_file(root.join("dists/bookworm/main/binary-amd64").join(f));
    }
    for e in entries(cache) {
        let head = fs::read(&e).unwrap();
        if !head.starts_with(b"!<arch>\n") {
            fs::remove_file(e).unwrap();
        }
    }
}

#[test]
fn a_second_run_reads_no_index_unless_a_release_file_changed() {
    if !ready() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("repo");
    make_repo(&root, &fixture_debs());
    sh(tmp.path(), "cp -a repo saved");
    let cache = tmp.path().join("cache");
    let out = tmp.path().join("ops.tar.gz");
    let same = ("ops", "1700000000", &[][..]);
    let first = run(&root, &out, &cache, same);
    let cold = common::sha256_file(&out);

    // A base that already has a package of the closure (the Release file unchanged):
    // resolved again, written without it; the first base back, the first bytes back.
    let base = out.with_extension("base");
    let first_base = fs::read(&base).unwrap();
    fs::write(
        &base,
        "libc6:amd64\t2.36-9+deb12u10\nlibonig5:amd64\t6.9.8-1\n",
    )
    .unwrap();
    let before = stamp(&out);
    assert!(!kept(&run(&root, &out, &cache, same), before, &out));
    assert!(!pool_names(&out).iter().any(|p| p.contains("libonig5")));
    fs::write(&base, &first_base).unwrap();
    let before = stamp(&out);
    assert!(!kept(&run(&root, &out, &cache, same), before, &out));
    assert_eq!(common::sha256_file(&out), cold);

    // The same Release file: kept without an index (none is left to read), the closure
    // reported as the first run resolved it.
    remove_indexes(&root, &cache);
    let before = stamp(&out);
    let second = run(&root, &out, &cache, same);
    assert!(kept(&second, before, &out));
    assert_eq!(second["closure"], first["closure"]);
    assert_eq!(second["verification"], first["verification"]);

    // A Release file that changed (a package the bundle does not reach added): the index
    // is read and resolved, the closure is the same, the bundle kept; the record takes
    // the new inputs, so the run after reads no index again.
    fs::remove_dir_all(&root).unwrap();
    sh(tmp.path(), "cp -a saved repo");
    sh(
        &root,
        "cd dists/bookworm/main/binary-amd64
         printf 'Package: zzz\\nVersion: 1\\nArchitecture: all\\nFilename: pool/main/zzz_1_all.deb\\nSize: 1\\nSHA256: %064d\\n\\n' 0 >> Packages
         rm -f Packages.gz Packages.xz
         gzip -9nk Packages
         xz -k Packages
         cd ../../../..
         apt-ftparchive -o APT::FTPArchive::Release::Suite=bookworm release dists/bookworm > Release.tmp
         mv Release.tmp dists/bookworm/Release",
    );
    let before = stamp(&out);
    let third = run(&root, &out, &cache, same);
    assert!(kept(&third, before, &out));
    assert_eq!(third["closure"], first["closure"]);
    remove_indexes(&root, &cache);
    let before = stamp(&out);
    assert!(kept(&run(&root, &out, &cache, same), before, &out));
    assert_eq!(common::sha256_file(&out), cold);
}

#[test]
fn a_run_that_stores_nothing_makes_no_cache_folder() {
    let lab = common::Lab::new();
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    // The cache on, at its default place: $XDG_CACHE_HOME/seedforge, else
    // $HOME/.cache/seedforge.
    let run = |xdg: &str, args: &[&str]| {
        lab.seedforge()
            .args(args)
            .env("HOME", home.to_str().unwrap())
            .env("XDG_CACHE_HOME", xdg)
            .env("SEEDFORGE_NO_CACHE", "0")
    };
    let xdg = home.join("xdg");
    fs::create_dir(&xdg).unwrap();
    let nothing_made = |why: &str| {
        assert!(!home.join(".cache").exists(), "{why}: $HOME/.cache made");
        assert!(
            !xdg.join("seedforge").exists(),
            "{why}: $XDG_CACHE_HOME/seedforge made"
        );
    };
    for var in ["", xdg.to_str().unwrap()] {
        // Refused while planning (exit 2): nothing written, the cache folder included.
        for out in ["/", home.to_str().unwrap()] {
            let out = run(var, &["build", "--config", lab.config_arg(), "--out", out])
                .expect(2)
                .run();
            assert!(
                out.stderr.contains("refusing to write into"),
                "{}",
                out.stderr
            );
            nothing_made(&format!("build --out refused, XDG_CACHE_HOME={var:?}"));
        }
        run(var, &["plan", "--config", lab.config_arg()]).run();
        nothing_made("plan");
    }
    // A build without packages fetches none: no cache folder either.
    run("", &["build", "--config", lab.config_arg()]).run();
    assert!(lab.out_dir().join("SHA256SUMS").is_file());
    nothing_made("a build without packages");
}
