//! Stream records: whatever arrives on the stream goes through the envelope
//! parser and every payload decoder (zstd, Arrow IPC, log entries).
#![no_main]

use libfuzzer_sys::fuzz_target;
use opensoc_schemas::envelope::{ClaimCheck, Envelope, Kind};

fuzz_target!(|data: &[u8]| {
    // Raw bytes, and the same bytes behind a valid-looking header so the
    // payload decoders see them too.
    let mut framed = b"OSOC\x01\x01\x00\x00".to_vec();
    framed.extend_from_slice(&[0; 16]);
    framed.extend_from_slice(&(data.len() as u32 * 4).to_be_bytes());
    framed.extend_from_slice(b"\x01s\x05flows");
    framed.extend_from_slice(data);
    for bytes in [data, framed.as_slice()] {
        if let Ok(env) = Envelope::parse(bytes) {
            match env.header.kind {
                Kind::Rows => drop(env.rows()),
                Kind::Logs => drop(env.log_lines()),
                Kind::Packets => drop(env.decompress()),
                Kind::Claim => drop(env.claim_check()),
            }
        }
        // A claimed object fetched from S3 goes through the segment parser.
        drop(Envelope::parse_segment(bytes).map(|e| e.rows().map(|(_, batches)| batches.len())));
    }
    drop(ClaimCheck::decode(data));
});
