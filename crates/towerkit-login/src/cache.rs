//! What caches may keep of the answers that pass the login layer.
//!
//! - The layer's own answers (challenges, the form, its answer, logging
//!   out, refusals) are [`own_page`]s: `Cache-Control: no-store`. They
//!   depend on credentials and cookies, and a stored login form or
//!   challenge would only be wrong later.
//! - An answer for a user (found by the layer or set upstream) is
//!   [`private`]: `Cache-Control: private, no-store`. No shared cache may
//!   keep it for others, and the browser keeps no copy to show again, from
//!   its cache or its back/forward cache, once the user has logged out. (A
//!   protected path is only ever answered for a user, or with a challenge.)
//!   An app that chose `private` or `no-store` itself keeps its choice;
//!   anything else it set (`public, max-age=600`, a document root's
//!   `max-age`) is replaced, as it was chosen without knowing who asked.

use http::header::{HeaderValue, CACHE_CONTROL};
use http::{HeaderMap, Response};
use towerkit_core::header::lists_token;
use towerkit_core::{Body, BoxError, HttpException};

/// The `Cache-Control` of the layer's own answers.
pub(crate) const OWN_PAGE: HeaderValue = HeaderValue::from_static("no-store");

/// The `Cache-Control` of an answer for a user, unless the app chose
/// `private` or `no-store` itself.
pub(crate) const PRIVATE: HeaderValue = HeaderValue::from_static("private, no-store");

/// Marks one of the layer's own answers: never stored.
pub(crate) fn own_page(mut response: Response<Body>) -> Response<Body> {
    response.headers_mut().insert(CACHE_CONTROL, OWN_PAGE);
    response
}

/// Whether the app already kept the answer from shared caches (`private`)
/// or from every cache (`no-store`).
fn kept_private(headers: &HeaderMap) -> bool {
    let values = headers.get_all(CACHE_CONTROL);
    lists_token(values.iter(), "private") || lists_token(values.iter(), "no-store")
}

/// Marks headers of an answer for a user; see the [module](self).
pub(crate) fn make_private(headers: &mut HeaderMap) {
    if !kept_private(headers) {
        headers.insert(CACHE_CONTROL, PRIVATE);
    }
}

/// Marks an answer for a user, a response or an [`HttpException`] on its
/// way to the layer that renders it (other errors become pages that say
/// nothing of the user). The error is the inner service's own, of any type:
/// an `HttpException` is found in it as itself or inside a [`BoxError`].
pub(crate) fn private<E: 'static>(answer: Result<Response<Body>, E>) -> Result<Response<Body>, E> {
    match answer {
        Ok(mut response) => {
            make_private(response.headers_mut());
            Ok(response)
        }
        Err(mut err) => {
            let any = &mut err as &mut dyn std::any::Any;
            let exception = match any.downcast_mut::<BoxError>() {
                Some(boxed) => boxed.downcast_mut::<HttpException>(),
                None => any.downcast_mut::<HttpException>(),
            };
            if let Some(exception) = exception {
                if !kept_private(exception.headers()) {
                    let taken =
                        std::mem::replace(exception, HttpException::internal_server_error());
                    *exception = taken.with_header(CACHE_CONTROL, PRIVATE);
                }
            }
            Err(err)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::StatusCode;

    fn with(cache_control: &[&'static str]) -> Response<Body> {
        let mut response = Response::new(Body::from("for ada"));
        for value in cache_control {
            response
                .headers_mut()
                .append(CACHE_CONTROL, HeaderValue::from_static(value));
        }
        response
    }

    fn cache_control(answer: &Result<Response<Body>, BoxError>) -> Vec<String> {
        let headers = match answer {
            Ok(response) => response.headers(),
            Err(err) => err
                .downcast_ref::<HttpException>()
                .map(HttpException::headers)
                .unwrap_or_else(|| panic!("not an HttpException: {err}")),
        };
        headers
            .get_all(CACHE_CONTROL)
            .iter()
            .map(|v| v.to_str().unwrap_or_default().to_owned())
            .collect()
    }

    #[test]
    fn answers_for_a_user_are_kept_from_shared_caches_and_not_stored() {
        for (set, expected) in [
            (&[][..], &["private, no-store"][..]),
            // Chosen without knowing who asked: replaced.
            (&["public, max-age=600"], &["private, no-store"]),
            (&["max-age=300"], &["private, no-store"]),
            (&["no-cache"], &["private, no-store"]),
            (&["s-maxage=60", "must-revalidate"], &["private, no-store"]),
            // Private for one header only is not private.
            (
                &["private=\"set-cookie\", max-age=60"],
                &["private, no-store"],
            ),
            // The app's own choice stays.
            (&["private, max-age=60"], &["private, max-age=60"]),
            (&["No-Store"], &["No-Store"]),
            (&["max-age=0", "no-store"], &["max-age=0", "no-store"]),
        ] {
            let answer = private(Ok(with(set)));
            assert_eq!(cache_control(&answer), expected, "{set:?}");
        }
    }

    #[test]
    fn http_exceptions_for_a_user_are_marked_on_their_way_up() {
        let not_found: BoxError = Box::new(HttpException::not_found());
        let answer = private(Err(not_found));
        assert_eq!(cache_control(&answer), ["private, no-store"]);
        let page = match answer {
            Err(err) => HttpException::from_error(&err).to_response(towerkit_core::Format::Text),
            Ok(_) => unreachable!(),
        };
        assert_eq!(page.status(), StatusCode::NOT_FOUND);
        assert_eq!(page.headers()[CACHE_CONTROL], "private, no-store");
        // Other errors go up as they are.
        let other: BoxError = "broken".into();
        let err = private(Err(other)).map(|_| ()).unwrap_err();
        assert_eq!(err.to_string(), "broken");
    }

    /// Through the layer: `ada`/`secret` by Basic, `/private` protected.
    mod through_the_layer {
        use super::super::CACHE_CONTROL;
        use crate::{LoginLayer, LoginMethod, TicketOptions};
        use base64::engine::general_purpose::STANDARD;
        use base64::Engine;
        use http::header::HeaderValue;
        use http::{Request, Response, StatusCode};
        use std::future::Future;
        use tower_layer::Layer;
        use tower_service::Service;
        use towerkit_core::{handler, Body, BoxError, HttpException, RemoteUser, TestClient};

        use crate::test_users::Ada;

        /// Paths ending in `/cached` say `public, max-age=600`, in `/own`
        /// `private, max-age=60`; `/private/missing` is a 404 exception,
        /// `/denied` a 401; anything else a page with no `Cache-Control`.
        fn app() -> impl Service<
            Request<Body>,
            Response = Response<Body>,
            Error = BoxError,
            Future = impl Future<Output = Result<Response<Body>, BoxError>> + Send,
        > + Clone
               + Send
               + 'static {
            handler(|req: Request<Body>| async move {
                let path = req.uri().path().to_owned();
                if path == "/private/missing" {
                    return Err(HttpException::not_found().into());
                }
                if path == "/denied" {
                    return Err(HttpException::new(StatusCode::UNAUTHORIZED).into());
                }
                let mut response = Response::new(Body::from("a page"));
                let chosen = if path.ends_with("/cached") {
                    Some("public, max-age=600")
                } else if path.ends_with("/own") {
                    Some("private, max-age=60")
                } else {
                    None
                };
                if let Some(value) = chosen {
                    response
                        .headers_mut()
                        .insert(CACHE_CONTROL, HeaderValue::from_static(value));
                }
                Ok::<_, BoxError>(response)
            })
        }

        /// Basic, and a form whose logins are kept in tickets (no session
        /// here).
        fn layer() -> LoginLayer {
            let methods = [LoginMethod::Basic, LoginMethod::Form, LoginMethod::Ticket];
            LoginLayer::new(Ada, &methods)
                .unwrap()
                .protect(vec!["/private".to_owned()])
                .ticket(TicketOptions::new("a secret of the tests"))
                .unwrap()
        }

        fn ada() -> String {
            format!("Basic {}", STANDARD.encode("ada:secret"))
        }

        #[tokio::test]
        async fn answers_for_a_user_are_private_and_not_stored() {
            let mut client = TestClient::new(layer().layer(app()));
            for (path, expected) in [
                ("/private/", "private, no-store"),
                ("/private/cached", "private, no-store"),
                ("/private/own", "private, max-age=60"),
                // Not protected, but for ada all the same.
                ("/open", "private, no-store"),
                ("/open/cached", "private, no-store"),
            ] {
                let res = client
                    .get(path)
                    .header("authorization", &ada())
                    .send()
                    .await
                    .unwrap();
                assert_eq!(res.status(), StatusCode::OK, "{path}");
                assert_eq!(res.header("cache-control"), Some(expected), "{path}");
            }
            // An error for ada goes up marked, to be rendered above.
            let err = client
                .get("/private/missing")
                .header("authorization", &ada())
                .send()
                .await
                .unwrap_err();
            let exception = HttpException::from_error(&err);
            assert_eq!(exception.status(), StatusCode::NOT_FOUND);
            assert_eq!(exception.headers()[CACHE_CONTROL], "private, no-store");
        }

        #[tokio::test]
        async fn answers_for_no_one_in_particular_are_left_alone() {
            let mut client = TestClient::new(layer().layer(app()));
            let res = client.get("/open").send().await.unwrap();
            assert_eq!(res.header("cache-control"), None);
            let res = client.get("/open/cached").send().await.unwrap();
            assert_eq!(res.header("cache-control"), Some("public, max-age=600"));
        }

        #[tokio::test]
        async fn a_user_set_upstream_makes_the_answer_private_too() {
            let upstream = tower::util::MapRequestLayer::new(|mut req: Request<Body>| {
                req.extensions_mut().insert(RemoteUser {
                    name: "bob".into(),
                    auth_type: "proxy".into(),
                });
                req
            });
            let mut client = TestClient::new(upstream.layer(layer().layer(app())));
            let res = client.get("/open/cached").send().await.unwrap();
            assert_eq!(res.header("cache-control"), Some("private, no-store"));
            let res = client.get("/private/x").send().await.unwrap();
            assert_eq!(res.status(), StatusCode::OK);
            assert_eq!(res.header("cache-control"), Some("private, no-store"));
        }

        #[tokio::test]
        async fn the_layers_own_pages_are_never_stored() {
            let mut client = TestClient::new(layer().layer(app()));
            let html = "text/html";
            let wrong = format!("Basic {}", STANDARD.encode("ada:wrong"));
            let answers = [
                // Challenges: for scripts, for browsers, for an app's 401.
                client.get("/private/cached").send().await.unwrap(),
                client
                    .get("/private/")
                    .header("accept", html)
                    .send()
                    .await
                    .unwrap(),
                client.get("/denied").send().await.unwrap(),
                // Wrong credentials.
                client
                    .get("/open")
                    .header("authorization", &wrong)
                    .send()
                    .await
                    .unwrap(),
                // The form, a wrong password, logging out.
                client.get("/login?next=/private/").send().await.unwrap(),
                client
                    .post("/login")
                    .form(&[("username", "ada"), ("password", "nope")])
                    .send()
                    .await
                    .unwrap(),
                client.get("/logout").send().await.unwrap(),
                // Logging in.
                client
                    .post("/login")
                    .form(&[("username", "ada"), ("password", "secret")])
                    .send()
                    .await
                    .unwrap(),
            ];
            let statuses: Vec<u16> = answers.iter().map(|r| r.status().as_u16()).collect();
            assert_eq!(statuses, [401, 303, 401, 401, 200, 401, 303, 303]);
            for res in &answers {
                assert_eq!(
                    res.header("cache-control"),
                    Some("no-store"),
                    "{}",
                    res.uri()
                );
            }
        }
    }

    #[test]
    fn own_pages_are_never_stored() {
        let page = own_page(with(&["public, max-age=600"]));
        let values: Vec<_> = page.headers().get_all(CACHE_CONTROL).iter().collect();
        assert_eq!(values, ["no-store"]);
    }
}
