//! Keeping threat-intelligence feeds current: each feed is fetched (a local
//! file, `http(s)://` or `s3://`) and loaded into the `intel` table when its
//! content changed since the last sync — the feed's SHA-256 is part of the
//! `feed_file` it is stored under, so an unchanged feed costs one download
//! and one lookup. A feed that cannot be fetched or read is reported and the
//! others go on. `opensoc intel sync` and the maintain function's schedule
//! call [`sync`].

use std::time::Duration;

use opensoc_enrich::intel::{intel_batch, load_bytes};
use opensoc_schemas::Table;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::intel::Strs;
use crate::sql::SqlEngine;
use crate::{Lake, LakeError};

/// Largest feed fetched (as the loaders accept).
pub const MAX_FEED_BYTES: u64 = 1 << 30;

/// How long one HTTP fetch may take.
const HTTP_TIMEOUT: Duration = Duration::from_secs(120);

/// One feed to keep in the lake.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Feed {
    /// `https://…`, `s3://bucket/key`, `file:///path` or a path.
    pub url: String,
    /// The source name its indicators get (default: the file name).
    pub source: Option<String>,
    /// Read as CSV (else JSON by its first character, else a plain list).
    #[serde(default)]
    pub csv: bool,
}

/// What a sync did with one feed.
#[derive(Debug, Clone, Serialize)]
pub struct FeedSync {
    /// The feed.
    pub url: String,
    /// Its source name.
    pub source: String,
    /// `loaded`, `unchanged` or `failed`.
    pub status: &'static str,
    /// Indicators loaded (0 when unchanged or failed).
    pub indicators: usize,
    /// Items of the feed that could not be read.
    pub bad_items: usize,
    /// The first bad items, or why the feed failed.
    pub errors: Vec<String>,
    /// SHA-256 of the content (hex), when fetched.
    pub sha256: Option<String>,
}

fn source_of(feed: &Feed) -> String {
    feed.source.clone().unwrap_or_else(|| {
        let name = feed.url.trim_end_matches('/').rsplit('/').next().unwrap_or("feed");
        let stem = name.split('.').next().filter(|s| !s.is_empty()).unwrap_or("feed");
        stem.to_string()
    })
}

/// Fetch a feed's bytes (at most [`MAX_FEED_BYTES`]).
pub async fn fetch(url: &str) -> Result<Vec<u8>, String> {
    if let Some((bucket, key)) = crate::location::split_s3_uri(url) {
        if key.is_empty() {
            return Err("an s3:// address needs a key".into());
        }
        let store = crate::location::s3_store(bucket)?;
        let got = store
            .get_opts(&object_store::path::Path::from(key), object_store::GetOptions::default())
            .await
            .map_err(|e| e.to_string())?;
        if got.meta.size > MAX_FEED_BYTES {
            return Err(format!("{} bytes, over the {MAX_FEED_BYTES}-byte limit", got.meta.size));
        }
        return got.bytes().await.map(|b| b.to_vec()).map_err(|e| e.to_string());
    }
    if url.starts_with("http://") || url.starts_with("https://") {
        let client = reqwest::Client::builder().timeout(HTTP_TIMEOUT).build().map_err(|e| e.to_string())?;
        let mut resp = client.get(url).send().await.map_err(|e| e.to_string())?;
        if !resp.status().is_success() {
            return Err(format!("HTTP {}", resp.status()));
        }
        if resp.content_length().is_some_and(|n| n > MAX_FEED_BYTES) {
            return Err(format!("over the {MAX_FEED_BYTES}-byte limit"));
        }
        let mut out = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| e.to_string())? {
            out.extend_from_slice(&chunk);
            if out.len() as u64 > MAX_FEED_BYTES {
                return Err(format!("over the {MAX_FEED_BYTES}-byte limit"));
            }
        }
        return Ok(out);
    }
    let path = url.strip_prefix("file://").unwrap_or(url);
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if meta.len() > MAX_FEED_BYTES {
        return Err(format!("{} bytes, over the {MAX_FEED_BYTES}-byte limit", meta.len()));
    }
    std::fs::read(path).map_err(|e| e.to_string())
}

/// Whether the newest load of `feed` is the one stored as `feed_file` (the
/// same content): then nothing changed. An older load with the same
/// content does not count: the feed changed since, and back.
async fn already_loaded(lake: &Lake, feed: &str, feed_file: &str) -> Result<bool, LakeError> {
    if lake.table(Table::Intel).await?.version().unwrap_or(0) == 0 {
        return Ok(false);
    }
    let engine = SqlEngine::new(lake).await?;
    let quoted = feed.replace('\'', "''");
    let sql = format!(
        "SELECT feed_file FROM intel WHERE {} = '{quoted}' ORDER BY loaded_at DESC LIMIT 1",
        crate::intel::FEED_OF_ROW
    );
    let (_, batches) = engine.query(&sql).await?;
    let newest = batches.iter().find(|b| b.num_rows() > 0).and_then(|b| Strs::of(b.column(0)));
    Ok(newest.is_some_and(|s| !s.is_null(0) && s.value(0) == feed_file))
}

/// Fetch every feed and load those whose content changed, one commit per
/// feed. Only the lake failing is an `Err`.
pub async fn sync(lake: &Lake, feeds: &[Feed]) -> Result<Vec<FeedSync>, LakeError> {
    let mut out = Vec::with_capacity(feeds.len());
    for feed in feeds {
        let source = source_of(feed);
        let mut report = FeedSync {
            url: feed.url.clone(),
            source: source.clone(),
            status: "failed",
            indicators: 0,
            bad_items: 0,
            errors: Vec::new(),
            sha256: None,
        };
        let bytes = match fetch(&feed.url).await {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(url = %feed.url, error = %e, "intel feed not fetched");
                report.errors.push(format!("fetching: {e}"));
                out.push(report);
                continue;
            }
        };
        let digest = hex(&Sha256::digest(&bytes));
        let feed_file = format!("{}#sha256={digest}", feed.url);
        report.sha256 = Some(digest);
        if already_loaded(lake, &feed.url, &feed_file).await? {
            report.status = "unchanged";
            out.push(report);
            continue;
        }
        let loaded = match load_bytes(&bytes, feed.csv, &source) {
            Ok(l) => l,
            Err(e) => {
                report.errors.push(format!("reading: {e}"));
                out.push(report);
                continue;
            }
        };
        report.bad_items = loaded.errors.len();
        report.errors = loaded.errors.into_iter().take(20).collect();
        report.indicators = loaded.indicators.len();
        if !loaded.indicators.is_empty() {
            let now = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default();
            let batch = intel_batch(&loaded.indicators, &feed_file, now)
                .map_err(|e| LakeError::Enrich(format!("intel rows of {}: {e}", feed.url)))?;
            lake.append(Table::Intel, vec![batch], None).await?;
        }
        report.status = "loaded";
        tracing::info!(url = %feed.url, source, indicators = report.indicators, bad_items = report.bad_items, "intel feed loaded");
        out.push(report);
    }
    Ok(out)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
