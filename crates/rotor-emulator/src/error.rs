//! OpenRouter's error envelope: `{"error":{"code":<int>,"message":<str>}}`, HTTP status == code.

use axum::{
    Json,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::json;

/// An error answered in OpenRouter's envelope.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            retry_after: None,
        }
    }
    pub fn bad_request(detail: impl AsRef<str>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            format!("Invalid request parameters: {}", detail.as_ref()),
        )
    }
    pub fn missing_auth() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "Missing Authentication header")
    }
    pub fn user_not_found() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "User not found.")
    }
    pub fn management_only() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "Only management keys can perform this operation",
        )
    }
    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "Resource not found")
    }
    pub fn internal() -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
    }
    pub fn rate_limited(retry_after: u64) -> Self {
        ApiError {
            retry_after: Some(retry_after),
            ..Self::new(StatusCode::TOO_MANY_REQUESTS, "Rate limit exceeded")
        }
    }

    /// The message OpenRouter uses for `status` (for injected faults).
    pub fn for_status(status: StatusCode, retry_after: Option<u64>) -> Self {
        let message = match status.as_u16() {
            400 => "Invalid request parameters",
            401 => "User not found.",
            402 => "Insufficient credits",
            403 => "Only management keys can perform this operation",
            404 => "Resource not found",
            429 => "Rate limit exceeded",
            500 => "Internal Server Error",
            _ => status.canonical_reason().unwrap_or("Error"),
        };
        ApiError {
            retry_after,
            ..Self::new(status, message)
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": {"code": self.status.as_u16(), "message": self.message}});
        let mut response = (self.status, Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}
