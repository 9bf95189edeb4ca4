//! `Retry-After`: delay-seconds or an HTTP date.

use std::time::{Duration, SystemTime};

use http::HeaderValue;

/// The longest back-off honoured, so a wild header cannot stop the gateway for days.
const MAX_BACKOFF: Duration = Duration::from_secs(3600);

/// Parses a `Retry-After` value relative to `now`; `None` if it is neither form.
pub(super) fn parse_retry_after(value: &HeaderValue, now: SystemTime) -> Option<Duration> {
    let text = value.to_str().ok()?.trim();
    let delay = if let Ok(seconds) = text.parse::<u64>() {
        Duration::from_secs(seconds)
    } else {
        let when = httpdate::parse_http_date(text).ok()?;
        when.duration_since(now).unwrap_or(Duration::ZERO)
    };
    Some(delay.min(MAX_BACKOFF))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let v = |s: &str| HeaderValue::from_str(s).unwrap();
        assert_eq!(parse_retry_after(&v("7"), now), Some(Duration::from_secs(7)));
        let date = httpdate::fmt_http_date(now + Duration::from_secs(90));
        assert_eq!(parse_retry_after(&v(&date), now), Some(Duration::from_secs(90)));
        assert_eq!(parse_retry_after(&v("99999999"), now), Some(MAX_BACKOFF));
        assert_eq!(parse_retry_after(&v("soon"), now), None);
    }
}
