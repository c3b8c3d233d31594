//! `registry/htpasswd` for the distribution registry when pulls need basic auth. The
//! registry accepts only bcrypt entries, and bcrypt salts are random, so an existing file
//! whose entry still verifies against the configured user and password is kept as it is:
//! the same inputs leave the same bytes.

use super::PkiError;
use crate::vocab::SecretValue;
use std::path::Path;

/// bcrypt cost: distribution's own examples use the default of `htpasswd -B` (5); 10
/// costs about 50 ms once per changed password.
const COST: u32 = 10;

/// The htpasswd text for `user`: the existing file at `path` if it holds exactly that
/// user with that password, else a new entry.
pub fn entry(path: &Path, user: &str, password: &SecretValue) -> Result<String, PkiError> {
    if let Ok(text) = crate::input::read_found(path, crate::input::Kind::Text)
        && let Ok(text) = String::from_utf8(text)
        && let Some((name, hash)) = text.trim_end_matches('\n').split_once(':')
        && name == user
        && !hash.contains('\n')
        && bcrypt::verify(password.expose(), hash).unwrap_or(false)
    {
        return Ok(text);
    }
    let hash = bcrypt::hash(password.expose(), COST)
        .map_err(|e| PkiError::generate("the htpasswd entry", e))?;
    Ok(format!("{user}:{hash}\n"))
}
