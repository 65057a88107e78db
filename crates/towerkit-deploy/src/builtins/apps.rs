//! The small apps of core: `text`, `echo`, `health`.

use super::*;

/// `use = "health"`: `timeout` (default 2s), the longest a store's check
/// is waited for. Asks every store of the served stack.
pub(super) fn health(section: &mut Section<'_, '_>) -> Result<BoxApp, ConfigError> {
    let mut health = Health::new(section.readiness().clone());
    if let Some(timeout) = section.get::<HumanDuration>("timeout")? {
        if timeout.0.is_zero() {
            return Err(section.error("timeout", "a check needs some time: e.g. \"2s\""));
        }
        health = health.timeout(timeout.0);
    }
    Ok(boxed_app(health))
}

/// `use = "text"`: `status`, `body`, `content_type`, `headers` (a table of
/// name to value, or to a list of values).
pub(super) fn text(section: &mut Section<'_, '_>) -> Result<BoxApp, ConfigError> {
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
