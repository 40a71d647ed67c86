//! The PutRecords sink: records to a stream, never losing one silently.
//!
//! Records go out in PutRecords calls of at most 500 records and 5 MiB.
//! When a call partly fails, only the failed entries are sent again; a
//! throttled or failed call is retried with exponential backoff and full
//! jitter. After `max_attempts` the records that are still unsent are
//! handed back ([`SinkError::Unavailable`]) so the caller can spool them.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use aws_sdk_kinesis::Client;
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;
use rand::Rng;

/// Most records per PutRecords call.
pub const MAX_RECORDS_PER_CALL: usize = 500;
/// Most bytes (data plus partition keys) per PutRecords call.
pub const MAX_BYTES_PER_CALL: usize = 5 << 20;

/// One record to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutRecord {
    /// Decides the shard.
    pub partition_key: String,
    /// The bytes (at most 1 MiB).
    pub data: Vec<u8>,
}

impl OutRecord {
    fn size(&self) -> usize {
        self.data.len() + self.partition_key.len()
    }
}

/// Retry settings.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts per record before giving it back (at least 1).
    pub max_attempts: u32,
    /// First backoff.
    pub base: Duration,
    /// Longest backoff.
    pub max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy { max_attempts: 8, base: Duration::from_millis(100), max: Duration::from_secs(5) }
    }
}

impl RetryPolicy {
    /// The backoff before attempt `attempt` (1-based; attempt 1 has none):
    /// full jitter over an exponentially growing cap.
    pub fn backoff(&self, attempt: u32) -> Duration {
        if attempt <= 1 {
            return Duration::ZERO;
        }
        let cap = self.base.saturating_mul(1u32 << (attempt - 2).min(16)).min(self.max);
        let ms = cap.as_millis().max(1) as u64;
        Duration::from_millis(rand::rng().random_range(ms / 2..=ms))
    }
}

/// What the sink has done, for the metrics endpoint.
#[derive(Debug, Default)]
pub struct SinkMetrics {
    /// Records acknowledged by the stream.
    pub records_sent: AtomicU64,
    /// Bytes of acknowledged records.
    pub bytes_sent: AtomicU64,
    /// PutRecords calls made.
    pub calls: AtomicU64,
    /// Entries sent again after a failure.
    pub retries: AtomicU64,
    /// Entries refused with ProvisionedThroughputExceeded (or calls throttled).
    pub throttles: AtomicU64,
    /// Calls that failed outright (network, server error).
    pub call_errors: AtomicU64,
}

/// The stream could not take the records.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// Still unsent after every attempt: spool them.
    #[error("{} records unsent after {attempts} attempts: {last_error}", unsent.len())]
    Unavailable {
        /// The records not acknowledged, in their original order.
        unsent: Vec<OutRecord>,
        /// Attempts made.
        attempts: u32,
        /// The last error seen.
        last_error: String,
    },
    /// A record over the stream's limit: retrying cannot help.
    #[error("record of {0} bytes is over the 1 MiB limit")]
    TooLarge(usize),
}

/// Why a stream cannot be used, found before any record is sent.
#[derive(Debug, thiserror::Error)]
pub enum StreamCheckError {
    /// The stream does not exist: a configuration error, retrying cannot help.
    #[error(
        "stream {stream} does not exist ({detail}); create it (`opensoc stack up --stream {stream}` locally, `aws kinesis create-stream` on AWS) or fix --stream"
    )]
    Missing {
        /// The stream's name.
        stream: String,
        /// The service's message.
        detail: String,
    },
    /// The credentials may not use the stream.
    #[error("not allowed to use stream {stream}: {detail}")]
    Denied {
        /// The stream's name.
        stream: String,
        /// The service's message.
        detail: String,
    },
    /// The service did not answer (network, outage): records will be spooled.
    #[error("stream {stream} is unreachable: {detail}")]
    Unreachable {
        /// The stream's name.
        stream: String,
        /// The error.
        detail: String,
    },
}

/// A short description of an AWS SDK error (any service's): the service's
/// code and message when there is one, the whole error chain otherwise
/// (never the raw response).
pub fn describe_sdk_error<E, R>(e: &aws_sdk_kinesis::error::SdkError<E, R>) -> String
where
    E: aws_sdk_kinesis::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    use aws_sdk_kinesis::error::ProvideErrorMetadata;
    match (e.code(), e.message()) {
        (Some(code), Some(msg)) => format!("{code}: {msg}"),
        (Some(code), None) => code.to_string(),
        _ => aws_sdk_kinesis::error::DisplayErrorContext(e).to_string(),
    }
}

/// Sends records to one stream.
#[derive(Clone)]
pub struct KinesisSink {
    client: Client,
    stream: String,
    retry: RetryPolicy,
    metrics: Arc<SinkMetrics>,
}

impl KinesisSink {
    /// A sink for `stream`.
    pub fn new(client: Client, stream: impl Into<String>, retry: RetryPolicy) -> Self {
        KinesisSink { client, stream: stream.into(), retry, metrics: Arc::default() }
    }

    /// The sink's counters.
    pub fn metrics(&self) -> Arc<SinkMetrics> {
        self.metrics.clone()
    }

    /// The stream's name.
    pub fn stream(&self) -> &str {
        &self.stream
    }

    /// Ask the service whether the stream exists and may be used
    /// (DescribeStreamSummary), so that a wrong name fails at once instead of
    /// filling the spool.
    pub async fn check(&self) -> Result<(), StreamCheckError> {
        let stream = self.stream.clone();
        match self.client.describe_stream_summary().stream_name(&self.stream).send().await {
            Ok(_) => Ok(()),
            Err(e) => {
                let detail = describe_sdk_error(&e);
                let code = aws_sdk_kinesis::error::ProvideErrorMetadata::code(&e).unwrap_or_default();
                Err(match code {
                    "ResourceNotFoundException" => StreamCheckError::Missing { stream, detail },
                    "AccessDeniedException" | "UnrecognizedClientException" => {
                        StreamCheckError::Denied { stream, detail }
                    }
                    _ => StreamCheckError::Unreachable { stream, detail },
                })
            }
        }
    }

    /// Send records; returns when every one is acknowledged, or with the
    /// ones that are not.
    pub async fn send(&self, records: Vec<OutRecord>) -> Result<(), SinkError> {
        if let Some(r) = records.iter().find(|r| r.data.len() > 1 << 20) {
            return Err(SinkError::TooLarge(r.data.len()));
        }
        let mut pending = records;
        let mut unsent = Vec::new();
        let mut last_error = String::new();
        let mut attempts = 0;
        while !pending.is_empty() {
            attempts += 1;
            if attempts > self.retry.max_attempts.max(1) {
                unsent.append(&mut pending);
                break;
            }
            tokio::time::sleep(self.retry.backoff(attempts)).await;
            let mut failed = Vec::new();
            for call in split_calls(std::mem::take(&mut pending)) {
                match self.put(call).await {
                    Ok(mut f) => failed.append(&mut f),
                    Err((mut f, e)) => {
                        last_error = e;
                        failed.append(&mut f);
                    }
                }
            }
            if !failed.is_empty() {
                self.metrics.retries.fetch_add(failed.len() as u64, Ordering::Relaxed);
                if last_error.is_empty() {
                    last_error = "entries refused by the stream".into();
                }
            }
            pending = failed;
        }
        if unsent.is_empty() {
            Ok(())
        } else {
            Err(SinkError::Unavailable { unsent, attempts: attempts - 1, last_error })
        }
    }

    /// One PutRecords call; returns the entries that failed.
    async fn put(&self, call: Vec<OutRecord>) -> Result<Vec<OutRecord>, (Vec<OutRecord>, String)> {
        self.metrics.calls.fetch_add(1, Ordering::Relaxed);
        let entries: Vec<PutRecordsRequestEntry> = call
            .iter()
            .filter_map(|r| {
                PutRecordsRequestEntry::builder()
                    .partition_key(&r.partition_key)
                    .data(Blob::new(r.data.clone()))
                    .build()
                    .ok()
            })
            .collect();
        let out = match self.client.put_records().stream_name(&self.stream).set_records(Some(entries)).send().await {
            Ok(out) => out,
            Err(e) => {
                let msg = describe_sdk_error(&e);
                if msg.contains("ProvisionedThroughputExceeded") || msg.contains("Throttl") {
                    self.metrics.throttles.fetch_add(call.len() as u64, Ordering::Relaxed);
                } else {
                    self.metrics.call_errors.fetch_add(1, Ordering::Relaxed);
                }
                tracing::warn!(stream = %self.stream, records = call.len(), error = %msg, "PutRecords failed");
                return Err((call, msg));
            }
        };
        let mut failed = Vec::new();
        for (rec, res) in call.into_iter().zip(out.records()) {
            match res.error_code() {
                None => {
                    self.metrics.records_sent.fetch_add(1, Ordering::Relaxed);
                    self.metrics.bytes_sent.fetch_add(rec.data.len() as u64, Ordering::Relaxed);
                }
                Some(code) => {
                    if code == "ProvisionedThroughputExceededException" {
                        self.metrics.throttles.fetch_add(1, Ordering::Relaxed);
                    }
                    failed.push(rec);
                }
            }
        }
        Ok(failed)
    }
}

/// Split records into PutRecords calls within the count and size limits,
/// keeping their order.
pub fn split_calls(records: Vec<OutRecord>) -> Vec<Vec<OutRecord>> {
    let mut calls = Vec::new();
    let mut cur: Vec<OutRecord> = Vec::new();
    let mut bytes = 0;
    for r in records {
        if !cur.is_empty() && (cur.len() == MAX_RECORDS_PER_CALL || bytes + r.size() > MAX_BYTES_PER_CALL) {
            calls.push(std::mem::take(&mut cur));
            bytes = 0;
        }
        bytes += r.size();
        cur.push(r);
    }
    if !cur.is_empty() {
        calls.push(cur);
    }
    calls
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(n: usize) -> OutRecord {
        OutRecord { partition_key: "k".into(), data: vec![0; n] }
    }

    #[test]
    fn calls_respect_the_record_and_byte_limits_and_keep_order() {
        let calls = split_calls((0..1200).map(|_| rec(10)).collect());
        assert_eq!(calls.iter().map(Vec::len).collect::<Vec<_>>(), vec![500, 500, 200]);
        let calls = split_calls((0..12).map(|_| rec(1 << 20)).collect());
        assert!(calls.iter().all(|c| c.iter().map(OutRecord::size).sum::<usize>() <= MAX_BYTES_PER_CALL));
        assert_eq!(calls.iter().map(Vec::len).sum::<usize>(), 12);
    }

    #[test]
    fn backoff_grows_to_its_cap_with_jitter() {
        let p = RetryPolicy { max_attempts: 10, base: Duration::from_millis(100), max: Duration::from_secs(1) };
        assert_eq!(p.backoff(1), Duration::ZERO);
        let b2 = p.backoff(2);
        assert!(b2 >= Duration::from_millis(50) && b2 <= Duration::from_millis(100), "{b2:?}");
        let b9 = p.backoff(9);
        assert!(b9 >= Duration::from_millis(500) && b9 <= Duration::from_secs(1), "{b9:?}");
    }
}
