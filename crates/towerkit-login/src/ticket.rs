//! auth_tkt tickets, in the format of mod_auth_tkt as Paste and Pyramid
//! write it.

use std::net::IpAddr;

use md5::Md5;
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sha2::{Digest as _, Sha256, Sha512};

use crate::users::same;

/// The hash a ticket is signed with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TicketDigest {
    /// mod_auth_tkt's original.
    Md5,
    /// SHA-256.
    Sha256,
    /// SHA-512 (Pyramid's default).
    Sha512,
}

impl TicketDigest {
    /// From `md5`, `sha256`, `sha512`.
    pub fn parse(name: &str) -> Option<TicketDigest> {
        Some(match name.to_ascii_lowercase().as_str() {
            "md5" => TicketDigest::Md5,
            "sha256" => TicketDigest::Sha256,
            "sha512" => TicketDigest::Sha512,
            _ => return None,
        })
    }

    fn hex(self, data: &[u8]) -> String {
        let bytes: Vec<u8> = match self {
            TicketDigest::Md5 => Md5::digest(data).to_vec(),
            TicketDigest::Sha256 => Sha256::digest(data).to_vec(),
            TicketDigest::Sha512 => Sha512::digest(data).to_vec(),
        };
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn hex_len(self) -> usize {
        match self {
            TicketDigest::Md5 => 32,
            TicketDigest::Sha256 => 64,
            TicketDigest::Sha512 => 128,
        }
    }
}

/// What a ticket says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ticket {
    /// The user.
    pub userid: String,
    /// Tokens (roles, groups).
    pub tokens: Vec<String>,
    /// Free data.
    pub user_data: String,
    /// When it was issued (Unix seconds).
    pub time: u64,
}

/// Python's `urllib.parse.quote` (what Pyramid quotes the user id with):
/// everything but letters, digits, `_.-~` and `/`.
const QUOTE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'_')
    .remove(b'.')
    .remove(b'-')
    .remove(b'~')
    .remove(b'/');

/// Signs and checks tickets with a secret.
#[derive(Clone, Debug)]
pub struct TicketSigner {
    secret: String,
    digest: TicketDigest,
}

fn ip_and_time(ip: Option<IpAddr>, time: u64) -> Vec<u8> {
    match ip {
        Some(IpAddr::V6(v6)) => format!("{v6}{time}").into_bytes(),
        Some(IpAddr::V4(v4)) => {
            let mut bytes = v4.octets().to_vec();
            bytes.extend_from_slice(&(time as u32).to_be_bytes());
            bytes
        }
        None => {
            let mut bytes = vec![0, 0, 0, 0];
            bytes.extend_from_slice(&(time as u32).to_be_bytes());
            bytes
        }
    }
}

impl TicketSigner {
    /// A signer with `secret` and `digest`.
    pub fn new(secret: &str, digest: TicketDigest) -> Self {
        TicketSigner {
            secret: secret.to_owned(),
            digest,
        }
    }

    fn sign(&self, ticket: &Ticket, ip: Option<IpAddr>) -> String {
        let mut data = ip_and_time(ip, ticket.time);
        data.extend_from_slice(self.secret.as_bytes());
        data.extend_from_slice(ticket.userid.as_bytes());
        data.push(0);
        data.extend_from_slice(ticket.tokens.join(",").as_bytes());
        data.push(0);
        data.extend_from_slice(ticket.user_data.as_bytes());
        let first = self.digest.hex(&data);
        self.digest
            .hex(format!("{first}{}", self.secret).as_bytes())
    }

    /// The cookie value of `ticket`; `ip` is the client's when the ticket
    /// is bound to it (`include_ip`).
    pub fn issue(&self, ticket: &Ticket, ip: Option<IpAddr>) -> String {
        let mut value = format!(
            "{}{:08x}{}!",
            self.sign(ticket, ip),
            ticket.time,
            utf8_percent_encode(&ticket.userid, QUOTE)
        );
        if !ticket.tokens.is_empty() {
            value.push_str(&ticket.tokens.join(","));
            value.push('!');
        }
        value.push_str(&ticket.user_data);
        value
    }

    /// The ticket a cookie value holds, if its signature is right.
    ///
    /// A ticket with a NUL in its user (`%00`), tokens or data is refused:
    /// the signature joins them with NULs, so one there could move a
    /// signed ticket's bytes from one field to another (a user `x` with
    /// the token `y` and data `\0z` signs as the user `x\0y` with the
    /// data `z`).
    pub fn parse(&self, value: &str, ip: Option<IpAddr>) -> Option<Ticket> {
        let value = value.trim().trim_matches('"');
        let n = self.digest.hex_len();
        let digest = value.get(..n)?;
        let time = u64::from_str_radix(value.get(n..n + 8)?, 16).ok()?;
        let (userid, data) = value.get(n + 8..)?.split_once('!')?;
        let userid = percent_decode_str(userid).decode_utf8().ok()?.into_owned();
        if userid.contains('\0') || data.contains('\0') {
            return None;
        }
        let (tokens, user_data) = match data.split_once('!') {
            Some((tokens, user_data)) => (tokens, user_data),
            None => ("", data),
        };
        let ticket = Ticket {
            userid,
            tokens: tokens
                .split(',')
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
                .collect(),
            user_data: user_data.to_owned(),
            time,
        };
        same(self.sign(&ticket, ip).as_bytes(), digest.as_bytes()).then_some(ticket)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_tampering() {
        for digest in [
            TicketDigest::Md5,
            TicketDigest::Sha256,
            TicketDigest::Sha512,
        ] {
            let signer = TicketSigner::new("s3cret", digest);
            let ticket = Ticket {
                userid: "ada lovelace".into(),
                tokens: vec!["admin".into(), "editor".into()],
                user_data: "data".into(),
                time: 1_700_000_000,
            };
            let ip: Option<IpAddr> = Some("192.0.2.7".parse().unwrap());
            let value = signer.issue(&ticket, ip);
            assert!(
                value.contains("ada%20lovelace!admin,editor!data"),
                "{value}"
            );
            assert_eq!(signer.parse(&value, ip), Some(ticket.clone()));
            assert_eq!(
                signer.parse(&value, Some("192.0.2.8".parse().unwrap())),
                None
            );
            assert_eq!(signer.parse(&value.replace("admin", "root1"), ip), None);
            assert_eq!(TicketSigner::new("other", digest).parse(&value, ip), None);
        }
    }

    #[test]
    fn a_nul_cannot_move_bytes_between_fields() {
        let signer = TicketSigner::new("s3cret", TicketDigest::Sha256);
        let issued = Ticket {
            userid: "x".into(),
            tokens: vec!["y".into()],
            user_data: "\0z".into(),
            time: 1_700_000_000,
        };
        let value = signer.issue(&issued, None);
        // The same signature, the user changed to `x\0y`.
        let forged = format!("{}x%00y!z", &value[..64 + 8]);
        assert_eq!(signer.parse(&forged, None), None);
        assert_eq!(signer.parse(&value, None), None, "NUL in the data");
    }
}
