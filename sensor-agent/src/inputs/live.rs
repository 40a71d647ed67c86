//! Live capture from a network interface through libpcap (which uses
//! Linux's AF_PACKET TPACKET_V3 ring): BPF filter, snap length,
//! promiscuous switch, kernel buffer size. Packets are metered exactly as
//! a capture file is (`opensoc_rows::capture::PacketFiler`) and shipped on
//! size or time; idle flows are ended by the clock even when traffic stops.
//! The kernel's drop counters are read at every flush.

use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use opensoc_net::{FlowConfig, LinkType, Packet};
use opensoc_rows::capture::PacketFiler;
use opensoc_rows::{Batch, BatchLimits};
use tokio::sync::{mpsc, watch};

use crate::config::CaptureSection;
use crate::inputs::capture::{sensor_batch, ship_batch};
use crate::metrics::SensorMetrics;
use crate::send::Shipment;
use crate::ship::{Shipper, now_ns};

/// How long one wait for traffic lasts before the clock and the stop flag
/// are checked again.
const IDLE_WAIT: Duration = Duration::from_millis(100);

/// Sleep until `fd` is readable or `limit` passes.
fn wait_readable(fd: RawFd, limit: Duration) {
    let mut pfd = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
    // SAFETY: one valid pollfd for the duration of the call.
    unsafe {
        libc::poll(&mut pfd, 1, limit.as_millis() as libc::c_int);
    }
}

/// Nanoseconds since the epoch of a libpcap timestamp (`time_t` and
/// `suseconds_t` are narrower than i64 on some targets).
#[allow(clippy::useless_conversion)]
fn timeval_ns(ts: &libc::timeval) -> i64 {
    i64::from(ts.tv_sec) * 1_000_000_000 + i64::from(ts.tv_usec) * 1000
}

/// How a live capture meters and batches.
#[derive(Debug, Clone, Copy)]
pub struct LiveOptions {
    /// Flow timeouts and caps.
    pub flow: FlowConfig,
    /// When a batch is full.
    pub limits: BatchLimits,
    /// Ship at least this often, and end idle flows on this tick.
    pub flush: Duration,
}

/// A live capture problem.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    /// libpcap refused (no such interface, no permission, bad filter).
    #[error("interface {interface}: {source}")]
    Pcap {
        /// The interface.
        interface: String,
        /// libpcap's error.
        source: pcap::Error,
    },
}

/// An interface opened for capture.
pub struct LiveCapture {
    cap: pcap::Capture<pcap::Active>,
    interface: String,
    linktype: LinkType,
}

impl LiveCapture {
    /// Open the interface and apply the filter; fails at once on a bad
    /// interface, missing permission (CAP_NET_RAW) or a filter that does
    /// not compile.
    pub fn open(c: &CaptureSection) -> Result<LiveCapture, LiveError> {
        let err = |source| LiveError::Pcap { interface: c.interface.clone(), source };
        let mut cap = pcap::Capture::from_device(c.interface.as_str())
            .map_err(err)?
            .promisc(c.promiscuous)
            .snaplen(c.snaplen.max(64))
            .buffer_size(c.buffer_bytes.max(1 << 20))
            .timeout(100)
            .open()
            .map_err(err)?
            // Blocking reads on a TPACKET_V3 ring can sleep past the read
            // timeout when no traffic arrives, so the agent could not stop:
            // read non-blocking and wait on the descriptor itself.
            .setnonblock()
            .map_err(err)?;
        if let Some(f) = c.bpf.as_deref().filter(|f| !f.trim().is_empty()) {
            cap.filter(f, true).map_err(err)?;
        }
        let linktype = LinkType(cap.get_datalink().0 as u32);
        Ok(LiveCapture { cap, interface: c.interface.clone(), linktype })
    }

    /// Capture until `stop` turns true (on a thread of its own), shipping
    /// batches to `tx`.
    pub fn run(
        mut self,
        opts: LiveOptions,
        shipper: &Shipper,
        tx: &mpsc::Sender<Shipment>,
        metrics: &SensorMetrics,
        stop: &watch::Receiver<bool>,
    ) -> anyhow::Result<()> {
        let mut batch = sensor_batch();
        let name = format!("if:{}", self.interface);
        let LiveOptions { flow, limits, flush } = opts;
        let mut filer = PacketFiler::new(&name, flow, &mut batch);
        let mut next_flush = Instant::now() + flush;
        let mut index = 0u64;
        let mut counted = 0u64;
        let mut drops_seen = 0u64;
        let ship = |batch: &mut Batch| ship_batch(batch, shipper, tx);
        tracing::info!(interface = %self.interface, linktype = self.linktype.0, "capturing");
        loop {
            let mut timed_out = false;
            match self.cap.next_packet() {
                Ok(p) => {
                    let ts = &p.header.ts;
                    let pkt = Packet {
                        ts_ns: timeval_ns(ts),
                        origlen: p.header.len,
                        linktype: self.linktype,
                        interface: 0,
                        data: p.data,
                    };
                    filer.file(&mut batch, &pkt, || format!("packet {index}"));
                    index += 1;
                }
                Err(pcap::Error::TimeoutExpired) => {
                    timed_out = true;
                    wait_readable(self.cap.as_raw_fd(), IDLE_WAIT);
                }
                Err(e) => {
                    tracing::error!(interface = %self.interface, error = %e, "capture failed");
                    filer.finish(&mut batch);
                    ship(&mut batch)?;
                    return Err(LiveError::Pcap { interface: self.interface.clone(), source: e }.into());
                }
            }
            let check_clock = timed_out || index.is_multiple_of(256);
            let due = check_clock && Instant::now() >= next_flush;
            if due || batch.is_full(&limits) {
                if due {
                    filer.expire(&mut batch, now_ns());
                    next_flush = Instant::now() + flush;
                } else {
                    filer.collect(&mut batch);
                }
                metrics.packets.fetch_add(index - counted, Ordering::Relaxed);
                counted = index;
                if let Ok(s) = self.cap.stats() {
                    let drops = s.dropped as u64 + s.if_dropped as u64;
                    metrics.kernel_drops.fetch_add(drops.saturating_sub(drops_seen), Ordering::Relaxed);
                    drops_seen = drops_seen.max(drops);
                }
                ship(&mut batch)?;
            }
            if check_clock && *stop.borrow() {
                break;
            }
        }
        filer.finish(&mut batch);
        metrics.packets.fetch_add(index - counted, Ordering::Relaxed);
        ship(&mut batch)?;
        tracing::info!(interface = %self.interface, packets = index, "capture stopped");
        Ok(())
    }
}
