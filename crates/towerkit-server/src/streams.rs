//! HTTP/2 streams served inside their connection's task.
//!
//! hyper serves an HTTP/1 request inside the connection's own task, but it
//! hands every HTTP/2 stream to an executor, and hyper-util's
//! `TokioExecutor` spawns a task for each. Per request that is a task
//! allocated and freed, scheduled and woken twice across tasks: as much work
//! as the rest of the request path together.
//!
//! Here the executor is [`StreamExecutor`], and the connection future is
//! wrapped in [`WithStreams`]. While `WithStreams` polls the connection, the
//! streams hyper starts are collected in a thread-local list; right after,
//! they join the connection's set of streams ([`FuturesUnordered`]), and
//! that set is polled in the same task. A stream is polled only when it was
//! woken, as it would be as a task of its own.
//!
//! What this trades: the streams of one connection share one task, so they
//! run on one core at a time, as the requests of an HTTP/1 connection do.
//! Many connections still spread over the runtime's threads. A stream that
//! panics ends alone: the panic is caught, logged, and the stream is reset,
//! as it was when it had a task of its own. When the connection ends, the
//! streams left are dropped with it, as an HTTP/1 connection drops the
//! request it was serving.
//!
//! Should the executor be called outside a `WithStreams` poll (hyper does
//! not do that), the stream is spawned as a task, as `TokioExecutor` would.

use std::cell::Cell;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::stream::{FuturesUnordered, StreamExt};

/// A stream's future, as hyper handed it over.
type StreamFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

thread_local! {
    /// The streams hyper started during the current [`WithStreams`] poll.
    static STARTED: Cell<Option<Vec<StreamFuture>>> = const { Cell::new(None) };
}

/// The HTTP/2 executor: keeps each stream for the connection that started
/// it (see the module docs).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct StreamExecutor;

impl<F> hyper::rt::Executor<F> for StreamExecutor
where
    F: Future<Output = ()> + Send + 'static,
{
    fn execute(&self, future: F) {
        let future: StreamFuture = Box::pin(Unwinding { future });
        STARTED.with(|started| match started.take() {
            Some(mut list) => {
                list.push(future);
                started.set(Some(list));
            }
            None => {
                tokio::spawn(future);
            }
        });
    }
}

pin_project_lite::pin_project! {
    /// A connection future and the streams it started, polled together.
    pub(crate) struct WithStreams<C> {
        #[pin]
        connection: C,
        streams: FuturesUnordered<StreamFuture>,
        // Kept between polls for its capacity.
        started: Vec<StreamFuture>,
    }
}

impl<C> WithStreams<C> {
    /// Wraps a connection whose builder runs on [`StreamExecutor`].
    pub(crate) fn new(connection: C) -> Self {
        WithStreams {
            connection,
            streams: FuturesUnordered::new(),
            started: Vec::new(),
        }
    }

    /// The connection itself, to ask it to shut down.
    pub(crate) fn connection(self: Pin<&mut Self>) -> Pin<&mut C> {
        self.project().connection
    }
}

impl<C: Future> Future for WithStreams<C> {
    type Output = C::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<C::Output> {
        let this = self.project();
        // Saved and put back, though a connection's poll never polls
        // another connection on the same thread.
        let outer = STARTED.replace(Some(std::mem::take(this.started)));
        let polled = this.connection.poll(cx);
        let mut started = STARTED.replace(outer).unwrap_or_default();
        for stream in started.drain(..) {
            this.streams.push(stream);
        }
        *this.started = started;
        // Until every stream waits (or the set yields, after it has polled
        // its share): a stream that sends wakes this task again, and the
        // next poll of the connection writes what it queued.
        while let Poll::Ready(Some(())) = this.streams.poll_next_unpin(cx) {}
        polled
    }
}

pin_project_lite::pin_project! {
    /// A stream whose panic ends only itself.
    struct Unwinding<F> {
        #[pin]
        future: F,
    }
}

impl<F: Future<Output = ()>> Future for Unwinding<F> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let future = self.project().future;
        match catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
            Ok(polled) => polled,
            Err(_) => {
                tracing::error!("an HTTP/2 stream panicked; it is reset");
                Poll::Ready(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use hyper::rt::Executor;

    /// A stand-in connection: starts `n` streams on its first poll, each
    /// counting itself done after yielding once; ends when told.
    struct Starter {
        n: usize,
        done: Arc<AtomicUsize>,
        polls: usize,
        end_after: usize,
    }

    impl Future for Starter {
        type Output = usize;
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<usize> {
            self.polls += 1;
            if self.polls == 1 {
                for _ in 0..self.n {
                    let done = self.done.clone();
                    StreamExecutor.execute(async move {
                        tokio::task::yield_now().await;
                        done.fetch_add(1, Ordering::SeqCst);
                    });
                }
            }
            if self.polls >= self.end_after {
                return Poll::Ready(self.polls);
            }
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }

    #[tokio::test]
    async fn streams_run_while_the_connection_runs() {
        let done = Arc::new(AtomicUsize::new(0));
        let connection = WithStreams::new(Starter {
            n: 3,
            done: done.clone(),
            polls: 0,
            end_after: 3,
        });
        assert_eq!(connection.await, 3);
        assert_eq!(done.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn streams_end_with_their_connection() {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let mut tx = Some(tx);
        let connection = WithStreams::new(std::future::poll_fn(move |_| {
            let tx = tx.take();
            StreamExecutor.execute(async move {
                // Never completes on its own; holds the sender until dropped.
                std::future::pending::<()>().await;
                if let Some(tx) = tx {
                    let _ = tx.send(());
                }
            });
            Poll::Ready(())
        }));
        connection.await;
        // Had the stream been spawned, it would still hold the sender.
        assert!(rx.await.is_err());
    }

    #[tokio::test]
    async fn a_panicking_stream_ends_alone() {
        let done = Arc::new(AtomicUsize::new(0));
        let started = done.clone();
        let connection = WithStreams::new(std::future::poll_fn(move |cx| {
            if started.load(Ordering::SeqCst) == 0 {
                started.fetch_add(1, Ordering::SeqCst);
                StreamExecutor.execute(async { panic!("a stream panics") });
                let after = started.clone();
                StreamExecutor.execute(async move {
                    tokio::task::yield_now().await;
                    after.fetch_add(1, Ordering::SeqCst);
                });
            }
            if started.load(Ordering::SeqCst) == 2 {
                return Poll::Ready(());
            }
            cx.waker().wake_by_ref();
            Poll::Pending
        }));
        connection.await;
        assert_eq!(done.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn outside_a_connection_a_stream_is_spawned() {
        let (tx, rx) = tokio::sync::oneshot::channel();
        StreamExecutor.execute(async move {
            let _ = tx.send(());
        });
        assert!(rx.await.is_ok());
    }
}
