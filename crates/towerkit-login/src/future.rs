//! The future of [`Login`](crate::Login).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use http::{Response, StatusCode};
use towerkit_core::recursive::BoxFuture;
use towerkit_core::{Body, BoxError, HttpException};

use crate::cache::private;
use crate::layer::{Asker, Config};

pin_project_lite::pin_project! {
    /// The response of [`Login`](crate::Login): the stack's, or the
    /// layer's own (a challenge, the login form).
    pub struct ResponseFuture<F, E> {
        #[pin]
        state: State<F, E>,
    }
}

pin_project_lite::pin_project! {
    #[project = StateProj]
    enum State<F, E> {
        // Who the client is was known at the call. A 401 from the stack is
        // turned into the challenge when no user was found; `challenge` is
        // `None` when a user was set upstream (the answer is private).
        Called {
            #[pin]
            future: F,
            challenge: Option<(Asker, Arc<Config>)>,
        },
        // Credentials are checked first, then the stack is called.
        Identifying { future: BoxFuture<Result<Response<Body>, E>> },
        // Answered at the call.
        Answered { response: Option<Response<Body>> },
    }
}

impl<F, E> ResponseFuture<F, E> {
    pub(crate) fn called(future: F, challenge: Option<(Asker, Arc<Config>)>) -> Self {
        ResponseFuture {
            state: State::Called { future, challenge },
        }
    }

    pub(crate) fn identifying(future: BoxFuture<Result<Response<Body>, E>>) -> Self {
        ResponseFuture {
            state: State::Identifying { future },
        }
    }

    pub(crate) fn answered(response: Response<Body>) -> Self {
        ResponseFuture {
            state: State::Answered {
                response: Some(response),
            },
        }
    }
}

impl<F, E, B> Future for ResponseFuture<F, E>
where
    F: Future<Output = Result<Response<B>, E>>,
    E: 'static,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Output = Result<Response<Body>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Called { future, challenge } => {
                let answer = ready!(future.poll(cx)).map(|response| response.map(Body::new));
                match challenge.take() {
                    Some((asker, config)) if asks_for_a_user(&answer) => {
                        Poll::Ready(Ok(config.challenge_to(&asker, false)))
                    }
                    Some(_) => Poll::Ready(answer),
                    None => Poll::Ready(private(answer)),
                }
            }
            StateProj::Identifying { future } => future.as_mut().poll(cx),
            StateProj::Answered { response } => {
                Poll::Ready(Ok(response.take().unwrap_or_default()))
            }
        }
    }
}

/// Whether the stack answered 401, as a response or as an
/// [`HttpException`] (itself the error, or inside a [`BoxError`]): the
/// login's challenge goes in its place.
pub(crate) fn asks_for_a_user<E: 'static>(answer: &Result<Response<Body>, E>) -> bool {
    match answer {
        Ok(response) => response.status() == StatusCode::UNAUTHORIZED,
        Err(err) => {
            let any = err as &dyn std::any::Any;
            any.downcast_ref::<BoxError>()
                .map_or_else(
                    || any.downcast_ref::<HttpException>(),
                    |boxed| boxed.downcast_ref::<HttpException>(),
                )
                .is_some_and(|e| e.status() == StatusCode::UNAUTHORIZED)
        }
    }
}
