//! The bodies the server wraps: a request body held to `max_request_body`,
//! and a response body that reports its end and ends event streams on
//! shutdown.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use towerkit_core::{Body, BoxError, HttpException};

use crate::io::Activity;

/// A request body without a `Content-Length` (chunked, or HTTP/2 without
/// one), counted as it streams: the read that crosses the limit fails with
/// a 413 [`HttpException`], which a stack that propagates it answers as
/// `413 Content Too Large`.
pub(crate) struct LimitedBody {
    inner: Incoming,
    remaining: u64,
}

impl LimitedBody {
    pub(crate) fn new(inner: Incoming, limit: u64) -> Self {
        LimitedBody {
            inner,
            remaining: limit,
        }
    }
}

impl http_body::Body for LimitedBody {
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
}

impl ResponseBody {
    pub(crate) fn new(
        inner: Body,
        activity: Arc<Activity>,
        shutdown: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
    ) -> Self {
        ResponseBody {
            inner,
            activity,
            shutdown,
        }
    }
}

impl Drop for ResponseBody {
    fn drop(&mut self) {
        self.activity.finished();
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
