//! The layer that turns failures into error pages, after
//! `paste.httpexceptions` and `cgitb`.
//!
//! Put [`HttpExceptionsLayer`] at the top of a stack. Below it:
//!
//! - an [`HttpException`](towerkit_core::HttpException) returned as the error
//!   becomes its page, in the format the client's `Accept` prefers (HTML,
//!   `application/problem+json`, plain text);
//! - any other error becomes a 500 that says only "Internal Server Error"
//!   (in debug mode: the error and its causes, and the request line);
//! - a panic in a handler, or in its future, becomes the same 500 (in debug
//!   mode: the panic message and location, after cgitb);
//! - a failure or panic while a response body streams ends that response
//!   cleanly: the connection is closed, nothing hangs.
//!
//! Each failure is logged once through `tracing`, with the method, path and
//! a request id (the client's `X-Request-Id`, or a fresh one, also sent
//! back on the 500). The service's error type is `Infallible`, so it can sit
//! at the top of an axum or hyper stack. [`Templates`] replace the HTML and
//! text pages, those of exceptions rendered further down included.
//!
//! ```
//! use http::{Request, Response};
//! use tower::Layer;
//! use towerkit_core::{handler, Body, HttpException, TestClient};
//! use towerkit_httpexceptions::HttpExceptionsLayer;
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let app = handler(|req: Request<Body>| async move {
//!     match req.uri().path() {
//!         "/" => Ok(Response::new(Body::from("home"))),
//!         "/panic" => panic!("the handler gave up"),
//!         _ => Err(HttpException::not_found().with_detail("no such page")),
//!     }
//! });
//! let mut client = TestClient::new(HttpExceptionsLayer::new().layer(app));
//! let res = client.get("/nope").header("accept", "application/json").send().await.unwrap();
//! assert_eq!(res.status(), 404);
//! assert_eq!(res.json()["detail"], "no such page");
//! let res = client.get("/panic").send().await.unwrap();
//! assert_eq!(res.status(), 500);
//! assert_eq!(res.text(), "500 Internal Server Error\n");
//! # });
//! ```
//!
//! ## In an axum app
//!
//! The layer takes any request body and any response body, and never fails,
//! so it goes straight into `Router::layer`: a handler that panics is
//! answered with a 500 page, and the server goes on.
//!
//! ```no_run
//! use axum::{routing::get, Router};
//! use towerkit_httpexceptions::HttpExceptionsLayer;
//!
//! #[tokio::main]
//! async fn main() -> std::io::Result<()> {
//!     let app = Router::new()
//!         .route("/", get(|| async { "hello" }))
//!         .layer(HttpExceptionsLayer::new());
//!     let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//!     axum::serve(listener, app).await
//! }
//! ```

#![warn(missing_docs)]

mod body;
mod debug;
mod panic;
mod service;
mod templates;

pub use body::GuardedBody;
pub use service::{HttpExceptions, HttpExceptionsLayer, ResponseFuture};
pub use templates::Templates;

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use http::{Request, Response, StatusCode};
    use http_body::Frame;
    use tower::{Layer, ServiceExt};
    use towerkit_core::{handler, Body, BoxError, HttpException, TestClient};

    #[derive(Debug)]
    struct DbError;
    impl std::fmt::Display for DbError {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("connection refused by db.internal:5432")
        }
    }
    impl std::error::Error for DbError {}

    fn app(
    ) -> impl tower_service::Service<Request<Body>, Response = Response<Body>, Error = BoxError> + Clone
    {
        handler(|req: Request<Body>| async move {
            match req.uri().path() {
                "/error" => Err(Box::new(DbError) as BoxError),
                "/panic" => panic!("index out of bounds: <b>7</b>"),
                "/body" => {
                    let frames: Vec<Result<Frame<Bytes>, BoxError>> = vec![
                        Ok(Frame::data(Bytes::from("first "))),
                        Err("the disk went away".into()),
                    ];
                    Ok(Response::new(Body::new(http_body_util::StreamBody::new(
                        futures_util::stream::iter(frames),
                    ))))
                }
                _ => Err(HttpException::not_found().with_detail("<nothing>").into()),
            }
        })
    }

    #[tokio::test]
    async fn errors_are_bare_500s_unless_debug() {
        let mut client = TestClient::new(HttpExceptionsLayer::new().layer(app()));
        let res = client
            .get("/error")
            .header("accept", "text/html")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!res.text().contains("db.internal"));
        assert!(res.header("x-request-id").is_some());

        let mut client = TestClient::new(HttpExceptionsLayer::new().debug(true).layer(app()));
        let res = client
            .get("/panic")
            .header("accept", "text/html")
            .header("x-request-id", "abc-123")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 500);
        let page = res.text();
        assert!(
            page.contains("index out of bounds: &lt;b&gt;7&lt;/b&gt;"),
            "{page}"
        );
        assert!(page.contains("lib.rs:"), "{page}");
        assert!(page.contains("GET /panic HTTP/1.1"), "{page}");
        assert_eq!(res.header("x-request-id"), Some("abc-123"));
        let res = client
            .get("/error")
            .header("accept", "application/json")
            .send()
            .await
            .unwrap();
        assert_eq!(
            res.json()["error"],
            "connection refused by db.internal:5432"
        );
    }

    #[tokio::test]
    async fn templates_apply_to_exceptions() {
        let templates = Templates::new().html("<main>{status}: {reason} ({detail})</main>");
        let mut client =
            TestClient::new(HttpExceptionsLayer::new().templates(templates).layer(app()));
        let res = client
            .get("/x")
            .header("accept", "text/html")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 404);
        assert_eq!(res.text(), "<main>404: Not Found (&lt;nothing&gt;)</main>");
        let res = client.get("/x").send().await.unwrap();
        assert_eq!(res.text(), "404 Not Found\n\n<nothing>\n");
    }

    #[tokio::test]
    async fn a_body_failing_midway_ends_with_an_error() {
        let service = HttpExceptionsLayer::new().layer(app());
        let res = service
            .oneshot(Request::get("/body").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let err = res.into_body().to_bytes().await.unwrap_err();
        assert_eq!(err.to_string(), "the disk went away");
    }

    #[tokio::test]
    async fn works_around_an_axum_router() {
        async fn missing() -> Result<&'static str, AxumException> {
            Err(AxumException(HttpException::gone().with_detail("moved on")))
        }
        struct AxumException(HttpException);
        impl axum::response::IntoResponse for AxumException {
            fn into_response(self) -> axum::response::Response {
                self.0
                    .to_response(towerkit_core::Format::Json)
                    .map(axum::body::Body::new)
            }
        }
        let router = axum::Router::new()
            .route("/", axum::routing::get(|| async { "axum" }))
            .route("/gone", axum::routing::get(missing))
            .route(
                "/panic",
                axum::routing::get(|| async { panic!("axum handler panicked") as &str }),
            );
        let router =
            ServiceExt::<Request<Body>>::map_response(router, |res: axum::response::Response| {
                res.map(Body::new)
            });
        let mut client = TestClient::new(HttpExceptionsLayer::new().layer(router));
        assert_eq!(client.get("/").send().await.unwrap().text(), "axum");
        let res = client.get("/gone").send().await.unwrap();
        assert_eq!(res.status(), 410);
        assert_eq!(res.json()["detail"], "moved on");
        let res = client.get("/panic").send().await.unwrap();
        assert_eq!(res.status(), 500);
    }
}
