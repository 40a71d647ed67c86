//! The carve filter parser (`filter=` of GET /api/carve, `--filter`) on
//! arbitrary text: an error or an expression whose canonical text parses
//! back to itself, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use opensoc_net::filter::{ChunkKey, FilterExpr};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(e) = FilterExpr::parse(text) {
        let canonical = e.to_string();
        let again = FilterExpr::parse(&canonical).expect("the canonical text parses");
        assert_eq!(again, e, "{canonical}");
        let _ = e.matches(&ChunkKey::default());
    }
});
