//! The response future of [`UrlMap`](super::UrlMap).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::Response;
use tower_service::Service;
use towerkit_core::oneshot::Oneshot;
use towerkit_core::{Body, BoxError};

pin_project_lite::pin_project! {
    /// Either the mounted app's answer, or a ready 404.
    pub struct ResponseFuture<S: Service<R>, R> {
        #[pin]
        kind: Kind<S, R>,
    }
}

pin_project_lite::pin_project! {
    #[project = KindProj]
    enum Kind<S: Service<R>, R> {
        Routed { #[pin] inner: Oneshot<S, R> },
        Answered { response: Option<Response<Body>> },
    }
}

impl<S: Service<R>, R> ResponseFuture<S, R> {
    pub(crate) fn routed(inner: Oneshot<S, R>) -> Self {
        ResponseFuture {
            kind: Kind::Routed { inner },
        }
    }

    /// Answered by the map itself: no mount matches (404), or the path
    /// has no canonical spelling (400).
    pub(crate) fn answered(response: Response<Body>) -> Self {
        ResponseFuture {
            kind: Kind::Answered {
                response: Some(response),
            },
        }
    }
}

impl<S, R, B> Future for ResponseFuture<S, R>
where
    S: Service<R, Response = Response<B>>,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Output = Result<Response<Body>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Routed { inner } => inner.poll(cx).map_ok(|res| res.map(Body::new)),
            KindProj::Answered { response } => match response.take() {
                Some(response) => Poll::Ready(Ok(response)),
                None => panic!("ResponseFuture polled after completion"),
            },
        }
    }
}
