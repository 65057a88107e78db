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
//! error pages ─ gzip ─ sessions ─ login (form, everything protected) ─┬ /api     JSON: devices, toggles, who am I
//!                                                                     ├ /events  server-sent events of device changes
//!                                                                     └ /        the front end (public/)
//! ```

use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_TYPE};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::StreamBody;
use serde_json::{json, Value};
use tokio::sync::broadcast;
use tower::ServiceBuilder;
use towerkit::core::session::SessionFactory;
use towerkit::core::{
    handler, path_info, Body, BoxError, ConnectionInfo, HttpException, RemoteUser,
};
use towerkit::deploy::{boxed_app, BoxApp};
use towerkit::httpexceptions::HttpExceptionsLayer;
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
        .mount("/api", api(hub.clone()))
        .mount("/events", events(hub))
        .mount("/", boxed_app(ServeDir::new(here.join("public"))));
    let users = HtpasswdFile::open(here.join("users.htpasswd"))?;
    let stack = ServiceBuilder::new()
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
/// `GET /devices`, `POST /devices/{id}/toggle`, and `GET /me`: the user
/// the login layer found, and how often this session asked.
fn api(hub: Hub) -> BoxApp {
    boxed_app(handler(move |req: Request<Body>| {
        let hub = hub.clone();
        async move {
            let path = path_info(&req).to_owned();
            let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
            match (req.method(), segments.as_slice()) {
                (&Method::GET, ["devices"]) => {
                    Ok(json_response(StatusCode::OK, &hub.lock().json()))
                }
                (&Method::POST, ["devices", id, "toggle"]) => match hub.toggle(id) {
                    Some(change) => Ok(json_response(StatusCode::OK, &change)),
                    None => Err(HttpException::not_found()
                        .with_detail(format!("no switch called {id}"))
                        .into()),
                },
                (&Method::GET, ["me"]) => {
                    let user = req.extensions().get::<RemoteUser>().map(|u| u.name.clone());
                    let session = SessionFactory::of(&req).ok_or_else(|| {
                        HttpException::internal_server_error().with_detail("no session layer")
                    })?;
                    let visits: u64 = session.get("visits").await?.unwrap_or(0) + 1;
                    session.insert("visits", visits).await?;
                    Ok(json_response(
                        StatusCode::OK,
                        &json!({"user": user, "visits": visits}),
                    ))
                }
                (_, ["devices"] | ["me"]) => {
                    Err(HttpException::method_not_allowed(&[Method::GET]).into())
                }
                (_, ["devices", _, "toggle"]) => {
                    Err(HttpException::method_not_allowed(&[Method::POST]).into())
                }
                _ => Err::<_, BoxError>(HttpException::not_found().into()),
            }
        }
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
