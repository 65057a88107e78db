use std::convert::Infallible;
use std::future::{ready, Ready};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use http::{HeaderMap, Request, Response, StatusCode};
use tower_service::Service;

use crate::body::Body;

/// An app that gives every request the same answer: a health check, a
/// placeholder, a maintenance page.
///
/// ```
/// use http::StatusCode;
/// use towerkit_core::app::Text;
///
/// let maintenance = Text::new("back soon\n").status(StatusCode::SERVICE_UNAVAILABLE);
/// # let _ = maintenance;
/// ```
#[derive(Clone, Debug)]
pub struct Text {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Text {
    /// `200 OK`, `text/plain; charset=utf-8`, with this body.
    pub fn new(body: impl Into<Bytes>) -> Self {
        let mut headers = HeaderMap::new();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        Text {
            status: StatusCode::OK,
            headers,
            body: body.into(),
        }
    }

    /// Sets the status.
    pub fn status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    /// Sets the `Content-Type`.
    pub fn content_type(mut self, content_type: HeaderValue) -> Self {
        self.headers.insert(CONTENT_TYPE, content_type);
        self
    }

    /// Adds a header (repeatable: `Set-Cookie`, `WWW-Authenticate`).
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.append(name, value);
        self
    }
}

impl<B> Service<Request<B>> for Text {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Ready<Result<Response<Body>, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _req: Request<B>) -> Self::Future {
        let mut response = Response::new(Body::from(self.body.clone()));
        *response.status_mut() = self.status;
        *response.headers_mut() = self.headers.clone();
        ready(Ok(response))
    }
}
