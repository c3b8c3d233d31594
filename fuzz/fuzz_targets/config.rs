//! seedforge.yaml: any text gives a config or an error with a location, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use seedforge::config::Config;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Config::parse(text, Path::new("/fuzz/seedforge.yaml"));
    }
});
