//! A bundle written again from the download cache into a new file (the cache kept, the
//! output new): the closure resolved by an earlier run from the same Release files is taken
//! from the cache (no index is read), and each cached .deb's facts are taken at the stat
//! they were recorded at (the .deb is not read again); the bundle is the bytes a run
//! without the cache writes. A changed Release file, a damaged, planted or foreign closure
//! file, a changed .deb entry: each a miss, never an error.
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

    /// How many requests since the last call (the log is emptied) named `what`.
    fn requested(&self, what: &str) -> usize {
        let text = fs::read_to_string(&self.log).unwrap();
        fs::write(&self.log, "").unwrap();
        text.lines()
            .filter_map(|l| l.split_once("\"GET ").map(|(_, r)| r))
            .filter(|r| r.contains(what))
            .count()
    }

    /// Adds an index entry no path of the bundle reaches, with a new Release file.
    fn change_release(&self) {
        sh(
            &self.root,
            "cd dists/bookworm/main/binary-amd64
             printf 'Package: zzz\\nVersion: 1\\nArchitecture: all\\nFilename: pool/main/zzz_1_all.deb\\nSize: 1\\nSHA256: %064d\\n\\n' 0 >> Packages
             rm -f Packages.gz Packages.xz
             gzip -9nk Packages
             xz -k Packages
             cd ../../../..
             apt-ftparchive -o APT::FTPArchive::Release::Suite=bookworm release dists/bookworm > Release.tmp
             mv Release.tmp dists/bookworm/Release",
        );
    }
}

/// `seedforge debs` of jq's closure from `url` into `out`, with the download cache at
/// `cache` (`None`: `--no-cache`), `extra` arguments, exit code `code`.
fn bundle(url: &str, out: &Path, cache: Option<&Path>, extra: &[&str], code: i32) -> String {
    let base = out.with_extension("base");
    fs::write(&base, "libc6:amd64\t2.36-9+deb12u10\n").unwrap();
    let mut cmd = Cmd::seedforge()
        .args([
            "debs",
            "--repo",
            url,
            "--suite",
            "bookworm",
            "--package",
            "jq",
        ])
        .args(extra)
        .arg("--base")
        .arg(&base)
        .arg("--out")
        .arg(out)
        .args(["--name", "ops"])
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .env("SEEDFORGE_NO_CACHE", "0")
        .expect(code);
    cmd = match cache {
        Some(dir) => cmd.arg("--cache-dir").arg(dir),
        None => cmd.arg("--no-cache"),
    };
    let run = cmd.run();
    if code != 0 {
        return run.stderr;
    }
    common::sha256_file(out)
}

/// The files in `dir`, sorted (none when it is missing).
fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(listing) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = listing.map(|e| e.unwrap().path()).collect();
    v.sort();
    v
}

/// Removes the repository's indexes and every index the cache holds: a run that still
/// succeeds read none.
fn remove_indexes(root: &Path, cache: &Path) {
    for f in ["Packages", "Packages.gz", "Packages.xz"] {
        let _ = fs::remove_file(root.join("dists/bookworm/main/binary-amd64").join(f));
    }
    for e in files(&cache.join("debs")) {
        if e.is_file() && !fs::read(&e).unwrap().starts_with(b"!<arch>\n") {
            fs::remove_file(e).unwrap();
        }
    }
}

fn ready() -> bool {
    common::require_tool("apt-ftparchive")
        && common::require_tool("python3")
        && common::require_tool("dpkg-deb")
}

/// The `Packages` file inside the bundle `out`.
fn packages_of(out: &Path) -> String {
    sh(
        out.parent().unwrap(),
        &format!("tar -xzOf '{}' Packages", out.display()),
    )
}

#[test]
fn a_new_file_from_the_cache_reads_no_index_and_is_the_uncached_bytes() {
    if !ready() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let repo = Repo::start(tmp.path());
    let url = &repo.server.url;
    let cache = tmp.path().join("cache");
    let uncached = bundle(url, &tmp.path().join("none.tar.gz"), None, &[], 0);
    let cold = bundle(url, &tmp.path().join("cold.tar.gz"), Some(&cache), &[], 0);
    assert_eq!(cold, uncached);
    repo.requested("");
    // One closure filed, the facts of its three .debs.
    assert_eq!(files(&cache.join("debs/closures")).len(), 1);
    assert_eq!(
        files(&cache.join("debs/facts")).len(),
        3,
        "jq, libjq1, libonig5"
    );

    // No index left anywhere: the closure comes from the cache, the bytes are the same.
    remove_indexes(&repo.root, &cache);
    for i in 0..2 {
        let out = tmp.path().join(format!("new{i}.tar.gz"));
        assert_eq!(bundle(url, &out, Some(&cache), &[], 0), cold);
        assert_eq!(repo.requested("/Packages"), 0);
        assert_eq!(repo.requested(".deb"), 0);
    }
    // --force (written whatever the record beside the bundle says) takes it too.
    let out = tmp.path().join("new0.tar.gz");
    assert_eq!(bundle(url, &out, Some(&cache), &["--force"], 0), cold);

    // Without the cache the index is needed: it is gone.
    let none = tmp.path().join("none2.tar.gz");
    let err = bundle(url, &none, None, &[], 2);
    assert!(err.contains("Packages"), "{err}");
}

#[test]
fn a_changed_release_file_is_a_new_closure() {
    if !ready() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let repo = Repo::start(tmp.path());
    let url = &repo.server.url;
    let cache = tmp.path().join("cache");
    let cold = bundle(url, &tmp.path().join("cold.tar.gz"), Some(&cache), &[], 0);
    repo.requested("");
    repo.change_release();
    // The index is fetched and resolved again (the same closure), and filed anew.
    let out = tmp.path().join("new.tar.gz");
    assert_eq!(bundle(url, &out, Some(&cache), &[], 0), cold);
    assert_eq!(repo.requested("/Packages"), 1);
    assert_eq!(files(&cache.join("debs/closures")).len(), 2);
    // Then taken from the cache.
    remove_indexes(&repo.root, &cache);
    let out = tmp.path().join("again.tar.gz");
    assert_eq!(bundle(url, &out, Some(&cache), &[], 0), cold);
    assert_eq!(repo.requested("/Packages"), 0);
}

#[test]
fn a_damaged_planted_or_foreign_closure_file_is_a_miss() {
    if !ready() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let repo = Repo::start(tmp.path());
    let url = &repo.server.url;
    let cache = tmp.path().join("cache");
    let cold = bundle(url, &tmp.path().join("cold.tar.gz"), Some(&cache), &[], 0);
    let closures = files(&cache.join("debs/closures"));
    let [closure] = closures.as_slice() else {
        panic!("{closures:?}")
    };
    let good = fs::read_to_string(closure).unwrap();
    let elsewhere = tmp.path().join("closure.json");
    fs::write(&elsewhere, &good).unwrap();
    let foreign_url = good.replace(url.as_str(), "http://127.0.0.1:1");
    assert_ne!(foreign_url, good);
    let out_of_repo = good.replace("\"pool/main/", "\"../pool/main/");
    assert_ne!(out_of_repo, good);
    // Another format number, whatever this one is (9 put before its digits).
    let other_format = good.replacen("{\"format\":", "{\"format\":9", 1);
    assert_ne!(other_format, good);
    let plant: [(&str, Plant); 7] = [
        ("not JSON", Box::new(|p| fs::write(p, "{not json").unwrap())),
        ("empty", Box::new(|p| fs::write(p, "").unwrap())),
        (
            "another format",
            Box::new(|p| fs::write(p, &other_format).unwrap()),
        ),
        (
            "another repository",
            Box::new(|p| fs::write(p, &foreign_url).unwrap()),
        ),
        (
            "a path out of the repository",
            Box::new(|p| fs::write(p, &out_of_repo).unwrap()),
        ),
        (
            "a FIFO",
            Box::new(|p| {
                fs::remove_file(p).unwrap();
                sh(p.parent().unwrap(), &format!("mkfifo '{}'", p.display()));
            }),
        ),
        (
            "a symbolic link",
            Box::new(|p| {
                fs::remove_file(p).unwrap();
                std::os::unix::fs::symlink(&elsewhere, p).unwrap();
            }),
        ),
    ];
    for (i, (what, plant)) in plant.iter().enumerate() {
        plant(closure);
        // A miss: the index is needed (none left: the run fails, naming it)...
        let hidden = hide_indexes(&repo.root, &cache, &tmp.path().join("hidden"));
        let out = tmp.path().join(format!("miss{i}.tar.gz"));
        let err = bundle(url, &out, Some(&cache), &[], 2);
        assert!(err.contains("Packages"), "{what}: {err}");
        // ...and with the index back, resolved: the cold bytes, the closure filed again.
        for (from, to) in hidden {
            fs::rename(to, from).unwrap();
        }
        assert_eq!(bundle(url, &out, Some(&cache), &[], 0), cold, "{what}");
        assert_eq!(fs::read_to_string(closure).unwrap(), good, "{what}");
    }
}

/// What a test puts in place of a closure file.
type Plant<'a> = Box<dyn Fn(&Path) + 'a>;

/// Moves the repository's indexes and every index the cache holds into `to`; what was
/// moved where.
fn hide_indexes(root: &Path, cache: &Path, to: &Path) -> Vec<(PathBuf, PathBuf)> {
    fs::create_dir_all(to).unwrap();
    let index_dir = root.join("dists/bookworm/main/binary-amd64");
    let mut found: Vec<PathBuf> = ["Packages", "Packages.gz", "Packages.xz"]
        .iter()
        .map(|f| index_dir.join(f))
        .filter(|p| p.exists())
        .collect();
    found.extend(
        files(&cache.join("debs"))
            .into_iter()
            .filter(|e| e.is_file() && !fs::read(e).unwrap().starts_with(b"!<arch>\n")),
    );
    (found.into_iter().enumerate())
        .map(|(i, from)| {
            let moved = to.join(i.to_string());
            fs::rename(&from, &moved).unwrap();
            (from, moved)
        })
        .collect()
}

#[test]
fn a_cached_deb_is_read_again_unless_its_entry_kept_its_stat() {
    if !ready() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let repo = Repo::start(tmp.path());
    let url = &repo.server.url;
    let cache = tmp.path().join("cache");
    let cold = bundle(url, &tmp.path().join("cold.tar.gz"), Some(&cache), &[], 0);
    // jq's facts say another description: at the stat they were recorded at, they are
    // what the bundle's index is written from (the .deb is not read again)...
    let jq = files(&cache.join("debs/facts"))
        .into_iter()
        .find(|f| {
            fs::read_to_string(f)
                .unwrap()
                .contains("[\"Package\",\"jq\"]")
        })
        .unwrap();
    let facts = fs::read_to_string(&jq).unwrap();
    let forged = facts.replacen("[\"Description\",\"", "[\"Description\",\"FORGED ", 1);
    assert_ne!(forged, facts);
    fs::write(&jq, &forged).unwrap();
    let out = tmp.path().join("forged.tar.gz");
    assert_ne!(bundle(url, &out, Some(&cache), &[], 0), cold);
    assert!(packages_of(&out).contains("Description: FORGED "));
    // ...and once the entry's stat changed (touched: same bytes), it is read again: the
    // cold bytes, the facts recorded anew.
    let entry = cache.join("debs").join(jq.file_name().unwrap());
    sh(tmp.path(), &format!("touch '{}'", entry.display()));
    let out = tmp.path().join("touched.tar.gz");
    assert_eq!(bundle(url, &out, Some(&cache), &[], 0), cold);
    assert!(!fs::read_to_string(&jq).unwrap().contains("FORGED"));
    assert_eq!(repo.requested(".deb"), 3, "only the cold run downloads");

    // A damaged entry (another stat): read, refused, downloaded again, never bundled.
    let len = fs::metadata(&entry).unwrap().len() as usize;
    common::flip_byte(&entry, len / 2);
    let out = tmp.path().join("damaged.tar.gz");
    assert_eq!(bundle(url, &out, Some(&cache), &[], 0), cold);
    assert_eq!(repo.requested(".deb"), 1);
    // A facts file that is damaged or planted: read again.
    for plant in ["{not json", ""] {
        fs::write(&jq, plant).unwrap();
        let out = tmp.path().join("planted.tar.gz");
        let _ = fs::remove_file(&out);
        assert_eq!(bundle(url, &out, Some(&cache), &[], 0), cold);
        assert!(
            fs::read_to_string(&jq)
                .unwrap()
                .contains("[\"Package\",\"jq\"]")
        );
    }
    assert_eq!(repo.requested(".deb"), 0);
}

#[test]
fn a_local_deb_of_the_closure_is_the_one_read_now() {
    if !ready() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let repo = Repo::start(tmp.path());
    let url = &repo.server.url;
    let cache = tmp.path().join("cache");
    let local = tmp.path().join("local");
    fs::create_dir(&local).unwrap();
    let deb = common::debs::small_deb(&local, "zz-local", "1.0", "", "one\n");
    fs::remove_dir_all(local.join("zz-local-1.0-tree")).unwrap();
    let dir = local.to_str().unwrap();
    let extra = ["--deb", dir, "--package", "zz-local"];
    let cold = bundle(
        url,
        &tmp.path().join("cold.tar.gz"),
        Some(&cache),
        &extra,
        0,
    );
    assert!(packages_of(&tmp.path().join("cold.tar.gz")).contains("Package: zz-local\n"));
    let hidden = hide_indexes(&repo.root, &cache, &tmp.path().join("hidden"));
    // Renamed in its folder: the same .deb, read for the pins, taken from there.
    fs::rename(&deb, local.join("renamed.deb")).unwrap();
    let out = tmp.path().join("renamed.tar.gz");
    assert_eq!(bundle(url, &out, Some(&cache), &extra, 0), cold);
    // Built again with other bytes: another closure, resolved from the index.
    fs::remove_file(local.join("renamed.deb")).unwrap();
    common::debs::small_deb(&local, "zz-local", "1.0", "", "two\n");
    fs::remove_dir_all(local.join("zz-local-1.0-tree")).unwrap();
    let out = tmp.path().join("rebuilt.tar.gz");
    let err = bundle(url, &out, Some(&cache), &extra, 2);
    assert!(err.contains("Packages"), "{err}");
    for (from, to) in hidden {
        fs::rename(to, from).unwrap();
    }
    let rebuilt = bundle(url, &out, Some(&cache), &extra, 0);
    assert_ne!(rebuilt, cold);
    assert_eq!(bundle(url, &out, None, &extra, 0), rebuilt);
}
