//! towerkit-urlparser's `UrlMap` under axum: axum routers mounted by prefix,
//! each seeing paths relative to its mount and knowing where it is.

use axum::extract::Request;
use axum::routing::get;
use axum::Router;
use towerkit_urlparser::UrlMap;

async fn whereami(req: Request) -> String {
    format!(
        "{} {}",
        towerkit_core::ScriptName::of(&req),
        req.uri().path()
    )
}

#[tokio::test]
async fn mounted_routers_see_their_own_paths() {
    let blog = Router::new().route("/post", get(whereami));
    let root = Router::new().route("/", get(whereami));
    let map = UrlMap::new().mount("/blog", blog).mount("/", root);
    let app = Router::new().fallback_service(map);
    let base = crate::serve(app).await;
    let client = crate::client();

    let res = client
        .get(format!("{base}/blog/post"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.text().await.unwrap(), "/blog /post");
    let res = client.get(format!("{base}/")).send().await.unwrap();
    assert_eq!(res.text().await.unwrap(), " /");
    let res = client
        .get(format!("{base}/blog/none"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
}
