//! One batch: the rows of every table, taken out together.

use arrow::record_batch::RecordBatch;
use opensoc_schemas::Table;

use crate::RowsError;
use crate::tables::{DnsRows, FlowRows, HttpRows, LogRows, PacketChunks, QuarantineRows, TlsRows};

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
    /// Log events.
    pub logs: LogRows,
}

/// When a batch is full enough to be taken out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchLimits {
    /// Bytes of packet records.
    pub packet_bytes: usize,
    /// Finished flows.
    pub flows: usize,
}

impl Default for BatchLimits {
    fn default() -> Self {
        BatchLimits { packet_bytes: 64 << 20, flows: 500_000 }
    }
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
            && self.logs.0.is_empty()
    }

    /// The batch holds as much as `limits` allow.
    pub fn is_full(&self, limits: &BatchLimits) -> bool {
        self.packets.bytes() >= limits.packet_bytes || self.flows.len() >= limits.flows
    }

    /// Turn every table's rows into an Arrow batch and clear (the current
    /// source stays registered, so filing can go on right away).
    pub fn take_record_batches(&mut self, sensor_id: &str) -> Result<Vec<(Table, RecordBatch)>, RowsError> {
        let batches = [
            (Table::Packets, self.packets.take_batch(sensor_id)?),
            (Table::Flows, self.flows.take_batch(sensor_id)?),
            (Table::Dns, self.dns.take_batch(sensor_id)?),
            (Table::Http, self.http.take_batch(sensor_id)?),
            (Table::Tls, self.tls.take_batch(sensor_id)?),
            (Table::Quarantine, self.quarantine.take_batch(sensor_id)?),
            (Table::Logs, self.logs.take_batch(sensor_id)?),
        ];
        Ok(batches.into_iter().filter_map(|(t, b)| b.map(|b| (t, b))).collect())
    }
}
