//! `use = "access-log"`, from towerkit-accesslog.

use super::*;

/// `use = "access-log"`: `path` (default: stderr). Apache combined format;
/// the file is opened again whenever the stack is (re)loaded.
pub(super) fn access_log(section: &mut Section<'_, '_>) -> Result<Filter, ConfigError> {
    let writer = match section.output_path("path")? {
        Some(path) => LogWriter::file(&path)
            .map_err(|err| section.error("path", format!("cannot open: {err}")))?,
        None => LogWriter::stderr(),
    };
    Ok(Filter::layer(AccessLogLayer::new(writer)))
}
