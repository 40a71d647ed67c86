//! The sender: records from the inputs to the stream, a few PutRecords
//! calls in flight at once, and the disk spool behind them.
//!
//! While the stream takes records, they go straight to it. When a call
//! still fails after the sink's bounded retries (an outage, or throttling
//! past the bound), its unsent records go to the spool and the sender
//! switches to spilling: every new batch is appended to the spool, and a
//! drainer task sends the spool's head, in order, until the spool is empty
//! again. Nothing is lost unless the spool's limit forces its drop policy,
//! and then it is counted.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use opensoc_kinesis::sink::{MAX_BYTES_PER_CALL, MAX_RECORDS_PER_CALL};
use opensoc_kinesis::{KinesisSink, OutRecord, RetryPolicy, SinkError};
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinSet;

use crate::claim::ClaimChecker;
use crate::metrics::SensorMetrics;
use crate::spool::{Spool, SpoolError};

/// Called once the records of a shipment are safe: acknowledged by the
/// stream, or in the spool (e.g. to save a tailed file's position).
pub type OnStored = Box<dyn FnOnce() + Send>;

/// Records from an input, and what to do once they are safe.
pub struct Shipment {
    /// The records.
    pub records: Vec<OutRecord>,
    /// Run when they are acknowledged or spooled.
    pub on_stored: Option<OnStored>,
}

/// Hand records to the sender from a blocking thread (an input's reader).
pub fn send_blocking(tx: &mpsc::Sender<Shipment>, records: Vec<OutRecord>) -> anyhow::Result<()> {
    tx.blocking_send(records.into()).map_err(|_| anyhow::anyhow!("the stream sender stopped"))
}

impl From<Vec<OutRecord>> for Shipment {
    fn from(records: Vec<OutRecord>) -> Self {
        Shipment { records, on_stored: None }
    }
}

fn run_all(callbacks: Vec<OnStored>) {
    for f in callbacks {
        f();
    }
}

/// Sender settings.
#[derive(Debug, Clone)]
pub struct SendOptions {
    /// PutRecords calls in flight at once.
    pub in_flight: usize,
    /// Once the inputs have ended, how long to wait for the spool to drain
    /// (`None`: until it is empty).
    pub drain_timeout: Option<Duration>,
}

impl Default for SendOptions {
    fn default() -> Self {
        SendOptions { in_flight: 4, drain_timeout: None }
    }
}

/// What the sender did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SendOutcome {
    /// Records acknowledged by the stream.
    pub acknowledged: u64,
    /// Records still in the spool when the sender stopped (sent on the
    /// next start).
    pub spooled_left: u64,
    /// Records dropped by the spool's policy.
    pub dropped: u64,
    /// The last error, when something was not acknowledged.
    pub last_error: Option<String>,
}

struct Shared {
    sink: KinesisSink,
    claims: Option<ClaimChecker>,
    spool: Arc<Spool>,
    metrics: Arc<SensorMetrics>,
    spilling: AtomicBool,
    wake: Notify,
}

impl Shared {
    /// Claim-check what is too large for the stream, then send.
    async fn deliver(&self, records: Vec<OutRecord>) -> Result<(), SinkError> {
        let records = match &self.claims {
            Some(c) => match c.check(records).await {
                Ok(r) => r,
                Err(e) => {
                    return Err(SinkError::Unavailable { last_error: e.to_string(), unsent: e.records, attempts: 1 });
                }
            },
            None => records,
        };
        self.sink.send(records).await
    }

    /// Append to the spool; with the block policy, wait for room.
    async fn spool(&self, records: Vec<OutRecord>) -> Result<(), (u64, SpoolError)> {
        if records.is_empty() {
            return Ok(());
        }
        let n = records.len() as u64;
        self.spilling.store(true, Ordering::SeqCst);
        let records = Arc::new(records);
        loop {
            let (spool, recs) = (self.spool.clone(), records.clone());
            let appended = tokio::task::spawn_blocking(move || spool.append(&recs))
                .await
                .unwrap_or_else(|e| Err(SpoolError::Io { path: "spool".into(), source: std::io::Error::other(e) }))
                .map_err(|e| (n, e))?;
            self.wake.notify_one();
            if appended.full {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            self.metrics.spooled.fetch_add(appended.stored, Ordering::Relaxed);
            if appended.dropped > 0 {
                self.metrics.dropped.fetch_add(appended.dropped, Ordering::Relaxed);
            }
            return Ok(());
        }
    }

    /// Send the spool's head, oldest first, until the task is dropped.
    async fn drain(self: Arc<Self>) {
        let retry = RetryPolicy::default();
        loop {
            let spool = self.spool.clone();
            let peeked =
                match tokio::task::spawn_blocking(move || spool.peek(MAX_RECORDS_PER_CALL, MAX_BYTES_PER_CALL)).await {
                    Ok(Ok(p)) => p,
                    Ok(Err(e)) => {
                        tracing::error!(error = %e, "reading the spool failed");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        continue;
                    }
                    Err(_) => return,
                };
            if peeked.records.is_empty() {
                self.spilling.store(false, Ordering::SeqCst);
                let _ = tokio::time::timeout(Duration::from_secs(1), self.wake.notified()).await;
                continue;
            }
            let n = peeked.records.len() as u64;
            let mut pending = peeked.records.clone();
            let mut round = 1;
            loop {
                match self.deliver(pending).await {
                    Ok(()) => break,
                    Err(SinkError::Unavailable { unsent, last_error, .. }) => {
                        tracing::info!(unsent = unsent.len(), error = %last_error, "the stream is still unavailable; the spool waits");
                        pending = unsent;
                        round += 1;
                        tokio::time::sleep(retry.backoff(round.min(8))).await;
                    }
                    Err(e @ SinkError::TooLarge(_)) => {
                        tracing::error!(error = %e, "a spooled record can never be sent; dropped");
                        self.metrics.dropped.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                }
            }
            let spool = self.spool.clone();
            match tokio::task::spawn_blocking(move || spool.ack(&peeked)).await {
                Ok(Ok(())) => {
                    self.metrics.drained.fetch_add(n, Ordering::Relaxed);
                }
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "acknowledging in the spool failed; records may be sent twice")
                }
                Err(_) => return,
            }
        }
    }
}

/// Send everything that arrives on `rx` until it closes, spilling to
/// `spool` when the stream cannot take it; then wait for the spool to
/// drain (up to `opts.drain_timeout`).
pub async fn run(
    sink: KinesisSink,
    claims: Option<ClaimChecker>,
    spool: Arc<Spool>,
    metrics: Arc<SensorMetrics>,
    mut rx: mpsc::Receiver<Shipment>,
    opts: SendOptions,
) -> SendOutcome {
    let sink_metrics = sink.metrics();
    let waiting = !spool.is_empty();
    if waiting {
        tracing::info!(records = spool.depth().0, dir = %spool.dir().display(), "sending what the spool kept from before");
    }
    let shared =
        Arc::new(Shared { sink, claims, spool, metrics, spilling: AtomicBool::new(waiting), wake: Notify::new() });
    let drainer = tokio::spawn(shared.clone().drain());
    let mut tasks: JoinSet<(Result<(), SinkError>, Vec<OnStored>)> = JoinSet::new();
    let mut outcome = SendOutcome::default();
    let in_flight = opts.in_flight.max(1);
    while let Some(first) = rx.recv().await {
        // Gather what is ready, up to one call's worth.
        let mut pending = first.records;
        let mut callbacks: Vec<OnStored> = first.on_stored.into_iter().collect();
        while pending.len() < MAX_RECORDS_PER_CALL {
            match rx.try_recv() {
                Ok(more) => {
                    pending.extend(more.records);
                    callbacks.extend(more.on_stored);
                }
                Err(_) => break,
            }
        }
        while let Some(done) = tasks.try_join_next() {
            settle(&shared, &mut outcome, done).await;
        }
        if shared.spilling.load(Ordering::SeqCst) {
            if let Err(e) = shared.spool(pending).await {
                fail(&shared, &mut outcome, e);
            }
            run_all(callbacks);
            continue;
        }
        while tasks.len() >= in_flight {
            if let Some(done) = tasks.join_next().await {
                settle(&shared, &mut outcome, done).await;
            }
        }
        let sender = shared.clone();
        tasks.spawn(async move { (sender.deliver(pending).await, callbacks) });
    }
    while let Some(done) = tasks.join_next().await {
        settle(&shared, &mut outcome, done).await;
    }
    // The inputs are done: give the spool its time to drain.
    let deadline = opts.drain_timeout.map(|d| Instant::now() + d);
    let mut announced = false;
    while !shared.spool.is_empty() && deadline.is_none_or(|d| Instant::now() < d) {
        if !announced {
            let (records, bytes) = shared.spool.depth();
            tracing::warn!(records, bytes, "waiting for the stream to take the spooled records");
            announced = true;
        }
        shared.wake.notify_one();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drainer.abort();
    let _ = drainer.await;
    outcome.acknowledged = sink_metrics.records_sent.load(Ordering::Relaxed);
    outcome.spooled_left = shared.spool.depth().0;
    outcome.dropped = shared.metrics.dropped.load(Ordering::Relaxed);
    if outcome.spooled_left > 0 && outcome.last_error.is_none() {
        outcome.last_error = Some("the stream did not take every spooled record in time".into());
    }
    outcome
}

type Done = Result<(Result<(), SinkError>, Vec<OnStored>), tokio::task::JoinError>;

async fn settle(shared: &Shared, outcome: &mut SendOutcome, done: Done) {
    let (result, callbacks) = match done {
        Ok(d) => d,
        Err(e) => {
            outcome.last_error = Some(format!("sender task failed: {e}"));
            return;
        }
    };
    match result {
        Ok(()) => {}
        Err(SinkError::Unavailable { unsent, last_error, attempts }) => {
            tracing::warn!(records = unsent.len(), attempts, error = %last_error, "the stream did not take the records: spooling");
            outcome.last_error = Some(last_error);
            if let Err(e) = shared.spool(unsent).await {
                fail(shared, outcome, e);
            }
        }
        Err(e @ SinkError::TooLarge(_)) => {
            tracing::error!(error = %e, "record dropped");
            shared.metrics.dropped.fetch_add(1, Ordering::Relaxed);
            outcome.last_error = Some(e.to_string());
        }
    }
    run_all(callbacks);
}

fn fail(shared: &Shared, outcome: &mut SendOutcome, (records, e): (u64, SpoolError)) {
    // The spool cannot take them either (disk full, I/O error): they are lost, and said so.
    tracing::error!(records, error = %e, "the spool failed; records dropped");
    shared.metrics.dropped.fetch_add(records, Ordering::Relaxed);
    outcome.last_error = Some(e.to_string());
}
