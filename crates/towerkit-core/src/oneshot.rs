//! Calling a service once, at once when it is ready.
//!
//! A layer that clones its inner service for each request must poll the
//! clone's readiness before calling it; tower's `Oneshot` does both inside
//! its future, which moves the request into the future, out of it, and into
//! the call. Most services are always ready, and a stack of such layers
//! paid those moves at every level. [`oneshot`] asks for readiness first
//! and calls at once when it is ready, so the request moves once; a service
//! that is not ready yet is awaited as tower's `Oneshot` would.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use http::Response;
use tower_service::Service;

use crate::{Body, BoxError};

/// Calls `service` with `req`: at once if it is ready, otherwise once it is
/// (the readiness check is repeated with the caller's waker).
///
/// ```
/// use towerkit_core::app::Text;
/// use towerkit_core::oneshot::oneshot;
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let response = oneshot(Text::new("hi"), http::Request::new(())).await.unwrap();
/// assert_eq!(response.status(), 200);
/// # })
/// ```
pub fn oneshot<S, R>(mut service: S, req: R) -> Oneshot<S, R>
where
    S: Service<R>,
{
    let mut cx = Context::from_waker(Waker::noop());
    let state = match service.poll_ready(&mut cx) {
        Poll::Ready(Ok(())) => State::Called {
            future: service.call(req),
        },
        Poll::Ready(Err(err)) => State::Failed { error: Some(err) },
        Poll::Pending => State::Waiting {
            waiting: Box::new((service, Some(req))),
        },
    };
    Oneshot { state }
}

pin_project_lite::pin_project! {
    /// The future of [`oneshot`].
    pub struct Oneshot<S: Service<R>, R> {
        #[pin]
        state: State<S, R>,
    }
}

pin_project_lite::pin_project! {
    #[project = StateProj]
    enum State<S: Service<R>, R> {
        Called { #[pin] future: S::Future },
        // Boxed: rarely taken, and a request inline would make every
        // level's future as large as a request, moved at every level.
        Waiting { waiting: Box<(S, Option<R>)> },
        Failed { error: Option<S::Error> },
    }
}

impl<S: Service<R>, R> Future for Oneshot<S, R> {
    type Output = Result<S::Response, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.project().state;
        loop {
            let future = match state.as_mut().project() {
                StateProj::Called { future } => return future.poll(cx),
                StateProj::Waiting { waiting } => {
                    let (service, req) = &mut **waiting;
                    std::task::ready!(service.poll_ready(cx))?;
                    let Some(req) = req.take() else {
                        // Polled after it completed.
                        return Poll::Pending;
                    };
                    service.call(req)
                }
                StateProj::Failed { error } => {
                    return match error.take() {
                        Some(err) => Poll::Ready(Err(err)),
                        None => Poll::Pending,
                    };
                }
            };
            state.set(State::Called { future });
        }
    }
}

pin_project_lite::pin_project! {
    /// The future of a layer that either calls a service once (with
    /// [`oneshot`], its response body made a [`Body`]) or answers by itself
    /// (a redirect, a 404): what a mounting or routing layer returns.
    ///
    /// ```
    /// use towerkit_core::app::Text;
    /// use towerkit_core::oneshot::CallOrAnswer;
    /// use towerkit_core::HttpException;
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let called = CallOrAnswer::call(Text::new("hi"), http::Request::new(()));
    /// assert_eq!(called.await.unwrap().status(), 200);
    /// let answered = CallOrAnswer::<Text, http::Request<()>>::answer(
    ///     HttpException::not_found().to_response(towerkit_core::Format::Text),
    /// );
    /// assert_eq!(answered.await.unwrap().status(), 404);
    /// # })
    /// ```
    pub struct CallOrAnswer<S: Service<R>, R> {
        #[pin]
        kind: Kind<S, R>,
    }
}

pin_project_lite::pin_project! {
    #[project = KindProj]
    enum Kind<S: Service<R>, R> {
        Called { #[pin] inner: Oneshot<S, R> },
        Answered { response: Option<Response<Body>> },
    }
}

impl<S: Service<R>, R> CallOrAnswer<S, R> {
    /// Calls `service` with `req` ([`oneshot`]).
    pub fn call(service: S, req: R) -> Self {
        CallOrAnswer {
            kind: Kind::Called {
                inner: oneshot(service, req),
            },
        }
    }

    /// Answers with `response`, calling nothing.
    pub fn answer(response: Response<Body>) -> Self {
        CallOrAnswer {
            kind: Kind::Answered {
                response: Some(response),
            },
        }
    }
}

impl<S, R, B> Future for CallOrAnswer<S, R>
where
    S: Service<R, Response = Response<B>>,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Output = Result<Response<Body>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Called { inner } => inner.poll(cx).map_ok(|res| res.map(Body::new)),
            KindProj::Answered { response } => match response.take() {
                Some(response) => Poll::Ready(Ok(response)),
                // Polled after it completed: nothing more will come.
                None => Poll::Pending,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    /// Ready once `open` is set; counts nothing, answers the request.
    #[derive(Clone)]
    struct Gate {
        open: Arc<AtomicBool>,
        waker: Arc<std::sync::Mutex<Option<Waker>>>,
    }

    impl Service<u32> for Gate {
        type Response = u32;
        type Error = &'static str;
        type Future = std::future::Ready<Result<u32, &'static str>>;

        fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            if self.open.load(Ordering::SeqCst) {
                Poll::Ready(Ok(()))
            } else {
                *self.waker.lock().unwrap() = Some(cx.waker().clone());
                Poll::Pending
            }
        }

        fn call(&mut self, req: u32) -> Self::Future {
            assert!(self.open.load(Ordering::SeqCst), "called before ready");
            std::future::ready(Ok(req + 1))
        }
    }

    #[tokio::test]
    async fn a_service_not_ready_is_awaited_with_the_callers_waker() {
        let gate = Gate {
            open: Arc::new(AtomicBool::new(false)),
            waker: Arc::default(),
        };
        let future = oneshot(gate.clone(), 1);
        let opener = tokio::spawn({
            let gate = gate.clone();
            async move {
                tokio::task::yield_now().await;
                gate.open.store(true, Ordering::SeqCst);
                if let Some(waker) = gate.waker.lock().unwrap().take() {
                    waker.wake();
                }
            }
        });
        assert_eq!(future.await, Ok(2));
        opener.await.unwrap();
        // Ready now: called at once.
        assert_eq!(oneshot(gate, 2).await, Ok(3));
    }

    #[derive(Clone)]
    struct Broken;

    impl Service<u32> for Broken {
        type Response = u32;
        type Error = &'static str;
        type Future = std::future::Ready<Result<u32, &'static str>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Err("broken"))
        }

        fn call(&mut self, _: u32) -> Self::Future {
            unreachable!("never ready")
        }
    }

    #[tokio::test]
    async fn a_readiness_error_is_the_answer() {
        assert_eq!(oneshot(Broken, 1).await, Err("broken"));
    }
}
