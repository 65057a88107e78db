//! A connection's socket with the header and keep-alive timeouts.
//!
//! hyper has one timer for HTTP/1.1 that runs from the moment it waits for
//! a request head, so it cannot tell an idle keep-alive connection (allowed
//! to wait long) from a client that started a request and trickles its
//! headers (a slow-loris, allowed little time), and it closes the latter
//! without a word. [`TimedIo`] keeps both apart by watching the socket:
//!
//! * **head**: from a connection's start, or from the first byte after a
//!   response, the head must be complete within `header_timeout`; past it
//!   the client gets `408 Request Timeout` (if it had sent anything) and the
//!   connection is closed;
//! * **busy**: while a request is being served there is no timer (the stack
//!   and its body have their own);
//! * **idle**: after a response, the connection may wait `keep_alive_timeout`
//!   for the next request.
//!
//! The stack side reports the busy phase through [`Activity`]: a request
//! starts when hyper hands it to the service and ends when its response body
//! is dropped. HTTP/2 connections (the preface, or ALPN `h2`) are left to
//! HTTP/2's own flow control and keep-alive.
//!
//! One timer per connection, re-armed lazily: a request arriving well within
//! the timeouts costs a clock read, not a timer-wheel update.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// What the connection is serving, shared between its socket and its
/// service.
#[derive(Debug, Default)]
pub(crate) struct Activity {
    in_flight: AtomicUsize,
    finished: AtomicU64,
}

impl Activity {
    /// A request was handed to the stack.
    pub(crate) fn started(&self) {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
    }

    /// A response body was dropped: sent, or abandoned.
    pub(crate) fn finished(&self) {
        self.finished.fetch_add(1, Ordering::Relaxed);
        self.in_flight.fetch_sub(1, Ordering::Release);
    }

    fn busy(&self) -> bool {
        self.in_flight.load(Ordering::Acquire) > 0
    }

    fn finished_count(&self) -> u64 {
        self.finished.load(Ordering::Relaxed)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Waiting for a request head; `bytes` of it have been read.
    Head { bytes: bool },
    /// Waiting for the next request after a response.
    Idle,
    /// HTTP/2: no per-request timers.
    Off,
}

const REQUEST_TIMEOUT: &[u8] =
    b"HTTP/1.1 408 Request Timeout\r\nconnection: close\r\ncontent-length: 0\r\n\r\n";

const H2_PREFACE_START: &[u8] = b"PRI * HTTP/2.0";

pin_project_lite::pin_project! {
    /// A socket that enforces the header and keep-alive timeouts.
    pub(crate) struct TimedIo<T> {
        #[pin]
        inner: T,
        activity: Arc<Activity>,
        header_timeout: Duration,
        keep_alive_timeout: Duration,
        phase: Phase,
        deadline: Instant,
        seen_finished: u64,
        first_read: bool,
        timer: Pin<Box<Sleep>>,
    }
}

impl<T> TimedIo<T> {
    /// Wraps a fresh connection: its first request head is due within
    /// `header_timeout`. With `http2` set (ALPN chose `h2`) no timer runs.
    pub(crate) fn new(
        inner: T,
        activity: Arc<Activity>,
        header_timeout: Duration,
        keep_alive_timeout: Duration,
        http2: bool,
    ) -> Self {
        let deadline = Instant::now() + header_timeout;
        TimedIo {
            inner,
            activity,
            header_timeout,
            keep_alive_timeout,
            phase: if http2 {
                Phase::Off
            } else {
                Phase::Head { bytes: false }
            },
            deadline,
            seen_finished: 0,
            first_read: true,
            timer: Box::pin(tokio::time::sleep_until(deadline)),
        }
    }
}

impl<T: AsyncRead + AsyncWrite> AsyncRead for TimedIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let mut this = self.project();
        let before = buf.filled().len();
        let result = this.inner.as_mut().poll_read(cx, buf);
        if *this.phase == Phase::Off {
            return result;
        }
        match result {
            Poll::Ready(Ok(())) => {
                let read = &buf.filled()[before..];
                if read.is_empty() {
                    return Poll::Ready(Ok(()));
                }
                if std::mem::take(this.first_read) && read.starts_with(H2_PREFACE_START) {
                    *this.phase = Phase::Off;
                    return Poll::Ready(Ok(()));
                }
                if !this.activity.busy() {
                    let finished = this.activity.finished_count();
                    let new_head = finished != *this.seen_finished || *this.phase == Phase::Idle;
                    *this.seen_finished = finished;
                    if new_head {
                        // The first bytes of the next request: its head is due.
                        let deadline = Instant::now() + *this.header_timeout;
                        set_deadline(this.deadline, this.timer.as_mut(), deadline);
                    }
                    *this.phase = Phase::Head { bytes: true };
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(err)) => Poll::Ready(Err(err)),
            Poll::Pending => {
                if this.activity.busy() {
                    return Poll::Pending;
                }
                let finished = this.activity.finished_count();
                if finished != *this.seen_finished {
                    // A response ended since we last looked: idle from now.
                    *this.seen_finished = finished;
                    *this.phase = Phase::Idle;
                    let deadline = Instant::now() + *this.keep_alive_timeout;
                    set_deadline(this.deadline, this.timer.as_mut(), deadline);
                }
                loop {
                    if this.timer.as_mut().poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    let now = Instant::now();
                    if now < *this.deadline {
                        // Armed early (see set_deadline): re-arm, at most one
                        // header timeout ahead so that a later, earlier
                        // deadline never needs the timer moved back.
                        let next = (*this.deadline).min(now + *this.header_timeout);
                        this.timer.as_mut().reset(next);
                        continue;
                    }
                    return Poll::Ready(Err(match *this.phase {
                        Phase::Head { bytes: true } => {
                            // Nothing of a response is under way (the
                            // connection is not busy), so the socket is ours.
                            let _ = this.inner.as_mut().poll_write(cx, REQUEST_TIMEOUT);
                            io::Error::new(
                                io::ErrorKind::TimedOut,
                                "the request head did not arrive within the header timeout",
                            )
                        }
                        Phase::Head { bytes: false } => io::Error::new(
                            io::ErrorKind::TimedOut,
                            "no request within the header timeout",
                        ),
                        _ => io::Error::new(io::ErrorKind::TimedOut, "keep-alive timeout"),
                    }));
                }
            }
        }
    }
}

/// Moves the deadline; the timer is only moved when it would otherwise fire
/// too late. Firing early is fine: the reader re-arms it.
fn set_deadline(slot: &mut Instant, timer: Pin<&mut Sleep>, deadline: Instant) {
    *slot = deadline;
    if deadline < timer.deadline() {
        timer.reset(deadline);
    }
}

impl<T: AsyncWrite> AsyncWrite for TimedIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.project().inner.poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.project().inner.poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().inner.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().inner.poll_shutdown(cx)
    }
}
