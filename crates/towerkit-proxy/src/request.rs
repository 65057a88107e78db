//! The request as it goes to the upstream: its head written out, and its
//! body sent behind it as the client sends it.
//!
//! The body is framed by what it says of itself, never by the client's
//! headers (a layer may have changed it): a known length is sent with
//! `Content-Length`, anything else chunked. The head and the body's first
//! bytes, when the client sent them together, leave in one write.

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use http::header::{HeaderName, CONTENT_LENGTH};
use http::{HeaderMap, Method};
use http_body::Body as _;
use towerkit_core::{Body, BoxError};

use crate::connection::Connection;
use crate::hop_by_hop::HopByHop;

/// How much of the body is queued before it is written.
const QUEUE_LIMIT: usize = 64 * 1024;

/// A field the proxy sets on the upstream request: written in place of
/// any field of that name the client sent. With no value, those are only
/// dropped.
///
/// Written into the head rather than inserted into the client's header
/// map: the map hyper parsed into has no room to spare, and growing it
/// cost more than the rest of the head.
pub(crate) struct Field<'a> {
    pub(crate) name: &'a HeaderName,
    pub(crate) value: Option<&'a [u8]>,
}

/// A request target in origin form (`/path?query`), kept in the pieces it
/// is written from: the upstream's base, then the path below the mount.
pub(crate) struct Target<'a> {
    pub(crate) base: &'a str,
    pub(crate) path: &'a str,
    pub(crate) query: Option<&'a str>,
}

impl Target<'_> {
    /// Whether it can stand in a request line: visible ASCII only (no
    /// space, CR or LF that would end the line early).
    pub(crate) fn is_valid(&self) -> bool {
        [self.base, self.path, self.query.unwrap_or("")]
            .iter()
            .all(|piece| piece.bytes().all(|b| b.is_ascii_graphic()))
    }

    fn len(&self) -> usize {
        self.base.len() + self.path.len() + 1 + self.query.map_or(0, |q| q.len() + 1)
    }

    /// Writes it: the mount's root is the base's root (`/` if both are
    /// empty), also with a query.
    fn put(&self, head: &mut BytesMut) {
        head.put_slice(self.base.as_bytes());
        head.put_slice(self.path.as_bytes());
        if self.base.is_empty() && self.path.is_empty() {
            head.put_u8(b'/');
        }
        if let Some(query) = self.query {
            head.put_u8(b'?');
            head.put_slice(query.as_bytes());
        }
    }
}

/// The head of a request to the upstream: the client's, as the proxy
/// changes it.
pub(crate) struct RequestHead<'a> {
    pub(crate) method: &'a Method,
    pub(crate) target: Target<'a>,
    /// The client's fields: all are passed on but the hop-by-hop ones and
    /// those `fields` name.
    pub(crate) headers: &'a HeaderMap,
    pub(crate) hop_by_hop: &'a HopByHop<'a>,
    /// The fields the proxy sets.
    pub(crate) fields: &'a [Field<'a>],
}

/// Calls `f` with the head of `method /`, without any field: for tests.
#[cfg(test)]
pub(crate) fn with_bare_head<T>(method: &Method, f: impl FnOnce(&RequestHead<'_>) -> T) -> T {
    f(&RequestHead {
        method,
        target: Target {
            base: "",
            path: "/",
            query: None,
        },
        headers: &HeaderMap::new(),
        hop_by_hop: &HopByHop::new(None),
        fields: &[],
    })
}

/// Writes a request head: the request line, the client's fields but those
/// the proxy drops or sets, the proxy's fields, and the framing header
/// `body` calls for. A field value that could end its line early is left
/// out.
fn encode_head(request: &RequestHead<'_>, body: &Body) -> Bytes {
    let RequestHead {
        method,
        target,
        headers,
        hop_by_hop,
        fields,
    } = request;
    let mut size = method.as_str().len() + target.len() + 64;
    for (name, value) in headers.iter() {
        size += name.as_str().len() + value.len() + 4;
    }
    for field in fields.iter() {
        size += field.name.as_str().len() + field.value.map_or(0, <[u8]>::len) + 4;
    }
    let mut head = BytesMut::with_capacity(size);
    head.put_slice(method.as_str().as_bytes());
    head.put_u8(b' ');
    target.put(&mut head);
    head.put_slice(b" HTTP/1.1\r\n");
    let mut put = |name: &HeaderName, value: &[u8]| {
        head.put_slice(name.as_str().as_bytes());
        head.put_slice(b": ");
        head.put_slice(value);
        head.put_slice(b"\r\n");
    };
    for (name, value) in headers.iter() {
        if name == CONTENT_LENGTH
            || fields.iter().any(|field| field.name == name)
            || hop_by_hop.contains(name)
        {
            continue;
        }
        put(name, value.as_bytes());
    }
    for field in fields.iter() {
        if let Some(value) = field.value.filter(|value| is_field_value(value)) {
            put(field.name, value);
        }
    }
    match body.size_hint().exact() {
        // A method that means something with content says how long it is,
        // even when it is empty (RFC 9110 §8.6).
        Some(0) if !expects_content(method) => {}
        Some(len) => {
            head.put_slice(b"content-length: ");
            head.put_slice(itoa::Buffer::new().format(len).as_bytes());
            head.put_slice(b"\r\n");
        }
        None => head.put_slice(b"transfer-encoding: chunked\r\n"),
    }
    head.put_slice(b"\r\n");
    head.freeze()
}

/// Whether `value` can be a field's value: no control character but tab
/// (RFC 9110 §5.5), as `HeaderValue` checks.
fn is_field_value(value: &[u8]) -> bool {
    value
        .iter()
        .all(|&b| (b >= 0x20 && b != 0x7f) || b == b'\t')
}

fn expects_content(method: &Method) -> bool {
    !matches!(
        *method,
        Method::GET
            | Method::HEAD
            | Method::DELETE
            | Method::OPTIONS
            | Method::TRACE
            | Method::CONNECT
    )
}

/// Why sending the request stopped.
#[derive(Debug)]
pub(crate) enum UploadError {
    /// The client's body failed (it went away, or sent too much).
    Client(BoxError),
    /// The upstream's socket failed.
    Upstream(io::Error),
}

/// A request on its way out: the head, then the body. See the [module
/// documentation](self).
pub(crate) struct Upload {
    /// The head, kept whole until the request is done: a request the
    /// upstream closed on unanswered may be sent again.
    head: Bytes,
    /// How much of `head` has been written.
    head_written: usize,
    /// Body bytes, with their framing, to write after the head.
    queue: VecDeque<Bytes>,
    body: Body,
    /// The length the head announced; `None` for a chunked body.
    length: Option<u64>,
    /// The body has ended and its end is queued.
    ended: bool,
    /// Bytes of the body sent or queued.
    sent: u64,
}

impl Upload {
    /// The request with `head` and `body`. The head's target must be
    /// [valid](Target::is_valid).
    pub(crate) fn new(head: &RequestHead<'_>, body: Body) -> Self {
        debug_assert!(head.target.is_valid());
        let head = encode_head(head, &body);
        let length = body.size_hint().exact();
        let ended = length == Some(0) || (length.is_some() && body.is_end_stream());
        Upload {
            head,
            head_written: 0,
            queue: VecDeque::new(),
            body,
            length,
            ended,
            sent: 0,
        }
    }

    /// Whether no byte of the body has been taken from the client: the
    /// request could be sent again as it is.
    pub(crate) fn is_replayable(&self) -> bool {
        self.sent == 0 && self.ended
    }

    /// Starts the request over, for a new connection: only a replayable
    /// request (see [`is_replayable`](Self::is_replayable)) can be.
    pub(crate) fn rewind(&mut self) {
        self.head_written = 0;
        self.queue.clear();
        if self.length.is_none() {
            self.queue.push_back(Bytes::from_static(b"0\r\n\r\n"));
        }
    }

    /// Sends what the client's body has ready, and writes it; ready once
    /// the whole request has been written.
    pub(crate) fn poll_send(
        &mut self,
        cx: &mut Context<'_>,
        conn: &mut Connection,
    ) -> Poll<Result<(), UploadError>> {
        loop {
            let mut queued: usize = self.queue.iter().map(Bytes::len).sum();
            while !self.ended && queued < QUEUE_LIMIT {
                match Pin::new(&mut self.body).poll_frame(cx) {
                    Poll::Pending => break,
                    Poll::Ready(Some(Err(err))) => {
                        return Poll::Ready(Err(UploadError::Client(err)))
                    }
                    Poll::Ready(Some(Ok(frame))) => {
                        // Trailers are not forwarded.
                        if let Ok(data) = frame.into_data() {
                            queued += data.len();
                            if let Err(err) = self.push(data) {
                                return Poll::Ready(Err(err));
                            }
                        }
                    }
                    Poll::Ready(None) => {
                        if let Err(err) = self.end() {
                            return Poll::Ready(Err(err));
                        }
                    }
                }
                if !self.ended && self.body.is_end_stream() {
                    if let Err(err) = self.end() {
                        return Poll::Ready(Err(err));
                    }
                }
            }
            let head = &self.head[self.head_written..];
            if head.is_empty() && self.queue.is_empty() {
                return if self.ended {
                    Poll::Ready(Ok(()))
                } else {
                    Poll::Pending
                };
            }
            let mut slices = [IoSlice::new(&[]); 8];
            slices[0] = IoSlice::new(head);
            let mut count = 1;
            for bytes in self.queue.iter().take(slices.len() - 1) {
                slices[count] = IoSlice::new(bytes);
                count += 1;
            }
            match conn.poll_write_vectored(cx, &slices[..count]) {
                Poll::Ready(Ok(0)) => {
                    return Poll::Ready(Err(UploadError::Upstream(io::ErrorKind::WriteZero.into())))
                }
                Poll::Ready(Ok(written)) => self.advance(written),
                Poll::Ready(Err(err)) => return Poll::Ready(Err(UploadError::Upstream(err))),
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    /// Drops `n` written bytes: of the head first, then of the queue.
    fn advance(&mut self, mut n: usize) {
        let of_head = n.min(self.head.len() - self.head_written);
        self.head_written += of_head;
        n -= of_head;
        while n > 0 {
            let Some(front) = self.queue.front_mut() else {
                return;
            };
            if n < front.len() {
                front.advance(n);
                return;
            }
            n -= front.len();
            self.queue.pop_front();
        }
    }

    /// Queues body bytes with their framing. A body longer than the
    /// length it announced is refused: the rest would reach the upstream
    /// as the start of another request.
    fn push(&mut self, data: Bytes) -> Result<(), UploadError> {
        if data.is_empty() {
            return Ok(());
        }
        self.sent += data.len() as u64;
        match self.length {
            Some(length) if self.sent > length => {
                return Err(UploadError::Client(
                    "the request body is longer than its length".into(),
                ))
            }
            Some(_) => self.queue.push_back(data),
            None => {
                self.queue
                    .push_back(Bytes::from(format!("{:x}\r\n", data.len())));
                self.queue.push_back(data);
                self.queue.push_back(Bytes::from_static(b"\r\n"));
            }
        }
        Ok(())
    }

    /// Queues the end of the body. One shorter than the length it announced
    /// is refused: the upstream would take the next request as its rest.
    fn end(&mut self) -> Result<(), UploadError> {
        self.ended = true;
        match self.length {
            Some(length) if self.sent < length => Err(UploadError::Client(
                "the request body is shorter than its length".into(),
            )),
            Some(_) => Ok(()),
            None => {
                self.queue.push_back(Bytes::from_static(b"0\r\n\r\n"));
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    /// The head of `method` to `/a?b=1` with `headers` and `fields`.
    fn encode(method: &Method, headers: &HeaderMap, fields: &[Field<'_>], body: &Body) -> String {
        let head = RequestHead {
            method,
            target: Target {
                base: "",
                path: "/a",
                query: Some("b=1"),
            },
            headers,
            hop_by_hop: &HopByHop::of(headers),
            fields,
        };
        String::from_utf8(encode_head(&head, body).to_vec()).unwrap()
    }

    fn upload(body: Body) -> Upload {
        with_bare_head(&Method::POST, |head| Upload::new(head, body))
    }

    fn head(method: Method, body: &Body) -> String {
        let mut headers = HeaderMap::new();
        headers.insert("host", HeaderValue::from_static("up"));
        headers.insert(CONTENT_LENGTH, HeaderValue::from_static("999"));
        encode(&method, &headers, &[], body)
    }

    #[test]
    fn the_body_says_how_it_is_framed() {
        assert_eq!(
            head(Method::GET, &Body::empty()),
            "GET /a?b=1 HTTP/1.1\r\nhost: up\r\n\r\n"
        );
        assert_eq!(
            head(Method::POST, &Body::empty()),
            "POST /a?b=1 HTTP/1.1\r\nhost: up\r\ncontent-length: 0\r\n\r\n"
        );
        assert_eq!(
            head(Method::PUT, &Body::from("12345678901")),
            "PUT /a?b=1 HTTP/1.1\r\nhost: up\r\ncontent-length: 11\r\n\r\n"
        );
        let stream = Body::new(http_body_util::StreamBody::new(
            futures_util::stream::empty::<Result<http_body::Frame<Bytes>, BoxError>>(),
        ));
        assert_eq!(
            head(Method::POST, &stream),
            "POST /a?b=1 HTTP/1.1\r\nhost: up\r\ntransfer-encoding: chunked\r\n\r\n"
        );
    }

    #[test]
    fn fields_replace_what_the_client_sent() {
        let mut headers = HeaderMap::new();
        headers.insert("host", HeaderValue::from_static("public"));
        headers.append("x-forwarded-for", HeaderValue::from_static("1.1.1.1"));
        headers.append("x-forwarded-for", HeaderValue::from_static("2.2.2.2"));
        headers.insert("x-forwarded-prefix", HeaderValue::from_static("/forged"));
        headers.insert("accept", HeaderValue::from_static("*/*"));
        headers.insert("connection", HeaderValue::from_static("keep-alive, x-hop"));
        headers.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        headers.insert("x-hop", HeaderValue::from_static("1"));
        headers.insert("transfer-encoding", HeaderValue::from_static("chunked"));
        let host = HeaderName::from_static("host");
        let forwarded_for = HeaderName::from_static("x-forwarded-for");
        let prefix = HeaderName::from_static("x-forwarded-prefix");
        let injected = HeaderName::from_static("x-forwarded-host");
        let fields = [
            Field {
                name: &host,
                value: Some(b"up:8080"),
            },
            Field {
                name: &forwarded_for,
                value: Some(b"1.1.1.1, 127.0.0.1"),
            },
            Field {
                name: &prefix,
                value: None,
            },
            Field {
                name: &injected,
                value: Some(b"evil\r\nx-admin: 1"),
            },
        ];
        // Hop-by-hop fields stay behind too.
        assert_eq!(
            encode(&Method::GET, &headers, &fields, &Body::empty()),
            "GET /a?b=1 HTTP/1.1\r\naccept: */*\r\nhost: up:8080\r\n\
             x-forwarded-for: 1.1.1.1, 127.0.0.1\r\n\r\n"
        );
    }

    #[test]
    fn written_bytes_leave_the_head_then_the_queue() {
        let mut upload = upload(Body::from("body"));
        let head_len = upload.head.len();
        assert!(upload.push(Bytes::from_static(b"body")).is_ok());
        upload.advance(head_len - 2);
        assert_eq!(&upload.head[upload.head_written..], b"\r\n");
        upload.advance(4);
        assert_eq!(upload.queue, ["dy"]);
        upload.advance(2);
        assert!(upload.queue.is_empty());
        upload.rewind();
        assert_eq!(upload.head_written, 0);
    }

    #[test]
    fn a_body_that_breaks_its_length_is_refused() {
        // The head announces the length the body's size hint gives; the
        // bytes then pushed are more, or fewer.
        for announced in ["abc", "abcde"] {
            let body = Body::from(announced);
            let mut upload = upload(body);
            let sent = upload
                .push(Bytes::from_static(b"four"))
                .and_then(|()| upload.end());
            assert!(
                matches!(sent, Err(UploadError::Client(_))),
                "{} announced, 4 sent",
                announced.len()
            );
        }
    }

    #[test]
    fn a_target_is_one_word_of_visible_ascii() {
        let target = |base, path, query| Target { base, path, query };
        assert!(target("/base", "/a/b%20c", Some("d=e&f")).is_valid());
        for bad in ["/a b", "/a\r\nX-Injected: 1", "/\u{e9}", "/a\tb"] {
            assert!(!target("", bad, None).is_valid(), "{bad:?}");
            assert!(!target("", "/", Some(bad)).is_valid(), "{bad:?}");
        }
    }

    #[test]
    fn the_mount_root_is_the_base_root() {
        let written = |base, path, query| {
            let mut head = BytesMut::new();
            Target { base, path, query }.put(&mut head);
            String::from_utf8(head.to_vec()).unwrap()
        };
        assert_eq!(written("", "", None), "/");
        assert_eq!(written("", "", Some("q=1")), "/?q=1");
        assert_eq!(written("/app", "", None), "/app");
        assert_eq!(written("/app", "/x", Some("q")), "/app/x?q");
    }
}
