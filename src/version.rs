//! The version and commit seedforge was built from (set by `build.rs`). They live below
//! every layer, so that what records them (the seal's manifest) needs nothing of the
//! crate root and its `Error`.

/// The version, the commit it was built from and that commit's date:
/// `0.1.0 (0123456789ab 2026-11-22)`.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("SEEDFORGE_COMMIT"),
    " ",
    env!("SEEDFORGE_COMMIT_DATE"),
    ")"
);

/// The commit the binary was built from (12 hex digits, or "unknown").
pub const COMMIT: &str = env!("SEEDFORGE_COMMIT");
