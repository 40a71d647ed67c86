//! Rows of the `dns`, `http` and `tls` tables.

use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, Int64Builder, ListBuilder, StringBuilder};
use arrow::datatypes::{DataType, Field};
use arrow::record_batch::RecordBatch;
use opensoc_net::proto::{DnsRecord, FlowContext, HttpRecord, TlsRecord, tls};
use opensoc_schemas::Table;

use super::{assemble, date_col, i32_col, i64_col, ip_col, str_col, ts_col};
use crate::RowsError;

fn endpoint_cols<'a>(ctx: impl Iterator<Item = &'a FlowContext> + Clone) -> Vec<(&'static str, ArrayRef)> {
    vec![
        ("community_id", str_col(ctx.clone().map(|c| Some(c.community_id.as_str())))),
        ("src_ip", ip_col(ctx.clone().map(|c| Some(c.src)))),
        ("src_port", i32_col(ctx.clone().map(|c| Some(c.sport as i32)))),
        ("dst_ip", ip_col(ctx.clone().map(|c| Some(c.dst)))),
        ("dst_port", i32_col(ctx.clone().map(|c| Some(c.dport as i32)))),
        ("proto", i32_col(ctx.map(|c| Some(c.proto as i32)))),
    ]
}

fn common<'a>(
    ts: impl Iterator<Item = i64> + Clone,
    ctx: impl Iterator<Item = &'a FlowContext> + Clone,
    sensor_id: &str,
) -> Vec<(&'static str, ArrayRef)> {
    let mut cols = endpoint_cols(ctx);
    cols.push(("ts", ts_col(ts.clone())));
    cols.push(("ts_ns", i64_col(ts.clone().map(Some))));
    cols.push(("sensor_id", str_col(ts.clone().map(|_| Some(sensor_id)))));
    cols.push(("event_date", date_col(ts)));
    cols
}

fn str_list<'a>(rows: impl Iterator<Item = &'a [String]>) -> ArrayRef {
    let mut b =
        ListBuilder::new(StringBuilder::new()).with_field(Arc::new(Field::new("element", DataType::Utf8, true)));
    for list in rows {
        for s in list {
            b.values().append_value(s);
        }
        b.append(true);
    }
    Arc::new(b.finish())
}

/// DNS query type names for the common types.
pub fn qtype_name(t: u16) -> Option<&'static str> {
    Some(match t {
        1 => "A",
        2 => "NS",
        5 => "CNAME",
        6 => "SOA",
        12 => "PTR",
        15 => "MX",
        16 => "TXT",
        28 => "AAAA",
        33 => "SRV",
        35 => "NAPTR",
        41 => "OPT",
        43 => "DS",
        46 => "RRSIG",
        47 => "NSEC",
        48 => "DNSKEY",
        64 => "SVCB",
        65 => "HTTPS",
        99 => "SPF",
        252 => "AXFR",
        255 => "ANY",
        257 => "CAA",
        _ => return None,
    })
}

/// DNS response code names.
pub fn rcode_name(r: u8) -> Option<&'static str> {
    Some(match r {
        0 => "NOERROR",
        1 => "FORMERR",
        2 => "SERVFAIL",
        3 => "NXDOMAIN",
        4 => "NOTIMP",
        5 => "REFUSED",
        6 => "YXDOMAIN",
        7 => "YXRRSET",
        8 => "NXRRSET",
        9 => "NOTAUTH",
        10 => "NOTZONE",
        _ => return None,
    })
}

/// Collects DNS transactions.
#[derive(Debug, Default)]
pub struct DnsRows(pub Vec<DnsRecord>);

impl DnsRows {
    /// Build the batch and clear.
    pub fn take_batch(&mut self, sensor_id: &str) -> Result<Option<RecordBatch>, RowsError> {
        if self.0.is_empty() {
            return Ok(None);
        }
        let rows = std::mem::take(&mut self.0);
        let q = |r: &DnsRecord| r.question().cloned().unwrap_or_default();
        let questions: Vec<_> = rows.iter().map(q).collect();
        let empty: Vec<String> = Vec::new();
        let mut ttls =
            ListBuilder::new(Int64Builder::new()).with_field(Arc::new(Field::new("element", DataType::Int64, true)));
        for r in &rows {
            for t in r.response.as_ref().map_or(&[][..], |m| &m.ttls[..]) {
                ttls.values().append_value(*t as i64);
            }
            ttls.append(true);
        }
        let resp = |f: fn(&opensoc_net::proto::dns::DnsMessage) -> bool| {
            Arc::new(BooleanArray::from_iter(rows.iter().map(|r| r.response.as_ref().map(f)))) as ArrayRef
        };
        let mut cols = common(rows.iter().map(|r| r.ts_ns), rows.iter().map(|r| &r.ctx), sensor_id);
        cols.extend([
            ("trans_id", i32_col(questions.iter().map(|m| Some(m.id as i32)))),
            ("query", str_col(questions.iter().map(|m| m.query.as_deref()))),
            ("qtype", i32_col(questions.iter().map(|m| m.qtype.map(i32::from)))),
            ("qtype_name", str_col(questions.iter().map(|m| m.qtype.and_then(qtype_name)))),
            ("qclass", i32_col(questions.iter().map(|m| m.qclass.map(i32::from)))),
            ("rcode", i32_col(rows.iter().map(|r| r.response.as_ref().map(|m| m.rcode as i32)))),
            ("rcode_name", str_col(rows.iter().map(|r| r.response.as_ref().and_then(|m| rcode_name(m.rcode))))),
            ("answers", str_list(rows.iter().map(|r| r.response.as_ref().map_or(&empty[..], |m| &m.answers[..])))),
            ("ttls", Arc::new(ttls.finish()) as ArrayRef),
            ("rtt_ns", i64_col(rows.iter().map(|r| r.rtt_ns))),
            ("aa", resp(|m| m.flags.aa)),
            ("tc", resp(|m| m.flags.tc)),
            ("rd", Arc::new(BooleanArray::from_iter(questions.iter().map(|m| Some(m.flags.rd))))),
            ("ra", resp(|m| m.flags.ra)),
        ]);
        Ok(Some(assemble(Table::Dns, cols)?))
    }
}

/// Collects HTTP transactions.
#[derive(Debug, Default)]
pub struct HttpRows(pub Vec<HttpRecord>);

impl HttpRows {
    /// Build the batch and clear.
    pub fn take_batch(&mut self, sensor_id: &str) -> Result<Option<RecordBatch>, RowsError> {
        if self.0.is_empty() {
            return Ok(None);
        }
        let rows = std::mem::take(&mut self.0);
        let req = |f: fn(&opensoc_net::proto::http::HttpRequest) -> Option<&str>| {
            str_col(rows.iter().map(|r| r.request.as_ref().and_then(f)))
        };
        let resp = |f: fn(&opensoc_net::proto::http::HttpResponse) -> Option<&str>| {
            str_col(rows.iter().map(|r| r.response.as_ref().and_then(f)))
        };
        let mut cols = common(rows.iter().map(|r| r.ts_ns), rows.iter().map(|r| &r.ctx), sensor_id);
        cols.extend([
            ("method", req(|r| Some(r.method.as_str()))),
            ("host", req(|r| r.host.as_deref())),
            ("uri", req(|r| Some(r.uri.as_str()))),
            ("version", req(|r| Some(r.version.as_str()))),
            ("user_agent", req(|r| r.user_agent.as_deref())),
            ("referrer", req(|r| r.referrer.as_deref())),
            ("request_content_type", req(|r| r.content_type.as_deref())),
            (
                "request_content_length",
                i64_col(rows.iter().map(|r| r.request.as_ref().and_then(|q| q.content_length).map(|v| v as i64))),
            ),
            ("status", i32_col(rows.iter().map(|r| r.response.as_ref().map(|s| s.status as i32)))),
            ("reason", resp(|s| Some(s.reason.as_str()))),
            ("response_content_type", resp(|s| s.content_type.as_deref())),
            (
                "response_content_length",
                i64_col(rows.iter().map(|r| r.response.as_ref().and_then(|s| s.content_length).map(|v| v as i64))),
            ),
            ("server", resp(|s| s.server.as_deref())),
        ]);
        Ok(Some(assemble(Table::Http, cols)?))
    }
}

/// Collects TLS ClientHellos.
#[derive(Debug, Default)]
pub struct TlsRows(pub Vec<TlsRecord>);

impl TlsRows {
    /// Build the batch and clear.
    pub fn take_batch(&mut self, sensor_id: &str) -> Result<Option<RecordBatch>, RowsError> {
        if self.0.is_empty() {
            return Ok(None);
        }
        let rows = std::mem::take(&mut self.0);
        let ja3: Vec<String> = rows.iter().map(|r| r.hello.ja3()).collect();
        let ja3s: Vec<String> = rows.iter().map(|r| r.hello.ja3_string()).collect();
        let ja4: Vec<String> = rows.iter().map(|r| r.hello.ja4()).collect();
        let mut cols = common(rows.iter().map(|r| r.ts_ns), rows.iter().map(|r| &r.ctx), sensor_id);
        cols.extend([
            ("sni", str_col(rows.iter().map(|r| r.hello.sni.as_deref()))),
            ("version", str_col(rows.iter().map(|r| Some(tls::version_name(r.hello.max_version()))))),
            ("version_num", i32_col(rows.iter().map(|r| Some(r.hello.max_version() as i32)))),
            ("alpn", str_list(rows.iter().map(|r| &r.hello.alpn[..]))),
            ("ja3", str_col(ja3.iter().map(|s| Some(s.as_str())))),
            ("ja4", str_col(ja4.iter().map(|s| Some(s.as_str())))),
            ("ja3_string", str_col(ja3s.iter().map(|s| Some(s.as_str())))),
            ("cipher_count", i32_col(rows.iter().map(|r| Some(r.hello.ciphers.len() as i32)))),
            ("extension_count", i32_col(rows.iter().map(|r| Some(r.hello.extensions.len() as i32)))),
        ]);
        Ok(Some(assemble(Table::Tls, cols)?))
    }
}
