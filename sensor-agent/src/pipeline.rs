//! The sensor's pipeline behind the inputs: shipper (records), sender with
//! its spool (stream), metrics endpoint. The inputs hold clones of
//! [`Pipeline::tx`]; when they are all gone, [`Pipeline::finish`] waits for
//! the sender to send or spool what is left.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use opensoc_kinesis::{KinesisSink, RetryPolicy, SinkMetrics, StreamCheckError};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::claim::ClaimChecker;
use crate::config::ClaimCheckSection;
use crate::metrics::{self, Registry, SensorMetrics};
use crate::send::{self, SendOptions, SendOutcome, Shipment};
use crate::ship::Shipper;
use crate::spool::{Spool, SpoolConfig};

/// What the pipeline needs.
#[derive(Debug, Clone)]
pub struct PipelineSettings {
    /// Written to every row.
    pub sensor_id: String,
    /// The stream.
    pub stream: String,
    /// zstd level of payloads.
    pub zstd_level: i32,
    /// PutRecords attempts before records go to the spool.
    pub max_attempts: u32,
    /// PutRecords calls in flight.
    pub in_flight: usize,
    /// Time limit of one PutRecords call.
    pub call_timeout: Duration,
    /// The spool's directory.
    pub spool_dir: PathBuf,
    /// The spool's limits.
    pub spool: SpoolConfig,
    /// Serve metrics here.
    pub metrics_listen: Option<SocketAddr>,
    /// After the inputs end, how long to wait for the spool to drain.
    pub drain_timeout: Option<Duration>,
    /// Claim-check mode: packet segments to this bucket and prefix.
    pub claim_check: Option<ClaimCheckSection>,
}

/// A running pipeline.
pub struct Pipeline {
    /// Builds records.
    pub shipper: Arc<Shipper>,
    /// The sensor's counters.
    pub metrics: Arc<SensorMetrics>,
    /// The sink's counters.
    pub sink_metrics: Arc<SinkMetrics>,
    /// Where inputs send records.
    pub tx: mpsc::Sender<Shipment>,
    /// The spool.
    pub spool: Arc<Spool>,
    /// The metrics endpoint's address, when serving.
    pub metrics_addr: Option<SocketAddr>,
    sender: JoinHandle<SendOutcome>,
    server: Option<JoinHandle<()>>,
}

impl Pipeline {
    /// Open the spool, start the sender and the metrics endpoint.
    pub async fn start(s: &PipelineSettings) -> anyhow::Result<Pipeline> {
        let metrics = Arc::new(SensorMetrics::default());
        let mut shipper = Shipper::new(&s.sensor_id, s.zstd_level, metrics.clone())?;
        let mut claims = None;
        if let Some(c) = &s.claim_check {
            shipper = shipper.with_packet_segments(c.segment_bytes());
            claims = Some(ClaimChecker::new(c, s.call_timeout, metrics.clone()).await);
        }
        let shipper = Arc::new(shipper);
        let spool = Arc::new(
            Spool::open(&s.spool_dir, s.spool.clone())
                .context("opening the spool (choose another with --spool-dir)")?,
        );
        let client = opensoc_kinesis::sink_client(s.call_timeout).await;
        let retry = RetryPolicy { max_attempts: s.max_attempts.max(1), ..Default::default() };
        let sink = KinesisSink::new(client, &s.stream, retry);
        match sink.check().await {
            Ok(()) => {}
            Err(e @ StreamCheckError::Unreachable { .. }) => {
                tracing::warn!(error = %e, "starting anyway: records are spooled until the stream answers")
            }
            Err(e) => return Err(e.into()),
        }
        let sink_metrics = sink.metrics();
        let (mut server, mut metrics_addr) = (None, None);
        if let Some(addr) = s.metrics_listen {
            let listener = metrics::bind(addr).await.with_context(|| format!("metrics endpoint on {addr}"))?;
            metrics_addr = listener.local_addr().ok();
            let registry = Registry { sensor: metrics.clone(), sink: sink_metrics.clone(), spool: Some(spool.clone()) };
            server = Some(tokio::spawn(metrics::serve(listener, registry)));
            tracing::info!(addr = ?metrics_addr, "metrics at /metrics");
        }
        let (tx, rx) = mpsc::channel(16);
        let opts = SendOptions { in_flight: s.in_flight, drain_timeout: s.drain_timeout };
        let sender = tokio::spawn(send::run(sink, claims, spool.clone(), metrics.clone(), rx, opts));
        Ok(Pipeline { shipper, metrics, sink_metrics, tx, spool, metrics_addr, sender, server })
    }

    /// Wait for the sender, once every input has dropped its `tx`.
    pub async fn finish(self) -> anyhow::Result<SendOutcome> {
        drop(self.tx);
        let outcome = self.sender.await.context("the sender task failed")?;
        if let Some(s) = self.server {
            s.abort();
        }
        Ok(outcome)
    }
}
