//! Holds many connections open against a server, to measure what they cost
//! it: `hold-conns ADDR N PATH [SECONDS]` opens N connections to ADDR (a
//! loopback address), sends `GET PATH` on each, reads the response head (and
//! for an event stream its first event), prints `holding N` and keeps them
//! all open, idle, for SECONDS (default 5).

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = || std::io::Error::other("usage: hold-conns ADDR N PATH [SECONDS]");
    let addr: std::net::SocketAddr = args
        .first()
        .and_then(|a| a.parse().ok())
        .ok_or_else(usage)?;
    if !addr.ip().is_loopback() {
        return Err(std::io::Error::other("only loopback addresses"));
    }
    let count: usize = args.get(1).and_then(|a| a.parse().ok()).ok_or_else(usage)?;
    let path = args.get(2).ok_or_else(usage)?.clone();
    let seconds: u64 = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(5);
    towerkit_server::raise_open_files_limit();
    let request = format!("GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n");
    let mut held = Vec::with_capacity(count);
    // Opened in batches so that the listen backlog is never overrun.
    for batch in (0..count).collect::<Vec<_>>().chunks(500) {
        let mut tasks = tokio::task::JoinSet::new();
        for _ in batch {
            let request = request.clone();
            tasks.spawn(async move {
                let mut stream = TcpStream::connect(addr).await?;
                stream.write_all(request.as_bytes()).await?;
                let mut seen = Vec::new();
                let mut buf = [0u8; 1024];
                // The head, and for an event stream, the first event.
                while !complete(&seen) {
                    let n = stream.read(&mut buf).await?;
                    if n == 0 {
                        return Err(std::io::Error::other("closed by the server"));
                    }
                    seen.extend_from_slice(&buf[..n]);
                }
                Ok::<_, std::io::Error>(stream)
            });
        }
        while let Some(joined) = tasks.join_next().await {
            held.push(joined.map_err(std::io::Error::other)??);
        }
    }
    println!("holding {}", held.len());
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    Ok(())
}

/// The response head has arrived, and for an event stream its first event.
fn complete(seen: &[u8]) -> bool {
    let head = seen.windows(4).any(|w| w == b"\r\n\r\n");
    let waiting_for_event =
        seen.starts_with(b"HTTP/1.1 200") && is_stream(seen) && !has_event(seen);
    head && !waiting_for_event
}

fn is_stream(seen: &[u8]) -> bool {
    String::from_utf8_lossy(seen)
        .to_ascii_lowercase()
        .contains("content-type: text/event-stream")
}

fn has_event(seen: &[u8]) -> bool {
    seen.windows(5).any(|w| w == b"data:")
}
