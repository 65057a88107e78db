//! Proxy-header fixups for towerkit, after Werkzeug's `ProxyFix` and
//! Paste's `PrefixMiddleware`: behind a load balancer or nginx, the app sees
//! the real client address, scheme, host and mount prefix, and a client
//! that forges those headers changes nothing.
//!
//! - **Hop counts**, as ProxyFix defines them: `x_for`, `x_proto`,
//!   `x_host`, `x_port`, `x_prefix` (default 1, 1, 0, 0, 0). Each header is
//!   a comma list (repeated headers join it; empty items are dropped); with
//!   N trusted hops the value used is the N-th from the right, because each
//!   trusted proxy appends what it saw. Fewer values than N, or N = 0: the
//!   header is ignored.
//! - **What it sets**: [`ConnectionInfo`](towerkit_core::ConnectionInfo)'s
//!   `remote_addr` (`X-Forwarded-For`) and `scheme` (`-Proto`), the `Host`
//!   header (`-Host`, its port replaced by `-Port`), and
//!   [`ScriptName`](towerkit_core::ScriptName) (`-Prefix`, put before the
//!   current one). The values before are kept in [`OriginalConnection`].
//! - **RFC 7239 `Forwarded`** (`forwarded = true`, instead of
//!   `X-Forwarded-For/Proto/Host`): the `x_for`-th element from the right
//!   is trusted; its `for` sets the address (`unknown` and obfuscated
//!   `_names` keep the peer's), its `proto` the scheme when `x_proto > 0`,
//!   its `host` the Host when `x_host > 0`. Quoted strings, `[v6]:port` and
//!   extensions are understood.
//! - **Trusted peers**: only requests whose direct peer is in `trusted`
//!   (CIDR, default loopback) are fixed; with `strip`, the forwarding
//!   headers of other peers are removed.
//! - **Bad input**: an invalid address, port, scheme, host or prefix makes
//!   the layer ignore that request's headers altogether (logged at debug):
//!   never a 500, never half-applied.
//!
//! ```
//! use tower::Layer;
//! use towerkit_core::app::Echo;
//! use towerkit_proxyfix::ProxyFixLayer;
//!
//! let behind_nginx = ProxyFixLayer::new()
//!     .x_prefix(1)
//!     .trusted(vec!["10.0.0.0/8".parse().unwrap()])
//!     .layer(Echo);
//! # let _ = behind_nginx;
//! ```
//!
//! ## In an axum app
//!
//! The layer takes any body and passes the app's errors on, so it goes
//! straight into `Router::layer`. Serve with axum's connect-info: the peer it
//! trusts (or not) is the client axum saw (`towerkit-core`'s `axum` feature);
//! an unknown peer is trusted for nothing.
//!
//! ```no_run
//! use std::net::SocketAddr;
//! use axum::{extract::Request, routing::get, Router};
//! use towerkit_proxyfix::ProxyFixLayer;
//!
//! #[tokio::main]
//! async fn main() -> std::io::Result<()> {
//!     let app = Router::new()
//!         .route("/", get(|req: Request| async move { towerkit_core::application_url(&req) }))
//!         .layer(ProxyFixLayer::new().x_for(1).x_proto(1));
//!     let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//!     // The client's address, for the layer: axum's connect-info.
//!     axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await
//! }
//! ```

#![warn(missing_docs)]

pub mod forwarded;
mod proxy_fix;

pub use ipnet::IpNet;
pub use proxy_fix::{
    OriginalConnection, ProxyFix, ProxyFixLayer, ResponseFuture, FORWARDING_HEADERS,
};
