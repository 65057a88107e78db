//! `HttpException`: an HTTP error as a value, and the one way every towerkit
//! error answer is rendered.
//!
//! After `paste.httpexceptions` and `werkzeug.exceptions`: a handler returns
//! `Err(HttpException::not_found())` (or any layer answers with one), and the
//! client gets a page in the format it asked for: HTML for browsers,
//! `application/problem+json` (RFC 9457) for JSON clients, plain text
//! otherwise.
//!
//! ```
//! use http::{Method, Request, StatusCode};
//! use towerkit_core::HttpException;
//!
//! let err = HttpException::method_not_allowed(&[Method::GET, Method::HEAD])
//!     .with_detail("this resource is read-only");
//! let req = Request::post("/").header("accept", "application/json").body(()).unwrap();
//! let res = err.response_for(&req);
//! assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
//! assert_eq!(res.headers()["allow"], "GET, HEAD");
//! assert_eq!(res.headers()["content-type"], "application/problem+json");
//! ```
//!
//! Constructors exist for every standard 3xx, 4xx and 5xx status. Those whose
//! status needs a header take it: a redirect its `Location`, 405 its `Allow`,
//! 401 its challenges, 416 the length, 429 and 503 an optional `Retry-After`.

mod render;

use std::borrow::Cow;
use std::fmt;
use std::time::SystemTime;

use http::header::{
    HeaderName, HeaderValue, ALLOW, CONTENT_RANGE, LOCATION, RETRY_AFTER, WWW_AUTHENTICATE,
};
use http::{HeaderMap, Method, Request, Response, StatusCode};

use crate::body::Body;
use crate::BoxError;

pub use render::{escape_html, Format};

/// An HTTP error status with a detail text and the headers it needs.
///
/// Usable as the error a service returns (it implements
/// [`std::error::Error`]) and as a response ([`HttpException::response_for`]).
#[derive(Clone, Debug)]
pub struct HttpException {
    status: StatusCode,
    detail: Option<Cow<'static, str>>,
    headers: HeaderMap,
}

/// When to retry, for 429 and 503.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetryAfter {
    /// After this many seconds.
    Seconds(u64),
    /// After this moment.
    Date(SystemTime),
}

impl HttpException {
    /// An exception with any status. Prefer the named constructors, which
    /// add the headers a status requires.
    pub fn new(status: StatusCode) -> Self {
        HttpException {
            status,
            detail: None,
            headers: HeaderMap::new(),
        }
    }

    /// Adds a human-readable explanation, shown (escaped) in the page.
    pub fn with_detail(mut self, detail: impl Into<Cow<'static, str>>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// Adds a header to the response (appended: repeated names stay).
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.append(name, value);
        self
    }

    /// The status code.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The detail text, if any.
    pub fn detail(&self) -> Option<&str> {
        self.detail.as_deref()
    }

    /// The headers sent with the response.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The exception an error stands for: the [`HttpException`] itself when
    /// it is one or was caused by one (see [`find`](HttpException::find)),
    /// else a 500 that reveals nothing of the error.
    pub fn from_error(err: &BoxError) -> HttpException {
        Self::find(err).unwrap_or_else(HttpException::internal_server_error)
    }

    /// The [`HttpException`] an error of a service's own type is or
    /// carries: an `HttpException`, or a [`BoxError`] that [`find`](Self::find)
    /// finds one in. For layers that pass their inner service's error on
    /// unchanged (of any type, axum's `Infallible` among them) and still
    /// need to know the status it will be answered with.
    ///
    /// ```
    /// use towerkit_core::{BoxError, HttpException};
    ///
    /// let err: BoxError = HttpException::not_found().into();
    /// assert_eq!(HttpException::find_in(&err).map(|e| e.status().as_u16()), Some(404));
    /// assert!(HttpException::find_in(&std::io::Error::other("x")).is_none());
    /// ```
    pub fn find_in<E: 'static>(err: &E) -> Option<HttpException> {
        let any = err as &dyn std::any::Any;
        if let Some(exception) = any.downcast_ref::<HttpException>() {
            return Some(exception.clone());
        }
        any.downcast_ref::<BoxError>().and_then(Self::find)
    }

    /// The [`HttpException`] an error is or was caused by, following its
    /// sources: a request body over the server's limit fails with a 413,
    /// which may reach a layer inside the error of whoever read the body.
    pub fn find(err: &BoxError) -> Option<HttpException> {
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(err.as_ref());
        while let Some(err) = cause {
            if let Some(exception) = err.downcast_ref::<HttpException>() {
                return Some(exception.clone());
            }
            // An io::Error's `source` skips the error it wraps; look at it.
            cause = match err
                .downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
            {
                Some(wrapped) => Some(wrapped),
                None => err.source(),
            };
        }
        None
    }

    /// Renders the response in the format the request's `Accept` prefers.
    pub fn response_for<B>(&self, req: &Request<B>) -> Response<Body> {
        self.to_response(Format::negotiate(req.headers().get(http::header::ACCEPT)))
    }

    /// Renders the response in the given format.
    pub fn to_response(&self, format: Format) -> Response<Body> {
        render::render(self, format)
    }

    fn redirect(status: StatusCode, location: &str) -> Self {
        HttpException::new(status).with_header(LOCATION, header_value_encoded(location))
    }

    /// 300 Multiple Choices, pointing at the preferred choice.
    pub fn multiple_choices(location: &str) -> Self {
        Self::redirect(StatusCode::MULTIPLE_CHOICES, location)
    }
    /// 301 Moved Permanently.
    pub fn moved_permanently(location: &str) -> Self {
        Self::redirect(StatusCode::MOVED_PERMANENTLY, location)
    }
    /// 302 Found.
    pub fn found(location: &str) -> Self {
        Self::redirect(StatusCode::FOUND, location)
    }
    /// 303 See Other: the answer to a POST that is to be fetched with GET.
    pub fn see_other(location: &str) -> Self {
        Self::redirect(StatusCode::SEE_OTHER, location)
    }
    /// 304 Not Modified: sent without a body.
    pub fn not_modified() -> Self {
        HttpException::new(StatusCode::NOT_MODIFIED)
    }
    /// 307 Temporary Redirect: method and body are kept.
    pub fn temporary_redirect(location: &str) -> Self {
        Self::redirect(StatusCode::TEMPORARY_REDIRECT, location)
    }
    /// 308 Permanent Redirect: method and body are kept.
    pub fn permanent_redirect(location: &str) -> Self {
        Self::redirect(StatusCode::PERMANENT_REDIRECT, location)
    }

    /// 401 Unauthorized, with one `WWW-Authenticate` header per challenge,
    /// in order.
    pub fn unauthorized(challenges: impl IntoIterator<Item = HeaderValue>) -> Self {
        challenges
            .into_iter()
            .fold(HttpException::new(StatusCode::UNAUTHORIZED), |e, c| {
                e.with_header(WWW_AUTHENTICATE, c)
            })
    }

    /// 405 Method Not Allowed, with the `Allow` header.
    pub fn method_not_allowed(allow: &[Method]) -> Self {
        let allow = allow
            .iter()
            .map(Method::as_str)
            .collect::<Vec<_>>()
            .join(", ");
        HttpException::new(StatusCode::METHOD_NOT_ALLOWED).replace_header(ALLOW, allow)
    }

    /// 416 Range Not Satisfiable, with `Content-Range: bytes */LEN`.
    pub fn range_not_satisfiable(len: u64) -> Self {
        HttpException::new(StatusCode::RANGE_NOT_SATISFIABLE)
            .replace_header(CONTENT_RANGE, format!("bytes */{len}"))
    }

    /// 429 Too Many Requests, with an optional `Retry-After`.
    pub fn too_many_requests(retry_after: Option<RetryAfter>) -> Self {
        HttpException::new(StatusCode::TOO_MANY_REQUESTS).with_retry_after(retry_after)
    }

    /// 503 Service Unavailable, with an optional `Retry-After`.
    pub fn service_unavailable(retry_after: Option<RetryAfter>) -> Self {
        HttpException::new(StatusCode::SERVICE_UNAVAILABLE).with_retry_after(retry_after)
    }

    fn with_retry_after(self, retry_after: Option<RetryAfter>) -> Self {
        match retry_after {
            None => self,
            Some(RetryAfter::Seconds(s)) => self.replace_header(RETRY_AFTER, s.to_string()),
            Some(RetryAfter::Date(t)) => {
                self.replace_header(RETRY_AFTER, httpdate::fmt_http_date(t))
            }
        }
    }

    /// Sets a header built here from known-safe text (numbers, dates,
    /// method names).
    fn replace_header(mut self, name: HeaderName, value: String) -> Self {
        if let Ok(value) = HeaderValue::from_str(&value) {
            self.headers.insert(name, value);
        }
        self
    }
}

/// A header value from text, percent-encoding what a header should not carry
/// (controls, spaces, quotes, angle brackets and non-ASCII).
fn header_value_encoded(text: &str) -> HeaderValue {
    const UNSAFE: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
        .add(b' ')
        .add(b'"')
        .add(b'<')
        .add(b'>');
    let encoded = percent_encoding::utf8_percent_encode(text, UNSAFE).to_string();
    HeaderValue::from_str(&encoded).unwrap_or_else(|_| HeaderValue::from_static(""))
}

macro_rules! plain_constructors {
    ($($(#[$doc:meta])* $name:ident => $status:ident;)*) => {
        impl HttpException {
            $(
                $(#[$doc])*
                pub fn $name() -> Self {
                    HttpException::new(StatusCode::$status)
                }
            )*
        }
    };
}

plain_constructors! {
    /// 400 Bad Request.
    bad_request => BAD_REQUEST;
    /// 402 Payment Required.
    payment_required => PAYMENT_REQUIRED;
    /// 403 Forbidden.
    forbidden => FORBIDDEN;
    /// 404 Not Found.
    not_found => NOT_FOUND;
    /// 406 Not Acceptable.
    not_acceptable => NOT_ACCEPTABLE;
    /// 407 Proxy Authentication Required (add `Proxy-Authenticate`).
    proxy_authentication_required => PROXY_AUTHENTICATION_REQUIRED;
    /// 408 Request Timeout.
    request_timeout => REQUEST_TIMEOUT;
    /// 409 Conflict.
    conflict => CONFLICT;
    /// 410 Gone.
    gone => GONE;
    /// 411 Length Required.
    length_required => LENGTH_REQUIRED;
    /// 412 Precondition Failed.
    precondition_failed => PRECONDITION_FAILED;
    /// 413 Content Too Large.
    payload_too_large => PAYLOAD_TOO_LARGE;
    /// 414 URI Too Long.
    uri_too_long => URI_TOO_LONG;
    /// 415 Unsupported Media Type.
    unsupported_media_type => UNSUPPORTED_MEDIA_TYPE;
    /// 417 Expectation Failed.
    expectation_failed => EXPECTATION_FAILED;
    /// 418 I'm a teapot.
    im_a_teapot => IM_A_TEAPOT;
    /// 421 Misdirected Request.
    misdirected_request => MISDIRECTED_REQUEST;
    /// 422 Unprocessable Content.
    unprocessable_entity => UNPROCESSABLE_ENTITY;
    /// 423 Locked.
    locked => LOCKED;
    /// 424 Failed Dependency.
    failed_dependency => FAILED_DEPENDENCY;
    /// 426 Upgrade Required.
    upgrade_required => UPGRADE_REQUIRED;
    /// 428 Precondition Required.
    precondition_required => PRECONDITION_REQUIRED;
    /// 431 Request Header Fields Too Large.
    request_header_fields_too_large => REQUEST_HEADER_FIELDS_TOO_LARGE;
    /// 451 Unavailable For Legal Reasons.
    unavailable_for_legal_reasons => UNAVAILABLE_FOR_LEGAL_REASONS;
    /// 500 Internal Server Error.
    internal_server_error => INTERNAL_SERVER_ERROR;
    /// 501 Not Implemented.
    not_implemented => NOT_IMPLEMENTED;
    /// 502 Bad Gateway.
    bad_gateway => BAD_GATEWAY;
    /// 504 Gateway Timeout.
    gateway_timeout => GATEWAY_TIMEOUT;
    /// 505 HTTP Version Not Supported.
    http_version_not_supported => HTTP_VERSION_NOT_SUPPORTED;
    /// 506 Variant Also Negotiates.
    variant_also_negotiates => VARIANT_ALSO_NEGOTIATES;
    /// 507 Insufficient Storage.
    insufficient_storage => INSUFFICIENT_STORAGE;
    /// 508 Loop Detected.
    loop_detected => LOOP_DETECTED;
    /// 510 Not Extended.
    not_extended => NOT_EXTENDED;
    /// 511 Network Authentication Required.
    network_authentication_required => NETWORK_AUTHENTICATION_REQUIRED;
}

impl fmt::Display for HttpException {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.status)?;
        if let Some(detail) = &self.detail {
            write!(f, ": {detail}")?;
        }
        Ok(())
    }
}

impl std::error::Error for HttpException {}

impl From<HttpException> for Response<Body> {
    fn from(exception: HttpException) -> Self {
        exception.to_response(Format::Text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_a_status_requires() {
        assert_eq!(HttpException::found("/a b").headers()[LOCATION], "/a%20b");
        assert_eq!(
            HttpException::range_not_satisfiable(1234).headers()[CONTENT_RANGE],
            "bytes */1234"
        );
        let e = HttpException::unauthorized([
            HeaderValue::from_static("Digest realm=\"x\""),
            HeaderValue::from_static("Basic realm=\"x\""),
        ]);
        let all: Vec<_> = e.headers().get_all(WWW_AUTHENTICATE).iter().collect();
        assert_eq!(all, ["Digest realm=\"x\"", "Basic realm=\"x\""]);
        assert_eq!(
            HttpException::service_unavailable(Some(RetryAfter::Seconds(30))).headers()
                [RETRY_AFTER],
            "30"
        );
        let date = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(784111777);
        assert_eq!(
            HttpException::too_many_requests(Some(RetryAfter::Date(date))).headers()[RETRY_AFTER],
            "Sun, 06 Nov 1994 08:49:37 GMT"
        );
    }

    #[test]
    fn foreign_errors_become_a_bare_500() {
        let err: BoxError = "database password is hunter2".into();
        let e = HttpException::from_error(&err);
        assert_eq!(e.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(e.detail(), None);
        let err: BoxError = Box::new(HttpException::gone().with_detail("bye"));
        assert_eq!(HttpException::from_error(&err).detail(), Some("bye"));
        let wrapped: BoxError = Box::new(std::io::Error::other(HttpException::payload_too_large()));
        assert_eq!(
            HttpException::from_error(&wrapped).status(),
            StatusCode::PAYLOAD_TOO_LARGE
        );
    }
}
