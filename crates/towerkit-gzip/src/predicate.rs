//! Which responses are compressed.

use http::header::{CACHE_CONTROL, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE};
use http::{Response, StatusCode};
use towerkit_core::header::lists_token;

/// The types compressed unless set otherwise: text, JSON, JavaScript, XML,
/// SVG and server-sent events.
pub const DEFAULT_TYPES: [&str; 9] = [
    "text/*",
    "application/json",
    "application/*+json",
    "application/javascript",
    "application/xml",
    "application/*+xml",
    "image/svg+xml",
    "application/wasm",
    "text/event-stream",
];

/// Whether a media type (`text/html; charset=utf-8`) matches a pattern
/// (`text/html`, `text/*`, `application/*+json`).
pub(crate) fn type_matches(content_type: &str, pattern: &str) -> bool {
    // Compared without case and without a copy: this runs on every
    // response, for each configured type until one matches.
    let essence = content_type.split(';').next().unwrap_or("").trim();
    let (Some((ty, sub)), Some((pty, psub))) =
        (essence.split_once('/'), pattern.trim().split_once('/'))
    else {
        return false;
    };
    if pty != "*" && !pty.eq_ignore_ascii_case(ty) {
        return false;
    }
    match psub.strip_prefix('*') {
        Some("") => true,
        Some(suffix) => {
            let (sub, suffix) = (sub.as_bytes(), suffix.as_bytes());
            sub.len() >= suffix.len()
                && sub[sub.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
        }
        None => psub.eq_ignore_ascii_case(sub),
    }
}

/// Whether the response may be compressed at all (status, headers,
/// type, size), leaving aside what the client accepts.
pub(crate) fn eligible<B: http_body::Body>(
    response: &Response<B>,
    types: &[String],
    min_size: u64,
) -> bool {
    let status = response.status();
    if status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
        || status == StatusCode::PARTIAL_CONTENT
    {
        return false;
    }
    let headers = response.headers();
    // The size first: it rules out most small answers at the cost of one
    // lookup, before the lookups and matching below.
    let size = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .or_else(|| response.body().size_hint().exact());
    if size.is_some_and(|size| size < min_size) {
        return false;
    }
    if headers.contains_key(CONTENT_ENCODING) || headers.contains_key(CONTENT_RANGE) {
        return false;
    }
    if lists_token(headers.get_all(CACHE_CONTROL), "no-transform") {
        return false;
    }
    let Some(content_type) = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    types.iter().any(|t| type_matches(content_type, t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        assert!(type_matches("text/html; charset=utf-8", "text/*"));
        assert!(type_matches("application/ld+json", "application/*+json"));
        assert!(type_matches("TEXT/Event-Stream", "text/event-stream"));
        assert!(!type_matches("image/png", "text/*"));
        assert!(!type_matches("application/json", "application/*+json"));
        assert!(type_matches("image/png", "*/*"));
        assert!(!type_matches("garbage", "text/*"));
        assert!(type_matches("Application/LD+JSON", "application/*+JSON"));
        assert!(!type_matches("text/x", "text/*+json"));
        assert!(type_matches("application/json", " */json "));
    }
}
