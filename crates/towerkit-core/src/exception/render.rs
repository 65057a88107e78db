//! Rendering an [`HttpException`] as HTML, problem+json or plain text.

use http::header::{HeaderValue, CONTENT_TYPE};
use http::{Response, StatusCode};

use super::HttpException;
use crate::body::Body;

/// The formats an error page is rendered in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `text/html; charset=utf-8`.
    Html,
    /// `application/problem+json` (RFC 9457).
    Json,
    /// `text/plain; charset=utf-8`: the default.
    Text,
}

impl Format {
    /// The format an `Accept` header prefers. Plain text when there is no
    /// header, when it accepts anything (`*/*`), or when nothing matches.
    pub fn negotiate(accept: Option<&HeaderValue>) -> Format {
        Format::negotiate_bytes(accept.map_or(&[][..], HeaderValue::as_bytes))
    }

    /// [`negotiate`](Self::negotiate) for the bytes of an `Accept` header
    /// (as [`KeptBytes`](crate::kept::KeptBytes)); empty is no header.
    pub fn negotiate_bytes(accept: &[u8]) -> Format {
        let Ok(accept) = std::str::from_utf8(accept) else {
            return Format::Text;
        };
        // The q-value and specificity (2 exact, 1 `type/*`, 0 `*/*`) of the
        // most specific range that matches each media type, in one pass.
        const TYPES: [(Format, &str, &str); 4] = [
            (Format::Text, "text", "plain"),
            (Format::Html, "text", "html"),
            (Format::Json, "application", "problem+json"),
            (Format::Json, "application", "json"),
        ];
        let mut found: [Option<(f32, u8)>; 4] = [None; 4];
        for (range, q) in crate::header::weighted_items(accept) {
            let (ty, sub) = range.split_once('/').unwrap_or((range, ""));
            for (slot, (_, want_ty, want_sub)) in found.iter_mut().zip(TYPES) {
                let specificity = match (ty.eq_ignore_ascii_case(want_ty), sub) {
                    (true, "*") => 1,
                    (true, sub) if sub.eq_ignore_ascii_case(want_sub) => 2,
                    _ if range == "*/*" => 0,
                    _ => continue,
                };
                if slot.is_none_or(|(_, s)| specificity > s) {
                    *slot = Some((q, specificity));
                }
            }
        }
        // (format, q, specificity) of the best match so far; ties keep the
        // earlier candidate, so plain text wins an `*/*` tie. A format with
        // two media types takes the more specific match, then the higher q.
        let mut best = (Format::Text, 0.0f32, 0u8);
        for format in [Format::Text, Format::Html, Format::Json] {
            let matched = TYPES
                .iter()
                .zip(found)
                .filter(|((of, ..), _)| *of == format)
                .filter_map(|(_, matched)| matched)
                .max_by(|a, b| {
                    (a.1, a.0)
                        .partial_cmp(&(b.1, b.0))
                        .unwrap_or(std::cmp::Ordering::Equal)
                });
            if let Some((q, specificity)) = matched {
                if q > best.1 || (q == best.1 && q > 0.0 && specificity > best.2) {
                    best = (format, q, specificity);
                }
            }
        }
        best.0
    }
}

pub(super) fn render(exception: &HttpException, format: Format) -> Response<Body> {
    let status = exception.status;
    let mut response = Response::new(Body::empty());
    *response.status_mut() = status;
    *response.headers_mut() = exception.headers.clone();
    // Marks the response as an exception's, so that a layer above (the
    // http-exceptions layer's templates) can render it anew.
    response.extensions_mut().insert(exception.clone());
    if !has_body(status) {
        return response;
    }
    let reason = status.canonical_reason().unwrap_or("Error");
    let detail = exception.detail.as_deref();
    let (content_type, body) = match format {
        Format::Html => ("text/html; charset=utf-8", html(status, reason, detail)),
        Format::Json => ("application/problem+json", json(status, reason, detail)),
        Format::Text => ("text/plain; charset=utf-8", text(status, reason, detail)),
    };
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    *response.body_mut() = Body::from(body);
    response
}

fn has_body(status: StatusCode) -> bool {
    !(status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED)
}

fn text(status: StatusCode, reason: &str, detail: Option<&str>) -> String {
    match detail {
        Some(detail) => format!("{} {reason}\n\n{detail}\n", status.as_u16()),
        None => format!("{} {reason}\n", status.as_u16()),
    }
}

fn html(status: StatusCode, reason: &str, detail: Option<&str>) -> String {
    let detail = detail
        .map(|d| format!("<p>{}</p>\n", escape_html(d)))
        .unwrap_or_default();
    format!(
        "<!DOCTYPE html>\n<html>\n<head><meta charset=\"utf-8\"><title>{code} {reason}</title></head>\n\
         <body>\n<h1>{reason}</h1>\n{detail}</body>\n</html>\n",
        code = status.as_u16()
    )
}

fn json(status: StatusCode, reason: &str, detail: Option<&str>) -> String {
    let mut problem = serde_json::json!({
        "type": "about:blank",
        "title": reason,
        "status": status.as_u16(),
    });
    if let Some(detail) = detail {
        problem["detail"] = detail.into();
    }
    problem.to_string()
}

/// Escapes text for HTML element content and attribute values.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn negotiate(accept: &str) -> Format {
        Format::negotiate(Some(&HeaderValue::from_str(accept).unwrap()))
    }

    #[test]
    fn negotiation() {
        assert_eq!(Format::negotiate(None), Format::Text);
        assert_eq!(negotiate("*/*"), Format::Text);
        assert_eq!(negotiate("application/json"), Format::Json);
        assert_eq!(negotiate("application/problem+json"), Format::Json);
        assert_eq!(
            negotiate("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
            Format::Html
        );
        assert_eq!(negotiate("application/json, text/html;q=0.5"), Format::Json);
        assert_eq!(
            negotiate("text/html;q=0.2, application/json;q=0.9"),
            Format::Json
        );
        assert_eq!(negotiate("image/png"), Format::Text);
        assert_eq!(negotiate("Text/HTML"), Format::Html);
        assert_eq!(
            negotiate("application/json;q=0.5, application/problem+json;q=0.9, text/html;q=0.7"),
            Format::Json
        );
        assert_eq!(negotiate("text/*"), Format::Text);
        assert_eq!(negotiate("application/*, text/plain;q=0.1"), Format::Json);
        assert_eq!(negotiate("text/html;q=0, */*"), Format::Text);
    }

    #[test]
    fn html_escapes_detail_and_titles_with_reason() {
        let e = HttpException::not_found().with_detail("<script>alert(1)</script>");
        let body = html(e.status, "Not Found", e.detail());
        assert!(body.contains("<title>404 Not Found</title>"));
        assert!(body.contains("<h1>Not Found</h1>"));
        assert!(body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(!body.contains("<script>"));
    }

    #[test]
    fn json_is_a_problem_document() {
        let body = json(StatusCode::CONFLICT, "Conflict", Some("é \"q\""));
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["status"], 409);
        assert_eq!(v["title"], "Conflict");
        assert_eq!(v["detail"], "é \"q\"");
    }

    #[test]
    fn not_modified_has_no_body() {
        let res = HttpException::not_modified().to_response(Format::Html);
        assert!(res.headers().get(CONTENT_TYPE).is_none());
    }
}

#[cfg(test)]
mod negotiation_properties {
    use super::Format;
    use proptest::prelude::*;

    const KNOWN: [(&str, Format); 4] = [
        ("text/plain", Format::Text),
        ("text/html", Format::Html),
        ("application/json", Format::Json),
        ("application/problem+json", Format::Json),
    ];

    fn unknown() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("image/png".to_owned()),
            Just("application/xml".to_owned()),
            Just("video/*".to_owned()),
            "[a-z]{1,5}/[a-z]{1,5}",
        ]
    }

    proptest! {
        /// Any bytes give a format, and no panic.
        #[test]
        fn any_bytes_negotiate(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            let _ = Format::negotiate_bytes(&bytes);
        }

        /// One known type asked for with q > 0, among types we cannot
        /// make, in any case and with parameters, is what is made.
        #[test]
        fn the_one_known_type_asked_for_wins(
            known in 0usize..4,
            q in 1u16..=1000,
            upper in any::<bool>(),
            before in proptest::collection::vec(unknown(), 0..3),
            after in proptest::collection::vec(unknown(), 0..3),
        ) {
            let (name, format) = KNOWN[known];
            let name = if upper { name.to_ascii_uppercase() } else { name.to_owned() };
            let mut items = before;
            items.push(format!("{name};charset=utf-8;q={}.{:03}", q / 1000, q % 1000));
            items.extend(after);
            let accept = items.join(", ");
            prop_assert_eq!(Format::negotiate_bytes(accept.as_bytes()), format, "{}", accept);
        }

        /// A format refused with q=0 is never chosen while another is
        /// acceptable.
        #[test]
        fn a_refused_format_is_not_chosen(refused in 0usize..3, wanted in 0usize..3, q in 1u16..=1000) {
            prop_assume!(refused != wanted);
            let name = |i: usize| ["text/plain", "text/html", "application/json"][i];
            let accept = format!("{};q=0, {};q=0.{q:03}, */*;q=0.001", name(refused), name(wanted));
            let chosen = Format::negotiate_bytes(accept.as_bytes());
            prop_assert_ne!(chosen, KNOWN[refused].1, "{}", accept);
        }
    }
}
