//! The keys whose values are durations: what `check` prints normalised, and where a bare
//! number gets a hint instead of serde's "invalid type".

use figment::error::Actual;

/// Every duration key, by dotted path. `validate` reads each of these with its
/// duration parser; the test below keeps the two lists equal.
pub const DURATION_KEYS: &[&str] = &[
    "cache.ttl.list",
    "cache.ttl.show",
    "cache.ttl.not_found",
    "cache.ttl.graphs",
    "cache.ttl.markers",
    "cache.stale_while_revalidate",
    "cache.stale_if_error",
    "cors.max_age",
    "limits.header_read_timeout",
    "limits.idle_timeout",
    "shared.connect_timeout",
    "shared.command_timeout",
    "upstream.connect_timeout",
    "upstream.timeout",
];

/// The reason for a number given where `key` wants a duration (`list: 30`, or
/// `…TTL__LIST=10`, which the environment provider reads as a number): the unit is
/// what is missing, so say which to write. `None` for any other key or value.
pub fn bare_number(key: &str, actual: &Actual) -> Option<String> {
    if !DURATION_KEYS.contains(&key) {
        return None;
    }
    let number = match actual {
        Actual::Unsigned(n) => n.to_string(),
        Actual::Signed(n) => n.to_string(),
        Actual::Float(n) => n.to_string(),
        _ => return None,
    };
    Some(format!("`{number}` is not a duration; write `{number}s` (or another unit: `ms`, `m`, `h`)"))
}

/// Rewrites every duration in `tree` (the raw configuration as YAML) in one spelling:
/// `"30 secs"` and `"30s"` both print as `30s`, `"90s"` as `1m 30s`. A value that does
/// not parse is left as written (`check` has refused it before printing).
pub fn normalise(tree: &mut serde_yaml::Value) {
    for key in DURATION_KEYS {
        let mut node = Some(&mut *tree);
        for part in key.split('.') {
            node = node.and_then(|n| n.get_mut(part));
        }
        if let Some(value) = node {
            if let Some(parsed) = value.as_str().and_then(|s| humantime::parse_duration(s).ok()) {
                *value = serde_yaml::Value::String(humantime::format_duration(parsed).to_string());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{validate, RawConfig};

    /// A key validated as a duration and missing here would print un-normalised and get
    /// no hint; a key here that is not one would get a wrong hint.
    #[test]
    fn the_list_is_every_key_validate_reads_as_a_duration() {
        let mut tree = serde_yaml::to_value(RawConfig::default()).unwrap();
        for key in DURATION_KEYS {
            let mut node = Some(&mut tree);
            for part in key.split('.') {
                node = node.and_then(|n| n.get_mut(part));
            }
            *node.unwrap_or_else(|| panic!("{key} is not a key")) = "soon".into();
        }
        // The shared tier's keys are read only when it is configured.
        tree["shared"]["redis_url"] = "redis://127.0.0.1:6379/0".into();
        let raw: RawConfig = serde_yaml::from_value(tree).unwrap();
        let errors = validate(&raw).unwrap_err().errors;
        let mut durations: Vec<&str> = errors
            .iter()
            .filter(|e| e.reason.contains("is not a duration"))
            .map(|e| e.key.as_str())
            .collect();
        durations.sort_unstable();
        let mut expected = DURATION_KEYS.to_vec();
        expected.sort_unstable();
        assert_eq!(durations, expected);
    }

    #[test]
    fn durations_print_in_one_spelling() {
        let mut tree = serde_yaml::from_str("cache:\n  ttl:\n    list: 30 secs\n    show: 90s\n").unwrap();
        normalise(&mut tree);
        let text = serde_yaml::to_string(&tree).unwrap();
        assert!(text.contains("list: 30s\n") && text.contains("show: 1m 30s\n"), "{text}");
    }

    #[test]
    fn a_bare_number_is_told_its_unit() {
        let reason = bare_number("cache.ttl.list", &Actual::Unsigned(30)).unwrap();
        assert!(reason.starts_with("`30` is not a duration; write `30s`"), "{reason}");
        assert_eq!(bare_number("cache.max_size", &Actual::Unsigned(30)), None);
        assert_eq!(bare_number("cache.ttl.list", &Actual::Bool(true)), None);
    }
}
