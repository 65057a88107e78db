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
    HeaderValue, ACCEPT_RANGES, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_RANGE,
    CONTENT_TYPE, ETAG, LAST_MODIFIED, RANGE, VARY,
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
    let plan = match ranges {
        Ranges::Unsatisfiable => {
            let mut refused = HttpException::range_not_satisfiable(opened.len).to_response(format);
            refused.headers_mut().extend(response.headers_mut().drain());
            return refused;
        }
        Ranges::Whole => Plan::Whole,
        Ranges::Some(ranges) if ranges.len() == 1 => Plan::Single(ranges[0]),
        Ranges::Some(ranges) => {
            let content_type = content_type.to_str().unwrap_or("application/octet-stream");
            match Multipart::new(&ranges, content_type, opened.len) {
                // Longer than the file: the file is less to send.
                Some(multipart) if multipart.len <= opened.len => Plan::Multipart(multipart),
                _ => Plan::Whole,
            }
        }
    };
    let (status, length, body) = match plan {
        Plan::Whole => {
            response
                .headers_mut()
                .insert(CONTENT_TYPE, content_type.clone());
            let body = match opened.small {
                Some(bytes) => Body::from(bytes),
                None => whole(file, opened.len, head),
            };
            (StatusCode::OK, opened.len, body)
        }
        Plan::Single((start, end)) => {
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
        Plan::Multipart(multipart) => {
            if let Ok(value) = HeaderValue::from_str(&format!(
                "multipart/byteranges; boundary={}",
                multipart.boundary
            )) {
                response.headers_mut().insert(CONTENT_TYPE, value);
            }
            let body = FileBody::new(file, multipart.pieces);
            (StatusCode::PARTIAL_CONTENT, multipart.len, Body::new(body))
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

/// What is sent of the file.
enum Plan {
    /// All of it: 200.
    Whole,
    /// One range: 206.
    Single((u64, u64)),
    /// Several: 206 `multipart/byteranges`.
    Multipart(Multipart),
}

/// A `multipart/byteranges` body, laid out before it is sent.
struct Multipart {
    boundary: String,
    pieces: VecDeque<Piece>,
    /// Its length, part headers included.
    len: u64,
}

impl Multipart {
    /// The parts for `ranges` of a file of `file_len` bytes, or `None` if
    /// their length does not fit a `u64` (it cannot, the ranges being
    /// disjoint and within the file).
    fn new(ranges: &[(u64, u64)], content_type: &str, file_len: u64) -> Option<Multipart> {
        let boundary = boundary();
        let mut pieces = VecDeque::with_capacity(ranges.len() * 2 + 1);
        let mut len: u64 = 0;
        for &(start, end) in ranges {
            let header = Bytes::from(format!(
                "\r\n--{boundary}\r\nContent-Type: {content_type}\r\nContent-Range: bytes {start}-{end}/{file_len}\r\n\r\n"
            ));
            let part = end - start + 1;
            len = len.checked_add(header.len() as u64)?.checked_add(part)?;
            pieces.push_back(Piece::Bytes(header));
            pieces.push_back(Piece::File {
                offset: start,
                len: part,
            });
        }
        let closing = Bytes::from(format!("\r\n--{boundary}--\r\n"));
        len = len.checked_add(closing.len() as u64)?;
        pieces.push_back(Piece::Bytes(closing));
        Some(Multipart {
            boundary,
            pieces,
            len,
        })
    }
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

/// Whether the client accepts gzip (`gzip` or `*` with a q above 0), in
/// any of its `Accept-Encoding` fields.
fn accepts_gzip(parts: &Parts) -> bool {
    towerkit_core::encoding::accepts(&parts.headers).gzip
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
    use http::header::ACCEPT_ENCODING;

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
        // Every field is read, as the gzip layer reads them.
        let (two, _) = http::Request::get("/")
            .header(ACCEPT_ENCODING, "br")
            .header(ACCEPT_ENCODING, "gzip")
            .body(())
            .unwrap()
            .into_parts();
        assert!(accepts_gzip(&two));
    }

    mod ranges {
        use std::collections::HashMap;

        use proptest::prelude::*;
        use tower_service::Service;

        use crate::range::MAX_RANGES;
        use crate::ServeFile;

        /// What the client gets: status, headers, body.
        fn fetch(path: &std::path::Path, range: &str) -> (u16, HashMap<String, String>, Vec<u8>) {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            runtime.block_on(async {
                let request = http::Request::get("/")
                    .header(http::header::RANGE, range)
                    .body(())
                    .unwrap();
                let response = ServeFile::new(path).call(request).await.unwrap();
                let status = response.status().as_u16();
                let headers = response
                    .headers()
                    .iter()
                    .map(|(n, v)| (n.to_string(), v.to_str().unwrap().to_owned()))
                    .collect();
                let body = response.into_body().to_bytes().await.unwrap().to_vec();
                (status, headers, body)
            })
        }

        /// `bytes START-END/LEN`.
        fn content_range(value: &str) -> (usize, usize, usize) {
            let (range, len) = value
                .strip_prefix("bytes ")
                .unwrap()
                .split_once('/')
                .unwrap();
            let (start, end) = range.split_once('-').unwrap();
            (
                start.parse().unwrap(),
                end.parse().unwrap(),
                len.parse().unwrap(),
            )
        }

        /// The parts of a `multipart/byteranges` body: Content-Range, bytes.
        fn parts(body: &[u8], boundary: &str) -> Vec<(String, Vec<u8>)> {
            let delimiter = format!("\r\n--{boundary}");
            let at: Vec<usize> = body
                .windows(delimiter.len())
                .enumerate()
                .filter(|(_, w)| *w == delimiter.as_bytes())
                .map(|(i, _)| i)
                .collect();
            assert_eq!(at.first(), Some(&0));
            let last = *at.last().unwrap();
            assert_eq!(&body[last + delimiter.len()..], b"--\r\n");
            at.windows(2)
                .map(|pair| {
                    let part = &body[pair[0] + delimiter.len() + 2..pair[1]];
                    let split = part.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
                    let head = String::from_utf8(part[..split].to_vec()).unwrap();
                    let range = head
                        .lines()
                        .find_map(|l| l.strip_prefix("Content-Range: "))
                        .unwrap()
                        .to_owned();
                    (range, part[split + 4..].to_vec())
                })
                .collect()
        }

        /// A file's bytes: short random ones, or now and then more than
        /// [`SMALL`](super::SMALL), which are read from the file as sent.
        fn contents() -> impl Strategy<Value = Vec<u8>> {
            prop_oneof![
                4 => prop::collection::vec(any::<u8>(), 0..2000),
                1 => any::<u64>().prop_map(|seed| {
                    let mut x = seed | 1;
                    (0..70_000)
                        .map(|_| {
                            x ^= x << 13;
                            x ^= x >> 7;
                            x ^= x << 17;
                            x as u8
                        })
                        .collect()
                }),
            ]
        }

        /// Short ranges and long ones, a few or many, some past the end.
        fn header(len: usize) -> impl Strategy<Value = String> {
            let len = len as u64;
            let at = 0..len.saturating_mul(5) / 4 + 2;
            let spec = prop_oneof![
                3 => (at.clone(), 0..16u64).prop_map(|(a, n)| format!("{a}-{}", a + n)),
                1 => (at.clone(), 0..len.max(1) + 2).prop_map(|(a, n)| format!("{a}-{}", a + n)),
                1 => at.clone().prop_map(|a| format!("{a}-")),
                1 => (0..len / 4 + 2).prop_map(|n| format!("-{n}")),
            ];
            let specs = prop_oneof![
                3 => prop::collection::vec(spec.clone(), 1..5),
                1 => prop::collection::vec(spec, 1..MAX_RANGES + 4),
            ];
            specs.prop_map(|specs| format!("bytes={}", specs.join(",")))
        }

        #[test]
        fn several_parts_or_the_whole_file_whichever_is_shorter() {
            let dir = tempfile::tempdir().unwrap();
            let data: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
            let path = dir.path().join("large.bin");
            std::fs::write(&path, &data).unwrap();
            let (status, headers, body) = fetch(&path, "bytes=0-9,100-109");
            assert_eq!(status, 206);
            let boundary = headers["content-type"]
                .strip_prefix("multipart/byteranges; boundary=")
                .unwrap();
            let got = parts(&body, boundary);
            assert_eq!(
                got,
                vec![
                    ("bytes 0-9/10000".to_owned(), data[0..10].to_vec()),
                    ("bytes 100-109/10000".to_owned(), data[100..110].to_vec()),
                ]
            );
            // Two parts of a 100-byte file take more than 100 bytes with
            // their headers: the file is sent.
            let path = dir.path().join("small.bin");
            std::fs::write(&path, &data[..100]).unwrap();
            let (status, headers, body) = fetch(&path, "bytes=0-9,50-59");
            assert_eq!((status, body.as_slice()), (200, &data[..100]));
            assert!(!headers.contains_key("content-range"));
            // Coalesced into one part: a single 206.
            let (status, headers, body) = fetch(&path, "bytes=0-10,5-20");
            assert_eq!((status, body.as_slice()), (206, &data[..21]));
            assert_eq!(headers["content-range"], "bytes 0-20/100");
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            /// For any Range header and file, what is sent is at most the
            /// file's length, and every byte sent is the file's byte at the
            /// offset it is sent for.
            #[test]
            fn never_more_than_the_file_and_always_its_bytes(
                (data, range) in contents().prop_flat_map(|data| {
                    let len = data.len();
                    (Just(data), header(len))
                })
            ) {
                let dir = tempfile::tempdir().unwrap();
                let path = dir.path().join("file.bin");
                std::fs::write(&path, &data).unwrap();
                let (status, headers, body) = fetch(&path, &range);
                match status {
                    200 => prop_assert!(body == data),
                    206 => {
                        prop_assert!(body.len() <= data.len());
                        let content_type = &headers["content-type"];
                        match content_type.strip_prefix("multipart/byteranges; boundary=") {
                            None => {
                                let (start, end, len) = content_range(&headers["content-range"]);
                                prop_assert_eq!(len, data.len());
                                prop_assert!(body[..] == data[start..=end]);
                            }
                            Some(boundary) => {
                                let parts = parts(&body, boundary);
                                prop_assert!(parts.len() >= 2);
                                for (range, bytes) in parts {
                                    let (start, end, len) = content_range(&range);
                                    prop_assert_eq!(len, data.len());
                                    prop_assert!(bytes[..] == data[start..=end]);
                                }
                            }
                        }
                        prop_assert_eq!(&headers["content-length"], &body.len().to_string());
                    }
                    416 => prop_assert_eq!(
                        &headers["content-range"],
                        &format!("bytes */{}", data.len())
                    ),
                    other => prop_assert!(false, "status {}", other),
                }
            }
        }
    }
}
