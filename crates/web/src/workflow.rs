//! The alert workflow over HTTP.
//!
//! - `POST /api/findings/{id}/events` with a JSON change
//!   (`{"status", "assignee", "comment", "add_tags", "remove_tags",
//!   "case_id", "case_title"}`, any of them): appends one `finding_events`
//!   row and answers `201` with the finding's new state and history.
//! - `POST /api/cases` with `{"title": "…", "findings": [id, …]}`: opens a
//!   case and puts the findings in it (one event each, one commit).
//! - `GET /api/cases/{case_id}`: the findings now in the case, with their
//!   state.
//!
//! Changes are appended, never applied in place, so two analysts editing
//! one finding at once both keep their change (see
//! [`opensoc_lake::workflow`]).

use std::collections::HashSet;
use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use opensoc_lake::sql::SqlEngine;
use opensoc_lake::workflow::{self, Change, FindingEvent, FindingState};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::findings::{FINDING_ID_SQL, attach_states, check_id, events_of, rows, state_json};
use crate::{ApiError, AppState, Principal, sql_text};

/// Most findings one case request may name.
pub const MAX_CASE_FINDINGS: usize = 200;

/// A JSON body's rejection as a 4xx with axum's precise message.
pub fn json_error(e: JsonRejection) -> ApiError {
    let status = match &e {
        JsonRejection::MissingJsonContentType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        JsonRejection::BytesRejection(_) => StatusCode::PAYLOAD_TOO_LARGE,
        _ => StatusCode::BAD_REQUEST,
    };
    ApiError::new(status, e.body_text())
}

fn workflow_error(e: workflow::WorkflowError) -> ApiError {
    ApiError::bad_request(e.to_string())
}

/// Append events, mapping a failure to `503` (nothing was recorded).
async fn record(state: &AppState, events: &[FindingEvent]) -> Result<(), ApiError> {
    let lake = state.lake.current().await?;
    workflow::append(lake, events).await.map(|_| ()).map_err(|e| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the change could not be recorded in finding_events: {e}"),
        )
    })
}

/// Which of `ids` name a finding in the lake.
async fn existing(engine: &SqlEngine, ids: &[String]) -> Result<HashSet<String>, ApiError> {
    if ids.is_empty() || !engine.has_table("findings") {
        return Ok(HashSet::new());
    }
    let list: Vec<String> = ids.iter().map(|i| sql_text::text(i)).collect();
    let found = rows(
        engine,
        &format!(
            "SELECT DISTINCT id FROM (SELECT {FINDING_ID_SQL} AS id FROM findings) WHERE id IN ({})",
            list.join(", ")
        ),
    )
    .await?;
    Ok(found.into_iter().filter_map(|r| r["id"].as_str().map(String::from)).collect())
}

/// `POST /api/findings/{id}/events`.
pub async fn post_event(
    State(state): State<Arc<AppState>>,
    Extension(Principal(principal)): Extension<Principal>,
    Path(id): Path<String>,
    body: Result<Json<Change>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    check_id(&id)?;
    let id = id.to_ascii_lowercase();
    let Json(change) = body.map_err(json_error)?;
    let change = change.validated().map_err(workflow_error)?;
    let engine = state.lake.engine(state.config.query_limits).await?;
    if existing(&engine, std::slice::from_ref(&id)).await?.is_empty() {
        return Err(ApiError::new(StatusCode::NOT_FOUND, format!("no finding {id}")));
    }
    let event = FindingEvent::new(&id, &principal, state.config.via, opensoc_lake::rows::now_ns(), change);
    record(&state, std::slice::from_ref(&event)).await?;
    tracing::info!(finding = %id, principal = %principal, event = %event.event_id, "finding changed");
    // Read back what is stored now, concurrent changes included.
    let engine = state.lake.engine(state.config.query_limits).await?;
    let events = events_of(&engine, std::slice::from_ref(&id)).await?.remove(&id).unwrap_or_default();
    let mut body = state_json(&events);
    if let Some(o) = body.as_object_mut() {
        o.insert("finding_id".into(), json!(id));
        o.insert("event".into(), json!(event));
    }
    Ok((StatusCode::CREATED, Json(body)))
}

/// The body of `POST /api/cases`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewCase {
    /// What the case is about.
    pub title: String,
    /// The findings it groups.
    pub findings: Vec<String>,
    /// An optional first comment, recorded on every finding.
    #[serde(default)]
    pub comment: Option<String>,
}

/// `POST /api/cases`.
pub async fn create_case(
    State(state): State<Arc<AppState>>,
    Extension(Principal(principal)): Extension<Principal>,
    body: Result<Json<NewCase>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let Json(req) = body.map_err(json_error)?;
    if req.findings.is_empty() || req.findings.len() > MAX_CASE_FINDINGS {
        return Err(ApiError::bad_request(format!("findings: give 1 to {MAX_CASE_FINDINGS} finding ids")));
    }
    let mut ids = Vec::new();
    for id in &req.findings {
        check_id(id)?;
        let id = id.to_ascii_lowercase();
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    let case_id = workflow::new_case_id();
    let change = Change {
        case_id: Some(case_id.clone()),
        case_title: Some(req.title.clone()),
        comment: req.comment.clone(),
        ..Change::default()
    }
    .validated()
    .map_err(workflow_error)?;
    if change.case_title.as_deref().is_none_or(str::is_empty) {
        return Err(ApiError::bad_request("title: a case needs a title"));
    }
    let engine = state.lake.engine(state.config.query_limits).await?;
    let found = existing(&engine, &ids).await?;
    let missing: Vec<&String> = ids.iter().filter(|i| !found.contains(*i)).collect();
    if !missing.is_empty() {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no finding {}", missing.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")),
        ));
    }
    let now = opensoc_lake::rows::now_ns();
    let events: Vec<FindingEvent> =
        ids.iter().map(|id| FindingEvent::new(id, &principal, state.config.via, now, change.clone())).collect();
    record(&state, &events).await?;
    tracing::info!(case = %case_id, findings = ids.len(), principal = %principal, "case opened");
    let engine = state.lake.engine(state.config.query_limits).await?;
    Ok((StatusCode::CREATED, Json(case_json(&engine, &case_id).await?)))
}

/// `GET /api/cases/{case_id}`.
pub async fn get_case(
    State(state): State<Arc<AppState>>,
    Path(case_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let case_id = workflow::clean_case_id(&case_id).map_err(workflow_error)?;
    let engine = state.lake.engine(state.config.query_limits).await?;
    let case = case_json(&engine, &case_id).await?;
    if case["findings"].as_array().is_none_or(Vec::is_empty) && case["title"].is_null() {
        return Err(ApiError::new(StatusCode::NOT_FOUND, format!("no case {case_id}")));
    }
    Ok(Json(case))
}

/// A case: its id, title and the findings in it now (a finding that left
/// it, or moved to another case, is not listed).
pub async fn case_json(engine: &SqlEngine, case_id: &str) -> Result<Value, ApiError> {
    let mut candidates = Vec::new();
    let mut title = Value::Null;
    if engine.has_table("finding_events") {
        let found = rows(
            engine,
            &format!(
                "SELECT DISTINCT finding_id FROM finding_events WHERE case_id = {} ORDER BY finding_id",
                sql_text::text(case_id)
            ),
        )
        .await?;
        candidates = found.into_iter().filter_map(|r| r["finding_id"].as_str().map(String::from)).collect();
    }
    let events = events_of(engine, &candidates).await?;
    let members: Vec<String> = candidates
        .into_iter()
        .filter(|id| {
            let st = FindingState::fold(events.get(id).map(Vec::as_slice).unwrap_or_default());
            if st.case_id.as_deref() == Some(case_id) {
                if st.case_title.is_some() {
                    title = json!(st.case_title);
                }
                true
            } else {
                false
            }
        })
        .collect();
    let mut findings = Vec::new();
    if !members.is_empty() && engine.has_table("findings") {
        let list: Vec<String> = members.iter().map(|i| sql_text::text(i)).collect();
        findings = rows(
            engine,
            &format!(
                "SELECT * FROM (SELECT {FINDING_ID_SQL} AS id, time, time_ns, rule, score, severity, src_ip, dst_ip, \
                 indicator FROM findings) WHERE id IN ({}) ORDER BY time_ns",
                list.join(", ")
            ),
        )
        .await?;
        attach_states(engine, &mut findings).await?;
    }
    Ok(json!({ "case_id": case_id, "title": title, "findings": findings }))
}
