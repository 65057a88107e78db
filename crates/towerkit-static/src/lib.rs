//! Static files for towerkit, after `paste.fileapp` and Werkzeug's
//! `SharedDataMiddleware`.
//!
//! [`ServeFile`] serves one file; [`ServeDir`] serves a folder by
//! `PATH_INFO`. Both answer `GET` and `HEAD` (anything else: 405 with
//! `Allow: GET, HEAD`) with:
//!
//! - `Content-Type` from the extension (text types in UTF-8),
//!   `Content-Length`, `Last-Modified`, a strong `ETag`, `Accept-Ranges`,
//!   and `Cache-Control: max-age` when asked for;
//! - conditional requests per RFC 9110: `If-None-Match` (which wins over
//!   `If-Modified-Since`; an unparseable date is ignored), `If-Match` and
//!   `If-Unmodified-Since` (412), `If-Range`;
//! - ranges: `bytes=0-99`, `bytes=-500`, `bytes=1000-`, several at once as
//!   `multipart/byteranges`; 416 with `Content-Range: bytes */LEN` when none
//!   is satisfiable; a malformed `Range` is ignored. Ranges never make a
//!   response longer than the file: overlapping and adjacent ranges are
//!   coalesced (`0-10,5-20` is one part, `0-20`; thirty-two `0-` are one),
//!   and the whole file is sent (200) for a header listing more than 32
//!   ranges, or when the parts with their headers would be longer than the
//!   file;
//! - a precompressed `NAME.gz` sibling for clients that accept gzip, with
//!   `Vary: Accept-Encoding`;
//! - large files streamed a chunk at a time, in bounded memory.
//!
//! ```no_run
//! use towerkit_static::ServeDir;
//! use towerkit_server::Server;
//!
//! # async fn run() -> std::io::Result<()> {
//! let server = Server::bind(["127.0.0.1:8080".parse().unwrap()]).await?;
//! server.serve(ServeDir::new("public")).await
//! # }
//! ```
//!
//! ## In an axum app
//!
//! [`ServeDir`] and [`ServeFile`] take any request body and never fail: they
//! go into axum as they are.
//!
//! ```no_run
//! use axum::Router;
//! use towerkit_static::ServeDir;
//!
//! #[tokio::main]
//! async fn main() -> std::io::Result<()> {
//!     let app = Router::new().nest_service("/assets", ServeDir::new("public"));
//!     let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//!     axum::serve(listener, app).await
//! }
//! ```

#![warn(missing_docs)]

mod body;
mod conditional;
mod options;
mod range;
mod resolve;
mod response;
mod root;
mod serve_dir;
mod serve_file;

pub use options::StaticOptions;
pub use resolve::file_name;
pub use response::content_type_of;
pub use root::Root;
pub use serve_dir::ServeDir;
pub use serve_file::ServeFile;
