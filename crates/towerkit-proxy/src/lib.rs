//! A reverse proxy for towerkit, after `paste.proxy` and Werkzeug's
//! `ProxyMiddleware`: an old HTTP service mounted anywhere in a stack.
//!
//! - The request goes to `upstream` (`http://host:port/base/`), its path
//!   below the mount and its query appended to the base, over pooled
//!   keep-alive HTTP/1.1 connections; bodies stream both ways (server-sent
//!   events and large uploads are never buffered).
//! - Hop-by-hop headers (the fixed list and those `Connection` names) are
//!   dropped both ways; `X-Forwarded-For` is appended to, and
//!   `X-Forwarded-Proto`, `-Host` and `-Prefix` (the mount, `ScriptName`)
//!   set. `Host` is the upstream's, or the client's with `preserve_host`.
//! - With `rewrite_location` (on by default), a `Location` and the `Path` of
//!   cookies that point into the upstream's base are rewritten to the public
//!   URL and prefix, like Apache's `ProxyPassReverse`.
//! - Cannot connect (refused, `connect_timeout`): 502; no answer within
//!   `timeout`: 504; each logged with a short body that says so.
//! - `Upgrade` requests (WebSocket) are passed to the upstream and, once it
//!   answers 101, tunnelled as raw bytes both ways.
//!
//!
//! The upstream side is a small HTTP/1.1 client of the crate's own, driven
//! in the task of the client's request: the request goes out from that task
//! and the response is read back into it, with no connection task, channel
//! or wake-up in between. `httparse` parses the response head; the crate
//! decides how the body is framed (`Content-Length`, chunked, or to the
//! close) and refuses what is ambiguous, such as two different lengths. The
//! modules, in the order a request meets them: `client` (what the proxy
//! reads of the client's headers, in one pass), `hop_by_hop` (the fields
//! that stay behind), `request` (head and body out), `pool` (connections
//! kept alive, and a request sent again when a kept-alive connection was
//! closed under it), `response` (the head back), `body` and `chunked` (the
//! body back).
//!
//! ```no_run
//! use towerkit_proxy::Proxy;
//!
//! let legacy = Proxy::new("http://127.0.0.1:9000/app/").unwrap();
//! # let _ = legacy;
//! ```

#![warn(missing_docs)]

mod body;
mod chunked;
mod client;
mod connection;
mod hop_by_hop;
mod pool;
mod proxy;
mod request;
mod response;

pub use proxy::{Proxy, DEFAULT_CONNECT_TIMEOUT, DEFAULT_TIMEOUT};
