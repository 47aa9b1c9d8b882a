//! Distribution-style error bodies: `{"errors":[{"code","message","detail"}]}`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

pub(super) fn response(
    status: StatusCode,
    code: &str,
    message: &str,
    detail: Option<serde_json::Value>,
) -> Response {
    let mut error = serde_json::json!({"code": code, "message": message});
    if let Some(detail) = detail {
        error["detail"] = detail;
    }
    let body = serde_json::json!({"errors": [error]}).to_string();
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}

/// An error document with several entries, as registries send when more than one thing is
/// wrong (clients that keep only the first lose the rest).
pub(super) fn response_many(status: StatusCode, entries: &[(String, String)]) -> Response {
    let errors: Vec<serde_json::Value> = entries
        .iter()
        .map(|(code, message)| serde_json::json!({"code": code, "message": message}))
        .collect();
    let body = serde_json::json!({ "errors": errors }).to_string();
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}

/// The error code a registry would use with an injected status.
pub(super) fn code_for(status: StatusCode) -> &'static str {
    match status.as_u16() {
        401 => "UNAUTHORIZED",
        403 => "DENIED",
        404 => "BLOB_UNKNOWN",
        429 => "TOOMANYREQUESTS",
        _ => "UNAVAILABLE",
    }
}
