//! # opensoc-lake
//!
//! The lake side of OpenSOC: Delta tables on a local folder or an object
//! store ([`Lake`]), the capture ingest pipeline ([`ingest`]), read-only SQL
//! ([`sql`]) and PCAP carving ([`carve`]).

mod append;
mod blob_file;
pub mod carve;
mod commit;
mod direct_file;
mod file_stats;
pub mod function;
pub mod geoip_sync;
pub mod ingest;
pub mod intel;
pub mod intel_sync;
mod lake;
mod location;
pub mod logs;
pub mod maintain;
pub mod model;
pub mod ocsf;
pub mod output;
pub mod scan;
pub mod sql;
pub mod stream;
pub mod time;
pub mod workflow;

pub use commit::CommitOptions;
pub use lake::{Committed, Lake, LakeRef};
pub use location::{LakeLocation, s3_bucket};
pub use opensoc_rows as rows;
pub use opensoc_schemas::Table;

/// Errors of the lake library.
#[derive(Debug, thiserror::Error)]
pub enum LakeError {
    /// Enrichment failed (a damaged GeoIP database).
    #[error("enrichment: {0}")]
    Enrich(String),
    /// The lake location could not be understood or prepared.
    #[error("invalid lake location {spec:?}: {reason}")]
    InvalidLocation {
        /// What was given.
        spec: String,
        /// Why it is not usable.
        reason: String,
    },
    /// A Delta operation failed.
    #[error("table {table}: {op} failed: {source}")]
    Delta {
        /// The table.
        table: String,
        /// The operation.
        op: &'static str,
        /// The cause.
        #[source]
        source: Box<deltalake::DeltaTableError>,
    },
    /// The table does not exist in this lake.
    #[error("table {0} does not exist in this lake")]
    MissingTable(String),
    /// The table exists but could not be opened (left untouched).
    #[error("table {table} cannot be read and was left untouched: {reason}")]
    Unreadable {
        /// The table.
        table: String,
        /// Why it could not be opened.
        reason: String,
    },
    /// Building rows failed.
    #[error(transparent)]
    Rows(#[from] opensoc_rows::RowsError),
    /// A query failed.
    #[error("{0}")]
    Query(#[from] sql::QueryError),
    /// A carve failed.
    #[error("{0}")]
    Carve(#[from] carve::CarveError),
    /// A behavioural model cannot be built, stored or used.
    #[error(transparent)]
    Model(#[from] opensoc_model::ModelError),
    /// Training found nothing to learn from, or was asked something impossible.
    #[error("model training: {0}")]
    Training(String),
    /// Local I/O failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}
