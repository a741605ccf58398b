//! The one error policy of the HTTP surface.
//!
//! Every error is `{"error":{"code":"…","message":"…"}}`. The sender's mistakes are 4xx and say what
//! is wrong; only "the message could not be durably queued" is a 5xx (503), so that gateways retry it.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// An error answered to an HTTP caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// 400 `invalid_json`: the body is not JSON.
    #[error("{0}")]
    InvalidJson(String),
    /// 400 `invalid_payload`: JSON, but a field is missing or wrong (the message names it).
    #[error("{0}")]
    InvalidPayload(String),
    /// 401 `invalid_signature`.
    #[error("{0}")]
    InvalidSignature(String),
    /// 401 `unauthorized`: a bearer token (the playground's) is missing or wrong.
    #[error("{0}")]
    Unauthorized(String),
    /// 403 `forbidden`.
    #[error("{0}")]
    Forbidden(String),
    /// 404 `not_found`.
    #[error("{0}")]
    NotFound(String),
    /// 405 `method_not_allowed`.
    #[error("this route does not take that method")]
    MethodNotAllowed,
    /// 408 `request_timeout`: the sender was too slow.
    #[error("the request took too long")]
    Timeout,
    /// 413 `payload_too_large`.
    #[error("the body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    /// 415 `unsupported_media_type`.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 503 `unavailable`: the message could not be durably queued; retry.
    #[error("{0}")]
    Unavailable(String),
    /// 500 `internal`: a bug; never the sender's fault.
    #[error("internal error")]
    Internal,
}

impl ApiError {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::InvalidJson(_) | ApiError::InvalidPayload(_) => StatusCode::BAD_REQUEST,
            ApiError::InvalidSignature(_) | ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Timeout => StatusCode::REQUEST_TIMEOUT,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::InvalidJson(_) => "invalid_json",
            ApiError::InvalidPayload(_) => "invalid_payload",
            ApiError::InvalidSignature(_) => "invalid_signature",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::Timeout => "request_timeout",
            ApiError::PayloadTooLarge(_) => "payload_too_large",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Internal => "internal",
        }
    }

    /// The outcome label of the webhook metric.
    pub fn outcome(&self) -> &'static str {
        match self {
            ApiError::InvalidJson(_) | ApiError::InvalidPayload(_) => "invalid",
            ApiError::InvalidSignature(_) | ApiError::Unauthorized(_) | ApiError::Forbidden(_) => {
                "unauthorized"
            }
            ApiError::PayloadTooLarge(_) | ApiError::UnsupportedMediaType(_) | ApiError::Timeout => {
                "rejected"
            }
            ApiError::Unavailable(_) => "unavailable",
            ApiError::NotFound(_) | ApiError::MethodNotAllowed | ApiError::Internal => "error",
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": {"code": self.code(), "message": self.to_string()}});
        (self.status(), Json(body)).into_response()
    }
}

impl From<crate::domain::ParseError> for ApiError {
    fn from(e: crate::domain::ParseError) -> Self {
        match e {
            crate::domain::ParseError::InvalidJson(m) => {
                ApiError::InvalidJson(format!("the body is not JSON: {m}"))
            }
            crate::domain::ParseError::InvalidPayload(m) => ApiError::InvalidPayload(m),
        }
    }
}
