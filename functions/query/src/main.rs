//! The query function: read-only SQL over the lake (`POST /api/query`), the
//! alert queue and alert context (`GET /api/findings[/{id}]`) and the
//! investigator's page (`GET /`), behind a function URL with AWS_IAM auth.
//! Only adapts the Lambda event to `opensoc_web`'s router; no logic here.
//!
//! Environment:
//! - `OPENSOC_LAKE` (required): the lake root, e.g. `s3://bucket/lake`;
//! - `OPENSOC_QUERY_TIMEOUT_SECONDS`, `OPENSOC_QUERY_MAX_ROWS`,
//!   `OPENSOC_QUERY_MEMORY_MIB`: the limits of one query;
//! - `OPENSOC_INVESTIGATORS` (optional): IAM ARNs allowed, comma-separated;
//! - `OPENSOC_CARVE_URL` (optional): where the page sends carve requests;
//! - `RUST_LOG`; logs are JSON lines, one per answered request.

use anyhow::Context;
use opensoc_lake::Lake;
use opensoc_web::{AppState, Role, SharedLake, WebConfig};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    opensoc_lake::function::init_logs();
    let location = opensoc_lake::function::lake_from_env()?;
    let config = WebConfig::from_env(Role::Query).context("the function's environment")?;
    let lake = Lake::open_existing(location).await.context("opening the lake")?;
    let router = opensoc_web::router(AppState { lake: SharedLake::new(lake), config });
    opensoc_web::lambda::run(router, opensoc_web::env::investigators()).await
}
