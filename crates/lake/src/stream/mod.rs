//! Stream ingest: records from a Kinesis shard into the lake, exactly once.
//!
//! [`StreamIngestor::ingest`] takes one delivery of a shard's records (a
//! Lambda Kinesis event, or what the local event-source runner read),
//! decodes every record ([`decode`]: OpenSOC envelopes, KPL aggregates,
//! third-party log lines; anything undecodable becomes a quarantine row),
//! and appends each table's rows in one commit that also records how far
//! the shard is committed ([`checkpoint`]). A redelivery — after a crash
//! before, during or between those commits — keeps only the records past
//! each table's own checkpoint, so no row is added twice and none is lost.

pub mod checkpoint;
pub mod claim;
pub mod decode;
pub mod kpl;
pub mod lambda;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::CommitOptions;
use deltalake::arrow::record_batch::RecordBatch;
use futures::StreamExt;
use opensoc_schemas::Table;
use serde::Serialize;

pub use checkpoint::{BadSequenceNumber, SequenceNumber};
use claim::ClaimFetcher;
pub use decode::{DecodedRecord, decode_claimed_record, decode_record};

use crate::{Lake, LakeError};

/// One record as the stream delivered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamRecord {
    /// The Kinesis sequence number.
    pub sequence: String,
    /// The partition key.
    pub partition_key: String,
    /// When the stream received it (ns since the epoch).
    pub arrival_ns: i64,
    /// The bytes.
    pub data: Vec<u8>,
}

/// What one delivery did.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct StreamReport {
    /// Records delivered.
    pub records: u64,
    /// User records found inside KPL aggregates.
    pub kpl_user_records: u64,
    /// Claim-check records among them (objects fetched from S3).
    pub claims: u64,
    /// Records (or user records) that went to quarantine.
    pub quarantined: u64,
    /// Rows appended, per table.
    pub rows: BTreeMap<String, u64>,
    /// Tables whose rows from this delivery were all committed already (redelivery).
    pub already_committed: Vec<String>,
    /// Commits made.
    pub commits: u64,
    /// Commits retried after a concurrent writer on the same shard.
    pub conflicts: u64,
    /// Time spent committing (the object store's share of the work).
    #[serde(with = "duration_ms")]
    pub commit_time: Duration,
}

mod duration_ms {
    use serde::Serializer;
    pub fn serialize<S: Serializer>(d: &std::time::Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64() * 1000.0)
    }
}

/// Why a delivery could not be committed. Bad records never cause this
/// (they are quarantined); only the lake can.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// A record's sequence number is not a number (the event is not from Kinesis).
    #[error(transparent)]
    BadSequence(#[from] BadSequenceNumber),
    /// The lake failed; retrying the delivery is safe.
    #[error("committing to the lake failed (retrying the batch is safe): {0}")]
    Lake(#[from] LakeError),
    /// A claimed object could not be read for now.
    #[error(transparent)]
    Claim(#[from] claim::ClaimFetchError),
    /// Concurrent writers kept winning.
    #[error("table {table}: gave up after {attempts} commit conflicts on shard {shard}")]
    Conflicts {
        /// The table.
        table: &'static str,
        /// The shard.
        shard: String,
        /// Attempts made.
        attempts: u32,
    },
}

/// Crash tests: abort the process (as `kill -9` would stop it) when the
/// environment variable `OPENSOC_CRASH_AT` names this point. Points:
/// `before-write` (decoded, nothing committed), `between-tables` (after the
/// first table's commit), `after-commit` (every table committed, no
/// response yet), and `after-response-built` in `opensoc esm`.
pub fn fault_point(name: &str) {
    if std::env::var_os("OPENSOC_CRASH_AT").is_some_and(|v| v == name) {
        tracing::warn!(point = name, "OPENSOC_CRASH_AT reached: aborting");
        std::process::abort();
    }
}

/// Ingests stream deliveries into a lake.
pub struct StreamIngestor<'a> {
    lake: &'a Lake,
    max_attempts: u32,
    claims: ClaimFetcher,
}

/// Claimed objects fetched at once, ahead of decoding.
const CLAIM_FETCHES_AHEAD: usize = 4;

impl<'a> StreamIngestor<'a> {
    /// An ingestor for `lake`.
    pub fn new(lake: &'a Lake) -> Self {
        StreamIngestor { lake, max_attempts: 8, claims: ClaimFetcher::default() }
    }

    /// Ingest one delivery of `shard`'s records (in shard order).
    pub async fn ingest(
        &self,
        stream: &str,
        shard: &str,
        records: &[StreamRecord],
    ) -> Result<StreamReport, StreamError> {
        let mut report = StreamReport { records: records.len() as u64, ..Default::default() };
        if records.is_empty() {
            return Ok(report);
        }
        let source = format!("kinesis:{stream}/{shard}");
        // Decode everything first: bad records become quarantine rows.
        let mut per_table: BTreeMap<Table, Vec<(SequenceNumber, RecordBatch)>> = BTreeMap::new();
        let mut last = SequenceNumber::parse("0")?;
        // Claimed objects are fetched a few ahead, each decoded (and its
        // bytes dropped) in stream order.
        let claims = &self.claims;
        let fetches: Vec<_> = records.iter().map(|r| claims.fetch_if_claim(&r.data)).collect();
        let mut fetched = futures::stream::iter(fetches).buffered(CLAIM_FETCHES_AHEAD);
        for r in records {
            let seq = SequenceNumber::parse(&r.sequence)?;
            let object = fetched.next().await.transpose()?.flatten();
            let decoded = match object {
                Some(object) => {
                    report.claims += 1;
                    decode_claimed_record(
                        r,
                        &source,
                        object.as_deref().map_err(Clone::clone),
                        &mut self.lake.log_parser(),
                    )
                }
                None => decode_record(r, &source, &mut self.lake.log_parser()),
            };
            report.kpl_user_records += decoded.kpl_user_records;
            report.quarantined += decoded.quarantined;
            for (t, b) in decoded.batches {
                // Findings ride with the record they come from: committed
                // with their own per-shard checkpoint, exactly once.
                let (b, found) = self.lake.prepare(t, b).await?;
                if let Some(f) = found {
                    per_table.entry(Table::Findings).or_default().push((seq.clone(), f));
                }
                per_table.entry(t).or_default().push((seq.clone(), b));
            }
            last = last.max(seq);
        }
        let app = checkpoint::app_id(stream, shard);
        fault_point("before-write");
        for (i, (table, batches)) in per_table.into_iter().enumerate() {
            if i > 0 {
                fault_point("between-tables");
            }
            self.commit_table(table, &app, shard, &last, batches, &mut report).await?;
        }
        fault_point("after-commit");
        Ok(report)
    }

    async fn commit_table(
        &self,
        t: Table,
        app: &str,
        shard: &str,
        last: &SequenceNumber,
        batches: Vec<(SequenceNumber, RecordBatch)>,
        report: &mut StreamReport,
    ) -> Result<(), StreamError> {
        for attempt in 1..=self.max_attempts {
            // Read the checkpoint from the very snapshot the commit is based
            // on: any commit for this shard after it conflicts.
            let base = self.lake.table(t).await?;
            let done =
                checkpoint::committed(&base, app).await.map_err(|e| LakeError::delta(t, "read checkpoint", e))?;
            let fresh: Vec<RecordBatch> = batches
                .iter()
                .filter(|(seq, _)| done.as_ref().is_none_or(|d| seq > d))
                .map(|(_, b)| b.clone())
                .collect();
            if fresh.is_empty() {
                report.already_committed.push(t.name().to_string());
                return Ok(());
            }
            let props =
                CommitOptions::default().with_transactions(checkpoint::transactions(app, last)).with_metadata([
                    ("opensoc.shard".to_string(), serde_json::Value::from(app)),
                    ("opensoc.last_sequence".to_string(), serde_json::Value::from(last.as_str())),
                ]);
            let started = Instant::now();
            match self.lake.append_on(base, t, fresh, Some(props)).await {
                Ok(c) => {
                    report.commit_time += started.elapsed();
                    report.commits += 1;
                    *report.rows.entry(t.name().to_string()).or_default() += c.rows as u64;
                    return Ok(());
                }
                Err(e) if e.is_commit_conflict() => {
                    report.conflicts += 1;
                    tracing::info!(
                        table = t.name(),
                        shard,
                        attempt,
                        "concurrent commit on this shard; re-reading the checkpoint"
                    );
                    self.lake.reload(t).await?;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(StreamError::Conflicts { table: t.name(), shard: shard.to_string(), attempts: self.max_attempts })
    }
}
