//! # opensoc-webhook
//!
//! The HTTP door for any producer: `POST /ingest/{source}` (or `POST
//! /ingest` with `X-OpenSOC-Source-Type`) takes JSON — one object, an array
//! of objects, or NDJSON, optionally gzip — authenticated by a shared secret
//! or an HMAC-SHA256 signature of the body ([`auth`]), within a size limit,
//! and hands the events to an [`EventSink`]: the sensor's log pipeline
//! (`opensoc-sensor http`) or the Kinesis stream directly (the webhook
//! function, [`stream::StreamSink`]). From there they travel like every other
//! log line: the lake parses them into `logs`, and what is not a JSON object
//! lands in `quarantine` with the reason.
//!
//! | answer | when |
//! |---|---|
//! | `200 {"accepted", "quarantined", "errors": […]}` | the events were handed on (the invalid ones too, for quarantine) |
//! | `400` | empty body, bad source type, damaged gzip |
//! | `401` | missing secret, wrong secret, forged or malformed signature — nothing is stored |
//! | `413` | the body, or what it decompresses to, is over the limit |
//! | `503` | the pipeline could not take the events (retry) |
//!
//! This crate links neither DataFusion nor libpcap, so the sensor and a
//! small Lambda function can both carry it.

pub mod auth;
pub mod body;
pub mod stream;

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::connect_info::ConnectInfo;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

pub use auth::{AuthError, Secret};

/// The header naming the source type on `POST /ingest`.
pub const SOURCE_HEADER: &str = "x-opensoc-source-type";
/// The source types the lake knows by name; any other name is shipped as
/// `json:NAME` (parsed as JSON, stored as `NAME`).
pub const KNOWN_SOURCES: [&str; 3] = ["json", "suricata-eve", "zeek"];
/// Reasons listed in an answer, at most.
const MAX_REASONS: usize = 20;

/// Events of one request, for the sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// The source type lines are shipped as (`json`, `suricata-eve`,
    /// `zeek`, or `json:NAME`).
    pub source_type: String,
    /// Who sent them (`http:ADDR`).
    pub origin: String,
    /// When they arrived, ns since the epoch.
    pub received_ns: i64,
    /// One line per event.
    pub lines: Vec<Vec<u8>>,
}

/// A future a sink returns.
pub type SinkFuture<'a> = Pin<Box<dyn Future<Output = Result<(), SinkError>> + Send + 'a>>;

/// Where accepted events go.
pub trait EventSink: Send + Sync + 'static {
    /// Take the batch; `Ok` once it is safe (queued to a spool-backed
    /// pipeline, or acknowledged by the stream).
    fn deliver(&self, batch: Batch) -> SinkFuture<'_>;
}

/// The sink could not take the events.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct SinkError(pub String);

/// Settings of the HTTP input.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// The shared secret.
    pub secret: Secret,
    /// Largest body accepted as sent, bytes.
    pub max_body_bytes: usize,
    /// Largest body after gzip is undone, bytes.
    pub max_decoded_bytes: usize,
}

impl WebhookConfig {
    /// Defaults: 10 MiB sent, 64 MiB decompressed.
    pub fn new(secret: Secret) -> WebhookConfig {
        WebhookConfig { secret, max_body_bytes: 10 << 20, max_decoded_bytes: 64 << 20 }
    }
}

struct AppState {
    config: WebhookConfig,
    sink: Arc<dyn EventSink>,
}

/// The router: `POST /ingest`, `POST /ingest/{source}`, `GET /health`.
pub fn router(config: WebhookConfig, sink: Arc<dyn EventSink>) -> Router {
    let state = Arc::new(AppState { config, sink });
    Router::new()
        .route("/ingest", post(ingest))
        .route("/ingest/{source}", post(ingest))
        .route("/health", get(|| async { "ok" }))
        .fallback(|| async {
            error(StatusCode::NOT_FOUND, "no such route: POST /ingest/{source} or /ingest with X-OpenSOC-Source-Type")
        })
        .with_state(state)
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    let message = message.into();
    if status.is_server_error() {
        tracing::error!(status = status.as_u16(), error = %message, "webhook request failed");
    } else {
        tracing::info!(status = status.as_u16(), error = %message, "webhook request refused");
    }
    let mut r = (status, Json(json!({ "error": message }))).into_response();
    if status == StatusCode::UNAUTHORIZED {
        r.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer realm=\"opensoc\""));
    }
    r
}

/// A source name: 1 to 64 of lower-case letters, digits, `.`, `_`, `-`,
/// starting with a letter or digit.
pub fn check_source(name: &str) -> Result<String, String> {
    let n = name.trim().to_ascii_lowercase();
    let ok = !n.is_empty()
        && n.len() <= 64
        && n.as_bytes()[0].is_ascii_alphanumeric()
        && n.bytes().all(|c| c.is_ascii_alphanumeric() || b"._-".contains(&c));
    if ok { Ok(n) } else { Err(format!("source type {:?}: 1 to 64 letters, digits, '.', '_', '-'", name)) }
}

/// What `name` is shipped as.
pub fn shipped_type(name: &str) -> String {
    if KNOWN_SOURCES.contains(&name) { name.to_string() } else { format!("json:{name}") }
}

fn origin_of(req: &Request) -> String {
    if let Some(ConnectInfo(peer)) = req.extensions().get::<ConnectInfo<SocketAddr>>() {
        return format!("http:{peer}");
    }
    // Behind a function URL or a proxy: the caller's address as it says.
    let forwarded = req
        .headers()
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(str::trim)
        .filter(|v| v.parse::<std::net::IpAddr>().is_ok());
    format!("http:{}", forwarded.unwrap_or("unknown"))
}

fn source_of(path_source: Option<&str>, headers: &HeaderMap) -> Result<String, String> {
    match path_source {
        Some(s) => check_source(s),
        None => match headers.get(SOURCE_HEADER) {
            Some(v) => check_source(v.to_str().unwrap_or("")),
            None => Ok("json".into()),
        },
    }
}

/// Bytes of an oversized body read and dropped after the limit is passed,
/// and for how long: a client still sending then gets the 413 instead of a
/// connection reset (the "lingering close" of nginx and Apache).
const LINGER_BYTES: usize = 64 << 20;
const LINGER: std::time::Duration = std::time::Duration::from_secs(5);

enum BodyRead {
    TooLarge,
    Failed(String),
}

/// The body, at most `limit` bytes; past it, the rest is drained (within
/// [`LINGER_BYTES`] and [`LINGER`]) and the body refused.
async fn read_body(body: axum::body::Body, limit: usize) -> Result<Vec<u8>, BodyRead> {
    use futures::StreamExt as _;
    let mut stream = body.into_data_stream();
    let mut buf = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| BodyRead::Failed(e.to_string()))?;
        if buf.len() + chunk.len() > limit {
            let drain = async {
                let mut drained = 0;
                while let Some(Ok(c)) = stream.next().await {
                    drained += c.len();
                    if drained > LINGER_BYTES {
                        break;
                    }
                }
            };
            let _ = tokio::time::timeout(LINGER, drain).await;
            return Err(BodyRead::TooLarge);
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf)
}

async fn ingest(State(state): State<Arc<AppState>>, req: Request) -> Response {
    let path_source = req.uri().path().strip_prefix("/ingest/").map(str::to_string);
    let origin = origin_of(&req);
    let (parts, body) = req.into_parts();
    let source = match source_of(path_source.as_deref(), &parts.headers) {
        Ok(s) => s,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    let raw = match read_body(body, state.config.max_body_bytes).await {
        Ok(b) => b,
        Err(BodyRead::TooLarge) => {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the body is over the limit of {} bytes", state.config.max_body_bytes),
            );
        }
        Err(BodyRead::Failed(e)) => return error(StatusCode::BAD_REQUEST, format!("cannot read the body: {e}")),
    };
    // Authenticate before reading anything out of the body.
    if let Err(e) = state.config.secret.verify(&parts.headers, &raw) {
        return error(StatusCode::UNAUTHORIZED, e.to_string());
    }
    let gzip = parts
        .headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("gzip"));
    let decoded = match body::decode(&raw, gzip, state.config.max_decoded_bytes) {
        Ok(d) => d,
        Err(e @ body::BodyError::TooLarge { .. }) => return error(StatusCode::PAYLOAD_TOO_LARGE, e.to_string()),
        Err(e) => return error(StatusCode::BAD_REQUEST, e.to_string()),
    };
    let events = match body::events(&decoded) {
        Ok(e) => e,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.to_string()),
    };
    let total = events.lines.len();
    let quarantined = events.invalid.len();
    let batch = Batch {
        source_type: shipped_type(&source),
        origin: origin.clone(),
        received_ns: chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0),
        lines: events.lines,
    };
    if let Err(e) = state.sink.deliver(batch).await {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the events could not be handed to the pipeline, retry: {e}"),
        );
    }
    tracing::info!(source = %source, origin = %origin, events = total, quarantined, "webhook events accepted");
    let reasons: Vec<_> =
        events.invalid.iter().take(MAX_REASONS).map(|i| json!({ "event": i.event, "reason": i.reason })).collect();
    Json(json!({
        "source_type": source,
        "accepted": total - quarantined,
        "quarantined": quarantined,
        "errors": reasons,
    }))
    .into_response()
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use axum::body::Body;
    use tower::ServiceExt;

    use super::*;

    #[derive(Default)]
    struct Memory(Mutex<Vec<Batch>>);

    impl EventSink for Memory {
        fn deliver(&self, batch: Batch) -> SinkFuture<'_> {
            self.0.lock().unwrap().push(batch);
            Box::pin(async { Ok(()) })
        }
    }

    struct Down;

    impl EventSink for Down {
        fn deliver(&self, _: Batch) -> SinkFuture<'_> {
            Box::pin(async { Err(SinkError("stream unreachable".into())) })
        }
    }

    const SECRET: &str = "a-webhook-secret-0123";

    async fn call(app: &Router, req: axum::http::Request<Body>) -> (u16, serde_json::Value) {
        let r = app.clone().oneshot(req).await.unwrap();
        let status = r.status().as_u16();
        let body = axum::body::to_bytes(r.into_body(), usize::MAX).await.unwrap();
        (status, serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null))
    }

    fn post(path: &str) -> axum::http::request::Builder {
        axum::http::Request::post(path)
    }

    #[tokio::test]
    async fn events_reach_the_sink_only_with_valid_credentials() {
        let sink = Arc::new(Memory::default());
        let app = router(WebhookConfig::new(Secret::new(SECRET).unwrap()), sink.clone());
        let body: &'static [u8] = b"{\"a\":1}\nnot json\n";
        let signed = Secret::new(SECRET).unwrap().sign(body);
        let req = post("/ingest/github").header("x-opensoc-signature", &signed).body(Body::from(body)).unwrap();
        let (status, answer) = call(&app, req).await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!((answer["accepted"].as_u64(), answer["quarantined"].as_u64()), (Some(1), Some(1)));
        assert!(answer["errors"][0]["reason"].as_str().unwrap().contains("not JSON"));
        {
            let got = sink.0.lock().unwrap();
            assert_eq!(got.len(), 1);
            assert_eq!(got[0].source_type, "json:github");
            assert_eq!(got[0].lines.len(), 2, "the invalid line goes on, to quarantine");
        }
        // Header-named and known sources.
        let req = post("/ingest")
            .header("authorization", format!("Bearer {SECRET}"))
            .header(SOURCE_HEADER, "suricata-eve")
            .body(Body::from(r#"{"event_type":"alert"}"#))
            .unwrap();
        assert_eq!(call(&app, req).await.0, 200);
        assert_eq!(sink.0.lock().unwrap()[1].source_type, "suricata-eve");
        // Refusals store nothing.
        for (req, status, says) in [
            (post("/ingest/x").body(Body::from(body)).unwrap(), 401, "missing credentials"),
            (
                post("/ingest/x").header("authorization", "Bearer wrong").body(Body::from(body)).unwrap(),
                401,
                "not valid",
            ),
            (
                post("/ingest/x").header("x-opensoc-signature", &signed).body(Body::from("{\"a\":2}")).unwrap(),
                401,
                "does not match",
            ),
            (
                post("/ingest/..%2Fetc")
                    .header("authorization", format!("Bearer {SECRET}"))
                    .body(Body::from(body))
                    .unwrap(),
                400,
                "source type",
            ),
            (
                post("/ingest/x").header("authorization", format!("Bearer {SECRET}")).body(Body::from(" ")).unwrap(),
                400,
                "no events",
            ),
        ] {
            let (s, answer) = call(&app, req).await;
            assert_eq!(s, status, "{answer}");
            assert!(answer["error"].as_str().unwrap().contains(says), "{answer}");
        }
        assert_eq!(sink.0.lock().unwrap().len(), 2);
    }

    #[tokio::test]
    async fn oversized_bodies_and_a_failing_pipeline_get_clear_answers() {
        let mut config = WebhookConfig::new(Secret::new(SECRET).unwrap());
        config.max_body_bytes = 1000;
        let app = router(config, Arc::new(Memory::default()));
        let big = vec![b' '; 2000];
        let req = axum::http::Request::post("/ingest/x")
            .header("authorization", format!("Bearer {SECRET}"))
            .body(Body::from(big))
            .unwrap();
        let (status, answer) = call(&app, req).await;
        assert_eq!(status, 413, "{answer}");
        let down = router(WebhookConfig::new(Secret::new(SECRET).unwrap()), Arc::new(Down));
        let req = axum::http::Request::post("/ingest/x")
            .header("authorization", format!("Bearer {SECRET}"))
            .body(Body::from("{}"))
            .unwrap();
        let (status, answer) = call(&down, req).await;
        assert_eq!(status, 503);
        assert!(answer["error"].as_str().unwrap().contains("stream unreachable"));
    }
}
