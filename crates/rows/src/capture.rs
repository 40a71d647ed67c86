//! Reading a capture file into a [`Batch`]: decode, meter flows, extract
//! DNS/HTTP/TLS, file every packet in a flow chunk, quarantine damage.
//!
//! [`CaptureFile::fill`] stops when the batch is full (or a deadline
//! passes), so the caller can take the batch out — commit it to the lake,
//! or ship it to a stream — and call `fill` again; flows stay metered
//! across batches. Reading allocates nothing per packet.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use opensoc_net::decode::IssueKind;
use opensoc_net::{CaptureReader, FlowConfig, FlowMeter, Packet, decode};
use serde::Serialize;

use crate::tables::{MAX_RAW, QuarantineRow};
use crate::{Batch, BatchLimits, now_ns};

/// The outcome for one input file.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct FileReport {
    /// The path as given.
    pub file: String,
    /// Packets stored.
    pub packets: u64,
    /// Flows metered.
    pub flows: u64,
    /// Quarantine rows written for this file.
    pub quarantined: u64,
    /// Packets without an IP layer (stored, not metered).
    pub non_ip: u64,
    /// DNS transactions.
    pub dns: u64,
    /// HTTP transactions.
    pub http: u64,
    /// TLS hellos.
    pub tls: u64,
    /// Log events (log files).
    pub logs: u64,
    /// Why reading stopped early, if it did.
    pub error: Option<String>,
}

/// Why [`CaptureFile::fill`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fill {
    /// The batch reached its limits: take it out and call `fill` again.
    Full,
    /// The deadline passed: take the batch out if you flush on time.
    Deadline,
    /// The file is done (read to its end, or to the damage that stopped it);
    /// its last flows are in the batch.
    Done,
}

/// Called for every packet before it is filed (e.g. to replay at the
/// capture's original pace).
pub trait PacketHook {
    /// See the packet.
    fn on_packet(&mut self, pkt: &Packet<'_>);
}

impl PacketHook for () {
    fn on_packet(&mut self, _: &Packet<'_>) {}
}

/// A capture file being read into batches.
pub struct CaptureFile {
    reader: Option<CaptureReader>,
    filer: PacketFiler,
}

/// Files packets from one source (a capture file or a live interface)
/// into a batch: decodes them, meters flows, extracts DNS/HTTP/TLS, keeps
/// every packet in a flow chunk and quarantines damage.
pub struct PacketFiler {
    name: String,
    meter: FlowMeter,
    source: u32,
    report: FileReport,
}

/// Counts the bytes read from the file (before decompression), for progress.
struct Counting<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// How often (in packets) `fill` looks at the clock.
const DEADLINE_CHECK_EVERY: u64 = 256;

impl CaptureFile {
    /// Open `path`. A file that cannot be opened or is not a capture is not
    /// an error: its report says why, and a quarantine row (with its first
    /// bytes) goes into `batch`; `fill` then returns [`Fill::Done`] at once.
    /// `progress` counts the bytes read from disk.
    pub fn open(path: &Path, flow: FlowConfig, batch: &mut Batch, progress: Option<Arc<AtomicU64>>) -> Self {
        let name = path.display().to_string();
        let mut this = CaptureFile { reader: None, filer: PacketFiler::unregistered(&name, flow) };
        let file = match File::open(path) {
            Ok(f) => f,
            Err(e) => {
                this.filer.report.error = Some(format!("cannot open: {e}"));
                return this;
            }
        };
        let counting = Counting { inner: file, count: progress.unwrap_or_default() };
        match CaptureReader::from_reader(counting) {
            Ok(r) => {
                this.reader = Some(r);
                this.filer.source = batch.packets.begin_source(&name);
            }
            Err(e) => {
                this.filer.report.error = Some(e.to_string());
                let row = QuarantineRow {
                    ts_ns: now_ns(),
                    source: name,
                    position: e.offset().map(|o| format!("byte {o}")),
                    stage: "capture",
                    reason: e.to_string(),
                    raw: read_head(path),
                };
                this.filer.quarantine(batch, row);
            }
        }
        this
    }

    /// What was read so far.
    pub fn report(&self) -> &FileReport {
        &self.filer.report
    }

    /// The finished report.
    pub fn into_report(self) -> FileReport {
        self.filer.report
    }

    /// Read packets into `batch` until it is full, `deadline` passes, or the
    /// file ends.
    pub fn fill(
        &mut self,
        batch: &mut Batch,
        limits: &BatchLimits,
        deadline: Option<Instant>,
        hook: &mut impl PacketHook,
    ) -> Fill {
        let Some(mut reader) = self.reader.take() else { return Fill::Done };
        let mut since_clock = 0u64;
        loop {
            let offset = reader.offset();
            let index = reader.packets_read();
            match reader.next_packet() {
                Ok(Some(pkt)) => {
                    hook.on_packet(&pkt);
                    self.filer.file(batch, &pkt, || format!("packet {index} at byte {offset}"));
                    since_clock += 1;
                    let stop = if batch.is_full(limits) {
                        Some(Fill::Full)
                    } else if since_clock >= DEADLINE_CHECK_EVERY {
                        since_clock = 0;
                        deadline.is_some_and(|d| Instant::now() >= d).then_some(Fill::Deadline)
                    } else {
                        None
                    };
                    if let Some(stop) = stop {
                        self.filer.collect(batch);
                        self.reader = Some(reader);
                        return stop;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    self.filer.report.error = Some(e.to_string());
                    let tail = reader.buffered_tail();
                    let row = QuarantineRow {
                        ts_ns: now_ns(),
                        source: self.filer.name.clone(),
                        position: e.offset().map(|o| format!("byte {o} after packet {}", reader.packets_read())),
                        stage: "capture",
                        reason: e.to_string(),
                        raw: Some(tail[..tail.len().min(MAX_RAW)].to_vec()),
                    };
                    self.filer.quarantine(batch, row);
                    break;
                }
            }
        }
        self.filer.finish(batch);
        Fill::Done
    }
}

impl PacketFiler {
    /// A filer for the source `name` (a live interface, say), registered
    /// with `batch`'s flow chunks.
    pub fn new(name: &str, flow: FlowConfig, batch: &mut Batch) -> Self {
        let mut f = Self::unregistered(name, flow);
        f.source = batch.packets.begin_source(name);
        f
    }

    fn unregistered(name: &str, flow: FlowConfig) -> Self {
        PacketFiler {
            name: name.to_string(),
            meter: FlowMeter::new(flow),
            source: 0,
            report: FileReport { file: name.to_string(), ..Default::default() },
        }
    }

    /// What was filed so far.
    pub fn report(&self) -> &FileReport {
        &self.report
    }

    fn quarantine(&mut self, batch: &mut Batch, row: QuarantineRow) {
        self.report.quarantined += 1;
        batch.quarantine.0.push(row);
    }

    /// File one packet; `position` names it in a quarantine row.
    pub fn file(&mut self, batch: &mut Batch, pkt: &Packet<'_>, position: impl FnOnce() -> String) {
        let d = decode(pkt.linktype, pkt.data);
        let flow = self.meter.process(pkt, &d);
        if flow.is_none() {
            self.report.non_ip += 1;
        }
        if let Some(issue) = d.issue {
            // A header cut short by the snap length is normal; one cut short
            // although the whole frame was captured is not.
            if issue.kind == IssueKind::Malformed || pkt.data.len() as u64 >= pkt.origlen as u64 {
                let row = QuarantineRow {
                    ts_ns: pkt.ts_ns,
                    source: self.name.clone(),
                    position: Some(position()),
                    stage: "decode",
                    reason: format!("{}: {} (packet stored)", issue.layer, issue.reason),
                    raw: Some(pkt.data.to_vec()),
                };
                self.quarantine(batch, row);
            }
        }
        batch.packets.push(self.source, pkt, flow, d.vlan);
        self.report.packets += 1;
    }

    /// End flows idle (or active) too long as of `now_ns`, for a live
    /// source whose traffic may pause; then [`collect`](Self::collect).
    pub fn expire(&mut self, batch: &mut Batch, now_ns: i64) {
        self.meter.expire(now_ns);
        self.collect(batch);
    }

    /// End every open flow (the source is done) and collect them.
    pub fn finish(&mut self, batch: &mut Batch) {
        self.meter.flush();
        self.collect(batch);
    }

    /// Move finished flows and protocol records from the meter to the batch.
    pub fn collect(&mut self, batch: &mut Batch) {
        let flows = self.meter.drain_flows();
        self.report.flows += flows.len() as u64;
        batch.flows.extend(flows, &self.name);
        let recs = self.meter.drain_records();
        self.report.dns += recs.dns.len() as u64;
        self.report.http += recs.http.len() as u64;
        self.report.tls += recs.tls.len() as u64;
        batch.dns.0.extend(recs.dns);
        batch.http.0.extend(recs.http);
        batch.tls.0.extend(recs.tls);
    }
}

/// The first bytes of a file that is not a capture, for its quarantine row.
fn read_head(path: &Path) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    File::open(path).ok()?.take(MAX_RAW as u64).read_to_end(&mut buf).ok()?;
    Some(buf)
}
