//! `Accept-Encoding` (RFC 9110 §12.5.3): may the response be gzipped, and
//! may it be sent as it is. Read here once for every layer that asks: the
//! gzip layer, and the file apps choosing a precompressed `.gz`.
//!
//! ```
//! use http::{header::ACCEPT_ENCODING, HeaderMap, HeaderValue};
//! use towerkit_core::encoding::accepts;
//!
//! let mut headers = HeaderMap::new();
//! headers.insert(ACCEPT_ENCODING, HeaderValue::from_static("gzip;q=0.5, identity;q=0"));
//! let accepts = accepts(&headers);
//! assert!(accepts.gzip && !accepts.identity);
//! ```

use http::header::ACCEPT_ENCODING;
use http::HeaderMap;

/// What a request accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Accepts {
    /// `gzip` (or `x-gzip`, or `*`) with a q above 0.
    pub gzip: bool,
    /// The body as it is: unless refused by name, or by `*;q=0` without an
    /// entry of its own.
    pub identity: bool,
}

/// What the `Accept-Encoding` fields of a request accept, all of them read
/// (a client may send several). No field: identity only.
pub fn accepts(headers: &HeaderMap) -> Accepts {
    let mut gzip = None;
    let mut identity = None;
    let mut any = None;
    let mut present = false;
    for value in headers.get_all(ACCEPT_ENCODING) {
        let Ok(value) = value.to_str() else {
            continue;
        };
        present = true;
        for (coding, q) in crate::header::weighted_items(value) {
            let slot =
                if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") {
                    &mut gzip
                } else if coding.eq_ignore_ascii_case("identity") {
                    &mut identity
                } else if coding == "*" {
                    &mut any
                } else {
                    continue;
                };
            *slot = Some(q);
        }
    }
    if !present {
        // No preference: anything goes, but gzip is not asked for.
        return Accepts {
            gzip: false,
            identity: true,
        };
    }
    Accepts {
        gzip: gzip.or(any).is_some_and(|q| q > 0.0),
        // identity is acceptable unless refused by name, or by `*;q=0`
        // without an entry of its own.
        identity: identity
            .or(any.filter(|q| *q <= 0.0))
            .is_none_or(|q| q > 0.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn of(value: &str) -> Accepts {
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT_ENCODING, HeaderValue::from_str(value).unwrap());
        accepts(&headers)
    }

    fn yes(gzip: bool, identity: bool) -> Accepts {
        Accepts { gzip, identity }
    }

    #[test]
    fn rfc_9110_cases() {
        assert_eq!(accepts(&HeaderMap::new()), yes(false, true));
        assert_eq!(of("gzip"), yes(true, true));
        assert_eq!(of("gzip, deflate, br"), yes(true, true));
        assert_eq!(of("GZIP;Q=0.5"), yes(true, true));
        assert_eq!(of("gzip;q=0"), yes(false, true));
        assert_eq!(of("*"), yes(true, true));
        assert_eq!(of("br, *;q=0"), yes(false, false));
        assert_eq!(of("gzip;q=0, *"), yes(false, true));
        assert_eq!(of("identity;q=0"), yes(false, false));
        assert_eq!(of("gzip, identity;q=0"), yes(true, false));
        assert_eq!(of("*;q=0, identity"), yes(false, true));
        assert_eq!(of(""), yes(false, true));
        assert_eq!(of("x-gzip"), yes(true, true));
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn coding() -> impl Strategy<Value = &'static str> {
            prop_oneof![
                Just("gzip"),
                Just("GZip"),
                Just("x-gzip"),
                Just("identity"),
                Just("*"),
                Just("br"),
                Just("deflate"),
                Just("zstd"),
            ]
        }

        /// RFC 9110 §12.5.3, written out plainly: a coding is acceptable
        /// when the list names it (the last mention counts) with q > 0, or
        /// does not name it and `*` is there with q > 0; identity is also
        /// acceptable when neither it nor `*` is named at all.
        fn model(items: &[(&str, u16)]) -> Accepts {
            let last = |names: &[&str]| {
                items
                    .iter()
                    .rev()
                    .find(|(c, _)| names.iter().any(|n| c.eq_ignore_ascii_case(n)))
                    .map(|(_, q)| *q)
            };
            let star = last(&["*"]);
            let gzip = last(&["gzip", "x-gzip"]).or(star).is_some_and(|q| q > 0);
            let identity = match (last(&["identity"]), star) {
                (Some(q), _) => q > 0,
                (None, Some(0)) => false,
                _ => true,
            };
            Accepts { gzip, identity }
        }

        proptest! {
            #[test]
            fn agrees_with_the_rfc(items in proptest::collection::vec((coding(), 0u16..=1000), 1..6)) {
                let value = items
                    .iter()
                    .map(|(c, q)| format!("{c};q={}.{:03}", q / 1000, q % 1000))
                    .collect::<Vec<_>>()
                    .join(", ");
                prop_assert_eq!(of(&value), model(&items), "{}", value);
            }

            #[test]
            fn any_header_is_read_without_panic(value in "[ -~]{0,64}") {
                if let Ok(value) = http::HeaderValue::from_str(&value) {
                    let mut headers = HeaderMap::new();
                    headers.insert(ACCEPT_ENCODING, value);
                    let _ = accepts(&headers);
                }
            }
        }
    }
}
