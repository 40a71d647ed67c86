//! One ingest batch: the rows of every table, committed together.

use deltalake::arrow::record_batch::RecordBatch;
use deltalake::kernel::transaction::CommitProperties;
use opensoc_schemas::Table;

use crate::rows::{DnsRows, FlowRows, HttpRows, PacketChunks, QuarantineRows, TlsRows};
use crate::{Committed, Lake, LakeError};

/// The rows of one batch, for all tables.
#[derive(Default)]
pub struct Batch {
    /// Flow chunks.
    pub packets: PacketChunks,
    /// Finished flows.
    pub flows: FlowRows,
    /// DNS transactions.
    pub dns: DnsRows,
    /// HTTP transactions.
    pub http: HttpRows,
    /// TLS hellos.
    pub tls: TlsRows,
    /// Rejected input.
    pub quarantine: QuarantineRows,
}

/// What committing a batch did.
#[derive(Debug, Default, Clone)]
pub struct BatchCommit {
    /// One entry per table that received rows.
    pub commits: Vec<Committed>,
}

impl Batch {
    /// True when no table has rows.
    pub fn is_empty(&self) -> bool {
        self.packets.is_empty()
            && self.flows.is_empty()
            && self.dns.0.is_empty()
            && self.http.0.is_empty()
            && self.tls.0.is_empty()
            && self.quarantine.0.is_empty()
    }

    /// Turn every table's rows into an Arrow batch and clear (the current
    /// source stays registered, so filing can go on right away).
    pub fn take_record_batches(&mut self, sensor_id: &str) -> Result<Vec<(Table, RecordBatch)>, LakeError> {
        let batches = [
            (Table::Packets, self.packets.take_batch(sensor_id)?),
            (Table::Flows, self.flows.take_batch(sensor_id)?),
            (Table::Dns, self.dns.take_batch(sensor_id)?),
            (Table::Http, self.http.take_batch(sensor_id)?),
            (Table::Tls, self.tls.take_batch(sensor_id)?),
            (Table::Quarantine, self.quarantine.take_batch(sensor_id)?),
        ];
        Ok(batches.into_iter().filter_map(|(t, b)| b.map(|b| (t, b))).collect())
    }

    /// Commit every table's rows (one commit per table) and clear the batch.
    /// `commit_props` gives the commit properties per table (e.g. the
    /// application transaction that makes stream ingest exactly once).
    pub async fn commit(
        &mut self,
        lake: &Lake,
        sensor_id: &str,
        commit_props: impl Fn(Table) -> Option<CommitProperties>,
    ) -> Result<BatchCommit, LakeError> {
        let batches = self.take_record_batches(sensor_id)?;
        commit_record_batches(lake, batches, commit_props).await
    }
}

/// Append each table's batch in its own commit, in order.
pub async fn commit_record_batches(
    lake: &Lake,
    batches: Vec<(Table, RecordBatch)>,
    commit_props: impl Fn(Table) -> Option<CommitProperties>,
) -> Result<BatchCommit, LakeError> {
    let mut out = BatchCommit::default();
    for (table, batch) in batches {
        out.commits.push(lake.append(table, vec![batch], commit_props(table)).await?);
    }
    Ok(out)
}
