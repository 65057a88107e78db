//! The layer, its service, future and body.

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body::{Frame, SizeHint};
use tower_layer::Layer;
use tower_service::Service;
use towerkit_core::{ConnectionInfo, HttpException, OriginalUri, RemoteUser};

use crate::line::Arrival;
use crate::writer::LogWriter;

/// Logs every request that passes through it; see the [crate] docs.
#[derive(Clone, Debug)]
#[must_use]
pub struct AccessLogLayer {
    writer: LogWriter,
}

impl AccessLogLayer {
    /// Logs to `writer`.
    pub fn new(writer: LogWriter) -> Self {
        AccessLogLayer { writer }
    }
}

impl<S> Layer<S> for AccessLogLayer {
    type Service = AccessLog<S>;

    fn layer(&self, inner: S) -> AccessLog<S> {
        AccessLog {
            inner,
            writer: self.writer.clone(),
        }
    }
}

/// The service of [`AccessLogLayer`].
#[derive(Clone, Debug)]
pub struct AccessLog<S> {
    inner: S,
    writer: LogWriter,
}

impl<S> AccessLog<S> {
    /// Logs the requests `inner` answers to `writer`.
    pub fn new(inner: S, writer: LogWriter) -> Self {
        AccessLogLayer::new(writer).layer(inner)
    }

    /// The layer that makes this service: [`AccessLogLayer::new`].
    pub fn layer(writer: LogWriter) -> AccessLogLayer {
        AccessLogLayer::new(writer)
    }

    towerkit_core::inner_service_accessors!();
}

impl<S, B, ResB> Service<Request<B>> for AccessLog<S>
where
    S: Service<Request<B>, Response = Response<ResB>>,
    S::Error: 'static,
    ResB: http_body::Body<Data = Bytes>,
{
    type Response = Response<LoggedBody<ResB>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        // The target as the client sent it, even below a mount.
        let uri = req
            .extensions()
            .get::<OriginalUri>()
            .map_or(req.uri(), |original| &original.0);
        let arrival = Arrival::new(req.method(), uri, req.version(), req.headers());
        let seen = Seen {
            host: towerkit_core::client_addr(&req).map(|addr| addr.ip()),
            user: req
                .extensions()
                .get::<RemoteUser>()
                .map(|user| user.name.clone()),
        };
        ResponseFuture {
            inner: self.inner.call(req),
            entry: Some(Entry {
                arrival,
                seen,
                writer: self.writer.clone(),
            }),
        }
    }
}

/// Who the client was, as far as the log has seen.
struct Seen {
    host: Option<IpAddr>,
    user: Option<String>,
}

/// A line waiting for its response to be done with.
struct Entry {
    arrival: Arrival,
    seen: Seen,
    writer: LogWriter,
}

impl Entry {
    fn write(self, status: StatusCode, bytes: u64) {
        let line = self
            .arrival
            .line(self.seen.host, self.seen.user.as_deref(), status, bytes);
        self.writer.write_line(line);
    }
}

pin_project_lite::pin_project! {
    /// The future of [`AccessLog`].
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        entry: Option<Entry>,
    }
}

impl<F, ResB, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<ResB>, E>>,
    E: 'static,
    ResB: http_body::Body<Data = Bytes>,
{
    type Output = Result<Response<LoggedBody<ResB>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = std::task::ready!(this.inner.poll(cx));
        let Some(mut entry) = this.entry.take() else {
            return Poll::Pending;
        };
        match result {
            Ok(response) => {
                // What the layers below found out, reported on the response.
                if let Some(info) = response.extensions().get::<ConnectionInfo>() {
                    entry.seen.host = Some(info.remote_addr.ip());
                }
                if let Some(user) = response.extensions().get::<RemoteUser>() {
                    entry.seen.user = Some(user.name.clone());
                }
                let status = response.status();
                Poll::Ready(Ok(response.map(|inner| LoggedBody {
                    inner,
                    status,
                    bytes: 0,
                    entry: Some(entry),
                })))
            }
            Err(err) => {
                // Rendered by a layer above or the server, with this status.
                let status = HttpException::find_in(&err)
                    .map_or(StatusCode::INTERNAL_SERVER_ERROR, |e| e.status());
                entry.write(status, 0);
                Poll::Ready(Err(err))
            }
        }
    }
}

pin_project_lite::pin_project! {
    /// A response body that counts the bytes it yields and writes the log
    /// line when dropped.
    pub struct LoggedBody<B> {
        #[pin]
        inner: B,
        status: StatusCode,
        bytes: u64,
        entry: Option<Entry>,
    }

    impl<B> PinnedDrop for LoggedBody<B> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let Some(entry) = this.entry.take() {
                entry.write(*this.status, *this.bytes);
            }
        }
    }
}

impl<B: http_body::Body<Data = Bytes>> http_body::Body for LoggedBody<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = self.project();
        let frame = std::task::ready!(this.inner.poll_frame(cx));
        if let Some(Ok(frame)) = &frame {
            if let Some(data) = frame.data_ref() {
                *this.bytes += data.len() as u64;
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use towerkit_core::app::Text;
    use towerkit_core::{BoxError, TestClient};

    #[tokio::test]
    async fn logs_status_bytes_and_the_user_reported_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("access.log");
        let app = towerkit_core::handler(|_req: Request<towerkit_core::Body>| async {
            let mut response = Response::new(towerkit_core::Body::from("hello"));
            response.extensions_mut().insert(RemoteUser {
                name: "alice".into(),
                auth_type: "Basic".into(),
            });
            Ok::<_, BoxError>(response)
        });
        let app = AccessLogLayer::new(LogWriter::file(&path).unwrap()).layer(app);
        let mut client = TestClient::new(app);
        let _ = client
            .get("/x?y=1")
            .header("user-agent", "test/1")
            .send()
            .await;
        let log = std::fs::read_to_string(&path).unwrap();
        assert!(
            log.ends_with("\"GET /x?y=1 HTTP/1.1\" 200 5 \"-\" \"test/1\"\n"),
            "{log}"
        );
        assert!(log.contains(" - alice ["), "{log}");

        let app = AccessLogLayer::new(LogWriter::file(&path).unwrap()).layer(Text::new(""));
        let _ = TestClient::new(app).get("/").send().await;
        let log = std::fs::read_to_string(&path).unwrap();
        assert!(
            log.lines().nth(1).unwrap().contains("\" 200 - \"-\" \"-\""),
            "{log}"
        );
    }
}
