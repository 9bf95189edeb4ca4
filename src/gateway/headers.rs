//! The headers of a cache hit, made ahead of time.
//!
//! - Values that depend on the clock (`Age`, the fresh-hit `Cache-Status`) are made once
//!   for every second up to an hour, so a hit formats nothing for them; longer values
//!   are formatted. (`Cache-Control` depends only on the entry's TTL: the entry holds it.)
//! - The header map itself comes from a template per kind of answer (content coding,
//!   whether it varies by encoding): a hit clones it and fills its first slots, with
//!   no hashing and no map growth.

use std::sync::OnceLock;

use http::header::{
    AGE, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, ETAG, VARY, X_CONTENT_TYPE_OPTIONS,
};
use http::{HeaderMap, HeaderName, HeaderValue};

use crate::compress::Coding;
use crate::response::{self, CACHE_STATUS, X_REQUEST_ID};

/// Seconds covered by the tables.
const TABLED: u64 = 3600;

struct Tables {
    age: Vec<HeaderValue>,
    hit: Vec<HeaderValue>,
}

fn tables() -> &'static Tables {
    static TABLES: OnceLock<Tables> = OnceLock::new();
    TABLES.get_or_init(|| {
        // Leaked once: static header values clone without touching a reference count.
        let make = |f: &dyn Fn(u64) -> String| {
            (0..=TABLED).map(|n| HeaderValue::from_static(Box::leak(f(n).into_boxed_str()))).collect()
        };
        Tables { age: make(&|n| n.to_string()), hit: make(&hit_text) }
    })
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

/// `Cache-Status: appsignal-gateway; hit; ttl={seconds}`.
pub fn hit(seconds: u64) -> HeaderValue {
    lookup(|t| &t.hit, seconds, hit_text)
}

/// How many headers every hit sets.
pub const SLOT_COUNT: usize = 5;

/// The headers each hit sets, first in every template, in this order; a template for
/// a validated answer (a 200) has one more slot after them, its `ETag`.
pub const SLOTS: [HeaderName; SLOT_COUNT] = [CACHE_STATUS, AGE, CACHE_CONTROL, X_REQUEST_ID, CONTENT_LENGTH];

/// The full answer's headers for a form in `coding`, `Vary: accept-encoding` or not,
/// with an `ETag` slot or none (a cached 404 has no validator, so its template has
/// nothing to remove): the [`SLOTS`] (placeholders), the `ETag` slot, then the fixed ones.
pub fn template(coding: Coding, vary: bool, validated: bool) -> &'static HeaderMap {
    // Indexed by coding (in declaration order), then by `vary`, then by `validated`.
    static TEMPLATES: OnceLock<[[[HeaderMap; 2]; 2]; 3]> = OnceLock::new();
    let make = |coding: Coding, vary: bool, validated: bool| {
        let mut headers = HeaderMap::new();
        for name in SLOTS {
            headers.append(name, HeaderValue::from_static("-"));
        }
        if validated {
            headers.append(ETAG, HeaderValue::from_static("-"));
        }
        headers.append(CONTENT_TYPE, response::JSON);
        headers.append(X_CONTENT_TYPE_OPTIONS, response::NOSNIFF);
        if vary {
            headers.append(VARY, HeaderValue::from_static("accept-encoding"));
        }
        if let Some(encoding) = coding.header() {
            headers.append(CONTENT_ENCODING, encoding);
        }
        headers
    };
    let templates = TEMPLATES.get_or_init(|| {
        [Coding::Identity, Coding::Gzip, Coding::Brotli]
            .map(|c| [false, true].map(|v| [false, true].map(|e| make(c, v, e))))
    });
    &templates[coding as usize][usize::from(vary)][usize::from(validated)]
}

/// A copy of `template` with its slots set to `values` (in [`SLOTS`] order) and its
/// `ETag` slot to `etag`: `Some` exactly when the template was made `validated`.
pub fn filled(
    template: &HeaderMap,
    values: [HeaderValue; SLOT_COUNT],
    etag: Option<HeaderValue>,
) -> HeaderMap {
    // A clone keeps the template's order, so the slots are its first entries.
    debug_assert!(template.keys().zip(&SLOTS).all(|(a, b)| a == b), "a template starts with the slots");
    let mut headers = template.clone();
    let mut slots = headers.values_mut();
    // `values` leads the zip, so the slot after the last value is not consumed.
    for (value, slot) in values.into_iter().zip(slots.by_ref()) {
        *slot = value;
    }
    if let (Some(slot), Some(etag)) = (slots.next(), etag) {
        debug_assert!(template.contains_key(ETAG), "only a validated template has an ETag slot");
        *slot = etag;
    }
    headers
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_start_with_the_slots_and_fill_in_place() {
        for coding in [Coding::Identity, Coding::Gzip, Coding::Brotli] {
            for vary in [false, true] {
                for validated in [false, true] {
                    let template = template(coding, vary, validated);
                    let names: Vec<_> = template.keys().take(SLOTS.len()).cloned().collect();
                    assert_eq!(names, SLOTS);
                    let values = SLOTS.map(|name| HeaderValue::from_str(&format!("v-{name}")).unwrap());
                    let etag = validated.then(|| HeaderValue::from_static("\"e\""));
                    let headers = filled(template, values, etag);
                    for name in SLOTS {
                        assert_eq!(headers[&name], format!("v-{name}").as_str());
                    }
                    assert_eq!(headers.len(), template.len(), "filling adds nothing");
                    assert_eq!(headers.get(ETAG).is_some(), validated);
                    if validated {
                        assert_eq!(headers[ETAG], "\"e\"");
                    }
                    assert_eq!(headers.get(VARY).is_some(), vary);
                    assert_eq!(headers.get(CONTENT_ENCODING), coding.header().as_ref());
                    assert_eq!(headers[CONTENT_TYPE], "application/json");
                    assert_eq!(headers[X_CONTENT_TYPE_OPTIONS], "nosniff");
                }
            }
        }
    }

    #[test]
    fn tabled_and_formatted_values_agree() {
        for n in [0, 1, 59, 3600, 3601, 86_400] {
            assert_eq!(age(n), n.to_string().as_str());
            assert_eq!(hit(n), format!("appsignal-gateway; hit; ttl={n}").as_str());
        }
    }
}
