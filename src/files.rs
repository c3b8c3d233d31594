//! `files:` in seedforge.yaml: payload files every seed carries, such as the k3s binary.
//!
//! ```yaml
//! files:
//!   - name: bin/k3s              # OUT/files/bin/k3s, payload/bin/k3s on every seed ISO
//!     source: k3s-v1.33.1        # a local file (relative to the config) or an http(s) URL
//!     sha256: "<64 lowercase hex>"  # required; a mismatch is refused
//!     executable: true           # optional: mode 0755 instead of 0644
//!     size: 71000000             # optional: the exact size in bytes a download may have
//! ```
//!
//! A download is bounded: by `size` when given, else by [`MAX_URL_FILE_SIZE`]; a server
//! that sends more is cut off there and nothing is kept.
//!
//! A local file is hashed while planning, so a wrong digest fails before anything is
//! written. A URL is downloaded by the `files` step into a temporary file beside its final
//! name, hashed while it streams, and renamed only when the digest matches; it goes through
//! the run's [`Net`], with its trust, retry policy and time limits. A file
//! already in place with the right digest is neither copied nor downloaded again.
//!
//! A URL may carry `user:password@`; it is sent as basic auth to that URL's host only (not
//! after a redirect to another host) and never printed, logged or written anywhere (every display of the source strips it).

use crate::hashing::HashingWriter;
use crate::input::Location;
use crate::net::{Fetch, FetchError, Net};
use crate::report::Reporter;
use crate::util::{CopyError, sync_parent, temp_path_beside};
use serde::{Deserialize, Serialize, Serializer};
use std::fmt;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// The payload name of the k3s binary: the default templates install `payload/bin/k3s` as
/// `/usr/local/bin/k3s`, so a `files:` entry of this name is the cluster's k3s.
pub const K3S_BINARY: &str = "bin/k3s";

/// The most bytes a `files:` URL without `size` may send (4 GiB).
pub const MAX_URL_FILE_SIZE: u64 = 4 << 30;

/// Deepest directory nesting of a name: the ISO keeps 8 levels, the root and `payload/`
/// use two of them.
const MAX_NAME_DIRS: usize = 6;

/// Errors of the `files:` payload.
#[derive(Debug, thiserror::Error)]
pub enum FilesError {
    /// A file's content does not have the sha256 the config gives.
    #[error("{0}")]
    Mismatch(Box<Mismatch>),
    /// An input error met while the step was already writing (a download with the wrong
    /// digest, a local file changed since planning): a failure (exit 1), since other
    /// steps' outputs already exist.
    #[error(transparent)]
    DuringBuild(Box<FilesError>),
    /// A local source file cannot be read.
    #[error("{}:{line}: files entry {name:?}: cannot read {}: {message}", config.display(), path.display())]
    Source {
        /// The config file.
        config: PathBuf,
        /// The entry's line in the config.
        line: u64,
        /// The entry's name.
        name: String,
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Two payload files would have the same path.
    #[error("{}:{line}: files entry {name:?}: {message}", config.display())]
    Conflict {
        /// The config file.
        config: PathBuf,
        /// The entry's line in the config.
        line: u64,
        /// The entry's name.
        name: String,
        /// What it collides with.
        message: String,
    },
    /// The k3s binary downloaded is another release than `cluster.k3s_version`.
    #[error("{0}")]
    K3sRelease(String),
    /// A download failed (after retries where retrying made sense).
    #[error("files entry {name:?}: cannot download {url}: {message}")]
    Download {
        /// The entry's name.
        name: String,
        /// The URL, without credentials.
        url: String,
        /// What went wrong.
        message: String,
        /// The server was busy or out of reach after the retries (another run may
        /// succeed).
        transient: bool,
    },
    /// Writing under `OUT/files` failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
}

impl FilesError {
    /// The config file and the entry's line the error is at, when it names them.
    pub fn place(&self) -> Option<crate::input::Place> {
        use crate::input::Place;
        match self {
            FilesError::Mismatch(m) => Some(Place::line(&m.config, m.line)),
            FilesError::Source { config, line, .. } | FilesError::Conflict { config, line, .. } => {
                Some(Place::line(config, *line))
            }
            FilesError::DuringBuild(e) => e.place(),
            _ => None,
        }
    }
}

/// A file whose content does not have the sha256 the config gives.
#[derive(Debug)]
pub struct Mismatch {
    /// The config file.
    pub config: PathBuf,
    /// The entry's line in the config.
    pub line: u64,
    /// The entry's name.
    pub name: String,
    /// The source, as written (without credentials).
    pub source_text: String,
    /// The digest the config gives.
    pub expected: String,
    /// The digest of the content.
    pub actual: String,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: files entry {:?}: {} has sha256 {}, but the config expects {}",
            self.config.display(),
            self.line,
            self.name,
            self.source_text,
            self.actual,
            self.expected
        )
    }
}

impl FilesError {
    /// True if the error is about the inputs (exit code 2).
    pub fn is_invalid_input(&self) -> bool {
        matches!(
            self,
            FilesError::Mismatch(_)
                | FilesError::Source { .. }
                | FilesError::Conflict { .. }
                | FilesError::K3sRelease(_)
        )
    }

    /// True when a download's server was busy or out of reach after the retries: another
    /// run later may succeed (exit 75).
    pub fn is_transient(&self) -> bool {
        match self {
            FilesError::Download { transient, .. } => *transient,
            FilesError::DuringBuild(e) => e.is_transient(),
            _ => false,
        }
    }

    fn io(path: &Path, source: io::Error) -> FilesError {
        FilesError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// One `files:` entry as parsed (values checked; its position is added by the config).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFile {
    name: PayloadName,
    source: FileSource,
    sha256: Sha256Hex,
    #[serde(default)]
    executable: bool,
    #[serde(default)]
    size: Option<u64>,
}

/// One `files:` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileConfig {
    /// Path under `payload/` and `OUT/files/` (`bin/k3s`).
    pub name: String,
    /// Where the content comes from.
    pub source: FileSource,
    /// The sha256 the content must have (lowercase hex).
    pub sha256: String,
    /// Mode 0755 instead of 0644.
    pub executable: bool,
    /// The exact size a download may have (`size:`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Where the entry is in the config.
    #[serde(skip)]
    pub location: Location,
}

impl FileConfig {
    /// The entry parsed at `location`.
    pub fn from_raw(raw: RawFile, location: Location) -> FileConfig {
        FileConfig {
            name: raw.name.0,
            source: raw.source,
            sha256: raw.sha256.0,
            executable: raw.executable,
            size: raw.size,
            location,
        }
    }

    /// The file's mode in `OUT/files` and on the seed.
    pub fn mode(&self) -> u32 {
        if self.executable { 0o755 } else { 0o644 }
    }
}

/// A payload file's name: a relative `/`-separated path without `.`, `..`, empty parts,
/// backslashes or control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PayloadName(String);

impl<'de> Deserialize<'de> for PayloadName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        check_name(&s).map_err(serde::de::Error::custom)?;
        Ok(PayloadName(s))
    }
}

fn check_name(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err("the name is empty".into());
    }
    if s.starts_with('/') {
        return Err(format!(
            "name {s:?} is absolute; give a path relative to payload/ such as bin/k3s"
        ));
    }
    if s.chars().any(|c| c.is_control() || c == '\\') {
        return Err(format!(
            "name {s:?} holds a backslash or a control character"
        ));
    }
    let parts: Vec<&str> = s.split('/').collect();
    if parts
        .iter()
        .any(|p| p.is_empty() || *p == "." || *p == "..")
    {
        return Err(format!(
            "name {s:?} must not contain empty, `.` or `..` parts"
        ));
    }
    if parts.iter().any(|p| p.len() > 255) {
        return Err(format!("name {s:?} has a part longer than 255 bytes"));
    }
    if parts.len() > MAX_NAME_DIRS + 1 {
        return Err(format!(
            "name {s:?} is nested deeper than {MAX_NAME_DIRS} directories (the seed ISO's limit)"
        ));
    }
    if s == "SHA256SUMS" {
        return Err("payload/SHA256SUMS is written by seedforge; choose another name".into());
    }
    Ok(())
}

/// sha256 as 64 lowercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Sha256Hex(String);

impl<'de> Deserialize<'de> for Sha256Hex {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let s = s.strip_prefix("sha256:").unwrap_or(&s);
        if s.len() != 64 || !s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(serde::de::Error::custom(format!(
                "sha256 {s:?} must be 64 lowercase hex digits"
            )));
        }
        Ok(Sha256Hex(s.to_string()))
    }
}

/// Where a payload file comes from.
#[derive(Clone, PartialEq, Eq)]
pub enum FileSource {
    /// A local file, as written (relative paths resolve against the config's directory).
    Local(PathBuf),
    /// An `http://` or `https://` URL (possibly with credentials, never shown).
    Url(String),
}

impl FileSource {
    /// The source as written, with any `user:password@` of a URL removed.
    pub fn display(&self) -> String {
        match self {
            FileSource::Local(p) => p.display().to_string(),
            FileSource::Url(u) => split_userinfo(u).0,
        }
    }

    /// The source as the output records it (`manifest.json`, the provenance, the SBOMs):
    /// [`FileSource::display`], but a local file written as an absolute path is named by
    /// its file name only (`a local file (k3s)`), so no absolute path of the build's
    /// machine is sealed.
    pub fn recorded(&self) -> String {
        match self {
            FileSource::Local(path) if path.is_absolute() => format!(
                "a local file ({})",
                path.file_name()
                    .map(|n| n.to_string_lossy())
                    .unwrap_or_default()
            ),
            s => s.display(),
        }
    }
}

impl fmt::Debug for FileSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display())
    }
}

impl Serialize for FileSource {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.display())
    }
}

impl<'de> Deserialize<'de> for FileSource {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s.is_empty() {
            return Err(serde::de::Error::custom("the source is empty"));
        }
        let lower = s.to_ascii_lowercase();
        if lower.starts_with("http://") || lower.starts_with("https://") {
            let (bare, _) = split_userinfo(&s);
            // An `@` left after the credentials were split off means they hold a raw `/`,
            // `?` or `#`, and the URL cannot be shown without them: say so without it.
            if bare.contains('@') {
                return Err(serde::de::Error::custom(
                    "URL with an `@` outside its credentials: percent-encode `@`, `/`, `?` and `#` in a user name or password (%40, %2F, %3F, %23)",
                ));
            }
            let rest = &bare[bare.find("://").map_or(0, |i| i + 3)..];
            let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
            if host.is_empty() {
                return Err(serde::de::Error::custom(format!(
                    "URL {bare:?} has no host"
                )));
            }
            if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(serde::de::Error::custom(format!(
                    "URL {bare:?} holds whitespace"
                )));
            }
            return Ok(FileSource::Url(s));
        }
        if let Some((scheme, _)) = s.split_once("://") {
            return Err(serde::de::Error::custom(format!(
                "{scheme}:// sources are not supported; give a local file or an http(s) URL"
            )));
        }
        // A path field: a Windows path is refused like any other's.
        crate::winpath::LinuxPath::parse(&s)
            .map(|p| FileSource::Local(p.into()))
            .map_err(serde::de::Error::custom)
    }
}

/// Splits `scheme://user:pass@host/...` into the URL without credentials and the
/// percent-decoded `user:pass`, if any.
fn split_userinfo(url: &str) -> (String, Option<String>) {
    let Some(start) = url.find("://").map(|i| i + 3) else {
        return (url.to_string(), None);
    };
    let authority_end = url[start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| start + i);
    match url[start..authority_end].rfind('@') {
        Some(at) => {
            let userinfo = &url[start..start + at];
            let bare = format!("{}{}", &url[..start], &url[start + at + 1..]);
            (bare, Some(crate::util::percent_decode(userinfo)))
        }
        None => (url.to_string(), None),
    }
}

/// Checks the names of the `files:` entries among themselves (a name used twice, or one
/// name a directory of another); returns the position and message of the first problem.
pub fn check_names(files: &[FileConfig]) -> Result<(), (Location, String)> {
    for (i, f) in files.iter().enumerate() {
        for earlier in &files[..i] {
            if let Some(message) = collision(&f.name, &earlier.name) {
                return Err((
                    f.location,
                    format!(
                        "files entry {:?} {message} the entry at line {}",
                        f.name, earlier.location.line
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// How two payload names collide, if they do.
fn collision(a: &str, b: &str) -> Option<&'static str> {
    if a == b {
        Some("has the same name as")
    } else if b.starts_with(&format!("{a}/")) {
        Some("is a directory of")
    } else if a.starts_with(&format!("{b}/")) {
        Some("lies under")
    } else {
        None
    }
}

/// Where the `files` step reads a file from.
#[derive(Clone, PartialEq, Eq)]
pub enum Origin {
    /// A local file (resolved).
    Local(PathBuf),
    /// A URL (credentials included: never show it).
    Url(String),
}

impl fmt::Debug for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Local(p) => write!(f, "Local({})", p.display()),
            Origin::Url(u) => write!(f, "Url({})", split_userinfo(u).0),
        }
    }
}

/// A payload file ready for the `files` step.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedFile {
    /// Path under `payload/` and `OUT/files/`.
    pub name: String,
    /// Where it comes from (without credentials when shown).
    pub source: FileSource,
    /// The local file (resolved against the config's directory) or the URL to fetch.
    #[serde(skip)]
    pub origin: Origin,
    /// The expected sha256.
    pub sha256: String,
    /// Mode 0755.
    pub executable: bool,
    /// The most bytes a download may have.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// The config's line, for errors.
    #[serde(skip)]
    pub line: u64,
    /// The config's column, for errors.
    #[serde(skip)]
    pub column: u64,
    /// The config file, for errors.
    #[serde(skip)]
    pub config: PathBuf,
    /// For the k3s binary from a URL: the release it must be (`cluster.k3s_version`),
    /// checked once it is downloaded (a local one is checked while planning).
    #[serde(skip)]
    pub k3s_version: Option<String>,
}

impl PlannedFile {
    fn mode(&self) -> u32 {
        if self.executable { 0o755 } else { 0o644 }
    }

    fn mismatch(&self, actual: String) -> FilesError {
        FilesError::Mismatch(Box::new(Mismatch {
            config: self.config.clone(),
            line: self.line,
            name: self.name.clone(),
            source_text: self.source.display(),
            expected: self.sha256.clone(),
            actual,
        }))
    }

    fn source_error(&self, path: &Path, e: &io::Error) -> FilesError {
        FilesError::Source {
            config: self.config.clone(),
            line: self.line,
            name: self.name.clone(),
            path: path.to_path_buf(),
            message: e.to_string(),
        }
    }
}

/// Plans the `files:` entries of the config at `config_path` (relative sources resolve
/// against `config_dir`): every local source is read and hashed now, so a missing file or
/// a wrong digest fails before anything is written. `generated` are the payload names the
/// build writes itself; a file colliding with one is refused.
pub fn plan(
    files: &[FileConfig],
    config_path: &Path,
    config_dir: &Path,
    generated: &[String],
) -> Result<Vec<PlannedFile>, FilesError> {
    plan_with(
        files,
        config_path,
        config_dir,
        generated,
        &crate::hashing::sha256_file,
    )
}

/// [`plan`] with the digests of local sources from `sha256` (a build's stat cache, so an
/// unchanged source is not read again).
pub fn plan_with(
    files: &[FileConfig],
    config_path: &Path,
    config_dir: &Path,
    generated: &[String],
    sha256: &dyn Fn(&Path) -> io::Result<String>,
) -> Result<Vec<PlannedFile>, FilesError> {
    let mut out = Vec::new();
    for f in files {
        let planned = PlannedFile {
            name: f.name.clone(),
            source: f.source.clone(),
            origin: match &f.source {
                FileSource::Local(p) => Origin::Local(config_dir.join(p)),
                FileSource::Url(u) => Origin::Url(u.clone()),
            },
            sha256: f.sha256.clone(),
            executable: f.executable,
            size: f.size,
            line: f.location.line,
            column: f.location.column,
            config: config_path.to_path_buf(),
            k3s_version: None,
        };
        if let Some(g) = generated
            .iter()
            .find_map(|g| collision(&f.name, g).map(|m| (g, m)))
        {
            return Err(FilesError::Conflict {
                config: config_path.to_path_buf(),
                line: f.location.line,
                name: f.name.clone(),
                message: format!("{} payload/{} that the build writes itself", g.1, g.0),
            });
        }
        if let Origin::Local(path) = &planned.origin {
            let actual = sha256(path).map_err(|e| planned.source_error(path, &e))?;
            if actual != planned.sha256 {
                return Err(planned.mismatch(actual));
            }
        }
        out.push(planned);
    }
    Ok(out)
}

/// What the `files` step did with one file.
#[derive(Debug, Clone, Serialize)]
pub struct FileReport {
    /// Path under `payload/`.
    pub name: String,
    /// The file written (`OUT/files/<name>`).
    pub path: PathBuf,
    /// The source, without credentials.
    pub source: String,
    /// Its sha256 (lowercase hex).
    pub sha256: String,
    /// Its size.
    pub size: u64,
    /// `copied`, `downloaded` or `unchanged`.
    pub outcome: &'static str,
    /// Download attempts that failed and were retried.
    pub retries: u32,
}

/// The `files` step: writes every planned file under `out` (`OUT/files`).
pub fn write_all(
    files: &[PlannedFile],
    out: &Path,
    net: &Net,
    reporter: &dyn Reporter,
) -> Result<Vec<FileReport>, FilesError> {
    write_all_with(files, out, net, reporter, &crate::hashing::sha256_file)
}

/// [`write_all`], checking a file already in place with `sha256` (a build's stat cache).
pub fn write_all_with(
    files: &[PlannedFile],
    out: &Path,
    net: &Net,
    reporter: &dyn Reporter,
    sha256: &dyn Fn(&Path) -> io::Result<String>,
) -> Result<Vec<FileReport>, FilesError> {
    let mut reports = Vec::new();
    for (i, f) in files.iter().enumerate() {
        reporter.item_started(&f.name, i, files.len());
        let dest = out.join(&f.name);
        let report = write_one(f, &dest, net, reporter, sha256).map_err(|e| {
            if e.is_invalid_input() {
                FilesError::DuringBuild(Box::new(e))
            } else {
                e
            }
        })?;
        reporter.item_finished(&f.name, report.outcome);
        reports.push(report);
    }
    Ok(reports)
}

fn write_one(
    f: &PlannedFile,
    dest: &Path,
    net: &Net,
    reporter: &dyn Reporter,
    sha256: &dyn Fn(&Path) -> io::Result<String>,
) -> Result<FileReport, FilesError> {
    let mut report = FileReport {
        name: f.name.clone(),
        path: dest.to_path_buf(),
        source: f.source.display(),
        sha256: f.sha256.clone(),
        size: 0,
        outcome: "unchanged",
        retries: 0,
    };
    if let Ok(meta) = fs::metadata(dest)
        && meta.is_file()
        && sha256(dest).is_ok_and(|h| h == f.sha256)
    {
        set_mode(dest, f.mode()).map_err(|e| FilesError::io(dest, e))?;
        report.size = meta.len();
        return Ok(report);
    }
    if let Some(dir) = dest.parent() {
        fs::create_dir_all(dir).map_err(|e| FilesError::io(dir, e))?;
    }
    let (size, retries) = match &f.origin {
        Origin::Local(path) => {
            report.outcome = "copied";
            let mut src =
                crate::input::open_regular(path).map_err(|e| f.source_error(path, &e.into_io()))?;
            let size = write_checked(f, dest, &mut src, |e| f.source_error(path, &e))?;
            (size, 0)
        }
        Origin::Url(url) => {
            report.outcome = "downloaded";
            let got = download(net, f, url, dest, reporter)?;
            if let Some(expected) = &f.k3s_version {
                let at = Location {
                    line: f.line,
                    column: f.column,
                };
                if let Err(e) =
                    crate::preflight::check_k3s_binary(expected, dest, &f.config, at, &f.name)
                {
                    let _ = fs::remove_file(dest);
                    return Err(FilesError::K3sRelease(e.to_string()));
                }
            }
            got
        }
    };
    report.size = size;
    report.retries = retries;
    Ok(report)
}

/// Streams `src` into a temporary file beside `dest` (created at the file's mode), hashing
/// on the way; renames it to `dest` only when the digest matches. `read_err` maps a read
/// error of the source.
fn write_checked(
    f: &PlannedFile,
    dest: &Path,
    src: &mut dyn Read,
    read_err: impl Fn(io::Error) -> FilesError,
) -> Result<u64, FilesError> {
    let tmp = temp_path_beside(dest);
    let result = (|| {
        let file =
            crate::util::create_new_mode(&tmp, f.mode()).map_err(|e| FilesError::io(&tmp, e))?;
        let mut w = HashingWriter::new(io::BufWriter::with_capacity(1 << 20, file));
        crate::util::copy_split(src, &mut w).map_err(|e| match e {
            CopyError::Read(e) => read_err(e),
            CopyError::Write(e) => FilesError::io(&tmp, e),
        })?;
        let (buf, sha256, size) = w.finish();
        let file = buf
            .into_inner()
            .map_err(|e| FilesError::io(&tmp, e.into_error()))?;
        if sha256 != f.sha256 {
            return Err(f.mismatch(sha256));
        }
        file.sync_all().map_err(|e| FilesError::io(&tmp, e))?;
        fs::rename(&tmp, dest).map_err(|e| FilesError::io(dest, e))?;
        sync_parent(dest).map_err(|e| FilesError::io(dest, e))?;
        Ok(size)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    if fs::metadata(path)?.permissions().mode() & 0o7777 != mode {
        crate::modes::set_path(path, mode)?;
    }
    Ok(())
}

/// Downloads `url` for `f` into `dest` through `net` (its trust, retries and limits);
/// returns its size and the number of retries. Credentials in the URL go to its host
/// only, as an `Authorization` header.
fn download(
    net: &Net,
    f: &PlannedFile,
    url: &str,
    dest: &Path,
    reporter: &dyn Reporter,
) -> Result<(u64, u32), FilesError> {
    let (bare, userinfo) = split_userinfo(url);
    let fail_as = |message: String, transient: bool| FilesError::Download {
        name: f.name.clone(),
        url: bare.clone(),
        message,
        transient,
    };
    let fail = |message: String| fail_as(message, false);
    let authorization = userinfo.map(|u| {
        use base64::Engine as _;
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(u)
        )
    });
    let fetch = Fetch {
        url: &bare,
        authorization: authorization.as_deref(),
        max_bytes: Some(f.size.unwrap_or(MAX_URL_FILE_SIZE)),
    };
    let mut retries = 0;
    let mut on_retry = |m: &str| {
        retries += 1;
        reporter.warning(&format!("{}: {bare}: {m}", f.name));
    };
    let found = net.fetch(
        &fetch,
        &mut |body| write_checked(f, dest, body, |e| FilesError::io(dest, e)),
        &mut on_retry,
    );
    match found {
        Ok(Some(size)) => Ok((size, retries)),
        Ok(None) => Err(fail("HTTP status 404".into())),
        Err(FetchError::Net(e)) => Err(fail_as(e.detail(), e.is_transient())),
        Err(FetchError::Consumer(e)) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        for good in ["bin/k3s", "k3s", "a b/c.tar.zst", "images/extra.tar"] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "/bin/k3s",
            "../k3s",
            "bin/../k3s",
            "bin//k3s",
            "./k3s",
            "bin/",
            "a\\b",
            "a\nb",
            "SHA256SUMS",
            "1/2/3/4/5/6/7/x",
        ] {
            assert!(check_name(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn credentials_never_show() {
        let (bare, userinfo) = split_userinfo("https://me:p%40ss@example.com:8443/k3s?x=1");
        assert_eq!(bare, "https://example.com:8443/k3s?x=1");
        assert_eq!(userinfo.as_deref(), Some("me:p@ss"));
        let source = FileSource::Url("https://me:secret@example.com/k3s".into());
        assert_eq!(source.display(), "https://example.com/k3s");
        assert!(!format!("{source:?}").contains("secret"));
        assert!(
            !serde_json::to_string(&source)
                .unwrap_or_default()
                .contains("secret")
        );
        // An @ after the authority is not a credential separator.
        let (bare, userinfo) = split_userinfo("http://h/a@b");
        assert_eq!((bare.as_str(), userinfo), ("http://h/a@b", None));
        // A raw `#` in a password would leave it in the shown URL: refused, unshown.
        for url in [
            "https://deploy:s3cr#tpw@127.0.0.1:9/k3s",
            "https://deploy:s3cr/tpw@127.0.0.1:9/k3s",
        ] {
            let e = serde_json::from_value::<FileSource>(serde_json::json!(url))
                .unwrap_err()
                .to_string();
            assert!(e.contains("percent-encode") && !e.contains("s3cr"), "{e}");
        }
    }

    #[test]
    fn collisions_are_found() {
        assert!(collision("bin/k3s", "bin/k3s").is_some());
        assert!(collision("bin", "bin/k3s").is_some());
        assert!(collision("bin/k3s", "bin").is_some());
        assert!(collision("bin/k3s", "bin/k3").is_none());
        assert!(collision("bin2/x", "bin").is_none());
    }
}
