//! `use = "recursive"` and `use = "error-documents"`, from towerkit-recursive.

use super::*;

/// `use = "recursive"`: `max_depth`.
pub(super) fn recursive(section: &mut Section<'_, '_>) -> Result<Filter, ConfigError> {
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
/// its page (`404 = "/errors/404.html"`). Needs a `recursive` filter
/// outside it, which fetches the pages.
pub(super) fn error_documents(section: &mut Section<'_, '_>) -> Result<Filter, ConfigError> {
    let mut layer = ErrorDocumentsLayer::new();
    let mut mapped = 0;
    for key in section.remaining_keys() {
        let uri: String = section.require(&key)?;
        let status: u16 = key
            .parse()
            .map_err(|_| section.error(&key, "a key here is an error status, e.g. 404"))?;
        layer = layer
            .try_document(status, &uri)
            .map_err(|err| section.error(&key, err.to_string()))?;
        mapped += 1;
    }
    if mapped == 0 {
        return Err(section
            .section_error("map at least one status to a page, e.g. 404 = \"/errors/404.html\""));
    }
    section.needs(
        "recursive",
        None,
        "error documents are fetched through the stack again, by a recursive layer",
    );
    Ok(Filter::layer(layer))
}
