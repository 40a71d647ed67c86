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

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    opensoc_web::lambda::run_function(opensoc_web::Role::Query).await
}
