//! The shared tier's form of an entry: everything a replica needs to answer from it
//! exactly as the replica that fetched it would, in a compact binary envelope.
//!
//! Layout (integers big-endian): the magic `AGW`, a version byte, the status (u16), the
//! body hash the ETags are made from (u64), the purge generation it was stored under
//! (u64), TTL and retain time in milliseconds (u64 each), the wall-clock store time in
//! milliseconds since the Unix epoch (u64), a flags byte (bit 0: answers vary by
//! `Accept-Encoding`), then the identity, gzip and brotli bodies, each as a u32 length
//! and its bytes (`u32::MAX`: no such form). A value that does not parse, or carries
//! another version, is no entry at all.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use http::StatusCode;

use super::entry::{Entry, Form, FormKind};

const MAGIC: &[u8; 3] = b"AGW";
/// Bumped whenever the layout changes; an older gateway reads a newer entry as a miss.
pub const VERSION: u8 = 1;
const ABSENT: u32 = u32::MAX;
const HEADER: usize = 3 + 1 + 2 + 8 * 5 + 1;

/// An entry as read from the shared tier, with the purge generation it was stored under.
#[derive(Debug)]
pub struct Stored {
    /// The entry, its age counted from the original store time.
    pub entry: Entry,
    /// The generation of its app when it was stored; a purge bumps it.
    pub generation: u64,
}

impl Entry {
    /// This entry as an envelope, stored under purge `generation`.
    pub fn encode(&self, generation: u64, now: Instant) -> Bytes {
        let stored_at = SystemTime::now() - self.age(now);
        let stored_ms = stored_at.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis() as u64;
        let mut out = BytesMut::with_capacity(HEADER + 12 + self.body_bytes());
        out.put_slice(MAGIC);
        out.put_u8(VERSION);
        out.put_u16(self.status.as_u16());
        out.put_u64(self.hash);
        out.put_u64(generation);
        out.put_u64(self.ttl.as_millis() as u64);
        out.put_u64(self.retain.as_millis() as u64);
        out.put_u64(stored_ms);
        out.put_u8(u8::from(self.vary_encoding));
        for form in [Some(&self.identity), self.gzip.as_ref(), self.brotli.as_ref()] {
            match form {
                Some(form) => {
                    out.put_u32(form.body().len() as u32);
                    out.put_slice(form.body());
                }
                None => out.put_u32(ABSENT),
            }
        }
        out.freeze()
    }

    /// The entry in `value`, its `stored_at` placed on this process's clock so that `Age`
    /// and freshness count from the original store; `None` when `value` is not an
    /// envelope of this version or its whole life is already over.
    pub fn decode(value: &[u8], now: Instant) -> Option<Stored> {
        let mut buf = value;
        if buf.len() < HEADER || &buf[..3] != MAGIC || buf[3] != VERSION {
            return None;
        }
        buf.advance(4);
        let status = StatusCode::from_u16(buf.get_u16()).ok()?;
        let hash = buf.get_u64();
        let generation = buf.get_u64();
        let ttl = Duration::from_millis(buf.get_u64());
        let retain = Duration::from_millis(buf.get_u64());
        let stored = UNIX_EPOCH + Duration::from_millis(buf.get_u64());
        let vary = buf.get_u8() & 1 == 1;
        let mut forms = FormKind::ALL.map(|kind| {
            if buf.remaining() < 4 {
                return Err(());
            }
            let len = buf.get_u32();
            if len == ABSENT {
                return Ok(None);
            }
            let len = len as usize;
            if buf.remaining() < len {
                return Err(());
            }
            let body = Bytes::copy_from_slice(&buf[..len]);
            buf.advance(len);
            Ok(Some(Form::new(body, hash, kind)))
        });
        if buf.has_remaining() || forms.iter().any(Result::is_err) {
            return None;
        }
        let mut take = |i: usize| std::mem::replace(&mut forms[i], Ok(None)).ok().flatten();
        let identity = take(0)?;
        let (gzip, brotli) = (take(1), take(2));
        // A store time in the future (another replica's clock runs ahead) counts as now.
        let age = SystemTime::now().duration_since(stored).unwrap_or_default();
        let retain_left = retain.checked_sub(age).filter(|left| !left.is_zero())?;
        let stored_at = now.checked_sub(age)?;
        let entry =
            Entry::assemble(status, (identity, gzip, brotli), hash, vary, stored_at, ttl, retain_left);
        Some(Stored { entry, generation })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::Compressed;

    #[test]
    fn an_entry_survives_the_round_trip_with_its_age_and_forms() {
        let body = Bytes::from("{\"data\":\"xxxxxxxxxxxxxxxxxxxxxxxx\"}".repeat(100));
        let ttl = Duration::from_secs(60);
        let compressed = Compressed { gzip: Bytes::from_static(b"gz"), brotli: Bytes::from_static(b"br") };
        let entry = Entry::new(StatusCode::OK, body.clone(), Some(compressed), true, ttl, ttl * 3);
        let later = entry.stored_at + Duration::from_secs(5);
        let value = entry.encode(7, later);
        let stored = Entry::decode(&value, later).expect("decodes");
        assert_eq!(stored.generation, 7);
        let copy = stored.entry;
        assert_eq!(copy.status, StatusCode::OK);
        assert_eq!(copy.hash, entry.hash);
        assert_eq!(copy.identity().body(), &body);
        assert_eq!(copy.gzip().unwrap().body(), entry.gzip().unwrap().body());
        assert_eq!(copy.gzip().unwrap().etag(), entry.gzip().unwrap().etag());
        assert_eq!(copy.brotli().unwrap().body(), entry.brotli().unwrap().body());
        let age = copy.age(later).as_secs();
        assert!((4..=6).contains(&age), "age {age}");
        assert!(copy.retain <= ttl * 3 - Duration::from_secs(4));
    }

    #[test]
    fn foreign_truncated_and_newer_values_are_no_entry() {
        let (ttl, retain) = (Duration::from_secs(1), Duration::from_secs(2));
        let entry = Entry::new(StatusCode::NOT_FOUND, Bytes::from("{}"), None, false, ttl, retain);
        let now = Instant::now();
        let value = entry.encode(0, now);
        assert!(Entry::decode(&value, now).is_some());
        assert!(Entry::decode(b"hello", now).is_none());
        assert!(Entry::decode(&value[..value.len() - 1], now).is_none());
        let mut newer = value.to_vec();
        newer[3] = VERSION + 1;
        assert!(Entry::decode(&newer, now).is_none());
        let mut longer = value.to_vec();
        longer.push(0);
        assert!(Entry::decode(&longer, now).is_none());
    }
}
