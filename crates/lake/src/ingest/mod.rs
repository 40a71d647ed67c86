//! The ingest pipeline: captures in, table rows out, one commit per table per batch.
//!
//! [`Ingestor`] reads capture files with [`opensoc_rows::capture::CaptureFile`]
//! (no per-packet allocation on the read/decode/meter path) and commits a
//! batch to every table when the batch holds [`IngestConfig::batch_bytes`]
//! of packet data, and at the end. The commit of one batch runs on another
//! task while the next batch is decoded, so the two halves of the work use
//! both cores. Damage never stops a run: a capture cut short keeps its
//! complete packets and gets a quarantine row, as does a malformed packet
//! (which is still stored) and a file that is not a capture.

mod capture;

pub use capture::{IngestConfig, Ingestor, Totals};
pub use opensoc_rows::capture::FileReport;

use deltalake::arrow::record_batch::RecordBatch;
use deltalake::kernel::transaction::CommitProperties;
use opensoc_schemas::Table;

use crate::{Committed, Lake, LakeError};

/// What committing a batch did.
#[derive(Debug, Default, Clone)]
pub struct BatchCommit {
    /// One entry per table that received rows.
    pub commits: Vec<Committed>,
}

/// Append each table's batch in its own commit, in order. `commit_props`
/// gives the commit properties per table (e.g. the application
/// transaction that makes stream ingest exactly once).
pub async fn commit_record_batches(
    lake: &Lake,
    batches: Vec<(Table, RecordBatch)>,
    commit_props: impl Fn(Table) -> Option<CommitProperties>,
) -> Result<BatchCommit, LakeError> {
    let mut out = BatchCommit::default();
    let mut findings = Vec::new();
    let mut prepared = Vec::with_capacity(batches.len());
    for (table, batch) in batches {
        let (batch, found) = lake.prepare(table, batch).await?;
        findings.extend(found);
        prepared.push((table, batch));
    }
    let findings = findings.into_iter().map(|b| (Table::Findings, b));
    for (table, batch) in prepared.into_iter().chain(findings) {
        out.commits.push(lake.append(table, vec![batch], commit_props(table)).await?);
    }
    Ok(out)
}
