//! The layers under plain hyper: a stack of them over a tower service goes
//! into hyper-util's `TowerToHyperService` with no glue.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tower::ServiceBuilder;
use towerkit_gzip::GzipLayer;
use towerkit_httpexceptions::HttpExceptionsLayer;
use towerkit_session::{MemoryStore, SessionLayer};

#[tokio::test]
async fn a_stack_of_layers_is_a_hyper_service() {
    let app = tower::service_fn(|_req: http::Request<towerkit_core::Body>| async {
        let body = Full::new(Bytes::from("hello ".repeat(100)));
        let mut response = http::Response::new(body);
        response.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("text/plain"),
        );
        Ok::<_, Infallible>(response)
    });
    // The request body is hyper's own `Incoming`; the app's is not towerkit's.
    let stack = ServiceBuilder::new()
        .layer(HttpExceptionsLayer::new())
        .layer(SessionLayer::new(MemoryStore::default()))
        .layer(GzipLayer::new())
        .service(app);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        hyper::server::conn::http1::Builder::new()
            .serve_connection(TokioIo::new(stream), TowerToHyperService::new(stack))
            .await
            .unwrap();
    });
    let res = crate::client()
        .get(format!("http://{addr}/"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-encoding"], "gzip");
}
