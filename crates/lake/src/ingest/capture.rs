//! Ingesting capture files.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use opensoc_net::decode::IssueKind;
use opensoc_net::{CaptureReader, FlowConfig, FlowMeter, decode};
use serde::Serialize;

use super::{Batch, commit_record_batches};
use crate::rows::MAX_RAW;
use crate::rows::QuarantineRow;
use crate::{Lake, LakeError};

/// Settings of a capture ingest.
#[derive(Debug, Clone)]
pub struct IngestConfig {
    /// Written to every row's `sensor_id`.
    pub sensor_id: String,
    /// Flow meter settings.
    pub flow: FlowConfig,
    /// Commit when the batch holds this many bytes of packet records.
    pub batch_bytes: usize,
    /// Commit when the batch holds this many finished flows.
    pub batch_flows: usize,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            sensor_id: "local".into(),
            flow: FlowConfig::default(),
            batch_bytes: 64 << 20,
            batch_flows: 500_000,
        }
    }
}

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
    /// Why reading stopped early, if it did.
    pub error: Option<String>,
}

/// Totals over a run.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Totals {
    /// Files read.
    pub files: u64,
    /// Files with an error.
    pub files_with_errors: u64,
    /// Packets stored.
    pub packets: u64,
    /// Flows metered.
    pub flows: u64,
    /// Quarantine rows.
    pub quarantined: u64,
    /// DNS transactions.
    pub dns: u64,
    /// HTTP transactions.
    pub http: u64,
    /// TLS hellos.
    pub tls: u64,
    /// Batches committed.
    pub batches: u64,
}

/// Reads capture files into a lake.
pub struct Ingestor {
    lake: Arc<Lake>,
    cfg: IngestConfig,
    batch: Batch,
    totals: Totals,
    progress: Arc<AtomicU64>,
    /// The commit still running, if any (at most one at a time).
    in_flight: Option<tokio::task::JoinHandle<Result<(), LakeError>>>,
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

fn now_ns() -> i64 {
    chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0)
}

impl Ingestor {
    /// An ingestor writing to `lake`.
    pub fn new(lake: Arc<Lake>, cfg: IngestConfig) -> Self {
        Ingestor {
            lake,
            cfg,
            batch: Batch::default(),
            totals: Totals::default(),
            progress: Arc::default(),
            in_flight: None,
        }
    }

    /// Bytes of input files read so far (for progress bars).
    pub fn progress_counter(&self) -> Arc<AtomicU64> {
        self.progress.clone()
    }

    /// Totals so far.
    pub fn totals(&self) -> &Totals {
        &self.totals
    }

    fn quarantine(&mut self, report: &mut FileReport, row: QuarantineRow) {
        report.quarantined += 1;
        self.batch.quarantine.0.push(row);
    }

    /// Ingest one capture file. Damage in the file is reported in the
    /// [`FileReport`] and quarantined; only a failing lake is an `Err`.
    pub async fn ingest_file(&mut self, path: &Path) -> Result<FileReport, LakeError> {
        let name = path.display().to_string();
        let mut report = FileReport { file: name.clone(), ..Default::default() };
        let file = match File::open(path) {
            Ok(f) => f,
            Err(e) => {
                report.error = Some(format!("cannot open: {e}"));
                self.finish_file(&mut report);
                return Ok(report);
            }
        };
        let counting = Counting { inner: file, count: self.progress.clone() };
        let mut reader = match CaptureReader::from_reader(counting) {
            Ok(r) => r,
            Err(e) => {
                let raw = read_head(path);
                report.error = Some(e.to_string());
                let row = QuarantineRow {
                    ts_ns: now_ns(),
                    source: name.clone(),
                    position: e.offset().map(|o| format!("byte {o}")),
                    stage: "capture",
                    reason: e.to_string(),
                    raw,
                };
                self.quarantine(&mut report, row);
                self.finish_file(&mut report);
                return Ok(report);
            }
        };
        let source = self.batch.packets.begin_source(&name);
        let mut meter = FlowMeter::new(self.cfg.flow);
        loop {
            let offset = reader.offset();
            let index = reader.packets_read();
            match reader.next_packet() {
                Ok(Some(pkt)) => {
                    let d = decode(pkt.linktype, pkt.data);
                    let flow = meter.process(&pkt, &d);
                    if flow.is_none() {
                        report.non_ip += 1;
                    }
                    if let Some(issue) = d.issue {
                        // A header cut short by the snap length is normal; one cut
                        // short although the whole frame was captured is not.
                        if issue.kind == IssueKind::Malformed || pkt.data.len() as u64 >= pkt.origlen as u64 {
                            let row = QuarantineRow {
                                ts_ns: pkt.ts_ns,
                                source: name.clone(),
                                position: Some(format!("packet {index} at byte {offset}")),
                                stage: "decode",
                                reason: format!("{}: {} (packet stored)", issue.layer, issue.reason),
                                raw: Some(pkt.data.to_vec()),
                            };
                            self.quarantine(&mut report, row);
                        }
                    }
                    self.batch.packets.push(source, &pkt, flow, d.vlan);
                    report.packets += 1;
                    if self.batch_full() {
                        self.collect(&mut meter, &mut report, &name);
                        self.commit().await?;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    report.error = Some(e.to_string());
                    let raw = Some(reader_tail(&reader));
                    let row = QuarantineRow {
                        ts_ns: now_ns(),
                        source: name.clone(),
                        position: e.offset().map(|o| format!("byte {o} after packet {}", reader.packets_read())),
                        stage: "capture",
                        reason: e.to_string(),
                        raw,
                    };
                    self.quarantine(&mut report, row);
                    break;
                }
            }
        }
        meter.flush();
        self.collect(&mut meter, &mut report, &name);
        self.finish_file(&mut report);
        if self.batch_full() {
            self.commit().await?;
        }
        Ok(report)
    }

    fn collect(&mut self, meter: &mut FlowMeter, report: &mut FileReport, name: &str) {
        let flows = meter.drain_flows();
        report.flows += flows.len() as u64;
        self.batch.flows.extend(flows, name);
        let recs = meter.drain_records();
        report.dns += recs.dns.len() as u64;
        report.http += recs.http.len() as u64;
        report.tls += recs.tls.len() as u64;
        self.batch.dns.0.extend(recs.dns);
        self.batch.http.0.extend(recs.http);
        self.batch.tls.0.extend(recs.tls);
    }

    fn finish_file(&mut self, r: &mut FileReport) {
        let t = &mut self.totals;
        t.files += 1;
        t.files_with_errors += u64::from(r.error.is_some());
        t.packets += r.packets;
        t.flows += r.flows;
        t.quarantined += r.quarantined;
        t.dns += r.dns;
        t.http += r.http;
        t.tls += r.tls;
    }

    /// The batch holds enough packet data or flows to be committed.
    fn batch_full(&self) -> bool {
        self.batch.packets.bytes() >= self.cfg.batch_bytes || self.batch.flows.len() >= self.cfg.batch_flows
    }

    /// Start committing what the batch holds; the previous commit is
    /// awaited first, so commits stay in order and at most two batches are
    /// in memory.
    pub async fn commit(&mut self) -> Result<(), LakeError> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let batches = self.batch.take_record_batches(&self.cfg.sensor_id)?;
        self.wait_in_flight().await?;
        let lake = self.lake.clone();
        self.in_flight =
            Some(tokio::spawn(async move { commit_record_batches(&lake, batches, |_| None).await.map(|_| ()) }));
        self.totals.batches += 1;
        Ok(())
    }

    async fn wait_in_flight(&mut self) -> Result<(), LakeError> {
        match self.in_flight.take() {
            Some(handle) => handle.await.map_err(|e| LakeError::Io {
                context: "the commit task failed".into(),
                source: std::io::Error::other(e.to_string()),
            })?,
            None => Ok(()),
        }
    }

    /// Commit the rest, wait for every commit, and return the totals.
    pub async fn finish(mut self) -> Result<Totals, LakeError> {
        self.commit().await?;
        self.wait_in_flight().await?;
        Ok(self.totals)
    }
}

/// The first bytes of a file that is not a capture, for its quarantine row.
fn read_head(path: &Path) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    File::open(path).ok()?.take(MAX_RAW as u64).read_to_end(&mut buf).ok()?;
    Some(buf)
}

/// The bytes at the damage, as far as the reader holds them.
fn reader_tail(reader: &CaptureReader) -> Vec<u8> {
    let tail = reader.buffered_tail();
    tail[..tail.len().min(MAX_RAW)].to_vec()
}
