//! Log events from the live inputs (syslog, tailed files), batched into
//! records by source type and shipped on size or time.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;

use crate::metrics::SensorMetrics;
use crate::send::Shipment;
use crate::ship::Shipper;

/// Ship when this many bytes of lines are batched.
const BATCH_BYTES: usize = 4 << 20;

/// One log line as received.
#[derive(Debug)]
pub struct LogEvent {
    /// `syslog`, `suricata-eve`, `zeek`, `json` …
    pub source_type: Arc<str>,
    /// Peer address or file path.
    pub origin: Arc<str>,
    /// Receive time (ns since the epoch).
    pub received_ns: i64,
    /// The line, without its framing.
    pub line: Vec<u8>,
    /// For a tailed file: set this to `.1` once the line is safe (the
    /// file position just after it).
    pub mark: Option<(Arc<AtomicU64>, u64)>,
}

/// Batch `events` into records until the channel closes (then ship the rest).
pub async fn batch(
    mut events: mpsc::Receiver<LogEvent>,
    shipper: Arc<Shipper>,
    tx: mpsc::Sender<Shipment>,
    flush: Duration,
    metrics: Arc<SensorMetrics>,
) {
    let mut pending: Vec<LogEvent> = Vec::new();
    let mut bytes = 0;
    let mut tick = tokio::time::interval(flush);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let ship_now = tokio::select! {
            ev = events.recv() => match ev {
                Some(ev) => {
                    bytes += ev.line.len();
                    pending.push(ev);
                    bytes >= BATCH_BYTES
                }
                None => {
                    ship(&mut pending, &shipper, &tx, &metrics).await;
                    return;
                }
            },
            _ = tick.tick() => true,
        };
        if ship_now && !pending.is_empty() {
            ship(&mut pending, &shipper, &tx, &metrics).await;
            bytes = 0;
        }
    }
}

async fn ship(pending: &mut Vec<LogEvent>, shipper: &Shipper, tx: &mpsc::Sender<Shipment>, metrics: &SensorMetrics) {
    if pending.is_empty() {
        return;
    }
    let events = std::mem::take(pending);
    let mut by_type: BTreeMap<&str, Vec<&LogEvent>> = BTreeMap::new();
    for ev in &events {
        by_type.entry(&ev.source_type).or_default().push(ev);
    }
    let mut records = Vec::new();
    for (source_type, evs) in by_type {
        match shipper.logs(source_type, evs.iter().map(|e| (e.received_ns, &*e.origin, e.line.as_slice()))) {
            Ok(r) => records.extend(r),
            Err(e) => {
                // Only a bad sensor id or label can fail here; say so and count.
                tracing::error!(source_type, lines = evs.len(), error = %e, "log lines could not be encoded");
                metrics.input_errors.fetch_add(evs.len() as u64, Ordering::Relaxed);
            }
        }
    }
    // The furthest position per tailed file, saved once the records are safe.
    let mut marks: Vec<(Arc<AtomicU64>, u64)> = Vec::new();
    for ev in &events {
        if let Some((pos, at)) = &ev.mark {
            match marks.iter_mut().find(|(p, _)| Arc::ptr_eq(p, pos)) {
                Some(m) => m.1 = m.1.max(*at),
                None => marks.push((pos.clone(), *at)),
            }
        }
    }
    let on_stored: Option<crate::send::OnStored> = (!marks.is_empty()).then(|| {
        Box::new(move || {
            for (pos, at) in marks {
                pos.fetch_max(at, Ordering::SeqCst);
            }
        }) as crate::send::OnStored
    });
    if tx.send(Shipment { records, on_stored }).await.is_err() {
        tracing::error!("the sender stopped; log lines not shipped");
    }
}
