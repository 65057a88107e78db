//! What the gzip benchmarks share: the JSON, the app, the timing. Included
//! by path in `gzip_compare.rs` and in the tower-http peer.

use std::convert::Infallible;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response};
use http_body::Frame;
use http_body_util::{Full, StreamBody};
use tower::Service;

/// The request and response body type of the app.
pub type AppBody = http_body_util::combinators::UnsyncBoxBody<Bytes, Infallible>;

pub fn json(bytes: usize) -> Bytes {
    let mut out = String::from("[");
    let mut i = 0u64;
    while out.len() < bytes {
        out.push_str(&format!(
            "{{\"id\":{i},\"name\":\"sensor {}\",\"room\":\"{}\",\"value\":{}.{},\"ok\":{}}},",
            i % 97,
            ["kitchen", "hall", "garage", "attic"][(i % 4) as usize],
            (i * 7919) % 1000,
            i % 10,
            !i.is_multiple_of(3)
        ));
        i += 1;
    }
    out.truncate(bytes - 1);
    out.push(']');
    Bytes::from(out)
}

#[derive(Clone, Copy)]
pub enum Shape {
    /// One 1 MB frame.
    Whole,
    /// 1,000 frames of 1 KB, all ready.
    Frames,
}

pub fn app<B>(
    shape: Shape,
    data: Bytes,
) -> impl Service<Request<B>, Response = Response<AppBody>, Error = Infallible, Future = impl Send> + Clone
{
    use http_body_util::BodyExt;
    tower::service_fn(move |_req: Request<B>| {
        let data = data.clone();
        async move {
            let body = match shape {
                Shape::Whole => Full::new(data).boxed_unsync(),
                Shape::Frames => {
                    let frames: Vec<Result<Frame<Bytes>, Infallible>> = (0..data.len() / 1024)
                        .map(|i| Ok(Frame::data(data.slice(i * 1024..(i + 1) * 1024))))
                        .collect();
                    StreamBody::new(futures_util::stream::iter(frames)).boxed_unsync()
                }
            };
            let mut response = Response::new(body);
            response.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/json"),
            );
            Ok(response)
        }
    })
}

pub fn request<B: Default>() -> Request<B> {
    Request::get("/")
        .header("accept-encoding", "gzip")
        .body(B::default())
        .unwrap_or_default()
}

/// Runs `once` until `budget` is spent (at least 5 times), returns the best
/// time of one run and the output size.
pub async fn measure<F, Fut>(budget: Duration, mut once: F) -> (Duration, usize)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<usize, Box<dyn std::error::Error + Send + Sync>>>,
{
    let started = Instant::now();
    let mut best = Duration::MAX;
    let mut size = 0;
    let mut runs = 0;
    while runs < 5 || started.elapsed() < budget {
        let t = Instant::now();
        size = once().await.unwrap_or(0);
        best = best.min(t.elapsed());
        runs += 1;
    }
    (best, size)
}

impl Shape {
    /// A name for the RESULT lines.
    pub fn key(self) -> &'static str {
        match self {
            Shape::Whole => "whole",
            Shape::Frames => "frames",
        }
    }
}

/// MB/s for `bytes` in `time`.
pub fn mbps(bytes: usize, time: Duration) -> f64 {
    bytes as f64 / 1e6 / time.as_secs_f64()
}
