//! Stacks in a real browser: headless Chromium, driven over WebDriver.
//!
//! - The dashboard: logs in through the form, sees the protected page,
//!   receives server-sent events through gzip in an `EventSource`, flips a
//!   switch, reloads and is still logged in, and logs out. A screenshot is
//!   left in `target/tmp/dashboard.png`.
//! - The README's demo stack: once logged out, neither going back in the
//!   history nor visiting again shows the protected page, from the
//!   browser's cache or its back/forward cache.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{example, free_port, require, towerkit, Running};
use fantoccini::{Client, ClientBuilder, Locator};

/// chromedriver on a free loopback port, killed when dropped.
struct Driver {
    child: Child,
    port: u16,
}

impl Driver {
    fn start() -> Driver {
        let port = free_port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Driver { child, port }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits (at most 20 s) until the text of `css` satisfies `ok`; returns it.
async fn text_until(client: &Client, css: &str, ok: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut last = String::new();
    while Instant::now() < deadline {
        if let Ok(element) = client.find(Locator::Css(css)).await {
            if let Ok(text) = element.text().await {
                if ok(&text) {
                    return text;
                }
                last = text;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{css} never became right; last {last:?}");
}

/// A headless Chromium session through `driver`.
async fn headless_chromium(driver: &Driver) -> Client {
    // Two rustls providers are compiled in (the WebDriver client's and
    // towerkit's): say which one this process uses.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let capabilities = serde_json::json!({
        "goog:chromeOptions": {
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                // The example's certificate is made at start, self-signed.
                "--ignore-certificate-errors", "--window-size=1100,800",
            ]
        }
    });
    let capabilities = match capabilities {
        serde_json::Value::Object(map) => map,
        _ => unreachable!(),
    };
    ClientBuilder::rustls()
        .expect("a TLS connector")
        .capabilities(capabilities)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("a WebDriver session")
}

/// Fills the login form on the page and sends it.
async fn log_in(client: &Client, user: &str, password: &str) {
    let password_input = client
        .find(Locator::Css("input[name=password]"))
        .await
        .expect("the login form");
    client
        .find(Locator::Css("input[name=username]"))
        .await
        .unwrap()
        .send_keys(user)
        .await
        .unwrap();
    password_input.send_keys(password).await.unwrap();
    client
        .find(Locator::Css("button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn dashboard_in_headless_chromium() {
    if !require("chromium") || !require("chromedriver") {
        return;
    }
    let server = {
        let mut command = example("dashboard");
        command.arg("127.0.0.1:0");
        Running::start_command(command)
    };
    let base = format!("https://127.0.0.1:{}", server.addr().port());
    let driver = Driver::start();
    let client = headless_chromium(&driver).await;

    // The protected page sends the browser to the form.
    client.goto(&format!("{base}/")).await.unwrap();
    log_in(&client, "admin", "hub").await;

    // The dashboard: who, the devices, and live events through gzip.
    assert_eq!(
        text_until(&client, "#user", |t| t == "admin").await,
        "admin"
    );
    assert_eq!(text_until(&client, "#visits", |t| t == "1").await, "1");
    text_until(&client, "#stream-state", |t| t == "live").await;
    let count = text_until(&client, "#event-count", |t| {
        t.parse::<u32>().is_ok_and(|n| n >= 3)
    })
    .await;
    eprintln!("{count} events received by the EventSource");
    // The stream the browser reads is the gzipped one.
    let encoding = client
        .execute(
            "return fetch('/events').then(r => { r.body.cancel(); return r.headers.get('content-encoding'); })",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(encoding, "gzip");
    client
        .find(Locator::Css("#device-lamp button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    text_until(&client, "#device-lamp button", |t| t == "on").await;

    let png = client.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "not a PNG");
    let shot = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard.png");
    std::fs::write(&shot, &png).unwrap();
    eprintln!("screenshot: {}", shot.display());

    // A reload: still logged in, the session counts the visit, the lamp
    // stays on.
    client.refresh().await.unwrap();
    assert_eq!(
        text_until(&client, "#user", |t| t == "admin").await,
        "admin"
    );
    text_until(&client, "#visits", |t| t == "2").await;
    text_until(&client, "#device-lamp button", |t| t == "on").await;

    // Logging out: the form again.
    client
        .find(Locator::Css("#logout"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    client.goto(&format!("{base}/")).await.unwrap();
    client
        .find(Locator::Css("input[name=password]"))
        .await
        .expect("the login form after logging out");
    client.close().await.unwrap();
}

/// What the browser shows at `/private/` once it has settled: `true` for
/// the login form, `false` for the protected page (at most 10 s; the
/// protected page may be on the way to the form, so it is looked at again).
async fn shows_the_login_form(client: &Client) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let source = client.source().await.unwrap_or_default();
        if source.contains("name=\"password\"") && !source.contains(PRIVATE_TEXT) {
            return true;
        }
        if Instant::now() > deadline {
            eprintln!("the page shown: {source}");
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The heading of the demo's protected page.
const PRIVATE_TEXT: &str = "You are logged in";

#[tokio::test(flavor = "multi_thread")]
async fn no_private_page_after_logging_out() {
    if !require("chromium") || !require("chromedriver") {
        return;
    }
    // The README's demo stack, as the README serves it.
    let mut command = towerkit();
    command
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["serve", "examples/demo/towerkit.toml"])
        .args(["--listen", "127.0.0.1:0"]);
    let server = Running::start_command(command);
    let driver = Driver::start();
    let client = headless_chromium(&driver).await;

    // Logged in through the form, the protected page.
    client.goto(&server.url("/private/")).await.unwrap();
    log_in(&client, "demo", "demo").await;
    assert_eq!(
        text_until(&client, "h1", |t| t == PRIVATE_TEXT).await,
        PRIVATE_TEXT
    );
    // Visited twice, as one does: the browser has had every chance to
    // keep it.
    client.goto(&server.url("/")).await.unwrap();
    client.goto(&server.url("/private/")).await.unwrap();
    text_until(&client, "h1", |t| t == PRIVATE_TEXT).await;

    // Logging out with the page's own link: back home.
    client
        .find(Locator::Css("a[href='/logout']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    text_until(&client, "h1", |t| !t.is_empty() && t != PRIVATE_TEXT).await;
    assert_eq!(client.current_url().await.unwrap().path(), "/");

    // Back in the history: the page is asked for again, and the form shown.
    client.back().await.unwrap();
    assert!(
        shows_the_login_form(&client).await,
        "going back after logging out showed the protected page"
    );
    // Visiting it again: the same.
    client.goto(&server.url("/")).await.unwrap();
    client.goto(&server.url("/private/")).await.unwrap();
    assert!(
        shows_the_login_form(&client).await,
        "visiting again after logging out showed the protected page"
    );
    client.close().await.unwrap();
}
