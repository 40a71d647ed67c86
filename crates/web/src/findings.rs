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

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use deltalake::arrow::json::writer::{JsonArray, WriterBuilder};
use opensoc_lake::sql::{QueryResult, SqlEngine};
use opensoc_lake::time::date_literal;
use opensoc_lake::workflow::{self, FindingEvent, FindingState};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::query::params_error;
use crate::sql_text::given;
use crate::{ApiError, AppState, sql_text};

/// The SQL of a finding's id (defined beside the workflow rows keyed on it).
pub use opensoc_lake::workflow::FINDING_ID_SQL;

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
    /// Workflow statuses, comma-separated; `open` is every status but the
    /// closed ones, `closed` both closed ones.
    pub status: Option<String>,
    /// Current assignee (`none`: unassigned).
    pub assignee: Option<String>,
    /// A tag the finding has now.
    pub tag: Option<String>,
    /// Text in a comment, the rule, the indicator or the description
    /// (case-insensitive).
    pub text: Option<String>,
    /// The case the finding is in now.
    pub case: Option<String>,
}

/// Conditions on the workflow state, applied after the state is joined.
#[derive(Debug, Default, PartialEq, Eq)]
struct WorkflowFilter {
    statuses: Option<Vec<String>>,
    assignee: Option<Option<String>>,
    tag: Option<String>,
    text: Option<String>,
    case: Option<String>,
}

impl WorkflowFilter {
    fn is_empty(&self) -> bool {
        *self == WorkflowFilter::default()
    }

    fn from_params(p: &QueueParams) -> Result<WorkflowFilter, ApiError> {
        let bad = |e: workflow::WorkflowError| ApiError::bad_request(e.to_string());
        let statuses = match given(&p.status) {
            None => None,
            Some(list) => {
                let mut out = Vec::new();
                for s in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                    match s.to_ascii_lowercase().as_str() {
                        "open" => out.extend(
                            workflow::STATUSES.iter().filter(|s| !s.starts_with("closed_")).map(|s| s.to_string()),
                        ),
                        "closed" => out.extend(
                            workflow::STATUSES.iter().filter(|s| s.starts_with("closed_")).map(|s| s.to_string()),
                        ),
                        _ => out.push(workflow::clean_status(s).map_err(bad)?),
                    }
                }
                out.sort();
                out.dedup();
                Some(out)
            }
        };
        let assignee =
            given(&p.assignee).map(|a| if a.eq_ignore_ascii_case("none") { None } else { Some(a.to_string()) });
        let tag = given(&p.tag).map(workflow::clean_tag).transpose().map_err(bad)?;
        let text = given(&p.text).map(|t| {
            if t.chars().count() > 200 {
                Err(ApiError::bad_request("text: longer than 200 characters"))
            } else {
                Ok(t.to_lowercase())
            }
        });
        let text = text.transpose()?;
        let case = given(&p.case).map(workflow::clean_case_id).transpose().map_err(bad)?;
        Ok(WorkflowFilter { statuses, assignee, tag, text, case })
    }

    /// The joins and conditions over the joined `q` (finding columns,
    /// `status`, `assignee`, `case_id`) given the lake has `finding_events`,
    /// as `(joins, conditions)`. The text search joins its matching ids
    /// rather than OR-ing `IN` subqueries, which DataFusion's
    /// decorrelation does not plan.
    fn conditions(&self, has_events: bool) -> (String, Vec<String>) {
        let mut joins = String::new();
        let mut w = Vec::new();
        if let Some(list) = &self.statuses {
            let list: Vec<String> = list.iter().map(|s| sql_text::text(s)).collect();
            w.push(if list.is_empty() { "false".into() } else { format!("q.status IN ({})", list.join(", ")) });
        }
        match &self.assignee {
            None => {}
            Some(None) => w.push("q.assignee IS NULL".into()),
            Some(Some(a)) => w.push(format!("q.assignee = {}", sql_text::text(a))),
        }
        if let Some(c) = &self.case {
            w.push(format!("q.case_id = {}", sql_text::text(c)));
        }
        if let Some(t) = &self.tag {
            w.push(if has_events {
                format!("q.id IN ({})", current_tag_sql(&sql_text::text(t)))
            } else {
                "false".into()
            });
        }
        if let Some(t) = &self.text {
            let t = sql_text::text(t);
            let mut any = vec![
                format!("strpos(lower(q.rule), {t}) > 0"),
                format!("strpos(lower(q.indicator), {t}) > 0"),
                format!("strpos(lower(coalesce(q.description, '')), {t}) > 0"),
            ];
            if has_events {
                joins = format!(
                    "LEFT JOIN (SELECT DISTINCT finding_id AS text_hit FROM (SELECT finding_id FROM finding_events \
                     WHERE strpos(lower(comment), {t}) > 0 UNION ALL {})) th ON th.text_hit = q.id",
                    current_tag_sql(&t)
                );
                any.push("th.text_hit IS NOT NULL".into());
            }
            w.push(format!("({})", any.join(" OR ")));
        }
        (joins, w)
    }
}

/// The ids of findings whose current tags include the SQL literal `tag`:
/// the latest event that added or removed it added it.
fn current_tag_sql(tag: &str) -> String {
    format!(
        "SELECT finding_id FROM (SELECT finding_id, added, row_number() OVER (PARTITION BY finding_id \
         ORDER BY time_ns DESC, event_id DESC) AS rn FROM (\
         SELECT finding_id, time_ns, event_id, true AS added FROM finding_events WHERE array_has(tags_added, {tag}) \
         UNION ALL \
         SELECT finding_id, time_ns, event_id, false AS added FROM finding_events WHERE array_has(tags_removed, {tag}))) \
         WHERE rn = 1 AND added"
    )
}

/// The latest non-null `column` of each finding's events, as
/// `(finding_id, column)`.
fn latest_sql(column: &str) -> String {
    format!(
        "SELECT finding_id, {column} FROM (SELECT finding_id, {column}, row_number() OVER (PARTITION BY finding_id \
         ORDER BY time_ns DESC, event_id DESC) AS rn FROM finding_events WHERE {column} IS NOT NULL) WHERE rn = 1"
    )
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
            w.push(format!("time_ns >= {f} AND event_date >= {}", date_literal(f)));
        }
        if let Some(t) = to {
            w.push(format!("time_ns <= {t} AND event_date <= {}", date_literal(t)));
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

pub(crate) async fn rows(engine: &SqlEngine, sql: &str) -> Result<Vec<Value>, ApiError> {
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
    let wf = WorkflowFilter::from_params(&params)?;
    let engine = state.lake.engine(state.config.query_limits).await?;
    if !engine.has_table("findings") {
        return Ok(Json(json!({ "findings": [], "total": 0 })));
    }
    let has_events = engine.has_table("finding_events");
    let filter = if conditions.is_empty() { String::new() } else { format!("WHERE {}", conditions.join(" AND ")) };
    let base = format!("SELECT {FINDING_ID_SQL} AS id, {QUEUE_COLUMNS} FROM findings {filter}");
    // The findings with the parts of their state SQL filters on.
    let joined = if has_events {
        format!(
            "SELECT f.*, coalesce(s.status, 'new') AS status, nullif(a.assignee, '') AS assignee, \
             nullif(c.case_id, '') AS case_id FROM ({base}) f \
             LEFT JOIN ({}) s ON s.finding_id = f.id LEFT JOIN ({}) a ON a.finding_id = f.id \
             LEFT JOIN ({}) c ON c.finding_id = f.id",
            latest_sql("status"),
            latest_sql("assignee"),
            latest_sql("case_id")
        )
    } else {
        format!(
            "SELECT f.*, 'new' AS status, CAST(NULL AS VARCHAR) AS assignee, CAST(NULL AS VARCHAR) AS case_id \
             FROM ({base}) f"
        )
    };
    let (wf_joins, wf_conditions) = wf.conditions(has_events);
    let wf_tail =
        if wf_conditions.is_empty() { wf_joins } else { format!("{wf_joins} WHERE {}", wf_conditions.join(" AND ")) };
    let mut list = rows(
        &engine,
        &format!("SELECT q.* FROM ({joined}) q {wf_tail} ORDER BY q.score DESC, q.time_ns DESC, q.rule LIMIT {limit}"),
    )
    .await?;
    let total = if wf.is_empty() {
        rows(&engine, &format!("SELECT count(*) AS n FROM findings {filter}")).await?
    } else {
        rows(&engine, &format!("SELECT count(*) AS n FROM ({joined}) q {wf_tail}")).await?
    };
    let total = total.first().and_then(|r| r["n"].as_u64()).unwrap_or(0);
    attach_states(&engine, &mut list).await?;
    Ok(Json(json!({ "findings": list, "total": total })))
}

/// The workflow events of findings, by finding id.
pub async fn events_of(engine: &SqlEngine, ids: &[String]) -> Result<HashMap<String, Vec<FindingEvent>>, ApiError> {
    let mut out: HashMap<String, Vec<FindingEvent>> = HashMap::new();
    if ids.is_empty() || !engine.has_table("finding_events") {
        return Ok(out);
    }
    for chunk in ids.chunks(500) {
        let list: Vec<String> = chunk.iter().map(|i| sql_text::text(i)).collect();
        let found = rows(
            engine,
            &format!(
                "SELECT {} FROM finding_events WHERE finding_id IN ({}) ORDER BY time_ns, event_id",
                workflow::EVENT_COLUMNS,
                list.join(", ")
            ),
        )
        .await?;
        for row in found {
            let e: FindingEvent = serde_json::from_value(row)
                .map_err(|e| ApiError::internal(format!("a finding_events row does not read back: {e}")))?;
            out.entry(e.finding_id.clone()).or_default().push(e);
        }
    }
    Ok(out)
}

/// A finding's state and its history (events, oldest first) as JSON.
pub fn state_json(events: &[FindingEvent]) -> Value {
    let state = FindingState::fold(events);
    let mut history: Vec<&FindingEvent> = events.iter().collect();
    history.sort_by(|a, b| (a.time_ns, &a.event_id).cmp(&(b.time_ns, &b.event_id)));
    let history: Vec<Value> = history
        .into_iter()
        .map(|e| {
            let mut v = json!(e);
            if let Some(o) = v.as_object_mut() {
                o.insert("time".into(), json!(opensoc_lake::time::format_time_ns(e.time_ns)));
            }
            v
        })
        .collect();
    json!({ "state": state, "history": history })
}

/// A finding id: 16 hex digits.
pub fn check_id(id: &str) -> Result<(), ApiError> {
    if id.len() == 16 && id.bytes().all(|c| c.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "{:?} is not a finding id (16 hex digits)",
            id.chars().take(40).collect::<String>()
        )))
    }
}

/// The finding with id `id` (lower-case), with every column and its carve
/// window in µs; `None` when there is none.
pub async fn find(engine: &SqlEngine, id: &str) -> Result<Option<Value>, ApiError> {
    if !engine.has_table("findings") {
        return Ok(None);
    }
    let found = rows(
        engine,
        &format!(
            "SELECT {FINDING_ID_SQL} AS id, *, CAST(carve_from AS BIGINT) AS carve_from_us, \
             CAST(carve_to AS BIGINT) AS carve_to_us FROM findings WHERE {FINDING_ID_SQL} = {} LIMIT 1",
            sql_text::text(id)
        ),
    )
    .await?;
    Ok(found.into_iter().next())
}

/// `GET /api/findings/{id}`: the finding, its context, its workflow state
/// and history, the findings that share a host with it in its window, and
/// its case.
pub async fn one(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    check_id(&id)?;
    let id = id.to_ascii_lowercase();
    let engine = state.lake.engine(state.config.query_limits).await?;
    if !engine.has_table("findings") {
        return Err(ApiError::new(StatusCode::NOT_FOUND, format!("no finding {id}: the lake has no findings yet")));
    }
    let Some(finding) = find(&engine, &id).await? else {
        return Err(ApiError::new(StatusCode::NOT_FOUND, format!("no finding {id}")));
    };
    let (from, to) = window(&finding);
    let ips: Vec<String> =
        ["src_ip", "dst_ip"].iter().filter_map(|c| finding[*c].as_str()).map(sql_text::text).collect();
    let mut body = context(&engine, finding).await?;
    let mut events = events_of(&engine, std::slice::from_ref(&id)).await?;
    let own = events.remove(&id).unwrap_or_default();
    let workflow_json = state_json(&own);
    let related = related_findings(&engine, &id, &ips, from, to).await?;
    let case = match workflow_json["state"]["case_id"].as_str() {
        Some(c) => Some(crate::workflow::case_json(&engine, c).await?),
        None => None,
    };
    if let Some(obj) = body.as_object_mut() {
        obj.insert("state".into(), workflow_json["state"].clone());
        obj.insert("history".into(), workflow_json["history"].clone());
        obj.insert("related_findings".into(), Value::Array(related));
        obj.insert("case".into(), case.unwrap_or(Value::Null));
    }
    Ok(Json(body))
}

/// Most related findings listed.
const RELATED_FINDINGS: usize = 50;

/// Other findings of the same hosts in the window, with their status and
/// case: the candidates for grouping into a case.
async fn related_findings(
    engine: &SqlEngine,
    id: &str,
    ips: &[String],
    from: i64,
    to: i64,
) -> Result<Vec<Value>, ApiError> {
    if ips.is_empty() {
        return Ok(Vec::new());
    }
    let list = ips.join(", ");
    let mut found = rows(
        engine,
        &format!(
            "SELECT * FROM (SELECT {FINDING_ID_SQL} AS id, time, time_ns, rule, score, severity, src_ip, dst_ip, \
             indicator FROM findings WHERE event_date BETWEEN {} AND {} AND time_ns BETWEEN {from} AND {to} \
             AND (src_ip IN ({list}) OR dst_ip IN ({list}))) WHERE id <> {} \
             ORDER BY score DESC, time_ns LIMIT {RELATED_FINDINGS}",
            date_literal(from),
            date_literal(to),
            sql_text::text(id)
        ),
    )
    .await?;
    attach_states(engine, &mut found).await?;
    Ok(found)
}

/// Add the workflow state (`status`, `assignee`, `tags`, `case_id`,
/// `case_title`, the number of `comments`) to finding rows with an `id`.
pub async fn attach_states(engine: &SqlEngine, rows: &mut [Value]) -> Result<(), ApiError> {
    let ids: Vec<String> = rows.iter().filter_map(|r| r["id"].as_str().map(String::from)).collect();
    let mut events = events_of(engine, &ids).await?;
    for row in rows.iter_mut() {
        let id = row["id"].as_str().unwrap_or_default().to_string();
        let st = FindingState::fold(events.remove(&id).as_deref().unwrap_or_default());
        if let Some(o) = row.as_object_mut() {
            o.insert("status".into(), json!(st.status));
            o.insert("assignee".into(), json!(st.assignee));
            o.insert("tags".into(), json!(st.tags));
            o.insert("case_id".into(), json!(st.case_id));
            o.insert("case_title".into(), json!(st.case_title));
            o.insert("comments".into(), json!(st.comments.len()));
        }
    }
    Ok(())
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
    let days = format!("event_date BETWEEN {} AND {}", date_literal(from), date_literal(to));
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
        // Workflow filters: `open` and `closed` expand; every value is checked.
        let wf = |p: QueueParams| WorkflowFilter::from_params(&p);
        let open = wf(QueueParams { status: Some("open".into()), ..Default::default() }).unwrap();
        assert_eq!(open.statuses.unwrap(), ["acknowledged", "in_progress", "new"]);
        let closed = wf(QueueParams { status: Some("closed, new".into()), ..Default::default() }).unwrap();
        assert_eq!(closed.statuses.unwrap(), ["closed_false_positive", "closed_true_positive", "new"]);
        let none = wf(QueueParams { assignee: Some("None".into()), ..Default::default() }).unwrap();
        assert_eq!(none.assignee, Some(None));
        let bad = |p: QueueParams| wf(p).unwrap_err().message;
        assert!(bad(QueueParams { status: Some("done".into()), ..Default::default() }).contains("not one of"));
        assert!(bad(QueueParams { tag: Some("a'b".into()), ..Default::default() }).contains("not allowed in a tag"));
        assert!(bad(QueueParams { case: Some("x".into()), ..Default::default() }).contains("not a case id"));
        let text = wf(QueueParams { text: Some("It's".into()), ..Default::default() }).unwrap();
        let (joins, conditions) = text.conditions(true);
        assert!(joins.contains("'it''s'"), "quoted: {joins}");
        assert!(conditions[0].contains("th.text_hit IS NOT NULL"));
        assert!(check_id("../../etc/passwd").is_err());
    }
}
