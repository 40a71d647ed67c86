//! Ingesting capture files.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use opensoc_net::FlowConfig;
use opensoc_rows::capture::{CaptureFile, FileReport, Fill};
use opensoc_rows::{Batch, BatchLimits};
use serde::Serialize;

use super::commit_record_batches;
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
            // Each batch costs a commit and a file per table and day; at
            // 96 MiB that fixed cost is a third less than at 64 (CPU −5 to
            // −25 % on the benchmark captures) for about 100 MiB more peak
            // memory (docs/benchmarks.md).
            batch_bytes: 96 << 20,
            batch_flows: 500_000,
        }
    }
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
    /// Log events.
    pub logs: u64,
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

    /// Ingest one capture file. Damage in the file is reported in the
    /// [`FileReport`] and quarantined; only a failing lake is an `Err`.
    pub async fn ingest_file(&mut self, path: &Path) -> Result<FileReport, LakeError> {
        let mut file = CaptureFile::open(path, self.cfg.flow, &mut self.batch, Some(self.progress.clone()));
        let limits = BatchLimits { packet_bytes: self.cfg.batch_bytes, flows: self.cfg.batch_flows };
        while file.fill(&mut self.batch, &limits, None, &mut ()) != Fill::Done {
            self.commit().await?;
        }
        let mut report = file.into_report();
        self.finish_file(&mut report);
        if self.batch.is_full(&limits) {
            self.commit().await?;
        }
        Ok(report)
    }

    /// Ingest one log file (plain or gzip): each line parsed as
    /// `source_type`, or as the type its first non-blank line suggests. A
    /// line that does not parse is quarantined with its line number; only
    /// a failing lake (or an unreadable file, reported) stops the file.
    pub async fn ingest_log_file(&mut self, path: &Path, source_type: Option<&str>) -> Result<FileReport, LakeError> {
        let mut report = FileReport { file: path.display().to_string(), ..Default::default() };
        let origin = report.file.clone();
        let mut reader = match crate::logs::open_lines(path) {
            Ok(r) => r,
            Err(e) => {
                report.error = Some(format!("cannot read: {e}"));
                self.finish_file(&mut report);
                return Ok(report);
            }
        };
        let mut kind = source_type.map(str::to_string);
        let mut line_no = 0u64;
        let mut chunk: Vec<(u64, Vec<u8>)> = Vec::new();
        loop {
            let done = match crate::logs::read_chunk(&mut *reader, &mut chunk, &mut line_no, &self.progress) {
                Ok(done) => done,
                Err(e) => {
                    report.error = Some(format!("read stopped at line {}: {e}", line_no + 1));
                    true
                }
            };
            let kind = kind.get_or_insert_with(|| {
                let first = chunk.iter().map(|(_, l)| l.as_slice()).find(|l| !l.trim_ascii().is_empty());
                first.map_or("text", opensoc_enrich::logs::detect).to_string()
            });
            let received_ns = opensoc_rows::now_ns();
            let lines = chunk.iter().map(|(n, l)| crate::logs::LogLine {
                received_ns,
                origin: &origin,
                line: l,
                line_no: Some(*n),
            });
            let counts = {
                let mut parser = self.lake.log_parser();
                crate::logs::parse_lines(&mut parser, kind, lines, &mut self.batch.logs, &mut self.batch.quarantine)
            };
            report.logs += counts.events;
            report.quarantined += counts.quarantined;
            chunk.clear();
            if self.batch.logs.0.len() >= crate::logs::LOG_ROWS_PER_BATCH {
                self.commit().await?;
            }
            if done {
                break;
            }
        }
        self.lake.log_parser().forget(&origin);
        self.finish_file(&mut report);
        Ok(report)
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
        t.logs += r.logs;
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
