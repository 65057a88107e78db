//! tower-sessions on bare hyper: `GET /count` reads and writes a counter in
//! the session, anything else answers without touching it.
//!
//! `tower-sessions-peer memory ADDR` or `tower-sessions-peer redis URL ADDR`
//! prints `listening on http://ADDR` on stderr.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::Layer;
use tower_sessions::{MemoryStore, Session, SessionManagerLayer, SessionStore};
use tower_sessions_redis_store::fred::prelude::{ClientLike, Config, Pool};
use tower_sessions_redis_store::RedisStore;

async fn handle(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let text = match (req.uri().path(), req.extensions().get::<Session>()) {
        ("/count", Some(session)) => {
            let n: u64 = session.get("n").await.ok().flatten().unwrap_or(0) + 1;
            let _ = session.insert("n", n).await;
            n.to_string()
        }
        _ => "hello".to_owned(),
    };
    Ok(Response::new(Full::new(Bytes::from(text + "\n"))))
}

async fn serve<S: SessionStore + Clone>(store: S, addr: &str) -> std::io::Result<()> {
    let listener = TcpListener::bind(addr).await?;
    eprintln!(
        "tower-sessions: listening on http://{}",
        listener.local_addr()?
    );
    let layer = SessionManagerLayer::new(store).with_secure(false);
    let service = TowerToHyperService::new(layer.layer(tower::service_fn(handle)));
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let service = service.clone();
        tokio::spawn(async move {
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("memory") => {
            serve(
                MemoryStore::default(),
                args.get(1).map_or("127.0.0.1:0", String::as_str),
            )
            .await?
        }
        Some("redis") => {
            let url = args.get(1).ok_or("redis URL ADDR")?;
            let pool = Pool::new(Config::from_url(url)?, None, None, None, 4)?;
            let _connection = pool.connect();
            pool.wait_for_connect().await?;
            serve(
                RedisStore::new(pool),
                args.get(2).map_or("127.0.0.1:0", String::as_str),
            )
            .await?
        }
        _ => eprintln!("usage: tower-sessions-peer memory ADDR | redis URL ADDR"),
    }
    Ok(())
}
