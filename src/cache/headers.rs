//! Header values a cache hit sends that depend on the clock: `Age`, `Cache-Control` and
//! the fresh-hit `Cache-Status`. Made once, for every second up to an hour, so a hit
//! formats nothing and allocates nothing for them; longer values are formatted.

use std::sync::OnceLock;

use http::HeaderValue;

/// Seconds covered by the tables.
const TABLED: u64 = 3600;

struct Tables {
    age: Vec<HeaderValue>,
    cache_control: Vec<HeaderValue>,
    hit: Vec<HeaderValue>,
}

fn tables() -> &'static Tables {
    static TABLES: OnceLock<Tables> = OnceLock::new();
    TABLES.get_or_init(|| {
        // Leaked once: static header values clone without touching a reference count.
        let make = |f: &dyn Fn(u64) -> String| {
            (0..=TABLED).map(|n| HeaderValue::from_static(Box::leak(f(n).into_boxed_str()))).collect()
        };
        Tables {
            age: make(&|n| n.to_string()),
            cache_control: make(&cache_control_text),
            hit: make(&hit_text),
        }
    })
}

fn cache_control_text(seconds: u64) -> String {
    format!("private, max-age={seconds}")
}

fn hit_text(seconds: u64) -> String {
    format!("appsignal-gateway; hit; ttl={seconds}")
}

fn lookup(
    table: impl Fn(&Tables) -> &Vec<HeaderValue>,
    seconds: u64,
    text: fn(u64) -> String,
) -> HeaderValue {
    match usize::try_from(seconds).ok().and_then(|i| table(tables()).get(i)) {
        Some(value) => value.clone(),
        None => HeaderValue::from_str(&text(seconds)).expect("ascii"),
    }
}

/// `Age: {seconds}`.
pub fn age(seconds: u64) -> HeaderValue {
    lookup(|t| &t.age, seconds, |n| n.to_string())
}

/// `Cache-Control: private, max-age={seconds}`.
pub fn cache_control(seconds: u64) -> HeaderValue {
    lookup(|t| &t.cache_control, seconds, cache_control_text)
}

/// `Cache-Status: appsignal-gateway; hit; ttl={seconds}`.
pub fn hit(seconds: u64) -> HeaderValue {
    lookup(|t| &t.hit, seconds, hit_text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tabled_and_formatted_values_agree() {
        for n in [0, 1, 59, 3600, 3601, 86_400] {
            assert_eq!(age(n), n.to_string().as_str());
            assert_eq!(cache_control(n), format!("private, max-age={n}").as_str());
            assert_eq!(hit(n), format!("appsignal-gateway; hit; ttl={n}").as_str());
        }
    }
}
