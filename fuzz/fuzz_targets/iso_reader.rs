//! ISO 9660 images: any bytes open as an image or give an error, never a panic; every
//! entry of every tree (ISO, Rock Ridge, Joliet) lists and reads without a panic, with
//! memory and time bounded by the image size.
//!
//! The input is the image from sector 16 on: the target puts the 16 sectors of the system
//! area (which no reader looks at) back as zeros, so the fuzzer spends no mutations there
//! and a real seed ISO fits in a small corpus file (`fuzz/seeds/iso_reader/` holds images
//! made by `seedforge iso`, genisoimage and xorriso, cut that way).
#![no_main]

use libfuzzer_sys::fuzz_target;
use seedforge::iso::{IsoImage, Namespace};
use std::io::{Cursor, Write};
use std::path::Path;

/// Counts bytes instead of keeping them.
struct Sink(u64);

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The bytes before the first volume descriptor.
const SYSTEM_AREA: usize = 16 * 2048;

fuzz_target!(|data: &[u8]| {
    let mut image = vec![0u8; SYSTEM_AREA];
    image.extend_from_slice(data);
    let size = image.len() as u64;
    let Ok(mut img) = IsoImage::from_reader(Cursor::new(image), size, Path::new("/fuzz/seed.iso"))
    else {
        return;
    };
    for ns in [Namespace::Iso, Namespace::RockRidge, Namespace::Joliet] {
        let Ok(entries) = img.entries(ns) else {
            continue;
        };
        for e in &entries {
            assert!(!e.path.is_empty() && !e.path.starts_with('/'), "{:?}", e.path);
            assert!(!e.path.split('/').any(|c| c == ".." || c == "." || c.is_empty()));
            if e.is_dir {
                continue;
            }
            let mut sink = Sink(0);
            if let Ok(n) = img.copy_to(e, &mut sink) {
                assert_eq!(n, sink.0);
                assert_eq!(n, e.size, "{}: read {n} of {} bytes", e.path, e.size);
            }
        }
    }
});
