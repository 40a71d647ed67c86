//! The `carve_audit` table: one row per carve asked of the lake — who,
//! which filter, what came out — whether it delivered or was refused.

use std::sync::Arc;

use deltalake::arrow::array::{ArrayRef, Date32Array, Int64Array, StringArray, TimestampMicrosecondArray};
use deltalake::arrow::record_batch::RecordBatch;
use opensoc_schemas::{Table, event_date, ts_micros};

use super::{CarveError, CarveFilter, CarveSummary};
use crate::{Committed, Lake, LakeError};

/// How a carve ended, as the audit records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Packets delivered.
    Ok,
    /// Nothing matched.
    Empty,
    /// The request was refused (bad filter, over a limit, not allowed).
    Refused,
    /// The carve failed while running.
    Failed,
}

impl Outcome {
    /// The text stored in the `outcome` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Empty => "empty",
            Outcome::Refused => "refused",
            Outcome::Failed => "failed",
        }
    }

    /// The outcome of a carve's error: the caller's fault or ours.
    pub fn of_error(e: &CarveError) -> Outcome {
        match e {
            CarveError::InvalidFilter(_) | CarveError::TooLarge { .. } | CarveError::MixedLinkTypes(_) => {
                Outcome::Refused
            }
            _ => Outcome::Failed,
        }
    }
}

/// One audit row.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    /// When the carve was asked, ns since the epoch.
    pub time_ns: i64,
    /// Who asked (an IAM ARN, `token`, a local user name).
    pub principal: String,
    /// `cli`, `serve` or `function`.
    pub via: &'static str,
    /// The filter's canonical text.
    pub filter: String,
    /// The time range asked for.
    pub from_ns: Option<i64>,
    /// The time range asked for.
    pub to_ns: Option<i64>,
    /// How it ended.
    pub outcome: Outcome,
    /// Why, when it did not deliver.
    pub error: Option<String>,
    /// What was delivered.
    pub summary: Option<CarveSummary>,
    /// `inline`, or the object a presigned URL points to.
    pub delivery: Option<String>,
    /// Time taken, ms.
    pub elapsed_ms: u64,
}

impl AuditEntry {
    /// An entry for `filter` asked by `principal` via `via` at `time_ns`,
    /// to be completed with [`AuditEntry::finish`].
    pub fn new(principal: &str, via: &'static str, filter: &CarveFilter, time_ns: i64) -> AuditEntry {
        AuditEntry {
            time_ns,
            principal: principal.to_string(),
            via,
            filter: filter.describe(),
            from_ns: filter.from_ns,
            to_ns: filter.to_ns,
            outcome: Outcome::Failed,
            error: None,
            summary: None,
            delivery: None,
            elapsed_ms: 0,
        }
    }

    /// Record the carve's result.
    pub fn finish(&mut self, result: Result<&CarveSummary, &CarveError>, elapsed: std::time::Duration) {
        self.elapsed_ms = elapsed.as_millis() as u64;
        match result {
            Ok(s) => {
                self.outcome = if s.packets == 0 { Outcome::Empty } else { Outcome::Ok };
                self.summary = Some(s.clone());
            }
            Err(e) => {
                self.outcome = Outcome::of_error(e);
                self.error = Some(e.to_string());
            }
        }
    }

    /// The row as a `carve_audit` batch.
    pub fn to_batch(&self) -> Result<RecordBatch, LakeError> {
        let s = self.summary.as_ref();
        let ts = |ns: Option<i64>| -> ArrayRef {
            Arc::new(TimestampMicrosecondArray::from(vec![ns.map(ts_micros)]).with_timezone("UTC"))
        };
        let text = |v: Option<&str>| -> ArrayRef { Arc::new(StringArray::from(vec![v])) };
        let int = |v: u64| -> ArrayRef { Arc::new(Int64Array::from(vec![v.min(i64::MAX as u64) as i64])) };
        let columns: Vec<ArrayRef> = vec![
            ts(Some(self.time_ns)),
            text(Some(&self.principal)),
            text(Some(self.via)),
            text(Some(&self.filter)),
            ts(self.from_ns),
            ts(self.to_ns),
            text(Some(self.outcome.as_str())),
            text(self.error.as_deref()),
            int(s.map_or(0, |s| s.packets)),
            int(s.map_or(0, |s| s.bytes)),
            text(s.map(|s| s.format)),
            text(self.delivery.as_deref()),
            int(s.map_or(0, |s| s.scan.files_scanned)),
            int(s.map_or(0, |s| s.scan.bytes_scanned)),
            int(self.elapsed_ms),
            Arc::new(Int64Array::from(vec![self.time_ns])),
            Arc::new(Date32Array::from(vec![event_date(self.time_ns)])),
        ];
        RecordBatch::try_new(Table::CarveAudit.schema(), columns)
            .map_err(|source| LakeError::Rows(opensoc_rows::RowsError::Arrow { table: "carve_audit", source }))
    }

    /// Append the row to the lake's `carve_audit` table (created when missing).
    pub async fn append(&self, lake: &Lake) -> Result<Committed, LakeError> {
        lake.ensure_table(Table::CarveAudit).await?;
        lake.append(Table::CarveAudit, vec![self.to_batch()?], None).await
    }
}
