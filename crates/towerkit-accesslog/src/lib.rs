//! An access log for towerkit stacks, after `paste.translogger`: one line
//! per request in Apache's combined format,
//!
//! ```text
//! 127.0.0.1 - alice [21/Nov/2026:15:27:21 +0000] "GET /private?x=1 HTTP/1.1" 200 1234 "http://localhost/" "curl/8.14.1"
//! ```
//!
//! that is `%h - %u [%t] "%r" %>s %b "%{Referer}i" "%{User-Agent}i"`:
//!
//! - `%h` is the client address as the stack finally saw it: after
//!   `towerkit-proxyfix` corrected it, wherever the log stands in the stack
//!   (the fix is reported back on the response);
//! - `%u` is the user `towerkit-login` found (also reported back), or `-`;
//! - `%t` is when the request arrived, in UTC;
//! - `%b` counts the body bytes actually handed to the server, so a download
//!   the client abandoned shows what was sent (`-` for none); the line is
//!   written when the response body is done with;
//! - quotes, backslashes and control characters in the request line and
//!   headers are escaped (`\"`, `\\`, `\xhh`), so a line cannot be forged.
//!
//! Lines go to stderr or to a file opened for appending; [`LogWriter::reopen`]
//! (on SIGHUP, after logrotate moved the file) starts a new file at the same
//! path.
//!
//! ```
//! use tower_layer::Layer;
//! use towerkit_accesslog::{AccessLogLayer, LogWriter};
//! use towerkit_core::app::Text;
//!
//! let app = AccessLogLayer::new(LogWriter::stderr()).layer(Text::new("hello"));
//! # let _ = app;
//! ```
//!
//! ## In an axum app
//!
//! The layer takes any body and passes the app's errors on, so it goes
//! straight into `Router::layer`. Serve with axum's connect-info for `%h`
//! (`towerkit-core`'s `axum` feature):
//!
//! ```no_run
//! use std::net::SocketAddr;
//! use axum::{routing::get, Router};
//! use towerkit_accesslog::{AccessLogLayer, LogWriter};
//!
//! #[tokio::main]
//! async fn main() -> std::io::Result<()> {
//!     let app = Router::new()
//!         .route("/", get(|| async { "hello" }))
//!         .layer(AccessLogLayer::new(LogWriter::stderr()));
//!     let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//!     // The client's address, for the layer: axum's connect-info.
//!     axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await
//! }
//! ```

#![warn(missing_docs)]

mod layer;
mod line;
mod writer;

pub use layer::{AccessLog, AccessLogLayer, LoggedBody, ResponseFuture};
pub use writer::LogWriter;
