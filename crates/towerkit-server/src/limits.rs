//! What the server puts up with from a client.

use std::time::Duration;

/// The limits and timeouts a [`Server`](crate::Server) enforces on every
/// connection. The defaults suit a server on the open internet; change a
/// field and pass the result to
/// [`Builder::limits`](crate::Builder::limits).
///
/// ```
/// use std::time::Duration;
/// use towerkit_server::Limits;
///
/// let mut limits = Limits::default();
/// limits.max_request_body = Some(64 << 20); // 64 MiB uploads
/// limits.keep_alive_timeout = Duration::from_secs(5);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// How long a client has to send a request's head (the request line and
    /// headers) from its first byte, and a new connection to send its first
    /// request (TLS handshake included). Past it the client gets
    /// `408 Request Timeout` where possible, and the connection is closed: a
    /// slow-loris client holds a connection no longer than this.
    /// Default: 10 seconds.
    pub header_timeout: Duration,
    /// How long a connection may sit idle between requests before it is
    /// closed: an HTTP/1.1 connection between two requests, an HTTP/2 one
    /// with no stream open (before its first stream, `header_timeout`
    /// applies). Default: 60 seconds.
    pub keep_alive_timeout: Duration,
    /// The most bytes a request head may take (HTTP/1.1), or its header list
    /// (HTTP/2); a longer one gets `431 Request Header Fields Too Large`.
    /// Default: 64 KiB.
    pub max_header_size: usize,
    /// The most bytes a request body may carry, or `None` for no limit. A
    /// larger `Content-Length` gets `413 Content Too Large` before the stack
    /// is called; a chunked body is counted as it streams, and the read that
    /// crosses the limit fails with a 413
    /// [`HttpException`](towerkit_core::HttpException). Default: 16 MiB.
    pub max_request_body: Option<u64>,
    /// The most connections open at once, over all listeners. At the limit
    /// the server stops accepting until one closes (clients wait in the
    /// kernel's backlog). Default: 10,000.
    pub max_connections: usize,
    /// The most HTTP/2 streams a client may have open at once on one
    /// connection. Default: 200.
    pub max_concurrent_streams: u32,
    /// How long a request body may take before it must keep up
    /// [`body_min_rate`](Limits::body_min_rate), from the moment its head
    /// arrived. Default: 20 seconds.
    pub body_timeout: Duration,
    /// After [`body_timeout`](Limits::body_timeout), the bytes per second a
    /// request body must keep arriving at, as Apache's mod_reqtimeout
    /// (`body=20,MinRate=500`) holds it: each `body_min_rate` bytes received
    /// buy one more second. A body that falls behind fails with a 408
    /// [`HttpException`](towerkit_core::HttpException); the client gets
    /// `408 Request Timeout` and, on HTTP/1, the connection is closed. An
    /// idle timeout alone would let a client trickle one byte every few
    /// seconds for ever; a rate does not. 0: the whole body must arrive
    /// within `body_timeout`. Default: 500 bytes per second.
    pub body_min_rate: u64,
    /// How long a response may wait for the client to take more of it
    /// (its socket not writable) before the connection is closed: a client
    /// that stops reading holds a connection no longer than this.
    /// Default: 60 seconds.
    pub send_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_timeout: Duration::from_secs(10),
            keep_alive_timeout: Duration::from_secs(60),
            max_header_size: 64 * 1024,
            max_request_body: Some(16 * 1024 * 1024),
            max_connections: 10_000,
            max_concurrent_streams: 200,
            body_timeout: Duration::from_secs(20),
            body_min_rate: 500,
            send_timeout: Duration::from_secs(60),
        }
    }
}

/// Lets the process hold as many connections as the system allows: raises
/// the soft limit on open files to the hard one (often 1,024 out of
/// 524,288), as servers do at start. A failure is logged and changes
/// nothing.
pub fn raise_open_files_limit() {
    #[cfg(unix)]
    {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit and setrlimit only read and write `limit`.
        unsafe {
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0
                && limit.rlim_cur < limit.rlim_max
            {
                limit.rlim_cur = limit.rlim_max;
                if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                    tracing::debug!("cannot raise the open files limit");
                }
            }
        }
    }
}
