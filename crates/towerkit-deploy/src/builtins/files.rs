//! `use = "static"`, from towerkit-static.

use super::*;

/// `max_age` and `follow_symlinks`, shared by `static` and `urlparser`.
pub(super) fn static_options(section: &mut Section<'_, '_>) -> Result<StaticOptions, ConfigError> {
    let mut options = StaticOptions::new();
    if let Some(max_age) = section.get::<HumanDuration>("max_age")? {
        options = options.max_age(max_age.0);
    }
    if let Some(follow) = section.get::<bool>("follow_symlinks")? {
        options = options.follow_symlinks(follow);
    }
    Ok(options)
}

/// A `root` option that must name an existing folder (or, with
/// `file_ok`, a file).
pub(super) fn existing_root(
    section: &mut Section<'_, '_>,
    file_ok: bool,
) -> Result<std::path::PathBuf, ConfigError> {
    let root = section.require_path("root")?;
    match std::fs::metadata(&root) {
        Ok(meta) if meta.is_dir() || (file_ok && meta.is_file()) => Ok(root),
        Ok(_) => Err(section.error("root", format!("{} is not a folder", root.display()))),
        Err(err) => Err(section.error("root", format!("{}: {err}", root.display()))),
    }
}

/// `use = "static"`: `root` (a folder or one file), `max_age`,
/// `follow_symlinks`.
pub(super) fn serve_static(section: &mut Section<'_, '_>) -> Result<BoxApp, ConfigError> {
    let root = existing_root(section, true)?;
    let options = static_options(section)?;
    if root.is_file() {
        Ok(boxed_app(ServeFile::new(root).options(options)))
    } else {
        Ok(boxed_app(ServeDir::new(root).options(options)))
    }
}
