//! An event stream that never ends by itself is ended by the server at
//! shutdown, cleanly, at a frame boundary.

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::StreamBody;
use towerkit_core::{handler, Body};
use towerkit_server::Server;

#[tokio::test]
async fn a_stream_that_ignores_shutdown_is_ended_by_the_server() {
    let app = handler(|_req: Request<Body>| async {
        let first = futures_util::stream::iter([Ok::<_, Infallible>(http_body::Frame::data(
            Bytes::from_static(b"data: 1\n\n"),
        ))]);
        // Then nothing, forever.
        let stream = futures_util::StreamExt::chain(first, futures_util::stream::pending());
        let mut response = Response::new(Body::new(StreamBody::new(stream)));
        response.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("text/event-stream"),
        );
        Ok::<_, Infallible>(response)
    });
    let server = Server::builder()
        .listen("127.0.0.1:0".parse().unwrap())
        .shutdown_grace(Duration::from_secs(60))
        .bind()
        .await
        .unwrap();
    let addr = server.local_addrs()[0];
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server.serve_with_shutdown(app, async {
        let _ = stopped.await;
    }));

    let mut response = reqwest::get(format!("http://{addr}/")).await.unwrap();
    assert_eq!(response.chunk().await.unwrap().unwrap(), "data: 1\n\n");
    stop.send(()).unwrap();
    // The stream ends (no error: a complete chunked response), and the
    // server with it, long before the 60 s grace.
    let rest = tokio::time::timeout(Duration::from_secs(20), response.chunk())
        .await
        .expect("the stream was not ended");
    assert_eq!(rest.unwrap(), None);
    tokio::time::timeout(Duration::from_secs(20), serving)
        .await
        .expect("the server did not stop")
        .unwrap()
        .unwrap();
}
