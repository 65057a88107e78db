//! The future of [`Recursive`](super::Recursive): the stack's
//! answer, or the answer to the request it forwarded.

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use http::Response;
use towerkit_core::recursive::{BoxFuture, Forward, Recursive as Handle};
use towerkit_core::{Body, BoxError, Format, HttpException};

pin_project_lite::pin_project! {
    /// The response of [`Recursive`]: the stack's answer, or, when
    /// it is a [`Forward`], the answer to the forwarded request.
    pub struct ResponseFuture<F> {
        #[pin]
        state: State<F>,
        handle: Option<Handle>,
    }
}

pin_project_lite::pin_project! {
    #[project = StateProj]
    enum State<F> {
        Calling { #[pin] future: F },
        Forwarded { future: BoxFuture<Result<Response<Body>, BoxError>> },
    }
}

impl<F> ResponseFuture<F> {
    pub(super) fn new(future: F, handle: Option<Handle>) -> Self {
        ResponseFuture {
            state: State::Calling { future },
            handle,
        }
    }
}

impl<F, E, B> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    E: Into<BoxError>,
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Output = Result<Response<Body>, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            let answer = match this.state.as_mut().project() {
                StateProj::Calling { future } => ready!(future.poll(cx))
                    .map(|response| response.map(Body::new))
                    .map_err(Into::into),
                StateProj::Forwarded { future } => return future.as_mut().poll(cx),
            };
            let forward = match answer {
                Ok(mut response) => match response.extensions_mut().remove::<Forward>() {
                    Some(forward) => forward,
                    None => return Poll::Ready(Ok(response)),
                },
                Err(err) => match err.downcast::<Forward>() {
                    Ok(forward) => *forward,
                    Err(err) => return Poll::Ready(Err(err)),
                },
            };
            let Some(handle) = this.handle.take() else {
                return Poll::Ready(Err(forward.into()));
            };
            let accept = forward.request().headers().get(http::header::ACCEPT);
            let format = Format::negotiate(accept);
            let (target, req) = forward.into_request();
            match handle.redirect(req, &target) {
                // The forwarded request's own future follows its forwards.
                Ok(next) => this.state.set(State::Forwarded {
                    future: handle.dispatch(next),
                }),
                Err(err) => {
                    tracing::error!("{err}");
                    let exception = HttpException::internal_server_error();
                    return Poll::Ready(Ok(exception.to_response(format)));
                }
            }
        }
    }
}
