//! The `Range` header (RFC 9110 §14.1.2).

/// What a `Range` header asks of a representation of `len` bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Ranges {
    /// No usable header: send the whole representation. A malformed header,
    /// another unit than bytes, or too many ranges all end here.
    Whole,
    /// Nothing asked for overlaps the representation: 416.
    Unsatisfiable,
    /// These byte ranges, `start..=end`, in the order asked for.
    Some(Vec<(u64, u64)>),
}

/// More ranges than this in one request are ignored (the whole file is
/// sent), so that a request cannot ask for a thousand tiny parts.
const MAX_RANGES: usize = 32;

pub(crate) fn parse(header: &str, len: u64) -> Ranges {
    let Some((unit, specs)) = header.split_once('=') else {
        return Ranges::Whole;
    };
    if !unit.trim().eq_ignore_ascii_case("bytes") {
        return Ranges::Whole;
    }
    let mut ranges = Vec::new();
    let mut count = 0;
    for spec in specs.split(',') {
        let spec = spec.trim();
        if spec.is_empty() {
            continue;
        }
        count += 1;
        if count > MAX_RANGES {
            return Ranges::Whole;
        }
        let Some((first, last)) = spec.split_once('-') else {
            return Ranges::Whole;
        };
        let (first, last) = (first.trim(), last.trim());
        let number = |s: &str| -> Option<u64> {
            (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                .then(|| s.parse().ok())
                .flatten()
        };
        if first.is_empty() {
            // A suffix: the last N bytes.
            let Some(suffix) = number(last) else {
                return Ranges::Whole;
            };
            if suffix > 0 && len > 0 {
                ranges.push((len - suffix.min(len), len - 1));
            }
            continue;
        }
        let Some(start) = number(first) else {
            return Ranges::Whole;
        };
        let end = if last.is_empty() {
            None
        } else {
            match number(last) {
                Some(end) if end >= start => Some(end),
                _ => return Ranges::Whole,
            }
        };
        if start < len {
            let end = end.map_or(len - 1, |end| end.min(len - 1));
            ranges.push((start, end));
        }
    }
    if count == 0 {
        Ranges::Whole
    } else if ranges.is_empty() {
        Ranges::Unsatisfiable
    } else {
        Ranges::Some(ranges)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_ranges() {
        assert_eq!(parse("bytes=0-499", 1000), Ranges::Some(vec![(0, 499)]));
        assert_eq!(parse("bytes=500-", 1000), Ranges::Some(vec![(500, 999)]));
        assert_eq!(parse("bytes=-100", 1000), Ranges::Some(vec![(900, 999)]));
        assert_eq!(parse("bytes=-5000", 1000), Ranges::Some(vec![(0, 999)]));
        assert_eq!(
            parse("bytes=900-5000", 1000),
            Ranges::Some(vec![(900, 999)])
        );
        assert_eq!(parse("BYTES = 1-1", 10), Ranges::Some(vec![(1, 1)]));
    }

    #[test]
    fn multiple_ranges_keep_their_order() {
        assert_eq!(
            parse("bytes=10-19, -5,0-0", 100),
            Ranges::Some(vec![(10, 19), (95, 99), (0, 0)])
        );
        assert_eq!(
            parse("bytes=2000-3000, 0-1", 100),
            Ranges::Some(vec![(0, 1)])
        );
    }

    #[test]
    fn unsatisfiable() {
        assert_eq!(parse("bytes=1000-", 1000), Ranges::Unsatisfiable);
        assert_eq!(parse("bytes=-0", 1000), Ranges::Unsatisfiable);
        assert_eq!(parse("bytes=0-", 0), Ranges::Unsatisfiable);
        assert_eq!(parse("bytes=5-9, 20-30", 5), Ranges::Unsatisfiable);
    }

    #[test]
    fn malformed_is_ignored() {
        for header in [
            "bytes",
            "bytes=",
            "bytes=a-b",
            "bytes=5-1",
            "items=0-1",
            "bytes=1-2-3",
            "bytes=--1",
            "bytes=+1-2",
            "bytes=99999999999999999999999-",
        ] {
            assert_eq!(parse(header, 1000), Ranges::Whole, "{header}");
        }
        let many = format!("bytes={}", vec!["0-0"; 40].join(","));
        assert_eq!(parse(&many, 1000), Ranges::Whole);
    }
}
