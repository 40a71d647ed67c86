//! `opensoc bench`: throughput figures of the packet path, without the lake.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use opensoc_net::{CaptureReader, FlowMeter, decode};

use super::{Config, exit};

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub what: BenchWhat,
}

#[derive(Debug, clap::Subcommand)]
pub enum BenchWhat {
    /// Read, decode and meter flows (with DNS/HTTP/TLS metadata): the sensor's
    /// per-packet work, without writing anything.
    Meter {
        /// Capture files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Only read and decode; no flow metering.
        #[arg(long)]
        decode_only: bool,
    },
}

/// Peak resident memory of this process (VmHWM), in bytes.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

pub async fn run(args: BenchArgs, config: &Config) -> anyhow::Result<u8> {
    match args.what {
        BenchWhat::Meter { files, decode_only } => {
            let flow_cfg = config.ingest().flow;
            let started = Instant::now();
            let (mut packets, mut bytes, mut flows, mut records) = (0u64, 0u64, 0u64, 0u64);
            for f in &files {
                let mut reader = CaptureReader::open(f).with_context(|| format!("opening {}", f.display()))?;
                let mut meter = FlowMeter::new(flow_cfg);
                while let Some(p) = reader.next_packet().with_context(|| format!("reading {}", f.display()))? {
                    packets += 1;
                    bytes += p.data.len() as u64;
                    let d = decode(p.linktype, p.data);
                    if !decode_only {
                        meter.process(&p, &d);
                        if packets % 65_536 == 0 {
                            flows += meter.drain_flows().len() as u64;
                            records += meter.drain_records().len() as u64;
                        }
                    } else {
                        std::hint::black_box(&d);
                    }
                }
                meter.flush();
                flows += meter.drain_flows().len() as u64;
                records += meter.drain_records().len() as u64;
            }
            let secs = started.elapsed().as_secs_f64().max(1e-9);
            let out = serde_json::json!({
                "mode": if decode_only { "decode" } else { "decode+meter" },
                "packets": packets,
                "captured_bytes": bytes,
                "flows": flows,
                "metadata_records": records,
                "seconds": secs,
                "packets_per_sec": packets as f64 / secs,
                "mbytes_per_sec": bytes as f64 / secs / 1e6,
                "peak_rss_bytes": peak_rss_bytes(),
            });
            println!("{}", serde_json::to_string_pretty(&out)?);
            Ok(exit::OK)
        }
    }
}
