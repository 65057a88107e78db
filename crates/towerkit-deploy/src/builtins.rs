//! The factories every stack file can `use`.

use std::collections::BTreeMap;

use http::header::{HeaderName, HeaderValue};
use http::StatusCode;
use towerkit_core::app::{Echo, Text};
use towerkit_urlparser::UrlMap;

use towerkit_httpexceptions::{HttpExceptionsLayer, Templates};
use towerkit_recursive::{ErrorDocumentsLayer, RecursiveLayer};

use crate::registry::{boxed_app, BoxApp, Filter, Registry};
use crate::section::Section;
use crate::server::OneOrMany;
use crate::ConfigError;

pub(crate) fn register(registry: &mut Registry) {
    registry.app("text", text);
    registry.app("echo", |_| Ok(boxed_app(Echo)));
    registry.composite("urlmap", urlmap);
    registry.filter("http-exceptions", http_exceptions);
    registry.filter("recursive", recursive);
    registry.filter("error-documents", error_documents);
}

/// `use = "http-exceptions"`: `debug`, `html_template`, `text_template`
/// (files with `{status}`, `{reason}` and `{detail}`).
fn http_exceptions(section: &mut Section<'_, '_>) -> Result<Filter, ConfigError> {
    let debug = section.get::<bool>("debug")?.unwrap_or(false);
    let mut templates = Templates::new();
    for key in ["html_template", "text_template"] {
        let Some(path) = section.path(key)? else {
            continue;
        };
        let template = std::fs::read_to_string(&path)
            .map_err(|err| section.error(key, format!("cannot read {}: {err}", path.display())))?;
        templates = if key == "html_template" {
            templates.html(template)
        } else {
            templates.text(template)
        };
    }
    let layer = HttpExceptionsLayer::new().debug(debug).templates(templates);
    Ok(Filter::layer(layer))
}

/// `use = "recursive"`: `max_depth`.
fn recursive(section: &mut Section<'_, '_>) -> Result<Filter, ConfigError> {
    let mut layer = RecursiveLayer::new();
    if let Some(depth) = section.get::<usize>("max_depth")? {
        if depth == 0 {
            return Err(section.error("max_depth", "must be at least 1"));
        }
        layer = layer.max_depth(depth);
    }
    Ok(Filter::layer(layer))
}

/// `use = "error-documents"`: every key a status, every value the path of
/// its page (`404 = "/errors/404.html"`).
fn error_documents(section: &mut Section<'_, '_>) -> Result<Filter, ConfigError> {
    let mut layer = ErrorDocumentsLayer::new();
    let mut mapped = 0;
    for key in section.remaining_keys() {
        let uri: String = section.require(&key)?;
        let status: u16 = key
            .parse()
            .map_err(|_| section.error(&key, "a key here is an error status, e.g. 404"))?;
        layer = layer
            .try_document(status, &uri)
            .map_err(|err| section.error(&key, err))?;
        mapped += 1;
    }
    if mapped == 0 {
        return Err(section
            .section_error("map at least one status to a page, e.g. 404 = \"/errors/404.html\""));
    }
    Ok(Filter::layer(layer))
}

/// `use = "text"`: `status`, `body`, `content_type`, `headers` (a table of
/// name to value, or to a list of values).
fn text(section: &mut Section<'_, '_>) -> Result<BoxApp, ConfigError> {
    let mut app = Text::new(section.get::<String>("body")?.unwrap_or_default());
    if let Some(status) = section.get::<u16>("status")? {
        let status = StatusCode::from_u16(status)
            .map_err(|_| section.error("status", "not an HTTP status (100 to 999)"))?;
        app = app.status(status);
    }
    if let Some(content_type) = section.get::<String>("content_type")? {
        let value = HeaderValue::from_str(&content_type)
            .map_err(|_| section.error("content_type", "not a valid header value"))?;
        app = app.content_type(value);
    }
    if let Some(headers) = section.get::<BTreeMap<String, OneOrMany>>("headers")? {
        for (name, values) in headers {
            let header = HeaderName::try_from(name.as_str())
                .map_err(|_| section.error("headers", format!("`{name}` is not a header name")))?;
            for value in values.into_vec() {
                let value = HeaderValue::from_str(&value).map_err(|_| {
                    section.error(
                        "headers",
                        format!("the value of `{name}` is not a valid header value"),
                    )
                })?;
                app = app.header(header.clone(), value);
            }
        }
    }
    Ok(boxed_app(app))
}

/// `use = "urlmap"`: every key is a mount (`"/path"`, `"host/path"`), every
/// value the name of the app mounted there.
fn urlmap(section: &mut Section<'_, '_>) -> Result<BoxApp, ConfigError> {
    let mut map = UrlMap::new();
    for key in section.remaining_keys() {
        let app = section.require_app(&key)?;
        map.try_mount(&key, app)
            .map_err(|err| section.error(&key, err.to_string()))?;
    }
    Ok(boxed_app(map))
}
