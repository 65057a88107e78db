//! The dashboard in a real browser: headless Chromium, driven over
//! WebDriver, logs in through the form, sees the protected page, receives
//! server-sent events through gzip in an `EventSource`, flips a switch,
//! reloads and is still logged in, and logs out. A screenshot is left in
//! `target/tmp/dashboard.png`.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{example, free_port, require, Running};
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
    let client = ClientBuilder::rustls()
        .expect("a TLS connector")
        .capabilities(capabilities)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("a WebDriver session");

    // The protected page sends the browser to the form.
    client.goto(&format!("{base}/")).await.unwrap();
    let password = client
        .find(Locator::Css("input[name=password]"))
        .await
        .unwrap();
    client
        .find(Locator::Css("input[name=username]"))
        .await
        .unwrap()
        .send_keys("admin")
        .await
        .unwrap();
    password.send_keys("hub").await.unwrap();
    client
        .find(Locator::Css("button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();

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
