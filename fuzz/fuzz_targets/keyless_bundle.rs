//! Keyless Sigstore bundles (with a trusted root before a NUL byte, or none). The body is
//! `keyless_bundle` in `fuzz/entries.rs`, shared with `tests/fuzz_corpus.rs`, which runs
//! every seed through it as an ordinary test.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| seedforge_fuzz::keyless_bundle(data));
