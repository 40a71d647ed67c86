//! The ingest pipeline: captures in, table rows out, one commit per table per batch.
//!
//! [`Ingestor`] reads capture files packet by packet (no per-packet
//! allocation on the read/decode/meter path), meters flows per file, files
//! every packet in a flow chunk, and commits a batch to every table when the
//! batch holds [`IngestConfig::batch_bytes`] of packet data, and at the end.
//! The commit of one batch runs on another task while the next batch is
//! decoded, so the two halves of the work use both cores.
//! Damage never stops a run: a capture cut short keeps its complete packets
//! and gets a quarantine row, as does a malformed packet (which is still
//! stored) and a file that is not a capture.

mod batch;
mod capture;

pub use batch::{Batch, BatchCommit, commit_record_batches};
pub use capture::{FileReport, IngestConfig, Ingestor, Totals};
