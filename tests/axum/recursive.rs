//! towerkit-recursive under axum, through `compat` (its forwards and loop
//! errors are towerkit errors): forward and include between axum routes.
//! The layer wraps the whole router (`Router::layer` wraps each route on
//! its own, which could only send a request back to the same handler).

use axum::extract::Request;
use axum::routing::get;
use axum::Router;
use tower::Layer;
use towerkit_core::compat;
use towerkit_core::recursive::Recursive;
use towerkit_recursive::RecursiveLayer;

#[tokio::test]
async fn handlers_forward_and_include_through_the_router() {
    let routes = Router::new()
        .route(
            "/old",
            get(|req: Request| async move { Recursive::forward(&req, "/new?from=old").into_response() }),
        )
        .route(
            "/new",
            get(|req: Request| async move { format!("new {}", req.uri().query().unwrap_or("")) }),
        )
        .route(
            "/page",
            get(|req: Request| async move {
                let part = Recursive::include(&req, "/new?from=page").await.unwrap();
                let part = part.into_body().to_bytes().await.unwrap();
                format!("page with [{}]", String::from_utf8_lossy(&part))
            }),
        )
        .route(
            "/loop",
            get(|req: Request| async move { Recursive::forward(&req, "/loop").into_response() }),
        )
;
    let app = Router::new().fallback_service(compat(RecursiveLayer::new()).layer(routes));
    let base = crate::serve(app).await;
    let client = crate::client();

    let res = client.get(format!("{base}/old")).send().await.unwrap();
    assert_eq!(res.text().await.unwrap(), "new from=old");
    let res = client.get(format!("{base}/page")).send().await.unwrap();
    assert_eq!(res.text().await.unwrap(), "page with [new from=page]");
    let res = client.get(format!("{base}/loop")).send().await.unwrap();
    assert_eq!(res.status(), 500);
}

/// Error documents go into `Router::layer` as they are (any body, axum's
/// errors passed on); they fetch the page through the recursive layer
/// around the router.
#[tokio::test]
async fn an_error_status_gets_its_document_and_keeps_its_status() {
    use towerkit_recursive::ErrorDocumentsLayer;
    let routes = Router::new()
        .route("/errors/404.html", get(|| async { "<p>no such page</p>" }))
        .route("/", get(|| async { "home" }))
        .layer(ErrorDocumentsLayer::new().document(404, "/errors/404.html"));
    let app = Router::new().fallback_service(compat(RecursiveLayer::new()).layer(routes));
    let base = crate::serve(app).await;
    let client = crate::client();
    let res = client.get(format!("{base}/nowhere")).send().await.unwrap();
    assert_eq!(res.status(), 404);
    assert_eq!(res.text().await.unwrap(), "<p>no such page</p>");
    let res = client.get(&base).send().await.unwrap();
    assert_eq!(res.text().await.unwrap(), "home");
}
