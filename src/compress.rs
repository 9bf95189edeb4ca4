//! Compressed forms of cached bodies: made once when an entry is stored, chosen per
//! request by `Accept-Encoding`.
//!
//! Levels were chosen by measurement (BENCHMARKS.md): gzip 6 is the smallest output before
//! the time per body jumps. brotli quality 5 compresses a 23 KB sample list about 15 %
//! smaller than quality 4, but costs a fixed ~100 µs per call (its larger hash tables),
//! which dominates the typical 1-10 KB list: quality 4 below 64 KiB, 5 above.

use std::cell::Cell;
use std::io::Write;

use bytes::Bytes;
use http::HeaderValue;

/// gzip level.
const GZIP_LEVEL: u32 = 6;
/// brotli quality for bodies under [`BROTLI_LARGE`], and at or above it.
const BROTLI_QUALITY: (i32, i32) = (4, 5);
/// Where brotli's fixed cost is small next to the body's.
const BROTLI_LARGE: usize = 64 * 1024;
/// The largest brotli window (log2 bytes); smaller bodies get a window just their size,
/// which keeps the encoder's working memory proportional to the body.
const BROTLI_MAX_WINDOW: i32 = 22;
/// brotli's smallest window.
const BROTLI_MIN_WINDOW: i32 = 10;

thread_local! {
    /// Bodies compressed on this thread, every form counted: a cache hit must not add to
    /// it. Per thread, so a test on its own current-thread runtime sees only its own
    /// compressions while other tests run beside it in the same process.
    static COMPRESSIONS: Cell<u64> = const { Cell::new(0) };
}

/// How many compressions have run on this thread.
pub fn compressions() -> u64 {
    COMPRESSIONS.with(Cell::get)
}

/// Counts one compression on this thread.
fn count() {
    COMPRESSIONS.with(|n| n.set(n.get() + 1));
}

/// A content coding the gateway can send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    /// The body as AppSignal sent it.
    Identity,
    /// `gzip`.
    Gzip,
    /// `br`.
    Brotli,
}

impl Coding {
    /// The `Content-Encoding` value; `None` for identity.
    pub fn header(self) -> Option<HeaderValue> {
        match self {
            Coding::Identity => None,
            Coding::Gzip => Some(HeaderValue::from_static("gzip")),
            Coding::Brotli => Some(HeaderValue::from_static("br")),
        }
    }
}

/// gzip of `body`.
pub fn gzip(body: &[u8]) -> Bytes {
    count();
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 4),
        flate2::Compression::new(GZIP_LEVEL),
    );
    // Writing to a Vec cannot fail.
    encoder.write_all(body).expect("in-memory write");
    let mut out = encoder.finish().expect("in-memory write");
    // A cached form lives long: hold only its bytes, not the encoder's spare capacity.
    out.shrink_to_fit();
    Bytes::from(out)
}

/// brotli of `body`.
pub fn brotli(body: &[u8]) -> Bytes {
    count();
    let bits = usize::BITS as i32 - body.len().max(1).leading_zeros() as i32;
    let params = brotli::enc::BrotliEncoderParams {
        quality: if body.len() < BROTLI_LARGE { BROTLI_QUALITY.0 } else { BROTLI_QUALITY.1 },
        lgwin: bits.clamp(BROTLI_MIN_WINDOW, BROTLI_MAX_WINDOW),
        size_hint: body.len(),
        ..Default::default()
    };
    let mut out = Vec::with_capacity(body.len() / 4);
    brotli::BrotliCompress(&mut &body[..], &mut out, &params).expect("in-memory write");
    out.shrink_to_fit();
    Bytes::from(out)
}

/// Picks the coding for an `Accept-Encoding` value among those available: the highest
/// q-value wins, `br` before `gzip` on a tie. Identity wins only when named with the
/// highest q-value; it is also the fallback when nothing listed is
/// available or everything is refused (sending something beats a 406).
pub fn negotiate(accept: Option<&HeaderValue>, gzip: bool, brotli: bool) -> Coding {
    let Some(text) = accept.and_then(|v| v.to_str().ok()) else { return Coding::Identity };
    let (mut br_q, mut gzip_q, mut identity_q, mut star_q) = (None, None, None, None);
    for item in text.split(',') {
        let mut parts = item.split(';');
        let coding = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q=").or_else(|| p.trim().strip_prefix("Q=")))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0)
            .clamp(0.0, 1.0);
        match coding.as_str() {
            "br" => br_q = Some(q),
            "gzip" | "x-gzip" => gzip_q = Some(q),
            "identity" => identity_q = Some(q),
            "*" => star_q = Some(q),
            _ => {}
        }
    }
    let br = if brotli { br_q.or(star_q).unwrap_or(0.0) } else { 0.0 };
    let gz = if gzip { gzip_q.or(star_q).unwrap_or(0.0) } else { 0.0 };
    // Identity competes only when named; otherwise it is the fallback.
    let identity = identity_q.unwrap_or(0.0);
    let best = br.max(gz).max(identity);
    if best == 0.0 || identity == best {
        Coding::Identity
    } else if br == best {
        Coding::Brotli
    } else {
        Coding::Gzip
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    fn pick(accept: &str) -> Coding {
        negotiate(Some(&HeaderValue::from_str(accept).unwrap()), true, true)
    }

    #[test]
    fn negotiation_honours_q_values() {
        assert_eq!(negotiate(None, true, true), Coding::Identity);
        assert_eq!(pick("gzip, deflate, br"), Coding::Brotli);
        assert_eq!(pick("gzip"), Coding::Gzip);
        assert_eq!(pick("br;q=0.5, gzip;q=0.8"), Coding::Gzip);
        assert_eq!(pick("br;q=0, gzip;q=0"), Coding::Identity);
        assert_eq!(pick("identity;q=0, gzip;q=0.1"), Coding::Gzip);
        assert_eq!(pick("*"), Coding::Brotli);
        assert_eq!(pick("*;q=0.5, identity"), Coding::Identity);
        assert_eq!(pick("identity, gzip"), Coding::Identity);
        assert_eq!(pick("identity;q=0.5, gzip"), Coding::Gzip);
        assert_eq!(pick("deflate"), Coding::Identity);
        assert_eq!(pick("GZIP;Q=0.9"), Coding::Gzip);
        assert_eq!(negotiate(Some(&HeaderValue::from_static("br, gzip")), false, false), Coding::Identity);
        assert_eq!(negotiate(Some(&HeaderValue::from_static("br, gzip")), true, false), Coding::Gzip);
    }

    #[test]
    fn forms_decompress_to_the_body() {
        let body = br#"{"count":3,"log_entries":[{"id":"a"},{"id":"a"},{"id":"a"}]}"#.repeat(20);
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&gzip(&body)[..]).read_to_end(&mut out).unwrap();
        assert_eq!(out, body);
        let mut out = Vec::new();
        brotli::BrotliDecompress(&mut &brotli(&body)[..], &mut out).unwrap();
        assert_eq!(out, body);
    }
}
