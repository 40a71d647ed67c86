//! Capture files of any shape: read every packet, decode and meter it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use opensoc_net::{CaptureReader, FlowConfig, FlowMeter, decode};

fuzz_target!(|data: &[u8]| {
    let Ok(mut reader) = CaptureReader::from_reader(std::io::Cursor::new(data.to_vec())) else { return };
    let mut meter = FlowMeter::new(FlowConfig::default());
    while let Ok(Some(p)) = reader.next_packet() {
        let d = decode(p.linktype, p.data);
        meter.process(&p, &d);
    }
    meter.flush();
    let _ = meter.drain_flows();
    let _ = meter.drain_records();
});
