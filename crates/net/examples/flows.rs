//! Print the flows of a capture, one line each: `community_id proto src:sport dst:dport packets bytes`.
//!
//! `cargo run -p opensoc-net --example flows -- FILE`

use opensoc_net::{CaptureReader, FlowConfig, FlowMeter, decode};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).ok_or("usage: flows FILE")?;
    let mut reader = CaptureReader::open(&path)?;
    let mut meter = FlowMeter::new(FlowConfig::default());
    loop {
        match reader.next_packet() {
            Ok(Some(p)) => {
                let d = decode(p.linktype, p.data);
                meter.process(&p, &d);
            }
            Ok(None) => break,
            Err(e) => {
                eprintln!("{path}: {e}");
                break;
            }
        }
    }
    meter.flush();
    for f in meter.drain_flows() {
        println!(
            "{} {} {}:{} {}:{} {} {}",
            f.ctx.community_id,
            f.ctx.proto,
            f.ctx.src,
            f.ctx.sport,
            f.ctx.dst,
            f.ctx.dport,
            f.orig.packets + f.resp.packets,
            f.orig.bytes + f.resp.bytes
        );
    }
    let r = meter.drain_records();
    for d in r.dns {
        eprintln!("dns {:?}", d.question().and_then(|q| q.query.clone()));
    }
    for h in r.http {
        eprintln!(
            "http {:?} {:?}",
            h.request.as_ref().and_then(|r| r.host.clone()),
            h.request.as_ref().map(|r| r.uri.clone())
        );
    }
    for t in r.tls {
        eprintln!("tls {:?} {} {}", t.hello.sni, t.hello.ja3(), t.hello.ja4());
    }
    Ok(())
}
