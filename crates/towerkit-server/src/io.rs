//! A connection's socket with the header and keep-alive timeouts, and
//! parking.
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
//! An HTTP/2 connection has no head timer (hyper's h2 reads frames), but one
//! with no stream open is closed after `keep_alive_timeout`, or
//! `header_timeout` before its first stream.
//!
//! The stack side reports the busy phase through [`Activity`]: a request
//! starts when hyper hands it to the service and ends when its response body
//! is dropped. HTTP/2 connections, and connections upgraded to another
//! protocol (tunnels), are left alone.
//!
//! **Parking.** An HTTP/1 connection holds 16 KiB of hyper's buffers for as
//! long as it lives, idle or not; a server with thousands of idle keep-alive
//! clients (browsers keep theirs for minutes) would hold them all for
//! nothing. So a connection idle for [`PARK_AFTER`] is *parked*, as nginx
//! frees its header buffer on keep-alive: the socket and its [`Clock`] move
//! out to the connection's [`ParkSlot`], hyper sees the end of the stream
//! on an idle connection and ends cleanly, dropping its buffers, and the
//! connection task waits on the bare socket ([`Socket::wait_for_bytes`]) for
//! the next request, which starts a fresh hyper connection with the bytes
//! read so far. A client that sends request after request never idles that
//! long, so a busy connection is never parked.
//!
//! One timer per connection, re-armed lazily: a request arriving well within
//! the timeouts costs a clock read, not a timer-wheel update.

use std::future::{poll_fn, Future};
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};
use towerkit_core::Shutdown;

/// How long an HTTP/1 connection waits idle before it is parked.
pub(crate) const PARK_AFTER: Duration = Duration::from_millis(100);

/// What the connection is serving, shared between its socket and its
/// service, and the server's shutdown, which its event streams wait on.
#[derive(Debug, Default)]
pub(crate) struct Activity {
    in_flight: AtomicUsize,
    finished: AtomicU64,
    upgraded: AtomicBool,
    /// A request body fell behind its pace (see
    /// [`RequestBody`](crate::body::RequestBody)).
    body_timed_out: AtomicBool,
    shutdown: Shutdown,
}

impl Activity {
    /// A connection's activity, on a server shut down by `shutdown`.
    pub(crate) fn new(shutdown: Shutdown) -> Self {
        Activity {
            shutdown,
            ..Activity::default()
        }
    }

    /// The server's shutdown.
    pub(crate) fn shutdown(&self) -> &Shutdown {
        &self.shutdown
    }

    /// A request was handed to the stack.
    pub(crate) fn started(&self) {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
    }

    /// A response body was dropped: sent, or abandoned.
    pub(crate) fn finished(&self) {
        self.finished.fetch_add(1, Ordering::Relaxed);
        self.in_flight.fetch_sub(1, Ordering::Release);
    }

    /// A response switched protocols: from now on the socket carries a
    /// tunnel, not HTTP/1 requests.
    pub(crate) fn upgraded(&self) {
        self.upgraded.store(true, Ordering::Release);
    }

    /// A request body fell behind its pace: its response is a 408, and an
    /// HTTP/1 connection is closed after it.
    pub(crate) fn body_timed_out(&self) {
        self.body_timed_out.store(true, Ordering::Release);
    }

    /// Whether a request body fell behind its pace since the last call.
    pub(crate) fn take_body_timed_out(&self) -> bool {
        self.body_timed_out.swap(false, Ordering::AcqRel)
    }

    fn busy(&self) -> bool {
        self.in_flight.load(Ordering::Acquire) > 0
    }

    fn is_upgraded(&self) -> bool {
        self.upgraded.load(Ordering::Acquire)
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
    /// HTTP/2: no head timer (hyper's h2 reads frames), but a connection
    /// with no stream open is closed after `keep_alive_timeout` (after
    /// `header_timeout` before its first stream): an idle or silent HTTP/2
    /// client holds a connection slot no longer than an HTTP/1 one.
    H2,
    /// A tunnel: no timers.
    Off,
}

/// What the timer found when it fired.
enum Due {
    /// The phase's timeout passed.
    Timeout,
    /// The connection has been idle for [`PARK_AFTER`].
    Park,
}

const REQUEST_TIMEOUT: &[u8] =
    b"HTTP/1.1 408 Request Timeout\r\nconnection: close\r\ncontent-length: 0\r\n\r\n";

/// The opening of every HTTP/2 connection with prior knowledge.
pub(crate) const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// A socket and the clock of its connection: what outlives a hyper
/// connection when the connection is parked.
pub(crate) struct Socket<T> {
    io: T,
    clock: Clock,
    send: SendClock,
}

/// The send timeout: how long a write may wait for the client to take
/// more of the response (see [`Limits::send_timeout`](crate::Limits)).
/// Armed when a write has to wait, disarmed when one makes progress.
struct SendClock {
    timeout: Duration,
    /// When the pending write must have made progress.
    deadline: Option<Instant>,
    timer: Option<Pin<Box<Sleep>>>,
}

impl SendClock {
    fn new(timeout: Duration) -> Self {
        SendClock {
            timeout,
            deadline: None,
            timer: None,
        }
    }

    /// Watches a write's outcome: progress disarms the clock; a write that
    /// has waited past the timeout becomes an error.
    fn watch<R>(
        &mut self,
        cx: &mut Context<'_>,
        result: Poll<io::Result<R>>,
    ) -> Poll<io::Result<R>> {
        if result.is_ready() {
            self.deadline = None;
            return result;
        }
        let deadline = *self
            .deadline
            .get_or_insert_with(|| Instant::now() + self.timeout);
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if timer.deadline() != deadline {
            timer.as_mut().reset(deadline);
        }
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => {
                tracing::debug!("the client took nothing of the response within the send timeout");
                Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the client stopped reading the response",
                )))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

/// Where a parked socket waits for the connection task to pick it up.
pub(crate) type ParkSlot<T> = Arc<Mutex<Option<Socket<T>>>>;

/// The phase a connection is in, its deadline, and the one timer.
struct Clock {
    header_timeout: Duration,
    keep_alive_timeout: Duration,
    phase: Phase,
    deadline: Instant,
    /// When an idle connection is parked.
    park_at: Option<Instant>,
    /// The finished-request count when the phase was last set.
    seen_finished: u64,
    /// A request head has begun and its deadline is yet to be set (see
    /// [`Clock::note_head`]).
    head_timer_due: bool,
    timer: Pin<Box<Sleep>>,
    /// The timer was polled, pending, since it was last set.
    timer_waiting: bool,
}

impl Clock {
    /// Moves the deadline; the timer is only moved when it would otherwise
    /// fire too late. Firing early is fine: [`Clock::poll_due`] re-arms it.
    fn set_deadline(&mut self, deadline: Instant) {
        self.deadline = deadline;
        self.fire_by(deadline);
    }

    fn fire_by(&mut self, at: Instant) {
        if at < self.timer.deadline() {
            self.timer.as_mut().reset(at);
            self.timer_waiting = false;
        }
    }

    /// Starts the idle phase if a response ended since the last look, and
    /// says whether it did. Called from reads and from flushes: hyper may
    /// read (while the request is still busy) before it drops the response
    /// body, and then wait for the socket alone, so the flush that sends the
    /// response's end must arm the timer.
    fn note_idle(&mut self, activity: &Activity) -> bool {
        if matches!(self.phase, Phase::Off | Phase::H2) || activity.busy() {
            return false;
        }
        let finished = activity.finished_count();
        if finished == self.seen_finished {
            return false;
        }
        self.seen_finished = finished;
        self.phase = Phase::Idle;
        self.head_timer_due = false;
        // An elapsed timer is re-armed by the `poll_due` that follows.
        let now = Instant::now();
        self.set_deadline(now + self.keep_alive_timeout);
        let park_at = now + PARK_AFTER;
        self.park_at = Some(park_at);
        self.fire_by(park_at);
        true
    }

    /// An HTTP/2 connection with no stream open: its idle deadline is
    /// moved when a stream ended since the last look.
    fn note_h2_idle(&mut self, activity: &Activity) {
        let finished = activity.finished_count();
        if finished != self.seen_finished {
            self.seen_finished = finished;
            self.set_deadline(Instant::now() + self.keep_alive_timeout);
        }
    }

    /// Bytes of a request head arrived while no request was busy.
    fn note_head(&mut self, activity: &Activity) {
        let finished = activity.finished_count();
        if finished != self.seen_finished || self.phase == Phase::Idle {
            // The first bytes of the next request: its head is due, within
            // the header timeout from the first wait for more of it. A head
            // that arrives whole never waits, and costs no clock read.
            self.seen_finished = finished;
            self.head_timer_due = true;
        }
        self.phase = Phase::Head { bytes: true };
        self.park_at = None;
    }

    /// Polls the timer: what is due once it fires at or past the deadline
    /// (or the parking time, when `may_park`).
    fn poll_due(&mut self, cx: &mut Context<'_>, may_park: bool) -> Option<Due> {
        if self.head_timer_due {
            self.head_timer_due = false;
            self.set_deadline(Instant::now() + self.header_timeout);
        }
        if !may_park || self.phase != Phase::Idle {
            self.park_at = None;
        }
        loop {
            // Polled and pending since it was last set, the timer holds the
            // connection task's waker (only that task polls a connection's
            // socket): polling it again would only register it again.
            if self.timer_waiting && !self.timer.is_elapsed() {
                return None;
            }
            if self.timer.as_mut().poll(cx).is_pending() {
                self.timer_waiting = true;
                return None;
            }
            self.timer_waiting = false;
            let now = Instant::now();
            if now >= self.deadline {
                return Some(Due::Timeout);
            }
            if self.park_at.is_some_and(|at| now >= at) {
                return Some(Due::Park);
            }
            // Armed early: re-arm, at most one header timeout ahead so that
            // a later, earlier deadline never needs the timer moved back.
            let next = self
                .deadline
                .min(self.park_at.unwrap_or(self.deadline))
                .min(now + self.header_timeout);
            self.timer.as_mut().reset(next);
        }
    }
}

impl<T> Socket<T> {
    /// A fresh connection's socket: its first request head is due within
    /// `header_timeout`.
    pub(crate) fn new(
        io: T,
        header_timeout: Duration,
        keep_alive_timeout: Duration,
        send_timeout: Duration,
    ) -> Self {
        let deadline = Instant::now() + header_timeout;
        Socket {
            io,
            send: SendClock::new(send_timeout),
            clock: Clock {
                header_timeout,
                keep_alive_timeout,
                phase: Phase::Head { bytes: false },
                deadline,
                park_at: None,
                seen_finished: 0,
                head_timer_due: false,
                timer: Box::pin(tokio::time::sleep_until(deadline)),
                timer_waiting: false,
            },
        }
    }
}

impl<T: AsyncRead + Unpin> Socket<T> {
    /// Waits for the first bytes of a request and returns them, with the
    /// rest of the HTTP/2 preface if they begin one; `None` once the client
    /// closes, the phase's deadline passes (a connection that never spoke,
    /// or idle past the keep-alive timeout: closed quietly), or `stop`
    /// completes.
    pub(crate) async fn wait_for_bytes(&mut self, stop: impl Future<Output = ()>) -> Option<Bytes> {
        let mut stop = std::pin::pin!(stop);
        let mut read = BytesMut::new();
        let mut chunk = [0u8; 64];
        poll_fn(|cx| {
            if stop.as_mut().poll(cx).is_ready() {
                return Poll::Ready(None);
            }
            loop {
                let mut buf = ReadBuf::new(&mut chunk);
                match Pin::new(&mut self.io).poll_read(cx, &mut buf) {
                    Poll::Ready(Ok(())) if buf.filled().is_empty() => return Poll::Ready(None),
                    Poll::Ready(Ok(())) => {
                        read.extend_from_slice(buf.filled());
                        let seen = read.len().min(H2_PREFACE.len());
                        // A part of the preface: read it whole before the
                        // protocol is chosen.
                        if seen == H2_PREFACE.len() || read[..seen] != H2_PREFACE[..seen] {
                            return Poll::Ready(Some(read.split().freeze()));
                        }
                    }
                    Poll::Ready(Err(_)) => return Poll::Ready(None),
                    Poll::Pending => {
                        return match self.clock.poll_due(cx, false) {
                            Some(_) => Poll::Ready(None),
                            None => Poll::Pending,
                        };
                    }
                }
            }
        })
        .await
    }
}

/// A socket that enforces the header and keep-alive timeouts, and parks
/// when idle.
pub(crate) struct TimedIo<T> {
    /// `None` once parked: reads see the end of the stream.
    socket: Option<Socket<T>>,
    /// Read before hyper was started (see [`Socket::wait_for_bytes`]);
    /// handed to hyper first.
    prefix: Bytes,
    activity: Arc<Activity>,
    slot: ParkSlot<T>,
    last_read: LastRead,
}

/// What the socket last read, as far as parking cares.
#[derive(Default)]
struct LastRead {
    /// Bytes arrived while a request was busy (a body, or the start of a
    /// pipelined request).
    while_busy: bool,
    /// The last four bytes read.
    tail: [u8; 4],
}

impl LastRead {
    /// Whether hyper can hold nothing unparsed: what was last read ended a
    /// request head, and nothing came while a request was busy. Bytes that
    /// hyper holds (the start of a pipelined request, a partial body) would
    /// be lost with its buffers, so such a connection is not parked before
    /// its next request head.
    fn may_park(&self) -> bool {
        !self.while_busy && &self.tail == b"\r\n\r\n"
    }
}

impl<T> TimedIo<T> {
    /// Hands `socket` to a new hyper connection, `prefix` its first bytes.
    /// With `http2` set no timer runs. A parked socket is put into `slot`.
    pub(crate) fn new(
        mut socket: Socket<T>,
        prefix: Bytes,
        activity: Arc<Activity>,
        slot: ParkSlot<T>,
        http2: bool,
    ) -> Self {
        if http2 {
            socket.clock.phase = Phase::H2;
        } else if !prefix.is_empty() {
            socket.clock.note_head(&activity);
        }
        TimedIo {
            socket: Some(socket),
            prefix,
            activity,
            slot,
            last_read: LastRead::default(),
        }
    }

    fn park(&mut self) {
        if let Some(socket) = self.socket.take() {
            tracing::trace!("parking an idle connection");
            if let Ok(mut slot) = self.slot.lock() {
                *slot = Some(socket);
            }
        }
    }
}

/// Keeps the last four bytes of a stream in `tail` as `read` arrives.
fn keep_tail(tail: &mut [u8; 4], read: &[u8]) {
    if let Some(last) = read.last_chunk::<4>() {
        *tail = *last;
        return;
    }
    let kept = 4usize.saturating_sub(read.len());
    tail.copy_within(4 - kept.., 0);
    tail[kept..].copy_from_slice(&read[read.len() - (4 - kept)..]);
}

fn not_connected() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "the connection was parked")
}

impl<T: AsyncRead + AsyncWrite + Unpin> AsyncRead for TimedIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.prefix.is_empty() {
            let n = this.prefix.len().min(buf.remaining());
            buf.put_slice(&this.prefix[..n]);
            keep_tail(&mut this.last_read.tail, &this.prefix.split_to(n));
            return Poll::Ready(Ok(()));
        }
        let Some(socket) = &mut this.socket else {
            // Parked: the end of the stream, on an idle connection.
            return Poll::Ready(Ok(()));
        };
        let clock = &mut socket.clock;
        let before = buf.filled().len();
        let result = Pin::new(&mut socket.io).poll_read(cx, buf);
        if clock.phase == Phase::Off {
            return result;
        }
        if clock.phase == Phase::H2 {
            if result.is_pending() && !this.activity.busy() {
                clock.note_h2_idle(&this.activity);
                if clock.poll_due(cx, false).is_some() {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "an HTTP/2 connection with no stream open past its timeout",
                    )));
                }
            }
            return result;
        }
        match result {
            Poll::Ready(Ok(())) => {
                let read = &buf.filled()[before..];
                if !read.is_empty() {
                    keep_tail(&mut this.last_read.tail, read);
                    if this.activity.busy() {
                        this.last_read.while_busy = true;
                    } else {
                        this.last_read.while_busy = false;
                        clock.note_head(&this.activity);
                    }
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(err)) => Poll::Ready(Err(err)),
            Poll::Pending => {
                if this.activity.busy() {
                    return Poll::Pending;
                }
                if this.activity.is_upgraded() {
                    clock.phase = Phase::Off;
                    return Poll::Pending;
                }
                clock.note_idle(&this.activity);
                let error = match clock.poll_due(cx, this.last_read.may_park()) {
                    None => return Poll::Pending,
                    Some(Due::Park) => {
                        this.park();
                        return Poll::Ready(Ok(()));
                    }
                    Some(Due::Timeout) => match clock.phase {
                        Phase::Head { bytes: true } => {
                            // Nothing of a response is under way (the
                            // connection is not busy), so the socket is ours.
                            let _ = Pin::new(&mut socket.io).poll_write(cx, REQUEST_TIMEOUT);
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
                    },
                };
                Poll::Ready(Err(error))
            }
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for TimedIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().socket {
            Some(socket) => {
                let written = Pin::new(&mut socket.io).poll_write(cx, buf);
                socket.send.watch(cx, written)
            }
            None => Poll::Ready(Err(not_connected())),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().socket {
            Some(socket) => {
                let written = Pin::new(&mut socket.io).poll_write_vectored(cx, bufs);
                socket.send.watch(cx, written)
            }
            None => Poll::Ready(Err(not_connected())),
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.socket
            .as_ref()
            .is_some_and(|socket| socket.io.is_write_vectored())
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let Some(socket) = &mut this.socket else {
            return Poll::Ready(Ok(()));
        };
        let flushed = Pin::new(&mut socket.io).poll_flush(cx);
        let flushed = socket.send.watch(cx, flushed);
        if socket.clock.note_idle(&this.activity) {
            // Register the timer with this task: nothing else may poll it.
            // What is due is seen by the read that follows.
            let _ = socket.clock.poll_due(cx, this.last_read.may_park());
        }
        flushed
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().socket {
            Some(socket) => Pin::new(&mut socket.io).poll_shutdown(cx),
            // Parked: the socket stays open for the next request.
            None => Poll::Ready(Ok(())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

    const HEAD: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";

    /// A connection that has read `received` and served one request, as
    /// hyper would have.
    async fn served(
        received: &[u8],
    ) -> (TimedIo<DuplexStream>, DuplexStream, ParkSlot<DuplexStream>) {
        let (server, mut client) = tokio::io::duplex(1024);
        client.write_all(received).await.unwrap();
        let slot = ParkSlot::default();
        let activity = Arc::new(Activity::default());
        let socket = Socket::new(
            server,
            Duration::from_secs(10),
            Duration::from_secs(60),
            Duration::from_secs(60),
        );
        let mut io = TimedIo::new(socket, Bytes::new(), activity.clone(), slot.clone(), false);
        let mut buf = [0u8; 256];
        let n = io.read(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], received);
        activity.started();
        activity.finished();
        (io, client, slot)
    }

    /// Reads from `io` with the clock running ahead: `None` while the read
    /// is pending.
    async fn read_after(io: &mut TimedIo<DuplexStream>, wait: Duration) -> Option<usize> {
        let mut buf = [0u8; 256];
        tokio::select! {
            biased;
            read = io.read(&mut buf) => Some(read.unwrap()),
            () = tokio::time::sleep(wait) => None,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_connection_is_parked_after_the_delay() {
        let (mut io, mut client, slot) = served(HEAD).await;
        assert_eq!(read_after(&mut io, PARK_AFTER / 2).await, None);
        assert!(slot.lock().unwrap().is_none());
        // Past the delay hyper reads the end of the stream; the socket is in
        // the slot, still open, and the next request is read from it.
        assert_eq!(read_after(&mut io, PARK_AFTER).await, Some(0));
        let mut socket = slot.lock().unwrap().take().expect("parked");
        client.write_all(b"GET /next").await.unwrap();
        let first = socket.wait_for_bytes(std::future::pending()).await;
        assert_eq!(first.as_deref(), Some(&b"GET /next"[..]));
        // Hyper's write side sees nothing of it.
        io.shutdown().await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn a_trickled_head_is_answered_408_at_the_header_timeout() {
        let (mut io, mut client, slot) = served(HEAD).await;
        client.write_all(b"GET /next HTTP/1.1\r\n").await.unwrap();
        let mut buf = [0u8; 256];
        let n = io.read(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"GET /next HTTP/1.1\r\n");
        // More bytes keep coming, but the deadline set by the first wait
        // stands: 9 s, then another byte, then past 10 s.
        assert_eq!(read_after(&mut io, Duration::from_secs(9)).await, None);
        client.write_all(b"H").await.unwrap();
        assert_eq!(
            read_after(&mut io, Duration::from_millis(10)).await,
            Some(1)
        );
        let failed = tokio::time::timeout(Duration::from_secs(2), io.read(&mut buf)).await;
        let err = failed
            .expect("timed out within the header timeout")
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(slot.lock().unwrap().is_none());
        let mut answer = vec![0u8; REQUEST_TIMEOUT.len()];
        client.read_exact(&mut answer).await.unwrap();
        assert_eq!(answer, REQUEST_TIMEOUT);
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_holding_part_of_a_request_is_not_parked() {
        let (mut io, _client, slot) =
            served(b"GET / HTTP/1.1\r\n\r\nGET /next HTTP/1.1\r\nHo").await;
        assert_eq!(read_after(&mut io, PARK_AFTER * 10).await, None);
        assert!(slot.lock().unwrap().is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn a_parked_connection_waits_no_longer_than_the_keep_alive_timeout() {
        let (mut io, _client, slot) = served(HEAD).await;
        assert_eq!(read_after(&mut io, PARK_AFTER * 2).await, Some(0));
        let mut socket = slot.lock().unwrap().take().expect("parked");
        let waited = Instant::now();
        assert_eq!(socket.wait_for_bytes(std::future::pending()).await, None);
        let waited = waited.elapsed();
        assert!(
            waited >= Duration::from_secs(59) && waited <= Duration::from_secs(61),
            "{waited:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_h2_preface_is_read_whole() {
        let (server, mut client) = tokio::io::duplex(1024);
        let mut socket = Socket::new(
            server,
            Duration::from_secs(10),
            Duration::from_secs(60),
            Duration::from_secs(60),
        );
        client.write_all(&H2_PREFACE[..5]).await.unwrap();
        let wait = socket.wait_for_bytes(std::future::pending());
        let mut wait = std::pin::pin!(wait);
        assert!(
            tokio::time::timeout(Duration::from_millis(10), wait.as_mut())
                .await
                .is_err()
        );
        client.write_all(&H2_PREFACE[5..]).await.unwrap();
        assert_eq!(wait.await.as_deref(), Some(H2_PREFACE));
    }

    #[test]
    fn the_tail_is_the_last_four_bytes() {
        let mut tail = [0; 4];
        keep_tail(&mut tail, b"GET / HTTP/1.1\r\n\r");
        assert_eq!(&tail, b"1\r\n\r");
        keep_tail(&mut tail, b"\n");
        assert_eq!(&tail, b"\r\n\r\n");
        keep_tail(&mut tail, b"ab");
        assert_eq!(&tail, b"\r\nab");
    }
}
