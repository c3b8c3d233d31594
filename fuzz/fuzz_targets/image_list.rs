//! Image lists: any text gives a list or an error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use seedforge::image::ImageList;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = ImageList::parse(text, Path::new("/fuzz/images.txt"));
    }
});
