//! Server-sent events through towerkit-gzip against the same stream plain.
//!
//! `sse-bench serve [--gzip] [ADDR]`: a towerkit server whose one endpoint
//! streams `EVENTS` events (default 2,000) of about 100 bytes, yielding to
//! the runtime between events so that each one is its own frame (and, with
//! gzip, its own flush), as a live event source would.
//!
//! `sse-bench client URL STREAMS`: opens STREAMS concurrent streams asking
//! for gzip, decompresses what comes gzipped, counts the events and prints
//! `RESULT events N seconds S`.

use std::io::Write;
use std::time::Instant;

use bytes::Bytes;
use http::{Request, Response};
use http_body::Frame;
use http_body_util::{BodyExt, Empty, StreamBody};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tower::Layer;
use towerkit_core::{handler, Body, BoxError};
use towerkit_gzip::GzipLayer;
use towerkit_server::Server;

fn events_per_stream() -> u32 {
    std::env::var("EVENTS")
        .ok()
        .and_then(|e| e.parse().ok())
        .unwrap_or(2000)
}

fn sse_app() -> impl tower::Service<
    Request<Body>,
    Response = Response<Body>,
    Error = BoxError,
    Future = impl Send,
> + Clone
       + Send
       + Sync
       + 'static {
    let count = events_per_stream();
    handler(move |_req: Request<Body>| async move {
        let stream = futures_util::stream::unfold(0u32, move |n| async move {
            if n == count {
                return None;
            }
            tokio::task::yield_now().await;
            let event = format!(
                "id: {n}\nevent: reading\ndata: {{\"sensor\":\"kitchen-{}\",\"value\":{}.{},\"ok\":true}}\n\n",
                n % 16,
                (n * 37) % 100,
                n % 10
            );
            Some((Ok::<_, BoxError>(Frame::data(Bytes::from(event))), n + 1))
        });
        let mut response = Response::new(Body::new(StreamBody::new(stream)));
        response.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("text/event-stream"),
        );
        Ok::<_, BoxError>(response)
    })
}

async fn serve(gzip: bool, addr: &str) -> std::io::Result<()> {
    let addr = addr
        .parse()
        .map_err(|_| std::io::Error::other(format!("not an address: {addr}")))?;
    let server = Server::bind([addr]).await?;
    for addr in server.local_addrs() {
        eprintln!("sse-bench: listening on http://{addr}");
    }
    if gzip {
        server.serve(GzipLayer::new().layer(sse_app())).await
    } else {
        server.serve(sse_app()).await
    }
}

async fn client(url: &str, streams: usize) -> Result<(), BoxError> {
    let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..streams {
        let client = client.clone();
        let uri: http::Uri = url.parse()?;
        tasks.push(tokio::spawn(async move {
            let req = Request::get(uri)
                .header("accept-encoding", "gzip")
                .body(Empty::<Bytes>::new())?;
            let res = client.request(req).await?;
            let gzipped = res
                .headers()
                .get("content-encoding")
                .is_some_and(|v| v == "gzip");
            let mut body = res.into_body();
            let mut decoder = flate2::write::GzDecoder::new(Vec::new());
            let mut events = 0u64;
            let mut tail = Vec::new();
            while let Some(frame) = body.frame().await {
                let Ok(data) = frame?.into_data() else {
                    continue;
                };
                let text: Vec<u8> = if gzipped {
                    decoder.write_all(&data)?;
                    decoder.flush()?;
                    std::mem::take(decoder.get_mut())
                } else {
                    data.to_vec()
                };
                tail.extend_from_slice(&text);
                while let Some(end) = tail.windows(2).position(|w| w == b"\n\n") {
                    events += 1;
                    tail.drain(..end + 2);
                }
            }
            Ok::<u64, BoxError>(events)
        }));
    }
    let mut total = 0;
    for task in tasks {
        total += task.await??;
    }
    let seconds = started.elapsed().as_secs_f64();
    println!("RESULT events {total} seconds {seconds:.3}");
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("serve") => {
            let gzip = args.iter().any(|a| a == "--gzip");
            let addr = args
                .iter()
                .skip(1)
                .find(|a| !a.starts_with("--"))
                .map_or("127.0.0.1:0", String::as_str);
            serve(gzip, addr).await?;
        }
        Some("client") => {
            let url = args.get(1).ok_or("client URL STREAMS")?;
            let streams = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(100);
            client(url, streams).await?;
        }
        _ => eprintln!("usage: sse-bench serve [--gzip] [ADDR] | sse-bench client URL STREAMS"),
    }
    Ok(())
}
