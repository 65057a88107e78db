//! The HTML listing of a folder without an index file.

use std::io;
use std::path::Path;
use std::time::UNIX_EPOCH;

use http::header::{HeaderValue, CONTENT_TYPE};
use http::Response;
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, CONTROLS};
use towerkit_core::{escape_html, Body};

/// What a file name cannot carry as it is in a relative link.
const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b':')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'\\')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'\'')
    .add(b'&');

/// Lists `dir` as served at `script_name` (percent-encoded), leaving out
/// what `hidden` says.
pub(crate) fn render(
    dir: &Path,
    script_name: &str,
    hidden: impl Fn(&str) -> bool,
) -> io::Result<Response<Body>> {
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if hidden(&name) {
            continue;
        }
        let Ok(meta) = entry.metadata() else {
            continue;
        };
        let modified = meta
            .modified()
            .ok()
            .and_then(|m| m.duration_since(UNIX_EPOCH).ok())
            .map(|d| httpdate::fmt_http_date(UNIX_EPOCH + d))
            .unwrap_or_default();
        entries.push((meta.is_dir(), name, meta.len(), modified));
    }
    entries.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));

    let shown = percent_decode_str(script_name).decode_utf8_lossy();
    let title = escape_html(&format!("Index of {shown}/"));
    let mut page = format!(
        "<!DOCTYPE html>\n<html>\n<head><meta charset=\"utf-8\"><title>{title}</title></head>\n<body>\n\
         <h1>{title}</h1>\n<table>\n<tr><th>Name</th><th>Size</th><th>Modified</th></tr>\n"
    );
    if !script_name.is_empty() {
        page.push_str("<tr><td><a href=\"../\">../</a></td><td></td><td></td></tr>\n");
    }
    for (is_dir, name, len, modified) in entries {
        let slash = if is_dir { "/" } else { "" };
        let href = utf8_percent_encode(&name, SEGMENT);
        let size = if is_dir {
            String::new()
        } else {
            len.to_string()
        };
        page.push_str(&format!(
            "<tr><td><a href=\"./{href}{slash}\">{}{slash}</a></td><td>{size}</td><td>{modified}</td></tr>\n",
            escape_html(&name)
        ));
    }
    page.push_str("</table>\n</body>\n</html>\n");
    let mut response = Response::new(Body::from(page));
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    Ok(response)
}
