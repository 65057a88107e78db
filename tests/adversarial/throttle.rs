//! Password guessing against the login throttle, from many loopback
//! addresses (a client socket bound to 127.x.y.z before it connects; all
//! of 127.0.0.0/8 is loopback on Linux): a parallel burst for one user,
//! the owner logging in from elsewhere, many long user names, and users
//! and addresses rotated together against the global budget.
//!
//! What is observed is what a client sees, and the server's log: a 401 is
//! a password that was checked and wrong, a 429 an attempt refused without
//! a check; the layer logs "a failed login" once per checked failure.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;

use crate::common::{Running, Stack};

/// `ada`'s password, `secret`, as `htpasswd -s` writes it.
const USERS: &str = "ada:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=\n";

fn serve() -> (Stack, Running) {
    let stack = Stack::new(
        r#"
[pipeline.main]
pipeline = ["auth", "hello"]

[filter.auth]
use = "login"
methods = ["basic"]
users = "users.htpasswd"
protect = ["/"]

[app.hello]
use = "text"
body = "hello"
"#,
    );
    stack.write("users.htpasswd", USERS);
    let server = stack.serve();
    (stack, server)
}

/// 127.a.b.c
fn loopback(a: u8, n: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, a, (n >> 8) as u8, n as u8))
}

/// `GET /` as `user:password` from `from`: the status.
async fn login(server: SocketAddr, from: IpAddr, credentials: &str) -> u16 {
    let attempt = async {
        let socket = TcpSocket::new_v4()?;
        socket.bind(SocketAddr::new(from, 0))?;
        let mut stream = socket.connect(server).await?;
        send(&mut stream, credentials).await
    };
    match tokio::time::timeout(Duration::from_secs(30), attempt).await {
        Ok(Ok(status)) => status,
        Ok(Err(err)) => panic!("from {from}: {err}"),
        Err(_) => panic!("from {from}: no answer in 30 s"),
    }
}

async fn send(stream: &mut tokio::net::TcpStream, credentials: &str) -> std::io::Result<u16> {
    use base64_free::encode;
    let request = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {}\r\nConnection: close\r\n\r\n",
        encode(credentials.as_bytes())
    );
    stream.write_all(request.as_bytes()).await?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await?;
    let head = String::from_utf8_lossy(&answer[..answer.len().min(20)]).into_owned();
    head.split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not an HTTP answer: {head:?}")))
}

/// Base64 (RFC 4648, padded), so that the suite needs no crate for it.
mod base64_free {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    pub fn encode(bytes: &[u8]) -> String {
        let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
        for chunk in bytes.chunks(3) {
            let b = [
                chunk[0],
                *chunk.get(1).unwrap_or(&0),
                *chunk.get(2).unwrap_or(&0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    }

    #[test]
    fn known_answers() {
        assert_eq!(encode(b"ada:secret"), "YWRhOnNlY3JldA==");
        assert_eq!(encode(b"ada:secre"), "YWRhOnNlY3Jl");
        assert_eq!(encode(b"ada:secr"), "YWRhOnNlY3I=");
    }
}

/// How many of `statuses` are `status`.
fn count(statuses: &[u16], status: u16) -> usize {
    statuses.iter().filter(|s| **s == status).count()
}

/// Checked failures so far, as the server logged them.
fn logged_failures(server: &Running) -> usize {
    server
        .stderr()
        .iter()
        .filter(|line| line.contains("a failed login"))
        .count()
}

/// `count` wrong passwords for `ada` from `from`, all at once (the
/// connections made first): the statuses.
async fn burst(server: SocketAddr, from: IpAddr, count: usize) -> Vec<u16> {
    let ready = Arc::new(tokio::sync::Barrier::new(count));
    let burst: Vec<_> = (0..count)
        .map(|n| {
            let ready = ready.clone();
            tokio::spawn(async move {
                let socket = TcpSocket::new_v4().unwrap();
                socket.bind(SocketAddr::new(from, 0)).unwrap();
                let mut stream = socket.connect(server).await.unwrap();
                ready.wait().await;
                send(&mut stream, &format!("ada:guess{n}")).await.unwrap()
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for answer in burst {
        statuses.push(answer.await.unwrap());
    }
    statuses
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parallel_burst_for_one_user_checks_at_most_ten() {
    let (_stack, server) = serve();
    let started = Instant::now();
    let statuses = burst(server.addr(), loopback(0, 1), 500).await;
    let took = started.elapsed();
    let (checked, refused) = (count(&statuses, 401), count(&statuses, 429));
    eprintln!("burst of 500: {checked} checked (401), {refused} refused (429) in {took:?}");
    assert_eq!(checked + refused, 500, "{statuses:?}");
    assert!(
        checked <= 10,
        "{checked} passwords checked of a burst of 500"
    );
    // The log agrees: no more failures were checked than answered 401.
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(logged_failures(&server), checked);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_owner_from_another_address_is_not_locked_out() {
    let (_stack, server) = serve();
    let (addr, attacker) = (server.addr(), loopback(0, 1));
    burst(addr, attacker, 30).await;
    // The attacker's address is locked out of `ada`, right password or not…
    assert_eq!(login(addr, attacker, "ada:secret").await, 429);
    // …and the owner, from another address, is not.
    assert_eq!(login(addr, loopback(0, 2), "ada:secret").await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_long_user_names_from_many_addresses_leave_memory_bounded() {
    let (_stack, server) = serve();
    let addr = server.addr();
    let long = "u".repeat(16 * 1024);
    let attempt = |n: u32| {
        let credentials = format!("{long}{n}:guess");
        async move { login(addr, loopback(1, n), &credentials).await }
    };
    // Warm up: the server's buffers for such requests are in the baseline.
    for n in 0..50 {
        attempt(n).await;
    }
    let before = server.peak_rss_kib();
    let mut statuses = Vec::new();
    for wave in 0..500u32 {
        let tasks: Vec<_> = (0..8)
            .map(|i| tokio::spawn(attempt(50 + wave * 8 + i)))
            .collect();
        for task in tasks {
            statuses.push(task.await.unwrap());
        }
    }
    let after = server.peak_rss_kib();
    let grown = after.saturating_sub(before);
    eprintln!(
        "4,000 attempts with 16 KB user names from 4,000 addresses: {} checked, {} refused; \
         peak RSS {before} KiB -> {after} KiB (+{grown} KiB)",
        count(&statuses, 401),
        count(&statuses, 429)
    );
    assert_eq!(count(&statuses, 401) + count(&statuses, 429), 4_000);
    assert!(
        grown < 16 * 1024,
        "the server grew by {grown} KiB for 4,000 failed logins"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotating_users_and_addresses_meet_the_global_budget() {
    const SECONDS: u64 = 6;
    let (_stack, server) = serve();
    let addr = server.addr();
    let home = loopback(0, 3);
    // The owner logged in from home before the attack.
    assert_eq!(login(addr, home, "ada:secret").await, 200);
    let started = Instant::now();
    let until = started + Duration::from_secs(SECONDS);
    let next = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let attackers: Vec<_> = (0..32)
        .map(|_| {
            let next = next.clone();
            tokio::spawn(async move {
                let mut seen = Vec::new();
                while Instant::now() < until {
                    let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let credentials = format!("user{n}:guess");
                    let status = login(addr, loopback(2, n), &credentials).await;
                    seen.push((started.elapsed(), status));
                }
                seen
            })
        })
        .collect();
    // Mid-attack, the owner logs in from home.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let owner = login(addr, home, "ada:secret").await;
    let mut seen = Vec::new();
    for attacker in attackers {
        seen.extend(attacker.await.unwrap());
    }
    let elapsed = started.elapsed().as_secs_f64();
    let checked: Vec<Duration> = seen
        .iter()
        .filter(|(_, status)| *status == 401)
        .map(|(at, _)| *at)
        .collect();
    let first = checked.iter().filter(|at| at.as_secs() < 1).count();
    let rest = checked.len() - first;
    let sustained = rest as f64 / (elapsed - 1.0);
    eprintln!(
        "rotating users and addresses: {} attempts in {elapsed:.1} s ({:.0}/s), {} passwords \
         checked ({:.1}/s): {first} in the first second, then {sustained:.1}/s; the rest 429",
        seen.len(),
        seen.len() as f64 / elapsed,
        checked.len(),
        checked.len() as f64 / elapsed,
    );
    assert_eq!(owner, 200, "the owner, from where they logged in before");
    assert!(first <= 100 + 10 + 5, "{first} checked in the first second");
    assert!(sustained <= 12.0, "{sustained:.1} checks a second");
    assert!(
        seen.len() > 10 * checked.len(),
        "the attack was fast enough to meet the budget"
    );
}
