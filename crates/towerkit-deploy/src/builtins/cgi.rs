//! `use = "cgi"` and the `cgi` file handler, from towerkit-cgi.

use super::*;

/// `use = "cgi"`: `root` (a folder of scripts) or `script` (one), `timeout`,
/// `pass_env`, `max_concurrent`.
pub(super) fn cgi(section: &mut Section<'_, '_>) -> Result<BoxApp, ConfigError> {
    let root = section.path("root")?;
    let script = section.path("script")?;
    let mut app = match (root, script) {
        (Some(root), None) => {
            if !root.is_dir() {
                return Err(section.error("root", format!("{} is not a folder", root.display())));
            }
            Cgi::root(root)
        }
        (None, Some(script)) => {
            if !script.is_file() {
                return Err(section.error("script", format!("{} is not a file", script.display())));
            }
            Cgi::script(script)
        }
        (Some(_), Some(_)) => return Err(section.error("script", "give root or script, not both")),
        (None, None) => {
            return Err(section.section_error("give root (a folder of scripts) or script (one)"))
        }
    };
    if let Some(timeout) = section.get::<HumanDuration>("timeout")? {
        app = app.timeout(timeout.0);
    }
    if let Some(names) = section.get::<Vec<String>>("pass_env")? {
        app = app.pass_env(names);
    }
    if let Some(n) = section.get::<usize>("max_concurrent")? {
        if n == 0 {
            return Err(section.error("max_concurrent", "must be at least 1"));
        }
        app = app.max_concurrent(n);
    }
    Ok(boxed_app(app))
}
