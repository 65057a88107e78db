//! `use = "urlmap"`, `"urlparser"` and `"cascade"`, from towerkit-urlparser.

use super::*;

/// `use = "urlmap"`: every key is a mount (`"/path"`, `"host/path"`), every
/// value the name of the app mounted there.
pub(super) fn urlmap(section: &mut Section<'_, '_>) -> Result<BoxApp, ConfigError> {
    let mut map = UrlMap::new();
    for key in section.remaining_keys() {
        let app = section.require_app(&key)?;
        map.try_mount(&key, app)
            .map_err(|err| section.error(&key, err.to_string()))?;
    }
    Ok(boxed_app(map))
}

/// `use = "urlparser"`: `root`, `index`, `handlers` (extension to file
/// handler), `hide`, `listing`, `max_age`, `follow_symlinks`, `not_found`.
pub(super) fn urlparser(section: &mut Section<'_, '_>) -> Result<BoxApp, ConfigError> {
    let root = existing_root(section, false)?;
    let mut parser = UrlParser::new(root).static_options(static_options(section)?);
    if let Some(index) = section.get::<OneOrMany>("index")? {
        parser = parser.index(index.into_vec());
    }
    if let Some(hide) = section.get::<Vec<String>>("hide")? {
        parser = parser.hide(hide);
    }
    if let Some(listing) = section.get::<bool>("listing")? {
        parser = parser.listing(listing);
    }
    if let Some(handlers) = section.get::<BTreeMap<String, String>>("handlers")? {
        for (extension, name) in handlers {
            let Some(handler) = section.file_handler(&name) else {
                let known = section.file_handler_names().join(", ");
                return Err(section.error(
                    "handlers",
                    format!("unknown file handler `{name}` for .{extension} (known: {known})"),
                ));
            };
            parser = parser.handler(
                &extension,
                Arc::new(move |path: &Path| BoxCloneSyncService::new(handler(path))),
            );
        }
    }
    if let Some(not_found) = section.app("not_found")? {
        parser = parser.not_found(BoxCloneSyncService::new(not_found));
    }
    Ok(boxed_app(parser))
}

/// `use = "cascade"`: `apps` (tried in order), `catch` (statuses that pass
/// on, default `[404]`), `max_body` (request body buffered, default 1 MiB).
pub(super) fn cascade(section: &mut Section<'_, '_>) -> Result<BoxApp, ConfigError> {
    let apps = match section.app_list("apps")? {
        Some(apps) if !apps.is_empty() => apps,
        _ => return Err(section.error("apps", "list the apps to try, in order")),
    };
    let mut cascade = Cascade::new(apps.into_iter().map(BoxCloneSyncService::new).collect());
    if let Some(catch) = section.get::<Vec<u16>>("catch")? {
        let statuses = catch
            .into_iter()
            .map(|code| {
                StatusCode::from_u16(code)
                    .map_err(|_| section.error("catch", format!("{code} is not an HTTP status")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        cascade = cascade.catch(statuses);
    }
    if let Some(max_body) = section.get::<ByteSize>("max_body")? {
        cascade = cascade.max_body(max_body.0);
    }
    Ok(boxed_app(cascade))
}
