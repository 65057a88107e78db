//! One request truth: the path and host every layer decides on.
//!
//! A request path can be spelled many ways that name the same thing:
//! `/private/`, `/%70rivate/`, `//private/`, `/./private/` and
//! `/public/../private/` all reach the same folder of a document root. If a
//! login layer compared the path as written while the document root decoded
//! it, the second spelling would walk past the login. WSGI avoided this by
//! decoding `PATH_INFO` once, in the server; towerkit does it here, once, and
//! every layer that decides by path (mounting, files, `protect`, error
//! documents) decides on the result.
//!
//! [`canonical_path`] gives the one spelling of a path:
//! - each segment is percent-decoded, then encoded again one way: letters,
//!   digits, `-._~!$&'()*+,;=:@` as themselves, every other byte as `%XX`
//!   with upper-case hex digits, so `/%70rivate` is `/private` and
//!   `/caf%c3%a9` is `/caf%C3%A9`;
//! - empty segments (`//`) and `.` segments are dropped;
//! - a `..` segment (also `%2e%2e`) removes the segment before it, and one
//!   that would climb above the root is refused;
//! - an encoded slash (`%2F`) stays data inside its segment, never a
//!   separator: `/a%2Fb` is one segment named `a/b`;
//! - a segment that does not decode to UTF-8, or that holds a control
//!   character (NUL, CR, LF…), is refused;
//! - a trailing slash is kept (`/docs/` is not `/docs`), and a path ending
//!   in `/.` or `/..` names a folder, so it ends in `/`.
//!
//! Refusals are [`BadRequest`]s, answered 400. [`canonicalize`] rewrites a
//! request's `PATH_INFO` to its canonical spelling (recording the
//! [`OriginalUri`](crate::OriginalUri) once); it costs one scan of the path
//! when the path is already canonical, which it is after the first layer.
//! `towerkit-server` calls [`check`] for every request, and every deciding
//! layer calls [`canonicalize`] again, so that the layers agree with each
//! other also when they run under another server (axum's, hyper's).
//!
//! ```
//! use towerkit_core::canonical::canonical_path;
//!
//! for spelling in ["/private/", "/%70rivate/", "//private/", "/./private/", "/x/../private/"] {
//!     assert_eq!(canonical_path(spelling).unwrap(), "/private/");
//! }
//! assert_eq!(canonical_path("/a%2fb").unwrap(), "/a%2Fb");
//! assert!(canonical_path("/../etc/passwd").is_err());
//! assert!(canonical_path("/a%00b").is_err());
//! ```
//!
//! The host is validated once too: [`check`] refuses an HTTP/1.1 request
//! without exactly one valid `Host` (RFC 9112 §3.2), and
//! [`host`](crate::url::host) reads the host a request addressed the same
//! way for every layer, the target's authority first in an absolute-form
//! request (§3.2.2).

use std::borrow::Cow;
use std::fmt;

use http::header::HOST;
use http::{Request, Version};
use percent_encoding::percent_decode;

use crate::exception::HttpException;
use crate::path::{path_info, set_path_info};

/// Why a request was refused: its path or its host cannot be read one
/// unambiguous way. Answered `400 Bad Request`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BadRequest {
    /// A `..` segment would climb above the root of the path.
    AboveRoot,
    /// A segment does not decode to UTF-8.
    NotUtf8,
    /// A segment decodes to a control character (NUL, CR, LF…).
    Control,
    /// The canonical path cannot stand in a URI (never for a path `http`
    /// accepted).
    Unrepresentable,
    /// An HTTP/1.1 request has no `Host` field.
    MissingHost,
    /// A request has more than one `Host` field.
    DuplicateHost,
    /// The `Host` field is not a valid `host[:port]`.
    InvalidHost,
}

impl fmt::Display for BadRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BadRequest::AboveRoot => "The path climbs above the root with '..'.",
            BadRequest::NotUtf8 => "The path does not decode to UTF-8.",
            BadRequest::Control => "The path holds a control character.",
            BadRequest::Unrepresentable => "The path cannot be represented.",
            BadRequest::MissingHost => "An HTTP/1.1 request needs a Host header.",
            BadRequest::DuplicateHost => "The request has more than one Host header.",
            BadRequest::InvalidHost => "The Host header is not a valid host name.",
        })
    }
}

impl std::error::Error for BadRequest {}

impl From<BadRequest> for HttpException {
    fn from(bad: BadRequest) -> HttpException {
        HttpException::bad_request().with_detail(bad.to_string())
    }
}

/// Bytes a canonical segment keeps as they are: RFC 3986's unreserved
/// characters, its sub-delimiters, `:` and `@`. Every other byte is
/// percent-encoded.
fn is_plain(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'.'
                | b'_'
                | b'~'
                | b'!'
                | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b';'
                | b'='
                | b':'
                | b'@'
        )
}

/// Whether `path` is already canonical: one scan, no allocation.
fn is_canonical(path: &str) -> bool {
    let bytes = path.as_bytes();
    if bytes.first() != Some(&b'/') {
        return false;
    }
    // Walk segment by segment: each must be non-empty (but the last, after a
    // trailing slash), plain, and neither `.` nor `..`.
    let mut start = 1;
    while start <= bytes.len() {
        let end = bytes[start..]
            .iter()
            .position(|&b| b == b'/')
            .map_or(bytes.len(), |i| start + i);
        let segment = &bytes[start..end];
        let last = end == bytes.len();
        if segment.is_empty() {
            if !last {
                return false;
            }
        } else if segment == b"." || segment == b".." || !segment.iter().all(|&b| is_plain(b)) {
            return false;
        }
        start = end + 1;
    }
    true
}

/// The canonical spelling of a path (see the [module](self) docs), or why
/// it has none.
///
/// An empty path (`PATH_INFO` when a mount consumed everything) and the
/// asterisk of `OPTIONS *` are returned as they are. Already canonical paths
/// are borrowed.
pub fn canonical_path(path: &str) -> Result<Cow<'_, str>, BadRequest> {
    if path.is_empty() || path == "*" || is_canonical(path) {
        return Ok(Cow::Borrowed(path));
    }
    let mut out = String::with_capacity(path.len() + 8);
    // Where each kept segment starts in `out`, for `..`.
    let mut starts: Vec<usize> = Vec::new();
    let mut trailing_slash = false;
    let raw_segments = path.strip_prefix('/').unwrap_or(path).split('/');
    for raw in raw_segments {
        let decoded: Cow<'_, [u8]> = percent_decode(raw.as_bytes()).into();
        match &*decoded {
            b"" | b"." => trailing_slash = true,
            b".." => {
                let start = starts.pop().ok_or(BadRequest::AboveRoot)?;
                out.truncate(start);
                trailing_slash = true;
            }
            bytes => {
                let text = std::str::from_utf8(bytes).map_err(|_| BadRequest::NotUtf8)?;
                if text.chars().any(char::is_control) {
                    return Err(BadRequest::Control);
                }
                starts.push(out.len());
                out.push('/');
                encode_segment(bytes, &mut out);
                trailing_slash = false;
            }
        }
    }
    if out.is_empty() || trailing_slash {
        out.push('/');
    }
    if out == path {
        // Canonical, with percent-encoded bytes the scan does not decode.
        return Ok(Cow::Borrowed(path));
    }
    Ok(Cow::Owned(out))
}

fn encode_segment(bytes: &[u8], out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in bytes {
        if is_plain(b) {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 0xf)] as char);
        }
    }
}

/// Rewrites the request's `PATH_INFO` to its canonical spelling, if it is not
/// already canonical. The first rewrite records the
/// [`OriginalUri`](crate::OriginalUri).
///
/// Every layer that decides by path calls this first, and decides on
/// [`path_info`] afterwards; a refusal is answered 400
/// (`HttpException::from(bad)`).
pub fn canonicalize<B>(req: &mut Request<B>) -> Result<(), BadRequest> {
    // `PATH_INFO` is the URI path, or empty: canonical whenever the URI
    // path is, which is the case after the first layer. Checked without
    // looking up the empty-path marker.
    if is_canonical(req.uri().path()) {
        return Ok(());
    }
    let canonical = match canonical_path(path_info(req))? {
        Cow::Borrowed(_) => return Ok(()),
        Cow::Owned(canonical) => canonical,
    };
    set_path_info(req, &canonical).map_err(|_| BadRequest::Unrepresentable)
}

/// What a server checks of every request before a layer sees it: the path
/// is made canonical ([`canonicalize`]) and the `Host` is validated
/// ([`check_host`]).
pub fn check<B>(req: &mut Request<B>) -> Result<(), BadRequest> {
    check_host(req)?;
    canonicalize(req)
}

/// RFC 9112 §3.2: an HTTP/1.1 request needs exactly one valid `Host`; any
/// request with more than one, or an invalid one, is refused. (An HTTP/2
/// request names its host in the `:authority` of its URI.)
pub fn check_host<B>(req: &Request<B>) -> Result<(), BadRequest> {
    let mut hosts = req.headers().get_all(HOST).iter();
    match (hosts.next(), hosts.next()) {
        (None, _) if req.version() == Version::HTTP_11 => Err(BadRequest::MissingHost),
        (None, _) => Ok(()),
        (Some(_), Some(_)) => Err(BadRequest::DuplicateHost),
        (Some(host), None) => match host.to_str() {
            Ok(host) if is_valid_host(host) => Ok(()),
            _ => Err(BadRequest::InvalidHost),
        },
    }
}

/// Whether `host` is a valid `Host` value: a registered name or IPv4
/// address, or a bracketed IPv6 literal, then an optional `:port` of at most
/// five digits, at most 65535 (RFC 3986 §3.2.2, RFC 9110 §7.2). Names are
/// held to letters, digits, `-`, `.` and `_`: enough for every DNS name,
/// safe to put in a URL or a log. One pass over the bytes, no allocation:
/// every request's host is checked.
pub fn is_valid_host(host: &str) -> bool {
    let bytes = host.as_bytes();
    let (name_ok, rest) = if bytes.first() == Some(&b'[') {
        match bytes.iter().position(|&b| b == b']') {
            Some(end) => (
                host[1..end].parse::<std::net::Ipv6Addr>().is_ok(),
                &bytes[end + 1..],
            ),
            None => return false,
        }
    } else {
        let end = bytes.iter().position(|&b| b == b':').unwrap_or(bytes.len());
        let name = &bytes[..end];
        (
            !name.is_empty()
                && name
                    .iter()
                    .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_')),
            &bytes[end..],
        )
    };
    name_ok
        && match rest {
            [] | [b':'] => true,
            [b':', port @ ..] => {
                port.len() <= 5
                    && port.iter().all(u8::is_ascii_digit)
                    && port.iter().fold(0u32, |n, &d| n * 10 + u32::from(d - b'0')) <= 65535
            }
            _ => false,
        }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(path: &str) -> Result<String, BadRequest> {
        canonical_path(path).map(Cow::into_owned)
    }

    #[test]
    fn plain_paths_are_borrowed() {
        for path in [
            "/",
            "/a",
            "/a/",
            "/a/b.html",
            "/caf%C3%A9",
            "/a;b=c/d",
            "/~user/x@y",
        ] {
            assert!(
                matches!(canonical_path(path), Ok(Cow::Borrowed(_))),
                "{path}"
            );
        }
        assert!(matches!(canonical_path(""), Ok(Cow::Borrowed(""))));
        assert!(matches!(canonical_path("*"), Ok(Cow::Borrowed("*"))));
    }

    #[test]
    fn spellings_of_one_path_agree() {
        for spelling in [
            "/private/",
            "/%70rivate/",
            "/%70%72%69%76%61%74%65/",
            "//private/",
            "/private//",
            "///private///",
            "/./private/",
            "/private/./",
            "/private/.",
            "/%2e/private/",
            "/x/../private/",
            "/x/%2E%2E/private/",
            "/x/y/../../private/",
            "/private/x/..",
        ] {
            assert_eq!(canon(spelling), Ok("/private/".into()), "{spelling}");
        }
    }

    #[test]
    fn encoding_is_one_way() {
        assert_eq!(canon("/caf%c3%a9"), Ok("/caf%C3%A9".into()));
        assert_eq!(canon("/a%20b"), Ok("/a%20b".into()));
        assert_eq!(canon("/%7Euser"), Ok("/~user".into()));
        assert_eq!(canon("/a%2Bb"), Ok("/a+b".into()));
        assert_eq!(canon("/a%25b"), Ok("/a%25b".into()));
        assert_eq!(canon("/a%3Fb%23c"), Ok("/a%3Fb%23c".into()));
        assert_eq!(canon("/a\"b{c}"), Ok("/a%22b%7Bc%7D".into()));
    }

    #[test]
    fn encoded_slash_is_data() {
        assert_eq!(canon("/a%2fb"), Ok("/a%2Fb".into()));
        assert_eq!(canon("/a%2F..%2Fb"), Ok("/a%2F..%2Fb".into()));
        assert_eq!(canon("/private%2F"), Ok("/private%2F".into()));
    }

    #[test]
    fn refusals() {
        assert_eq!(canon("/.."), Err(BadRequest::AboveRoot));
        assert_eq!(canon("/../a"), Err(BadRequest::AboveRoot));
        assert_eq!(canon("/a/../../b"), Err(BadRequest::AboveRoot));
        assert_eq!(canon("/%2e%2e/a"), Err(BadRequest::AboveRoot));
        assert_eq!(canon("/a%00"), Err(BadRequest::Control));
        assert_eq!(canon("/a%0d%0aSet-Cookie:x"), Err(BadRequest::Control));
        assert_eq!(canon("/%ff"), Err(BadRequest::NotUtf8));
        assert_eq!(canon("/%c3"), Err(BadRequest::NotUtf8));
    }

    #[test]
    fn dots_in_names_are_names() {
        assert_eq!(canon("/.../a"), Ok("/.../a".into()));
        assert_eq!(canon("/.hidden"), Ok("/.hidden".into()));
        assert_eq!(canon("/a..b"), Ok("/a..b".into()));
    }

    #[test]
    fn canonicalize_rewrites_and_keeps_the_query() {
        let mut req = Request::get("/x/../%70rivate?a=%2F").body(()).unwrap();
        canonicalize(&mut req).unwrap();
        assert_eq!(req.uri(), "/private?a=%2F");
        assert_eq!(
            req.extensions().get::<crate::OriginalUri>().unwrap().0,
            "/x/../%70rivate?a=%2F"
        );
    }

    #[test]
    fn hosts() {
        let req = |version, hosts: &[&str]| {
            let mut builder = Request::get("/").version(version);
            for host in hosts {
                builder = builder.header(HOST, *host);
            }
            builder.body(()).unwrap()
        };
        assert_eq!(
            check_host(&req(Version::HTTP_11, &[])),
            Err(BadRequest::MissingHost)
        );
        assert_eq!(check_host(&req(Version::HTTP_10, &[])), Ok(()));
        assert_eq!(check_host(&req(Version::HTTP_2, &[])), Ok(()));
        assert_eq!(
            check_host(&req(Version::HTTP_11, &["a", "b"])),
            Err(BadRequest::DuplicateHost)
        );
        assert_eq!(
            check_host(&req(Version::HTTP_11, &["example.com:8080"])),
            Ok(())
        );
        for bad in [
            "", "a b", "a/b", "a:x", "a:123456", "a:99999", "[::1", "[zz]:80", "a@b",
        ] {
            assert_eq!(
                check_host(&req(Version::HTTP_11, &[bad])),
                Err(BadRequest::InvalidHost),
                "{bad:?}"
            );
        }
        for good in [
            "localhost",
            "127.0.0.1:80",
            "[::1]:8443",
            "[::1]",
            "my_host.local",
            "a:",
        ] {
            assert_eq!(
                check_host(&req(Version::HTTP_11, &[good])),
                Ok(()),
                "{good:?}"
            );
        }
    }
}
