//! The carve function: the packets of a flow, host, network, port,
//! protocol or sensor in a time range as pcap/pcapng (`GET /api/carve`),
//! behind a function URL with AWS_IAM auth. Small results inline, large ones
//! written to `OPENSOC_CARVE_OUTPUT` with a presigned URL; every carve
//! appends a `carve_audit` row with the caller's IAM identity. Only adapts
//! the Lambda event to `opensoc_web`'s router; no logic here.
//!
//! Environment:
//! - `OPENSOC_LAKE` (required): the lake root, e.g. `s3://bucket/lake`;
//! - `OPENSOC_CARVE_OUTPUT`, `OPENSOC_CARVE_URL_SECONDS`,
//!   `OPENSOC_CARVE_INLINE_KIB`: where large carves go, for how long, from what size;
//! - `OPENSOC_CARVE_MAX_PACKETS`, `OPENSOC_CARVE_MAX_MIB`,
//!   `OPENSOC_CARVE_MAX_SPAN_HOURS`: the limits of one carve;
//! - `OPENSOC_INVESTIGATORS` (optional): IAM ARNs allowed, comma-separated;
//! - `RUST_LOG`; logs are JSON lines, one per carve.

use anyhow::Context;
use opensoc_lake::Lake;
use opensoc_web::{AppState, Role, SharedLake, WebConfig};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    opensoc_lake::function::init_logs();
    let location = opensoc_lake::function::lake_from_env()?;
    let config = WebConfig::from_env(Role::Carve).context("the function's environment")?;
    let lake = Lake::open_existing(location).await.context("opening the lake")?;
    let router = opensoc_web::router(AppState { lake: SharedLake::new(lake), config });
    opensoc_web::lambda::run(router, opensoc_web::env::investigators()).await
}
