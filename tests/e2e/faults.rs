//! A fault-injecting HTTP proxy in front of the moto server: the stream
//! endpoint the sensor talks to. It forwards every request unchanged,
//! except that it can refuse a fraction of the entries of each PutRecords
//! call with `ProvisionedThroughputExceededException` (they are removed
//! from the forwarded call, so the stream never stores them), and it can
//! be stopped and started again on the same port (an outage: connections
//! refused, open ones cut).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

/// Counters of what the proxy did.
#[derive(Debug, Default)]
pub struct FaultStats {
    /// PutRecords entries refused.
    pub refused: AtomicU64,
    /// PutRecords entries forwarded.
    pub forwarded: AtomicU64,
}

struct Shared {
    upstream: String,
    /// Refuse an entry when the generator's next value is below this (of u32::MAX).
    refuse_below: u32,
    rng: Mutex<u64>,
    stats: Arc<FaultStats>,
    client: Client<HttpConnector, Full<Bytes>>,
}

/// The proxy; stopped on drop.
pub struct FaultProxy {
    pub addr: SocketAddr,
    pub stats: Arc<FaultStats>,
    shared: Arc<Shared>,
    runtime: tokio::runtime::Runtime,
    serving: Option<tokio::task::JoinHandle<()>>,
}

impl FaultProxy {
    /// A proxy to `upstream` (`http://host:port`) refusing `refuse` (0–1)
    /// of PutRecords entries.
    pub fn start(upstream: &str, refuse: f64) -> FaultProxy {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let client = Client::builder(TokioExecutor::new()).build_http();
        let stats = Arc::new(FaultStats::default());
        let shared = Arc::new(Shared {
            upstream: upstream.trim_end_matches('/').to_string(),
            refuse_below: (refuse.clamp(0.0, 1.0) * u32::MAX as f64) as u32,
            rng: Mutex::new(0x9E37_79B9_7F4A_7C15),
            stats: stats.clone(),
            client,
        });
        let listener = runtime.block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
        let addr = listener.local_addr().unwrap();
        let mut p = FaultProxy { addr, stats, shared, runtime, serving: None };
        p.serve(listener);
        p
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn serve(&mut self, listener: TcpListener) {
        let shared = self.shared.clone();
        self.serving = Some(self.runtime.spawn(async move {
            let mut conns = JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                let shared = shared.clone();
                conns.spawn(async move {
                    let svc = hyper::service::service_fn(move |req| handle(shared.clone(), req));
                    let _ =
                        hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await;
                });
            }
            // Dropping the task (abort) drops `conns`, which aborts every connection.
        }));
    }

    /// The endpoint goes away: the listener closes and open connections are cut.
    pub fn stop(&mut self) {
        if let Some(s) = self.serving.take() {
            s.abort();
            let _ = self.runtime.block_on(s);
        }
    }

    /// The endpoint comes back on the same port.
    pub fn restart(&mut self) {
        let listener = self.runtime.block_on(TcpListener::bind(self.addr)).expect("rebinding the proxy's port");
        self.serve(listener);
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Shared {
    fn refuse(&self) -> bool {
        let mut s = self.rng.lock().unwrap();
        // xorshift64*
        *s ^= *s >> 12;
        *s ^= *s << 25;
        *s ^= *s >> 27;
        let v = (s.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 32) as u32;
        v < self.refuse_below
    }
}

type Reply = Response<Full<Bytes>>;

async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Result<Reply, hyper::Error> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await?.to_bytes();
    let target = parts.headers.get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    if target.ends_with(".PutRecords") && shared.refuse_below > 0 {
        return Ok(put_records(&shared, parts, body).await);
    }
    Ok(forward(&shared, parts, body).await)
}

async fn forward(shared: &Shared, parts: hyper::http::request::Parts, body: Bytes) -> Reply {
    let uri = format!("{}{}", shared.upstream, parts.uri.path_and_query().map_or("/", |p| p.as_str()));
    let mut b = Request::builder().method(parts.method).uri(uri);
    for (k, v) in &parts.headers {
        if k != "content-length" && k != "host" {
            b = b.header(k, v);
        }
    }
    let req = b.body(Full::new(body)).unwrap();
    match shared.client.request(req).await {
        Ok(resp) => {
            let (parts, body) = resp.into_parts();
            let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
            let mut r = Response::builder().status(parts.status);
            for (k, v) in &parts.headers {
                if k != "content-length" && k != "transfer-encoding" {
                    r = r.header(k, v);
                }
            }
            r.body(Full::new(body)).unwrap()
        }
        Err(e) => Response::builder().status(502).body(Full::new(Bytes::from(format!("upstream: {e}")))).unwrap(),
    }
}

async fn put_records(shared: &Shared, parts: hyper::http::request::Parts, body: Bytes) -> Reply {
    let ct = parts.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
    assert!(ct.contains("json"), "the fault proxy understands JSON PutRecords only, got {ct:?}");
    let mut call: Value = serde_json::from_slice(&body).expect("PutRecords body is JSON");
    let entries = call["Records"].as_array().cloned().unwrap_or_default();
    let refused: Vec<bool> = entries.iter().map(|_| shared.refuse()).collect();
    let kept: Vec<Value> = entries.iter().zip(&refused).filter(|(_, r)| !**r).map(|(e, _)| e.clone()).collect();
    // Sanity: the entries are base64 data, as the wire format says.
    for e in &kept {
        base64::engine::general_purpose::STANDARD.decode(e["Data"].as_str().unwrap_or("")).expect("base64 Data");
    }
    let n_refused = refused.iter().filter(|r| **r).count();
    shared.stats.refused.fetch_add(n_refused as u64, Ordering::Relaxed);
    shared.stats.forwarded.fetch_add(kept.len() as u64, Ordering::Relaxed);
    let mut upstream_records: Vec<Value> = Vec::new();
    let mut upstream_failed = 0;
    let mut content_type = "application/x-amz-json-1.1".to_string();
    if !kept.is_empty() {
        call["Records"] = Value::Array(kept);
        let reply = forward(shared, parts, Bytes::from(serde_json::to_vec(&call).unwrap())).await;
        if reply.status() != 200 {
            return reply;
        }
        if let Some(ct) = reply.headers().get("content-type").and_then(|v| v.to_str().ok()) {
            content_type = ct.to_string();
        }
        let body = reply.into_body().collect().await.unwrap().to_bytes();
        let v: Value = serde_json::from_slice(&body).expect("PutRecords reply is JSON");
        upstream_failed = v["FailedRecordCount"].as_u64().unwrap_or(0);
        upstream_records = v["Records"].as_array().cloned().unwrap_or_default();
    }
    let mut upstream = upstream_records.into_iter();
    let records: Vec<Value> = refused
        .iter()
        .map(|r| {
            if *r {
                serde_json::json!({
                    "ErrorCode": "ProvisionedThroughputExceededException",
                    "ErrorMessage": "Rate exceeded for shard (injected by the test proxy)"
                })
            } else {
                upstream.next().expect("one reply entry per forwarded entry")
            }
        })
        .collect();
    let reply = serde_json::json!({"FailedRecordCount": upstream_failed + n_refused as u64, "Records": records});
    Response::builder()
        .status(200)
        .header("content-type", content_type)
        .body(Full::new(Bytes::from(serde_json::to_vec(&reply).unwrap())))
        .unwrap()
}
