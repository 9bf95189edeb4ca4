//! The value types V2 bodies are made of, each checking its own bounds while it is
//! deserialized, so a bad value is refused at its path (`select[0].name`) before
//! anything is done with it, and no list grows past its bound while it is read.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Serialize;

/// The longest string accepted anywhere in a body, in characters.
pub const MAX_STRING: usize = 512;
/// The longest enum-like identifier (`resolution`, `field`, `aggregation`, a cursor).
pub const MAX_IDENT: usize = 32;

/// A string of at most [`MAX_STRING`] characters without control characters.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Text(pub String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s.chars().count() > MAX_STRING {
            return Err(de::Error::custom(format!("must be at most {MAX_STRING} characters")));
        }
        if s.chars().any(char::is_control) {
            return Err(de::Error::custom("must not contain control characters"));
        }
        Ok(Text(s))
    }
}

/// An enum-like value: letters, digits and underscores, not starting with a digit (`p95`),
/// at most [`MAX_IDENT`], forwarded as sent
/// (AppSignal's docs and clients disagree on letter case).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Ident(pub String);

impl<'de> Deserialize<'de> for Ident {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        // Digits after the first character: AppSignal's fields include `p90` and `p95`.
        let ok = s.len() <= MAX_IDENT
            && s.bytes().next().is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        match ok {
            true => Ok(Ident(s)),
            false => Err(de::Error::custom(format!(
                "must be 1 to {MAX_IDENT} letters, digits and underscores, not starting with a digit"
            ))),
        }
    }
}

/// An integer in `LO..=HI`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Ranged<const LO: u64, const HI: u64>(pub u64);

impl<'de, const LO: u64, const HI: u64> Deserialize<'de> for Ranged<LO, HI> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // A float or a huge number fails here with serde's own "invalid type" error.
        let n = u64::deserialize(d)?;
        match (LO..=HI).contains(&n) {
            true => Ok(Ranged(n)),
            false => Err(de::Error::custom(format!("must be an integer in {LO}..={HI}"))),
        }
    }
}

/// A list of at most `N` entries (and at least `MIN`): reading stops at the first entry
/// past the bound, so a 10^5-element array costs no more than `N` entries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Bounded<T, const MIN: usize, const N: usize>(pub Vec<T>);

impl<'de, T: Deserialize<'de>, const MIN: usize, const N: usize> Deserialize<'de> for Bounded<T, MIN, N> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T, const MIN: usize, const N: usize>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>, const MIN: usize, const N: usize> Visitor<'de> for V<T, MIN, N> {
            type Value = Bounded<T, MIN, N>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                write!(f, "an array of {MIN} to {N} entries")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    if items.len() == N {
                        return Err(de::Error::custom(format!("must have at most {N} entries")));
                    }
                    items.push(item);
                }
                if items.len() < MIN {
                    return Err(de::Error::custom(format!("must have at least {MIN} entries")));
                }
                Ok(Bounded(items))
            }
        }
        d.deserialize_seq(V::<T, MIN, N>(PhantomData))
    }
}

/// The most tag pairs a selector may filter on.
pub const MAX_TAGS: usize = 16;

/// A tag filter: at most [`MAX_TAGS`] pairs, no key twice, written out sorted by key.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(transparent)]
pub struct Tags(pub BTreeMap<Text, Text>);

impl<'de> Deserialize<'de> for Tags {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Tags;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                write!(f, "an object of at most {MAX_TAGS} string values")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Tags, A::Error> {
                let mut tags = BTreeMap::new();
                while let Some((k, v)) = map.next_entry::<Text, Text>()? {
                    if tags.len() == MAX_TAGS {
                        return Err(de::Error::custom(format!("must have at most {MAX_TAGS} tags")));
                    }
                    // A duplicate key would be read two ways by two parsers: refused.
                    if tags.contains_key(&k) {
                        return Err(de::Error::custom(format!("duplicate tag `{}`", k.0)));
                    }
                    tags.insert(k, v);
                }
                Ok(Tags(tags))
            }
        }
        d.deserialize_map(V)
    }
}

/// `pagination.order`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, Serialize)]
pub enum Order {
    /// Oldest first.
    #[serde(rename = "ASC")]
    Asc,
    /// Newest first.
    #[serde(rename = "DESC")]
    Desc,
}

#[cfg(test)]
mod tests {
    use super::Ident;

    #[test]
    fn an_ident_takes_digits_after_its_first_character() {
        for ok in ["P95", "p90", "MEAN", "draw_null", "_x1"] {
            assert!(serde_json::from_str::<Ident>(&format!("\"{ok}\"")).is_ok(), "{ok}");
        }
        for bad in ["95p", "", "a-b", "a b", "é", &"a".repeat(33)] {
            assert!(serde_json::from_str::<Ident>(&format!("\"{bad}\"")).is_err(), "{bad}");
        }
    }
}
