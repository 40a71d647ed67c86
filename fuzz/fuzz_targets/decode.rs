//! Single packets: the first byte picks the link type, the rest is the frame.
#![no_main]

use libfuzzer_sys::fuzz_target;
use opensoc_net::capture::Packet;
use opensoc_net::{FlowConfig, FlowMeter, LinkType, decode};

const LINKTYPES: [u32; 16] = [0, 1, 9, 10, 12, 14, 50, 101, 105, 108, 113, 127, 228, 229, 239, 276];

fuzz_target!(|data: &[u8]| {
    let Some((&sel, frame)) = data.split_first() else { return };
    let linktype = LinkType(LINKTYPES[sel as usize % LINKTYPES.len()]);
    let d = decode(linktype, frame);
    let pkt = Packet { ts_ns: 1, origlen: frame.len() as u32, linktype, interface: 0, data: frame };
    let mut meter = FlowMeter::new(FlowConfig::default());
    meter.process(&pkt, &d);
    // the same packet again, as the other direction would look to the meter
    meter.process(&Packet { ts_ns: 2, ..pkt }, &d);
    meter.flush();
    let _ = meter.drain_records();
});
