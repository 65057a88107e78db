//! From a request path to a file under a root, refusing every way out.

use std::path::{Path, PathBuf};

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

/// The file a `PATH_INFO` names under `root`.
pub(crate) fn resolve(root: &Path, path_info: &str) -> Result<PathBuf, Refused> {
    let mut path = root.to_path_buf();
    for raw in path_info.split('/').filter(|s| !s.is_empty()) {
        path.push(file_name(raw).ok_or(Refused)?);
    }
    Ok(path)
}

/// Whether `path` (which exists) stays under `canonical_root` once every
/// symlink is followed.
pub(crate) fn stays_inside(path: &Path, canonical_root: &Path) -> bool {
    std::fs::canonicalize(path).is_ok_and(|real| real.starts_with(canonical_root))
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
        let root = Path::new("/srv");
        assert_eq!(
            resolve(root, "/a//b/c.txt"),
            Ok(PathBuf::from("/srv/a/b/c.txt"))
        );
        assert_eq!(resolve(root, "/a/../../etc/passwd"), Err(Refused));
        assert_eq!(resolve(root, "/%2e%2e/etc"), Err(Refused));
    }
}
