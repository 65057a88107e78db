//! Conditional requests (RFC 9110 §13): what the validators say to do.

use std::time::SystemTime;

use http::header::{
    HeaderMap, IF_MATCH, IF_MODIFIED_SINCE, IF_NONE_MATCH, IF_RANGE, IF_UNMODIFIED_SINCE,
};
use http::Method;

/// The validators of the representation being served.
pub(crate) struct Validators<'a> {
    /// The strong entity tag, quoted: `"abc"`.
    pub(crate) etag: &'a str,
    /// Last modification, to the second.
    pub(crate) last_modified: SystemTime,
}

/// The outcome of evaluating the preconditions, in the order of RFC 9110
/// §13.2.2.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Go on (and honour a Range, if `If-Range` allows).
    Proceed,
    /// 304 Not Modified.
    NotModified,
    /// 412 Precondition Failed.
    PreconditionFailed,
}

pub(crate) fn evaluate(method: &Method, headers: &HeaderMap, v: &Validators<'_>) -> Outcome {
    // 1. If-Match, else 2. If-Unmodified-Since.
    if let Some(if_match) = header(headers, IF_MATCH) {
        if !matches_any(if_match, v.etag, true) {
            return Outcome::PreconditionFailed;
        }
    } else if let Some(date) = header(headers, IF_UNMODIFIED_SINCE).and_then(parse_date) {
        if v.last_modified > date {
            return Outcome::PreconditionFailed;
        }
    }
    let safe = method == Method::GET || method == Method::HEAD;
    // 3. If-None-Match, else 4. If-Modified-Since (GET and HEAD only).
    if let Some(if_none_match) = header(headers, IF_NONE_MATCH) {
        if matches_any(if_none_match, v.etag, false) {
            return if safe {
                Outcome::NotModified
            } else {
                Outcome::PreconditionFailed
            };
        }
    } else if safe {
        if let Some(date) = header(headers, IF_MODIFIED_SINCE).and_then(parse_date) {
            if v.last_modified <= date {
                return Outcome::NotModified;
            }
        }
    }
    Outcome::Proceed
}

/// Whether a `Range` may be honoured: no `If-Range`, or one that names the
/// current representation (its strong ETag, or exactly its date).
pub(crate) fn range_allowed(headers: &HeaderMap, v: &Validators<'_>) -> bool {
    let Some(if_range) = header(headers, IF_RANGE) else {
        return true;
    };
    let if_range = if_range.trim();
    if if_range.starts_with('"') {
        return if_range == v.etag;
    }
    if if_range.starts_with("W/") {
        return false;
    }
    parse_date(if_range).is_some_and(|date| date == v.last_modified)
}

fn header(headers: &HeaderMap, name: http::header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn parse_date(text: &str) -> Option<SystemTime> {
    httpdate::parse_http_date(text.trim()).ok()
}

/// Whether a list of entity tags (or `*`) names `etag`; strong comparison
/// refuses weak tags, weak comparison ignores the `W/`.
fn matches_any(list: &str, etag: &str, strong: bool) -> bool {
    if list.trim() == "*" {
        return true;
    }
    list.split(',').map(str::trim).any(|tag| {
        if let Some(weak) = tag.strip_prefix("W/") {
            !strong && weak == etag
        } else {
            tag == etag
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;
    use std::time::Duration;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn eval(method: Method, pairs: &[(&'static str, String)]) -> Outcome {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(*name, HeaderValue::from_str(value).unwrap());
        }
        let v = Validators {
            etag: "\"v1\"",
            last_modified: at(1_000_000),
        };
        evaluate(&method, &headers, &v)
    }

    fn date(secs: u64) -> String {
        httpdate::fmt_http_date(at(secs))
    }

    #[test]
    fn if_none_match_wins_over_if_modified_since() {
        use Outcome::*;
        assert_eq!(
            eval(Method::GET, &[("if-none-match", "\"v1\"".into())]),
            NotModified
        );
        assert_eq!(
            eval(Method::GET, &[("if-none-match", "W/\"v1\"".into())]),
            NotModified
        );
        assert_eq!(
            eval(Method::GET, &[("if-none-match", "\"a\", \"v1\"".into())]),
            NotModified
        );
        assert_eq!(
            eval(Method::GET, &[("if-none-match", "*".into())]),
            NotModified
        );
        assert_eq!(
            eval(
                Method::GET,
                &[
                    ("if-none-match", "\"other\"".into()),
                    ("if-modified-since", date(2_000_000))
                ]
            ),
            Proceed
        );
        assert_eq!(
            eval(Method::GET, &[("if-modified-since", date(2_000_000))]),
            NotModified
        );
        assert_eq!(
            eval(Method::GET, &[("if-modified-since", date(1_000_000))]),
            NotModified
        );
        assert_eq!(
            eval(Method::GET, &[("if-modified-since", date(999_999))]),
            Proceed
        );
        assert_eq!(
            eval(Method::GET, &[("if-modified-since", "yesterday".into())]),
            Proceed
        );
        assert_eq!(
            eval(Method::POST, &[("if-none-match", "\"v1\"".into())]),
            PreconditionFailed
        );
    }

    #[test]
    fn if_match_and_if_unmodified_since() {
        use Outcome::*;
        assert_eq!(eval(Method::GET, &[("if-match", "\"v1\"".into())]), Proceed);
        assert_eq!(
            eval(Method::GET, &[("if-match", "\"v0\"".into())]),
            PreconditionFailed
        );
        assert_eq!(
            eval(Method::GET, &[("if-match", "W/\"v1\"".into())]),
            PreconditionFailed
        );
        assert_eq!(eval(Method::GET, &[("if-match", "*".into())]), Proceed);
        assert_eq!(
            eval(Method::GET, &[("if-unmodified-since", date(999_999))]),
            PreconditionFailed
        );
        assert_eq!(
            eval(Method::GET, &[("if-unmodified-since", date(1_000_000))]),
            Proceed
        );
        assert_eq!(
            eval(Method::GET, &[("if-unmodified-since", "garbage".into())]),
            Proceed
        );
    }

    #[test]
    fn if_range() {
        let v = Validators {
            etag: "\"v1\"",
            last_modified: at(1_000_000),
        };
        let with = |value: &str| {
            let mut h = HeaderMap::new();
            h.insert(IF_RANGE, HeaderValue::from_str(value).unwrap());
            range_allowed(&h, &v)
        };
        assert!(range_allowed(&HeaderMap::new(), &v));
        assert!(with("\"v1\""));
        assert!(!with("\"v0\""));
        assert!(!with("W/\"v1\""));
        assert!(with(&date(1_000_000)));
        assert!(!with(&date(1_000_001)));
        assert!(!with("not a date"));
    }
}
