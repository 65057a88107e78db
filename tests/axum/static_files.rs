//! towerkit-static under axum: a directory nested under a path.

use axum::Router;
use towerkit_static::ServeDir;

#[tokio::test]
async fn files_are_served_with_validators_and_conditional_gets() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.txt"), "file a\n").unwrap();
    let app = Router::new().nest_service("/files", ServeDir::new(dir.path()));
    let base = crate::serve(app).await;
    let client = crate::client();

    let res = client
        .get(format!("{base}/files/a.txt"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let etag = res.headers()["etag"].clone();
    assert_eq!(res.text().await.unwrap(), "file a\n");

    let res = client
        .get(format!("{base}/files/a.txt"))
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 304);

    let res = client
        .get(format!("{base}/files/a.txt"))
        .header("range", "bytes=0-3")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 206);
    assert_eq!(res.text().await.unwrap(), "file");

    let res = client
        .get(format!("{base}/files/none"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
}
