//! `use = "login"`, from towerkit-login.

use super::*;

/// A login's shared state, as a health check asks it.
pub(super) struct LoginReady(LoginLayer);

impl Check for LoginReady {
    fn check(
        &self,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + Send + '_>> {
        self.0.ready()
    }
}

/// The `ticket` table of `use = "login"`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TicketTable {
    secret: String,
    digest: Option<String>,
    cookie_name: Option<String>,
    include_ip: Option<bool>,
    timeout: Option<HumanDuration>,
    secure: Option<bool>,
    http_only: Option<bool>,
}

/// `use = "login"`: `methods` (`form`, `basic`, `digest`, `ticket`),
/// `users` (htpasswd), `digest_users` (htdigest), `realm`, `protect`,
/// `login_path`, `logout_path`, `form_template`, and a `ticket` table
/// (`secret`, `digest`, `cookie_name`, `include_ip`, `timeout`, `secure`,
/// `http_only`). `form` without `ticket` needs a `session` filter outside
/// it, which keeps the login. For many instances: `secret` (at least 32
/// bytes, the same on each: the Digest nonce key), `state` (a Redis URL:
/// the throttle's and the nonces' counts) and `state_timeout`.
pub(super) fn login(section: &mut Section<'_, '_>) -> Result<Filter, ConfigError> {
    let names: Vec<String> = section.require("methods")?;
    let mut methods = Vec::new();
    for name in &names {
        methods.push(match name.as_str() {
            "form" => LoginMethod::Form,
            "basic" => LoginMethod::Basic,
            "digest" => LoginMethod::Digest,
            "ticket" => LoginMethod::Ticket,
            other => {
                return Err(section.error(
                    "methods",
                    format!("unknown method `{other}` (known: form, basic, digest, ticket)"),
                ))
            }
        });
    }
    if methods.is_empty() {
        return Err(section.error("methods", "name at least one: form, basic, digest, ticket"));
    }
    if methods.contains(&LoginMethod::Form) && !methods.contains(&LoginMethod::Ticket) {
        section.needs(
            "session",
            Some("methods"),
            "\"form\" without \"ticket\" keeps the login in a session",
        );
    }
    let htpasswd = match section.path("users")? {
        Some(path) => {
            Some(HtpasswdFile::open(&path).map_err(|err| section.error("users", err.to_string()))?)
        }
        None => None,
    };
    let htdigest = match section.path("digest_users")? {
        Some(path) => Some(
            HtdigestFile::open(&path)
                .map_err(|err| section.error("digest_users", err.to_string()))?,
        ),
        None => None,
    };
    let digest_algorithms: Vec<&'static str> = htdigest
        .as_ref()
        .map(|h| h.algorithms())
        .unwrap_or_default();
    if methods.contains(&LoginMethod::Digest) && htdigest.is_none() {
        return Err(section.error(
            "digest_users",
            "digest needs an htdigest file (htpasswd hashes cannot answer a Digest challenge)",
        ));
    }
    if htpasswd.is_none() && htdigest.is_none() && methods.iter().any(|m| *m != LoginMethod::Ticket)
    {
        return Err(section.error("users", "name the htpasswd file of the users"));
    }
    let mut layer = LoginLayer::new(UserFiles::new(htpasswd, htdigest), &methods)
        .map_err(|err| section.section_error(err.to_string()))?;
    if !digest_algorithms.is_empty() {
        layer = layer.digest_algorithms(digest_algorithms);
    }
    if let Some(realm) = section.get::<String>("realm")? {
        if realm.contains(['"', '\\']) || realm.chars().any(char::is_control) {
            return Err(section.error(
                "realm",
                "a realm cannot hold quotes, backslashes or control characters",
            ));
        }
        layer = layer.realm(&realm);
    }
    if let Some(protect) = section.get::<OneOrMany>("protect")? {
        let prefixes = protect.into_vec();
        if let Some(bad) = prefixes.iter().find(|p| !p.starts_with('/')) {
            return Err(section.error(
                "protect",
                format!("`{bad}` is not a path starting with '/'"),
            ));
        }
        layer = layer.protect(prefixes);
    }
    for key in ["login_path", "logout_path"] {
        if let Some(path) = section.get::<String>(key)? {
            // The builder's own checks, so that Rust and TOML say the same.
            layer = if key == "login_path" {
                layer.login_path(&path)
            } else {
                layer.logout_path(&path)
            }
            .map_err(|err| section.error(key, err.to_string()))?;
        }
    }
    if let Some(path) = section.path("form_template")? {
        let template = std::fs::read_to_string(&path).map_err(|err| {
            section.error(
                "form_template",
                format!("cannot read {}: {err}", path.display()),
            )
        })?;
        layer = layer.form_template(&template);
    }
    if let Some(secret) = section.get::<String>("secret")? {
        layer = layer
            .secret(&secret)
            .map_err(|err| section.error("secret", err.to_string()))?;
    }
    let state_timeout = section.get::<HumanDuration>("state_timeout")?;
    match section.get::<String>("state")? {
        Some(url) => {
            layer = layer
                .state(&url)
                .map_err(|err| section.error("state", err.to_string()))?;
            if let Some(timeout) = state_timeout {
                if timeout.0.is_zero() {
                    return Err(section.error(
                        "state_timeout",
                        "a Redis operation needs some time: e.g. \"2s\"",
                    ));
                }
                layer = layer.state_timeout(timeout.0);
            }
            // `use = "health"` is ready only while the shared state answers.
            section.readiness().add(
                format!("filter.{}", section.name()),
                std::sync::Arc::new(LoginReady(layer.clone())),
            );
        }
        None if state_timeout.is_some() => {
            return Err(section.error(
                "state_timeout",
                "`state_timeout` applies to a shared state only: state = \"redis://…\"",
            ));
        }
        None => {}
    }
    let ticket = section.get::<TicketTable>("ticket")?;
    match ticket {
        Some(table) => {
            let mut options = TicketOptions::new(&table.secret);
            if let Some(digest) = table.digest {
                options.digest = TicketDigest::parse(&digest).ok_or_else(|| {
                    section.error(
                        "ticket",
                        format!("unknown digest `{digest}` (md5, sha256, sha512)"),
                    )
                })?;
            }
            if let Some(name) = table.cookie_name {
                options.cookie_name = name;
            }
            options.include_ip = table.include_ip.unwrap_or(false);
            if let Some(timeout) = table.timeout {
                options.timeout = timeout.0;
            }
            options.secure = table.secure.unwrap_or(false);
            options.http_only = table.http_only.unwrap_or(true);
            layer = layer
                .ticket(options)
                .map_err(|err| section.error("ticket", err.to_string()))?;
        }
        None if methods.contains(&LoginMethod::Ticket) => {
            return Err(section.error(
                "ticket",
                "the ticket method needs a ticket table with a secret",
            ));
        }
        None => {}
    }
    Ok(Filter::layer(layer))
}
