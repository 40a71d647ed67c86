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

use crate::CommitOptions;
use deltalake::arrow::record_batch::RecordBatch;
use opensoc_schemas::Table;

use crate::{Committed, Lake, LakeError};

/// What committing a batch did.
#[derive(Debug, Default, Clone)]
pub struct BatchCommit {
    /// One entry per table that received rows.
    pub commits: Vec<Committed>,
}

/// Append each table's batch in its own commit. `commit_props` gives the
/// commit properties per table (e.g. the application transaction that
/// makes stream ingest exactly once).
///
/// The tables are committed at the same time: the `packets` table's files
/// are encoded on blocking threads while the other tables' are written,
/// so a batch's commit uses both cores. The tables' commits are
/// independent (one table per commit, each with its own properties); the
/// first failure is returned once all have finished.
pub async fn commit_record_batches(
    lake: &Lake,
    batches: Vec<(Table, RecordBatch)>,
    commit_props: impl Fn(Table) -> Option<CommitOptions>,
) -> Result<BatchCommit, LakeError> {
    let mut out = BatchCommit::default();
    let mut findings = Vec::new();
    let mut prepared = Vec::with_capacity(batches.len());
    for (table, batch) in batches {
        let (batch, found) = lake.prepare(table, batch).await?;
        findings.extend(found);
        prepared.push((table, batch));
    }
    let mut appends = Vec::with_capacity(prepared.len() + 1);
    for (table, batch) in prepared {
        appends.push(lake.append(table, vec![batch], commit_props(table)));
    }
    if !findings.is_empty() {
        // One commit for all of them: concurrent commits to one table would
        // race for the same version.
        appends.push(lake.append(Table::Findings, findings, commit_props(Table::Findings)));
    }
    for committed in futures::future::join_all(appends).await {
        out.commits.push(committed?);
    }
    Ok(out)
}
