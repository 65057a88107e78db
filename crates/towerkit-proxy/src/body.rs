//! The upstream's response body, read straight from its connection.
//!
//! The body owns the connection while it streams, and decodes the framing
//! the head announced (a length, chunks, or up to the close). When it has
//! been read to its end, the connection goes back to the pool, unless it
//! cannot carry another request: the upstream said `Connection: close`, the
//! body ran to the close, bytes arrived past its end, or the request was
//! not sent in full. A body dropped before its end closes its connection,
//! whose state is then unknown.
//!
//! If the upstream answered before the whole request was sent (an early
//! 413, or a service that streams as it reads), the body goes on sending
//! the request as it is polled.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};

use crate::chunked::{ChunkedDecoder, Decoded};
use crate::connection::{take, Connection};
use crate::pool::Pool;
use crate::request::Upload;
use crate::response::Framing;

/// Where the body is in its framing.
#[derive(Debug)]
enum State {
    /// This many bytes are left (none for an empty body).
    Length(u64),
    /// Chunks, decoded.
    Chunked(ChunkedDecoder),
    /// Up to the close.
    Close,
    /// Read to the end.
    Done,
}

/// What the framing makes of the bytes read so far.
enum Next {
    /// Body bytes.
    Data(Bytes),
    /// The body's end.
    End,
    /// Nothing yet: more must be read.
    Read,
}

/// A response body from the upstream. See the [module documentation](self).
pub(crate) struct ResponseBody {
    conn: Option<Connection>,
    /// The rest of the request, when the upstream answered before it.
    upload: Option<Upload>,
    state: State,
    keep_alive: bool,
    pool: Pool,
}

impl ResponseBody {
    pub(crate) fn new(
        conn: Connection,
        upload: Option<Upload>,
        framing: Framing,
        keep_alive: bool,
        pool: Pool,
    ) -> Self {
        let state = match framing {
            Framing::Empty => State::Length(0),
            Framing::Length(len) => State::Length(len),
            Framing::Chunked => State::Chunked(ChunkedDecoder::new()),
            Framing::Close => State::Close,
        };
        ResponseBody {
            conn: Some(conn),
            upload,
            state,
            keep_alive,
            pool,
        }
    }

    /// The body has been read to its end: the connection goes back to the
    /// pool if it can carry another request.
    fn finish(&mut self) {
        self.state = State::Done;
        let Some(conn) = self.conn.take() else {
            return;
        };
        if self.keep_alive && self.upload.is_none() && conn.read.is_empty() {
            self.pool.give_back(conn);
        }
    }

    fn poll_upload(&mut self, cx: &mut Context<'_>) {
        let (Some(upload), Some(conn)) = (&mut self.upload, &mut self.conn) else {
            return;
        };
        match upload.poll_send(cx, conn) {
            Poll::Pending => {}
            Poll::Ready(Ok(())) => self.upload = None,
            Poll::Ready(Err(err)) => {
                tracing::debug!(error = ?err, "the rest of the request could not be sent");
                // Left unsent: the connection cannot be reused.
                self.keep_alive = false;
                self.upload = None;
            }
        }
    }
}

impl http_body::Body for ResponseBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = self.get_mut();
        if this.upload.is_some() {
            this.poll_upload(cx);
        }
        loop {
            let Some(conn) = &mut this.conn else {
                return Poll::Ready(None);
            };
            let next = match &mut this.state {
                State::Done => return Poll::Ready(None),
                State::Length(0) => Next::End,
                State::Length(left) => {
                    if conn.read.is_empty() {
                        Next::Read
                    } else {
                        let n = usize::try_from(*left)
                            .unwrap_or(usize::MAX)
                            .min(conn.read.len());
                        *left -= n as u64;
                        Next::Data(take(&mut conn.read, n))
                    }
                }
                State::Chunked(decoder) => match decoder.decode(&mut conn.read) {
                    Ok(Decoded::Data(data)) => Next::Data(data),
                    Ok(Decoded::End) => Next::End,
                    Ok(Decoded::NeedMore) => Next::Read,
                    Err(err) => {
                        this.conn = None;
                        return Poll::Ready(Some(Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            err,
                        ))));
                    }
                },
                State::Close if conn.read.is_empty() => Next::Read,
                State::Close => {
                    let n = conn.read.len();
                    Next::Data(take(&mut conn.read, n))
                }
            };
            match next {
                Next::End => {
                    this.finish();
                    return Poll::Ready(None);
                }
                Next::Data(data) => {
                    if matches!(this.state, State::Length(0)) {
                        this.finish();
                    }
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
                Next::Read => match ready!(conn.poll_fill(cx)) {
                    Ok(0) if matches!(this.state, State::Close) => {
                        this.keep_alive = false;
                        this.finish();
                        return Poll::Ready(None);
                    }
                    Ok(0) => {
                        this.conn = None;
                        return Poll::Ready(Some(Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "the upstream closed the connection before the end of the body",
                        ))));
                    }
                    Ok(_) => {}
                    Err(err) => {
                        this.conn = None;
                        return Poll::Ready(Some(Err(err)));
                    }
                },
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self.state, State::Length(0) | State::Done)
    }

    fn size_hint(&self) -> SizeHint {
        match self.state {
            State::Length(left) => SizeHint::with_exact(left),
            State::Done => SizeHint::with_exact(0),
            _ => SizeHint::default(),
        }
    }
}

impl Drop for ResponseBody {
    fn drop(&mut self) {
        // An empty body, or one read to its end without a last poll.
        if matches!(self.state, State::Length(0)) {
            self.finish();
        }
    }
}
