//! A service from an async function, for small handlers.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::{Request, Response};
use tower_service::Service;

use crate::body::Body;
use crate::BoxError;

/// Makes a [`Service`] of an async function from request to
/// `Result<Response<Body>, E>`, for any error that converts into a
/// [`BoxError`] (an [`HttpException`](crate::HttpException) above all).
///
/// ```
/// use http::{Request, Response};
/// use towerkit_core::{handler, Body, HttpException};
///
/// let hello = handler(|req: Request<Body>| async move {
///     if req.uri().path() != "/" {
///         return Err(HttpException::not_found());
///     }
///     Ok(Response::new(Body::from("hello")))
/// });
/// # let _ = hello;
/// ```
pub fn handler<F>(f: F) -> Handler<F> {
    Handler { f }
}

/// The service [`handler`] makes.
#[derive(Clone, Copy, Debug)]
pub struct Handler<F> {
    f: F,
}

impl<F, Fut, B, E> Service<Request<B>> for Handler<F>
where
    F: FnMut(Request<B>) -> Fut,
    Fut: Future<Output = Result<Response<Body>, E>>,
    E: Into<BoxError>,
{
    type Response = Response<Body>;
    type Error = BoxError;
    type Future = HandlerFuture<Fut>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        HandlerFuture {
            inner: (self.f)(req),
        }
    }
}

pin_project_lite::pin_project! {
    /// The future of a [`Handler`].
    pub struct HandlerFuture<Fut> {
        #[pin]
        inner: Fut,
    }
}

impl<Fut, E> Future for HandlerFuture<Fut>
where
    Fut: Future<Output = Result<Response<Body>, E>>,
    E: Into<BoxError>,
{
    type Output = Result<Response<Body>, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().inner.poll(cx).map_err(Into::into)
    }
}
