//! The bodies the server wraps: a request body held to `max_request_body`
//! and to its pace,
//! an HTTP/2 request body kept open until its response is sent, and a
//! response body that reports its end and ends event streams on shutdown.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use std::time::Duration;

use bytes::Bytes;
use http_body::{Body as _, Frame, SizeHint};
use hyper::body::Incoming;
use tokio::time::{Instant, Sleep};
use towerkit_core::{Body, BoxError, HttpException};

use crate::io::Activity;
use crate::Limits;

/// A request body held to the server's limits.
///
/// - **Size.** A body without a `Content-Length` (chunked, or HTTP/2
///   without one) is counted as it streams: the read that crosses
///   `max_request_body` fails with a 413 [`HttpException`], which a stack
///   that propagates it answers as `413 Content Too Large`.
/// - **Pace.** From the moment the stack first reads it, the body has
///   `body_timeout`, plus one second for every `body_min_rate` bytes
///   received (see [`Limits::body_min_rate`](crate::Limits::body_min_rate)).
///   A read still waiting past that fails with a 408 [`HttpException`], and
///   the connection's [`Activity`] is told, so that the response is a 408
///   and an HTTP/1 connection is closed. The timer is armed only when a
///   read has to wait: a body that is already there costs a clock read.
pub(crate) struct RequestBody<B> {
    inner: B,
    /// Bytes still allowed, when the body is counted.
    remaining: Option<u64>,
    pace: Pace,
}

/// The pace a request body is held to.
pub(crate) struct Pace {
    /// The first read; `None` before it.
    start: Option<Instant>,
    timeout: Duration,
    min_rate: u64,
    received: u64,
    timer: Option<Pin<Box<Sleep>>>,
    /// Told when the body is late, on HTTP/1 (one request at a time).
    activity: Option<Arc<Activity>>,
}

impl Pace {
    /// The pace of a body whose head arrived now; `activity` is the
    /// HTTP/1 connection's, to be told when the body is late.
    pub(crate) fn new(limits: &Limits, activity: Option<Arc<Activity>>) -> Self {
        Pace {
            start: None,
            timeout: limits.body_timeout,
            min_rate: limits.body_min_rate,
            received: 0,
            timer: None,
            activity,
        }
    }

    /// When the body must have sent more than it has: the clock starts at
    /// the first read, as a client with `Expect: 100-continue` sends
    /// nothing before it (and an app that works long before reading must
    /// not spend the client's time).
    fn deadline(&mut self) -> Instant {
        let start = *self.start.get_or_insert_with(Instant::now);
        let earned = match self.min_rate {
            0 => Duration::ZERO,
            rate => Duration::from_secs_f64(self.received as f64 / rate as f64),
        };
        start + self.timeout + earned
    }

    /// Polls the timer while the body waits: ready once the body is late.
    fn poll_late(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            let deadline = self.deadline();
            if Instant::now() >= deadline {
                return Poll::Ready(());
            }
            let timer = self
                .timer
                .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
            if timer.deadline() != deadline {
                timer.as_mut().reset(deadline);
            }
            std::task::ready!(timer.as_mut().poll(cx));
        }
    }
}

impl<B> RequestBody<B> {
    /// `inner`, held to `limit` bytes (when counted) and to `pace`.
    pub(crate) fn new(inner: B, limit: Option<u64>, pace: Pace) -> Self {
        RequestBody {
            inner,
            remaining: limit,
            pace,
        }
    }
}

impl<B> http_body::Body for RequestBody<B>
where
    B: http_body::Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        let frame = match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => frame,
            Poll::Ready(Some(Err(err))) => return Poll::Ready(Some(Err(err.into()))),
            Poll::Ready(None) => return Poll::Ready(None),
            Poll::Pending => {
                std::task::ready!(this.pace.poll_late(cx));
                tracing::debug!(
                    received = this.pace.received,
                    "the request body fell behind its pace: 408"
                );
                if let Some(activity) = &this.pace.activity {
                    activity.body_timed_out();
                }
                return Poll::Ready(Some(Err(Box::new(
                    HttpException::request_timeout()
                        .with_detail("The request body did not arrive in time."),
                ))));
            }
        };
        if let Some(data) = frame.data_ref() {
            let len = data.len() as u64;
            this.pace.received += len;
            if let Some(remaining) = &mut this.remaining {
                if len > *remaining {
                    *remaining = 0;
                    return Poll::Ready(Some(Err(Box::new(HttpException::payload_too_large()))));
                }
                *remaining -= len;
            }
        }
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// An HTTP/2 request body, shared with the response so that it stays open
/// until the response has been sent, and is then read to its end.
///
/// HTTP/2 lets a server answer before it has read the request (a 401, a
/// 413). Dropping the request's stream resets it, and a client still
/// sending may then lose the answer: curl, for one, reports "Stream error
/// in the HTTP/2 framing layer" when the reset (even `NO_ERROR`, sent once
/// the response is out) reaches it mid-upload. So once the response has
/// been sent, what is left of the request is read and discarded, as
/// HTTP/1 servers do: up to [`DRAIN_LIMIT`] bytes within [`DRAIN_TIME`],
/// after which the stream is reset after all.
pub(crate) struct KeptOpen(Arc<Mutex<Incoming>>);

/// The response's share of a [`KeptOpen`] body.
pub(crate) type Kept = Arc<Mutex<Incoming>>;

/// How much of an unread HTTP/2 request body is read and discarded.
const DRAIN_LIMIT: u64 = 256 * 1024;

/// How long an unread HTTP/2 request body is waited for.
const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(2);

/// Reads what is left of a request body the stack did not read, then drops
/// it: see [`KeptOpen`].
fn drain(kept: Kept) {
    // The stack still holds the body (a task that reads it after the
    // answer): it is the stack's to read, and it is dropped with the stack's
    // share.
    if Arc::strong_count(&kept) > 1 {
        return;
    }
    let unread = kept.lock().is_ok_and(|incoming| !incoming.is_end_stream());
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    if !unread {
        return;
    }
    runtime.spawn(async move {
        let mut left = DRAIN_LIMIT;
        let read = std::future::poll_fn(|cx| loop {
            let Ok(mut incoming) = kept.lock() else {
                return Poll::Ready(());
            };
            match std::task::ready!(Pin::new(&mut *incoming).poll_frame(cx)) {
                Some(Ok(frame)) => {
                    let len = frame.data_ref().map_or(0, |data| data.len() as u64);
                    match left.checked_sub(len) {
                        Some(rest) => left = rest,
                        None => return Poll::Ready(()),
                    }
                }
                Some(Err(_)) | None => return Poll::Ready(()),
            }
        });
        let _ = tokio::time::timeout(DRAIN_TIME, read).await;
    });
}

impl KeptOpen {
    /// The body for the stack, and the share for the response.
    pub(crate) fn new(incoming: Incoming) -> (Self, Kept) {
        let kept = Arc::new(Mutex::new(incoming));
        (KeptOpen(kept.clone()), kept)
    }
}

impl http_body::Body for KeptOpen {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.0.lock() {
            Ok(mut incoming) => Pin::new(&mut *incoming).poll_frame(cx).map_err(Into::into),
            Err(_) => Poll::Ready(Some(Err("the request body was poisoned".into()))),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.0
            .lock()
            .map_or(true, |incoming| incoming.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        self.0
            .lock()
            .map_or_else(|_| SizeHint::default(), |incoming| incoming.size_hint())
    }
}

/// The body of every response the server sends.
///
/// Dropping it (hyper does once the last byte is written, or the client
/// went away) tells the connection's [`Activity`] that the request is over.
/// A `text/event-stream` response (not compressed) is also given the
/// shutdown signal: when the server shuts down it ends at the next frame
/// boundary, so that the client sees a complete stream (and an
/// `EventSource` reconnects, elsewhere) rather than waiting for the grace
/// period to run out.
pub(crate) struct ResponseBody {
    inner: Body,
    activity: Arc<Activity>,
    shutdown: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
    /// Drained once the response is sent: see [`KeptOpen`].
    request_body: Option<Kept>,
}

impl ResponseBody {
    pub(crate) fn new(
        inner: Body,
        activity: Arc<Activity>,
        shutdown: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
        request_body: Option<Kept>,
    ) -> Self {
        ResponseBody {
            inner,
            activity,
            shutdown,
            request_body,
        }
    }
}

impl Drop for ResponseBody {
    fn drop(&mut self) {
        self.activity.finished();
        if let Some(kept) = self.request_body.take() {
            drain(kept);
        }
    }
}

impl http_body::Body for ResponseBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if let Some(shutdown) = &mut self.shutdown {
            if shutdown.as_mut().poll(cx).is_ready() {
                tracing::debug!("shutting down: ending an event stream");
                return Poll::Ready(None);
            }
        }
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    /// Sends `chunks` (each after its delay), then waits for ever.
    struct Trickle {
        chunks: Vec<(Duration, usize)>,
        sleep: Option<Pin<Box<Sleep>>>,
    }

    impl http_body::Body for Trickle {
        type Data = Bytes;
        type Error = std::convert::Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            let Some(&(delay, len)) = self.chunks.first() else {
                return Poll::Pending;
            };
            let sleep = self
                .sleep
                .get_or_insert_with(|| Box::pin(tokio::time::sleep(delay)));
            std::task::ready!(sleep.as_mut().poll(cx));
            self.sleep = None;
            self.chunks.remove(0);
            Poll::Ready(Some(Ok(Frame::data(Bytes::from(vec![b'x'; len])))))
        }
    }

    fn limits(timeout: u64, rate: u64) -> Limits {
        Limits {
            body_timeout: Duration::from_secs(timeout),
            body_min_rate: rate,
            ..Limits::default()
        }
    }

    /// Reads `body` to its failure; the time it failed at and how much it
    /// had read.
    async fn read_until_late(chunks: Vec<(Duration, usize)>, limits: Limits) -> (Duration, usize) {
        let start = Instant::now();
        let activity = Arc::new(Activity::default());
        let body = Trickle {
            chunks,
            sleep: None,
        };
        let mut body = RequestBody::new(body, None, Pace::new(&limits, Some(activity.clone())));
        let mut read = 0;
        loop {
            match body.frame().await {
                Some(Ok(frame)) => read += frame.into_data().map_or(0, |d| d.len()),
                Some(Err(err)) => {
                    let exception = HttpException::find(&err).expect("an HttpException");
                    assert_eq!(exception.status(), 408);
                    assert!(activity.take_body_timed_out());
                    return (start.elapsed(), read);
                }
                None => panic!("the body ended"),
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_earns_a_second_per_min_rate_bytes() {
        // 1,000 bytes at once: 1 s of timeout plus 2 s earned.
        let (late, read) = read_until_late(vec![(Duration::ZERO, 1000)], limits(1, 500)).await;
        assert_eq!(read, 1000);
        assert_eq!(late.as_secs(), 3, "{late:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn the_pace_starts_at_the_first_read() {
        // An app that works 30 s before it reads (a slow password check, a
        // client waiting for 100 Continue) spends none of the body's time.
        let activity = Arc::new(Activity::default());
        let body = Trickle {
            chunks: vec![(Duration::ZERO, 1000)],
            sleep: None,
        };
        let mut body = RequestBody::new(body, None, Pace::new(&limits(1, 500), Some(activity)));
        tokio::time::sleep(Duration::from_secs(30)).await;
        let first = body.frame().await.unwrap().unwrap();
        assert_eq!(first.into_data().unwrap().len(), 1000);
    }

    #[tokio::test(start_paused = true)]
    async fn a_trickle_falls_behind() {
        // 5 bytes a second earns 10 ms a second: late soon after 20 s.
        let chunks = (0..100).map(|_| (Duration::from_secs(1), 5)).collect();
        let (late, read) = read_until_late(chunks, limits(20, 500)).await;
        assert!(late.as_secs() <= 21, "{late:?}");
        assert!(read <= 105, "{read}");
    }

    #[tokio::test(start_paused = true)]
    async fn no_rate_means_the_whole_body_within_the_timeout() {
        let chunks = (0..100)
            .map(|_| (Duration::from_millis(100), 10_000))
            .collect();
        let (late, _) = read_until_late(chunks, limits(2, 0)).await;
        assert_eq!(late.as_secs(), 2, "{late:?}");
    }
}
