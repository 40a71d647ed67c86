//! The webhook function: `POST /ingest/{source}` behind a function URL,
//! the same HTTP input as `opensoc-sensor http` ([`opensoc_webhook`]), with
//! the events put straight onto the Kinesis stream as log records. The
//! function URL has no IAM auth (producers such as GitHub or a SaaS cannot
//! sign SigV4); every request is checked against the shared secret or its
//! HMAC-SHA256 signature before anything is read or stored.
//!
//! Environment:
//! - `OPENSOC_STREAM` (required): the stream the ingest function reads;
//! - `OPENSOC_WEBHOOK_SECRET` (required, at least 16 characters);
//! - `OPENSOC_WEBHOOK_MAX_BODY_KIB`: largest body (default and most 6000:
//!   a function URL takes at most 6 MB);
//! - `OPENSOC_WEBHOOK_NAME`: the producer name in the records (default
//!   `webhook`);
//! - `RUST_LOG`; logs are JSON lines.

use std::sync::Arc;

use anyhow::Context;
use opensoc_kinesis::{KinesisSink, RetryPolicy};
use opensoc_webhook::stream::StreamSink;
use opensoc_webhook::{Secret, WebhookConfig};

/// A function URL's request limit, KiB.
const URL_MAX_KIB: usize = 6000;

fn env(name: &str) -> anyhow::Result<String> {
    std::env::var(name).with_context(|| format!("{name} is not set"))
}

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_current_span(false)
        .without_time()
        .init();
    let stream = env("OPENSOC_STREAM")?;
    let secret = Secret::new(&env("OPENSOC_WEBHOOK_SECRET")?).map_err(anyhow::Error::msg)?;
    let max_kib =
        match std::env::var("OPENSOC_WEBHOOK_MAX_BODY_KIB") {
            Ok(v) => v.trim().parse::<usize>().ok().filter(|k| (1..=URL_MAX_KIB).contains(k)).with_context(|| {
                format!("OPENSOC_WEBHOOK_MAX_BODY_KIB: {v:?} is not a number from 1 to {URL_MAX_KIB}")
            })?,
            Err(_) => URL_MAX_KIB,
        };
    let name = std::env::var("OPENSOC_WEBHOOK_NAME").unwrap_or_else(|_| "webhook".into());
    let client = opensoc_kinesis::client().await;
    let sink = StreamSink::new(&name, KinesisSink::new(client, &stream, RetryPolicy::default()))
        .map_err(|e| anyhow::anyhow!("OPENSOC_WEBHOOK_NAME: {e}"))?;
    let mut config = WebhookConfig::new(secret);
    config.max_body_bytes = max_kib << 10;
    config.max_decoded_bytes = config.max_body_bytes.saturating_mul(8);
    tracing::info!(stream = %stream, max_body_kib = max_kib, "webhook function ready");
    lambda_http::run(opensoc_webhook::router(config, Arc::new(sink))).await
}
