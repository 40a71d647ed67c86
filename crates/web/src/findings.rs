//! The alert queue and one alert with its context.
//!
//! A finding's id is derived from what makes it unique (time, rule,
//! indicator, flow and endpoints): the first 16 hex digits of an MD5 over
//! them, computed in SQL, so any engine reading the lake can compute it too.
//!
//! `GET /api/findings?severity=High,Critical&rule=opensoc.dns&host=…&from=…&to=…&limit=…`
//! answers the queue by triage score; `GET /api/findings/{id}` the finding,
//! both endpoints' enrichment (GeoIP, ASN, anonymity, intel hits and their
//! sources), the flows, DNS, HTTP, TLS and log rows of its hosts in its time
//! window, a timeline of that activity, and the carve request of its packets.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use deltalake::arrow::json::writer::{JsonArray, WriterBuilder};
use opensoc_lake::sql::{QueryResult, SqlEngine};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::query::params_error;
use crate::sql_text::given;
use crate::{ApiError, AppState, sql_text};

/// The SQL of a finding's id.
pub const FINDING_ID_SQL: &str = "substr(md5(concat_ws('|', CAST(time_ns AS VARCHAR), rule, indicator, \
     coalesce(community_id, ''), coalesce(src_ip, ''), coalesce(dst_ip, ''))), 1, 16)";

/// Severities, lowest first.
pub const SEVERITIES: [&str; 4] = ["Low", "Medium", "High", "Critical"];

/// How far around a finding its context reaches when it names no window.
const CONTEXT_MARGIN_NS: i64 = 15 * 60 * 1_000_000_000;
/// The widest context window.
const CONTEXT_MAX_NS: i64 = 24 * 3_600 * 1_000_000_000;
/// Rows of each related table shown.
const CONTEXT_ROWS: usize = 200;
/// Bars of the timeline.
const TIMELINE_BUCKETS: i64 = 60;

/// The queue's query string.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueParams {
    /// Severities, comma-separated.
    pub severity: Option<String>,
    /// A rule id, or a prefix of dotted parts (`opensoc.dns`).
    pub rule: Option<String>,
    /// Either endpoint.
    pub host: Option<String>,
    /// Earliest finding time.
    pub from: Option<String>,
    /// Latest finding time.
    pub to: Option<String>,
    /// Most findings (default 200, at most 1000).
    pub limit: Option<String>,
}

impl QueueParams {
    /// The `WHERE` clause (without the keyword) and the limit.
    fn conditions(&self) -> Result<(Vec<String>, usize), ApiError> {
        let mut w = Vec::new();
        if let Some(sev) = given(&self.severity) {
            let mut wanted = Vec::new();
            for s in sev.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                let Some(known) = SEVERITIES.iter().find(|k| k.eq_ignore_ascii_case(s)) else {
                    return Err(ApiError::bad_request(format!(
                        "severity: {s:?} is not one of {}",
                        SEVERITIES.join(", ")
                    )));
                };
                wanted.push(sql_text::text(known));
            }
            if !wanted.is_empty() {
                w.push(format!("severity IN ({})", wanted.join(", ")));
            }
        }
        if let Some(r) = given(&self.rule) {
            let r = sql_text::text(sql_text::rule(r)?);
            w.push(format!("(rule = {r} OR starts_with(rule, concat({r}, '.')))"));
        }
        if let Some(h) = given(&self.host) {
            let h = sql_text::text(&sql_text::ip("host", h)?.to_string());
            w.push(format!("(src_ip = {h} OR dst_ip = {h})"));
        }
        let from = given(&self.from).map(|v| sql_text::time("from", v)).transpose()?;
        let to = given(&self.to).map(|v| sql_text::time("to", v)).transpose()?;
        if let (Some(f), Some(t)) = (from, to)
            && f > t
        {
            return Err(ApiError::bad_request("the time range ends before it starts"));
        }
        if let Some(f) = from {
            w.push(format!("time_ns >= {f} AND event_date >= {}", sql_text::date(f)));
        }
        if let Some(t) = to {
            w.push(format!("time_ns <= {t} AND event_date <= {}", sql_text::date(t)));
        }
        let limit = match given(&self.limit) {
            None => 200,
            Some(v) => match v.parse::<usize>() {
                Ok(n @ 1..=1000) => n,
                _ => return Err(ApiError::bad_request(format!("limit: {v:?} is not a number from 1 to 1000"))),
            },
        };
        Ok((w, limit))
    }
}

/// Rows of a result as JSON objects (nulls kept).
pub fn rows_json(result: &QueryResult) -> Result<Vec<Value>, ApiError> {
    let mut buf = Vec::new();
    let mut w = WriterBuilder::new().with_explicit_nulls(true).build::<_, JsonArray>(&mut buf);
    for b in &result.batches {
        w.write(b).map_err(|e| ApiError::internal(format!("encoding rows: {e}")))?;
    }
    w.finish().map_err(|e| ApiError::internal(format!("encoding rows: {e}")))?;
    drop(w);
    if buf.is_empty() {
        return Ok(Vec::new());
    }
    match serde_json::from_slice(&buf) {
        Ok(Value::Array(rows)) => Ok(rows),
        Ok(_) => Ok(Vec::new()),
        Err(e) => Err(ApiError::internal(format!("encoding rows: {e}"))),
    }
}

async fn rows(engine: &SqlEngine, sql: &str) -> Result<Vec<Value>, ApiError> {
    let result = engine.query_limited(sql).await.map_err(|e| {
        // Our own SQL failing is our fault, not the caller's.
        ApiError::internal(format!("{e} (in: {sql})"))
    })?;
    rows_json(&result)
}

const QUEUE_COLUMNS: &str = "time, time_ns, rule, score, severity, src_ip, src_port, dst_ip, dst_port, proto, \
     indicator, indicator_kind, description, community_id, intel_sources, sensor_id, src_country, dst_country";

/// `GET /api/findings`.
pub async fn queue(
    State(state): State<Arc<AppState>>,
    params: Result<Query<QueueParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(params) = params.map_err(params_error)?;
    let (conditions, limit) = params.conditions()?;
    let engine = state.lake.engine(state.config.query_limits).await?;
    if !engine.has_table("findings") {
        return Ok(Json(json!({ "findings": [], "total": 0 })));
    }
    let filter = if conditions.is_empty() { String::new() } else { format!("WHERE {}", conditions.join(" AND ")) };
    let list = rows(
        &engine,
        &format!(
            "SELECT {FINDING_ID_SQL} AS id, {QUEUE_COLUMNS} FROM findings {filter} \
             ORDER BY score DESC, time_ns DESC, rule LIMIT {limit}"
        ),
    )
    .await?;
    let total = rows(&engine, &format!("SELECT count(*) AS n FROM findings {filter}")).await?;
    let total = total.first().and_then(|r| r["n"].as_u64()).unwrap_or(0);
    Ok(Json(json!({ "findings": list, "total": total })))
}

/// A finding id: 16 hex digits.
fn check_id(id: &str) -> Result<(), ApiError> {
    if id.len() == 16 && id.bytes().all(|c| c.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "{:?} is not a finding id (16 hex digits)",
            id.chars().take(40).collect::<String>()
        )))
    }
}

/// `GET /api/findings/{id}`.
pub async fn one(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    check_id(&id)?;
    let id = id.to_ascii_lowercase();
    let engine = state.lake.engine(state.config.query_limits).await?;
    if !engine.has_table("findings") {
        return Err(ApiError::new(StatusCode::NOT_FOUND, format!("no finding {id}: the lake has no findings yet")));
    }
    let found = rows(
        &engine,
        &format!(
            "SELECT {FINDING_ID_SQL} AS id, *, CAST(carve_from AS BIGINT) AS carve_from_us, \
             CAST(carve_to AS BIGINT) AS carve_to_us FROM findings WHERE {FINDING_ID_SQL} = '{id}' LIMIT 1"
        ),
    )
    .await?;
    let Some(finding) = found.into_iter().next() else {
        return Err(ApiError::new(StatusCode::NOT_FOUND, format!("no finding {id}")));
    };
    Ok(Json(context(&engine, finding).await?))
}

/// The finding's time window: its carve window, else a margin around it.
fn window(f: &Value) -> (i64, i64) {
    let t = f["time_ns"].as_i64().unwrap_or(0);
    let from = f["carve_from_us"].as_i64().map_or(t - CONTEXT_MARGIN_NS, |us| us.saturating_mul(1000));
    let to = f["carve_to_us"].as_i64().map_or(t + CONTEXT_MARGIN_NS, |us| us.saturating_mul(1000));
    let from = from.min(t - 60_000_000_000);
    let to = to.max(t + 60_000_000_000).min(from.saturating_add(CONTEXT_MAX_NS));
    (from, to)
}

/// The endpoint's enrichment as the finding recorded it.
fn endpoint(f: &Value, side: &str) -> Value {
    let g = |c: &str| f[format!("{side}_{c}")].clone();
    json!({
        "ip": g("ip"), "port": g("port"), "country": g("country"), "city": g("city"),
        "asn": g("asn"), "as_org": g("as_org"), "anonymity": g("anonymity"),
        "latitude": g("latitude"), "longitude": g("longitude"), "intel": [],
    })
}

async fn context(engine: &SqlEngine, finding: Value) -> Result<Value, ApiError> {
    let (from, to) = window(&finding);
    let ips: Vec<String> =
        ["src_ip", "dst_ip"].iter().filter_map(|c| finding[*c].as_str()).map(sql_text::text).collect();
    let cid = finding["community_id"].as_str().map(sql_text::text);
    let who = |src: &str, dst: &str| -> String {
        let mut parts = Vec::new();
        if !ips.is_empty() {
            let list = ips.join(", ");
            parts.push(format!("{src} IN ({list}) OR {dst} IN ({list})"));
        }
        if let Some(c) = &cid {
            parts.push(format!("community_id = {c}"));
        }
        if parts.is_empty() { "false".into() } else { format!("({})", parts.join(" OR ")) }
    };
    let days = format!("event_date BETWEEN {} AND {}", sql_text::date(from), sql_text::date(to));
    // (table, columns, time column in ns, who) of each related table.
    let related: [(&str, &str, String, String); 5] = [
        (
            "flows",
            "first_ts, last_ts, community_id, src_ip, src_port, dst_ip, dst_port, proto, app_proto, packets, bytes, \
             src_country, dst_country, src_asn, dst_asn, src_as_org, dst_as_org, first_ts_ns AS ts_ns",
            format!("last_ts_ns >= {from} AND first_ts_ns <= {to}"),
            who("src_ip", "dst_ip"),
        ),
        (
            "dns",
            "ts, src_ip, dst_ip, query, qtype_name, rcode_name, answers, community_id, ts_ns",
            format!("ts_ns BETWEEN {from} AND {to}"),
            who("src_ip", "dst_ip"),
        ),
        (
            "http",
            "ts, src_ip, dst_ip, method, host, uri, status, user_agent, community_id, ts_ns",
            format!("ts_ns BETWEEN {from} AND {to}"),
            who("src_ip", "dst_ip"),
        ),
        (
            "tls",
            "ts, src_ip, dst_ip, sni, version, alpn, ja4, community_id, ts_ns",
            format!("ts_ns BETWEEN {from} AND {to}"),
            who("src_ip", "dst_ip"),
        ),
        (
            "logs",
            "ts, source_type, host, src_ip, dst_ip, app, message, community_id, ts_ns",
            format!("ts_ns BETWEEN {from} AND {to}"),
            who("src_ip", "dst_ip"),
        ),
    ];
    let bucket = ((to - from) / TIMELINE_BUCKETS).max(1_000_000_000);
    let mut out = serde_json::Map::new();
    let mut timeline_parts = Vec::new();
    for (table, columns, when, who) in &related {
        if !engine.has_table(table) {
            out.insert((*table).into(), json!([]));
            continue;
        }
        let ts = if *table == "flows" { "first_ts_ns" } else { "ts_ns" };
        let r = rows(
            engine,
            &format!(
                "SELECT {columns} FROM {table} WHERE {days} AND {when} AND {who} ORDER BY {ts} LIMIT {CONTEXT_ROWS}"
            ),
        )
        .await?;
        out.insert((*table).into(), Value::Array(r));
        timeline_parts.push(format!(
            "SELECT '{table}' AS kind, CAST(({ts} - {from}) / {bucket} AS BIGINT) AS bucket, count(*) AS n \
             FROM {table} WHERE {days} AND {when} AND {who} GROUP BY 2"
        ));
    }
    let timeline = if timeline_parts.is_empty() {
        Vec::new()
    } else {
        rows(engine, &format!("{} ORDER BY bucket, kind", timeline_parts.join(" UNION ALL "))).await?
    };
    let mut src = endpoint(&finding, "src");
    let mut dst = endpoint(&finding, "dst");
    let mut intel_hits = Vec::new();
    if engine.has_table("intel") {
        let mut values: Vec<String> = ips.clone();
        if let Some(ind) = finding["indicator"].as_str() {
            values.push(sql_text::text(ind));
        }
        let hits = rows(
            engine,
            &format!(
                "{} WHERE i.value IN ({}) ORDER BY i.value, i.source",
                opensoc_lake::intel::current_loads_sql("i.kind, i.value, i.source, i.confidence, i.description"),
                values.join(", ")
            ),
        )
        .await?;
        for h in &hits {
            for ep in [&mut src, &mut dst] {
                if ep["ip"] == h["value"]
                    && let Some(list) = ep["intel"].as_array_mut()
                {
                    list.push(h.clone());
                }
            }
        }
        intel_hits = hits;
    }
    let carve = json!({
        "community_id": finding["community_id"],
        "from": opensoc_lake::time::format_time_ns(from),
        "to": opensoc_lake::time::format_time_ns(to),
    });
    let mut body = json!({
        "finding": finding,
        "endpoints": { "src": src, "dst": dst },
        "window": { "from": opensoc_lake::time::format_time_ns(from), "to": opensoc_lake::time::format_time_ns(to),
                    "bucket_seconds": bucket / 1_000_000_000 },
        "timeline": timeline,
        "intel": intel_hits,
        "carve": carve,
    });
    if let Some(obj) = body.as_object_mut() {
        obj.extend(out);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_parameters_are_checked_and_quoted() {
        let p = QueueParams { severity: Some("high, critical".into()), ..Default::default() };
        assert_eq!(p.conditions().unwrap().0, vec!["severity IN ('High', 'Critical')"]);
        let bad = |p: QueueParams| p.conditions().unwrap_err().message;
        assert!(bad(QueueParams { severity: Some("urgent".into()), ..Default::default() }).contains("not one of"));
        assert!(bad(QueueParams { rule: Some("x' or 1=1 --".into()), ..Default::default() }).contains("rule id"));
        assert!(bad(QueueParams { host: Some("1.2.3.4; drop".into()), ..Default::default() }).contains("IP address"));
        assert!(bad(QueueParams { limit: Some("100000".into()), ..Default::default() }).contains("1 to 1000"));
        assert!(
            bad(QueueParams { from: Some("2024-02-01".into()), to: Some("2024-01-01".into()), ..Default::default() })
                .contains("ends before")
        );
        assert!(check_id("0123456789abcdef").is_ok());
        assert!(check_id("../../etc/passwd").is_err());
    }
}
