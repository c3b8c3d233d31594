//! Basic auth as the build's distribution config sets it: when `OUT/registry/config.yml`
//! has `auth.htpasswd`, every request needs a user and password its htpasswd file (bcrypt
//! entries, as distribution takes them) accepts. Both files are looked at through the
//! request's `OUT` handle, and read and parsed again only when one of them changed (its
//! inode, size or times): a request costs a `stat` of each, not a read and a YAML parse. A bcrypt check costs tens
//! of milliseconds by design, so a user and password that passed are remembered (a digest
//! of them and the entry, at most [`REMEMBERED`]), and at most two checks run at once: a
//! client guessing passwords cannot take every core. A user the file does not name (or
//! names with an entry that is not bcrypt) costs the same check, against a fixed hash of
//! the entries' cost, as distribution does: how long a refusal takes does not tell which
//! user names exist.

use super::catalog::Snapshot;
use sha2::{Digest as _, Sha256};
use std::collections::{HashMap, HashSet};
use std::os::fd::AsFd as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// How many passing user and password pairs are remembered.
const REMEMBERED: usize = 1024;

/// The distribution config under `OUT` that says whether auth is on.
const CONFIG: &str = "registry/config.yml";

/// The auth a build output asks for.
#[derive(Debug)]
pub(super) struct Settings {
    /// The realm of the challenge.
    pub realm: String,
    /// User to bcrypt hash.
    users: HashMap<String, String>,
    /// A bcrypt hash no password is known for, of the entries' highest cost: what an
    /// unknown user's password is checked against.
    dummy: String,
}

/// The cost of the dummy hash when the file has no bcrypt entry (seedforge writes 10).
const DEFAULT_COST: u32 = 10;

impl Settings {
    /// The settings of `realm` and the htpasswd text `text`: its bcrypt entries (any other
    /// is left out, with a warning, and its user refused as an unknown one).
    fn new(realm: String, text: &str) -> Settings {
        let mut users = HashMap::new();
        let mut cost = None;
        for (user, hash) in text.lines().filter_map(|l| l.split_once(':')) {
            let hash = hash.trim();
            match hash.parse::<bcrypt::HashParts>() {
                Ok(parts) => {
                    cost = cost.max(Some(parts.get_cost()));
                    users.insert(user.to_string(), hash.to_string());
                }
                Err(_) => tracing::warn!(
                    "htpasswd: the entry of {user:?} is not a bcrypt hash; that user is refused"
                ),
            }
        }
        // Made once per reading of the file; a cost past 16 (seconds a check) is one no
        // sound file has, and is not paid here.
        let cost = cost.unwrap_or(DEFAULT_COST).min(16);
        let dummy = bcrypt::hash_with_salt(b"", cost, *b"seedforge-serve!")
            .map(|h| h.format_for_version(bcrypt::Version::TwoY))
            .unwrap_or_default();
        Settings {
            realm,
            users,
            dummy,
        }
    }
}

/// Which file was read: its device, inode, size and modification and change times.
type Stamp = (u64, u64, i64, i64, u64, i64, u64);

/// The stamp of `name` under the request's `OUT`, `None` when there is none.
fn stamp(snapshot: &Snapshot, name: &str) -> Option<Stamp> {
    let st = rustix::fs::statat(
        snapshot.out.as_fd(),
        name,
        rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
    )
    .ok()?;
    Some((
        st.st_dev,
        st.st_ino,
        st.st_size,
        st.st_mtime,
        st.st_mtime_nsec,
        st.st_ctime,
        st.st_ctime_nsec,
    ))
}

/// What the files said when last read, with their stamps taken before the read.
struct Cached {
    config: Option<Stamp>,
    /// The htpasswd file the config named, and its stamp.
    users: Option<(String, Option<Stamp>)>,
    said: Result<Option<Arc<Settings>>, String>,
}

/// The server's auth state.
pub(crate) struct Auth {
    /// What the config and htpasswd files said when last read.
    last: Mutex<Option<Cached>>,
    /// Digests of (user, password, entry) that passed.
    passed: Mutex<HashSet<[u8; 32]>>,
    /// bcrypt checks running at once.
    checks: tokio::sync::Semaphore,
    /// bcrypt checks made so far.
    checked: AtomicU64,
}

impl Default for Auth {
    fn default() -> Auth {
        Auth {
            last: Mutex::default(),
            passed: Mutex::default(),
            checks: tokio::sync::Semaphore::new(2),
            checked: AtomicU64::new(0),
        }
    }
}

#[derive(serde::Deserialize)]
struct RegistryConfig {
    #[serde(default)]
    auth: Option<AuthSection>,
}

#[derive(serde::Deserialize)]
struct AuthSection {
    #[serde(default)]
    htpasswd: Option<Htpasswd>,
}

#[derive(serde::Deserialize)]
struct Htpasswd {
    #[serde(default)]
    realm: Option<String>,
    path: String,
}

/// Reads `name` under `OUT`: `None` when it does not exist.
fn read(snapshot: &Snapshot, name: &str) -> Result<Option<Vec<u8>>, String> {
    let path = || std::path::PathBuf::from(name);
    match crate::input::open_found_beneath(snapshot.out.as_fd(), name, &path) {
        Ok((file, meta)) => {
            let cap = crate::input::Kind::Config.cap();
            crate::input::read_opened(file, meta, cap, "registry file", &path)
                .map(|(b, _)| Some(b))
                .map_err(|e| e.to_string())
        }
        Err(crate::input::InputError::Io { source, .. })
            if source.kind() == std::io::ErrorKind::NotFound =>
        {
            Ok(None)
        }
        Err(e) => Err(e.to_string()),
    }
}

impl Auth {
    /// The auth `OUT` asks for now: `None` for none; an error when it asks for one that
    /// cannot be read (every request is then refused).
    pub fn settings(&self, snapshot: &Snapshot) -> Result<Option<Arc<Settings>>, String> {
        let config = stamp(snapshot, CONFIG);
        if let Some(c) = &*self.last.lock().unwrap_or_else(PoisonError::into_inner)
            && c.config == config
            && c.users
                .as_ref()
                .is_none_or(|(path, s)| stamp(snapshot, path) == *s)
        {
            return c.said.clone();
        }
        let mut users = None;
        let said = Self::read_settings(snapshot, &mut |path| {
            users = Some((path.to_string(), stamp(snapshot, path)));
        });
        *self.last.lock().unwrap_or_else(PoisonError::into_inner) = Some(Cached {
            config,
            users,
            said: said.clone(),
        });
        said
    }

    /// Reads and parses the config and the htpasswd file it names (told to `naming` before
    /// it is read).
    fn read_settings(
        snapshot: &Snapshot,
        naming: &mut dyn FnMut(&str),
    ) -> Result<Option<Arc<Settings>>, String> {
        let Some(config) = read(snapshot, CONFIG)? else {
            return Ok(None);
        };
        let parsed: RegistryConfig = serde_saphyr::from_str(&String::from_utf8_lossy(&config))
            .map_err(|e| format!("{CONFIG}: {e}"))?;
        let Some(section) = parsed.auth else {
            return Ok(None);
        };
        let Some(htpasswd) = section.htpasswd else {
            return Err(format!("{CONFIG}: auth other than htpasswd is not served"));
        };
        if htpasswd.path.starts_with('/') {
            return Err(format!(
                "{CONFIG}: htpasswd {} is outside the output; serve reads it relative to OUT",
                htpasswd.path
            ));
        }
        naming(&htpasswd.path);
        let Some(users) = read(snapshot, &htpasswd.path)? else {
            return Err(format!("{}: no such file", htpasswd.path));
        };
        Ok(Some(Arc::new(Settings::new(
            htpasswd.realm.unwrap_or_else(|| "seedforge".into()),
            &String::from_utf8_lossy(&users),
        ))))
    }

    /// Whether the `Authorization` header `given` holds a user and password `settings`
    /// accepts.
    pub async fn check(&self, settings: &Settings, given: Option<&str>) -> bool {
        let Some((user, password)) = given.and_then(basic) else {
            return false;
        };
        // An unknown user is checked too, against the dummy hash: its refusal takes as
        // long as a wrong password's.
        let (hash, known) = match settings.users.get(&user) {
            Some(hash) => (hash.clone(), true),
            None => (settings.dummy.clone(), false),
        };
        let mut h = Sha256::new();
        for part in [user.as_bytes(), password.as_bytes(), hash.as_bytes()] {
            h.update((part.len() as u64).to_le_bytes());
            h.update(part);
        }
        let key: [u8; 32] = h.finalize().into();
        if known && self.remembered(&key) {
            return true;
        }
        let Ok(_permit) = self.checks.acquire().await else {
            return false;
        };
        // Another request may have checked the same pair meanwhile.
        if known && self.remembered(&key) {
            return true;
        }
        self.checked.fetch_add(1, Ordering::Relaxed);
        let verified = tokio::task::spawn_blocking(move || bcrypt::verify(password, &hash))
            .await
            .is_ok_and(|r| r.unwrap_or(false));
        let ok = verified && known;
        if ok {
            let mut passed = self.passed.lock().unwrap_or_else(PoisonError::into_inner);
            if passed.len() >= REMEMBERED {
                passed.clear();
            }
            passed.insert(key);
        }
        ok
    }

    fn remembered(&self, key: &[u8; 32]) -> bool {
        self.passed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(key)
    }
}

/// The user and password of a `Basic` authorization header.
fn basic(header: &str) -> Option<(String, String)> {
    use base64::Engine as _;
    let (scheme, value) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(value.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(user: &str, password: &str) -> String {
        use base64::Engine as _;
        let pair = format!("{user}:{password}");
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair)
        )
    }

    #[test]
    fn an_unknown_user_costs_a_bcrypt_check_as_a_wrong_password_does() {
        let hash = bcrypt::hash("right", 4).unwrap();
        let settings = Settings::new("r".into(), &format!("puller:{hash}\nplain:notbcrypt\n"));
        assert!(settings.dummy.starts_with("$2y$04$"), "{}", settings.dummy);
        assert!(!settings.users.contains_key("plain"));
        let auth = Auth::default();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let checks = |who: &str, password: &str| {
            let before = auth.checked.load(Ordering::Relaxed);
            let ok = runtime.block_on(auth.check(&settings, Some(&header(who, password))));
            (ok, auth.checked.load(Ordering::Relaxed) - before)
        };
        assert_eq!(checks("puller", "wrong"), (false, 1));
        // Unknown, or an entry that is not bcrypt: refused after the same check.
        assert_eq!(checks("nobody", "wrong"), (false, 1));
        assert_eq!(checks("plain", "notbcrypt"), (false, 1));
        // Whatever the password, the dummy hash lets no unknown user in.
        assert_eq!(checks("nobody", ""), (false, 1));
        assert_eq!(checks("puller", "right"), (true, 1));
        // A pair that passed is remembered.
        assert_eq!(checks("puller", "right"), (true, 0));
    }
}
