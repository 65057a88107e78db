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
        clock: Clock,
        first_read: bool,
    }
}

/// The phase a connection is in, its deadline, and the one timer.
struct Clock {
    header_timeout: Duration,
    keep_alive_timeout: Duration,
    phase: Phase,
    deadline: Instant,
    /// The finished-request count when the phase was last set.
    seen_finished: u64,
    timer: Pin<Box<Sleep>>,
}

impl Clock {
    /// Moves the deadline; the timer is only moved when it would otherwise
    /// fire too late. Firing early is fine: [`Clock::expired`] re-arms it.
    fn set_deadline(&mut self, deadline: Instant) {
        self.deadline = deadline;
        if deadline < self.timer.deadline() {
            self.timer.as_mut().reset(deadline);
        }
    }

    /// Starts the idle phase if a response ended since the last look, and
    /// says whether it did. Called from reads and from flushes: hyper may
    /// read (while the request is still busy) before it drops the response
    /// body, and then wait for the socket alone, so the flush that sends the
    /// response's end must arm the timer.
    fn note_idle(&mut self, activity: &Activity) -> bool {
        if self.phase == Phase::Off || activity.busy() {
            return false;
        }
        let finished = activity.finished_count();
        if finished == self.seen_finished {
            return false;
        }
        self.seen_finished = finished;
        self.phase = Phase::Idle;
        let now = Instant::now();
        if self.timer.is_elapsed() {
            let next = now + self.header_timeout.min(self.keep_alive_timeout);
            self.timer.as_mut().reset(next);
        }
        self.set_deadline(now + self.keep_alive_timeout);
        true
    }

    /// Bytes of a request head arrived while no request was busy.
    fn note_head(&mut self, activity: &Activity) {
        let finished = activity.finished_count();
        if finished != self.seen_finished || self.phase == Phase::Idle {
            // The first bytes of the next request: its head is due.
            self.seen_finished = finished;
            self.set_deadline(Instant::now() + self.header_timeout);
        }
        self.phase = Phase::Head { bytes: true };
    }

    /// Polls the timer: ready once the deadline has passed.
    fn expired(&mut self, cx: &mut Context<'_>) -> bool {
        loop {
            if self.timer.as_mut().poll(cx).is_pending() {
                return false;
            }
            let now = Instant::now();
            if now >= self.deadline {
                return true;
            }
            // Armed early: re-arm, at most one header timeout ahead so that
            // a later, earlier deadline never needs the timer moved back.
            let next = self.deadline.min(now + self.header_timeout);
            self.timer.as_mut().reset(next);
        }
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
            clock: Clock {
                header_timeout,
                keep_alive_timeout,
                phase: if http2 {
                    Phase::Off
                } else {
                    Phase::Head { bytes: false }
                },
                deadline,
                seen_finished: 0,
                timer: Box::pin(tokio::time::sleep_until(deadline)),
            },
            first_read: true,
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
        let clock = this.clock;
        let before = buf.filled().len();
        let result = this.inner.as_mut().poll_read(cx, buf);
        if clock.phase == Phase::Off {
            return result;
        }
        match result {
            Poll::Ready(Ok(())) => {
                let read = &buf.filled()[before..];
                if read.is_empty() {
                    return Poll::Ready(Ok(()));
                }
                if std::mem::take(this.first_read) && read.starts_with(H2_PREFACE_START) {
                    clock.phase = Phase::Off;
                } else if !this.activity.busy() {
                    clock.note_head(this.activity);
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(err)) => Poll::Ready(Err(err)),
            Poll::Pending => {
                if this.activity.busy() {
                    return Poll::Pending;
                }
                clock.note_idle(this.activity);
                if !clock.expired(cx) {
                    return Poll::Pending;
                }
                Poll::Ready(Err(match clock.phase {
                    Phase::Head { bytes: true } => {
                        // Nothing of a response is under way (the connection
                        // is not busy), so the socket is ours.
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
                }))
            }
        }
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
        let this = self.project();
        let flushed = this.inner.poll_flush(cx);
        if this.clock.note_idle(this.activity) {
            // Register the timer with this task: nothing else may poll it.
            let _ = this.clock.expired(cx);
        }
        flushed
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().inner.poll_shutdown(cx)
    }
}
