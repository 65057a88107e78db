//! tower-http's `CompressionLayer` (gzip only) at a given level, on the
//! same 1 MB JSON body and 1,000 x 1 KB stream as `gzip-compare`, measured
//! the same way (the shared file is included by path).

use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use tower::{Layer, ServiceExt};
use tower_http::compression::{CompressionLayer, CompressionLevel};

#[path = "../../../src/gzip_common.rs"]
mod common;
use common::{app, json, mbps, measure, request, AppBody, Shape};

async fn tower_http(level: u32, shape: Shape, data: &Bytes) -> (Duration, usize) {
    let layer = CompressionLayer::new()
        .gzip(true)
        .no_br()
        .no_deflate()
        .no_zstd()
        .quality(CompressionLevel::Precise(level as i32));
    let service = layer.layer(app::<AppBody>(shape, data.clone()));
    measure(Duration::from_secs(2), || {
        let service = service.clone();
        async move {
            let response = service.oneshot(request::<AppBody>()).await?;
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
        .unwrap_or(4);
    let data = json(1_000_000);
    println!("tower-http CompressionLayer (as shipped), level {level}, in-process, best of >= 5 runs in 2 s:");
    for (name, shape) in [
        ("1 MB JSON body", Shape::Whole),
        ("1,000 x 1 KB frames", Shape::Frames),
    ] {
        let (time, size) = tower_http(level, shape, &data).await;
        println!(
            "RESULT tower-http {} {:.1} {size}",
            shape.key(),
            mbps(data.len(), time)
        );
        println!(
            "  {name:<20} {:>7.1} MB/s {size:>8} B",
            mbps(data.len(), time)
        );
    }
}
