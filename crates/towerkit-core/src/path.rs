//! `PATH_INFO` and `SCRIPT_NAME`: moving path segments as an app is mounted.
//!
//! A mounting layer (a URL map, a document root) consumes the leading
//! segments of the path and hands the rest to the app it found. The consumed
//! part goes to [`ScriptName`], the rest stays as the URI path, so the mounted
//! app sees paths relative to where it is mounted and can still build
//! absolute URLs from both:
//!
//! ```
//! use http::Request;
//! use towerkit_core::{path_info, shift_path_info, ScriptName};
//!
//! let mut req = Request::get("/blog/2024/post?page=2").body(()).unwrap();
//! assert_eq!(shift_path_info(&mut req).as_deref(), Some("blog"));
//! assert_eq!(ScriptName::of(&req), "/blog");
//! assert_eq!(path_info(&req), "/2024/post");
//! assert_eq!(req.uri().query(), Some("page=2"));
//! ```
//!
//! The rules, after `wsgiref.util.shift_path_info`:
//! - segments stay percent-encoded in [`ScriptName`] and the path; the name
//!   returned is decoded;
//! - empty segments (`//`) and `.` segments are skipped, never returned;
//! - a `..` segment (also written `%2e%2e`) is never shifted: the shift
//!   returns `None` and changes nothing, so no layer can walk upwards;
//! - when the whole path is consumed, `PATH_INFO` is empty (`/docs`), which
//!   is not the same as `/` (`/docs/`): [`path_info`] tells them apart.

use std::fmt;

use http::uri::PathAndQuery;
use http::{Request, Uri};
use percent_encoding::percent_decode_str;

use crate::environ::{OriginalUri, ScriptName};

/// Marks a request whose `PATH_INFO` is empty although its URI path must
/// read `/` (an [`http::Uri`] cannot hold an empty path).
#[derive(Clone, Copy, Debug)]
struct EmptyPathInfo;

/// `PATH_INFO`: the path still to be routed, percent-encoded.
///
/// Empty when a mounting layer consumed the whole path (`/docs` mounted at
/// `/docs`), `/` when a slash is left (`/docs/`).
pub fn path_info<B>(req: &Request<B>) -> &str {
    let path = req.uri().path();
    if path == "/" && req.extensions().get::<EmptyPathInfo>().is_some() {
        ""
    } else {
        path
    }
}

/// One segment of a path, as [`segments`] yields it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment<'a> {
    /// The segment as it stands in the path, still percent-encoded.
    pub raw: &'a str,
    /// Where the segment ends in the path (a byte offset).
    pub end: usize,
}

impl Segment<'_> {
    /// The percent-decoded segment (invalid UTF-8 replaced).
    pub fn decoded(&self) -> String {
        percent_decode_str(self.raw)
            .decode_utf8_lossy()
            .into_owned()
    }

    /// Whether this is `..` (or an encoded form of it).
    pub fn is_parent(&self) -> bool {
        decodes_to(self.raw, b"..")
    }
}

fn decodes_to(raw: &str, expected: &[u8]) -> bool {
    raw.len() <= 3 * expected.len() && percent_decode_str(raw).eq(expected.iter().copied())
}

/// Iterates over the segments of an encoded path, skipping empty and `.`
/// segments. `..` segments are yielded: check [`Segment::is_parent`].
pub fn segments(path: &str) -> Segments<'_> {
    Segments { path, pos: 0 }
}

/// The iterator of [`segments`].
#[derive(Clone, Debug)]
pub struct Segments<'a> {
    path: &'a str,
    pos: usize,
}

impl<'a> Iterator for Segments<'a> {
    type Item = Segment<'a>;

    fn next(&mut self) -> Option<Segment<'a>> {
        loop {
            let rest = &self.path[self.pos..];
            let start = self.pos + (rest.len() - rest.trim_start_matches('/').len());
            if start == self.path.len() {
                self.pos = start;
                return None;
            }
            let end = self.path[start..]
                .find('/')
                .map_or(self.path.len(), |i| start + i);
            self.pos = end;
            let raw = &self.path[start..end];
            if !decodes_to(raw, b".") {
                return Some(Segment { raw, end });
            }
        }
    }
}

/// Moves the next segment of the path to [`ScriptName`] and returns it,
/// decoded.
///
/// Returns `None`, and changes nothing, when no segment is left or the next
/// one is `..`.
pub fn shift_path_info<B>(req: &mut Request<B>) -> Option<String> {
    let name = segments(path_info(req)).next()?.decoded();
    shift_path_segments(req, 1).then_some(name)
}

/// Moves the next `n` segments of the path to [`ScriptName`] at once.
///
/// Returns `false`, and changes nothing, when fewer than `n` segments are
/// left or one of them is `..`.
pub fn shift_path_segments<B>(req: &mut Request<B>, n: usize) -> bool {
    if n == 0 {
        return true;
    }
    let path = path_info(req);
    let mut script = ScriptName::of(req).to_owned();
    let mut end = 0;
    let mut iter = segments(path);
    for _ in 0..n {
        match iter.next() {
            Some(segment) if !segment.is_parent() => {
                script.push('/');
                script.push_str(segment.raw);
                end = segment.end;
            }
            _ => return false,
        }
    }
    let rest = &path[end..];
    let rest = if rest.is_empty() {
        String::new()
    } else {
        format!("/{}", rest.trim_start_matches('/'))
    };
    match set_path_info(req, &rest) {
        Ok(()) => {
            req.extensions_mut().insert(ScriptName(script));
            true
        }
        Err(_) => false,
    }
}

/// Sets [`ScriptName`] and `PATH_INFO` together, e.g. to dispatch a request
/// anew below a prefix. Both are percent-encoded; `script_name` must be empty
/// or start with `/`, `path_info` likewise.
pub fn mount<B>(
    req: &mut Request<B>,
    script_name: &str,
    path_info: &str,
) -> Result<(), InvalidPath> {
    if !(script_name.is_empty() || script_name.starts_with('/')) {
        return Err(InvalidPath(script_name.to_owned()));
    }
    set_path_info(req, path_info)?;
    req.extensions_mut()
        .insert(ScriptName(script_name.trim_end_matches('/').to_owned()));
    Ok(())
}

/// Replaces `PATH_INFO` (the URI path), keeping the query; the first change
/// records the [`OriginalUri`].
pub fn set_path_info<B>(req: &mut Request<B>, path: &str) -> Result<(), InvalidPath> {
    if !(path.is_empty() || path.starts_with('/')) {
        return Err(InvalidPath(path.to_owned()));
    }
    let uri_path = if path.is_empty() { "/" } else { path };
    let path_and_query = match req.uri().query() {
        Some(query) => format!("{uri_path}?{query}"),
        None => uri_path.to_owned(),
    };
    let path_and_query =
        PathAndQuery::try_from(path_and_query).map_err(|_| InvalidPath(path.to_owned()))?;
    let mut parts = req.uri().clone().into_parts();
    parts.path_and_query = Some(path_and_query);
    let uri = Uri::from_parts(parts).map_err(|_| InvalidPath(path.to_owned()))?;
    if req.extensions().get::<OriginalUri>().is_none() {
        let original = OriginalUri(req.uri().clone());
        req.extensions_mut().insert(original);
    }
    *req.uri_mut() = uri;
    if path.is_empty() {
        req.extensions_mut().insert(EmptyPathInfo);
    } else {
        req.extensions_mut().remove::<EmptyPathInfo>();
    }
    Ok(())
}

/// A path that cannot stand in a request URI.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidPath(String);

impl fmt::Display for InvalidPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid request path {:?}", self.0)
    }
}

impl std::error::Error for InvalidPath {}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(uri: &str) -> Request<()> {
        Request::get(uri).body(()).unwrap()
    }

    fn shifted(uri: &str) -> (Option<String>, String, String) {
        let mut r = req(uri);
        let name = shift_path_info(&mut r);
        (
            name,
            ScriptName::of(&r).to_owned(),
            path_info(&r).to_owned(),
        )
    }

    #[test]
    fn shifts_one_segment() {
        assert_eq!(
            shifted("/a/b/c"),
            (Some("a".into()), "/a".into(), "/b/c".into())
        );
    }

    #[test]
    fn whole_path_leaves_empty_path_info_not_slash() {
        assert_eq!(
            shifted("/docs"),
            (Some("docs".into()), "/docs".into(), "".into())
        );
        assert_eq!(
            shifted("/docs/"),
            (Some("docs".into()), "/docs".into(), "/".into())
        );
    }

    #[test]
    fn nothing_to_shift() {
        assert_eq!(shifted("/"), (None, "".into(), "/".into()));
        assert_eq!(shifted("///"), (None, "".into(), "///".into()));
    }

    #[test]
    fn empty_segments_collapse() {
        assert_eq!(
            shifted("//a//b"),
            (Some("a".into()), "/a".into(), "/b".into())
        );
        assert_eq!(shifted("/a//"), (Some("a".into()), "/a".into(), "/".into()));
    }

    #[test]
    fn dot_segments_are_skipped_and_dotdot_never_shifts() {
        assert_eq!(shifted("/./a"), (Some("a".into()), "/a".into(), "".into()));
        assert_eq!(
            shifted("/%2e/a"),
            (Some("a".into()), "/a".into(), "".into())
        );
        assert_eq!(shifted("/../a"), (None, "".into(), "/../a".into()));
        assert_eq!(shifted("/%2e%2E/a"), (None, "".into(), "/%2e%2E/a".into()));
        assert_eq!(shifted("/.%2e/a"), (None, "".into(), "/.%2e/a".into()));
        // `...` is an ordinary name.
        assert_eq!(
            shifted("/.../a"),
            (Some("...".into()), "/...".into(), "/a".into())
        );
    }

    #[test]
    fn encoded_segments_stay_encoded_and_name_is_decoded() {
        assert_eq!(
            shifted("/caf%C3%A9/x%20y"),
            (Some("café".into()), "/caf%C3%A9".into(), "/x%20y".into())
        );
        // An encoded slash is part of the name, not a separator.
        assert_eq!(
            shifted("/a%2Fb/c"),
            (Some("a/b".into()), "/a%2Fb".into(), "/c".into())
        );
    }

    #[test]
    fn unicode_sent_raw_is_handled() {
        // Clients should encode, but what `http` accepts must not break us.
        let (name, script, path) = shifted("/%E2%9C%93/x");
        assert_eq!(name.as_deref(), Some("✓"));
        assert_eq!((script.as_str(), path.as_str()), ("/%E2%9C%93", "/x"));
    }

    #[test]
    fn query_is_kept_and_original_uri_recorded_once() {
        let mut r = req("/a/b/c?x=1&y=2");
        shift_path_info(&mut r);
        shift_path_info(&mut r);
        assert_eq!(r.uri(), "/c?x=1&y=2");
        assert_eq!(ScriptName::of(&r), "/a/b");
        assert_eq!(
            r.extensions().get::<OriginalUri>().unwrap().0,
            "/a/b/c?x=1&y=2"
        );
    }

    #[test]
    fn shifting_many_is_all_or_nothing() {
        let mut r = req("/a/b/../c");
        assert!(!shift_path_segments(&mut r, 3));
        assert_eq!(path_info(&r), "/a/b/../c");
        assert!(shift_path_segments(&mut r, 2));
        assert_eq!((ScriptName::of(&r), path_info(&r)), ("/a/b", "/../c"));
    }

    #[test]
    fn set_path_info_clears_empty_marker() {
        let mut r = req("/x");
        shift_path_info(&mut r);
        assert_eq!(path_info(&r), "");
        set_path_info(&mut r, "/").unwrap();
        assert_eq!(path_info(&r), "/");
        assert!(set_path_info(&mut r, "relative").is_err());
        assert!(set_path_info(&mut r, "/with space").is_err());
    }

    #[test]
    fn mount_sets_both() {
        let mut r = req("/whatever?q");
        mount(&mut r, "/app/", "/x/y").unwrap();
        assert_eq!((ScriptName::of(&r), path_info(&r)), ("/app", "/x/y"));
        assert_eq!(r.uri().query(), Some("q"));
    }
}
