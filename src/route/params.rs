//! Query parameters: how each kind is checked and normalised, and the cross-parameter
//! rules. Pure functions; normalising an already normalised value returns it unchanged.

use std::fmt;

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::Normalised;
use crate::urlencoded::BadEncoding;

/// The kinds of value a route parameter can take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ParamKind {
    /// An action name, raw (`Posts#show`) or escaped (`Posts-hash-show`); forwarded escaped.
    Action,
    /// `action` or `action:|:Exception`; the action part is escaped as for [`ParamKind::Action`].
    ActionWithException,
    /// Free text such as an exception name: non-empty, no control characters.
    Text,
    /// Unix seconds or RFC 3339; forwarded as Unix seconds (0 for a time before 1970).
    UnixTime,
    /// Unix seconds or RFC 3339; forwarded as RFC 3339 in UTC (`2023-11-14T22:13:20Z`).
    IsoTime,
    /// A whole number from 1 to 1000.
    Limit,
    /// `true` or `false`.
    Bool,
    /// Exactly one of these words.
    OneOf(&'static [&'static str]),
    /// Repeatable; each one of these words; de-duplicated and sorted.
    SetOf(&'static [&'static str]),
    /// A whole number from `min` to `max` (a GraphQL `Int` is 32-bit; `limit` 1..=100).
    Ranged(i64, i64),
    /// A finite decimal number (a GraphQL `Float`).
    Float,
    /// An identifier of at most 64 letters, digits and underscores, not starting with a
    /// digit (a GraphQL enum value).
    Ident,
    /// Repeatable (`name[]=`); each value of the inner kind; de-duplicated and sorted (a
    /// GraphQL list variable).
    ListOf(&'static ParamKind),
}

/// A GraphQL `Int` (32-bit).
pub static INT: ParamKind = ParamKind::Ranged(i32::MIN as i64, i32::MAX as i64);
/// A GraphQL `Float`.
pub static FLOAT: ParamKind = ParamKind::Float;
/// A GraphQL `String` or `ID`.
pub static TEXT: ParamKind = ParamKind::Text;
/// A GraphQL `Boolean`.
pub static BOOL: ParamKind = ParamKind::Bool;
/// A GraphQL `DateTime`: accepted as `since` is, forwarded as RFC 3339 UTC.
pub static DATE_TIME: ParamKind = ParamKind::IsoTime;
/// A GraphQL enum value.
pub static IDENT: ParamKind = ParamKind::Ident;

/// A parameter a route accepts.
#[derive(Debug, Clone, Copy)]
pub struct ParamSpec {
    /// The name as it appears in the (decoded) query string.
    pub name: &'static str,
    /// How its value is checked and normalised.
    pub kind: ParamKind,
    /// Whether a request without it is a 400 (a GraphQL variable declared `!` without
    /// a default).
    pub required: bool,
}

impl ParamSpec {
    /// An optional parameter named `name` of kind `kind`.
    pub const fn new(name: &'static str, kind: ParamKind) -> Self {
        ParamSpec { name, kind, required: false }
    }

    /// The same parameter, required.
    pub const fn required(self) -> Self {
        ParamSpec { required: true, ..self }
    }

    /// Whether the parameter may be given more than once.
    pub fn repeatable(&self) -> bool {
        matches!(self.kind, ParamKind::SetOf(_) | ParamKind::ListOf(_))
    }
}

/// A bad parameter: its name and why. The value is never echoed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamError {
    /// The parameter's name, as the client sent it (shortened if very long).
    pub name: String,
    /// Why it was refused.
    pub reason: String,
}

impl ParamError {
    /// A refusal of `name` because of `reason`.
    pub fn new(name: &str, reason: impl Into<String>) -> Self {
        // Names are echoed to the client; a hostile one must not fill the answer.
        let name: String = name.chars().take(64).collect();
        ParamError { name, reason: reason.into() }
    }
}

impl From<BadEncoding> for ParamError {
    fn from(error: BadEncoding) -> Self {
        match error {
            BadEncoding::Name => {
                ParamError::new("(name)", "a parameter name is not valid percent-encoded UTF-8")
            }
            BadEncoding::Value(name) => ParamError::new(&name, "is not valid percent-encoded UTF-8"),
        }
    }
}

impl fmt::Display for ParamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "parameter `{}`: {}", self.name, self.reason)
    }
}

/// The longest text value accepted, in characters (as JSON Schema's `maxLength` counts);
/// AppSignal's names are far shorter.
pub const MAX_TEXT: usize = 512;
/// The last second of year 9999, so that RFC 3339 forms stay four-digit and comparable.
pub const MAX_TIME: i64 = 253_402_300_799;
/// The first second of year 0000 in UTC: every RFC 3339 time (years 0000–9999, any
/// offset) that stays four-digit in UTC is accepted, as OpenAPI's `date-time` promises.
const MIN_TIME: i64 = -62_167_219_200;

impl ParamKind {
    /// Checks a decoded value and returns its normalised, forwarded form.
    pub fn normalise(self, name: &str, value: &str) -> Result<String, ParamError> {
        let fail = |reason: String| Err(ParamError::new(name, reason));
        match self {
            ParamKind::Action => text(name, value).map(escape_action),
            ParamKind::ActionWithException => match value.split_once(":|:") {
                Some((action, exception)) => {
                    let action = escape_action(text(name, action)?);
                    Ok(format!("{action}:|:{}", text(name, exception)?))
                }
                None => text(name, value).map(escape_action),
            },
            ParamKind::Text => text(name, value).map(str::to_owned),
            // Before 1970 is forwarded as 0: AppSignal holds nothing older, and the forwarded
            // value stays one the gateway accepts back (a normalised target normalises to itself).
            ParamKind::UnixTime => Ok(parse_time(name, value)?.max(0).to_string()),
            ParamKind::IsoTime => Ok(iso(parse_time(name, value)?)),
            ParamKind::Limit => match value.parse::<u16>() {
                Ok(n @ 1..=1000) if value.bytes().all(|b| b.is_ascii_digit()) => Ok(n.to_string()),
                _ => fail("must be a whole number from 1 to 1000".into()),
            },
            ParamKind::Bool => match value {
                "true" | "false" => Ok(value.to_owned()),
                _ => fail("must be true or false".into()),
            },
            ParamKind::OneOf(words) | ParamKind::SetOf(words) => {
                if words.contains(&value) {
                    Ok(value.to_owned())
                } else {
                    fail(format!("must be one of: {}", words.join(", ")))
                }
            }
            ParamKind::Ranged(min, max) => match value.parse::<i64>() {
                Ok(n) if (min..=max).contains(&n) && value.len() <= 20 => Ok(n.to_string()),
                _ => fail(format!("must be a whole number from {min} to {max}")),
            },
            ParamKind::Float => match value.parse::<f64>() {
                Ok(n) if n.is_finite() && value.len() <= 32 && !value.contains(['i', 'I', 'n', 'N']) => {
                    Ok(value.to_owned())
                }
                _ => fail("must be a decimal number".into()),
            },
            ParamKind::Ident => match is_ident(value) {
                true => Ok(value.to_owned()),
                false => fail(
                    "must be an identifier: 1 to 64 letters, digits and underscores, not starting with a digit"
                        .into(),
                ),
            },
            ParamKind::ListOf(inner) => inner.normalise(name, value),
        }
    }
}

/// A GraphQL name: `[A-Za-z_][A-Za-z0-9_]*`, here at most 64 characters.
pub fn is_ident(value: &str) -> bool {
    let mut bytes = value.bytes();
    let first = bytes.next().is_some_and(|b| b.is_ascii_alphabetic() || b == b'_');
    first && value.len() <= 64 && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn text<'a>(name: &str, value: &'a str) -> Result<&'a str, ParamError> {
    if value.is_empty() {
        Err(ParamError::new(name, "must not be empty"))
    } else if value.chars().count() > MAX_TEXT {
        Err(ParamError::new(name, format!("must be at most {MAX_TEXT} characters")))
    } else if value.chars().any(char::is_control) {
        Err(ParamError::new(name, "must not contain control characters"))
    } else {
        Ok(value)
    }
}

/// AppSignal's escaping of action names: `#` → `-hash-`, `/` → `-slash-`, `.` → `-dot-`.
/// Escaping an escaped name changes nothing, so raw and escaped forms meet.
///
/// ```
/// use appsignal_gateway::route::escape_action;
/// assert_eq!(escape_action("BlogPostsController#show"), "BlogPostsController-hash-show");
/// assert_eq!(escape_action("BlogPostsController-hash-show"), "BlogPostsController-hash-show");
/// ```
pub fn escape_action(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len() + 8);
    for c in raw.chars() {
        match c {
            '#' => out.push_str("-hash-"),
            '/' => out.push_str("-slash-"),
            '.' => out.push_str("-dot-"),
            c => out.push(c),
        }
    }
    out
}

/// Unix seconds (digits only) or an RFC 3339 time, as Unix seconds.
fn parse_time(name: &str, value: &str) -> Result<i64, ParamError> {
    let seconds = if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        value.parse::<i64>().ok().filter(|s| *s <= MAX_TIME)
    } else {
        OffsetDateTime::parse(value, &Rfc3339).ok().map(OffsetDateTime::unix_timestamp)
    };
    match seconds {
        Some(s @ MIN_TIME..=MAX_TIME) => Ok(s),
        _ => Err(ParamError::new(
            name,
            "must be Unix seconds (0 to 253402300799) or an RFC 3339 time like 2023-11-14T22:13:20Z \
             (year 0000 to 9999 in UTC)",
        )),
    }
}

/// Unix seconds as RFC 3339 in UTC, to the second.
fn iso(seconds: i64) -> String {
    OffsetDateTime::from_unix_timestamp(seconds)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

/// Rules that tie a route's parameters together.
pub mod cross_checks {
    use super::{Normalised, ParamError};

    /// No rule across parameters.
    pub fn none(_: &Normalised) -> Result<(), ParamError> {
        Ok(())
    }

    /// `from`, when given with `to`, must be before it. Both are normalised RFC 3339 UTC
    /// with four-digit years, so text order is time order.
    pub fn from_before_to(q: &Normalised) -> Result<(), ParamError> {
        match (q.get("from"), q.get("to")) {
            (Some(from), Some(to)) if from >= to => Err(ParamError::new("from", "must be before `to`")),
            _ => Ok(()),
        }
    }

    /// Graphs: exactly one of `kind` / `action_name`; `from`/`to` or `timeframe`, not both.
    pub fn graphs(q: &Normalised) -> Result<(), ParamError> {
        match (q.get("kind"), q.get("action_name")) {
            (Some(_), Some(_)) => {
                return Err(ParamError::new("action_name", "give either `kind` or `action_name`, not both"))
            }
            (None, None) => return Err(ParamError::new("kind", "give one of `kind` or `action_name`")),
            _ => {}
        }
        if q.get("timeframe").is_some() && (q.get("from").is_some() || q.get("to").is_some()) {
            return Err(ParamError::new("timeframe", "give either `timeframe` or `from`/`to`, not both"));
        }
        from_before_to(q)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_is_idempotent() {
        let escaped = escape_action("Api/V1.Posts#show");
        assert_eq!(escaped, "Api-slash-V1-dot-Posts-hash-show");
        assert_eq!(escape_action(&escaped), escaped);
    }

    #[test]
    fn times_accept_unix_and_rfc3339() {
        let unix = ParamKind::UnixTime;
        assert_eq!(unix.normalise("since", "1700000000").unwrap(), "1700000000");
        assert_eq!(unix.normalise("since", "2023-11-14T22:13:20Z").unwrap(), "1700000000");
        assert_eq!(unix.normalise("since", "2023-11-14T23:13:20+01:00").unwrap(), "1700000000");
        assert_eq!(
            unix.normalise("since", "1900-01-01T00:00:00Z").unwrap(),
            "0",
            "before 1970: 0, accepted back"
        );
        let iso = ParamKind::IsoTime;
        assert_eq!(iso.normalise("from", "1700000000").unwrap(), "2023-11-14T22:13:20Z");
        assert_eq!(iso.normalise("from", "2023-11-14T22:13:20Z").unwrap(), "2023-11-14T22:13:20Z");
        for bad in ["", "-1", "yesterday", "1e9", "2023-13-01T00:00:00Z", "99999999999999999999"] {
            assert!(unix.normalise("since", bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn limit_is_bounded() {
        let limit = ParamKind::Limit;
        assert_eq!(limit.normalise("limit", "010").unwrap(), "10");
        for bad in ["0", "1001", "-1", "+5", "ten", ""] {
            assert!(limit.normalise("limit", bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn action_with_exception_escapes_the_action_only() {
        let kind = ParamKind::ActionWithException;
        assert_eq!(
            kind.normalise("action_name", "Posts#show:|:Mongoid::RecordNotFound").unwrap(),
            "Posts-hash-show:|:Mongoid::RecordNotFound"
        );
        assert!(kind.normalise("action_name", "Posts#show:|:").is_err());
    }

    #[test]
    fn error_names_are_bounded() {
        let long = "x".repeat(1000);
        assert_eq!(ParamError::new(&long, "bad").name.len(), 64);
    }
}
