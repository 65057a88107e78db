//! A `towerkit` command of one's own: every built-in factory, plus apps
//! registered here by name, usable from a stack file like the built-ins.
//!
//!     cargo run --example own_factories -- serve STACK.toml
//!
//! The apps misbehave on purpose, to show the error layers at work (the
//! integration tests use them too):
//!
//! | `use =` | options | what it does |
//! | --- | --- | --- |
//! | `panic` | `message` | panics in the handler |
//! | `fail-midway` | `first` | sends `first`, then the body fails |
//! | `forward` | `to` | forwards the request to another path |
//! | `include` | `uri` | includes another path in its page |
//! | `events` | | server-sent events: `GET /` streams `data: N`, one event per `POST /next` |
//! | `url-for` | `endpoint` | in a `routes` app: JSON of the rule that matched, and the URL of `endpoint` (default: its own) built from its values and the query's, as a path and absolute |
//! | `session-demo` | | a session: `/count` reads and writes, `/peek` reads, `/login` writes and cycles the id, `/logout` destroys, anything else leaves it alone |
//!
//! and a file handler, `environ`, for document roots.

use std::process::ExitCode;

use bytes::Bytes;
use futures_util::StreamExt;
use http::{Request, Response};
use http_body_util::StreamBody;
use towerkit::core::recursive::Recursive;
use towerkit::core::session::SessionFactory;
use towerkit::core::{handler, Body, BoxError, ConnectionInfo, HttpException};
use towerkit::deploy::{boxed_app, Registry};
use towerkit::routing::{url_for, Params, RouteMatch, Urls, Value};

fn main() -> ExitCode {
    let mut registry = Registry::with_builtins();

    // ANCHOR: panic
    registry.app("panic", |section| {
        let message: String = section
            .get("message")?
            .unwrap_or_else(|| "on purpose".into());
        Ok(boxed_app(handler(move |_req: Request<Body>| {
            let message = message.clone();
            async move {
                if !message.is_empty() {
                    panic!("{message}");
                }
                Ok::<_, BoxError>(Response::new(Body::empty()))
            }
        })))
    });
    // ANCHOR_END: panic

    registry.app("fail-midway", |section| {
        let first: String = section
            .get("first")?
            .unwrap_or_else(|| "first part\n".into());
        Ok(boxed_app(handler(move |_req: Request<Body>| {
            let first = Bytes::from(first.clone());
            async move {
                // The first part goes out; a moment later the source fails.
                let stream = futures_util::stream::once(async move {
                    Ok::<_, BoxError>(http_body::Frame::data(first))
                })
                .chain(futures_util::stream::once(async {
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    Err::<http_body::Frame<Bytes>, BoxError>("the data source went away".into())
                }));
                Ok::<_, BoxError>(Response::new(Body::new(StreamBody::new(stream))))
            }
        })))
    });

    // ANCHOR: recursion
    registry.app("forward", |section| {
        let to: String = section.require("to")?;
        Ok(boxed_app(handler(move |req: Request<Body>| {
            let forward = Recursive::forward(&req, to.as_str());
            async move { Err::<Response<Body>, BoxError>(forward.into()) }
        })))
    });

    registry.app("include", |section| {
        let uri: String = section.require("uri")?;
        Ok(boxed_app(handler(move |req: Request<Body>| {
            let included = Recursive::include(&req, &uri);
            async move {
                let part = included.await?.into_body().to_bytes().await?;
                let page = format!(
                    "<header>{}</header>\n",
                    String::from_utf8_lossy(&part).trim_end()
                );
                Ok::<_, BoxError>(Response::new(Body::from(page)))
            }
        })))
    });
    // ANCHOR_END: recursion

    registry.app("events", |_section| {
        // Each POST /next lets the stream write its next event: a client can
        // prove it received event N before event N+1 existed.
        let (next, _) = tokio::sync::broadcast::channel::<()>(16);
        Ok(boxed_app(handler(move |req: Request<Body>| {
            let next = next.clone();
            async move {
                if req.method() == http::Method::POST {
                    let _ = next.send(());
                    return Ok::<_, BoxError>(Response::new(Body::from("next\n")));
                }
                // Subscribed now: every POST from here on releases one event.
                let turns = next.subscribe();
                // The stream ends itself when the server shuts down, so that
                // even a compressed stream is closed properly.
                let shutdown = req
                    .extensions()
                    .get::<ConnectionInfo>()
                    .map(|info| info.shutdown.clone())
                    .unwrap_or_default();
                let stream = futures_util::stream::unfold(
                    (1u32, turns, shutdown),
                    |(n, mut turns, shutdown)| async move {
                        if n > 1 {
                            tokio::select! {
                                turn = turns.recv() => turn.ok()?,
                                _ = shutdown.requested() => return None,
                            }
                        }
                        let event = Bytes::from(format!("data: {n}\n\n"));
                        Some((
                            Ok::<_, BoxError>(http_body::Frame::data(event)),
                            (n + 1, turns, shutdown),
                        ))
                    },
                );
                let mut response = Response::new(Body::new(StreamBody::new(stream)));
                response.headers_mut().insert(
                    http::header::CONTENT_TYPE,
                    http::HeaderValue::from_static("text/event-stream"),
                );
                Ok(response)
            }
        })))
    });

    // ANCHOR: sessions
    registry.app("session-demo", |_section| {
        Ok(boxed_app(handler(|req: Request<Body>| async move {
            let Some(session) = SessionFactory::of(&req) else {
                return Err(HttpException::internal_server_error()
                    .with_detail("no session layer above")
                    .into());
            };
            let text = match towerkit::core::path_info(&req) {
                "/count" => {
                    let n: u64 = session.get("n").await?.unwrap_or(0) + 1;
                    session.insert("n", n).await?;
                    n.to_string()
                }
                "/peek" => session
                    .get::<u64>("n")
                    .await?
                    .map_or_else(|| "none".to_owned(), |n| n.to_string()),
                "/login" => {
                    session.insert("user", "ada").await?;
                    session.cycle_id().await?;
                    "in".to_owned()
                }
                "/logout" => {
                    session.destroy().await?;
                    "out".to_owned()
                }
                _ => "untouched".to_owned(),
            };
            Ok::<_, BoxError>(Response::new(Body::from(text + "\n")))
        })))
    });

    // ANCHOR_END: sessions

    // A file handler: what a document root hands the files of an extension
    // to (`handlers = { env = "environ" }`). This one shows what the file's
    // app sees: SCRIPT_NAME up to the file, PATH_INFO after it.
    // ANCHOR: url_for
    registry.app("url-for", |section| {
        let endpoint: Option<String> = section.get("endpoint")?;
        Ok(boxed_app(handler(move |req: Request<Body>| {
            let endpoint = endpoint.clone();
            async move {
                let route = RouteMatch::of(&req).ok_or("url-for answers inside a routes app")?;
                let endpoint = endpoint.as_deref().unwrap_or(route.endpoint());
                let query = req.uri().query().unwrap_or_default();
                let from_query = query
                    .split('&')
                    .filter_map(|pair| pair.split_once('='))
                    .map(|(k, v)| (k.to_owned(), Value::from(v)));
                let params: Params = route
                    .values()
                    .map(|(k, v)| (k.to_owned(), v.clone()))
                    .chain(from_query)
                    .collect();
                let body = serde_json::json!({
                    "endpoint": route.endpoint(),
                    "rule": route.rule(),
                    "params": route.params(),
                    "url": url_for(&req, endpoint, &params)?,
                    "external": Urls::of(&req)?.external(true).url_for(endpoint, &params)?,
                });
                Ok::<_, BoxError>(Response::new(Body::from(body.to_string())))
            }
        })))
    });
    // ANCHOR_END: url_for

    registry.file_handler("environ", |_path| boxed_app(towerkit::core::app::Echo));

    towerkit::cli::main_with(registry)
}
