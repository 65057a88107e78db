//! The session store under attack: a memory store filled past its capacity
//! by anonymous clients that each make a session, and a real Redis that
//! hangs (SIGSTOP) and dies (killed) under a logged-in user, then comes
//! back.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::{own_factories, require, Redis, Running, Stack};

/// An answer read off a connection.
#[derive(Debug)]
struct Answer {
    status: u16,
    /// The head, names lower-cased, lines ending in `\n`.
    head: String,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|line| {
            let (n, v) = line.split_once(':')?;
            (n == name).then(|| v.trim())
        })
    }
}

/// A keep-alive HTTP/1.1 connection: requests may be written in batches
/// (pipelined), answers are read back in order.
struct Connection {
    reader: BufReader<TcpStream>,
}

impl Connection {
    fn open(addr: SocketAddr) -> Connection {
        let stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        stream.set_nodelay(true).unwrap();
        Connection {
            reader: BufReader::new(stream),
        }
    }

    fn send(&mut self, requests: &str) {
        self.reader
            .get_mut()
            .write_all(requests.as_bytes())
            .unwrap();
    }

    /// The next answer; its body must have a `Content-Length`.
    fn answer(&mut self) -> Answer {
        let mut head = String::new();
        loop {
            let mut line = String::new();
            let n = self
                .reader
                .read_line(&mut line)
                .unwrap_or_else(|err| panic!("no answer within 30 s ({err}) after {head:?}"));
            assert!(n > 0, "the server closed the connection after {head:?}");
            if line == "\r\n" {
                break;
            }
            let line = line.trim_end();
            match line.split_once(':') {
                Some((name, value)) => {
                    head.push_str(&name.to_ascii_lowercase());
                    head.push(':');
                    head.push_str(value);
                }
                None => head.push_str(line),
            }
            head.push('\n');
        }
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no status in {head:?}"));
        let mut answer = Answer {
            status,
            head,
            body: String::new(),
        };
        let length: usize = answer
            .header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no content-length in {:?}", answer.head));
        let mut body = vec![0; length];
        self.reader.read_exact(&mut body).unwrap();
        answer.body = String::from_utf8_lossy(&body).into_owned();
        answer
    }

    /// One request, and its answer.
    fn get(&mut self, path: &str, headers: &[String]) -> Answer {
        self.send(&request("GET", path, headers, ""));
        self.answer()
    }
}

fn request(method: &str, path: &str, headers: &[String], body: &str) -> String {
    let mut text = format!("{method} {path} HTTP/1.1\r\nHost: x\r\n");
    for header in headers {
        text.push_str(header);
        text.push_str("\r\n");
    }
    if !body.is_empty() {
        text.push_str(&format!(
            "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    text.push_str("\r\n");
    text.push_str(body);
    text
}

/// One request on a connection of its own: the answer and how long it took.
fn timed(addr: SocketAddr, method: &str, path: &str, headers: &[String]) -> (Duration, Answer) {
    let started = Instant::now();
    let mut connection = Connection::open(addr);
    connection.send(&request(method, path, headers, ""));
    let answer = connection.answer();
    (started.elapsed(), answer)
}

/// The `name=value` of the session cookie an answer sets.
fn session_cookie(answer: &Answer) -> Option<String> {
    answer.head.lines().find_map(|line| {
        let value = line.strip_prefix("set-cookie:")?.trim();
        let pair = value.split(';').next()?;
        (pair.starts_with("towerkit_session=") && pair.len() > "towerkit_session=".len())
            .then(|| pair.to_owned())
    })
}

/// The `p` percentile of `samples`; `Duration::MAX` when there are none
/// (nothing was answered in time).
fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    if samples.is_empty() {
        return Duration::MAX;
    }
    samples.sort();
    let index = ((samples.len() as f64 * p).ceil() as usize).clamp(1, samples.len()) - 1;
    samples[index]
}

/// The memory store's default capacity, which the stack below keeps.
const CAPACITY: usize = 100_000;

/// Makes sessions on one connection, in batches of `batch` pipelined
/// requests that each store a new session, until `made` would pass
/// `until`, `done` is set or `stop` passes; returns the last cookie.
fn make_sessions(
    addr: SocketAddr,
    batch: usize,
    made: &AtomicUsize,
    until: usize,
    (done, stop): (&AtomicBool, Instant),
) -> Option<String> {
    let mut connection = Connection::open(addr);
    let requests = request("GET", "/count", &[], "").repeat(batch);
    let mut last = None;
    while !done.load(Ordering::Relaxed)
        && Instant::now() < stop
        && made.fetch_add(batch, Ordering::Relaxed) + batch <= until
    {
        connection.send(&requests);
        for _ in 0..batch {
            let answer = connection.answer();
            assert_eq!((answer.status, answer.body.as_str()), (200, "1\n"));
            last = session_cookie(&answer);
        }
    }
    last
}

/// What waiting is like while two clients make sessions as fast as they
/// can: the p99 of a request that does not use its session, the median of
/// one that makes a session, and the newest session's cookie.
fn while_sessions_are_made(
    addr: SocketAddr,
    made: &Arc<AtomicUsize>,
) -> (Duration, Duration, Option<String>) {
    let stop = Instant::now() + Duration::from_secs(6);
    let done = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..2)
        .map(|_| {
            let (made, done) = (made.clone(), done.clone());
            std::thread::spawn(move || make_sessions(addr, 20, &made, usize::MAX, (&done, stop)))
        })
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let mut reader = Connection::open(addr);
    let mut untouched = Vec::new();
    while untouched.len() < 200 && Instant::now() < stop {
        let started = Instant::now();
        let answer = reader.get("/anything", &[]);
        untouched.push(started.elapsed());
        assert_eq!(answer.body, "untouched\n");
    }
    let mut writes = Vec::new();
    let mut newest = None;
    while writes.len() < 50 && Instant::now() < stop {
        let (took, answer) = timed(addr, "GET", "/count", &[]);
        writes.push(took);
        newest = session_cookie(&answer);
    }
    made.fetch_add(writes.len(), Ordering::Relaxed);
    // On a slow server, readers and writers stop at `stop`.
    done.store(true, Ordering::Relaxed);
    for writer in writers {
        writer.join().unwrap();
    }
    let untouched_p99 = percentile(&mut untouched, 0.99);
    let write_p50 = percentile(&mut writes, 0.5);
    eprintln!(
        "  GET /anything: {} answers, p50 {:?}, p99 {untouched_p99:?}; a new session: {} answers, p50 {write_p50:?}, p99 {:?}",
        untouched.len(),
        percentile(&mut untouched, 0.5),
        writes.len(),
        percentile(&mut writes, 0.99),
    );
    (untouched_p99, write_p50, newest)
}

/// Anonymous clients that each make a session fill a memory store up to
/// its capacity (the default, 100,000), then go on past it: every write
/// evicts a session. Waiting is no worse then than with the store half
/// full under the same load: a request that does not use its session (p99)
/// or one that makes a session (median) is answered as fast. (When every write
/// past capacity sorted the store, each took over 100 ms under the lock
/// on a runtime thread, and everyone waited.) The newest sessions are
/// kept.
#[test]
fn a_full_memory_store_holds_up_no_one() {
    let stack = Stack::new(
        r#"
[pipeline.main]
pipeline = ["sessions", "demo"]

[filter.sessions]
use = "session"

[app.demo]
use = "session-demo"
"#,
    );
    let server = stack.serve_with(own_factories(), &["127.0.0.1:0"]);
    let addr = server.addr();
    let made = Arc::new(AtomicUsize::new(0));
    let fill = |until: usize| {
        let started = Instant::now();
        let fillers: Vec<_> = (0..2)
            .map(|_| {
                let made = made.clone();
                let stop = Instant::now() + Duration::from_secs(40);
                let never = AtomicBool::new(false);
                std::thread::spawn(move || make_sessions(addr, 100, &made, until, (&never, stop)))
            })
            .collect();
        for filler in fillers {
            filler.join().unwrap();
        }
        // The batch that would have passed `until` was not sent.
        made.store(until, Ordering::Relaxed);
        eprintln!("{until} sessions made, {:?}", started.elapsed());
    };

    fill(CAPACITY / 2);
    eprintln!("half full:");
    let (half_untouched, half_write, _) = while_sessions_are_made(addr, &made);
    fill(CAPACITY);
    eprintln!("full, each write evicting one:");
    let (full_untouched, full_write, newest) = while_sessions_are_made(addr, &made);
    // Generous bounds (a loaded machine); sorting, both were seconds.
    assert!(
        full_untouched < half_untouched.saturating_mul(3).saturating_add(Duration::from_millis(50)),
        "a request that does not use its session: p99 {full_untouched:?} full, {half_untouched:?} half full"
    );
    assert!(
        full_write
            < half_write
                .saturating_mul(3)
                .saturating_add(Duration::from_millis(20)),
        "a request that makes a session: p50 {full_write:?} full, {half_write:?} half full"
    );
    // The newest session is still there.
    let newest = newest.expect("a session cookie");
    let answer = Connection::open(addr).get("/peek", &[format!("Cookie: {newest}")]);
    assert_eq!(answer.body, "1\n");
}

/// A users file with ada (password `pass`), made by Apache's `htpasswd`.
fn users(stack: &Stack) {
    let file = stack.path().join("users.htpasswd");
    let out = Command::new("htpasswd")
        .args(["-cbs", file.to_str().unwrap(), "ada", "pass"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
}

/// Sessions in Redis with `options`, a form login, `/private` protected.
fn redis_stack(redis: &Redis, options: &str) -> Stack {
    let stack = Stack::new(&format!(
        r#"
[pipeline.main]
pipeline = ["errors", "sessions", "auth", "site"]

[filter.errors]
use = "http-exceptions"

[filter.sessions]
use = "session"
store = "redis"
url = "{url}"
{options}

[filter.auth]
use = "login"
methods = ["form"]
users = "users.htpasswd"
protect = ["/private"]

[composite.site]
use = "urlmap"
"/" = "demo"
"/private" = "env"

[app.env]
use = "echo"

[app.demo]
use = "session-demo"
"#,
        url = redis.url()
    ));
    users(&stack);
    stack
}

/// Logs ada in with the form; the session cookie.
fn log_in(server: &Running) -> String {
    let mut connection = Connection::open(server.addr());
    let body = "username=ada&password=pass&next=/private/";
    connection.send(&request("POST", "/login", &[], body));
    let answer = connection.answer();
    assert_eq!(answer.status, 303, "{answer:?}");
    session_cookie(&answer).expect("a session cookie")
}

/// The pid of a running Redis, from itself.
fn redis_pid(redis: &Redis) -> i32 {
    redis
        .cli(&["INFO", "server"])
        .lines()
        .find_map(|l| l.trim().strip_prefix("process_id:"))
        .and_then(|pid| pid.parse().ok())
        .expect("Redis tells its pid")
}

fn signal(pid: i32, signal: i32) {
    // SAFETY: kill(2) on the Redis server this test started.
    unsafe {
        libc::kill(pid, signal);
    }
}

/// Waits (at most `within`) until `path` answers something other than 503.
fn until_answered(addr: SocketAddr, path: &str, cookie: &str, within: Duration) -> Answer {
    let deadline = Instant::now() + within;
    loop {
        let headers = [format!("Cookie: {cookie}"), "Accept: text/html".to_owned()];
        let (_, answer) = timed(addr, "GET", path, &headers);
        if answer.status != 503 {
            return answer;
        }
        assert!(
            Instant::now() < deadline,
            "still 503 {within:?} after the store came back"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn count(server: &Running, text: &str) -> usize {
    server.stderr().iter().filter(|l| l.contains(text)).count()
}

/// While the store cannot answer, every request of a logged-in user that
/// needs the session is a 503 with `Retry-After`, in the format the client
/// accepts, never a way to the login form; each answer comes within the
/// store's timeout (1 s here, 2 s by default); the outage is logged once,
/// and so is its end. Redis hung (SIGSTOP) keeps the session through it;
/// Redis killed loses it, and the user then logs in again.
#[test]
fn a_hung_then_dead_redis_is_a_503_within_the_timeout() {
    if !require("redis-server") || !require("htpasswd") {
        return;
    }
    let mut redis = Redis::start();
    let set = redis_stack(&redis, "timeout = \"1s\"");
    let server = set.serve_with(own_factories(), &["127.0.0.1:0"]);
    let default = redis_stack(&redis, "");
    let by_default = default.serve_with(own_factories(), &["127.0.0.1:0"]);
    let addr = server.addr();
    let cookie = log_in(&server);
    let with_cookie = |accept: &str| vec![format!("Cookie: {cookie}"), format!("Accept: {accept}")];
    let (_, answer) = timed(addr, "GET", "/private/", &with_cookie("*/*"));
    assert_eq!(answer.status, 200, "{answer:?}");
    assert!(
        answer.body.contains("\"remote_user\":\"ada\""),
        "{answer:?}"
    );
    let (_, answer) = timed(addr, "GET", "/count", &with_cookie("*/*"));
    assert_eq!(answer.body, "1\n");
    let other = log_in(&by_default);

    // Hung: the connection stays open, nothing answers.
    let pid = redis_pid(&redis);
    signal(pid, libc::SIGSTOP);
    let clients: Vec<_> = [
        ("/private/", "text/html", "text/html"),
        ("/private/x", "application/json", "application/problem+json"),
        ("/count", "application/json", "application/problem+json"),
        ("/count", "text/html", "text/html"),
        ("/", "text/plain", "text/plain"),
    ]
    .into_iter()
    .map(|(path, accept, expected)| {
        let headers = with_cookie(accept);
        std::thread::spawn(move || (path, expected, timed(addr, "GET", path, &headers)))
    })
    .collect();
    let defaulted = std::thread::spawn(move || {
        timed(
            by_default.addr(),
            "GET",
            "/private/",
            &[format!("Cookie: {other}")],
        )
    });
    for client in clients {
        let (path, expected, (took, answer)) = client.join().unwrap();
        assert_eq!(answer.status, 503, "{path}, Redis hung: {answer:?}");
        assert!(answer.header("retry-after").is_some(), "{answer:?}");
        assert!(
            answer
                .header("content-type")
                .is_some_and(|t| t.starts_with(expected)),
            "{path}: {answer:?}"
        );
        assert!(
            took < Duration::from_millis(1800),
            "{path}: answered after {took:?} with a 1 s timeout"
        );
    }
    let (took, answer) = defaulted.join().unwrap();
    assert_eq!(answer.status, 503, "{answer:?}");
    assert!(
        took < Duration::from_millis(2800),
        "answered after {took:?} with the default timeout (2 s)"
    );
    let unavailable = "the session store is unavailable";
    assert!(server.wait_for_log(unavailable));
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(count(&server, unavailable), 1, "{:?}", server.stderr());

    // Woken: the same session, without a restart of towerkit.
    signal(pid, libc::SIGCONT);
    let answer = until_answered(addr, "/private/", &cookie, Duration::from_secs(5));
    assert_eq!(answer.status, 200, "{answer:?}");
    let (_, answer) = timed(addr, "GET", "/count", &with_cookie("*/*"));
    assert_eq!(answer.body, "2\n", "the session lived through the hang");
    let again = "the session store answers again";
    assert!(server.wait_for_log(again));

    // Killed: refused at once, so answered at once.
    redis.kill();
    let (took, answer) = timed(addr, "GET", "/private/", &with_cookie("text/html"));
    assert_eq!(answer.status, 503, "Redis killed: {answer:?}");
    assert!(took < Duration::from_millis(1500), "took {took:?}");
    for _ in 0..5 {
        let (_, answer) = timed(addr, "GET", "/count", &with_cookie("*/*"));
        assert_eq!(answer.status, 503);
    }
    assert!(server.wait_for_logs(unavailable, 2));
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(count(&server, unavailable), 2, "{:?}", server.stderr());

    // Back, empty: the session went with the killed Redis, so now (and
    // only now) the user is sent to log in again, and can.
    redis.restart();
    let answer = until_answered(addr, "/private/", &cookie, Duration::from_secs(10));
    assert_eq!(answer.status, 303, "{answer:?}");
    assert!(server.wait_for_logs(again, 2));
    let cookie = log_in(&server);
    let (_, answer) = timed(addr, "GET", "/private/", &[format!("Cookie: {cookie}")]);
    assert_eq!(answer.status, 200, "{answer:?}");
}
