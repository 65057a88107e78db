//! `use = "http-exceptions"`, from towerkit-httpexceptions.

use super::*;

/// `use = "http-exceptions"`: `debug`, `html_template`, `text_template`
/// (files with `{status}`, `{reason}` and `{detail}`).
pub(super) fn http_exceptions(section: &mut Section<'_, '_>) -> Result<Filter, ConfigError> {
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
