//! The webhook listener (`opensoc-sensor http`, `run --http-listen`):
//! `opensoc_webhook`'s router in front of the sensor's log pipeline. Events
//! are acknowledged once queued to the pipeline, whose spool keeps them
//! through stream outages, like syslog lines.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use opensoc_webhook::{Batch, EventSink, SinkError, SinkFuture, WebhookConfig};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

use crate::inputs::events::LogEvent;
use crate::metrics::SensorMetrics;

/// Hands webhook events to the log batcher.
pub struct ChannelSink {
    events: mpsc::Sender<LogEvent>,
    metrics: Arc<SensorMetrics>,
}

impl EventSink for ChannelSink {
    fn deliver(&self, batch: Batch) -> SinkFuture<'_> {
        Box::pin(async move {
            let source: Arc<str> = batch.source_type.into();
            let origin: Arc<str> = batch.origin.into();
            let n = batch.lines.len() as u64;
            for line in batch.lines {
                let ev = LogEvent {
                    source_type: source.clone(),
                    origin: origin.clone(),
                    received_ns: batch.received_ns,
                    line,
                    mark: None,
                };
                self.events.send(ev).await.map_err(|_| SinkError("the sensor is stopping".into()))?;
            }
            self.metrics.log_lines.fetch_add(n, Ordering::Relaxed);
            Ok(())
        })
    }
}

/// Serve the webhook on `listener` until `stop` turns true.
pub async fn serve(
    listener: TcpListener,
    config: WebhookConfig,
    events: mpsc::Sender<LogEvent>,
    metrics: Arc<SensorMetrics>,
    mut stop: watch::Receiver<bool>,
) {
    let app = opensoc_webhook::router(config, Arc::new(ChannelSink { events, metrics }));
    let served = axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(async move {
            let _ = stop.wait_for(|s| *s).await;
        })
        .await;
    if let Err(e) = served {
        tracing::error!(error = %e, "the webhook listener failed");
    }
}
