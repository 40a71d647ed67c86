//! Detection rules: whatever a rules file holds is parsed (a rule error or
//! a rule, never a panic): YAML, conditions, modifiers, regexes, CIDRs.
#![no_main]

use libfuzzer_sys::fuzz_target;
use opensoc_enrich::detect::rule::{Fields, parse_rules};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut fields = Fields::default();
    let _ = parse_rules(text, std::path::Path::new("fuzz.yml"), &mut fields);
});
