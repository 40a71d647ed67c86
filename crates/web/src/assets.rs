//! The page: HTML, script and style embedded in the binary (no CDN, works
//! offline), served with a content security policy that allows nothing
//! from elsewhere.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::{ApiError, AppState};

const INDEX: &str = include_str!("../assets/index.html");
const FILES: [(&str, &str, &str); 2] = [
    ("app.js", "text/javascript; charset=utf-8", include_str!("../assets/app.js")),
    ("app.css", "text/css; charset=utf-8", include_str!("../assets/app.css")),
];

/// Only this origin; no inline script; no framing.
const CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; \
     connect-src 'self' https:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

fn page(content_type: &'static str, body: &'static str) -> Response {
    let mut r = (StatusCode::OK, body).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

/// `GET /`.
pub async fn index() -> Response {
    page("text/html; charset=utf-8", INDEX)
}

/// `GET /assets/{file}`: only the embedded files; nothing is read from disk.
pub async fn file(Path(name): Path<String>) -> Result<Response, ApiError> {
    FILES.iter().find(|(n, _, _)| *n == name).map(|(_, t, body)| page(t, body)).ok_or_else(|| {
        ApiError::new(StatusCode::NOT_FOUND, format!("no asset {:?}", name.chars().take(100).collect::<String>()))
    })
}

/// `GET /api/config`: what the page adapts to.
pub async fn config(State(state): State<Arc<AppState>>) -> Json<Value> {
    let c = &state.config;
    Json(json!({
        "carve_url": c.carve_url.clone().unwrap_or_else(|| "/api/carve".into()),
        "via": c.via,
        "query_limits": {
            "timeout_seconds": c.query_limits.timeout.map(|t| t.as_secs_f64()),
            "max_rows": c.query_limits.max_rows,
            "memory_bytes": c.query_limits.memory_bytes,
        },
        "carve_limits": {
            "max_packets": c.carve_limits.max_packets,
            "max_bytes": c.carve_limits.max_bytes,
            "max_span_seconds": c.carve_limits.max_span_ns.map(|n| n / 1_000_000_000),
        },
        "version": env!("CARGO_PKG_VERSION"),
    }))
}
