//! From a request path to a file under a root, refusing every way out.

use std::path::PathBuf;

use percent_encoding::percent_decode_str;

/// Why a path was refused; both answer 404, so nothing is revealed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Refused;

/// Decodes one path segment into a file name that stays in its folder:
/// valid UTF-8, not `.` or `..`, no `/`, `\` or NUL, not hidden (a leading
/// `.`), except `.well-known`.
pub fn file_name(raw: &str) -> Option<String> {
    let name = percent_decode_str(raw).decode_utf8().ok()?;
    let refused = name.is_empty()
        || name == "."
        || name == ".."
        || name.contains(['/', '\\', '\0'])
        || (name.starts_with('.') && name != ".well-known");
    (!refused).then(|| name.into_owned())
}

/// The path, relative to the root, that a `PATH_INFO` names.
pub(crate) fn resolve(path_info: &str) -> Result<PathBuf, Refused> {
    let mut path = PathBuf::new();
    for raw in path_info.split('/').filter(|s| !s.is_empty()) {
        path.push(file_name(raw).ok_or(Refused)?);
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(file_name("a.txt").as_deref(), Some("a.txt"));
        assert_eq!(file_name("caf%C3%A9").as_deref(), Some("café"));
        assert_eq!(file_name(".well-known").as_deref(), Some(".well-known"));
        for bad in [
            "", ".", "..", "%2e%2e", "%2E.", "a%2fb", "a%5cb", "a\\b", "a%00b", ".git", ".env",
            "%FF", "%2e",
        ] {
            assert_eq!(file_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn paths() {
        assert_eq!(resolve("/a//b/c.txt"), Ok(PathBuf::from("a/b/c.txt")));
        assert_eq!(resolve("/"), Ok(PathBuf::new()));
        assert_eq!(resolve("/a/../../etc/passwd"), Err(Refused));
        assert_eq!(resolve("/%2e%2e/etc"), Err(Refused));
    }
}
