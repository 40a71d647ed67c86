//! # opensoc-web
//!
//! The investigator's side of OpenSOC over HTTP: one [`axum`] router that
//! `opensoc serve` runs on a local port and the query and carve Lambda
//! functions run behind their function URLs.
//!
//! | route | what |
//! |---|---|
//! | `GET /` , `GET /assets/*` | the page (embedded, works offline) |
//! | `POST /api/query?format=json\|csv\|arrow` | read-only SQL; the body is the SQL |
//! | `GET /api/carve?community_id=…&from=…&to=…` | PCAP of matching packets (also `host`, `net`, `port`, `proto`, `sensor`, `filter`, `format`) |
//! | `GET /api/findings?severity=…&rule=…&host=…&from=…&to=…` | the alert queue, by triage score |
//! | `GET /api/findings?…&status=open&assignee=…&tag=…&text=…&case=…` | the same, by workflow state |
//! | `GET /api/findings/{id}` | one finding with its context: enrichment, intel, related rows, timeline, workflow state and history, related findings, case |
//! | `POST /api/findings/{id}/events` | change a finding: `{"status", "assignee", "comment", "add_tags", "remove_tags", "case_id"}` |
//! | `POST /api/cases`, `GET /api/cases/{case_id}` | group findings into a case; the case's findings |
//! | `GET /api/config` | what the page needs to know (limits, where carve lives) |
//!
//! Every error is JSON `{"error": "…"}` with a 4xx status when the request
//! is at fault; no input reaches a panic or a 500.

pub mod assets;
pub mod auth;
pub mod carve;
pub mod env;
pub mod error;
pub mod findings;
pub mod lake;
#[cfg(feature = "lambda")]
pub mod lambda;
pub mod query;
pub mod sql_text;
pub mod workflow;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use opensoc_lake::carve::CarveLimits;
use opensoc_lake::carve::delivery::S3Delivery;
use opensoc_lake::sql::QueryLimits;

pub use auth::{Auth, Principal};
pub use error::ApiError;
pub use lake::SharedLake;

/// Which routes a router answers: `opensoc serve` answers all; the query
/// function the page, SQL and findings; the carve function carving.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Everything.
    All,
    /// The page, `/api/query`, `/api/findings` (with the workflow),
    /// `/api/cases`, `/api/config`.
    Query,
    /// `/api/carve` (and `/api/config`).
    Carve,
}

/// Settings of the HTTP side.
#[derive(Debug)]
pub struct WebConfig {
    /// Routes answered.
    pub role: Role,
    /// Who may call the API.
    pub auth: Auth,
    /// `cli`, `serve` or `function`: recorded in the carve audit and the
    /// workflow events.
    pub via: &'static str,
    /// Limits of `/api/query`.
    pub query_limits: QueryLimits,
    /// Limits of `/api/carve`.
    pub carve_limits: CarveLimits,
    /// Carves larger than this many bytes go to [`WebConfig::delivery`]
    /// when it is set (Lambda answers at most 6 MB).
    pub inline_max_bytes: u64,
    /// Where large carves go, with presigned URLs.
    pub delivery: Option<S3Delivery>,
    /// Where the page sends carve requests when another function answers
    /// them (`None`: this server's `/api/carve`).
    pub carve_url: Option<String>,
    /// Largest request body accepted (the SQL), bytes.
    pub max_body_bytes: usize,
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            role: Role::All,
            auth: Auth::Open { principal: "local".into() },
            via: "serve",
            query_limits: QueryLimits::default(),
            carve_limits: CarveLimits::default(),
            inline_max_bytes: u64::MAX,
            delivery: None,
            carve_url: None,
            max_body_bytes: 64 << 10,
        }
    }
}

/// What every handler shares.
pub struct AppState {
    /// The lake.
    pub lake: SharedLake,
    /// Settings.
    pub config: WebConfig,
}

/// The router for `state`'s role.
pub fn router(state: AppState) -> Router {
    let state = Arc::new(state);
    let role = state.config.role;
    let mut api = Router::new().route("/api/config", get(assets::config));
    if matches!(role, Role::All | Role::Query) {
        api = api
            .route("/api/query", post(query::handle))
            .route("/api/findings", get(findings::queue))
            .route("/api/findings/{id}", get(findings::one))
            .route("/api/findings/{id}/events", post(workflow::post_event))
            .route("/api/cases", post(workflow::create_case))
            .route("/api/cases/{case_id}", get(workflow::get_case));
    }
    if matches!(role, Role::All | Role::Carve) {
        api = api.route("/api/carve", get(carve::handle));
    }
    let api = api
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), auth::require))
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes));
    let mut app = Router::new().merge(api);
    if matches!(role, Role::All | Role::Query) {
        app = app.route("/", get(assets::index)).route("/assets/{file}", get(assets::file));
    }
    app.fallback(error::not_found).with_state(state)
}
