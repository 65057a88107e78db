//! Streaming gzip for towerkit, after `paste.gzipper` and tower-http's
//! compression, done so that server-sent events flow through it.
//!
//! [`GzipLayer`] compresses a response with gzip when:
//!
//! - the client accepts gzip (RFC 9110 q-values: `gzip;q=0` means no, `*`
//!   counts; when neither gzip nor identity is acceptable, a 2xx is answered
//!   406);
//! - the type is compressible (text, JSON, JavaScript, XML, SVG,
//!   `text/event-stream`; `types` replaces the list) and its size, when
//!   known, is at least `min_size`;
//! - it is not an answer to HEAD, not 1xx/204/304, has no
//!   `Content-Encoding` yet, no `Content-Range` (nor 206), and no
//!   `Cache-Control: no-transform`.
//!
//! It adds `Vary: Accept-Encoding` once (merged with an existing `Vary`),
//! removes `Content-Length` and `Accept-Ranges`, and makes a strong `ETag`
//! weak. The body is never buffered whole: each frame is compressed as it
//! comes, and whenever the app has nothing more ready the compressor is
//! flushed, so each server-sent event reaches the client as soon as it is
//! written. Work per poll and memory per response are bounded; trailers
//! pass through.
//!
//! With `decompress_requests`, a request body sent with
//! `Content-Encoding: gzip` reaches the app decompressed (the header
//! removed); past `max_decompressed` (16 MiB by default), or at a ratio only
//! a gzip bomb has, the request is answered 413 without the memory growing.
//!
//! The backend is flate2 over zlib-rs. The default level, 4, was chosen with
//! `bench/gzip.sh`: see the README's benchmark section for the figures.
//!
//! ```
//! use tower::Layer;
//! use towerkit_core::app::Text;
//! use towerkit_gzip::GzipLayer;
//!
//! let app = GzipLayer::new().level(6).decompress_requests(true).layer(Text::new("hello"));
//! # let _ = app;
//! ```
//!
//! ## In an axum app
//!
//! The layer takes any request body and any response body of the app, and
//! passes its errors on, so it goes straight into `Router::layer`:
//!
//! ```no_run
//! use axum::{routing::get, Router};
//! use towerkit_gzip::GzipLayer;
//!
//! #[tokio::main]
//! async fn main() -> std::io::Result<()> {
//!     let app = Router::new()
//!         .route("/", get(|| async { "hello ".repeat(100) }))
//!         .layer(GzipLayer::new().decompress_requests(true));
//!     let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//!     axum::serve(listener, app).await
//! }
//! ```

#![warn(missing_docs)]

mod decode;
mod encode;
mod predicate;
mod service;

pub use decode::GunzipBody;
pub use encode::GzipBody;
pub use predicate::DEFAULT_TYPES;
pub use service::{
    Gzip, GzipLayer, ResponseFuture, DEFAULT_LEVEL, DEFAULT_MAX_DECOMPRESSED, DEFAULT_MIN_SIZE,
};
