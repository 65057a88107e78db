//! The layer, its service and its future.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use cookie::{Cookie, SameSite};
use http::header::{HeaderValue, ACCEPT, COOKIE, SET_COOKIE, VARY};
use http::{HeaderMap, Request, Response};
use tower_layer::Layer;
use tower_service::Service;
use towerkit_core::header::lists_token;
use towerkit_core::kept::KeptBytes;
use towerkit_core::session::SessionFactory;
use towerkit_core::{Body, BoxError, ConnectionInfo, Format, ScriptName};

use crate::health::Health;
use crate::lazy::{Commit, LazySession};
use crate::record::Expiry;
use crate::store::SessionStore;
use crate::SessionError;

/// The cookie's name unless set.
pub const DEFAULT_COOKIE_NAME: &str = "towerkit_session";

/// Puts a lazy [`SessionFactory`] in every request. See the
/// [crate documentation](crate).
#[derive(Clone)]
#[must_use]
pub struct SessionLayer {
    config: Arc<Config>,
}

#[derive(Clone)]
pub(crate) struct Config {
    pub(crate) store: Arc<dyn SessionStore>,
    pub(crate) cookie_name: String,
    same_site: SameSite,
    secure: Option<bool>,
    pub(crate) expiry: Expiry,
    /// Whether the store answers, as this layer's requests find it.
    pub(crate) health: Arc<Health>,
}

impl std::fmt::Debug for SessionLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionLayer")
            .field("cookie_name", &self.config.cookie_name)
            .field("same_site", &self.config.same_site)
            .field("secure", &self.config.secure)
            .field("expiry", &self.config.expiry)
            .finish()
    }
}

impl SessionLayer {
    /// Sessions kept in `store`, in a cookie named `towerkit_session`,
    /// `HttpOnly`, `SameSite=Lax`, `Secure` on https, for 12 hours.
    pub fn new(store: impl SessionStore) -> Self {
        SessionLayer::with_store(Arc::new(store))
    }

    /// Like [`new`](Self::new), with a store that is already shared.
    pub fn with_store(store: Arc<dyn SessionStore>) -> Self {
        SessionLayer {
            config: Arc::new(Config {
                store,
                cookie_name: DEFAULT_COOKIE_NAME.to_owned(),
                same_site: SameSite::Lax,
                secure: None,
                expiry: Expiry::default(),
                health: Arc::default(),
            }),
        }
    }

    fn config(&mut self) -> &mut Config {
        Arc::make_mut(&mut self.config)
    }

    /// The cookie's name: a token (letters, digits and
    /// ``!#$%&'*+-.^_`|~``), else [`SessionError::InvalidCookieName`].
    ///
    /// ```
    /// use towerkit_session::{MemoryStore, SessionError, SessionLayer};
    ///
    /// let layer = SessionLayer::new(MemoryStore::default());
    /// assert!(layer.clone().cookie_name("sid").is_ok());
    /// assert!(matches!(layer.cookie_name("a;b"), Err(SessionError::InvalidCookieName(_))));
    /// ```
    pub fn cookie_name(mut self, name: &str) -> Result<Self, SessionError> {
        if !crate::error::is_cookie_name(name) {
            return Err(SessionError::InvalidCookieName(name.to_owned()));
        }
        self.config().cookie_name = name.to_owned();
        Ok(self)
    }

    /// `SameSite` (default `Lax`, which keeps OAuth-style redirects back
    /// working; `None` needs `secure(true)`).
    pub fn same_site(mut self, same_site: SameSite) -> Self {
        self.config().same_site = same_site;
        self
    }

    /// `Secure` always (`true`) or never (`false`); by default, when the
    /// request's scheme is https (after a proxy fix).
    pub fn secure(mut self, secure: bool) -> Self {
        self.config().secure = Some(secure);
        self
    }

    /// The absolute lifetime of a session (default 12 hours).
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.config().expiry.max_age = max_age;
        self
    }

    /// The inactivity timeout: a session unused this long ends. Reads
    /// refresh it too (at most once per tenth of the timeout).
    pub fn idle_timeout(mut self, idle: Duration) -> Self {
        self.config().expiry.idle_timeout = Some(idle);
        self
    }
}

impl<S> Layer<S> for SessionLayer {
    type Service = Session<S>;

    fn layer(&self, inner: S) -> Session<S> {
        Session {
            inner,
            config: self.config.clone(),
        }
    }
}

/// The service of [`SessionLayer`].
#[derive(Clone)]
pub struct Session<S> {
    inner: S,
    config: Arc<Config>,
}

impl<S> std::fmt::Debug for Session<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("cookie_name", &self.config.cookie_name)
            .finish_non_exhaustive()
    }
}

impl<S> Session<S> {
    /// Sessions kept in `store` for `inner`, with the defaults of
    /// [`SessionLayer::new`].
    pub fn new(inner: S, store: impl SessionStore) -> Self {
        SessionLayer::new(store).layer(inner)
    }

    /// The layer that makes this service: [`SessionLayer::new`].
    pub fn layer(store: impl SessionStore) -> SessionLayer {
        SessionLayer::new(store)
    }

    towerkit_core::inner_service_accessors!();
}

/// The session cookie among a request's `Cookie` headers, if any.
pub(crate) fn cookie_value<'a>(
    headers: impl IntoIterator<Item = &'a HeaderValue>,
    name: &str,
) -> Option<String> {
    towerkit_core::header::cookie(headers, name)
        .filter(|value| !value.is_empty())
        .map(str::to_owned)
}

/// What the cookie is sent with: the same for setting and removing it.
struct Attributes {
    path: String,
    secure: bool,
}

impl Config {
    fn cookie(&self, attributes: &Attributes, commit: Commit) -> Option<HeaderValue> {
        let mut cookie = match commit {
            Commit::Nothing => return None,
            Commit::Set(value, seconds) => {
                let mut cookie = Cookie::new(self.cookie_name.clone(), value);
                cookie.set_max_age(cookie::time::Duration::seconds(seconds as i64));
                cookie
            }
            Commit::Remove => {
                let mut cookie = Cookie::new(self.cookie_name.clone(), "");
                cookie.make_removal();
                cookie
            }
        };
        let path = if attributes.path.is_empty() {
            "/"
        } else {
            attributes.path.as_str()
        };
        cookie.set_path(path.to_owned());
        cookie.set_http_only(true);
        cookie.set_same_site(self.same_site);
        cookie.set_secure(attributes.secure);
        HeaderValue::from_str(&cookie.to_string()).ok()
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for Session<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        // Only what is cheap to keep is kept here, and as copies (see
        // `towerkit_core::kept`): the session cookie's value, if any, then
        // the rest is worked out when (if) the session is used.
        let cookie = cookie_value(req.headers().get_all(COOKIE), &self.config.cookie_name);
        let attributes = Attributes {
            path: ScriptName::of(&req).to_owned(),
            secure: self.config.secure.unwrap_or_else(|| {
                req.extensions()
                    .get::<ConnectionInfo>()
                    .is_some_and(ConnectionInfo::is_https)
            }),
        };
        let accept = KeptBytes::header(&req, ACCEPT);
        let session = Arc::new(LazySession::new(self.config.clone(), cookie));
        req.extensions_mut()
            .insert(SessionFactory::new(session.clone()));
        ResponseFuture {
            state: State::Inner {
                future: self.inner.call(req),
            },
            session: Some(session),
            attributes: Some(attributes),
            accept,
            config: self.config.clone(),
        }
    }
}

type Committing = Pin<Box<dyn Future<Output = Response<Body>> + Send>>;

pin_project_lite::pin_project! {
    /// The future of [`Session`]: the inner response, then, only if
    /// the session was touched, the commit.
    pub struct ResponseFuture<F> {
        #[pin]
        state: State<F>,
        session: Option<Arc<LazySession>>,
        attributes: Option<Attributes>,
        accept: KeptBytes,
        config: Arc<Config>,
    }
}

pin_project_lite::pin_project! {
    #[project = StateProj]
    enum State<F> {
        Inner { #[pin] future: F },
        Committing { future: Committing },
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Output = Result<Response<Body>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Inner { future } => {
                    let response = std::task::ready!(future.poll(cx))?;
                    let response = response.map(Body::new);
                    let (Some(session), Some(attributes)) =
                        (this.session.take(), this.attributes.take())
                    else {
                        return Poll::Ready(Ok(response));
                    };
                    if !session.touched() {
                        // Never used: no store I/O, no cookie.
                        return Poll::Ready(Ok(response));
                    }
                    let config = this.config.clone();
                    let format = Format::negotiate_bytes(this.accept.as_bytes());
                    this.state.set(State::Committing {
                        future: Box::pin(async move {
                            let mut response = match session.commit().await {
                                Ok(commit) => {
                                    let mut response = response;
                                    if let Some(cookie) = config.cookie(&attributes, commit) {
                                        response.headers_mut().append(SET_COOKIE, cookie);
                                    }
                                    response
                                }
                                Err(exception) => exception.to_response(format),
                            };
                            // The session was read: the answer depends on
                            // the cookie the request came with.
                            vary_on_cookie(response.headers_mut());
                            response
                        }),
                    });
                }
                StateProj::Committing { future } => {
                    return future.as_mut().poll(cx).map(Ok);
                }
            }
        }
    }
}

/// Adds `Cookie` to `Vary` once, merged with the names already there into
/// one header (a layer above that rewrites `Vary` keeps them all).
fn vary_on_cookie(headers: &mut HeaderMap) {
    let values = headers.get_all(VARY);
    if lists_token(values.iter(), "cookie") || lists_token(values.iter(), "*") {
        return;
    }
    let existing: Result<Vec<&str>, _> = values.iter().map(HeaderValue::to_str).collect();
    let merged = existing.ok().and_then(|existing| {
        let mut names: Vec<&str> = existing
            .into_iter()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .collect();
        names.push("cookie");
        HeaderValue::from_str(&names.join(", ")).ok()
    });
    match merged {
        Some(value) => {
            headers.insert(VARY, value);
        }
        // A value that is not text is left as it is, beside ours.
        None => {
            headers.append(VARY, HeaderValue::from_static("cookie"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Record;
    use crate::store::{MemoryStore, StoreError};
    use towerkit_core::session::SessionFactory;
    use towerkit_core::{handler, HttpException, TestClient};

    /// `/count` reads and writes, `/peek` reads, `/login` writes and cycles,
    /// `/logout` destroys, anything else does not touch the session.
    fn app() -> impl Service<Request<Body>, Response = Response<Body>, Error = BoxError> + Clone {
        handler(|req: Request<Body>| async move {
            let session =
                SessionFactory::of(&req).ok_or_else(HttpException::internal_server_error)?;
            let text = match req.uri().path() {
                "/count" => {
                    let n: u64 = session.get("n").await?.unwrap_or(0) + 1;
                    session.insert("n", n).await?;
                    n.to_string()
                }
                "/peek" => session
                    .get::<u64>("n")
                    .await?
                    .map_or("none".into(), |n| n.to_string()),
                "/login" => {
                    session.insert("user", "ada").await?;
                    session.cycle_id().await?;
                    "in".into()
                }
                "/logout" => {
                    session.destroy().await?;
                    "out".into()
                }
                _ => "untouched".into(),
            };
            Ok::<_, BoxError>(Response::new(Body::from(text)))
        })
    }

    fn client(
        layer: SessionLayer,
    ) -> TestClient<
        Session<impl Service<Request<Body>, Response = Response<Body>, Error = BoxError> + Clone>,
    > {
        TestClient::new(layer.layer(app()))
    }

    #[tokio::test]
    async fn untouched_requests_get_no_cookie_and_no_store_write() {
        let store = Arc::new(MemoryStore::default());
        let mut client = client(SessionLayer::with_store(store.clone()));
        let res = client.get("/other").send().await.unwrap();
        assert!(res.header("set-cookie").is_none());
        assert!(store.is_empty());
        // Reading a session that does not exist writes nothing either.
        let res = client.get("/peek").send().await.unwrap();
        assert_eq!(res.text(), "none");
        assert!(res.header("set-cookie").is_none());
        assert!(store.is_empty());
    }

    #[tokio::test]
    async fn put_get_cycle_destroy() {
        let store = Arc::new(MemoryStore::default());
        let mut client = client(SessionLayer::with_store(store.clone()));
        let res = client.get("/count").send().await.unwrap();
        let set = res.header("set-cookie").unwrap().to_owned();
        assert!(set.starts_with("towerkit_session="), "{set}");
        for attribute in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=43200"] {
            assert!(set.contains(attribute), "{attribute} in {set}");
        }
        assert!(!set.contains("Secure"), "plain http: {set}");
        assert_eq!(client.get("/count").send().await.unwrap().text(), "2");
        let first = client.cookie("towerkit_session").unwrap().to_owned();
        assert_eq!(client.get("/login").send().await.unwrap().text(), "in");
        let second = client.cookie("towerkit_session").unwrap().to_owned();
        assert_ne!(first, second, "cycle_id changes the id");
        assert_eq!(
            client.get("/peek").send().await.unwrap().text(),
            "2",
            "same data"
        );
        assert_eq!(store.len(), 1, "the old record is gone");
        let res = client.get("/logout").send().await.unwrap();
        let removal = res.header("set-cookie").unwrap();
        assert!(
            removal.contains("Max-Age=0")
                && removal.contains("HttpOnly")
                && removal.contains("Path=/"),
            "{removal}"
        );
        assert_eq!(client.cookie("towerkit_session"), None);
        assert!(store.is_empty());
    }

    #[tokio::test]
    async fn forged_cookies_are_a_fresh_session() {
        let mut client = client(SessionLayer::new(MemoryStore::default()));
        let res = client
            .get("/count")
            .header("cookie", "towerkit_session=forged-or-stolen-and-expired")
            .send()
            .await
            .unwrap();
        assert_eq!(res.text(), "1");
        let set = res.header("set-cookie").unwrap();
        assert!(!set.contains("forged"), "a new id: {set}");
    }

    #[tokio::test]
    async fn answers_that_read_the_session_vary_on_cookie() {
        let mut client = client(SessionLayer::new(MemoryStore::default()));
        let res = client.get("/other").send().await.unwrap();
        assert_eq!(res.header("vary"), None, "untouched: the same for everyone");
        for path in ["/peek", "/count", "/peek", "/logout"] {
            let res = client.get(path).send().await.unwrap();
            let vary: Vec<_> = res.headers().get_all("vary").iter().collect();
            assert_eq!(vary, ["cookie"], "{path}");
        }
    }

    #[tokio::test]
    async fn cookie_joins_the_vary_the_app_set() {
        let app = handler(|req: Request<Body>| async move {
            let session =
                SessionFactory::of(&req).ok_or_else(HttpException::internal_server_error)?;
            let _: Option<u64> = session.get("n").await?;
            let mut response = Response::new(Body::from("read"));
            let set: &[&'static str] = match req.uri().path() {
                "/encoding" => &["Accept-Encoding"],
                "/two" => &["accept-encoding", "origin"],
                "/already" => &["Accept, Cookie"],
                "/any" => &["*"],
                _ => &[],
            };
            for value in set {
                response
                    .headers_mut()
                    .append(VARY, HeaderValue::from_static(value));
            }
            Ok::<_, BoxError>(response)
        });
        let mut client = TestClient::new(SessionLayer::new(MemoryStore::default()).layer(app));
        for (path, expected) in [
            ("/encoding", &["Accept-Encoding, cookie"][..]),
            ("/two", &["accept-encoding, origin, cookie"]),
            ("/already", &["Accept, Cookie"]),
            ("/any", &["*"]),
        ] {
            let res = client.get(path).send().await.unwrap();
            let vary: Vec<_> = res.headers().get_all("vary").iter().collect();
            assert_eq!(vary, expected, "{path}");
        }
    }

    /// A store that cannot be reached, counting the times it was asked.
    #[derive(Default)]
    struct Down(std::sync::atomic::AtomicUsize);

    impl SessionStore for Down {
        fn load<'a>(&'a self, _key: &'a str) -> crate::store::StoreFuture<'a, Option<Record>> {
            self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Box::pin(async { Err(StoreError::Unavailable("connection refused".into())) })
        }
        fn store<'a>(
            &'a self,
            _key: Option<&'a str>,
            _record: &'a Record,
            _ttl: Duration,
        ) -> crate::store::StoreFuture<'a, String> {
            Box::pin(async { Err(StoreError::Unavailable("connection refused".into())) })
        }
        fn delete<'a>(&'a self, _key: &'a str) -> crate::store::StoreFuture<'a, ()> {
            Box::pin(async { Err(StoreError::Unavailable("connection refused".into())) })
        }
    }

    /// A store that is down is a 503 with `Retry-After` in the format the
    /// client accepts, also when the app goes on without the session (as
    /// if the user were logged out): never an answer for no one.
    #[tokio::test]
    async fn a_store_that_is_down_is_a_503_even_when_the_app_goes_on_without_it() {
        let store = Arc::new(Down::default());
        let app = handler(|req: Request<Body>| async move {
            let session =
                SessionFactory::of(&req).ok_or_else(HttpException::internal_server_error)?;
            // An app that takes an error for "no user", twice.
            let user = session.get::<String>("user").await.ok().flatten();
            let again = session.get::<String>("user").await.ok().flatten();
            let who = user.or(again).unwrap_or_else(|| "anonymous".into());
            Ok::<_, BoxError>(Response::new(Body::from(who)))
        });
        let mut client = TestClient::new(SessionLayer::with_store(store.clone()).layer(app));
        for (accept, content_type) in [
            ("application/json", "application/"),
            ("text/html", "text/html"),
        ] {
            let res = client
                .get("/")
                .header("cookie", "towerkit_session=a-session-of-a-logged-in-user")
                .header("accept", accept)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), http::StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(res.header("retry-after"), Some("5"));
            assert!(
                res.header("content-type")
                    .is_some_and(|t| t.starts_with(content_type)),
                "{accept}: {:?}",
                res.header("content-type")
            );
            assert!(!res.text().contains("anonymous"), "{}", res.text());
            assert!(res.header("set-cookie").is_none(), "the cookie stays");
        }
        // One wait on the store per request, not one per use.
        assert_eq!(store.0.load(std::sync::atomic::Ordering::Relaxed), 2);
        // No cookie, nothing to load: the store is not asked.
        let res = client.get("/").send().await.unwrap();
        assert_eq!(res.text(), "anonymous");
    }

    #[tokio::test]
    async fn secure_on_https_and_path_from_script_name() {
        let mut info = towerkit_core::ConnectionInfo::loopback();
        info.scheme = http::uri::Scheme::HTTPS;
        let mut client = client(SessionLayer::new(MemoryStore::default())).connection(info);
        let res = client.get("/count").send().await.unwrap();
        assert!(res.header("set-cookie").unwrap().contains("Secure"));
    }
}
