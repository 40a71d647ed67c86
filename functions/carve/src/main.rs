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

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    opensoc_web::lambda::run_function(opensoc_web::Role::Carve).await
}
