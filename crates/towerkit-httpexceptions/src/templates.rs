//! Error pages of one's own.

use std::sync::Arc;

use http::header::{HeaderValue, CONTENT_LENGTH, CONTENT_TYPE};
use http::Response;
use towerkit_core::{escape_html, Body, Format, HttpException};

/// Templates for the HTML and plain-text error pages.
///
/// A template is text with `{status}` (`404`), `{reason}` (`Not Found`) and
/// `{detail}` in it; in the HTML template the detail is HTML-escaped. JSON
/// answers stay `application/problem+json`.
#[derive(Clone, Debug, Default)]
pub struct Templates {
    html: Option<Arc<str>>,
    text: Option<Arc<str>>,
}

impl Templates {
    /// No templates: towerkit's own pages.
    pub fn new() -> Self {
        Templates::default()
    }

    /// The HTML page.
    pub fn html(mut self, template: impl Into<Arc<str>>) -> Self {
        self.html = Some(template.into());
        self
    }

    /// The plain-text page.
    pub fn text(mut self, template: impl Into<Arc<str>>) -> Self {
        self.text = Some(template.into());
        self
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.html.is_none() && self.text.is_none()
    }

    /// Renders `exception` in `format`, with a template when there is one.
    pub(crate) fn render(&self, exception: &HttpException, format: Format) -> Response<Body> {
        let mut response = exception.to_response(format);
        let (template, content_type, escape) = match format {
            Format::Html => (&self.html, "text/html; charset=utf-8", true),
            Format::Text => (&self.text, "text/plain; charset=utf-8", false),
            Format::Json => return response,
        };
        let Some(template) = template else {
            return response;
        };
        if !response.headers().contains_key(CONTENT_TYPE) {
            // A status without a body (304).
            return response;
        }
        let detail = exception.detail().unwrap_or("");
        let detail = if escape {
            escape_html(detail)
        } else {
            detail.to_owned()
        };
        let status = exception.status();
        let page = template
            .replace("{status}", status.as_str())
            .replace("{reason}", status.canonical_reason().unwrap_or("Error"))
            .replace("{detail}", &detail);
        response.headers_mut().remove(CONTENT_LENGTH);
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        *response.body_mut() = Body::from(page);
        response
    }
}
