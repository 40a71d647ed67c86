//! Threat-intelligence feeds: whatever a feed file holds goes through the
//! loaders (as a list, as CSV, as STIX/MISP JSON) and the loaded indicators
//! through the index and its lookups.
#![no_main]

use libfuzzer_sys::fuzz_target;
use opensoc_enrich::intel::{IntelIndex, load_bytes};

fuzz_target!(|data: &[u8]| {
    for csv in [false, true] {
        if let Ok(report) = load_bytes(data, csv, "fuzz") {
            let values: Vec<String> = report.indicators.iter().map(|i| i.value.clone()).collect();
            let ix = IntelIndex::build(report.indicators);
            for v in &values {
                if let Ok(ip) = v.split('/').next().unwrap_or_default().parse() {
                    ix.match_ip(ip, 0, |_| {});
                }
                ix.match_domain(v, 0, |_| {});
                ix.match_url(v, 0, |_| {});
                ix.match_hash(v, 0, |_| {});
            }
        }
    }
});
