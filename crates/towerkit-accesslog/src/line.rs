//! One line of the combined format.

use std::fmt::Write;
use std::net::IpAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use http::header::{REFERER, USER_AGENT};
use http::{HeaderMap, Method, StatusCode, Uri, Version};

/// What is known of a request when it arrives.
pub(crate) struct Arrival {
    pub(crate) time: SystemTime,
    /// `"%r"`, escaped, without the quotes.
    pub(crate) request_line: String,
    pub(crate) referer: String,
    pub(crate) user_agent: String,
}

impl Arrival {
    pub(crate) fn new(method: &Method, uri: &Uri, version: Version, headers: &HeaderMap) -> Self {
        let target = uri.path_and_query().map_or("/", |pq| pq.as_str());
        let mut request_line = String::with_capacity(target.len() + 16);
        escape_into(&mut request_line, method.as_str().as_bytes());
        request_line.push(' ');
        escape_into(&mut request_line, target.as_bytes());
        request_line.push(' ');
        request_line.push_str(version_str(version));
        Arrival {
            time: SystemTime::now(),
            request_line,
            referer: header(headers, REFERER),
            user_agent: header(headers, USER_AGENT),
        }
    }

    /// The full line, once the response is done with.
    pub(crate) fn line(
        &self,
        host: Option<IpAddr>,
        user: Option<&str>,
        status: StatusCode,
        bytes: u64,
    ) -> String {
        let mut line = String::with_capacity(96 + self.request_line.len() + self.user_agent.len());
        match host {
            Some(ip) => write!(line, "{ip}").unwrap_or(()),
            None => line.push('-'),
        }
        line.push_str(" - ");
        match user {
            Some(user) if !user.is_empty() => escape_into(&mut line, user.as_bytes()),
            _ => line.push('-'),
        }
        line.push_str(" [");
        clf_time(&mut line, self.time);
        line.push_str("] \"");
        line.push_str(&self.request_line);
        line.push_str("\" ");
        write!(line, "{}", status.as_u16()).unwrap_or(());
        if bytes == 0 {
            line.push_str(" -");
        } else {
            write!(line, " {bytes}").unwrap_or(());
        }
        line.push_str(" \"");
        line.push_str(&self.referer);
        line.push_str("\" \"");
        line.push_str(&self.user_agent);
        line.push('"');
        line
    }
}

fn header(headers: &HeaderMap, name: http::header::HeaderName) -> String {
    match headers.get(name) {
        Some(value) => {
            let mut out = String::with_capacity(value.len());
            escape_into(&mut out, value.as_bytes());
            out
        }
        None => "-".to_owned(),
    }
}

fn version_str(version: Version) -> &'static str {
    match version {
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_2 => "HTTP/2.0",
        Version::HTTP_3 => "HTTP/3.0",
        _ => "HTTP/1.1",
    }
}

/// Apache's escaping: `"` and `\` backslashed, bytes outside printable
/// ASCII as `\xhh`.
fn escape_into(out: &mut String, bytes: &[u8]) {
    for &b in bytes {
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            0x20..=0x7e => out.push(b as char),
            _ => write!(out, "\\x{b:02x}").unwrap_or(()),
        }
    }
}

/// `%t`: `21/Nov/2026:15:27:21 +0000`.
fn clf_time(out: &mut String, time: SystemTime) {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (year, month, day) = civil_from_days((secs / 86_400) as i64);
    let rest = secs % 86_400;
    let _ = write!(
        out,
        "{day:02}/{}/{year}:{:02}:{:02}:{:02} +0000",
        MONTHS[(month - 1) as usize],
        rest / 3600,
        rest / 60 % 60,
        rest % 60
    );
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard
/// Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(20_413), (2025, 11, 21));
        let mut out = String::new();
        clf_time(&mut out, UNIX_EPOCH + Duration::from_secs(1_763_739_000));
        assert_eq!(out, "21/Nov/2025:15:30:00 +0000");
    }

    #[test]
    fn a_combined_line_escapes_what_a_client_sent() {
        let mut headers = HeaderMap::new();
        headers.insert(USER_AGENT, "evil\" agent".parse().unwrap());
        let mut arrival = Arrival::new(
            &Method::GET,
            &"/a?b=\"c\""
                .parse::<Uri>()
                .unwrap_or_else(|_| "/a".parse().unwrap()),
            Version::HTTP_11,
            &headers,
        );
        arrival.time = UNIX_EPOCH;
        let line = arrival.line(
            Some([127, 0, 0, 1].into()),
            Some("alice"),
            StatusCode::OK,
            12,
        );
        assert!(line.starts_with("127.0.0.1 - alice [01/Jan/1970:00:00:00 +0000] \"GET /a"));
        assert!(
            line.ends_with(" HTTP/1.1\" 200 12 \"-\" \"evil\\\" agent\""),
            "{line}"
        );
        let line = arrival.line(None, None, StatusCode::NOT_FOUND, 0);
        assert!(line.starts_with("- - - ["));
        assert!(line.contains("\" 404 - \""));
    }
}
