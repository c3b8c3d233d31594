//! Image references: parsing never panics, and a parsed reference prints to a string that
//! parses back to the same reference.
#![no_main]

use libfuzzer_sys::fuzz_target;
use seedforge::image::Reference;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(r) = Reference::parse(text) {
        let printed = r.to_string();
        let again = Reference::parse(&printed).expect("a printed reference parses");
        assert_eq!(again.to_string(), printed);
    }
});
