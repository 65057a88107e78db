//! The bridge between hyper's connection and a tower service.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{HeaderValue, ACCEPT};
use http::{Method, Request, Response, Uri};
use hyper::body::Incoming;
use tower::util::Oneshot;
use tower_service::Service;
use towerkit_core::{Body, BoxError, ConnectionInfo, Format, HttpException};

/// Serves one connection's requests with a clone of the stack: inserts the
/// [`ConnectionInfo`], turns hyper's body into a [`Body`], and turns an error
/// the stack returns into an error page rather than a dropped connection.
#[derive(Clone, Debug)]
pub(crate) struct ConnectionService<S> {
    pub(crate) inner: S,
    pub(crate) info: ConnectionInfo,
}

impl<S, B> hyper::service::Service<Request<Incoming>> for ConnectionService<S>
where
    S: Service<Request<Body>, Response = Response<B>> + Clone,
    S::Error: Into<BoxError>,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = ResponseFuture<S, Request<Body>>;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        let mut req = req.map(Body::new);
        req.extensions_mut().insert(self.info.clone());
        let context = ErrorContext {
            accept: req.headers().get(ACCEPT).cloned(),
            method: req.method().clone(),
            uri: req.uri().clone(),
        };
        ResponseFuture {
            inner: Oneshot::new(self.inner.clone(), req),
            context: Some(context),
        }
    }
}

/// What is kept of a request to answer and log an error of its stack.
struct ErrorContext {
    accept: Option<HeaderValue>,
    method: Method,
    uri: Uri,
}

pin_project_lite::pin_project! {
    /// The future of [`ConnectionService`].
    pub(crate) struct ResponseFuture<S: Service<R>, R> {
        #[pin]
        inner: Oneshot<S, R>,
        context: Option<ErrorContext>,
    }
}

impl<S, B> Future for ResponseFuture<S, Request<Body>>
where
    S: Service<Request<Body>, Response = Response<B>>,
    S::Error: Into<BoxError>,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Output = Result<Response<Body>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = std::task::ready!(this.inner.poll(cx));
        Poll::Ready(Ok(match result {
            Ok(response) => response.map(Body::new),
            Err(err) => {
                let err: BoxError = err.into();
                let exception = HttpException::from_error(&err);
                let context = this.context.take();
                if let Some(ErrorContext { method, uri, .. }) = &context {
                    let path = uri.path();
                    if err.is::<HttpException>() {
                        tracing::debug!(%method, %path, status = %exception.status(), "answered with an HTTP exception");
                    } else {
                        tracing::error!(%method, %path, error = %err, "the stack failed; answered 500");
                    }
                }
                let accept = context.and_then(|c| c.accept);
                exception.to_response(Format::negotiate(accept.as_ref()))
            }
        }))
    }
}
