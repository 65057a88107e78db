//! The bridge between hyper's connection and a tower service.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::header::{HeaderValue, ACCEPT, CONNECTION, CONTENT_ENCODING, CONTENT_TYPE};
use http::{Method, Request, Response, Version};
use http_body::Body as _;
use hyper::body::Incoming;
use tower_service::Service;
use towerkit_core::kept::KeptBytes;
use towerkit_core::oneshot::{oneshot, Oneshot};
use towerkit_core::{Body, BoxError, ConnectionInfo, Format, HttpException, RouteLabel};

use crate::body::{Kept, KeptOpen, Pace, RequestBody, ResponseBody};
use crate::io::Activity;
use crate::metrics::ServerMetrics;
use crate::Limits;

/// Serves one connection's requests with a clone of the stack: inserts the
/// [`ConnectionInfo`] (which carries the server's [`Shutdown`](towerkit_core::Shutdown)), turns hyper's body into a [`Body`]
/// held to the body limit, turns an error the stack returns into an error
/// page rather than a dropped connection, and reports each request's start
/// and end to the connection's [`Activity`].
#[derive(Clone, Debug)]
pub(crate) struct ConnectionService<S> {
    pub(crate) inner: S,
    pub(crate) info: ConnectionInfo,
    pub(crate) activity: Arc<Activity>,
    pub(crate) limits: Arc<Limits>,
    pub(crate) metrics: Option<Arc<ServerMetrics>>,
}

impl<S, B> hyper::service::Service<Request<Incoming>> for ConnectionService<S>
where
    S: Service<Request<Body>, Response = Response<B>> + Clone,
    S::Error: Into<BoxError>,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response<ResponseBody>;
    type Error = Infallible;
    type Future = ResponseFuture<S, Request<Body>>;

    fn call(&self, mut req: Request<Incoming>) -> Self::Future {
        self.activity.started();
        let context = ErrorContext::new(&req);
        let has_body = !req.body().is_end_stream();
        // One request truth: the path every layer decides on is made
        // canonical here, and a request whose path or host cannot be read
        // one way is refused before any layer sees it.
        if let Err(bad) = towerkit_core::canonical::check(&mut req) {
            tracing::debug!(path = %String::from_utf8_lossy(context.path.as_bytes()), "refused: {bad}");
            let response = HttpException::from(bad).to_response(context.format());
            return self.answered(req, has_body, response);
        }
        let limit = match self.limits.max_request_body {
            Some(limit) if has_body => {
                match req.body().size_hint().exact() {
                    // hyper holds the body to its Content-Length.
                    Some(length) if length <= limit => None,
                    Some(length) => {
                        tracing::debug!(length, limit, "request body over the limit: 413");
                        let exception = HttpException::payload_too_large()
                            .with_detail(format!("The request body may be at most {limit} bytes."));
                        let response = exception.to_response(context.format());
                        return self.answered(req, has_body, response);
                    }
                    None => Some(limit),
                }
            }
            _ => None,
        };
        let (parts, incoming) = req.into_parts();
        let (body, request_body) = if !has_body {
            (Body::new(incoming), None)
        } else if parts.version == Version::HTTP_2 {
            let (body, kept) = KeptOpen::new(incoming);
            let pace = Pace::new(&self.limits, None);
            (Body::new(RequestBody::new(body, limit, pace)), Some(kept))
        } else {
            let pace = Pace::new(&self.limits, Some(self.activity.clone()));
            (Body::new(RequestBody::new(incoming, limit, pace)), None)
        };
        let http1 = parts.version != Version::HTTP_2;
        let mut req = Request::from_parts(parts, body);
        req.extensions_mut().insert(self.info.clone());
        let metered = self.metered();
        if let Some(metered) = &metered {
            req.extensions_mut().insert(metered.route.clone());
        }
        ResponseFuture {
            state: State::Called {
                inner: oneshot(self.inner.clone(), req),
                context: Some(context),
            },
            activity: Some(self.activity.clone()),
            request_body,
            metered,
            http1,
        }
    }
}

impl<S> ConnectionService<S> {
    /// Answers a request without the stack. Its body was not read: on
    /// HTTP/1 the connection cannot be reused; on HTTP/2 the stream's body
    /// is kept open until the answer is sent.
    fn answered<F: Service<Request<Body>>>(
        &self,
        req: Request<Incoming>,
        has_body: bool,
        mut response: Response<Body>,
    ) -> ResponseFuture<F, Request<Body>> {
        let http1 = req.version() != Version::HTTP_2;
        let request_body = if !http1 {
            has_body.then(|| Kept::new(Mutex::new(req.into_body())))
        } else {
            if has_body {
                response
                    .headers_mut()
                    .insert(CONNECTION, HeaderValue::from_static("close"));
            }
            None
        };
        ResponseFuture {
            state: State::Answered {
                response: Some(response),
            },
            activity: Some(self.activity.clone()),
            request_body,
            metered: self.metered(),
            http1,
        }
    }

    /// A request's clock, when the server counts.
    fn metered(&self) -> Option<Box<Metered>> {
        self.metrics.as_ref().map(|metrics| {
            Box::new(Metered {
                started: metrics.started(),
                metrics: metrics.clone(),
                route: RouteLabel::new(),
            })
        })
    }
}

/// A request being counted (see [`crate::metrics`]).
struct Metered {
    started: std::time::Instant,
    metrics: Arc<ServerMetrics>,
    /// Named by urlmap or the router on the way.
    route: RouteLabel,
}

/// What is kept of a request to answer and log an error of its stack:
/// `Accept` to write the error page, the method and path for the log line.
/// Copies, which leave hyper's read buffer alone (see
/// [`towerkit_core::kept`]).
struct ErrorContext {
    /// Empty if the request had none.
    accept: KeptBytes,
    method: Method,
    path: KeptBytes,
}

impl ErrorContext {
    fn new<B>(req: &Request<B>) -> Self {
        ErrorContext {
            accept: KeptBytes::header(req, ACCEPT),
            method: req.method().clone(),
            path: KeptBytes::new(req.uri().path().as_bytes()),
        }
    }

    /// The format of an error page, by `Accept`.
    fn format(&self) -> Format {
        Format::negotiate_bytes(self.accept.as_bytes())
    }
}

pin_project_lite::pin_project! {
    /// The future of [`ConnectionService`].
    pub(crate) struct ResponseFuture<S: Service<R>, R> {
        #[pin]
        state: State<S, R>,
        // Handed to the response body; still here if the future is dropped
        // (the client went away), which ends the request too.
        activity: Option<Arc<Activity>>,
        request_body: Option<Kept>,
        // Boxed: the future stays small when metrics are off.
        metered: Option<Box<Metered>>,
        // An HTTP/1 connection ends with `Connection: close` while the
        // server drains.
        http1: bool,
    }

    impl<S: Service<R>, R> PinnedDrop for ResponseFuture<S, R> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let Some(activity) = this.activity.take() {
                activity.finished();
            }
            if let Some(metered) = this.metered.take() {
                metered
                    .metrics
                    .answered(metered.started, &metered.route, None);
            }
        }
    }
}

pin_project_lite::pin_project! {
    #[project = StateProj]
    enum State<S: Service<R>, R> {
        Called {
            #[pin]
            inner: Oneshot<S, R>,
            context: Option<ErrorContext>,
        },
        Answered {
            response: Option<Response<Body>>,
        },
    }
}

impl<S, B> Future for ResponseFuture<S, Request<Body>>
where
    S: Service<Request<Body>, Response = Response<B>>,
    S::Error: Into<BoxError>,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Output = Result<Response<ResponseBody>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let response = match this.state.project() {
            StateProj::Called { inner, context } => {
                let answer = std::task::ready!(inner.poll(cx));
                if this
                    .activity
                    .as_ref()
                    .is_some_and(|a| a.take_body_timed_out())
                {
                    // The body fell behind its pace: whatever the stack made
                    // of the failed read, the answer is a 408, and the rest
                    // of the body will not be read.
                    let format = context
                        .as_ref()
                        .map_or_else(|| Format::negotiate(None), ErrorContext::format);
                    let mut response = HttpException::request_timeout()
                        .with_detail("The request body did not arrive in time.")
                        .to_response(format);
                    response
                        .headers_mut()
                        .insert(CONNECTION, HeaderValue::from_static("close"));
                    response
                } else {
                    match answer {
                        Ok(response) => response.map(Body::new),
                        Err(err) => error_response(err.into(), context.take()),
                    }
                }
            }
            StateProj::Answered { response } => response.take().unwrap_or_default(),
        };
        let Some(activity) = this.activity.take() else {
            // Polled again after it completed: hyper never does.
            return Poll::Pending;
        };
        let shutdown = is_plain_event_stream(&response).then(|| {
            Box::pin(activity.shutdown().requested()) as Pin<Box<dyn Future<Output = ()> + Send>>
        });
        if response.status() == http::StatusCode::SWITCHING_PROTOCOLS {
            activity.upgraded();
        }
        if let Some(metered) = this.metered.take() {
            metered
                .metrics
                .answered(metered.started, &metered.route, Some(response.status()));
        }
        // Draining (see `Builder::drain_delay`): each HTTP/1 connection is
        // retired by its next response, which says so, rather than closed
        // idle at shutdown, where a request the client sent at that moment
        // would meet a closed connection.
        let mut response = response;
        if *this.http1
            && activity.shutdown().is_draining()
            && response.status() != http::StatusCode::SWITCHING_PROTOCOLS
        {
            response
                .headers_mut()
                .insert(CONNECTION, HeaderValue::from_static("close"));
        }
        Poll::Ready(Ok(response.map(|body| {
            ResponseBody::new(body, activity, shutdown, this.request_body.take())
        })))
    }
}

/// An event stream the server may end between two frames on shutdown:
/// one with a `Content-Encoding` would be cut mid-encoding, so it is left to
/// end itself (see [`Shutdown`](towerkit_core::Shutdown)) or to be closed when the grace runs out. A
/// body of known length ends by itself, and is not looked at further.
fn is_plain_event_stream(response: &Response<Body>) -> bool {
    if response.body().size_hint().exact().is_some() {
        return false;
    }
    let headers = response.headers();
    headers.get(CONTENT_TYPE).is_some_and(|value| {
        value
            .as_bytes()
            .get(..17)
            .is_some_and(|t| t.eq_ignore_ascii_case(b"text/event-stream"))
    }) && !headers.contains_key(CONTENT_ENCODING)
}

fn error_response(err: BoxError, context: Option<ErrorContext>) -> Response<Body> {
    let exception = HttpException::from_error(&err);
    if let Some(ErrorContext { method, path, .. }) = &context {
        let path = String::from_utf8_lossy(path.as_bytes());
        if exception.status() != http::StatusCode::INTERNAL_SERVER_ERROR
            || err.is::<HttpException>()
        {
            tracing::debug!(%method, %path, status = %exception.status(), "answered with an HTTP exception");
        } else {
            tracing::error!(%method, %path, error = %err, "the stack failed; answered 500");
        }
    }
    exception.to_response(context.map_or_else(|| Format::negotiate(None), |c| c.format()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Uri;

    #[test]
    fn the_context_keeps_nothing_of_the_read_buffer() {
        // A URI and an `Accept` parsed from one buffer, as hyper does.
        let read = Bytes::from(b"/items/42?x=1text/html".to_vec());
        let uri = Uri::from_maybe_shared(read.slice(..13)).unwrap();
        let accept = HeaderValue::from_maybe_shared(read.slice(13..)).unwrap();
        let req = Request::builder()
            .uri(uri)
            .header(ACCEPT, accept)
            .body(())
            .unwrap();
        let context = ErrorContext::new(&req);
        drop(req);
        assert!(read.is_unique(), "the context shares the read buffer");
        assert_eq!(context.path.as_bytes(), b"/items/42");
        assert_eq!(context.accept.as_bytes(), b"text/html");
        assert_eq!(context.method, Method::GET);
    }
}
