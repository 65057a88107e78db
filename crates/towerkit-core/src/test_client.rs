//! An in-process client for testing any service, after `paste.fixture`.
//!
//! It builds real [`http::Request`]s, calls the service directly (no socket),
//! keeps cookies between requests as a browser would, encodes forms, and can
//! follow redirects.
//!
//! ```
//! use towerkit_core::{app::Echo, TestClient};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let mut client = TestClient::new(Echo);
//! let res = client.get("/hello?x=1").header("x-trace", "7").send().await.unwrap();
//! assert_eq!(res.status(), 200);
//! let environ = res.json();
//! assert_eq!(environ["path_info"], "/hello");
//! assert_eq!(environ["headers"]["x-trace"], "7");
//! # });
//! ```

use std::future::poll_fn;
use std::time::SystemTime;

use bytes::Bytes;
use cookie::Cookie;
use http::header::{HeaderName, HeaderValue, CONTENT_TYPE, COOKIE, HOST, LOCATION, SET_COOKIE};
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use tower_service::Service;

use crate::body::Body;
use crate::environ::ConnectionInfo;
use crate::BoxError;

/// The most redirects followed for one request.
const MAX_REDIRECTS: usize = 10;

/// Calls a service in-process, with a cookie jar kept between requests.
#[derive(Debug)]
pub struct TestClient<S> {
    service: S,
    jar: Vec<StoredCookie>,
    follow_redirects: bool,
    connection: ConnectionInfo,
}

#[derive(Clone, Debug)]
struct StoredCookie {
    name: String,
    value: String,
    path: String,
}

impl<S, B> TestClient<S>
where
    S: Service<Request<Body>, Response = Response<B>> + Clone,
    S::Error: Into<BoxError>,
    B: http_body::Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    /// A client for `service`, not following redirects, connecting from
    /// `127.0.0.1`.
    pub fn new(service: S) -> Self {
        TestClient {
            service,
            jar: Vec::new(),
            follow_redirects: false,
            connection: ConnectionInfo::loopback(),
        }
    }

    /// Follow 301, 302, 303, 307 and 308 answers (at most ten in a row).
    pub fn follow_redirects(mut self, follow: bool) -> Self {
        self.follow_redirects = follow;
        self
    }

    /// The [`ConnectionInfo`] put in every request.
    pub fn connection(mut self, connection: ConnectionInfo) -> Self {
        self.connection = connection;
        self
    }

    /// A `GET` request, to send with [`TestRequest::send`].
    pub fn get(&mut self, uri: &str) -> TestRequest<'_, S> {
        self.request(Method::GET, uri)
    }

    /// A `POST` request.
    pub fn post(&mut self, uri: &str) -> TestRequest<'_, S> {
        self.request(Method::POST, uri)
    }

    /// A request with any method.
    pub fn request(&mut self, method: Method, uri: &str) -> TestRequest<'_, S> {
        TestRequest {
            client: self,
            method,
            uri: uri.to_owned(),
            headers: HeaderMap::new(),
            body: Bytes::new(),
        }
    }

    /// The value of a cookie in the jar (the one with the longest path).
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.jar
            .iter()
            .filter(|c| c.name == name)
            .max_by_key(|c| c.path.len())
            .map(|c| c.value.as_str())
    }

    async fn send_once(
        &mut self,
        method: Method,
        uri: &str,
        headers: &HeaderMap,
        body: Bytes,
    ) -> Result<TestResponse, BoxError> {
        let mut request = Request::builder()
            .method(method)
            .uri(uri)
            .body(Body::from(body))?;
        *request.headers_mut() = headers.clone();
        if !request.headers().contains_key(HOST) {
            request
                .headers_mut()
                .insert(HOST, HeaderValue::from_static("localhost"));
        }
        let path = request.uri().path().to_owned();
        if let Some(cookies) = self.cookie_header(&path) {
            request.headers_mut().insert(COOKIE, cookies);
        }
        request.extensions_mut().insert(self.connection.clone());

        let mut service = self.service.clone();
        poll_fn(|cx| service.poll_ready(cx))
            .await
            .map_err(Into::into)?;
        let response = service.call(request).await.map_err(Into::into)?;
        let (parts, body) = response.into_parts();
        let body = body.collect().await.map_err(Into::into)?.to_bytes();
        self.store_cookies(&parts.headers, &path);
        Ok(TestResponse {
            status: parts.status,
            headers: parts.headers,
            body,
            uri: uri.to_owned(),
        })
    }

    fn cookie_header(&self, path: &str) -> Option<HeaderValue> {
        let mut matching: Vec<&StoredCookie> = self
            .jar
            .iter()
            .filter(|c| path_matches(path, &c.path))
            .collect();
        if matching.is_empty() {
            return None;
        }
        matching.sort_by_key(|c| std::cmp::Reverse(c.path.len()));
        let line = matching
            .iter()
            .map(|c| format!("{}={}", c.name, c.value))
            .collect::<Vec<_>>()
            .join("; ");
        HeaderValue::from_str(&line).ok()
    }

    fn store_cookies(&mut self, headers: &HeaderMap, request_path: &str) {
        for value in headers.get_all(SET_COOKIE) {
            let Some(cookie) = value.to_str().ok().and_then(|v| Cookie::parse(v).ok()) else {
                continue;
            };
            let path = cookie
                .path()
                .filter(|p| p.starts_with('/'))
                .map_or_else(|| default_path(request_path), str::to_owned);
            self.jar
                .retain(|c| !(c.name == cookie.name() && c.path == path));
            let expired = cookie
                .max_age()
                .is_some_and(|age| age.is_zero() || age.is_negative())
                || cookie
                    .expires_datetime()
                    .is_some_and(|at| SystemTime::from(at) <= SystemTime::now());
            if !expired {
                self.jar.push(StoredCookie {
                    name: cookie.name().to_owned(),
                    value: cookie.value().to_owned(),
                    path,
                });
            }
        }
    }
}

/// RFC 6265 §5.1.4 path matching.
fn path_matches(request_path: &str, cookie_path: &str) -> bool {
    request_path == cookie_path
        || (request_path.starts_with(cookie_path)
            && (cookie_path.ends_with('/')
                || request_path.as_bytes().get(cookie_path.len()) == Some(&b'/')))
}

/// RFC 6265 §5.1.4 default path: the request path up to its last `/`.
fn default_path(request_path: &str) -> String {
    match request_path.rfind('/') {
        Some(0) | None => "/".to_owned(),
        Some(i) => request_path[..i].to_owned(),
    }
}

/// A request being built by a [`TestClient`].
#[derive(Debug)]
pub struct TestRequest<'a, S> {
    client: &'a mut TestClient<S>,
    method: Method,
    uri: String,
    headers: HeaderMap,
    body: Bytes,
}

impl<S, B> TestRequest<'_, S>
where
    S: Service<Request<Body>, Response = Response<B>> + Clone,
    S::Error: Into<BoxError>,
    B: http_body::Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    /// Adds a header. Panics on a name or value that is not valid in HTTP:
    /// this is test code, and such a test is wrong.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        let name = HeaderName::try_from(name).expect("valid header name");
        let value = HeaderValue::try_from(value).expect("valid header value");
        self.headers.append(name, value);
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    /// Sets an `application/x-www-form-urlencoded` body.
    pub fn form(mut self, fields: &[(&str, &str)]) -> Self {
        let encoded = fields
            .iter()
            .map(|(k, v)| {
                format!(
                    "{}={}",
                    utf8_percent_encode(k, NON_ALPHANUMERIC),
                    utf8_percent_encode(v, NON_ALPHANUMERIC)
                )
            })
            .collect::<Vec<_>>()
            .join("&");
        self.headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        self.body = encoded.into();
        self
    }

    /// Sends the request, following redirects when the client does, and
    /// reads the whole response. Errors are those of the service or body.
    pub async fn send(self) -> Result<TestResponse, BoxError> {
        let TestRequest {
            client,
            mut method,
            mut uri,
            mut headers,
            mut body,
        } = self;
        let mut response = client
            .send_once(method.clone(), &uri, &headers, body.clone())
            .await?;
        let mut redirects = 0;
        while client.follow_redirects && response.status.is_redirection() {
            let Some(location) = response.header(LOCATION.as_str()) else {
                break;
            };
            redirects += 1;
            if redirects > MAX_REDIRECTS {
                return Err(format!("more than {MAX_REDIRECTS} redirects").into());
            }
            uri = resolve(&uri, location);
            if !matches!(
                response.status,
                StatusCode::TEMPORARY_REDIRECT | StatusCode::PERMANENT_REDIRECT
            ) {
                method = Method::GET;
                body = Bytes::new();
                headers.remove(CONTENT_TYPE);
            }
            response = client
                .send_once(method.clone(), &uri, &headers, body.clone())
                .await?;
        }
        Ok(response)
    }
}

/// Resolves a `Location` against the URI it answered, to an origin-form URI.
fn resolve(base: &str, location: &str) -> String {
    if let Some(rest) = location
        .strip_prefix("http://")
        .or_else(|| location.strip_prefix("https://"))
    {
        return match rest.find('/') {
            Some(i) => rest[i..].to_owned(),
            None => "/".to_owned(),
        };
    }
    if location.starts_with('/') {
        return location.to_owned();
    }
    let base_path = base.split('?').next().unwrap_or("/");
    let dir = &base_path[..base_path.rfind('/').map_or(0, |i| i + 1)];
    format!("{dir}{location}")
}

/// A whole response, as a [`TestClient`] read it.
#[derive(Clone, Debug)]
pub struct TestResponse {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
    uri: String,
}

impl TestResponse {
    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// A header's value as text, if present and text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body.
    pub fn bytes(&self) -> &Bytes {
        &self.body
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON; `Value::Null` when it is not JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// The URI finally answered, after redirects.
    pub fn uri(&self) -> &str {
        &self.uri
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handler::handler;
    use crate::HttpException;

    fn app() -> impl Service<Request<Body>, Response = Response<Body>, Error = BoxError> + Clone {
        handler(|req: Request<Body>| async move {
            let cookie = req
                .headers()
                .get(COOKIE)
                .map(|c| c.to_str().unwrap_or("").to_owned())
                .unwrap_or_default();
            let response = match req.uri().path() {
                "/set" => Response::builder()
                    .header(SET_COOKIE, "sid=abc; Path=/; HttpOnly")
                    .header(SET_COOKIE, "deep=1; Path=/only/here")
                    .body(Body::empty())?,
                "/clear" => Response::builder()
                    .header(SET_COOKIE, "sid=; Path=/; Max-Age=0")
                    .body(Body::empty())?,
                "/old" => HttpException::moved_permanently("/new?x=1").into(),
                "/post-here" => HttpException::see_other("show").into(),
                "/loop" => HttpException::found("/loop").into(),
                "/fail" => return Err::<_, BoxError>(HttpException::gone().into()),
                _ => Response::new(Body::from(format!(
                    "{} {} cookie={cookie}",
                    req.method(),
                    req.uri()
                ))),
            };
            Ok::<_, BoxError>(response)
        })
    }

    #[tokio::test]
    async fn cookie_jar_keeps_sends_and_clears_cookies() {
        let mut client = TestClient::new(app());
        client.get("/set").send().await.unwrap();
        assert_eq!(client.cookie("sid"), Some("abc"));
        let res = client.get("/page").send().await.unwrap();
        assert_eq!(res.text(), "GET /page cookie=sid=abc");
        let res = client.get("/only/here/x").send().await.unwrap();
        assert_eq!(res.text(), "GET /only/here/x cookie=deep=1; sid=abc");
        client.get("/clear").send().await.unwrap();
        assert_eq!(client.cookie("sid"), None);
    }

    #[tokio::test]
    async fn redirects_are_followed_when_asked() {
        let mut client = TestClient::new(app());
        let res = client.get("/old").send().await.unwrap();
        assert_eq!(res.status(), StatusCode::MOVED_PERMANENTLY);
        let mut client = client.follow_redirects(true);
        let res = client.get("/old").send().await.unwrap();
        assert_eq!(res.text(), "GET /new?x=1 cookie=");
        let res = client
            .post("/post-here")
            .form(&[("a", "b c")])
            .send()
            .await
            .unwrap();
        assert_eq!(res.text(), "GET /show cookie=");
        assert_eq!(res.uri(), "/show");
        assert!(client.get("/loop").send().await.is_err());
    }

    #[tokio::test]
    async fn service_errors_are_returned() {
        let mut client = TestClient::new(app());
        let err = client.get("/fail").send().await.unwrap_err();
        assert_eq!(
            err.downcast_ref::<HttpException>()
                .map(HttpException::status),
            Some(StatusCode::GONE)
        );
    }

    #[test]
    fn resolution_and_paths() {
        assert_eq!(resolve("/a/b?q", "c"), "/a/c");
        assert_eq!(resolve("/a/b", "http://h:1/x?y"), "/x?y");
        assert!(path_matches("/a/b", "/a"));
        assert!(!path_matches("/ab", "/a"));
        assert_eq!(default_path("/a/b"), "/a");
    }
}
