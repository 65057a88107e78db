//! The debug page: what failed, where, and for which request (after cgitb).

use http::header::{HeaderValue, CONTENT_TYPE};
use http::{Response, StatusCode};
use towerkit_core::{escape_html, Body, Format};

/// A failure to show in debug mode.
pub(crate) struct Failure<'a> {
    /// `panic` or `error`.
    pub(crate) kind: &'static str,
    pub(crate) message: &'a str,
    pub(crate) location: Option<&'a str>,
    pub(crate) request_line: &'a str,
    pub(crate) request_id: &'a str,
}

pub(crate) fn page(failure: &Failure<'_>, format: Format) -> Response<Body> {
    let (content_type, body) = match format {
        Format::Html => ("text/html; charset=utf-8", html(failure)),
        Format::Json => ("application/problem+json", json(failure)),
        Format::Text => ("text/plain; charset=utf-8", text(failure)),
    };
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

fn html(f: &Failure<'_>) -> String {
    let location = f
        .location
        .map(|l| format!("<h2>Location</h2>\n<pre>{}</pre>\n", escape_html(l)))
        .unwrap_or_default();
    format!(
        "<!DOCTYPE html>\n<html>\n<head><meta charset=\"utf-8\"><title>500 Internal Server Error</title>\n\
         <style>body{{font-family:sans-serif;margin:2em;max-width:60em}}pre{{background:#f4f4f4;padding:1em;white-space:pre-wrap}}</style>\n\
         </head>\n<body>\n<h1>Internal Server Error</h1>\n\
         <p>The application failed with a {kind} while serving this request. This page is shown \
         because the http-exceptions layer is in debug mode; without it the client sees only \
         \"Internal Server Error\".</p>\n\
         <h2>{Kind}</h2>\n<pre>{message}</pre>\n{location}<h2>Request</h2>\n<pre>{request}</pre>\n\
         <p>Request id: <code>{id}</code></p>\n</body>\n</html>\n",
        kind = f.kind,
        Kind = if f.kind == "panic" { "Panic" } else { "Error" },
        message = escape_html(f.message),
        request = escape_html(f.request_line),
        id = escape_html(f.request_id),
    )
}

fn json(f: &Failure<'_>) -> String {
    serde_json::json!({
        "type": "about:blank",
        "title": "Internal Server Error",
        "status": 500,
        "detail": format!("{}: {}", f.kind, f.message),
        f.kind: f.message,
        "location": f.location,
        "request": f.request_line,
        "request_id": f.request_id,
    })
    .to_string()
}

fn text(f: &Failure<'_>) -> String {
    let mut out = format!("500 Internal Server Error\n\n{}: {}\n", f.kind, f.message);
    if let Some(location) = f.location {
        out.push_str(&format!("at {location}\n"));
    }
    out.push_str(&format!(
        "while serving: {}\nrequest id: {}\n",
        f.request_line, f.request_id
    ));
    out
}
