//! HTTP/2: the streams of one connection are served side by side. The
//! server polls a connection's streams inside the connection's own task, so
//! this checks, with a real HTTP/2 client on one connection, that an open
//! stream neither holds up the others nor misses their wake-ups.

mod common;

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http2;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;
use tokio::time::timeout;

use common::Stack;

/// `events` streams `data: N`, one event per POST: here the POSTs travel on
/// the same connection as the stream they release.
#[tokio::test]
async fn an_open_stream_and_its_neighbours_on_one_connection() {
    let stack = Stack::new("[app.main]\nuse = \"events\"\n");
    let server = stack.serve_with(common::own_factories(), &["127.0.0.1:0"]);
    let tcp = TcpStream::connect(server.addr()).await.unwrap();
    let (mut sender, connection) = http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
        .await
        .unwrap();
    tokio::spawn(connection);
    let request = |method: &str| {
        http::Request::builder()
            .method(method)
            .uri(server.url("/"))
            .body(Empty::<Bytes>::new())
            .unwrap()
    };
    let wait = Duration::from_secs(5);

    let events = timeout(wait, sender.send_request(request("GET")))
        .await
        .expect("the stream answered")
        .unwrap();
    assert_eq!(events.status(), 200);
    let mut events = events.into_body();
    assert_eq!(next_event(&mut events).await, "data: 1\n\n");

    for n in 2..=20 {
        // A short request on the same connection is answered while the
        // stream stays open...
        sender.ready().await.unwrap();
        let answer = timeout(wait, sender.send_request(request("POST")))
            .await
            .expect("the POST answered while the stream is open")
            .unwrap();
        assert_eq!(answer.status(), 200);
        let body = answer.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body, "next\n");
        // ...and the stream, woken by it, sends its next event.
        assert_eq!(next_event(&mut events).await, format!("data: {n}\n\n"));
    }
}

/// The next event of an event stream, as text, within 5 s.
async fn next_event(events: &mut hyper::body::Incoming) -> String {
    let frame = timeout(Duration::from_secs(5), events.frame())
        .await
        .expect("an event in time");
    let data = frame.unwrap().unwrap().into_data().unwrap();
    String::from_utf8(data.to_vec()).unwrap()
}

/// Many streams at once on one connection all get their answer.
#[tokio::test]
async fn a_hundred_streams_at_once_on_one_connection() {
    let stack = Stack::new("[app.main]\nuse = \"echo\"\n");
    let server = stack.serve();
    let tcp = TcpStream::connect(server.addr()).await.unwrap();
    let (sender, connection) = http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
        .await
        .unwrap();
    tokio::spawn(connection);
    let mut tasks = Vec::new();
    for i in 0..100 {
        let mut sender = sender.clone();
        let url = server.url(&format!("/stream/{i}"));
        tasks.push(tokio::spawn(async move {
            let request = http::Request::get(url).body(Empty::<Bytes>::new()).unwrap();
            let response = sender.send_request(request).await.unwrap();
            let body = response.into_body().collect().await.unwrap().to_bytes();
            let echo: serde_json::Value = serde_json::from_slice(&body).unwrap();
            echo["path_info"].as_str().unwrap().to_owned()
        }));
    }
    for (i, task) in tasks.into_iter().enumerate() {
        let path = timeout(Duration::from_secs(10), task)
            .await
            .expect("every stream answered")
            .unwrap();
        assert_eq!(path, format!("/stream/{i}"));
    }
}
