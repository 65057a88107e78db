//! A reverse proxy for towerkit, after `paste.proxy` and Werkzeug's
//! `ProxyMiddleware`: an old HTTP service mounted anywhere in a stack.
//!
//! - The request goes to `upstream` (`http://host:port/base/`), its path
//!   below the mount and its query appended to the base, over a pooled
//!   keep-alive client; bodies stream both ways (server-sent events and
//!   large uploads are never buffered).
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
//! ```no_run
//! use towerkit_proxy::Proxy;
//!
//! let legacy = Proxy::new("http://127.0.0.1:9000/app/").unwrap();
//! # let _ = legacy;
//! ```

#![warn(missing_docs)]

mod pool;
mod proxy;

pub use proxy::{Proxy, DEFAULT_CONNECT_TIMEOUT, DEFAULT_TIMEOUT};
