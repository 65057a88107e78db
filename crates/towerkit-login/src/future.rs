//! The future of [`Login`](crate::Login).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use http::{Response, StatusCode};
use towerkit_core::recursive::BoxFuture;
use towerkit_core::{Body, BoxError, HttpException};

use crate::cache::private;
use crate::layer::{Asker, Config};

pin_project_lite::pin_project! {
    /// The response of [`Login`](crate::Login): the stack's, or the
    /// layer's own (a challenge, the login form).
    pub struct ResponseFuture<F> {
        #[pin]
        state: State<F>,
    }
}

pin_project_lite::pin_project! {
    #[project = StateProj]
    enum State<F> {
        // Who the client is was known at the call. A 401 from the stack is
        // turned into the challenge when no user was found; `challenge` is
        // `None` when a user was set upstream (the answer is private).
        Called {
            #[pin]
            future: F,
            challenge: Option<(Asker, Arc<Config>)>,
        },
        // Credentials are checked first, then the stack is called.
        Identifying { future: BoxFuture<Result<Response<Body>, BoxError>> },
        // Answered at the call.
        Answered { response: Option<Response<Body>> },
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn called(future: F, challenge: Option<(Asker, Arc<Config>)>) -> Self {
        ResponseFuture {
            state: State::Called { future, challenge },
        }
    }

    pub(crate) fn identifying(future: BoxFuture<Result<Response<Body>, BoxError>>) -> Self {
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

impl<F, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<Body>, E>>,
    E: Into<BoxError>,
{
    type Output = Result<Response<Body>, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Called { future, challenge } => {
                let answer = ready!(future.poll(cx)).map_err(Into::into);
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
/// [`HttpException`]: the login's challenge goes in its place.
pub(crate) fn asks_for_a_user(answer: &Result<Response<Body>, BoxError>) -> bool {
    match answer {
        Ok(response) => response.status() == StatusCode::UNAUTHORIZED,
        Err(err) => err
            .downcast_ref::<HttpException>()
            .is_some_and(|e| e.status() == StatusCode::UNAUTHORIZED),
    }
}
