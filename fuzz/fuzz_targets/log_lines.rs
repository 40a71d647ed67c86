//! Log lines: whatever a sensor or a third party ships goes through every
//! parser (declared as each source type, and detected), and the rows that
//! come out through detection with the built-in rules.
#![no_main]

use libfuzzer_sys::fuzz_target;
use opensoc_enrich::detect::Detector;
use opensoc_enrich::logs::{LogParser, Parsed};
use opensoc_rows::tables::LogRows;
use opensoc_schemas::Table;

/// Built once: compiling the built-in rules per input would dominate.
static DETECTOR: std::sync::LazyLock<Detector> = std::sync::LazyLock::new(Detector::default);

fuzz_target!(|data: &[u8]| {
    let mut parser = LogParser::new();
    let mut rows = LogRows::default();
    for t in ["syslog", "zeek", "suricata-eve", "cef", "json", "stream-raw"] {
        // Several lines, so a Zeek header shapes the lines after it.
        for line in data.split(|b| *b == b'\n') {
            if let Ok(Parsed::Event(row)) = parser.parse(t, "fuzz.log", 1_700_000_000_000_000_000, line) {
                rows.0.push(*row);
            }
        }
    }
    if let Ok(Some(batch)) = rows.take_batch("fuzz") {
        let _ = DETECTOR.findings(Table::Logs, &batch);
    }
});
