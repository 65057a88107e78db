//! Each layer crate alone in an axum 0.8 `Router`, served by `axum::serve`
//! on a loopback port and driven by reqwest: what a user who takes one crate,
//! not the toolkit, observes. The client address comes from axum's
//! connect-info (`into_make_service_with_connect_info::<SocketAddr>()`).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::Router;

mod accesslog;
mod apps;
mod gzip;
mod httpexceptions;
mod hyper;
mod login;
mod proxyfix;
mod recursive;
mod session;
mod static_files;
mod urlmap;

/// Serves `app` on a loopback port, with axum's connect-info; its base URL.
pub async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    format!("http://{addr}")
}

/// A client whose connections come from `127.0.0.x`.
pub fn client_from(last: u8) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, last)))
        .build()
        .unwrap()
}

/// A client from `127.0.0.1`.
pub fn client() -> reqwest::Client {
    client_from(1)
}
