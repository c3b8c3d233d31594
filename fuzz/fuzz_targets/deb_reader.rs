//! .deb files: any bytes give the control paragraph or an error, never a panic, with
//! memory bounded (the ar reader, the control tarball's decompression and the control
//! text parser all see hostile input here). Seeds in `fuzz/seeds/deb_reader/` are real
//! bookworm .debs cut to their control part and small crafted archives.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::io::Cursor;

fuzz_target!(|data: &[u8]| {
    let len = data.len() as u64;
    if let Ok(control) = seedforge::debs::deb::read_control(&mut Cursor::new(data), len) {
        for field in ["Package", "Version", "Architecture"] {
            assert!(control.get(field).is_some(), "{field} accepted missing");
        }
    }
});
