//! towerkit-httpexceptions under axum: a panicking handler is a 500 page.

use axum::routing::get;
use axum::Router;
use towerkit_httpexceptions::HttpExceptionsLayer;

#[tokio::test]
async fn a_panic_is_answered_with_an_error_page_and_the_server_goes_on() {
    let app = Router::new()
        .route(
            "/panic",
            get(|| async {
                if true {
                    panic!("broken handler");
                }
                "unreachable"
            }),
        )
        .route("/", get(|| async { "fine" }))
        .layer(HttpExceptionsLayer::new());
    let base = crate::serve(app).await;
    let client = crate::client();

    let res = client
        .get(format!("{base}/panic"))
        .header("accept", "text/plain")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 500);
    assert!(res.headers().contains_key("x-request-id"));
    let text = res.text().await.unwrap();
    assert_eq!(text, "500 Internal Server Error\n");
    assert!(!text.contains("broken handler"), "no details unless debug");

    let res = client.get(&base).send().await.unwrap();
    assert_eq!(res.text().await.unwrap(), "fine");
}
