//! One connection to the upstream: a socket and what has been read from it
//! but not yet used.
//!
//! The connection has no task of its own. Whoever holds it (the request
//! while it waits for the response head, then the response body) polls its
//! socket directly, so a proxied request is driven in the client's own
//! task: no channel, no second task to wake.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::AsyncWrite;
use tokio::net::TcpStream;
use tokio_util::io::poll_read_buf;

/// How much is read at a time, at least.
const READ_SIZE: usize = 16 * 1024;

/// Up to this size, what is taken from the read buffer is copied out.
const COPY_UP_TO: usize = 4 * 1024;

/// A connection to the upstream. See the [module documentation](self).
#[derive(Debug)]
pub(crate) struct Connection {
    pub(crate) io: TcpStream,
    /// Read from the socket, not yet consumed.
    pub(crate) read: BytesMut,
}

impl Connection {
    pub(crate) fn new(io: TcpStream) -> Self {
        Connection {
            io,
            read: BytesMut::new(),
        }
    }

    /// Reads what the socket has into `read`: the number of bytes, 0 at the
    /// end of the stream.
    pub(crate) fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        if self.read.capacity() - self.read.len() < READ_SIZE / 4 {
            self.read.reserve(READ_SIZE);
        }
        // Reads into the buffer's free space, left uninitialized: zeroing
        // 16 KiB before each read topped the proxy's instruction profile.
        poll_read_buf(Pin::new(&mut self.io), cx, &mut self.read)
    }

    /// Whether an idle connection is still usable: the upstream has neither
    /// closed it nor sent anything unasked. Costs no system call unless the
    /// socket has become readable since it was last read.
    pub(crate) fn is_idle_usable(&self) -> bool {
        if !self.read.is_empty() {
            return false;
        }
        let mut probe = [0u8; 1];
        matches!(self.io.try_read(&mut probe), Err(err) if err.kind() == io::ErrorKind::WouldBlock)
    }

    /// Writes what the socket takes of `slices`.
    pub(crate) fn poll_write_vectored(
        &mut self,
        cx: &mut Context<'_>,
        slices: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, slices)
    }
}

/// Takes the first `n` bytes of a connection's read buffer.
///
/// Small pieces (a response head, a short body) are copied out, so that
/// the read buffer stays the connection's alone and is reused for the
/// next response. A slice of it would keep it shared while the client
/// is sent the response, and the next read would need a new buffer: a
/// 16 KiB allocation per request, more than the copy costs.
pub(crate) fn take(read: &mut BytesMut, n: usize) -> Bytes {
    if n <= COPY_UP_TO {
        let bytes = Bytes::copy_from_slice(&read[..n]);
        read.advance(n);
        bytes
    } else {
        read.split_to(n).freeze()
    }
}
