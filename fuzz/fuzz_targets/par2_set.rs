//! PAR 2.0 recovery sets (a set's index file). The body is `par2_set` in
//! `fuzz/entries.rs`, shared with `tests/fuzz_corpus.rs`, which runs every seed through it
//! as an ordinary test.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| seedforge_fuzz::par2_set(data));
