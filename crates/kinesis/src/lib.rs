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
pub use sink::{KinesisSink, OutRecord, RetryPolicy, SinkError, SinkMetrics, StreamCheckError, describe_sdk_error};

/// A Kinesis client configured from the standard AWS environment
/// (`AWS_ENDPOINT_URL` points it at a local server).
pub async fn client() -> aws_sdk_kinesis::Client {
    let conf = aws_config::load_from_env().await;
    aws_sdk_kinesis::Client::new(&conf)
}

/// A client for the PutRecords sink: the standard environment, each call
/// limited to `call_timeout` (a stream that hangs counts as down), and no
/// retries inside the SDK — the sink retries only the failed entries itself.
pub async fn sink_client(call_timeout: std::time::Duration) -> aws_sdk_kinesis::Client {
    use aws_sdk_kinesis::config::retry::RetryConfig;
    use aws_sdk_kinesis::config::timeout::TimeoutConfig;
    let conf = aws_config::load_from_env().await;
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(std::time::Duration::from_secs(3).min(call_timeout))
        .operation_attempt_timeout(call_timeout)
        .build();
    let c = aws_sdk_kinesis::config::Builder::from(&conf)
        .timeout_config(timeouts)
        .retry_config(RetryConfig::standard().with_max_attempts(1))
        .build();
    aws_sdk_kinesis::Client::from_conf(c)
}
