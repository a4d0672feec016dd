//! Turning OpenRouter's answers into [`Error`]s: the lenient error-envelope parse, `Retry-After`,
//! and the scrubbing that keeps keys out of every message.

use std::time::{Duration, SystemTime};

use reqwest::{StatusCode, header::HeaderMap};

use crate::Error;

/// Longest message (in characters) taken from a response body or a transport error.
pub(crate) const MAX_MESSAGE_CHARS: usize = 300;

/// The prefix of every OpenRouter key.
const KEY_PREFIX: &str = "sk-or-v1-";

/// Replaces everything that looks like an OpenRouter key (`sk-or-v1-` and the key characters
/// after it) with `sk-or-v1-[redacted]`, and every occurrence of the `known` secrets (the keys the
/// call used, whatever their shape) with `[redacted]`.
pub(crate) fn scrub(text: &str, known: &[&str]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find(KEY_PREFIX) {
        out.push_str(&rest[..pos]);
        out.push_str(KEY_PREFIX);
        out.push_str("[redacted]");
        let after = &rest[pos + KEY_PREFIX.len()..];
        let end = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
            .unwrap_or(after.len());
        rest = &after[end..];
    }
    out.push_str(rest);
    for secret in known {
        // A secret shorter than this is no secret (and replacing it would mangle the text).
        if secret.len() >= 8 && out.contains(secret) {
            out = out.replace(secret, "[redacted]");
        }
    }
    out
}

/// Cuts `text` to at most `max` characters (on a character boundary), marking the cut.
pub(crate) fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_owned(),
        Some((idx, _)) => format!("{}… (truncated)", &text[..idx]),
    }
}

/// Collapses runs of whitespace (an HTML error page becomes one line).
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The human message of an error response body, parsed leniently:
/// `{"error":{"code":…,"message":"…","metadata":…}}` with `code` an integer, a string or
/// missing; `{"error":"…"}`; `{"message":"…"}`; or any text at all. Falls back to the status's
/// reason phrase for an empty body. Scrubbed and truncated.
pub(crate) fn error_message(status: StatusCode, body: &[u8], known: &[&str]) -> String {
    let from_json = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            let error = v.get("error");
            error
                .and_then(|e| e.get("message"))
                .and_then(|m| m.as_str())
                .or_else(|| error.and_then(|e| e.as_str()))
                .or_else(|| v.get("message").and_then(|m| m.as_str()))
                .map(str::to_owned)
        });
    let raw = match from_json {
        Some(m) => m,
        None => one_line(&String::from_utf8_lossy(body)),
    };
    let raw = if raw.trim().is_empty() {
        status.canonical_reason().unwrap_or("no message").to_owned()
    } else {
        raw
    };
    // Scrub before truncating so a cut cannot leave half a key that no longer matches.
    truncate(&scrub(&raw, known), MAX_MESSAGE_CHARS)
}

/// Parses a `Retry-After` value: delay-seconds (an integer; a decimal is tolerated) or an HTTP
/// date (a date in the past means "now"). `None` when absent or unparseable.
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    if let Ok(secs) = value.parse::<f64>() {
        return ((0.0..1e9).contains(&secs)).then(|| Duration::from_secs_f64(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// The typed error for a non-success status. `known` are the secrets to scrub.
pub(crate) fn status_error(
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    known: &[&str],
) -> Error {
    let message = error_message(status, body, known);
    match status.as_u16() {
        400 => Error::BadRequest { message },
        401 => Error::Unauthorized { message },
        403 => Error::Forbidden { message },
        404 => Error::NotFound { message },
        429 => {
            // `Retry-After` when sent (OpenRouter sends it only sometimes), else the end of the
            // window from `X-RateLimit-Reset`.
            let retry_after = headers
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, SystemTime::now()))
                .or_else(|| {
                    headers
                        .get("x-ratelimit-reset")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| crate::rate_limit::parse_reset(v, SystemTime::now()))
                });
            Error::RateLimited {
                retry_after,
                message,
            }
        }
        s @ 500..=599 => Error::Server { status: s, message },
        s => Error::UnexpectedStatus { status: s, message },
    }
}

/// The text of a transport error and its causes ("…: connection refused"), scrubbed and truncated.
pub(crate) fn transport_message(err: &reqwest::Error, known: &[&str]) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        let s = cause.to_string();
        if !text.contains(&s) {
            text.push_str(": ");
            text.push_str(&s);
        }
        source = cause.source();
    }
    truncate(&scrub(&text, known), MAX_MESSAGE_CHARS)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "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";

    #[test]
    fn parses_the_spec_envelope() {
        let body = br#"{"error":{"code":403,"message":"Only management keys can perform this operation"}}"#;
        assert_eq!(
            error_message(StatusCode::FORBIDDEN, body, &[]),
            "Only management keys can perform this operation"
        );
    }

    #[test]
    fn parses_string_code_missing_code_and_metadata() {
        let body = br#"{"error":{"code":"rate_limited","message":"Slow down","metadata":{"x":1}}}"#;
        assert_eq!(
            error_message(StatusCode::TOO_MANY_REQUESTS, body, &[]),
            "Slow down"
        );
        let body = br#"{"error":{"message":"User not found."}}"#;
        assert_eq!(
            error_message(StatusCode::UNAUTHORIZED, body, &[]),
            "User not found."
        );
        let body = br#"{"error":"plain string error"}"#;
        assert_eq!(
            error_message(StatusCode::BAD_REQUEST, body, &[]),
            "plain string error"
        );
        let body = br#"{"message":"top-level message"}"#;
        assert_eq!(
            error_message(StatusCode::BAD_REQUEST, body, &[]),
            "top-level message"
        );
    }

    #[test]
    fn non_json_and_empty_bodies() {
        let body = b"<html>\n  <body>502   Bad Gateway</body>\n</html>";
        assert_eq!(
            error_message(StatusCode::BAD_GATEWAY, body, &[]),
            "<html> <body>502 Bad Gateway</body> </html>"
        );
        assert_eq!(
            error_message(StatusCode::BAD_GATEWAY, b"", &[]),
            "Bad Gateway"
        );
        assert_eq!(
            error_message(StatusCode::BAD_GATEWAY, b"  \n", &[]),
            "Bad Gateway"
        );
        // Valid JSON without a message: the raw text is the message.
        assert_eq!(
            error_message(
                StatusCode::INTERNAL_SERVER_ERROR,
                b"{\"error\":{\"code\":500}}",
                &[]
            ),
            "{\"error\":{\"code\":500}}"
        );
        // Invalid UTF-8 does not fail.
        assert!(
            !error_message(StatusCode::INTERNAL_SERVER_ERROR, &[0xff, 0xfe, b'x'], &[]).is_empty()
        );
    }

    #[test]
    fn messages_are_truncated() {
        let long = format!("{{\"error\":{{\"message\":\"{}\"}}}}", "é".repeat(5000));
        let msg = error_message(StatusCode::BAD_REQUEST, long.as_bytes(), &[]);
        assert!(
            msg.chars().count() <= MAX_MESSAGE_CHARS + 20,
            "{}",
            msg.len()
        );
        assert!(msg.ends_with("(truncated)"));
    }

    #[test]
    fn keys_are_scrubbed_from_messages() {
        let body = format!(r#"{{"error":{{"message":"bad key {KEY}, also Bearer {KEY}."}}}}"#);
        let msg = error_message(StatusCode::UNAUTHORIZED, body.as_bytes(), &[]);
        assert!(!msg.contains(&KEY[9..]), "{msg}");
        assert_eq!(
            msg,
            "bad key sk-or-v1-[redacted], also Bearer sk-or-v1-[redacted]."
        );
        // A secret of another shape is scrubbed when the client knows it.
        let msg = error_message(
            StatusCode::UNAUTHORIZED,
            b"token my-weird-secret-123 rejected",
            &["my-weird-secret-123"],
        );
        assert_eq!(msg, "token [redacted] rejected");
        // A key cut in half by the truncation must not survive either: scrub happens first.
        let body = format!("{}{KEY}", "x".repeat(MAX_MESSAGE_CHARS - 20));
        let msg = error_message(StatusCode::BAD_REQUEST, body.as_bytes(), &[]);
        assert!(!msg.contains(&KEY[9..30]), "{msg}");
    }

    #[test]
    fn scrub_handles_edge_cases() {
        assert_eq!(scrub("sk-or-v1-", &[]), "sk-or-v1-[redacted]");
        assert_eq!(scrub("a sk-or-v1-abc\"b", &[]), "a sk-or-v1-[redacted]\"b");
        assert_eq!(scrub("nothing here", &["short"]), "nothing here");
        assert_eq!(
            scrub("ünïcode sk-or-v1-ab é", &[]),
            "ünïcode sk-or-v1-[redacted] é"
        );
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777); // Sun, 06 Nov 1994 08:49:37 GMT
        assert_eq!(parse_retry_after("3", now), Some(Duration::from_secs(3)));
        assert_eq!(
            parse_retry_after(" 120 ", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("1.5", now),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:47 GMT", now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            parse_retry_after("Sunday, 06-Nov-94 08:49:40 GMT", now),
            Some(Duration::from_secs(3))
        );
        // In the past: retry now.
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("-1", now), None);
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("", now), None);
        assert_eq!(parse_retry_after("NaN", now), None);
    }

    #[test]
    fn statuses_map_to_typed_errors() {
        let mut headers = HeaderMap::new();
        let e =
            |s: u16, h: &HeaderMap| status_error(StatusCode::from_u16(s).unwrap(), h, b"{}", &[]);
        assert!(matches!(e(400, &headers), Error::BadRequest { .. }));
        assert!(matches!(e(401, &headers), Error::Unauthorized { .. }));
        assert!(matches!(e(403, &headers), Error::Forbidden { .. }));
        assert!(e(404, &headers).is_not_found());
        assert!(matches!(
            e(429, &headers),
            Error::RateLimited {
                retry_after: None,
                ..
            }
        ));
        headers.insert(reqwest::header::RETRY_AFTER, "7".parse().unwrap());
        assert_eq!(e(429, &headers).retry_after(), Some(Duration::from_secs(7)));
        assert!(matches!(
            e(503, &headers),
            Error::Server { status: 503, .. }
        ));
        assert!(matches!(
            e(409, &headers),
            Error::UnexpectedStatus { status: 409, .. }
        ));
        assert!(matches!(
            e(302, &headers),
            Error::UnexpectedStatus { status: 302, .. }
        ));
    }
}
