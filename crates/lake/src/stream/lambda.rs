//! The ingest function's handler: a Lambda Kinesis event in, a partial
//! batch response out. The Lambda binary and the local event-source runner
//! both call [`handle_kinesis_event`].

use aws_lambda_events::event::kinesis::KinesisEvent;
use aws_lambda_events::event::streams::KinesisEventResponse;

use super::{StreamIngestor, StreamRecord, StreamReport};
use crate::Lake;

/// A delivery's records grouped by shard, in order.
struct ShardGroup {
    stream: String,
    shard: String,
    records: Vec<StreamRecord>,
}

/// The stream name from an event source ARN (`arn:aws:kinesis:…:stream/NAME`).
pub fn stream_name(arn: &str) -> &str {
    arn.rsplit_once(":stream/").map_or(arn, |(_, name)| name.split('/').next().unwrap_or(name))
}

/// The shard id from an event id (`shardId-000000000000:4959…`).
pub fn shard_id(event_id: &str) -> Option<&str> {
    event_id.split_once(':').map(|(shard, _)| shard).filter(|s| !s.is_empty())
}

fn group(event: KinesisEvent) -> Vec<ShardGroup> {
    let mut groups: Vec<ShardGroup> = Vec::new();
    for r in event.records {
        let stream = stream_name(r.event_source_arn.as_deref().unwrap_or("unknown")).to_string();
        let shard = r.event_id.as_deref().and_then(shard_id).unwrap_or("unknown-shard").to_string();
        let rec = StreamRecord {
            sequence: r.kinesis.sequence_number,
            partition_key: r.kinesis.partition_key,
            arrival_ns: r.kinesis.approximate_arrival_timestamp.0.timestamp_nanos_opt().unwrap_or(0),
            data: r.kinesis.data.0,
        };
        match groups.iter_mut().find(|g| g.stream == stream && g.shard == shard) {
            Some(g) => g.records.push(rec),
            None => groups.push(ShardGroup { stream, shard, records: vec![rec] }),
        }
    }
    groups
}

/// Ingest a Kinesis event. Bad records are quarantined (never failed);
/// when the lake fails, the shard's first record is reported as failed, so
/// the event source retries the delivery — which exactly-once ingest makes
/// safe.
pub async fn handle_kinesis_event(lake: &Lake, event: KinesisEvent) -> (KinesisEventResponse, Vec<StreamReport>) {
    let mut response = KinesisEventResponse::default();
    let mut reports = Vec::new();
    let ingestor = StreamIngestor::new(lake);
    for g in group(event) {
        match ingestor.ingest(&g.stream, &g.shard, &g.records).await {
            Ok(report) => {
                tracing::info!(
                    stream = %g.stream,
                    shard = %g.shard,
                    records = report.records,
                    claims = report.claims,
                    kpl_user_records = report.kpl_user_records,
                    quarantined = report.quarantined,
                    commits = report.commits,
                    commit_ms = report.commit_time.as_secs_f64() * 1000.0,
                    rows = ?report.rows,
                    already_committed = ?report.already_committed,
                    "delivery ingested"
                );
                reports.push(report);
            }
            Err(e) => {
                tracing::error!(stream = %g.stream, shard = %g.shard, error = %e, "delivery failed; asking for a retry");
                if let Some(first) = g.records.first() {
                    response.add_failure(first.sequence.clone());
                }
            }
        }
    }
    (response, reports)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_out_of_arns_and_event_ids() {
        assert_eq!(stream_name("arn:aws:kinesis:us-east-1:123456789012:stream/opensoc"), "opensoc");
        assert_eq!(stream_name("plain"), "plain");
        assert_eq!(shard_id("shardId-000000000001:4959033827149025660855"), Some("shardId-000000000001"));
        assert_eq!(shard_id("nocolon"), None);
    }
}
