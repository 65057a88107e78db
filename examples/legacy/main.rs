//! Wrapping legacy apps: a CGI script and a proxied service under one
//! stack, behind one login.
//!
//!     cargo run --example legacy                          # http://127.0.0.1:8080/
//!     cargo run --example legacy -- 127.0.0.1:0 --upstream http://127.0.0.1:9000
//!
//! Log in as `demo` / `demo` (HTTP Basic). `/cgi-bin/whoami.py` runs the
//! Python script in `cgi-bin/` for each request; `/service/…` is proxied to
//! the upstream. Without `--upstream`, a stand-in for the old service (an
//! echo of what it receives) is started on a free loopback port, so the
//! example runs alone.

use std::path::Path;
use std::time::Duration;

use tower::ServiceBuilder;
use towerkit::core::app::Echo;
use towerkit::core::BoxError;
use towerkit::deploy::boxed_app;
use towerkit::httpexceptions::HttpExceptionsLayer;
use towerkit::server::Server;
use towerkit::urlparser::UrlMap;
use towerkit_cgi::Cgi;
use towerkit_login::{HtpasswdFile, LoginLayer, LoginMethod};
use towerkit_proxy::Proxy;

// ANCHOR: stack
#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let mut args = std::env::args().skip(1);
    let mut addr = "127.0.0.1:8080".to_owned();
    let mut upstream = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--upstream" => upstream = args.next(),
            _ => addr = arg,
        }
    }
    let upstream = match upstream {
        Some(url) => url,
        None => stand_in_service().await?,
    };
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");

    let site = UrlMap::new()
        .mount(
            "/cgi-bin",
            boxed_app(Cgi::root(examples.join("legacy/cgi-bin")).timeout(Duration::from_secs(10))),
        )
        .mount("/service", boxed_app(Proxy::new(&upstream)?));
    let users = HtpasswdFile::open(examples.join("demo/users.htpasswd"))?;
    let stack = ServiceBuilder::new()
        .layer(HttpExceptionsLayer::new())
        .layer(LoginLayer::new(users, &[LoginMethod::Basic])?.protect(vec!["/".into()]))
        .service(site);

    let server = Server::bind([addr.parse()?]).await?;
    for url in server.urls() {
        eprintln!("legacy: listening on {url} (log in as demo / demo; /service -> {upstream})");
    }
    server.serve(stack).await?;
    Ok(())
}
// ANCHOR_END: stack

/// Starts the stand-in for the old service on a free loopback port and
/// returns its URL.
async fn stand_in_service() -> Result<String, BoxError> {
    let server = Server::bind(["127.0.0.1:0".parse()?]).await?;
    let url = format!("http://{}", server.local_addrs()[0]);
    tokio::spawn(server.serve(Echo));
    Ok(url)
}
