//! Capture replay: pcap/pcapng files metered at the edge (flows, DNS, HTTP,
//! TLS, flow chunks) exactly as `opensoc ingest` meters them, shipped as
//! rows; as fast as possible or at the capture's own pace.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::send::{Shipment, send_blocking};
use opensoc_net::{FlowConfig, Packet};
use opensoc_rows::capture::{CaptureFile, FileReport, Fill, PacketHook};
use opensoc_rows::tables::PacketChunks;
use opensoc_rows::{Batch, BatchLimits};
use tokio::sync::mpsc;

use crate::ship::Shipper;

/// Most bytes of packet records in one flow chunk: several chunks fit a
/// 1 MiB record.
pub const SENSOR_CHUNK_BYTES: usize = 256 << 10;

/// How fast to replay.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pace {
    /// As fast as the sensor can.
    Fast,
    /// At the capture's timing, sped up by the factor.
    Original(f64),
}

/// Replay settings.
#[derive(Debug, Clone)]
pub struct ReplayOptions {
    /// Pace.
    pub pace: Pace,
    /// Ship what the batch holds at least this often.
    pub flush_interval: Duration,
    /// Flow meter settings.
    pub flow: FlowConfig,
    /// Ship when the batch holds this much.
    pub limits: BatchLimits,
}

impl Default for ReplayOptions {
    fn default() -> Self {
        ReplayOptions {
            pace: Pace::Fast,
            flush_interval: Duration::from_secs(1),
            flow: FlowConfig::default(),
            limits: BatchLimits { packet_bytes: 8 << 20, flows: 50_000 },
        }
    }
}

/// Sleeps so packets leave at the capture's pace.
struct Pacer {
    speed: f64,
    start: Option<(i64, Instant)>,
}

impl PacketHook for Pacer {
    fn on_packet(&mut self, pkt: &Packet<'_>) {
        let (t0, w0) = *self.start.get_or_insert((pkt.ts_ns, Instant::now()));
        let offset_ns = (pkt.ts_ns.saturating_sub(t0)).max(0) as f64 / self.speed;
        let due = w0 + Duration::from_nanos(offset_ns as u64);
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
    }
}

/// An empty batch with the sensor's flow-chunk cap.
pub fn sensor_batch() -> Batch {
    Batch { packets: PacketChunks::with_max_chunk_bytes(SENSOR_CHUNK_BYTES), ..Default::default() }
}

/// Ship what `batch` holds, if anything, as records to `tx` (from a
/// blocking thread).
pub fn ship_batch(batch: &mut Batch, shipper: &Shipper, tx: &mpsc::Sender<Shipment>) -> anyhow::Result<()> {
    if batch.is_empty() {
        return Ok(());
    }
    let rows = batch.take_record_batches(shipper.sensor_id())?;
    send_blocking(tx, shipper.rows(&rows)?)
}

/// Replay `files` (on a blocking thread), sending records to `tx`.
pub fn replay(
    files: &[PathBuf],
    opts: &ReplayOptions,
    shipper: &Shipper,
    tx: &mpsc::Sender<Shipment>,
) -> anyhow::Result<Vec<FileReport>> {
    let mut batch = sensor_batch();
    let mut reports = Vec::new();
    let ship = |batch: &mut Batch| ship_batch(batch, shipper, tx);
    for path in files {
        let mut file = CaptureFile::open(path, opts.flow, &mut batch, None);
        let mut pacer = Pacer { speed: if let Pace::Original(s) = opts.pace { s.max(1e-6) } else { 1.0 }, start: None };
        loop {
            let deadline = Some(Instant::now() + opts.flush_interval);
            let fill = match opts.pace {
                Pace::Fast => file.fill(&mut batch, &opts.limits, deadline, &mut ()),
                Pace::Original(_) => file.fill(&mut batch, &opts.limits, deadline, &mut pacer),
            };
            match fill {
                Fill::Full | Fill::Deadline => ship(&mut batch)?,
                Fill::Done => break,
            }
        }
        let report = file.into_report();
        tracing::info!(file = %report.file, packets = report.packets, flows = report.flows, "capture replayed");
        reports.push(report);
        if batch.is_full(&opts.limits) {
            ship(&mut batch)?;
        }
    }
    ship(&mut batch)?;
    Ok(reports)
}
