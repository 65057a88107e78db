//! A reverse proxy for towerkit, after `paste.proxy` and Werkzeug's
//! `ProxyMiddleware`: an old HTTP service mounted anywhere in a stack.
//!
//! - The request goes to `upstream` (`http://host:port/base/` or
//!   `https://…`), its path below the mount and its query appended to the
//!   base. Bodies stream both ways (server-sent events and large uploads
//!   are never buffered), trailers included.
//! - The upstream is spoken to by hyper's client connections
//!   (`hyper::client::conn`) in a pool of the proxy's own: HTTP/1.1 over
//!   kept-alive connections, HTTP/2 to an `https://` upstream that offers it
//!   by ALPN, or to a plain one with [`h2c`](Proxy::h2c). TLS is rustls,
//!   checked against the system's roots or a private CA
//!   ([`ca_file`](Proxy::ca_file)).
//! - An HTTP/1.1 connection goes back to the pool only once its response
//!   ended exactly where its framing said, and only if that framing leaves
//!   no room for bytes after it: a `HEAD`, a 204 or 304 announcing a body,
//!   a response with both a length and chunks close their connection.
//!   Before a connection is lent again, bytes waiting on it (in hyper's
//!   buffer, or on a plain TCP socket) close it. Bytes an upstream sends
//!   after the next request was written cannot be told from its answer, by
//!   this proxy or any HTTP/1.1 client.
//! - Hop-by-hop headers (the fixed list and those `Connection` names) and
//!   `Proxy-Authorization` / `Proxy-Authenticate` are dropped both ways;
//!   `X-Forwarded-For` is appended to, and `X-Forwarded-Proto`, `-Host`
//!   and `-Prefix` (the mount, `ScriptName`) set. `Host` is the
//!   upstream's, or the client's with `preserve_host`.
//! - With `rewrite_location` (on by default), a `Location` and the `Path` of
//!   cookies that point into the upstream's base are rewritten to the public
//!   URL and prefix, like Apache's `ProxyPassReverse`.
//! - Timeouts mean one thing each: `connect_timeout` (TCP and TLS), then
//!   `timeout` for the response head once the request was sent whole, and
//!   `idle_timeout` while a body waits on the upstream, either way. A slow
//!   client is the server's business (its body timeout), never the
//!   upstream's. Cannot connect: 502; no answer in time: 504; each logged
//!   and answered with a page in the client's `Accept`.
//! - A request with no body and an idempotent method (`GET`, `HEAD`…) that
//!   meets a connection closed unanswered is sent once more on another; a
//!   `POST` never is.
//! - `Upgrade` requests (WebSocket) are passed to the upstream and, once it
//!   answers 101, tunnelled as raw bytes both ways.
//!
//! ```no_run
//! use towerkit_proxy::Proxy;
//!
//! let legacy = Proxy::new("http://127.0.0.1:9000/app/").unwrap();
//! # let _ = legacy;
//! ```
//!
//! ## In an axum app
//!
//! [`Proxy`] is a towerkit app that fails with towerkit errors (502, 504): it
//! goes into axum through [`Compat::new`](towerkit_core::compat::Compat::new),
//! which makes them pages.
//!
//! ```no_run
//! use axum::Router;
//! use towerkit_core::compat::Compat;
//! use towerkit_proxy::Proxy;
//!
//! #[tokio::main]
//! async fn main() -> std::io::Result<()> {
//!     let legacy = Proxy::new("http://127.0.0.1:9000/app/").map_err(std::io::Error::other)?;
//!     let app = Router::new().nest_service("/legacy", Compat::new(legacy));
//!     let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//!     axum::serve(listener, app).await
//! }
//! ```

#![warn(missing_docs)]

mod bodies;
mod client;
mod connect;
mod error;
mod hop_by_hop;
mod pool;
mod proxy;

pub use error::{ProxyError, UpstreamProblem};
pub use proxy::{
    Proxy, DEFAULT_CONNECT_TIMEOUT, DEFAULT_IDLE_TIMEOUT, DEFAULT_POOL_IDLE_TIMEOUT,
    DEFAULT_POOL_MAX_IDLE, DEFAULT_TIMEOUT,
};
