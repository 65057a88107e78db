//! The login layer: who the client is, and the challenge when it must say.

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use http::header::{
    HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE,
};
use http::{Method, Request, Response, StatusCode};
use percent_encoding::{percent_decode_str, utf8_percent_encode, NON_ALPHANUMERIC};
use tower_layer::Layer;
use tower_service::Service;
use towerkit_core::canonical::{canonical_path, canonicalize};
use towerkit_core::kept::KeptBytes;
use towerkit_core::session::SessionFactory;
use towerkit_core::{
    client_addr, escape_html, path_info, Body, BoxError, Format, HttpException, OriginalUri,
    RemoteUser, RetryAfter, ScriptName,
};

use crate::cache::{own_page, private};
use crate::digest::{expected_response, parse_params, NonceCheck, Nonces};
use crate::error::LoginError;
use crate::future::{asks_for_a_user, ResponseFuture};
use crate::state::{LoginState, MemoryState};
use crate::throttle::{Attempt, Refused};
use crate::ticket::{Ticket, TicketDigest, TicketSigner};
use crate::users::Authenticator;

/// The session key the form login keeps the user under.
pub const SESSION_USER: &str = "towerkit.user";

/// Logged (once per layer) when the form login finds no session.
const NO_SESSION_LOG: &str = "the form login keeps the user in a session, and requests reach it with none: \
     no one can log in with the form. Put a session layer before the login layer (outside it): \
     `towerkit_session::SessionLayer`, or in a stack file a filter with use = \"session\" listed \
     before the login filter in the pipeline (or log in with tickets: the ticket method and options)";

/// The detail of the page that answers a login when there is no session.
const NO_SESSION_PAGE: &str = "The server is misconfigured: the login cannot be kept \
     (the form login has no session layer before it). The error is in the server's log.";

/// A way to log in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoginMethod {
    /// RFC 7617.
    Basic,
    /// RFC 7616.
    Digest,
    /// An HTML form, the user kept in the session (or a ticket).
    Form,
    /// An auth_tkt cookie.
    Ticket,
}

/// The shortest ticket secret [`LoginLayer::ticket`] takes, in bytes.
pub const MIN_TICKET_SECRET: usize = 16;

/// `path`, if it is a path starting with `/`.
fn a_path(path: &str) -> Result<String, LoginError> {
    if path.starts_with('/') {
        Ok(path.to_owned())
    } else {
        Err(LoginError::NotAPath(path.to_owned()))
    }
}

/// Whether `name` may name a cookie: a non-empty RFC 6265 token.
fn is_cookie_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// The tokens of a ticket, for apps (`REMOTE_USER_TOKENS`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserTokens(pub Vec<String>);

/// How tickets are made and read.
#[derive(Clone, Debug)]
pub struct TicketOptions {
    /// The secret shared with every app that reads the tickets.
    pub secret: String,
    /// md5, sha256 or sha512.
    pub digest: TicketDigest,
    /// The cookie's name (default `auth_tkt`).
    pub cookie_name: String,
    /// Bind tickets to the client's IPv4 address.
    pub include_ip: bool,
    /// How long a ticket is good (default 2 hours); a ticket past half of
    /// it is reissued.
    pub timeout: Duration,
    /// `Secure` on the cookie.
    pub secure: bool,
    /// `HttpOnly` on the cookie (default on).
    pub http_only: bool,
}

impl TicketOptions {
    /// Tickets signed with `secret`, sha512, in `auth_tkt`, good for 2 hours.
    pub fn new(secret: &str) -> Self {
        TicketOptions {
            secret: secret.to_owned(),
            digest: TicketDigest::Sha512,
            cookie_name: "auth_tkt".to_owned(),
            include_ip: false,
            timeout: Duration::from_secs(2 * 3600),
            secure: false,
            http_only: true,
        }
    }
}

/// What a layer is made of. Cloned only by a builder called on a clone
/// of a layer; the state that requests change (the nonce key and the
/// nonces seen, the throttle, what the log was told) is shared.
#[derive(Clone)]
pub(crate) struct Config {
    users: Arc<dyn Authenticator>,
    methods: Vec<LoginMethod>,
    realm: String,
    protect: Vec<String>,
    login_path: String,
    logout_path: String,
    ticket: Option<(TicketOptions, TicketSigner)>,
    digest_algorithms: Vec<&'static str>,
    nonces: Arc<Nonces>,
    /// The throttle's counts and the nonce counts (`crate::state`).
    state: Arc<dyn LoginState>,
    /// The Redis URL of the state, when it is shared, and its timeout.
    #[cfg(feature = "redis")]
    shared_state: (Option<String>, Duration),
    form: String,
    /// Whether the log was told that the form login has no session.
    told_no_session: Arc<AtomicBool>,
}

/// Logs users in. See the [crate documentation](crate).
///
/// Every builder method works on any layer, a clone too, and changes only
/// the layer it is called on. Clones share the throttle (failures counted
/// by one count for all) and the key of the Digest nonces.
#[derive(Clone)]
#[must_use]
pub struct LoginLayer {
    config: Arc<Config>,
}

/// The login page unless set: `{action}`, `{next}` and `{message}` are
/// filled in (escaped).
pub const DEFAULT_FORM: &str = "<!DOCTYPE html>\n<html>\n<head><meta charset=\"utf-8\"><title>Log in</title></head>\n<body>\n<h1>Log in</h1>\n<p class=\"message\">{message}</p>\n<form method=\"post\" action=\"{action}\">\n<input type=\"hidden\" name=\"next\" value=\"{next}\">\n<p><label>User <input name=\"username\" autocomplete=\"username\"></label></p>\n<p><label>Password <input name=\"password\" type=\"password\" autocomplete=\"current-password\"></label></p>\n<p><button type=\"submit\">Log in</button></p>\n</form>\n</body>\n</html>\n";

impl LoginLayer {
    /// Users from `users`, logging in with `methods`.
    ///
    /// Fails, rather than make a layer whose Digest nonces anyone could
    /// forge, when the operating system gives no randomness for their key.
    pub fn new(users: impl Authenticator, methods: &[LoginMethod]) -> Result<Self, LoginError> {
        LoginLayer::with_users(Arc::new(users), methods)
    }

    /// Like [`new`](Self::new) with shared users.
    pub fn with_users(
        users: Arc<dyn Authenticator>,
        methods: &[LoginMethod],
    ) -> Result<Self, LoginError> {
        LoginLayer::with_randomness(users, methods, getrandom::fill)
    }

    /// [`with_users`](Self::with_users) with the nonce key from `fill`.
    pub(crate) fn with_randomness(
        users: Arc<dyn Authenticator>,
        methods: &[LoginMethod],
        fill: impl FnOnce(&mut [u8]) -> Result<(), getrandom::Error>,
    ) -> Result<Self, LoginError> {
        let nonces = Nonces::new(Duration::from_secs(300), fill)
            .map_err(|err| LoginError::NoRandomness(err.to_string()))?;
        Ok(LoginLayer {
            config: Arc::new(Config {
                users,
                methods: methods.to_vec(),
                realm: "towerkit".to_owned(),
                protect: Vec::new(),
                login_path: "/login".to_owned(),
                logout_path: "/logout".to_owned(),
                ticket: None,
                digest_algorithms: vec!["SHA-256", "MD5"],
                nonces: Arc::new(nonces),
                state: Arc::new(MemoryState::default()),
                #[cfg(feature = "redis")]
                shared_state: (None, crate::state::redis::RedisState::DEFAULT_TIMEOUT),
                form: DEFAULT_FORM.to_owned(),
                told_no_session: Arc::default(),
            }),
        })
    }

    /// The configuration of this layer alone: copied first if a clone
    /// shares it.
    fn config(&mut self) -> &mut Config {
        Arc::make_mut(&mut self.config)
    }

    /// The realm of the challenges.
    pub fn realm(mut self, realm: &str) -> Self {
        self.config().realm = realm.to_owned();
        self
    }

    /// Path prefixes (below the layer's mount) that need a user.
    ///
    /// A prefix protects itself and every path below it, segment by
    /// segment: `/private` protects `/private`, `/private/` and
    /// `/private/a`, not `/privateer`. Prefixes and request paths are
    /// compared in their canonical spelling
    /// ([`towerkit_core::canonical`]): `/%70rivate/`, `//private/` and
    /// `/x/../private/` are all `/private/`, the path every layer after this
    /// one sees, so no other spelling reaches a protected file or mount.
    pub fn protect(mut self, prefixes: Vec<String>) -> Self {
        self.config().protect = prefixes
            .into_iter()
            .map(|prefix| match canonical_path(&prefix) {
                Ok(canonical) => canonical.into_owned(),
                Err(_) => prefix,
            })
            .collect();
        self
    }

    /// Where the form lives (default `/login`): a path starting with `/`,
    /// else [`LoginError::NotAPath`].
    pub fn login_path(mut self, path: &str) -> Result<Self, LoginError> {
        self.config().login_path = a_path(path)?;
        Ok(self)
    }

    /// Where logging out is (default `/logout`): a path starting with `/`,
    /// else [`LoginError::NotAPath`].
    pub fn logout_path(mut self, path: &str) -> Result<Self, LoginError> {
        self.config().logout_path = a_path(path)?;
        Ok(self)
    }

    /// Reads and issues tickets. The secret must be at least
    /// [`MIN_TICKET_SECRET`] bytes ([`LoginError::TicketSecretTooShort`]),
    /// the cookie's name a token ([`LoginError::InvalidCookieName`]).
    ///
    /// ```
    /// use towerkit_login::{HtpasswdFile, LoginError, LoginLayer, LoginMethod, TicketOptions};
    /// # struct Nobody;
    /// # impl towerkit_login::Authenticator for Nobody {
    /// #     fn check(&self, _: &str, _: &str) -> towerkit_core::recursive::BoxFuture<bool> {
    /// #         Box::pin(async { false })
    /// #     }
    /// # }
    /// let layer = LoginLayer::new(Nobody, &[LoginMethod::Ticket]).unwrap();
    /// let short = layer.ticket(TicketOptions::new("short"));
    /// assert_eq!(short.map(|_| ()), Err(LoginError::TicketSecretTooShort(5)));
    /// ```
    pub fn ticket(mut self, options: TicketOptions) -> Result<Self, LoginError> {
        if options.secret.len() < MIN_TICKET_SECRET {
            return Err(LoginError::TicketSecretTooShort(options.secret.len()));
        }
        if !is_cookie_name(&options.cookie_name) {
            return Err(LoginError::InvalidCookieName(options.cookie_name));
        }
        let signer = TicketSigner::new(&options.secret, options.digest);
        self.config().ticket = Some((options, signer));
        Ok(self)
    }

    /// The Digest algorithms offered, in order (default SHA-256, MD5).
    pub fn digest_algorithms(mut self, algorithms: Vec<&'static str>) -> Self {
        self.config().digest_algorithms = algorithms;
        self
    }

    /// The login page's template.
    pub fn form_template(mut self, template: &str) -> Self {
        self.config().form = template.to_owned();
        self
    }

    /// A secret shared by every instance of the site (at least 32 bytes,
    /// the same everywhere): the key of the Digest nonces is derived from
    /// it, so that a challenge issued by one instance is answered at
    /// another without a new prompt. Without it the key is random, per
    /// process. Give the instances a shared [`state`](Self::state) too, or
    /// an `nc` used at one could be used again at another.
    pub fn secret(mut self, secret: &str) -> Result<Self, LoginError> {
        if secret.len() < 32 {
            return Err(LoginError::ShortSecret(secret.len()));
        }
        let keyed = self.config.nonces.keyed(secret.as_bytes());
        self.config().nonces = Arc::new(keyed);
        Ok(self)
    }

    /// Keeps the throttle's counts and the Digest nonce counts in the
    /// Redis at `url` (`redis://127.0.0.1:6379/0`), shared by every
    /// instance that names it, rather than in this process: failures at
    /// any instance count against the same budgets, and an `nc` used at
    /// one is refused at the others. No connection is made yet. A Redis
    /// that does not answer within [`state_timeout`](Self::state_timeout)
    /// gets the request a 503 with `Retry-After: 5`.
    #[cfg(feature = "redis")]
    pub fn state(mut self, url: &str) -> Result<Self, LoginError> {
        let timeout = self.config.shared_state.1;
        let state =
            crate::state::redis::RedisState::new(url, timeout).map_err(LoginError::StateUrl)?;
        let config = self.config();
        config.state = Arc::new(state);
        config.shared_state.0 = Some(url.to_owned());
        Ok(self)
    }

    /// Whether the layer's state can be used now: a shared state (`state`,
    /// feature `redis`) answers a `PING` within its timeout, one kept
    /// in this process always can. For a health check (`use = "health"`
    /// asks it of a login filter with a shared state); an error says why
    /// not.
    pub fn ready(&self) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + '_>> {
        Box::pin(async move {
            self.config
                .state
                .ready()
                .await
                .map_err(|err| err.to_string())
        })
    }

    /// How long each operation on the shared [`state`](Self::state) has,
    /// connecting included, before the request is answered 503: default 2
    /// seconds, at least a millisecond.
    #[cfg(feature = "redis")]
    pub fn state_timeout(mut self, timeout: Duration) -> Self {
        let timeout = timeout.max(Duration::from_millis(1));
        let config = self.config();
        config.shared_state.1 = timeout;
        if let Some(url) = &config.shared_state.0 {
            // The URL was taken before: it still parses.
            if let Ok(state) = crate::state::redis::RedisState::new(url, timeout) {
                config.state = Arc::new(state);
            }
        }
        self
    }
}

impl<S> Layer<S> for LoginLayer {
    type Service = Login<S>;

    fn layer(&self, inner: S) -> Login<S> {
        Login {
            inner,
            config: self.config.clone(),
        }
    }
}

/// The service of [`LoginLayer`].
#[derive(Clone)]
pub struct Login<S> {
    inner: S,
    config: Arc<Config>,
}

impl<S> std::fmt::Debug for Login<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Login").finish_non_exhaustive()
    }
}

impl<S> Login<S> {
    /// Users from `users` log in to `inner` with `methods`; see
    /// [`LoginLayer::new`], which this is with the layer's defaults.
    pub fn new(
        inner: S,
        users: impl Authenticator,
        methods: &[LoginMethod],
    ) -> Result<Self, LoginError> {
        Ok(LoginLayer::new(users, methods)?.layer(inner))
    }

    /// The layer that makes this service: [`LoginLayer::new`].
    pub fn layer(
        users: impl Authenticator,
        methods: &[LoginMethod],
    ) -> Result<LoginLayer, LoginError> {
        LoginLayer::new(users, methods)
    }

    towerkit_core::inner_service_accessors!();
}

/// Only a same-origin path: no scheme, no `//host`, no backslash.
pub fn safe_next(next: &str) -> Option<&str> {
    let safe = next.starts_with('/')
        && !next.starts_with("//")
        && !next.contains('\\')
        && !next.bytes().any(|b| b.is_ascii_control());
    safe.then_some(next)
}

/// The user and password of `Basic` credentials (RFC 7617): base64 of
/// UTF-8 `user:password`, split at the first colon (a password may hold
/// more). None for anything else.
pub(crate) fn basic_credentials(credentials: &str) -> Option<(String, String)> {
    let decoded = String::from_utf8(STANDARD.decode(credentials).ok()?).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

/// The fields of a form body or a query string.
pub(crate) fn form_fields(body: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(body);
    text.split('&')
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let decode = |s: &str| {
                percent_decode_str(&s.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned()
            };
            (!k.is_empty()).then(|| (decode(k), decode(v)))
        })
        .collect()
}

/// The user found, and how.
struct Found {
    name: String,
    auth_type: &'static str,
    tokens: Vec<String>,
    reissue: Option<HeaderValue>,
}

enum Identity {
    User(Found),
    Nobody,
    /// Credentials were given and are wrong, or cannot be checked now (the
    /// session store is down): answer now.
    Refused(Response<Body>),
}

impl Config {
    fn has(&self, method: LoginMethod) -> bool {
        self.methods.contains(&method)
    }

    fn challenge_headers(&self, stale: bool) -> Vec<HeaderValue> {
        let mut challenges = Vec::new();
        if self.has(LoginMethod::Digest) {
            for algorithm in &self.digest_algorithms {
                let value = format!(
                    "Digest realm=\"{}\", qop=\"auth\", algorithm={algorithm}, nonce=\"{}\", charset=UTF-8{}",
                    self.realm,
                    self.nonces.issue(),
                    if stale { ", stale=true" } else { "" }
                );
                challenges.extend(HeaderValue::from_str(&value).ok());
            }
        }
        if self.has(LoginMethod::Basic) {
            let value = format!("Basic realm=\"{}\", charset=\"UTF-8\"", self.realm);
            challenges.extend(HeaderValue::from_str(&value).ok());
        }
        challenges
    }

    /// The answer that asks for a user: a redirect to the form for
    /// browsers, else 401 with the challenges.
    fn challenge<B>(&self, req: &Request<B>, stale: bool) -> Response<Body> {
        self.challenge_to(&self.asker(req), stale)
    }

    /// [`challenge`](Self::challenge), from what was kept of the request.
    pub(crate) fn challenge_to(&self, asker: &Asker, stale: bool) -> Response<Body> {
        let format = Format::negotiate_bytes(asker.accept.as_bytes());
        own_page(match &asker.login_page {
            Some(page) if !stale => HttpException::see_other(page).to_response(format),
            _ => HttpException::unauthorized(self.challenge_headers(stale)).to_response(format),
        })
    }

    /// What a challenge needs of `req`, kept for after the stack answers.
    pub(crate) fn asker<B>(&self, req: &Request<B>) -> Asker {
        let accept = KeptBytes::header(req, ACCEPT);
        let browser = accept.as_bytes().windows(9).any(|w| w == b"text/html");
        let login_page = (self.has(LoginMethod::Form) && browser).then(|| {
            let original = req
                .extensions()
                .get::<OriginalUri>()
                .map_or_else(|| req.uri(), |o| &o.0);
            let next = original.path_and_query().map_or("/", |pq| pq.as_str());
            format!(
                "{}{}?next={}",
                ScriptName::of(req),
                self.login_path,
                utf8_percent_encode(next, NON_ALPHANUMERIC)
            )
        });
        Asker { accept, login_page }
    }

    /// Whether `path` lies under one of the protected prefixes.
    fn protects(&self, path: &str) -> bool {
        // An empty PATH_INFO (`/admin` where the layer is mounted at
        // `/admin`) names the mount's root, as `/` does; `OPTIONS *` asks
        // about the whole server, which `/` protects.
        let path = if path.is_empty() || path == "*" {
            "/"
        } else {
            path
        };
        self.protect.iter().any(|prefix| {
            path == *prefix
                || path.starts_with(prefix.as_str())
                    && (prefix.ends_with('/') || path.as_bytes().get(prefix.len()) == Some(&b'/'))
        })
    }

    /// Whether this request is the login form's or the logout's: answered
    /// by the layer itself.
    fn answers<B>(&self, req: &Request<B>) -> bool {
        let path = path_info(req);
        (self.has(LoginMethod::Form) && path == self.login_path)
            || (path == self.logout_path
                && (self.has(LoginMethod::Form) || self.has(LoginMethod::Ticket)))
    }

    /// The credentials in `Authorization` for a method this layer takes.
    fn authorization<'r, B>(&self, req: &'r Request<B>) -> Option<(LoginMethod, &'r str)> {
        let header = req.headers().get(AUTHORIZATION)?.to_str().ok()?;
        let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
        if scheme.eq_ignore_ascii_case("basic") && self.has(LoginMethod::Basic) {
            return Some((LoginMethod::Basic, rest.trim()));
        }
        if scheme.eq_ignore_ascii_case("digest") && self.has(LoginMethod::Digest) {
            return Some((LoginMethod::Digest, rest));
        }
        None
    }

    /// Whether [`identify`](Self::identify) has anything to look at:
    /// credentials, or a cookie that may hold a session or a ticket.
    fn may_identify<B>(&self, req: &Request<B>) -> bool {
        self.authorization(req).is_some()
            || ((self.has(LoginMethod::Form) || self.has(LoginMethod::Ticket))
                && req.headers().contains_key(COOKIE))
    }

    fn ip<B>(&self, req: &Request<B>) -> Option<IpAddr> {
        let include = self.ticket.as_ref().is_some_and(|(o, _)| o.include_ip);
        include
            .then(|| client_addr(req).map(|addr| addr.ip()))
            .flatten()
    }

    fn ticket_cookie(&self, value: &str, remove: bool) -> Option<HeaderValue> {
        let (options, _) = self.ticket.as_ref()?;
        let mut cookie = format!("{}={value}; Path=/; SameSite=Lax", options.cookie_name);
        if options.http_only {
            cookie.push_str("; HttpOnly");
        }
        if options.secure {
            cookie.push_str("; Secure");
        }
        if remove {
            // Both, for every client: some honour only one of the two.
            cookie.push_str("; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT");
        } else {
            cookie.push_str(&format!("; Max-Age={}", options.timeout.as_secs()));
        }
        HeaderValue::from_str(&cookie).ok()
    }

    fn issue_ticket(&self, user: &str, ip: Option<IpAddr>) -> Option<HeaderValue> {
        let (_, signer) = self.ticket.as_ref()?;
        let ticket = Ticket {
            userid: user.to_owned(),
            tokens: Vec::new(),
            user_data: String::new(),
            time: unix_now(),
        };
        self.ticket_cookie(&signer.issue(&ticket, ip), false)
    }

    async fn check_password<B>(
        &self,
        req: &Request<B>,
        user: &str,
        password: &str,
    ) -> Result<bool, Response<Body>> {
        // Counted before the password is looked at: parallel guesses see
        // each other.
        let attempt = self.reserve(req, user).await?;
        let ok = self.users.check(user, password).await;
        if ok {
            self.succeeded(attempt).await;
        } else {
            tracing::info!(user = shown(user), "a failed login");
        }
        Ok(ok)
    }

    /// Counts an attempt of `user` before its credentials are checked, and
    /// waits the delay it has; or the answer when it may not be made (429)
    /// or the state cannot say (503).
    async fn reserve<B>(&self, req: &Request<B>, user: &str) -> Result<Attempt, Response<Body>> {
        let client = client_addr(req).map(|addr| addr.ip());
        let attempt = match self.state.reserve(user, client).await {
            Ok(Ok(attempt)) => attempt,
            Ok(Err(refused)) => {
                let reason = refused.reason.label();
                metrics::counter!("towerkit_login_throttle_refusals_total", "reason" => reason)
                    .increment(1);
                return Err(too_many(req, user, refused));
            }
            Err(err) => return Err(HttpException::from(err).response_for(req)),
        };
        if !attempt.delay.is_zero() {
            tokio::time::sleep(attempt.delay).await;
        }
        Ok(attempt)
    }

    /// Takes back the attempt whose credentials were right. If the state
    /// cannot (Redis went away since), the user is still in: the attempt
    /// stays counted, as a failure would be.
    async fn succeeded(&self, attempt: Attempt) {
        if let Err(err) = self.state.succeeded(attempt).await {
            tracing::debug!(error = %err, "a successful login could not be taken back");
        }
    }

    /// Whether a login is kept with no session: in a ticket this layer
    /// both issues and reads.
    fn keeps_logins_without_a_session(&self) -> bool {
        self.ticket.is_some() && self.has(LoginMethod::Ticket)
    }

    /// The session of a form login's request. None, when the login needs
    /// one, is a misconfigured stack: said once per layer in the log.
    fn session<B>(&self, req: &Request<B>) -> Option<SessionFactory> {
        let session = SessionFactory::of(req);
        if session.is_none()
            && !self.keeps_logins_without_a_session()
            && !self.told_no_session.swap(true, Ordering::Relaxed)
        {
            tracing::error!("{NO_SESSION_LOG}");
        }
        session
    }

    async fn identify<B>(&self, req: &Request<B>) -> Identity {
        match self.authorization(req) {
            Some((LoginMethod::Basic, credentials)) => return self.basic(req, credentials).await,
            Some((_, header)) => return self.digest(req, header).await,
            None => {}
        }
        if self.has(LoginMethod::Form) && req.headers().contains_key(COOKIE) {
            if let Some(session) = self.session(req) {
                match session.get::<String>(SESSION_USER).await {
                    Ok(Some(name)) => {
                        return Identity::User(Found {
                            name,
                            auth_type: "form",
                            tokens: Vec::new(),
                            reissue: None,
                        })
                    }
                    Ok(None) => {}
                    // The store failed (Redis down): who asks is not known,
                    // which is not "nobody". Its 503, not a login.
                    Err(err) => return Identity::Refused(err.response_for(req)),
                }
            }
        }
        if self.has(LoginMethod::Ticket) {
            if let Some(found) = self.ticket_user(req) {
                return Identity::User(found);
            }
        }
        Identity::Nobody
    }

    async fn basic<B>(&self, req: &Request<B>, credentials: &str) -> Identity {
        let Some((user, password)) = basic_credentials(credentials) else {
            return Identity::Refused(self.challenge(req, false));
        };
        let (user, password) = (user.as_str(), password.as_str());
        match self.check_password(req, user, password).await {
            Ok(true) => Identity::User(Found {
                name: user.to_owned(),
                auth_type: "Basic",
                tokens: Vec::new(),
                reissue: None,
            }),
            Ok(false) => Identity::Refused(
                HttpException::unauthorized(self.challenge_headers(false)).response_for(req),
            ),
            Err(refused) => Identity::Refused(refused),
        }
    }

    async fn digest<B>(&self, req: &Request<B>, header: &str) -> Identity {
        let p = parse_params(header);
        let refuse = |stale: bool| {
            Identity::Refused(
                HttpException::unauthorized(self.challenge_headers(stale)).response_for(req),
            )
        };
        let (Some(user), Some(nonce), Some(uri), Some(response), Some(nc), Some(cnonce)) = (
            p.get("username"),
            p.get("nonce"),
            p.get("uri"),
            p.get("response"),
            p.get("nc"),
            p.get("cnonce"),
        ) else {
            return refuse(false);
        };
        let algorithm = p.get("algorithm").map_or("MD5", String::as_str);
        let algorithm = match algorithm.to_ascii_uppercase().as_str() {
            "SHA-256" => "SHA-256",
            "MD5" => "MD5",
            _ => return refuse(false),
        };
        if p.get("qop").map(String::as_str) != Some("auth") || p.get("realm") != Some(&self.realm) {
            return refuse(false);
        }
        // The uri must be the request target itself.
        let target = req
            .extensions()
            .get::<OriginalUri>()
            .map_or_else(|| req.uri().clone(), |o| o.0.clone());
        if target.path_and_query().map(|pq| pq.as_str()) != Some(uri.as_str()) {
            return refuse(false);
        }
        let Ok(count) = u32::from_str_radix(nc, 16) else {
            return refuse(false);
        };
        let issued = match self.nonces.check(nonce) {
            NonceCheck::Forged => return refuse(false),
            NonceCheck::Stale => return refuse(true),
            NonceCheck::Fresh(issued) => issued,
        };
        // Counted before the response is compared, as a password is.
        let attempt = match self.reserve(req, user).await {
            Ok(attempt) => attempt,
            Err(answer) => return Identity::Refused(answer),
        };
        let Some(ha1) = self.users.digest_secret(user, &self.realm, algorithm) else {
            tracing::info!(user = shown(user), "a failed Digest login");
            return refuse(false);
        };
        let expected = expected_response(
            algorithm,
            &ha1,
            nonce,
            nc,
            cnonce,
            req.method().as_str(),
            uri,
        );
        if crate::users::same(
            expected.as_bytes(),
            response.to_ascii_lowercase().as_bytes(),
        ) {
            // Only a right answer's `nc` is recorded: a client without the
            // password cannot fill the state (a shared Redis) with nonce
            // counts. A replayed answer is refused (stale: a browser asks
            // again with a new nonce) and stays counted as a failure.
            let until = issued.saturating_add(self.nonces.lifetime().as_secs());
            match self.state.count_nonce(nonce, count, until).await {
                Ok(true) => {}
                Ok(false) => return refuse(true),
                Err(err) => return Identity::Refused(HttpException::from(err).response_for(req)),
            }
            self.succeeded(attempt).await;
            Identity::User(Found {
                name: user.clone(),
                auth_type: "Digest",
                tokens: Vec::new(),
                reissue: None,
            })
        } else {
            tracing::info!(user = shown(user), "a failed Digest login");
            refuse(false)
        }
    }

    fn ticket_user<B>(&self, req: &Request<B>) -> Option<Found> {
        let (options, signer) = self.ticket.as_ref()?;
        let value =
            towerkit_core::header::cookie(req.headers().get_all(COOKIE), &options.cookie_name)?;
        let ip = self.ip(req);
        let ticket = signer.parse(value, ip)?;
        let age = unix_now().saturating_sub(ticket.time);
        if age > options.timeout.as_secs() {
            tracing::debug!("an expired ticket: ignored");
            return None;
        }
        let reissue = (age > options.timeout.as_secs() / 2).then(|| {
            let fresh = Ticket {
                time: unix_now(),
                ..ticket.clone()
            };
            self.ticket_cookie(&signer.issue(&fresh, ip), false)
        });
        Some(Found {
            name: ticket.userid,
            auth_type: "ticket",
            tokens: ticket.tokens,
            reissue: reissue.flatten(),
        })
    }

    fn form_page(
        &self,
        action: &str,
        next: &str,
        message: &str,
        status: StatusCode,
    ) -> Response<Body> {
        let page = self
            .form
            .replace("{action}", &escape_html(action))
            .replace("{next}", &escape_html(next))
            .replace("{message}", &escape_html(message));
        let mut response = Response::new(Body::from(page));
        *response.status_mut() = status;
        response.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        response
    }

    async fn login_form(&self, req: Request<()>, body: Body) -> Response<Body> {
        let action = format!("{}{}", ScriptName::of(&req), self.login_path);
        let session = self.session(&req);
        if req.method() != Method::POST {
            let next = req
                .uri()
                .query()
                .and_then(|q| {
                    form_fields(q.as_bytes())
                        .into_iter()
                        .find(|(k, _)| k == "next")
                })
                .map(|(_, v)| v)
                .and_then(|v| safe_next(&v).map(str::to_owned))
                .unwrap_or_else(|| "/".to_owned());
            return self.form_page(&action, &next, "", StatusCode::OK);
        }
        if session.is_none() && !self.keeps_logins_without_a_session() {
            // Saying "logged in" would send the user round in circles.
            return HttpException::internal_server_error()
                .with_detail(NO_SESSION_PAGE)
                .response_for(&req);
        }
        let Ok(Some(body)) = body.to_bytes_limited(16 * 1024).await else {
            return HttpException::payload_too_large().response_for(&req);
        };
        let fields = form_fields(&body);
        let field = |name: &str| {
            fields
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
                .unwrap_or("")
        };
        let (user, password) = (field("username"), field("password"));
        let next = safe_next(field("next")).unwrap_or("/").to_owned();
        match self.check_password(&req, user, password).await {
            Err(refused) => refused,
            Ok(false) => self.form_page(
                &action,
                &next,
                "Wrong user name or password.",
                StatusCode::UNAUTHORIZED,
            ),
            Ok(true) => {
                let mut response = HttpException::see_other(&next).response_for(&req);
                response.headers_mut().remove(CONTENT_TYPE);
                *response.body_mut() = Body::empty();
                if let Some(session) = session {
                    let stored = async {
                        session.insert(SESSION_USER, user).await?;
                        session.cycle_id().await
                    };
                    if let Err(err) = stored.await {
                        return err.response_for(&req);
                    }
                }
                if let Some(cookie) = self.issue_ticket(user, self.ip(&req)) {
                    response.headers_mut().append(SET_COOKIE, cookie);
                }
                tracing::info!(user, "logged in");
                response
            }
        }
    }

    async fn logout(&self, req: Request<()>) -> Response<Body> {
        if let Some(session) = SessionFactory::of(&req) {
            if req.headers().contains_key(COOKIE) {
                if let Err(err) = session.destroy().await {
                    return err.response_for(&req);
                }
            }
        }
        let mut response = HttpException::see_other("/").response_for(&req);
        if let Some(location) = req.uri().query().and_then(|q| {
            form_fields(q.as_bytes())
                .into_iter()
                .find(|(k, _)| k == "next")
                .and_then(|(_, v)| safe_next(&v).map(str::to_owned))
        }) {
            if let Ok(value) = HeaderValue::from_str(&location) {
                response.headers_mut().insert(LOCATION, value);
            }
        }
        if let Some(cookie) = self.ticket_cookie("", true) {
            response.headers_mut().append(SET_COOKIE, cookie);
        }
        response
    }
}

/// The answer to an attempt the throttle refused: 429, with when to try
/// again. Nothing was checked.
fn too_many<B>(req: &Request<B>, user: &str, refused: Refused) -> Response<Body> {
    tracing::warn!(
        user = shown(user),
        reason = ?refused.reason,
        "too many failed logins: refused for now"
    );
    HttpException::too_many_requests(Some(RetryAfter::Seconds(refused.retry_after)))
        .with_detail("too many failed logins; try again later")
        .response_for(req)
}

/// A user name as the log shows it: its first 64 bytes (a name is
/// whatever a client sent, 16 KB if it likes).
fn shown(user: &str) -> &str {
    let mut end = user.len().min(64);
    while !user.is_char_boundary(end) {
        end -= 1;
    }
    &user[..end]
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

/// The request body goes on as a [`Body`] (the form login reads it): the
/// towerkit server's body as it is, any other wrapped once. The inner
/// service's errors go up unchanged (an [`HttpException`] 401 among them
/// becomes the challenge); the layer's own answers are responses.
impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for Login<S>
where
    S: Service<Request<Body>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Error: Send + 'static,
    S::Future: Send + 'static,
    ReqBody: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    ReqBody::Error: Into<BoxError>,
    ResBody: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let mut req = req.map(Body::new);
        let config = &self.config;
        // Decide on the path every layer after this one will see.
        if let Err(bad) = canonicalize(&mut req) {
            return ResponseFuture::answered(HttpException::from(bad).response_for(&req));
        }
        if !config.answers(&req) {
            // Who the client is is known now, without waiting on anything:
            // the usual request, which holds no credentials.
            let already = req.extensions().get::<RemoteUser>().is_some();
            if already || !config.may_identify(&req) {
                if !already && config.protects(path_info(&req)) {
                    return ResponseFuture::answered(config.challenge(&req, false));
                }
                let challenge = (!already).then(|| (config.asker(&req), config.clone()));
                return ResponseFuture::called(self.inner.call(req), challenge);
            }
        }
        let config = config.clone();
        let inner = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, inner);
        ResponseFuture::identifying(Box::pin(async move {
            // The body stays apart: what is awaited below holds only the head.
            let (parts, body) = req.into_parts();
            let mut req = Request::from_parts(parts, ());
            let path = path_info(&req);
            if config.has(LoginMethod::Form) && path == config.login_path {
                return Ok(own_page(config.login_form(req, body).await));
            }
            if config.answers(&req) {
                return Ok(own_page(config.logout(req).await));
            }
            let already = req.extensions().get::<RemoteUser>().is_some();
            let mut reissue = None;
            let mut found_user = None;
            let mut user_set = already;
            if !already {
                match config.identify(&req).await {
                    Identity::Refused(response) => return Ok(own_page(response)),
                    Identity::User(found) => {
                        let user = RemoteUser {
                            name: found.name,
                            auth_type: found.auth_type.to_owned(),
                        };
                        found_user = Some(user.clone());
                        req.extensions_mut().insert(user);
                        req.extensions_mut().insert(UserTokens(found.tokens));
                        reissue = found.reissue;
                        user_set = true;
                    }
                    Identity::Nobody => {
                        if config.protects(path_info(&req)) {
                            return Ok(config.challenge(&req, false));
                        }
                    }
                }
            }
            // What a challenge needs, should the app answer 401.
            let asker = (!user_set).then(|| config.asker(&req));
            let req = Request::from_parts(req.into_parts().0, body);
            std::future::poll_fn(|cx| inner.poll_ready(cx)).await?;
            let answer = inner
                .call(req)
                .await
                .map(|response| response.map(Body::new));
            // An answer for a user is for no one else.
            let answer = if user_set { private(answer) } else { answer };
            let mut response = match asker {
                Some(asker) if asks_for_a_user(&answer) => config.challenge_to(&asker, false),
                _ => answer?,
            };
            if let Some(cookie) = reissue {
                response.headers_mut().append(SET_COOKIE, cookie);
            }
            if let Some(user) = found_user {
                // For the layers above (an access log).
                response.extensions_mut().insert(user);
            }
            Ok(response)
        }))
    }
}

/// What [`Config::challenge`] needs of a request, copied (see
/// [`towerkit_core::kept`]), for when the app answers 401.
pub(crate) struct Asker {
    accept: KeptBytes,
    /// Where a browser goes to log in, when the form login is on.
    login_page: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use http::Uri;
    use std::future::Future;
    use tower_layer::Layer;
    use towerkit_core::app::Text;
    use towerkit_core::recursive::BoxFuture;
    use towerkit_core::{handler, TestClient};

    use crate::test_users::Ada;

    /// `/denied` answers 401 itself; anything else says who is there.
    fn app() -> impl Service<
        Request<Body>,
        Response = Response<Body>,
        Error = BoxError,
        Future = impl Future<Output = Result<Response<Body>, BoxError>> + Send,
    > + Clone
           + Send
           + 'static {
        handler(|req: Request<Body>| async move {
            if req.uri().path() == "/denied" {
                return Err(HttpException::new(StatusCode::UNAUTHORIZED).into());
            }
            let user = req.extensions().get::<RemoteUser>();
            let name = user.map_or("nobody", |u| u.name.as_str()).to_owned();
            Ok::<_, BoxError>(Response::new(Body::from(name)))
        })
    }

    fn layer(methods: &[LoginMethod]) -> LoginLayer {
        LoginLayer::new(Ada, methods)
            .unwrap()
            .protect(vec!["/private".to_owned()])
    }

    #[tokio::test]
    async fn without_credentials_only_protected_paths_challenge() {
        let mut client = TestClient::new(layer(&[LoginMethod::Basic]).layer(app()));
        let open = client.get("/public").send().await.unwrap();
        assert_eq!(
            (open.status(), open.text()),
            (StatusCode::OK, "nobody".into())
        );
        for path in ["/private", "/private/x", "/denied"] {
            let res = client.get(path).send().await.unwrap();
            assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{path}");
            let challenge = res.header("www-authenticate").unwrap_or_default();
            assert!(challenge.starts_with("Basic realm="), "{path}: {challenge}");
        }
        let beside = client.get("/privateer").send().await.unwrap();
        assert_eq!(beside.status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn browsers_are_sent_to_the_form_with_where_they_were() {
        let methods = [LoginMethod::Basic, LoginMethod::Form];
        let mut client = TestClient::new(layer(&methods).layer(app()));
        for path in ["/private/report?y=2", "/denied"] {
            let res = client
                .get(path)
                .header("accept", "text/html,application/xhtml+xml")
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), StatusCode::SEE_OTHER, "{path}");
            let next = utf8_percent_encode(path, NON_ALPHANUMERIC).to_string();
            assert_eq!(
                res.header("location"),
                Some(&*format!("/login?next={next}"))
            );
            assert!(res.header("content-type").unwrap().starts_with("text/html"));
        }
    }

    #[tokio::test]
    async fn a_user_passes_and_a_401_of_the_app_stays_the_apps() {
        let mut client = TestClient::new(layer(&[LoginMethod::Basic]).layer(app()));
        let ada = format!("Basic {}", STANDARD.encode("ada:secret"));
        let res = client
            .get("/private")
            .header("authorization", &ada)
            .send()
            .await
            .unwrap();
        assert_eq!((res.status(), res.text()), (StatusCode::OK, "ada".into()));
        // The app's own 401 (for this user) goes up as it is.
        let err = client
            .get("/denied")
            .header("authorization", &ada)
            .send()
            .await
            .unwrap_err();
        let status = err
            .downcast_ref::<HttpException>()
            .map(HttpException::status);
        assert_eq!(status, Some(StatusCode::UNAUTHORIZED));
        let wrong = format!("Basic {}", STANDARD.encode("ada:nope"));
        let res = client
            .get("/public")
            .header("authorization", &wrong)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }

    #[tokio::test]
    async fn the_future_holds_nothing_of_the_request() {
        // A URI and an `Accept` sharing one buffer, as hyper parses them.
        let read = Bytes::from(b"/app/items/42text/html".to_vec());
        let mut req = Request::new(Body::empty());
        *req.uri_mut() = Uri::from_maybe_shared(read.slice(..13)).unwrap();
        let accept = HeaderValue::from_maybe_shared(read.slice(13..)).unwrap();
        req.headers_mut().insert(ACCEPT, accept);
        let methods = [LoginMethod::Basic, LoginMethod::Form];
        // An app that is done with the request when called.
        let mut service = layer(&methods).layer(Text::new("hello"));
        std::future::poll_fn(|cx| Service::<Request<Body>>::poll_ready(&mut service, cx))
            .await
            .unwrap();
        let future = service.call(req);
        assert!(read.is_unique(), "the login layer shares the read buffer");
        assert_eq!(future.await.unwrap().status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn a_form_login_with_no_session_says_the_stack_is_wrong() {
        // No session layer before the login: the form still shows, but a
        // login, which could not be kept, is answered 500.
        let mut client = TestClient::new(layer(&[LoginMethod::Form]).layer(app()));
        let form = client.get("/login").send().await.unwrap();
        assert_eq!(form.status(), StatusCode::OK);
        for _ in 0..2 {
            let res = client
                .post("/login")
                .header("accept", "text/html")
                .form(&[
                    ("username", "ada"),
                    ("password", "secret"),
                    ("next", "/private"),
                ])
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
            assert_eq!(res.header("location"), None);
            assert!(res.header("set-cookie").is_none());
            let page = res.text();
            assert!(page.contains("misconfigured"), "{page}");
            assert!(page.contains("no session layer before it"), "{page}");
        }
        // Tickets keep the login without a session.
        let methods = [LoginMethod::Form, LoginMethod::Ticket];
        let with_tickets = layer(&methods)
            .ticket(TicketOptions::new("a secret of the tests"))
            .unwrap();
        let mut client = TestClient::new(with_tickets.layer(app()));
        let res = client
            .post("/login")
            .form(&[
                ("username", "ada"),
                ("password", "secret"),
                ("next", "/private"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert_eq!(client.get("/private").send().await.unwrap().text(), "ada");
    }

    #[tokio::test]
    async fn every_builder_works_on_a_clone() {
        let all = [
            LoginMethod::Basic,
            LoginMethod::Digest,
            LoginMethod::Form,
            LoginMethod::Ticket,
        ];
        let original = layer(&all);
        // In use already, and cloned: each builder changes the clone only.
        let _in_use = original.layer(app());
        let configured = original
            .clone()
            .realm("elsewhere")
            .protect(vec!["/other".to_owned()])
            .login_path("/in")
            .unwrap()
            .logout_path("/out")
            .unwrap()
            .ticket(TicketOptions::new("a secret of the tests"))
            .unwrap()
            .digest_algorithms(vec!["MD5"])
            .form_template("<p>{message}</p>");
        let mut client = TestClient::new(configured.layer(app()));
        let res = client.get("/other").send().await.unwrap();
        let challenges: Vec<_> = res.headers().get_all("www-authenticate").iter().collect();
        assert_eq!(challenges.len(), 2, "{challenges:?}");
        assert!(challenges
            .iter()
            .all(|c| c.to_str().unwrap().contains("realm=\"elsewhere\"")));
        assert!(challenges[0].to_str().unwrap().contains("algorithm=MD5"));
        assert_eq!(
            client.get("/private").send().await.unwrap().text(),
            "nobody"
        );
        assert_eq!(client.get("/in").send().await.unwrap().text(), "<p></p>");
        let out = client.get("/out").send().await.unwrap();
        assert!(out.header("set-cookie").unwrap().starts_with("auth_tkt=;"));
        // The original is as it was.
        let mut client = TestClient::new(original.layer(app()));
        let res = client.get("/private").send().await.unwrap();
        let challenge = res.header("www-authenticate").unwrap();
        assert!(challenge.contains("realm=\"towerkit\"") && challenge.contains("SHA-256"));
        let form = client.get("/login").send().await.unwrap().text();
        assert!(form.contains("<form method=\"post\""), "{form}");
    }

    #[test]
    fn no_randomness_no_layer() {
        let no_randomness = |_: &mut [u8]| Err(getrandom::Error::UNSUPPORTED);
        let made =
            LoginLayer::with_randomness(Arc::new(Ada), &[LoginMethod::Digest], no_randomness);
        let Err(err) = made else {
            panic!("a layer made with no randomness for its nonce key");
        };
        assert_eq!(
            err,
            LoginError::NoRandomness(getrandom::Error::UNSUPPORTED.to_string())
        );
        assert!(err.to_string().contains("no randomness"), "{err}");
    }

    /// Ada, whose every check takes 5 ms (as bcrypt takes longer), counted.
    struct SlowAda(Arc<std::sync::atomic::AtomicUsize>);

    impl Authenticator for SlowAda {
        fn check(&self, user: &str, password: &str) -> BoxFuture<bool> {
            self.0.fetch_add(1, Ordering::SeqCst);
            let ok = user == "ada" && password == "secret";
            Box::pin(async move {
                tokio::time::sleep(Duration::from_millis(5)).await;
                ok
            })
        }
    }

    fn from(peer: &str, credentials: &str) -> Request<Body> {
        let mut req = Request::get("/private").body(Body::empty()).unwrap();
        let auth = format!("Basic {}", STANDARD.encode(credentials));
        req.headers_mut()
            .insert(AUTHORIZATION, HeaderValue::from_str(&auth).unwrap());
        let (peer, local) = (peer.parse().unwrap(), "127.0.0.1:80".parse().unwrap());
        req.extensions_mut()
            .insert(towerkit_core::ConnectionInfo::new(peer, local));
        req
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_parallel_burst_checks_at_most_ten_and_the_owner_gets_in_elsewhere() {
        use tower::ServiceExt;
        let checks = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let users: Arc<dyn Authenticator> = Arc::new(SlowAda(checks.clone()));
        let service = LoginLayer::with_users(users, &[LoginMethod::Basic])
            .unwrap()
            .layer(app());
        let burst: Vec<_> = (0..200)
            .map(|_| {
                let req = from("192.0.2.1:4000", "ada:guess");
                tokio::spawn(service.clone().oneshot(req))
            })
            .collect();
        let mut statuses = Vec::new();
        for answer in burst {
            statuses.push(answer.await.unwrap().unwrap().status());
        }
        let count = |status| statuses.iter().filter(|s| **s == status).count();
        assert_eq!(count(StatusCode::UNAUTHORIZED), 10, "checked and wrong");
        assert_eq!(
            count(StatusCode::TOO_MANY_REQUESTS),
            190,
            "refused unchecked"
        );
        assert_eq!(checks.load(Ordering::SeqCst), 10);
        // The attacker's pair is locked, even with the right password…
        let res = service
            .clone()
            .oneshot(from("192.0.2.1:4001", "ada:secret"))
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
        // …and the owner, from elsewhere, is not.
        let res = service
            .clone()
            .oneshot(from("198.51.100.7:5000", "ada:secret"))
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
    }
}
