//! The factories every stack file can `use`, one file per crate they
//! build from; `register` names them all.

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

mod accesslog;
mod apps;
mod cgi;
mod files;
mod gzip;
mod httpexceptions;
mod login;
mod proxy;
mod proxyfix;
mod recursive;
mod routes;
mod session;
mod urlparser;

use accesslog::*;
use apps::*;
use cgi::*;
use files::*;
use gzip::*;
use httpexceptions::*;
use login::*;
use proxy::*;
use proxyfix::*;
use recursive::*;
use session::*;
use urlparser::*;

pub(crate) fn register(registry: &mut Registry) {
    registry.app("text", text);
    registry.app("echo", |_| Ok(boxed_app(Echo)));
    registry.app("health", health);
    registry.composite("urlmap", urlmap);
    registry.composite("cascade", cascade);
    // Rules name other sections, as a composite's keys do; the issue and
    // the book write it as an app.
    registry.app("routes", routes::routes);
    registry.composite("routes", routes::routes);
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
