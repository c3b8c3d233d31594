//! ISO 9660 images, from sector 16 on. The body is `iso_reader` in `fuzz/entries.rs`,
//! shared with `tests/fuzz_corpus.rs`, which runs every seed through it as an ordinary
//! test.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| seedforge_fuzz::iso_reader(data));
