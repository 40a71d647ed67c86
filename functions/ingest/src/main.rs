//! The ingest Lambda: Kinesis events → the lake, exactly once per shard.
//! Only adapts the event to `opensoc_lake::stream::lambda`; no logic here.
//!
//! Environment:
//! - `OPENSOC_LAKE` (required): the lake root, e.g. `s3://bucket/lake`;
//! - the AWS SDK's standard variables (`AWS_REGION`, and `AWS_ENDPOINT_URL`
//!   to use a local server);
//! - `OPENSOC_GEOIP` (optional): MaxMind databases — a folder (e.g. a
//!   Lambda layer at `/opt/geoip`) or `s3://bucket/prefix/` — for the GeoIP
//!   columns of flows, logs and findings;
//! - `OPENSOC_RULES`, `OPENSOC_NO_BUILTIN_RULES`, `OPENSOC_SCORE_AGGREGATION`
//!   (optional): detection rules and how their scores combine;
//! - `RUST_LOG` (default `info`, with delta-rs's own chatter at `warn`).
//!   Logs are JSON lines, one summary per delivery ("delivery ingested").

use std::sync::Arc;

use anyhow::Context;
use aws_lambda_events::event::kinesis::KinesisEvent;
use aws_lambda_events::event::streams::KinesisEventResponse;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use opensoc_lake::Lake;
use opensoc_lake::stream::lambda::handle_kinesis_event;

async fn handler(lake: Arc<Lake>, event: LambdaEvent<KinesisEvent>) -> Result<KinesisEventResponse, Error> {
    let (response, _reports) = handle_kinesis_event(&lake, event.payload).await;
    Ok(response)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    opensoc_lake::function::init_logs();
    let location = opensoc_lake::function::lake_from_env()?;
    // Opened once per cold start: tables created when missing, GeoIP
    // databases and rules shipped with the function (a layer or the
    // package), and the intel table's indicators.
    let env_path = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(std::path::PathBuf::from);
    let opts = opensoc_lake::intel::PipelineOptions {
        geoip: env_path("OPENSOC_GEOIP"),
        rules: env_path("OPENSOC_RULES"),
        no_builtin_rules: std::env::var("OPENSOC_NO_BUILTIN_RULES").is_ok_and(|v| v == "1" || v == "true"),
        score_aggregation: match std::env::var("OPENSOC_SCORE_AGGREGATION") {
            Ok(s) => s.parse().map_err(anyhow::Error::msg).context("OPENSOC_SCORE_AGGREGATION")?,
            Err(_) => Default::default(),
        },
        no_scoring: std::env::var("OPENSOC_NO_SCORING").is_ok_and(|v| v == "1" || v == "true"),
    };
    let lake = Lake::open_enriched(location, &opts).await.context("opening the lake")?;
    let lake = Arc::new(lake);
    lambda_runtime::run(service_fn(move |ev| handler(lake.clone(), ev))).await
}
