//! Config files saved on Windows. CRLF line endings are read as the line breaks they are
//! (YAML itself treats CRLF as one break, so lines and columns in messages match the
//! editor's). A carriage return anywhere else is refused: YAML would read it as a line
//! break of its own, so the file would mean something other than what an editor shows,
//! and every line number after it would be off by one.

use super::ConfigError;
use std::path::Path;

/// The first carriage return not followed by a line feed, as an error at its line and
/// column (both 1-based, lines counted by line feeds).
pub(super) fn check(text: &str, path: &Path) -> Result<(), ConfigError> {
    for (i, line) in text.split('\n').enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if let Some(at) = line.find('\r') {
            return Err(ConfigError::Invalid {
                path: path.to_path_buf(),
                line: i as u64 + 1,
                column: line[..at].chars().count() as u64 + 1,
                message:
                    "carriage return in the middle of a line (only CRLF line endings are accepted)"
                        .into(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crlf_passes_and_a_lone_carriage_return_is_located() {
        let path = Path::new("c.yaml");
        check("a: 1\r\nb: 2\r\n", path).unwrap();
        check("a: 1\r", path).unwrap();
        let e = check("a: 1\r\nb: x\ry\r\n", path).unwrap_err().to_string();
        assert!(e.starts_with("c.yaml:2:5: carriage return"), "{e}");
    }
}
