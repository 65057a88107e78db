//! The factories every stack file can `use`.

use http::header::HeaderValue;
use http::StatusCode;
use towerkit_core::app::{Echo, Text};
use towerkit_urlparser::UrlMap;

use crate::registry::{boxed_app, BoxApp, Registry};
use crate::section::Section;
use crate::ConfigError;

pub(crate) fn register(registry: &mut Registry) {
    registry.app("text", text);
    registry.app("echo", |_| Ok(boxed_app(Echo)));
    registry.composite("urlmap", urlmap);
}

/// `use = "text"`: `status`, `body`, `content_type`.
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
