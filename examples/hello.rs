//! The smallest towerkit stack in Rust: two apps mounted by a `UrlMap`,
//! served until Ctrl-C.
//!
//!     cargo run --example hello
//!     curl http://127.0.0.1:8080/            # hello
//!     curl http://127.0.0.1:8080/env/a/b     # what the mounted app sees

use std::convert::Infallible;

use http::{Request, Response};
use tower::util::BoxCloneSyncService;
use towerkit::core::app::{Echo, Text};
use towerkit::core::Body;
use towerkit::server::Server;
use towerkit::urlparser::UrlMap;

type App = BoxCloneSyncService<Request<Body>, Response<Body>, Infallible>;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    // ANCHOR: site
    let site: UrlMap<App> = UrlMap::new()
        .mount("/", BoxCloneSyncService::new(Text::new("hello\n")))
        .mount("/env", BoxCloneSyncService::new(Echo));
    // ANCHOR_END: site
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8080".to_owned());
    let addr = addr
        .parse()
        .map_err(|_| std::io::Error::other(format!("not an address: {addr}")))?;
    let server = Server::bind([addr]).await?;
    for addr in server.local_addrs() {
        eprintln!("listening on http://{addr}");
    }
    server.serve(site).await
}
