//! A local event-source runner: what Lambda's Kinesis event source mapping
//! does, on one machine.
//!
//! It lists the stream's shards and reads each (GetShardIterator,
//! GetRecords), builds the very `KinesisEvent` Lambda would, and hands it to
//! a [`KinesisHandler`]. Like the mapping with `ReportBatchItemFailures` and
//! `BisectBatchOnFunctionError`: a response naming failed items restarts
//! the batch at the lowest of them; a function error splits the batch in
//! two and retries each half; after `max_attempts` the shard stops with an
//! error. Shard positions are checkpointed to a file after each batch, so a
//! restart resumes where it stopped; starting from the trim horizon ignores
//! them (and redelivers everything — which exactly-once ingest must absorb).

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::kinesis::{KinesisEvent, KinesisEventRecord, KinesisRecord};
use aws_lambda_events::event::streams::KinesisEventResponse;
use aws_sdk_kinesis::Client;
use aws_sdk_kinesis::types::{Record, ShardIteratorType};
use serde::Serialize;
use tokio::sync::{Mutex, watch};
use tokio::task::JoinHandle;

/// What the runner invokes: the ingest function's handler.
pub trait KinesisHandler: Send + Sync + 'static {
    /// Handle one event; `Err` is a function error (the whole batch failed).
    fn handle(&self, event: KinesisEvent) -> impl Future<Output = Result<KinesisEventResponse, String>> + Send;
}

/// Where to start reading a shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartPosition {
    /// From the checkpoint when there is one, else the oldest record.
    Checkpoint,
    /// The oldest record, ignoring checkpoints.
    TrimHorizon,
    /// Only records written from now on (when there is no checkpoint).
    Latest,
}

/// Runner settings.
#[derive(Debug, Clone)]
pub struct EsmConfig {
    /// The stream.
    pub stream: String,
    /// Most records per event (Lambda allows up to 10 000).
    pub batch_size: i32,
    /// Where to start.
    pub start: StartPosition,
    /// Stop when every shard is drained, instead of polling forever.
    pub until_idle: bool,
    /// The checkpoint file (shard → last sequence number handled).
    pub checkpoint_file: Option<PathBuf>,
    /// Attempts per batch before the shard stops.
    pub max_attempts: u32,
    /// Wait between polls of an empty shard.
    pub poll_interval: Duration,
    /// Read only these shards (empty: all), e.g. one worker per shard.
    pub shards: Vec<String>,
    /// Most bytes of event JSON per invocation: Lambda takes at most 6 MB
    /// in a synchronous invocation, so a batch is split into events that
    /// fit (records are base64 in the event, a third larger than on the stream).
    pub max_event_bytes: usize,
}

/// Lambda's limit on a synchronous invocation's payload.
pub const LAMBDA_PAYLOAD_LIMIT: usize = 6 * 1024 * 1024;

/// Bytes of event JSON per record besides its base64 data (ids, ARNs, keys);
/// generous, so that an estimate never undercounts.
const EVENT_BYTES_PER_RECORD: usize = 1024;

/// The event JSON bytes a record takes, over-estimated.
fn event_bytes(r: &Record) -> usize {
    r.data().as_ref().len().div_ceil(3) * 4 + r.partition_key().map_or(0, str::len) + EVENT_BYTES_PER_RECORD
}

/// Split a batch into events of at most `max_bytes` (at least one record
/// each), in order.
fn event_chunks(records: &[Record], max_bytes: usize) -> Vec<&[Record]> {
    let mut chunks = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, r) in records.iter().enumerate() {
        let b = event_bytes(r);
        if i > start && bytes + b > max_bytes {
            chunks.push(&records[start..i]);
            (start, bytes) = (i, 0);
        }
        bytes += b;
    }
    if start < records.len() {
        chunks.push(&records[start..]);
    }
    chunks
}

impl EsmConfig {
    /// Defaults for `stream`.
    pub fn new(stream: impl Into<String>) -> Self {
        EsmConfig {
            stream: stream.into(),
            batch_size: 1000,
            start: StartPosition::Checkpoint,
            until_idle: false,
            checkpoint_file: None,
            max_attempts: 5,
            poll_interval: Duration::from_millis(500),
            shards: Vec::new(),
            max_event_bytes: LAMBDA_PAYLOAD_LIMIT,
        }
    }
}

/// What a run did.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct EsmReport {
    /// Shards read.
    pub shards: u64,
    /// Records delivered successfully.
    pub records: u64,
    /// Events (invocations) made.
    pub invocations: u64,
    /// Batches restarted after reported item failures.
    pub item_failure_retries: u64,
    /// Batches split after function errors.
    pub bisections: u64,
}

/// Why the runner stopped.
#[derive(Debug, thiserror::Error)]
pub enum EsmError {
    /// A Kinesis call failed.
    #[error("kinesis {op}: {message}")]
    Kinesis {
        /// The call.
        op: &'static str,
        /// The error.
        message: String,
    },
    /// A batch kept failing.
    #[error("shard {shard}: batch starting at {sequence} still fails after {attempts} attempts: {reason}")]
    Poisoned {
        /// The shard.
        shard: String,
        /// First sequence number of the failing batch.
        sequence: String,
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        reason: String,
    },
    /// The checkpoint file could not be read or written.
    #[error("checkpoint file {path}: {message}")]
    Checkpoint {
        /// The file.
        path: String,
        /// What went wrong.
        message: String,
    },
}

fn kinesis_err<E: std::error::Error + 'static>(op: &'static str, e: E) -> EsmError {
    EsmError::Kinesis { op, message: aws_sdk_kinesis::error::DisplayErrorContext(e).to_string() }
}

/// Shard positions, persisted as JSON.
struct Checkpoints {
    path: Option<PathBuf>,
    positions: BTreeMap<String, String>,
}

impl Checkpoints {
    fn load(path: Option<PathBuf>) -> Result<Self, EsmError> {
        let positions = match &path {
            Some(p) if p.exists() => {
                let err = |m: String| EsmError::Checkpoint { path: p.display().to_string(), message: m };
                let text = std::fs::read_to_string(p).map_err(|e| err(e.to_string()))?;
                serde_json::from_str(&text).map_err(|e| err(e.to_string()))?
            }
            _ => BTreeMap::new(),
        };
        Ok(Checkpoints { path, positions })
    }

    fn save(&mut self, shard: &str, seq: &str) -> Result<(), EsmError> {
        self.positions.insert(shard.to_string(), seq.to_string());
        let Some(p) = &self.path else { return Ok(()) };
        let err = |m: String| EsmError::Checkpoint { path: p.display().to_string(), message: m };
        if let Some(dir) = p.parent() {
            std::fs::create_dir_all(dir).map_err(|e| err(e.to_string()))?;
        }
        let tmp = p.with_extension("tmp");
        let text = serde_json::to_string_pretty(&self.positions).map_err(|e| err(e.to_string()))?;
        std::fs::write(&tmp, text).map_err(|e| err(e.to_string()))?;
        std::fs::rename(&tmp, p).map_err(|e| err(e.to_string()))
    }
}

struct Shared<H> {
    client: Client,
    cfg: EsmConfig,
    arn: String,
    region: String,
    handler: Arc<H>,
    checkpoints: Mutex<Checkpoints>,
    report: Mutex<EsmReport>,
}

/// Run the mapping: one task per shard, until idle (or forever).
pub async fn run<H: KinesisHandler>(client: Client, cfg: EsmConfig, handler: Arc<H>) -> Result<EsmReport, EsmError> {
    let summary = client
        .describe_stream_summary()
        .stream_name(&cfg.stream)
        .send()
        .await
        .map_err(|e| kinesis_err("DescribeStreamSummary", e))?;
    let arn = summary.stream_description_summary().map(|s| s.stream_arn().to_string()).unwrap_or_default();
    let region = client.config().region().map(|r| r.to_string()).unwrap_or_else(|| "us-east-1".into());
    let mut shards = list_shards(&client, &cfg.stream).await?;
    if !cfg.shards.is_empty() {
        shards.retain(|s| cfg.shards.contains(&s.id));
        if shards.is_empty() {
            return Err(EsmError::Kinesis { op: "ListShards", message: format!("no shard named {:?}", cfg.shards) });
        }
    }
    let checkpoints = Checkpoints::load(cfg.checkpoint_file.clone())?;
    let report_of = Arc::new(Shared {
        client,
        cfg,
        arn,
        region,
        handler,
        checkpoints: Mutex::new(checkpoints),
        report: Mutex::new(EsmReport { shards: shards.len() as u64, ..Default::default() }),
    });
    let shared = report_of.clone();
    let tasks = in_lineage_order(shards, move |shard| {
        let s = shared.clone();
        async move { read_shard(&s, &shard).await }
    });
    let mut first_err = None;
    for t in tasks {
        let res = t.await.map_err(|e| EsmError::Kinesis { op: "shard task", message: e.to_string() })?;
        if let Err(e) = res {
            first_err.get_or_insert(e);
        }
    }
    if let Some(e) = first_err {
        return Err(e);
    }
    let report = report_of.report.lock().await.clone();
    Ok(report)
}

/// Start `work` for every shard, each once its parents' work has ended
/// successfully — as Lambda does after a reshard, so that records of one
/// partition key stay in order. Parents outside `shards` are not waited
/// for. A shard whose parent failed fails without running.
fn in_lineage_order<F, Fut>(shards: Vec<ShardInfo>, work: F) -> Vec<JoinHandle<Result<(), EsmError>>>
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = Result<(), EsmError>> + Send + 'static,
{
    // One flag per shard, raised when its work ends well; a flag whose
    // senders are all gone without being raised means the parent failed.
    let done: HashMap<String, watch::Sender<bool>> =
        shards.iter().map(|s| (s.id.clone(), watch::channel(false).0)).collect();
    shards
        .into_iter()
        .map(|shard| {
            let parents: Vec<(String, watch::Receiver<bool>)> =
                shard.parents.iter().filter_map(|p| done.get(p).map(|tx| (p.clone(), tx.subscribe()))).collect();
            let finished = done.get(&shard.id).cloned();
            let job = work(shard.id.clone());
            tokio::spawn(async move {
                for (parent, mut rx) in parents {
                    if rx.wait_for(|d| *d).await.is_err() {
                        return Err(EsmError::Kinesis {
                            op: "parent shard",
                            message: format!("{} waits for {parent}, which stopped before its end", shard.id),
                        });
                    }
                }
                let res = job.await;
                if res.is_ok()
                    && let Some(tx) = finished
                {
                    tx.send_replace(true);
                }
                res
            })
        })
        .collect()
}

/// A shard and the shards it was split or merged from.
struct ShardInfo {
    id: String,
    parents: Vec<String>,
}

async fn list_shards(client: &Client, stream: &str) -> Result<Vec<ShardInfo>, EsmError> {
    let mut shards = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let req = match &token {
            Some(t) => client.list_shards().next_token(t),
            None => client.list_shards().stream_name(stream),
        };
        let out = req.send().await.map_err(|e| kinesis_err("ListShards", e))?;
        shards.extend(out.shards().iter().map(|s| ShardInfo {
            id: s.shard_id().to_string(),
            parents:
                [s.parent_shard_id(), s.adjacent_parent_shard_id()].into_iter().flatten().map(str::to_string).collect(),
        }));
        match out.next_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_string()),
            _ => break,
        }
    }
    Ok(shards)
}

async fn read_shard<H: KinesisHandler>(s: &Shared<H>, shard: &str) -> Result<(), EsmError> {
    let checkpoint = match s.cfg.start {
        StartPosition::TrimHorizon => None,
        _ => s.checkpoints.lock().await.positions.get(shard).cloned(),
    };
    let mut req = s.client.get_shard_iterator().stream_name(&s.cfg.stream).shard_id(shard);
    req = match (&checkpoint, s.cfg.start) {
        (Some(seq), _) => req.shard_iterator_type(ShardIteratorType::AfterSequenceNumber).starting_sequence_number(seq),
        (None, StartPosition::Latest) => req.shard_iterator_type(ShardIteratorType::Latest),
        (None, _) => req.shard_iterator_type(ShardIteratorType::TrimHorizon),
    };
    let out = req.send().await.map_err(|e| kinesis_err("GetShardIterator", e))?;
    let mut iterator = out.shard_iterator().map(str::to_string);
    while let Some(it) = iterator {
        let out = s
            .client
            .get_records()
            .shard_iterator(&it)
            .limit(s.cfg.batch_size)
            .send()
            .await
            .map_err(|e| kinesis_err("GetRecords", e))?;
        let records = out.records();
        if records.is_empty() {
            if s.cfg.until_idle && out.millis_behind_latest().unwrap_or(0) == 0 {
                break;
            }
            tokio::time::sleep(s.cfg.poll_interval).await;
        } else {
            for chunk in event_chunks(records, s.cfg.max_event_bytes) {
                deliver(s, shard, chunk).await?;
                let last = chunk[chunk.len() - 1].sequence_number();
                s.checkpoints.lock().await.save(shard, last)?;
                s.report.lock().await.records += chunk.len() as u64;
            }
        }
        iterator = out.next_shard_iterator().map(str::to_string);
    }
    Ok(())
}

fn event<H>(s: &Shared<H>, shard: &str, records: &[Record]) -> KinesisEvent {
    let mut ev = KinesisEvent::default();
    ev.records = records
        .iter()
        .map(|r| {
            let mut k = KinesisRecord::default();
            let arrival = r
                .approximate_arrival_timestamp()
                .and_then(|t| chrono::DateTime::from_timestamp(t.secs(), t.subsec_nanos()))
                .unwrap_or_else(chrono::Utc::now);
            k.approximate_arrival_timestamp.0 = arrival;
            k.data.0 = r.data().as_ref().to_vec();
            k.partition_key = r.partition_key().unwrap_or_default().to_string();
            k.sequence_number = r.sequence_number().to_string();
            k.kinesis_schema_version = Some("1.0".into());
            let mut e = KinesisEventRecord::default();
            e.aws_region = Some(s.region.clone());
            e.event_id = Some(format!("{shard}:{}", r.sequence_number()));
            e.event_name = Some("aws:kinesis:record".into());
            e.event_source = Some("aws:kinesis".into());
            e.event_source_arn = Some(s.arn.clone());
            e.event_version = Some("1.0".into());
            e.invoke_identity_arn = Some("arn:aws:iam::000000000000:role/opensoc-esm".into());
            e.kinesis = k;
            e
        })
        .collect();
    ev
}

/// Deliver a batch until every record is handled: restart at the lowest
/// reported failure, bisect on function errors.
async fn deliver<H: KinesisHandler>(s: &Shared<H>, shard: &str, records: &[Record]) -> Result<(), EsmError> {
    let mut work: Vec<&[Record]> = vec![records];
    let mut attempts: BTreeMap<String, u32> = BTreeMap::new();
    while let Some(batch) = work.pop() {
        let Some(first) = batch.first() else { continue };
        let n = attempts.entry(first.sequence_number().to_string()).or_default();
        *n += 1;
        let attempt = *n;
        if attempt > 1 {
            tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
        }
        s.report.lock().await.invocations += 1;
        let poisoned = |reason: String| EsmError::Poisoned {
            shard: shard.to_string(),
            sequence: first.sequence_number().to_string(),
            attempts: attempt,
            reason,
        };
        match s.handler.handle(event(s, shard, batch)).await {
            Ok(resp) => {
                let failed: Vec<&str> =
                    resp.batch_item_failures.iter().filter_map(|f| f.item_identifier.as_deref()).collect();
                if failed.is_empty() {
                    continue;
                }
                // Restart at the lowest failed item (sequence numbers order
                // like their position in the batch).
                let at = batch.iter().position(|r| failed.contains(&r.sequence_number())).unwrap_or(0);
                if attempt >= s.cfg.max_attempts {
                    return Err(poisoned(format!("items failed: {}", failed.join(", "))));
                }
                s.report.lock().await.item_failure_retries += 1;
                tracing::warn!(shard, from = batch[at].sequence_number(), "batch item failures; retrying from there");
                work.push(&batch[at..]);
            }
            Err(e) => {
                if attempt >= s.cfg.max_attempts && batch.len() == 1 {
                    return Err(poisoned(e));
                }
                tracing::warn!(shard, records = batch.len(), error = %e, "function error");
                if batch.len() > 1 {
                    s.report.lock().await.bisections += 1;
                    let (a, b) = batch.split_at(batch.len() / 2);
                    // Second half first on the stack: the first half runs first.
                    work.push(b);
                    work.push(a);
                } else {
                    work.push(batch);
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shard(id: &str, parents: &[&str]) -> ShardInfo {
        ShardInfo { id: id.into(), parents: parents.iter().map(|p| p.to_string()).collect() }
    }

    // The moto server does not move new records to a split shard's
    // children, so the lineage order is tested here, on its own.
    #[tokio::test]
    async fn children_start_after_their_parents_end_and_not_after_a_failure() {
        // p splits into a and b, which merge into m; q is unrelated, and
        // x's parent is not among the shards read.
        let shards = vec![
            shard("m", &["a", "b"]),
            shard("a", &["p"]),
            shard("b", &["p"]),
            shard("p", &[]),
            shard("q", &[]),
            shard("x", &["gone"]),
        ];
        let log = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let l = log.clone();
        let tasks = in_lineage_order(shards, move |id| {
            let l = l.clone();
            async move {
                l.lock().unwrap().push(format!("start {id}"));
                tokio::time::sleep(Duration::from_millis(if id == "p" { 50 } else { 10 })).await;
                l.lock().unwrap().push(format!("end {id}"));
                Ok(())
            }
        });
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        let log = log.lock().unwrap().clone();
        let at = |e: &str| log.iter().position(|x| x == e).unwrap_or_else(|| panic!("{e} missing: {log:?}"));
        assert!(at("end p") < at("start a") && at("end p") < at("start b"), "{log:?}");
        assert!(at("end a") < at("start m") && at("end b") < at("start m"), "{log:?}");
        assert!(at("start q") < at("end p") && at("start x") < at("end p"), "no waiting for strangers: {log:?}");

        // A parent that fails stops its children.
        let ran = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let r = ran.clone();
        let tasks = in_lineage_order(vec![shard("c", &["p"]), shard("p", &[])], move |id| {
            let r = r.clone();
            async move {
                r.lock().unwrap().push(id.clone());
                if id == "p" { Err(EsmError::Kinesis { op: "GetRecords", message: "boom".into() }) } else { Ok(()) }
            }
        });
        let results: Vec<_> = futures_join(tasks).await;
        assert!(results.iter().all(Result::is_err), "{results:?}");
        assert_eq!(*ran.lock().unwrap(), vec!["p".to_string()]);
    }

    async fn futures_join(tasks: Vec<JoinHandle<Result<(), EsmError>>>) -> Vec<Result<(), EsmError>> {
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap());
        }
        out
    }
    use aws_sdk_kinesis::primitives::Blob;

    fn rec(bytes: usize, seq: usize) -> Record {
        Record::builder()
            .sequence_number(seq.to_string())
            .partition_key("pk")
            .data(Blob::new(vec![7; bytes]))
            .build()
            .unwrap()
    }

    #[test]
    fn events_stay_under_the_lambda_payload_limit_and_keep_every_record_in_order() {
        // 20 records of 1 MiB are 28 MB of base64: five or more events.
        let records: Vec<Record> = (0..20).map(|i| rec(1 << 20, i)).collect();
        let chunks = event_chunks(&records, LAMBDA_PAYLOAD_LIMIT);
        assert!(chunks.len() >= 5, "{}", chunks.len());
        for c in &chunks {
            let json = c.iter().map(event_bytes).sum::<usize>();
            assert!(json <= LAMBDA_PAYLOAD_LIMIT, "{json}");
        }
        let seqs: Vec<&str> = chunks.iter().flat_map(|c| c.iter().map(Record::sequence_number)).collect();
        assert_eq!(seqs, (0..20).map(|i| i.to_string()).collect::<Vec<_>>());
        // One record over the limit still goes, alone (the function decides).
        let big = [rec(8 << 20, 0), rec(10, 1)];
        assert_eq!(event_chunks(&big, LAMBDA_PAYLOAD_LIMIT).iter().map(|c| c.len()).collect::<Vec<_>>(), [1, 1]);
        assert!(event_chunks(&[], LAMBDA_PAYLOAD_LIMIT).is_empty());
    }

    #[test]
    fn the_estimate_covers_the_real_event_json() {
        let records: Vec<Record> = (0..50).map(|i| rec(1000 + i * 37, i)).collect();
        let mut ev = KinesisEvent::default();
        for r in &records {
            let mut k = KinesisEventRecord::default();
            k.kinesis.data.0 = r.data().as_ref().to_vec();
            k.kinesis.partition_key = "pk".into();
            k.kinesis.sequence_number = "49671230945710936729485693217348589289738109371823079426".into();
            k.event_source_arn =
                Some("arn:aws:kinesis:eu-central-1:123456789012:stream/a-rather-long-stream-name".into());
            k.event_id = Some(format!("shardId-000000000017:{}", k.kinesis.sequence_number));
            k.invoke_identity_arn = Some("arn:aws:iam::123456789012:role/opensoc-ingest-role".into());
            ev.records.push(k);
        }
        let real = serde_json::to_vec(&ev).unwrap().len();
        let estimate: usize = records.iter().map(event_bytes).sum();
        assert!(estimate >= real, "estimate {estimate} < real {real}");
    }
}
