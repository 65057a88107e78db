//! Using a towerkit layer inside another framework.
//!
//! towerkit layers that make responses take `Request<`[`Body`]`>` and fail
//! with [`BoxError`] (an [`HttpException`] among them), which the server or
//! `towerkit-httpexceptions` renders. A framework such as axum wants a layer
//! whose service takes its own body type and never fails. [`compat`] wraps
//! any towerkit layer so: the request body becomes a [`Body`] (without
//! boxing hyper's), and an error becomes its error page, negotiated by the
//! request's `Accept`.
//!
//! ```
//! use axum::{routing::get, Router};
//! use towerkit_core::compat;
//! # use towerkit_core::{Body, BoxError, HttpException};
//! # #[derive(Clone)] struct Refuse;
//! # impl<S: Clone> tower_layer::Layer<S> for Refuse { type Service = S; fn layer(&self, s: S) -> S { s } }
//! # let some_towerkit_layer = Refuse;
//!
//! let app: Router = Router::new()
//!     .route("/", get(|| async { "hello" }))
//!     .layer(compat(some_towerkit_layer));
//! ```

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::ACCEPT;
use http::{Request, Response};
use tower_layer::Layer;
use tower_service::Service;

use crate::kept::KeptBytes;
use crate::{Body, BoxError, Format, HttpException};

/// Wraps a towerkit layer for a framework that wants any request body and
/// no errors; see the [module docs](self).
pub fn compat<L>(layer: L) -> CompatLayer<L> {
    CompatLayer { layer }
}

/// The layer [`compat`] makes.
#[derive(Clone, Debug)]
pub struct CompatLayer<L> {
    layer: L,
}

impl<L: Layer<S>, S> Layer<S> for CompatLayer<L> {
    type Service = Compat<L::Service>;

    fn layer(&self, inner: S) -> Compat<L::Service> {
        Compat {
            inner: self.layer.layer(inner),
            not_ready: None,
        }
    }
}

/// The service of [`CompatLayer`].
#[derive(Debug)]
pub struct Compat<S> {
    inner: S,
    /// An error readiness reported, answered to the next request.
    not_ready: Option<HttpException>,
}

impl<S> Compat<S> {
    /// Wraps a towerkit app (a service that takes `Request<`[`Body`]`>`
    /// and fails with [`BoxError`]s) for a framework that wants any request
    /// body and no errors, as [`compat`] does a layer's service: for
    /// `axum::Router::nest_service` or `fallback_service`.
    pub fn new(inner: S) -> Self {
        Compat {
            inner,
            not_ready: None,
        }
    }

    crate::inner_service_accessors!();
}

impl<S: Clone> Clone for Compat<S> {
    fn clone(&self) -> Self {
        Compat {
            inner: self.inner.clone(),
            not_ready: None,
        }
    }
}

impl<S, B, ResB> Service<Request<B>> for Compat<S>
where
    S: Service<Request<Body>, Response = Response<ResB>>,
    S::Error: Into<BoxError>,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
    ResB: http_body::Body<Data = Bytes> + Send + 'static,
    ResB::Error: Into<BoxError>,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = CompatFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        if self.not_ready.is_none() {
            if let Err(err) = std::task::ready!(self.inner.poll_ready(cx)) {
                self.not_ready = Some(HttpException::from_error(&err.into()));
            }
        }
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let accept = KeptBytes::header(&req, ACCEPT);
        if let Some(exception) = self.not_ready.take() {
            return CompatFuture {
                state: State::Failed {
                    response: Some(
                        exception.to_response(Format::negotiate_bytes(accept.as_bytes())),
                    ),
                },
            };
        }
        CompatFuture {
            state: State::Called {
                future: self.inner.call(req.map(Body::new)),
                accept,
            },
        }
    }
}

pin_project_lite::pin_project! {
    /// The future of [`Compat`].
    pub struct CompatFuture<F> {
        #[pin]
        state: State<F>,
    }
}

pin_project_lite::pin_project! {
    #[project = StateProj]
    enum State<F> {
        Called { #[pin] future: F, accept: KeptBytes },
        Failed { response: Option<Response<Body>> },
    }
}

impl<F, ResB, E> Future for CompatFuture<F>
where
    F: Future<Output = Result<Response<ResB>, E>>,
    E: Into<BoxError>,
    ResB: http_body::Body<Data = Bytes> + Send + 'static,
    ResB::Error: Into<BoxError>,
{
    type Output = Result<Response<Body>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Called { future, accept } => {
                Poll::Ready(Ok(match std::task::ready!(future.poll(cx)) {
                    Ok(response) => response.map(Body::new),
                    Err(err) => HttpException::from_error(&err.into())
                        .to_response(Format::negotiate_bytes(accept.as_bytes())),
                }))
            }
            StateProj::Failed { response } => Poll::Ready(Ok(response.take().unwrap_or_default())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TestClient;

    #[derive(Clone)]
    struct Teapot;
    impl<S> Layer<S> for Teapot {
        type Service = crate::Handler<
            fn(Request<Body>) -> std::future::Ready<Result<Response<Body>, BoxError>>,
        >;
        fn layer(&self, _inner: S) -> Self::Service {
            crate::handler(|_req| {
                std::future::ready(Err(HttpException::new(http::StatusCode::IM_A_TEAPOT).into()))
            })
        }
    }

    #[tokio::test]
    async fn errors_become_pages_and_any_body_goes_in() {
        let service = compat(Teapot).layer(());
        let mut client = TestClient::new(service);
        let response = client.get("/").send().await.unwrap();
        assert_eq!(response.status(), http::StatusCode::IM_A_TEAPOT);
        // A body of another type than towerkit's goes in.
        let mut service = compat(Teapot).layer(());
        let req = Request::new(http_body_util::Full::new(Bytes::from_static(b"x")));
        let response = service.call(req).await.unwrap();
        assert_eq!(response.status(), http::StatusCode::IM_A_TEAPOT);
    }
}
