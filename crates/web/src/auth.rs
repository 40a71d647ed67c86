//! Who may call the API, and who they are (the carve audit records it).
//!
//! - [`Auth::Open`]: anyone who reaches the port (`opensoc serve` listens on
//!   localhost by default); the principal is the local user.
//! - [`Auth::Token`]: `Authorization: Bearer TOKEN`, compared in constant time.
//! - [`Auth::Attached`]: an adapter in front of the router has already
//!   authenticated the caller and attached a [`Principal`] to the request
//!   (the Lambda functions: the IAM identity of a signed function-URL call).
//!   A request without one is refused.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::{ApiError, AppState};

/// The authenticated caller, as a request extension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal(pub String);

/// How callers are authenticated.
#[derive(Debug, Clone)]
pub enum Auth {
    /// No check; every caller is `principal`.
    Open {
        /// Recorded as the caller.
        principal: String,
    },
    /// A shared bearer token.
    Token(String),
    /// The caller's [`Principal`] is attached by the adapter in front.
    Attached,
}

/// Equal bytes, in time that depends only on the lengths.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The middleware in front of every `/api/` route.
pub async fn require(State(state): State<Arc<AppState>>, mut req: Request, next: Next) -> Response {
    match &state.config.auth {
        Auth::Open { principal } => {
            req.extensions_mut().insert(Principal(principal.clone()));
        }
        Auth::Token(token) => {
            let given = req
                .headers()
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")));
            match given {
                None => return unauthorized("missing credentials: send Authorization: Bearer TOKEN"),
                Some(g) if !constant_time_eq(g.trim().as_bytes(), token.as_bytes()) => {
                    return unauthorized("the token is not valid");
                }
                Some(_) => {
                    req.extensions_mut().insert(Principal("token".into()));
                }
            }
        }
        Auth::Attached => {
            if req.extensions().get::<Principal>().is_none() {
                return unauthorized(
                    "the request is not signed: call the function URL with AWS SigV4 (IAM) credentials",
                );
            }
        }
    }
    next.run(req).await
}

fn unauthorized(message: &str) -> Response {
    let mut r = ApiError::new(StatusCode::UNAUTHORIZED, message).into_response();
    r.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer realm=\"opensoc\""));
    r
}

#[cfg(test)]
mod tests {
    use super::constant_time_eq;

    #[test]
    fn tokens_compare_by_content_and_length() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(!constant_time_eq(b"", b"a"));
    }
}
