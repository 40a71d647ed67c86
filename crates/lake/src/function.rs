//! What every Lambda function of OpenSOC starts with: JSON logs for
//! CloudWatch and the lake named by `OPENSOC_LAKE`.

use crate::{LakeError, LakeLocation};

/// Our own logs at info; the Delta libraries only when something is wrong
/// (the kernel logs an error for every table that does not exist yet, which
/// is routine on a first start: the table is created).
pub const DEFAULT_LOG_FILTER: &str = "info,deltalake_core=warn,deltalake_core::writer::stats=error,buoyant_kernel=warn,buoyant_kernel::snapshot::builder=off";

/// JSON log lines on stdout, filtered by `RUST_LOG` (else
/// [`DEFAULT_LOG_FILTER`]), without timestamps: CloudWatch stamps every line.
pub fn init_logs() {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_LOG_FILTER)),
        )
        .with_current_span(false)
        .without_time()
        .init();
}

/// The lake `OPENSOC_LAKE` names (e.g. `s3://bucket/lake`).
pub fn lake_from_env() -> Result<LakeLocation, LakeError> {
    let spec = std::env::var("OPENSOC_LAKE").map_err(|_| LakeError::InvalidLocation {
        spec: String::new(),
        reason: "OPENSOC_LAKE is not set (e.g. s3://bucket/lake)".into(),
    })?;
    LakeLocation::parse(&spec)
}
