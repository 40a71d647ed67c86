//! Claim-check mode: packet segments (rows of the `packets` table, up to
//! [`MAX_SEGMENT_BYTES`]) and any other record too large for the stream
//! are PUT to S3, and the stream carries a small `claim` record naming the
//! object instead. Flows, DNS, HTTP, TLS and logs stay on the stream.
//!
//! The object's key is a function of the segment's sensor and sequence
//! number, so a segment put twice (a retry, or a spooled segment sent
//! again after a restart) lands on the same key. The claim record is sent
//! only once its object is stored, so the ingest side never sees a claim
//! before its object exists.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use opensoc_kinesis::OutRecord;
use opensoc_schemas::envelope::{ClaimCheck, Envelope, Kind, MAX_RECORD_BYTES, MAX_SEGMENT_BYTES, RecordWriter};

use crate::config::ClaimCheckSection;
use crate::metrics::SensorMetrics;

/// Records could not be claim-checked; all of them are handed back as
/// they came (to be spooled and tried again).
#[derive(Debug, thiserror::Error)]
#[error("putting a segment to s3://{bucket}/{key} failed: {message}")]
pub struct ClaimError {
    /// The bucket.
    pub bucket: String,
    /// The key that failed.
    pub key: String,
    /// What S3 (or the network) said.
    pub message: String,
    /// The records, unchanged.
    pub records: Vec<OutRecord>,
}

/// Puts oversized records to S3 and swaps them for claim records.
pub struct ClaimChecker {
    s3: aws_sdk_s3::Client,
    bucket: String,
    prefix: String,
    metrics: Arc<SensorMetrics>,
}

impl ClaimChecker {
    /// A checker for `section`'s bucket and prefix. The AWS SDK's standard
    /// environment chooses the endpoint, region and credentials; with an
    /// endpoint override (MinIO, LocalStack, moto) paths are used instead
    /// of virtual hosts.
    pub async fn new(section: &ClaimCheckSection, call_timeout: Duration, metrics: Arc<SensorMetrics>) -> Self {
        let timeouts = aws_sdk_s3::config::timeout::TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(3))
            .operation_attempt_timeout(call_timeout.max(Duration::from_secs(10)))
            .build();
        let conf = aws_config::defaults(aws_config::BehaviorVersion::latest()).timeout_config(timeouts).load().await;
        let overridden =
            std::env::var_os("AWS_ENDPOINT_URL_S3").or_else(|| std::env::var_os("AWS_ENDPOINT_URL")).is_some();
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&conf).force_path_style(overridden).build(),
        );
        let mut prefix = section.prefix.trim_start_matches('/').to_string();
        if !prefix.is_empty() && !prefix.ends_with('/') {
            prefix.push('/');
        }
        ClaimChecker { s3, bucket: section.bucket.clone(), prefix, metrics }
    }

    /// The key of a segment: `PREFIX/SENSOR/YYYY-MM-DD/SEQUENCE-LABEL.osoc`
    /// (the day the segment was made, UTC).
    pub fn key_for(&self, sensor_id: &str, created_ns: i64, sequence: u64, label: &str) -> String {
        let day = chrono::DateTime::from_timestamp_nanos(created_ns).format("%Y-%m-%d");
        format!("{}{sensor_id}/{day}/{sequence:020}-{label}.osoc", self.prefix)
    }

    /// Put every packet segment (and every record larger than the stream
    /// takes) to S3, in order, and return the records with claim records in
    /// their place.
    pub async fn check(&self, records: Vec<OutRecord>) -> Result<Vec<OutRecord>, ClaimError> {
        if !records.iter().any(is_claimed) {
            return Ok(records);
        }
        let mut out = Vec::with_capacity(records.len());
        for (i, r) in records.iter().enumerate() {
            if !is_claimed(r) {
                out.push(r.clone());
                continue;
            }
            match self.put(r).await {
                Ok(claim) => out.push(claim),
                Err((key, message)) => {
                    tracing::warn!(bucket = %self.bucket, key, error = %message, pending = records.len() - i, "segment not stored");
                    return Err(ClaimError { bucket: self.bucket.clone(), key, message, records });
                }
            }
        }
        Ok(out)
    }

    async fn put(&self, r: &OutRecord) -> Result<OutRecord, (String, String)> {
        let env = Envelope::parse_segment(&r.data).map_err(|e| (String::new(), format!("not a segment: {e}")))?;
        if r.data.len() > MAX_SEGMENT_BYTES {
            return Err((String::new(), format!("{} bytes is over the segment limit", r.data.len())));
        }
        let h = &env.header;
        let key = self.key_for(&h.sensor_id, h.created_ns, h.sequence, &h.label);
        self.s3
            .put_object()
            .bucket(&self.bucket)
            .key(&key)
            .content_type("application/vnd.opensoc.record")
            .body(ByteStream::from(r.data.clone()))
            .send()
            .await
            .map_err(|e| (key.clone(), opensoc_kinesis::describe_sdk_error(&e)))?;
        self.metrics.segments_stored.fetch_add(1, Ordering::Relaxed);
        self.metrics.segment_bytes_stored.fetch_add(r.data.len() as u64, Ordering::Relaxed);
        let claim = ClaimCheck { uri: format!("s3://{}/{key}", self.bucket), bytes: r.data.len() as u64 };
        let writer = RecordWriter::new(&h.sensor_id, 1).map_err(|e| (key.clone(), e.to_string()))?;
        let data = writer
            .record(Kind::Claim, &h.label, h.sequence, h.created_ns, &claim.encode())
            .map_err(|e| (key.clone(), e.to_string()))?;
        Ok(OutRecord { partition_key: r.partition_key.clone(), data })
    }
}

/// Whether a record goes to S3: a packet segment, or too large for the stream.
fn is_claimed(r: &OutRecord) -> bool {
    r.data.len() > MAX_RECORD_BYTES
        || Envelope::parse(&r.data)
            .is_ok_and(|e| e.header.kind == Kind::Rows && e.header.label == opensoc_schemas::Table::Packets.name())
}
