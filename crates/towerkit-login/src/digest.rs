//! HTTP Digest (RFC 7616): server-made nonces and the response check.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use md5::Md5;
use sha2::{Digest as _, Sha256};

use crate::users::same;

/// `H(text)` in lower-case hex for `MD5` or `SHA-256`.
pub fn hex_hash(algorithm: &str, text: &str) -> String {
    let bytes: Vec<u8> = match algorithm {
        "SHA-256" => Sha256::digest(text.as_bytes()).to_vec(),
        _ => Md5::digest(text.as_bytes()).to_vec(),
    };
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Makes and checks nonces: `base64(time ‖ unique ‖ HMAC(key, time ‖
/// unique))`, so that only nonces signed with this key pass, and only
/// while young. The highest `nc` seen per nonce, so that a replayed
/// request is refused, is kept by the layer's
/// [`LoginState`](crate::state::LoginState).
///
/// The key comes from the operating system's randomness when the layer is
/// made, or there is no layer ([`Nonces::new`] fails): a key anyone can
/// guess (zeros) would let anyone make nonces that pass. With a shared
/// secret ([`Nonces::keyed`]) the key is derived from it, and every
/// instance that shares it validates the others' nonces. The `unique` part
/// needs no randomness after that: it is `HMAC(key, salt ‖ counter)`, with
/// a random salt of this process, different for every nonce (of every
/// instance) and unpredictable without the key.
pub(crate) struct Nonces {
    key: [u8; 32],
    /// This process's own: two instances sharing a key issue different
    /// nonces.
    salt: [u8; 32],
    lifetime: Duration,
    issued: AtomicU64,
}

/// What a nonce check found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum NonceCheck {
    /// Signed with the key and young: issued at this Unix time.
    Fresh(u64),
    /// Made here, but too old or its `nc` already used: a new challenge
    /// with `stale=true` lets the client retry without asking the user.
    Stale,
    /// Not made here.
    Forged,
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

impl Nonces {
    /// Nonces good for `lifetime`, signed with a key `fill` makes (the
    /// OS's randomness: `getrandom::fill`). An error of `fill` is returned:
    /// no key is made of anything else.
    pub(crate) fn new(
        lifetime: Duration,
        fill: impl FnOnce(&mut [u8]) -> Result<(), getrandom::Error>,
    ) -> Result<Self, getrandom::Error> {
        let mut key = [0u8; 32];
        fill(&mut key)?;
        Ok(Nonces {
            key,
            salt: key,
            lifetime,
            issued: AtomicU64::new(0),
        })
    }

    /// These nonces with the key derived from `secret` (HMAC-SHA-256 of a
    /// label under the secret, as HKDF's extract step): every instance
    /// given the same secret signs and checks with the same key.
    pub(crate) fn keyed(&self, secret: &[u8]) -> Nonces {
        let mut key = [0u8; 32];
        if let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) {
            mac.update(b"towerkit-login digest nonce key v1");
            key.copy_from_slice(&mac.finalize().into_bytes());
        }
        Nonces {
            key,
            salt: self.salt,
            lifetime: self.lifetime,
            issued: AtomicU64::new(0),
        }
    }

    /// How long a nonce is good.
    pub(crate) fn lifetime(&self) -> Duration {
        self.lifetime
    }

    fn mac(&self, data: &[u8]) -> Vec<u8> {
        let mut mac = match Hmac::<Sha256>::new_from_slice(&self.key) {
            Ok(mac) => mac,
            Err(_) => return Vec::new(),
        };
        mac.update(data);
        mac.finalize().into_bytes()[..16].to_vec()
    }

    pub(crate) fn issue(&self) -> String {
        let mut data = unix_now().to_be_bytes().to_vec();
        let count = self.issued.fetch_add(1, Ordering::Relaxed);
        let mut unique = b"nonce#".to_vec();
        unique.extend_from_slice(&self.salt);
        unique.extend_from_slice(&count.to_be_bytes());
        data.extend_from_slice(&self.mac(&unique)[..8]);
        let mac = self.mac(&data);
        data.extend_from_slice(&mac);
        URL_SAFE_NO_PAD.encode(data)
    }

    /// Whether `nonce` was signed with this key, and is young. Its `nc`
    /// is the state's to check.
    pub(crate) fn check(&self, nonce: &str) -> NonceCheck {
        let Ok(bytes) = URL_SAFE_NO_PAD.decode(nonce) else {
            return NonceCheck::Forged;
        };
        if bytes.len() != 32 || !same(&self.mac(&bytes[..16]), &bytes[16..]) {
            return NonceCheck::Forged;
        }
        let mut time = [0u8; 8];
        time.copy_from_slice(&bytes[..8]);
        let issued = u64::from_be_bytes(time);
        let now = unix_now();
        if now.saturating_sub(issued) > self.lifetime.as_secs() {
            return NonceCheck::Stale;
        }
        NonceCheck::Fresh(issued)
    }
}

/// The parameters of an `Authorization: Digest` header.
pub(crate) fn parse_params(text: &str) -> HashMap<String, String> {
    let mut params = HashMap::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let Some(eq) = rest.find('=') else { break };
        let name = rest[..eq]
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        rest = rest[eq + 1..].trim_start();
        let value;
        if let Some(quoted) = rest.strip_prefix('"') {
            let mut out = String::new();
            let mut chars = quoted.char_indices();
            let mut end = quoted.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, next)) = chars.next() {
                            out.push(next);
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    c => out.push(c),
                }
            }
            value = out;
            rest = quoted[end.min(quoted.len())..].trim_start();
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            value = rest[..end].trim().to_owned();
            rest = &rest[end..];
        }
        rest = rest.trim_start_matches(',').trim_start();
        params.insert(name, value);
    }
    params
}

/// The expected `response` for qop=auth.
#[allow(clippy::too_many_arguments)]
pub(crate) fn expected_response(
    algorithm: &str,
    ha1: &str,
    nonce: &str,
    nc: &str,
    cnonce: &str,
    method: &str,
    uri: &str,
) -> String {
    let ha2 = hex_hash(algorithm, &format!("{method}:{uri}"));
    hex_hash(
        algorithm,
        &format!("{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_7616_example() {
        // RFC 7616 §3.9.1, SHA-256.
        let ha1 = hex_hash("SHA-256", "Mufasa:http-auth@example.org:Circle of Life");
        let response = expected_response(
            "SHA-256",
            &ha1,
            "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
            "00000001",
            "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
            "GET",
            "/dir/index.html",
        );
        assert_eq!(
            response,
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
        );
        let ha1 = hex_hash("MD5", "Mufasa:http-auth@example.org:Circle of Life");
        let response = expected_response(
            "MD5",
            &ha1,
            "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
            "00000001",
            "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
            "GET",
            "/dir/index.html",
        );
        assert_eq!(response, "8ca523f5e9506fed4657c9700eebdbec");
    }

    #[test]
    fn nonces_made_here_pass_and_no_others() {
        let nonces = Nonces::new(Duration::from_secs(60), getrandom::fill).unwrap();
        let nonce = nonces.issue();
        assert!(matches!(nonces.check(&nonce), NonceCheck::Fresh(_)));
        assert_ne!(nonces.issue(), nonces.issue(), "each nonce is new");
        let other = Nonces::new(Duration::from_secs(60), getrandom::fill).unwrap();
        assert_eq!(other.check(&nonce), NonceCheck::Forged);
        assert_eq!(nonces.check("garbage"), NonceCheck::Forged);
    }

    #[test]
    fn instances_sharing_a_secret_check_each_others_nonces() {
        let secret = b"a secret of the tests, 32 bytes or more";
        let a = Nonces::new(Duration::from_secs(60), getrandom::fill)
            .unwrap()
            .keyed(secret);
        let b = Nonces::new(Duration::from_secs(60), getrandom::fill)
            .unwrap()
            .keyed(secret);
        let from_a = a.issue();
        assert!(matches!(b.check(&from_a), NonceCheck::Fresh(_)));
        // Each instance's first nonce differs, in the same second too: the
        // unique part is salted with the instance's own randomness.
        let unique = |nonce: &str| URL_SAFE_NO_PAD.decode(nonce).unwrap()[8..16].to_vec();
        assert_ne!(unique(&from_a), unique(&b.issue()));
        let other = Nonces::new(Duration::from_secs(60), getrandom::fill)
            .unwrap()
            .keyed(b"another secret of the tests, 32 bytes");
        assert_eq!(other.check(&from_a), NonceCheck::Forged);
        // A layer without the secret does not take them either.
        let unkeyed = Nonces::new(Duration::from_secs(60), getrandom::fill).unwrap();
        assert_eq!(unkeyed.check(&from_a), NonceCheck::Forged);
    }

    #[test]
    fn header_parameters() {
        let p = parse_params(
            r#"username="Mufasa", realm="x y", nonce="a\"b", uri="/d?q=1,2", qop=auth, nc=00000001, cnonce="c""#,
        );
        assert_eq!(p["username"], "Mufasa");
        assert_eq!(p["realm"], "x y");
        assert_eq!(p["nonce"], "a\"b");
        assert_eq!(p["uri"], "/d?q=1,2");
        assert_eq!(p["qop"], "auth");
        assert_eq!(p["nc"], "00000001");
    }
}
