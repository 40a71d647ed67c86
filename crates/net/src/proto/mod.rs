//! Application-layer metadata: DNS, HTTP/1.x and TLS ClientHello, extracted
//! per flow. Parsers are pure functions over bytes ([`dns`], [`http`],
//! [`tls`]); [`AppState`] keeps the little per-flow state they need (pending
//! requests, a bounded buffer for heads that span segments).

pub mod dns;
pub mod http;
pub mod tls;

use std::collections::VecDeque;
use std::net::IpAddr;

use crate::community_id::CommunityId;
use crate::decode::Transport;

/// The flow a metadata record belongs to, from the originator's side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowContext {
    /// Community ID of the flow.
    pub community_id: CommunityId,
    /// Originator address.
    pub src: IpAddr,
    /// Originator port.
    pub sport: u16,
    /// Responder address.
    pub dst: IpAddr,
    /// Responder port.
    pub dport: u16,
    /// IANA protocol number.
    pub proto: u8,
}

/// One DNS transaction: a query and its response, or either alone.
#[derive(Debug, Clone, PartialEq)]
pub struct DnsRecord {
    /// The flow.
    pub ctx: FlowContext,
    /// Time of the query (or of the response when no query was seen).
    pub ts_ns: i64,
    /// Round-trip time, when both were seen.
    pub rtt_ns: Option<i64>,
    /// The query message, if seen.
    pub query: Option<dns::DnsMessage>,
    /// The response message, if seen.
    pub response: Option<dns::DnsMessage>,
}

impl DnsRecord {
    /// The message that names the question: the query, else the response.
    pub fn question(&self) -> Option<&dns::DnsMessage> {
        self.query.as_ref().or(self.response.as_ref())
    }
}

/// One HTTP transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpRecord {
    /// The flow.
    pub ctx: FlowContext,
    /// Time of the request (or response when no request was seen).
    pub ts_ns: i64,
    /// The request head, if seen.
    pub request: Option<http::HttpRequest>,
    /// The response head, if seen.
    pub response: Option<http::HttpResponse>,
}

/// One TLS ClientHello.
#[derive(Debug, Clone, PartialEq)]
pub struct TlsRecord {
    /// The flow.
    pub ctx: FlowContext,
    /// Time of the segment that completed the hello.
    pub ts_ns: i64,
    /// The hello.
    pub hello: tls::ClientHello,
}

/// Metadata records produced by the flow meter, drained by the caller.
#[derive(Debug, Default)]
pub struct AppRecords {
    /// DNS transactions.
    pub dns: Vec<DnsRecord>,
    /// HTTP transactions.
    pub http: Vec<HttpRecord>,
    /// TLS ClientHellos.
    pub tls: Vec<TlsRecord>,
}

impl AppRecords {
    /// Number of records held.
    pub fn len(&self) -> usize {
        self.dns.len() + self.http.len() + self.tls.len()
    }
    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The application protocol recognised on a flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppProto {
    /// DNS.
    Dns,
    /// HTTP/1.x.
    Http,
    /// TLS.
    Tls,
}

impl AppProto {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            AppProto::Dns => "dns",
            AppProto::Http => "http",
            AppProto::Tls => "tls",
        }
    }
}

const DNS_PORTS: [u16; 3] = [53, 5353, 5355];
const MAX_PENDING: usize = 64;
const MAX_STREAM_BUF: usize = 16 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Collecting {
    HttpRequest,
    HttpResponse,
    TlsHello,
}

#[derive(Debug, Default)]
struct StreamBuf {
    buf: Vec<u8>,
    next_seq: u32,
    what: Option<Collecting>,
    /// Time of the segment that started the head.
    started_ns: i64,
}

/// Per-flow application-layer state; allocated only for flows that carry
/// something recognisable.
#[derive(Debug, Default)]
pub struct AppState {
    streams: [StreamBuf; 2],
    http_pending: VecDeque<(i64, http::HttpRequest)>,
    dns_pending: VecDeque<(i64, dns::DnsMessage)>,
    tls_seen: bool,
}

/// Inputs for one packet's payload.
pub(crate) struct Segment<'a> {
    pub ts_ns: i64,
    /// 0 = originator to responder, 1 = back.
    pub dir: usize,
    pub transport: Transport,
    pub payload: &'a [u8],
}

/// Look at one packet's payload; may create the flow's state and emit records.
/// Returns the application protocol recognised, if any.
pub(crate) fn on_payload(
    state: &mut Option<Box<AppState>>,
    ctx: &FlowContext,
    seg: Segment<'_>,
    out: &mut AppRecords,
) -> Option<AppProto> {
    match seg.transport {
        Transport::Udp { sport, dport } if DNS_PORTS.contains(&sport) || DNS_PORTS.contains(&dport) => {
            let msg = dns::parse_dns(seg.payload).ok()?;
            on_dns(state.get_or_insert_with(Default::default), ctx, seg.ts_ns, msg, out);
            Some(AppProto::Dns)
        }
        Transport::Tcp { sport, dport, .. } if sport == 53 || dport == 53 => {
            // DNS over TCP: length-prefixed messages within the segment.
            let mut p = seg.payload;
            let mut found = false;
            while p.len() >= 2 {
                let len = u16::from_be_bytes([p[0], p[1]]) as usize;
                let Some(m) = p.get(2..2 + len) else { break };
                if let Ok(msg) = dns::parse_dns(m) {
                    on_dns(state.get_or_insert_with(Default::default), ctx, seg.ts_ns, msg, out);
                    found = true;
                }
                p = &p[2 + len..];
            }
            found.then_some(AppProto::Dns)
        }
        Transport::Tcp { seq, .. } => on_tcp(state, ctx, &seg, seq, out),
        _ => None,
    }
}

fn on_dns(st: &mut AppState, ctx: &FlowContext, ts: i64, msg: dns::DnsMessage, out: &mut AppRecords) {
    if !msg.is_response {
        if st.dns_pending.len() >= MAX_PENDING
            && let Some((t, q)) = st.dns_pending.pop_front()
        {
            out.dns.push(DnsRecord { ctx: *ctx, ts_ns: t, rtt_ns: None, query: Some(q), response: None });
        }
        st.dns_pending.push_back((ts, msg));
        return;
    }
    let matched = st.dns_pending.iter().position(|(_, q)| q.id == msg.id && q.query == msg.query);
    let rec = match matched.and_then(|i| st.dns_pending.remove(i)) {
        Some((t, q)) => {
            DnsRecord { ctx: *ctx, ts_ns: t, rtt_ns: Some(ts.saturating_sub(t)), query: Some(q), response: Some(msg) }
        }
        None => DnsRecord { ctx: *ctx, ts_ns: ts, rtt_ns: None, query: None, response: Some(msg) },
    };
    out.dns.push(rec);
}

fn on_tcp(
    state: &mut Option<Box<AppState>>,
    ctx: &FlowContext,
    seg: &Segment<'_>,
    seq: u32,
    out: &mut AppRecords,
) -> Option<AppProto> {
    let payload = seg.payload;
    // Continue a head that spans segments.
    if let Some(st) = state.as_deref_mut() {
        let sb = &mut st.streams[seg.dir];
        if let Some(what) = sb.what {
            if seq != sb.next_seq {
                if seq.wrapping_sub(sb.next_seq) > u32::MAX / 2 {
                    return None; // retransmission of bytes already held
                }
                // A gap: use what was collected.
                let (buf, started) = (std::mem::take(&mut sb.buf), sb.started_ns);
                sb.what = None;
                return finish(st, ctx, started, what, &buf, out);
            }
            sb.buf.extend_from_slice(&payload[..payload.len().min(MAX_STREAM_BUF.saturating_sub(sb.buf.len()))]);
            sb.next_seq = seq.wrapping_add(payload.len() as u32);
            if complete(what, &sb.buf) || sb.buf.len() >= MAX_STREAM_BUF {
                let (buf, started) = (std::mem::take(&mut sb.buf), sb.started_ns);
                sb.what = None;
                return finish(st, ctx, started, what, &buf, out);
            }
            return None;
        }
    }
    let what = if tls::detect_client_hello(payload) {
        if state.as_ref().is_some_and(|s| s.tls_seen) {
            return None;
        }
        Collecting::TlsHello
    } else {
        match http::detect(payload) {
            Some(http::HttpStart::Request) => Collecting::HttpRequest,
            Some(http::HttpStart::Response) => Collecting::HttpResponse,
            None => return None,
        }
    };
    let st = state.get_or_insert_with(Default::default);
    if complete(what, payload) {
        return finish(st, ctx, seg.ts_ns, what, payload, out);
    }
    let sb = &mut st.streams[seg.dir];
    sb.buf.clear();
    sb.buf.extend_from_slice(&payload[..payload.len().min(MAX_STREAM_BUF)]);
    sb.next_seq = seq.wrapping_add(payload.len() as u32);
    sb.what = Some(what);
    sb.started_ns = seg.ts_ns;
    None
}

fn complete(what: Collecting, buf: &[u8]) -> bool {
    match what {
        Collecting::HttpRequest | Collecting::HttpResponse => http::head_len(buf).is_some(),
        Collecting::TlsHello => !matches!(tls::parse_client_hello(buf), Err(tls::TlsError::Incomplete { .. })),
    }
}

fn finish(
    st: &mut AppState,
    ctx: &FlowContext,
    ts: i64,
    what: Collecting,
    buf: &[u8],
    out: &mut AppRecords,
) -> Option<AppProto> {
    match what {
        Collecting::TlsHello => {
            let hello = tls::parse_client_hello(buf).ok()?;
            st.tls_seen = true;
            out.tls.push(TlsRecord { ctx: *ctx, ts_ns: ts, hello });
            Some(AppProto::Tls)
        }
        Collecting::HttpRequest => {
            let head = &buf[..http::head_len(buf).unwrap_or(buf.len())];
            let req = http::parse_request(head)?;
            if st.http_pending.len() >= MAX_PENDING
                && let Some((t, r)) = st.http_pending.pop_front()
            {
                out.http.push(HttpRecord { ctx: *ctx, ts_ns: t, request: Some(r), response: None });
            }
            st.http_pending.push_back((ts, req));
            Some(AppProto::Http)
        }
        Collecting::HttpResponse => {
            let head = &buf[..http::head_len(buf).unwrap_or(buf.len())];
            let resp = http::parse_response(head)?;
            let rec = match st.http_pending.pop_front() {
                Some((t, r)) => HttpRecord { ctx: *ctx, ts_ns: t, request: Some(r), response: Some(resp) },
                None => HttpRecord { ctx: *ctx, ts_ns: ts, request: None, response: Some(resp) },
            };
            out.http.push(rec);
            Some(AppProto::Http)
        }
    }
}

/// Emit what is still pending when a flow ends.
pub(crate) fn flush(state: Option<Box<AppState>>, ctx: &FlowContext, out: &mut AppRecords) {
    let Some(mut st) = state else { return };
    for dir in 0..2 {
        if let Some(what) = st.streams[dir].what.take() {
            let buf = std::mem::take(&mut st.streams[dir].buf);
            let started = st.streams[dir].started_ns;
            // Partial heads still carry the request line and early headers.
            finish(&mut st, ctx, started, what, &buf, out);
        }
    }
    for (t, q) in st.dns_pending.drain(..) {
        out.dns.push(DnsRecord { ctx: *ctx, ts_ns: t, rtt_ns: None, query: Some(q), response: None });
    }
    for (t, r) in st.http_pending.drain(..) {
        out.http.push(HttpRecord { ctx: *ctx, ts_ns: t, request: Some(r), response: None });
    }
}
