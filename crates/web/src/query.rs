//! `POST /api/query?format=json|csv|arrow`: read-only SQL over the lake.
//!
//! The body is the SQL (`text/plain`, or JSON `{"sql": "…"}`). JSON answers
//! `{"columns": [{"name", "type"}], "rows": [{…}], "row_count", "truncated",
//! "elapsed_ms", "scan": {…}}`; CSV and Arrow IPC (stream format) carry the
//! same facts in `X-OpenSOC-*` headers.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use deltalake::arrow::csv::WriterBuilder as CsvWriterBuilder;
use deltalake::arrow::ipc::writer::StreamWriter;
use deltalake::arrow::record_batch::RecordBatch;
use opensoc_lake::sql::QueryResult;
use serde::Deserialize;

use crate::{ApiError, AppState};

/// Output formats.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// A JSON object with the rows as objects.
    #[default]
    Json,
    /// CSV with a header row.
    Csv,
    /// Arrow IPC stream.
    Arrow,
}

/// The query string.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// Output format.
    #[serde(default)]
    pub format: Format,
}

/// The SQL out of the body.
fn sql_of(headers: &HeaderMap, body: &[u8]) -> Result<String, ApiError> {
    let text = std::str::from_utf8(body).map_err(|_| ApiError::bad_request("the body is not UTF-8 text"))?;
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let sql = if is_json {
        #[derive(Deserialize)]
        struct Body {
            sql: String,
        }
        serde_json::from_str::<Body>(text)
            .map_err(|e| ApiError::bad_request(format!("a JSON body must be {{\"sql\": \"…\"}}: {e}")))?
            .sql
    } else {
        text.to_string()
    };
    if sql.trim().is_empty() {
        return Err(ApiError::bad_request("the body is empty: send the SQL (e.g. SELECT count(*) FROM flows)"));
    }
    Ok(sql)
}

/// Map a body rejection (too large, unreadable) to a precise error.
pub(crate) fn body_error(e: BytesRejection, limit: usize) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, format!("the request body is larger than {limit} bytes"))
    } else {
        ApiError::new(e.status(), format!("cannot read the request body: {}", e.body_text()))
    }
}

/// Map a query-string rejection to a precise 400.
pub(crate) fn params_error(e: QueryRejection) -> ApiError {
    ApiError::bad_request(format!("bad parameters: {}", e.body_text()))
}

/// The handler.
pub async fn handle(
    State(state): State<Arc<AppState>>,
    params: Result<Query<Params>, QueryRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let Query(params) = params.map_err(params_error)?;
    let body = body.map_err(|e| body_error(e, state.config.max_body_bytes))?;
    let sql = sql_of(&headers, &body)?;
    let started = Instant::now();
    let engine = state.lake.engine(state.config.query_limits).await?;
    let result = engine.query_limited(&sql).await?;
    let elapsed_ms = started.elapsed().as_millis() as u64;
    tracing::info!(
        rows = result.batches.iter().map(|b| b.num_rows()).sum::<usize>(),
        truncated = result.truncated,
        files_scanned = result.stats.files_scanned,
        bytes_scanned = result.stats.bytes_scanned,
        elapsed_ms,
        "query answered"
    );
    render(params.format, &result, elapsed_ms)
}

fn render(format: Format, result: &QueryResult, elapsed_ms: u64) -> Result<Response, ApiError> {
    let rows: usize = result.batches.iter().map(RecordBatch::num_rows).sum();
    let encode = |e: deltalake::arrow::error::ArrowError| ApiError::internal(format!("encoding the result: {e}"));
    let (content_type, body) = match format {
        Format::Json => {
            let rows_json = serde_json::Value::Array(crate::findings::rows_json(result)?);
            let columns: Vec<serde_json::Value> = result
                .schema
                .fields()
                .iter()
                .map(|f| serde_json::json!({"name": f.name(), "type": f.data_type().to_string()}))
                .collect();
            let body = serde_json::json!({
                "columns": columns,
                "rows": rows_json,
                "row_count": rows,
                "truncated": result.truncated,
                "elapsed_ms": elapsed_ms,
                "scan": result.stats,
            });
            ("application/json", body.to_string().into_bytes())
        }
        Format::Csv => {
            let mut buf = Vec::new();
            if result.batches.is_empty() {
                let names: Vec<&str> = result.schema.fields().iter().map(|f| f.name().as_str()).collect();
                buf.extend_from_slice(names.join(",").as_bytes());
                buf.push(b'\n');
            } else {
                let mut w = CsvWriterBuilder::new().with_header(true).build(&mut buf);
                for b in &result.batches {
                    w.write(b).map_err(encode)?;
                }
            }
            ("text/csv; charset=utf-8", buf)
        }
        Format::Arrow => {
            let mut buf = Vec::new();
            let mut w = StreamWriter::try_new(&mut buf, &result.schema).map_err(encode)?;
            for b in &result.batches {
                w.write(b).map_err(encode)?;
            }
            w.finish().map_err(encode)?;
            drop(w);
            ("application/vnd.apache.arrow.stream", buf)
        }
    };
    let mut response = (StatusCode::OK, body).into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert("x-opensoc-rows", HeaderValue::from(rows));
    h.insert("x-opensoc-truncated", HeaderValue::from_static(if result.truncated { "true" } else { "false" }));
    h.insert("x-opensoc-files-scanned", HeaderValue::from(result.stats.files_scanned));
    h.insert("x-opensoc-files-total", HeaderValue::from(result.stats.files_total));
    h.insert("x-opensoc-bytes-scanned", HeaderValue::from(result.stats.bytes_scanned));
    if format == Format::Csv {
        h.insert(header::CONTENT_DISPOSITION, HeaderValue::from_static("attachment; filename=\"opensoc-query.csv\""));
    }
    Ok(response)
}
