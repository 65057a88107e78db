//! towerkit-gzip under axum: responses compressed when asked for.

use std::io::Read;

use axum::routing::get;
use axum::Router;
use towerkit_gzip::GzipLayer;

#[tokio::test]
async fn text_is_compressed_for_clients_that_accept_gzip() {
    let text = "towerkit ".repeat(200);
    let body = text.clone();
    let app = Router::new()
        .route("/", get(move || async move { body }))
        .layer(GzipLayer::new());
    let base = crate::serve(app).await;
    let client = crate::client();

    let res = client
        .get(&base)
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["content-encoding"], "gzip");
    assert_eq!(res.headers()["vary"], "accept-encoding");
    let bytes = res.bytes().await.unwrap();
    assert!(bytes.len() < text.len() / 4, "{} bytes", bytes.len());
    let mut plain = String::new();
    flate2::read::GzDecoder::new(&bytes[..])
        .read_to_string(&mut plain)
        .unwrap();
    assert_eq!(plain, text);

    // Without Accept-Encoding: as it is.
    let res = client.get(&base).send().await.unwrap();
    assert!(res.headers().get("content-encoding").is_none());
    assert_eq!(res.text().await.unwrap(), text);
}

#[tokio::test]
async fn gzip_request_bodies_are_decompressed_for_the_handler() {
    let app = Router::new()
        .route(
            "/echo",
            axum::routing::post(|body: String| async move { body }),
        )
        .layer(GzipLayer::new().decompress_requests(true));
    let base = crate::serve(app).await;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut encoder, b"hello, gzip").unwrap();
    let res = crate::client()
        .post(format!("{base}/echo"))
        .header("content-encoding", "gzip")
        .body(encoder.finish().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.text().await.unwrap(), "hello, gzip");
}
