//! The syslog listener: UDP datagrams and TCP streams (RFC 6587
//! octet-counting or newline framing, told apart per message), RFC 3164
//! and RFC 5424 alike. Messages are shipped raw, as received; parsing is the
//! lake's job. Invalid UTF-8 is kept as bytes. A message longer than the
//! limit is cut, counted and logged; nothing is refused silently.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::{mpsc, watch};

use crate::inputs::events::LogEvent;
use crate::metrics::SensorMetrics;
use crate::ship::now_ns;

/// The source type of every syslog message.
pub const SOURCE_TYPE: &str = "syslog";

/// Listener settings.
#[derive(Debug, Clone)]
pub struct SyslogOptions {
    /// Longest message kept; the rest is cut.
    pub max_message_bytes: usize,
}

fn trim_frame(mut m: &[u8]) -> &[u8] {
    while let [rest @ .., b'\n' | b'\r' | 0] = m {
        m = rest;
    }
    m
}

/// Receive datagrams on `socket` until `stop` turns true.
pub async fn udp(
    socket: UdpSocket,
    opts: SyslogOptions,
    events: mpsc::Sender<LogEvent>,
    metrics: Arc<SensorMetrics>,
    mut stop: watch::Receiver<bool>,
) {
    let source: Arc<str> = SOURCE_TYPE.into();
    let mut buf = vec![0u8; 65536];
    let mut last_peer: Option<(SocketAddr, Arc<str>)> = None;
    loop {
        let (n, peer) = tokio::select! {
            r = socket.recv_from(&mut buf) => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "syslog UDP receive failed");
                    continue;
                }
            },
            _ = stop.changed() => return,
        };
        let msg = trim_frame(&buf[..n]);
        if msg.is_empty() {
            continue;
        }
        let origin = match &last_peer {
            Some((p, o)) if *p == peer => o.clone(),
            _ => {
                let o: Arc<str> = format!("udp:{peer}").into();
                last_peer = Some((peer, o.clone()));
                o
            }
        };
        let line = cut(msg, opts.max_message_bytes, &origin, &metrics).to_vec();
        metrics.log_lines.fetch_add(1, Ordering::Relaxed);
        let ev = LogEvent { source_type: source.clone(), origin, received_ns: now_ns(), line, mark: None };
        if events.send(ev).await.is_err() {
            return;
        }
    }
}

fn cut<'a>(msg: &'a [u8], max: usize, origin: &str, metrics: &SensorMetrics) -> &'a [u8] {
    if msg.len() > max {
        metrics.lines_truncated.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(origin, len = msg.len(), max, "syslog message cut to the limit");
        &msg[..max]
    } else {
        msg
    }
}

/// Accept TCP connections on `listener` until `stop` turns true.
pub async fn tcp(
    listener: TcpListener,
    opts: SyslogOptions,
    events: mpsc::Sender<LogEvent>,
    metrics: Arc<SensorMetrics>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let (conn, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "syslog TCP accept failed");
                    continue;
                }
            },
            _ = stop.changed() => return,
        };
        let (events, metrics, opts, mut stop) = (events.clone(), metrics.clone(), opts.clone(), stop.clone());
        tokio::spawn(async move {
            let origin: Arc<str> = format!("tcp:{peer}").into();
            let mut reader = BufReader::with_capacity(256 << 10, conn);
            loop {
                let frame = tokio::select! {
                    f = read_frame(&mut reader, opts.max_message_bytes) => f,
                    _ = stop.changed() => return,
                };
                match frame {
                    Ok(Some(Frame { message, cut_from })) => {
                        if let Some(len) = cut_from {
                            metrics.lines_truncated.fetch_add(1, Ordering::Relaxed);
                            tracing::warn!(origin = %origin, len, "syslog message cut to the limit");
                        }
                        let message = trim_frame(&message);
                        if message.is_empty() {
                            continue;
                        }
                        metrics.log_lines.fetch_add(1, Ordering::Relaxed);
                        let ev = LogEvent {
                            source_type: SOURCE_TYPE.into(),
                            origin: origin.clone(),
                            received_ns: now_ns(),
                            line: message.to_vec(),
                            mark: None,
                        };
                        if events.send(ev).await.is_err() {
                            return;
                        }
                    }
                    Ok(None) => return,
                    Err(e) => {
                        metrics.input_errors.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(origin = %origin, error = %e, "syslog connection closed on a read error");
                        return;
                    }
                }
            }
        });
    }
}

/// One framed message.
#[derive(Debug, PartialEq, Eq)]
pub struct Frame {
    /// The message (at most the limit).
    pub message: Vec<u8>,
    /// The original length, when it was cut.
    pub cut_from: Option<usize>,
}

/// Read one message: `LEN SP MSG` (octet counting) when the frame starts
/// with digits and a space, otherwise up to the next LF. `None` at the end.
pub async fn read_frame<R: AsyncBufRead + Unpin>(r: &mut R, max: usize) -> std::io::Result<Option<Frame>> {
    // Skip blank lines between frames.
    loop {
        let buf = r.fill_buf().await?;
        match buf.first() {
            None => return Ok(None),
            Some(b'\n' | b'\r' | 0) => r.consume(1),
            Some(_) => break,
        }
    }
    // Up to 10 digits then a space: octet counting.
    let mut prefix = Vec::with_capacity(11);
    loop {
        let buf = r.fill_buf().await?;
        let Some(&b) = buf.first() else { break };
        if b.is_ascii_digit() && prefix.len() < 10 {
            prefix.push(b);
            r.consume(1);
            continue;
        }
        if b == b' ' && !prefix.is_empty() && prefix[0] != b'0' {
            r.consume(1);
            let len: usize = std::str::from_utf8(&prefix).ok().and_then(|s| s.parse().ok()).unwrap_or(usize::MAX);
            return read_counted(r, len, max).await.map(Some);
        }
        break;
    }
    // Newline framing; the digits read so far start the message.
    let mut message = prefix;
    let mut total = message.len();
    loop {
        let buf = r.fill_buf().await?;
        if buf.is_empty() {
            break;
        }
        let (take, done) = match memchr::memchr(b'\n', buf) {
            Some(i) => (i, true),
            None => (buf.len(), false),
        };
        let room = max.saturating_sub(message.len());
        message.extend_from_slice(&buf[..take.min(room)]);
        total += take;
        r.consume(take + usize::from(done));
        if done {
            break;
        }
    }
    Ok(Some(Frame { message, cut_from: (total > max).then_some(total) }))
}

async fn read_counted<R: AsyncBufRead + Unpin>(r: &mut R, len: usize, max: usize) -> std::io::Result<Frame> {
    let keep = len.min(max);
    let mut message = vec![0u8; keep];
    r.read_exact(&mut message).await?;
    if len > keep {
        // Discard the rest of the frame.
        let skip = (len - keep) as u64;
        let n = tokio::io::copy(&mut r.take(skip), &mut tokio::io::sink()).await?;
        if n < skip {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
    }
    Ok(Frame { message, cut_from: (len > keep).then_some(len) })
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn frames(input: &[u8], max: usize) -> Vec<Frame> {
        let mut r = BufReader::with_capacity(7, input);
        let mut out = Vec::new();
        while let Some(f) = read_frame(&mut r, max).await.unwrap() {
            out.push(f);
        }
        out
    }

    fn msg(s: &str) -> Frame {
        Frame { message: s.as_bytes().to_vec(), cut_from: None }
    }

    #[tokio::test]
    async fn octet_counting_and_newline_framing_mix() {
        let input = b"<34>Oct 11 22:14:15 host su: failed\n\
            25 <165>1 2003 h a - - - a\nb\
            <13>Jan  1 00:00:00 fw kernel: x\r\n\n\n\
            2024-01-01 starts with digits\n";
        assert_eq!(
            frames(input, 1000).await,
            vec![
                msg("<34>Oct 11 22:14:15 host su: failed"),
                msg("<165>1 2003 h a - - - a\nb"),
                msg("<13>Jan  1 00:00:00 fw kernel: x\r"),
                msg("2024-01-01 starts with digits"),
            ]
        );
    }

    #[tokio::test]
    async fn oversize_frames_are_cut_and_framing_resumes() {
        let long = "x".repeat(50);
        let input = format!("50 {long}{long}\n8 <1>after\n");
        let got = frames(input.as_bytes(), 10).await;
        assert_eq!(got[0], Frame { message: b"xxxxxxxxxx".to_vec(), cut_from: Some(50) });
        assert_eq!(got[1], Frame { message: b"xxxxxxxxxx".to_vec(), cut_from: Some(50) });
        assert_eq!(got[2], msg("<1>after"));
        assert_eq!(got.len(), 3);
    }

    #[tokio::test]
    async fn a_short_counted_frame_is_an_error_not_a_hang() {
        let mut r = BufReader::new(&b"100 too short"[..]);
        assert!(read_frame(&mut r, 1000).await.is_err());
        // Invalid UTF-8 is kept as bytes.
        let got = frames(b"<1>\xff\xfe bytes\n", 100).await;
        assert_eq!(got[0].message, b"<1>\xff\xfe bytes");
    }
}
