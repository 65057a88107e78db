use std::convert::Infallible;
use std::future::{ready, Ready};
use std::sync::Arc;
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
///
/// Cloning one (a stack clones its app for every request) is a
/// reference-count increment.
#[derive(Clone, Debug)]
pub struct Text(Arc<Answer>);

#[derive(Clone, Debug)]
struct Answer {
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
        Text(Arc::new(Answer {
            status: StatusCode::OK,
            headers,
            body: body.into(),
        }))
    }

    /// Sets the status.
    pub fn status(mut self, status: StatusCode) -> Self {
        Arc::make_mut(&mut self.0).status = status;
        self
    }

    /// Sets the `Content-Type`.
    pub fn content_type(mut self, content_type: HeaderValue) -> Self {
        Arc::make_mut(&mut self.0)
            .headers
            .insert(CONTENT_TYPE, content_type);
        self
    }

    /// Adds a header (repeatable: `Set-Cookie`, `WWW-Authenticate`).
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        Arc::make_mut(&mut self.0).headers.append(name, value);
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
        let answer = &*self.0;
        let mut response = Response::new(Body::from(answer.body.clone()));
        *response.status_mut() = answer.status;
        // Built rather than cloned: a clone has no room to spare, and hyper
        // reuses a response's header map to parse the next request's head,
        // which would then grow it for every request. The first append
        // makes room for six.
        let headers = response.headers_mut();
        for (name, value) in &answer.headers {
            headers.append(name.clone(), value.clone());
        }
        ready(Ok(response))
    }
}
