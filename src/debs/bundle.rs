//! The bundle `packages/<name>.tar.gz`: a flat apt repository (`pool/*.deb`, `Packages`,
//! `Packages.gz`, `Release`), `install.sh` and `SHA256SUMS`.
//!
//! The `Packages` index is written the way `dpkg-scanpackages` writes it (same fields, same
//! order), so either tool's index can stand in for the other. `Release` always lists the
//! indices with their hashes: apt rejects an empty Release file. The tarball is
//! deterministic: sorted entries, uid/gid 0, fixed modes, one timestamp, a gzip header
//! without name or time. Its gzip stream deflates the small files and the tar headers and
//! stores the .debs whose data is compressed already ([`super::gz`]): one ordinary gzip
//! stream (`tar xzf` reads it), about the size a deflated one would be, written at the
//! speed of a copy.

use super::control::{Paragraph, index_order};
use super::deb::DebFile;
use super::error::DebsError;
use super::gz::GzWriter;
use super::request::Request;
use crate::hashing::{HashingReader, HashingWriter, sha256_hex};
use crate::leftovers::Staging;
use crate::report::Reporter;
use crate::util::{FileStat, sync_parent, temp_path_beside};
use serde::Serialize;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

const INSTALL_SH: &str = include_str!("install.sh");

/// What goes into a bundle besides the .debs.
#[derive(Debug, Clone)]
pub struct BundleOptions {
    /// Bundle name (the tarball is `<name>.tar.gz`).
    pub name: String,
    /// Packages install.sh asks apt for.
    pub requested: Vec<Request>,
    /// Architectures named in Release.
    pub arch: String,
    /// Timestamp of every entry and of the Release `Date`.
    pub mtime: u64,
}

/// What was written.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct BundleReport {
    /// The tarball.
    pub path: PathBuf,
    /// Its SHA-256.
    pub sha256: String,
    /// Its size.
    pub file_bytes: u64,
    /// Number of .debs inside.
    pub debs: usize,
}

/// How the bundle is written, beyond its inputs: the install.sh template and the
/// compression of the tarball (its compressed .debs stored, the rest deflated) and of
/// `Packages.gz`. A bundle recorded with another one is written again
/// ([`super::unchanged`]).
pub fn writer_id() -> String {
    format!(
        "tar; gzip {}, compressed .debs stored; Packages.gz {}; install.sh {}",
        TAR_GZ_LEVEL.level(),
        flate2::Compression::best().level(),
        sha256_hex(INSTALL_SH.as_bytes())
    )
}

/// The tarball's gzip level for what is deflated (the index files, install.sh, the tar
/// headers, a .deb whose data is not compressed): the default (6), as `gzip` and `tar -z`
/// use. A .deb whose data is compressed is stored in the stream as it is.
const TAR_GZ_LEVEL: flate2::Compression = flate2::Compression::new(6);

/// The pool file name of a .deb, as `dpkg-name` would give it.
pub fn pool_name(deb: &DebFile) -> String {
    let c = &deb.control;
    let version = c.get("Version").unwrap_or_default();
    let version = version.split_once(':').map_or(version, |(_, v)| v);
    format!(
        "{}_{}_{}.deb",
        c.get("Package").unwrap_or_default(),
        version,
        c.get("Architecture").unwrap_or_default()
    )
}

/// The `Packages` index entry of a .deb stored at `filename` (relative to the repository).
pub fn index_entry(deb: &DebFile, filename: &str) -> Paragraph {
    let mut p = deb.control.clone();
    p.set("Filename", filename);
    p.set("Size", deb.size.to_string());
    p.set("MD5sum", deb.md5.clone());
    p.set("SHA1", deb.sha1.clone());
    p.set("SHA256", deb.sha256.clone());
    index_order(&p)
}

/// The largest `Packages` index read back from a bundle.
const MAX_PACKAGES: u64 = 256 << 20;

/// The paragraphs of the `Packages` index a bundle at `path` holds (a bundle's first
/// entry), read back from the tarball.
pub fn read_packages(path: &Path) -> io::Result<Vec<Paragraph>> {
    use std::io::Read as _;
    let bad = |what: String| io::Error::new(io::ErrorKind::InvalidData, what);
    let (file, _) = crate::input::open_found(path).map_err(|e| e.into_io())?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    for entry in archive.entries()? {
        let entry = entry?;
        if entry.path()?.as_os_str() != "Packages" {
            continue;
        }
        let mut text = String::new();
        entry.take(MAX_PACKAGES).read_to_string(&mut text)?;
        return super::control::parse_paragraphs(&text)
            .map_err(|(line, e)| bad(format!("Packages:{line}: {e}")));
    }
    Err(bad("no Packages index in the bundle".to_string()))
}

/// A `Packages` file for `(deb, filename)` pairs, sorted as dpkg-scanpackages sorts.
pub fn packages_index(debs: &[(&DebFile, String)]) -> String {
    let mut entries: Vec<(String, String, Paragraph)> = debs
        .iter()
        .map(|(d, f)| {
            let c = &d.control;
            (
                c.get("Package").unwrap_or_default().to_string(),
                c.get("Version").unwrap_or_default().to_string(),
                index_entry(d, f),
            )
        })
        .collect();
    entries.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    entries.iter().map(|(_, _, p)| format!("{p}\n")).collect()
}

/// Writes the bundle for `debs` to `out`, atomically; a SIGINT or SIGTERM removes the
/// partial tarball (registered with `staging`, the run's).
pub fn write_bundle(
    debs: &[DebFile],
    options: &BundleOptions,
    out: &Path,
    reporter: &dyn Reporter,
    staging: &Staging,
) -> Result<BundleReport, DebsError> {
    write_bundle_stat(debs, options, out, reporter, staging).map(|(report, _)| report)
}

/// [`write_bundle`], with the stat of the file it wrote, taken from the open file once it
/// is in place: whoever finds that stat at `out` later finds these very bytes (a file
/// changed or replaced since has another), without hashing them again.
pub fn write_bundle_stat(
    debs: &[DebFile],
    options: &BundleOptions,
    out: &Path,
    reporter: &dyn Reporter,
    staging: &Staging,
) -> Result<(BundleReport, FileStat), DebsError> {
    let named: Vec<(&DebFile, String)> = debs
        .iter()
        .map(|d| (d, format!("pool/{}", pool_name(d))))
        .collect();
    let packages = packages_index(&named);
    let packages_gz = gzip(packages.as_bytes()).map_err(|e| DebsError::io(out, e))?;
    let release = release_file(
        options,
        &[
            ("Packages", packages.as_bytes()),
            ("Packages.gz", &packages_gz),
        ],
    );
    let bundle_id = sha256_hex(packages.as_bytes());
    let install = install_script(options, &bundle_id)?;
    let mut small: Vec<(String, Vec<u8>, u32)> = vec![
        ("Packages".into(), packages.into_bytes(), 0o644),
        ("Packages.gz".into(), packages_gz, 0o644),
        ("Release".into(), release.into_bytes(), 0o644),
        ("install.sh".into(), install.into_bytes(), 0o755),
    ];
    let mut sums: Vec<(String, String)> = small
        .iter()
        .map(|(n, b, _)| (n.clone(), sha256_hex(b)))
        .chain(named.iter().map(|(d, f)| (f.clone(), d.sha256.clone())))
        .collect();
    sums.sort();
    let sums_text: String = sums.iter().map(|(n, h)| format!("{h}  {n}\n")).collect();
    small.push(("SHA256SUMS".into(), sums_text.into_bytes(), 0o644));
    small.sort();
    let tmp = temp_path_beside(out);
    // A SIGINT or SIGTERM removes the partial tarball, and comes before the rename or after
    // it, never during: the previous bundle stays whole until the new one replaces it.
    let (file, _staged) = staging
        .create_file(&tmp)
        .map_err(|e| DebsError::io(&tmp, e))?;
    let result = write_tar(file, &tmp, &small, &named, options.mtime, reporter).and_then(
        |(sha256, bytes, file)| {
            staging
                .unless_stopping(|| std::fs::rename(&tmp, out))
                .map_err(|e| DebsError::io(out, e))?;
            sync_parent(out).map_err(|e| DebsError::io(out, e))?;
            // After the rename, which sets the file's ctime.
            let stat = file.metadata().map_err(|e| DebsError::io(out, e))?;
            Ok((sha256, bytes, FileStat::of(&stat)))
        },
    );
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    let (sha256, file_bytes, stat) = result?;
    let report = BundleReport {
        path: out.to_path_buf(),
        sha256,
        file_bytes,
        debs: debs.len(),
    };
    Ok((report, stat))
}

/// The longest bundle name: `packages-NAME.installed` and `.NAME.tar.gz.seedforge-PID-N.tmp`
/// stay well inside a file name's 255 bytes.
pub const MAX_NAME_LEN: usize = 128;

/// Checks a bundle name: 1-128 letters, digits, `.`, `_`, `+` and `-`, not starting with
/// `.` or `-`. The name becomes a file name on the node (`packages-NAME.installed`), a log
/// tag and the Release file's suite, so nothing else is taken. Says what is wrong.
pub fn check_name(name: &str) -> Result<(), String> {
    let ok = (1..=MAX_NAME_LEN).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._+-".contains(&b))
        && !name.starts_with(['.', '-']);
    if ok {
        Ok(())
    } else {
        Err(format!(
            "bundle name {name:?}: use 1-{MAX_NAME_LEN} letters, digits, '.', '_', '+' and '-', \
             not starting with '.' or '-'"
        ))
    }
}

/// install.sh for the bundle, each value put in as one shell word by [`crate::shell::quote`].
fn install_script(options: &BundleOptions, bundle_id: &str) -> Result<String, DebsError> {
    check_name(&options.name).map_err(DebsError::Name)?;
    let packages: Vec<String> = options.requested.iter().map(ToString::to_string).collect();
    // install.sh splits the list at spaces: each entry must be one word of policy's
    // characters (a name from a repository's index is not checked anywhere else).
    let word = |b: u8| b.is_ascii_alphanumeric() || b"+-.~:=".contains(&b);
    if let Some(bad) = packages
        .iter()
        .find(|p| p.is_empty() || !p.bytes().all(word))
    {
        return Err(DebsError::Unsatisfiable(format!(
            "{bad:?} is not a package name (or name=version) apt can be asked for"
        )));
    }
    let quote = |v: &str| {
        crate::shell::quote(v)
            .map(|q| q.into_owned())
            .map_err(|e| DebsError::Name(e.to_string()))
    };
    // One pass over the template, so a value that looks like a placeholder stays a value.
    let mut out = String::with_capacity(INSTALL_SH.len() + 256);
    let mut rest = INSTALL_SH;
    while let Some(at) = rest.find('@') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        let (value, len) = if tail.starts_with("@NAME@") {
            (quote(&options.name)?, "@NAME@".len())
        } else if tail.starts_with("@BUNDLE_ID@") {
            (quote(bundle_id)?, "@BUNDLE_ID@".len())
        } else if tail.starts_with("@PACKAGES@") {
            (quote(&packages.join(" "))?, "@PACKAGES@".len())
        } else {
            ("@".to_string(), 1)
        };
        out.push_str(&value);
        rest = &tail[len..];
    }
    out.push_str(rest);
    Ok(out)
}

fn gzip(bytes: &[u8]) -> io::Result<Vec<u8>> {
    let mut enc = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), flate2::Compression::best());
    enc.write_all(bytes)?;
    enc.finish()
}

/// A Release file for a flat repository listing `files` with their SHA-256 and size.
fn release_file(options: &BundleOptions, files: &[(&str, &[u8])]) -> String {
    let mut out = String::new();
    out.push_str("Origin: seedforge\n");
    out.push_str(&format!("Label: seedforge {}\n", options.name));
    out.push_str(&format!("Suite: {}\n", options.name));
    out.push_str(&format!("Codename: {}\n", options.name));
    out.push_str(&format!("Date: {}\n", rfc2822(options.mtime)));
    out.push_str(&format!("Architectures: {} all\n", options.arch));
    out.push_str("Description: offline package bundle written by seedforge\n");
    out.push_str("SHA256:\n");
    for (name, bytes) in files {
        out.push_str(&format!(" {} {} {name}\n", sha256_hex(bytes), bytes.len()));
    }
    out
}

/// `Thu, 01 Jan 1970 00:00:00 UTC`, the Date format apt reads.
fn rfc2822(epoch: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = (epoch / 86_400) as i64;
    let secs = epoch % 86_400;
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{}, {day:02} {} {year} {:02}:{:02}:{:02} UTC",
        DAYS[(days % 7) as usize],
        MONTHS[(month - 1) as usize],
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

fn header(path_mode: u32, size: u64, mtime: u64, kind: tar::EntryType) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(path_mode);
    h.set_size(size);
    h.set_mtime(mtime);
    h.set_uid(0);
    h.set_gid(0);
    h
}

fn write_tar(
    file: File,
    tmp: &Path,
    small: &[(String, Vec<u8>, u32)],
    debs: &[(&DebFile, String)],
    mtime: u64,
    reporter: &dyn Reporter,
) -> Result<(String, u64, File), DebsError> {
    let hashed = HashingWriter::new(BufWriter::with_capacity(256 * 1024, file));
    let err = |e: io::Error| DebsError::io(tmp, e);
    let gz = GzWriter::new(hashed, TAR_GZ_LEVEL).map_err(err)?;
    let mut tar = tar::Builder::new(gz);
    for (name, bytes, mode) in small {
        let mut h = header(*mode, bytes.len() as u64, mtime, tar::EntryType::Regular);
        tar.append_data(&mut h, name, bytes.as_slice())
            .map_err(err)?;
    }
    let mut h = header(0o755, 0, mtime, tar::EntryType::Directory);
    tar.append_data(&mut h, "pool/", io::empty()).map_err(err)?;
    let mut sorted: Vec<&(&DebFile, String)> = debs.iter().collect();
    sorted.sort_by(|a, b| a.1.cmp(&b.1));
    let mut buf = vec![0u8; 256 * 1024];
    // The .debs were the step's items when they were fetched (`materialise`): packing
    // them is told as bytes, or the count would pass its total.
    for (deb, name) in &sorted {
        let src = crate::input::open_regular(&deb.path)
            .map_err(|e| DebsError::io(&deb.path, e.into_io()))?;
        let mut h = header(0o644, deb.size, mtime, tar::EntryType::Regular);
        // The entry's header (after a GNU long-name entry when the name needs one): the
        // header says the size, no data follows it here. The data comes next, stored when
        // it is compressed already, then the padding to the next 512-byte block.
        tar.append_data(&mut h, name, io::empty()).map_err(err)?;
        let gz = tar.get_mut();
        let mut body = HashingReader::new(io::Read::take(src, deb.size));
        let mut copied = 0u64;
        loop {
            let n = match io::Read::read(&mut body, &mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(DebsError::io(&deb.path, e)),
            };
            if deb.compressed {
                gz.write_stored(&buf[..n]).map_err(err)?;
            } else {
                gz.write_all(&buf[..n]).map_err(err)?;
            }
            copied += n as u64;
        }
        // The header fixes the size: a file that changed since it was hashed fails here
        // rather than producing a short or different entry.
        if copied != deb.size || body.hex() != deb.sha256 {
            return Err(DebsError::HashMismatch {
                what: deb.path.display().to_string(),
                expected: format!("sha256:{}", deb.sha256),
                actual: format!("sha256:{} ({copied} bytes)", body.hex()),
            });
        }
        let pad = (512 - deb.size % 512) % 512;
        gz.write_all(&[0u8; 512][..pad as usize]).map_err(err)?;
        reporter.item_progress(name, deb.size);
    }
    let gz = tar.into_inner().map_err(err)?;
    let hashed = gz.finish().map_err(err)?;
    let (inner, sha256, bytes) = hashed.finish();
    let file = inner.into_inner().map_err(|e| err(e.into_error()))?;
    file.sync_all().map_err(err)?;
    Ok((sha256, bytes, file))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packing_the_fetched_debs_counts_no_item_again() {
        let dir = tempfile::tempdir().unwrap();
        let mut debs = Vec::new();
        for name in ["a_1_amd64.deb", "b_1_amd64.deb"] {
            let path = dir.path().join(name);
            std::fs::write(&path, name).unwrap();
            debs.push(DebFile {
                path,
                control: Paragraph::default(),
                size: name.len() as u64,
                md5: String::new(),
                sha1: String::new(),
                sha256: sha256_hex(name.as_bytes()),
                compressed: false,
            });
        }
        let named: Vec<(&DebFile, String)> = (debs.iter())
            .map(|d| (d, format!("pool/{}", d.path.file_name().unwrap().display())))
            .collect();
        let tally = crate::report::Tally::default();
        // Fetching made them the step's items.
        for (i, (_, name)) in named.iter().enumerate() {
            tally.item_started(name, i, named.len());
            tally.item_finished(name, "");
        }
        let tmp = dir.path().join("bundle.tar.gz");
        let file = File::create(&tmp).unwrap();
        write_tar(file, &tmp, &[], &named, 0, &tally).unwrap();
        tally.assert_counts();
    }

    #[test]
    fn bundle_names_are_plain_words() {
        for ok in ["ops", "Ops_1.2+x-y", "a", &"n".repeat(MAX_NAME_LEN)] {
            assert!(check_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            ".hidden",
            "-rf",
            "a b",
            "x'; touch /tmp/p; '",
            "$(id)",
            "a/b",
            "a\nb",
            "é",
            &"n".repeat(MAX_NAME_LEN + 1),
        ] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn install_sh_takes_each_value_as_one_word_and_refuses_a_bad_name() {
        let mut options = BundleOptions {
            name: "ops".into(),
            requested: vec![
                "jq".parse().unwrap(),
                "curl=7.88.1-10+deb12u5".parse().unwrap(),
            ],
            arch: "amd64".into(),
            mtime: 0,
        };
        let script = install_script(&options, "abc").unwrap();
        assert!(
            script.contains("\nNAME=ops\nBUNDLE_ID=abc\nPACKAGES='jq curl=7.88.1-10+deb12u5'\n")
        );
        assert!(!script.contains("@NAME@") && script.contains("\"$@\""));
        let mut hostile = options.clone();
        hostile.requested[0].name = "*".into();
        assert!(matches!(
            install_script(&hostile, "abc"),
            Err(DebsError::Unsatisfiable(_))
        ));
        options.name = "x'; touch /tmp/p; '".into();
        assert!(matches!(
            install_script(&options, "abc"),
            Err(DebsError::Name(_))
        ));
    }

    /// A .deb of `name` whose data member is `data`, named `data_name`.
    fn deb_file(dir: &Path, name: &str, data_name: &str, data: &[u8]) -> DebFile {
        use super::super::deb::tests::{ar, control_tar};
        let control = format!("Package: {name}\nVersion: 1.0\nArchitecture: amd64\n");
        let tar = control_tar(&control);
        let members = [
            ("debian-binary", &b"2.0\n"[..]),
            ("control.tar", tar.as_slice()),
            (data_name, data),
        ];
        let path = dir.join(format!("{name}.deb"));
        std::fs::write(&path, ar(&members)).unwrap();
        super::super::deb::read_deb(&path).unwrap()
    }

    #[test]
    fn a_deb_whose_data_is_compressed_is_stored_and_the_rest_deflated() {
        let dir = tempfile::tempdir().unwrap();
        // Bytes that do not compress, as an xz member's are; and a plain data.tar.
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let noise: Vec<u8> = (0..300_000)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed as u8
            })
            .collect();
        // A name too long for a tar header: a GNU long-name entry comes before it.
        let long = format!("packed-{}", "x".repeat(120));
        let packed = deb_file(dir.path(), &long, "data.tar.xz", &noise);
        let plain = deb_file(dir.path(), "plain", "data.tar", &vec![0u8; 200_000]);
        assert!(packed.compressed && !plain.compressed);
        let options = BundleOptions {
            name: "ops".into(),
            requested: vec![long.parse().unwrap(), "plain".parse().unwrap()],
            arch: "amd64".into(),
            mtime: 1_700_000_000,
        };
        let out = dir.path().join("ops.tar.gz");
        let debs = [packed.clone(), plain.clone()];
        let report = write_bundle(
            &debs,
            &options,
            &out,
            &crate::report::NoopReporter,
            &Staging::new(),
        )
        .unwrap();
        let gz = std::fs::read(&out).unwrap();
        assert_eq!(report.file_bytes, gz.len() as u64);
        // The stored blocks hold the compressed .deb, every byte of it and nothing else;
        // the plain one, the index files and the tar headers are deflated.
        let blocks = super::super::gz::block_types(&gz);
        let stored: u64 = blocks.iter().filter(|b| b.0 == 0).map(|b| b.1 as u64).sum();
        assert_eq!(stored, packed.size);
        assert!(blocks.iter().any(|b| b.0 == 2));
        assert!(
            (gz.len() as u64) < packed.size + 20_000,
            "{} bytes for a {}-byte .deb stored and the rest deflated",
            gz.len(),
            packed.size
        );
        // An ordinary tar.gz: each .deb comes out as it went in.
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(gz.as_slice()));
        let mut found = Vec::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let path = entry.path().unwrap().display().to_string();
            let mut bytes = Vec::new();
            io::Read::read_to_end(&mut entry, &mut bytes).unwrap();
            if let Some(deb) = debs
                .iter()
                .find(|d| path == format!("pool/{}", pool_name(d)))
            {
                assert_eq!(bytes, std::fs::read(&deb.path).unwrap(), "{path}");
                found.push(path);
            }
        }
        assert_eq!(found.len(), 2);
    }

    #[test]
    fn release_dates_are_rfc2822_utc() {
        assert_eq!(rfc2822(0), "Thu, 01 Jan 1970 00:00:00 UTC");
        assert_eq!(rfc2822(1_700_000_000), "Tue, 14 Nov 2023 22:13:20 UTC");
        assert_eq!(rfc2822(951_782_400), "Tue, 29 Feb 2000 00:00:00 UTC");
    }

    #[test]
    fn release_lists_every_index_with_hash_and_size() {
        let options = BundleOptions {
            name: "ops".into(),
            requested: vec![],
            arch: "amd64".into(),
            mtime: 0,
        };
        let r = release_file(&options, &[("Packages", b""), ("Packages.gz", b"x")]);
        assert!(r.contains(
            "\n e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 0 Packages\n"
        ));
        assert!(r.contains(" 1 Packages.gz\n"));
        assert!(r.contains("Architectures: amd64 all\n"));
    }
}
