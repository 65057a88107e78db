//! towerkit-login under axum: Basic login, the user for the handler, and a
//! throttle that keys on the client axum saw.

use std::time::{Duration, Instant};

use axum::routing::get;
use axum::{Extension, Router};
use towerkit_core::recursive::BoxFuture;
use towerkit_core::RemoteUser;
use towerkit_login::{Authenticator, LoginLayer, LoginMethod};

/// `ada`, password `secret`.
struct Ada;

impl Authenticator for Ada {
    fn check(&self, user: &str, password: &str) -> BoxFuture<bool> {
        let ok = user == "ada" && password == "secret";
        Box::pin(async move { ok })
    }
}

fn app() -> Router {
    Router::new()
        .route(
            "/private",
            get(|Extension(user): Extension<RemoteUser>| async move { user.name }),
        )
        .route("/", get(|| async { "open" }))
        .layer(
            LoginLayer::new(Ada, &[LoginMethod::Basic])
                .unwrap()
                .protect(vec!["/private".into()]),
        )
}

#[tokio::test]
async fn protected_paths_challenge_and_a_user_gets_through() {
    let base = crate::serve(app()).await;
    let client = crate::client();
    let open = client.get(&base).send().await.unwrap();
    assert_eq!(open.text().await.unwrap(), "open");

    let res = client.get(format!("{base}/private")).send().await.unwrap();
    assert_eq!(res.status(), 401);
    let challenge = res.headers()["www-authenticate"].to_str().unwrap();
    assert!(challenge.starts_with("Basic realm="), "{challenge}");

    let res = client
        .get(format!("{base}/private"))
        .basic_auth("ada", Some("secret"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "private, no-store");
    assert_eq!(res.text().await.unwrap(), "ada");
}

/// The case: under axum every client was taken as one, and a
/// correct login waited out another client's failures.
#[tokio::test]
async fn one_clients_failures_do_not_slow_another_client() {
    let base = crate::serve(app()).await;
    let attacker = crate::client_from(2);
    let attempt = |client: &reqwest::Client, password: &str| {
        client
            .get(format!("{base}/private"))
            .basic_auth("ada", Some(password))
            .send()
    };
    // Past three failures this pair waits 100 ms, doubling.
    for _ in 0..6 {
        let res = attempt(&attacker, "guess").await.unwrap();
        assert_eq!(res.status(), 401);
    }
    let started = Instant::now();
    let res = attempt(&crate::client_from(1), "secret").await.unwrap();
    let owner = started.elapsed();
    assert_eq!(res.status(), 200);

    let started = Instant::now();
    let res = attempt(&attacker, "guess").await.unwrap();
    let slowed = started.elapsed();
    assert_eq!(res.status(), 401);
    assert!(slowed >= Duration::from_millis(700), "{slowed:?}");
    assert!(owner < Duration::from_millis(500), "{owner:?}");
}
