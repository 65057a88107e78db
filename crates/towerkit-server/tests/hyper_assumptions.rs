//! What the server relies on of hyper's internals, one test each, so that a
//! hyper update that changes them fails here rather than in production.
//! hyper's minor version is pinned in the workspace (`~1.12`); moving it
//! means running these first.
//!
//! - **Parking** (`io.rs`): an idle HTTP/1 connection whose socket reports
//!   the end of the stream, after a request head that ended the last read,
//!   ends cleanly: `Ok`, nothing written, nothing held unparsed.
//! - **Pipelined bytes are hyper's**: bytes that arrive while a request is
//!   in flight are read into hyper's buffer (so a connection that read
//!   them must not be parked: they would be lost).
//! - **The read buffer is shared** (`towerkit_core::kept`): a request's
//!   header values and URI are slices of one buffer; a copy
//!   (`KeptBytes`) keeps none of it alive.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn hello(_req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(b"hello"))))
}

/// Reads from `client` until a whole `hello` response has arrived.
async fn read_response(client: &mut tokio::io::DuplexStream) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !got.ends_with(b"hello") {
        let n = tokio::time::timeout(Duration::from_secs(5), client.read(&mut buf))
            .await
            .expect("a response in time")
            .expect("read");
        assert!(
            n > 0,
            "the connection closed early: {:?}",
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&got).into_owned()
}

#[tokio::test]
async fn an_idle_connection_that_sees_the_end_of_the_stream_ends_cleanly() {
    let (mut client, server) = tokio::io::duplex(4096);
    let connection = tokio::spawn(
        http1::Builder::new()
            .keep_alive(true)
            .serve_connection(TokioIo::new(server), service_fn(hello)),
    );
    client
        .write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let response = read_response(&mut client).await;
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    // Idle between requests, the stream ends (as a parked socket reads).
    client.shutdown().await.unwrap();
    let ended = tokio::time::timeout(Duration::from_secs(5), connection)
        .await
        .expect("hyper ends the connection")
        .expect("the task");
    assert!(
        ended.is_ok(),
        "hyper took a clean end as an error: {ended:?}"
    );
    // And wrote nothing more.
    let mut rest = Vec::new();
    client.read_to_end(&mut rest).await.unwrap();
    assert!(rest.is_empty(), "{:?}", String::from_utf8_lossy(&rest));
}

#[tokio::test]
async fn bytes_pipelined_behind_a_request_are_read_into_hyper() {
    let (mut client, server) = tokio::io::duplex(4096);
    let (release, wait) = tokio::sync::oneshot::channel::<()>();
    let wait = Arc::new(Mutex::new(Some(wait)));
    let service = service_fn(move |_req: Request<Incoming>| {
        let wait = wait.lock().unwrap().take();
        async move {
            if let Some(wait) = wait {
                let _ = wait.await;
            }
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"hello"))))
        }
    });
    let connection = tokio::spawn(
        http1::Builder::new()
            .keep_alive(true)
            .serve_connection(TokioIo::new(server), service),
    );
    // Two requests at once: the second arrives while the first is in flight.
    client
        .write_all(b"GET /1 HTTP/1.1\r\nhost: x\r\n\r\nGET /2 HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    release.send(()).unwrap();
    // Both are answered: hyper kept the second request's bytes.
    let first = read_response(&mut client).await;
    let second = if first.matches("hello").count() >= 2 {
        String::new()
    } else {
        read_response(&mut client).await
    };
    let all = first + &second;
    assert_eq!(all.matches("HTTP/1.1 200 OK").count(), 2, "{all}");
    client.shutdown().await.unwrap();
    let _ = connection.await;
}

#[tokio::test]
async fn a_requests_uri_and_headers_share_one_read_buffer() {
    // The URI's path and a header value lie as far apart in memory as in
    // the head that was read only if hyper sliced both from one buffer.
    let (mut client, server) = tokio::io::duplex(4096);
    let seen = Arc::new(Mutex::new(None));
    let seen_by_service = seen.clone();
    let service = service_fn(move |req: Request<Incoming>| {
        let path = req.uri().path().as_ptr() as usize;
        let value = req.headers()["x-probe"].as_bytes().as_ptr() as usize;
        *seen_by_service.lock().unwrap() = Some((path, value));
        async { Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"hello")))) }
    });
    let connection =
        tokio::spawn(http1::Builder::new().serve_connection(TokioIo::new(server), service));
    let head = b"GET /probe HTTP/1.1\r\nhost: x\r\nx-probe: value\r\n\r\n";
    client.write_all(head).await.unwrap();
    read_response(&mut client).await;
    let (path, value) = seen.lock().unwrap().expect("the service ran");
    // `/probe` and `value` are as far apart in memory as in the head.
    let in_head = |needle: &[u8]| {
        head.windows(needle.len())
            .position(|w| w == needle)
            .unwrap()
    };
    assert_eq!(
        value.wrapping_sub(path),
        in_head(b"value") - in_head(b"/probe"),
        "the URI and the header value are not slices of one read buffer"
    );
    client.shutdown().await.unwrap();
    let _ = connection.await;
}
