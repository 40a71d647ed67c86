//! Intel hits become findings: every flow endpoint, DNS query, HTTP host
//! and URL, and TLS server name that an indicator names, as rows of the
//! `findings` table — scored from the indicators' confidence, with the flow's
//! Community ID and the time window to carve.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Date32Array, Int32Array, Int64Array, ListBuilder, StringArray, StringBuilder};
use arrow::record_batch::RecordBatch;
use opensoc_schemas::{Table, event_date};

use super::table::ts;
use super::{IntelIndex, Match};

/// Score of a hit whose indicators give no confidence.
pub const DEFAULT_SCORE: i32 = 50;

/// Severity from a score (OCSF's names).
pub fn severity(score: i32) -> &'static str {
    match score {
        90.. => "Critical",
        70..=89 => "High",
        40..=69 => "Medium",
        _ => "Low",
    }
}

/// One finding before it becomes a row.
struct Hit {
    row: usize,
    field: &'static str,
    indicator: String,
    kind: &'static str,
    sources: BTreeSet<String>,
    score: i32,
    description: Option<String>,
}

fn collect(matches: Vec<Match<'_>>, row: usize, field: &'static str, out: &mut Vec<Hit>) {
    if matches.is_empty() {
        return;
    }
    // The most specific indicator names the hit; every source is listed.
    let first = matches[0];
    let score = matches.iter().filter_map(|m| m.confidence.map(i32::from)).max().unwrap_or(DEFAULT_SCORE);
    out.push(Hit {
        row,
        field,
        indicator: first.value.clone(),
        kind: first.kind.as_str(),
        sources: matches.iter().map(|m| m.source.to_string()).collect(),
        score,
        description: matches.iter().find_map(|m| m.description.clone()),
    });
}

fn strings<'b>(b: &'b RecordBatch, name: &str) -> Option<&'b StringArray> {
    b.column_by_name(name)?.as_any().downcast_ref::<StringArray>()
}

fn i64s<'b>(b: &'b RecordBatch, name: &str) -> Option<&'b Int64Array> {
    b.column_by_name(name)?.as_any().downcast_ref::<Int64Array>()
}

fn value(a: Option<&StringArray>, row: usize) -> Option<&str> {
    a.filter(|a| !a.is_null(row)).map(|a| a.value(row))
}

/// The findings of one batch of `table` (flows, dns, http or tls); `None`
/// when nothing matched or the table has nothing to match.
pub fn derive(
    table: Table,
    batch: &RecordBatch,
    ix: &IntelIndex,
) -> Result<Option<RecordBatch>, arrow::error::ArrowError> {
    if ix.is_empty() || batch.num_rows() == 0 {
        return Ok(None);
    }
    let (start_col, end_col) = match table {
        Table::Flows => ("first_ts_ns", "last_ts_ns"),
        Table::Dns | Table::Http | Table::Tls => ("ts_ns", "ts_ns"),
        _ => return Ok(None),
    };
    let (Some(start), Some(end)) = (i64s(batch, start_col), i64s(batch, end_col)) else {
        return Ok(None);
    };
    let src_ip = strings(batch, "src_ip");
    let dst_ip = strings(batch, "dst_ip");
    // Looked up once, not per row.
    let (query, host, uri, sni) =
        (strings(batch, "query"), strings(batch, "host"), strings(batch, "uri"), strings(batch, "sni"));
    let mut hits = Vec::new();
    let mut m: Vec<Match<'_>> = Vec::new();
    for row in 0..batch.num_rows() {
        let at = start.value(row);
        match table {
            Table::Flows => {
                for (field, col) in [("src_ip", src_ip), ("dst_ip", dst_ip)] {
                    if let Some(ip) = value(col, row).and_then(|s| s.parse::<IpAddr>().ok()) {
                        ix.match_ip(ip, at, |x| m.push(x));
                        collect(std::mem::take(&mut m), row, field, &mut hits);
                    }
                }
            }
            Table::Dns => {
                if let Some(q) = value(query, row) {
                    ix.match_domain(q, at, |x| m.push(x));
                    collect(std::mem::take(&mut m), row, "dns.query", &mut hits);
                }
            }
            Table::Http => {
                let host = value(host, row);
                if let Some(h) = host {
                    let h = h.split(':').next().unwrap_or(h);
                    ix.match_domain(h, at, |x| m.push(x));
                    collect(std::mem::take(&mut m), row, "http.host", &mut hits);
                }
                if let (Some(h), Some(uri)) = (host, value(uri, row)) {
                    ix.match_url(&format!("http://{h}{uri}"), at, |x| m.push(x));
                    collect(std::mem::take(&mut m), row, "http.url", &mut hits);
                }
            }
            Table::Tls => {
                if let Some(sni) = value(sni, row) {
                    ix.match_domain(sni, at, |x| m.push(x));
                    collect(std::mem::take(&mut m), row, "tls.sni", &mut hits);
                }
            }
            _ => {}
        }
    }
    if hits.is_empty() {
        return Ok(None);
    }
    let rows: Vec<usize> = hits.iter().map(|h| h.row).collect();
    let take = |name: &str| -> Result<ArrayRef, arrow::error::ArrowError> {
        let col = batch
            .column_by_name(name)
            .ok_or_else(|| arrow::error::ArrowError::SchemaError(format!("{} has no {name}", table.name())))?;
        let idx = arrow::array::UInt32Array::from_iter_values(rows.iter().map(|&r| r as u32));
        arrow::compute::take(col.as_ref(), &idx, None)
    };
    let times: Vec<i64> = rows.iter().map(|&r| start.value(r)).collect();
    let mut sources = ListBuilder::new(StringBuilder::new()).with_field(Arc::new(arrow::datatypes::Field::new(
        "element",
        arrow::datatypes::DataType::Utf8,
        true,
    )));
    for h in &hits {
        for s in &h.sources {
            sources.values().append_value(s);
        }
        sources.append(true);
    }
    let schema = Table::Findings.schema();
    let n = hits.len();
    let null_str = || -> ArrayRef { Arc::new(StringArray::new_null(n)) };
    let null_i64 = || -> ArrayRef { Arc::new(Int64Array::new_null(n)) };
    let columns: Vec<ArrayRef> = vec![
        ts(times.iter().map(|&t| Some(t))),
        Arc::new(StringArray::from_iter_values(hits.iter().map(|h| format!("intel.{}", h.kind)))),
        Arc::new(Int32Array::from_iter_values(hits.iter().map(|h| h.score))),
        Arc::new(StringArray::from_iter_values(hits.iter().map(|h| severity(h.score)))),
        take("community_id")?,
        take("src_ip")?,
        take("src_port")?,
        take("dst_ip")?,
        take("dst_port")?,
        take("proto")?,
        Arc::new(StringArray::from_iter_values(hits.iter().map(|h| h.field))),
        Arc::new(StringArray::from_iter_values(hits.iter().map(|h| h.indicator.as_str()))),
        Arc::new(StringArray::from_iter_values(hits.iter().map(|h| h.kind))),
        Arc::new(sources.finish()),
        Arc::new(StringArray::from_iter(hits.iter().map(|h| h.description.as_deref()))),
        Arc::new(StringArray::from_iter_values(std::iter::repeat_n(table.name(), n))),
        ts(times.iter().map(|&t| Some(t))),
        ts(rows.iter().map(|&r| Some(end.value(r)))),
        Arc::new(Int64Array::from_iter_values(times.iter().copied())),
        take("sensor_id")?,
        null_str(),
        null_str(),
        null_i64(),
        null_i64(),
        null_str(),
        null_str(),
        Arc::new(Date32Array::from_iter_values(times.iter().copied().map(event_date))),
    ];
    RecordBatch::try_new(schema, columns).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intel::{Indicator, IndicatorKind};

    #[test]
    fn scores_map_to_ocsf_severities() {
        assert_eq!(
            [severity(0), severity(39), severity(40), severity(69), severity(70), severity(89), severity(90)],
            ["Low", "Low", "Medium", "Medium", "High", "High", "Critical"]
        );
    }

    #[test]
    fn tables_without_observables_and_empty_indexes_give_nothing() {
        let ix = IntelIndex::build(vec![Indicator::new(IndicatorKind::Ip, "192.0.2.1", "f")]);
        let logs = RecordBatch::new_empty(Table::Logs.schema());
        assert!(derive(Table::Logs, &logs, &ix).unwrap().is_none());
        let flows = RecordBatch::new_empty(Table::Flows.schema());
        assert!(derive(Table::Flows, &flows, &ix).unwrap().is_none());
        assert!(derive(Table::Flows, &flows, &IntelIndex::default()).unwrap().is_none());
    }
}
