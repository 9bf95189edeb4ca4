//! The shared tier's form of an entry: everything a replica needs to answer from it
//! exactly as the replica that fetched it would, in a compact binary envelope, sealed so
//! that nothing written by anyone else is served.
//!
//! Layout (integers big-endian): the magic `AGW`, a version byte, the status (u16), the
//! body hash the ETags are made from (u64), the purge epoch it was stored under
//! (u64), TTL and retain time in milliseconds (u64 each), the wall-clock store time in
//! milliseconds since the Unix epoch (u64), a flags byte (bit 0: answers vary by
//! `Accept-Encoding`), then the identity, gzip and brotli bodies, each as a u32 length
//! and its bytes (`u32::MAX`: no such form), then the MAC: 32 bytes of HMAC-SHA256, keyed
//! by [`MacKey`], over the cache key, a zero byte and everything before the MAC. The
//! cache key is in the MAC so that a genuine entry cannot be moved to another key.
//!
//! Nothing read is trusted as it comes (anyone who can write to the Redis could have
//! written it): a value that is not an envelope of this version is foreign; one whose
//! MAC does not verify was not written by this fleet; and, independently of the MAC, one
//! that is larger than allowed, holds a status other than 200, 404 or 422 (a V2 query AppSignal refused), a TTL or retain
//! time beyond the configured maxima, a 200 body that is not JSON, or a compressed form
//! that does not decode to its body is refused ([`Refused`]): each is a miss.

use std::io::Read;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use hmac::{Hmac, Mac};
use http::StatusCode;
use sha2::Sha256;

use super::entry::{Entry, Form, FormKind};

const MAGIC: &[u8; 3] = b"AGW";
/// Bumped whenever the layout changes; an older gateway reads a newer entry as a miss.
/// 2: the MAC was added.
pub const VERSION: u8 = 2;
const ABSENT: u32 = u32::MAX;
const HEADER: usize = 3 + 1 + 2 + 8 * 5 + 1;
/// The MAC's length (HMAC-SHA256).
const MAC_LEN: usize = 32;
/// What an envelope adds to its bodies: the header, three lengths, the MAC.
pub const OVERHEAD: usize = HEADER + 3 * 4 + MAC_LEN;

/// The key entries are sealed with: derived from the upstream token
/// ([`crate::config::Token::entry_mac_key`]), which every replica of a fleet holds and
/// no one else does.
#[derive(Clone)]
pub struct MacKey(Hmac<Sha256>);

impl std::fmt::Debug for MacKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MacKey([redacted])")
    }
}

impl MacKey {
    /// The MAC key from 32 derived bytes.
    pub fn new(key: [u8; 32]) -> Self {
        MacKey(Hmac::new_from_slice(&key).expect("HMAC takes a key of any length"))
    }

    /// The MAC state after the cache key and its separator.
    fn start(&self, key: &str) -> Hmac<Sha256> {
        let mut mac = self.0.clone();
        mac.update(key.as_bytes());
        mac.update(&[0]);
        mac
    }
}

/// The most a stored entry may claim: what this gateway would ever store under its
/// configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// The longest value read (`shared.max_entry_size` plus [`OVERHEAD`]).
    pub max_len: usize,
    /// The longest TTL of any class (`cache.ttl.*`).
    pub max_ttl: Duration,
    /// The longest retain time: that TTL plus the longer stale window.
    pub max_retain: Duration,
}

/// Why a value read from the shared tier is not an entry to serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Not an envelope of this version (another gateway version, or not one at all).
    Foreign,
    /// Larger than [`Bounds::max_len`].
    Size,
    /// Its MAC does not verify.
    Mac,
    /// A status, TTL, retain time or body the gateway never stores.
    Bounds,
    /// A compressed form that does not decode to the identity body.
    Form,
}

/// An entry as read from the shared tier, with the purge epoch it was stored under.
#[derive(Debug)]
pub struct Stored {
    /// The entry, its age counted from the original store time.
    pub entry: Entry,
    /// The epoch of its app when it was stored; a purge bumps it.
    pub epoch: u64,
}

impl Entry {
    /// This entry as an envelope for the cache key `key`, stored under purge
    /// `epoch`, sealed with `mac`.
    pub fn encode(&self, epoch: u64, now: Instant, key: &str, mac: &MacKey) -> Bytes {
        let stored_at = SystemTime::now() - self.age(now);
        let stored_ms = stored_at.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis() as u64;
        let mut out = BytesMut::with_capacity(OVERHEAD + self.body_bytes());
        out.put_slice(MAGIC);
        out.put_u8(VERSION);
        out.put_u16(self.status.as_u16());
        out.put_u64(self.hash);
        out.put_u64(epoch);
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
        let mut sealing = mac.start(key);
        sealing.update(&out);
        out.put_slice(&sealing.finalize().into_bytes());
        out.freeze()
    }

    /// The entry in `value`, stored for the cache key `key`, its `stored_at` placed on
    /// this process's clock so that `Age` and freshness count from the original store;
    /// `Ok(None)` when its whole life is already over, `Err` when it is not to be
    /// trusted (see the module documentation).
    pub fn decode(
        value: &[u8],
        now: Instant,
        key: &str,
        mac: &MacKey,
        bounds: &Bounds,
    ) -> Result<Option<Stored>, Refused> {
        if value.len() < OVERHEAD || &value[..3] != MAGIC || value[3] != VERSION {
            return Err(Refused::Foreign);
        }
        if value.len() > bounds.max_len {
            return Err(Refused::Size);
        }
        let (sealed, tag) = value.split_at(value.len() - MAC_LEN);
        let mut checking = mac.start(key);
        checking.update(sealed);
        checking.verify_slice(tag).map_err(|_| Refused::Mac)?;
        let parsed = parse(sealed).ok_or(Refused::Bounds)?;
        parsed.check(bounds)?;
        Ok(parsed.into_stored(now))
    }
}

/// An envelope's fields, read but not yet judged.
struct Parsed {
    status: StatusCode,
    hash: u64,
    epoch: u64,
    ttl: Duration,
    retain: Duration,
    stored: SystemTime,
    vary: bool,
    identity: Bytes,
    gzip: Option<Bytes>,
    brotli: Option<Bytes>,
}

/// The fields of a sealed envelope (without its MAC), or `None` if it does not parse.
fn parse(sealed: &[u8]) -> Option<Parsed> {
    let mut buf = &sealed[4..];
    let status = StatusCode::from_u16(buf.get_u16()).ok()?;
    let hash = buf.get_u64();
    let epoch = buf.get_u64();
    let ttl = Duration::from_millis(buf.get_u64());
    let retain = Duration::from_millis(buf.get_u64());
    let stored = UNIX_EPOCH.checked_add(Duration::from_millis(buf.get_u64()))?;
    let vary = buf.get_u8() & 1 == 1;
    let mut forms = [None, None, None];
    for form in &mut forms {
        if buf.remaining() < 4 {
            return None;
        }
        let len = buf.get_u32();
        if len == ABSENT {
            continue;
        }
        let len = len as usize;
        if buf.remaining() < len {
            return None;
        }
        *form = Some(Bytes::copy_from_slice(&buf[..len]));
        buf.advance(len);
    }
    if buf.has_remaining() {
        return None;
    }
    let [identity, gzip, brotli] = forms;
    Some(Parsed { status, hash, epoch, ttl, retain, stored, vary, identity: identity?, gzip, brotli })
}

impl Parsed {
    /// Refuses what this gateway would never have stored.
    fn check(&self, bounds: &Bounds) -> Result<(), Refused> {
        let status_ok =
            matches!(self.status, StatusCode::OK | StatusCode::NOT_FOUND | StatusCode::UNPROCESSABLE_ENTITY);
        let times_ok =
            self.ttl <= bounds.max_ttl && self.retain <= bounds.max_retain && self.ttl <= self.retain;
        let json_ok = serde_json::from_slice::<serde::de::IgnoredAny>(&self.identity).is_ok();
        if !(status_ok && times_ok && json_ok) {
            return Err(Refused::Bounds);
        }
        let gzip_ok = self
            .gzip
            .as_ref()
            .is_none_or(|g| decodes_to(flate2::read::GzDecoder::new(&g[..]), &self.identity));
        let brotli_ok = self
            .brotli
            .as_ref()
            .is_none_or(|b| decodes_to(brotli::Decompressor::new(&b[..], 4096), &self.identity));
        match gzip_ok && brotli_ok {
            true => Ok(()),
            false => Err(Refused::Form),
        }
    }

    fn into_stored(self, now: Instant) -> Option<Stored> {
        // A store time in the future (another replica's clock runs ahead) counts as now.
        let age = SystemTime::now().duration_since(self.stored).unwrap_or_default();
        let retain_left = self.retain.checked_sub(age).filter(|left| !left.is_zero())?;
        let stored_at = now.checked_sub(age)?;
        let hash = self.hash;
        let form = |body: Bytes, kind| Form::new(body, hash, kind);
        let forms = (
            form(self.identity, FormKind::Identity),
            self.gzip.map(|g| form(g, FormKind::Gzip)),
            self.brotli.map(|b| form(b, FormKind::Brotli)),
        );
        let entry = Entry::assemble(self.status, forms, hash, self.vary, stored_at, self.ttl, retain_left);
        Some(Stored { entry, epoch: self.epoch })
    }
}

/// Whether `decoder` yields exactly `body`, reading at most one byte more than it: a
/// form that inflates without bound costs no more than its body.
fn decodes_to(decoder: impl Read, body: &[u8]) -> bool {
    let mut out = Vec::with_capacity(body.len());
    let read = decoder.take(body.len() as u64 + 1).read_to_end(&mut out);
    read.is_ok() && out == body
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "/api/a1/samples.json?limit=1";

    fn mac() -> MacKey {
        MacKey::new([7; 32])
    }

    fn bounds() -> Bounds {
        Bounds { max_len: 1 << 20, max_ttl: Duration::from_secs(3600), max_retain: Duration::from_secs(7200) }
    }

    fn decode(value: &[u8], now: Instant) -> Result<Option<Stored>, Refused> {
        Entry::decode(value, now, KEY, &mac(), &bounds())
    }

    /// `value` with its bytes changed by `change` and sealed again with the right MAC:
    /// what a replica of the same fleet with a bug (or other settings) could write.
    /// An entry with real compressed forms when `compressed`.
    fn made(status: StatusCode, body: Bytes, ttl: Duration, retain: Duration, compressed: bool) -> Entry {
        let forms = compressed.then(|| crate::cache::Compressed {
            gzip: crate::compress::gzip(&body),
            brotli: crate::compress::brotli(&body),
        });
        Entry::new(status, body, forms, compressed, ttl, retain)
    }

    fn resealed(value: &[u8], change: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
        let mut body = value[..value.len() - MAC_LEN].to_vec();
        change(&mut body);
        let mut sealing = mac().start(KEY);
        sealing.update(&body);
        body.extend_from_slice(&sealing.finalize().into_bytes());
        body
    }

    #[test]
    fn an_entry_survives_the_round_trip_with_its_age_and_forms() {
        let body = Bytes::from(format!("[{}]", ["{\"data\":\"xxxxxxxxxxxxxxxxxxxxxxxx\"}"; 100].join(",")));
        let ttl = Duration::from_secs(60);
        let entry = made(StatusCode::OK, body.clone(), ttl, ttl * 3, true);
        let later = entry.stored_at + Duration::from_secs(5);
        let value = entry.encode(7, later, KEY, &mac());
        let stored = decode(&value, later).expect("trusted").expect("alive");
        assert_eq!(stored.epoch, 7);
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
    fn a_refused_v2_query_is_shared_like_a_404() {
        let ttl = Duration::from_secs(1);
        let entry = made(StatusCode::UNPROCESSABLE_ENTITY, Bytes::from("{}"), ttl, ttl * 2, false);
        let now = Instant::now();
        let stored = decode(&entry.encode(0, now, KEY, &mac()), now).expect("trusted").expect("alive");
        assert_eq!(stored.entry.status, StatusCode::UNPROCESSABLE_ENTITY);
    }

    #[test]
    fn foreign_truncated_and_newer_values_are_no_entry() {
        let entry = made(
            StatusCode::NOT_FOUND,
            Bytes::from("{}"),
            Duration::from_secs(1),
            Duration::from_secs(2),
            false,
        );
        let now = Instant::now();
        let value = entry.encode(0, now, KEY, &mac());
        assert!(decode(&value, now).unwrap().is_some());
        assert_eq!(decode(b"hello", now).unwrap_err(), Refused::Foreign);
        assert_eq!(decode(&value[..value.len() - 1], now).unwrap_err(), Refused::Mac);
        let mut newer = value.to_vec();
        newer[3] = VERSION + 1;
        assert_eq!(decode(&newer, now).unwrap_err(), Refused::Foreign);
        let mut longer = value.to_vec();
        longer.push(0);
        assert_eq!(decode(&longer, now).unwrap_err(), Refused::Mac);
    }

    #[test]
    fn another_key_or_another_mac_key_is_refused() {
        let entry =
            made(StatusCode::OK, Bytes::from("{}"), Duration::from_secs(1), Duration::from_secs(2), false);
        let now = Instant::now();
        let value = entry.encode(0, now, KEY, &mac());
        let moved = Entry::decode(&value, now, "/api/a1/samples.json?limit=2", &mac(), &bounds());
        assert_eq!(moved.unwrap_err(), Refused::Mac, "a genuine entry moved to another key");
        let other_fleet = Entry::decode(&value, now, KEY, &MacKey::new([8; 32]), &bounds());
        assert_eq!(other_fleet.unwrap_err(), Refused::Mac);
        let mut forged = value.to_vec();
        let at = HEADER + 4;
        forged[at] = b'[';
        assert_eq!(decode(&forged, now).unwrap_err(), Refused::Mac, "a changed body");
    }

    #[test]
    fn a_sealed_entry_is_still_bounded() {
        let body = Bytes::from(format!(
            "[{}]",
            ["{\"x\":\"yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy\"}"; 40].join(",")
        ));
        let ttl = Duration::from_secs(60);
        let entry = made(StatusCode::OK, body, ttl, ttl * 2, true);
        let now = Instant::now();
        let value = entry.encode(0, now, KEY, &mac());
        assert!(decode(&value, now).unwrap().is_some());
        for status in [101u16, 204, 302, 500, 999] {
            let changed = resealed(&value, |v| v[4..6].copy_from_slice(&status.to_be_bytes()));
            assert_eq!(decode(&changed, now).unwrap_err(), Refused::Bounds, "status {status}");
        }
        let forever = resealed(&value, |v| v[22..30].copy_from_slice(&u64::MAX.to_be_bytes()));
        assert_eq!(decode(&forever, now).unwrap_err(), Refused::Bounds, "ttl");
        let retained = resealed(&value, |v| v[30..38].copy_from_slice(&u64::MAX.to_be_bytes()));
        assert_eq!(decode(&retained, now).unwrap_err(), Refused::Bounds, "retain");
        let html = made(StatusCode::OK, Bytes::from("<html><script>alert(1)</script>"), ttl, ttl, false);
        assert_eq!(decode(&html.encode(0, now, KEY, &mac()), now).unwrap_err(), Refused::Bounds, "not JSON");
        // The gzip form's first body byte after its length: its magic number.
        let identity_len = u32::from_be_bytes(value[HEADER..HEADER + 4].try_into().unwrap()) as usize;
        let gzip_at = HEADER + 4 + identity_len + 4;
        let bogus = resealed(&value, |v| v[gzip_at + 12] ^= 0xff);
        assert_eq!(decode(&bogus, now).unwrap_err(), Refused::Form, "a form that does not decode");
        let small = Bounds { max_len: value.len() - 1, ..bounds() };
        assert_eq!(Entry::decode(&value, now, KEY, &mac(), &small).unwrap_err(), Refused::Size);
    }
}
