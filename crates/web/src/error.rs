//! Errors as HTTP answers: a status and `{"error": "…"}`.

use axum::Json;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use opensoc_lake::LakeError;
use opensoc_lake::carve::CarveError;
use opensoc_lake::sql::QueryError;

/// An error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The status.
    pub status: StatusCode,
    /// What went wrong, for a person.
    pub message: String,
}

impl ApiError {
    /// An error with this status.
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError { status, message: message.into() }
    }

    /// 400: the request is malformed.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    /// 500: our fault; logged.
    pub fn internal(message: impl Into<String>) -> ApiError {
        let message = message.into();
        tracing::error!(error = %message, "request failed");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(status = self.status.as_u16(), error = %self.message, "request failed");
        } else {
            tracing::info!(status = self.status.as_u16(), error = %self.message, "request refused");
        }
        (self.status, Json(serde_json::json!({ "error": self.message }))).into_response()
    }
}

/// Whether an execution error came from storage rather than the query.
fn is_storage_failure(message: &str) -> bool {
    ["Object Store error", "ObjectStore", "IO error", "Generic S3 error"].iter().any(|m| message.contains(m))
}

impl From<QueryError> for ApiError {
    fn from(e: QueryError) -> Self {
        let status = match &e {
            QueryError::Refused(_) => StatusCode::FORBIDDEN,
            QueryError::Invalid(_) => StatusCode::BAD_REQUEST,
            QueryError::Limit(_) => StatusCode::UNPROCESSABLE_ENTITY,
            QueryError::Execution(m) if is_storage_failure(m) => StatusCode::BAD_GATEWAY,
            // Casts that fail, division by zero, overflow: the query's doing.
            QueryError::Execution(_) => StatusCode::UNPROCESSABLE_ENTITY,
        };
        ApiError::new(status, e.to_string())
    }
}

impl From<CarveError> for ApiError {
    fn from(e: CarveError) -> Self {
        let status = match &e {
            CarveError::InvalidFilter(_) | CarveError::MixedLinkTypes(_) => StatusCode::BAD_REQUEST,
            CarveError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            CarveError::Query(q) => return ApiError::from(q.clone()),
            CarveError::Damaged(_) | CarveError::Io(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, e.to_string())
    }
}

impl From<LakeError> for ApiError {
    fn from(e: LakeError) -> Self {
        match e {
            LakeError::Query(q) => q.into(),
            LakeError::Carve(c) => c.into(),
            LakeError::MissingTable(t) => {
                ApiError::new(StatusCode::NOT_FOUND, format!("table {t} does not exist in this lake yet"))
            }
            other => ApiError::new(StatusCode::BAD_GATEWAY, format!("the lake cannot be read: {other}")),
        }
    }
}

/// 404 for paths no route answers.
pub async fn not_found(uri: Uri) -> ApiError {
    let path: String = uri.path().chars().take(200).collect();
    ApiError::new(StatusCode::NOT_FOUND, format!("no such path: {path}"))
}
