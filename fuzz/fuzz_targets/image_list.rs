//! Image lists. The body is `image_list` in `fuzz/entries.rs`, shared with
//! `tests/fuzz_corpus.rs`, which runs every seed through it as an ordinary test.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| seedforge_fuzz::image_list(data));
