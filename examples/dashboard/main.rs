//! The dashboard of a home-automation hub that left its home-grown server:
//! a static single-page front end, a JSON API, a live stream of device
//! changes, form login, sessions, gzip and TLS, in one towerkit stack
//! assembled in Rust.
//!
//!     cargo run --example dashboard                 # https://127.0.0.1:8443/
//!     cargo run --example dashboard -- 127.0.0.1:0  # any free port
//!
//! Log in as `admin` / `hub`. The certificate is made at start for
//! `localhost` and `127.0.0.1` (self-signed: the browser will ask); give
//! `--cert FILE --key FILE` to use real ones.
//!
//! The stack, outermost first:
//!
//! ```text
//! proxy-fix ─ error pages ─ gzip ─ sessions ─ login (form, everything protected) ─┬ /api     JSON on rules: devices, toggles, who am I
//!                                                                                 │          (towerkit-routing; URLs built with url_for)
//!                                                                                 ├ /events  server-sent events of device changes
//!                                                                                 └ /        the front end (public/)
//! ```

use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_TYPE};
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::StreamBody;
use serde_json::{json, Value};
use tokio::sync::broadcast;
use tower::ServiceBuilder;
use towerkit::core::session::SessionFactory;
use towerkit::core::{handler, Body, BoxError, ConnectionInfo, HttpException, RemoteUser};
use towerkit::deploy::{boxed_app, BoxApp};
use towerkit::httpexceptions::HttpExceptionsLayer;
use towerkit::proxyfix::ProxyFixLayer;
use towerkit::routing::{url_for, Map, Params, RouteMatch, Router, Urls};
use towerkit::server::{Server, TlsConfig};
use towerkit::urlparser::UrlMap;
use towerkit_gzip::GzipLayer;
use towerkit_login::{HtpasswdFile, LoginLayer, LoginMethod};
use towerkit_session::{MemoryStore, SessionLayer};
use towerkit_static::ServeDir;

// ANCHOR: stack
#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let args = Args::parse()?;
    let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/dashboard");
    let hub = Hub::start();

    let site = UrlMap::new()
        .mount("/api", api(hub.clone())?)
        .mount("/events", events(hub))
        .mount("/", boxed_app(ServeDir::new(here.join("public"))));
    let users = HtpasswdFile::open(here.join("users.htpasswd"))?;
    let stack = ServiceBuilder::new()
        // Behind a proxy on this machine: its scheme, host and prefix.
        .layer(ProxyFixLayer::new().x_host(1).x_prefix(1))
        .layer(HttpExceptionsLayer::new())
        .layer(GzipLayer::new())
        .layer(SessionLayer::new(MemoryStore::new(10_000)))
        .layer(LoginLayer::new(users, &[LoginMethod::Form])?.protect(vec!["/".into()]))
        .service(site);

    let server = Server::builder()
        .listen_tls(args.addr, args.tls()?)
        .bind()
        .await?;
    for url in server.urls() {
        eprintln!("dashboard: listening on {url} (log in as admin / hub)");
    }
    server.serve(stack).await?;
    Ok(())
}
// ANCHOR_END: stack

/// The devices and the channel their changes go out on.
#[derive(Clone)]
struct Hub {
    devices: Arc<Mutex<Devices>>,
    changes: broadcast::Sender<Value>,
}

struct Devices {
    lamp: bool,
    heater: bool,
    /// Tenths of a degree Celsius.
    temperature: i32,
}

impl Devices {
    fn json(&self) -> Value {
        json!([
            {"id": "lamp", "kind": "switch", "on": self.lamp},
            {"id": "heater", "kind": "switch", "on": self.heater},
            {"id": "thermometer", "kind": "sensor", "celsius": f64::from(self.temperature) / 10.0},
        ])
    }
}

impl Hub {
    /// The hub, with a thermometer that reports every second: up a tenth
    /// of a degree while the heater is on, down while it is off.
    fn start() -> Hub {
        let (changes, _) = broadcast::channel(64);
        let hub = Hub {
            devices: Arc::new(Mutex::new(Devices {
                lamp: false,
                heater: true,
                temperature: 195,
            })),
            changes,
        };
        let ticking = hub.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(1));
            loop {
                every.tick().await;
                let celsius = {
                    let mut devices = ticking.lock();
                    let step = if devices.heater { 1 } else { -1 };
                    devices.temperature = (devices.temperature + step).clamp(150, 260);
                    f64::from(devices.temperature) / 10.0
                };
                let _ = ticking
                    .changes
                    .send(json!({"id": "thermometer", "celsius": celsius}));
            }
        });
        hub
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Devices> {
        self.devices.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Flips a switch; `None` for a device that is not one.
    fn toggle(&self, id: &str) -> Option<Value> {
        let change = {
            let mut devices = self.lock();
            let on = match id {
                "lamp" => &mut devices.lamp,
                "heater" => &mut devices.heater,
                _ => return None,
            };
            *on = !*on;
            json!({"id": id, "on": *on})
        };
        let _ = self.changes.send(change.clone());
        Some(change)
    }
}

fn json_response(status: StatusCode, value: &Value) -> Response<Body> {
    let mut response = Response::new(Body::from(value.to_string()));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

// ANCHOR: api
/// The JSON API, on rules: `GET /devices`, `GET /devices/<id>`,
/// `POST /devices/<id>/toggle` and `GET /me`. Each device carries its own
/// URL and its toggle's, built with `url_for`: they include the mount
/// (`/api`) and, behind a proxy, its public prefix. A wrong method is a 405
/// with `Allow`, an unknown path a 404, both from the router.
fn api(hub: Hub) -> Result<BoxApp, BoxError> {
    let map = Map::builder()
        .route("GET /devices", "devices")?
        .route("GET /devices/<id>", "device")?
        .route("POST /devices/<id>/toggle", "toggle")?
        .route("GET /me", "me")?
        .build()?;
    let list = hub.clone();
    let one = hub.clone();
    let router = Router::builder(map)
        .endpoint(
            "devices",
            endpoint(move |req| {
                let devices = list.lock().json();
                let linked = devices
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|device| with_links(&req, device.clone()))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(json_response(StatusCode::OK, &Value::Array(linked)))
            }),
        )
        .endpoint(
            "device",
            endpoint(move |req| {
                let id = RouteMatch::of(&req)
                    .and_then(|m| m.str("id"))
                    .unwrap_or_default();
                let devices = one.lock().json();
                let device = devices
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|d| d["id"] == id)
                    .cloned()
                    .ok_or_else(|| {
                        HttpException::not_found().with_detail(format!("no device called {id}"))
                    })?;
                Ok(json_response(StatusCode::OK, &with_links(&req, device)?))
            }),
        )
        .endpoint(
            "toggle",
            endpoint(move |req| {
                let id = RouteMatch::of(&req)
                    .and_then(|m| m.str("id"))
                    .unwrap_or_default();
                match hub.toggle(id) {
                    Some(change) => Ok(json_response(StatusCode::OK, &change)),
                    None => Err(HttpException::not_found()
                        .with_detail(format!("no switch called {id}"))
                        .into()),
                }
            }),
        )
        .endpoint("me", boxed_app(handler(me)))
        .build()?;
    Ok(boxed_app(router))
}

/// `device` with the URLs of itself and (a switch) of its toggle.
fn with_links(req: &Request<Body>, mut device: Value) -> Result<Value, BoxError> {
    let id = device["id"].as_str().unwrap_or_default().to_owned();
    let params = Params::new().set("id", id);
    device["url"] = url_for(req, "device", &params)?.into();
    if device["kind"] == "switch" {
        device["toggle"] = url_for(req, "toggle", &params)?.into();
    }
    Ok(device)
}

/// The user the login layer found, how often this session asked, and the
/// API's public address: an absolute URL built behind the proxy (scheme,
/// host and prefix from `X-Forwarded-*`), which the page shows.
async fn me(req: Request<Body>) -> Result<Response<Body>, BoxError> {
    let user = req.extensions().get::<RemoteUser>().map(|u| u.name.clone());
    let session = SessionFactory::of(&req)
        .ok_or_else(|| HttpException::internal_server_error().with_detail("no session layer"))?;
    let visits: u64 = session.get("visits").await?.unwrap_or(0) + 1;
    session.insert("visits", visits).await?;
    let api = Urls::of(&req)?
        .external(true)
        .url_for("devices", &Params::new())?;
    Ok(json_response(
        StatusCode::OK,
        &json!({"user": user, "visits": visits, "api": api}),
    ))
}

/// An endpoint answering at once from the request.
fn endpoint<F>(answer: F) -> BoxApp
where
    F: Fn(Request<Body>) -> Result<Response<Body>, BoxError> + Clone + Send + Sync + 'static,
{
    boxed_app(handler(move |req: Request<Body>| {
        let answer = answer.clone();
        async move { answer(req) }
    }))
}
// ANCHOR_END: api

// ANCHOR: events
/// Server-sent events: every change of a device, as `event: device`. The
/// stream ends by itself when the server shuts down.
fn events(hub: Hub) -> BoxApp {
    boxed_app(handler(move |req: Request<Body>| {
        let changes = hub.changes.subscribe();
        let shutdown = req
            .extensions()
            .get::<ConnectionInfo>()
            .map(|info| info.shutdown.clone())
            .unwrap_or_default();
        async move {
            let first = Bytes::from_static(b"retry: 2000\n\n");
            let stream = futures_util::stream::unfold(
                (Some(first), changes, shutdown),
                |(first, mut changes, shutdown)| async move {
                    if let Some(first) = first {
                        return Some((Ok(frame(first)), (None, changes, shutdown)));
                    }
                    let change = loop {
                        tokio::select! {
                            change = changes.recv() => match change {
                                Ok(change) => break change,
                                // A slow client missed some: go on.
                                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                                Err(broadcast::error::RecvError::Closed) => return None,
                            },
                            () = shutdown.requested() => return None,
                        }
                    };
                    let event = Bytes::from(format!("event: device\ndata: {change}\n\n"));
                    Some((Ok::<_, Infallible>(frame(event)), (None, changes, shutdown)))
                },
            );
            let mut response = Response::new(Body::new(StreamBody::new(stream)));
            let headers = response.headers_mut();
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
            headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            Ok::<_, BoxError>(response)
        }
    }))
}
// ANCHOR_END: events

fn frame(bytes: Bytes) -> http_body::Frame<Bytes> {
    http_body::Frame::data(bytes)
}

/// The command line: `[ADDR] [--cert FILE --key FILE]`.
struct Args {
    addr: std::net::SocketAddr,
    cert: Option<(PathBuf, PathBuf)>,
}

impl Args {
    fn parse() -> Result<Args, BoxError> {
        let mut addr = "127.0.0.1:8443".to_owned();
        let (mut cert, mut key) = (None, None);
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--cert" => cert = args.next().map(PathBuf::from),
                "--key" => key = args.next().map(PathBuf::from),
                _ => addr = arg,
            }
        }
        let addr = addr
            .parse()
            .map_err(|_| format!("not an address to listen on: {addr}"))?;
        let cert = match (cert, key) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (None, None) => None,
            _ => return Err("give both --cert and --key".into()),
        };
        Ok(Args { addr, cert })
    }

    /// The given certificate, or one made now for this machine.
    fn tls(&self) -> Result<TlsConfig, BoxError> {
        if let Some((cert, key)) = &self.cert {
            return Ok(TlsConfig::from_pem_files(cert, key)?);
        }
        let made =
            rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])?;
        Ok(TlsConfig::from_pem(
            made.cert.pem().as_bytes(),
            made.signing_key.serialize_pem().as_bytes(),
        )?)
    }
}
