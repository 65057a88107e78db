//! Keeping a piece of a request for the response phase, as a copy.
//!
//! A layer often needs something of the request after the stack below has
//! answered: `Accept` to render an error page, the path for a log line, the
//! cookies for a session that is used late. The obvious way to keep them,
//! cloning a `HeaderValue` or a `Uri`, is the slow one with hyper.
//!
//! hyper parses a request's URI and header values as slices of the
//! connection's read buffer (they share one `Bytes`). It goes on reading the
//! connection while the request is in flight, even before the response
//! future is first polled, and can reuse that buffer in place only when it
//! holds it alone. While any slice of the request lives, every read
//! allocates a new buffer and copies into it: on a small request, that costs
//! more than the rest of the layer. One slice kept anywhere in the stack is
//! enough, so every layer keeps copies instead.
//!
//! [`KeptBytes`] is such a copy: inline up to 64 bytes, on the heap beyond.
//!
//! ```
//! use http::Request;
//! use towerkit_core::kept::KeptBytes;
//! use towerkit_core::Format;
//!
//! let req = Request::get("/items/42").header("accept", "application/json").body(()).unwrap();
//! let accept = KeptBytes::header(&req, http::header::ACCEPT);
//! let path = KeptBytes::new(req.uri().path().as_bytes());
//! drop(req); // the copies hold no part of it
//! assert_eq!(Format::negotiate_bytes(accept.as_bytes()), Format::Json);
//! assert_eq!(path.as_bytes(), b"/items/42");
//! ```

use std::fmt;

use http::header::AsHeaderName;
use http::Request;
use smallvec::SmallVec;

/// A copy of a few bytes of a request: a header value, a path. Inline up to
/// 64 bytes; see the [module](self) for why a copy.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct KeptBytes(SmallVec<[u8; 64]>);

impl KeptBytes {
    /// A copy of `bytes`.
    pub fn new(bytes: &[u8]) -> Self {
        KeptBytes(SmallVec::from_slice(bytes))
    }

    /// A copy of the request's first `name` header, empty if it has none.
    pub fn header<B>(req: &Request<B>, name: impl AsHeaderName) -> Self {
        req.headers()
            .get(name)
            .map_or_else(KeptBytes::default, |value| KeptBytes::new(value.as_bytes()))
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Whether nothing was kept (an absent header).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for KeptBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&String::from_utf8_lossy(&self.0), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use http::header::ACCEPT;
    use http::{HeaderValue, Uri};

    /// What hyper hands a layer: a URI and header values sharing one buffer.
    fn parsed_like_hyper(buffer: &Bytes) -> Request<()> {
        let mut req = Request::new(());
        *req.uri_mut() = Uri::from_maybe_shared(buffer.slice(0..13)).unwrap();
        let accept = HeaderValue::from_maybe_shared(buffer.slice(14..)).unwrap();
        req.headers_mut().insert(ACCEPT, accept);
        req
    }

    #[test]
    fn copies_leave_the_read_buffer_to_its_owner() {
        let mut buffer = Bytes::from_static(b"/app/items/42 text/html,application/xhtml+xml");
        buffer = Bytes::copy_from_slice(&buffer);
        let req = parsed_like_hyper(&buffer);
        let accept = KeptBytes::header(&req, ACCEPT);
        let path = KeptBytes::new(req.uri().path().as_bytes());
        drop(req);
        assert!(buffer.is_unique());
        assert_eq!(accept.as_bytes(), b"text/html,application/xhtml+xml");
        assert_eq!(path.as_bytes(), b"/app/items/42");
        assert!(KeptBytes::header(&Request::new(()), ACCEPT).is_empty());
    }

    #[test]
    fn long_values_are_kept_whole() {
        let long = "text/html,".repeat(20);
        let req = Request::get("/").header(ACCEPT, &long).body(()).unwrap();
        assert_eq!(KeptBytes::header(&req, ACCEPT).as_bytes(), long.as_bytes());
    }
}
