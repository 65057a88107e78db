//! towerkit-proxyfix under axum: the client behind a trusted proxy, read
//! from axum's connect-info.

use axum::extract::Request;
use axum::routing::get;
use axum::Router;
use towerkit_proxyfix::ProxyFixLayer;

async fn who(req: Request) -> String {
    let client = towerkit_core::client_addr(&req).map(|addr| addr.ip().to_string());
    let url = towerkit_core::application_url(&req);
    format!("{} {url}", client.unwrap_or_default())
}

#[tokio::test]
async fn forwarded_headers_of_a_trusted_peer_are_applied() {
    let app = Router::new()
        .route("/", get(who))
        .layer(ProxyFixLayer::new().x_for(1).x_proto(1).x_host(1));
    let base = crate::serve(app).await;
    let res = crate::client()
        .get(&base)
        .header("x-forwarded-for", "203.0.113.9")
        .header("x-forwarded-proto", "https")
        .header("x-forwarded-host", "example.org")
        .send()
        .await
        .unwrap();
    assert_eq!(res.text().await.unwrap(), "203.0.113.9 https://example.org");
}

#[tokio::test]
async fn an_untrusted_peer_is_taken_as_it_is() {
    let trusted = vec!["127.0.0.2/32".parse().unwrap()];
    let app = Router::new()
        .route("/", get(who))
        .layer(ProxyFixLayer::new().x_for(1).trusted(trusted));
    let base = crate::serve(app).await;
    let res = crate::client_from(1)
        .get(&base)
        .header("x-forwarded-for", "203.0.113.9")
        .send()
        .await
        .unwrap();
    assert!(res.text().await.unwrap().starts_with("127.0.0.1 "));
    let res = crate::client_from(2)
        .get(&base)
        .header("x-forwarded-for", "203.0.113.9")
        .send()
        .await
        .unwrap();
    assert!(res.text().await.unwrap().starts_with("203.0.113.9 "));
}
