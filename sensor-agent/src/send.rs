//! The sender: records from the inputs to the stream, a few PutRecords
//! calls in flight at once; every record is acknowledged or reported.

use std::sync::Arc;

use opensoc_kinesis::{KinesisSink, OutRecord, SinkError};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;

use opensoc_kinesis::sink::MAX_RECORDS_PER_CALL;

/// What the sender did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SendOutcome {
    /// Records acknowledged by the stream.
    pub acknowledged: u64,
    /// Records the stream never took (after every retry).
    pub unsent: u64,
    /// The last error, when some were unsent.
    pub last_error: Option<String>,
}

/// Send everything that arrives on `rx` until it closes; at most
/// `in_flight` batches of calls at once.
pub async fn run(sink: KinesisSink, mut rx: mpsc::Receiver<Vec<OutRecord>>, in_flight: usize) -> SendOutcome {
    let permits = Arc::new(Semaphore::new(in_flight.max(1)));
    let mut tasks: JoinSet<(u64, Result<(), SinkError>)> = JoinSet::new();
    let mut outcome = SendOutcome::default();
    let mut pending: Vec<OutRecord> = Vec::new();
    let mut closed = false;
    while !closed || !pending.is_empty() {
        // Gather what is ready, up to one call's worth.
        match rx.recv().await {
            Some(batch) => pending.extend(batch),
            None => closed = true,
        }
        while pending.len() < MAX_RECORDS_PER_CALL {
            match rx.try_recv() {
                Ok(batch) => pending.extend(batch),
                Err(_) => break,
            }
        }
        if pending.is_empty() {
            continue;
        }
        let Ok(permit) = permits.clone().acquire_owned().await else { break };
        let records = std::mem::take(&mut pending);
        let sink = sink.clone();
        tasks.spawn(async move {
            let n = records.len() as u64;
            let res = sink.send(records).await;
            drop(permit);
            (n, res)
        });
        while let Some(done) = tasks.try_join_next() {
            tally(&mut outcome, done);
        }
    }
    while let Some(done) = tasks.join_next().await {
        tally(&mut outcome, done);
    }
    outcome
}

fn tally(outcome: &mut SendOutcome, done: Result<(u64, Result<(), SinkError>), tokio::task::JoinError>) {
    match done {
        Ok((n, Ok(()))) => outcome.acknowledged += n,
        Ok((n, Err(SinkError::Unavailable { unsent, last_error, .. }))) => {
            outcome.acknowledged += n - unsent.len() as u64;
            outcome.unsent += unsent.len() as u64;
            outcome.last_error = Some(last_error);
        }
        Ok((n, Err(e))) => {
            outcome.unsent += n;
            outcome.last_error = Some(e.to_string());
        }
        Err(e) => outcome.last_error = Some(format!("sender task failed: {e}")),
    }
}
