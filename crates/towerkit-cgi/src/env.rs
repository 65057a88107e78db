//! The meta-variables of RFC 3875 §4.1, from the request and its environ.

use std::path::Path;

use http::Request;
use percent_encoding::percent_decode_str;
use towerkit_core::{path_info, url, ConnectionInfo, OriginalUri, RemoteUser, ScriptName};

/// What the gateway tells a script about its request.
pub(crate) fn meta_variables<B>(
    req: &Request<B>,
    script: &Path,
    document_root: &Path,
    pass_env: &[String],
    pass_authorization: bool,
) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = Vec::new();
    for name in pass_env {
        if let Ok(value) = std::env::var(name) {
            env.push((name.clone(), value));
        }
    }
    let set = |env: &mut Vec<(String, String)>, name: &str, value: String| {
        env.retain(|(n, _)| n != name);
        env.push((name.to_owned(), value));
    };
    let connection = ConnectionInfo::of(req);
    let host = url::host(req);
    let host: &str = &host;
    let scheme = url::url_scheme(req).to_owned();
    let (server_name, server_port) = match host.rsplit_once(':') {
        Some((name, port)) if !port.contains(']') && port.parse::<u16>().is_ok() => {
            (name.to_owned(), port.to_owned())
        }
        _ => (
            host.to_owned(),
            if scheme == "https" {
                "443".into()
            } else {
                "80".into()
            },
        ),
    };
    let path = percent_decode_str(path_info(req))
        .decode_utf8_lossy()
        .into_owned();
    set(&mut env, "GATEWAY_INTERFACE", "CGI/1.1".into());
    set(
        &mut env,
        "SERVER_SOFTWARE",
        format!("towerkit/{}", env!("CARGO_PKG_VERSION")),
    );
    set(
        &mut env,
        "SERVER_NAME",
        server_name
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned(),
    );
    set(&mut env, "SERVER_PORT", server_port);
    set(&mut env, "SERVER_PROTOCOL", format!("{:?}", req.version()));
    set(&mut env, "REQUEST_METHOD", req.method().to_string());
    set(&mut env, "SCRIPT_NAME", ScriptName::of(req).to_owned());
    set(&mut env, "PATH_INFO", path.clone());
    if !path.is_empty() {
        let translated = document_root.join(path.trim_start_matches('/'));
        set(
            &mut env,
            "PATH_TRANSLATED",
            translated.display().to_string(),
        );
    }
    set(
        &mut env,
        "QUERY_STRING",
        req.uri().query().unwrap_or("").to_owned(),
    );
    set(
        &mut env,
        "REMOTE_ADDR",
        connection.remote_addr.ip().to_string(),
    );
    set(
        &mut env,
        "REMOTE_PORT",
        connection.remote_addr.port().to_string(),
    );
    if let Some(user) = req.extensions().get::<RemoteUser>() {
        set(&mut env, "AUTH_TYPE", user.auth_type.clone());
        set(&mut env, "REMOTE_USER", user.name.clone());
    }
    let original = req
        .extensions()
        .get::<OriginalUri>()
        .map_or_else(|| req.uri().clone(), |o| o.0.clone());
    set(
        &mut env,
        "REQUEST_URI",
        original
            .path_and_query()
            .map_or("/", |pq| pq.as_str())
            .to_owned(),
    );
    set(&mut env, "SCRIPT_FILENAME", script.display().to_string());
    set(
        &mut env,
        "DOCUMENT_ROOT",
        document_root.display().to_string(),
    );
    if scheme == "https" {
        set(&mut env, "HTTPS", "on".into());
    }
    for (name, value) in req.headers() {
        let lower = name.as_str();
        // `X_User` and `X-User` would both become HTTP_X_USER: a client
        // could pass for a header a front proxy sets. Such names are
        // dropped, as nginx and Apache do.
        if lower.contains('_') {
            continue;
        }
        let Ok(value) = value.to_str() else { continue };
        match lower {
            "content-type" => set(&mut env, "CONTENT_TYPE", value.to_owned()),
            "content-length" => set(&mut env, "CONTENT_LENGTH", value.to_owned()),
            // httpoxy: a client's Proxy header never becomes HTTP_PROXY.
            "proxy" => {}
            "authorization" | "proxy-authorization" if !pass_authorization => {}
            _ => {
                let var = format!("HTTP_{}", lower.to_ascii_uppercase().replace('-', "_"));
                match env.iter_mut().find(|(n, _)| *n == var) {
                    Some((_, existing)) => {
                        existing.push_str(", ");
                        existing.push_str(value);
                    }
                    None => env.push((var, value.to_owned())),
                }
            }
        }
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    fn variables(req: &Request<()>) -> Vec<(String, String)> {
        meta_variables(
            req,
            Path::new("/srv/cgi-bin/env.py"),
            Path::new("/srv/cgi-bin"),
            &[],
            false,
        )
    }

    fn get<'a>(env: &'a [(String, String)], name: &str) -> Option<&'a str> {
        env.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    #[test]
    fn header_names_with_underscores_are_dropped() {
        let req = Request::get("/")
            .header("X_User", "admin")
            .header("X-User", "alice")
            .header("Only_Underscores", "yes")
            .body(())
            .unwrap();
        let env = variables(&req);
        assert_eq!(get(&env, "HTTP_X_USER"), Some("alice"));
        assert_eq!(get(&env, "HTTP_ONLY_UNDERSCORES"), None);
        let req = Request::get("/")
            .header("X_User", "admin")
            .body(())
            .unwrap();
        assert_eq!(get(&variables(&req), "HTTP_X_USER"), None);
    }

    #[test]
    fn repeated_headers_are_joined() {
        let req = Request::get("/")
            .header("X-Tag", "a")
            .header("X-Tag", "b")
            .body(())
            .unwrap();
        assert_eq!(get(&variables(&req), "HTTP_X_TAG"), Some("a, b"));
    }
}
