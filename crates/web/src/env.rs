//! [`WebConfig`] from the environment, as the query and carve functions
//! take it (the Terraform module sets these):
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `OPENSOC_QUERY_TIMEOUT_SECONDS` | 30 | longest query |
//! | `OPENSOC_QUERY_MAX_ROWS` | 10000 | rows returned, then cut |
//! | `OPENSOC_QUERY_MEMORY_MIB` | 512 | memory of joins, sorts, aggregates |
//! | `OPENSOC_CARVE_MAX_PACKETS` | 1000000 | packets one carve delivers |
//! | `OPENSOC_CARVE_MAX_MIB` | 1024 | packet data one carve delivers |
//! | `OPENSOC_CARVE_MAX_SPAN_HOURS` | 24 | time range one carve spans |
//! | `OPENSOC_CARVE_OUTPUT` | — | `s3://bucket/prefix/` for carves too large to answer inline |
//! | `OPENSOC_CARVE_URL_SECONDS` | 3600 | lifetime of their presigned URLs |
//! | `OPENSOC_CARVE_INLINE_KIB` | 4096 | largest carve answered inline (Lambda answers ≤ 6 MB, base64 adds a third) |
//! | `OPENSOC_CARVE_URL` | `/api/carve` | where the page sends carve requests |
//! | `OPENSOC_INVESTIGATORS` | — | IAM ARNs allowed (comma-separated; empty: every signed caller the function URL lets in) |

use std::time::Duration;

use opensoc_lake::carve::CarveLimits;
use opensoc_lake::carve::delivery::S3Delivery;
use opensoc_lake::sql::QueryLimits;

use crate::{Auth, Role, WebConfig};

/// A setting that is not usable.
#[derive(Debug, thiserror::Error)]
#[error("{name}={value:?}: {reason}")]
pub struct EnvError {
    /// The variable.
    pub name: &'static str,
    /// Its value.
    pub value: String,
    /// Why it is not usable.
    pub reason: String,
}

fn number(name: &'static str, default: u64) -> Result<u64, EnvError> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v.trim().parse::<u64>().ok().filter(|n| *n > 0).ok_or(EnvError {
            name,
            value: v,
            reason: "must be a whole number above 0".into(),
        }),
        _ => Ok(default),
    }
}

fn text(name: &'static str) -> Option<String> {
    std::env::var(name).ok().map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
}

/// The IAM principals allowed by `OPENSOC_INVESTIGATORS` (empty: all).
pub fn investigators() -> Vec<String> {
    text("OPENSOC_INVESTIGATORS")
        .map(|v| v.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect())
        .unwrap_or_default()
}

impl WebConfig {
    /// The settings of a function answering `role`, from the environment;
    /// callers are authenticated by the adapter in front ([`Auth::Attached`]).
    pub fn from_env(role: Role) -> Result<WebConfig, EnvError> {
        let query_limits = QueryLimits {
            timeout: Some(Duration::from_secs(number("OPENSOC_QUERY_TIMEOUT_SECONDS", 30)?)),
            max_rows: number("OPENSOC_QUERY_MAX_ROWS", 10_000)? as usize,
            memory_bytes: Some((number("OPENSOC_QUERY_MEMORY_MIB", 512)? as usize) << 20),
        };
        let carve_limits = CarveLimits {
            max_packets: number("OPENSOC_CARVE_MAX_PACKETS", 1_000_000)?,
            max_bytes: number("OPENSOC_CARVE_MAX_MIB", 1024)? << 20,
            max_span_ns: Some(number("OPENSOC_CARVE_MAX_SPAN_HOURS", 24)? as i64 * 3_600_000_000_000),
        };
        let expires = Duration::from_secs(number("OPENSOC_CARVE_URL_SECONDS", 3600)?);
        let carves = matches!(role, Role::All | Role::Carve);
        let delivery = match text("OPENSOC_CARVE_OUTPUT").filter(|_| carves) {
            Some(uri) => Some(S3Delivery::new(&uri, expires).map_err(|e| EnvError {
                name: "OPENSOC_CARVE_OUTPUT",
                value: uri.clone(),
                reason: e.to_string(),
            })?),
            None => None,
        };
        Ok(WebConfig {
            role,
            auth: Auth::Attached,
            via: "function",
            query_limits,
            carve_limits,
            inline_max_bytes: number("OPENSOC_CARVE_INLINE_KIB", 4096)? << 10,
            delivery,
            carve_url: text("OPENSOC_CARVE_URL"),
            max_body_bytes: 64 << 10,
        })
    }
}
