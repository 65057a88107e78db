//! The bodies the server wraps: a request body held to `max_request_body`,
//! an HTTP/2 request body kept open until its response is sent, and a
//! response body that reports its end and ends event streams on shutdown.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body as _, Frame, SizeHint};
use hyper::body::Incoming;
use towerkit_core::{Body, BoxError, HttpException};

use crate::io::Activity;

/// A request body without a `Content-Length` (chunked, or HTTP/2 without
/// one), counted as it streams: the read that crosses the limit fails with
/// a 413 [`HttpException`], which a stack that propagates it answers as
/// `413 Content Too Large`.
pub(crate) struct LimitedBody<B> {
    inner: B,
    remaining: u64,
}

impl<B> LimitedBody<B> {
    pub(crate) fn new(inner: B, limit: u64) -> Self {
        LimitedBody {
            inner,
            remaining: limit,
        }
    }
}

impl<B> http_body::Body for LimitedBody<B>
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
        let frame = match std::task::ready!(Pin::new(&mut self.inner).poll_frame(cx)) {
            Some(Ok(frame)) => frame,
            Some(Err(err)) => return Poll::Ready(Some(Err(err.into()))),
            None => return Poll::Ready(None),
        };
        if let Some(data) = frame.data_ref() {
            let len = data.len() as u64;
            if len > self.remaining {
                self.remaining = 0;
                return Poll::Ready(Some(Err(Box::new(HttpException::payload_too_large()))));
            }
            self.remaining -= len;
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
