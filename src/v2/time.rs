//! Times in V2 bodies: RFC 3339 with any offset, or Unix seconds, in; RFC 3339 UTC
//! (`…Z`) out. Window times keep whole seconds; a cursor time keeps milliseconds,
//! since log lines carry them and the cursor must point at one exactly.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// The latest time accepted (9999-12-31T23:59:59Z): a larger one cannot be written back
/// as RFC 3339.
pub(crate) const MAX_UNIX: i64 = 253_402_300_799;

/// A window bound (`from`, `to`), in whole Unix seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Time(pub i64);

/// A cursor position, in Unix milliseconds: never rounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CursorTime(pub i64);

impl Time {
    /// Rounded down to a multiple of `step` (no change for a zero step).
    pub fn aligned(self, step: Duration) -> Time {
        let step = step.as_secs() as i64;
        match step {
            0 => self,
            s => Time(self.0.div_euclid(s) * s),
        }
    }
}

/// Parses a time given as Unix seconds or RFC 3339, into Unix milliseconds.
fn parse_ms(text: &str) -> Option<i64> {
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        let secs: i64 = text.parse().ok()?;
        return (secs <= MAX_UNIX).then_some(secs * 1000);
    }
    let t = OffsetDateTime::parse(text, &Rfc3339).ok()?;
    let secs = t.unix_timestamp();
    ((0..=MAX_UNIX).contains(&secs)).then(|| secs * 1000 + i64::from(t.millisecond()))
}

struct MsVisitor;

impl Visitor<'_> for MsVisitor {
    type Value = i64;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an RFC 3339 time or integer Unix seconds")
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<i64, E> {
        match i64::try_from(v) {
            Ok(secs) if secs <= MAX_UNIX => Ok(secs * 1000),
            _ => Err(E::custom("is out of range")),
        }
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<i64, E> {
        Err(E::custom(format!("{v} is before 1970")))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<i64, E> {
        parse_ms(v)
            .ok_or_else(|| E::custom("must be RFC 3339 (`2026-06-22T00:00:00Z`) or integer Unix seconds"))
    }
}

impl<'de> Deserialize<'de> for Time {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(MsVisitor).map(|ms| Time(ms.div_euclid(1000)))
    }
}

impl<'de> Deserialize<'de> for CursorTime {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(MsVisitor).map(CursorTime)
    }
}

fn utc(ms: i64) -> OffsetDateTime {
    // In range by construction (0..=MAX_UNIX seconds).
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

impl Serialize for Time {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let t = utc(self.0 * 1000);
        let text = format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        );
        s.serialize_str(&text)
    }
}

impl Serialize for CursorTime {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let t = utc(self.0);
        let text = format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            t.millisecond()
        );
        s.serialize_str(&text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn time(json: &str) -> String {
        serde_json::to_string(&serde_json::from_str::<Time>(json).unwrap()).unwrap()
    }

    #[test]
    fn every_spelling_is_one_utc_time() {
        let z = "\"2023-11-14T22:13:20Z\"";
        assert_eq!(time(z), z);
        assert_eq!(time("\"2023-11-15T00:13:20+02:00\""), z);
        assert_eq!(time("1700000000"), z);
        assert_eq!(time("\"1700000000\""), z);
        assert_eq!(time("\"2023-11-14T22:13:20.987Z\""), z, "window times keep whole seconds");
        let cursor: CursorTime = serde_json::from_str("\"2023-11-14T23:13:20.987+01:00\"").unwrap();
        assert_eq!(serde_json::to_string(&cursor).unwrap(), "\"2023-11-14T22:13:20.987Z\"");
    }

    #[test]
    fn bad_times_are_refused() {
        for bad in ["-1", "1e3", "\"yesterday\"", "99999999999999", "\"10000-01-01T00:00:00Z\"", "true"] {
            assert!(serde_json::from_str::<Time>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn alignment_rounds_down() {
        assert_eq!(Time(1_700_000_047).aligned(Duration::from_secs(30)), Time(1_700_000_040));
        assert_eq!(Time(47).aligned(Duration::ZERO), Time(47));
    }
}
