//! Rows of the `flows` table.

use std::net::IpAddr;

use opensoc_net::FlowRecord;
use opensoc_schemas::Table;

use super::{assemble, date_col, i32_col, i64_col, ip_col, null_enrichment, str_col, ts_col};
use crate::RowsError;
use arrow::record_batch::RecordBatch;

/// Collects finished flows for one commit.
#[derive(Debug, Default)]
pub struct FlowRows {
    rows: Vec<(FlowRecord, usize)>,
    sources: Vec<String>,
}

impl FlowRows {
    /// Add flows that came from `source` (a file path or stream position).
    pub fn extend(&mut self, flows: Vec<FlowRecord>, source: &str) {
        if flows.is_empty() {
            return;
        }
        if self.sources.last().map(String::as_str) != Some(source) {
            self.sources.push(source.to_string());
        }
        let s = self.sources.len() - 1;
        self.rows.extend(flows.into_iter().map(|f| (f, s)));
    }

    /// Rows held.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Build the batch and clear.
    pub fn take_batch(&mut self, sensor_id: &str) -> Result<Option<RecordBatch>, RowsError> {
        if self.rows.is_empty() {
            return Ok(None);
        }
        let rows = std::mem::take(&mut self.rows);
        let sources = std::mem::take(&mut self.sources);
        let ips = |f: fn(&FlowRecord) -> Option<IpAddr>| ip_col(rows.iter().map(|(r, _)| f(r)));
        let cid: Vec<&str> = rows.iter().map(|(r, _)| r.ctx.community_id.as_str()).collect();
        let i64s = |f: fn(&FlowRecord) -> u64| i64_col(rows.iter().map(|(r, _)| Some(f(r) as i64)));
        let i32s = |f: fn(&FlowRecord) -> Option<i32>| i32_col(rows.iter().map(|(r, _)| f(r)));
        let batch = assemble(
            Table::Flows,
            vec![
                ("first_ts", ts_col(rows.iter().map(|(r, _)| r.first_ts_ns))),
                ("last_ts", ts_col(rows.iter().map(|(r, _)| r.last_ts_ns))),
                ("community_id", str_col(cid.iter().map(|s| Some(*s)))),
                ("src_ip", ips(|r| Some(r.ctx.src))),
                ("src_port", i32s(|r| Some(r.ctx.sport as i32))),
                ("dst_ip", ips(|r| Some(r.ctx.dst))),
                ("dst_port", i32s(|r| Some(r.ctx.dport as i32))),
                ("proto", i32s(|r| Some(r.ctx.proto as i32))),
                ("packets", i64s(|r| r.orig.packets + r.resp.packets)),
                ("bytes", i64s(|r| r.orig.bytes + r.resp.bytes)),
                ("src_packets", i64s(|r| r.orig.packets)),
                ("dst_packets", i64s(|r| r.resp.packets)),
                ("src_bytes", i64s(|r| r.orig.bytes)),
                ("dst_bytes", i64s(|r| r.resp.bytes)),
                ("src_payload_bytes", i64s(|r| r.orig.payload_bytes)),
                ("dst_payload_bytes", i64s(|r| r.resp.payload_bytes)),
                ("src_tcp_flags", i32s(|r| Some(r.orig.tcp_flags as i32))),
                ("dst_tcp_flags", i32s(|r| Some(r.resp.tcp_flags as i32))),
                ("app_proto", str_col(rows.iter().map(|(r, _)| r.app_proto.map(|a| a.as_str())))),
                ("vlan", i32s(|r| r.vlan.map(i32::from))),
                ("tunnel", str_col(rows.iter().map(|(r, _)| r.tunnel.map(|t| t.kind.as_str())))),
                ("outer_src_ip", ips(|r| r.tunnel.map(|t| t.src))),
                ("outer_dst_ip", ips(|r| r.tunnel.map(|t| t.dst))),
                ("end_reason", str_col(rows.iter().map(|(r, _)| Some(r.end_reason.as_str())))),
                ("first_ts_ns", i64_col(rows.iter().map(|(r, _)| Some(r.first_ts_ns)))),
                ("last_ts_ns", i64_col(rows.iter().map(|(r, _)| Some(r.last_ts_ns)))),
                ("sensor_id", str_col(rows.iter().map(|_| Some(sensor_id)))),
                ("source", str_col(rows.iter().map(|(_, s)| Some(sources[*s].as_str())))),
                ("event_date", date_col(rows.iter().map(|(r, _)| r.first_ts_ns))),
            ]
            .into_iter()
            .chain(null_enrichment(rows.len()))
            .collect(),
        )?;
        Ok(Some(batch))
    }
}
