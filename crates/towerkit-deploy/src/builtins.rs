//! The factories every stack file can `use`.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use tower::util::BoxCloneSyncService;

use http::header::{HeaderName, HeaderValue};
use http::StatusCode;
use towerkit_core::app::{Check, Echo, Health, Text};
use towerkit_urlparser::UrlMap;

use towerkit_accesslog::{AccessLogLayer, LogWriter};
use towerkit_cgi::Cgi;
use towerkit_gzip::GzipLayer;
use towerkit_httpexceptions::{HttpExceptionsLayer, Templates};
use towerkit_login::{
    HtdigestFile, HtpasswdFile, LoginLayer, LoginMethod, TicketDigest, TicketOptions, UserFiles,
};
use towerkit_proxy::Proxy;
use towerkit_proxyfix::{IpNet, ProxyFixLayer};
use towerkit_recursive::{ErrorDocumentsLayer, RecursiveLayer};
use towerkit_session::{
    CookieStore, FileStore, MemoryStore, RedisStore, SameSite, SessionLayer, SessionStore,
};
use towerkit_static::{ServeDir, ServeFile, StaticOptions};
use towerkit_urlparser::{Cascade, UrlParser};

use crate::registry::{boxed_app, BoxApp, Filter, Registry};
use crate::section::Section;
use crate::server::OneOrMany;
use crate::units::{ByteSize, HumanDuration};
use crate::ConfigError;

pub(crate) fn register(registry: &mut Registry) {
    registry.app("text", text);
    registry.app("echo", |_| Ok(boxed_app(Echo)));
    registry.app("health", health);
    registry.composite("urlmap", urlmap);
    registry.composite("cascade", cascade);
    // Rules name other sections, as a composite's keys do; the issue and
    // the book write it as an app.
    registry.app("routes", crate::routes::routes);
    registry.composite("routes", crate::routes::routes);
    registry.app("urlparser", urlparser);
    registry.app("static", serve_static);
    registry.filter("http-exceptions", http_exceptions);
    registry.filter("proxy-fix", proxy_fix);
    registry.filter("gzip", gzip);
    registry
        .filter("session", session)
        .provides("session", "session");
    registry.filter("login", login);
    registry.app("cgi", cgi);
    registry.app("proxy", proxy);
    registry.file_handler("cgi", |path| boxed_app(Cgi::script(path)));
    registry
        .filter("recursive", recursive)
        .provides("recursive", "recursive");
    registry.filter("error-documents", error_documents);
    registry.filter("access-log", access_log);
}

/// `use = "health"`: `timeout` (default 2s), the longest a store's check
/// is waited for. Asks every store of the served stack.
fn health(section: &mut Section<'_, '_>) -> Result<BoxApp, ConfigError> {
    let mut health = Health::new(section.readiness().clone());
    if let Some(timeout) = section.get::<HumanDuration>("timeout")? {
        if timeout.0.is_zero() {
            return Err(section.error("timeout", "a check needs some time: e.g. \"2s\""));
        }
        health = health.timeout(timeout.0);
    }
    Ok(boxed_app(health))
}

/// `use = "access-log"`: `path` (default: stderr). Apache combined format;
/// the file is opened again whenever the stack is (re)loaded.
fn access_log(section: &mut Section<'_, '_>) -> Result<Filter, ConfigError> {
    let writer = match section.output_path("path")? {
        Some(path) => LogWriter::file(&path)
            .map_err(|err| section.error("path", format!("cannot open: {err}")))?,
        None => LogWriter::stderr(),
    };
    Ok(Filter::layer(AccessLogLayer::new(writer)))
}

/// `use = "http-exceptions"`: `debug`, `html_template`, `text_template`
/// (files with `{status}`, `{reason}` and `{detail}`).
fn http_exceptions(section: &mut Section<'_, '_>) -> Result<Filter, ConfigError> {
    let debug = section.get::<bool>("debug")?.unwrap_or(false);
    let mut templates = Templates::new();
    for key in ["html_template", "text_template"] {
        let Some(path) = section.path(key)? else {
            continue;
        };
        let template = std::fs::read_to_string(&path)
            .map_err(|err| section.error(key, format!("cannot read {}: {err}", path.display())))?;
        templates = if key == "html_template" {
            templates.html(template)
        } else {
            templates.text(template)
        };
    }
    let layer = HttpExceptionsLayer::new().debug(debug).templates(templates);
    Ok(Filter::layer(layer))
}

/// `use = "recursive"`: `max_depth`.
fn recursive(section: &mut Section<'_, '_>) -> Result<Filter, ConfigError> {
    let mut layer = RecursiveLayer::new();
    if let Some(depth) = section.get::<usize>("max_depth")? {
        if depth == 0 {
            return Err(section.error("max_depth", "must be at least 1"));
        }
        layer = layer.max_depth(depth);
    }
    Ok(Filter::layer(layer))
}

/// `use = "error-documents"`: every key a status, every value the path of
/// its page (`404 = "/errors/404.html"`). Needs a `recursive` filter
/// outside it, which fetches the pages.
fn error_documents(section: &mut Section<'_, '_>) -> Result<Filter, ConfigError> {
    let mut layer = ErrorDocumentsLayer::new();
    let mut mapped = 0;
    for key in section.remaining_keys() {
        let uri: String = section.require(&key)?;
        let status: u16 = key
            .parse()
            .map_err(|_| section.error(&key, "a key here is an error status, e.g. 404"))?;
        layer = layer
            .try_document(status, &uri)
            .map_err(|err| section.error(&key, err.to_string()))?;
        mapped += 1;
    }
    if mapped == 0 {
        return Err(section
            .section_error("map at least one status to a page, e.g. 404 = \"/errors/404.html\""));
    }
    section.needs(
        "recursive",
        None,
        "error documents are fetched through the stack again, by a recursive layer",
    );
    Ok(Filter::layer(layer))
}

/// `use = "text"`: `status`, `body`, `content_type`, `headers` (a table of
/// name to value, or to a list of values).
fn text(section: &mut Section<'_, '_>) -> Result<BoxApp, ConfigError> {
    let mut app = Text::new(section.get::<String>("body")?.unwrap_or_default());
    if let Some(status) = section.get::<u16>("status")? {
        let status = StatusCode::from_u16(status)
            .map_err(|_| section.error("status", "not an HTTP status (100 to 999)"))?;
        app = app.status(status);
    }
    if let Some(content_type) = section.get::<String>("content_type")? {
        let value = HeaderValue::from_str(&content_type)
            .map_err(|_| section.error("content_type", "not a valid header value"))?;
        app = app.content_type(value);
    }
    if let Some(headers) = section.get::<BTreeMap<String, OneOrMany>>("headers")? {
        for (name, values) in headers {
            let header = HeaderName::try_from(name.as_str())
                .map_err(|_| section.error("headers", format!("`{name}` is not a header name")))?;
            for value in values.into_vec() {
                let value = HeaderValue::from_str(&value).map_err(|_| {
                    section.error(
                        "headers",
                        format!("the value of `{name}` is not a valid header value"),
                    )
                })?;
                app = app.header(header.clone(), value);
            }
        }
    }
    Ok(boxed_app(app))
}

/// `use = "urlmap"`: every key is a mount (`"/path"`, `"host/path"`), every
/// value the name of the app mounted there.
fn urlmap(section: &mut Section<'_, '_>) -> Result<BoxApp, ConfigError> {
    let mut map = UrlMap::new();
    for key in section.remaining_keys() {
        let app = section.require_app(&key)?;
        map.try_mount(&key, app)
            .map_err(|err| section.error(&key, err.to_string()))?;
    }
    Ok(boxed_app(map))
}

/// `max_age` and `follow_symlinks`, shared by `static` and `urlparser`.
fn static_options(section: &mut Section<'_, '_>) -> Result<StaticOptions, ConfigError> {
    let mut options = StaticOptions::new();
    if let Some(max_age) = section.get::<HumanDuration>("max_age")? {
        options = options.max_age(max_age.0);
    }
    if let Some(follow) = section.get::<bool>("follow_symlinks")? {
        options = options.follow_symlinks(follow);
    }
    Ok(options)
}

/// A `root` option that must name an existing folder (or, with
/// `file_ok`, a file).
fn existing_root(
    section: &mut Section<'_, '_>,
    file_ok: bool,
) -> Result<std::path::PathBuf, ConfigError> {
    let root = section.require_path("root")?;
    match std::fs::metadata(&root) {
        Ok(meta) if meta.is_dir() || (file_ok && meta.is_file()) => Ok(root),
        Ok(_) => Err(section.error("root", format!("{} is not a folder", root.display()))),
        Err(err) => Err(section.error("root", format!("{}: {err}", root.display()))),
    }
}

/// `use = "static"`: `root` (a folder or one file), `max_age`,
/// `follow_symlinks`.
fn serve_static(section: &mut Section<'_, '_>) -> Result<BoxApp, ConfigError> {
    let root = existing_root(section, true)?;
    let options = static_options(section)?;
    if root.is_file() {
        Ok(boxed_app(ServeFile::new(root).options(options)))
    } else {
        Ok(boxed_app(ServeDir::new(root).options(options)))
    }
}

/// `use = "urlparser"`: `root`, `index`, `handlers` (extension to file
/// handler), `hide`, `listing`, `max_age`, `follow_symlinks`, `not_found`.
fn urlparser(section: &mut Section<'_, '_>) -> Result<BoxApp, ConfigError> {
    let root = existing_root(section, false)?;
    let mut parser = UrlParser::new(root).static_options(static_options(section)?);
    if let Some(index) = section.get::<OneOrMany>("index")? {
        parser = parser.index(index.into_vec());
    }
    if let Some(hide) = section.get::<Vec<String>>("hide")? {
        parser = parser.hide(hide);
    }
    if let Some(listing) = section.get::<bool>("listing")? {
        parser = parser.listing(listing);
    }
    if let Some(handlers) = section.get::<BTreeMap<String, String>>("handlers")? {
        for (extension, name) in handlers {
            let Some(handler) = section.file_handler(&name) else {
                let known = section.file_handler_names().join(", ");
                return Err(section.error(
                    "handlers",
                    format!("unknown file handler `{name}` for .{extension} (known: {known})"),
                ));
            };
            parser = parser.handler(
                &extension,
                Arc::new(move |path: &Path| BoxCloneSyncService::new(handler(path))),
            );
        }
    }
    if let Some(not_found) = section.app("not_found")? {
        parser = parser.not_found(BoxCloneSyncService::new(not_found));
    }
    Ok(boxed_app(parser))
}

/// `use = "cascade"`: `apps` (tried in order), `catch` (statuses that pass
/// on, default `[404]`), `max_body` (request body buffered, default 1 MiB).
fn cascade(section: &mut Section<'_, '_>) -> Result<BoxApp, ConfigError> {
    let apps = match section.app_list("apps")? {
        Some(apps) if !apps.is_empty() => apps,
        _ => return Err(section.error("apps", "list the apps to try, in order")),
    };
    let mut cascade = Cascade::new(apps.into_iter().map(BoxCloneSyncService::new).collect());
    if let Some(catch) = section.get::<Vec<u16>>("catch")? {
        let statuses = catch
            .into_iter()
            .map(|code| {
                StatusCode::from_u16(code)
                    .map_err(|_| section.error("catch", format!("{code} is not an HTTP status")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        cascade = cascade.catch(statuses);
    }
    if let Some(max_body) = section.get::<ByteSize>("max_body")? {
        cascade = cascade.max_body(max_body.0);
    }
    Ok(boxed_app(cascade))
}

/// `use = "proxy-fix"`: `x_for`, `x_proto`, `x_host`, `x_port`, `x_prefix`
/// (trusted hops), `forwarded` (RFC 7239), `trusted` (CIDR list), `strip`.
fn proxy_fix(section: &mut Section<'_, '_>) -> Result<Filter, ConfigError> {
    let mut layer = ProxyFixLayer::new();
    type Setter = fn(ProxyFixLayer, usize) -> ProxyFixLayer;
    let hops: [(&str, Setter); 5] = [
        ("x_for", ProxyFixLayer::x_for),
        ("x_proto", ProxyFixLayer::x_proto),
        ("x_host", ProxyFixLayer::x_host),
        ("x_port", ProxyFixLayer::x_port),
        ("x_prefix", ProxyFixLayer::x_prefix),
    ];
    for (key, set) in hops {
        if let Some(count) = section.get::<usize>(key)? {
            layer = set(layer, count);
        }
    }
    if let Some(forwarded) = section.get::<bool>("forwarded")? {
        layer = layer.forwarded(forwarded);
    }
    if let Some(trusted) = section.get::<OneOrMany>("trusted")? {
        let networks = trusted
            .into_vec()
            .into_iter()
            .map(|text| {
                let parsed = text
                    .parse::<IpNet>()
                    .or_else(|_| text.parse::<std::net::IpAddr>().map(IpNet::from));
                parsed.map_err(|_| {
                    section.error(
                        "trusted",
                        format!("`{text}` is not an address or CIDR network (e.g. 10.0.0.0/8)"),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        layer = layer.trusted(networks);
    }
    if let Some(strip) = section.get::<bool>("strip")? {
        layer = layer.strip(strip);
    }
    Ok(Filter::layer(layer))
}

/// `use = "gzip"`: `level` (0 to 9), `min_size`, `types`,
/// `decompress_requests`, `max_decompressed`.
fn gzip(section: &mut Section<'_, '_>) -> Result<Filter, ConfigError> {
    let mut layer = GzipLayer::new();
    if let Some(level) = section.get::<u32>("level")? {
        if level > 9 {
            return Err(section.error("level", "a gzip level is 0 to 9"));
        }
        layer = layer.level(level);
    }
    if let Some(min_size) = section.get::<ByteSize>("min_size")? {
        layer = layer.min_size(min_size.0);
    }
    if let Some(types) = section.get::<Vec<String>>("types")? {
        if let Some(bad) = types.iter().find(|t| !t.contains('/')) {
            return Err(section.error(
                "types",
                format!("`{bad}` is not a media type (e.g. text/*)"),
            ));
        }
        layer = layer.types(types);
    }
    if let Some(decompress) = section.get::<bool>("decompress_requests")? {
        layer = layer.decompress_requests(decompress);
    }
    if let Some(max) = section.get::<ByteSize>("max_decompressed")? {
        layer = layer.max_decompressed(max.0);
    }
    Ok(Filter::layer(layer))
}

/// A login's shared state, as a health check asks it.
struct LoginReady(LoginLayer);

impl Check for LoginReady {
    fn check(
        &self,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + Send + '_>> {
        self.0.ready()
    }
}

/// A session store, as a health check asks it.
struct StoreReady(std::sync::Arc<dyn SessionStore>);

impl Check for StoreReady {
    fn check(
        &self,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + Send + '_>> {
        Box::pin(async move { self.0.ready().await.map_err(|err| err.to_string()) })
    }
}

/// `use = "session"`: `store` (`memory`, `file`, `cookie`, `redis`),
/// `cookie_name`, `max_age`, `idle_timeout`, `same_site` (`lax`, `strict`,
/// `none`), `secure`; `capacity` (memory), `path` (file), `url`, `prefix`
/// and `timeout` (redis), `secret` (cookie).
fn session(section: &mut Section<'_, '_>) -> Result<Filter, ConfigError> {
    let kind = section
        .get::<String>("store")?
        .unwrap_or_else(|| "memory".to_owned());
    let path = section.output_path("path")?;
    let url = section.get::<String>("url")?;
    let prefix = section.get::<String>("prefix")?;
    let secret = section.get::<String>("secret")?;
    let capacity = section.get::<usize>("capacity")?;
    let timeout = section.get::<HumanDuration>("timeout")?;
    let misplaced = |section: &Section<'_, '_>, key: &str, store: &str| {
        section.error(key, format!("`{key}` applies to store = \"{store}\" only"))
    };
    if kind != "file" && path.is_some() {
        return Err(misplaced(section, "path", "file"));
    }
    if kind != "redis" && (url.is_some() || prefix.is_some() || timeout.is_some()) {
        let key = match (&url, &prefix) {
            (Some(_), _) => "url",
            (_, Some(_)) => "prefix",
            _ => "timeout",
        };
        return Err(misplaced(section, key, "redis"));
    }
    if kind != "memory" && capacity.is_some() {
        return Err(misplaced(section, "capacity", "memory"));
    }
    if capacity == Some(0) {
        return Err(section.error("capacity", "the store must hold at least one session"));
    }
    if timeout.as_ref().is_some_and(|t| t.0.is_zero()) {
        return Err(section.error("timeout", "a Redis operation needs some time: e.g. \"2s\""));
    }
    if kind != "cookie" && secret.is_some() {
        return Err(misplaced(section, "secret", "cookie"));
    }
    let store: std::sync::Arc<dyn SessionStore> = match kind.as_str() {
        "memory" => {
            std::sync::Arc::new(capacity.map_or_else(MemoryStore::default, MemoryStore::new))
        }
        "file" => {
            let Some(path) = path else {
                return Err(section.error(
                    "path",
                    "store = \"file\" needs a folder: path = \"sessions\"",
                ));
            };
            let store = FileStore::new(&path)
                .map_err(|err| section.error("path", format!("{}: {err}", path.display())))?;
            std::sync::Arc::new(store)
        }
        "cookie" => {
            let Some(secret) = secret else {
                return Err(section.error(
                    "secret",
                    "store = \"cookie\" needs a secret of at least 32 bytes",
                ));
            };
            std::sync::Arc::new(
                CookieStore::new(&secret)
                    .map_err(|err| section.error("secret", err.to_string()))?,
            )
        }
        "redis" => {
            let Some(url) = url else {
                return Err(section.error(
                    "url",
                    "store = \"redis\" needs a url, e.g. redis://127.0.0.1:6379/0",
                ));
            };
            let prefix = prefix.unwrap_or_else(|| "towerkit:session:".to_owned());
            let store = RedisStore::new(&url, &prefix)
                .map_err(|err| section.error("url", err.to_string()))?;
            std::sync::Arc::new(match timeout {
                Some(timeout) => store.timeout(timeout.0),
                None => store,
            })
        }
        other => {
            return Err(section.error(
                "store",
                format!("unknown store `{other}` (known: memory, file, cookie, redis)"),
            ))
        }
    };
    section.readiness().add(
        format!("filter.{}", section.name()),
        std::sync::Arc::new(StoreReady(store.clone())),
    );
    let mut layer = SessionLayer::with_store(store);
    if let Some(name) = section.get::<String>("cookie_name")? {
        // The builder's own check, so that Rust and TOML say the same.
        layer = layer
            .cookie_name(&name)
            .map_err(|err| section.error("cookie_name", err.to_string()))?;
    }
    if let Some(max_age) = section.get::<HumanDuration>("max_age")? {
        layer = layer.max_age(max_age.0);
    }
    if let Some(idle) = section.get::<HumanDuration>("idle_timeout")? {
        layer = layer.idle_timeout(idle.0);
    }
    let secure = section.get::<bool>("secure")?;
    if let Some(secure) = secure {
        layer = layer.secure(secure);
    }
    if let Some(same_site) = section.get::<String>("same_site")? {
        let same_site = match same_site.to_ascii_lowercase().as_str() {
            "lax" => SameSite::Lax,
            "strict" => SameSite::Strict,
            "none" if secure == Some(true) => SameSite::None,
            "none" => {
                return Err(section.error(
                    "same_site",
                    "same_site = \"none\" needs secure = true (browsers refuse it otherwise)",
                ))
            }
            _ => return Err(section.error("same_site", "expected lax, strict or none")),
        };
        layer = layer.same_site(same_site);
    }
    Ok(Filter::layer(layer))
}

/// The `ticket` table of `use = "login"`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct TicketTable {
    secret: String,
    digest: Option<String>,
    cookie_name: Option<String>,
    include_ip: Option<bool>,
    timeout: Option<HumanDuration>,
    secure: Option<bool>,
    http_only: Option<bool>,
}

/// `use = "login"`: `methods` (`form`, `basic`, `digest`, `ticket`),
/// `users` (htpasswd), `digest_users` (htdigest), `realm`, `protect`,
/// `login_path`, `logout_path`, `form_template`, and a `ticket` table
/// (`secret`, `digest`, `cookie_name`, `include_ip`, `timeout`, `secure`,
/// `http_only`). `form` without `ticket` needs a `session` filter outside
/// it, which keeps the login. For many instances: `secret` (at least 32
/// bytes, the same on each: the Digest nonce key), `state` (a Redis URL:
/// the throttle's and the nonces' counts) and `state_timeout`.
fn login(section: &mut Section<'_, '_>) -> Result<Filter, ConfigError> {
    let names: Vec<String> = section.require("methods")?;
    let mut methods = Vec::new();
    for name in &names {
        methods.push(match name.as_str() {
            "form" => LoginMethod::Form,
            "basic" => LoginMethod::Basic,
            "digest" => LoginMethod::Digest,
            "ticket" => LoginMethod::Ticket,
            other => {
                return Err(section.error(
                    "methods",
                    format!("unknown method `{other}` (known: form, basic, digest, ticket)"),
                ))
            }
        });
    }
    if methods.is_empty() {
        return Err(section.error("methods", "name at least one: form, basic, digest, ticket"));
    }
    if methods.contains(&LoginMethod::Form) && !methods.contains(&LoginMethod::Ticket) {
        section.needs(
            "session",
            Some("methods"),
            "\"form\" without \"ticket\" keeps the login in a session",
        );
    }
    let htpasswd = match section.path("users")? {
        Some(path) => {
            Some(HtpasswdFile::open(&path).map_err(|err| section.error("users", err.to_string()))?)
        }
        None => None,
    };
    let htdigest = match section.path("digest_users")? {
        Some(path) => Some(
            HtdigestFile::open(&path)
                .map_err(|err| section.error("digest_users", err.to_string()))?,
        ),
        None => None,
    };
    let digest_algorithms: Vec<&'static str> = htdigest
        .as_ref()
        .map(|h| h.algorithms())
        .unwrap_or_default();
    if methods.contains(&LoginMethod::Digest) && htdigest.is_none() {
        return Err(section.error(
            "digest_users",
            "digest needs an htdigest file (htpasswd hashes cannot answer a Digest challenge)",
        ));
    }
    if htpasswd.is_none() && htdigest.is_none() && methods.iter().any(|m| *m != LoginMethod::Ticket)
    {
        return Err(section.error("users", "name the htpasswd file of the users"));
    }
    let mut layer = LoginLayer::new(UserFiles::new(htpasswd, htdigest), &methods)
        .map_err(|err| section.section_error(err.to_string()))?;
    if !digest_algorithms.is_empty() {
        layer = layer.digest_algorithms(digest_algorithms);
    }
    if let Some(realm) = section.get::<String>("realm")? {
        if realm.contains(['"', '\\']) || realm.chars().any(char::is_control) {
            return Err(section.error(
                "realm",
                "a realm cannot hold quotes, backslashes or control characters",
            ));
        }
        layer = layer.realm(&realm);
    }
    if let Some(protect) = section.get::<OneOrMany>("protect")? {
        let prefixes = protect.into_vec();
        if let Some(bad) = prefixes.iter().find(|p| !p.starts_with('/')) {
            return Err(section.error(
                "protect",
                format!("`{bad}` is not a path starting with '/'"),
            ));
        }
        layer = layer.protect(prefixes);
    }
    for key in ["login_path", "logout_path"] {
        if let Some(path) = section.get::<String>(key)? {
            // The builder's own checks, so that Rust and TOML say the same.
            layer = if key == "login_path" {
                layer.login_path(&path)
            } else {
                layer.logout_path(&path)
            }
            .map_err(|err| section.error(key, err.to_string()))?;
        }
    }
    if let Some(path) = section.path("form_template")? {
        let template = std::fs::read_to_string(&path).map_err(|err| {
            section.error(
                "form_template",
                format!("cannot read {}: {err}", path.display()),
            )
        })?;
        layer = layer.form_template(&template);
    }
    if let Some(secret) = section.get::<String>("secret")? {
        layer = layer
            .secret(&secret)
            .map_err(|err| section.error("secret", err.to_string()))?;
    }
    let state_timeout = section.get::<HumanDuration>("state_timeout")?;
    match section.get::<String>("state")? {
        Some(url) => {
            layer = layer
                .state(&url)
                .map_err(|err| section.error("state", err.to_string()))?;
            if let Some(timeout) = state_timeout {
                if timeout.0.is_zero() {
                    return Err(section.error(
                        "state_timeout",
                        "a Redis operation needs some time: e.g. \"2s\"",
                    ));
                }
                layer = layer.state_timeout(timeout.0);
            }
            // `use = "health"` is ready only while the shared state answers.
            section.readiness().add(
                format!("filter.{}", section.name()),
                std::sync::Arc::new(LoginReady(layer.clone())),
            );
        }
        None if state_timeout.is_some() => {
            return Err(section.error(
                "state_timeout",
                "`state_timeout` applies to a shared state only: state = \"redis://…\"",
            ));
        }
        None => {}
    }
    let ticket = section.get::<TicketTable>("ticket")?;
    match ticket {
        Some(table) => {
            let mut options = TicketOptions::new(&table.secret);
            if let Some(digest) = table.digest {
                options.digest = TicketDigest::parse(&digest).ok_or_else(|| {
                    section.error(
                        "ticket",
                        format!("unknown digest `{digest}` (md5, sha256, sha512)"),
                    )
                })?;
            }
            if let Some(name) = table.cookie_name {
                options.cookie_name = name;
            }
            options.include_ip = table.include_ip.unwrap_or(false);
            if let Some(timeout) = table.timeout {
                options.timeout = timeout.0;
            }
            options.secure = table.secure.unwrap_or(false);
            options.http_only = table.http_only.unwrap_or(true);
            layer = layer
                .ticket(options)
                .map_err(|err| section.error("ticket", err.to_string()))?;
        }
        None if methods.contains(&LoginMethod::Ticket) => {
            return Err(section.error(
                "ticket",
                "the ticket method needs a ticket table with a secret",
            ));
        }
        None => {}
    }
    Ok(Filter::layer(layer))
}

/// `use = "cgi"`: `root` (a folder of scripts) or `script` (one), `timeout`,
/// `pass_env`, `max_concurrent`.
fn cgi(section: &mut Section<'_, '_>) -> Result<BoxApp, ConfigError> {
    let root = section.path("root")?;
    let script = section.path("script")?;
    let mut app = match (root, script) {
        (Some(root), None) => {
            if !root.is_dir() {
                return Err(section.error("root", format!("{} is not a folder", root.display())));
            }
            Cgi::root(root)
        }
        (None, Some(script)) => {
            if !script.is_file() {
                return Err(section.error("script", format!("{} is not a file", script.display())));
            }
            Cgi::script(script)
        }
        (Some(_), Some(_)) => return Err(section.error("script", "give root or script, not both")),
        (None, None) => {
            return Err(section.section_error("give root (a folder of scripts) or script (one)"))
        }
    };
    if let Some(timeout) = section.get::<HumanDuration>("timeout")? {
        app = app.timeout(timeout.0);
    }
    if let Some(names) = section.get::<Vec<String>>("pass_env")? {
        app = app.pass_env(names);
    }
    if let Some(n) = section.get::<usize>("max_concurrent")? {
        if n == 0 {
            return Err(section.error("max_concurrent", "must be at least 1"));
        }
        app = app.max_concurrent(n);
    }
    Ok(boxed_app(app))
}

/// `use = "proxy"`: `upstream` (`http://` or `https://host:port/base/`),
/// `preserve_host`, `rewrite_location`, `connect_timeout`, `timeout`,
/// `idle_timeout`, `ca` (a PEM file), `insecure_skip_verify`, `h2c`,
/// `pool_max_idle`, `pool_idle_timeout`, `max_connections`.
fn proxy(section: &mut Section<'_, '_>) -> Result<BoxApp, ConfigError> {
    let upstream: String = section.require("upstream")?;
    let connect_timeout = section
        .get::<HumanDuration>("connect_timeout")?
        .map_or(towerkit_proxy::DEFAULT_CONNECT_TIMEOUT, |d| d.0);
    let timeout = section
        .get::<HumanDuration>("timeout")?
        .map_or(towerkit_proxy::DEFAULT_TIMEOUT, |d| d.0);
    let mut proxy = Proxy::with_timeouts(&upstream, connect_timeout, timeout)
        .map_err(|err| section.error("upstream", err))?;
    if let Some(preserve) = section.get::<bool>("preserve_host")? {
        proxy = proxy.preserve_host(preserve);
    }
    if let Some(rewrite) = section.get::<bool>("rewrite_location")? {
        proxy = proxy.rewrite_location(rewrite);
    }
    if let Some(idle) = section.get::<HumanDuration>("idle_timeout")? {
        proxy = proxy.idle_timeout(idle.0);
    }
    if let Some(ca) = section.path("ca")? {
        proxy = proxy.ca_file(ca).map_err(|err| section.error("ca", err))?;
    }
    if let Some(skip) = section.get::<bool>("insecure_skip_verify")? {
        proxy = proxy.insecure_skip_verify(skip);
    }
    if let Some(h2c) = section.get::<bool>("h2c")? {
        proxy = proxy.h2c(h2c);
    }
    if let Some(n) = section.get::<usize>("pool_max_idle")? {
        proxy = proxy.pool_max_idle(n);
    }
    if let Some(idle) = section.get::<HumanDuration>("pool_idle_timeout")? {
        proxy = proxy.pool_idle_timeout(idle.0);
    }
    if let Some(n) = section.get::<usize>("max_connections")? {
        if n == 0 {
            return Err(section.error("max_connections", "must be at least 1"));
        }
        proxy = proxy.max_connections(n);
    }
    Ok(boxed_app(proxy))
}
