//! In-process: towerkit-gzip on a 1 MB JSON body and on a stream of 1,000
//! frames of 1 KB (the same measurement as `bench/peers/tower-http-gzip`,
//! built apart so that each uses the backend it ships with), then
//! towerkit-gzip's levels side by side, to choose the default.
//!
//! `gzip-compare [LEVEL]` prints MB/s of input and bytes out.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use tower::{Layer, ServiceExt};
use towerkit_gzip::GzipLayer;

#[path = "gzip_common.rs"]
mod common;
use common::{app, json, mbps, measure, request, Shape};

async fn towerkit(level: u32, shape: Shape, data: &Bytes) -> (Duration, usize) {
    let service = GzipLayer::new()
        .level(level)
        .layer(app(shape, data.clone()));
    measure(Duration::from_secs(2), || {
        let service = service.clone();
        async move {
            let response = service.oneshot(request::<towerkit_core::Body>()).await?;
            Ok(response.into_body().collect().await?.to_bytes().len())
        }
    })
    .await
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let level: u32 = std::env::args()
        .nth(1)
        .and_then(|l| l.parse().ok())
        .unwrap_or(towerkit_gzip::DEFAULT_LEVEL);
    let data = json(1_000_000);
    println!(
        "towerkit-gzip (flate2 + zlib-rs), level {level}, in-process, best of >= 5 runs in 2 s:"
    );
    for (name, shape) in [
        ("1 MB JSON body", Shape::Whole),
        ("1,000 x 1 KB frames", Shape::Frames),
    ] {
        let (time, size) = towerkit(level, shape, &data).await;
        println!(
            "RESULT towerkit {} {:.1} {size}",
            shape.key(),
            mbps(data.len(), time)
        );
        println!(
            "  {name:<20} {:>7.1} MB/s {size:>8} B",
            mbps(data.len(), time)
        );
    }
    println!("towerkit-gzip levels on the 1 MB JSON body:");
    for level in [1, 2, 3, 4, 5, 6, 9] {
        let (time, size) = towerkit(level, Shape::Whole, &data).await;
        println!(
            "  level {level}: {:>7.1} MB/s, ratio {:.2} ({size} B)",
            mbps(data.len(), time),
            data.len() as f64 / size as f64
        );
    }
}
