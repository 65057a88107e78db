//! `use = "gzip"`, from towerkit-gzip.

use super::*;

/// `use = "gzip"`: `level` (0 to 9), `min_size`, `types`,
/// `decompress_requests`, `max_decompressed`.
pub(super) fn gzip(section: &mut Section<'_, '_>) -> Result<Filter, ConfigError> {
    let mut layer = GzipLayer::new();
    if let Some(level) = section.get::<u32>("level")? {
        if level > 9 {
            return Err(section.error("level", "a gzip level is 0 to 9"));
        }
        layer = layer.level(level);
    }
    if let Some(min_size) = section.get::<ByteSize>("min_size")? {
        layer = layer.min_size(min_size.0);
    }
    if let Some(types) = section.get::<Vec<String>>("types")? {
        if let Some(bad) = types.iter().find(|t| !t.contains('/')) {
            return Err(section.error(
                "types",
                format!("`{bad}` is not a media type (e.g. text/*)"),
            ));
        }
        layer = layer.types(types);
    }
    if let Some(decompress) = section.get::<bool>("decompress_requests")? {
        layer = layer.decompress_requests(decompress);
    }
    if let Some(max) = section.get::<ByteSize>("max_decompressed")? {
        layer = layer.max_decompressed(max.0);
    }
    Ok(Filter::layer(layer))
}
