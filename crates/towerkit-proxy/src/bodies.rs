//! The two bodies between the client and the upstream: the request's on its
//! way up ([`Outgoing`]), which tells the proxy when it has been sent whole
//! and whether the upstream keeps taking it, and the response's on its way
//! down ([`Incoming`]), which gives up when the upstream stops sending.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use tokio::sync::{Notify, OwnedSemaphorePermit};
use tokio::time::Sleep;
use towerkit_core::{Body, BoxError};

use crate::pool::Lease;

/// The request body as hyper's client sends it.
pub(crate) enum Outgoing {
    /// No body: the request is sent whole with its head.
    Empty,
    /// The client's body, as it comes.
    Streaming { body: Body, upload: Arc<Upload> },
}

/// What the proxy learns of a request body while hyper sends it.
#[derive(Debug)]
pub(crate) struct Upload {
    start: Instant,
    /// When a piece was last handed to hyper that it has not asked past
    /// yet (milliseconds after `start`), or `u64::MAX` when hyper is
    /// waiting on the client: the time the upstream has been taking it.
    handed_at: AtomicU64,
    sent: AtomicBool,
    notify: Notify,
    /// The client's body failed: why (too large, cut off).
    client_error: Mutex<Option<BoxError>>,
}

/// The error hyper is given when the client's body fails; the client's
/// own error stays in [`Upload`].
#[derive(Debug)]
pub(crate) struct ClientBodyFailed;

impl std::fmt::Display for ClientBodyFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the client's request body failed")
    }
}

impl std::error::Error for ClientBodyFailed {}

impl Upload {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Upload {
            start: Instant::now(),
            handed_at: AtomicU64::new(u64::MAX),
            sent: AtomicBool::new(false),
            notify: Notify::new(),
            client_error: Mutex::new(None),
        })
    }

    fn finish(&self) {
        if !self.sent.swap(true, Ordering::AcqRel) {
            self.handed_at.store(u64::MAX, Ordering::Release);
            self.notify.notify_one();
        }
    }

    /// Whether the whole body has been handed to hyper.
    pub(crate) fn is_sent(&self) -> bool {
        self.sent.load(Ordering::Acquire)
    }

    /// Waits until [`is_sent`](Self::is_sent) may have changed.
    pub(crate) async fn changed(&self) {
        self.notify.notified().await;
    }

    /// How long the upstream has left a piece of the body untaken, if it
    /// has one.
    pub(crate) fn untaken_for(&self) -> Option<Duration> {
        let at = self.handed_at.load(Ordering::Acquire);
        (at != u64::MAX).then(|| {
            self.start
                .elapsed()
                .saturating_sub(Duration::from_millis(at))
        })
    }

    /// The client's body error, once.
    pub(crate) fn take_client_error(&self) -> Option<BoxError> {
        self.client_error.lock().ok()?.take()
    }
}

impl http_body::Body for Outgoing {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let (body, upload) = match self.get_mut() {
            Outgoing::Empty => return Poll::Ready(None),
            Outgoing::Streaming { body, upload } => (body, upload),
        };
        // Asked again: the upstream took the previous piece.
        upload.handed_at.store(u64::MAX, Ordering::Release);
        match ready!(Pin::new(&mut *body).poll_frame(cx)) {
            None => {
                upload.finish();
                Poll::Ready(None)
            }
            Some(Ok(frame)) => {
                if body.is_end_stream() {
                    upload.finish();
                } else {
                    let now = upload.start.elapsed().as_millis() as u64;
                    upload.handed_at.store(now, Ordering::Release);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Some(Err(err)) => {
                if let Ok(mut slot) = upload.client_error.lock() {
                    *slot = Some(err);
                }
                Poll::Ready(Some(Err(ClientBodyFailed.into())))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Outgoing::Empty => true,
            Outgoing::Streaming { body, upload } => {
                let end = body.is_end_stream();
                if end {
                    upload.finish();
                }
                end
            }
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Outgoing::Empty => SizeHint::with_exact(0),
            Outgoing::Streaming { body, .. } => body.size_hint(),
        }
    }
}

/// The upstream's response body on its way to the client: it ends in an
/// error when the upstream sends nothing for `idle`, and holds the
/// request's place under the connection limit until it ends.
pub(crate) struct Incoming {
    pub(crate) body: hyper::body::Incoming,
    pub(crate) idle: Duration,
    /// Armed when the body waits on the upstream; re-armed after each frame.
    pub(crate) sleep: Option<Pin<Box<Sleep>>>,
    pub(crate) rearm: bool,
    pub(crate) permit: Option<OwnedSemaphorePermit>,
    /// The HTTP/1.1 connection the body comes on: given back to the pool
    /// when the body ends where its framing said, closed if it fails or is
    /// dropped before its end.
    pub(crate) lease: Option<Lease>,
}

/// The upstream stopped sending its response body.
#[derive(Debug)]
pub(crate) struct Stalled(pub(crate) Duration);

impl std::fmt::Display for Stalled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the upstream sent nothing of its response body for {:?}",
            self.0
        )
    }
}

impl std::error::Error for Stalled {}

impl http_body::Body for Incoming {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.body).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                this.rearm = true;
                // Its length reached, or its trailers (the last frame):
                // hyper read the body to its end, and a server may not ask
                // past it.
                if frame.is_trailers() || this.body.is_end_stream() {
                    if let Some(lease) = this.lease.take() {
                        lease.release();
                    }
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(None) => {
                this.permit = None;
                if let Some(lease) = this.lease.take() {
                    lease.release();
                }
                Poll::Ready(None)
            }
            Poll::Ready(Some(Err(err))) => {
                this.permit = None;
                this.lease = None;
                tracing::warn!(error = %err, "the upstream's response body failed: the client's response is cut off");
                Poll::Ready(Some(Err(err.into())))
            }
            Poll::Pending => {
                let deadline = tokio::time::Instant::now() + this.idle;
                let sleep = match &mut this.sleep {
                    Some(sleep) => {
                        if this.rearm {
                            sleep.as_mut().reset(deadline);
                        }
                        sleep
                    }
                    None => this
                        .sleep
                        .insert(Box::pin(tokio::time::sleep_until(deadline))),
                };
                this.rearm = false;
                ready!(sleep.as_mut().poll(cx));
                this.permit = None;
                this.lease = None;
                tracing::warn!(idle = ?this.idle, "the upstream stopped sending its response body: the client's response is cut off");
                Poll::Ready(Some(Err(Stalled(this.idle).into())))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// The upstream's response body with its first frame already read.
pub(crate) struct Prefetched {
    pub(crate) first: Option<Result<Frame<Bytes>, BoxError>>,
    pub(crate) rest: Incoming,
}

impl http_body::Body for Prefetched {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        if let Some(first) = this.first.take() {
            return Poll::Ready(Some(first));
        }
        Pin::new(&mut this.rest).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.first.is_none() && self.rest.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        let mut hint = self.rest.size_hint();
        if let Some(Ok(first)) = &self.first {
            let len = first.data_ref().map_or(0, |d| d.len() as u64);
            let lower = hint.lower() + len;
            // The upper bound first: a lower one above it would panic.
            if let Some(upper) = hint.upper() {
                hint.set_upper(upper + len);
            }
            hint.set_lower(lower);
        }
        hint
    }
}
