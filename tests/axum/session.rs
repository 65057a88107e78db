//! towerkit-session under axum: a counter kept in the session.

use axum::routing::get;
use axum::{Extension, Router};
use towerkit_core::session::SessionFactory;
use towerkit_session::{MemoryStore, SessionLayer};

async fn count(Extension(session): Extension<SessionFactory>) -> String {
    let n = session.get::<u32>("n").await.ok().flatten().unwrap_or(0) + 1;
    session.insert("n", n).await.unwrap();
    n.to_string()
}

#[tokio::test]
async fn a_session_counts_across_requests_and_is_not_touched_unused() {
    let app = Router::new()
        .route("/count", get(count))
        .route("/plain", get(|| async { "plain" }))
        .layer(SessionLayer::new(MemoryStore::default()));
    let base = crate::serve(app).await;
    let client = crate::client();

    let first = client.get(format!("{base}/count")).send().await.unwrap();
    let cookie = first.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.starts_with("towerkit_session="), "{cookie}");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert_eq!(first.text().await.unwrap(), "1");

    let pair = cookie.split(';').next().unwrap();
    let second = client
        .get(format!("{base}/count"))
        .header("cookie", pair)
        .send()
        .await
        .unwrap();
    assert_eq!(second.text().await.unwrap(), "2");

    // A request that never uses its session gets no cookie.
    let plain = client.get(format!("{base}/plain")).send().await.unwrap();
    assert!(plain.headers().get("set-cookie").is_none());
    assert_eq!(plain.text().await.unwrap(), "plain");
}
