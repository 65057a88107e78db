use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Buf;
use http::header::{HeaderValue, CONTENT_TYPE, HOST};
use http::{Request, Response};
use http_body_util::BodyExt;
use serde_json::{json, Map, Value};
use tower_service::Service;

use crate::body::Body;
use crate::environ::{ConnectionInfo, RemoteUser, ScriptName};
use crate::exception::HttpException;
use crate::path::path_info;
use crate::url::{host, url_scheme};

/// An app that answers every request with what an application sees there, as
/// JSON: the WSGI environ dump that tells why a stack behind proxies and
/// mounts behaves as it does.
///
/// Keys: `method`, `script_name`, `path_info`, `query_string`,
/// `remote_addr` (IP only), `remote_port`, `scheme`, `host`, `server_name`,
/// `server_port`, `server_protocol`, `remote_user` and `auth_type` (null
/// when unset), `headers` (lower-case name → value, repeats joined with
/// `", "`), `application_url` and `url` (as the app would build them), and
/// `body_length` (the request body is read and counted, not kept).
#[derive(Clone, Copy, Debug, Default)]
pub struct Echo;

impl<B> Service<Request<B>> for Echo
where
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<crate::BoxError>,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let mut environ = environ(&req);
        let body = req.into_body();
        Box::pin(async move {
            let mut body = std::pin::pin!(body);
            let mut length: u64 = 0;
            while let Some(frame) = body.frame().await {
                match frame {
                    Ok(frame) => {
                        if let Some(data) = frame.data_ref() {
                            length += data.remaining() as u64;
                        }
                    }
                    Err(err) => {
                        // Over the server's limit: 413; cut short: 400.
                        let exception = HttpException::find(&err.into()).unwrap_or_else(|| {
                            HttpException::bad_request()
                                .with_detail("the request body could not be read")
                        });
                        return Ok(exception.into());
                    }
                }
            }
            environ["body_length"] = length.into();
            let mut response = Response::new(Body::from(environ.to_string()));
            response
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            Ok(response)
        })
    }
}

fn environ<B>(req: &Request<B>) -> Value {
    let connection = ConnectionInfo::of(req);
    let scheme = url_scheme(req).to_owned();
    let host_port = host(req);
    let (server_name, server_port) = split_host(&host_port, &scheme);
    let user = req.extensions().get::<RemoteUser>();
    let mut headers = Map::new();
    for (name, value) in req.headers() {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        match headers.get_mut(name.as_str()) {
            Some(Value::String(existing)) => {
                existing.push_str(", ");
                existing.push_str(&value);
            }
            _ => {
                headers.insert(name.as_str().to_owned(), Value::String(value));
            }
        }
    }
    json!({
        "method": req.method().as_str(),
        "script_name": ScriptName::of(req),
        "path_info": path_info(req),
        "query_string": req.uri().query().unwrap_or(""),
        "remote_addr": connection.remote_addr.ip().to_string(),
        "remote_port": connection.remote_addr.port(),
        "scheme": scheme,
        "host": req.headers().get(HOST).map(|h| String::from_utf8_lossy(h.as_bytes()).into_owned()),
        "server_name": server_name,
        "server_port": server_port,
        "server_protocol": format!("{:?}", req.version()),
        "remote_user": user.map(|u| u.name.clone()),
        "auth_type": user.map(|u| u.auth_type.clone()),
        "headers": headers,
        "application_url": crate::url::application_url(req),
        "url": crate::url::construct_url(req, true, true),
        "body_length": 0,
    })
}

/// Splits `host[:port]` (IPv6 in brackets) into name and port, the port
/// defaulting to the scheme's.
fn split_host(host: &str, scheme: &str) -> (String, u16) {
    let default = if scheme == "https" { 443 } else { 80 };
    let (name, port) = match host.rfind(':') {
        Some(i) if !host[i..].contains(']') => (&host[..i], host[i + 1..].parse().ok()),
        _ => (host, None),
    };
    let name = name.trim_start_matches('[').trim_end_matches(']');
    (name.to_owned(), port.unwrap_or(default))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_splitting() {
        assert_eq!(
            split_host("example.com:8080", "http"),
            ("example.com".into(), 8080)
        );
        assert_eq!(
            split_host("example.com", "https"),
            ("example.com".into(), 443)
        );
        assert_eq!(split_host("[::1]:9000", "http"), ("::1".into(), 9000));
        assert_eq!(split_host("[::1]", "http"), ("::1".into(), 80));
    }
}
