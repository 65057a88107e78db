//! One towerkit crate in an axum app: an axum user who wants server-sent
//! events compressed (tower-http's compression leaves them out, because it
//! would hold events back) takes `towerkit-gzip` alone and adds it as a
//! layer, as it would tower-http's: `Router::layer(GzipLayer::new())`.
//!
//!     cargo run --example single_crate_in_axum              # http://127.0.0.1:3000/
//!     curl -N --compressed http://127.0.0.1:3000/ticks      # live, gzipped

use std::convert::Infallible;
use std::time::Duration;

use axum::response::sse::{Event, Sse};
use axum::routing::get;
use axum::{Json, Router};
use futures_util::stream::{self, Stream};
use serde_json::{json, Value};
use towerkit_gzip::GzipLayer;

// ANCHOR: router
fn app() -> Router {
    Router::new()
        .route("/", get(|| async { "hello from axum\n" }))
        .route("/status", get(status))
        .route("/ticks", get(ticks))
        // Any request body, any response body, axum's errors passed on:
        // no glue.
        .layer(GzipLayer::new())
}
// ANCHOR_END: router

async fn status() -> Json<Value> {
    let devices: Vec<Value> = (1..=20)
        .map(|n| json!({"id": n, "name": format!("sensor {n}"), "online": n % 3 != 0}))
        .collect();
    Json(json!({"ok": true, "devices": devices}))
}

/// An event every 200 ms, forever.
async fn ticks() -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let ticks = stream::unfold(0u64, |n| async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        Some((Ok(Event::default().data(format!("tick {n}"))), n + 1))
    });
    Sse::new(ticks)
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:3000".to_owned());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    eprintln!("axum: listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app()).await
}
