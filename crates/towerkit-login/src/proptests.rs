//! Properties of every parser of this crate that a request (or a user
//! file) reaches: `Authorization: Basic`, the parameters of
//! `Authorization: Digest`, form bodies, htpasswd and htdigest lines, and
//! auth_tkt tickets. Each must never panic, whatever it is given; where
//! this crate (or a client) writes the format, what is written reads back
//! the same; and each agrees with a reference model, written apart and
//! as plainly as possible.

use std::collections::HashMap;
use std::net::IpAddr;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use proptest::prelude::*;
use sha1::{Digest as _, Sha1};

use crate::digest::{hex_hash, parse_params};
use crate::layer::{basic_credentials, form_fields};
use crate::ticket::{Ticket, TicketDigest, TicketSigner};
use crate::users::{apr1, htdigest_line, htpasswd_line, verify};

/// Text with what header parsers trip over, more often than chance gives.
fn headerish() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[a-zA-Z0-9=,\" \\\\\t:!%#$/+.-]{0,60}",
        "[=,\"\\\\ a]{0,20}",
    ]
}

fn digests() -> impl Strategy<Value = TicketDigest> {
    prop_oneof![
        Just(TicketDigest::Md5),
        Just(TicketDigest::Sha256),
        Just(TicketDigest::Sha512),
    ]
}

fn ips() -> impl Strategy<Value = Option<IpAddr>> {
    prop_oneof![
        Just(None),
        any::<[u8; 4]>().prop_map(|o| Some(IpAddr::from(o))),
        any::<[u8; 16]>().prop_map(|o| Some(IpAddr::from(o))),
    ]
}

/// What the ticket format can carry: tokens without `,` or `!`, data
/// without `!` when there are no tokens (the format cannot tell them
/// apart), none with a NUL (refused), nothing a cookie value cannot end
/// with (spaces, quotes: trimmed), a time in 32 bits (the format's).
fn tickets() -> impl Strategy<Value = Ticket> {
    (
        "[^\\x00]{0,12}",
        proptest::collection::vec("[A-Za-z0-9_+. -]{1,8}", 0..4),
        "[A-Za-z0-9_=.!-]{0,12}",
        any::<u32>(),
    )
        .prop_map(|(userid, tokens, user_data, time)| {
            let user_data = if tokens.is_empty() {
                user_data.replace('!', "_")
            } else {
                user_data
            };
            Ticket {
                userid,
                tokens,
                user_data,
                time: u64::from(time),
            }
        })
}

/// The model of Basic credentials: base64 of UTF-8 with a colon; the
/// user is what precedes the first colon.
fn basic_model(credentials: &str) -> Option<(String, String)> {
    let bytes = STANDARD.decode(credentials).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let colon = text.chars().position(|c| c == ':')?;
    let user: String = text.chars().take(colon).collect();
    let password: String = text.chars().skip(colon + 1).collect();
    Some((user, password))
}

/// A Digest parameter as a client writes it: a quoted string with `\` and
/// `"` escaped, or a token.
fn write_param(name: &str, value: &str, quoted: bool, space: &str) -> String {
    if quoted {
        let escaped = value.replace('\\', "\\\\").replace('"', "\\\"");
        format!("{name}{space}={space}\"{escaped}\"")
    } else {
        format!("{name}{space}={space}{value}")
    }
}

/// The model of an htpasswd line.
fn htpasswd_model(line: &str) -> Option<Option<(String, String)>> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return Some(None);
    }
    let colon = line.find(':')?;
    let (user, hash) = (&line[..colon], &line[colon + 1..]);
    let prefix = |p: &str| hash.get(..p.len()) == Some(p);
    let known =
        prefix("$2y$") || prefix("$2a$") || prefix("$2b$") || prefix("{SHA}") || prefix("$apr1$");
    known.then(|| Some((user.to_owned(), hash.to_owned())))
}

/// The model of an htdigest line.
fn htdigest_model(line: &str) -> Option<Option<(String, String, String)>> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return Some(None);
    }
    let fields: Vec<&str> = line.splitn(3, ':').collect();
    if fields.len() != 3 {
        return None;
    }
    let hash = fields[2];
    let hex = hash.chars().all(|c| c.is_ascii_hexdigit());
    (hex && [32, 64].contains(&hash.len())).then(|| {
        Some((
            fields[0].to_owned(),
            fields[1].to_owned(),
            hash.to_lowercase(),
        ))
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    // ---- Authorization: Basic ----

    #[test]
    fn basic_never_panics_and_agrees_with_the_model(credentials in headerish()) {
        prop_assert_eq!(basic_credentials(&credentials), basic_model(&credentials));
    }

    #[test]
    fn basic_decodes_what_base64_of_any_bytes_is(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let credentials = STANDARD.encode(&bytes);
        prop_assert_eq!(basic_credentials(&credentials), basic_model(&credentials));
    }

    #[test]
    fn basic_round_trips(user in "[^:]{0,16}", password in any::<String>()) {
        let credentials = STANDARD.encode(format!("{user}:{password}"));
        prop_assert_eq!(basic_credentials(&credentials), Some((user, password)));
    }

    // ---- Authorization: Digest parameters ----

    #[test]
    fn digest_params_never_panic(header in headerish()) {
        let _ = parse_params(&header);
    }

    #[test]
    fn digest_params_round_trip(
        params in proptest::collection::vec(
            ("[a-zA-Z][a-zA-Z0-9_-]{0,8}", any::<String>(), "[A-Za-z0-9/+._-]{0,10}", any::<bool>(), "[ \t]{0,2}"),
            0..8,
        ),
        gap in "[ \t]{0,2}",
    ) {
        let mut written = Vec::new();
        let mut model = HashMap::new();
        for (name, free, token, quoted, space) in &params {
            let value = if *quoted { free } else { token };
            written.push(write_param(name, value, *quoted, space));
            // Names are case-insensitive; the last of a name wins.
            model.insert(name.to_ascii_lowercase(), value.clone());
        }
        let header = written.join(&format!(",{gap}"));
        prop_assert_eq!(parse_params(&header), model, "{}", header);
    }

    // ---- Form bodies (POST /login) and query strings ----

    #[test]
    fn form_fields_never_panic(body in proptest::collection::vec(any::<u8>(), 0..80)) {
        let _ = form_fields(&body);
    }

    #[test]
    fn form_fields_round_trip(fields in proptest::collection::vec((".{1,8}", ".{0,8}"), 0..6)) {
        let body = fields
            .iter()
            .map(|(k, v)| {
                let k = utf8_percent_encode(k, NON_ALPHANUMERIC);
                let v = utf8_percent_encode(v, NON_ALPHANUMERIC);
                format!("{k}={v}")
            })
            .collect::<Vec<_>>()
            .join("&");
        prop_assert_eq!(form_fields(body.as_bytes()), fields);
    }

    // ---- htpasswd lines ----

    #[test]
    fn htpasswd_lines_agree_with_the_model(line in prop_oneof![
        "[^\n\r]{0,40}",
        "[ #a-z:]{0,6}(\\$2y\\$|\\$2a\\$|\\$2b\\$|\\{SHA\\}|\\$apr1\\$|\\$2x\\$|SHA)?[^\n\r]{0,10}",
    ]) {
        let parsed = htpasswd_line(&line)
            .map(|ok| ok.map(|(u, h)| (u.to_owned(), h.to_owned())))
            .ok();
        prop_assert_eq!(parsed, htpasswd_model(&line));
    }

    #[test]
    fn htpasswd_lines_round_trip_and_verify(
        user in "[^:#\\s][^:\n\r]{0,11}",
        password in any::<String>(),
        other in any::<String>(),
        salt in "[./0-9A-Za-z]{8}",
        sha in any::<bool>(),
    ) {
        let hash = if sha {
            format!("{{SHA}}{}", STANDARD.encode(Sha1::digest(password.as_bytes())))
        } else {
            apr1(&password, &salt)
        };
        let line = format!("{user}:{hash}");
        prop_assert_eq!(htpasswd_line(&line), Ok(Some((user.as_str(), hash.as_str()))));
        prop_assert!(verify(&password, &hash));
        prop_assert_eq!(verify(&other, &hash), other == password);
    }

    /// Any password against any hash a file may hold: an answer, no panic.
    /// (Not bcrypt: a well-formed `$2y$31$` hash costs 2^31 rounds, by
    /// design; htpasswd files are the operator's, not a client's.)
    #[test]
    fn verify_never_panics(password in any::<String>(), hash in "(\\{SHA\\}|\\$apr1\\$)?[^\n]{0,40}") {
        let _ = verify(&password, &hash);
    }

    // ---- htdigest lines ----

    #[test]
    fn htdigest_lines_agree_with_the_model(line in prop_oneof![
        "[^\n\r]{0,80}",
        "[ #a-z:]{0,6}:[a-z ]{0,4}:[0-9a-fA-FxX]{30,66}",
    ]) {
        let parsed = htdigest_line(&line)
            .map(|ok| ok.map(|(u, r, h)| (u.to_owned(), r.to_owned(), h)))
            .ok();
        prop_assert_eq!(parsed, htdigest_model(&line));
    }

    #[test]
    fn htdigest_lines_round_trip(
        user in "[^:#\\s][^:\n\r]{0,11}",
        realm in "[^:\n\r]{0,12}",
        password in any::<String>(),
        sha256 in any::<bool>(),
        upper in any::<bool>(),
    ) {
        let algorithm = if sha256 { "SHA-256" } else { "MD5" };
        let hash = hex_hash(algorithm, &format!("{user}:{realm}:{password}"));
        let written = if upper { hash.to_ascii_uppercase() } else { hash.clone() };
        let line = format!("{user}:{realm}:{written}");
        prop_assert_eq!(htdigest_line(&line), Ok(Some((user.as_str(), realm.as_str(), hash))));
    }

    // ---- auth_tkt tickets ----

    #[test]
    fn tickets_never_panic(
        value in prop_oneof![headerish(), "\"? ?[0-9a-f]{32,128}[0-9a-fA-F+-]{8}[^\x00]{0,20}"],
        digest in digests(),
        ip in ips(),
    ) {
        let _ = TicketSigner::new("a secret", digest).parse(&value, ip);
    }

    #[test]
    fn tickets_round_trip(ticket in tickets(), digest in digests(), ip in ips()) {
        let signer = TicketSigner::new("a secret of the tests", digest);
        let value = signer.issue(&ticket, ip);
        prop_assert_eq!(signer.parse(&value, ip), Some(ticket));
    }

    /// Any one edit of a valid ticket (a character replaced, removed or
    /// added) is refused, or reads as the very same ticket (another
    /// spelling of it: `%61` for `a`, an upper-case hex time).
    #[test]
    fn tampered_tickets_are_refused(
        ticket in tickets(),
        digest in digests(),
        ip in ips(),
        at in any::<prop::sample::Index>(),
        edit in 0..3u8,
        c in prop_oneof![any::<char>(), "[0-9a-f!,%]".prop_map(|s| s.chars().next().unwrap_or('!'))],
    ) {
        let signer = TicketSigner::new("a secret of the tests", digest);
        let value = signer.issue(&ticket, ip);
        let mut chars: Vec<char> = value.chars().collect();
        let i = at.index(chars.len());
        match edit {
            0 => chars[i] = c,
            1 => { chars.remove(i); }
            _ => chars.insert(i, c),
        }
        let tampered: String = chars.into_iter().collect();
        let read = signer.parse(&tampered, ip);
        prop_assert!(read.is_none() || read == Some(ticket), "{} read as {:?}", tampered, read);
    }

    /// A ticket is good only with its secret, its digest and its address.
    #[test]
    fn tickets_are_bound_to_secret_digest_and_address(
        ticket in tickets(),
        digest in digests(),
        other_digest in digests(),
        ip in ips(),
        other_ip in ips(),
    ) {
        let signer = TicketSigner::new("a secret of the tests", digest);
        let value = signer.issue(&ticket, ip);
        prop_assert_eq!(TicketSigner::new("another secret", digest).parse(&value, ip), None);
        if other_digest != digest {
            let other = TicketSigner::new("a secret of the tests", other_digest);
            prop_assert_eq!(other.parse(&value, ip), None);
        }
        // No address and 0.0.0.0 are signed alike, as in mod_auth_tkt.
        let unbound = |ip: Option<IpAddr>| ip.unwrap_or(IpAddr::from([0, 0, 0, 0]));
        if unbound(other_ip) != unbound(ip) {
            prop_assert_eq!(signer.parse(&value, other_ip), None);
        }
    }
}
