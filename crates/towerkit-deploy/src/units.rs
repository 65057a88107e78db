//! Durations and sizes as people write them in a config.
//!
//! Everywhere in a stack file a duration is a string with a unit (`"500ms"`,
//! `"10s"`, `"5m"`, `"2h"`, `"1d"`) or a number of seconds, and a size is a
//! number of bytes or a string with a unit (`"64KiB"`, `"16MiB"`, `"10MB"`,
//! `"1GB"`, `"512B"`).

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

/// A [`Duration`] read from `"10s"`, `"500ms"`, `"2h"` or a number of seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HumanDuration(pub Duration);

/// A size in bytes read from a number or `"64KiB"`, `"16MiB"`, `"10MB"`…
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ByteSize(pub u64);

/// Parses `"10s"`, `"1.5h"`, `"500ms"`, `"250us"`.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let seconds = match unit.trim() {
        "us" | "µs" => number / 1_000_000.0,
        "ms" => number / 1000.0,
        "s" | "sec" => number,
        "m" | "min" => number * 60.0,
        "h" => number * 3600.0,
        "d" => number * 86400.0,
        _ => return None,
    };
    Duration::try_from_secs_f64(seconds).ok()
}

/// Parses `"64KiB"`, `"16MiB"`, `"10MB"`, `"1GB"`, `"512B"`, `"4096"`.
pub fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" | "k" => 1000,
        "kib" => 1 << 10,
        "mb" | "m" => 1000 * 1000,
        "mib" => 1 << 20,
        "gb" | "g" => 1000 * 1000 * 1000,
        "gib" => 1 << 30,
        _ => return None,
    };
    let bytes = number * factor as f64;
    (bytes.is_finite() && bytes >= 0.0 && bytes < u64::MAX as f64).then_some(bytes as u64)
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = HumanDuration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as \"500ms\", \"10s\", \"2h\" or a number of seconds")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<HumanDuration, E> {
                Ok(HumanDuration(Duration::from_secs(v)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<HumanDuration, E> {
                u64::try_from(v)
                    .map(|v| HumanDuration(Duration::from_secs(v)))
                    .map_err(|_| E::custom("a duration cannot be negative"))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<HumanDuration, E> {
                parse_duration(v)
                    .map(HumanDuration)
                    .ok_or_else(|| E::invalid_value(de::Unexpected::Str(v), &self))
            }
        }
        deserializer.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = ByteSize;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a size such as 4096, \"64KiB\" or \"16MiB\"")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ByteSize, E> {
                Ok(ByteSize(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ByteSize, E> {
                u64::try_from(v)
                    .map(ByteSize)
                    .map_err(|_| E::custom("a size cannot be negative"))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ByteSize, E> {
                parse_size(v)
                    .map(ByteSize)
                    .ok_or_else(|| E::invalid_value(de::Unexpected::Str(v), &self))
            }
        }
        deserializer.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("10s"), Some(Duration::from_secs(10)));
        assert_eq!(parse_duration("2h"), Some(Duration::from_secs(7200)));
        assert_eq!(parse_duration("1.5m"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("10"), None);
        assert_eq!(parse_duration("ten s"), None);
        assert_eq!(parse_duration("5 parsecs"), None);
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("64KiB"), Some(65536));
        assert_eq!(parse_size("16MiB"), Some(16 << 20));
        assert_eq!(parse_size("10MB"), Some(10_000_000));
        assert_eq!(parse_size("4096"), Some(4096));
        assert_eq!(parse_size("-1"), None);
        assert_eq!(parse_size("lots"), None);
    }

    mod properties {
        use super::super::*;
        use proptest::prelude::*;

        const SIZE_UNITS: [(&str, u64); 12] = [
            ("", 1),
            ("B", 1),
            ("b", 1),
            ("KB", 1000),
            ("k", 1000),
            ("KiB", 1 << 10),
            ("kib", 1 << 10),
            ("MB", 1_000_000),
            ("MiB", 1 << 20),
            ("GB", 1_000_000_000),
            ("GiB", 1 << 30),
            ("gib", 1 << 30),
        ];

        const DURATION_UNITS: [(&str, u64); 7] = [
            ("us", 1_000),
            ("ms", 1_000_000),
            ("s", 1_000_000_000),
            ("sec", 1_000_000_000),
            ("m", 60_000_000_000),
            ("h", 3_600_000_000_000),
            ("d", 86_400_000_000_000),
        ];

        proptest! {
            /// A whole number with a unit is that many bytes, exactly, with
            /// or without spaces.
            #[test]
            fn sizes_are_exact(n in 0u64..(1 << 20), unit in 0usize..12, space in any::<bool>()) {
                let (name, factor) = SIZE_UNITS[unit];
                let space = if space { " " } else { "" };
                prop_assert_eq!(parse_size(&format!(" {n}{space}{name} ")), Some(n * factor));
            }

            /// A whole number with a unit is that duration, to the
            /// microsecond (`ms` and `us` go through a fraction of a
            /// second).
            #[test]
            fn durations_are_exact(n in 0u64..100_000, unit in 0usize..7) {
                let (name, nanos) = DURATION_UNITS[unit];
                let parsed = parse_duration(&format!("{n}{name}")).expect("parsed");
                let expected = u128::from(n) * u128::from(nanos);
                prop_assert!(parsed.as_nanos().abs_diff(expected) < 1_000, "{}{}: {:?}", n, name, parsed);
            }

            /// Any text either reads as a size or is refused; nothing
            /// panics, and nothing negative or too large wraps around.
            #[test]
            fn any_text_is_read_or_refused(text in "\\PC{0,24}") {
                if let Some(size) = parse_size(&text) {
                    prop_assert!(text.trim().starts_with(|c: char| c.is_ascii_digit() || c == '.'));
                    let _ = size;
                }
                let _ = parse_duration(&text);
            }

            /// Sizes past what a u64 holds are refused, not wrapped.
            #[test]
            fn huge_sizes_are_refused(n in 18_000_000_000u64..u64::MAX / 2) {
                prop_assert_eq!(parse_size(&format!("{n}GiB")), None);
            }
        }
    }
}
