//! The towerkit apps (CGI, proxy, document root) under axum, each behind
//! `Compat::new`, which takes axum's body and makes their errors pages.

use axum::routing::get;
use axum::Router;
use towerkit_cgi::Cgi;
use towerkit_core::compat::Compat;
use towerkit_proxy::Proxy;
use towerkit_urlparser::UrlParser;

#[tokio::test]
async fn a_cgi_script_is_nested_under_a_path() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("hello.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\n'\nprintf 'hello %s %s' \"$SCRIPT_NAME\" \"$PATH_INFO\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let app = Router::new().nest_service("/cgi", Compat::new(Cgi::script(&script)));
    let base = crate::serve(app).await;
    let res = crate::client()
        .get(format!("{base}/cgi/x/y"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    // axum's nest_service strips its prefix without telling the app where
    // it is mounted (no `ScriptName`): `UrlMap` does, see `urlmap.rs`.
    assert_eq!(res.text().await.unwrap(), "hello  /x/y");
}

#[tokio::test]
async fn a_proxy_passes_requests_to_an_upstream() {
    let upstream = Router::new().route(
        "/{*rest}",
        get(|uri: axum::http::Uri| async move { format!("upstream {uri}") }),
    );
    let upstream = crate::serve(upstream).await;
    let proxy = Proxy::new(&upstream).unwrap();
    let app = Router::new().nest_service("/legacy", Compat::new(proxy));
    let base = crate::serve(app).await;
    let res = crate::client()
        .get(format!("{base}/legacy/page?q=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), "upstream /page?q=1");
}

#[tokio::test]
async fn a_document_root_is_the_fallback() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("docs")).unwrap();
    std::fs::write(dir.path().join("docs/index.html"), "<p>docs</p>").unwrap();
    let app = Router::new()
        .route("/api", get(|| async { "api" }))
        .fallback_service(Compat::new(UrlParser::new(dir.path())));
    let base = crate::serve(app).await;
    let client = crate::client();
    let res = client.get(format!("{base}/docs/")).send().await.unwrap();
    assert_eq!(res.text().await.unwrap(), "<p>docs</p>");
    let res = client.get(format!("{base}/api")).send().await.unwrap();
    assert_eq!(res.text().await.unwrap(), "api");
    let res = client.get(format!("{base}/none")).send().await.unwrap();
    assert_eq!(res.status(), 404);
}
