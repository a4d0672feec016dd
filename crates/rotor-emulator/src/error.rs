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
    /// `error.metadata`, when there is one (429s carry the rate-limit headers in it).
    pub metadata: Option<serde_json::Value>,
    /// Extra response headers (`X-RateLimit-*`).
    pub headers: Vec<(&'static str, String)>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            retry_after: None,
            metadata: None,
            headers: Vec::new(),
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
    /// 429 in OpenRouter's shape: the `X-RateLimit-*` headers (also echoed in
    /// `error.metadata.headers`) and, when given, `Retry-After`.
    pub fn rate_limited(retry_after: Option<u64>, headers: Vec<(&'static str, String)>) -> Self {
        let echoed: serde_json::Map<String, serde_json::Value> = headers
            .iter()
            .map(|(k, v)| {
                // OpenRouter's spelling (`X-RateLimit-Remaining`); HTTP/1 header names are
                // case-insensitive, `HeaderName`s lowercase.
                let name = k
                    .split('-')
                    .map(|part| match part {
                        "x" => "X".to_owned(),
                        "ratelimit" => "RateLimit".to_owned(),
                        p => {
                            let mut c = p.chars();
                            c.next()
                                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                                .unwrap_or_default()
                        }
                    })
                    .collect::<Vec<_>>()
                    .join("-");
                (name, json!(v))
            })
            .collect();
        ApiError {
            retry_after,
            metadata: Some(json!({ "headers": echoed, "provider_name": null })),
            headers,
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
        let mut error = json!({"code": self.status.as_u16(), "message": self.message});
        if let Some(metadata) = self.metadata {
            error["metadata"] = metadata;
        }
        let mut response = (self.status, Json(json!({ "error": error }))).into_response();
        for (name, value) in self.headers {
            if let Ok(v) = HeaderValue::from_str(&value) {
                response.headers_mut().insert(name, v);
            }
        }
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}
