//! Three instances of the real binary behind a real nginx (round robin)
//! share one Redis, as the book's "many instances" listings set them up:
//! a form login at one is honoured by all, a Digest challenge of one is
//! answered at another without a new prompt, an `nc` used at one is
//! refused at the others, wrong passwords spread across them meet one
//! budget, and a Redis outage is a 503, then passes by itself.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use md5::{Digest as _, Md5};

use common::{curl, curl_output, headers, require, towerkit, Nginx, Redis, Running};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// demo's password is demo (bcrypt, as `htpasswd -B` writes it).
const HTPASSWD: &str = "demo:$2y$05$WlDNT6YniTRTS8sAEbt3oeB5r1Oq0Ft9/PR0h2iLn7eXc6eaYDcxa\n";

fn md5_hex(text: &str) -> String {
    Md5::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The book's listing with the test's Redis, beside its users, in a
/// folder of its own.
fn stack(redis: &Redis) -> (tempfile::TempDir, PathBuf) {
    let listing = Path::new(ROOT).join("book/listings/many-instances.toml");
    let text = std::fs::read_to_string(listing)
        .unwrap()
        .replace("redis://127.0.0.1:6379/", &redis.url());
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("many-instances.toml");
    std::fs::write(&config, text).unwrap();
    std::fs::write(dir.path().join("users.htpasswd"), HTPASSWD).unwrap();
    // As `htdigest` writes it: MD5 of user:realm:password.
    let ha1 = md5_hex("demo:hub:demo");
    std::fs::write(
        dir.path().join("users.htdigest"),
        format!("demo:hub:{ha1}\n"),
    )
    .unwrap();
    (dir, config)
}

fn serve(config: &Path, args: &[&str]) -> Running {
    let mut command = towerkit();
    command
        .arg("serve")
        .arg(config)
        .args(["--listen", "127.0.0.1:0"])
        .args(args);
    Running::start_command(command)
}

/// The value of the sample `name` (labels included) in a Prometheus text
/// scrape, 0 when absent.
fn sample(scrape: &str, name: &str) -> f64 {
    scrape
        .lines()
        .find_map(|line| line.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or(0.0)
}

/// The `nonce` of the Digest challenge in a response head.
fn challenge_nonce(head: &str) -> String {
    let challenge = head
        .lines()
        .find(|l| {
            l.to_ascii_lowercase()
                .starts_with("www-authenticate: digest")
        })
        .unwrap_or_else(|| panic!("no Digest challenge in {head}"));
    let start = challenge.find("nonce=\"").expect("a nonce") + 7;
    let end = challenge[start..].find('"').expect("a quoted nonce");
    challenge[start..start + end].to_owned()
}

/// `Authorization: Digest …` for demo, computed as RFC 7616 says
/// (algorithm MD5, qop auth).
fn digest_authorization(nonce: &str, nc: u32, uri: &str) -> String {
    let (cnonce, nc) = ("0a4f113b", format!("{nc:08x}"));
    let ha1 = md5_hex("demo:hub:demo");
    let ha2 = md5_hex(&format!("GET:{uri}"));
    let response = md5_hex(&format!("{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}"));
    format!(
        "Authorization: Digest username=\"demo\", realm=\"hub\", nonce=\"{nonce}\", \
         uri=\"{uri}\", algorithm=MD5, qop=auth, nc={nc}, cnonce=\"{cnonce}\", \
         response=\"{response}\""
    )
}

/// The status line's code and the head, of a GET with `args`.
fn get(url: &str, args: &[&str]) -> (String, String) {
    let mut all = args.to_vec();
    all.push(url);
    let head = headers(&all);
    let status = head
        .split_whitespace()
        .nth(1)
        .unwrap_or_else(|| panic!("no status line: {head:?}"))
        .to_owned();
    (status, head)
}

fn header<'h>(head: &'h str, name: &str) -> Option<&'h str> {
    head.lines().find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// Who the echo app saw, and how they logged in.
fn who(url: &str, args: &[&str]) -> (String, String) {
    let mut all = vec!["-s"];
    all.extend_from_slice(args);
    all.push(url);
    let body = curl(&all);
    let echo: serde_json::Value =
        serde_json::from_str(&body).unwrap_or_else(|err| panic!("{err}: {body}"));
    (
        echo["remote_user"].as_str().unwrap_or("-").to_owned(),
        echo["auth_type"].as_str().unwrap_or("-").to_owned(),
    )
}

/// How many lines holding `text` all three logs have, once `expected`
/// are there (at most 10 s: a line may reach the pipe after its answer).
fn logged(instances: &[Running], text: &str, expected: usize) -> Vec<usize> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let counts: Vec<usize> = instances
            .iter()
            .map(|i| i.stderr().iter().filter(|l| l.contains(text)).count())
            .collect();
        if counts.iter().sum::<usize>() >= expected || Instant::now() > deadline {
            return counts;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn three_instances_share_logins_nonces_and_one_throttle() {
    if !require("nginx") || !require("redis-server") || !require("curl") {
        return;
    }
    let mut redis = Redis::start();
    let (_dir, config) = stack(&redis);
    // The first instance's metrics, on a port of its own.
    let metrics = format!("127.0.0.1:{}", common::free_port());
    let instances: Vec<Running> = (0..3)
        .map(|n| match n {
            0 => serve(&config, &["--metrics-listen", &metrics]),
            _ => serve(&config, &[]),
        })
        .collect();
    assert!(instances[0].wait_for_log("metrics at"));
    let conf = std::fs::read_to_string(Path::new(ROOT).join("book/listings/nginx-many.conf"))
        .unwrap()
        .replace("127.0.0.1:8081", &instances[0].addr().to_string())
        .replace("127.0.0.1:8082", &instances[1].addr().to_string())
        .replace("127.0.0.1:8083", &instances[2].addr().to_string())
        .replace("listen 127.0.0.1:8000", "listen 127.0.0.1:{port}");
    let nginx = Nginx::start(&conf);
    let direct = |n: usize, path: &str| instances[n].url(path);

    // A form login through nginx lands at one instance; every instance
    // knows the user (the session is in Redis).
    let jar = tempfile::NamedTempFile::new().unwrap();
    let jar = jar.path().to_str().unwrap().to_owned();
    let cookies = ["-b", jar.as_str(), "-c", jar.as_str()];
    let fields = "username=demo&password=demo&next=/private/";
    let login = common::post_form(&jar, &nginx.url("/login"), fields);
    assert_eq!(login, "303");
    assert_eq!(logged(&instances, "logged in", 1).iter().sum::<usize>(), 1);
    for _ in 0..3 {
        let seen = who(&nginx.url("/private/"), &cookies);
        assert_eq!(seen, ("demo".to_owned(), "form".to_owned()));
    }
    for n in 0..3 {
        let seen = who(&direct(n, "/private/"), &cookies);
        assert_eq!(seen, ("demo".to_owned(), "form".to_owned()), "instance {n}");
    }

    // A Digest challenge of the first instance, answered at the second:
    // no new prompt (the nonce key comes from the shared secret).
    let (status, head) = get(&direct(0, "/private/"), &[]);
    assert_eq!(status, "401", "{head}");
    let nonce = challenge_nonce(&head);
    let first = digest_authorization(&nonce, 1, "/private/");
    let seen = who(&direct(1, "/private/"), &["-H", &first]);
    assert_eq!(seen, ("demo".to_owned(), "Digest".to_owned()));
    // The same nc again, at the third: a replay, refused (stale, so a
    // browser retries with a new nonce without asking the user).
    for n in [2, 0] {
        let (status, head) = get(&direct(n, "/private/"), &["-H", &first]);
        assert_eq!(status, "401", "instance {n}: {head}");
        assert!(head.contains("stale=true"), "instance {n}: {head}");
    }
    // The next count is fine anywhere; the one before it is not.
    let third = digest_authorization(&nonce, 3, "/private/");
    assert_eq!(who(&direct(2, "/private/"), &["-H", &third]).0, "demo");
    let second = digest_authorization(&nonce, 2, "/private/");
    assert_eq!(get(&direct(0, "/private/"), &["-H", &second]).0, "401");
    // A nonce no instance made (signed with another key) is no nonce.
    let forged = digest_authorization(
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        1,
        "/private/",
    );
    let (status, head) = get(&direct(1, "/private/"), &["-H", &forged]);
    assert_eq!(status, "401");
    assert!(!head.contains("stale=true"), "{head}");

    // The refused replays were counted as failures of the pair (only a
    // right answer's nc is recorded); a right password starts it again.
    assert_eq!(who(&direct(0, "/private/"), &["-u", "demo:demo"]).0, "demo");

    // Twelve wrong passwords at once through nginx, spread across the
    // three: one budget, so ten are checked (401) and two refused unchecked
    // (429), as at one instance.
    let attempts: Vec<_> = (0..12)
        .map(|_| {
            let url = nginx.url("/private/");
            std::thread::spawn(move || get(&url, &["-u", "demo:wrong"]).0)
        })
        .collect();
    let mut statuses: Vec<String> = attempts.into_iter().map(|t| t.join().unwrap()).collect();
    statuses.sort();
    assert_eq!(
        statuses.iter().filter(|s| *s == "401").count(),
        10,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| *s == "429").count(),
        2,
        "{statuses:?}"
    );
    let checked = logged(&instances, "a failed login", 10);
    assert_eq!(checked.iter().sum::<usize>(), 10, "{checked:?}");
    assert!(
        checked.iter().all(|n| *n >= 1),
        "spread across all three: {checked:?}"
    );
    // The pair is locked at every instance, the right password too.
    for n in 0..3 {
        let (status, head) = get(&direct(n, "/private/"), &["-u", "demo:demo"]);
        assert_eq!(status, "429", "instance {n}: {head}");
        let retry: u64 = header(&head, "retry-after").unwrap().parse().unwrap();
        assert!((1..=900).contains(&retry), "{head}");
    }
    // Its counts are in Redis, with the window as their TTL.
    let keys = redis.cli(&["--raw", "KEYS", "towerkit:login:pair:*"]);
    let key = keys.lines().next().expect("a pair's count in Redis");
    assert_eq!(redis.cli(&["--raw", "GET", key]).trim(), "10");
    let ttl: u64 = redis.cli(&["--raw", "TTL", key]).trim().parse().unwrap();
    assert!((1..=900).contains(&ttl), "{ttl}");

    // Each instance's health check asks the login's Redis too.
    for n in 0..3 {
        assert_eq!(curl(&["-s", &direct(n, "/healthz")]), "ready\n");
    }

    // Redis goes away: who asks cannot be decided, which is a 503 to try
    // again, not a logout and not a free pass.
    redis.kill();
    let unavailable = |status: &str, head: &str| {
        assert_eq!(status, "503", "{head}");
        assert_eq!(header(head, "retry-after"), Some("5"), "{head}");
    };
    let (status, head) = get(&nginx.url("/private/"), &cookies);
    unavailable(&status, &head);
    for n in 0..3 {
        let (status, head) = get(&direct(n, "/private/"), &["-u", "demo:demo"]);
        unavailable(&status, &head);
    }
    let (status, head) = get(&direct(0, "/private/"), &[]);
    assert_eq!(status, "401", "a challenge needs no Redis: {head}");
    let fresh = digest_authorization(&challenge_nonce(&head), 1, "/private/");
    let (status, head) = get(&direct(1, "/private/"), &["-H", &fresh]);
    unavailable(&status, &head);
    // The balancer is told: not ready, and why.
    let health = curl_output(&["-s", "-i", &direct(2, "/healthz")]);
    let health = String::from_utf8_lossy(&health.stdout).into_owned();
    assert!(health.starts_with("HTTP/1.1 503"), "{health}");
    assert!(health.contains("filter.auth"), "{health}");

    // Redis is back (empty: it keeps nothing on disk): no restart needed.
    redis.restart();
    for n in 0..3 {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (status, _) = get(&direct(n, "/private/"), &["-u", "demo:demo"]);
            if status == "200" {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "instance {n} still answers {status}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let fresh = digest_authorization(
        &challenge_nonce(&get(&direct(2, "/private/"), &[]).1),
        1,
        "/private/",
    );
    assert_eq!(who(&direct(0, "/private/"), &["-H", &fresh]).1, "Digest");
    assert_eq!(curl(&["-s", &direct(1, "/healthz")]), "ready\n");
    // What the first instance counted: its refusals (it refused the locked
    // pair at least once, above) and the outage.
    let scrape = curl(&["-s", &format!("http://{metrics}/metrics")]);
    let refused = sample(
        &scrape,
        "towerkit_login_throttle_refusals_total{reason=\"pair\"}",
    );
    assert!(refused >= 1.0, "{scrape}");
    assert!(
        sample(&scrape, "towerkit_login_state_errors_total") >= 1.0,
        "{scrape}"
    );
    drop(nginx);
}

/// `towerkit check` on a copy of the listing with `from` replaced by `to`:
/// its exit code and what it printed.
fn check_with(from: &str, to: &str) -> (Option<i32>, String) {
    let listing = Path::new(ROOT).join("book/listings/many-instances.toml");
    let text = std::fs::read_to_string(listing).unwrap();
    assert!(text.contains(from), "{from}");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("many-instances.toml");
    std::fs::write(&config, text.replace(from, to)).unwrap();
    std::fs::write(dir.path().join("users.htpasswd"), HTPASSWD).unwrap();
    std::fs::write(
        dir.path().join("users.htdigest"),
        "demo:hub:00000000000000000000000000000000\n",
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_towerkit"))
        .arg("check")
        .arg(&config)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let file = config.display().to_string();
    (output.status.code(), stderr.replace(&file, "FILE"))
}

#[test]
fn a_short_secret_or_a_state_that_is_not_redis_is_a_config_error() {
    let (code, message) = check_with(
        "secret = \"change me: 32 bytes or more, the same everywhere\"",
        "secret = \"too short\"",
    );
    assert_eq!(code, Some(2), "{message}");
    assert!(
        message.starts_with("towerkit: FILE:")
            && message.contains("[filter.auth] key `secret`: the secret must be at least 32 bytes")
            && message.contains("(it is 9)"),
        "{message}"
    );
    let (code, message) = check_with(
        "state = \"redis://127.0.0.1:6379/\"",
        "state = \"http://127.0.0.1:6379/\"",
    );
    assert_eq!(code, Some(2), "{message}");
    assert!(
        message.contains("[filter.auth] key `state`: the state must be a Redis URL"),
        "{message}"
    );
    let (code, message) = check_with("state_timeout = \"2s\"", "state_timeout = \"0s\"");
    assert_eq!(code, Some(2), "{message}");
    assert!(message.contains("key `state_timeout`"), "{message}");
    let (code, message) = check_with("state = \"redis://127.0.0.1:6379/\"", "# no shared state");
    assert_eq!(code, Some(2), "{message}");
    assert!(
        message.contains("key `state_timeout`: `state_timeout` applies to a shared state only"),
        "{message}"
    );
    // As written in the book, it is a stack (no connection is made yet).
    let (code, message) = check_with("use = \"echo\"", "use = \"echo\"");
    assert_eq!(code, Some(0), "{message}");
}
