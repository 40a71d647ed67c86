//! # opensoc-kinesis
//!
//! OpenSOC on a Kinesis-compatible stream (AWS Kinesis, LocalStack, the
//! moto server), through `aws-sdk-kinesis`:
//!
//! - [`sink`]: PutRecords in calls of at most 500 records / 5 MiB; only the
//!   failed entries of a call are retried, with exponential backoff and
//!   jitter; what still fails is handed back for spooling.
//! - [`esm`]: a local event-source runner that reads the shards and invokes
//!   a handler with the same `KinesisEvent` Lambda would build, honouring
//!   `batchItemFailures` and bisecting on function errors.
//!
//! [`client`] builds a client from the AWS SDK's standard environment
//! (`AWS_ENDPOINT_URL`, `AWS_REGION`, credentials).

pub mod esm;
pub mod sink;

pub use aws_lambda_events::event::kinesis::KinesisEvent;
pub use aws_lambda_events::event::streams::KinesisEventResponse;
pub use esm::{EsmConfig, EsmError, EsmReport, KinesisHandler, StartPosition};
pub use sink::{KinesisSink, OutRecord, RetryPolicy, SinkError, SinkMetrics};

/// A Kinesis client configured from the standard AWS environment
/// (`AWS_ENDPOINT_URL` points it at a local server).
pub async fn client() -> aws_sdk_kinesis::Client {
    let conf = aws_config::load_from_env().await;
    aws_sdk_kinesis::Client::new(&conf)
}
