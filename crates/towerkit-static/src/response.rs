//! Answering for one file: validators, preconditions, ranges, the body.

use std::collections::hash_map::RandomState;
use std::collections::VecDeque;
use std::fs::File;
use std::hash::{BuildHasher, Hasher};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header::{
    HeaderValue, ACCEPT_ENCODING, ACCEPT_RANGES, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_LENGTH,
    CONTENT_RANGE, CONTENT_TYPE, ETAG, LAST_MODIFIED, RANGE, VARY,
};
use http::request::Parts;
use http::{Method, Response, StatusCode};
use towerkit_core::{Body, Format, HttpException};

use crate::body::{FileBody, Piece};
use crate::conditional::{self, Outcome, Validators};
use crate::options::StaticOptions;
use crate::range::{self, Ranges};
use crate::root::Root;

/// Files up to this size are read in the same trip to the blocking pool as
/// the open, and sent from memory.
const SMALL: u64 = 64 * 1024;

/// A file opened for a request.
struct Opened {
    file: File,
    len: u64,
    modified: SystemTime,
    gzip: bool,
    has_gzip_sibling: bool,
    small: Option<Bytes>,
}

/// What opening found.
enum Found {
    File(Opened),
    Directory,
}

/// Where the file to serve is.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Location<'a> {
    /// A path, opened as it is.
    Path(&'a Path),
    /// A path relative to a root, never opened above it.
    Beneath(&'a Root, &'a Path),
}

impl Location<'_> {
    /// Opens the file, or its sibling with `suffix` appended (`.gz`).
    fn open(&self, suffix: &str) -> io::Result<File> {
        let with_suffix = |path: &Path| {
            let mut name = path.as_os_str().to_owned();
            name.push(suffix);
            PathBuf::from(name)
        };
        match self {
            Location::Path(path) => File::open(with_suffix(path)),
            Location::Beneath(root, relative) => root.open(&with_suffix(relative)),
        }
    }

    /// The path, for the content type and logs.
    fn path(&self) -> &Path {
        match self {
            Location::Path(path) | Location::Beneath(_, path) => path,
        }
    }
}

/// The answer for the file at `location`, or `None` when it is a folder.
pub(crate) async fn respond(
    parts: &Parts,
    location: Location<'_>,
    options: &StaticOptions,
) -> Option<Response<Body>> {
    let format = Format::negotiate(parts.headers.get(http::header::ACCEPT));
    if parts.method != Method::GET && parts.method != Method::HEAD {
        return Some(
            HttpException::method_not_allowed(&[Method::GET, Method::HEAD]).to_response(format),
        );
    }
    let wants_gzip = options.precompressed_gzip && accepts_gzip(parts);
    let read_small = parts.method == Method::GET;
    // Opening, `fstat` and reading a small file are done here, on the
    // runtime thread, as nginx does in its event loop: for files in the page
    // cache they take microseconds, far less than a trip to the blocking
    // pool. Only the chunks of large files are read on the blocking pool.
    let opened = match open(location, options.precompressed_gzip, wants_gzip, read_small) {
        Ok(Found::File(opened)) => opened,
        Ok(Found::Directory) => return None,
        Err(err) => return Some(io_error(&err, location.path(), format)),
    };
    let content_type = content_type_of(location.path());
    Some(answer(parts, opened, content_type, options, format))
}

fn open(
    location: Location<'_>,
    precompressed: bool,
    wants_gzip: bool,
    read_small: bool,
) -> io::Result<Found> {
    let file = location.open("")?;
    let metadata = file.metadata()?;
    if metadata.is_dir() {
        return Ok(Found::Directory);
    }
    if !metadata.is_file() {
        return Err(io::ErrorKind::NotFound.into());
    }
    let gz = if precompressed {
        location
            .open(".gz")
            .ok()
            .and_then(|gz| gz.metadata().ok().filter(|m| m.is_file()).map(|m| (gz, m)))
    } else {
        None
    };
    let has_gzip_sibling = gz.is_some();
    let (file, metadata, gzip) = match gz {
        Some((gz, gz_metadata)) if wants_gzip => (gz, gz_metadata, true),
        _ => (file, metadata, false),
    };
    let len = metadata.len();
    let small = if read_small && len <= SMALL {
        let mut buf = Vec::with_capacity(len as usize);
        (&file).take(len).read_to_end(&mut buf)?;
        Some(Bytes::from(buf))
    } else {
        None
    };
    Ok(Found::File(Opened {
        file,
        len,
        modified: metadata.modified().unwrap_or(UNIX_EPOCH),
        gzip,
        has_gzip_sibling,
        small,
    }))
}

fn answer(
    parts: &Parts,
    opened: Opened,
    content_type: HeaderValue,
    options: &StaticOptions,
    format: Format,
) -> Response<Body> {
    let since_epoch = opened
        .modified
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let etag = format!(
        "\"{:x}-{:x}{}\"",
        opened.len,
        since_epoch.as_nanos(),
        if opened.gzip { "-gz" } else { "" }
    );
    let last_modified = UNIX_EPOCH + Duration::from_secs(since_epoch.as_secs());
    let validators = Validators {
        etag: &etag,
        last_modified,
    };

    let mut response = Response::new(Body::empty());
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&etag) {
        headers.insert(ETAG, value);
    }
    if let Ok(value) = HeaderValue::from_str(&httpdate::fmt_http_date(last_modified)) {
        headers.insert(LAST_MODIFIED, value);
    }
    if let Some(max_age) = options.max_age {
        if let Ok(value) = HeaderValue::from_str(&format!("max-age={}", max_age.as_secs())) {
            headers.insert(CACHE_CONTROL, value);
        }
    }
    if opened.has_gzip_sibling {
        headers.insert(VARY, HeaderValue::from_static("accept-encoding"));
    }

    match conditional::evaluate(&parts.method, &parts.headers, &validators) {
        Outcome::Proceed => {}
        Outcome::NotModified => {
            *response.status_mut() = StatusCode::NOT_MODIFIED;
            return response;
        }
        Outcome::PreconditionFailed => {
            let mut failed = HttpException::precondition_failed().to_response(format);
            failed.headers_mut().extend(response.headers_mut().drain());
            return failed;
        }
    }

    let headers = response.headers_mut();
    headers.insert(ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if opened.gzip {
        headers.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }

    let ranges = match parts.headers.get(RANGE).and_then(|v| v.to_str().ok()) {
        Some(header)
            if parts.method == Method::GET
                && conditional::range_allowed(&parts.headers, &validators) =>
        {
            range::parse(header, opened.len)
        }
        _ => Ranges::Whole,
    };
    let head = parts.method == Method::HEAD;
    let file = Arc::new(opened.file);
    let (status, length, body) = match ranges {
        Ranges::Unsatisfiable => {
            let mut refused = HttpException::range_not_satisfiable(opened.len).to_response(format);
            refused.headers_mut().extend(response.headers_mut().drain());
            return refused;
        }
        Ranges::Whole => {
            response
                .headers_mut()
                .insert(CONTENT_TYPE, content_type.clone());
            let body = match opened.small {
                Some(bytes) => Body::from(bytes),
                None => whole(file, opened.len, head),
            };
            (StatusCode::OK, opened.len, body)
        }
        Ranges::Some(ranges) if ranges.len() == 1 => {
            let (start, end) = ranges[0];
            let headers = response.headers_mut();
            headers.insert(CONTENT_TYPE, content_type.clone());
            if let Ok(value) = HeaderValue::from_str(&format!("bytes {start}-{end}/{}", opened.len))
            {
                headers.insert(CONTENT_RANGE, value);
            }
            let len = end - start + 1;
            let body = match &opened.small {
                Some(bytes) => Body::from(bytes.slice(start as usize..=end as usize)),
                None => Body::new(FileBody::new(
                    file,
                    VecDeque::from([Piece::File { offset: start, len }]),
                )),
            };
            (StatusCode::PARTIAL_CONTENT, len, body)
        }
        Ranges::Some(ranges) => {
            let boundary = boundary();
            let mut pieces = VecDeque::new();
            let content_type = content_type.to_str().unwrap_or("application/octet-stream");
            for (start, end) in ranges {
                pieces.push_back(Piece::Bytes(Bytes::from(format!(
                    "\r\n--{boundary}\r\nContent-Type: {content_type}\r\nContent-Range: bytes {start}-{end}/{}\r\n\r\n",
                    opened.len
                ))));
                pieces.push_back(Piece::File {
                    offset: start,
                    len: end - start + 1,
                });
            }
            pieces.push_back(Piece::Bytes(Bytes::from(format!("\r\n--{boundary}--\r\n"))));
            if let Ok(value) =
                HeaderValue::from_str(&format!("multipart/byteranges; boundary={boundary}"))
            {
                response.headers_mut().insert(CONTENT_TYPE, value);
            }
            let body = FileBody::new(file, pieces);
            let len = http_body::Body::size_hint(&body).exact().unwrap_or(0);
            (StatusCode::PARTIAL_CONTENT, len, Body::new(body))
        }
    };
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_LENGTH, HeaderValue::from(length));
    if !head {
        *response.body_mut() = body;
    }
    response
}

fn whole(file: Arc<File>, len: u64, head: bool) -> Body {
    if head {
        return Body::empty();
    }
    Body::new(FileBody::new(
        file,
        VecDeque::from([Piece::File { offset: 0, len }]),
    ))
}

fn boundary() -> String {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos() as u64,
    );
    format!("towerkit-{:016x}", hasher.finish())
}

/// Whether the client accepts gzip (`gzip` or `*` with a q above 0).
fn accepts_gzip(parts: &Parts) -> bool {
    let Some(accept) = parts
        .headers
        .get(ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let mut gzip = None;
    let mut any = None;
    for (coding, q) in towerkit_core::header::weighted_items(accept) {
        if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") {
            gzip = Some(q);
        } else if coding == "*" {
            any = Some(q);
        }
    }
    gzip.or(any).is_some_and(|q| q > 0.0)
}

/// The Content-Type for a file name: from the extension, text types in
/// UTF-8, unknown ones as bytes.
pub fn content_type_of(path: &Path) -> HeaderValue {
    let mime = mime_guess::from_path(path).first_or_octet_stream();
    let essence = mime.essence_str();
    let texty = mime.type_() == "text"
        || matches!(
            essence,
            "application/javascript" | "application/json" | "application/xml" | "image/svg+xml"
        );
    let value = if texty {
        format!("{essence}; charset=utf-8")
    } else {
        essence.to_owned()
    };
    HeaderValue::from_str(&value).unwrap_or(HeaderValue::from_static("application/octet-stream"))
}

fn io_error(err: &io::Error, path: &Path, format: Format) -> Response<Body> {
    let exception = match err.kind() {
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory => HttpException::not_found(),
        io::ErrorKind::PermissionDenied => HttpException::forbidden(),
        _ => {
            tracing::error!(path = %path.display(), error = %err, "cannot open a file");
            HttpException::internal_server_error()
        }
    };
    exception.to_response(format)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types() {
        assert_eq!(
            content_type_of(Path::new("a.html")),
            "text/html; charset=utf-8"
        );
        assert_eq!(
            content_type_of(Path::new("a.css")),
            "text/css; charset=utf-8"
        );
        assert_eq!(
            content_type_of(Path::new("a.json")),
            "application/json; charset=utf-8"
        );
        assert_eq!(content_type_of(Path::new("a.png")), "image/png");
        assert_eq!(
            content_type_of(Path::new("a.svg")),
            "image/svg+xml; charset=utf-8"
        );
        assert_eq!(
            content_type_of(Path::new("noext")),
            "application/octet-stream"
        );
    }

    #[test]
    fn gzip_acceptance() {
        let parts = |value: &str| {
            let (parts, _) = http::Request::get("/")
                .header(ACCEPT_ENCODING, value)
                .body(())
                .unwrap()
                .into_parts();
            parts
        };
        assert!(accepts_gzip(&parts("gzip, deflate, br")));
        assert!(accepts_gzip(&parts("*")));
        assert!(!accepts_gzip(&parts("gzip;q=0")));
        assert!(!accepts_gzip(&parts("br")));
        assert!(!accepts_gzip(&parts("gzip;q=0, *")));
    }
}
