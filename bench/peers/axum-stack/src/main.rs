//! The demo stack as an axum user assembles it from axum, tower-http and
//! tower-sessions, as close to towerkit's full stack as that ecosystem has
//! pieces: panics caught, gzip, a session layer the handler does not touch,
//! Basic auth on `/private` only, routes nested under a prefix. (It has no
//! proxy-header fixup nor recursion layer: those cost it nothing here.)
//!
//! `axum-stack-peer [ADDR]` prints `listening on http://ADDR` on stderr.

use axum::routing::get;
use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::validate_request::ValidateRequestHeaderLayer;
use tower_sessions::{MemoryStore, SessionManagerLayer};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".to_owned());
    // Deprecated as "too basic for real applications", and still what
    // tower-http offers for Basic auth.
    #[allow(deprecated)]
    let private = Router::new()
        .route("/", get(|| async { "secret\n" }))
        .layer(ValidateRequestHeaderLayer::basic("demo", "demo"));
    let app = Router::new()
        .route("/", get(|| async { "hello\n" }))
        .nest("/private", private)
        .layer(SessionManagerLayer::new(MemoryStore::default()).with_secure(false))
        .layer(CompressionLayer::new().gzip(true))
        .layer(CatchPanicLayer::new());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    eprintln!("axum-stack: listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await
}
