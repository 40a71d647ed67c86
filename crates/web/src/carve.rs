//! `GET /api/carve`: the packets of a flow, host, network, port, protocol
//! or sensor in a time range, as pcap (or pcapng when link types differ).
//!
//! Parameters: `community_id`, `host`, `net` (CIDR), `port`, `proto`,
//! `sensor`, `filter` (an expression: `host 10.0.0.1 and (port 53 or port
//! 443)`), all combined with `and`; `from` and `to` (required, within the
//! span limit); `format` (`auto`, `pcap`, `pcapng`).
//!
//! Small results come back inline; larger ones, when an S3 output is set,
//! are written there and answered with `303 See Other` to a presigned URL
//! (and the same facts as JSON). Every carve, delivered or refused, appends
//! a `carve_audit` row before anything is delivered: a carve that cannot be
//! audited delivers nothing.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Extension, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use opensoc_lake::carve::audit::AuditEntry;
use opensoc_lake::carve::filter::parse_proto;
use opensoc_lake::carve::{CarveFilter, CarveFormat, CarveSummary, FilterExpr, carve};
use serde::Deserialize;

use crate::query::params_error;
use crate::sql_text::given;
use crate::{ApiError, AppState, Principal, sql_text};

/// The query string.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// Community ID v1 of the flow.
    pub community_id: Option<String>,
    /// Either endpoint's address.
    pub host: Option<String>,
    /// Either endpoint in this CIDR network.
    pub net: Option<String>,
    /// Either endpoint's port.
    pub port: Option<String>,
    /// Protocol name or number.
    pub proto: Option<String>,
    /// Sensor id.
    pub sensor: Option<String>,
    /// A filter expression.
    pub filter: Option<String>,
    /// Earliest packet time.
    pub from: Option<String>,
    /// Latest packet time.
    pub to: Option<String>,
    /// `auto`, `pcap` or `pcapng`.
    pub format: Option<String>,
}

impl Params {
    /// The carve filter these parameters ask for, each value checked.
    pub fn filter(&self) -> Result<CarveFilter, ApiError> {
        let bad = ApiError::bad_request;
        Ok(CarveFilter {
            community_id: given(&self.community_id).map(str::to_string),
            host: given(&self.host).map(|v| sql_text::ip("host", v)).transpose()?,
            net: given(&self.net)
                .map(|v| {
                    v.parse::<ipnet::IpNet>()
                        .map(|n| n.trunc())
                        .map_err(|_| bad(format!("net: {v:?} is not a network in CIDR form (e.g. 10.0.0.0/8)")))
                })
                .transpose()?,
            port: given(&self.port)
                .map(|v| v.parse::<u16>().map_err(|_| bad(format!("port: {v:?} is not a port (0-65535)"))))
                .transpose()?,
            proto: given(&self.proto).map(|v| parse_proto(v).map_err(|m| bad(format!("proto: {m}")))).transpose()?,
            sensor: given(&self.sensor).map(str::to_string),
            expr: given(&self.filter).map(|v| FilterExpr::parse(v).map_err(|e| bad(e.to_string()))).transpose()?,
            from_ns: given(&self.from).map(|v| sql_text::time("from", v)).transpose()?,
            to_ns: given(&self.to).map(|v| sql_text::time("to", v)).transpose()?,
        })
    }

    fn format(&self) -> Result<CarveFormat, ApiError> {
        match given(&self.format).unwrap_or("auto") {
            "auto" => Ok(CarveFormat::Auto),
            "pcap" => Ok(CarveFormat::Pcap),
            "pcapng" => Ok(CarveFormat::Pcapng),
            other => Err(ApiError::bad_request(format!("format: {other:?} is not auto, pcap or pcapng"))),
        }
    }
}

/// A file name for the carve: what it is of, and when.
fn file_name(filter: &CarveFilter, summary: &CarveSummary) -> String {
    let what = match &filter.community_id {
        // Community IDs hold '/', '+' and '=': keep letters and digits.
        Some(id) => {
            let tail: String = id.get(2..).unwrap_or("").chars().filter(char::is_ascii_alphanumeric).take(12).collect();
            format!("flow-{tail}")
        }
        None => "carve".into(),
    };
    let from = filter.from_ns.map(|ns| ns.div_euclid(1_000_000_000)).unwrap_or(0);
    format!("opensoc-{what}-{from}.{}", summary.format)
}

/// The handler.
pub async fn handle(
    State(state): State<Arc<AppState>>,
    Extension(Principal(principal)): Extension<Principal>,
    headers: HeaderMap,
    params: Result<Query<Params>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(params) = params.map_err(params_error)?;
    let filter = params.filter()?;
    let format = params.format()?;
    let config = &state.config;
    let lake = state.lake.current().await?;
    let mut audit = AuditEntry::new(&principal, config.via, &filter, opensoc_lake::rows::now_ns());
    let started = Instant::now();
    let mut out = Vec::new();
    let result = match state.lake.engine(config.query_limits).await {
        Ok(engine) => carve(&engine, &filter, format, &config.carve_limits, &mut out).await,
        Err(e) => Err(opensoc_lake::carve::CarveError::Query(opensoc_lake::sql::QueryError::Execution(e.to_string()))),
    };
    audit.finish(result.as_ref(), started.elapsed());

    // Decide the delivery before auditing, deliver after.
    let large = out.len() as u64 > config.inline_max_bytes;
    let mut delivered = None;
    if let Ok(summary) = &result
        && summary.packets > 0
    {
        if large {
            let Some(delivery) = &config.delivery else {
                let e = ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!(
                        "the carve is {} bytes, more than the {} bytes answered inline, and no S3 output is set \
                         (OPENSOC_CARVE_OUTPUT); narrow the filter",
                        out.len(),
                        config.inline_max_bytes
                    ),
                );
                audit.outcome = opensoc_lake::carve::audit::Outcome::Refused;
                audit.error = Some(e.message.clone());
                record(lake, &audit).await?;
                return Err(e);
            };
            let name = format!("{}-{}", uuid::Uuid::new_v4(), file_name(&filter, summary));
            let d = delivery.deliver(&name, std::mem::take(&mut out)).await.map_err(|e| {
                ApiError::new(StatusCode::BAD_GATEWAY, format!("the carve could not be written to S3: {e}"))
            })?;
            audit.delivery = Some(d.s3_uri.clone());
            delivered = Some(d);
        } else {
            audit.delivery = Some("inline".into());
        }
    }
    record(lake, &audit).await?;
    let summary = result?;
    tracing::info!(
        principal = %principal,
        filter = %audit.filter,
        packets = summary.packets,
        bytes = summary.bytes,
        files_scanned = summary.scan.files_scanned,
        elapsed_ms = audit.elapsed_ms,
        "carve answered"
    );
    if summary.packets == 0 {
        return Err(ApiError::new(StatusCode::NOT_FOUND, format!("no packets match {}", describe(&filter))));
    }
    let summary_headers = |r: &mut Response| {
        let h = r.headers_mut();
        h.insert("x-opensoc-packets", HeaderValue::from(summary.packets));
        h.insert("x-opensoc-bytes", HeaderValue::from(summary.bytes));
        h.insert("x-opensoc-files-scanned", HeaderValue::from(summary.scan.files_scanned));
        h.insert("x-opensoc-files-total", HeaderValue::from(summary.scan.files_total));
        h.insert("x-opensoc-bytes-scanned", HeaderValue::from(summary.scan.bytes_scanned));
    };
    if let Some(d) = delivered {
        let body = serde_json::json!({
            "url": d.url, "s3_uri": d.s3_uri, "expires_in_seconds": d.expires_in_seconds, "summary": summary,
        });
        // A script (the page) asks for JSON and follows the URL itself; a
        // browser or curl -L follows the redirect.
        let wants_json =
            headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains("application/json"));
        let status = if wants_json { StatusCode::OK } else { StatusCode::SEE_OTHER };
        let mut r = (status, axum::Json(body)).into_response();
        if !wants_json && let Ok(location) = HeaderValue::from_str(&d.url) {
            r.headers_mut().insert(header::LOCATION, location);
        }
        summary_headers(&mut r);
        return Ok(r);
    }
    let content_type = if summary.format == "pcapng" { "application/x-pcapng" } else { "application/vnd.tcpdump.pcap" };
    let mut r = (StatusCode::OK, out).into_response();
    summary_headers(&mut r);
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{}\"", file_name(&filter, &summary))) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(r)
}

/// The filter and its time range, for messages.
fn describe(filter: &CarveFilter) -> String {
    let t = |v: Option<i64>| v.map_or("…".to_string(), opensoc_lake::time::format_time_ns);
    format!("{} between {} and {}", filter.describe(), t(filter.from_ns), t(filter.to_ns))
}

/// Append the audit row; a carve that cannot be audited delivers nothing.
async fn record(lake: &opensoc_lake::Lake, audit: &AuditEntry) -> Result<(), ApiError> {
    audit.append(lake).await.map(|_| ()).map_err(|e| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the carve could not be recorded in carve_audit, so nothing was delivered: {e}"),
        )
    })
}
