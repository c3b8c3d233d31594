//! YAML and TOML as Helm's `toYaml`, `fromYaml` and `toToml` write and read them.

use super::value::Value;

/// `toYaml`.
pub(crate) fn to_yaml(_v: &Value, _max_depth: usize) -> Result<String, String> {
    Err("not yet".into())
}

/// `fromYaml`.
pub(crate) fn from_yaml(_s: &str, _max_depth: usize) -> Result<Value, String> {
    Err("not yet".into())
}

/// `toToml`.
pub(crate) fn to_toml(_v: &Value, _max_depth: usize) -> Result<String, String> {
    Err("not yet".into())
}
