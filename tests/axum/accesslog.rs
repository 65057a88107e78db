//! towerkit-accesslog under axum: one line per request, with the client
//! from axum's connect-info.

use std::time::Duration;

use axum::routing::get;
use axum::Router;
use towerkit_accesslog::{AccessLogLayer, LogWriter};

#[tokio::test]
async fn each_request_is_logged_with_its_client_and_status() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("access.log");
    let app = Router::new()
        .route("/hello", get(|| async { "hello" }))
        .layer(AccessLogLayer::new(LogWriter::file(&path).unwrap()));
    let base = crate::serve(app).await;
    let res = crate::client_from(3)
        .get(format!("{base}/hello?x=1"))
        .header("user-agent", "axum-test")
        .send()
        .await
        .unwrap();
    assert_eq!(res.text().await.unwrap(), "hello");
    let missing = crate::client_from(3)
        .get(format!("{base}/nowhere"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);

    // The line is written once the response body is done with.
    let mut text = String::new();
    for _ in 0..100 {
        text = std::fs::read_to_string(&path).unwrap_or_default();
        if text.lines().count() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[0].starts_with("127.0.0.3 - - ["), "{}", lines[0]);
    assert!(
        lines[0].contains("\"GET /hello?x=1 HTTP/1.1\" 200 5 \"-\" \"axum-test\""),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].contains("\"GET /nowhere HTTP/1.1\" 404 "),
        "{}",
        lines[1]
    );
}
