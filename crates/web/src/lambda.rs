//! The router behind a Lambda function URL (feature `lambda`).
//!
//! The function URL's `AWS_IAM` auth lets in only SigV4-signed requests of
//! principals allowed to invoke it; the signer's identity arrives in the
//! event (`requestContext.authorizer.iam`). This adapter makes it the
//! request's [`Principal`], refuses a request without one (401: the URL was
//! opened without auth) and, when `OPENSOC_INVESTIGATORS` names principals,
//! one that is not among them (403).

use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use lambda_http::RequestExt;
use lambda_http::request::RequestContext;

use crate::{ApiError, Principal};

/// Whether `caller` (the signer's ARN) is one of `allowed`: the same ARN,
/// or a session of an allowed role (`arn:aws:sts::ACCOUNT:assumed-role/NAME/SESSION`
/// for `arn:aws:iam::ACCOUNT:role/[PATH/]NAME`). Everyone when `allowed` is empty.
pub fn principal_allowed(caller: &str, allowed: &[String]) -> bool {
    if allowed.is_empty() {
        return true;
    }
    let session_of = |role: &str| -> Option<(String, String)> {
        let rest = role.strip_prefix("arn:aws:iam::")?;
        let (account, path) = rest.split_once(":role/")?;
        let name = path.rsplit('/').next()?;
        Some((account.to_string(), name.to_string()))
    };
    let caller_role = caller
        .strip_prefix("arn:aws:sts::")
        .and_then(|r| r.split_once(":assumed-role/"))
        .and_then(|(account, rest)| rest.split('/').next().map(|name| (account.to_string(), name.to_string())));
    allowed.iter().any(|a| a == caller || (caller_role.is_some() && session_of(a) == caller_role))
}

/// The signer's ARN in a function URL event.
fn signer(req: &Request) -> Option<String> {
    match req.request_context_ref()? {
        RequestContext::ApiGatewayV2(ctx) => ctx.authorizer.as_ref()?.iam.as_ref()?.user_arn.clone(),
        _ => None,
    }
}

/// Middleware: attach the signer as the [`Principal`], or refuse.
pub async fn attach_principal(allowed: std::sync::Arc<Vec<String>>, mut req: Request, next: Next) -> Response {
    let Some(arn) = signer(&req) else {
        return ApiError::new(
            StatusCode::UNAUTHORIZED,
            "the request carries no IAM identity: the function URL must use AWS_IAM auth and the request be SigV4-signed",
        )
        .into_response();
    };
    if !principal_allowed(&arn, &allowed) {
        return ApiError::new(StatusCode::FORBIDDEN, format!("{arn} is not among the investigators allowed here"))
            .into_response();
    }
    req.extensions_mut().insert(Principal(arn));
    next.run(req).await
}

/// The whole function: JSON logs, the lake of `OPENSOC_LAKE`, the settings
/// of [`WebConfig::from_env`](crate::WebConfig::from_env) for `role`, and
/// the router behind the function URL, callers checked against
/// `OPENSOC_INVESTIGATORS`.
pub async fn run_function(role: crate::Role) -> Result<(), lambda_http::Error> {
    use anyhow::Context as _;
    opensoc_lake::function::init_logs();
    let location = opensoc_lake::function::lake_from_env()?;
    let config = crate::WebConfig::from_env(role).context("the function's environment")?;
    // The carve function reads only the packets table (and appends to
    // carve_audit); every table it does not open is one log read less.
    let lake = match role {
        crate::Role::Carve => {
            let tables = [opensoc_schemas::Table::Packets, opensoc_schemas::Table::CarveAudit];
            opensoc_lake::Lake::open_existing_tables(location, &tables).await
        }
        _ => opensoc_lake::Lake::open_existing(location).await,
    }
    .context("opening the lake")?;
    let router = crate::router(crate::AppState { lake: crate::SharedLake::new(lake), config });
    run(router, crate::env::investigators()).await
}

/// Serve `router` as the function's handler, callers checked against `allowed`.
pub async fn run(router: axum::Router, allowed: Vec<String>) -> Result<(), lambda_http::Error> {
    let allowed = std::sync::Arc::new(allowed);
    let app = router.layer(axum::middleware::from_fn(move |req, next| attach_principal(allowed.clone(), req, next)));
    lambda_http::run(app).await
}

#[cfg(test)]
mod tests {
    use super::principal_allowed;

    #[test]
    fn roles_allow_their_sessions_and_nothing_else() {
        let allowed = vec!["arn:aws:iam::111122223333:role/soc/Investigator".to_string()];
        assert!(principal_allowed("arn:aws:sts::111122223333:assumed-role/Investigator/alice", &allowed));
        assert!(principal_allowed("arn:aws:iam::111122223333:role/soc/Investigator", &allowed));
        assert!(!principal_allowed("arn:aws:sts::999999999999:assumed-role/Investigator/mallory", &allowed));
        assert!(!principal_allowed("arn:aws:sts::111122223333:assumed-role/Admin/bob", &allowed));
        assert!(!principal_allowed("arn:aws:iam::111122223333:user/Investigator", &allowed));
        assert!(principal_allowed("anything", &[]));
    }
}
