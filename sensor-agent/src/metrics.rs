//! The sensor's counters and the Prometheus text endpoint that shows them.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use opensoc_kinesis::SinkMetrics;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::spool::Spool;

/// What the sensor counts (the sink's own counters are beside it).
#[derive(Debug, Default)]
pub struct SensorMetrics {
    /// Packets read from captures and interfaces.
    pub packets: AtomicU64,
    /// Packets the kernel dropped before the sensor saw them (live capture).
    pub kernel_drops: AtomicU64,
    /// Log lines received (files, syslog).
    pub log_lines: AtomicU64,
    /// Log lines cut to the longest line shipped.
    pub lines_truncated: AtomicU64,
    /// Syslog messages or log lines refused (framing errors, oversize
    /// frames) — each is also logged.
    pub input_errors: AtomicU64,
    /// Batches shipped (each one or more records).
    pub batches: AtomicU64,
    /// Records built.
    pub records_built: AtomicU64,
    /// Records written to the spool.
    pub spooled: AtomicU64,
    /// Records sent from the spool and acknowledged.
    pub drained: AtomicU64,
    /// Records dropped because the spool was full (by its policy).
    pub dropped: AtomicU64,
    /// Packet segments put to S3 (claim-check mode).
    pub segments_stored: AtomicU64,
    /// Bytes of the segments put to S3.
    pub segment_bytes_stored: AtomicU64,
    /// Inputs still running.
    pub inputs_active: AtomicI64,
}

/// Everything the endpoint shows.
#[derive(Clone)]
pub struct Registry {
    /// The sensor's counters.
    pub sensor: Arc<SensorMetrics>,
    /// The PutRecords sink's counters.
    pub sink: Arc<SinkMetrics>,
    /// The spool, for its depth.
    pub spool: Option<Arc<Spool>>,
}

impl Registry {
    /// The Prometheus text exposition (format 0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let s = &self.sensor;
        let k = &self.sink;
        let mut metric = |name: &str, kind: &str, help: &str, value: u64| {
            let _ = writeln!(out, "# HELP opensoc_sensor_{name} {help}");
            let _ = writeln!(out, "# TYPE opensoc_sensor_{name} {kind}");
            let _ = writeln!(out, "opensoc_sensor_{name} {value}");
        };
        metric("packets_total", "counter", "Packets read from captures and interfaces.", g(&s.packets));
        metric("kernel_drops_total", "counter", "Packets dropped by the kernel before capture.", g(&s.kernel_drops));
        metric("log_lines_total", "counter", "Log lines received.", g(&s.log_lines));
        metric(
            "log_lines_truncated_total",
            "counter",
            "Log lines cut to the longest line shipped.",
            g(&s.lines_truncated),
        );
        metric("input_errors_total", "counter", "Input messages refused (framing, oversize).", g(&s.input_errors));
        metric("batches_total", "counter", "Batches shipped.", g(&s.batches));
        metric("records_built_total", "counter", "Stream records built.", g(&s.records_built));
        metric("records_sent_total", "counter", "Records acknowledged by the stream.", g(&k.records_sent));
        metric("bytes_sent_total", "counter", "Bytes of records acknowledged by the stream.", g(&k.bytes_sent));
        metric("put_records_calls_total", "counter", "PutRecords calls made.", g(&k.calls));
        metric("retries_total", "counter", "Records sent again after a failure.", g(&k.retries));
        metric("throttles_total", "counter", "Records refused with ProvisionedThroughputExceeded.", g(&k.throttles));
        metric("call_errors_total", "counter", "PutRecords calls that failed outright.", g(&k.call_errors));
        metric("spooled_total", "counter", "Records written to the disk spool.", g(&s.spooled));
        metric("drained_total", "counter", "Records sent from the disk spool.", g(&s.drained));
        metric("dropped_total", "counter", "Records dropped because the spool was full.", g(&s.dropped));
        metric("segments_stored_total", "counter", "Packet segments put to S3 (claim-check).", g(&s.segments_stored));
        metric(
            "segment_bytes_stored_total",
            "counter",
            "Bytes of packet segments put to S3 (claim-check).",
            g(&s.segment_bytes_stored),
        );
        let (records, bytes) = self.spool.as_ref().map_or((0, 0), |s| s.depth());
        metric("spool_records", "gauge", "Records waiting in the disk spool.", records);
        metric("spool_bytes", "gauge", "Bytes waiting in the disk spool.", bytes);
        metric(
            "inputs_active",
            "gauge",
            "Inputs still running.",
            s.inputs_active.load(Ordering::Relaxed).max(0) as u64,
        );
        out
    }
}

/// Serve `GET /metrics` (and `/healthz`) on `listener` until the task is dropped.
pub async fn serve(listener: TcpListener, registry: Registry) {
    loop {
        let Ok((mut conn, peer)) = listener.accept().await else { continue };
        let registry = registry.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            let mut len = 0;
            // Read the request head (bodies are not expected).
            while !buf[..len].windows(4).any(|w| w == b"\r\n\r\n") && len < buf.len() {
                match conn.read(&mut buf[len..]).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => len += n,
                }
            }
            let head = String::from_utf8_lossy(&buf[..len]);
            let target = head.split_whitespace().nth(1).unwrap_or("");
            let (status, body) = match target.split('?').next() {
                Some("/metrics") => ("200 OK", registry.render()),
                Some("/healthz") => ("200 OK", "ok\n".to_string()),
                _ => ("404 Not Found", "try /metrics\n".to_string()),
            };
            let reply = format!(
                "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            if let Err(e) = conn.write_all(reply.as_bytes()).await {
                tracing::debug!(%peer, error = %e, "metrics reply not sent");
            }
        });
    }
}

/// Bind the endpoint.
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exposition_names_every_counter_with_help_and_type() {
        let r = Registry { sensor: Arc::default(), sink: Arc::default(), spool: None };
        r.sensor.packets.store(42, Ordering::Relaxed);
        r.sink.throttles.store(7, Ordering::Relaxed);
        let text = r.render();
        assert!(text.contains("opensoc_sensor_packets_total 42\n"), "{text}");
        assert!(text.contains("opensoc_sensor_throttles_total 7\n"));
        assert!(text.contains("# TYPE opensoc_sensor_spool_records gauge\n"));
        let samples = text.lines().filter(|l| !l.starts_with('#')).count();
        let types = text.lines().filter(|l| l.starts_with("# TYPE")).count();
        assert_eq!(samples, types);
    }
}
